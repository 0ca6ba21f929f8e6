"""DataflowTop: one streaming unit per graph node, joined by FIFOs."""
from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .. import ir
from .act import ElementwiseUnit, TableUnit, elementwise_function
from .conv import Conv2dUnit
from .linear import LinearUnit
from .pool import GlobalPoolUnit, Pool2dUnit
from .stream import pixel_signature

__all__ = ["DataflowTop", "stream_shapes", "build_unit", "DEFAULT_LANES"]

DEFAULT_LANES = 32


def stream_shapes(graph: ir.Graph) -> dict[str, tuple[int, int, int]]:
    """The (C, H, W) shape in which each node's output travels: vectors as (N, 1, 1) beats,
    and Flatten leaves the stream as it was (LinearUnit reads the map directly)."""
    shapes = {}
    for node in graph.nodes:
        if isinstance(node, ir.Flatten):
            shapes[node.name] = shapes[node.inputs[0]]
        else:
            s = graph.shape(node.name)
            shapes[node.name] = s if len(s) == 3 else (s[0], 1, 1)
    return shapes


def build_unit(graph: ir.Graph, node: ir.Node, in_shape, lanes: int = DEFAULT_LANES):
    """The RTL unit of one node, or None for nodes that are only a change of view."""
    if isinstance(node, (ir.Input, ir.Output, ir.Flatten)):
        return None
    in_fixed = graph.in_fixed(node)
    if isinstance(node, ir.TABLED):
        return TableUnit(in_shape[0], ir.table(node, in_fixed))
    if isinstance(node, ir.Elementwise):
        return ElementwiseUnit(in_shape[0], in_fixed.width,
                               elementwise_function(node, in_fixed))
    if isinstance(node, ir.Pool2d):
        return Pool2dUnit(node, in_shape, in_fixed)
    if isinstance(node, ir.GlobalPool):
        return GlobalPoolUnit(node, in_shape, in_fixed)
    if isinstance(node, ir.WEIGHTED):
        common = dict(in_fixed=in_fixed, weight_bits=node.weight_fixed.width,
                      acc=ir.acc_type(node, in_fixed), out=node.fixed, lanes=lanes)
        w, b = ir.weight_ints(node), ir.bias_ints(node, in_fixed)
        if isinstance(node, ir.Conv2d):
            return Conv2dUnit(in_shape, ir.dilate(w, node.dilation), b, stride=node.stride,
                              pads=node.pads, taps=node.taps(), **common)
        return LinearUnit(in_shape, w, b, **common)
    raise node.error("has no RTL unit")


class DataflowTop(wiring.Component):
    """The whole network: input pixel stream in, output stream out, bit-exact with
    ``hwconv.reference.run``. ``lanes`` maps node names to multiplier lanes (or is one
    number for all)."""

    def __init__(self, graph: ir.Graph, lanes: dict[str, int] | int = DEFAULT_LANES,
                 fifo_depth: int = 4):
        if not graph.quantized:
            raise ir.CompileError("the graph is not quantized; run the quantize pass first")
        self.graph, self.fifo_depth = graph, fifo_depth
        self.shapes = stream_shapes(graph)
        self.units = {}
        for node in graph.nodes:
            n_lanes = lanes if isinstance(lanes, int) else lanes.get(node.name, DEFAULT_LANES)
            unit = build_unit(graph, node, self.shapes[node.inputs[0]] if node.inputs else None,
                              n_lanes)
            if unit is not None:
                self.units[node.name] = unit
        i_shape, o_shape = self.shapes[graph.input.name], self.shapes[graph.output.name]
        super().__init__({"i": In(pixel_signature(i_shape[0], graph.input.fixed.width)),
                          "o": Out(pixel_signature(o_shape[0], graph.output.fixed.width))})

    def elaborate(self, platform):
        m = Module()
        upstream = wiring.flipped(self.i)
        for name, unit in self.units.items():
            safe = name.strip("/").replace("/", "_").replace(".", "_") or "unit"
            m.submodules[f"u_{safe}"] = unit
            fifo = SyncFIFOBuffered(width=len(unit.i.payload.as_value()), depth=self.fifo_depth)
            m.submodules[f"fifo_{safe}"] = fifo
            m.d.comb += [fifo.w_data.eq(upstream.payload), fifo.w_en.eq(upstream.valid),
                         upstream.ready.eq(fifo.w_rdy),
                         unit.i.payload.eq(fifo.r_data), unit.i.valid.eq(fifo.r_rdy),
                         fifo.r_en.eq(unit.i.ready)]
            upstream = unit.o
        wiring.connect(m, upstream, wiring.flipped(self.o))
        return m
