#!/bin/sh
# deps.sh - installs the Debian packages MiniChain builds and tests with,
# when any is missing.  Run it; it exits 0 when all are there.
#
# Usage: scripts/deps.sh [PACKAGE...]   (extra packages a script needs)
set -eu

# libraft-dev: examples/consensus-raft (raft.so, canonical's C Raft)
PACKAGES="gcc make cmake pkg-config libc6-dev
libuv1-dev libmsgpack-dev libsodium-dev libcjson-dev libleveldb-dev
libsqlite3-dev libcmocka-dev python3 python3-nacl python3-msgpack faketime
iproute2 procps nftables abigail-tools g++ libraft-dev $*"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "deps: missing packages:$missing; run as root or install them" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
