#!/usr/bin/env bash
# Runs each demo given as an argument with an empty PATH, so that neither gnuplot
# nor Graphviz's dot is found: each must still exit 0, write its data and its
# scripts (.gp or .dot) and no picture, and print one note per missing program.
set -uo pipefail

failures=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for exe in "$@"; do
  name=$(basename "$exe")
  args=(--out "$tmp/$name")
  [ "$name" = spiral ] && args+=(--epochs 20)  # the pictures matter here, not the accuracy
  if ! timeout 120 env PATH=/nonexistent "$exe" "${args[@]}" > "$tmp/$name.log" 2>&1; then
    echo "FAIL: $name without gnuplot and dot: exit status not 0"
    sed 's/^/    /' "$tmp/$name.log"
    failures=$((failures + 1))
    continue
  fi
  notes=$(grep -c '^note: ' "$tmp/$name.log")
  gnuplot_notes=$(grep -c '^note: gnuplot is not installed' "$tmp/$name.log")
  dot_notes=$(grep -c "^note: Graphviz's dot is not installed" "$tmp/$name.log")
  scripts=$(find "$tmp/$name" -name '*.gp' -o -name '*.dot' | wc -l)
  pictures=$(find "$tmp/$name" -name '*.png' -o -name '*.svg' | wc -l)
  if [ "$notes" = 0 ] || [ "$gnuplot_notes" -gt 1 ] || [ "$dot_notes" -gt 1 ] || [ "$scripts" = 0 ] || [ "$pictures" != 0 ]; then
    echo "FAIL: $name without gnuplot and dot: $gnuplot_notes gnuplot notes, $dot_notes dot notes (one each at most," \
         "one at least), $scripts scripts (some), $pictures pictures (none)"
    sed 's/^/    /' "$tmp/$name.log"
    failures=$((failures + 1))
    continue
  fi
  echo "ok  $name: $scripts scripts, no picture; $(grep '^note: ' "$tmp/$name.log" | cut -c1-60 | paste -sd'|')"
done

if [ "$failures" != 0 ]; then
  echo "$failures failures"
  exit 1
fi
echo "all $# demos succeed without gnuplot and dot"
