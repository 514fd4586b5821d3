#!/usr/bin/python3
"""sdk10_plugins.py - plugins built against the frozen 1.0 headers load.

Usage: sdk10_plugins.py MCHOST KIND:PLUGIN.so...

For each plugin (built from tests/abi/sdk-1.0/include only), the current
mchost --plugin-info must exit 0 with a quiet stderr, report the expected
kind and report the plugin's ABI as 1.0 (which proves the 1.0 headers were
the ones compiled in) beside the host's own, newer or equal, 1.x.
"""
import os
import re
import subprocess
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    mchost = sys.argv[1]
    failures = 0

    def check(what, ok, detail):
        nonlocal failures
        print(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            print("      " + str(detail).replace("\n", "\n      "))
            failures += 1

    env = {k: v for k, v in os.environ.items() if k != "MCHOST_PLUGIN_PATH"}
    for arg in sys.argv[2:]:
        kind, path = arg.split(":", 1)
        name = os.path.basename(path)
        p = subprocess.run([mchost, "--plugin-info", path], capture_output=True,
                           text=True, timeout=30, env=env)
        f = dict(re.findall(r"^([a-z ]+):\s+(.*)$", p.stdout, re.M))
        check(f"{name}: --plugin-info exits 0", p.returncode == 0,
              f"exit {p.returncode}: {p.stdout}{p.stderr}")
        check(f"{name}: quiet stderr", p.stderr == "", p.stderr)
        check(f"{name}: kind {kind}", f.get("kind") == kind, p.stdout)
        check(f"{name}: built against ABI 1.0, host 1.x",
              re.fullmatch(r"1\.0 \(host 1\.\d+\)", f.get("abi", "")) is not None,
              p.stdout)
    print(f"{failures} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
