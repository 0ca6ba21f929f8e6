"""PyTorch nn.Module to a float hwconv Graph, through torch.fx symbolic tracing.

``load_torch(module, example_input)`` traces the module's forward (nn.Sequential and
ordinary modules whose forward has no data-dependent control flow), converts each call to
hwconv kinds, then runs the example input through both the module and the graph and
refuses the import if they disagree (so a construct this frontend misreads cannot pass
silently). ``load_torch_file(path, input_shape)`` does the same for a whole module saved
with ``torch.save(module, path)`` (the command line's ``hwconv compile model.pt``).

Modules and their functional forms (docs/kinds.md has the table): Conv2d (stride, zero
padding as ints, tuples, 'same' or 'valid', dilation, groups, bias), MaxPool2d (also
dilated), AvgPool2d, LPPool2d (norm_type 2: the root of the SUM of squares, LpPool2d
mean=False), BatchNorm2d (eval mode), ReLU, ReLU6, Tanh, Sigmoid, Hardtanh, Softshrink,
Hardshrink, Threshold, Linear, Flatten, x.view(x.size(0), -1) and x.reshape(-1, n), Softmax
and LogSoftmax across channels (a final LogSoftmax can be left out with
``drop_log_softmax=True``, which keeps the winning class), LocalResponseNorm (odd sizes),
Dropout (eval mode: identity), Identity, and + of two tensors. Every refusal is a
CompileError naming the module (its dotted path) or the fx node, the class or function, and
the argument.

torch is optional: it is imported only when a module is given.
"""
from __future__ import annotations

import math
import operator
import pathlib

import numpy as np

from ... import ir
from ...errors import CompileError

__all__ = ["load_torch", "load_torch_file", "SUPPORTED"]

SUPPORTED = ("Conv2d", "MaxPool2d", "AvgPool2d", "LPPool2d", "LocalResponseNorm",
             "BatchNorm2d", "ReLU", "ReLU6", "Tanh", "Sigmoid", "Hardtanh", "Softshrink",
             "Hardshrink", "Threshold", "Linear", "Flatten", "Softmax", "LogSoftmax", "Dropout",
             "Identity", "view/reshape/flatten", "+")
AGREEMENT = 1e-4   # |graph - module| allowed on the example input, relative to max |output|


def _torch():
    try:
        import torch
        import torch.fx  # noqa: F401
    except ImportError:
        raise CompileError("compiling a PyTorch module needs torch: pip install "
                           "torch==2.13.0 (or export the model to ONNX)") from None
    return torch


class _Batch:
    """The batch dimension (x.size(0)), whatever its value."""


BATCH = _Batch()


def _pair(v, what, err) -> tuple[int, int]:
    if isinstance(v, int) and not isinstance(v, bool):
        return (v, v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(i, int) for i in v):
        return tuple(v)
    if isinstance(v, (tuple, list)) and len(v) == 1 and isinstance(v[0], int):
        return (v[0], v[0])
    raise err(f"{what}={v!r} is not supported; give an int or a pair of ints", what)


def _bind(args, kwargs, names, defaults, err):
    """Positional and keyword arguments of a call, by name (functional ops have no
    Python signature to bind against)."""
    if len(args) > len(names):
        raise err(f"takes at most {len(names)} arguments here, got {len(args)}")
    out = dict(defaults)
    out.update(zip(names, args))
    for k, v in kwargs.items():
        if k not in names:
            raise err(f"argument {k}={v!r} is not supported", k)
        out[k] = v
    return out


class _Converter:
    def __init__(self, torch, gm, example, drop_log_softmax):
        self.torch, self.gm = torch, gm
        self.drop_log_softmax = drop_log_softmax
        self.nodes: list[ir.Node] = []
        self.shapes: dict[str, tuple] = {}
        self.env: dict = {}
        self.example = example
        self.dropped = False      # a final LogSoftmax was left out

    # -- helpers -------------------------------------------------------------------

    def add(self, node: ir.Node, err) -> str:
        try:
            graph = ir.Graph(tuple(self.nodes) + (node,))
        except CompileError as e:
            raise err(e.detail, e.attribute) from None
        self.nodes.append(node)
        self.shapes = graph._shapes
        return node.name

    def tensor(self, v, err, what="input") -> str:
        if isinstance(v, tuple) and len(v) == 2 and v[0] == "t":
            return v[1]
        raise err(f"its {what} is {self._describe(v)}, not a tensor computed from the "
                  f"network's input")

    @staticmethod
    def _describe(v):
        if isinstance(v, tuple) and v and v[0] == "attr":
            return f"the tensor attribute {v[1]!r} directly; hwconv reads weights only " \
                   f"from modules such as nn.Conv2d and nn.Linear"
        return repr(v)

    def value(self, a):
        """An fx argument with every fx node replaced by what it stands for."""
        torch = self.torch
        if isinstance(a, torch.fx.Node):
            return self.env[a]
        if isinstance(a, (list, tuple)):
            return type(a)(self.value(x) for x in a)
        if isinstance(a, dict):
            return {k: self.value(x) for k, x in a.items()}
        return a

    # -- the walk ------------------------------------------------------------------

    def run(self) -> ir.Graph:
        torch = self.torch
        placeholders = [n for n in self.gm.graph.nodes if n.op == "placeholder"]
        if len(placeholders) != 1:
            raise CompileError(f"forward takes {len(placeholders)} inputs "
                               f"({', '.join(p.name for p in placeholders)}); hwconv takes "
                               f"one image input")
        for n in self.gm.graph.nodes:
            if n.op == "placeholder":
                shape = tuple(self.example.shape[1:])
                self.env[n] = ("t", self.add(ir.Input("input", shape=shape),
                                             _error(n.name, "input")))
            elif n.op == "get_attr":
                self.env[n] = ("attr", n.target)
            elif n.op == "call_module":
                self.env[n] = self.call_module(n, self.gm.get_submodule(n.target))
            elif n.op in ("call_function", "call_method"):
                self.env[n] = self.call_function(n)
            elif n.op == "output":
                out = self.value(n.args[0])
                src = self.tensor(out, _error("output", "output"), "output")
                self.nodes.append(ir.Output("output" if "output" not in self.shapes else
                                            "output_", (src,)))
            else:
                raise CompileError(f"fx node {n.name} of kind {n.op} is not supported")
        return ir.Graph(tuple(self.nodes)).verify()

    def is_last(self, n) -> bool:
        return all(u.op == "output" for u in n.users)

    def call_module(self, n, mod):
        torch = self.torch
        nn = torch.nn
        cls = type(mod).__name__
        err = _error(n.target, cls)
        args = [self.value(a) for a in n.args]
        if len(args) != 1 or n.kwargs:
            raise err(f"is called with {len(args)} arguments; hwconv supports one tensor")
        src = self.tensor(args[0], err)
        # Named after the module's path (features.3), unless it is called more than once.
        name = n.target if n.target not in self.shapes and n.target not in \
            ("output", "output_") else n.name

        def add(node):
            return ("t", self.add(node, err))

        def array(t):
            return t.detach().cpu().double().numpy()

        if isinstance(mod, (nn.Identity,)):
            return ("t", src)
        if isinstance(mod, (nn.Dropout, nn.Dropout2d, nn.AlphaDropout)):
            if mod.training and mod.p > 0:
                raise err("is in training mode (it would drop values); call model.eval() "
                          "before compiling", "training")
            return ("t", src)
        if isinstance(mod, nn.Conv2d):
            if mod.padding_mode != "zeros":
                raise err(f"padding_mode={mod.padding_mode!r} is not supported; only zero "
                          f"padding", "padding_mode")
            w = array(mod.weight)
            kh, kw = w.shape[2:]
            dh, dw = mod.dilation
            if mod.padding == "same":
                th, tw = dh * (kh - 1), dw * (kw - 1)
                pads = (th // 2, tw // 2, th - th // 2, tw - tw // 2)
            elif mod.padding == "valid":
                pads = (0, 0, 0, 0)
            else:
                ph, pw = _pair(mod.padding, "padding", err)
                pads = (ph, pw, ph, pw)
            bias = array(mod.bias) if mod.bias is not None else np.zeros(w.shape[0])
            dense, conn = ir.ungroup(w, mod.groups)
            return add(ir.Conv2d(name, (src,), weight=dense, bias=bias,
                                 stride=tuple(mod.stride), pads=pads, dilation=(dh, dw),
                                 connections=None if mod.groups == 1 else conn))
        if isinstance(mod, nn.MaxPool2d):
            return self.pool(name, src, err, "max", mod.kernel_size, mod.stride, mod.padding,
                             mod.dilation, mod.ceil_mode, return_indices=mod.return_indices)
        if isinstance(mod, nn.AvgPool2d):
            return self.pool(name, src, err, "avg", mod.kernel_size, mod.stride, mod.padding,
                             1, mod.ceil_mode, count_include_pad=mod.count_include_pad,
                             divisor_override=mod.divisor_override)
        if isinstance(mod, nn.LPPool2d):
            return self.lp_pool(name, src, err, mod.norm_type, mod.kernel_size, mod.stride,
                                mod.ceil_mode)
        if isinstance(mod, nn.BatchNorm2d):
            if mod.running_mean is None or mod.running_var is None:
                raise err("has no running statistics (track_running_stats=False); hwconv "
                          "needs the inference form", "track_running_stats")
            if mod.training:
                raise err("is in training mode (it would normalize with the batch's own "
                          "statistics); call model.eval() before compiling", "training")
            scale = 1.0 / np.sqrt(array(mod.running_var) + mod.eps)
            if mod.weight is not None:
                scale = scale * array(mod.weight)
            shift = -array(mod.running_mean) * scale
            if mod.bias is not None:
                shift = shift + array(mod.bias)
            return add(ir.BatchNorm(name, (src,), scale=scale, shift=shift))
        if isinstance(mod, nn.Linear):
            bias = array(mod.bias) if mod.bias is not None else np.zeros(mod.out_features)
            if len(self.shapes[src]) != 1:
                raise err(f"expects a vector but its input has shape {self.shapes[src]}; "
                          f"flatten it first (nn.Flatten or x.flatten(1))")
            return add(ir.Linear(name, (src,), weight=array(mod.weight), bias=bias))
        if isinstance(mod, nn.Flatten):
            if mod.start_dim != 1 or mod.end_dim != -1:
                raise err(f"start_dim={mod.start_dim}, end_dim={mod.end_dim} is not "
                          f"supported; only flattening everything but the batch", "start_dim")
            return self.flatten(name, src, err)
        if isinstance(mod, nn.Softmax):
            return self.softmax(name, src, err, mod.dim)
        if isinstance(mod, nn.LogSoftmax):
            return self.log_softmax(n, src, err, mod.dim)
        if isinstance(mod, nn.LocalResponseNorm):
            return self.lrn(name, src, err, mod.size, mod.alpha, mod.beta, mod.k)
        simple = self.pointwise_module(mod)
        if simple is not None:
            return add(simple(name, src))
        raise err(f"module {cls} is not supported; supported: {', '.join(SUPPORTED)}")

    def pointwise_module(self, mod):
        nn = self.torch.nn
        if isinstance(mod, nn.ReLU):
            return lambda name, src: ir.ReLU(name, (src,))
        if isinstance(mod, nn.ReLU6):
            return lambda name, src: ir.HardTanh(name, (src,), min_val=0.0, max_val=6.0)
        if isinstance(mod, nn.Hardtanh):
            return lambda name, src: ir.HardTanh(name, (src,), min_val=float(mod.min_val),
                                                 max_val=float(mod.max_val))
        if isinstance(mod, nn.Tanh):
            return lambda name, src: ir.Tanh(name, (src,))
        if isinstance(mod, nn.Sigmoid):
            return lambda name, src: ir.Sigmoid(name, (src,))
        if isinstance(mod, nn.Softshrink):
            return lambda name, src: ir.Shrink(name, (src,), lambd=float(mod.lambd),
                                               bias=float(mod.lambd))
        if isinstance(mod, nn.Hardshrink):
            return lambda name, src: ir.Shrink(name, (src,), lambd=float(mod.lambd), bias=0.0)
        if isinstance(mod, nn.Threshold):
            return lambda name, src: ir.Threshold(name, (src,), threshold=float(mod.threshold),
                                                  value=float(mod.value))
        return None

    # -- shared conversions -------------------------------------------------------------

    def pool(self, name, src, err, mode, kernel, stride, padding, dilation, ceil_mode,
             return_indices=False, count_include_pad=True, divisor_override=None):
        if return_indices:
            raise err("return_indices=True is not supported", "return_indices")
        d = _pair(dilation, "dilation", err)
        if mode != "max" and d != (1, 1):
            raise err(f"dilation={dilation} is not supported; use 1", "dilation")
        if divisor_override:
            raise err(f"divisor_override={divisor_override} is not supported",
                      "divisor_override")
        k = _pair(kernel, "kernel_size", err)
        s = _pair(stride if stride not in (None, (), []) else kernel, "stride", err)
        p = _pair(padding, "padding", err)
        pads = (p[0], p[1], p[0], p[1])
        # ir.Pool2d's ceil_mode is PyTorch's: the last window must start inside the input
        # or its left/top padding; ceil mode's extra reach never counts in a mean.
        if mode == "max":
            node = ir.MaxPool2d(name, (src,), kernel=k, stride=s, pads=pads,
                                ceil_mode=bool(ceil_mode), dilation=d)
        else:
            node = ir.AvgPool2d(name, (src,), kernel=k, stride=s, pads=pads,
                                ceil_mode=bool(ceil_mode),
                                count_include_pad=bool(count_include_pad))
        return ("t", self.add(node, err))

    def lp_pool(self, name, src, err, norm_type, kernel, stride, ceil_mode):
        if float(norm_type) != 2:
            raise err(f"norm_type={norm_type} is not supported yet; only 2 (L2 pooling)",
                      "norm_type")
        k = _pair(kernel, "kernel_size", err)
        s = _pair(stride if stride is not None else kernel, "stride", err)
        self.check_ceil(src, err, ceil_mode, k, s, (0, 0))
        # PyTorch's LPPool2d is the root of the SUM of x^p over the window (mean=False).
        return ("t", self.add(ir.LpPool2d(name, (src,), kernel=k, stride=s, p=2, mean=False),
                              err))

    def check_ceil(self, src, err, ceil_mode, k, s, p):
        if not ceil_mode:
            return
        shape = self.shapes[src]
        if len(shape) == 3 and all((shape[1 + i] + 2 * p[i] - k[i]) % s[i] == 0
                                   for i in range(2)):
            return     # the windows fit exactly: ceil and floor agree
        raise err(f"ceil_mode=True is not supported for Lp pooling yet, and on input {shape} "
                  f"it gives a larger output than floor mode; use ceil_mode=False or pad the "
                  f"input", "ceil_mode")

    def flatten(self, name, src, err):
        if len(self.shapes[src]) == 1:
            return ("t", src)
        return ("t", self.add(ir.Flatten(name, (src,)), err))

    def softmax(self, name, src, err, dim, kind=ir.Softmax, check_only=False):
        rank = len(self.shapes[src]) + 1
        if dim is None:
            dim = 1       # PyTorch's legacy implicit choice for 2-D and 4-D inputs
        if dim not in (1, 1 - rank):
            raise err(f"dim={dim} is not supported; softmax runs across channels (dim=1)",
                      "dim")
        if check_only:
            return None
        return ("t", self.add(kind(name, (src,)), err))

    def log_softmax(self, n, src, err, dim):
        """ir.LogSoftmax across channels; as the last operation it may be left out
        (``drop_log_softmax``): the winning class is the same and the hardware smaller."""
        if self.is_last(n) and self.drop_log_softmax:
            self.softmax(n.name, src, err, dim, check_only=True)
            self.dropped = True
            return ("t", src)
        return self.softmax(n.name, src, err, dim, kind=ir.LogSoftmax)

    def lrn(self, name, src, err, size, alpha, beta, k):
        """PyTorch's LocalResponseNorm sums x**2 over channels c - size//2 .. c +
        (size-1)//2 (zeros beyond), times alpha / size; ir.LRN's window is ONNX's, the same
        for odd sizes."""
        if not isinstance(size, int) or size < 1 or size % 2 == 0:
            raise err(f"size={size} is not supported; use an odd size (PyTorch centres an "
                      f"even window one channel earlier than hwconv's LRN)", "size")
        return ("t", self.add(ir.LRN(name, (src,), size=size, alpha=float(alpha),
                                     beta=float(beta), bias=float(k)), err))

    def reshape(self, name, src, err, sizes):
        """view/reshape: flattening to (batch, -1 or C*H*W), or the same shape."""
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        shape = self.shapes[src]
        total = math.prod(shape)
        n = self.example.shape[0]

        def is_batch(v):
            return v is BATCH or v == n or v == -1
        if len(sizes) == 2 and is_batch(sizes[0]) and (sizes[1] in (-1, total)) and \
                not (sizes[0] == -1 and sizes[1] == -1):
            return self.flatten(name, src, err)
        if len(sizes) == len(shape) + 1 and is_batch(sizes[0]) and \
                tuple(sizes[1:]) == tuple(shape):
            return ("t", src)
        shown = tuple("N" if v is BATCH else v for v in sizes)
        raise err(f"reshaping {('N', *shape)} to {shown} is not supported; only flattening "
                  f"to (N, -1)", "shape")

    # -- functions and methods ---------------------------------------------------------

    def call_function(self, n):
        torch = self.torch
        F = torch.nn.functional
        target = n.target
        fname = target if isinstance(target, str) else getattr(target, "__name__", str(target))
        err = _error(n.name, fname)
        args = [self.value(a) for a in n.args]
        kwargs = {k: self.value(v) for k, v in n.kwargs.items()}
        name = n.name

        def src(i=0):
            return self.tensor(args[i] if i < len(args) else kwargs.get("input"), err)

        for v in (*args, *kwargs.values()):
            if isinstance(v, tuple) and v and v[0] == "attr":
                raise err(f"reads {self._describe(v)}")

        def add(node):
            return ("t", self.add(node, err))

        method = n.op == "call_method"
        # Shapes: x.size(), x.size(i), x.shape, x.shape[i].
        if (method and target == "size") or (target is getattr and len(args) == 2 and
                                              args[1] == "shape"):
            shape = (BATCH, *self.shapes[self.tensor(args[0], err)])
            dim = args[1] if method and len(args) > 1 else kwargs.get("dim")
            return shape if dim is None else shape[dim]
        if target is operator.getitem and isinstance(args[0], tuple) and \
                not (args[0] and args[0][0] == "t"):
            return args[0][args[1]]
        if target is operator.mul and all(isinstance(a, int) for a in args):
            return args[0] * args[1]
        # Element-wise.
        names = {"relu": ir.ReLU, "tanh": ir.Tanh, "sigmoid": ir.Sigmoid, "abs": ir.Abs}
        key = target if method else fname
        if key in ("relu", "relu_", "tanh", "sigmoid", "abs") and \
                (method or target in (torch.relu, F.relu, torch.tanh, F.tanh, torch.sigmoid,
                                      F.sigmoid, torch.abs, torch.relu_)):
            return add(names[key.rstrip("_")](name, (src(),)))
        if target in (F.hardtanh, F.relu6):
            a = _bind(args, kwargs, ("input", "min_val", "max_val", "inplace"),
                      {"min_val": -1.0, "max_val": 1.0} if target is F.hardtanh else
                      {"min_val": 0.0, "max_val": 6.0}, err)
            return add(ir.HardTanh(name, (src(),), min_val=float(a["min_val"]),
                                   max_val=float(a["max_val"])))
        if target in (F.softshrink, F.hardshrink):
            a = _bind(args, kwargs, ("input", "lambd"), {"lambd": 0.5}, err)
            lambd = float(a["lambd"])
            return add(ir.Shrink(name, (src(),), lambd=lambd,
                                 bias=lambd if target is F.softshrink else 0.0))
        # Pooling.
        if target is F.max_pool2d or target is torch.max_pool2d:
            a = _bind(args, kwargs, ("input", "kernel_size", "stride", "padding", "dilation",
                                     "ceil_mode", "return_indices"),
                      {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False,
                       "return_indices": False}, err)
            return self.pool(name, src(), err, "max", a["kernel_size"], a["stride"],
                             a["padding"], a["dilation"], a["ceil_mode"], a["return_indices"])
        if target is F.avg_pool2d:
            a = _bind(args, kwargs, ("input", "kernel_size", "stride", "padding", "ceil_mode",
                                     "count_include_pad", "divisor_override"),
                      {"stride": None, "padding": 0, "ceil_mode": False,
                       "count_include_pad": True, "divisor_override": None}, err)
            return self.pool(name, src(), err, "avg", a["kernel_size"], a["stride"],
                             a["padding"], 1, a["ceil_mode"],
                             count_include_pad=a["count_include_pad"],
                             divisor_override=a["divisor_override"])
        if target is F.lp_pool2d:
            a = _bind(args, kwargs, ("input", "norm_type", "kernel_size", "stride",
                                     "ceil_mode"), {"stride": None, "ceil_mode": False}, err)
            return self.lp_pool(name, src(), err, a["norm_type"], a["kernel_size"],
                                a["stride"], a["ceil_mode"])
        # Shape glue.
        if target is torch.flatten or (method and target == "flatten"):
            a = _bind(args, kwargs, ("input", "start_dim", "end_dim"),
                      {"start_dim": 0, "end_dim": -1}, err)
            if a["start_dim"] != 1 or a["end_dim"] != -1:
                raise err(f"start_dim={a['start_dim']}, end_dim={a['end_dim']} is not "
                          f"supported; flatten everything but the batch (start_dim=1)",
                          "start_dim")
            return self.flatten(name, src(), err)
        if method and target in ("view", "reshape") or target is torch.reshape:
            return self.reshape(name, src(), err, tuple(args[1:]) or
                                tuple(kwargs.get("shape", ())))
        if method and target == "contiguous":
            return ("t", src())
        if target is F.dropout or (method and target == "dropout"):
            a = _bind(args, kwargs, ("input", "p", "training", "inplace"),
                      {"p": 0.5, "training": True}, err)
            if a["training"] and a["p"] > 0:
                raise err("runs in training mode (it would drop values); call model.eval() "
                          "before compiling", "training")
            return ("t", src())
        # Softmax.
        if target in (F.softmax, torch.softmax) or (method and target == "softmax"):
            a = _bind(args, kwargs, ("input", "dim", "_stacklevel", "dtype"), {"dim": None},
                      err)
            return self.softmax(name, src(), err, a["dim"])
        if target in (F.log_softmax, torch.log_softmax) or (method and target == "log_softmax"):
            a = _bind(args, kwargs, ("input", "dim", "_stacklevel", "dtype"), {"dim": None},
                      err)
            return self.log_softmax(n, src(), err, a["dim"])
        if target is F.local_response_norm:
            a = _bind(args, kwargs, ("input", "size", "alpha", "beta", "k"),
                      {"alpha": 1e-4, "beta": 0.75, "k": 1.0}, err)
            return self.lrn(name, src(), err, a["size"], a["alpha"], a["beta"], a["k"])
        # Sums of two tensors (residual connections).
        if target in (operator.add, operator.iadd, torch.add) or (method and target == "add"):
            if len(args) != 2 or kwargs.get("alpha", 1) != 1:
                raise err("only a + b of two tensors is supported")
            a, b = (self.tensor(v, err, "operand") if isinstance(v, tuple) else v
                    for v in args)
            if not (isinstance(a, str) and isinstance(b, str)):
                raise err("adding a constant is not supported; fold it into the bias of the "
                          "layer before", "other")
            return add(ir.Add(name, (a, b)))
        raise err(f"{'method' if method else 'function'} {fname} is not supported; "
                  f"supported: {', '.join(SUPPORTED)} and their torch.nn.functional forms")


def _error(node: str, op: str):
    def err(message, attribute=None):
        return CompileError(message, node=node, op=op, attribute=attribute)
    return err


def _example(torch, example_input) -> "torch.Tensor":
    x = example_input
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        except (TypeError, ValueError) as e:
            raise CompileError(f"example_input is not an array of numbers ({e})") from None
    x = x.detach().to("cpu", torch.float32)
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4 or min(x.shape) < 1:
        raise CompileError(f"example_input has shape {tuple(x.shape)}; give frames shaped "
                           f"(N, C, H, W) or (C, H, W)")
    if not torch.isfinite(x).all():
        raise CompileError("example_input holds NaN or infinite values")
    return x


def load_torch(module, example_input, *, drop_log_softmax: bool = False) -> ir.Graph:
    """A PyTorch module as a float Graph; ``example_input`` (N, C, H, W) or (C, H, W) gives
    the frame shape and is run through both to check the import."""
    torch = _torch()
    if not isinstance(module, torch.nn.Module):
        raise CompileError(f"{type(module).__name__} is not a torch.nn.Module")
    x = _example(torch, example_input)
    traced = module
    if torch.fx.Tracer().is_leaf_module(module, "") and \
            not isinstance(module, torch.nn.Sequential):
        traced = torch.nn.Sequential(module)   # fx traces into the root: keep it a module
    try:
        gm = torch.fx.symbolic_trace(traced)
    except Exception as e:   # tracing runs user code: report whatever stops it
        raise CompileError(f"torch.fx could not trace {type(module).__name__}.forward "
                           f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                           f"keep forward free of data-dependent control flow, or export "
                           f"the model to ONNX") from None
    converter = _Converter(torch, gm, x, drop_log_softmax)
    graph = converter.run()
    _check_agreement(torch, module, graph, x, converter.dropped)
    return graph


def _check_agreement(torch, module, graph, x, dropped) -> None:
    from ... import reference
    try:
        with torch.no_grad():
            want = module(x)
    except Exception as e:
        raise CompileError(f"the module fails on the example input of shape "
                           f"{tuple(x.shape)} ({type(e).__name__}: {e})") from None
    if not isinstance(want, torch.Tensor):
        raise CompileError(f"forward returns {type(want).__name__}; hwconv takes one tensor")
    want = want.double().numpy()
    got = reference.run_float(graph, x.double().numpy())
    if dropped:        # the module's output is the log-softmax of the graph's
        m = got.max(axis=1, keepdims=True)
        got = got - m - np.log(np.exp(got - m).sum(axis=1, keepdims=True))
    want = want.reshape(got.shape) if want.size == got.size else want
    if want.shape != got.shape or \
            np.abs(got - want).max() > AGREEMENT * (1 + np.abs(want).max()):
        diff = np.abs(got - want).max() if want.shape == got.shape else "shape"
        raise CompileError(f"the imported graph disagrees with the module on the example "
                           f"input (max difference {diff}); this is a construct hwconv "
                           f"misreads: please report it, or export the model to ONNX")


def load_torch_file(path, input_shape=None, *, drop_log_softmax: bool = False) -> ir.Graph:
    """A whole module saved with ``torch.save(module, path)``; it is put in eval mode."""
    torch = _torch()
    path = pathlib.Path(path)
    if input_shape is None:
        raise CompileError(f"{path}: a saved PyTorch module does not record its input's "
                           f"shape; give it with --input-shape C,H,W")
    try:
        # A whole pickled module: unpickling runs code from the file, like torch.load
        # itself; only compile files you trust.
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise CompileError(f"{path}: cannot read the file (no such file)") from None
    except Exception as e:
        raise CompileError(f"{path}: torch.load cannot read it ({type(e).__name__}: "
                           f"{str(e).splitlines()[0] if str(e) else ''}); save the whole "
                           f"module with torch.save(model, path) from code whose classes "
                           f"are importable here, or export to ONNX") from None
    if isinstance(obj, dict):
        raise CompileError(f"{path}: holds a state_dict (a dict of tensors), not a module; "
                           f"save the whole module with torch.save(model, path), or export "
                           f"it to ONNX")
    if isinstance(obj, torch.jit.ScriptModule):
        raise CompileError(f"{path}: holds a TorchScript module, which torch.fx cannot "
                           f"trace; save the Python module or export to ONNX")
    if not isinstance(obj, torch.nn.Module):
        raise CompileError(f"{path}: holds a {type(obj).__name__}, not a torch.nn.Module")
    obj.eval()
    x = torch.randn((1, *input_shape), generator=torch.Generator().manual_seed(0))
    return load_torch(obj, x, drop_log_softmax=drop_log_softmax)
