"""The dataflow graph: immutable nodes in topological order, one frozen dataclass per kind.

Tensors are feature maps shaped (C, H, W) or vectors shaped (N,). A graph is *float*
while its nodes carry no FixedType, and *quantized* once every node has its output type
(and every weighted node its weight type). Weights stay float in the graph; their integers
come from ``hwconv.fixed.quantize`` on demand, so the reference and the RTL share them.
"""
from __future__ import annotations

import json
import math
import pathlib
from dataclasses import dataclass, field, fields, replace
from typing import ClassVar

import numpy as np

from .errors import CompileError
from .fixed import FixedType, counting_saturations, quantize

__all__ = ["Node", "Input", "Conv2d", "Elementwise", "ReLU", "Threshold", "HardTanh", "Abs",
           "Shrink", "Tanh", "Sigmoid", "Square", "Sqrt", "Reciprocal", "Pool2d", "MaxPool2d", "AvgPool2d",
           "SumPool2d", "LpPool2d", "GlobalPool",
           "Flatten", "Relayout", "Linear", "Binary", "Add", "Sub", "Div", "Requantize", "Scale", "LocalNorm",
           "Exp", "ChannelReduce", "Softmax", "BatchNorm", "LRN", "Log", "LogSoftmax", "Power", "Max", "Repeat", "Output",
           "Graph",
           "NODE_KINDS"]

Shape = tuple[int, ...]


@dataclass(frozen=True, eq=False)
class Node:
    """A node: its name, the names of the nodes it reads, and its output type once quantized."""

    name: str
    inputs: tuple[str, ...] = ()
    fixed: FixedType | None = None

    op: ClassVar[str] = "Node"
    arity: ClassVar[int] = 1   # how many inputs the kind takes

    def out_shape(self, in_shapes: list[Shape]) -> Shape:
        raise NotImplementedError

    def error(self, message: str, attribute: str | None = None) -> CompileError:
        return CompileError(message, node=self.name, op=self.op, attribute=attribute)

    def params(self) -> dict[str, np.ndarray]:
        """Array-valued fields (weights), saved beside graph.json."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if isinstance(getattr(self, f.name), np.ndarray)}


def _map(node: Node, shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise node.error(f"expects a (C, H, W) feature map, got shape {shape}")
    return shape


@dataclass(frozen=True, eq=False)
class Input(Node):
    shape: Shape = ()
    op: ClassVar[str] = "Input"
    arity: ClassVar[int] = 0

    def out_shape(self, in_shapes):
        return tuple(self.shape)


@dataclass(frozen=True, eq=False)
class Conv2d(Node):
    """Cross-correlation: weight (O, C, kh, kw) over every input channel, bias (O,); pads
    (top, left, bottom, right) of zeros; any stride; dilation (dh, dw).

    ``connections`` (O, C) bool says which input channels each output sums (grouped and
    depthwise convolution, Torch7 connection tables); their weights outside it are zero.
    None means every output reads every input.
    """

    weight: np.ndarray = None
    bias: np.ndarray = None
    stride: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilation: tuple[int, int] = (1, 1)
    connections: np.ndarray | None = None
    weight_fixed: FixedType | None = None
    op: ClassVar[str] = "Conv"

    @property
    def kernel(self) -> tuple[int, int]:
        """The extent of the (dilated) kernel on the input map."""
        (kh, kw), (dh, dw) = self.weight.shape[2:], self.dilation
        return ((kh - 1) * dh + 1, (kw - 1) * dw + 1)

    def taps(self) -> np.ndarray:
        """(O, C, kh, kw) bool over the dilated kernel: the products each output sums."""
        o, c, kh, kw = self.weight.shape
        conn = np.ones((o, c), bool) if self.connections is None else self.connections
        taps = np.zeros((o, c, *self.kernel), bool)
        taps[:, :, ::self.dilation[0], ::self.dilation[1]] = conn[:, :, None, None]
        return taps

    @property
    def fan_in(self) -> int:
        return int(self.taps().reshape(self.weight.shape[0], -1).sum(axis=1).max())

    def out_shape(self, in_shapes):
        c, h, w = _map(self, in_shapes[0])
        o, i = self.weight.shape[:2]
        if i != c:
            raise self.error(f"weight has {i} input channels but the input has {c}", "weight")
        if min(self.stride) < 1 or min(self.dilation) < 1:
            raise self.error(f"stride {self.stride} and dilation {self.dilation} must be "
                             f"at least 1", "strides")
        if self.connections is not None:
            if self.connections.shape != (o, c):
                raise self.error(f"connections {self.connections.shape} must be (outputs, "
                                 f"inputs) = {(o, c)}", "connections")
            if np.any(self.weight[~self.connections.astype(bool)]):
                raise self.error("has non-zero weights outside its connections", "weight")
        kh, kw = self.kernel
        t, l, b, r = self.pads
        hp, wp = h + t + b, w + l + r
        if hp < kh or wp < kw:
            raise self.error(f"kernel {kh}x{kw} is larger than the padded input {hp}x{wp}",
                             "kernel_shape")
        return (o, (hp - kh) // self.stride[0] + 1, (wp - kw) // self.stride[1] + 1)


def ungroup(weight: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Grouped weights (O, C/groups, kh, kw), as ONNX and PyTorch hold them, to dense
    (O, C, kh, kw) weights and their (O, C) connections."""
    o, cg, kh, kw = weight.shape
    c = cg * groups
    dense = np.zeros((o, c, kh, kw), dtype=weight.dtype)
    conn = np.zeros((o, c), bool)
    per_group = o // groups
    for k in range(o):
        g = k // per_group
        dense[k, g * cg:(g + 1) * cg] = weight[k]
        conn[k, g * cg:(g + 1) * cg] = True
    return dense, conn


def dilate(weight: np.ndarray, dilation) -> np.ndarray:
    """(O, C, kh, kw) weights spread over the dilated kernel, zeros between."""
    o, c, kh, kw = weight.shape
    dh, dw = dilation
    out = np.zeros((o, c, (kh - 1) * dh + 1, (kw - 1) * dw + 1), dtype=weight.dtype)
    out[:, :, ::dh, ::dw] = weight
    return out


@dataclass(frozen=True, eq=False)
class Elementwise(Node):
    """A function of each value on its own: the shape is unchanged."""

    def out_shape(self, in_shapes):
        return in_shapes[0]


@dataclass(frozen=True, eq=False)
class ReLU(Elementwise):
    op: ClassVar[str] = "Relu"


@dataclass(frozen=True, eq=False)
class Threshold(Elementwise):
    """x if x > threshold else value (Torch7 nn.Threshold)."""

    threshold: float = 0.0
    value: float = 0.0
    op: ClassVar[str] = "Threshold"


@dataclass(frozen=True, eq=False)
class HardTanh(Elementwise):
    """x clamped to [min_val, max_val] (Torch7 HardTanh, ONNX Clip)."""

    min_val: float = -1.0
    max_val: float = 1.0
    op: ClassVar[str] = "HardTanh"

    def out_shape(self, in_shapes):
        if not self.min_val <= self.max_val:
            raise self.error(f"min {self.min_val} is above max {self.max_val}", "min")
        return in_shapes[0]


@dataclass(frozen=True, eq=False)
class Abs(Elementwise):
    op: ClassVar[str] = "Abs"


@dataclass(frozen=True, eq=False)
class Shrink(Elementwise):
    """x - bias if x > lambd, x + bias if x < -lambd, else 0 (ONNX Shrink; soft shrink
    has bias = lambd, hard shrink bias = 0)."""

    lambd: float = 0.5
    bias: float = 0.0
    op: ClassVar[str] = "Shrink"

    def out_shape(self, in_shapes):
        if self.lambd < 0:
            raise self.error(f"lambd {self.lambd} is negative", "lambd")
        return in_shapes[0]


@dataclass(frozen=True, eq=False)
class Square(Elementwise):
    """x * x, exact: twice the bits and fractional bits."""

    op: ClassVar[str] = "Square"

    def exact_type(self, t: FixedType) -> FixedType:
        return FixedType(min(48, 2 * t.width), 2 * t.frac)


@dataclass(frozen=True, eq=False)
class Sqrt(Elementwise):
    """gain * sqrt(max(x, 0)) through a normalized interpolated table
    (tables.NormalizedTable)."""

    gain: float = 1.0
    op: ClassVar[str] = "Sqrt"
    function: ClassVar[str] = "sqrt"

    def out_shape(self, in_shapes):
        if not 0 < self.gain <= 1:
            raise self.error(f"gain {self.gain} must be in (0, 1]", "gain")
        return in_shapes[0]


@dataclass(frozen=True, eq=False)
class Power(Sqrt):
    """gain * max(x, 0) ** power, by a normalized table (Lp pooling's p-th powers and
    roots)."""

    power: float = 2.0
    wide: bool = False   # twice the bits: p-th powers of small values must not round to 0
    op: ClassVar[str] = "Pow"
    function: ClassVar[str] = "power"

    def out_shape(self, in_shapes):
        if not -4 <= self.power <= 4 or self.power == 0:
            raise self.error(f"power {self.power} is not supported; use -4 to 4, not 0",
                             "power")
        return super().out_shape(in_shapes)


@dataclass(frozen=True, eq=False)
class Log(Sqrt):
    """log(x) (x <= 0 saturates to the most negative code), by a normalized table."""

    op: ClassVar[str] = "Log"
    function: ClassVar[str] = "log"


@dataclass(frozen=True, eq=False)
class Reciprocal(Sqrt):
    """gain / max(x, 0) (saturating where x <= 0), like Sqrt through a normalized table."""

    op: ClassVar[str] = "Reciprocal"
    function: ClassVar[str] = "reciprocal"


@dataclass(frozen=True, eq=False)
class Tanh(Elementwise):
    """Through a generated table with linear interpolation (hwconv.tables)."""

    op: ClassVar[str] = "Tanh"
    function: ClassVar[str] = "tanh"


@dataclass(frozen=True, eq=False)
class Sigmoid(Elementwise):
    op: ClassVar[str] = "Sigmoid"
    function: ClassVar[str] = "sigmoid"


@dataclass(frozen=True, eq=False)
class Exp(Elementwise):
    """exp(x) for x <= 0 (as in softmax, after the maximum is subtracted), by table."""

    op: ClassVar[str] = "Exp"
    function: ClassVar[str] = "exp"


@dataclass(frozen=True, eq=False)
class Pool2d(Node):
    """A window reduction per channel; pads (top, left, bottom, right); ``ceil_mode``
    adds the last partial windows (as ONNX and PyTorch: a window must start inside the
    input or its left/top padding). ``dilation`` (dh, dw) spreads the kernel's taps:
    the window covers ``extent`` pixels and reduces every dh-th row, dw-th column."""

    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    ceil_mode: bool = False
    dilation: tuple[int, int] = (1, 1)

    @property
    def extent(self) -> tuple[int, int]:
        """The extent of the (dilated) window on the padded map."""
        (kh, kw), (dh, dw) = self.kernel, self.dilation
        return ((kh - 1) * dh + 1, (kw - 1) * dw + 1)

    def tap_indices(self) -> list[int]:
        """The taps' positions in a window of ``extent`` pixels, row-major."""
        (kh, kw), (dh, dw), (_, ew) = self.kernel, self.dilation, self.extent
        return [i * dh * ew + j * dw for i in range(kh) for j in range(kw)]

    def _extent(self, size: int, k: int, s: int, before: int, after: int) -> int:
        span = size + before + after - k
        if not self.ceil_mode:
            return span // s + 1
        n = -(-span // s) + 1
        return n - 1 if (n - 1) * s >= size + before else n

    def out_shape(self, in_shapes):
        c, h, w = _map(self, in_shapes[0])
        (sh, sw) = self.stride
        t, l, b, r = self.pads
        if min(sh, sw, *self.kernel, *self.dilation) < 1:
            raise self.error(f"kernel {self.kernel}, stride {self.stride} and dilation "
                             f"{self.dilation} must be at least 1", "strides")
        kh, kw = self.extent
        if max(t, b) >= kh or max(l, r) >= kw:
            raise self.error(f"pads {self.pads} must be smaller than the kernel {kh}x{kw}",
                             "pads")
        if h + t + b < kh or w + l + r < kw:
            raise self.error(f"kernel {kh}x{kw} is larger than the padded input "
                             f"{h + t + b}x{w + l + r}", "kernel_shape")
        return (c, self._extent(h, kh, sh, t, b), self._extent(w, kw, sw, l, r))

    def window_pads(self, in_shape) -> tuple[int, int, int, int]:
        """The padding the windows really see: ``pads`` plus, in ceil mode, what the last
        partial windows reach beyond them."""
        _, h, w = in_shape
        _, ho, wo = self.out_shape([tuple(in_shape)])
        (kh, kw), (sh, sw) = self.extent, self.stride
        t, l, b, r = self.pads
        return (t, l, max(b, (ho - 1) * sh + kh - h - t), max(r, (wo - 1) * sw + kw - w - l))


@dataclass(frozen=True, eq=False)
class MaxPool2d(Pool2d):
    """The largest value of each window; padding never wins (it is -infinity)."""

    op: ClassVar[str] = "MaxPool"


@dataclass(frozen=True, eq=False)
class AvgPool2d(Pool2d):
    """The mean of each window. ``count_include_pad``: zero padding counts in the divisor
    (the extra reach of ceil mode never does), else only the input's own values count."""

    count_include_pad: bool = True
    op: ClassVar[str] = "AveragePool"

    @property
    def count(self) -> int:
        return self.kernel[0] * self.kernel[1]

    def counts(self, in_shape) -> tuple[np.ndarray, np.ndarray]:
        """Values counted per output row and per output column; a window's divisor is
        their product (the counted region is a rectangle)."""
        _, h, w = in_shape
        _, ho, wo = self.out_shape([tuple(in_shape)])
        t, l, b, r = self.pads

        def along(n_out, k, s, d, before, after, size):
            lo, hi = (-before, size + after) if self.count_include_pad else (0, size)
            taps = np.arange(n_out)[:, None] * s - before + np.arange(k)[None, :] * d
            return ((taps >= lo) & (taps < hi)).sum(axis=1)

        return (along(ho, self.kernel[0], self.stride[0], self.dilation[0], t, b, h),
                along(wo, self.kernel[1], self.stride[1], self.dilation[1], l, r, w))

    def uniform(self, in_shape) -> bool:
        ch, cw = self.counts(in_shape)
        return bool(np.all(ch == self.kernel[0]) and np.all(cw == self.kernel[1]))


@dataclass(frozen=True, eq=False)
class SumPool2d(Pool2d):
    """The exact sum of each window (zero padding), in a type wide enough for it."""

    op: ClassVar[str] = "SumPool"

    def exact_type(self, t: FixedType) -> FixedType:
        n = self.kernel[0] * self.kernel[1]
        return FixedType(min(48, t.width + max(0, math.ceil(math.log2(n)))), t.frac)


@dataclass(frozen=True, eq=False)
class LpPool2d(Pool2d):
    """(mean or sum of |x|**p over each window) ** (1/p), 1 <= p <= 4.

    ``mean``: Torch7 SpatialLPPooling divides by the window size; ONNX LpPool sums.
    Lowered before quantization into Square -> SumPool2d -> Sqrt for p = 2, and
    Abs -> Power(p) -> SumPool2d -> Power(1/p) otherwise (passes/lower.py)."""

    p: float = 2
    mean: bool = False
    op: ClassVar[str] = "LpPool"

    def out_shape(self, in_shapes):
        if not 1 <= self.p <= 4:
            raise self.error(f"p={self.p} is not supported; use 1 <= p <= 4", "p")
        return super().out_shape(in_shapes)


@dataclass(frozen=True, eq=False)
class GlobalPool(Node):
    """The mean or the maximum of each channel over the whole map: (C, H, W) -> (C, 1, 1)."""

    mode: str = "avg"
    op: ClassVar[str] = "GlobalPool"

    def out_shape(self, in_shapes):
        c, h, w = _map(self, in_shapes[0])
        if self.mode not in ("avg", "max"):
            raise self.error(f"mode {self.mode!r} is not 'avg' or 'max'", "mode")
        return (c, 1, 1)

    @property
    def reduces_max(self) -> bool:
        return self.mode == "max"


@dataclass(frozen=True, eq=False)
class Flatten(Node):
    """(C, H, W) to (C*H*W,) in C-major order, as ONNX and PyTorch flatten."""

    op: ClassVar[str] = "Flatten"

    def out_shape(self, in_shapes):
        return (math.prod(in_shapes[0]),)


@dataclass(frozen=True, eq=False)
class Relayout(Node):
    """Each frame's values in another order: output value i (C-major) is input value
    ``index.flat[i]``, and the output has ``index``'s shape ((C, H, W) or (N,)). Reshapes
    and transposes that move values, a vector made a map, edge, reflect and wrap padding
    (where values repeat). The hardware holds a frame in block RAM."""

    index: np.ndarray = None
    op: ClassVar[str] = "Relayout"

    def out_shape(self, in_shapes):
        n = math.prod(in_shapes[0])
        idx = self.index
        if idx is None or idx.ndim not in (1, 3) or idx.size == 0 or \
                not np.issubdtype(idx.dtype, np.integer):
            raise self.error("index must be a non-empty integer (C, H, W) or (N,) array",
                             "index")
        if idx.min() < 0 or idx.max() >= n:
            raise self.error(f"index reads outside the {n} values of its input", "index")
        return tuple(int(d) for d in idx.shape)


@dataclass(frozen=True, eq=False)
class Linear(Node):
    """weight (O, I), bias (O,): y = W x + b on a vector."""

    weight: np.ndarray = None
    bias: np.ndarray = None
    weight_fixed: FixedType | None = None
    op: ClassVar[str] = "Gemm"

    def out_shape(self, in_shapes):
        if len(in_shapes[0]) != 1:
            raise self.error(f"expects a vector, got shape {in_shapes[0]}; flatten it first")
        (n,) = in_shapes[0]
        if self.weight.shape[1] != n:
            raise self.error(f"weight has {self.weight.shape[1]} inputs but the input has {n}",
                             "weight")
        return (self.weight.shape[0],)


@dataclass(frozen=True, eq=False)
class Binary(Node):
    """Two tensors of the same shape, or a (C, H, W) map and a one-channel (1, H, W) map
    that applies to every channel."""

    arity: ClassVar[int] = 2

    def out_shape(self, in_shapes):
        a, b = in_shapes
        if a != b and not (len(a) == len(b) and b[0] == 1 and a[1:] == b[1:]):
            raise self.error(f"combines tensors of shapes {a} and {b}; only equal shapes or "
                             f"a one-channel second map are supported", "B")
        return a


@dataclass(frozen=True, eq=False)
class Max(Binary):
    """max(a, b), element-wise."""

    op: ClassVar[str] = "Max"
    sign: ClassVar[int] = 0


@dataclass(frozen=True, eq=False)
class Repeat(Node):
    """A (C, 1, 1) value per frame repeated over a (C, H, W) map (a frame-wide statistic
    applied at every position)."""

    shape: Shape = ()
    op: ClassVar[str] = "Repeat"

    def out_shape(self, in_shapes):
        c = in_shapes[0][0]
        if tuple(in_shapes[0]) != (c, 1, 1) or len(self.shape) != 3 or self.shape[0] != c:
            raise self.error(f"repeats a {in_shapes[0]} value over {self.shape}; give a "
                             f"(C, 1, 1) input and a (C, H, W) shape", "shape")
        return tuple(self.shape)


@dataclass(frozen=True, eq=False)
class Add(Binary):
    """a + b, element-wise (residual connections)."""

    op: ClassVar[str] = "Add"
    sign: ClassVar[int] = 1


@dataclass(frozen=True, eq=False)
class Sub(Binary):
    """a - b, element-wise (subtractive normalization)."""

    op: ClassVar[str] = "Sub"
    sign: ClassVar[int] = -1


@dataclass(frozen=True, eq=False)
class Div(Binary):
    """gain * a * max(b, 0) ** power (power -1: a division), through b's normalized
    table (the result is rounded once; it saturates where b <= 0 and power < 0)."""

    gain: float = 1.0
    power: float = -1.0
    op: ClassVar[str] = "Div"

    @property
    def function(self) -> str:
        return "reciprocal" if self.power == -1 else "power"


@dataclass(frozen=True, eq=False)
class ChannelReduce(Node):
    """Across the channels of each pixel (or the values of a vector): ``max``, ``sum``
    (exact, wider type) or ``argmax`` (the first index of the maximum, an integer type).
    (C, H, W) -> (1, H, W); (N,) -> (1,)."""

    mode: str = "max"
    op: ClassVar[str] = "ChannelReduce"

    def out_shape(self, in_shapes):
        if self.mode not in ("max", "sum", "argmax"):
            raise self.error(f"mode {self.mode!r} is not max, sum or argmax", "mode")
        return (1, *in_shapes[0][1:])

    def exact_type(self, t: FixedType, channels: int) -> FixedType:
        if self.mode == "max":
            return t
        if self.mode == "sum":
            return FixedType(min(48, t.width + max(1, math.ceil(math.log2(channels)))), t.frac)
        return FixedType(max(2, channels.bit_length() + 1), 0)


@dataclass(frozen=True, eq=False)
class LogSoftmax(Node):
    """x - max - log(sum(exp(x - max))) across channels (or a vector's values). Lowered to
    ChannelReduce max -> Sub -> Exp -> ChannelReduce sum -> Log -> Sub."""

    op: ClassVar[str] = "LogSoftmax"

    def out_shape(self, in_shapes):
        return in_shapes[0]


@dataclass(frozen=True, eq=False)
class LRN(Node):
    """Cross-channel local response normalization (ONNX LRN, Caffe ACROSS_CHANNELS):
    x / (bias + alpha / size * sum of x**2 over ``size`` neighbouring channels) ** beta.
    Lowered to Square -> Requantize -> a banded 1x1 convolution -> Div(power=-beta)."""

    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    bias: float = 1.0
    op: ClassVar[str] = "LRN"

    def out_shape(self, in_shapes):
        _map(self, in_shapes[0])
        if self.size < 1:
            raise self.error(f"size {self.size} must be at least 1", "size")
        if not 0 < self.beta <= 4:
            raise self.error(f"beta {self.beta} is not supported; use 0 < beta <= 4", "beta")
        if self.bias <= 0 or self.alpha < 0:
            raise self.error(f"bias {self.bias} must be positive and alpha {self.alpha} not "
                             f"negative", "bias")
        return in_shapes[0]

    def window(self, channels: int) -> np.ndarray:
        """(C, C) bool: channel i is in the sum for output channel o."""
        lo, hi = (self.size - 1) // 2, math.ceil((self.size - 1) / 2)
        o, i = np.meshgrid(np.arange(channels), np.arange(channels), indexing="ij")
        return (i >= o - lo) & (i <= o + hi)


@dataclass(frozen=True, eq=False)
class Softmax(Node):
    """exp(x - max) / sum(exp(x - max)) across channels (or a vector's values). Lowered
    to ChannelReduce max -> Sub -> Exp -> ChannelReduce sum -> Div (passes/lower.py)."""

    op: ClassVar[str] = "Softmax"

    def out_shape(self, in_shapes):
        return in_shapes[0]


@dataclass(frozen=True, eq=False)
class BatchNorm(Node):
    """x * scale[c] + shift[c] per channel: batch normalization in inference form.
    Folded into the preceding convolution or Linear (passes/fold_batchnorm.py), or else
    made a depthwise 1x1 convolution, before quantization."""

    scale: np.ndarray = None
    shift: np.ndarray = None
    op: ClassVar[str] = "BatchNormalization"

    def out_shape(self, in_shapes):
        c = in_shapes[0][0]
        if self.scale.shape != (c,) or self.shift.shape != (c,):
            raise self.error(f"scale {self.scale.shape} and shift {self.shift.shape} must "
                             f"have one value per channel ({c})", "scale")
        return in_shapes[0]


@dataclass(frozen=True, eq=False)
class Requantize(Elementwise):
    """The same values in a calibrated (usually narrower) type."""

    op: ClassVar[str] = "Requantize"


@dataclass(frozen=True, eq=False)
class Scale(Elementwise):
    """x times a constant per position, the same for every channel: ``scale`` (H, W).
    Torch7's local normalizations divide by such a map of border coefficients."""

    scale: np.ndarray = None
    op: ClassVar[str] = "Scale"

    def out_shape(self, in_shapes):
        c, h, w = _map(self, in_shapes[0])
        if self.scale.shape != (h, w):
            raise self.error(f"scale map {self.scale.shape} does not match the map {(h, w)}",
                             "scale")
        return in_shapes[0]

    def scale_fixed(self, bits: int = 18) -> FixedType:
        from .compiler.passes.quantize import frac_for
        return FixedType(bits, frac_for(float(np.abs(self.scale).max()), bits))


@dataclass(frozen=True, eq=False)
class LocalNorm(Node):
    """Torch7 local normalization over a neighbourhood across all maps: ``mode`` is
    subtractive, divisive or contrastive (subtractive then divisive), with the given odd
    ``kernel`` (2-D), ``threshold`` and ``thresval`` (nn.Spatial*Normalization).
    Lowered before quantization (passes/lower.py)."""

    mode: str = "contrastive"
    kernel: np.ndarray = None
    threshold: float = 1e-4
    thresval: float = 1e-4
    # nnx.SpatialNormalization without a fixed threshold: the std is raised to at least
    # the mean std over the whole frame (and at least ``threshold``): a second pass, so
    # the hardware holds the frame until that mean is known.
    adaptive: bool = False
    op: ClassVar[str] = "LocalNorm"

    def out_shape(self, in_shapes):
        c, h, w = _map(self, in_shapes[0])
        if self.mode not in ("subtractive", "divisive", "contrastive"):
            raise self.error(f"mode {self.mode!r} is not subtractive, divisive or "
                             f"contrastive", "mode")
        if self.kernel.ndim != 2 or self.kernel.shape[0] % 2 == 0 or \
                self.kernel.shape[1] % 2 == 0:
            raise self.error(f"kernel of shape {self.kernel.shape} must be 2-D and odd-sized",
                             "kernel")
        return in_shapes[0]


@dataclass(frozen=True, eq=False)
class Output(Node):
    op: ClassVar[str] = "Output"

    def out_shape(self, in_shapes):
        return in_shapes[0]


NODE_KINDS: dict[str, type[Node]] = {
    k.__name__: k for k in (Input, Conv2d, ReLU, Threshold, HardTanh, Abs, Shrink, Tanh,
                            Sigmoid, Square, Sqrt, Reciprocal, MaxPool2d, AvgPool2d, SumPool2d, LpPool2d,
                            GlobalPool, Flatten, Relayout, Linear, Add, Sub, Div, Requantize, Scale,
                            LocalNorm, Exp, ChannelReduce, Softmax, BatchNorm, LRN, Log,
                            LogSoftmax, Power, Max, Repeat, Output)}

WEIGHTED = (Conv2d, Linear)
TABLED = (Tanh, Sigmoid, Exp)
# Kinds whose output type follows exactly from the input's (``exact_type``).
EXACT = (Square, SumPool2d, ChannelReduce)
# Kinds whose output type is chosen from calibration ranges.
CALIBRATED = (Input, Conv2d, Linear, Add, Sub, Max, Div, Sqrt, Requantize, Scale)
# Kinds whose output type is their input's: they never requantize.
SAME_TYPE = (ReLU, Threshold, HardTanh, Abs, Shrink, MaxPool2d, AvgPool2d, GlobalPool, Flatten,
             Relayout, Repeat, Output)


def mean_multiplier(count: int, t: FixedType, most: int | None = None) -> tuple[int, int]:
    """(R, s): a mean of ``count`` codes is ``requantize(sum * R, t.frac + s, t)``.

    R = round(2**s / count) with s = (t.width - 1) + ceil(log2(most)), ``most`` the largest
    count the unit sees (``count`` by default), so the reciprocal's own error adds at most
    1/2 LSB: |sum| * |R/2**s - 1/count| <= 2**(w-1) * count / 2**(s+1).
    """
    s = (t.width - 1) + max(0, math.ceil(math.log2(most or count)))
    return int(quantize(1.0 / count, FixedType(min(48, s + 2), s))), s


def table(node: Node, in_fixed: FixedType):
    """The interpolation table of a Tanh or Sigmoid node, generated from its types."""
    from .tables import make_table
    return make_table(node.function, in_fixed, node.fixed)


def exact_type(graph: "Graph", node: Node) -> FixedType:
    """The output type of an EXACT kind, from its input's type (and channel count)."""
    t = graph.in_fixed(node)
    if isinstance(node, ChannelReduce):
        return node.exact_type(t, graph.shape(node.inputs[0])[0])
    return node.exact_type(t)


def normalized_table(node: Node, in_fixed: FixedType):
    """The table of a Sqrt, Reciprocal or Div node (``in_fixed``: the type of the value
    whose root or reciprocal is taken), generated from its types and gain."""
    from .tables import NormalizedTable
    return NormalizedTable(node.function, in_fixed.frac, node.fixed, node.gain,
                           getattr(node, "power", -1.0))


def threshold_codes(node, in_fixed: FixedType) -> dict[str, int]:
    """The integer constants of a comparing or clamping node, in its input's type.

    A comparison ``x > t`` on reals is ``code > floor(t * 2**frac)`` on codes, exactly;
    replacement values and clamp limits are quantized like any value (round half up).
    """
    def floor_code(v):
        return int(np.clip(math.floor(np.ldexp(v, in_fixed.frac)), in_fixed.min_int - 1,
                           in_fixed.max_int))

    def code(v):
        with counting_saturations(False):
            return int(quantize(v, in_fixed))

    if isinstance(node, Threshold):
        return {"threshold": floor_code(node.threshold), "value": code(node.value)}
    if isinstance(node, HardTanh):
        return {"min": code(node.min_val), "max": code(node.max_val)}
    if isinstance(node, Shrink):
        return {"lambd": floor_code(node.lambd), "bias": code(node.bias)}
    return {}


def acc_frac(node: Node, in_fixed: FixedType) -> int:
    """Fractional bits of a weighted node's accumulator: products are exact."""
    return in_fixed.frac + node.weight_fixed.frac


def acc_type(node: Node, in_fixed: FixedType) -> FixedType:
    """The accumulator type: wide enough that the bias plus the sum of products never
    overflows (the products alone need in + weight + log2(fan_in) bits; a large bias at
    this fine scale can need more)."""
    fan_in = node.fan_in if isinstance(node, Conv2d) else node.weight.shape[1]
    frac = acc_frac(node, in_fixed)
    products = in_fixed.width + node.weight_fixed.width + max(1, math.ceil(math.log2(fan_in)))
    bias_max = float(np.abs(node.bias).max()) if node.bias.size else 0.0
    bias_bits = math.ceil(math.log2(bias_max * 2.0 ** frac + 1)) + 1
    width = max(products, bias_bits) + 1
    if width > 48:
        raise node.error(f"the bias ({bias_max:g}) needs a {width}-bit accumulator at "
                         f"{frac} fractional bits, more than a DSP48E1's 48; use fewer "
                         f"weight bits (--bits) or rescale the layer", "bias")
    return FixedType(width, frac)


def weight_ints(node: Node) -> np.ndarray:
    with counting_saturations(False):   # parameters are not the layer's outputs
        return quantize(node.weight, node.weight_fixed)


def bias_ints(node: Node, in_fixed: FixedType) -> np.ndarray:
    """Bias at the accumulator's scale, so it adds to the exact sum of products."""
    with counting_saturations(False):
        return quantize(node.bias, acc_type(node, in_fixed))


@dataclass(frozen=True, eq=False)
class Graph:
    """Nodes in topological order; exactly one Input and one Output (for now)."""

    nodes: tuple[Node, ...]
    _shapes: dict = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "_shapes", self._infer_shapes())

    # -- structure ---------------------------------------------------------------------

    def _infer_shapes(self) -> dict[str, Shape]:
        shapes: dict[str, Shape] = {}
        for node in self.nodes:
            if node.name in shapes:
                raise node.error("name is used by two nodes; names must be unique")
            for i in node.inputs:
                if i not in shapes:
                    raise node.error(f"reads {i!r}, which is not defined before it")
            shapes[node.name] = tuple(int(d) for d in node.out_shape([shapes[i] for i in node.inputs]))
        return shapes

    def __getitem__(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def __contains__(self, name: str) -> bool:
        return name in self._shapes

    def shape(self, name: str) -> Shape:
        return self._shapes[name]

    @property
    def input(self) -> Input:
        return next(n for n in self.nodes if isinstance(n, Input))

    @property
    def output(self) -> Output:
        return next(n for n in self.nodes if isinstance(n, Output))

    @property
    def quantized(self) -> bool:
        return all(n.fixed is not None for n in self.nodes)

    def replace_node(self, name: str, **changes) -> "Graph":
        return Graph(tuple(replace(n, **changes) if n.name == name else n for n in self.nodes))

    def in_fixed(self, node: Node) -> FixedType:
        """The type of the node's (first) input."""
        return self[node.inputs[0]].fixed

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.inputs]

    def verify(self) -> "Graph":
        """Check the invariants every pass must keep; returns self so passes can chain."""
        kinds = [type(n) for n in self.nodes]
        if kinds.count(Input) != 1 or kinds.count(Output) != 1:
            raise CompileError("a graph needs exactly one Input and one Output node")
        for node in self.nodes:
            if len(node.inputs) != node.arity:
                raise node.error(f"has {len(node.inputs)} inputs; this kind takes "
                                 f"{node.arity}")
            for name, arr in node.params().items():
                if not np.all(np.isfinite(arr)):
                    raise node.error("holds NaN or infinite values", name)
            if isinstance(node, WEIGHTED) and node.bias.shape != (node.weight.shape[0],):
                raise node.error(f"bias shape {node.bias.shape} does not match "
                                 f"{node.weight.shape[0]} outputs", "bias")
        fixed = [n.fixed is not None for n in self.nodes]
        if any(fixed) and not all(fixed):
            missing = [n.name for n in self.nodes if n.fixed is None]
            raise CompileError(f"graph is partly quantized; nodes without a type: {missing}")
        if all(fixed):
            for node in self.nodes:
                if isinstance(node, WEIGHTED) and node.weight_fixed is None:
                    raise node.error("quantized graph but the weights have no type", "weight")
                if isinstance(node, EXACT) and node.fixed != exact_type(self, node):
                    raise node.error(f"output type {node.fixed} is not the exact "
                                     f"{exact_type(self, node)}")
                if isinstance(node, SAME_TYPE) and \
                        node.fixed != self.in_fixed(node):
                    raise node.error(f"output type {node.fixed} differs from its input's "
                                     f"{self.in_fixed(node)}; this kind does not requantize")
        return self

    # -- files -------------------------------------------------------------------------

    def to_json(self) -> dict:
        out = []
        for n in self.nodes:
            d = {"kind": type(n).__name__}
            for f in fields(n):
                v = getattr(n, f.name)
                if isinstance(v, np.ndarray):
                    continue
                if isinstance(v, FixedType):
                    v = v.to_json()
                d[f.name] = list(v) if isinstance(v, tuple) else v
            d["out_shape"] = list(self.shape(n.name))
            out.append(d)
        return {"format": "hwconv-graph-1", "nodes": out}

    def save(self, folder: pathlib.Path) -> None:
        """graph.json (structure and types) and weights.npz (float weights, exact)."""
        folder = pathlib.Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "graph.json").write_text(json.dumps(self.to_json(), indent=1))
        arrays = {f"{n.name}/{k}": v for n in self.nodes for k, v in n.params().items()}
        np.savez(folder / "weights.npz", **arrays)

    @classmethod
    def load(cls, folder: pathlib.Path) -> "Graph":
        folder = pathlib.Path(folder)
        try:
            doc = json.loads((folder / "graph.json").read_text())
            arrays = dict(np.load(folder / "weights.npz"))
        except (OSError, ValueError) as e:
            raise CompileError(f"{folder} is not a hwconv design folder ({e}); "
                               f"make one with `hwconv compile`") from None
        nodes = []
        for d in doc["nodes"]:
            kind = NODE_KINDS[d.pop("kind")]
            d.pop("out_shape", None)
            for f in fields(kind):
                if f.name in d and isinstance(d[f.name], list):
                    d[f.name] = tuple(d[f.name])
                if f.name in ("fixed", "weight_fixed") and d.get(f.name):
                    d[f.name] = FixedType.from_json(d[f.name])
            for key, arr in arrays.items():
                node_name, _, field_name = key.rpartition("/")
                if node_name == d["name"]:
                    d[field_name] = arr
            nodes.append(kind(**d))
        return cls(tuple(nodes)).verify()
