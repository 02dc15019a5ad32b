# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The fused training engine: whole spans of mini-batches in C, without the GIL.

One training step is six small functions, in this order::

    gather   -> the mini-batch's inputs and targets, in buffers allocated once
    forward  -> z^l = a^{l-1} W^l^T + b^l,  a^l = f(z^l)
    output   -> delta^L = dC/da^L (*) f'(z^L)                        (BP1)
    backprop -> delta^l = (delta^{l+1} W^{l+1}) (*) f'(z^l)          (BP2)
                dC/db^l = sum of delta^l,  dC/dW^l = delta^l^T a^{l-1}  (BP3, BP4)
    (reduce) -> summing gradients across ranks happens in Python, once per step
    update   -> the optimizer, over one flat buffer of all parameters

Parameters live in one contiguous buffer; layer l's W^l is stored as W^l^T,
a row-major (n_in, n_out) block, followed by b^l.  Gradients and optimizer
state use the same layout, so an update, an allreduce or a save is one call.

With plain SGD the gradient is never materialised: BP3/BP4 accumulate
``-lr * gradient`` straight into the parameters (BP2 for the layer below is
computed first, with the old weights).
"""
from cython cimport floating
from libc.string cimport memset, memcpy
from libc.stdint cimport uint64_t
from libc.math cimport sqrt, pow
from cython.parallel cimport prange

from nnc._kernels cimport (
    gemm_par, axpy, sparse_forward, sparse_weight_grad, rows_to_columns,
    panel_lanes, pack_rows, delta_panel_width, pack_delta, all_finite,
    compact_rows, prefetch_rows, sparse_weight_grad_rows,
    tile_rows, active_columns, tile_forward, tile_update, scatter_rows, scatter_forward,
    strip_width, strip_panel_width, build_strips, strip_forward, strip_weight_grad,
    bias_grad, rows_pass, PASS_ACTIVATE, PASS_BIAS_ACTIVATE, PASS_HADAMARD, output_delta,
    scale_inplace, add_bias, softmax_crossentropy, sum_squares,
    ACT_RELU, ACT_SOFTMAX, LOSS_CATEGORICAL_CROSSENTROPY,
    sgd_update, momentum_update, adam_update, rmsprop_update,
)

cdef extern from "_fpmode.h" nogil:
    int nnc_fp_flush(int on)
    void nnc_fp_restore(int bits)

import numpy as np

from nnc import _buffers

# Subnormal floats flushed to zero while the engine runs (see _fpmode.h and
# set_flush_denormal): the one switch, read at the start of every call.
cdef bint _flush_denormal = True
cdef int _strip_mode = 0


def _set_strips(int mode):
    """Whether new engines take dense batches through strips: -1 never,
    0 where the first batch shows that they pay, 1 always (where the kernels
    exist).  Returns the previous mode.

    For tests: it lets them compare the strips with the column form on any
    data.
    """
    global _strip_mode
    if mode not in (-1, 0, 1):
        raise ValueError(f"mode must be -1, 0 or 1, got {mode}")
    previous, _strip_mode = _strip_mode, mode
    return previous


def set_flush_denormal(bint enabled):
    """Set whether nnc's engine flushes subnormal floats to zero; return the
    previous setting (see :func:`nnc.set_flush_denormal`)."""
    global _flush_denormal
    previous = bool(_flush_denormal)
    _flush_denormal = enabled
    return previous


cdef enum:
    MAX_LAYERS = 64
    ROW_GRAD_MAX_BATCH = 16   # below this, the sparse weight gradient goes row by row

# Optimizer codes, exposed as ``nnc._engine.Optimizer``; nnc.optimizers derives
# its names from them (OPT_ADAM -> "adam").
cpdef enum Optimizer:
    OPT_SGD = 0
    OPT_MOMENTUM = 1
    OPT_NESTEROV = 2
    OPT_ADAM = 3
    OPT_RMSPROP = 4

# How the first layer reads its input (``nnc._engine.InputMode`` in Python).
cpdef enum InputMode:
    INPUT_DENSE = 0     # rows copied into a^0, one GEMM
    INPUT_COMPACT = 1   # dense rows compacted to their non-zeros each batch
    INPUT_CSR = 2       # scipy.sparse CSR rows


cdef struct Ctx:
    int n_layers
    int sizes[MAX_LAYERS + 1]
    int act[MAX_LAYERS]
    int loss
    Py_ssize_t w_off[MAX_LAYERS]
    Py_ssize_t b_off[MAX_LAYERS]
    Py_ssize_t n_params
    void* params
    void* grads
    void* state1
    void* state2
    # data (never copied: the gather reads the caller's arrays)
    int input_mode
    void* x
    Py_ssize_t n_features
    void* csr_data
    int* csr_indices
    long long* csr_indptr
    long long* labels
    void* targets
    void* sample_weight
    long long* order
    Py_ssize_t n_order
    int batch_size
    # workspace, allocated once per fit
    int cap
    void* x_batch               # the gathered input rows; a[0] points here or, in direct mode, into x
    void* z[MAX_LAYERS]
    void* f[MAX_LAYERS]         # f(z^l), before dropout
    void* a[MAX_LAYERS + 1]     # a^0 (the gathered input) ... a^L, after dropout
    void* mask[MAX_LAYERS]
    double keep[MAX_LAYERS]
    void* delta
    void* delta_prev
    void* yb
    void* wb
    int sp_stride               # row i's non-zeros: sp_cols/sp_vals[i * sp_stride:]
    int* sp_cols
    void* sp_vals
    int* sp_cnt
    # the batch's non-zeros by column (for BP4): n_cols touched columns, ids
    # col_ids, entries csc_rows/csc_vals[col_ptr[k]:col_ptr[k + 1]]
    int n_cols
    int* col_ids
    int* col_ptr
    int* csc_rows
    void* csc_vals
    int* col_count              # scratch of the transposition, kept zero
    int* row_cursor             # scratch of the transposition (cap ints)
    # small batches of dense rows (compact mode, m <= tile_max) are not
    # compacted: the layer reads rows x_rows[:m] in place, over the columns
    # act_cols[:n_act] where any of them is non-zero (tile_forward/_update)
    int tile_max
    int tile                    # the current batch goes through the tiles
    void** x_rows
    void** pf_rows              # the next batch's rows, fetched during the tiles
    int n_pf
    int* act_cols
    int n_act
    unsigned tile_bad           # bit i: row i of the tiled batch holds NaN or inf
    unsigned long long* col_bits
    void* w_packed              # W^1 packed in panels for the sparse forward, or NULL
    void* delta_panels          # delta^1 packed in panels for BP4's column form, or NULL
    int delta_bw                # values per row of a panel of delta_panels
    # batches of ROW_GRAD_MAX_BATCH < m <= scatter_max rows take the forward
    # in column form (scatter_forward), through delta_panels as panels of z;
    # csc_ready: the batch's columns (col_ids ...) are already built
    int scatter_max
    int csc_ready
    # batches of more than ROW_GRAD_MAX_BATCH dense rows (compact mode) may go
    # through strips of adjacent inputs, built straight from the rows instead
    # of compacting them (build_strips: n_strips strips, strip s's entries
    # from strip_rows/strip_vals[s * strip_stride]; strip_count[k * n_strips
    # + s]: its entries in the blocks of strip_block rows up to block k, see
    # strip_totals).  They share the column form's buffers: one or the other
    # is used.  strip_mode: -1 never, 0 the first such batch decides, 1
    # always; strips_ready: this batch's strips are built (and its rows not
    # compacted); strip_bad: its first row with NaN or inf, or m; strip_bw:
    # the kernels' panel width
    int n_strips
    int strip_mode
    int strips_ready
    int strip_bad
    int strip_stride
    int strip_block
    int strip_bw
    int* strip_count
    int* strip_rows
    void* strip_vals
    # what of w_packed is stale: 0 nothing, 1 the rows col_ids[:n_cols] (the
    # last fused SGD step changed only those), 2 everything
    int packed_stale
    # optimizer
    int optimizer
    double lr, mu, beta1, beta2, eps, rho, l2
    long long t
    int fused
    int accumulate              # backprop adds to the gradient buffer (full batch)
    void* w_rows[MAX_LAYERS]    # W^l copied as (n_out, n_in) rows for BP2, or NULL
    int threads
    uint64_t seed
    long long step
    # inputs are checked for NaN/inf as they are gathered (first epoch only):
    # one pass over the data that training makes anyway, none extra
    int check_input
    long long bad_row
    # inference over rows in order: layer 1 reads x in place, no copy
    int direct
    # running statistics of the current span
    double loss_sum
    double correct
    long long seen


cdef int fp_begin(int threads) noexcept nogil:
    """Flush subnormals in this thread and the pool's (if the switch is on);
    returns what fp_end restores (-1: nothing was changed)."""
    cdef int _t, before
    if not _flush_denormal:
        return -1
    before = nnc_fp_flush(1)
    if threads > 1:
        # each of the pool's threads has its own mode register: one
        # iteration each (static schedule) sets them all
        for _t in prange(threads, nogil=True, num_threads=threads, schedule='static'):
            nnc_fp_flush(1)
    return before


cdef void fp_end(int threads, int before) noexcept nogil:
    """Put back the mode fp_begin found, here and in the pool's threads."""
    cdef int _t
    if before < 0:
        return
    nnc_fp_restore(before)
    if threads > 1:
        for _t in prange(threads, nogil=True, num_threads=threads, schedule='static'):
            nnc_fp_restore(before)


cdef inline uint64_t _mix(uint64_t x) noexcept nogil:
    # splitmix64's finaliser: a counter-based generator, so dropout masks
    # do not depend on the number of threads or on the order of work.
    x = (x ^ (x >> 30)) * <uint64_t>0xbf58476d1ce4e5b9ULL
    x = (x ^ (x >> 27)) * <uint64_t>0x94d049bb133111ebULL
    return x ^ (x >> 31)


# ---------------------------------------------------------------------------
# The six stages of a step.
# ---------------------------------------------------------------------------
cdef bint check_batch(Ctx* c, floating kind, Py_ssize_t start, int m) noexcept nogil:
    """False (and c.bad_row set) when a gathered input row holds NaN or inf."""
    cdef int i
    cdef Py_ssize_t nf = c.n_features
    if c.strips_ready:  # the strips' pass over the rows found them
        if c.strip_bad < m:
            c.bad_row = c.order[start + c.strip_bad]
            return False
        return True
    for i in range(m):
        if c.input_mode == INPUT_DENSE:
            if all_finite(<floating*>c.a[0] + i * nf, nf):
                continue
        elif c.tile:  # the gather's pass over the rows found them
            if not (c.tile_bad >> i) & 1:
                continue
        elif all_finite(<floating*>c.sp_vals + <Py_ssize_t>i * c.sp_stride, c.sp_cnt[i]):
            continue
        c.bad_row = c.order[start + i]
        return False
    return True


cdef void gather(Ctx* c, floating kind, Py_ssize_t start, int m) noexcept nogil:
    """Copy the mini-batch's inputs, targets and weights into the workspace."""
    cdef int i, n_out = c.sizes[c.n_layers]
    cdef Py_ssize_t r, nf = c.n_features, p0, cnt
    cdef floating* a0 = <floating*>c.x_batch
    cdef floating* x = <floating*>c.x
    cdef floating* yb = <floating*>c.yb
    cdef floating* wb = <floating*>c.wb
    c.csc_ready = 0
    c.strips_ready = 0
    if c.input_mode == INPUT_DENSE and c.direct:
        c.a[0] = x + start * nf  # rows start .. start+m-1, contiguous
    elif c.input_mode == INPUT_DENSE:
        c.a[0] = a0
        for i in range(m):
            memcpy(a0 + i * nf, x + c.order[start + i] * nf, nf * sizeof(floating))
    elif c.input_mode == INPUT_COMPACT:
        c.tile = m <= c.tile_max
        if c.tile:
            for i in range(m):
                c.x_rows[i] = x + c.order[start + i] * nf
            c.n_act = active_columns(<const floating* const*>c.x_rows, m, <int>nf, c.act_cols,
                                     &c.tile_bad)
        elif not strips(c, kind, start, m):
            compact_rows(x, nf, c.order, start, m, c.sp_cols, <floating*>c.sp_vals,
                         c.sp_cnt, c.threads)
    else:
        for i in range(m):
            r = c.order[start + i]
            p0 = c.csr_indptr[r]
            cnt = c.csr_indptr[r + 1] - p0
            memcpy(c.sp_cols + <Py_ssize_t>i * c.sp_stride, c.csr_indices + p0,
                   cnt * sizeof(int))
            memcpy(<floating*>c.sp_vals + <Py_ssize_t>i * c.sp_stride, <floating*>c.csr_data + p0,
                   cnt * sizeof(floating))
            c.sp_cnt[i] = <int>cnt
    c.n_pf = 0
    if c.x != NULL and not c.direct and start + m < c.n_order:
        # The next batch's rows are random: ask for (some of) them now, or,
        # for the tiles, a line at a time while they compute.  The strips'
        # builder asks for its rows a few ahead itself: a burst here too
        # stalled this batch (wide: 0.99x one thread, 0.98x two without).
        if c.tile and start + 2 * m <= c.n_order:
            c.n_pf = m
            for i in range(m):
                c.pf_rows[i] = x + c.order[start + m + i] * nf
        elif not c.strips_ready:
            prefetch_rows(c.x, nf * sizeof(floating), c.order + start + m,
                          <int>min(<Py_ssize_t>min(c.batch_size, 32), c.n_order - start - m))
    if c.labels != NULL:
        memset(yb, 0, <Py_ssize_t>m * n_out * sizeof(floating))
        for i in range(m):
            yb[<Py_ssize_t>i * n_out + c.labels[c.order[start + i]]] = 1
    elif c.targets != NULL:
        for i in range(m):
            memcpy(yb + <Py_ssize_t>i * n_out,
                   <floating*>c.targets + c.order[start + i] * n_out,
                   n_out * sizeof(floating))
    if c.sample_weight != NULL:
        for i in range(m):
            wb[i] = (<floating*>c.sample_weight)[c.order[start + i]]


cdef inline floating* layer_input(Ctx* c, floating kind, int l, bint train) noexcept nogil:
    """What layer l reads: a^{l-1} (after dropout when training), or f(z^{l-1})."""
    return <floating*>(c.a[l] if (train or l == 0) else c.f[l - 1])


cdef void forward(Ctx* c, floating kind, int m, int n_layers, bint train) noexcept nogil:
    """Feed the gathered batch through the first ``n_layers`` layers."""
    cdef int l, n_in, n_out
    cdef Py_ssize_t e, n
    cdef floating* params = <floating*>c.params
    cdef floating* prev
    cdef floating* fl
    cdef floating* al
    cdef floating* mk
    cdef floating keep, inv
    cdef uint64_t key
    for l in range(n_layers):
        n_in = c.sizes[l]
        n_out = c.sizes[l + 1]
        prev = layer_input(c, kind, l, train)
        fl = <floating*>c.f[l]
        if l == 0 and c.tile:
            tile_forward(<const floating* const*>c.x_rows, m, c.act_cols, c.n_act,
                         params + c.w_off[0], params + c.b_off[0], <floating*>c.z[0], n_out,
                         <const char* const*>c.pf_rows, c.n_pf // 2,
                         c.n_features * sizeof(floating))
        elif l == 0 and c.strips_ready:
            strip_forward(c.strip_count, c.strip_stride, c.strip_rows, <floating*>c.strip_vals,
                          c.n_strips, c.strip_block, params + c.w_off[0], params + c.b_off[0],
                          <floating*>c.z[0], m, n_in, n_out, c.strip_bw,
                          <floating*>c.delta_panels, c.threads)
            c.packed_stale = 2  # as for the column form below
        elif l == 0 and ROW_GRAD_MAX_BATCH < m <= c.scatter_max:
            columns(c, kind, m)
            scatter_forward(c.col_ptr, c.col_ids, c.n_cols, c.csc_rows,
                            <floating*>c.csc_vals, params + c.w_off[0], params + c.b_off[0],
                            <floating*>c.z[0], m, n_out, c.delta_bw,
                            <floating*>c.delta_panels, c.threads)
            # this path does not keep W^1's packed copy up to date
            c.packed_stale = 2
        elif l == 0 and c.input_mode != INPUT_DENSE:
            if c.w_packed != NULL and c.packed_stale:
                pack_rows(params + c.w_off[0], n_in, n_out, <floating*>c.w_packed,
                          c.col_ids if c.packed_stale == 1 else NULL, c.n_cols)
                c.packed_stale = 0
            sparse_forward(c.sp_cols, <floating*>c.sp_vals, c.sp_cnt, c.sp_stride,
                           params + c.w_off[0], params + c.b_off[0], <floating*>c.z[0],
                           m, n_in, n_out, c.threads, <floating*>c.w_packed)
        else:
            dense_product(c, kind, l, m, prev)
        if l == 0 and c.input_mode != INPUT_DENSE:
            # every branch above but the last (tiles, strips and the column
            # form exist for sparse input only): the kernels added the bias
            rows_pass(PASS_ACTIVATE, c.act[l], NULL, <floating*>c.z[l], fl, NULL, m, n_out,
                      c.threads)
        else:  # the bias is added in the activation's pass over z
            rows_pass(PASS_BIAS_ACTIVATE, c.act[l], params + c.b_off[l], <floating*>c.z[l], fl,
                      NULL, m, n_out, c.threads)
        if train and c.keep[l] < 1:
            # Inverted dropout: scale kept units by 1/keep, so inference
            # needs no change.
            al = <floating*>c.a[l + 1]
            mk = <floating*>c.mask[l]
            keep = <floating>c.keep[l]
            inv = 1 / keep
            n = <Py_ssize_t>m * n_out
            key = _mix(c.seed ^ _mix(<uint64_t>c.step * 64 + <uint64_t>l))
            for e in range(n):
                mk[e] = inv if (_mix(key + <uint64_t>e) >> 11) * (1.0 / 9007199254740992.0) < keep else 0
                al[e] = fl[e] * mk[e]


#: the most multiplications per non-zero at which the strips pay (the row
#: and column forms make one; MNIST's strips make 1.48, and one epoch took
#: 0.74x the column form's time at 784-256 batch 128, 0.8x at 784-100 batch
#: 64, 0.8x at 784-70 batch 128 with its last panel half empty)
cdef double STRIP_MAX_WORK = 1.75


cdef bint strips(Ctx* c, floating kind, Py_ssize_t start, int m) noexcept nogil:
    """Build the batch's strips straight from its dense rows where they pay
    (the first such batch of a fit decides); False: compact the rows instead."""
    cdef long long nnz, entries = 0
    cdef int s
    cdef int* totals
    if c.n_strips == 0 or c.strip_mode < 0 or m <= ROW_GRAD_MAX_BATCH:
        return False
    nnz = build_strips(<floating*>c.x, c.n_features, c.order + start, m, c.n_strips,
                       c.strip_block, c.strip_stride, c.strip_count, c.strip_rows,
                       <floating*>c.strip_vals, &c.strip_bad, c.threads)
    if c.strip_mode == 0:
        # Decided once, by the data: images cluster their non-zeros in
        # strips, a bag of words does not (then 4 multiplications each).
        totals = strip_totals(c, m)
        for s in range(c.n_strips):
            entries += totals[s]
        c.strip_mode = 1 if strip_width() * entries <= STRIP_MAX_WORK * nnz else -1
    c.strips_ready = c.strip_mode > 0
    return c.strips_ready


cdef inline int* strip_totals(Ctx* c, int m) noexcept nogil:
    """The strips' entries in the whole batch of m rows (its last block's counts)."""
    return c.strip_count + (m - 1) // c.strip_block * c.n_strips


cdef void columns(Ctx* c, floating kind, int m) noexcept nogil:
    """The batch's non-zeros by column (once per batch: forward and BP4 share them)."""
    if not c.csc_ready:
        c.n_cols = rows_to_columns(c.sp_cols, <floating*>c.sp_vals, c.sp_cnt, c.sp_stride, m,
                                   <int>c.n_features, c.col_count, c.col_bits, c.col_ids,
                                   c.col_ptr, c.csc_rows, <floating*>c.csc_vals, c.row_cursor)
        c.csc_ready = 1


cdef inline void dense_product(Ctx* c, floating kind, int l, int m,
                               const floating* prev) noexcept nogil:
    """z^l = a^{l-1} W^l^T, without the bias: one GEMM."""
    gemm_par(False, False, m, c.sizes[l + 1], c.sizes[l], <floating>1, prev, c.sizes[l],
             <floating*>c.params + c.w_off[l], c.sizes[l + 1], <floating>0,
             <floating*>c.z[l], c.sizes[l + 1], c.threads)


cdef double forward_cost(Ctx* c, floating kind, int m, bint train,
                         floating scale) noexcept nogil:
    """The forward pass, then BP1: the output layer's error for the cost
    scaled by ``scale`` (1/m: the batch's mean).  Returns the batch's summed
    loss.  Softmax with categorical cross-entropy takes its output layer's
    activation, loss and delta from one kernel (one exponential per entry,
    the same bits as the two passes)."""
    cdef int last = c.n_layers - 1, n_out = c.sizes[c.n_layers]
    cdef floating* wb = <floating*>c.wb if c.sample_weight != NULL else NULL
    if (c.loss == LOSS_CATEGORICAL_CROSSENTROPY and c.act[last] == ACT_SOFTMAX
            and (last > 0 or c.input_mode == INPUT_DENSE)):
        forward(c, kind, m, last, train)
        dense_product(c, kind, last, m, layer_input(c, kind, last, train))
        add_bias(<floating*>c.params + c.b_off[last], <floating*>c.z[last], m, n_out)
        return softmax_crossentropy(<floating*>c.z[last], <floating*>c.f[last],
                                    <floating*>c.yb, wb, scale, <floating*>c.delta, m, n_out,
                                    &c.correct)
    forward(c, kind, m, c.n_layers, train)
    return output_delta(c.loss, c.act[last], <floating*>c.z[last], <floating*>c.f[last],
                        <floating*>c.yb, wb, scale, <floating*>c.delta, m, n_out, &c.correct)


cdef inline floating* scaled(floating* d, floating alpha, Py_ssize_t n,
                             floating* out) noexcept nogil:
    """alpha * d (n values), formed in ``out``; d itself where alpha is 1."""
    cdef Py_ssize_t e
    if alpha == 1:
        return d
    for e in range(n):
        out[e] = alpha * d[e]
    return out


cdef void backprop(Ctx* c, floating kind, int m, bint update_now) noexcept nogil:
    """BP2-BP4 from the output layer down.

    In fused mode (plain SGD) the gradient goes straight into the parameters
    as ``W -= lr * dC/dW``; otherwise it is written to the gradient buffer.
    """
    cdef int l, n_in, n_out
    cdef floating* params = <floating*>c.params
    cdef floating* grads = <floating*>c.grads
    cdef floating* d = <floating*>c.delta
    cdef floating* dp = <floating*>c.delta_prev
    cdef floating* tmp
    cdef floating* w
    cdef floating* gw
    cdef floating* gb
    cdef floating* mk
    cdef floating* packed
    cdef floating* ad
    cdef floating alpha, beta
    cdef Py_ssize_t e
    cdef double lr_t = step_size(c) if update_now else 0
    for l in range(c.n_layers - 1, -1, -1):
        n_in = c.sizes[l]
        n_out = c.sizes[l + 1]
        w = params + c.w_off[l]
        if l > 0:
            # BP2: delta^{l-1} = (delta^l W^l) (*) f'(z^{l-1}), with the old W^l.
            if c.w_rows[l] != NULL:  # W^l as rows: a product OpenBLAS need not pack
                gemm_par(False, False, m, n_in, n_out, <floating>1, d, n_out,
                         <floating*>c.w_rows[l], n_in, <floating>0, dp, n_in, c.threads)
            else:
                gemm_par(False, True, m, n_in, n_out, <floating>1, d, n_out, w, n_out,
                         <floating>0, dp, n_in, c.threads)
            if c.keep[l - 1] < 1:
                mk = <floating*>c.mask[l - 1]
                for e in range(<Py_ssize_t>m * n_in):
                    dp[e] = dp[e] * mk[e]
            rows_pass(PASS_HADAMARD, c.act[l - 1], NULL, <floating*>c.z[l - 1],
                      <floating*>c.f[l - 1], dp, m, n_in, c.threads)
        if c.fused:
            if c.l2 > 0:
                scale_inplace(w, <Py_ssize_t>n_in * n_out, <floating>(1 - c.lr * c.l2))
                if l == 0:
                    c.packed_stale = 2
            alpha = <floating>(-c.lr)
            beta = 1
            gw = w
            gb = params + c.b_off[l]
        else:
            alpha = 1
            beta = 1 if c.accumulate else 0
            gw = grads + c.w_off[l]
            gb = grads + c.b_off[l]
            if not c.accumulate:
                memset(gb, 0, n_out * sizeof(floating))
        # BP3: dC/db = delta;  BP4: dC/dW^T = a^{l-1}^T delta^l.
        bias_grad(d, m, n_out, alpha, gb, c.threads)
        if l == 0 and c.strips_ready:
            # gw = (alpha delta)^T x, or gw += that (fused step or accumulation)
            pack_delta(d, m, n_out, c.strip_bw, <floating*>c.delta_panels, alpha, c.threads)
            strip_weight_grad(strip_totals(c, m), c.strip_stride, c.strip_rows,
                              <floating*>c.strip_vals, c.n_strips, <floating*>c.delta_panels, m,
                              n_in, n_out, c.strip_bw, gw,
                              c.fused or c.accumulate, c.threads)
            c.packed_stale = 2
        elif l == 0 and c.input_mode != INPUT_DENSE:
            if not c.fused and not c.accumulate:
                memset(gw, 0, <Py_ssize_t>n_in * n_out * sizeof(floating))
            if m <= ROW_GRAD_MAX_BATCH:
                # Small batch: few samples share an input.  alpha * delta is
                # formed once, and both kernels add x * (alpha delta).
                ad = scaled(d, alpha, <Py_ssize_t>m * n_out, dp)
                if c.tile:
                    tile_update(<const floating* const*>c.x_rows, m, c.act_cols, c.n_act, ad, gw,
                                n_out, <const char* const*>c.pf_rows + c.n_pf // 2,
                                c.n_pf - c.n_pf // 2, c.n_features * sizeof(floating))
                else:  # sample by sample
                    sparse_weight_grad_rows(c.sp_cols, <floating*>c.sp_vals, c.sp_cnt,
                                            c.sp_stride, m, ad, gw, n_out)
                c.packed_stale = 2
            else:
                columns(c, kind, m)
                packed = NULL
                if c.delta_panels != NULL:
                    pack_delta(d, m, n_out, c.delta_bw, <floating*>c.delta_panels, 1,
                               c.threads)
                    if (c.fused and c.w_packed != NULL and c.packed_stale == 0
                            and n_out % c.delta_bw == 0):
                        # the step writes its new rows of W^1 into the packed copy too
                        packed = <floating*>c.w_packed
                sparse_weight_grad(c.col_ptr, c.col_ids, c.n_cols, c.csc_rows,
                                   <floating*>c.csc_vals, d, alpha, gw, n_in, n_out,
                                   c.threads, <floating*>c.delta_panels, m, c.delta_bw,
                                   packed)
                if c.fused and c.packed_stale == 0 and packed == NULL:
                    c.packed_stale = 1  # W^1 changed in the rows col_ids only
        else:
            gemm_par(True, False, n_in, n_out, m, alpha, <floating*>c.a[l], n_in, d, n_out,
                     beta, gw, n_out, c.threads)
        if update_now:
            # This layer's gradient is still in cache, and W^l is no longer
            # needed (BP2 above already used it): update it now.
            update_layer(c, kind, l, lr_t)
        tmp = d
        d = dp
        dp = tmp


cdef void update_range(Ctx* c, floating kind, Py_ssize_t i0, Py_ssize_t i1,
                       double lr_t) noexcept nogil:
    """The optimizer's rule on parameters i0 .. i1-1 (elementwise: any split is exact)."""
    cdef floating* p = <floating*>c.params + i0
    cdef floating* g = <floating*>c.grads + i0
    cdef Py_ssize_t n = i1 - i0
    if c.optimizer == OPT_SGD:
        sgd_update(p, g, n, <floating>c.lr)
    elif c.optimizer == OPT_MOMENTUM or c.optimizer == OPT_NESTEROV:
        momentum_update(p, g, <floating*>c.state1 + i0, n, <floating>c.lr,
                        <floating>c.mu, c.optimizer == OPT_NESTEROV)
    elif c.optimizer == OPT_ADAM:
        adam_update(p, g, <floating*>c.state1 + i0, <floating*>c.state2 + i0, n,
                    <floating>lr_t, <floating>c.beta1, <floating>c.beta2, <floating>c.eps)
    elif c.optimizer == OPT_RMSPROP:
        rmsprop_update(p, g, <floating*>c.state1 + i0, n, <floating>c.lr,
                       <floating>c.rho, <floating>c.eps)


cdef double step_size(Ctx* c) noexcept nogil:
    """Start an optimizer step (counted in c.t): the learning rate of this step
    (Adam's bias corrections folded in, Kingma & Ba sec. 2)."""
    c.t += 1
    if c.optimizer == OPT_ADAM:
        return c.lr * sqrt(1 - pow(c.beta2, <double>c.t)) / (1 - pow(c.beta1, <double>c.t))
    return c.lr


cdef void update_layer(Ctx* c, floating kind, int l, double lr_t) noexcept nogil:
    """The optimizer on layer l's parameters (W^l then b^l: one contiguous range)."""
    cdef Py_ssize_t i0 = c.w_off[l], i1 = c.b_off[l] + c.sizes[l + 1], chunk
    cdef int t, nt = c.threads
    if l == 0:
        c.packed_stale = 2
    if c.l2 > 0:  # L2 penalty on the weights only, not the biases
        axpy(<Py_ssize_t>c.sizes[l] * c.sizes[l + 1], <floating>c.l2,
             <floating*>c.params + i0, <floating*>c.grads + i0)
    if nt > 1 and i1 - i0 >= 131072:
        chunk = ((i1 - i0 + nt - 1) // nt + 15) // 16 * 16
        for t in prange(nt, nogil=True, num_threads=nt, schedule='static'):
            update_range(c, kind, min(i1, i0 + t * chunk), min(i1, i0 + (t + 1) * chunk), lr_t)
    else:
        update_range(c, kind, i0, i1, lr_t)


cdef void update(Ctx* c, floating kind) noexcept nogil:
    """Apply the optimizer to all parameters, from the gradient buffer."""
    cdef double lr_t = step_size(c)
    cdef int l
    for l in range(c.n_layers - 1, -1, -1):
        update_layer(c, kind, l, lr_t)


cdef void train_span(Ctx* c, floating kind, Py_ssize_t b0, Py_ssize_t b1,
                     bint apply_update) noexcept nogil:
    """Run mini-batches b0 .. b1-1 of the current order: the hot loop."""
    cdef Py_ssize_t b, start
    cdef int m
    for b in range(b0, b1):
        start = b * c.batch_size
        m = <int>min(<Py_ssize_t>c.batch_size, c.n_order - start)
        if m <= 0:
            break
        gather(c, kind, start, m)
        if c.check_input and not check_batch(c, kind, start, m):
            break
        c.loss_sum += forward_cost(c, kind, m, True, <floating>(1.0 / m))
        backprop(c, kind, m, apply_update and not c.fused)
        c.seen += m
        c.step += 1
        if c.fused:
            c.t += 1  # a fused SGD step: counted here, as step_size counts the others


cdef void score_span(Ctx* c, floating kind, Py_ssize_t b0, Py_ssize_t b1) noexcept nogil:
    """Forward and loss only (evaluation)."""
    cdef Py_ssize_t b, start
    cdef int m
    for b in range(b0, b1):
        start = b * c.batch_size
        m = <int>min(<Py_ssize_t>c.batch_size, c.n_order - start)
        if m <= 0:
            break
        gather(c, kind, start, m)
        c.loss_sum += forward_cost(c, kind, m, False, <floating>(1.0 / m))
        c.seen += m


cdef void forward_span(Ctx* c, floating kind, int n_layers, floating* out) noexcept nogil:
    """Forward every row of the order through n_layers layers into ``out``."""
    cdef Py_ssize_t start = 0, width = c.sizes[n_layers]
    cdef int m
    while start < c.n_order:
        m = <int>min(<Py_ssize_t>c.batch_size, c.n_order - start)
        gather(c, kind, start, m)
        forward(c, kind, m, n_layers, False)
        memcpy(out + start * width, c.f[n_layers - 1], <Py_ssize_t>m * width * sizeof(floating))
        start += m


cdef void copy_rows(Ctx* c, floating kind, floating* buffer) noexcept nogil:
    """W^l for l >= 1 into ``buffer`` as (n_out, n_in) rows, one after the
    other; c.w_rows points at them.  BP2 then multiplies without a transposed
    operand, which OpenBLAS would pack for its few columns on every batch."""
    cdef int l, j, k, n_in, n_out
    cdef floating* w
    for l in range(1, c.n_layers):
        n_in = c.sizes[l]
        n_out = c.sizes[l + 1]
        w = <floating*>c.params + c.w_off[l]
        for k in range(n_out):
            for j in range(n_in):
                buffer[<Py_ssize_t>k * n_in + j] = w[<Py_ssize_t>j * n_out + k]
        c.w_rows[l] = buffer
        buffer += <Py_ssize_t>n_in * n_out


cdef double gradient_span(Ctx* c, floating kind, floating* total, floating* rows,
                          double l2) noexcept nogil:
    """The mean cost of the whole order (+ the L2 term) and its gradient.

    Full batch, computed in batches of the engine's capacity: each batch's
    BP1 is scaled by 1/n_order, so the batches' gradients sum to the gradient
    of sum_i w_i C_i / n_order.  The first batch writes ``total``, later ones
    add to it (their products accumulate, beta = 1).  Softmax with
    categorical cross-entropy takes its output layer's activation, loss and
    delta from one kernel (:func:`forward_cost`).  L2 adds ``l2 * W``
    to the weight gradients and ``l2/2 * |W|^2`` to the returned cost.
    """
    cdef Py_ssize_t start = 0, nw
    cdef int m, l
    cdef double penalty = 0
    cdef floating scale = <floating>(1.0 / c.n_order)
    cdef floating* params = <floating*>c.params
    cdef floating* w
    cdef void* saved = c.grads  # the optimizer's buffer, restored below
    c.fused = 0
    c.grads = total
    if rows != NULL:
        copy_rows(c, kind, rows)
    while start < c.n_order:
        m = <int>min(<Py_ssize_t>c.batch_size, c.n_order - start)
        gather(c, kind, start, m)
        c.loss_sum += forward_cost(c, kind, m, True, scale)
        c.accumulate = start > 0
        backprop(c, kind, m, False)
        c.seen += m
        start += m
    c.accumulate = 0
    c.grads = saved
    for l in range(c.n_layers):
        c.w_rows[l] = NULL  # the copies go stale once the parameters change
    if l2 > 0:  # weights only, not the biases
        for l in range(c.n_layers):
            w = params + c.w_off[l]
            nw = <Py_ssize_t>c.sizes[l] * c.sizes[l + 1]
            penalty += sum_squares(w, nw)
            axpy(nw, <floating>l2, w, total + c.w_off[l])
    return c.loss_sum / c.n_order + 0.5 * l2 * penalty


# ---------------------------------------------------------------------------
# The Python face of the engine.
# ---------------------------------------------------------------------------
cdef inline void* _ptr(object arr):
    if arr is None:
        return NULL
    return <void*><size_t>arr.ctypes.data


def _check_written(arr, str name, Py_ssize_t n, dtype):
    """Refuse an array the engine would write into unless it is exactly what
    the kernels assume: they run without bounds checks."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(arr).__name__}")
    if arr.dtype != dtype:
        raise ValueError(f"{name} must have dtype {np.dtype(dtype).name}, got {arr.dtype}")
    if arr.size != n:
        raise ValueError(f"{name} must hold {n} values, got {arr.size}")
    if not arr.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if not arr.flags.aligned:
        raise ValueError(f"{name} must be aligned")
    if not arr.flags.writeable:
        raise ValueError(f"{name} is read-only (e.g. memory-mapped); the engine writes "
                         "into it: pass an owned copy")


cdef class Engine:
    """Workspace and state of one training run (or one evaluation).

    Created by :class:`nnc.Network` once per ``fit``/``predict`` call; all
    arrays it points into are validated and owned by the caller, and kept
    alive here for the engine's lifetime.
    """
    cdef Ctx c
    cdef bint is_double
    cdef list _alive
    cdef object _params
    cdef int _data_mode
    cdef Py_ssize_t _n_rows
    # the arrays the engine points into, kept alive while it does
    cdef object _data
    cdef object _order
    cdef object _optimizer_buffers
    cdef object _grads_seen     # the last grads buffer of loss_and_gradient, and its data
    cdef object _rows           # loss_and_gradient's copy of W^l (l >= 1) as rows
    cdef void* _rows_ptr
    cdef void* _grads_ptr
    cdef public object dtype

    def __init__(self, params, sizes, activations, int loss, w_off, b_off, int cap,
                 input_mode=INPUT_DENSE, dropout=None, int threads=1):
        cdef int l, L = len(sizes) - 1, width
        if L < 1 or L > MAX_LAYERS:
            raise ValueError(f"a network needs 1 to {MAX_LAYERS} layers, got {L}")
        if cap < 1:
            raise ValueError("cap must be >= 1")
        if not isinstance(params, np.ndarray) or params.dtype not in (np.float32, np.float64):
            raise TypeError("params must be a float32 or float64 NumPy array")
        if params.ndim != 1 or not params.flags.c_contiguous or not params.flags.aligned:
            raise ValueError("params must be an aligned, C-contiguous 1-D array")
        if len(w_off) < L or len(b_off) < L or b_off[L - 1] + sizes[L] > params.shape[0]:
            raise ValueError("params is smaller than the layout of the layers")
        self.dtype = params.dtype
        self.is_double = params.dtype == np.float64
        self._params = params
        self._data_mode = -1
        self._alive = [params]
        memset(&self.c, 0, sizeof(Ctx))
        self.c.n_layers = L
        self.c.loss = loss
        self.c.params = _ptr(params)
        self.c.n_params = params.shape[0]
        self.c.cap = cap
        self.c.threads = max(1, threads)
        self.c.input_mode = input_mode
        self.c.bad_row = -1
        for l in range(L + 1):
            self.c.sizes[l] = sizes[l]
        for l in range(L):
            self.c.act[l] = activations[l]
            self.c.w_off[l] = w_off[l]
            self.c.b_off[l] = b_off[l]
            self.c.keep[l] = 1.0 - (dropout[l] if dropout is not None else 0.0)
        width = max(sizes[1:])  # deltas exist for the layers of weights only
        if input_mode == INPUT_DENSE:
            self.c.x_batch = self._buffer(cap * sizes[0])
            self.c.a[0] = self.c.x_batch
        elif input_mode == INPUT_COMPACT:
            self._sparse_workspace(sizes[0])
            self.c.tile_max = min(cap, tile_rows(<int>sizes[1], <double>0) if self.is_double
                                  else tile_rows(<int>sizes[1], <float>0))
            if self.c.tile_max:
                self.c.x_rows = <void**>_ptr(self._alloc(self.c.tile_max, np.uintp))
                self.c.pf_rows = <void**>_ptr(self._alloc(self.c.tile_max, np.uintp))
                self.c.act_cols = <int*>_ptr(self._alloc(sizes[0], np.int32))
        # (CSR: set_data allocates it, once the longest row is known)
        for l in range(L):
            self.c.z[l] = self._buffer(cap * sizes[l + 1])
            # relu is computed in place: f(z) > 0 exactly where z > 0, so its
            # derivative needs no copy of z (one stream of memory less)
            self.c.f[l] = (self.c.z[l] if activations[l] == ACT_RELU
                           else self._buffer(cap * sizes[l + 1]))
            if self.c.keep[l] < 1:
                self.c.a[l + 1] = self._buffer(cap * sizes[l + 1])
                self.c.mask[l] = self._buffer(cap * sizes[l + 1])
            else:
                self.c.a[l + 1] = self.c.f[l]
        self.c.delta = self._buffer(cap * width)
        self.c.delta_prev = self._buffer(cap * width)
        self.c.yb = self._buffer(cap * sizes[L])
        self.c.wb = self._buffer(cap)

    cdef _sparse_workspace(self, Py_ssize_t stride):
        """Buffers of the sparse first layer: ``stride`` non-zeros per row at most.

        Sized by the non-zeros a batch can hold, not by the number of
        features times the batch (10^5 features would make that 50 MB).
        """
        cdef Py_ssize_t cap = self.c.cap, nf = self.c.sizes[0]
        cdef Py_ssize_t entries = cap * max(stride, 1)
        cdef int n_strips = (<int>nf + strip_width() - 1) // strip_width()
        cdef Py_ssize_t strip_entries = n_strips * (cap | 1)
        cdef int strip_bw
        if max(entries, strip_entries) > 2147483647:
            raise ValueError(f"a batch of {cap} rows with up to {stride} non-zeros each "
                             "is too large (more than 2**31 - 1 non-zeros); use a "
                             "smaller batch_size")
        self.c.sp_stride = <int>max(stride, 1)
        self.c.sp_cols = <int*>_ptr(self._alloc(entries, np.int32))
        self.c.sp_vals = self._buffer(entries)
        self.c.sp_cnt = <int*>_ptr(self._alloc(cap, np.int32))
        self.c.col_ids = <int*>_ptr(self._alloc(min(nf, entries), np.int32))
        self.c.col_ptr = <int*>_ptr(self._alloc(min(nf, entries) + 1, np.int32))
        # (in compact mode also the strips': n_strips * (cap | 1) entries of
        # strip_width() values, at most 4 * cap + 4 values more)
        if self.c.input_mode != INPUT_COMPACT:
            strip_entries = 0
        self.c.csc_rows = <int*>_ptr(self._alloc(max(entries, strip_entries), np.int32))
        self.c.csc_vals = self._buffer(max(entries, strip_entries * strip_width()))
        self.c.col_count = <int*>_ptr(self._alloc(nf, np.int32))
        self.c.row_cursor = <int*>_ptr(self._alloc(cap, np.int32))
        lanes = (panel_lanes(<int>nf, self.c.sizes[1], <int>cap, <double>0) if self.is_double
                 else panel_lanes(<int>nf, self.c.sizes[1], <int>cap, <float>0))
        if lanes and self.c.w_packed == NULL:
            self.c.w_packed = self._buffer(nf * ((self.c.sizes[1] + lanes - 1) // lanes * lanes))
        width = (delta_panel_width(<int>nf, self.c.sizes[1], <int>cap, <double>0)
                 if self.is_double
                 else delta_panel_width(<int>nf, self.c.sizes[1], <int>cap, <float>0))
        if width and cap > ROW_GRAD_MAX_BATCH and self.c.delta_panels == NULL:
            self.c.delta_bw = width
            # (in compact mode also the strips' panels, strip_bw wide)
            strip_bw = (0 if self.c.input_mode != INPUT_COMPACT
                        else strip_panel_width(<double>0) if self.is_double
                        else strip_panel_width(<float>0))
            self.c.delta_panels = self._buffer(cap * max(
                (self.c.sizes[1] + width - 1) // width * width,
                (self.c.sizes[1] + strip_bw - 1) // strip_bw * strip_bw if strip_bw else 0))
            if self.c.w_packed != NULL:
                # where the packed forward would pay, the column form pays
                # more (wide 784-256, batch 128: 0.97x the epoch); the deep
                # 784-512 layer gains nothing from either
                self.c.scatter_max = (scatter_rows(<int>width, <double>0) if self.is_double
                                      else scatter_rows(<int>width, <float>0))
            if self.c.input_mode == INPUT_COMPACT:
                # strips in the column form's buffers (the first batch picks
                # one of the two)
                self.c.n_strips = n_strips
                self.c.strip_mode = _strip_mode
                self.c.strip_bw = strip_bw
                self.c.strip_block = (scatter_rows(strip_bw, <double>0) if self.is_double
                                      else scatter_rows(strip_bw, <float>0))
                self.c.strip_count = <int*>_ptr(self._alloc(
                    n_strips * ((cap + self.c.strip_block - 1) // self.c.strip_block), np.int32))
                self.c.strip_stride = <int>(cap | 1)
                self.c.strip_rows = self.c.csc_rows
                self.c.strip_vals = self.c.csc_vals
        self.c.col_bits = <unsigned long long*>_ptr(self._alloc((nf + 63) // 64, np.uint64))

    cdef object _alloc(self, Py_ssize_t n, dtype):
        # on a cache line, like the parameters: the packed panels' rows and
        # delta's panels are read a 64-byte vector at a time
        arr = _buffers.zeros(max(n, 1), dtype)
        self._alive.append(arr)
        return arr

    cdef void* _buffer(self, Py_ssize_t n):
        return _ptr(self._alloc(n, self.dtype))

    def set_data(self, x=None, csr=None, labels=None, targets=None, sample_weight=None):
        """Point the engine at (validated, C-contiguous) data arrays."""
        if (x is None) == (csr is None):
            raise ValueError("set_data needs exactly one of x and csr")
        self._data_mode = INPUT_CSR if csr is not None else INPUT_DENSE
        self._n_rows = csr[2].shape[0] - 1 if csr is not None else x.shape[0]
        self._data = (x, csr, labels, targets, sample_weight)
        self.c.x = _ptr(x)
        if csr is not None:
            data, indices, indptr, n_features = csr
            self.c.csr_data = _ptr(data)
            self.c.csr_indices = <int*>_ptr(indices)
            self.c.csr_indptr = <long long*>_ptr(indptr)
            self.c.n_features = n_features
            # the batch buffers hold up to the longest row's non-zeros per row
            longest = int(np.max(indptr[1:] - indptr[:-1])) if indptr.shape[0] > 1 else 0
            if self.c.sp_cols == NULL or longest > self.c.sp_stride:
                self._sparse_workspace(longest)
        else:
            self.c.n_features = x.shape[1]
        self.c.labels = <long long*>_ptr(labels)
        self.c.targets = _ptr(targets)
        self.c.sample_weight = _ptr(sample_weight)

    def set_optimizer(self, int code, grads, states=(), *, double lr, double l2=0.0,
                      double momentum=0.0, double beta1=0.9, double beta2=0.999,
                      double epsilon=1e-8, double rho=0.9, long long t=0):
        """Set the update rule (an OPT_* code), its buffers and hyper-parameters.

        ``grads`` and each of ``states`` (as many as the rule keeps) must be
        writeable, aligned, C-contiguous arrays of the parameters' dtype and
        size: the engine writes into them.  ``grads=None`` is allowed for
        plain SGD, which adds each step straight into the parameters.
        """
        cdef int needed = (0 if code == OPT_SGD else 2 if code == OPT_ADAM else 1)
        if code < OPT_SGD or code > OPT_RMSPROP:
            raise ValueError(f"unknown optimizer code {code}")
        states = list(states)
        if len(states) != needed:
            raise ValueError(f"this optimizer needs {needed} state buffers, got {len(states)}")
        _check_written(self._params, "params", self.c.n_params, self.dtype)
        if grads is not None:
            _check_written(grads, "grads", self.c.n_params, self.dtype)
        for i, s in enumerate(states):
            _check_written(s, f"optimizer state {i}", self.c.n_params, self.dtype)
        if t < 0:
            raise ValueError(f"t must be >= 0, got {t}")
        self._optimizer_buffers = (grads, states)
        self.c.optimizer = code
        self.c.grads = _ptr(grads)
        self.c.state1 = _ptr(states[0]) if needed > 0 else NULL
        self.c.state2 = _ptr(states[1]) if needed > 1 else NULL
        self.c.lr = lr
        self.c.mu = momentum
        self.c.beta1 = beta1
        self.c.beta2 = beta2
        self.c.eps = epsilon
        self.c.rho = rho
        self.c.l2 = l2
        self.c.t = t

    property dropout_seed:
        """Seed of the dropout masks (a counter-based stream: step, layer, unit)."""
        def __get__(self):
            return self.c.seed

        def __set__(self, value):
            self.c.seed = <uint64_t>value

    property lr:
        def __get__(self):
            return self.c.lr

        def __set__(self, double value):
            self.c.lr = value

    property t:
        """Optimizer steps taken (Adam's bias correction counts them)."""
        def __get__(self):
            return self.c.t

        def __set__(self, long long value):
            if value < 0:
                raise ValueError(f"t must be >= 0, got {value}")
            self.c.t = value

    def set_order(self, order, int batch_size, bint direct=False):
        """Set the sample order (int64 indices, validated) and the batch size.

        ``direct=True`` promises that ``order`` is 0, 1, 2, ... (inference):
        dense rows are then read in place instead of being copied.
        """
        if batch_size < 1 or batch_size > self.c.cap:
            raise ValueError(f"batch_size must be in [1, {self.c.cap}]")
        if self._data_mode < 0:
            raise ValueError("set_data comes before set_order")
        if not isinstance(order, np.ndarray) or order.dtype != np.int64 or order.ndim != 1 \
                or not order.flags.c_contiguous or not order.flags.aligned:
            raise ValueError("order must be an aligned, C-contiguous 1-D int64 array")
        # min/max: one pass, no temporary; the gather indexes the data with these
        if order.shape[0] and (order.min() < 0 or order.max() >= self._n_rows):
            raise ValueError(f"order holds row indices outside [0, {self._n_rows})")
        if direct and self.c.input_mode == INPUT_DENSE:
            self.c.direct = 1
        else:
            self.c.direct = 0
        self._order = order
        self.c.order = <long long*>_ptr(order)
        self.c.n_order = order.shape[0]
        self.c.batch_size = batch_size

    property check_input:
        """Whether gathered inputs are checked for NaN and infinity."""
        def __get__(self):
            return bool(self.c.check_input)

        def __set__(self, bint value):
            self.c.check_input = value

    property bad_row:
        """Index of the first input row found non-finite, or -1."""
        def __get__(self):
            return self.c.bad_row

    property strips:
        """Whether batches of more than 16 dense rows go through strips of
        adjacent inputs: 1 yes, -1 no, 0 not decided yet (the first such
        batch decides; see build_strips in _simd.h)."""
        def __get__(self):
            return self.c.strip_mode if self.c.n_strips else -1

    property tile_rows:
        """Batches of up to this many dense rows go through the register
        tiles, not compacted (0: never; see tile_forward in _simd.h)."""
        def __get__(self):
            return self.c.tile_max

    def _check_ready(self):
        if self.c.order == NULL or self._data_mode < 0:
            raise ValueError("the engine needs set_data and set_order before it runs")
        if (self._data_mode == INPUT_CSR) != (self.c.input_mode == INPUT_CSR):
            raise ValueError("the data given to set_data does not match the engine's "
                             "input mode (CSR or dense)")

    def reset_stats(self):
        self.c.loss_sum = 0
        self.c.correct = 0
        self.c.seen = 0

    def stats(self):
        """(sum of weighted sample losses, number correct, samples seen)."""
        return self.c.loss_sum, self.c.correct, self.c.seen

    def train(self, Py_ssize_t b0, Py_ssize_t b1, bint apply_update=True, bint fused=False):
        """Train on mini-batches b0 .. b1-1 without the GIL.

        With ``apply_update=False`` the gradient of the last batch is left in
        the gradient buffer (for an allreduce), and :meth:`apply` applies it.
        """
        cdef int mode
        self._check_ready()
        self.c.fused = fused and apply_update and self.c.optimizer == OPT_SGD
        if not self.c.fused and self.c.grads == NULL:
            raise ValueError("this step needs a gradient buffer: set_optimizer(..., grads)")
        if not self.c.fused and apply_update and self.c.optimizer != OPT_SGD and \
                self.c.state1 == NULL:
            raise ValueError("this optimizer needs its state buffers: set_optimizer(...)")
        self.c.packed_stale = 2  # the parameters may have changed since the last call
        with nogil:
            mode = fp_begin(self.c.threads)
            if self.is_double:
                train_span(&self.c, <double>0, b0, b1, apply_update)
            else:
                train_span(&self.c, <float>0, b0, b1, apply_update)
            fp_end(self.c.threads, mode)

    def apply(self):
        """Apply the optimizer step from the gradient buffer."""
        cdef int mode
        if self.c.grads == NULL or (self.c.optimizer != OPT_SGD and self.c.state1 == NULL):
            raise ValueError("apply needs the gradient and state buffers: set_optimizer(...)")
        self.c.packed_stale = 2  # the parameters may have changed since the last call
        with nogil:
            mode = fp_begin(self.c.threads)
            if self.is_double:
                update(&self.c, <double>0)
            else:
                update(&self.c, <float>0)
            fp_end(self.c.threads, mode)

    def score(self):
        """Loss and accuracy statistics of the whole order, nothing updated."""
        cdef Py_ssize_t nb = (self.c.n_order + self.c.batch_size - 1) // self.c.batch_size
        cdef int mode
        self._check_ready()
        self.c.packed_stale = 2  # the parameters may have changed since the last call
        with nogil:
            mode = fp_begin(self.c.threads)
            if self.is_double:
                score_span(&self.c, <double>0, 0, nb)
            else:
                score_span(&self.c, <float>0, 0, nb)
            fp_end(self.c.threads, mode)

    def loss_and_gradient(self, grads, double l2=0.0):
        """Mean cost of the whole order and its gradient, nothing updated.

        Full batch for L-BFGS: the order is run in batches of the set batch
        size without the GIL.  ``grads`` (laid out like the parameters,
        C-contiguous, of the engine's dtype) receives the gradient of
        ``sum_i w_i C_i / n + l2/2 |W|^2``; that value is returned.  The
        statistics (:meth:`stats`) are those of this pass.
        """
        cdef void* total
        cdef double loss
        cdef Py_ssize_t n_rows = 0
        cdef int mode
        _check_written(grads, "grads", self.c.n_params, self.dtype)
        self._check_ready()
        for l in range(self.c.n_layers):
            if self.c.keep[l] < 1:
                raise ValueError("loss_and_gradient needs a network without dropout")
        if l2 < 0:
            raise ValueError(f"l2 must be >= 0, got {l2}")
        if self.c.n_order > self.c.batch_size and self._rows is None:
            # several batches: BP2 reuses one copy of the weights as rows
            for l in range(1, self.c.n_layers):
                n_rows += <Py_ssize_t>self.c.sizes[l] * self.c.sizes[l + 1]
            if n_rows:
                self._rows = self._alloc(n_rows, self.dtype)
                self._rows_ptr = _ptr(self._rows)
        if grads is not self._grads_seen:  # L-BFGS hands in one buffer every time
            self._grads_seen, self._grads_ptr = grads, _ptr(grads)
        total = self._grads_ptr
        self._alive.append(grads)
        self.reset_stats()
        with nogil:
            mode = fp_begin(self.c.threads)
            if self.is_double:
                loss = gradient_span(&self.c, <double>0, <double*>total,
                                     <double*>self._rows_ptr, l2)
            else:
                loss = gradient_span(&self.c, <float>0, <float*>total,
                                     <float*>self._rows_ptr, l2)
            fp_end(self.c.threads, mode)
        self._alive.pop()
        return loss

    def forward(self, out, int n_layers):
        """Activations of layer ``n_layers`` for every row of the order."""
        cdef void* o
        cdef int mode
        if n_layers < 1 or n_layers > self.c.n_layers:
            raise ValueError("n_layers out of range")
        self._check_ready()
        _check_written(out, "out", self.c.n_order * self.c.sizes[n_layers], self.dtype)
        o = _ptr(out)
        self.c.packed_stale = 2  # the parameters may have changed since the last call
        with nogil:
            mode = fp_begin(self.c.threads)
            if self.is_double:
                forward_span(&self.c, <double>0, n_layers, <double*>o)
            else:
                forward_span(&self.c, <float>0, n_layers, <float*>o)
            fp_end(self.c.threads, mode)
