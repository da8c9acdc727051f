#!/usr/bin/env bash
# Shows that `ckpt inspect` reads only the header of a large checkpoint: it makes a sparse
# safetensors file of SIZE_GB gigabytes (no disk used: the data section is a hole), then reports
# wall time, peak RSS and page faults of `ckpt inspect` on it, next to the same numbers for the
# Python `safetensors.safe_open` header read when a venv with safetensors is given as $PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_GB=${SIZE_GB:-8}
CKPT=${CKPT:-.build/release/ckpt}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work/big.safetensors" "$SIZE_GB" <<'PY'
import json, struct, sys
path, gb = sys.argv[1], int(sys.argv[2])
layers, hidden = 48, 4096
entries, offset = {}, 0
per_layer = (gb << 30) // layers // 4 // hidden
for i in range(layers):
    for name, shape in (("mlp.up_proj.weight", [per_layer, hidden]), ("input_layernorm.weight", [hidden])):
        n = 1
        for d in shape: n *= d
        entries[f"model.layers.{i}.{name}"] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + 4 * n]}
        offset += 4 * n
header = json.dumps(entries).encode()
header += b" " * ((8 - len(header) % 8) % 8)
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(header)))
    f.write(header)
    f.truncate(8 + len(header) + offset)
PY
ls -l "$work/big.safetensors" | awk '{printf "file: %.2f GB (sparse)\n", $5/1e9}'
/usr/bin/time -f "ckpt inspect: %e s wall, %M KB peak RSS, %R minor + %F major page faults" \
    "$CKPT" inspect "$work/big.safetensors" --json > /dev/null
if [ -n "${PYTHON:-}" ]; then
    /usr/bin/time -f "python safe_open + list shapes: %e s wall, %M KB peak RSS" "$PYTHON" -c "
import sys
from safetensors import safe_open
with safe_open(sys.argv[1], 'np') as f:
    shapes = {k: f.get_slice(k).get_shape() for k in f.keys()}
" "$work/big.safetensors"
fi
