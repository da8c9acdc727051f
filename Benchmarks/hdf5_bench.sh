#!/usr/bin/env bash
# `ckpt diff` on HDF5 pairs against the same tensors as safetensors and against an h5py + numpy
# script, same run (issue 14). Make the pairs first (about 8 GB):
#   python Benchmarks/make_hdf5_bench.py DIR/large-base.safetensors DIR/large-ft.safetensors DIR
# usage: Benchmarks/hdf5_bench.sh DIR [RUNS]   (PYTHON: a venv with h5py and numpy; CKPT: the binary)
# Each line: one run of Benchmarks/measure.py (wall s, CPU s, peak RSS MB, peak anonymous MB, load).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=$1
RUNS=${2:-3}
CKPT=${CKPT:-.build/release/ckpt}
PYTHON=${PYTHON:-python3}
cat "$DIR"/large-base.safetensors "$DIR"/large-ft.safetensors > /dev/null
for run in $(seq "$RUNS"); do
    for pair in "large-base.safetensors large-ft.safetensors" "h5py-base.h5 h5py-ft.h5" "tf-base.h5 tf-ft.h5" \
                "keras3-base.weights.h5 keras3-ft.weights.h5"; do
        set -- $pair
        cat "$DIR/$1" "$DIR/$2" > /dev/null
        echo "ckpt $1 $("$PYTHON" Benchmarks/measure.py "$CKPT" diff "$DIR/$1" "$DIR/$2" --json)"
    done
done
echo "h5py+numpy $("$PYTHON" Benchmarks/measure.py "$PYTHON" Benchmarks/hdf5_diff_numpy.py "$DIR/h5py-base.h5" "$DIR/h5py-ft.h5")"
