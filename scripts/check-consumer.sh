#!/usr/bin/env bash
# Proves that CheckpointKit can be depended upon by version (SwiftPM refuses unsafe flags in such a
# dependency): clones this repository's committed HEAD into a temporary directory, tags the clone
# 1.0.0, builds scripts/consumer-package against it with `from: "1.0.0"` and runs it on a fixture.
#   scripts/check-consumer.sh        (a few minutes: the consumer builds swift-crypto from scratch)
# Needs what `scripts/dev.sh deps` installs, git, and network access to fetch CheckpointKit's own
# dependencies. Uncommitted changes are not part of the check: commit first.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
SWIFT=${SWIFT:-swift}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

git clone --quiet --no-hardlinks "$repo" "$work/ckpt"
git -C "$work/ckpt" -c user.name=check -c user.email=check@localhost tag -a 1.0.0 -m "local tag for check-consumer.sh"
cp -R "$repo/scripts/consumer-package" "$work/consumer"

export CKPT_PACKAGE_URL="file://$work/ckpt"
cd "$work/consumer"
$SWIFT build -c release
expected=$(python3 -c 'import json,struct,sys; f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]; print(len([k for k in json.loads(f.read(n)) if k!="__metadata__"]))' \
    "$repo/fixtures/tiny-bert/base/model.safetensors")
output=$(.build/release/consumer "$repo/fixtures/tiny-bert/base/model.safetensors")
echo "consumer: $output (the safetensors header lists $expected)"
[ "$output" = "$expected tensors" ]
echo "ok: CheckpointKit builds as a versioned dependency (from: \"1.0.0\")"
