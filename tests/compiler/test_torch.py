"""The PyTorch frontend: every module and functional form against torch's own output; a
LeNet with BatchNorm2d and LPPool2d compiled and bit-exact in Verilator; refusals that name
the module; `hwconv compile model.pt`; hwconv imports without torch."""
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the PyTorch frontend needs torch (test extra)")
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import hwconv  # noqa: E402
from hwconv import ir, reference  # noqa: E402
from hwconv.compiler.frontends.torch import load_torch  # noqa: E402
from hwconv.errors import CompileError  # noqa: E402
from hwconv.sim.verilator import verilator_available  # noqa: E402

torch.manual_seed(0)


def randomize(module):
    """Non-trivial weights and BatchNorm statistics, then eval mode."""
    g = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.randn(m.num_features, generator=g))
                m.bias.copy_(torch.randn(m.num_features, generator=g))
    return module.eval()


class Functional(nn.Module):
    def __init__(self, fn, *mods):
        super().__init__()
        self.fn, self.mods = fn, nn.ModuleList(mods)

    def forward(self, x):
        return self.fn(self, x)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 3, 3, padding=1)
        self.b = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return torch.relu(self.a(x)) + self.b(x)


class LeNetFunctional(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 4, 3), nn.Conv2d(4, 6, 3)
        self.fc = nn.Linear(6 * 2 * 2, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.conv2(x)), kernel_size=2, stride=2)
        x = x.view(x.size(0), -1)
        return F.softmax(self.fc(x), dim=1)


CASES = {
    "conv_grouped_dilated": (nn.Conv2d(4, 6, 3, stride=(2, 1), padding=(1, 2), dilation=2,
                                       groups=2), (4, 9, 10)),
    "conv_same_even": (nn.Conv2d(2, 3, (4, 2), padding="same", dilation=(1, 2)), (2, 7, 8)),
    "conv_depthwise_nobias": (nn.Conv2d(3, 3, 3, groups=3, bias=False, padding=1), (3, 6, 6)),
    "conv_valid_stride3": (nn.Conv2d(2, 2, 3, stride=3, padding="valid"), (2, 10, 10)),
    "maxpool": (nn.MaxPool2d(3, stride=2, padding=1), (2, 9, 8)),
    "maxpool_ceil_exact": (nn.MaxPool2d(2, ceil_mode=True), (2, 8, 8)),
    "avgpool": (nn.AvgPool2d(3, stride=2, padding=1), (2, 9, 9)),
    "lppool": (nn.LPPool2d(2, 2), (3, 8, 8)),
    "lppool_rect": (nn.LPPool2d(2.0, (3, 2), stride=(1, 2)), (2, 7, 8)),
    "batchnorm": (randomize(nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.BatchNorm2d(3))),
                  (2, 6, 6)),
    "batchnorm_after_conv": (randomize(nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3))),
                             (2, 6, 6)),
    "relu": (nn.ReLU(), (2, 4, 4)),
    "relu6": (nn.ReLU6(), (2, 4, 4)),
    "tanh": (nn.Tanh(), (2, 4, 4)),
    "sigmoid": (nn.Sigmoid(), (2, 4, 4)),
    "hardtanh": (nn.Hardtanh(-0.5, 1.5), (2, 4, 4)),
    "softshrink": (nn.Softshrink(0.3), (2, 4, 4)),
    "hardshrink": (nn.Hardshrink(0.4), (2, 4, 4)),
    "threshold": (nn.Threshold(0.2, -1.0), (2, 4, 4)),
    "flatten_linear": (nn.Sequential(nn.Flatten(), nn.Linear(32, 5), nn.ReLU(),
                                     nn.Linear(5, 3, bias=False)), (2, 4, 4)),
    "softmax_map": (nn.Softmax(dim=1), (4, 3, 3)),
    "softmax_vector": (nn.Sequential(nn.Flatten(), nn.Linear(18, 4), nn.Softmax(dim=-1)),
                       (2, 3, 3)),
    "maxpool_ceil": (nn.MaxPool2d(2, ceil_mode=True), (2, 5, 7)),
    "maxpool_dilated": (nn.MaxPool2d(3, stride=2, padding=1, dilation=2, ceil_mode=True),
                        (2, 9, 10)),
    "avgpool_ceil_exclude_pad": (nn.AvgPool2d(3, 2, padding=1, ceil_mode=True,
                                              count_include_pad=False), (2, 8, 9)),
    "lrn": (nn.Sequential(nn.Conv2d(3, 6, 1), nn.LocalResponseNorm(3, alpha=0.1, beta=0.75,
                                                                   k=2.0)), (3, 4, 4)),
    "log_softmax_vector": (nn.Sequential(nn.Flatten(), nn.Linear(48, 4), nn.LogSoftmax(dim=1)),
                           (3, 4, 4)),
    "log_softmax_map": (nn.LogSoftmax(dim=1), (4, 3, 3)),
    "functional_lrn_log_softmax": (Functional(lambda s, x: F.log_softmax(
        F.local_response_norm(x, 5, alpha=0.05), dim=1)), (6, 3, 3)),
    "dropout_identity": (nn.Sequential(nn.Dropout(0.5), nn.Dropout2d(0.2),
                                       nn.Identity()).eval(), (2, 3, 3)),
    "functional_lenet": (LeNetFunctional(), (1, 14, 14)),
    "residual_add": (Residual(), (3, 5, 5)),
    "functional_misc": (Functional(lambda s, x: torch.flatten(
        F.hardtanh(torch.sigmoid(F.lp_pool2d(s.mods[0](x).abs(), 2, 2)), 0.1, 0.9), 1),
        nn.Conv2d(2, 3, 3)), (2, 8, 8)),
    "functional_view": (Functional(lambda s, x: s.mods[0](
        F.softshrink(F.relu6(x), 0.2).reshape(-1, 2 * 4 * 4)), nn.Linear(32, 3)), (2, 4, 4)),
    "functional_shape": (Functional(lambda s, x: s.mods[0](
        x.contiguous().view(x.shape[0], -1)), nn.Linear(32, 3)), (2, 4, 4)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_module_matches_torch(case):
    module, shape = CASES[case]
    module.eval()
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(2))
    g = load_torch(module, x)
    with torch.no_grad():
        want = module.double()(x.double()).numpy()
    module.float()
    got = reference.run_float(g, x.double().numpy())
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=0, atol=1e-5)


def test_kinds_imported():
    g = load_torch(CASES["lppool"][0], torch.zeros(1, 3, 8, 8))
    (pool,) = [n for n in g.nodes if isinstance(n, ir.LpPool2d)]
    assert not pool.mean and pool.kernel == (2, 2)   # PyTorch's LPPool2d sums: mean=False
    g = load_torch(CASES["batchnorm"][0], torch.zeros(1, 2, 6, 6))
    assert any(isinstance(n, ir.BatchNorm) for n in g.nodes)
    g = load_torch(CASES["conv_grouped_dilated"][0], torch.zeros(4, 9, 10))
    conv = g.nodes[1]
    assert conv.dilation == (2, 2) and conv.connections is not None


# -- the LeNet of issue 4 ---------------------------------------------------------------

def lenet():
    """A small LeNet with BatchNorm2d and LPPool2d, on 1x16x16 frames."""
    torch.manual_seed(3)
    return randomize(nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.LPPool2d(2, 2),
        nn.Conv2d(4, 8, 3), nn.BatchNorm2d(8), nn.Tanh(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 2 * 2, 16), nn.ReLU(), nn.Dropout(), nn.Linear(16, 10)))


def digits16(n, offset=0):
    from hwconv.demo import bundled_digits
    d = bundled_digits()["test_x"][offset:offset + n]
    return d[:, :, 6:22, 6:22].astype(np.float32)    # the middle 16x16 of each digit


@pytest.fixture(scope="module")
def lenet_design():
    return hwconv.compile(lenet(), digits16(64), lanes=8)


def test_lenet_compiles_and_is_close_to_float(lenet_design):
    kinds = [type(n).__name__ for n in lenet_design.graph.nodes]
    assert "BatchNorm" not in kinds and "LpPool2d" not in kinds   # folded and lowered
    assert {"Square", "SumPool2d", "Sqrt"} <= set(kinds)
    x = digits16(32, offset=100)
    hw, fl = lenet_design.reference(x), lenet_design.reference_float(x)
    with torch.no_grad():
        np.testing.assert_allclose(fl, lenet()(torch.from_numpy(x)).double().numpy(),
                                   atol=1e-5)
    # Seen: 3.3e-5 worst at 16 bits (2.2 LSB of the s16.16 scores, which reach 0.34), and
    # the same top-1 on every frame.
    assert np.abs(hw - fl).max() < 5e-4
    assert (hw.argmax(axis=1) == fl.argmax(axis=1)).mean() >= 0.95


@pytest.mark.verilator
@pytest.mark.skipif(not verilator_available(), reason="Verilator is not installed")
def test_lenet_bit_exact_in_verilator(lenet_design):
    result = lenet_design.simulate(digits16(3, offset=200))
    assert result.bit_exact


def test_compile_takes_module_and_example_input():
    x = torch.randn(4, 2, 6, 6)
    module = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU())
    design = hwconv.compile(module, x)      # the frames are the example and the calibration
    assert design.graph.input.shape == (2, 6, 6)
    design = hwconv.compile(module, None, example_input=x[0])
    assert design.graph.input.shape == (2, 6, 6)


# -- refusals ---------------------------------------------------------------------------

class TwoInputs(nn.Module):
    def forward(self, x, y):
        return x + y


class DataDependent(nn.Module):
    def forward(self, x):
        return x if x.sum() > 0 else -x


@pytest.mark.parametrize("module,shape,match", [
    (nn.Sequential(nn.Conv2d(3, 3, 1), nn.LocalResponseNorm(2)), (3, 4, 4),
     r"^1 \(LocalResponseNorm\): size=2 is not supported; use an odd size"),
    (nn.Sequential(nn.LogSoftmax(dim=2), nn.ReLU()), (3, 4, 4),
     r"^0 \(LogSoftmax\): dim=2 is not supported"),
    (nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3)), (3, 4, 4),
     r"^1 \(BatchNorm2d\): is in training mode .*model.eval\(\)"),
    (nn.Sequential(nn.Dropout(0.5)), (3, 4, 4), r"^0 \(Dropout\): is in training mode"),
    (nn.LPPool2d(2, 2, ceil_mode=True), (3, 5, 5),
     r"ceil_mode=True is not supported for Lp pooling yet"),
    (nn.LPPool2d(3, 2), (3, 4, 4), r"norm_type=3 is not supported yet"),
    (nn.Conv2d(3, 3, 3, padding=1, padding_mode="reflect"), (3, 4, 4),
     r"padding_mode='reflect' is not supported"),
    (nn.Sequential(nn.Conv2d(3, 2, 1), nn.Linear(4, 2)), (3, 2, 2),
     r"^1 \(Linear\): expects a vector"),
    (nn.Softmax(dim=2), (3, 4, 4), r"dim=2 is not supported"),
    (nn.GELU(), (3, 4, 4), r"^0 \(GELU\): module GELU is not supported; supported: Conv2d"),
    (Functional(lambda s, x: torch.exp(x)), (3, 4, 4), r"function exp is not supported"),
    (Functional(lambda s, x: x + 1.0), (3, 4, 4), r"adding a constant is not supported"),
    (Functional(lambda s, x: x.view(-1, 3, 16)), (3, 4, 4), r"reshaping .* is not supported"),
    (Functional(lambda s, x: F.conv2d(x, s.w), ), (3, 4, 4), r"tensor attribute 'w'"),
    (TwoInputs(), (3, 4, 4), r"forward takes 2 inputs"),
    (DataDependent(), (3, 4, 4), r"torch.fx could not trace DataDependent.forward"),
], ids=["lrn_even", "logsoftmax_dim", "bn_training", "dropout_training",
        "lp_ceil", "lp3", "reflect", "linear_on_map",
        "softmax_dim", "unknown_module", "unknown_function", "add_constant", "view",
        "get_attr", "two_inputs", "data_dependent"])
def test_refused_with_the_module_named(module, shape, match):
    if isinstance(module, Functional) and "w" in module.fn.__code__.co_names:
        module.w = nn.Parameter(torch.ones(2, 3, 1, 1))
    with pytest.raises(CompileError, match=match):
        load_torch(module, torch.zeros(1, *shape))


def test_final_log_softmax_can_be_dropped():
    module = nn.Sequential(nn.Flatten(), nn.Linear(12, 4), nn.LogSoftmax(dim=1)).eval()
    x = torch.randn(5, 3, 2, 2)
    g = load_torch(module, x, drop_log_softmax=True)
    scores = reference.run_float(g, x.double().numpy())
    assert (scores.argmax(1) == module(x).argmax(1).numpy()).all()


def test_bad_example_input():
    with pytest.raises(CompileError, match=r"example_input has shape \(3, 4\)"):
        load_torch(nn.ReLU(), torch.zeros(3, 4))
    with pytest.raises(CompileError, match="NaN"):
        load_torch(nn.ReLU(), torch.full((1, 1, 2, 2), float("nan")))
    with pytest.raises(CompileError, match=r"^0 \(Conv2d\): weight has 3 input channels but "
                                           r"the input has 2"):
        load_torch(nn.Conv2d(3, 1, 3), torch.zeros(1, 2, 4, 4))


# -- saved modules and the command line -------------------------------------------------

def test_cli_compiles_a_saved_module(tmp_path, capsys):
    from hwconv.cli import main
    module = randomize(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(),
                                     nn.LPPool2d(2, 2)))
    module.train()          # saved in training mode: the command line evaluates it
    torch.save(module, tmp_path / "m.pt")
    out = tmp_path / "design"
    assert main(["compile", str(tmp_path / "m.pt"), "--input-shape", "1,8,8", "-o",
                 str(out)]) == 0
    assert (out / "graph.json").exists()
    assert main(["compile", str(tmp_path / "m.pt"), "-o", str(out)]) == 2
    assert "give it with --input-shape C,H,W" in capsys.readouterr().err
    torch.save(module.state_dict(), tmp_path / "sd.pt")
    assert main(["compile", str(tmp_path / "sd.pt"), "--input-shape", "1,8,8", "-o",
                 str(out)]) == 2
    assert "holds a state_dict" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"\x00not a pickle")
    assert main(["compile", str(tmp_path / "junk.pt"), "--input-shape", "1,8,8", "-o",
                 str(out)]) == 2
    assert "torch.load cannot read it" in capsys.readouterr().err


def test_hwconv_imports_and_compiles_onnx_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import hwconv, hwconv.cli\n"
            "from hwconv.compiler.frontends import torch as t, torch7\n"
            "from hwconv.demo import bundled_model\n"
            "hwconv.compile(bundled_model(), None)\n"
            "try:\n"
            "    t.load_torch(object(), None)\n"
            "except hwconv.CompileError as e:\n"
            "    assert 'needs torch' in str(e), e\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
