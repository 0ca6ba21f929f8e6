"""Relayout: a frame written into block RAM in stream order and read out in another."""
from __future__ import annotations

import numpy as np
from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .stream import pixel_layout, pixel_signature

__all__ = ["RelayoutUnit", "relayout_codes"]


def _bits(n: int) -> int:
    return max(1, (n - 1).bit_length())


def relayout_codes(in_shape, out_shape, index: np.ndarray) -> list[int]:
    """The read order: for each output value in stream order (pixel by pixel, lane by
    lane), the input value it is, as (lane << position bits) | position in the frame."""
    ci, hi, wi = in_shape
    co, ho, wo = out_shape
    src = np.asarray(index, dtype=np.int64).reshape(co, ho * wo).T.reshape(-1)
    pos, lane = src % (hi * wi), src // (hi * wi)
    return [int(v) for v in (lane << _bits(hi * wi)) | pos]


class RelayoutUnit(wiring.Component):
    """(Ci, Hi, Wi) in, (Co, Ho, Wo) out: output value i (C-major) is input value
    ``index.flat[i]``. Two frame banks in block RAM, so one frame is written while the
    one before is read: the writer fills a bank beat by beat, the reader walks a ROM of
    read addresses and gathers one value per cycle into the output beat's lanes.

    The read side is three stages that advance together while the output register is
    free (ROM read, frame read, lane select into the beat being gathered); a bank is
    given back to the writer when its last value has been read."""

    def __init__(self, in_shape, out_shape, index: np.ndarray, bits: int):
        self.in_shape, self.out_shape = tuple(in_shape), tuple(out_shape)
        self.index, self.bits = np.asarray(index), bits
        super().__init__({"i": In(pixel_signature(in_shape[0], bits)),
                          "o": Out(pixel_signature(out_shape[0], bits))})

    def elaborate(self, platform):
        m = Module()
        ci, hi, wi = self.in_shape
        co, ho, wo = self.out_shape
        n_in, n_out, bits = hi * wi, co * ho * wo, self.bits
        pos_bits = _bits(n_in)

        m.submodules.frames = frames = Memory(shape=pixel_layout(ci, bits), depth=2 * n_in,
                                              init=[])
        wr, rd = frames.write_port(), frames.read_port()
        m.submodules.order = order = Memory(
            shape=unsigned(pos_bits + _bits(ci)), depth=n_out,
            init=relayout_codes(self.in_shape, self.out_shape, self.index))
        rom = order.read_port()

        full = Signal(2)            # bank k holds a whole frame not yet read out
        fill, drain = Signal(2), Signal(2)
        m.d.sync += full.eq((full | fill) & ~drain)

        # Writer: beats into bank wbank, in stream order.
        wbank, wpos = Signal(), Signal(range(n_in))
        m.d.comb += self.i.ready.eq(~full.bit_select(wbank, 1))
        take = self.i.valid & self.i.ready
        m.d.comb += [wr.addr.eq(wbank * n_in + wpos), wr.data.eq(self.i.payload),
                     wr.en.eq(take)]
        with m.If(take):
            with m.If(wpos == n_in - 1):
                m.d.sync += [wpos.eq(0), wbank.eq(~wbank)]
                m.d.comb += fill.bit_select(wbank, 1).eq(1)
            with m.Else():
                m.d.sync += wpos.eq(wpos + 1)

        # Reader, stage 0: the next value's ROM read.
        ce = ~self.o.valid | self.o.ready
        rbank, j, lane = Signal(), Signal(range(n_out)), Signal(range(max(co, 2)))
        issue = full.bit_select(rbank, 1) & ce
        m.d.comb += [rom.addr.eq(j), rom.en.eq(ce)]
        with m.If(issue):
            m.d.sync += lane.eq(Mux(lane == co - 1, 0, lane + 1))
            with m.If(j == n_out - 1):
                m.d.sync += [j.eq(0), lane.eq(0), rbank.eq(~rbank)]
            with m.Else():
                m.d.sync += j.eq(j + 1)
        # Stage 1: the frame read at the ROM's address.
        v1, bank1, lane1, end1 = Signal(), Signal(), Signal.like(lane), Signal()
        m.d.comb += [rd.addr.eq(bank1 * n_in + rom.data[:pos_bits]), rd.en.eq(ce)]
        # Stage 2: the value's lane of the word read.
        v2, bank2, lane2, end2 = Signal(), Signal(), Signal.like(lane), Signal()
        src2 = Signal(range(max(ci, 2)))
        with m.If(ce):
            m.d.sync += [v1.eq(issue), bank1.eq(rbank), lane1.eq(lane),
                         end1.eq(j == n_out - 1),
                         v2.eq(v1), bank2.eq(bank1), lane2.eq(lane1), end2.eq(end1),
                         src2.eq(rom.data[pos_bits:])]
        value = rd.data.as_value().word_select(src2, bits)
        gathered = Signal(pixel_layout(co, bits), reset_less=True)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(ce & v2):
            for k in range(co - 1):
                with m.If(lane2 == k):
                    m.d.sync += gathered[k].eq(value)
            with m.If(lane2 == co - 1):
                m.d.sync += self.o.valid.eq(1)
                m.d.sync += [self.o.payload[k].eq(gathered[k]) for k in range(co - 1)]
                m.d.sync += self.o.payload[co - 1].eq(value)
            with m.If(end2):
                m.d.comb += drain.bit_select(bank2, 1).eq(1)
        return m
