#!/usr/bin/python3
"""abi_check.py - compares the SDK's ABI with stored abigail baselines.

Usage:
  abi_check.py same BASELINE.abi SURFACE.so
      abidiff must find no change at all (exit 0).  Any difference, an
      appended field included, fails: a change on purpose is a new minor
      with its own baseline file (tests/abi/README).
  abi_check.py grows OLD NEW
      OLD and NEW (baselines or surfaces) may differ only by growth: abidiff
      must not set its INCOMPATIBLE bit (8) and must report nothing removed,
      moved, renamed or shrunk.  abidiff counts a deleted or retyped struct
      member as a plain ABI change (bit 4), so its exit status alone cannot
      tell growth from breakage; the report is read too.
  abi_check.py write SURFACE.so BASELINE.abi
      writes a baseline with the options the comparisons assume.

The baselines describe x86_64 LP64; elsewhere the checks report skipped
(exit 77).  abidw/abidiff come from Debian's abigail-tools
(scripts/deps.sh).
"""
import platform
import re
import shutil
import subprocess
import sys

ABIDIFF_ERROR, ABIDIFF_USAGE, ABIDIFF_CHANGE, ABIDIFF_INCOMPATIBLE = 1, 2, 4, 8

# Lines of an abidiff report that mean something old changed, not grew.
NOT_GROWTH = [
    r"\bdeletion",
    r"offset changed",
    r"name changed",
    r"\b[1-9][0-9]* Removed",
    r"value changed",
    r"return type changed",
    r"\bsize changed from (\d+) to (\d+)",  # judged below: shrinking only
]


def tool(name):
    path = shutil.which(name)
    if path is None:
        sys.exit(f"{name} not found: install abigail-tools (scripts/deps.sh)")
    return path


def abidiff(old, new):
    # --harmless: abidiff otherwise filters out changes it deems harmless,
    # such as a new enumerator (a new error code), and exits 0 for them.
    p = subprocess.run([tool("abidiff"), "--harmless", "--no-show-locs", old,
                        new],
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def same(baseline, surface):
    rc, out = abidiff(baseline, surface)
    print(out, end="")
    if rc & (ABIDIFF_ERROR | ABIDIFF_USAGE):
        print(f"FAIL  abidiff could not compare (exit {rc})")
        return 1
    if rc != 0:
        print(f"FAIL  the SDK's ABI differs from {baseline} (abidiff exit "
              f"{rc}{', INCOMPATIBLE' if rc & ABIDIFF_INCOMPATIBLE else ''})."
              "\n      If this is a new minor on purpose, see tests/abi/README.")
        return 1
    print(f"ok    the SDK's ABI is {baseline}")
    return 0


def grows(old, new):
    rc, out = abidiff(old, new)
    print(out, end="")
    if rc & (ABIDIFF_ERROR | ABIDIFF_USAGE):
        print(f"FAIL  abidiff could not compare (exit {rc})")
        return 1
    bad = []
    if rc & ABIDIFF_INCOMPATIBLE:
        bad.append(f"abidiff exit {rc}: INCOMPATIBLE bit set")
    for line in out.splitlines():
        for pat in NOT_GROWTH:
            m = re.search(pat, line)
            if m is None:
                continue
            if m.groups() and int(m.group(2)) >= int(m.group(1)):
                continue  # a struct that grew
            bad.append(line.strip())
    if bad:
        print(f"FAIL  {new} is not {old} plus appended fields:")
        for b in bad:
            print("      " + b)
        return 1
    print(f"ok    {new} only adds to {old} (abidiff exit {rc})")
    return 0


def write(surface, baseline):
    # No paths or locations: the baseline must not depend on where the
    # tree was checked out or built.
    p = subprocess.run([tool("abidw"), "--no-corpus-path",
                        "--no-comp-dir-path", "--no-show-locs",
                        "--no-elf-needed", "--out-file", baseline, surface],
                       capture_output=True, text=True, timeout=120)
    print(p.stdout + p.stderr, end="")
    return p.returncode


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("same", "grows", "write"):
        sys.exit(__doc__)
    if platform.machine() != "x86_64":
        print(f"skipped: the baselines describe x86_64, this is "
              f"{platform.machine()}")
        sys.exit(77)
    mode, a, b = sys.argv[1:]
    sys.exit({"same": same, "grows": grows, "write": write}[mode](a, b))


if __name__ == "__main__":
    main()
