"""Streaming 2-D convolution: zero padding, line buffer and window, multiply-accumulate."""
from __future__ import annotations

import numpy as np
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..fixed import FixedType
from .linebuffer import WindowGenerator, serial_pays
from .mac import MacEngine
from .pad import ZeroPad
from .stream import pixel_signature

__all__ = ["Conv2dUnit"]


class Conv2dUnit(wiring.Component):
    """(C, H, W) map in, (O, Ho, Wo) map out, bit-exact with ``hwconv.reference``.

    ``weights`` (O, C, kh, kw) and ``bias`` (O,) are integers (weights in ``weight_bits``,
    bias at the accumulator's scale), ``taps`` the products that count (see MacEngine);
    ``lanes`` multipliers work on each of ``out_lanes`` outputs in parallel.
    """

    def __init__(self, in_shape, weights: np.ndarray, bias: np.ndarray, *, stride=(1, 1),
                 pads=(0, 0, 0, 0), in_fixed: FixedType, weight_bits: int, acc: FixedType,
                 out: FixedType, lanes: int, taps: np.ndarray | None = None,
                 out_lanes: int = 1, logic_lanes: int = 0):
        c, h, w = in_shape
        top, left, bottom, right = pads
        self.padded = (c, h + top + bottom, w + left + right)
        self.in_shape, self.pads, self.stride = tuple(in_shape), tuple(pads), tuple(stride)
        self.kernel = tuple(weights.shape[2:])
        self.mac = MacEngine(c, self.kernel, weights, bias, in_bits=in_fixed.width,
                             weight_bits=weight_bits, acc=acc, out=out, lanes=lanes,
                             taps=taps, out_lanes=out_lanes, logic_lanes=logic_lanes)
        # A slow MAC engine leaves time to read the line buffer a row at a time, from a
        # memory (kh - 1) times deeper and narrower: far fewer block RAMs.
        _, hp, wp = self.padded
        windows = ((hp - self.kernel[0]) // self.stride[0] + 1) * \
            ((wp - self.kernel[1]) // self.stride[1] + 1)
        self.serial = serial_pays(self.kernel, self.stride, (hp, wp), windows,
                                  self.mac.cycles_per_window)
        super().__init__({"i": In(pixel_signature(c, in_fixed.width)),
                          "o": Out(pixel_signature(weights.shape[0], out.width))})

    def elaborate(self, platform):
        m = Module()
        c, h, w = self.in_shape
        bits = self.mac.in_bits
        m.submodules.window = window = WindowGenerator(
            *self.padded, self.kernel, self.stride, bits,
            decoupled=self.mac.cycles_per_window > 1, serial=self.serial)
        m.submodules.mac = self.mac
        if any(self.pads):
            m.submodules.pad = pad = ZeroPad(c, h, w, self.pads, bits)
            wiring.connect(m, wiring.flipped(self.i), pad.i)
            wiring.connect(m, pad.o, window.i)
        else:
            wiring.connect(m, wiring.flipped(self.i), window.i)
        wiring.connect(m, window.o, self.mac.i)
        wiring.connect(m, self.mac.o, wiring.flipped(self.o))
        return m
