#!/usr/bin/env bash
# Redraws the pictures of docs/tutorial.md into docs/img/: builds the demos that
# draw them, runs each with small, fast settings into a temporary folder, and
# copies each picture here under the name the tutorial uses. Pictures over
# 100 KB are shrunk with pngquant (Debian package pngquant) when it is there.
#
#   docs/img/regenerate.sh [--build DIR] [--data DIR] [-j N]
#
#   --build DIR  the Meson build folder (default: build; configure it first, e.g.
#                meson setup build -Dcuda=disabled)
#   --data DIR   the MNIST folder (default: $TAPEGRAD_MNIST_DIR). Without it the
#                MNIST pictures (gradient_check, augmentation, lr_schedule,
#                mnist_curves) are skipped, with a message, and the committed
#                ones stay.
#   -j N         build jobs (default: Meson's)
#
# Needs gnuplot (gnuplot-nox). About half a minute of running on one core once
# the demos are built. Not redrawn here: the graph pictures of
# docs/graph-dumps.md (build/demos/graph_dump), and batchnorm*.png and
# cnn_filters.png of docs/cnn.md, which come from the demos' full runs.
set -euo pipefail
cd "$(dirname "$0")/../.."

build=build
data=${TAPEGRAD_MNIST_DIR:-}
jobs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    -j) jobs=(-j "$2"); shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "regenerate.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ ! -f "$build/build.ninja" ]; then
  echo "regenerate.sh: no Meson build in $build/ (meson setup $build -Dcuda=disabled, or --build DIR)" >&2
  exit 2
fi
if ! command -v gnuplot > /dev/null; then
  echo "regenerate.sh: gnuplot is not installed (Debian package gnuplot-nox); nothing to draw" >&2
  exit 1
fi
have_mnist=0
if [ -n "$data" ] && [ -d "$data" ]; then
  have_mnist=1
  echo "MNIST from $data"
else
  echo "no MNIST folder (--data DIR or TAPEGRAD_MNIST_DIR${data:+; $data is not a folder}):" \
       "gradient_check.png, augmentation.png, lr_schedule.png and mnist_curves.png are skipped and keep their committed versions"
fi

demos=(xor activations losses numerical_diff gradient_descent spiral init_compare preprocessing csv precision)
[ "$have_mnist" = 1 ] && demos+=(gradient_check augmentation lr_schedule mnist)
targets=()
for d in "${demos[@]}"; do targets+=("demos/$d"); done
meson compile -C "$build" "${jobs[@]}" "${targets[@]}" > /dev/null

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
img=docs/img
failed=0

# draw DEMO PICTURE_IN_OUT NAME_IN_DOCS [ARGS...]: runs the demo (once per DEMO) and copies one picture
draw() {
  local demo=$1 picture=$2 name=$3
  shift 3
  if [ ! -d "$tmp/$demo" ]; then
    if ! "$build/demos/$demo" "$@" --out "$tmp/$demo" > "$tmp/$demo.log" 2>&1; then
      echo "FAIL $demo $*: exit status not 0; its output:"
      sed 's/^/    /' "$tmp/$demo.log"
      failed=1
      return
    fi
  fi
  if [ ! -f "$tmp/$demo/$picture" ]; then
    echo "FAIL $demo did not draw $picture"
    failed=1
    return
  fi
  cp "$tmp/$demo/$picture" "$img/$name"
  local size
  size=$(stat -c %s "$img/$name")
  if [ "$size" -gt 100000 ] && command -v pngquant > /dev/null; then
    pngquant --force --skip-if-larger --quality 70-95 --output "$img/$name" "$img/$name" || true
  fi
  size=$(stat -c %s "$img/$name")
  echo "$img/$name  $((size / 1024)) KB  ($demo $*)"
  [ "$size" -le 100000 ] || echo "  note: over 100 KB (pngquant, Debian package pngquant, would shrink it)"
}

draw xor xor.png xor.png
draw activations activations.png activations.png
draw losses losses.png losses.png
draw numerical_diff numerical_diff.png numerical_diff.png
draw gradient_descent gradient_descent.png gradient_descent.png
draw spiral loss_curve.png spiral_loss_curve.png --epochs 1000
draw spiral decision_boundary.png spiral_decision_boundary.png --epochs 1000
draw init_compare init_compare.png init_compare.png
draw preprocessing preprocessing.png preprocessing.png --points 500
draw csv csv.png csv.png
draw precision precision.png precision.png --device cpu
if [ "$have_mnist" = 1 ]; then
  draw gradient_check gradient_check.png gradient_check.png --data "$data" --images 3
  draw augmentation augmentation.png augmentation.png --data "$data" --images 8
  draw lr_schedule lr_schedule.png lr_schedule.png --data "$data" --limit 5000 --epochs 5
  draw mnist curves_book.png mnist_curves.png --data "$data" --config book --limit 10000 --epochs 10
fi
exit "$failed"
