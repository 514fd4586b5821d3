#!/usr/bin/python3
"""plugin_info.py - `mchost --plugin-info` describes every good plugin.

Usage: plugin_info.py MCHOST FIXTURES_DIR BUILD_PLUGIN_DIR

For the shipped plugins (poa.so, json.so, from the build tree's plugin
folder) and the loader tests' two good fixtures, mchost --plugin-info must
exit 0, print nothing on stderr, and print the kind, name, version and ABI
of the descriptor.  poa.so and json.so are also looked up by name through
--plugin-dir, the way an operator names them.  A shipped plugin that was
not built is a failure: the default build target makes both.
"""
import os
import re
import subprocess
import sys

from sdkabi import sdk_abi

MC_ABI = "%d.%d" % sdk_abi()

# file, folder key, kind, name
PLUGINS = [
    ("poa.so", "build", "consensus", "poa"),
    ("json.so", "build", "store", "json"),
    ("good-consensus.so", "fixtures", "consensus", "solo"),
    ("good-store.so", "fixtures", "store", "hello"),
]


def info(mchost, args):
    env = {k: v for k, v in os.environ.items() if k != "MCHOST_PLUGIN_PATH"}
    p = subprocess.run([mchost, "--plugin-info", *args], capture_output=True,
                       text=True, timeout=30, env=env)
    fields = dict(re.findall(r"^([a-z ]+):\s+(.*)$", p.stdout, re.M))
    return p.returncode, p.stderr, fields


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: plugin_info.py MCHOST FIXTURES_DIR BUILD_PLUGIN_DIR")
    mchost = sys.argv[1]
    folders = {"fixtures": sys.argv[2], "build": sys.argv[3]}
    failures = 0

    def check(what, ok, detail):
        nonlocal failures
        print(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            print("      " + str(detail))
            failures += 1

    for file, folder, kind, name in PLUGINS:
        path = os.path.join(folders[folder], file)
        if not os.path.isfile(path):
            check(f"{file} exists", False, f"{path} was not built")
            continue
        runs = [("by path", [path])]
        if folder == "build":
            runs.append(("by name", [file, "--plugin-dir", folders[folder]]))
        for how, args in runs:
            rc, err, f = info(mchost, args)
            what = f"--plugin-info {file} {how}"
            check(what + ": exit 0", rc == 0, f"exit {rc}: {err}")
            check(what + ": quiet stderr", err == "", err)
            check(what + ": file", f.get("file") == path, f)
            check(what + ": kind " + kind, f.get("kind") == kind, f)
            check(what + ": name " + name, f.get("name") == name, f)
            check(what + ": a version",
                  re.fullmatch(r"\S+", f.get("version", "")) is not None, f)
            check(what + ": ABI " + MC_ABI,
                  f.get("abi") == f"{MC_ABI} (host {MC_ABI})", f)
    print(f"{failures} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
