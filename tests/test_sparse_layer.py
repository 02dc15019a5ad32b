"""The sparse first layer against the NumPy reference, on wide, sparse inputs.

The engine takes a batch's non-zeros row by row (forward, and the weight
gradient for batches of up to 16 rows) or transposed to columns (the weight
gradient of larger batches), over a CSR matrix or a dense array compacted
batch by batch.  Here every route trains on inputs with many features of which
most are never non-zero in a batch (as in a bag of words), and must give the
same trajectory as the plain NumPy implementation, to 1e-9 in float64.
"""
import numpy as np
import pytest
import scipy.sparse as sp

import nnc


def bag_of_words(n=90, d=700, k=4, density=0.01, seed=0):
    """A small seeded CSR matrix with a few long rows, an empty row, and
    columns past 64 (several words of the transposition's bitmap)."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=density, format="csr", random_state=rng,
                  data_rvs=lambda size: rng.random(size) + 0.5)
    X = X.toarray()
    X[2] = 0.0                                    # an empty row
    X[7, rng.choice(d, d // 3, replace=False)] = 1.0  # a long row
    X[11, -1] = 2.0                               # the last feature
    y = rng.integers(0, k, n)
    return X, y


def assert_follows_reference(net, hist, reference, ref, ref_opt, X, y, batch_size, epochs=2):
    """The fit's losses per epoch and its parameters are the NumPy reference's
    (trained here on the same dense X, in order) to 1e-9."""
    for e in range(epochs):
        loss, _ = reference.epoch(ref, ref_opt, X, reference.one_hot(y, 4), batch_size=batch_size)
        assert hist["loss"][e] == pytest.approx(loss, rel=1e-9, abs=1e-12)
    for W, Wr in zip(net.weights, ref.W, strict=True):
        np.testing.assert_allclose(W, Wr, rtol=1e-9, atol=1e-9)
    for b, br in zip(net.biases, ref.b, strict=True):
        np.testing.assert_allclose(b, br, rtol=1e-9, atol=1e-9)


OPTIMIZERS = {  # fit's arguments (made fresh per test: an optimizer keeps state), the reference's
    "sgd": (lambda: dict(lr=0.5), dict(name="sgd", lr=0.5)),
    "sgd l2": (lambda: dict(optimizer=nnc.optimizers.SGD(lr=0.5, l2=0.01)),
               dict(name="sgd", lr=0.5, l2=0.01)),
    "momentum": (lambda: dict(optimizer=nnc.optimizers.SGD(lr=0.2, momentum=0.9)),
                 dict(name="momentum", lr=0.2, momentum=0.9)),
    "adam": (lambda: dict(optimizer="adam", lr=0.01), dict(name="adam", lr=0.01)),
    "rmsprop": (lambda: dict(optimizer="rmsprop", lr=0.01), dict(name="rmsprop", lr=0.01)),
}


@pytest.mark.parametrize("batch_size,hidden", [(5, 9), (16, 9), (17, 9), (40, 9),
                                               (40, 32), (40, 37), (33, 48),
                                               (10, 30), (12, 16), (3, 37)])
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("kind", ["csr", "compact"])
def test_sparse_layer_equals_numpy_reference(kind, opt, batch_size, hidden, reference):
    # batches of 32 and more with 16 and more hidden units take the packed
    # forward (where the CPU has AVX-512); 37 leaves a partial last panel;
    # 32 (float64) is one whole block of BP4's column form without panels;
    # dense ("compact") batches of up to 12 rows take the register tiles
    X, y = bag_of_words()
    fit_kw, opt_kw = OPTIMIZERS[opt]
    net = nnc.Network([X.shape[1], hidden, 4], activation="relu", output_activation="softmax",
                      loss="categorical_crossentropy", dtype="float64", seed=5, init="he")
    ref, ref_opt = reference.Net(net), reference.Optimizer(**opt_kw)
    inp = sp.csr_matrix(X) if kind == "csr" else X
    hist = net.fit(inp, y, epochs=2, batch_size=batch_size, shuffle=False, verbose=0,
                   sparse=True, **fit_kw())
    assert_follows_reference(net, hist, reference, ref, ref_opt, X, y, batch_size)
    # the rows of W^1 of inputs that are always zero never move under plain SGD
    never = np.flatnonzero(~X.any(axis=0))
    assert never.size > 0
    if opt == "sgd":
        np.testing.assert_array_equal(net.weights[0][:, never], ref.W[0][:, never])
        assert not np.allclose(net.weights[0], nnc.Network(
            [X.shape[1], hidden, 4], dtype="float64", seed=5, init="he").weights[0])


@pytest.mark.parametrize("batch_size,hidden", [(40, 70), (150, 37), (150, 80), (40, 64),
                                               (150, 96)])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("kind", ["csr", "compact"])
def test_delta_panels_equal_numpy_reference(kind, opt, batch_size, hidden, reference):
    # more than 4 vectors of hidden units (32 in float64) and batches over 16
    # rows: BP4's column form reads delta from panels (where the CPU has
    # AVX-512), of 4 vectors for batches up to 128 rows and of 2 past that;
    # 37, 70 and 80 leave a partial last panel; with 64 and 96 all panels are
    # whole, and a plain SGD step writes its new rows of W^1 into the packed
    # copy the next batch's forward reads
    X, y = bag_of_words(n=300, d=500, density=0.03, seed=6)
    fit_kw, opt_kw = OPTIMIZERS[opt]
    net = nnc.Network([X.shape[1], hidden, 4], activation="relu", output_activation="softmax",
                      loss="categorical_crossentropy", dtype="float64", seed=5, init="he")
    ref, ref_opt = reference.Net(net), reference.Optimizer(**opt_kw)
    inp = sp.csr_matrix(X) if kind == "csr" else X
    hist = net.fit(inp, y, epochs=2, batch_size=batch_size, shuffle=False, verbose=0,
                   sparse=True, **fit_kw())
    assert_follows_reference(net, hist, reference, ref, ref_opt, X, y, batch_size)


def test_csr_gradients_with_duplicates_in_the_column_path(reference):
    # gradients() runs the whole set as one batch: 90 rows, the column form
    X, y = bag_of_words(seed=3)
    csr = sp.csr_matrix(X)
    # split every row's first entry in two (duplicate column indices)
    data, indices, indptr = [], [], [0]
    for i in range(X.shape[0]):
        cols = list(csr.indices[csr.indptr[i]:csr.indptr[i + 1]][::-1])
        vals = list(csr.data[csr.indptr[i]:csr.indptr[i + 1]][::-1])
        if cols:
            cols.append(cols[0])
            vals[0], vals_last = vals[0] / 2, vals[0] / 2
            vals.append(vals_last)
        data += vals
        indices += cols
        indptr.append(len(data))
    messy = sp.csr_matrix((np.array(data), np.array(indices), np.array(indptr)),
                          shape=X.shape)
    net = nnc.Network([X.shape[1], 6, 4], activation="sigmoid", output_activation="softmax",
                      loss="categorical_crossentropy", dtype="float64", seed=2)
    dW, db = net.gradients(messy, y)
    gW, gb = reference.Net(net).gradients(X, reference.one_hot(y, 4))
    for u, v in zip(dW + db, gW + gb, strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("hidden,batch_size", [(40, 64), (100, 64), (100, 200)])
@pytest.mark.parametrize("threads", [1, 2])
def test_sparse_layer_bit_identical_per_thread_count(threads, hidden, batch_size):
    # 100 hidden units in float32: delta panels of 4 vectors (batch 64) and of 2 (200)
    X, y = bag_of_words(n=400, d=3000, density=0.02, seed=4)
    runs = []
    for _ in range(2):
        net = nnc.Network([X.shape[1], hidden, 4], activation="relu",
                          output_activation="softmax", loss="categorical_crossentropy",
                          dtype="float32", seed=1, init="he")
        net.fit(sp.csr_matrix(X.astype(np.float32)), y, epochs=2, batch_size=batch_size,
                lr=0.2, verbose=0, threads=threads)
        runs.append(net.params.copy())
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("batch_size", [6, 20])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_far_weights_equal_numpy_reference(opt, batch_size, reference):
    # W^1 of 70,000 x 9 doubles (5 MB) is past the kernels' "far" size: they
    # then prefetch its rows and take one row at a time
    X, y = bag_of_words(n=50, d=70_000, density=0.0008, seed=6)
    fit_kw, opt_kw = OPTIMIZERS[opt]
    net = nnc.Network([X.shape[1], 9, 4], activation="relu", output_activation="softmax",
                      loss="categorical_crossentropy", dtype="float64", seed=5, init="he")
    ref, ref_opt = reference.Net(net), reference.Optimizer(**opt_kw)
    net.fit(sp.csr_matrix(X), y, epochs=1, batch_size=batch_size, shuffle=False, verbose=0,
            **fit_kw())
    reference.epoch(ref, ref_opt, X, reference.one_hot(y, 4), batch_size=batch_size)
    for W, Wr in zip([*net.weights, *net.biases], ref.W + ref.b, strict=True):
        np.testing.assert_allclose(W, Wr, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_packed_forward_is_bit_identical_to_the_dense_order(dtype):
    # the column form (through panels of z) and the packed forward sum each
    # output in the row kernel's order: batches of 40 (column form), of 300
    # (packed: too many rows for a panel of z in L1) and of 8 (row kernel)
    # give the same z^1
    X, _ = bag_of_words(n=300, d=700, density=0.05, seed=8)
    net = nnc.Network([X.shape[1], 53, 4], activation="identity", dtype=dtype, seed=1)
    Xs = sp.csr_matrix(X.astype(dtype))
    big = net.forward(Xs, layer=1, batch_size=40)
    small = net.forward(Xs, layer=1, batch_size=8)
    np.testing.assert_array_equal(big, small)
    np.testing.assert_array_equal(net.forward(Xs, layer=1, batch_size=1000), small)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sparse,hidden", [(True, 5), (False, 5), (True, 30)])
@pytest.mark.parametrize("col", [0, 15, 16, 17, 31, 32, 98, 99])
def test_a_non_finite_input_is_found_at_any_position_of_a_row(col, sparse, hidden, dtype):
    # the engine checks each gathered row in blocks of 16 values and a tail:
    # compacted (5 hidden units) or read in place by the register tiles (30)
    rng = np.random.default_rng(col)
    X = rng.random((40, 100)).astype(dtype) + 0.5   # every value non-zero
    y = rng.integers(0, 3, 40)
    for bad in (np.nan, np.inf, -np.inf):
        Xb = X.copy()
        Xb[23, col] = bad
        net = nnc.Network([100, hidden, 3], dtype=dtype, seed=0)
        with pytest.raises(ValueError, match=r"X contains NaN or inf"):
            net.fit(Xb, y, epochs=1, batch_size=8, sparse=sparse, verbose=0)
        net.fit(X, y, epochs=1, batch_size=8, sparse=sparse, verbose=0)  # and no false alarm


@pytest.mark.parametrize("hidden", [5, 16, 30, 37, 64])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_row_form_with_unsorted_and_duplicate_columns(hidden, dtype, reference):
    # batches of up to 16 rows update W^1 sample by sample, four entries at a
    # time where their columns increase; a CSR matrix whose rows hold columns
    # out of order and twice must give the same as its canonical form
    X, y = bag_of_words(n=60, d=300, density=0.08, seed=9)
    X = X.astype(dtype)
    csr = sp.csr_matrix(X)
    data, indices, indptr = [], [], [0]
    for i in range(X.shape[0]):
        cols = list(csr.indices[csr.indptr[i]:csr.indptr[i + 1]])
        vals = list(csr.data[csr.indptr[i]:csr.indptr[i + 1]])
        if len(cols) > 6:
            cols[2], cols[5] = cols[5], cols[2]        # out of order
            vals[2], vals[5] = vals[5], vals[2]
            vals[0] /= 2
            at = 1 + i % 4                             # the first one again,
            cols.insert(at, cols[0])                   # within one group of 4
            vals.insert(at, vals[0])
        data += vals
        indices += cols
        indptr.append(len(data))
    messy = sp.csr_matrix((np.array(data, dtype=dtype), np.array(indices, dtype=np.int32),
                           np.array(indptr)), shape=X.shape)
    assert not messy.has_canonical_format
    # nnc sums and sorts a matrix that says it is not canonical (a copy); one
    # whose flags claim so anyway reaches the kernels as it is
    liar = messy.copy()
    liar.has_canonical_format = True
    assert liar.has_sorted_indices
    runs = []
    for inp in (liar, messy, csr):
        net = nnc.Network([X.shape[1], hidden, 4], activation="relu",
                          output_activation="softmax", loss="categorical_crossentropy",
                          dtype=dtype, seed=3, init="he")
        net.fit(inp, y, epochs=2, batch_size=7, lr=0.3, shuffle=False, verbose=0)
        runs.append(net)
    tol = 1e-12 if dtype == "float64" else 1e-5
    for run in runs[1:]:
        for W, Wc in zip(runs[0].weights, run.weights, strict=True):
            np.testing.assert_allclose(W, Wc, rtol=tol, atol=tol)
    if dtype == "float64":
        ref = reference.Net(nnc.Network([X.shape[1], hidden, 4], activation="relu",
                                        output_activation="softmax",
                                        loss="categorical_crossentropy", dtype=dtype,
                                        seed=3, init="he"))
        ref_opt = reference.Optimizer(name="sgd", lr=0.3)
        for _ in range(2):
            reference.epoch(ref, ref_opt, X, reference.one_hot(y, 4), batch_size=7)
        for W, Wr in zip(runs[0].weights, ref.W, strict=True):
            np.testing.assert_allclose(W, Wr, rtol=1e-9, atol=1e-9)


def _cpu_has_avx512():
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return all(flag in flags.split() for flag in ("avx512f", "avx512vl", "fma"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_register_tiles_take_small_dense_batches(dtype):
    # which layers the tiles take; where the CPU has AVX-512 they must exist,
    # or the tests below would compare the row form with itself
    net = nnc.Network([50, 30, 4], dtype=dtype)
    lanes = 16 if dtype == "float32" else 8
    for hidden, cap, expected in [(30, 10, 10), (30, 64, 12), (lanes, 64, 12),
                                  (lanes - 1, 64, 0), (256, 64, 12), (257, 64, 0)]:
        net = nnc.Network([50, hidden, 4], dtype=dtype)
        engine = net._engine(cap, 1, 1)                    # input mode 1: compact
        if _cpu_has_avx512():
            assert engine.tile_rows == expected, (hidden, cap)
        else:
            assert engine.tile_rows in (0, expected)
        assert net._engine(cap, 2, 1).tile_rows == 0       # CSR input: row form
        assert net._engine(cap, 0, 1).tile_rows == 0       # dense layer: GEMM


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_features", [1, 7, 8, 15, 16, 17, 31, 33, 100, 784, 785])
def test_the_tiles_scan_finds_numpys_active_columns_and_writes_nowhere_else(n_features, dtype):
    # the tiles' one pass over a batch: the columns non-zero in any row (as
    # NumPy finds them) and the rows holding NaN or inf, for 1-12 rows; it
    # stores whole vectors of indices, which must stay inside act[:n_features]
    # even when every column is active (the guard after it keeps its values)
    from nnc import _kernels
    rng = np.random.default_rng(n_features)
    big = np.finfo(dtype).max
    tiny = np.finfo(dtype).smallest_subnormal
    guard = 40
    for m in (1, 2, 5, 10, 12):
        dense = rng.uniform(0.5, 1.5, (m, n_features)).astype(dtype)
        sparse = np.where(rng.random((m, n_features)) < 0.1, dense, 0).astype(dtype)
        sparse[0, :: max(1, n_features // 3)] = -0.0            # zero, not active
        sparse[-1, n_features // 2] = tiny                       # non-zero, finite
        sparse[m // 2, -1] = -big                                # finite
        bad_rows = sparse.copy()
        bad_rows[0, n_features - 1] = np.inf                     # vector part or tail
        bad_rows[m - 1, 0] = np.nan
        for x in (dense, sparse, np.zeros_like(dense), bad_rows):
            act = np.full(n_features + guard, -7, dtype=np.int32)
            got = _kernels._active_columns(np.ascontiguousarray(x), act)
            if got is None:
                assert not _cpu_has_avx512()
                return
            n, bad = got
            np.testing.assert_array_equal(act[:n], np.flatnonzero((x != 0).any(axis=0)))
            assert bad == sum(1 << i for i in np.flatnonzero(~np.isfinite(x).all(axis=1)))
            assert (act[n_features:] == -7).all(), "wrote past act[:n_features]"


@pytest.mark.parametrize("opt", ["sgd", "adam", "momentum"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hidden", [8, 11, 16, 20, 30, 32, 37, 48, 70, 128, 256])
def test_register_tiles_are_bit_identical_to_the_row_form(hidden, dtype, opt):
    # dense batches of up to 12 rows go through the register tiles, which add
    # every active column's row of W (zeros included) and so must give the
    # row form's results to the bit; the same data as CSR takes the row form.
    # Batches of 1, 3, 10 and 12 rows, a last batch of 7 and 4, the empty row,
    # outputs over one vector, between one and two, and several blocks of two
    # with a last one moved back to end at n_out
    X, y = bag_of_words(n=60, d=300, density=0.08, seed=4)
    X = X.astype(dtype)
    fit_kw, _ = OPTIMIZERS[opt]
    runs, losses = [], []
    for inp in (X, sp.csr_matrix(X)):
        net = nnc.Network([X.shape[1], hidden, 4], activation="sigmoid", dtype=dtype,
                          seed=2)
        for batch_size in (1, 3, 10, 12, 8):
            hist = net.fit(inp, y, epochs=1, batch_size=batch_size, shuffle=batch_size != 8,
                           sparse=True, verbose=0, **fit_kw())
            losses.append(hist["loss"][-1])
        runs.append(net)
    tiles, rows = runs
    np.testing.assert_array_equal(tiles.params, rows.params)
    assert losses[:5] == losses[5:]   # the forward pass's outputs, through the loss
    assert not np.array_equal(tiles.params, nnc.Network(
        [X.shape[1], hidden, 4], activation="sigmoid", dtype=dtype, seed=2).params)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("kind", ["compact", "csr", "liar"])
def test_transposition_in_bands_equals_numpy_reference(kind, opt, reference):
    # batches with many entries per touched column (here ~60) are transposed
    # a band of columns at a time, each row resuming where it stopped; rows
    # whose columns do not increase (a CSR matrix whose flags lie) go through
    # the plain counting sort.  Either way: the reference's trajectory.
    rng = np.random.default_rng(21)
    X = rng.random((400, 300)) * (rng.random((400, 300)) < 0.3)
    X[5] = 0.0
    y = rng.integers(0, 4, 400)
    inp = X
    if kind != "compact":
        inp = sp.csr_matrix(X)
    if kind == "liar":
        indices, data = inp.indices.copy(), inp.data.copy()
        for i in range(0, 400, 3):          # reverse every third row's columns
            a, b = inp.indptr[i], inp.indptr[i + 1]
            indices[a:b], data[a:b] = indices[a:b][::-1], data[a:b][::-1]
        inp = sp.csr_matrix((data, indices, inp.indptr), shape=X.shape)
        inp.has_canonical_format = True     # a lie: the kernels get it as it is
    fit_kw, opt_kw = OPTIMIZERS[opt]
    net = nnc.Network([300, 40, 4], activation="relu", output_activation="softmax",
                      loss="categorical_crossentropy", dtype="float64", seed=5, init="he")
    ref, ref_opt = reference.Net(net), reference.Optimizer(**opt_kw)
    hist = net.fit(inp, y, epochs=2, batch_size=200, shuffle=False, verbose=0, sparse=True,
                   **fit_kw())
    assert_follows_reference(net, hist, reference, ref, ref_opt, X, y, 200)


def test_the_density_estimate_that_chooses_the_sparse_layer():
    from nnc.network import SPARSE_DENSITY, _density
    rng = np.random.default_rng(3)
    for density in (0.05, 0.19, 0.45, 0.55, 0.9):
        X = (rng.random((20000, 300)) < density).astype(np.float32)
        assert _density(X) == pytest.approx(density, abs=0.01)
        assert _density(X.astype(np.float64)) == pytest.approx(density, abs=0.01)
    assert _density(np.zeros((3, 5), np.float32)) == 0.0
    assert _density(np.zeros((0, 5), np.float32)) == 0.0
    assert 0.05 < SPARSE_DENSITY < 0.9


def blobs(n=240, side=27, k=4, seed=0):
    """Image-like rows: a few soft blobs on a side x side grid, so that the
    non-zeros cluster along the rows of pixels as in MNIST (side 27: 729
    inputs, the last strip of adjacent inputs has one)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side]
    X = np.zeros((n, side * side))
    for i in range(n):
        img = np.zeros((side, side))
        for _ in range(rng.integers(1, 4)):
            cy, cx, r = rng.uniform(4, side - 4), rng.uniform(4, side - 4), rng.uniform(2, 5)
            img += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / r ** 2)
        X[i] = np.where(img > 0.3, np.minimum(img, 1.0), 0.0).ravel()
    X[3] = 0.0                                  # an empty row
    X[5, -1] = 0.7                              # the last input, alone in its strip
    y = rng.integers(0, k, n)
    return X, y


@pytest.fixture
def strips():
    """Set how new engines pick strips (-1 never, 0 auto, 1 always); restored after."""
    from nnc import _engine
    previous = _engine._set_strips(0)
    yield _engine._set_strips
    _engine._set_strips(previous)


def _fit_blobs(X, y, hidden, dtype, batch_size, opt, threads=1, epochs=2):
    net = nnc.Network([X.shape[1], hidden, 4], activation="relu", output_activation="softmax",
                      loss="categorical_crossentropy", dtype=dtype, seed=3, init="he")
    fit_kw, _ = OPTIMIZERS[opt]
    hist = net.fit(X.astype(dtype), y, epochs=epochs, batch_size=batch_size, shuffle=True,
                   sparse=True, verbose=0, threads=threads, **fit_kw())
    return net.params.copy(), hist["loss"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hidden,batch_size", [(512, 40), (100, 64), (70, 200), (129, 17),
                                               (33, 150), (256, 128)])
@pytest.mark.parametrize("opt", ["adam", "momentum"])
def test_strips_are_bit_identical_to_the_column_form(strips, hidden, batch_size, dtype, opt):
    # Strips of 4 adjacent inputs add zeros too, in the column form's order:
    # with gradients not scaled inside BP4 (not a fused SGD step) the same
    # bits, and the same for 1 and 2 threads.  Panels of 2 and 4 vectors,
    # a partial last panel (70, 129, 33 outputs), a last batch of 80 or 7,
    # 729 inputs (a last strip of one)
    X, y = blobs()
    strips(-1)
    columns, loss_c = _fit_blobs(X, y, hidden, dtype, batch_size, opt)
    strips(1)
    striped, loss_s = _fit_blobs(X, y, hidden, dtype, batch_size, opt)
    two, _ = _fit_blobs(X, y, hidden, dtype, batch_size, opt, threads=2)
    np.testing.assert_array_equal(striped, columns)
    np.testing.assert_array_equal(two, striped)
    assert loss_s == loss_c


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch_size", [300, 256, 129])
def test_strips_forward_in_blocks_of_rows_is_bit_identical(strips, dtype, batch_size):
    # The strips' forward takes a batch 128 rows at a time (its panel of z
    # then stays in L1): 300 rows are blocks of 128, 128 and 44; a last
    # batch of 100 (700 rows), of 188 and of 55
    X, y = blobs(n=700)
    strips(-1)
    columns, loss_c = _fit_blobs(X, y, 300, dtype, batch_size, "adam", epochs=1)
    strips(1)
    striped, loss_s = _fit_blobs(X, y, 300, dtype, batch_size, "adam", epochs=1)
    two, _ = _fit_blobs(X, y, 300, dtype, batch_size, "adam", threads=2, epochs=1)
    np.testing.assert_array_equal(striped, columns)
    np.testing.assert_array_equal(two, striped)
    assert loss_s == loss_c


@pytest.mark.parametrize("opt", ["sgd", "sgd l2", "adam", "rmsprop"])
@pytest.mark.parametrize("batch_size,hidden", [(60, 100), (40, 512), (17, 70)])
def test_strips_equal_numpy_reference(strips, opt, batch_size, hidden, reference):
    X, y = blobs(n=160)
    strips(1)
    fit_kw, opt_kw = OPTIMIZERS[opt]
    net = nnc.Network([X.shape[1], hidden, 4], activation="relu", output_activation="softmax",
                      loss="categorical_crossentropy", dtype="float64", seed=5, init="he")
    ref, ref_opt = reference.Net(net), reference.Optimizer(**opt_kw)
    hist = net.fit(X, y, epochs=2, batch_size=batch_size, shuffle=False, verbose=0, sparse=True,
                   **fit_kw())
    assert_follows_reference(net, hist, reference, ref, ref_opt, X, y, batch_size)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hidden", [300, 129, 70])
def test_strips_are_chosen_for_images_and_not_for_bags_of_words(strips, dtype, hidden):
    # The first batch decides, from the multiplications the strips would make
    # per non-zero (1.4 for these images, 4 for a bag of words) at any width
    # the panels serve (over 4 vectors).  A fused SGD step scales delta before the
    # strips' products and x inside the column form's (rounded differently),
    # so which one ran shows in the bits of W^1.
    def fit(X, y, mode):
        strips(mode)
        return _fit_blobs(X, y, hidden, dtype, 64, "sgd lr=0.3")[0]
    OPTIMIZERS["sgd lr=0.3"] = (lambda: dict(lr=0.3), None)
    try:
        images = blobs(n=200)
        words = bag_of_words(n=200, d=729, density=0.05, seed=3)
        auto_i, on_i, off_i = (fit(*images, mode) for mode in (0, 1, -1))
        auto_w, on_w, off_w = (fit(*words, mode) for mode in (0, 1, -1))
    finally:
        del OPTIMIZERS["sgd lr=0.3"]
    if not _cpu_has_avx512():
        np.testing.assert_array_equal(on_i, off_i)   # no strips: the same path
        return
    assert not np.array_equal(on_i, off_i)           # the two paths differ, and ...
    np.testing.assert_array_equal(auto_i, on_i)      # ... images take the strips
    assert not np.array_equal(on_w, off_w)
    np.testing.assert_array_equal(auto_w, off_w)     # a bag of words the column form
    for mode in (-2, 2):
        with pytest.raises(ValueError, match="mode"):
            strips(mode)


def test_engine_reports_whether_it_may_take_strips(strips):
    net = nnc.Network([729, 100, 4])
    if _cpu_has_avx512():
        assert net._engine(64, 1, 1).strips == 0     # compact: the first batch decides
        strips(1)
        assert net._engine(64, 1, 1).strips == 1
        strips(-1)
        assert net._engine(64, 1, 1).strips == -1
    assert net._engine(64, 2, 1).strips == -1        # CSR rows: never
    assert net._engine(64, 0, 1).strips == -1        # the dense layer: never
    assert net._engine(12, 1, 1).strips == -1        # batches of 12: the register tiles


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_features", [99, 100, 131])
@pytest.mark.parametrize("threads", [1, 2])
def test_strips_find_a_non_finite_input_anywhere(strips, dtype, n_features, threads):
    # The strips are built straight from the dense rows (no compaction), a
    # vector of 4 strips at a time and one by one at the end (a last strip
    # of 3 inputs for 99 and 131 features); that pass looks for NaN and inf,
    # and the error names the first bad row of the batch, whichever thread
    # saw it.
    strips(1)
    rng = np.random.default_rng(n_features)
    X = np.where(rng.random((80, n_features)) < 0.3, rng.random((80, n_features)), 0.0)
    X = X.astype(dtype)
    y = rng.integers(0, 3, 80)
    for col in sorted({0, 3, 15, 16, 47, 64, n_features - 4, n_features - 2, n_features - 1}):
        for bad in (np.nan, np.inf, -np.inf):
            Xb = X.copy()
            Xb[57, col] = bad
            Xb[63, n_features - 1 - col] = bad
            net = nnc.Network([n_features, 20, 3], dtype=dtype, seed=0)
            before = net.params.copy()
            with pytest.raises(ValueError, match=r"NaN or infinity \(in row 57\)"):
                net.fit(Xb, y, epochs=1, batch_size=40, shuffle=False, sparse=True, verbose=0,
                        threads=threads)
            np.testing.assert_array_equal(net.params, before)
    net = nnc.Network([n_features, 20, 3], dtype=dtype, seed=0)
    net.fit(X, y, epochs=1, batch_size=40, sparse=True, verbose=0, threads=threads)  # no alarm
    assert np.isfinite(net.params).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_features", [1, 5, 9])
def test_strips_of_a_few_inputs_and_more_threads_than_strips(strips, dtype, n_features):
    # 1, 5 and 9 inputs make 1, 2 and 3 strips (the last of 1 input); the
    # builder's threads take whole strips, so with 4 threads at most 3 work
    # (one strip each).  Batches of 70 and a last one of 10 (the row form);
    # the results match 1 thread and the column form bit for bit.
    rng = np.random.default_rng(n_features)
    X = np.where(rng.random((150, n_features)) < 0.5, rng.random((150, n_features)), 0.0)
    X[:, 0] = 0.0 if n_features > 1 else X[:, 0]
    y = rng.integers(0, 3, 150)
    fits = {}
    for mode, threads in [(-1, 1), (1, 1), (1, 4)]:
        strips(mode)
        net = nnc.Network([n_features, 100, 3], activation="relu", output_activation="softmax",
                          loss="categorical_crossentropy", dtype=dtype, seed=2)
        net.fit(X.astype(dtype), y, epochs=2, batch_size=70, sparse=True, verbose=0,
                threads=threads, optimizer=nnc.optimizers.Adam(lr=0.01))
        fits[mode, threads] = net.params.copy()
    np.testing.assert_array_equal(fits[1, 1], fits[-1, 1])
    np.testing.assert_array_equal(fits[1, 4], fits[1, 1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_features", [1, 5, 16, 127, 128, 129, 257, 784, 785])
def test_the_strips_builder_matches_numpy_and_writes_nowhere_else(n_features, dtype):
    # Strips of 4 adjacent inputs, built 32 strips at a time through all the
    # rows (several such groups from 129 inputs on), by ranges of strips per
    # thread: each strip lists the rows (in the order given) whose 4 values
    # are not all zero, with those values, and counts them at the end of each
    # block of rows; nothing is written past a strip's rows, or past count.
    from nnc import _kernels
    rng = np.random.default_rng(n_features)
    x = np.where(rng.random((300, n_features)) < 0.2, rng.uniform(-2, 2, (300, n_features)), 0)
    x[7, :] = -0.0                                                # an empty row
    x[11, :] = 1.0                                                # a full one
    x = x.astype(dtype)
    n_strips = -(-n_features // 4)
    padded = np.zeros((300, 4 * n_strips), dtype)
    padded[:, :n_features] = x
    for rows, block, threads in [(1, 1, 1), (40, 16, 2), (128, 128, 1), (200, 128, 3),
                                 (255, 64, 4), (298, 100, 2)]:
        order = rng.permutation(np.setdiff1d(np.arange(300), [7, 11]))[:rows].astype(np.int64)
        order[rows // 2] = 7
        order[rows - 1] = 11
        stride, n_blocks, guard = rows | 1, -(-rows // block), 9
        count = np.full(n_blocks * n_strips + guard, -5, np.int32)
        srows = np.full(n_strips * stride + guard, -5, np.int32)
        svals = np.full(n_strips * stride * 4 + guard, -5, dtype)
        got = _kernels._build_strips(x, order, block, count, srows, svals, threads)
        if got is None:
            assert not _cpu_has_avx512()
            return
        nnz, bad = got
        assert nnz == np.count_nonzero(x[order]) and bad == rows
        for s in range(n_strips):
            vals = padded[order, 4 * s:4 * s + 4]
            used = np.flatnonzero((vals != 0).any(axis=1))
            n = len(used)
            np.testing.assert_array_equal(srows[s * stride:s * stride + n], used)
            np.testing.assert_array_equal(
                svals[4 * s * stride:4 * (s * stride + n)].reshape(n, 4), vals[used])
            ends = np.minimum(np.arange(1, n_blocks + 1) * block, rows)
            np.testing.assert_array_equal(count[s:n_blocks * n_strips:n_strips],
                                          np.searchsorted(used, ends))
        assert (count[n_blocks * n_strips:] == -5).all() and (srows[-guard:] == -5).all()
        assert (svals[-guard:] == -5).all()
        # NaN and inf: the first such row of the batch, whichever strip (group
        # of strips, thread) holds it: a later row in an earlier strip too
        for i, col, later_col in ((rows - 1, n_features - 1, None), (rows // 3, n_features - 1, 0),
                                  (0, n_features // 2, n_features - 1)):
            xb = x.copy()
            xb[order[i], col] = np.nan
            if later_col is not None and i != rows - 1:
                xb[order[rows - 1], later_col] = -np.inf
            _, bad = _kernels._build_strips(xb, order, block, count, srows, svals, threads)
            assert bad == i
