#!/usr/bin/env python3
"""Writes the checkpoint pairs `Benchmarks/diff_bench.sh` times, streaming (numpy only, one tensor
in memory at a time):

  OUT/large-base.safetensors, OUT/large-ft.safetensors   BERT-large shapes, F32, ~1.34 GB each
  OUT/bf16-base.safetensors,  OUT/bf16-ft.safetensors    LLaMA-style 1.1B shapes, BF16, ~2.2 GB each

The fine-tunes are the base plus small Gaussian noise (a full fine-tune: every element changes),
with the BERT fine-tune saved as a `BertForSequenceClassification` (`bert.` prefix + classifier).

usage: make_diff_data.py OUT_DIR [large|bf16 ...]
"""
import json
import os
import struct
import sys
import zlib

import numpy as np


def bert_large():
    h, inter, layers = 1024, 4096, 24
    yield "embeddings.word_embeddings.weight", (30522, h)
    yield "embeddings.position_embeddings.weight", (512, h)
    yield "embeddings.token_type_embeddings.weight", (2, h)
    yield "embeddings.LayerNorm.weight", (h,)
    yield "embeddings.LayerNorm.bias", (h,)
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for m in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            yield p + m + ".weight", (h, h)
            yield p + m + ".bias", (h,)
        yield p + "attention.output.LayerNorm.weight", (h,)
        yield p + "attention.output.LayerNorm.bias", (h,)
        yield p + "intermediate.dense.weight", (inter, h)
        yield p + "intermediate.dense.bias", (inter,)
        yield p + "output.dense.weight", (h, inter)
        yield p + "output.dense.bias", (h,)
        yield p + "output.LayerNorm.weight", (h,)
        yield p + "output.LayerNorm.bias", (h,)
    yield "pooler.dense.weight", (h, h)
    yield "pooler.dense.bias", (h,)


def llama_1b():
    h, inter, layers, vocab = 2048, 5632, 22, 32000
    yield "model.embed_tokens.weight", (vocab, h)
    for i in range(layers):
        p = f"model.layers.{i}."
        yield p + "input_layernorm.weight", (h,)
        yield p + "self_attn.q_proj.weight", (h, h)
        yield p + "self_attn.k_proj.weight", (256, h)
        yield p + "self_attn.v_proj.weight", (256, h)
        yield p + "self_attn.o_proj.weight", (h, h)
        yield p + "post_attention_layernorm.weight", (h,)
        yield p + "mlp.gate_proj.weight", (inter, h)
        yield p + "mlp.up_proj.weight", (inter, h)
        yield p + "mlp.down_proj.weight", (h, inter)
    yield "model.norm.weight", (h,)
    yield "lm_head.weight", (vocab, h)


def to_bf16(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), round to nearest even."""
    bits = x.astype(np.float32).view(np.uint32)
    rounding = ((bits >> 16) & 1) + np.uint32(0x7FFF)
    return ((bits + rounding) >> 16).astype(np.uint16)


def write(path, entries, dtype, produce):
    """entries: [(name, shape)]; produce(name, shape) -> array with the raw element bytes."""
    size = 2 if dtype == "BF16" else 4
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in entries:
        n = int(np.prod(shape)) * size
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for name, shape in entries:
            f.write(np.ascontiguousarray(produce(name, shape)).tobytes())
    os.replace(tmp, path)


def base_values(name, shape, seed):
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    if name.endswith("LayerNorm.weight") or name.endswith("layernorm.weight") or name.endswith("norm.weight"):
        return (1 + 0.05 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)
    return (0.02 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)


def noise(name, shape, seed, scale):
    rng = np.random.default_rng([seed + 1, zlib.crc32(name.encode())])
    return (scale * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)


def main():
    out = sys.argv[1]
    which = sys.argv[2:] or ["large", "bf16"]
    os.makedirs(out, exist_ok=True)
    if "large" in which:
        entries = list(bert_large())
        write(os.path.join(out, "large-base.safetensors"), entries, "F32", lambda n, s: base_values(n, s, 1))
        ft_entries = [("bert." + n, s) for n, s in entries] + [("classifier.weight", (2, 1024)), ("classifier.bias", (2,))]

        def ft(n, s):
            if n.startswith("classifier."):
                return noise(n, s, 7, 0.02)
            plain = n[len("bert."):]
            return base_values(plain, s, 1) + noise(plain, s, 1, 1e-3)

        write(os.path.join(out, "large-ft.safetensors"), ft_entries, "F32", ft)
    if "bf16" in which:
        entries = list(llama_1b())
        write(os.path.join(out, "bf16-base.safetensors"), entries, "BF16", lambda n, s: to_bf16(base_values(n, s, 2)))
        write(os.path.join(out, "bf16-ft.safetensors"), entries, "BF16",
              lambda n, s: to_bf16(base_values(n, s, 2) + noise(n, s, 2, 1e-3)))


if __name__ == "__main__":
    main()
