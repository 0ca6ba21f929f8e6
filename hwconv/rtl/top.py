"""DataflowTop: one streaming unit per graph node, joined by FIFOs."""
from __future__ import annotations

import math

import numpy as np
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import ir
from ..compiler.estimate import logic_lanes, parallelism
from ..fixed import quantize, requantize_hdl
from .act import ElementwiseUnit, TableUnit, elementwise_function
from .conv import Conv2dUnit
from .fifo import BufferedFIFO
from .linear import LinearUnit
from .fork import Broadcast
from .join import AddUnit, RepeatUnit
from .pool import ChannelReduceUnit, GlobalPoolUnit, Pool2dUnit
from .relayout import RelayoutUnit
from .normalized import Divide, NormalizedTableUnit
from .scale import ScaleUnit
from .serial import LaneSerial, serial_lanes
from .stream import SkidBuffer, pixel_signature

__all__ = ["DataflowTop", "stream_shapes", "build_unit", "flatten_is_view", "DEFAULT_LANES"]

DEFAULT_LANES = 32


def flatten_is_view(graph: ir.Graph, node: ir.Node) -> bool:
    """A Flatten read only by Linear layers is a change of view (LinearUnit reads the map
    directly); any other reader (the Output, an activation) gets the vector's one beat
    from a Relayout unit."""
    readers = graph.consumers(node.name)
    return bool(readers) and all(isinstance(r, ir.Linear) for r in readers)


def stream_shapes(graph: ir.Graph) -> dict[str, tuple[int, int, int]]:
    """The (C, H, W) shape in which each node's output travels: vectors as (N, 1, 1) beats,
    and a Flatten before a Linear leaves the stream as it was (``flatten_is_view``)."""
    shapes = {}
    for node in graph.nodes:
        if isinstance(node, ir.Flatten) and flatten_is_view(graph, node):
            shapes[node.name] = shapes[node.inputs[0]]
        else:
            s = graph.shape(node.name)
            shapes[node.name] = s if len(s) == 3 else (s[0], 1, 1)
    return shapes


def build_unit(graph: ir.Graph, node: ir.Node, in_shape, lanes=DEFAULT_LANES):
    """The RTL unit of one node, or None for nodes that are only a change of view."""
    if isinstance(node, (ir.Input, ir.Output)) or \
            (isinstance(node, ir.Flatten) and flatten_is_view(graph, node)):
        return None
    in_fixed = graph.in_fixed(node)
    if isinstance(node, (ir.Relayout, ir.Flatten)):
        out = graph.shape(node.name)
        out_stream = out if len(out) == 3 else (out[0], 1, 1)
        index = node.index if isinstance(node, ir.Relayout) else np.arange(out[0])
        return RelayoutUnit(in_shape, out_stream, index, in_fixed.width)
    if isinstance(node, ir.Repeat):
        return RepeatUnit(in_shape[0], in_fixed.width, node.shape[1] * node.shape[2])
    if isinstance(node, (ir.Add, ir.Sub, ir.Max)):
        b = graph[node.inputs[1]]
        return AddUnit(in_shape[0], in_fixed, b.fixed, node.fixed, sign=node.sign,
                       b_lanes=graph.shape(b.name)[0])
    if isinstance(node, ir.Div):
        b = graph[node.inputs[1]]
        return Divide(in_shape[0], in_fixed, graph.shape(b.name)[0], b.fixed,
                      ir.normalized_table(node, b.fixed))
    if isinstance(node, ir.Requantize):
        return ElementwiseUnit(in_shape[0], in_fixed.width,
                               lambda x: requantize_hdl(x, in_fixed.frac, node.fixed),
                               out_width=node.fixed.width)
    if isinstance(node, ir.Scale):
        ts = node.scale_fixed()
        return ScaleUnit(in_shape, in_fixed, quantize(node.scale, ts), ts, node.fixed)
    if isinstance(node, ir.Square):
        return ElementwiseUnit(in_shape[0], in_fixed.width, lambda x: x * x,
                               out_width=node.fixed.width)
    if isinstance(node, ir.Sqrt):   # and Reciprocal, Log
        return NormalizedTableUnit(in_shape[0], in_fixed.width,
                                   ir.normalized_table(node, in_fixed))
    if isinstance(node, ir.TABLED):
        table, c = ir.table(node, in_fixed), in_shape[0]
        hw = serial_lanes(lanes, c)   # ("serial", n): n channels at a time
        if hw < c:
            return LaneSerial(c, hw, table.in_fixed.width, table.out_fixed.width,
                              TableUnit(hw, table))
        return TableUnit(c, table)
    if isinstance(node, ir.Elementwise):
        return ElementwiseUnit(in_shape[0], in_fixed.width,
                               elementwise_function(node, in_fixed))
    if isinstance(node, ir.Pool2d):
        return Pool2dUnit(node, in_shape, in_fixed, node.fixed)
    if isinstance(node, ir.ChannelReduce):
        return ChannelReduceUnit(in_shape[0], in_fixed, node.fixed, node.mode)
    if isinstance(node, ir.GlobalPool):
        return GlobalPoolUnit(node, in_shape, in_fixed)
    if isinstance(node, ir.WEIGHTED):
        common = dict(in_fixed=in_fixed, weight_bits=node.weight_fixed.width,
                      acc=ir.acc_type(node, in_fixed), out=node.fixed)
        common["lanes"], common["out_lanes"] = parallelism(lanes)
        common["logic_lanes"] = logic_lanes(lanes)
        w, b = ir.weight_ints(node), ir.bias_ints(node, in_fixed)
        if isinstance(node, ir.Conv2d):
            return Conv2dUnit(in_shape, ir.dilate(w, node.dilation), b, stride=node.stride,
                              pads=node.pads, taps=node.taps(), **common)
        return LinearUnit(in_shape, w, b, **common)
    raise node.error("has no RTL unit")


def held_beats(node: ir.Node, in_shape) -> int:
    """Input beats a node's unit can take in before it must give one out: what a parallel
    branch has to buffer while this one fills up."""
    if in_shape is None or isinstance(node, (ir.Flatten, ir.Output)):
        return 0
    _, h, w = in_shape
    if isinstance(node, ir.Relayout):   # a frame in each of its two banks
        return 2 * h * w + 4
    if isinstance(node, (ir.Linear, ir.GlobalPool)):
        return h * w + 4
    if hasattr(node, "kernel"):
        kh, kw = node.extent if isinstance(node, ir.Pool2d) else node.kernel
        t, l, b, r = getattr(node, "pads", (0, 0, 0, 0))
        return (w + l + r) * (kh - 1) + kw + 6
    return 3


def branch_fifo_depths(graph: ir.Graph, shapes, fifo_depth: int) -> dict[tuple[str, int], int]:
    """Depth of the FIFO in front of each input of a join (Add), so that the faster branch
    can hold everything the slower one takes in before it answers: no deadlock.

    Fill is tracked as a fraction of a frame from the graph's input, so branches through
    maps of different sizes compare; the difference, in the join's beats, plus a margin."""
    fill: dict[str, float] = {}
    depths = {}
    for node in graph.nodes:
        if not node.inputs:
            fill[node.name] = 0.0
            continue
        in_shape = shapes[node.inputs[0]]
        beats = in_shape[1] * in_shape[2]
        fill[node.name] = max(fill[i] for i in node.inputs) + \
            (held_beats(node, in_shape) + fifo_depth) / beats
        if len(node.inputs) > 1:
            slowest = max(fill[i] for i in node.inputs)
            for k, i in enumerate(node.inputs):
                need = math.ceil((slowest - fill[i]) * beats) + 8
                depths[(node.name, k)] = max(fifo_depth, 1 << (need - 1).bit_length())
    return depths


MAX_WINDOW_FIFO = 4096


def window_fifo_depths(graph: ir.Graph, shapes) -> dict[tuple[str, int], int]:
    """Depth of the FIFO in front of each windowed unit (convolution, pooling, Linear):
    its fill, the beats it takes in before its first window (kh - 1 rows and kw pixels).

    A unit slower than its input works in bursts: busy on the windows of a frame's last
    rows, idle while the next frame's first rows fill its line buffer. A FIFO that holds
    that fill lets the units before it run ahead into the next frame during the burst,
    so the idle part overlaps the busy part instead of adding to it. Pooling takes a
    pixel per cycle, never slower than its input, so it has no bursts to cover: its
    FIFO keeps the default depth (a 255 x 1024-bit FIFO before scene3's second pooling
    was 29 RAMB18E1 for nothing)."""
    depths = {}
    for node in graph.nodes:
        if node.inputs and isinstance(node, (ir.Conv2d, ir.Linear)):
            fill = held_beats(node, shapes[node.inputs[0]])
            depths[(node.name, 0)] = min(MAX_WINDOW_FIFO, 1 << max(2, (fill - 1).bit_length()))
    return depths


def _safe(name: str) -> str:
    return name.strip("/").replace("/", "_").replace(".", "_") or "node"


class DataflowTop(wiring.Component):
    """The whole network: input pixel stream in, output stream out, bit-exact with
    ``hwconv.reference.run``. ``lanes`` maps node names to their parallelism (or is one
    setting for all): multiplier lanes per output, or (lanes, out_lanes) with out_lanes
    outputs computed side by side.

    Every unit input has a FIFO in front of it; a stream read by several nodes goes
    through a Broadcast, and the FIFOs in front of a join are deep enough for the other
    branch's fill (``branch_fifo_depths``)."""

    def __init__(self, graph: ir.Graph, lanes=DEFAULT_LANES,
                 fifo_depth: int = 4, profile: bool = False):
        if not graph.quantized:
            raise ir.CompileError("the graph is not quantized; run the quantize pass first")
        self.graph, self.fifo_depth = graph, fifo_depth
        self.shapes = stream_shapes(graph)
        self.units = {}
        for node in graph.nodes:
            n_lanes = lanes.get(node.name, DEFAULT_LANES) if isinstance(lanes, dict) else lanes
            unit = build_unit(graph, node, self.shapes[node.inputs[0]] if node.inputs else None,
                              n_lanes)
            if unit is not None:
                self.units[node.name] = unit
        self.fifo_depths = branch_fifo_depths(graph, self.shapes, fifo_depth)
        for name, depth in window_fifo_depths(graph, self.shapes).items():
            self.fifo_depths[name] = max(depth, self.fifo_depths.get(name, fifo_depth))
        i_shape, o_shape = self.shapes[graph.input.name], self.shapes[graph.output.name]
        ports = {"i": In(pixel_signature(i_shape[0], graph.input.fixed.width)),
                 "o": Out(pixel_signature(o_shape[0], graph.output.fixed.width))}
        # profile: debug counters per unit on an extra port `prof` (hwconv.sim.unit_profile)
        self.profile_layout = None
        if profile:
            from ..sim.unit_profile import ProfileLayout
            self.profile_layout = ProfileLayout.of(self)
            ports["prof"] = Out(self.profile_layout.width)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        graph = self.graph
        # Producer-side streams waiting for their consumers, per node name.
        ready: dict[str, list] = {}
        probes: dict[str, tuple] = {}   # for the profile counters

        def publish(name, stream_):
            readers = sum(n.inputs.count(name) for n in graph.nodes)
            if readers <= 1:
                ready[name] = [stream_]
                return
            m.submodules[f"bcast_{_safe(name)}"] = fork = Broadcast(
                stream_.payload.shape(), readers)
            wiring.connect(m, stream_, fork.i)
            ready[name] = list(fork.o)

        for node in graph.nodes:
            if isinstance(node, ir.Input):
                publish(node.name, wiring.flipped(self.i))
            elif isinstance(node, ir.Output):
                upstream = ready[node.inputs[0]].pop(0)
                if not self.units:
                    # A graph that computes nothing (Input straight to Output) still
                    # gets a clocked stage, so the design has its clock and reset.
                    m.submodules.passthrough = fifo = BufferedFIFO(
                        width=len(upstream.payload.as_value()), depth=self.fifo_depth)
                    m.d.comb += [fifo.w_data.eq(upstream.payload),
                                 fifo.w_en.eq(upstream.valid), upstream.ready.eq(fifo.w_rdy)]
                    m.d.comb += [self.o.payload.eq(fifo.r_data), self.o.valid.eq(fifo.r_rdy),
                                 fifo.r_en.eq(self.o.ready)]
                else:
                    wiring.connect(m, upstream, wiring.flipped(self.o))
            elif node.name not in self.units:      # a change of view only (Flatten)
                publish(node.name, ready[node.inputs[0]].pop(0))
            else:
                unit = self.units[node.name]
                m.submodules[f"u_{_safe(node.name)}"] = unit
                ports = getattr(unit, "input_names", ("i",))
                for k, (src, port) in enumerate(zip(node.inputs, ports)):
                    dst = getattr(unit, port)
                    depth = self.fifo_depths.get((node.name, k), self.fifo_depth)
                    fifo = BufferedFIFO(width=len(dst.payload.as_value()), depth=depth)
                    m.submodules[f"fifo_{_safe(node.name)}_{k}"] = fifo
                    upstream = ready[src].pop(0)
                    m.submodules[f"skid_{_safe(node.name)}_{k}"] = skid = \
                        SkidBuffer(dst.payload.shape())
                    m.d.comb += [fifo.w_data.eq(upstream.payload), fifo.w_en.eq(upstream.valid),
                                 upstream.ready.eq(fifo.w_rdy),
                                 skid.i.payload.eq(fifo.r_data), skid.i.valid.eq(fifo.r_rdy),
                                 fifo.r_en.eq(skid.i.ready)]
                    wiring.connect(m, skid.o, dst)
                    probes.setdefault(node.name, ([], unit.o))[0].append((dst, fifo))
                publish(node.name, unit.o)
        if self.profile_layout is not None:
            self.profile_layout.elaborate(m, self.prof, probes)
        return m
