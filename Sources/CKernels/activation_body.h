/* The encoder's elementwise activations (CheckpointKit's BertRunner), compiled once per
 * instruction set like kernel_body.h (which defines CKPT_NAME and CKPT_INLINE and includes this
 * file). libm's erff and expf are scalar calls and were a sixth of a Fisher run; these evaluate
 * eight lanes at once with plain multiplies, adds and one division (no fused operation, no
 * lane-order-dependent sum but the softmax's, written out), so both copies give identical bits,
 * and each row's result depends on that row alone.
 *
 *  exp8: Cephes' expf (range reduction by ln 2 in two parts, degree-6 polynomial), relative
 *        error about 1e-7 (1-2 ulp); arguments below -87.3 give 2^-126 instead of 0.
 *  normal_cdf8: erfc(x) = t exp(-x^2 + P(t)), t = 1 / (1 + x/2), P of degree 9 (Numerical
 *        Recipes' erfcc, relative error below 1.2e-7 for every x >= 0 before float rounding).
 * NaN lanes stay NaN. */

CKPT_INLINE v8f CKPT_NAME(splat)(float v) { return (v8f){v, v, v, v, v, v, v, v}; }

/* `value` where `x` is a number, `x` (a NaN) elsewhere. */
CKPT_INLINE v8f CKPT_NAME(keep_nan)(v8f x, v8f value) {
    v8i number = (v8i)(x == x);
    return (v8f)(((v8i)value & number) | ((v8i)x & ~number));
}

CKPT_INLINE v8f CKPT_NAME(exp8)(v8f x) {
    v8f c = __builtin_elementwise_min(__builtin_elementwise_max(x, CKPT_NAME(splat)(-87.33654f)), CKPT_NAME(splat)(88.37626f));
    v8f shifter = CKPT_NAME(splat)(12582912.0f); /* 1.5 * 2^23: adding and subtracting it rounds to an integer */
    v8f n = (c * CKPT_NAME(splat)(1.44269504088896341f) + shifter) - shifter;
    v8f r = c - n * CKPT_NAME(splat)(0.693359375f);
    r = r - n * CKPT_NAME(splat)(-2.12194440e-4f);
    v8f z = r * r;
    v8f p = CKPT_NAME(splat)(1.9875691500e-4f);
    p = p * r + CKPT_NAME(splat)(1.3981999507e-3f);
    p = p * r + CKPT_NAME(splat)(8.3334519073e-3f);
    p = p * r + CKPT_NAME(splat)(4.1665795894e-2f);
    p = p * r + CKPT_NAME(splat)(1.6666665459e-1f);
    p = p * r + CKPT_NAME(splat)(5.0000001201e-1f);
    p = p * z + r + CKPT_NAME(splat)(1.0f);
    v8i bits = (__builtin_convertvector(n, v8i) + 127) << 23;
    return CKPT_NAME(keep_nan)(x, p * (v8f)bits);
}

/* Phi(v), the standard normal CDF, as erfc(|x|) / 2 (x = v / sqrt 2) for v < 0 and 1 - erfc(|x|) / 2
 * otherwise, so the left tail keeps its relative accuracy (1 + erf(x) would cancel). */
CKPT_INLINE v8f CKPT_NAME(normal_cdf8)(v8f v) {
    v8f ax = (v8f)((v8i)(v * CKPT_NAME(splat)(0.70710678118654752f)) & 0x7fffffff); /* |x| */
    v8f t = CKPT_NAME(splat)(1.0f) / (CKPT_NAME(splat)(1.0f) + CKPT_NAME(splat)(0.5f) * ax);
    v8f p = CKPT_NAME(splat)(0.17087277f);
    p = p * t + CKPT_NAME(splat)(-0.82215223f);
    p = p * t + CKPT_NAME(splat)(1.48851587f);
    p = p * t + CKPT_NAME(splat)(-1.13520398f);
    p = p * t + CKPT_NAME(splat)(0.27886807f);
    p = p * t + CKPT_NAME(splat)(-0.18628806f);
    p = p * t + CKPT_NAME(splat)(0.09678418f);
    p = p * t + CKPT_NAME(splat)(0.37409196f);
    p = p * t + CKPT_NAME(splat)(1.00002368f);
    p = p * t + CKPT_NAME(splat)(-1.26551223f);
    v8f half_erfc = CKPT_NAME(splat)(0.5f) * t * CKPT_NAME(exp8)(p - ax * ax);
    v8i negative = (v8i)(v < CKPT_NAME(splat)(0.0f));
    v8f upper = CKPT_NAME(splat)(1.0f) - half_erfc;
    return (v8f)(((v8i)half_erfc & negative) | ((v8i)upper & ~negative));
}

/* Stores the first `count` lanes of v (count may exceed 8); load_tail (linear_body.h) reads. */
CKPT_INLINE void CKPT_NAME(store_upto8)(float *p, v8f v, int64_t count) {
    if (count >= 8) { *(v8f_unaligned *)p = v; return; }
    for (int64_t l = 0; l < count; l++) p[l] = v[l];
}

CKPT_ATTR void CKPT_NAME(ckpt_gelu)(float *y, int64_t rows, int64_t cols, const float *bias, float *derivative) {
    const v8f half = CKPT_NAME(splat)(0.5f), inv_sqrt2pi = CKPT_NAME(splat)(0.39894228040143268f);
    for (int64_t r = 0; r < rows; r++) {
        float *row = y + r * cols, *der = derivative + r * cols;
        for (int64_t j = 0; j < cols; j += 8) {
            v8f v = CKPT_NAME(load_tail)(row + j, cols - j) + CKPT_NAME(load_tail)(bias + j, cols - j);
            v8f cdf = CKPT_NAME(normal_cdf8)(v);
            v8f density = inv_sqrt2pi * CKPT_NAME(exp8)(-half * v * v);
            CKPT_NAME(store_upto8)(der + j, cdf + v * density, cols - j);
            CKPT_NAME(store_upto8)(row + j, v * cdf, cols - j);
        }
    }
}

CKPT_ATTR void CKPT_NAME(ckpt_softmax_rows)(float *p, int64_t rows, int64_t count) {
    for (int64_t r = 0; r < rows; r++) {
        float *row = p + r * count;
        float m = -__builtin_inff();
        for (int64_t j = 0; j < count; j++) m = row[j] > m || row[j] != row[j] ? row[j] : m;
        v8f sum = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int64_t j = 0; j < count; j += 8) {
            v8f e = CKPT_NAME(exp8)(CKPT_NAME(load_tail)(row + j, count - j) - CKPT_NAME(splat)(m));
            for (int64_t l = count - j; l < 8; l++) e[l] = 0;
            sum += e;
            CKPT_NAME(store_upto8)(row + j, e, count - j);
        }
        v8f inv = CKPT_NAME(splat)(1.0f / CKPT_NAME(reduce8)(sum));
        for (int64_t j = 0; j < count; j += 8) {
            CKPT_NAME(store_upto8)(row + j, CKPT_NAME(load_tail)(row + j, count - j) * inv, count - j);
        }
    }
}

CKPT_ATTR void CKPT_NAME(ckpt_layer_norm)(const float *input, int64_t rows, int64_t width, const float *weight, const float *bias,
                                          float eps, float *xhat, float *rstd, float *output) {
    for (int64_t r = 0; r < rows; r++) {
        const float *row = input + r * width;
        float *xh = xhat + r * width, *out = output + r * width;
        v8f s = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int64_t j = 0; j < width; j += 8) s += CKPT_NAME(load_tail)(row + j, width - j);
        v8f mean = CKPT_NAME(splat)(CKPT_NAME(reduce8)(s) / (float)width);
        v8f sq = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int64_t j = 0; j < width; j += 8) {
            v8f c = CKPT_NAME(load_tail)(row + j, width - j) - mean;
            for (int64_t l = width - j; l < 8; l++) c[l] = 0;
            sq += c * c;
        }
        float inv = 1.0f / __builtin_sqrtf(CKPT_NAME(reduce8)(sq) / (float)width + eps);
        rstd[r] = inv;
        for (int64_t j = 0; j < width; j += 8) {
            v8f x = (CKPT_NAME(load_tail)(row + j, width - j) - mean) * CKPT_NAME(splat)(inv);
            CKPT_NAME(store_upto8)(xh + j, x, width - j);
            v8f y = x * CKPT_NAME(load_tail)(weight + j, width - j) + CKPT_NAME(load_tail)(bias + j, width - j);
            CKPT_NAME(store_upto8)(out + j, y, width - j);
        }
    }
}

CKPT_ATTR void CKPT_NAME(ckpt_layer_norm_backward)(const float *dy, int64_t rows, int64_t width, const float *xhat, const float *rstd,
                                                   const float *weight, float *weight_grad, float *bias_grad, float *output) {
    for (int64_t r = 0; r < rows; r++) {
        const float *g = dy + r * width, *xh = xhat + r * width;
        for (int64_t j = 0; j < width; j += 8) {
            int64_t n = width - j;
            v8f gj = CKPT_NAME(load_tail)(g + j, n);
            if (weight_grad) CKPT_NAME(store_upto8)(weight_grad + j, CKPT_NAME(load_tail)(weight_grad + j, n) + gj * CKPT_NAME(load_tail)(xh + j, n), n);
            if (bias_grad) CKPT_NAME(store_upto8)(bias_grad + j, CKPT_NAME(load_tail)(bias_grad + j, n) + gj, n);
        }
        if (!output) continue;
        v8f sum = {0, 0, 0, 0, 0, 0, 0, 0}, dot = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int64_t j = 0; j < width; j += 8) {
            v8f d = CKPT_NAME(load_tail)(g + j, width - j) * CKPT_NAME(load_tail)(weight + j, width - j);
            sum += d;
            dot += d * CKPT_NAME(load_tail)(xh + j, width - j);
        }
        v8f mean_d = CKPT_NAME(splat)(CKPT_NAME(reduce8)(sum) / (float)width);
        v8f mean_dx = CKPT_NAME(splat)(CKPT_NAME(reduce8)(dot) / (float)width);
        v8f inv = CKPT_NAME(splat)(rstd[r]);
        float *out = output + r * width;
        for (int64_t j = 0; j < width; j += 8) {
            int64_t n = width - j;
            v8f d = CKPT_NAME(load_tail)(g + j, n) * CKPT_NAME(load_tail)(weight + j, n);
            CKPT_NAME(store_upto8)(out + j, inv * (d - mean_d - CKPT_NAME(load_tail)(xh + j, n) * mean_dx), n);
        }
    }
}
