/* Run-time dispatch between the AVX2/FMA/F16C and the portable copies of the kernels in
 * kernel_body.h. The CPU is asked once (__builtin_cpu_supports); every call then goes straight to
 * the chosen copy. */

#include "ckpt_kernels.h"

/* Both copies must round exactly as written: no contraction of a * b + c into a fused operation
 * unless the code asks for one (Swift, whose results these reproduce, never contracts). */
#pragma STDC FP_CONTRACT OFF
/* The 256-bit vector helpers are static and always inlined: no call crosses an ABI boundary. */
#pragma clang diagnostic ignored "-Wpsabi"

typedef float v8f __attribute__((vector_size(32)));
typedef float v8f_unaligned __attribute__((vector_size(32), aligned(1), may_alias));
typedef uint32_t v8u __attribute__((vector_size(32)));
typedef uint32_t v8u_unaligned __attribute__((vector_size(32), aligned(1), may_alias));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef uint16_t v8h __attribute__((vector_size(16)));
typedef uint16_t v8h_unaligned __attribute__((vector_size(16), aligned(1), may_alias));
typedef double v4d __attribute__((vector_size(32)));
typedef double v4d_unaligned __attribute__((vector_size(32), aligned(1), may_alias));
typedef int64_t v4l __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
#if defined(__x86_64__) || defined(__aarch64__)
typedef _Float16 v8hf __attribute__((vector_size(16)));
#endif

#define CKPT_ATTR
#define CKPT_SUFFIX _portable
#define CKPT_F16C 0
#if defined(__FMA__) || defined(__aarch64__)
#define CKPT_HARDWARE_FMA 1
#else
#define CKPT_HARDWARE_FMA 0
#endif
#include "kernel_body.h"
#undef CKPT_ATTR
#undef CKPT_SUFFIX
#undef CKPT_F16C
#undef CKPT_HARDWARE_FMA

#if defined(__x86_64__)
#define CKPT_ATTR __attribute__((target("avx2,fma,f16c")))
#define CKPT_SUFFIX _avx2
#define CKPT_F16C 1
#define CKPT_HARDWARE_FMA 1
#include "kernel_body.h"
#undef CKPT_ATTR
#undef CKPT_SUFFIX
#undef CKPT_F16C
#undef CKPT_HARDWARE_FMA
#endif

static ckpt_isa detect_isa(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
        return CKPT_ISA_AVX2;
    }
#endif
    return CKPT_ISA_PORTABLE;
}

ckpt_isa ckpt_best_isa(void) {
    /* -1 until detected; a race only makes two threads detect the same answer. */
    static int best = -1;
    int isa = __atomic_load_n(&best, __ATOMIC_RELAXED);
    if (isa < 0) {
        isa = (int)detect_isa();
        __atomic_store_n(&best, isa, __ATOMIC_RELAXED);
    }
    return (ckpt_isa)isa;
}

int ckpt_isa_available(ckpt_isa isa) {
    return isa == CKPT_ISA_PORTABLE || (isa == CKPT_ISA_AVX2 && ckpt_best_isa() == CKPT_ISA_AVX2);
}

void ckpt_difference_sums_isa(ckpt_isa isa, const void *base, ckpt_lane_type base_type,
                              const void *finetuned, ckpt_lane_type finetuned_type,
                              int64_t count, ckpt_difference_sums *out) {
#if defined(__x86_64__)
    if (isa == CKPT_ISA_AVX2) {
        ckpt_difference_sums_avx2(base, (int)base_type, finetuned, (int)finetuned_type, count, out);
        return;
    }
#endif
    ckpt_difference_sums_portable(base, (int)base_type, finetuned, (int)finetuned_type, count, out);
}

void ckpt_difference_sums_best(const void *base, ckpt_lane_type base_type,
                               const void *finetuned, ckpt_lane_type finetuned_type,
                               int64_t count, ckpt_difference_sums *out) {
    ckpt_difference_sums_isa(ckpt_best_isa(), base, base_type, finetuned, finetuned_type, count, out);
}

/* The public entry points of a decoder: one taking the instruction set, one using the best. */
#if defined(__x86_64__)
#define CKPT_AVX2_CALL(name, args) if (isa == CKPT_ISA_AVX2) { name##_avx2 args; return; }
#else
#define CKPT_AVX2_CALL(name, args)
#endif
#define CKPT_DECODER(name)                                                                  \
    void name##_isa(ckpt_isa isa, const void *src, float *dst, int64_t count) {             \
        CKPT_AVX2_CALL(name, (src, dst, count))                                             \
        name##_portable(src, dst, count);                                                   \
    }                                                                                       \
    void name(const void *src, float *dst, int64_t count) {                                 \
        name##_isa(ckpt_best_isa(), src, dst, count);                                       \
    }

CKPT_DECODER(ckpt_decode_f16)
CKPT_DECODER(ckpt_decode_bf16)

void ckpt_widen_isa(ckpt_isa isa, const void *src, ckpt_lane_type type, double *dst, int64_t count) {
#if defined(__x86_64__)
    if (isa == CKPT_ISA_AVX2) { ckpt_widen_avx2(src, (int)type, dst, count); return; }
#endif
    ckpt_widen_portable(src, (int)type, dst, count);
}

void ckpt_widen(const void *src, ckpt_lane_type type, double *dst, int64_t count) {
    ckpt_widen_isa(ckpt_best_isa(), src, type, dst, count);
}

void ckpt_round_f32_isa(ckpt_isa isa, const void *src, ckpt_lane_type target, uint16_t nan_bits, void *dst, int64_t count) {
#if defined(__x86_64__)
    if (isa == CKPT_ISA_AVX2) { ckpt_round_f32_avx2(src, (int)target, nan_bits, dst, count); return; }
#endif
    ckpt_round_f32_portable(src, (int)target, nan_bits, dst, count);
}

void ckpt_round_f32(const void *src, ckpt_lane_type target, uint16_t nan_bits, void *dst, int64_t count) {
    ckpt_round_f32_isa(ckpt_best_isa(), src, target, nan_bits, dst, count);
}

void ckpt_transpose_columns_isa(ckpt_isa isa, const void *src, int64_t rows, int64_t columns, int64_t width,
                                int64_t first, int64_t end, void *dst) {
#if defined(__x86_64__)
    if (isa == CKPT_ISA_AVX2) { ckpt_transpose_columns_avx2(src, rows, columns, width, first, end, dst); return; }
#endif
    ckpt_transpose_columns_portable(src, rows, columns, width, first, end, dst);
}

void ckpt_transpose_columns(const void *src, int64_t rows, int64_t columns, int64_t width, int64_t first, int64_t end, void *dst) {
    ckpt_transpose_columns_isa(ckpt_best_isa(), src, rows, columns, width, first, end, dst);
}

void ckpt_decode_table8(const uint8_t *src, const float *table, float *dst, int64_t count) {
    for (int64_t i = 0; i < count; i++) dst[i] = table[src[i]];
}

int64_t ckpt_scan_block_isa(ckpt_isa isa, const void *base, const void *finetuned, int64_t width,
                            const double *base_values, const double *finetuned_values, int64_t count,
                            ckpt_keep keep, const uint8_t *mask, int64_t first_index,
                            int64_t *indices, int64_t index_capacity, ckpt_scan_sums *sums) {
#if defined(__x86_64__)
    if (isa == CKPT_ISA_AVX2) {
        return ckpt_scan_block_avx2(base, finetuned, width, base_values, finetuned_values, count, (int)keep, mask,
                                    first_index, indices, index_capacity, sums);
    }
#endif
    return ckpt_scan_block_portable(base, finetuned, width, base_values, finetuned_values, count, (int)keep, mask,
                                    first_index, indices, index_capacity, sums);
}

int64_t ckpt_scan_block(const void *base, const void *finetuned, int64_t width,
                        const double *base_values, const double *finetuned_values, int64_t count,
                        ckpt_keep keep, const uint8_t *mask, int64_t first_index,
                        int64_t *indices, int64_t index_capacity, ckpt_scan_sums *sums) {
    return ckpt_scan_block_isa(ckpt_best_isa(), base, finetuned, width, base_values, finetuned_values, count, keep,
                               mask, first_index, indices, index_capacity, sums);
}

ckpt_value_stats ckpt_value_stats_empty(void) {
    ckpt_value_stats s = {0};
    s.min = __builtin_inf();
    s.max = -__builtin_inf();
    return s;
}

/* Chan, Golub and LeVeque's pairwise update: the merged mean and sum of squared deviations of two
 * disjoint runs, without the cancellation of sum-of-squares minus squared sum. */
void ckpt_value_stats_merge(ckpt_value_stats *a, const ckpt_value_stats *b) {
    a->count += b->count;
    a->nan += b->nan;
    a->positive_infinite += b->positive_infinite;
    a->negative_infinite += b->negative_infinite;
    a->zeros += b->zeros;
    if (b->min < a->min) a->min = b->min;
    if (b->max > a->max) a->max = b->max;
    if (b->finite == 0) return;
    if (a->finite == 0) {
        a->finite = b->finite;
        a->mean = b->mean;
        a->m2 = b->m2;
        return;
    }
    double na = (double)a->finite, nb = (double)b->finite, n = na + nb;
    double delta = b->mean - a->mean;
    a->mean = a->mean + delta * (nb / n);
    a->m2 = a->m2 + b->m2 + delta * delta * (na * (nb / n));
    a->finite += b->finite;
}

void ckpt_value_stats_isa(ckpt_isa isa, const void *src, ckpt_lane_type type, int64_t count, ckpt_value_stats *stats) {
#if defined(__x86_64__)
    if (isa == CKPT_ISA_AVX2) { ckpt_value_stats_avx2(src, (int)type, count, stats); return; }
#endif
    ckpt_value_stats_portable(src, (int)type, count, stats);
}

void ckpt_value_stats_best(const void *src, ckpt_lane_type type, int64_t count, ckpt_value_stats *stats) {
    ckpt_value_stats_isa(ckpt_best_isa(), src, type, count, stats);
}

void ckpt_linear_isa(ckpt_isa isa, const float *x, int64_t rows, int64_t in, const float *w, int64_t out, float *y, int accumulate) {
#if defined(__x86_64__)
    if (isa == CKPT_ISA_AVX2) { ckpt_linear_avx2(x, rows, in, w, out, y, accumulate); return; }
#endif
    ckpt_linear_portable(x, rows, in, w, out, y, accumulate);
}

void ckpt_linear_backward_isa(ckpt_isa isa, const float *dy, int64_t rows, int64_t out, const float *w, int64_t in, float *dx, int accumulate) {
#if defined(__x86_64__)
    if (isa == CKPT_ISA_AVX2) { ckpt_linear_backward_avx2(dy, rows, out, w, in, dx, accumulate); return; }
#endif
    ckpt_linear_backward_portable(dy, rows, out, w, in, dx, accumulate);
}

void ckpt_linear(const float *x, int64_t rows, int64_t in, const float *w, int64_t out, float *y, int accumulate) {
    ckpt_linear_isa(ckpt_best_isa(), x, rows, in, w, out, y, accumulate);
}

void ckpt_linear_backward(const float *dy, int64_t rows, int64_t out, const float *w, int64_t in, float *dx, int accumulate) {
    ckpt_linear_backward_isa(ckpt_best_isa(), dy, rows, out, w, in, dx, accumulate);
}

/* The encoder's activations: one entry taking the instruction set (for the tests that compare the
 * copies), one using the best. */
#define CKPT_ACTIVATION(name, params, args)                                                  \
    void name##_isa(ckpt_isa isa, CKPT_UNPAREN params) {                                    \
        CKPT_AVX2_CALL(name, args)                                                          \
        name##_portable args;                                                               \
    }                                                                                       \
    void name(CKPT_UNPAREN params) { name##_isa(ckpt_best_isa(), CKPT_UNPAREN args); }
#define CKPT_UNPAREN(...) __VA_ARGS__
CKPT_ACTIVATION(ckpt_gelu, (float *y, int64_t rows, int64_t cols, const float *bias, float *derivative),
                (y, rows, cols, bias, derivative))
CKPT_ACTIVATION(ckpt_softmax_rows, (float *p, int64_t rows, int64_t count), (p, rows, count))
CKPT_ACTIVATION(ckpt_layer_norm, (const float *input, int64_t rows, int64_t width, const float *weight, const float *bias,
                                  float eps, float *xhat, float *rstd, float *output),
                (input, rows, width, weight, bias, eps, xhat, rstd, output))
CKPT_ACTIVATION(ckpt_layer_norm_backward, (const float *dy, int64_t rows, int64_t width, const float *xhat, const float *rstd,
                                           const float *weight, float *weight_grad, float *bias_grad, float *output),
                (dy, rows, width, xhat, rstd, weight, weight_grad, bias_grad, output))
