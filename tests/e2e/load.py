#!/usr/bin/python3
"""load.py - end-to-end test of `mcli load` against one validator.

Starts one mchost (poa.so, leveldb.so, blocks every 100 ms) in a temporary
folder, moves one key's nonce with `mcli send` first (so load must ask it),
then:

- `mcli load --count 2000 --rate max --json`: the summary says 2000
  admitted and 2000 committed, nothing outstanding, percentiles in order;
  and the chain agrees: the blocks the summary names hold exactly 2000
  transfers, all from the load's keys, with nonces that follow on from
  where each key stood, and the keys' nonces moved by 2000 in total;
- a paced run (`--rate 400 --duration 3`) offers about 400/s and every
  admitted transfer commits;
- a run during which another client spends one of the keys' nonces still
  ends with every admitted transfer committed (the key asks its nonce
  again after ENONCE);
- bad arguments exit 2.

    load.py --mchost PATH --mcli PATH --plugin-dir DIR

Every check raises with a message; the exit status is 0 only if all pass.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

KEYS = 4
START = 1_000_000_000


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.addr = f"127.0.0.1:{free_port()}"
        self.proc = None
        self.log = None

    def path(self, name):
        return os.path.join(self.tmp, name)

    def cli(self, *argv, expect=0, timeout=180):
        r = subprocess.run([self.args.mcli, *argv], capture_output=True,
                           text=True, timeout=timeout)
        if expect is not None and r.returncode != expect:
            raise AssertionError(
                f"mcli {' '.join(argv)}: exit {r.returncode}, expected "
                f"{expect}\nstdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def query(self, *argv):
        r = self.cli(argv[0], "--node", self.addr, "--json", *argv[1:])
        return json.loads(r.stdout)

    def start(self):
        self.log = open(self.path("node.log"), "ab")
        self.proc = subprocess.Popen(
            [self.args.mchost, "--plugin-dir", self.args.plugin_dir,
             "--store", "leveldb.so", "--data-dir", self.path("D"),
             "--genesis", self.path("genesis.json"), "--key",
             self.path("validator.key"), "--listen", self.addr,
             "--new-validator"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            check(self.proc.poll() is None,
                  f"mchost exited with {self.proc.returncode}; see node.log")
            r = self.cli("status", "--node", self.addr, "--json", expect=None)
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise AssertionError("mchost did not answer within 20 s")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(timeout=20)
            check(rc == 0, f"mchost exited with {rc} after SIGTERM")
        if self.log is not None:
            self.log.close()


def setup(node):
    val = node.cli("keygen", "--seed", "e2e-load-validator", "--out",
                   node.path("validator.key")).stdout.strip()
    pks = []
    for i in range(KEYS):
        pks.append(node.cli("keygen", "--seed", f"e2e-load-{i}", "--out",
                            node.path(f"u{i}.key")).stdout.strip())
    alloc = [a for pk in pks for a in ("--alloc", f"{pk}={START}")]
    node.cli("genesis", "--validator", val, *alloc, "--chain-id", "e2e-load",
             "--block-interval", "100", "--max-txs", "5000",
             "--out", node.path("genesis.json"))
    return pks


def key_args(node):
    return [a for i in range(KEYS) for a in ("--key", node.path(f"u{i}.key"))]


def load(node, *extra, expect=0):
    """Runs mcli load --json; returns its summary (the one stdout line)."""
    r = node.cli("load", "--node", node.addr, *key_args(node), "--json",
                 *extra, expect=expect)
    lines = r.stdout.strip().splitlines()
    check(len(lines) == 1, f"--json printed {len(lines)} lines: {r.stdout!r}")
    return json.loads(lines[0]), r.stderr


def nonces(node, pks):
    return [node.query("balance", "--account", pk)["nonce"] for pk in pks]


def check_summary(s, what):
    check(s["admitted"] == s["committed"] + s["displaced"] and
          s["outstanding"] == 0,
          f"{what}: admitted {s['admitted']}, committed {s['committed']}, "
          f"displaced {s['displaced']}, outstanding {s['outstanding']}")
    check(sum(s["refused_by"].values()) == s["refused"],
          f"{what}: refused_by does not add up to refused: {s}")
    check(s["sent"] >= s["admitted"] + s["refused"],
          f"{what}: sent {s['sent']} < admitted + refused: {s}")
    p = [s["p50_ms"], s["p90_ms"], s["p99_ms"], s["max_ms"]]
    check(0 < p[0] <= p[1] <= p[2] <= p[3] < 60_000,
          f"{what}: percentiles out of order or out of range: {p}")
    check(s["offered_tps"] > 0 and s["committed_tps"] > 0 and
          s["duration_s"] > 0, f"{what}: rates {s}")


def check_count_run(node, pks):
    before = nonces(node, pks)
    s, _ = load(node, "--count", "2000", "--rate", "max")
    check_summary(s, "--count 2000")
    check(s["admitted"] == 2000 and s["committed"] == 2000 and
          s["displaced"] == 0 and
          s["sent"] == s["admitted"] + s["refused"], f"--count 2000: {s}")
    # What the chain holds in the blocks the summary names.
    keys = set(pks)
    seen = {pk: [] for pk in pks}
    total = 0
    for h in range(s["first_height"], s["last_height"] + 1):
        blk = node.query("block", str(h))
        for tx in blk["txs"]:
            total += 1
            check(tx["from"] in keys, f"block {h}: a transfer from "
                  f"{tx['from']}, not one of the load's keys")
            seen[tx["from"]].append(tx["nonce"])
    check(total == 2000 and s["chain_txs"] == 2000,
          f"blocks {s['first_height']}..{s['last_height']} hold {total} "
          f"transfers (summary: {s['chain_txs']}), expected 2000")
    for i, pk in enumerate(pks):
        want = list(range(before[i] + 1, before[i] + 1 + len(seen[pk])))
        check(seen[pk] == want, f"key {i}: nonces {seen[pk][:5]}... do not "
              f"follow on from {before[i]}")
    after = nonces(node, pks)
    check(sum(after) - sum(before) == 2000,
          f"nonces moved by {sum(after) - sum(before)}, expected 2000")
    print(f"load: --count 2000 at max: offered {s['offered_tps']:.0f}/s, "
          f"committed {s['committed_tps']:.0f}/s, p50 {s['p50_ms']:.0f} ms, "
          f"p99 {s['p99_ms']:.0f} ms")


def check_paced_run(node):
    s, _ = load(node, "--rate", "400", "--duration", "3")
    check_summary(s, "--rate 400")
    # what was due was either sent or counted as missed, never more
    due = 400 * s["send_s"]
    check(abs(s["sent"] + s["missed"] - due) <= 20,
          f"--rate 400 for {s['send_s']} s: sent {s['sent']} + missed "
          f"{s['missed']}, expected {due:.0f}")
    check(200 <= s["offered_tps"] <= 440,
          f"--rate 400 offered {s['offered_tps']:.0f}/s")


def check_stale_nonce(node, pks):
    """Another client spends key 0's nonces while load runs."""
    p = subprocess.Popen(
        [node.args.mcli, "load", "--node", node.addr, *key_args(node),
         "--json", "--rate", "300", "--duration", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    sends = 0
    for _ in range(10):
        r = node.cli("send", "--node", node.addr, "--key", node.path("u0.key"),
                     "--to", pks[1], "--amount", "2", expect=None)
        sends += r.returncode == 0
        time.sleep(0.1)
    out, err = p.communicate(timeout=180)
    check(p.returncode == 0, f"load with a stale nonce: exit {p.returncode}"
          f"\nstdout: {out}\nstderr: {err}")
    s = json.loads(out.strip().splitlines()[-1])
    check_summary(s, "stale nonce")
    print(f"load: with another client on key 0: {sends} of its sends "
          f"admitted, load refused {s['refused_by']}")


def check_bad_args(node):
    base = ["load", "--node", node.addr, *key_args(node)]
    for extra in (["--rate", "fast"], ["--window", "0"], ["--conns", "0"],
                  ["--count", "-1"], ["--per-key", "70000"], ["--bogus"]):
        node.cli(*base, *extra, expect=2, timeout=20)
    node.cli("load", "--node", node.addr, "--key", node.path("u0.key"),
             expect=2)


def run(node):
    pks = setup(node)
    node.start()
    node.cli("send", "--node", node.addr, "--key", node.path("u0.key"),
             "--to", pks[1], "--amount", "5", "--wait")
    check_bad_args(node)
    check_count_run(node, pks)
    check_paced_run(node)
    check_stale_nonce(node, pks)
    node.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mchost", required=True)
    ap.add_argument("--mcli", required=True)
    ap.add_argument("--plugin-dir", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mc-e2e-load-") as tmp:
        node = Node(args, tmp)
        try:
            run(node)
        except BaseException:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.kill()
                node.proc.wait()
            log = node.path("node.log")
            if os.path.exists(log):
                sys.stderr.write(open(log).read()[-4000:])
            raise
    print("load: ok")


if __name__ == "__main__":
    main()
