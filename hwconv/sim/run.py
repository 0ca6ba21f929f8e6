"""Cycle-accurate simulation of a design on integer frames, checked against the reference."""
from __future__ import annotations

import dataclasses
import json
import pathlib
import tempfile
import time

import numpy as np

from .. import reference
from ..design import SimResult
from .packing import beats_to_frame, frame_to_beats
from .stalls import STALL_PATTERNS, StallPattern

__all__ = ["simulate_design", "run_stream_verilator", "run_stream_fast", "SIMULATORS",
           "ProfiledSimResult", "profiled_verilog"]

#: "verilator": the fast C++ frame harness (hwconv.sim.harness), the default for whole
#: networks; "cocotb": Verilator driven per cycle by the cocotb bench (benches/stream_bench.py);
#: "pysim": Amaranth's simulator, for small designs.
SIMULATORS = ("verilator", "cocotb", "pysim")
BENCH_DIR = pathlib.Path(__file__).parent / "benches"


def run_stream_verilator(verilog: str, toplevel: str, beats: list[int], frame_in: int,
                         frame_out: int, patterns: list[StallPattern], *,
                         vcd: str | None = None, max_idle: int = 100_000,
                         profile: bool = False, simulator: str | None = None) -> list[dict]:
    """Stream ``beats`` through a Verilated design once per stall pattern, driven per
    cycle by the cocotb bench (on Icarus Verilog where Verilator is missing, or with
    ``simulator="icarus"``).

    ``vcd``: a path to write the waveform of the whole run to.
    Returns, per pattern: outputs (ints), extra (beats beyond those expected), first_in
    (cycle each input frame started), first_out and last_out (cycle each output frame
    started and ended), cycles and sim_seconds (wall-clock time of the bench's cycle loop);
    with ``profile`` (a design with the ``prof`` port), profile: that port as an int.
    """
    from .verilator import run_cocotb

    with tempfile.TemporaryDirectory(prefix="hwconv-sim-") as tmp:
        result = pathlib.Path(tmp) / "result.json"
        run_cocotb(verilog, toplevel, "stream_bench", test_dir=BENCH_DIR, waves=bool(vcd),
                   waves_to=pathlib.Path(vcd).resolve() if vcd else None,
                   params={"beats": [f"{b:x}" for b in beats], "frame_in": frame_in,
                           "frame_out": frame_out, "max_idle": max_idle,
                           "patterns": [dataclasses.asdict(p) for p in patterns],
                           "result": str(result), "profile": bool(profile)},
                   simulator=simulator)
        runs = json.loads(result.read_text())
    for r in runs:
        r["outputs"] = [int(v, 16) for v in r["outputs"]]
        if "profile" in r:
            r["profile"] = int(r["profile"], 16)
    return runs


def run_stream_fast(verilog: str, toplevel: str, beats: list[int], frame_in: int,
                    frame_out: int, pattern: StallPattern, vcd: str | None = None,
                    **kw) -> dict:
    """The fast C++ harness: see :func:`hwconv.sim.harness.run_stream_fast`."""
    from .harness import run_stream_fast as run
    return run(verilog, toplevel, beats, frame_in, frame_out, pattern, vcd, **kw)


@dataclasses.dataclass
class ProfiledSimResult(SimResult):
    """A :class:`hwconv.design.SimResult` with the handshake times of the run and, when
    asked for, the per-unit profile (:func:`hwconv.sim.unit_profile.summarize`)."""

    first_output_latency: int | None = None  # cycles from the first input beat's handshake
                                             # to the first output beat's
    first_in: list = dataclasses.field(default_factory=list)   # cycle per input frame
    first_out: list = dataclasses.field(default_factory=list)  # per output frame
    last_out: list = dataclasses.field(default_factory=list)
    profile: dict | None = None
    built: bool = False           # the fast harness built the model in this call


def profiled_verilog(design):
    """The design's DataflowTop with profile counters, and its Verilog."""
    from amaranth.back import verilog
    from ..design import TOP_NAME
    from ..rtl.top import DataflowTop
    top = DataflowTop(design.graph, design.lanes, profile=True)
    return top, verilog.convert(top, name=TOP_NAME, emit_src=False)


def simulate_design(design, x_int: np.ndarray, simulator: str = "verilator",
                    stalls: str = "none", vcd: str | None = None, progress: bool = False,
                    *, fst: str | None = None, profile: bool = False) -> ProfiledSimResult:
    """Simulate every frame of ``x_int`` (N, C, H, W) and compare with the reference.

    ``vcd`` / ``fst``: write a waveform (FST with the fast harness only).  ``progress``: a
    bar over frames (and builds) on a terminal.  ``profile``: simulate the design with its
    per-unit profile counters (:mod:`hwconv.sim.unit_profile`; the default build has none) and
    return them summarized in ``result.profile``."""
    from ..design import TOP_NAME
    from .unit_profile import summarize

    if simulator not in SIMULATORS:
        raise ValueError(f"simulator {simulator!r} is not one of {SIMULATORS}")
    if fst and simulator != "verilator":
        raise ValueError("FST waveforms come from the fast harness (simulator 'verilator'); "
                         "use a VCD with the others")
    if fst and vcd:
        raise ValueError("write a VCD or an FST, not both")
    graph = design.graph
    expected = reference.run(graph, x_int)
    bits_in, bits_out = graph.input.fixed.width, graph.output.fixed.width
    frame_in = int(np.prod(graph.input.shape[1:]))
    frame_out = design.out_beats_per_frame
    beats = [b for frame in x_int for b in frame_to_beats(frame, bits_in)]
    pattern = STALL_PATTERNS[stalls]
    n = len(x_int)
    if profile:
        top, text = profiled_verilog(design)
    else:
        top, text = None, None
    prof_value = None
    built = False

    t0 = time.monotonic()
    if simulator == "pysim":
        from .pysim import run_stream
        times: list[int] = []
        in_times: list[int] = []
        prof: list[int] = []
        out, total = run_stream(top if profile else design.top, beats, n * frame_out, pattern,
                                vcd=vcd, times=times, in_times=in_times,
                                profile=prof if profile else None)
        sim_seconds = time.monotonic() - t0
        extra = len(out) - n * frame_out
        out = out[:n * frame_out]
        ends = times[frame_out - 1::frame_out]   # the cycle each frame's last beat left
        first_in = in_times[::frame_in]
        first_out = times[::frame_out]
        latency = ends[0] - first_in[0] + 1 if ends and first_in else total
        prof_value = prof[0] if prof else None
    else:
        if simulator == "verilator":
            run = run_stream_fast(text or design.verilog(), TOP_NAME, beats, frame_in,
                                  frame_out, pattern, vcd=vcd, fst=fst, progress=progress)
            built = run["built"]
        else:
            run = run_stream_verilator(text or design.verilog(), TOP_NAME, beats, frame_in,
                                       frame_out, [pattern], vcd=vcd, profile=profile)[0]
        sim_seconds = run["sim_seconds"]
        out, extra, total = run["outputs"], run["extra"], run["cycles"]
        latency = run["last_out"][0] - run["first_in"][0] + 1 if run["last_out"] else total
        ends, first_in, first_out = run["last_out"], run["first_in"], run["first_out"]
        prof_value = run.get("profile")
    interval = (ends[-1] - ends[0]) / (len(ends) - 1) if len(ends) > 1 else latency
    out_shape = graph.shape(graph.output.name)
    outputs = np.stack([beats_to_frame(out[k * frame_out:(k + 1) * frame_out], out_shape,
                                       bits_out) for k in range(n)]) \
        if len(out) == n * frame_out else np.asarray(out)
    summary = summarize(top.profile_layout.decode(prof_value), n) \
        if profile and prof_value is not None else None
    return ProfiledSimResult(
        outputs=outputs, expected=expected, cycles_per_frame=float(interval),
        latency=int(latency), total_cycles=int(total), simulator=simulator, stalls=stalls,
        extra_beats=int(extra), sim_seconds=float(sim_seconds),
        first_output_latency=first_out[0] - first_in[0] if first_out and first_in else None,
        first_in=list(first_in), first_out=list(first_out), last_out=list(ends),
        profile=summary, built=built)
