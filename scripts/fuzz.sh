#!/bin/sh
# fuzz.sh - a fuzzing campaign with libFuzzer over the parsers of outside
# input (tests/fuzz/fuzz_<area>.c: proto, block, genesis, frame, handshake).
#
# Usage: scripts/fuzz.sh [--seconds N] [AREA...]
#   --seconds N  how long each target runs (default 60)
#   AREA         targets to run (default: all)
# Builds with clang into build-fuzz/ (ASan+UBSan+libFuzzer), starts from
# the saved corpus tests/fuzz/corpus/AREA/ and keeps what it finds new in
# build-fuzz/corpus/AREA/.  A crash is saved as build-fuzz/crash-AREA-*;
# once fixed, copy it into tests/fuzz/corpus/AREA/ so that ctest's
# fuzz/AREA replays it forever.  Exits 1 if any target crashed.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_EACH=60
AREAS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_EACH=${2:?--seconds needs a number}; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option: $1" >&2; exit 2 ;;
    *) AREAS="$AREAS $1"; shift ;;
  esac
done
[ -n "$AREAS" ] || AREAS="proto block genesis frame handshake"

"$ROOT/scripts/deps.sh" clang
B="$ROOT/build-fuzz"
CC=clang cmake -S "$ROOT" -B "$B" -DMC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
failed=0
for a in $AREAS; do
  cmake --build "$B" -j "$(nproc)" --target "fuzz-$a" >/dev/null
  mkdir -p "$B/corpus/$a"
  echo "== fuzz-$a for ${SECONDS_EACH}s"
  if ! "$B/tests/fuzz/fuzz-$a" -max_total_time="$SECONDS_EACH" -max_len=65536 \
       -artifact_prefix="$B/crash-$a-" -print_final_stats=1 \
       "$B/corpus/$a" "$ROOT/tests/fuzz/corpus/$a" 2>"$B/fuzz-$a.log"; then
    failed=1
    echo "fuzz-$a: CRASH; see $B/fuzz-$a.log and $B/crash-$a-*" >&2
  fi
  grep -E 'stat::number_of_executed_units|cov:' "$B/fuzz-$a.log" | tail -2
done
exit $failed
