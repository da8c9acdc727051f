#!/usr/bin/env python3
"""HDF5 copies of a safetensors pair for the HDF5 diff benchmark (issue 14), written with h5py
the way h5py and Keras write by default (contiguous, uncompressed, little-endian datasets):

  h5py-{base,ft}.h5        one dataset per tensor, same names and shapes
  tf-{base,ft}.h5          tf_model.h5 layout (layer_names / weight_names attributes, names like
                           bert/tf_bert_model/bert/encoder/layer_._0/attention/self/query/kernel:0),
                           Linear weights stored transposed as TF kernels (in, out)
  keras3-{base,ft}.weights.h5   Keras 3 layout: layers/<layer>/vars/0 (kernel), vars/1 (bias)

usage: make_hdf5_bench.py BASE.safetensors FT.safetensors OUTDIR
"""
import os
import sys

import h5py
import numpy as np
from safetensors import safe_open


def tf_name(name):
    """PyTorch BERT name -> transformers' TF variable name, and whether it is a transposed kernel."""
    parts = name.split(".")
    last, module = parts[-1], parts[:-1]
    module = [f"layer_._{p}" if i > 0 and module[i - 1] == "layer" and p.isdigit() else p for i, p in enumerate(module)]
    module = [p for i, p in enumerate(module) if not (p == "layer" and i + 1 < len(module) and module[i + 1].startswith("layer_._"))]
    is_norm = "LayerNorm" in module
    if is_norm:
        last = "gamma" if last == "weight" else "beta"
    elif "embeddings" in module and last == "weight" and module[-1] != "word_embeddings":
        last = "embeddings"
    elif last == "weight" and module[-1] != "word_embeddings":
        last = "kernel"
    return "tf_bert_model/bert/" + "/".join(module) + f"/{last}:0", last == "kernel"


def write_h5py(src, out):
    with safe_open(src, "np") as f, h5py.File(out, "w") as h:
        for key in f.keys():
            h.create_dataset(key, data=f.get_tensor(key))


def write_tf(src, out):
    with safe_open(src, "np") as f, h5py.File(out, "w") as h:
        h.attrs["backend"] = b"tensorflow"
        h.attrs["keras_version"] = b"2.15.0"
        h.attrs["layer_names"] = [b"bert"]
        group = h.create_group("bert")
        names = []
        for key in f.keys():
            name, kernel = tf_name(key)
            value = f.get_tensor(key)
            group.create_dataset(name, data=np.ascontiguousarray(value.T) if kernel else value)
            names.append(name.encode())
        group.attrs["weight_names"] = names


def write_keras3(src, out):
    with safe_open(src, "np") as f, h5py.File(out, "w") as h:
        h.create_group("vars")
        layers = h.create_group("layers")
        groups = {}
        for key in f.keys():
            # Keras 3 names layers itself: the task model's `bert.` prefix is not part of them.
            module, last = key.removeprefix("bert.").rsplit(".", 1)
            if module not in groups:
                groups[module] = layers.create_group(module.replace(".", "_")).create_group("vars")
            g = groups[module]
            value = f.get_tensor(key)
            g.create_dataset("0" if last == "weight" else "1", data=np.ascontiguousarray(value.T) if value.ndim == 2 else value)


def main():
    base, ft, outdir = sys.argv[1:4]
    for side, src in (("base", base), ("ft", ft)):
        for kind, writer, suffix in (("h5py", write_h5py, ".h5"), ("tf", write_tf, ".h5"), ("keras3", write_keras3, ".weights.h5")):
            out = os.path.join(outdir, f"{kind}-{side}{suffix}")
            if not os.path.exists(out):
                writer(src, out)
                print(out, os.path.getsize(out), flush=True)


if __name__ == "__main__":
    main()
