"""Per-node figures known before simulation: multiply-accumulates and cycles per frame.

Cycles follow from the units' structure: a window generator takes one pixel per cycle, a
MAC engine spends ``outputs * ceil(n / lanes)`` cycles on each window, and a pipeline runs
at the pace of its slowest unit. Simulation measures the real figure; the report shows both.
"""
from __future__ import annotations

import math

import numpy as np

from .. import ir

__all__ = ["macs", "cycles", "lanes_used"]


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


def lanes_used(node: ir.Node, lanes: int) -> int:
    return max(1, min(lanes, fan_in(node))) if isinstance(node, ir.WEIGHTED) else 0


def cycles(node: ir.Node, graph: ir.Graph, in_stream_shape, lanes: int) -> int:
    """Cycles per frame this node's unit needs when never starved or blocked."""
    if isinstance(node, (ir.Input, ir.Output, ir.Flatten)):
        return 0
    c, h, w = in_stream_shape
    take = h * w
    if hasattr(node, "pads"):
        t, l, b, r = node.pads
        take = (h + t + b) * (w + l + r)
    if isinstance(node, ir.WEIGHTED):
        out = graph.shape(node.name)
        windows = out[1] * out[2] if len(out) == 3 else 1
        work = windows * node.weight.shape[0] * math.ceil(fan_in(node) /
                                                          lanes_used(node, lanes))
        return max(take, work)
    return take
