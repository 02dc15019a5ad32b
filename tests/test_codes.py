"""One source of truth for the engine's codes: the ``cpdef enum``s of
nnc/_kernels.pxd and nnc/_engine.pyx.  Every Python table of names is derived
from them, and every name is complete where it must be (a NumPy reference,
an ONNX builder) and computes what its name says."""
import pathlib

import numpy as np
import pytest

import nnc
from nnc import _codes, _engine, _kernels, activations, losses, optimizers


@pytest.mark.parametrize("table,enum,prefix", [
    (_codes.ACTIVATIONS, _kernels.Activation, "ACT_"),
    (_codes.LOSSES, _kernels.Loss, "LOSS_"),
    (_codes.OPTIMIZERS, _engine.Optimizer, "OPT_"),
    (_codes.INPUT_MODES, _engine.InputMode, "INPUT_"),
])
def test_tables_are_the_enums(table, enum, prefix):
    assert table == {m.name[len(prefix):].lower(): int(m) for m in enum}
    assert sorted(table.values()) == list(range(len(table)))   # dense codes from 0


def test_python_tables_derive_from_the_enums():
    assert activations.CODES == _codes.ACTIVATIONS
    assert {k: v for k, v in losses.CODES.items() if not k.startswith("sparse")} == \
        _codes.LOSSES
    assert losses.CODES["sparse_categorical_crossentropy"] == \
        _codes.LOSSES["categorical_crossentropy"]
    assert dict(optimizers.CODES) == _codes.OPTIMIZERS
    from nnc import network
    assert (network._INPUT_DENSE, network._INPUT_COMPACT, network._INPUT_CSR) == \
        tuple(_codes.INPUT_MODES[k] for k in ("dense", "compact", "csr"))


def test_every_code_has_its_numpy_reference():
    assert set(activations.FUNCTIONS) == set(activations.CODES)
    assert set(activations.DERIVATIVES) == set(activations.CODES) - {"softmax", "step"}
    assert set(losses.FUNCTIONS) == set(losses.CODES)
    assert set(losses.TUTORIAL_LR) == set(losses.CODES)


@pytest.mark.parametrize("name", sorted(_codes.ACTIVATIONS))
def test_each_activation_code_computes_what_its_name_says(name):
    z = np.linspace(-4, 4, 24).reshape(3, 8)
    out = np.empty_like(z)
    nnc.kernels.activation(_codes.ACTIVATIONS[name], z, out)
    np.testing.assert_allclose(out, activations.FUNCTIONS[name](z), rtol=1e-12, atol=1e-12)


def test_no_hand_synced_tables_remain():
    root = pathlib.Path(nnc.__file__).parent
    for path in sorted(root.glob("*.py")) + sorted(root.glob("*.pyx")) + \
            sorted(root.glob("*.pxd")):
        text = path.read_text(encoding="utf-8").lower()
        assert "keep in sync" not in text and "kept in sync" not in text, path.name
