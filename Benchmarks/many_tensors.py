#!/usr/bin/env python3
"""Many-tensor checkpoints (issue 14): makes safetensors files of N one-element F32 tensors named
like a mixture-of-experts model (`model.layers.L.mlp.experts.E.down_proj.weight`), written with
safetensors/numpy, and times `ckpt inspect`, `ckpt diff` of the file against itself, and Python
`safe_open` + reading every shape, each through Benchmarks/measure.py (wall seconds, peak RSS); --jobs picks from inspect, inspect-json, diff,
diff-json (the reports as JSON) and safe_open.

usage: many_tensors.py [--ckpt .build/release/ckpt] [--dir /tmp/many] [--repeat 3] [--shards K]
                       [--short-names] N [N ...]
Prints one Markdown table row per (N, job): median wall seconds and CPU seconds over --repeat runs,
peak RSS, and microseconds per tensor (wall). --shards K splits the tensors over K files with a
`model.safetensors.index.json` (the jobs then open the index; safe_open reads every shard).
--short-names uses `layers.L.experts.E.w0`-style names, so that 1,000,000 tensors fit in one
header under the 100,000,000-byte limit (the long names need about 105 bytes a tensor).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PROJ = ["q_proj", "k_proj", "v_proj", "o_proj"]
EXPERT = ["gate_proj", "up_proj", "down_proj"]


def names(count, short=False):
    """MoE-style names: per layer 4 attention weights, 2 norms, then experts of 3 projections."""
    out, layer = [], 0
    if short:
        while len(out) < count:
            out += [f"layers.{layer}.experts.{e}.w{p}" for e in range(128) for p in range(3)]
            layer += 1
        return out[:count]
    while len(out) < count:
        out += [f"model.layers.{layer}.self_attn.{p}.weight" for p in PROJ]
        out += [f"model.layers.{layer}.input_layernorm.weight", f"model.layers.{layer}.post_attention_layernorm.weight"]
        out += [f"model.layers.{layer}.mlp.experts.{e}.{p}.weight" for e in range(128) for p in EXPERT]
        layer += 1
    return out[:count]


def make(path, count, shards=1, short=False):
    """Writes the file (or the shards and their index) with safetensors' own writer, one F32
    element per tensor; returns the path to open."""
    from safetensors.numpy import save_file
    all_names = names(count, short)
    values = np.arange(count, dtype=np.float32)
    if shards == 1:
        if not os.path.exists(path):
            save_file({n: values[i:i + 1] for i, n in enumerate(all_names)}, path)
        return path
    os.makedirs(path, exist_ok=True)
    index = os.path.join(path, "model.safetensors.index.json")
    if os.path.exists(index):
        return index
    weight_map, per = {}, (count + shards - 1) // shards
    for k in range(shards):
        shard = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        part = range(k * per, min(count, (k + 1) * per))
        save_file({all_names[i]: values[i:i + 1] for i in part}, os.path.join(path, shard))
        weight_map.update({all_names[i]: shard for i in part})
    with open(index, "w") as f:
        json.dump({"metadata": {"total_size": 4 * count}, "weight_map": weight_map}, f)
    return index


SAFE_OPEN = """
import json, os, sys
from safetensors import safe_open
path = sys.argv[1]
files = [path]
if path.endswith(".json"):
    files = [os.path.join(os.path.dirname(path), s) for s in sorted(set(json.load(open(path))["weight_map"].values()))]
shapes = {}
for file in files:
    with safe_open(file, 'np') as f:
        shapes.update({k: f.get_slice(k).get_shape() for k in f.keys()})
"""


def measure(cmd, repeat):
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, os.path.join(HERE, "measure.py")] + cmd, check=True,
                             capture_output=True, text=True).stdout
        runs.append(json.loads(out))
    return (statistics.median(r["seconds"] for r in runs), statistics.median(r["cpu_seconds"] for r in runs),
            max(r["max_rss_mb"] for r in runs), runs[0]["load"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("counts", nargs="+", type=int)
    parser.add_argument("--ckpt", default=os.path.join(HERE, "..", ".build", "release", "ckpt"))
    parser.add_argument("--dir", default="/tmp/many-tensors")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--short-names", action="store_true")
    parser.add_argument("--jobs", default="inspect,diff,safe_open")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    print("| tensors | files | job | median wall s | median CPU s | peak RSS MB | wall us/tensor | load |")
    print("|---|---|---|---|---|---|---|---|")
    for count in args.counts:
        stem = f"moe{'-short' if args.short_names else ''}-{count}"
        if args.shards > 1:
            path = make(os.path.join(args.dir, f"{stem}-{args.shards}-shards"), count, args.shards, args.short_names)
        else:
            path = make(os.path.join(args.dir, stem + ".safetensors"), count, 1, args.short_names)
        jobs = {
            "inspect": [args.ckpt, "inspect", path],
            "inspect-json": [args.ckpt, "inspect", path, "--json"],
            "diff": [args.ckpt, "diff", path, path],
            "diff-json": [args.ckpt, "diff", path, path, "--json"],
            "safe_open": [sys.executable, "-c", SAFE_OPEN, path],
        }
        for job in args.jobs.split(","):
            seconds, cpu, rss, load = measure(jobs[job], args.repeat)
            print(f"| {count:,} | {args.shards} | {job} | {seconds:.3f} | {cpu:.2f} | {rss:.0f} | {seconds / count * 1e6:.2f} | {load:.1f} |", flush=True)


if __name__ == "__main__":
    main()
