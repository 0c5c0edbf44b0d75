#!/bin/sh
# Runs a dist test under mpirun (tests/meson.build, suite dist):
#   dist_test.sh pass NP PROGRAM [ARGS...]          must exit 0 (77, from the program: skipped)
#   dist_test.sh fail:PATTERN NP PROGRAM [ARGS...]  must fail within 30 s, printing PATTERN
# Exit 77 (skipped) without mpirun or in a build without MPI (MPI=no in the environment).
mode=$1 np=$2
shift 2
command -v mpirun >/dev/null 2>&1 || { echo "mpirun not found: install openmpi-bin (skipped)"; exit 77; }
[ "${MPI:-yes}" = yes ] || { echo "built without MPI (-Ddist): skipped"; exit 77; }
# In containers (Docker's default seccomp profile) Open MPI's shared-memory transport fails in its
# single-copy (CMA) mode; plain copies work everywhere and cost nothing at these sizes.
export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"
root=""
[ "$(id -u)" = 0 ] && root=--allow-run-as-root
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$(date +%s)
# one thread per rank: the ranks share the machine's cores
pass_timeout=""
[ -n "${TAPEGRAD_DIST_TIMEOUT:-}" ] && pass_timeout="-x TAPEGRAD_DIST_TIMEOUT"
TAPEGRAD_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 timeout 120 mpirun $root --oversubscribe --bind-to none \
  -np "$np" -x TAPEGRAD_NUM_THREADS -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS $pass_timeout "$@" >"$out" 2>&1
rc=$?
elapsed=$(( $(date +%s) - start ))
cat "$out"
echo "exit status $rc after ${elapsed}s"
case $mode in
  pass) [ $rc -eq 77 ] && exit 77; [ $rc -eq 0 ] ;;
  fail:*)
    pattern=${mode#fail:}
    [ $rc -ne 0 ] || { echo "FAIL: the job should have failed"; exit 1; }
    [ $rc -ne 124 ] && [ "$elapsed" -le 30 ] || { echo "FAIL: the job hung (${elapsed}s)"; exit 1; }
    grep -q -- "$pattern" "$out" || { echo "FAIL: no '$pattern' in the output"; exit 1; }
    echo "failed as expected, in ${elapsed}s" ;;
esac
