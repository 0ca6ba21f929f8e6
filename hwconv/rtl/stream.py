"""Pixel streams: amaranth.lib.stream signatures whose payload is an array of lanes.

A feature map travels in raster order, one pixel per beat, all its channels side by side
(lane c = channel c, lane 0 in the low bits). A vector of N values is one beat of N lanes.
"""
from __future__ import annotations

from amaranth import Elaboratable, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["pixel_layout", "pixel_signature", "step_raster", "RegisteredMap"]


def pixel_layout(lanes: int, width: int) -> data.ArrayLayout:
    return data.ArrayLayout(signed(width), lanes)


def pixel_signature(lanes: int, width: int) -> stream.Signature:
    return stream.Signature(pixel_layout(lanes, width))


def step_raster(m: Module, row: Signal, col: Signal, height: int, width: int) -> None:
    """Advance (row, col) by one pixel in raster order, wrapping at the frame's end."""
    with m.If(col == width - 1):
        m.d.sync += col.eq(0)
        with m.If(row == height - 1):
            m.d.sync += row.eq(0)
        with m.Else():
            m.d.sync += row.eq(row + 1)
    with m.Else():
        m.d.sync += col.eq(col + 1)


class RegisteredMap(wiring.Component):
    """One pipeline stage: ``o.payload <= fn(i.payload)`` with a registered output.

    Full throughput: a beat is taken whenever the output register is empty or being
    emptied, so ``i.ready`` never waits on ``i.valid`` (the stream rules allow either).
    """

    def __init__(self, in_layout, out_layout, fn):
        self._fn = fn
        super().__init__({"i": In(stream.Signature(in_layout)),
                          "o": Out(stream.Signature(out_layout))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.i.ready):
            m.d.sync += self.o.valid.eq(self.i.valid)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += self._fn(m, self.i.payload, self.o.payload)
        return m


class PipelinedMap(wiring.Component):
    """Several registered stages that advance together: ``stages`` is a list of
    ``(layout, fn)``, stage k registering ``fn(m, x, y)`` from the previous stage's
    register ``x`` (the input payload first) into its own ``y`` of ``layout``; the last
    stage's register is ``o.payload`` (its layout ``out_layout``).

    One clock enable for every stage, as in the MAC engine: ``i.ready`` is the output's
    ``~valid | ready`` whatever the number of stages, so a deep reduction split into
    stages adds no logic to the ready chain. Full throughput; the whole pipeline freezes
    while its output waits.
    """

    def __init__(self, in_layout, out_layout, stages):
        self._stages = list(stages)
        super().__init__({"i": In(stream.Signature(in_layout)),
                          "o": Out(stream.Signature(out_layout))})

    def elaborate(self, platform):
        m = Module()
        ce = ~self.o.valid | self.o.ready
        m.d.comb += self.i.ready.eq(ce)
        x, valid = self.i.payload, self.i.valid
        last = len(self._stages) - 1
        for k, (layout, fn) in enumerate(self._stages):
            y = self.o.payload if k == last else Signal(layout, name=f"stage{k}",
                                                        reset_less=True)
            v = self.o.valid if k == last else Signal(name=f"valid{k}")
            with m.If(ce):
                m.d.sync += v.eq(valid)
                with m.If(valid):
                    m.d.sync += fn(m, x, y)
            x, valid = y, v
        return m


class SkidBuffer(wiring.Component):
    """A stream register whose ``i.ready`` is a flip-flop: a beat that arrives while the
    output is held waits in a spare register, and ``i.ready`` drops for the next cycle.

    DataflowTop puts one between each FIFO and the unit it feeds, so the ready chain of
    a unit (its output FIFO's ``w_rdy``, through its clock enable and window generator)
    ends here instead of running on into the FIFO in front of it: the timing proxy found
    that handshake 7 levels deep on LeNet. Full throughput, one cycle of latency.
    """

    def __init__(self, layout):
        super().__init__({"i": In(stream.Signature(layout)),
                          "o": Out(stream.Signature(layout))})

    def elaborate(self, platform):
        m = Module()
        spare = Signal.like(self.i.payload, name="spare", reset_less=True)
        spare_valid = Signal()
        m.d.comb += self.i.ready.eq(~spare_valid)
        with m.If(self.o.ready | ~self.o.valid):
            m.d.sync += [self.o.valid.eq(spare_valid | self.i.valid), spare_valid.eq(0)]
            # Loaded only with a beat (a wide payload copied on idle cycles costs
            # Verilator time and buys nothing).
            with m.If(spare_valid | self.i.valid):
                m.d.sync += self.o.payload.eq(Mux(spare_valid, spare, self.i.payload))
        with m.Elif(self.i.valid & ~spare_valid):
            m.d.sync += [spare.eq(self.i.payload), spare_valid.eq(1)]
        return m
