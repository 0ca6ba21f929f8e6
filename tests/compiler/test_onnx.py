"""The ONNX frontend: float execution equals onnxruntime; unsupported input is refused
with a CompileError naming the node, the op and the attribute."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

from hwconv import ir, reference
from hwconv.compiler.frontends.onnx import load_onnx
from hwconv.demo import bundled_digits, bundled_model
from hwconv.errors import CompileError
from tests.compiler.onnx_models import make_model, small_cnn


def ort_run(model, x):
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: f[None].astype(np.float32)})[0] for f in x])


def test_bundled_lenet_matches_onnxruntime():
    g = load_onnx(bundled_model())
    kinds = [type(n).__name__ for n in g.nodes]
    assert kinds == ["Input", "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d",
                     "Flatten", "Linear", "ReLU", "Linear", "Output"]
    x = bundled_digits()["test_x"][:20]
    np.testing.assert_allclose(reference.run_float(g, x), ort_run(bundled_model(), x),
                               rtol=0, atol=1e-4)


@pytest.mark.parametrize("opset", [7, 9, 11, 13, 17, 21])
@pytest.mark.parametrize("gemm,trans_b", [(True, 1), (True, 0), (False, 0)],
                         ids=["gemm_transB", "gemm", "matmul_add"])
def test_small_cnn_matches_onnxruntime(opset, gemm, trans_b):
    model = small_cnn(opset, gemm, trans_b)
    g = load_onnx(model)
    x = np.random.default_rng(3).normal(0, 1, (4, 2, 6, 6))
    np.testing.assert_allclose(reference.run_float(g, x), ort_run(model, x), rtol=0, atol=1e-4)


def refused(model, match, **kw):
    with pytest.raises(CompileError, match=match) as e:
        load_onnx(model, **kw)
    return e.value


def conv_model(**attrs):
    w = np.ones((2, 2, 3, 3))
    return make_model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv1", **attrs)],
                      {"w": w})


def test_unsupported_op_names_node_and_op():
    m = make_model([helper.make_node("Softsign", ["x"], ["y"], name="act7")], {})
    e = refused(m, r"^act7 \(Softsign\): op Softsign is not supported; supported ops: Conv")
    assert (e.node, e.op) == ("act7", "Softsign")


def test_group_that_does_not_divide_is_refused():
    w = np.ones((3, 1, 3, 3))
    m = make_model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv3", group=2)],
                   {"w": w})
    e = refused(m, r"^conv3 \(Conv\): group=2 does not divide the 3 outputs and 2 inputs")
    assert e.attribute == "group"


@pytest.mark.parametrize("attrs,wshape", [
    (dict(group=2), (4, 1, 3, 3)), (dict(group=2, pads=[1, 1, 1, 1]), (2, 1, 3, 3)),
    (dict(dilations=[2, 2]), (3, 2, 3, 3)), (dict(dilations=[1, 2], strides=[2, 1]), (2, 2, 2, 2)),
    (dict(strides=[3, 3], pads=[0, 0, 1, 1]), (2, 2, 3, 3))],
    ids=["depthwise", "grouped_padded", "dilated", "dilated_strided", "stride3"])
def test_conv_variants_match_onnxruntime(attrs, wshape):
    rng = np.random.default_rng(7)
    m = make_model([helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv", **attrs)],
                   {"w": rng.normal(0, 1, wshape), "b": rng.normal(0, 1, wshape[0])})
    g = load_onnx(m)
    x = rng.normal(0, 1, (2, 2, 6, 6))
    np.testing.assert_allclose(reference.run_float(g, x), ort_run(m, x), rtol=0, atol=1e-4)


def test_pooling_options_not_supported_are_refused():
    m = make_model([helper.make_node("MaxPool", ["x"], ["y"], name="pool3",
                                     kernel_shape=[2, 2], storage_order=1)], {})
    assert refused(m, r"pool3 \(MaxPool\): storage_order=1").attribute == "storage_order"
    m = make_model([helper.make_node("MaxPool", ["x"], ["y"], name="pool4",
                                     kernel_shape=[2, 2], pads=[2, 0, 0, 0])], {})
    assert refused(m, r"pool4 \(MaxPool\): pads \(2, 0, 0, 0\) must be smaller")


@pytest.mark.parametrize("op,attrs", [
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 0])),
    ("AveragePool", dict(kernel_shape=[2, 2], strides=[2, 2])),
    ("AveragePool", dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 0, 1],
                         ceil_mode=1)),
    ("AveragePool", dict(kernel_shape=[2, 3], strides=[2, 2], ceil_mode=1,
                         count_include_pad=1, pads=[0, 1, 1, 0])),
    ("MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)),
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1, pads=[1, 1, 0, 0])),
    ("LpPool", dict(kernel_shape=[2, 2], strides=[2, 2], p=2)),
    ("LpPool", dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])),
    ("LpPool", dict(kernel_shape=[2, 2], strides=[2, 2], p=3)),
    ("LpPool", dict(kernel_shape=[3, 3], p=1)),
    ("GlobalAveragePool", {}), ("GlobalMaxPool", {})])
def test_pooling_matches_onnxruntime(op, attrs):
    m = make_model([helper.make_node(op, ["x"], ["y"], name="pool", **attrs)], {},
                   in_shape=(1, 2, 7, 6), out_shape=None)
    g = load_onnx(m)
    x = np.random.default_rng(6).normal(0, 2, (3, 2, 7, 6))
    np.testing.assert_allclose(reference.run_float(g, x), ort_run(m, x), rtol=0, atol=1e-5)


def test_not_onnx_file(tmp_path):
    p = tmp_path / "model.onnx"
    p.write_bytes(b"this is not a protobuf \x00\xff" * 10)
    refused(p, r"model.onnx: not an ONNX model")
    refused(tmp_path / "missing.onnx", r"missing.onnx: cannot read the file")


def test_dynamic_input_needs_shape():
    m = make_model([helper.make_node("Relu", ["x"], ["y"], name="r")], {}, dynamic=True)
    refused(m, r"give the image shape with --input-shape C,H,W")
    g = load_onnx(m, input_shape=(2, 6, 6))
    assert g.input.shape == (2, 6, 6)


def test_input_shape_that_does_not_fit():
    refused(conv_model(), r"--input-shape 1,6,6 does not match", input_shape=(1, 6, 6))
    # A kernel larger than the map is caught with the node named.
    m = make_model([helper.make_node("Conv", ["x", "w"], ["y"], name="big")],
                   {"w": np.ones((1, 2, 7, 7))})
    refused(m, r"big \(Conv\): kernel 7x7 is larger than the padded input 6x6")


def test_nan_weights_refused():
    m = conv_model()
    m.graph.initializer[0].CopyFrom(onnx.numpy_helper.from_array(
        np.full((2, 2, 3, 3), np.nan, np.float32), "w"))
    refused(m, r"conv1 \(Conv\): holds NaN or infinite values")


def test_frames_of_wrong_shape_refused():
    g = load_onnx(bundled_model())
    with pytest.raises(CompileError, match=r"input frames have shape \(2, 1, 28, 27\)"):
        reference.run_float(g, np.zeros((2, 1, 28, 27)))


def test_graph_round_trips_through_files(tmp_path):
    from hwconv.compiler.passes.quantize import quantize_graph
    g = quantize_graph(load_onnx(bundled_model()), bundled_digits()["calibration"])
    g.save(tmp_path)
    g2 = ir.Graph.load(tmp_path)
    x = reference.quantize_input(g, bundled_digits()["test_x"][:5])
    np.testing.assert_array_equal(reference.run(g2, x), reference.run(g, x))
    assert [n.fixed for n in g2.nodes] == [n.fixed for n in g.nodes]


@pytest.mark.parametrize("opset", [7, 11, 13, 21])
@pytest.mark.parametrize("op,attrs", [("Tanh", {}), ("Sigmoid", {}), ("Abs", {}),
                                      ("Shrink", {"lambd": 0.4, "bias": 0.4}),
                                      ("Shrink", {"lambd": 0.3}), ("Clip", "limits")])
def test_elementwise_ops_match_onnxruntime(op, attrs, opset):
    if op == "Shrink" and opset < 9:
        pytest.skip("Shrink exists from opset 9")
    inits, inputs = {}, ["x"]
    if attrs == "limits":
        if opset < 11:
            attrs = {"min": -0.5, "max": 0.75}
        else:
            attrs, inits, inputs = {}, {"lo": np.array(-0.5), "hi": np.array(0.75)}, ["x", "lo", "hi"]
    m = make_model([helper.make_node(op, inputs, ["y"], name="act", **attrs)], inits,
                   out_shape=[1, 2, 6, 6], opset=opset)
    g = load_onnx(m)
    x = np.random.default_rng(5).normal(0, 2, (3, 2, 6, 6))
    np.testing.assert_allclose(reference.run_float(g, x), ort_run(m, x), rtol=0, atol=1e-5)


def test_residual_add_matches_onnxruntime():
    rng = np.random.default_rng(8)
    m = make_model([helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1] * 4),
                    helper.make_node("Relu", ["c"], ["r"], name="relu"),
                    helper.make_node("Add", ["x", "r"], ["y"], name="residual")],
                   {"w": rng.normal(0, 1, (2, 2, 3, 3)), "b": rng.normal(0, 1, 2)})
    g = load_onnx(m)
    assert type(g["residual"]).__name__ == "Add" and g["residual"].inputs == ("x", "relu")
    x = rng.normal(0, 1, (2, 2, 6, 6))
    np.testing.assert_allclose(reference.run_float(g, x), ort_run(m, x), rtol=0, atol=1e-4)


@pytest.mark.parametrize("opset", [11, 13])
def test_softmax_of_logits_matches_onnxruntime(opset):
    rng = np.random.default_rng(2)
    m = make_model([helper.make_node("Flatten", ["x"], ["f"], name="flat"),
                    helper.make_node("Gemm", ["f", "w", "b"], ["z"], name="fc", transB=1),
                    helper.make_node("Softmax", ["z"], ["y"], name="sm")],
                   {"w": rng.normal(0, 1, (10, 18)), "b": rng.normal(0, 1, 10)},
                   in_shape=(1, 2, 3, 3), opset=opset, out_shape=[1, 10])
    x = rng.normal(0, 1, (4, 2, 3, 3))
    np.testing.assert_allclose(reference.run_float(load_onnx(m), x), ort_run(m, x), atol=1e-6)


def test_softmax_across_channels_of_a_map():
    m = make_model([helper.make_node("Softmax", ["x"], ["y"], name="sm", axis=1)], {},
                   in_shape=(1, 4, 3, 5), opset=13)
    x = np.random.default_rng(3).normal(0, 2, (3, 4, 3, 5))
    np.testing.assert_allclose(reference.run_float(load_onnx(m), x), ort_run(m, x), atol=1e-6)
    # Before opset 13 the axes from axis on are flattened: a Relayout makes them the
    # channels of one position, and another one puts the result back.
    old = make_model([helper.make_node("Softmax", ["x"], ["y"], name="sm")], {},
                     in_shape=(1, 4, 3, 5), opset=11)
    g = load_onnx(old)
    assert [type(n).__name__ for n in g.nodes] == ["Input", "Relayout", "Softmax", "Relayout",
                                                     "Output"]
    np.testing.assert_allclose(reference.run_float(g, x), ort_run(old, x), atol=1e-6)


def test_argmax_across_channels_matches_onnxruntime():
    m = make_model([helper.make_node("ArgMax", ["x"], ["y"], name="am", axis=1)], {},
                   in_shape=(1, 4, 3, 5), opset=13)
    m.graph.output[0].type.tensor_type.elem_type = onnx.TensorProto.INT64
    x = np.random.default_rng(4).normal(0, 2, (3, 4, 3, 5))
    np.testing.assert_array_equal(reference.run_float(load_onnx(m), x), ort_run(m, x))
    bad = make_model([helper.make_node("ArgMax", ["x"], ["y"], name="am", axis=2)], {})
    assert refused(bad, r"am \(ArgMax\): axis=2 is not supported").attribute == "axis"


@pytest.mark.parametrize("after", ["conv", "relu"])
def test_batchnorm_folds_and_matches_onnxruntime(after):
    from hwconv.compiler.passes.fold_batchnorm import fold_batchnorm
    rng = np.random.default_rng(9)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1] * 4)]
    src = "c"
    if after == "relu":
        nodes.append(helper.make_node("Relu", ["c"], ["r"], name="relu"))
        src = "r"
    nodes.append(helper.make_node("BatchNormalization", [src, "g", "beta", "mu", "var"],
                                  ["y"], name="bn", epsilon=1e-3))
    m = make_model(nodes, {"w": rng.normal(0, 1, (3, 2, 3, 3)), "b": rng.normal(0, 1, 3),
                           "g": rng.normal(1, 0.2, 3), "beta": rng.normal(0, 1, 3),
                           "mu": rng.normal(0, 1, 3), "var": rng.uniform(0.5, 2, 3)})
    g = load_onnx(m)
    folded = fold_batchnorm(g)
    kinds = [type(n).__name__ for n in folded.nodes]
    assert "BatchNorm" not in kinds
    assert kinds.count("Conv2d") == (1 if after == "conv" else 2)
    x = rng.normal(0, 1, (2, 2, 6, 6))
    np.testing.assert_allclose(reference.run_float(folded, x), ort_run(m, x), atol=1e-4)
    np.testing.assert_allclose(reference.run_float(g, x), ort_run(m, x), atol=1e-4)


@pytest.mark.parametrize("size,alpha,beta,bias", [(5, 1e-4, 0.75, 1.0), (7, 0.3, 0.5, 2.0),
                                                  (3, 0.1, 1.0, 1.0)])
def test_lrn_matches_onnxruntime(size, alpha, beta, bias):
    m = make_model([helper.make_node("LRN", ["x"], ["y"], name="lrn", size=size, alpha=alpha,
                                     beta=beta, bias=bias)], {}, in_shape=(1, 6, 3, 4))
    x = np.random.default_rng(10).normal(0, 2, (3, 6, 3, 4))
    np.testing.assert_allclose(reference.run_float(load_onnx(m), x), ort_run(m, x), rtol=1e-5,
                               atol=1e-6)


def test_log_softmax_matches_onnxruntime():
    rng = np.random.default_rng(12)
    m = make_model([helper.make_node("Flatten", ["x"], ["f"], name="flat"),
                    helper.make_node("Gemm", ["f", "w", "b"], ["z"], name="fc", transB=1),
                    helper.make_node("LogSoftmax", ["z"], ["y"], name="lsm")],
                   {"w": rng.normal(0, 1, (10, 18)), "b": rng.normal(0, 1, 10)},
                   in_shape=(1, 2, 3, 3), opset=13, out_shape=[1, 10])
    x = rng.normal(0, 1, (4, 2, 3, 3))
    np.testing.assert_allclose(reference.run_float(load_onnx(m), x), ort_run(m, x), atol=1e-5)


def _model_x(model, n=3, seed=5):
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    return np.random.default_rng(seed).normal(0, 1, (n, *dims[1:]))


@pytest.mark.parametrize("op,attrs,kinds", [
    ("MaxPool", dict(kernel_shape=[2, 2], dilations=[2, 2], pads=[1, 1, 0, 1]),
     ["MaxPool2d"]),
    ("AveragePool", dict(kernel_shape=[3, 2], dilations=[2, 3], strides=[2, 1],
                         ceil_mode=1, pads=[1, 1, 1, 1]), ["AvgPool2d"]),
    ("LpPool", dict(kernel_shape=[2, 2], dilations=[2, 2], p=3), ["LpPool2d"]),
    ("Transpose", dict(perm=[0, 1, 3, 2]), ["Relayout"]),
    ("Pad", dict(mode="reflect", pads=[0, 0, 2, 1, 0, 0, 1, 2]), ["Relayout"]),
    ("Softmax", dict(axis=2), ["Relayout", "Softmax", "Relayout"]),
])
def test_dilated_pooling_and_relayouts_match_onnxruntime(op, attrs, kinds):
    # Pad's pads as an attribute; dilated AveragePool and LpPool from opset 19 and 18.
    opset = 10 if op == "Pad" else 19 if op in ("AveragePool", "LpPool") else 13
    m = make_model([helper.make_node(op, ["x"], ["y"], name="n", **attrs)], {},
                   in_shape=(1, 2, 7, 6), opset=opset)
    g = load_onnx(m)
    assert [type(n).__name__ for n in g.nodes][1:-1] == kinds
    x = _model_x(m)
    np.testing.assert_allclose(reference.run_float(g, x), ort_run(m, x), atol=1e-5)


def test_3d_max_pooling_matches_onnxruntime():
    m = make_model([helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2, 2],
                                     strides=[2, 1, 2], pads=[1, 0, 0, 0, 1, 1],
                                     dilations=[1, 2, 1])], {}, in_shape=(1, 2, 5, 6, 5))
    g = load_onnx(m)
    assert [type(n).__name__ for n in g.nodes] == ["Input", "MaxPool2d", "Relayout",
                                                     "MaxPool2d", "Relayout", "Output"]
    x = _model_x(m)
    want = ort_run(m, x)   # a (C, D, H, W) volume travels as a (C*D, H, W) map
    got = reference.run_float(g, x.reshape(len(x), -1, *x.shape[3:]))
    np.testing.assert_allclose(got.reshape(want.shape), want, atol=1e-6)


def test_a_graph_mixing_across_the_first_axis_takes_the_whole_tensor_as_one_frame():
    # Softmax over axis 0: no batch; the (3, 4, 5) tensor is one frame, axis 0 its channels.
    m = make_model([helper.make_node("Softmax", ["x"], ["y"], name="sm", axis=0)], {},
                   in_shape=(3, 4, 5))
    g = load_onnx(m)
    assert g.input.shape == (3, 4, 5)
    x = np.random.default_rng(2).normal(0, 1, (3, 4, 5))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": x.astype(np.float32)})[0]
    np.testing.assert_allclose(reference.run_float(g, x[None])[0], want, atol=1e-6)
    # Per-frame graphs keep the batch.
    assert load_onnx(make_model([helper.make_node("Relu", ["x"], ["y"])], {},
                                in_shape=(3, 4, 5))).input.shape == (4, 5, 1)


def test_affine_ops_without_a_kind_become_one_linear():
    rng = np.random.default_rng(8)
    b = rng.normal(0, 1, (2, 5, 3))
    m = make_model([helper.make_node("MatMul", ["x", "b"], ["y"], name="mm")], {"b": b},
                   in_shape=(1, 2, 4, 5))
    g = load_onnx(m)
    assert [type(n).__name__ for n in g.nodes] == ["Input", "Flatten", "Linear", "Output"]
    x = _model_x(m)
    np.testing.assert_allclose(reference.run_float(g, x), ort_run(m, x).reshape(len(x), -1),
                               atol=1e-5)


def test_integer_inputs_are_numbers():
    m = make_model([helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2])],
                   {})
    m.graph.input[0].type.tensor_type.elem_type = onnx.TensorProto.UINT8
    assert [type(n).__name__ for n in load_onnx(m).nodes] == ["Input", "MaxPool2d", "Output"]
    m.graph.input[0].type.tensor_type.elem_type = onnx.TensorProto.STRING
    assert refused(m, r"pool \(MaxPool\): reads the model's input 'x', which holds string "
                      r"values").attribute == "elem_type"
