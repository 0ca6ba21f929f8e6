"""Icarus Verilog as the fallback for the cocotb unit benches where Verilator is missing:
the same bench, bit-exact under every stall pattern, with the cycle counts and profile
counters Verilator gives."""
import numpy as np
import pytest
from amaranth.back import verilog
from numpy.testing import assert_array_equal

from hwconv import reference
from hwconv.design import Design
from hwconv.rtl.top import DataflowTop, stream_shapes
from hwconv.sim import verilator as vmod
from hwconv.sim.packing import beats_to_frame, frame_to_beats
from hwconv.sim.run import run_stream_verilator, simulate_design
from hwconv.sim.stalls import STALL_PATTERNS
from tests.graphs import random_frames, single_node_graph
from tests.rtl.cases import UNIT_CASES

pytestmark = pytest.mark.skipif(not vmod.icarus_available(),
                                reason="Icarus Verilog (iverilog, vvp) or cocotb missing")

FRAMES = 2
_CASES = {c[0]: c for c in UNIT_CASES}


# softmax_vector takes ~40 s on Icarus: in the slow set (CI runs it).
@pytest.mark.parametrize("case", ["relu", "maxpool_ceil", "conv3pad", "residual",
                                  pytest.param("softmax_vector", marks=pytest.mark.slow)])
def test_unit_bit_exact_on_icarus(case):
    _, kind, shape, opts, lanes = _CASES[case]
    g = single_node_graph(kind, shape, **dict(opts))
    x = random_frames(g, FRAMES)
    _, h, w = stream_shapes(g)[g.output.name]
    beats = [b for f in x for b in frame_to_beats(f, g.input.fixed.width)]
    text = verilog.convert(DataflowTop(g, lanes=lanes), name="unit", emit_src=False)
    frame_in = int(np.prod(shape[1:]))
    runs = run_stream_verilator(text, "unit", beats, frame_in, h * w,
                                list(STALL_PATTERNS.values()), simulator="icarus")
    expected = reference.run(g, x)
    for run in runs:
        got = np.stack([beats_to_frame(run["outputs"][k * h * w:(k + 1) * h * w],
                                       g.shape(g.output.name), g.output.fixed.width)
                        for k in range(FRAMES)])
        assert_array_equal(got, expected, err_msg=f"stall pattern {run['pattern']}")
        assert run["extra"] == 0
    if vmod.verilator_available():
        same = run_stream_verilator(text, "unit", beats, frame_in, h * w,
                                    list(STALL_PATTERNS.values()), simulator="verilator")
        for a, b in zip(runs, same):
            for key in ("outputs", "first_in", "first_out", "last_out", "cycles"):
                assert a[key] == b[key], (a["pattern"], key)


def test_icarus_is_the_fallback(monkeypatch, tmp_path):
    monkeypatch.setattr(vmod, "verilator_available", lambda: False)
    assert vmod.cocotb_simulator() == "icarus"
    g = single_node_graph("relu", (2, 3, 4))
    design, x = Design(g, 1), random_frames(g, FRAMES)
    result = simulate_design(design, x, "cocotb", "both", profile=True)
    assert result.bit_exact
    p = result.profile
    assert p["units"][0]["out_beats"] == FRAMES * 12
    assert sum(p["units"][0][k] for k in ("busy_cycles", "stall_cycles",
                                          "starve_cycles")) == p["cycles"]
    with pytest.raises(ValueError, match="need Verilator"):
        vmod.run_cocotb("module m(input clk); endmodule\n", "m", "stream_bench",
                        test_dir=tmp_path, waves=True)
    monkeypatch.setattr(vmod, "icarus_available", lambda: False)
    assert vmod.cocotb_simulator() is None
