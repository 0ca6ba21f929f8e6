"""The FIFO in front of every unit: amaranth.lib.fifo.SyncFIFOBuffered, flags registered."""
from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory

__all__ = ["BufferedFIFO"]


class BufferedFIFO(SyncFIFOBuffered):
    """SyncFIFOBuffered, cycle for cycle, with ``w_rdy`` and the inner queue's non-empty
    flag held in registers instead of compared against ``level`` each cycle.

    A unit's ``i.ready`` follows its ``o.ready``, which is the next FIFO's ``w_rdy``; the
    chain runs on into the FIFO in front and ends at its level counter. With ``w_rdy`` a
    flip-flop, the comparator (two logic levels on a 10-bit level) leaves that chain: it
    was the deepest path of LeNet by the timing proxy. Depth 0 and 1 are SyncFIFOBuffered's.
    """

    def elaborate(self, platform):
        if self.depth < 2:
            return super().elaborate(platform)
        m = Module()
        inner_depth = self.depth - 1
        inner_level = Signal(range(inner_depth + 1))
        full, nonempty = Signal(), Signal()
        do_write = self.w_rdy & self.w_en
        do_inner_read = nonempty & (~self.r_rdy | self.r_en)
        m.d.comb += [self.w_rdy.eq(~full), self.w_level.eq(self.level),
                     self.r_level.eq(self.level), self.level.eq(inner_level + self.r_rdy)]

        m.submodules.storage = storage = Memory(shape=self.width, depth=inner_depth, init=[])
        w_port, r_port = storage.write_port(), storage.read_port(domain="sync")
        produce, consume = Signal(range(inner_depth)), Signal(range(inner_depth))

        def incr(v):
            return Mux(v == inner_depth - 1, 0, v + 1)

        m.d.comb += [w_port.addr.eq(produce), w_port.data.eq(self.w_data),
                     w_port.en.eq(do_write),
                     r_port.addr.eq(consume), r_port.en.eq(do_inner_read),
                     self.r_data.eq(r_port.data)]
        with m.If(do_write):
            m.d.sync += produce.eq(incr(produce))
        with m.If(do_inner_read):
            m.d.sync += consume.eq(incr(consume))
        # The flags follow inner_level: full at inner_depth, non-empty above 0.
        with m.If(do_write & ~do_inner_read):
            m.d.sync += [inner_level.eq(inner_level + 1), nonempty.eq(1),
                         full.eq(inner_level == inner_depth - 1)]
        with m.If(do_inner_read & ~do_write):
            m.d.sync += [inner_level.eq(inner_level - 1), full.eq(0),
                         nonempty.eq(inner_level != 1)]
        with m.If(do_inner_read):
            m.d.sync += self.r_rdy.eq(1)
        with m.Elif(self.r_en):
            m.d.sync += self.r_rdy.eq(0)
        return m
