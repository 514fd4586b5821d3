#!/usr/bin/python3
"""lying_observer.py - peers that claim height 2^40 do not stall catching up.

Validators A and B commit TARGET blocks (20 ms blocks).  Then an observer
node C (a key not in the genesis, an empty data dir) starts twice:
1. with --peer A alone: the time it takes to reach height H0 (A's height
   when the runs begin) gives the honest catch-up rate;
2. with a fresh data dir, --peer A and --peer to two python liars: L1
   claims height 2^40 in its WELCOME and every heartbeat and answers
   nothing; L2 claims the same and answers every GET_HEADERS and
   GET_BLOCKS with an empty list.  (PROTOCOL.md §2.5: a claimed height
   only says whom to ask; a peer that answers nothing although it claimed
   more is rested, an observer rested 5 times in a row is banned.)
Asserts: in run 2 C reaches H0 within EXTRA_S seconds more than run 1
took (same block count); then, for FOLLOW_S s, C's height never stands
still longer than STALL_S while A commits, and at the end C reaches A's
height of that moment within STALL_S; C logs `sync_peer_rested` or
`peer_banned` for each liar; the liars were asked (their silence was put
to the test); every node exits 0.  Prints both rates, C's longest stall
and its largest lag behind A.

A silent liar costs C up to a block request's timeout (5 s) each time it
is asked, since C applies blocks in height order (measured: stalls of 2
to 6 s at rests of 1, 2, 4, 8 s until the ban, then again after it):
the bounds allow that, and not a C that keeps waiting on the liar.

    lying_observer.py --mchost PATH --mcli PATH --plugin-dir DIR
"""
import socket
import threading
import time

import net_helpers as nh
import peer as pr
from net_helpers import check, cl

TARGET = 250          # blocks A and B commit before C starts
CLAIM = 1 << 40
EXTRA_S = 15          # run 2 may take this much longer than run 1
FOLLOW_S = 6
STALL_S = 12          # 3 s header + 5 s block timeouts in a row, and slack


class Liar(threading.Thread):
    """A python peer that C dials.  It takes every connection C opens (C
    redials after a ban), claims height 2^40, heartbeats every second and
    answers requests with nothing (`empty` False) or empty lists."""

    def __init__(self, g, name, empty):
        super().__init__(daemon=True)
        self.lsock = pr.listener()
        self.addr = nh.local_addr(self.lsock)
        self.key = cl.dev_key(f"net-liar-{name}")
        self.name = name
        self.g, self.empty = g, empty
        self.stop = threading.Event()
        self.sessions = 0
        self.asked = {pr.GET_HEADERS: 0, pr.GET_BLOCKS: 0}
        self.errors = []

    def on_request(self, p, msg):
        self.asked[msg[0]] += 1
        if self.empty:
            p.send([pr.HEADERS if msg[0] == pr.GET_HEADERS else pr.BLOCKS,
                    msg[1], []])

    def serve(self, p):
        p.on_request = self.on_request
        last = 0
        while not self.stop.is_set():
            if time.time() - last >= 1:
                last = time.time()
                p.heartbeat(CLAIM, pr.sha256(b"a head nobody has"))
            try:
                p.recv(0.2)
            except TimeoutError:
                pass

    def run(self):
        self.lsock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                sock, _ = self.lsock.accept()
            except socket.timeout:
                continue
            p = pr.Peer(sock, self.key, self.g, CLAIM,
                        pr.sha256(b"a head nobody has"))
            try:
                p.handshake_responder()
                self.sessions += 1
                self.serve(p)
            except (pr.Closed, OSError, TimeoutError):
                pass  # C closed it (a ban, say): wait for the next dial
            except Exception as e:  # reported by the main thread
                self.errors.append(e)
            finally:
                p.close()
        self.lsock.close()


def catch_up(c, name, peers, h0, bound):
    """Starts observer node `name` with `peers`; returns (node, seconds to
    reach h0)."""
    o = c.observer(name, peers)
    t0 = time.time()
    o.start()
    nh.wait_for(lambda: o.height() >= h0, bound,
                f"{name} did not reach {h0}", step=0.05)
    return o, time.time() - t0


def follow(a, o):
    """Watches o follow a for FOLLOW_S s; returns (longest stall in s,
    largest lag in blocks)."""
    end = time.time() + FOLLOW_S
    last_h, since = o.height(), time.time()
    stall = lag = 0
    while time.time() < end:
        ha, ho = a.height(), o.height()
        now = time.time()
        if ho > last_h:
            last_h, since = ho, now
        stall, lag = max(stall, now - since), max(lag, ha - ho)
        check(now - since <= STALL_S, f"{o.name} stood at {ho} for "
              f"{now - since:.1f} s while A went on to {ha}")
        time.sleep(0.1)
    target = a.height()
    nh.wait_for(lambda: o.height() >= target, STALL_S,
                f"{o.name} did not reach A's height {target}")
    return stall, lag


def run(args, tmp, made):
    c = made(nh.NetCluster(args, tmp, n=2, senders=2, block_interval=20,
                           chain_id="net-liar"))
    a = c.nodes[0]
    c.start_all()
    t_start = time.time()
    nh.wait_for(lambda: min(c.heights()) >= TARGET, 60,
                f"A and B did not commit {TARGET} blocks", step=0.2)
    g = a.status()["genesis_hash"]
    h0 = a.height()
    made_s = time.time() - t_start

    plain, secs1 = catch_up(c, "observer-plain", [a.addr], h0, 30)
    plain.stop()

    liars = [Liar(g, "silent", False), Liar(g, "empty", True)]
    for lr in liars:
        lr.start()
    try:
        lied, secs2 = catch_up(c, "observer-lied-to",
                               [a.addr] + [lr.addr for lr in liars], h0,
                               secs1 + EXTRA_S)
        stall, lag = follow(a, lied)
    finally:
        for lr in liars:
            lr.stop.set()
        for lr in liars:
            lr.join(5)
    for lr in liars:
        check(not lr.errors, f"liar: {lr.errors}")
        check(lr.sessions >= 1, f"C never completed a handshake with the "
              f"liar at {lr.addr}")
        check(sum(lr.asked.values()) >= 1, f"C never asked the liar at "
              f"{lr.addr} for anything")
    rate1, rate2 = h0 / secs1, h0 / secs2
    punished = {}
    for lr in liars:
        key = bytes(lr.key.verify_key).hex()
        got = [e for ev in ("sync_peer_rested", "peer_banned")
               for e in nh.events(lied, ev)
               if e.get("peer") == lr.addr or e.get("key") == key]
        check(got, f"C logged neither sync_peer_rested nor peer_banned for "
              f"the liar at {lr.addr}")
        punished[lr.name] = sorted({e["event"] for e in got})
    c.stop_all()
    print(f"net/lying_observer: ok: catch-up to {h0}: {rate1:.0f} blocks/s "
          f"({secs1:.2f} s) without liars, {rate2:.0f} blocks/s "
          f"({secs2:.2f} s) with them; following: longest stall "
          f"{stall:.1f} s, largest lag {lag} blocks; liars asked (type: "
          f"count) {[lr.asked for lr in liars]}, sessions "
          f"{[lr.sessions for lr in liars]}, punished {punished}; "
          f"{time.time() - t_start:.1f} s ({made_s:.1f} s to make the "
          f"chain)")


if __name__ == "__main__":
    nh.main(run, "net-lying-observer")
