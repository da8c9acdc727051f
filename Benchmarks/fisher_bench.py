"""Examples/s of `ckpt fisher` against PyTorch on the same machine in the same run.

    /work/venv-fisher/bin/python Benchmarks/fisher_bench.py [--ckpt .build/release/ckpt] [--n 256] [--join 7]

Model: all-MiniLM-L6-v2 with a fresh 2-label head (as fisher_reference.py builds it). Data: the first N
toy-sentiment training sentences, max_length 64. Task: empirical Fisher of every LayerNorm weight/bias.

- torch loop: float32, eval mode, one example at a time: forward, log_softmax, autograd.grad of the
  gold log-probability w.r.t. the LayerNorm parameters, add the squares (what FISH does).
- torch.func: vmap(grad(...)) over a padded batch with functional_call (per-example gradients in one
  call), if it runs with this transformers version.
- ckpt: `ckpt fisher --json`, compute time (model load excluded; reported separately).
Each is run --repeat times; the best time is reported.
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


def main():
    ap = argparse.ArgumentParser()
    default_ckpt = os.path.join(ROOT, ".build/release/ckpt")
    if not os.path.exists(default_ckpt):
        default_ckpt = os.path.join(ROOT, ".build/debug/ckpt")  # unoptimised: much slower than release
    ap.add_argument("--ckpt", default=default_ckpt)
    ap.add_argument("--data", default="/work/shared/data/toy-sentiment/train.tsv")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--join", type=int, default=1,
                    help="join this many consecutive sentences into one example (7: ~41 tokens at --max-length 64)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    work = tempfile.mkdtemp(prefix="ckpt-fisher-bench-")
    model_dir = build_classifier(os.path.join(work, "minilm-cls"))
    rows = read_tsv(args.data, args.n * args.join)
    if args.join > 1:
        rows = [{"sentence": " ".join(r["sentence"] for r in rows[i:i + args.join]), "label": rows[i]["label"]}
                for i in range(0, args.join * (len(rows) // args.join), args.join)]
    data = os.path.join(work, "data.tsv")
    with open(data, "w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n" + "".join(f"{r['sentence']}\t{r['label']}\n" for r in rows))
    model = BertForSequenceClassification.from_pretrained(model_dir).eval()
    tok = BertTokenizerFast.from_pretrained(model_dir)
    n = len(rows)
    lengths = [len(tok(r["sentence"], truncation=True, max_length=args.max_length)["input_ids"]) for r in rows]
    results = {"load_average_at_start": os.getloadavg(), "examples": n, "max_length": args.max_length, "mean_tokens": sum(lengths) / n,
               "torch": torch.__version__, "torch_threads": torch.get_num_threads()}

    for threads in (1, 2):
        torch.set_num_threads(threads)
        torch_loop(model, tok, rows[:8], args.max_length)  # warm-up
        t = min(torch_loop(model, tok, rows, args.max_length) for _ in range(args.repeat))
        results[f"torch_loop_{threads}_threads_examples_per_s"] = n / t
    results["torch_loop_examples_per_s"] = max(results["torch_loop_1_threads_examples_per_s"],
                                               results["torch_loop_2_threads_examples_per_s"])
    torch.set_num_threads(2)

    try:
        torch_func(model, tok, rows[:4], args.max_length, 4)
        t = min(torch_func(model, tok, rows, args.max_length, args.batch_size) for _ in range(args.repeat))
        results["torch_func_examples_per_s"] = n / t
    except Exception as e:  # transformers' mask code may break vmap
        results["torch_func_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"

    best = None
    for _ in range(args.repeat):
        start = time.perf_counter()
        out = subprocess.run([args.ckpt, "fisher", model_dir, "--data", data, "-o", os.path.join(work, "f.safetensors"),
                              "--max-length", str(args.max_length), "--batch-size", str(args.batch_size), "--json"],
                             check=True, capture_output=True, text=True)
        wall = time.perf_counter() - start
        info = json.loads(out.stdout)
        if best is None or info["compute_seconds"] < best[0]["compute_seconds"]:
            best = (info, wall)
    results["ckpt_examples_per_s"] = best[0]["examples_per_second"]
    results["ckpt_wall_seconds_incl_load"] = best[1]
    results["ckpt_vs_torch_loop"] = results["ckpt_examples_per_s"] / results["torch_loop_examples_per_s"]
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
