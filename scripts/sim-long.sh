#!/bin/sh
# sim-long.sh - the long consensus simulation: many more random fault
# schedules than ctest runs (tests/consensus/sim.c, docs/CONSENSUS.md).
# ctest's consensus/sim covers seeds 1..3000; this starts after them.
#
# Usage: scripts/sim-long.sh [--schedules N] [--first-seed S] [--n N]
#   --schedules N   schedules to run (default 50000: about 15 minutes on 2 cores)
#   --first-seed S  first seed (default 3001)
#   --n N           validators in every schedule (default: mixed 1/3/4/7)
# A failing seed is printed with the command that replays it.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCHEDULES=50000
FIRST=3001
NARG=""
while [ $# -gt 0 ]; do
  case "$1" in
    --schedules) SCHEDULES=${2:?}; shift 2 ;;
    --first-seed) FIRST=${2:?}; shift 2 ;;
    --n) NARG="--n ${2:?}"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "sim-long.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

"$ROOT/scripts/deps.sh"
BUILD="$ROOT/build"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target sim poa >/dev/null
# shellcheck disable=SC2086
exec "$BUILD/tests/consensus/sim" --plugin "$BUILD/plugins/poa.so" \
  --schedules "$SCHEDULES" --first-seed "$FIRST" --seconds 86400 $NARG
