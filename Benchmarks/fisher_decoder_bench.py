"""Speed and accuracy of `ckpt fisher` on decoder language models against PyTorch's per-example loop,
at 128 tokens per example (not a unit test: needs torch and transformers, and takes minutes).

    /work/venv/bin/python Benchmarks/fisher_decoder_bench.py [--ckpt .build/release/ckpt] [--n 32] [--threads 2] [--rounds 3]
    /work/venv/bin/python Benchmarks/fisher_decoder_bench.py --bf16 [--n 8] [--rounds 3]

For each of a random GPT-2 (hidden 256, 4 layers, 8 heads, vocab 8192, 128 positions) and a random
Llama (hidden 256, 4 layers, 8 heads over 4 key/value heads, intermediate 688, vocab 8192, untied),
saved as model directories in a temporary directory:
1. N examples of 128 random tokens, the first 32 of each masked as a prompt (labels -100).
2. PyTorch float32, eval mode, one example at a time: forward, log p summed over label positions,
   backward, squared gradients of every norm weight/bias and bias added up (the loop a user would
   write), timed after one warm-up example; torch.set_num_threads(--threads).
3. `ckpt fisher --params both` (empirical), timed by its own compute_seconds (model loading excluded,
   as for torch), OPENBLAS_NUM_THREADS=--threads.
4. The worst relative error of ckpt against the float32 torch result (entries above 1e-6 of the max),
   and against float64 torch on the first 4 examples.
Steps 2 and 3 run --rounds times, alternating ckpt and torch on both models, and the medians are
printed with the load average before and after (the machine may be shared).

--bf16: a random Llama in BF16 (hidden 1024, 8 layers, 16 heads over 8 key/value heads, intermediate
2816, vocab 32000, untied: 160M parameters, 320 MB), `ckpt fisher --half-precision panels` and
`--half-precision widen` alternately --rounds times: median examples/s and peak RSS (GNU time's %M).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time

import numpy as np
import torch
from safetensors.numpy import load_file
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VOCAB, LENGTH, PROMPT = 8192, 128, 32


def build(kind):
    torch.manual_seed(0)
    if kind == "gpt2":
        return GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_positions=LENGTH, n_embd=256, n_layer=4, n_head=8,
                                          attn_implementation="eager"))
    return LlamaForCausalLM(LlamaConfig(vocab_size=VOCAB, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                                        num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=LENGTH,
                                        tie_word_embeddings=False, attn_implementation="eager"))


def params_of(model):
    return [(n, p) for n, p in model.named_parameters() if "norm" in n or "ln_" in n or n.endswith(".bias")]


def torch_fisher(model, rows, dtype):
    model = model.to(dtype).eval()
    params = params_of(model)
    for p in model.parameters():
        p.requires_grad_(False)
    for _, p in params:
        p.requires_grad_(True)
    sums = [torch.zeros_like(p) for _, p in params]
    start = None
    for i, row in enumerate(rows):
        if i == 1:
            start = time.perf_counter()
        ids = torch.tensor([row["input_ids"]])
        labels = torch.tensor(row["labels"][1:])
        logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1], dim=-1)
        mask = labels != -100
        total = logp[mask].gather(1, labels[mask].unsqueeze(1)).sum()
        grads = torch.autograd.grad(total, [p for _, p in params])
        for s, g in zip(sums, grads):
            s += g.detach() ** 2
    seconds = time.perf_counter() - start
    return {n: (s / len(rows)).double().numpy() for (n, _), s in zip(params, sums)}, (len(rows) - 1) / seconds


def worst(ours, reference):
    top = max(v.max() for v in reference.values())
    w = 0.0
    for name, ref in reference.items():
        got = ours[name].astype(np.float64)
        mask = ref > 1e-6 * top
        if mask.any():
            w = max(w, float((np.abs(got[mask] - ref[mask]) / ref[mask]).max()))
    return w


def ckpt_run(args, directory, data, out, samples, extra=()):
    """The ckpt JSON report of one run, and its peak RSS in MB (GNU time)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads))
    result = subprocess.run(["/usr/bin/time", "-f", "%M", args.ckpt, "fisher", directory, "--data", data, "-o", out,
                             "--params", "both", "--samples", str(samples), "--json", *extra],
                            check=True, capture_output=True, env=env, text=True)
    return json.loads(result.stdout), int(result.stderr.strip().splitlines()[-1]) / 1024


def load():
    return "load average %.1f %.1f %.1f" % os.getloadavg()


def bf16(args, rows, tmp):
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=32000, hidden_size=1024, intermediate_size=2816, num_hidden_layers=8,
                                         num_attention_heads=16, num_key_value_heads=8, max_position_embeddings=LENGTH,
                                         tie_word_embeddings=False)).to(torch.bfloat16)
    directory = os.path.join(tmp, "llama-bf16")
    model.save_pretrained(directory)
    data = os.path.join(tmp, "data-bf16.jsonl")
    with open(data, "w") as f:
        f.write("".join(json.dumps({"input_ids": [i % 32000 for i in r["input_ids"]], "labels": r["labels"]}) + "\n" for r in rows))
    print(f"llama bf16: {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters, {args.n} examples of {LENGTH} tokens; {load()}")
    stats = {"panels": [], "widen": []}
    for _ in range(args.rounds):
        for mode in stats:
            report, rss = ckpt_run(args, directory, data, os.path.join(tmp, mode + ".safetensors"), args.n, ("--half-precision", mode))
            stats[mode].append((args.n / report["compute_seconds"], rss))
    for mode, runs in stats.items():
        print(f"  --half-precision {mode}: median {np.median([r for r, _ in runs]):.2f} ex/s, peak RSS {max(m for _, m in runs):.0f} MB "
              f"(runs: {', '.join(f'{r:.2f}' for r, _ in runs)})")
    print(f"  {load()}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ckpt", default=os.path.join(ROOT, ".build/release/ckpt"))
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bf16", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(1)
    rows = []
    for _ in range(args.n):
        ids = torch.randint(0, VOCAB, (LENGTH,), generator=g).tolist()
        rows.append({"input_ids": ids, "labels": [-100] * PROMPT + ids[PROMPT:]})
    with tempfile.TemporaryDirectory() as tmp:
        if args.bf16:
            return bf16(args, rows, tmp)
        data = os.path.join(tmp, "data.jsonl")
        with open(data, "w") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))
        print(f"{args.n} examples of {LENGTH} tokens ({PROMPT} masked), {args.threads} threads, {args.rounds} rounds; {load()}")
        rates = {kind: {"ckpt": [], "torch": []} for kind in ["gpt2", "llama"]}
        results = {}
        for kind in rates:
            directory = os.path.join(tmp, kind)
            build(kind).save_pretrained(directory)
        for _ in range(args.rounds):
            for kind in rates:
                directory = os.path.join(tmp, kind)
                out = os.path.join(tmp, kind + ".safetensors")
                report, _ = ckpt_run(args, directory, data, out, args.n)
                rates[kind]["ckpt"].append(args.n / report["compute_seconds"])
                reference32, torch_rate = torch_fisher(build(kind), rows, torch.float32)
                rates[kind]["torch"].append(torch_rate)
                results[kind] = (load_file(out), reference32)
        for kind in rates:
            directory = os.path.join(tmp, kind)
            ours, reference32 = results[kind]
            reference64, _ = torch_fisher(build(kind), rows[:4], torch.float64)
            out4 = os.path.join(tmp, kind + "-4.safetensors")
            ckpt_run(args, directory, data, out4, 4)
            entries = sum(v.size for v in ours.values())
            ckpt_rate, torch_rate = np.median(rates[kind]["ckpt"]), np.median(rates[kind]["torch"])
            print(f"{kind}: {sum(p.numel() for p in build(kind).parameters()) / 1e6:.1f}M parameters, {len(ours)} tensors, {entries} entries; "
                  f"median torch float32 {torch_rate:.2f} ex/s, ckpt {ckpt_rate:.2f} ex/s ({ckpt_rate / torch_rate:.1f}x) "
                  f"[ckpt runs {', '.join(f'{r:.2f}' for r in rates[kind]['ckpt'])}; torch runs {', '.join(f'{r:.2f}' for r in rates[kind]['torch'])}]; "
                  f"worst relative error vs torch float32 {worst(ours, reference32):.1e}, vs float64 (4 examples) {worst(load_file(out4), reference64):.1e}")
        print(load())


if __name__ == "__main__":
    main()
