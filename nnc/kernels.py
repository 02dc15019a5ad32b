"""nnc's compute kernels, callable from Python over NumPy arrays.

Each function takes float32 or float64 C-contiguous arrays (all of one
dtype) and writes its result in place; shapes are checked.  They are the
same C cores the training engine runs.

- :func:`matvec` -- ``out = W x + b`` for one sample
- :func:`batch_forward` -- ``out = X W^T + b`` for a mini-batch
- :func:`backprop_delta` -- ``out = delta W`` (W^T delta for each row)
- :func:`weight_gradient` -- ``out = delta^T A (+ beta out)``
- :func:`activation` / :func:`activation_derivative` -- f(z), and delta *= f'(z)
- :func:`loss_and_delta` -- mean cost and output error of a batch
- :func:`sgd_step` -- ``param -= lr * grad``

Activation and loss codes are in ``nnc.activations.CODES`` and
``nnc.losses.CODES``.
"""
from nnc._kernels import (  # noqa: F401
    activation,
    activation_derivative,
    backprop_delta,
    batch_forward,
    loss_and_delta,
    matvec,
    sgd_step,
    weight_gradient,
)

__all__ = ["activation", "activation_derivative", "backprop_delta", "batch_forward",
           "loss_and_delta", "matvec", "sgd_step", "weight_gradient"]
