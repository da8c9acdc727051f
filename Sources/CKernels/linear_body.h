/* The encoder's dense layers (CheckpointKit's BLAS.linear and BLAS.linearBackward), compiled once
 * per instruction set like kernel_body.h (which defines CKPT_NAME, CKPT_INLINE and fma8).
 *
 * Every output element is computed by the same operations in the same order whatever the number
 * of rows and wherever its row sits in a tile, so a row's result depends on that row alone: a
 * Fisher run split into shards (which batches other examples together) computes every example's
 * gradient bit for bit as one run does. OpenBLAS does not promise that (its kernels and paths
 * change with the matrix size). Both copies give identical bits (fma8 rounds once in both).
 *
 *  linear:   y[r][o] = (acc ? y[r][o] : 0) + dot(x[r][0..k), w[o][0..k)); the dot keeps eight lane
 *            sums (lane l takes k = l mod 8, in order, zero-padded at the end), added as
 *            ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
 *  backward: dx[r][i] = (acc ? dx[r][i] : 0) + sum over o in order of dy[r][o] * w[o][i] (fused). */

/* Eight floats from p, zero past `count` (count may exceed 8). */
CKPT_INLINE v8f CKPT_NAME(load_tail)(const float *p, int64_t count) {
    if (count >= 8) return *(const v8f_unaligned *)p;
    v8f v = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t l = 0; l < count; l++) v[l] = p[l];
    return v;
}

CKPT_INLINE float CKPT_NAME(reduce8)(v8f v) {
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

CKPT_INLINE void CKPT_NAME(store_dot)(float *y, float s, int acc) { *y = acc ? *y + s : s; }

/* One row of x against one row of w. */
CKPT_INLINE float CKPT_NAME(dot1)(const float *x, const float *w, int64_t k) {
    v8f a = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t j = 0; j < k; j += 8) a = CKPT_NAME(fma8)(CKPT_NAME(load_tail)(x + j, k - j), CKPT_NAME(load_tail)(w + j, k - j), a);
    return CKPT_NAME(reduce8)(a);
}

/* Four rows of x against three rows of w: twelve dots, each exactly as dot1 computes it. */
CKPT_INLINE void CKPT_NAME(dot4x3)(const float *x, int64_t ldx, const float *w, int64_t k,
                                   float *y, int64_t ldy, int acc) {
    v8f a[4][3];
    for (int r = 0; r < 4; r++) for (int o = 0; o < 3; o++) a[r][o] = (v8f){0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t j = 0; j < k; j += 8) {
        v8f w0 = CKPT_NAME(load_tail)(w + j, k - j), w1 = CKPT_NAME(load_tail)(w + k + j, k - j);
        v8f w2 = CKPT_NAME(load_tail)(w + 2 * k + j, k - j);
        for (int r = 0; r < 4; r++) {
            v8f xv = CKPT_NAME(load_tail)(x + r * ldx + j, k - j);
            a[r][0] = CKPT_NAME(fma8)(xv, w0, a[r][0]);
            a[r][1] = CKPT_NAME(fma8)(xv, w1, a[r][1]);
            a[r][2] = CKPT_NAME(fma8)(xv, w2, a[r][2]);
        }
    }
    for (int r = 0; r < 4; r++)
        for (int o = 0; o < 3; o++) CKPT_NAME(store_dot)(y + r * ldy + o, CKPT_NAME(reduce8)(a[r][o]), acc);
}

CKPT_ATTR void CKPT_NAME(ckpt_linear)(const float *x, int64_t rows, int64_t in, const float *w, int64_t out,
                                      float *y, int accumulate) {
    const int64_t rowBlock = 96, outBlock = 96; /* x and w blocks of up to 96 x in floats stay in L2 */
    for (int64_t r0 = 0; r0 < rows; r0 += rowBlock) {
        int64_t r1 = r0 + rowBlock < rows ? r0 + rowBlock : rows;
        for (int64_t o0 = 0; o0 < out; o0 += outBlock) {
            int64_t o1 = o0 + outBlock < out ? o0 + outBlock : out;
            int64_t r = r0;
            for (; r + 4 <= r1; r += 4) {
                int64_t o = o0;
                for (; o + 3 <= o1; o += 3) CKPT_NAME(dot4x3)(x + r * in, in, w + o * in, in, y + r * out + o, out, accumulate);
                for (; o < o1; o++)
                    for (int64_t q = r; q < r + 4; q++) CKPT_NAME(store_dot)(y + q * out + o, CKPT_NAME(dot1)(x + q * in, w + o * in, in), accumulate);
            }
            for (; r < r1; r++)
                for (int64_t o = o0; o < o1; o++) CKPT_NAME(store_dot)(y + r * out + o, CKPT_NAME(dot1)(x + r * in, w + o * in, in), accumulate);
        }
    }
}

/* `rowsHere` (1 to 4) rows of dy times w, for the columns [i, i + n) (n up to 24). */
CKPT_INLINE void CKPT_NAME(axpy_tile)(const float *dy, int64_t out, const float *w, int64_t in,
                                      float *dx, int64_t rowsHere, int64_t i, int64_t n, int acc) {
    v8f a[4][3];
    for (int r = 0; r < 4; r++) for (int c = 0; c < 3; c++) a[r][c] = (v8f){0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t o = 0; o < out; o++) {
        const float *wr = w + o * in + i;
        v8f w0 = CKPT_NAME(load_tail)(wr, n), w1 = CKPT_NAME(load_tail)(wr + 8, n - 8), w2 = CKPT_NAME(load_tail)(wr + 16, n - 16);
        for (int64_t r = 0; r < rowsHere; r++) {
            float d = dy[r * out + o];
            v8f dv = {d, d, d, d, d, d, d, d};
            a[r][0] = CKPT_NAME(fma8)(dv, w0, a[r][0]);
            a[r][1] = CKPT_NAME(fma8)(dv, w1, a[r][1]);
            a[r][2] = CKPT_NAME(fma8)(dv, w2, a[r][2]);
        }
    }
    for (int64_t r = 0; r < rowsHere; r++) {
        float *d = dx + r * in + i;
        for (int64_t c = 0; c < n; c++) d[c] = acc ? d[c] + a[r][c / 8][c % 8] : a[r][c / 8][c % 8];
    }
}

CKPT_ATTR void CKPT_NAME(ckpt_linear_backward)(const float *dy, int64_t rows, int64_t out, const float *w, int64_t in,
                                               float *dx, int accumulate) {
    for (int64_t i = 0; i < in; i += 24) {
        int64_t n = in - i < 24 ? in - i : 24;
        for (int64_t r = 0; r < rows; r += 4) {
            int64_t here = rows - r < 4 ? rows - r : 4;
            CKPT_NAME(axpy_tile)(dy + r * out, out, w, in, dx + r * in, here, i, n, accumulate);
        }
    }
}
