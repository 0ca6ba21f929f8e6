"""How far the fixed-point hardware is from the float model, layer by layer.

For frames x, every node's hardware value (the bit-exact reference, dequantized) is compared
with the same node's float value (float weights, no rounding) on the same frames. The
error at a layer is therefore everything accumulated up to it, which is what a user
choosing formats needs to see. Saturations are counted where saturate() clips a layer's
output codes (its weights are counted apart); top-1 compares the argmax over output
channels, per pixel for maps and per frame for class scores.
"""
from __future__ import annotations

import math

import numpy as np

from . import ir, reference
from .fixed import counting_saturations, dequantize, quantize

__all__ = ["precision_report", "format_precision", "sqnr_text", "top1"]


def _weight_saturations(node: ir.Node) -> int:
    if not isinstance(node, ir.WEIGHTED):
        return 0
    with counting_saturations() as n:
        quantize(node.weight, node.weight_fixed)
    return n[0]


def _sqnr_db(signal: np.ndarray, error: np.ndarray) -> float | None:
    """Signal power over error power in dB; None when either is zero (no ratio to give)."""
    noise, power = float(np.mean(error ** 2)), float(np.mean(signal ** 2))
    return 10.0 * math.log10(power / noise) if noise > 0 and power > 0 else None


def top1(scores: np.ndarray) -> np.ndarray:
    """Argmax over the channel axis: one class per frame, or per pixel of a map."""
    return np.asarray(scores).argmax(axis=1)


def precision_report(graph: ir.Graph, frames, labels=None) -> dict:
    """Per layer: format, saturations, max / mean absolute error and SQNR against float on
    ``frames``; and top-1 agreement between hardware and float (and against ``labels``)."""
    x = reference._batch(graph, np.asarray(frames, dtype=np.float64))
    floats = reference.run_all(graph, x, exact=False)
    ints: dict[str, np.ndarray] = {}
    layers = []
    for node in graph.nodes:
        with counting_saturations() as saturated:
            if isinstance(node, ir.Input):
                ints[node.name] = quantize(x, node.fixed)
            else:
                ints[node.name] = reference._eval(node, [ints[i] for i in node.inputs],
                                                  graph, exact=True)
        hw = dequantize(ints[node.name], node.fixed)
        ref = floats[node.name]
        err = np.abs(hw - ref)
        row = {"name": node.name, "kind": type(node).__name__, "type": str(node.fixed),
               "values": int(hw.size), "saturated": saturated[0],
               "max_abs_float": float(np.abs(ref).max()),
               "max_abs_error": float(err.max()), "mean_abs_error": float(err.mean()),
               "max_error_lsb": float(err.max() / node.fixed.lsb),
               "sqnr_db": _sqnr_db(ref, hw - ref)}
        if isinstance(node, ir.WEIGHTED):
            row["weight_type"] = str(node.weight_fixed)
            row["weights_saturated"] = _weight_saturations(node)
        layers.append(row)
    out = graph.output.name
    hw_top1, float_top1 = top1(ints[out]), top1(floats[out])
    rep = {"frames": int(x.shape[0]), "layers": layers,
           "top1_agreement": float(np.mean(hw_top1 == float_top1)),
           "saturated": sum(r["saturated"] for r in layers)}
    if labels is not None:
        labels = np.asarray(labels)
        rep["hw_top1_accuracy"] = float(np.mean(hw_top1 == labels))
        rep["float_top1_accuracy"] = float(np.mean(float_top1 == labels))
    return rep


def sqnr_text(row: dict) -> str:
    if row["sqnr_db"] is not None:
        return f"{row['sqnr_db']:.1f}"
    return "exact" if row["max_abs_error"] == 0 else "n/a"


def format_precision(rep: dict) -> str:
    """The report as a table for the terminal."""
    head = f"{'layer':<24} {'kind':<12} {'format':>8} {'saturated':>10} {'max |err|':>10} " \
           f"{'(LSB)':>7} {'mean |err|':>10} {'SQNR dB':>8}"
    lines = [f"precision against float on {rep['frames']} frames", head, "-" * len(head)]
    for r in rep["layers"]:
        sqnr = sqnr_text(r)
        sat = str(r["saturated"])
        if r.get("weights_saturated"):
            sat += f" (+{r['weights_saturated']} w)"
        lines.append(f"{r['name'][:24]:<24} {r['kind'][:12]:<12} {r['type']:>8} {sat:>10} "
                     f"{r['max_abs_error']:>10.3g} {r['max_error_lsb']:>7.1f} "
                     f"{r['mean_abs_error']:>10.3g} {sqnr:>8}")
    lines.append(f"top-1 agreement, hardware vs float: {rep['top1_agreement']:.1%}")
    if "hw_top1_accuracy" in rep:
        lines.append(f"top-1 accuracy: hardware {rep['hw_top1_accuracy']:.1%}, float "
                     f"{rep['float_top1_accuracy']:.1%}")
    return "\n".join(lines)
