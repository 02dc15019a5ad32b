"""The fully connected feedforward network.

A network with ``sizes = [784, 30, 10]`` has two layers of weights: layer l
maps the activations a^{l-1} of the layer before it to

    z^l = W^l a^{l-1} + b^l,      a^l = f(z^l),

with W^l of shape (n_out, n_in) and b^l of shape (n_out,).  Training is
mini-batch gradient descent on the mean cost: each step takes a batch,
runs it forward, computes the output error, backpropagates it (the four
equations BP1-BP4, in ``nnc/_engine.pyx``) and updates the parameters.
The engine runs whole spans of steps in C without the GIL; this module only
validates input, prepares buffers once per ``fit`` and reports progress.
"""
import math
import os
import threading
import time

import numpy as np

from nnc import activations as _acts
from nnc import losses as _losses
from nnc import optimizers as _opts
from nnc import _validation as V
from nnc._engine import Engine

#: dense inputs with fewer non-zeros than this fraction use the sparse first layer
SPARSE_DENSITY = 0.5
#: target wall time of one span of batches between two returns to Python
SPAN_SECONDS = 0.1
_INPUT_DENSE, _INPUT_COMPACT, _INPUT_CSR = 0, 1, 2
_INIT = ("gaussian", "scaled", "xavier", "glorot", "he")


class DivergenceError(ArithmeticError):
    """Training produced a non-finite loss or non-finite parameters."""


class Network:
    """A fully connected feedforward neural network.

    Parameters
    ----------
    sizes : sequence of int
        Number of neurons in each layer, input first: ``[784, 30, 10]``.
    activation : str or sequence of str, default "sigmoid"
        Activation of the hidden layers, or one name per layer of weights
        (``len(sizes) - 1`` names, the last one for the output layer).
    output_activation : str, optional
        Activation of the output layer; None means the same as ``activation``.
    loss : str, default "quadratic"
        ``"quadratic"``, ``"binary_crossentropy"``, ``"categorical_crossentropy"``
        or ``"sparse_categorical_crossentropy"``.
    dtype : {"float32", "float64"}, default "float32"
    seed : int, optional
        Seed of the initialisation, shuffling and dropout.
    init : {"gaussian", "scaled", "xavier", "he"}, default "gaussian"
        ``gaussian``: W, b ~ N(0, 1) as in the tutorials; ``scaled``: W ~ N(0,
        1/n_in), b ~ N(0, 1); ``xavier`` (or ``glorot``): uniform with variance
        2/(n_in+n_out), b = 0; ``he``: W ~ N(0, 2/n_in), b = 0.
    dropout : float or sequence of float, default 0.0
        Fraction of each hidden layer's units dropped while training.

    Attributes
    ----------
    weights : list of ndarray
        Live views of W^l, shape (n_out, n_in); writing into them changes the
        network.
    biases : list of ndarray
        Live views of b^l, shape (n_out,).
    history : dict of lists
        Per-epoch metrics of every ``fit`` so far.
    """

    def __init__(self, sizes, activation="sigmoid", output_activation=None,
                 loss="quadratic", dtype="float32", seed=None, init="gaussian",
                 dropout=0.0):
        self.sizes = _check_sizes(sizes)
        n_layers = len(self.sizes) - 1
        self.activations = _check_activations(activation, output_activation, n_layers)
        self.loss = _losses.canonical(loss)
        self.dtype = V.check_dtype(dtype)
        if seed is not None:
            seed = V.check_int("seed", seed, 0)
        self.seed = seed
        self.init = V.check_choice("init", init.lower() if isinstance(init, str) else init,
                                   _INIT)
        self.dropout = _check_dropout(dropout, n_layers)
        self._rng = np.random.default_rng(seed)
        self._layout()
        self._initialise()
        self.history = _new_history()
        self._opt = None          # (name, state arrays, step count): kept across fits
        self._fit_lock = threading.Lock()

    # -- parameters ------------------------------------------------------
    def _layout(self):
        """One flat buffer for all parameters, with a view per W^l and b^l."""
        self._w_off, self._b_off = [], []
        offset = 0
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]):
            self._w_off.append(offset)
            offset += n_in * n_out
            self._b_off.append(offset)
            offset += n_out
        self.params = np.zeros(offset, dtype=self.dtype)
        self.weights, self.biases = self._views(self.params)

    def _views(self, flat):
        """Per-layer (W, b) views into a buffer laid out like the parameters.

        W^l is stored as W^l^T, row-major (n_in, n_out), so the view is its
        transpose: shape (n_out, n_in), Fortran-ordered.
        """
        ws, bs = [], []
        for l, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            w0, b0 = self._w_off[l], self._b_off[l]
            ws.append(flat[w0:w0 + n_in * n_out].reshape(n_in, n_out).T)
            bs.append(flat[b0:b0 + n_out])
        return ws, bs

    def _initialise(self):
        rng = self._rng
        for W, b in zip(self.weights, self.biases):
            n_out, n_in = W.shape
            if self.init == "gaussian":
                W[...] = rng.standard_normal((n_out, n_in))
                b[...] = rng.standard_normal(n_out)
            elif self.init == "scaled":
                W[...] = rng.standard_normal((n_out, n_in)) / math.sqrt(n_in)
                b[...] = rng.standard_normal(n_out)
            elif self.init in ("xavier", "glorot"):
                bound = math.sqrt(6.0 / (n_in + n_out))
                W[...] = rng.uniform(-bound, bound, (n_out, n_in))
                b[...] = 0
            else:  # he
                W[...] = rng.standard_normal((n_out, n_in)) * math.sqrt(2.0 / n_in)
                b[...] = 0

    @property
    def _layout_size(self):
        """Number of parameters, from the layout (not from ``params``, which
        a user may have replaced: the engine checks that)."""
        return self._b_off[-1] + len(self.biases[-1])

    @property
    def n_layers(self):
        """Number of layers of weights (``len(sizes) - 1``)."""
        return len(self.sizes) - 1

    def _act_codes(self):
        return [_acts.CODES[a] for a in self.activations]

    def _engine(self, cap, input_mode, threads, dropout=None):
        V.check_state(self)  # the engine trusts params/sizes: reassigned ones must still fit
        return Engine(self.params, self.sizes, self._act_codes(), _losses.CODES[self.loss],
                      self._w_off, self._b_off, cap, input_mode, dropout, threads)

    # -- data --------------------------------------------------------------
    def _prepare_X(self, X, sparse="auto", name="X", check_finite=True):
        sparse = V.check_bool_or_auto("sparse", sparse)
        kind, data = V.check_X(X, self.sizes[0], self.dtype, name, check_finite)
        if kind == "csr":
            return _INPUT_CSR, data
        if sparse is True or (sparse == "auto" and _density(data) < SPARSE_DENSITY):
            return _INPUT_COMPACT, data
        if sparse not in (True, False, "auto"):
            raise ValueError(f"sparse must be True, False or 'auto', got {sparse!r}")
        return _INPUT_DENSE, data

    def _prepare_y(self, y, n, name="y"):
        labels, targets = V.check_y(y, n, self.sizes[-1], self.dtype, name)
        if labels is not None and self.sizes[-1] == 1:
            raise ValueError(f"{name}: a one-output network needs targets, not labels")
        return labels, targets

    @staticmethod
    def _set_data(engine, mode, data, labels=None, targets=None, sample_weight=None):
        if mode == _INPUT_CSR:
            engine.set_data(csr=data, labels=labels, targets=targets, sample_weight=sample_weight)
        else:
            engine.set_data(x=data, labels=labels, targets=targets, sample_weight=sample_weight)

    @staticmethod
    def _n_rows(mode, data):
        return data[2].shape[0] - 1 if mode == _INPUT_CSR else data.shape[0]

    # -- inference -----------------------------------------------------------
    def forward(self, X, layer=None, threads=None, batch_size=1024):
        """Activations a^layer for every row of X (the output layer by default).

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, sizes[0])
        layer : int, optional
            1 .. n_layers: which layer's activations to return.  Dropout is
            never applied here.
        """
        layer = self.n_layers if layer is None else V.check_int("layer", layer, 1, self.n_layers)
        batch_size = V.check_int("batch_size", batch_size, 1)
        mode, data = self._prepare_X(X, sparse=False)
        n = self._n_rows(mode, data)
        out = np.empty((n, self.sizes[layer]), dtype=self.dtype)
        threads = _threads(threads, min(batch_size, n) * self._layout_size)
        engine = self._engine(min(batch_size, n), mode, threads)
        self._set_data(engine, mode, data)
        engine.set_order(np.arange(n, dtype=np.int64), min(batch_size, n), direct=True)
        with _blas_threads():
            engine.forward(out, layer)
        return out

    def predict(self, X, threads=None):
        """Predicted class labels: the index of the largest output (or a >= 0.5
        for a one-output network)."""
        a = self.forward(X, threads=threads)
        if a.shape[1] == 1:
            return (a[:, 0] >= 0.5).astype(np.int64)
        return np.argmax(a, axis=1)

    def evaluate(self, X, y, sample_weight=None, threads=None, batch_size=1024):
        """Mean loss and accuracy on (X, y).

        Returns
        -------
        dict with ``"loss"`` (mean over samples of the cost) and
        ``"accuracy"`` (fraction whose largest output matches the target).
        """
        mode, data = self._prepare_X(X, sparse=False)
        n = self._n_rows(mode, data)
        labels, targets = self._prepare_y(y, n)
        sw = V.check_sample_weight(sample_weight, n, self.dtype)
        bs = min(V.check_int("batch_size", batch_size, 1), n)
        threads = _threads(threads, bs * self._layout_size)
        engine = self._engine(bs, mode, threads)
        self._set_data(engine, mode, data, labels, targets, sw)
        engine.set_order(np.arange(n, dtype=np.int64), bs, direct=True)
        with _blas_threads():
            engine.score()
        loss_sum, correct, seen = engine.stats()
        # Weighted costs are averaged over samples, as the gradient is.
        return {"loss": loss_sum / n, "accuracy": correct / seen}

    def gradients(self, X, y, sample_weight=None):
        """Exact gradient of the mean cost over (X, y); nothing is updated.

        Returns
        -------
        dW : list of ndarray, shapes like ``weights``
        db : list of ndarray, shapes like ``biases``
        """
        mode, data = self._prepare_X(X, sparse="auto")
        n = self._n_rows(mode, data)
        labels, targets = self._prepare_y(y, n)
        sw = V.check_sample_weight(sample_weight, n, self.dtype)
        grads = np.zeros_like(self.params)
        engine = self._engine(n, mode, 1)
        self._set_data(engine, mode, data, labels, targets, sw)
        engine.set_optimizer(_opts.CODES["sgd"], grads)
        engine.set_order(np.arange(n, dtype=np.int64), n)
        engine.train(0, 1, apply_update=False)
        dW, db = self._views(grads)
        return [w.copy() for w in dW], [b.copy() for b in db]

    # -- training ------------------------------------------------------------
    def fit(self, X, y, epochs=1, batch_size=32, lr=None, shuffle=True,
            validation_data=None, verbose=1, *, optimizer="sgd", momentum=None,
            nesterov=False, beta1=0.9, beta2=0.999, epsilon=1e-8, rho=0.9, l2=0.0,
            schedule=None, validation_split=0.0, early_stopping=False, patience=5,
            min_delta=0.0, restore_best_weights=True, callbacks=None,
            sample_weight=None, threads=None, sparse="auto", comm=None, sync_every=1,
            checkpoint=None, checkpoint_every=1, reset_optimizer=False):
        """Train by mini-batch gradient descent.

        Each epoch shuffles the samples (``shuffle=True``), splits them into
        mini-batches of ``batch_size`` (the last may be smaller) and takes one
        step per batch using the mean gradient of the batch.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, sizes[0])
        y : array-like
            Integer class labels of shape (n_samples,) or targets of shape
            (n_samples, sizes[-1]).
        epochs : int
        batch_size : int
        lr : float, optional
            Learning rate eta; by default 0.1 for SGD, 0.001 for Adam/RMSprop.
        shuffle : bool
        validation_data : tuple (X_val, y_val), optional
            Scored after each epoch (``val_loss``, ``val_accuracy``).
        verbose : int
            0 silent, 1 a progress bar and a line per epoch.
        optimizer : {"sgd", "momentum", "nesterov", "adam", "rmsprop"}
            ``"sgd"`` with ``momentum > 0`` means classical momentum (or
            Nesterov's with ``nesterov=True``).  The optimizer's state is kept
            across calls to ``fit`` (as in Keras) unless ``reset_optimizer``.
        momentum : float, optional
            Momentum coefficient mu; by default 0.9 for ``"momentum"`` and
            ``"nesterov"``, 0 (plain SGD) for ``"sgd"``.
        l2 : float
            L2 penalty: ``l2 * W`` is added to each step's weight gradient
            (the tutorials' lambda/n).  Biases are not penalised.
        schedule : None, {"constant", "step", "exponential", "invscaling"},
            :class:`nnc.optimizers.Schedule` or callable ``f(lr, epoch)``.
        validation_split : float
            Fraction of the samples, taken from the end of X before any
            shuffling (as Keras does), held out for validation.
        early_stopping : bool
            Stop when the monitored loss (``val_loss`` if there is validation
            data, else ``loss``) has not improved by ``min_delta`` for
            ``patience`` epochs; restore the best weights if asked.
        callbacks : list of callables ``f(network, epoch, history)``
            Called after each epoch; returning True stops training.
        sample_weight : array-like of shape (n_samples,), optional
            Each sample's cost is multiplied by its weight.
        threads : int, optional
            Threads for BLAS and the engine's own kernels.  By default all
            cores, except for small steps (batch rows x parameters below
            ``nnc.network.AUTO_THREADS_WORK``), which run on one thread.
            Results are identical for a given number of threads.
        sparse : {"auto", True, False}
            Whether the first layer skips zero inputs.  ``"auto"`` uses it
            when fewer than half the inputs are non-zero, or X is sparse.
        comm : mpi4py communicator, optional
            Data-parallel training: see :mod:`nnc.distributed`.
        checkpoint : path, optional
            Save the network (atomically) every ``checkpoint_every`` epochs.

        Returns
        -------
        dict of lists
            This call's per-epoch ``loss``, ``accuracy``, ``val_loss``,
            ``val_accuracy``, ``lr`` and ``seconds``.
        """
        if not self._fit_lock.acquire(blocking=False):
            raise RuntimeError("this network is already being trained by another thread; "
                               "fit calls on one network cannot overlap")
        try:
            return self._fit(
                X, y, epochs=epochs, batch_size=batch_size, lr=lr, shuffle=shuffle,
                validation_data=validation_data, verbose=verbose, optimizer=optimizer,
                momentum=momentum, nesterov=nesterov, beta1=beta1, beta2=beta2,
                epsilon=epsilon, rho=rho, l2=l2, schedule=schedule,
                validation_split=validation_split, early_stopping=early_stopping,
                patience=patience, min_delta=min_delta,
                restore_best_weights=restore_best_weights, callbacks=callbacks,
                sample_weight=sample_weight, threads=threads, sparse=sparse, comm=comm,
                sync_every=sync_every, checkpoint=checkpoint,
                checkpoint_every=checkpoint_every, reset_optimizer=reset_optimizer)
        finally:
            self._fit_lock.release()

    def partial_fit(self, X, y, epochs=1, **kwargs):
        """Continue training for ``epochs`` more epochs, keeping the optimizer state."""
        kwargs.setdefault("reset_optimizer", False)
        return self.fit(X, y, epochs=epochs, **kwargs)

    def _fit(self, X, y, *, epochs, batch_size, lr, shuffle, validation_data, verbose,
             optimizer, momentum, nesterov, beta1, beta2, epsilon, rho, l2, schedule,
             validation_split, early_stopping, patience, min_delta, restore_best_weights,
             callbacks, sample_weight, threads, sparse, comm, sync_every, checkpoint,
             checkpoint_every, reset_optimizer):
        # ---- hyper-parameters
        epochs = V.check_int("epochs", epochs, 0)
        batch_size = V.check_int("batch_size", batch_size, 1)
        if momentum is None:  # 0.9 when the optimizer is named for momentum
            momentum = 0.9 if str(optimizer).lower() in ("momentum", "nesterov") else 0.0
        momentum = V.check_float("momentum", momentum, 0.0, 1.0, high_open=True)
        nesterov = V.check_bool("nesterov", nesterov)
        shuffle = V.check_bool("shuffle", shuffle)
        early_stopping = V.check_bool("early_stopping", early_stopping)
        restore_best_weights = V.check_bool("restore_best_weights", restore_best_weights)
        reset_optimizer = V.check_bool("reset_optimizer", reset_optimizer)
        if checkpoint is not None:
            checkpoint = V.check_path("checkpoint", checkpoint, parent_must_exist=True)
        opt = _opts.resolve(optimizer, momentum, nesterov)
        lr = _opts.DEFAULT_LR[opt] if lr is None else V.check_float("lr", lr, 0.0)
        beta1 = V.check_float("beta1", beta1, 0.0, 1.0, high_open=True)
        beta2 = V.check_float("beta2", beta2, 0.0, 1.0, high_open=True)
        epsilon = V.check_float("epsilon", epsilon, 0.0, low_open=True)
        rho = V.check_float("rho", rho, 0.0, 1.0, high_open=True)
        used = {"adam": dict(epsilon=epsilon, beta1=beta1, beta2=beta2),  # what rounds in dtype
                "rmsprop": dict(epsilon=epsilon, rho=rho)}.get(opt, {"momentum": momentum})
        V.check_optimizer_dtype(self.dtype, lr=lr, **used)
        l2 = V.check_float("l2", l2, 0.0)
        validation_split = V.check_float("validation_split", validation_split, 0.0, 1.0,
                                         high_open=True)
        patience = V.check_int("patience", patience, 0)
        min_delta = V.check_float("min_delta", min_delta, 0.0)
        checkpoint_every = V.check_int("checkpoint_every", checkpoint_every, 1)
        sync_every = V.check_int("sync_every", sync_every, 1)
        verbose = V.check_int("verbose", int(verbose) if isinstance(verbose, bool) else verbose, 0)
        schedule = _opts.as_schedule(schedule)
        if callbacks is not None and (not isinstance(callbacks, (list, tuple))
                                      or not all(callable(cb) for cb in callbacks)):
            raise TypeError("callbacks must be a list of callables f(network, epoch, history)")
        _threads(threads)  # checked now; the count is chosen once the batch size is known

        # ---- data: validated and converted once, never copied per epoch
        # Dense X is checked for NaN/inf by the engine during the first epoch,
        # as it reads each row anyway: no extra pass over the training set here.
        # (Sparse X is always checked up front; with MPI every rank must fail
        # before the first collective.)
        mode, data = self._prepare_X(X, sparse=sparse, check_finite=comm is not None)
        check_in_engine = comm is None and mode != _INPUT_CSR
        n = self._n_rows(mode, data)
        labels, targets = self._prepare_y(y, n)
        sw = V.check_sample_weight(sample_weight, n, self.dtype)
        if validation_split > 0:
            if mode == _INPUT_CSR or validation_data is not None:
                raise ValueError("validation_split needs dense X and no validation_data")
            n_val = int(math.floor(n * validation_split))
            if n_val < 1 or n_val >= n:
                raise ValueError(f"validation_split={validation_split} leaves no samples "
                                 "on one side")
            n -= n_val
            yv = labels[n:] if labels is not None else targets[n:]
            validation_data = (data[n:], yv)
            data = data[:n]
            labels = labels[:n] if labels is not None else None
            targets = targets[:n] if targets is not None else None
            sw = sw[:n] if sw is not None else None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a tuple (X_val, y_val)")
            vmode, vdata = self._prepare_X(validation_data[0], sparse=False, name="X_val")
            vn = self._n_rows(vmode, vdata)
            vlabels, vtargets = self._prepare_y(validation_data[1], vn, name="y_val")
            validation_data = (vmode, vdata, vlabels, vtargets)

        # ---- optimizer state: kept across fits unless it changes or is reset
        n_states = _opts.N_STATES[opt]
        if reset_optimizer or self._opt is None or self._opt[0] != opt:
            self._opt = (opt, [np.zeros_like(self.params) for _ in range(n_states)], 0)
        states = self._opt[1]
        grads = np.zeros_like(self.params) if (opt != "sgd" or comm is not None) else None

        # ---- with a communicator each rank shuffles and drops out with its own
        # stream, derived from rank 0's generator (see nnc.distributed.rank_rng)
        rng = self._rng
        if comm is not None:
            from nnc.distributed import rank_rng
            rng = rank_rng(comm, self._rng)

        # ---- the engine and its workspace: allocated once for the whole fit
        bs = min(batch_size, n)
        threads = _threads(threads, bs * self._layout_size)
        engine = self._engine(bs, mode, threads,
                              self.dropout if any(self.dropout) else None)
        self._set_data(engine, mode, data, labels, targets, sw)
        engine.set_optimizer(_opts.CODES[opt], grads if grads is not None else self.params,
                             states[0] if n_states > 0 else None,
                             states[1] if n_states > 1 else None,
                             lr, momentum, beta1, beta2, epsilon, rho, l2, self._opt[2],
                             int(rng.integers(0, 2**63)))
        dist = None
        if comm is not None:
            from nnc.distributed import DataParallel
            dist = DataParallel(comm, self, engine, grads, states, sync_every,
                                n_samples=n, batch_size=bs)
            verbose = verbose if dist.rank == 0 else 0

        history = _new_history()
        order = np.arange(n, dtype=np.int64)
        n_batches = -(-n // bs)
        if dist is not None:
            n_batches = dist.common_batches(n_batches)
        best = (math.inf, None, -1)
        wait = 0
        progress = _Progress(verbose, epochs, n_batches)
        with _blas_threads():
            for epoch in range(epochs):
                started = time.perf_counter()
                epoch_lr = V.check_float(f"the learning rate that schedule returned for epoch "
                                         f"{epoch + 1}", schedule(lr, len(self.history["loss"])),
                                         0.0)
                engine.lr = epoch_lr
                if shuffle:
                    rng.shuffle(order)
                engine.set_order(order, bs)
                engine.reset_stats()
                # The first epoch reads every row: it checks them for NaN/inf.
                engine.check_input = epoch == 0 and check_in_engine
                # Only the parameters are kept (no copy of the optimizer's state:
                # memory); a diverged run restores them and resets the optimizer.
                snapshot = self.params.copy()
                progress.start_epoch(epoch)
                try:
                    self._run_epoch(engine, n_batches, dist, progress, epoch, snapshot)
                except BaseException:
                    progress.close()
                    raise
                finally:
                    self._opt = (opt, states, engine.t)
                loss_sum, correct, seen = engine.stats()
                if dist is not None:
                    loss_sum, correct, seen = dist.sum_stats(loss_sum, correct, seen)
                    dist.finish_epoch()
                # weighted costs are averaged over samples, as the gradient is
                record = {"loss": loss_sum / max(seen, 1),
                          "accuracy": correct / max(seen, 1), "lr": epoch_lr}
                if validation_data is not None:
                    record.update(self._score(validation_data, threads, dist))
                record["seconds"] = time.perf_counter() - started
                for key, value in record.items():
                    history[key].append(value)
                    self.history[key].append(value)
                progress.end_epoch(epoch, record)

                if checkpoint is not None and (epoch + 1) % checkpoint_every == 0 and (
                        dist is None or dist.rank == 0):
                    self.save(checkpoint)
                stop = False
                if early_stopping:
                    monitored = record.get("val_loss", record["loss"])
                    if monitored < best[0] - min_delta:
                        best = (monitored, self.params.copy(), epoch)
                        wait = 0
                    else:
                        wait += 1
                        stop = wait >= patience
                for cb in callbacks or ():
                    stop = bool(cb(self, epoch, history)) or stop
                if stop:
                    break
        progress.close()
        if early_stopping and restore_best_weights and best[1] is not None:
            self.params[...] = best[1]
        return history

    def _run_epoch(self, engine, n_batches, dist, progress, epoch, snapshot):
        """Spans of batches in the engine; back in Python only between spans."""
        done, span = 0, 8
        while done < n_batches:
            stop = min(n_batches, done + span)
            t0 = time.perf_counter()
            if dist is None:
                engine.train(done, stop, apply_update=True, fused=True)
            else:
                dist.train(done, stop)
            elapsed = time.perf_counter() - t0
            if engine.bad_row >= 0:
                self._restore(snapshot)
                raise ValueError(f"X contains NaN or infinity (in row {engine.bad_row}); "
                                 "the network was left as it was before fit")
            loss_sum = engine.stats()[0]
            # min/max propagate NaN and need no temporary: cheap enough per span
            finite_params = math.isfinite(self.params.min()) and math.isfinite(self.params.max())
            if not math.isfinite(loss_sum) or not finite_params:
                self._restore(snapshot)
                what = f"loss is {loss_sum}" if not math.isfinite(loss_sum) else \
                    "parameters became non-finite"
                raise DivergenceError(
                    f"training diverged in epoch {epoch + 1}, within batches {done + 1}-{stop}"
                    f" ({what}); parameters were restored to the start of the"
                    " epoch and the optimizer's state reset: try a smaller learning rate")
            progress.advance(stop - done)
            done = stop
            # Aim for spans of about SPAN_SECONDS, so Ctrl-C and progress stay prompt.
            span = max(1, min(n_batches, int(span * SPAN_SECONDS / max(elapsed, 1e-6))))

    def _restore(self, snapshot):
        """Back to the parameters of the epoch's start, with a fresh optimizer."""
        self.params[...] = snapshot
        for s in self._opt[1]:
            s[...] = 0
        self._opt = (self._opt[0], self._opt[1], 0)

    def _score(self, validation_data, threads, dist=None):
        vmode, vdata, vlabels, vtargets = validation_data
        vn = self._n_rows(vmode, vdata)
        bs = min(1024, vn)
        engine = self._engine(bs, vmode, threads)
        self._set_data(engine, vmode, vdata, vlabels, vtargets)
        engine.set_order(np.arange(vn, dtype=np.int64), bs, direct=True)
        engine.score()
        loss_sum, correct, seen = engine.stats()
        if dist is not None:
            loss_sum, correct, seen = dist.sum_stats(loss_sum, correct, seen)
        return {"val_loss": loss_sum / seen, "val_accuracy": correct / seen}

    # -- persistence ---------------------------------------------------------
    def save(self, path, metadata=None):
        """Save to an ``.npz`` file (no pickle), atomically.  See :func:`nnc.load`."""
        from nnc.io import save
        save(self, path, metadata=metadata)

    def to_onnx(self, path=None, **kwargs):
        """Export to an ONNX model (needs the optional extra ``nnc[onnx]``).

        See :func:`nnc.onnx.export`.
        """
        from nnc.onnx import export
        return export(self, path, **kwargs)

    def get_config(self):
        """The constructor arguments that rebuild this architecture."""
        return {"sizes": list(self.sizes), "activation": list(self.activations),
                "loss": self.loss, "dtype": self.dtype.name, "seed": self.seed,
                "init": self.init, "dropout": list(self.dropout)}

    def __repr__(self):
        return (f"Network({self.sizes}, activation={self.activations}, loss={self.loss!r}, "
                f"dtype={self.dtype.name!r})")

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_fit_lock", None)
        state["params"] = self.params.copy()
        state.pop("weights", None)
        state.pop("biases", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        # An owned, writeable buffer even when unpickled from a read-only memmap.
        self.params = np.array(self.params, dtype=self.dtype)
        self.weights, self.biases = self._views(self.params)
        self._fit_lock = threading.Lock()


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _new_history():
    return {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": [], "lr": [],
            "seconds": []}


def _density(x, max_rows=2000):
    """Fraction of non-zero entries, estimated from evenly spaced rows."""
    step = max(1, x.shape[0] // max_rows)
    sample = x[::step]
    return np.count_nonzero(sample) / max(sample.size, 1)


def _check_sizes(sizes):
    sizes = V.check_sequence("sizes", sizes, "a sequence of layer sizes such as [784, 30, 10]")
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least an input and an output layer, got {sizes}")
    if len(sizes) > 65:
        raise ValueError("sizes allows at most 64 layers of weights")
    # The engine and BLAS index layers with C ints.
    return [V.check_int(f"sizes[{i}]", s, 1, 2**31 - 1) for i, s in enumerate(sizes)]


def _check_activations(activation, output_activation, n_layers):
    if isinstance(activation, str):
        names = [_acts.canonical(activation)] * n_layers
    else:
        activation = V.check_sequence("activation", activation,
                                      f"a name or a list of {n_layers} names")
        if len(activation) != n_layers:
            raise ValueError(f"activation must be a name or a list of {n_layers} names "
                             "(one per layer of weights)")
        names = [_acts.canonical(a, f"activation[{i}]") for i, a in enumerate(activation)]
    if output_activation is not None:
        names[-1] = _acts.canonical(output_activation, "output_activation")
    for i, name in enumerate(names):
        if name == "step":
            raise ValueError("the step activation has no gradient: use nnc.Perceptron "
                             f"(activation[{i}] is 'step')")
    return names


def _check_dropout(dropout, n_layers):
    if isinstance(dropout, (int, float, np.integer, np.floating)) and not isinstance(dropout, bool):
        rates = [float(dropout)] * (n_layers - 1)
    else:
        dropout = V.check_sequence("dropout", dropout, "a rate in [0, 1) or a sequence of rates")
        rates = [V.check_float(f"dropout[{i}]", r) for i, r in enumerate(dropout)]
        if len(rates) != n_layers - 1:
            raise ValueError(f"dropout needs one rate per hidden layer ({n_layers - 1})")
    for i, r in enumerate(rates):
        V.check_float(f"dropout[{i}]", r, 0.0, 1.0, high_open=True)
    return rates + [0.0]  # never on the output layer


#: with threads=None, steps with fewer multiply-adds than this (batch rows x
#: parameters) run on one thread: splitting them costs more than it saves,
#: and far more when other programs hold the cores.
AUTO_THREADS_WORK = 8_000_000


def _threads(threads, work=None):
    """The thread count to use: ``threads``, or by default every core
    available to the process when a step's ``work`` is large enough."""
    if threads is None:
        if work is not None and work < AUTO_THREADS_WORK:
            return 1
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not on Linux
            return os.cpu_count() or 1
    # An absurd count would make OpenMP abort while creating threads.
    return V.check_int("threads", threads, 1, max(256, 4 * (os.cpu_count() or 1)))


class _blas_threads:
    """Hold BLAS to one thread while the engine runs.

    The engine splits its products across its own threads, each calling
    one-thread BLAS: a single pool of threads, instead of OpenMP's and
    BLAS's pools taking turns (and spin-waiting against each other) on the
    same cores.  The limit is process-wide, so it is reference-counted: with
    several fits running in threads at once, the first to start sets it and
    the last to finish restores it.
    """

    _controller = None  # threadpoolctl's view of the loaded BLAS libraries, found once
    _lock = threading.Lock()
    _users = 0
    _limiter = None

    def __enter__(self):
        cls = _blas_threads
        with cls._lock:
            cls._users += 1
            if cls._users == 1:
                try:
                    from threadpoolctl import ThreadpoolController
                except ImportError:  # pragma: no cover - a declared dependency
                    return self
                if cls._controller is None:
                    cls._controller = ThreadpoolController()
                cls._limiter = cls._controller.limit(limits=1, user_api="blas")
        return self

    def __exit__(self, *exc):
        cls = _blas_threads
        with cls._lock:
            cls._users -= 1
            if cls._users == 0 and cls._limiter is not None:
                cls._limiter.restore_original_limits()
                cls._limiter = None
        return False


class _Progress:
    """A tqdm bar per epoch when tqdm is installed, else one line per epoch."""

    def __init__(self, verbose, epochs, n_batches):
        self.verbose, self.epochs, self.n_batches = verbose, epochs, n_batches
        self.bar = None
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        self._tqdm = tqdm if verbose >= 1 else None

    def start_epoch(self, epoch):
        if self._tqdm is not None:
            self.bar = self._tqdm(total=self.n_batches, desc=f"Epoch {epoch + 1}/{self.epochs}",
                                  unit="batch", leave=False, mininterval=0.2)

    def advance(self, k):
        if self.bar is not None:
            self.bar.update(k)

    def end_epoch(self, epoch, record):
        self.close()
        if self.verbose >= 1:
            parts = [f"loss {record['loss']:.4f}", f"accuracy {record['accuracy']:.4f}"]
            if "val_loss" in record:
                parts += [f"val_loss {record['val_loss']:.4f}",
                          f"val_accuracy {record['val_accuracy']:.4f}"]
            print(f"Epoch {epoch + 1}/{self.epochs}: " + ", ".join(parts)
                  + f" ({record['seconds']:.2f} s)", flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
