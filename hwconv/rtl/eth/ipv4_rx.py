"""IPv4Rx: an Ethernet payload of EtherType 0x0800 in, the IP payload out with the
source address and protocol; the header checksum checked, padding dropped."""
from __future__ import annotations

from amaranth import Cat, Const, Signal

from .common import HeaderRx, refuse
from .headers import ETHERTYPE_IPV4, IPV4_HEADER

__all__ = ["IPv4Rx"]


class IPv4Rx(HeaderRx):
    """Accepts unfragmented IPv4 packets without options to ``ip`` (an integer).

    Drops and counts: ``drop_type`` (EtherType is not IPv4), ``drop_header`` (version
    not 4, options, total length under 20, a fragment), ``drop_checksum``, ``drop_ip``
    (another destination), ``drop_short``, ``drop_truncated`` (the frame ends before the
    total length: passed on with ``error``).  Bytes past the total length (Ethernet
    padding) are dropped."""

    HEADER = IPV4_HEADER
    IN_META = {"src_mac": 48, "ethertype": 16}
    OUT_META = {"src_ip": 32, "protocol": 8}
    COUNTERS = ("type", "header", "checksum", "ip")

    def __init__(self, ip: int):
        if not 0 <= ip < 1 << 32:
            refuse(self, f"IPv4 address must be a 32-bit integer, not {ip!r}")
        self.ip = ip
        self._sum = Signal(20)      # ones'-complement sum of the header so far, carries kept
        super().__init__()

    def on_header_byte(self, m, index, byte, first):
        high = Cat(Const(0, 8), byte)           # big-endian words: even bytes are high
        with m.If(index[0]):
            m.d.sync += self._sum.eq(self._sum + byte)
        with m.Elif(first):
            m.d.sync += self._sum.eq(high)
        with m.Else():
            m.d.sync += self._sum.eq(self._sum + high)

    def checks(self, f, meta):
        # Fold the carries back in, twice: 20 bits -> 17 -> 16.
        s1 = self._sum[:16] + self._sum[16:]
        s2 = s1[:16] + s1[16:]
        return [
            ("type", meta.ethertype == ETHERTYPE_IPV4),
            ("header", (f["version_ihl"] == 0x45) & (f["total_length"] >= 20) &
             (f["flags_fragment"][:14] == 0)),          # MF and the offset
            ("checksum", s2[:16] == 0xFFFF),
            ("ip", f["dst_ip"] == self.ip),
        ]

    def payload_length(self, f):
        return f["total_length"] - 20
