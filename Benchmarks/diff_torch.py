#!/usr/bin/env python3
"""The script a user writes today to see what fine-tuning changed: open both safetensors files
with safetensors.safe_open, and for each shared tensor compute norms with torch.

Computes the same per-tensor numbers as `ckpt diff` (base/delta L2, relative change, mean and max
|delta|, cosine, changed elements) in float32, as such scripts do, and prints a one-line summary.

With --norms-only it computes just base_l2, delta_l2 and relative_change (the shortest script
that answers "how much did each tensor move").

usage: diff_torch.py BASE.safetensors FINETUNED.safetensors [--norms-only]
"""
import sys
import time

import torch
from safetensors import safe_open

PREFIXES = ("bert.", "roberta.", "model.")


def strip(name):
    for p in PREFIXES:
        if name.startswith(p):
            return name[len(p):]
    return name


def main():
    base_path, ft_path = sys.argv[1], sys.argv[2]
    norms_only = "--norms-only" in sys.argv[3:]
    start = time.perf_counter()
    rows = []
    with safe_open(base_path, framework="pt") as base, safe_open(ft_path, framework="pt") as ft:
        ft_names = {strip(n): n for n in ft.keys()}
        for name in base.keys():
            other = ft_names.get(strip(name)) or ft_names.get(name)
            if other is None:
                continue
            b = base.get_tensor(name).float()
            f = ft.get_tensor(other).float()
            d = f - b
            base_l2 = torch.linalg.vector_norm(b).item()
            delta_l2 = torch.linalg.vector_norm(d).item()
            relative = delta_l2 / base_l2 if base_l2 else float("inf")
            if norms_only:
                rows.append({"name": name, "base_l2": base_l2, "delta_l2": delta_l2, "relative_change": relative})
                continue
            rows.append({
                "name": name,
                "base_l2": base_l2,
                "delta_l2": delta_l2,
                "relative_change": relative,
                "mean_abs_delta": d.abs().mean().item(),
                "max_abs_delta": d.abs().max().item(),
                "cosine": torch.nn.functional.cosine_similarity(b.flatten(), f.flatten(), dim=0).item(),
                "changed": int((b != f).sum().item()),
            })
    seconds = time.perf_counter() - start
    top = max(rows, key=lambda r: r["relative_change"])
    print(f"{len(rows)} tensors in {seconds:.2f} s; most changed: {top['name']} {top['relative_change']:.4g}")


if __name__ == "__main__":
    main()
