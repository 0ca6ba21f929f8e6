"""ProtocolBoard: a whole board top, GMII in and out, the frame protocol
(docs/protocol.md) and the network inside: UDPEndpoint -> ProtocolEngine(network) ->
UDPEndpoint, with ARP answered on the side."""
from __future__ import annotations

from amaranth import DomainRenamer, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .cdc import StreamCDC
from .endpoint import UDPEndpoint
from .engine import ProtocolEngine

__all__ = ["ProtocolBoard"]


def _counters(component) -> list[str]:
    return [name for name, member in component.signature.members.items()
            if member.is_port and member.flow == Out and member.shape == 32]


class ProtocolBoard(wiring.Component):
    """UDPEndpoint(``mac``, ``ip``, ``port``) and ProtocolEngine(``info``, ``network``).

    ``two_clocks=False``: everything in ``sync`` (the GMII clock).  ``two_clocks=True``:
    the endpoint in the ``eth`` domain (GMII's 125 MHz; ports ``eth_clk``, ``eth_rst``),
    the engine and the network in ``sync`` (the core clock), joined by two StreamCDCs:
    received bytes cross without back-pressure (a frame finding the FIFO full arrives
    marked ``error``, counted in ``cdc_rx_overflow``: none while the core clock is at
    least GMII's), datagrams to send cross with it.  The engine writes a datagram one
    byte per core cycle without pausing, and the transmit path holds its first byte
    while it sends 42 bytes of headers, so with a core clock at least GMII's the FIFO
    never runs dry mid-frame (GMII cannot wait).

    Only plain ports (GMII pins and counters: the endpoint's, ``engine_<name>`` for the
    protocol's), so it can be a top-level module as it is."""

    def __init__(self, mac: int, ip: int, port: int, info, network, *,
                 two_clocks: bool = False, cdc_depth: int = 32):
        self.two_clocks, self.cdc_depth = two_clocks, cdc_depth
        self.endpoint = UDPEndpoint(mac, ip, port)
        self.engine = ProtocolEngine(info, network)
        members = {"rxd": In(8), "rx_dv": In(1), "rx_er": In(1),
                   "txd": Out(8), "tx_en": Out(1), "tx_er": Out(1)}
        for name in _counters(self.endpoint):
            members[name] = Out(32)
        for name in _counters(self.engine):
            members[f"engine_{name}"] = Out(32)
        if two_clocks:
            members["cdc_rx_overflow"] = Out(32)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        ep, eng = self.endpoint, self.engine
        if self.two_clocks:
            m.submodules.endpoint = DomainRenamer("eth")(ep)
            m.submodules.rx_cdc = rx_cdc = StreamCDC(ep.o.signature, self.cdc_depth,
                                                     w_domain="eth", r_domain="sync")
            m.submodules.tx_cdc = tx_cdc = StreamCDC(ep.i.signature.flip(), self.cdc_depth,
                                                     w_domain="sync", r_domain="eth")
            m.d.comb += [rx_cdc.i.valid.eq(ep.o.valid), rx_cdc.i.payload.eq(ep.o.payload),
                         self.cdc_rx_overflow.eq(rx_cdc.overflow)]
            rx_out, tx_in = rx_cdc.o, tx_cdc.i
            wiring.connect(m, tx_cdc.o, ep.i)
        else:
            m.submodules.endpoint = ep
            rx_out, tx_in = ep.o, ep.i
        m.submodules.engine = eng
        m.d.comb += [ep.rxd.eq(self.rxd), ep.rx_dv.eq(self.rx_dv), ep.rx_er.eq(self.rx_er),
                     self.txd.eq(ep.txd), self.tx_en.eq(ep.tx_en), self.tx_er.eq(ep.tx_er)]
        # (connect() cannot join two always-ready ``ready`` constants going inwards)
        m.d.comb += [eng.i.valid.eq(rx_out.valid), eng.i.payload.eq(rx_out.payload)]
        wiring.connect(m, eng.o, tx_in)
        for name in _counters(ep):
            m.d.comb += getattr(self, name).eq(getattr(ep, name))
        for name in _counters(eng):
            m.d.comb += getattr(self, f"engine_{name}").eq(getattr(eng, name))
        return m

