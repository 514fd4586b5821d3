#!/usr/bin/python3
"""raft_partition.py - raft.so (examples/consensus-raft) across network
cuts, each validator a separate host in its own network namespace
(fault.py), under a steady load of transfers to every node.

1. The leader is cut off from the other two for CUT_S (longer than the
   host's peer silence limit, so the heal must redial): the two elect a
   new leader between them and pass ADVANCE blocks, none of them (after
   the first, which it may have proposed before the cut) proposed by the
   cut-off one; the cut-off one commits nothing, having no majority.
2. Healed: it catches up to the others, names the same leader, and all
   three commit further blocks.
3. Every validator cut off from every other (no majority anywhere) for
   SPLIT_S: no node commits anything.
4. Healed: commits resume.
Then fault.settle and fault.audit: the same hash at every height on all
three, no transfer twice, nonces 1..k, supply unchanged, every admitted
transfer committed or superseded (no node is killed, so none is lost).

    raft_partition.py --mchost PATH --mcli PATH --plugin-dir DIR
                      --raft-so SO
"""
import argparse
import os
import sys
import time

import fault
from fault import check, wait

CUT_S = 12
ADVANCE = 8
ADVANCE_S = 30
SPLIT_S = 6
CATCH_UP_S = 30
RAFT_SO = None


def leader_of(nodes):
    named = {n.status()["leader"] for n in nodes}
    if len(named) == 1:
        (leader,) = named
        return leader if leader >= 0 else None
    return None


def isolate_leader(c, net, load):
    wait(load, lambda: leader_of(c.nodes) is not None, 20, "a leader")
    victim = c.nodes[leader_of(c.nodes)]
    others = [n for n in c.nodes if n is not victim]
    net.isolate(victim.idx)
    t_cut = time.time()
    base = max(c.heights())
    fault.run_for(load, 0.5)
    frozen = victim.height()
    wait(load, lambda: leader_of(others) not in (None, victim.idx),
         ADVANCE_S, f"with {victim.name} cut off, a new leader among "
         f"{[o.name for o in others]}")
    t_new = time.time() - t_cut
    wait(load, lambda: min(c.heights(others)) >= base + ADVANCE, ADVANCE_S,
         f"with {victim.name} cut off at {base}, heights "
         f"{c.heights(others)} passing {base + ADVANCE - 1}")
    fault.run_for(load, CUT_S - (time.time() - t_cut))
    check(victim.height() == frozen, f"{victim.name} moved from {frozen} "
          f"to {victim.height()} while cut off from every validator")
    top = min(c.heights(others))
    pk = bytes.fromhex(c.vals[victim.idx])
    for b in c.blocks(others[0], top)[base + 2:]:
        check(b[0][7] != pk, f"block {b[0][1]} was proposed by "
              f"{victim.name}, which was cut off")
    net.heal()
    t_heal = time.time()
    target = max(c.heights(others))
    wait(load, lambda: victim.height() >= target, CATCH_UP_S,
         f"{victim.name} at {victim.height()} catching up to {target}")
    caught = time.time() - t_heal
    wait(load, lambda: leader_of(c.nodes) is not None, CATCH_UP_S,
         "all three naming one leader after the heal")
    wait(load, lambda: min(c.heights()) >= target + 3, CATCH_UP_S,
         f"all three passing {target + 2} after the heal")
    return victim, base, frozen, top, t_new, caught


def split_all(c, net, load):
    base = max(c.heights())
    net.partition([0], [1], [2])
    fault.run_for(load, 1.0)  # what was on its way lands
    before = c.heights()
    fault.run_for(load, SPLIT_S)
    after = c.heights()
    check(after == before, f"heights went from {before} to {after} with "
          f"no majority anywhere")
    net.heal()
    top = max(after)
    wait(load, lambda: min(c.heights()) >= top + 3, CATCH_UP_S,
         f"after healing the three-way split at {top}, heights "
         f"{c.heights()} passing {top + 2}")
    return base, after


def test(args, tmp, net, made):
    c = made(fault.FaultCluster(args, tmp, net, chain_id="fault-raft"))
    c.consensus = RAFT_SO
    c.start_all()
    load = fault.Load(c)
    wait(load, lambda: min(c.heights()) >= 3 and
         all(n.status()["peers"] == 2 for n in c.nodes), 30,
         "first blocks with every node connected to two peers")
    victim, base, frozen, top, t_new, caught = isolate_leader(c, net, load)
    sbase, after = split_all(c, net, load)
    fault.settle(c)
    r = fault.audit(c, load)
    fault.check_stops(c)
    print(f"fault/raft-partition: ok: leader {victim.name} cut off at "
          f"{base} (stayed at {frozen}); a new leader after {t_new:.1f} s, "
          f"the other two went to {top}; caught up {caught:.1f} s after the "
          f"heal; a three-way split at {sbase} committed nothing "
          f"(heights {after}), the heal resumed; {r['top']} blocks agreed, "
          f"{r['committed']} transfers committed, {r['admitted']} admitted "
          f"({r['superseded']} superseded by another with the same nonce)")


def main():
    global RAFT_SO
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--raft-so", required=True)
    known, rest = ap.parse_known_args()
    RAFT_SO = os.path.abspath(known.raft_so)
    sys.argv = [sys.argv[0]] + rest
    fault.main(test, "fault-raft-partition", n=3)


if __name__ == "__main__":
    main()
