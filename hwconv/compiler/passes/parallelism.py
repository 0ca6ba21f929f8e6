"""Choose every layer's parallelism under the part's budgets: DSP48E1, block RAM, LUT.

A streaming pipeline runs at the pace of its slowest unit. Units without multipliers take
one pixel per cycle, which bounds the frame time from below; each weighted layer needs
``windows * ceil(outputs / out_lanes) * ceil(fan_in / lanes)`` cycles with
``lanes * out_lanes`` DSP48E1. For a target frame time T:

- every weighted layer gets, of the (lanes, out_lanes) that meet T, the one using the
  smallest share of the DSP48E1 and block RAM budgets together (the weight ROM's depth
  decides how well it packs into block RAM: 1,632 words take as many as 2,048);
- every table unit (tanh, sigmoid, exp) gets the fewest lanes that meet T, the channels
  taken in turn (``("serial", n)``, hwconv.rtl.serial): after a slow convolution one lane
  does, where a lane per channel costs a DSP48E1 and a table copy each;
- the whole design is counted by ``estimate.resources`` (every DSP48E1: tables, scales,
  pooling divisors; every memory: weights, line buffers, FIFOs, tables);
- if block RAM is over budget, the largest weight ROMs move lane by lane into LUT ROMs
  (``(lanes, out_lanes, logic_lanes)``) while LUTs last.

The pass finds the smallest T that fits all three budgets by bisection. ``plan_report``
says which layer sets the pace and which budget stopped a faster plan.
"""
from __future__ import annotations

import math

from ... import ir
from ...errors import CompileError
from .. import estimate
from ...rtl.top import build_unit, stream_shapes

__all__ = ["choose_parallelism", "plan_report", "XC6VLX240T_DSP", "XC6VLX240T_RAMB18",
           "XC6VLX240T_LUT", "DEFAULT_BUDGET", "DEFAULT_RAMB18_BUDGET", "DEFAULT_LUT_BUDGET"]

XC6VLX240T_DSP = 768
XC6VLX240T_RAMB18 = 832          # 416 RAMB36E1
XC6VLX240T_LUT = 150_720
DEFAULT_BUDGET = int(0.9 * XC6VLX240T_DSP)
DEFAULT_RAMB18_BUDGET = int(0.9 * XC6VLX240T_RAMB18)
DEFAULT_LUT_BUDGET = int(0.9 * XC6VLX240T_LUT)


def _windows(node: ir.Node, graph: ir.Graph) -> int:
    out = graph.shape(node.name)
    return out[1] * out[2] if len(out) == 3 else 1


def _tabled(node: ir.Node) -> bool:
    """Built as a plain TableUnit, whose lanes can take the channels in turn."""
    return isinstance(node, ir.TABLED) and node.inputs


def candidates(node: ir.Node, graph: ir.Graph, target: int) -> list[tuple[int, int]]:
    """For each number of output groups done one after another, the (lanes, out_lanes)
    with the fewest multipliers that meets ``target`` cycles per frame."""
    n, outputs, windows = estimate.fan_in(node), node.weight.shape[0], _windows(node, graph)
    found = {}
    for groups in range(1, outputs + 1):
        chunks = target // (windows * groups)     # chunks of the fan-in allowed per group
        if chunks < 1:
            continue
        lanes, out_lanes = math.ceil(n / min(chunks, n)), math.ceil(outputs / groups)
        found[(lanes, out_lanes)] = None
    return list(found)


def cheapest(node: ir.Node, graph: ir.Graph, target: int) -> tuple[int, int] | None:
    """The (lanes, out_lanes) with the fewest multipliers that meets ``target`` cycles per
    frame, or None if even full parallelism cannot."""
    found = candidates(node, graph, target)
    return min(found, key=lambda c: c[0] * c[1]) if found else None


def _weight_rom(node: ir.Node, setting) -> tuple[int, int, int]:
    """(depth, bits per lane, lanes) of a weighted layer's weight ROM."""
    lanes, out_lanes = estimate.lanes_used(node, setting), estimate.out_lanes_used(node, setting)
    depth = math.ceil(node.weight.shape[0] / out_lanes) * \
        math.ceil(estimate.fan_in(node) / lanes)
    return depth, node.weight_fixed.width, lanes * out_lanes


def _rom_cost(node: ir.Node, setting, logic: int = 0) -> dict:
    """The weight ROM's resources (estimate.memory), ``logic`` lanes of it in LUTs
    (every column counted: the estimate of the built unit counts only distinct ones)."""
    depth, wb, q = _weight_rom(node, setting)
    if depth <= 1:
        return estimate.memory(1, 1, rom=True)
    r = estimate.memory(depth, (q - logic) * wb, rom=True) if q > logic else {}
    if logic:
        r = estimate._add(dict(r), estimate.memory(depth, logic * wb, rom=True, logic=True))
    return r


class _Planner:
    def __init__(self, graph: ir.Graph, budgets: dict, pins: dict):
        self.graph, self.budgets, self.pins = graph, budgets, pins
        self.shapes = stream_shapes(graph)
        self.fifo_depths = estimate.top_fifo_depths(graph)
        self.weighted = [n for n in graph.nodes if isinstance(n, ir.WEIGHTED)]
        self.tables = [n for n in graph.nodes if _tabled(n)]
        self._cache = {}

    def resources(self, node: ir.Node, setting) -> dict:
        key = (node.name, repr(setting))
        if key not in self._cache:
            in_shape = self.shapes[node.inputs[0]] if node.inputs else None
            unit = None
            if in_shape is not None and not isinstance(node, (ir.Input, ir.Output)):
                unit = build_unit(self.graph, node, in_shape, setting)
                for part in (unit, getattr(unit, "mac", None), getattr(unit, "core", None)):
                    if part is not None:
                        part._MustUse__silence = True   # built to be measured
            self._cache[key] = estimate.resources(node, self.graph, in_shape, setting,
                                                  unit=unit, fifo_depths=self.fifo_depths)
        return self._cache[key]

    def totals(self, plan: dict) -> dict:
        total = dict.fromkeys(estimate.RESOURCE_KEYS, 0)
        for node in self.graph.nodes:
            estimate._add(total, self.resources(node, plan.get(node.name, 1)))
        total["ramb18_equivalent"] = estimate.ramb18_equivalent(total)
        return total

    def over(self, total: dict) -> list[str]:
        b = self.budgets
        return [name for name, key in (("DSP48E1", "dsp48e1"), ("block RAM", "ramb18"),
                                       ("LUT", "lut"))
                if total["ramb18_equivalent" if key == "ramb18" else key] > b[key]]

    def multipliers_only(self, target: int):
        plan = {n.name: cheapest(n, self.graph, target) for n in self.weighted}
        if not all(plan.values()):
            return None
        dsp = sum(a * b for a, b in plan.values())
        return plan, {"dsp48e1": dsp}, ["DSP48E1"] if dsp > self.budgets["dsp48e1"] else []

    def plan(self, target: int):
        """(plan, totals, budgets exceeded) for frames of ``target`` cycles, or None when
        some layer cannot be that fast at all."""
        b = self.budgets
        plan = {}
        for node in self.tables:
            c = self.shapes[node.inputs[0]][0]
            take = estimate.cycles(node, self.graph, self.shapes[node.inputs[0]], 1)
            lanes = min(c, math.ceil(c / max(1, target // max(1, take))))
            if take * math.ceil(c / lanes) > target:
                lanes = c
            plan[node.name] = ("serial", lanes) if lanes < c else 1
        for node in self.weighted:
            if node.name in self.pins:
                plan[node.name] = self.pins[node.name]
                continue
            found = candidates(node, self.graph, target)
            if not found:
                return None

            def share(c):
                ram = estimate.ramb18_equivalent(_rom_cost(node, c))
                return c[0] * c[1] / max(1, b["dsp48e1"]) + ram / max(1, b["ramb18"])
            least = min(c[0] * c[1] for c in found)
            # Within a few multipliers of the fewest, the one that packs best.
            plan[node.name] = min((c for c in found if c[0] * c[1] <= 1.05 * least + 2),
                                  key=share)
        total = self.totals(plan)
        if total["ramb18_equivalent"] > b["ramb18"]:
            plan, total = self.spill(plan, total)
        return plan, total, self.over(total)

    def spill(self, plan: dict, total: dict):
        """Move weight ROM lanes into LUTs until block RAM fits, first from the ROMs
        that give back the most block RAM per LUT (a shallow ROM fills its 512-word
        block RAMs badly, so its bits are worth more there)."""
        b = self.budgets

        def rate(node):
            setting = plan[node.name]
            q = _weight_rom(node, setting)[2]
            full, gone = _rom_cost(node, setting), _rom_cost(node, setting, q)
            return -estimate.ramb18_equivalent(full) / max(1, gone.get("lut", 0))
        order = sorted((n for n in self.weighted if n.name not in self.pins), key=rate)
        for node in order:
            excess = total["ramb18_equivalent"] - b["ramb18"]
            if excess <= 0:
                break
            setting = plan[node.name]
            q = _weight_rom(node, setting)[2]
            full = _rom_cost(node, setting)

            def saved(k):
                return estimate.ramb18_equivalent(full) - \
                    estimate.ramb18_equivalent(_rom_cost(node, setting, k))
            lo, hi = 0, q                           # the fewest lanes that save enough
            while lo < hi:
                mid = (lo + hi) // 2
                if saved(mid) >= excess:
                    hi = mid
                else:
                    lo = mid + 1
            if lo == 0:
                continue
            plan = {**plan, node.name: (*estimate.parallelism(setting), lo)}
            total = self.totals(plan)
        return plan, total


def _plan(graph: ir.Graph, budget: int, ramb18_budget: int, lut_budget: int,
          pins: dict | None = None):
    weighted = [n for n in graph.nodes if isinstance(n, ir.WEIGHTED)]
    if budget < len(weighted):
        raise CompileError(f"a DSP budget of {budget} cannot give each of the "
                           f"{len(weighted)} weighted layers one multiplier; raise "
                           f"--dsp-budget to at least {len(weighted)}")
    budgets = {"dsp48e1": budget, "ramb18": ramb18_budget, "lut": lut_budget}
    planner = _Planner(graph, budgets, pins or {})
    if not graph.quantized:
        # Without formats there is nothing to count but the weighted layers' multipliers.
        planner.tables, planner.plan = [], planner.multipliers_only
    shapes = planner.shapes
    # No unit takes more than one pixel per cycle: the frame time can't beat the input of
    # the largest map any unit reads (padding included).
    plain = [n for n in graph.nodes
             if n.inputs and not isinstance(n, ir.WEIGHTED) and not _tabled(n)]
    floor = max([1] + [estimate.cycles(n, graph, shapes[n.inputs[0]], 1) for n in plain])
    floor = max([floor] + [estimate.cycles(n, graph, shapes[n.inputs[0]], (10 ** 9, 10 ** 9))
                           for n in weighted])
    slowest = max([floor] + [estimate.cycles(n, graph, shapes[n.inputs[0]], 1)
                             for n in weighted]
                  + [estimate.cycles(n, graph, shapes[n.inputs[0]], ("serial", 1))
                     for n in planner.tables])
    # Multipliers alone give a lower bound on the frame time (bisection, no units built);
    # from there, step up until every budget fits, then bisect the last step.
    lo, hi = floor, slowest
    while lo < hi:
        mid = (lo + hi) // 2
        choice = [cheapest(n, graph, mid) for n in weighted]
        if all(choice) and sum(a * b for a, b in choice) <= budget:
            hi = mid
        else:
            lo = mid + 1
    below, target, found = lo - 1, lo, planner.plan(lo)
    limit, first = ["DSP48E1"], (lo, found)

    def over(at, found):
        total = found[1] if found else {}
        return f"at {at:,} cycles per frame " + ", ".join(
            f"{k} {total.get(k2, 0):,} is over the budget of {budgets[k3]:,}"
            for k, k2, k3 in (("DSP48E1", "dsp48e1", "dsp48e1"),
                              ("block RAM (RAMB18E1)", "ramb18_equivalent", "ramb18"),
                              ("LUT", "lut", "lut"))
            if total.get(k2, 0) > budgets[k3])
    while found is None or found[2]:
        limit = found[2] if found else ["the layers' full parallelism"]
        if target >= slowest:
            raise CompileError(
                f"no plan fits the budgets: {over(*first)} (weights over the block RAM "
                f"budget go to LUT ROMs); slower plans do not fit either ({over(target, found)})"
                "; raise the budgets, lower --bits, or narrow the weights (weight_bits in "
                "--config: 9-bit weights take a RAMB18E1 byte with its parity bit)")
        below, target = target, min(slowest, math.ceil(target * 1.25))
        found = planner.plan(target)
    best = (target, found)
    lo, hi = below + 1, target
    while lo < hi:                                # the smallest target that fits
        mid = (lo + hi) // 2
        found = planner.plan(mid)
        if found is not None and not found[2]:
            hi, best = mid, (mid, found)
        else:
            lo = mid + 1
            limit = found[2] if found else ["the layers' full parallelism"]
    target, (plan, total, _) = best
    info = {"target_cycles": target, "resources": total, "budgets": budgets,
            "limited_by": limit if target > floor else ["the pixel rate (a pixel per cycle)"]}
    return plan, info


def choose_parallelism(graph: ir.Graph, budget: int = DEFAULT_BUDGET, *,
                       ramb18_budget: int = DEFAULT_RAMB18_BUDGET,
                       lut_budget: int = DEFAULT_LUT_BUDGET, pins: dict | None = None) -> dict:
    """{node name: setting} for every weighted node ((lanes, out_lanes) or (lanes,
    out_lanes, logic_lanes)) and table node (``("serial", n)`` or 1): frames as fast as
    the budgets of DSP48E1 (``budget``), block RAM (``ramb18_budget``, in RAMB18E1) and
    LUTs allow, layers balanced to the same pace. ``pins``: {node name: (lanes,
    out_lanes)} set by the user (hwconv.config), kept as given and counted in the budgets."""
    if not any(isinstance(n, ir.WEIGHTED) for n in graph.nodes):
        return {}
    return _plan(graph, budget, ramb18_budget, lut_budget, pins)[0]


def plan_report(graph: ir.Graph, budget: int = DEFAULT_BUDGET, *,
                ramb18_budget: int = DEFAULT_RAMB18_BUDGET,
                lut_budget: int = DEFAULT_LUT_BUDGET) -> dict:
    """The plan with why: {"plan", "target_cycles", "bottleneck" (the slowest layer),
    "resources" (estimated totals), "budgets", "limited_by" (the budgets a faster plan
    exceeded)}."""
    plan, info = _plan(graph, budget, ramb18_budget, lut_budget)
    shapes = stream_shapes(graph)
    cycles = {n.name: estimate.cycles(n, graph, shapes[n.inputs[0]], plan.get(n.name, 1))
              for n in graph.nodes if n.inputs}
    return {"plan": plan, "bottleneck": max(cycles, key=cycles.get), **info}
