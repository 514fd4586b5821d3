#!/usr/bin/python3
"""disk_full.py - a node whose disk is full pauses sync and resumes when
space returns, without blaming or cycling its peers.

Four validators on loopback; node-3 keeps its data directory on a small
tmpfs the test mounts.  node-3 is stopped while the others commit
LAG blocks, its tmpfs is filled to the last byte, and it is started again:
every block it fetches then fails to store (a local error, no peer's
fault), so sync must pause with a growing delay (`sync_paused`), keep its
sessions and punish nobody.  The old node refused the blocks, dropped the
peer that sent them and reconnected in a loop (over 300 times in 25 s).
After FULL_S the filler is deleted: node-3 must log `sync_resumed`, catch
up and follow.  At the end all four agree block for block.

Needs root (mount); elsewhere it exits 77, which ctest reports as a skip.

    disk_full.py --mchost PATH --mcli PATH --plugin-dir DIR
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))

import cluster as cl  # noqa: E402  (path set just above)
from cluster import check, wait  # noqa: E402

SKIP = 77
LAG = 30
FULL_S = 10
MAX_CLOSES = 6   # connections that may close while the disk is full
TMPFS_SIZE = "16m"


def fill(path):
    """Writes `path` until the file system has no byte left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for size in (1 << 16, 4096, 1):
        while True:
            try:
                os.write(fd, b"\0" * size)
            except OSError:
                break
    os.close(fd)


def mount_tmpfs(path):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}",
                        "tmpfs", path], capture_output=True, text=True)
    return r.returncode == 0, r.stderr.strip()


def run(args, tmp, made):
    c = made(cl.Cluster(args, tmp, chain_id="cluster-disk"))
    full = c.nodes[3]
    disk = c.path("disk")
    ok, why = mount_tmpfs(disk)
    if not ok:
        print(f"disk_full: SKIP: cannot mount a tmpfs: {why}")
        sys.exit(SKIP)
    full.data = os.path.join(disk, full.name)
    try:
        scenario(c, full)
    finally:
        c.shutdown()
        subprocess.run(["umount", "-l", disk], capture_output=True)


def scenario(c, full):
    c.start_all()
    load = cl.Load(c)
    others = c.nodes[:3]
    wait(load, lambda: min(c.heights()) >= 5, 30, "first blocks")
    full.stop()
    stopped_at = max(c.heights(others))
    wait(load, lambda: min(c.heights(others)) >= stopped_at + LAG, 60,
         f"the other three did not commit {LAG} blocks")
    filler = os.path.join(os.path.dirname(full.data), "filler")
    st = os.statvfs(filler.rsplit("/", 1)[0])
    print(f"disk_full: tmpfs has {st.f_bavail * st.f_frsize} bytes free, "
          f"data dir {sorted(os.listdir(full.data))}")
    fill(filler)
    mark = full.log_size()
    full.start()
    cl.run_for(load, FULL_S)
    h_full = full.height()
    check(h_full < min(c.heights(others)) - 5, f"{full.name} reached "
          f"{h_full} with a full disk: the disk was not full")
    paused = full.log_events("sync_paused", mark)
    check(paused, f"{full.name} did not log sync_paused with a full disk")
    closes = full.log_events("conn_closed", mark)
    check(len(closes) <= MAX_CLOSES, f"{full.name} saw {len(closes)} "
          f"connections close with a full disk: "
          f"{[e.get('reason') for e in closes[:10]]}")
    blamed = (full.log_events("peer_banned", mark) +
              full.log_events("peer_misbehaved", mark))
    check(not blamed, f"{full.name} blamed a peer for its own disk: "
          f"{blamed[:2]}")
    delays = [e["retry_ms"] for e in paused]
    check(delays == sorted(delays), f"sync retry delays did not grow: "
          f"{delays}")
    os.unlink(filler)
    target = max(c.heights(others))
    wait(load, lambda: full.height() >= target, 60,
         f"{full.name} did not catch up to {target} after space returned")
    check(full.log_events("sync_resumed", mark),
          f"{full.name} did not log sync_resumed")
    c.wait_quiet(c.nodes, 60)
    top, _, _, _ = c.check_chain()
    print(f"disk_full: {full.name} paused {len(paused)} times "
          f"(retry delays {delays[:6]} ms), {len(closes)} connection(s) "
          f"closed while full; caught up to {target} after space returned; "
          f"all four agree to height {top}")


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("disk_full: SKIP: needs root to mount a tmpfs")
        sys.exit(SKIP)
    cl.main(run, "fault-disk-full")
