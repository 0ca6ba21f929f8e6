"""A small writer of Torch7 binary files (the format of torch.save in Lua Torch7, as
torch7's File.lua and generic/Tensor.c, generic/Storage.c write it), so the tests can make
files holding every module kind the Torch7 frontend reads."""
from __future__ import annotations

import struct

import numpy as np

TYPE_NIL, TYPE_NUMBER, TYPE_STRING, TYPE_TABLE, TYPE_TORCH, TYPE_BOOLEAN = 0, 1, 2, 3, 4, 5

_STORAGE = {np.dtype(np.float32): "Float", np.dtype(np.float64): "Double",
            np.dtype(np.int64): "Long", np.dtype(np.int32): "Int", np.dtype(np.uint8): "Byte"}


class Module:
    """A Torch7 object of class ``cls`` (e.g. "nn.Linear") with these fields."""

    def __init__(self, cls: str, **fields):
        self.cls, self.fields = cls, fields


class Storage:
    """A bare storage (torch.LongStorage for Reshape sizes, ...)."""

    def __init__(self, data):
        self.data = np.ascontiguousarray(data)


class Raw:
    """Bytes written as they are after an object (custom write() methods)."""

    def __init__(self, data: bytes):
        self.data = data


def seq(*modules, cls="nn.Sequential", **fields) -> Module:
    return Module(cls, modules={i + 1: m for i, m in enumerate(modules)}, **fields)


class _Writer:
    def __init__(self):
        self.out = bytearray()
        self.index = 0

    def int(self, v):
        self.out += struct.pack("<i", v)

    def long(self, v):
        self.out += struct.pack("<q", v)

    def string(self, s: str | bytes):
        b = s.encode() if isinstance(s, str) else s
        self.int(len(b))
        self.out += b

    def _torch_head(self, cls: str):
        self.int(TYPE_TORCH)
        self.index += 1
        self.int(self.index)
        self.string("V 1")
        self.string(cls)

    def obj(self, v):
        if v is None:
            self.int(TYPE_NIL)
        elif isinstance(v, bool):
            self.int(TYPE_BOOLEAN)
            self.int(1 if v else 0)
        elif isinstance(v, (int, float, np.integer, np.floating)):
            self.int(TYPE_NUMBER)
            self.out += struct.pack("<d", float(v))
        elif isinstance(v, (str, bytes)):
            self.int(TYPE_STRING)
            self.string(v)
        elif isinstance(v, dict):
            self.int(TYPE_TABLE)
            self.index += 1
            self.int(self.index)
            self.int(len(v))
            for k, x in v.items():
                self.obj(k)
                self.obj(x)
        elif isinstance(v, Storage):
            self._torch_head(f"torch.{_STORAGE[v.data.dtype]}Storage")
            self.long(v.data.size)
            self.out += v.data.tobytes()
        elif isinstance(v, np.ndarray):
            data = np.ascontiguousarray(v if v.dtype in _STORAGE else v.astype(np.float32))
            self._torch_head(f"torch.{_STORAGE[data.dtype]}Tensor")
            self.int(data.ndim)
            for d in data.shape:
                self.long(d)
            for s in data.strides:
                self.long(s // data.itemsize)
            self.long(1)                       # storage offset, 1-based
            self.obj(Storage(data.reshape(-1)) if data.ndim else None)
        elif isinstance(v, Module):
            self._torch_head(v.cls)
            trailer = v.fields.pop("_trailer", None)
            self.obj(dict(v.fields))
            if trailer is not None:
                v.fields["_trailer"] = trailer
                for item in trailer:
                    if isinstance(item, Raw):
                        self.out += item.data
                    else:
                        self.obj(item)
        else:
            raise TypeError(f"cannot write {type(v).__name__}")


def dumps(obj) -> bytes:
    w = _Writer()
    w.obj(obj)
    return bytes(w.out)


def write(path, obj) -> None:
    with open(path, "wb") as f:
        f.write(dumps(obj))
