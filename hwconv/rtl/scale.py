"""Multiplication by a constant per position (the same for every channel)."""
from __future__ import annotations

import numpy as np
from amaranth import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..fixed import FixedType, requantize_hdl
from .stream import pixel_signature, step_raster

__all__ = ["ScaleUnit"]


class ScaleUnit(wiring.Component):
    """x[c, h, w] * S[h, w], requantized to ``out``: S's codes (type ``ts``) in block RAM,
    read at the position of each beat. Two stages that advance together (ROM read, then
    multiply) and freeze while the output waits."""

    def __init__(self, in_shape, t: FixedType, codes: np.ndarray, ts: FixedType,
                 out: FixedType):
        self.in_shape, self.t, self.codes, self.ts, self.out = tuple(in_shape), t, codes, ts, out
        super().__init__({"i": In(pixel_signature(in_shape[0], t.width)),
                          "o": Out(pixel_signature(in_shape[0], out.width))})

    def elaborate(self, platform):
        m = Module()
        c, h, w = self.in_shape
        mask = (1 << self.ts.width) - 1
        m.submodules.rom = rom = Memory(shape=signed(self.ts.width), depth=h * w,
                                        init=[int(v) for v in self.codes.reshape(-1)])
        rd = rom.read_port()
        row, col = Signal(range(h)), Signal(range(w))
        ce = ~self.o.valid | self.o.ready
        take = self.i.valid & ce
        m.d.comb += [self.i.ready.eq(ce), rd.en.eq(ce), rd.addr.eq(row * w + col)]
        with m.If(take):
            step_raster(m, row, col, h, w)
        x1 = Signal.like(self.i.payload)
        v1 = Signal()
        with m.If(ce):
            m.d.sync += [v1.eq(self.i.valid), x1.eq(self.i.payload), self.o.valid.eq(v1)]
            for k in range(c):
                m.d.sync += self.o.payload[k].eq(
                    requantize_hdl(x1[k] * rd.data, self.t.frac + self.ts.frac, self.out))
        return m
