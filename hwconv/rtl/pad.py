"""Padding as a stream transform: emits the padded map in raster order."""
from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .stream import pixel_signature, step_raster

__all__ = ["ZeroPad"]


class ZeroPad(wiring.Component):
    """(C, H, W) in, (C, H+top+bottom, W+left+right) out; border pixels are ``value``
    (zero, or the smallest code where padding must never win a maximum).

    Combinational pass-through inside the map, zeros produced on the border, so it adds
    no latency and no storage.
    """

    def __init__(self, channels: int, height: int, width: int, pads, bits: int, value: int = 0):
        self.shape, self.pads, self.value = (channels, height, width), tuple(pads), value
        sig = pixel_signature(channels, bits)
        super().__init__({"i": In(sig), "o": Out(sig)})

    def elaborate(self, platform):
        m = Module()
        _, h, w = self.shape
        top, left, bottom, right = self.pads
        hp, wp = h + top + bottom, w + left + right
        row = Signal(range(hp))
        col = Signal(range(wp))
        inside = (row >= top) & (row < top + h) & (col >= left) & (col < left + w)
        # The padding before a frame's first pixel waits until that pixel is offered, so
        # a stream that has ended does not run on into a next frame's top rows.
        leading = (row < top) | ((row == top) & (col < left))
        with m.If(inside):
            m.d.comb += [self.o.valid.eq(self.i.valid),
                         self.o.payload.eq(self.i.payload),
                         self.i.ready.eq(self.o.ready)]
        with m.Else():
            m.d.comb += [self.o.valid.eq(Mux(leading, self.i.valid, 1))]
            m.d.comb += [lane.eq(self.value) for lane in self.o.payload]
        with m.If(self.o.valid & self.o.ready):
            step_raster(m, row, col, hp, wp)
        return m
