#!/usr/bin/env bash
# The GPU acceptance run (issue #18): on a machine with an NVIDIA GPU, build the
# GPU-relevant targets for that GPU and run, in order,
#   1. the CUDA test suite on the device (tests/test_cuda.cpp: every op's kernels
#      against the cpu, gradient checks, optimisers, checkpoints, autocast),
#   2. the op coverage matrix with the device columns,
#   3. check_nodes_compare of the two-layer net on cpu vs the device (and the
#      deliberately broken node, which must fail on both),
#   4. the precision demo (16-bit training, bfloat16 autocast of the MNIST net),
#   5. the MNIST demo on the device for 2 epochs,
#   6. bench_cuda (products against cuBLAS, elementwise against bandwidth, the MLP step),
# then print one summary. Every step's output goes to LOGDIR/<step>.log.
#
#   tests/gpu/acceptance.sh LOGDIR [--data MNIST_DIR] [--build DIR] [--jobs N]
#
# Without a GPU, TAPEGRAD_TEST_DEVICE=cuda_host runs the same steps on the host
# emulation of the kernels (no nvcc build), which is how it is kept working.
# Budget on a 16-core H200 machine: under 8 minutes, build included.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }
[ $# -ge 1 ] || { usage; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; esac
logdir=$1
shift
data=${TAPEGRAD_MNIST_DIR:-../shared/data/mnist}
build="build-gpu"
jobs=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    *) echo "acceptance.sh: unknown argument $1 (--help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$logdir" || exit 2
logdir=$(cd "$logdir" && pwd)
start=$(date +%s)

device=${TAPEGRAD_TEST_DEVICE:-cuda}
summary=()
failed=0
note() { summary+=("$(printf '%-28s %-5s %6ss  %s' "$1" "$2" "$3" "$4")"); [ "$2" = FAIL ] && failed=1; }

# step NAME FIGURE_PATTERN COMMAND...: runs COMMAND into LOGDIR/NAME.log; the
# summary shows the last line matching FIGURE_PATTERN. Exit 77 is a skip.
step() {
  local name=$1 pattern=$2
  shift 2
  local t0 rc figure status
  t0=$(date +%s)
  echo "== $name: $*" | tee "$logdir/$name.log"
  "$@" >> "$logdir/$name.log" 2>&1
  rc=$?
  figure=$(grep -E "$pattern" "$logdir/$name.log" | tail -n 1 | tr -s ' ' | cut -c1-90)
  case $rc in 0) status=PASS ;; 77) status=SKIP ;; *) status=FAIL; figure="exit $rc; $figure" ;; esac
  note "$name" "$status" "$(( $(date +%s) - t0 ))" "$figure"
  echo "   $status ($rc) after $(( $(date +%s) - t0 )) s"
}

# ---- 0. the machine and the build -------------------------------------------
{
  echo "date: $(date -u)"
  echo "host: $(uname -a)"
  echo "cores: $(nproc)"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
  command -v nvcc >/dev/null && nvcc --version | tail -n 2
  echo "git: $(git rev-parse --short HEAD 2>/dev/null) $(git status --porcelain 2>/dev/null | wc -l) changed files"
} > "$logdir/machine.log" 2>&1
cat "$logdir/machine.log"

if [ "$device" = cuda ]; then
  if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "acceptance.sh: no NVIDIA GPU here (nvidia-smi -L fails); TAPEGRAD_TEST_DEVICE=cuda_host runs it on the host emulation" >&2
    exit 77
  fi
  cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1 | tr -d ' .')
  config=(-Dbuildtype=release -Dcuda=enabled "-Dgpu_arch=sm_$cap" -Dlibtorch=disabled)
else
  config=(-Dbuildtype=release -Dcuda=disabled -Dlibtorch=disabled)
fi
targets=(tests/test_cuda demos/op_coverage demos/gradcheck demos/precision demos/mnist tests/bench/bench_cuda)
# shellcheck disable=SC2317  # called through step
build_targets() {
  # a build folder that exists is used as it is configured (--build build reuses ./dev.sh's)
  [ -f "$build/build.ninja" ] || meson setup "$build" "${config[@]}" || return
  ninja -C "$build" -j"$jobs" "${targets[@]}"
}
step build "Backends|error|ninja: " build_targets
if [ "$failed" = 1 ]; then
  printf '%s\n' "${summary[@]}"
  exit 1
fi

# ---- 1-6. the checks -----------------------------------------------------------
export TAPEGRAD_TEST_DEVICE=$device
dev=$device
step test_cuda "test cases:" "$build/tests/test_cuda"
step op_coverage "columns" "$build/demos/op_coverage" --results "$logdir/op_coverage.md"
step check_nodes_compare "nodes|PASS|FAIL" "$build/demos/gradcheck" --compare "cpu,$dev"
# shellcheck disable=SC2317  # called through step
broken_fails() { ! "$build/demos/gradcheck" --compare "cpu,$dev" --broken; }
step check_nodes_broken "FAIL|fails" broken_fails
if [ -d "$data" ]; then
  step precision "bfloat16 autocast|difference" "$build/demos/precision" --device "$dev" --data "$data" --check --out "$logdir/precision"
  step mnist_2_epochs "final:" "$build/demos/mnist" --data "$data" --device "$dev" --epochs 2 --out "$logdir/mnist"
else
  step precision "bfloat16|float16" "$build/demos/precision" --device "$dev" --check --out "$logdir/precision"
  note mnist_2_epochs SKIP 0 "no MNIST folder at $data (--data DIR)"
fi
bench_args=()
[ "$device" = cuda_host ] && bench_args=(--quick)
step bench_cuda "ratio|GFLOP|GB/s" "$build/tests/bench/bench_cuda" --device "$device" "${bench_args[@]}"

# ---- summary ---------------------------------------------------------------------
{
  echo
  echo "GPU acceptance on $dev, $(( $(date +%s) - start )) s in all (logs in $logdir)"
  printf '%s\n' "${summary[@]}"
  echo "figures: $logdir/bench_cuda.log (bench), $logdir/check_nodes_compare.log (the compare table)"
} | tee "$logdir/summary.txt"
exit $failed
