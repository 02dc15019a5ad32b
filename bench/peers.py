"""Every implementation the benchmark times, behind one small interface.

``make_<name>(cfg, dtype, data, threads, n_samples)`` returns a runner with

* ``new()``      -- a freshly initialised model (not timed);
* ``epoch()``    -- one epoch of mini-batch training over ``n_samples``
  samples, in the order of a fresh random permutation (timed);
* ``accuracy()`` -- the fraction of the 10,000 test images it classifies
  correctly (not timed);
* ``n_samples``, ``note`` (a string or a tuple of strings) and
  ``setup_seconds`` (e.g. JAX's compile time).

A factory raises :class:`Unavailable` when its library cannot be imported;
the harness then skips that peer and says why.  Every peer trains the same
network with the same recipe (``bench.common.Config``); the differences that
cannot be avoided are written in each runner's ``note``.
"""
import time
import warnings

import numpy as np

from common import N_TRAIN, initial_params, one_hot
from reference_numpy import PerSampleNetwork, VectorizedNetwork


class Unavailable(Exception):
    """The peer's library is missing or broken; the message says why."""


class Data:
    """MNIST arrays, converted once per dtype (never inside a timed region)."""

    def __init__(self, X, y, X_test, y_test):
        self.X, self.y, self.X_test, self.y_test = X, y, X_test, y_test
        self._cache = {}

    def get(self, dtype, n_samples=None):
        """(X, y, Y one-hot, X_test, y_test) with X, Y and X_test in ``dtype``."""
        dtype = np.dtype(dtype)
        if dtype not in self._cache:
            X = np.ascontiguousarray(self.X, dtype=dtype)
            self._cache[dtype] = (X, self.y, one_hot(self.y, 10, dtype),
                                  np.ascontiguousarray(self.X_test, dtype=dtype), self.y_test)
        X, y, Y, Xt, yt = self._cache[dtype]
        n = X.shape[0] if n_samples is None else min(n_samples, X.shape[0])
        return X[:n], y[:n], Y[:n], Xt, yt


def _import(name):
    try:
        return __import__(name)
    except Exception as exc:  # noqa: BLE001 - a broken install is as good as a missing one
        raise Unavailable(f"cannot import {name}: {type(exc).__name__}: {exc}") from None


class _Runner:
    note = ""
    setup_seconds = 0.0

    def __init__(self, n_samples):
        self.n_samples = n_samples

    def inner_seconds(self):
        """The epoch's time as the library itself measured it, if it reports one."""
        return None


# ---------------------------------------------------------------------------
# nnc
# ---------------------------------------------------------------------------
def make_nnc(cfg, dtype, data, threads, n_samples=None, sparse="auto"):
    """nnc's ``Network.fit`` for one epoch, exactly as a user would call it."""
    nnc = _import("nnc")
    X, y, _, Xt, yt = data.get(dtype, n_samples)
    loss = "quadratic" if cfg.loss == "quadratic" else "categorical_crossentropy"

    class NNC(_Runner):
        note = "" if sparse == "auto" else f"sparse={sparse!r}"

        def new(self):
            self.net = nnc.Network(list(cfg.sizes), activation=cfg.hidden,
                                   output_activation=cfg.output, loss=loss, dtype=dtype,
                                   seed=0, init=cfg.init)
            # one optimizer for the whole run: its state carries over between epochs
            self.optimizer = nnc.optimizers.get(cfg.optimizer, lr=cfg.lr)

        def epoch(self):
            self.net.fit(X, y, epochs=1, batch_size=cfg.batch, optimizer=self.optimizer,
                         verbose=0, threads=threads, sparse=sparse)

        def accuracy(self):
            return float(np.mean(self.net.predict(Xt, threads=threads) == yt))

        def inner_seconds(self):
            # fit's own per-epoch clock: excludes validating X and setting up the engine
            return self.net.history["seconds"][-1]

    return NNC(X.shape[0])


def make_nnc_dense(cfg, dtype, data, threads, n_samples=None):
    """nnc with its sparse first layer turned off: the dense GEMM path."""
    return make_nnc(cfg, dtype, data, threads, n_samples, sparse=False)


# ---------------------------------------------------------------------------
# the NumPy references written for this benchmark
# ---------------------------------------------------------------------------
def _make_numpy(cls, cfg, dtype, data, threads, n_samples):
    from threadpoolctl import threadpool_limits
    X, _, Y, Xt, yt = data.get(dtype, n_samples)

    class NumPyRunner(_Runner):
        def new(self):
            self.net = cls(initial_params(cfg, dtype), hidden=cfg.hidden, output=cfg.output,
                           loss=cfg.loss, optimizer=cfg.optimizer, lr=cfg.lr)
            self.rng = np.random.default_rng(0)

        def epoch(self):
            with threadpool_limits(limits=threads, user_api="blas"):
                self.net.train_epoch(X, Y, cfg.batch, self.rng)

        def accuracy(self):
            with threadpool_limits(limits=threads, user_api="blas"):
                return self.net.accuracy(Xt, yt)

    return NumPyRunner(X.shape[0])


def make_numpy_loop(cfg, dtype, data, threads, n_samples=None):
    """The tutorials' per-sample backpropagation (bench/reference_numpy.py)."""
    return _make_numpy(PerSampleNetwork, cfg, dtype, data, threads, n_samples)


def make_numpy_vec(cfg, dtype, data, threads, n_samples=None):
    """The same algorithm vectorized per mini-batch (bench/reference_numpy.py)."""
    return _make_numpy(VectorizedNetwork, cfg, dtype, data, threads, n_samples)


# ---------------------------------------------------------------------------
# scikit-learn
# ---------------------------------------------------------------------------
#: learning rates for MLPClassifier.  It always uses a softmax output with
#: log-loss, so the tutorial's eta = 3 (tuned for sigmoid + quadratic cost,
#: whose gradient is damped by sigma'(z)) diverges; 0.5 trains well in one epoch.
SKLEARN_LR = {"tutorial": 0.5}


def make_sklearn(cfg, dtype, data, threads, n_samples=None):
    """MLPClassifier with max_iter=1: one epoch per ``fit``."""
    _import("sklearn")
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits
    X, y, _, Xt, yt = data.get(dtype, n_samples)
    lr = SKLEARN_LR.get(cfg.name, cfg.lr)
    hidden = {"sigmoid": "logistic", "relu": "relu"}[cfg.hidden]

    class SKLearn(_Runner):
        note = ("its own Glorot-uniform init",) + ((
            f"{cfg.name}: softmax output with log-loss instead of sigmoid + quadratic cost "
            f"(sklearn has no quadratic cost), so lr {lr:g} instead of {cfg.lr:g}",)
            if cfg.loss == "quadratic" else ())

        def new(self):
            common = dict(hidden_layer_sizes=tuple(cfg.sizes[1:-1]), activation=hidden,
                          batch_size=cfg.batch, learning_rate_init=lr, max_iter=1,
                          shuffle=True, random_state=0, alpha=0.0, tol=0.0,
                          early_stopping=False)
            if cfg.optimizer == "adam":
                self.clf = MLPClassifier(solver="adam", beta_1=0.9, beta_2=0.999,
                                         epsilon=1e-8, **common)
            else:
                self.clf = MLPClassifier(solver="sgd", momentum=0.0, nesterovs_momentum=False,
                                         learning_rate="constant", **common)

        def epoch(self):
            with warnings.catch_warnings(), threadpool_limits(limits=threads, user_api="blas"):
                warnings.simplefilter("ignore", ConvergenceWarning)
                self.clf.fit(X, y)

        def accuracy(self):
            with threadpool_limits(limits=threads, user_api="blas"):
                return float(np.mean(self.clf.predict(Xt) == yt))

    return SKLearn(X.shape[0])


# ---------------------------------------------------------------------------
# PyTorch, eager
# ---------------------------------------------------------------------------
def _torch_model(torch, cfg, params, dtype):
    nn = torch.nn
    layers = []
    last = len(params) - 1
    for l, (W, b) in enumerate(params):
        lin = nn.Linear(W.shape[1], W.shape[0], dtype=getattr(torch, np.dtype(dtype).name))
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W)))
            lin.bias.copy_(torch.from_numpy(np.ascontiguousarray(b)))
        layers.append(lin)
        if l < last:
            layers.append(nn.Sigmoid() if cfg.hidden == "sigmoid" else nn.ReLU())
    if cfg.output == "sigmoid":
        layers.append(nn.Sigmoid())  # softmax is folded into cross_entropy for training
    return nn.Sequential(*layers)


def make_torch(cfg, dtype, data, threads, n_samples=None):
    """nn.Linear layers and torch.optim, a Python loop over mini-batches in
    ``torch.randperm`` order: how PyTorch users write this on the CPU."""
    torch = _import("torch")
    F = torch.nn.functional
    torch.set_num_threads(threads)
    X, y, Y, Xt, yt = data.get(dtype, n_samples)
    Xt_t = torch.from_numpy(Xt)
    X_t, y_t, Y_t = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(Y)
    n, bs = X.shape[0], cfg.batch

    class Torch(_Runner):
        note = "cross_entropy on logits (log-softmax fused)" if cfg.loss == "ce" else ""

        def new(self):
            self.model = _torch_model(torch, cfg, initial_params(cfg, dtype), dtype)
            params = self.model.parameters()
            self.opt = (torch.optim.Adam(params, lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8)
                        if cfg.optimizer == "adam" else torch.optim.SGD(params, lr=cfg.lr))
            self.gen = torch.Generator().manual_seed(0)

        def epoch(self):
            model, opt = self.model, self.opt
            order = torch.randperm(n, generator=self.gen)
            for start in range(0, n, bs):
                idx = order[start:start + bs]
                out = model(X_t[idx])
                if cfg.loss == "quadratic":
                    loss = 0.5 * ((out - Y_t[idx]) ** 2).sum(dim=1).mean()
                else:
                    loss = F.cross_entropy(out, y_t[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

        def accuracy(self):
            with torch.no_grad():
                return float((self.model(Xt_t).argmax(dim=1).numpy() == yt).mean())

    return Torch(n)


# ---------------------------------------------------------------------------
# JAX, the whole epoch compiled
# ---------------------------------------------------------------------------
def _jax():
    jax = _import("jax")
    # float64 needs x64; float32 runs stay float32 because every array and
    # scalar below is created with an explicit dtype.
    jax.config.update("jax_enable_x64", True)
    return jax


def _jax_forward(jax, cfg, params, x):
    jnp = jax.numpy
    last = len(params) - 1
    for l, (W, b) in enumerate(params):
        z = x @ W.T + b
        if l < last:
            x = jax.nn.sigmoid(z) if cfg.hidden == "sigmoid" else jnp.maximum(z, 0)
        else:
            x = z
    return x  # output pre-activations (logits)


def make_jax(cfg, dtype, data, threads, n_samples=None):
    """``jax.jit`` of one epoch: a ``lax.scan`` over the mini-batch steps
    (value_and_grad, then SGD or Adam), compiled ahead of timing."""
    jax = _jax()
    jnp, lax = jax.numpy, jax.lax
    X, y, Y, Xt, yt = data.get(dtype, n_samples)
    n, bs = X.shape[0], cfg.batch
    n_full, rem = divmod(n, bs)
    dt = jnp.dtype(np.dtype(dtype).name)
    b1, b2, eps = 0.9, 0.999, 1e-8

    def loss_fn(params, xb, yb, tb):
        z = _jax_forward(jax, cfg, params, xb)
        if cfg.loss == "quadratic":
            a = jax.nn.sigmoid(z)
            return 0.5 * jnp.sum((a - tb) ** 2) / xb.shape[0]
        logp = jax.nn.log_softmax(z)
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    grad_fn = jax.grad(loss_fn)

    def step(state, idx, Xd, yd, Td):
        params, m, v, t = state
        g = grad_fn(params, Xd[idx], yd[idx], Td[idx])
        if cfg.optimizer == "sgd":
            params = jax.tree_util.tree_map(lambda p, gp: p - cfg.lr * gp, params, g)
            return (params, m, v, t)
        t = t + 1
        lr_t = (cfg.lr * jnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)).astype(dt)
        m = jax.tree_util.tree_map(lambda mp, gp: b1 * mp + (1 - b1) * gp, m, g)
        v = jax.tree_util.tree_map(lambda vp, gp: b2 * vp + (1 - b2) * gp * gp, v, g)
        params = jax.tree_util.tree_map(lambda p, mp, vp: p - lr_t * mp / (jnp.sqrt(vp) + eps),
                                        params, m, v)
        return (params, m, v, t)

    def epoch_fn(state, Xd, yd, Td, key):
        order = jax.random.permutation(key, n)
        body = lambda s, idx: (step(s, idx, Xd, yd, Td), None)  # noqa: E731
        state, _ = lax.scan(body, state, order[:n_full * bs].reshape(n_full, bs))
        if rem:  # the last, smaller batch, as every other peer takes it
            state = step(state, order[n_full * bs:], Xd, yd, Td)
        return state

    Xd, yd, Td = jax.device_put(X), jax.device_put(y.astype(np.int32)), jax.device_put(Y)
    Xt_d = jax.device_put(Xt)
    predict = jax.jit(lambda params, x: jnp.argmax(_jax_forward(jax, cfg, params, x), axis=1))

    def fresh_state():
        params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in initial_params(cfg, dtype)]
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return (params, zeros, zeros, jnp.zeros((), dt))

    key = jax.random.PRNGKey(0)
    t0 = time.perf_counter()
    compiled = jax.jit(epoch_fn).lower(fresh_state(), Xd, yd, Td, key).compile()
    compile_seconds = time.perf_counter() - t0

    class JAX(_Runner):
        note = "XLA CPU, epoch = one compiled call"
        setup_seconds = compile_seconds

        def new(self):
            self.state = jax.block_until_ready(fresh_state())

        def epoch(self):
            self.state = jax.block_until_ready(compiled(self.state, Xd, yd, Td, key))

        def accuracy(self):
            return float((np.asarray(predict(self.state[0], Xt_d)) == yt).mean())

    return JAX(n)


def peer_gemm_rates(dtype, threads, names, n=1024):
    """GFLOP/s of an n x n x n product in the peers' own libraries (PyTorch's
    MKL, XLA), for context: they need not use the OpenBLAS that NumPy, scipy
    and nnc use, and may run different kernels (e.g. AVX-512 where OpenBLAS is
    held to Haswell's AVX2 by OPENBLAS_CORETYPE)."""
    from common import _best_rate
    rng = np.random.default_rng(1)
    a = rng.standard_normal((n, n)).astype(dtype)
    flops = 2.0 * n ** 3
    rates = {}
    for name in names:
        try:
            if name == "torch":
                torch = _import("torch")
                torch.set_num_threads(threads)
                ta = torch.from_numpy(a)
                rates["torch"] = _best_rate(lambda torch=torch, ta=ta: torch.mm(ta, ta), flops)
            elif name == "jax":
                jax = _jax()
                ja = jax.device_put(a)
                mm = jax.jit(lambda x: x @ x)
                rates["jax"] = _best_rate(lambda mm=mm, ja=ja: mm(ja).block_until_ready(), flops)
        except Unavailable:
            pass
    return rates


#: name -> (factory, one-line description); the order is the table's order
REGISTRY = {
    "nnc": (make_nnc, "nnc Network.fit (sparse first layer chosen automatically)"),
    "nnc-dense": (make_nnc_dense, "nnc Network.fit with sparse=False (dense GEMM path)"),
    "jax": (make_jax, "JAX: jit(lax.scan over mini-batch steps), XLA CPU"),
    "numpy-vec": (make_numpy_vec, "NumPy, vectorized per mini-batch (bench/reference_numpy.py)"),
    "sklearn": (make_sklearn, "scikit-learn MLPClassifier, max_iter=1"),
    "torch": (make_torch, "PyTorch eager: nn.Linear + torch.optim, Python batch loop"),
    "numpy-loop": (make_numpy_loop, "NumPy, the tutorials' per-sample backprop loop"),
}


# ---------------------------------------------------------------------------
# inference: the same trained weights in every framework
# ---------------------------------------------------------------------------
def make_predictors(cfg, dtype, weights, biases, threads, names):
    """Callables ``f(X) -> labels`` using the given weights (W of shape
    (n_out, n_in)), for each peer in ``names`` that is importable.

    Returns (predictors, skipped) where skipped maps name -> reason.
    """
    from threadpoolctl import threadpool_limits
    params = [(np.ascontiguousarray(W, dtype=dtype), np.ascontiguousarray(b, dtype=dtype))
              for W, b in zip(weights, biases, strict=True)]
    predictors, skipped = {}, {}
    for name in names:
        try:
            if name == "torch":
                torch = _import("torch")
                torch.set_num_threads(threads)
                model = _torch_model(torch, cfg, params, dtype).eval()

                def torch_predict(X, model=model, torch=torch):
                    with torch.no_grad():
                        out = model(torch.from_numpy(X))
                        if cfg.output == "softmax":
                            out = torch.softmax(out, dim=1)
                        return out.argmax(dim=1).numpy()
                predictors[name] = torch_predict
            elif name == "jax":
                jax = _jax()
                jparams = [(jax.numpy.asarray(W), jax.numpy.asarray(b)) for W, b in params]
                fwd = jax.jit(lambda p, x, jax=jax: jax.numpy.argmax(_jax_forward(jax, cfg, p, x), axis=1))

                def jax_predict(X, fwd=fwd, jparams=jparams, jax=jax):
                    return np.asarray(jax.block_until_ready(fwd(jparams, jax.device_put(X))))
                predictors[name] = jax_predict
            elif name == "numpy-vec":
                net = VectorizedNetwork(params, hidden=cfg.hidden, output=cfg.output,
                                        loss=cfg.loss)

                def numpy_predict(X, net=net):
                    with threadpool_limits(limits=threads, user_api="blas"):
                        return np.argmax(net.forward(X), axis=1)
                predictors[name] = numpy_predict
        except Unavailable as exc:
            skipped[name] = str(exc)
    return predictors, skipped


__all__ = ["Data", "Unavailable", "REGISTRY", "make_predictors", "N_TRAIN"]
