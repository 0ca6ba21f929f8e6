"""Header field tables of Ethernet II, IPv4 and UDP: the one place that says where each
field sits (as LiteEth's common.py).  Offsets and widths are in bytes; every field is
big-endian (network byte order), byte 0 first on the wire."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Field", "ETH_HEADER", "IPV4_HEADER", "UDP_HEADER", "ARP_HEADER", "header_bytes",
           "field", "ARP_REQUEST", "ARP_REPLY", "UDP_MAX_PAYLOAD",
           "ETHERTYPE_IPV4", "ETHERTYPE_ARP", "IP_PROTO_UDP", "BROADCAST_MAC",
           "ETH_MIN_FRAME", "ETH_MAX_FRAME", "mac_int", "ip_int"]


@dataclass(frozen=True)
class Field:
    name: str
    offset: int
    width: int


ETH_HEADER = (
    Field("dst_mac", 0, 6),
    Field("src_mac", 6, 6),
    Field("ethertype", 12, 2),
)

IPV4_HEADER = (
    Field("version_ihl", 0, 1),       # 0x45: version 4, 5 words, no options
    Field("dscp_ecn", 1, 1),
    Field("total_length", 2, 2),      # header + payload bytes
    Field("identification", 4, 2),
    Field("flags_fragment", 6, 2),    # bit 13 MF, bits 12:0 fragment offset
    Field("ttl", 8, 1),
    Field("protocol", 9, 1),
    Field("checksum", 10, 2),         # ones' complement of the ones'-complement sum
    Field("src_ip", 12, 4),
    Field("dst_ip", 16, 4),
)

UDP_HEADER = (
    Field("src_port", 0, 2),
    Field("dst_port", 2, 2),
    Field("length", 4, 2),            # header + payload bytes
    Field("checksum", 6, 2),          # 0: none (IPv4)
)

ARP_HEADER = (                        # RFC 826, Ethernet and IPv4: 28 bytes
    Field("htype", 0, 2),             # 1: Ethernet
    Field("ptype", 2, 2),             # 0x0800: IPv4
    Field("hlen", 4, 1),              # 6
    Field("plen", 5, 1),              # 4
    Field("oper", 6, 2),              # 1 request, 2 reply
    Field("sha", 8, 6),               # sender MAC
    Field("spa", 14, 4),              # sender IP
    Field("tha", 18, 6),              # target MAC (ignored in a request)
    Field("tpa", 24, 4),              # target IP
)

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
IP_PROTO_UDP = 17
BROADCAST_MAC = 0xFFFF_FFFF_FFFF
ARP_REQUEST, ARP_REPLY = 1, 2
UDP_MAX_PAYLOAD = 1472      # a 1500-byte MTU less the IPv4 and UDP headers
ETH_MIN_FRAME = 64          # bytes from destination MAC to FCS, both included
ETH_MAX_FRAME = 1518


def header_bytes(table) -> int:
    return max(f.offset + f.width for f in table)


def field(table, name: str) -> Field:
    for f in table:
        if f.name == name:
            return f
    raise KeyError(name)


def mac_int(text: str) -> int:
    """'02:00:00:00:00:01' to an integer, first byte most significant."""
    parts = text.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"MAC address must be six hex bytes like 02:00:00:00:00:01, "
                         f"not {text!r}")
    return int("".join(parts), 16)


def ip_int(text: str) -> int:
    """'192.168.1.128' to an integer, first byte most significant."""
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ValueError(f"IPv4 address must be four bytes like 192.168.1.128, not {text!r}")
    return int.from_bytes(bytes(int(p) for p in parts), "big")
