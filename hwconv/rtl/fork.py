"""Broadcast: one stream to several consumers, each taking every beat at its own pace."""
from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Broadcast"]


class Broadcast(wiring.Component):
    """``i`` to ``o[0..n-1]``. A beat is offered to every output until each has taken it
    (``taken`` remembers who has), then the input moves on: no output waits for another
    one's ready in the same cycle, and valid never depends on ready."""

    def __init__(self, layout, n: int):
        self.n = n
        super().__init__({"i": In(stream.Signature(layout)),
                          "o": Out(stream.Signature(layout)).array(n)})

    def elaborate(self, platform):
        m = Module()
        taken = Signal(self.n)
        done = []
        for k, o in enumerate(self.o):
            m.d.comb += [o.payload.eq(self.i.payload), o.valid.eq(self.i.valid & ~taken[k])]
            done.append(taken[k] | o.ready)
        all_done = Signal()
        m.d.comb += [all_done.eq(_all(done)), self.i.ready.eq(all_done)]
        with m.If(self.i.valid):
            with m.If(all_done):
                m.d.sync += taken.eq(0)
            with m.Else():
                m.d.sync += [taken[k].eq(taken[k] | o.ready) for k, o in enumerate(self.o)]
        return m


def _all(bits):
    out = bits[0]
    for b in bits[1:]:
        out = out & b
    return out
