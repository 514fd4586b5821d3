#!/usr/bin/python3
"""flapping.py - random cuts, heals and kill -9 restarts for FLAP_S seconds.

Four validators in their own network namespaces under a steady load of
signed transfers sent to whichever nodes are up (fault.Load).  For FLAP_S
seconds, about once a second, one seeded random fault (the seed is printed;
MC_FAULT_SEED=N replays it):
  cut      one node is cut off from one to three others (both directions;
           cuts add up until a heal)
  heal     every cut is removed
  kill     one running node gets SIGKILL and is started again on its data
           dir 0.3..2 s later (at most one node is down at a time)
Every fault is printed with its time.  Then everything is healed and every
node started: all four must pass the highest height plus RECOVER_BLOCKS
within RECOVER_S, and after the load stops fault.audit() checks agreement
at every height, no txid twice, contiguous nonces, constant supply, and
that every admitted transfer was committed, superseded by another with its
nonce, or lost only because the node that admitted it was killed before
the chain took it (a mempool is memory only; see fault.audit).

    flapping.py --mchost PATH --mcli PATH --plugin-dir DIR
"""
import time

import fault
from fault import check, wait

FLAP_S = 20
RECOVER_BLOCKS = 3
RECOVER_S = 30


class Flapper:
    def __init__(self, c, net, load, rng):
        self.c, self.net, self.load, self.rng = c, net, load, rng
        self.t0 = time.time()
        self.down = None  # (node, time to restart it)
        self.counts = {"cut": 0, "heal": 0, "kill": 0}

    def say(self, what):
        print(f"  {time.time() - self.t0:5.1f} s  {what}  "
              f"[cuts: {self.net.describe()}]", flush=True)

    def restart_due(self, force=False):
        if self.down and (force or time.time() >= self.down[1]):
            node = self.down[0]
            self.down = None
            node.start()
            self.say(f"restarted {node.name} at height {node.height()}")

    def fault(self):
        n = len(self.c.nodes)
        action = self.rng.choice(["cut", "heal", "kill"])
        if action == "kill" and self.down is not None:
            action = "cut"
        self.counts[action] += 1
        if action == "cut":
            i = self.rng.randrange(n)
            others = [j for j in range(n) if j != i]
            k = self.rng.randint(1, n - 1)
            away = sorted(self.rng.sample(others, k))
            self.net.partition([i], away)
            self.say(f"cut node-{i} from {['node-%d' % j for j in away]}")
        elif action == "heal":
            self.net.heal()
            self.say("healed")
        else:
            node = self.c.nodes[self.rng.randrange(n)]
            node.kill()
            self.down = (node, time.time() + self.rng.uniform(0.3, 2.0))
            self.say(f"kill -9 {node.name}")

    def run(self, secs):
        end = time.time() + secs
        next_fault = time.time()
        while time.time() < end:
            self.load.step()
            self.restart_due()
            if time.time() >= next_fault:
                self.fault()
                next_fault = time.time() + self.rng.uniform(0.7, 1.3)
            time.sleep(0.05)
        self.net.heal()
        self.restart_due(force=True)
        self.say("end: healed, every node running")


def test(args, tmp, net, made):
    seed, rng = fault.seed_from_env("fault/flapping")
    c = made(fault.FaultCluster(args, tmp, net, chain_id="fault-flap",
                                view_timeout=500))
    c.start_all()
    load = fault.Load(c)
    wait(load, lambda: min(c.heights()) >= 3 and
         all(n.status()["peers"] == 3 for n in c.nodes), 20,
         "first blocks with every node connected to three peers")
    start = max(c.heights())
    flap = Flapper(c, net, load, rng)
    flap.run(FLAP_S)
    during = max(c.heights()) - start
    t_end = time.time()
    target = max(c.heights()) + RECOVER_BLOCKS
    wait(load, lambda: min(c.heights()) >= target, RECOVER_S,
         f"after the faults ended (seed {seed}), heights {c.heights()} "
         f"did not all reach {target}")
    recovered = time.time() - t_end
    fault.settle(c)
    r = fault.audit(c, load)
    check(sum(n.proc.returncode is None for n in c.nodes) == len(c.nodes),
          "a node died on its own")
    fault.check_stops(c)
    print(f"fault/flapping: ok: seed {seed}; {flap.counts} faults in "
          f"{FLAP_S} s, {during} blocks committed meanwhile; all four "
          f"past {target} {recovered:.1f} s after; {r['top']} blocks "
          f"agreed, {r['committed']} transfers committed, {r['admitted']} "
          f"admitted ({r['superseded']} superseded, {r['lost']} lost with "
          f"a killed node's mempool, {r['stuck']} queued behind those)")


if __name__ == "__main__":
    fault.main(test, "fault-flapping")
