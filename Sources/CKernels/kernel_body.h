/* The kernels' bodies, compiled once per instruction set: kernels.c includes this file with
 * CKPT_ATTR (the function attribute naming the target features) and CKPT_SUFFIX (appended to each
 * function name) defined, CKPT_F16C set when vcvtph2ps may be used and CKPT_HARDWARE_FMA when
 * fused multiply-add is an instruction. Everything is written with
 * GCC/Clang vector extensions so that both copies perform the same operations in the same order. */

#define CKPT_CAT2(a, b) a##b
#define CKPT_CAT(a, b) CKPT_CAT2(a, b)
#define CKPT_NAME(name) CKPT_CAT(name, CKPT_SUFFIX)
#define CKPT_INLINE static inline __attribute__((always_inline)) CKPT_ATTR

/* a * b + c for eight floats, rounded once. With FMA hardware (the AVX2 copy, arm64) one
 * instruction. Without it (portable x86-64) a library fmaf per lane would cost 30x, so: the product
 * of two floats is exact in double; the sum is rounded to double "to odd" (TwoSum gives its error;
 * an inexact result with an even last bit moves to its odd neighbour toward the true value), and
 * rounding that to float gives the correctly rounded fused result (53 >= 2 x 24 + 2 bits). */
CKPT_INLINE v8f CKPT_NAME(fma8)(v8f a, v8f b, v8f c) {
#if CKPT_HARDWARE_FMA
    return __builtin_elementwise_fma(a, b, c);
#else
    v8f out;
    for (int half = 0; half < 2; half++) {
        v4d x = __builtin_convertvector(half ? __builtin_shufflevector(a, a, 4, 5, 6, 7) : __builtin_shufflevector(a, a, 0, 1, 2, 3), v4d);
        v4d y = __builtin_convertvector(half ? __builtin_shufflevector(b, b, 4, 5, 6, 7) : __builtin_shufflevector(b, b, 0, 1, 2, 3), v4d);
        v4d z = __builtin_convertvector(half ? __builtin_shufflevector(c, c, 4, 5, 6, 7) : __builtin_shufflevector(c, c, 0, 1, 2, 3), v4d);
        v4d p = x * y;
        v4d s = p + z;
        v4d bv = s - p;
        v4d err = (p - (s - bv)) + (z - bv);
        v4l inexactEven = ((err < 0) | (err > 0)) & (((v4l)s & 1) == 0);
        v4l toward = ((((v4l)err ^ (v4l)s) < 0) * 2) | 1; /* -1 where the signs differ, else +1 */
        v4l odd = (v4l)s + (toward & inexactEven);
        v4f r = __builtin_convertvector((v4d)odd, v4f);
        for (int lane = 0; lane < 4; lane++) out[4 * half + lane] = r[lane];
    }
    return out;
#endif
}

/* a * b + c for four doubles that are floats widened: their product is exact, so one rounding of
 * the sum is the fused result and no FMA hardware is needed for the same bits. */
CKPT_INLINE v4d CKPT_NAME(fma4_widened)(v4d a, v4d b, v4d c) {
#if CKPT_HARDWARE_FMA
    return __builtin_elementwise_fma(a, b, c);
#else
    return a * b + c;
#endif
}

/* Eight F16 bit patterns as eight floats. */
CKPT_INLINE v8f CKPT_NAME(half_lanes)(v8h bits) {
#if CKPT_F16C
    v8hf halves;
    __builtin_memcpy(&halves, &bits, sizeof halves);
    return __builtin_convertvector(halves, v8f);
#else
    v8u h = __builtin_convertvector(bits, v8u);
    v8u sign = (h & 0x8000u) << 16;
    v8u magnitude = h & 0x7FFFu;
    /* Finite values: the exponent and mantissa moved into place, rescaled by 2^112 (exact, also
     * for subnormals). Infinities and NaNs: all-ones exponent, mantissa kept, NaNs made quiet. */
    v8f scaled = (v8f)(magnitude << 13) * 0x1p112f;
    v8i special = (v8i)(magnitude >= 0x7C00u);
    v8i nan = (v8i)(magnitude > 0x7C00u);
    v8u specialBits = (magnitude << 13) | 0x7F800000u | ((v8u)nan & 0x00400000u);
    v8u finiteBits = (v8u)scaled;
    v8u out = (finiteBits & ~(v8u)special) | (specialBits & (v8u)special);
    return (v8f)(out | sign);
#endif
}

/* Loads eight elements of `type` at element `index` as floats, with the bit patterns that decide
 * whether an element changed (the stored bits, widened to 32). */
CKPT_INLINE v8f CKPT_NAME(load)(const unsigned char *p, int type, int64_t index, v8u *bits) {
    switch (type) {
    case CKPT_LANE_F32: {
        v8u b = *(const v8u_unaligned *)(p + 4 * index);
        *bits = b;
        return (v8f)b;
    }
    case CKPT_LANE_F16: {
        v8h h = *(const v8h_unaligned *)(p + 2 * index);
        *bits = __builtin_convertvector(h, v8u);
        return CKPT_NAME(half_lanes)(h);
    }
    default: {
        v8u b = __builtin_convertvector(*(const v8h_unaligned *)(p + 2 * index), v8u) << 16;
        *bits = b;
        return (v8f)b;
    }
    }
}

/* One element, for the tail of a run that does not fill eight lanes. */
CKPT_INLINE float CKPT_NAME(load_one)(const unsigned char *p, int type, int64_t index, uint32_t *bits) {
    v8h h = {0};
    v8u b = {0};
    switch (type) {
    case CKPT_LANE_F32:
        __builtin_memcpy(&b, p + 4 * index, 4);
        *bits = b[0];
        return ((v8f)b)[0];
    case CKPT_LANE_F16:
        __builtin_memcpy(&h, p + 2 * index, 2);
        *bits = h[0];
        return CKPT_NAME(half_lanes)(h)[0];
    default:
        __builtin_memcpy(&h, p + 2 * index, 2);
        b[0] = (uint32_t)h[0] << 16;
        *bits = b[0];
        return ((v8f)b)[0];
    }
}

/* Adds the two halves of eight float lanes, widened to double. */
CKPT_INLINE v4d CKPT_NAME(widen)(v8f v) {
    return __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3), v4d)
         + __builtin_convertvector(__builtin_shufflevector(v, v, 4, 5, 6, 7), v4d);
}

/* Adds one pair of values in double, exactly as Swift's DifferenceSums.add does. */
/* A pair with a NaN or infinity on either side is counted and left out of every sum. */
CKPT_INLINE void CKPT_NAME(add_one)(ckpt_difference_sums *s, double b, double f) {
    double d = f - b;
    if (d != d) s->nan_deltas += 1;
    if (b != b) s->base_nan += 1; else if (__builtin_isinf(b)) s->base_infinite += 1;
    if (f != f) s->finetuned_nan += 1; else if (__builtin_isinf(f)) s->finetuned_infinite += 1;
    s->count += 1;
    if (!(__builtin_isfinite(b) && __builtin_isfinite(f))) {
        s->non_finite += 1;
        return;
    }
    double absD = __builtin_fabs(d);
    s->base_squares += b * b;
    s->finetuned_squares += f * f;
    s->delta_squares += d * d;
    s->absolute_delta += absD;
    s->product += b * f;
    if (absD > s->max_absolute_delta) s->max_absolute_delta = absD;
}

/* The vector loop: 8 float lanes per step; float partial sums go into double every 256 elements;
 * products are summed in double lanes (their sum can cancel). The same-type test compares stored
 * bits, the mixed-type test the widened floats' bits. */
CKPT_INLINE void CKPT_NAME(core)(const unsigned char *b, int bt, const unsigned char *f, int ft,
                                 int64_t count, ckpt_difference_sums *out) {
    const int sameType = bt == ft;
    const v8u signMask = (v8u){0} + 0x7FFFFFFFu;
    v4d baseSquares = {0}, finetunedSquares = {0}, deltaSquares = {0}, absoluteDelta = {0};
    v4d productLow = {0}, productHigh = {0};
    v8f maxDelta = {0};
    v8i changed = {0};
    const int64_t vectorCount = count & ~(int64_t)7;
    int64_t i = 0;
    while (i < vectorCount) {
        int64_t end = i + 256 < vectorCount ? i + 256 : vectorCount;
        v8f b2 = {0}, f2 = {0}, d2 = {0}, ad = {0};
        for (; i < end; i += 8) {
            v8u bBits, fBits;
            v8f bv = CKPT_NAME(load)(b, bt, i, &bBits);
            v8f fv = CKPT_NAME(load)(f, ft, i, &fBits);
            v8f d = fv - bv;
            v8f absD = (v8f)((v8u)d & signMask);
            b2 = CKPT_NAME(fma8)(bv, bv, b2);
            f2 = CKPT_NAME(fma8)(fv, fv, f2);
            d2 = CKPT_NAME(fma8)(d, d, d2);
            ad = ad + absD;
            v4d bLow = __builtin_convertvector(__builtin_shufflevector(bv, bv, 0, 1, 2, 3), v4d);
            v4d bHigh = __builtin_convertvector(__builtin_shufflevector(bv, bv, 4, 5, 6, 7), v4d);
            v4d fLow = __builtin_convertvector(__builtin_shufflevector(fv, fv, 0, 1, 2, 3), v4d);
            v4d fHigh = __builtin_convertvector(__builtin_shufflevector(fv, fv, 4, 5, 6, 7), v4d);
            productLow = CKPT_NAME(fma4_widened)(bLow, fLow, productLow);
            productHigh = CKPT_NAME(fma4_widened)(bHigh, fHigh, productHigh);
            v8i larger = (v8i)(maxDelta < absD);
            maxDelta = (v8f)(((v8u)maxDelta & ~(v8u)larger) | ((v8u)absD & (v8u)larger));
            v8i differs = sameType ? (v8i)(bBits != fBits) : (v8i)((v8u)bv != (v8u)fv);
            changed = changed - differs;
        }
        baseSquares = baseSquares + CKPT_NAME(widen)(b2);
        finetunedSquares = finetunedSquares + CKPT_NAME(widen)(f2);
        deltaSquares = deltaSquares + CKPT_NAME(widen)(d2);
        absoluteDelta = absoluteDelta + CKPT_NAME(widen)(ad);
    }
    ckpt_difference_sums s = {0};
    s.count = vectorCount;
    v4d product = productLow + productHigh;
    float largest = maxDelta[0];
    int64_t changedCount = 0;
    for (int lane = 0; lane < 4; lane++) {
        s.base_squares += baseSquares[lane];
        s.finetuned_squares += finetunedSquares[lane];
        s.delta_squares += deltaSquares[lane];
        s.absolute_delta += absoluteDelta[lane];
        s.product += product[lane];
    }
    for (int lane = 0; lane < 8; lane++) {
        if (maxDelta[lane] > largest) largest = maxDelta[lane];
        changedCount += (uint32_t)changed[lane];
    }
    s.max_absolute_delta = largest;
    s.changed = (int32_t)(uint32_t)changedCount;
    for (; i < count; i++) {
        uint32_t bBits, fBits;
        float bv = CKPT_NAME(load_one)(b, bt, i, &bBits);
        float fv = CKPT_NAME(load_one)(f, ft, i, &fBits);
        CKPT_NAME(add_one)(&s, bv, fv);
        union { float f; uint32_t u; } bu = {bv}, fu = {fv};
        if (sameType ? bBits != fBits : bu.u != fu.u) s.changed += 1;
    }
    *out = s;
}

CKPT_ATTR void CKPT_NAME(ckpt_difference_sums)(const void *base, int bt, const void *finetuned, int ft,
                                               int64_t count, ckpt_difference_sums *out) {
    const unsigned char *b = base, *f = finetuned;
    /* One specialised loop per pair of loaders: constant types let the compiler drop the switches. */
#define CKPT_PAIR(x, y) \
    if (bt == x && ft == y) { CKPT_NAME(core)(b, x, f, y, count, out); return; }
    CKPT_PAIR(CKPT_LANE_F32, CKPT_LANE_F32)
    CKPT_PAIR(CKPT_LANE_F16, CKPT_LANE_F16)
    CKPT_PAIR(CKPT_LANE_BF16, CKPT_LANE_BF16)
    CKPT_PAIR(CKPT_LANE_F32, CKPT_LANE_F16)
    CKPT_PAIR(CKPT_LANE_F32, CKPT_LANE_BF16)
    CKPT_PAIR(CKPT_LANE_F16, CKPT_LANE_F32)
    CKPT_PAIR(CKPT_LANE_BF16, CKPT_LANE_F32)
    CKPT_PAIR(CKPT_LANE_F16, CKPT_LANE_BF16)
    CKPT_PAIR(CKPT_LANE_BF16, CKPT_LANE_F16)
#undef CKPT_PAIR
}

CKPT_ATTR void CKPT_NAME(ckpt_decode_f16)(const void *src, float *dst, int64_t count) {
    const unsigned char *p = src;
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) {
        v8f v = CKPT_NAME(half_lanes)(*(const v8h_unaligned *)(p + 2 * i));
        *(v8f_unaligned *)(dst + i) = v;
    }
    for (; i < count; i++) {
        uint32_t bits;
        dst[i] = CKPT_NAME(load_one)(p, CKPT_LANE_F16, i, &bits);
    }
}

CKPT_ATTR void CKPT_NAME(ckpt_decode_bf16)(const void *src, float *dst, int64_t count) {
    const unsigned char *p = src;
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) {
        v8u b = __builtin_convertvector(*(const v8h_unaligned *)(p + 2 * i), v8u) << 16;
        *(v8f_unaligned *)(dst + i) = (v8f)b;
    }
    for (; i < count; i++) {
        uint16_t h;
        __builtin_memcpy(&h, p + 2 * i, 2);
        uint32_t b = (uint32_t)h << 16;
        __builtin_memcpy(dst + i, &b, 4);
    }
}

/* Eight floats at `i` of `p` (F32, F16 or BF16 bytes) widened to double into `dst`. */
CKPT_INLINE void CKPT_NAME(widen_lanes)(const unsigned char *p, int type, int64_t i, double *dst) {
    v8u bits;
    v8f v = CKPT_NAME(load)(p, type, i, &bits);
    *(v4d_unaligned *)dst = __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3), v4d);
    *(v4d_unaligned *)(dst + 4) = __builtin_convertvector(__builtin_shufflevector(v, v, 4, 5, 6, 7), v4d);
}

CKPT_ATTR void CKPT_NAME(ckpt_widen)(const void *src, int type, double *dst, int64_t count) {
    const unsigned char *p = src;
    int64_t i = 0;
#define CKPT_WIDEN_LOOP(t) for (; i + 8 <= count; i += 8) CKPT_NAME(widen_lanes)(p, t, i, dst + i);
    switch (type) {  /* a constant type per loop, so that the loader's switch folds away */
    case CKPT_LANE_F32: CKPT_WIDEN_LOOP(CKPT_LANE_F32) break;
    case CKPT_LANE_F16: CKPT_WIDEN_LOOP(CKPT_LANE_F16) break;
    default: CKPT_WIDEN_LOOP(CKPT_LANE_BF16) break;
    }
#undef CKPT_WIDEN_LOOP
    for (; i < count; i++) {
        uint32_t bits;
        dst[i] = CKPT_NAME(load_one)(p, type, i, &bits);
    }
}

/* Whether entry `k` (of `width` bytes; 0 = compare the decoded values) differs. */
CKPT_INLINE int CKPT_NAME(scan_differs)(const unsigned char *a, const unsigned char *b, int64_t width, int64_t k,
                                        const double *x, const double *y) {
    switch (width) {
    case 0: return !(x[k] == y[k] || (x[k] != x[k] && y[k] != y[k]));
    case 1: return a[k] != b[k];
    case 2: { uint16_t u, v; __builtin_memcpy(&u, a + 2 * k, 2); __builtin_memcpy(&v, b + 2 * k, 2); return u != v; }
    case 4: { uint32_t u, v; __builtin_memcpy(&u, a + 4 * k, 4); __builtin_memcpy(&v, b + 4 * k, 4); return u != v; }
    case 8: { uint64_t u, v; __builtin_memcpy(&u, a + 8 * k, 8); __builtin_memcpy(&v, b + 8 * k, 8); return u != v; }
    default: return __builtin_memcmp(a + width * k, b + width * k, (unsigned long)width) != 0;
    }
}

/* The scan of one block. Sums stay scalar and in index order (bit-identical to the old Swift
 * loop); what this buys is a loop without bounds checks, array growth or a switch per entry:
 * `width` and `keep` are constants in each specialised copy. */
CKPT_INLINE int64_t CKPT_NAME(scan_core)(const unsigned char *a, const unsigned char *b, int64_t width,
                                         const double *x, const double *y, int64_t count, int keep,
                                         const uint8_t *mask, int64_t first, int64_t *indices,
                                         int64_t capacity, ckpt_scan_sums *out) {
    ckpt_scan_sums s = *out;
    int64_t written = 0;
    if (indices == 0) capacity = 0;
    for (int64_t k = 0; k < count; k++) {
        if (!CKPT_NAME(scan_differs)(a, b, width, k, x, y)) continue;
        s.changed += 1;
        double d2 = 0;
        if (x) {
            double d = y[k] - x[k];
            d2 = __builtin_isfinite(d) ? d * d : 0;
        }
        s.sum_squares += d2;
        int kept = keep == CKPT_KEEP_ALL || (keep == CKPT_KEEP_MASKED && mask[k] != 0);
        if (kept) {
            s.kept += 1;
            s.kept_sum_squares += d2;
            if (written < capacity) indices[written++] = first + k;
        } else {
            s.dropped_sum_squares += d2;
        }
    }
    *out = s;
    return written;
}

CKPT_ATTR int64_t CKPT_NAME(ckpt_scan_block)(const void *base, const void *finetuned, int64_t width,
                                             const double *x, const double *y, int64_t count, int keep,
                                             const uint8_t *mask, int64_t first, int64_t *indices,
                                             int64_t capacity, ckpt_scan_sums *out) {
    const unsigned char *a = base, *b = finetuned;
#define CKPT_SCAN(w, k) \
    if (width == w && keep == k) return CKPT_NAME(scan_core)(a, b, w, x, y, count, k, mask, first, indices, capacity, out);
#define CKPT_SCAN_WIDTH(w) CKPT_SCAN(w, CKPT_KEEP_ALL) CKPT_SCAN(w, CKPT_KEEP_NONE) CKPT_SCAN(w, CKPT_KEEP_MASKED)
    CKPT_SCAN_WIDTH(4)
    CKPT_SCAN_WIDTH(2)
    CKPT_SCAN_WIDTH(1)
    CKPT_SCAN_WIDTH(8)
    CKPT_SCAN_WIDTH(0)
#undef CKPT_SCAN_WIDTH
#undef CKPT_SCAN
    return CKPT_NAME(scan_core)(a, b, width, x, y, count, keep, mask, first, indices, capacity, out);
}

/* ---- Value statistics (`ckpt inspect --values`) ---- */

/* Eight elements of `type` at element `index` as two halves of four doubles. */
CKPT_INLINE void CKPT_NAME(load_doubles)(const unsigned char *p, int type, int64_t index, v4d *low, v4d *high) {
    if (type == CKPT_LANE_F64) {
        *low = *(const v4d_unaligned *)(p + 8 * index);
        *high = *(const v4d_unaligned *)(p + 8 * index + 32);
        return;
    }
    v8u bits;
    v8f v = CKPT_NAME(load)(p, type, index, &bits);
    *low = __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3), v4d);
    *high = __builtin_convertvector(__builtin_shufflevector(v, v, 4, 5, 6, 7), v4d);
}

/* One element as a double. */
CKPT_INLINE double CKPT_NAME(load_double)(const unsigned char *p, int type, int64_t index) {
    if (type == CKPT_LANE_F64) {
        double x;
        __builtin_memcpy(&x, p + 8 * index, 8);
        return x;
    }
    uint32_t bits;
    return CKPT_NAME(load_one)(p, type, index, &bits);
}

/* Lane sums in a fixed order, the same in both copies. */
CKPT_INLINE double CKPT_NAME(lane_sum)(v4d v) { return (v[0] + v[1]) + (v[2] + v[3]); }

/* Lane-wise a < b ? a : b and a > b ? a : b, as compare and select (the same bits in both copies). */
#define CKPT_MIN4(a, b) ((v4d)(((v4l)(a) & (v4l)((a) < (b))) | ((v4l)(b) & ~(v4l)((a) < (b)))))
#define CKPT_MAX4(a, b) ((v4d)(((v4l)(a) & (v4l)((a) > (b))) | ((v4l)(b) & ~(v4l)((a) > (b)))))

/* Pass 1 over eight elements (halves a, b), assuming finite data: sum, min, max, zero count. The
 * halves are combined first, so the running min and max take one dependent step per eight
 * elements. A NaN or an infinity makes the block's sum non-finite, and the block is redone masked. */
#define CKPT_STATS_FAST(a, b)                                                      \
    do {                                                                            \
        sum = sum + ((a) + (b));                                                    \
        mn = CKPT_MIN4(CKPT_MIN4(a, b), mn);                                        \
        mx = CKPT_MAX4(CKPT_MAX4(a, b), mx);                                        \
        zeros = zeros - (v4l)((a) == 0) - (v4l)((b) == 0);                          \
    } while (0)

/* The same with a finite mask (x - x is 0 only for finite x): non-finite lanes add 0 and never
 * become the min or max. */
#define CKPT_STATS_MASKED(x)                                                       \
    do {                                                                            \
        v4l fin = (v4l)((x - x) == 0);                                              \
        v4d kept = (v4d)((v4l)(x) & fin);                                           \
        sum = sum + kept;                                                           \
        v4d lo = (v4d)(((v4l)(x) & fin) | ((v4l)posInf & ~fin));                    \
        v4d hi = (v4d)(((v4l)(x) & fin) | ((v4l)negInf & ~fin));                    \
        v4l less = (v4l)(lo < mn);                                                  \
        mn = (v4d)(((v4l)lo & less) | ((v4l)mn & ~less));                           \
        v4l more = (v4l)(hi > mx);                                                  \
        mx = (v4d)(((v4l)hi & more) | ((v4l)mx & ~more));                           \
        finite = finite - fin;                                                      \
        zeros = zeros - (v4l)((x) == 0);                                            \
    } while (0)

/* Pass 1 of a block over its whole 8-element part: sum, min and max lanes, finite and zero counts.
 * `masked` = 0 trusts the data to be finite (every lane then counts as finite). */
CKPT_INLINE void CKPT_NAME(stats_pass1)(const unsigned char *p, int type, int64_t start, int64_t end, int masked,
                                        v4d *sumOut, v4d *mnOut, v4d *mxOut, int64_t *finiteOut, int64_t *zerosOut) {
    const v4d posInf = (v4d){0} + __builtin_inf(), negInf = (v4d){0} - __builtin_inf();
    v4d sum = {0}, mn = posInf, mx = negInf;
    v4l finite = {0}, zeros = {0};
    if (masked) {
        for (int64_t i = start; i < end; i += 8) {
            v4d a, b;
            CKPT_NAME(load_doubles)(p, type, i, &a, &b);
            CKPT_STATS_MASKED(a);
            CKPT_STATS_MASKED(b);
        }
    } else if (type == CKPT_LANE_F64) {
        for (int64_t i = start; i < end; i += 8) {
            v4d a, b;
            CKPT_NAME(load_doubles)(p, type, i, &a, &b);
            CKPT_STATS_FAST(a, b);
        }
    } else {  /* float types: min, max and zeros in eight float lanes, the sum in double */
        v8f mnf = (v8f){0} + __builtin_inff(), mxf = (v8f){0} - __builtin_inff();
        v8i zerosf = {0};
        for (int64_t i = start; i < end; i += 8) {
            v8u bits;
            v8f v = CKPT_NAME(load)(p, type, i, &bits);
            sum = sum + CKPT_NAME(widen)(v);
            v8i less = (v8i)(v < mnf), more = (v8i)(v > mxf);
            mnf = (v8f)(((v8i)v & less) | ((v8i)mnf & ~less));
            mxf = (v8f)(((v8i)v & more) | ((v8i)mxf & ~more));
            zerosf = zerosf - (v8i)(v == 0);
        }
        v4d mnLow = __builtin_convertvector(__builtin_shufflevector(mnf, mnf, 0, 1, 2, 3), v4d);
        v4d mnHigh = __builtin_convertvector(__builtin_shufflevector(mnf, mnf, 4, 5, 6, 7), v4d);
        v4d mxLow = __builtin_convertvector(__builtin_shufflevector(mxf, mxf, 0, 1, 2, 3), v4d);
        v4d mxHigh = __builtin_convertvector(__builtin_shufflevector(mxf, mxf, 4, 5, 6, 7), v4d);
        mn = CKPT_MIN4(mnLow, mnHigh);
        mx = CKPT_MAX4(mxLow, mxHigh);
        for (int lane = 0; lane < 8; lane++) zeros[lane & 3] += zerosf[lane];
    }
    *sumOut = sum, *mnOut = mn, *mxOut = mx;
    *finiteOut = masked ? (finite[0] + finite[1]) + (finite[2] + finite[3]) : end - start;
    *zerosOut = (zeros[0] + zeros[1]) + (zeros[2] + zeros[3]);
}
#undef CKPT_STATS_FAST
#undef CKPT_STATS_MASKED
#undef CKPT_MIN4
#undef CKPT_MAX4

/* The statistics of one block of at most 4096 elements, in element order. */
CKPT_INLINE ckpt_value_stats CKPT_NAME(stats_block)(const unsigned char *p, int type, int64_t start, int64_t n) {
    const int64_t vectorEnd = start + (n & ~(int64_t)7);
    v4d sum, mn, mx;
    ckpt_value_stats s = {0};
    s.count = n;
    CKPT_NAME(stats_pass1)(p, type, start, vectorEnd, 0, &sum, &mn, &mx, &s.finite, &s.zeros);
    double total = CKPT_NAME(lane_sum)(sum);
    if (!__builtin_isfinite(total)) {  /* rare: a NaN or an infinity (or a huge F64 sum) */
        CKPT_NAME(stats_pass1)(p, type, start, vectorEnd, 1, &sum, &mn, &mx, &s.finite, &s.zeros);
        total = CKPT_NAME(lane_sum)(sum);
    }
    s.min = mn[0];
    s.max = mx[0];
    for (int lane = 1; lane < 4; lane++) {
        if (mn[lane] < s.min) s.min = mn[lane];
        if (mx[lane] > s.max) s.max = mx[lane];
    }
    for (int64_t i = vectorEnd; i < start + n; i++) {
        double x = CKPT_NAME(load_double)(p, type, i);
        if (x == 0) s.zeros += 1;
        if (!__builtin_isfinite(x)) continue;
        s.finite += 1;
        total += x;
        if (x < s.min) s.min = x;
        if (x > s.max) s.max = x;
    }
    const int allFinite = s.finite == n;
    if (!allFinite) {  /* rare: count what was left out */
        for (int64_t i = start; i < start + n; i++) {
            double x = CKPT_NAME(load_double)(p, type, i);
            if (x != x) s.nan += 1;
            else if (x == __builtin_inf()) s.positive_infinite += 1;
            else if (x == -__builtin_inf()) s.negative_infinite += 1;
        }
    }
    if (s.finite == 0) return s;
    double mean = total / (double)s.finite;
    const v4d m = (v4d){0} + mean;
    v4d squares = {0};
    if (allFinite) {  /* pass 2: the block is in cache */
        for (int64_t i = start; i < vectorEnd; i += 8) {
            v4d a, b;
            CKPT_NAME(load_doubles)(p, type, i, &a, &b);
            v4d da = a - m, db = b - m;
            squares = squares + (da * da + db * db);
        }
    } else {
        for (int64_t i = start; i < vectorEnd; i += 8) {
            v4d a, b;
            CKPT_NAME(load_doubles)(p, type, i, &a, &b);
            v4l finA = (v4l)((a - a) == 0), finB = (v4l)((b - b) == 0);
            v4d da = (v4d)((v4l)(a - m) & finA), db = (v4d)((v4l)(b - m) & finB);
            squares = squares + (da * da + db * db);
        }
    }
    double m2 = CKPT_NAME(lane_sum)(squares);
    for (int64_t i = vectorEnd; i < start + n; i++) {
        double x = CKPT_NAME(load_double)(p, type, i);
        if (__builtin_isfinite(x)) m2 += (x - mean) * (x - mean);
    }
    s.mean = mean;
    s.m2 = m2;
    return s;
}

CKPT_ATTR void CKPT_NAME(ckpt_value_stats)(const void *src, int type, int64_t count, ckpt_value_stats *out) {
    const unsigned char *p = src;
    for (int64_t start = 0; start < count; start += 4096) {
        int64_t n = count - start < 4096 ? count - start : 4096;
        ckpt_value_stats block;
        switch (type) {  /* a constant type per call, so that the loader's switch folds away */
        case CKPT_LANE_F32: block = CKPT_NAME(stats_block)(p, CKPT_LANE_F32, start, n); break;
        case CKPT_LANE_F16: block = CKPT_NAME(stats_block)(p, CKPT_LANE_F16, start, n); break;
        case CKPT_LANE_BF16: block = CKPT_NAME(stats_block)(p, CKPT_LANE_BF16, start, n); break;
        default: block = CKPT_NAME(stats_block)(p, CKPT_LANE_F64, start, n); break;
        }
        ckpt_value_stats_merge(out, &block);
    }
}

/* Eight floats rounded to F16 bit patterns as PyTorch's `tensor.to(torch.float16)` does (the
 * x86 vcvtps2ph instruction): round to nearest even, overflow to infinity, subnormals rounded
 * exactly, NaN kept quiet with its sign and the top 9 bits of its payload. The portable copy does
 * the same with integer and float operations that round identically (no fused operations). */
CKPT_INLINE v8h CKPT_NAME(round_f16_lanes)(v8u x) {
#if CKPT_F16C
    v8hf h = __builtin_convertvector((v8f)x, v8hf);
    v8h out;
    __builtin_memcpy(&out, &h, sizeof out);
    return out;
#else
    v8u sign = (x >> 16) & 0x8000u;
    v8u a = x & 0x7FFFFFFFu;
    v8u nanBits = 0x7E00u | ((a >> 13) & 0x3FFu);
    v8u t = a - 0x38000000u; /* rebias the exponent from 127 to 15 */
    v8u normal = (t + 0x0FFFu + ((t >> 13) & 1u)) >> 13;
    /* Below 2^-14: adding 0.5 leaves the F16 subnormal's bits at the bottom of the mantissa,
     * rounded to nearest even by the float addition itself. */
    v8u subnormal = (v8u)((v8f)a + 0.5f) - 0x3F000000u;
    v8i isNaN = (v8i)(a > 0x7F800000u);
    v8i overflows = (v8i)(a >= 0x477FF000u);
    v8i isNormal = (v8i)(a >= 0x38800000u);
    v8u out = ((v8u)isNormal & normal) | (~(v8u)isNormal & subnormal);
    out = ((v8u)overflows & 0x7C00u) | (~(v8u)overflows & out);
    out = ((v8u)isNaN & nanBits) | (~(v8u)isNaN & out);
    return __builtin_convertvector(out | sign, v8h);
#endif
}

/* Eight floats rounded to BF16 bit patterns: round to nearest even (overflow reaches infinity by
 * the carry), NaN replaced by `nan_bits`. */
CKPT_INLINE v8h CKPT_NAME(round_bf16_lanes)(v8u x, uint16_t nan_bits) {
    v8u rounded = (x + 0x7FFFu + ((x >> 16) & 1u)) >> 16;
    v8i isNaN = (v8i)((x & 0x7FFFFFFFu) > 0x7F800000u);
    v8u out = ((v8u)isNaN & (uint32_t)nan_bits) | (~(v8u)isNaN & rounded);
    return __builtin_convertvector(out, v8h);
}

CKPT_ATTR void CKPT_NAME(ckpt_round_f32)(const void *src, int target, uint16_t nan_bits, void *dst, int64_t count) {
    const unsigned char *p = src;
    unsigned char *q = dst;
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) {
        v8u x = *(const v8u_unaligned *)(p + 4 * i);
        *(v8h_unaligned *)(q + 2 * i) = target == CKPT_LANE_F16 ? CKPT_NAME(round_f16_lanes)(x) : CKPT_NAME(round_bf16_lanes)(x, nan_bits);
    }
    for (; i < count; i++) {
        v8u x = {0};
        __builtin_memcpy(&x, p + 4 * i, 4);
        v8h h = target == CKPT_LANE_F16 ? CKPT_NAME(round_f16_lanes)(x) : CKPT_NAME(round_bf16_lanes)(x, nan_bits);
        __builtin_memcpy(q + 2 * i, &h, 2);
    }
}

/* The dense-layer kernels, built from the helpers above. */
#include "linear_body.h"

/* The encoder's activations (GELU, softmax). */
#include "activation_body.h"

/* Block transposes (TF kernels against PyTorch weights). */
#include "transpose_body.h"

#undef CKPT_INLINE
