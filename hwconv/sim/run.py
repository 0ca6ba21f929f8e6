"""Cycle-accurate simulation of a design on integer frames, checked against the reference."""
from __future__ import annotations

import dataclasses
import json
import pathlib
import tempfile
import time

import numpy as np

from .. import reference
from .packing import beats_to_frame, frame_to_beats
from .stalls import STALL_PATTERNS, StallPattern

__all__ = ["simulate_design", "run_stream_verilator", "run_stream_fast", "SIMULATORS"]

#: "verilator": the fast C++ frame harness (hwconv.sim.harness), the default for whole
#: networks; "cocotb": Verilator driven per cycle by the cocotb bench (stream_bench.py);
#: "pysim": Amaranth's simulator, for small designs.
SIMULATORS = ("verilator", "cocotb", "pysim")
BENCH_DIR = pathlib.Path(__file__).parent


def run_stream_verilator(verilog: str, toplevel: str, beats: list[int], frame_in: int,
                         frame_out: int, patterns: list[StallPattern], *,
                         vcd: str | None = None, max_idle: int = 100_000) -> list[dict]:
    """Stream ``beats`` through a Verilated design once per stall pattern.

    ``vcd``: a path to write the waveform of the whole run to.
    Returns, per pattern: outputs (ints), extra (beats beyond those expected), first_in
    (cycle each input frame started), last_out (cycle each output frame ended), cycles
    and sim_seconds (wall-clock time of the bench's cycle loop).
    """
    from .verilator import run_cocotb

    with tempfile.TemporaryDirectory(prefix="hwconv-sim-") as tmp:
        result = pathlib.Path(tmp) / "result.json"
        run_cocotb(verilog, toplevel, "stream_bench", test_dir=BENCH_DIR, waves=bool(vcd),
                   waves_to=pathlib.Path(vcd).resolve() if vcd else None,
                   params={"beats": [f"{b:x}" for b in beats], "frame_in": frame_in,
                           "frame_out": frame_out, "max_idle": max_idle,
                           "patterns": [dataclasses.asdict(p) for p in patterns],
                           "result": str(result)})
        runs = json.loads(result.read_text())
    for r in runs:
        r["outputs"] = [int(v, 16) for v in r["outputs"]]
    return runs


def run_stream_fast(verilog: str, toplevel: str, beats: list[int], frame_in: int,
                    frame_out: int, pattern: StallPattern, vcd: str | None = None,
                    **kw) -> dict:
    """The fast C++ harness: see :func:`hwconv.sim.harness.run_stream_fast`."""
    from .harness import run_stream_fast as run
    return run(verilog, toplevel, beats, frame_in, frame_out, pattern, vcd, **kw)


def simulate_design(design, x_int: np.ndarray, simulator: str = "verilator",
                    stalls: str = "none", vcd: str | None = None, progress: bool = False):
    """Simulate every frame of ``x_int`` (N, C, H, W) and compare with the reference."""
    from ..design import SimResult, TOP_NAME

    if simulator not in SIMULATORS:
        raise ValueError(f"simulator {simulator!r} is not one of {SIMULATORS}")
    graph = design.graph
    expected = reference.run(graph, x_int)
    bits_in, bits_out = graph.input.fixed.width, graph.output.fixed.width
    frame_in = int(np.prod(graph.input.shape[1:]))
    frame_out = design.out_beats_per_frame
    beats = [b for frame in x_int for b in frame_to_beats(frame, bits_in)]
    pattern = STALL_PATTERNS[stalls]
    n = len(x_int)

    t0 = time.monotonic()
    if simulator == "pysim":
        from .pysim import run_stream
        times: list[int] = []
        out, total = run_stream(design.top, beats, n * frame_out, pattern, vcd=vcd,
                                times=times)
        sim_seconds = time.monotonic() - t0
        extra = len(out) - n * frame_out
        out = out[:n * frame_out]
        ends = times[frame_out - 1::frame_out]   # the cycle each frame's last beat left
        latency = ends[0] if ends else total
        interval = (ends[-1] - ends[0]) / (len(ends) - 1) if len(ends) > 1 else latency
    else:
        if simulator == "verilator":
            run = run_stream_fast(design.verilog(), TOP_NAME, beats, frame_in, frame_out,
                                  pattern, vcd=vcd)
            sim_seconds = run["sim_seconds"]
        else:
            run = run_stream_verilator(design.verilog(), TOP_NAME, beats, frame_in, frame_out,
                                       [pattern], vcd=vcd)[0]
            sim_seconds = run["sim_seconds"]
        out, extra, total = run["outputs"], run["extra"], run["cycles"]
        latency = run["last_out"][0] - run["first_in"][0] + 1 if run["last_out"] else total
        ends = run["last_out"]
        interval = (ends[-1] - ends[0]) / (len(ends) - 1) if len(ends) > 1 else latency
    out_shape = graph.shape(graph.output.name)
    outputs = np.stack([beats_to_frame(out[k * frame_out:(k + 1) * frame_out], out_shape,
                                       bits_out) for k in range(n)]) \
        if len(out) == n * frame_out else np.asarray(out)
    return SimResult(outputs=outputs, expected=expected, cycles_per_frame=float(interval),
                     latency=int(latency), total_cycles=int(total), simulator=simulator,
                     stalls=stalls, extra_beats=int(extra), sim_seconds=float(sim_seconds))
