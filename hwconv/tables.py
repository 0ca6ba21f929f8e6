"""Function tables with linear interpolation, shared by the reference and the RTL.

A smooth function f (tanh, sigmoid, ...) of a fixed-point input becomes a table of
``segments + 1`` points over a clamped domain, spaced ``2**shift`` input codes apart.
For an input code x (clamped into the domain) with ``d = x - lo``, ``k = d >> shift`` and
``r = d & (2**shift - 1)``::

    y = base[k] + ((slope[k] * r + 2**(shift-1)) >> shift)       (shift > 0)
    y = base[k]                                                  (shift = 0: one entry per code)

with ``base[k] = quantize(f(x_k))`` and ``slope[k] = base[k+1] - base[k]``. Everything after
table generation is integer arithmetic, so reference and hardware agree exactly; the
error against f in LSBs of the output is measured over every input code in tests and
stated in docs/numerics.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .fixed import FixedType, counting_saturations, quantize, requantize, saturate, shift_round

__all__ = ["Table", "make_table", "FUNCTIONS", "MAX_SEGMENTS", "NormalizedTable", "bit_length"]

MAX_SEGMENTS = 1024   # base and slope of one lane fit one RAMB36E1 (1024 x 36)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))   # no overflow warnings for large |x|


# name: (function, domain (lo, hi) beyond which it is flat within half an output LSB
# of 16 bits, output range)
FUNCTIONS = {
    "tanh": (np.tanh, (-8.0, 8.0), (-1.0, 1.0)),
    "sigmoid": (_sigmoid, (-16.0, 16.0), (0.0, 1.0)),
    # Used for x <= 0 (softmax after subtracting the maximum); the domain reaches a
    # little past 0 so that 0 itself is a table point, not clamped to the code below it,
    # and starts where exp is below half a 16-bit LSB (exp(-12) = 6e-6).
    "exp": (np.exp, (-12.0, 0.5), (0.0, 1.0)),
    # Of a normalized mantissa (NormalizedTable): smooth on its domain, so few segments do.
    "sqrt_mantissa": (np.sqrt, (0.25, 1.0), (0.5, 1.0)),
    "reciprocal_mantissa": (lambda m: 1.0 / m, (0.5, 1.0), (1.0, 2.0)),
    "log_mantissa": (np.log, (0.5, 1.0), (-0.7, 0.0)),
}


@dataclass(frozen=True, eq=False)
class Table:
    """A generated table: evaluate with ``lookup`` (numpy) or read ``base``/``slope`` (RTL)."""

    function: str
    in_fixed: FixedType
    out_fixed: FixedType
    lo: int             # first input code of the domain
    hi: int             # last input code of the domain
    shift: int          # log2 of the segment width, in input codes
    base: np.ndarray    # int64, one per segment
    slope: np.ndarray   # int64, one per segment

    @property
    def segments(self) -> int:
        return len(self.base)

    @property
    def slope_bits(self) -> int:
        m = int(np.abs(self.slope).max()) if len(self.slope) else 0
        return max(2, m.bit_length() + 1)

    def lookup(self, x) -> np.ndarray:
        """The table's value for integer input codes (any shape)."""
        d = np.clip(np.asarray(x, dtype=np.int64), self.lo, self.hi) - self.lo
        k = d >> self.shift
        y = self.base[k]
        if self.shift:
            r = d & ((1 << self.shift) - 1)
            y = y + shift_round(self.slope[k] * r, self.shift)
        return saturate(y, self.out_fixed)


def make_table(function: str, in_fixed: FixedType, out_fixed: FixedType,
               max_segments: int = MAX_SEGMENTS, f=None, domain=None) -> Table:
    """A table of FUNCTIONS[function] (or of ``f`` over ``domain``, named ``function``)."""
    if f is None:
        f, (dlo, dhi), _ = FUNCTIONS[function]
    else:
        dlo, dhi = domain
    scale = 2.0 ** in_fixed.frac
    lo = max(in_fixed.min_int, math.floor(dlo * scale))
    hi = min(in_fixed.max_int, math.ceil(dhi * scale) - 1)
    span = hi - lo + 1
    shift = max(0, math.ceil(math.log2(span / max_segments)))
    segments = -(-span // (1 << shift))
    points = np.ldexp((lo + (np.arange(segments + 1) << shift)).astype(np.float64),
                      -in_fixed.frac)
    with counting_saturations(False):   # table entries are parameters, not outputs
        values = quantize(f(points), out_fixed)
    return Table(function, in_fixed, out_fixed, lo, hi, shift,
                 base=values[:-1].copy(), slope=np.diff(values))


def bit_length(v: np.ndarray) -> np.ndarray:
    """Bits needed by each non-negative integer (0 for 0), exactly, for int64 arrays."""
    v = np.asarray(v, dtype=np.int64)
    return np.searchsorted(1 << np.arange(63, dtype=np.int64), v, side="right")


@dataclass(frozen=True, eq=False)
class NormalizedTable:
    """``gain * f(v / 2**in_frac)`` of non-negative codes v into ``out_fixed``, for
    f = sqrt, reciprocal, x**power or log (where the gain is not used): functions of a wide
    dynamic range, through a mantissa table.

    v is normalized to a mantissa m (bits below its ``MANTISSA`` fractional bits
    truncated) and an exponent e: m in [1/4, 1) with an even e for sqrt, m in [1/2, 1)
    otherwise. f(m) comes from an interpolated table with ``out.width + 2`` fractional
    bits; f(2**e) is a power of two 2**k, times (for a general power) a factor 2**phi
    from a small table indexed by e. The product with the gain (and, for a division,
    with the dividend x) is rounded half up once and saturated. f(0) is 0 for sqrt and
    positive powers, and saturates otherwise. The RTL (rtl/normalized.py) takes the same
    steps with the same tables.
    """

    function: str
    in_frac: int
    out_fixed: FixedType
    gain: float = 1.0
    power: float = -1.0     # for function "power"

    MANTISSA = 20
    GAIN_BITS = 17
    PHI_BITS = 17           # fractional bits of 2**phi
    EXPONENTS = 64          # e = 0 .. 63 (inputs up to 63 bits)
    LOG_EXTRA = 8           # extra fractional bits for log's (e - frac) ln 2 term

    def __post_init__(self):
        if self.function not in ("sqrt", "reciprocal", "power", "log"):
            raise ValueError(f"normalized function must be sqrt, reciprocal, power or log, "
                             f"not {self.function!r}")
        if self.function == "power" and not -4 <= self.power <= 4:
            raise ValueError(f"power must be in [-4, 4], not {self.power!r}")

    @property
    def ln2_code(self) -> int:
        q = self.out_fixed.width + 2 + self.LOG_EXTRA
        return int(quantize(math.log(2), FixedType(q + 2, q)))

    def exponent_table(self) -> tuple[np.ndarray, np.ndarray]:
        """For a general power, per e: k[e] = floor(p (e - frac)) and 2**phi in
        PHI_BITS fractional bits, phi = p (e - frac) - k[e]."""
        t = self.power * (np.arange(self.EXPONENTS) - (self.in_frac + self.pre_shift))
        k = np.floor(t).astype(np.int64)
        phi = quantize(np.exp2(t - k), FixedType(self.PHI_BITS + 3, self.PHI_BITS))
        return k, phi

    @property
    def pre_shift(self) -> int:
        """sqrt of an odd in_frac: v is doubled first so the exponent halves exactly."""
        return self.in_frac & 1 if self.function == "sqrt" else 0

    @property
    def mantissa_low(self) -> int:
        """Bits of the smallest mantissa below 2**MANTISSA: 2 for [1/4, 1), 1 for [1/2, 1)."""
        return 2 if self.function == "sqrt" else 1

    @property
    def table(self) -> Table:
        q = self.out_fixed.width + 2
        t_in, t_out = FixedType(self.MANTISSA + 2, self.MANTISSA), FixedType(q + 4, q)
        if self.function == "power":
            return make_table(f"power{self.power:g}_mantissa", t_in, t_out,
                              f=lambda m: m ** self.power, domain=(0.5, 1.0))
        return make_table(f"{self.function}_mantissa", t_in, t_out)

    @property
    def gain_code(self) -> int:
        if not 0 < self.gain <= 1:
            raise ValueError(f"gain must be in (0, 1], not {self.gain!r}")
        return int(quantize(self.gain, FixedType(self.GAIN_BITS + 2, self.GAIN_BITS)))

    @property
    def shift_base(self) -> int:
        """The final right shift is shift_base - k."""
        q = self.out_fixed.width + 2
        return q + self.GAIN_BITS - self.out_fixed.frac

    def exponent_share(self, e, frac):
        """k: sqrt(m 2**e / 2**frac) = sqrt(m) 2**k; 1 / (m 2**e / 2**frac) = (1/m) 2**k;
        for a general power, k[e] of ``exponent_table``."""
        if self.function == "power":
            return self.exponent_table()[0][e]
        return (e - frac) // 2 if self.function == "sqrt" else frac - e

    @property
    def saturates_at_zero(self) -> bool:
        return self.function == "reciprocal" or (self.function == "power" and self.power < 0)

    def lookup(self, v, x=None, x_frac: int = 0) -> np.ndarray:
        """f of codes v; with ``x`` (codes with ``x_frac`` fractional bits), x * f(v),
        still rounded once (a division when f is the reciprocal)."""
        v = np.maximum(np.asarray(v, dtype=np.int64), 0) << self.pre_shift
        frac = self.in_frac + self.pre_shift
        n = bit_length(v)
        e = n + (n & 1) if self.function == "sqrt" else n
        p = self.MANTISSA
        mant = np.where(e <= p, v << np.clip(p - e, 0, 62), v >> np.clip(e - p, 0, 62))
        mant = np.maximum(mant, 1 << (p - self.mantissa_low))   # v = 0: any valid mantissa
        r = self.table.lookup(mant)
        if self.function == "log":
            # log(m 2**e / 2**frac) = log(m) + (e - frac) ln 2, added at LOG_EXTRA more
            # fractional bits, rounded once.
            q = self.out_fixed.width + 2 + self.LOG_EXTRA
            total = (r << self.LOG_EXTRA) + (e - frac) * self.ln2_code
            y = requantize(total, q, self.out_fixed)
            return np.where(v == 0, self.out_fixed.min_int, y)
        if self.function == "power":
            # f(m) * 2**phi, rounded back to the table's precision (keeps int64 products).
            r = shift_round(r * self.exponent_table()[1][e], self.PHI_BITS)
        prod = r * self.gain_code
        sh = self.shift_base + x_frac - self.exponent_share(e, frac)
        if x is not None:
            prod = prod * np.asarray(x, dtype=np.int64)
        rsh = np.clip(sh, 1, 62)                      # as the hardware: at most 62
        right = (prod + (np.int64(1) << (rsh - 1))) >> rsh
        left = np.clip(prod, -(1 << 40), 1 << 40) << np.clip(-sh, 0, 20)
        huge = np.where(prod < 0, -(1 << 62), np.where(prod > 0, 1 << 62, 0))
        y = saturate(np.where(sh > 0, right, np.where(sh < -20, huge, left)), self.out_fixed)
        at_zero = self.out_fixed.max_int if self.saturates_at_zero else 0
        if x is not None and self.saturates_at_zero:
            at_zero = np.where(x < 0, self.out_fixed.min_int, np.where(x > 0, at_zero, 0))
        return np.where(v == 0, at_zero, y)
