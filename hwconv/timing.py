"""A timing proxy: logic levels between registers in Yosys's Virtex-6 netlist.

Without ISE there is no static timing analysis here. As a stand-in for "meets 200 MHz on a
-1 Virtex-6" hwconv counts, on the netlist ``synth_xilinx -family xc6v`` makes, the logic
levels on every path from a register (or block RAM, DSP48E1, input port) to the next:

- a LUT1..LUT6 / LUT6_2 is one level, MUXF7 and MUXF8 one level each;
- a CARRY4 entered through its S, DI or CYINIT inputs is one level; a CARRY4 entered only
  through CI, from the CARRY4 below it in a chain, adds nothing (the dedicated carry runs
  at about 0.1 ns per CARRY4 on Virtex-6, against 0.5-1 ns for a LUT and its route);
- flip-flops, SRLs, LUT RAM, block RAM and DSP48E1 end and start paths (hwconv registers
  what it feeds into and takes out of a DSP48E1; this proxy does not check that).

Six levels is the budget hwconv holds designs to (issue 6). The proxy knows nothing of
routing, fan-out or placement: a design within it can still miss 200 MHz in ISE, and one
beyond it may still meet it. It finds the deep cones that pipelining must cut.
"""
from __future__ import annotations

import json
import pathlib
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["LEVEL_BUDGET", "LogicDepth", "logic_depth"]

LEVEL_BUDGET = 6

_LUTS = frozenset({"LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "LUT6_2"})
_MUXES = frozenset({"MUXF7", "MUXF8"})
_COMBINATIONAL = _LUTS | _MUXES | {"CARRY4", "INV"}


@dataclass(frozen=True)
class LogicDepth:
    """The deepest path, a histogram of path depths at their endpoints, and the path."""

    max_levels: int
    histogram: dict[int, int]              # levels -> endpoints (register inputs, outputs)
    worst_path: list[str] = field(default_factory=list)   # named nets, start to end
    # Register inputs beyond the budget, counted by the unit (first name part) they are in.
    over_by_unit: dict[str, int] = field(default_factory=dict)

    def over_budget(self, budget: int = LEVEL_BUDGET) -> int:
        """Endpoints whose deepest path is beyond ``budget`` levels."""
        return sum(n for levels, n in self.histogram.items() if levels > budget)

    def as_dict(self) -> dict:
        return {"max_levels": self.max_levels, "budget": LEVEL_BUDGET,
                "endpoints_over_budget": self.over_budget(),
                "histogram": {str(k): v for k, v in sorted(self.histogram.items())},
                "worst_path": self.worst_path,
                "over_by_unit": dict(sorted(self.over_by_unit.items(), key=lambda kv: -kv[1]))}


def logic_depth(netlist, top: str | None = None) -> LogicDepth:
    """Logic levels of a flattened Yosys JSON netlist (a path, text, or parsed dict)."""
    if isinstance(netlist, (str, pathlib.PurePath)) and pathlib.Path(netlist).exists():
        netlist = json.loads(pathlib.Path(netlist).read_text())
    elif isinstance(netlist, str):
        netlist = json.loads(netlist)
    modules = netlist["modules"]
    if top is None:
        top = next(name for name, m in modules.items()
                   if m.get("attributes", {}).get("top")) if len(modules) > 1 else next(iter(modules))
    module = modules[top]
    cells = module["cells"]

    driver: dict = {}                      # net bit -> combinational cell driving it
    for name, cell in cells.items():
        if cell["type"] in _COMBINATIONAL:
            for port, bits in cell["connections"].items():
                if cell["port_directions"].get(port) == "output":
                    for b in bits:
                        driver[b] = name
    depth: dict[str, int] = {}
    came_from: dict[str, str | None] = {}

    def level(name: str) -> int:
        # Iterative depth-first search: netlists run to millions of cells.
        stack = [name]
        while stack:
            cur = stack[-1]
            if cur in depth:
                stack.pop()
                continue
            cell = cells[cur]
            pending = [driver[b] for port, bits in cell["connections"].items()
                       if cell["port_directions"].get(port) == "input"
                       for b in bits if b in driver and driver[b] not in depth]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            best, via = 0, None
            for port, bits in cell["connections"].items():
                if cell["port_directions"].get(port) != "input":
                    continue
                chained = cell["type"] == "CARRY4" and port == "CI"
                for b in bits:
                    if b in driver:
                        d = depth[driver[b]] + (0 if chained else 1)
                        if d > best:
                            best, via = d, driver[b]
                    elif not chained and best < 1:
                        best, via = 1, None
            if cell["type"] == "INV":
                best = max(best - 1, 0)    # absorbed into the LUT it feeds or reads
            depth[cur], came_from[cur] = best, via
        return depth[name]

    names = _net_names(module)
    histogram: Counter = Counter()
    over: Counter = Counter()
    worst, worst_end, worst_sink = 0, None, ""
    endpoints = [(_output_name(cell, names) or cell["type"], bits) for cell in cells.values()
                 if cell["type"] not in _COMBINATIONAL
                 for port, bits in cell["connections"].items()
                 if cell["port_directions"].get(port) == "input"]
    endpoints += [(f"output {name}", port["bits"]) for name, port in module["ports"].items()
                  if port["direction"] == "output"]
    for sink, bits in endpoints:
        deepest, deepest_cell = 0, None
        for b in bits:
            if b in driver:
                d = level(driver[b])
                if d > deepest:
                    deepest, deepest_cell = d, driver[b]
        histogram[deepest] += 1
        if deepest > LEVEL_BUDGET:
            over[_unit(sink)] += 1
        if deepest > worst:
            worst, worst_end, worst_sink = deepest, deepest_cell, sink
    path = []
    while worst_end is not None:
        path.append(cells[worst_end]["type"])
        worst_end = came_from.get(worst_end)
    return LogicDepth(worst, dict(histogram), path[::-1] + ([f"into {worst_sink}"] if path else []),
                      dict(over))


def _unit(sink: str) -> str:
    """``FDRE u_conv1.mac.acc_0`` -> ``u_conv1``: the unit a register belongs to."""
    name = sink.split(" ", 1)[-1]
    return name.split(".", 1)[0] if "." in name else "(top)"


def _net_names(module) -> dict:
    """Net bit -> a name Yosys kept from the source (hwconv's signal names)."""
    names = {}
    for net, info in module.get("netnames", {}).items():
        if not info.get("hide_name"):
            for b in info["bits"]:
                names.setdefault(b, net)
    return names


def _output_name(cell, names) -> str | None:
    for port, bits in cell["connections"].items():
        if cell["port_directions"].get(port) == "output":
            for b in bits:
                if b in names:
                    return f"{cell['type']} {names[b]}"
    return None
