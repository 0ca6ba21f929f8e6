"""StreamCDC: a byte stream from one clock domain to another through
amaranth.lib.fifo.AsyncFIFO: the Ethernet path runs on GMII's 125 MHz clocks, the
network on the core clock (200 MHz on the ML605)."""

from amaranth import DomainRenamer, Module, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..stream import SkidBuffer

__all__ = ["StreamCDC"]


class StreamCDC(wiring.Component):
    """``i`` in ``w_domain`` to ``o`` in ``r_domain``, same signature ``sig`` (a stream
    of frame bytes with ``last``, as :func:`.common.frame_stream` or
    :func:`.common.tx_stream`), through an AsyncFIFO of ``depth`` beats.

    With back-pressure on ``i`` (the transmit side: core to GMII) the FIFO simply waits.
    Without (the receive side: GMII to core, every byte must be taken), a byte that finds
    the FIFO full is lost, and so is the rest of its frame but its last byte, which is
    marked ``error`` (and written as soon as there is room: the gap before the next frame
    is at least 20 bytes long); ``overflow`` (in ``w_domain``) counts such frames.  A
    core clock faster than the GMII clock with an always-ready consumer never
    overflows."""

    def __init__(self, sig: stream.Signature, depth: int = 16, *, w_domain: str = "eth",
                 r_domain: str = "sync"):
        self.sig, self.depth = sig, depth
        self.w_domain, self.r_domain = w_domain, r_domain
        self._lossy = sig.always_ready
        if self._lossy and "error" not in dict(sig.members["payload"].shape):
            raise ValueError("a stream without back-pressure needs an ``error`` field")
        super().__init__({"i": In(sig), "o": Out(sig), "overflow": Out(32)})

    def elaborate(self, platform):
        m = Module()
        width = self.sig.members["payload"].shape.size
        m.submodules.fifo = q = fifo.AsyncFIFO(width=width, depth=self.depth,
                                               w_domain=self.w_domain,
                                               r_domain=self.r_domain)
        i, o = self.i, self.o
        if not self.sig.always_ready:
            # A skid buffer behind the FIFO: the consumer's ready chain (the transmit
            # path's, 10 logic levels) ends at its flip-flop instead of running on into
            # the FIFO's read pointer.
            m.submodules.out = out = DomainRenamer(self.r_domain)(
                SkidBuffer(self.sig.members["payload"].shape))
            m.d.comb += [out.i.valid.eq(q.r_rdy), out.i.payload.eq(q.r_data),
                         q.r_en.eq(out.i.ready)]
            wiring.connect(m, out.o, wiring.flipped(o))
        else:
            m.d.comb += [o.valid.eq(q.r_rdy), o.payload.eq(q.r_data), q.r_en.eq(1)]
        if not self._lossy:
            m.d.comb += [q.w_en.eq(i.valid), q.w_data.eq(i.payload), i.ready.eq(q.w_rdy)]
            return m

        w = m.d[self.w_domain]
        lost = Signal()                         # a byte of this frame was lost
        owe = Signal()                          # its closing beat is still to be written
        beat = Signal(i.payload.shape())        # i.payload, marked if bytes were lost
        held = Signal(i.payload.shape())        # the closing beat owed
        m.d.comb += [beat.eq(i.payload), beat.error.eq(i.payload.error | lost)]
        with m.If(owe):
            with m.If(q.w_rdy):
                m.d.comb += [q.w_en.eq(1), q.w_data.eq(held)]
                w += owe.eq(0)
        with m.Elif(i.valid):
            # After a loss only the frame's last byte is written, marked.
            with m.If(q.w_rdy & (~lost | i.payload.last)):
                m.d.comb += [q.w_en.eq(1), q.w_data.eq(beat)]
            with m.Else():
                with m.If(~lost):
                    w += self.overflow.eq(self.overflow + 1)
                w += lost.eq(1)
                with m.If(i.payload.last):
                    w += [owe.eq(1), held.eq(i.payload), held.error.eq(1)]
            with m.If(i.payload.last):
                w += lost.eq(0)
        return m
