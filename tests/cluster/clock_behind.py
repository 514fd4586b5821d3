#!/usr/bin/python3
"""clock_behind.py - a validator whose clock is 10 minutes behind joins and
follows the chain.

Only proposals are judged by the local clock; a block that carries a
commit certificate commits whatever the clock says (docs/PROTOCOL.md §4).
Three validators of four commit under load; the fourth starts late with
its wall clock set 600 s back (libfaketime; its monotonic clock, which
drives timeouts, is left alone).  It must sync to the others, keep
following them, refuse no certified block for its timestamp, and not cycle
through its peers: the old node refused every block (MC_ETIME), dropped
the honest peer that sent it and reconnected about 700 times in 25 s
without leaving height 0.  At the end all four agree block for block.

    clock_behind.py --mchost PATH --mcli PATH --plugin-dir DIR
"""
import datetime
import os
import time

import cluster as cl
from cluster import check, wait

FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
BEHIND_S = 600
LEAD = 20        # blocks the others commit before it starts
FOLLOW_S = 15    # how long it must keep up afterwards
MAX_LAG = 5      # blocks it may trail by while following
MAX_CLOSES = 8   # connections it may see close in all that time


def log_time(event):
    return datetime.datetime.strptime(
        event["ts"][:19], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=datetime.timezone.utc).timestamp()


def run(args, tmp, made):
    check(os.path.exists(FAKETIME), f"{FAKETIME} is missing "
          "(Debian package faketime; scripts/deps.sh installs it)")
    c = made(cl.Cluster(args, tmp, chain_id="cluster-clock"))
    slow, others = c.nodes[3], c.nodes[:3]
    asan = os.environ.get("ASAN_OPTIONS", "")
    slow.env = {"LD_PRELOAD": FAKETIME, "FAKETIME": f"-{BEHIND_S}",
                "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                # ASan wants to be first; libfaketime only wraps time calls
                "ASAN_OPTIONS": (asan + ":" if asan else "") +
                                "verify_asan_link_order=0"}
    for n in others:
        n.start(wait=False)
    for n in others:
        n.wait_ready()
    load = cl.Load(c)
    wait(load, lambda: min(c.heights(others)) >= LEAD, 60,
         f"the three did not reach height {LEAD}")
    t0 = time.time()
    slow.start()
    started = slow.log_events("node_started")[-1]
    skew = time.time() - log_time(started)
    check(skew > BEHIND_S - 60, f"{slow.name}'s clock is only {skew:.0f} s "
          f"behind: libfaketime did not take")
    target = max(c.heights(others))
    wait(load, lambda: slow.height() >= target, 30,
         f"{slow.name} (clock {BEHIND_S} s behind) did not sync to {target}")
    synced_s = time.time() - t0
    end = time.time() + FOLLOW_S
    worst = 0
    while time.time() < end:
        load.step()
        worst = max(worst, max(c.heights(others)) - slow.height())
        time.sleep(0.2)
    check(worst <= MAX_LAG + 2, f"{slow.name} fell {worst} blocks behind "
          f"while following")
    refused = [e for e in slow.log_events("block_refused")
               if e.get("reason") == "ETIME"]
    check(not refused, f"{slow.name} refused {len(refused)} certified blocks "
          f"for their timestamp, e.g. {refused[:1]}")
    closes = slow.log_events("conn_closed")
    check(len(closes) <= MAX_CLOSES, f"{slow.name} saw {len(closes)} "
          f"connections close: {[e.get('reason') for e in closes[:10]]}")
    c.wait_quiet(c.nodes, 60)
    top, _, _, _ = c.check_chain()
    print(f"clock_behind: {slow.name} {skew:.0f} s behind synced to {target} "
          f"in {synced_s:.1f} s, trailed by at most {worst} blocks for "
          f"{FOLLOW_S} s, {len(closes)} connection(s) closed; all four agree "
          f"to height {top}")


if __name__ == "__main__":
    cl.main(run, "cluster-clock-behind")
