/* Block transposes of 2- and 4-byte elements (CheckpointKit's ElementTransposition), compiled once
 * per instruction set like kernel_body.h (which defines CKPT_NAME and CKPT_INLINE). A TF kernel
 * compared with a PyTorch weight is transposed a block of output rows at a time, so the loop runs
 * over bands of 8 source rows and, in each band, 8 x 8 tiles moved through vector shuffles (one
 * 32-byte or 16-byte load per source row, one store per output row). The elements are moved as
 * bits, never as numbers, so both copies write the same bytes. */

/* One 8 x 8 tile of 4-byte elements: row k of dst (stride `ds` bytes) is column k of src (stride
 * `ss` bytes). */
CKPT_INLINE void CKPT_NAME(transpose_tile32)(const uint8_t *s, int64_t ss, uint8_t *d, int64_t ds) {
    v8u r0 = *(const v8u_unaligned *)(s + 0 * ss), r1 = *(const v8u_unaligned *)(s + 1 * ss);
    v8u r2 = *(const v8u_unaligned *)(s + 2 * ss), r3 = *(const v8u_unaligned *)(s + 3 * ss);
    v8u r4 = *(const v8u_unaligned *)(s + 4 * ss), r5 = *(const v8u_unaligned *)(s + 5 * ss);
    v8u r6 = *(const v8u_unaligned *)(s + 6 * ss), r7 = *(const v8u_unaligned *)(s + 7 * ss);
    /* Interleave pairs of rows, then pairs of pairs, then the 128-bit halves. */
    v8u t0 = __builtin_shufflevector(r0, r1, 0, 8, 1, 9, 4, 12, 5, 13), t1 = __builtin_shufflevector(r0, r1, 2, 10, 3, 11, 6, 14, 7, 15);
    v8u t2 = __builtin_shufflevector(r2, r3, 0, 8, 1, 9, 4, 12, 5, 13), t3 = __builtin_shufflevector(r2, r3, 2, 10, 3, 11, 6, 14, 7, 15);
    v8u t4 = __builtin_shufflevector(r4, r5, 0, 8, 1, 9, 4, 12, 5, 13), t5 = __builtin_shufflevector(r4, r5, 2, 10, 3, 11, 6, 14, 7, 15);
    v8u t6 = __builtin_shufflevector(r6, r7, 0, 8, 1, 9, 4, 12, 5, 13), t7 = __builtin_shufflevector(r6, r7, 2, 10, 3, 11, 6, 14, 7, 15);
    v8u u0 = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13), u1 = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
    v8u u2 = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13), u3 = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
    v8u u4 = __builtin_shufflevector(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13), u5 = __builtin_shufflevector(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
    v8u u6 = __builtin_shufflevector(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13), u7 = __builtin_shufflevector(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
    *(v8u_unaligned *)(d + 0 * ds) = __builtin_shufflevector(u0, u4, 0, 1, 2, 3, 8, 9, 10, 11);
    *(v8u_unaligned *)(d + 1 * ds) = __builtin_shufflevector(u1, u5, 0, 1, 2, 3, 8, 9, 10, 11);
    *(v8u_unaligned *)(d + 2 * ds) = __builtin_shufflevector(u2, u6, 0, 1, 2, 3, 8, 9, 10, 11);
    *(v8u_unaligned *)(d + 3 * ds) = __builtin_shufflevector(u3, u7, 0, 1, 2, 3, 8, 9, 10, 11);
    *(v8u_unaligned *)(d + 4 * ds) = __builtin_shufflevector(u0, u4, 4, 5, 6, 7, 12, 13, 14, 15);
    *(v8u_unaligned *)(d + 5 * ds) = __builtin_shufflevector(u1, u5, 4, 5, 6, 7, 12, 13, 14, 15);
    *(v8u_unaligned *)(d + 6 * ds) = __builtin_shufflevector(u2, u6, 4, 5, 6, 7, 12, 13, 14, 15);
    *(v8u_unaligned *)(d + 7 * ds) = __builtin_shufflevector(u3, u7, 4, 5, 6, 7, 12, 13, 14, 15);
}

/* One 8 x 8 tile of 2-byte elements, as transpose_tile32. */
CKPT_INLINE void CKPT_NAME(transpose_tile16)(const uint8_t *s, int64_t ss, uint8_t *d, int64_t ds) {
    v8h r0 = *(const v8h_unaligned *)(s + 0 * ss), r1 = *(const v8h_unaligned *)(s + 1 * ss);
    v8h r2 = *(const v8h_unaligned *)(s + 2 * ss), r3 = *(const v8h_unaligned *)(s + 3 * ss);
    v8h r4 = *(const v8h_unaligned *)(s + 4 * ss), r5 = *(const v8h_unaligned *)(s + 5 * ss);
    v8h r6 = *(const v8h_unaligned *)(s + 6 * ss), r7 = *(const v8h_unaligned *)(s + 7 * ss);
    /* Interleave 2-byte, then 4-byte, then 8-byte units. */
    v8h p0 = __builtin_shufflevector(r0, r1, 0, 8, 1, 9, 2, 10, 3, 11), p1 = __builtin_shufflevector(r0, r1, 4, 12, 5, 13, 6, 14, 7, 15);
    v8h p2 = __builtin_shufflevector(r2, r3, 0, 8, 1, 9, 2, 10, 3, 11), p3 = __builtin_shufflevector(r2, r3, 4, 12, 5, 13, 6, 14, 7, 15);
    v8h p4 = __builtin_shufflevector(r4, r5, 0, 8, 1, 9, 2, 10, 3, 11), p5 = __builtin_shufflevector(r4, r5, 4, 12, 5, 13, 6, 14, 7, 15);
    v8h p6 = __builtin_shufflevector(r6, r7, 0, 8, 1, 9, 2, 10, 3, 11), p7 = __builtin_shufflevector(r6, r7, 4, 12, 5, 13, 6, 14, 7, 15);
    v8h q0 = __builtin_shufflevector(p0, p2, 0, 1, 8, 9, 2, 3, 10, 11), q1 = __builtin_shufflevector(p0, p2, 4, 5, 12, 13, 6, 7, 14, 15);
    v8h q2 = __builtin_shufflevector(p1, p3, 0, 1, 8, 9, 2, 3, 10, 11), q3 = __builtin_shufflevector(p1, p3, 4, 5, 12, 13, 6, 7, 14, 15);
    v8h q4 = __builtin_shufflevector(p4, p6, 0, 1, 8, 9, 2, 3, 10, 11), q5 = __builtin_shufflevector(p4, p6, 4, 5, 12, 13, 6, 7, 14, 15);
    v8h q6 = __builtin_shufflevector(p5, p7, 0, 1, 8, 9, 2, 3, 10, 11), q7 = __builtin_shufflevector(p5, p7, 4, 5, 12, 13, 6, 7, 14, 15);
    *(v8h_unaligned *)(d + 0 * ds) = __builtin_shufflevector(q0, q4, 0, 1, 2, 3, 8, 9, 10, 11);
    *(v8h_unaligned *)(d + 1 * ds) = __builtin_shufflevector(q0, q4, 4, 5, 6, 7, 12, 13, 14, 15);
    *(v8h_unaligned *)(d + 2 * ds) = __builtin_shufflevector(q1, q5, 0, 1, 2, 3, 8, 9, 10, 11);
    *(v8h_unaligned *)(d + 3 * ds) = __builtin_shufflevector(q1, q5, 4, 5, 6, 7, 12, 13, 14, 15);
    *(v8h_unaligned *)(d + 4 * ds) = __builtin_shufflevector(q2, q6, 0, 1, 2, 3, 8, 9, 10, 11);
    *(v8h_unaligned *)(d + 5 * ds) = __builtin_shufflevector(q2, q6, 4, 5, 6, 7, 12, 13, 14, 15);
    *(v8h_unaligned *)(d + 6 * ds) = __builtin_shufflevector(q3, q7, 0, 1, 2, 3, 8, 9, 10, 11);
    *(v8h_unaligned *)(d + 7 * ds) = __builtin_shufflevector(q3, q7, 4, 5, 6, 7, 12, 13, 14, 15);
}

CKPT_ATTR void CKPT_NAME(ckpt_transpose_columns)(const void *src, int64_t rows, int64_t columns, int64_t width,
                                                 int64_t first, int64_t end, void *dst) {
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *d = (uint8_t *)dst;
    const int64_t ss = columns * width, ds = rows * width;
    int64_t r = 0;
    for (; r + 8 <= rows; r += 8) {
        int64_t c = first;
        for (; c + 8 <= end; c += 8) {
            const uint8_t *tile = s + r * ss + c * width;
            uint8_t *out = d + (c - first) * ds + r * width;
            if (width == 4) CKPT_NAME(transpose_tile32)(tile, ss, out, ds);
            else CKPT_NAME(transpose_tile16)(tile, ss, out, ds);
        }
        for (; c < end; c++) {
            for (int64_t k = r; k < r + 8; k++) __builtin_memcpy(d + (c - first) * ds + k * width, s + k * ss + c * width, (unsigned long)width);
        }
    }
    for (; r < rows; r++) {
        for (int64_t c = first; c < end; c++) __builtin_memcpy(d + (c - first) * ds + r * width, s + r * ss + c * width, (unsigned long)width);
    }
}
