"""Per-node figures known before simulation or synthesis: multiply-accumulates, cycles
per frame and resources.

Cycles follow from the units' structure: a window generator takes one pixel per cycle, a
MAC engine spends ``outputs * ceil(n / lanes)`` cycles on each window, and a pipeline runs
at the pace of its slowest unit. Simulation measures the real figure; the report shows both.

Resources follow the units' structure too: multipliers (DSP48E1) are counted exactly as
the RTL instantiates them; memories go to block RAM by the RAMB18E1 aspect ratios when
larger than a few LUT-RAMs, else to LUTs; LUT and FF are a first model (registers held,
plus a per-lane allowance) to be checked against Yosys (`hwconv compile --synth`).
"""
from __future__ import annotations

import math

import numpy as np

from .. import ir

__all__ = ["macs", "cycles", "lanes_used", "resources", "Resources", "parallelism"]


def macs(node: ir.Node, graph: ir.Graph) -> int:
    """Multiply-accumulates per frame."""
    if isinstance(node, ir.WEIGHTED):
        out = graph.shape(node.name)
        pixels = out[1] * out[2] if len(out) == 3 else 1
        return int(pixels * node.weight.shape[0] * fan_in(node))
    return 0


def fan_in(node: ir.Node) -> int:
    """Products summed per output value."""
    return node.fan_in if isinstance(node, ir.Conv2d) else int(node.weight.shape[1])


def parallelism(par) -> tuple[int, int]:
    """(lanes, out_lanes) from a layer's setting: ``lanes`` (multipliers per output) or
    ``(lanes, out_lanes)`` (outputs computed side by side, each with ``lanes``)."""
    if isinstance(par, (tuple, list)):
        return int(par[0]), int(par[1])
    return int(par), 1


def lanes_used(node: ir.Node, par) -> int:
    """Multipliers per output the MAC engine really instantiates."""
    lanes, _ = parallelism(par)
    return max(1, min(lanes, fan_in(node))) if isinstance(node, ir.WEIGHTED) else 0


def out_lanes_used(node: ir.Node, par) -> int:
    return max(1, min(parallelism(par)[1], node.weight.shape[0])) \
        if isinstance(node, ir.WEIGHTED) else 0


def cycles(node: ir.Node, graph: ir.Graph, in_stream_shape, lanes: int) -> int:
    """Cycles per frame this node's unit needs when never starved or blocked."""
    if isinstance(node, (ir.Input, ir.Output, ir.Flatten)):
        return 0
    c, h, w = in_stream_shape
    take = h * w
    if hasattr(node, "pads"):
        t, l, b, r = node.window_pads(in_stream_shape) if isinstance(node, ir.Pool2d) \
            else node.pads
        take = (h + t + b) * (w + l + r)
    if isinstance(node, ir.WEIGHTED):
        out = graph.shape(node.name)
        windows = out[1] * out[2] if len(out) == 3 else 1
        groups = math.ceil(node.weight.shape[0] / out_lanes_used(node, lanes))
        work = windows * groups * math.ceil(fan_in(node) / lanes_used(node, lanes))
        return max(take, work)
    return take


RESOURCE_KEYS = ("dsp48e1", "ramb18", "lut", "ff")
Resources = dict   # {"dsp48e1": n, "ramb18": n, "lut": n, "ff": n}


def memory(depth: int, width: int) -> dict:
    """A memory of depth x width bits: LUT-RAM when shallow (depth <= 64: a RAM64M, 4 LUTs,
    holds 3 bits of 64 words) or small, else RAMB18E1 (one per 18 Kb at the widest aspect
    ratio the depth allows)."""
    bits = depth * width
    if depth <= 64 or bits <= 2048:
        return {"ramb18": 0, "lut": math.ceil(width / 3) * 4 * math.ceil(depth / 64)}
    per = 36 if depth <= 512 else 18 if depth <= 1024 else 9 if depth <= 2048 else \
        4 if depth <= 4096 else 2 if depth <= 8192 else 1
    return {"ramb18": math.ceil(width / per) * math.ceil(depth / max(512, 16384 // per)),
            "lut": 0}


def _add(total: dict, part: dict) -> dict:
    for k, v in part.items():
        total[k] = total.get(k, 0) + v
    return total


def resources(node: ir.Node, graph: ir.Graph, in_shape, lanes: int) -> dict:
    """Estimated resources of this node's unit (the FIFO in front of it included)."""
    r = dict.fromkeys(RESOURCE_KEYS, 0)
    if in_shape is None or isinstance(node, (ir.Input, ir.Output, ir.Flatten)):
        return r
    c, h, w = in_shape
    bits = graph.in_fixed(node).width
    out_bits = node.fixed.width
    out_lanes = graph.shape(node.name)[0]
    # The FIFO in front (depth 4 in LUT-RAM and an output register; branch FIFOs are
    # sized by the top).
    _add(r, memory(4, c * bits))
    _add(r, {"ff": c * bits + 8})
    # Window generator: line buffer (kh - 1 rows of the padded map) and window registers.
    kernel = (h, w) if isinstance(node, ir.Linear) else \
        getattr(node, "kernel", None) if isinstance(node, (ir.Conv2d, ir.Pool2d)) else None
    if kernel is not None:
        kh, kw = kernel
        t, l, b, rr = node.window_pads(in_shape) if isinstance(node, ir.Pool2d) \
            else getattr(node, "pads", (0, 0, 0, 0))
        if kh > 1:
            _add(r, memory(w + l + rr, (kh - 1) * c * bits))
        _add(r, {"ff": kh * kw * c * bits + 2 * c * bits, "lut": 30})
    if isinstance(node, ir.WEIGHTED):
        n_lanes, p = lanes_used(node, lanes), out_lanes_used(node, lanes)
        chunks = math.ceil(fan_in(node) / n_lanes)
        groups = math.ceil(node.weight.shape[0] / p)
        wb = node.weight_fixed.width
        _add(r, memory(groups * chunks, p * n_lanes * wb))
        _add(r, {"dsp48e1": n_lanes * p,
                 # operand select (a chunk-wide mux per lane), adder trees, accumulators
                 "lut": n_lanes * bits * max(1, chunks // 2) + p * n_lanes * (bits + wb) + 48,
                 "ff": n_lanes * bits + p * n_lanes * 2 * (bits + wb) + out_lanes * out_bits
                 + 96 * p})
        return r
    per_lane_dsp = {ir.AvgPool2d: 1, ir.Square: 1, ir.Scale: 1, ir.Tanh: 1, ir.Sigmoid: 1,
                    ir.Sqrt: 2, ir.Reciprocal: 2, ir.Div: 3}
    for kind, n in per_lane_dsp.items():
        if type(node) is kind:
            _add(r, {"dsp48e1": n * out_lanes})
    if isinstance(node, ir.GlobalPool) and not node.reduces_max:
        _add(r, {"dsp48e1": c})
    if isinstance(node, (*ir.TABLED, ir.Sqrt, ir.Div)):
        segments = 1024 if isinstance(node, ir.TABLED) else 768
        _add(r, {**{k: v * out_lanes for k, v in memory(segments, 36).items()}})
        _add(r, {"lut": 60 * out_lanes, "ff": 3 * out_bits * out_lanes})
    if isinstance(node, ir.Scale):
        _add(r, memory(h * w, 18))
    _add(r, {"lut": out_lanes * out_bits, "ff": out_lanes * out_bits + 2})
    return r
