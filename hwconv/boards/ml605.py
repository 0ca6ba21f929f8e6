"""The Xilinx ML605 evaluation board (Virtex-6 XC6VLX240T-1FF1156) as an Amaranth platform.

The board is data: the pin tables below, one row per FPGA pin, are turned into Amaranth
resources by `_resources()`; `ML605Platform` only names the part and the toolchain (ISE 14.7,
the last toolchain that supports Virtex-6).

Where the pins come from. The signal names and reference designators are those of the ML605
Hardware User Guide (UG534: 200 MHz oscillator SYSCLK_P/N, CPU_RESET button SW10, GPIO LEDs
DS9-DS22, GPIO buttons SW5-SW9, DIP switch SW1, CP2103 USB-UART, Marvell 88E1111 PHY U80).
UG534 itself could not be read where this file was written, so every row was copied from, and
cross-checked between, these public ML605 constraint files (they agree on every pin below):

  [VE]  alexforencich/verilog-ethernet, example/ML605/fpga_gmii/fpga.ucf ("ML605 board, rev C"):
        clock, reset, LEDs, buttons, switches, UART, and the GMII pins except CRS/COL/MDC/MDIO
        (MDC AP14, MDIO AN14 and INT AH14 appear there commented out).
  [GR]  GRLIB designs/leon3-xilinx-ml605/leon3mp.ucf (Xilinx's ML605 master-UCF pin list, with
        PHY pin numbers on U80): every Ethernet pin including CRS AL13 and COL AK13, the UART
        (dsurx J24, dsutx J25), LEDs, DIP switches, CPU_RESET H10, SYSCLK J9/H9 LVDS_25.
  [EM]  an ML605 Virtex-6 embedded-TEMAC example UCF (Xilinx v6_emac GMII example): GMII
        pins, gmii_col AK13, gmii_crs AL13, mii_tx_clk AD12, MDC/MDIO, buttons, switches.

I/O standards follow the bank voltages: banks 22-24 and 33 (LEDs, UART, PHY) run at 2.5 V
(LVCMOS25), banks 25, 26, 35 and 36 (CPU reset, buttons, DIP switches; they share the DDR3
banks) at 1.5 V (LVCMOS15); the system clock is an LVDS_25 pair on the global-clock pins of
bank 34. Buttons, switches and LEDs are active high.
"""
from __future__ import annotations

from amaranth.build import Attrs, Clock, DiffPairs, Pins, PinsN, Resource, Subsignal
from amaranth.vendor import XilinxPlatform

__all__ = ["ML605Platform", "SYSCLK", "CPU_RESET", "GPIO_LEDS", "DIRECTION_LEDS",
           "DIRECTION_BUTTONS", "DIP_SWITCHES", "UART", "PHY_GMII", "PART_RESOURCES"]

# -- pin tables: (amaranth name, FPGA pin, UG534 schematic net / part) -------------------------

# 200 MHz LVDS oscillator (SiT9102, U11) on IO_L0P/N_GC_34. [VE] [GR]
SYSCLK = {"p": "J9", "n": "H9"}
SYSCLK_HZ = 200e6

# CPU_RESET push button SW10, active high, IO_L6P_SM3P_35. [VE] [GR]
CPU_RESET = ("H10", "CPU_RESET SW10")

# GPIO_LED_0..7. [VE] [GR]
GPIO_LEDS = [
    ("AC22", "GPIO_LED_0 DS12"), ("AC24", "GPIO_LED_1 DS11"),
    ("AE22", "GPIO_LED_2 DS9"), ("AE23", "GPIO_LED_3 DS10"),
    ("AB23", "GPIO_LED_4 DS15"), ("AG23", "GPIO_LED_5 DS14"),
    ("AE24", "GPIO_LED_6 DS22"), ("AD24", "GPIO_LED_7 DS21"),
]

# The five LEDs beside the direction buttons (GPIO_LED_N/E/S/W/C). [VE] (and [GR] comments)
DIRECTION_LEDS = {
    "n": ("AH27", "GPIO_LED_N DS20"), "e": ("AE21", "GPIO_LED_E DS19"),
    "s": ("AH28", "GPIO_LED_S DS18"), "w": ("AD21", "GPIO_LED_W DS17"),
    "c": ("AP24", "GPIO_LED_C DS16"),
}

# GPIO_SW_N/E/S/W/C push buttons, active high. [VE] [EM]
DIRECTION_BUTTONS = {
    "n": ("A19", "GPIO_SW_N SW5"), "e": ("G17", "GPIO_SW_E SW7"),
    "s": ("A18", "GPIO_SW_S SW6"), "w": ("H17", "GPIO_SW_W SW8"),
    "c": ("G26", "GPIO_SW_C SW9"),
}

# GPIO_DIP_SW1..8 on SW1, active high. [VE] [GR] [EM]
DIP_SWITCHES = [
    ("D22", "GPIO_DIP_SW1"), ("C22", "GPIO_DIP_SW2"), ("L21", "GPIO_DIP_SW3"),
    ("L20", "GPIO_DIP_SW4"), ("C18", "GPIO_DIP_SW5"), ("B18", "GPIO_DIP_SW6"),
    ("K22", "GPIO_DIP_SW7"), ("K21", "GPIO_DIP_SW8"),
]

# Silicon Labs CP2103 USB-UART, named from the FPGA's side: rx is data into the FPGA (from the
# CP2103's TXD), tx data out of it; rts is the FPGA's request-to-send (into the CP2103's CTS),
# cts the FPGA's clear-to-send (from the CP2103's RTS). [VE] (uart_txd J24 is an FPGA input
# there, uart_rxd J25 an output; uart_rts T23 an input, uart_cts T24 an output) [GR] (dsurx J24)
UART = {
    "rx": ("J24", "i", "USB_1_RX"), "tx": ("J25", "o", "USB_1_TX"),
    "rts": ("T24", "o", "USB_1_RTS"), "cts": ("T23", "i", "USB_1_CTS"),
}

# Marvell 88E1111 (U80), GMII. Direction from the FPGA's side. [VE] [GR] [EM]
PHY_GMII = {
    "tx_clk":  ("AD12", "i", "PHY_TXCLK"),        # MII transmit clock from the PHY (10/100)
    "gtx_clk": ("AH12", "o", "PHY_TXC_GTXCLK"),   # GMII transmit clock to the PHY (125 MHz)
    "txd":     ("AM11 AL11 AG10 AG11 AL10 AM10 AE11 AF11", "o", "PHY_TXD0..7"),
    "tx_en":   ("AJ10", "o", "PHY_TXCTL_TXEN"),
    "tx_er":   ("AH10", "o", "PHY_TXER"),
    "rx_clk":  ("AP11", "i", "PHY_RXCLK"),
    "rxd":     ("AN13 AF14 AE14 AN12 AM12 AD11 AC12 AC13", "i", "PHY_RXD0..7"),
    "rx_dv":   ("AM13", "i", "PHY_RXCTL_RXDV"),
    "rx_er":   ("AG12", "i", "PHY_RXER"),
    "crs":     ("AL13", "i", "PHY_CRS"),
    "col":     ("AK13", "i", "PHY_COL"),
    "mdc":     ("AP14", "o", "PHY_MDC"),
    "mdio":    ("AN14", "io", "PHY_MDIO"),
    "int":     ("AH14", "i", "PHY_INT, active low"),
    "rst":     ("AH13", "o", "PHY_RESET, active low"),
}
PHY_ACTIVE_LOW = ("int", "rst")
PHY_FAST_SLEW = ("gtx_clk", "txd", "tx_en", "tx_er")
PHY_CLOCKS_HZ = {"rx_clk": 125e6}   # GMII receive clock; tx_clk only runs in 10/100 mode

# What the XC6VLX240T-FF1156 holds (DS150), for fit checks against Yosys' counts.
PART_RESOURCES = {"lut": 150_720, "ff": 301_440, "dsp48e1": 768, "ramb18_equivalent": 832,
                  "user_io": 600}

LVCMOS25 = Attrs(IOSTANDARD="LVCMOS25")
LVCMOS15 = Attrs(IOSTANDARD="LVCMOS15")
LED_ATTRS = Attrs(IOSTANDARD="LVCMOS25", SLEW="QUIETIO", DRIVE="2")   # as in [VE]


def _resources() -> list[Resource]:
    res = [
        Resource("clk200", 0, DiffPairs(SYSCLK["p"], SYSCLK["n"], dir="i"), Clock(SYSCLK_HZ),
                 Attrs(IOSTANDARD="LVDS_25")),
        Resource("cpu_reset", 0, Pins(CPU_RESET[0], dir="i"), LVCMOS15),
    ]
    res += [Resource("led", i, Pins(pin, dir="o"), LED_ATTRS)
            for i, (pin, _) in enumerate(GPIO_LEDS)]
    res += [Resource(f"led_{d}", 0, Pins(pin, dir="o"), LED_ATTRS)
            for d, (pin, _) in DIRECTION_LEDS.items()]
    res += [Resource(f"button_{d}", 0, Pins(pin, dir="i"), LVCMOS15)
            for d, (pin, _) in DIRECTION_BUTTONS.items()]
    res += [Resource("switch", i, Pins(pin, dir="i"), LVCMOS15)
            for i, (pin, _) in enumerate(DIP_SWITCHES)]
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


class ML605Platform(XilinxPlatform):
    """Xilinx ML605: XC6VLX240T-1FF1156, built with ISE 14.7.

    ``default_clk`` is the 200 MHz system clock, but hwconv's board top makes its own clock
    domains with an MMCM (`hwconv.boards.clocking`), so the default is used only by designs
    that ask for a bare ``sync`` domain.
    """

    name = "ml605"
    device = "xc6vlx240t"
    package = "ff1156"
    speed = "1"
    default_clk = "clk200"
    default_rst = "cpu_reset"
    resources = _resources()
    connectors = []
    part_resources = PART_RESOURCES

    def __init__(self, *, toolchain: str = "ISE"):
        super().__init__(toolchain=toolchain)

    @property
    def part(self) -> str:
        """The part as hwconv names it: ``xc6vlx240t-ff1156-1``."""
        return f"{self.device}-{self.package}-{self.speed}"
