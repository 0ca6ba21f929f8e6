"""Simulated cycles per second of hwconv's three simulators on the same design.

    .venv/bin/python benchmarks/sim_speed.py [--frames 200] [--cocotb-frames 4]
                                             [--pysim-frames 1] [--stalls none]

The design is the bundled LeNet (``hwconv.compile(bundled_model(), calibration)``).  Each
simulator streams real test digits back to back and is checked bit-exact against the
reference; the speed is simulated cycles over the wall-clock time of the simulation loop
itself (builds excluded: a first run builds the two Verilator models, later runs reuse
them).  pysim gets one frame only (about 1 k cycles/s on this design).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hwconv  # noqa: E402
from hwconv.demo import bundled_digits, bundled_model  # noqa: E402
from hwconv.design import TOP_NAME  # noqa: E402
from hwconv.sim.packing import beats_to_frame, frame_to_beats  # noqa: E402
from hwconv.sim.stalls import STALL_PATTERNS  # noqa: E402


def _frames(n: int) -> np.ndarray:
    x = bundled_digits()["test_x"]
    return np.concatenate([x] * (n // len(x) + 1))[:n]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=200, help="frames for the fast harness")
    ap.add_argument("--cocotb-frames", type=int, default=4, help="frames for cocotb")
    ap.add_argument("--pysim-frames", type=int, default=1, help="frames for pysim")
    ap.add_argument("--stalls", choices=list(STALL_PATTERNS), default="none")
    ap.add_argument("--skip", action="append", default=[],
                    choices=["pysim", "cocotb", "verilator"], help="leave a simulator out")
    args = ap.parse_args(argv)

    design = hwconv.compile(bundled_model(), bundled_digits()["calibration"])
    graph = design.graph
    report = design.report
    macs = report["macs_per_frame"]
    verilog = design.verilog()
    frame_in = int(np.prod(graph.input.shape[1:]))
    frame_out = design.out_beats_per_frame
    out_shape = graph.shape(graph.output.name)
    pattern = STALL_PATTERNS[args.stalls]
    print(f"design: bundled LeNet, {macs:,} MACs/frame, "
          f"{len(verilog) // 1024} KiB of Verilog; stalls: {args.stalls}")

    def check(x_int, outputs) -> bool:
        want = hwconv.reference.run(graph, x_int)
        n = len(x_int)
        if len(outputs) != n * frame_out:
            return False
        got = np.stack([beats_to_frame(outputs[k * frame_out:(k + 1) * frame_out], out_shape,
                                       graph.output.fixed.width) for k in range(n)])
        return bool(np.array_equal(got, want))

    def prepare(n):
        x_int = design.quantize_input(_frames(n))
        return x_int, [b for f in x_int for b in frame_to_beats(f, graph.input.fixed.width)]

    rows, cpu = [], 0.0
    if "pysim" not in args.skip:
        from hwconv.sim.pysim import run_stream
        x_int, beats = prepare(args.pysim_frames)
        t0 = time.monotonic()
        out, cycles = run_stream(design.top, beats, len(x_int) * frame_out, pattern, settle=0)
        secs = time.monotonic() - t0
        rows.append(("pysim (Amaranth)", len(x_int), cycles, secs, check(x_int, out)))
    if "cocotb" not in args.skip:
        from hwconv.sim.run import run_stream_verilator
        x_int, beats = prepare(args.cocotb_frames)
        run = run_stream_verilator(verilog, TOP_NAME, beats, frame_in, frame_out, [pattern])[0]
        rows.append(("cocotb + Verilator", len(x_int), run["cycles"], run["sim_seconds"],
                     check(x_int, run["outputs"]) and run["extra"] == 0))
    if "verilator" not in args.skip:
        from hwconv.sim.harness import run_stream_fast
        x_int, beats = prepare(args.frames)
        run = run_stream_fast(verilog, TOP_NAME, beats, frame_in, frame_out, pattern)
        rows.append(("fast harness (C++)", len(x_int), run["cycles"], run["sim_seconds"],
                     check(x_int, run["outputs"]) and run["extra"] == 0))
        cpu = run["cpu_seconds"]

    print(f"{'simulator':<20} {'frames':>6} {'cycles':>12} {'seconds':>9} "
          f"{'cycles/s':>13} {'MACs/s':>15} {'frames/s':>10}  bit-exact")
    for name, n, cycles, secs, ok in rows:
        print(f"{name:<20} {n:>6} {cycles:>12,} {secs:>9.3f} {cycles / secs:>13,.0f} "
              f"{n * macs / secs:>15,.0f} {n / secs:>10,.1f}  {'yes' if ok else 'NO'}")
    if "verilator" not in args.skip and cpu > 0:
        print(f"fast harness per processor second (what it would do on an idle core): "
              f"{rows[-1][2] / cpu:,.0f} cycles/s, {rows[-1][1] * macs / cpu:,.0f} MACs/s")
    if len(rows) > 1:
        fast = rows[-1][2] / rows[-1][3]
        print("fast harness speed-up: " + ", ".join(
            f"{fast / (c / s):,.0f}x over {name.split()[0]}" for name, _, c, s, _ in rows[:-1]))
    return 0 if all(r[4] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
