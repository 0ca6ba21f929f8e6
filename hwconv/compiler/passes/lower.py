"""Rewrite composite kinds into the primitives the hardware has, before quantization.

LpPool2d (p = 2) becomes Square -> SumPool2d -> Sqrt(gain), with gain 1/sqrt(n) for the
mean (Torch7) form: sqrt(sum / n) = sqrt(sum) / sqrt(n), so no division is needed; other
p become Abs -> Power(p) -> SumPool2d -> Power(1/p, gain n**(-1/p) for the mean).

LocalNorm (Torch7 local normalization), with the estimator E = a one-output convolution
over all maps with kernel / (sum(kernel) * maps), 'same' zero padding, and 1/coef the
border correction (E of all-ones maps, a constant per position):
  subtractive: x - Scale(E(x), 1/coef)
  divisive:    x / Threshold(Scale(Sqrt(E(Requantize(Square(x)))), 1/coef))
  contrastive: subtractive, then divisive on its output.

Softmax becomes ChannelReduce max -> Sub -> Exp -> ChannelReduce sum -> Div, and
LogSoftmax ... -> ChannelReduce sum -> Log -> Sub from the shifted input.
LRN becomes Square -> Requantize -> a banded 1x1 convolution (alpha / size on the window,
bias as its bias) -> Div with power -beta.
"""
from __future__ import annotations

import math

import numpy as np

from ... import ir

__all__ = ["lower"]


def _lower_lppool(node: ir.LpPool2d) -> list[ir.Node]:
    n = node.kernel[0] * node.kernel[1]
    p, name = node.p, node.name
    pool = dict(kernel=node.kernel, stride=node.stride, pads=node.pads,
                dilation=node.dilation)
    gain = n ** (-1 / p) if node.mean else 1.0   # (sum / n) ** (1/p) = sum ** (1/p) / n ** (1/p)
    if p == 2:
        return [ir.Square(f"{name}/square", node.inputs),
                ir.SumPool2d(f"{name}/sum", (f"{name}/square",), **pool),
                ir.Sqrt(name, (f"{name}/sum",), gain=gain)]
    return [ir.Abs(f"{name}/abs", node.inputs),
            ir.Power(f"{name}/power", (f"{name}/abs",), power=float(p), wide=True),
            ir.SumPool2d(f"{name}/sum", (f"{name}/power",), **pool),
            ir.Power(name, (f"{name}/sum",), power=1 / p, gain=gain)]


def local_norm_parts(node: ir.LocalNorm, shape) -> tuple[np.ndarray, np.ndarray]:
    """For (C, H, W) maps: the estimator's weights (1, C, kh, kw), Torch7's
    kernel / (sum(kernel) * C) on every map, and the border coefficients (H, W): the
    estimator applied to all-ones maps (1 inside, smaller near the borders)."""
    c, h, w = shape
    kernel = np.asarray(node.kernel, dtype=np.float64)
    kh, kw = kernel.shape
    weights = np.broadcast_to(kernel / (kernel.sum() * c), (1, c, kh, kw)).copy()
    inside = np.pad(np.ones((h, w)), ((kh // 2, kh // 2), (kw // 2, kw // 2)))
    windows = np.lib.stride_tricks.sliding_window_view(inside, (kh, kw))
    coef = np.einsum("hwij,ij->hw", windows, weights[0].sum(axis=0))
    return weights, coef


def _lower_local_norm(node: ir.LocalNorm, shape) -> list[ir.Node]:
    weights, coef = local_norm_parts(node, shape)
    kh, kw = weights.shape[2:]
    pads = (kh // 2, kw // 2, kh // 2, kw // 2)
    p, nodes = node.name, []

    def estimator(name, src):
        return ir.Conv2d(name, (src,), weight=weights, bias=np.zeros(1), pads=pads)

    src = node.inputs[0]
    if node.mode in ("subtractive", "contrastive"):
        out = p if node.mode == "subtractive" else f"{p}/centered"
        nodes += [estimator(f"{p}/mean", src),
                  ir.Scale(f"{p}/mean_corrected", (f"{p}/mean",), scale=1 / coef),
                  ir.Sub(out, (src, f"{p}/mean_corrected"))]
        src = out
    if node.mode in ("divisive", "contrastive"):
        nodes += [ir.Square(f"{p}/square", (src,)),
                  ir.Requantize(f"{p}/square_q", (f"{p}/square",)),
                  estimator(f"{p}/variance", f"{p}/square_q"),
                  ir.Sqrt(f"{p}/std", (f"{p}/variance",)),
                  ir.Scale(f"{p}/std_corrected", (f"{p}/std",), scale=1 / coef)]
        std = f"{p}/std_corrected"
        if node.adaptive:
            # max(std, max(mean std over the frame, threshold)): the frame's mean comes
            # back as one beat, repeated over the map; the FIFOs hold the frame meanwhile.
            nodes += [ir.GlobalPool(f"{p}/std_mean", (std,), mode="avg"),
                      ir.Threshold(f"{p}/std_floor", (f"{p}/std_mean",),
                                   threshold=node.threshold, value=node.threshold),
                      ir.Repeat(f"{p}/std_floor_map", (f"{p}/std_floor",),
                                shape=(1, *shape[1:])),
                      ir.Max(f"{p}/std_threshold", (std, f"{p}/std_floor_map"))]
        else:
            nodes.append(ir.Threshold(f"{p}/std_threshold", (std,),
                                      threshold=node.threshold, value=node.thresval))
        nodes.append(ir.Div(p, (src, f"{p}/std_threshold")))
    return nodes


def _exp_sum(p: str, src: str) -> list[ir.Node]:
    """x - max, its exp, and the exp's sum across channels: softmax's common part."""
    return [ir.ChannelReduce(f"{p}/max", (src,), mode="max"),
            ir.Sub(f"{p}/shifted", (src, f"{p}/max")),
            ir.Exp(f"{p}/exp", (f"{p}/shifted",)),
            ir.ChannelReduce(f"{p}/sum", (f"{p}/exp",), mode="sum")]


def _lower_softmax(node: ir.Softmax, shape) -> list[ir.Node]:
    p = node.name
    return _exp_sum(p, node.inputs[0]) + [ir.Div(p, (f"{p}/exp", f"{p}/sum"))]


def _lower_log_softmax(node: ir.LogSoftmax, shape) -> list[ir.Node]:
    p = node.name
    return _exp_sum(p, node.inputs[0]) + [ir.Log(f"{p}/log_sum", (f"{p}/sum",)),
                                          ir.Sub(p, (f"{p}/shifted", f"{p}/log_sum"))]


def _lower_lrn(node: ir.LRN, shape) -> list[ir.Node]:
    p, src = node.name, node.inputs[0]
    window = node.window(shape[0])
    weight = (window * (node.alpha / node.size))[:, :, None, None]
    return [ir.Square(f"{p}/square", (src,)),
            ir.Requantize(f"{p}/square_q", (f"{p}/square",)),
            ir.Conv2d(f"{p}/scale", (f"{p}/square_q",), weight=weight,
                      bias=np.full(shape[0], float(node.bias)), connections=window),
            ir.Div(p, (src, f"{p}/scale"), power=-node.beta)]


LOWERINGS = {ir.LpPool2d: lambda node, shape: _lower_lppool(node),
             ir.LocalNorm: _lower_local_norm,
             ir.Softmax: _lower_softmax,
             ir.LogSoftmax: _lower_log_softmax,
             ir.LRN: _lower_lrn}


def lower(graph: ir.Graph) -> ir.Graph:
    """The graph with every composite node replaced; the last new node keeps the name."""
    nodes = []
    for node in graph.nodes:
        fn = LOWERINGS.get(type(node))
        nodes.extend(fn(node, graph.shape(node.inputs[0])) if fn else [node])
    return ir.Graph(tuple(nodes)).verify()
