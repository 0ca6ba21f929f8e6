"""Fold batch normalization into the layer before it, before quantization.

A BatchNorm whose input is a Conv2d or Linear read by nothing else becomes part of that
layer's weights and bias (w' = w * scale[o], b' = b * scale[o] + shift[o]): no hardware
at all. Any other BatchNorm becomes a depthwise 1x1 convolution with those numbers.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ... import ir

__all__ = ["fold_batchnorm"]


def fold_batchnorm(graph: ir.Graph) -> ir.Graph:
    nodes = list(graph.nodes)
    renames: dict[str, str] = {}
    out: list[ir.Node] = []
    for node in nodes:
        node = replace(node, inputs=tuple(renames.get(i, i) for i in node.inputs))
        if not isinstance(node, ir.BatchNorm):
            out.append(node)
            continue
        src = next(n for n in out if n.name == node.inputs[0])
        readers = sum(n.inputs.count(src.name) for n in nodes)
        if isinstance(src, ir.WEIGHTED) and readers == 1:
            shape = (-1,) + (1,) * (src.weight.ndim - 1)
            folded = replace(src, name=node.name,
                             weight=src.weight * node.scale.reshape(shape),
                             bias=src.bias * node.scale + node.shift)
            if getattr(src, "connections", None) is not None:
                folded = replace(folded, connections=src.connections)
            out[out.index(src)] = folded
            renames[src.name] = node.name
        else:
            c = len(node.scale)
            out.append(ir.Conv2d(node.name, node.inputs,
                                 weight=np.diag(node.scale)[:, :, None, None],
                                 bias=node.shift.copy(),
                                 connections=np.eye(c, dtype=bool)))
    return ir.Graph(tuple(out)).verify()
