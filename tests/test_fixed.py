"""hwconv.fixed against exact rational arithmetic."""
from fractions import Fraction
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from hwconv.fixed import FixedType, dequantize, quantize, requantize, saturate, shift_round

types = st.builds(FixedType, width=st.integers(2, 24), frac=st.integers(-8, 30))


def exact_round_half_up(q: Fraction) -> int:
    return math.floor(q + Fraction(1, 2))


def exact_saturate(n: int, t: FixedType) -> int:
    return min(max(n, t.min_int), t.max_int)


@given(types, st.floats(-1e6, 1e6, allow_nan=False))
def test_quantize_matches_exact_rounding(t, v):
    expected = exact_saturate(exact_round_half_up(Fraction(v) * Fraction(2) ** t.frac), t)
    assert int(quantize(v, t)) == expected


@given(types, st.integers(-2 ** 40, 2 ** 40), st.integers(-10, 40))
def test_requantize_matches_exact_rounding(t, x, from_frac):
    exact = Fraction(x) / Fraction(2) ** from_frac * Fraction(2) ** t.frac
    assert int(requantize(x, from_frac, t)) == exact_saturate(exact_round_half_up(exact), t)


@given(st.integers(-2 ** 40, 2 ** 40), st.integers(1, 30))
def test_floor_rounding(x, shift):
    assert int(shift_round(x, shift, "floor")) == math.floor(Fraction(x, 2 ** shift))


@given(types, st.integers(-2 ** 30, 2 ** 30))
def test_dequantize_is_exact_inverse_in_range(t, n):
    n = exact_saturate(n, t)
    assert int(quantize(dequantize(n, t), t)) == n


@given(st.integers(2, 24), st.integers(-2 ** 30, 2 ** 30))
def test_wrap_keeps_low_bits(width, x):
    t = FixedType(width, 0, overflow="wrap")
    w = int(saturate(x, t))
    assert t.min_int <= w <= t.max_int and (w - x) % (1 << width) == 0


def test_ties_round_up_including_near_half():
    t = FixedType(16, 0)
    assert quantize([0.5, -0.5, 1.5, -1.5, 0.49999999999999994], t).tolist() == [1, 0, 2, -1, 0]


def test_saturates_at_both_ends():
    t = FixedType(8, 4)
    assert quantize([100.0, -100.0], t).tolist() == [127, -128]


def test_rejects_bad_types_with_the_value():
    with pytest.raises(ValueError, match="width must be an integer from 1 to 48, not 0"):
        FixedType(0, 0)
    with pytest.raises(ValueError, match="rounding must be one of"):
        FixedType(16, 8, rounding="nearest")
    with pytest.raises(ValueError, match="NaN"):
        quantize(np.nan, FixedType(16, 8))
