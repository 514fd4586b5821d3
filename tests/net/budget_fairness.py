#!/usr/bin/python3
"""budget_fairness.py - when the connection memory budget runs out, the
connections holding the most of it are closed, not an honest one that
happens to ask next.

One validator with --net-memory-bytes BUDGET and blocks full of transfers.
HOGS observers (each from its own address, with a tiny receive window)
pipeline GET_BLOCKS and never read the answers, then send heartbeats so
that they do not fall silent: their queued answers fill the budget.  Then
an honest observer asks for the same blocks every half second and reads
every answer: its first answer is what no longer fits.  Asserts: the honest observer gets every answer
and is never closed; hogs are closed for the budget ("connection memory
budget exhausted"), and only hogs are; the node's peak RSS grows by at
most the budget plus slack; the node exits 0.  (When the connection that
asked for memory was the one closed, the honest observer's request was
what tipped the budget and it was cut off.)

    budget_fairness.py --mchost PATH --mcli PATH --plugin-dir DIR
"""
import time

import net_helpers as nh
import peer as pr
import cluster as cl
from net_helpers import check

BUDGET = 8 * nh.MiB
HOGS = 20
ROUNDS = 24          # honest requests, one every half second
BLOCKS = 16          # blocks per hog request
HONEST_BLOCKS = 32   # per honest request: more than the hogs leave room for


def run(args, tmp, made):
    c = made(nh.NetCluster(args, tmp, n=1, senders=40, block_interval=100,
                           max_txs=500, chain_id="net-budget"))
    if c.asan:
        nh.small_quarantine()
    v = c.nodes[0]
    v.extra_args = ["--net-memory-bytes", str(BUDGET)]
    v.start()
    burst = nh.Burst(c)
    while v.height() < HONEST_BLOCKS + 2:
        burst.submit(v, 60)
        nh.wait_for(lambda: v.status()["mempool_ready"] == 0, 30, "blocks")
    g = v.status()["genesis_hash"]
    before = nh.mem(v)
    mark = v.log_size()
    honest = pr.Peer.dial("127.0.0.1", v.port, cl.dev_key("honest"), g,
                          src="127.0.0.2")
    hogs = [pr.Peer.dial("127.0.0.1", v.port, cl.dev_key(f"hog-{i}"), g,
                         src=f"127.0.1.{i + 1}", rcvbuf=4096)
            for i in range(HOGS)]
    hog_addrs = {nh.local_addr(h.sock) for h in hogs}
    for h in hogs:  # their answers fill the budget; they never read them
        try:
            for _ in range(3):
                h.request(pr.GET_BLOCKS, 1, BLOCKS)
        except OSError:
            pass  # closed by the node: what the budget is for
    time.sleep(1)
    answered = 0
    for r in range(ROUNDS):
        for h in hogs:
            try:
                h.heartbeat()
            except OSError:
                pass
        blocks = honest.get_blocks(1, HONEST_BLOCKS, timeout=10)
        check(len(blocks) == HONEST_BLOCKS, f"round {r}: the honest "
              f"observer got {len(blocks)} of {HONEST_BLOCKS} blocks")
        answered += 1
        honest.heartbeat()
        time.sleep(0.5)
    after = nh.mem(v)
    closed = nh.events(v, "conn_closed", mark,
                       reason="connection memory budget exhausted")
    victims = {e["peer"] for e in closed}
    honest_addr = nh.local_addr(honest.sock)
    check(honest_addr not in victims, "the honest observer was closed for "
          "the memory budget")
    check(victims, "no hog was closed for the budget: the test did not "
          "reach it")
    check(victims <= hog_addrs, f"connections other than the hogs were "
          f"closed for the budget: {victims - hog_addrs}")
    slack = (32 if c.asan else 16) * nh.MiB
    grew = after[1] - before[1]
    check(grew <= BUDGET + slack, f"peak RSS grew {nh.mib(grew)}, budget "
          f"{nh.mib(BUDGET)} + slack {nh.mib(slack)}")
    honest.close()
    for h in hogs:
        h.close()
    c.stop_all()
    print(f"net/budget_fairness: ok: {answered} of {ROUNDS} honest answers "
          f"of {HONEST_BLOCKS} blocks; {len(victims)} of {HOGS} hogs closed for the "
          f"budget ({len(closed)} closes), honest never; peak RSS "
          f"+{nh.mib(grew)} (budget {nh.mib(BUDGET)})")


if __name__ == "__main__":
    nh.main(run, "net-budget-fairness")
