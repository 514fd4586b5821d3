#!/usr/bin/python3
"""isolate_leader.py - cut the leader off from the other three, then heal.

Four validators in their own network namespaces under a steady load of
signed transfers (fault.Load, to every node, the isolated one included:
the test reaches it from the hub namespace).  The validator STATUS names
leader of the next height is cut off from the other three in both
directions (nftables in its namespace).  While it is cut off for at least
CUT_S seconds:
  - the other three keep committing: they pass ADVANCE blocks, which
    includes heights the isolated one leads in view 0, so they must change
    view there (each logs `view_change` at such a height), and none of the
    blocks decided after the cut was proposed by the isolated one;
  - the isolated one commits nothing: its height stays where it was a
    moment after the cut.
After healing, the isolated one catches up to the others' height within
CATCH_UP_S, ACKs again, and the network commits further blocks.  Then the
load stops and fault.audit() checks agreement at every height, no txid
twice, contiguous nonces, constant supply, and every admitted transfer
committed or superseded (no node is killed here, so none may be lost).

    isolate_leader.py --mchost PATH --mcli PATH --plugin-dir DIR
"""
import time

import fault
from fault import check, wait

# Longer than the host's peer silence limit (MC_PEER_SILENCE_MS, 10 s), so
# the sessions across the cut are closed and the heal must redial them.
CUT_S = 12
ADVANCE = 8
ADVANCE_S = 25
CATCH_UP_S = 20


def isolated_phase(c, net, load):
    st = c.nodes[0].status()
    victim = c.nodes[st["leader"]]
    others = [n for n in c.nodes if n is not victim]
    marks = {n.name: n.log_size() for n in c.nodes}
    net.isolate(victim.idx)
    t_cut = time.time()
    base = max(c.heights())
    fault.run_for(load, 0.5)
    frozen = victim.height()
    wait(load, lambda: min(c.heights(others)) >= base + ADVANCE, ADVANCE_S,
         f"with {victim.name} cut off at height {base}, the other three "
         f"({c.heights(others)}) did not pass {base + ADVANCE}")
    fault.run_for(load, CUT_S - (time.time() - t_cut))
    check(victim.height() == frozen, f"{victim.name} moved from {frozen} to "
          f"{victim.height()} while cut off from every validator")
    top = min(c.heights(others))
    blocks = c.blocks(others[0], top)
    pk = bytes.fromhex(c.vals[victim.idx])
    n = len(c.nodes)
    # base + 1 may be the victim's own block, proposed before the cut and
    # re-proposed from a lock; later ones it could not have proposed.
    for b in blocks[base + 2:]:
        check(b[0][7] != pk, f"block {b[0][1]} was proposed by "
              f"{victim.name}, which was cut off")
    led = [h for h in range(base + 2, top + 1) if h % n == victim.idx]
    check(led, f"no height in {base + 2}..{top} is led by {victim.name}")
    for o in others:
        vc = {e.get("height") for e in o.log_events("view_change",
                                                    marks[o.name])}
        check(any(h in vc for h in led), f"{o.name} logged no view change "
              f"at the heights {led} that {victim.name} leads; it logged "
              f"{sorted(x for x in vc if x is not None)[:20]}")
    return victim, others, base, top, frozen


def heal_phase(c, net, load, victim, others):
    mark = victim.log_size()
    net.heal()
    t_heal = time.time()
    target = max(c.heights(others))
    wait(load, lambda: victim.height() >= target, CATCH_UP_S,
         f"{victim.name} at {victim.height()} did not catch up to {target}")
    caught = time.time() - t_heal
    wait(load, lambda: victim.log_events("acked", mark), CATCH_UP_S,
         f"{victim.name} did not ACK again after the heal")
    wait(load, lambda: min(c.heights()) >= target + 4, CATCH_UP_S,
         f"all four did not pass {target + 3} after the heal")
    return target, caught


def test(args, tmp, net, made):
    c = made(fault.FaultCluster(args, tmp, net, chain_id="fault-isolate"))
    c.start_all()
    load = fault.Load(c)
    wait(load, lambda: min(c.heights()) >= 2 and
         all(n.status()["peers"] == 3 for n in c.nodes), 20,
         "first blocks with every node connected to three peers")
    victim, others, base, top, frozen = isolated_phase(c, net, load)
    target, caught = heal_phase(c, net, load, victim, others)
    fault.settle(c)
    r = fault.audit(c, load)
    fault.check_stops(c)
    print(f"fault/isolate_leader: ok: {victim.name} cut off at {base} "
          f"(stayed at {frozen}) while the others went to {top}; caught up "
          f"to {target} {caught:.1f} s after the heal; {r['top']} blocks "
          f"agreed, {r['committed']} transfers committed, "
          f"{r['admitted']} admitted ({r['superseded']} superseded by "
          f"another with the same nonce)")


if __name__ == "__main__":
    fault.main(test, "fault-isolate-leader")
