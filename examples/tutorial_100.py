"""
100 hidden neurons (784-100-10)
===============================

The tutorials' first network with 100 hidden neurons: 784-100-10 sigmoid,
quadratic cost, mini-batch SGD (batch 10, eta 3.0, 30 epochs) on the first
50,000 MNIST training images, scored on the test images after each epoch.

Published: 96.59%; nnc reaches 96.37% after 30 epochs with seed 0
(examples/RESULTS.md).  The documentation build runs it for a few epochs only.

.. code-block:: bash

    python examples/tutorial_100.py [--epochs 30] [--seed 0]
"""
import nnc

from _common import mnist, parser, train_and_report


def main(argv=None):
    args = parser(__doc__, epochs=30).parse_args(argv)
    train, test = mnist(args.train_size)
    net = nnc.Network([784, 100, 10], activation="sigmoid", loss="quadratic", seed=args.seed)
    train_and_report("tutorial_100", net, train, test, published="96.59%", quiet=args.quiet,
                     epochs=args.epochs, batch_size=10, lr=3.0, threads=args.threads)


if __name__ == "__main__":
    main()
