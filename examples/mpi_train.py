"""
Data-parallel training with MPI
===============================

Each rank trains on its own shard of MNIST; at every step the ranks'
gradients are averaged by one ``Allreduce`` over nnc's flat gradient buffer,
so all ranks keep identical parameters (see :doc:`/scaling`).  This page
shows the script; the documentation build does not run it (it needs
``mpiexec``).

.. code-block:: bash

    pip install "nnc[mpi]"
    mpiexec -n 4 python -m mpi4py examples/mpi_train.py
"""
from mpi4py import MPI

import nnc
from nnc.distributed import evaluate, print0, shard

comm = MPI.COMM_WORLD
(X, y), (X_test, y_test) = nnc.datasets.load_mnist()
X, y = shard(X[:50000], y[:50000], comm=comm)            # this rank's block of rows
net = nnc.Network([784, 128, 10], activation="relu", output_activation="softmax",
                  loss="sparse_categorical_crossentropy", init="he", seed=0)
net.fit(X, y, epochs=5, batch_size=64, optimizer="adam", lr=1e-3, comm=comm,
        verbose=0, threads=1)                            # 64 per rank and step
print0(comm, f"{comm.Get_size()} ranks:", evaluate(net, *shard(X_test, y_test, comm=comm), comm))
if comm.Get_rank() == 0:
    net.save("mpi_model.npz")
