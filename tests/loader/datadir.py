#!/usr/bin/python3
"""datadir.py - what mchost does to its data directory when a start fails,
and the consensus engine recorded in mchost.json.

Usage: datadir.py MCHOST FIXTURES_DIR PLUGIN_DIR

With fixtures that write into the data dir and then fail (a store whose open
fails, an engine whose create fails; tests/loader/plugins/defect.h):
- on a data dir that does not exist, or exists empty: exit 2, one line
  naming the plugin and the reason, and afterwards the dir is as before
  (absent, or empty); a good start on it then works;
- on a dir that holds anything else: nothing of it is removed and no
  mchost.json is written.
With poa.so and the loader's solo engine (good-consensus.so):
- a dir run by poa, started with solo: refused with one line naming both
  engines, the dir unchanged (mchost.json byte for byte);
- the same with --switch-consensus but an engine whose create fails: refused,
  mchost.json unchanged;
- with --switch-consensus: starts, logs consensus_switched, mchost.json names
  solo, poa's state file is left as it was; poa is then refused in turn;
- a marker written before "consensus" was recorded: accepted, and completed;
- a start that cannot listen (a taken port): exit 1, a new dir not left;
- a second mchost on a running node's dir: refused, nothing removed;
- switch_consensus in a --config file: refused (command line only);
- a "consensus" that is not a name: refused as not a marker.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import hashlib

import refusals
from refusals import Checker, write_inputs


def snapshot(path):
    """refusals.snapshot with each file's content as its SHA-256, so that a
    failure prints a readable difference (state files are 128 KiB)."""
    snap = refusals.plain_snapshot(path)
    return snap and {k: v[:3] + (v[3] and hashlib.sha256(v[3]).hexdigest(),)
                     for k, v in snap.items()}


refusals.plain_snapshot = refusals.snapshot
refusals.snapshot = snapshot  # what Checker.refusal compares


class Env:
    def __init__(self, mchost, fx, plugins, work):
        self.mchost, self.fx, self.plugins, self.work = mchost, fx, plugins, work
        self.genesis, self.key = write_inputs(work)

    def plugin(self, name):
        """A fixture by its file name, or a shipped plugin (poa.so, json.so)."""
        fixture = os.path.join(self.fx, name)
        return fixture if os.path.exists(fixture) else os.path.join(
            self.plugins, name)

    def cmd(self, data_dir, consensus, store, *extra):
        return [self.mchost, "--consensus", self.plugin(consensus),
                "--store", self.plugin(store), "--data-dir", data_dir,
                "--genesis", self.genesis, "--key", self.key,
                "--listen", "127.0.0.1:0", *extra]

    def spawn(self, data_dir, consensus, store, *extra):
        """Runs mchost until it logs node_started.  Returns (the process,
        [log events]), or (None, its output) if it did not start."""
        p = subprocess.Popen(self.cmd(data_dir, consensus, store, *extra),
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        events, lines = [], []
        deadline = time.time() + 30
        for line in p.stderr:
            lines.append(line)
            try:
                events.append(json.loads(line).get("event"))
            except ValueError:
                pass
            if "node_started" in events or time.time() > deadline:
                break
        if "node_started" not in events:
            p.kill()
            p.wait()
            return None, "".join(lines)
        return p, events

    def start(self, data_dir, consensus, store, *extra):
        """spawn, then a stop with SIGTERM.  Returns (exit status,
        [log events]) or (None, output)."""
        p, events = self.spawn(data_dir, consensus, store, *extra)
        if p is None:
            return None, events
        time.sleep(0.3)  # a block or two
        p.send_signal(signal.SIGTERM)
        rest = p.stderr.read()
        rc = p.wait(timeout=30)
        for line in rest.splitlines():
            try:
                events.append(json.loads(line).get("event"))
            except ValueError:
                pass
        return rc, events


def marker(data_dir):
    """mchost.json's bytes, or b"" if there is none."""
    path = os.path.join(data_dir, "mchost.json")
    if not os.path.exists(path):
        return b""
    with open(path, "rb") as f:
        return f.read()


def marker_doc(data_dir):
    """mchost.json parsed, or {} if there is none."""
    txt = marker(data_dir)
    return json.loads(txt) if txt else {}


def started(c, env, what, data_dir, consensus, store, *extra):
    rc, events = env.start(data_dir, consensus, store, *extra)
    c.check(what + ": starts and stops with exit 0", rc == 0,
            f"exit {rc}\n{events}")
    return events if rc == 0 else []


def failed_start_cases(env):
    """(fixture, the other plugins, the line mchost must print)."""
    store_fx = env.plugin("dd-store-open-fails.so")
    engine_fx = env.plugin("dd-consensus-create-fails.so")
    return [
        ("store open fails", "poa.so", "dd-store-open-fails.so",
         f"mchost: store {store_fx}: cannot open: failed on purpose after "
         "writing"),
        ("consensus create fails", "dd-consensus-create-fails.so", "json.so",
         f"mchost: consensus {engine_fx}: create failed: invalid argument"),
    ]


def check_failed_starts(c, env):
    """A failed start leaves a missing or empty dir as it was."""
    for what, consensus, store, line in failed_start_cases(env):
        absent = os.path.join(env.work, "absent-" + store)
        empty = os.path.join(env.work, "empty-" + store)
        os.mkdir(empty, 0o700)
        for data_dir in (absent, empty):
            before = sorted(os.listdir(data_dir)) if os.path.exists(
                data_dir) else None
            mode = os.stat(data_dir).st_mode if before is not None else None
            # warn: the stores' own info lines are not the refusal's
            c.refusal(f"{what}, dir {'empty' if before == [] else 'absent'}",
                      env.cmd(data_dir, consensus, store, "--log-level",
                              "warn"), line)
            after = sorted(os.listdir(data_dir)) if os.path.exists(
                data_dir) else None
            c.check(f"{what}, dir {'empty' if before == [] else 'absent'}: "
                    "left as it was", after == before and
                    (mode is None or os.stat(data_dir).st_mode == mode),
                    f"before: {before}\nafter:  {after}")
        started(c, env, f"{what}: then poa.so and json.so on the same dir",
                empty, "poa.so", "json.so", "--new-validator")
        doc = marker_doc(empty)
        c.check(f"{what}: then mchost.json names poa and json",
                doc.get("consensus") == "poa" and doc.get("store") == "json",
                str(doc))


def check_full_dir_kept(c, env):
    """A dir that held anything is never cleaned, and never claimed."""
    full = os.path.join(env.work, "full")
    os.mkdir(full, 0o700)
    with open(os.path.join(full, "SENTINEL"), "w") as f:
        f.write("keep me\n")
    for what, consensus, store, line in failed_start_cases(env):
        c.refusal(f"{what}, dir not empty",
                  env.cmd(full, consensus, store, "--log-level", "warn"), line)
        sentinel = os.path.join(full, "SENTINEL")
        c.check(f"{what}, dir not empty: the sentinel is intact",
                os.path.exists(sentinel) and
                open(sentinel).read() == "keep me\n", "changed or gone")
        c.check(f"{what}, dir not empty: no mchost.json",
                not os.path.exists(os.path.join(full, "mchost.json")),
                str(os.listdir(full)))


def engine_line(data_dir, was, now):
    return (f"mchost: {data_dir}/mchost.json: data directory was run by "
            f"consensus '{was}', not '{now}' (its state is in "
            f"consensus-{was}.state; --switch-consensus moves this directory "
            f"to {now})")


def check_switch(c, env):
    d = os.path.join(env.work, "switch")
    started(c, env, "poa on a new dir", d, "poa.so", "json.so",
            "--new-validator")
    before = snapshot(d)
    old = marker(d)
    c.refusal("solo on a dir run by poa", env.cmd(d, "good-consensus.so",
                                                   "json.so"),
              engine_line(d, "poa", "solo"), before, d)
    c.refusal("--switch-consensus to an engine whose create fails",
              env.cmd(d, "dd-consensus-create-fails.so", "json.so",
                      "--switch-consensus", "--log-level", "warn"),
              "mchost: consensus ")
    c.check("--switch-consensus that failed: mchost.json unchanged",
            marker(d) == old, marker(d).decode())
    c.check("--switch-consensus that failed: nothing removed",
            set(before) <= set(snapshot(d)), str(snapshot(d).keys()))
    state = os.path.join(d, "consensus-poa.state")
    poa_state = open(state, "rb").read() if os.path.exists(state) else None
    events = started(c, env, "--switch-consensus to solo", d,
                     "good-consensus.so", "json.so", "--switch-consensus")
    c.check("--switch-consensus logs consensus_switched",
            "consensus_switched" in events, str(events))
    doc, was = marker_doc(d), json.loads(old or b"{}")
    c.check("--switch-consensus: mchost.json names solo, the rest as it was",
            doc.get("consensus") == "solo" and
            {k: v for k, v in doc.items() if k != "consensus"} ==
            {k: v for k, v in was.items() if k != "consensus"},
            f"before: {was}\nafter:  {doc}")
    c.check("--switch-consensus: poa's state file is left as it was",
            poa_state is not None and os.path.exists(state) and
            open(state, "rb").read() == poa_state, "changed or gone")
    before = snapshot(d)
    c.refusal("poa on the dir switched to solo",
              env.cmd(d, "poa.so", "json.so"), engine_line(d, "solo", "poa"),
              before, d)
    started(c, env, "solo again without the flag", d, "good-consensus.so",
            "json.so")


def check_old_marker(c, env):
    d = os.path.join(env.work, "old-marker")
    started(c, env, "poa on a new dir", d, "poa.so", "json.so",
            "--new-validator")
    doc = marker_doc(d)
    doc.pop("consensus", None)
    with open(os.path.join(d, "mchost.json"), "w") as f:
        json.dump(doc, f, indent="\t")
    events = started(c, env, "a marker without \"consensus\"", d, "poa.so",
                     "json.so")
    new = marker_doc(d)
    c.check("a marker without \"consensus\": completed with poa",
            new.get("consensus") == "poa" and
            {k: v for k, v in new.items() if k != "consensus"} == doc,
            f"before: {doc}\nafter:  {new}")
    c.check("a marker without \"consensus\": logs data_dir_marker_updated",
            "data_dir_marker_updated" in events, str(events))
    doc["consensus"] = 7
    with open(os.path.join(d, "mchost.json"), "w") as f:
        json.dump(doc, f)
    before = snapshot(d)
    c.refusal("\"consensus\": 7", env.cmd(d, "poa.so", "json.so"),
              f"mchost: {d}/mchost.json: not a MiniChain data directory "
              "marker", before, d)


def check_listen_fails(c, env):
    """A start that cannot listen never ran: a new dir is left as it was
    (exit 1: the environment, not the input)."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    d = os.path.join(env.work, "port-taken")
    cmd = env.cmd(d, "poa.so", "json.so", "--new-validator", "--log-level",
                  "error")
    cmd[cmd.index("127.0.0.1:0")] = f"127.0.0.1:{port}"
    rc, out, err = refusals.run(cmd)
    taken.close()
    c.check("a taken port: exit 1 and one line saying so",
            rc == 1 and err.splitlines() == [
                f"mchost: cannot listen on 127.0.0.1:{port}: address "
                "already in use"], f"exit {rc}\n{err}")
    c.check("a taken port: the data dir was not left behind",
            not os.path.exists(d), str(os.path.exists(d) and os.listdir(d)))


def check_in_use(c, env):
    """A second mchost on a running node's dir is refused and removes
    nothing, even when the running node's dir was new."""
    d = os.path.join(env.work, "in-use")
    first, events = env.spawn(d, "poa.so", "json.so", "--new-validator")
    c.check("a node on a new dir runs", first is not None, str(events))
    if first is None:
        return
    before = sorted(os.listdir(d))
    c.refusal("a second mchost on the same dir",
              env.cmd(d, "poa.so", "json.so"),
              f"mchost: data directory {d} is in use by another mchost")
    c.check("a second mchost on the same dir: nothing removed",
            set(before) <= set(os.listdir(d)) and
            "mchost.json" in before, f"before: {before}\n"
            f"after:  {sorted(os.listdir(d))}")
    first.send_signal(signal.SIGTERM)
    first.stderr.read()
    c.check("the first node then stops with exit 0",
            first.wait(timeout=30) == 0, str(first.returncode))


def check_config_file(c, env):
    cfg = os.path.join(env.work, "switch.json")
    with open(cfg, "w") as f:
        json.dump({"switch_consensus": True}, f)
    d = os.path.join(env.work, "never")
    c.refusal("switch_consensus in a config file",
              env.cmd(d, "poa.so", "json.so", "--config", cfg),
              f"mchost: {cfg}: \"switch_consensus\": a one-time migration, "
              "give --switch-consensus on the command line", None, d)


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: datadir.py MCHOST FIXTURES_DIR PLUGIN_DIR")
    mchost = sys.argv[1]
    fx, plugins = (os.path.abspath(p) for p in sys.argv[2:])
    c = Checker()
    with tempfile.TemporaryDirectory(prefix="mc-datadir-") as work:
        env = Env(mchost, fx, plugins, work)
        check_failed_starts(c, env)
        check_full_dir_kept(c, env)
        check_switch(c, env)
        check_old_marker(c, env)
        check_listen_fails(c, env)
        check_in_use(c, env)
        check_config_file(c, env)
    print(f"{c.failures} failure(s)")
    sys.exit(1 if c.failures else 0)


if __name__ == "__main__":
    main()
