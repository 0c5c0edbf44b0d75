#!/usr/bin/env bash
# The op coverage matrix: regenerates docs/op-coverage.md and fails if the
# committed file differs, or if any check fails on this machine. The committed
# file holds only what does not depend on the machine (the cpu results and
# which device checks exist); this machine's device results (PASS, FAIL,
# skipped) go to the build folder.
#   coverage_test.sh TOOL DOC RESULTS
set -euo pipefail
tool=$1
doc=$2
results=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rc=0
"$tool" --markdown "$tmp/op-coverage.md" --results "$results" || rc=$?
if ! diff -u "$doc" "$tmp/op-coverage.md"; then
  echo "docs/op-coverage.md is out of date: run build/demos/op_coverage --markdown docs/op-coverage.md" >&2
  exit 1
fi
echo "docs/op-coverage.md is up to date"
if [ "$rc" -ne 0 ]; then
  echo "op coverage: some checks FAIL on this machine (see $results)" >&2
  grep -n "FAIL" "$results" >&2 || true
  exit 1
fi
echo "op coverage: every check that ran here passes (device results: $results)"
