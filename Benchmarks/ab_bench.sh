#!/usr/bin/env bash
# Times two ckpt binaries on the same `ckpt diff` job, alternating them run by run so that both see
# the same load, and reports the fastest of RUNS runs of each (Benchmarks/measure.py's JSON line).
# Used to check that a change keeps diff speed (e.g. the run-time CPU dispatch of CKernels).
#
# usage: Benchmarks/ab_bench.sh BEFORE AFTER BASE FT [RUNS]   (RUNS default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
before=$1 after=$2 base=$3 ft=$4 runs=${5:-5}
cat "$base" "$ft" > /dev/null   # into the page cache
"$before" diff "$base" "$ft" --json > /dev/null   # warm-up
"$after" diff "$base" "$ft" --json > /dev/null
for label in before after; do : > "/tmp/ab_bench.$$.$label"; done
for _ in $(seq "$runs"); do
  python3 Benchmarks/measure.py "$before" diff "$base" "$ft" --json >> "/tmp/ab_bench.$$.before"
  python3 Benchmarks/measure.py "$after" diff "$base" "$ft" --json >> "/tmp/ab_bench.$$.after"
done
for label in before after; do
  python3 -c 'import json,sys
runs=[json.loads(l) for l in open(sys.argv[1])]
best=min(runs, key=lambda m: m["seconds"])
print(sys.argv[2], "best", json.dumps(best), "all", [round(m["seconds"],3) for m in runs])' "/tmp/ab_bench.$$.$label" "$label"
  rm -f "/tmp/ab_bench.$$.$label"
done
