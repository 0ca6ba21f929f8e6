"""The SP605 board top: the same self-test as the ML605's (`hwconv.boards.ml605_top`) on the
SP605's pins, its clocks from a Spartan-6 PLL.

The SP605 has four GPIO LEDs, four buttons and four DIP switches, so the board shows less than
the ML605 does (see `LEDS`). Every pin of the board file is requested, so the UCF carries the
whole pin-out; the Ethernet PHY gets the same quiet placeholder as on the ML605.
"""
from __future__ import annotations

from amaranth import ClockDomain, Elaboratable, Module, Signal
from amaranth.lib import io

from .clocking import Spartan6Clocking, pll_config
from .ml605_top import CORE_DOMAIN, ETH_DOMAIN, ETH_HZ, SelfTestPanel
from .selftest import SelfTest
from .sp605 import SYSCLK_HZ

__all__ = ["SP605SelfTestTop", "LEDS", "BUTTONS"]

# panel.leds bit (in the order of ml605_top.LEDS) shown on each SP605 LED.
LED_BITS = (0, 4, 5, 6)
LEDS = [
    ("led 0 (DS3)", "blinks: the core clock (PLL output) runs"),
    ("led 1 (DS4)", "on: the last run has finished"),
    ("led 2 (DS5)", "on: PASS - every output beat equalled the reference"),
    ("led 3 (DS6)", "on: FAIL - a beat differed, none came for the time-out, or one too many"),
]
BUTTONS = [
    ("GPIO button 0 (SW4)", "run the self-test again"),
    ("CPU_RESET (SW6)", "reset everything (PLL, network, checker) and run once more"),
    ("DIP switch 1", "on: run the test continuously; FAIL latches the first error"),
]


class SP605SelfTestTop(Elaboratable):
    """``network`` under the self-test checker, with the PLL clocks and the SP605's LEDs,
    buttons and placeholder Ethernet. Arguments as `ML605SelfTestTop`'s; ``core_hz`` defaults
    to 100 MHz."""

    DOMAINS = (CORE_DOMAIN, ETH_DOMAIN)     # the PLL's outputs, in order
    CLOCKING = Spartan6Clocking

    @staticmethod
    def clock_config(core_hz: float):
        """The PLL settings for ``core_hz`` and the 125 MHz Ethernet clock (ClockingError if
        the PLL cannot make them)."""
        return pll_config(SYSCLK_HZ, [core_hz, ETH_HZ])

    def __init__(self, network, in_beats: list[int], out_beats: list[int], *,
                 core_hz: float = 100e6, repeats: int = 4, timeout: int = 1 << 24,
                 phy_reset_cycles: int = 1 << 21):
        self.core_hz = core_hz
        self.phy_reset_cycles = phy_reset_cycles
        self.selftest = SelfTest(network, in_beats, out_beats, repeats=repeats,
                                 timeout=timeout)
        self.panel = SelfTestPanel(self.selftest)

    def elaborate(self, platform):
        m = Module()

        def buf(direction, name, number=0):
            port = platform.request(name, number, dir="-")
            b = io.Buffer(direction, port)
            m.submodules[f"io_{name}_{number}"] = b
            return b

        clk200 = buf("i", "clk200")
        cpu_reset = buf("i", "cpu_reset")
        m.domains += [ClockDomain(CORE_DOMAIN), ClockDomain(ETH_DOMAIN)]
        m.submodules.clocking = clocking = Spartan6Clocking(
            clk200.i, cpu_reset.i, in_hz=SYSCLK_HZ,
            domains={CORE_DOMAIN: self.core_hz, ETH_DOMAIN: ETH_HZ})
        self.clocking = clocking

        m.submodules.panel = panel = self.panel
        buttons = [buf("i", "button", k) for k in range(4)]
        switches = [buf("i", "switch", k) for k in range(4)]
        m.d.comb += [panel.button.eq(buttons[0].i), panel.continuous.eq(switches[0].i),
                     panel.locked.eq(clocking.locked)]
        for k, bit in enumerate(LED_BITS):
            m.d.comb += buf("o", "led", k).o.eq(panel.leds[bit])

        # Ethernet PHY placeholder, as on the ML605: reset for phy_reset_cycles of 125 MHz,
        # then idle; GTX_CLK forwarded through a DDR output (ODDR2 on Spartan-6).
        phy = platform.request("eth_gmii", 0, dir="-")
        m.submodules.phy_gtx_clk = gtx = io.DDRBuffer("o", phy.gtx_clk, o_domain=ETH_DOMAIN)
        m.d.comb += [gtx.o[0].eq(1), gtx.o[1].eq(0)]
        for name in ("txd", "tx_en", "tx_er", "mdc"):
            m.submodules[f"phy_{name}"] = b = io.Buffer("o", getattr(phy, name))
            m.d.comb += b.o.eq(0)
        m.submodules.phy_mdio = mdio = io.Buffer("io", phy.mdio)
        m.d.comb += mdio.oe.eq(0)
        phy_rst_count = Signal(range(self.phy_reset_cycles + 1))
        m.d[ETH_DOMAIN] += phy_rst_count.eq(phy_rst_count + (phy_rst_count !=
                                                            self.phy_reset_cycles))
        m.submodules.phy_rst = phy_rst = io.Buffer("o", phy.rst)
        m.d.comb += phy_rst.o.eq(phy_rst_count != self.phy_reset_cycles)
        rx = {}
        for name in ("rx_clk", "rxd", "rx_dv", "rx_er", "crs", "col", "tx_clk", "int"):
            m.submodules[f"phy_{name}"] = rx[name] = io.Buffer("i", getattr(phy, name))
        # Nothing is received yet (the four LEDs are taken), so the receive pins end in their
        # input buffers; the UCF already declares PHY_RXCLK's route to a BUFG non-dedicated
        # (sp605.ADD_CONSTRAINTS) for the Ethernet endpoint that will clock from it.

        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_tx = uart_tx = io.Buffer("o", uart.tx)
        m.submodules.uart_rts = uart_rts = io.Buffer("o", uart.rts)
        m.submodules.uart_rx = io.Buffer("i", uart.rx)
        m.submodules.uart_cts = io.Buffer("i", uart.cts)
        m.d.comb += [uart_tx.o.eq(1), uart_rts.o.eq(0)]
        return m
