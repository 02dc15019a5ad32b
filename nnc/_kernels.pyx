# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compute kernels of nnc: products, activations, deltas and updates.

The ``cdef`` cores below work on raw row-major buffers without the GIL and
are what the training engine calls.  The ``cpdef`` wrappers at the end of the
file expose them to Python (as :mod:`nnc.kernels`) over NumPy arrays, with
their shapes checked, so that they can be documented and tested against
NumPy.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, expf, log, logf, log1p, log1pf, expm1, expm1f
from libc.math cimport tanh, tanhf, erf, erff, fabs, fabsf
from libc.string cimport memcpy
from scipy.linalg.cython_blas cimport sgemm, dgemm, sgemv, dgemv, saxpy, daxpy

cdef extern from "_simd.h" nogil:
    void nnc_sparse_forward_f(const int* cols, const float* vals, const int* counts,
                              Py_ssize_t stride, int r0, int r1, const float* wt,
                              const float* b, float* z, int n_out, int far)
    void nnc_sparse_forward_d(const int* cols, const double* vals, const int* counts,
                              Py_ssize_t stride, int r0, int r1, const double* wt,
                              const double* b, double* z, int n_out, int far)
    void nnc_sparse_grad_f(const int* col_ptr, const int* ids, const int* rows,
                           const float* vals, int k0, int k1, const float* delta, int n_out,
                           float alpha, float* g, int far)
    void nnc_sparse_grad_d(const int* col_ptr, const int* ids, const int* rows,
                           const double* vals, int k0, int k1, const double* delta, int n_out,
                           double alpha, double* g, int far)
    int nnc_rows_to_columns_f(const int* cols, const float* vals, const int* counts,
                              Py_ssize_t stride, int rows, int n_features, int* count,
                              unsigned long long* bitmap, int* ids, int* col_ptr,
                              int* csc_rows, float* csc_vals, int* cursor)
    int nnc_rows_to_columns_d(const int* cols, const double* vals, const int* counts,
                              Py_ssize_t stride, int rows, int n_features, int* count,
                              unsigned long long* bitmap, int* ids, int* col_ptr,
                              int* csc_rows, double* csc_vals, int* cursor)
    int nnc_all_finite_f(const float* x, Py_ssize_t n)
    int nnc_all_finite_d(const double* x, Py_ssize_t n)
    int nnc_delta_lanes_f()
    int nnc_delta_lanes_d()
    void nnc_pack_delta_f(const float* delta, int m, int n_out, int bw, float alpha, int q0,
                          int q1, float* dp)
    void nnc_pack_delta_d(const double* delta, int m, int n_out, int bw, double alpha, int q0,
                          int q1, double* dp)
    void nnc_panel_grads_f(const int* col_ptr, const int* ids, const int* rows,
                           const float* vals, int k0, int k1, const float* dp, int m,
                           int n_out, int bw, float alpha, float* g, float* P, int n_in)
    void nnc_panel_grads_d(const int* col_ptr, const int* ids, const int* rows,
                           const double* vals, int k0, int k1, const double* dp, int m,
                           int n_out, int bw, double alpha, double* g, double* P, int n_in)
    int nnc_panel_lanes_f()
    int nnc_panel_lanes_d()
    void nnc_pack_panels_f(const float* wt, int n_in, int n_out, float* P, const int* rows,
                           int n_rows)
    void nnc_pack_panels_d(const double* wt, int n_in, int n_out, double* P,
                           const int* rows, int n_rows)
    void nnc_sparse_packed_f(const int* cols, const float* vals, const int* counts,
                             Py_ssize_t stride, int r0, int r1, const float* P, int n_in,
                             const float* b, float* z, int n_out)
    void nnc_sparse_packed_d(const int* cols, const double* vals, const int* counts,
                             Py_ssize_t stride, int r0, int r1, const double* P, int n_in,
                             const double* b, double* z, int n_out)
    void nnc_prefetch_rows(const char* x, Py_ssize_t row_bytes, const long long* rows,
                           int n_rows)
    void nnc_sparse_row_grad_f(const int* cols, const float* vals, const int* counts,
                               Py_ssize_t stride, int rows, const float* delta, int n_out,
                               float* g)
    void nnc_sparse_row_grad_d(const int* cols, const double* vals, const int* counts,
                               Py_ssize_t stride, int rows, const double* delta, int n_out,
                               double* g)
    void nnc_sigmoid_f(const float* z, float* a, Py_ssize_t n)
    void nnc_scatter_forward_f(const int* col_ptr, const int* ids, const int* rows,
                               const float* vals, int n_cols, const float* wt, const float* b,
                               int n_out, int m, int bw, int q0, int q1, float* zp, float* z)
    void nnc_scatter_forward_d(const int* col_ptr, const int* ids, const int* rows,
                               const double* vals, int n_cols, const double* wt,
                               const double* b, int n_out, int m, int bw, int q0, int q1,
                               double* zp, double* z)
    int NNC_STRIP
    long long nnc_strips_f(const float* x, Py_ssize_t nf, const long long* order, int rows,
                           int s0, int s1, int n_strips, int block, int stride, int* count,
                           int* srows, float* svals, int* bad)
    long long nnc_strips_d(const double* x, Py_ssize_t nf, const long long* order, int rows,
                           int s0, int s1, int n_strips, int block, int stride, int* count,
                           int* srows, double* svals, int* bad)
    void nnc_strip_forward_f(const int* count, int stride, const int* srows, const float* svals,
                             int n_strips, int block, const float* wt, const float* b,
                             int n_in, int n_out, int m, int bw, int q0, int q1, float* zp,
                             float* z)
    void nnc_strip_forward_d(const int* count, int stride, const int* srows,
                             const double* svals, int n_strips, int block, const double* wt,
                             const double* b, int n_in, int n_out, int m, int bw, int q0,
                             int q1, double* zp, double* z)
    void nnc_strip_grads_f(const int* count, int stride, const int* srows, const float* svals,
                           int n_strips, const float* dp, int m, int n_in, int n_out, int bw,
                           int q0, int q1, float* g, int add)
    void nnc_strip_grads_d(const int* count, int stride, const int* srows, const double* svals,
                           int n_strips, const double* dp, int m, int n_in, int n_out, int bw,
                           int q0, int q1, double* g, int add)
    int nnc_tile_rows_f(int n_out)
    int nnc_tile_rows_d(int n_out)
    int nnc_active_f(const float* const* x, int m, int nf, int* act, unsigned* bad)
    int nnc_active_d(const double* const* x, int m, int nf, int* act, unsigned* bad)
    void nnc_tile_forward_f(const float* const* x, int m, const int* act, int n_act,
                            const float* w, int n_out, const float* b, float* z,
                            const char* const* pf, int n_pf, size_t pf_bytes)
    void nnc_tile_forward_d(const double* const* x, int m, const int* act, int n_act,
                            const double* w, int n_out, const double* b, double* z,
                            const char* const* pf, int n_pf, size_t pf_bytes)
    void nnc_tile_update_f(const float* const* x, int m, const int* act, int n_act,
                           const float* ad, int n_out, float* g, const char* const* pf,
                           int n_pf, size_t pf_bytes)
    void nnc_tile_update_d(const double* const* x, int m, const int* act, int n_act,
                           const double* ad, int n_out, double* g, const char* const* pf,
                           int n_pf, size_t pf_bytes)
    int nnc_compact_f(const float* row, int n, int* cols, float* vals)
    int nnc_compact_d(const double* row, int n, int* cols, double* vals)
    void nnc_sgd_f(float* p, const float* g, Py_ssize_t n, float lr)
    void nnc_sgd_d(double* p, const double* g, Py_ssize_t n, double lr)
    void nnc_momentum_f(float* p, const float* g, float* v, Py_ssize_t n, float lr, float mu,
                        int nesterov)
    void nnc_momentum_d(double* p, const double* g, double* v, Py_ssize_t n, double lr,
                        double mu, int nesterov)
    void nnc_adam_f(float* p, const float* g, float* m, float* v, Py_ssize_t n, float lr_t,
                    float beta1, float beta2, float eps)
    void nnc_adam_d(double* p, const double* g, double* m, double* v, Py_ssize_t n,
                    double lr_t, double beta1, double beta2, double eps)
    void nnc_rmsprop_f(float* p, const float* g, float* s, Py_ssize_t n, float lr, float rho,
                       float eps)
    void nnc_rmsprop_d(double* p, const double* g, double* s, Py_ssize_t n, double lr,
                       double rho, double eps)

cdef extern from "_dense.h" nogil:
    void nnc_exp_f(const float* x, float* y, Py_ssize_t n)
    void nnc_exp_d(const double* x, double* y, Py_ssize_t n)
    void nnc_sigmoid_d(const double* z, double* a, Py_ssize_t n)
    void nnc_bias_relu_f(const float* b, float* z, float* a, Py_ssize_t rows, Py_ssize_t cols)
    void nnc_bias_relu_d(const double* b, double* z, double* a, Py_ssize_t rows,
                         Py_ssize_t cols)
    void nnc_bias_relu_inplace_f(const float* b, float* z, Py_ssize_t rows, Py_ssize_t cols)
    void nnc_bias_relu_inplace_d(const double* b, double* z, Py_ssize_t rows,
                                 Py_ssize_t cols)
    void nnc_add_bias_f(const float* b, float* z, Py_ssize_t rows, Py_ssize_t cols)
    void nnc_add_bias_d(const double* b, double* z, Py_ssize_t rows, Py_ssize_t cols)
    void nnc_relu_mask_f(const float* z, float* delta, Py_ssize_t n)
    void nnc_relu_mask_d(const double* z, double* delta, Py_ssize_t n)
    void nnc_bias_grad_f(const float* delta, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t ld,
                         float alpha, float* gb)
    void nnc_bias_grad_d(const double* delta, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t ld,
                         double alpha, double* gb)
    double nnc_sumsq_f(const float* x, Py_ssize_t n)
    double nnc_sumsq_d(const double* x, Py_ssize_t n)


# ---------------------------------------------------------------------------
# Scalar helpers: one name for the float and double versions of libm.
# ---------------------------------------------------------------------------
cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)

cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)

cdef inline floating _log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)

cdef inline floating _abs(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)

cdef inline floating _sigmoid(floating z) noexcept nogil:
    # exp of a non-positive number only: never overflows, for any z.
    cdef floating e = _exp(-_abs(z))
    cdef floating s = 1 / (1 + e)
    return s if z >= 0 else e * s

cdef inline floating _eps(floating x) noexcept nogil:
    # Clipping for log(a) when a is not produced by the loss's own activation.
    if floating is float:
        return 1e-7
    else:
        return 1e-15

cdef double SQRT1_2 = 0.7071067811865476
cdef double INV_SQRT_2PI = 0.3989422804014327


# ---------------------------------------------------------------------------
# BLAS.  nnc stores matrices row-major; BLAS is column-major, so a row-major
# C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T.
# ---------------------------------------------------------------------------
cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
               const floating* a, int lda, const floating* b, int ldb,
               floating beta, floating* c, int ldc) noexcept nogil:
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    cdef Py_ssize_t i, j
    if m == 0 or n == 0:
        return
    if k == 0:  # an empty product: C = beta C (BLAS rejects a leading dimension of 0)
        for i in range(m):
            for j in range(n):
                c[i * ldc + j] = beta * c[i * ldc + j] if beta != 0 else 0
        return
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>b, &ldb, <float*>a, &lda,
              &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>b, &ldb, <double*>a, &lda,
              &beta, c, &ldc)


#: OpenBLAS takes products of at most 1e6 multiply-adds to its small-matrix
#: kernels, which round some sums unlike its large ones: a product split in
#: pieces keeps every piece on the same side of that line at any number of
#: threads, or the results would change with the thread count.  (Its large
#: float64 kernels can still round a block of rows unlike the whole for some
#: widths, 300 among them: float64 products split by the thread count may
#: differ in the last bits between thread counts.)
cdef double BLAS_SMALL_WORK = 1e6
#: the multiply-adds from which a product is split at all (wide's 784-256-10
#: second layer: 128 x 256 x 10 = 3.3e5, halves)
cdef double GEMM_SPLIT_WORK = 2e5


cdef int gemm_chunk(int m, int n, int k, int threads) noexcept nogil:
    """Rows of C per piece of :func:`gemm_par` (m: one piece).  Under
    2 * BLAS_SMALL_WORK multiply-adds the halves, at any thread count; above,
    a piece per thread, the smallest still past BLAS_SMALL_WORK."""
    cdef double per_row = <double>n * k
    cdef int parts, chunk
    if m < 16 or m * per_row < GEMM_SPLIT_WORK:
        return m
    if m * per_row < 2 * BLAS_SMALL_WORK:
        return ((m + 1) // 2 + 7) // 8 * 8
    for parts in range(min(threads, m // 8), 1, -1):
        chunk = ((m + parts - 1) // parts + 7) // 8 * 8
        if (m - (m - 1) // chunk * chunk) * per_row > BLAS_SMALL_WORK:  # the last piece
            return chunk
    return m


cdef void gemm_par(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                   const floating* a, int lda, const floating* b, int ldb,
                   floating beta, floating* c, int ldc, int threads) noexcept nogil:
    """gemm with the rows of C split in pieces (:func:`gemm_chunk`) across
    threads, each a one-thread BLAS call.

    nnc does its own threading (BLAS is held to one thread while it runs):
    one pool of threads for every kernel, rather than OpenMP's and BLAS's
    pools taking turns and spinning against each other on the same cores.
    """
    cdef int t, chunk = gemm_chunk(m, n, k, threads), nt = (m + chunk - 1) // chunk
    if nt == 1:
        gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        return
    for t in prange(nt, nogil=True, num_threads=min(threads, nt), schedule='static'):
        gemm(trans_a, trans_b, min(m, (t + 1) * chunk) - t * chunk, n, k, alpha,
             a + (t * chunk if trans_a else <Py_ssize_t>t * chunk * lda), lda, b, ldb,
             beta, c + <Py_ssize_t>t * chunk * ldc, ldc)


cdef void gemv(bint trans, int m, int n, floating alpha, const floating* a,
               int lda, const floating* x, floating beta, floating* y) noexcept nogil:
    # y = alpha * op(A) x + beta * y for a row-major (m, n) matrix A.
    cdef char t = b'N' if trans else b'T'
    cdef int one = 1
    cdef int i
    if m == 0 or n == 0:  # an empty product: y = beta y
        for i in range(n if trans else m):
            y[i] = beta * y[i] if beta != 0 else 0
        return
    if floating is float:
        sgemv(&t, &n, &m, &alpha, <float*>a, &lda, <float*>x, &one, &beta, y, &one)
    else:
        dgemv(&t, &n, &m, &alpha, <double*>a, &lda, <double*>x, &one, &beta, y, &one)


cdef void axpy(Py_ssize_t n, floating alpha, const floating* x, floating* y) noexcept nogil:
    cdef int ni = <int>n
    cdef int one = 1
    if floating is float:
        saxpy(&ni, &alpha, <float*>x, &one, y, &one)
    else:
        daxpy(&ni, &alpha, <double*>x, &one, y, &one)


# ---------------------------------------------------------------------------
# Layers.  A layer's weights are kept as W^T, a row-major (n_in, n_out)
# array, so that row j of W^T holds the weights leaving input j: the sparse
# kernels then touch contiguous memory only.
# ---------------------------------------------------------------------------
cdef void fill_rows(floating* out, const floating* b, Py_ssize_t rows,
                    Py_ssize_t cols) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(rows):
        memcpy(out + i * cols, b, cols * sizeof(floating))


#: weight blocks larger than this (bytes) are "far": the sparse kernels then
#: prefetch their rows and finish one row before the next (a bag of words)
cdef Py_ssize_t FAR_BYTES = 4 << 20


cdef inline int _far(int n_in, int n_out, floating kind) noexcept nogil:
    return <Py_ssize_t>n_in * n_out * sizeof(floating) > FAR_BYTES


cdef inline void _sparse_rows(const int* cols_idx, const floating* vals, const int* counts,
                              int stride, int r0, int r1, const floating* wt,
                              const floating* b, floating* z, int n_out, int far) noexcept nogil:
    if floating is float:
        nnc_sparse_forward_f(cols_idx, vals, counts, stride, r0, r1, wt, b, z, n_out, far)
    else:
        nnc_sparse_forward_d(cols_idx, vals, counts, stride, r0, r1, wt, b, z, n_out, far)


cdef int panel_lanes(int n_in, int n_out, int cap, floating kind) noexcept nogil:
    """Lanes of a panel of the packed sparse forward, or 0 where it does not pay.

    The engine repacks the rows an SGD step changed (all of them after other
    optimizers) before each batch; that pays for batches of 32 rows and more,
    for layers of two vectors of outputs up to 256 outputs, whose W fits in
    cache (a far W is read from memory either way).  Past 256 outputs the
    batch's lists of non-zeros, read once per panel, cost more than the L1
    hits save (measured: the deep 784-512 layer took 1.3x as long packed).
    """
    cdef int lanes
    if floating is float:
        lanes = nnc_panel_lanes_f()
    else:
        lanes = nnc_panel_lanes_d()
    if lanes == 0 or cap < 32 or n_out < 2 * lanes or n_out > 256 or _far(n_in, n_out, kind):
        return 0
    return lanes


cdef inline void _packed_rows(const int* cols_idx, const floating* vals, const int* counts,
                              int stride, int r0, int r1, const floating* packed, int n_in,
                              const floating* b, floating* z, int n_out) noexcept nogil:
    if floating is float:
        nnc_sparse_packed_f(cols_idx, vals, counts, stride, r0, r1, packed, n_in, b, z, n_out)
    else:
        nnc_sparse_packed_d(cols_idx, vals, counts, stride, r0, r1, packed, n_in, b, z, n_out)


cdef void pack_rows(const floating* wt, int n_in, int n_out, floating* packed,
                    const int* rows, int n_rows) noexcept nogil:
    """Copy rows of W^T (all when ``rows`` is NULL) into its packed panels."""
    if floating is float:
        nnc_pack_panels_f(wt, n_in, n_out, packed, rows, n_rows)
    else:
        nnc_pack_panels_d(wt, n_in, n_out, packed, rows, n_rows)


cdef void sparse_forward(const int* cols_idx, const floating* vals, const int* counts,
                         int stride, const floating* wt, const floating* b,
                         floating* z, int rows, int n_in, int n_out, int threads,
                         const floating* packed) noexcept nogil:
    """z = x W^T + b where row i of x is given by its non-zeros only.

    With ``packed`` (W^T in :func:`panel_lanes`-wide panels, see ``_simd.h``,
    kept up to date by the caller with :func:`pack_rows`), W^T is read from
    there.
    """
    cdef int t, chunk
    cdef int far = _far(n_in, n_out, b[0])
    if threads > 1 and rows >= 2 * threads and rows * n_out >= 4096:
        chunk = (rows + threads - 1) // threads
        for t in prange(threads, nogil=True, num_threads=threads, schedule='static'):
            if packed != NULL:
                _packed_rows(cols_idx, vals, counts, stride, t * chunk,
                             min(rows, (t + 1) * chunk), packed, n_in, b, z, n_out)
            else:
                _sparse_rows(cols_idx, vals, counts, stride, t * chunk,
                             min(rows, (t + 1) * chunk), wt, b, z, n_out, far)
    elif packed != NULL:
        _packed_rows(cols_idx, vals, counts, stride, 0, rows, packed, n_in, b, z, n_out)
    else:
        _sparse_rows(cols_idx, vals, counts, stride, 0, rows, wt, b, z, n_out, far)


cdef int rows_to_columns(const int* cols_idx, const floating* vals, const int* counts,
                         int stride, int rows, int n_features, int* count,
                         unsigned long long* bitmap, int* ids, int* col_ptr,
                         int* csc_rows, floating* csc_vals, int* cursor) noexcept nogil:
    """Transpose the batch's non-zeros from rows to columns (a counting sort).

    Only the columns the batch touches are visited: ``ids[k]`` is the k-th of
    them, in increasing order, and its entries end up in
    csc_rows/csc_vals[col_ptr[k]:col_ptr[k+1]], in increasing row order, so
    sums over them are always taken in one order.  ``count`` (n_features
    ints) and ``bitmap`` ((n_features + 63) // 64 words) are zero on entry and
    are left zero; ``cursor`` (rows ints) is scratch.  Returns the number of
    touched columns.
    """
    if floating is float:
        return nnc_rows_to_columns_f(cols_idx, vals, counts, stride, rows, n_features, count,
                                     bitmap, ids, col_ptr, csc_rows, csc_vals, cursor)
    else:
        return nnc_rows_to_columns_d(cols_idx, vals, counts, stride, rows, n_features, count,
                                     bitmap, ids, col_ptr, csc_rows, csc_vals, cursor)


#: bytes of one panel of delta that should stay in L1 (of 32-48 KB)
cdef Py_ssize_t DELTA_PANEL_BYTES = 32 << 10


cdef int delta_panel_width(int n_in, int n_out, int cap, floating kind) noexcept nogil:
    """Values per panel row of :func:`pack_delta` (2 or 4 vectors), or 0 where
    panels do not pay.

    Panels help where the rows of delta alias in L1 (see ``_simd.h``) and the
    weight block is not far (a far one is read row by row from memory).  Four
    vectors a row amortize the kernel's loads of indices best; two where a
    panel of four would not fit in L1 (batches over 128 rows).
    """
    cdef int lanes
    if floating is float:
        lanes = nnc_delta_lanes_f()
    else:
        lanes = nnc_delta_lanes_d()
    if lanes == 0 or n_out <= 4 * lanes or _far(n_in, n_out, kind):
        return 0  # no kernel, or one block only: delta's rows are contiguous then
    if <Py_ssize_t>cap * 4 * lanes * sizeof(floating) <= DELTA_PANEL_BYTES:
        return 4 * lanes
    return 2 * lanes


cdef int strip_panel_width(floating kind) noexcept nogil:
    """Values per panel row of the strips' kernels: 4 vectors (a block of
    :func:`scatter_rows` rows keeps a panel of z in L1), 0 without them."""
    if floating is float:
        return 4 * nnc_delta_lanes_f()
    else:
        return 4 * nnc_delta_lanes_d()


cdef int scatter_rows(int bw, floating kind) noexcept nogil:
    """Most rows of a batch for :func:`scatter_forward` with panels of ``bw``
    values: a panel of z stays in L1 (0 when bw is 0)."""
    if bw <= 0:
        return 0
    return <int>(DELTA_PANEL_BYTES // (<Py_ssize_t>bw * sizeof(floating)))


cdef void scatter_forward(const int* col_ptr, const int* ids, int n_cols,
                          const int* csc_rows, const floating* csc_vals,
                          const floating* wt, const floating* b, floating* z, int m,
                          int n_out, int bw, floating* zp, int threads) noexcept nogil:
    """z = x W^T + b from the batch's non-zeros by column (:func:`rows_to_columns`),
    through panels of z of width bw (``zp``: the layout of :func:`pack_delta`).

    Each panel of outputs is one thread's: the sums do not depend on the
    number of threads, and equal those of :func:`sparse_forward` to the bit.
    """
    cdef int t, nt, n_panels = (n_out + bw - 1) // bw, per
    if threads > 1 and n_panels > 1:
        nt = min(threads, n_panels)
        per = (n_panels + nt - 1) // nt
        for t in prange(nt, nogil=True, num_threads=nt, schedule='static'):
            _scatter_panels(col_ptr, ids, n_cols, csc_rows, csc_vals, wt, b, z, m, n_out, bw,
                            min(n_panels, t * per), min(n_panels, (t + 1) * per), zp)
    else:
        _scatter_panels(col_ptr, ids, n_cols, csc_rows, csc_vals, wt, b, z, m, n_out, bw,
                        0, n_panels, zp)


cdef inline void _scatter_panels(const int* col_ptr, const int* ids, int n_cols,
                                 const int* csc_rows, const floating* csc_vals,
                                 const floating* wt, const floating* b, floating* z, int m,
                                 int n_out, int bw, int q0, int q1,
                                 floating* zp) noexcept nogil:
    if floating is float:
        nnc_scatter_forward_f(col_ptr, ids, csc_rows, csc_vals, n_cols, wt, b, n_out, m, bw,
                              q0, q1, zp, z)
    else:
        nnc_scatter_forward_d(col_ptr, ids, csc_rows, csc_vals, n_cols, wt, b, n_out, m, bw,
                              q0, q1, zp, z)


cdef int strip_width() noexcept nogil:
    """Adjacent inputs per strip of :func:`build_strips` (see ``_simd.h``)."""
    return NNC_STRIP


cdef long long build_strips(const floating* x, Py_ssize_t n_features, const long long* order,
                            int rows, int n_strips, int block, int stride, int* count,
                            int* srows, floating* svals, int* bad, int threads) noexcept nogil:
    """Group the dense rows x[order[i]] (i < rows) by strips of
    :func:`strip_width` adjacent inputs: strip s's entries, in increasing
    sample order, are srows[s * stride:], with strip_width() values each in
    svals (a strip whose values are all zero gets no entry); ``stride`` >=
    rows, odd (see ``_simd.h``).  count[k * n_strips + s]: strip s's entries
    in the rows before min((k + 1) * block, rows), for each block k of
    ``block`` rows (the last block's: all of them).  Returns the number of
    non-zeros; ``bad`` gets the first row holding NaN or inf, or ``rows``.
    Threads take strips, not rows: the same entries.
    """
    cdef int t, nt = min(threads, 64, n_strips) if rows >= 64 else 1, per
    cdef long long nnz[64]
    cdef int first[64]
    cdef long long total = 0
    per = (n_strips + nt - 1) // nt
    if nt > 1:
        for t in prange(nt, nogil=True, num_threads=nt, schedule='static'):
            nnz[t] = _strips(x, n_features, order, rows, min(n_strips, t * per),
                             min(n_strips, (t + 1) * per), n_strips, block, stride, count,
                             srows, svals, &first[t])
    else:
        nnz[0] = _strips(x, n_features, order, rows, 0, n_strips, n_strips, block, stride,
                         count, srows, svals, &first[0])
    bad[0] = rows
    for t in range(nt):
        total += nnz[t]
        bad[0] = min(bad[0], first[t])
    return total


cdef inline long long _strips(const floating* x, Py_ssize_t n_features, const long long* order,
                              int rows, int s0, int s1, int n_strips, int block, int stride,
                              int* count, int* srows, floating* svals, int* bad) noexcept nogil:
    if floating is float:
        return nnc_strips_f(x, n_features, order, rows, s0, s1, n_strips, block, stride, count,
                            srows, svals, bad)
    else:
        return nnc_strips_d(x, n_features, order, rows, s0, s1, n_strips, block, stride, count,
                            srows, svals, bad)


cdef void strip_forward(const int* count, int stride, const int* srows, const floating* svals,
                        int n_strips, int block, const floating* wt, const floating* b,
                        floating* z, int m, int n_in, int n_out, int bw, floating* zp,
                        int threads) noexcept nogil:
    """z = x W^T + b from the batch's strips (:func:`build_strips`, blocks of
    ``block`` rows), through panels of z of width bw (``zp``: the layout of
    :func:`pack_delta`), a block of rows at a time.

    Each panel of outputs is one thread's; the sums equal those of
    :func:`sparse_forward` to the bit.
    """
    cdef int t, nt, n_panels = (n_out + bw - 1) // bw, per
    if threads > 1 and n_panels > 1:
        nt = min(threads, n_panels)
        per = (n_panels + nt - 1) // nt
        for t in prange(nt, nogil=True, num_threads=nt, schedule='static'):
            _strip_panels(count, stride, srows, svals, n_strips, block, wt, b, z, m, n_in,
                          n_out, bw, min(n_panels, t * per), min(n_panels, (t + 1) * per), zp)
    else:
        _strip_panels(count, stride, srows, svals, n_strips, block, wt, b, z, m, n_in, n_out,
                      bw, 0, n_panels, zp)


cdef inline void _strip_panels(const int* count, int stride, const int* srows,
                               const floating* svals, int n_strips, int block,
                               const floating* wt, const floating* b, floating* z, int m,
                               int n_in, int n_out, int bw, int q0, int q1,
                               floating* zp) noexcept nogil:
    if floating is float:
        nnc_strip_forward_f(count, stride, srows, svals, n_strips, block, wt, b, n_in, n_out, m,
                            bw, q0, q1, zp, z)
    else:
        nnc_strip_forward_d(count, stride, srows, svals, n_strips, block, wt, b, n_in, n_out, m,
                            bw, q0, q1, zp, z)


cdef void strip_weight_grad(const int* count, int stride, const int* srows, const floating* svals,
                            int n_strips, const floating* dp, int m, int n_in, int n_out,
                            int bw, floating* gwt, bint add, int threads) noexcept nogil:
    """gwt (+)= x^T d from the batch's strips (``count``: their entries, the
    last block's counts of :func:`build_strips`), d packed in panels of width
    bw (:func:`pack_delta`).  ``add``: add to gwt; otherwise overwrite it (the
    rows of inputs no sample uses become zero).

    Each panel of outputs is one thread's, and each weight's sum runs over
    the samples in increasing order: the sums of :func:`sparse_weight_grad`
    (alpha 1) to the bit, for any number of threads.
    """
    cdef int t, nt, n_panels = (n_out + bw - 1) // bw, per
    if threads > 1 and n_panels > 1:
        nt = min(threads, n_panels)
        per = (n_panels + nt - 1) // nt
        for t in prange(nt, nogil=True, num_threads=nt, schedule='static'):
            _strip_grad_panels(count, stride, srows, svals, n_strips, dp, m, n_in, n_out, bw,
                               min(n_panels, t * per), min(n_panels, (t + 1) * per), gwt, add)
    else:
        _strip_grad_panels(count, stride, srows, svals, n_strips, dp, m, n_in, n_out, bw, 0,
                           n_panels, gwt, add)


cdef inline void _strip_grad_panels(const int* count, int stride,
                                    const int* srows, const floating* svals,
                                    int n_strips, const floating* dp, int m, int n_in,
                                    int n_out, int bw, int q0, int q1, floating* gwt,
                                    bint add) noexcept nogil:
    if floating is float:
        nnc_strip_grads_f(count, stride, srows, svals, n_strips, dp, m, n_in, n_out, bw, q0, q1,
                          gwt, add)
    else:
        nnc_strip_grads_d(count, stride, srows, svals, n_strips, dp, m, n_in, n_out, bw, q0, q1,
                          gwt, add)


cdef void pack_delta(const floating* delta, int m, int n_out, int bw, floating* dp,
                     floating alpha=1, int threads=1) noexcept nogil:
    """Copy alpha * delta (m x n_out) into the panels of width bw that
    :func:`sparse_weight_grad` reads; threads take panels."""
    cdef int t, n_panels = (n_out + bw - 1) // bw
    cdef int parts = min(value_parts(m, n_out, threads), n_panels), per
    if parts <= 1:
        _pack_panels(delta, m, n_out, bw, alpha, 0, n_panels, dp)
        return
    per = (n_panels + parts - 1) // parts
    for t in prange(parts, nogil=True, num_threads=parts, schedule='static'):
        _pack_panels(delta, m, n_out, bw, alpha, t * per, min(n_panels, (t + 1) * per), dp)


cdef inline void _pack_panels(const floating* delta, int m, int n_out, int bw, floating alpha,
                              int q0, int q1, floating* dp) noexcept nogil:
    if floating is float:
        nnc_pack_delta_f(delta, m, n_out, bw, alpha, q0, q1, dp)
    else:
        nnc_pack_delta_d(delta, m, n_out, bw, alpha, q0, q1, dp)


cdef inline void _column_grads(const int* col_ptr, const int* ids, const int* rows,
                               const floating* vals, int k0, int k1, const floating* delta,
                               int n_out, floating alpha, floating* g, int far,
                               const floating* dp, int m, int bw, floating* packed,
                               int n_in) noexcept nogil:
    if dp != NULL:
        if floating is float:
            nnc_panel_grads_f(col_ptr, ids, rows, vals, k0, k1, dp, m, n_out, bw, alpha, g,
                              packed, n_in)
        else:
            nnc_panel_grads_d(col_ptr, ids, rows, vals, k0, k1, dp, m, n_out, bw, alpha, g,
                              packed, n_in)
    elif floating is float:
        nnc_sparse_grad_f(col_ptr, ids, rows, vals, k0, k1, delta, n_out, alpha, g, far)
    else:
        nnc_sparse_grad_d(col_ptr, ids, rows, vals, k0, k1, delta, n_out, alpha, g, far)


cdef void sparse_weight_grad(const int* col_ptr, const int* ids, int n_cols,
                             const int* csc_rows, const floating* csc_vals,
                             const floating* delta, floating alpha,
                             floating* gwt, int n_in, int n_out, int threads,
                             const floating* dp, int m, int bw,
                             floating* packed) noexcept nogil:
    """gwt += alpha * x^T delta, touching only the rows of gwt of non-zero inputs.

    The batch's non-zeros come by column (:func:`rows_to_columns`): row
    ids[k] of gwt (the weights leaving that input) gets the sum over the
    samples in which it is non-zero.  Each row is summed by one thread in a
    fixed order, so the result does not depend on the number of threads.
    With ``dp`` (the m rows of delta packed by :func:`pack_delta` in panels
    of width ``bw``), delta is read from there; with ``packed`` too (only
    when ``gwt`` is W^1 itself, a fused SGD step, and n_out is a multiple of
    bw), the new rows are also written to W^1's packed panels
    (:func:`pack_rows`' layout): the same sums in the same order.
    """
    cdef int t, nchunks, chunk = 32
    cdef int far = _far(n_in, n_out, alpha)
    if threads > 1 and <Py_ssize_t>col_ptr[n_cols] * n_out >= 65536:
        nchunks = (n_cols + chunk - 1) // chunk
        for t in prange(nchunks, nogil=True, num_threads=threads, schedule='dynamic'):
            _column_grads(col_ptr, ids, csc_rows, csc_vals, t * chunk,
                          min(n_cols, (t + 1) * chunk), delta, n_out, alpha, gwt, far, dp, m, bw,
                          packed, n_in)
    else:
        _column_grads(col_ptr, ids, csc_rows, csc_vals, 0, n_cols, delta, n_out, alpha, gwt,
                      far, dp, m, bw, packed, n_in)


cdef void sparse_weight_grad_rows(const int* cols_idx, const floating* vals,
                                  const int* counts, int stride, int rows,
                                  const floating* delta, floating* gwt,
                                  int n_out) noexcept nogil:
    """gwt += x^T delta, sample by sample (for small batches, one thread); the
    caller scales delta (the engine passes alpha * delta)."""
    if floating is float:
        nnc_sparse_row_grad_f(cols_idx, vals, counts, stride, rows, delta, n_out, gwt)
    else:
        nnc_sparse_row_grad_d(cols_idx, vals, counts, stride, rows, delta, n_out, gwt)


cdef inline int _compact_row(const floating* row, Py_ssize_t n, int* cols_idx,
                             floating* vals) noexcept nogil:
    if floating is float:
        return nnc_compact_f(row, <int>n, cols_idx, vals)
    else:
        return nnc_compact_d(row, <int>n, cols_idx, vals)


cdef int tile_rows(int n_out, floating kind) noexcept nogil:
    """Rows of a batch that the register tiles take for a first layer of
    ``n_out`` outputs (0 where they are not available or do not pay)."""
    if floating is float:
        return nnc_tile_rows_f(n_out)
    else:
        return nnc_tile_rows_d(n_out)


cdef int active_columns(const floating* const* x, int m, int n_features,
                        int* act, unsigned* bad) noexcept nogil:
    """The columns (in increasing order) where any of the m <= 32 rows x[i] is
    non-zero; bit i of ``bad`` is set when row i holds NaN or inf."""
    if floating is float:
        return nnc_active_f(x, m, n_features, act, bad)
    else:
        return nnc_active_d(x, m, n_features, act, bad)


cdef void tile_forward(const floating* const* x, int m, const int* act, int n_act,
                       const floating* wt, const floating* b, floating* z,
                       int n_out, const char* const* pf, int n_pf,
                       size_t pf_bytes) noexcept nogil:
    """z = x W^T + b over the active columns, for m <= tile_rows() dense rows x[i];
    meanwhile the rows pf[:n_pf] (the next batch's, pf_bytes each) are fetched."""
    if floating is float:
        nnc_tile_forward_f(x, m, act, n_act, wt, n_out, b, z, pf, n_pf, pf_bytes)
    else:
        nnc_tile_forward_d(x, m, act, n_act, wt, n_out, b, z, pf, n_pf, pf_bytes)


cdef void tile_update(const floating* const* x, int m, const int* act, int n_act,
                      const floating* ad, floating* gwt, int n_out,
                      const char* const* pf, int n_pf, size_t pf_bytes) noexcept nogil:
    """gwt += x^T ad over the active columns (ad: alpha * delta, m x n_out);
    meanwhile the rows pf[:n_pf] (pf_bytes each) are fetched."""
    if floating is float:
        nnc_tile_update_f(x, m, act, n_act, ad, n_out, gwt, pf, n_pf, pf_bytes)
    else:
        nnc_tile_update_d(x, m, act, n_act, ad, n_out, gwt, pf, n_pf, pf_bytes)


cdef void compact_rows(const floating* x, Py_ssize_t n_features, const long long* order,
                       Py_ssize_t start, int rows, int* cols_idx, floating* vals,
                       int* counts, int threads) noexcept nogil:
    """Gather rows order[start:start+rows] of a dense x as lists of non-zeros.

    Row i's non-zeros go to cols_idx/vals[i * n_features:], their number to
    counts[i].
    """
    cdef int i
    if threads > 1 and rows >= 64:
        for i in prange(rows, nogil=True, num_threads=threads, schedule='static'):
            counts[i] = _compact_row(x + order[start + i] * n_features, n_features,
                                     cols_idx + <Py_ssize_t>i * n_features,
                                     vals + <Py_ssize_t>i * n_features)
    else:
        for i in range(rows):
            counts[i] = _compact_row(x + order[start + i] * n_features, n_features,
                                     cols_idx + <Py_ssize_t>i * n_features,
                                     vals + <Py_ssize_t>i * n_features)


cdef bint all_finite(const floating* x, Py_ssize_t n) noexcept nogil:
    """True when none of x[0:n] is NaN or infinite."""
    if floating is float:
        return nnc_all_finite_f(x, n)
    else:
        return nnc_all_finite_d(x, n)


cdef void prefetch_rows(const void* x, Py_ssize_t row_bytes, const long long* rows,
                        int n_rows) noexcept nogil:
    """Hint the CPU to fetch these rows of x now (for the next mini-batch)."""
    nnc_prefetch_rows(<const char*>x, row_bytes, rows, n_rows)


cdef void bias_grad(const floating* delta, int rows, int n_out, floating alpha,
                    floating* gb, int threads=1) noexcept nogil:
    """gb += alpha * (sum of the rows of delta), the rows added in order;
    threads take columns (each sum as on one thread)."""
    cdef int t, parts = value_parts(rows, n_out, threads), per
    if parts == 1:
        _bias_grad(delta, rows, n_out, n_out, alpha, gb)
        return
    per = ((n_out + parts - 1) // parts + 15) // 16 * 16
    for t in prange(parts, nogil=True, num_threads=parts, schedule='static'):
        if t * per < n_out:
            _bias_grad(delta + t * per, rows, min(per, n_out - t * per), n_out, alpha,
                       gb + t * per)


cdef inline void _bias_grad(const floating* delta, int rows, int cols, int ld, floating alpha,
                            floating* gb) noexcept nogil:
    if floating is float:
        nnc_bias_grad_f(delta, rows, cols, ld, alpha, gb)
    else:
        nnc_bias_grad_d(delta, rows, cols, ld, alpha, gb)


cdef double sum_squares(const floating* x, Py_ssize_t n) noexcept nogil:
    """sum of x[i]^2 in double (the L2 penalty's |W|^2)."""
    if floating is float:
        return nnc_sumsq_f(x, n)
    else:
        return nnc_sumsq_d(x, n)


#: values from which an elementwise pass of the engine (an activation, the
#: Hadamard product, bias sums, delta's panels) is split across threads:
#: deep's 256 x 512 (each pass 15-30 us on one thread), not wide's 128 x 256
cdef Py_ssize_t SPLIT_VALUES = 65536


cdef inline int value_parts(Py_ssize_t rows, Py_ssize_t cols, int threads) noexcept nogil:
    """Pieces for an elementwise pass over rows x cols values (1: not split)."""
    if threads < 2 or rows < 2 or rows * cols < SPLIT_VALUES:
        return 1
    return <int>min(<Py_ssize_t>threads, rows)


cdef void rows_pass(int which, int kind, const floating* b, floating* z, floating* a,
                    floating* delta, Py_ssize_t rows, Py_ssize_t cols,
                    int threads) noexcept nogil:
    """One of the row-wise passes (:func:`activate`, :func:`bias_activate`,
    :func:`hadamard_derivative`), its rows split across threads: each value
    (each softmax row) is computed as on one thread."""
    cdef int t, parts = value_parts(rows, cols, threads)
    cdef Py_ssize_t per = (rows + parts - 1) // parts, r0
    if parts == 1:
        _rows_pass(which, kind, b, z, a, delta, rows, cols)
        return
    for t in prange(parts, nogil=True, num_threads=parts, schedule='static'):
        r0 = t * per
        if r0 < rows:
            _rows_pass(which, kind, b, z + r0 * cols, a + r0 * cols,
                       delta + r0 * cols if delta != NULL else NULL, min(per, rows - r0), cols)


cdef inline void _rows_pass(int which, int kind, const floating* b, floating* z, floating* a,
                            floating* delta, Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    if which == PASS_ACTIVATE:
        activate(kind, z, a, rows, cols)
    elif which == PASS_BIAS_ACTIVATE:
        bias_activate(kind, b, z, a, rows, cols)
    else:
        hadamard_derivative(kind, z, a, delta, rows, cols)


# ---------------------------------------------------------------------------
# Activations a = f(z), and the Hadamard product delta *= f'(z).
# ---------------------------------------------------------------------------
cdef inline void vexp(const floating* x, floating* y, Py_ssize_t n) noexcept nogil:
    """y = exp(x) elementwise, vectorised (within 2 ulp of libm); x may be y."""
    if floating is float:
        nnc_exp_f(x, y, n)
    else:
        nnc_exp_d(x, y, n)


cdef void _softmax_rows(const floating* z, floating* a, Py_ssize_t rows,
                        Py_ssize_t cols, floating* row_max,
                        floating* row_sum) noexcept nogil:
    """a = softmax(z) row by row; each row's max and sum of exp(z - max)
    are also written to row_max / row_sum where given.  All the rows'
    exponentials are taken in one vectorised pass."""
    cdef Py_ssize_t i, k
    cdef floating mx, total
    cdef const floating* zi
    cdef floating* ai
    for i in range(rows):
        zi = z + i * cols
        ai = a + i * cols
        mx = zi[0]
        for k in range(1, cols):
            if zi[k] > mx:
                mx = zi[k]
        for k in range(cols):
            ai[k] = zi[k] - mx
        if row_max != NULL:
            row_max[i] = mx
    vexp(a, a, rows * cols)
    for i in range(rows):
        ai = a + i * cols
        total = 0
        for k in range(cols):
            total = total + ai[k]
        if row_sum != NULL:
            row_sum[i] = total
        total = 1 / total
        for k in range(cols):
            ai[k] = ai[k] * total


cdef void activate(int kind, const floating* z, floating* a, Py_ssize_t rows,
                   Py_ssize_t cols) noexcept nogil:
    cdef Py_ssize_t i, n = rows * cols
    cdef floating x
    if kind == ACT_SIGMOID:
        if floating is float:
            nnc_sigmoid_f(z, a, n)
        elif a != z:
            # through the vectorised exp: libm's, called per value, took 1/5
            # of the tutorial's epoch
            nnc_sigmoid_d(z, a, n)
        else:
            for i in range(n):
                a[i] = _sigmoid(z[i])
    elif kind == ACT_RELU:
        for i in range(n):
            x = z[i]
            a[i] = x if x > 0 else 0
    elif kind == ACT_TANH:
        for i in range(n):
            if floating is float:
                a[i] = tanhf(z[i])
            else:
                a[i] = tanh(z[i])
    elif kind == ACT_LEAKY_RELU:
        for i in range(n):
            x = z[i]
            a[i] = x if x > 0 else <floating>0.01 * x
    elif kind == ACT_ELU:
        for i in range(n):
            x = z[i]
            if x > 0:
                a[i] = x
            elif floating is float:
                a[i] = expm1f(x)
            else:
                a[i] = expm1(x)
    elif kind == ACT_GELU:
        for i in range(n):
            x = z[i]
            if floating is float:
                a[i] = <floating>0.5 * x * (1 + erff(x * <float>SQRT1_2))
            else:
                a[i] = 0.5 * x * (1 + erf(x * SQRT1_2))
    elif kind == ACT_SOFTPLUS:
        for i in range(n):
            x = z[i]
            a[i] = (x if x > 0 else 0) + _log1p(_exp(-_abs(x)))
    elif kind == ACT_SWISH:
        for i in range(n):
            x = z[i]
            a[i] = x * _sigmoid(x)
    elif kind == ACT_SOFTMAX:
        _softmax_rows(z, a, rows, cols, NULL, NULL)
    elif kind == ACT_STEP:
        for i in range(n):
            a[i] = 1 if z[i] > 0 else 0
    elif kind == ACT_EXP:
        vexp(z, a, n)
    else:  # identity
        if a != z:
            memcpy(a, z, n * sizeof(floating))


cdef void add_bias(const floating* b, floating* z, Py_ssize_t rows,
                   Py_ssize_t cols) noexcept nogil:
    """z += b, each row."""
    if floating is float:
        nnc_add_bias_f(b, z, rows, cols)
    else:
        nnc_add_bias_d(b, z, rows, cols)


cdef void bias_activate(int kind, const floating* b, floating* z, floating* a,
                        Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    """z += b (each row), then a = f(z): a dense layer after its product.

    For relu both in one pass over z; a is either z itself (then z holds
    relu(z + b) afterwards) or does not overlap it.
    """
    if kind == ACT_RELU and a == z:
        if floating is float:
            nnc_bias_relu_inplace_f(b, z, rows, cols)
        else:
            nnc_bias_relu_inplace_d(b, z, rows, cols)
    elif kind == ACT_RELU:
        if floating is float:
            nnc_bias_relu_f(b, z, a, rows, cols)
        else:
            nnc_bias_relu_d(b, z, a, rows, cols)
    else:
        add_bias(b, z, rows, cols)
        activate(kind, z, a, rows, cols)


cdef void hadamard_derivative(int kind, const floating* z, const floating* a,
                              floating* delta, Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    """delta = delta (*) f'(z), where a = f(z) is given too (BP2's Hadamard).

    For softmax, whose Jacobian is not diagonal, this is the row-wise
    Jacobian-vector product a * (delta - <delta, a>).  The step function has
    no useful derivative; it is only used by the perceptron rule.
    """
    cdef Py_ssize_t i, k, n = rows * cols
    cdef floating x, s, dot
    if kind == ACT_SIGMOID:
        for i in range(n):
            delta[i] = delta[i] * a[i] * (1 - a[i])
    elif kind == ACT_RELU:
        if floating is float:
            nnc_relu_mask_f(z, delta, n)
        else:
            nnc_relu_mask_d(z, delta, n)
    elif kind == ACT_TANH:
        for i in range(n):
            delta[i] = delta[i] * (1 - a[i] * a[i])
    elif kind == ACT_LEAKY_RELU:
        for i in range(n):
            delta[i] = delta[i] if z[i] > 0 else <floating>0.01 * delta[i]
    elif kind == ACT_ELU:
        for i in range(n):
            delta[i] = delta[i] if z[i] > 0 else delta[i] * (a[i] + 1)
    elif kind == ACT_GELU:
        for i in range(n):
            x = z[i]
            if floating is float:
                s = <floating>0.5 * (1 + erff(x * <float>SQRT1_2)) \
                    + x * <float>INV_SQRT_2PI * expf(<floating>-0.5 * x * x)
            else:
                s = 0.5 * (1 + erf(x * SQRT1_2)) + x * INV_SQRT_2PI * exp(-0.5 * x * x)
            delta[i] = delta[i] * s
    elif kind == ACT_SOFTPLUS:
        for i in range(n):
            delta[i] = delta[i] * _sigmoid(z[i])
    elif kind == ACT_SWISH:
        for i in range(n):
            x = z[i]
            s = _sigmoid(x)
            delta[i] = delta[i] * (s + x * s * (1 - s))
    elif kind == ACT_SOFTMAX:
        for i in range(rows):
            dot = 0
            for k in range(cols):
                dot = dot + delta[i * cols + k] * a[i * cols + k]
            for k in range(cols):
                delta[i * cols + k] = a[i * cols + k] * (delta[i * cols + k] - dot)
    elif kind == ACT_STEP:
        pass  # perceptron rule: the error passes through unchanged
    elif kind == ACT_EXP:
        for i in range(n):
            delta[i] = delta[i] * a[i]
    # identity: f' = 1


# ---------------------------------------------------------------------------
# Cost: the loss of a mini-batch and the output error delta^L (BP1).
# ---------------------------------------------------------------------------
cdef inline floating _sum_exp(const floating* z, floating mx, Py_ssize_t n) noexcept nogil:
    """sum of exp(z[k] - mx) in order, by the exponential softmax uses (so
    the same bits as its row sums)."""
    cdef floating t[64]
    cdef floating total = 0
    cdef Py_ssize_t k, k0 = 0, nk
    while k0 < n:
        nk = min(<Py_ssize_t>64, n - k0)
        for k in range(nk):
            t[k] = z[k0 + k] - mx
        vexp(t, t, nk)
        for k in range(nk):
            total = total + t[k]
        k0 += nk
    return total


cdef inline Py_ssize_t _argmax(const floating* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t k, best = 0
    for k in range(1, n):
        if x[k] > x[best]:
            best = k
    return best


cdef double output_delta(int loss, int kind, const floating* z, const floating* a,
                         const floating* y, const floating* weight, floating scale,
                         floating* delta, Py_ssize_t rows, Py_ssize_t cols,
                         double* correct) noexcept nogil:
    """Write delta^L = dC/dz^L for each row, scaled by scale * weight[i].

    Returns the sum over rows of weight[i] * (the row's loss); adds the number
    of rows whose prediction matches the target to ``correct``.  The pairs
    sigmoid + binary cross-entropy, softmax + categorical cross-entropy and
    exp + Poisson (half the deviance, scikit-learn's) use the fused, exact
    delta = a - y (times sum(y) for softmax) and compute their loss from z,
    so that no log(0) can occur.
    """
    cdef Py_ssize_t i, k
    cdef double total = 0, row_loss, w
    cdef floating mx, lse, sy, ak, yk, zk, eps = _eps(<floating>0)
    cdef const floating* zi
    cdef const floating* ai
    cdef const floating* yi
    cdef floating* di
    for i in range(rows):
        zi = z + i * cols
        ai = a + i * cols
        yi = y + i * cols
        di = delta + i * cols
        row_loss = 0
        if loss == LOSS_QUADRATIC:
            for k in range(cols):
                di[k] = ai[k] - yi[k]
                row_loss += 0.5 * di[k] * di[k]
            hadamard_derivative(kind, zi, ai, di, 1, cols)
        elif loss == LOSS_BINARY_CROSSENTROPY and kind == ACT_SIGMOID:
            for k in range(cols):
                zk = zi[k]
                row_loss += (zk if zk > 0 else 0) - zk * yi[k] + _log1p(_exp(-_abs(zk)))
                di[k] = ai[k] - yi[k]
        elif loss == LOSS_BINARY_CROSSENTROPY:
            for k in range(cols):
                ak = min(max(ai[k], eps), 1 - eps)
                yk = yi[k]
                row_loss -= yk * _log(ak) + (1 - yk) * _log(1 - ak)
                di[k] = (ak - yk) / (ak * (1 - ak))
            hadamard_derivative(kind, zi, ai, di, 1, cols)
        elif loss == LOSS_POISSON and kind == ACT_EXP:
            # half Poisson deviance a - y + y log(y/a), with log a = z: no log(0)
            for k in range(cols):
                yk = yi[k]
                row_loss += ai[k] - yk - yk * zi[k] + (yk * _log(yk) if yk > 0 else 0)
                di[k] = ai[k] - yk
        elif loss == LOSS_POISSON:
            for k in range(cols):
                ak = max(ai[k], eps)
                yk = yi[k]
                row_loss += ak - yk + (yk * _log(yk / ak) if yk > 0 else 0)
                di[k] = 1 - yk / ak
            hadamard_derivative(kind, zi, ai, di, 1, cols)
        elif kind == ACT_SOFTMAX:  # categorical cross-entropy, fused
            mx = zi[0]
            for k in range(1, cols):
                if zi[k] > mx:
                    mx = zi[k]
            lse = _log(_sum_exp(zi, mx, cols))
            sy = 0
            for k in range(cols):
                sy = sy + yi[k]
                row_loss -= yi[k] * (zi[k] - mx - lse)
            for k in range(cols):
                di[k] = ai[k] * sy - yi[k]
        else:  # categorical cross-entropy after another activation
            for k in range(cols):
                ak = max(ai[k], eps)
                row_loss -= yi[k] * _log(ak)
                di[k] = -yi[k] / ak
            hadamard_derivative(kind, zi, ai, di, 1, cols)
        w = 1 if weight == NULL else weight[i]
        total += w * row_loss
        sy = <floating>(scale * w)
        for k in range(cols):
            di[k] = di[k] * sy
        if cols == 1:
            correct[0] += (ai[0] >= 0.5) == (yi[0] >= 0.5)
        else:
            correct[0] += _argmax(ai, cols) == _argmax(yi, cols)
    return total


cdef enum:
    XENT_CHUNK = 256  # rows per pass of softmax_crossentropy (its stack arrays)


cdef double softmax_crossentropy(const floating* z, floating* a, const floating* y,
                                 const floating* weight, floating scale, floating* delta,
                                 Py_ssize_t rows, Py_ssize_t cols,
                                 double* correct) noexcept nogil:
    """a = softmax(z), then :func:`output_delta` for categorical cross-entropy.

    The same loss, delta = (a sum(y) - y) scale weight[i] and count of
    correct rows as output_delta's fused softmax branch, with one exponential
    per entry: the loss's log-sum-exp reuses the softmax's row sums.
    """
    cdef Py_ssize_t i, k, r0 = 0, nr
    cdef double total = 0, row_loss, w
    cdef floating mx, lse, sy
    cdef floating row_max[XENT_CHUNK]
    cdef floating row_sum[XENT_CHUNK]
    cdef const floating* zi
    cdef const floating* ai
    cdef const floating* yi
    cdef floating* di
    while r0 < rows:
        nr = min(<Py_ssize_t>XENT_CHUNK, rows - r0)
        _softmax_rows(z + r0 * cols, a + r0 * cols, nr, cols, row_max, row_sum)
        for i in range(r0, r0 + nr):
            zi = z + i * cols
            ai = a + i * cols
            yi = y + i * cols
            di = delta + i * cols
            mx = row_max[i - r0]
            lse = _log(row_sum[i - r0])
            row_loss = 0
            sy = 0
            for k in range(cols):
                sy = sy + yi[k]
                row_loss -= yi[k] * (zi[k] - mx - lse)
            w = 1 if weight == NULL else weight[i]
            total += w * row_loss
            for k in range(cols):
                di[k] = (ai[k] * sy - yi[k]) * <floating>(scale * w)
            if cols == 1:
                correct[0] += (ai[0] >= 0.5) == (yi[0] >= 0.5)
            else:
                correct[0] += _argmax(ai, cols) == _argmax(yi, cols)
        r0 += nr
    return total


# ---------------------------------------------------------------------------
# In-place parameter updates over flat buffers.
# ---------------------------------------------------------------------------
cdef void scale_inplace(floating* x, Py_ssize_t n, floating s) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        x[i] = x[i] * s


cdef void sgd_update(floating* p, const floating* g, Py_ssize_t n, floating lr) noexcept nogil:
    """p -= lr * g."""
    if floating is float:
        nnc_sgd_f(p, g, n, lr)
    else:
        nnc_sgd_d(p, g, n, lr)


cdef void momentum_update(floating* p, const floating* g, floating* v, Py_ssize_t n,
                          floating lr, floating mu, bint nesterov) noexcept nogil:
    """v = mu v - lr g; p += v (or, Nesterov's form, p += mu v - lr g)."""
    if floating is float:
        nnc_momentum_f(p, g, v, n, lr, mu, nesterov)
    else:
        nnc_momentum_d(p, g, v, n, lr, mu, nesterov)


cdef void adam_update(floating* p, const floating* g, floating* m, floating* v,
                      Py_ssize_t n, floating lr_t, floating beta1, floating beta2,
                      floating eps) noexcept nogil:
    """Adam with the bias corrections folded into lr_t (Kingma & Ba, sec. 2)."""
    if floating is float:
        nnc_adam_f(p, g, m, v, n, lr_t, beta1, beta2, eps)
    else:
        nnc_adam_d(p, g, m, v, n, lr_t, beta1, beta2, eps)


cdef void rmsprop_update(floating* p, const floating* g, floating* s, Py_ssize_t n,
                         floating lr, floating rho, floating eps) noexcept nogil:
    if floating is float:
        nnc_rmsprop_f(p, g, s, n, lr, rho, eps)
    else:
        nnc_rmsprop_d(p, g, s, n, lr, rho, eps)


# ===========================================================================
# Python wrappers (public as nnc.kernels).  Weight matrices follow the math:
# W has shape (n_out, n_in).  Shapes are checked here because the cores run
# without bounds checks.
# ===========================================================================
def _check(cond, msg):
    if not cond:
        raise ValueError(msg)


cpdef void batch_forward(const floating[:, ::1] x, const floating[:, ::1] w,
                         const floating[::1] b, floating[:, ::1] out):
    """Mini-batch product ``out = x @ w.T + b`` (z = W a + b for every row).

    Parameters
    ----------
    x : ndarray of shape (m, n_in), C-contiguous
    w : ndarray of shape (n_out, n_in), C-contiguous
    b : ndarray of shape (n_out,)
    out : ndarray of shape (m, n_out), written in place
    """
    _check(w.shape[1] == x.shape[1], "w must have shape (n_out, x.shape[1])")
    _check(b.shape[0] == w.shape[0], "b must have shape (w.shape[0],)")
    _check(out.shape[0] == x.shape[0] and out.shape[1] == w.shape[0],
           "out must have shape (x.shape[0], w.shape[0])")
    if x.shape[0] == 0:
        return
    with nogil:
        fill_rows(&out[0, 0], &b[0], x.shape[0], w.shape[0])
        gemm(False, True, <int>x.shape[0], <int>w.shape[0], <int>x.shape[1],
             <floating>1, &x[0, 0], <int>x.shape[1], &w[0, 0], <int>w.shape[1],
             <floating>1, &out[0, 0], <int>w.shape[0])


cpdef void matvec(const floating[:, ::1] w, const floating[::1] x,
                  const floating[::1] b, floating[::1] out):
    """Matrix-vector product ``out = w @ x + b`` (one sample's z = W a + b)."""
    _check(w.shape[1] == x.shape[0], "x must have shape (w.shape[1],)")
    _check(b.shape[0] == w.shape[0] and out.shape[0] == w.shape[0],
           "b and out must have shape (w.shape[0],)")
    if w.shape[0] == 0:
        return
    with nogil:
        memcpy(&out[0], &b[0], w.shape[0] * sizeof(floating))
        gemv(False, <int>w.shape[0], <int>w.shape[1], <floating>1, &w[0, 0],
             <int>w.shape[1], &x[0], <floating>1, &out[0])


cpdef void backprop_delta(const floating[:, ::1] delta, const floating[:, ::1] w,
                          floating[:, ::1] out):
    """Propagate errors one layer back: ``out = delta @ w`` (W^T delta per row).

    ``delta`` has shape (m, n_out), ``w`` (n_out, n_in), ``out`` (m, n_in).
    """
    _check(delta.shape[1] == w.shape[0], "delta must have shape (m, w.shape[0])")
    _check(out.shape[0] == delta.shape[0] and out.shape[1] == w.shape[1],
           "out must have shape (delta.shape[0], w.shape[1])")
    if delta.shape[0] == 0:
        return
    with nogil:
        gemm(False, False, <int>delta.shape[0], <int>w.shape[1], <int>w.shape[0],
             <floating>1, &delta[0, 0], <int>delta.shape[1], &w[0, 0], <int>w.shape[1],
             <floating>0, &out[0, 0], <int>w.shape[1])


cpdef void weight_gradient(const floating[:, ::1] delta, const floating[:, ::1] a_prev,
                           floating[:, ::1] out, floating beta=0):
    """Accumulate the weight gradient ``out = delta.T @ a_prev + beta * out`` (BP4).

    ``delta`` has shape (m, n_out), ``a_prev`` (m, n_in), ``out`` (n_out, n_in).
    """
    _check(delta.shape[0] == a_prev.shape[0], "delta and a_prev need the same rows")
    _check(out.shape[0] == delta.shape[1] and out.shape[1] == a_prev.shape[1],
           "out must have shape (delta.shape[1], a_prev.shape[1])")
    with nogil:
        gemm(True, False, <int>delta.shape[1], <int>a_prev.shape[1], <int>delta.shape[0],
             <floating>1, &delta[0, 0], <int>delta.shape[1], &a_prev[0, 0],
             <int>a_prev.shape[1], beta, &out[0, 0], <int>a_prev.shape[1])


cpdef void activation(int kind, const floating[:, ::1] z, floating[:, ::1] out):
    """``out = f(z)`` for the activation code ``kind`` (see nnc.activations)."""
    _check(z.shape[0] == out.shape[0] and z.shape[1] == out.shape[1],
           "out must have the shape of z")
    _check(0 <= kind <= ACT_EXP, "unknown activation code")
    if z.shape[0] == 0 or z.shape[1] == 0:
        return
    with nogil:
        activate(kind, &z[0, 0], &out[0, 0], z.shape[0], z.shape[1])


cpdef void activation_derivative(int kind, const floating[:, ::1] z,
                                 const floating[:, ::1] a, floating[:, ::1] delta):
    """Hadamard product in place: ``delta *= f'(z)`` given ``a = f(z)``."""
    _check(z.shape[0] == a.shape[0] == delta.shape[0]
           and z.shape[1] == a.shape[1] == delta.shape[1],
           "z, a and delta must have the same shape")
    _check(0 <= kind <= ACT_EXP and kind != ACT_STEP, "activation has no derivative")
    if z.shape[0] == 0 or z.shape[1] == 0:
        return
    with nogil:
        hadamard_derivative(kind, &z[0, 0], &a[0, 0], &delta[0, 0], z.shape[0], z.shape[1])


cpdef double loss_and_delta(int loss, int kind, const floating[:, ::1] z,
                            const floating[:, ::1] a, const floating[:, ::1] y,
                            floating[:, ::1] delta):
    """Mean loss over the rows, and the output error ``delta = dC/dz`` (BP1).

    ``delta`` receives the gradient of the *mean* cost, i.e. each row is
    divided by the number of rows.
    """
    cdef double correct = 0, total
    cdef Py_ssize_t m = z.shape[0]
    _check(z.shape[0] == a.shape[0] == y.shape[0] == delta.shape[0]
           and z.shape[1] == a.shape[1] == y.shape[1] == delta.shape[1],
           "z, a, y and delta must have the same shape")
    _check(0 <= loss <= LOSS_POISSON, "unknown loss code")
    if m == 0 or z.shape[1] == 0:
        raise ValueError("z must not be empty")
    with nogil:
        total = output_delta(loss, kind, &z[0, 0], &a[0, 0], &y[0, 0], NULL,
                             <floating>(1.0 / m), &delta[0, 0], m, z.shape[1], &correct)
    return total / m


cpdef void sgd_step(floating[::1] param, const floating[::1] grad, double lr):
    """In-place gradient descent step ``param -= lr * grad``."""
    _check(param.shape[0] == grad.shape[0], "param and grad must have the same length")
    if param.shape[0] == 0:
        return
    with nogil:
        sgd_update(&param[0], &grad[0], param.shape[0], <floating>lr)


# ---------------------------------------------------------------------------
# Checked entry points of the engine-only kernels, for the tests (not part of
# nnc.kernels): each core is compared with NumPy through them.
# ---------------------------------------------------------------------------
cpdef void _exp_array(const floating[::1] x, floating[::1] out):
    """``out = exp(x)`` by the vectorised exponential (``out`` may be ``x``)."""
    _check(out.shape[0] == x.shape[0], "out must have the shape of x")
    if x.shape[0] == 0:
        return
    with nogil:
        vexp(&x[0], &out[0], x.shape[0])


cpdef object _active_columns(const floating[:, ::1] x, int[::1] act):
    """The register tiles' scan of the rows of ``x`` (1 to 12 of them):
    ``(n, bad)``, where ``act[:n]`` are the columns non-zero in any row, in
    increasing order, and bit i of ``bad`` is set when row i holds NaN or
    inf.  None where the tiles do not exist (no AVX-512)."""
    cdef const floating* rows[12]
    cdef unsigned bad = 0
    cdef int i, n, m = <int>x.shape[0]
    _check(1 <= m <= 12, "x must have 1 to 12 rows")
    _check(act.shape[0] >= x.shape[1], "act must hold x.shape[1] columns")
    if tile_rows(16, <floating>0) == 0:
        return None
    if x.shape[1] == 0:
        return 0, 0
    for i in range(m):
        rows[i] = &x[i, 0]
    with nogil:
        n = active_columns(<const floating* const*>rows, m, <int>x.shape[1], &act[0], &bad)
    return n, bad


cpdef object _build_strips(const floating[:, ::1] x, const long long[::1] order, int block,
                           int[::1] count, int[::1] srows, floating[::1] svals, int threads):
    """The strips' builder over the rows ``x[order]``: ``(nnz, bad)``, with
    ``count`` (blocks x strips), ``srows`` and ``svals`` filled as
    :func:`build_strips` describes (stride: len(order), made odd).  None
    where the strips do not exist (no AVX-512)."""
    cdef int rows = <int>order.shape[0], bad = 0, i
    cdef int n_strips = <int>((x.shape[1] + strip_width() - 1) // strip_width())
    cdef int stride = rows | 1, n_blocks = (rows + block - 1) // block if block > 0 else 0
    cdef long long nnz
    _check(rows >= 1 and block >= 1 and x.shape[1] >= 1, "need rows, a block and features")
    for i in range(rows):
        _check(0 <= order[i] < x.shape[0], "order must index rows of x")
    _check(count.shape[0] >= <Py_ssize_t>n_blocks * n_strips, "count is too short")
    _check(srows.shape[0] >= <Py_ssize_t>n_strips * stride, "srows is too short")
    _check(svals.shape[0] >= <Py_ssize_t>n_strips * stride * strip_width(), "svals is too short")
    _check(1 <= threads <= 64, "threads must be 1 to 64")
    if strip_panel_width(<floating>0) == 0:
        return None
    with nogil:
        nnz = build_strips(&x[0, 0], x.shape[1], &order[0], rows, n_strips, block, stride,
                           &count[0], &srows[0], &svals[0], &bad, threads)
    return nnz, bad


cpdef void _bias_activation(int kind, const floating[::1] b, floating[:, ::1] z,
                            floating[:, ::1] out):
    """``z += b`` (each row), then ``out = f(z)``; ``out`` may be ``z`` itself."""
    _check(b.shape[0] == z.shape[1], "b must have shape (z.shape[1],)")
    _check(z.shape[0] == out.shape[0] and z.shape[1] == out.shape[1],
           "out must have the shape of z")
    _check(0 <= kind <= ACT_EXP, "unknown activation code")
    if z.shape[0] == 0 or z.shape[1] == 0:
        return
    with nogil:
        bias_activate(kind, &b[0], &z[0, 0], &out[0, 0], z.shape[0], z.shape[1])


cpdef tuple _softmax_xent(const floating[:, ::1] z, floating[:, ::1] a,
                          const floating[:, ::1] y, floating[:, ::1] delta, double scale):
    """``a = softmax(z)``; returns (sum of the rows' cross-entropy, rows
    correct) and writes ``delta = (a sum(y) - y) scale``."""
    cdef double correct = 0, total
    _check(z.shape[0] == a.shape[0] == y.shape[0] == delta.shape[0]
           and z.shape[1] == a.shape[1] == y.shape[1] == delta.shape[1],
           "z, a, y and delta must have the same shape")
    _check(z.shape[0] > 0 and z.shape[1] > 0, "z must not be empty")
    with nogil:
        total = softmax_crossentropy(&z[0, 0], &a[0, 0], &y[0, 0], NULL, <floating>scale,
                                     &delta[0, 0], z.shape[0], z.shape[1], &correct)
    return total, correct


cpdef void _bias_gradient(const floating[:, ::1] delta, double alpha, floating[::1] gb):
    """``gb += alpha * delta.sum(axis=0)``, the rows added in order."""
    _check(gb.shape[0] == delta.shape[1], "gb must have shape (delta.shape[1],)")
    if delta.shape[0] == 0 or delta.shape[1] == 0:
        return
    with nogil:
        bias_grad(&delta[0, 0], <int>delta.shape[0], <int>delta.shape[1], <floating>alpha,
                  &gb[0])


cpdef double _sum_squares(const floating[::1] x):
    """``sum(x ** 2)``, accumulated in double."""
    if x.shape[0] == 0:
        return 0.0
    return sum_squares(&x[0], x.shape[0])


def _fork_join_seconds(int threads, int repeats):
    """Seconds per empty parallel region of ``threads`` threads: the fixed
    cost of each of the engine's parallel passes, and a probe of how far
    apart the host keeps the cores (two threads on a 2-vCPU KVM guest of an
    EPYC: 0.9 us in some spells and 1.9 us in others, where two threads
    trained wide 1.6x and 0.8x as fast as one).  For the benchmark's scaling
    section."""
    import time
    cdef int r, t
    cdef int slot[256]
    if not 1 <= threads <= 256:
        raise ValueError(f"threads must be in 1..256, got {threads}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    t0 = time.perf_counter()
    with nogil:
        for r in range(repeats):
            for t in prange(threads, num_threads=threads, schedule='static'):
                slot[t] = r
    return (time.perf_counter() - t0) / repeats
