"""UDPTransmitPath: UDP payloads in, GMII out, ARP replies (or any Ethernet payload)
sharing the line."""
from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .arbiter import FrameArbiter
from .common import tx_stream
from .eth_tx import EthernetTx
from .gmii_tx import GMIITx
from .ipv4_tx import IPv4Tx
from .udp_tx import UDPTx

__all__ = ["UDPTransmitPath"]


def _counters(component) -> list[str]:
    return [name for name, member in component.signature.members.items()
            if member.is_port and member.flow == Out and member.shape == 32]


class UDPTransmitPath(wiring.Component):
    """UDPTx -> IPv4Tx -> FrameArbiter -> EthernetTx -> GMIITx from ``mac``, ``ip`` and
    ``port`` (integers).

    ``i`` takes payloads with ``dst_mac``, ``dst_ip``, ``dst_port`` and ``length`` (read
    on a frame's first byte; an answer copies them from the request's ``src_*``) and,
    once a frame's first byte is taken, its next bytes one per cycle (GMII cannot wait:
    see GMIITx).  ``eth_i`` takes other Ethernet payloads with ``dst_mac`` and
    ``ethertype`` (ARP replies); the arbiter alternates between the two frame by frame.
    Counters are outputs ``<layer>_<counter>`` (udp_frames, udp_pad_short, mac_underrun,
    ...)."""

    def __init__(self, mac: int, ip: int, port: int):
        self.layers = {"udp": UDPTx(port), "ip": IPv4Tx(ip), "eth": EthernetTx(mac),
                       "mac": GMIITx()}
        self.arbiter = FrameArbiter(2, IPv4Tx.OUT_META)
        members = {"i": In(tx_stream(UDPTx.IN_META)), "eth_i": In(tx_stream(IPv4Tx.OUT_META)),
                   "txd": Out(8), "tx_en": Out(1), "tx_er": Out(1)}
        for layer, c in self.layers.items():
            for name in _counters(c):
                members[f"{layer}_{name}"] = Out(32)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        layers = self.layers
        for name, c in layers.items():
            m.submodules[name] = c
        m.submodules.arbiter = arb = self.arbiter
        wiring.connect(m, wiring.flipped(self.i), layers["udp"].i)
        wiring.connect(m, layers["udp"].o, layers["ip"].i)
        wiring.connect(m, layers["ip"].o, arb.i0)
        wiring.connect(m, wiring.flipped(self.eth_i), arb.i1)
        wiring.connect(m, arb.o, layers["eth"].i)
        wiring.connect(m, layers["eth"].o, layers["mac"].i)
        mac = layers["mac"]
        m.d.comb += [self.txd.eq(mac.txd), self.tx_en.eq(mac.tx_en), self.tx_er.eq(mac.tx_er)]
        for layer, c in layers.items():
            for name in _counters(c):
                m.d.comb += getattr(self, f"{layer}_{name}").eq(getattr(c, name))
        return m
