"""FrameArbiter: several transmit streams into one, a whole frame at a time."""
from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .common import tx_stream

__all__ = ["FrameArbiter"]


class FrameArbiter(wiring.Component):
    """Inputs ``i0`` ... ``i<n-1>`` (tx streams with ``meta``) to ``o``, round robin
    between frames.  The grant is taken in the cycle an input is first offered and held
    to its last byte: the output's beat (and its meta, which a transmit layer reads while
    it sends a header) never changes before it is taken."""

    def __init__(self, n: int, meta: dict):
        self.n = n
        super().__init__({**{f"i{k}": In(tx_stream(meta)) for k in range(n)},
                          "o": Out(tx_stream(meta))})

    def elaborate(self, platform):
        m = Module()
        ins = [getattr(self, f"i{k}") for k in range(self.n)]
        o = self.o
        locked = Signal()
        grant = Signal(range(self.n))       # while locked: the input being sent
        after = Signal(range(self.n))       # the last one granted: it comes last next time
        choice = Signal(range(self.n))
        # Round robin: the first valid input after ``after``.
        for step in reversed(range(1, self.n + 1)):
            for k in range(self.n):
                with m.If((after == (k - step) % self.n) & ins[k].valid):
                    m.d.comb += choice.eq(k)
        sel = Signal(range(self.n))
        m.d.comb += sel.eq(choice)
        with m.If(locked):
            m.d.comb += sel.eq(grant)
        with m.Else():
            with m.If(o.valid):
                m.d.sync += [locked.eq(1), grant.eq(choice), after.eq(choice)]
        with m.Switch(sel):
            for k, s in enumerate(ins):
                with m.Case(k):
                    m.d.comb += [o.valid.eq(s.valid), o.payload.eq(s.payload),
                                 s.ready.eq(o.ready)]
        with m.If(o.valid & o.ready & o.payload.last):
            m.d.sync += locked.eq(0)
        return m
