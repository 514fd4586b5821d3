#!/usr/bin/python3
"""catch_up.py - a stopped validator syncs; a foreign genesis is refused.

1. Four validators under load.  One (not the next leader, so no view
   change is needed) is stopped with SIGTERM (exit 0) while the other three
   commit LAG blocks or more; restarted on its data dir, it logs `synced`,
   reaches the others' height within a bound, and its chain equals theirs
   block for block (hash at every height).
2. A fifth node with a genesis that differs only in its chain id, and the
   key of validator 0, is started with --peer to all four.  Every one of
   the four logs `peer_refused` with reason "another genesis", none
   counts it as a peer (STATUS `peers` stays 3), the network keeps
   committing, and the stranger's own chain stays at its own block 0.
At the end all four agree at every height, no transfer is committed
twice, nonces are contiguous and the supply is unchanged.

    catch_up.py --mchost PATH --mcli PATH --plugin-dir DIR
"""
import time

import cluster as cl
from cluster import check, wait

LAG = 30
BOUND_S = 30


def lagging_node(c, load):
    st = c.nodes[0].status()
    node = next(n for n in c.nodes if n.idx != st["leader"])
    mark = node.log_size()
    node.stop()
    others = [n for n in c.nodes if n is not node]
    stopped_at = max(c.heights(others))
    wait(load, lambda: min(c.heights(others)) >= stopped_at + LAG, BOUND_S,
         f"the other three did not commit {LAG} blocks past {stopped_at}")
    restart_mark = node.log_size()
    node.start()
    target = max(c.heights(others))
    started = node.log_events("node_started", restart_mark)
    check(len(started) == 1 and started[0]["height"] <= stopped_at < target,
          f"{node.name} restarted at {started}, not behind {target}")
    wait(load, lambda: node.height() >= target, BOUND_S,
         f"{node.name} did not catch up to {target}")
    synced = sum(e["blocks"] for e in node.log_events("synced", mark))
    check(synced >= LAG, f"{node.name} logged {synced} blocks synced, "
          f"expected at least {LAG}")
    top, _ = c.check_agreement()
    check(top >= target, f"agreement checked to {top} only")
    return node.name, stopped_at, target


def stranger(c, load):
    """A node of another network, dialling all four."""
    node = cl.Node(c, len(c.nodes), cl.free_ports(1)[0])
    node.name = "stranger"
    node.key = c.nodes[0].key
    node.genesis = c.path("other-genesis.json")
    node.peers = [n.addr for n in c.nodes]
    c.genesis(node.genesis, "cluster-other", 200, 1000, 500)
    marks = {n.name: n.log_size() for n in c.nodes}
    base = min(c.heights())
    node.start()
    try:
        def all_refused():
            return all(any(e.get("reason") == "another genesis"
                           for e in n.log_events("peer_refused",
                                                 marks[n.name]))
                       for n in c.nodes)
        wait(load, all_refused, BOUND_S,
             "not every validator logged peer_refused (another genesis)")
        wait(load, lambda: min(c.heights()) >= base + 5, BOUND_S,
             f"the network stalled at {c.heights()} with a stranger about")
        for n in c.nodes:
            st = n.status()
            check(st["peers"] == len(c.nodes) - 1,
                  f"{n.name} counts {st['peers']} peers with a stranger about")
        st = node.status()
        check(st["chain_id"] == "cluster-other" and st["peers"] == 0,
              f"the stranger joined: {st}")
        check(st["height"] == 0, f"the stranger synced to {st['height']}")
    finally:
        if node.running():
            node.stop()


def run(args, tmp, made):
    c = made(cl.Cluster(args, tmp, chain_id="cluster-catchup"))
    c.start_all()
    load = cl.Load(c)
    wait(load, lambda: min(c.heights()) >= 2, 20, "first blocks")
    t0 = time.time()
    name, stopped_at, target = lagging_node(c, load)
    stranger(c, load)
    c.wait_quiet(c.nodes, 30)
    top, blocks, where, counts = c.check_chain()
    check(len(where) > 0, "no transfer was committed under load")
    for node in c.nodes:
        node.stop()
    print(f"cluster/catch_up: ok: {name} stopped at {stopped_at}, caught up "
          f"to {target}; stranger refused by all four; {top} blocks agreed, "
          f"{len(where)} transfers, {time.time() - t0:.1f} s")


if __name__ == "__main__":
    cl.main(run, "cluster-catch-up")
