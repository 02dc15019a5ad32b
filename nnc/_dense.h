/* Elementwise loops of nnc's dense layers, in plain C.
 *
 * Written so that the compiler vectorises them and, with GCC on x86-64
 * Linux, compiled for AVX-512, AVX2+FMA and the baseline, the best chosen at
 * load time (target_clones, as in _simd.h).  Each loop keeps the order of
 * the additions of the scalar code it replaces; only the exponential is
 * computed differently from libm (within 2 ulp, see nnc_exp_*).
 *
 * T is float or double; every function exists in an _f and a _d version.
 */
#ifndef NNC_DENSE_H
#define NNC_DENSE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__) && defined(__GLIBC__) && (__GNUC__ >= 12) && !defined(NNC_NO_CLONES)
#define NNC_DENSE_CLONES \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NNC_DENSE_CLONES
#endif

#if defined(_MSC_VER)
#define NNC_DENSE_RESTRICT __restrict
#else
#define NNC_DENSE_RESTRICT __restrict__
#endif

/* ---- y = exp(x), elementwise, without libm: vectorises.
 * x = k ln2 + r with |r| <= ln2/2 (ln2 in two parts, Cody-Waite), exp(r)
 * by its Taylor polynomial (degree 13 in double, truncation below 5e-18;
 * degree 7 in float, below 6e-9), then times 2^k built in the exponent
 * bits, as two factors so that results that overflow become inf and those
 * that underflow round gradually into the subnormals.  NaN stays NaN.
 * x and y may be the same array. */
NNC_DENSE_CLONES static void nnc_exp_d(const double *x, double *y, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        double v = x[i];
        v = v < -746.0 ? -746.0 : v;  /* below, exp rounds to 0 */
        v = v > 710.0 ? 710.0 : v;    /* above, to inf */
        /* round v / ln2 to the nearest integer by the 1.5 * 2^52 trick */
        const double kd = v * 1.4426950408889634 + 6755399441055744.0;
        const double k = kd - 6755399441055744.0;
        const double r = (v - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
        double p = 1.0 / 6227020800.0;
        p = p * r + 1.0 / 479001600.0;
        p = p * r + 1.0 / 39916800.0;
        p = p * r + 1.0 / 3628800.0;
        p = p * r + 1.0 / 362880.0;
        p = p * r + 1.0 / 40320.0;
        p = p * r + 1.0 / 5040.0;
        p = p * r + 1.0 / 720.0;
        p = p * r + 1.0 / 120.0;
        p = p * r + 1.0 / 24.0;
        p = p * r + 1.0 / 6.0;
        p = p * r + 0.5;
        p = p * r + 1.0;
        p = p * r + 1.0;
        /* k is in [-1077, 1024]: 2^k = 2^h * 2^(k-h), h = k/2, both normal */
        /* kd = 1.5 * 2^52 + k exactly: its bits minus those of 1.5 * 2^52 are k */
        uint64_t kb;
        memcpy(&kb, &kd, sizeof kb);
        const int64_t kk = (int64_t)(kb - 0x4338000000000000ULL);
        const int64_t h = kk >> 1;
        const uint64_t b1 = (uint64_t)(h + 1023) << 52, b2 = (uint64_t)(kk - h + 1023) << 52;
        double s1, s2;
        memcpy(&s1, &b1, sizeof s1);
        memcpy(&s2, &b2, sizeof s2);
        y[i] = (p * s1) * s2;
    }
}

NNC_DENSE_CLONES static void nnc_exp_f(const float *x, float *y, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        float v = x[i];
        v = v < -104.0f ? -104.0f : v;
        v = v > 89.0f ? 89.0f : v;
        const float kf = v * 1.44269504088896341f + 12582912.0f;
        const float k = kf - 12582912.0f;
        const float r = (v - k * 0.693359375f) + k * 2.12194440e-4f;
        float p = 1.0f / 5040.0f;
        p = p * r + 1.0f / 720.0f;
        p = p * r + 1.0f / 120.0f;
        p = p * r + 1.0f / 24.0f;
        p = p * r + 1.0f / 6.0f;
        p = p * r + 0.5f;
        p = p * r + 1.0f;
        p = p * r + 1.0f;
        uint32_t kb;
        memcpy(&kb, &kf, sizeof kb);
        const int32_t kk = (int32_t)(kb - 0x4B400000U);  /* k, in [-150, 128] */
        const int32_t h = kk >> 1;
        const uint32_t b1 = (uint32_t)(h + 127) << 23, b2 = (uint32_t)(kk - h + 127) << 23;
        float s1, s2;
        memcpy(&s1, &b1, sizeof s1);
        memcpy(&s2, &b2, sizeof s2);
        y[i] = (p * s1) * s2;
    }
}

/* ---- a = sigmoid(z) in double, z and a distinct: e = exp(-|z|) for the
 * whole array through nnc_exp_d (within 2 ulp of libm), then 1 / (1 + e), or
 * e / (1 + e) as e * (1 / (1 + e)) for z < 0, never overflowing.  In C with
 * restrict pointers so both passes vectorise: a Cython loop over the same
 * formula (a scalar divide per value) took 1/11 of the tutorial's epoch. */
NNC_DENSE_CLONES static void nnc_sigmoid_d(const double *NNC_DENSE_RESTRICT z,
                                           double *NNC_DENSE_RESTRICT a, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++)
        a[i] = -(z[i] < 0 ? -z[i] : z[i]);
    nnc_exp_d(a, a, n);
    for (ptrdiff_t i = 0; i < n; i++) {
        const double e = a[i];
        const double s = 1.0 / (1.0 + e);
        a[i] = z[i] >= 0 ? s : e * s;
    }
}

/* ---- z += b (each row), a = relu(z) = (z > 0 ? z : 0): the hidden layers'
 * bias and activation in one pass over z. */
#define NNC_BIAS_RELU(SUF, T)                                                   \
NNC_DENSE_CLONES static void nnc_bias_relu_##SUF(                              \
    const T *b, T *NNC_DENSE_RESTRICT z, T *NNC_DENSE_RESTRICT a,              \
    ptrdiff_t rows, ptrdiff_t cols)                                            \
{                                                                              \
    for (ptrdiff_t i = 0; i < rows; i++) {                                     \
        T *NNC_DENSE_RESTRICT zi = z + i * cols;                               \
        T *NNC_DENSE_RESTRICT ai = a + i * cols;                               \
        for (ptrdiff_t o = 0; o < cols; o++) {                                 \
            const T x = zi[o] + b[o];                                          \
            zi[o] = x;                                                         \
            ai[o] = x > 0 ? x : 0;                                             \
        }                                                                      \
    }                                                                          \
}
NNC_BIAS_RELU(f, float)
NNC_BIAS_RELU(d, double)

/* ---- z = relu(z + b) (each row), in place */
#define NNC_BIAS_RELU_INPLACE(SUF, T)                                           \
NNC_DENSE_CLONES static void nnc_bias_relu_inplace_##SUF(                      \
    const T *b, T *NNC_DENSE_RESTRICT z, ptrdiff_t rows, ptrdiff_t cols)       \
{                                                                              \
    for (ptrdiff_t i = 0; i < rows; i++) {                                     \
        T *NNC_DENSE_RESTRICT zi = z + i * cols;                               \
        for (ptrdiff_t o = 0; o < cols; o++) {                                 \
            const T x = zi[o] + b[o];                                          \
            zi[o] = x > 0 ? x : 0;                                             \
        }                                                                      \
    }                                                                          \
}
NNC_BIAS_RELU_INPLACE(f, float)
NNC_BIAS_RELU_INPLACE(d, double)

/* ---- z += b (each row), for the other activations */
#define NNC_ADD_BIAS(SUF, T)                                                    \
NNC_DENSE_CLONES static void nnc_add_bias_##SUF(                               \
    const T *b, T *NNC_DENSE_RESTRICT z, ptrdiff_t rows, ptrdiff_t cols)       \
{                                                                              \
    for (ptrdiff_t i = 0; i < rows; i++) {                                     \
        T *NNC_DENSE_RESTRICT zi = z + i * cols;                               \
        for (ptrdiff_t o = 0; o < cols; o++)                                   \
            zi[o] = zi[o] + b[o];                                              \
    }                                                                          \
}
NNC_ADD_BIAS(f, float)
NNC_ADD_BIAS(d, double)

/* ---- delta = (z > 0 ? delta : 0): relu's Hadamard product (BP2) */
#define NNC_RELU_MASK(SUF, T)                                                   \
NNC_DENSE_CLONES static void nnc_relu_mask_##SUF(                              \
    const T *z, T *NNC_DENSE_RESTRICT delta, ptrdiff_t n)                      \
{                                                                              \
    for (ptrdiff_t i = 0; i < n; i++)                                          \
        delta[i] = z[i] > 0 ? delta[i] : 0;                                    \
}
NNC_RELU_MASK(f, float)
NNC_RELU_MASK(d, double)

/* ---- gb += alpha * (sum of the rows of delta), rows added in order (BP3);
 * delta's rows ld apart (cols of a wider matrix).  Outputs in blocks of 64
 * held in a local array the compiler keeps in registers: gb is read and
 * written once, not once per row. */
#define NNC_BIAS_GRAD(SUF, T)                                                   \
NNC_DENSE_CLONES static void nnc_bias_grad_##SUF(                              \
    const T *delta, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld, T alpha,     \
    T *NNC_DENSE_RESTRICT gb)                                                  \
{                                                                              \
    for (ptrdiff_t o0 = 0; o0 < cols; o0 += 64) {                              \
        const ptrdiff_t w = cols - o0 < 64 ? cols - o0 : 64;                   \
        T acc[64];                                                             \
        for (ptrdiff_t o = 0; o < w; o++)                                      \
            acc[o] = gb[o0 + o];                                               \
        for (ptrdiff_t i = 0; i < rows; i++) {                                 \
            const T *NNC_DENSE_RESTRICT d = delta + i * ld + o0;               \
            for (ptrdiff_t o = 0; o < w; o++)                                  \
                acc[o] = acc[o] + alpha * d[o];                                \
        }                                                                      \
        for (ptrdiff_t o = 0; o < w; o++)                                      \
            gb[o0 + o] = acc[o];                                               \
    }                                                                          \
}
NNC_BIAS_GRAD(f, float)
NNC_BIAS_GRAD(d, double)

/* ---- sum of squares, for the L2 penalty: eight partial sums */
#define NNC_SUMSQ(SUF, T)                                                       \
NNC_DENSE_CLONES static double nnc_sumsq_##SUF(const T *x, ptrdiff_t n)        \
{                                                                              \
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0}, total = 0;                         \
    ptrdiff_t i = 0;                                                           \
    for (; i + 8 <= n; i += 8)                                                 \
        for (int j = 0; j < 8; j++)                                            \
            s[j] += (double)x[i + j] * (double)x[i + j];                       \
    for (; i < n; i++)                                                         \
        s[0] += (double)x[i] * (double)x[i];                                   \
    for (int j = 0; j < 8; j++)                                                \
        total += s[j];                                                         \
    return total;                                                              \
}
NNC_SUMSQ(f, float)
NNC_SUMSQ(d, double)

#endif /* NNC_DENSE_H */
