"""Multiply-accumulate engine: windows in, one pixel of output channels out.

For each window it computes, for every output channel o, ``bias[o] + sum(x * w[o])``
over the n window values output o is connected to, ``lanes`` products per cycle, so a
window takes ``outputs * ceil(n / lanes)`` cycles. Weights and biases live in ROMs (block RAM); the
products map onto DSP48E1 (registered inputs, registered product).
"""
from __future__ import annotations

import math

import numpy as np
from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..fixed import FixedType, requantize_hdl
from .linebuffer import window_layout
from .stream import pixel_signature

__all__ = ["MacEngine", "SELECT_FANIN"]

SELECT_FANIN = 16    # window values one operand mux chooses among, per pipeline stage


def _pack(values, bits: int) -> int:
    """Lane 0 in the low bits, two's complement lanes."""
    word = 0
    for k, v in enumerate(values):
        word |= (int(v) & ((1 << bits) - 1)) << (k * bits)
    return word


def _sum_within(m: Module, terms, bits: int, name: str):
    """The sum of signed ``terms`` whose total fits ``bits`` (<= 64). Up to 32 terms: one
    chain one bit wider per term, as Yosys wants it (it packs the chain into DSP48E1
    post-adders; named partial sums would stop that). Beyond 32 terms, chains of 32
    joined through 64-bit partial sums: exact (every partial sum fits ``bits``), and
    Verilator adds in machine words instead of multi-word vectors (157 lanes in one chain
    grew to 189 bits, ~3x slower to simulate). The chains are joined pairwise, a tree:
    five chains (157 lanes) in three adders deep instead of four, 6 logic levels by the
    timing proxy instead of 8."""
    assert bits <= 64
    sums = [sum(terms[i + 1:i + 32], terms[i]) for i in range(0, len(terms), 32)]
    k = 0
    while len(sums) > 1:
        joined = []
        for a, b in zip(sums[0::2], sums[1::2]):
            partial = Signal(signed(64), name=f"{name}_{k}")
            m.d.comb += partial.eq(a + b)
            joined.append(partial)
            k += 1
        sums = joined + sums[len(joined) * 2:]
    return sums[0]


class MacEngine(wiring.Component):
    """``weights`` (O, C, kh, kw) over the window and ``bias`` (O,) as integers; ``taps``
    (O, C, kh, kw) bool marks the products each output really sums (all of them for a
    dense convolution; a subset for dilated, grouped, depthwise or connection-table ones,
    whose other products are never computed). ``acc`` is the accumulator type (its frac
    is in_frac + weight_frac); ``out`` the output type."""

    def __init__(self, channels: int, kernel, weights: np.ndarray, bias: np.ndarray, *,
                 in_bits: int, weight_bits: int, acc: FixedType, out: FixedType, lanes: int,
                 taps: np.ndarray | None = None, out_lanes: int = 1, logic_lanes: int = 0):
        self.channels, self.kernel = channels, tuple(kernel)
        weights = np.asarray(weights, np.int64)
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
        # Outputs computed side by side (each with its own lanes of multipliers), in
        # groups: output o = group * out_lanes + k.
        self.out_lanes = max(1, min(out_lanes, self.outputs))
        self.groups = math.ceil(self.outputs / self.out_lanes)
        padded = self.groups * self.out_lanes - self.outputs   # outputs that are discarded
        self.taps += [np.zeros(0, np.int64)] * padded
        self.tap_weights += [np.zeros(0, np.int64)] * padded
        self.bias = np.concatenate([np.asarray(bias, np.int64), np.zeros(padded, np.int64)])
        # Dense: every output reads the same window values, so the operand select depends
        # on the chunk alone; otherwise on (group, chunk).
        self.shared_taps = all(np.array_equal(t, self.taps[0]) for t in self.taps[:self.outputs])
        if self.shared_taps:
            self.taps = [self.taps[0]] * len(self.taps)
        self.in_bits, self.weight_bits, self.acc, self.out = in_bits, weight_bits, acc, out
        # The weights of the last ``logic_lanes`` multipliers live in a ROM that Yosys is
        # told to build from LUTs (rom_style "logic"): block RAM is what runs out first on
        # a large network (scene3's last layer alone holds 12.8 Mbit of 16-bit weights).
        self.logic_lanes = max(0, min(int(logic_lanes), self.lanes * self.out_lanes))
        super().__init__({
            "i": In(stream.Signature(window_layout(channels, in_bits, kernel))),
            "o": Out(pixel_signature(self.outputs, out.width))})

    @property
    def cycles_per_window(self) -> int:
        return self.groups * self.chunks

    @property
    def multipliers(self) -> int:
        return self.lanes * self.out_lanes

    def _padded(self, rows, fill) -> np.ndarray:
        """Per-output lists padded to whole chunks: (outputs incl. padding, chunks, lanes)."""
        width = self.chunks * self.lanes
        out = np.full((len(rows), width), fill, dtype=np.int64)
        for o, r in enumerate(rows):
            out[o, :len(r)] = r
        return out.reshape(len(rows), self.chunks, self.lanes)

    def _rom_words(self) -> list[int]:
        """One word per (group, chunk): the group's outputs side by side, lanes within."""
        w = self._padded(self.tap_weights, 0).reshape(self.groups, self.out_lanes,
                                                      self.chunks, self.lanes)
        return [_pack(w[g, :, c].reshape(-1), self.weight_bits)
                for g in range(self.groups) for c in range(self.chunks)]

    def elaborate(self, platform):
        m = Module()
        L, P, G, nch = self.lanes, self.out_lanes, self.groups, self.chunks
        wb, xb, ab = self.weight_bits, self.in_bits, self.acc.width

        words = self._rom_words()
        split = (P * L - self.logic_lanes) * wb     # bits below it in block RAM
        reads = []
        if split:
            m.submodules.weight_rom = wrom = Memory(
                shape=unsigned(split), depth=G * nch,
                init=[w & ((1 << split) - 1) for w in words])
            reads.append(wrom.read_port())
        if self.logic_lanes:
            m.submodules.weight_rom_logic = lrom = Memory(
                shape=unsigned(P * L * wb - split), depth=G * nch,
                init=[w >> split for w in words], attrs={"rom_style": "logic"})
            reads.append(lrom.read_port())
        m.submodules.bias_rom = brom = Memory(
            shape=unsigned(P * ab), depth=G,
            init=[_pack(self.bias[g * P:(g + 1) * P], ab) for g in range(G)])
        brd = brom.read_port()
        wdata = Cat(*(r.data for r in reads))

        # The whole pipeline advances together, and freezes while a finished pixel waits.
        ce = ~self.o.valid | self.o.ready
        grp, ch, addr = Signal(range(G)), Signal(range(nch)), Signal(range(G * nch))
        # Whether ch and grp are at their last values, kept in registers beside them: the
        # comparators (sharing the counters' carry chains) sat on the ready chain.
        last_chunk = Signal(init=nch == 1)
        last_group = Signal(init=G == 1)
        m.d.comb += self.i.ready.eq(ce & last_chunk & last_group)

        window = [self.i.payload[k // self.channels][k % self.channels]
                  for k in range(self.channels * self.kernel[0] * self.kernel[1])]
        select = self._padded(self.taps, -1)   # -1: a padding lane, operand 0
        operand_sets = 1 if self.shared_taps else P
        # The operands of each row (a chunk, or a (group, chunk) when outputs differ).
        rows = nch if self.shared_taps else G * nch
        row = ch if self.shared_taps else addr

        def operand(p, r, l):
            g, c = (0, r) if self.shared_taps else divmod(r, nch)
            k = select[g * P + p, c][l]
            return window[k] if k >= 0 else 0

        # Stage 0, when a lane chooses among more than SELECT_FANIN rows: each lane takes
        # one value per block of SELECT_FANIN rows (by the row's low bits), and stage 1
        # the block (by its high bits): two muxes of at most 16 inputs, 3 logic levels
        # each (LUT6, MUXF7, MUXF8), where one 256-input mux was 6 and more (the timing
        # proxy's budget is 6). One more cycle of latency; the ROMs read a cycle later.
        blocks = -(-rows // SELECT_FANIN) if rows > SELECT_FANIN else 0
        if blocks:
            lo_bits = SELECT_FANIN.bit_length() - 1
            x0 = [[[Signal(signed(xb), name=f"x0_{p}_{l}_{b}", reset_less=True)
                    for b in range(blocks)] for l in range(L)] for p in range(operand_sets)]
            v0, first0, last0 = Signal(), Signal(), Signal()
            g0, addr0 = Signal(range(G)), Signal(range(G * nch))
            block0 = Signal(range(blocks))
            rom_addr, bias_addr = addr0, g0
        else:
            rom_addr, bias_addr = addr, grp
        m.d.comb += [brd.addr.eq(bias_addr), brd.en.eq(ce)]
        m.d.comb += [x for r in reads for x in (r.addr.eq(rom_addr), r.en.eq(ce))]

        # Stage 1: operands (the weight and bias ROM outputs arrive in this stage too).
        # Datapath registers need no reset (the valid bits have one): faster to simulate
        # and what the DSP48E1 register slices want.
        v1, first1, last1 = Signal(), Signal(), Signal()
        g1 = Signal(range(G))
        x1 = [[Signal(signed(xb), name=f"x1_{p}_{l}", reset_less=True) for l in range(L)]
              for p in range(operand_sets)]
        # Stage 2: products. Stage 3: their sums. Stage 4: the finished accumulators.
        p2 = [[Signal(signed(xb + wb), name=f"p2_{p}_{l}", reset_less=True) for l in range(L)]
              for p in range(P)]
        sum_bits = xb + wb + (max(1, math.ceil(math.log2(L))) if L > 1 else 0)
        s3 = [Signal(signed(sum_bits), name=f"s3_{p}", reset_less=True) for p in range(P)]
        acc = [Signal(signed(ab), name=f"acc_{p}", reset_less=True) for p in range(P)]
        b2 = [Signal(signed(ab), name=f"b2_{p}", reset_less=True) for p in range(P)]
        b3 = [Signal(signed(ab), name=f"b3_{p}", reset_less=True) for p in range(P)]
        v2, v3, v4, first2, first3, last2, last3 = (Signal(name=n) for n in
                                                     ("v2", "v3", "v4", "first2", "first3",
                                                      "last2", "last3"))
        g2, g3, g4 = (Signal(range(G), name=n) for n in ("g2", "g3", "g4"))

        out = Signal(self.o.payload.shape(), reset_less=True)
        m.d.comb += self.o.payload.eq(out)
        # One requantizer per output lane, shared by the groups.
        results = [Signal(signed(self.out.width), name=f"result_{p}") for p in range(P)]
        m.d.comb += [r.eq(requantize_hdl(a, self.acc.frac, self.out))
                     for r, a in zip(results, acc)]

        with m.If(ce):
            with m.If(self.i.valid):
                m.d.sync += addr.eq(Mux(addr == G * nch - 1, 0, addr + 1))
                with m.If(last_chunk):
                    m.d.sync += [ch.eq(0), grp.eq(Mux(last_group, 0, grp + 1)),
                                 last_chunk.eq(nch == 1),
                                 last_group.eq(Mux(last_group, G == 1, grp == G - 2))]
                with m.Else():
                    m.d.sync += [ch.eq(ch + 1), last_chunk.eq(ch == nch - 2)]
            if blocks:
                with m.Switch(row[:lo_bits]):
                    for j in range(SELECT_FANIN):
                        with m.Case(j):
                            m.d.sync += [x0[p][l][b].eq(operand(p, b * SELECT_FANIN + j, l))
                                         for p in range(operand_sets) for l in range(L)
                                         for b in range(blocks)
                                         if b * SELECT_FANIN + j < rows]
                m.d.sync += [v0.eq(self.i.valid), first0.eq(ch == 0), last0.eq(last_chunk),
                             g0.eq(grp), addr0.eq(addr), block0.eq(row[lo_bits:])]
                with m.Switch(block0):
                    for b in range(blocks):
                        with m.Case(b):
                            m.d.sync += [x1[p][l].eq(x0[p][l][b])
                                         for p in range(operand_sets) for l in range(L)]
                m.d.sync += [v1.eq(v0), first1.eq(first0), last1.eq(last0), g1.eq(g0)]
            else:
                with m.Switch(row):
                    for r in range(rows):
                        with m.Case(r):
                            m.d.sync += [x1[p][l].eq(operand(p, r, l))
                                         for p in range(operand_sets) for l in range(L)]
                m.d.sync += [v1.eq(self.i.valid), first1.eq(ch == 0), last1.eq(last_chunk),
                             g1.eq(grp)]
            for p in range(P):
                xs = x1[0 if self.shared_taps else p]
                w1 = [wdata[(p * L + l) * wb:(p * L + l + 1) * wb].as_signed()
                      for l in range(L)]
                m.d.sync += [p2[p][l].eq(xs[l] * w1[l]) for l in range(L)]
                m.d.sync += [b2[p].eq(brd.data[p * ab:(p + 1) * ab].as_signed()),
                             s3[p].eq(_sum_within(m, p2[p], sum_bits, f"sum_{p}")), b3[p].eq(b2[p])]
                with m.If(v3):
                    m.d.sync += acc[p].eq(Mux(first3, b3[p], acc[p]) + s3[p])
            m.d.sync += [v2.eq(v1), first2.eq(first1), last2.eq(last1), g2.eq(g1)]
            m.d.sync += [v3.eq(v2), first3.eq(first2), last3.eq(last2), g3.eq(g2)]
            m.d.sync += [v4.eq(v3 & last3), g4.eq(g3)]
            with m.If(v4):
                with m.Switch(g4):
                    for g in range(G):
                        with m.Case(g):
                            m.d.sync += [out[g * P + p].eq(results[p]) for p in range(P)
                                         if g * P + p < self.outputs]
            m.d.sync += self.o.valid.eq(v4 & (g4 == G - 1))
        return m
