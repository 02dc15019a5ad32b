"""Export a network to ONNX, for onnxruntime and every other ONNX runtime.

The graph has one input, ``X`` of shape ``[N, sizes[0]]`` and the network's
dtype (float32 or float64), and one output, ``Y`` of shape ``[N, sizes[-1]]``:
the output layer's activations, exactly what :meth:`nnc.Network.forward`
returns (dropout plays no part at inference).  Each layer is a ``Gemm``
(``z = a W^T + b``, with the weights stored as the (n_in, n_out) matrix
``W{l}`` and the bias ``b{l}``) followed by its activation:

=============  ======================================================================
identity       nothing (an ``Identity`` names the output)
sigmoid        ``Sigmoid``
tanh           ``Tanh``
relu           ``Relu``
leaky_relu     ``LeakyRelu(alpha=0.01)`` (float32); ``Where(z > 0, z, 0.01 z)`` (float64)
elu            ``Elu`` (float32); ``Where(z > 0, z, Exp(Min(z, 0)) - 1)`` (float64)
gelu           ``0.5 z (1 + Erf(z / sqrt 2))``
softplus       ``Softplus`` (float32); ``Relu(z) + Log(1 + Exp(-|z|))`` (float64)
swish          ``z * Sigmoid(z)``
softmax        ``Softmax(axis=-1)``
step           ``Cast(z > 0)`` (a :class:`nnc.Perceptron`)
exp            ``Exp`` (the output of a Poisson regression)
=============  ======================================================================

onnxruntime has no float64 kernels for ``Elu``, ``Softplus`` and ``Erf``, and
reads ``LeakyRelu``'s alpha as a 32-bit float, so float64 models spell the
first three out with elementary operators, and
evaluate GELU's ``Erf`` in float32 between two ``Cast`` nodes: a float64
GELU network therefore agrees with nnc to about 1e-7 rather than to float64
precision.  Everything else is computed in the network's own dtype.

onnx is an optional dependency: ``pip install 'nnc[onnx]'`` (onnxruntime
is only needed to run the model).
"""
import math

import numpy as np

from nnc import _files

__all__ = ["export", "DEFAULT_OPSET"]

#: ONNX opset of the exported graph (Softmax over the last axis needs >= 13)
DEFAULT_OPSET = 17
#: IR version 8 goes with opset 17 and is read by onnxruntime >= 1.11
_IR_VERSION = 8


def _onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as exc:
        raise ImportError("nnc.onnx needs the onnx package: pip install 'nnc[onnx]'") from exc
    return onnx, helper, numpy_helper


def _network_of(net):
    """The object that holds sizes/weights/biases/activations."""
    if hasattr(net, "network_"):          # a fitted nnc.sklearn estimator
        net = net.network_
    for attr in ("sizes", "weights", "biases", "activations", "dtype"):
        if not hasattr(net, attr):
            raise TypeError("net must be an nnc.Network, an nnc.Perceptron or a fitted "
                            f"nnc.sklearn estimator, got {type(net).__name__}")
    return net


class _Graph:
    """Accumulates nodes and initializers with unique names."""

    def __init__(self, helper, numpy_helper, dtype):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.dtype = dtype
        self.nodes, self.initializers = [], []
        self._consts = {}
        self._count = 0

    def name(self, stem):
        self._count += 1
        return f"{stem}_{self._count}"

    def tensor(self, name, array):
        self.initializers.append(self.numpy_helper.from_array(np.asarray(array), name))
        return name

    def const(self, value):
        """A scalar constant of the graph's dtype, shared by every use."""
        key = float(value)
        if key not in self._consts:
            self._consts[key] = self.tensor(f"const_{len(self._consts)}",
                                            np.array(value, dtype=self.dtype))
        return self._consts[key]

    def op(self, op_type, inputs, output=None, **attrs):
        output = output or self.name(op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [output],
                                                name=self.name(f"{op_type}"), **attrs))
        return output


# One builder per activation: ``f(g, z, out, onnx)`` appends the nodes of the
# activation applied to ``z`` and returns the output's name.  The keys are
# the engine's activation names (nnc.activations.CODES, from the enum in
# nnc/_kernels.pxd); tests/test_onnx.py checks that every one has a builder.
def _leaky_relu(g, z, out, onnx):
    if g.dtype != np.float64:
        return g.op("LeakyRelu", [z], out, alpha=0.01)
    # LeakyRelu's alpha attribute is a 32-bit float: 0.01 would be off by 2e-10
    return g.op("Where", [g.op("Greater", [z, g.const(0)]), z,
                          g.op("Mul", [z, g.const(0.01)])], out)


def _elu(g, z, out, onnx):
    if g.dtype != np.float64:
        return g.op("Elu", [z], out, alpha=1.0)
    negative = g.op("Sub", [g.op("Exp", [g.op("Min", [z, g.const(0)])]), g.const(1)])
    return g.op("Where", [g.op("Greater", [z, g.const(0)]), z, negative], out)


def _softplus(g, z, out, onnx):
    if g.dtype != np.float64:
        return g.op("Softplus", [z], out)
    # log(1 + e^z) = max(z, 0) + log(1 + e^-|z|): no overflow for large z
    tail = g.op("Log", [g.op("Add", [g.const(1), g.op("Exp", [g.op("Neg", [
        g.op("Abs", [z])])])])])
    return g.op("Add", [g.op("Relu", [z]), tail], out)


def _gelu(g, z, out, onnx):
    scaled = g.op("Mul", [z, g.const(1 / math.sqrt(2))])
    if g.dtype == np.float64:   # onnxruntime has no float64 Erf
        erf = g.op("Cast", [g.op("Erf", [g.op("Cast", [scaled], to=onnx.TensorProto.FLOAT)])],
                   to=onnx.TensorProto.DOUBLE)
    else:
        erf = g.op("Erf", [scaled])
    half_z = g.op("Mul", [z, g.const(0.5)])
    return g.op("Mul", [half_z, g.op("Add", [erf, g.const(1)])], out)


def _step(g, z, out, onnx):
    elem = onnx.TensorProto.DOUBLE if g.dtype == np.float64 else onnx.TensorProto.FLOAT
    return g.op("Cast", [g.op("Greater", [z, g.const(0)])], out, to=elem)


_BUILDERS = {
    "identity": lambda g, z, out, onnx: g.op("Identity", [z], out) if out else z,
    "sigmoid": lambda g, z, out, onnx: g.op("Sigmoid", [z], out),
    "tanh": lambda g, z, out, onnx: g.op("Tanh", [z], out),
    "relu": lambda g, z, out, onnx: g.op("Relu", [z], out),
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "gelu": _gelu,
    "softplus": _softplus,
    "swish": lambda g, z, out, onnx: g.op("Mul", [z, g.op("Sigmoid", [z])], out),
    "softmax": lambda g, z, out, onnx: g.op("Softmax", [z], out, axis=-1),
    "step": _step,
    "exp": lambda g, z, out, onnx: g.op("Exp", [z], out),
}


def _activation(g, kind, z, out, onnx):
    """Append the nodes of activation ``kind`` applied to ``z``; return the output name."""
    if kind not in _BUILDERS:
        raise ValueError(f"activation {kind!r} has no ONNX export")
    return _BUILDERS[kind](g, z, out, onnx)


def export(net, path=None, *, opset=DEFAULT_OPSET, name=None):
    """Build (and optionally save) the ONNX model of a network.

    Parameters
    ----------
    net : nnc.Network, nnc.Perceptron or fitted nnc.sklearn estimator
        For an estimator, its network is exported: the graph outputs
        probabilities (classifier) or predictions (regressor), not labels.
    path : str or os.PathLike, optional
        Where to write the ``.onnx`` file.
    opset : int, default 17
        ONNX operator set (13 or later).
    name : str, optional
        Graph name (default ``"nnc_network"``).

    Returns
    -------
    onnx.ModelProto
        The model, already validated by ``onnx.checker.check_model``.

    Examples
    --------
    >>> import nnc, onnxruntime as ort                       # doctest: +SKIP
    >>> net = nnc.Network([784, 30, 10])                     # doctest: +SKIP
    >>> nnc.onnx.export(net, "net.onnx")                     # doctest: +SKIP
    >>> session = ort.InferenceSession("net.onnx")           # doctest: +SKIP
    >>> session.run(["Y"], {"X": X_test})[0]                 # doctest: +SKIP
    """
    onnx, helper, numpy_helper = _onnx()
    net = _network_of(net)
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or opset < 13:
        raise ValueError(f"opset must be an integer >= 13, got {opset!r}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    dtype = np.dtype(net.dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"only float32 and float64 networks can be exported, got {dtype}")
    elem = onnx.TensorProto.DOUBLE if dtype == np.float64 else onnx.TensorProto.FLOAT
    sizes = [int(s) for s in net.sizes]
    kinds = list(net.activations)
    if len(kinds) != len(sizes) - 1:
        raise ValueError("net.activations must name one activation per layer of weights")

    g = _Graph(helper, numpy_helper, dtype)
    a = "X"
    last = len(sizes) - 2
    for l, (W, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        W = np.asarray(W, dtype=dtype)
        if W.shape != (sizes[l + 1], sizes[l]):
            raise ValueError(f"weights[{l}] has shape {W.shape}, sizes say "
                             f"{(sizes[l + 1], sizes[l])}")
        w_name = g.tensor(f"W{l}", np.ascontiguousarray(W.T))     # (n_in, n_out)
        b_name = g.tensor(f"b{l}", np.ascontiguousarray(b, dtype=dtype))
        z = g.op("Gemm", [a, w_name, b_name], f"z{l + 1}")
        a = _activation(g, kinds[l], z, "Y" if l == last else f"a{l + 1}", onnx)

    inputs = [helper.make_tensor_value_info("X", elem, ["N", sizes[0]])]
    outputs = [helper.make_tensor_value_info("Y", elem, ["N", sizes[-1]])]
    graph = helper.make_graph(g.nodes, name or "nnc_network", inputs, outputs,
                              initializer=g.initializers)
    from nnc._version import __version__
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", int(opset))],
                              producer_name="nnc", producer_version=__version__)
    model.ir_version = _IR_VERSION
    model.doc_string = (f"nnc network: sizes {sizes}, activations {kinds}, "
                        f"dtype {dtype.name}")
    helper.set_model_props(model, {"sizes": str(sizes), "activations": ",".join(kinds),
                                   "dtype": dtype.name,
                                   "loss": str(getattr(net, "loss", ""))})
    onnx.checker.check_model(model, full_check=True)
    if path is not None:
        with _files.atomic_write(path) as fh:  # never replaces a device, FIFO or folder
            fh.write(model.SerializeToString())
    return model
