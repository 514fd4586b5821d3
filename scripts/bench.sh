#!/bin/sh
# bench.sh - builds and runs the benchmarks under bench/, each of which
# prints its figures beside a ceiling measured in the same run.
#
# Usage: scripts/bench.sh
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/deps.sh"
BUILD="$ROOT/build"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target bench-chain >/dev/null
echo "== bench-chain"
"$BUILD/bench/bench-chain"
