"""``nnc train --distributed`` under mpiexec, and what it should compute.

Usage: mpiexec -n R python -m mpi4py cli_reference.py N EPOCHS SEED MODEL REFERENCE

Runs the command line ``nnc train --distributed --hidden 30 --lr 3.0
--batch-size 10 --epochs EPOCHS --train-size N --seed SEED --threads 1 --quiet
--out MODEL`` (the same code as ``python -m nnc``), then trains the same
network with the library API, each rank on its contiguous block of MNIST's
first N images; rank 0 writes those parameters to REFERENCE.  Only the
command line prints.
"""
import sys

import numpy as np
from mpi4py import MPI

import nnc
from nnc.cli import main
from nnc.distributed import shard

comm = MPI.COMM_WORLD
n, epochs, seed, model, reference = sys.argv[1:6]
status = main(["train", "--distributed", "--hidden", "30", "--lr", "3.0", "--batch-size", "10",
               "--epochs", epochs, "--train-size", n, "--seed", seed, "--threads", "1",
               "--quiet", "--out", model])
if status:
    sys.exit(status)

(X, y), _ = nnc.datasets.load_mnist()
X, y = shard(X[:int(n)], y[:int(n)], comm=comm)
net = nnc.Network([784, 30, 10], seed=int(seed))
net.fit(X, y, epochs=int(epochs), batch_size=10, lr=3.0, threads=1, verbose=0, comm=comm)
if comm.Get_rank() == 0:
    np.savez(reference, params=net.params)
