"""Choose every weighted layer's parallelism under a DSP48E1 budget.

A streaming pipeline runs at the pace of its slowest unit. Units without multipliers take
one pixel per cycle, which bounds the frame time from below; each weighted layer needs
``windows * ceil(outputs / out_lanes) * ceil(fan_in / lanes)`` cycles with
``lanes * out_lanes`` DSP48E1. For a target frame time T, every layer gets the cheapest
(lanes, out_lanes) that meets T; the pass finds the smallest T whose total fits the
budget (the total only falls as T grows, so bisection finds it).
"""
from __future__ import annotations

import math

from ... import ir
from ...errors import CompileError
from .. import estimate
from ...rtl.top import stream_shapes

__all__ = ["choose_parallelism", "XC6VLX240T_DSP", "DEFAULT_BUDGET"]

XC6VLX240T_DSP = 768
DEFAULT_BUDGET = int(0.9 * XC6VLX240T_DSP)


def _windows(node: ir.Node, graph: ir.Graph) -> int:
    out = graph.shape(node.name)
    return out[1] * out[2] if len(out) == 3 else 1


def cheapest(node: ir.Node, graph: ir.Graph, target: int) -> tuple[int, int] | None:
    """The (lanes, out_lanes) with the fewest multipliers that meets ``target`` cycles per
    frame, or None if even full parallelism cannot."""
    n, outputs, windows = estimate.fan_in(node), node.weight.shape[0], _windows(node, graph)
    best = None
    for groups in range(1, outputs + 1):          # groups of outputs done one after another
        chunks = target // (windows * groups)     # chunks of the fan-in allowed per group
        if chunks < 1:
            continue
        lanes, out_lanes = math.ceil(n / min(chunks, n)), math.ceil(outputs / groups)
        if best is None or lanes * out_lanes < best[0] * best[1]:
            best = (lanes, out_lanes)
    return best


def choose_parallelism(graph: ir.Graph, budget: int = DEFAULT_BUDGET) -> dict:
    """{node name: (lanes, out_lanes)} for every weighted node: frames as fast as the
    budget of DSP48E1 allows, layers balanced to the same pace."""
    weighted = [n for n in graph.nodes if isinstance(n, ir.WEIGHTED)]
    if not weighted:
        return {}
    if budget < len(weighted):
        raise CompileError(f"a DSP budget of {budget} cannot give each of the "
                           f"{len(weighted)} weighted layers one multiplier; raise "
                           f"--dsp-budget to at least {len(weighted)}")
    shapes = stream_shapes(graph)
    # No unit takes more than one pixel per cycle: the frame time can't beat the input of
    # the largest map any unit reads (padding included).
    floor = max(estimate.cycles(n, graph, shapes[n.inputs[0]], 1)
                for n in graph.nodes if n.inputs and not isinstance(n, ir.WEIGHTED)) \
        if any(n.inputs and not isinstance(n, ir.WEIGHTED) for n in graph.nodes) else 1
    floor = max([floor] + [estimate.cycles(n, graph, shapes[n.inputs[0]], (10 ** 9, 10 ** 9))
                           for n in weighted])

    def plan(target):
        choice = {n.name: cheapest(n, graph, target) for n in weighted}
        if any(v is None for v in choice.values()):
            return None, None
        return choice, sum(a * b for a, b in choice.values())

    slowest = max(estimate.cycles(n, graph, shapes[n.inputs[0]], 1) for n in weighted)
    lo, hi = floor, max(floor, slowest)
    best, dsp = plan(hi)
    if best is None or dsp > budget:
        raise CompileError(f"even one multiplier per layer needs {dsp} DSP48E1, over the "
                           f"budget of {budget}")
    while lo < hi:                                # the smallest target that fits
        mid = (lo + hi) // 2
        choice, used = plan(mid)
        if choice is not None and used <= budget:
            hi, best = mid, choice
        else:
            lo = mid + 1
    return best
