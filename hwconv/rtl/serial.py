"""Channels in turn: a per-channel unit with fewer lanes than the map has channels.

A unit after a slow convolution gets a pixel every few hundred cycles, so a tanh with a
lane (a table copy and a DSP48E1) per channel idles almost always. ``LaneSerial`` feeds the
pixel's channels through a ``lanes``-wide core a group at a time and gathers the results
into one pixel again: ``ceil(C / lanes)`` cycles per pixel, same values, the core's
resources divided by about ``C / lanes``.

A layer's setting ``("serial", lanes)`` (a list once stored as JSON) asks for it.
"""
from __future__ import annotations

import math

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .stream import pixel_signature

__all__ = ["LaneSerial", "serial_lanes"]


def serial_lanes(setting, channels: int) -> int:
    """Lanes a per-channel unit gets from its layer's setting: ``("serial", n)`` gives n
    (at most ``channels``), anything else one lane per channel."""
    if isinstance(setting, (tuple, list)) and len(setting) == 2 and setting[0] == "serial":
        return max(1, min(int(setting[1]), channels))
    return channels


class LaneSerial(wiring.Component):
    """``channels`` lanes of ``in_width`` bits in, the same out at ``out_width``, through
    ``core`` (a component with ``lanes`` lanes), ``lanes`` channels per cycle.

    In front, a beat is split into groups (the last one padded with zeros) and taken when
    its last group is; behind, the groups are gathered into a register, and the pixel is
    given out when its last group arrives. Groups before the last never wait."""

    def __init__(self, channels: int, lanes: int, in_width: int, out_width: int, core):
        self.channels, self.lanes, self.core = channels, lanes, core
        self.steps = math.ceil(channels / lanes)
        super().__init__({"i": In(pixel_signature(channels, in_width)),
                          "o": Out(pixel_signature(channels, out_width))})

    def elaborate(self, platform):
        m = Module()
        C, L, n = self.channels, self.lanes, self.steps
        m.submodules.core = core = self.core
        # Split: group k of the beat in front goes to the core.
        k_in = Signal(range(n))
        last_in = k_in == n - 1
        m.d.comb += core.i.valid.eq(self.i.valid)
        m.d.comb += self.i.ready.eq(core.i.ready & last_in)
        with m.Switch(k_in):
            for k in range(n):
                with m.Case(k):
                    m.d.comb += [core.i.payload[j].eq(self.i.payload[k * L + j])
                                 for j in range(L) if k * L + j < C]
        with m.If(core.i.valid & core.i.ready):
            m.d.sync += k_in.eq(Mux(last_in, 0, k_in + 1))
        # Gather: groups before the last wait in ``held``; the last fills the output.
        k_out = Signal(range(n))
        last_out = k_out == n - 1
        held = Signal(self.o.payload.shape(), reset_less=True)
        out = Signal(self.o.payload.shape(), reset_less=True)
        m.d.comb += self.o.payload.eq(out)
        m.d.comb += core.o.ready.eq(~last_out | ~self.o.valid | self.o.ready)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(core.o.valid & core.o.ready):
            m.d.sync += k_out.eq(Mux(last_out, 0, k_out + 1))
            with m.Switch(k_out):
                for k in range(n):
                    with m.Case(k):
                        dst = out if k == n - 1 else held
                        m.d.sync += [dst[k * L + j].eq(core.o.payload[j])
                                     for j in range(L) if k * L + j < C]
                        if k == n - 1:
                            m.d.sync += [out[c].eq(held[c]) for c in range(k * L)]
                            m.d.sync += self.o.valid.eq(1)
        return m
