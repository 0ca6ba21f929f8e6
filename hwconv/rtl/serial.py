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

from .stream import SkidBuffer, pixel_layout, pixel_signature

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
    given out when its last group arrives. Groups before the last never wait.

    A skid buffer on each side of the core: the group select (a C/lanes-way multiplexer)
    and the gather's write enables no longer share a path with the core's own ready chain
    (scene3's 64-channel tanh: 7 logic levels into 512 gather flip-flops by the timing
    proxy). Two cycles more latency, the same throughput."""

    def __init__(self, channels: int, lanes: int, in_width: int, out_width: int, core):
        self.channels, self.lanes, self.core = channels, lanes, core
        self.in_width, self.out_width = in_width, out_width
        self.steps = math.ceil(channels / lanes)
        super().__init__({"i": In(pixel_signature(channels, in_width)),
                          "o": Out(pixel_signature(channels, out_width))})

    def elaborate(self, platform):
        m = Module()
        C, L, n = self.channels, self.lanes, self.steps
        m.submodules.core = self.core
        m.submodules.core_in = core_in = SkidBuffer(pixel_layout(L, self.in_width))
        m.submodules.core_out = core_out = SkidBuffer(pixel_layout(L, self.out_width))
        wiring.connect(m, core_in.o, self.core.i)
        wiring.connect(m, self.core.o, core_out.i)
        into, back = core_in.i, core_out.o     # the core's input and output, as seen here
        # Split: group k of the beat in front goes to the core.
        k_in = Signal(range(n))
        last_in = k_in == n - 1
        m.d.comb += into.valid.eq(self.i.valid)
        m.d.comb += self.i.ready.eq(into.ready & last_in)
        with m.Switch(k_in):
            for k in range(n):
                with m.Case(k):
                    m.d.comb += [into.payload[j].eq(self.i.payload[k * L + j])
                                 for j in range(L) if k * L + j < C]
        with m.If(into.valid & into.ready):
            m.d.sync += k_in.eq(Mux(last_in, 0, k_in + 1))
        # Gather: groups before the last wait in ``held``; the last fills the output. The
        # group arriving is marked in a one-hot register, so each group's write enable is
        # the beat and one bit (a binary count decoded 64 ways was 7 logic levels).
        slot = Signal(n, init=1)
        last_out = slot[n - 1]
        held = Signal(self.o.payload.shape(), reset_less=True)
        out = Signal(self.o.payload.shape(), reset_less=True)
        m.d.comb += self.o.payload.eq(out)
        m.d.comb += back.ready.eq(~last_out | ~self.o.valid | self.o.ready)
        beat = back.valid & back.ready
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(beat):
            m.d.sync += slot.eq(slot.rotate_left(1))
        for k in range(n):
            dst = out if k == n - 1 else held
            with m.If(beat & slot[k]):
                m.d.sync += [dst[k * L + j].eq(back.payload[j])
                             for j in range(L) if k * L + j < C]
                if k == n - 1:
                    m.d.sync += [out[c].eq(held[c]) for c in range(k * L)]
                    m.d.sync += self.o.valid.eq(1)
        return m
