/* Inner loops of nnc's sparse first layer and optimizers, in plain C.
 *
 * They are written so that the compiler vectorises them, and, with GCC on
 * x86-64 Linux, compiled three times (AVX-512, AVX2+FMA, baseline SSE2) with
 * the best chosen at load time (target_clones): a wheel built for any
 * x86-64 CPU still runs at the width of the CPU it lands on.  Elsewhere
 * (clang, MSVC, musl, ARM) they compile once, for the baseline.
 *
 * T is float or double; every function exists in an _f and a _d version.
 */
#ifndef NNC_SIMD_H
#define NNC_SIMD_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <float.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__) && defined(__GLIBC__) && (__GNUC__ >= 12) && !defined(NNC_NO_CLONES)
#define NNC_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define NNC_AVX512_COMPACT 1
#include <immintrin.h>
#else
#define NNC_CLONES
#endif

#if defined(_MSC_VER)
#define NNC_INLINE static __forceinline
#else
#define NNC_INLINE static inline __attribute__((always_inline))
#endif

#if defined(_MSC_VER)
#define NNC_RESTRICT __restrict
#else
#define NNC_RESTRICT __restrict__
#endif

/* ---- z = b + sum_p vals[p] * wt[cols[p], :]  (one row of the sparse layer)
 * Four inputs per pass over z: a quarter of the loads and stores of z. */
#define NNC_SPARSE_ROW(SUF, T)                                                  \
NNC_INLINE void nnc_sparse_row_##SUF(                                   \
    const int *cols, const T *vals, int count, const T *wt, const T *b,        \
    T *NNC_RESTRICT z, int n_out)                                              \
{                                                                              \
    int p = 0, o;                                                              \
    memcpy(z, b, (size_t)n_out * sizeof(T));                                   \
    for (; p + 4 <= count; p += 4) {                                           \
        const T v0 = vals[p], v1 = vals[p + 1], v2 = vals[p + 2], v3 = vals[p + 3]; \
        const T *NNC_RESTRICT w0 = wt + (ptrdiff_t)cols[p] * n_out;            \
        const T *NNC_RESTRICT w1 = wt + (ptrdiff_t)cols[p + 1] * n_out;        \
        const T *NNC_RESTRICT w2 = wt + (ptrdiff_t)cols[p + 2] * n_out;        \
        const T *NNC_RESTRICT w3 = wt + (ptrdiff_t)cols[p + 3] * n_out;        \
        for (o = 0; o < n_out; o++)                                            \
            z[o] += (v0 * w0[o] + v1 * w1[o]) + (v2 * w2[o] + v3 * w3[o]);     \
    }                                                                          \
    for (; p < count; p++) {                                                   \
        const T v0 = vals[p];                                                  \
        const T *NNC_RESTRICT w0 = wt + (ptrdiff_t)cols[p] * n_out;            \
        for (o = 0; o < n_out; o++)                                            \
            z[o] += v0 * w0[o];                                                \
    }                                                                          \
}
NNC_SPARSE_ROW(f, float)
NNC_SPARSE_ROW(d, double)

/* ---- g += alpha * sum_t vals[t] * delta[rows[t], :]  (one input's weight
 * gradient: the entries of one column of the batch, in row order) */
#define NNC_COLUMN_GRAD(SUF, T)                                                 \
NNC_INLINE void nnc_column_grad_##SUF(                                  \
    const int *rows, const T *vals, int count, const T *delta, int n_out,      \
    T alpha, T *NNC_RESTRICT g)                                                \
{                                                                              \
    int t = 0, o;                                                              \
    for (; t + 4 <= count; t += 4) {                                           \
        const T v0 = alpha * vals[t], v1 = alpha * vals[t + 1];                \
        const T v2 = alpha * vals[t + 2], v3 = alpha * vals[t + 3];            \
        const T *NNC_RESTRICT d0 = delta + (ptrdiff_t)rows[t] * n_out;         \
        const T *NNC_RESTRICT d1 = delta + (ptrdiff_t)rows[t + 1] * n_out;     \
        const T *NNC_RESTRICT d2 = delta + (ptrdiff_t)rows[t + 2] * n_out;     \
        const T *NNC_RESTRICT d3 = delta + (ptrdiff_t)rows[t + 3] * n_out;     \
        for (o = 0; o < n_out; o++)                                            \
            g[o] += (v0 * d0[o] + v1 * d1[o]) + (v2 * d2[o] + v3 * d3[o]);     \
    }                                                                          \
    for (; t < count; t++) {                                                   \
        const T v0 = alpha * vals[t];                                          \
        const T *NNC_RESTRICT d0 = delta + (ptrdiff_t)rows[t] * n_out;         \
        for (o = 0; o < n_out; o++)                                            \
            g[o] += v0 * d0[o];                                                \
    }                                                                          \
}
NNC_COLUMN_GRAD(f, float)
NNC_COLUMN_GRAD(d, double)

/* ---- the batch's non-zeros from rows to columns, for the weight gradient:
 * a counting sort over the columns the batch touches only, found through a
 * bitmap, so its cost follows the non-zeros and not the number of features
 * (a bag of words has 10^5 of them).  ids[k] is the k-th touched column in
 * increasing order; its entries, in increasing row order, are
 * rows/vals[col_ptr[k]:col_ptr[k+1]].  count (n_features ints) and bitmap
 * ((n_features + 63) / 64 words) are scratch that is all zero on entry and
 * is left all zero.  Returns the number of touched columns. */
static inline int nnc_ctz64(unsigned long long x)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_ctzll(x);
#else
    int n = 0;
    while (!(x & 1ULL)) { x >>= 1; n++; }
    return n;
#endif
}

#define NNC_T_BAND 128
#define NNC_TRANSPOSE(SUF, T)                                                   \
static int nnc_rows_to_columns_##SUF(                                          \
    const int *cols, const T *vals, const int *counts, ptrdiff_t stride,       \
    int rows, int n_features, int *count, unsigned long long *bitmap,          \
    int *ids, int *col_ptr, int *csc_rows, T *csc_vals, int *cursor)           \
{                                                                              \
    int k = 0, pos = 0, sorted = 1;                                            \
    for (int i = 0; i < rows; i++) {                                           \
        const int *ci = cols + i * stride;                                     \
        const int cnt = counts[i];                                             \
        for (int p = 0; p < cnt; p++) {                                        \
            const int j = ci[p];                                               \
            count[j]++;                                                        \
            bitmap[j >> 6] |= 1ULL << (j & 63);                                \
            sorted &= p == 0 || j > ci[p - 1];                                 \
        }                                                                      \
    }                                                                          \
    const int n_words = (n_features + 63) >> 6;                                \
    for (int w = 0; w < n_words; w++) {                                        \
        unsigned long long bits = bitmap[w];                                   \
        if (!bits) continue;                                                   \
        bitmap[w] = 0;                                                         \
        do {                                                                   \
            const int j = w * 64 + nnc_ctz64(bits);                            \
            const int c = count[j];                                            \
            bits &= bits - 1;                                                  \
            ids[k] = j;                                                        \
            col_ptr[k++] = pos;                                                \
            count[j] = pos;  /* from here on: where column j's next entry goes */ \
            pos += c;                                                          \
        } while (bits);                                                        \
    }                                                                          \
    col_ptr[k] = pos;                                                          \
    /* The entries land all over csc_rows/csc_vals (a line per touched      \
     * column, more lines than L1 holds): rows whose columns increase are   \
     * taken a band of NNC_T_BAND columns at a time, so that the band's     \
     * lines stay in L1 until they are full (each row resumes where its last \
     * band stopped), where columns fill several lines each (8 entries or  \
     * more on average).  The order of the entries is the same either way. */ \
    int band = n_features;                                                     \
    if (sorted && pos > 4096 && pos >= 8 * k) {                                \
        band = (int)((long long)n_features * NNC_T_BAND / k);                  \
        band = band < 64 ? 64 : band;                                          \
    }                                                                          \
    for (int i = 0; i < rows; i++)                                             \
        cursor[i] = 0;                                                         \
    for (int j1 = band; j1 - band < n_features; j1 += band) {                  \
        for (int i = 0; i < rows; i++) {                                       \
            const int *ci = cols + i * stride;                                 \
            const T *vi = vals + i * stride;                                   \
            const int cnt = counts[i];                                         \
            int p = cursor[i];                                                 \
            for (; p < cnt && ci[p] < j1; p++) {                               \
                const int c = count[ci[p]]++;                                  \
                csc_rows[c] = i;                                               \
                csc_vals[c] = vi[p];                                           \
            }                                                                  \
            cursor[i] = p;                                                     \
        }                                                                      \
    }                                                                          \
    for (int t = 0; t < k; t++)                                                \
        count[ids[t]] = 0;                                                     \
    return k;                                                                  \
}
NNC_TRANSPOSE(f, float)
NNC_TRANSPOSE(d, double)

/* ---- whole-batch loops: one call per batch, so no call per row or column */
#define NNC_SPARSE_BATCH(SUF, T)                                                \
NNC_CLONES static void nnc_sparse_rows_##SUF(                                  \
    const int *cols, const T *vals, const int *counts, ptrdiff_t stride,       \
    int r0, int r1, const T *wt, const T *b, T *z, int n_out)                  \
{                                                                              \
    for (int i = r0; i < r1; i++)                                              \
        nnc_sparse_row_##SUF(cols + i * stride, vals + i * stride, counts[i],   \
                             wt, b, z + (ptrdiff_t)i * n_out, n_out);          \
}                                                                              \
NNC_CLONES static void nnc_column_grads_##SUF(                                 \
    const int *col_ptr, const int *ids, const int *rows, const T *vals,        \
    int k0, int k1, const T *delta, int n_out, T alpha, T *g)                  \
{                                                                              \
    for (int k = k0; k < k1; k++)                                              \
        nnc_column_grad_##SUF(rows + col_ptr[k], vals + col_ptr[k],             \
                              col_ptr[k + 1] - col_ptr[k], delta, n_out,       \
                              alpha, g + (ptrdiff_t)ids[k] * n_out);           \
}
NNC_SPARSE_BATCH(f, float)
NNC_SPARSE_BATCH(d, double)

/* ---- row form of the sparse weight gradient, for small batches: for each
 * sample and each of its non-zero inputs j, g[j, :] += x_ij * delta_i (the
 * caller scales delta: the engine passes alpha * delta, formed once a batch).
 * Few samples share an input, so the column form's register blocking gains
 * nothing there and its transposition costs more than it saves. */
#define NNC_ROW_GRAD(SUF, T)                                                    \
NNC_CLONES static void nnc_row_grads_##SUF(                                    \
    const int *cols, const T *vals, const int *counts, ptrdiff_t stride,       \
    int rows, const T *delta, int n_out, T *g)                                 \
{                                                                              \
    for (int i = 0; i < rows; i++) {                                           \
        const T *NNC_RESTRICT d = delta + (ptrdiff_t)i * n_out;                \
        for (int p = 0; p < counts[i]; p++) {                                  \
            const T v = vals[i * stride + p];                                  \
            T *NNC_RESTRICT gj = g + (ptrdiff_t)cols[i * stride + p] * n_out;  \
            for (int o = 0; o < n_out; o++)                                    \
                gj[o] += v * d[o];                                             \
        }                                                                      \
    }                                                                          \
}
NNC_ROW_GRAD(f, float)
NNC_ROW_GRAD(d, double)

/* ---- the logistic function, vectorisable: exp through 2^k * P(r) with a
 * degree-6 polynomial (relative error below 2e-7, under float's own
 * rounding), computed for -|z| only, so it never overflows. */
NNC_CLONES static void nnc_sigmoid_f(const float *z, float *a, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        float x = -fabsf(z[i]);
        x = x < -104.0f ? -104.0f : x;  /* e^-104 rounds to 0 in float */
        /* round to nearest by the 1.5 * 2^23 trick: no libm call, vectorises */
        const float kf = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
        const float r = (x - kf * 0.693359375f) + kf * 2.12194440e-4f;
        float poly = 1.0f / 720.0f;
        poly = poly * r + 1.0f / 120.0f;
        poly = poly * r + 1.0f / 24.0f;
        poly = poly * r + 1.0f / 6.0f;
        poly = poly * r + 0.5f;
        poly = poly * r + 1.0f;
        poly = poly * r + 1.0f;
        /* 2^k as 2^(k+60) * 2^-60: stays normal for k down to -150, so the
         * product rounds gradually into float's subnormals, as expf does. */
        const int bits = ((int)kf + 60 + 127) << 23;
        float scale;
        memcpy(&scale, &bits, sizeof scale);
        const float e = (poly * scale) * 8.67361737988403547e-19f;
        const float s = 1.0f / (1.0f + e);
        a[i] = z[i] >= 0 ? s : e * s;
    }
}

/* ---- all values finite?  x - x is 0 for every finite x and NaN for NaN
 * and infinities; sixteen independent sums, so the loop vectorizes (a NaN
 * in any of them survives, whatever the order). */
#define NNC_FINITE(SUF, T)                                                      \
NNC_CLONES static int nnc_all_finite_##SUF(const T *x, ptrdiff_t n)            \
{                                                                              \
    T acc[16] = {0};                                                           \
    ptrdiff_t i = 0;                                                           \
    for (; i + 16 <= n; i += 16)                                               \
        for (int k = 0; k < 16; k++)                                           \
            acc[k] += x[i + k] - x[i + k];                                     \
    for (; i < n; i++)                                                         \
        acc[0] += x[i] - x[i];                                                 \
    T total = 0;                                                               \
    for (int k = 0; k < 16; k++)                                               \
        total += acc[k];                                                       \
    return total == 0;                                                         \
}
NNC_FINITE(f, float)
NNC_FINITE(d, double)

/* Ask for the rows of the next batch early, so that they arrive from memory
 * while this batch computes (the order is shuffled: no prefetcher guesses it).
 * Into all cache levels (prefetcht0): a non-temporal hint keeps the lines out
 * of L2 on Intel cores, and this batch's own work evicts them from L1 before
 * the gather reads them, which then goes to memory twice (measured on a Xeon
 * with AVX-512: the tutorial epoch took 1.6x as long). */
static void nnc_prefetch_rows(const char *x, ptrdiff_t row_bytes, const long long *rows,
                              int n_rows)
{
#if defined(__GNUC__) || defined(__clang__)
    for (int i = 0; i < n_rows; i++) {
        const char *r = x + rows[i] * row_bytes;
        for (ptrdiff_t o = 0; o < row_bytes; o += 64)
            __builtin_prefetch(r + o, 0, 3);
    }
#else
    (void)x; (void)row_bytes; (void)rows; (void)n_rows;
#endif
}

/* ---- optimizers over the flat parameter buffer */
#define NNC_UPDATES(SUF, T, SQRT)                                               \
NNC_CLONES static void nnc_sgd_##SUF(T *NNC_RESTRICT p, const T *NNC_RESTRICT g, \
                                     ptrdiff_t n, T lr)                        \
{                                                                              \
    for (ptrdiff_t i = 0; i < n; i++) p[i] -= lr * g[i];                       \
}                                                                              \
NNC_CLONES static void nnc_momentum_##SUF(T *NNC_RESTRICT p, const T *NNC_RESTRICT g, \
    T *NNC_RESTRICT v, ptrdiff_t n, T lr, T mu, int nesterov)                  \
{                                                                              \
    if (nesterov) {                                                            \
        for (ptrdiff_t i = 0; i < n; i++) {                                    \
            const T step = mu * v[i] - lr * g[i];                              \
            v[i] = step;                                                       \
            p[i] += mu * step - lr * g[i];                                     \
        }                                                                      \
    } else {                                                                   \
        for (ptrdiff_t i = 0; i < n; i++) {                                    \
            const T step = mu * v[i] - lr * g[i];                              \
            v[i] = step;                                                       \
            p[i] += step;                                                      \
        }                                                                      \
    }                                                                          \
}                                                                              \
NNC_CLONES static void nnc_adam_##SUF(T *NNC_RESTRICT p, const T *NNC_RESTRICT g, \
    T *NNC_RESTRICT m, T *NNC_RESTRICT v, ptrdiff_t n, T lr_t, T beta1,        \
    T beta2, T eps)                                                            \
{                                                                              \
    for (ptrdiff_t i = 0; i < n; i++) {                                        \
        const T gi = g[i];                                                     \
        const T mi = beta1 * m[i] + (1 - beta1) * gi;                          \
        const T vi = beta2 * v[i] + (1 - beta2) * gi * gi;                     \
        m[i] = mi;                                                             \
        v[i] = vi;                                                             \
        p[i] -= lr_t * mi / (SQRT(vi) + eps);                                  \
    }                                                                          \
}                                                                              \
NNC_CLONES static void nnc_rmsprop_##SUF(T *NNC_RESTRICT p, const T *NNC_RESTRICT g, \
    T *NNC_RESTRICT s, ptrdiff_t n, T lr, T rho, T eps)                        \
{                                                                              \
    for (ptrdiff_t i = 0; i < n; i++) {                                        \
        const T gi = g[i];                                                     \
        const T si = rho * s[i] + (1 - rho) * gi * gi;                         \
        s[i] = si;                                                             \
        p[i] -= lr * gi / (SQRT(si) + eps);                                    \
    }                                                                          \
}
NNC_UPDATES(f, float, sqrtf)
NNC_UPDATES(d, double, sqrt)

/* ---- compaction of a dense row to its non-zeros.  Branch-free scalar code
 * everywhere; with AVX-512 (checked at run time), 16 (or 8) entries per
 * compress-store instruction. */
#define NNC_COMPACT_SCALAR(SUF, T)                                              \
static int nnc_compact_scalar_##SUF(const T *row, int n, int *cols, T *vals)   \
{                                                                              \
    int count = 0;                                                             \
    for (int j = 0; j < n; j++) {                                              \
        const T v = row[j];                                                    \
        cols[count] = j;                                                       \
        vals[count] = v;                                                       \
        count += (v != 0);                                                     \
    }                                                                          \
    return count;                                                              \
}
NNC_COMPACT_SCALAR(f, float)
NNC_COMPACT_SCALAR(d, double)

/* ---- strips: the batch's inputs by runs of NNC_STRIP adjacent columns.
 * Neighbouring pixels of an image are non-zero together, so a sample's
 * non-zeros cluster into few strips of 4 columns (MNIST: 150 non-zeros a
 * row in 56 strips; 4 x 56 / 150 = 1.48 multiplications per non-zero).  A
 * strip's entry is a sample and its 4 values (zeros included); strip s's
 * entries start at s * stride (stride: at least the batch's rows), in
 * increasing sample order.  nnc_strips builds them from the batch's dense
 * rows in one pass (a strip whose 4 values are all zero gets no entry).
 * The forward loads the strip's 4 rows of one panel of W into registers and
 * adds them to the z of every sample in the strip; BP4 keeps the strip's 4
 * rows of one panel of dC/dW in registers and adds every sample's delta to
 * them.  Either way each FMA has its operands in registers or L1, where the
 * row form reads a row of W from L2 for every non-zero and the column form
 * loads a sample index and a value for every vector.  The zero values add
 * exactly nothing (0 * w = 0, z + 0 = z), and the terms come in the row
 * and column forms' order (inputs, samples increasing): the same sums to the
 * bit. */
#define NNC_STRIP 4
#define NNC_STRIP_AHEAD 4  /* rows the builder asks for ahead (random rows) */
/* strips the builder takes through all the rows at a time: a row's entries
 * go to two streams a strip (rows, values), and the 392 of a whole MNIST
 * row kept too few of their lines in L1; 32 strips' 64 stay there.  Wide
 * (EPYC Zen 4): the build 87 -> 49 us a batch, the epoch 0.92x; groups of 8,
 * 16, 48 and 64 strips: 67, 56, 53 and 53 us. */
#define NNC_STRIP_GROUP 32

#ifdef NNC_AVX512_COMPACT
/* the first 16 (8) lanes of a vector of indices, to p: after a compress in
 * registers, the plain store that stands in for compress-to-memory */
#define NNC_STORE_IDX16(p, v) _mm512_storeu_si512((p), (v))
#define NNC_STORE_IDX8(p, v) _mm256_storeu_si256((__m256i *)(p), _mm512_castsi512_si256(v))

__attribute__((target("avx512f")))
static int nnc_compact_avx512_f(const float *row, int n, int *cols, float *vals)
{
    int count = 0, j = 0;
    __m512i idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i step = _mm512_set1_epi32(16);
    const __m512 zero = _mm512_setzero_ps();
    for (; j + 16 <= n; j += 16) {
        const __m512 x = _mm512_loadu_ps(row + j);
        const __mmask16 k = _mm512_cmp_ps_mask(x, zero, _CMP_NEQ_UQ);
        /* compress in registers, then a plain store: compress-to-memory is
         * microcoded and slow on some CPUs (AMD Zen 4/5).  The store may write
         * up to 16 entries past count: still inside this row's slot of n. */
        _mm512_storeu_ps(vals + count, _mm512_maskz_compress_ps(k, x));
        NNC_STORE_IDX16(cols + count, _mm512_maskz_compress_epi32(k, idx));
        count += __builtin_popcount((unsigned)k);
        idx = _mm512_add_epi32(idx, step);
    }
    for (; j < n; j++) {
        const float v = row[j];
        cols[count] = j;
        vals[count] = v;
        count += (v != 0.0f);
    }
    return count;
}

__attribute__((target("avx512f")))
static int nnc_compact_avx512_d(const double *row, int n, int *cols, double *vals)
{
    int count = 0, j = 0;
    __m512i idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i step = _mm512_set1_epi32(8);
    const __m512d zero = _mm512_setzero_pd();
    for (; j + 8 <= n; j += 8) {
        const __m512d x = _mm512_loadu_pd(row + j);
        const __mmask8 k = _mm512_cmp_pd_mask(x, zero, _CMP_NEQ_UQ);
        _mm512_storeu_pd(vals + count, _mm512_maskz_compress_pd(k, x));
        NNC_STORE_IDX8(cols + count, _mm512_maskz_compress_epi32((__mmask16)k, idx));
        count += __builtin_popcount((unsigned)k);
        idx = _mm512_add_epi32(idx, step);
    }
    for (; j < n; j++) {
        const double v = row[j];
        cols[count] = j;
        vals[count] = v;
        count += (v != 0.0);
    }
    return count;
}

static int nnc_has_avx512 = -1;

static inline int nnc_avx512(void)
{
    if (nnc_has_avx512 < 0)
        nnc_has_avx512 = (__builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("fma")) ? 1 : 0;
    return nnc_has_avx512;
}

/* Register-blocked sparse kernels: a block of up to NV vectors of the output
 * row stays in registers while every non-zero input adds its weight row to
 * it, so the output is loaded and stored once per block, not once per input.
 * Tails use masked loads and stores (masked-off lanes touch no memory). */
#define NNC_BLOCK_LOOP(NV, T, VEC, LANES, MT, LOADZ, STOREM, FMA, SET1,          \
                       INIT_PTR, N_ENTRIES, SCALE, SRC_PTR, OUT_PTR, PF)         \
    do {                                                                       \
        MT m0 = nnc_mask_##T(rem), m1 = nnc_mask_##T(rem - LANES);             \
        MT m2 = nnc_mask_##T(rem - 2 * LANES), m3 = nnc_mask_##T(rem - 3 * LANES); \
        VEC a0 = LOADZ(m0, (INIT_PTR));                                        \
        VEC a1 = NV > 1 ? LOADZ(m1, (INIT_PTR) + LANES) : a0;                  \
        VEC a2 = NV > 2 ? LOADZ(m2, (INIT_PTR) + 2 * LANES) : a0;              \
        VEC a3 = NV > 3 ? LOADZ(m3, (INIT_PTR) + 3 * LANES) : a0;              \
        for (int p = 0; p < (N_ENTRIES); p++) {                                \
            const T *src = (SRC_PTR);                                          \
            PF;                                                                \
            const VEC v = SET1(SCALE);                                         \
            a0 = FMA(v, LOADZ(m0, src), a0);                                   \
            if (NV > 1) a1 = FMA(v, LOADZ(m1, src + LANES), a1);               \
            if (NV > 2) a2 = FMA(v, LOADZ(m2, src + 2 * LANES), a2);           \
            if (NV > 3) a3 = FMA(v, LOADZ(m3, src + 3 * LANES), a3);           \
        }                                                                      \
        /* masked stores are slow on some CPUs: only for a partial vector */    \
        NNC_STORE_##T((OUT_PTR), m0, a0, rem);                                 \
        if (NV > 1) NNC_STORE_##T((OUT_PTR) + LANES, m1, a1, rem - LANES);     \
        if (NV > 2) NNC_STORE_##T((OUT_PTR) + 2 * LANES, m2, a2, rem - 2 * LANES); \
        if (NV > 3) NNC_STORE_##T((OUT_PTR) + 3 * LANES, m3, a3, rem - 3 * LANES); \
    } while (0)

#define NNC_DISPATCH_NV(T, VEC, LANES, MT, LOADZ, STOREM, FMA, SET1, INIT_PTR,   \
                        N_ENTRIES, SCALE, SRC_PTR, OUT_PTR, PF)                  \
    do {                                                                       \
        const int nv = (rem + LANES - 1) / LANES;                              \
        if (nv == 1) NNC_BLOCK_LOOP(1, T, VEC, LANES, MT, LOADZ, STOREM, FMA, SET1, \
                                    INIT_PTR, N_ENTRIES, SCALE, SRC_PTR, OUT_PTR, PF); \
        else if (nv == 2) NNC_BLOCK_LOOP(2, T, VEC, LANES, MT, LOADZ, STOREM, FMA, SET1, \
                                    INIT_PTR, N_ENTRIES, SCALE, SRC_PTR, OUT_PTR, PF); \
        else if (nv == 3) NNC_BLOCK_LOOP(3, T, VEC, LANES, MT, LOADZ, STOREM, FMA, SET1, \
                                    INIT_PTR, N_ENTRIES, SCALE, SRC_PTR, OUT_PTR, PF); \
        else NNC_BLOCK_LOOP(4, T, VEC, LANES, MT, LOADZ, STOREM, FMA, SET1,      \
                            INIT_PTR, N_ENTRIES, SCALE, SRC_PTR, OUT_PTR, PF);   \
    } while (0)

#define NNC_STORE_float(PTR, MASK, VAL, REM) \
    do { if ((REM) >= 16) _mm512_storeu_ps((PTR), (VAL)); \
         else _mm512_mask_storeu_ps((PTR), (MASK), (VAL)); } while (0)
#define NNC_STORE_double(PTR, MASK, VAL, REM) \
    do { if ((REM) >= 8) _mm512_storeu_pd((PTR), (VAL)); \
         else _mm512_mask_storeu_pd((PTR), (MASK), (VAL)); } while (0)

/* entries ahead at which the sparse kernels ask for a far weight row */
#define NNC_PF_DIST 8

static inline void nnc_prefetch_span(const void *p, size_t bytes)
{
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch((const char *)p + o, _MM_HINT_T0);
}
static inline void nnc_prefetch_span_l2(const void *p, size_t bytes)
{
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch((const char *)p + o, _MM_HINT_T1);
}

__attribute__((target("avx512f"))) static inline __mmask16 nnc_mask_float(int r)
{
    return r <= 0 ? (__mmask16)0 : r >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << r) - 1);
}
__attribute__((target("avx512f"))) static inline __mmask8 nnc_mask_double(int r)
{
    return r <= 0 ? (__mmask8)0 : r >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << r) - 1);
}

#define NNC_AVX512_SPARSE(SUF, T, VEC, LANES, MT, LOADZ, STOREM, FMA, SET1)      \
__attribute__((target("avx512f")))                                             \
static void nnc_sparse_rows_avx512_##SUF(                                      \
    const int *cols, const T *vals, const int *counts, ptrdiff_t stride,       \
    int r0, int r1, const T *wt, const T *b, T *z, int n_out, int far)         \
{                                                                              \
    if (far) {                                                                 \
        /* W far larger than the caches (a bag of words): its rows come from \
         * memory in the order of the inputs, which no hardware prefetcher  \
         * guesses; ask for the row NNC_PF_DIST entries ahead, and finish   \
         * each sample's row before the next, so that a W row is fetched    \
         * once per sample and not once per output block. */                \
        for (int i = r0; i < r1; i++) {                                        \
            const int *ci = cols + i * stride;                                 \
            const T *vi = vals + i * stride;                                   \
            T *zi = z + (ptrdiff_t)i * n_out;                                  \
            const int cnt = counts[i];                                         \
            for (int o = 0; o < n_out; o += 4 * LANES) {                       \
                const int rem = n_out - o;                                     \
                NNC_DISPATCH_NV(T, VEC, LANES, MT, LOADZ, STOREM, FMA, SET1, b + o, \
                                cnt, vi[p], wt + (ptrdiff_t)ci[p] * n_out + o, \
                                zi + o,                                        \
                                if (o == 0 && p + NNC_PF_DIST < cnt)           \
                                    nnc_prefetch_span(wt + (ptrdiff_t)ci[p + NNC_PF_DIST] \
                                                      * n_out, n_out * sizeof(T))); \
            }                                                                  \
        }                                                                      \
        return;                                                                \
    }                                                                          \
    /* Output blocks outermost: one block of W (4 vectors of each of its rows) \
     * stays in cache while every sample of the batch reads it. */            \
    for (int o = 0; o < n_out; o += 4 * LANES)                                 \
    for (int i = r0; i < r1; i++) {                                            \
        const int *ci = cols + i * stride;                                     \
        const T *vi = vals + i * stride;                                       \
        T *zi = z + (ptrdiff_t)i * n_out;                                      \
        {                                                                      \
            const int rem = n_out - o;                                         \
            NNC_DISPATCH_NV(T, VEC, LANES, MT, LOADZ, STOREM, FMA, SET1, b + o,  \
                            counts[i], vi[p], wt + (ptrdiff_t)ci[p] * n_out + o, \
                            zi + o, (void)0);                                  \
        }                                                                      \
    }                                                                          \
}                                                                              \
__attribute__((target("avx512f")))                                             \
static void nnc_column_grads_avx512_##SUF(                                     \
    const int *col_ptr, const int *ids, const int *rows, const T *vals,        \
    int k0, int k1, const T *delta, int n_out, T alpha, T *g, int far)         \
{                                                                              \
    if (far) {                                                                 \
        /* g far larger than the caches: fetch row ids[k + NNC_PF_DIST] ahead \
         * and finish each row before the next (one trip to memory a row). */ \
        for (int k = k0; k < k1; k++) {                                        \
            const int c0 = col_ptr[k], cnt = col_ptr[k + 1] - c0;              \
            T *gj = g + (ptrdiff_t)ids[k] * n_out;                             \
            if (k + NNC_PF_DIST < k1)                                          \
                nnc_prefetch_span(g + (ptrdiff_t)ids[k + NNC_PF_DIST] * n_out, \
                                  n_out * sizeof(T));                          \
            for (int o = 0; o < n_out; o += 4 * LANES) {                       \
                const int rem = n_out - o;                                     \
                NNC_DISPATCH_NV(T, VEC, LANES, MT, LOADZ, STOREM, FMA, SET1, gj + o, \
                                cnt, alpha * vals[c0 + p],                     \
                                delta + (ptrdiff_t)rows[c0 + p] * n_out + o, gj + o, \
                                (void)0);                                      \
            }                                                                  \
        }                                                                      \
        return;                                                                \
    }                                                                          \
    /* Output blocks outermost: one block of delta stays in cache while     \
     * every input's column reads it (rows of delta n_out apart). */          \
    nnc_block_grads_avx512_##SUF(col_ptr, ids, rows, vals, k0, k1, delta, 1, n_out, \
                                 n_out, 4 * LANES, alpha, g, NULL, 0);        \
}
/* Column form over delta in panels.  Rows of delta lie n_out * sizeof(T)
 * bytes apart (1-2 KB for MNIST's hidden layers), so the pieces of them that
 * one block of outputs reads fall into a quarter (or an eighth) of L1's sets
 * and evict each other: the kernel above then reads delta from L2.
 * nnc_pack_delta copies delta into panels of bw outputs each (panel q: m
 * rows of bw values, contiguous; bw is 2 or 4 vectors, chosen so that a
 * panel fits in L1), and a panel then stays in L1 while every column reads
 * it.  Same sums in the same order as the kernel above: the same results to
 * the bit. */
/* column j's entry p in nnc_panel_cols: a[j][] += alpha x * (the entry's
 * sample's panel row of delta) */
#define NNC_PANEL_COL_TERM(T, VEC, LANES, FMA, SET1, LOADU)                    \
    do {                                                                       \
        const T *src = dq + (ptrdiff_t)rk[j][p] * (NV * LANES);                \
        const VEC x = SET1(alpha * vk[j][p]);                                  \
        _Pragma("GCC unroll 4")                                                \
        for (int v = 0; v < NV; v++)                                           \
            a[j][v] = FMA(x, LOADU(src + v * LANES), a[j][v]);                 \
    } while (0)

#define NNC_AVX512_DELTA_PANELS(SUF, T, VEC, LANES, MT, LOADZ, STOREM, FMA, SET1, \
                                LOADU, STOREU)                                 \
/* panels q0 .. q1-1 of alpha * delta: fma(alpha, d, -0) is alpha * d to   \
 * the bit, the sign of a zero included */                                    \
__attribute__((target("avx512f")))                                             \
static void nnc_pack_delta_##SUF(const T *delta, int m, int n_out, int bw, T alpha, \
                                 int q0, int q1, T *dp)                        \
{                                                                              \
    const VEC va = SET1(alpha), nz = SET1((T)-0.0);                            \
    for (int o = q0 * bw; o < n_out && o < q1 * bw; o += bw) {                 \
        const int w = n_out - o < bw ? n_out - o : bw;                         \
        T *dq = dp + (ptrdiff_t)o * m;                                         \
        for (int r = 0; r < m; r++) {                                          \
            const T *src = delta + (ptrdiff_t)r * n_out + o;                   \
            for (int j = 0; j < w; j += LANES) {                               \
                const MT k = nnc_mask_##T(w - j);                              \
                STOREM(dq + (ptrdiff_t)r * bw + j, k, FMA(va, LOADZ(k, src + j), nz)); \
            }                                                                  \
        }                                                                      \
    }                                                                          \
}                                                                              \
/* a whole panel (NV vectors, NV a constant): no masks, a shift for the    \
 * address of a row.  J columns at a time (J * NV = 8 accumulators): one    \
 * column's sum is a chain of dependent FMAs, and with two vectors a column  \
 * a lone column waits on the FMA latency, not on its loads; J columns      \
 * interleave J independent chains.  Each column still adds its entries in  \
 * its own order: the same sums to the bit.  With P (fused SGD, W^1 also    \
 * packed for the forward: nnc_pack_panels' layout), the new rows go there  \
 * too, so the forward needs no repacking. */                                 \
__attribute__((target("avx512f"), always_inline))                             \
static inline void nnc_panel_cols_##SUF(                                       \
    const int *col_ptr, const int *ids, const int *rows, const T *vals,        \
    int k, const T *dq, int o, int n_out, const int NV, const int J, T alpha, T *g, \
    T *P, int n_in)                                                            \
{                                                                              \
    VEC a[4][4];                                                               \
    const int *rk[4];                                                          \
    const T *vk[4];                                                            \
    int cnt[4], lo = 0x7fffffff;                                               \
    _Pragma("GCC unroll 4")                                                    \
    for (int j = 0; j < J; j++) {                                              \
        const int c0 = col_ptr[k + j];                                         \
        const T *gj = g + (ptrdiff_t)ids[k + j] * n_out + o;                   \
        cnt[j] = col_ptr[k + j + 1] - c0;                                      \
        lo = cnt[j] < lo ? cnt[j] : lo;                                        \
        rk[j] = rows + c0;                                                     \
        vk[j] = vals + c0;                                                     \
        _Pragma("GCC unroll 4")                                                \
        for (int v = 0; v < NV; v++) a[j][v] = LOADU(gj + v * LANES);          \
    }                                                                          \
    for (int p = 0; p < lo; p++) {                                             \
        _Pragma("GCC unroll 4")                                                \
        for (int j = 0; j < J; j++)                                            \
            NNC_PANEL_COL_TERM(T, VEC, LANES, FMA, SET1, LOADU);               \
    }                                                                          \
    _Pragma("GCC unroll 4")                                                    \
    for (int j = 0; j < J; j++) {                                              \
        for (int p = lo; p < cnt[j]; p++)                                      \
            NNC_PANEL_COL_TERM(T, VEC, LANES, FMA, SET1, LOADU);               \
        T *gj = g + (ptrdiff_t)ids[k + j] * n_out + o;                         \
        _Pragma("GCC unroll 4")                                                \
        for (int v = 0; v < NV; v++) STOREU(gj + v * LANES, a[j][v]);          \
        if (P) {                                                               \
            const ptrdiff_t step = (ptrdiff_t)n_in * LANES;                    \
            T *pj = P + ((ptrdiff_t)(o / LANES) * n_in + ids[k + j]) * LANES;  \
            _Pragma("GCC unroll 4")                                            \
            for (int v = 0; v < NV; v++) STOREU(pj + v * step, a[j][v]);       \
        }                                                                      \
    }                                                                          \
}                                                                              \
__attribute__((target("avx512f"), always_inline))                             \
static inline void nnc_panel_full_##SUF(                                       \
    const int *col_ptr, const int *ids, const int *rows, const T *vals,        \
    int k0, int k1, const T *dq, int o, int n_out, const int NV, T alpha, T *g, \
    T *P, int n_in)                                                            \
{                                                                              \
    const int J = 8 / NV;                                                      \
    int k = k0;                                                                \
    for (; k + J <= k1; k += J)                                                \
        nnc_panel_cols_##SUF(col_ptr, ids, rows, vals, k, dq, o, n_out, NV, J, alpha, g, \
                             P, n_in);                                         \
    for (; k < k1; k++)                                                        \
        nnc_panel_cols_##SUF(col_ptr, ids, rows, vals, k, dq, o, n_out, NV, 1, alpha, g, \
                             P, n_in);                                         \
}                                                                              \
/* The column form, block by block of bw outputs: delta's entry for row r \
 * and block o is at d + o * block_step + r * row_step (row_step n_out for  \
 * delta as it is, bw for its panels, whose rows go through the unmasked    \
 * loop above when the block is whole). */                                   \
__attribute__((target("avx512f")))                                             \
static void nnc_block_grads_avx512_##SUF(                                      \
    const int *col_ptr, const int *ids, const int *rows, const T *vals,        \
    int k0, int k1, const T *d, ptrdiff_t block_step, int row_step, int n_out, \
    int bw, T alpha, T *g, T *P, int n_in)                                     \
{                                                                              \
    /* P (see nnc_panel_full) only comes with whole panels: n_out % bw == 0 */ \
    for (int o = 0; o < n_out; o += bw) {                                      \
        const T *dq = d + (ptrdiff_t)o * block_step;                           \
        const int rem = n_out - o < bw ? n_out - o : bw;                       \
        if (rem == 4 * LANES && bw == 4 * LANES && row_step == bw) {           \
            nnc_panel_full_##SUF(col_ptr, ids, rows, vals, k0, k1, dq, o, n_out, 4, alpha, g, \
                                 P, n_in);                                     \
            continue;                                                          \
        }                                                                      \
        if (rem == 2 * LANES && bw == 2 * LANES && row_step == bw) {           \
            nnc_panel_full_##SUF(col_ptr, ids, rows, vals, k0, k1, dq, o, n_out, 2, alpha, g, \
                                 P, n_in);                                     \
            continue;                                                          \
        }                                                                      \
        for (int k = k0; k < k1; k++) {                                        \
            const int c0 = col_ptr[k], cnt = col_ptr[k + 1] - c0;              \
            T *gj = g + (ptrdiff_t)ids[k] * n_out;                             \
            NNC_DISPATCH_NV(T, VEC, LANES, MT, LOADZ, STOREM, FMA, SET1, gj + o,  \
                            cnt, alpha * vals[c0 + p],                         \
                            dq + (ptrdiff_t)rows[c0 + p] * row_step, gj + o, (void)0); \
        }                                                                      \
    }                                                                          \
}                                                                              \
/* delta packed by nnc_pack_delta: panel o starts at dp + o * m */            \
static void nnc_panel_grads_avx512_##SUF(                                      \
    const int *col_ptr, const int *ids, const int *rows, const T *vals,        \
    int k0, int k1, const T *dp, int m, int n_out, int bw, T alpha, T *g,      \
    T *P, int n_in)                                                            \
{                                                                              \
    nnc_block_grads_avx512_##SUF(col_ptr, ids, rows, vals, k0, k1, dp, m, bw, n_out, bw, \
                                 alpha, g, P, n_in);                           \
}
NNC_AVX512_DELTA_PANELS(f, float, __m512, 16, __mmask16, _mm512_maskz_loadu_ps,
                        _mm512_mask_storeu_ps, _mm512_fmadd_ps, _mm512_set1_ps,
                        _mm512_loadu_ps, _mm512_storeu_ps)
NNC_AVX512_DELTA_PANELS(d, double, __m512d, 8, __mmask8, _mm512_maskz_loadu_pd,
                        _mm512_mask_storeu_pd, _mm512_fmadd_pd, _mm512_set1_pd,
                        _mm512_loadu_pd, _mm512_storeu_pd)
/* A panel of z (m rows of NV * LANES values, the layout of delta's panels
 * above) for the outputs o .. o + NV * LANES - 1 (rem = n_out - o of them
 * exist): filled with the bias before the forward adds to it, copied out to
 * z's rows after (b and z start at output o). */
#define NNC_AVX512_PANEL_IO(SUF, T, VEC, LANES, LOADZ, LOADU, STOREU, STOREM)   \
__attribute__((target("avx512f"), always_inline))                             \
static inline void nnc_panel_bias_##SUF(T *pz, int m, const T *b, int rem, const int NV) \
{                                                                              \
    VEC bias[4];                                                               \
    for (int v = 0; v < NV; v++)                                               \
        bias[v] = LOADZ(nnc_mask_##T(rem - v * LANES), b + v * LANES);         \
    for (int r = 0; r < m; r++)                                                \
        for (int v = 0; v < NV; v++)                                           \
            STOREU(pz + (ptrdiff_t)r * NV * LANES + v * LANES, bias[v]);       \
}                                                                              \
__attribute__((target("avx512f"), always_inline))                             \
static inline void nnc_panel_out_##SUF(const T *pz, int m, T *z, int n_out, int rem, \
                                       const int NV)                           \
{                                                                              \
    for (int r = 0; r < m; r++) {                                              \
        const T *zr = pz + (ptrdiff_t)r * NV * LANES;                          \
        T *out = z + (ptrdiff_t)r * n_out;                                     \
        for (int v = 0; v < NV && v * LANES < rem; v++) {                      \
            if (rem - v * LANES >= LANES)                                      \
                STOREU(out + v * LANES, LOADU(zr + v * LANES));                \
            else                                                               \
                STOREM(out + v * LANES, nnc_mask_##T(rem - v * LANES), LOADU(zr + v * LANES)); \
        }                                                                      \
    }                                                                          \
}
NNC_AVX512_PANEL_IO(f, float, __m512, 16, _mm512_maskz_loadu_ps, _mm512_loadu_ps,
                    _mm512_storeu_ps, _mm512_mask_storeu_ps)
NNC_AVX512_PANEL_IO(d, double, __m512d, 8, _mm512_maskz_loadu_pd, _mm512_loadu_pd,
                    _mm512_storeu_pd, _mm512_mask_storeu_pd)
/* The forward in column form, into panels of z (the layout of delta's
 * panels above).  The row form's weight rows for one block of outputs lie
 * n_out values apart and alias in L1 (for 512 outputs, 64 of them fill the
 * sets a block uses), so it reads W from L2 once per non-zero.  Here each
 * touched column loads its block of W once, into registers, and adds it to
 * the z of every sample where that input is non-zero; those z rows are a
 * panel of m x bw values, contiguous, which stays in L1.  Columns come in
 * increasing order and start from the bias, so each z gets the row form's
 * terms in the row form's order: the same results to the bit.  The panel is
 * then copied out to z's rows. */
#define NNC_AVX512_SCATTER(SUF, T, VEC, LANES, MT, LOADZ, LOADU, STOREU, FMA, SET1) \
__attribute__((target("avx512f"), always_inline))                             \
static inline void nnc_scatter_panel_##SUF(                                    \
    const int *col_ptr, const int *ids, const int *rows, const T *vals, int n_cols, \
    const T *wt, const T *b, int n_out, int m, const int NV, int o, T *pz, T *z) \
{                                                                              \
    const int rem = n_out - o, bw = NV * LANES;                                \
    const MT m0 = nnc_mask_##T(rem), m1 = nnc_mask_##T(rem - LANES);           \
    const MT m2 = nnc_mask_##T(rem - 2 * LANES), m3 = nnc_mask_##T(rem - 3 * LANES); \
    nnc_panel_bias_##SUF(pz, m, b + o, rem, NV);                               \
    for (int k = 0; k < n_cols; k++) {                                         \
        const T *wj = wt + (ptrdiff_t)ids[k] * n_out + o;                      \
        const VEC w0 = LOADZ(m0, wj), w1 = LOADZ(m1, wj + LANES);              \
        const VEC w2 = NV > 2 ? LOADZ(m2, wj + 2 * LANES) : w0;                \
        const VEC w3 = NV > 2 ? LOADZ(m3, wj + 3 * LANES) : w0;                \
        const int e1 = col_ptr[k + 1];                                         \
        for (int e = col_ptr[k]; e < e1; e++) {                                \
            T *zr = pz + (ptrdiff_t)rows[e] * bw;                              \
            const VEC v = SET1(vals[e]);                                       \
            STOREU(zr, FMA(v, w0, LOADU(zr)));                                 \
            STOREU(zr + LANES, FMA(v, w1, LOADU(zr + LANES)));                 \
            if (NV > 2) {                                                      \
                STOREU(zr + 2 * LANES, FMA(v, w2, LOADU(zr + 2 * LANES)));     \
                STOREU(zr + 3 * LANES, FMA(v, w3, LOADU(zr + 3 * LANES)));     \
            }                                                                  \
        }                                                                      \
    }                                                                          \
    nnc_panel_out_##SUF(pz, m, z + o, n_out, rem, NV);                         \
}                                                                              \
/* panels q0 .. q1-1 (outputs q * bw ...); panel q of zp at zp + q * bw * m */ \
__attribute__((target("avx512f")))                                             \
static void nnc_scatter_forward_##SUF(                                         \
    const int *col_ptr, const int *ids, const int *rows, const T *vals, int n_cols, \
    const T *wt, const T *b, int n_out, int m, int bw, int q0, int q1, T *zp, T *z) \
{                                                                              \
    for (int q = q0; q < q1; q++) {                                            \
        T *pz = zp + (ptrdiff_t)q * bw * m;                                    \
        if (bw == 4 * LANES)                                                   \
            nnc_scatter_panel_##SUF(col_ptr, ids, rows, vals, n_cols, wt, b, n_out, m, 4, \
                                    q * bw, pz, z);                            \
        else                                                                   \
            nnc_scatter_panel_##SUF(col_ptr, ids, rows, vals, n_cols, wt, b, n_out, m, 2, \
                                    q * bw, pz, z);                            \
    }                                                                          \
}
NNC_AVX512_SCATTER(f, float, __m512, 16, __mmask16, _mm512_maskz_loadu_ps, _mm512_loadu_ps,
                   _mm512_storeu_ps, _mm512_fmadd_ps, _mm512_set1_ps)
NNC_AVX512_SCATTER(d, double, __m512d, 8, __mmask8, _mm512_maskz_loadu_pd, _mm512_loadu_pd,
                   _mm512_storeu_pd, _mm512_fmadd_pd, _mm512_set1_pd)

/* the strips s0 .. s1-1 of the batch's dense rows x + order[i] * nf
 * (i < rows): strip s's entries at s * stride (stride >= rows, odd: strips a
 * multiple of 4 KB apart would make the stores to srows and svals alias the
 * next loads in L1, which took this 1.7x as long); count[k * n_strips + s]:
 * its entries in the rows before min((k + 1) * block, rows), for the blocks
 * k of `block` rows.  A group of NNC_STRIP_GROUP strips at a time through
 * all the rows: the first group asks for the rows' whole span ahead, into
 * L2, the later ones for their part, into L1.  Returns the non-zeros seen;
 * *bad: the first row with NaN or inf here, or rows. */
#define NNC_AVX512_BUILD_STRIPS(SUF, T, VEC, LANES, LOADU, CMP, SUB, ZERO)     \
__attribute__((target("avx512f")))                                             \
static long long nnc_strips_##SUF(                                             \
    const T *x, ptrdiff_t nf, const long long *order, int rows, int s0, int s1, \
    int n_strips, int block, int stride, int *count, int *srows, T *svals,    \
    int *bad)                                                                  \
{                                                                              \
    /* the last block's counts hold the next entry's position meanwhile */   \
    int *pos = count + (ptrdiff_t)((rows - 1) / block) * n_strips;             \
    const int per = LANES / NNC_STRIP;  /* strips a vector */                 \
    long long nnz = 0;                                                         \
    *bad = rows;                                                               \
    for (int s = s0; s < s1; s++)                                              \
        pos[s] = s * stride;                                                   \
    for (int g0 = s0; g0 < s1; g0 += NNC_STRIP_GROUP) {                        \
        const int g1 = s1 - g0 < NNC_STRIP_GROUP ? s1 : g0 + NNC_STRIP_GROUP;  \
        const int whole = (int)(nf / NNC_STRIP) < g1 ? (int)(nf / NNC_STRIP) : g1; \
        const int s_vec = whole > g0 ? g0 + (whole - g0) / per * per : g0;     \
        for (int i = 0; i < rows; i++) {                                       \
            const T *row = x + order[i] * nf;                                  \
            unsigned nonfinite = 0;                                            \
            if (i + NNC_STRIP_AHEAD < rows) {  /* random rows: ask for one early */ \
                const T *ahead = x + order[i + NNC_STRIP_AHEAD] * nf;          \
                if (g0 == s0)                                                  \
                    nnc_prefetch_span_l2(ahead + (ptrdiff_t)s0 * NNC_STRIP,    \
                                         (size_t)(s1 - s0) * NNC_STRIP * sizeof(T)); \
                else                                                           \
                    nnc_prefetch_span(ahead + (ptrdiff_t)g0 * NNC_STRIP,       \
                                      (size_t)(g1 - g0) * NNC_STRIP * sizeof(T)); \
            }                                                                  \
            int s = g0;                                                        \
            for (; s < s_vec; s += per) {                                      \
                const VEC v = LOADU(row + (ptrdiff_t)s * NNC_STRIP);           \
                const unsigned k = CMP(v, ZERO, _CMP_NEQ_UQ);                  \
                nonfinite |= CMP(SUB(v, v), ZERO, _CMP_NEQ_UQ);                \
                nnz += __builtin_popcount(k);                                  \
                for (int j = 0; j < per; j++) {                                \
                    /* branch-free: an all-zero strip's entry is written but not \
                     * counted (the next sample's overwrites it; position <= i) */ \
                    const ptrdiff_t e = pos[s + j];                            \
                    srows[e] = i;                                              \
                    memcpy(svals + e * NNC_STRIP, row + (ptrdiff_t)(s + j) * NNC_STRIP, \
                           NNC_STRIP * sizeof(T));                             \
                    pos[s + j] += ((k >> (j * NNC_STRIP)) & 15) != 0;          \
                }                                                              \
            }                                                                  \
            for (; s < g1; s++) {  /* the rest; the last may have fewer inputs */ \
                T v[NNC_STRIP];                                                \
                int nz = 0;                                                    \
                for (int c = 0; c < NNC_STRIP; c++) {                          \
                    const ptrdiff_t col = (ptrdiff_t)s * NNC_STRIP + c;        \
                    v[c] = col < nf ? row[col] : 0;                            \
                    nz += v[c] != 0;                                           \
                    nonfinite |= !(v[c] - v[c] == 0);                          \
                }                                                              \
                const ptrdiff_t e = pos[s];                                    \
                srows[e] = i;                                                  \
                memcpy(svals + e * NNC_STRIP, v, sizeof v);                    \
                pos[s] += nz != 0;                                             \
                nnz += nz;                                                     \
            }                                                                  \
            if (nonfinite && i < *bad) *bad = i;                               \
            if ((i + 1) % block == 0 && i + 1 < rows)  /* a block ends */      \
                for (int s = g0; s < g1; s++)                                  \
                    count[(ptrdiff_t)(i / block) * n_strips + s] = pos[s] - s * stride; \
        }                                                                      \
    }                                                                          \
    for (int s = s0; s < s1; s++)                                              \
        pos[s] -= s * stride;                                                  \
    return nnz;                                                                \
}
NNC_AVX512_BUILD_STRIPS(f, float, __m512, 16, _mm512_loadu_ps, _mm512_cmp_ps_mask, _mm512_sub_ps,
                        _mm512_setzero_ps())
NNC_AVX512_BUILD_STRIPS(d, double, __m512d, 8, _mm512_loadu_pd, _mm512_cmp_pd_mask,
                        _mm512_sub_pd, _mm512_setzero_pd())

/* the strips' kernels (see nnc_strips above) */

/* BP4's loop over a strip's entries: a[c][] += x[c] * (the sample's panel
 * row of delta, loaded by LOAD_DV for vector v) */
#define NNC_STRIP_GRAD_ENTRIES(T, VEC, LANES, FMA, SET1, LOAD_DV)              \
    for (int e = e0; e < e1; e++) {                                            \
        const T *d = dq + (ptrdiff_t)srows[e] * bw;                            \
        const T *x = svals + (ptrdiff_t)e * NNC_STRIP;                         \
        VEC dv[4];                                                             \
        for (int v = 0; v < NV; v++) dv[v] = LOAD_DV;                          \
        for (int c = 0; c < NNC_STRIP; c++) {                                  \
            const VEC xc = SET1(x[c]);                                         \
            for (int v = 0; v < NV; v++) a[c][v] = FMA(xc, dv[v], a[c][v]);    \
        }                                                                      \
    }

#define NNC_AVX512_STRIPS(SUF, T, VEC, LANES, MT, LOADZ, LOADU, STOREU, STOREM, FMA, SET1) \
/* z = b + x W for the outputs o .. o + NV * LANES - 1, through the panel   \
 * pz (m rows of NV * LANES values), a block of rows at a time (blocks of   \
 * `block` rows: their panel stays in L1), then copied out to z's rows;     \
 * count: the strips' entries in the blocks so far (nnc_strips) */          \
__attribute__((target("avx512f"), always_inline))                             \
static inline void nnc_strip_panel_##SUF(                                      \
    const int *count, int stride, const int *srows, const T *svals,           \
    int n_strips, int block,                                                   \
    const T *wt, const T *b, int n_in, int n_out, int m, const int NV, int o,  \
    T *pz, T *z)                                                               \
{                                                                              \
    const int rem = n_out - o, bw = NV * LANES;                                \
    MT mk[4];                                                                  \
    for (int v = 0; v < NV; v++) mk[v] = nnc_mask_##T(rem - v * LANES);        \
    for (int r0 = 0, blk = 0; r0 < m; r0 += block, blk++) {                    \
        const int rows = m - r0 < block ? m - r0 : block;                      \
        const int *upto = count + (ptrdiff_t)blk * n_strips;                   \
        nnc_panel_bias_##SUF(pz + (ptrdiff_t)r0 * bw, rows, b + o, rem, NV);   \
        for (int s = 0; s < n_strips; s++) {                                   \
            const int e0 = s * stride + (blk ? upto[s - n_strips] : 0);        \
            const int e1 = s * stride + upto[s], c0 = s * NNC_STRIP;           \
            if (e0 == e1) continue;                                            \
            VEC w[NNC_STRIP][4];                                               \
            for (int c = 0; c < NNC_STRIP; c++)                                \
                for (int v = 0; v < NV; v++)  /* past the last input: no row of W */ \
                    w[c][v] = LOADZ(c0 + c < n_in ? mk[v] : (MT)0,             \
                                    wt + (ptrdiff_t)(c0 + c) * n_out + o + v * LANES); \
            for (int e = e0; e < e1; e++) {                                    \
                T *zr = pz + (ptrdiff_t)srows[e] * bw;                         \
                const T *x = svals + (ptrdiff_t)e * NNC_STRIP;                 \
                VEC a[4];                                                      \
                for (int v = 0; v < NV; v++) a[v] = LOADU(zr + v * LANES);     \
                for (int c = 0; c < NNC_STRIP; c++) {                          \
                    const VEC xc = SET1(x[c]);                                 \
                    for (int v = 0; v < NV; v++) a[v] = FMA(xc, w[c][v], a[v]); \
                }                                                              \
                for (int v = 0; v < NV; v++) STOREU(zr + v * LANES, a[v]);     \
            }                                                                  \
        }                                                                      \
        nnc_panel_out_##SUF(pz + (ptrdiff_t)r0 * bw, rows, z + (ptrdiff_t)r0 * n_out + o, \
                            n_out, rem, NV);                                   \
    }                                                                          \
}                                                                              \
/* g (+)= x^T d for the outputs o .. o + NV * LANES - 1, d in the panel dq  \
 * (m rows of NV * LANES values, pack_delta's layout); add: start from g,  \
 * else from zero (and untouched strips' rows become zero) */              \
__attribute__((target("avx512f"), always_inline))                             \
static inline void nnc_strip_grad_panel_##SUF(                                 \
    const int *count, int stride, const int *srows, const T *svals,           \
    int n_strips,                                                              \
    const T *dq, int n_in, int n_out, const int NV, int o, T *g, int add)      \
{                                                                              \
    const int rem = n_out - o, bw = NV * LANES;                                \
    MT mk[4];                                                                  \
    for (int v = 0; v < NV; v++) mk[v] = nnc_mask_##T(rem - v * LANES);        \
    for (int s = 0; s < n_strips; s++) {                                       \
        const int e0 = s * stride, e1 = e0 + count[s], c0 = s * NNC_STRIP;     \
        const int nc = n_in - c0 < NNC_STRIP ? n_in - c0 : NNC_STRIP;          \
        if (add && e0 == e1) continue;                                         \
        VEC a[NNC_STRIP][4];                                                   \
        for (int c = 0; c < NNC_STRIP; c++)                                    \
            for (int v = 0; v < NV; v++)                                       \
                a[c][v] = LOADZ(add && c < nc ? mk[v] : (MT)0,                 \
                                g + (ptrdiff_t)(c0 + c) * n_out + o + v * LANES); \
        /* masks only in a partial panel's loop: with them there, 4 vectors \
         * a row spilled a[][] to the stack (1.6x the time) */                \
        if (rem >= bw)                                                         \
            NNC_STRIP_GRAD_ENTRIES(T, VEC, LANES, FMA, SET1, LOADU(d + v * LANES)) \
        else                                                                   \
            NNC_STRIP_GRAD_ENTRIES(T, VEC, LANES, FMA, SET1, LOADZ(mk[v], d + v * LANES)) \
        /* constant bounds, so that a[][] stays in registers */                \
        for (int c = 0; c < NNC_STRIP; c++)                                    \
            for (int v = 0; v < NV; v++) {                                     \
                T *gc = g + (ptrdiff_t)(c0 + c) * n_out + o + v * LANES;       \
                if (c >= nc || v * LANES >= rem) continue;                     \
                if (rem - v * LANES >= LANES) STOREU(gc, a[c][v]);             \
                else STOREM(gc, mk[v], a[c][v]);                               \
            }                                                                  \
    }                                                                          \
}                                                                              \
/* panels q0 .. q1-1 of bw (2 or 4 vectors) outputs; panel q of zp and dp   \
 * at + q * bw * m */                                                         \
__attribute__((target("avx512f")))                                             \
static void nnc_strip_forward_##SUF(                                           \
    const int *count, int stride, const int *srows, const T *svals, int n_strips, int block, \
    const T *wt, const T *b, int n_in, int n_out, int m, int bw, int q0, int q1, T *zp, \
    T *z)                                                                      \
{                                                                              \
    for (int q = q0; q < q1; q++) {                                            \
        T *pz = zp + (ptrdiff_t)q * bw * m;                                    \
        if (bw == 4 * LANES)                                                   \
            nnc_strip_panel_##SUF(count, stride, srows, svals, n_strips, block, wt, b, n_in, \
                                  n_out, m, 4, q * bw, pz, z);                 \
        else                                                                   \
            nnc_strip_panel_##SUF(count, stride, srows, svals, n_strips, block, wt, b, n_in, \
                                  n_out, m, 2, q * bw, pz, z);                 \
    }                                                                          \
}                                                                              \
__attribute__((target("avx512f")))                                             \
static void nnc_strip_grads_##SUF(                                             \
    const int *count, int stride, const int *srows, const T *svals, int n_strips, const T *dp, \
    int m, int n_in, int n_out, int bw, int q0, int q1, T *g, int add)         \
{                                                                              \
    for (int q = q0; q < q1; q++) {                                            \
        const T *dq = dp + (ptrdiff_t)q * bw * m;                              \
        if (bw == 4 * LANES)                                                   \
            nnc_strip_grad_panel_##SUF(count, stride, srows, svals, n_strips, dq, n_in, n_out, 4, \
                                       q * bw, g, add);                        \
        else                                                                   \
            nnc_strip_grad_panel_##SUF(count, stride, srows, svals, n_strips, dq, n_in, n_out, 2, \
                                       q * bw, g, add);                        \
    }                                                                          \
}
NNC_AVX512_STRIPS(f, float, __m512, 16, __mmask16, _mm512_maskz_loadu_ps, _mm512_loadu_ps,
                  _mm512_storeu_ps, _mm512_mask_storeu_ps, _mm512_fmadd_ps, _mm512_set1_ps)
NNC_AVX512_STRIPS(d, double, __m512d, 8, __mmask8, _mm512_maskz_loadu_pd, _mm512_loadu_pd,
                  _mm512_storeu_pd, _mm512_mask_storeu_pd, _mm512_fmadd_pd, _mm512_set1_pd)

/* vectors of one lane width (64 bytes) per panel row, or 0 where the panel
 * kernel is not available (no AVX-512 on this CPU, or a build without it) */
static int nnc_delta_lanes_f(void) { return nnc_avx512() ? 16 : 0; }
static int nnc_delta_lanes_d(void) { return nnc_avx512() ? 8 : 0; }
#define nnc_panel_grads_f nnc_panel_grads_avx512_f
#define nnc_panel_grads_d nnc_panel_grads_avx512_d

/* Row form, AVX-512: every non-zero input updates one row of g, so stores
 * happen per entry.  Masked stores are slow on some CPUs (AMD Zen 4/5, and
 * this project's Xeon: 2x as long per entry), so the tail of a row is one
 * whole vector ending at n_out that overlaps the last full one: its
 * overlapping lanes add 0 (delta masked to zero there) and are stored first,
 * so the full vector's store, made last, wins.  Four entries of a sample go
 * together when their columns increase (always, for compacted rows and
 * canonical CSR): all four rows of g are loaded before any is stored, which
 * the CPU cannot do by itself across stores to unknown addresses (measured:
 * 2.5x faster per entry for 32 outputs).  Duplicate or unsorted columns go
 * one at a time. */
#define NNC_ROW4(T, VEC, LOADU, STOREU, FMA, OFF, DV)                            \
    do {                                                                       \
        const VEC x0 = LOADU(g0 + (OFF)), x1 = LOADU(g1 + (OFF));              \
        const VEC x2 = LOADU(g2 + (OFF)), x3 = LOADU(g3 + (OFF));              \
        STOREU(g0 + (OFF), FMA(v0, (DV), x0));                                 \
        STOREU(g1 + (OFF), FMA(v1, (DV), x1));                                 \
        STOREU(g2 + (OFF), FMA(v2, (DV), x2));                                 \
        STOREU(g3 + (OFF), FMA(v3, (DV), x3));                                 \
    } while (0)
#define NNC_AVX512_ROW_GRADS(SUF, T, VEC, LANES, MT, LOADU, STOREU, LOADZ, FMA, SET1, FMAS) \
__attribute__((target("avx512f,avx512vl,fma")))                               \
static void nnc_row_grads_avx512_##SUF(const int *cols, const T *vals, const int *counts, \
                                       ptrdiff_t stride, int rows, const T *delta, \
                                       int n_out, T *g)                       \
{                                                                              \
    const int nfull = n_out / LANES, rem = n_out % LANES;                      \
    if (nfull == 0) {  /* fewer outputs than a vector: scalars */             \
        for (int i = 0; i < rows; i++) {                                       \
            const T *d = delta + (ptrdiff_t)i * n_out;                         \
            for (int p = 0; p < counts[i]; p++) {                              \
                T *gj = g + (ptrdiff_t)cols[i * stride + p] * n_out;           \
                const T vs = vals[i * stride + p];                             \
                for (int o = 0; o < n_out; o++)                                \
                    gj[o] = FMAS(vs, d[o], gj[o]);                             \
            }                                                                  \
        }                                                                      \
        return;                                                                \
    }                                                                          \
    /* whole vectors [0, body), then (rem > 0) the pair last / tail */        \
    const int last = LANES * (nfull - 1), tail = n_out - LANES;                \
    const int body = rem ? last : n_out;                                       \
    const MT fresh = (MT)(~0u << (LANES - rem));                               \
    for (int i = 0; i < rows; i++) {                                           \
        const T *d = delta + (ptrdiff_t)i * n_out;                             \
        const VEC d_last = LOADU(d + last);                                    \
        const VEC d_tail = LOADZ(fresh, d + tail);                             \
        const int *ci = cols + i * stride;                                     \
        const T *vi = vals + i * stride;                                       \
        const int cnt = counts[i];                                             \
        int p = 0;                                                             \
        for (; p + 4 <= cnt; p += 4) {                                         \
            if (!(ci[p] < ci[p + 1] && ci[p + 1] < ci[p + 2] && ci[p + 2] < ci[p + 3])) \
                break;                                                         \
            T *g0 = g + (ptrdiff_t)ci[p] * n_out, *g1 = g + (ptrdiff_t)ci[p + 1] * n_out; \
            T *g2 = g + (ptrdiff_t)ci[p + 2] * n_out, *g3 = g + (ptrdiff_t)ci[p + 3] * n_out; \
            const VEC v0 = SET1(vi[p]), v1 = SET1(vi[p + 1]);                  \
            const VEC v2 = SET1(vi[p + 2]), v3 = SET1(vi[p + 3]);              \
            for (int o = 0; o < body; o += LANES)                              \
                NNC_ROW4(T, VEC, LOADU, STOREU, FMA, o, LOADU(d + o));         \
            if (rem) {                                                         \
                const VEC l0 = LOADU(g0 + last), l1 = LOADU(g1 + last);        \
                const VEC l2 = LOADU(g2 + last), l3 = LOADU(g3 + last);        \
                NNC_ROW4(T, VEC, LOADU, STOREU, FMA, tail, d_tail);            \
                STOREU(g0 + last, FMA(v0, d_last, l0));                        \
                STOREU(g1 + last, FMA(v1, d_last, l1));                        \
                STOREU(g2 + last, FMA(v2, d_last, l2));                        \
                STOREU(g3 + last, FMA(v3, d_last, l3));                        \
            }                                                                  \
        }                                                                      \
        for (; p < cnt; p++) {                                                 \
            T *gj = g + (ptrdiff_t)ci[p] * n_out;                              \
            const VEC v = SET1(vi[p]);                                         \
            for (int o = 0; o < body; o += LANES)                              \
                STOREU(gj + o, FMA(v, LOADU(d + o), LOADU(gj + o)));           \
            if (rem) {                                                         \
                const VEC g_last = LOADU(gj + last), g_tail = LOADU(gj + tail); \
                STOREU(gj + tail, FMA(v, d_tail, g_tail));                     \
                STOREU(gj + last, FMA(v, d_last, g_last));                     \
            }                                                                  \
        }                                                                      \
    }                                                                          \
}
NNC_AVX512_ROW_GRADS(f, float, __m512, 16, __mmask16, _mm512_loadu_ps, _mm512_storeu_ps,
                     _mm512_maskz_loadu_ps, _mm512_fmadd_ps, _mm512_set1_ps, __builtin_fmaf)
NNC_AVX512_ROW_GRADS(d, double, __m512d, 8, __mmask8, _mm512_loadu_pd, _mm512_storeu_pd,
                     _mm512_maskz_loadu_pd, _mm512_fmadd_pd, _mm512_set1_pd, __builtin_fma)


/* ---- packed first layer.  W^T's rows lie n_out * sizeof(T) bytes apart (1-2 KB
 * for MNIST's hidden layers): the 64-byte pieces of them that one block of
 * outputs reads then fall into a few sets of L1 and evict each other, and the
 * sparse forward runs from L2.  Packed, W^T is cut into panels of one vector
 * of outputs each, a panel holding that vector of every row contiguously
 * (n_in x LANES; the last panel's missing lanes are zero): the rows of a
 * panel that a batch touches (~600 of MNIST's 784, 38 KB) then stay in L1
 * while every sample of the batch reads them.  Each output is summed in the
 * same order as by the unpacked kernel (bias, then the inputs in order), so
 * the results are the same to the bit. */
#define NNC_AVX512_PACKED(SUF, T, VEC, LANES, MT, LOADZ, STOREU, MSTORE, FMA, SET1, LOADU) \
__attribute__((target("avx512f")))                                             \
static void nnc_pack_panels_##SUF(const T *wt, int n_in, int n_out, T *P,    \
                                   const int *rows, int n_rows)                \
{                                                                              \
    /* rows of W^T to (re)pack: rows[0 .. n_rows-1], or all when rows is NULL */ \
    const int np = (n_out + LANES - 1) / LANES;                                \
    for (int r = 0; r < (rows ? n_rows : n_in); r++) {                         \
        const int j = rows ? rows[r] : r;                                      \
        const T *w = wt + (ptrdiff_t)j * n_out;                                \
        for (int k = 0; k < np; k++)                                           \
            STOREU(P + ((ptrdiff_t)k * n_in + j) * LANES,                      \
                   LOADZ(nnc_mask_##T(n_out - k * LANES), w + k * LANES));      \
    }                                                                          \
}                                                                              \
__attribute__((target("avx512f")))                                             \
static void nnc_sparse_packed_##SUF(                                           \
    const int *cols, const T *vals, const int *counts, ptrdiff_t stride,       \
    int r0, int r1, const T *P, int n_in, const T *b, T *z, int n_out)         \
{                                                                              \
    const int np = (n_out + LANES - 1) / LANES;                                \
    for (int k = 0; k < np; k++) {                                             \
        const T *Pk = P + (ptrdiff_t)k * n_in * LANES;                         \
        const int rem = n_out - k * LANES;                                     \
        const MT m = nnc_mask_##T(rem);                                        \
        const VEC bk = LOADZ(m, b + k * LANES);                                \
        int i = r0;                                                            \
        /* four samples at a time: four independent chains of FMAs */        \
        for (; i + 4 <= r1; i += 4) {                                          \
            const int *c0 = cols + (ptrdiff_t)i * stride, *c1 = c0 + stride;   \
            const int *c2 = c1 + stride, *c3 = c2 + stride;                    \
            const T *v0 = vals + (ptrdiff_t)i * stride, *v1 = v0 + stride;     \
            const T *v2 = v1 + stride, *v3 = v2 + stride;                      \
            const int n0 = counts[i], n1 = counts[i + 1];                      \
            const int n2 = counts[i + 2], n3 = counts[i + 3];                  \
            int lo = n0 < n1 ? n0 : n1, p;                                     \
            lo = lo < n2 ? lo : n2;                                            \
            lo = lo < n3 ? lo : n3;                                            \
            VEC a0 = bk, a1 = bk, a2 = bk, a3 = bk;                            \
            for (p = 0; p < lo; p++) {                                         \
                a0 = FMA(SET1(v0[p]), LOADU(Pk + (ptrdiff_t)c0[p] * LANES), a0); \
                a1 = FMA(SET1(v1[p]), LOADU(Pk + (ptrdiff_t)c1[p] * LANES), a1); \
                a2 = FMA(SET1(v2[p]), LOADU(Pk + (ptrdiff_t)c2[p] * LANES), a2); \
                a3 = FMA(SET1(v3[p]), LOADU(Pk + (ptrdiff_t)c3[p] * LANES), a3); \
            }                                                                  \
            for (int q = p; q < n0; q++)                                       \
                a0 = FMA(SET1(v0[q]), LOADU(Pk + (ptrdiff_t)c0[q] * LANES), a0); \
            for (int q = p; q < n1; q++)                                       \
                a1 = FMA(SET1(v1[q]), LOADU(Pk + (ptrdiff_t)c1[q] * LANES), a1); \
            for (int q = p; q < n2; q++)                                       \
                a2 = FMA(SET1(v2[q]), LOADU(Pk + (ptrdiff_t)c2[q] * LANES), a2); \
            for (int q = p; q < n3; q++)                                       \
                a3 = FMA(SET1(v3[q]), LOADU(Pk + (ptrdiff_t)c3[q] * LANES), a3); \
            T *zi = z + (ptrdiff_t)i * n_out + k * LANES;                      \
            if (rem >= LANES) {                                                \
                STOREU(zi, a0); STOREU(zi + n_out, a1);                        \
                STOREU(zi + 2 * n_out, a2); STOREU(zi + 3 * n_out, a3);        \
            } else {                                                           \
                MSTORE(zi, m, a0); MSTORE(zi + n_out, m, a1);                  \
                MSTORE(zi + 2 * n_out, m, a2); MSTORE(zi + 3 * n_out, m, a3);  \
            }                                                                  \
        }                                                                      \
        for (; i < r1; i++) {                                                  \
            const int *ci = cols + (ptrdiff_t)i * stride;                      \
            const T *vi = vals + (ptrdiff_t)i * stride;                        \
            VEC a0 = bk;                                                       \
            for (int p = 0; p < counts[i]; p++)                                \
                a0 = FMA(SET1(vi[p]), LOADU(Pk + (ptrdiff_t)ci[p] * LANES), a0); \
            T *zi = z + (ptrdiff_t)i * n_out + k * LANES;                      \
            if (rem >= LANES) STOREU(zi, a0); else MSTORE(zi, m, a0);          \
        }                                                                      \
    }                                                                          \
}
NNC_AVX512_PACKED(f, float, __m512, 16, __mmask16, _mm512_maskz_loadu_ps, _mm512_storeu_ps,
                  _mm512_mask_storeu_ps, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_loadu_ps)
NNC_AVX512_PACKED(d, double, __m512d, 8, __mmask8, _mm512_maskz_loadu_pd, _mm512_storeu_pd,
                  _mm512_mask_storeu_pd, _mm512_fmadd_pd, _mm512_set1_pd, _mm512_loadu_pd)

/* lanes of a panel (one 64-byte vector), or 0 where the packed kernels are
 * not available (no AVX-512 on this CPU, or a build without them) */
static int nnc_panel_lanes_f(void) { return nnc_avx512() ? 16 : 0; }
static int nnc_panel_lanes_d(void) { return nnc_avx512() ? 8 : 0; }

NNC_AVX512_SPARSE(f, float, __m512, 16, __mmask16, _mm512_maskz_loadu_ps,
                  _mm512_mask_storeu_ps, _mm512_fmadd_ps, _mm512_set1_ps)
NNC_AVX512_SPARSE(d, double, __m512d, 8, __mmask8, _mm512_maskz_loadu_pd,
                  _mm512_mask_storeu_pd, _mm512_fmadd_pd, _mm512_set1_pd)

#define NNC_SPARSE_ENTRY(SUF, T)                                                \
static void nnc_sparse_forward_##SUF(                                          \
    const int *cols, const T *vals, const int *counts, ptrdiff_t stride,       \
    int r0, int r1, const T *wt, const T *b, T *z, int n_out, int far)         \
{                                                                              \
    if (nnc_avx512())                                                          \
        nnc_sparse_rows_avx512_##SUF(cols, vals, counts, stride, r0, r1, wt, b, z, n_out, far); \
    else                                                                       \
        nnc_sparse_rows_##SUF(cols, vals, counts, stride, r0, r1, wt, b, z, n_out); \
}                                                                              \
static void nnc_sparse_grad_##SUF(                                             \
    const int *col_ptr, const int *ids, const int *rows, const T *vals,        \
    int k0, int k1, const T *delta, int n_out, T alpha, T *g, int far)         \
{                                                                              \
    if (nnc_avx512())                                                          \
        nnc_column_grads_avx512_##SUF(col_ptr, ids, rows, vals, k0, k1, delta, n_out, alpha, g, far); \
    else                                                                       \
        nnc_column_grads_##SUF(col_ptr, ids, rows, vals, k0, k1, delta, n_out, alpha, g); \
}
NNC_SPARSE_ENTRY(f, float)
NNC_SPARSE_ENTRY(d, double)

#define NNC_ROW_ENTRY(SUF, T)                                                   \
static void nnc_sparse_row_grad_##SUF(                                         \
    const int *cols, const T *vals, const int *counts, ptrdiff_t stride,       \
    int rows, const T *delta, int n_out, T *g)                                 \
{                                                                              \
    if (nnc_avx512())                                                          \
        nnc_row_grads_avx512_##SUF(cols, vals, counts, stride, rows, delta, n_out, g); \
    else                                                                       \
        nnc_row_grads_##SUF(cols, vals, counts, stride, rows, delta, n_out, g); \
}
NNC_ROW_ENTRY(f, float)
NNC_ROW_ENTRY(d, double)

static int nnc_compact_f(const float *row, int n, int *cols, float *vals)
{
    return nnc_avx512() ? nnc_compact_avx512_f(row, n, cols, vals)
                          : nnc_compact_scalar_f(row, n, cols, vals);
}

static int nnc_compact_d(const double *row, int n, int *cols, double *vals)
{
    return nnc_avx512() ? nnc_compact_avx512_d(row, n, cols, vals)
                          : nnc_compact_scalar_d(row, n, cols, vals);
}
#define NNC_CMPNEQ_PS(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_NEQ_UQ)
#define NNC_CMPNEQ_PD(a, b) _mm512_cmp_pd_mask((a), (b), _CMP_NEQ_UQ)
/* NaN or +-inf: |v| > the largest finite value, or unordered */
#define NNC_NONFINITE_PS(v) _mm512_cmp_ps_mask(_mm512_abs_ps(v), _mm512_set1_ps(FLT_MAX), _CMP_NLE_UQ)
#define NNC_NONFINITE_PD(v) _mm512_cmp_pd_mask(_mm512_abs_pd(v), _mm512_set1_pd(DBL_MAX), _CMP_NLE_UQ)

/* ---- register tiles: the first layer of a small batch of dense rows.
 * For batches of up to NNC_TILE_MAX rows read in place from a dense x, the
 * row form above loads a row of W from L2 for every non-zero input (~1,500 a
 * tutorial batch, the rows 94 KB in all) and must first compact each row.
 * Here the batch's z (forward) or delta (update) stays in registers, two
 * vectors of outputs per sample, and each input column that is non-zero in
 * any row of the batch (nnc_active: ~380 of MNIST's 784 for 10 rows) loads
 * its row of W once and meets every sample, its zeros included.  A zero
 * adds exactly nothing (z + 0*w = z, w + 0*d = w for finite w, d), so each
 * output gets the same terms in the same order as from the row form: the
 * same results to the bit.  The update takes alpha * delta, scaled by the
 * caller, as the row form does.
 *
 * Outputs go in blocks of two vectors, [oa, oa+L) and [ob, ob+L).  A last
 * block that would run past n_out is moved back to end at n_out; the
 * outputs it shares with earlier vectors are computed twice alike in the
 * forward, and masked out of the update (delta zero there), whose vector B
 * is stored before A so that A's new values win where they overlap. */
#define NNC_TILE_MAX 12

/* The next batch's rows (pf[:n_pf], pf_bytes each) are asked for from
 * memory while the tiles compute, line by line as the columns pass them,
 * rather than in one burst that stalls until they arrive: the forward takes
 * the first half of the rows, the update the second.  Every line of the rows
 * is asked for, those past the last active column after the loop, as the
 * active scan reads them all (an image's blank border included), and into
 * L2, not L1: ten rows of MNIST fill a 32 KB L1 (AMD Zen 4), pushing out
 * this batch's rows of W.  Measured there, tutorial epoch: 0.95x float32,
 * 1.0x float64, where into L1 was 1.0x and 1.04x. */
#define NNC_TILE_PREFETCH(OFFSET, LINE, FIRST, PF, N_PF)                       \
    do {                                                                       \
        if ((N_PF) && (FIRST)) {                                               \
            const int last_ = (int)((size_t)(OFFSET) >> 6);                    \
            while ((LINE) < last_) {                                           \
                (LINE)++;                                                      \
                for (int r_ = 0; r_ < (N_PF); r_++)                            \
                    _mm_prefetch((PF)[r_] + ((size_t)(LINE) << 6), _MM_HINT_T1); \
            }                                                                  \
        }                                                                      \
    } while (0)
/* the rest of the rows, and the line of their last byte (a row need not
 * start on a line) */
#define NNC_TILE_PREFETCH_REST(LINE, FIRST, PF, N_PF, PF_BYTES)                 \
    do {                                                                       \
        NNC_TILE_PREFETCH((PF_BYTES) - 1, LINE, FIRST, PF, N_PF);              \
        if ((N_PF) && (FIRST))                                                 \
            for (int r_ = 0; r_ < (N_PF); r_++)                                \
                _mm_prefetch((PF)[r_] + (PF_BYTES) - 1, _MM_HINT_T1);          \
    } while (0)

static inline void nnc_tile_block(int n_out, int lanes, int k, int *oa, int *ob, int *lo)
{
    const int o = 2 * lanes * k;
    if (o + 2 * lanes <= n_out) {
        *oa = o; *ob = o + lanes; *lo = o;
    } else if (n_out >= 2 * lanes) {
        *oa = n_out - 2 * lanes; *ob = n_out - lanes; *lo = o;
    } else {
        *oa = 0; *ob = n_out - lanes; *lo = 0;
    }
}

/* BODY(X, M, ...) with M the constant m (1 .. NNC_TILE_MAX) */
#define NNC_TILE_SWITCH(m, BODY, X, ...)                                        \
    switch (m) {                                                               \
    case 1: BODY(X, 1, __VA_ARGS__); break;                                    \
    case 2: BODY(X, 2, __VA_ARGS__); break;                                    \
    case 3: BODY(X, 3, __VA_ARGS__); break;                                    \
    case 4: BODY(X, 4, __VA_ARGS__); break;                                    \
    case 5: BODY(X, 5, __VA_ARGS__); break;                                    \
    case 6: BODY(X, 6, __VA_ARGS__); break;                                    \
    case 7: BODY(X, 7, __VA_ARGS__); break;                                    \
    case 8: BODY(X, 8, __VA_ARGS__); break;                                    \
    case 9: BODY(X, 9, __VA_ARGS__); break;                                    \
    case 10: BODY(X, 10, __VA_ARGS__); break;                                  \
    case 11: BODY(X, 11, __VA_ARGS__); break;                                  \
    default: BODY(X, 12, __VA_ARGS__); break;                                  \
    }

/* The columns where any of the m rows is non-zero, in increasing order, and
 * (*bad) a bit for each row holding NaN or inf: the one pass over the batch
 * that the tiles need, instead of another for the check of the inputs. */
#define NNC_AVX512_TILE(SUF, T, VEC, LANES, MT, LOADU, STOREU, LOADZ, FMA, SET1,  \
                        CMPNEQ, SETZERO, NONFINITE, ABS, BIG, STORE_IDX)       \
__attribute__((target("avx512f"), always_inline))                             \
static inline int nnc_active_body_##SUF(const T *const *x, const int M, int nf, int *act, \
                                        unsigned *bad)                         \
{                                                                              \
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, \
                                           12, 13, 14, 15);                    \
    /* per row, the sum of v * 0 over its values: 0 while they are finite, \
     * NaN (for good) from the first NaN or inf */                          \
    VEC nonfinite[NNC_TILE_MAX];                                               \
    for (int s = 0; s < M; s++)                                                \
        nonfinite[s] = SETZERO();                                              \
    int n = 0, j = 0;                                                          \
    unsigned rows_bad = 0;                                                     \
    for (; j + LANES <= nf; j += LANES) {                                      \
        MT k = 0;                                                              \
        for (int s = 0; s < M; s++) {                                          \
            const VEC v = LOADU(x[s] + j);                                     \
            k |= CMPNEQ(v, SETZERO());                                         \
            nonfinite[s] = FMA(v, SETZERO(), nonfinite[s]);                    \
        }                                                                      \
        /* compress in registers, then a plain store of LANES indices        \
         * (compress-to-memory is microcoded on AMD Zen 4/5: 14% of the      \
         * tutorial's epoch there); it writes act[n, n + LANES), n <= j. */  \
        STORE_IDX(act + n, _mm512_maskz_compress_epi32(                        \
            (__mmask16)k, _mm512_add_epi32(_mm512_set1_epi32(j), lane)));      \
        n += __builtin_popcount((unsigned)k);                                  \
    }                                                                          \
    for (int s = 0; s < M; s++)                                                \
        rows_bad |= (unsigned)(NONFINITE(nonfinite[s]) != 0) << s;             \
    for (; j < nf; j++) {                                                      \
        int any = 0;                                                           \
        for (int s = 0; s < M; s++) {                                          \
            any |= x[s][j] != 0;                                               \
            rows_bad |= (unsigned)!(ABS(x[s][j]) <= BIG) << s;                 \
        }                                                                      \
        if (any)                                                               \
            act[n++] = j;                                                      \
    }                                                                          \
    *bad = rows_bad;                                                           \
    return n;                                                                  \
}                                                                              \
__attribute__((target("avx512f")))                                             \
static int nnc_active_##SUF(const T *const *x, int m, int nf, int *act, unsigned *bad) \
{                                                                              \
    int n = 0;                                                                 \
    NNC_TILE_SWITCH(m, n = nnc_active_body_##SUF, x, nf, act, bad);            \
    return n;                                                                  \
}                                                                              \
__attribute__((target("avx512f"), always_inline))                             \
static inline void nnc_tile_fwd_body_##SUF(                                    \
    const T *const *x, const int M, const int *act, int n_act, const T *w,     \
    int n_out, const T *b, T *z, const char *const *pf, int n_pf,             \
    size_t pf_bytes)                                                           \
{                                                                              \
    const int nb = n_out <= 2 * LANES ? 1 : (n_out + 2 * LANES - 1) / (2 * LANES); \
    for (int k = 0; k < nb; k++) {                                             \
        int oa, ob, lo;                                                        \
        nnc_tile_block(n_out, LANES, k, &oa, &ob, &lo);                        \
        VEC za[NNC_TILE_MAX], zb[NNC_TILE_MAX];                                \
        const VEC ba = LOADU(b + oa), bb = LOADU(b + ob);                      \
        for (int s = 0; s < M; s++) { za[s] = ba; zb[s] = bb; }                \
        int line = -1;                                                         \
        for (int q = 0; q < n_act; q++) {                                      \
            const int j = act[q];                                              \
            NNC_TILE_PREFETCH((size_t)j * sizeof(T), line, k == 0, pf, n_pf);  \
            const T *wj = w + (ptrdiff_t)j * n_out;                            \
            const VEC wa = LOADU(wj + oa), wb = LOADU(wj + ob);                \
            for (int s = 0; s < M; s++) {                                      \
                const VEC v = SET1(x[s][j]);                                   \
                za[s] = FMA(v, wa, za[s]);                                     \
                zb[s] = FMA(v, wb, zb[s]);                                     \
            }                                                                  \
        }                                                                      \
        NNC_TILE_PREFETCH_REST(line, k == 0, pf, n_pf, pf_bytes);              \
        for (int s = 0; s < M; s++) {                                          \
            STOREU(z + (ptrdiff_t)s * n_out + ob, zb[s]);                      \
            STOREU(z + (ptrdiff_t)s * n_out + oa, za[s]);                      \
        }                                                                      \
    }                                                                          \
}                                                                              \
__attribute__((target("avx512f"), always_inline))                             \
static inline void nnc_tile_upd_body_##SUF(                                    \
    const T *const *x, const int M, const int *act, int n_act, const T *ad,    \
    int n_out, T *g, const char *const *pf, int n_pf, size_t pf_bytes)        \
{                                                                              \
    const int nb = n_out <= 2 * LANES ? 1 : (n_out + 2 * LANES - 1) / (2 * LANES); \
    for (int k = 0; k < nb; k++) {                                             \
        int oa, ob, lo;                                                        \
        nnc_tile_block(n_out, LANES, k, &oa, &ob, &lo);                        \
        const int lob = lo > oa + LANES ? lo : oa + LANES;                     \
        const MT ma = (MT)(oa >= lo ? ~0u : ~0u << (lo - oa));                 \
        const MT mb = (MT)(ob >= lob ? ~0u : ~0u << (lob - ob));               \
        VEC da[NNC_TILE_MAX], db[NNC_TILE_MAX];                                \
        for (int s = 0; s < M; s++) {                                          \
            da[s] = LOADZ(ma, ad + (ptrdiff_t)s * n_out + oa);                 \
            db[s] = LOADZ(mb, ad + (ptrdiff_t)s * n_out + ob);                 \
        }                                                                      \
        /* Each output's sum is a chain of M dependent FMAs (the samples in \
         * order, as in the row form): two columns at a time give four      \
         * chains to overlap, enough to hide the FMA's latency. */          \
        int line = -1, q = 0;                                                  \
        for (; q + 1 < n_act; q += 2) {                                        \
            const int j = act[q], j2 = act[q + 1];                             \
            T *gj = g + (ptrdiff_t)j * n_out, *gj2 = g + (ptrdiff_t)j2 * n_out; \
            NNC_TILE_PREFETCH((size_t)j2 * sizeof(T), line, k == 0, pf, n_pf); \
            VEC ga = LOADU(gj + oa), gb = LOADU(gj + ob);                      \
            VEC ga2 = LOADU(gj2 + oa), gb2 = LOADU(gj2 + ob);                  \
            for (int s = 0; s < M; s++) {                                      \
                const VEC v = SET1(x[s][j]), v2 = SET1(x[s][j2]);              \
                ga = FMA(v, da[s], ga);                                        \
                gb = FMA(v, db[s], gb);                                        \
                ga2 = FMA(v2, da[s], ga2);                                     \
                gb2 = FMA(v2, db[s], gb2);                                     \
            }                                                                  \
            STOREU(gj + ob, gb);                                               \
            STOREU(gj + oa, ga);                                               \
            STOREU(gj2 + ob, gb2);                                             \
            STOREU(gj2 + oa, ga2);                                             \
        }                                                                      \
        if (q < n_act) {                                                       \
            const int j = act[q];                                              \
            T *gj = g + (ptrdiff_t)j * n_out;                                  \
            VEC ga = LOADU(gj + oa), gb = LOADU(gj + ob);                      \
            for (int s = 0; s < M; s++) {                                      \
                const VEC v = SET1(x[s][j]);                                   \
                ga = FMA(v, da[s], ga);                                        \
                gb = FMA(v, db[s], gb);                                        \
            }                                                                  \
            STOREU(gj + ob, gb);                                               \
            STOREU(gj + oa, ga);                                               \
        }                                                                      \
        NNC_TILE_PREFETCH_REST(line, k == 0, pf, n_pf, pf_bytes);              \
    }                                                                          \
}                                                                              \
/* one copy per batch size, so that the tile's loops over samples unroll \
 * and its 2 * M vectors live in registers */                                \
__attribute__((target("avx512f")))                                             \
static void nnc_tile_forward_##SUF(const T *const *x, int m, const int *act, int n_act, \
                                   const T *w, int n_out, const T *b, T *z,    \
                                   const char *const *pf, int n_pf, size_t pf_bytes) \
{                                                                              \
    NNC_TILE_SWITCH(m, nnc_tile_fwd_body_##SUF, x, act, n_act, w, n_out, b, z, \
                    pf, n_pf, pf_bytes);                                       \
}                                                                              \
__attribute__((target("avx512f")))                                             \
static void nnc_tile_update_##SUF(const T *const *x, int m, const int *act, int n_act, \
                                  const T *ad, int n_out, T *g,                \
                                  const char *const *pf, int n_pf, size_t pf_bytes) \
{                                                                              \
    NNC_TILE_SWITCH(m, nnc_tile_upd_body_##SUF, x, act, n_act, ad, n_out, g,   \
                    pf, n_pf, pf_bytes);                                       \
}
NNC_AVX512_TILE(f, float, __m512, 16, __mmask16, _mm512_loadu_ps, _mm512_storeu_ps,
                _mm512_maskz_loadu_ps, _mm512_fmadd_ps, _mm512_set1_ps,
                NNC_CMPNEQ_PS, _mm512_setzero_ps, NNC_NONFINITE_PS, fabsf, FLT_MAX,
                NNC_STORE_IDX16)
NNC_AVX512_TILE(d, double, __m512d, 8, __mmask8, _mm512_loadu_pd, _mm512_storeu_pd,
                _mm512_maskz_loadu_pd, _mm512_fmadd_pd, _mm512_set1_pd,
                NNC_CMPNEQ_PD, _mm512_setzero_pd, NNC_NONFINITE_PD, fabs, DBL_MAX,
                NNC_STORE_IDX8)

/* rows of a batch the tiles take (0: none), for a first layer of n_out
 * outputs: at least one vector of them, and few enough that the tile,
 * which sees every active input, beats the row form.  Measured on MNIST,
 * batch 10, one thread, AVX-512 Xeon (epoch time, tiles / row form): 30
 * outputs 0.85, 64: 0.91, 128: 0.74, 256: 0.73, 512: 0.83 (float32); up to
 * 256 the row form's forward runs on one thread too (m * n_out < 4096). */
#define NNC_TILE_OUTPUTS 256
static int nnc_tile_rows_f(int n_out)
{
    return nnc_avx512() && n_out >= 16 && n_out <= NNC_TILE_OUTPUTS ? NNC_TILE_MAX : 0;
}
static int nnc_tile_rows_d(int n_out)
{
    return nnc_avx512() && n_out >= 8 && n_out <= NNC_TILE_OUTPUTS ? NNC_TILE_MAX : 0;
}
#else
#define nnc_compact_f nnc_compact_scalar_f
#define nnc_compact_d nnc_compact_scalar_d
/* no packed kernels here: the engine never asks for them (lanes 0) */
static int nnc_panel_lanes_f(void) { return 0; }
static int nnc_panel_lanes_d(void) { return 0; }
#define nnc_pack_panels_f(wt, n_in, n_out, P, rows, n_rows) ((void)0)
#define nnc_pack_panels_d(wt, n_in, n_out, P, rows, n_rows) ((void)0)
#define nnc_sparse_packed_f(c, v, n, s, r0, r1, P, n_in, b, z, o) ((void)0)
#define nnc_sparse_packed_d(c, v, n, s, r0, r1, P, n_in, b, z, o) ((void)0)
#define nnc_sparse_forward_f(c, v, n, s, r0, r1, w, b, z, o, far) \
    nnc_sparse_rows_f(c, v, n, s, r0, r1, w, b, z, o)
#define nnc_sparse_forward_d(c, v, n, s, r0, r1, w, b, z, o, far) \
    nnc_sparse_rows_d(c, v, n, s, r0, r1, w, b, z, o)
#define nnc_sparse_grad_f(p, ids, r, v, k0, k1, d, o, a, g, far) \
    nnc_column_grads_f(p, ids, r, v, k0, k1, d, o, a, g)
#define nnc_sparse_grad_d(p, ids, r, v, k0, k1, d, o, a, g, far) \
    nnc_column_grads_d(p, ids, r, v, k0, k1, d, o, a, g)
#define nnc_sparse_row_grad_f nnc_row_grads_f
#define nnc_sparse_row_grad_d nnc_row_grads_d
/* no delta panels either (lanes 0) */
static int nnc_delta_lanes_f(void) { return 0; }
static int nnc_delta_lanes_d(void) { return 0; }
#define nnc_pack_delta_f(d, m, o, bw, al, q0, q1, dp) ((void)0)
#define nnc_pack_delta_d(d, m, o, bw, al, q0, q1, dp) ((void)0)
#define nnc_panel_grads_f(p, ids, r, v, k0, k1, dp, m, o, bw, a, g, P, n) ((void)0)
#define nnc_panel_grads_d(p, ids, r, v, k0, k1, dp, m, o, bw, a, g, P, n) ((void)0)
#define nnc_scatter_forward_f(p, ids, r, v, n, w, b, o, m, bw, q0, q1, zp, z) ((void)0)
#define nnc_scatter_forward_d(p, ids, r, v, n, w, b, o, m, bw, q0, q1, zp, z) ((void)0)
#define nnc_strips_f(x, nf, o, rows, s0, s1, ns, blk, st, cnt, sr, sv, bad) 0
#define nnc_strips_d(x, nf, o, rows, s0, s1, ns, blk, st, cnt, sr, sv, bad) 0
#define nnc_strip_forward_f(cnt, st, sr, sv, ns, blk, w, b, ni, no, m, bw, q0, q1, zp, z) ((void)0)
#define nnc_strip_forward_d(cnt, st, sr, sv, ns, blk, w, b, ni, no, m, bw, q0, q1, zp, z) ((void)0)
#define nnc_strip_grads_f(cnt, st, sr, sv, ns, dp, m, ni, no, bw, q0, q1, g, add) ((void)0)
#define nnc_strip_grads_d(cnt, st, sr, sv, ns, dp, m, ni, no, bw, q0, q1, g, add) ((void)0)
/* no register tiles (rows 0) */
static int nnc_tile_rows_f(int n_out) { (void)n_out; return 0; }
static int nnc_tile_rows_d(int n_out) { (void)n_out; return 0; }
#define nnc_active_f(x, m, nf, act, bad) 0
#define nnc_active_d(x, m, nf, act, bad) 0
#define nnc_tile_forward_f(x, m, act, n, w, o, b, z, pf, npf, pfb) ((void)0)
#define nnc_tile_forward_d(x, m, act, n, w, o, b, z, pf, npf, pfb) ((void)0)
#define nnc_tile_update_f(x, m, act, n, ad, o, g, pf, npf, pfb) ((void)0)
#define nnc_tile_update_d(x, m, act, n, ad, o, g, pf, npf, pfb) ((void)0)
#endif

#endif /* NNC_SIMD_H */
