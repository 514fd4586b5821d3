#!/bin/sh
# bench.sh - builds and runs the benchmarks under bench/, each of which
# prints its figures beside a ceiling measured in the same run.  Nothing
# here passes or fails: the figures are for reading (docs/PERFORMANCE.md).
#
# Usage: scripts/bench.sh [--json] [--full]
#                         [all|ceiling|chain|store|cluster|sync|pool]...
#   all       (the default) ceiling, chain and store, quick sizes
#   ceiling   bench-ceiling: ed25519 verify rate (one core, all cores) and
#             fsync latency in the bench directory
#   chain     bench-chain: mempool admission and block validation rates
#             beside the one-core verify rate
#   store     bench-store over every store plugin built (json, leveldb,
#             sqlite): append p50/p99, reopen, bytes on disk at 1000 and
#             10000 blocks, beside the fsync latency
#   cluster   bench/cluster.py: mchost nodes on loopback driven by
#             mcli load: committed tx/s and submit-to-commit p50/p90/p99
#             of 1 and 4 validators (json, leveldb), saturated and paced
#             at 25/50/90% of it, beside the verify rate (about 3.5 min)
#   sync      bench/cluster.py: a new observer catching up a chain of
#             200000 transfers, transfers/s beside the verify rate
#   pool      bench/cluster.py: RSS of a node holding 100000 pending
#             transfers, beside the 64 MiB target
#   --full    store also at 100000 blocks (minutes per store)
#   --json    every report as one JSON object line (progress on stderr)
#
# Environment: BENCH_STORE_BLOCKS (e.g. 1000,10000) and
# BENCH_STORE_MAX_SECONDS (cap per size, default 120) override the store
# sizes and cap; BENCH_STORE_TXS (default 10) the transfers per block.
#
# It builds in build-bench (RelWithDebInfo, tests off), apart from the test
# build, and writes store data under build-bench/bench-data (removed after
# each store).
#
# cluster, sync and pool need an mcli whose `load` is the pipelined one
# (--window, --json); BENCH_MCLI names another mcli than the build's.
# BENCH_CLUSTER_ARGS adds options to bench/cluster.py (see its --help):
# e.g. "--stores leveldb --validators 1 --duration 6".
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD="$ROOT/build-bench"
DATA="$BUILD/bench-data"

JSON=""
FULL=0
WHAT=""
for a in "$@"; do
  case "$a" in
  --json) JSON=--json ;;
  --full) FULL=1 ;;
  all | ceiling | chain | store | cluster | sync | pool) WHAT="$WHAT $a" ;;
  *)
    sed -n '6,29p' "$0" >&2
    exit 2
    ;;
  esac
done
[ -n "$WHAT" ] || WHAT=all
case " $WHAT " in *" all "*) WHAT="ceiling chain store" ;; esac

"$ROOT/scripts/deps.sh"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMC_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j "$(nproc)" >/dev/null
mkdir -p "$DATA"

# A heading goes to stderr under --json, so stdout stays JSON lines.
say() {
  if [ -n "$JSON" ]; then echo "$*" >&2; else echo "$*"; fi
}

for w in $WHAT; do
  case "$w" in
  ceiling)
    say "== bench-ceiling"
    "$BUILD/bench/bench-ceiling" --dir "$DATA" $JSON
    ;;
  chain)
    say "== bench-chain"
    "$BUILD/bench/bench-chain" $JSON
    ;;
  store)
    blocks=1000,10000
    [ "$FULL" -eq 1 ] && blocks=1000,10000,100000
    blocks=${BENCH_STORE_BLOCKS:-$blocks}
    stores=""
    for s in json leveldb sqlite; do
      [ -f "$BUILD/plugins/$s.so" ] && stores="$stores $BUILD/plugins/$s.so"
    done
    say "== bench-store ($blocks blocks)"
    # shellcheck disable=SC2086 # $stores and $JSON are word lists
    "$BUILD/bench/bench-store" --blocks "$blocks" --dir "$DATA" \
      --txs-per-block "${BENCH_STORE_TXS:-10}" \
      --max-seconds "${BENCH_STORE_MAX_SECONDS:-120}" $JSON $stores
    ;;
  cluster | sync | pool)
    mcli=${BENCH_MCLI:-$BUILD/tools/mcli}
    if ! "$mcli" load --help 2>&1 | grep -q -- --window; then
      echo "bench.sh: $mcli has the old one-at-a-time load; give a" \
        "pipelined one in BENCH_MCLI" >&2
      exit 2
    fi
    say "== bench/cluster.py $w"
    # shellcheck disable=SC2086 # $JSON and BENCH_CLUSTER_ARGS are word lists
    /usr/bin/python3 "$ROOT/bench/cluster.py" --mchost "$BUILD/host/mchost" \
      --mcli "$mcli" --plugin-dir "$BUILD/plugins" \
      --ceiling "$BUILD/bench/bench-ceiling" --dir "$DATA" $JSON \
      ${BENCH_CLUSTER_ARGS:-} "$w"
    ;;
  esac
done
