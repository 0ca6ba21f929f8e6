"""EthernetTx: a payload with its destination MAC and EtherType in, an Ethernet II frame
(without preamble and FCS: GMIITx adds them, and the padding) out."""
from __future__ import annotations

from .common import refuse
from .header_tx import HeaderTx
from .headers import ETH_HEADER

__all__ = ["EthernetTx"]


class EthernetTx(HeaderTx):
    """Sends from ``mac`` (an integer, first byte most significant) to ``dst_mac``."""

    HEADER = ETH_HEADER
    IN_META = {"dst_mac": 48, "ethertype": 16}
    OUT_META = {}

    def __init__(self, mac: int):
        if not 0 <= mac < 1 << 48:
            refuse(self, f"MAC address must be a 48-bit integer, not {mac!r}")
        self.mac = mac
        super().__init__()

    def header_fields(self, m, meta):
        return {"dst_mac": meta.dst_mac, "src_mac": self.mac, "ethertype": meta.ethertype}
