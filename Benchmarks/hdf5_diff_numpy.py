#!/usr/bin/env python3
"""The h5py + numpy way of `ckpt diff` on an HDF5 pair (issue 14's reference): every dataset the
two files share, read whole with h5py, compared in float64 with numpy: the norms, the difference
norm, max |delta| and the count of changed elements per tensor (the core of what ckpt reports).

usage: hdf5_diff_numpy.py BASE.h5 FT.h5
"""
import sys

import h5py
import numpy as np


def datasets(f):
    """Every dataset by name, a task model's `bert.` prefix removed (as ckpt pairs them)."""
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name.removeprefix("bert."), obj) if isinstance(obj, h5py.Dataset) else None)
    return out


def main():
    with h5py.File(sys.argv[1], "r") as a, h5py.File(sys.argv[2], "r") as b:
        base, ft = datasets(a), datasets(b)
        total, changed = 0.0, 0
        for name in sorted(base.keys() & ft.keys()):
            x = base[name][()].astype(np.float64)
            y = ft[name][()].astype(np.float64)
            if x.shape != y.shape:
                continue
            d = y - x
            total += float(np.sqrt(np.sum(d * d)))
            changed += int(np.count_nonzero(d))
            _ = (np.linalg.norm(x), np.linalg.norm(y), np.max(np.abs(d)) if d.size else 0.0)
        print(f"{len(base.keys() & ft.keys())} datasets, {changed} elements changed, sum of norms {total:.6g}")


if __name__ == "__main__":
    main()
