"""Element-wise operations on two streams of the same shape."""
from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..fixed import FixedType, requantize_hdl
from .stream import pixel_signature

__all__ = ["AddUnit"]


class AddUnit(wiring.Component):
    """``a + b`` lane by lane: both aligned to the finer scale (exact), then requantized to
    ``out``, as ``reference._add``. A beat is taken from both inputs at once."""

    input_names = ("a", "b")

    def __init__(self, lanes: int, ta: FixedType, tb: FixedType, out: FixedType):
        self.lanes, self.ta, self.tb, self.out = lanes, ta, tb, out
        super().__init__({"a": In(pixel_signature(lanes, ta.width)),
                          "b": In(pixel_signature(lanes, tb.width)),
                          "o": Out(pixel_signature(lanes, out.width))})

    def elaborate(self, platform):
        m = Module()
        top = max(self.ta.frac, self.tb.frac)
        can = ~self.o.valid | self.o.ready
        both = self.a.valid & self.b.valid
        # Ready waits for both valids: allowed for a consumer, and it keeps beats paired.
        m.d.comb += [self.a.ready.eq(can & both), self.b.ready.eq(can & both)]
        with m.If(can):
            m.d.sync += self.o.valid.eq(both)
        with m.If(can & both):
            for k in range(self.lanes):
                total = (self.a.payload[k] << (top - self.ta.frac)) + \
                        (self.b.payload[k] << (top - self.tb.frac))
                m.d.sync += self.o.payload[k].eq(requantize_hdl(total, top, self.out))
        return m
