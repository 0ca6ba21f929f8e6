"""Torch7 binary .t7 / .net files to a float hwconv Graph.

Files are read with torchfile 0.1.0 (``T7Reader(f, use_list_heuristic=False)``, which is
what ``torchfile.load(path, use_list_heuristic=False)`` does), with bounds checks added
so that a truncated or corrupted file gives a CompileError rather than a crash: strings,
long arrays and storages may not claim more bytes than the file has left, and tensors are
copied out of their storage only when every element lies inside it (torchfile's own
tensor reader makes an unchecked ``as_strided`` view). The checked tensor and storage
readers are registered in ``torchfile.type_handlers``, torchfile's extension point.

Modules (docs/kinds.md has the table; /work/shared/TORCH7_SEMANTICS.md the meanings):
nn.Sequential, SpatialConvolution, SpatialConvolutionMM, SpatialConvolutionMap,
SpatialSubSampling (a depthwise Conv2d whose taps all hold the map's weight),
SpatialMaxPooling, SpatialAveragePooling, SpatialLPPooling (LpPool2d mean=True, p = 2),
SpatialSubtractive/Divisive/ContrastiveNormalization (LocalNorm), nnx
SpatialNormalization (LocalNorm, adaptive without a fixed threshold, and a gain), Tanh, Abs,
Threshold, ReLU, HardTanh, Sigmoid, Square, Sqrt, Power (2, 0.5, 1), MulConstant,
Linear, Reshape, View, SpatialClassifier, SoftMax, LogSoftMax, Identity, Dropout, and
cudnn.* twins.
LogSoftMax, and as a classifier's last module it can be left out (``drop_log_softmax=True``),
which leaves the winning class unchanged and saves its hardware.

Every refusal is a CompileError naming the module by its path in the file (``module 2.3``:
the third module of the second module of the top Sequential), its class and the field.
"""
from __future__ import annotations

import math
import os
import pathlib
import struct

import numpy as np

from ... import ir
from ...errors import CompileError

__all__ = ["load_torch7", "read_torch7", "saved_forward", "SUPPORTED_MODULES"]

MAX_DIM = 1 << 16        # any kernel, stride, plane count or padding beyond this is corrupt

POINTWISE = {"Tanh": ir.Tanh, "Sigmoid": ir.Sigmoid, "Abs": ir.Abs}
IDENTITY = ("Identity", "Copy", "Contiguous")
SUPPORTED_MODULES = (
    "Sequential", "SpatialConvolution", "SpatialConvolutionMM", "SpatialConvolutionMap",
    "SpatialSubSampling", "SpatialMaxPooling", "SpatialAveragePooling", "SpatialLPPooling",
    "SpatialSubtractiveNormalization", "SpatialDivisiveNormalization",
    "SpatialContrastiveNormalization", "SpatialNormalization (nnx)",
    *POINTWISE, "Threshold", "ReLU", "HardTanh", "Square", "Sqrt", "Power", "MulConstant",
    "Linear", "Reshape", "View", "SpatialClassifier", "SoftMax", "LogSoftMax", "Dropout",
    *IDENTITY)


# -- reading the file -------------------------------------------------------------------

def _torchfile():
    try:
        import torchfile
    except ImportError:
        raise CompileError("reading Torch7 files needs the torchfile package: "
                           "pip install torchfile==0.1.0") from None
    if not getattr(torchfile, "_hwconv_checked", False):
        _register_checked_readers(torchfile)
    return torchfile


def _remaining(reader) -> int:
    return reader._size - reader.f.tell()


def _register_checked_readers(torchfile) -> None:
    def storage_reader(dtype):
        def read(reader, version):
            size = reader.read_long()
            if size < 0 or size * np.dtype(dtype).itemsize > _remaining(reader):
                raise torchfile.T7ReaderException(f"storage of {size} elements is larger "
                                                  f"than the rest of the file")
            data = np.fromfile(reader.f, dtype=dtype, count=size)
            if data.size != size:
                raise torchfile.T7ReaderException("the file ends inside a storage")
            return data
        return read

    def tensor_reader(dtype):
        def read(reader, version):
            ndim = reader.read_int()
            if not 0 <= ndim <= 8:
                raise torchfile.T7ReaderException(f"tensor of {ndim} dimensions")
            size = reader.read_long_array(ndim)
            stride = reader.read_long_array(ndim)
            offset = reader.read_long() - 1
            storage = reader.read_obj()
            if storage is None or ndim == 0:
                return np.empty((0,), dtype=dtype)
            if not isinstance(storage, np.ndarray) or storage.ndim != 1:
                raise torchfile.T7ReaderException("a tensor's storage is not a storage")
            if min(size) < 0 or min(stride) < 0 or offset < 0:
                raise torchfile.T7ReaderException("negative tensor size, stride or offset")
            if 0 in size:
                return np.empty(size, dtype=storage.dtype)
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= storage.size or math.prod(size) > max(storage.size, 1):
                raise torchfile.T7ReaderException("a tensor reaches outside its storage")
            view = np.lib.stride_tricks.as_strided(
                storage[offset:], shape=size,
                strides=[storage.dtype.itemsize * s for s in stride])
            return np.array(view)
        return read

    for name, dtype in (("Byte", np.uint8), ("Char", np.int8), ("Short", np.int16),
                        ("Int", np.int32), ("Long", np.int64), ("Float", np.float32),
                        ("Double", np.float64)):
        for prefix in ("torch.", "torch.Cuda"):
            cuda_name = "" if prefix == "torch.Cuda" and name == "Float" else name
            torchfile.type_handlers[f"{prefix}{cuda_name}Tensor".encode()] = \
                tensor_reader(dtype)
            torchfile.type_handlers[f"{prefix}{cuda_name}Storage".encode()] = \
                storage_reader(dtype)
    torchfile._hwconv_checked = True


def _checked_reader_class(torchfile):
    class CheckedReader(torchfile.T7Reader):
        """torchfile's reader, refusing lengths that reach past the end of the file."""

        def __init__(self, f, **kw):
            super().__init__(f, **kw)
            self._size = os.fstat(f.fileno()).st_size
            self._done: set[int] = set()

        def _read(self, fmt):
            size = struct.calcsize(fmt)
            data = self.f.read(size)
            if len(data) != size:
                raise torchfile.T7ReaderException("the file ends early")
            return struct.unpack(fmt, data)

        def read_string(self, disable_utf8=False):
            size = self.read_int()
            if not 0 <= size <= _remaining(self):
                raise torchfile.T7ReaderException(f"string of {size} bytes")
            s = self.f.read(size)
            return s if disable_utf8 or not self.utf8_decode_strings else s.decode("utf8")

        def read_long_array(self, n):
            if not 0 <= n <= _remaining(self) // 8:
                raise torchfile.T7ReaderException(f"array of {n} longs")
            return [self.read_long() for _ in range(n)]

        def read_obj(self):
            obj = super().read_obj()
            if isinstance(obj, torchfile.TorchObject) and \
                    obj._typename == b"nn.SpatialNormalization" and id(obj) not in self._done:
                self._done.add(id(obj))
                self._nnx_trailer(obj)
            return obj

        def _nnx_trailer(self, obj):
            """nnx.SpatialNormalization's own write() follows the table of its fields with
            kernel, nfeatures, 4 ints, 10 objects, [4 ints,] fixedThres (an int, 0 for
            none); its read() takes kernel, nfeatures and fixedThres from there. A trailer
            is present when the next value starts with an object, where a table key (a
            number or a string) would otherwise come."""
            pos = self.f.tell()
            data = self.f.read(4)
            self.f.seek(pos)
            if len(data) < 4 or struct.unpack("<i", data)[0] not in (3, 4):
                return
            kernel = self.read_obj()
            nfeatures = self.read_int()
            for _ in range(4):
                self.read_int()
            for _ in range(10):
                self.read_obj()
            if isinstance(kernel, dict):
                for _ in range(4):
                    self.read_int()
            fixed = self.read_int()
            if not isinstance(obj._obj, dict):
                obj._obj = {}
            obj._obj.update({b"kernel": kernel, b"nfeatures": nfeatures,
                             b"fixedThres": fixed or None})

    return CheckedReader


def read_torch7(path):
    """The object a Torch7 binary file holds (torchfile's TorchObject for modules)."""
    torchfile = _torchfile()
    path = pathlib.Path(path)
    try:
        f = open(path, "rb")
    except OSError as e:
        raise CompileError(f"{path}: cannot read the file ({e.strerror})") from None
    with f:
        head = f.read(4)
        f.seek(0)
        if head[:1].isdigit() or head[:1] in (b" ", b"\n"):
            raise CompileError(f"{path}: looks like an ASCII Torch7 file, which is not "
                               f"supported; save it again with torch.save(path, net, "
                               f"'binary')")
        try:
            return _checked_reader_class(torchfile)(f, use_list_heuristic=False).read_obj()
        except RecursionError:
            raise CompileError(f"{path}: not a readable Torch7 file (objects nested too "
                               f"deeply)") from None
        except Exception as e:   # a third-party parser on arbitrary bytes: report, never crash
            raise CompileError(f"{path}: not a readable binary Torch7 file "
                               f"({type(e).__name__}: {e}); save the network with "
                               f"torch.save(path, net) in Lua Torch7") from None


# -- module fields ----------------------------------------------------------------------

_REQUIRED = object()


class _Module:
    """One Torch7 module: its class, its path in the file, typed field access and errors."""

    def __init__(self, obj, path: str, torchfile):
        self.obj, self.path = obj, path
        typename = obj.torch_typename()
        self.cls = typename.decode("latin-1") if isinstance(typename, bytes) else str(typename)
        short = self.cls.split(".")[-1]
        # cudnn.* and nn.* modules save the same fields.
        self.kind = short if self.cls.split(".")[0] in ("nn", "cudnn", "nnx") else self.cls
        fields = obj._obj
        if not isinstance(fields, dict):
            raise self.error("holds no table of fields; the file is damaged")
        self.fields = fields
        self.torchfile = torchfile

    def error(self, message, attribute=None) -> CompileError:
        return CompileError(message, node=f"module {self.path}", op=self.cls,
                            attribute=attribute)

    def get(self, key, default=_REQUIRED):
        v = self.fields.get(key.encode())
        if v is None:
            if default is _REQUIRED:
                raise self.error(f"has no field {key!r}; the file is damaged or from an "
                                 f"unsupported version", key)
            return default
        return v

    def int(self, key, default=_REQUIRED, lo=1, hi=MAX_DIM) -> int:
        v = self.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or \
                not math.isfinite(v) or v != int(v):
            raise self.error(f"field {key!r} is {v!r}, not a whole number", key)
        v = int(v)
        if not lo <= v <= hi:
            raise self.error(f"field {key!r} is {v}, outside [{lo}, {hi}]", key)
        return v

    def num(self, key, default=_REQUIRED) -> float:
        v = self.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise self.error(f"field {key!r} is {v!r}, not a finite number", key)
        return float(v)

    def flag(self, key, default=False) -> bool:
        v = self.get(key, default)
        if not isinstance(v, (bool, int, float)):
            raise self.error(f"field {key!r} is {v!r}, not a boolean", key)
        return bool(v)

    def tensor(self, key, default=_REQUIRED, size: int | None = None) -> np.ndarray:
        v = self.get(key, default)
        if v is default and default is not _REQUIRED:
            return v
        if not isinstance(v, np.ndarray) or not np.issubdtype(v.dtype, np.number):
            raise self.error(f"field {key!r} is not a tensor", key)
        with np.errstate(all="ignore"):
            v = v.astype(np.float64)
        if size is not None and v.size != size:
            raise self.error(f"field {key!r} has {v.size} values, expected {size}", key)
        if not np.all(np.isfinite(v)):
            raise self.error(f"field {key!r} holds NaN or infinite values; retrain or "
                             f"repair the weights", key)
        return v

    def child(self, obj, key) -> "_Module":
        if not isinstance(obj, self.torchfile.TorchObject):
            raise self.error(f"holds {type(obj).__name__} where a module should be, at "
                             f"{key!r}", "modules")
        return _Module(obj, f"{self.path}.{key}" if self.path else str(key), self.torchfile)

    def modules(self, key="modules") -> list["_Module"]:
        """The contained modules in order (the saved table's numeric keys give it)."""
        table = self.get(key)
        if isinstance(table, self.torchfile.TorchObject):   # SpatialClassifier's Sequential
            return [self.child(table, 1)]
        if not isinstance(table, dict):
            raise self.error(f"field {key!r} is not a table of modules", key)
        keys = [k for k in table if isinstance(k, (int, float)) and not isinstance(k, bool)]
        if len(keys) != len(table) or sorted(keys) != list(range(1, len(keys) + 1)):
            raise self.error(f"field {key!r} is not a list of modules (keys "
                             f"{sorted(map(repr, table))[:5]})", key)
        return [self.child(table[k], int(k)) for k in sorted(keys)]


# -- the graph being built --------------------------------------------------------------

class _Builder:
    def __init__(self, input_shape, drop_log_softmax: bool):
        self.nodes: list[ir.Node] = [ir.Input("input", shape=tuple(input_shape))]
        self.shapes = {"input": tuple(input_shape)}
        self.src = "input"
        self.drop_log_softmax = drop_log_softmax
        self.last_path = None     # the path of the network's last leaf module
        self.seen: set[int] = set()

    @property
    def shape(self):
        return self.shapes[self.src]

    def name(self, mod: _Module, suffix: str = "") -> str:
        return f"{mod.path}_{mod.kind}{suffix}"

    def add(self, mod: _Module, *nodes: ir.Node) -> None:
        """Append nodes (each reading the one before unless it says otherwise); the shape
        check's errors are reported against the Torch7 module."""
        try:
            graph = ir.Graph(tuple(self.nodes) + nodes)
        except CompileError as e:
            raise mod.error(e.detail, e.attribute) from None
        self.nodes.extend(nodes)
        self.shapes = graph._shapes
        self.src = nodes[-1].name

    def map_shape(self, mod: _Module) -> tuple[int, int, int]:
        if len(self.shape) != 3:
            raise mod.error(f"expects (planes, height, width) maps but its input is a vector "
                            f"of shape {self.shape}")
        return self.shape


def _pool_geometry(mod: _Module, b: _Builder, default_stride: int | None):
    kw, kh = mod.int("kW"), mod.int("kH")
    dw = mod.int("dW", default_stride or kw)
    dh = mod.int("dH", default_stride or kh)
    pw, ph = mod.int("padW", 0, lo=0), mod.int("padH", 0, lo=0)
    return (kh, kw), (dh, dw), (ph, pw, ph, pw)


def _conv(mod: _Module, b: _Builder) -> None:
    n_in, n_out = mod.int("nInputPlane"), mod.int("nOutputPlane")
    kw, kh = mod.int("kW"), mod.int("kH")
    dw, dh = mod.int("dW", 1), mod.int("dH", 1)
    padding = mod.int("padding", 0, lo=0)
    pw = mod.int("padW", mod.int("pad_w", padding, lo=0), lo=0)
    ph = mod.int("padH", mod.int("pad_h", padding, lo=0), lo=0)
    w = mod.tensor("weight", size=n_out * n_in * kh * kw).reshape(n_out, n_in, kh, kw)
    bias = mod.tensor("bias", None)
    if bias is None:
        bias = np.zeros(n_out)
    elif bias.size != n_out:
        raise mod.error(f"bias has {bias.size} values for {n_out} output planes", "bias")
    b.add(mod, ir.Conv2d(b.name(mod), (b.src,), weight=w, bias=bias.reshape(-1),
                         stride=(dh, dw), pads=(ph, pw, ph, pw)))


def _conv_map(mod: _Module, b: _Builder) -> None:
    table = mod.tensor("connTable")
    if table.ndim != 2 or table.shape[1] != 2 or table.shape[0] == 0 or \
            np.any(table != np.round(table)) or table.min() < 1:
        raise mod.error(f"connTable of shape {table.shape} is not a list of 1-based "
                        f"(input plane, output plane) pairs", "connTable")
    table = table.astype(np.int64)
    n_in = mod.int("nInputPlane", int(table[:, 0].max()))
    n_out = mod.int("nOutputPlane", int(table[:, 1].max()))
    if table[:, 0].max() > n_in or table[:, 1].max() > n_out:
        raise mod.error(f"connTable names planes beyond nInputPlane={n_in} or "
                        f"nOutputPlane={n_out}", "connTable")
    kw, kh = mod.int("kW"), mod.int("kH")
    k = len(table)
    w = mod.tensor("weight", size=k * kh * kw).reshape(k, kh, kw)
    bias = mod.tensor("bias", size=n_out)
    dense = np.zeros((n_out, n_in, kh, kw))
    conn = np.zeros((n_out, n_in), bool)
    for (i, o), kernel in zip(table, w):      # a repeated pair adds its kernels, as Torch7 does
        dense[o - 1, i - 1] += kernel
        conn[o - 1, i - 1] = True
    b.add(mod, ir.Conv2d(b.name(mod), (b.src,), weight=dense, bias=bias,
                         stride=(mod.int("dH", 1), mod.int("dW", 1)), connections=conn))


def _subsampling(mod: _Module, b: _Builder) -> None:
    """y[k] = bias[k] + weight[k] * (sum of the window): a depthwise convolution."""
    n = mod.int("nInputPlane")
    kw, kh = mod.int("kW"), mod.int("kH")
    weight, bias = mod.tensor("weight", size=n).reshape(-1), mod.tensor("bias", size=n)
    dense = np.zeros((n, n, kh, kw))
    dense[np.arange(n), np.arange(n)] = weight[:, None, None]
    b.add(mod, ir.Conv2d(b.name(mod), (b.src,), weight=dense, bias=bias.reshape(-1),
                         stride=(mod.int("dH", 1), mod.int("dW", 1)),
                         connections=np.eye(n, dtype=bool)))


def _maxpool(mod: _Module, b: _Builder) -> None:
    # :ceil() keeps the last partial windows (each must start inside the input or its
    # padding), as Torch7's THNN and ir.Pool2d's ceil_mode do.
    kernel, stride, pads = _pool_geometry(mod, b, None)
    b.add(mod, ir.MaxPool2d(b.name(mod), (b.src,), kernel=kernel, stride=stride, pads=pads,
                            ceil_mode=mod.flag("ceil_mode")))


def _avgpool(mod: _Module, b: _Builder) -> None:
    kernel, stride, pads = _pool_geometry(mod, b, 1)
    ceil = mod.flag("ceil_mode")
    # Files saved before the `divide` field existed hold a window SUM (Torch7 multiplies
    # its mean back by kW*kH for them); `divide = true` is the mean.
    if not mod.flag("divide", False):
        if ceil:
            raise mod.error("ceil mode on a window sum (a file from before the `divide` "
                            "field) is not supported; use :floor()", "ceil_mode")
        b.add(mod, ir.SumPool2d(b.name(mod), (b.src,), kernel=kernel, stride=stride,
                                pads=pads))
        return
    b.add(mod, ir.AvgPool2d(b.name(mod), (b.src,), kernel=kernel, stride=stride, pads=pads,
                            ceil_mode=ceil,
                            count_include_pad=mod.flag("count_include_pad", True)))


def _is_square(m: _Module) -> bool:
    return m.kind == "Square" or (m.kind == "Power" and m.num("pow", 1.0) == 2)


def _is_sqrt(m: _Module) -> bool:
    return (m.kind == "Sqrt" and m.num("eps", 0.0) == 0) or \
        (m.kind == "Power" and m.num("pow", 1.0) == 0.5)


def _lppool(mod: _Module, b: _Builder) -> None:
    """Square (or Power(2)), a mean pooling, Sqrt (or Power(0.5)): LpPool2d(mean=True).
    The mean is SpatialAveragePooling, or in older files a SpatialSubSampling whose weights
    are all 1/(kW*kH) with zero bias. Anything else is converted module by module."""
    mods = mod.modules()
    if len(mods) == 3 and _is_square(mods[0]) and _is_sqrt(mods[2]):
        pool = mods[1]
        mean = False
        if pool.kind == "SpatialAveragePooling" and pool.flag("divide", False) and \
                not pool.int("padW", 0, lo=0) and not pool.int("padH", 0, lo=0) and \
                not pool.flag("ceil_mode"):
            mean = True
        elif pool.kind == "SpatialSubSampling":
            n = pool.int("kW") * pool.int("kH")
            w, bias = pool.tensor("weight").reshape(-1), pool.tensor("bias").reshape(-1)
            mean = bool(np.all(np.abs(w * n - 1) <= 1e-6) and not np.any(bias))
        if mean:
            kernel, stride, pads = _pool_geometry(pool, b, None if pool.kind ==
                                                  "SpatialSubSampling" else 1)
            if pool.kind == "SpatialSubSampling":
                stride = (pool.int("dH", 1), pool.int("dW", 1))
            b.add(mod, ir.LpPool2d(b.name(mod), (b.src,), kernel=kernel, stride=stride,
                                   p=2, mean=True))
            return
    for m in mods:
        _convert(m, b)


def _local_norm_kernel(mod: _Module) -> np.ndarray:
    """The 2-D averaging kernel; a 1-D kernel k runs as two separable passes, which is the
    2-D kernel outer(k, k) (zero padding, odd sizes)."""
    k = mod.tensor("kernel", np.ones((9, 9)))
    if k.ndim == 1:
        k = np.outer(k, k)
    if k.ndim != 2 or k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0 or k.sum() == 0:
        raise mod.error(f"kernel of shape {k.shape} is not an odd-sized 1-D or 2-D kernel "
                        f"with a non-zero sum", "kernel")
    return k


def _check_planes(mod: _Module, b: _Builder, key="nInputPlane") -> None:
    c = b.map_shape(mod)[0]
    n = mod.int(key, c)
    if n != c:
        raise mod.error(f"{key}={n} but its input has {c} planes", key)


def _normalization(mod: _Module, b: _Builder) -> None:
    _check_planes(mod, b)
    kernel = _local_norm_kernel(mod)
    mode = {"SpatialSubtractiveNormalization": "subtractive",
            "SpatialDivisiveNormalization": "divisive",
            "SpatialContrastiveNormalization": "contrastive"}[mod.kind]
    threshold, thresval = 1e-4, 1e-4
    if mode == "divisive":
        threshold, thresval = mod.num("threshold", 1e-4), mod.num("thresval", 1e-4)
    elif mode == "contrastive":
        # Its source passes a misspelt `threshval`, so the divisive module inside runs with
        # the default thresval: read the inner module when the file has it.
        threshold = mod.num("threshold", 1e-4)
        inner = mod.get("normalizer", None)
        if inner is not None:
            parts = mod.child(inner, "normalizer").modules()
            if len(parts) == 2 and parts[1].kind == "SpatialDivisiveNormalization":
                threshold = parts[1].num("threshold", threshold)
                thresval = parts[1].num("thresval", 1e-4)
    b.add(mod, ir.LocalNorm(b.name(mod), (b.src,), mode=mode, kernel=kernel,
                            threshold=threshold, thresval=thresval))


def _nnx_normalization(mod: _Module, b: _Builder) -> None:
    """nnx.SpatialNormalization with a fixed threshold t (or, without one, the frame-adaptive
    threshold max(mean std, 1e-3)). Its estimator sums the planes
    without dividing by their number n, so its std is nn's std / s, with s = sqrt(n) for a
    2-D kernel and s = n for a pair of 1-D kernels (applied one after the other, each
    summed over the planes); its output z / thr(std, t) is s * LocalNorm(contrastive,
    threshold = thresval = s * t)."""
    c = b.map_shape(mod)[0]
    n = mod.int("nfeatures", c)
    if n != c:
        raise mod.error(f"nfeatures={n} but its input has {c} planes", "nfeatures")
    threshold = mod.get("fixedThres", None)
    # Without a fixed threshold, the std is raised to max(its mean over the whole frame,
    # 1e-3): LocalNorm's adaptive form, whose FIFOs hold the frame for that second pass.
    adaptive = threshold is None or threshold == 0
    t = 1e-3 if adaptive else mod.num("fixedThres")
    kernel = mod.get("kernel")
    if isinstance(kernel, dict):                   # {1xK, Kx1}: two separable passes
        parts = [kernel.get(k) for k in (1, 2)]
        if not all(isinstance(p, np.ndarray) and p.ndim == 2 for p in parts):
            raise mod.error("kernel table does not hold two 2-D kernels", "kernel")
        k = parts[1].astype(np.float64) @ parts[0].astype(np.float64) \
            if parts[1].shape[1] == parts[0].shape[0] else None
        if k is None:
            raise mod.error(f"kernels {parts[0].shape} and {parts[1].shape} are not a "
                            f"1xK and a Kx1 pair", "kernel")
        s = float(n)
    else:
        k = mod.tensor("kernel")
        s = math.sqrt(n)
    if k.ndim != 2 or k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0 or not np.isfinite(k).all():
        raise mod.error(f"kernel of shape {k.shape} is even-sized or not 2-D; nnx pads "
                        f"even kernels asymmetrically, which is not supported", "kernel")
    norm = ir.LocalNorm(b.name(mod, "" if n == 1 else "/norm"), (b.src,), mode="contrastive",
                        kernel=k, threshold=s * t, thresval=s * t, adaptive=adaptive)
    if n == 1:
        b.add(mod, norm)
        return
    b.add(mod, norm, ir.BatchNorm(b.name(mod), (norm.name,), scale=np.full(n, s),
                                  shift=np.zeros(n)))


def _scale(mod: _Module, b: _Builder, c: float) -> None:
    """x * c: a BatchNorm (folded into the layer before it, or a depthwise 1x1 Conv2d) on
    maps and after a Linear; a diagonal Linear on other vectors."""
    n = b.shape[0]
    prev = next(x for x in b.nodes if x.name == b.src)
    if len(b.shape) == 3 or isinstance(prev, ir.Linear):
        b.add(mod, ir.BatchNorm(b.name(mod), (b.src,), scale=np.full(n, c),
                                shift=np.zeros(n)))
    else:
        b.add(mod, ir.Linear(b.name(mod), (b.src,), weight=np.eye(n) * c, bias=np.zeros(n)))


def _square(mod: _Module, b: _Builder) -> None:
    # Square's exact type is twice as wide; a calibrated Requantize brings it back.
    b.add(mod, ir.Square(b.name(mod, "/square"), (b.src,)),
          ir.Requantize(b.name(mod), (b.name(mod, "/square"),)))


def _power(mod: _Module, b: _Builder) -> None:
    p = mod.num("pow")
    if p == 2:
        _square(mod, b)
    elif p == 0.5:
        b.add(mod, ir.Sqrt(b.name(mod), (b.src,)))
    elif p != 1:
        raise mod.error(f"pow={p} is not supported; only 2 (Square), 0.5 (Sqrt) and 1", "pow")


def _sqrt(mod: _Module, b: _Builder) -> None:
    if mod.num("eps", 0.0) != 0:
        raise mod.error(f"eps={mod.num('eps')} (sqrt(x + eps)) is not supported; only "
                        f"eps=0", "eps")
    b.add(mod, ir.Sqrt(b.name(mod), (b.src,)))


def _reshape(mod: _Module, b: _Builder) -> None:
    size = mod.get("size")
    if isinstance(size, dict):
        size = [size[k] for k in sorted(size)] if all(isinstance(k, int) for k in size) \
            else None
    try:
        size = [int(v) for v in np.asarray(size).reshape(-1)]
    except (TypeError, ValueError):
        raise mod.error(f"size {size!r} is not a list of dimensions", "size") from None
    total = math.prod(b.shape)
    known = math.prod(v for v in size if v != -1)
    if tuple(size) == tuple(b.shape) or (len(size) == len(b.shape) == 1 and -1 in size):
        return                                                  # a view of what it is
    if len(size) == 1 and size[0] in (total, -1) or \
            (len(size) == 2 and size[0] in (1, -1) and size[1] in (total, -1) and known > 0):
        if len(b.shape) == 3:
            b.add(mod, ir.Flatten(b.name(mod), (b.src,)))
        return
    raise mod.error(f"reshaping {b.shape} to {tuple(size)} is not supported; only "
                    f"flattening to {total} values (plane, row, column order)", "size")


def _linear(mod: _Module, b: _Builder, spatial: bool = False) -> None:
    w = mod.tensor("weight")
    if w.ndim != 2:
        raise mod.error(f"weight of shape {w.shape} is not (outputs, inputs)", "weight")
    bias = mod.tensor("bias", None)
    bias = np.zeros(w.shape[0]) if bias is None else bias.reshape(-1)
    if bias.size != w.shape[0]:
        raise mod.error(f"bias has {bias.size} values for {w.shape[0]} outputs", "bias")
    if spatial:     # SpatialClassifier: the same Linear at every pixel, a 1x1 convolution
        b.add(mod, ir.Conv2d(b.name(mod), (b.src,), weight=w[:, :, None, None], bias=bias))
        return
    if len(b.shape) != 1:
        raise mod.error(f"expects a vector but its input has shape {b.shape}; add "
                        f"nn.Reshape or nn.View before it")
    b.add(mod, ir.Linear(b.name(mod), (b.src,), weight=w, bias=bias))


def _classifier(mod: _Module, b: _Builder) -> None:
    b.map_shape(mod)
    inner = mod.get("classifier", None)
    mods = [mod.child(inner, "classifier")] if inner is not None else mod.modules()

    def convert(m: _Module):
        if m.kind == "Sequential":
            for x in m.modules():
                convert(x)
        elif m.kind == "Linear":
            _linear(m, b, spatial=True)
        else:
            _convert(m, b)
    for m in mods:
        convert(m)


def _log_softmax(mod: _Module, b: _Builder) -> None:
    """ir.LogSoftmax (across planes on maps); a classifier's last one may be left out
    (``drop_log_softmax``): the winning class is the same and the hardware smaller."""
    if mod.path == b.last_path and b.drop_log_softmax:
        return
    b.add(mod, ir.LogSoftmax(b.name(mod), (b.src,)))


def _threshold(mod: _Module, b: _Builder) -> None:
    th, val = mod.num("threshold", 0.0), mod.num("val", 0.0)
    if th == 0 and val == 0:
        b.add(mod, ir.ReLU(b.name(mod), (b.src,)))
    else:
        b.add(mod, ir.Threshold(b.name(mod), (b.src,), threshold=th, value=val))


def _dropout(mod: _Module, b: _Builder) -> None:
    # v2 (the default since 2014) scales during training: identity at test time. The
    # original form scales by (1 - p) at test time.
    if not mod.flag("v2", False):
        p = mod.num("p", 0.5)
        if p != 0:
            _scale(mod, b, 1 - p)


def _sequential(mod: _Module, b: _Builder) -> None:
    for m in mod.modules():
        _convert(m, b)


CONVERTERS = {
    "Sequential": _sequential,
    "SpatialConvolution": _conv,
    "SpatialConvolutionMM": _conv,
    "SpatialConvolutionMap": _conv_map,
    "SpatialSubSampling": _subsampling,
    "SpatialMaxPooling": _maxpool,
    "SpatialAveragePooling": _avgpool,
    "SpatialLPPooling": _lppool,
    "SpatialSubtractiveNormalization": _normalization,
    "SpatialDivisiveNormalization": _normalization,
    "SpatialContrastiveNormalization": _normalization,
    "SpatialNormalization": _nnx_normalization,
    "Threshold": _threshold,
    "ReLU": lambda mod, b: b.add(mod, ir.ReLU(b.name(mod), (b.src,))),
    "HardTanh": lambda mod, b: b.add(mod, ir.HardTanh(
        b.name(mod), (b.src,), min_val=mod.num("min_val", -1.0),
        max_val=mod.num("max_val", 1.0))),
    "Square": _square,
    "Sqrt": _sqrt,
    "Power": _power,
    "MulConstant": lambda mod, b: _scale(mod, b, mod.num("constant_scalar")),
    "Linear": _linear,
    "Reshape": _reshape,
    "View": _reshape,
    "SpatialClassifier": _classifier,
    "SoftMax": lambda mod, b: b.add(mod, ir.Softmax(b.name(mod), (b.src,))),
    "LogSoftMax": _log_softmax,
    "Dropout": _dropout,
    **{k: (lambda kind: lambda mod, b: b.add(mod, kind(b.name(mod), (b.src,))))(v)
       for k, v in POINTWISE.items()},
    **{k: lambda mod, b: None for k in IDENTITY},
}


def _convert(mod: _Module, b: _Builder) -> None:
    if id(mod.obj) in b.seen and mod.kind in ("Sequential", "SpatialLPPooling",
                                              "SpatialClassifier"):
        raise mod.error("contains itself; the file is damaged")
    b.seen.add(id(mod.obj))
    fn = CONVERTERS.get(mod.kind)
    if fn is None:
        raise mod.error(f"module {mod.cls} is not supported; supported: "
                        f"{', '.join(SUPPORTED_MODULES)}")
    try:
        fn(mod, b)
    except CompileError:
        raise
    except RecursionError:
        raise mod.error("modules are nested too deeply; the file is damaged") from None
    except Exception as e:    # a field of an unexpected type in a damaged file
        raise mod.error(f"could not be read ({type(e).__name__}: {e}); the file is "
                        f"damaged or from an unsupported version") from None


def _top(obj, path, torchfile) -> _Module:
    if not isinstance(obj, torchfile.TorchObject):
        what = f"a table (keys {', '.join(sorted(repr(k) for k in obj)[:6])})" \
            if isinstance(obj, dict) else type(obj).__name__
        raise CompileError(f"{path}: holds {what}, not a Torch7 network module; give the "
                           f"file the network was saved to")
    return _Module(obj, "", torchfile)


def _leaves(mod: _Module, depth=0):
    """Leaf modules in order (for the saved input and the last module's path)."""
    if depth > 50:
        raise mod.error("modules are nested too deeply; the file is damaged")
    if mod.kind in ("Sequential",) and isinstance(mod.get("modules", None), dict):
        for m in mod.modules():
            yield from _leaves(m, depth + 1)
    else:
        yield mod


def _saved_input(top: _Module):
    for mod in (top, *list(_leaves(top))[:1]):
        x = mod.fields.get(b"input")
        if isinstance(x, np.ndarray) and x.ndim in (3, 4) and x.size and \
                np.issubdtype(x.dtype, np.floating):
            return x
    return None


def saved_forward(path) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(input, output) the file kept from its last forward pass, each None if absent: the
    top module's ``output`` and the ``input`` of the top or first module, as saved."""
    torchfile = _torchfile()
    top = _top(read_torch7(path), path, torchfile)
    out = top.fields.get(b"output")
    out = out if isinstance(out, np.ndarray) and out.size else None
    return _saved_input(top), out


def load_torch7(path, input_shape: tuple[int, int, int] | None = None, *,
                drop_log_softmax: bool = False) -> ir.Graph:
    """A Torch7 binary file as a float Graph. ``input_shape`` (C, H, W) is required unless
    the file kept the input of its last forward pass. ``drop_log_softmax``: leave out a
    final LogSoftMax (the class with the highest score is the same)."""
    torchfile = _torchfile()
    top = _top(read_torch7(path), path, torchfile)
    if input_shape is None:
        x = _saved_input(top)
        if x is None:
            first = next(_leaves(top), None)
            planes = first.fields.get(b"nInputPlane") if first is not None else None
            hint = f" (C={planes}, from the first module)" if isinstance(planes, int) else ""
            raise CompileError(f"{path}: the file holds no saved input to take the frame "
                               f"shape from; give it with --input-shape C,H,W{hint}")
        input_shape = (1, *x.shape) if x.ndim == 2 else tuple(x.shape[-3:])
    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise CompileError(f"input shape {input_shape} is not (C, H, W)")
    b = _Builder(input_shape, drop_log_softmax)
    leaves = list(_leaves(top))
    b.last_path = leaves[-1].path if leaves else None
    _convert(top, b)
    b.nodes.append(ir.Output("output", (b.src,)))
    try:
        return ir.Graph(tuple(b.nodes)).verify()
    except CompileError as e:
        raise CompileError(f"{path}: {e}") from None
