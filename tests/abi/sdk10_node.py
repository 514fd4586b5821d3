#!/usr/bin/python3
"""sdk10_node.py - a node runs on plugins built against the 1.0 headers.

Usage: sdk10_node.py --mchost MCHOST --mcli MCLI --consensus SOLO.so
                     --store STORE.so

--plugin-info only reads a descriptor; this drives both 1.0 plugins
through the current host for real.  One validator runs the 1.0 consensus
engine (tests/loader/plugins/solo.c) on the 1.0 store (hello-store): the
node must commit a transfer sent by mcli (--wait), report the balances,
stop cleanly on SIGTERM (exit 0), and reopen the same data directory with
every block and balance kept.  The host hands 1.0 plugins its 1.1 tables
(mc_host_api, mc_consensus_params with flags); a host that read past what
a 1.0 plugin provides would show up here, under ASan in build-asan.
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

START = 1_000


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, a, tmp):
        self.a = a
        self.tmp = tmp
        self.addr = f"127.0.0.1:{free_port()}"
        self.proc = None

    def path(self, name):
        return os.path.join(self.tmp, name)

    def cli(self, *argv):
        r = subprocess.run([self.a.mcli, *argv], capture_output=True,
                           text=True, timeout=120)
        check(r.returncode == 0, f"mcli {' '.join(argv)}: exit {r.returncode}"
              f"\n{r.stdout}{r.stderr}")
        return r.stdout

    def query(self, cmd, *argv):
        return json.loads(self.cli(cmd, "--node", self.addr, "--json", *argv))

    def start(self, first):
        log = open(self.path("node.log"), "ab")
        extra = ["--new-validator"] if first else []
        env = {k: v for k, v in os.environ.items()
               if k != "MCHOST_PLUGIN_PATH"}
        self.proc = subprocess.Popen(
            [self.a.mchost, "--consensus", self.a.consensus, "--store",
             self.a.store, "--data-dir", self.path("D"), "--genesis",
             self.path("genesis.json"), "--key", self.path("validator.key"),
             "--listen", self.addr, *extra],
            stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.time() + 20
        while time.time() < deadline:
            check(self.proc.poll() is None,
                  f"mchost exited {self.proc.returncode}:\n{self.node_log()}")
            r = subprocess.run([self.a.mcli, "status", "--node", self.addr,
                                "--json"], capture_output=True, text=True)
            if r.returncode == 0:
                return json.loads(r.stdout)
            time.sleep(0.1)
        raise AssertionError("mchost did not answer within 20 s")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=20)
        check(rc == 0, f"mchost exited {rc} after SIGTERM:\n{self.node_log()}")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def node_log(self):
        with open(self.path("node.log"), errors="replace") as f:
            return f.read()[-4000:]


def main():
    ap = argparse.ArgumentParser()
    for opt in ("--mchost", "--mcli", "--consensus", "--store"):
        ap.add_argument(opt, required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mc-abi10-") as tmp:
        n = Node(a, tmp)
        try:
            val = n.cli("keygen", "--seed", "abi10-validator", "--out",
                        n.path("validator.key")).strip()
            alice = n.cli("keygen", "--out", n.path("alice.key")).strip()
            bob = n.cli("keygen", "--seed", "abi10-bob").strip()
            n.cli("genesis", "--validator", val, "--alloc",
                  f"{alice}={START}", "--chain-id", "abi10",
                  "--block-interval", "100", "--out", n.path("genesis.json"))
            n.start(first=True)
            sent = n.query("send", "--key", n.path("alice.key"), "--to", bob,
                           "--amount", "7", "--wait")
            print("ok    a transfer committed through solo-1.0 on "
                  f"hello-store-1.0: {sent}")
            b = n.query("balance", "--account", bob)
            check(b.get("balance") == 7, f"bob's balance {b}")
            a_ = n.query("balance", "--account", alice)
            check(a_.get("balance") == START - 7 and a_.get("nonce") == 1,
                  f"alice's balance {a_}")
            print("ok    balances 993/7 and alice's nonce 1")
            head = n.query("status")
            n.stop()
            print("ok    SIGTERM: exit 0")
            again = n.start(first=False)
            h1 = head.get("height")
            h2 = again.get("height")
            check(isinstance(h1, int) and isinstance(h2, int) and h2 >= h1,
                  f"height {h1} before the restart, {h2} after")
            b = n.query("balance", "--account", bob)
            check(b.get("balance") == 7, f"after restart bob's balance {b}")
            print(f"ok    reopened at height {h2} (was {h1}), balances kept")
            n.stop()
        except AssertionError as e:
            n.kill()
            print(f"FAIL  {e}\n--- node.log ---\n{n.node_log()}")
            sys.exit(1)
        n.kill()
    print("0 failure(s)")


if __name__ == "__main__":
    main()
