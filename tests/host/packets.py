"""Ethernet, IPv4 and UDP packets built with struct, independently of hwconv.rtl.eth
(and of its header tables): what a host's network stack would put on the wire."""
import struct
import zlib

BOARD_MAC = bytes.fromhex("020000000001")
BOARD_IP = bytes([192, 168, 1, 128])
BOARD_PORT = 9000
HOST_MAC = bytes.fromhex("5a5152535455")
HOST_IP = bytes([192, 168, 1, 10])
HOST_PORT = 40000


def ones_complement_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f">{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ipv4(payload: bytes, *, src=HOST_IP, dst=BOARD_IP, proto=17, ttl=64, ident=1,
         flags_fragment=0x4000, version_ihl=0x45, options=b"", total_length=None,
         checksum=None) -> bytes:
    total = 20 + len(options) + len(payload) if total_length is None else total_length
    hdr = struct.pack(">BBHHHBBH4s4s", version_ihl, 0, total, ident, flags_fragment, ttl,
                      proto, 0, src, dst) + options
    if checksum is None:
        checksum = 0xFFFF - ones_complement_sum(hdr)
    return hdr[:10] + struct.pack(">H", checksum) + hdr[12:] + payload


def udp(payload: bytes, *, sport=HOST_PORT, dport=BOARD_PORT, length=None,
        src=HOST_IP, dst=BOARD_IP) -> bytes:
    n = 8 + len(payload) if length is None else length
    pseudo = src + dst + struct.pack(">BBH", 0, 17, 8 + len(payload))
    body = struct.pack(">HHHH", sport, dport, n, 0) + payload
    c = 0xFFFF - ones_complement_sum(pseudo + body)
    return body[:6] + struct.pack(">H", c or 0xFFFF) + body[8:]


def ethernet(payload: bytes, *, dst=BOARD_MAC, src=HOST_MAC, ethertype=0x0800) -> bytes:
    """Header and payload, padded to 60 bytes (the FCS is added by the GMII model)."""
    frame = dst + src + struct.pack(">H", ethertype) + payload
    return frame + bytes(max(0, 60 - len(frame)))


def datagram(payload: bytes, **kw) -> bytes:
    """A whole UDP datagram to the board, as an Ethernet frame without FCS."""
    eth_kw = {k: kw.pop(k) for k in ("dst_mac", "ethertype") if k in kw}
    ip_kw = {k: kw.pop(k) for k in list(kw) if k not in ("sport", "dport", "length")}
    frame = ethernet(ipv4(udp(payload, **kw), **ip_kw),
                     **({"dst": eth_kw["dst_mac"]} if "dst_mac" in eth_kw else {}),
                     **({"ethertype": eth_kw["ethertype"]} if "ethertype" in eth_kw else {}))
    return frame


def fcs(frame: bytes) -> bytes:
    return struct.pack("<L", zlib.crc32(frame))
