#!/usr/bin/python3
"""observer_no_read.py - observers that stop reading while gossip flows.

A one-validator chain V (100 ms blocks) with --max-frame-bytes 64 KiB
(which made the old node's per-connection queue limit 4 frames = 256 KiB,
so gossip alone reached it in seconds).  Connected to V, all from their
own loopback addresses and with a 2 KiB receive buffer (so the node's
queue, not our kernel, holds what they do not read):
- STALLED observers: complete the handshake, never read again, but send a
  HEARTBEAT every round for the first STALL_S seconds (so the node keeps
  them and keeps gossiping to them), then fall silent;
- MUTE observers: never read or send anything after AUTH;
- a REQUESTER: never reads, sends heartbeats, and pipelines GET_BLOCKS;
- an honest observer H that reads everything.
A client submits bursts of transfers, which V gossips as TX to every
session.  The old node closed a session whose queue was full from inside
its walk over sessions and went on walking through the freed one:
heap-use-after-free under ASan (reproduced with this traffic against the
commit before the peer-link rework; the old node speaks handshake v1, so
this script cannot be run against it as it is).

Asserts: V stays up and keeps committing (every burst admitted, blocks
full), H receives gossip throughout, every non-reading observer is
closed within DROP_S (reason logged: silent, queue full, ...), V exits 0
on SIGTERM, and its log has no sanitizer report.

    observer_no_read.py --mchost PATH --mcli PATH --plugin-dir DIR
"""
import threading
import time

import net_helpers as nh
import peer as pr
from net_helpers import check, cl

STALLED, MUTE = 4, 2
STALL_S = 6          # stalled observers heartbeat this long, then go quiet
DROP_S = 30          # each non-reader is closed this soon after the start
PER_SENDER = 100     # transfers per sender per burst (40 senders)
RCVBUF = 2048


class Honest(threading.Thread):
    """An observer that reads everything and heartbeats twice a second."""

    def __init__(self, p):
        super().__init__(daemon=True)
        self.p, self.stop, self.error = p, threading.Event(), None

    def run(self):
        last = 0
        try:
            while not self.stop.is_set():
                if time.time() - last > 0.5:
                    last = time.time()
                    self.p.heartbeat()
                try:
                    self.p.recv(0.2)
                except TimeoutError:
                    pass
        except Exception as e:  # checked by the main thread
            self.error = e


def run(args, tmp, made):
    c = made(nh.NetCluster(args, tmp, n=1, senders=40, block_interval=100,
                           max_txs=200, chain_id="net-no-read"))
    v = c.nodes[0]
    v.extra_args = ["--max-frame-bytes", "65536"]
    v.start()
    t0 = time.time()
    g = v.status()["genesis_hash"]
    mark = v.log_size()

    def observer(i, name):
        return pr.Peer.dial("127.0.0.1", v.port, cl.dev_key(name), g,
                            src=f"127.0.0.{20 + i}", rcvbuf=RCVBUF)

    stalled = [observer(i, f"net-stalled-{i}") for i in range(STALLED)]
    mute = [observer(STALLED + i, f"net-mute-{i}") for i in range(MUTE)]
    requester = observer(STALLED + MUTE, "net-requester")
    honest = Honest(pr.Peer.dial("127.0.0.1", v.port, cl.dev_key("net-h"),
                                 g))
    honest.start()
    addrs = {nh.local_addr(p.sock): name for p, name in
             [(p, f"stalled-{i}") for i, p in enumerate(stalled)] +
             [(p, f"mute-{i}") for i, p in enumerate(mute)] +
             [(requester, "requester")]}
    start = time.time()
    burst = nh.Burst(c)
    h0 = v.height()
    bursts, closed = 0, {}

    def talk(p, requests=0):
        try:
            p.heartbeat()
            for _ in range(requests):
                p.request(pr.GET_BLOCKS, 1, 64)
        except OSError:
            pass  # the node closed it; the log says why

    while time.time() - start < DROP_S:
        check(v.running(), f"V died (exit {v.proc.poll()})")
        n = burst.submit(v, PER_SENDER)
        check(n == PER_SENDER * len(c.senders), f"burst {bursts}: V "
              f"admitted {n} of {PER_SENDER * len(c.senders)} "
              f"({burst.refused})")
        bursts += 1
        talk(requester, 20)
        if time.time() - start < STALL_S:
            for p in stalled:
                talk(p)
        check(honest.error is None, f"honest observer: {honest.error}")
        for e in nh.events(v, "conn_closed", mark):
            if e.get("peer") in addrs:
                closed.setdefault(addrs[e["peer"]], (e.get("reason"),
                                  round(time.time() - start, 1)))
        if len(closed) == len(addrs):
            break
        nh.wait_for(lambda: v.status()["mempool_ready"] < 1000, 20,
                    "V did not drain its mempool")
    check(len(closed) == len(addrs), f"not closed within {DROP_S} s: "
          f"{sorted(set(addrs.values()) - set(closed))}")
    gossip = len(honest.p.txs)
    check(gossip >= burst.admitted // 2, f"the honest observer got "
          f"{gossip} TX of {burst.admitted} admitted")
    height = c.wait_quiet([v], 30)
    check(height - h0 >= 10, f"V committed {height - h0} blocks")
    honest.stop.set()
    honest.join(5)
    check(honest.error is None, f"honest observer: {honest.error}")
    check(not nh.events(v, "conn_closed", mark,
                        peer=nh.local_addr(honest.p.sock)),
          "V closed the honest observer")
    c.stop_all()
    reasons = ", ".join(f"{k} {r} at {t} s"
                        for k, (r, t) in sorted(closed.items()))
    print(f"net/observer_no_read: ok: {burst.admitted} transfers in {bursts} "
          f"bursts, {height - h0} blocks, honest observer got {gossip} TX; "
          f"closed: {reasons}; {time.time() - t0:.1f} s")


if __name__ == "__main__":
    nh.main(run, "net-observer-no-read")
