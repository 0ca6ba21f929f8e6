"""The classic Torch7 convnet stage, [SpatialContrastiveNormalization -> 7x7 convolution ->
tanh -> L2 pooling 2x2], on a 46x46 3-map input: bit-exact in Verilator, and close to the
float definition of the same stage."""
import numpy as np
import pytest
from numpy.testing import assert_array_equal

import hwconv
from hwconv import ir
from hwconv.demo import bundled_digits
from hwconv.sim.verilator import verilator_available


def gaussian(n, sigma=0.25):
    """Torch7's image.gaussian(n): the kernel its demos normalize with."""
    c = (n - 1) / 2
    g = np.exp(-((np.arange(n) - c) / (sigma * n)) ** 2 / 2)
    return np.outer(g, g)


def stage(seed=0) -> ir.Graph:
    rng = np.random.default_rng(seed)
    return ir.Graph((
        ir.Input("yuv", shape=(3, 46, 46)),
        ir.LocalNorm("norm", ("yuv",), mode="contrastive", kernel=gaussian(7)),
        ir.Conv2d("conv", ("norm",), weight=rng.normal(0, 0.1, (16, 3, 7, 7)),
                  bias=rng.normal(0, 0.1, 16)),
        ir.Tanh("tanh", ("conv",)),
        ir.LpPool2d("pool", ("tanh",), kernel=(2, 2), stride=(2, 2), mean=True),
        ir.Output("features", ("pool",))))


def frames(n, offset=0):
    """Real digits, upscaled to 46x46, as three differently scaled maps."""
    d = bundled_digits()["test_x"][offset:offset + n, 0]
    idx = np.arange(46) * 28 // 46
    big = d[:, idx][:, :, idx]
    return np.stack([big, 0.5 - big, big * big], axis=1)


@pytest.fixture(scope="module")
def design():
    return hwconv.compile(stage(), frames(16, offset=100), lanes=49)


def test_stage_lowers_to_hardware_kinds(design):
    kinds = {type(n).__name__ for n in design.graph.nodes}
    assert {"LocalNorm", "LpPool2d"}.isdisjoint(kinds)
    assert {"Scale", "Div", "Sqrt", "Sub", "Conv2d", "Tanh", "SumPool2d"} <= kinds


def test_stage_is_close_to_float(design):
    x = frames(8, offset=200)
    hw, fl = design.reference(x), design.reference_float(x)
    # Seen: 2.7e-4 (9 LSB of the s16.15 output) after eleven requantizing steps.
    assert np.abs(hw - fl).max() <= 1e-3


@pytest.mark.slow   # ~46 s, most of it the Verilator build of the whole stage
@pytest.mark.verilator
@pytest.mark.skipif(not verilator_available(), reason="Verilator is not installed")
def test_stage_bit_exact_in_verilator(design):
    result = design.simulate(frames(2, offset=300))
    assert_array_equal(result.outputs, result.expected)
    assert result.bit_exact
