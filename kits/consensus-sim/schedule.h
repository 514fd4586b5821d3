/*
 * schedule.h - one seeded fault schedule of mc-consensus-sim: a cluster
 * of the engine under test, a fault phase, a stable phase, and the
 * verdict.  Everything in it follows from the seed and the options, so a
 * failing schedule replays exactly.
 */
#ifndef MC_KIT_SCHEDULE_H
#define MC_KIT_SCHEDULE_H

#include <stdint.h>

#include "minichain/consensus.h"

/* What the engine's author claims it tolerates (--fault-model). */
enum { MODEL_CRASH, MODEL_BYZANTINE };

typedef struct sched_opts {
  const mc_consensus_vtable *vt;
  int model;
  uint32_t validators; /* 0: chosen per schedule */
  int trace;           /* every engine log line, commit and sync */
  const char *replay;  /* options and ENGINE of the replay command */
} sched_opts;

/* How a schedule ended; the first failure decides. */
enum {
  END_PASSED,
  END_UNSAFE,    /* a fork or a certificate another engine refuses */
  END_RESTART,   /* an engine refused to start from its own saved state */
  END_STUCK,     /* honest nodes did not commit K new heights in time */
  END_TRANSFERS, /* a transfer lost, committed twice, or not the kit's */
  END_KINDS
};

typedef struct outcome {
  int end;
  char why[320];
  uint32_t n, f, twins;
  uint64_t heights, crashes, wipes, partitions;
  uint64_t txs_fault, txs_stable, txs_committed;
} outcome;

/* Runs schedule `seed`.  A failure prints its event log and the replay
 * command on stderr (a --trace run prints as it goes). */
void sched_run(const sched_opts *o, uint64_t seed, outcome *out);

#endif /* MC_KIT_SCHEDULE_H */
