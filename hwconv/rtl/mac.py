"""Multiply-accumulate engine: windows in, one pixel of output channels out.

For each window it computes, for every output channel o, ``bias[o] + sum(x * w[o])``
over the n window values output o is connected to, ``lanes`` products per cycle, so a
window takes ``outputs * ceil(n / lanes)`` cycles. Weights and biases live in ROMs (block RAM); the
products map onto DSP48E1 (registered inputs, registered product).
"""
from __future__ import annotations

import math

import numpy as np
from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..fixed import FixedType, requantize_hdl
from .linebuffer import window_layout
from .stream import pixel_signature

__all__ = ["MacEngine"]


def _pack(values, bits: int) -> int:
    """Lane 0 in the low bits, two's complement lanes."""
    word = 0
    for k, v in enumerate(values):
        word |= (int(v) & ((1 << bits) - 1)) << (k * bits)
    return word


class MacEngine(wiring.Component):
    """``weights`` (O, C, kh, kw) over the window and ``bias`` (O,) as integers; ``taps``
    (O, C, kh, kw) bool marks the products each output really sums (all of them for a
    dense convolution; a subset for dilated, grouped, depthwise or connection-table ones,
    whose other products are never computed). ``acc`` is the accumulator type (its frac
    is in_frac + weight_frac); ``out`` the output type."""

    def __init__(self, channels: int, kernel, weights: np.ndarray, bias: np.ndarray, *,
                 in_bits: int, weight_bits: int, acc: FixedType, out: FixedType, lanes: int,
                 taps: np.ndarray | None = None):
        self.channels, self.kernel = channels, tuple(kernel)
        weights = np.asarray(weights, np.int64)
        self.bias = np.asarray(bias, np.int64)
        self.outputs = weights.shape[0]
        taps = np.ones(weights.shape, bool) if taps is None else np.asarray(taps, bool)
        # Window order is (i, j, c): flat index (i * kw + j) * C + c.
        flat_taps = taps.transpose(0, 2, 3, 1).reshape(self.outputs, -1)
        flat_w = weights.transpose(0, 2, 3, 1).reshape(self.outputs, -1)
        self.taps = [np.flatnonzero(t) for t in flat_taps]   # window indices per output
        self.tap_weights = [w[t] for w, t in zip(flat_w, self.taps)]
        self.n = max(1, max(len(t) for t in self.taps))
        self.lanes = max(1, min(lanes, self.n))
        self.chunks = math.ceil(self.n / self.lanes)
        # Dense: every output reads the same window values, so the operand select depends
        # on the chunk alone; otherwise on (output, chunk).
        self.shared_taps = all(np.array_equal(t, self.taps[0]) for t in self.taps)
        self.in_bits, self.weight_bits, self.acc, self.out = in_bits, weight_bits, acc, out
        super().__init__({
            "i": In(stream.Signature(window_layout(channels, in_bits, kernel))),
            "o": Out(pixel_signature(self.outputs, out.width))})

    @property
    def cycles_per_window(self) -> int:
        return self.outputs * self.chunks

    def _padded(self, rows, fill) -> np.ndarray:
        """Per-output lists padded to whole chunks: (O * chunks, lanes)."""
        width = self.chunks * self.lanes
        out = np.full((self.outputs, width), fill, dtype=np.int64)
        for o, r in enumerate(rows):
            out[o, :len(r)] = r
        return out.reshape(self.outputs * self.chunks, self.lanes)

    def _rom_words(self) -> list[int]:
        return [_pack(row, self.weight_bits) for row in self._padded(self.tap_weights, 0)]

    def elaborate(self, platform):
        m = Module()
        L, O, nch = self.lanes, self.outputs, self.chunks
        wb, xb = self.weight_bits, self.in_bits

        m.submodules.weight_rom = wrom = Memory(
            shape=unsigned(L * wb), depth=O * nch, init=self._rom_words())
        m.submodules.bias_rom = brom = Memory(
            shape=signed(self.acc.width), depth=O, init=[int(b) for b in self.bias])
        wrd, brd = wrom.read_port(), brom.read_port()

        # The whole pipeline advances together, and freezes while a finished pixel waits.
        ce = ~self.o.valid | self.o.ready
        co, ch, addr = Signal(range(O)), Signal(range(nch)), Signal(range(O * nch))
        last_chunk, last_out = ch == nch - 1, co == O - 1
        m.d.comb += self.i.ready.eq(ce & last_chunk & last_out)

        window = [self.i.payload[k // self.channels][k % self.channels]
                  for k in range(self.channels * self.kernel[0] * self.kernel[1])]
        select = self._padded(self.taps, -1)   # -1: a padding lane, operand 0
        m.d.comb += [wrd.addr.eq(addr), wrd.en.eq(ce),
                     brd.addr.eq(co), brd.en.eq(ce)]

        # Stage 1: operands (the weight and bias ROM outputs arrive in this stage too).
        v1, first1, last1 = Signal(), Signal(), Signal()
        co1 = Signal(range(O))
        # Datapath registers need no reset (the valid bits have one): faster to simulate
        # and what the DSP48E1 register slices want.
        x1 = [Signal(signed(xb), name=f"x1_{l}", reset_less=True) for l in range(L)]
        # Stage 2: products. Stage 3: their sum. Stage 4: the finished accumulator.
        p2 = [Signal(signed(xb + wb), name=f"p2_{l}", reset_less=True) for l in range(L)]
        s3 = Signal(signed(xb + wb + max(1, math.ceil(math.log2(L))) if L > 1 else xb + wb),
                    reset_less=True)
        acc = Signal(signed(self.acc.width), reset_less=True)
        v2, v3, v4, first2, first3, last2, last3 = (Signal(name=n) for n in
                                                     ("v2", "v3", "v4", "first2", "first3",
                                                      "last2", "last3"))
        co2, co3, co4 = (Signal(range(O), name=n) for n in ("co2", "co3", "co4"))
        b2, b3 = (Signal(signed(self.acc.width), reset_less=True) for _ in range(2))

        out = Signal(self.o.payload.shape(), reset_less=True)
        m.d.comb += self.o.payload.eq(out)
        # One requantizer, shared by all output channels.
        result = Signal(signed(self.out.width))
        m.d.comb += result.eq(requantize_hdl(acc, self.acc.frac, self.out))

        with m.If(ce):
            with m.If(self.i.valid):
                m.d.sync += addr.eq(Mux(addr == O * nch - 1, 0, addr + 1))
                with m.If(last_chunk):
                    m.d.sync += [ch.eq(0), co.eq(Mux(last_out, 0, co + 1))]
                with m.Else():
                    m.d.sync += ch.eq(ch + 1)
            with m.Switch(ch if self.shared_taps else addr):
                for row in range(nch if self.shared_taps else O * nch):
                    with m.Case(row):
                        m.d.sync += [x1[l].eq(window[k] if k >= 0 else 0)
                                     for l, k in enumerate(select[row])]
            m.d.sync += [v1.eq(self.i.valid), first1.eq(ch == 0), last1.eq(last_chunk),
                         co1.eq(co)]
            w1 = [wrd.data[l * wb:(l + 1) * wb].as_signed() for l in range(L)]
            m.d.sync += [p2[l].eq(x1[l] * w1[l]) for l in range(L)]
            m.d.sync += [v2.eq(v1), first2.eq(first1), last2.eq(last1), co2.eq(co1),
                         b2.eq(brd.data)]
            m.d.sync += s3.eq(sum(p2[1:], p2[0]))
            m.d.sync += [v3.eq(v2), first3.eq(first2), last3.eq(last2), co3.eq(co2),
                         b3.eq(b2)]
            with m.If(v3):
                m.d.sync += acc.eq(Mux(first3, b3, acc) + s3)
            m.d.sync += [v4.eq(v3 & last3), co4.eq(co3)]
            with m.If(v4):
                with m.Switch(co4):
                    for o in range(O):
                        with m.Case(o):
                            m.d.sync += out[o].eq(result)
            m.d.sync += self.o.valid.eq(v4 & (co4 == O - 1))
        return m
