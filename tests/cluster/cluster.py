"""cluster.py - helpers shared by the multi-process tests on loopback.

A Cluster is n mchost validators in one temporary folder: dev keys made
with `mcli keygen --seed`, a genesis made with `mcli genesis` that funds a
set of senders (dev keys derived here, as docs/PROTOCOL.md §7 says), one
data dir, log file and free port per node, every node --peer the others.
Transfers are built and signed here from docs/PROTOCOL.md and sent over
the framed client protocol (Conn), so the tests check the node, not mcli.

Every check raises AssertionError with a message; the scripts that use
this module exit non-zero on the first failed check and print the tail of
every node's log.
"""
import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import msgpack
import nacl.signing

# Message types (docs/PROTOCOL.md §2).
SUBMIT_TX, SUBMIT_RESULT = 16, 17
GET_STATUS, STATUS = 18, 19
GET_ACCOUNT, ACCOUNT = 20, 21
GET_BLOCK, BLOCK = 22, 23
GET_TX, TX_STATUS = 24, 25
ERROR = 31

# Reason codes a test may name in its messages (docs/PROTOCOL.md §2.1).
CODE_NAMES = {-8: "EDECODE", -9: "ESIG", -10: "ECHAINID", -11: "ENONCE",
              -12: "ENONCEGAP", -13: "EBALANCE", -14: "EOVERFLOW",
              -15: "EFULL", -16: "EDUP", -25: "EZERO", -26: "ESELF",
              -1: "EINVAL"}


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def sha256(b):
    return hashlib.sha256(b).digest()


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def dev_key(name):
    """The development key: seed = SHA-256("minichain-dev-key:" || name)."""
    return nacl.signing.SigningKey(sha256(b"minichain-dev-key:" +
                                          name.encode()))


def make_tx(key, chain_id, to, amount, nonce):
    """Returns (wire form, txid) of a signed transfer (PROTOCOL.md §3)."""
    frm = bytes(key.verify_key)
    msg = pack(["mc-tx-v1", chain_id, frm, to, amount, nonce])
    return ["mc-tx-v1", chain_id, frm, to, amount, nonce,
            key.sign(msg).signature], sha256(msg)


def block_hash(block):
    """SHA-256 of the header bytes of a BLOCK answer (PROTOCOL.md §4)."""
    header = block[0]
    check(len(header) == 8 and header[0] == "mc-block-v1",
          f"bad block header {header}")
    return sha256(pack(header))


def free_ports(n):
    """n distinct ports that were free a moment ago."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Conn:
    """One framed client connection.  Requests may be pipelined: call()
    sends one and reads its answer, batch() sends many then reads them."""

    def __init__(self, port, timeout=10, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.rid = 0
        self.buf = b""

    def close(self):
        self.sock.close()

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("node closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_msg(self):
        (n,) = struct.unpack(">I", self._read_exact(4))
        check(0 < n <= 8 << 20, f"answer frame of {n} bytes")
        return msgpack.unpackb(self._read_exact(n), raw=False)

    def batch(self, requests, want):
        """Sends [(type, field...), ...] at once; returns the answers'
        fields in order, checking each answers its request with `want`."""
        out = []
        for start in range(0, len(requests), 256):
            chunk = requests[start:start + 256]
            frames, rids = [], []
            for mtype, *fields in chunk:
                self.rid += 1
                rids.append(self.rid)
                payload = pack([mtype, self.rid, *fields])
                frames.append(struct.pack(">I", len(payload)) + payload)
            self.sock.sendall(b"".join(frames))
            for rid in rids:
                msg = self.read_msg()
                check(msg[0] == want and msg[1] == rid,
                      f"expected answer {want} to request {rid}, got {msg}")
                out.append(msg[2:])
        return out

    def call(self, mtype, *fields, want):
        return self.batch([(mtype, *fields)], want)[0]

    def status(self):
        return self.call(GET_STATUS, want=STATUS)[0]


class Node:
    def __init__(self, cluster, idx, port, host="127.0.0.1"):
        self.c = cluster
        self.idx = idx
        self.port = port
        self.host = host
        self.addr = f"{host}:{port}"
        self.name = f"node-{idx}"
        self.key = cluster.path(f"validator-{idx}.key")
        self.data = cluster.path(f"node-{idx}")
        self.log_path = cluster.path(f"node-{idx}.log")
        self.genesis = cluster.path("genesis.json")
        self.peers = []
        self.extra_args = []  # more mchost flags (edge limits, say)
        self.proc = None
        self.conn = None
        self.started = []  # times of every start
        self.env = {}  # added to the environment mchost runs in

    def _enter(self):
        """Runs in the child between fork and exec (a subclass may move it
        elsewhere, e.g. into a network namespace)."""

    def start(self, wait=True):
        check(self.proc is None or self.proc.poll() is not None,
              f"{self.name} is already running")
        argv = [self.c.mchost, "--plugin-dir", self.c.plugin_dir,
                "--consensus", self.c.consensus, "--store", "json.so",
                "--data-dir", self.data, "--genesis", self.genesis,
                "--key", self.key, "--listen", self.addr,
                "--name", self.name]
        for p in self.peers:
            argv += ["--peer", p]
        if not os.path.exists(self.data):
            # a key made for this test: it has never signed anything
            argv.append("--new-validator")
        argv += self.extra_args
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log,
                                         stderr=subprocess.STDOUT,
                                         env={**os.environ, **self.env},
                                         preexec_fn=self._enter)
        self.started.append(time.time())
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            check(self.proc.poll() is None,
                  f"{self.name} exited with {self.proc.returncode}")
            try:
                self.conn = Conn(self.port, host=self.host)
                return self.conn.status()
            except OSError:
                self._drop_conn()
                time.sleep(0.05)
        raise AssertionError(f"{self.name} did not answer within {timeout} s")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _drop_conn(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def kill(self):
        """SIGKILL: the node gets no chance to clean up."""
        self._drop_conn()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=20)

    def stop(self):
        """SIGTERM, which must end in exit status 0 (OPERATIONS.md)."""
        self._drop_conn()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=20)
        check(rc == 0, f"{self.name} exited with {rc} after SIGTERM; "
              f"the lines of its log that are not JSON (a sanitizer's "
              f"report, say) begin:\n{self.non_json_log()[:2000]}")

    def non_json_log(self):
        with open(self.log_path, errors="replace") as f:
            return "".join(l for l in f if not l.startswith("{"))

    def client(self):
        if self.conn is None:
            self.conn = Conn(self.port, host=self.host)
        return self.conn

    def status(self):
        return self.client().status()

    def height(self):
        return self.status()["height"]

    def log_events(self, event, since=0):
        """The JSON log lines of `event` from byte offset `since` on."""
        out = []
        with open(self.log_path, "rb") as f:
            f.seek(since)
            for line in f:
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if obj.get("event") == event:
                    out.append(obj)
        return out

    def log_size(self):
        return os.path.getsize(self.log_path)


class Cluster:
    """n validators and `senders` funded accounts in a temporary folder."""

    def __init__(self, args, tmp, n=4, senders=20, balance=10**12,
                 chain_id="cluster", block_interval=200, view_timeout=1000,
                 max_txs=500):
        self.mchost, self.mcli = args.mchost, args.mcli
        self.plugin_dir = args.plugin_dir
        # a name looked up in plugin_dir, or a path (tests of raft.so)
        self.consensus = "poa.so"
        self.tmp = tmp
        self.chain_id = chain_id
        self.senders = [dev_key(f"cluster-sender-{i}") for i in range(senders)]
        self.balance = balance
        self.supply = balance * senders
        ports = free_ports(n)
        self.nodes = [Node(self, i, ports[i]) for i in range(n)]
        for node in self.nodes:
            node.peers = [o.addr for o in self.nodes if o is not node]
        self.vals = [self._keygen(f"cluster-validator-{i}", node.key)
                     for i, node in enumerate(self.nodes)]
        self.genesis(self.path("genesis.json"), chain_id, block_interval,
                     view_timeout, max_txs)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def cli(self, *argv):
        r = subprocess.run([self.mcli, *argv], capture_output=True,
                           text=True, timeout=60)
        check(r.returncode == 0, f"mcli {' '.join(argv)}: exit "
              f"{r.returncode}\n{r.stdout}{r.stderr}")
        return r.stdout.strip()

    def _keygen(self, seed, out):
        return self.cli("keygen", "--seed", seed, "--out", out)

    def genesis(self, out, chain_id, block_interval, view_timeout, max_txs):
        argv = ["genesis", "--chain-id", chain_id, "--out", out,
                "--block-interval", str(block_interval),
                "--view-timeout", str(view_timeout),
                "--max-txs", str(max_txs)]
        for v in self.vals:
            argv += ["--validator", v]
        for k in self.senders:
            argv += ["--alloc", f"{bytes(k.verify_key).hex()}={self.balance}"]
        self.cli(*argv)

    def start_all(self):
        for node in self.nodes:
            node.start(wait=False)
        for node in self.nodes:
            node.wait_ready()

    def shutdown(self):
        for node in self.nodes:
            if node.running():
                node.proc.kill()
                node.proc.wait()

    def report_exits(self):
        """Says which nodes are not running (call before shutdown())."""
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is not None:
                sys.stderr.write(f"---- {node.name} is not running: exit "
                                 f"status {node.proc.returncode}\n")

    def dump_logs(self, tail=3000):
        for node in self.nodes:
            if os.path.exists(node.log_path):
                text = open(node.log_path, errors="replace").read()
                sys.stderr.write(f"---- {node.name} log (tail) ----\n"
                                 f"{text[-tail:]}\n")

    def live(self):
        return [n for n in self.nodes if n.running()]

    def heights(self, nodes=None):
        return [n.height() for n in (nodes or self.nodes)]

    def wait_height(self, nodes, target, timeout, what):
        """Waits until every node in `nodes` reaches height `target`."""
        deadline = time.time() + timeout
        while True:
            hs = self.heights(nodes)
            if min(hs) >= target:
                return hs
            check(time.time() < deadline,
                  f"{what}: heights {hs} of {[n.name for n in nodes]} did "
                  f"not reach {target} within {timeout} s")
            time.sleep(0.1)

    def blocks(self, node, upto):
        """Blocks 0..upto of `node`, as BLOCK answers."""
        got = node.client().batch([(GET_BLOCK, h) for h in range(upto + 1)],
                                  want=BLOCK)
        for h, (b,) in enumerate(got):
            check(b is not None, f"{node.name} has no block {h}")
            check(b[0][1] == h, f"{node.name} answered height {b[0][1]} "
                  f"for {h}")
        return [b for (b,) in got]

    def check_agreement(self, nodes=None):
        """All nodes hold the same block hash at every height up to the
        lowest head.  Returns (height checked, blocks of the first node)."""
        nodes = nodes or self.nodes
        top = min(self.heights(nodes))
        chains = [self.blocks(n, top) for n in nodes]
        hashes = [[block_hash(b) for b in c] for c in chains]
        for h in range(top + 1):
            column = {hs[h] for hs in hashes}
            check(len(column) == 1, f"nodes disagree at height {h}: " +
                  ", ".join(f"{n.name}={hs[h].hex()[:16]}"
                            for n, hs in zip(nodes, hashes)))
            if h > 0:
                check(chains[0][h][0][2] == hashes[0][h - 1],
                      f"block {h} does not link to block {h - 1}")
        return top, chains[0]

    def check_supply(self, node):
        """The balances of every account the chain touched (the senders
        fund and receive every transfer here) sum to the genesis supply."""
        accts = [bytes(k.verify_key) for k in self.senders]
        got = node.client().batch([(GET_ACCOUNT, a) for a in accts],
                                  want=ACCOUNT)
        total = sum(a[1] for a in got)
        check(total == self.supply, f"{node.name}: total supply {total}, "
              f"genesis had {self.supply}")
        return {a[0]: a for a in got}

    def check_chain_txs(self, blocks):
        """No txid twice in `blocks`, and each sender's nonces in chain
        order are exactly 1..k.  Returns ({txid: height}, {sender: k})."""
        where, nonces = {}, {}
        for b in blocks:
            for tx in b[2]:
                txid = sha256(pack(tx[:6]))
                check(txid not in where, f"tx {txid.hex()} committed at "
                      f"heights {where.get(txid)} and {b[0][1]}")
                where[txid] = b[0][1]
                nonces.setdefault(tx[2], []).append(tx[5])
        for sender, ns in nonces.items():
            check(ns == list(range(1, len(ns) + 1)),
                  f"sender {sender.hex()[:16]} committed nonces "
                  f"{ns[:10]}... not 1..{len(ns)} in order")
        return where, {s: len(ns) for s, ns in nonces.items()}

    def check_chain(self):
        """The checks every test ends with: all nodes hold the same chain,
        no transfer is in it twice, each sender's nonces are contiguous,
        and on every node the supply is unchanged and each account's nonce
        is the number of its committed transfers.  Returns (top, blocks,
        where, counts) as check_agreement and check_chain_txs give them."""
        top, blocks = self.check_agreement()
        where, counts = self.check_chain_txs(blocks)
        for node in self.nodes:
            for pk, a in self.check_supply(node).items():
                check(a[2] == counts.get(pk, 0),
                      f"{node.name}: nonce {a[2]} of {pk.hex()[:16]} but "
                      f"the chain holds {counts.get(pk, 0)} of its transfers")
        return top, blocks, where, counts

    def wait_quiet(self, nodes, timeout):
        """Waits until no node has transfers in its mempool and all hold
        the same head; returns that height."""
        deadline = time.time() + timeout
        while True:
            st = [n.status() for n in nodes]
            pending = sum(s["mempool_ready"] + s["mempool_queued"]
                          for s in st)
            hs = {s["height"] for s in st}
            if pending == 0 and len(hs) == 1:
                return hs.pop()
            check(time.time() < deadline, f"not quiet after {timeout} s: "
                  f"{pending} pending, heights {sorted(hs)}")
            time.sleep(0.1)


class Load:
    """A steady stream of transfers, one per sender per round, each sent to
    a running node chosen round-robin with the nonce that node says is
    next.  Two nodes may be handed different transfers with one nonce
    (a node killed before it gossiped, a stale view): the chain must commit
    at most one of them, which check_chain_txs verifies.  Call step() from
    the test's own waiting loops; it never blocks for long."""

    def __init__(self, cluster, per_step=2):
        self.c = cluster
        self.turn = 0
        self.rounds = 0  # shifts senders across nodes from step to step
        self.sent = 0
        self.admitted = 0
        self.per_step = per_step
        self.last = 0.0
        self.txs = {}  # admitted: txid -> (sender, nonce, node idx, time)

    def step(self, min_gap=0.1):
        if time.time() - self.last < min_gap:
            return
        self.last = time.time()
        live = self.c.live()
        if not live:
            return
        self.rounds += 1
        for k in self.c.senders[self.turn % len(self.c.senders)::5]:
            node = live[(self.turn + self.rounds) % len(live)]
            self.turn += 1
            try:
                self._send(node, k)
            except (OSError, ConnectionError):
                node._drop_conn()  # it may be the one just killed

    def _send(self, node, key):
        conn = node.client()
        frm = bytes(key.verify_key)
        _, _, _, nxt = conn.call(GET_ACCOUNT, frm, want=ACCOUNT)
        senders = self.c.senders
        to = bytes(senders[(senders.index(key) + 1) % len(senders)]
                   .verify_key)
        reqs, meta = [], []
        for i in range(self.per_step):
            wire, txid = make_tx(key, self.c.chain_id, to, 1 + self.sent % 7,
                                 nxt + i)
            reqs.append((SUBMIT_TX, wire))
            meta.append((txid, nxt + i))
            self.sent += 1
        now = time.time()
        for (code, got), (txid, nonce) in zip(
                conn.batch(reqs, want=SUBMIT_RESULT), meta):
            if code == 0:
                check(got == txid, f"{node.name} computed txid "
                      f"{got.hex()} for {txid.hex()}")
                self.admitted += 1
                self.txs[txid] = (frm, nonce, node.idx, now)


def wait(load, cond, timeout, what):
    """Runs the load until cond() is true (and returns its value); fails
    after `timeout` s."""
    deadline = time.time() + timeout
    while True:
        load.step()
        got = cond()
        if got:
            return got
        check(time.time() < deadline, f"{what} within {timeout} s")
        time.sleep(0.05)


def run_for(load, secs):
    """Runs the load for `secs` seconds."""
    end = time.time() + secs
    while time.time() < end:
        load.step()
        time.sleep(0.05)


def main(run, prefix):
    """Parses --mchost --mcli --plugin-dir and calls run(args, tmp) in a
    fresh temporary folder, printing the nodes' logs if it fails."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--mchost", required=True)
    ap.add_argument("--mcli", required=True)
    ap.add_argument("--plugin-dir", required=True)
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary folder (printed) for a look")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix=f"mc-{prefix}-")
    cluster = None

    def made(c):
        nonlocal cluster
        cluster = c
        return c

    try:
        run(args, tmp, made)
    except BaseException:
        if cluster is not None:
            cluster.report_exits()
            cluster.shutdown()
            cluster.dump_logs()
        sys.stderr.write(f"{prefix}: FAILED; files in {tmp}\n")
        raise
    finally:
        if cluster is not None:
            cluster.shutdown()
    if args.keep:
        print(f"{prefix}: files in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
