"""nnc.kernels never return a wrong answer silently (issue 11, section 2).

The C cores read their inputs while they write their output, so an output
that shares memory with an input would be computed from half-overwritten
values.  For every public kernel, every (output, input) pair is placed in one
buffer at several offsets -- the same array object, the same memory as a
distinct view, partial overlaps either way, a view starting halfway, and
views that touch without overlapping -- in float32 and float64.  Each call
must either give NumPy's answer (computed from copies taken before the call)
or raise ValueError naming both arguments and leave every array as it was.
Inputs may overlap one another (they are only read): those placements must
give the right answer.  The checks of every output's (and input's) type,
dtype, layout, alignment, writeability and shape follow.
"""
import math
import re

import numpy as np
import pytest

from nnc import activations as acts
from nnc import kernels as K

DTYPES = [np.float32, np.float64]
DIMS = {"square": dict(m=4, n_in=4, n_out=4, n=4, k=4),
        "rect": dict(m=3, n_in=5, n_out=2, n=5, k=6)}
LAYOUTS = ["identical", "same-start", "out-shift", "in-shift", "out-half", "out-after",
           "in-after"]


def _tol(dtype):
    return dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)


def _lse(z):
    mx = z.max(axis=1, keepdims=True)
    return mx + np.log(np.exp(z - mx).sum(axis=1, keepdims=True))


def _derivative(kind, z, a, delta):
    if kind == "sigmoid":
        return delta * a * (1 - a)
    if kind == "relu":
        return delta * (z > 0)
    return a * (delta - (delta * a).sum(axis=1, keepdims=True))  # softmax


def _loss(pair, z, a, y):
    m = z.shape[0]
    if pair == "quadratic/sigmoid":
        return 0.5 * ((a - y) ** 2).sum() / m, (a - y) * a * (1 - a) / m
    sy = y.sum(axis=1, keepdims=True)  # categorical cross-entropy after softmax, fused
    return -(y * (z - _lse(z))).sum() / m, (a * sy - y) / m


# Each kernel: its arrays in call order with symbolic shapes, its outputs,
# the (output, input) pairs it may compute in place, a call, and NumPy's answer
# as {output: value} (plus "return" for a returned value).
KERNELS = {
    "matvec": dict(
        arrays=[("w", ("n_out", "n_in")), ("x", ("n_in",)), ("b", ("n_out",)),
                ("out", ("n_out",))], outputs=("out",),
        call=lambda v, kind: K.matvec(v["w"], v["x"], v["b"], v["out"]),
        ref=lambda v, kind: {"out": v["w"] @ v["x"] + v["b"]}),
    "batch_forward": dict(
        arrays=[("x", ("m", "n_in")), ("w", ("n_out", "n_in")), ("b", ("n_out",)),
                ("out", ("m", "n_out"))], outputs=("out",),
        call=lambda v, kind: K.batch_forward(v["x"], v["w"], v["b"], v["out"]),
        ref=lambda v, kind: {"out": v["x"] @ v["w"].T + v["b"]}),
    "backprop_delta": dict(
        arrays=[("delta", ("m", "n_out")), ("w", ("n_out", "n_in")), ("out", ("m", "n_in"))],
        outputs=("out",),
        call=lambda v, kind: K.backprop_delta(v["delta"], v["w"], v["out"]),
        ref=lambda v, kind: {"out": v["delta"] @ v["w"]}),
    "weight_gradient": dict(
        arrays=[("delta", ("m", "n_out")), ("a_prev", ("m", "n_in")),
                ("out", ("n_out", "n_in"))], outputs=("out",),
        # beta != 0: the old value of out is read too
        call=lambda v, kind: K.weight_gradient(v["delta"], v["a_prev"], v["out"], beta=0.5),
        ref=lambda v, kind: {"out": v["delta"].T @ v["a_prev"] + 0.5 * v["out"]}),
    "activation": dict(
        arrays=[("z", ("m", "n")), ("out", ("m", "n"))], outputs=("out",),
        in_place=(("out", "z"),), kinds=("sigmoid", "softmax", "identity", "tanh"),
        call=lambda v, kind: K.activation(kind, v["z"], v["out"]),
        ref=lambda v, kind: {"out": acts.FUNCTIONS[kind](v["z"])}),
    "activation_derivative": dict(
        arrays=[("z", ("m", "n")), ("a", ("m", "n")), ("delta", ("m", "n"))],
        outputs=("delta",), kinds=("sigmoid", "relu", "softmax"),
        call=lambda v, kind: K.activation_derivative(kind, v["z"], v["a"], v["delta"]),
        ref=lambda v, kind: {"delta": _derivative(kind, v["z"], v["a"], v["delta"])}),
    "loss_and_delta": dict(
        arrays=[("z", ("m", "n_out")), ("a", ("m", "n_out")), ("y", ("m", "n_out")),
                ("delta", ("m", "n_out"))], outputs=("delta",),
        kinds=("quadratic/sigmoid", "categorical_crossentropy/softmax"),
        call=lambda v, kind: K.loss_and_delta(*kind.split("/"), v["z"], v["a"], v["y"],
                                              v["delta"]),
        ref=lambda v, kind: dict(zip(("return", "delta"), _loss(kind, v["z"], v["a"], v["y"]),
                                     strict=True))),
    "sgd_step": dict(
        arrays=[("param", ("k",)), ("grad", ("k",))], outputs=("param",),
        call=lambda v, kind: K.sgd_step(v["param"], v["grad"], 0.25),
        ref=lambda v, kind: {"param": v["param"] - 0.25 * v["grad"]}),
}


def _cases(pairs):
    """Every pair x kind x layout x dimensions in which the pair can be placed
    (one array object for two arguments needs two equal shapes)."""
    cases = []
    for kernel, spec in sorted(KERNELS.items()):
        names = [n for n, _ in spec["arrays"]]
        shapes = dict(spec["arrays"])
        for first, second in pairs(spec, names):
            for kind in spec.get("kinds", (None,)):
                for layout in LAYOUTS:
                    for dims, d in sorted(DIMS.items()):
                        if layout == "identical" and ([d[k] for k in shapes[first]]
                                                      != [d[k] for k in shapes[second]]):
                            continue
                        cases.append(pytest.param(
                            kernel, first, second, kind, layout, dims,
                            id=f"{kernel}-{first}-{second}-{kind}-{layout}-{dims}"))
    return cases


def _output_input_pairs(spec, names):
    return [(o, n) for o in spec["outputs"] for n in names if n != o]


def _input_input_pairs(spec, names):
    inputs = [n for n in names if n not in spec["outputs"]]
    return [(p, q) for i, p in enumerate(inputs) for q in inputs[i + 1:]]


def _offsets(layout, size_first, size_second):
    """Where ``first`` and ``second`` start in the shared buffer."""
    return {"same-start": (0, 0), "out-shift": (1, 0), "in-shift": (0, 1),
            "out-half": (size_second // 2, 0), "out-after": (size_second, 0),
            "in-after": (0, size_first)}[layout]


def _place(kernel, first, second, layout, dims, dtype, rng):
    """All arrays of ``kernel``; ``first`` and ``second`` are views of one buffer."""
    spec = KERNELS[kernel]
    shapes = {n: tuple(dims[d] for d in s) for n, s in spec["arrays"]}
    values = {n: (rng.standard_normal(s) * 0.5).astype(dtype) for n, s in shapes.items()}
    if layout == "identical":
        values[first] = values[second]
        return values
    size_f, size_s = math.prod(shapes[first]), math.prod(shapes[second])
    off_f, off_s = _offsets(layout, size_f, size_s)
    base = (rng.standard_normal(max(off_f + size_f, off_s + size_s) + 3) * 0.5).astype(dtype)
    values[first] = base[off_f:off_f + size_f].reshape(shapes[first])
    values[second] = base[off_s:off_s + size_s].reshape(shapes[second])
    return values


def _snapshot(values):
    return {n: np.array(v, dtype=np.float64) for n, v in values.items()}


def _run_and_compare(kernel, kind, values, dtype, in_place_pair=None):
    """Call the kernel; compare its outputs and unwritten inputs with NumPy."""
    spec = KERNELS[kernel]
    before = _snapshot(values)
    expected = spec["ref"](before, kind)
    returned = spec["call"](values, kind)
    for name, want in expected.items():
        got = returned if name == "return" else values[name]
        np.testing.assert_allclose(got, want, err_msg=f"{kernel}: {name}", **_tol(dtype))
    written = set(spec["outputs"]) | set(in_place_pair or ())
    for name, old in before.items():
        if name not in written:
            np.testing.assert_array_equal(values[name], old.astype(dtype),
                                          err_msg=f"{kernel} changed its input {name}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel,out,arg,kind,layout,dims", _cases(_output_input_pairs))
def test_output_overlapping_an_input_raises_or_is_correct(kernel, out, arg, kind, dtype,
                                                          layout, dims, rng):
    values = _place(kernel, out, arg, layout, DIMS[dims], dtype, rng)
    o, a = values[out], values[arg]
    shares = np.shares_memory(o, a)  # NumPy's exact answer, the oracle
    same = shares and o.__array_interface__ == a.__array_interface__
    if not shares or (same and (out, arg) in KERNELS[kernel].get("in_place", ())):
        _run_and_compare(kernel, kind, values, dtype, (out, arg) if shares else None)
        return
    before = _snapshot(values)
    with pytest.raises(ValueError, match=rf"\b{out}\b.*\b{arg}\b"):
        KERNELS[kernel]["call"](values, kind)
    for name, old in before.items():  # a refused call writes nothing
        np.testing.assert_array_equal(values[name], old.astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel,first,second,kind,layout,dims", _cases(_input_input_pairs))
def test_inputs_may_overlap_each_other(kernel, first, second, kind, dtype, layout, dims, rng):
    values = _place(kernel, first, second, layout, DIMS[dims], dtype, rng)
    _run_and_compare(kernel, kind, values, dtype)


def test_the_reported_cases_raise(rng):
    # issue 11: these returned results off by 0.6 to 325
    x = rng.standard_normal((4, 4))
    w, b = rng.standard_normal((4, 4)), rng.standard_normal(4)
    with pytest.raises(ValueError, match="out is the same memory as x"):
        K.batch_forward(x, w, b, out=x)
    v = rng.standard_normal(4)
    with pytest.raises(ValueError, match="out is the same memory as x"):
        K.matvec(w, v, b, out=v)
    d = rng.standard_normal((4, 4))
    with pytest.raises(ValueError, match="out is the same memory as delta"):
        K.backprop_delta(d, w, out=d)


@pytest.mark.parametrize("dtype", DTYPES)
def test_overlap_test_agrees_with_numpy_on_many_slices(dtype):
    # The wrappers decide overlap from byte intervals (exact for contiguous
    # arrays); compare with np.shares_memory's exact answer.
    base = np.zeros(64, dtype)
    views = [base[i:j] for i in range(0, 12) for j in range(i, 14)]
    views += [base[i:i + 12].reshape(3, 4) for i in range(0, 8)]
    views.append(base.view(np.uint8)[4:8 * 4 + 4].view(dtype) if dtype == np.float32
                 else base[2:6])
    for p in views:
        for q in views:
            assert K.overlaps(p, q) == np.shares_memory(p, q), (p.shape, q.shape)


# ---------------------------------------------------------------------------
# every argument: type, dtype, layout, alignment, writeability, shape
# ---------------------------------------------------------------------------
def _good(kernel, dtype, rng):
    spec = KERNELS[kernel]
    shapes = {n: tuple(DIMS["rect"][d] for d in s) for n, s in spec["arrays"]}
    return {n: (rng.standard_normal(s) * 0.5).astype(dtype) for n, s in shapes.items()}


def _unaligned(arr):
    raw = np.zeros(arr.nbytes + 1, np.uint8)[1:]
    out = raw.view(arr.dtype).reshape(arr.shape)
    out[...] = arr
    return out


def _wider(arr):
    return np.zeros(arr.shape[:-1] + (arr.shape[-1] + 1,), arr.dtype)


DEFECTS = {
    "list": (lambda a: a.tolist(), TypeError, "must be a NumPy array"),
    "masked": (lambda a: np.ma.masked_array(a), TypeError, "must be a NumPy array"),
    "int64": (lambda a: a.astype(np.int64), TypeError, "float32 or float64"),
    "byteswapped": (lambda a: a.astype(a.dtype.newbyteorder(">")), TypeError,
                    "float32 or float64"),
    "other float": (lambda a: a.astype(np.float64 if a.dtype == np.float32 else np.float32),
                    TypeError, "dtype"),
    "strided": (lambda a: np.repeat(a, 2, axis=-1)[..., ::2], ValueError, "C-contiguous"),
    "unaligned": (_unaligned, ValueError, "aligned"),
    "wider": (_wider, ValueError, "shape"),
    "extra dim": (lambda a: a[None], ValueError, "-D"),
}


def _defect_cases():
    return [pytest.param(kernel, name, defect, id=f"{kernel}-{name}-{defect}")
            for kernel, spec in sorted(KERNELS.items()) for name, _ in spec["arrays"]
            for defect in DEFECTS]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel,name,defect", _defect_cases())
def test_each_bad_argument_is_named(kernel, name, defect, dtype, rng):
    values = _good(kernel, dtype, rng)
    make, exc, words = DEFECTS[defect]
    if defect == "other float" and name == KERNELS[kernel]["arrays"][0][0]:
        name = KERNELS[kernel]["arrays"][1][0]  # the first array sets the dtype
    values[name] = make(values[name])
    kind = KERNELS[kernel].get("kinds", (None,))[0]
    with pytest.raises(exc) as info:
        KERNELS[kernel]["call"](values, kind)
    message = str(info.value)
    # named first, or (a shape that disagrees with an earlier argument) as the reference
    assert re.search(rf"\b{name}\b", message) and words in message, message


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_read_only_outputs_are_refused_and_read_only_inputs_accepted(kernel, dtype, rng):
    spec = KERNELS[kernel]
    kind = spec.get("kinds", (None,))[0]
    for out in spec["outputs"]:
        values = _good(kernel, dtype, rng)
        values[out].flags.writeable = False
        before = _snapshot(values)
        with pytest.raises(ValueError, match=rf"^{out} must be writeable"):
            spec["call"](values, kind)
        np.testing.assert_array_equal(values[out], before[out].astype(dtype))
    values = _good(kernel, dtype, rng)
    for name, arr in values.items():
        if name not in spec["outputs"]:
            arr.flags.writeable = False
    _run_and_compare(kernel, kind, values, dtype)


@pytest.mark.parametrize("bad,exc", [("0.5", TypeError), (None, TypeError),
                                     (np.array(0.5), TypeError), (float("nan"), ValueError),
                                     (True, TypeError)])
def test_scalar_arguments_are_checked(bad, exc):
    z = np.zeros((2, 3))
    with pytest.raises(exc, match=r"^beta "):
        K.weight_gradient(z, z, np.zeros((3, 3)), beta=bad)
    with pytest.raises(exc, match=r"^lr "):
        K.sgd_step(np.zeros(3), np.ones(3), bad)


def test_numpy_scalars_are_accepted_for_scalar_arguments():
    p, q = np.zeros(3), np.zeros(3)
    K.sgd_step(p, np.ones(3), np.float32(0.5))
    K.sgd_step(q, np.ones(3), 0.5)
    np.testing.assert_array_equal(p, q)
    z = np.ones((2, 3))
    a, b = np.empty_like(z), np.empty_like(z)
    K.activation(np.int64(acts.CODES["tanh"]), z, a)
    K.activation("tanh", z, b)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="^kind must be a name or an integer code, got a 0-d"):
        K.activation(np.array(2), z, a)
