"""ONNX conformance: run the backend test cases shipped with onnx for the op families of
issue 4 through hwconv, and write docs/onnx-conformance.md.

    .venv/bin/python scripts/onnx_conformance.py           # run every case, write the table
    .venv/bin/python scripts/onnx_conformance.py --check   # exit 1 if the table is stale
    .venv/bin/python scripts/onnx_conformance.py --case test_conv_with_strides_padding -v

Each case either compiles (16 bits, calibrated on the case's own input) and the bit-exact
fixed-point reference stays within the case's quantization bound of ONNX's expected
output, or is refused at compile time with a CompileError naming the node and the
attribute. Anything else (another exception, a float model that disagrees with ONNX, an
error beyond the bound) is a failure. The rules (which cases, frames, weights given as
inputs, the bound) are written out at the top of the generated page (``METHOD``).
tests/compiler/test_onnx_conformance.py keeps the page true.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import pathlib
import sys
import traceback

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import hwconv  # noqa: E402
from hwconv import ir, reference  # noqa: E402
from hwconv.compiler.frontends.onnx import load_onnx  # noqa: E402
from hwconv.errors import CompileError  # noqa: E402
from hwconv.fixed import dequantize  # noqa: E402

DATA = pathlib.Path(onnx.__file__).parent / "backend" / "test" / "data"
SUITES = ("node", "pytorch-converted")
DOC = ROOT / "docs" / "onnx-conformance.md"
BITS = 16
FAMILIES = ("Conv", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool",
            "LRN", "BatchNormalization", "Relu", "Tanh", "Sigmoid", "Abs", "Shrink", "Softmax",
            "LogSoftmax", "Gemm", "MatMul", "Add", "Mul", "Flatten", "Reshape", "Pad",
            "Transpose", "Identity", "Dropout")
# pytorch-converted cases wrap the op under test in these (1-D pooling as 2-D, a Linear's
# transposed weight); they do not make a case's family.
WRAPPERS = ("Unsqueeze", "Squeeze", "Transpose", "Reshape", "Constant")
# A float model is a frontend bug if it differs from ONNX's output by more than this
# (relative to the largest expected magnitude): ONNX computes in float32.
FLOAT_TOLERANCE = 1e-4

# Run in Verilator by tests/compiler/test_onnx_conformance.py (mark verilator), bit-exact
# with the reference: small designs, a padded 3x3 convolution, Softmax on a vector input
# and a grouped 1-D convolution (a (C, L, 1) map).
# Also a graph that computes nothing (Input straight to Output), a Flatten into the
# Output, a transpose within each frame (a Relayout) and a dilated max pooling.
VERILATOR_SAMPLE = ("node/test_basic_conv_with_padding", "node/test_softmax_example",
                    "pytorch-converted/test_Conv1d_groups", "pytorch-converted/test_ZeroPad2d",
                    "node/test_identity", "node/test_flatten_axis1",
                    "node/test_transpose_all_permutations_1", "node/test_maxpool_2d_dilations")
# Cases whose hardware is known not to be bit-exact yet (the test expects them to fail in
# Verilator, strictly: take a case out once its hardware is fixed).
KNOWN_HARDWARE_BUGS: dict[str, str] = {}

# docs/numerics.md and tests/test_tables.py: worst error of each table or normalized
# function against float, in LSBs of its output, by output width.
TABLE_LSB = {"tanh": {8: 1.0, 12: 1.0, 16: 1.55}, "sigmoid": {8: 1.0, 12: 1.0, 16: 1.27},
             "exp": {8: 1.0, 12: 1.02, 16: 1.58}}
NORMALIZED_LSB = {"sqrt": 0.82, "reciprocal": 0.85, "log": 0.55, "power": 0.62, "div": 1.0}


# -- which cases -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Case:
    suite: str
    name: str
    family: str

    @property
    def path(self) -> pathlib.Path:
        return DATA / self.suite / self.name

    @property
    def id(self) -> str:
        return f"{self.suite}/{self.name}"


def _ops(path: pathlib.Path) -> list[str]:
    m = onnx.load(str(path / "model.onnx"), load_external_data=False)
    return [n.op_type for n in m.graph.node]


def select_cases() -> list[Case]:
    """node/: every case whose model is one node (Constant nodes aside) of a listed op:
    the op's own tests (this also takes test_basic_conv_*, test_*_pad and
    test_training_dropout*, and leaves out the *_expanded function bodies, which test
    ReduceMax, Exp, Where, ...). pytorch-converted/: every case whose ops are all listed
    (Unsqueeze and Squeeze aside); its family is its first op that is not a wrapper."""
    cases = []
    for suite in SUITES:
        for path in sorted((DATA / suite).iterdir()):
            if not (path / "model.onnx").exists():
                continue
            ops = [op for op in _ops(path) if op != "Constant"]
            if suite == "node":
                if len(ops) == 1 and ops[0] in FAMILIES:
                    cases.append(Case(suite, path.name, ops[0]))
                continue
            if ops and all(op in FAMILIES or op in WRAPPERS for op in ops):
                main = [op for op in ops if op not in WRAPPERS] or ops
                cases.append(Case(suite, path.name, main[0]))
    return cases


# -- running one case --------------------------------------------------------------------

@dataclasses.dataclass
class Result:
    case: Case
    outcome: str                  # "supported", "refused" or "FAILED"
    message: str = ""
    attribute: str | None = None
    node: str | None = None
    frames: int = 0
    out_type: str = ""
    err_lsb: float | None = None
    bound_lsb: float | None = None
    float_err: float | None = None
    rel_err: float | None = None  # the largest difference / the largest expected magnitude
    graph: str = ""               # the compiled kinds, for the verbose listing
    trace: str = ""               # the traceback of a failure

    @property
    def crashed(self) -> bool:
        return self.outcome == "FAILED"


def _read_tensor(path: pathlib.Path):
    t = onnx.TensorProto()
    t.ParseFromString(path.read_bytes())
    return numpy_helper.to_array(t)


def load_case(case: Case):
    """The model with every input but the first bound to the case's own values (as
    initializers: a trained network's weights are constants), the first input's
    array, and the expected output (None where they are not tensors)."""
    model = onnx.load(str(case.path / "model.onnx"))
    data = case.path / "test_data_set_0"
    inits = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    arrays = []
    for k, inp in enumerate(inputs):
        is_tensor = inp.type.WhichOneof("value") == "tensor_type"
        arrays.append(_read_tensor(data / f"input_{k}.pb") if is_tensor else None)
    for inp, arr in zip(inputs[1:], arrays[1:]):
        if arr is not None:
            model.graph.initializer.append(numpy_helper.from_array(arr, inp.name))
    out = model.graph.output[0]
    expected = _read_tensor(data / "output_0.pb") \
        if out.type.WhichOneof("value") == "tensor_type" else None
    return model, (arrays[0] if arrays else None), expected


def _lsb(t) -> float:
    return 2.0 ** -t.frac


def error_bound(q: ir.Graph, frames: np.ndarray) -> float:
    """A first-order worst-case bound on |fixed-point reference - float|, in LSBs of the
    output type: docs/numerics.md's error of each step, carried to the output through
    each step's gain (its Lipschitz constant over the values the float graph takes on
    these frames). The input's error is the frames' own rounding (at most 1/2 LSB);
    each requantize adds 1/2 LSB of its type."""
    vals = reference.run_all(q, frames, exact=False)
    rounded = dequantize(reference.quantize_input(q, frames), q.input.fixed)
    e: dict[str, float] = {}
    for node in q.nodes:
        L = _lsb(node.fixed)
        ins = [e[i] for i in node.inputs]
        ein = ins[0] if ins else 0.0
        x = vals[node.inputs[0]] if node.inputs else None
        amax = float(np.abs(x).max()) if x is not None and x.size else 0.0
        xmin = float(x.min()) if x is not None and x.size else 0.0
        k = type(node)
        if k is ir.Input:   # at most 1/2 LSB: the frames' own rounding
            out = float(np.abs(rounded - frames).max())
        elif k in (ir.Conv2d, ir.Linear):
            w = node.weight.reshape(node.weight.shape[0], -1)
            wl, inl = _lsb(node.weight_fixed), _lsb(q.in_fixed(node))
            fan = node.fan_in if k is ir.Conv2d else w.shape[1]
            out = (np.abs(w).sum(axis=1).max() * ein + fan * (amax + ein) * 0.5 * wl
                   + 0.5 * inl * wl + 0.5 * L)
        elif k in (ir.ReLU, ir.MaxPool2d, ir.Flatten, ir.Relayout, ir.Output) or \
                (k is ir.GlobalPool and node.mode == "max") or \
                (k is ir.ChannelReduce and node.mode != "sum") or k.__name__ == "Repeat":
            out = ein
        elif k in (ir.AvgPool2d, ir.GlobalPool, ir.Abs):
            out = ein + L        # the mean's 1 LSB; Abs of the most negative code
        elif k in (ir.HardTanh, ir.Threshold, ir.Shrink):
            out = ein + 0.5 * L  # the constant's rounding
        elif k is ir.Requantize:
            out = ein + 0.5 * L
        elif k is ir.SumPool2d:
            out = node.kernel[0] * node.kernel[1] * ein
        elif k is ir.ChannelReduce:   # sum
            out = q.shape(node.inputs[0])[0] * ein
        elif k is ir.Square:
            out = 2 * amax * ein + ein ** 2
        elif k in (ir.Add, ir.Sub):
            out = ins[0] + ins[1] + 0.5 * L
        elif k.__name__ == "Max":
            out = max(ins) + 0.5 * L
        elif k is ir.Tanh:
            out = ein + TABLE_LSB["tanh"][node.fixed.width] * L
        elif k is ir.Sigmoid:
            out = 0.25 * ein + TABLE_LSB["sigmoid"][node.fixed.width] * L
        elif k is ir.Exp:
            out = ein * max(1.0, math.exp(float(x.max()) + ein)) + \
                TABLE_LSB["exp"][node.fixed.width] * L
        elif k is ir.Scale:
            sl = _lsb(node.scale_fixed())
            out = float(np.abs(node.scale).max()) * ein + amax * 0.5 * sl + 0.5 * L
        elif k is ir.Sqrt:
            lo = xmin - ein
            slope = ein / (2 * math.sqrt(lo)) if lo > 0 else math.inf
            out = node.gain * min(math.sqrt(ein), slope) + NORMALIZED_LSB["sqrt"] * L
        elif k is ir.Power:
            p, lo = node.power, xmin - ein
            if p >= 1:
                d = p * (amax + ein) ** (p - 1) * ein
            elif p > 0:
                d = min(ein ** p, p * lo ** (p - 1) * ein if lo > 0 else math.inf)
            else:
                d = abs(p) * lo ** (p - 1) * ein if lo > 0 else math.inf
            out = node.gain * d + NORMALIZED_LSB["power"] * L
        elif k is ir.Log:
            lo = xmin - ein
            out = (node.gain * ein / lo if lo > 0 else math.inf) + NORMALIZED_LSB["log"] * L
        elif k is ir.Reciprocal:
            lo = xmin - ein
            out = (node.gain * ein / lo ** 2 if lo > 0 else math.inf) + \
                NORMALIZED_LSB["reciprocal"] * L
        elif k is ir.Div:
            a, b = x, vals[node.inputs[1]]
            ea, eb = ins
            lo, qp = float(b.min()) - eb, node.power
            if lo <= 0:
                out = math.inf
            else:
                out = node.gain * (ea * lo ** qp + (amax + ea) * abs(qp) * lo ** (qp - 1) * eb) \
                    + NORMALIZED_LSB["div"] * L
        else:
            raise KeyError(f"no error rule for {k.__name__}")
        e[node.name] = float(out)
    return e[q.output.name] / _lsb(q.output.fixed)


def _named(e: CompileError, res: Result) -> Result:
    res.outcome, res.message = "refused", str(e)
    res.node, res.attribute = e.node, e.attribute
    return res


def prepare(case: Case):
    """The case's float graph (CompileError if refused), its frames, and ONNX's expected
    output as one row per frame."""
    model, x, expected = load_case(case)
    graph = load_onnx(model)
    if x is None or expected is None:
        raise AssertionError("a case with non-tensor data compiled")
    frames = np.asarray(x, dtype=np.float64).reshape((-1,) + tuple(graph.input.shape))
    return graph, frames, np.asarray(expected, dtype=np.float64).reshape(len(frames), -1)


def compile_case(case: Case, bits: int = BITS):
    """(design, frames): the case compiled, calibrated on its own frames."""
    graph, frames, _ = prepare(case)
    return hwconv.compile(graph, frames, bits=bits), frames


def run_case(case: Case, bits: int = BITS) -> Result:
    res = Result(case, "FAILED")
    try:
        try:
            graph, frames, want = prepare(case)
        except CompileError as e:
            return _named(e, res)
        n = res.frames = len(frames)
        got = reference.run_float(graph, frames).reshape(n, -1)
        if got.shape != want.shape:
            res.message = f"float output has {got.shape[1]} values per frame, ONNX {want.shape[1]}"
            return res
        scale = max(1.0, float(np.abs(want).max()))
        res.float_err = float(np.abs(got - want).max())
        if res.float_err > FLOAT_TOLERANCE * scale:
            res.message = f"float model differs from ONNX by {res.float_err:.3g}"
            return res
        try:
            design = hwconv.compile(graph, frames, bits=bits)
        except CompileError as e:
            return _named(e, res)
        q = design.graph
        t = q.output.fixed
        res.out_type = f"s{t.width}.{t.frac}"
        res.graph = " -> ".join(type(nd).__name__ for nd in q.nodes)
        y = design.reference(frames).reshape(n, -1)
        diff = float(np.abs(y - want).max())
        res.err_lsb = diff / _lsb(t)
        res.rel_err = diff / max(float(np.abs(want).max()), _lsb(t))
        res.bound_lsb = error_bound(q, frames) + res.float_err / _lsb(t)
        if not res.err_lsb <= res.bound_lsb + 1e-9:
            res.message = (f"error {res.err_lsb:.2f} LSB is beyond the bound "
                           f"{res.bound_lsb:.2f} LSB")
            return res
        res.outcome = "supported"
        return res
    except Exception as e:   # noqa: BLE001 - any other exception is a frontend bug
        res.outcome = "FAILED"
        res.message = f"{type(e).__name__}: {e}"
        res.trace = traceback.format_exc()
        return res


def run_all(cases=None, progress=False) -> list[Result]:
    results = []
    for case in cases if cases is not None else select_cases():
        if progress:
            print(f"{case.id} ...", end=" ", flush=True, file=sys.stderr)
        r = run_case(case)
        if progress:
            print(r.outcome, file=sys.stderr)
        results.append(r)
    return results


# -- the page ----------------------------------------------------------------------------

METHOD = f"""\
Generated by `scripts/onnx_conformance.py` from the backend test cases shipped with
onnx {onnx.__version__} (`onnx/backend/test/data`); `tests/compiler/test_onnx_conformance.py`
regenerates it and fails if it differs, if any case fails, or if a refusal does not name
its node and attribute. Do not edit by hand: run
`.venv/bin/python scripts/onnx_conformance.py`.

**Which cases.** `node/`: every case whose model is a single node (Constant aside) of one
of the listed ops, its family: the op's own tests (so `test_basic_conv_*`, the
`test_*_pad` and `test_training_dropout*` cases are in; the `*_expanded` cases, which
test an op's function body of ReduceMax, Exp, Where, ..., and ConvTranspose, ConvInteger,
MatMulInteger are out). `pytorch-converted/`: every case whose ops are all listed ops
(Unsqueeze and Squeeze allowed); its family is its first op other than Unsqueeze,
Squeeze, Transpose and Reshape.

**Frames.** hwconv compiles a network on one input tensor with constant weights, and its
frames are the batch: the first axis of the case's first input is split into frames,
each run separately (a rank-1 input is one frame, a vector). Where the model mixes values
across that axis (a softmax, transpose or reshape over it, a constant operand that
differs along it) it has no batch, and the frontend takes the whole input tensor as one
frame. A frame (C, L) travels as a (C, L, 1) map and a volume (C, D, H, W) as a
(C*D, H, W) map (the same values in the same order). Integer inputs are taken as the
numbers they hold (their format comes from calibration like any other). Every other
input of a case (the weights, shapes, pads of the node tests) is bound to the case's own
value as an initializer before the model is loaded, as in a trained network: an op that
is affine in the frame for such constants and has no kind of its own (a MatMul of
stacked matrices, Gemm with a transposed A or a bias per row, Add or Mul by a constant
that varies over positions) becomes one Linear over the flattened frame; a reshape,
transpose or padding that moves values (and a softmax along an axis other than the
channels) goes through Relayout, a frame buffer read in another order.

**Supported within bound.** The float graph must equal ONNX's output (within
{FLOAT_TOLERANCE:g} of its largest magnitude: ONNX computes in float32); then
`hwconv.compile(graph, frames, bits={BITS})`, calibrated on the case's own frames, and the
bit-exact fixed-point reference (`design.reference`) is compared with ONNX's output.
*err* is the largest difference in LSBs of the output type (*err / max*: the same
difference over the largest expected magnitude). *bound* is derived per case
from the compiled graph: each step's documented error (docs/numerics.md: 1/2 LSB for the
input and for every requantize, the weight and bias rounding of each convolution, 1 LSB
for a mean, the measured worst error of each table and normalized function) carried to
the output through the steps after it, each with its gain (its Lipschitz constant over
the values the float graph takes on these frames: the sum of |weights| of a
convolution's output, 2 max|x| for a square, ...), plus the float model's own difference
from ONNX. It is a worst-case first-order bound, so *err* is usually well below it.

**Refused.** A `CompileError` at compile time; the message names the node (and op) and
the table gives the attribute or input it blames.

**Hardware.** The test also runs {', '.join(f"`{c}`" for c in VERILATOR_SAMPLE)} in
Verilator, bit-exact with the reference. {"Known not right in hardware yet (the test "
"expects these to fail in Verilator):" + chr(10) + chr(10) + "".join(
    f"- `{c}`: {why}.{chr(10)}" for c, why in KNOWN_HARDWARE_BUGS.items())
    if KNOWN_HARDWARE_BUGS else "No case is known to be wrong in hardware." + chr(10)}"""


# Why cases are refused, from the attribute and the words of the message (first match).
# The first four are outside what hwconv compiles: one tensor of numbers in, one output,
# inference, values to compute.
OUTSIDE = 4
CATEGORIES = (
    ("input is not a tensor (a sequence or an optional)",
     lambda r: r.attribute in ("elem_type", "type")),
    ("training mode that drops values at random or normalizes with the batch's own "
     "statistics (and outputs them)",
     lambda r: r.attribute in ("training_mode", "is_test")),
    ("a second output (dropout mask, pooling indices)",
     lambda r: r.attribute in ("mask", "Indices")),
    ("an empty tensor", lambda r: "empty" in r.message),
    ("other", lambda r: True),
)


def category(r: Result) -> int:
    return next(k for k, (_, test) in enumerate(CATEGORIES) if test(r))


def _fmt(v) -> str:
    return "" if v is None else f"{v:.2f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(results: list[Result]) -> str:
    lines = ["# ONNX conformance", "", METHOD]
    fams: dict[str, list[Result]] = {}
    for r in results:
        fams.setdefault(r.case.family, []).append(r)
    total = len(results)
    ok = sum(r.outcome == "supported" for r in results)
    failed = sum(r.crashed for r in results)
    lines += ["## Summary", "",
              f"**{ok} of {total} cases supported ({100 * ok / total:.1f}%)**, "
              f"{total - ok - failed} refused at compile time, {failed} failed.", "",
              "| family | cases | supported | refused | failed | support |",
              "|---|---|---|---|---|---|"]
    for fam in FAMILIES:
        rs = fams.get(fam, [])
        if not rs:
            lines.append(f"| {fam} | 0 | | | | (no shipped case) |")
            continue
        s = sum(r.outcome == "supported" for r in rs)
        f = sum(r.crashed for r in rs)
        lines.append(f"| {fam} | {len(rs)} | {s} | {len(rs) - s - f} | {f} | "
                     f"{100 * s / len(rs):.0f}% |")
    refused = [r for r in results if r.outcome == "refused"]
    outside = [r for r in refused if category(r) < OUTSIDE]
    inside = total - len(outside)
    lines += ["", f"Of the {len(refused)} refusals, {len(outside)} ask for what hwconv does "
              f"not compile (categories 1-{OUTSIDE} below: one tensor of numbers in, one "
              f"output, inference, values to compute). Over the other "
              f"{inside} cases, **{ok} are supported ({100 * ok / inside:.1f}%)**.", "",
              "| # | why refused | cases | families |", "|---|---|---|---|"]
    for k, (why, _) in enumerate(CATEGORIES):
        rs = [r for r in refused if category(r) == k]
        if rs:
            families = sorted({r.case.family for r in rs}, key=FAMILIES.index)
            lines.append(f"| {k + 1} | {why} | {len(rs)} | {', '.join(families)} |")
    by_attr: dict[str, list[Result]] = {}
    for r in results:
        if r.outcome == "refused":
            by_attr.setdefault(r.attribute or "(none)", []).append(r)
    lines += ["", "Refusals by the attribute they name:", "",
              "| attribute | cases | families |", "|---|---|---|"]
    for attr, rs in sorted(by_attr.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        families = sorted({r.case.family for r in rs}, key=FAMILIES.index)
        lines.append(f"| {attr} | {len(rs)} | {', '.join(families)} |")
    lines += ["", "## Cases", "",
              "| case | op | outcome | frames | output | err (LSB) | bound (LSB) | err / max |",
              "|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r.outcome == "supported":
            outcome = "supported within bound"
        elif r.outcome == "refused":
            attr = f" [{r.attribute}]" if r.attribute else ""
            outcome = f"refused: {r.message}{attr}"
        else:
            outcome = f"**FAILED**: {r.message}"
        rel = "" if r.rel_err is None else f"{r.rel_err:.1e}"
        lines.append(f"| {r.case.id} | {r.case.family} | {_cell(outcome)} | "
                     f"{r.frames or ''} | {r.out_type} | {_fmt(r.err_lsb)} | "
                     f"{_fmt(r.bound_lsb)} | {rel} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    ap.add_argument("--case", action="append", help="run only these cases (by name)")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("-o", "--output", type=pathlib.Path, default=DOC)
    args = ap.parse_args(argv)
    cases = select_cases()
    if args.case:
        cases = [c for c in cases if c.name in args.case or c.id in args.case]
    results = run_all(cases, progress=args.verbose)
    if args.case or args.verbose:
        for r in results:
            print(f"{r.case.id} [{r.case.family}] {r.outcome} err={_fmt(r.err_lsb)} "
                  f"bound={_fmt(r.bound_lsb)} {r.out_type} {r.message}")
            if args.verbose and r.graph:
                print("   ", r.graph)
            if r.trace:
                print(r.trace)
    if args.case:
        return 0
    text = render(results)
    if args.check:
        stale = not args.output.exists() or args.output.read_text() != text
        print(f"{args.output}: {'out of date' if stale else 'up to date'}")
        return 1 if stale else 0
    args.output.write_text(text)
    ok = sum(r.outcome == "supported" for r in results)
    print(f"{ok} of {len(results)} cases supported ({100 * ok / len(results):.1f}%), "
          f"{sum(r.crashed for r in results)} failed; wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
