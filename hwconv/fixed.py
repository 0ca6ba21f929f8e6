"""Two's complement fixed point: the only rounding and saturation code in hwconv.

A value v of ``FixedType(width, frac)`` is held as the integer ``round(v * 2**frac)`` in
``width`` bits. The reference and the RTL generators both call these functions, so the
hardware and its specification cannot round differently.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass

import numpy as np

__all__ = ["FixedType", "quantize", "dequantize", "requantize", "saturate", "shift_round",
           "counting_saturations"]

# The list saturate() adds its clipped-value counts to, when someone is counting.
_SATURATIONS: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "hwconv_saturations", default=None)


@contextlib.contextmanager
def counting_saturations(counting: bool = True):
    """Count the values saturate() brings into range: ``with counting_saturations() as n:``
    then ``n[0]`` is the count. ``counting_saturations(False)`` pauses an outer count (the
    precision report counts a layer's weights apart from its outputs)."""
    counter = [0] if counting else None
    token = _SATURATIONS.set(counter)
    try:
        yield counter
    finally:
        _SATURATIONS.reset(token)

ROUNDINGS = ("half_up", "floor")
OVERFLOWS = ("saturate", "wrap")


@dataclass(frozen=True)
class FixedType:
    """``width`` bits, ``frac`` of them fractional; rounding and overflow modes explicit."""

    width: int
    frac: int
    signed: bool = True
    rounding: str = "half_up"
    overflow: str = "saturate"

    def __post_init__(self):
        # 48 bits: a DSP48E1 accumulator, and float64 holds every such integer exactly.
        if not isinstance(self.width, int) or not 1 <= self.width <= 48:
            raise ValueError(f"FixedType width must be an integer from 1 to 48, not {self.width!r}")
        if not isinstance(self.frac, int):
            raise ValueError(f"FixedType frac must be an integer, not {self.frac!r}")
        if self.rounding not in ROUNDINGS:
            raise ValueError(f"FixedType rounding must be one of {ROUNDINGS}, not {self.rounding!r}")
        if self.overflow not in OVERFLOWS:
            raise ValueError(f"FixedType overflow must be one of {OVERFLOWS}, not {self.overflow!r}")

    @property
    def min_int(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_int(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def lsb(self) -> float:
        """The value of one least significant bit."""
        return 2.0 ** -self.frac

    @property
    def max_value(self) -> float:
        return self.max_int * self.lsb

    @property
    def min_value(self) -> float:
        return self.min_int * self.lsb

    def __str__(self):
        s = "s" if self.signed else "u"
        return f"{s}{self.width}.{self.frac}"

    def to_json(self) -> dict:
        return {"width": self.width, "frac": self.frac, "signed": self.signed,
                "rounding": self.rounding, "overflow": self.overflow}

    @classmethod
    def from_json(cls, d: dict) -> "FixedType":
        return cls(**d)


def saturate(x, t: FixedType) -> np.ndarray:
    """Bring integers into ``t``'s range: clip (saturate) or keep the low bits (wrap)."""
    x = np.asarray(x, dtype=np.int64)
    counter = _SATURATIONS.get()
    if counter is not None:
        counter[0] += int(np.count_nonzero((x < t.min_int) | (x > t.max_int)))
    if t.overflow == "saturate":
        return np.clip(x, t.min_int, t.max_int)
    low = x & ((1 << t.width) - 1)
    if t.signed:
        low = np.where(low > t.max_int, low - (1 << t.width), low)
    return low


def shift_round(x, shift: int, rounding: str = "half_up") -> np.ndarray:
    """Divide integers by ``2**shift``, exactly as the hardware does.

    half_up: ``(x + 2**(shift-1)) >> shift`` (ties go towards +infinity);
    floor: ``x >> shift``. A negative shift multiplies exactly.
    """
    x = np.asarray(x, dtype=np.int64)
    if shift <= 0:
        # Clip first so the shift cannot overflow int64; anything clipped is beyond every
        # 48-bit type and saturates (or, wrapped, is not worth pretending to keep).
        left = min(-shift, 61)
        lim = 1 << (61 - left)
        return np.clip(x, -lim, lim) << left
    if rounding == "half_up":
        return (x + (1 << (shift - 1))) >> shift
    return x >> shift


def requantize(x, from_frac: int, t: FixedType) -> np.ndarray:
    """Integers with ``from_frac`` fractional bits to type ``t``: round, then saturate."""
    return saturate(shift_round(x, from_frac - t.frac, t.rounding), t)


def quantize(v, t: FixedType) -> np.ndarray:
    """Real values to integers of type ``t`` (round half up, then saturate).

    Values are scaled by a power of two, which is exact in float64, then rounded so that
    ties go up like the hardware's shift_round. (floor(v + 0.5) would be wrong: the sum
    itself rounds, e.g. 0.49999999999999994 + 0.5 == 1.0.)
    """
    v = np.asarray(v, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        raise ValueError("cannot quantize NaN or infinite values")
    # Clip first (far outside any 48-bit type) so huge values do not overflow int64;
    scaled = np.clip(np.ldexp(v, t.frac), -(2.0 ** 51), 2.0 ** 51)
    r = np.floor(scaled)
    if t.rounding == "half_up":
        r = r + (scaled - r >= 0.5)  # scaled - r is exact
    return saturate(r.astype(np.int64), t)


def dequantize(x, t: FixedType | int) -> np.ndarray:
    """Integers to float64 values; ``t`` is a FixedType or a number of fractional bits."""
    frac = t.frac if isinstance(t, FixedType) else t
    return np.ldexp(np.asarray(x, dtype=np.float64), -frac)


def requantize_hdl(value, from_frac: int, t: FixedType):
    """The Amaranth expression of ``requantize``: the same rule, built as hardware.

    ``value`` is a signed Amaranth value with ``from_frac`` fractional bits; the result is a
    ``t.width``-bit value. Kept beside the numpy version so the two are read together.
    """
    from amaranth import Const, Mux, signed

    shift = from_frac - t.frac
    if shift > 0 and t.rounding == "half_up":
        shifted = (value + Const(1 << (shift - 1), signed(shift + 1))) >> shift
    elif shift > 0:
        shifted = value >> shift
    else:
        shifted = value << -shift
    if t.overflow == "wrap":
        return shifted[:t.width].as_signed() if t.signed else shifted[:t.width]
    lo, hi = Const(t.min_int, signed(t.width + 1)), Const(t.max_int, signed(t.width + 1))
    return Mux(shifted > hi, hi, Mux(shifted < lo, lo, shifted))[:t.width]
