/*
 * simnet.h - a deterministic simulated network and clock for consensus
 * tests: N nodes in one process, virtual time, timers, and messages that
 * a test can drop, delay, duplicate, reorder and partition.
 *
 * Everything happens in simnet_step(): the earliest event (a timer or a
 * message delivery; ties in the order they were scheduled) advances the
 * clock and runs.  All randomness comes from the seed, so a run is fully
 * replayable from (seed, test actions).  It is shared by the installed
 * kit (mc-consensus-sim) and the poa simulation of tests/consensus.
 */
#ifndef MC_TEST_SIMNET_H
#define MC_TEST_SIMNET_H

#include <stddef.h>
#include <stdint.h>

typedef struct simnet simnet;

/* Delivers msg (valid only during the call) from `from` to `to`. */
typedef void (*simnet_deliver_fn)(void *ctx, uint32_t to, uint32_t from,
                                  const uint8_t *msg, size_t len);
typedef void (*simnet_timer_fn)(void *arg);
/* Decides a message's fate when it is sent: return 0 to drop it.  Called
 * before the random faults; NULL lets everything through. */
typedef int (*simnet_filter_fn)(void *ctx, uint32_t from, uint32_t to,
                                const uint8_t *msg, size_t len);

/* Random faults applied to every message sent (percentages 0..100). */
typedef struct simnet_faults {
  unsigned drop_pct;
  unsigned dup_pct;
  uint64_t delay_min_ms, delay_max_ms; /* uniform; reordering follows */
} simnet_faults;

/* A network of `nodes` nodes; deliver(ctx, ...) receives every message.
 * Default faults: none, 1 ms delay.  NULL on allocation failure. */
simnet *simnet_new(uint32_t nodes, uint64_t seed, simnet_deliver_fn deliver,
                   void *ctx);
void simnet_free(simnet *s);

uint64_t simnet_now(const simnet *s);
/* The next number of the run's deterministic generator (xorshift64*). */
uint64_t simnet_rand(simnet *s);

void simnet_set_faults(simnet *s, const simnet_faults *f);
void simnet_set_filter(simnet *s, simnet_filter_fn fn, void *ctx);
/* Cuts (up=0) or restores the one-way link from -> to.  Messages already
 * in flight on a cut link are lost when they arrive. */
void simnet_set_link(simnet *s, uint32_t from, uint32_t to, int up);
/* Cuts or restores every link of node in both directions. */
void simnet_isolate(simnet *s, uint32_t node, int isolated);

/* Schedules cb(arg) at now + delay on behalf of node `owner`.  Writes a
 * nonzero id.  Returns 0 or -1 (no memory). */
int simnet_timer_start(simnet *s, uint32_t owner, uint64_t delay,
                       simnet_timer_fn cb, void *arg, uint64_t *id);
/* Cancels a pending timer: 0, or -1 if it is not pending. */
int simnet_timer_stop(simnet *s, uint64_t id);
/* Sends a copy of msg; returns 0 (even if a fault drops it) or -1. */
int simnet_send(simnet *s, uint32_t from, uint32_t to, const uint8_t *msg,
                size_t len);
/* A crash: forgets node's pending timers and the messages in flight to
 * it. */
void simnet_forget_node(simnet *s, uint32_t node);

/* Runs the earliest event.  Returns 1, or 0 when nothing is pending. */
int simnet_step(simnet *s);
/* Runs events until done(arg) is nonzero (checked after each event),
 * virtual time passes `until`, or nothing is pending.  Returns 1 if done
 * became true. */
int simnet_run(simnet *s, uint64_t until, int (*done)(void *), void *arg);

/* Runs every event due by `until`, then sets the clock to `until` (time
 * passes even when nothing happens). */
void simnet_run_to(simnet *s, uint64_t until);
/* 1 if the one-way link from -> to is up. */
int simnet_link_up(const simnet *s, uint32_t from, uint32_t to);

/* Events delivered and dropped so far (for tests and traces). */
uint64_t simnet_delivered(const simnet *s);
uint64_t simnet_dropped(const simnet *s);

#endif /* MC_TEST_SIMNET_H */
