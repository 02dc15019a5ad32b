# Declarations of nnc's compute kernels, shared with the training engine.
#
# Every core is a ``nogil`` C function over raw pointers, fused over float and
# double.  Matrices are row-major; ``rows`` is the mini-batch dimension.
from cython cimport floating

# Activation codes: the one table of them.  ``cpdef`` exposes it to Python as
# ``nnc._kernels.Activation``; nnc.activations derives its names from it
# (ACT_LEAKY_RELU -> "leaky_relu").
cpdef enum Activation:
    ACT_IDENTITY = 0
    ACT_SIGMOID = 1
    ACT_TANH = 2
    ACT_RELU = 3
    ACT_LEAKY_RELU = 4
    ACT_ELU = 5
    ACT_GELU = 6
    ACT_SOFTPLUS = 7
    ACT_SWISH = 8
    ACT_SOFTMAX = 9
    ACT_STEP = 10
    ACT_EXP = 11

# Loss codes, exposed as ``nnc._kernels.Loss``; nnc.losses derives its names
# from them.  Sparse categorical labels are turned into one-hot rows when a
# batch is gathered, so that loss shares LOSS_CATEGORICAL_CROSSENTROPY.
cpdef enum Loss:
    LOSS_QUADRATIC = 0
    LOSS_BINARY_CROSSENTROPY = 1
    LOSS_CATEGORICAL_CROSSENTROPY = 2
    LOSS_POISSON = 3

# --- products through BLAS (row-major views of column-major BLAS) ----------
cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
               const floating* a, int lda, const floating* b, int ldb,
               floating beta, floating* c, int ldc) noexcept nogil
cdef void gemm_par(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                   const floating* a, int lda, const floating* b, int ldb,
                   floating beta, floating* c, int ldc, int threads) noexcept nogil
cdef void gemv(bint trans, int m, int n, floating alpha, const floating* a,
               int lda, const floating* x, floating beta, floating* y) noexcept nogil
cdef void axpy(Py_ssize_t n, floating alpha, const floating* x, floating* y) noexcept nogil

# --- layers -----------------------------------------------------------------
cdef void fill_rows(floating* out, const floating* b, Py_ssize_t rows,
                    Py_ssize_t cols) noexcept nogil
cdef void sparse_forward(const int* cols_idx, const floating* vals, const int* counts,
                         int stride, const floating* wt, const floating* b,
                         floating* z, int rows, int n_in, int n_out, int threads,
                         const floating* packed) noexcept nogil
cdef int panel_lanes(int n_in, int n_out, int cap, floating kind) noexcept nogil
cdef void pack_rows(const floating* wt, int n_in, int n_out, floating* packed,
                    const int* rows, int n_rows) noexcept nogil
cdef int rows_to_columns(const int* cols_idx, const floating* vals, const int* counts,
                         int stride, int rows, int n_features, int* count,
                         unsigned long long* bitmap, int* ids, int* col_ptr,
                         int* csc_rows, floating* csc_vals, int* cursor) noexcept nogil
cdef void sparse_weight_grad(const int* col_ptr, const int* ids, int n_cols,
                             const int* csc_rows, const floating* csc_vals,
                             const floating* delta, floating alpha,
                             floating* gwt, int n_in, int n_out, int threads,
                             const floating* dp, int m, int bw,
                             floating* packed) noexcept nogil
cdef int delta_panel_width(int n_in, int n_out, int cap, floating kind) noexcept nogil
cdef int strip_panel_width(floating kind) noexcept nogil
cdef int scatter_rows(int bw, floating kind) noexcept nogil
cdef void scatter_forward(const int* col_ptr, const int* ids, int n_cols,
                          const int* csc_rows, const floating* csc_vals,
                          const floating* wt, const floating* b, floating* z, int m,
                          int n_out, int bw, floating* zp, int threads) noexcept nogil
cdef int strip_width() noexcept nogil
cdef long long build_strips(const floating* x, Py_ssize_t n_features, const long long* order,
                            int rows, int n_strips, int block, int stride, int* count,
                            int* srows, floating* svals, int* bad, int threads) noexcept nogil
cdef void strip_forward(const int* count, int stride, const int* srows, const floating* svals,
                        int n_strips, int block, const floating* wt, const floating* b,
                        floating* z, int m, int n_in, int n_out, int bw, floating* zp,
                        int threads) noexcept nogil
cdef void strip_weight_grad(const int* count, int stride, const int* srows, const floating* svals,
                            int n_strips, const floating* dp, int m, int n_in, int n_out,
                            int bw, floating* gwt, bint add, int threads) noexcept nogil
cdef void pack_delta(const floating* delta, int m, int n_out, int bw, floating* dp,
                     floating alpha=*, int threads=*) noexcept nogil
cdef void sparse_weight_grad_rows(const int* cols_idx, const floating* vals,
                                  const int* counts, int stride, int rows,
                                  const floating* delta, floating* gwt,
                                  int n_out) noexcept nogil
cdef int tile_rows(int n_out, floating kind) noexcept nogil
cdef int active_columns(const floating* const* x, int m, int n_features,
                        int* act, unsigned* bad) noexcept nogil
cdef void tile_forward(const floating* const* x, int m, const int* act, int n_act,
                       const floating* wt, const floating* b, floating* z,
                       int n_out, const char* const* pf, int n_pf,
                       size_t pf_bytes) noexcept nogil
cdef void tile_update(const floating* const* x, int m, const int* act, int n_act,
                      const floating* ad, floating* gwt, int n_out,
                      const char* const* pf, int n_pf, size_t pf_bytes) noexcept nogil
cdef void compact_rows(const floating* x, Py_ssize_t n_features, const long long* order,
                       Py_ssize_t start, int rows, int* cols_idx, floating* vals,
                       int* counts, int threads) noexcept nogil
cdef void prefetch_rows(const void* x, Py_ssize_t row_bytes, const long long* rows,
                        int n_rows) noexcept nogil
cdef void bias_grad(const floating* delta, int rows, int n_out, floating alpha,
                    floating* gb, int threads=*) noexcept nogil
cdef double sum_squares(const floating* x, Py_ssize_t n) noexcept nogil

# --- activations ------------------------------------------------------------
cdef enum:
    PASS_ACTIVATE
    PASS_BIAS_ACTIVATE
    PASS_HADAMARD
cdef void rows_pass(int which, int kind, const floating* b, floating* z, floating* a,
                    floating* delta, Py_ssize_t rows, Py_ssize_t cols,
                    int threads) noexcept nogil
cdef void activate(int kind, const floating* z, floating* a, Py_ssize_t rows,
                   Py_ssize_t cols) noexcept nogil
cdef void hadamard_derivative(int kind, const floating* z, const floating* a,
                              floating* delta, Py_ssize_t rows, Py_ssize_t cols) noexcept nogil
cdef void add_bias(const floating* b, floating* z, Py_ssize_t rows,
                   Py_ssize_t cols) noexcept nogil
cdef void bias_activate(int kind, const floating* b, floating* z, floating* a,
                        Py_ssize_t rows, Py_ssize_t cols) noexcept nogil

# --- cost -------------------------------------------------------------------
cdef double output_delta(int loss, int kind, const floating* z, const floating* a,
                         const floating* y, const floating* weight, floating scale,
                         floating* delta, Py_ssize_t rows, Py_ssize_t cols,
                         double* correct) noexcept nogil
cdef double softmax_crossentropy(const floating* z, floating* a, const floating* y,
                                 const floating* weight, floating scale, floating* delta,
                                 Py_ssize_t rows, Py_ssize_t cols,
                                 double* correct) noexcept nogil

# --- in-place parameter updates ----------------------------------------------
cdef void scale_inplace(floating* x, Py_ssize_t n, floating s) noexcept nogil
cdef void sgd_update(floating* p, const floating* g, Py_ssize_t n, floating lr) noexcept nogil
cdef void momentum_update(floating* p, const floating* g, floating* v, Py_ssize_t n,
                          floating lr, floating mu, bint nesterov) noexcept nogil
cdef void adam_update(floating* p, const floating* g, floating* m, floating* v,
                      Py_ssize_t n, floating lr_t, floating beta1, floating beta2,
                      floating eps) noexcept nogil
cdef void rmsprop_update(floating* p, const floating* g, floating* s, Py_ssize_t n,
                         floating lr, floating rho, floating eps) noexcept nogil
cdef bint all_finite(const floating* x, Py_ssize_t n) noexcept nogil
