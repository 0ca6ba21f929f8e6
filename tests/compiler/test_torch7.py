"""The Torch7 frontend: real .net files from the Torch7 demos against their float references,
quantized within a computed bound and bit-exact in Verilator; every module kind, in files
written by tests/compiler/t7write.py, against PyTorch's own output of the same Lua maths;
damaged files and unsupported modules refused with a CompileError naming the module."""
import math
import pathlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import hwconv
from hwconv import ir, reference
from hwconv.compiler.frontends.torch7 import load_torch7, saved_forward
from hwconv.errors import CompileError
from hwconv.fixed import dequantize
from hwconv.sim.verilator import verilator_available
from tests.compiler.t7write import Module, Raw, Storage, seq, write

FIXTURES = pathlib.Path(__file__).parent.parent / "fixtures" / "torch7"
ROAD = FIXTURES / "road-net_u1net.net"
FACE = FIXTURES / "face-detector-elab_model.net"

# Our float64 execution against the fixtures' independent float64 numpy re-implementation
# on the same float32 weights: they differ only in summation order (seen: 5e-15).
FLOAT_TOL = 1e-9


def fixture(name):
    return np.load(FIXTURES / f"{name}_ref_input.npy"), np.load(FIXTURES / f"{name}_ref_output.npy")


def log_softmax(s):
    m = s.max(axis=1, keepdims=True)
    return s - m - np.log(np.exp(s - m).sum(axis=1, keepdims=True))


def quantization_bound(graph: ir.Graph, x) -> float:
    """Worst-case |quantized - float| of the output on frames x, propagated node by node
    from the rules of docs/numerics.md (assuming nothing saturates, as holds when the
    calibration frames include x): the input's rounding is 1/2 LSB; a Conv2d or Linear adds
    max_o sum|Wq_o| * e_in + max_o sum|W_o - Wq_o| * max|x| + 1/2 LSB of the bias at the
    accumulator's scale + 1/2 LSB of its output; MaxPool, ReLU and Flatten keep e_in;
    Threshold(t, v) adds |t - v| + 1 LSB where the two sides may choose differently."""
    values = reference.run_all(graph, reference._batch(graph, x), exact=False)
    err: dict[str, float] = {}
    for node in graph.nodes:
        if isinstance(node, ir.Input):
            err[node.name] = 2.0 ** -(node.fixed.frac + 1)
            continue
        e_in, t_in = err[node.inputs[0]], graph.in_fixed(node)
        if isinstance(node, ir.WEIGHTED):
            w = node.weight.reshape(node.weight.shape[0], -1)
            wq = dequantize(ir.weight_ints(node), node.weight_fixed).reshape(w.shape)
            x_max = np.abs(values[node.inputs[0]]).max()
            err[node.name] = (np.abs(wq).sum(axis=1).max() * e_in
                              + np.abs(w - wq).sum(axis=1).max() * x_max
                              + 2.0 ** -(ir.acc_frac(node, t_in) + 1)
                              + 2.0 ** -(node.fixed.frac + 1))
        elif isinstance(node, ir.Threshold):
            err[node.name] = e_in + abs(node.threshold - node.value) + 2.0 ** -t_in.frac
        elif isinstance(node, (ir.MaxPool2d, ir.ReLU, ir.Flatten, ir.Output)):
            err[node.name] = e_in
        else:
            raise NotImplementedError(type(node).__name__)
    return err[graph.output.name]


# -- the real files ---------------------------------------------------------------------

def test_road_net_float_matches_its_reference():
    g = load_torch7(ROAD, (3, 32, 32))
    assert [type(n).__name__ for n in g.nodes] == ["Input", "Conv2d", "MaxPool2d", "Output"]
    x, y = fixture("road-net_u1net")
    np.testing.assert_allclose(reference.run_float(g, x), y, rtol=0, atol=FLOAT_TOL)


def test_face_detector_float_matches_its_reference():
    g = load_torch7(FACE, (1, 32, 32))
    kinds = ["Input", "Conv2d", "Threshold", "MaxPool2d", "Conv2d", "Threshold", "Flatten",
             "Linear", "LogSoftmax", "Output"]
    assert [type(n).__name__ for n in g.nodes] == kinds
    x, y = fixture("face-detector-elab_model")
    np.testing.assert_allclose(reference.run_float(g, x), y, rtol=0, atol=FLOAT_TOL)
    # Without the final LogSoftMax: the scores, whose log-softmax the fixture holds.
    g = load_torch7(FACE, (1, 32, 32), drop_log_softmax=True)
    assert [type(n).__name__ for n in g.nodes] == kinds[:-2] + ["Output"]
    np.testing.assert_allclose(log_softmax(reference.run_float(g, x)), y, rtol=0,
                               atol=FLOAT_TOL)


def test_unsup_classifier_reads_road_net_features():
    g = load_torch7(FIXTURES / "road-net_unsup-cl-30.net", (12, 12, 12), drop_log_softmax=True)
    assert [type(n).__name__ for n in g.nodes] == ["Input", "Flatten", "Linear", "Threshold",
                                                   "Linear", "Output"]
    assert g.shape(g.output.name) == (8,)


@pytest.fixture(scope="module")
def road_design():
    x, _ = fixture("road-net_u1net")
    # Calibrated on the frames it is checked on, so nothing saturates and the bound holds.
    return hwconv.compile(load_torch7(ROAD, (3, 32, 32)), x)


@pytest.fixture(scope="module")
def face_design():
    """The scores, without the final LogSoftMax (the bound covers the layers before it)."""
    x, _ = fixture("face-detector-elab_model")
    return hwconv.compile(load_torch7(FACE, (1, 32, 32), drop_log_softmax=True), x)


@pytest.fixture(scope="module")
def face_full_design():
    """The whole file, LogSoftMax included."""
    x, _ = fixture("face-detector-elab_model")
    return hwconv.compile(str(FACE), x, input_shape=(1, 32, 32))


def test_face_detector_with_log_softmax_close_to_its_reference(face_full_design):
    x, y = fixture("face-detector-elab_model")
    hw = face_full_design.reference(x)
    # Seen: 8.4e-4 worst (1.7 LSB of the s16.11 output) against the fixture's
    # log-probabilities; the same class wins on every frame.
    assert np.abs(hw - y).max() < 4e-3
    assert (hw.argmax(axis=1) == y.argmax(axis=1)).all()


@pytest.mark.parametrize("name", ["road", "face"])
def test_quantized_reference_within_bound(name, request):
    design = request.getfixturevalue(f"{name}_design")
    fixture_name = {"road": "road-net_u1net", "face": "face-detector-elab_model"}[name]
    x, y = fixture(fixture_name)
    hw, fl = design.reference(x), design.reference_float(x)
    bound = quantization_bound(design.graph, x)
    err = np.abs(hw - fl).max()
    # Measured at 16 bits: road-net 2.8e-4 worst (2.3 LSB of its s16.13 output) against a
    # bound of 2.6e-3; the face detector's scores 2.9e-4 (1.2 LSB of s16.12) against a
    # bound of 9.6e-2 (the worst case through two convolutions and a Linear is loose).
    assert err <= bound, (err, bound)
    assert bound < {"road": 5e-3, "face": 0.1}[name]
    if name == "face":   # the fixture holds log-probabilities; log_softmax is 2-Lipschitz
        assert np.abs(log_softmax(hw) - y).max() <= 2 * bound + FLOAT_TOL
        assert (hw.argmax(axis=1) == y.argmax(axis=1)).all()
    else:
        assert np.abs(hw - y).max() <= bound + FLOAT_TOL


@pytest.mark.slow   # a whole network in Verilator (~24 s)
@pytest.mark.verilator
@pytest.mark.skipif(not verilator_available(), reason="Verilator is not installed")
def test_road_net_bit_exact_in_verilator(road_design):
    x, _ = fixture("road-net_u1net")
    result = road_design.simulate(x[:2])
    assert result.bit_exact


@pytest.mark.slow   # a whole network in Verilator (~32 s)
@pytest.mark.verilator
@pytest.mark.skipif(not verilator_available(), reason="Verilator is not installed")
def test_face_detector_bit_exact_in_verilator(face_full_design):
    x, _ = fixture("face-detector-elab_model")
    result = face_full_design.simulate(x)
    assert result.bit_exact


def test_compile_reads_torch7_paths(tmp_path):
    design = hwconv.compile(str(ROAD), fixture("road-net_u1net")[0], input_shape=(3, 32, 32))
    assert design.graph.shape(design.graph.output.name) == (12, 12, 12)


def test_cli_compiles_a_torch7_file(tmp_path, capsys):
    from hwconv.cli import main
    x, _ = fixture("face-detector-elab_model")
    np.save(tmp_path / "cal.npy", x)
    args = ["compile", str(FACE), "--input-shape", "1,32,32", "--calibration",
            str(tmp_path / "cal.npy"), "-o", str(tmp_path / "d")]
    assert main(args) == 0
    assert '"kind": "Log"' in (tmp_path / "d" / "graph.json").read_text()   # lowered
    assert main(args + ["--drop-log-softmax"]) == 0
    assert '"kind": "Log"' not in (tmp_path / "d" / "graph.json").read_text()


# -- every module kind, in written files, against PyTorch -------------------------------

def _torch():
    return pytest.importorskip("torch", reason="PyTorch computes the expected outputs")


RNG = np.random.default_rng(4)


def f32(*shape, scale=1.0):
    return (RNG.normal(0, scale, shape)).astype(np.float32)


def t(a):
    return _torch().from_numpy(np.asarray(a, dtype=np.float64))


def lua_estimator(x, kernel, n, scale):
    """Torch7's mean estimator, literally: zero padding, the kernel / scale on every plane
    (SpatialConvolutionMap oneToOne), nn.Sum over the planes, nn.Replicate."""
    import torch.nn.functional as F
    k = t(kernel) / scale
    if k.dim() == 1:   # two separable passes, horizontal then vertical
        p = k.shape[0] // 2
        y = F.conv2d(F.pad(x, (p, p, p, p)), k.view(1, 1, 1, -1).repeat(n, 1, 1, 1), groups=n)
        y = F.conv2d(y, k.view(1, 1, -1, 1).repeat(n, 1, 1, 1), groups=n)
    else:
        ph, pw = k.shape[0] // 2, k.shape[1] // 2
        y = F.conv2d(F.pad(x, (pw, pw, ph, ph)), k[None, None].repeat(n, 1, 1, 1), groups=n)
    return y.sum(dim=1, keepdim=True).repeat(1, n, 1, 1)


def lua_subtractive(x, kernel, n):
    scale = kernel.sum() * n
    coef = lua_estimator(_torch().ones_like(x), kernel, n, scale)
    return x - lua_estimator(x, kernel, n, scale) / coef


def lua_divisive(x, kernel, n, threshold, thresval):
    scale = kernel.sum() * (n if kernel.ndim == 2 else math.sqrt(n))
    coef = lua_estimator(_torch().ones_like(x), kernel, n, scale)
    std = lua_estimator(x * x, kernel, n, scale).sqrt() / coef
    return x / _torch().where(std > threshold, std, _torch().full_like(std, thresval))


def lua_nnx_normalization(x, kernel, n, threshold):
    """nnx.SpatialNormalization.forward, literally (threshold None: the adaptive one)."""
    import torch.nn.functional as F

    def convo(v, k):
        k = t(k) / float(np.sum(k))
        ph, pw = k.shape[0] // 2, k.shape[1] // 2
        y = F.conv2d(F.pad(v, (pw, pw, ph, ph)), k[None, None].repeat(n, 1, 1, 1), groups=n)
        return y.sum(dim=1, keepdim=True).repeat(1, n, 1, 1)

    def est(v):
        return convo(convo(v, kernel[0]), kernel[1]) if isinstance(kernel, tuple) else \
            convo(v, kernel)
    coef = est(_torch().ones_like(x))
    z = x - est(x) / coef
    std = est(z * z).sqrt() / coef
    if threshold is None:   # no fixed threshold: max(mean std over the frame, 1e-3)
        threshold = std.mean(dim=(1, 2, 3), keepdim=True).clamp(min=1e-3)
        return z / _torch().where(std > threshold, std, threshold.expand_as(std))
    return z / _torch().where(std > threshold, std, _torch().full_like(std, threshold))


def _cases():
    """(id, Torch7 module, input shape, expected output from a float64 torch tensor)."""
    import torch
    import torch.nn.functional as F
    cases = []

    w, b = f32(4, 3, 3, 5), f32(4)
    cases.append(("SpatialConvolution", Module(
        "nn.SpatialConvolution", nInputPlane=3, nOutputPlane=4, kW=5, kH=3, dW=2, dH=1,
        padW=2, padH=1, weight=w, bias=b), (3, 9, 10),
        lambda x: F.conv2d(x, t(w), t(b), stride=(1, 2), padding=(1, 2))))
    w2 = f32(5, 2 * 3 * 3)
    cases.append(("SpatialConvolutionMM", Module(
        "nn.SpatialConvolutionMM", nInputPlane=2, nOutputPlane=5, kW=3, kH=3, padding=1,
        weight=w2, bias=b[:1].repeat(5)), (2, 7, 7),
        lambda x: F.conv2d(x, t(w2).view(5, 2, 3, 3), t(b[:1].repeat(5)), padding=1)))
    conn = np.array([[1, 1], [2, 1], [3, 2], [1, 3], [3, 3], [2, 2]], np.float32)
    wm, bm = f32(6, 3, 3), f32(3)

    def conv_map(x):
        outs = [t(bm)[o].expand(x.shape[0], 1, x.shape[2] - 2, x.shape[3] - 2).clone()
                for o in range(3)]
        for (i, o), k in zip(conn.astype(int), wm):
            outs[o - 1] = outs[o - 1] + F.conv2d(x[:, i - 1:i], t(k)[None, None])
        return torch.cat(outs, dim=1)
    cases.append(("SpatialConvolutionMap", Module(
        "nn.SpatialConvolutionMap", connTable=conn, kW=3, kH=3, dW=1, dH=1, nInputPlane=3,
        nOutputPlane=3, weight=wm, bias=bm), (3, 8, 8), conv_map))
    ws, bs = f32(3), f32(3)
    cases.append(("SpatialSubSampling", Module(
        "nn.SpatialSubSampling", nInputPlane=3, kW=2, kH=3, dW=2, dH=3, weight=ws, bias=bs),
        (3, 9, 8), lambda x: F.avg_pool2d(x, (3, 2), (3, 2)) * 6 * t(ws)[None, :, None, None]
        + t(bs)[None, :, None, None]))
    cases.append(("SpatialMaxPooling", Module(
        "nn.SpatialMaxPooling", kW=3, kH=2, dW=2, dH=2, padW=1, padH=0), (2, 8, 9),
        lambda x: F.max_pool2d(x, (2, 3), (2, 2), padding=(0, 1))))
    cases.append(("SpatialMaxPooling_ceil_exact", Module(
        "nn.SpatialMaxPooling", kW=2, kH=2, dW=2, dH=2, ceil_mode=True), (2, 8, 8),
        lambda x: F.max_pool2d(x, 2, 2, ceil_mode=True)))
    cases.append(("SpatialAveragePooling", Module(
        "nn.SpatialAveragePooling", kW=3, kH=3, dW=2, dH=2, padW=1, padH=1, divide=True,
        count_include_pad=True), (2, 9, 9),
        lambda x: F.avg_pool2d(x, 3, 2, padding=1, count_include_pad=True)))
    cases.append(("SpatialMaxPooling_ceil", Module(
        "nn.SpatialMaxPooling", kW=2, kH=2, dW=2, dH=2, ceil_mode=True), (2, 7, 9),
        lambda x: F.max_pool2d(x, 2, 2, ceil_mode=True)))
    cases.append(("SpatialAveragePooling_ceil_exclude_pad", Module(
        "nn.SpatialAveragePooling", kW=3, kH=3, dW=2, dH=2, padW=1, padH=1, divide=True,
        ceil_mode=True, count_include_pad=False), (2, 8, 9),
        lambda x: F.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True, count_include_pad=False)))
    cases.append(("SpatialAveragePooling_old_sum", Module(
        "nn.SpatialAveragePooling", kW=2, kH=2, dW=2, dH=2), (2, 6, 6),
        lambda x: F.avg_pool2d(x, 2, 2) * 4))
    lp_modern = seq(Module("nn.Square"), Module("nn.SpatialAveragePooling", kW=2, kH=2,
                                                dW=2, dH=2, divide=True),
                    Module("nn.Sqrt", eps=0), cls="nn.SpatialLPPooling", kW=2, kH=2, dW=2,
                    dH=2)
    cases.append(("SpatialLPPooling", lp_modern, (3, 8, 8),
                  lambda x: F.avg_pool2d(x * x, 2, 2).sqrt()))
    lp_old = seq(Module("nn.Power", pow=2), Module(
        "nn.SpatialSubSampling", nInputPlane=3, kW=3, kH=3, dW=3, dH=3,
        weight=np.full(3, 1 / 9, np.float32), bias=np.zeros(3, np.float32)),
        Module("nn.Power", pow=0.5), cls="nn.SpatialLPPooling", kW=3, kH=3, dW=3, dH=3)
    cases.append(("SpatialLPPooling_subsampling", lp_old, (3, 9, 9),
                  lambda x: (F.avg_pool2d(x * x, 3, 3) * 9 * t(np.float32(1 / 9))).sqrt()))
    gauss = np.outer(*[np.exp(-np.linspace(-1, 1, 5) ** 2)] * 2).astype(np.float32)
    cases.append(("SpatialSubtractiveNormalization", Module(
        "nn.SpatialSubtractiveNormalization", nInputPlane=3, kernel=gauss / gauss.sum() / 3),
        (3, 9, 10), lambda x: lua_subtractive(x, gauss, 3)))
    k1 = np.array([1, 2, 3, 2, 1], np.float32)
    cases.append(("SpatialSubtractiveNormalization_1d", Module(
        "nn.SpatialSubtractiveNormalization", nInputPlane=2, kernel=k1 / k1.sum() / 2),
        (2, 8, 8), lambda x: lua_subtractive(x, k1, 2)))
    cases.append(("SpatialDivisiveNormalization", Module(
        "nn.SpatialDivisiveNormalization", nInputPlane=3, kernel=gauss / gauss.sum() / 3,
        threshold=0.5, thresval=0.25), (3, 9, 10),
        lambda x: lua_divisive(x, gauss, 3, 0.5, 0.25)))
    cases.append(("SpatialDivisiveNormalization_1d", Module(
        "nn.SpatialDivisiveNormalization", nInputPlane=2, kernel=k1, threshold=0.5,
        thresval=0.5), (2, 8, 8), lambda x: lua_divisive(x, k1, 2, 0.5, 0.5)))
    contrastive = Module(
        "nn.SpatialContrastiveNormalization", nInputPlane=3, kernel=gauss, threshold=0.4,
        thresval=0.4, normalizer=seq(
            Module("nn.SpatialSubtractiveNormalization", nInputPlane=3, kernel=gauss),
            Module("nn.SpatialDivisiveNormalization", nInputPlane=3, kernel=gauss,
                   threshold=0.4, thresval=1e-4)))
    cases.append(("SpatialContrastiveNormalization", contrastive, (3, 9, 10),
                  lambda x: lua_divisive(lua_subtractive(x, gauss, 3), gauss, 3, 0.4, 1e-4)))
    cases.append(("SpatialNormalization_nnx", Module(
        "nn.SpatialNormalization", nfeatures=3, kernel=gauss, fixedThres=0.3), (3, 9, 10),
        lambda x: lua_nnx_normalization(x, gauss, 3, 0.3)))
    cases.append(("SpatialNormalization_nnx_adaptive", Module(
        "nn.SpatialNormalization", nfeatures=3, kernel=gauss), (3, 9, 10),
        lambda x: lua_nnx_normalization(x, gauss, 3, None)))
    kh, kv = k1[None, :], k1[:, None]
    cases.append(("SpatialNormalization_nnx_separable", Module(
        "nn.SpatialNormalization", nfeatures=2, kernel={1: kh, 2: kv}, fixedThres=0.2),
        (2, 8, 9), lambda x: lua_nnx_normalization(x, (kh, kv), 2, 0.2)))
    # nnx's own write(): the field table, then kernel, nfeatures, 4 ints, 10 objects and
    # fixedThres as an int (so only whole thresholds survive a save).
    ints = b"".join(v.to_bytes(4, "little", signed=True) for v in (1, 1, 0, 0))
    trailer = [gauss, Raw((3).to_bytes(4, "little")), Raw(ints), *[Module("nn.Identity")] * 10,
               Raw((2).to_bytes(4, "little"))]
    cases.append(("SpatialNormalization_nnx_custom_write", Module(
        "nn.SpatialNormalization", nfeatures=3, kernel=gauss, _trailer=trailer), (3, 9, 10),
        lambda x: lua_nnx_normalization(x, gauss, 3, 2.0)))
    for name, fn in (("Tanh", torch.tanh), ("Sigmoid", torch.sigmoid), ("Abs", torch.abs),
                     ("ReLU", torch.relu), ("Square", torch.square)):
        cases.append((name, Module(f"nn.{name}"), (2, 4, 5), fn))
    cases.append(("cudnn.ReLU", Module("cudnn.ReLU"), (2, 4, 5), torch.relu))
    cases.append(("Threshold", Module("nn.Threshold", threshold=0.3, val=-0.5), (2, 4, 5),
                  lambda x: F.threshold(x, 0.3, -0.5)))
    cases.append(("HardTanh", Module("nn.HardTanh", min_val=-0.5, max_val=0.75), (2, 4, 5),
                  lambda x: F.hardtanh(x, -0.5, 0.75)))
    cases.append(("HardTanh_old", Module("nn.HardTanh"), (2, 4, 5), F.hardtanh))
    cases.append(("Sqrt", seq(Module("nn.Abs"), Module("nn.Sqrt", eps=0)), (2, 4, 5),
                  lambda x: x.abs().sqrt()))
    cases.append(("Power", seq(Module("nn.Power", pow=2), Module("nn.Power", pow=0.5),
                               Module("nn.Power", pow=1)), (2, 4, 5), lambda x: x.abs()))
    cases.append(("MulConstant", Module("nn.MulConstant", constant_scalar=-1.5), (2, 4, 5),
                  lambda x: x * -1.5))
    wl, bl = f32(6, 40), f32(6)
    cases.append(("Reshape_Linear", seq(
        Module("nn.Reshape", size=Storage(np.array([40])), nelement=40),
        Module("nn.Linear", weight=wl, bias=bl)), (2, 4, 5),
        lambda x: x.reshape(x.shape[0], -1) @ t(wl).T + t(bl)))
    cases.append(("View_MulConstant_Linear", seq(
        Module("nn.View", size=Storage(np.array([-1])), numElements=1),
        Module("nn.MulConstant", constant_scalar=0.5),
        Module("nn.Linear", weight=wl, bias=bl), Module("nn.MulConstant", constant_scalar=2)),
        (2, 4, 5), lambda x: (x.reshape(x.shape[0], -1) * 0.5 @ t(wl).T + t(bl)) * 2))
    wc, bc = f32(4, 3), f32(4)
    cases.append(("SpatialClassifier", Module(
        "nn.SpatialClassifier", classifier=Module("nn.Linear", weight=wc, bias=bc)),
        (3, 4, 5), lambda x: torch.einsum("nchw,oc->nohw", x, t(wc)) + t(bc)[None, :, None, None]))
    cases.append(("SoftMax", Module("nn.SoftMax"), (4, 3, 3), lambda x: torch.softmax(x, 1)))
    cases.append(("LogSoftMax", seq(Module("nn.LogSoftMax"), Module("nn.Tanh")), (4, 3, 3),
                  lambda x: torch.tanh(torch.log_softmax(x, 1))))
    cases.append(("Dropout", seq(Module("nn.Dropout", p=0.3, v2=True),
                                 Module("nn.Dropout", p=0.5)), (2, 3, 3), lambda x: x * 0.5))
    cases.append(("Identity", seq(Module("nn.Identity"), Module("nn.Copy")), (2, 3, 3),
                  lambda x: x))
    return cases


def _case_ids():
    return [c[0] for c in _cases()] if _has_torch() else ["no-torch"]


def _has_torch():
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        return False


@pytest.mark.parametrize("case", _case_ids())
def test_module_kind_matches_torch(case, tmp_path):
    _torch()
    name, module, shape, expected = next(c for c in _cases() if c[0] == case)
    path = tmp_path / "net.t7"
    write(path, seq(module) if module.cls != "nn.Sequential" else module)
    g = load_torch7(path, shape)
    x = RNG.normal(0, 1, (3, *shape))
    if "Normalization" in name:
        x[:, :, 2:6, 2:6] = 0.1     # a flat patch, where the thresholds decide
    want = expected(t(x)).numpy()
    got = reference.run_float(g, x)
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=0, atol=1e-5)
    if "LPPooling" in name:
        assert any(isinstance(n, ir.LpPool2d) and n.mean for n in g.nodes)


def test_saved_forward_gives_the_shape_and_a_test_vector(tmp_path):
    w, b = f32(2, 3, 3, 3), f32(2)
    x = f32(3, 6, 7)
    g0 = ir.Graph((ir.Input("i", shape=(3, 6, 7)), ir.Conv2d("c", ("i",), weight=w, bias=b),
                   ir.Tanh("t", ("c",)), ir.Output("o", ("t",))))
    y = reference.run_float(g0, x)[0].astype(np.float32)
    write(tmp_path / "net.t7", seq(
        Module("nn.SpatialConvolution", nInputPlane=3, nOutputPlane=2, kW=3, kH=3, weight=w,
               bias=b, input=x), Module("nn.Tanh"), output=y))
    saved_x, saved_y = saved_forward(tmp_path / "net.t7")
    g = load_torch7(tmp_path / "net.t7")     # the shape comes from the saved input
    assert g.input.shape == (3, 6, 7)
    np.testing.assert_allclose(reference.run_float(g, saved_x)[0], saved_y, atol=1e-5)


# -- refusals ---------------------------------------------------------------------------

def refused(path, match, shape=(3, 8, 8), **kw):
    with pytest.raises(CompileError, match=match) as e:
        load_torch7(path, shape, **kw)
    return e.value


def net(tmp_path, *modules):
    write(tmp_path / "net.t7", seq(*modules))
    return tmp_path / "net.t7"


def test_unknown_module_is_named(tmp_path):
    p = net(tmp_path, Module("nn.Tanh"), Module("nn.SpatialFullConvolution", kW=3))
    e = refused(p, r"^module 2 \(nn.SpatialFullConvolution\): module "
                   r"nn.SpatialFullConvolution is not supported; supported: Sequential")
    assert (e.node, e.op) == ("module 2", "nn.SpatialFullConvolution")


def test_only_a_last_log_softmax_is_dropped(tmp_path):
    p = net(tmp_path, Module("nn.LogSoftMax"), Module("nn.Tanh"))
    g = load_torch7(p, (3, 2, 2), drop_log_softmax=True)
    assert any(isinstance(n, ir.LogSoftmax) for n in g.nodes)


@pytest.mark.parametrize("module,match", [
    (Module("nn.SpatialConvolution", nInputPlane=3, nOutputPlane=1, kW=3, kH=3,
            weight=np.full((1, 3, 3, 3), np.nan, np.float32), bias=np.zeros(1, np.float32)),
     r"field 'weight' holds NaN or infinite values"),
    (Module("nn.SpatialConvolution", nInputPlane=2, nOutputPlane=1, kW=3, kH=3,
            weight=np.ones((1, 2, 3, 3), np.float32), bias=np.zeros(1, np.float32)),
     r"weight has 2 input channels but the input has 3"),
    (Module("nn.SpatialConvolution", nInputPlane=3, nOutputPlane=1, kW=3, kH=3,
            weight=np.ones((1, 3, 3), np.float32), bias=np.zeros(1, np.float32)),
     r"field 'weight' has 9 values, expected 27"),
    (Module("nn.SpatialMaxPooling", kW=0, kH=2), r"field 'kW' is 0, outside"),
    (Module("nn.SpatialMaxPooling", kW="two", kH=2), r"field 'kW' is b'two', not a whole"),
    (Module("nn.SpatialMaxPooling", kW=20, kH=2), r"kernel 2x20 is larger than the padded"),
    (Module("nn.Power", pow=3), r"pow=3.0 is not supported"),
    (Module("nn.Sqrt", eps=1e-3), r"eps=0.001 .*only eps=0"),
    (Module("nn.Linear", weight=np.ones((2, 4), np.float32)), r"expects a vector"),
    (Module("nn.Reshape", size=Storage(np.array([3, 64]))), r"reshaping .* is not supported"),
    (Module("nn.SpatialSubtractiveNormalization", nInputPlane=2,
            kernel=np.ones((3, 3), np.float32)), r"nInputPlane=2 but its input has 3 planes"),
    (Module("nn.SpatialSubtractiveNormalization", nInputPlane=3,
            kernel=np.ones((4, 4), np.float32)), r"kernel of shape \(4, 4\)"),
    (Module("nn.SpatialAveragePooling", kW=2, kH=2, dW=2, dH=2, ceil_mode=True),
     r"ceil mode on a window sum"),
    (Module("nn.SpatialConvolutionMap", connTable=np.array([[0, 1]], np.float32), kW=3,
            kH=3, weight=np.ones((1, 3, 3), np.float32), bias=np.zeros(1, np.float32)),
     r"connTable"),
    (Module("nn.Sequential", modules={2: Module("nn.Tanh")}), r"not a list of modules"),
], ids=["nan", "planes", "weight_size", "zero_kernel", "string_field", "big_kernel", "power3",
        "sqrt_eps", "linear_on_map", "reshape", "norm_planes", "even_kernel",
        "old_sum_ceil", "conn_table", "modules_table"])
def test_bad_modules_are_refused_with_the_module_named(tmp_path, module, match):
    e = refused(net(tmp_path, Module("nn.Identity"), module), match)
    assert e.node == "module 2"


def test_files_that_are_not_networks(tmp_path):
    (tmp_path / "ascii.net").write_text("4\n1\n3\nV 1\n")
    refused(tmp_path / "ascii.net", r"ASCII Torch7 file")
    refused(tmp_path / "missing.net", r"cannot read the file")
    write(tmp_path / "table.t7", {"mean": {1: 0.4}, "std": {1: 0.2}})
    refused(tmp_path / "table.t7", r"holds a table \(keys b'mean', b'std'\), not a Torch7 "
                                   r"network module")
    refused(ROAD, r"give it with --input-shape C,H,W \(C=3, from the first module\)",
            shape=None)


def test_every_truncation_of_a_real_file_is_a_compile_error(tmp_path):
    data = ROAD.read_bytes()
    p = tmp_path / "cut.net"
    for cut in list(range(0, 400, 7)) + list(range(400, len(data), 331)):
        p.write_bytes(data[:cut])
        with pytest.raises(CompileError, match="not a readable|the file ends|damaged"):
            load_torch7(p, (3, 32, 32))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.data())
def test_random_mutations_of_real_files_only_raise_compile_error(tmp_path, data):
    """Bytes overwritten (single bytes, and 4- and 8-byte integers where sizes, type tags and
    lengths live), inserted, deleted or cut: the loader returns a graph or raises
    CompileError, never anything else."""
    source = data.draw(st.sampled_from([ROAD, FIXTURES / "road-net_unsup-cl-30.net"]))
    blob = bytearray(source.read_bytes()[:20000])
    for _ in range(data.draw(st.integers(1, 4))):
        if not blob:
            break
        pos = data.draw(st.integers(0, len(blob) - 1))
        how = data.draw(st.sampled_from(["byte", "int", "long", "insert", "delete", "cut"]))
        if how == "byte":
            blob[pos] = data.draw(st.integers(0, 255))
        elif how in ("int", "long"):
            n = 4 if how == "int" else 8
            v = data.draw(st.sampled_from([0, 1, 2, 3, 4, 5, 7, 8, -1, 255, 2**31 - 1,
                                           -2**31, 2**20, 10**9]))
            blob[pos:pos + n] = v.to_bytes(8, "little", signed=True)[:n]
        elif how == "insert":
            blob[pos:pos] = bytes(data.draw(st.binary(min_size=1, max_size=16)))
        elif how == "delete":
            del blob[pos:pos + data.draw(st.integers(1, 16))]
        else:
            del blob[pos:]
    path = tmp_path / "mutated.net"
    path.write_bytes(bytes(blob))
    shape = (3, 32, 32) if source == ROAD else (12, 12, 12)
    try:
        g = load_torch7(path, shape, drop_log_softmax=True)
    except CompileError:
        return
    assert isinstance(g, ir.Graph)
