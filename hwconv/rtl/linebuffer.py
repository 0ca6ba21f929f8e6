"""Line buffer and sliding window: a raster pixel stream in, a stream of k x k windows out."""
from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .stream import pixel_layout, pixel_signature

__all__ = ["WindowGenerator", "window_layout", "serial_pays"]


def serial_pays(kernel, stride, padded_hw, windows: int, cycles_per_window: int) -> bool:
    """Whether a unit that spends ``cycles_per_window`` on each of its ``windows`` can
    read its line buffer serially (kh + 2 cycles per pixel) and lose nothing: the pixels
    between two windows of a row, and those from a row's last window to the next row's
    first, come in while the MAC engine works on the window it holds; the frame's first
    kh - 1 rows, when the engine has nothing to do, cost under 1% of the frame."""
    (kh, kw), (sh, sw), (hp, wp) = kernel, stride, padded_hw
    per = kh + 2
    return (kh > 1 and per * sw <= cycles_per_window
            and per * ((sh - 1) * wp + kw) <= cycles_per_window
            and 100 * per * ((kh - 1) * wp + kw) <= windows * cycles_per_window)


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

    ``serial``: the line buffer holds one pixel per word, its kh - 1 rows one after
    another (row slots used in turn), and a pixel's column is read a row per cycle:
    kh + 2 cycles per pixel instead of one, for a memory (kh - 1) times deeper and as
    many times narrower. Block RAM is at least 512 words deep, so a 75-pixel row of 64
    channels took 171 RAMB18E1 one column per word, 29 one pixel per word. For units
    that spend more than that on each window anyway (``serial_pays``).
    """

    def __init__(self, channels: int, height: int, width: int, kernel, stride, bits: int,
                 decoupled: bool = False, serial: bool = False):
        self.shape, self.kernel, self.stride, self.bits = \
            (channels, height, width), tuple(kernel), tuple(stride), bits
        self.decoupled = decoupled
        self.serial = serial and kernel[0] > 1
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
        if self.serial:
            column = self._serial_column(m, pix, row, col, s1_valid, s1_col, s1_pix,
                                         take)
        else:
            m.d.comb += self.i.ready.eq(~s1_valid | s1_fire)

        if self.serial:
            pass
        elif kh > 1:
            m.submodules.lines = lines = Memory(shape=data.ArrayLayout(pix, kh - 1),
                                                depth=w, init=[])
            wr = lines.write_port()
            # The pixel written (stage 1's) and the pixel read (the one taken) are
            # neighbours in a row, so their columns differ unless a row is one pixel wide;
            # a transparent read would put the whole ready chain in front of the read
            # register's data input (7 logic levels on LeNet).
            rd = lines.read_port(transparent_for=(wr,) if w == 1 else ())
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
            m.d.sync += [s1_valid.eq(not self.serial), s1_pix.eq(self.i.payload),
                         s1_col.eq(col), s1_emit.eq(emit)]
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

    def _serial_column(self, m, pix, row, col, s1_valid, s1_col, s1_pix, take):
        """The serial line buffer: after a pixel is taken, its kh - 1 row slots are read
        oldest first into ``held``; when the last arrives the pixel goes into the oldest
        slot and stage 1 becomes valid. Returns the column, oldest row first."""
        _, h, w = self.shape
        kh = self.kernel[0]
        rows = kh - 1
        m.submodules.lines = lines = Memory(shape=pix, depth=rows * w, init=[])
        wr, rd = lines.write_port(), lines.read_port()
        span = rows * w

        def step(base):   # the next row slot's first address
            return Mux(base >= span - w, base - (span - w), base + w)

        # The slot of the row being taken (its oldest row's), advanced at each row end.
        row_base = Signal(range(span))
        with m.If(take & (col == w - 1)):
            m.d.sync += row_base.eq(step(row_base))
        busy, base, rbase = Signal(), Signal(range(span)), Signal(range(span))
        k, arriving = Signal(range(rows)), Signal(range(rows))
        landing = Signal()
        held = [Signal(pix, name=f"held_row{i}", reset_less=True) for i in range(rows)]
        # A pixel is taken once stage 1 is empty, not as it empties: one cycle more per
        # pixel, and the serial state no longer waits on the MAC engine's ready chain
        # (7 logic levels on scene3's conv2 by the timing proxy).
        m.d.comb += self.i.ready.eq(~busy & ~landing & ~s1_valid)
        m.d.comb += [rd.addr.eq(rbase + s1_col), rd.en.eq(busy)]
        with m.If(take):
            m.d.sync += [busy.eq(1), k.eq(0), base.eq(row_base), rbase.eq(row_base)]
        with m.If(busy):
            m.d.sync += [rbase.eq(step(rbase)), k.eq(k + 1), arriving.eq(k),
                         landing.eq(1)]
            with m.If(k == rows - 1):
                m.d.sync += busy.eq(0)
        with m.Else():
            m.d.sync += landing.eq(0)
        with m.If(landing):
            with m.Switch(arriving):
                for i in range(rows):
                    with m.Case(i):
                        m.d.sync += held[i].eq(rd.data)
            with m.If(arriving == rows - 1):
                # The column is complete: stage 1 holds it, the pixel takes the oldest slot.
                m.d.sync += s1_valid.eq(1)
                m.d.comb += [wr.addr.eq(base + s1_col), wr.data.eq(s1_pix), wr.en.eq(1)]
        return held + [s1_pix]
