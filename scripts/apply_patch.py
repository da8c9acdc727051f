#!/usr/bin/env python3
"""Apply a ckpt task patch (docs/patch-format.md) with only `safetensors` and numpy.

    python3 scripts/apply_patch.py BASE.safetensors TASK.patch -o OUT.safetensors
    python3 scripts/apply_patch.py BASE.safetensors TASK.patch OUT.safetensors      (the same)

An independent reader of the ckpt-patch format (versions 1 and 2): it checks the base's
fingerprints, converts base tensors the patch converts (version 2 `convert`: F64/F32/F16/BF16 to
F32/F16/BF16/F64 here, rounded as PyTorch's `tensor.to(dtype)` with numpy bit operations; the FP8
conversions are left to `ckpt apply`), applies dense, sparse, converted, new and resized tensors
(version 2: `shapes` gives the result shape of a resized tensor or a replaced head), checks the
result fingerprints, and writes OUT byte for byte as
`ckpt apply` does (the base's tensor order, dtypes and metadata, new tensors appended, compact
JSON header padded with spaces to a multiple of 8). Tensor data is handled as raw little-endian
integers of the element's width, so BF16 and the FP8 types (which numpy lacks) need nothing special.
BASE is a single .safetensors file, or a directory holding model.safetensors. Exit status: 0
written, 1 the patch does not fit the base or is damaged, 2 bad arguments (with a usage line).
"""
import argparse
import hashlib
import os
import json
import struct
import sys
import zlib

import numpy as np
import safetensors

WIDTH = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "F8_E4M3FNUZ": 1,
         "F8_E5M2FNUZ": 1, "U16": 2, "I16": 2, "F16": 2, "BF16": 2, "U32": 4, "I32": 4, "F32": 4,
         "U64": 8, "I64": 8, "F64": 8, "C64": 8}


def read_st(buf):
    """(metadata, [(name, dtype, shape, raw bytes)] in data order) of a safetensors file in memory."""
    n = struct.unpack("<Q", buf[:8])[0]
    header = json.loads(buf[8:8 + n])
    meta = header.pop("__metadata__", {}) or {}
    raw = {name: info["data"] for name, info in safetensors.deserialize(bytes(buf))}  # validates the file
    # Data order; empty entries share an offset and are ordered by name (X.indices before X.values).
    order = sorted(header, key=lambda k: (header[k]["data_offsets"][0], header[k]["data_offsets"][1], k.encode()))
    return meta, [(k, header[k]["dtype"], header[k]["shape"], raw[k]) for k in order]


def h16(b):
    return hashlib.sha256(b).hexdigest()[:16]


def manifest(tensors):
    lines = [f"{name}\t{dtype}\t{','.join(map(str, shape))}\n".encode() for name, dtype, shape, _ in
             sorted(tensors, key=lambda t: t[0].encode())]
    return hashlib.sha256(b"".join(lines)).hexdigest(), "".join(hashlib.sha256(l).hexdigest()[:6] for l in lines)


def json_str(s):
    out = ['"']
    for ch in s:
        if ch == '"': out.append('\\"')
        elif ch == "\\": out.append("\\\\")
        elif ch == "\n": out.append("\\n")
        elif ch == "\r": out.append("\\r")
        elif ch == "\t": out.append("\\t")
        elif ch == "\b": out.append("\\b")
        elif ch == "\f": out.append("\\f")
        elif ord(ch) < 0x20: out.append("\\u%04x" % ord(ch))
        else: out.append(ch)
    return "".join(out) + '"'


def write_st(path, meta, tensors):
    parts, offset = [], 0
    if meta:
        parts.append('"__metadata__":{' + ",".join(json_str(k) + ":" + json_str(meta[k]) for k in sorted(meta)) + "}")
    for name, dtype, shape, data in tensors:
        parts.append(f'{json_str(name)}:{{"dtype":"{dtype}","shape":[{",".join(map(str, shape))}],'
                     f'"data_offsets":[{offset},{offset + len(data)}]}}')
        offset += len(data)
    header = ("{" + ",".join(parts) + "}").encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        for t in tensors:
            f.write(t[3])


def f32_bits(data, dtype, name):
    """The base's values as the F32 bit patterns PyTorch rounds from (uint32)."""
    if dtype == "F32":
        return np.frombuffer(data, dtype="<u4").astype(np.uint32)
    if dtype == "BF16":
        return np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16
    if dtype == "F16":
        h = np.frombuffer(data, dtype="<u2")
        out = h.view("<f2").astype(np.float32).view(np.uint32)
        nan = (h & 0x7FFF) > 0x7C00  # the hardware conversion keeps the payload and makes it quiet
        return np.where(nan, ((h.astype(np.uint32) & 0x8000) << 16) | 0x7FC00000 | ((h.astype(np.uint32) & 0x3FF) << 13), out)
    if dtype == "F64":
        d = np.frombuffer(data, dtype="<f8")
        return d.astype(np.float32).view(np.uint32)
    fail(f"tensor '{name}': converting from {dtype} is not implemented here; use ckpt apply")


def round_f16(x):
    """F32 bit patterns (uint32) to F16 (uint16) as x86's vcvtps2ph: nearest even, overflow to
    infinity, NaN quiet with its sign and top payload bits."""
    sign = (x >> 16) & 0x8000
    a = x & 0x7FFFFFFF
    t = (a - 0x38000000) & 0xFFFFFFFF
    normal = (t + 0x0FFF + ((t >> 13) & 1)) >> 13
    subnormal = ((a.view(np.float32) + np.float32(0.5)).view(np.uint32) - 0x3F000000) & 0xFFFFFFFF
    out = np.where(a >= 0x38800000, normal, subnormal)
    out = np.where(a >= 0x477FF000, 0x7C00, out)
    out = np.where(a > 0x7F800000, 0x7E00 | ((a >> 13) & 0x3FF), out)
    return (out | sign).astype("<u2")


def convert(data, dtype, target, name):
    """A base tensor's bytes converted to `target` as PyTorch's tensor.to(target) converts them."""
    if target not in ("F32", "F16", "BF16", "F64"):
        fail(f"tensor '{name}': converting to {target} is not implemented here; use ckpt apply")
    with np.errstate(all="ignore"):  # NaN and overflow are handled bit by bit below
        return convert_values(data, dtype, target, name)


def convert_values(data, dtype, target, name):
    x = f32_bits(data, dtype, name).astype(np.uint32)
    nan = (x & 0x7FFFFFFF) > 0x7F800000
    if target == "F32":
        return x.astype("<u4").tobytes()
    if target == "F64":
        return x.view(np.float32).astype("<f8").tobytes()
    if target == "F16":
        return round_f16(x).tobytes()
    if dtype == "F64" and nan.any():
        fail(f"tensor '{name}': F64 NaN to BF16 depends on its position in PyTorch; not converted")
    rounded = ((x.astype(np.uint64) + 0x7FFF + ((x >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(nan, np.uint16(0xFFFF if dtype in ("F32", "F64") else 0x7FC0), rounded).astype("<u2").tobytes()


def fail(message):
    print(f"apply_patch: {message}", file=sys.stderr)
    sys.exit(1)


def main(base_path, patch_path, out_path):
    meta, entries = read_st(open(patch_path, "rb").read())
    if meta.get("format") != "ckpt-patch" or meta.get("version") not in ("1", "2"):
        fail("not a ckpt-patch version 1 or 2 file")
    if meta.get("compression") == "zlib":  # one U8 tensor holding the zlib stream of the inner patch
        inner = zlib.decompress(entries[0][3])
        if len(inner) != int(meta["inner_size"]) or h16(inner) != meta["inner_sha256"]:
            fail("inflated patch does not match inner_size / inner_sha256")
        meta, entries = read_st(inner)
    if h16(b"".join(e[3] for e in entries)) != meta["data_sha256"]:
        fail("patch data does not match data_sha256 (modified or damaged)")
    # Touched tensors, from the storage codes over the entries in data order; a converted tensor
    # (code c) has no entry: its name is the next name of `convert` (listed in storage order).
    convert_to = json.loads(meta.get("convert", "{}"))
    convert_names = list(convert_to)
    patch, k = [], 0
    for code, bh, rh in zip(meta["storage"], meta["base_tensors"].split(","), meta["result_fingerprint"].split(",")):
        if code == "c":
            patch.append((convert_names.pop(0), code, bh, rh, None))
            continue
        if code in ("s", "r"):
            name = entries[k][0][:-len(".indices")]
            assert entries[k + 1][0] == name + ".values"
            idx = np.frombuffer(entries[k][3], dtype="<i4" if entries[k][1] == "I32" else "<i8")
            values = entries[k + 1]
            k += 2
            rows = None  # a resized tensor that gained rows: `<name>.rows`, the added rows dense
            if code == "r" and k < len(entries) and entries[k][0] == name + ".rows":
                rows, k = entries[k], k + 1
            patch.append((name, code, bh, rh, (idx, values, rows)))
        else:
            patch.append((entries[k][0], code, bh, rh, entries[k]))
            k += 1
        if convert_names and convert_names[0] == patch[-1][0]:
            convert_names.pop(0)
    assert k == len(entries) and not convert_names

    base_meta, base = read_st(open(base_path, "rb").read())
    by_name = {t[0]: t for t in base}
    fingerprint, _ = manifest(base)
    if fingerprint != meta["base_fingerprint"]:
        fail("base manifest (names, dtypes, shapes) differs from the patch's base")
    shapes = json.loads(meta.get("shapes", "{}"))
    touched = {}
    for name, code, bh, rh, payload in patch:
        if code == "n":
            continue
        if name not in by_name:
            fail(f"tensor '{name}': the base does not have it")
        _, dtype, shape, data = by_name[name]
        if h16(data) != bh:
            fail(f"tensor '{name}': differs from the base the patch was made for")
        if name in convert_to and code != "d":
            dtype, data = convert_to[name], convert(data, dtype, convert_to[name], name)
        if code == "d":  # a replaced head's shape is its own (version 2 records it in `shapes`)
            result = (name, payload[1], payload[2], payload[3])
        elif code == "c":
            result = (name, dtype, shape, data)
        else:
            idx, values, rows = payload
            u = f"<u{WIDTH[dtype]}"
            new_shape = shapes.get(name, shape)
            row = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
            shared = min(shape[0], new_shape[0]) * row if code == "r" else int(np.prod(shape, dtype=np.int64))
            out = np.frombuffer(data, dtype=u)[:shared].copy()
            out[idx] = np.frombuffer(values[3], dtype=u)
            if rows is not None:
                out = np.concatenate([out, np.frombuffer(rows[3], dtype=u)])
            result = (name, dtype, new_shape, out.tobytes())
        if h16(result[3]) != rh:
            fail(f"tensor '{name}': result does not match result_fingerprint")
        touched[name] = result
    tensors = [touched.get(t[0], t) for t in base]
    for name, code, bh, rh, payload in patch:
        if code == "n":
            if h16(payload[3]) != rh:
                fail(f"tensor '{name}': does not match result_fingerprint")
            tensors.append(payload)
    write_st(out_path, base_meta, tensors)


def parse_arguments(argv):
    """BASE PATCH and the output, given as `-o/--output OUT` (as `ckpt apply` takes it) or as a third operand."""
    parser = argparse.ArgumentParser(prog="apply_patch.py", description=__doc__.split("\n")[0],
                                     epilog="Exit status: 0 written, 1 the patch does not fit the base or is damaged, 2 usage.")
    parser.add_argument("base", metavar="BASE", help="the base checkpoint: a .safetensors file or a directory holding model.safetensors")
    parser.add_argument("patch", metavar="PATCH", help="the ckpt task patch")
    parser.add_argument("out", metavar="OUT", nargs="?", help="where to write the result (or use -o)")
    parser.add_argument("-o", "--output", metavar="OUT", help="where to write the result (.safetensors)")
    args = parser.parse_args(argv)
    if args.out and args.output:
        parser.error("give the output once: either -o OUT or a third operand")
    if not (args.out or args.output):
        parser.error("no output: add -o OUT")
    base = args.base
    if os.path.isdir(base):
        base = os.path.join(base, "model.safetensors")
    return base, args.patch, args.output or args.out


if __name__ == "__main__":
    main(*parse_arguments(sys.argv[1:]))
