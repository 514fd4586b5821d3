#!/usr/bin/python3
"""client_no_read.py - clients that pipeline requests and never read.

A one-validator chain V whose blocks are filled first (500 transfers, so
a GET_BLOCK answer is ~77 KB).  Then, twice (1 client, then 20 clients,
each from its own loopback address so the per-address limit of 8 is not
what stops them), the clients send GET_BLOCK of the biggest block and
GET_TX of one of its transfers as fast as the node takes them, and never
read an answer, for FLOOD_S seconds.  Meanwhile another client, from
another address, asks GET_STATUS and GET_BLOCK every half second.

The node's bounds (--help, net.h): a connection's send queue stops being
read above 256 KiB, so it can hold at most that plus the one answer that
took it over (here the big block's); all non-validator connections
together hold at most --net-memory-bytes (256 MiB by default).
docs/OPERATIONS.md gives neither figure.  The old node queued up to four
frames' worth (32 MiB) per connection.

Asserts, for each round: the growth of VmHWM (the peak RSS) over the
round stays under n x (256 KiB + the largest answer) + SLACK; the
flooders got at least MIN_SENT bytes of requests into the node (the
limit was reached, not dodged); every status request is answered within
SERVE_S; V keeps committing; V exits 0.  Prints VmRSS and VmHWM before
and after, and what the kernel holds in the node's send buffers (which no
node-side limit counts).

    client_no_read.py --mchost PATH --mcli PATH --plugin-dir DIR
"""
import threading
import time

import net_helpers as nh
import peer as pr
from net_helpers import check, cl, mib, MiB, KiB

FLOOD_S = 10
HIGH_WATER = 256 * KiB
SERVE_S = 2
MIN_SENT = 256 * KiB   # per round, all flooders together


class Flooder(threading.Thread):
    """One client that writes pipelined requests and never reads."""

    def __init__(self, port, src, chunk):
        super().__init__(daemon=True)
        self.sock = pr.connect("127.0.0.1", port, src=src)
        self.sock.setblocking(False)
        self.chunk = chunk
        self.sent = 0
        self.closed = False
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.sent += self.sock.send(self.chunk)
            except BlockingIOError:
                time.sleep(0.02)   # the node stopped reading: wait
            except OSError:
                self.closed = True
                return


def big_block(v):
    """(height, answer size, a txid) of the block with the most txs."""
    top = v.height()
    got = v.client().batch([(cl.GET_BLOCK, h) for h in range(1, top + 1)],
                           want=cl.BLOCK)
    i = max(range(len(got)), key=lambda k: len(got[k][0][2]))
    b = got[i][0]
    return i + 1, len(pr.pack([cl.BLOCK, 1, b])), pr.txid(b[2][0])


def flood_round(v, n, height, answer, txid, slack):
    req = (pr.frame(pr.pack([cl.GET_BLOCK, 1, height])) +
           pr.frame(pr.pack([cl.GET_TX, 2, txid])))
    chunk = req * 1000
    rss0, hwm0 = nh.mem(v)
    h0 = v.height()
    flooders = [Flooder(v.port, f"127.0.1.{i + 1}", chunk) for i in range(n)]
    for f in flooders:
        f.start()
    served, worst = 0, 0.0
    kernel = 0
    start = time.time()
    while time.time() - start < FLOOD_S:
        t = nh.status_within(v.port, SERVE_S, src="127.0.0.2")
        check(t is not None, f"{n} flooders: a client was not served "
              f"GET_STATUS within {SERVE_S} s")
        conn = cl.Conn(v.port)
        b = conn.call(cl.GET_BLOCK, height, want=cl.BLOCK)[0]
        conn.close()
        check(b is not None and b[0][1] == height, "GET_BLOCK not served")
        served += 1
        worst = max(worst, t)
        kernel = max(kernel, nh.kernel_send_queue(v.port))
        time.sleep(0.5)
    rss1, hwm1 = nh.mem(v)
    sent = sum(f.sent for f in flooders)
    closed = sum(f.closed for f in flooders)
    for f in flooders:
        f.stop.set()
    for f in flooders:
        f.join(5)
        f.sock.close()
    growth = hwm1 - hwm0
    bound = n * (HIGH_WATER + answer) + slack
    check(sent >= MIN_SENT, f"{n} flooders sent only {sent} bytes")
    check(growth <= bound, f"{n} flooders: VmHWM grew {mib(growth)}, "
          f"bound {mib(bound)}")
    check(v.height() > h0 + 10, f"V committed {v.height() - h0} blocks "
          f"with {n} flooders")
    print(f"  {n:2} client(s) not reading, {FLOOD_S} s: VmRSS "
          f"{mib(rss0)} -> {mib(rss1)}, VmHWM {mib(hwm0)} -> {mib(hwm1)} "
          f"(+{mib(growth)}, bound {mib(bound)}); requests written "
          f"{sent // KiB} KiB, {closed} flooder(s) closed by the node; "
          f"kernel send queues up to {mib(kernel)}; {served} status "
          f"checks, slowest {worst * 1000:.0f} ms")
    return growth


def run(args, tmp, made):
    c = made(nh.NetCluster(args, tmp, n=1, senders=20, block_interval=100,
                           max_txs=500, chain_id="net-client-no-read"))
    if c.asan:
        nh.small_quarantine()
    slack = (16 if c.asan else 8) * MiB
    v = c.nodes[0]
    v.start()
    t0 = time.time()
    burst = nh.Burst(c)
    burst.submit(v, 100)
    c.wait_quiet([v], 30)
    height, answer, txid = big_block(v)
    check(answer > 50 * KiB, f"the biggest block answer is {answer} bytes")
    time.sleep(1)   # let start-up allocations settle before measuring
    print(f"net/client_no_read: block {height}: GET_BLOCK answer "
          f"{answer} bytes; slack {mib(slack)}")
    g1 = flood_round(v, 1, height, answer, txid, slack)
    time.sleep(1)
    g20 = flood_round(v, 20, height, answer, txid, slack)
    c.stop_all()
    print(f"net/client_no_read: ok: peak RSS growth {mib(g1)} (1 client), "
          f"{mib(g20)} (20 clients); {time.time() - t0:.1f} s")


if __name__ == "__main__":
    nh.main(run, "net-client-no-read")
