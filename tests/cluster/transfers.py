#!/usr/bin/python3
"""transfers.py - 2,000 transfers through a 4-validator cluster.

Four mchost validators on loopback, 20 senders funded in the genesis,
100 transfers each.  A sender's transfers go round-robin to all four nodes
(nonce n to node (n + sender) mod 4), so most arrive at a node before the
nonces below them: the node queues them until gossip fills the gap.  The
client keeps each sender within WINDOW nonces of what all nodes have
committed, below the mempool's nonce-gap limit of 64, and pipelines its
submissions.  Once every sender's nonce is 100 (bounded time) it checks:
every transfer is committed exactly once (GET_TX on every node says
committed at the height and index where a scan of the chain finds it, and
the scan finds no txid twice), all four nodes hold the same block hash at
every height, the supply is unchanged, and each sender's committed nonces
are exactly 1..100 in order.  Prints transfers, seconds and transfers/s.

    transfers.py --mchost PATH --mcli PATH --plugin-dir DIR
"""
import time

import cluster as cl
from cluster import check

PER_SENDER = 100
WINDOW = 40
DEADLINE_S = 60


def committed_nonces(c):
    """Per sender, the lowest committed nonce over all nodes."""
    accts = [(cl.GET_ACCOUNT, bytes(k.verify_key)) for k in c.senders]
    low = [None] * len(accts)
    for node in c.nodes:
        for i, a in enumerate(node.client().batch(accts, want=cl.ACCOUNT)):
            low[i] = a[2] if low[i] is None else min(low[i], a[2])
    return low


def submit_all(c):
    """Sends every transfer within the window; returns {txid: (sender,
    nonce)} once all are committed."""
    n = len(c.nodes)
    sent = [0] * len(c.senders)
    txids = {}
    deadline = time.time() + DEADLINE_S
    while True:
        low = committed_nonces(c)
        if min(low) == PER_SENDER:
            return txids
        check(time.time() < deadline,
              f"not all committed within {DEADLINE_S} s: committed nonces "
              f"{low}, sent {sent}")
        batches = [[] for _ in range(n)]
        for s, key in enumerate(c.senders):
            to = bytes(c.senders[(s + 1) % len(c.senders)].verify_key)
            while sent[s] < min(PER_SENDER, low[s] + WINDOW):
                nonce = sent[s] + 1
                wire, txid = cl.make_tx(key, c.chain_id, to, nonce, nonce)
                batches[(nonce + s) % n].append((cl.SUBMIT_TX, wire))
                txids[txid] = (s, nonce)
                sent[s] = nonce
        for node, reqs in zip(c.nodes, batches):
            for (code, echoed), (_, wire) in zip(
                    node.client().batch(reqs, want=cl.SUBMIT_RESULT), reqs):
                check(code == 0, f"{node.name} refused nonce {wire[5]} of "
                      f"{wire[2].hex()[:16]}: {cl.CODE_NAMES.get(code, code)}")
                check(echoed in txids, "node computed another txid")
        time.sleep(0.05)


def check_committed(c, txids, where, blocks):
    for node in c.nodes:
        got = node.client().batch([(cl.GET_TX, t) for t in txids],
                                  want=cl.TX_STATUS)
        for txid, (state, height, index, code, tx) in zip(txids, got):
            check(state == "committed", f"{node.name}: tx {txid.hex()} is "
                  f"{state} (code {code})")
            check(where.get(txid) == height, f"{node.name}: tx {txid.hex()} "
                  f"at height {height}, the chain has it at "
                  f"{where.get(txid)}")
            check(cl.sha256(cl.pack(blocks[height][2][index][:6])) == txid,
                  f"{node.name}: block {height} index {index} is not "
                  f"tx {txid.hex()}")


def run(args, tmp, made):
    c = made(cl.Cluster(args, tmp))
    c.start_all()
    t0 = time.time()
    txids = submit_all(c)
    secs = time.time() - t0
    check(len(txids) == PER_SENDER * len(c.senders),
          f"sent {len(txids)} transfers")
    c.wait_quiet(c.nodes, 20)
    top, blocks, where, counts = c.check_chain()
    check(set(where) == set(txids),
          f"the chain holds {len(where)} transfers, {len(set(where) - set(txids))}"
          f" not sent here; {len(set(txids) - set(where))} sent are missing")
    check(all(counts[bytes(k.verify_key)] == PER_SENDER for k in c.senders),
          f"committed per sender: {sorted(counts.values())}")
    check_committed(c, txids, where, blocks)
    for node in c.nodes:
        node.stop()
    print(f"cluster/transfers: ok: {len(txids)} transfers from "
          f"{len(c.senders)} senders via 4 nodes committed in {secs:.1f} s "
          f"({len(txids) / secs:.0f} transfers/s), {top} blocks agreed")


if __name__ == "__main__":
    cl.main(run, "cluster-transfers")
