"""Operations on two streams of the same shape (or a one-channel second stream that
applies to every channel)."""
from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..fixed import FixedType, requantize_hdl
from .stream import pixel_signature

__all__ = ["AddUnit", "Zip", "RepeatUnit"]


class Zip(wiring.Component):
    """Two streams into one whose beats hold one beat of each (fields ``a`` and ``b``).
    Combinational: a beat passes when both inputs have one."""

    def __init__(self, a_layout, b_layout):
        super().__init__({"a": In(stream.Signature(a_layout)),
                          "b": In(stream.Signature(b_layout)),
                          "o": Out(stream.Signature(data.StructLayout({"a": a_layout,
                                                                       "b": b_layout})))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.o.valid.eq(self.a.valid & self.b.valid),
                     self.o.payload.a.eq(self.a.payload), self.o.payload.b.eq(self.b.payload),
                     # Ready waits for the other valid: allowed for a consumer, and it
                     # keeps the beats paired.
                     self.a.ready.eq(self.o.ready & self.b.valid),
                     self.b.ready.eq(self.o.ready & self.a.valid)]
        return m


class AddUnit(wiring.Component):
    """``a + sign * b`` (sign 0: max(a, b)) lane by lane: both aligned to the finer scale (exact), then
    requantized to ``out``, as ``reference._add``. One registered stage."""

    input_names = ("a", "b")

    def __init__(self, lanes: int, ta: FixedType, tb: FixedType, out: FixedType,
                 sign: int = 1, b_lanes: int | None = None):
        self.lanes, self.ta, self.tb, self.out, self.sign = lanes, ta, tb, out, sign
        self.b_lanes = b_lanes or lanes
        super().__init__({"a": In(pixel_signature(lanes, ta.width)),
                          "b": In(pixel_signature(self.b_lanes, tb.width)),
                          "o": Out(pixel_signature(lanes, out.width))})

    def elaborate(self, platform):
        m = Module()
        top = max(self.ta.frac, self.tb.frac)
        can = ~self.o.valid | self.o.ready
        both = self.a.valid & self.b.valid
        m.d.comb += [self.a.ready.eq(can & both), self.b.ready.eq(can & both)]
        with m.If(can):
            m.d.sync += self.o.valid.eq(both)
        with m.If(can & both):
            for k in range(self.lanes):
                a = self.a.payload[k] << (top - self.ta.frac)
                b = self.b.payload[k if self.b_lanes > 1 else 0] << (top - self.tb.frac)
                total = a + b if self.sign > 0 else a - b if self.sign < 0 else \
                    Mux(a > b, a, b)
                m.d.sync += self.o.payload[k].eq(requantize_hdl(total, top, self.out))
        return m


class RepeatUnit(wiring.Component):
    """One (C, 1, 1) beat in, ``count`` copies of it out (a frame-wide value applied at
    every position)."""

    def __init__(self, lanes: int, bits: int, count: int):
        self.count = count
        super().__init__({"i": In(pixel_signature(lanes, bits)),
                          "o": Out(pixel_signature(lanes, bits))})

    def elaborate(self, platform):
        m = Module()
        left = Signal(range(self.count + 1))   # copies still to give
        with m.If(left == 0):
            m.d.comb += self.i.ready.eq(1)
            with m.If(self.i.valid):
                m.d.sync += [self.o.payload.eq(self.i.payload), left.eq(self.count)]
        m.d.comb += self.o.valid.eq(left != 0)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += left.eq(left - 1)
        return m
