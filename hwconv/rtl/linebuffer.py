"""Line buffer and sliding window: a raster pixel stream in, a stream of k x k windows out."""
from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .stream import pixel_layout, pixel_signature

__all__ = ["WindowGenerator", "window_layout"]


def window_layout(channels: int, bits: int, kernel) -> data.ArrayLayout:
    """kh*kw pixels, index i*kw + j for the pixel at window row i, column j."""
    return data.ArrayLayout(pixel_layout(channels, bits), kernel[0] * kernel[1])


def _next_phase(phase, next_pos, start: int, stride: int):
    """Phase of the next position: 0 at the first window position, then counts mod stride."""
    return Mux(next_pos == start, 0, Mux(phase == stride - 1, 0, phase + 1))


class WindowGenerator(wiring.Component):
    """Every valid (unpadded) k x k window at the given stride, in raster order.

    The last kh-1 rows live in one block RAM word per column (the column's kh-1 previous
    pixels side by side); a new pixel completes its column, which shifts into kh x kw
    window registers. Those registers are the output payload, so they shift only when
    the output is empty or being taken: the payload holds still under backpressure.

    ``decoupled``: the output gets its own copy of each finished window, so pixels that
    complete no window (row ends, the next frame's first rows) keep flowing while a slow
    consumer (a MAC engine taking several cycles per window) still works on the last
    one. Twice the window registers, no bubbles.
    """

    def __init__(self, channels: int, height: int, width: int, kernel, stride, bits: int,
                 decoupled: bool = False):
        self.shape, self.kernel, self.stride, self.bits = \
            (channels, height, width), tuple(kernel), tuple(stride), bits
        self.decoupled = decoupled
        super().__init__({
            "i": In(pixel_signature(channels, bits)),
            "o": Out(stream.Signature(window_layout(channels, bits, kernel)))})

    def elaborate(self, platform):
        m = Module()
        c, h, w = self.shape
        (kh, kw), (sh, sw) = self.kernel, self.stride
        pix = pixel_layout(c, self.bits)

        # Position of the next input pixel, and its phase within the stride.
        row, col = Signal(range(h)), Signal(range(w))
        rph, cph = Signal(range(sh)), Signal(range(sw))
        emit = (row >= kh - 1) & (col >= kw - 1) & (rph == 0) & (cph == 0)

        # Stage 1: the accepted pixel, aligned with its column read from the line buffer.
        s1_valid, s1_emit = Signal(), Signal()
        s1_pix, s1_col = Signal(pix, reset_less=True), Signal(range(w))
        can_emit = ~self.o.valid | self.o.ready
        s1_fire = s1_valid & ((~s1_emit | can_emit) if self.decoupled else can_emit)
        take = self.i.valid & self.i.ready
        m.d.comb += self.i.ready.eq(~s1_valid | s1_fire)

        if kh > 1:
            m.submodules.lines = lines = Memory(shape=data.ArrayLayout(pix, kh - 1),
                                                depth=w, init=[])
            wr = lines.write_port()
            rd = lines.read_port(transparent_for=(wr,))
            m.d.comb += [rd.addr.eq(col), rd.en.eq(take)]
            column = [rd.data[k] for k in range(kh - 1)] + [s1_pix]  # oldest row first
            m.d.comb += [wr.addr.eq(s1_col), wr.en.eq(s1_fire)]
            m.d.comb += [wr.data[k].eq(column[k + 1]) for k in range(kh - 1)]
        else:
            column = [s1_pix]

        # The window registers hold data only (valid has the reset): no reset, which
        # Verilator simulates much faster for wide registers.
        window = Signal(self.o.payload.shape(), reset_less=True)
        shifted = [window[i * kw + j + 1] if j < kw - 1 else column[i]
                   for i in range(kh) for j in range(kw)]
        with m.If(s1_fire):
            m.d.sync += [window[k].eq(v) for k, v in enumerate(shifted)]
        if self.decoupled:
            held = Signal(self.o.payload.shape(), reset_less=True)
            m.d.comb += self.o.payload.eq(held)
            with m.If(s1_fire & s1_emit):
                m.d.sync += [held[k].eq(v) for k, v in enumerate(shifted)]
        else:
            m.d.comb += self.o.payload.eq(window)
        with m.If(can_emit):
            m.d.sync += self.o.valid.eq(s1_fire & s1_emit)

        with m.If(take):
            m.d.sync += [s1_valid.eq(1), s1_pix.eq(self.i.payload), s1_col.eq(col),
                         s1_emit.eq(emit)]
            with m.If(col == w - 1):
                m.d.sync += [col.eq(0), cph.eq(0)]
                with m.If(row == h - 1):
                    m.d.sync += [row.eq(0), rph.eq(0)]
                with m.Else():
                    m.d.sync += [row.eq(row + 1), rph.eq(_next_phase(rph, row + 1, kh - 1, sh))]
            with m.Else():
                m.d.sync += [col.eq(col + 1), cph.eq(_next_phase(cph, col + 1, kw - 1, sw))]
        with m.Elif(s1_fire):
            m.d.sync += s1_valid.eq(0)
        return m
