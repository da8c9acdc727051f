#!/usr/bin/env python3
"""The script a user writes today to see what fine-tuning changed between two `pytorch_model.bin`
files: torch.load both (weights_only, the default), then per shared tensor the L2 norms of the base
and of the change and the relative change, in float32 (names paired across `bert.` prefixes). Prints a one-line summary.

usage: diff_torch_bin.py BASE.bin FINETUNED.bin
"""
import sys
import time

import torch

from diff_torch import strip  # the same name pairing as the safetensors script


def main():
    start = time.perf_counter()
    base = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
    ft = torch.load(sys.argv[2], map_location="cpu", weights_only=True)
    ft_names = {strip(n): n for n in ft}
    rows = []
    for name, b in base.items():
        other = ft_names.get(strip(name))
        if other is None:
            continue
        b = b.float()
        d = ft[other].float() - b
        base_l2 = torch.linalg.vector_norm(b).item()
        delta_l2 = torch.linalg.vector_norm(d).item()
        rows.append((delta_l2 / base_l2 if base_l2 else float("inf"), name))
    seconds = time.perf_counter() - start
    top = max(rows)
    print(f"{len(rows)} tensors in {seconds:.2f} s; top relative change {top[0]:.6g} ({top[1]})")


if __name__ == "__main__":
    main()
