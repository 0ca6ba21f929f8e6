"""The Xilinx SP605 evaluation board (Spartan-6 XC6SLX45T-3FGG484) as an Amaranth platform.

The second board file, written the way `hwconv.boards.ml605` is: pin tables (FPGA pin, the
user guide's signal name and reference designator, the file each row was checked against)
turned into Amaranth resources by `_resources()`, and a small `XilinxPlatform` subclass naming
the part and the toolchain (ISE 14.7, as for Virtex-6). The board top is
`hwconv.boards.sp605_top`; its clocks come from a Spartan-6 PLL (`hwconv.boards.clocking`).

Where the pins come from. The board's parts are those of the SP605 Hardware User Guide (UG526):
200 MHz LVDS oscillator SYSCLK_P/N, CPU_RESET push button, four GPIO LEDs, four GPIO buttons,
a 4-position DIP switch, a CP2103 USB-UART and a Marvell 88E1111 PHY in GMII mode. UG526 itself
could not be read where this file was written; the rows were copied from these public SP605
constraint files, and the names in the third column are UG526's only where one of them quotes
it (SYSCLK_P/N, CPU_RESET, PHY_MDIO, PHY_MDC, PHY_INT, SW4, SW6, SW7, DS3-DS6); the rest
describe the pin:

  [GR]  GRLIB designs/leon3-xilinx-sp605/leon3mp.ucf (the LEON3 SP605 port): every pin below,
        with its I/O standard.
  [UU]  an SP605 UCF headed "as documented in UG526" (Table 1-9, Ethernet PHY connections):
        SYSCLK_P/N K21/K22 LVDS_25, CPU_RESET H8 LVCMOS15, PHY_MDIO V20, PHY_MDC R19.
  [EX]  an SP605 example UCF: reset H8 "SW6 pushbutton (active-high)", buttons F3 (SW4) and
        G6 (SW7), LEDs D17/AB4/D21/W15 on DS3/DS4/DS5/DS6, and a CLOCK_DEDICATED_ROUTE = FALSE
        on the GMII receive clock "because Xilinx put it on a non GCLK pin".

So the clock, reset, LEDs, two buttons, MDC and MDIO are checked by two or three files; the
other PHY pins, the other two buttons, the DIP switches and the UART by [GR] alone. I/O
standards are [GR]'s: the PHY, UART and LEDs on 2.5 V banks (LVCMOS25), the reset and buttons
on the 1.5 V DDR3 bank (LVCMOS15); of the DIP switches three are LVCMOS25 and the fourth (E4,
on the DDR3 bank) LVCMOS15.
"""
from __future__ import annotations

from amaranth.build import Attrs, Clock, DiffPairs, Pins, PinsN, Resource, Subsignal
from amaranth.vendor import XilinxPlatform

__all__ = ["SP605Platform", "SYSCLK", "CPU_RESET", "GPIO_LEDS", "GPIO_BUTTONS",
           "DIP_SWITCHES", "UART", "PHY_GMII", "PART_RESOURCES", "ADD_CONSTRAINTS"]

# -- pin tables: (FPGA pin, UG526 signal / part) ------------------------------------------------

# 200 MHz LVDS oscillator on a global-clock pair of bank 1. [GR] [UU]
SYSCLK = {"p": "K21", "n": "K22"}
SYSCLK_HZ = 200e6

# CPU_RESET push button SW6, active high. [GR] [UU] [EX]
CPU_RESET = ("H8", "CPU_RESET SW6")

# GPIO LEDs 0..3 on DS3..DS6. [GR] [EX]
GPIO_LEDS = [("D17", "GPIO_LED_0 DS3"), ("AB4", "GPIO_LED_1 DS4"),
             ("D21", "GPIO_LED_2 DS5"), ("W15", "GPIO_LED_3 DS6")]

# GPIO push buttons, active high. [GR] ([EX] for SW4 and SW7)
GPIO_BUTTONS = [("F3", "GPIO button 0, SW4"), ("G6", "GPIO button 1, SW7"),
                ("F5", "GPIO button 2"), ("C1", "GPIO button 3")]

# The 4-position GPIO DIP switch, active high, with the I/O standards [GR] gives them. [GR]
# ("DIP switch s2-1" .. "s2-4")
DIP_SWITCHES = [("C18", "LVCMOS25", "DIP switch 1"), ("Y6", "LVCMOS25", "DIP switch 2"),
                ("W6", "LVCMOS25", "DIP switch 3"), ("E4", "LVCMOS15", "DIP switch 4")]

# Silicon Labs CP2103 USB-UART, named from the FPGA's side as on the ML605: rx is data into
# the FPGA, tx out of it; cts into the FPGA, rts out of it. [GR] (rxd1 B21, txd1 H17,
# ctsn1 F18, rtsn1 F19)
UART = {
    "rx": ("B21", "i", "CP2103 TXD -> FPGA"), "tx": ("H17", "o", "FPGA -> CP2103 RXD"),
    "rts": ("F19", "o", "FPGA -> CP2103 CTS"), "cts": ("F18", "i", "CP2103 RTS -> FPGA"),
}

# Marvell 88E1111, GMII. Direction from the FPGA's side. [GR] ([UU] for MDC, MDIO)
PHY_GMII = {
    "tx_clk":  ("L20", "i", "PHY_TXCLK"),         # MII transmit clock from the PHY (10/100)
    "gtx_clk": ("AB7", "o", "PHY_TXC_GTXCLK"),    # GMII transmit clock to the PHY (125 MHz)
    "txd":     ("U10 T10 AB8 AA8 AB9 Y9 Y12 W12", "o", "PHY_TXD0..7"),
    "tx_en":   ("T8", "o", "PHY_TXCTL_TXEN"),
    "tx_er":   ("U8", "o", "PHY_TXER"),
    "rx_clk":  ("P20", "i", "PHY_RXCLK"),
    "rxd":     ("P19 Y22 Y21 W22 W20 V22 V21 U22", "i", "PHY_RXD0..7"),
    "rx_dv":   ("T22", "i", "PHY_RXCTL_RXDV"),
    "rx_er":   ("U20", "i", "PHY_RXER"),
    "crs":     ("N15", "i", "PHY_CRS"),
    "col":     ("M16", "i", "PHY_COL"),
    "mdc":     ("R19", "o", "PHY_MDC"),
    "mdio":    ("V20", "io", "PHY_MDIO"),
    "int":     ("J20", "i", "PHY_INT, active low"),
    "rst":     ("J22", "o", "PHY_RESET, active low"),
}
PHY_ACTIVE_LOW = ("int", "rst")
PHY_FAST_SLEW = ("gtx_clk", "txd", "tx_en", "tx_er")
PHY_CLOCKS_HZ = {"rx_clk": 125e6}

# PHY_RXCLK (P20) is not on a global-clock input pin [EX]: ISE's MAP refuses a BUFG driven from
# it unless the route is declared non-dedicated. Added to the UCF as written.
ADD_CONSTRAINTS = 'NET "eth_gmii_0__rx_clk__io" CLOCK_DEDICATED_ROUTE = FALSE;\n'

# What the XC6SLX45T-FGG484 holds (DS160), for fit checks against Yosys' counts: 6,822 slices
# of four 6-input LUTs and eight flip-flops, 58 DSP48A1, 116 RAMB16BWER (each two RAMB8BWER),
# 296 user I/O in this package.
PART_RESOURCES = {"lut": 27_288, "ff": 54_576, "dsp": 58, "ramb16_equivalent": 116,
                  "user_io": 296}

LVCMOS25 = Attrs(IOSTANDARD="LVCMOS25")
LVCMOS15 = Attrs(IOSTANDARD="LVCMOS15")
LED_ATTRS = Attrs(IOSTANDARD="LVCMOS25", SLEW="QUIETIO", DRIVE="2")


def _resources() -> list[Resource]:
    res = [
        Resource("clk200", 0, DiffPairs(SYSCLK["p"], SYSCLK["n"], dir="i"), Clock(SYSCLK_HZ),
                 Attrs(IOSTANDARD="LVDS_25")),
        Resource("cpu_reset", 0, Pins(CPU_RESET[0], dir="i"), LVCMOS15),
    ]
    res += [Resource("led", i, Pins(pin, dir="o"), LED_ATTRS)
            for i, (pin, _) in enumerate(GPIO_LEDS)]
    res += [Resource("button", i, Pins(pin, dir="i"), LVCMOS15)
            for i, (pin, _) in enumerate(GPIO_BUTTONS)]
    res += [Resource("switch", i, Pins(pin, dir="i"), Attrs(IOSTANDARD=std))
            for i, (pin, std, _) in enumerate(DIP_SWITCHES)]
    res.append(Resource("uart", 0, *[Subsignal(name, Pins(pin, dir=d))
                                     for name, (pin, d, _) in UART.items()], LVCMOS25))
    phy = []
    for name, (pins, d, _) in PHY_GMII.items():
        make = PinsN if name in PHY_ACTIVE_LOW else Pins
        args = [make(pins, dir=d)]
        if name in PHY_CLOCKS_HZ:
            args.append(Clock(PHY_CLOCKS_HZ[name]))
        if name in PHY_FAST_SLEW:
            args.append(Attrs(SLEW="FAST"))
        phy.append(Subsignal(name, *args))
    res.append(Resource("eth_gmii", 0, *phy, LVCMOS25))
    return res


class SP605Platform(XilinxPlatform):
    """Xilinx SP605: XC6SLX45T-3FGG484, built with ISE 14.7.

    ``default_clk`` is the 200 MHz system clock; hwconv's board top makes its own clock domains
    with a PLL (`hwconv.boards.clocking.Spartan6Clocking`).
    """

    name = "sp605"
    device = "xc6slx45t"
    package = "fgg484"
    speed = "3"
    default_clk = "clk200"
    default_rst = "cpu_reset"
    resources = _resources()
    connectors = []
    part_resources = PART_RESOURCES
    yosys_family = "xc6s"
    default_core_mhz = 100.0        # Spartan-6 -3 fabric and DSP48A1: 200 MHz is out of reach
    add_constraints = ADD_CONSTRAINTS

    def __init__(self, *, toolchain: str = "ISE"):
        super().__init__(toolchain=toolchain)

    @property
    def part(self) -> str:
        """The part as hwconv names it: ``xc6slx45t-fgg484-3``."""
        return f"{self.device}-{self.package}-{self.speed}"
