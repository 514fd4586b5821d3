#!/bin/sh
# test.sh - the whole test suite: installs what is missing, builds MiniChain
# twice (a normal build and an AddressSanitizer+UBSan build) and runs ctest
# in each.  This is the README's test command and what .ci/run runs.
#
# Usage: scripts/test.sh [--no-sanitize]
#   --no-sanitize  skip the ASan+UBSan build (quicker, for local work)
# Environment: JOBS (parallel build jobs, default: number of CPUs).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SANITIZE=1
for a in "$@"; do
  case "$a" in
    --no-sanitize) SANITIZE=0 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown argument: $a" >&2; exit 2 ;;
  esac
done
JOBS=${JOBS:-$(nproc)}

"$ROOT/scripts/deps.sh"

run_suite() {
  dir=$1; shift
  echo "== build $dir ($*)"
  cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
  echo "== ctest $dir"
  (cd "$dir" && ctest --output-on-failure -j "$JOBS" --timeout 600)
}

run_suite "$ROOT/build" -DMC_SANITIZE=OFF
if [ "$SANITIZE" -eq 1 ]; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite "$ROOT/build-asan" -DMC_SANITIZE=ON
fi
echo "== all tests passed"
