"""An on-chip self-test for a board without a host link: one frame in ROM, its expected
output in ROM, and a checker that says pass, fail or done.

`SelfTest` wraps the network (`hwconv.rtl.top.DataflowTop`, or any component with stream
ports ``i`` and ``o``): it streams the test frame ``repeats`` times back to back from a block
RAM ROM, compares every output beat with the reference output (`hwconv.reference.run`, packed
exactly as the hardware packs it) and latches what it saw. It runs once by itself after reset,
again on each ``start`` pulse, and over and over while ``continuous`` is high.
"""
from __future__ import annotations

import numpy as np
from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .. import ir, reference
from ..sim.packing import frame_to_beats

__all__ = ["SelfTest", "selftest_vectors", "default_test_frame"]


def default_test_frame(graph: ir.Graph, seed: int = 0) -> np.ndarray:
    """A deterministic integer frame spanning the input type's whole range, extremes included."""
    t = graph.input.fixed
    x = np.random.default_rng(seed).integers(t.min_int, t.max_int + 1, graph.input.shape)
    x.flat[0], x.flat[-1] = t.min_int, t.max_int
    return x.astype(np.int64)


def selftest_vectors(graph: ir.Graph, x_int: np.ndarray) -> tuple[list[int], list[int]]:
    """Packed input beats of the integer frame ``x_int`` (C, H, W) and the packed output beats
    the hardware must produce for it, from the bit-exact reference."""
    x_int = np.asarray(x_int, dtype=np.int64)
    y = reference.run(graph, x_int[None])[0]
    return (frame_to_beats(x_int, graph.input.fixed.width),
            frame_to_beats(y, graph.output.fixed.width))


class SelfTest(wiring.Component):
    """Drive ``dut`` from a frame ROM and check its output against an expected-output ROM.

    Status (all in the ``sync`` domain):
    ``running``: a run is in progress; ``done``: the last run has ended; ``passed``: it ended
    with every beat equal to the reference; ``mismatch``: some beat differed; ``timed_out``: the
    network produced nothing for ``timeout`` cycles; ``extra``: it produced a beat when none
    was expected; ``failed`` is their OR, latched until the next run. ``cycles``: length of the
    last run in cycles, from its start to its last output beat.
    """

    def __init__(self, dut, in_beats: list[int], out_beats: list[int], *, repeats: int = 1,
                 timeout: int = 1 << 24):
        if repeats < 1:
            raise ValueError(f"repeats must be a positive integer, not {repeats!r}")
        if not in_beats or not out_beats:
            raise ValueError("the test needs at least one input and one output beat")
        self.dut, self.repeats, self.timeout = dut, repeats, timeout
        in_width = len(dut.i.payload.as_value())
        out_width = len(dut.o.payload.as_value())
        for name, beats, width in (("input", in_beats, in_width), ("output", out_beats,
                                                                   out_width)):
            if any(b < 0 or b >> width for b in beats):
                raise ValueError(f"{name} beats do not fit the {width}-bit stream payload")
        self.in_rom = Memory(shape=unsigned(in_width), depth=len(in_beats), init=in_beats)
        self.out_rom = Memory(shape=unsigned(out_width), depth=len(out_beats), init=out_beats)
        super().__init__({
            "start": In(1), "continuous": In(1),
            "running": Out(1), "done": Out(1), "passed": Out(1), "failed": Out(1),
            "mismatch": Out(1), "timed_out": Out(1), "extra": Out(1), "cycles": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        m.submodules.in_rom = self.in_rom
        m.submodules.out_rom = self.out_rom
        n_in, n_out = self.in_rom.depth, self.out_rom.depth

        first = Signal(init=1)          # run once by itself after reset
        start_run = Signal()
        m.d.comb += start_run.eq(~self.running &
                                 (first | self.start | (self.continuous & self.passed)))

        # Source: a registered stream out of a synchronous ROM read port. The read is issued
        # whenever the output register is free (or being emptied), so ``valid`` never waits
        # for ``ready`` and the data stays put while the network stalls.
        src_active = Signal()
        in_addr = Signal(range(n_in))
        in_frame = Signal(range(self.repeats))
        rd_in = self.in_rom.read_port()
        advance = Signal()
        m.d.comb += [advance.eq(~dut.i.valid | dut.i.ready),
                     rd_in.addr.eq(in_addr), rd_in.en.eq(advance),
                     dut.i.payload.as_value().eq(rd_in.data)]
        with m.If(advance):
            m.d.sync += dut.i.valid.eq(src_active)
            with m.If(src_active):
                with m.If(in_addr == n_in - 1):
                    m.d.sync += in_addr.eq(0)
                    with m.If(in_frame == self.repeats - 1):
                        m.d.sync += [in_frame.eq(0), src_active.eq(0)]
                    with m.Else():
                        m.d.sync += in_frame.eq(in_frame + 1)
                with m.Else():
                    m.d.sync += in_addr.eq(in_addr + 1)

        # Sink: always ready; the expected-beat ROM is read one cycle ahead (at the address the
        # counter is about to take) so its output is the beat expected now.
        out_addr = Signal(range(n_out))
        out_frame = Signal(range(self.repeats))
        next_addr = Signal(range(n_out))
        rd_out = self.out_rom.read_port()
        accept = Signal()
        last = Signal()
        m.d.comb += [dut.o.ready.eq(1), accept.eq(dut.o.valid),
                     last.eq((out_addr == n_out - 1) & (out_frame == self.repeats - 1)),
                     next_addr.eq(out_addr),
                     rd_out.addr.eq(next_addr)]
        with m.If(start_run):
            m.d.comb += next_addr.eq(0)
        with m.Elif(accept & self.running):
            m.d.comb += next_addr.eq(Mux(out_addr == n_out - 1, 0, out_addr + 1))
        m.d.sync += out_addr.eq(next_addr)

        idle = Signal(range(self.timeout + 1))
        with m.If(self.running):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(accept):
                m.d.sync += idle.eq(0)
                with m.If(dut.o.payload.as_value() != rd_out.data):
                    m.d.sync += self.mismatch.eq(1)
                with m.If(out_addr == n_out - 1):
                    m.d.sync += out_frame.eq(Mux(last, 0, out_frame + 1))
                with m.If(last):
                    m.d.sync += [self.running.eq(0), self.done.eq(1)]
            with m.Elif(idle == self.timeout):
                m.d.sync += [self.timed_out.eq(1), self.running.eq(0), self.done.eq(1)]
            with m.Else():
                m.d.sync += idle.eq(idle + 1)
        with m.Elif(accept):
            m.d.sync += self.extra.eq(1)

        m.d.comb += [
            self.failed.eq(self.mismatch | self.timed_out | self.extra),
            self.passed.eq(self.done & ~self.failed),
        ]

        with m.If(start_run):
            m.d.sync += [first.eq(0), self.running.eq(1), self.done.eq(0),
                         self.mismatch.eq(0), self.timed_out.eq(0), self.extra.eq(0),
                         self.cycles.eq(0), idle.eq(0), src_active.eq(1),
                         in_addr.eq(0), in_frame.eq(0), out_frame.eq(0)]
        return m
