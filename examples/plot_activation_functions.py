"""
Activation functions and their derivatives
==========================================

Every elementwise activation nnc's engine computes, drawn by
:func:`nnc.plot.activation_functions` from the NumPy reference versions in
:mod:`nnc.activations` (the functions the tests check the C kernels
against): f(z) solid, f'(z) dashed.  The sigmoid's derivative is never above
1/4, which is why deep sigmoid networks learn slowly; ReLU's is 0 or 1.

.. code-block:: bash

    python examples/plot_activation_functions.py [--out activations.png]
"""
import argparse

import numpy as np

import nnc
import nnc.plot

p = argparse.ArgumentParser(description="Draw nnc's activation functions")
p.add_argument("--out", help="save the figure to this PNG")
args = p.parse_args()

fig = nnc.plot.activation_functions(path=args.out)

# The largest slope of each function on [-4, 4], from the same NumPy versions.
z = np.linspace(-4, 4, 801)
for name, derivative in nnc.activations.DERIVATIVES.items():
    print(f"{name:>10}: max f'(z) on [-4, 4] = {np.max(derivative(z)):.3f}")
