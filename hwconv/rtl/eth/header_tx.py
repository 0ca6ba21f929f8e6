"""HeaderTx: the transmitter every transmit layer is made of; it puts a fixed header in
front of each frame of its input stream."""
from __future__ import annotations

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .common import tx_stream
from .headers import header_bytes

__all__ = ["HeaderTx"]


class HeaderTx(wiring.Component):
    """A layer's transmitter: sends ``HEADER`` (a field table), then the frame of ``i``.

    A subclass gives ``IN_META`` / ``OUT_META`` (fields of the input and output beats),
    ``header_fields(m, meta)`` (a value for every header field, from the input's meta
    fields) and ``out_fields(meta)``.  Meta fields are read from a frame's first beat,
    which the stream rules keep still while the header goes out (the input is not taken
    then): the header costs no register.

    With ``payload_length(meta)`` (a value, and a condition it must meet), the frame sent
    has exactly that many payload bytes whatever ``last`` says: a shorter input is padded
    with zeros (``pad_short``), a longer one cut (``trim_long``: the rest is dropped), and
    a frame whose length fails the condition is dropped whole (``drop_length``).  So the
    length fields in the header always match the frame on the wire.

    Counters (32-bit): ``frames`` sent, and those above.  One byte per cycle; the input
    waits while the header goes out."""

    HEADER: tuple = ()
    IN_META: dict = {}
    OUT_META: dict = {}

    def __init__(self):
        members = {"i": In(tx_stream(self.IN_META)), "o": Out(tx_stream(self.OUT_META)),
                   "frames": Out(32)}
        if type(self).payload_length is not HeaderTx.payload_length:
            members.update({"pad_short": Out(32), "trim_long": Out(32),
                            "drop_length": Out(32)})
        super().__init__(members)

    # -- for subclasses --

    def header_fields(self, m, meta) -> dict:
        raise NotImplementedError

    def out_fields(self, meta) -> dict:
        return {name: getattr(meta, name) for name in self.OUT_META}

    def payload_length(self, meta):
        return None

    def on_frame_sent(self, m):
        """Called in the cycle a frame's last byte leaves (e.g. a frame counter)."""

    # -- the transmitter --

    def elaborate(self, platform):
        m = Module()
        i, o = self.i, self.o
        meta = i.payload
        n = header_bytes(self.HEADER)
        values = self.header_fields(m, meta)
        wire = [None] * n                  # byte k of the header, in wire order
        for fl in self.HEADER:
            v = values[fl.name]
            v = Const(v, 8 * fl.width) if isinstance(v, int) else v
            for j in range(fl.width):      # big-endian: the field's top byte first
                wire[fl.offset + j] = v[8 * (fl.width - 1 - j):8 * (fl.width - j)]
        header = Cat(*wire)
        index = Signal(range(n))
        # The FSM drives these, not o.payload itself: a port that a process drives in part
        # and a constant in part became `always @* port[a:b] = const;` in the Verilog,
        # a block with nothing to wake it, which our Verilator build never ran (the
        # EtherType read 0).
        data, last = Signal(8), Signal()
        m.d.comb += [o.payload.data.eq(data), o.payload.last.eq(last)]
        for name, value in self.out_fields(meta).items():
            m.d.comb += getattr(o.payload, name).eq(value)

        checked = self.payload_length(meta)
        remaining = Signal(16)              # payload bytes still due, this one included

        def sent():
            m.d.sync += self.frames.eq(self.frames + 1)
            self.on_frame_sent(m)

        def bump(counter):
            m.d.sync += counter.eq(counter + 1)

        ok = Const(1)
        if checked is not None:
            # The length check, registered: the frame is offered (or dropped) from its
            # second cycle on, off the path from the source's valid to the GMII FIFO.
            length_ok, armed = Signal(), Signal()
            m.d.sync += [length_ok.eq(checked[1]), armed.eq(0)]
            ok = length_ok & armed
        with m.FSM():
            with m.State("HEADER"):
                if checked is not None:
                    m.d.sync += armed.eq(i.valid)
                m.d.comb += [o.valid.eq(i.valid & ok), data.eq(
                    header.word_select(index, 8))]
                with m.If(o.valid & o.ready):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == n - 1):
                        m.d.sync += index.eq(0)
                        if checked is not None:
                            m.d.sync += remaining.eq(checked[0])
                        m.next = "PAYLOAD"
                if checked is not None:
                    with m.If(i.valid & armed & ~length_ok):
                        bump(self.drop_length)
                        m.next = "DISCARD"
            with m.State("PAYLOAD"):
                m.d.comb += [o.valid.eq(i.valid), data.eq(meta.data),
                             i.ready.eq(o.ready)]
                if checked is None:
                    m.d.comb += last.eq(meta.last)
                    with m.If(o.valid & o.ready & meta.last):
                        sent()
                        m.next = "HEADER"
                else:
                    m.d.comb += last.eq(remaining == 1)
                    with m.If(o.valid & o.ready):
                        m.d.sync += remaining.eq(remaining - 1)
                        with m.If(remaining == 1):
                            sent()
                            with m.If(meta.last):
                                m.next = "HEADER"
                            with m.Else():
                                bump(self.trim_long)
                                m.next = "DISCARD"
                        with m.Elif(meta.last):
                            bump(self.pad_short)
                            m.next = "PAD"
            if checked is not None:
                with m.State("PAD"):
                    m.d.comb += [o.valid.eq(1), data.eq(0),
                                 last.eq(remaining == 1)]
                    with m.If(o.ready):
                        m.d.sync += remaining.eq(remaining - 1)
                        with m.If(remaining == 1):
                            sent()
                            m.next = "HEADER"
                with m.State("DISCARD"):
                    m.d.comb += i.ready.eq(1)
                    with m.If(i.valid & meta.last):
                        m.next = "HEADER"
        return m
