"""ONNX to a float hwconv Graph (opsets 7 to 21).

Supported: Conv (any stride, zero padding, dilation, groups, bias), Relu, Abs, Tanh, Sigmoid, Shrink, Clip,
MaxPool, AveragePool (ceil_mode, count_include_pad), LpPool (1 <= p <= 4), GlobalAveragePool, GlobalMaxPool, Flatten, Reshape to (N, -1), Gemm, MatMul followed by Add, and the
no-ops Identity and Dropout.
Anything else is refused with a CompileError naming the node, its op and the attribute.
"""
from __future__ import annotations

import pathlib

import numpy as np
import onnx
from onnx import numpy_helper

from ... import ir
from ...errors import CompileError

__all__ = ["load_onnx", "SUPPORTED_OPS"]

OPSETS = range(7, 22)
ELEMENTWISE = {"Relu": ir.ReLU, "Abs": ir.Abs, "Tanh": ir.Tanh, "Sigmoid": ir.Sigmoid}
CLIP_NONE = 1e30   # an absent Clip limit: far beyond any fixed-point range, so it saturates
SUPPORTED_OPS = ("Conv", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool",
                 "Flatten", "Reshape", "Gemm", "MatMul", "Add", *ELEMENTWISE,
                 "Shrink", "Clip", "Softmax", "LogSoftmax", "ArgMax", "BatchNormalization", "LRN",
                 "Identity",
                 "Dropout")


class _Node:
    """One ONNX node with its attributes decoded, and error helpers naming it."""

    def __init__(self, proto: onnx.NodeProto, index: int):
        self.proto = proto
        self.op = proto.op_type
        self.name = proto.name or f"{proto.op_type.lower()}{index}"
        self.attrs = {a.name: onnx.helper.get_attribute_value(a) for a in proto.attribute}

    def error(self, message, attribute=None) -> CompileError:
        return CompileError(message, node=self.name, op=self.op, attribute=attribute)

    def attr(self, key, default):
        v = self.attrs.get(key, default)
        if isinstance(v, bytes):
            v = v.decode()
        return tuple(v) if isinstance(v, list) else v

    def only(self, key, allowed, default, what: str):
        v = self.attr(key, default)
        if v not in allowed:
            raise self.error(f"{key}={v!r} is not supported; {what}", key)
        return v


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


def load_onnx(model, input_shape: tuple[int, int, int] | None = None) -> ir.Graph:
    """An ONNX file (or ModelProto) as a float Graph; input_shape overrides (C, H, W)."""
    proto = _load(model)
    opset = _opset(proto)
    g = proto.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1:
        raise CompileError(f"the model has {len(inputs)} inputs "
                           f"({', '.join(i.name for i in inputs)}); hwconv takes one image input")
    inp = inputs[0]
    dims = [d.dim_value if d.HasField("dim_value") else None
            for d in inp.type.tensor_type.shape.dim]
    if input_shape is None:
        if len(dims) != 4 or any(d is None for d in dims[1:]):
            raise CompileError(f"input {inp.name!r} has shape {dims}; give the image shape "
                               f"with --input-shape C,H,W")
        input_shape = tuple(dims[1:])
    elif len(dims) == 4 and all(dims[1:]) and tuple(dims[1:]) != tuple(input_shape):
        raise CompileError(f"--input-shape {','.join(map(str, input_shape))} does not match "
                           f"the model's input {inp.name!r} of shape {dims}")

    nodes: list[ir.Node] = [ir.Input(name=inp.name, shape=tuple(input_shape))]
    alias = {inp.name: inp.name}   # ONNX tensor name -> hwconv node name producing it

    def add(node: ir.Node, outputs) -> None:
        nodes.append(node)
        for o in outputs:
            alias[o] = node.name

    def const(n: _Node, idx: int, what: str) -> np.ndarray:
        name = n.proto.input[idx]
        if name not in consts:
            raise n.error(f"{what} must be a constant (an initializer), not a computed tensor",
                          what)
        return consts[name].astype(np.float64)

    def in_channels(name: str) -> int | None:
        """Channels of a node's output, when it is a map (checked fully by the Graph)."""
        try:
            shape = ir.Graph(tuple(nodes))._shapes[name]
        except CompileError:
            return None
        return shape[0] if len(shape) == 3 else None

    def source(n: _Node) -> str:
        name = n.proto.input[0]
        if name not in alias:
            raise n.error(f"reads {name!r}, which is not produced by a supported node")
        return alias[name]

    onnx_nodes = [_Node(p, i) for i, p in enumerate(g.node) if p.op_type != "Constant"]
    i = 0
    while i < len(onnx_nodes):
        n = onnx_nodes[i]
        i += 1
        src = source(n)
        if n.op in ("Identity", "Dropout"):
            alias[n.proto.output[0]] = src
        elif n.op in ELEMENTWISE:
            add(ELEMENTWISE[n.op](n.name, (src,)), n.proto.output)
        elif n.op in ("Softmax", "LogSoftmax"):
            shape = ir.Graph(tuple(nodes))._shapes[src]
            axis = n.attr("axis", -1 if opset >= 13 else 1)
            channel_axis = (1, -1) if len(shape) == 1 else (1,) if opset >= 13 else ()
            if axis not in channel_axis and not (len(shape) == 3 and shape[1:] == (1, 1)
                                                 and axis in (1, -3)):
                raise n.error(f"axis={axis} on a tensor of shape {shape} is not supported; "
                              f"softmax runs across channels (axis=1"
                              f"{'' if opset >= 13 else ', opset 13 or later for maps'})",
                              "axis")
            kind = ir.Softmax if n.op == "Softmax" else ir.LogSoftmax
            add(kind(n.name, (src,)), n.proto.output)
        elif n.op == "ArgMax":
            n.only("axis", (1,), 0, "only the channel axis (axis=1) is supported")
            n.only("select_last_index", (0,), 0, "use select_last_index=0")
            add(ir.ChannelReduce(n.name, (src,), mode="argmax"), n.proto.output)
        elif n.op == "LRN":
            if "size" not in n.attrs:
                raise n.error("the size attribute is required", "size")
            add(ir.LRN(n.name, (src,), size=int(n.attr("size", 5)),
                       alpha=float(n.attr("alpha", 1e-4)), beta=float(n.attr("beta", 0.75)),
                       bias=float(n.attr("bias", 1.0))), n.proto.output)
        elif n.op == "BatchNormalization":
            if len(n.proto.output) > 1 and any(n.proto.output[1:]):
                raise n.error("training-mode outputs (running mean and variance) are not "
                              "supported; export the model in eval mode", "training_mode")
            n.only("training_mode", (0,), 0, "export the model in eval mode")
            gamma, beta, mean, var = (const(n, k, what) for k, what in
                                      ((1, "scale"), (2, "B"), (3, "input_mean"),
                                       (4, "input_var")))
            scale = gamma / np.sqrt(var + float(n.attr("epsilon", 1e-5)))
            add(ir.BatchNorm(n.name, (src,), scale=scale, shift=beta - mean * scale),
                n.proto.output)
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
            if w.ndim != 4:
                raise n.error(f"is a {w.ndim - 2}-D convolution; only 2-D is supported",
                              "kernel_shape")
            b = const(n, 2, "bias") if len(n.proto.input) > 2 and n.proto.input[2] else \
                np.zeros(w.shape[0])
            groups = int(n.attr("group", 1))
            if groups < 1 or w.shape[0] % groups or \
                    (in_channels(src) is not None and in_channels(src) != w.shape[1] * groups):
                raise n.error(f"group={groups} does not divide the {w.shape[0]} outputs and "
                              f"{in_channels(src)} inputs", "group")
            dilations = tuple(n.attr("dilations", (1, 1)))
            auto_pad = n.only("auto_pad", ("NOTSET", "VALID"), "NOTSET",
                              "give explicit pads instead")
            pads = n.attr("pads", (0, 0, 0, 0)) if auto_pad == "NOTSET" else (0, 0, 0, 0)
            if len(pads) != 4 or min(pads) < 0:
                raise n.error(f"pads={pads} is not supported; give 4 non-negative pads", "pads")
            strides = n.attr("strides", (1, 1))
            ks = n.attr("kernel_shape", w.shape[2:])
            if tuple(ks) != tuple(w.shape[2:]):
                raise n.error(f"kernel_shape={ks} does not match the weight {w.shape}",
                              "kernel_shape")
            w, conn = ir.ungroup(w, groups)
            # ONNX pads are (top, left, bottom, right) for 2-D: x1_begin, x2_begin, x1_end, x2_end.
            add(ir.Conv2d(n.name, (src,), weight=w, bias=b, stride=tuple(strides),
                          pads=tuple(pads), dilation=dilations,
                          connections=None if groups == 1 else conn), n.proto.output)
        elif n.op in ("MaxPool", "AveragePool"):
            if len(n.proto.output) > 1 and n.proto.output[1]:
                raise n.error("the Indices output is not supported", "Indices")
            k = n.attr("kernel_shape", None)
            if k is None or len(k) != 2:
                raise n.error(f"kernel_shape={k} is not supported; give a 2-D kernel",
                              "kernel_shape")
            n.only("auto_pad", ("NOTSET", "VALID"), "NOTSET", "give explicit pads instead")
            ceil_mode = bool(n.only("ceil_mode", (0, 1), 0, "use 0 or 1"))
            n.only("dilations", ((1, 1),), (1, 1), "dilated pooling comes later")
            n.only("storage_order", (0,), 0, "use storage_order=0")
            pads = tuple(n.attr("pads", (0, 0, 0, 0)))
            if len(pads) != 4 or min(pads) < 0:
                raise n.error(f"pads={pads} is not supported; give 4 non-negative pads", "pads")
            extra = {}
            kind = ir.MaxPool2d
            if n.op == "AveragePool":
                kind = ir.AvgPool2d
                extra["count_include_pad"] = bool(n.attr("count_include_pad", 0))
            add(kind(n.name, (src,), kernel=tuple(k), stride=tuple(n.attr("strides", (1, 1))),
                     pads=pads, ceil_mode=ceil_mode, **extra), n.proto.output)
        elif n.op == "LpPool":
            k = n.attr("kernel_shape", None)
            if k is None or len(k) != 2:
                raise n.error(f"kernel_shape={k} is not supported; give a 2-D kernel",
                              "kernel_shape")
            p = n.attr("p", 2)
            if not 1 <= p <= 4:
                raise n.error(f"p={p} is not supported; use 1 <= p <= 4", "p")
            n.only("auto_pad", ("NOTSET", "VALID"), "NOTSET", "give explicit pads instead")
            n.only("ceil_mode", (0,), 0, "use ceil_mode=0 (or pad explicitly)")
            n.only("dilations", ((1, 1),), (1, 1), "dilated pooling comes later")
            pads = tuple(n.attr("pads", (0, 0, 0, 0)))
            # ONNX LpPool sums the powers (no mean), unlike Torch7's SpatialLPPooling.
            add(ir.LpPool2d(n.name, (src,), kernel=tuple(k), pads=pads, mean=False, p=p,
                            stride=tuple(n.attr("strides", (1, 1)))), n.proto.output)
        elif n.op in ("GlobalAveragePool", "GlobalMaxPool"):
            add(ir.GlobalPool(n.name, (src,), mode="avg" if "Average" in n.op else "max"),
                n.proto.output)
        elif n.op == "Flatten":
            n.only("axis", (1,), 1, "only flattening everything but the batch is supported")
            add(ir.Flatten(n.name, (src,)), n.proto.output)
        elif n.op == "Reshape":
            shape = tuple(int(d) for d in const(n, 1, "shape"))
            if len(shape) != 2 or shape[0] not in (0, 1, -1) and shape[1] != -1:
                raise n.error(f"reshape to {shape} is not supported; only flattening to "
                              f"(N, -1) is", "shape")
            add(ir.Flatten(n.name, (src,)), n.proto.output)
        elif n.op == "Gemm":
            n.only("transA", (0,), 0, "the activations must come first, untransposed")
            alpha, beta = n.attr("alpha", 1.0), n.attr("beta", 1.0)
            w = const(n, 1, "B")
            if not n.attr("transB", 0):
                w = w.T
            b = const(n, 2, "C") if len(n.proto.input) > 2 and n.proto.input[2] else \
                np.zeros(w.shape[0])
            b = np.broadcast_to(b.reshape(-1), (w.shape[0],)) if b.size in (1, w.shape[0]) \
                else None
            if b is None:
                raise n.error("bias C must have one value per output", "C")
            add(ir.Linear(n.name, (src,), weight=alpha * w, bias=beta * np.array(b)),
                n.proto.output)
        elif n.op == "MatMul":
            w = const(n, 1, "B").T
            nxt = onnx_nodes[i] if i < len(onnx_nodes) else None
            b = np.zeros(w.shape[0])
            outputs = n.proto.output
            if nxt is not None and nxt.op == "Add" and nxt.proto.input[0] == n.proto.output[0] \
                    and nxt.proto.input[1] in consts:
                b = np.broadcast_to(const(nxt, 1, "B").reshape(-1), (w.shape[0],)).copy()
                outputs = nxt.proto.output
                i += 1
            add(ir.Linear(n.name, (src,), weight=w, bias=b), outputs)
        elif n.op == "Add":
            a, b = n.proto.input[:2]
            if a not in alias or b not in alias:
                raise n.error("Add of a constant is only supported as the bias after a MatMul;"
                              " fold it into the preceding layer", "B")
            add(ir.Add(n.name, (alias[a], alias[b])), n.proto.output)
        else:
            raise n.error(f"op {n.op} is not supported; supported ops: "
                          f"{', '.join(SUPPORTED_OPS)}")

    if len(g.output) != 1:
        raise CompileError(f"the model has {len(g.output)} outputs; hwconv takes one")
    out = g.output[0].name
    if out not in alias:
        raise CompileError(f"output {out!r} is not produced by a supported node")
    nodes.append(ir.Output(out if out not in alias.values() else out + "_out", (alias[out],)))
    return ir.Graph(tuple(nodes)).verify()
