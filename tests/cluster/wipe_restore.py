#!/usr/bin/python3
"""wipe_restore.py - a validator that lost its consensus record, or runs
from an older copy of its data directory, never signs twice.

Four validators under load.
1. Wiped: node-1 is killed (SIGKILL), its consensus-poa.state deleted, and
   started again (without --new-validator: its directory is not new).  It
   must log `watching`, sign nothing while it watches, then `watch_ended`
   with a resume height, and vote again only from that height on.
2. Restored: node-2 is stopped, its whole data directory copied, started
   again and left to vote for a while; then it is killed and the old copy
   put back.  Syncing, it meets commit certificates that carry its own
   later COMMITs: it must log `own_signature_unknown`, watch, and vote
   again only after `watch_ended`.
Across every lifetime of both nodes, no (kind, height, view) is signed
for two different blocks (the `proposed` and `acked` lines name them),
the other three keep committing throughout, and at the end all four agree
block for block (docs/CONSENSUS.md, "Signing without a record").

    wipe_restore.py --mchost PATH --mcli PATH --plugin-dir DIR
"""
import os
import shutil
import time

import cluster as cl
from cluster import check, wait

BOUND_S = 40


def votes(node, since=0):
    """(kind, height, view) -> set of hashes from the node's log."""
    out = {}
    for kind in ("proposed", "acked"):
        for e in node.log_events(kind, since):
            out.setdefault((kind, e["height"], e["view"]), set()).add(
                e["hash"])
    return out


def check_no_double(node):
    twice = {k: v for k, v in votes(node).items() if len(v) > 1}
    check(not twice, f"{node.name} signed two blocks for one (kind, "
          f"height, view): {twice}")


def watched(c, load, node, mark, reason):
    """Waits for node's watch to start (with `reason`) and end; returns
    the resume height, after checking it voted nothing in between."""
    def started():
        return [e for e in node.log_events("watching", mark)
                if e.get("reason") == reason]
    wait(load, started, BOUND_S, f"{node.name} did not start watching "
         f"({reason})")
    ended = wait(load, lambda: node.log_events("watch_ended", mark),
                 BOUND_S, f"{node.name} did not end its watch")
    resume = ended[0]["resume_height"]
    early = [k for k in votes(node, mark) if k[1] < resume]
    check(not early, f"{node.name} voted below its resume height "
          f"{resume}: {early[:5]}")
    others = [n for n in c.nodes if n is not node]
    wait(load, lambda: min(c.heights(others)) > resume + 2, BOUND_S,
         f"the chain did not pass {node.name}'s resume height {resume}")
    wait(load, lambda: [k for k in votes(node, mark) if k[0] == "acked"],
         BOUND_S, f"{node.name} did not vote again after its watch")
    return resume


def wiped(c, load):
    node = c.nodes[1]
    node.kill()
    os.unlink(os.path.join(node.data, "consensus-poa.state"))
    mark = node.log_size()
    node.start()
    return watched(c, load, node, mark, "no_state")


def restored(c, load):
    node = c.nodes[2]
    node.stop()
    backup = c.path("node-2.backup")
    shutil.copytree(node.data, backup)
    node.start()
    mark = node.log_size()
    wait(load, lambda: len(votes(node, mark)) >= 20, BOUND_S,
         f"{node.name} did not vote 20 times after its restart")
    node.kill()
    shutil.rmtree(node.data)
    shutil.copytree(backup, node.data)
    mark = node.log_size()
    node.start()
    unknown = wait(load, lambda: node.log_events("own_signature_unknown",
                                                 mark),
                   BOUND_S, f"{node.name}, restored from an older copy, did "
                   f"not notice its own later signatures")
    return unknown[0], watched(c, load, node, mark, "own_signature_unknown")


def run(args, tmp, made):
    c = made(cl.Cluster(args, tmp, chain_id="cluster-wipe"))
    c.start_all()
    load = cl.Load(c)
    wait(load, lambda: min(c.heights()) >= 5, 30, "first blocks")
    t0 = time.time()
    resume1 = wiped(c, load)
    seen, resume2 = restored(c, load)
    for n in c.nodes:
        check_no_double(n)
    c.wait_quiet(c.nodes, 60)
    top, _, _, _ = c.check_chain()
    print(f"wipe_restore: wiped node-1 resumed voting at height {resume1}; "
          f"restored node-2 saw its own {seen['kind']} at height "
          f"{seen['height']} in a {seen['seen_in']}, resumed at {resume2}; "
          f"no double vote in any lifetime; all four agree to height {top} "
          f"({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    cl.main(run, "cluster-wipe-restore")
