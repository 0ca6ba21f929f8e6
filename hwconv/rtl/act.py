"""Element-wise nonlinearities: comparisons and clamps as one registered stage, smooth
functions (tanh, sigmoid) through interpolated tables in block RAM."""
from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .. import ir
from ..fixed import FixedType, requantize_hdl
from ..tables import Table
from .stream import RegisteredMap, pixel_layout, pixel_signature

__all__ = ["ElementwiseUnit", "ReLUUnit", "TableUnit", "elementwise_function"]


def elementwise_function(node: ir.Node, t: FixedType):
    """The hardware of one lane of a comparing or clamping node: x -> expression.

    The constants come from ``ir.threshold_codes``, the same ones the reference uses."""
    c = ir.threshold_codes(node, t)

    def k(v):
        return Const(v, signed(t.width + 2))

    if isinstance(node, ir.ReLU):
        return lambda x: Mux(x < 0, 0, x)
    if isinstance(node, ir.Threshold):
        return lambda x: Mux(x > k(c["threshold"]), x, k(c["value"]))
    if isinstance(node, ir.HardTanh):
        return lambda x: Mux(x < k(c["min"]), k(c["min"]), Mux(x > k(c["max"]), k(c["max"]), x))
    if isinstance(node, ir.Abs):
        return lambda x: requantize_hdl(Mux(x < 0, -x, x), t.frac, t)
    if isinstance(node, ir.Shrink):
        lam, b = k(c["lambd"]), k(c["bias"])
        return lambda x: requantize_hdl(Mux(x > lam, x - b, Mux(x < -lam, x + b, 0)), t.frac, t)
    raise node.error("is not a comparing or clamping element-wise kind")


class ElementwiseUnit(RegisteredMap):
    """``fn`` applied to every lane, one registered stage (``out_width`` bits out, the
    input's by default)."""

    def __init__(self, lanes: int, bits: int, fn, out_width: int | None = None):
        super().__init__(pixel_layout(lanes, bits), pixel_layout(lanes, out_width or bits),
                         lambda m, x, y: [y[k].eq(fn(x[k])) for k in range(lanes)])


class ReLUUnit(ElementwiseUnit):
    """max(x, 0) on every lane."""

    def __init__(self, lanes: int, bits: int):
        super().__init__(lanes, bits, lambda x: Mux(x < 0, 0, x))


class TableUnit(wiring.Component):
    """f(x) on every lane through ``table`` (hwconv.tables): clamp, split the input code
    into segment and remainder, read base and slope from block RAM, interpolate.

    Two stages (table read, then interpolation) advance together and freeze while the
    output waits, like the MAC engine. Subclasses change what goes into the table
    (``front``) and what is done with its value (``back``).

    Each pair of lanes reads its own copy of the table: a block RAM has two ports, so a
    copy per pair is a true dual-port ROM, where one ROM read by many lanes is left to
    logic (or, at 16 lanes and more, not mapped at all by Yosys). When every lane looks
    up the same value (``shared_lookup``) one copy serves all: the reads merge."""

    def __init__(self, lanes: int, table: Table, in_width: int | None = None,
                 out: FixedType | None = None, in_layout=None):
        self.lanes, self.table = lanes, table
        self.out = out or table.out_fixed
        in_layout = in_layout or pixel_layout(lanes, in_width or table.in_fixed.width)
        super().__init__({"i": In(stream.Signature(in_layout)),
                          "o": Out(pixel_signature(lanes, self.out.width))})

    @property
    def shared_lookup(self) -> bool:
        """Whether every lane looks up the same value."""
        return False

    def operand(self, lane):
        """The value of the input beat that goes through the table for ``lane``."""
        return self.i.payload[lane]

    def front(self, m, x, lane):
        """(the table's input code, {name: value} to carry to the second stage)."""
        return x, {}

    def back(self, y, carried):
        return requantize_hdl(y, self.table.out_fixed.frac, self.table.out_fixed)

    def elaborate(self, platform):
        m = Module()
        t, n = self.table, self.lanes
        wb, ws = t.out_fixed.width + 1, t.slope_bits
        words = [(int(b) & ((1 << wb) - 1)) | ((int(s) & ((1 << ws) - 1)) << wb)
                 for b, s in zip(t.base, t.slope)]
        copies = 1 if self.shared_lookup or n == 1 else (n + 1) // 2
        roms = [Memory(shape=wb + ws, depth=len(words), init=words) for _ in range(copies)]
        for k, rom in enumerate(roms):
            m.submodules[f"rom{k}" if copies > 1 else "rom"] = rom
        ce = ~self.o.valid | self.o.ready
        m.d.comb += self.i.ready.eq(ce)
        v1 = Signal()
        with m.If(ce):
            m.d.sync += [v1.eq(self.i.valid), self.o.valid.eq(v1)]
        for lane in range(n):
            port = roms[lane // 2 if copies > 1 else 0].read_port()
            x, carry = self.front(m, self.operand(lane), lane)
            d = Signal(range(t.hi - t.lo + 1), name=f"d{lane}")
            m.d.comb += d.eq(Mux(x < t.lo, 0, Mux(x > t.hi, t.hi - t.lo, x - t.lo)))
            m.d.comb += [port.addr.eq(d >> t.shift), port.en.eq(ce)]
            carried = {}
            for name, value in carry.items():
                carried[name] = Signal.like(value, name=f"{name}{lane}")
                with m.If(ce):
                    m.d.sync += carried[name].eq(value)
            base = port.data[:wb].as_signed()
            slope = port.data[wb:].as_signed()
            if t.shift:
                r1 = Signal(t.shift, name=f"r1_{lane}")
                with m.If(ce):
                    m.d.sync += r1.eq(d[:t.shift])
                y = base + ((slope * r1 + (1 << (t.shift - 1))) >> t.shift)
            else:
                y = base
            with m.If(ce):
                m.d.sync += self.o.payload[lane].eq(self.back(y, carried))
        return m
