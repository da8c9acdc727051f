"""Examples/s of `ckpt fisher` against PyTorch on the same machine in the same run, and the share of the
BLAS limit ckpt reaches.

    /work/venv/bin/python Benchmarks/fisher_bench.py [--ckpt .build/release/ckpt] [--baseline OTHER_CKPT]
        [--n 128] [--joined 1 7] [--rounds 5]

Model: all-MiniLM-L6-v2 with a fresh 2-label head (as fisher_reference.py builds it). Data: N examples of
the toy-sentiment training sentences, max_length 64; `--joined 7` joins seven consecutive sentences
(cycling through the file) into one example (~41 tokens), `--joined 1` is one sentence (~8 tokens).
Every length in `--joined` is measured in the same run. Task: empirical Fisher of every LayerNorm
weight/bias.

- torch loop: float32, eval mode, one example at a time: forward, log_softmax, autograd.grad of the
  gold log-probability w.r.t. the LayerNorm parameters, add the squares (what FISH does); 1 and 2
  threads, the better of the two is the baseline.
- torch.func (`--torch-func`): vmap(grad(...)) over a padded batch with functional_call.
- ckpt: `ckpt fisher --json`, compute time (model load excluded); `--baseline` another binary.
The runs alternate (torch, ckpt, baseline, for each length) for `--rounds` rounds; medians are
reported with the load average of each round.
- BLAS limit: FLOPs per example of the forward plus the input-gradient backward (dense layers and
  attention products, every layer in full) divided by the sgemm GFLOP/s of the OpenBLAS ckpt links,
  measured in each round on the dense layers' shapes at a batch's row count (the better of 2 threads
  and twice 1 thread: both cores); ckpt's share = ckpt ex/s / limit ex/s.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
from transformers import BertForSequenceClassification, BertTokenizerFast

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fisher_reference import ROOT, build_classifier, read_tsv  # noqa: E402


def torch_loop(model, tok, rows, max_length):
    params = [p for n, p in model.named_parameters() if "LayerNorm" in n]
    acc = [torch.zeros_like(p) for p in params]
    encs = [tok(r["sentence"], truncation=True, max_length=max_length, return_tensors="pt") for r in rows]
    labels = [int(r["label"]) for r in rows]
    start = time.perf_counter()
    for enc, y in zip(encs, labels):
        logp = torch.log_softmax(model(**enc).logits[0], dim=-1)
        grads = torch.autograd.grad(logp[y], params)
        for a, g in zip(acc, grads):
            a += g * g
    return time.perf_counter() - start


def torch_func(model, tok, rows, max_length, batch):
    from torch.func import functional_call, grad, vmap
    names = [n for n, _ in model.named_parameters() if "LayerNorm" in n]
    ln = {n: p.detach() for n, p in model.named_parameters() if n in names}
    rest = {n: p.detach() for n, p in model.named_parameters() if n not in names}
    buffers = dict(model.named_buffers())

    def logp(ln_params, ids, types, mask, y):
        out = functional_call(model, ({**ln_params, **rest}, buffers),
                              kwargs={"input_ids": ids[None], "token_type_ids": types[None], "attention_mask": mask[None]})
        return torch.log_softmax(out.logits[0], dim=-1)[y]

    per_example = vmap(grad(logp), in_dims=(None, 0, 0, 0, 0))
    acc = {n: torch.zeros_like(p) for n, p in ln.items()}
    start = time.perf_counter()
    for i in range(0, len(rows), batch):
        chunk = rows[i:i + batch]
        enc = tok([r["sentence"] for r in chunk], truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        y = torch.tensor([int(r["label"]) for r in chunk])
        g = per_example(ln, enc["input_ids"], enc["token_type_ids"], enc["attention_mask"], y)
        for n in acc:
            acc[n] += (g[n] ** 2).sum(0)
    return time.perf_counter() - start


def dense_shapes(cfg):
    """(in, out) of each dense layer of one encoder layer."""
    h, i = cfg.hidden_size, cfg.intermediate_size
    return [(h, 3 * h), (h, h), (h, i), (i, h)]


def flops_per_example(cfg, length):
    """Forward plus input-gradient backward of one example of `length` tokens (2 FLOPs per multiply-add):
    the dense layers twice (forward, input gradient) and the attention products (2 forward, 4 backward)."""
    dense = sum(2 * length * a * b for a, b in dense_shapes(cfg))
    attention = 2 * length * length * cfg.hidden_size
    return cfg.num_hidden_layers * (2 * dense + 6 * attention)


def sgemm_gflops(ckpt, cfg, rows, threads=2, repeat=5):
    """GFLOP/s of cblas_sgemm in the OpenBLAS `ckpt` links, over the dense layers' forward (X W^T) and
    input-gradient (dY W) products at `rows` rows, on `threads` threads, best of `repeat`."""
    import ctypes
    import numpy as np
    path = next((l.split("=>")[1].split()[0] for l in subprocess.run(["ldd", ckpt], capture_output=True, text=True).stdout.splitlines()
                 if "openblas" in l), "libopenblas.so.0")
    lib = ctypes.CDLL(path)
    lib.openblas_set_num_threads(threads)
    f = ctypes.c_float
    p = lambda a: a.ctypes.data_as(ctypes.c_void_p)
    best = None
    rng = np.random.default_rng(0)
    mats = []
    for a, b in dense_shapes(cfg):
        w = rng.standard_normal((b, a), dtype=np.float32)
        mats.append((rng.standard_normal((rows, a), dtype=np.float32), w, np.empty((rows, b), np.float32), 112))  # X W^T
        mats.append((rng.standard_normal((rows, b), dtype=np.float32), w, np.empty((rows, a), np.float32), 111))  # dY W
    for _ in range(repeat):
        start = time.perf_counter()
        flops = 0
        for x, w, y, tb in mats:
            m, k = x.shape
            n = y.shape[1]
            lib.cblas_sgemm(101, 111, tb, m, n, k, f(1), p(x), k, p(w), w.shape[1], f(0), p(y), n)
            flops += 2 * m * n * k
        t = time.perf_counter() - start
        best = t if best is None else min(best, t)
    return flops / best / 1e9


def examples(all_rows, n, join):
    """`n` examples of `join` consecutive sentences each, cycling through the file."""
    return [{"sentence": " ".join(all_rows[(i * join + k) % len(all_rows)]["sentence"] for k in range(join)),
             "label": all_rows[(i * join) % len(all_rows)]["label"]} for i in range(n)]


def run_ckpt(binary, model_dir, data, work, args):
    out = subprocess.run([binary, "fisher", model_dir, "--data", data, "-o", os.path.join(work, "f.safetensors"),
                          "--max-length", str(args.max_length), "--batch-size", str(args.batch_size), "--json"],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["examples_per_second"]


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def main():
    ap = argparse.ArgumentParser()
    default_ckpt = os.path.join(ROOT, ".build/release/ckpt")
    if not os.path.exists(default_ckpt):
        default_ckpt = os.path.join(ROOT, ".build/debug/ckpt")  # unoptimised: much slower than release
    ap.add_argument("--ckpt", default=default_ckpt)
    ap.add_argument("--baseline", help="another ckpt binary measured alternately (e.g. main's)")
    ap.add_argument("--data", default="/work/shared/data/toy-sentiment/train.tsv")
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--joined", "--join", type=int, nargs="+", default=[1, 7],
                    help="sentences joined into one example; each value is measured in the same run (7: ~41 tokens)")
    ap.add_argument("--torch-func", action="store_true", help="also time torch.func vmap(grad)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ckpt-fisher-bench-")
    model_dir = build_classifier(os.path.join(work, "minilm-cls"))
    all_rows = read_tsv(args.data, 10 ** 9)
    model = BertForSequenceClassification.from_pretrained(model_dir).eval()
    tok = BertTokenizerFast.from_pretrained(model_dir)
    cfg = model.config
    setups = {}
    for join in args.joined:
        rows = examples(all_rows, args.n, join)
        data = os.path.join(work, f"data-{join}.tsv")
        with open(data, "w", encoding="utf-8") as f:
            f.write("sentence\tlabel\n" + "".join(f"{r['sentence']}\t{r['label']}\n" for r in rows))
        lengths = [len(tok(r["sentence"], truncation=True, max_length=args.max_length)["input_ids"]) for r in rows]
        setups[join] = (rows, data, lengths)
    results = {"examples": args.n, "max_length": args.max_length, "batch_size": args.batch_size, "torch": torch.__version__,
               "rounds": [], "lengths": {}}
    keys = ["torch_1", "torch_2", "ckpt", "sgemm"] + (["baseline"] if args.baseline else [])
    times = {j: {k: [] for k in keys} for j in args.joined}
    for join in args.joined:
        torch.set_num_threads(1)
        torch_loop(model, tok, setups[join][0][:8], args.max_length)  # warm-up
    for r in range(args.rounds):
        load = os.getloadavg()[0]
        for join in args.joined:
            rows, data, _ = setups[join]
            for threads in (1, 2):
                torch.set_num_threads(threads)
                times[join][f"torch_{threads}"].append(len(rows) / torch_loop(model, tok, rows, args.max_length))
            times[join]["ckpt"].append(run_ckpt(args.ckpt, model_dir, data, work, args))
            if args.baseline:
                times[join]["baseline"].append(run_ckpt(args.baseline, model_dir, data, work, args))
            # The two cores' sgemm rate in this round: the better of 2 threads and twice 1 thread.
            rows_per_batch = round(sum(setups[join][2]) / len(rows) * args.batch_size)
            times[join]["sgemm"].append(max(sgemm_gflops(args.ckpt, cfg, rows_per_batch),
                                            2 * sgemm_gflops(args.ckpt, cfg, rows_per_batch, threads=1)))
        results["rounds"].append({"load_average_1min": load, **{f"{j}:{k}": round(v[-1], 1) for j in args.joined for k, v in times[j].items()}})
        print(json.dumps(results["rounds"][-1]), file=sys.stderr)
    for join in args.joined:
        rows, data, lengths = setups[join]
        mean = sum(lengths) / len(lengths)
        med = {k: median(v) for k, v in times[join].items()}
        torch_best = median([max(a, b) for a, b in zip(times[join]["torch_1"], times[join]["torch_2"])])
        flops = sum(flops_per_example(cfg, l) for l in lengths) / len(lengths)
        gflops = med["sgemm"]
        entry = {"mean_tokens": round(mean, 2), "torch_loop_1_thread": round(med["torch_1"], 1), "torch_loop_2_threads": round(med["torch_2"], 1),
                 "torch_loop_best": round(torch_best, 1), "ckpt": round(med["ckpt"], 1),
                 "ckpt_vs_torch_loop": round(med["ckpt"] / torch_best, 2),
                 "ckpt_vs_torch_loop_per_round": [round(c / max(a, b), 2) for c, a, b in
                                                  zip(times[join]["ckpt"], times[join]["torch_1"], times[join]["torch_2"])],
                 "gflop_per_example": round(flops / 1e9, 3), "sgemm_gflops_two_cores": round(gflops, 1),
                 "blas_limit_examples_per_s": round(gflops * 1e9 / flops, 1),
                 "ckpt_share_of_blas_limit": round(med["ckpt"] * flops / (gflops * 1e9), 3),
                 "ckpt_share_of_blas_limit_per_round": [round(c * flops / (g * 1e9), 3) for c, g in zip(times[join]["ckpt"], times[join]["sgemm"])]}
        if args.baseline:
            entry["baseline"] = round(med["baseline"], 1)
            entry["baseline_vs_torch_loop"] = round(med["baseline"] / torch_best, 2)
        if args.torch_func:
            torch.set_num_threads(2)
            try:
                torch_func(model, tok, rows[:4], args.max_length, 4)
                entry["torch_func"] = round(len(rows) / torch_func(model, tok, rows, args.max_length, args.batch_size), 1)
            except Exception as e:  # transformers' mask code may break vmap
                entry["torch_func_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        results["lengths"][str(join)] = entry
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
