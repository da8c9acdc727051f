#!/usr/bin/env python3
"""The numpy way of `ckpt inspect --values`, for the README's Speed table: per tensor the NaN,
Inf and zero counts and min / max / mean / std (population) of the finite values, in float64,
one tensor at a time through safetensors' `safe_open` (numpy, memory-mapped).

usage: python3 Benchmarks/inspect_values_numpy.py FILE.safetensors   (prints a summary line)
"""
import sys
import time

import numpy as np
from safetensors import safe_open


def stats(v):
    v = v.astype(np.float64, copy=False).ravel()
    finite = np.isfinite(v)
    f = v if finite.all() else v[finite]
    return (int(np.isnan(v).sum()), int(np.isinf(v).sum()), int((v == 0).sum()),
            f.min() if f.size else None, f.max() if f.size else None,
            f.mean() if f.size else None, f.std() if f.size else None)


def main():
    start = time.perf_counter()
    nan = inf = zeros = tensors = 0
    with safe_open(sys.argv[1], framework="numpy") as f:
        for name in f.keys():
            n, i, z, *_ = stats(f.get_tensor(name))
            nan, inf, zeros, tensors = nan + n, inf + i, zeros + z, tensors + 1
    print(f"{tensors} tensors, {nan} NaN, {inf} Inf, {zeros} zeros in {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
