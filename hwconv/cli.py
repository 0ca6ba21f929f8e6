"""The ``hwconv`` command: compile, reference, sim, lint, build, demo.

Errors a user can fix are printed as one line (``hwconv: error: ...``) with exit status 2;
a simulation that differs from the reference exits with status 1.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

from .errors import HwconvError

PARTS = ("xc6vlx240t-ff1156-1",)
BOARDS = {"ml605": "xc6vlx240t-ff1156-1"}


class UsageError(HwconvError):
    pass


def _shape(text: str) -> tuple[int, int, int]:
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        dims = ()
    if len(dims) != 3 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected C,H,W as three positive integers, not {text!r}")
    return dims


def _load_frames(path) -> np.ndarray:
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: cannot read frames ({e}); give a .npy file of float frames "
                         f"shaped (N, C, H, W) or (C, H, W)") from None
    if not np.issubdtype(x.dtype, np.number):
        raise UsageError(f"{path}: holds {x.dtype} values; frames must be numbers")
    if not np.all(np.isfinite(x)):
        raise UsageError(f"{path}: holds NaN or infinite values")
    return x


def _design(folder):
    from .design import Design
    return Design.load(folder)


def cmd_compile(args) -> int:
    from .design import compile
    from .rtl.top import DEFAULT_LANES
    if args.board and args.board not in BOARDS:
        raise UsageError(f"--board {args.board}: unknown board; known: {', '.join(BOARDS)}")
    part = BOARDS[args.board] if args.board else args.part
    if part.lower() not in PARTS:
        raise UsageError(f"--part {part}: not supported; supported parts: {', '.join(PARTS)}")
    calibration = _load_frames(args.calibration) if args.calibration else None
    lanes = None   # the parallelism pass chooses, under --dsp-budget
    if args.lanes is not None or args.out_lanes is not None:
        lanes = (args.lanes or DEFAULT_LANES, args.out_lanes or 1)
        if min(lanes) < 1:
            raise UsageError(f"--lanes {lanes[0]} and --out-lanes {lanes[1]} must be at "
                             f"least 1")
    design = compile(args.model, calibration, input_shape=args.input_shape, bits=args.bits,
                     lanes=lanes, dsp_budget=args.dsp_budget,
                     ramb18_budget=args.ramb18_budget, lut_budget=args.lut_budget,
                     drop_log_softmax=args.drop_log_softmax, config=args.config)
    dsps = sum(r.get("lanes", 0) * r.get("out_lanes", 0) for r in design.report["layers"])
    if args.dsp_budget is not None and dsps > args.dsp_budget:
        raise UsageError(f"the design needs {dsps} DSP48E1 (one per multiplier lane) but "
                         f"--dsp-budget is {args.dsp_budget}; lower --lanes or --out-lanes")
    if args.synth:
        print("hwconv: synthesizing with Yosys (synth_xilinx -family xc6v)...", file=sys.stderr)
        design.synthesize()
    out = design.save(args.output)
    rep = design.report
    print(f"compiled {args.model} -> {out}: {len(design.graph.nodes)} nodes, "
          f"{rep['macs_per_frame']:,} MACs/frame, {dsps} multipliers, "
          f"~{rep['cycles_per_frame_estimate']:,} cycles/frame (bottleneck {rep['bottleneck']})")
    for layer in rep["layers"]:
        extra = f" weights {layer['weight_type']} lanes {layer['lanes']}x{layer['out_lanes']}" \
            if "lanes" in layer \
            else ""
        print(f"  {layer['name']:<16} {layer['op']:<8} {str(tuple(layer['shape'])):<14} "
              f"{layer['type']}{extra}")
    if design.synthesis:
        s = design.synthesis
        print(f"synthesis: {s['dsp48e1']} DSP48E1, {s['ramb18']} RAMB18E1, {s['ramb36']} "
              f"RAMB36E1, {s['lut']} LUT, {s['ff']} FF")
        if s.get("logic_depth"):
            d = s["logic_depth"]
            print(f"timing proxy: at most {d['max_levels']} logic levels between registers "
                  f"(budget {d['budget']}; {d['endpoints_over_budget']} endpoints beyond it); "
                  f"deepest: {' > '.join(d['worst_path'])}")
    if design.precision:
        p = design.precision
        print(f"precision on the {p['frames']} calibration frames: {p['saturated']} values "
              f"saturated, top-1 agreement with float {p['top1_agreement']:.1%} (per layer: "
              f"report.html, or `hwconv precision {out} --input FRAMES.npy`)")
    return 0


def cmd_precision(args) -> int:
    import json
    from .precision import format_precision, precision_report
    design = _design(args.design)
    labels = _load_frames(args.labels) if args.labels else None   # same checks as frames
    frames = _load_frames(args.input)
    if labels is not None and len(labels) != (1 if frames.ndim == 3 else len(frames)):
        raise UsageError(f"--labels {args.labels} holds {len(labels)} labels for "
                         f"{len(frames)} frames; give one label per frame")
    rep = precision_report(design.graph, frames, labels)
    print(format_precision(rep))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(rep, indent=1))
        print(f"wrote {args.json}")
    return 0


def cmd_reference(args) -> int:
    design = _design(args.design)
    y = design.reference(_load_frames(args.input))
    np.save(args.output, y)
    print(f"wrote {args.output}: {y.shape[0]} frames of {tuple(y.shape[1:])} "
          f"(fixed-point reference, dequantized)")
    return 0


def report_sim(result, frames: int) -> int:
    """Print the outcome of a simulation; the exit status says whether it was bit-exact."""
    print(f"simulated {frames} frames with {result.simulator} (stalls: {result.stalls}): "
          f"{result.cycles_per_frame:,.0f} cycles/frame, latency {result.latency:,} cycles, "
          f"{result.total_cycles:,} cycles in all")
    if result.bit_exact:
        print(f"bit-exact: all {frames} frames equal the reference")
        return 0
    if result.extra_beats:
        print(f"MISMATCH: the hardware produced {result.extra_beats} beats more than expected")
    else:
        where = result.first_mismatch()
        if where and where[1]:
            f, idx = where
            print(f"MISMATCH: first difference in frame {f} at index {idx}: hardware "
                  f"{result.outputs[(f, *idx)]}, reference {result.expected[(f, *idx)]}")
        else:
            print(f"MISMATCH: the hardware produced output of shape {result.outputs.shape}, "
                  f"expected {result.expected.shape}")
    return 1


def cmd_sim(args) -> int:
    from .reference import dequantize_output
    from .report import CLOCK_HZ, simulation_summary, write_report
    from .sim.run import simulate_design
    from .sim.unit_profile import format_table
    if args.fst and args.simulator != "verilator":
        raise UsageError("--fst needs --simulator verilator (the fast harness); use --vcd")
    if args.fst and args.vcd:
        raise UsageError("give --vcd or --fst, not both")
    design = _design(args.design)
    x = _load_frames(args.input)
    t0 = time.monotonic()
    result = simulate_design(design, design.quantize_input(x), simulator=args.simulator,
                             stalls=args.stalls, vcd=args.vcd, fst=args.fst,
                             profile=args.profile, progress=True)
    wall = time.monotonic() - t0
    status = report_sim(result, len(result.expected))
    if result.first_output_latency is not None:
        print(f"latency: first output beat {result.first_output_latency:,} cycles after the "
              f"first input beat, first frame done after {result.latency:,}; steady state "
              f"{result.cycles_per_frame:,.0f} cycles/frame = "
              f"{CLOCK_HZ / result.cycles_per_frame:,.0f} frames/s at "
              f"{CLOCK_HZ / 1e6:.0f} MHz")
    print(f"wall time {wall:.1f} s ({result.total_cycles / wall:,.0f} simulated cycles/s "
          f"including build)")
    if result.sim_seconds > 0:
        macs = design.report["macs_per_frame"] * len(result.expected)
        print(f"simulation speed: {result.cycles_per_second:,.0f} cycles/s, "
              f"{macs / result.sim_seconds:,.0f} multiply-accumulates/s "
              f"({result.total_cycles:,} cycles and {macs:,} MACs in {result.sim_seconds:.2f} s)")
    if args.output:
        np.save(args.output, dequantize_output(design.graph, result.outputs))
        print(f"wrote {args.output}")
    if args.vcd or args.fst:
        print(f"wrote {args.vcd or args.fst}")
    if args.profile and result.profile:
        print("profile (share of cycles per unit):")
        print(format_table(result.profile))
        design.simulation = simulation_summary(design, result)
        write_report(design, args.design)
        print(f"wrote the profile into {args.design}/report.json and report.html")
    _drop_unelaborated_top(design)
    return status


def _drop_unelaborated_top(design) -> None:
    """Free the DataflowTop the report's estimates built (never elaborated: the Verilog
    came from the design folder) without Amaranth's UnusedElaboratable warnings."""
    import gc
    import warnings
    from amaranth.hdl import UnusedElaboratable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        if design.__dict__.pop("top", None) is not None:
            gc.collect()


def cmd_lint(args) -> int:
    from .design import TOP_NAME
    from .sim.lint import ACCEPTED, format_summary, lint_file
    from .sim.verilator import VerilatorBuildError
    path = pathlib.Path(args.design) / "rtl" / f"{TOP_NAME}.v"
    if not path.is_file():
        raise UsageError(f"{args.design}: no {path.relative_to(args.design)}; give a design "
                         f"folder written by `hwconv compile`")
    try:
        result = lint_file(path, TOP_NAME)
    except VerilatorBuildError as e:
        raise UsageError(str(e)) from None
    if args.log:
        pathlib.Path(args.log).write_text(result.log)
    new = result.new_kinds()
    print(f"verilator --lint-only -Wall {path}: {len(result.messages):,} messages, "
          f"{len(result.counts)} kinds ({len(ACCEPTED)} kinds accepted, see "
          f"hwconv/sim/lint.py)")
    print(format_summary(result))
    if args.log:
        print(f"wrote {args.log}")
    if new:
        print(f"NEW lint kinds: {', '.join(sorted(new))}")
        return 1
    print("lint: no new kinds")
    return 0


def cmd_build(args) -> int:
    from .build import build_board
    frames = _load_frames(args.input) if args.input else None
    result = build_board(args.design, args.board, args.output, frames=frames,
                         core_mhz=args.clock_mhz, selftest=args.selftest,
                         repeats=args.repeats, mac=args.mac, ip=args.ip, port=args.port,
                         slots=args.slots, synth=args.synth,
                         log=lambda message: print(message, file=sys.stderr))
    print(result.summary())
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo
    return run_demo(args.output, frames=args.frames, synth=not args.no_synth)


def _impairment(args, seed_offset=0):
    from .host.transport import Impairment
    if not (args.drop or args.duplicate or args.reorder):
        return None
    try:
        return Impairment(args.drop, args.duplicate, args.reorder, args.seed + seed_offset)
    except ValueError as e:
        raise UsageError(str(e)) from None


def cmd_serve_sim(args) -> int:
    from .host.board import SimulatedBoard, reference_engine, verilator_engine
    from .host.server import BoardServer
    design = _design(args.design)
    if args.engine == "gateware":
        return _serve_gateware(design, args)
    engine = verilator_engine(design) if args.engine == "verilator" else \
        reference_engine(design.graph)
    try:
        board = SimulatedBoard(design.graph, engine=engine, slots=args.slots)
        server = BoardServer(board, args.host, args.port, impair_in=_impairment(args),
                             impair_out=_impairment(args, 1))
    except ValueError as e:
        raise UsageError(f"{args.design}: {e}") from None
    except OSError as e:
        raise UsageError(f"cannot listen on udp://{args.host}:{args.port}: {e.strerror}") \
            from None
    i, o = board.info.input, board.info.output
    lossy = f"; injecting loss: drop {args.drop:.0%}, duplicate {args.duplicate:.0%}, " \
        f"reorder {args.reorder:.0%}" if server.impair_in else ""
    print(f"hwconv serve-sim: {args.design} on udp://{server.host}:{server.port} "
          f"(design id {board.info.design_id:08x}; input {i.shape} {i.fixed} in {i.chunks} "
          f"chunks, output {o.shape} {o.fixed} in {o.chunks}; {args.slots} slots; engine "
          f"{args.engine}{lossy})", flush=True)
    try:
        server.serve(idle_timeout=args.idle_timeout)
    except KeyboardInterrupt:
        pass
    c = board.counters
    print(f"hwconv serve-sim: stopped; {c['frames_computed']} frames computed, "
          f"{c['rx_datagrams']} datagrams in, {c['tx_datagrams']} out; dropped: "
          f"{sum(v for k, v in c.items() if k.startswith('malformed_'))} malformed, "
          f"{c['unexpected']} unexpected, {c['foreign_session']} foreign, "
          f"{c['duplicates']} duplicates, {c['stale']} stale; "
          f"{server.internal_errors} internal errors", flush=True)
    return 1 if server.internal_errors else 0


def _serve_gateware(design, args) -> int:
    """serve-sim --engine gateware: the board top itself (MAC to network, in gateware) in
    Verilator behind the socket (hwconv.rtl.eth.gmii_bridge)."""
    from .rtl.eth.gmii_bridge import serve_gateware
    if _impairment(args) or _impairment(args, 1):
        raise UsageError("--engine gateware injects no loss; use `hwconv run --drop ...`")
    print(f"hwconv serve-sim: {args.design} in gateware (ProtocolBoard) under Verilator "
          f"on udp://{args.host}:{args.port}; {args.slots} slots", flush=True)
    try:
        c = serve_gateware(design.graph, design.top, host=args.host, port=args.port,
                           slots=args.slots, idle_timeout=args.idle_timeout)
    except ValueError as e:
        raise UsageError(f"{args.design}: {e}") from None
    print(f"hwconv serve-sim: stopped; {c.get('engine_frames_computed')} frames computed, "
          f"{c.get('engine_rx_datagrams')} datagrams in, {c.get('engine_tx_datagrams')} out",
          flush=True)
    return 0


def cmd_run(args) -> int:
    from .host.driver import Accelerator
    from .host.transport import LossyTransport, UDPTransport, parse_address
    if args.window is not None and args.window < 1 or args.timeout <= 0:
        raise UsageError("--window must be at least 1 and --timeout positive")
    x = _load_frames(args.input)
    try:
        host, port = parse_address(args.device)
        transport = UDPTransport(host, port)
    except (ValueError, OSError) as e:
        raise UsageError(f"--device {args.device}: {e}") from None
    if args.drop or args.duplicate or args.reorder:
        try:
            transport = LossyTransport(transport, args.drop, args.duplicate, args.reorder,
                                       args.seed)
        except ValueError as e:
            raise UsageError(str(e)) from None
    with transport:
        acc = Accelerator(transport, window=args.window, timeout=args.timeout)
        info = acc.info
        if args.design:
            from .host.protocol import design_id
            expected = design_id(_design(args.design).graph)
            if expected != info.design_id:
                raise UsageError(f"{transport.name} runs design {info.design_id:08x}, not "
                                 f"{args.design} ({expected:08x})")
        t0 = time.monotonic()
        y = acc.run(x)
        wall = time.monotonic() - t0
        device = acc.device_counters()
    np.save(args.output, y)
    n, c = len(y), acc.counters
    moved = n * (info.input.frame_bytes + info.output.frame_bytes)
    print(f"ran {n} frames on {transport.name} (design {info.design_id:08x}) in {wall:.3f} s: "
          f"{n / wall:,.0f} frames/s, {moved / wall / 1e6:.2f} MB/s of frame data")
    print(f"host: sent {c.sent}, resent {c.resent}, queries {c.queries}, received "
          f"{c.received}, dropped {c.dropped}, malformed {c.malformed}")
    print("device: " + ", ".join(f"{k} {v}" for k, v in device.items() if v))
    print(f"wrote {args.output}: {n} frames of {tuple(y.shape[1:])} (dequantized)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hwconv", description="Trained convnets to bit-exact "
                                "streaming fixed-point hardware for Virtex-6 FPGAs.")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("compile", help="compile a trained model into a design folder")
    c.add_argument("model", help="an ONNX file, a Torch7 binary file (.t7, .net) or a "
                   "PyTorch module saved whole with torch.save (.pt, .pth; loading it runs "
                   "its pickled code: only files you trust)")
    c.add_argument("--input-shape", type=_shape, help="C,H,W of one input frame")
    c.add_argument("--part", default=PARTS[0], help=f"FPGA part (default {PARTS[0]})")
    c.add_argument("--board", help="board, which sets the part (ml605)")
    c.add_argument("--bits", type=int, default=None,
                   help="fixed-point width of every layer: 8, 12, 16 (default: the config's, "
                        "else 16)")
    c.add_argument("--config", help="TOML file of per-layer settings: [layers.NAME] bits, "
                   "frac, weight_bits, weight_frac, lanes, out_lanes (docs/precision.md)")
    c.add_argument("--calibration", help=".npy float frames to choose the formats on")
    c.add_argument("--lanes", type=int, default=None,
                   help="multipliers per output in every weighted layer (default: chosen "
                        "per layer to balance the pipeline under --dsp-budget)")
    c.add_argument("--out-lanes", type=int, default=None,
                   help="outputs every weighted layer computes side by side (with --lanes)")
    c.add_argument("--dsp-budget", type=int,
                   help="DSP48E1 the design may use (default 691, 90%% of the XC6VLX240T)")
    c.add_argument("--ramb18-budget", type=int,
                   help="block RAM the design may use, in RAMB18E1 (a RAMB36E1 is two; "
                        "default 748, 90%% of the XC6VLX240T)")
    c.add_argument("--lut-budget", type=int,
                   help="LUTs the design may use (default 135648, 90%% of the XC6VLX240T)")
    c.add_argument("--drop-log-softmax", action="store_true",
                   help="leave out a Torch7 or PyTorch classifier's final LogSoftMax (the "
                   "winning class is the same; the outputs are the scores before it)")
    c.add_argument("--synth", action="store_true", help="run Yosys and report resources")
    c.add_argument("-o", "--output", required=True, help="design folder to write")
    c.set_defaults(func=cmd_compile)

    q = sub.add_parser("precision", help="per-layer error of the fixed-point design against "
                       "float on given frames, saturations and top-1 agreement")
    q.add_argument("design", help="a design folder written by `hwconv compile`")
    q.add_argument("--input", required=True, help=".npy float frames (N, C, H, W)")
    q.add_argument("--labels", help=".npy of the frames' true classes (adds top-1 accuracy)")
    q.add_argument("--json", help="also write the report to this JSON file")
    q.set_defaults(func=cmd_precision)

    r = sub.add_parser("reference", help="run the fixed-point numpy reference")
    r.add_argument("design")
    r.add_argument("--input", required=True)
    r.add_argument("--output", required=True)
    r.set_defaults(func=cmd_reference)

    s = sub.add_parser("sim", help="cycle-accurate simulation, checked against the reference")
    s.add_argument("design")
    s.add_argument("--input", required=True)
    s.add_argument("--output")
    s.add_argument("--simulator", choices=("verilator", "cocotb", "pysim"), default="verilator",
                   help="verilator: the fast C++ frame harness (default); cocotb: Verilator "
                   "driven per cycle from Python; pysim: Amaranth's simulator (small designs)")
    s.add_argument("--stalls", choices=("none", "idle", "backpressure", "both"),
                   default="none", help="flow-control pattern at the design's ports")
    s.add_argument("--vcd", help="write a waveform to this file")
    s.add_argument("--fst", help="write a compressed FST waveform to this file (fast "
                   "harness; needs the lz4 and zlib headers)")
    s.add_argument("--profile", action="store_true",
                   help="simulate with per-unit counters (busy, stall and starve cycles, "
                   "FIFO maximum occupancy), print them and write them, with latency and "
                   "throughput, into the design folder's report.json and report.html")
    s.set_defaults(func=cmd_sim)

    li = sub.add_parser("lint", help="verilator --lint-only -Wall on a design's Verilog; "
                        "exit status 1 on warning kinds not in the accepted list")
    li.add_argument("design", help="a design folder written by `hwconv compile`")
    li.add_argument("--log", help="write Verilator's whole output to this file")
    li.set_defaults(func=cmd_lint)

    b = sub.add_parser("build", help="write a bitstream-ready ISE build plan for a board")
    b.add_argument("design", help="a design folder written by `hwconv compile`")
    b.add_argument("--board", required=True, help="the board (ml605, sp605)")
    b.add_argument("-o", "--output", required=True, help="build folder to write")
    b.add_argument("--clock-mhz", type=float, default=None,
                   help="core clock made by the MMCM or PLL (default: the board's, 200 MHz "
                   "on the ml605, 100 on the sp605)")
    b.add_argument("--ip", default=None,
                   help="the board's IPv4 address (default 192.168.1.128)")
    b.add_argument("--port", default=None,
                   help="the UDP port it answers on (default 9000)")
    b.add_argument("--mac", default=None,
                   help="its MAC address (default 02:00:00:00:00:01, locally administered)")
    b.add_argument("--slots", type=int, default=None,
                   help="frames the board holds at once, a power of 2 (default 4)")
    b.add_argument("--selftest", action="store_true",
                   help="build the on-chip self-test instead of the Ethernet top: one test "
                   "frame in ROM, checked against the reference, PASS/FAIL on the LEDs")
    b.add_argument("--input", help="with --selftest: .npy float frames; the first is the "
                   "on-board test frame (default: a fixed pseudo-random frame)")
    b.add_argument("--repeats", type=int, default=None,
                   help="with --selftest: frames streamed back to back per run (default 4)")
    b.add_argument("--synth", action="store_true",
                   help="also synthesize the whole board top with Yosys and check it fits")
    b.set_defaults(func=cmd_build)

    d = sub.add_parser("demo", help="compile, simulate and synthesize the bundled LeNet")
    d.add_argument("-o", "--output", default="demo-out", help="design folder (default demo-out)")
    d.add_argument("--frames", type=int, default=10, help="test images to simulate (default 10)")
    d.add_argument("--no-synth", action="store_true", help="skip Yosys synthesis")
    d.set_defaults(func=cmd_demo)

    def impairment_options(sub, where):
        sub.add_argument("--drop", type=float, default=0.0,
                         help=f"drop this fraction of datagrams {where} (testing; default 0)")
        sub.add_argument("--duplicate", type=float, default=0.0,
                         help=f"duplicate this fraction {where} (testing; default 0)")
        sub.add_argument("--reorder", type=float, default=0.0,
                         help=f"delay this fraction past the next datagram {where} (testing)")
        sub.add_argument("--seed", type=int, default=0, help="seed of the injected loss")

    v = sub.add_parser("serve-sim", help="a simulated board on a UDP socket (docs/protocol.md)")
    v.add_argument("design", help="a design folder written by `hwconv compile`")
    v.add_argument("--port", type=int, default=9000,
                   help="UDP port (default 9000; 0 picks a free one)")
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                   "127.0.0.1)")
    v.add_argument("--engine", choices=("reference", "verilator", "gateware"),
                   default="reference",
                   help="what computes the frames: the numpy reference (default), the "
                   "design's RTL in Verilator's fast harness, or the whole board top "
                   "(Ethernet MAC to network, hwconv.rtl.eth.ProtocolBoard) in Verilator")
    v.add_argument("--slots", type=int, default=16, help="frames the board holds at once")
    v.add_argument("--idle-timeout", type=float, default=None,
                   help="exit after this many seconds without a datagram")
    impairment_options(v, "at the board, each way")
    v.set_defaults(func=cmd_serve_sim)

    u = sub.add_parser("run", help="run frames on a board (or serve-sim) over UDP")
    u.add_argument("--device", required=True, help="HOST:PORT of the board")
    u.add_argument("--input", required=True, help=".npy float frames (N, C, H, W) or (C, H, W)")
    u.add_argument("--output", required=True, help=".npy to write the outputs to")
    u.add_argument("--design", help="a design folder: check the board runs that design")
    u.add_argument("--window", type=int, default=None,
                   help="frames in flight at most (default: as many as the board holds)")
    u.add_argument("--timeout", type=float, default=5.0,
                   help="seconds without an answer before giving up (default 5)")
    impairment_options(u, "at the host, each way")
    u.set_defaults(func=cmd_run)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HwconvError as e:
        print(f"hwconv: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hwconv: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
