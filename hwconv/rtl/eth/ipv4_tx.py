"""IPv4Tx: an IP payload with its destination in, an IPv4 packet (20-byte header with
its checksum) out to EthernetTx."""
from __future__ import annotations

from amaranth import Signal

from .common import refuse
from .header_tx import HeaderTx
from .headers import ETHERTYPE_IPV4, IPV4_HEADER

__all__ = ["IPv4Tx"]

_TTL = 64
_DONT_FRAGMENT = 0x4000


class IPv4Tx(HeaderTx):
    """Sends from ``ip`` to ``dst_ip`` a packet of ``length`` payload bytes (the input
    frame's length: UDPTx makes them agree) and ``protocol``; no options, Don't
    Fragment set, TTL 64, the identification counting packets."""

    HEADER = IPV4_HEADER
    IN_META = {"dst_mac": 48, "dst_ip": 32, "protocol": 8, "length": 16}
    OUT_META = {"dst_mac": 48, "ethertype": 16}

    def __init__(self, ip: int):
        if not 0 <= ip < 1 << 32:
            refuse(self, f"IPv4 address must be a 32-bit integer, not {ip!r}")
        self.ip = ip
        self._ident = Signal(16)
        super().__init__()

    def header_fields(self, m, meta):
        total = Signal(16)
        m.d.comb += total.eq(meta.length + 20)
        # The ones'-complement sum of the header words, the constant ones folded here.
        const = (0x4500 + _DONT_FRAGMENT + (self.ip >> 16) + (self.ip & 0xFFFF) +
                 (_TTL << 8))
        s0 = Signal(20)
        m.d.comb += s0.eq(const + total + self._ident + meta.protocol +
                          meta.dst_ip[16:] + meta.dst_ip[:16])
        s1 = s0[:16] + s0[16:]
        s2 = s1[:16] + s1[16:]
        # Registered: the input's first beat (so the sum) stands still from the header's
        # first byte, and the checksum leaves as its eleventh.
        checksum = Signal(16)
        m.d.sync += checksum.eq(~s2[:16])
        return {"version_ihl": 0x45, "dscp_ecn": 0, "total_length": total,
                "identification": self._ident, "flags_fragment": _DONT_FRAGMENT,
                "ttl": _TTL, "protocol": meta.protocol, "checksum": checksum,
                "src_ip": self.ip, "dst_ip": meta.dst_ip}

    def out_fields(self, meta):
        return {"dst_mac": meta.dst_mac, "ethertype": ETHERTYPE_IPV4}

    def on_frame_sent(self, m):
        m.d.sync += self._ident.eq(self._ident + 1)
