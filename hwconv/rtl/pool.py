"""Streaming max pooling: the window generator, then a per-channel maximum."""
from __future__ import annotations

from amaranth import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .linebuffer import WindowGenerator, window_layout
from .stream import RegisteredMap, pixel_layout, pixel_signature

__all__ = ["MaxPool2dUnit"]


def _max_tree(values):
    """Pairwise maxima, log2(n) comparators deep."""
    while len(values) > 1:
        pairs = [Mux(a > b, a, b) for a, b in zip(values[::2], values[1::2])]
        values = pairs + values[len(values) & ~1:]
    return values[0]


class MaxPool2dUnit(wiring.Component):
    """(C, H, W) in, (C, Ho, Wo) out: the largest value of each window, per channel."""

    def __init__(self, in_shape, kernel, stride, bits: int):
        self.in_shape, self.kernel, self.stride, self.bits = \
            tuple(in_shape), tuple(kernel), tuple(stride), bits
        c = in_shape[0]
        super().__init__({"i": In(pixel_signature(c, bits)), "o": Out(pixel_signature(c, bits))})

    def elaborate(self, platform):
        m = Module()
        c = self.in_shape[0]
        n = self.kernel[0] * self.kernel[1]
        m.submodules.window = window = WindowGenerator(*self.in_shape, self.kernel, self.stride,
                                                       self.bits)
        m.submodules.reduce = reduce = RegisteredMap(
            window_layout(c, self.bits, self.kernel), pixel_layout(c, self.bits),
            lambda m, x, y: [y[ch].eq(_max_tree([x[k][ch] for k in range(n)]))
                             for ch in range(c)])
        wiring.connect(m, wiring.flipped(self.i), window.i)
        wiring.connect(m, window.o, reduce.i)
        wiring.connect(m, reduce.o, wiring.flipped(self.o))
        return m
