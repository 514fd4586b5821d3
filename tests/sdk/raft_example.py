#!/usr/bin/python3
"""raft_example.py - examples/consensus-raft builds from the installed SDK
alone, into a folder the cluster test then runs it from.

Usage: raft_example.py --build-dir B --example DIR --mchost MCHOST
                       --out DIR [--cflags FLAGS] [--ldflags FLAGS] [--cc CC]

1. `cmake --install B --component sdk --prefix P` into a temporary prefix
   (headers, CMake package, pkg-config file; nothing of the host).
2. The example configures with -DCMAKE_PREFIX_PATH=P only (and
   MiniChainSDK_DIR must resolve under P), builds with -Werror (plus
   --cflags/--ldflags, e.g. the sanitizer flags of an ASan build) into
   OUT, linking libraft and libsodium and nothing of the host.
3. raft.so exports exactly one symbol, mc_plugin_entry, and links no
   MiniChain library (ldd shows libraft; nothing from the build tree).
4. mchost --plugin-info accepts it as a consensus plugin named "raft".
5. It also builds with nothing but `cc $(pkg-config --cflags minichain-sdk
   raft libsodium) *.c $(pkg-config --libs ...)`, one symbol exported.
The .so is left in OUT/raft.so for cluster/raft.
"""
import argparse
import glob
import os
import re
import shutil
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


def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env,
                       timeout=280)
    return p.returncode, p.stdout + p.stderr


def clean_env():
    """No MiniChain from the environment: only what the test names."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PKG_CONFIG_PATH", "CMAKE_PREFIX_PATH",
                         "MCHOST_PLUGIN_PATH", "MiniChainSDK_DIR")}


def build(a, prefix):
    if os.path.isdir(a.out):
        shutil.rmtree(a.out)
    rc, out = run(["cmake", "-S", a.example, "-B", a.out,
                   "-DCMAKE_PREFIX_PATH=" + prefix,
                   "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF",
                   "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                   "-DCMAKE_C_FLAGS=-Werror " + a.cflags,
                   "-DCMAKE_MODULE_LINKER_FLAGS=" + a.ldflags],
                  env=clean_env())
    if not check("raft.so configures with find_package(MiniChainSDK 1) "
                 "against the installed SDK", rc == 0, out):
        return None
    with open(os.path.join(a.out, "CMakeCache.txt")) as f:
        m = re.search(r"^MiniChainSDK_DIR:PATH=(.*)$", f.read(), re.M)
    check("find_package resolved to the temporary prefix",
          m is not None and m.group(1).startswith(prefix),
          m.group(1) if m else "no MiniChainSDK_DIR in the cache")
    rc, out = run(["cmake", "--build", a.out, "-j2"], env=clean_env())
    so = os.path.join(a.out, "raft.so")
    if not check("raft.so builds (-Wall -Wextra -Werror, -z defs)",
                 rc == 0 and os.path.isfile(so), out):
        return None
    return so


def inspect(a, so):
    rc, out = run(["nm", "-D", "--defined-only", so])
    ignore = {"_init", "_fini", "_edata", "_end", "__bss_start"}
    syms = sorted(line.split()[-1] for line in out.splitlines()
                  if line.split() and line.split()[-1] not in ignore)
    check("raft.so exports exactly one symbol, mc_plugin_entry",
          syms == ["mc_plugin_entry"], syms)
    rc, out = run(["ldd", so])
    check("raft.so links libraft", "libraft.so" in out, out)
    build_tree = os.path.realpath(a.build_dir)
    check("raft.so links nothing from the MiniChain build tree",
          build_tree not in out and "minichain" not in out.lower(), out)
    rc, out = run([a.mchost, "--plugin-info", so], env=clean_env())
    fields = dict(re.findall(r"^([a-z ]+):\s+(.*)$", out, re.M))
    check("mchost --plugin-info raft.so: exit 0", rc == 0, out)
    check("mchost --plugin-info: a consensus plugin named raft",
          fields.get("kind") == "consensus" and fields.get("name") == "raft",
          out)


def build_with_pkg_config(a, prefix, work):
    pcs = glob.glob(prefix + "/**/pkgconfig/minichain-sdk.pc", recursive=True)
    if not check("minichain-sdk.pc installed", len(pcs) == 1, pcs):
        return
    env = clean_env()
    env["PKG_CONFIG_PATH"] = os.path.dirname(pcs[0])
    mods = ["minichain-sdk", "raft", "libsodium"]
    rc, cflags = run(["pkg-config", "--cflags", *mods], env=env)
    rc2, libs = run(["pkg-config", "--libs", *mods], env=env)
    so = os.path.join(work, "pc-raft.so")
    srcs = sorted(glob.glob(os.path.join(a.example, "*.c")))
    cmd = [a.cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-fPIC",
           "-shared", *cflags.split(), *srcs, *libs.split(), "-o", so]
    rc3, out = run(cmd, env=env)
    if not check("raft.so builds with pkg-config flags only: " + " ".join(cmd),
                 rc == 0 and rc2 == 0 and rc3 == 0, cflags + libs + out):
        return
    rc, out = run(["nm", "-D", "--defined-only", so])
    syms = [line.split()[-1] for line in out.splitlines()
            if line.split() and line.split()[-1] not in
            ("_init", "_fini", "_edata", "_end", "__bss_start")]
    check("the pkg-config build exports only mc_plugin_entry",
          syms == ["mc_plugin_entry"], syms)
    rc, out = run([a.mchost, "--plugin-info", so], env=clean_env())
    check("mchost --plugin-info on the pkg-config build: exit 0", rc == 0, out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--example", required=True)
    ap.add_argument("--mchost", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cflags", default="")
    ap.add_argument("--ldflags", default="")
    ap.add_argument("--cc", default="cc")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mc-raft-sdk-") as work:
        prefix = os.path.join(work, "prefix")
        rc, out = run(["cmake", "--install", a.build_dir, "--component",
                       "sdk", "--prefix", prefix])
        if check("cmake --install --component sdk", rc == 0, out):
            so = build(a, prefix)
            if so:
                inspect(a, so)
            build_with_pkg_config(a, prefix, work)
    print(f"{len(FAILURES)} failure(s)")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
