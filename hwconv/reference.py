"""Execution of a graph in numpy: int64 for the quantized graph (THE specification of the
hardware, bit for bit) and float64 for the same graph without quantization.

Frames are batched: feature maps are (N, C, H, W), vectors (N, K).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import ir
from .errors import CompileError
from .fixed import dequantize, quantize, requantize

__all__ = ["run", "run_float", "quantize_input", "dequantize_output", "run_all"]


def _windows(x: np.ndarray, kernel, stride) -> np.ndarray:
    """(N, C, H, W) -> (N, C, Ho, Wo, kh, kw) views of every window."""
    v = sliding_window_view(x, kernel, axis=(2, 3))
    return v[:, :, ::stride[0], ::stride[1]]


def _pad(x: np.ndarray, pads) -> np.ndarray:
    t, l, b, r = pads
    return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))


def _conv(x, w, b, node: ir.Conv2d):
    win = _windows(_pad(x, node.pads), node.kernel, node.stride)
    # Accumulate in int64 (exact) or float64; einsum on int64 stays exact.
    return np.einsum("nchwij,ocij->nohw", win, w, optimize=True) + b[None, :, None, None]


def _maxpool(x, node: ir.MaxPool2d):
    return _windows(x, node.kernel, node.stride).max(axis=(4, 5))


def _eval(node: ir.Node, x: np.ndarray, graph: ir.Graph, exact: bool) -> np.ndarray:
    if isinstance(node, (ir.Input, ir.Output)):
        return x
    if isinstance(node, ir.ReLU):
        return np.maximum(x, 0)
    if isinstance(node, ir.MaxPool2d):
        return _maxpool(x, node)
    if isinstance(node, ir.Flatten):
        return x.reshape(x.shape[0], -1)
    if isinstance(node, (ir.Conv2d, ir.Linear)):
        if exact:
            in_fixed = graph.in_fixed(node)
            w, b = ir.weight_ints(node), ir.bias_ints(node, in_fixed)
        else:
            w, b = node.weight.astype(np.float64), node.bias.astype(np.float64)
        y = _conv(x, w, b, node) if isinstance(node, ir.Conv2d) else x @ w.T + b[None, :]
        if exact:
            return requantize(y, ir.acc_frac(node, in_fixed), node.fixed)
        return y
    raise node.error("has no reference implementation")


def run_all(graph: ir.Graph, x: np.ndarray, exact: bool = True) -> dict[str, np.ndarray]:
    """Every node's output (integers if exact, else floats) for a batch of frames."""
    values: dict[str, np.ndarray] = {}
    for node in graph.nodes:
        inp = x if isinstance(node, ir.Input) else values[node.inputs[0]]
        values[node.name] = _eval(node, inp, graph, exact)
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
