#!/usr/bin/python3
"""bad_dialled_peer.py - a configured peer that serves invalid data is
banned and redialled only after its ban, not in a loop.

An observer node C dials (--peer) a python listener L on its own address;
validator V dials C.  Every time C connects, L completes the handshake,
claims a height far above the chain's and answers GET_HEADERS with a
header whose certificate does not verify.  C must punish L (`peer_banned`,
"invalid header"), redial it only when the ban ends (10 s, doubling), and
meanwhile follow the chain from V.  Over WATCH_S L may see at most
MAX_DIALS connections; the old node redialled such a peer about 12 times
a second.

    bad_dialled_peer.py --mchost PATH --mcli PATH --plugin-dir DIR
"""
import threading
import time

import net_helpers as nh
import peer as pr
import cluster as cl
from net_helpers import check

WATCH_S = 25
MAX_DIALS = 3   # the first, then after 10 s, then after 20 s more at most
LIAR = "127.0.3.1"


def bad_header(height, genesis):
    """A header that links nowhere, signed by nobody the chain knows."""
    key = cl.dev_key("not-a-validator")
    h = ["mc-block-v1", height, bytes(32), 1, bytes(32), bytes(32), 0,
         bytes(key.verify_key)]
    return [h, key.sign(pr.pack(h)).signature, b"\x90"]


def liar(lsock, genesis, dials, stop):
    """Accepts C's connections one after another and lies to each."""
    while not stop.is_set():
        try:
            p = pr.Peer.accept(lsock, cl.dev_key("liar"), genesis,
                               height=10**6, head=b"\x07" * 32, timeout=1)
        except (OSError, TimeoutError, pr.ProtocolError, pr.Closed):
            continue
        dials.append(time.time())

        def on_request(peer, msg):
            if msg[0] == pr.GET_HEADERS:
                peer.send([pr.HEADERS, msg[1], [bad_header(msg[2], genesis)]])
            else:
                peer.send([pr.BLOCKS, msg[1], []])
        p.on_request = on_request
        try:
            p.heartbeat(10**6, b"\x07" * 32)
            while not stop.is_set():
                try:
                    p.recv(0.5)
                except TimeoutError:
                    p.heartbeat(10**6, b"\x07" * 32)
        except (OSError, pr.Closed, pr.ProtocolError):
            pass
        p.close()


def run(args, tmp, made):
    c = made(nh.NetCluster(args, tmp, n=1, chain_id="net-bad-dial",
                           block_interval=100))
    v = c.nodes[0]
    lsock = pr.listener(LIAR)
    port = lsock.getsockname()[1]
    # C dials only the liar; V dials C (after its first redial delay), so
    # the liar is certainly the first peer C asks
    o = c.observer("watcher", peers=[f"{LIAR}:{port}"])
    v.peers = [o.addr]
    v.start()
    genesis = v.status()["genesis_hash"]
    dials, stop = [], threading.Event()
    t = threading.Thread(target=liar, args=(lsock, genesis, dials, stop),
                         daemon=True)
    t.start()
    t0 = time.time()
    o.start()
    nh.wait_for(lambda: nh.events(o, "peer_banned", reason="invalid header"),
                10, "C did not ban the peer that served an invalid header")
    while time.time() - t0 < WATCH_S:
        time.sleep(0.5)
    top = v.height()
    behind = top - o.height()
    stop.set()
    t.join(3)
    lsock.close()
    gaps = [round(b - a, 1) for a, b in zip(dials, dials[1:])]
    check(1 <= len(dials) <= MAX_DIALS, f"L saw {len(dials)} connections "
          f"in {WATCH_S} s (gaps {gaps} s): C redials a banned peer")
    check(all(g >= 9.5 for g in gaps), f"C redialled L after {gaps} s, "
          f"before its 10 s ban ended")
    check(behind <= 5, f"C is {behind} blocks behind V: it did not follow "
          f"the chain from the honest peer")
    c.stop_all()
    print(f"net/bad_dialled_peer: ok: {len(dials)} connection(s) to the "
          f"liar in {WATCH_S} s (gaps {gaps} s); C {behind} block(s) behind "
          f"V at height {top}")


if __name__ == "__main__":
    nh.main(run, "net-bad-dialled-peer")
