#!/usr/bin/python3
"""kit_selftest.py - mc-store-check fails what it must fail, for the right
reason, and says how to replay it.

Usage: kit_selftest.py --kit KIT --json JSON.so --sqlite SQLITE.so
           --json-damage JSON_DAMAGE.so --fixtures DIR

Each check runs the kit on something broken on purpose (tests/store/
fixtures): damage cases that expect the wrong code, change nothing or
cannot do their damage; stores that call a host service no store may use,
write a file while refusing to open, remove a file they did not create,
open a zeroed file as a new store, or acknowledge a block before writing
it; and bad command lines and damage
modules.  A kit whose checks could not fail would pass none of these.
"""
import argparse
import glob
import os
import re
import shlex
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
                       timeout=300)
    return p.returncode, p.stdout, p.stderr


def fails_with(a, what, args, reason):
    """The kit exits 1 naming the failing test, the seed and the reason,
    and prints a replay line; returns that line's argv."""
    rc, out, err = run([a.kit, "--seed", "123", *args])
    check(f"{what}: exit 1", rc == 1, out + err)
    check(f"{what}: the reason is given", reason in out, out)
    m = re.search(r"^FAIL  (\S+) \(seed 123\)$", out, re.M)
    check(f"{what}: FAIL line names the test and the seed", m is not None, out)
    r = re.search(r"^      replay: (.*)$", out, re.M)
    if not check(f"{what}: a replay line", r is not None, out):
        return None
    replay = shlex.split(r.group(1))
    check(f"{what}: the replay line has --seed 123 and --only",
          "--seed" in replay and "123" in replay and "--only" in replay
          and m is not None and m.group(1) in replay, replay)
    return replay


def wrong_expect(a):
    dmg = os.path.join(a.fixtures, "bad_damage.so")
    replay = fails_with(a, "a damage case expecting the wrong code",
                        ["--only", "damage/garbage_claimed_foreign",
                         "--damage", dmg, a.json],
                        "gave ECORRUPT")
    if replay:
        check("the replay line carries --damage",
              "--damage" in replay and dmg in replay, replay)
        rc, out, err = run(replay)
        check("running the replay line fails the same way",
              rc == 1 and "garbage_claimed_foreign" in out
              and "expected EFOREIGN" in out, out + err)


def useless_cases(a):
    dmg = os.path.join(a.fixtures, "bad_damage.so")
    fails_with(a, "a damage case that changes no file",
               ["--only", "damage/changes_nothing", "--damage", dmg, a.json],
               "the case returned 0 but changed no file")
    fails_with(a, "a damage case that cannot damage",
               ["--only", "damage/cannot_damage", "--damage", dmg, a.json],
               "could not damage the directory: ")


def forbidden_service(a):
    so = os.path.join(a.fixtures, "broken_store_forbidden.so")
    fails_with(a, "a store calling validator_count",
               ["--only", "empty_store", so],
               "the store called host service validator_count, which no "
               "store may use")


def touching_refusal(a):
    so = os.path.join(a.fixtures, "broken_store_touches.so")
    fails_with(a, "a refused open that writes a file",
               ["--only", "damage/garbage_files", so],
               "the files changed (first difference in hello-store.log)")


def tidying_store(a):
    so = os.path.join(a.fixtures, "broken_store_tidies.so")
    fails_with(a, "a store that removes a file it did not create",
               ["--only", "leaves_other_files_alone", so],
               "NOTES.txt is gone after the store ran")


def zeros_taken_for_new(a):
    so = os.path.join(a.fixtures, "broken_store_zeros_ok.so")
    fails_with(a, "a store that opens a zeroed log as a new one",
               ["--only", "damage/zeroed_files", so],
               "open succeeded, expected ECORRUPT")


def lost_acknowledged_block(a):
    so = os.path.join(a.fixtures, "broken_store_defers.so")
    fails_with(a, "a store that acknowledges a block before writing it",
               ["--kills", "200", "--only", "atomic_under_sigkill", so],
               "an acknowledged block was lost")


def usage_errors(a, work):
    cases = [
        ("no store", []),
        ("an unknown option", ["--frobnicate", a.json]),
        ("--kills not a number", ["--kills", "-1", a.json]),
        ("--seed not a number", ["--seed", "x", a.json]),
        ("--only an unknown test", ["--only", "no_such_test", a.json]),
        ("a store that is not there",
         [os.path.join(work, "no-such-store.so")]),
        ("a consensus plugin as the store",
         [os.path.join(os.path.dirname(a.json), "poa.so")]),
        ("a damage module that is a store", ["--damage", a.json, a.json]),
        ("a damage module for another store",
         ["--damage", a.json_damage, a.sqlite]),
        ("a damage module that is not there",
         ["--damage", os.path.join(work, "none.so"), a.json]),
    ]
    for what, args in cases:
        rc, out, err = run([a.kit, *args])
        check(f"usage: {what}: exit 2 with one line on stderr",
              rc == 2 and len(err.strip().splitlines()) == 1
              and out == "", f"rc={rc}\nstdout: {out}\nstderr: {err}")


def scratch_handling(a, work):
    env = dict(os.environ, TMPDIR=work)
    rc, out, err = run([a.kit, "--only", "empty_store", a.json], env=env)
    left = glob.glob(os.path.join(work, "mc-store-check-*"))
    check("a passing run removes its temporary directory",
          rc == 0 and left == [], out + err + str(left))
    so = os.path.join(a.fixtures, "broken_store_forbidden.so")
    rc, out, err = run([a.kit, "--only", "empty_store", so], env=env)
    m = re.search(r"directories are kept in (\S+)", out)
    check("a failing run keeps and names its directory",
          rc == 1 and m is not None
          and os.path.isdir(os.path.join(m.group(1), "empty_store")), out)


def listing(a):
    rc, out, err = run([a.kit, "--list", "--damage", a.json_damage, a.json])
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    check("--list names the contract, kill, built-in and module tests",
          rc == 0 and "find_tx" in names and "atomic_under_sigkill" in names
          and "damage/garbage_files" in names
          and "damage/seed_format" in names, out + err)


def main():
    ap = argparse.ArgumentParser()
    for opt in ("--kit", "--json", "--sqlite", "--json-damage", "--fixtures"):
        ap.add_argument(opt, required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mc-kit-selftest-") as work:
        wrong_expect(a)
        useless_cases(a)
        forbidden_service(a)
        touching_refusal(a)
        tidying_store(a)
        zeros_taken_for_new(a)
        lost_acknowledged_block(a)
        usage_errors(a, work)
        scratch_handling(a, work)
        listing(a)
    print(f"{len(FAILURES)} failure(s)")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
