"""Every node kind is complete: a reference, hardware (a unit, a change of view, or a
lowering into kinds that have units), cycles and resources. A new kind without an entry
here, or without any of those, fails."""
import numpy as np
import pytest

from hwconv import ir, reference
from hwconv.compiler import estimate
from hwconv.compiler.passes.lower import LOWERINGS
from hwconv.rtl.top import build_unit, stream_shapes
from tests.graphs import single_node_graph

# kind -> (tests.graphs kind, input shape, options) building a graph that contains it.
SAMPLES = {
    ir.Input: ("relu", (2, 4, 4), {}), ir.Output: ("relu", (2, 4, 4), {}),
    ir.Conv2d: ("conv", (2, 6, 6), {}), ir.Linear: ("linear", (2, 3, 3), {}),
    ir.Flatten: ("linear", (2, 3, 3), {}),
    ir.Relayout: ("relayout", (2, 3, 4), {"perm": (0, 2, 1)}),
    ir.ReLU: ("relu", (2, 4, 4), {}), ir.Threshold: ("threshold", (2, 4, 4), {}),
    ir.HardTanh: ("hardtanh", (2, 4, 4), {}), ir.Abs: ("abs", (2, 4, 4), {}),
    ir.Shrink: ("shrink", (2, 4, 4), {}), ir.Tanh: ("tanh", (2, 4, 4), {}),
    ir.Sigmoid: ("sigmoid", (2, 4, 4), {}), ir.Square: ("sqrt", (2, 4, 4), {}),
    ir.Sqrt: ("sqrt", (2, 4, 4), {}), ir.Reciprocal: ("reciprocal", (2, 4, 4), {}),
    ir.MaxPool2d: ("maxpool", (2, 6, 6), {}), ir.AvgPool2d: ("avgpool", (2, 6, 6), {}),
    ir.SumPool2d: ("lppool", (2, 6, 6), {}), ir.GlobalPool: ("globalpool", (2, 4, 4), {}),
    ir.Add: ("residual", (2, 5, 5), {}), ir.Sub: ("localnorm", (2, 6, 6),
                                                   {"mode": "subtractive"}),
    ir.Div: ("localnorm", (2, 6, 6), {"mode": "divisive"}),
    ir.Requantize: ("localnorm", (2, 6, 6), {"mode": "divisive"}),
    ir.Scale: ("localnorm", (2, 6, 6), {"mode": "subtractive"}),
    ir.Exp: ("softmax", (4, 2, 2), {}), ir.Log: ("logsoftmax", (4, 2, 2), {}),
    ir.Power: ("lppool", (2, 4, 4), {"p": 3}),
    ir.Max: ("localnorm", (2, 5, 5), {"mode": "divisive", "adaptive": True}),
    ir.Repeat: ("localnorm", (2, 5, 5), {"mode": "divisive", "adaptive": True}), ir.ChannelReduce: ("argmax", (4, 2, 2), {}),
}
LOWERED = {ir.LpPool2d, ir.LocalNorm, ir.Softmax, ir.LRN, ir.LogSoftmax}   # rewritten into the kinds above before quantization
FOLDED = {ir.BatchNorm}   # merged into the layer before it (passes/fold_batchnorm.py)
VIEWS = {ir.Input, ir.Output, ir.Flatten}


def test_every_kind_has_a_sample_or_is_lowered():
    missing = [k.__name__ for k in ir.NODE_KINDS.values()
               if k not in SAMPLES and k not in LOWERED | FOLDED]
    assert not missing, f"kinds without a sample in tests/test_kinds.py: {missing}"
    assert all(k in LOWERINGS for k in LOWERED)


@pytest.mark.parametrize("kind", list(SAMPLES), ids=lambda k: k.__name__)
def test_kind_is_complete(kind):
    name, shape, opts = SAMPLES[kind]
    g = single_node_graph(name, shape, **dict(opts))
    nodes = [n for n in g.nodes if type(n) is kind]
    assert nodes, f"the sample graph has no {kind.__name__}"
    assert kind in reference.REFERENCE or kind in reference.REFERENCE_MULTI
    shapes = stream_shapes(g)
    for node in nodes:
        in_shape = shapes[node.inputs[0]] if node.inputs else None
        unit = build_unit(g, node, in_shape)
        assert (unit is None) == (kind in VIEWS)
        if unit is not None:
            unit._MustUse__silence = True   # built to be checked, not elaborated
        cycles = estimate.cycles(node, g, in_shape, 8) if in_shape else 0
        assert cycles > 0 or kind in VIEWS
        res = estimate.resources(node, g, in_shape, 8)
        assert set(res) == set(estimate.RESOURCE_KEYS)
        assert (res["lut"] > 0 and res["ff"] > 0) or kind in VIEWS
        if kind in ir.WEIGHTED:
            assert res["dsp48e1"] == estimate.lanes_used(node, 8)


def test_docs_name_every_kind():
    import pathlib
    text = (pathlib.Path(__file__).parent.parent / "docs" / "kinds.md").read_text()
    missing = [name for name in ir.NODE_KINDS if f"| `{name}` |" not in text]
    assert not missing, f"docs/kinds.md does not describe: {missing}"
