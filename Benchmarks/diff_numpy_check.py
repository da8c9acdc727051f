#!/usr/bin/env python3
"""Checks `ckpt diff --json` output against an independent numpy float64 computation.

For every tensor pair ckpt reports (by its base_name / finetuned_name), reads both tensors from
the safetensors files with numpy (F32, F16, BF16, F64), recomputes base_l2, finetuned_l2,
delta_l2, relative_change, mean_abs_delta, max_abs_delta, cosine and changed, and prints the
largest relative error per field. Exit status 1 if any exceeds the tolerance.

usage: diff_numpy_check.py BASE.safetensors FINETUNED.safetensors CKPT.json [TOLERANCE=1e-6]
"""
import json
import math
import struct
import sys

import numpy as np

FIELDS = ["base_l2", "finetuned_l2", "delta_l2", "relative_change", "mean_abs_delta", "max_abs_delta", "cosine"]


class Safetensors:
    def __init__(self, path):
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            self.header = json.loads(f.read(n))
        self.data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)

    def get(self, name):
        e = self.header[name]
        raw = self.data[e["data_offsets"][0]:e["data_offsets"][1]]
        dtype = e["dtype"]
        if dtype == "BF16":
            bits = raw.view("<u2")
            return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64), bits
        np_type = {"F32": "<f4", "F16": "<f2", "F64": "<f8"}[dtype]
        arr = raw.view(np_type)
        return arr.astype(np.float64), arr.view(f"<u{arr.itemsize}")


def main():
    base, ft = Safetensors(sys.argv[1]), Safetensors(sys.argv[2])
    doc = json.load(open(sys.argv[3]))
    tolerance = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-6
    worst = {k: (0.0, None) for k in FIELDS + ["changed"]}
    for t in doc["tensors"]:
        if t["problem"] or t["transposed"]:
            continue
        b, bbits = base.get(t["base_name"])
        f, fbits = ft.get(t["finetuned_name"])
        d = f - b
        sb2, sf2 = math.fsum(b * b), math.fsum(f * f)
        mine = {
            "base_l2": math.sqrt(sb2),
            "finetuned_l2": math.sqrt(sf2),
            "delta_l2": math.sqrt(math.fsum(d * d)),
            "mean_abs_delta": math.fsum(np.abs(d)) / b.size,
            "max_abs_delta": float(np.max(np.abs(d))) if b.size else 0.0,
            "cosine": math.fsum(b * f) / math.sqrt(sb2 * sf2) if sb2 > 0 and sf2 > 0 else None,
        }
        mine["relative_change"] = mine["delta_l2"] / mine["base_l2"] if mine["base_l2"] > 0 else None
        same = t["base_dtype"] == t["finetuned_dtype"]
        changed = int(np.count_nonzero(bbits != fbits)) if same else int(np.count_nonzero(b.astype(np.float32) != f.astype(np.float32)))
        if changed != t["changed"]:
            worst["changed"] = (float("inf"), (t["name"], t["changed"], changed))
        for k in FIELDS:
            expected, actual = mine[k], t[k]
            if expected is None:
                continue
            err = abs(actual - expected) / abs(expected) if expected != 0 else abs(actual)
            if err > worst[k][0]:
                worst[k] = (err, (t["name"], actual, expected))
    failed = False
    for k, (err, where) in worst.items():
        print(f"{k:16s} worst relative error {err:.3g}" + (f"  at {where}" if where else ""))
        failed |= err > tolerance
    print(f"{len(doc['tensors'])} tensors, tolerance {tolerance}: {'FAIL' if failed else 'ok'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
