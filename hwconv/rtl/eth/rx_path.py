"""UDPReceivePath: GMII in, the UDP payloads to one port out, every drop counted."""
from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .eth_rx import EthernetRx
from .gmii_rx import GMIIRx
from .ipv4_rx import IPv4Rx
from .udp_rx import UDPRx

__all__ = ["UDPReceivePath"]


def _counters(component) -> list[str]:
    return [name for name in component.signature.members
            if name == "frames_ok" or name.startswith("drop_")]


class UDPReceivePath(wiring.Component):
    """GMIIRx -> EthernetRx -> IPv4Rx -> UDPRx for ``mac``, ``ip`` and ``port``
    (integers).  ``o`` carries the payloads (``error`` on a last byte: drop the datagram)
    with ``src_mac``, ``src_ip`` and ``src_port`` for the answer; each layer's counters
    are outputs named ``<layer>_<counter>`` (mac_drop_fcs, ip_drop_checksum, ...).
    ``eth_o`` taps EthernetRx's output (every frame to us or broadcast, after the
    Ethernet header) for the ARP responder."""

    def __init__(self, mac: int, ip: int, port: int):
        self.layers = {"mac": GMIIRx(), "eth": EthernetRx(mac), "ip": IPv4Rx(ip),
                       "udp": UDPRx(port)}
        members = {"rxd": In(8), "rx_dv": In(1), "rx_er": In(1),
                   "o": Out(self.layers["udp"].o.signature),
                   "eth_o": Out(self.layers["eth"].o.signature)}
        for layer, c in self.layers.items():
            for name in _counters(c):
                members[f"{layer}_{name}"] = Out(32)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        layers = self.layers
        for name, c in layers.items():
            m.submodules[name] = c
        mac = layers["mac"]
        m.d.comb += [mac.rxd.eq(self.rxd), mac.rx_dv.eq(self.rx_dv), mac.rx_er.eq(self.rx_er)]
        wiring.connect(m, mac.o, layers["eth"].i)
        wiring.connect(m, layers["eth"].o, layers["ip"].i)
        m.d.comb += [self.eth_o.valid.eq(layers["eth"].o.valid),
                     self.eth_o.payload.eq(layers["eth"].o.payload)]
        wiring.connect(m, layers["ip"].o, layers["udp"].i)
        wiring.connect(m, layers["udp"].o, wiring.flipped(self.o))
        for layer, c in layers.items():
            for name in _counters(c):
                m.d.comb += getattr(self, f"{layer}_{name}").eq(getattr(c, name))
        return m
