/* Subnormal floats flushed to zero while the engine runs.
 *
 * A result below the smallest normal float (1.2e-38 in float32, 2.2e-308 in
 * float64) is subnormal, and an operation that reads or writes one takes
 * the slow path on x86 and some ARM cores (about a hundred times longer).
 * They appear late in training (the sigmoid's derivative of saturated
 * units, a softmax's tiny probabilities): the tutorial network's epochs 10
 * to 20 took up to 2x as long as its first.  With the mode on, results that
 * would be subnormal are zero (FTZ) and subnormal inputs read as zero (DAZ,
 * x86); XLA and TensorFlow run this way on CPUs.  The mode is a per-thread
 * register: set at the start of an engine call, restored at its end.
 *
 * nnc_fp_flush(on) sets (on != 0) or clears the mode in the calling thread
 * and returns its bits before the call; nnc_fp_restore(bits) puts them back.
 * Where the register is not known (other CPUs, MSVC on ARM) both do nothing. */
#ifndef NNC_FPMODE_H
#define NNC_FPMODE_H

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#include <xmmintrin.h>
#define NNC_FP_BITS 0x8040u  /* MXCSR: FTZ (bit 15) and DAZ (bit 6) */
static inline unsigned nnc_fp_get(void) { return _mm_getcsr(); }
static inline void nnc_fp_put(unsigned v) { _mm_setcsr(v); }
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#define NNC_FP_BITS (1u << 24)  /* FPCR.FZ */
static inline unsigned nnc_fp_get(void)
{
    unsigned long long v;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(v));
    return (unsigned)v;
}
static inline void nnc_fp_put(unsigned v)
{
    unsigned long long w = v;
    __asm__ __volatile__("msr fpcr, %0" : : "r"(w));
}
#else
#define NNC_FP_BITS 0u
static inline unsigned nnc_fp_get(void) { return 0; }
static inline void nnc_fp_put(unsigned v) { (void)v; }
#endif

static inline int nnc_fp_flush(int on)
{
    const unsigned v = nnc_fp_get();
    if (NNC_FP_BITS)
        nnc_fp_put(on ? (v | NNC_FP_BITS) : (v & ~NNC_FP_BITS));
    return (int)(v & NNC_FP_BITS);
}

static inline void nnc_fp_restore(int bits)
{
    if (NNC_FP_BITS)
        nnc_fp_put((nnc_fp_get() & ~NNC_FP_BITS) | ((unsigned)bits & NNC_FP_BITS));
}

#endif /* NNC_FPMODE_H */
