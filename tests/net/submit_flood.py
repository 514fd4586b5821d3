#!/usr/bin/python3
"""submit_flood.py - pipelined SUBMIT_TX through the batched admission.

A one-validator chain V (10 ms blocks).  Submitted transfers have their
signatures checked in batches on worker threads (host/admit.c), so the
node holds each one, and the connection it came from, until the batch is
done.  What a client controls here is how many it sends before reading
and when it hangs up.

1. Order and verdicts: one client pipelines ORDERED transfers of four
   senders, among them badly signed copies, exact duplicates and reused
   nonces, then reads.  Every request is answered once, in the order sent
   (SUBMIT_RESULTs keep a client's order even though refusals need no
   signature check), with the verdict each deserves: 0, ESIG, EDUP,
   ENONCE.  Every admitted transfer is committed.
2. Hang-ups: CLIENTS clients each write FLOOD transfers of a funded
   sender with bad signatures (each must be verified: these are the
   costly ones; see flood_frames) as fast
   as the node reads them, never read an answer, and reset their
   connection (SO_LINGER 0) while their transfers are being checked.  V
   survives (its log has no sanitizer report under ASan), answers
   GET_STATUS within SERVE_S throughout, keeps committing, and its peak
   RSS grows by less than MAX_GROWTH: what waits for verification is
   bounded (MC_ADMIT_MAX_WAITING), and what a client does not read stops
   being read.
3. V stops on SIGTERM with exit 0.

    submit_flood.py --mchost PATH --mcli PATH --plugin-dir DIR
"""
import os
import socket
import struct
import threading
import time

import net_helpers as nh
from net_helpers import check, cl, mib, MiB

ORDERED = 2000
CLIENTS = 4
FLOOD = 100000
SERVE_S = 2
SEND_S = 3
MAX_GROWTH = 96 * MiB
ESIG, ENONCE, EDUP = -9, -11, -16


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def submit_frame(rid, wire):
    return frame(cl.pack([cl.SUBMIT_TX, rid, wire]))


def spoil(wire):
    """The same transfer with one bit of its signature flipped."""
    sig = bytearray(wire[6])
    sig[5] ^= 0x10
    return wire[:6] + [bytes(sig)]


def ordered_case(c, v):
    """Part 1: returns how many transfers were admitted."""
    keys = c.senders[:4]
    nonce = {i: 0 for i in range(len(keys))}
    reqs, want = [], []
    prev = None
    for j in range(ORDERED):
        i = j % len(keys)
        to = bytes(keys[(i + 1) % len(keys)].verify_key)
        kind = j % 10
        if kind == 3:            # a bad copy of the next transfer
            wire, _ = cl.make_tx(keys[i], c.chain_id, to, 1, nonce[i] + 1)
            reqs.append((cl.SUBMIT_TX, spoil(wire)))
            want.append(ESIG)
        elif kind == 6 and prev:  # the bytes just sent, again
            reqs.append((cl.SUBMIT_TX, prev))
            # pending still (EDUP), unless a block committed it meanwhile
            # (ENONCE): blocks come every 10 ms, and the transfer before
            # it may have been admitted in an earlier verification batch
            want.append((EDUP, ENONCE))
        elif kind == 8 and nonce[i] > 0:  # a used nonce, other amount
            wire, _ = cl.make_tx(keys[i], c.chain_id, to, 2, nonce[i])
            reqs.append((cl.SUBMIT_TX, wire))
            want.append(ENONCE)
        else:
            nonce[i] += 1
            prev, _ = cl.make_tx(keys[i], c.chain_id, to, 1, nonce[i])
            reqs.append((cl.SUBMIT_TX, prev))
            want.append(0)
    conn = cl.Conn(v.port)
    got = [a[0] for a in conn.batch(reqs, want=cl.SUBMIT_RESULT)]
    conn.close()
    wrong = [(k, g, w) for k, (g, w) in enumerate(zip(got, want))
             if g != w and not (isinstance(w, tuple) and g in w)]
    check(not wrong, f"{len(wrong)} verdicts differ from what each "
          f"transfer deserves, first (index, got, want): {wrong[:5]}")
    return sum(1 for w in want if w == 0), nonce


class Flooder(threading.Thread):
    """Writes badly signed transfers without reading, then resets."""

    def __init__(self, port, frames):
        super().__init__(daemon=True)
        self.port = port
        self.data = b"".join(frames)
        self.sent = 0
        self.error = None

    def run(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port))
            s.settimeout(0.1)
            end = time.time() + SEND_S
            while self.sent < len(self.data) and time.time() < end:
                try:
                    self.sent += s.send(self.data[self.sent:
                                                  self.sent + (1 << 16)])
                except (socket.timeout, BlockingIOError):
                    pass  # the node is not reading us now
            # reset while transfers are still being checked
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
            s.close()
        except OSError as e:
            self.error = e


def flood_frames(c, k, first_nonce, count):
    """count transfers of funded sender k from first_nonce on, each with
    a signature that fails: every cheap check passes (or only the nonce
    gap fails, which admission verifies anyway), so each costs the node a
    verification, and each is other bytes (no cache of bad copies helps)."""
    key = c.senders[k]
    to = bytes(c.senders[(k + 1) % len(c.senders)].verify_key)
    wire, _ = cl.make_tx(key, c.chain_id, to, 1, first_nonce)
    wire = spoil(wire)
    out = []
    for n in range(count):
        w = list(wire)
        w[5] = first_nonce + n
        out.append(submit_frame(n + 1, w))
    return out


def cpu_s(node):
    """CPU seconds the node's process has used (all threads)."""
    with open(f"/proc/{node.proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(args, tmp, made):
    c = made(nh.NetCluster(args, tmp, n=1, senders=4, block_interval=10,
                           chain_id="submit-flood", max_txs=5000))
    v = c.nodes[0]
    if c.asan:
        nh.small_quarantine()
    c.start_all()
    nh.wait_for(lambda: v.height() >= 3, 20, "first blocks")

    admitted, nonce = ordered_case(c, v)
    deadline = time.time() + 20
    while time.time() < deadline:
        accts = [v.client().call(cl.GET_ACCOUNT,
                                 bytes(k.verify_key), want=cl.ACCOUNT)
                 for k in c.senders[:4]]
        if all(a[2] == nonce[i] for i, a in enumerate(accts)):
            break
        time.sleep(0.1)
    check(all(a[2] == nonce[i] for i, a in enumerate(accts)),
          f"not every admitted transfer was committed: nonces "
          f"{[a[2] for a in accts]}, want {list(nonce.values())}")
    print(f"part 1: {ORDERED} pipelined submissions answered in order; "
          f"{admitted} admitted and committed")

    frames = [flood_frames(c, k, nonce[k] + 1, FLOOD) for k in range(CLIENTS)]
    rss0, hwm0 = nh.mem(v)
    cpu0 = cpu_s(v)
    h0 = v.height()
    flooders = [Flooder(v.port, f) for f in frames]
    for f in flooders:
        f.start()
    worst = 0.0

    def served():
        t = nh.status_within(v.port, SERVE_S)
        check(t is not None, f"GET_STATUS not answered within {SERVE_S} s")
        return max(worst, t)

    while any(f.is_alive() for f in flooders):
        worst = served()
        time.sleep(0.2)
    for f in flooders:
        f.join()
        check(f.error is None, f"a flooder failed: {f.error}")
    sent = sum(f.sent for f in flooders)
    nh.wait_for(lambda: v.height() >= h0 + 10, 20, "blocks after the flood")
    worst = served()
    rss1, hwm1 = nh.mem(v)
    print(f"part 2: {CLIENTS} clients wrote {mib(sent)} of badly signed "
          f"transfers and reset; the node used {cpu_s(v) - cpu0:.1f} CPU s "
          f"(about 85 us a verification); status answered within {worst:.3f} s at "
          f"worst; VmRSS {mib(rss0)} -> {mib(rss1)}, VmHWM {mib(hwm0)} -> "
          f"{mib(hwm1)}")
    check(sent >= 1 * MiB, f"the flooders got only {sent} bytes in")
    check(hwm1 - hwm0 < MAX_GROWTH, f"peak RSS grew by {mib(hwm1 - hwm0)}, "
          f"over {mib(MAX_GROWTH)}")
    refused = v.log_events("frame_refused")
    check(not refused, f"frames refused: {refused[:3]}")

    v.stop()
    nh.check_clean(v)
    print("submit-flood: OK")


if __name__ == "__main__":
    nh.main(run, "submit-flood")
