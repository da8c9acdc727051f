#!/usr/bin/env bash
# Build, demo and test ckpt on a Debian machine that has only the Swift toolchain.
#   scripts/dev.sh demo   install what is missing (apt), build release, run ckpt on the shipped fixtures
#   scripts/dev.sh test   install what is missing (apt), build (release), run the test suite
# The Makefile's targets call this script; it needs nothing but bash, apt and swift.
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

# Every test is XCTest; Swift Testing is switched off so the run ends on XCTest's summary line.
# Release build (a debug build compiles the numeric code unoptimised); the tests use @testable, hence
# -enable-testing. `swift test` builds ckpt too; a separate `swift build` would use other flags and
# compile everything twice.
test() {
    deps
    $SWIFT test -c release -Xswiftc -enable-testing --disable-swift-testing
}

case "${1:-}" in
    deps) deps ;;
    demo) demo ;;
    test) test ;;
    *) echo "usage: scripts/dev.sh demo|test|deps" >&2; exit 64 ;;
esac
