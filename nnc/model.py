"""What every nnc model shares: its parameters, configuration, files and pickles.

A model's parameters live in one flat buffer, ``params``.  Layer l's
weights W^l are stored transposed, as a row-major (n_in, n_out) block,
followed by its biases b^l; gradients and optimizer state use the same
layout, so an update, an allreduce or a save is one call over one array.

The buffer has one owner, the model.  ``weights`` and ``biases`` are
sequences over it: reading ``weights[l]`` gives a live view of W^l, shape
(n_out, n_in); assigning ``weights[l] = W`` copies W into the buffer after
checking its shape, type and values, as does assigning ``params``.  The
architecture (``sizes``, ``activations``, ``dtype``) is read-only once the
model is built: build a new model to change it.  So ``forward``,
``gradients``, ``save`` and the attributes always describe the same
network.  Writing into a view (``net.weights[0][...] = W``, ``W += dW``) is
allowed and unchecked, like writing into any NumPy array.

Model files: :class:`Model` subclasses register under a ``kind`` (the
``kind`` field of a model file), so :mod:`nnc.io` rebuilds them without
importing them.
"""
from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, overload

import numpy as np

from nnc import _buffers
from nnc import io as _io
from nnc import onnx as _onnx

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, SupportsIndex

    from typing_extensions import Self

    from nnc._typing import ArrayLike, FloatArray, HistoryDict, PathLike

__all__ = ["Model", "LayerParams", "read_only"]


class LayerParams(Sequence["FloatArray"]):
    """The weight matrices (or bias vectors) of a model, one per layer of weights.

    Items are live views into the model's flat parameter buffer; item
    assignment copies into that buffer (see :meth:`__setitem__`).  The
    number of layers is fixed: there is no ``append`` or ``del``.  Models
    make these for their ``weights`` and ``biases``; there is no need to
    build one yourself.

    Parameters
    ----------
    model : Model
        The model whose buffer the items view.
    name : {"weights", "biases"}
        Which of each layer's blocks the items are.
    """

    __slots__ = ("_model", "_name")

    def __init__(self, model: Model, name: str) -> None:
        self._model = model
        self._name = name      # "weights" or "biases"

    def __len__(self) -> int:
        return self._model.n_layers

    def _index(self, l):
        try:
            l = operator.index(l)
        except TypeError:
            raise TypeError(f"{self._name} indices must be integers or slices, "
                            f"got {type(l).__name__}") from None
        n = len(self)
        if not -n <= l < n:
            raise IndexError(f"{self._name}[{l}] is out of range: the model has {n} "
                             "layers of weights")
        return l % n

    @overload
    def __getitem__(self, l: SupportsIndex) -> FloatArray: ...
    @overload
    def __getitem__(self, l: slice) -> list[FloatArray]: ...
    def __getitem__(self, l: SupportsIndex | slice) -> FloatArray | list[FloatArray]:
        if isinstance(l, slice):
            return [self[i] for i in range(*l.indices(len(self)))]
        return self._model._layer_view(self._index(l), self._name == "biases")

    def __setitem__(self, l: SupportsIndex | slice, value: ArrayLike) -> None:
        """Copy ``value`` into layer l's block of the parameter buffer.

        Raises
        ------
        ValueError
            A shape other than the layer's, or NaN/infinity (also after the
            conversion to the model's dtype) -- nothing is copied then.
        TypeError
            Values that are not real numbers (strings, objects, complex).
        """
        if isinstance(l, slice):
            raise TypeError(f"assign {self._name} one layer at a time "
                            f"({self._name}[l] = ...) or all at once")
        l = self._index(l)
        target = self[l]
        target[...] = self._model._checked(f"{self._name}[{l}]", value, target.shape)

    def __repr__(self) -> str:
        return repr(list(self))


def _own(value):
    """Private, writeable, aligned, C-contiguous copies of the arrays in a
    (nested) state value: unpickled state may be a read-only memmap, and the
    engine writes into what it is given."""
    if isinstance(value, np.ndarray):
        return np.array(value, dtype=value.dtype.newbyteorder("="), order="C", copy=True)
    if isinstance(value, (list, tuple)):
        return type(value)(_own(v) for v in value)
    if isinstance(value, dict):
        return {k: _own(v) for k, v in value.items()}
    return value


def read_only(name: str, doc: str) -> property:
    """A read-only property over the private attribute ``_<name>``.

    Parameters
    ----------
    name : str
        The public name; the value lives in ``_<name>``.
    doc : str
        The property's docstring.

    Returns
    -------
    property
    """
    return property(operator.attrgetter("_" + name), doc=doc)


class Model:
    """Base class of :class:`nnc.Network` and :class:`nnc.Perceptron`.

    Subclasses call :meth:`_build` from their constructor, implement
    :meth:`get_config`, and name their ``kind`` in the class statement
    (``class Network(Model, kind="network")``), which registers them for
    :func:`nnc.load`.
    """

    #: the model file's ``kind`` of this class
    kind: str | None = None
    #: the metrics of past training, per epoch (set by the subclasses)
    history: HistoryDict
    #: attributes stored privately (``_sizes``) and pickled under their public name
    _PICKLED_AS_PUBLIC: tuple[str, ...] = ("sizes", "activations", "dtype", "params")
    #: attributes that are not pickled (re-created by ``_init_transient``)
    _TRANSIENT: tuple[str, ...] = ()

    def __init_subclass__(cls, kind: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind is not None:
            cls.kind = kind
            _io.register(kind, cls)

    # -- the parameter buffer ------------------------------------------------
    def _build(self, sizes, activations, dtype):
        """Set the (read-only) architecture and allocate the zeroed buffer."""
        self._sizes = tuple(sizes)
        self._activations = tuple(activations)
        self._dtype = np.dtype(dtype)
        self._layout()
        self._params = _buffers.zeros(self._layout_size, self._dtype)

    def _layout(self):
        """Offsets of each W^l and b^l in the flat buffer."""
        self._w_off, self._b_off = [], []
        offset = 0
        for n_in, n_out in zip(self._sizes[:-1], self._sizes[1:], strict=True):
            self._w_off.append(offset)
            offset += n_in * n_out
            self._b_off.append(offset)
            offset += n_out
        self._layout_size = offset

    def _layer_view(self, l, bias, flat=None):
        """The view of W^l (shape (n_out, n_in), the transpose of its stored
        block) or of b^l in ``flat`` (by default the parameters)."""
        flat = self._params if flat is None else flat
        n_in, n_out = self._sizes[l], self._sizes[l + 1]
        if bias:
            return flat[self._b_off[l]:self._b_off[l] + n_out]
        w0 = self._w_off[l]
        return flat[w0:w0 + n_in * n_out].reshape(n_in, n_out).T

    def _views(self, flat):
        """Per-layer (W, b) views of a buffer laid out like the parameters
        (a gradient or an optimizer state)."""
        return ([self._layer_view(l, False, flat) for l in range(self.n_layers)],
                [self._layer_view(l, True, flat) for l in range(self.n_layers)])

    def _checked(self, name, value, shape):
        """``value`` as an array of the model's dtype and ``shape``, all finite."""
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be an array of real numbers: {exc}") from None
        if arr.dtype.kind not in "iuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        if arr.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
        with np.errstate(over="ignore", invalid="ignore"):
            arr = arr.astype(self._dtype)
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or infinity (or values too large for "
                             f"{self._dtype.name}); nothing was changed")
        return arr

    def _assign_layers(self, name, values):
        """``weights = [...]`` / ``biases = [...]``: every layer checked, then copied."""
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            raise TypeError(f"{name} must be a sequence of {self.n_layers} arrays")
        if len(values) != self.n_layers:
            raise ValueError(f"{name} needs {self.n_layers} arrays (one per layer of "
                             f"weights), got {len(values)}")
        bias = name == "biases"
        targets = [self._layer_view(l, bias) for l in range(self.n_layers)]
        checked = [self._checked(f"{name}[{l}]", v, t.shape)
                   for l, (v, t) in enumerate(zip(values, targets, strict=True))]
        for target, arr in zip(targets, checked, strict=True):
            target[...] = arr

    # -- the public view of the state ------------------------------------------
    sizes = read_only("sizes", "Neurons per layer, input first (a tuple: read-only).")
    activations = read_only("activations",
                            "Activation of each layer of weights (a tuple: read-only).")
    dtype = read_only("dtype", "The parameters' dtype (float32 or float64; read-only).")

    @property
    def n_layers(self) -> int:
        """Number of layers of weights (``len(sizes) - 1``)."""
        return len(self._sizes) - 1

    @property
    def params(self) -> FloatArray:
        """All parameters in one flat buffer (W^l transposed, then b^l, per layer).

        Assigning copies into the buffer: ``net.params = p`` needs shape
        ``(n_params,)``, real numbers and no NaN/infinity.
        """
        return self._params

    @params.setter
    def params(self, value: ArrayLike) -> None:
        self._params[...] = self._checked("params", value, self._params.shape)

    @property
    def weights(self) -> LayerParams:
        """W^l of each layer, shape (n_out, n_in): live views; assigning
        ``weights[l] = W`` (or ``weights = [W, ...]``) copies, checked."""
        return LayerParams(self, "weights")

    @weights.setter
    def weights(self, values: Sequence[ArrayLike]) -> None:
        self._assign_layers("weights", values)

    @property
    def biases(self) -> LayerParams:
        """b^l of each layer, shape (n_out,): live views; assignment copies, checked."""
        return LayerParams(self, "biases")

    @biases.setter
    def biases(self, values: Sequence[ArrayLike]) -> None:
        self._assign_layers("biases", values)

    # -- configuration ---------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this architecture (a JSON-able dict)."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        """A new, freshly initialised model built from :meth:`get_config`'s dict.

        Parameters
        ----------
        config : dict
            Constructor arguments, as :meth:`get_config` returns them.

        Returns
        -------
        Model
            A model of this class with that architecture; its parameters are
            initialised anew (from the seed, when the config has one), not
            copied.
        """
        if not isinstance(config, dict):
            raise TypeError(f"config must be a dict, got {type(config).__name__}")
        return cls(**config)

    def _file_config(self):
        """The ``network`` section of a model file."""
        return self.get_config()

    @classmethod
    def _from_file_config(cls, config):
        """Rebuild from a model file's (already type-checked) ``network`` section."""
        return cls.from_config(config)

    # -- files, ONNX -------------------------------------------------------------
    def save(self, path: PathLike, metadata: dict[str, Any] | None = None) -> None:
        """Save to an ``.npz`` model file (no pickle), atomically.

        See :func:`nnc.io.save`; :func:`nnc.load` reads it back.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write, written under exactly this name (``.npz``
            is customary).  An existing regular file is replaced only once
            the new one is complete.
        metadata : dict, optional
            JSON-serialisable values stored with the model.
        """
        _io.save(self, path, metadata=metadata)

    def to_onnx(self, path: PathLike | None = None, **kwargs: Any) -> Any:
        """Export to an ONNX model (needs the optional extra ``nnc[onnx]``).

        See :func:`nnc.onnx.export`.

        Parameters
        ----------
        path : str or os.PathLike, optional
            Where to write the ``.onnx`` file; None only returns the model.
        **kwargs
            Other arguments of :func:`nnc.onnx.export` (``opset``, ...).

        Returns
        -------
        onnx.ModelProto
        """
        return _onnx.export(self, path, **kwargs)

    # -- pickling ------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = {}
        for key, value in self.__dict__.items():
            if key in self._TRANSIENT:
                continue
            public = key[1:]
            state[public if public in self._PICKLED_AS_PUBLIC else key] = value
        state["params"] = self._params.copy()   # copy.copy must not share the buffer
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        for key in ("weights", "biases"):  # views, in pickles of nnc <= 0.1
            state.pop(key, None)
        for key in self._PICKLED_AS_PUBLIC:
            if key in state:
                state["_" + key] = state.pop(key)
        self.__dict__.update(_own(state))
        self._sizes = tuple(int(s) for s in self._sizes)
        self._activations = tuple(self._activations)
        self._dtype = np.dtype(self._dtype)
        self._layout()
        if self._params.shape != (self._layout_size,):
            raise ValueError(f"unpickled params have shape {self._params.shape}, the sizes "
                             f"{list(self._sizes)} need ({self._layout_size},)")
        self._params = self._params.astype(self._dtype, copy=False)
        self._init_transient()

    def _init_transient(self):
        """Re-create what is not pickled (locks and the like)."""
