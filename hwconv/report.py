"""The design report: per-layer precision, parallelism, cycles and resources, as
report.json (for programs) and report.html (for people)."""
from __future__ import annotations

import html
import json
import pathlib

from . import ir
from .compiler import estimate

__all__ = ["design_report", "write_html", "write_report", "simulation_summary", "CLOCK_HZ",
           "compare_with_synthesis", "TOLERANCES"]

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
        # Every node: an input read by several nodes has its Broadcast counted too.
        row["resources_estimate"] = estimate.resources(
            node, graph, in_shape, lanes or 1, unit=top.units.get(node.name),
            fifo_depths=top.fifo_depths, fifo_depth=top.fifo_depth)
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
    if design.precision:
        rep["precision"] = design.precision
    if design.simulation:
        rep["simulation"] = design.simulation
    if design.synthesis:
        rep["synthesis"] = design.synthesis
        rep["estimate_vs_synthesis"] = compare_with_synthesis(total, design.synthesis)
    return rep


# The agreement asked of the estimate (issue 6): DSP48E1 exact, block RAM within 10%
# (compared in RAMB18E1 equivalents: RAMB18E1 + 2 x RAMB36E1), LUT and FF within 25%.
TOLERANCES = {"dsp48e1": 0.0, "ramb18_equivalent": 0.10, "lut": 0.25, "ff": 0.25}


def compare_with_synthesis(est: dict, synth: dict) -> dict:
    """Estimate and Yosys synthesis side by side: per figure the two values, the relative
    difference (estimate - synthesis) / synthesis, the tolerance and whether it holds.
    RAMB18E1 and RAMB36E1 are shown as Yosys gives them, and judged together."""
    est = {**est, "ramb18_equivalent": estimate.ramb18_equivalent(est)}
    synth = {**synth, "ramb18_equivalent": estimate.ramb18_equivalent(synth)}
    rows = {}
    for key in ("dsp48e1", "ramb18", "ramb36", "ramb18_equivalent", "lut", "ff"):
        e, s = int(est.get(key, 0)), int(synth.get(key, 0))
        row = {"estimate": e, "synthesis": s,
               "difference": round((e - s) / s, 4) if s else (0.0 if e == s else None)}
        if key in TOLERANCES:
            tol = TOLERANCES[key]
            row["tolerance"] = tol
            row["within"] = e == s if tol == 0 else abs(e - s) <= tol * s
        rows[key] = row
    return rows


def simulation_summary(design, result) -> dict:
    """The report's "simulation" section from a simulation result: cycles per frame
    (steady state, frames back to back), latency to the first output beat and to the end
    of the first frame, throughput at :data:`CLOCK_HZ`, simulation speed and, when the run
    was profiled, the per-unit profile (:func:`hwconv.sim.unit_profile.summarize`)."""
    frames = int(len(result.expected))
    cpf = float(result.cycles_per_frame)
    sim = {"frames": frames, "simulator": result.simulator, "stalls": result.stalls,
           "bit_exact": bool(result.bit_exact), "cycles_per_frame": cpf,
           "latency_cycles": int(result.latency),
           "first_output_latency_cycles": getattr(result, "first_output_latency", None),
           "frames_per_s_at_200MHz": CLOCK_HZ / cpf if cpf else 0.0,
           "total_cycles": int(result.total_cycles)}
    if result.sim_seconds > 0:
        macs = _macs(design) * frames
        sim.update(sim_seconds=round(float(result.sim_seconds), 4),
                   simulated_cycles_per_s=round(result.total_cycles / result.sim_seconds),
                   simulated_macs_per_s=round(macs / result.sim_seconds))
    profile = getattr(result, "profile", None)
    if profile:
        sim["profile"] = profile
    return sim


def _macs(design) -> int:
    return sum(estimate.macs(node, design.graph) for node in design.graph.nodes)


def write_report(design, folder) -> None:
    """(Re)write ``report.json`` and ``report.html`` of a design folder."""
    folder = pathlib.Path(folder)
    report = design_report(design)
    (folder / "report.json").write_text(json.dumps(report, indent=1))
    write_html(report, folder / "report.html")


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _profile_html(report: dict) -> list[str]:
    prof = report["simulation"]["profile"]
    estimates = {r["name"]: r.get("cycles_estimate") for r in report["layers"]}
    frames = prof.get("frames") or 1
    rows = []
    for u in prof["units"]:
        rows.append({"unit": u["name"], "op": u["op"], "busy": _pct(u["busy"]),
                     "stall": _pct(u["stall"]), "starve": _pct(u["starve"]),
                     "busy cycles/frame": f"{u['busy_cycles'] / frames:,.0f}",
                     "estimated cycles/frame": f"{estimates.get(u['name']) or 0:,}",
                     "beats in": " + ".join(f"{b:,}" for b in u["in_beats"]),
                     "beats out": f"{u['out_beats']:,}",
                     "FIFO max / depth": ", ".join(f"{m} / {d}" for m, d in
                                                   zip(u["fifo_max"], u["fifo_depth"]))})
    cols = ["unit", "op", "busy", "stall", "starve", "busy cycles/frame",
            "estimated cycles/frame", "beats in", "beats out", "FIFO max / depth"]
    return ["<h2>Profile</h2>",
            f"<p>Measured in simulation ({html.escape(str(report['simulation']['simulator']))}, "
            f"stalls {html.escape(str(report['simulation'].get('stalls', 'none')))}) over "
            f"{prof['cycles']:,} cycles from reset to the last output beat of {frames} "
            f"frames. Every cycle of a unit is <b>busy</b> (a beat moves, or it computes), "
            f"<b>stalled</b> (its output waits for the next unit) or <b>starved</b> (it "
            f"waits for input). Busiest unit: <b>{html.escape(str(prof['busiest']))}</b>.</p>",
            _svg_fractions(prof["units"]), _table(rows, cols),
            "<h3>FIFO maximum occupancy</h3>", _svg_fifos(prof["units"])]


_COLORS = {"busy": "#2e8b57", "stall": "#d0413e", "starve": "#c8c8c8"}


def _svg_fractions(units: list[dict], bar: int = 420, label: int = 190, h: int = 18) -> str:
    """An inline SVG of stacked horizontal bars: busy, stall, starve per unit."""
    parts, y = [], 22
    x = label
    for key, color in _COLORS.items():   # legend
        parts.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{color}"/>'
                     f'<text x="{x + 16}" y="14">{key}</text>')
        x += 80
    for u in units:
        x = label
        parts.append(f'<text x="{label - 6}" y="{y + h - 5}" text-anchor="end">'
                     f'{html.escape(u["name"][:28])}</text>')
        for key, color in _COLORS.items():
            w = bar * u[key]
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{h - 3}" '
                         f'fill="{color}"><title>{html.escape(u["name"])}: {key} '
                         f'{_pct(u[key])}</title></rect>')
            x += w
        y += h
    return (f'<svg class="profile" xmlns="http://www.w3.org/2000/svg" width="{label + bar + 10}" '
            f'height="{y + 4}" font-size="12" font-family="sans-serif">{"".join(parts)}</svg>')


def _svg_fifos(units: list[dict], bar: int = 420, label: int = 190, h: int = 18) -> str:
    """Bars of each FIFO's maximum level against its depth."""
    parts, y = [], 4
    for u in units:
        for k, (m, d) in enumerate(zip(u["fifo_max"], u["fifo_depth"])):
            name = u["name"] + (f" [{k}]" if len(u["fifo_depth"]) > 1 else "")
            w = bar * m / d if d else 0
            parts.append(f'<text x="{label - 6}" y="{y + h - 5}" text-anchor="end">'
                         f'{html.escape(name[:28])}</text>'
                         f'<rect x="{label}" y="{y}" width="{bar}" height="{h - 3}" '
                         f'fill="#eee"/><rect x="{label}" y="{y}" width="{w:.1f}" '
                         f'height="{h - 3}" fill="#4682b4"><title>{html.escape(name)}: '
                         f'{m} of {d}</title></rect>'
                         f'<text x="{label + bar + 6}" y="{y + h - 5}">{m} / {d}</text>')
            y += h
    return (f'<svg class="fifos" xmlns="http://www.w3.org/2000/svg" width="{label + bar + 80}" '
            f'height="{y + 4}" font-size="12" font-family="sans-serif">{"".join(parts)}</svg>')


def _timing_html(depth: dict) -> list[str]:
    rows = [{"levels": k, "endpoints": v} for k, v in depth["histogram"].items()]
    verdict = "within" if depth["endpoints_over_budget"] == 0 else \
        f"<b>{depth['endpoints_over_budget']} endpoints beyond</b>"
    return ["<h2>Timing proxy</h2>",
            f"<p>No static timing without ISE: the proxy counts logic levels (LUT, MUXF, a "
            f"carry chain as one) between registers, block RAM and DSP48E1 in the Yosys "
            f"netlist (docs/estimates.md). Deepest path: <b>{depth['max_levels']}</b> levels, "
            f"{verdict} the budget of {depth['budget']}: "
            f"{html.escape(' > '.join(depth['worst_path']))}. It ignores routing and "
            f"fan-out; it is no promise of 200 MHz.</p>",
            _table(rows, ["levels", "endpoints"])]


def _precision_html(prec: dict) -> list[str]:
    from .precision import sqnr_text
    rows = [{"layer": r["name"], "kind": r["kind"], "format": r["type"],
             "saturated": r["saturated"] if not r.get("weights_saturated")
             else f"{r['saturated']} (+{r['weights_saturated']} weights)",
             "max |error|": f"{r['max_abs_error']:.3g}",
             "max |error| (LSB)": f"{r['max_error_lsb']:.1f}",
             "mean |error|": f"{r['mean_abs_error']:.3g}",
             "SQNR (dB)": sqnr_text(r)}
            for r in prec["layers"]]
    return ["<h2>Precision</h2>",
            f"<p>Each layer's fixed-point values against the float model on the "
            f"{prec['frames']} calibration frames (errors accumulate from the input on); "
            f"<b>saturated</b> counts output values clipped to the format's range. Top-1 "
            f"agreement between hardware and float: <b>{_pct(prec['top1_agreement'])}</b>. "
            f"Other frames: <code>hwconv precision DESIGN --input X.npy</code>.</p>",
            _table(rows, list(rows[0]))]


def _table(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>"
                                     for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_html(report: dict, path: pathlib.Path) -> None:
    cols = ["name", "op", "shape", "type", "weight_type", "accumulator_type", "lanes", "out_lanes",
            "macs", "cycles_estimate", "dsp48e1", "ramb18", "ramb36", "lut", "ff"]
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
    if "estimate_vs_synthesis" in report:
        names = {"dsp48e1": "DSP48E1", "ramb18": "RAMB18E1", "ramb36": "RAMB36E1",
                 "ramb18_equivalent": "RAMB18E1 + 2 x RAMB36E1", "lut": "LUT", "ff": "FF"}
        cmp_rows = []
        for key, row in report["estimate_vs_synthesis"].items():
            diff = row["difference"]
            tol = row.get("tolerance")
            cmp_rows.append({
                "resource": names.get(key, key), "estimate": f"{row['estimate']:,}",
                "synthesis": f"{row['synthesis']:,}",
                "difference": "" if diff is None else f"{diff:+.1%}",
                "tolerance": "" if tol is None else ("exact" if tol == 0 else f"{tol:.0%}"),
                "within": "" if "within" not in row else ("yes" if row["within"] else "NO")})
        parts += ["<h2>Estimate and synthesis</h2>",
                  "<p>Yosys <code>synth_xilinx -family xc6v -flatten</code> of this design "
                  "against the structural estimate (docs/estimates.md); block RAM is judged "
                  "in RAMB18E1 equivalents.</p>",
                  _table(cmp_rows, ["resource", "estimate", "synthesis", "difference",
                                    "tolerance", "within"])]
    if report.get("synthesis", {}).get("logic_depth"):
        parts += _timing_html(report["synthesis"]["logic_depth"])
    if "precision" in report:
        parts += _precision_html(report["precision"])
    for key in ("simulation", "synthesis"):
        if key in report:
            flat = {k: v for k, v in report[key].items() if not isinstance(v, (dict, list))}
            parts += [f"<h2>{key.capitalize()}</h2>",
                      _table([{"figure": k, "value": v} for k, v in flat.items()],
                             ["figure", "value"])]
            if key == "simulation" and isinstance(report[key].get("profile"), dict):
                parts += _profile_html(report)
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #999;padding:2px 8px;text-align:right}")
    path.write_text(f"<!doctype html><meta charset=utf-8><title>hwconv report</title>"
                    f"<style>{style}</style>{''.join(parts)}"
                    f"<script type=application/json id=report>{html.escape(json.dumps(report))}"
                    f"</script>")
