/*
 * verify.h - transfer signatures checked on worker threads.
 *
 * An ed25519 verification costs far more than anything else the node does
 * with a transfer, and transfers are independent of each other, so their
 * signatures are checked in batches spread over a few threads while the
 * loop thread goes on with I/O.  Two ways in:
 *
 *   - mc_verifier_run: the caller waits, and works on its batch too (block
 *     validation and sync, which cannot go on before the answer);
 *   - mc_verifier_submit: the caller goes on; the job's `done` runs later
 *     on the loop thread (admission of submitted and gossiped transfers).
 *
 * Workers only read the transfers and write one result each; everything
 * else stays on the loop thread.  A waiting job goes before every async
 * one; async jobs are served in the order submitted, but may finish in
 * any order: a caller that needs order keeps it itself (admit.c does).
 */
#ifndef MC_VERIFY_H
#define MC_VERIFY_H

#include <stdatomic.h>
#include <stddef.h>
#include <uv.h>

#include "minichain/types.h"

typedef struct mc_verifier mc_verifier;
typedef struct mc_verify_job mc_verify_job;

/* Runs on the loop thread once every result of the job is in. */
typedef void (*mc_verify_done_fn)(mc_verify_job *job);

/* A batch.  The caller fills the public fields and keeps the job, txs and
 * res alive (and unchanged) until `done` has run. */
struct mc_verify_job {
  const mc_tx *const *txs; /* n transfers to check */
  int *res;                /* out: res[i] = 0 or MC_ESIG */
  size_t n;
  mc_verify_done_fn done;  /* async jobs only */
  void *data;              /* the caller's */
  /* Optional (NULL): the loop thread sets skip[i] when txs[i] turned out
   * to be verified elsewhere meanwhile; a worker that has not reached it
   * yet then sets res[i] = 0 without checking it. */
  atomic_uchar *skip;
  int cancelled; /* set when done runs from mc_verifier_close: res[] is
                    not filled in */
  /* private: */
  size_t claimed, left;
  int async;
  mc_verify_job *next;
};

/*
 * Starts `threads` workers (0: one per online CPU) whose finished async
 * jobs are reported on `loop`.  Returns 0, MC_ENOMEM or MC_EIO (a thread
 * could not start), with *out set on success.
 */
int mc_verifier_new(uv_loop_t *loop, unsigned threads, mc_verifier **out);

/* How many worker threads it runs. */
unsigned mc_verifier_threads(const mc_verifier *v);

/* Signatures it has verified since it started (skipped ones not
 * counted). */
uint64_t mc_verifier_checked(mc_verifier *v);

/* Verifies job->txs[0..n) on the workers and the calling thread together
 * and returns when every res[] is set; `done` is not used.  Loop thread
 * only (it may also be called with v NULL: the caller verifies alone). */
void mc_verifier_run(mc_verifier *v, mc_verify_job *job);

/* Queues job; job->done runs on the loop thread when it is finished (never
 * from inside this call), with `cancelled` 0.  n may be 0. */
void mc_verifier_submit(mc_verifier *v, mc_verify_job *job);

/*
 * Stops the workers (after the chunks they are checking) and frees v once
 * its loop handle is closed (keep running the loop).  Every async job not
 * yet handed back gets its `done` now, from inside this call, with
 * `cancelled` set, so its owner can free it.  NULL is a no-op.
 */
void mc_verifier_close(mc_verifier *v);

#endif /* MC_VERIFY_H */
