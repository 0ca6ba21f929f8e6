"""EthernetRx: an Ethernet II frame (FCS stripped) in, its payload out, with the source
MAC and the EtherType; frames for another MAC address are dropped and counted."""
from __future__ import annotations

from amaranth.lib import data

from .common import HeaderRx, refuse
from .headers import BROADCAST_MAC, ETH_HEADER

__all__ = ["EthernetRx"]


class EthernetRx(HeaderRx):
    """Accepts frames to ``mac`` (an integer, first byte most significant) or, with
    ``broadcast``, to ff:ff:ff:ff:ff:ff (ARP requests).  Counters: ``drop_mac``,
    ``drop_short`` (ends inside the 14-byte header), ``frames_ok``."""

    HEADER = ETH_HEADER
    OUT_META = {"src_mac": 48, "ethertype": 16}
    COUNTERS = ("mac",)

    def __init__(self, mac: int, broadcast: bool = True):
        if not 0 <= mac < 1 << 48:
            refuse(self, f"MAC address must be a 48-bit integer, not {mac!r}")
        self.mac, self.broadcast = mac, broadcast
        super().__init__()

    def checks(self, f, meta):
        ok = f["dst_mac"] == self.mac
        if self.broadcast:
            ok = ok | (f["dst_mac"] == BROADCAST_MAC)
        return [("mac", ok)]
