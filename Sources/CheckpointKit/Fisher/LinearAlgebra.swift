import CBLASLoader
import CKernels
import Dispatch

/// Thin wrappers over OpenBLAS (opened on first use, `CBLASLoader`) for the encoder's forward and backward passes. Every matrix is
/// row-major `Float`; a PyTorch `Linear` weight is `[out, in]`, so `y = x W^T` is
/// ``linear(_:rows:inFeatures:weight:outFeatures:into:accumulate:)``.
///
/// The dense layers (`linear`, `linearBackward`) run OpenBLAS (fast), or, while
/// ``rowDeterministic`` is bound to `true` (a reproducible Fisher run, every `--shard`), CKernels'
/// `ckpt_linear*`, whose every output row depends on its own input row alone, bit for bit, whatever
/// the batch around it: a Fisher run split into shards batches examples differently and must still
/// compute each example's gradient exactly as one run does. OpenBLAS's results change in the last
/// bits with the matrix size; it always keeps the per-example attention products (whose sizes
/// depend on the example alone). The row-deterministic kernels are about 3-10x slower.
enum BLAS {
    /// Bound (with `BLAS.$rowDeterministic.withValue`) around a reproducible run; read by the
    /// calling thread of each dense layer.
    @TaskLocal static var rowDeterministic = false

    /// `C[m x n] = alpha * op(A) * op(B) + beta * C`, where `op(A)` is `m x k` and `op(B)` is `k x n`.
    /// `lda`, `ldb`, `ldc` are the row strides of the matrices as stored.
    @inline(__always)
    static func gemm(m: Int, n: Int, k: Int,
                     a: UnsafePointer<Float>, lda: Int, transposeA: Bool = false,
                     b: UnsafePointer<Float>, ldb: Int, transposeB: Bool = false,
                     c: UnsafeMutablePointer<Float>, ldc: Int,
                     alpha: Float = 1, beta: Float = 0) {
        guard m > 0, n > 0 else { return }
        ckpt_blas_sgemm(transposeA ? 1 : 0, transposeB ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha,
                        a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `Y[rows x out] = X[rows x in] * W^T (+ Y if accumulate)` for a PyTorch `[out, in]` weight.
    static func linear(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                       weight: UnsafePointer<Float>, outFeatures: Int,
                       into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        guard rowDeterministic else {
            return gemm(m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures,
                        b: weight, ldb: inFeatures, transposeB: true, c: y, ldc: outFeatures,
                        beta: accumulate ? 1 : 0)
        }
        inRowChunks(rows) { start, count in
            ckpt_linear(x + start * inFeatures, Int64(count), Int64(inFeatures), weight, Int64(outFeatures),
                        y + start * outFeatures, accumulate ? 1 : 0)
        }
    }

    /// `dX[rows x in] = dY[rows x out] * W (+ dX if accumulate)`: the input gradient of `linear`.
    static func linearBackward(_ dy: UnsafePointer<Float>, rows: Int, outFeatures: Int,
                               weight: UnsafePointer<Float>, inFeatures: Int,
                               into dx: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        guard rowDeterministic else {
            return gemm(m: rows, n: inFeatures, k: outFeatures, a: dy, lda: outFeatures,
                        b: weight, ldb: inFeatures, c: dx, ldc: inFeatures, beta: accumulate ? 1 : 0)
        }
        inRowChunks(rows) { start, count in
            ckpt_linear_backward(dy + start * outFeatures, Int64(count), Int64(outFeatures), weight, Int64(inFeatures),
                                 dx + start * inFeatures, accumulate ? 1 : 0)
        }
    }

    /// Runs `body(start, count)` over row ranges covering `0..<rows`, on up to ``threadCount``
    /// threads when there are enough rows (rows are independent, so the split changes no bit).
    private static func inRowChunks(_ rows: Int, _ body: (Int, Int) -> Void) {
        let chunks = max(1, min(threadCount, rows / 64))
        guard chunks > 1 else { return body(0, rows) }
        let size = (rows + chunks - 1) / chunks
        // The chunks write disjoint rows; concurrentPerform returns when all are done.
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let start = c * size
                if start < rows { body(start, min(size, rows - start)) }
            }
        }
    }

    /// Number of threads OpenBLAS uses for one call.
    static var threadCount: Int { Int(ckpt_blas_threads()) }

    static func setThreadCount(_ n: Int) { ckpt_blas_set_threads(Int32(n)) }

    /// Runs `body` with OpenBLAS (and ``inRowChunks``) on `n` threads per call, then restores the
    /// count: for callers that run several calls at once on their own threads.
    static func withThreadCount<T>(_ n: Int, _ body: () throws -> T) rethrows -> T {
        let saved = threadCount
        setThreadCount(n)
        defer { setThreadCount(saved) }
        return try body()
    }
}
