#!/usr/bin/python3
"""slow_frames.py - big frames announced and sent slowly.

One validator V with --net-memory-bytes BUDGET (64 MiB).
(i)  STRANGERS connections, each from its own loopback address, send as
     their first frame only a header announcing 8 MiB.  A connection that
     has not finished a handshake may send at most 64 KiB per frame
     (PROTOCOL.md §1), so each must be closed at once, before the node
     buffers anything of it: every one is closed within CLOSE_S and the
     node's peak RSS hardly moves (SMALL_GROWTH).
(ii) OBSERVERS observers (handshakes completed, each from its own
     address) each announce an encrypted frame of 8 MiB (+16, the tag:
     the most an authenticated peer may send) and send it in CHUNK pieces
     every GAP seconds, never the last byte.  Together they would hold
     OBSERVERS x 8 MiB = 128 MiB; the budget allows 64 MiB.  Asserts: the
     peak RSS grows by at most BUDGET + SLACK; the node closes some of
     them with "connection memory budget exhausted"; a client is served
     GET_STATUS within SERVE_S throughout; V keeps committing; V exits 0.
Prints the figures.  (Checked the other way: `--node-budget 1073741824`
starts the node with a 1 GiB budget while the checks keep 64 MiB.)

    slow_frames.py --mchost PATH --mcli PATH --plugin-dir DIR
                   [--node-budget N]
"""
import sys
import threading
import time

import net_helpers as nh
import peer as pr
from net_helpers import check, cl, mib, MiB, KiB

STRANGERS = 100
CLOSE_S = 2
SMALL_GROWTH = 8 * MiB
OBSERVERS = 16
BUDGET = 64 * MiB
FRAME = pr.MAX_FRAME + pr.TAG
CHUNK = 256 * KiB
GAP = 0.05            # about 5 MiB/s per observer: all sent in ~2 s
SERVE_S = 2


def announce_big(v):
    """(i): returns (closed, seconds of the slowest close, reasons)."""
    mark = v.log_size()
    hwm0 = nh.mem(v)[1]
    socks = []
    for i in range(STRANGERS):
        s = pr.connect("127.0.0.1", v.port, src=f"127.0.2.{i + 1}")
        # 8 MiB: what an authenticated peer may send, 128 times what a
        # connection without a handshake may.
        s.sendall(pr.MAX_FRAME.to_bytes(4, "big") + bytes(1000))
        socks.append((s, time.time()))
    closed, slowest = 0, 0.0
    for s, t in socks:
        if pr.wait_closed(s, max(0.1, t + CLOSE_S - time.time())):
            closed += 1
            slowest = max(slowest, time.time() - t)
        s.close()
    growth = nh.mem(v)[1] - hwm0
    reasons = {}
    for e in nh.events(v, "conn_closed", mark):
        if e.get("peer", "").startswith("127.0.2."):
            reasons[e.get("reason")] = reasons.get(e.get("reason"), 0) + 1
    check(closed == STRANGERS, f"{STRANGERS - closed} of {STRANGERS} "
          f"connections announcing {pr.MAX_FRAME} bytes were open after "
          f"{CLOSE_S} s")
    check(growth <= SMALL_GROWTH, f"VmHWM grew {mib(growth)} with "
          f"{STRANGERS} frames announced")
    return slowest, growth, reasons


class Slow(threading.Thread):
    """An observer that announces an 8 MiB frame and dribbles it."""

    def __init__(self, v, g, i):
        super().__init__(daemon=True)
        self.p = pr.Peer.dial("127.0.0.1", v.port,
                              cl.dev_key(f"net-slow-{i}"), g,
                              src=f"127.0.3.{i + 1}")
        self.addr = nh.local_addr(self.p.sock)
        self.sent = 0
        self.closed = False

    def run(self):
        self.p.announce(FRAME)
        body = bytes(CHUNK)
        try:
            while self.sent + CHUNK < FRAME - 4:   # never the last bytes
                self.p.dribble(body, chunk=CHUNK, gap=GAP)
                self.sent += CHUNK
        except (pr.Closed, OSError):
            self.closed = True


def slow_observers(v, g, budget, slack):
    """(ii): returns figures for the report."""
    mark = v.log_size()
    rss0, hwm0 = nh.mem(v)
    h0 = v.height()
    slow = [Slow(v, g, i) for i in range(OBSERVERS)]
    start = time.time()
    for s in slow:
        s.start()
    worst = 0.0
    while any(s.is_alive() for s in slow) or time.time() - start < 4:
        t = nh.status_within(v.port, SERVE_S, src="127.0.0.2")
        check(t is not None, f"a client was not served GET_STATUS within "
              f"{SERVE_S} s while observers sent slow frames")
        worst = max(worst, t)
        check(time.time() - start < 30, "the slow observers never ended")
        time.sleep(0.2)
    rss1, hwm1 = nh.mem(v)
    for s in slow:
        s.join(5)
    growth = hwm1 - hwm0
    reasons = {}
    for e in nh.events(v, "conn_closed", mark):
        if e.get("peer", "").startswith("127.0.3."):
            reasons[e.get("reason")] = reasons.get(e.get("reason"), 0) + 1
    sent = sum(s.sent for s in slow)
    for s in slow:
        s.p.close()
    check(growth <= budget + slack, f"VmHWM grew {mib(growth)} with "
          f"{OBSERVERS} slow 8 MiB frames, budget {mib(budget)} + slack "
          f"{mib(slack)}")
    check(reasons.get("connection memory budget exhausted", 0) >= 1,
          f"no slow observer was closed for the memory budget: {reasons}")
    check(v.height() > h0, "V stopped committing")
    return rss0, rss1, hwm0, hwm1, sent, reasons, worst


def run(args, tmp, made):
    budget = BUDGET
    c = made(nh.NetCluster(args, tmp, n=1, senders=2, block_interval=100,
                           chain_id="net-slow-frames"))
    if c.asan:
        nh.small_quarantine()
    slack = (32 if c.asan else 16) * MiB
    v = c.nodes[0]
    v.extra_args = ["--net-memory-bytes", str(OPTS["node_budget"])]
    v.start()
    t0 = time.time()
    g = v.status()["genesis_hash"]
    slowest, g1, r1 = announce_big(v)
    print(f"net/slow_frames: (i) {STRANGERS} connections announcing "
          f"{pr.MAX_FRAME} bytes first: all closed, slowest after "
          f"{slowest * 1000:.0f} ms, VmHWM +{mib(g1)}; reasons {r1}")
    rss0, rss1, hwm0, hwm1, sent, r2, worst = slow_observers(v, g, budget,
                                                              slack)
    print(f"net/slow_frames: (ii) {OBSERVERS} observers dribbling 8 MiB "
          f"frames ({mib(sent)} sent), budget {mib(budget)}: VmRSS "
          f"{mib(rss0)} -> {mib(rss1)}, VmHWM {mib(hwm0)} -> {mib(hwm1)} "
          f"(+{mib(hwm1 - hwm0)}, bound {mib(budget + slack)}); closed: "
          f"{r2}; slowest GET_STATUS {worst * 1000:.0f} ms")
    c.stop_all()
    print(f"net/slow_frames: ok: {time.time() - t0:.1f} s")


OPTS = {"node_budget": BUDGET}

if __name__ == "__main__":
    # --node-budget N gives the node another --net-memory-bytes while the
    # checks keep BUDGET: to see them trip on a node without the limit.
    if "--node-budget" in sys.argv:
        i = sys.argv.index("--node-budget")
        OPTS["node_budget"] = int(sys.argv[i + 1])
        del sys.argv[i:i + 2]
    nh.main(run, "net-slow-frames")
