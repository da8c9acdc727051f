#!/usr/bin/env python3
"""Compares `ckpt inspect --json` with what the reference libraries say about the same file:
safetensors.safe_open for safetensors, h5py for HDF5. Used on real checkpoints that are too big
to commit (the all-MiniLM-L6-v2 model and its tf_model.h5 conversion).

    python scripts/check_inspect.py CKPT_BINARY PATH [PATH...]
"""
import json
import subprocess
import sys

H5_DTYPES = {"float16": "F16", "float32": "F32", "float64": "F64", "int8": "I8", "int16": "I16",
             "int32": "I32", "int64": "I64", "uint8": "U8", "uint16": "U16", "uint32": "U32",
             "uint64": "U64", "bool": "BOOL"}


def reference(path):
    if path.endswith(".h5"):
        import h5py
        tensors = {}
        with h5py.File(path, "r") as f:
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiub":
                    dtype = H5_DTYPES[obj.dtype.name]
                    if obj.attrs.get("dtype") in ("bfloat16", b"bfloat16"):
                        dtype = "BF16"
                    tensors[name] = (dtype, list(obj.shape))
            f.visititems(visit)
        return tensors
    from safetensors import safe_open
    with safe_open(path, "np") as f:
        header = json.loads(open(path, "rb").read(8 + int.from_bytes(open(path, "rb").read(8), "little"))[8:])
        return {k: (header[k]["dtype"], header[k]["shape"]) for k in f.keys()}


def main():
    binary, paths = sys.argv[1], sys.argv[2:]
    failures = 0
    for path in paths:
        document = json.loads(subprocess.run([binary, "inspect", path, "--json"], check=True,
                                             capture_output=True, text=True).stdout)
        ours = {t["name"]: (t["dtype"], t["shape"]) for t in document["tensors"]}
        theirs = reference(document["path"])
        elements = sum(int(__import__("math").prod(s)) for _, s in theirs.values())
        same = ours == theirs and document["elements"] == elements
        failures += not same
        print(f"{path}: {len(ours)} tensors, {document['elements']:,} elements, format {document['format']}: "
              + ("same as reference" if same else f"DIFFERENT (reference: {len(theirs)} tensors, {elements:,} elements)"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
