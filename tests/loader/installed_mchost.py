#!/usr/bin/python3
"""installed_mchost.py - an installed mchost finds its own plugins.

Usage: installed_mchost.py BUILD_DIR CONFIGURE_PREFIX

`cmake --install BUILD_DIR --prefix P` into a temporary folder, then the
whole tree is moved to another folder Q, so neither P nor the
configure-time prefix is where it now lives.  From a third working
directory, with MCHOST_PLUGIN_PATH unset and no --plugin-dir,
`Q/bin/mchost --plugin-info poa.so` and `... json.so` must succeed and name
the files under Q: found beside the executable, not in the build tree
(which mchost searches last) nor the configure-time prefix.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refusals import Checker  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: installed_mchost.py BUILD_DIR CONFIGURE_PREFIX")
    build, configured = sys.argv[1], os.path.realpath(sys.argv[2])
    c = Checker()
    with tempfile.TemporaryDirectory(prefix="mc-installed-") as work:
        first = os.path.join(work, "first-prefix")
        p = subprocess.run(["cmake", "--install", build, "--prefix", first],
                           capture_output=True, text=True, timeout=240)
        c.check("cmake --install --prefix " + first, p.returncode == 0,
                p.stdout + p.stderr)
        moved = os.path.join(work, "moved")
        shutil.move(first, moved)
        mchost = os.path.join(moved, "bin", "mchost")
        c.check("bin/mchost is installed", os.path.isfile(mchost), mchost)
        c.check("the tree is not at the configure-time prefix",
                not os.path.realpath(moved).startswith(configured + "/"),
                configured)
        cwd = os.path.join(work, "elsewhere")
        os.mkdir(cwd)
        env = {k: v for k, v in os.environ.items()
               if k != "MCHOST_PLUGIN_PATH"}
        for name, kind in (("poa.so", "consensus"), ("json.so", "store")):
            p = subprocess.run([mchost, "--plugin-info", name], cwd=cwd,
                               env=env, capture_output=True, text=True,
                               timeout=30)
            f = dict(re.findall(r"^([a-z ]+):\s+(.*)$", p.stdout, re.M))
            what = f"installed mchost --plugin-info {name}"
            c.check(what + ": exit 0", p.returncode == 0,
                    f"exit {p.returncode}: {p.stderr}")
            c.check(what + ": kind " + kind, f.get("kind") == kind, p.stdout)
            c.check(what + ": found in the moved tree",
                    os.path.realpath(f.get("file", "")).startswith(
                        os.path.realpath(moved) + "/"), f.get("file"))
    print(f"{c.failures} failure(s)")
    sys.exit(1 if c.failures else 0)


if __name__ == "__main__":
    main()
