"""UDPLoopback: a whole Ethernet port that echoes datagrams, GMII in and out: the board
end of a loopback test, and the receive and transmit paths measured together."""
from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .echo import UDPEcho
from .endpoint import UDPEndpoint

__all__ = ["UDPLoopback"]


def _counters(component) -> list[str]:
    return [name for name, member in component.signature.members.items()
            if member.is_port and member.flow == Out and member.shape == 32]


class UDPLoopback(wiring.Component):
    """UDPEndpoint(``mac``, ``ip``, ``port``) -> UDPEcho -> back: every good datagram to
    ``port`` is answered with its payload, from ``port`` to its sender's port; ARP
    requests for ``ip`` are answered.  Only plain ports (GMII pins and counters: the
    endpoint's, and ``echo_<name>``), so it can be a top-level module as it is."""

    def __init__(self, mac: int, ip: int, port: int, depth: int = 4096):
        self.endpoint = UDPEndpoint(mac, ip, port)
        self.echo = UDPEcho(depth)
        members = {"rxd": In(8), "rx_dv": In(1), "rx_er": In(1),
                   "txd": Out(8), "tx_en": Out(1), "tx_er": Out(1)}
        for name in _counters(self.endpoint):
            members[name] = Out(32)
        for name in _counters(self.echo):
            members[f"echo_{name}"] = Out(32)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.endpoint = ep = self.endpoint
        m.submodules.echo = echo = self.echo
        m.d.comb += [ep.rxd.eq(self.rxd), ep.rx_dv.eq(self.rx_dv), ep.rx_er.eq(self.rx_er),
                     self.txd.eq(ep.txd), self.tx_en.eq(ep.tx_en), self.tx_er.eq(ep.tx_er)]
        # (connect() cannot join two always-ready ``ready`` constants going inwards)
        m.d.comb += [echo.i.valid.eq(ep.o.valid), echo.i.payload.eq(ep.o.payload)]
        wiring.connect(m, echo.o, ep.i)
        for name in _counters(self.endpoint):
            m.d.comb += getattr(self, name).eq(getattr(ep, name))
        for name in _counters(self.echo):
            m.d.comb += getattr(self, f"echo_{name}").eq(getattr(echo, name))
        return m
