"""ONNX to a float hwconv Graph (opsets 6 to 25).

Supported: Conv (1-D, 2-D and 3-D; any stride, zero padding or auto_pad, dilation, groups,
bias), Relu, Abs, Tanh, Sigmoid, Shrink, Clip, MaxPool, AveragePool and LpPool (1-D, 2-D
and 3-D; dilations, ceil_mode, count_include_pad), GlobalAveragePool, GlobalMaxPool,
BatchNormalization, LRN, Softmax and LogSoftmax along any axis, ArgMax, Gemm (transA,
transB, a bias per row), MatMul (stacks of matrices too; followed by Add), Add of two
tensors, Add and Mul by constants, Pad (constant on the spatial axes; edge, reflect and
wrap on any), Flatten, Reshape, Squeeze, Unsqueeze and Transpose of any frame axes,
shape ops on constants (folded), and the no-ops Identity and Dropout (training mode with
ratio 0 too). Integer inputs are taken as the numbers they hold.

The input's first axis is the batch, hwconv's frames (a rank-1 input is one frame); where
the graph mixes values across it, the whole input tensor is one frame. A frame (C, L)
travels as a (C, L, 1) map, a volume (C, D, H, W) as a (C*D, H, W) map. Reshapes and
transposes that move values become a Relayout (a frame buffer read in another order);
ops that are affine in the frame without a kind of their own, one Linear.
Anything else is refused with a CompileError naming the node, its op and the attribute.
"""
from __future__ import annotations

import math
import pathlib

import numpy as np
import onnx
from onnx import numpy_helper

from ... import ir
from ...errors import CompileError

__all__ = ["load_onnx", "SUPPORTED_OPS"]

OPSETS = range(6, 26)
ELEMENTWISE = {"Relu": ir.ReLU, "Abs": ir.Abs, "Tanh": ir.Tanh, "Sigmoid": ir.Sigmoid}
CLIP_NONE = 1e30   # an absent Clip limit: far beyond any fixed-point range, so it saturates
SUPPORTED_OPS = ("Conv", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool",
                 "Flatten", "Reshape", "Gemm", "MatMul", "Add", *ELEMENTWISE,
                 "Shrink", "Clip", "Softmax", "LogSoftmax", "ArgMax", "BatchNormalization", "LRN",
                 "Identity", "Dropout", "Mul", "Pad", "Transpose", "Squeeze", "Unsqueeze")
FLOAT_TYPES = (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
               onnx.TensorProto.BFLOAT16)
# Integer tensors are taken as the numbers they hold: their fixed-point format comes from
# calibration like any other (exact while they fit; the hardware saturates where ONNX's
# integer arithmetic would wrap around).
NUMBER_TYPES = (onnx.TensorProto.INT8, onnx.TensorProto.INT16, onnx.TensorProto.INT32,
                onnx.TensorProto.INT64, onnx.TensorProto.UINT8, onnx.TensorProto.UINT16,
                onnx.TensorProto.UINT32, onnx.TensorProto.UINT64)
# The most values a frame may have where an op becomes a dense Linear over all of them
# (a MatMul of stacked matrices, a constant that varies over positions, ...).
MAX_LINEAR_MAP = 1024
# The most values of a frame a Relayout holds (each bank of its frame buffer).
MAX_RELAYOUT = 1 << 22
# Shape ops folded when their input is a constant (a Transpose of weights, ...).
FOLDABLE = ("Transpose", "Reshape", "Squeeze", "Unsqueeze", "Identity")


class _Node:
    """One ONNX node with its attributes decoded, and error helpers naming it."""

    def __init__(self, proto: onnx.NodeProto, index: int):
        self.proto = proto
        self.op = _text(proto.op_type)
        self.name = _text(proto.name) or f"{self.op.lower()}{index}"
        self.attrs = {}
        for a in proto.attribute:
            try:
                value = onnx.helper.get_attribute_value(a)
            except Exception:   # noqa: BLE001 - a corrupt attribute, named below
                value = None
            if value is None:
                raise self.error(f"attribute {_text(a.name)!r} cannot be decoded; the file "
                                 f"may be corrupt", _text(a.name))
            self.attrs[_text(a.name)] = value

    def error(self, message, attribute=None, across: bool = False) -> CompileError:
        """``across``: the refusal is that values mix across the batch axis."""
        kind = _AcrossFrames if across else CompileError
        return kind(message, node=self.name, op=self.op, attribute=attribute)

    def attr(self, key, default):
        """The attribute, of the type of its default (a tuple of numbers for a tuple)."""
        v = self.attrs.get(key, default)
        if isinstance(v, bytes):
            v = _text(v)
        v = tuple(v) if isinstance(v, list) else v
        number = (int, float, np.integer, np.floating)
        if default is not None and v is not default and not (
                isinstance(v, type(default)) or
                (isinstance(default, float) and isinstance(v, number)) or
                (isinstance(default, int) and isinstance(v, (int, np.integer)))) or \
                (isinstance(v, tuple) and not all(isinstance(x, number) for x in v)):
            raise self.error(f"{key}={v!r} has the wrong type", key)
        return v

    def only(self, key, allowed, default, what: str):
        v = self.attr(key, default)
        if v not in allowed:
            raise self.error(f"{key}={v!r} is not supported; {what}", key)
        return v


def _text(v) -> str:
    """A name from the file (bytes where it is not valid UTF-8)."""
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v


def _load(model) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        return model
    path = pathlib.Path(model)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CompileError(f"{path}: cannot read the file ({e.strerror})") from None
    try:
        proto = onnx.ModelProto.FromString(data)
    except Exception:
        proto = None
    if proto is None or not proto.graph.node:
        raise CompileError(f"{path}: not an ONNX model (no graph could be decoded); "
                           f"export the network with torch.onnx.export or a converter")
    return proto


def _opset(proto: onnx.ModelProto) -> int:
    for o in proto.opset_import:
        if o.domain in ("", "ai.onnx"):
            if o.version not in OPSETS:
                raise CompileError(f"opset {o.version} is not supported; re-export the model "
                                   f"with an opset from {OPSETS.start} to {OPSETS.stop - 1}")
            return o.version
    raise CompileError("the model imports no ai.onnx opset")


def _arange(n: _Node, shape, attribute: str) -> np.ndarray:
    """The indices of a frame of ``shape``'s values, for a Relayout's index."""
    shape = tuple(int(d) for d in shape)
    if math.prod(shape) > MAX_RELAYOUT:
        raise n.error(f"would re-lay out frames of shape {shape}, more than {MAX_RELAYOUT} "
                      f"values", attribute)
    return np.arange(math.prod(shape)).reshape(shape)


def _frame_ir_shape(fs) -> tuple[int, ...] | None:
    """How a frame of ONNX shape ``fs`` (the tensor's shape without its batch axis) travels
    in hwconv: a vector (K,) as is, a 1-D signal (C, L) as a (C, L, 1) map, a map
    (C, H, W) as is, a volume (C, D, H, W) as a (C*D, H, W) map whose channels are the
    (c, d) pairs in the same order; a scalar as (1,). Every mapping keeps the values in
    ONNX's (C-major) order."""
    fs = tuple(int(d) for d in fs)
    if len(fs) <= 1:
        return fs or (1,)
    if len(fs) == 2:
        return (fs[0], fs[1], 1)
    if len(fs) == 3:
        return fs
    # A volume, and beyond (a frame of a re-layout): every leading axis in the channels.
    return (math.prod(fs[:-2]), fs[-2], fs[-1])


def _spatial(n: _Node, fs, kernel):
    """strides, dilations and pads (begin..., end...) of a windowed op over the frame's
    spatial axes fs[1:], with auto_pad resolved to explicit pads."""
    nd = len(kernel)
    strides = tuple(int(s) for s in n.attr("strides", (1,) * nd))
    dilations = tuple(int(d) for d in n.attr("dilations", (1,) * nd))
    if len(strides) != nd or len(dilations) != nd or min(strides + dilations) < 1:
        raise n.error(f"strides={strides} and dilations={dilations} must have one positive "
                      f"value per spatial axis ({nd})", "strides")
    if min(kernel) < 1:
        raise n.error(f"kernel_shape={tuple(kernel)} must be positive", "kernel_shape")
    auto_pad = n.attr("auto_pad", "NOTSET")
    if auto_pad in ("NOTSET", ""):
        pads = tuple(int(p) for p in n.attr("pads", (0,) * 2 * nd))
        if len(pads) != 2 * nd or min(pads) < 0:
            raise n.error(f"pads={pads} is not supported; give {2 * nd} non-negative pads",
                          "pads")
    elif auto_pad == "VALID":
        pads = (0,) * 2 * nd
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for size, k, s, d in zip(fs[1:], kernel, strides, dilations):
            out = -(-size // s)
            total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
            b = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            begin.append(b)
            end.append(total - b)
        pads = tuple(begin + end)
    else:
        raise n.error(f"auto_pad={auto_pad!r} is not supported", "auto_pad")
    return strides, dilations, pads


def _as_2d(kernel, strides, dilations, pads):
    """A 1-D window over a (C, L, 1) map as a (k, 1) window; 2-D unchanged. ONNX pads
    (x1_begin, x2_begin, x1_end, x2_end) are hwconv's (top, left, bottom, right)."""
    if len(kernel) == 2:
        return tuple(kernel), strides, dilations, pads
    return (kernel[0], 1), (strides[0], 1), (dilations[0], 1), (pads[0], 0, pads[1], 0)


def _pooled_extent(size, k, s, before, after, ceil_mode) -> int:
    span = size + before + after - k
    if not ceil_mode:
        return span // s + 1
    n = -(-span // s) + 1
    return n - 1 if (n - 1) * s >= size + before else n


def _constant(proto: onnx.NodeProto) -> np.ndarray:
    v = onnx.helper.get_attribute_value(proto.attribute[0])
    return numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else np.array(v)


class _AcrossFrames(CompileError):
    """The graph mixes or varies values across the input's first axis, so that axis
    cannot be hwconv's frames (the whole tensor may still be one frame)."""


def load_onnx(model, input_shape: tuple[int, int, int] | None = None) -> ir.Graph:
    """An ONNX file (or ModelProto) as a float Graph; input_shape overrides (C, H, W).

    The input's first axis is the batch: hwconv's frames. Each frame travels as
    ``_frame_ir_shape`` says (a rank-1 input is one frame, a vector). Where the graph
    mixes values across that axis (a softmax, transpose or reshape over it, a constant
    operand that differs along it), there is no batch: the whole input tensor is one
    frame, and the refusal of the batch reading is kept only if that fails too."""
    proto = _load(model)
    try:
        return _convert(proto, input_shape, whole=False)
    except _AcrossFrames as first:
        if input_shape is not None:
            raise CompileError(str(first.detail), node=first.node, op=first.op,
                               attribute=first.attribute) from None
        try:
            return _convert(proto, None, whole=True)
        except CompileError:
            raise CompileError(first.detail, node=first.node, op=first.op,
                               attribute=first.attribute) from None


def _convert(proto: onnx.ModelProto, input_shape, whole: bool) -> ir.Graph:
    """The graph with the input's first axis as the frames (``whole``: the whole input
    tensor as one frame)."""
    opset = _opset(proto)
    g = proto.graph
    consts = {}
    for t in g.initializer:
        try:
            consts[t.name] = numpy_helper.to_array(t)
        except Exception as e:   # noqa: BLE001 - a corrupt tensor
            raise CompileError(f"initializer {_text(t.name)!r} cannot be decoded ({e}); the "
                               f"file may be corrupt") from None
    for i, n in enumerate(g.node):
        if n.op_type == "Constant":
            if len(n.attribute) != 1 or len(n.output) != 1:
                raise _Node(n, i).error("must have one value and one output", "value")
            try:
                consts[n.output[0]] = _constant(n)
            except Exception as e:   # noqa: BLE001 - a corrupt tensor
                raise _Node(n, i).error(f"its value cannot be decoded ({e}); the file may "
                                        f"be corrupt", "value") from None
    onnx_nodes = [_Node(p, i) for i, p in enumerate(g.node) if p.op_type != "Constant"]
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1:
        raise CompileError(f"the model has {len(inputs)} inputs "
                           f"({', '.join(_text(i.name) for i in inputs)}); hwconv takes one "
                           f"image input")
    inp = inputs[0]
    first = next((n for n in onnx_nodes if inp.name in n.proto.input), None)

    def input_error(message, attribute) -> CompileError:
        message = f"reads the model's input {inp.name!r}, which {message}"
        return first.error(message, attribute) if first else CompileError(message)

    kind = inp.type.WhichOneof("value")
    if kind != "tensor_type":
        raise input_error(f"is of type {kind or 'undefined'}, not a tensor; hwconv takes "
                          f"one image tensor", "type")
    elem = inp.type.tensor_type.elem_type
    if elem not in FLOAT_TYPES + NUMBER_TYPES and elem != onnx.TensorProto.UNDEFINED:
        try:
            type_name = onnx.TensorProto.DataType.Name(elem).lower()
        except ValueError:
            type_name = f"type {elem}"
        raise input_error(f"holds {type_name} values; "
                          f"hwconv compiles networks on numbers (float or integer tensors, "
                          f"their fixed-point formats from calibration)", "elem_type")
    dims = [d.dim_value if d.HasField("dim_value") else None
            for d in inp.type.tensor_type.shape.dim]
    lead = 1   # the batch axis leads every tensor, except after a rank-1 input
    if whole:
        if not 1 <= len(dims) <= 4 or not all(dims):
            raise input_error(f"has shape {dims}; as one frame it must have 1 to 4 known "
                              f"dimensions", "shape")
        lead, frame = 0, tuple(dims)
    elif input_shape is not None:
        if len(dims) == 4 and all(dims[1:]) and tuple(dims[1:]) != tuple(input_shape):
            raise CompileError(f"--input-shape {','.join(map(str, input_shape))} does not "
                               f"match the model's input {inp.name!r} of shape {dims}")
        frame = tuple(int(d) for d in input_shape)
    elif len(dims) == 1 and dims[0]:
        lead, frame = 0, (dims[0],)
    elif 2 <= len(dims) <= 5 and all(d is not None for d in dims[1:]):
        frame = tuple(dims[1:])
    elif len(dims) > 5:
        raise input_error(f"has shape {dims}; hwconv takes tensors of up to 5 dimensions "
                          f"(N, C, D, H, W)", "shape")
    else:
        raise CompileError(f"input {inp.name!r} has shape {dims}; give the image shape "
                           f"with --input-shape C,H,W")
    if 0 in frame:
        raise input_error(f"has shape {dims}, an empty frame", "shape")

    nodes: list[ir.Node] = [ir.Input(name=inp.name, shape=_frame_ir_shape(frame))]
    alias = {inp.name: inp.name}   # ONNX tensor name -> hwconv node name producing it
    fshape = {inp.name: frame}     # ONNX tensor name -> its frame's ONNX shape
    irshape = {inp.name: _frame_ir_shape(frame)}   # hwconv node name -> its shape

    def add(node: ir.Node, outputs, fs=None) -> None:
        """Append a node (its shape checked now, naming it) and give its outputs the
        frame shape fs: by default the source's rank with the node's hwconv shape."""
        out = tuple(int(d) for d in node.out_shape([irshape[s] for s in node.inputs]))
        if callable(fs):
            fs = fs(out)
        elif fs is None:
            r = len(cur_fs)
            if node.inputs and out == irshape[node.inputs[0]]:
                fs = cur_fs
            else:
                if r >= 4:
                    raise node.error(f"is not supported over a volume {tuple(cur_fs)}",
                                     "kernel_shape")
                fs = () if r == 0 else out[:2] if r == 2 else out
        nodes.append(node)
        irshape[node.name] = out
        for o in outputs:
            if o:
                alias[o], fshape[o] = node.name, tuple(int(d) for d in fs)

    def const(n: _Node, idx: int, what: str) -> np.ndarray:
        if not has_input(n, idx):
            raise n.error(f"input {what} is missing", what)
        name = n.proto.input[idx]
        if name not in consts:
            raise n.error(f"{what} must be a constant (an initializer), not a computed tensor",
                          what)
        return consts[name].astype(np.float64)

    def has_input(n: _Node, idx: int) -> bool:
        return len(n.proto.input) > idx and bool(n.proto.input[idx])

    def source(n: _Node, idx: int = 0) -> str:
        if not has_input(n, idx):
            raise n.error("has no input", "X")
        name = n.proto.input[idx]
        if name not in alias:
            raise n.error(f"reads {name!r}, which is not produced by a supported node")
        return alias[name]

    def view(n: _Node, src: str, fs, target, attribute: str) -> None:
        """A reshape of each frame: free when hwconv's layout does not change, a Flatten
        when the frame becomes a vector; anything else would move values."""
        target = tuple(int(d) for d in target)
        shape = _frame_ir_shape(target)
        if shape == irshape[src]:
            for o in n.proto.output:
                alias[o], fshape[o] = src, target
        elif len(irshape[src]) == 3 and sum(d != 1 for d in target) <= 1:
            # One axis of values (axes of one aside): the frame as a vector.
            add(ir.Flatten(n.name, (src,)), n.proto.output, fs=target)
        else:
            # The values keep their order, but the stream's layout changes.
            relayout(n.name, src, _arange(n, target, attribute), n.proto.output)

    def relayout(name: str, src: str, index: np.ndarray, outputs, shape=None) -> None:
        """A Relayout of ``src`` whose output value at each position of the ONNX-shaped
        ``index`` is input value index[...] (C-major); it travels as ``shape`` (by
        default, as a frame of index's shape travels)."""
        shape = shape or _frame_ir_shape(index.shape)
        add(ir.Relayout(name, (src,), index=np.ascontiguousarray(index).reshape(shape)
                        .astype(np.int64)), outputs, fs=index.shape)

    def batch_axis(n: _Node, axis: int, rank: int, attribute: str) -> int:
        """An ONNX axis as an axis of the frame; the batch axis is refused."""
        a = axis + rank if axis < 0 else axis
        if not 0 <= a < rank:
            raise n.error(f"{attribute}={axis} is out of range for rank {rank}", attribute)
        if a < lead:
            raise n.error(f"{attribute}={axis} is the batch axis; hwconv's frames are the "
                          f"batch and are computed one by one", attribute, across=True)
        return a - lead

    def affine(n: _Node, src: str, fs, scale, shift) -> None:
        """x * scale[c] + shift[c] per ONNX channel (the volume's depths share theirs)."""
        reps = fs[1] if len(fs) == 4 else 1
        scale, shift = np.repeat(scale, reps), np.repeat(shift, reps)
        producer = next(x for x in nodes if x.name == src)
        if len(irshape[src]) == 1 and not isinstance(producer, ir.WEIGHTED):
            add(ir.Linear(n.name, (src,), weight=np.diag(scale), bias=shift), n.proto.output,
                fs=fs)
        else:
            add(ir.BatchNorm(n.name, (src,), scale=scale, shift=shift), n.proto.output, fs=fs)

    def linear_map(n: _Node, src: str, fs, fn, attribute: str) -> None:
        """An op that is affine in the frame's values for fixed constants (a MatMul of
        stacked matrices, Gemm with a transposed A or a bias per row, Add or Mul by a
        constant that varies over positions) as one Linear over the flattened frame:
        its weight columns are ``fn`` of each unit frame, its bias ``fn`` of zeros.
        ``fn`` takes and returns ONNX tensors with the batch axis (of 1) when there is
        one; an output whose batch axis is not 1 mixes frames."""
        size = math.prod(fs)
        if size > MAX_LINEAR_MAP:
            raise n.error(f"on frames of shape {tuple(fs)} ({size} values) would be a dense "
                          f"Linear of more than {MAX_LINEAR_MAP} inputs; not supported",
                          attribute)
        shape = ((1,) if lead else ()) + tuple(fs)
        try:
            bias = np.asarray(fn(np.zeros(shape)), dtype=np.float64)
            cols = [np.asarray(fn(np.eye(1, size, k).reshape(shape)), dtype=np.float64)
                    - bias for k in range(size)]
        except ValueError as e:
            # With a batch axis, shapes that only fit the whole tensor mix frames.
            raise n.error(f"does not apply to frames of shape {tuple(fs)} ({e})",
                          attribute, across=bool(lead)) from None
        if lead and (bias.ndim == 0 or bias.shape[0] != 1):
            raise n.error(f"with {attribute} of this shape mixes or varies across frames "
                          f"(the batch axis is hwconv's frames)", attribute, across=True)
        out_fs = bias.shape[lead:]
        weight = np.stack([c.reshape(-1) for c in cols], axis=1)
        flat = src
        if len(irshape[src]) == 3:
            flat = f"{n.name}/flatten"
            add(ir.Flatten(flat, (src,)), (), fs=(size,))
        add(ir.Linear(n.name, (flat,), weight=weight, bias=bias.reshape(-1)), n.proto.output,
            fs=out_fs)

    def binary(n: _Node) -> None:
        """Add or Mul: two tensors, or a tensor and a constant."""
        a, b = n.proto.input[:2]
        if a in alias and b in alias:
            if n.op == "Mul":
                raise n.error("Mul of two tensors is not supported (no hwconv kind "
                              "multiplies two streams); only Mul by a constant", "B")
            add(ir.Add(n.name, (alias[a], alias[b])), n.proto.output, fs=fshape[a])
            return
        data, cname = (a, b) if a in alias else (b, a)
        if data not in alias or cname not in consts:
            raise n.error(f"reads {data!r}, which is not produced by a supported node")
        src, fs = alias[data], fshape[data]
        c = consts[cname].astype(np.float64)
        what = "B" if cname == b else "A"
        rank = lead + len(fs)
        if c.ndim > rank:
            raise n.error(f"the constant {what} of shape {c.shape} has more axes than the "
                          f"tensor", what)
        c = c.reshape((1,) * (rank - c.ndim) + c.shape)
        if lead and c.shape[0] != 1:
            raise n.error(f"the constant {what} of shape {consts[cname].shape} differs from "
                          f"frame to frame (along the batch axis); it must be the same for "
                          f"every frame", what, across=True)
        c = c[0] if lead else c
        try:
            full = np.broadcast_to(c, fs) if fs else c.reshape(())
        except ValueError:
            raise n.error(f"the constant {what} of shape {c.shape} does not broadcast to "
                          f"the frame {fs}", what) from None
        if full.ndim <= 1 or np.all(full == full.reshape(fs[0], -1)[:, :1].reshape(
                (fs[0],) + (1,) * (len(fs) - 1))):
            per_channel = full.reshape(-1) if full.ndim <= 1 else full.reshape(fs[0], -1)[:, 0]
            ones, zeros = np.ones_like(per_channel), np.zeros_like(per_channel)
            if n.op == "Mul":
                affine(n, src, fs, per_channel, zeros)
            else:
                affine(n, src, fs, ones, per_channel)
            return
        if n.op == "Mul" and len(fs) in (2, 3) and np.all(full == full[:1]):
            scale = full[0] if len(fs) == 3 else full[0][:, None]
            add(ir.Scale(n.name, (src,), scale=scale), n.proto.output, fs=fs)
            return
        full_c = consts[cname].astype(np.float64)
        linear_map(n, src, fs, (lambda x: x * full_c) if n.op == "Mul" else
                   (lambda x: x + full_c), what)

    def fold(n: _Node) -> bool:
        """Shape ops on constants (a Transpose of weights, ...) become constants."""
        ins = [x for x in n.proto.input if x]
        if n.op not in FOLDABLE or not ins or any(x not in consts or x in alias for x in ins):
            return False
        c = consts[ins[0]]
        try:
            if n.op == "Transpose":
                c = np.transpose(c, n.attr("perm", None))
            elif n.op == "Reshape":
                shape = [int(d) for d in consts[ins[1]]]
                if not n.attr("allowzero", 0):
                    shape = [c.shape[k] if d == 0 else d for k, d in enumerate(shape)]
                c = c.reshape(shape)
            elif n.op in ("Squeeze", "Unsqueeze"):
                axes = (n.attr("axes", ()) or None) if len(ins) < 2 else \
                    [int(d) for d in consts[ins[1]]]
                if n.op == "Squeeze":
                    c = np.squeeze(c, axis=None if axes is None else tuple(axes))
                else:
                    for a in sorted(x % (c.ndim + len(axes)) for x in axes):
                        c = np.expand_dims(c, a)
        except (ValueError, IndexError, TypeError) as e:
            raise n.error(f"does not apply to the constant {ins[0]!r} of shape {c.shape} "
                          f"({e})", {"Transpose": "perm", "Identity": "input"}.get(
                              n.op, "axes" if "queeze" in n.op else "shape")) from None
        consts[n.proto.output[0]] = c
        return True

    i = 0
    while i < len(onnx_nodes):
        n = onnx_nodes[i]
        i += 1
        if fold(n):
            continue
        if n.op in ("Add", "Mul"):
            cur_fs = fshape.get(n.proto.input[0], fshape.get(n.proto.input[1], ()))
            binary(n)
            continue
        src = source(n)
        cur_fs = fs = fshape[n.proto.input[0]]
        if n.op == "Identity":
            alias[n.proto.output[0]], fshape[n.proto.output[0]] = src, fs
        elif n.op == "Dropout":
            if opset < 7 and not n.attr("is_test", 0):
                raise n.error("is_test=0 runs dropout in training mode; export the model in "
                              "eval mode (is_test=1)", "is_test")
            ratio = float(const(n, 1, "ratio").reshape(-1)[0]) if has_input(n, 1) else \
                float(n.attr("ratio", 0.5))
            # In training mode a ratio of 0 drops nothing: the output is the input.
            if has_input(n, 2) and bool(const(n, 2, "training_mode").reshape(-1)[0]) and \
                    ratio != 0:
                raise n.error(f"training_mode=True with ratio={ratio:g} drops values at "
                              f"random; export the model in eval mode (or use ratio 0)",
                              "training_mode")
            mask = n.proto.output[1] if len(n.proto.output) > 1 else ""
            if mask and (any(mask in m.input for m in g.node) or
                         any(mask == o.name for o in g.output)):
                raise n.error("the mask output is not supported (hwconv computes one "
                              "output); drop it", "mask")
            alias[n.proto.output[0]], fshape[n.proto.output[0]] = src, fs
        elif n.op in ELEMENTWISE:
            add(ELEMENTWISE[n.op](n.name, (src,)), n.proto.output)
        elif n.op in ("Softmax", "LogSoftmax"):
            rank = lead + len(fs)
            axis = n.attr("axis", -1 if opset >= 13 else 1)
            fa = batch_axis(n, axis, rank, "axis")
            # Supported where the axis (opset 13) or the flattened axes (before) are
            # exactly hwconv's channels at each position.
            channels = len(fs) <= 1 or (opset >= 13 and (len(fs) < 4 or fs[1] == 1)) or \
                (opset < 13 and math.prod(fs[1:]) == 1)
            kind = ir.Softmax if n.op == "Softmax" else ir.LogSoftmax
            if fa == 0 and channels:
                add(kind(n.name, (src,)), n.proto.output)
                continue
            # Another axis (or, before opset 13, the axes from it on, flattened): a
            # Relayout makes those values the channels of each position, and another
            # one puts the result back.
            group = list(range(fa, fa + 1 if opset >= 13 else len(fs)))
            rest = [a for a in range(len(fs)) if a not in group]
            g_size = math.prod(fs[a] for a in group)
            fwd = _arange(n, fs, "axis").transpose(group + rest)
            fwd = fwd.reshape(g_size, -1, 1)
            relayout(f"{n.name}/to_channels", src, fwd, (), shape=fwd.shape)
            add(kind(f"{n.name}/across", (f"{n.name}/to_channels",)), (), fs=fwd.shape)
            back = np.argsort(fwd.reshape(-1)).reshape(fs)
            relayout(n.name, f"{n.name}/across", back, n.proto.output,
                     shape=irshape[src])
        elif n.op == "ArgMax":
            n.only("axis", (1,), 0, "only the channel axis (axis=1) is supported")
            n.only("select_last_index", (0,), 0, "use select_last_index=0")
            add(ir.ChannelReduce(n.name, (src,), mode="argmax"), n.proto.output)
        elif n.op == "LRN":
            if "size" not in n.attrs:
                raise n.error("the size attribute is required", "size")
            if len(fs) == 4 and fs[1] != 1:
                raise n.error(f"LRN over a volume {fs} is not supported (its channels would "
                              f"mix depths)", "size")
            add(ir.LRN(n.name, (src,), size=int(n.attr("size", 5)),
                       alpha=float(n.attr("alpha", 1e-4)), beta=float(n.attr("beta", 0.75)),
                       bias=float(n.attr("bias", 1.0))), n.proto.output)
        elif n.op == "BatchNormalization":
            if len(n.proto.output) > 1 and any(n.proto.output[1:]):
                raise n.error("training-mode outputs (running mean and variance) are not "
                              "supported; export the model in eval mode", "training_mode")
            n.only("training_mode", (0,), 0, "export the model in eval mode")
            if opset < 7 and not n.attr("is_test", 0):
                raise n.error("is_test=0 normalizes with batch statistics (training mode); "
                              "export the model in eval mode (is_test=1)", "is_test")
            n.only("spatial", (1,), 1, "per-activation statistics are not supported")
            gamma, beta, mean, var = (const(n, k, what) for k, what in
                                      ((1, "scale"), (2, "B"), (3, "input_mean"),
                                       (4, "input_var")))
            scale = gamma / np.sqrt(var + float(n.attr("epsilon", 1e-5)))
            affine(n, src, fs, scale, beta - mean * scale)
        elif n.op == "Shrink":
            add(ir.Shrink(n.name, (src,), lambd=float(n.attr("lambd", 0.5)),
                          bias=float(n.attr("bias", 0.0))), n.proto.output)
        elif n.op == "Clip":
            # Limits are attributes before opset 11, optional constant inputs after.
            lo, hi = n.attr("min", -CLIP_NONE), n.attr("max", CLIP_NONE)
            if len(n.proto.input) > 1 and n.proto.input[1]:
                lo = float(const(n, 1, "min"))
            if len(n.proto.input) > 2 and n.proto.input[2]:
                hi = float(const(n, 2, "max"))
            add(ir.HardTanh(n.name, (src,), min_val=float(lo), max_val=float(hi)),
                n.proto.output)
        elif n.op == "Conv":
            w = const(n, 1, "weight")
            nd = w.ndim - 2
            if nd not in (1, 2, 3) or len(fs) != nd + 1:
                raise n.error(f"a {nd}-D convolution (weight {w.shape}) on frames of shape "
                              f"{fs} is not supported; 1-D, 2-D and 3-D are", "kernel_shape")
            b = const(n, 2, "bias") if has_input(n, 2) else np.zeros(w.shape[0])
            groups = int(n.attr("group", 1))
            if groups < 1 or w.shape[0] % groups or fs[0] != w.shape[1] * groups:
                raise n.error(f"group={groups} does not divide the {w.shape[0]} outputs and "
                              f"{fs[0]} inputs", "group")
            ks = n.attr("kernel_shape", w.shape[2:])
            if tuple(ks) != tuple(w.shape[2:]):
                raise n.error(f"kernel_shape={ks} does not match the weight {w.shape}",
                              "kernel_shape")
            strides, dilations, pads = _spatial(n, fs, w.shape[2:])
            if nd == 3:
                _conv3d(n, src, fs, w, b, groups, strides, dilations, pads, add)
                continue
            w, conn = ir.ungroup(w if nd == 2 else w[..., None], groups)
            _, strides, dilations, pads = _as_2d(ks, strides, dilations, pads)
            add(ir.Conv2d(n.name, (src,), weight=w, bias=b, stride=strides, pads=pads,
                          dilation=dilations, connections=None if groups == 1 else conn),
                n.proto.output)
        elif n.op in ("MaxPool", "AveragePool", "LpPool"):
            if len(n.proto.output) > 1 and n.proto.output[1]:
                raise n.error("the Indices output is not supported", "Indices")
            k = n.attr("kernel_shape", ())
            if len(k) not in (1, 2, 3) or len(fs) != len(k) + 1:
                raise n.error(f"kernel_shape={k} on frames of shape {fs} is not supported; "
                              f"give a 1-D or 2-D kernel", "kernel_shape")
            strides, dilations, pads = _spatial(n, fs, k)
            n.only("storage_order", (0,), 0, "use storage_order=0")
            if n.op == "LpPool":
                n.only("ceil_mode", (0,), 0, "use ceil_mode=0 (or pad explicitly)")
            ceil_mode = bool(n.only("ceil_mode", (0, 1), 0, "use 0 or 1"))
            extra = {}
            kind = ir.MaxPool2d
            if n.op == "AveragePool":
                kind = ir.AvgPool2d
                extra["count_include_pad"] = bool(n.attr("count_include_pad", 0))
            elif n.op == "LpPool":
                p = n.attr("p", 2)
                if not 1 <= p <= 4:
                    raise n.error(f"p={p} is not supported; use 1 <= p <= 4", "p")
                # ONNX LpPool sums the powers (no mean), unlike Torch7's SpatialLPPooling.
                kind, extra = ir.LpPool2d, dict(mean=False, p=p)
            if len(k) == 3:
                if n.op == "AveragePool":
                    _avgpool3d(n, src, fs, k, strides, dilations, pads, ceil_mode,
                               extra["count_include_pad"], add)
                else:
                    _pool3d(n, src, fs, kind, k, strides, dilations, pads, ceil_mode, extra,
                            add, relayout, irshape.__getitem__)
                continue
            k, strides, dilations, pads = _as_2d(k, strides, dilations, pads)
            if kind is not ir.LpPool2d:
                extra["ceil_mode"] = ceil_mode
            add(kind(n.name, (src,), kernel=k, stride=strides, pads=pads,
                     dilation=dilations, **extra), n.proto.output)
        elif n.op in ("GlobalAveragePool", "GlobalMaxPool"):
            if len(fs) == 4 and fs[1] != 1:
                raise n.error(f"global pooling of a volume {fs} is not supported (its depth "
                              f"is folded into the channels)", "X")
            add(ir.GlobalPool(n.name, (src,), mode="avg" if "Average" in n.op else "max"),
                n.proto.output, fs=(fs[0],) + (1,) * (len(fs) - 1))
        elif n.op == "Flatten":
            rank = lead + len(fs)
            axis = n.attr("axis", 1)
            a = axis + rank if axis < 0 else axis
            if lead and (a == 0 or math.prod(fs[:a - 1]) != 1):
                raise n.error(f"axis={axis} makes rows that are not whole frames (the "
                              f"batch axis is hwconv's frames); only axis=1 is supported",
                              "axis", across=True)
            target = (math.prod(fs[a - 1:]),) if lead else \
                (math.prod(fs[:a]), math.prod(fs[a:]))
            view(n, src, fs, target, "axis")
        elif n.op == "Reshape":
            shape = [int(d) for d in const(n, 1, "shape")]
            whole = ((None,) if lead else ()) + tuple(fs)
            if n.attr("allowzero", 0) and 0 in shape:
                raise n.error(f"shape={shape} with allowzero=1 makes an empty tensor", "shape")
            out = [whole[k] if d == 0 and k < len(whole) else d for k, d in enumerate(shape)]
            if lead:
                if not (out and (out[0] is None or out[0] == dims[0] or
                                 (out[0] == -1 and -1 not in out[1:]))):
                    raise n.error(f"shape={shape} moves values across frames (the batch "
                                  f"axis is hwconv's frames)", "shape", across=True)
                out = out[1:]
            total, known = math.prod(fs), math.prod(d for d in out if d != -1)
            if out.count(-1) > 1 or None in out or known == 0 or total % known or \
                    (-1 not in out and known != total):
                raise n.error(f"shape={shape} moves values across frames or does not fit "
                              f"the frame {fs}", "shape", across=bool(lead))
            view(n, src, fs, [total // known if d == -1 else d for d in out], "shape")
        elif n.op in ("Squeeze", "Unsqueeze"):
            axes = (n.attr("axes", ()) or None) if opset < 13 else \
                ([int(d) for d in const(n, 1, "axes")] if has_input(n, 1) else None)
            rank = lead + len(fs)
            target = list(fs)
            if n.op == "Unsqueeze":
                if axes is None:
                    raise n.error("axes are required", "axes")
                for a in sorted(batch_axis(n, a, rank + len(axes), "axes") for a in axes):
                    target.insert(a, 1)
            elif axes is None:
                target = [d for d in fs if d != 1]
            else:
                drop = {batch_axis(n, a, rank, "axes") for a in axes}
                if any(fs[a] != 1 for a in drop):
                    raise n.error(f"axes={axes} are not all of size 1 in {fs}", "axes")
                target = [d for a, d in enumerate(fs) if a not in drop]
            view(n, src, fs, target, "axes")
        elif n.op == "Transpose":
            rank = lead + len(fs)
            perm = tuple(n.attr("perm", tuple(reversed(range(rank)))))
            if sorted(perm) != list(range(rank)):
                raise n.error(f"perm={perm} is not a permutation of the {rank} axes", "perm")
            if lead and perm[0] != 0:
                raise n.error(f"perm={perm} moves the batch axis (hwconv's frames)", "perm",
                              across=True)
            fperm = [p - lead for p in perm[lead:]]
            moved = [p for p in fperm if fs[p] != 1]
            if moved != sorted(moved):
                relayout(n.name, src, _arange(n, fs, "perm").transpose(fperm),
                         n.proto.output)
                continue
            view(n, src, fs, [fs[p] for p in fperm], "perm")
        elif n.op == "Pad":
            mode = n.attr("mode", "constant")
            if mode not in ("constant", "edge", "reflect", "wrap"):
                raise n.error(f"mode={mode!r} is not supported; use constant, edge, reflect "
                              f"or wrap", "mode")
            rank = lead + len(fs)
            if opset < 11:
                pads, value, axes = n.attr("pads", n.attr("paddings", ())), \
                    float(n.attr("value", 0.0)), None
            else:
                pads = [int(d) for d in const(n, 1, "pads")]
                value = float(const(n, 2, "constant_value").reshape(-1)[0]) \
                    if has_input(n, 2) else 0.0
                axes = [int(d) for d in const(n, 3, "axes")] if has_input(n, 3) else None
            axes = list(range(rank)) if axes is None else [a % rank for a in axes]
            if len(pads) != 2 * len(axes):
                raise n.error(f"pads={pads} must give a begin and an end for each of the "
                              f"{len(axes)} axes", "pads")
            begin, end = [0] * rank, [0] * rank
            for a, pb, pe in zip(axes, pads[:len(axes)], pads[len(axes):]):
                begin[a], end[a] = int(pb), int(pe)
            batch_pads = lead and (begin[0] or end[0])
            if batch_pads:
                raise n.error(f"pads={list(pads)} pads the batch axis (hwconv's frames)",
                              "pads", across=True)
            begin, end = begin[lead:], end[lead:]
            if mode != "constant" and min(pads) >= 0:
                # Every output value is one of the input's: a Relayout by numpy's own
                # padding of the value indices (edge, reflect and wrap as ONNX's).
                _arange(n, [d + b + e for d, b, e in zip(fs, begin, end)], "pads")
                try:
                    index = np.pad(_arange(n, fs, "pads"),
                                   list(zip(begin, end)), mode=mode)
                except ValueError as e:
                    raise n.error(f"pads={list(pads)} with mode={mode!r} do not fit the "
                                  f"frame {fs} ({e})", "pads") from None
                relayout(n.name, src, index, n.proto.output)
                continue
            spatial = {2: (1,), 3: (1, 2)}.get(len(fs), ())
            if min(pads) < 0 or any((begin[a] or end[a]) and a not in spatial
                                    for a in range(len(fs))):
                raise n.error(f"pads={list(pads)} is not supported; only non-negative pads "
                              f"of a map's or a signal's spatial axes", "pads")
            if not any(begin) and not any(end):
                alias[n.proto.output[0]], fshape[n.proto.output[0]] = src, fs
                continue
            c = irshape[src][0]
            ir_pads = (begin[1], 0, end[1], 0) if len(fs) == 2 else \
                (begin[1], begin[2], end[1], end[2])
            if value != 0:
                # Padding with v is v + zero-padding of (x - v): one more rounding.
                add(ir.BatchNorm(f"{n.name}/minus_value", (src,), scale=np.ones(c),
                                 shift=np.full(c, -value)), (), fs=fs)
                src = f"{n.name}/minus_value"
            # Zero padding as a depthwise 1x1 convolution by one with those pads (exact),
            # its bias the padding value.
            add(ir.Conv2d(n.name, (src,), weight=np.eye(c)[:, :, None, None],
                          bias=np.full(c, value), pads=ir_pads,
                          connections=np.eye(c, dtype=bool)),
                n.proto.output, fs=[d + b + e for d, b, e in zip(fs, begin, end)])
        elif n.op == "Gemm":
            alpha, beta = float(n.attr("alpha", 1.0)), float(n.attr("beta", 1.0))
            trans_a, trans_b = n.attr("transA", 0), n.attr("transB", 0)
            w = const(n, 1, "B")
            if w.ndim != 2:
                raise n.error(f"B of shape {w.shape} is not a matrix", "B")
            if not trans_b:
                w = w.T
            c = const(n, 2, "C") if has_input(n, 2) else np.zeros(w.shape[0])
            if len(fs) == 1 and lead and not trans_a and c.size in (1, w.shape[0]):
                b = np.broadcast_to(c.reshape(-1), (w.shape[0],))
                add(ir.Linear(n.name, (src,), weight=alpha * w, bias=beta * np.array(b)),
                    n.proto.output, fs=(w.shape[0],))
                continue
            # A transposed, a bias per row, or the whole input one matrix: y is affine
            # in A's values all the same.
            if len(fs) + lead != 2:
                raise n.error(f"A has frames of shape {fs}; Gemm takes a matrix", "A")
            wt = w.T
            linear_map(n, src, fs, lambda a: alpha * ((a.T if trans_a else a) @ wt) +
                       beta * c, "transA" if trans_a else "C")
        elif n.op == "MatMul":
            bm = const(n, 1, "B")
            if len(fs) != 1 or bm.ndim not in (1, 2):
                # Stacks of matrices (or a stack of B): affine in A's values.
                linear_map(n, src, fs, lambda a: np.matmul(a, bm),
                           "A" if len(fs) != 1 else "B")
                continue
            w = bm[None, :] if bm.ndim == 1 else bm.T
            out_fs = () if bm.ndim == 1 else (w.shape[0],)
            nxt = onnx_nodes[i] if i < len(onnx_nodes) else None
            b = np.zeros(w.shape[0])
            outputs = n.proto.output
            if nxt is not None and nxt.op == "Add" and nxt.proto.input[0] == n.proto.output[0] \
                    and nxt.proto.input[1] in consts \
                    and consts[nxt.proto.input[1]].size in (1, w.shape[0]):
                b = np.broadcast_to(const(nxt, 1, "B").reshape(-1), (w.shape[0],)).copy()
                outputs = nxt.proto.output
                i += 1
            add(ir.Linear(n.name, (src,), weight=w, bias=b), outputs, fs=out_fs)
        else:
            raise n.error(f"op {n.op} is not supported; supported ops: "
                          f"{', '.join(SUPPORTED_OPS)}")

    if len(g.output) != 1:
        raise CompileError(f"the model has {len(g.output)} outputs; hwconv takes one")
    out = g.output[0].name
    if out not in alias:
        raise CompileError(f"output {out!r} is not produced by a supported node")
    nodes.append(ir.Output(out if out not in alias.values() else out + "_out", (alias[out],)))
    return ir.Graph(tuple(_fuse_relayouts(nodes))).verify()


def _fuse_relayouts(nodes: list[ir.Node]) -> list[ir.Node]:
    """A Relayout read only by another Relayout is folded into it (one frame buffer for
    a reshape, transpose, reshape chain such as PixelShuffle's)."""
    readers: dict[str, list[ir.Node]] = {}
    for node in nodes:
        for i in node.inputs:
            readers.setdefault(i, []).append(node)
    by_name = {node.name: node for node in nodes}
    folded, out = set(), []
    for node in nodes:
        first = by_name.get(node.inputs[0]) if node.inputs else None
        if isinstance(node, ir.Relayout) and isinstance(first, ir.Relayout) and \
                len(readers[first.name]) == 1:
            node = ir.replace(node, inputs=first.inputs,
                              index=first.index.reshape(-1)[node.index])
            by_name[node.name] = node
            folded.add(first.name)
        out.append(node)
    return [node for node in out if node.name not in folded]


def _conv3d(n: _Node, src, fs, w, b, groups, strides, dilations, pads, add) -> None:
    """A 3-D convolution over a (C, D, H, W) volume, which travels as a (C*D, H, W) map,
    as one 2-D convolution: output channel (o, od) reads input channels (c, d) with
    d = od * stride - pad + j * dilation through kernel slice j, and its connections are
    exactly those taps. Exact: the same products and sums."""
    o, cg, kd, kh, kw = w.shape
    c, depth = fs[0], fs[1]
    dense, conn = np.zeros((o, c, kd, kh, kw)), np.zeros((o, c), bool)
    per_group = o // groups
    for k in range(o):
        grp = k // per_group
        dense[k, grp * cg:(grp + 1) * cg] = w[k]
        conn[k, grp * cg:(grp + 1) * cg] = True
    d_out = (depth + pads[0] + pads[3] - (kd - 1) * dilations[0] - 1) // strides[0] + 1
    if d_out < 1:
        raise n.error(f"the kernel's depth {kd} is larger than the padded volume",
                      "kernel_shape")
    weight = np.zeros((o, d_out, c, depth, kh, kw))
    taps = np.zeros((o, d_out, c, depth), bool)
    for od in range(d_out):
        for j in range(kd):
            d = od * strides[0] - pads[0] + j * dilations[0]
            if 0 <= d < depth:
                weight[:, od, :, d] = dense[:, :, j]
                taps[:, od, :, d] = conn
    add(ir.Conv2d(n.name, (src,), weight=weight.reshape(o * d_out, c * depth, kh, kw),
                  bias=np.repeat(b, d_out), stride=strides[1:], dilation=dilations[1:],
                  pads=(pads[1], pads[2], pads[4], pads[5]),
                  connections=taps.reshape(o * d_out, c * depth)),
        n.proto.output, fs=lambda out: (o, d_out, out[1], out[2]))


def _pool3d(n: _Node, src, fs, kind, k, strides, dilations, pads, ceil_mode, extra, add,
            relayout, shape) -> None:
    """3-D max or Lp pooling over a (C, D, H, W) volume (a (C*D, H, W) map), separably:
    2-D pooling of every depth plane, a Relayout that makes depth the rows of a
    (C, D, H'*W') map, pooling along those rows, and a Relayout back. The maximum of a
    box is the maximum over depth of the planes' maxima; Lp pooling's root of a sum of
    p-th powers likewise nests (the inner roots are raised to p again)."""
    c, depth = fs[0], fs[1]
    plane = f"{n.name}/plane"
    common = dict(ceil_mode=ceil_mode) if kind is not ir.LpPool2d else {}
    common.update(extra)
    add(kind(plane, (src,), kernel=tuple(k[1:]), stride=tuple(strides[1:]),
             dilation=tuple(dilations[1:]), pads=(pads[1], pads[2], pads[4], pads[5]),
             **common), (), fs=lambda out: (c, depth, out[1], out[2]))
    _, ho, wo = shape(plane)
    # (C, D, H'*W'): the same values in the same order, depth now the rows of C lanes.
    rows = _arange(n, (c, depth, ho, wo), "kernel_shape")
    relayout(f"{n.name}/depth_rows", plane, rows, (), shape=(c, depth, ho * wo))
    add(kind(f"{n.name}/depth", (f"{n.name}/depth_rows",), kernel=(k[0], 1),
             stride=(strides[0], 1), dilation=(dilations[0], 1),
             pads=(pads[0], 0, pads[3], 0), **common), (), fs=lambda out: out)
    d_out = shape(f"{n.name}/depth")[1]
    back = _arange(n, (c, d_out, ho, wo), "kernel_shape")
    relayout(n.name, f"{n.name}/depth", back, n.proto.output)


def _avgpool3d(n: _Node, src, fs, k, strides, dilations, pads, ceil_mode, count_include_pad,
               add) -> None:
    """3-D average pooling over a (C, D, H, W) volume (a (C*D, H, W) map): the mean over
    each depth window as a 1x1 convolution (weight 1/count on the window's channels),
    then 2-D average pooling. The divisor of a box is the product of its counts along
    each axis, so this is the same mean (up to the rounding of 1/count)."""
    c, depth = fs[0], fs[1]
    kd, sd, dd, before, after = k[0], strides[0], dilations[0], pads[0], pads[3]
    d_out = _pooled_extent(depth, (kd - 1) * dd + 1, sd, before, after, ceil_mode)
    weight = np.zeros((c, d_out, c, depth))
    for od in range(d_out):
        taps = od * sd - before + np.arange(kd) * dd
        lo, hi = (-before, depth + after) if count_include_pad else (0, depth)
        count = int(((taps >= lo) & (taps < hi)).sum())
        for d in taps[(taps >= 0) & (taps < depth)]:
            weight[np.arange(c), od, np.arange(c), d] = 1 / count
    depth_node = f"{n.name}/depth"
    add(ir.Conv2d(depth_node, (src,), weight=weight.reshape(c * d_out, c * depth, 1, 1),
                  bias=np.zeros(c * d_out), connections=weight.reshape(c * d_out, -1) != 0),
        (), fs=())
    add(ir.AvgPool2d(n.name, (depth_node,), kernel=tuple(k[1:]), stride=tuple(strides[1:]),
                     dilation=tuple(dilations[1:]),
                     pads=(pads[1], pads[2], pads[4], pads[5]), ceil_mode=ceil_mode,
                     count_include_pad=count_include_pad),
        n.proto.output, fs=lambda out: (c, d_out, out[1], out[2]))
