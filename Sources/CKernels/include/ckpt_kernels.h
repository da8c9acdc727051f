#ifndef CKPT_KERNELS_H
#define CKPT_KERNELS_H

/* The hot numeric loops of CheckpointKit, in C so that one binary can carry an AVX2/FMA/F16C
 * version and a portable one and pick between them at run time (Swift has no per-function target
 * features, and a package built with -target-cpu cannot be depended upon by version).
 *
 * Both versions run the same operations in the same order (fused multiply-adds included), so they
 * return bit-identical results; the portable one is only slower. Inputs are raw little-endian
 * tensor bytes and need no alignment. */

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Instruction sets a kernel can run with. */
typedef enum {
    /** Plain C (SSE2 on x86-64, NEON on arm64 where the compiler chooses it). */
    CKPT_ISA_PORTABLE = 0,
    /** x86-64 with AVX2, FMA and F16C (Intel Haswell, AMD Excavator and later). */
    CKPT_ISA_AVX2 = 1,
} ckpt_isa;

/** The dtypes the kernels read straight from file bytes (F64: the value-statistics kernel only). */
typedef enum {
    CKPT_LANE_F32 = 0,
    CKPT_LANE_F16 = 1,
    CKPT_LANE_BF16 = 2,
    CKPT_LANE_F64 = 3,
} ckpt_lane_type;

/** The sums of one run of the difference kernel; the fields mirror Swift's DifferenceSums. */
typedef struct {
    int64_t count;
    double base_squares;
    double finetuned_squares;
    double delta_squares;
    double absolute_delta;
    double product;
    double max_absolute_delta;
    int64_t nan_deltas;
    int64_t changed;
    int64_t base_nan;
    int64_t base_infinite;
    int64_t finetuned_nan;
    int64_t finetuned_infinite;
    /** Pairs with a NaN or infinity on either side: counted here and left out of every sum and
     * of the largest difference. */
    int64_t non_finite;
} ckpt_difference_sums;

/** The best instruction set this CPU supports, detected once. */
ckpt_isa ckpt_best_isa(void);

/** Whether `isa` can run on this CPU. */
int ckpt_isa_available(ckpt_isa isa);

/** Sums over `count` elements of `base` (stored as `base_type`) against `finetuned`: squares,
 * squared and absolute differences, products, largest absolute difference, changed elements.
 * Float partial sums of at most 32 terms per lane are added into double every 256 elements.
 * `isa` must be available. */
void ckpt_difference_sums_isa(ckpt_isa isa,
                              const void *base, ckpt_lane_type base_type,
                              const void *finetuned, ckpt_lane_type finetuned_type,
                              int64_t count, ckpt_difference_sums *out);

/** `ckpt_difference_sums_isa` with the best instruction set. */
void ckpt_difference_sums_best(const void *base, ckpt_lane_type base_type,
                               const void *finetuned, ckpt_lane_type finetuned_type,
                               int64_t count, ckpt_difference_sums *out);

/** What one pass over a tensor's values found (`ckpt inspect --values`). min, max, mean and m2
 * cover the finite elements only; NaN and infinities are counted instead. */
typedef struct {
    int64_t count;
    int64_t finite;
    int64_t nan;
    int64_t positive_infinite;
    int64_t negative_infinite;
    /** +0 and -0. */
    int64_t zeros;
    /** Over finite elements; +inf / -inf while there is none. */
    double min;
    double max;
    /** Mean of the finite elements. */
    double mean;
    /** Sum of squared deviations from `mean` (population variance = m2 / finite). */
    double m2;
} ckpt_value_stats;

/** Empty statistics (min +inf, max -inf, every count 0), to merge runs into. */
ckpt_value_stats ckpt_value_stats_empty(void);

/** Merges `count` elements of `src` (stored as `type`, F64 included) into `stats`, in element
 * order: blocks of 4096 elements are reduced in double lanes (two passes over the cached block:
 * sum, then squared deviations from the block's mean) and merged with Chan et al.'s pairwise
 * update, so the result neither cancels like sum-of-squares nor depends on the instruction set.
 * `isa` must be available. */
void ckpt_value_stats_isa(ckpt_isa isa, const void *src, ckpt_lane_type type, int64_t count, ckpt_value_stats *stats);
void ckpt_value_stats_best(const void *src, ckpt_lane_type type, int64_t count, ckpt_value_stats *stats);

/** Merges the statistics `b` of a later run of elements into `a` (Chan et al.). */
void ckpt_value_stats_merge(ckpt_value_stats *a, const ckpt_value_stats *b);

/** IEEE half (F16) to float, exactly; `isa` must be available. */
void ckpt_decode_f16_isa(ckpt_isa isa, const void *src, float *dst, int64_t count);
void ckpt_decode_f16(const void *src, float *dst, int64_t count);

/** bfloat16 to float (exact: the top 16 bits of a float). */
void ckpt_decode_bf16_isa(ckpt_isa isa, const void *src, float *dst, int64_t count);
void ckpt_decode_bf16(const void *src, float *dst, int64_t count);

/** F32, F16 or BF16 values widened to double (exact). */
void ckpt_widen_isa(ckpt_isa isa, const void *src, ckpt_lane_type type, double *dst, int64_t count);
void ckpt_widen(const void *src, ckpt_lane_type type, double *dst, int64_t count);

/** F32 values rounded to F16 or BF16 (`target` CKPT_LANE_F16 or CKPT_LANE_BF16) as PyTorch's
 * `tensor.to(dtype)` rounds them: to nearest even, F16 overflowing to infinity; an F16 NaN keeps
 * its sign and top payload bits (quiet), a BF16 NaN becomes `nan_bits`. */
void ckpt_round_f32_isa(ckpt_isa isa, const void *src, ckpt_lane_type target, uint16_t nan_bits, void *dst, int64_t count);
void ckpt_round_f32(const void *src, ckpt_lane_type target, uint16_t nan_bits, void *dst, int64_t count);

/** Columns [first, end) of a `rows x columns` row-major matrix of `width`-byte elements (2 or 4),
 * transposed into `dst`: (end - first) rows of `rows` elements, row i holding column first + i.
 * Bytes are moved as they are; the source need not be aligned. `isa` must be available. */
void ckpt_transpose_columns_isa(ckpt_isa isa, const void *src, int64_t rows, int64_t columns, int64_t width,
                                int64_t first, int64_t end, void *dst);
void ckpt_transpose_columns(const void *src, int64_t rows, int64_t columns, int64_t width, int64_t first, int64_t end, void *dst);

/** One byte per element through a 256-entry table (the 8-bit float formats). */
void ckpt_decode_table8(const uint8_t *src, const float *table, float *dst, int64_t count);

/** Which changed entries a patch keeps. */
typedef enum {
    CKPT_KEEP_NONE = 0,
    CKPT_KEEP_ALL = 1,
    /** Those whose byte in the mask is non-zero. */
    CKPT_KEEP_MASKED = 2,
} ckpt_keep;

/** The running accounting of a patch scan over one tensor; the fields mirror Swift's ShareRow. */
typedef struct {
    int64_t changed;
    int64_t kept;
    /** Sums of (fine-tuned - base)^2 over changed entries (0 where the difference is not finite),
     * added one entry at a time in index order, as Swift's loop did, so the doubles are the same. */
    double sum_squares;
    double kept_sum_squares;
    double dropped_sum_squares;
} ckpt_scan_sums;

/** One block of a patch scan: `count` entries of `base` and `finetuned`, each `width` bytes (any
 * width; 1, 2, 4 and 8 are fast), compared byte for byte. `width` 0 compares the decoded values
 * instead (a dtype change: equal doubles, or two NaNs, are unchanged), and then needs both value
 * blocks. `base_values`/`finetuned_values` are the entries decoded to double, or NULL when the
 * dtype cannot be decoded (every square then counts as 0). `mask` (read only with
 * CKPT_KEEP_MASKED) holds one byte per entry of the block. The indices (`first_index` + position)
 * of kept changed entries go to `indices`, at most `index_capacity` of them (`indices` may be NULL).
 * Accumulates into `sums`; returns the number of indices written. `isa` must be available. */
int64_t ckpt_scan_block_isa(ckpt_isa isa, const void *base, const void *finetuned, int64_t width,
                            const double *base_values, const double *finetuned_values, int64_t count,
                            ckpt_keep keep, const uint8_t *mask, int64_t first_index,
                            int64_t *indices, int64_t index_capacity, ckpt_scan_sums *sums);

/** `ckpt_scan_block_isa` with the best instruction set. */
int64_t ckpt_scan_block(const void *base, const void *finetuned, int64_t width,
                        const double *base_values, const double *finetuned_values, int64_t count,
                        ckpt_keep keep, const uint8_t *mask, int64_t first_index,
                        int64_t *indices, int64_t index_capacity, ckpt_scan_sums *sums);

/** `y[r][o] = (accumulate ? y[r][o] : 0) + dot(x[r], w[o])` for row-major `x` `[rows, in]` and a
 * PyTorch `Linear` weight `w` `[out, in]`. Each output depends on its own row of `x` alone, bit for
 * bit, whatever `rows` is (see linear_body.h); both instruction sets give identical bits. */
void ckpt_linear(const float *x, int64_t rows, int64_t in, const float *w, int64_t out, float *y, int accumulate);

/** `dx[r][i] = (accumulate ? dx[r][i] : 0) + sum_o dy[r][o] w[o][i]`: the input gradient of
 * ckpt_linear, with the same row independence. */
void ckpt_linear_backward(const float *dy, int64_t rows, int64_t out, const float *w, int64_t in, float *dx, int accumulate);

/** The same with a chosen instruction set (for tests: both give identical bits). */
/** The exact GELU of `y + bias` in place (`rows` rows of `cols`, `bias` of `cols`), keeping its
 * derivative `Phi(v) + v phi(v)` in `derivative`: erf and exp by polynomial (see activation_body.h),
 * within a few 1e-8 of libm's; elementwise, so no result depends on the rows around it. */
void ckpt_gelu(float *y, int64_t rows, int64_t cols, const float *bias, float *derivative);

/** Softmax of each of `rows` rows of `count` floats in place (max subtracted; the sum of a row is
 * taken in a fixed order, so a row's result depends on that row alone). A NaN makes its row NaN. */
void ckpt_softmax_rows(float *p, int64_t rows, int64_t count);

/** LayerNorm of each of `rows` rows of `width` floats (biased variance, as torch): keeps the
 * normalized row in `xhat` and 1/sigma in `rstd[r]`, writes `xhat * weight + bias` to `output`
 * (which may be `input`). Sums in eight lanes in a fixed order: a row's result depends on it alone. */
void ckpt_layer_norm(const float *input, int64_t rows, int64_t width, const float *weight, const float *bias,
                     float eps, float *xhat, float *rstd, float *output);

/** LayerNorm backward over `rows` rows of one example: adds `dy * xhat` and `dy` to the example's
 * `weight_grad` and `bias_grad` (either may be NULL) and, unless `output` is NULL, writes the input
 * gradient `rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))`, `dxhat = dy * weight`. */
void ckpt_layer_norm_backward(const float *dy, int64_t rows, int64_t width, const float *xhat, const float *rstd,
                              const float *weight, float *weight_grad, float *bias_grad, float *output);

/** The four above with a given instruction set (which must be available); both give the same bits. */
void ckpt_gelu_isa(ckpt_isa isa, float *y, int64_t rows, int64_t cols, const float *bias, float *derivative);
void ckpt_softmax_rows_isa(ckpt_isa isa, float *p, int64_t rows, int64_t count);
void ckpt_layer_norm_isa(ckpt_isa isa, const float *input, int64_t rows, int64_t width, const float *weight, const float *bias,
                         float eps, float *xhat, float *rstd, float *output);
void ckpt_layer_norm_backward_isa(ckpt_isa isa, const float *dy, int64_t rows, int64_t width, const float *xhat, const float *rstd,
                                  const float *weight, float *weight_grad, float *bias_grad, float *output);

void ckpt_linear_isa(ckpt_isa isa, const float *x, int64_t rows, int64_t in, const float *w, int64_t out, float *y, int accumulate);
void ckpt_linear_backward_isa(ckpt_isa isa, const float *dy, int64_t rows, int64_t out, const float *w, int64_t in, float *dx, int accumulate);

/** Asks the processor to bring the cache line at `address` in (a hint: nothing is read, no fault).
 * The safetensors name index calls it for a name's slot while the name's entry is parsed, so that
 * the probe after it does not wait on memory. */
static inline void ckpt_prefetch(const void *address) {
    __builtin_prefetch(address);
}

#ifdef __cplusplus
}
#endif

#endif
