#ifndef CKPT_BLAS_H
#define CKPT_BLAS_H

/// OpenBLAS, opened with dlopen on first use instead of linked.
///
/// Why: a linked OpenBLAS is loaded by every ckpt process and starts its thread pool before
/// `main`, about 11 ms of wall time a process on a 2-core machine (and its threads compete with
/// ckpt's own for the cores), for commands such as inspect, diff and patch that never multiply a
/// matrix, and for every HDF5 rehearsal helper. Only Fisher estimates and LoRA merges use it.
///
/// The first call of any function below opens `libopenblas.so.0` (then `libopenblas.so`). When
/// neither can be opened, ``ckpt_blas_sgemm`` writes one line naming the library to stderr and
/// ends the process with status 69 (EX_UNAVAILABLE): before this loader, ckpt could not start at
/// all without the library.

/// Whether OpenBLAS could be opened (opens it on the first call).
int ckpt_blas_available(void);

/// The dlerror text of the failed opening, or "" when OpenBLAS is open.
const char *ckpt_blas_error(void);

/// `C[m x n] = alpha * op(A) * op(B) + beta * C`, row-major `cblas_sgemm` (`op` transposes when the
/// flag is non-zero); the strides are elements between rows as stored.
void ckpt_blas_sgemm(int transpose_a, int transpose_b, int m, int n, int k, float alpha,
                     const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/// OpenBLAS's threads per call (1 when the library lacks `openblas_get_num_threads`).
int ckpt_blas_threads(void);

/// Sets OpenBLAS's threads per call (ignored when the library lacks `openblas_set_num_threads`).
void ckpt_blas_set_threads(int count);

#endif
