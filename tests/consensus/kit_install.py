#!/usr/bin/python3
"""kit_install.py - mc-consensus-sim runs from an installed prefix.

Usage: kit_install.py --build-dir B --engine POA_SO --refusing-engine SO

1. `cmake --install B --component sdk --prefix P` puts P/bin/mc-consensus-sim
   beside the SDK; a full `cmake --install B --prefix Q` does too.
2. The installed program needs nothing from the build tree: no shared
   library of MiniChain (mccore is linked in statically).
3. P/bin/mc-consensus-sim --help exits 0 and prints its usage; a bad
   option, a file that is not a plugin, a store plugin and an engine whose
   create fails (the kit_nocreate fixture) each exit 2 with one line.
4. A short run on poa.so (a few schedules, byzantine model) exits 0 and
   prints its totals, run from outside the build tree.
"""
import argparse
import os
import subprocess
import sys
import tempfile

FAILURES = []


def check(what, ok, detail=""):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        print("      " + str(detail).replace("\n", "\n      "))
        FAILURES.append(what)
    return ok


def run(cmd, cwd=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MCHOST_PLUGIN_PATH", "LD_LIBRARY_PATH")}
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env,
                       timeout=240)
    return p.returncode, p.stdout, p.stderr


def installs(build, prefix, component):
    cmd = ["cmake", "--install", build, "--prefix", prefix]
    if component:
        cmd += ["--component", component]
    rc, out, err = run(cmd)
    kit = os.path.join(prefix, "bin", "mc-consensus-sim")
    what = "sdk component" if component else "full install"
    check(f"cmake --install ({what}) exits 0", rc == 0, out + err)
    check(f"{what}: bin/mc-consensus-sim installed and executable",
          os.access(kit, os.X_OK), out)
    return kit


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--engine", required=True)
    ap.add_argument("--refusing-engine", required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mc-kit-") as work:
        kit = installs(a.build_dir, os.path.join(work, "sdk"), "sdk")
        installs(a.build_dir, os.path.join(work, "full"), None)
        rc, out, err = run(["ldd", kit])
        check("no MiniChain shared library needed (mccore is static)",
              rc == 0 and "minichain" not in out and a.build_dir not in out,
              out)
        rc, out, err = run([kit, "--help"], cwd=work)
        check("--help exits 0 with the usage", rc == 0 and
              out.startswith("usage: mc-consensus-sim") and
              "--fault-model" in out, out + err)
        rc, out, err = run([kit, "--fault-model", "paxos", a.engine], cwd=work)
        check("a bad --fault-model exits 2 with one line",
              rc == 2 and len(err.splitlines()) == 1, err)
        rc, out, err = run([kit, "/bin/sh"], cwd=work)
        check("a file that is not a plugin exits 2 with one line",
              rc == 2 and len(err.splitlines()) == 1 and "/bin/sh" in err,
              err)
        missing = os.path.join(work, "sdk", "no-such-engine.so")
        store = os.path.join(a.build_dir, "plugins", "json.so")
        if os.path.isfile(store):
            rc, out, err = run([kit, store], cwd=work)
            check("a store plugin exits 2 with one line",
                  rc == 2 and len(err.splitlines()) == 1 and
                  "not a consensus plugin" in err, err)
        rc, out, err = run([kit, a.refusing_engine], cwd=work)
        check("an engine whose create fails exits 2 with one line",
              rc == 2 and len(err.splitlines()) == 1 and
              "create/start failed" in err, err)
        rc, out, err = run([kit, missing], cwd=work)
        check("a missing plugin file exits 2 with one line",
              rc == 2 and len(err.splitlines()) == 1 and missing in err, err)
        rc, out, err = run([kit, "--schedules", "3", "--fault-model",
                            "byzantine", a.engine], cwd=work)
        check("3 schedules on poa.so from the installed kit pass",
              rc == 0 and "3 schedules" in out and "3 passed" in out,
              out + err)
    print(f"{len(FAILURES)} failure(s)")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
