"""The reference's integer rules against float on the same codes, in LSBs."""
import numpy as np
import pytest

from hwconv import reference
from hwconv.fixed import dequantize
from tests.graphs import random_frames, single_node_graph


@pytest.mark.parametrize("kind,shape,opts", [
    ("avgpool", (2, 9, 9), dict(kernel=(3, 3), stride=(1, 1), pads=(1, 1, 1, 1))),
    ("avgpool", (2, 8, 8), dict(kernel=(2, 2), stride=(2, 2))),
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
