#ifndef CKPT_COPENBLAS_SHIM_H
#define CKPT_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
