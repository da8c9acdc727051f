#!/usr/bin/env bash
# Times `ckpt diff` on two `pytorch_model.bin` files against the same pair as safetensors and
# against the torch.load + norms script (Benchmarks/diff_torch_bin.py), in one run, files in the
# page cache. The .bin pair is made from the safetensors pair with torch.save (torch_bin_bench.sh
# writes it into BIN_DIR when missing).
#
# usage: Benchmarks/torch_bin_bench.sh [DATA_DIR] [BIN_DIR] [RUNS]
#   DATA_DIR  holds large-{base,ft}.safetensors (default /work/data/bench-diff)
#   BIN_DIR   where large-{base,ft}.bin are or are written (default /tmp/torch-large)
#   RUNS      timed runs of ckpt per format, the fastest kept (default 3); the torch script runs once
# env: PYTHON (default /work/venv/bin/python, needs torch + safetensors), CKPT (default .build/release/ckpt)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-/work/data/bench-diff}
BIN=${2:-/tmp/torch-large}
RUNS=${3:-3}
PYTHON=${PYTHON:-/work/venv/bin/python}
CKPT=${CKPT:-.build/release/ckpt}
[[ -x "$CKPT" ]] || swift build -c release >&2
mkdir -p "$BIN"
for side in base ft; do
  [[ -f "$BIN/large-$side.bin" ]] || "$PYTHON" -c "import sys, torch; from safetensors.torch import load_file; torch.save(load_file(sys.argv[1]), sys.argv[2])" "$DATA/large-$side.safetensors" "$BIN/large-$side.bin"
done
best() {  # the fastest of N runs, as measure.py's JSON line
  local n=$1 lines=()
  shift
  for _ in $(seq "$n"); do lines+=("$(python3 Benchmarks/measure.py "$@")"); done
  printf '%s\n' "${lines[@]}" | python3 -c 'import json,sys; print(json.dumps(min((json.loads(l) for l in sys.stdin), key=lambda m: m["seconds"])))'
}
cat "$DATA"/large-{base,ft}.safetensors "$BIN"/large-{base,ft}.bin > /dev/null
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ckpt diff safetensors: $(best "$RUNS" "$CKPT" diff --json "$DATA/large-base.safetensors" "$DATA/large-ft.safetensors")"
echo "ckpt diff .bin:        $(best "$RUNS" "$CKPT" diff --json "$BIN/large-base.bin" "$BIN/large-ft.bin")"
echo "ckpt inspect .bin:     $(best "$RUNS" "$CKPT" inspect --json "$BIN/large-base.bin")"
echo "torch.load + norms:    $(python3 Benchmarks/measure.py "$PYTHON" Benchmarks/diff_torch_bin.py "$BIN/large-base.bin" "$BIN/large-ft.bin")"
strip='import json,sys; d=json.load(sys.stdin); [d.pop(k,None) for k in ("seconds","base","finetuned","base_format","finetuned_format")]; print(json.dumps(d,sort_keys=True))'
if cmp -s <("$CKPT" diff --json "$DATA/large-base.safetensors" "$DATA/large-ft.safetensors" | python3 -c "$strip") \
          <("$CKPT" diff --json "$BIN/large-base.bin" "$BIN/large-ft.bin" | python3 -c "$strip"); then
  echo "diff reports identical (apart from paths, formats, seconds)"
else
  echo "diff reports DIFFER"
fi
