"""hwconv.rtl.fifo.BufferedFIFO: SyncFIFOBuffered cycle for cycle, flags in registers."""
import numpy as np
import pytest
from amaranth import Module
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.sim import Simulator

from hwconv.rtl.fifo import BufferedFIFO

PORTS = ("w_rdy", "r_rdy", "r_data", "level")


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 7])
def test_same_as_sync_fifo_buffered_cycle_for_cycle(depth):
    """Random writes and reads, bursts that fill and drain it: every output port equal
    on every cycle."""
    m = Module()
    m.submodules.ours = ours = BufferedFIFO(width=8, depth=depth)
    m.submodules.theirs = theirs = SyncFIFOBuffered(width=8, depth=depth)
    rng = np.random.default_rng(depth)
    # Phases that favour writing, then reading, so the FIFO is full and empty often.
    p_write = np.repeat(rng.choice([0.2, 0.5, 0.9], 40), 25)
    p_read = np.repeat(rng.choice([0.1, 0.5, 0.95], 40), 25)
    seen = {"full": 0, "empty": 0}

    async def bench(ctx):
        for k in range(len(p_write)):
            w_en, r_en, data = bool(rng.random() < p_write[k]), bool(rng.random() < p_read[k]), \
                int(rng.integers(256))
            for f in (ours, theirs):
                ctx.set(f.w_en, w_en)
                ctx.set(f.r_en, r_en)
                ctx.set(f.w_data, data)
            got = [ctx.get(getattr(ours, p)) for p in PORTS]
            want = [ctx.get(getattr(theirs, p)) for p in PORTS]
            if not want[1]:
                got[2] = want[2] = 0      # r_data means nothing without r_rdy
            assert got == want, f"cycle {k}: {dict(zip(PORTS, got))} != {dict(zip(PORTS, want))}"
            seen["full"] += not want[0]
            seen["empty"] += not want[1]
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen["full"] > 20 and seen["empty"] > 20
