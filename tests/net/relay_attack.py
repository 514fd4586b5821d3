#!/usr/bin/python3
"""relay_attack.py - a stranger relaying validators' handshakes gains nothing.

Two validators A and B (a 2-validator chain needs both for every block,
100 ms blocks).  B also has --peer S, a python listener, so the stranger
S sees genuine handshakes B starts.  While S runs its attacks, and
before, the test measures A's blocks per second.

S, with its own key, tries to be taken for B by A:
- swap: S dials B and A with its own ephemeral keys, opens B's WELCOME
  (it can: the ephemeral is its own) and puts B's key and B's responder
  signature into the AUTH it sends A.
- forge: AUTH to A naming B's key, signed by S.
- welcome relay: when B dials S (first time), S dials A with its own
  HELLO and passes A's WELCOME to B, so B would take S for A.
- byte relay: when B dials S again, S passes every byte of the handshake
  between B and a connection it opened to A, recording B's HELLO and
  AUTH; then it writes a frame of its own into the relayed link.  (A pure
  byte relay is a router: A and B authenticate each other through it,
  and the node closes the link as a duplicate of the A-B link anyway.
  After that B no longer dials S's address, so there is no third dial.)
- replay: later, on a new connection, S sends A the recorded HELLO and
  AUTH of B.

Asserts: A logs no `peer_connected` on any connection of S, and logs
`peer_refused` for every swap, forge and replay attempt; B logs
`peer_refused` for the relayed WELCOME; a frame S writes into a relayed
link gets it closed; A and B count one peer each throughout and commit at
least MIN_RATIO of their rate without S; both exit 0.

    relay_attack.py --mchost PATH --mcli PATH --plugin-dir DIR
"""
import socket
import threading
import time

import net_helpers as nh
import peer as pr
from net_helpers import check, cl

BASELINE_S = 5
MIN_RATIO = 0.6      # commit rate under attack / without, at least
ATTACK_MAX_S = 20    # long enough for B's redial backoff (5 s) twice


class Stranger:
    """S: attacks A in a loop (swap, forge) from source addresses
    127.0.0.50..59, and handles B's dials (welcome relay, then byte
    relay)."""

    def __init__(self, a, b, g, lsock, vals):
        self.a, self.b, self.g = a, b, g
        self.key = cl.dev_key("net-stranger")
        self.lsock = lsock
        self.b_pk = vals[1]
        self.a_addrs = set()     # S's ends of its connections to A
        self.attempts = {"swap": 0, "forge": 0, "replay": 0}
        self.b_dials = 0
        self.recorded = None     # B's HELLO and AUTH frames, A's WELCOME
        self.injected = None     # did A close the relayed link?
        self.relay_addr = None
        self.stop = threading.Event()
        self.errors = []
        self.src = 0

    def to_a(self):
        self.src = (self.src + 1) % 10
        p = pr.Peer(pr.connect("127.0.0.1", self.a.port,
                               src=f"127.0.0.{50 + self.src}"),
                    self.key, self.g)
        self.a_addrs.add(nh.local_addr(p.sock))
        return p

    def swap(self):
        pb = pr.Peer.dial("127.0.0.1", self.b.port, self.key, self.g,
                          src="127.0.0.60")
        pb.close()
        check(pb.remote_pk == self.b_pk, "B's WELCOME names another key")
        pa = self.to_a()
        pa.send_hello()
        pa.read_welcome()
        pa.open_welcome()
        pa.send_auth(pa.auth_message(pk=pb.remote_pk, sig=pb.sig_r))
        self.attempts["swap"] += 1
        check(pa.closed_within(3), "A kept a link whose AUTH carried B's "
              "responder signature")
        pa.close()

    def forge(self):
        pa = self.to_a()
        pa.send_hello()
        pa.read_welcome()
        pa.open_welcome()
        pa.send_auth(pa.auth_message(pk=self.b_pk))  # signed by S
        self.attempts["forge"] += 1
        check(pa.closed_within(3), "A kept a link whose AUTH named B's key "
              "with S's signature")
        pa.close()

    def attack_loop(self):
        try:
            while not self.stop.is_set():
                self.swap()
                self.forge()
                time.sleep(0.05)
        except Exception as e:
            self.errors.append(e)

    def byte_relay(self, rb):
        """Passes B's handshake to A and A's to B, recording them."""
        hello = rb.read_frame()
        ra = self.to_a()
        self.relay_addr = nh.local_addr(ra.sock)
        ra.send_raw(b"".join(hello))
        welcome = ra.read_frame()
        rb.send_raw(b"".join(welcome))
        auth = rb.read_frame()
        ra.send_raw(b"".join(auth))
        self.recorded = (b"".join(hello), b"".join(auth), b"".join(welcome))
        # S writes a frame of its own into the link: it holds no frame key
        # (the shared secret is B's and A's), so the best it can do is a
        # well-formed frame sealed under a key of its own.
        fake = pr.Peer(ra.sock, self.key, self.g)
        fake.send_key = pr.sha256(b"a guess")
        try:
            fake.send([pr.HEARTBEAT, 0, 1, pr.ZERO32])
        except OSError:
            pass  # A already closed it (a duplicate of the A-B link)
        self.injected = ra.closed_within(3)
        ra.close()

    def welcome_relay(self, rb):
        """Answers B's HELLO with the WELCOME A gives S for a HELLO of
        S's own: B would take S for A if it accepted it."""
        rb.read_frame()
        pa = self.to_a()
        pa.send_hello()
        rb.send_raw(b"".join(pa.read_frame()))
        check(rb.closed_within(3), "B kept a link answered with a WELCOME "
              "A made for another transcript")
        pa.close()

    def listen_loop(self):
        try:
            self.lsock.settimeout(0.2)
            while not self.stop.is_set() and self.b_dials < 2:
                try:
                    sock, _ = self.lsock.accept()
                except socket.timeout:
                    continue
                rb = pr.Peer(sock, self.key, self.g)
                try:
                    if self.b_dials == 0:
                        self.welcome_relay(rb)
                    else:
                        self.byte_relay(rb)
                    self.b_dials += 1
                finally:
                    rb.close()
        except Exception as e:
            self.errors.append(e)

    def replay_to_a(self):
        hello, auth, _ = self.recorded
        pa = self.to_a()
        pa.send_raw(hello)
        pa.read_frame()                 # A's fresh WELCOME
        pa.send_raw(auth)
        self.attempts["replay"] += 1
        check(pa.closed_within(3), "A kept a link that replayed B's "
              "recorded HELLO and AUTH")
        pa.close()


def run(args, tmp, made):
    c = made(nh.NetCluster(args, tmp, n=2, senders=2, block_interval=100,
                           chain_id="net-relay"))
    a, b = c.nodes
    s_port = cl.free_ports(1)[0]
    b.peers.append(f"127.0.0.1:{s_port}")   # B dials S (not yet there)
    c.start_all()
    t0 = time.time()
    nh.wait_for(lambda: min(c.heights()) >= 5, 20, "first blocks")
    g = a.status()["genesis_hash"]
    vals = [bytes.fromhex(v) for v in c.vals]
    mark_a, mark_b = a.log_size(), b.log_size()

    def peers_one():
        for n in (a, b):
            p = n.status()["peers"]
            check(p == 1, f"{n.name} counts {p} peers")

    base = nh.commit_rate(a, BASELINE_S)
    lsock = pr.listener(port=s_port)
    s = Stranger(a, b, g, lsock, vals)
    threads = [threading.Thread(target=s.attack_loop, daemon=True),
               threading.Thread(target=s.listen_loop, daemon=True)]
    h0, start = a.height(), time.time()
    for t in threads:
        t.start()
    last = [0.0]

    def watch():
        if time.time() - last[0] > 0.5:
            last[0] = time.time()
            peers_one()
        check(not s.errors, f"stranger: {s.errors}")

    nh.wait_for(lambda: (watch(), s.b_dials >= 2)[1], ATTACK_MAX_S,
                "B did not dial S twice")
    attacked = (a.height() - h0) / (time.time() - start)
    s.stop.set()
    for t in threads:
        t.join(10)
    lsock.close()
    check(not s.errors, f"stranger: {s.errors}")
    s.replay_to_a()
    check(s.injected, "A kept the relayed link after S wrote a frame of "
          "its own into it")
    check(attacked >= MIN_RATIO * base, f"A committed {attacked:.2f} "
          f"blocks/s under attack, {base:.2f} without")

    connected = [e for e in nh.events(a, "peer_connected", mark_a)
                 if e.get("peer") in s.a_addrs]
    check(not connected, f"A registered a connection of S as a "
          f"validator: {connected}")
    refused_a = [e for e in nh.events(a, "peer_refused", mark_a)
                 if e.get("peer") in s.a_addrs]
    want = sum(s.attempts.values())
    check(len(refused_a) >= want, f"A logged {len(refused_a)} peer_refused "
          f"for S's {want} swap, forge and replay attempts")
    refused_b = nh.events(b, "peer_refused", mark_b)
    check(len(refused_b) >= 1, "B logged no peer_refused for the relayed "
          "WELCOME of A")
    relay_reason = nh.close_reason(a, s.relay_addr, mark_a)
    peers_one()
    reasons = sorted({e.get("reason") for e in refused_a + refused_b})
    c.stop_all()
    print(f"net/relay_attack: ok: {base:.2f} blocks/s without S, "
          f"{attacked:.2f} with S ({s.attempts['swap']} swaps, "
          f"{s.attempts['forge']} forgeries, {s.b_dials} dials of B "
          f"relayed, 1 replay); A refused {len(refused_a)}, B refused "
          f"{len(refused_b)} ({', '.join(map(str, reasons))}); relayed "
          f"link closed by A: {relay_reason}; "
          f"{time.time() - t0:.1f} s")


if __name__ == "__main__":
    nh.main(run, "net-relay-attack")
