"""
Export to ONNX and run with onnxruntime
=======================================

A trained network saved as an ONNX graph with :meth:`nnc.Network.to_onnx`
and run by onnxruntime: the outputs match :meth:`nnc.Network.forward`.

.. code-block:: bash

    python examples/onnx_export.py [--out net.onnx]
"""
import os
import tempfile

import numpy as np
import onnxruntime as ort

import nnc

from _common import mnist, parser

p = parser(__doc__, epochs=3, train_size=10000)
p.add_argument("--out", help="where to write the .onnx file (default: a temporary folder)")
args = p.parse_args()

(X, y), (X_test, y_test) = mnist(args.train_size)
net = nnc.Network([784, 64, 10], activation="relu", output_activation="softmax",
                  loss="sparse_categorical_crossentropy", init="he", seed=args.seed)
net.fit(X, y, epochs=args.epochs, batch_size=32, lr=0.05, verbose=0, threads=args.threads)

with tempfile.TemporaryDirectory() as tmp:
    path = args.out or os.path.join(tmp, "net.onnx")
    net.to_onnx(path)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()[0].name
    onnx_out = session.run(None, {inputs: X_test})[0]
    print(f"wrote {os.path.getsize(path):,} bytes of ONNX")

nnc_out = net.forward(X_test)
print(f"largest difference from net.forward: {np.abs(onnx_out - nnc_out).max():.1e}")
print(f"same labels on {np.mean(onnx_out.argmax(1) == net.predict(X_test)):.2%} of the "
      f"{len(X_test):,} test images; accuracy {net.evaluate(X_test, y_test)['accuracy']:.2%}")
