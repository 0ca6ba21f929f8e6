"""The reference's integer rules against float on the same codes, in LSBs."""
import numpy as np
import pytest

from hwconv import reference
from hwconv.fixed import dequantize
from tests.graphs import random_frames, single_node_graph


@pytest.mark.parametrize("kind,shape,opts", [
    ("avgpool", (2, 9, 9), dict(kernel=(3, 3), stride=(1, 1), pads=(1, 1, 1, 1))),
    ("avgpool", (2, 8, 8), dict(kernel=(2, 2), stride=(2, 2))),
    ("avgpool", (2, 9, 8), dict(kernel=(3, 3), stride=(2, 2), pads=(1, 1, 0, 1),
                                ceil_mode=True, count_include_pad=False)),
    ("globalpool", (3, 7, 5), dict(mode="avg")),
    ("globalpool", (2, 28, 28), dict(mode="avg"))])
def test_means_are_within_one_lsb(kind, shape, opts):
    g = single_node_graph(kind, shape, **opts)
    x = random_frames(g, 20)
    t = g.input.fixed
    exact = reference.run_float(g, dequantize(x, t))
    err = np.abs(dequantize(reference.run(g, x), t) - exact) / t.lsb
    assert err.max() <= 1.0


@pytest.mark.parametrize("kind,opts", [
    ("threshold", dict(threshold=0.3, value=-0.7)), ("hardtanh", dict(min_val=-0.5, max_val=1.25)),
    ("shrink", dict(lambd=0.5, bias=0.5)), ("shrink", dict(lambd=0.25)), ("abs", {}),
    ("relu", {})])
def test_comparisons_are_exact_and_constants_within_half_lsb(kind, opts):
    g = single_node_graph(kind, (2, 6, 6), **opts)
    x = random_frames(g, 20)
    t = g.input.fixed
    exact = reference.run_float(g, dequantize(x, t))
    err = np.abs(dequantize(reference.run(g, x), t) - exact) / t.lsb
    # Abs of the most negative code saturates by one LSB; the rest is constant rounding.
    assert err.max() <= (1.0 if kind == "abs" else 0.5)


@pytest.mark.parametrize("mean", [False, True])
def test_lowered_l2_pooling_is_the_same_function(mean):
    from hwconv import ir
    from hwconv.compiler.passes.lower import lower
    g = ir.Graph((ir.Input("x", shape=(2, 6, 6)),
                  ir.LpPool2d("pool", ("x",), kernel=(3, 3), stride=(1, 1), pads=(1, 1, 1, 1),
                              mean=mean), ir.Output("y", ("pool",))))
    x = np.random.default_rng(0).normal(0, 1, (3, 2, 6, 6))
    lowered = lower(g)
    assert [type(n).__name__ for n in lowered.nodes] == ["Input", "Square", "SumPool2d", "Sqrt",
                                                         "Output"]
    np.testing.assert_allclose(reference.run_float(lowered, x), reference.run_float(g, x),
                               rtol=1e-12, atol=0)


def _gaussian(n, sigma=0.25):
    """Torch7's image.gaussian(n) (normalized width sigma), the usual LCN kernel."""
    c = (n - 1) / 2
    g = np.exp(-((np.arange(n) - c) / (sigma * n)) ** 2 / 2)
    return np.outer(g, g)


@pytest.mark.parametrize("mode,adaptive", [("subtractive", False), ("divisive", False),
                                           ("contrastive", False), ("divisive", True),
                                           ("contrastive", True)])
def test_lowered_local_norm_is_the_same_function(mode, adaptive):
    from hwconv import ir
    from hwconv.compiler.passes.lower import lower
    node = ir.LocalNorm("lcn", ("x",), mode=mode, kernel=_gaussian(7), adaptive=adaptive,
                        threshold=1e-3 if adaptive else 1e-4)
    g = ir.Graph((ir.Input("x", shape=(3, 12, 10)), node, ir.Output("y", ("lcn",))))
    x = np.random.default_rng(0).normal(0, 1, (2, 3, 12, 10))
    np.testing.assert_allclose(reference.run_float(lower(g), x), reference.run_float(g, x),
                               rtol=1e-9, atol=1e-12)


def test_local_norm_matches_torch7_definition_by_hand():
    """Subtractive normalization written out from nn.SpatialSubtractiveNormalization's
    source, loops and all, on a small map."""
    from hwconv import ir
    k = np.ones((3, 3))
    g = ir.Graph((ir.Input("x", shape=(2, 4, 5)),
                  ir.LocalNorm("n", ("x",), mode="subtractive", kernel=k),
                  ir.Output("y", ("n",))))
    x = np.random.default_rng(1).normal(0, 1, (1, 2, 4, 5))
    kn = k / (k.sum() * 2)
    mean, coef = np.zeros((4, 5)), np.zeros((4, 5))
    for i in range(4):
        for j in range(5):
            for a in range(3):
                for b in range(3):
                    r, c = i + a - 1, j + b - 1
                    if 0 <= r < 4 and 0 <= c < 5:
                        mean[i, j] += kn[a, b] * x[0, :, r, c].sum()
                        coef[i, j] += kn[a, b] * 2
    np.testing.assert_allclose(reference.run_float(g, x)[0], x[0] - mean / coef, rtol=1e-12)


@pytest.mark.parametrize("shape", [(10,), (5, 3, 4)])
def test_softmax_within_documented_lsbs(shape):
    g = single_node_graph("softmax", shape)
    x = reference.quantize_input(g, np.random.default_rng(3).normal(0, 2, (50, *shape)))
    hw = dequantize(reference.run(g, x), g.output.fixed)
    fl = reference.run_float(g, dequantize(x, g.input.fixed))
    assert np.abs(hw - fl).max() <= 32 * g.output.fixed.lsb   # docs/numerics.md
    assert (hw.argmax(axis=1) == fl.argmax(axis=1)).all()


@pytest.mark.parametrize("shape", [(10,), (4, 2, 3)])
def test_log_softmax_within_documented_lsbs(shape):
    g = single_node_graph("logsoftmax", shape)
    # Spread below the calibration's (N(0, 2)): values beyond the calibrated range saturate
    # by design, which the bound below is not about.
    x = reference.quantize_input(g, np.random.default_rng(4).normal(0, 1, (50, *shape)))
    hw = dequantize(reference.run(g, x), g.output.fixed)
    fl = reference.run_float(g, dequantize(x, g.input.fixed))
    err = np.abs(hw - fl) / g.output.fixed.lsb
    assert err.max() <= 4   # docs/numerics.md
    assert (hw.argmax(axis=1) == fl.argmax(axis=1)).all()


@pytest.mark.parametrize("bits", [8, 16, 24, 26])   # 26: sums past 2**53
def test_sums_of_products_are_exact_below_and_beyond_float64s_integers(bits):
    # Below 2**53 the sums run in float64 (BLAS), beyond it in int64: both must equal
    # exact Python integer arithmetic, to the last unit.
    rng = np.random.default_rng(bits)
    top = 1 << (bits - 1)
    x = rng.integers(-top, top, (2, 3, 5, 5))
    w = rng.integers(-top, top, (4, 3, 3, 3))
    x[0, :, :3, :3], w[0] = top - 1, top - 1     # one window at the largest magnitudes
    win = reference._windows(x, (3, 3), (1, 1))
    got = reference._exact_products("nchwij,ocij->nohw", win, w,
                                    reference._sum_bound(x, w, (1, 2, 3)))
    want = np.array([[[[sum(int(a) * int(b) for a, b in zip(win[n, :, i, j].ravel(),
                                                             w[o].ravel()))
                        for j in range(3)] for i in range(3)] for o in range(4)]
                     for n in range(2)], dtype=object)
    assert got.dtype == np.int64
    assert (got.astype(object) == want).all()
