"""The ML605 board top: MMCM clocks, resets, the network behind the Ethernet endpoint (default)
or under the on-chip self-test (``--selftest``), and LEDs.

What is common to every board (clocks, the GMII port, the panels) is in
`hwconv.boards.board_top`; here is what is the ML605's: the MMCM, and which LED, button and
switch is which (`LEDS` and `BUTTONS` for the self-test, `ETHERNET_LEDS` and
`ETHERNET_BUTTONS` for the Ethernet top; a build folder's README prints them).
"""
from __future__ import annotations

from .board_top import (CORE_DOMAIN, ETH_DOMAIN, ETH_HZ, BoardTop, SelfTestPanel)
from .clocking import Virtex6Clocking
from .ml605 import SYSCLK_HZ
from .selftest import SelfTest

__all__ = ["ML605Top", "ML605SelfTestTop", "ML605EthernetTop", "SelfTestPanel", "LEDS",
           "BUTTONS", "ETHERNET_LEDS", "ETHERNET_BUTTONS", "CORE_DOMAIN", "ETH_DOMAIN",
           "ETH_HZ"]

_GPIO_LEDS = ["led 0 (DS12)", "led 1 (DS11)", "led 2 (DS9)", "led 3 (DS10)", "led 4 (DS15)",
              "led 5 (DS14)", "led 6 (DS22)", "led 7 (DS21)"]
_RX_LED = ("led W (DS17)", "flickers: the Ethernet PHY is receiving frames (link partner "
                           "present)")

# What the board shows: (resource, what it means). The README of a build folder prints this.
LEDS = [*zip(_GPIO_LEDS, [
    "blinks: the core clock (MMCM output) runs",
    "blinks: the 125 MHz Ethernet clock runs",
    "on: the MMCM has locked",
    "on: a self-test run is in progress",
    "on: the last run has finished",
    "on: PASS - every output beat equalled the reference",
    "on: FAIL - a beat differed, none came, or one too many came",
    "on: the failure was a time-out (the network stopped producing output)"]),
    ("led C (DS16)", "on: PASS (next to the rerun button)"),
    _RX_LED,
]
BUTTONS = [
    ("GPIO_SW_C (SW9, centre)", "run the self-test again"),
    ("CPU_RESET (SW10)", "reset everything (MMCM, network, checker) and run once more"),
    ("DIP SW1.1 (GPIO_DIP_SW1)", "on: run the test continuously; FAIL latches the first error"),
]
ETHERNET_LEDS = [*zip(_GPIO_LEDS, [
    "blinks: alive - the core clock (MMCM output) runs",
    "blinks: the 125 MHz Ethernet transmit clock runs",
    "on: the MMCM has locked",
    "blinks: the PHY's receive clock (RX_CLK) runs",
    "flashes: frame done - the network has computed a frame",
    "flashes: a datagram was sent to the host",
    "on: error - a damaged frame on the wire, a malformed datagram to the board's port, or a "
    "clock-domain FIFO over- or underrun (held until CPU_RESET)",
    "flashes: a datagram arrived at the board's port"]),
    ("led C (DS16)", "on: a frame has been computed and there has been no error"),
    _RX_LED,
]
ETHERNET_BUTTONS = [
    ("CPU_RESET (SW10)", "reset everything (MMCM, Ethernet endpoint, protocol engine, "
                         "network); the host starts a new session (HELLO)"),
]


class ML605Top(BoardTop):
    """``panel`` (`SelfTestPanel` or `EthernetPanel`) on the ML605: MMCM_BASE from the 200 MHz
    system clock, its 8 GPIO LEDs and 5 direction LEDs, the centre button and DIP switch 1
    (self-test only), the 88E1111's GMII port, the idle USB-UART."""

    CLOCKING = Virtex6Clocking
    SYSCLK_HZ = SYSCLK_HZ
    DEFAULT_CORE_HZ = 200e6

    def wire_board(self, m, platform, buf, phy):
        panel = self.panel
        button_c = buf("i", "button_c")
        switches = [buf("i", "switch", k) for k in range(8)]
        if "button" in panel.signature.members:       # the self-test's controls
            m.d.comb += [panel.button.eq(button_c.i), panel.continuous.eq(switches[0].i)]
        for d in "nesw":                 # not used; requested so the UCF holds them
            buf("i", f"button_{d}")
        for k in range(8):
            m.d.comb += buf("o", "led", k).o.eq(panel.leds[k])
        direction_leds = {d: buf("o", f"led_{d}") for d in "nescw"}
        m.d.comb += [direction_leds["c"].o.eq(panel.led_c),
                     direction_leds["w"].o.eq(phy.rx_activity)]


def ML605SelfTestTop(network, in_beats: list[int], out_beats: list[int], *,
                     core_hz: float = 200e6, repeats: int = 4, timeout: int = 1 << 24,
                     phy_reset_cycles: int = 1 << 21) -> ML605Top:
    """``network`` (a stream component, normally `DataflowTop`) under the self-test checker
    (`SelfTest`) on the ML605: ``repeats`` frames per run, FAIL after ``timeout`` silent
    cycles. The PHY is held in reset, then left idle."""
    panel = SelfTestPanel(SelfTest(network, in_beats, out_beats, repeats=repeats,
                                   timeout=timeout))
    return ML605Top(panel, core_hz=core_hz, phy_reset_cycles=phy_reset_cycles)


def ML605EthernetTop(network, info, *, mac: int, ip: int, port: int,
                     core_hz: float = 200e6, phy_reset_cycles: int = 1 << 21) -> ML605Top:
    """``network`` behind the frame protocol (`EthernetPanel`: ``info`` a
    protocol.DeviceInfo; ``mac``, ``ip``, ``port`` integers) on the ML605's GMII port."""
    from .ethernet import EthernetPanel
    return ML605Top(EthernetPanel(mac, ip, port, info, network), core_hz=core_hz,
                    phy_reset_cycles=phy_reset_cycles)


# What `hwconv build` needs of each board top module.
Top, SelfTestTop, EthernetTop = ML605Top, ML605SelfTestTop, ML605EthernetTop
