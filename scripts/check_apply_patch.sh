#!/usr/bin/env bash
# Checks scripts/apply_patch.py's command line against the committed references (issue 22 item 3):
# both calling forms write the output fixtures/expected/patch/python-apply.json records (SHA-256),
# a directory base works, and bad arguments give a usage line and exit 2, not a patch error.
# Needs python3 with numpy and safetensors ($PYTHON; scripts/dev.sh test provides it).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
apply=scripts/apply_patch.py base=fixtures/tiny-bert/base patch=fixtures/patch/layernorm.patch
want=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["cases"]["layernorm"]["output_sha256"])' \
    fixtures/expected/patch/python-apply.json)
fail() { echo "check_apply_patch: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

"$PYTHON" $apply $base/model.safetensors $patch -o "$tmp/a.safetensors"
[ "$(sha "$tmp/a.safetensors")" = "$want" ] || fail "-o: output differs from the reference"
"$PYTHON" $apply $base/model.safetensors $patch --output "$tmp/b.safetensors"
[ "$(sha "$tmp/b.safetensors")" = "$want" ] || fail "--output: output differs from the reference"
"$PYTHON" $apply $base $patch "$tmp/c.safetensors"
[ "$(sha "$tmp/c.safetensors")" = "$want" ] || fail "third operand, directory base: output differs from the reference"
for bad in "$base $patch" "$base $patch $tmp/d -o $tmp/e" "$base" "$base $patch -x $tmp/f"; do
    status=0
    "$PYTHON" $apply $bad >/dev/null 2>"$tmp/err" || status=$?
    [ $status = 2 ] || fail "'$bad': exit $status, expected 2"
    grep -q '^usage: apply_patch.py' "$tmp/err" || fail "'$bad': no usage line"
done
# Version 2: resized embeddings (GPT-2 tied, Llama untied) and a replaced head (fixtures/resize).
for case in gpt2 llama bert-head; do
    "$PYTHON" $apply fixtures/resize/$case/base fixtures/resize/$case.patch "$tmp/$case.safetensors"
    "$PYTHON" - "$tmp/$case.safetensors" fixtures/resize/$case/ft/model.safetensors <<'PY' || fail "$case: output is not the fine-tune"
import sys
from safetensors.numpy import load_file
out, ft = load_file(sys.argv[1]), load_file(sys.argv[2])
sys.exit(0 if out.keys() == ft.keys() and all(out[k].shape == ft[k].shape and out[k].tobytes() == ft[k].tobytes() for k in ft) else 1)
PY
done
echo "check_apply_patch: ok (3 calling forms give output $want; 4 bad command lines give usage, exit 2; resized and replaced-head patches give their fine-tunes)"
