#!/usr/bin/python3
"""silent_flood.py - far more silent sockets than --max-conns.

Validators A and B of a 2-validator chain (both needed for every block),
each with --max-conns MAX_CONNS and --handshake-timeout-ms TIMEOUT_MS.
Silent sockets send nothing; partial ones (one in PARTIAL_EVERY) send a
frame header announcing 100 bytes and then one byte every half second.
The old node let 256 silent sockets lock out every client and peer: 0
commits in 20 s.

1. Held: HELD silent and partial sockets to A (fewer than the slots, 8
   per address) are each closed TIMEOUT_MS after they opened (within
   -0.2 s / +SLACK_S): the handshake deadline, not eviction.
2. Flood: FLOOD_PER_NODE sockets to each node (4x --max-conns, from 32
   addresses per node, 8 each: the per-address limit), every one the
   node closes reopened (up to REOPEN_PER_S a second in all).  Asserts,
   while it runs:
   - a new client (another address) that sends its request at once gets
     GET_STATUS answered within SERVE_S, every half second (connecting
     again if its connection is closed first: under this flood one is,
     now and then, and the test counts how often);
   - A keeps committing (at least MIN_RATIO of its rate before);
   - no flood socket stays open longer than TIMEOUT_MS + SLACK_S;
   - B, stopped (SIGTERM, exit 0) and started again on its data dir
     during the flood, is served its start-up GET_STATUS, reconnects to A
     (A logs `peer_connected` for validator 1) and the chain commits
     RECOVER_BLOCKS more blocks within RECOVER_S of B's start.
   - clients that wait 5 ms or 50 ms between connect and their first
     request are served (all of DELAYED): the node makes room by evicting
     an unproven connection of the address that holds the most of them,
     so the flood's addresses turn their own sockets over, not the
     client's.  (When it evicted the oldest unproven connection instead,
     a flood reopening this fast turned every slot over within a few
     milliseconds: about 2 of 5 clients waiting 50 ms were served, and
     none of 10 waiting 20 ms under an unthrottled flood.)
Every node exits 0.  Prints the figures and the reasons the nodes gave.

    silent_flood.py --mchost PATH --mcli PATH --plugin-dir DIR
"""
import errno
import select
import socket
import threading
import time

import net_helpers as nh
from net_helpers import check

MAX_CONNS = 64
TIMEOUT_MS = 2000
HELD = 40
FLOOD_PER_NODE = 256      # 4x --max-conns, per node
MIN_RATIO = 0.3
DELAYED = 5
REOPEN_PER_S = 2000       # the flood's pace: enough to turn every slot
                          # over many times a second, while leaving the
                          # 2-core test machine some CPU for the nodes
PARTIAL_EVERY = 4
SERVE_S = 2
SLACK_S = 1.5             # the node sweeps deadlines every 100 ms
RECOVER_S = 10
RECOVER_BLOCKS = 5


class Slot:
    """One flood socket, reopened whenever the node closes it."""

    def __init__(self, port, src, partial, reopen=True):
        self.port, self.src, self.partial = port, src, partial
        self.reopen = reopen
        self.sock = None
        self.lifetimes = []      # seconds each accepted socket lived
        self.refused = 0         # closed (or refused) within 0.3 s
        self.open()

    def open(self):
        s = socket.socket()
        s.setblocking(False)
        s.bind((self.src, 0))
        err = s.connect_ex(("127.0.0.1", self.port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            self.sock = None
            return
        self.sock, self.opened, self.sent = s, time.time(), 0
        self.last_byte = 0.0

    def age(self):
        return time.time() - self.opened if self.sock else 0.0

    def closed(self):
        """Records a close the node made (the flood reopens it)."""
        life = time.time() - self.opened
        if life < 0.3:
            self.refused += 1
        else:
            self.lifetimes.append(life)
        self.sock.close()
        self.sock = None

    def poke(self):
        """A partial slot sends its next byte when due."""
        if not (self.partial and self.sock) or \
                time.time() - self.last_byte < 0.5:
            return
        data = b"\x00\x00\x00\x64\x93" if self.sent == 0 else b"\x00"
        try:
            self.sock.send(data)
            self.sent += len(data)
            self.last_byte = time.time()
        except (BlockingIOError, OSError):
            pass  # not connected yet, or closed: read() will tell


class Flood(threading.Thread):
    """`per_node` slots to each of `nodes`, from 127.<base + k>.<j>.1,
    8 per address; each closed slot is reopened if `reopen`."""

    def __init__(self, nodes, base, per_node, reopen=True):
        super().__init__(daemon=True)
        self.slots = []
        for k, node in enumerate(nodes):
            for i in range(per_node):
                src = f"127.{base + k}.{i // 8 + 1}.1"
                self.slots.append(Slot(node.port, src,
                                       i % PARTIAL_EVERY == 0, reopen))
        self.stop = threading.Event()
        self.longest = 0.0       # the oldest a socket got while open
        self.opened = 0
        self.errors = []

    def run(self):
        try:
            budget, last = 0.0, time.time()
            while not self.stop.is_set():
                live = [s for s in self.slots if s.sock is not None]
                if not live and not self.slots[0].reopen:
                    return
                now = time.time()
                budget = min(budget + (now - last) * REOPEN_PER_S, 200)
                last = now
                for s in self.slots:
                    if s.sock is None and s.reopen and budget >= 1:
                        s.open()
                        budget -= 1
                        self.opened += 1
                    s.poke()
                r, _, _ = select.select([s.sock for s in live], [], [], 0.05)
                ready = set(r)
                for s in live:
                    if s.sock in ready:
                        try:
                            data = s.sock.recv(4096)
                        except OSError:
                            data = b""
                        if not data:
                            s.closed()
                    elif s.sock is not None:
                        self.longest = max(self.longest, s.age())
        except Exception as e:  # reported by the main thread
            self.errors.append(e)

    def lifetimes(self):
        return sorted(l for s in self.slots for l in s.lifetimes)

    def close(self):
        for s in self.slots:
            if s.sock is not None:
                s.sock.close()


def serve_checks(v, secs, stats):
    """GET_STATUS from a fresh address every half second for secs; a
    client whose connection is closed before the answer connects again,
    as any client would, within the SERVE_S it has."""
    end = time.time() + secs
    while time.time() < end:
        t0, tries = time.time(), 0
        while True:
            tries += 1
            left = t0 + SERVE_S - time.time()
            check(left > 0, f"{v.name}: a new client was not served "
                  f"GET_STATUS within {SERVE_S} s ({tries - 1} tries) "
                  f"during the flood")
            if nh.status_within(v.port, left, src="127.0.0.2") is not None:
                break
        stats["checks"] += 1
        stats["retried"] += tries > 1
        stats["worst"] = max(stats["worst"], time.time() - t0)
        time.sleep(0.5)


def held(a):
    """Phase 1: returns the lifetimes of HELD sockets to A."""
    f = Flood([a], 90, HELD, reopen=False)
    f.start()
    f.join(TIMEOUT_MS / 1000 + SLACK_S + 5)
    check(not f.errors, f"held sockets: {f.errors}")
    f.close()
    lives = f.lifetimes()
    lo, hi = TIMEOUT_MS / 1000 - 0.2, TIMEOUT_MS / 1000 + SLACK_S
    check(len(lives) == HELD, f"{HELD - len(lives)} of {HELD} held sockets "
          f"were not closed within {hi} s, or were refused at once")
    check(lo <= lives[0] and lives[-1] <= hi, f"held sockets lived "
          f"{lives[0]:.2f} .. {lives[-1]:.2f} s, handshake timeout "
          f"{TIMEOUT_MS} ms")
    return lives


def delayed_clients(v, delay):
    """How many of DELAYED clients that wait `delay` s between connect
    and GET_STATUS get an answer."""
    served = 0
    for _ in range(DELAYED):
        s = socket.socket()
        try:
            s.bind(("127.0.0.3", 0))
            s.settimeout(SERVE_S)
            s.connect(("127.0.0.1", v.port))
            time.sleep(delay)
            s.sendall(b"\x00\x00\x00\x02\x92\x12")   # [GET_STATUS, 0]
            served += len(s.recv(4)) == 4
        except OSError:
            pass
        finally:
            s.close()
    return served


def run(args, tmp, made):
    c = made(nh.NetCluster(args, tmp, n=2, senders=2, block_interval=100,
                           chain_id="net-silent-flood"))
    a, b = c.nodes
    for n in (a, b):
        n.extra_args = ["--max-conns", str(MAX_CONNS),
                        "--handshake-timeout-ms", str(TIMEOUT_MS)]
    c.start_all()
    t0 = time.time()
    nh.wait_for(lambda: min(c.heights()) >= 5, 20, "first blocks")
    lives = held(a)
    marks = {n.name: n.log_size() for n in (a, b)}
    base_rate = nh.commit_rate(a, 3)
    flood = Flood([a, b], 100, FLOOD_PER_NODE)
    flood.start()
    stats = {"checks": 0, "retried": 0, "worst": 0.0}
    time.sleep(TIMEOUT_MS / 1000)            # let the flood fill the slots
    h0 = a.height()
    fs = time.time()
    serve_checks(a, 2, stats)
    serve_checks(b, 2, stats)
    flood_rate = (a.height() - h0) / (time.time() - fs)
    check(flood_rate >= MIN_RATIO * base_rate, f"A committed "
          f"{flood_rate:.1f} blocks/s during the flood, {base_rate:.1f} "
          f"before")
    delayed = {d: delayed_clients(a, d) for d in (0.005, 0.05)}
    check(min(delayed.values()) == DELAYED, f"of {DELAYED} clients that "
          f"wait before their first request, {delayed} were served")

    b.stop()
    time.sleep(1)
    stalled = a.height()
    restart_mark = a.log_size()
    t_start = time.time()
    b.start()                 # its start-up GET_STATUS goes through the flood
    ready_s = time.time() - t_start
    nh.wait_for(lambda: a.height() >= stalled + RECOVER_BLOCKS, RECOVER_S,
                f"the chain did not commit {RECOVER_BLOCKS} blocks after "
                f"B restarted during the flood (A stuck near {stalled})")
    recover_s = time.time() - t_start
    check(nh.events(a, "peer_connected", restart_mark, validator=1),
          "A did not log peer_connected for B after its restart")
    serve_checks(a, 1, stats)
    check(not flood.errors, f"flood: {flood.errors}")
    longest = flood.longest
    flood.stop.set()
    flood.join(5)
    flood.close()
    flives = flood.lifetimes()
    refused = sum(s.refused for s in flood.slots)
    check(flives or refused, "the flood never got a socket closed")
    limit = TIMEOUT_MS / 1000 + SLACK_S
    check(longest <= limit, f"a flood socket stayed open {longest:.1f} s, "
          f"handshake timeout {TIMEOUT_MS} ms")
    reasons = {}
    for n in (a, b):
        for ev in ("conn_closed", "conn_refused"):
            for e in nh.events(n, ev, marks[n.name]):
                if e.get("peer", "").startswith("127.10"):
                    k = f"{ev}: {e.get('reason')}"
                    reasons[k] = reasons.get(k, 0) + 1
    c.stop_all()
    print(f"net/silent_flood: ok: (1) {HELD} held sockets closed after "
          f"{lives[0]:.2f} .. {lives[-1]:.2f} s (handshake timeout "
          f"{TIMEOUT_MS} ms); (2) {2 * FLOOD_PER_NODE} flood sockets "
          f"(--max-conns {MAX_CONNS}): {base_rate:.1f} blocks/s before, "
          f"{flood_rate:.1f} during; GET_STATUS served within "
          f"{stats['worst'] * 1000:.0f} ms, {stats['retried']} of "
          f"{stats['checks']} after a reconnect; clients served that wait "
          f"5 ms / 50 ms before their request: {delayed[0.005]} / "
          f"{delayed[0.05]} of {DELAYED}; B "
          f"restarted: ready in {ready_s:.2f} s, {RECOVER_BLOCKS} blocks "
          f"after {recover_s:.2f} s; flood sockets: {len(flives)} closed "
          f"after 0.3 s or more, {refused} sooner ({flood.opened} opened), "
          f"longest seen open "
          f"{longest:.2f} s; node reasons {reasons}; "
          f"{time.time() - t0:.1f} s")


if __name__ == "__main__":
    nh.main(run, "net-silent-flood")
