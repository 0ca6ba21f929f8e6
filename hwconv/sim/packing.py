"""Frames to stream beats and back: raster order, lane c = channel c in the low bits."""
from __future__ import annotations

import numpy as np

__all__ = ["frame_to_beats", "beats_to_frame"]


def frame_to_beats(frame: np.ndarray, bits: int) -> list[int]:
    """A (C, H, W) integer map (or a (N,) vector) to one packed int per pixel, raster order."""
    frame = np.asarray(frame, dtype=np.int64)
    if frame.ndim == 1:
        frame = frame[:, None, None]
    c = frame.shape[0]
    lanes = (frame.reshape(c, -1).T & ((1 << bits) - 1)).astype(object)
    shifts = np.array([1 << (k * bits) for k in range(c)], dtype=object)
    return [int(v) for v in (lanes * shifts).sum(axis=1)]


def beats_to_frame(beats: list[int], shape, bits: int) -> np.ndarray:
    """Packed beats back to a (C, H, W) map, or an (N,) vector when ``shape`` has one dim."""
    c = shape[0]
    mask, sign = (1 << bits) - 1, 1 << (bits - 1)
    out = np.empty((len(beats), c), dtype=np.int64)
    for p, word in enumerate(beats):
        for k in range(c):
            v = (int(word) >> (k * bits)) & mask
            out[p, k] = v - (1 << bits) if v & sign else v
    return out.T.reshape(shape)
