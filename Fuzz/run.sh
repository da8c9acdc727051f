#!/usr/bin/env bash
# Builds the libFuzzer targets with AddressSanitizer (and UBSan for C code) and runs each for a
# fixed budget, seeded from the committed fixtures. Crashes land in Fuzz/crashes/<target>/; a
# summary line per target says how many inputs ran and whether anything was found.
#   Fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
budget=${1:-60}
shift || true
all_targets=$(sed -n 's/^let fuzzTargets = \[\(.*\)\]/\1/p' Package.swift | tr -d '" ' | tr ',' ' ')
targets=${*:-$all_targets}
# C code (the HDF5 guard driver) is also built with UndefinedBehaviorSanitizer in trap mode:
# undefined behaviour stops the process with SIGILL, which libFuzzer records as a crash. Swift has
# no UBSan on Linux; its own overflow and bounds checks trap the same way.
build_flags=(-c release --sanitize=fuzzer --sanitize=address -Xcc -fsanitize=undefined -Xcc -fsanitize-trap=undefined)
swift build "${build_flags[@]}" -Xswiftc -g >/dev/null
bin=$(swift build "${build_flags[@]}" --show-bin-path)
fixtures=../fixtures
# Copies the matching files into the corpus under names made from their paths (fixtures share
# names such as vocab.txt, model.safetensors: a plain cp would keep only the last).
copy_seeds() {
    local dir=$1; shift
    find "$@" 2>/dev/null | while read -r file; do cp "$file" "$dir/$(echo "$file" | tr '/.' '__')"; done
}
seed() {
    local target=$1 dir=corpus/$1
    mkdir -p "$dir"
    case $target in
        FuzzSafetensors) copy_seeds "$dir" "$fixtures" -name '*.safetensors' -size -200k ;;
        FuzzShardIndex) copy_seeds "$dir" "$fixtures" -name '*.index.json' ;;
        FuzzHDF5) copy_seeds "$dir" "$fixtures" -name '*.h5' -size -300k ;;
        FuzzPatch) copy_seeds "$dir" "$fixtures" -name '*.patch' -size -200k ;;
        FuzzTokenizer) copy_seeds "$dir" "$fixtures" \( -name 'vocab.txt' -o -name 'tokenizer.json' \) -size -64k ;;
        FuzzTaskData) copy_seeds "$dir" "$fixtures" ../../shared/data \( -name '*.tsv' -o -name '*.csv' -o -name '*.jsonl' \) -size -100k ;;
    esac
    return 0
}
# Known leaks inside libraries we call (documented in lsan.supp), not in our code.
export LSAN_OPTIONS="suppressions=$PWD/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
# A small ASan quarantine keeps the process small (it mattered when FuzzHDF5 forked once per input;
# it now starts a fresh helper process per input, HDF5Rehearsal, whose cost does not grow with ours).
export ASAN_OPTIONS="quarantine_size_mb=4:thread_local_quarantine_size_kb=64:malloc_context_size=5${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
status=0
for target in $targets; do
    seed "$target"
    mkdir -p "crashes/$target"
    log=$(mktemp)
    if "$bin/$target" "corpus/$target" -max_total_time="$budget" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="crashes/$target/" >"$log" 2>&1; then
        result="no crash"
    else
        result="CRASH (see crashes/$target/)"
        status=1
        tail -40 "$log"
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    echo "$target: ${runs:-?} executions in ${budget}s, $result"
    rm -f "$log"
done
exit $status
