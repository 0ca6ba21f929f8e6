"""Small ONNX models built with onnx.helper, for frontend tests."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def make_model(nodes, inits, in_shape=(1, 2, 6, 6), out_shape=None, opset=13,
               in_name="x", out_name="y", dynamic=False):
    dims = ["N", in_shape[1], "H", "W"] if dynamic else list(in_shape)
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7 if opset >= 13 else 5  # what onnxruntime accepts for old opsets too
    return model


def small_cnn(opset=13, gemm=True, trans_b=1, seed=0):
    """Conv(pad 1, stride 2) -> Relu -> MaxPool 2 -> Flatten|Reshape -> Gemm|MatMul+Add."""
    rng = np.random.default_rng(seed)
    inits = {"w": rng.normal(0, 0.5, (3, 2, 3, 3)), "b": rng.normal(0, 0.5, 3),
             "fb": rng.normal(0, 0.5, 4)}
    fw = rng.normal(0, 0.5, (4, 3 * 2 * 2))   # conv: 6x6 -> 3x3 (stride 2, pad 1); pool -> 1x1?
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv1", pads=[1, 1, 1, 1],
                              strides=[2, 2], kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["r"], name="relu1"),
             helper.make_node("MaxPool", ["r"], ["p"], name="pool1", kernel_shape=[2, 2],
                              strides=[1, 1])]
    if gemm:
        nodes.append(helper.make_node("Flatten", ["p"], ["f"], name="flat", axis=1))
        inits["fw"] = fw if trans_b else fw.T
        nodes.append(helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc",
                                      transB=trans_b, alpha=0.5, beta=2.0))
    else:
        inits["shape"] = np.array([1, -1])
        nodes.append(helper.make_node("Reshape", ["p", "shape"], ["f"], name="flat"))
        inits["fw"] = fw.T
        nodes += [helper.make_node("MatMul", ["f", "fw"], ["m"], name="fc"),
                  helper.make_node("Add", ["m", "fb"], ["y"], name="fc_bias")]
    model = make_model(nodes, inits, opset=opset, out_shape=[1, 4])
    if not gemm:
        # Reshape's shape must be int64.
        for t in model.graph.initializer:
            if t.name == "shape":
                t.CopyFrom(numpy_helper.from_array(np.array([1, -1], np.int64), "shape"))
    return model
