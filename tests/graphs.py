"""Small quantized graphs with random weights, for unit benches."""
from __future__ import annotations

import numpy as np

from hwconv import ir
from hwconv.compiler.passes.quantize import quantize_graph


ELEMENTWISE = {"relu": ir.ReLU, "threshold": ir.Threshold, "hardtanh": ir.HardTanh,
               "abs": ir.Abs, "shrink": ir.Shrink, "tanh": ir.Tanh, "sigmoid": ir.Sigmoid}


def single_node_graph(kind: str, in_shape, *, seed=0, bits=16, **opts) -> ir.Graph:
    """Input -> one node of ``kind`` -> Output, quantized on random calibration frames."""
    rng = np.random.default_rng(seed)
    c = in_shape[0]
    if kind == "conv":
        o, k = opts.pop("outputs", 4), opts.pop("kernel", (3, 3))
        groups, table = opts.pop("groups", 1), opts.pop("table", None)
        weight, conn = ir.ungroup(rng.normal(0, 0.5, (o, c // groups, *k)), groups)
        if table is not None:   # Torch7-style connection table: [(input, output), ...]
            conn = np.zeros((o, c), bool)
            for i, j in table:
                conn[j, i] = True
            weight = rng.normal(0, 0.5, (o, c, *k)) * conn[:, :, None, None]
        bias = rng.normal(0, 0.5, o) * opts.pop("bias_scale", 1.0)
        node = ir.Conv2d("conv", ("x",), weight=weight, bias=bias,
                         connections=None if conn.all() else conn, **opts)
        nodes = [node]
    elif kind == "linear":
        o = opts.pop("outputs", 5)
        n = int(np.prod(in_shape))
        nodes = [ir.Flatten("flat", ("x",)),
                 ir.Linear("fc", ("flat",), weight=rng.normal(0, 0.3, (o, n)),
                           bias=rng.normal(0, 0.3, o))]
    elif kind == "maxpool":
        nodes = [ir.MaxPool2d("pool", ("x",), **opts)]
    elif kind == "avgpool":
        nodes = [ir.AvgPool2d("pool", ("x",), **opts)]
    elif kind == "lppool":
        from hwconv.compiler.passes.lower import lower
        g = ir.Graph((ir.Input("x", shape=tuple(in_shape)), ir.LpPool2d("pool", ("x",), **opts),
                      ir.Output("y", ("pool",))))
        return quantize_graph(lower(g), rng.normal(0, 1, (8, *in_shape)), bits=bits)
    elif kind == "sqrt":
        nodes = [ir.Square("sq", ("x",)), ir.Sqrt("root", ("sq",), **opts)]
    elif kind == "reciprocal":
        nodes = [ir.Abs("abs", ("x",)), ir.Reciprocal("inv", ("abs",), **opts)]
    elif kind == "localnorm":
        from hwconv.compiler.passes.lower import lower
        k = opts.pop("kernel", np.ones((3, 3)))
        g = ir.Graph((ir.Input("x", shape=tuple(in_shape)),
                      ir.LocalNorm("norm", ("x",), kernel=k, **opts), ir.Output("y", ("norm",))))
        return quantize_graph(lower(g), rng.normal(0, 1, (8, *in_shape)), bits=bits)
    elif kind == "lrn":
        from hwconv.compiler.passes.lower import lower
        g = ir.Graph((ir.Input("x", shape=tuple(in_shape)), ir.LRN("lrn", ("x",), **opts),
                      ir.Output("y", ("lrn",))))
        return quantize_graph(lower(g), rng.normal(0, 1, (8, *in_shape)), bits=bits)
    elif kind in ("softmax", "logsoftmax", "argmax"):
        from hwconv.compiler.passes.lower import lower
        head = ir.Softmax("out", ("x",)) if kind == "softmax" else \
            ir.LogSoftmax("out", ("x",)) if kind == "logsoftmax" else \
            ir.ChannelReduce("out", ("x",), mode="argmax")
        g = ir.Graph((ir.Input("x", shape=tuple(in_shape)), head, ir.Output("y", ("out",))))
        return quantize_graph(lower(g), rng.normal(0, 2, (8, *in_shape)), bits=bits)
    elif kind == "relayout":
        # A transpose (perm), numpy padding (pad, mode) or a reshape (shape) of the frame.
        index = np.arange(int(np.prod(in_shape))).reshape(in_shape)
        if "perm" in opts:
            index = index.transpose(opts.pop("perm"))
        if "pad" in opts:
            index = np.pad(index, opts.pop("pad"), mode=opts.pop("mode"))
        index = index.reshape(opts.pop("shape", index.shape))
        nodes = [ir.Relayout("relayout", ("x",), index=index)]
    elif kind == "flatten":   # a Flatten straight into the Output
        nodes = [ir.Flatten("flat", ("x",))]
    elif kind == "identity":   # Input straight to Output
        g = ir.Graph((ir.Input("x", shape=tuple(in_shape)), ir.Output("y", ("x",))))
        return quantize_graph(g, rng.normal(0, 1, (8, *in_shape)), bits=bits)
    elif kind == "channelreduce":
        nodes = [ir.ChannelReduce("red", ("x",), **opts)]
    elif kind == "globalpool":
        nodes = [ir.GlobalPool("pool", ("x",), **opts)]
    elif kind in ELEMENTWISE:
        nodes = [ELEMENTWISE[kind]("act", ("x",), **opts)]
    elif kind == "residual":
        # x -> conv -> relu (-> conv) ; add(x, that): the skip branch must buffer rows.
        def conv(name, src, k, pad):
            return ir.Conv2d(name, (src,), weight=rng.normal(0, 0.3, (c, c, k, k)),
                             bias=rng.normal(0, 0.3, c), pads=(pad,) * 4)
        depth = opts.pop("depth", 1)
        nodes = [conv("c1", "x", 3, 1), ir.ReLU("r1", ("c1",))]
        if depth > 1:
            nodes.append(conv("c2", "r1", 5, 2))
        nodes.append(ir.Add("sum", ("x", nodes[-1].name)))
    elif kind == "double":
        nodes = [ir.Add("sum", ("x", "x"))]
    elif kind == "two_branches":
        nodes = [ir.MaxPool2d("p", ("x",), kernel=(3, 3), stride=(1, 1), pads=(1, 1, 1, 1)),
                 ir.Tanh("t", ("x",)), ir.Add("sum", ("t", "p"))]
    else:
        raise ValueError(kind)
    g = ir.Graph((ir.Input("x", shape=tuple(in_shape)), *nodes,
                  ir.Output("y", (nodes[-1].name,))))
    return quantize_graph(g, rng.normal(0, 1, (8, *in_shape)), bits=bits)


def random_frames(graph: ir.Graph, n: int, seed=1) -> np.ndarray:
    """Integer frames covering the input type's whole range, extremes included."""
    rng = np.random.default_rng(seed)
    t = graph.input.fixed
    x = rng.integers(t.min_int, t.max_int + 1, (n, *graph.input.shape))
    x.flat[0], x.flat[-1] = t.min_int, t.max_int
    return x
