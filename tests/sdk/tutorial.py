#!/usr/bin/python3
"""tutorial.py - docs/SDK.md's walk-through (§0) works as written.

Usage: tutorial.py --doc docs/SDK.md --build-dir B

Takes every ```sh block of the section "## 0." of the document, in order,
and runs them as one bash script (set -eu) in an empty folder, with MC set
to a checkout whose build/ is B and SDK to a new prefix.  The node's
address in the text is replaced by a free port, so that the test can run
beside others.  Then checks what the walk-through promises: the store
passed mc-store-check, mchost described it, the transfer reached the
other account, the chain is in the store's file, and the Raft engine
built from the installed example passed mc-consensus-sim.
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile

DOC_PORT = "127.0.0.1:7311"


def section_zero(doc):
    m = re.search(r"^## 0\..*?(?=^## \d)", doc, re.M | re.S)
    if m is None:
        sys.exit("tutorial.py: no section '## 0.' in the document")
    blocks = re.findall(r"^```sh\n(.*?)^```", m.group(0), re.M | re.S)
    if not blocks:
        sys.exit("tutorial.py: section 0 has no ```sh block")
    return blocks


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FAILURES = []


def check(what, ok, detail=""):
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        FAILURES.append(what)
        if detail:
            print("      " + str(detail).strip().replace("\n", "\n      "))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--doc", required=True)
    ap.add_argument("--build-dir", required=True)
    a = ap.parse_args()
    with open(a.doc) as f:
        blocks = section_zero(f.read())
    script = "set -eu\n" + "\n".join(blocks)
    check("the walk-through names the node's address it is tested with",
          DOC_PORT in script)
    script = script.replace(DOC_PORT, f"127.0.0.1:{free_port()}")
    with tempfile.TemporaryDirectory(prefix="mc-tutorial-") as work:
        mc = os.path.join(work, "minichain")
        os.makedirs(mc)
        os.symlink(os.path.abspath(a.build_dir), os.path.join(mc, "build"))
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": work,
               "MC": mc, "SDK": os.path.join(work, "sdk"), "LANG": "C"}
        p = subprocess.run(["bash", "-c", script], cwd=work, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=600)
        out = p.stdout
        check("every command of the walk-through succeeds (exit 0)",
              p.returncode == 0, out[-4000:])
        check("mc-store-check passed the store",
              re.search(r" [1-9][0-9]* passed, 0 failed", out) is not None,
              out[-2000:])
        check("mchost --plugin-info described it as a store",
              re.search(r"^kind:\s+store$", out, re.M) is not None)
        check("the transfer reached the other account (balance 7)",
              re.search(r"^balance\s+7$", out, re.M) is not None,
              out[-1500:])
        check("mc-consensus-sim passed the Raft engine (50 schedules)",
              re.search(r"50 schedules .*: 50 passed, 0 unsafe", out)
              is not None, out[-2000:])
        check("mchost --plugin-info described it as a consensus engine",
              re.search(r"^kind:\s+consensus$", out, re.M) is not None)
        log = os.path.join(work, "work", "mystore", "node", "hello-store.log")
        check("the chain is in the store's file (node/hello-store.log)",
              os.path.isfile(log) and os.path.getsize(log) > 0)
    print(f"{len(FAILURES)} failure(s)")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
