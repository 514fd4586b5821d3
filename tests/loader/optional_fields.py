#!/usr/bin/python3
"""optional_fields.py - mchost runs an engine whose vtable lacks on_peer/status.

Usage: optional_fields.py MCHOST MCLI FIXTURES_DIR

good-minvt.so is the loader tests' solo engine published with a vtable of
exactly MC_CONSENSUS_VTABLE_MIN_SIZE bytes that ends where an unmapped page
begins: a host that read its optional fields (on_peer, status) from the
plugin's own table instead of the loader's zero-filled copy would crash.
A one-validator node runs on it with good-store.so, commits blocks, and
answers `mcli status` (leader -1: the engine has no status function); it
then stops cleanly on SIGTERM.  The same node on good-consensus.so (the
whole table) reports leader 0, so the -1 is the missing field's doing.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refusals import Checker, write_inputs  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(mcli, addr):
    p = subprocess.run([mcli, "status", "--node", addr, "--json"],
                       capture_output=True, text=True, timeout=10)
    if p.returncode != 0:
        return None
    try:
        return json.loads(p.stdout)
    except ValueError:
        return None


def run_node(c, mchost, mcli, fx, work, engine, leader):
    genesis, key = write_inputs(work)
    data = os.path.join(work, "data-" + engine)
    addr = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if k != "MCHOST_PLUGIN_PATH"}
    node = subprocess.Popen(
        [mchost, "--consensus", os.path.join(fx, engine),
         "--store", os.path.join(fx, "good-store.so"), "--data-dir", data,
         "--genesis", genesis, "--key", key, "--listen", addr,
         "--new-validator"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    st = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and node.poll() is None:
        st = status(mcli, addr)
        if st is not None and st.get("height", 0) >= 2:
            break
        time.sleep(0.1)
    alive = node.poll() is None
    if alive:
        node.send_signal(signal.SIGTERM)
    try:
        _, err = node.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        node.kill()
        _, err = node.communicate()
    tail = "\n".join(err.splitlines()[-5:])
    c.check(f"{engine}: the node runs", alive,
            f"exit {node.returncode}\n{tail}")
    c.check(f"{engine}: mcli status answers and blocks commit",
            st is not None and st.get("height", 0) >= 2, str(st))
    c.check(f"{engine}: status names the engine",
            st is not None and st.get("consensus") == "solo", str(st))
    c.check(f"{engine}: leader {leader}",
            st is not None and st.get("leader") == leader, str(st))
    c.check(f"{engine}: clean stop on SIGTERM (exit 0)",
            node.returncode == 0, f"exit {node.returncode}\n{tail}")


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: optional_fields.py MCHOST MCLI FIXTURES_DIR")
    mchost, mcli, fx = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3])
    c = Checker()
    with tempfile.TemporaryDirectory(prefix="mc-optional-") as work:
        run_node(c, mchost, mcli, fx, work, "good-minvt.so", -1)
        run_node(c, mchost, mcli, fx, work, "good-consensus.so", 0)
    print(f"{c.failures} failure(s)")
    sys.exit(1 if c.failures else 0)


if __name__ == "__main__":
    main()
