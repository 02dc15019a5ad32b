"""Shared pieces of the benchmark: configurations, data, initial weights,
FLOP counts, GEMM calibration and machine information.

Nothing here imports nnc, PyTorch or JAX, so the harness can describe the
machine and the peers even when one of them is missing or broken.
"""
import dataclasses
import os
import platform
import subprocess
import sys
import time

import numpy as np

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)

#: training samples per epoch (MNIST's first 50,000 training images, as in the tutorials)
N_TRAIN = 50_000


@dataclasses.dataclass(frozen=True)
class Config:
    """One network and training recipe that every implementation runs.

    ``loss`` is ``"quadratic"`` (sigmoid outputs, C = 0.5 ||a - y||^2) or
    ``"ce"`` (softmax outputs with categorical cross-entropy).  Every
    implementation averages the gradient over the mini-batch.
    """

    name: str
    sizes: tuple
    hidden: str          # "sigmoid" or "relu"
    output: str          # "sigmoid" or "softmax"
    loss: str            # "quadratic" or "ce"
    optimizer: str       # "sgd" or "adam"
    lr: float
    batch: int
    init: str            # nnc's init name: "gaussian" (W, b ~ N(0, 1)) or "he"
    min_accuracy: float  # below this after one epoch, the run is flagged as not training
    description: str = ""

    @property
    def layers(self):
        return list(zip(self.sizes[:-1], self.sizes[1:], strict=True))

    def flops_per_sample(self):
        """Dense FLOP of one training step per sample (forward + backward).

        Forward product 2 FLOP per weight, weight gradient 2, and the error
        propagated to the layer below 2 more, except for the first layer,
        whose input needs no gradient: 4 per first-layer weight, 6 per other.
        Biases, activations and the update are ignored (they are O(units)).
        """
        total = 0
        for l, (n_in, n_out) in enumerate(self.layers):
            total += (4 if l == 0 else 6) * n_in * n_out
        return total

    def inference_flops_per_sample(self):
        return sum(2 * n_in * n_out for n_in, n_out in self.layers)

    def label(self):
        arch = "-".join(str(s) for s in self.sizes)
        return (f"{self.name}: {arch} {self.hidden}/{self.output}, "
                f"{'quadratic' if self.loss == 'quadratic' else 'cross-entropy'}, "
                f"{self.optimizer.upper()} lr {self.lr:g}, batch {self.batch}")


CONFIGS = {
    "tutorial": Config("tutorial", (784, 30, 10), "sigmoid", "sigmoid", "quadratic", "sgd",
                       3.0, 10, "gaussian", 0.85,
                       "Nielsen's network.py: sigmoid, quadratic cost, SGD, batch 10, eta 3"),
    "wide": Config("wide", (784, 256, 10), "relu", "softmax", "ce", "sgd",
                   0.1, 128, "he", 0.88, "GEMM-bound: relu, softmax + cross-entropy"),
    "deep": Config("deep", (784, 512, 512, 10), "relu", "softmax", "ce", "adam",
                   1e-3, 256, "he", 0.93, "GEMM-bound, two hidden layers, Adam"),
}


# ---------------------------------------------------------------------------
# data and initial weights
# ---------------------------------------------------------------------------
def load_data():
    """MNIST as float32: the first 50,000 training images and the 10,000 test images."""
    from nnc.datasets import load_mnist
    (X, y), (X_test, y_test) = load_mnist()
    return (np.ascontiguousarray(X[:N_TRAIN]), np.ascontiguousarray(y[:N_TRAIN]),
            np.ascontiguousarray(X_test), np.ascontiguousarray(y_test))


def one_hot(y, n_classes, dtype):
    out = np.zeros((y.shape[0], n_classes), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out


def initial_params(cfg, dtype, seed=0):
    """Initial (W, b) per layer, W of shape (n_out, n_in), for the peers that
    take explicit weights (the NumPy references, PyTorch, JAX).

    Same distributions as nnc's ``init`` of the configuration: ``gaussian``
    is the tutorials' W, b ~ N(0, 1); ``he`` is W ~ N(0, 2/n_in), b = 0.
    """
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in cfg.layers:
        if cfg.init == "gaussian":
            W = rng.standard_normal((n_out, n_in))
            b = rng.standard_normal(n_out)
        elif cfg.init == "he":
            W = rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)
            b = np.zeros(n_out)
        else:
            raise ValueError(f"init must be 'gaussian' or 'he', got {cfg.init!r}")
        params.append((W.astype(dtype), b.astype(dtype)))
    return params


# ---------------------------------------------------------------------------
# GEMM calibration
# ---------------------------------------------------------------------------
def _best_rate(fn, flops, min_time=0.25, max_reps=200):
    """Best GFLOP/s of ``fn`` over repeated calls.

    Each call is measured by the wall clock and by the process's CPU time,
    and the better of the two counts: on a machine shared with other jobs the
    CPU time is what the product really took on its core(s), while with
    several BLAS threads busy-waiting the wall clock is the honest one.
    """
    fn()  # warm-up: first touch of buffers, BLAS thread start
    best = float("inf")
    spent, reps = 0.0, 0
    while (spent < min_time or reps < 3) and reps < max_reps:
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        # CPU time has a coarse clock: only trust it on long enough calls
        best = min(best, wall, cpu if cpu > 0.005 else wall)
        spent += wall
        reps += 1
    return flops / best / 1e9


def gemm_peak(dtype, threads, n=1024, min_time=0.25):
    """Best GFLOP/s of an n x n x n product, by NumPy's matmul and by the
    scipy BLAS that nnc's kernels call (they are separate OpenBLAS builds)."""
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(1)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    c = np.empty((n, n), dtype=dtype)
    flops = 2.0 * n ** 3
    out = {}
    with threadpool_limits(limits=threads, user_api="blas"):
        out["numpy"] = _best_rate(lambda: np.matmul(a, b, out=c), flops, min_time)
        try:
            from scipy.linalg import blas
            gemm = blas.sgemm if np.dtype(dtype) == np.float32 else blas.dgemm
            af, bf = np.asfortranarray(a), np.asfortranarray(b)
            out["scipy"] = _best_rate(lambda: gemm(1.0, af, bf), flops, min_time)
        except ImportError:  # pragma: no cover - scipy is a dependency of nnc
            pass
    out["peak"] = max(out.values())
    return out


def gemm_at_shapes(cfg, dtype, threads, min_time=0.3):
    """GFLOP/s of the products one training step does, at the configuration's
    shapes (NumPy matmul into preallocated outputs, ``threads`` BLAS threads).

    Per layer: forward (B x n_in)(n_in x n_out), weight gradient
    (n_out x B)(B x n_in) and, above the first layer, the error propagated
    down, (B x n_out)(n_out x n_in).  Ignores everything that is not a GEMM,
    so ``epoch FLOP / this rate`` is the epoch time of a perfect GEMM-bound
    engine on this BLAS.
    """
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(2)
    B = cfg.batch
    ops = []
    flops = 0.0
    for l, (n_in, n_out) in enumerate(cfg.layers):
        A = rng.random((B, n_in)).astype(dtype)
        W = rng.standard_normal((n_out, n_in)).astype(dtype)
        D = rng.standard_normal((B, n_out)).astype(dtype)
        Z = np.empty((B, n_out), dtype=dtype)
        G = np.empty((n_out, n_in), dtype=dtype)
        ops.append((A, W.T, Z))          # forward
        ops.append((D.T, A, G))          # weight gradient
        flops += 4.0 * B * n_in * n_out
        if l > 0:
            E = np.empty((B, n_in), dtype=dtype)
            ops.append((D, W, E))        # error to the layer below
            flops += 2.0 * B * n_in * n_out
    # enough steps per timing that the clock's resolution does not matter
    steps = max(1, int(2e7 / flops))

    def run():
        for _ in range(steps):
            for a, b, c in ops:
                np.matmul(a, b, out=c)
    with threadpool_limits(limits=threads, user_api="blas"):
        return _best_rate(run, flops * steps, min_time)


# ---------------------------------------------------------------------------
# machine information
# ---------------------------------------------------------------------------
def _cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_revision():
    try:
        rev = subprocess.run(["git", "-C", REPO_DIR, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO_DIR, "status", "--porcelain", "--", "nnc"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("+uncommitted nnc/ changes" if dirty else "") if rev else None
    except (OSError, subprocess.SubprocessError):
        return None


def _version(module):
    try:
        mod = __import__(module)
        return getattr(mod, "__version__", "?")
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        return f"unavailable ({type(exc).__name__})"


def machine_info(original_cpus=None, pinned=None):
    """CPU, cores, BLAS builds, library versions and the thread environment."""
    from threadpoolctl import threadpool_info
    blas = [{k: lib.get(k) for k in ("prefix", "version", "architecture",
                                      "threading_layer", "num_threads", "filepath")}
            for lib in threadpool_info() if lib.get("user_api") == "blas"]
    for lib in blas:
        lib["filepath"] = os.path.basename(lib["filepath"] or "")
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": original_cpus,
        "pinned_cpus": pinned,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": _version("scipy"),
        "nnc": _version("nnc"),
        "nnc_revision": _git_revision(),
        "blas": blas,
        "env": {k: v for k, v in sorted(os.environ.items())
                if k.startswith(("OPENBLAS_", "OMP_", "MKL_", "XLA_", "GOTO"))},
        "load_average_start": load,
    }
