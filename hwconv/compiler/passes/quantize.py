"""Choose every tensor's fixed-point format from calibration frames.

Each calibrated node (ir.CALIBRATED: Input, Conv2d, Linear, Add, Sqrt) gets ``bits`` bits with as many fractional
bits as fit the largest magnitude seen on the calibration frames (so no calibration value
saturates); weights get the same rule from their own largest magnitude. Table functions
(Tanh, Sigmoid) output ``bits`` bits with ``bits - 1`` fractional; exact kinds (Square,
SumPool2d) the type that holds every result. Nodes that do not
requantize (ir.SAME_TYPE: ReLU, MaxPool2d, ...) keep their input's type.

A Config (hwconv.config) overrides any layer's width, and may pin its fractional bits.
"""
from __future__ import annotations

import math

import numpy as np

from ... import ir, reference
from ...config import BITS_RANGE, Config
from ...errors import CompileError
from ...fixed import FixedType

__all__ = ["quantize_graph", "frac_for"]


def frac_for(max_abs: float, bits: int) -> int:
    """The most fractional bits with which ``max_abs`` still fits a signed ``bits`` type."""
    if max_abs <= 0:
        return bits - 1
    top = (1 << (bits - 1)) - 1
    f = math.floor(math.log2(top / max_abs))
    # log2 may land one off at exact powers of two; settle it with integers.
    while round(max_abs * 2.0 ** f) > top:
        f -= 1
    while round(max_abs * 2.0 ** (f + 1)) <= top:
        f += 1
    return f


def quantize_graph(graph: ir.Graph, calibration: np.ndarray, bits: int = 16,
                   config: Config | None = None) -> ir.Graph:
    """A quantized copy of the float ``graph``, formats chosen on ``calibration`` frames,
    with ``config``'s per-layer settings."""
    config = (config or Config()).check(graph)
    if bits not in BITS_RANGE:
        raise CompileError(f"--bits {bits} is not supported; use 2 to 24 (8, 12 or 16 are usual)")
    calibration = np.asarray(calibration, dtype=np.float64)
    if calibration.size == 0 or not np.all(np.isfinite(calibration)):
        raise CompileError("calibration frames are empty or hold NaN or infinite values")
    values = reference.run_all(graph, reference._batch(graph, calibration), exact=False)
    fixed: dict[str, FixedType] = {}
    nodes = []
    for node in graph.nodes:
        changes = {}
        pinned = config.formats(node.name)
        width = pinned.bits or bits
        if isinstance(node, ir.CALIBRATED):
            if getattr(node, "wide", False):
                width = min(2 * width, 40)
            frac = pinned.frac if pinned.frac is not None else \
                frac_for(float(np.abs(values[node.name]).max()), width)
            changes["fixed"] = FixedType(width, frac)
        elif isinstance(node, ir.EXACT):
            t = fixed[node.inputs[0]]
            changes["fixed"] = node.exact_type(t, graph.shape(node.inputs[0])[0]) \
                if isinstance(node, ir.ChannelReduce) else node.exact_type(t)
        elif isinstance(node, ir.TABLED):
            # Outputs within [-1, 1]: every bit but the sign is fractional.
            changes["fixed"] = FixedType(width, width - 1)
        else:
            changes["fixed"] = fixed[node.inputs[0]]
        if isinstance(node, ir.WEIGHTED):
            w_bits = pinned.weight_bits or bits
            w_frac = pinned.weight_frac if pinned.weight_frac is not None else \
                frac_for(float(np.abs(node.weight).max()), w_bits)
            changes["weight_fixed"] = FixedType(w_bits, w_frac)
        fixed[node.name] = changes["fixed"]
        nodes.append(ir.replace(node, **changes))
    return ir.Graph(tuple(nodes)).verify()
