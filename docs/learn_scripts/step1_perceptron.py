"""
1. The perceptron
=================

A perceptron takes inputs :math:`x_1, \\dots, x_n`, weighs them and fires when
the weighted sum passes a threshold:

.. math::

    \\text{output} = \\begin{cases} 1 & \\text{if } w \\cdot x + b > 0 \\\\
                                   0 & \\text{otherwise} \\end{cases}

The bias :math:`b` is minus the threshold.  Rosenblatt's rule trains it: for
each sample whose output is wrong, add :math:`\\eta\\,(y - \\text{output})\\,x`
to :math:`w` and :math:`\\eta\\,(y - \\text{output})` to :math:`b`.  On data
that a straight line (a hyperplane) separates, the rule stops making mistakes
after finitely many updates.  :class:`nnc.Perceptron` implements it.
"""
import numpy as np

import nnc

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
gates = {"AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "NAND": [1, 1, 1, 0]}

for name, y in gates.items():
    p = nnc.Perceptron(2)
    history = p.fit(X, y, epochs=20)
    w, b = p.weights[0][0], p.biases[0][0]
    print(f"{name:>4}: predictions {p.predict(X).astype(int).tolist()}, w = {w.tolist()}, "
          f"b = {b:g}, mistakes per epoch {history['errors']}")

# %%
# NAND is enough to build any logical circuit, so networks of perceptrons can
# compute anything a computer can.  But a single perceptron cannot learn
# XOR: no line puts (0, 1) and (1, 0) on one side and (0, 0), (1, 1) on the
# other.  The rule keeps making mistakes, epoch after epoch:
xor = [0, 1, 1, 0]
p = nnc.Perceptron(2)
history = p.fit(X, xor, epochs=20)
print("XOR: predictions", p.predict(X).astype(int).tolist(),
      "- mistakes in the last 5 epochs:", history["errors"][-5:],
      f"- accuracy {p.score(X, xor):.0%}")

# %%
# Why XOR needs a hidden layer
# ----------------------------
# XOR(x1, x2) = AND(OR(x1, x2), NAND(x1, x2)): two perceptrons in a first
# layer, one more reading their outputs.  The hidden layer maps the four
# points to a space where they *are* separable.  Wiring the three trained
# perceptrons together by hand:
units = {}
for name in ("OR", "NAND", "AND"):
    units[name] = nnc.Perceptron(2)
    units[name].fit(X, gates[name], epochs=20)
hidden = np.column_stack([units["OR"].predict(X), units["NAND"].predict(X)])
print("hidden layer (OR, NAND) for each input:", hidden.astype(int).tolist())
print("XOR from two layers:", units["AND"].predict(hidden).astype(int).tolist())

# %%
# The perceptron rule cannot train that hidden layer by itself: a step
# function gives no hint of which small change to a weight would help.  Smooth
# neurons can, which is the next step.  A small :class:`nnc.Network` with a
# hidden layer of sigmoid neurons learns XOR from the four samples:
net = nnc.Network([2, 4, 1], activation="sigmoid", loss="binary_crossentropy",
                  dtype="float64", seed=1)
history = net.fit(X, np.array(xor, dtype=float).reshape(-1, 1), epochs=2000, batch_size=4,
                  lr=1.0, verbose=0)
print("network 2-4-1 on XOR:", np.round(net.forward(X).ravel(), 3).tolist(),
      f"(loss {history['loss'][-1]:.4f})")
