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
# Version 2: resized embeddings (GPT-2 tied, Llama untied), a replaced head, and resized embeddings
# of a fine-tune saved in BF16 (converted and resized at once) (fixtures/resize).
for case in gpt2:gpt2/ft llama:llama/ft bert-head:bert-head/ft gpt2-bf16:gpt2/ft-bf16; do
    name=${case%%:*} ft=${case#*:}
    "$PYTHON" $apply fixtures/resize/${name%-bf16}/base fixtures/resize/$name.patch "$tmp/$name.safetensors"
    "$PYTHON" - "$tmp/$name.safetensors" fixtures/resize/$ft/model.safetensors <<'PY' || fail "$name: output is not the fine-tune"
import sys
sys.path.insert(0, "scripts")
from apply_patch import read_st
out, ft = ({t[0]: t[1:] for t in read_st(open(p, "rb").read())[1]} for p in sys.argv[1:3])
sys.exit(0 if out == ft else 1)
PY
done
# A version-2 patch that converts the F32 base to BF16 (issue 18): the result holds, tensor for
# tensor, the PyTorch-made BF16 fine-tune's bytes.
"$PYTHON" $apply $base fixtures/precision/tiny-layernorm-bf16.patch -o "$tmp/bf16.safetensors"
"$PYTHON" - "$tmp/bf16.safetensors" fixtures/patch/ft-layernorm-bf16.safetensors <<'PY' || fail "version 2 (conversion): result differs from the BF16 fine-tune"
import sys
sys.path.insert(0, "scripts")
from apply_patch import read_st
out = {t[0]: t[1:] for t in read_st(open(sys.argv[1], "rb").read())[1]}
for name, dtype, shape, data in read_st(open(sys.argv[2], "rb").read())[1]:
    key = name[len("bert."):] if name.startswith("bert.") else name
    assert out[key] == (dtype, shape, data), key
PY
echo "check_apply_patch: ok (3 calling forms give output $want; 4 bad command lines give usage, exit 2; resized, replaced-head and resized-BF16 patches give their fine-tunes; a conversion patch gives the BF16 fine-tune)"
