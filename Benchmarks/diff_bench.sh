#!/usr/bin/env bash
# Times `ckpt diff` against the torch script a user writes today (Benchmarks/diff_torch.py), in the
# same run, on a BERT-large-shaped F32 pair and a LLaMA-style BF16 pair, files in the page cache.
# Reports wall time, throughput (GB/s of input: both files' bytes over wall time), CPU seconds,
# maximum RSS (/usr/bin/time -v), peak anonymous memory, the machine's load average, and for the
# torch rows how many times longer they took than ckpt. The torch script runs twice: computing the same
# numbers as ckpt, and with --norms-only (the shortest useful script).
#
# usage: Benchmarks/diff_bench.sh [DATA_DIR] [RUNS]
#   DATA_DIR  holds large-{base,ft}.safetensors and bf16-{base,ft}.safetensors
#             (default /work/data/bench if it has them, else /work/data/bench-diff;
#             Benchmarks/make_diff_data.py DATA_DIR writes them)
#   RUNS      timed runs of ckpt per pair, the fastest kept (default 5); the torch script, which
#             takes tens of seconds, runs TORCH_RUNS times (default 1)
# env: PYTHON (default /work/venv/bin/python, needs torch + safetensors), CKPT (default .build/release/ckpt)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-}
if [[ -z "$DATA" ]]; then
  if [[ -f /work/data/bench/large-base.safetensors ]]; then DATA=/work/data/bench; else DATA=/work/data/bench-diff; fi
fi
RUNS=${2:-5}
TORCH_RUNS=${TORCH_RUNS:-1}
PYTHON=${PYTHON:-/work/venv/bin/python}
CKPT=${CKPT:-.build/release/ckpt}
[[ -x "$CKPT" ]] || swift build -c release >&2

best() {  # the fastest of N measurements of a command, as measure.py's JSON line: best N COMMAND...
  local n=$1 lines=()
  shift
  for _ in $(seq "$n"); do lines+=("$(python3 Benchmarks/measure.py "$@")"); done
  printf '%s\n' "${lines[@]}" | python3 -c 'import json,sys; print(json.dumps(min((json.loads(l) for l in sys.stdin), key=lambda m: m["seconds"])))'
}

echo "| pair | tool | wall (s) | GB/s of input | CPU (s) | max RSS (MB) | peak anon (MB) | load | time vs ckpt |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
for pair in large bf16; do
  base="$DATA/$pair-base.safetensors"; ft="$DATA/$pair-ft.safetensors"
  [[ -f "$base" && -f "$ft" ]] || { echo "missing $base or $ft" >&2; continue; }
  cat "$base" "$ft" > /dev/null   # into the page cache
  bytes=$(( $(stat -c %s "$base") + $(stat -c %s "$ft") ))
  ckpt=$(best "$RUNS" "$CKPT" diff "$base" "$ft" --json)
  torch=$(best "$TORCH_RUNS" "$PYTHON" Benchmarks/diff_torch.py "$base" "$ft")
  norms=$(best "$TORCH_RUNS" "$PYTHON" Benchmarks/diff_torch.py "$base" "$ft" --norms-only)
  python3 - "$pair" "$bytes" "$ckpt" "$torch" "$norms" <<'PY'
import json, sys
pair, size = sys.argv[1], int(sys.argv[2])
ckpt, torch, norms = (json.loads(a) for a in sys.argv[3:6])
kind = {"large": "BERT-large F32", "bf16": "LLaMA-style BF16"}[pair]
label = f"{kind}, 2 x {size / 2 / 1e9:.2f} GB"
for tool, m in (("ckpt diff", ckpt), ("torch, same numbers", torch), ("torch, norms only", norms)):
    ratio = m["seconds"] / ckpt["seconds"]
    print(f"| {label} | {tool} | {m['seconds']:.2f} | {size / m['seconds'] / 1e9:.2f} | {m['cpu_seconds']:.2f} | "
          f"{m['max_rss_mb']:.0f} | {m['peak_anon_mb']:.0f} | {m['load']:.1f} | {ratio:.1f}x |")
PY
done
