#!/usr/bin/env bash
# Regenerates the op coverage matrix and fails if docs/op-coverage.md differs.
set -euo pipefail
tool=$1
doc=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$tool" --markdown "$tmp/op-coverage.md"
if ! diff -u "$doc" "$tmp/op-coverage.md"; then
  echo "docs/op-coverage.md is out of date: run build/demos/op_coverage --markdown docs/op-coverage.md" >&2
  exit 1
fi
echo "docs/op-coverage.md is up to date"
