"""fault.py - network namespaces, nftables cuts and checks for the fault tests.

The fault tests (DESIGN §8) run each mchost validator as a separate host:
its own network namespace, joined by a veth pair to a bridge in a hub
namespace the test also creates, so nothing is added to the root
namespace's networking.  This process moves itself into the hub namespace
(setns), where it owns the address .254 of the subnet and so can talk to
every node, including one cut off from the others: a cut is an nftables
table inside a node's namespace whose input and output chains drop
traffic from and to the given peer addresses, so the test's own client
traffic (from .254) still passes.  Healing deletes the table.

    hub namespace  mcf<pid>-h : bridge mcbr, 10.X.Y.254/24
    node namespace mcf<pid>-i : eth0 = 10.X.Y.(i+1)/24, mchost --listen there

Everything shared with the loopback cluster tests (keys, genesis, the
framed client protocol, agreement and supply checks) comes from
tests/cluster/cluster.py, imported, not copied.  Namespaces and processes
are removed in a finally block, at exit, and - for a run killed by a
timeout - by the next run, which deletes namespaces whose owning pid is
gone.  The nodes also get SIGKILL when this process dies (PR_SET_PDEATHSIG).

Where namespaces cannot be made (not root, no CAP_SYS_ADMIN, no `ip` or
`nft`), main() prints why and exits 77, which CMake reports as a skip.
"""
import atexit
import ctypes
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))

import cluster as cl  # noqa: E402  (path set just above)
from cluster import check  # noqa: E402

SKIP = 77
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
PORT = 7000
TABLE = "mcfault"
NS_RE = re.compile(r"^mcf(\d+)-(h|\d+)$")

_libc = ctypes.CDLL(None, use_errno=True)


class Skip(Exception):
    """The machine cannot run the test (the reason is the message)."""


def run(*argv, ok=True, stdin=None):
    """Runs a command; raises AssertionError naming it if it fails."""
    r = subprocess.run(argv, capture_output=True, text=True, input=stdin,
                       timeout=30)
    if ok:
        check(r.returncode == 0, f"{' '.join(argv)}: exit {r.returncode}: "
              f"{r.stderr.strip()}")
    return r


def setns(name):
    """Moves the calling thread into network namespace `name`."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale():
    """Deletes namespaces left by an earlier run that was killed (its pid is
    gone), after killing the processes still inside them."""
    r = run("ip", "netns", "list", ok=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = NS_RE.match(name)
        if not m or pid_alive(int(m.group(1))):
            continue
        pids = run("ip", "netns", "pids", name, ok=False).stdout.split()
        for p in pids:
            try:
                os.kill(int(p), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        run("ip", "netns", "del", name, ok=False)


class Net:
    """A hub namespace with a bridge and n node namespaces wired to it."""

    def __init__(self, n):
        pid = os.getpid()
        self.prefix = f"mcf{pid}"
        # 10.X.Y.0/24 from the pid: namespaces keep subnets apart anyway,
        # this only makes a leaked one easy to tell from a running one.
        self.subnet = f"10.{100 + (pid >> 8) % 150}.{pid & 255}"
        self.hub = f"{self.prefix}-h"
        self.names = [f"{self.prefix}-{i}" for i in range(n)]
        self.ips = [f"{self.subnet}.{i + 1}" for i in range(n)]
        self.made = []
        self.cut = [set() for _ in range(n)]  # peer indexes each node drops
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)

    def _add_ns(self, name):
        run("ip", "netns", "add", name)
        self.made.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")

    def create(self):
        self._add_ns(self.hub)
        run("ip", "-n", self.hub, "link", "add", "mcbr", "type", "bridge")
        run("ip", "-n", self.hub, "addr", "add", f"{self.subnet}.254/24",
            "dev", "mcbr")
        run("ip", "-n", self.hub, "link", "set", "mcbr", "up")
        for i, name in enumerate(self.names):
            self._add_ns(name)
            run("ip", "-n", self.hub, "link", "add", f"v{i}", "type", "veth",
                "peer", "name", "eth0", "netns", name)
            run("ip", "-n", self.hub, "link", "set", f"v{i}", "master",
                "mcbr", "up")
            run("ip", "-n", name, "addr", "add", f"{self.ips[i]}/24",
                "dev", "eth0")
            run("ip", "-n", name, "link", "set", "eth0", "up")
        setns(self.hub)

    def destroy(self):
        """Idempotent: back to the root namespace, every namespace gone."""
        if self.home is not None:
            if _libc.setns(self.home, CLONE_NEWNET) != 0:
                sys.stderr.write("fault: could not return to the first "
                                 "network namespace\n")
            os.close(self.home)
            self.home = None
        for name in reversed(self.made):
            for p in run("ip", "netns", "pids", name, ok=False).stdout.split():
                try:
                    os.kill(int(p), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            run("ip", "netns", "del", name, ok=False)
        self.made = []

    # ---- cuts ----

    def _apply(self, i):
        """Rewrites node i's table from self.cut[i] in one nft transaction
        (adding the table first makes the delete succeed if it is absent)."""
        script = f"add table inet {TABLE}\ndelete table inet {TABLE}\n"
        if self.cut[i]:
            addrs = ", ".join(self.ips[j] for j in sorted(self.cut[i]))
            script += (
                f"table inet {TABLE} {{\n"
                f" chain input {{ type filter hook input priority 0; "
                f"policy accept; ip saddr {{ {addrs} }} drop; }}\n"
                f" chain output {{ type filter hook output priority 0; "
                f"policy accept; ip daddr {{ {addrs} }} drop; }}\n}}\n")
        run("ip", "netns", "exec", self.names[i], "nft", "-f", "-",
            stdin=script)

    def partition(self, *groups):
        """Cuts every pair of nodes that are in different groups, in both
        directions (each side drops the other's address)."""
        for g in groups:
            for i in g:
                others = {j for h in groups if h is not g for j in h}
                self.cut[i] |= others
        for i in {i for g in groups for i in g}:
            self._apply(i)

    def isolate(self, i):
        self.partition([i], [j for j in range(len(self.names)) if j != i])

    def heal(self, nodes=None):
        """Deletes the table of `nodes` (all by default) and the matching
        half of every cut they were in."""
        nodes = range(len(self.names)) if nodes is None else nodes
        for i in nodes:
            for j in self.cut[i]:
                self.cut[j].discard(i)
            self.cut[i] = set()
        for i in range(len(self.names)):
            self._apply(i)

    def describe(self):
        return "; ".join(f"{i}x{sorted(c)}" for i, c in enumerate(self.cut)
                         if c) or "none"


# ---- the cluster on the namespaces ----

class FaultNode(cl.Node):
    """A cluster.Node that runs in namespace `ns` and listens on `ip`."""

    def __init__(self, cluster, idx, ns, ip):
        super().__init__(cluster, idx, PORT, host=ip)
        self.ns = ns
        self.ip = ip
        self.killed = []  # times of every kill -9

    def _enter(self):
        """Runs in the child between fork and exec."""
        setns(self.ns)
        if _libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL),
                       ctypes.c_ulong(0), ctypes.c_ulong(0),
                       ctypes.c_ulong(0)) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")

    def kill(self):
        self.killed.append(time.time())
        super().kill()


class FaultCluster(cl.Cluster):
    """cluster.Cluster whose nodes are FaultNodes on `net`."""

    def __init__(self, args, tmp, net, **kw):
        super().__init__(args, tmp, n=len(net.names), **kw)
        self.net = net
        # Same indexes, so the keys and data paths made above still fit.
        self.nodes = [FaultNode(self, i, net.names[i], net.ips[i])
                      for i in range(len(net.names))]
        for node in self.nodes:
            node.peers = [o.addr for o in self.nodes if o is not node]


# The load, and the waits that keep it running, are cluster.py's.
Load = cl.Load
wait = cl.wait
run_for = cl.run_for


# ---- the final audit ----

def agreed_low_head(c, st):
    """The lowest head of the statuses st if every node holds the same
    block at that height, else None.  A chain that goes on making empty
    blocks (poa.so, raft.so) rarely shows one head on every node at one
    instant; agreement at the lowest head is what settling means."""
    low = min(s["height"] for s in st)
    hashes = set()
    for n in c.nodes:
        got = n.client().batch([(cl.GET_BLOCK, low)], want=cl.BLOCK)
        (b,) = got[0]
        if b is None:
            return None
        hashes.add(cl.block_hash(b))
    return low if len(hashes) == 1 else None


def settle(c, timeout=40):
    """With the load stopped: waits until no node has a transfer ready and
    all nodes hold the same block at the lowest head, twice half a second
    apart.  Transfers may stay `queued` behind a nonce that was lost
    (audit() explains each)."""
    deadline = time.time() + timeout
    while True:
        st = [n.status() for n in c.nodes]
        ready = sum(s["mempool_ready"] for s in st)
        if ready == 0 and agreed_low_head(c, st) is not None:
            time.sleep(0.5)  # a gossip still on its way would show now
            st2 = [n.status() for n in c.nodes]
            low = agreed_low_head(c, st2)
            if sum(s["mempool_ready"] for s in st2) == 0 and low is not None:
                return low
        heads = {(s["height"], s["head_hash"]) for s in st}
        check(time.time() < deadline, f"not settled after {timeout} s: "
              f"{ready} ready, heads "
              f"{sorted((h, x.hex()[:12]) for h, x in heads)}")
        time.sleep(0.2)


def tx_states(c, txid):
    """GET_TX on every node: [state, height, index, code, tx] each."""
    return [n.client().call(cl.GET_TX, txid, want=cl.TX_STATUS)
            for n in c.nodes]


def audit(c, load):
    """The end-of-test checks every fault test shares.

    Agreement (one hash per height on all nodes, each block linking to the
    last), no txid committed twice, contiguous nonces 1..k per sender, the
    committed nonce on every node equal to k, constant supply.  Then every
    admitted transfer is accounted for: committed (and GET_TX says so on
    every node), or superseded (another transfer of that sender and nonce
    was committed: two nodes with different views each admitted one, the
    chain took one and every node reports the other as not pending), or
    lost in a crash: the node that admitted it was killed -9 after
    admitting it, no node holds it, and its nonce was never committed.  A
    mempool is memory only, so a transfer that a node admitted and then
    died before gossiping is gone; that is not a lost committed block, and
    the client sees it as unknown and resubmits.  Anything else fails.
    Returns counts for the summary line."""
    top, blocks, where, counts = c.check_chain()
    check(where, "no transfer was committed")
    committed_nonce = {}
    for b in blocks:
        for tx in b[2]:
            committed_nonce[(tx[2], tx[5])] = cl.sha256(cl.pack(tx[:6]))
    superseded = lost = stuck = 0
    lost_nonce = {}
    missing = [(t, m) for t, m in load.txs.items() if t not in where]
    for txid, (frm, nonce, idx, at) in sorted(missing, key=lambda x: x[1][1]):
        states = [s[0] for s in tx_states(c, txid)]
        other = committed_nonce.get((frm, nonce))
        if other is not None:
            check(other != txid, "internal: committed txid not found")
            check(all(s in ("rejected", "unknown") for s in states),
                  f"tx {txid.hex()[:16]} (nonce {nonce}) lost to "
                  f"{other.hex()[:16]} but nodes say {states}")
            superseded += 1
            continue
        node = c.nodes[idx]
        crashed = any(k > at for k in node.killed)
        behind = lost_nonce.get(frm)
        if behind is not None and nonce > behind and \
                all(s in ("queued", "rejected", "unknown") for s in states):
            stuck += 1  # waits behind a nonce lost in a crash
            continue
        check(crashed and all(s in ("rejected", "unknown") for s in states),
              f"tx {txid.hex()[:16]} of {frm.hex()[:16]} nonce {nonce}, "
              f"admitted by {node.name} at {at:.1f} (kills at "
              f"{[round(k, 1) for k in node.killed]}), was never committed "
              f"and nonce {nonce} was not used; nodes say {states}")
        lost += 1
        lost_nonce[frm] = min(nonce, lost_nonce.get(frm, nonce))
    for (txid, (frm, nonce, idx, _)) in load.txs.items():
        if txid in where:
            states = tx_states(c, txid)
            check(all(s[0] == "committed" and s[1] == where[txid]
                      for s in states),
                  f"tx {txid.hex()[:16]} is in block {where[txid]} but "
                  f"nodes say {[(s[0], s[1]) for s in states]}")
    return {"top": top, "committed": len(where), "admitted": len(load.txs),
            "superseded": superseded, "lost": lost, "stuck": stuck}


def check_stops(c):
    """SIGTERM ends every node with status 0 (a sanitizer report would not)."""
    for node in c.nodes:
        if node.running():
            node.stop()


# ---- the program around a test ----

def preflight():
    """Raises Skip with the reason if namespaces or nft are not usable."""
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            raise Skip(f"`{tool}` is not installed (Debian: iproute2, "
                       f"nftables)")
    if os.geteuid() != 0:
        raise Skip("needs root to create network namespaces")
    probe = f"mcf{os.getpid()}-probe"
    r = run("ip", "netns", "add", probe, ok=False)
    if r.returncode != 0:
        raise Skip(f"cannot create a network namespace: {r.stderr.strip()}")
    try:
        r = run("ip", "netns", "exec", probe, "nft", "add", "table", "inet",
                TABLE, ok=False)
        if r.returncode != 0:
            raise Skip(f"nftables does not work in a namespace: "
                       f"{r.stderr.strip()}")
    finally:
        run("ip", "netns", "del", probe, ok=False)


def main(test, prefix, n=4):
    """Parses the cluster arguments, builds the namespaces and calls
    test(args, tmp, net, made) (made(cluster) registers the cluster for
    clean-up and log dumps), then removes everything, also on failure."""
    reap_stale()
    try:
        preflight()
    except Skip as e:
        print(f"{prefix}: SKIPPED: {e}")
        sys.exit(SKIP)
    net = Net(n)
    atexit.register(net.destroy)
    # SIGTERM (ctest, a user) runs the clean-up too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def run_test(args, tmp, made):
        net.create()
        test(args, tmp, net, made)

    try:
        cl.main(run_test, prefix)
    finally:
        net.destroy()


def seed_from_env(prefix):
    """The flapping seed: $MC_FAULT_SEED or the clock, printed either way."""
    seed = int(os.environ.get("MC_FAULT_SEED", str(int(time.time()))))
    print(f"{prefix}: seed {seed} (rerun with MC_FAULT_SEED={seed})",
          flush=True)
    return seed, random.Random(seed)
