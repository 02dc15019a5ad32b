"""
MNIST in pictures: learning curves, first-layer weights, confusion matrix
=========================================================================

The tutorials' 784-30-10 sigmoid network trained on MNIST with the test set
scored after every epoch, then drawn with :mod:`nnc.plot`: the learning
curves, each hidden neuron's 784 incoming weights as a 28 x 28 image, and the
confusion matrix of the test set.

.. code-block:: bash

    python examples/plot_mnist_figures.py [--epochs 30] [--out-dir figures]
"""
import os

import nnc
import nnc.plot

from _common import mnist, parser

p = parser(__doc__, epochs=30)
p.add_argument("--out-dir", help="save the figures as PNG files in this folder")
args = p.parse_args()

(X, y), (X_test, y_test) = mnist(args.train_size)
net = nnc.Network([784, 30, 10], activation="sigmoid", loss="quadratic", seed=args.seed)
history = net.fit(X, y, epochs=args.epochs, batch_size=10, lr=3.0, threads=args.threads,
                  validation_data=(X_test, y_test), verbose=0)
print(f"{args.epochs} epochs on {len(X):,} images: test accuracy "
      f"{history['val_accuracy'][-1]:.2%}")


def out(name):
    return os.path.join(args.out_dir, name) if args.out_dir else None


if args.out_dir:
    os.makedirs(args.out_dir, exist_ok=True)

# %%
# Learning curves: the mean cost and the accuracy of each epoch, on the
# training images (as seen while training) and on the test images.
curves = nnc.plot.learning_curves(history, path=out("learning_curves.png"),
                                  title="784-30-10 sigmoid, quadratic cost, eta = 3.0")

# %%
# First-layer weights: red pixels excite a hidden neuron, blue ones inhibit it.
weights = nnc.plot.first_layer_weights(net, path=out("first_layer_weights.png"))

# %%
# Confusion matrix of the 10,000 test images: row = true digit, column =
# the network's answer.
predicted = net.predict(X_test)
confusion = nnc.plot.confusion_matrix(y_test, predicted, path=out("confusion_matrix.png"))
print(f"{int((predicted != y_test).sum())} of {len(y_test):,} test images misclassified")
