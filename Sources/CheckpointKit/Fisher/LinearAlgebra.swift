import COpenBLAS

/// Thin wrappers over OpenBLAS for the encoder's forward and backward passes. Every matrix is
/// row-major `Float`; a PyTorch `Linear` weight is `[out, in]`, so `y = x W^T` is
/// ``gemm(_:_:_:_:_:_:transposeB:...)`` with `transposeB: true`.
enum BLAS {
    /// `C[m x n] = alpha * op(A) * op(B) + beta * C`, where `op(A)` is `m x k` and `op(B)` is `k x n`.
    /// `lda`, `ldb`, `ldc` are the row strides of the matrices as stored.
    @inline(__always)
    static func gemm(m: Int, n: Int, k: Int,
                     a: UnsafePointer<Float>, lda: Int, transposeA: Bool = false,
                     b: UnsafePointer<Float>, ldb: Int, transposeB: Bool = false,
                     c: UnsafeMutablePointer<Float>, ldc: Int,
                     alpha: Float = 1, beta: Float = 0) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(CblasRowMajor,
                    transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha,
                    a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }

    /// `Y[rows x out] = X[rows x in] * W^T (+ Y if accumulate)` for a PyTorch `[out, in]` weight.
    @inline(__always)
    static func linear(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                       weight: UnsafePointer<Float>, outFeatures: Int,
                       into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        gemm(m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures,
             b: weight, ldb: inFeatures, transposeB: true, c: y, ldc: outFeatures,
             beta: accumulate ? 1 : 0)
    }

    /// `dX[rows x in] = dY[rows x out] * W (+ dX if accumulate)`: the input gradient of `linear`.
    @inline(__always)
    static func linearBackward(_ dy: UnsafePointer<Float>, rows: Int, outFeatures: Int,
                               weight: UnsafePointer<Float>, inFeatures: Int,
                               into dx: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        gemm(m: rows, n: inFeatures, k: outFeatures, a: dy, lda: outFeatures,
             b: weight, ldb: inFeatures, c: dx, ldc: inFeatures, beta: accumulate ? 1 : 0)
    }

    /// Number of threads OpenBLAS uses for one call.
    static var threadCount: Int { Int(openblas_get_num_threads()) }

    static func setThreadCount(_ n: Int) { openblas_set_num_threads(Int32(n)) }
}
