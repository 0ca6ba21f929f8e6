"""The Ethernet side of a board top (``hwconv build``'s default): the network behind the frame
protocol (docs/protocol.md) on the board's GMII port, and the board's Ethernet addresses.

`EthernetPanel` is `hwconv.rtl.eth.ProtocolBoard` with ``two_clocks=True`` (the UDP endpoint on
the 125 MHz ``eth`` clock, the protocol engine and the network on the core clock ``sync``,
joined by AsyncFIFOs), behind `hwconv.rtl.eth.gmii_cdc.GMIIRxCDC` (the received bytes from the
PHY's RX_CLK, domain ``eth_rx``, to ``eth``, through a third AsyncFIFO), with the status bits
a board shows on its LEDs. `parse_mac`, `parse_ip` and `parse_port` read the addresses of
``hwconv build --mac --ip --port`` and refuse bad ones by name.
"""
from __future__ import annotations

import ipaddress
import math
import re

from amaranth import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..errors import HwconvError
from ..host import protocol as p
from ..rtl.eth.board import ProtocolBoard
from ..rtl.eth.engine import MAX_IN_CHUNKS, MAX_OUT_CHUNKS
from ..rtl.eth.gmii_cdc import GMIIRxCDC
from .board_top import CORE_DOMAIN, ETH_DOMAIN, RX_DOMAIN, flash, heartbeat

__all__ = ["EthernetPanel", "AddressError", "parse_mac", "parse_ip", "parse_port",
           "device_info", "DEFAULT_MAC", "DEFAULT_IP", "DEFAULT_PORT", "ERROR_COUNTERS"]

# The addresses serve-sim --engine gateware's board has (hwconv.rtl.eth.gmii_bridge): a
# locally administered MAC, an address on the usual 192.168.1.0/24 bench network.
DEFAULT_MAC = "02:00:00:00:00:01"
DEFAULT_IP = "192.168.1.128"
DEFAULT_PORT = 9000

# ProtocolBoard counters that light the error LED, by the clock domain they count in: damage
# on the wire or in the PHY, a clock-domain crossing or the transmitter running dry, and
# datagrams to the board's port that break the protocol. Not counted as errors: traffic for
# other hosts, ports or protocols (normal on a shared network), and duplicate or stale
# chunks (a host resending after a loss).
ERROR_COUNTERS = {
    ETH_DOMAIN: ("rx_mac_drop_fcs", "rx_mac_drop_error", "rx_mac_drop_runt",
                 "rx_mac_drop_preamble", "rx_ip_drop_checksum", "rx_udp_drop_length",
                 "rx_udp_drop_truncated", "cdc_rx_overflow", "tx_mac_underrun"),
    CORE_DOMAIN: ("engine_malformed_short", "engine_malformed_magic",
                  "engine_malformed_version", "engine_malformed_type",
                  "engine_malformed_length", "engine_malformed_field", "engine_drop_error"),
}


class AddressError(HwconvError):
    pass


def parse_mac(text) -> int:
    """A unicast MAC address, ``02:00:00:00:00:01`` (or with ``-``), as an integer."""
    if isinstance(text, int):
        value = text
        shown = f"{text:#x}"
    else:
        shown = str(text)
        if not re.fullmatch(r"[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}", shown.strip()):
            raise AddressError(f"--mac {shown}: not a MAC address; write six hexadecimal "
                               f"bytes, e.g. {DEFAULT_MAC}")
        value = int(re.sub(r"[:-]", "", shown.strip()), 16)
    if not 0 <= value < 1 << 48:
        raise AddressError(f"--mac {shown}: not a 48-bit MAC address")
    if value >> 40 & 1:
        raise AddressError(f"--mac {shown}: a multicast address (the first byte is odd); "
                           f"a board needs a unicast one, e.g. {DEFAULT_MAC} (locally "
                           f"administered: first byte 02, 06, 0a, ...)")
    if value == 0:
        raise AddressError(f"--mac {shown}: the all-zero address is not a station's")
    return value


def parse_ip(text) -> int:
    """A unicast IPv4 address, ``192.168.1.128``, as an integer."""
    try:
        addr = ipaddress.IPv4Address(text)
    except (ipaddress.AddressValueError, ValueError):
        raise AddressError(f"--ip {text}: not an IPv4 address; write four numbers 0-255, "
                           f"e.g. {DEFAULT_IP}") from None
    if addr.is_multicast or addr.is_unspecified or addr == ipaddress.IPv4Address(
            "255.255.255.255") or addr.is_loopback:
        raise AddressError(f"--ip {text}: a board needs a unicast address on the host's "
                           f"network (not multicast, broadcast, loopback or 0.0.0.0), e.g. "
                           f"{DEFAULT_IP}")
    return int(addr)


def parse_port(text) -> int:
    """A UDP port number, 1..65535."""
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise AddressError(f"--port {text}: not a number; give a UDP port from 1 to 65535, "
                           f"e.g. {DEFAULT_PORT}") from None
    if not 1 <= value <= 65535:
        raise AddressError(f"--port {text}: out of range; a UDP port is from 1 to 65535")
    return value


def device_info(graph, slots: int) -> p.DeviceInfo:
    """The INFO the board answers with: ``graph``'s frame formats in chunks of at most
    protocol.CHUNK_BYTES holding whole beats of both, ``slots`` frames at once. ValueError
    with the reason when the protocol engine cannot carry the design."""
    if slots < 1 or slots & (slots - 1):
        raise ValueError(f"--slots {slots}: must be a power of 2 (1, 2, 4, ...)")
    probe = p.DeviceInfo.of_graph(graph, slots)
    unit = math.lcm(probe.input.beat_bytes, probe.output.beat_bytes)
    if unit > p.CHUNK_BYTES:
        raise ValueError(f"beats of {probe.input.beat_bytes} and {probe.output.beat_bytes} "
                         f"bytes do not fit whole in a chunk of {p.CHUNK_BYTES}")
    info = p.DeviceInfo.of_graph(graph, slots, p.CHUNK_BYTES // unit * unit)
    if info.input.chunks > MAX_IN_CHUNKS or info.output.chunks > MAX_OUT_CHUNKS:
        raise ValueError(f"a frame of {info.input.frame_bytes:,} bytes in, "
                         f"{info.output.frame_bytes:,} out takes {info.input.chunks} / "
                         f"{info.output.chunks} chunks; the protocol engine keeps at most "
                         f"{MAX_IN_CHUNKS} / {MAX_OUT_CHUNKS}")
    return info


class EthernetPanel(wiring.Component):
    """``network`` behind the frame protocol on a GMII port: GMIIRxCDC, then ProtocolBoard
    (``mac``, ``ip``, ``port`` integers; ``info`` a protocol.DeviceInfo), two clocks.

    Ports: ``rxd``, ``rx_dv``, ``rx_er`` (``eth_rx``, from the PHY's input flip-flops);
    ``txd``, ``tx_en``, ``tx_er`` (``eth``, to its output flip-flops); ``locked`` (the
    MMCM/PLL's, asynchronous); ``leds``: eight status bits, in order

    0. core clock heartbeat (alive), 1. 125 MHz heartbeat, 2. ``locked``,
    3. RX_CLK heartbeat (the PHY's receive clock runs),
    4. frame done: flashes each time the network has computed a frame,
    5. flashes each time a datagram is sent, 6. error: one of `ERROR_COUNTERS` has counted
       (held until reset), 7. flashes each time a datagram to the board's port arrives;

    ``led_c``: a frame has been computed and there has been no error. Counters: ProtocolBoard's
    (``board.<name>``) and ``rx_cdc.overflow``/``underrun``, which also light the error bit.
    """

    def __init__(self, mac: int, ip: int, port: int, info: p.DeviceInfo, network, *,
                 heartbeat_bits: tuple[int, int, int] = (28, 27, 27), flash_bits: int = 23):
        self.mac, self.ip, self.port, self.info = mac, ip, port, info
        self.heartbeat_bits, self.flash_bits = heartbeat_bits, flash_bits
        self.board = ProtocolBoard(mac, ip, port, info, network, two_clocks=True)
        self.rx_cdc = GMIIRxCDC(w_domain=RX_DOMAIN, r_domain=ETH_DOMAIN)
        super().__init__({"rxd": In(8), "rx_dv": In(1), "rx_er": In(1),
                          "txd": Out(8), "tx_en": Out(1), "tx_er": Out(1),
                          "locked": In(1), "leds": Out(8), "led_c": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx_cdc = cdc = self.rx_cdc
        m.submodules.board = board = self.board
        m.d.comb += [cdc.rxd.eq(self.rxd), cdc.rx_dv.eq(self.rx_dv), cdc.rx_er.eq(self.rx_er),
                     board.rxd.eq(cdc.o_rxd), board.rx_dv.eq(cdc.o_rx_dv),
                     board.rx_er.eq(cdc.o_rx_er),
                     self.txd.eq(board.txd), self.tx_en.eq(board.tx_en),
                     self.tx_er.eq(board.tx_er)]

        # error: any error counter has counted, registered in the counter's own domain
        errors = []
        for domain, names in {**ERROR_COUNTERS, RX_DOMAIN: ()}.items():
            counters = [getattr(board, name) for name in names]
            counters += {RX_DOMAIN: [cdc.overflow], ETH_DOMAIN: [cdc.underrun]}.get(domain, [])
            flag = Signal(name=f"error_{domain}")
            m.d[domain] += flag.eq(Cat(*(c != 0 for c in counters)).any())
            errors.append(flag)
        error = Signal()
        m.d.comb += error.eq(Cat(*errors).any())

        def event(domain, counter, name):
            """High for a cycle each time ``counter`` (counting by one) advances."""
            prev = Signal(name=f"{name}_prev")
            m.d[domain] += prev.eq(counter[0])
            return flash(m, domain, counter[0] != prev, self.flash_bits, name)

        frame_done = event(CORE_DOMAIN, board.engine_frames_computed, "frame_done")
        sent = event(ETH_DOMAIN, board.tx_mac_frames, "sent")
        received = event(CORE_DOMAIN, board.engine_rx_datagrams, "received")
        computed_any = Signal()
        m.d[CORE_DOMAIN] += computed_any.eq(board.engine_frames_computed != 0)
        hb = self.heartbeat_bits
        status = [heartbeat(m, CORE_DOMAIN, hb[0]), heartbeat(m, ETH_DOMAIN, hb[1]),
                  self.locked, heartbeat(m, RX_DOMAIN, hb[2]),
                  frame_done, sent, error, received]
        m.d.comb += [self.leds.eq(Cat(*status)), self.led_c.eq(computed_any & ~error)]
        return m
