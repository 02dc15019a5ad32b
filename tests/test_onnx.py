"""nnc.onnx.export: onnxruntime reproduces nnc's forward pass."""
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import nnc  # noqa: E402
import nnc.onnx as nnc_onnx  # noqa: E402
from nnc.perceptron import Perceptron  # noqa: E402

# every activation the engine has (its enum), except the output-only ones
HIDDEN = [a for a in nnc.activations.CODES if a not in ("softmax", "step")]


def test_every_engine_activation_has_an_onnx_builder():
    assert set(nnc_onnx._BUILDERS) == set(nnc.activations.CODES)
    assert len(HIDDEN) == len(nnc.activations.CODES) - 2


def run(model, X):
    # Basic graph optimisations only: some onnxruntime releases (1.23 on
    # Python 3.10) fuse x*sigmoid(x) into a QuickGelu node that has no float64
    # kernel.  The model is the same; only the runtime's rewriting differs.
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(["Y"], {"X": X})[0]


def inputs(dtype, n=64, n_in=7, seed=0):
    rng = np.random.default_rng(seed)
    # wide inputs, so that every activation's negative, small and large
    # regions (softplus's overflow region included) are exercised
    return (rng.standard_normal((n, n_in)) * 4).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_every_hidden_activation_matches(hidden, dtype):
    net = nnc.Network([7, 9, 6, 4], activation=hidden, output_activation="softmax",
                      loss="categorical_crossentropy", dtype=dtype, seed=1, init="scaled")
    X = inputs(dtype)
    model = nnc_onnx.export(net)
    got = run(model, X)
    want = net.forward(X)
    assert got.dtype == want.dtype == np.dtype(dtype)
    assert got.shape == (64, 4)
    # GELU's Erf runs in float32 in float64 models (onnxruntime has no double Erf)
    tight = dtype == "float64" and hidden != "gelu"
    np.testing.assert_allclose(got, want, rtol=1e-10 if tight else 1e-5,
                               atol=1e-12 if tight else 1e-5)
    # and the hidden layer itself, by exporting a network that ends there
    head = nnc.Network([7, 9], activation=hidden, dtype=dtype)
    head.params[...] = net.params[:head.params.size]
    np.testing.assert_allclose(run(nnc_onnx.export(head), X), head.forward(X),
                               rtol=1e-10 if tight else 1e-5, atol=1e-12 if tight else 1e-5)
    np.testing.assert_allclose(head.forward(X), net.forward(X, layer=1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("output", ["sigmoid", "identity", "softmax", "relu", "exp"])
def test_output_activations_and_batch_sizes(output, dtype):
    net = nnc.Network([5, 8, 3], activation="tanh", output_activation=output, dtype=dtype,
                      seed=2)
    model = nnc_onnx.export(net)
    for n in (1, 3, 100):
        X = inputs(dtype, n=n, n_in=5, seed=n)
        np.testing.assert_allclose(run(model, X), net.forward(X), rtol=1e-5, atol=1e-6)


def test_graph_interface_and_checker(tmp_path):
    net = nnc.Network([784, 30, 10], seed=0)
    path = tmp_path / "net.onnx"
    model = nnc_onnx.export(net, path)
    assert path.exists() and path.stat().st_size > 784 * 30 * 4
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded, full_check=True)
    (inp,), (out,) = loaded.graph.input, loaded.graph.output
    assert inp.name == "X" and out.name == "Y"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and dims[1].dim_value == 784
    assert [o.version for o in loaded.opset_import] == [nnc_onnx.DEFAULT_OPSET]
    assert [n.op_type for n in loaded.graph.node] == ["Gemm", "Sigmoid", "Gemm", "Sigmoid"]
    props = {p.key: p.value for p in loaded.metadata_props}
    assert props["sizes"] == "[784, 30, 10]" and props["dtype"] == "float32"
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in loaded.graph.initializer}
    np.testing.assert_array_equal(inits["W0"], net.weights[0].T)
    np.testing.assert_array_equal(inits["b1"], net.biases[1])
    # the file runs the same as the returned model
    X = np.random.default_rng(0).random((5, 784), dtype=np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"X": X})[0], net.forward(X), rtol=1e-5,
                               atol=1e-6)
    assert model.graph.name == "nnc_network"


def test_perceptron_exports_the_step():
    p = Perceptron(2, n_outputs=2)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    p.fit(X, np.array([[0, 0], [0, 1], [0, 1], [1, 1]]), epochs=50)
    model = nnc_onnx.export(p)
    np.testing.assert_array_equal(run(model, X), p.forward(X))
    assert p.to_onnx().graph.node[-1].op_type == "Cast"


def test_sklearn_estimator_exports_its_network():
    pytest.importorskip("sklearn")
    from nnc.sklearn import MLPClassifier
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=20, threads=1)
    with pytest.warns(Warning):
        clf.fit(X, y)
    np.testing.assert_allclose(run(nnc_onnx.export(clf), X), clf.predict_proba(X),
                               rtol=1e-10, atol=1e-12)


def test_bad_arguments():
    with pytest.raises(TypeError, match="Network"):
        nnc_onnx.export(object())
    net = nnc.Network([2, 2])
    with pytest.raises(ValueError, match="opset"):
        nnc_onnx.export(net, opset=11)
    with pytest.raises(TypeError, match="name"):
        nnc_onnx.export(net, name=3)


def test_missing_onnx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"nnc\[onnx\]"):
        nnc_onnx.export(nnc.Network([2, 2]))
