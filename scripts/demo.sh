#!/usr/bin/env bash
# Runs the main job on the bundled guest from a fresh checkout. It prepares
# the host (Docker engine, debootstrap, nasm, QEMU) and compiles the package.
# Then it builds minitd twice in its pinned container and measures it. It
# signs the attestations with a demo key made here and verifies the result.
#
# Usage: npm run demo [-- OUT_DIR]        (default OUT_DIR: out/demo)
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-out/demo}
key_dir=$(dirname "$out")/demo-key

docker/setup-host.sh
if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent build

cli() { node dist/bin/migtd-repro.cjs "$@"; }

if [ ! -f "$key_dir/signing-key.pem" ]; then
  mkdir -p "$key_dir"
  cli keygen "$key_dir/signing-key.pem" --public-key "$key_dir/signing-key.pub.pem"
fi
cat >&2 <<MSG
demo: signing with a key made for this demo only, $key_dir/signing-key.pem.
demo: a release is signed with the maintainer's own key (build --sign KEY).
MSG

cli build --out "$out" --rebuilds 2 --sign "$key_dir/signing-key.pem"
cli verify "$out/minitd.bin" --key "$key_dir/signing-key.pub.pem"
