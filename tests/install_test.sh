#!/usr/bin/env bash
# Installs the build into a scratch prefix and builds a consumer with pkg-config.
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --destdir "$tmp" --no-rebuild --quiet
prefix=$(find "$tmp" -name tapegrad.pc -path '*pkgconfig*' | head -1 | xargs dirname)
pcprefix=$(sed -n 's/^prefix=//p' "$prefix/tapegrad.pc")
flags=$(PKG_CONFIG_PATH="$prefix" pkg-config --define-variable=prefix="$tmp$pcprefix" --cflags --libs tapegrad)
# shellcheck disable=SC2086
g++ -std=c++20 -O1 "$src/demos/readme_example.cpp" -o "$tmp/consumer" $flags -lfmt
libdir=$(dirname "$(find "$tmp" -name 'libtapegrad.so' | head -1)")
out=$(LD_LIBRARY_PATH="$libdir" "$tmp/consumer")
echo "$out"
grep -q "dL/dW1 tensor(" <<<"$out"
echo "installed library, headers and pkg-config file work"
