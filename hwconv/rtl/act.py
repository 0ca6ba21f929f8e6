"""Element-wise nonlinearities as one registered pipeline stage."""
from __future__ import annotations

from amaranth import Mux

from .stream import RegisteredMap, pixel_layout

__all__ = ["ReLUUnit"]


class ReLUUnit(RegisteredMap):
    """max(x, 0) on every lane; the type is unchanged."""

    def __init__(self, lanes: int, bits: int):
        layout = pixel_layout(lanes, bits)
        super().__init__(layout, layout, lambda m, x, y: [
            y[k].eq(Mux(x[k] < 0, 0, x[k])) for k in range(lanes)])
