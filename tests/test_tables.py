"""Interpolated function tables: the worst error against float over every input code of
every input format, in LSBs of the output, is what docs/numerics.md states."""
import numpy as np
import pytest

from hwconv.fixed import FixedType, dequantize
from hwconv.tables import FUNCTIONS, MAX_SEGMENTS, make_table

# (function, bits): worst |table - f| in output LSBs, as in docs/numerics.md.
DOCUMENTED_BOUND = {("tanh", 8): 1.0, ("tanh", 12): 1.0, ("tanh", 16): 1.55,
                    ("sigmoid", 8): 1.0, ("sigmoid", 12): 1.0, ("sigmoid", 16): 1.27,
                    ("exp", 8): 1.0, ("exp", 12): 1.02, ("exp", 16): 1.58}


@pytest.mark.parametrize("function,bits", list(DOCUMENTED_BOUND))
def test_worst_error_over_every_input_code(function, bits):
    worst = 0.0
    for frac in range(0, bits + 2):
        t_in, t_out = FixedType(bits, frac), FixedType(bits, bits - 1)
        table = make_table(function, t_in, t_out)
        assert table.segments <= MAX_SEGMENTS
        # exp is used for x <= 0 only (softmax subtracts the maximum first).
        codes = np.arange(t_in.min_int, (0 if function == "exp" else t_in.max_int) + 1)
        exact = FUNCTIONS[function][0](dequantize(codes, t_in)) * 2.0 ** t_out.frac
        worst = max(worst, float(np.abs(table.lookup(codes) - exact).max()))
    assert worst <= DOCUMENTED_BOUND[function, bits]
    # The bound is tight: it is not a loose number that could hide a regression.
    assert worst > DOCUMENTED_BOUND[function, bits] - 0.05


def test_table_is_monotonic_like_its_function():
    t_in, t_out = FixedType(16, 12), FixedType(16, 15)
    for function in FUNCTIONS:
        y = make_table(function, t_in, t_out).lookup(np.arange(t_in.min_int, t_in.max_int + 1))
        assert np.all(np.diff(y) >= 0)


@pytest.mark.parametrize("in_frac", [0, 7, 16, 26, 31])
@pytest.mark.parametrize("gain", [1.0, 0.5, 1 / 3 ** 0.5, 0.25])
def test_sqrt_within_one_lsb(in_frac, gain):
    from hwconv.tables import NormalizedTable
    out = FixedType(16, 10)
    rng = np.random.default_rng(in_frac)
    v = np.unique(np.concatenate([np.arange(0, 4096), rng.integers(0, 2 ** 44, 50_000),
                                  1 << np.arange(45), (1 << np.arange(1, 45)) - 1]))
    exact = np.minimum(gain * np.sqrt(v / 2.0 ** in_frac) * 2 ** out.frac, out.max_int)
    err = np.abs(NormalizedTable("sqrt", in_frac, out, gain).lookup(v) - exact)
    assert err.max() <= 0.85   # docs/numerics.md: worst seen 0.82 LSB


@pytest.mark.parametrize("in_frac", [0, 7, 16, 26])
@pytest.mark.parametrize("gain", [1.0, 0.5, 1 / 3 ** 0.5])
def test_reciprocal_within_one_lsb(in_frac, gain):
    from hwconv.tables import NormalizedTable
    out = FixedType(16, 10)
    rng = np.random.default_rng(in_frac)
    v = np.unique(np.concatenate([np.arange(1, 4096), rng.integers(1, 2 ** 44, 50_000),
                                  1 << np.arange(45), (1 << np.arange(1, 45)) - 1]))
    exact = np.minimum(gain / (v / 2.0 ** in_frac) * 2 ** out.frac, out.max_int)
    err = np.abs(NormalizedTable("reciprocal", in_frac, out, gain).lookup(v) - exact)
    assert err.max() <= 0.85
    assert NormalizedTable("reciprocal", in_frac, out, gain).lookup(np.array([0]))[0] == \
        out.max_int


@pytest.mark.parametrize("in_frac", [0, 7, 16, 26])
def test_log_within_one_lsb(in_frac):
    from hwconv.tables import NormalizedTable
    out = FixedType(16, 10)
    rng = np.random.default_rng(in_frac)
    v = np.unique(np.concatenate([np.arange(1, 4096), rng.integers(1, 2 ** 44, 50_000),
                                  1 << np.arange(45)]))
    exact = np.clip(np.log(v / 2.0 ** in_frac) * 2 ** out.frac, out.min_int, out.max_int)
    table = NormalizedTable("log", in_frac, out)
    assert np.abs(table.lookup(v) - exact).max() <= 0.55
    assert table.lookup(np.array([0]))[0] == out.min_int


@pytest.mark.parametrize("function", ["sqrt", "reciprocal", "log"])
def test_normalized_tables_over_every_16_bit_code(function):
    """Every non-negative 16-bit input code, in 18 input formats: within 0.62 LSB."""
    from hwconv.tables import NormalizedTable
    out = FixedType(16, 8)
    codes = np.arange(1, 1 << 15)
    worst = 0.0
    for in_frac in range(18):
        real = codes / 2.0 ** in_frac
        exact = {"sqrt": np.sqrt, "reciprocal": np.reciprocal, "log": np.log}[function](real)
        exact = np.clip(exact * 2 ** out.frac, out.min_int, out.max_int)
        table = NormalizedTable(function, in_frac, out)
        worst = max(worst, float(np.abs(table.lookup(codes) - exact).max()))
    assert worst <= 0.62   # docs/numerics.md
