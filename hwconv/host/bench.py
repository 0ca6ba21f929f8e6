"""Host-side throughput over UDP on 127.0.0.1: ``python -m hwconv.host.bench``.

Prints what the driver moves through real sockets against a software device in a forked
process (a thread would share the interpreter lock): an echo board (the protocol alone: frames of 3x128x128 16-bit
values, 67 chunks each) and the bundled LeNet on the numpy reference, without and with
injected loss.  Figures, not asserts: they depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import multiprocessing
import time

import numpy as np

from ..fixed import FixedType
from . import protocol as p
from .board import SimulatedBoard
from .driver import Accelerator
from .server import BoardServer
from .transport import LossyTransport, UDPTransport

__all__ = ["measure", "main"]


def measure(board: SimulatedBoard, x_int: np.ndarray, drop: float = 0.0, seed: int = 0,
            window: int | None = None) -> dict:
    """Run integer frames through ``board`` served on 127.0.0.1 by a forked process;
    figures and counters."""
    ctx = multiprocessing.get_context("fork")
    ports = ctx.Queue()

    def serve():
        server = BoardServer(board)
        ports.put(server.port)
        server.serve(duration=600, idle_timeout=10)

    proc = ctx.Process(target=serve, daemon=True)
    proc.start()
    try:
        port = ports.get(timeout=30)
        link = UDPTransport("127.0.0.1", port)
        if drop:
            link = LossyTransport(link, drop=drop, seed=seed)
        with link:
            acc = Accelerator(link, window=window, timeout=30)
            acc.connect()
            t0 = time.monotonic()
            y = acc.run_int(x_int)
            wall = time.monotonic() - t0
    finally:
        proc.terminate()
        proc.join(timeout=30)
    info = acc.info
    payload = len(x_int) * (info.input.frame_bytes + info.output.frame_bytes)
    wire = acc.counters.sent + acc.counters.received
    return {"frames": len(x_int), "seconds": wall, "frames_per_s": len(x_int) / wall,
            "goodput_MBps": payload / wall / 1e6, "datagrams": wire, "outputs": y,
            "counters": acc.counters.as_dict(), "window": acc.window}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200)
    args = ap.parse_args(argv)

    fmt = p.TensorFormat((3, 128, 128), FixedType(16, 8))
    x = np.random.default_rng(0).integers(-32768, 32768, (args.frames, *fmt.shape))
    print(f"echo board, frames {fmt.shape} 16-bit = {fmt.frame_bytes:,} bytes "
          f"({fmt.chunks} chunks) each way:")
    for drop in (0.0, 0.01, 0.05):
        r = measure(SimulatedBoard.echo(fmt), x, drop=drop, seed=1)
        assert np.array_equal(r["outputs"], x), "echo came back different"
        c = r["counters"]
        print(f"  drop {drop:4.0%}: {r['frames_per_s']:8,.0f} frames/s, "
              f"{r['goodput_MBps']:7.1f} MB/s of frame data (both ways), resent "
              f"{c['resent']}, queries {c['queries']}")

    from ..demo import bundled_digits, bundled_model
    from ..design import compile
    digits = bundled_digits()
    design = compile(bundled_model(), digits["calibration"])
    xs = np.resize(digits["test_x"], (max(args.frames, 500), 1, 28, 28))
    xi = design.quantize_input(xs)
    print("LeNet on the numpy reference:")
    for drop in (0.0, 0.05):
        r = measure(SimulatedBoard(design.graph), xi, drop=drop, seed=2)
        from .. import reference
        exact = np.array_equal(r["outputs"], reference.run(design.graph, xi))
        c = r["counters"]
        print(f"  drop {drop:4.0%}: {r['frames_per_s']:8,.0f} frames/s over {len(xi)} "
              f"frames, bit-exact: {'yes' if exact else 'NO'}, resent {c['resent']}, "
              f"queries {c['queries']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
