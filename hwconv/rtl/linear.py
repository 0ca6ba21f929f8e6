"""Fully connected layer on a streamed map: a convolution whose kernel is the whole map."""
from __future__ import annotations

import numpy as np

from .conv import Conv2dUnit

__all__ = ["LinearUnit"]


class LinearUnit(Conv2dUnit):
    """``weights`` (O, C*H*W) applied to a (C, H, W) map flattened C-major (as ONNX and
    PyTorch flatten), or to a vector streamed as one (N, 1, 1) beat.

    The map streams in raster order with channels side by side, so no reordering buffer is
    needed: reshaping the weights to (O, C, H, W) makes the layer a single-window
    convolution, and the window generator and MAC engine do the rest.
    """

    def __init__(self, in_shape, weights: np.ndarray, bias: np.ndarray, **kwargs):
        c, h, w = in_shape
        super().__init__(in_shape, np.asarray(weights).reshape(weights.shape[0], c, h, w),
                         bias, **kwargs)
