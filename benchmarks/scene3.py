"""scene3: the seed's scene-parsing convnet (Farabet et al., PAMI 2013), one scale:
YUV in, [7x7 conv 3->16, tanh, 2x2 max pool] -> [7x7 conv 16->64, tanh, 2x2 max pool] ->
[7x7 conv 64->256], random weights. Prints the per-layer plan, where the block RAM goes,
the resource estimate against the part, and the frame figures.

    python benchmarks/scene3.py [--size 320x240] [--dsp-budget 691] [--ramb18-budget 748]
                                [--lut-budget 135648] [--weight-bits 9] [--simulate [--frames N]]
                                [--save DIR] [--synth [--synth-dir D]]
                                [--synth-pieces DIR]

Without --simulate the cycles are the parallelism pass's estimate (the slowest unit's
pace); with it, one frame (or --frames N) runs in the fast Verilator harness. --synth runs
Yosys synth_xilinx -family xc6v on the whole design (about an hour and several GB at
320x240); --synth-dir keeps its work folder (top.v, yosys.log, stat.json), and a folder
whose top.v is this design's reuses that run's stat.json instead of synthesizing again.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import hwconv
from hwconv import ir
from hwconv.errors import CompileError

NEUFLOW_PEAK_GOPS = 163.2   # NeuFlow on the same part (ANCHORS.md)
CLOCK_HZ = 200e6
# scene3's 855,344 weights at 16 bits are 13.7 Mbit, more than the 13.5 Mbit of block RAM
# in the default budget (90% of the part) before any line buffer or FIFO: at 16 bits the
# network does not fit on chip (NeuFlow streamed its weights from DDR). At 9 bits a
# weight fills a RAMB18E1 byte with its parity bit (2,048 x 9 words), so 9 costs what
# 8 would, at twice the precision; the precision report prints what it costs against float.
WEIGHT_BITS = 9
XC6VLX240T_DSP, XC6VLX240T_RAMB18, XC6VLX240T_LUT, XC6VLX240T_FF = 768, 832, 150_720, 301_440


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


def _fits(res: dict) -> str:
    ram = res["ramb18"] + 2 * res["ramb36"]
    parts = [("DSP48E1", res["dsp48e1"], XC6VLX240T_DSP),
             ("RAMB18E1 eq.", ram, XC6VLX240T_RAMB18),
             ("LUT", res["lut"], XC6VLX240T_LUT), ("FF", res["ff"], XC6VLX240T_FF)]
    return ", ".join(f"{n} {v:,}/{cap:,} ({v / cap:.0%})" for n, v, cap in parts) + \
        ("; fits the XC6VLX240T" if all(v <= cap for _, v, cap in parts)
         else "; does NOT fit the XC6VLX240T")


def _memories(design) -> None:
    """Every memory of the design as the estimate maps it, block RAM first."""
    from hwconv.compiler import estimate
    top, rows = design.top, []
    for node in design.graph.nodes:
        if not node.inputs:
            continue
        setting = design.lanes.get(node.name, 1) if isinstance(design.lanes, dict) \
            else design.lanes
        for m in estimate.memory_breakdown(node, design.graph, top.shapes[node.inputs[0]],
                                           setting, unit=top.units.get(node.name),
                                           fifo_depths=top.fifo_depths,
                                           fifo_depth=top.fifo_depth):
            rows.append((node.name, m))
    rows.sort(key=lambda r: -estimate.ramb18_equivalent(r[1]["res"]))
    total = sum(estimate.ramb18_equivalent(m["res"]) for _, m in rows)
    print(f"  memories (estimate; {total} RAMB18E1 eq. of block RAM):")
    for name, m in rows:
        res = m["res"]
        where = {"bram": f"{estimate.ramb18_equivalent(res):>4} RAMB18E1 eq. "
                         f"({res['ramb18']} RAMB18E1 + {res['ramb36']} RAMB36E1)",
                 "lutram": f"LUT-RAM, {res['lut']:,} LUT",
                 "logic": f"LUTs, {res['lut']:,} LUT"}[m["kind"]]
        if m["kind"] != "bram" and res["lut"] < 200:
            continue
        print(f"    {name:<6} {m['what']:<21} {m['depth']:>5} x {m['width']:<5} -> {where}")


def _synthesize(design, folder: str | None) -> dict:
    """Yosys on the design, or the stat.json of an earlier run on the same top.v."""
    import json
    import pathlib

    from hwconv.synth import Resources
    if folder:
        work = pathlib.Path(folder)
        if (work / "top.v").exists() and (work / "stat.json").exists() and \
                (work / "top.v").read_text() == design.verilog():
            cells = json.loads((work / "stat.json").read_text())["design"]["num_cells_by_type"]
            print(f"  synthesis: reusing {work / 'stat.json'} (same top.v)")
            res = Resources.from_cells(cells).as_dict()
            if (work / "netlist.json").exists():
                from hwconv.design import TOP_NAME
                from hwconv.timing import logic_depth
                res["logic_depth"] = logic_depth(work / "netlist.json", TOP_NAME).as_dict()
            return res
    from hwconv.design import TOP_NAME
    from hwconv.synth import synthesize
    t = time.monotonic()
    res = synthesize(design.verilog(), TOP_NAME, pathlib.Path(folder) if folder else None,
                     timing=True).as_dict()
    print(f"  synthesis: Yosys synth_xilinx -family xc6v -flatten took "
          f"{(time.monotonic() - t) / 60:.0f} min")
    return res


def _synthesize_pieces(design, folder: str) -> None:
    """Yosys on each convolution and what follows it up to the next one, as designs of
    their own (the piece's input FIFO included): the whole design takes hours here."""
    import json
    import pathlib

    from hwconv.design import TOP_NAME
    from hwconv.synth import synthesize
    g, nodes = design.graph, [n.name for n in design.graph.nodes]
    convs = [i for i, n in enumerate(g.nodes) if isinstance(n, ir.Conv2d)]
    for k, start in enumerate(convs):
        end = convs[k + 1] if k + 1 < len(convs) else len(nodes) - 1
        names = nodes[start:end]
        src = g[names[0]].inputs[0]
        piece = ir.Graph((ir.Input(src, shape=tuple(g.shape(src)), fixed=g[src].fixed),
                          *(g[n] for n in names),
                          ir.Output("out", (names[-1],), fixed=g[names[-1]].fixed)))
        lanes = {n: v for n, v in design.lanes.items() if n in names}
        part = hwconv.Design(piece, lanes)
        est = part.report["resources_estimate"]
        t = time.monotonic()
        work = pathlib.Path(folder) / names[0]
        work.mkdir(parents=True, exist_ok=True)
        syn = synthesize(part.verilog(), TOP_NAME, work).as_dict()
        minutes = (time.monotonic() - t) / 60
        (work / "piece.json").write_text(json.dumps({"nodes": names, "lanes": lanes,
                                                     "estimate": est, "synthesis": syn,
                                                     "minutes": minutes}))
        print(f"  piece {'+'.join(names)}: " + ", ".join(
            f"{key} {est[key]:,} / {syn[key]:,}" for key in ("dsp48e1", "ramb18", "ramb36",
                                                             "lut", "ff"))
            + f" (estimate / Yosys, {minutes:.0f} min)", flush=True)


NETWORKS = ("scene3-320x240", "scene3-500x375", "lenet")


def _build(name: str, args, rng):
    """(label, design, plan, input frames for simulation) of one benchmark network."""
    from hwconv.compiler.passes import parallelism as par
    t = time.monotonic()
    budgets = dict(ramb18_budget=args.ramb18_budget, lut_budget=args.lut_budget)
    if name == "lenet":
        from hwconv.demo import bundled_digits, bundled_model
        digits = bundled_digits()
        design = hwconv.compile(bundled_model(), digits["calibration"], lanes={})
        frames = np.concatenate([digits["test_x"]] * (args.frames // len(digits["test_x"]) + 1))
        x, label = frames[:max(args.frames, 10)], "bundled LeNet"
    else:
        w, h = (int(v) for v in name.split("-")[1].split("x"))
        graph = scene3(h, w)
        config = {"layers": {n.name: {"weight_bits": args.weight_bits}
                             for n in graph.nodes if isinstance(n, ir.Conv2d)}}
        design = hwconv.compile(graph, rng.uniform(-1, 1, (2, 3, h, w)), lanes={},
                                config=config)
        x, label = rng.uniform(-1, 1, (args.frames, 3, h, w)), f"scene3 {w}x{h}"
    try:
        plan = par.plan_report(design.graph, args.dsp_budget, **budgets)
    except CompileError as e:
        # 16-bit weights alone need 741 RAMB18E1 eq. at best (13.6 Mbit), 748 are budgeted:
        # say so, and plan with all of the part's block RAM instead (it may still not fit).
        print(f"{label}: {e}")
        budgets["ramb18_budget"] = XC6VLX240T_RAMB18
        print(f"  planning again with all {XC6VLX240T_RAMB18} RAMB18E1 eq. of the part")
        plan = par.plan_report(design.graph, args.dsp_budget, **budgets)
    design.lanes = plan["plan"]     # the same pass compile runs, with its reasons
    print(f"{label}: compiled in {time.monotonic() - t:.1f} s; budgets "
          f"{args.dsp_budget} DSP48E1, {budgets['ramb18_budget']} RAMB18E1 eq., "
          f"{args.lut_budget:,} LUT (90% of the XC6VLX240T by default)")
    return label, design, plan, x


def _plan(design, plan) -> None:
    for layer in design.report["layers"]:
        setting = plan["plan"].get(layer["name"])
        if "lanes" in layer:
            logic = setting[2] if isinstance(setting, (tuple, list)) and len(setting) > 2 else 0
            print(f"  {layer['name']:<6} {str(tuple(layer['shape'])):<16} lanes "
                  f"{layer['lanes']:>3} x out {layer['out_lanes']:>3} = "
                  f"{layer['lanes'] * layer['out_lanes']:>4} DSP48E1, "
                  f"{layer['cycles_estimate']:>12,} cycles"
                  + (f"; {logic} lanes' weights in LUT ROM" if logic else ""))
        elif isinstance(setting, (tuple, list)) and setting[0] == "serial":
            print(f"  {layer['name']:<6} {str(tuple(layer['shape'])):<16} {setting[1]} lane "
                  f"for {layer['shape'][0]} channels in turn, "
                  f"{layer['cycles_estimate']:>12,} cycles")
    print(f"  bottleneck: {plan['bottleneck']}; a faster plan exceeds: "
          f"{', '.join(plan['limited_by'])}")
    weighted = [r for r in design.precision["layers"] if "weight_type" in r]
    prec = weighted[-1]
    print(f"  precision: {prec['name']} ({prec['type']}, weights {prec['weight_type']}) against "
          f"float on the {design.precision['frames']} calibration frames: SQNR "
          f"{prec['sqnr_db']:.1f} dB, max error {prec['max_error_lsb']:.1f} LSB, "
          f"{design.precision['saturated']} values saturated")


def main(argv=None) -> None:
    from hwconv.compiler.passes import parallelism as par
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--network", action="append", choices=NETWORKS,
                   help="one of the benchmark networks (repeatable; default: all three)")
    p.add_argument("--dsp-budget", type=int, default=par.DEFAULT_BUDGET)
    p.add_argument("--ramb18-budget", type=int, default=par.DEFAULT_RAMB18_BUDGET)
    p.add_argument("--lut-budget", type=int, default=par.DEFAULT_LUT_BUDGET)
    p.add_argument("--weight-bits", type=int, default=WEIGHT_BITS,
                   help=f"scene3's weight width (default {WEIGHT_BITS}: see WEIGHT_BITS)")
    p.add_argument("--simulate", action="store_true",
                   help="cycles per frame from the fast Verilator harness")
    p.add_argument("--frames", type=int, default=3,
                   help="frames back to back for --simulate (the steady-state interval between "
                        "frames is the cycles per frame; LeNet takes at least 10)")
    p.add_argument("--save", default=None, metavar="DIR",
                   help="write each design folder and input.npy (the --simulate frames) into "
                        "DIR/NETWORK, for `hwconv sim DIR/NETWORK --input DIR/NETWORK/input.npy`")
    p.add_argument("--synth", action="store_true", help="DSP48E1 from Yosys synthesis")
    p.add_argument("--synth-dir", default=None, metavar="DIR",
                   help="keep (and reuse) Yosys's work folders, DIR/NETWORK")
    p.add_argument("--synth-pieces", default=None, metavar="DIR",
                   help="synthesize each convolution with the layers after it on its own")
    args = p.parse_args(argv)
    rows = []
    for name in args.network or NETWORKS:
        rng = np.random.default_rng(1)
        label, design, plan, x = _build(name, args, rng)
        rep = design.report
        _plan(design, plan)
        _memories(design)
        est = rep["resources_estimate"]
        print(f"  estimate: {est['ramb18']} RAMB18E1 + {est['ramb36']} RAMB36E1; {_fits(est)}")
        macs = rep["macs_per_frame"]
        dsps, dsp_how = est["dsp48e1"], "estimate"
        cycles, how = rep["cycles_per_frame_estimate"], "estimate"
        if args.save:
            folder = f"{args.save}/{name}"
            design.save(folder)
            np.save(f"{folder}/input.npy", x)
            print(f"  design folder: hwconv sim {folder} --input {folder}/input.npy")
        if args.simulate:
            t = time.monotonic()
            result = design.simulate(x)
            n = len(x)
            cycles = result.cycles_per_frame
            how = (f"simulated, interval between frames over {n} back to back" if n > 1
                   else "simulated, one frame")
            print(f"  simulation: bit-exact {result.bit_exact} on {n} frames; latency "
                  f"{result.latency:,} cycles (first output after "
                  f"{result.first_output_latency:,}); {result.sim_seconds:.1f} s for "
                  f"{result.total_cycles:,} cycles = {result.cycles_per_second:,.0f} "
                  f"cycles/s, {macs * n / result.sim_seconds / 1e6:,.0f} M MAC/s "
                  f"({time.monotonic() - t:.0f} s with build and reference)")
        if args.synth:
            s = _synthesize(design, f"{args.synth_dir}/{name}" if args.synth_dir else None)
            dsps, dsp_how = s["dsp48e1"], "synthesis"
            print(f"  synthesis: {s['ramb18']} RAMB18E1 + {s['ramb36']} RAMB36E1; {_fits(s)}")
            if s.get("logic_depth"):
                d = s["logic_depth"]
                units = ", ".join(f"{u} {n:,}" for u, n in list(d["over_by_unit"].items())[:4])
                print(f"  timing proxy: at most {d['max_levels']} logic levels between "
                      f"registers (budget {d['budget']}); {d['endpoints_over_budget']:,} "
                      f"register inputs beyond it ({units})")
        if args.synth_pieces:
            _synthesize_pieces(design, f"{args.synth_pieces}/{name}")
        efficiency = macs / (cycles * dsps)
        gops = 2 * macs * CLOCK_HZ / cycles / 1e9
        print(f"  MACs/frame {macs:,}; DSP48E1 {dsps} ({dsp_how}; every one: MACs and "
              f"tables); cycles/frame {cycles:,.0f} ({how})")
        print(f"  DSP efficiency {efficiency:.3f}; {gops:.1f} GOP/s and "
              f"{CLOCK_HZ / cycles:,.1f} frames/s at 200 MHz (NeuFlow peak: "
              f"{NEUFLOW_PEAK_GOPS} GOP/s)\n", flush=True)
        rows.append((label, macs, dsps, dsp_how, cycles, how.split(",")[0], efficiency, gops))
    print(f"{'network':<18} {'MACs/frame':>15} {'DSP48E1':>8} {'':<10} {'cycles/frame':>13} "
          f"{'':<10} {'efficiency':>10} {'GOP/s':>7} {'frames/s':>9}")
    for label, macs, dsps, dsp_how, cycles, how, eff, gops in rows:
        print(f"{label:<18} {macs:>15,} {dsps:>8} {dsp_how:<10} {cycles:>13,.0f} {how:<10} "
              f"{eff:>10.3f} {gops:>7.1f} {CLOCK_HZ / cycles:>9,.1f}")
    print(f"{'NeuFlow (ANCHORS)':<18} {'':>15} {'':>8} {'':<10} {'':>13} {'':<10} {'':>10} "
          f"{NEUFLOW_PEAK_GOPS:>7.1f}")


if __name__ == "__main__":
    main()
