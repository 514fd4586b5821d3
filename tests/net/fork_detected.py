#!/usr/bin/python3
"""fork_detected.py - a node compares every heartbeat's head with its own
block at that height, and tells a fork from a lie.

Four validators commit a few blocks.  The test then plays what only more
than f faulty validators could do: with the dev keys of validators 0..2
(a quorum) it signs a second block X' at a height H the node has
committed, with a valid commit certificate (poa's
["mc-poa-cert-v1", H, 0, hash, siglist], each signature in the consensus
domain of the chain: docs/CONSENSUS.md, docs/SDK.md).  A peer (an
observer key) heartbeats (H, hash of X'); the node must ask it for its
header at H, find the certificate valid, log `fork_detected` with both
hashes, keep its own block, and stop syncing from that peer.  A second
peer heartbeats a different block at H whose certificate has q-1
signatures: the node must find it invalid and ban that peer
(`peer_banned`, "invalid header").  The node's chain is unchanged and
the validators keep committing.

    fork_detected.py --mchost PATH --mcli PATH --plugin-dir DIR
"""
import threading
import time

import nacl.signing

import net_helpers as nh
import peer as pr
import cluster as cl
from net_helpers import check


def consensus_sig(key, genesis, msg):
    """What the host's `sign` service makes (docs/SDK.md): ed25519 over
    ["mc-consensus-v1", genesis_hash, msg]."""
    return key.sign(pr.pack(["mc-consensus-v1", genesis, msg])).signature


def forged_block(c, genesis, real_header, signers):
    """A second header at real_header's height (another timestamp), signed
    by validator 0 as proposer, with a commit certificate of `signers`."""
    keys = [cl.dev_key(f"cluster-validator-{i}") for i in range(4)]
    h = list(real_header)
    h[3] = h[3] + 1                        # timestamp: another block
    h[7] = bytes(keys[0].verify_key)       # proposer
    header_sig = keys[0].sign(pr.pack(h)).signature
    height, hsh = h[1], pr.block_hash(h)
    vote = pr.pack(["mc-poa-commit-v1", height, 0, hsh])
    siglist = [[i, consensus_sig(keys[i], genesis, vote)] for i in signers]
    cert = pr.pack(["mc-poa-cert-v1", height, 0, hsh, siglist])
    return h, header_sig, cert, hsh


def serve_forever(p, header, sig, cert, stop):
    """Answers GET_HEADERS for the forged height; reads everything else."""
    def on_request(peer, msg):
        if msg[0] == pr.GET_HEADERS and msg[2] == header[1]:
            peer.send([pr.HEADERS, msg[1], [[header, sig, cert]]])
        elif msg[0] == pr.GET_HEADERS:
            peer.send([pr.HEADERS, msg[1], []])
    p.on_request = on_request
    while not stop.is_set():
        try:
            p.recv(0.5)
        except TimeoutError:
            continue
        except (OSError, pr.Closed, pr.ProtocolError):
            return


def run(args, tmp, made):
    c = made(nh.NetCluster(args, tmp, chain_id="net-fork"))
    c.start_all()
    v = c.nodes[0]
    nh.wait_for(lambda: min(c.heights()) >= 4, 30, "first blocks")
    st = v.status()
    genesis = st["genesis_hash"]
    height = st["height"] - 1
    (real,) = v.client().call(cl.GET_BLOCK, height, want=cl.BLOCK)
    ours = pr.block_hash(real[0])
    mark = v.log_size()
    stop = threading.Event()
    threads = []
    peers = {}
    for name, src, signers in (("forker", "127.0.2.1", [0, 1, 2]),
                               ("liar", "127.0.2.2", [0, 1])):
        header, sig, cert, theirs = forged_block(c, genesis, real[0],
                                                 signers)
        p = pr.Peer.dial("127.0.0.1", v.port, cl.dev_key(name), genesis,
                         src=src, height=height, head=theirs)
        t = threading.Thread(target=serve_forever,
                             args=(p, header, sig, cert, stop), daemon=True)
        t.start()
        p.heartbeat(height, theirs)
        peers[name] = (p, theirs, nh.local_addr(p.sock))
        threads.append(t)
    forks = []
    nh.wait_for(lambda: forks.extend(nh.events(v, "fork_detected", mark))
                or forks, 10, "the node did not log fork_detected")
    f = forks[0]
    theirs = peers["forker"][1]
    check(f["height"] == height and f["ours"] == ours.hex() and
          f["theirs"] == theirs.hex(), f"fork_detected says {f}, expected "
          f"height {height}, ours {ours.hex()}, theirs {theirs.hex()}")
    bans = []
    nh.wait_for(lambda: bans.extend(nh.events(v, "peer_banned", mark,
                                              reason="invalid header"))
                or bans, 10, "the liar with q-1 signatures was not banned")
    check(bans[0]["peer"] == peers["liar"][2], f"banned {bans[0]['peer']}, "
          f"not the liar at {peers['liar'][2]}")
    check(not nh.events(v, "peer_banned", mark, peer=peers["forker"][2]),
          "the peer on the other certified branch was banned as a liar")
    (again,) = v.client().call(cl.GET_BLOCK, height, want=cl.BLOCK)
    check(pr.block_hash(again[0]) == ours, "the node gave up its block")
    h0 = min(c.heights())
    nh.wait_for(lambda: min(c.heights()) >= h0 + 3, 20,
                "the validators stopped committing")
    stop.set()
    for t in threads:
        t.join(2)
    for p, _, _ in peers.values():
        p.close()
    top, _, _, _ = c.check_chain()
    c.stop_all()
    print(f"net/fork_detected: ok: fork at height {height} logged with "
          f"ours {ours.hex()[:16]} and theirs {theirs.hex()[:16]}; the "
          f"q-1 liar banned; chain agreed to {top}")


if __name__ == "__main__":
    nh.main(run, "net-fork-detected")
