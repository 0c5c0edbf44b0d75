#!/usr/bin/env bash
# The sanitizer runs of CI beyond build-asan (docs/fuzzing.md):
#
#   tests/sanitizers.sh fuzz [SECONDS]  # the loaders' libFuzzer targets under ASan+UBSan, SECONDS each (default 45)
#   tests/sanitizers.sh tsan            # the suite 'threads' under ThreadSanitizer
#   tests/sanitizers.sh all [SECONDS]   # both
#
# Each builds only what it needs in its own folder, kept between runs: build-fuzz
# (clang: the library sources the loaders use and the four targets) and
# build-tsan (GCC: the library and the four test programs of the suite 'threads').
# Any crash, leak, timeout, sanitizer report or failed test fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_TARGETS=(safetensors idx idx_gz csv)

fuzz() {  # fuzz SECONDS
  local seconds=${1:-45} dir=build-fuzz/tests/fuzz
  command -v clang++ >/dev/null || { echo "sanitizers.sh: the fuzzers need clang (Debian packages clang, libclang-rt-14-dev)" >&2; exit 1; }
  [ -f build-fuzz/build.ninja ] || CXX=clang++ meson setup build-fuzz -Dfuzz=enabled -Db_sanitize=address,undefined \
    -Db_lundef=false -Dbuildtype=debugoptimized -Dcuda=disabled -Demulation=disabled -Dlibtorch=disabled
  meson compile -C build-fuzz "${FUZZ_TARGETS[@]/#/tests/fuzz/fuzz_}" tests/fuzz/fuzz_seeds
  rm -rf "$dir/seeds"
  "$dir/fuzz_seeds" --write-seeds "$dir/seeds"
  mkdir -p "$dir/logs"
  export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  # two targets at a time, one per core; new inputs go to corpus/<target>, crash files to crashes/<target>/
  local failed=0 pids=() names=()
  run_one() {
    local t=$1
    mkdir -p "$dir/corpus/$t" "$dir/crashes/$t"
    "$dir/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -dict="tests/fuzz/${t%_gz}.dict" -artifact_prefix="$dir/crashes/$t/" \
      "$dir/corpus/$t" "$dir/seeds/$t" >"$dir/logs/$t.log" 2>&1
  }
  report() {  # report TARGET RC
    local execs
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/logs/$1.log" | grep -o '[0-9]*$' || echo "?")
    if [ "$2" -eq 0 ]; then
      echo "fuzz_$1: ok, $execs inputs in ${seconds}s, corpus $(ls "$dir/corpus/$1" | wc -l) files"
    else
      echo "fuzz_$1: FAILED (exit $2) after $execs inputs; crash files in $dir/crashes/$1/, log:" >&2
      tail -n 60 "$dir/logs/$1.log" >&2
      failed=1
    fi
  }
  for t in "${FUZZ_TARGETS[@]}"; do
    run_one "$t" &
    pids+=($!)
    names+=("$t")
    if [ ${#pids[@]} -eq 2 ]; then
      for i in 0 1; do
        local rc=0
        wait "${pids[$i]}" || rc=$?
        report "${names[$i]}" "$rc"
      done
      pids=()
      names=()
    fi
  done
  for i in "${!pids[@]}"; do
    local rc=0
    wait "${pids[$i]}" || rc=$?
    report "${names[$i]}" "$rc"
  done
  return "$failed"
}

tsan() {
  [ -f build-tsan/build.ninja ] || meson setup build-tsan -Db_sanitize=thread -Dbuildtype=debugoptimized \
    -Dcuda=disabled -Demulation=disabled -Dlibtorch=disabled
  meson compile -C build-tsan tests/test_threads tests/test_tensor tests/test_tape tests/test_data
  # two threads for the pool even on a one-core machine; any report fails the test
  TAPEGRAD_NUM_THREADS=2 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    meson test -C build-tsan --no-rebuild --suite threads --print-errorlogs
}

case "${1:-}" in
  fuzz) fuzz "${2:-45}" ;;
  tsan) tsan ;;
  all)
    fuzz "${2:-45}"
    tsan
    ;;
  *)
    echo "usage: tests/sanitizers.sh fuzz [SECONDS] | tsan | all [SECONDS]" >&2
    exit 2
    ;;
esac
