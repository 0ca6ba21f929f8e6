"""The ML605 board top: clocks, resets, the network under an on-chip self-test, and LEDs.

Until the Ethernet path exists (the PHY pins are wired to a quiet placeholder), the board
shows its result on the LEDs; see `LEDS` for what each one means. Every pin the board file
defines is requested, so the UCF carries the whole pin-out and the Ethernet work only has to
replace the placeholder.
"""
from __future__ import annotations

from amaranth import (Cat, ClockDomain, ClockSignal, Const, Elaboratable, Instance, Module, Mux,
                      Signal)
from amaranth.lib import io, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from .clocking import Virtex6Clocking, mmcm_config
from .ml605 import SYSCLK_HZ
from .selftest import SelfTest

__all__ = ["ML605SelfTestTop", "SelfTestPanel", "LEDS", "BUTTONS", "CORE_DOMAIN", "ETH_DOMAIN",
           "ETH_HZ"]

CORE_DOMAIN, ETH_DOMAIN, ETH_HZ = "sync", "eth", 125e6

# What the board shows: (resource, what it means). The README of a build folder prints this.
LEDS = [
    ("led 0 (DS12)", "blinks: the core clock (MMCM output) runs"),
    ("led 1 (DS11)", "blinks: the 125 MHz Ethernet clock runs"),
    ("led 2 (DS9)", "on: the MMCM has locked"),
    ("led 3 (DS10)", "on: a self-test run is in progress"),
    ("led 4 (DS15)", "on: the last run has finished"),
    ("led 5 (DS14)", "on: PASS - every output beat equalled the reference"),
    ("led 6 (DS22)", "on: FAIL - a beat differed, none came, or one too many came"),
    ("led 7 (DS21)", "on: the failure was a time-out (the network stopped producing output)"),
    ("led C (DS16)", "on: PASS (next to the rerun button)"),
    ("led W (DS17)", "flickers: the Ethernet PHY is receiving frames (link partner present)"),
]
BUTTONS = [
    ("GPIO_SW_C (SW9, centre)", "run the self-test again"),
    ("CPU_RESET (SW10)", "reset everything (MMCM, network, checker) and run once more"),
    ("DIP SW1.1 (GPIO_DIP_SW1)", "on: run the test continuously; FAIL latches the first error"),
]


def _counter_msb(m: Module, domain: str, bits: int) -> Signal:
    count = Signal(bits)
    m.d[domain] += count.eq(count + 1)
    return count[-1]


class SelfTestPanel(wiring.Component):
    """The platform-independent part of the board top: `SelfTest` with its controls and LEDs.

    ``button`` (rerun), ``continuous`` and ``locked`` are asynchronous inputs; ``leds`` are the
    eight GPIO LEDs in the order of `LEDS`, ``led_c`` the centre LED. Uses the ``sync`` (core)
    and ``eth`` (125 MHz) clock domains, which the board top makes.
    """

    def __init__(self, selftest: SelfTest, *, heartbeat_bits: tuple[int, int] = (28, 27)):
        self.selftest, self.heartbeat_bits = selftest, heartbeat_bits
        super().__init__({"button": In(1), "continuous": In(1), "locked": In(1),
                          "leds": Out(8), "led_c": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.selftest = st = self.selftest
        rerun, rerun_prev = Signal(), Signal()
        m.submodules.sync_button = FFSynchronizer(self.button, rerun, o_domain=CORE_DOMAIN)
        m.submodules.sync_switch = FFSynchronizer(self.continuous, st.continuous,
                                                  o_domain=CORE_DOMAIN)
        m.d[CORE_DOMAIN] += rerun_prev.eq(rerun)
        m.d.comb += st.start.eq(rerun & ~rerun_prev)
        status = [_counter_msb(m, CORE_DOMAIN, self.heartbeat_bits[0]),
                  _counter_msb(m, ETH_DOMAIN, self.heartbeat_bits[1]),
                  self.locked, st.running, st.done, st.passed, st.failed, st.timed_out]
        m.d.comb += [self.leds.eq(Cat(*status)), self.led_c.eq(st.passed)]
        return m


class ML605SelfTestTop(Elaboratable):
    """``network`` (a stream component, normally `DataflowTop`) with the self-test checker
    (`SelfTest`), the MMCM clocks and the ML605's LEDs, buttons and placeholder Ethernet.

    ``core_hz``: the network's clock (default 200 MHz); ``repeats`` frames per run.
    """

    DOMAINS = (CORE_DOMAIN, ETH_DOMAIN)     # the MMCM's outputs, in order

    @staticmethod
    def clock_config(core_hz: float):
        """The MMCM settings for ``core_hz`` and the 125 MHz Ethernet clock (raises
        ClockingError if the MMCM cannot make them)."""
        return mmcm_config(SYSCLK_HZ, [core_hz, ETH_HZ])

    def __init__(self, network, in_beats: list[int], out_beats: list[int], *,
                 core_hz: float = 200e6, repeats: int = 4, timeout: int = 1 << 24,
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

        # -- clocks and resets ----------------------------------------------------------
        clk200 = buf("i", "clk200")
        cpu_reset = buf("i", "cpu_reset")
        m.domains += [ClockDomain(CORE_DOMAIN), ClockDomain(ETH_DOMAIN)]
        m.submodules.clocking = clocking = Virtex6Clocking(
            clk200.i, cpu_reset.i, in_hz=SYSCLK_HZ,
            domains={CORE_DOMAIN: self.core_hz, ETH_DOMAIN: ETH_HZ})
        self.clocking = clocking

        # -- the network under test, its controls and LEDs --------------------------------
        m.submodules.panel = panel = self.panel
        button_c = buf("i", "button_c")
        switches = [buf("i", "switch", k) for k in range(8)]
        m.d.comb += [panel.button.eq(button_c.i), panel.continuous.eq(switches[0].i),
                     panel.locked.eq(clocking.locked)]
        for d in "nesw":                 # not used yet; requested so the UCF holds them
            buf("i", f"button_{d}")
        leds = [buf("o", "led", k) for k in range(8)]
        for k, led in enumerate(leds):
            m.d.comb += led.o.eq(panel.leds[k])
        direction_leds = {d: buf("o", f"led_{d}") for d in "nescw"}
        m.d.comb += direction_leds["c"].o.eq(panel.led_c)

        # -- Ethernet PHY placeholder (issue 8 puts the MAC here) -----------------------
        # The PHY is held in reset for phy_reset_cycles of the 125 MHz clock (the 88E1111
        # wants at least 10 ms) and then left to negotiate a link; nothing is transmitted.
        # The 125 MHz clock is forwarded on GTX_CLK through an ODDR, and received frames
        # light an LED, so the PHY's clocks and the receive path can be seen working.
        phy = platform.request("eth_gmii", 0, dir="-")
        m.submodules.phy_gtx_clk = gtx = io.DDRBuffer("o", phy.gtx_clk, o_domain=ETH_DOMAIN)
        m.d.comb += [gtx.o[0].eq(1), gtx.o[1].eq(0)]
        quiet = {"txd": 0, "tx_en": 0, "tx_er": 0, "mdc": 0}
        for name, value in quiet.items():
            m.submodules[f"phy_{name}"] = b = io.Buffer("o", getattr(phy, name))
            m.d.comb += b.o.eq(value)
        m.submodules.phy_mdio = mdio = io.Buffer("io", phy.mdio)
        m.d.comb += mdio.oe.eq(0)
        phy_rst_count = Signal(range(self.phy_reset_cycles + 1))
        m.d[ETH_DOMAIN] += phy_rst_count.eq(phy_rst_count + (phy_rst_count !=
                                                            self.phy_reset_cycles))
        m.submodules.phy_rst = phy_rst = io.Buffer("o", phy.rst)   # pin is active low
        m.d.comb += phy_rst.o.eq(phy_rst_count != self.phy_reset_cycles)
        rx = {}
        for name in ("rx_clk", "rxd", "rx_dv", "rx_er", "crs", "col", "tx_clk", "int"):
            m.submodules[f"phy_{name}"] = rx[name] = io.Buffer("i", getattr(phy, name))
        m.domains.eth_rx = ClockDomain("eth_rx", reset_less=True)
        m.submodules.bufg_eth_rx = Instance("BUFG", i_I=rx["rx_clk"].i,
                                            o_O=ClockSignal("eth_rx"))
        rx_dv = Signal()
        rx_seen = Signal(23)            # about 67 ms at 125 MHz
        m.d.eth_rx += [rx_dv.eq(rx["rx_dv"].i),
                       rx_seen.eq(Mux(rx_dv, ~Const(0, 23), rx_seen - (rx_seen != 0)))]
        m.d.comb += direction_leds["w"].o.eq(rx_seen != 0)

        # -- USB-UART: idle until there is something to say ------------------------------
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_tx = uart_tx = io.Buffer("o", uart.tx)
        m.submodules.uart_rts = uart_rts = io.Buffer("o", uart.rts)
        m.submodules.uart_rx = io.Buffer("i", uart.rx)
        m.submodules.uart_cts = io.Buffer("i", uart.cts)
        m.d.comb += [uart_tx.o.eq(1), uart_rts.o.eq(0)]
        return m
