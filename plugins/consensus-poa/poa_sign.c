/*
 * poa_sign.c - when this validator may sign, and how a signature gets into
 * the saved record before it leaves the node.
 *
 * It may sign when it is a validator, its saves work, it is not watching
 * and it has reached the height its last watch ended with (poa_watch.c).
 *
 * Every signing path is one change to the record (c->saved): begin, sign
 * into the record, save it, and only then send.  If signing or saving
 * fails, the record is put back as it was before the change, so memory
 * never holds a vote that is not on disk: a vote kept only in memory
 * would be re-sent later (a COMMIT at the round timeout, a VIEWCHANGE at
 * the resend tick) and forgotten by a restart, which could then sign a
 * different one.
 *
 * A failed save also stops all signing (`signing_stopped`): the disk that
 * must hold our votes is not working, and every further vote would fail
 * the same way.  The validator keeps following the chain (committing needs
 * no signature of its own) and tries to save its state again at each round
 * timeout, resend tick and new height; the first save that works lets it
 * sign again (`signing_resumed`).
 */
#include <assert.h>
#include <stdlib.h>

#include "poa_internal.h"

int poa_may_sign(const mc_consensus *c) {
  return c->self >= 0 && !c->signing_stopped && !poa_watching(c) &&
         c->height >= c->saved.resume;
}

void poa_record_begin(mc_consensus *c, poa_saved *before) {
  assert(poa_may_sign(c));
  *before = c->saved; /* the lock's buffers are shared until the end */
}

/* Frees the lock buffers of `a` that `b` does not hold. */
static void free_unshared_lock(const poa_saved *a, const poa_saved *b) {
  if (a->lock_cert != b->lock_cert)
    free(a->lock_cert);
  if (a->lock_block != b->lock_block)
    free(a->lock_block);
}

int poa_record_end(mc_consensus *c, poa_saved *before, int rc) {
  if (rc == 0 && (rc = poa_state_save(c)) != 0)
    poa_signing_stop(c, rc);
  if (rc == 0) {
    free_unshared_lock(before, &c->saved);
    return 0;
  }
  free_unshared_lock(&c->saved, before);
  c->saved = *before;
  return rc;
}

void poa_signing_stop(mc_consensus *c, int rc) {
  if (c->signing_stopped)
    return;
  c->signing_stopped = 1;
  poa_log(c, MC_LOG_ERROR, "signing_stopped",
          (mc_log_field[]){MC_LOG_F_S("reason", mc_strerror(rc)),
                           MC_LOG_F_S("why", "state_save failed: this "
                                             "validator signs nothing until "
                                             "a save works again")},
          2);
}

void poa_signing_retry(mc_consensus *c) {
  if (!c->signing_stopped || poa_state_save(c) != 0)
    return;
  c->signing_stopped = 0;
  poa_log(c, MC_LOG_INFO, "signing_resumed", NULL, 0);
}
