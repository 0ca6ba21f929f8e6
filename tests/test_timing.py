"""The logic-level proxy on netlists Yosys makes of circuits whose depth is known."""
import pytest

from hwconv.synth import synthesize
from hwconv.timing import LEVEL_BUDGET

def test_a_registered_adder_is_two_levels(tmp_path):
    # A LUT per bit into an 8-CARRY4 chain, which counts as one level: 2.
    source = ("module adder(input clk, input [31:0] a, b, output reg [31:0] s);\n"
              "  reg [31:0] ra, rb;\n"
              "  always @(posedge clk) begin ra <= a; rb <= b; s <= ra + rb; end\n"
              "endmodule\n")
    depth = synthesize(source, "adder", tmp_path, timing=True).logic_depth
    assert depth["max_levels"] == 2, depth
    assert depth["budget"] == LEVEL_BUDGET and depth["endpoints_over_budget"] == 0
    # The worst path ends in a register (named where Yosys kept a source name).
    assert depth["worst_path"][-1].startswith("into FDRE"), depth["worst_path"]
    assert depth["worst_path"][:2] == ["LUT2", "CARRY4"], depth["worst_path"]


@pytest.mark.slow
def test_an_xor_tree_counts_its_luts(tmp_path):
    # 40 inputs need at least three levels of LUT6 (40 -> 7 -> 2 -> 1); the count is the
    # LUTs on the path abc made, whatever it chose.
    source = ("module xor40(input clk, input [39:0] a, output reg x);\n"
              "  reg [39:0] ra;\n"
              "  always @(posedge clk) begin ra <= a; x <= ^ra; end\n"
              "endmodule\n")
    depth = synthesize(source, "xor40", tmp_path, timing=True).logic_depth
    luts = [c for c in depth["worst_path"] if c.startswith("LUT")]
    assert depth["max_levels"] == len(luts) >= 3, depth
    assert depth["worst_path"][-1].startswith("into FDRE")


@pytest.mark.slow
def test_a_deep_cone_is_over_budget(tmp_path):
    # Four additions of 24-bit values chained combinationally, each result compared:
    # well beyond six levels, and every register it feeds is counted over budget.
    source = ("module deep(input clk, input [23:0] a, b, c, d, e, output reg [23:0] y);\n"
              "  reg [23:0] ra, rb, rc, rd, re;\n"
              "  wire [23:0] s1 = ra + rb; wire [23:0] m1 = s1 > rc ? s1 : rc;\n"
              "  wire [23:0] s2 = m1 + rd; wire [23:0] m2 = s2 > re ? s2 : re;\n"
              "  always @(posedge clk) begin ra <= a; rb <= b; rc <= c; rd <= d; re <= e;\n"
              "    y <= m2; end\n"
              "endmodule\n")
    depth = synthesize(source, "deep", tmp_path, timing=True).logic_depth
    assert depth["max_levels"] > LEVEL_BUDGET
    assert depth["endpoints_over_budget"] >= 1
    assert "CARRY4" in depth["worst_path"] and depth["worst_path"][-1].startswith("into FD")
