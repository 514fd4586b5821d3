#!/usr/bin/python3
"""single_node.py - end-to-end test of one validator driven by mcli.

Makes keys and a one-validator genesis with mcli in a temporary folder,
starts mchost as a process, sends transfers with mcli (explicit and fetched
nonces, a nonce gap that waits in the queue, --wait), reads back balances,
blocks and transaction states, checks D/chain.json, refuses bad input
(a key file others may read, wrong chain id, overdraft, bad arguments),
stops the node with SIGTERM
(exit 0), restarts it on the same data dir and checks that it resumed where
it stopped and keeps committing.

    single_node.py --mchost PATH --mcli PATH --plugin-dir DIR

Every check raises with a message; the exit status is 0 only if all pass.
"""
import argparse
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

ALICE_START = 1_000_000


class Env:
    def __init__(self, args, tmp):
        self.mchost = args.mchost
        self.mcli = args.mcli
        self.plugin_dir = args.plugin_dir
        self.tmp = tmp
        self.node = None
        self.addr = None
        self.proc = None
        self.log = None

    def path(self, name):
        return os.path.join(self.tmp, name)

    def cli(self, *argv, expect=0):
        """Runs mcli; checks its exit status; returns (stdout, stderr)."""
        r = subprocess.run([self.mcli, *argv], capture_output=True, text=True,
                           timeout=120)
        if r.returncode != expect:
            raise AssertionError(
                f"mcli {' '.join(argv)}: exit {r.returncode}, expected "
                f"{expect}\nstdout: {r.stdout}\nstderr: {r.stderr}")
        return r.stdout, r.stderr

    def query(self, *argv, expect=0):
        """mcli COMMAND --node ADDR --json ...; returns the parsed object."""
        out, _ = self.cli(argv[0], "--node", self.addr, "--json", *argv[1:],
                          expect=expect)
        lines = out.strip().splitlines()
        check(len(lines) == 1, f"--json printed {len(lines)} lines: {out!r}")
        return json.loads(lines[0])

    def start(self):
        self.log = open(self.path("node.log"), "ab")
        # a key made for this test: it has never signed anything
        first = [] if os.path.exists(self.path("D")) else ["--new-validator"]
        self.proc = subprocess.Popen(
            [self.mchost, "--plugin-dir", self.plugin_dir, "--data-dir",
             self.path("D"), "--genesis", self.path("genesis.json"), "--key",
             self.path("validator.key"), "--listen", self.addr, *first],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            check(self.proc.poll() is None,
                  f"mchost exited with {self.proc.returncode}; see node.log")
            r = subprocess.run([self.mcli, "status", "--node", self.addr,
                                "--json"], capture_output=True, text=True)
            if r.returncode == 0:
                return json.loads(r.stdout)
            time.sleep(0.1)
        raise AssertionError("mchost did not answer within 20 s")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=20)
        self.log.close()
        check(rc == 0, f"mchost exited with {rc} after SIGTERM, expected 0")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_keys(env):
    alice, _ = env.cli("keygen", "--out", env.path("alice.key"))
    mode = stat.S_IMODE(os.stat(env.path("alice.key")).st_mode)
    check(mode == 0o600, f"key file mode {oct(mode)}, expected 0o600")
    before = open(env.path("alice.key")).read()
    _, err = env.cli("keygen", "--out", env.path("alice.key"), expect=1)
    check("exists" in err, f"overwrite refusal does not say why: {err}")
    check(open(env.path("alice.key")).read() == before, "key file changed")
    out, _ = env.cli("pubkey", "--key", env.path("alice.key"))
    check(out == alice, "pubkey differs from what keygen printed")
    val, err = env.cli("keygen", "--seed", "e2e-validator", "--out",
                       env.path("validator.key"))
    check("development only" in err, f"no dev-key warning: {err!r}")
    bob, _ = env.cli("keygen", "--seed", "e2e-bob")
    return alice.strip(), bob.strip(), val.strip()


def make_genesis(env, alice, val):
    env.cli("genesis", "--validator", val, "--alloc", f"{alice}={ALICE_START}",
            "--chain-id", "e2e-single", "--block-interval", "200",
            "--out", env.path("genesis.json"))
    g = json.load(open(env.path("genesis.json")))
    check(g["validators"] == [val], f"genesis validators {g['validators']}")
    check(g["alloc"] == {alice: ALICE_START}, f"genesis alloc {g['alloc']}")
    check(g["params"]["block_interval_ms"] == 200, "block interval not set")
    env.cli("genesis", "--validator", val, "--out", env.path("genesis.json"),
            expect=1)  # refuses to replace it without --force
    env.cli("genesis", "--validator", "nothex", "--out", env.path("g2.json"),
            expect=2)


def check_open_key_refused(env):
    """A key file group or others may read is refused by mcli and mchost,
    naming the file, its mode and the fix; mchost exits 2, writing
    nothing."""
    key = env.path("open.key")
    with open(env.path("validator.key")) as src, open(key, "w") as dst:
        dst.write(src.read())
    os.chmod(key, 0o644)
    _, err = env.cli("pubkey", "--key", key, expect=1)
    check(f"chmod 600 {key}" in err and "0644" in err,
          f"mcli: no mode and fix in {err!r}")
    data = env.path("D-open-key")
    r = subprocess.run(
        [env.mchost, "--plugin-dir", env.plugin_dir, "--data-dir", data,
         "--genesis", env.path("genesis.json"), "--key", key, "--listen",
         env.addr], capture_output=True, text=True, timeout=60)
    check(r.returncode == 2, f"mchost exit {r.returncode}, expected 2")
    check(f"chmod 600 {key}" in r.stderr, f"mchost: no fix in {r.stderr!r}")
    check(not os.path.exists(data), "mchost created the data dir")


def send(env, *extra, expect=0):
    return env.query("send", "--key", env.path("alice.key"), *extra,
                     expect=expect)


def transfers(env, bob):
    """Five transfers; returns their ids by nonce and the amounts sent."""
    ids = {}
    r = send(env, "--to", bob, "--amount", "10", "--nonce", "1")
    check(r["status"] == "admitted" and r["nonce"] == 1, f"send 1: {r}")
    ids[1] = r["txid"]
    r = send(env, "--to", bob, "--amount", "20")  # nonce fetched: 2
    check(r["nonce"] == 2, f"fetched nonce {r['nonce']}, expected 2")
    ids[2] = r["txid"]
    r = send(env, "--to", bob, "--amount", "30", "--wait")  # fetched: 3
    check(r["status"] == "committed" and r["nonce"] == 3, f"send 3: {r}")
    ids[3] = r["txid"]
    # nonce 5 leaves a gap: it waits in the queue until 4 arrives
    r = send(env, "--to", bob, "--amount", "50", "--nonce", "5")
    ids[5] = r["txid"]
    st = env.query("tx", ids[5])
    check(st["state"] == "queued", f"tx with a nonce gap is {st['state']}")
    r = send(env, "--to", bob, "--amount", "40", "--nonce", "4", "--wait")
    check(r["status"] == "committed", f"send 4: {r}")
    ids[4] = r["txid"]
    deadline = time.time() + 20
    while env.query("tx", ids[5])["state"] != "committed":
        check(time.time() < deadline, "nonce 5 never committed")
        time.sleep(0.1)
    return ids, 150


def check_reads(env, alice, bob, ids, sent):
    a = env.query("balance", "--account", alice)
    check(a["balance"] == ALICE_START - sent and a["nonce"] == 5 and
          a["next_nonce"] == 6, f"alice after transfers: {a}")
    b = env.query("balance", "--account", bob)
    check(b["balance"] == sent and b["nonce"] == 0, f"bob: {b}")
    for nonce, txid in ids.items():
        st = env.query("tx", txid)
        check(st["state"] == "committed", f"tx {nonce}: {st}")
        blk = env.query("block", str(st["height"]))
        check(blk["txs"][st["index"]]["id"] == txid,
              f"block {st['height']} lacks tx {txid} at {st['index']}")
        check(blk["txs"][st["index"]]["nonce"] == nonce, "wrong nonce in block")
        by_hash = env.query("block", blk["hash"])
        check(by_hash == blk, "block by hash differs from block by height")
    text, _ = env.cli("tx", "--node", env.addr, ids[1])
    check("committed at height" in text, f"tx text: {text!r}")


def check_chain_file(env, ids):
    # json.so folds its journal into chain.json at a clean stop: read the
    # file of a stopped node.
    chain = json.load(open(env.path("D/chain.json")))
    in_file = {t["id"] for blk in chain["blocks"] for t in blk["tx_list"]}
    check(set(ids.values()) <= in_file, "chain.json lacks a committed tx")
    for key in ("height", "prev_hash", "timestamp", "tx_list", "proposer_id",
                "signature", "block_hash"):
        check(key in chain["blocks"][-1], f"chain.json block lacks {key}")


def check_bad_input(env, alice, bob):
    r = send(env, "--to", bob, "--amount", "1", "--chain-id", "other-chain",
             expect=1)
    check(r["status"] == "rejected" and r["code"] == "ECHAINID", f"{r}")
    st = env.query("tx", r["txid"])
    check(st["state"] == "rejected" and st["code"] == "ECHAINID", f"{st}")
    r = send(env, "--to", bob, "--amount", str(ALICE_START * 2), expect=1)
    check(r["code"] == "EBALANCE", f"overdraft: {r}")
    r = send(env, "--to", bob, "--amount", "1", "--nonce", "1", expect=1)
    check(r["code"] == "ENONCE", f"replayed nonce: {r}")
    st = env.query("tx", "00" * 32)
    check(st["state"] == "unknown", f"unknown txid: {st}")
    env.cli("block", "--node", env.addr, "999999", expect=1)
    env.cli("send", "--node", env.addr, "--key", env.path("alice.key"), "--to",
            bob, "--amount", "ten", expect=2)
    env.cli("send", "--node", env.addr, "--key", env.path("alice.key"), "--to",
            "xyz", "--amount", "1", expect=2)
    env.cli("balance", "--node", env.addr, expect=2)
    env.cli("status", "--node", "127.0.0.1:1", expect=1)
    check(env.query("balance", "--account", alice)["nonce"] == 5,
          "a refused transfer changed the sender's nonce")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mchost", required=True)
    ap.add_argument("--mcli", required=True)
    ap.add_argument("--plugin-dir", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mc-e2e-") as tmp:
        env = Env(args, tmp)
        env.addr = f"127.0.0.1:{free_port()}"
        try:
            run(env)
        except BaseException:
            env.kill()
            log = env.path("node.log")
            if os.path.exists(log):
                sys.stderr.write(open(log).read()[-4000:])
            raise
    print("single_node: ok")


def run(env):
    alice, bob, val = make_keys(env)
    make_genesis(env, alice, val)
    check_open_key_refused(env)
    st = env.start()
    check(st["chain_id"] == "e2e-single" and st["validators"] == 1, f"{st}")
    ids, sent = transfers(env, bob)
    check_reads(env, alice, bob, ids, sent)
    check_bad_input(env, alice, bob)
    before = env.query("status")
    a_before = env.query("balance", "--account", alice)
    env.stop()
    check_chain_file(env, ids)
    after = env.start()
    check(after["height"] >= before["height"],
          f"height {after['height']} after restart < {before['height']}")
    check(after["genesis_hash"] == before["genesis_hash"], "genesis changed")
    a_after = env.query("balance", "--account", alice)
    check(a_after["balance"] == a_before["balance"] and
          a_after["nonce"] == a_before["nonce"], "balances changed on restart")
    r = send(env, "--to", bob, "--amount", "7", "--wait")
    check(r["status"] == "committed" and r["nonce"] == 6 and
          r["height"] > before["height"], f"after restart: {r}")
    check(env.query("balance", "--account", bob)["balance"] == sent + 7,
          "bob's balance after restart")
    env.stop()


if __name__ == "__main__":
    main()
