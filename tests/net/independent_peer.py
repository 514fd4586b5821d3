#!/usr/bin/python3
"""independent_peer.py - a peer written from docs/PROTOCOL.md talks to mchost.

peer.py shares no code with the node.  Against a one-validator chain V
(100 ms blocks, a few transfers so blocks carry some):

1. Dialling V as an observer: the handshake names V's genesis key, V's
   encrypted HEARTBEATs arrive about every second and name blocks V
   serves, GET_HEADERS returns headers that link from block 0 and carry
   their proposer's signature, GET_BLOCKS returns bodies whose hashes are
   those headers' and whose Merkle roots match their transfers.
2. Being dialled: an observer node O (mchost, a key not in the genesis)
   starts with --peer V and --peer a python listener; the listener answers
   O's HELLO as the responder, gets O's heartbeats, and fetches and checks
   O's blocks the same way.
3. Bad frames each get the connection closed: an encrypted frame with one
   ciphertext bit flipped, a frame sent twice (replay), two frames sent in
   the wrong order, a frame the node sent, sent back to it; a HEARTBEAT
   sent in plain after HELLO (before AUTH), a GET_HEADERS sent before
   AUTH, and HEARTBEAT as a connection's first frame (answered with ERROR,
   then closed).  V keeps committing and serves a fresh session after.

    independent_peer.py --mchost PATH --mcli PATH --plugin-dir DIR
"""
import threading
import time

import net_helpers as nh
import peer as pr
from net_helpers import check, cl

MIN_HEIGHT = 40       # blocks V commits before the checks start
CLOSE_S = 3           # a bad frame must get the link closed this soon


def chain_from(p, base, top, vals):
    """Fetches headers 1..top over GET_HEADERS and their bodies over
    GET_BLOCKS from peer session p, checks them (links, signatures,
    hashes, Merkle roots); returns {height: hash}."""
    prev, prev_time = pr.block_hash(base[0]), base[0][3]
    hashes = {0: prev}
    h = 1
    while h <= top:
        entries = p.get_headers(h, min(256, top - h + 1))
        check(entries, f"no headers from {h} (top {top})")
        got = pr.check_headers(entries, h, prev, prev_time, vals)
        for i, hh in enumerate(got):
            hashes[h + i] = hh
        prev, prev_time = got[-1], entries[-1][0][3]
        h += len(got)
    txs = 0
    h = 1
    while h <= top:
        blocks = p.get_blocks(h, min(64, top - h + 1))
        check(blocks, f"no blocks from {h} (top {top})")
        for i, b in enumerate(blocks):
            check(b[0][1] == h + i, f"GET_BLOCKS {h}: block {i} is at "
                  f"height {b[0][1]}")
            pr.check_body(b, hashes[h + i])
            txs += len(b[2])
        h += len(blocks)
    return hashes, txs


def dialler(c, v, g, vals, base):
    p = pr.Peer.dial("127.0.0.1", v.port, cl.dev_key("net-observer-1"), g)
    try:
        check(p.remote_pk.hex() == c.vals[0], f"WELCOME names key "
              f"{p.remote_pk.hex()}, V is {c.vals[0]}")
        check(p.remote_height >= MIN_HEIGHT, f"V claims height "
              f"{p.remote_height} in WELCOME")
        p.heartbeat()
        p.recv_until(lambda m: len(p.heartbeats) >= 4, 8)
        ts = p.heartbeat_times
        per_s = (len(ts) - 1) / (ts[-1] - ts[0])
        check(0.5 <= per_s <= 2, f"V sends {per_s:.2f} heartbeats/s, "
              f"PROTOCOL.md §2.4 says one a second")
        check(len(nh.events(v, "observer_connected", key=p.pk.hex())) == 1,
              "V did not log observer_connected for the peer's key")
        top = p.heartbeats[-1][0]
        hashes, txs = chain_from(p, base, top, vals)
        check(p.heartbeats[-1][1] == hashes[top], f"HEARTBEAT head at "
              f"{top} is not the hash of the block served there")
        check(txs > 0, "no block carried a transfer")
        return top, txs, per_s
    finally:
        p.close()


def dialled(c, v, g, vals, base):
    """Observer node O dials a python listener."""
    lsock = pr.listener()
    laddr = nh.local_addr(lsock)
    o = c.observer("observer-O", peers=[v.addr, laddr])
    o.start()
    got = {}

    def accept():
        try:
            got["peer"] = pr.Peer.accept(lsock, cl.dev_key("net-listener"),
                                         g, 0, pr.block_hash(base[0]),
                                         timeout=15)
        except Exception as e:  # reported by the main thread
            got["error"] = e

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    t.join(20)
    lsock.close()
    check("peer" in got, f"O did not complete a handshake with the "
          f"listener: {got.get('error')}")
    p = got["peer"]
    try:
        check(p.remote_pk.hex() == o.pubkey, f"AUTH names key "
              f"{p.remote_pk.hex()}, O is {o.pubkey}")
        nh.wait_for(lambda: nh.events(o, "observer_connected", peer=laddr,
                                      key=p.pk.hex()), 5,
                    "O did not log observer_connected for the listener")
        nh.wait_for(lambda: o.height() >= MIN_HEIGHT, 20,
                    f"O did not sync to {MIN_HEIGHT}", step=0.2)
        p.heartbeat()
        p.recv_until(lambda m: len(p.heartbeats) >= 2, 6)
        top = p.heartbeats[-1][0]
        check(top >= MIN_HEIGHT, f"O's heartbeat says height {top}")
        hashes, _ = chain_from(p, base, top, vals)
        check(p.heartbeats[-1][1] == hashes[top], "O's heartbeat head is "
              "not the hash of the block it serves there")
        mine = cl.block_hash(v.client().call(cl.GET_BLOCK, top,
                                             want=cl.BLOCK)[0])
        check(mine == hashes[top], f"O serves another block {top} than V")
        return top
    finally:
        p.close()


def expect_closed(v, p, what, since):
    addr = nh.local_addr(p.sock)
    closed = p.closed_within(CLOSE_S)
    reason = nh.close_reason(v, addr, since) if closed else None
    p.close()
    check(closed, f"{what}: the node kept the connection open "
          f"{CLOSE_S} s")
    return reason


def fresh(v, g, tag):
    """An observer session known to work (a request answered)."""
    p = pr.Peer.dial("127.0.0.1", v.port, cl.dev_key(f"net-bad-{tag}"), g)
    check(len(p.get_headers(1, 1)) == 1, "no header 1")
    return p


def bad_frames(v, g):
    reasons = {}
    mark = v.log_size()

    def tampered(p):
        f = bytearray(p.seal_frame([pr.HEARTBEAT, 0, 0, pr.ZERO32]))
        f[6] ^= 0x01                       # a ciphertext bit
        p.send_raw(bytes(f))

    def replayed(p):
        f = p.seal_frame([pr.HEARTBEAT, 0, 0, pr.ZERO32])
        p.send_raw(f)
        check(len(p.get_headers(1, 1)) == 1, "no answer after a heartbeat")
        p.send_raw(f)

    def reordered(p):
        f1 = p.seal_frame([pr.HEARTBEAT, 0, 0, pr.ZERO32])
        f2 = p.seal_frame([pr.HEARTBEAT, 0, 0, pr.ZERO32])
        p.send_raw(f2 + f1)

    def reflected(p):
        head, body = p.read_frame()     # the node's own next frame
        p.send_raw(head + body)

    for name, act in (("tampered", tampered), ("replayed", replayed),
                      ("reordered", reordered), ("reflected", reflected)):
        p = fresh(v, g, name)
        act(p)
        reasons[name] = expect_closed(v, p, f"{name} frame", mark)

    # Before AUTH: after HELLO and WELCOME, a plain HEARTBEAT.
    p = pr.Peer(pr.connect("127.0.0.1", v.port), cl.dev_key("net-early"), g)
    p.send_hello()
    p.read_welcome()
    p.open_welcome()
    p.send_plain([pr.HEARTBEAT, 0, 0, pr.ZERO32])
    reasons["heartbeat before AUTH"] = expect_closed(
        v, p, "HEARTBEAT before AUTH", mark)

    # Before AUTH: a request right behind HELLO, WELCOME unread.
    p = pr.Peer(pr.connect("127.0.0.1", v.port), cl.dev_key("net-early2"),
                g)
    p.send_hello()
    p.send_plain([pr.GET_HEADERS, 1, 1, 1])
    reasons["GET_HEADERS before AUTH"] = expect_closed(
        v, p, "GET_HEADERS before AUTH", mark)

    # A peer message as the first frame: a client may not send it (§2).
    p = pr.Peer(pr.connect("127.0.0.1", v.port), cl.dev_key("net-early3"),
                g)
    p.send_plain([pr.HEARTBEAT, 0, 0, pr.ZERO32])
    head, body = p.read_frame()
    msg = pr.unpack(body)
    check(msg[0] == pr.ERROR, f"HEARTBEAT as first frame answered {msg}")
    reasons["HEARTBEAT first"] = expect_closed(v, p, "HEARTBEAT first",
                                               mark)
    check(not nh.events(v, "observer_connected", mark,
                        key=bytes(cl.dev_key("net-early").verify_key)
                        .hex()), "a session was opened without AUTH")
    return reasons


def run(args, tmp, made):
    c = made(nh.NetCluster(args, tmp, n=1, senders=4, block_interval=100,
                           chain_id="net-peer"))
    v = c.nodes[0]
    v.start()
    t0 = time.time()
    load = cl.Load(c, per_step=1)
    cl.wait(load, lambda: v.height() >= MIN_HEIGHT, 30,
            f"V did not reach {MIN_HEIGHT}")
    st = v.status()
    g = st["genesis_hash"]
    check(pr.genesis_hash(v.genesis) == g, "the genesis hash computed from "
          "genesis.json (PROTOCOL.md §5) is not the node's")
    base = v.client().call(cl.GET_BLOCK, 0, want=cl.BLOCK)[0]
    check(base[0][2] == g, "block 0's prev_hash is not the genesis hash")
    vals = [bytes.fromhex(x) for x in c.vals]

    top, txs, per_s = dialler(c, v, g, vals, base)
    otop = dialled(c, v, g, vals, base)
    h_before = v.height()
    reasons = bad_frames(v, g)
    nh.wait_for(lambda: v.height() >= h_before + 10, 10,
                "V stopped committing after the bad frames")
    check(fresh(v, g, "after").get_headers(1, 2), "no session after")
    c.stop_all()
    print(f"net/independent_peer: ok: dialled V, checked {top} headers and "
          f"blocks ({txs} transfers, heartbeats {per_s:.2f}/s); dialled by "
          f"O, checked {otop}; closed: " +
          ", ".join(f"{k} ({r})" for k, r in reasons.items()) +
          f"; {time.time() - t0:.1f} s")


if __name__ == "__main__":
    nh.main(run, "net-independent-peer")
