#!/usr/bin/env bash
# Builds the libFuzzer targets with AddressSanitizer (and UBSan for C code) and runs each for a
# fixed budget, seeded from the committed fixtures. Crashes land in Fuzz/crashes/<target>/; a
# summary line per target says how many inputs ran and whether anything was found; the last line
# sums up, naming every seed directory that was missing and every target that did not run.
#   Fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#   FUZZ_DRY_RUN=1 Fuzz/run.sh ...   only seed the corpora and say what would run (no build)
#   FUZZ_SHARED_DATA=DIR             more task-data seeds (default ../../shared/data, if it exists)
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
dry_run=${FUZZ_DRY_RUN:-0}
if [ "$dry_run" != 1 ]; then
    swift build "${build_flags[@]}" -Xswiftc -g >/dev/null
    bin=$(swift build "${build_flags[@]}" --show-bin-path)
fi
fixtures=../fixtures
# Task data beside a checkout (the team's shared directory); a clone may not have it.
shared_data=${FUZZ_SHARED_DATA:-../../shared/data}
missing_seeds=() skipped_targets=()
# Copies the files matching a find expression from the seed directories that exist into the
# corpus, under names made from their paths (fixtures share names such as vocab.txt,
# model.safetensors: a plain cp would keep only the last); a missing directory is noted, not fatal.
#   copy_seeds CORPUS DIRECTORY... -- FIND-EXPRESSION...
copy_seeds() {
    local dir=$1 roots=()
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        if [ -d "$1" ]; then roots+=("$1"); else missing_seeds+=("$1 (${dir#corpus/})"); fi
        shift
    done
    shift
    [ ${#roots[@]} -gt 0 ] || return 0
    find "${roots[@]}" -type f "$@" | while read -r file; do cp "$file" "$dir/$(echo "$file" | tr '/.' '__')"; done
}
seed() {
    local target=$1 dir=corpus/$1
    mkdir -p "$dir"
    case $target in
        FuzzSafetensors) copy_seeds "$dir" "$fixtures" -- -name '*.safetensors' -size -200k ;;
        FuzzShardIndex) copy_seeds "$dir" "$fixtures" -- -name '*.index.json' ;;
        FuzzHDF5) copy_seeds "$dir" "$fixtures" -- -name '*.h5' -size -300k ;;
        # Reports of the HDF5 fixtures, written by the FuzzHDF5 build as the rehearsal helper.
        FuzzHDF5Report) [ "$dry_run" = 1 ] || find "$fixtures/hdf5" -name '*.h5' -size -300k | while read -r file; do
            report="$dir/$(echo "$file" | tr '/.' '__').report"
            : >"$report"
            CKPT_HDF5_REHEARSAL_REPORT="$PWD/$report" "$bin/FuzzHDF5" _rehearse-hdf5 60 "$file" || true
            [ -s "$report" ] || rm -f "$report"
        done ;;
        FuzzPatch) copy_seeds "$dir" "$fixtures" -- -name '*.patch' -size -200k ;;
        FuzzTokenizer) copy_seeds "$dir" "$fixtures" -- \( -name 'vocab.txt' -o -name 'tokenizer.json' \) -size -64k ;;
        FuzzTokenizerJSON) copy_seeds "$dir" "$fixtures" -- -name 'tokenizer.json' -size -64k ;;
        FuzzTaskData) copy_seeds "$dir" "$fixtures" "$shared_data" -- \( -name '*.tsv' -o -name '*.csv' -o -name '*.jsonl' \) -size -100k ;;
        FuzzPEFTAdapter) copy_seeds "$dir" "$fixtures/peft-import" "$fixtures/peft" -- -name 'adapter_config.json' ;;
        FuzzDecoderInputs) copy_seeds "$dir" "$fixtures/fisher-decoders" "$fixtures/decoder-tokenizers" -- \( -name '*.jsonl' -o -name 'config.json' \) ;;
        FuzzFisherShard) copy_seeds "$dir" "$fixtures/fisher" -- -name 'shard-*.safetensors' ;;
        FuzzPyTorch) copy_seeds "$dir" "$fixtures/torch" -- \( -name '*.bin' -o -name '*.pt' -o -name '*.pth' -o -name '*.ckpt' \) -size -300k ;;
    esac
}
# Known leaks inside libraries we call (documented in lsan.supp), not in our code.
export LSAN_OPTIONS="suppressions=$PWD/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
# A small ASan quarantine keeps the process small (it mattered when FuzzHDF5 forked once per input;
# it now starts a fresh helper process per input, HDF5Rehearsal, whose cost does not grow with ours).
export ASAN_OPTIONS="quarantine_size_mb=4:thread_local_quarantine_size_kb=64:malloc_context_size=5${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
status=0 ran=0 crashed=0
for target in $targets; do
    case " $all_targets " in
        *" $target "*) ;;
        *) echo "$target: skipped, not a fuzz target (they are: $all_targets)"; skipped_targets+=("$target (unknown)"); status=1; continue ;;
    esac
    seed "$target"
    seeds=$(find "corpus/$target" -type f | wc -l)
    if [ "$dry_run" = 1 ]; then
        echo "$target: would run ${budget}s on $seeds corpus files"
        continue
    fi
    mkdir -p "crashes/$target"
    log=$(mktemp)
    if "$bin/$target" "corpus/$target" -max_total_time="$budget" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="crashes/$target/" >"$log" 2>&1; then
        result="no crash"
    else
        result="CRASH (see crashes/$target/)"
        status=1 crashed=$((crashed + 1))
        tail -40 "$log"
    fi
    ran=$((ran + 1))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    echo "$target: ${runs:-?} executions in ${budget}s from $seeds corpus files, $result"
    rm -f "$log"
done
summary="fuzz: $ran target(s) run, $crashed crashed"
[ "$dry_run" = 1 ] && summary="fuzz (dry run): corpora seeded, nothing run"
[ ${#missing_seeds[@]} -eq 0 ] || summary+="; seed directories missing, skipped: ${missing_seeds[*]}"
[ ${#skipped_targets[@]} -eq 0 ] || summary+="; targets skipped: ${skipped_targets[*]}"
echo "$summary"
exit $status
