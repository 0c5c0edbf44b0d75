#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running demo or test suite:
# installs the missing Debian packages, configures with Meson, builds, runs.
#
#   ./dev.sh demo   # the main demo (demos/spiral)
#   ./dev.sh test   # the whole test suite (AddressSanitizer+UBSan core tests, then everything)
#   ./dev.sh graphs # draws the tape and the backward pass into out/ (demos/graph_dump)
#   ./dev.sh bench [compare.py options]  # the performance suite side by side with LibTorch (docs/performance.md),
#                                        # then the GPU benchmarks when a GPU is present
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(meson ninja-build pkg-config g++ libfmt-dev libboost1.81-dev doctest-dev libopenblas-dev liblapacke-dev graphviz gnuplot-nox)
# gzip-compressed data files (nn/mnist.cpp) are read through zlib.
PACKAGES+=(zlib1g-dev)

install_missing() {  # install_missing [package...]  (default: PACKAGES)
  local missing=() wanted=("$@")
  [ $# -eq 0 ] && wanted=("${PACKAGES[@]}")
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "dev.sh: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {  # build DIR [meson options...]
  local dir=$1
  shift
  [ -f "$dir/build.ninja" ] || meson setup "$dir" "$@"
  meson compile -C "$dir"
}

case "${1:-}" in
  demo)
    install_missing
    build build
    ./build/demos/spiral
    ;;
  test)
    install_missing
    # The core tests under AddressSanitizer + UndefinedBehaviorSanitizer (any report fails the test) ...
    build build-asan -Db_sanitize=address,undefined -Dbuildtype=debugoptimized -Dcuda=disabled -Dlibtorch=disabled
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      meson test -C build-asan --suite core --print-errorlogs
    # ... then the whole suite in the release build; its summary ends the run.
    build build
    meson test -C build --print-errorlogs
    ;;
  graphs)
    install_missing
    build build
    ./build/demos/graph_dump out
    ;;
  bench)
    shift
    install_missing
    # LibTorch (Debian's 1.13) is only needed for the comparison; without it the suite still runs.
    install_missing libtorch-dev || echo "dev.sh: libtorch-dev not installed; the LibTorch comparison will be skipped"
    [ -f build/build.ninja ] && meson setup --reconfigure build >/dev/null
    build build
    mnist=${TAPEGRAD_MNIST_DIR:-../shared/data/mnist}
    torch=()
    [ -x build/tests/bench/bench_libtorch ] && torch=(--libtorch build/tests/bench/bench_libtorch)
    python3 tests/bench/compare.py --tapegrad build/tests/bench/bench_tapegrad "${torch[@]}" --mnist "$mnist" "$@"
    # The GPU benchmarks (docs/performance.md, section GPU) when there is a GPU; 77 means there is none.
    if [ -x build/tests/bench/bench_cuda ]; then
      rc=0
      build/tests/bench/bench_cuda --device cuda || rc=$?
      [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] || exit "$rc"
    fi
    ;;
  *)
    echo "usage: ./dev.sh demo | test | graphs | bench [options]" >&2
    exit 2
    ;;
esac
