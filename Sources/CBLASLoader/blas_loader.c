#include "ckpt_blas.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* cblas.h's values (CBLAS_ORDER, CBLAS_TRANSPOSE); the header is not needed to call through a pointer. */
enum { row_major = 101, no_transpose = 111, transpose = 112 };

typedef void (*sgemm_function)(int, int, int, int, int, int, float, const float *, int, const float *, int,
                               float, float *, int);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static sgemm_function sgemm;
static int (*get_threads)(void);
static void (*set_threads)(int);
static char error_text[512];

static void open_library(void) {
    static const char *const names[] = {"libopenblas.so.0", "libopenblas.so"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *library = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!library) {
            if (i == 0) snprintf(error_text, sizeof error_text, "%s", dlerror());
            continue;
        }
        sgemm = (sgemm_function)dlsym(library, "cblas_sgemm");
        if (!sgemm) {
            snprintf(error_text, sizeof error_text, "%s has no cblas_sgemm", names[i]);
            dlclose(library);
            continue;
        }
        get_threads = (int (*)(void))dlsym(library, "openblas_get_num_threads");
        set_threads = (void (*)(int))dlsym(library, "openblas_set_num_threads");
        error_text[0] = 0;
        return;
    }
}

int ckpt_blas_available(void) {
    pthread_once(&once, open_library);
    return sgemm != NULL;
}

const char *ckpt_blas_error(void) {
    pthread_once(&once, open_library);
    return error_text;
}

void ckpt_blas_sgemm(int transpose_a, int transpose_b, int m, int n, int k, float alpha,
                     const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    if (!ckpt_blas_available()) {
        fprintf(stderr, "ckpt: OpenBLAS (libopenblas.so.0), needed for Fisher information and LoRA merges, "
                        "could not be loaded: %s; install it (Debian/Ubuntu: apt install libopenblas0)\n", error_text);
        exit(69); /* EX_UNAVAILABLE, man ckpt: EXIT STATUS */
    }
    sgemm(row_major, transpose_a ? transpose : no_transpose, transpose_b ? transpose : no_transpose, m, n, k,
          alpha, a, lda, b, ldb, beta, c, ldc);
}

int ckpt_blas_threads(void) {
    return ckpt_blas_available() && get_threads ? get_threads() : 1;
}

void ckpt_blas_set_threads(int count) {
    if (ckpt_blas_available() && set_threads) set_threads(count);
}
