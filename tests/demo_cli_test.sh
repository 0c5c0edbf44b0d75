#!/usr/bin/env bash
# Checks the command line of every demo given as an argument (demos/cli.hpp):
#   --help exits 0 and prints the demo's description and its options;
#   an unknown option, a stray argument, a missing value, a non-number for each
#   numeric option and a value outside the set of each fixed-set option exit 2
#   with exactly one line on stderr that names the demo, the option and the value.
# Nothing here reaches a demo's work: each call ends in the parser.
set -uo pipefail

failures=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# expect_error DEMO_PATH WORD... -- ARGS...: exit 2, one line on stderr naming the demo and each WORD.
expect_error() {
  local exe=$1 name
  name=$(basename "$exe")
  shift
  local words=()
  while [ "$1" != "--" ]; do
    words+=("$1")
    shift
  done
  shift
  timeout 60 "$exe" "$@" > "$tmp/out" 2> "$tmp/err"
  local rc=$? lines
  lines=$(wc -l < "$tmp/err")
  if [ "$rc" != 2 ]; then
    fail "$name $*: exit status $rc, expected 2"
  elif [ "$lines" != 1 ]; then
    fail "$name $*: $lines lines on stderr, expected 1:"
    sed 's/^/    /' "$tmp/err"
  elif ! grep -q "^$name: " "$tmp/err"; then
    fail "$name $*: the error does not start with '$name: ': $(cat "$tmp/err")"
  else
    for w in "${words[@]}"; do
      grep -qF -- "$w" "$tmp/err" || fail "$name $*: the error does not name '$w': $(cat "$tmp/err")"
    done
    echo "ok  $name $*  ->  $(cat "$tmp/err")"
  fi
}

for exe in "$@"; do
  name=$(basename "$exe")
  # --help and -h: exit 0, the description first, then every option.
  for h in --help -h; do
    if ! timeout 60 "$exe" "$h" > "$tmp/help" 2> "$tmp/err"; then
      fail "$name $h: exit status not 0"
      continue
    fi
    head -1 "$tmp/help" | grep -q "^$name: " || fail "$name $h: the first line is not a description starting '$name: '"
    grep -qE '^ +(-h,)?--[a-z]' "$tmp/help" || fail "$name $h: no --option listed"
    [ -s "$tmp/err" ] && fail "$name $h: wrote to stderr: $(cat "$tmp/err")"
  done
  # every option that takes a value shows its default (TYPE=default) or says it in its help text
  grep -E '^ +--[a-z-]+ [A-Z{]' "$tmp/help" | grep -vE '^ +--[a-z-]+ [^ ]+=' | grep -vq 'default' \
    && fail "$name --help: an option without its default: $(grep -E '^ +--[a-z-]+ [A-Z{]' "$tmp/help" | grep -vE '=|default')"

  expect_error "$exe" --no-such-option -- --no-such-option
  expect_error "$exe" --no-such-option -- --no-such-option 3
  expect_error "$exe" '"stray"' -- stray

  # Each numeric option: a word, then nothing after it.
  for opt in $(grep -oE '^ +--[a-z-]+ (INT|UINT|FLOAT)' "$tmp/help" | awk '{print $1}'); do
    expect_error "$exe" "$opt" '"ten" is not a number' -- "$opt" ten
    expect_error "$exe" "$opt" -- "$opt"
  done
  # Each option with a fixed set of values: one outside it, and the error lists the set.
  while read -r opt set; do
    first=$(tr -d '{}' <<< "$set" | cut -d, -f1)
    expect_error "$exe" "$opt" '"bogus"' "$first" -- "$opt" bogus
  done < <(grep -oE '^ +--[a-z-]+ \{[^}]*\}' "$tmp/help")
done

if [ "$failures" != 0 ]; then
  echo "$failures failures"
  exit 1
fi
echo "all $# demos: --help, unknown options and bad values as expected"
