#!/usr/bin/env python3
"""Many-tensor checkpoints (issue 14): makes safetensors files of N one-element F32 tensors named
like a mixture-of-experts model (`model.layers.L.mlp.experts.E.down_proj.weight`), written with
safetensors/numpy, and times `ckpt inspect`, `ckpt diff` of the file against itself, and Python
`safe_open` + reading every shape, each through Benchmarks/measure.py (wall seconds, peak RSS).

usage: many_tensors.py [--ckpt .build/release/ckpt] [--dir /tmp/many] [--repeat 3] N [N ...]
Prints one Markdown table row per (N, job): median wall seconds over --repeat runs, peak RSS, and
microseconds per tensor. With --header-only N, writes only a header whose data section is a hole
(a sparse file), for counts too large to write element by element (1,000,000 tensors).
"""
import argparse
import json
import os
import statistics
import struct
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PROJ = ["q_proj", "k_proj", "v_proj", "o_proj"]
EXPERT = ["gate_proj", "up_proj", "down_proj"]


def names(count):
    """MoE-style names: per layer 4 attention weights, 2 norms, then experts of 3 projections."""
    out, layer = [], 0
    while len(out) < count:
        out += [f"model.layers.{layer}.self_attn.{p}.weight" for p in PROJ]
        out += [f"model.layers.{layer}.input_layernorm.weight", f"model.layers.{layer}.post_attention_layernorm.weight"]
        out += [f"model.layers.{layer}.mlp.experts.{e}.{p}.weight" for e in range(128) for p in EXPERT]
        layer += 1
    return out[:count]


def make(path, count):
    """Writes the file with safetensors' own writer (one F32 element per tensor)."""
    if os.path.exists(path):
        return
    from safetensors.numpy import save_file
    values = np.arange(count, dtype=np.float32)
    save_file({n: values[i:i + 1] for i, n in enumerate(names(count))}, path)


def make_sparse(path, count):
    """A header written here (safetensors' own format, offsets contiguous), data section a hole."""
    if os.path.exists(path):
        return
    entries = {n: {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i, n in enumerate(names(count))}
    header = json.dumps(entries, separators=(",", ":")).encode()
    header += b" " * ((8 - len(header) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)))
        f.write(header)
        f.truncate(8 + len(header) + 4 * count)


SAFE_OPEN = """
import sys
from safetensors import safe_open
with safe_open(sys.argv[1], 'np') as f:
    shapes = {k: f.get_slice(k).get_shape() for k in f.keys()}
"""


def measure(cmd, repeat):
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, os.path.join(HERE, "measure.py")] + cmd, check=True,
                             capture_output=True, text=True).stdout
        runs.append(json.loads(out))
    return statistics.median(r["seconds"] for r in runs), max(r["max_rss_mb"] for r in runs), runs[0]["load"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("counts", nargs="+", type=int)
    parser.add_argument("--ckpt", default=os.path.join(HERE, "..", ".build", "release", "ckpt"))
    parser.add_argument("--dir", default="/tmp/many-tensors")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--header-only", action="store_true", help="sparse files, no safe_open")
    parser.add_argument("--jobs", default="inspect,diff,safe_open")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    print("| tensors | job | median s | peak RSS MB | us/tensor | load |")
    print("|---|---|---|---|---|---|")
    for count in args.counts:
        path = os.path.join(args.dir, f"{'sparse' if args.header_only else 'moe'}-{count}.safetensors")
        (make_sparse if args.header_only else make)(path, count)
        jobs = {
            "inspect": [args.ckpt, "inspect", path, "--json"],
            "diff": [args.ckpt, "diff", path, path, "--json"],
            "safe_open": [sys.executable, "-c", SAFE_OPEN, path],
        }
        for job in args.jobs.split(","):
            seconds, rss, load = measure(jobs[job], args.repeat)
            print(f"| {count:,} | {job} | {seconds:.3f} | {rss:.0f} | {seconds / count * 1e6:.2f} | {load:.1f} |", flush=True)


if __name__ == "__main__":
    main()
