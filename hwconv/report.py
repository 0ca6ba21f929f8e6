"""The design report: per-layer precision, parallelism, cycles and resources, as
report.json (for programs) and report.html (for people)."""
from __future__ import annotations

import html
import json
import pathlib

from . import ir
from .compiler import estimate

__all__ = ["design_report", "write_html", "CLOCK_HZ"]

CLOCK_HZ = 200e6   # the core clock NeuFlow ran on the ML605


def design_report(design) -> dict:
    graph, top = design.graph, design.top
    layers = []
    for node in graph.nodes:
        lanes = design.lanes.get(node.name, 1) if isinstance(design.lanes, dict) \
            else design.lanes
        in_shape = top.shapes[node.inputs[0]] if node.inputs else None
        row = {"name": node.name, "op": node.op, "kind": type(node).__name__,
               "shape": list(graph.shape(node.name)), "type": str(node.fixed),
               "macs": estimate.macs(node, graph),
               "cycles_estimate": estimate.cycles(node, graph, in_shape, lanes or 1)
               if in_shape else 0}
        if in_shape:
            row["resources_estimate"] = estimate.resources(node, graph, in_shape, lanes or 1)
        if isinstance(node, ir.WEIGHTED):
            row["weight_type"] = str(node.weight_fixed)
            row["accumulator_type"] = str(ir.acc_type(node, graph.in_fixed(node)))
            row["lanes"] = estimate.lanes_used(node, lanes)
            row["out_lanes"] = estimate.out_lanes_used(node, lanes)
        layers.append(row)
    bottleneck = max(layers, key=lambda r: r["cycles_estimate"])
    total = {k: sum(r.get("resources_estimate", {}).get(k, 0) for r in layers)
             for k in estimate.RESOURCE_KEYS}
    rep = {"top": "hwconv_top", "clock_hz": CLOCK_HZ,
           "input": {"shape": list(graph.input.shape), "type": str(graph.input.fixed)},
           "output": {"shape": list(graph.shape(graph.output.name)),
                      "type": str(graph.output.fixed)},
           "macs_per_frame": sum(r["macs"] for r in layers),
           "cycles_per_frame_estimate": bottleneck["cycles_estimate"],
           "bottleneck": bottleneck["name"],
           "resources_estimate": total,
           "layers": layers}
    if design.simulation:
        rep["simulation"] = design.simulation
    if design.synthesis:
        rep["synthesis"] = design.synthesis
    return rep


def _table(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>"
                                     for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_html(report: dict, path: pathlib.Path) -> None:
    cols = ["name", "op", "shape", "type", "weight_type", "accumulator_type", "lanes", "out_lanes",
            "macs", "cycles_estimate", "dsp48e1", "ramb18", "lut", "ff"]
    rows = [{**r, **r.get("resources_estimate", {})} for r in report["layers"]]
    parts = [f"<h1>hwconv design report: {html.escape(report['top'])}</h1>",
             f"<p>Input {report['input']['shape']} {report['input']['type']}; output "
             f"{report['output']['shape']} {report['output']['type']}; "
             f"{report['macs_per_frame']:,} multiply-accumulates per frame; estimated "
             f"{report['cycles_per_frame_estimate']:,} cycles per frame, bottleneck "
             f"<b>{html.escape(report['bottleneck'])}</b>.</p>",
             f"<p>Estimated resources: {html.escape(str(report['resources_estimate']))} "
             f"(a structural model; synthesis figures below when run).</p>",
             "<h2>Layers</h2>", _table(rows, cols)]
    for key in ("simulation", "synthesis"):
        if key in report:
            flat = {k: v for k, v in report[key].items() if not isinstance(v, (dict, list))}
            parts += [f"<h2>{key.capitalize()}</h2>",
                      _table([{"figure": k, "value": v} for k, v in flat.items()],
                             ["figure", "value"])]
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #999;padding:2px 8px;text-align:right}")
    path.write_text(f"<!doctype html><meta charset=utf-8><title>hwconv report</title>"
                    f"<style>{style}</style>{''.join(parts)}"
                    f"<script type=application/json id=report>{html.escape(json.dumps(report))}"
                    f"</script>")
