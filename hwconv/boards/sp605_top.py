"""The SP605 board top: the ML605's (`hwconv.boards.ml605_top`) on the SP605's pins, its clocks
from a Spartan-6 PLL: the network behind the Ethernet endpoint (default) or under the on-chip
self-test (``--selftest``).

The SP605 has four GPIO LEDs, four buttons and four DIP switches, so the board shows less than
the ML605 does (see `LEDS`, `ETHERNET_LEDS`): four of the panel's eight status bits
(`LED_BITS`).
"""
from __future__ import annotations

from .board_top import BoardTop, SelfTestPanel
from .clocking import Spartan6Clocking
from .selftest import SelfTest
from .sp605 import SYSCLK_HZ

__all__ = ["SP605Top", "SP605SelfTestTop", "SP605EthernetTop", "LEDS", "BUTTONS",
           "ETHERNET_LEDS", "ETHERNET_BUTTONS", "LED_BITS"]

# panel.leds bit (in the order of ml605_top.LEDS / ETHERNET_LEDS) shown on each SP605 LED.
LED_BITS = (0, 4, 5, 6)
_LEDS = ["led 0 (DS3)", "led 1 (DS4)", "led 2 (DS5)", "led 3 (DS6)"]
LEDS = [*zip(_LEDS, [
    "blinks: the core clock (PLL output) runs",
    "on: the last run has finished",
    "on: PASS - every output beat equalled the reference",
    "on: FAIL - a beat differed, none came for the time-out, or one too many"])]
BUTTONS = [
    ("GPIO button 0 (SW4)", "run the self-test again"),
    ("CPU_RESET (SW6)", "reset everything (PLL, network, checker) and run once more"),
    ("DIP switch 1", "on: run the test continuously; FAIL latches the first error"),
]
ETHERNET_LEDS = [*zip(_LEDS, [
    "blinks: alive - the core clock (PLL output) runs",
    "flashes: frame done - the network has computed a frame",
    "flashes: a datagram was sent to the host",
    "on: error - a damaged frame on the wire, a malformed datagram to the board's port, or a "
    "clock-domain FIFO over- or underrun (held until CPU_RESET)"])]
ETHERNET_BUTTONS = [
    ("CPU_RESET (SW6)", "reset everything (PLL, Ethernet endpoint, protocol engine, "
                        "network); the host starts a new session (HELLO)"),
]


class SP605Top(BoardTop):
    """``panel`` on the SP605: PLL_BASE from the 200 MHz system clock (core clock 100 MHz by
    default), four LEDs, button 0 and DIP switch 1 (self-test only), the GMII port, the idle
    USB-UART."""

    CLOCKING = Spartan6Clocking
    SYSCLK_HZ = SYSCLK_HZ
    DEFAULT_CORE_HZ = 100e6

    def wire_board(self, m, platform, buf, phy):
        panel = self.panel
        buttons = [buf("i", "button", k) for k in range(4)]
        switches = [buf("i", "switch", k) for k in range(4)]
        if "button" in panel.signature.members:
            m.d.comb += [panel.button.eq(buttons[0].i), panel.continuous.eq(switches[0].i)]
        for k, bit in enumerate(LED_BITS):
            m.d.comb += buf("o", "led", k).o.eq(panel.leds[bit])
        # The receive clock PHY_RXCLK (P20) is not a global-clock pin: the UCF routes it to
        # its BUFG on general routing (sp605.ADD_CONSTRAINTS, CLOCK_DEDICATED_ROUTE FALSE).


def SP605SelfTestTop(network, in_beats: list[int], out_beats: list[int], *,
                     core_hz: float = 100e6, repeats: int = 4, timeout: int = 1 << 24,
                     phy_reset_cycles: int = 1 << 21) -> SP605Top:
    """``network`` under the self-test checker on the SP605 (arguments as
    `hwconv.boards.ml605_top.ML605SelfTestTop`'s)."""
    panel = SelfTestPanel(SelfTest(network, in_beats, out_beats, repeats=repeats,
                                   timeout=timeout))
    return SP605Top(panel, core_hz=core_hz, phy_reset_cycles=phy_reset_cycles)


def SP605EthernetTop(network, info, *, mac: int, ip: int, port: int,
                     core_hz: float = 100e6, phy_reset_cycles: int = 1 << 21) -> SP605Top:
    """``network`` behind the frame protocol on the SP605's GMII port (arguments as
    `hwconv.boards.ml605_top.ML605EthernetTop`'s)."""
    from .ethernet import EthernetPanel
    return SP605Top(EthernetPanel(mac, ip, port, info, network), core_hz=core_hz,
                    phy_reset_cycles=phy_reset_cycles)


Top, SelfTestTop, EthernetTop = SP605Top, SP605SelfTestTop, SP605EthernetTop
