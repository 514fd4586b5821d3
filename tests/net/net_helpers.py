"""net_helpers.py - what the network-edge tests (tests/net/) share.

They run real mchost processes through tests/cluster/cluster.py (keys,
genesis, the framed client protocol, log scanning, the final chain
check), talk to them as peers through peer.py, and measure them from
outside: blocks per second from GET_STATUS, memory from /proc/PID/status.
This module adds the nodes that are not genesis validators (observer
nodes), the measurements, and checks that a node stayed clean.
"""
import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))

import cluster as cl  # noqa: E402  (path set just above)
from cluster import check  # noqa: E402

MiB = 1 << 20
KiB = 1 << 10


class NetCluster(cl.Cluster):
    """A Cluster whose extra nodes (observers, late starters that are not
    in `nodes`) are shut down, reported and logged like the others."""

    def __init__(self, args, tmp, **kw):
        super().__init__(args, tmp, **kw)
        self.extra = []
        self.asan = is_asan(args.mchost)

    def observer(self, name, peers=()):
        """An mchost whose key (dev key `name`) is not in the genesis: it
        follows the chain as an observer.  Not started."""
        node = cl.Node(self, len(self.nodes) + len(self.extra),
                       cl.free_ports(1)[0])
        node.name = name
        node.key = self.path(f"{name}.key")
        node.data = self.path(name)
        node.log_path = self.path(f"{name}.log")
        node.peers = list(peers)
        node.pubkey = self._keygen(name, node.key)
        self.extra.append(node)
        return node

    def all_nodes(self):
        return self.nodes + self.extra

    def shutdown(self):
        for node in self.all_nodes():
            if node.running():
                node.proc.kill()
                node.proc.wait()

    def report_exits(self):
        for node in self.all_nodes():
            if node.proc is not None and node.proc.poll() is not None:
                sys.stderr.write(f"---- {node.name} is not running: exit "
                                 f"status {node.proc.returncode}\n")

    def dump_logs(self, tail=3000):
        for node in self.all_nodes():
            if os.path.exists(node.log_path):
                text = open(node.log_path, errors="replace").read()
                sys.stderr.write(f"---- {node.name} log (tail) ----\n"
                                 f"{text[-tail:]}\n")

    def stop_all(self):
        """SIGTERM to every running node: each must exit 0 with nothing
        but JSON in its log (Node.stop, check_clean)."""
        for node in self.all_nodes():
            if node.running():
                node.stop()
            if node.proc is not None:
                check_clean(node)


def is_asan(path):
    """True if the binary was built with AddressSanitizer."""
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


def check_clean(node):
    """The node's log holds no sanitizer report (ASan, UBSan, LSan print
    lines that are not JSON; the node itself writes only JSON)."""
    bad = [l for l in node.non_json_log().splitlines()
           if "Sanitizer" in l or "runtime error" in l]
    check(not bad, f"{node.name} logged a sanitizer report:\n" +
          "\n".join(bad[:20]))


def mem(node):
    """(VmRSS, VmHWM) of the node's process, in bytes."""
    out = {}
    with open(f"/proc/{node.proc.pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0]) * KiB
    return out["VmRSS"], out["VmHWM"]


def mib(n):
    return f"{n / MiB:.1f} MiB"


def commit_rate(node, secs, during=None):
    """Blocks per second the node commits over `secs` seconds, calling
    during() (if given) every 50 ms meanwhile."""
    h0, t0 = node.height(), time.time()
    while time.time() - t0 < secs:
        if during:
            during()
        time.sleep(0.05)
    return (node.height() - h0) / (time.time() - t0)


def wait_for(cond, timeout, what, step=0.05):
    """Returns cond()'s first true value; fails after `timeout` s."""
    deadline = time.time() + timeout
    while True:
        got = cond()
        if got:
            return got
        check(time.time() < deadline, f"{what} within {timeout} s")
        time.sleep(step)


def events(node, event, since=0, **match):
    """The node's log lines of `event` from byte `since` whose fields
    equal the keyword arguments."""
    return [e for e in node.log_events(event, since)
            if all(e.get(k) == v for k, v in match.items())]


def local_addr(sock):
    """"host:port" of our end, as the node logs the connection."""
    host, port = sock.getsockname()[:2]
    return f"{host}:{port}"


def close_reason(node, sock_addr, since=0, timeout=3):
    """The reason the node logged in `conn_closed` for the connection
    from `sock_addr`, or None if it logged none within `timeout` s."""
    deadline = time.time() + timeout
    while True:
        got = events(node, "conn_closed", since, peer=sock_addr)
        if got:
            return got[-1].get("reason")
        if time.time() >= deadline:
            return None
        time.sleep(0.05)


def status_within(port, secs, host="127.0.0.1", src=None):
    """Seconds a new client took to get a GET_STATUS answered, or None if
    it was not within `secs` (refused, closed or silent)."""
    t0 = time.time()
    s = socket.socket()
    try:
        if src:
            s.bind((src, 0))
        s.settimeout(secs)
        s.connect((host, port))
        conn = cl.Conn.__new__(cl.Conn)
        conn.sock, conn.rid, conn.buf = s, 0, b""
        conn.status()
        return time.time() - t0
    except (OSError, ConnectionError, AssertionError):
        return None
    finally:
        s.close()


def main(run, prefix):
    cl.main(run, prefix)


class Burst:
    """Transfers signed ahead and submitted pipelined, many per round trip:
    enough to fill blocks (and the gossip to every session) faster than
    cluster.Load, which asks for each sender's nonce first.  Each sender
    sends to the next one, 1 unit, nonces counted here from 1."""

    def __init__(self, c):
        self.c = c
        self.nonce = {bytes(k.verify_key): 0 for k in c.senders}
        self.admitted = 0
        self.refused = {}

    def submit(self, node, per_sender):
        """Submits per_sender transfers of every sender to `node` (at most
        the mempool's per-sender share, 256, at once); returns how many
        were admitted."""
        reqs = []
        keys = self.c.senders
        for i, k in enumerate(keys):
            frm = bytes(k.verify_key)
            to = bytes(keys[(i + 1) % len(keys)].verify_key)
            for _ in range(per_sender):
                self.nonce[frm] += 1
                wire, _ = cl.make_tx(k, self.c.chain_id, to, 1,
                                     self.nonce[frm])
                reqs.append((cl.SUBMIT_TX, wire))
        ok = 0
        for code, _ in node.client().batch(reqs, want=cl.SUBMIT_RESULT):
            if code == 0:
                ok += 1
            else:
                self.refused[code] = self.refused.get(code, 0) + 1
        self.admitted += ok
        return ok


def small_quarantine():
    """For memory measurements of an ASan mchost: ASan keeps freed memory
    in a quarantine of up to 256 MiB to catch late uses, so RSS would grow
    with the node's ordinary allocation churn (a JSON store rewriting the
    chain, say) whatever the limit under test does.  A 4 MiB quarantine
    keeps the figures about the node.  Takes effect for nodes started
    after the call; options already set (abort_on_error...) are kept."""
    old = os.environ.get("ASAN_OPTIONS", "")
    os.environ["ASAN_OPTIONS"] = (old + ":" if old else "") + \
        "quarantine_size_mb=4"


def kernel_send_queue(port):
    """Bytes the kernel holds unsent or unacknowledged on the established
    TCP connections of local port `port` (the node's side of its client
    connections): memory a non-reader costs outside the node's RSS."""
    import subprocess
    r = subprocess.run(["ss", "-Htn", "state", "established",
                        f"( sport = :{port} )"], capture_output=True,
                       text=True, timeout=10)
    total = 0
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            total += int(parts[1])
    return total
