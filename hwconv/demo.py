"""``hwconv demo``: the whole flow on the bundled LeNet and real MNIST test digits."""
from __future__ import annotations

import json
import pathlib
import time
from importlib import resources

import numpy as np

from .precision import precision_report
from .report import CLOCK_HZ

__all__ = ["run_demo", "bundled_model", "bundled_digits"]


def bundled_model() -> pathlib.Path:
    return pathlib.Path(str(resources.files("hwconv") / "models" / "lenet.onnx"))


def bundled_digits() -> dict[str, np.ndarray]:
    """calibration (100 training digits), test_x / test_y (500 held-out digits)."""
    with np.load(str(resources.files("hwconv") / "models" / "digits.npz")) as d:
        return {k: d[k] for k in d.files}


def _step(text: str) -> float:
    print(f"== {text}", flush=True)
    return time.monotonic()


def run_demo(folder="demo-out", frames: int = 10, synth: bool = True) -> int:
    from .cli import report_sim
    from .design import compile

    digits = bundled_digits()
    x, labels = digits["test_x"][:frames], digits["test_y"][:frames]

    t = _step(f"compile {bundled_model().name} (16-bit, formats from 100 calibration digits)")
    design = compile(bundled_model(), digits["calibration"], bits=16)
    design.save(folder)
    rep = design.report
    print(f"   {rep['macs_per_frame']:,} MACs/frame; Verilog in {folder}/rtl "
          f"({time.monotonic() - t:.1f} s)")

    t = _step(f"simulate {frames} test digits cycle by cycle in Verilator "
              f"(first run builds the model, ~1-4 min)")
    result = design.simulate(x)
    status = report_sim(result, frames)
    print(f"   ({time.monotonic() - t:.1f} s)")

    hw_top1 = result.outputs.argmax(axis=1)
    float_top1 = design.reference_float(x).argmax(axis=1)
    all_x, all_y = digits["test_x"], digits["test_y"]
    prec = precision_report(design.graph, all_x, all_y)
    pathlib.Path(folder, "precision.json").write_text(json.dumps(prec, indent=1))
    fps = CLOCK_HZ / result.cycles_per_frame
    sim = {"frames": frames, "simulator": "verilator", "bit_exact": result.bit_exact,
           "cycles_per_frame": result.cycles_per_frame, "latency_cycles": result.latency,
           "frames_per_s_at_200MHz": fps,
           "hw_top1_correct": int((hw_top1 == labels).sum()),
           "float_top1_correct": int((float_top1 == labels).sum()),
           "hw_float_top1_agree": int((hw_top1 == float_top1).sum())}
    design.simulation = sim

    if synth:
        t = _step("synthesize with Yosys: synth_xilinx -family xc6v (~1-3 min)")
        design.synthesize()
        print(f"   ({time.monotonic() - t:.1f} s)")
    design.save(folder)

    print("\n== hwconv demo: LeNet on MNIST, XC6VLX240T (ML605)")
    print(f"   bit-exact (Verilator vs numpy reference): {'yes' if result.bit_exact else 'NO'}"
          f" on {frames} real test digits")
    print(f"   top-1 on those digits: hardware {sim['hw_top1_correct']}/{frames}, "
          f"float {sim['float_top1_correct']}/{frames}; hardware agrees with float on "
          f"{sim['hw_float_top1_agree']}/{frames}")
    print(f"   top-1 on all {len(all_y)} held-out digits (bit-exact reference): hardware "
          f"{prec['hw_top1_accuracy']:.1%}, float {prec['float_top1_accuracy']:.1%}; "
          f"hardware agrees with float on {prec['top1_agreement']:.1%}, "
          f"{prec['saturated']} values saturated (per layer: {folder}/precision.json)")
    print(f"   cycles per frame: {result.cycles_per_frame:,.0f} (latency "
          f"{result.latency:,}); at 200 MHz: {fps:,.0f} frames/s")
    if design.synthesis:
        s = design.synthesis
        print(f"   Yosys synth_xilinx -family xc6v: {s['dsp48e1']} DSP48E1, "
              f"{s['ramb18']} RAMB18E1 + {s['ramb36']} RAMB36E1, {s['lut']:,} LUT, "
              f"{s['ff']:,} FF")
        if s.get("logic_depth"):
            d = s["logic_depth"]
            print(f"   timing proxy: at most {d['max_levels']} logic levels between registers "
                  f"(budget {d['budget']}, docs/timing.md); {d['endpoints_over_budget']} "
                  f"register inputs beyond it")
    print(f"   report: {folder}/report.html, {folder}/report.json")
    return status
