"""What the board sends, decoded with struct and zlib, independently of hwconv.rtl.eth
(and of its header tables), every field checked as a host's network stack would; and
ARP packets built the same way."""
import struct
import zlib

try:
    from .packets import (BOARD_IP, BOARD_MAC, HOST_IP, HOST_MAC, ethernet,
                          ones_complement_sum)
except ImportError:             # inside a cocotb bench, beside packets.py
    from packets import BOARD_IP, BOARD_MAC, HOST_IP, HOST_MAC, ethernet, ones_complement_sum

PREAMBLE = b"\x55" * 7 + b"\xd5"


class Bad(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise Bad(what)


def gmii_frame(raw: bytes) -> bytes:
    """Preamble, SFD, at least 60 bytes and a good FCS: the frame without the FCS."""
    check(raw[:8] == PREAMBLE, f"preamble/SFD {raw[:8].hex()}")
    frame, fcs = raw[8:-4], raw[-4:]
    check(len(frame) >= 60, f"a runt: {len(frame)} bytes before the FCS")
    check(len(frame) <= 1514, f"oversize: {len(frame)} bytes before the FCS")
    check(struct.pack("<L", zlib.crc32(frame)) == fcs, "bad FCS")
    return frame


def ethernet_header(frame: bytes) -> tuple[bytes, bytes, int, bytes]:
    """(dst, src, ethertype, payload with any padding)."""
    dst, src, ethertype = struct.unpack(">6s6sH", frame[:14])
    return dst, src, ethertype, frame[14:]


def udp_datagram(frame: bytes, *, src_mac=BOARD_MAC, src_ip=BOARD_IP) -> dict:
    """An Ethernet frame (FCS stripped) carrying an IPv4/UDP datagram: its fields, every
    length and the IP header checksum checked, padding only zeros."""
    dst, src, ethertype, pkt = ethernet_header(frame)
    check(src == src_mac, f"source MAC {src.hex()}")
    check(ethertype == 0x0800, f"EtherType {ethertype:#06x}")
    (vihl, tos, total, ident, frag, ttl, proto, csum, sip, dip) = struct.unpack(
        ">BBHHHBBH4s4s", pkt[:20])
    check(vihl == 0x45 and tos == 0, f"version/IHL {vihl:#x}, TOS {tos}")
    check(ones_complement_sum(pkt[:20]) == 0xFFFF, "bad IPv4 header checksum")
    check(frag & 0xBFFF == 0, f"fragment field {frag:#06x}")
    check(ttl > 0 and proto == 17, f"TTL {ttl}, protocol {proto}")
    check(sip == src_ip, f"source IP {sip.hex()}")
    check(20 <= total <= len(pkt), f"IP total length {total} in {len(pkt)} bytes")
    check(len(pkt) == max(46, total) and not any(pkt[total:]),
          f"{len(pkt)} bytes after the Ethernet header for an IP total length of {total}")
    sport, dport, ulen, ucsum = struct.unpack(">HHHH", pkt[20:28])
    check(ulen == total - 20, f"UDP length {ulen}, IP payload {total - 20}")
    payload = pkt[28:total]
    if ucsum:
        pseudo = sip + dip + struct.pack(">BBH", 0, 17, ulen)
        check(ones_complement_sum(pseudo + pkt[20:total]) == 0xFFFF, "bad UDP checksum")
    return {"dst_mac": dst, "dst_ip": dip, "src_port": sport, "dst_port": dport,
            "ident": ident, "df": bool(frag & 0x4000), "payload": payload}


def arp(oper=1, *, sha=HOST_MAC, spa=HOST_IP, tha=bytes(6), tpa=BOARD_IP, htype=1,
        ptype=0x0800, hlen=6, plen=4) -> bytes:
    """An ARP packet (28 bytes)."""
    return struct.pack(">HHBBH6s4s6s4s", htype, ptype, hlen, plen, oper, sha, spa, tha, tpa)


def arp_request(tpa=BOARD_IP, **kw) -> bytes:
    """A broadcast who-has frame (without FCS), padded to 60 bytes."""
    return ethernet(arp(1, tpa=tpa, **kw), dst=b"\xff" * 6, ethertype=0x0806)


def arp_reply(frame: bytes) -> dict:
    """An ARP reply frame (FCS stripped), checked; its fields."""
    dst, src, ethertype, pkt = ethernet_header(frame)
    check(ethertype == 0x0806, f"EtherType {ethertype:#06x}")
    check(not any(pkt[28:]), "padding after the ARP packet")
    htype, ptype, hlen, plen, oper, sha, spa, tha, tpa = struct.unpack(
        ">HHBBH6s4s6s4s", pkt[:28])
    check((htype, ptype, hlen, plen, oper) == (1, 0x0800, 6, 4, 2),
          f"ARP {htype} {ptype:#x} {hlen} {plen} oper {oper}")
    check(src == sha, f"Ethernet source {src.hex()} is not the sender {sha.hex()}")
    return {"dst_mac": dst, "sha": sha, "spa": spa, "tha": tha, "tpa": tpa}
