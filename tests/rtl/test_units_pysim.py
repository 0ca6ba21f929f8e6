"""Every RTL unit in Amaranth's simulator, bit-exact with hwconv.reference under four
stall patterns. The same cases run in Verilator in tests/sim/test_units_verilator.py."""
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from hwconv import reference
from hwconv.rtl.top import DataflowTop, stream_shapes
from hwconv.sim.packing import beats_to_frame, frame_to_beats
from hwconv.sim.pysim import run_stream
from hwconv.sim.stalls import STALL_PATTERNS
from tests.graphs import random_frames, single_node_graph
from tests.rtl.cases import UNIT_CASES

FRAMES = 2


@pytest.mark.parametrize("stall", list(STALL_PATTERNS))
@pytest.mark.parametrize("case_id,kind,shape,opts,lanes", UNIT_CASES,
                         ids=[c[0] for c in UNIT_CASES])
def test_unit_bit_exact(case_id, kind, shape, opts, lanes, stall):
    g = single_node_graph(kind, shape, **dict(opts))
    x = random_frames(g, FRAMES)
    expected = reference.run(g, x)
    beats = [b for f in x for b in frame_to_beats(f, g.input.fixed.width)]
    out_shape = g.shape(g.output.name)
    _, h, w = stream_shapes(g)[g.output.name]
    out, _ = run_stream(DataflowTop(g, lanes=lanes), beats, FRAMES * h * w,
                        STALL_PATTERNS[stall])
    assert len(out) == FRAMES * h * w, "the unit produced more beats than the reference"
    got = np.stack([beats_to_frame(out[k * h * w:(k + 1) * h * w], out_shape,
                                   g.output.fixed.width) for k in range(FRAMES)])
    assert_array_equal(got, expected)


@pytest.mark.parametrize("case_id", [c[0] for c in UNIT_CASES if c[0].startswith("conv_serial")])
def test_serial_cases_use_the_serial_line_buffer(case_id):
    """The cases named for the serial line buffer really get one (rtl.linebuffer.serial_pays
    decides from the shape, and a change of its cycle count could quietly turn them off)."""
    _, kind, shape, opts, lanes = next(c for c in UNIT_CASES if c[0] == case_id)
    g = single_node_graph(kind, shape, **dict(opts))
    units = DataflowTop(g, lanes=lanes).units
    assert [n for n, u in units.items() if getattr(u, "serial", False)], units
