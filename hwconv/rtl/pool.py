"""Streaming pooling: padding, the window generator, then a per-channel reduction; and
global pooling as per-channel accumulators over the whole frame."""
from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .. import ir
from ..fixed import FixedType, requantize_hdl
from .linebuffer import WindowGenerator, window_layout
from .pad import ZeroPad
from .stream import PipelinedMap, RegisteredMap, pixel_layout, pixel_signature, step_raster

__all__ = ["Pool2dUnit", "GlobalPoolUnit", "ChannelReduceUnit", "max_tree", "max_level",
           "argmax_tree"]


def max_level(values):
    """One level of pairwise maxima (an odd last value passes through)."""
    pairs = [Mux(a > b, a, b) for a, b in zip(values[::2], values[1::2])]
    return pairs + values[len(values) & ~1:]


def max_tree(values):
    """Pairwise maxima, log2(n) comparators deep."""
    while len(values) > 1:
        values = max_level(values)
    return values[0]


def max_pipeline(c: int, bits: int, extent, taps) -> PipelinedMap:
    """The maxima of ``taps`` of each window, a pairwise level (`max_level`) per pipeline
    stage: a compare and a select (3 logic levels) per stage, where a 2x2 window's two
    levels in one stage were 9 by the timing proxy."""
    pix = pixel_layout(c, bits)

    def stage(picked):
        def fn(m, x, y):
            values = [[x[k][ch] for k in picked] for ch in range(c)]   # per channel
            levels = [max_level(v) for v in values]
            if len(levels[0]) == 1:
                return [y[ch].eq(lv[0]) for ch, lv in enumerate(levels)]
            return [y[j][ch].eq(v) for ch, lv in enumerate(levels) for j, v in enumerate(lv)]
        return fn

    stages, picked = [], list(taps)
    while True:
        n = (len(picked) + 1) // 2
        stages.append((pix if n == 1 else data.ArrayLayout(pix, n), stage(picked)))
        if n == 1:
            return PipelinedMap(window_layout(c, bits, extent), pix, stages)
        picked = list(range(n))


def mean_hdl(total, count: int, t: FixedType):
    """The hardware of ``reference._mean``: sum times the reciprocal, then requantize."""
    r, s = ir.mean_multiplier(count, t)
    return requantize_hdl(total * Const(r, signed(r.bit_length() + 1)), t.frac + s, t)


class Pool2dUnit(wiring.Component):
    """MaxPool2d, AvgPool2d or SumPool2d: (C, H, W) in, (C, Ho, Wo) out; ``out`` is the
    output type (the input's, but for SumPool2d's wider one)."""

    def __init__(self, node: ir.Pool2d, in_shape, t: FixedType, out: FixedType | None = None):
        self.node, self.in_shape, self.t, self.out = node, tuple(in_shape), t, out or t
        c = in_shape[0]
        super().__init__({"i": In(pixel_signature(c, t.width)),
                          "o": Out(pixel_signature(c, self.out.width))})

    def _reduce(self, values):
        """Sum, average (max pooling is `max_pipeline`)."""
        total = sum(values[1:], values[0])
        if isinstance(self.node, ir.SumPool2d):
            return total
        return mean_hdl(total, self.node.count, self.t)

    def elaborate(self, platform):
        m = Module()
        c, h, w = self.in_shape
        node, bits = self.node, self.t.width
        pads = node.window_pads(self.in_shape)
        top, left, bottom, right = pads
        padded = (c, h + top + bottom, w + left + right)
        # A dilated window spans ``extent`` pixels and reduces only its taps.
        taps = node.tap_indices()
        m.submodules.window = window = WindowGenerator(*padded, node.extent, node.stride, bits)
        if isinstance(node, ir.AvgPool2d) and not node.uniform(self.in_shape):
            reduce = VariableMean(node, self.in_shape, self.t)
        elif isinstance(node, ir.MaxPool2d):
            reduce = max_pipeline(c, bits, node.extent, taps)
        else:
            reduce = RegisteredMap(
                window_layout(c, bits, node.extent), pixel_layout(c, self.out.width),
                lambda m, x, y: [y[ch].eq(self._reduce([x[k][ch] for k in taps]))
                                 for ch in range(c)])
        m.submodules.reduce = reduce
        if any(pads):
            low = self.t.min_int if isinstance(node, ir.MaxPool2d) else 0
            m.submodules.pad = pad = ZeroPad(c, h, w, pads, bits, value=low)
            wiring.connect(m, wiring.flipped(self.i), pad.i)
            wiring.connect(m, pad.o, window.i)
        else:
            wiring.connect(m, wiring.flipped(self.i), window.i)
        wiring.connect(m, window.o, reduce.i)
        wiring.connect(m, reduce.o, wiring.flipped(self.o))
        return m


class VariableMean(wiring.Component):
    """Window sums to means whose divisor depends on the position (count_include_pad=0,
    or ceil mode): one registered stage that counts output positions and picks each
    window's reciprocal multiplier, as ``reference._avgpool``."""

    def __init__(self, node: ir.AvgPool2d, in_shape, t: FixedType):
        self.node, self.in_shape, self.t = node, tuple(in_shape), t
        c = in_shape[0]
        super().__init__({
            "i": In(stream.Signature(window_layout(c, t.width, node.extent))),
            "o": Out(pixel_signature(c, t.width))})

    def elaborate(self, platform):
        m = Module()
        node, t = self.node, self.t
        c = self.in_shape[0]
        ch, cw = node.counts(self.in_shape)
        row, col = Signal(range(len(ch))), Signal(range(len(cw)))
        _, s = ir.mean_multiplier(node.count, t)
        r_bits = ir.mean_multiplier(1, t, node.count)[0].bit_length() + 1
        recip = Signal(signed(r_bits))
        with m.Switch(Cat(col, row)):   # the divisor of this position's window
            for i, a in enumerate(ch):
                for j, b in enumerate(cw):
                    with m.Case(j | (i << len(col))):
                        m.d.comb += recip.eq(ir.mean_multiplier(int(a * b), t, node.count)[0])
        taps = node.tap_indices()
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.i.ready):
            m.d.sync += self.o.valid.eq(self.i.valid)
        with m.If(self.i.valid & self.i.ready):
            step_raster(m, row, col, len(ch), len(cw))
            for k in range(c):
                values = [self.i.payload[p][k] for p in taps]
                total = sum(values[1:], values[0])
                m.d.sync += self.o.payload[k].eq(requantize_hdl(total * recip, t.frac + s, t))
        return m


class GlobalPoolUnit(wiring.Component):
    """(C, H, W) in, one (C, 1, 1) beat out per frame: the mean or maximum per channel,
    accumulated as the pixels stream past (no line buffer)."""

    def __init__(self, node: ir.GlobalPool, in_shape, t: FixedType):
        self.node, self.in_shape, self.t = node, tuple(in_shape), t
        super().__init__({"i": In(pixel_signature(in_shape[0], t.width)),
                          "o": Out(pixel_signature(in_shape[0], t.width))})

    def elaborate(self, platform):
        m = Module()
        c, h, w = self.in_shape
        count = h * w
        row, col = Signal(range(h)), Signal(range(w))
        first, last = (row == 0) & (col == 0), (row == h - 1) & (col == w - 1)
        acc_bits = self.t.width + max(1, (count - 1).bit_length())
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        take = self.i.valid & self.i.ready
        with m.If(take):
            step_raster(m, row, col, h, w)
            with m.If(last):
                m.d.sync += self.o.valid.eq(1)
        for ch in range(c):
            x = self.i.payload[ch]
            acc = Signal(signed(acc_bits), name=f"acc{ch}")
            if self.node.reduces_max:
                total = Mux(first, x, Mux(x > acc, x, acc))
                result = total
            else:
                total = Mux(first, x, acc + x)
                result = mean_hdl(total, count, self.t)
            with m.If(take):
                m.d.sync += acc.eq(total)
                with m.If(last):
                    m.d.sync += self.o.payload[ch].eq(result)
        return m


def argmax_tree(values):
    """(value, index) pairs reduced pairwise; on ties the lower index wins."""
    items = [(v, Const(k, range(len(values)))) for k, v in enumerate(values)]
    while len(items) > 1:
        pairs = [(Mux(b[0] > a[0], b[0], a[0]), Mux(b[0] > a[0], b[1], a[1]))
                 for a, b in zip(items[::2], items[1::2])]
        items = pairs + items[len(items) & ~1:]
    return items[0][1]


class ChannelReduceUnit(RegisteredMap):
    """Max, exact sum or first argmax across the lanes of each beat, into one lane."""

    def __init__(self, lanes: int, t: FixedType, out: FixedType, mode: str):
        def reduce(m, x, y):
            values = [x[k] for k in range(lanes)]
            if mode == "max":
                return [y[0].eq(max_tree(values))]
            if mode == "sum":
                return [y[0].eq(sum(values[1:], values[0]))]
            return [y[0].eq(argmax_tree(values))]
        super().__init__(pixel_layout(lanes, t.width), pixel_layout(1, out.width), reduce)
