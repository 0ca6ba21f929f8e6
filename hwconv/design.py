"""A compiled design: the quantized graph, its RTL, and what running it shows.

``hwconv.compile(model, ...)`` returns a Design; ``Design.save(folder)`` writes the design
folder the command line works on (graph.json, weights.npz, rtl/hwconv_top.v, report.json,
report.html) and ``Design.load(folder)`` reads it back.
"""
from __future__ import annotations

import functools
import json
import pathlib
import sys
from dataclasses import dataclass, field

import numpy as np

from . import ir, reference
from .errors import CompileError

__all__ = ["Design", "compile", "SimResult", "TOP_NAME", "load_model"]

TOP_NAME = "hwconv_top"


@dataclass
class SimResult:
    """Outputs of a cycle-accurate simulation, checked against the reference."""

    outputs: np.ndarray           # integers, as the hardware produced them
    expected: np.ndarray          # integers, from hwconv.reference.run
    cycles_per_frame: float       # steady-state interval between output frames (or latency for 1)
    latency: int                  # cycles from the first input beat to the last output beat of frame 0
    total_cycles: int
    simulator: str
    stalls: str = "none"
    extra_beats: int = 0          # beats the hardware produced beyond those expected
    sim_seconds: float = 0.0      # wall-clock time spent simulating (0 if unknown)

    @property
    def cycles_per_second(self) -> float:
        """Simulated cycles per wall-clock second (0 if unknown)."""
        return self.total_cycles / self.sim_seconds if self.sim_seconds > 0 else 0.0

    @property
    def bit_exact(self) -> bool:
        return self.extra_beats == 0 and self.outputs.shape == self.expected.shape and \
            bool(np.array_equal(self.outputs, self.expected))

    def first_mismatch(self) -> tuple[int, tuple[int, ...]] | None:
        """(frame, index within the frame) of the first differing value, or None."""
        if self.outputs.shape != self.expected.shape:
            return (0, ())
        diff = np.argwhere(self.outputs != self.expected)
        if len(diff) == 0:
            return None
        return int(diff[0][0]), tuple(int(i) for i in diff[0][1:])


TORCH7_SUFFIXES = (".t7", ".net", ".th")
TORCH_SUFFIXES = (".pt", ".pth")


def _is_torch_module(model) -> bool:
    torch = sys.modules.get("torch")   # never imported here: a module implies torch is loaded
    return torch is not None and isinstance(model, torch.nn.Module)


def load_model(model, input_shape=None, *, example_input=None,
               drop_log_softmax: bool = False) -> ir.Graph:
    """A float Graph from an ONNX path or ModelProto, a Torch7 file (.t7, .net, .th), a
    PyTorch nn.Module (traced on ``example_input``, or on zeros of ``input_shape``) or a
    whole module saved with torch.save (.pt, .pth), or a Graph as is.
    ``drop_log_softmax``: leave out a Torch7 or PyTorch network's final LogSoftMax."""
    if isinstance(model, ir.Graph):
        return model
    if _is_torch_module(model):
        from .compiler.frontends.torch import load_torch
        if example_input is None:
            if input_shape is None:
                raise CompileError("give example_input (or input_shape) to compile a PyTorch "
                                   "module")
            example_input = np.zeros((1, *input_shape), dtype=np.float32)
        return load_torch(model, example_input, drop_log_softmax=drop_log_softmax)
    if isinstance(model, (str, pathlib.PurePath)):
        suffix = pathlib.Path(model).suffix.lower()
        if suffix in TORCH7_SUFFIXES:
            from .compiler.frontends.torch7 import load_torch7
            return load_torch7(model, input_shape, drop_log_softmax=drop_log_softmax)
        if suffix in TORCH_SUFFIXES:
            from .compiler.frontends.torch import load_torch_file
            return load_torch_file(model, input_shape, drop_log_softmax=drop_log_softmax)
    from .compiler.frontends.onnx import load_onnx
    return load_onnx(model, input_shape)


def _frames(x):
    """Frames as numpy, from arrays or torch tensors."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def compile(model, calibration=None, *, input_shape=None, bits: int | None = None,
            lanes=None, example_input=None, drop_log_softmax: bool = False,
            dsp_budget: int | None = None, config=None, ramb18_budget: int | None = None,
            lut_budget: int | None = None) -> "Design":
    """Compile a trained network (ONNX file or ModelProto, Torch7 file, PyTorch module or
    saved module, or float Graph) into a Design.

    ``calibration``: float frames (N, C, H, W) from which each layer's fixed-point format is
    chosen; without them, 16 frames of standard normal noise are used and a warning says so.
    ``lanes``: each weighted layer's parallelism, multipliers per output or
    (lanes, out_lanes); one setting for all, or a dict by node name. Without it, the
    parallelism pass balances the layers under ``dsp_budget`` DSP48E1, ``ramb18_budget``
    RAMB18E1 equivalents of block RAM and ``lut_budget`` LUTs (each by default 90% of the
    XC6VLX240T's: 691, 748, 135,648), counting every unit (hwconv.compiler.estimate).
    A PyTorch module is traced on ``example_input``, or else on the first calibration
    frame, so ``hwconv.compile(module, frames)`` works. ``drop_log_softmax``: see load_model.
    ``bits``: every layer's width (default the config's, else 16). ``config``: per-layer
    formats and pinned parallelism, a TOML path or a dict (see hwconv.config).
    With calibration frames, the design carries a precision report on them.
    """
    from .config import load_config
    from .compiler.passes.fold_batchnorm import fold_batchnorm
    from .compiler.passes.lower import lower
    from .compiler.passes import parallelism as par
    from .compiler.passes.quantize import quantize_graph

    config = load_config(config)
    if bits is None:
        bits = config.bits or 16
    calibrated = calibration is not None
    if calibrated:
        calibration = _frames(calibration)
        if example_input is None and _is_torch_module(model):
            example_input = calibration[:1] if calibration.ndim == 4 else calibration
    graph = load_model(model, input_shape, example_input=example_input,
                       drop_log_softmax=drop_log_softmax).verify()
    if calibration is None:
        print("hwconv: warning: no calibration frames given; formats are chosen on 16 frames "
              "of N(0, 1) noise. Pass real frames (--calibration X.npy) for real accuracy.",
              file=sys.stderr)
        calibration = np.random.default_rng(0).normal(0, 1, (16, *graph.input.shape))
    quantized = quantize_graph(lower(fold_batchnorm(graph)), calibration, bits=bits,
                               config=config)
    # Pinned layers keep their setting inside the parallelism pass's budgets.
    pins = {name: (a or 1, b or 1) for name, (a, b) in config.lanes().items()}
    if lanes is None:
        lanes = par.choose_parallelism(
            quantized, par.DEFAULT_BUDGET if dsp_budget is None else dsp_budget,
            ramb18_budget=par.DEFAULT_RAMB18_BUDGET if ramb18_budget is None else ramb18_budget,
            lut_budget=par.DEFAULT_LUT_BUDGET if lut_budget is None else lut_budget,
            pins=pins)
    elif pins:
        lanes = {**(lanes if isinstance(lanes, dict) else
                    {n.name: lanes for n in quantized.nodes if isinstance(n, ir.WEIGHTED)}),
                 **pins}
    precision = None
    if calibrated:
        from .precision import precision_report
        precision = precision_report(quantized, calibration)
    return Design(quantized, lanes, precision=precision)


@dataclass
class Design:
    graph: ir.Graph
    lanes: object   # int, (lanes, out_lanes), or a dict of either by node name
    synthesis: dict | None = None
    simulation: dict | None = None
    precision: dict | None = None     # hwconv.precision report on the calibration frames
    _verilog: str | None = field(default=None, repr=False)

    # -- what the design is -----------------------------------------------------------

    @functools.cached_property
    def top(self):
        from .rtl.top import DataflowTop
        return DataflowTop(self.graph, self.lanes)

    def verilog(self) -> str:
        if self._verilog is None:
            from amaranth.back import verilog
            self._verilog = verilog.convert(self.top, name=TOP_NAME, emit_src=False)
        return self._verilog

    @property
    def out_beats_per_frame(self) -> int:
        from .rtl.top import stream_shapes
        _, h, w = stream_shapes(self.graph)[self.graph.output.name]
        return h * w

    # -- running it -------------------------------------------------------------------

    def quantize_input(self, x) -> np.ndarray:
        return reference.quantize_input(self.graph, x)

    def reference(self, x) -> np.ndarray:
        """Float frames in, the hardware's outputs (dequantized) out: the bit-exact spec."""
        return reference.dequantize_output(self.graph,
                                           reference.run(self.graph, self.quantize_input(x)))

    def reference_float(self, x) -> np.ndarray:
        return reference.run_float(self.graph, x)

    def simulate(self, x, simulator: str = "verilator", stalls: str = "none",
                 vcd: str | None = None, progress: bool = False) -> SimResult:
        """Run float frames through the cycle-accurate hardware and check every output.

        ``simulator``: "verilator" (the fast C++ frame harness), "cocotb" (Verilator driven
        per cycle from Python) or "pysim" (Amaranth's simulator, for small designs)."""
        from .sim.run import simulate_design
        return simulate_design(self, self.quantize_input(x), simulator=simulator,
                               stalls=stalls, vcd=vcd, progress=progress)

    def synthesize(self, workdir: pathlib.Path | None = None, timing: bool = True) -> dict:
        """Yosys ``synth_xilinx -family xc6v`` on the design's Verilog; with ``timing``, the
        logic levels between registers too (hwconv.timing)."""
        from .synth import synthesize
        res = synthesize(self.verilog(), TOP_NAME, workdir, timing=timing)
        self.synthesis = res.as_dict()
        return self.synthesis

    # -- files ------------------------------------------------------------------------

    @property
    def report(self) -> dict:
        from .report import design_report
        return design_report(self)

    def save(self, folder) -> pathlib.Path:
        from .report import write_html
        folder = pathlib.Path(folder)
        self.graph.save(folder)
        (folder / "rtl").mkdir(parents=True, exist_ok=True)
        (folder / "rtl" / f"{TOP_NAME}.v").write_text(self.verilog())
        (folder / "design.json").write_text(json.dumps({"lanes": self.lanes}))
        report = self.report
        (folder / "report.json").write_text(json.dumps(report, indent=1))
        write_html(report, folder / "report.html")
        return folder

    @classmethod
    def load(cls, folder) -> "Design":
        folder = pathlib.Path(folder)
        graph = ir.Graph.load(folder)
        try:
            meta = json.loads((folder / "design.json").read_text())
            report = json.loads((folder / "report.json").read_text())
            verilog = (folder / "rtl" / f"{TOP_NAME}.v").read_text()
        except (OSError, ValueError) as e:
            raise CompileError(f"{folder} is not a complete design folder ({e}); "
                               f"run `hwconv compile` again") from None
        return cls(graph, meta["lanes"], synthesis=report.get("synthesis"),
                   simulation=report.get("simulation"), precision=report.get("precision"),
                   _verilog=verilog)
