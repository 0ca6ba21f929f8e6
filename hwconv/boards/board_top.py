"""What every hwconv board top has in common: clocks and resets, the Ethernet PHY's GMII port,
the idle USB-UART, and the two things a board can run (its "panel"): the network behind the
Ethernet endpoint (`hwconv.boards.ethernet.EthernetPanel`, the default of ``hwconv build``)
or under the on-chip self-test (`SelfTestPanel`, ``hwconv build --selftest``).

A board's own top (`hwconv.boards.ml605_top`, `hwconv.boards.sp605_top`) subclasses `BoardTop`
and says only what is the board's: its clocking primitive and system clock, and which button,
switch and LED is which (`BoardTop.wire_board`). Every pin of the board file is requested, so
the UCF carries the whole pin-out.

Clock domains: ``sync`` (the core clock: the network, the protocol engine, the self-test),
``eth`` (125 MHz, GMII transmit: forwarded to the PHY on GTX_CLK), both from the MMCM/PLL,
and ``eth_rx`` (the PHY's receive clock RX_CLK through a BUFG: the received bytes are
captured on it). Each is held in reset until the MMCM/PLL locks and released by a reset
synchronizer.
"""
from __future__ import annotations

from amaranth import (Cat, ClockDomain, ClockSignal, Const, Elaboratable, Instance, Module, Mux,
                      ResetSignal, Signal)
from amaranth.lib import io, wiring
from amaranth.lib.cdc import FFSynchronizer, ResetSynchronizer
from amaranth.lib.wiring import In, Out

from .selftest import SelfTest

__all__ = ["BoardTop", "GMIIPort", "SelfTestPanel", "CORE_DOMAIN", "ETH_DOMAIN", "RX_DOMAIN",
           "ETH_HZ", "heartbeat", "flash", "idle_uart"]

CORE_DOMAIN, ETH_DOMAIN, RX_DOMAIN, ETH_HZ = "sync", "eth", "eth_rx", 125e6


def heartbeat(m: Module, domain: str, bits: int) -> Signal:
    """The top bit of a free-running counter in ``domain``: blinks while its clock runs."""
    count = Signal(bits, name=f"heartbeat_{domain}")
    m.d[domain] += count.eq(count + 1)
    return count[-1]


def flash(m: Module, domain: str, event, bits: int, name: str) -> Signal:
    """High for 2**bits - 1 cycles of ``domain`` after each cycle ``event`` is high (an LED
    that a single-cycle event makes visible)."""
    count = Signal(bits, name=f"flash_{name}")
    m.d[domain] += count.eq(Mux(event, ~Const(0, bits), count - (count != 0)))
    return count != 0


def idle_uart(m: Module, platform):
    """The USB-UART's pins, requested and idle (TX high, RTS low)."""
    uart = platform.request("uart", 0, dir="-")
    m.submodules.uart_tx = uart_tx = io.Buffer("o", uart.tx)
    m.submodules.uart_rts = uart_rts = io.Buffer("o", uart.rts)
    m.submodules.uart_rx = io.Buffer("i", uart.rx)
    m.submodules.uart_cts = io.Buffer("i", uart.cts)
    m.d.comb += [uart_tx.o.eq(1), uart_rts.o.eq(0)]


class GMIIPort(Elaboratable):
    """The 88E1111's GMII pins (``eth_gmii`` of the board file), in I/O flip-flops.

    Transmit: ``txd``, ``tx_en``, ``tx_er`` (``eth`` domain) go out through output
    flip-flops clocked by ``eth``; GTX_CLK is ``eth`` forwarded through a DDR output
    register (ODDR, ODDR2) inverted, so that its rising edge, where the PHY samples TXD, falls
    in the middle of each byte (4 ns after the flip-flops change, for the 2.0 ns setup and
    0 ns hold GMII asks of the PHY's input). Left undriven they stay 0: nothing is sent.

    Receive: RXD, RX_DV, RX_ER are captured in input flip-flops on RX_CLK (through a BUFG:
    the ``eth_rx`` domain, which the board top defines and this drives; reset with ``eth``)
    and come out as ``rxd``, ``rx_dv``, ``rx_er``
    in ``eth_rx``. RX_CLK is the PHY's clock, recovered from the link partner: 125 MHz but
    not GTX_CLK, so the receive bytes need a clock-domain crossing to ``eth``
    (`hwconv.rtl.eth.gmii_cdc.GMIIRxCDC`). ``rx_activity`` is high for about 67 ms after
    each cycle of RX_DV (an LED).

    PHY_RESET (active low) is held for ``phy_reset_cycles`` of ``eth`` after reset (the
    88E1111 wants at least 10 ms) and then released; ``phy_in_reset`` is high until then.
    MDC stays low and MDIO is released (the PHY's strapped defaults: GMII, autonegotiation);
    CRS, COL, TX_CLK and INT are requested and unused.
    """

    def __init__(self, *, phy_reset_cycles: int = 1 << 21):
        self.phy_reset_cycles = phy_reset_cycles
        self.txd, self.tx_en, self.tx_er = Signal(8), Signal(), Signal()
        self.rxd, self.rx_dv, self.rx_er = Signal(8), Signal(), Signal()
        self.rx_activity = Signal()
        self.phy_in_reset = Signal()

    def elaborate(self, platform):
        m = Module()
        phy = platform.request("eth_gmii", 0, dir="-")

        # -- transmit: eth-domain output flip-flops, GTX_CLK = ~eth ------------------------
        m.submodules.phy_gtx_clk = gtx = io.DDRBuffer("o", phy.gtx_clk, o_domain=ETH_DOMAIN)
        m.d.comb += [gtx.o[0].eq(0), gtx.o[1].eq(1)]
        for name in ("txd", "tx_en", "tx_er"):
            m.submodules[f"phy_{name}"] = b = io.FFBuffer("o", getattr(phy, name),
                                                          o_domain=ETH_DOMAIN)
            m.d.comb += b.o.eq(getattr(self, name))

        # -- receive: input flip-flops on RX_CLK -------------------------------------------
        m.submodules.phy_rx_clk = rx_clk = io.Buffer("i", phy.rx_clk)
        m.submodules.bufg_eth_rx = Instance("BUFG", i_I=rx_clk.i, o_O=ClockSignal(RX_DOMAIN))
        m.submodules.rst_eth_rx = ResetSynchronizer(ResetSignal(ETH_DOMAIN), domain=RX_DOMAIN)
        for name in ("rxd", "rx_dv", "rx_er"):
            m.submodules[f"phy_{name}"] = b = io.FFBuffer("i", getattr(phy, name),
                                                          i_domain=RX_DOMAIN)
            m.d.comb += getattr(self, name).eq(b.i)
        m.d.comb += self.rx_activity.eq(flash(m, RX_DOMAIN, self.rx_dv, 23, "rx_dv"))
        for name in ("crs", "col", "tx_clk", "int"):
            m.submodules[f"phy_{name}"] = io.Buffer("i", getattr(phy, name))

        # -- management: PHY reset, MDC/MDIO idle ------------------------------------------
        count = Signal(range(self.phy_reset_cycles + 1))
        m.d.comb += self.phy_in_reset.eq(count != self.phy_reset_cycles)
        m.d[ETH_DOMAIN] += count.eq(count + self.phy_in_reset)
        m.submodules.phy_rst = rst = io.Buffer("o", phy.rst)   # PinsN: 1 drives the pin low
        m.d.comb += rst.o.eq(self.phy_in_reset)
        m.submodules.phy_mdc = mdc = io.Buffer("o", phy.mdc)
        m.d.comb += mdc.o.eq(0)
        m.submodules.phy_mdio = mdio = io.Buffer("io", phy.mdio)
        m.d.comb += mdio.oe.eq(0)
        return m


class SelfTestPanel(wiring.Component):
    """The network under `SelfTest`, with its controls and status bits (``hwconv build
    --selftest``): platform-independent.

    ``button`` (rerun), ``continuous`` and ``locked`` are asynchronous inputs; ``leds`` are
    eight status bits (core clock heartbeat, 125 MHz heartbeat, locked, running, done,
    passed, failed, timed out), ``led_c`` is PASS again. Uses the ``sync`` (core) and ``eth``
    (125 MHz) clock domains, which the board top makes.
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
        status = [heartbeat(m, CORE_DOMAIN, self.heartbeat_bits[0]),
                  heartbeat(m, ETH_DOMAIN, self.heartbeat_bits[1]),
                  self.locked, st.running, st.done, st.passed, st.failed, st.timed_out]
        m.d.comb += [self.leds.eq(Cat(*status)), self.led_c.eq(st.passed)]
        return m


class BoardTop(Elaboratable):
    """A board top: ``panel`` (`SelfTestPanel` or `EthernetPanel`) behind the board's clocks,
    its GMII port (`GMIIPort`, joined to the panel's when it has one), its LEDs and buttons
    (`wire_board`) and the idle UART.

    Subclasses set ``CLOCKING`` (`Virtex6Clocking`, `Spartan6Clocking`), ``SYSCLK_HZ`` and
    ``DEFAULT_CORE_HZ`` and implement `wire_board`. ``core_hz``: the core clock.
    """

    DOMAINS = (CORE_DOMAIN, ETH_DOMAIN)     # the MMCM's/PLL's outputs, in order
    CLOCKING = None
    SYSCLK_HZ = 200e6
    DEFAULT_CORE_HZ = 200e6

    @classmethod
    def clock_config(cls, core_hz: float):
        """The MMCM/PLL settings for ``core_hz`` and the 125 MHz Ethernet clock (raises
        ClockingError if the primitive cannot make them)."""
        return cls.CLOCKING.config_for(cls.SYSCLK_HZ, [core_hz, ETH_HZ])

    def __init__(self, panel, *, core_hz: float | None = None,
                 phy_reset_cycles: int = 1 << 21):
        self.panel = panel
        self.core_hz = self.DEFAULT_CORE_HZ if core_hz is None else core_hz
        self.phy_reset_cycles = phy_reset_cycles
        self.phy = GMIIPort(phy_reset_cycles=phy_reset_cycles)

    def wire_board(self, m: Module, platform, buf, phy: GMIIPort):
        """Request the board's buttons, switches and LEDs (``buf(direction, name, number)``
        gives an io.Buffer) and join them to ``self.panel`` and ``phy``."""
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()

        def buf(direction, name, number=0):
            port = platform.request(name, number, dir="-")
            b = io.Buffer(direction, port)
            m.submodules[f"io_{name}_{number}"] = b
            return b

        clk200 = buf("i", "clk200")
        cpu_reset = buf("i", "cpu_reset")
        m.domains += [ClockDomain(CORE_DOMAIN), ClockDomain(ETH_DOMAIN),
                      ClockDomain(RX_DOMAIN)]       # driven by self.phy (RX_CLK)
        m.submodules.clocking = clocking = self.CLOCKING(
            clk200.i, cpu_reset.i, in_hz=self.SYSCLK_HZ,
            domains={CORE_DOMAIN: self.core_hz, ETH_DOMAIN: ETH_HZ})
        self.clocking = clocking

        m.submodules.panel = panel = self.panel
        m.submodules.phy = phy = self.phy
        m.d.comb += panel.locked.eq(clocking.locked)
        if "txd" in panel.signature.members:          # the Ethernet path
            m.d.comb += [phy.txd.eq(panel.txd), phy.tx_en.eq(panel.tx_en),
                         phy.tx_er.eq(panel.tx_er),
                         panel.rxd.eq(phy.rxd), panel.rx_dv.eq(phy.rx_dv),
                         panel.rx_er.eq(phy.rx_er)]
        self.wire_board(m, platform, buf, phy)
        idle_uart(m, platform)
        return m
