#!/usr/bin/python3
"""sdk_install.py - the installed SDK is enough to build and ship a plugin.

Usage: sdk_install.py --build-dir B --example DIR --mchost MCHOST --cc CC
                      [--cxx-example DIR --cxx CXX]

1. `cmake --install B --component sdk --prefix P` into a temporary prefix:
   the headers, the CMake package and the pkg-config file, nothing else,
   and the (empty) plugin folder that pkg-config's pluginsdir names.
2. Every public header compiles on its own from P.
3. The example configures with -DCMAKE_PREFIX_PATH=P (find_package
   (MiniChainSDK 1) must resolve to P), builds, exports exactly one symbol,
   and installs into the package's MiniChainSDK_PLUGINS_DIR.
4. find_package(MiniChainSDK 2) is refused by the ConfigVersion file.
5. The example also builds with nothing but
   `cc $(pkg-config --cflags minichain-sdk) ... $(pkg-config --libs ...)`.
6. mchost --plugin-info accepts each .so built (exit 0, kind store), and
   the pkg-config build copied as docs/SDK.md says
   (cp X.so "$(pkg-config --variable=pluginsdir minichain-sdk)") is found
   there by name.
7. With --cxx-example (examples/cpp-store): every header also compiles as
   C++, and the C++ store builds both ways (find_package and pkg-config,
   g++ -Wall -Wextra -Werror), exports exactly one unmangled symbol,
   mc_plugin_entry, and loads.
8. The installed store test kit, P/bin/mc-store-check, passes each store
   example built from the installed SDK (hello-store with its own damage
   module, hello-damage.so, built from the installed store_check.h), and
   refuses bad usage with exit status 2.
"""
import argparse
import glob
import os
import re
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


def run(cmd, env=None, cwd=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd,
                       timeout=240)
    return p.returncode, p.stdout + p.stderr


def clean_env(prefix_pc_dir=None):
    """No MiniChain from the environment: only what the test names."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PKG_CONFIG_PATH", "CMAKE_PREFIX_PATH",
                        "MCHOST_PLUGIN_PATH", "MiniChainSDK_DIR")}
    if prefix_pc_dir:
        env["PKG_CONFIG_PATH"] = prefix_pc_dir
    return env


def install_sdk(build_dir, prefix):
    rc, out = run(["cmake", "--install", build_dir, "--component", "sdk",
                   "--prefix", prefix])
    if not check("cmake --install --component sdk", rc == 0, out):
        sys.exit(1)
    files = sorted(os.path.relpath(f, prefix)
                   for f in glob.glob(prefix + "/**", recursive=True)
                   if os.path.isfile(f))
    want = ["MiniChainSDKConfig.cmake", "MiniChainSDKConfigVersion.cmake",
            "MiniChainSDKTargets.cmake", "MiniChainPlugin.cmake",
            "minichain-plugin.map",
            "minichain-sdk.pc", "minichain.h", "plugin.h", "host.h",
            "consensus.h", "store.h", "types.h", "error.h",
            "store_check.h", "mc-store-check"]
    names = [os.path.basename(f) for f in files]
    for w in want:
        check(f"installed {w}", w in names, files)
    check("only SDK files installed (no mchost, no plugins)",
          not any(f.endswith(".so") or f.endswith("mchost") for f in files),
          files)
    pcs = glob.glob(prefix + "/**/pkgconfig/minichain-sdk.pc", recursive=True)
    return os.path.dirname(pcs[0]) if pcs else None


def headers_stand_alone_cxx(cxx, prefix):
    # A C++ plugin includes the same headers: extern "C" and valid C++.
    for h in sorted(glob.glob(prefix + "/include/minichain/*.h")):
        name = os.path.basename(h)
        p = subprocess.run([cxx, "-std=c++11", "-Wall", "-Wextra", "-Werror",
                            "-pedantic", "-fsyntax-only", "-I",
                            prefix + "/include", "-x", "c++", "-"],
                           input=f"#include <minichain/{name}>\n",
                           capture_output=True, text=True)
        check(f"<minichain/{name}> compiles on its own (C++11, -pedantic)",
              p.returncode == 0, p.stderr)


def plugins_dir_exists(pc_dir, prefix):
    """Right after the SDK-only install, before anything is installed
    into it: the folder pluginsdir names exists, and it is in the prefix."""
    rc, plugdir = run(["pkg-config", "--variable=pluginsdir",
                       "minichain-sdk"], env=clean_env(pc_dir))
    plugdir = plugdir.strip()
    check("the SDK install creates pkg-config's pluginsdir " + plugdir,
          rc == 0 and os.path.isdir(plugdir)
          and os.path.realpath(plugdir).startswith(os.path.realpath(prefix)),
          plugdir)


def headers_stand_alone(cc, prefix):
    for h in sorted(glob.glob(prefix + "/include/minichain/*.h")):
        name = os.path.basename(h)
        p = subprocess.run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror",
                            "-pedantic", "-fsyntax-only", "-I",
                            prefix + "/include", "-x", "c", "-"],
                           input=f"#include <minichain/{name}>\n",
                           capture_output=True, text=True)
        check(f"<minichain/{name}> compiles on its own (C11, -pedantic)",
              p.returncode == 0, p.stderr)


def exported_symbols(so):
    rc, out = run(["nm", "-D", "--defined-only", so])
    ignore = {"_init", "_fini", "_edata", "_end", "__bss_start"}
    return sorted(line.split()[-1] for line in out.splitlines()
                  if line.split() and line.split()[-1] not in ignore)


def plugin_info(mchost, args, what):
    rc, out = run([mchost, "--plugin-info", *args], env=clean_env())
    fields = dict(re.findall(r"^([a-z ]+):\s+(.*)$", out, re.M))
    check(f"mchost --plugin-info {what}: exit 0", rc == 0, out)
    check(f"mchost --plugin-info {what}: a store plugin",
          fields.get("kind") == "store", out)
    return fields


def build_with_cmake(example, so_name, prefix, work, mchost, extra=()):
    build = os.path.join(work, "cmake-build-" + so_name)
    env = clean_env()
    rc, out = run(["cmake", "-S", example, "-B", build,
                   "-DCMAKE_PREFIX_PATH=" + prefix,
                   "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF",
                   "-DCMAKE_C_FLAGS=-Werror", "-DCMAKE_CXX_FLAGS=-Werror",
                   *extra], env=env)
    if not check(f"{so_name} configures with find_package(MiniChainSDK 1)",
                 rc == 0, out):
        return
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        cache = f.read()
    m = re.search(r"^MiniChainSDK_DIR:PATH=(.*)$", cache, re.M)
    check("find_package resolved to the temporary prefix",
          m is not None and m.group(1).startswith(prefix),
          m.group(1) if m else "no MiniChainSDK_DIR in cache")
    rc, out = run(["cmake", "--build", build], env=env)
    so = os.path.join(build, so_name)
    if not check(f"example builds ({so_name}, no lib prefix)",
                 rc == 0 and os.path.isfile(so), out):
        return
    syms = exported_symbols(so)
    check(f"{so_name}: exactly one exported symbol, mc_plugin_entry",
          syms == ["mc_plugin_entry"], syms)
    plugin_info(mchost, [so], f"{so_name} on the find_package build")
    store_check(prefix, work, so)

    rc, out = run(["cmake", "--install", build], env=env)
    installed = glob.glob(prefix + "/**/minichain/plugins/" + so_name,
                          recursive=True)
    check(f"{so_name} installs into MiniChainSDK_PLUGINS_DIR under the prefix",
          rc == 0 and len(installed) == 1, out)
    if installed:
        plugin_info(mchost, [so_name, "--plugin-dir",
                             os.path.dirname(installed[0])],
                    f"{so_name} by name from the installed plugin folder")


def store_check(prefix, work, so):
    """The installed kit, as a plugin author runs it, on an example: with
    its damage module when the example has one (hello-store)."""
    kit = os.path.join(prefix, "bin", "mc-store-check")
    if not check("mc-store-check installed in bin/", os.access(kit, os.X_OK),
                 kit):
        return
    name = os.path.basename(so)
    cmd = [kit, "--kills", "30", "--scratch",
           os.path.join(work, "kit-scratch-" + name)]
    if name == "hello-store.so":
        damage = os.path.join(os.path.dirname(so), "hello-damage.so")
        check("the example's damage module builds (hello-damage.so)",
              os.path.isfile(damage), damage)
        cmd += ["--damage", damage]
    rc, out = run(cmd + [so], env=clean_env())
    check(f"installed mc-store-check passes {name} (exit 0)",
          rc == 0 and re.search(r" [1-9][0-9]* passed, 0 failed", out)
          and (name != "hello-store.so"
               or "PASS  damage/first_record_flipped" in out), out)
    rc, out = run([kit], env=clean_env())
    check("installed mc-store-check without a store: exit 2, one line",
          rc == 2 and len(out.strip().splitlines()) == 1, out)
    rc, out = run([kit, os.path.join(work, "no-such-store.so")],
                  env=clean_env())
    check("installed mc-store-check on a missing plugin: exit 2, one line",
          rc == 2 and len(out.strip().splitlines()) == 1, out)


def version_is_enforced(prefix, work):
    for req, ok in (("2", False), ("1", True), ("1.0", True)):
        src = os.path.join(work, "find-" + req)
        os.makedirs(src)
        with open(os.path.join(src, "CMakeLists.txt"), "w") as f:
            f.write("cmake_minimum_required(VERSION 3.20)\n"
                    "project(probe LANGUAGES C)\n"
                    f"find_package(MiniChainSDK {req} REQUIRED)\n"
                    "message(STATUS \"SDK ABI "
                    "${MiniChainSDK_ABI_MAJOR}.${MiniChainSDK_ABI_MINOR}\")\n")
        rc, out = run(["cmake", "-S", src, "-B", src + "/b",
                       "-DCMAKE_PREFIX_PATH=" + prefix,
                       "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF"],
                      env=clean_env())
        if ok:
            check(f"find_package(MiniChainSDK {req}) is accepted",
                  rc == 0 and "SDK ABI 1." in out, out)
        else:
            check(f"find_package(MiniChainSDK {req}) is refused by the "
                  "ConfigVersion file",
                  rc != 0 and 'requested version "2"' in out
                  and "MiniChainSDKConfig.cmake, version: 1." in out, out)


def build_with_pkg_config(example, pc_dir, prefix, work, cc, mchost,
                          lang="c"):
    env = clean_env(pc_dir)
    rc, ver = run(["pkg-config", "--modversion", "minichain-sdk"], env=env)
    check("pkg-config finds minichain-sdk 1.x",
          rc == 0 and ver.strip().startswith("1."), ver)
    rc, cflags = run(["pkg-config", "--cflags", "minichain-sdk"], env=env)
    rc2, libs = run(["pkg-config", "--libs", "minichain-sdk"], env=env)
    incs = [os.path.realpath(f[2:]) for f in cflags.split()
            if f.startswith("-I")]
    check("pkg-config --cflags points into the prefix",
          rc == 0 and incs == [os.path.realpath(prefix + "/include")], cflags)
    rc3, plugdir = run(["pkg-config", "--variable=pluginsdir",
                        "minichain-sdk"], env=env)
    check("pkg-config pluginsdir is the prefix's plugin folder",
          os.path.normpath(plugdir.strip()).endswith("/minichain/plugins")
          and os.path.realpath(plugdir.strip()).startswith(
              os.path.realpath(prefix)), plugdir)
    so = os.path.join(work, "pc-" + os.path.basename(example) + ".so")
    if lang == "c":
        srcs = sorted(glob.glob(os.path.join(example, "*.c")))
        std = "-std=c11"
    else:
        srcs = sorted(glob.glob(os.path.join(example, "*.cpp")))
        std = "-std=c++17"
    cmd = [cc, std, "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
           *cflags.split(), *srcs, *libs.split(), "-o", so]
    rc, out = run(cmd, env=env)
    if not check("example builds with pkg-config flags only: " + " ".join(cmd),
                 rc == 0 and rc2 == 0, out):
        return
    syms = exported_symbols(so)
    check("pkg-config build exports only mc_plugin_entry",
          syms == ["mc_plugin_entry"], syms)
    plugin_info(mchost, [so], "on the pkg-config build")
    rc, out = run(["sh", "-c", 'cp "$1" "$(pkg-config --variable=pluginsdir '
                   'minichain-sdk)"', "sh", so], env=env)
    if check("cp X.so \"$(pkg-config --variable=pluginsdir minichain-sdk)\"",
             rc == 0, out):
        plugin_info(mchost, [os.path.basename(so), "--plugin-dir",
                             plugdir.strip()],
                    "by name from pluginsdir after the cp")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--example", required=True)
    ap.add_argument("--mchost", required=True)
    ap.add_argument("--cc", default="cc")
    ap.add_argument("--cxx-example")
    ap.add_argument("--cxx", default="g++")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mc-sdk-") as work:
        prefix = os.path.join(work, "prefix")
        pc_dir = install_sdk(a.build_dir, prefix)
        if pc_dir is not None:
            plugins_dir_exists(pc_dir, prefix)
        headers_stand_alone(a.cc, prefix)
        build_with_cmake(a.example, "hello-store.so", prefix, work, a.mchost)
        if a.cxx_example:
            headers_stand_alone_cxx(a.cxx, prefix)
            build_with_cmake(a.cxx_example, "cpp-store.so", prefix, work,
                             a.mchost, ["-DCMAKE_CXX_COMPILER=" + a.cxx])
        version_is_enforced(prefix, work)
        if check("minichain-sdk.pc installed", pc_dir is not None):
            build_with_pkg_config(a.example, pc_dir, prefix, work, a.cc,
                                  a.mchost)
            if a.cxx_example:
                build_with_pkg_config(a.cxx_example, pc_dir, prefix, work,
                                      a.cxx, a.mchost, lang="c++")
    print(f"{len(FAILURES)} failure(s)")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
