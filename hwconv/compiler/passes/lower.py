"""Rewrite composite kinds into the primitives the hardware has, before quantization.

LpPool2d (p = 2) becomes Square -> SumPool2d -> Sqrt(gain), with gain 1/sqrt(n) for the
mean (Torch7) form: sqrt(sum / n) = sqrt(sum) / sqrt(n), so no division is needed.
"""
from __future__ import annotations

import math

from ... import ir

__all__ = ["lower"]


def _lower_lppool(node: ir.LpPool2d) -> list[ir.Node]:
    n = node.kernel[0] * node.kernel[1]
    sq, total = f"{node.name}/square", f"{node.name}/sum"
    return [ir.Square(sq, node.inputs),
            ir.SumPool2d(total, (sq,), kernel=node.kernel, stride=node.stride, pads=node.pads),
            ir.Sqrt(node.name, (total,), gain=1 / math.sqrt(n) if node.mean else 1.0)]


LOWERINGS = {ir.LpPool2d: _lower_lppool}


def lower(graph: ir.Graph) -> ir.Graph:
    """The graph with every composite node replaced; the last new node keeps the name."""
    nodes = []
    for node in graph.nodes:
        fn = LOWERINGS.get(type(node))
        nodes.extend(fn(node) if fn else [node])
    return ir.Graph(tuple(nodes)).verify()
