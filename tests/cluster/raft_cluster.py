#!/usr/bin/python3
"""raft_cluster.py - three validators on raft.so (examples/consensus-raft,
built from the installed SDK by sdk/raft-example) keep committing when
their leader is killed, and the killed one catches up.

Three mchost validators on loopback with --consensus RAFT_SO --store
json.so, a steady stream of transfers (cluster.Load) to whichever nodes
are up:

1. a leader is elected and transfers commit (the first through `mcli
   send --wait`, then eight blocks of load);
2. kill -9 the leader: the other two elect a new leader (STATUS names
   another validator) and keep committing (their heights pass the one
   they were at plus two);
3. restart it on the same data dir: it catches up to the head the others
   had, and rejoins Raft (its log names the new leader);
4. kill a follower while the others commit 30 blocks (more than raft.so
   keeps in its raft log): restarted, it is sent a snapshot (the chain's
   head) and catches up through the host's sync;
5. freeze the leader (SIGSTOP) while the other two elect another and
   commit; thawed (SIGCONT) it steps down and follows;
6. kill -9 all three at once and restart them: from their saved state
   they elect a leader and commit three more blocks;
7. with the load stopped and the mempools drained, every node holds the
   same chain: block hashes compared height by height with `mcli block
   --json` on each node, and by cluster.check_chain (links, no transfer
   twice, nonces 1..k, supply unchanged).

With --one: a single validator elects itself, commits, and after kill -9
and a restart commits on the same chain.  With --crashes: ten kill -9s
in a row, mostly of the leader, each restarted (seeded, $MC_RAFT_SEED).

    raft_cluster.py --mchost PATH --mcli PATH --plugin-dir DIR --raft-so SO
                    [--one | --crashes]
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time

import cluster as cl
from cluster import check, wait

ELECT_S = 15
ADVANCE_S = 20
CATCH_UP_S = 30
CRASH_ROUNDS = 10
LAG_BLOCKS = 30  # above raft.so's snapshot threshold plus trailing (24)


def leader_of(nodes):
    """The validator index every node in `nodes` names leader, or None."""
    named = {n.status()["leader"] for n in nodes}
    if len(named) == 1:
        (leader,) = named
        return leader if leader >= 0 else None
    return None


def mcli_hashes(c, node, top):
    """Block hashes 0..top as `mcli block --json` prints them on node."""
    out = []
    for h in range(top + 1):
        text = c.cli("block", "--node", node.addr, "--json", str(h))
        obj = json.loads(text)
        check(obj.get("height") == h, f"mcli block {h} on {node.name}: {obj}")
        out.append(obj["hash"])
    return out


def check_same_chain_mcli(c):
    top = min(c.heights())
    chains = {n.name: mcli_hashes(c, n, top) for n in c.nodes}
    first = chains[c.nodes[0].name]
    for name, hs in chains.items():
        for h in range(top + 1):
            check(hs[h] == first[h], f"mcli block {h}: {name} has {hs[h]}, "
                  f"{c.nodes[0].name} has {first[h]}")
    return top, first[top]


def run(args, tmp, made):
    c = made(cl.Cluster(args, tmp, n=3, chain_id="cluster-raft"))
    c.consensus = os.path.abspath(args.raft_so)
    t_start = time.time()
    c.start_all()
    deadline = time.time() + ELECT_S
    while leader_of(c.nodes) is None:
        check(time.time() < deadline, f"no leader named by all three "
              f"within {ELECT_S} s")
        time.sleep(0.1)
    leader = leader_of(c.nodes)
    t_elect = time.time() - t_start

    # one transfer through mcli, waited for until committed
    c.cli("keygen", "--seed", "cluster-sender-0", "--out",
          c.path("sender-0.key"))
    to = bytes(c.senders[1].verify_key).hex()
    out = c.cli("send", "--node", c.nodes[1].addr, "--key",
                c.path("sender-0.key"), "--to", to, "--amount", "5",
                "--wait", "--timeout", "20")
    mcli_send = out.splitlines()[-1]

    load = cl.Load(c)
    wait(load, lambda: min(c.heights()) >= 8, 30, "eight blocks on all three")

    victim = c.nodes[leader]
    others = [n for n in c.nodes if n is not victim]
    base = max(c.heights(others))
    t_kill = time.time()
    victim.kill()
    wait(load, lambda: (leader_of(others) not in (None, victim.idx)),
         ELECT_S, f"after killing leader {victim.name}, a new leader")
    t_new = time.time() - t_kill
    new_leader = leader_of(others)
    wait(load, lambda: min(c.heights(others)) >= base + 2, ADVANCE_S,
         f"after killing {victim.name}, heights {c.heights(others)} of the "
         f"others passing {base + 1}")
    t_adv = time.time() - t_kill

    mark = victim.log_size()
    victim.start()
    target = max(c.heights(others))
    t_restart = time.time()
    wait(load, lambda: victim.height() >= target, CATCH_UP_S,
         f"restarted {victim.name} at {victim.height()} catching up to "
         f"{target}")
    t_catch = time.time() - t_restart
    # it rejoins Raft, not only syncs: it names the new leader
    wait(load, lambda: [e for e in victim.log_events("raft_leader", mark)
                        if e.get("leader") == new_leader], ELECT_S,
         f"restarted {victim.name} following validator-{new_leader}")
    cl.run_for(load, 3)

    # a follower that misses more blocks than the leader keeps in its raft
    # log gets a snapshot (the chain's head) and the blocks by sync
    follower = next(n for n in c.nodes if n.idx != leader_of(c.nodes))
    rest = [n for n in c.nodes if n is not follower]
    follower.kill()
    base2 = max(c.heights(rest))
    wait(load, lambda: min(c.heights(rest)) >= base2 + LAG_BLOCKS, 60,
         f"with {follower.name} down, heights {c.heights(rest)} passing "
         f"{base2 + LAG_BLOCKS - 1}")
    mark2 = follower.log_size()
    follower.start()
    target2 = max(c.heights(rest))
    t_restart2 = time.time()
    wait(load, lambda: follower.height() >= target2, CATCH_UP_S,
         f"restarted {follower.name} catching up to {target2}")
    t_catch2 = time.time() - t_restart2
    wait(load, lambda: follower.log_events("snapshot_installed", mark2),
         ELECT_S, f"{follower.name}, {LAG_BLOCKS} blocks behind, was sent "
         f"a snapshot")
    cl.run_for(load, 2)

    # a leader frozen (SIGSTOP, as a cut-off or stalled node) while the
    # others elect another and commit; thawed, it finds a higher term,
    # steps down, drops what it had not committed and follows
    wait(load, lambda: leader_of(c.nodes) is not None, ELECT_S,
         "a leader to freeze")
    frozen = c.nodes[leader_of(c.nodes)]
    rest = [n for n in c.nodes if n is not frozen]
    frozen._drop_conn()
    base4 = max(c.heights(rest))
    frozen.proc.send_signal(signal.SIGSTOP)
    try:
        wait(load, lambda: min(c.heights(rest)) >= base4 + 2, ADVANCE_S,
             f"with leader {frozen.name} frozen, heights {c.heights(rest)} "
             f"passing {base4 + 1}")
    finally:
        frozen.proc.send_signal(signal.SIGCONT)
    target4 = max(c.heights(rest))
    wait(load, lambda: frozen.height() >= target4, CATCH_UP_S,
         f"thawed {frozen.name} catching up to {target4}")
    wait(load, lambda: leader_of(c.nodes) is not None, ELECT_S,
         f"thawed {frozen.name} naming the same leader as the others")

    # all three killed at once: each restarts from its saved term, vote
    # and log, they elect a leader again and commit on the same chain
    for n in c.nodes:
        n.kill()
    c.start_all()
    base3 = max(c.heights())
    t_all = time.time()
    wait(load, lambda: min(c.heights()) >= base3 + 3, ADVANCE_S,
         f"after killing and restarting all three at {base3}, heights "
         f"{c.heights()} passing {base3 + 2}")
    t_all = time.time() - t_all

    c.wait_quiet(c.nodes, 30)
    top, blocks, where, counts = c.check_chain()
    check(len(where) > 0, "no transfer was committed")
    mtop, mhash = check_same_chain_mcli(c)
    final_leader = leader_of(c.nodes)
    for node in c.nodes:
        node.stop()
    print(f"cluster/raft: mcli send --wait: {mcli_send}")
    print(f"cluster/raft: ok: leader validator-{leader} elected "
          f"{t_elect:.1f} s after start; killed it at height {base}: "
          f"validator-{new_leader} led after {t_new:.1f} s, two more blocks "
          f"after {t_adv:.1f} s; restarted, caught up to {target} in "
          f"{t_catch:.1f} s; follower {follower.name} down for "
          f"{LAG_BLOCKS} blocks, installed a snapshot and caught up to "
          f"{target2} in {t_catch2:.1f} s; leader {frozen.name} frozen at "
          f"{base4}, thawed, followed to {target4}; all three killed at {base3} and "
          f"restarted: three more blocks in {t_all:.1f} s; {top} blocks agreed on all three (mcli: hash "
          f"at {mtop} {mhash[:16]}), {len(where)} transfers committed "
          f"({load.admitted} of {load.sent} from the load admitted), leader at the end validator-{final_leader}")


def run_one(args, tmp, made):
    """A network of one validator is legal: it elects itself and commits,
    and restarted it carries on from its saved state."""
    c = made(cl.Cluster(args, tmp, n=1, chain_id="cluster-raft-one"))
    c.consensus = os.path.abspath(args.raft_so)
    c.start_all()
    load = cl.Load(c)
    wait(load, lambda: c.heights()[0] >= 5, 20, "five blocks on one validator")
    c.nodes[0].kill()
    c.start_all()
    base = c.heights()[0]
    wait(load, lambda: c.heights()[0] >= base + 3, 20,
         f"three more blocks after a restart at {base}")
    c.wait_quiet(c.nodes, 20)
    top, _, where, _ = c.check_chain()
    st = c.nodes[0].status()
    check(st["leader"] == 0, f"one validator, leader {st['leader']}")
    c.nodes[0].stop()
    print(f"cluster/raft-one: ok: {top} blocks, {len(where)} transfers, "
          f"restarted at {base}, term {st['view']}")


def run_crashes(args, tmp, made):
    """CRASH_ROUNDS times: kill -9 the leader (or, one time in three, a
    random validator), check the other two commit two more blocks, restart
    it after a random while and check it catches up; the seed is printed
    ($MC_RAFT_SEED reruns one).  At the end the usual checks."""
    seed = int(os.environ.get("MC_RAFT_SEED", str(int(time.time()))))
    print(f"cluster/raft-crashes: seed {seed}", flush=True)
    rnd = random.Random(seed)
    c = made(cl.Cluster(args, tmp, n=3, chain_id="cluster-raft-crashes"))
    c.consensus = os.path.abspath(args.raft_so)
    c.start_all()
    load = cl.Load(c)
    wait(load, lambda: min(c.heights()) >= 3, 30, "first three blocks")
    t0, leaders = time.time(), 0
    for r in range(CRASH_ROUNDS):
        wait(load, lambda: leader_of(c.nodes) is not None, ELECT_S,
             f"round {r}: a leader named by all three")
        lead = leader_of(c.nodes)
        victim = c.nodes[lead if rnd.random() < 0.67 else rnd.randrange(3)]
        leaders += victim.idx == lead
        others = [n for n in c.nodes if n is not victim]
        base = max(c.heights(others))
        victim.kill()
        wait(load, lambda: min(c.heights(others)) >= base + 2, ADVANCE_S,
             f"round {r}: without {victim.name} (killed at {base}), heights "
             f"{c.heights(others)} passing {base + 1}")
        cl.run_for(load, rnd.random() * 2)
        victim.start()
        target = max(c.heights(others))
        wait(load, lambda: victim.height() >= target, CATCH_UP_S,
             f"round {r}: restarted {victim.name} catching up to {target}")
    secs = time.time() - t0
    c.wait_quiet(c.nodes, 30)
    top, _, where, _ = c.check_chain()
    for node in c.nodes:
        node.stop()
    print(f"cluster/raft-crashes: ok: {CRASH_ROUNDS} kills ({leaders} of "
          f"the leader) in {secs:.1f} s; {top} blocks agreed, {len(where)} "
          f"transfers committed")


def main():
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--raft-so", required=True)
    ap.add_argument("--one", action="store_true",
                    help="one validator instead of three")
    ap.add_argument("--crashes", action="store_true",
                    help="kill -9 and restart validators CRASH_ROUNDS times")
    known, rest = ap.parse_known_args()
    sys.argv = [sys.argv[0]] + rest
    body = run_one if known.one else run_crashes if known.crashes else run
    run_with = lambda a, tmp, made: body(  # noqa: E731
        argparse.Namespace(**vars(a), raft_so=known.raft_so), tmp, made)
    cl.main(run_with, "cluster-raft")


if __name__ == "__main__":
    main()
