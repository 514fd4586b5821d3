#!/usr/bin/python3
"""split_2_2.py - split four validators 2|2: nobody commits; heal: all resume.

Four validators in their own network namespaces under a steady load of
signed transfers sent to all four (fault.Load).  nodes 0,1 are cut off from
nodes 2,3 in both directions.  With a quorum of 3 neither side can commit:
after GRACE_S (for anything already on its way to land) the highest height
of the four must not move for FREEZE_S, which is longer than the longest
round timeout (8 x view_timeout_ms, docs/CONSENSUS.md) so that view
changes are tried and fail on both sides.  A node may still sync, within
its own side, a block its partner committed before the split; it never
goes past that height.  FREEZE_S also outlasts the host's peer silence
limit, so the sessions across the split are closed and must be redialled.  Then the cut is healed: a new block must be
committed on some node within RESUME_S and on all four within RESUME_S
more (the time is printed), and fault.audit() checks agreement at every
height, no txid twice, contiguous nonces, constant supply and every
admitted transfer committed or superseded (no node is killed here).

    split_2_2.py --mchost PATH --mcli PATH --plugin-dir DIR
"""
import time

import fault
from fault import check, wait

VIEW_TIMEOUT_MS = 500
GRACE_S = 1.0
# Past the longest round timeout (8 x view timeout) and past the host's peer
# silence limit (MC_PEER_SILENCE_MS, 10 s), so the heal must also redial.
FREEZE_S = max(8 * VIEW_TIMEOUT_MS / 1000 + 2, 11)
RESUME_S = 10


def split_phase(c, net, load):
    net.partition([0, 1], [2, 3])
    fault.run_for(load, GRACE_S)
    frozen = max(c.heights())
    t0 = time.time()
    seen = set()
    while time.time() - t0 < FREEZE_S:
        load.step()
        hs = c.heights()
        check(max(hs) == frozen, f"heights {hs} while split 2|2: a side "
              f"of two committed past {frozen}")
        seen.add(tuple(hs))
        time.sleep(0.1)
    views = [n.status()["view"] for n in c.nodes]
    for side in ([c.nodes[0], c.nodes[1]], [c.nodes[2], c.nodes[3]]):
        c.check_agreement(side)
    return frozen, views


def heal_phase(c, net, load, frozen):
    net.heal()
    t_heal = time.time()
    wait(load, lambda: max(c.heights()) > frozen, RESUME_S,
         f"no block past {frozen} after the heal")
    first = time.time() - t_heal
    wait(load, lambda: min(c.heights()) > frozen + 1, RESUME_S,
         f"not all four passed {frozen + 1} after the heal")
    return first, time.time() - t_heal


def test(args, tmp, net, made):
    c = made(fault.FaultCluster(args, tmp, net, chain_id="fault-split",
                                view_timeout=VIEW_TIMEOUT_MS))
    c.start_all()
    load = fault.Load(c)
    wait(load, lambda: min(c.heights()) >= 6 and
         all(n.status()["peers"] == 3 for n in c.nodes), 20,
         "first blocks with every node connected to three peers")
    frozen, views = split_phase(c, net, load)
    first, all4 = heal_phase(c, net, load, frozen)
    fault.settle(c)
    r = fault.audit(c, load)
    fault.check_stops(c)
    print(f"fault/split_2_2: ok: frozen at {frozen} for {FREEZE_S:.0f} s "
          f"(views then {views}); first block {first:.1f} s and all four "
          f"{all4:.1f} s after the heal (bound {RESUME_S} s each); "
          f"{r['top']} blocks agreed, {r['committed']} transfers committed, "
          f"{r['admitted']} admitted ({r['superseded']} superseded)")


if __name__ == "__main__":
    fault.main(test, "fault-split-2-2")
