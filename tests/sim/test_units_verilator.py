"""Every RTL unit built by Verilator and driven by cocotb, bit-exact with hwconv.reference
under the four stall patterns (none, random idle input, random backpressure, both), each
run ending with an empty sink. One build per unit; the four patterns run in one session.
Where Verilator is missing, the same benches run on Icarus Verilog."""
import numpy as np
import pytest
from amaranth.back import verilog
from numpy.testing import assert_array_equal

from hwconv import reference
from hwconv.rtl.top import DataflowTop, stream_shapes
from hwconv.sim.packing import beats_to_frame, frame_to_beats
from hwconv.sim.run import run_stream_verilator
from hwconv.sim.stalls import STALL_PATTERNS
from hwconv.sim.verilator import cocotb_simulator
from tests.graphs import random_frames, single_node_graph
from tests.rtl.cases import UNIT_CASES

pytestmark = [pytest.mark.verilator,
              pytest.mark.skipif(cocotb_simulator() is None,
                                 reason="neither Verilator nor Icarus Verilog is installed")]

FRAMES = 3


# One case per unit family runs by default; the whole sweep (same RTL, already bit-exact
# in pysim by default) is marked slow: `make test-slow`, which CI runs after `make test`.
# residual_deep (22 s), lcn_contrastive (42 s), l2pool_torch7 (17 s) and lrn_alexnet (31 s),
# measured on a clean clone, are in the slow set too (residual also runs in Verilator by
# default in test_icarus.py).
DEFAULT = {"relu", "tanh", "softshrink", "maxpool3s2pad", "avgpool_ceil", "conv3s2asym",
           "conv_out_lanes", "conv_table", "conv_deep_pad", "softmax_vector", "globalavg",
           "linear_map", "relayout_transpose"}


@pytest.mark.parametrize("case_id,kind,shape,opts,lanes", [
    pytest.param(*c, id=c[0], marks=() if c[0] in DEFAULT else pytest.mark.slow)
    for c in UNIT_CASES])
def test_unit_bit_exact_in_verilator(case_id, kind, shape, opts, lanes):
    g = single_node_graph(kind, shape, **dict(opts))
    x = random_frames(g, FRAMES)
    expected = reference.run(g, x)
    out_shape = g.shape(g.output.name)
    _, h, w = stream_shapes(g)[g.output.name]
    beats = [b for f in x for b in frame_to_beats(f, g.input.fixed.width)]
    text = verilog.convert(DataflowTop(g, lanes=lanes), name="unit", emit_src=False)
    runs = run_stream_verilator(text, "unit", beats, int(np.prod(shape[1:])), h * w,
                                list(STALL_PATTERNS.values()))
    assert [r["pattern"] for r in runs] == list(STALL_PATTERNS)
    for run in runs:
        got = np.stack([beats_to_frame(run["outputs"][k * h * w:(k + 1) * h * w], out_shape,
                                       g.output.fixed.width) for k in range(FRAMES)])
        assert_array_equal(got, expected, err_msg=f"stall pattern {run['pattern']}")
        assert run["extra"] == 0, f"{run['pattern']}: {run['extra']} beats after the last frame"
