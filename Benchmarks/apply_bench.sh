#!/usr/bin/env bash
# `ckpt apply` against `cp` on a ~1.3 GB base (BERT-large shape, F32).
#
#   swift build -c release && Benchmarks/apply_bench.sh
#
# BASE / FT default to /work/data/bench/large-{base,ft}.safetensors; when BASE does not exist a
# synthetic pair is generated (needs python3 with numpy: set PYTHON). The patch is the default
# one (LayerNorm + bias + head). Every timing is taken with the base in the page cache, writing a
# new file into WORK (removed before each run); the median of RUNS runs is reported, for
#   cp            coreutils cp (copy_file_range, no fsync)
#   cp + sync     cp followed by `sync FILE` (fsync), what apply's durability costs
#   ckpt apply    temp file + stream + fsync + read-back check of the patched tensors + rename
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${BASE:-/work/data/bench/large-base.safetensors}
FT=${FT:-/work/data/bench/large-ft.safetensors}
WORK=${WORK:-/work/data/bench-patch}
CKPT=${CKPT:-.build/release/ckpt}
PYTHON=${PYTHON:-python3}
RUNS=${RUNS:-5}
mkdir -p "$WORK"

if [ ! -f "$BASE" ]; then
    BASE=$WORK/large-base.safetensors FT=$WORK/large-ft.safetensors
    echo "generating $BASE and $FT"
    "$PYTHON" - "$BASE" "$FT" <<'PY'
import json, struct, sys
import numpy as np
base_path, ft_path = sys.argv[1:3]
h, L, V, I = 1024, 24, 30522, 4096
shapes = {"embeddings.word_embeddings.weight": [V, h], "embeddings.position_embeddings.weight": [512, h],
          "embeddings.token_type_embeddings.weight": [2, h], "embeddings.LayerNorm.weight": [h], "embeddings.LayerNorm.bias": [h]}
for i in range(L):
    p = f"encoder.layer.{i}."
    for m in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"]:
        shapes[p + m + ".weight"], shapes[p + m + ".bias"] = [h, h], [h]
    shapes[p + "attention.output.LayerNorm.weight"], shapes[p + "attention.output.LayerNorm.bias"] = [h], [h]
    shapes[p + "intermediate.dense.weight"], shapes[p + "intermediate.dense.bias"] = [I, h], [I]
    shapes[p + "output.dense.weight"], shapes[p + "output.dense.bias"] = [h, I], [h]
    shapes[p + "output.LayerNorm.weight"], shapes[p + "output.LayerNorm.bias"] = [h], [h]
shapes["pooler.dense.weight"], shapes["pooler.dense.bias"] = [h, h], [h]
def write(path, prefix, perturb):
    rng = np.random.default_rng(0)
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for k, s in shapes.items():
        n = int(np.prod(s)); header[prefix + k] = {"dtype": "F32", "shape": s, "data_offsets": [off, off + 4 * n]}; off += 4 * n
    if perturb:
        header["classifier.weight"] = {"dtype": "F32", "shape": [2, h], "data_offsets": [off, off + 8 * h]}; off += 8 * h
        header["classifier.bias"] = {"dtype": "F32", "shape": [2], "data_offsets": [off, off + 8]}; off += 8
    hb = json.dumps(header, separators=(",", ":")).encode(); hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb)
        for k, s in shapes.items():
            x = (rng.standard_normal(int(np.prod(s)), dtype=np.float32) * 0.02)
            if perturb and ("LayerNorm" in k or k.endswith(".bias")):
                x = x + np.float32(0.01)
            f.write(x.tobytes())
        if perturb:
            f.write(rng.standard_normal(2 * h + 2, dtype=np.float32).tobytes())
write(base_path, "", False)
write(ft_path, "bert.", True)
PY
fi

size=$(stat -c %s "$BASE")
"$CKPT" patch "$BASE" "$FT" -o "$WORK/bench.patch" | head -6
cat "$BASE" > /dev/null  # page cache

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() {  # prints the milliseconds a command takes
    rm -f "$WORK/out"
    sync  # untimed: no dirty pages of the previous run left to slow this one
    local t0; t0=$(now)
    "$@" > /dev/null
    echo $(( ($(now) - t0) / 1000000 ))
}
# The three are interleaved, run after run, so that load from other processes hits them alike, and
# each starts with no dirty pages from the one before (`sync`, untimed).
cp_ms=() sync_ms=() apply_ms=() stream_ms=()
for _ in $(seq "$RUNS"); do
    cp_ms+=("$(timed cp "$BASE" "$WORK/out")")
    sync_ms+=("$(timed sh -c "cp '$BASE' '$WORK/out' && sync '$WORK/out'")")
    rm -f "$WORK/out"
    sync
    t0=$(now)
    json=$("$CKPT" apply "$BASE" "$WORK/bench.patch" -o "$WORK/out" --json)
    apply_ms+=($(( ($(now) - t0) / 1000000 )))
    stream_ms+=("$(echo "$json" | sed -n 's/.*"write_seconds" : \([0-9.e-]*\).*/\1/p' | awk '{printf "%d", $1 * 1000}')")
done
rm -f "$WORK/out"
report() {  # label, times...
    local label=$1; shift
    local ms; ms=$(printf '%s\n' "$@" | median)
    printf '%-30s median %6d ms  %6.2f GB/s   (runs: %s ms)\n' "$label" "$ms" "$(echo "$size / $ms / 1000000" | bc -l)" "$*"
    echo "$ms"
}
echo "base: $BASE ($size bytes), patch: $(stat -c %s "$WORK/bench.patch") bytes, $RUNS runs each"
{ report "cp" "${cp_ms[@]}"; } | { read -r line; echo "$line"; read -r m; echo "$m" > "$WORK/cp.ms"; }
{ report "cp + sync FILE" "${sync_ms[@]}"; } | { read -r line; echo "$line"; read -r m; echo "$m" > "$WORK/sync.ms"; }
{ report "ckpt apply" "${apply_ms[@]}"; } | { read -r line; echo "$line"; read -r m; echo "$m" > "$WORK/apply.ms"; }
{ report "ckpt apply, streaming phase" "${stream_ms[@]}"; } | { read -r line; echo "$line"; read -r m; echo "$m" > "$WORK/stream.ms"; }
cp=$(cat "$WORK/cp.ms") sync=$(cat "$WORK/sync.ms") apply=$(cat "$WORK/apply.ms") stream=$(cat "$WORK/stream.ms")
rm -f "$WORK"/*.ms
printf 'speed of apply relative to cp: %.2f; to cp + sync: %.2f; streaming phase (before fsync) relative to cp: %.2f\n' \
    "$(echo "$cp / $apply" | bc -l)" "$(echo "$sync / $apply" | bc -l)" "$(echo "$cp / $stream" | bc -l)"
