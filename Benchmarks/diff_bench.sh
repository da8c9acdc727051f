#!/usr/bin/env bash
# Times `ckpt diff` against the torch script a user writes today (Benchmarks/diff_torch.py), in the
# same run, on a BERT-large-shaped F32 pair and a LLaMA-style BF16 pair, files in the page cache.
# Reports wall time, throughput (GB/s of input: both files' tensor bytes over wall time), maximum
# RSS (/usr/bin/time -v), peak anonymous memory, and the ratio to the torch script.
#
# usage: Benchmarks/diff_bench.sh [DATA_DIR] [RUNS]
#   DATA_DIR  holds large-{base,ft}.safetensors and bf16-{base,ft}.safetensors
#             (default /work/data/bench if present, else /work/data/bench-diff;
#             Benchmarks/make_diff_data.py DATA_DIR writes them)
#   RUNS      timed runs per tool and pair, best kept (default 3)
# env: PYTHON (default /work/venv/bin/python, needs torch + safetensors), CKPT (default .build/release/ckpt)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-}
if [[ -z "$DATA" ]]; then
  if [[ -f /work/data/bench/large-base.safetensors ]]; then DATA=/work/data/bench; else DATA=/work/data/bench-diff; fi
fi
RUNS=${2:-3}
PYTHON=${PYTHON:-/work/venv/bin/python}
CKPT=${CKPT:-.build/release/ckpt}
[[ -x "$CKPT" ]] || swift build -c release >&2

measure() { python3 Benchmarks/measure.py "$@"; }

best() {  # best of RUNS measurements (lowest seconds) of a command
  local best_line="" best_s=""
  for _ in $(seq "$RUNS"); do
    local line s
    line=$(measure "$@")
    s=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["seconds"])' "$line")
    if [[ -z "$best_s" ]] || python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$s" "$best_s"; then
      best_s=$s; best_line=$line
    fi
  done
  echo "$best_line"
}

echo "| pair | tool | wall (s) | GB/s of input | max RSS (MB) | peak anon (MB) | vs torch |"
echo "|---|---|---:|---:|---:|---:|---:|"
for pair in large bf16; do
  base="$DATA/$pair-base.safetensors"; ft="$DATA/$pair-ft.safetensors"
  [[ -f "$base" && -f "$ft" ]] || { echo "missing $base or $ft" >&2; continue; }
  cat "$base" "$ft" > /dev/null   # into the page cache
  bytes=$(( $(stat -c %s "$base") + $(stat -c %s "$ft") ))
  ckpt=$(best "$CKPT" diff "$base" "$ft" --json)
  torch=$(best "$PYTHON" Benchmarks/diff_torch.py "$base" "$ft")
  python3 - "$pair" "$bytes" "$ckpt" "$torch" <<'PY'
import json, sys
pair, size = sys.argv[1], int(sys.argv[2])
ckpt, torch = json.loads(sys.argv[3]), json.loads(sys.argv[4])
label = {"large": "BERT-large F32, 2 x 1.34 GB", "bf16": "LLaMA-1.1B BF16, 2 x 2.2 GB"}[pair]
for tool, m in (("ckpt diff", ckpt), ("torch script", torch)):
    ratio = torch["seconds"] / m["seconds"]
    print(f"| {label} | {tool} | {m['seconds']:.2f} | {size / m['seconds'] / 1e9:.2f} | {m['max_rss_mb']:.0f} | {m['peak_anon_mb']:.0f} | {ratio:.1f}x |")
PY
done
