"""Amaranth's own simulator driving a stream component: for small designs and unit tests."""
from __future__ import annotations

import random

from amaranth.sim import Simulator

from .stalls import StallPattern

__all__ = ["run_stream"]


def run_stream(dut, beats: list[int], n_out: int, stalls: StallPattern | None = None,
               max_cycles: int = 1_000_000, vcd: str | None = None,
               settle: int = 64, times: list[int] | None = None,
               in_times: list[int] | None = None,
               profile: list[int] | None = None) -> tuple[list[int], int]:
    """Feed packed ``beats`` into ``dut.i`` and collect ``n_out`` beats from ``dut.o``.

    After the last expected beat the sink stays ready for ``settle`` more cycles and keeps
    whatever else arrives, so a caller comparing lengths sees a unit that says too much.
    Returns the output beats and the number of cycles until the last expected one; the
    cycle of each expected output beat is appended to ``times`` when given, the cycle of
    each accepted input beat to ``in_times``.  ``profile``: for a DUT with a ``prof`` port
    (a profiled DataflowTop), its value once the cycle of the last expected output beat is
    counted is appended (as the fast harness reads it).
    """
    stalls = stalls or StallPattern("none")
    out: list[int] = []
    cycles = [0]

    async def source(ctx):
        rng = random.Random(stalls.seed)
        for beat in beats:
            while rng.random() < stalls.idle:
                await ctx.tick()
            ctx.set(dut.i.payload.as_value(), beat)
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)

    async def sink(ctx):
        rng = random.Random(stalls.seed + 1)
        n = 0
        while len(out) < n_out:
            ready = rng.random() >= stalls.backpressure
            ctx.set(dut.o.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload.as_value())
            n += 1
            if n > max_cycles:
                raise TimeoutError(f"no output after {max_cycles} cycles "
                                   f"({len(out)} of {n_out} beats)")
            if valid and ready:
                out.append(payload)
                if times is not None:
                    times.append(n)
        cycles[0] = n
        if profile is not None:   # the counters, the last output beat's cycle included
            profile.append(ctx.get(dut.prof))
        ctx.set(dut.o.ready, 1)
        for _ in range(settle):
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload.as_value())
            if valid:
                out.append(payload)

    async def input_monitor(ctx):
        n = 0
        async for _, _, valid, ready in ctx.tick().sample(dut.i.valid, dut.i.ready):
            n += 1
            if valid and ready:
                in_times.append(n)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(source, background=True)
    if in_times is not None:
        sim.add_testbench(input_monitor, background=True)
    sim.add_testbench(sink)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return out, cycles[0]
