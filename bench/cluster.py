#!/usr/bin/python3
"""cluster.py - whole-node figures: mchost processes on loopback, driven by
`mcli load`, each figure printed beside a ceiling measured in the same run.

  cluster.py --mchost M --mcli C --plugin-dir P --ceiling B [--json]
             [--dir D] [--keep] [options] WHAT...

WHAT is one or more of:

  cluster  committed transfers/s and submit-to-commit latency (p50/p90/p99)
           of 1 and of 4 validators, per store plugin: saturated
           (--rate max), then paced at 25%, 50% and 90% of the saturated
           committed rate; 1 validator also at a fixed 1000 tx/s.  The
           ceiling: every transfer's signature is checked once per node
           (docs/PERFORMANCE.md), so 1 validator commits at most the
           all-core verify rate, and 4 validators sharing this machine's
           cores at most a quarter of it.  The runs with a latency target
           (1000 tx/s; 4 validators at 50%) also time a probe: one
           transfer at a time, GET_TX polled every 1 ms.
  sync     a chain of --blocks blocks of --txs transfers made on one
           validator; then a new observer node (a key not in the genesis)
           is started with --peer at it and timed until it holds the head
           the validator had when it started.  Transfers applied per second
           beside the all-core verify rate (target >= 0.7).
  pool     the memory of a node holding --pool-count pending transfers (a
           1-validator chain whose block interval is an hour, so nothing
           commits): VmRSS after minus before, per transfer, beside the
           64 MiB target.

The ceilings come from `bench-ceiling --json` (--ceiling), run first.
Every figure starts with the load average, since other work may share the
machine.  Every node runs with --max-requests-per-sec 1000000 (the default
2000 frames/s per client connection would cap the client, not the node)
and --max-conns-per-ip 64.

Text goes to stdout; with --json, one JSON object line per figure goes to
stdout and the headings and progress to stderr.  Nothing passes or fails:
an exit status other than 0 means a node or the client failed.

Only the standard library and the framed client of tests/cluster/cluster.py
(which needs python3-msgpack and python3-nacl) are used.
"""
import argparse
import json
import math
import random
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "cluster"))

# tests/cluster/cluster.py (the framed client), not this file: its folder
# is put first on the path just above.
import cluster as cl  # noqa: E402
from cluster import Conn, free_ports  # noqa: E402

MiB = 1 << 20
VERIFY_ALL = "ed25519_verify_all_cores"
VERIFY_ONE = "ed25519_verify_one_core"
NODE_FLAGS = ["--max-requests-per-sec", "1000000", "--max-conns-per-ip", "64"]
NODE_FLAGS_NOTE = ("mchost --max-requests-per-sec 1000000 (default 2000 per "
                   "client connection would cap the client) "
                   "--max-conns-per-ip 64")


class BenchError(Exception):
    pass


def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()


# ---- printing: the format of bench/ceiling.c (mc_bench_*) ----

def _value(v):
    if isinstance(v, (int, float)) and math.isfinite(v) and v == int(v) \
            and abs(v) < 1e15:
        return "%8.0f    " % v
    return "%12.3f" % v


def _num(v):
    """A JSON number: counts and bytes exact, others to 6 digits."""
    if v is None or not math.isfinite(v):
        return None
    if v == int(v) and abs(v) < 1e15:
        return int(v)
    return float("%.6g" % v)


class Report:
    """One report: text lines as they come, or one JSON object line."""

    def __init__(self, json_mode, bench, figure):
        self.json = json_mode
        self.obj = {"bench": bench, "figure": figure}
        if not json_mode:
            print(f"-- {figure}")

    def ceiling(self, name, value, unit, note=None):
        if self.json:
            o = {"value": _num(value), "unit": unit, "is_ceiling": True}
            if note:
                o["note"] = note
            self.obj[name] = o
            return
        line = f"ceiling  {name:<30} {_value(value)} "
        print(line + (f"{unit:<8}  ({note})" if note else unit))

    def figure(self, name, value, unit, ceiling_value=None,
               ceiling_name=None, note=None):
        ratio = None
        if ceiling_name and ceiling_value:
            ratio = value / ceiling_value
        if self.json:
            o = {"value": _num(value), "unit": unit}
            if ceiling_name:
                o["ceiling"] = ceiling_name
                o["ratio"] = _num(ratio)
            if note:
                o["note"] = note
            self.obj[name] = o
            return
        line = f"         {name:<30} {_value(value)} "
        line += f"{unit:<8}" if (ceiling_name or note) else unit
        if ceiling_name:
            line += (f"= {ratio:7.0f}x {ceiling_name}" if abs(ratio) >= 1000
                     else f"= {ratio:7.3g}x {ceiling_name}")
        if note:
            line += f"  ({note})"
        print(line)

    def note(self, key, text):
        if self.json:
            self.obj[key] = text
        else:
            print(f"  {key}: {text}")

    def end(self):
        if self.json:
            print(json.dumps(self.obj, separators=(",", ":")))
        sys.stdout.flush()


# ---- nodes ----

class Node:
    def __init__(self, net, name, key_seed, validator):
        self.net = net
        self.name = name
        self.port = free_ports(1)[0]
        self.addr = f"127.0.0.1:{self.port}"
        self.key = net.path(f"{name}.key")
        self.pubkey = net.b.mcli_run("keygen", "--seed", key_seed,
                                     "--out", self.key)
        self.data = net.path(name)
        self.log = net.path(f"{name}.log")
        self.validator = validator
        self.peers = []
        self.extra = []
        self.proc = None
        self.started = None

    def start(self):
        b = self.net.b
        argv = [b.args.mchost, "--plugin-dir", b.args.plugin_dir,
                "--consensus", "poa.so", "--store", self.net.store,
                "--data-dir", self.data, "--genesis", self.net.genesis,
                "--key", self.key, "--listen", self.addr,
                "--name", self.name] + NODE_FLAGS + self.extra
        for p in self.peers:
            argv += ["--peer", p]
        if self.validator and not os.path.exists(self.data):
            argv.append("--new-validator")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log,
                                         stderr=subprocess.STDOUT)
        self.started = time.monotonic()

    def status(self, timeout=5):
        c = Conn(self.port, timeout=timeout)
        try:
            return c.status()
        finally:
            c.close()

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with "
                                 f"{self.proc.returncode}; see {self.log}")
            try:
                return self.status()
            except OSError:
                time.sleep(0.02)
        raise BenchError(f"{self.name} did not answer in {timeout} s")

    def proc_status(self):
        """VmRSS and VmHWM of the process, in bytes."""
        out = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0]) * 1024
        return out

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Net:
    """n validators and `keys` funded senders of one new chain, in a new
    folder under the bench directory."""

    def __init__(self, b, n, store, interval_ms, max_txs, keys,
                 view_timeout_ms=1000):
        self.b = b
        self.store = store
        self.interval_ms = interval_ms
        self.dir = tempfile.mkdtemp(prefix="mc-cbench-", dir=b.dir)
        self.genesis = self.path("genesis.json")
        self.nodes = [Node(self, f"v{i}", f"bench-validator-{i}", True)
                      for i in range(n)]
        for node in self.nodes:
            node.peers = [o.addr for o in self.nodes if o is not node]
        self.keys = []
        allocs = []
        for i in range(keys):
            kf = self.path(f"sender-{i}.key")
            pk = b.mcli_run("keygen", "--seed", f"bench-sender-{i}",
                            "--out", kf)
            self.keys.append(kf)
            allocs += ["--alloc", f"{pk}=1000000000000"]
        # one more funded key, not given to mcli load: the probe's
        self.probe_key = cl.dev_key("bench-probe")
        allocs += ["--alloc",
                   f"{bytes(self.probe_key.verify_key).hex()}=1000000000000"]
        argv = ["genesis", "--chain-id", "bench", "--out", self.genesis,
                "--block-interval", str(interval_ms),
                "--view-timeout", str(view_timeout_ms),
                "--max-txs", str(max_txs)]
        for node in self.nodes:
            argv += ["--validator", node.pubkey]
        b.mcli_run(*argv, *allocs)
        self.extra = []

    def path(self, name):
        return os.path.join(self.dir, name)

    def start(self):
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_ready()
        # the first block proves the validators found each other
        deadline = time.monotonic() + 30
        while self.nodes[0].status()["height"] < 1:
            if time.monotonic() > deadline:
                raise BenchError(f"no block in 30 s; see {self.dir}")
            time.sleep(0.02)

    def observer(self, name):
        node = Node(self, name, f"bench-{name}", False)
        self.extra.append(node)
        return node

    def close(self):
        for node in self.nodes + self.extra:
            node.stop()
        if not self.b.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            say(self.b, f"   (kept {self.dir})")


# ---- the bench ----

def say(b, text):
    print(text, file=sys.stderr if b.args.json else sys.stdout, flush=True)


class Bench:
    def __init__(self, args):
        self.args = args
        os.makedirs(args.dir, exist_ok=True)
        self.dir = args.dir
        self.ceil = {}

    def mcli_run(self, *argv):
        r = subprocess.run([self.args.mcli, *argv], capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise BenchError(f"mcli {' '.join(argv)}: exit {r.returncode}\n"
                             f"{r.stdout}{r.stderr}")
        return r.stdout.strip()

    def ceilings(self):
        say(self, f"== bench-ceiling (load average {loadavg()})")
        r = subprocess.run([self.args.ceiling, "--json", "--dir", self.dir],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise BenchError(f"bench-ceiling: exit {r.returncode}\n"
                             f"{r.stderr}")
        c = json.loads(r.stdout.strip().splitlines()[-1])
        self.ceil = {k: v["value"] for k, v in c.items()
                     if isinstance(v, dict) and "value" in v}
        self.ceil_notes = {k: v.get("note") for k, v in c.items()
                           if isinstance(v, dict)}
        self.ceil["loadavg"] = loadavg()
        if self.args.json:
            print(r.stdout.strip(), flush=True)
        else:
            for k in (VERIFY_ONE, VERIFY_ALL, "fsync_p50", "fsync_p99"):
                unit = c[k]["unit"]
                note = c[k].get("note")
                line = f"ceiling  {k:<30} {_value(c[k]['value'])} "
                print(line + (f"{unit:<8}  ({note})" if note else unit))

    def load(self, net, rate, duration=None, count=None, conns=None,
             per_key=None, wait=None, tag="load"):
        """Runs mcli load against every validator of `net`; returns its
        JSON summary (with "exit" added)."""
        a = self.args
        argv = [a.mcli, "load", "--json", "--rate", str(rate)]
        for node in net.nodes:
            argv += ["--node", node.addr]
        for k in net.keys:
            argv += ["--key", k]
        if duration is not None:
            argv += ["--duration", str(duration)]
        if count is not None:
            argv += ["--count", str(count)]
        if conns is not None:
            argv += ["--conns", str(conns)]
        if per_key is not None:
            argv += ["--per-key", str(per_key)]
        errlog = net.path(f"{tag}.stderr")
        with open(errlog, "ab") as err:
            p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err,
                                 text=True)
        if wait is not None:
            return p
        out, _ = p.communicate(timeout=(duration or 60) + 200)
        try:
            res = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BenchError(f"mcli load printed no summary (exit "
                             f"{p.returncode}); see {errlog}")
        res["exit"] = p.returncode
        return res


# ---- cluster: throughput and latency ----

def ceiling_for(b, n):
    """(value, name, formula) of the verify ceiling for n validators."""
    if n == 1:
        return (b.ceil[VERIFY_ALL], VERIFY_ALL,
                "1 validator checks each transfer's signature once: "
                "committed_tps <= ed25519_verify_all_cores")
    two_one = 2 * b.ceil[VERIFY_ONE] / n
    return (b.ceil[VERIFY_ALL] / n, f"{VERIFY_ALL}/{n}",
            f"{n} validators on this machine each check every signature "
            f"once: committed_tps <= ed25519_verify_all_cores / {n} "
            f"(= {b.ceil[VERIFY_ALL] / n:.0f}/s; 2 x one-core / {n} = "
            f"{two_one:.0f}/s)")


def load_figure(b, what, store, n, interval, res, target=None):
    rep = Report(b.args.json, "cluster", what)
    rep.note("load_average", loadavg_at(res))
    rep.note("setup", f"{n} validator{'s' if n > 1 else ''}, {store}, "
             f"block interval {interval} ms, max {b.args.max_txs} "
             f"transfers/block, {res.get('keys')} keys on "
             f"{res.get('conns')} connections (window "
             f"{res.get('window')}, per key {res.get('per_key')}); "
             f"{NODE_FLAGS_NOTE}")
    cv, cname, formula = ceiling_for(b, n)
    rep.ceiling(cname, cv, "/s", "measured before this group of runs")
    rep.note("ceiling_formula", formula)
    rep.figure("committed_tps", res["committed_tps"], "/s", cv, cname)
    rep.figure("offered_tps", res["offered_tps"], "/s", cv, cname,
               f"asked {res['rate']}" if res.get("rate") else "rate max")
    for q in ("p50_ms", "p90_ms", "p99_ms", "max_ms"):
        note = None
        if target and q in target:
            ok = res[q] <= target[q]
            note = (f"target <= {target[q]} ms: "
                    f"{'met' if ok else 'not met'}")
        rep.figure(q, res[q], "ms", note=note)
    lat = res.get("_probe")
    if lat:
        for q, f in (("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99)):
            note = (f"{len(lat)} transfers one at a time, GET_TX every "
                    f"1 ms")
            if target and q in target:
                v = quantile(lat, f)
                note += (f"; target <= {target[q]} ms: "
                         f"{'met' if v <= target[q] else 'not met'}")
            rep.figure("probe_" + q, quantile(lat, f), "ms", note=note)
    rep.figure("admitted", res["admitted"], "tx")
    rep.figure("committed", res["committed"], "tx")
    rep.figure("refused", res["refused"], "tx",
               note=json.dumps(res.get("refused_by") or {}))
    rep.figure("missed", res.get("missed", 0), "tx",
               note="due but held back by the client")
    rep.figure("duration_s", res["duration_s"], "s",
               note="first offer to last commit")
    rep.figure("client_cpu_s", res.get("cpu_s", 0), "s",
               note="mcli load's own CPU, on the same cores")
    if res.get("exit"):
        rep.note("client_exit", f"mcli load exit {res['exit']}: not every "
                 f"admitted transfer was seen committed")
    rep.obj.update({"store": store, "validators": n,
                    "block_interval_ms": interval})
    rep.end()


def loadavg_at(res):
    return res.get("_loadavg", loadavg())


def probe(net, until, interval_ms, poll_s=0.001):
    """Until time.monotonic() reaches `until`: one transfer at a time
    from the probe key to node 0, then GET_TX polled every poll_s until it
    is committed.  Returns the submit-to-commit times in ms.  A second
    measure of the latency beside mcli load's, which sees commits by
    polling node 0's head and fetching each new block.
    The pause after each commit is random over one block interval: a
    fixed pause would submit at the same point of every block's cycle
    and measure that point only."""
    c = Conn(net.nodes[0].port)
    to = bytes(cl.dev_key("bench-validator-0").verify_key)
    out, nonce = [], 1
    try:
        while time.monotonic() < until:
            wire, txid = cl.make_tx(net.probe_key, "bench", to, 1, nonce)
            t0 = time.monotonic()
            code, _ = c.call(cl.SUBMIT_TX, wire, want=cl.SUBMIT_RESULT)
            if code != 0:
                raise BenchError(f"probe transfer refused: code {code}")
            nonce += 1
            while True:
                st = c.call(cl.GET_TX, txid, want=cl.TX_STATUS)
                if st[0] == "committed":
                    break
                if time.monotonic() > t0 + 30:
                    raise BenchError("probe transfer not committed in 30 s")
                time.sleep(poll_s)
            out.append((time.monotonic() - t0) * 1000)
            time.sleep(0.005 + random.uniform(0, interval_ms / 1000))
    finally:
        c.close()
    return out


def quantile(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")


def run_load(b, net, with_probe=False, **kw):
    la = loadavg()
    if not with_probe:
        res = b.load(net, **kw)
    else:
        p = b.load(net, wait=True, **kw)
        # mcli signs a paced run ahead, then offers for `duration` s
        t = time.monotonic()
        time.sleep(1.5)
        lat = probe(net, t + kw["duration"], net.interval_ms)
        out, _ = p.communicate(timeout=kw["duration"] + 200)
        try:
            res = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BenchError(f"mcli load printed no summary (exit "
                             f"{p.returncode}); see {net.dir}")
        res["exit"] = p.returncode
        res["_probe"] = lat
    res["_loadavg"] = la
    return res


def bench_cluster(b):
    a = b.args
    first = True
    for store in a.stores.split(","):
        store = store if store.endswith(".so") else store + ".so"
        for n in [int(x) for x in a.validators.split(",")]:
            interval = a.interval1 if n == 1 else a.interval4
            if not first:
                b.ceilings()  # again: other work on the machine moves it
            first = False
            say(b, f"== throughput and latency: {n} validator(s), {store}, "
                f"{interval} ms blocks (load average {loadavg()})")

            def fresh():
                net = Net(b, n, store, interval, a.max_txs, a.keys,
                          view_timeout_ms=max(1000, 10 * interval))
                net.start()
                return net

            # A fresh chain for each run: a store's cost may grow with the
            # chain (json.so rewrites it), and runs must not inherit one
            # another's backlog.
            net = fresh()
            try:
                sat = run_load(b, net, rate="max", duration=a.duration,
                               per_key=a.sat_per_key, tag="saturated")
            finally:
                net.close()
            load_figure(b, f"{n}v {store} saturated", store, n, interval,
                        sat)
            top = sat["committed_tps"]
            for pct in (25, 50, 90):
                rate = max(1, int(top * pct / 100))
                target = None
                if n > 1 and pct == 50:
                    target = {"p50_ms": 20, "p99_ms": 60}
                net = fresh()
                try:
                    res = run_load(b, net, rate=rate,
                                   duration=a.paced_duration,
                                   with_probe=target is not None,
                                   tag=f"paced{pct}")
                finally:
                    net.close()
                load_figure(b, f"{n}v {store} paced {pct}% of saturated",
                            store, n, interval, res, target)
            if n == 1:
                net = fresh()
                try:
                    res = run_load(b, net, rate=a.fixed_rate,
                                   duration=a.paced_duration,
                                   with_probe=True, tag="fixed")
                finally:
                    net.close()
                load_figure(b, f"1v {store} fixed {a.fixed_rate} tx/s",
                            store, n, interval, res, {"p50_ms": 10})


# ---- sync ----

def bench_sync(b):
    a = b.args
    store = a.sync_store
    total = a.blocks * a.txs
    say(b, f"== sync: {a.blocks} blocks x {a.txs} transfers on 1 validator "
        f"({store}, {a.interval1} ms blocks) (load average {loadavg()})")
    net = Net(b, 1, store, a.interval1, a.txs, a.keys)
    try:
        net.start()
        v = net.nodes[0]
        t0 = time.monotonic()
        made = run_load(b, net, rate="max", count=total, tag="make")
        make_s = time.monotonic() - t0
        if made.get("exit"):
            raise BenchError(f"making the chain: mcli load exit "
                             f"{made['exit']}")
        st = v.status()
        head = st["height"]
        la = loadavg()
        obs = net.observer("observer")
        obs.peers = [v.addr]
        obs.start()
        t_start = obs.started
        ready = None
        h = 0
        while True:
            if obs.proc.poll() is not None:
                raise BenchError(f"observer exited with "
                                 f"{obs.proc.returncode}; see {obs.log}")
            try:
                h = obs.status()["height"]
                if ready is None:
                    ready = time.monotonic() - t_start
            except OSError:
                pass
            if h >= head:
                break
            if time.monotonic() - t_start > a.sync_timeout:
                break
            time.sleep(0.01)
        sync_s = time.monotonic() - t_start
        vh = v.status()["height"]
        caught = h >= head
        rep = Report(a.json, "sync", "sync")
        rep.note("load_average", la)
        rep.note("setup", f"chain made by mcli load --rate max --count "
                 f"{total} with {len(net.keys)} keys on 1 validator "
                 f"({store}, block interval {a.interval1} ms, max "
                 f"{a.txs} transfers/block); then an observer ({store}, "
                 f"a key not in the genesis) started with --peer at it; "
                 f"time from its start until it holds the validator's head "
                 f"at that moment (the validator goes on making empty "
                 f"blocks); {NODE_FLAGS_NOTE}")
        rep.ceiling(VERIFY_ALL, b.ceil[VERIFY_ALL], "/s",
                    "measured at the start of this run")
        rep.ceiling("fsync_rate", b.ceil["fsync_rate"], "/s",
                    "one 4 KiB append + fdatasync")
        rep.note("ceiling_formula", "the observer checks every transfer's "
                 "signature once: transfers/s <= ed25519_verify_all_cores; "
                 "it stores every block durably: blocks/s <= fsync_rate")
        rep.figure("chain_blocks", head, "blocks")
        rep.figure("chain_transfers", made["committed"], "tx")
        rep.figure("make_s", make_s, "s",
                   note=f"{made['committed_tps']:.0f} tx/s committed while "
                   f"making it")
        if not caught:
            rep.note("result", f"observer at height {h} of {head} after "
                     f"{sync_s:.1f} s (--sync-timeout): rates below are "
                     f"for the part synced")
        rep.figure("sync_s", sync_s, "s",
                   note=f"node answered after {ready or 0:.2f} s")
        frac = min(h, head) / head if head else 0
        tps = made["committed"] * frac / sync_s
        rep.figure("transfers_per_s", tps, "/s", b.ceil[VERIFY_ALL],
                   VERIFY_ALL, "target >= 0.7x: " +
                   ("met" if tps >= 0.7 * b.ceil[VERIFY_ALL] else "not met"))
        rep.figure("blocks_per_s", min(h, head) / sync_s, "/s",
                   b.ceil["fsync_rate"], "fsync_rate")
        rep.figure("validator_head_after", vh, "blocks",
                   note="empty blocks made meanwhile")
        rep.obj.update({"store": store, "blocks": a.blocks, "txs": a.txs})
        rep.end()
    finally:
        net.close()


# ---- pool memory ----

def bench_pool(b):
    a = b.args
    count = a.pool_count
    say(b, f"== mempool memory: {count} pending transfers on 1 validator "
        f"(load average {loadavg()})")
    net = Net(b, 1, "leveldb.so", 3600000, a.max_txs, a.keys,
              view_timeout_ms=3600000)
    v = net.nodes[0]
    v.extra = ["--mempool-max-total", str(count),
               "--mempool-max-per-sender", str(count)]
    try:
        v.start()
        v.wait_ready()
        time.sleep(0.5)
        before = v.proc_status()
        la = loadavg()
        per_key = min(65536, -(-count // len(net.keys)) + 64)
        t0 = time.monotonic()
        p = b.load(net, rate="max", count=count, per_key=per_key,
                   wait=True, tag="pool")
        pending = 0
        try:
            while time.monotonic() - t0 < a.pool_timeout:
                st = v.status()
                pending = st["mempool_ready"] + st["mempool_queued"]
                if pending >= count or p.poll() is not None:
                    break
                time.sleep(0.1)
        finally:
            fill_s = time.monotonic() - t0
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                time.sleep(0.2)
                p.send_signal(signal.SIGINT)  # stop waiting for commits
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        time.sleep(0.5)  # let the node drop the client's buffers
        st = v.status()
        pending = st["mempool_ready"] + st["mempool_queued"]
        after = v.proc_status()
        rep = Report(a.json, "pool", "mempool memory")
        rep.note("load_average", la)
        rep.note("setup", f"1 validator (leveldb.so, block interval "
                 f"3600000 ms: nothing commits), --mempool-max-total {count} "
                 f"--mempool-max-per-sender {count}; mcli load --rate max "
                 f"--count {count} from {len(net.keys)} keys, stopped once "
                 f"the node held them; RSS from /proc/PID/status; "
                 f"{NODE_FLAGS_NOTE}")
        target = 64 * MiB
        rep.ceiling("target_bytes", target, "B",
                    "64 MiB for 100000 pending transfers")
        rep.figure("pending", pending, "tx", note=f"height {st['height']}; "
                   f"filled in {fill_s:.1f} s")
        rep.figure("rss_before", before["VmRSS"], "B")
        rep.figure("rss_after", after["VmRSS"], "B")
        grew = after["VmRSS"] - before["VmRSS"]
        scaled = grew * 100000 / pending if pending else float("nan")
        rep.figure("rss_growth", grew, "B", target, "target_bytes")
        rep.figure("rss_growth_per_100k", scaled, "B", target,
                   "target_bytes", "growth scaled to 100000 transfers")
        rep.figure("bytes_per_transfer", grew / pending if pending else
                   float("nan"), "B", target / 100000, "target_bytes/100000")
        rep.figure("vmhwm", after["VmHWM"], "B", target + before["VmRSS"],
                   "target_bytes+rss_before", "peak RSS")
        rep.obj.update({"count": count})
        rep.end()
    finally:
        net.close()


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="*", default=["cluster", "sync", "pool"],
                    choices=["cluster", "sync", "pool"])
    ap.add_argument("--mchost", required=True)
    ap.add_argument("--mcli", required=True,
                    help="an mcli whose `load` is the pipelined one")
    ap.add_argument("--plugin-dir", required=True)
    ap.add_argument("--ceiling", required=True, help="bench-ceiling")
    ap.add_argument("--dir", default=".", help="where node data goes")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", action="store_true",
                    help="keep each network's folder (data, logs)")
    ap.add_argument("--stores", default="json,leveldb")
    ap.add_argument("--validators", default="1,4")
    ap.add_argument("--keys", type=int, default=16,
                    help="funded keys mcli load sends from (16)")
    ap.add_argument("--interval1", type=int, default=10,
                    help="block interval ms, 1 validator (10)")
    ap.add_argument("--interval4", type=int, default=50,
                    help="block interval ms, more validators (50)")
    ap.add_argument("--max-txs", type=int, default=5000,
                    help="max_txs_per_block (5000)")
    ap.add_argument("--duration", type=int, default=12,
                    help="seconds of the saturated run (12)")
    ap.add_argument("--sat-per-key", type=int, default=256,
                    help="mcli load --per-key of the saturated run (256): "
                    "bounds the backlog, so the run ends soon after it "
                    "stops sending and its latency is that backlog's")
    ap.add_argument("--paced-duration", type=int, default=8,
                    help="seconds of each paced run (8)")
    ap.add_argument("--fixed-rate", type=int, default=1000)
    ap.add_argument("--blocks", type=int, default=2000,
                    help="sync: blocks of the chain (2000)")
    ap.add_argument("--txs", type=int, default=100,
                    help="sync: transfers per block (100)")
    ap.add_argument("--sync-store", default="leveldb.so")
    ap.add_argument("--sync-timeout", type=float, default=300)
    ap.add_argument("--pool-count", type=int, default=100000)
    ap.add_argument("--pool-timeout", type=float, default=180)
    args = ap.parse_args()
    b = Bench(args)
    try:
        b.ceilings()
        for w in args.what:
            {"cluster": bench_cluster, "sync": bench_sync,
             "pool": bench_pool}[w](b)
    except BenchError as e:
        print(f"cluster.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
