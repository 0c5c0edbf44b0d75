#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running demo or test suite:
# installs the missing Debian packages, configures with Meson, builds, runs.
#
#   ./dev.sh demo   # the main demo (demos/spiral); builds only the library and the demo
#   ./dev.sh test   # the whole test suite (AddressSanitizer+UBSan core tests, a build without
#                   # CUDA, then everything in the release build)
#   ./dev.sh graphs # draws the tape and the backward pass into out/graph_dump/ (demos/graph_dump)
#   ./dev.sh bench [compare.py options]  # the performance suite side by side with LibTorch (docs/performance.md),
#                                        # then the GPU benchmarks when a GPU is present
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(meson ninja-build pkg-config g++ libfmt-dev libboost1.81-dev doctest-dev libopenblas-dev libdnnl-dev liblapacke-dev graphviz gnuplot-nox)
# gzip-compressed data files (nn/mnist.cpp) are read through zlib.
PACKAGES+=(zlib1g-dev)
# Command-line options of the demos (demos/cli.hpp).
PACKAGES+=(libcli11-dev)
# The CMake consumer of the install test (tests/install_test.sh; skipped without it).
PACKAGES+=(cmake)
# The loaders' libFuzzer targets (tests/sanitizers.sh, docs/fuzzing.md): clang and its fuzzer runtime.
PACKAGES+=(clang libclang-rt-14-dev)
# Data-parallel training (ag::dist, docs/distributed.md) and its test suite under mpirun: Open MPI.
PACKAGES+=(libopenmpi-dev openmpi-bin)

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

build() {  # build DIR [meson options...]: configure once, then build everything
  local dir=$1
  shift
  [ -f "$dir/build.ninja" ] || meson setup "$dir" "$@"
  meson compile -C "$dir"
}

suite_programs() {  # suite_programs DIR SUITE...: the programs the tests of these suites run, as targets of DIR
  meson introspect --tests "$1" | python3 -c '
import json, os, sys
build, suites = os.path.abspath(sys.argv[1]), {"tapegrad:" + s for s in sys.argv[2:]}
for t in json.load(sys.stdin):
    program = t["cmd"][0]
    if suites & set(t["suite"]) and program.startswith(build + os.sep):
        print(os.path.relpath(program, build))
' "$@" | sort -u
}

fetch_libtorch_wheel() {  # fetch_libtorch_wheel latest|VERSION: prints the folder of its unpacked torch/
  local spec=torch dest=build/libtorch-wheel
  [ "$1" != latest ] && spec="torch==$1"
  mkdir -p "$dest"
  if [ ! -f "$dest/$1/torch/lib/libtorch_cpu.so" ]; then
    echo "dev.sh: downloading the $spec wheel from PyPI (about 550 MB) into $dest" >&2
    rm -rf "$dest/download" "$dest/$1"
    python3 -m pip download -q --no-deps "$spec" -d "$dest/download" >&2
    # Only what the CPU benchmark needs: headers, CMake config, torch_cpu, c10 and their runtime libraries.
    python3 - "$dest/download"/torch-*.whl "$dest/$1" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
libs = ("libtorch_cpu.so", "libc10.so", "libgomp", "libgfortran")
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = name.rsplit("/", 1)[-1]
        if name.startswith(("torch/include/", "torch/share/cmake/")) or \
           (name.startswith("torch/lib/") and base.startswith(libs)):
            z.extract(name, out)
PY
    rm -rf "$dest/download"
  fi
  local missing
  missing=$(ldd "$dest/$1/torch/lib/libtorch_cpu.so" | grep "not found" || true)
  if [ -n "$missing" ]; then
    echo "dev.sh: the wheel's libtorch_cpu.so needs libraries this machine lacks (the CUDA toolkit's" \
         "runtime; add its lib folder to LD_LIBRARY_PATH):" >&2
    echo "$missing" >&2
    exit 1
  fi
  echo "$PWD/$dest/$1/torch"
}

has_gpu() {  # an NVIDIA GPU the driver can see
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q "^GPU"
}

# The options of the main build folder `build` that decide what is compiled:
# `full` (what ./dev.sh test needs: the CUDA backend when nvcc is there and the
# cuda_host emulation when the CCCL headers are) or `lean` (what the demo needs:
# the CPU library, plus the CUDA backend only when there is a GPU to run it).
main_options() {  # main_options full|lean
  if [ "$1" = full ] || has_gpu; then
    echo "-Dcuda=auto -Demulation=auto"
  else
    echo "-Dcuda=disabled -Demulation=disabled"
  fi
}

configure_main() {  # configure_main full|lean: set up `build`, or switch an existing one to full
  local want
  want=$(main_options "$1")
  # shellcheck disable=SC2086
  if [ ! -f build/build.ninja ]; then
    meson setup build $want
  elif [ "$1" = full ]; then
    # a folder the demo configured lean: switch it on (a reconfigure, then only the CUDA parts build)
    local have
    have=$(meson introspect --buildoptions build | python3 -c \
      'import json, sys; o = {x["name"]: x["value"] for x in json.load(sys.stdin)}; print("-Dcuda=" + o["cuda"] + " -Demulation=" + o["emulation"])' \
      2>/dev/null || echo unknown)
    [ "$have" = "$want" ] || meson configure build $want
  fi
}

case "${1:-}" in
  demo)
    install_missing
    # only what the demo needs: the library and demos/spiral (Note in docs/performance.md, "The first build")
    configure_main lean
    meson compile -C build demos/spiral
    ./build/demos/spiral
    ;;
  test)
    install_missing
    # The backward step-through's browser test (tests/backward_html_test.py) drives headless
    # Chromium; without it that one test reports itself skipped.
    install_missing chromium || echo "dev.sh: chromium not installed; the browser test will be skipped"
    # 1. The core and nn tests under AddressSanitizer + UndefinedBehaviorSanitizer (any report fails the test) ...
    #    (only the programs of those suites: the demos are slow to build under the sanitizers)
    [ -f build-asan/build.ninja ] ||
      meson setup build-asan -Db_sanitize=address,undefined -Dbuildtype=debugoptimized -Dcuda=disabled -Dlibtorch=disabled
    # shellcheck disable=SC2046
    meson compile -C build-asan $(suite_programs build-asan core nn)
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      meson test -C build-asan --no-rebuild --suite core --suite nn --print-errorlogs
    #    ... the loaders' fuzzers (45 s each, ASan+UBSan, clang, build-fuzz/) and the suite 'threads'
    #    under ThreadSanitizer (build-tsan/) (docs/fuzzing.md) ...
    tests/sanitizers.sh all 45
    # 2. ... the suites that differ between builds, in a build without any CUDA part (as on a
    #    machine without the CUDA toolkit): the GPU suite must say skipped, the coverage test pass ...
    [ -f build-nocuda/build.ninja ] || meson setup build-nocuda -Dcuda=disabled -Demulation=disabled -Dlibtorch=disabled
    meson compile -C build-nocuda tests/test_cuda demos/op_coverage
    meson test -C build-nocuda --no-rebuild --print-errorlogs cuda \
      "docs/op-coverage.md is generated and up to date, every check passes here"
    # 3. ... then the whole suite in the release build; its summary ends the run.
    configure_main full
    meson compile -C build
    meson test -C build --print-errorlogs
    ;;
  graphs)
    install_missing
    build build
    ./build/demos/graph_dump   # writes into out/graph_dump/
    ;;
  bench)
    shift
    install_missing
    # --libtorch-wheel[=VERSION]: also compare against LibTorch 2.x from PyPI's torch wheel (latest
    # or VERSION), unpacked into build/libtorch-wheel/ (torch_cpu and c10 only; docs/performance.md).
    wheel="" args=()
    for a in "$@"; do
      case $a in
        --libtorch-wheel) wheel=latest ;;
        --libtorch-wheel=*) wheel=${a#*=} ;;
        *) args+=("$a") ;;
      esac
    done
    # LibTorch (Debian's 1.13) is only needed for the comparison; without it the suite still runs.
    install_missing libtorch-dev || echo "dev.sh: libtorch-dev not installed; the LibTorch comparison will be skipped"
    options=()
    [ -n "$wheel" ] && options+=("-Dlibtorch_dir=$(fetch_libtorch_wheel "$wheel")")
    if [ -f build/build.ninja ]; then
      meson setup --reconfigure build "${options[@]}" >/dev/null
    else
      meson setup build "${options[@]}"
    fi
    build build
    mnist=${TAPEGRAD_MNIST_DIR:-../shared/data/mnist}
    torch=()
    for p in build/tests/bench/bench_libtorch build/tests/bench/bench_libtorch_dir; do
      [ -x "$p" ] && torch+=(--libtorch "$p")
    done
    python3 tests/bench/compare.py --tapegrad build/tests/bench/bench_tapegrad "${torch[@]}" --mnist "$mnist" "${args[@]}"
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
