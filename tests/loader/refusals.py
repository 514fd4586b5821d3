#!/usr/bin/python3
"""refusals.py - mchost refuses every broken plugin before it touches anything.

Usage: refusals.py MCHOST FIXTURES_DIR

For each deliberately broken plugin (built by tests/loader/CMakeLists.txt)
this runs the real mchost with --consensus or --store set to it and a valid
genesis and key, twice: once with --data-dir an existing folder holding a
sentinel file, once with --data-dir a folder that does not exist.  Each run
must exit with status 2, print exactly one line on stderr naming the file
and the reason, print nothing on stdout, and leave the data dir exactly as
it was (same entries, modes, sizes, mtimes and contents; a missing folder
still missing).  `mchost --plugin-info` on each must give the same line and
exit 2 too.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import nacl.signing

from sdkabi import sdk_abi

MC_ABI = sdk_abi()  # checked against `mchost --version` below


def snapshot(path):
    """Everything about path that a write would change, or None if absent."""
    if not os.path.lexists(path):
        return None
    snap = {}
    for root, dirs, files in os.walk(path):
        for name in [root] + [os.path.join(root, f) for f in files + dirs]:
            st = os.lstat(name)
            content = None
            if os.path.isfile(name) and not os.path.islink(name):
                with open(name, "rb") as f:
                    content = f.read()
            snap[os.path.relpath(name, path)] = (
                st.st_mode, st.st_size, st.st_mtime_ns, content)
    return snap


def write_inputs(work):
    """A one-validator genesis and that validator's key file."""
    sk = nacl.signing.SigningKey(bytes(range(32)))
    pub = sk.verify_key.encode().hex()
    key = os.path.join(work, "node.key")
    with open(key, "w") as f:
        json.dump({"type": "ed25519", "public": pub,
                   "seed": bytes(range(32)).hex()}, f)
    os.chmod(key, 0o600)
    genesis = os.path.join(work, "genesis.json")
    with open(genesis, "w") as f:
        json.dump({"chain_id": "loader-test", "genesis_time_ms": 1764000000000,
                   "validators": [pub], "alloc": {pub: 1000},
                   "params": {"max_txs_per_block": 10,
                              "block_interval_ms": 200,
                              "view_timeout_ms": 1000}}, f)
    return genesis, key


def run(cmd):
    env = {k: v for k, v in os.environ.items() if k != "MCHOST_PLUGIN_PATH"}
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                           env=env)
    except subprocess.TimeoutExpired:
        return None, "", "(still running after 30 s: the plugin was accepted)"
    return p.returncode, p.stdout, p.stderr


def vtable_size(mchost, path):
    """The vtable size --plugin-info reports: the good fixtures are built
    with this host's headers, so theirs is the host's sizeof."""
    rc, out, _ = run([mchost, "--plugin-info", path])
    m = re.search(r"^vtable size: (\d+) bytes$", out, re.M)
    return int(m.group(1)) if rc == 0 and m else None


class Checker:
    def __init__(self):
        self.failures = 0

    def check(self, what, ok, detail):
        print(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            print("      " + detail.replace("\n", "\n      "))
            self.failures += 1

    def refusal(self, what, cmd, line, before=None, data_dir=None):
        rc, out, err = run(cmd)
        lines = err.splitlines()
        self.check(what + ": exit status 2", rc == 2, f"exit {rc}\n{err}")
        self.check(what + ": one line on stderr", len(lines) == 1,
                   f"{len(lines)} lines:\n{err}")
        self.check(what + ": the line names the file and the reason",
                   len(lines) >= 1 and lines[0].startswith(line),
                   f"want prefix: {line}\ngot:         {err}")
        self.check(what + ": nothing on stdout", out == "", out)
        if data_dir is not None:
            after = snapshot(data_dir)
            self.check(what + ": data dir untouched", after == before,
                       f"before: {before}\nafter:  {after}")


def cases(fx, sizes):
    major, minor = MC_ABI
    larger = ("vtable size {} is larger than any this host knows ({}, ABI "
              f"{major}.{minor}): ")
    vs = "(plugin: {}.{}, host: {}.{}), not loading"
    incompatible = "has incompatible ABI version " + vs
    return [
        ("--consensus", "bad-notelf.so", "not a shared object (no ELF header)"),
        ("--store", "bad-notelf.so", "not a shared object (no ELF header)"),
        ("--consensus", "bad-noentry.so", "no entry symbol mc_plugin_entry: "),
        ("--consensus", "bad-magic.so",
         "bad magic 0xdeadbeef, not a MiniChain plugin"),
        ("--consensus", "bad-abi-major.so",
         incompatible.format(major + 1, minor, major, minor)),
        ("--consensus", "bad-abi-minor.so",
         incompatible.format(major, minor + 1, major, minor)),
        ("--consensus", "bad-kind.so", "unknown plugin kind 7"),
        ("--consensus", "good-store.so",
         "is a store plugin, not a consensus plugin"),
        ("--store", "good-consensus.so",
         "is a consensus plugin, not a store plugin"),
        ("--consensus", "bad-nullfn.so",
         "required function 'on_commit' is NULL"),
        ("--consensus", "bad-smallvt.so", "vtable size 16 is smaller than"),
        ("--store", "bad-store-nullfn.so",
         "required function 'find_tx' is NULL"),
        ("--store", "bad-store-smallvt.so", "vtable size 16 is smaller than"),
        ("--consensus", "bad-hugevt.so",
         larger.format(1 << 30, sizes["consensus"])),
        ("--consensus", "bad-bigvt.so",
         larger.format(sizes["consensus"] + 8, sizes["consensus"])),
        ("--consensus", "bad-oddvt.so", "vtable size {} is not a multiple of"
         .format(sizes["consensus_min"] + 4)),
        ("--store", "bad-store-bigvt.so",
         larger.format(sizes["store"] + 8, sizes["store"])),
        ("--consensus", "bad-noname.so", "descriptor has an empty name"),
        ("--consensus", "bad-ctor-exit.so", "called exit(0) while loading"),
        ("--consensus", "bad-ctor-segv.so",
         "crashed with SIGSEGV (signal 11) while loading"),
        ("--consensus", "bad-entry-exit.so", "called exit(3) while loading"),
        ("--store", "bad-entry-abort.so",
         "crashed with SIGABRT (signal 6) while loading"),
        ("--consensus", "no-such-plugin.so",
         "No such file or directory"),
    ]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: refusals.py MCHOST FIXTURES_DIR")
    mchost, fx = sys.argv[1], os.path.abspath(sys.argv[2])
    c = Checker()
    rc, out, _ = run([mchost, "--version"])
    c.check("mchost --version names ABI %d.%d" % MC_ABI,
            rc == 0 and "plugin ABI %d.%d" % MC_ABI in out, out)
    with tempfile.TemporaryDirectory(prefix="mc-refusals-") as work:
        genesis, key = write_inputs(work)
        existing = os.path.join(work, "data")
        os.mkdir(existing, 0o700)
        with open(os.path.join(existing, "SENTINEL"), "w") as f:
            f.write("must survive every refusal\n")
        missing = os.path.join(work, "absent")
        sizes = {k: vtable_size(mchost, os.path.join(fx, f)) for k, f in
                 (("consensus", "good-consensus.so"),
                  ("store", "good-store.so"),
                  ("consensus_min", "good-minvt.so"))}
        c.check("vtable sizes of the good fixtures", None not in
                sizes.values(), str(sizes))
        if None in sizes.values():
            sys.exit(1)
        for opt, name, reason in cases(fx, sizes):
            path = os.path.join(fx, name)
            # --store cases need a consensus plugin that loads first.
            other = (["--consensus", os.path.join(fx, "good-consensus.so")]
                     if opt == "--store" else
                     ["--store", os.path.join(fx, "good-store.so")])
            line = f"mchost: cannot load plugin {path}: {reason}"
            for data_dir in (existing, missing):
                before = snapshot(data_dir)
                cmd = [mchost, opt, path, *other, "--data-dir", data_dir,
                       "--genesis", genesis, "--key", key,
                       "--listen", "127.0.0.1:0"]
                c.refusal(f"{opt} {name} (data dir "
                          f"{'exists' if before else 'absent'})",
                          cmd, line, before, data_dir)
            # --plugin-info accepts either kind, so a good plugin of the
            # other kind is described there, not refused.
            if not name.startswith("good-"):
                c.refusal(f"--plugin-info {name}",
                          [mchost, "--plugin-info", path], line)
        c.check("the sentinel is intact",
                open(os.path.join(existing, "SENTINEL")).read()
                == "must survive every refusal\n", "changed")
        c.check("the absent data dir was never created",
                not os.path.exists(missing), "it exists")
    print(f"{c.failures} failure(s)")
    sys.exit(1 if c.failures else 0)


if __name__ == "__main__":
    main()
