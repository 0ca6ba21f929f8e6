"""UDPEndpoint: the board's Ethernet port, both ways: GMII in and out, UDP payloads out
and in, ARP answered on the side."""
from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .arp import ARPResponder
from .common import tx_stream
from .rx_path import UDPReceivePath
from .tx_path import UDPTransmitPath
from .udp_tx import UDPTx

__all__ = ["UDPEndpoint"]


def _counters(component) -> list[str]:
    return [name for name, member in component.signature.members.items()
            if member.is_port and member.flow == Out and member.shape == 32]


class UDPEndpoint(wiring.Component):
    """UDPReceivePath, ARPResponder and UDPTransmitPath for ``mac``, ``ip`` and ``port``
    (integers), all in the GMII clock domain.

    ``o``: datagrams received (see UDPReceivePath); ``i``: datagrams to send (see
    UDPTransmitPath).  Counters: ``rx_<layer>_<name>``, ``arp_<name>``,
    ``tx_<layer>_<name>``."""

    def __init__(self, mac: int, ip: int, port: int):
        self.rx = UDPReceivePath(mac, ip, port)
        self.arp = ARPResponder(mac, ip)
        self.tx = UDPTransmitPath(mac, ip, port)
        members = {"rxd": In(8), "rx_dv": In(1), "rx_er": In(1),
                   "txd": Out(8), "tx_en": Out(1), "tx_er": Out(1),
                   "o": Out(self.rx.o.signature), "i": In(tx_stream(UDPTx.IN_META))}
        for prefix, c in (("rx", self.rx), ("arp", self.arp), ("tx", self.tx)):
            for name in _counters(c):
                members[f"{prefix}_{name}"] = Out(32)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx, m.submodules.arp, m.submodules.tx = rx, arp, tx = \
            self.rx, self.arp, self.tx
        m.d.comb += [rx.rxd.eq(self.rxd), rx.rx_dv.eq(self.rx_dv), rx.rx_er.eq(self.rx_er),
                     self.txd.eq(tx.txd), self.tx_en.eq(tx.tx_en), self.tx_er.eq(tx.tx_er)]
        # (connect() cannot join two always-ready ``ready`` constants going inwards)
        m.d.comb += [arp.i.valid.eq(rx.eth_o.valid), arp.i.payload.eq(rx.eth_o.payload)]
        wiring.connect(m, arp.o, tx.eth_i)
        wiring.connect(m, rx.o, wiring.flipped(self.o))
        wiring.connect(m, wiring.flipped(self.i), tx.i)
        for prefix, c in (("rx", self.rx), ("arp", self.arp), ("tx", self.tx)):
            for name in _counters(c):
                m.d.comb += getattr(self, f"{prefix}_{name}").eq(getattr(c, name))
        return m
