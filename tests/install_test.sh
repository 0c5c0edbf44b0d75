#!/usr/bin/env bash
# Installs the build into a scratch prefix and uses it as a library the ways
# docs/install.md describes: (a) g++ with pkg-config, (b) a CMake project with
# find_package(tapegrad), (c) a Meson project with dependency('tapegrad'), each
# building tests/install/consumer.cpp (<tapegrad/...> includes, a tiny model
# trained with backward) and running it; (d) a C++17 compile stops at the one
# #error of Note [C++20 check].
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
consumer=$src/tests/install

# The configured prefix (/usr/local by default), installed under a scratch root.
configured=$(meson introspect "$build" --buildoptions |
  python3 -c 'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet
prefix=$tmp/root$configured
pc=$(find "$prefix" -name tapegrad.pc -path '*pkgconfig*' | head -1)
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
echo "installed into $prefix"
# shellcheck disable=SC2016
if ! grep -qF 'prefix=${pcfiledir}' "$pc"; then
  # a build directory set up before pkgconfig.relocatable became the default
  sed -i "s|^prefix=.*|prefix=$prefix|" "$pc"
  echo "(tapegrad.pc is not relocatable in this build directory: its prefix was rewritten to the scratch prefix)"
fi
# Every quoted include of an installed header names an installed file, relative to it.
while IFS= read -r header; do
  while IFS= read -r inc; do
    if [[ ! -f $(dirname "$header")/$inc ]]; then
      echo "FAIL: ${header#"$prefix"/} includes \"$inc\", which is not installed beside it"
      exit 1
    fi
  done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$header")
done < <(find "$prefix/include/tapegrad" -type f)
echo "every installed header's includes are installed: $(find "$prefix/include/tapegrad" -type f | wc -l) files"
libdir=$(pkg-config --variable=libdir tapegrad)
cflags=$(pkg-config --cflags tapegrad)
libs=$(pkg-config --libs tapegrad)
if grep -q 'include/tapegrad' <<<"$cflags"; then
  echo "FAIL: pkg-config --cflags puts include/tapegrad on the include path: $cflags"
  exit 1
fi

echo
echo "(a) g++ with pkg-config: g++ -std=c++20 consumer.cpp \$(pkg-config --cflags --libs tapegrad) -Wl,-rpath,<libdir>"
echo "    cflags: $cflags"
echo "    libs:   $libs (fmt comes from Requires: fmt, no -lfmt)"
# shellcheck disable=SC2086
g++ -std=c++20 -O1 -c "$consumer/consumer.cpp" -o "$tmp/consumer.o" $cflags
# shellcheck disable=SC2086
g++ "$tmp/consumer.o" -o "$tmp/consumer_rpath" $libs -Wl,-rpath,"$libdir"
echo "    run with the rpath:        $(env -u LD_LIBRARY_PATH "$tmp/consumer_rpath")"
# shellcheck disable=SC2086
g++ "$tmp/consumer.o" -o "$tmp/consumer_plain" $libs
echo "    run with LD_LIBRARY_PATH:  $(LD_LIBRARY_PATH="$libdir" "$tmp/consumer_plain")"
if env -u LD_LIBRARY_PATH "$tmp/consumer_plain" >/dev/null 2>&1; then
  echo "    run with neither: runs, a libtapegrad is on the system's library path"
else
  echo "    run with neither: the loader does not find libtapegrad.so (the reason for the rpath or LD_LIBRARY_PATH)"
fi

echo
if command -v cmake >/dev/null; then
  echo "(b) CMake: find_package(tapegrad) and tapegrad::tapegrad, configured with -DCMAKE_PREFIX_PATH=<prefix>"
  cmake -S "$consumer" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >"$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log"; exit 1; }
  cmake --build "$tmp/cmake" >>"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log"; exit 1; }
  # CMake writes the imported library's directory into the build tree's RUNPATH
  echo "    run (CMake's build RUNPATH): $(env -u LD_LIBRARY_PATH "$tmp/cmake/consumer")"
else
  echo "(b) CMake: skipped, cmake is not installed (Debian package cmake)"
  cmake_note=" (the CMake package was not tried)"
fi

echo
echo "(c) Meson: dependency('tapegrad') through pkg-config, PKG_CONFIG_PATH=<libdir>/pkgconfig"
meson setup "$tmp/meson" "$consumer" >"$tmp/meson.log" 2>&1 || { cat "$tmp/meson.log"; exit 1; }
meson compile -C "$tmp/meson" >>"$tmp/meson.log" 2>&1 || { cat "$tmp/meson.log"; exit 1; }
# Meson's build RUNPATH names the -L directories of pkg-config dependencies
echo "    run (Meson's build RUNPATH): $(env -u LD_LIBRARY_PATH "$tmp/meson/consumer")"

echo
echo "(d) C++17: g++ -std=c++17 stops at one #error"
for header in tapegrad/autograd/tapegrad.hpp tapegrad/nn/nn.hpp tapegrad/autograd/tensor.hpp; do
  # shellcheck disable=SC2086
  if out=$(g++ -std=c++17 -fsyntax-only $cflags -x c++ - <<<"#include <$header>" 2>&1); then
    echo "FAIL: <$header> compiled as C++17"
    exit 1
  fi
  errors=$(grep -c 'error:' <<<"$out" || true)
  if [[ $errors != 1 ]] || ! grep -q '#error "tapegrad needs C++20: compile with -std=c++20"' <<<"$out"; then
    echo "FAIL: <$header> as C++17 should give exactly the #error, got $errors error lines:"
    echo "$out"
    exit 1
  fi
  echo "    <$header>: $(grep 'error:' <<<"$out" | sed 's/.*error: //')"
done

echo
echo "installed headers, library, pkg-config file and CMake package work${cmake_note:-}"
