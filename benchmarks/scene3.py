"""scene3: the seed's scene-parsing convnet (Farabet et al., PAMI 2013), one scale:
YUV in, [7x7 conv 3->16, tanh, 2x2 max pool] -> [7x7 conv 16->64, tanh, 2x2 max pool] ->
[7x7 conv 64->256], random weights. Prints the per-layer plan and the frame figures.

    python benchmarks/scene3.py [--size 320x240] [--dsp-budget 691] [--simulate] [--synth]

Without --simulate the cycles are the parallelism pass's estimate (the slowest unit's
pace); with it, one frame (or --frames N) runs in the fast Verilator harness. --synth runs
Yosys synth_xilinx -family xc6v on the design (minutes, GBs on the full part).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import hwconv
from hwconv import ir

NEUFLOW_PEAK_GOPS = 163.2   # NeuFlow on the same part (ANCHORS.md)
CLOCK_HZ = 200e6


def scene3(height: int = 240, width: int = 320, seed: int = 0) -> ir.Graph:
    rng = np.random.default_rng(seed)

    def conv(name, src, cin, cout):
        return ir.Conv2d(name, (src,), weight=rng.normal(0, 1 / np.sqrt(49 * cin),
                                                          (cout, cin, 7, 7)),
                         bias=rng.normal(0, 0.1, cout))

    return ir.Graph((
        ir.Input("yuv", shape=(3, height, width)),
        conv("conv1", "yuv", 3, 16), ir.Tanh("tanh1", ("conv1",)),
        ir.MaxPool2d("pool1", ("tanh1",), kernel=(2, 2), stride=(2, 2)),
        conv("conv2", "pool1", 16, 64), ir.Tanh("tanh2", ("conv2",)),
        ir.MaxPool2d("pool2", ("tanh2",), kernel=(2, 2), stride=(2, 2)),
        conv("conv3", "pool2", 64, 256),
        ir.Output("features", ("conv3",))))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="320x240", help="WxH of the input (320x240, 500x375)")
    p.add_argument("--dsp-budget", type=int, default=691)
    p.add_argument("--simulate", action="store_true")
    p.add_argument("--frames", type=int, default=1)
    p.add_argument("--synth", action="store_true")
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    graph = scene3(h, w)
    rng = np.random.default_rng(1)
    t = time.monotonic()
    design = hwconv.compile(graph, rng.uniform(-1, 1, (2, 3, h, w)), dsp_budget=args.dsp_budget)
    rep = design.report
    print(f"scene3 {w}x{h}: compiled in {time.monotonic() - t:.1f} s")
    for layer in rep["layers"]:
        if "lanes" in layer:
            print(f"  {layer['name']:<6} {str(tuple(layer['shape'])):<16} lanes "
                  f"{layer['lanes']:>3} x out {layer['out_lanes']:>3} = "
                  f"{layer['lanes'] * layer['out_lanes']:>4} DSP48E1, "
                  f"{layer['cycles_estimate']:>12,} cycles")
    macs = rep["macs_per_frame"]
    dsps = sum(l.get("lanes", 0) * l.get("out_lanes", 0) for l in rep["layers"])
    cycles, how = rep["cycles_per_frame_estimate"], "estimate"
    if args.simulate:
        x = rng.uniform(-1, 1, (args.frames, 3, h, w))
        t = time.monotonic()
        result = design.simulate(x)
        cycles, how = result.cycles_per_frame, f"simulated ({args.frames} frames)"
        print(f"  simulation: bit-exact {result.bit_exact}, {result.cycles_per_second:,.0f} "
              f"cycles/s, {time.monotonic() - t:.0f} s with the build")
    if args.synth:
        s = design.synthesize()
        dsps = s["dsp48e1"]
        print(f"  synthesis: {s['dsp48e1']} DSP48E1, {s['ramb18']} RAMB18E1, "
              f"{s['ramb36']} RAMB36E1, {s['lut']:,} LUT, {s['ff']:,} FF")
    efficiency = macs / (cycles * dsps)
    gops = 2 * macs * CLOCK_HZ / cycles / 1e9
    print(f"  MACs/frame {macs:,}; DSP48E1 {dsps}; cycles/frame {cycles:,.0f} ({how})")
    print(f"  DSP efficiency {efficiency:.3f}; {gops:.1f} GOP/s and "
          f"{CLOCK_HZ / cycles:.1f} frames/s at 200 MHz (NeuFlow peak: "
          f"{NEUFLOW_PEAK_GOPS} GOP/s)")


if __name__ == "__main__":
    main()
