"""Square root or reciprocal of every lane: normalize, interpolated table, gain, shift back."""
from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..fixed import FixedType, requantize_hdl
from ..tables import NormalizedTable
from .act import TableUnit
from .join import Zip
from .stream import pixel_layout, pixel_signature

__all__ = ["NormalizedTableUnit", "Divide"]


def _bit_length(m: Module, v, width: int):
    """Priority encoder: the bits a non-negative value needs (0 for 0)."""
    n = Const(0, range(width + 1))
    for k in range(width):
        n = Mux(v[k], k + 1, n)
    return n


class NormalizedTableUnit(TableUnit):
    """``tables.NormalizedTable`` in hardware, step for step: non-negative codes of
    ``in_width`` bits (negatives count as 0) to ``table.out_fixed``."""

    def __init__(self, lanes: int, in_width: int, table: NormalizedTable):
        self.sqrt = table
        super().__init__(lanes, table.table, in_width=in_width, out=table.out_fixed)

    def front(self, m, x, lane):
        s, p = self.sqrt, self.sqrt.MANTISSA
        width = len(x) + s.pre_shift
        v = Signal(unsigned(width), name=f"v{lane}")
        m.d.comb += v.eq(Mux(x < 0, 0, x) << s.pre_shift)
        n = Signal(range(width + 2), name=f"n{lane}")
        m.d.comb += n.eq(_bit_length(m, v, width))
        e = Signal(range(width + 3), name=f"e{lane}")
        m.d.comb += e.eq(n + n[0] if s.function == "sqrt" else n)
        mant = Signal(unsigned(p + 1), name=f"mant{lane}")
        left = (v << (p - e).as_unsigned()[:6])[:p + 1]
        right = (v >> (e - p).as_unsigned()[:6])[:p + 1]
        m.d.comb += mant.eq(Mux(v == 0, 1 << (p - s.mantissa_low), Mux(e <= p, left, right)))
        frac = s.in_frac + s.pre_shift
        k = Signal(signed(8), name=f"k{lane}")
        carry = {"k": k, "zero": v == 0}
        if s.function == "power":
            # k[e] and 2**phi[e] from the same tables as NormalizedTable.lookup.
            ks, phis = s.exponent_table()
            phi = Signal(unsigned(s.PHI_BITS + 2), name=f"phi{lane}")
            with m.Switch(e):
                for ev in range(min(len(ks), 1 << len(e))):
                    with m.Case(ev):
                        m.d.comb += [k.eq(int(ks[ev])), phi.eq(int(phis[ev]))]
            carry["phi"] = phi
        elif s.function == "log":
            m.d.comb += k.eq(e - frac)   # log's exponent term is (e - frac) ln 2
        else:
            m.d.comb += k.eq((e - frac) >> 1 if s.function == "sqrt" else frac - e)
        return mant, carry

    x_frac = 0   # fractional bits of a multiplier input (DivCore)

    def back(self, y, carried):
        s = self.sqrt
        out = s.out_fixed
        if s.function == "log":   # as NormalizedTable.lookup: log(m) + (e - frac) ln 2
            q = out.width + 2 + s.LOG_EXTRA
            total = (y << s.LOG_EXTRA) + carried["k"] * Const(s.ln2_code, signed(q + 2))
            lo = Const(out.min_int, signed(out.width + 1))
            return Mux(carried["zero"], lo, requantize_hdl(total, q, out))
        if "phi" in carried:   # as NormalizedTable.lookup: f(m) * 2**phi, rounded
            y = (y * carried["phi"] + (1 << (s.PHI_BITS - 1))) >> s.PHI_BITS
        prod = y * Const(s.gain_code, signed(s.GAIN_BITS + 2))
        base = s.shift_base + self.x_frac
        if "x" in carried:
            prod = prod * carried["x"]
        sh = Const(base, signed(9)) - carried["k"]
        # Round half up by a variable right shift (at most 62), or shift left: as
        # NormalizedTable.lookup does.
        rsh = Mux(sh > 62, 62, sh).as_unsigned()[:6]
        right = (prod + (Const(1, unsigned(64)) << (rsh - 1)[:6]).as_signed()) >> rsh
        left = prod << (-sh).as_unsigned()[:5]
        hi, lo = (Const(v, signed(out.width + 1)) for v in (out.max_int, out.min_int))
        huge = Mux(prod < 0, lo, Mux(prod > 0, hi, 0))
        value = Mux(sh > 0, right, Mux(sh < -20, huge, left))
        result = requantize_hdl(value, out.frac, out)
        at_zero = hi if s.saturates_at_zero else 0
        if "x" in carried and s.saturates_at_zero:
            at_zero = Mux(carried["x"] < 0, lo, Mux(carried["x"] > 0, hi, 0))
        return Mux(carried["zero"], at_zero, result)


class DivCore(NormalizedTableUnit):
    """a * gain / b lane by lane, from one beat holding both (see Divide)."""

    def __init__(self, lanes: int, ta: FixedType, b_lanes: int, b_width: int,
                 table: NormalizedTable):
        self.x_frac, self.b_lanes = ta.frac, b_lanes
        layout = data.StructLayout({"a": pixel_layout(lanes, ta.width),
                                    "b": pixel_layout(b_lanes, b_width)})
        TableUnit.__init__(self, lanes, table.table, out=table.out_fixed, in_layout=layout)
        self.sqrt = table

    @property
    def shared_lookup(self) -> bool:
        return self.b_lanes == 1

    def operand(self, lane):
        return self.i.payload.b[lane if self.b_lanes > 1 else 0]

    def front(self, m, x, lane):
        mant, carry = super().front(m, x, lane)
        return mant, {**carry, "x": self.i.payload.a[lane]}


class Divide(wiring.Component):
    """Div: ``a`` (C lanes) over ``b`` (C lanes, or one lane for every channel)."""

    input_names = ("a", "b")

    def __init__(self, lanes: int, ta: FixedType, b_lanes: int, tb: FixedType,
                 table: NormalizedTable):
        self.core = DivCore(lanes, ta, b_lanes, tb.width, table)
        super().__init__({"a": In(pixel_signature(lanes, ta.width)),
                          "b": In(pixel_signature(b_lanes, tb.width)),
                          "o": Out(pixel_signature(lanes, table.out_fixed.width))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        m.submodules.zip = z = Zip(self.a.payload.shape(), self.b.payload.shape())
        wiring.connect(m, wiring.flipped(self.a), z.a)
        wiring.connect(m, wiring.flipped(self.b), z.b)
        wiring.connect(m, z.o, core.i)
        wiring.connect(m, core.o, wiring.flipped(self.o))
        return m
