#!/usr/bin/python3
"""leader_crash.py - kill -9 the next leader ten times in a row under load.

Four validators, a steady stream of transfers (cluster.Load) to whichever
nodes are up.  Ten times: ask a node which validator leads the height being
decided (STATUS `leader`), SIGKILL that node, check that it was the
leader (it proposed that block, or the others changed view there) and
that the other three keep committing (their height passes the one they
were at plus two within ADVANCE_S: the first needs a view change),
restart it on the same data dir, check it catches up (reaches the height the others had when it
restarted) and votes again (its log shows an `acked` after the restart).
At the end, with the load stopped and the mempools drained: all four hold
the same block hash at every height, no transfer is committed twice, each
sender's nonces are 1..k in order, and the supply is unchanged.

    leader_crash.py --mchost PATH --mcli PATH --plugin-dir DIR
"""
import time

import cluster as cl
from cluster import check, wait

ROUNDS = 10
ADVANCE_S = 15
CATCH_UP_S = 15


def next_leader(c, asker):
    st = asker.status()
    leader = st["leader"]
    check(0 <= leader < len(c.nodes),
          f"{asker.name} reports leader {leader} (view {st['view']})")
    return c.nodes[leader], st


def check_was_leader(c, victim, st, others, marks):
    """The kill hit the leader STATUS named: the block at the height being
    decided was proposed by the victim (it proposed before dying), or the
    others changed view at that height."""
    h = st["height"] + 1
    (blk,) = others[0].client().call(cl.GET_BLOCK, h, want=cl.BLOCK)
    if blk[0][7] == bytes.fromhex(c.vals[victim.idx]):
        return
    changed = [e for o in others
               for e in o.log_events("view_change", marks[o.name])
               if e.get("height") == h]
    check(changed, f"block {h} was proposed by another validator than "
          f"{victim.name}, which STATUS named leader of view {st['view']}, "
          f"and no view change at {h} was logged")


def crash_round(c, load, r):
    asker = c.nodes[r % len(c.nodes)]
    marks = {n.name: n.log_size() for n in c.nodes}
    victim, st = next_leader(c, asker)
    victim.kill()
    others = [n for n in c.nodes if n is not victim]
    base = max(c.heights(others))
    wait(load, lambda: min(c.heights(others)) >= base + 2, ADVANCE_S,
         f"round {r}: after {victim.name} (leader of view {st['view']} at "
         f"height {st['height'] + 1}) was killed, heights "
         f"{c.heights(others)} of the others did not pass {base + 1}")
    check_was_leader(c, victim, st, others, marks)
    mark = victim.log_size()
    victim.start()
    target = max(c.heights(others))
    wait(load, lambda: victim.height() >= target, CATCH_UP_S,
         f"round {r}: restarted {victim.name} at {victim.height()} did not "
         f"catch up to {target}")
    wait(load, lambda: victim.log_events("acked", mark), CATCH_UP_S,
         f"round {r}: restarted {victim.name} did not ACK again")
    return victim.name, st["view"], target


def run(args, tmp, made):
    c = made(cl.Cluster(args, tmp, chain_id="cluster-crash"))
    c.start_all()
    load = cl.Load(c)
    wait(load, lambda: min(c.heights()) >= 2, 20, "first blocks")
    t0 = time.time()
    victims = []
    for r in range(ROUNDS):
        victims.append(crash_round(c, load, r))
    secs = time.time() - t0
    c.wait_quiet(c.nodes, 30)
    top, blocks, where, counts = c.check_chain()
    check(len(where) > 0, "no transfer was committed under load")
    for node in c.nodes:
        node.stop()
    print(f"cluster/leader_crash: ok: {ROUNDS} leaders killed "
          f"({', '.join(v[0] for v in victims)}) in {secs:.1f} s; "
          f"{len(where)} of {load.sent} transfers committed "
          f"({load.admitted} admitted), {top} blocks agreed")


if __name__ == "__main__":
    cl.main(run, "cluster-leader-crash")
