#!/bin/sh
# Builds out/minitd.bin with nasm. Run it from the folder that contains it:
#   sh build.sh POLICY_FILE ROOT_CA_FILE
# MINITD_DEBUG=true selects the debug banner (default false).
# Exit status: 0 built, 2 invalid input, other values from nasm.
set -eu

fail() {
  echo "minitd build: $*" >&2
  exit 2
}

[ "$#" -eq 2 ] || fail "usage: sh build.sh POLICY_FILE ROOT_CA_FILE"
policy=$1
root_ca=$2

case "${MINITD_DEBUG:-false}" in
  true | 1) debug=1 ;;
  false | 0 | "") debug=0 ;;
  *) fail "MINITD_DEBUG must be true or false, not '$MINITD_DEBUG'" ;;
esac

for file in "$policy" "$root_ca"; do
  [ -f "$file" ] && [ -r "$file" ] || fail "input file not found or not readable: $file"
  case "$file" in
    *\"* | *\'*) fail "input file path contains a quote, which nasm cannot take: $file" ;;
  esac
done

# The CFV is 0xA0000 bytes: a 120-byte header, then each file with a 24-byte
# header, padded to 8 bytes.
padded_size() {
  echo $((($(wc -c <"$1") + 24 + 7) / 8 * 8))
}
cfv_used=$((120 + $(padded_size "$policy") + $(padded_size "$root_ca")))
[ "$cfv_used" -le $((0xA0000)) ] ||
  fail "policy and root CA need $cfv_used bytes in the CFV, more than its 655360 bytes"

mkdir -p out
nasm -f bin -Werror -I ./ \
  -D MINITD_DEBUG="$debug" \
  -D POLICY_FILE="\"$policy\"" \
  -D ROOT_CA_FILE="\"$root_ca\"" \
  -o out/minitd.bin.tmp minitd.nasm
mv out/minitd.bin.tmp out/minitd.bin
