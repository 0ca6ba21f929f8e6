"""Execution of a graph in numpy: int64 for the quantized graph (THE specification of the
hardware, bit for bit) and float64 for the same graph without quantization.

Frames are batched: feature maps are (N, C, H, W), vectors (N, K).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import ir
from .errors import CompileError
from .fixed import dequantize, quantize, requantize, saturate
from .tables import FUNCTIONS

__all__ = ["run", "run_float", "quantize_input", "dequantize_output", "run_all"]


def _windows(x: np.ndarray, kernel, stride) -> np.ndarray:
    """(N, C, H, W) -> (N, C, Ho, Wo, kh, kw) views of every window."""
    v = sliding_window_view(x, kernel, axis=(2, 3))
    return v[:, :, ::stride[0], ::stride[1]]


def _pad(x: np.ndarray, pads) -> np.ndarray:
    t, l, b, r = pads
    return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))


def _exact_products(spec: str, x: np.ndarray, w: np.ndarray, bound: float) -> np.ndarray:
    """einsum of integers, exactly. Sums of products whose magnitudes add up to less than
    2**53 are exact in float64 (every partial sum is an integer float64 holds), and BLAS
    does them many times faster than int64; beyond that, int64."""
    if x.dtype.kind != "i" or bound >= 2.0 ** 53:
        return np.einsum(spec, x, w, optimize=True)
    y = np.einsum(spec, x.astype(np.float64), w.astype(np.float64), optimize=True)
    return np.rint(y).astype(np.int64)


def _sum_bound(x: np.ndarray, w: np.ndarray, axes) -> float:
    """An upper bound on |sum of products| of any output: max |x| times its largest |w| row."""
    if x.size == 0 or w.size == 0:
        return 0.0
    return float(np.abs(x).max()) * float(np.abs(w).sum(axis=axes).max())


def _conv(x, w, b, node: ir.Conv2d):
    w = ir.dilate(w, node.dilation)
    win = _windows(_pad(x, node.pads), node.kernel, node.stride)
    y = _exact_products("nchwij,ocij->nohw", win, w, _sum_bound(x, w, (1, 2, 3)))
    return y + b[None, :, None, None]


def _pool_windows(node: ir.Pool2d, x: np.ndarray) -> np.ndarray:
    """(N, C, Ho, Wo, kh, kw): the taps of every window of a padded map (dilated)."""
    dh, dw = node.dilation
    return _windows(x, node.extent, node.stride)[..., ::dh, ::dw]


def _maxpool(node: ir.MaxPool2d, x, in_fixed):
    low = -np.inf if in_fixed is None else in_fixed.min_int
    t, l, b, r = node.window_pads(x.shape[1:])
    x = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=low)
    return _pool_windows(node, x).max(axis=(4, 5))


def _mean(sums, count: int, in_fixed):
    """Sums of ``count`` values to their means: exactly in float, by the reciprocal
    multiplier of ``ir.mean_multiplier`` on codes."""
    if in_fixed is None:
        return sums / count
    r, s = ir.mean_multiplier(count, in_fixed)
    return requantize(sums * r, in_fixed.frac + s, in_fixed)


def _avgpool(node: ir.AvgPool2d, x, in_fixed):
    sums = _pool_windows(node, _pad(x, node.window_pads(x.shape[1:]))).sum(axis=(4, 5))
    if node.uniform(x.shape[1:]):
        return _mean(sums, node.count, in_fixed)
    ch, cw = node.counts(x.shape[1:])
    counts = ch[:, None] * cw[None, :]
    if in_fixed is None:
        return sums / counts
    # One multiplier per divisor, all at the scale of the full window's.
    r = np.array([[ir.mean_multiplier(int(c), in_fixed, node.count)[0] for c in row]
                  for row in counts])
    s = ir.mean_multiplier(node.count, in_fixed)[1]
    return requantize(sums * r, in_fixed.frac + s, in_fixed)


def _globalpool(node: ir.GlobalPool, x, in_fixed):
    if node.reduces_max:
        return x.max(axis=(2, 3), keepdims=True)
    return _mean(x.sum(axis=(2, 3), keepdims=True), x.shape[2] * x.shape[3], in_fixed)


def _weighted(node, x, in_fixed):
    """Conv2d and Linear: exact integer sums of products, then one requantize."""
    if in_fixed is None:
        w, b = node.weight.astype(np.float64), node.bias.astype(np.float64)
    else:
        w, b = ir.weight_ints(node), ir.bias_ints(node, in_fixed)
    y = _conv(x, w, b, node) if isinstance(node, ir.Conv2d) else \
        _exact_products("nk,ok->no", x, w, _sum_bound(x, w, 1)) + b[None, :]
    return y if in_fixed is None else requantize(y, ir.acc_frac(node, in_fixed), node.fixed)


def _threshold(node, x, in_fixed):
    if in_fixed is None:
        return np.where(x > node.threshold, x, node.value)
    c = ir.threshold_codes(node, in_fixed)
    return np.where(x > c["threshold"], x, c["value"])


def _hardtanh(node, x, in_fixed):
    if in_fixed is None:
        return np.clip(x, node.min_val, node.max_val)
    c = ir.threshold_codes(node, in_fixed)
    return np.clip(x, c["min"], c["max"])


def _shrink(node, x, in_fixed):
    if in_fixed is None:
        lam, b = node.lambd, node.bias
        return np.where(x > lam, x - b, np.where(x < -lam, x + b, 0.0))
    c = ir.threshold_codes(node, in_fixed)
    lam, b = c["lambd"], c["bias"]
    return saturate(np.where(x > lam, x - b, np.where(x < -lam, x + b, 0)), in_fixed)


def _tabled(node, x, in_fixed):
    if in_fixed is None:
        return FUNCTIONS[node.function][0](x)
    return ir.table(node, in_fixed).lookup(x)


def _sumpool(node: ir.SumPool2d, x, in_fixed):
    return _pool_windows(node, _pad(x, node.pads)).sum(axis=(4, 5))


def _lppool(node: ir.LpPool2d, x, in_fixed):
    if in_fixed is not None:
        raise node.error("is lowered before quantization; run passes.lower first")
    s = _pool_windows(node, _pad(x, node.pads))
    p = (np.abs(s) ** node.p).sum(axis=(4, 5))
    if node.mean:
        p = p / (node.kernel[0] * node.kernel[1])
    return p ** (1.0 / node.p)


def _normalized(node: ir.Sqrt, x, in_fixed):
    """Sqrt and Reciprocal (the float reciprocal of x <= 0 is +inf, as the saturation)."""
    if in_fixed is not None:
        return ir.normalized_table(node, in_fixed).lookup(x)
    x = np.maximum(x, 0)
    if node.function == "sqrt":
        return node.gain * np.sqrt(x)
    if node.function == "log":
        with np.errstate(divide="ignore"):
            return np.log(x)
    if node.function == "power":
        with np.errstate(divide="ignore"):
            return node.gain * x ** node.power
    with np.errstate(divide="ignore"):
        return node.gain / x


def _scale(node: ir.Scale, x, in_fixed):
    if in_fixed is None:
        return x * node.scale
    t = node.scale_fixed()
    return requantize(x * quantize(node.scale, t), in_fixed.frac + t.frac, node.fixed)


def _local_norm(node: ir.LocalNorm, x, in_fixed):
    """Torch7's nn.Spatial{Subtractive,Divisive,Contrastive}Normalization, in float."""
    if in_fixed is not None:
        raise node.error("is lowered before quantization; run passes.lower first")
    from .compiler.passes.lower import local_norm_parts
    k, coef = local_norm_parts(node, x.shape[1:])
    ph, pw = k.shape[2] // 2, k.shape[3] // 2

    def estimate(v):   # the same map for every plane: (N, 1, H, W)
        win = _windows(_pad(v, (ph, pw, ph, pw)), k.shape[2:], (1, 1))
        return np.einsum("nchwij,ocij->nohw", win, k)

    if node.mode in ("subtractive", "contrastive"):
        x = x - estimate(x) / coef
    if node.mode in ("divisive", "contrastive"):
        std = np.sqrt(estimate(x * x)) / coef
        if node.adaptive:
            floor = np.maximum(std.mean(axis=(1, 2, 3), keepdims=True), node.threshold)
            x = x / np.maximum(std, floor)
        else:
            x = x / np.where(std > node.threshold, std, node.thresval)
    return x


def _channel_reduce(node: ir.ChannelReduce, x, in_fixed):
    if node.mode == "argmax":
        return np.argmax(x, axis=1)[:, None].astype(x.dtype)   # the first maximum
    return (x.max if node.mode == "max" else x.sum)(axis=1, keepdims=True)


def _softmax(node: ir.Softmax, x, in_fixed):
    if in_fixed is not None:
        raise node.error("is lowered before quantization; run passes.lower first")
    d = x - x.max(axis=1, keepdims=True)
    if isinstance(node, ir.LogSoftmax):
        return d - np.log(np.exp(d).sum(axis=1, keepdims=True))
    return np.exp(d) / np.exp(d).sum(axis=1, keepdims=True)


def _batchnorm(node: ir.BatchNorm, x, in_fixed):
    if in_fixed is not None:
        raise node.error("is folded before quantization; run passes.fold_batchnorm first")
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return x * node.scale.reshape(shape) + node.shift.reshape(shape)


def _lrn(node: ir.LRN, x, in_fixed):
    if in_fixed is not None:
        raise node.error("is lowered before quantization; run passes.lower first")
    sums = np.einsum("oc,nchw->nohw", node.window(x.shape[1]).astype(np.float64), x * x)
    return x / (node.bias + node.alpha / node.size * sums) ** node.beta


# Each kind's reference: f(node, x, in_fixed) with in_fixed None for float execution.
REFERENCE = {
    ir.Input: lambda node, x, t: x,
    ir.Output: lambda node, x, t: x,
    ir.ReLU: lambda node, x, t: np.maximum(x, 0),
    ir.Threshold: _threshold,
    ir.HardTanh: _hardtanh,
    ir.Abs: lambda node, x, t: np.abs(x) if t is None else saturate(np.abs(x), t),
    ir.Shrink: _shrink,
    ir.Tanh: _tabled,
    ir.Exp: _tabled,
    ir.ChannelReduce: _channel_reduce,
    ir.Softmax: _softmax,
    ir.LogSoftmax: _softmax,
    ir.Log: _normalized,
    ir.Power: _normalized,
    ir.Repeat: lambda node, x, t: np.broadcast_to(x, (x.shape[0], *node.shape)).copy(),
    ir.BatchNorm: _batchnorm,
    ir.LRN: _lrn,
    ir.Sigmoid: _tabled,
    ir.MaxPool2d: _maxpool,
    ir.AvgPool2d: _avgpool,
    ir.SumPool2d: _sumpool,
    ir.LpPool2d: _lppool,
    ir.Square: lambda node, x, t: x * x,
    ir.Requantize: lambda node, x, t: x if t is None else requantize(x, t.frac, node.fixed),
    ir.Scale: _scale,
    ir.LocalNorm: _local_norm,
    ir.Sqrt: _normalized,
    ir.Reciprocal: _normalized,
    ir.GlobalPool: _globalpool,
    ir.Flatten: lambda node, x, t: x.reshape(x.shape[0], -1),
    ir.Relayout: lambda node, x, t: x.reshape(x.shape[0], -1)[:, node.index.reshape(-1)]
    .reshape((x.shape[0],) + node.index.shape),
    ir.Conv2d: _weighted,
    ir.Linear: _weighted,
}


def _add(node: ir.Add, xs, in_fixed, graph):
    """Add, Sub, Max: both inputs aligned to the finer of their scales (exact), combined,
    requantized. A one-channel second map applies to every channel (broadcast)."""
    if in_fixed is None:
        return np.maximum(xs[0], xs[1]) if isinstance(node, ir.Max) else \
            xs[0] + node.sign * xs[1]
    fa, fb = (graph[i].fixed.frac for i in node.inputs)
    top = max(fa, fb)
    a, b = xs[0] << (top - fa), xs[1] << (top - fb)
    return requantize(np.maximum(a, b) if isinstance(node, ir.Max) else a + node.sign * b,
                      top, node.fixed)


def _div(node: ir.Div, xs, in_fixed, graph):
    a, b = xs
    if in_fixed is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            q = node.gain * a * np.maximum(b, 0) ** node.power
        return np.where(np.isnan(q), 0.0, q)
    table = ir.normalized_table(node, graph[node.inputs[1]].fixed)
    return table.lookup(np.broadcast_to(b, a.shape), x=a, x_frac=in_fixed.frac)


# Kinds with several inputs: f(node, inputs, in_fixed or None, graph).
REFERENCE_MULTI = {ir.Add: _add, ir.Sub: _add, ir.Max: _add, ir.Div: _div}


def _eval(node: ir.Node, xs: list[np.ndarray], graph: ir.Graph, exact: bool) -> np.ndarray:
    in_fixed = (node.fixed if isinstance(node, ir.Input) else graph.in_fixed(node)) \
        if exact else None
    if type(node) in REFERENCE_MULTI:
        return REFERENCE_MULTI[type(node)](node, xs, in_fixed, graph)
    fn = REFERENCE.get(type(node))
    if fn is None:
        raise node.error("has no reference implementation")
    return fn(node, xs[0], in_fixed)


def run_all(graph: ir.Graph, x: np.ndarray, exact: bool = True) -> dict[str, np.ndarray]:
    """Every node's output (integers if exact, else floats) for a batch of frames."""
    values: dict[str, np.ndarray] = {}
    for node in graph.nodes:
        inputs = [x] if isinstance(node, ir.Input) else [values[i] for i in node.inputs]
        values[node.name] = _eval(node, inputs, graph, exact)
    return values


def _batch(graph: ir.Graph, x: np.ndarray) -> np.ndarray:
    shape = graph.input.shape
    x = np.asarray(x)
    if x.shape == tuple(shape):
        x = x[None]
    if x.shape[1:] != tuple(shape):
        raise CompileError(f"input frames have shape {x.shape}, but the network takes "
                           f"(N, {', '.join(map(str, shape))}); resize the frames or compile "
                           f"with --input-shape")
    return x


def quantize_input(graph: ir.Graph, x) -> np.ndarray:
    """Float frames to the input's integers (frames batched as (N, ...))."""
    return quantize(_batch(graph, x), graph.input.fixed)


def dequantize_output(graph: ir.Graph, y) -> np.ndarray:
    return dequantize(y, graph.output.fixed)


def run(graph: ir.Graph, x_int: np.ndarray) -> np.ndarray:
    """The quantized graph on integer frames: the bit-exact specification of the hardware."""
    if not graph.quantized:
        raise CompileError("the graph is not quantized; run the quantize pass first")
    x_int = np.asarray(x_int, dtype=np.int64)
    return run_all(graph, _batch(graph, x_int), exact=True)[graph.output.name]


def run_float(graph: ir.Graph, x) -> np.ndarray:
    """The same graph in float64, with the float weights and no rounding."""
    x = np.asarray(x, dtype=np.float64)
    return run_all(graph, _batch(graph, x), exact=False)[graph.output.name]
