#!/bin/sh
# devnet.sh - sets up and runs a local devnet: builds MiniChain (installing
# what is missing), makes dev keys, a genesis and one data directory per
# validator under DIR, starts the validators, sends a stream of transfers
# and shows each committed block until Ctrl-C, which stops every node.
#
# Usage: scripts/devnet.sh [--nodes N] [--dir DIR] [--fresh] [--rate TPS] [--no-load]
#                           [--consensus poa.so|raft.so]
#   --nodes N   validators (default 4)
#   --dir DIR   where keys, genesis, data and logs live (default ./devnet)
#   --fresh     delete DIR first; otherwise an existing devnet in DIR with
#               the same number of nodes is resumed where it stopped
#   --rate TPS  transfers a second to send (default 300; see mcli load)
#   --no-load   do not send transfers
#   --consensus the engine: poa.so (default, BFT) or raft.so, the
#               crash-fault-tolerant example in examples/consensus-raft,
#               built here against the SDK installed into the build dir
#               (build/sdk-prefix -> build/devnet-raft/raft.so); a devnet
#               keeps the engine it was created with
# The keys are deterministic development keys (mcli keygen --seed): never
# use them for anything of value.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NODES=4
DIR="$PWD/devnet"
FRESH=0
LOAD=1
RATE=300
CONSENSUS=poa.so
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES=${2:?--nodes needs a number}; shift 2 ;;
    --dir) DIR=${2:?--dir needs a path}; shift 2 ;;
    --fresh) FRESH=1; shift ;;
    --no-load) LOAD=0; shift ;;
    --rate) RATE=${2:?--rate needs a number}; shift 2 ;;
    --consensus) CONSENSUS=${2:?--consensus needs poa.so or raft.so}; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "devnet.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$NODES" in
  ''|*[!0-9]*|0) echo "devnet.sh: --nodes must be a positive number" >&2; exit 2 ;;
esac
case "$CONSENSUS" in
  poa.so|raft.so) ;;
  *) echo "devnet.sh: --consensus must be poa.so or raft.so" >&2; exit 2 ;;
esac

"$ROOT/scripts/deps.sh"
BUILD="$ROOT/build"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target mchost mcli poa json >/dev/null
MCLI="$BUILD/tools/mcli"
MCHOST="$BUILD/host/mchost"
ENGINE=poa.so
if [ "$CONSENSUS" = raft.so ]; then
  # The example is built as a third party would: against the SDK installed
  # on its own (here into the build dir), never against the host's sources.
  cmake --install "$BUILD" --component sdk --prefix "$BUILD/sdk-prefix" >/dev/null
  cmake -S "$ROOT/examples/consensus-raft" -B "$BUILD/devnet-raft" \
    -DCMAKE_PREFIX_PATH="$BUILD/sdk-prefix" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD/devnet-raft" >/dev/null
  ENGINE="$BUILD/devnet-raft/raft.so"
fi
BASE_PORT=${MC_DEVNET_PORT:-7001}

if [ "$FRESH" -eq 1 ]; then rm -rf "$DIR"; fi
if [ -f "$DIR/genesis.json" ] && [ "$(cat "$DIR/nodes" 2>/dev/null)" != "$NODES" ]; then
  echo "devnet.sh: $DIR holds a devnet of $(cat "$DIR/nodes" 2>/dev/null || echo '?') nodes;" \
       "use --fresh to recreate it with $NODES" >&2
  exit 2
fi
if [ -f "$DIR/genesis.json" ] && [ "$(cat "$DIR/consensus" 2>/dev/null || echo poa.so)" != "$CONSENSUS" ]; then
  echo "devnet.sh: $DIR holds a devnet of $(cat "$DIR/consensus" 2>/dev/null || echo poa.so);" \
       "use --fresh to recreate it with $CONSENSUS" >&2
  exit 2
fi

if [ ! -f "$DIR/genesis.json" ]; then
  echo "devnet: creating $NODES-validator devnet in $DIR"
  mkdir -p "$DIR"
  vals=""
  allocs=""
  i=0
  while [ $i -lt "$NODES" ]; do
    pk=$("$MCLI" keygen --seed "validator-$i" --out "$DIR/validator-$i.key" 2>/dev/null)
    vals="$vals --validator $pk"
    i=$((i + 1))
  done
  for s in 0 1 2 3; do
    pk=$("$MCLI" keygen --seed "user-$s" --out "$DIR/user-$s.key" 2>/dev/null)
    allocs="$allocs --alloc $pk=1000000000"
  done
  # shellcheck disable=SC2086
  "$MCLI" genesis --chain-id minichain-devnet $vals $allocs --out "$DIR/genesis.json"
  echo "$NODES" > "$DIR/nodes"
  echo "$CONSENSUS" > "$DIR/consensus"
else
  echo "devnet: resuming the devnet in $DIR (use --fresh to start over)"
fi

PIDS=""
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "devnet: stopping"
  # shellcheck disable=SC2086
  [ -n "$PIDS" ] && kill -TERM $PIDS 2>/dev/null || true
  # shellcheck disable=SC2086
  [ -n "$PIDS" ] && wait $PIDS 2>/dev/null || true
  echo "devnet: stopped; logs and data are in $DIR"
  exit 0
}
trap stop_all INT TERM EXIT

i=0
while [ $i -lt "$NODES" ]; do
  port=$((BASE_PORT + i))
  peers=""
  j=0
  while [ $j -lt "$NODES" ]; do
    [ $j -ne $i ] && peers="$peers --peer 127.0.0.1:$((BASE_PORT + j))"
    j=$((j + 1))
  done
  # Each node's command is kept in DIR/node-N.sh, to start it again by hand.
  cat >"$DIR/node-$i.sh" <<CMD
#!/bin/sh
exec "$MCHOST" --consensus "$ENGINE" --store json.so --data-dir "$DIR/node-$i" \\
  --genesis "$DIR/genesis.json" --key "$DIR/validator-$i.key" \\
  --listen "127.0.0.1:$port" --name "node-$i"$peers "\$@" 2>>"$DIR/node-$i.log"
CMD
  chmod +x "$DIR/node-$i.sh"
  # Its keys were made with this devnet and have never signed anything:
  # say so on the first start (docs/CONSENSUS.md, "Signing without a
  # record"); from then on the node's saved state speaks for itself.
  first=""
  [ -d "$DIR/node-$i" ] || first="--new-validator"
  "$DIR/node-$i.sh" $first &
  PIDS="$PIDS $!"
  i=$((i + 1))
done
sleep 1
for pid in $PIDS; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "devnet: a node failed to start; the end of each log:" >&2
    for f in "$DIR"/node-*.log; do echo "== $f" >&2; tail -n 3 "$f" >&2; done
    exit 1
  fi
done
echo "devnet: $NODES $CONSENSUS node(s) on 127.0.0.1:$BASE_PORT..$((BASE_PORT + NODES - 1)); logs in $DIR/node-*.log"

if [ "$LOAD" -eq 1 ]; then
  nodes=""
  i=0
  while [ $i -lt "$NODES" ]; do
    nodes="$nodes --node 127.0.0.1:$((BASE_PORT + i))"
    i=$((i + 1))
  done
  # shellcheck disable=SC2086
  "$MCLI" load $nodes --key "$DIR/user-0.key" --key "$DIR/user-1.key" \
    --key "$DIR/user-2.key" --key "$DIR/user-3.key" --rate "$RATE" \
    >"$DIR/load.log" 2>&1 &
  PIDS="$PIDS $!"
fi

# In the background so that Ctrl-C reaches the trap at once.
"$MCLI" watch --node "127.0.0.1:$BASE_PORT" &
PIDS="$PIDS $!"
wait
