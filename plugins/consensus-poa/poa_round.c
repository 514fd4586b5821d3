/*
 * poa_round.c - the state machine that decides one height at a time.
 *
 * View v at height h is led by validators[(h + v) mod n].  The leader
 * PROPOSEs a block; a validator that accepts it ACKs; q ACKs for one
 * (h, v, hash) form a prepared certificate, on which the validator locks
 * and then sends COMMIT; q COMMITs for one (h, v, hash) commit the block.
 * A validator that times out sends VIEWCHANGE(h, v+1) carrying its lock;
 * the next leader needs q of them and must re-propose the block of the
 * highest prepared certificate among them.  Why that is safe is argued in
 * docs/CONSENSUS.md; the comments here point at the rules it relies on.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "poa_internal.h"

uint32_t poa_leader(const mc_consensus *c, uint64_t h, uint64_t v) {
  return (uint32_t)((h % c->n + v % c->n) % c->n);
}

static uint64_t round_timeout(const mc_consensus *c, uint64_t v) {
  uint64_t t = c->view_timeout_ms << (v < POA_BACKOFF_CAP ? v : POA_BACKOFF_CAP);
  /* View 0 starts with the leader waiting out the block interval. */
  return v == 0 ? t + c->block_interval_ms : t;
}

static int is_leader(const mc_consensus *c) {
  return c->self >= 0 && poa_leader(c, c->height, c->view) == (uint32_t)c->self;
}

static void check_view_synced(mc_consensus *c);

/* ---- encoding our own messages ---- */

static int encode_vote(poa_kind kind, uint64_t h, uint64_t v,
                       const uint8_t hash[MC_HASH_LEN], uint32_t signer,
                       const uint8_t sig[MC_SIG_LEN], uint8_t **out,
                       size_t *len) {
  poa_buf b;
  msgpack_packer pk;
  poa_buf_init(&b, &pk);
  poa_pack_head(&pk, kind, h, v);
  msgpack_pack_bin_with_body(&pk, hash, MC_HASH_LEN);
  msgpack_pack_uint32(&pk, signer);
  msgpack_pack_bin_with_body(&pk, sig, MC_SIG_LEN);
  return poa_buf_finish(&b, out, len);
}

/* Signs (kind, height, view, hash) with our key into r, inside a record
 * change (the high-water mark rises with it). */
static int sign_vote(mc_consensus *c, poa_kind kind,
                     const uint8_t hash[MC_HASH_LEN], poa_vote_rec *r) {
  uint8_t msg[POA_SIGNING_MAX];
  size_t len = poa_signing_bytes(kind, c->height, c->view, hash, 0, 0, msg);
  int rc = c->api->sign(c->host, msg, len, r->sig);
  if (rc == 0) {
    r->set = 1;
    r->view = c->view;
    memcpy(r->hash, hash, MC_HASH_LEN);
    poa_hw_raise(&c->saved, c->height, c->view);
  }
  return rc;
}

/* Emits an ACK or COMMIT we signed (and saved) earlier. */
static void emit_vote(mc_consensus *c, poa_kind kind, const poa_vote_rec *r) {
  uint8_t *wire;
  size_t len;
  if (encode_vote(kind, c->height, r->view, r->hash, (uint32_t)c->self, r->sig,
                  &wire, &len) != 0)
    return;
  poa_emit(c, wire, len);
  free(wire);
}

/* ---- COMMIT: q of them and the block => the block is final ---- */

static void check_commit(mc_consensus *c, uint64_t v,
                         const uint8_t hash[MC_HASH_LEN]) {
  poa_sig *sigs = calloc(c->n, sizeof *sigs);
  if (sigs == NULL)
    return;
  uint8_t *cert = NULL;
  size_t cert_len = 0;
  mc_block *b = NULL;
  if (poa_count_votes(c, POA_COMMIT, v, hash, sigs) >= c->q &&
      poa_commit_cert_encode(c->height, v, hash, sigs, c->q, &cert,
                             &cert_len) == 0)
    b = poa_cand_take(c, hash);
  free(sigs);
  if (b == NULL) {
    free(cert);
    return;
  }
  uint64_t h = c->height;
  /* on_commit times the next proposal from this block's timestamp, and
   * the block is no longer among the candidates */
  c->committing = b;
  /* On success the host calls on_commit before returning: the round state
   * belongs to the next height from here on, so touch nothing of it. */
  int rc = c->api->commit_block(c->host, b, cert, cert_len);
  c->committing = NULL;
  free(cert);
  if (rc != 0 && h == c->height) {
    poa_log(c, MC_LOG_ERROR, "commit_failed",
            (mc_log_field[]){MC_LOG_F_S("reason", mc_strerror(rc))}, 1);
    poa_cand_add(c, b);
    return;
  }
  c->api->block_free(c->host, b);
}

/* ---- ACK: q of them => prepared: lock, then COMMIT ---- */

/* Replaces the lock by the prepared certificate sigs for (v, hash) and
 * its block.  Inside a record change only: the old lock's buffers belong
 * to the change's `before` until it ends (poa_record_end frees them). */
static int take_lock(mc_consensus *c, uint64_t v, const uint8_t *hash,
                     const poa_sig *sigs, const mc_block *b) {
  uint8_t *cert, *block, *copy;
  size_t cert_len, block_len;
  int rc = poa_prepared_encode(v, hash, sigs, c->q, &cert, &cert_len);
  if (rc != 0)
    return rc;
  rc = c->api->encode_block(c->host, b, &block, &block_len);
  if (rc != 0) {
    free(cert);
    return rc;
  }
  copy = malloc(block_len);
  if (copy != NULL)
    memcpy(copy, block, block_len);
  c->api->buf_free(c->host, block);
  if (copy == NULL) {
    free(cert);
    return MC_ENOMEM;
  }
  poa_saved *s = &c->saved;
  s->lock_set = 1;
  s->lock_view = v;
  memcpy(s->lock_hash, hash, MC_HASH_LEN);
  s->lock_cert = cert;
  s->lock_cert_len = cert_len;
  s->lock_block = copy;
  s->lock_block_len = block_len;
  return 0;
}

static void check_prepared(mc_consensus *c, uint64_t v,
                           const uint8_t hash[MC_HASH_LEN]) {
  poa_saved *s = &c->saved;
  const mc_block *b = poa_cand_find(c, hash);
  if (!poa_may_sign(c) || b == NULL)
    return;
  int lock = !s->lock_set || s->lock_view < v; /* keep the highest lock */
  /* COMMIT only in the view we are in: a validator that has sent
   * VIEWCHANGE for a later view has already reported its lock. */
  int commit = v == c->view && !(s->commit.set && s->commit.view == v);
  if (!lock && !commit)
    return;
  poa_sig *sigs = calloc(c->n, sizeof *sigs);
  if (sigs == NULL || poa_count_votes(c, POA_ACK, v, hash, sigs) < c->q) {
    free(sigs);
    return;
  }
  poa_saved before;
  poa_record_begin(c, &before);
  int rc = lock ? take_lock(c, v, hash, sigs, b) : 0;
  free(sigs);
  if (rc == 0 && commit)
    rc = sign_vote(c, POA_COMMIT, hash, &s->commit);
  rc = poa_record_end(c, &before, rc);
  if (rc != 0) {
    poa_log(c, MC_LOG_ERROR, "lock_failed",
            (mc_log_field[]){MC_LOG_F_S("reason", mc_strerror(rc))}, 1);
    return;
  }
  if (lock)
    poa_log(c, MC_LOG_DEBUG, "locked",
            (mc_log_field[]){MC_LOG_F_HEX("hash", hash, MC_HASH_LEN)}, 1);
  check_view_synced(c);
  if (commit)
    emit_vote(c, POA_COMMIT, &s->commit);
}

/* ---- PROPOSE ---- */

static int encode_propose(mc_consensus *c, const mc_block *b,
                          const poa_vote_rec *r, poa_vote *const *just,
                          uint32_t njust, uint8_t **out, size_t *len) {
  uint8_t *block;
  size_t block_len;
  int rc = c->api->encode_block(c->host, b, &block, &block_len);
  if (rc != 0)
    return rc;
  poa_buf buf;
  msgpack_packer pk;
  poa_buf_init(&buf, &pk);
  poa_pack_head(&pk, POA_PROPOSE, c->height, r->view);
  msgpack_pack_bin_with_body(&pk, r->hash, MC_HASH_LEN);
  msgpack_pack_uint32(&pk, (uint32_t)c->self);
  msgpack_pack_bin_with_body(&pk, r->sig, MC_SIG_LEN);
  msgpack_pack_bin_with_body(&pk, block, block_len);
  msgpack_pack_array(&pk, njust);
  for (uint32_t i = 0; i < njust; i++)
    poa_pack_raw(&pk, just[i]->wire, just[i]->wire_len);
  c->api->buf_free(c->host, block);
  return poa_buf_finish(&buf, out, len);
}

static void propose(mc_consensus *c, const mc_block *b, poa_vote *const *just,
                    uint32_t njust) {
  poa_saved *s = &c->saved, before;
  if (!poa_may_sign(c) || (s->prop.set && s->prop.view == c->view))
    return; /* one proposal per view, even across a restart */
  uint8_t *wire = NULL;
  size_t len = 0;
  poa_record_begin(c, &before);
  int rc = poa_record_end(c, &before,
                          sign_vote(c, POA_PROPOSE, b->hash, &s->prop));
  if (rc == 0)
    rc = encode_propose(c, b, &s->prop, just, njust, &wire, &len);
  if (rc != 0) {
    poa_log(c, MC_LOG_ERROR, "propose_failed",
            (mc_log_field[]){MC_LOG_F_S("reason", mc_strerror(rc))}, 1);
    return;
  }
  poa_log(c, MC_LOG_INFO, "proposed",
          (mc_log_field[]){MC_LOG_F_HEX("hash", b->hash, MC_HASH_LEN),
                           MC_LOG_F_U("txs", b->header.tx_count),
                           MC_LOG_F_U("justification", njust)},
          3);
  poa_emit(c, wire, len);
  free(wire);
}

static void propose_new(mc_consensus *c, poa_vote *const *just,
                        uint32_t njust) {
  mc_block *b = NULL;
  int rc = c->api->build_block(c->host, &b);
  if (rc != 0) {
    poa_log(c, MC_LOG_ERROR, "build_block_failed",
            (mc_log_field[]){MC_LOG_F_S("reason", mc_strerror(rc))}, 1);
    return;
  }
  propose(c, b, just, njust);
  poa_cand_add(c, b);
}

/* Leader of view > 0: propose once q VIEWCHANGEs for this view are in,
 * re-proposing the block of the highest prepared certificate among them. */
static void try_propose_vc(mc_consensus *c) {
  if (!c->running || c->view == 0 || !is_leader(c) || !poa_may_sign(c) ||
      (c->saved.prop.set && c->saved.prop.view == c->view))
    return;
  poa_vote **just = calloc(c->n, sizeof *just);
  if (just == NULL)
    return;
  uint32_t k = 0;
  const poa_vote *best = NULL;
  for (uint32_t i = 0; i < c->n; i++) {
    poa_vote *s = poa_slots_of(c, POA_VIEWCHANGE, i);
    for (int j = 0; j < POA_SLOTS; j++) {
      if (s[j].used && s[j].view == c->view) {
        just[k++] = &s[j];
        if (s[j].prepared && (best == NULL || s[j].pview > best->pview))
          best = &s[j];
      }
    }
  }
#ifdef MC_POA_TEST_NO_LOCK
  best = NULL; /* test build only: the unsafe protocol the simulation must
                  catch (tests/consensus/CMakeLists.txt) */
#endif
  if (k >= c->q && best == NULL) {
    propose_new(c, just, k);
  } else if (k >= c->q) {
    const mc_block *b = poa_cand_find(c, best->hash);
    if (b != NULL)
      propose(c, b, just, k);
    else
      poa_log(c, MC_LOG_WARN, "reproposal_block_missing",
              (mc_log_field[]){MC_LOG_F_HEX("hash", best->hash, MC_HASH_LEN)},
              1);
  }
  free(just);
}

/* Checks a PROPOSE's justification: q VIEWCHANGEs for (h, v) from
 * distinct validators, each with a valid signature and prepared cert and
 * no block (docs/CONSENSUS.md); one bad entry voids the whole of it.
 * *best_set/best say which block the highest prepared cert names. */
static int check_justification(mc_consensus *c, const poa_msg *m,
                               int *best_set, uint8_t best[MC_HASH_LEN]) {
  uint8_t *seen = calloc(c->n, 1);
  if (seen == NULL)
    return MC_ENOMEM;
  uint64_t best_view = 0;
  uint32_t k = 0;
  int rc = 0;
  *best_set = 0;
  for (uint32_t i = 0; i < m->just->via.array.size && rc == 0; i++) {
    poa_msg vm;
    uint8_t msg[POA_SIGNING_MAX], ph[MC_HASH_LEN];
    uint64_t pv;
    if (poa_msg_parse(&m->just->via.array.ptr[i], &vm) != 0 ||
        vm.kind != POA_VIEWCHANGE || vm.height != m->height ||
        vm.view != m->view || vm.signer >= c->n || seen[vm.signer] ||
        vm.block != NULL) { /* blocks ride in VIEWCHANGEs, never here */
      rc = MC_ECERT;
      break;
    }
    size_t len = poa_signing_bytes(POA_VIEWCHANGE, vm.height, vm.view, vm.hash,
                                   vm.prepared, vm.pview, msg);
    if (c->api->verify(c->host, c->keys[vm.signer], msg, len, vm.sig) != 0) {
      rc = MC_ECERT;
      break;
    }
    if ((int32_t)vm.signer == c->self)
      poa_watch_evidence(c, POA_VIEWCHANGE, vm.height, vm.view,
                         "justification");
    if (vm.prepared &&
        poa_prepared_verify(c, m->height, m->view, vm.pcert, &pv, ph) != 0) {
      rc = MC_ECERT;
      break;
    }
    seen[vm.signer] = 1;
    k++;
    if (vm.prepared && (!*best_set || pv > best_view)) {
      *best_set = 1;
      best_view = pv;
      memcpy(best, ph, MC_HASH_LEN);
    }
  }
  free(seen);
  return rc != 0 ? rc : k >= c->q ? 0 : MC_ECERT;
}

/* Starts the round timer of our view once it is synced (see view_synced
 * in poa_internal.h).  Without this rule a validator that timed out alone
 * kept moving up on its own clock and could stay a view or two ahead of
 * everyone else for ever, so no view ever had a quorum (found by the
 * simulation, tests/consensus/sim.c, seeds 2 and 36). */
static void view_synced(mc_consensus *c) {
  if (c->view_synced)
    return;
  c->view_synced = 1;
  poa_timer_cancel(c, &c->resend_timer);
  poa_timer_arm(c, &c->round_timer, round_timeout(c, c->view),
                poa_on_round_timeout);
}

/* Validators whose latest VIEWCHANGE is for view v or above. */
static uint32_t count_at_or_above(mc_consensus *c, uint64_t v) {
  uint32_t k = 0;
  for (uint32_t i = 0; i < c->n; i++) {
    poa_vote *s = poa_slots_of(c, POA_VIEWCHANGE, i);
    for (int j = 0; j < POA_SLOTS; j++)
      if (s[j].used && s[j].view >= v) {
        k++;
        break;
      }
  }
  return k;
}

/* Evidence that q validators reached our view: their VIEWCHANGEs, or an
 * ACK or lock of ours in it (both follow a justified proposal; after a
 * restart they are all that is left of it). */
static void check_view_synced(mc_consensus *c) {
  const poa_saved *s = &c->saved;
  if (c->view == 0 || count_at_or_above(c, c->view) >= c->q ||
      (s->ack.set && s->ack.view == c->view) ||
      (s->lock_set && s->lock_view == c->view))
    view_synced(c);
}

/* Enters view v; `justified` when a valid proposal for v brought us. */
static void enter_view(mc_consensus *c, uint64_t v, int justified) {
  c->view = c->saved.view = v;
  c->view_synced = 0;
  poa_timer_cancel(c, &c->propose_timer);
  poa_timer_cancel(c, &c->round_timer);
  poa_timer_arm(c, &c->resend_timer, c->view_timeout_ms, poa_on_resend_timer);
  if (justified)
    view_synced(c);
  else
    check_view_synced(c);
}

/* The proposal is acceptable: ACK it (once per view, even across a
 * restart: the saved ACK is re-sent, never a second one signed). */
static void ack(mc_consensus *c, const uint8_t hash[MC_HASH_LEN]) {
  poa_saved *s = &c->saved, before;
  if (!poa_may_sign(c))
    return;
  if (s->ack.set && s->ack.view == c->view) {
    if (memcmp(s->ack.hash, hash, MC_HASH_LEN) == 0)
      emit_vote(c, POA_ACK, &s->ack);
    return;
  }
  poa_record_begin(c, &before);
  int rc = poa_record_end(c, &before, sign_vote(c, POA_ACK, hash, &s->ack));
  if (rc != 0) {
    poa_log(c, MC_LOG_ERROR, "ack_failed",
            (mc_log_field[]){MC_LOG_F_S("reason", mc_strerror(rc))}, 1);
    return;
  }
  poa_log(c, MC_LOG_INFO, "acked",
          (mc_log_field[]){MC_LOG_F_HEX("hash", hash, MC_HASH_LEN)}, 1);
  emit_vote(c, POA_ACK, &s->ack);
}

static int proposal_block(mc_consensus *c, const poa_msg *m, mc_block **out) {
  int rc = c->api->decode_block(c->host, (const uint8_t *)m->block->via.bin.ptr,
                                m->block->via.bin.size, out);
  if (rc != 0)
    return MC_EDECODE;
  if ((*out)->header.height != m->height ||
      memcmp((*out)->hash, m->hash, MC_HASH_LEN) != 0) {
    c->api->block_free(c->host, *out);
    return MC_EDECODE;
  }
  return 0;
}

static int on_propose(mc_consensus *c, const poa_msg *m) {
  if (m->view < c->view)
    return 0;
  if (m->signer != poa_leader(c, m->height, m->view))
    return MC_EPROPOSER;
  int best_set = 0, rc = 0;
  uint8_t best[MC_HASH_LEN];
  if (m->view == 0 && m->just->via.array.size != 0)
    return MC_EDECODE;
  if (m->view > 0)
    rc = check_justification(c, m, &best_set, best);
#ifndef MC_POA_TEST_NO_LOCK
  if (rc == 0 && best_set && memcmp(best, m->hash, MC_HASH_LEN) != 0)
    rc = MC_ECERT; /* the leader did not honour the highest lock */
#endif
  mc_block *b = NULL;
  if (rc == 0)
    rc = proposal_block(c, m, &b);
  if (rc == 0 && (rc = c->api->validate_block(c->host, b)) != 0)
    c->api->block_free(c->host, b);
  if (rc != 0) {
    poa_log(c, MC_LOG_WARN, "proposal_refused",
            (mc_log_field[]){MC_LOG_F_U("from_view", m->view),
                             MC_LOG_F_S("reason", mc_strerror(rc))},
            2);
    return rc;
  }
  poa_cand_add(c, b);
  if (m->view > c->view) /* a justified proposal moves us to its view */
    enter_view(c, m->view, 1);
  else if (m->view > 0)
    view_synced(c);
  ack(c, m->hash);
  check_prepared(c, m->view, m->hash);
  check_commit(c, m->view, m->hash);
  return 0;
}

/* ---- VIEWCHANGE ---- */

static void change_view(mc_consensus *c, uint64_t v, const char *reason);

/* f+1 VIEWCHANGEs above our view include an honest one: join the highest
 * view that f+1 validators have reached (the round skip). */
static void check_round_skip(mc_consensus *c) {
  uint64_t *hv = calloc(c->n, sizeof *hv);
  if (hv == NULL)
    return;
  uint32_t k = 0;
  for (uint32_t i = 0; i < c->n; i++) {
    poa_vote *s = poa_slots_of(c, POA_VIEWCHANGE, i);
    uint64_t top = 0;
    for (int j = 0; j < POA_SLOTS; j++)
      if (s[j].used && s[j].view > top)
        top = s[j].view;
    if (top > c->view)
      hv[k++] = top;
  }
  if (k >= c->f + 1) {
    /* the (f+1)-th highest: f+1 validators are at it or above */
    for (uint32_t i = 0; i <= c->f; i++)
      for (uint32_t j = i + 1; j < k; j++)
        if (hv[j] > hv[i]) {
          uint64_t t = hv[i];
          hv[i] = hv[j];
          hv[j] = t;
        }
    change_view(c, hv[c->f], "round_skip");
  }
  free(hv);
}

/* The VIEWCHANGE without its block, as a leader puts it in a
 * justification. */
static int strip_vc(const poa_msg *m, uint8_t **out, size_t *len) {
  poa_buf b;
  msgpack_packer pk;
  poa_buf_init(&b, &pk);
  poa_pack_head(&pk, POA_VIEWCHANGE, m->height, m->view);
  if (m->prepared)
    msgpack_pack_object(&pk, *m->pcert);
  else
    msgpack_pack_nil(&pk);
  msgpack_pack_uint32(&pk, m->signer);
  msgpack_pack_bin_with_body(&pk, m->sig, MC_SIG_LEN);
  msgpack_pack_nil(&pk);
  return poa_buf_finish(&b, out, len);
}

static int vc_block(mc_consensus *c, const poa_msg *m) {
  mc_block *b;
  if (c->api->decode_block(c->host, (const uint8_t *)m->block->via.bin.ptr,
                           m->block->via.bin.size, &b) != 0)
    return MC_EDECODE;
  if (b->header.height != m->height ||
      memcmp(b->hash, m->hash, MC_HASH_LEN) != 0) {
    c->api->block_free(c->host, b);
    return MC_ECERT;
  }
  poa_cand_add(c, b);
  return 0;
}

static int on_viewchange(mc_consensus *c, const poa_msg *m) {
  uint64_t pv;
  uint8_t ph[MC_HASH_LEN];
  if (m->view == 0)
    return MC_EDECODE;
  if (m->prepared &&
      poa_prepared_verify(c, m->height, m->view, m->pcert, &pv, ph) != 0)
    return MC_ECERT; /* a lying or broken lock */
  if (m->block != NULL && (!m->prepared || vc_block(c, m) != 0))
    return MC_ECERT;
  uint8_t *wire;
  size_t len;
  if (strip_vc(m, &wire, &len) != 0)
    return MC_ENOMEM;
  if (!poa_record_vote(c, m, wire, len)) {
    free(wire);
    return 0;
  }
  check_round_skip(c);
  check_view_synced(c);
  if (m->view == c->view)
    try_propose_vc(c);
  return 0;
}

static int encode_vc(mc_consensus *c, const uint8_t sig[MC_SIG_LEN],
                     uint8_t **out, size_t *len) {
  const poa_saved *s = &c->saved;
  poa_buf b;
  msgpack_packer pk;
  poa_buf_init(&b, &pk);
  poa_pack_head(&pk, POA_VIEWCHANGE, c->height, c->view);
  if (s->lock_set)
    poa_pack_raw(&pk, s->lock_cert, s->lock_cert_len);
  else
    msgpack_pack_nil(&pk);
  msgpack_pack_uint32(&pk, (uint32_t)c->self);
  msgpack_pack_bin_with_body(&pk, sig, MC_SIG_LEN);
  if (s->lock_set)
    msgpack_pack_bin_with_body(&pk, s->lock_block, s->lock_block_len);
  else
    msgpack_pack_nil(&pk);
  return poa_buf_finish(&b, out, len);
}

/* Signs and sends VIEWCHANGE for the current view, carrying our lock. */
static void send_vc(mc_consensus *c) {
  const poa_saved *s = &c->saved;
  uint8_t msg[POA_SIGNING_MAX], sig[MC_SIG_LEN];
  /* A VIEWCHANGE for v carries a lock below v; with a lock of v itself the
   * view was synced and our round timer, not this message, moves us on
   * (peers would refuse it: simulation seed 208). */
  if (s->lock_set && s->lock_view >= c->view)
    return;
  size_t len = poa_signing_bytes(POA_VIEWCHANGE, c->height, c->view,
                                 s->lock_hash, s->lock_set, s->lock_view, msg);
  uint8_t *wire;
  size_t wire_len;
  if (c->api->sign(c->host, msg, len, sig) != 0 ||
      encode_vc(c, sig, &wire, &wire_len) != 0)
    return;
  poa_emit(c, wire, wire_len);
  free(wire);
}

/* Saves "VIEWCHANGE sent for our view" before it is signed and sent:
 * never send what is not saved. */
static int record_vc(mc_consensus *c) {
  poa_saved before;
  poa_record_begin(c, &before);
  c->saved.vc_set = 1;
  c->saved.vc_view = c->view;
  poa_hw_raise(&c->saved, c->height, c->view);
  return poa_record_end(c, &before, 0);
}

static void change_view(mc_consensus *c, uint64_t v, const char *reason) {
  assert(v > c->view);
  enter_view(c, v, 0);
  poa_log(c, MC_LOG_INFO, "view_change",
          (mc_log_field[]){MC_LOG_F_S("reason", reason),
                           MC_LOG_F_U("leader", poa_leader(c, c->height, v)),
                           MC_LOG_F_B("locked", c->saved.lock_set)},
          3);
  if (!poa_may_sign(c) || record_vc(c) != 0)
    return;
  send_vc(c);
  try_propose_vc(c);
}

void poa_on_round_timeout(void *arg) {
  mc_consensus *c = arg;
  c->round_timer = 0;
  if (!c->running)
    return;
  poa_signing_retry(c);
  /* Our COMMIT may be what a peer is missing: send it again. */
  if (c->saved.commit.set && c->saved.commit.view == c->view)
    emit_vote(c, POA_COMMIT, &c->saved.commit);
  change_view(c, c->view + 1, "timeout");
  poa_drain(c);
}

/* Unsynced: our VIEWCHANGE (and COMMIT) for this view may have been lost. */
static void resend_votes(mc_consensus *c) {
  poa_saved *s = &c->saved;
  if (s->commit.set && s->commit.view == c->view)
    emit_vote(c, POA_COMMIT, &s->commit);
  /* A validator restarted in a view it entered through a proposal has sent
   * no VIEWCHANGE for it; silent, it could keep the others from a quorum
   * (simulation seed 208).  Asking for the view we are in is safe: views
   * never go down, so it is sent after any COMMIT of a lower view. */
  if (!(s->vc_set && s->vc_view == c->view) &&
      !(s->lock_set && s->lock_view >= c->view) && record_vc(c) != 0)
    return;
  if (s->vc_set && s->vc_view == c->view)
    send_vc(c);
}

void poa_on_resend_timer(void *arg) {
  mc_consensus *c = arg;
  c->resend_timer = 0;
  if (!c->running || c->view_synced || c->self < 0)
    return;
  poa_signing_retry(c);
  if (poa_may_sign(c))
    resend_votes(c);
  poa_timer_arm(c, &c->resend_timer, c->view_timeout_ms, poa_on_resend_timer);
  poa_drain(c);
}

void poa_on_propose_timer(void *arg) {
  mc_consensus *c = arg;
  c->propose_timer = 0;
  if (!c->running || c->view != 0 || !is_leader(c) || !poa_may_sign(c))
    return;
  propose_new(c, NULL, 0);
  poa_drain(c);
}

/* ---- entry points ---- */

void poa_round_begin(mc_consensus *c) {
  poa_saved *s = &c->saved;
  poa_signing_retry(c);
  if (s->lock_set) {
    mc_block *b;
    if (c->api->decode_block(c->host, s->lock_block, s->lock_block_len, &b) ==
        0)
      poa_cand_add(c, b);
  }
  c->view_synced = 0;
  /* after a restart in view v > 0: wait for q at v, as enter_view */
  if (c->view > 0)
    poa_timer_arm(c, &c->resend_timer, c->view_timeout_ms,
                  poa_on_resend_timer);
  check_view_synced(c);
  if (c->view == 0 && is_leader(c)) {
    uint64_t now = c->api->monotonic_ms(c->host);
    uint64_t due = c->last_commit_ms + c->block_interval_ms;
    poa_timer_arm(c, &c->propose_timer, due > now ? due - now : 0,
                  poa_on_propose_timer);
  }
  if (c->view > 0 && poa_may_sign(c) && s->vc_set && s->vc_view == c->view)
    send_vc(c); /* after a restart: our peers may never have seen it */
  poa_replay_future(c);
}

/* A message for a height already decided still matters if it carries
 * our own signature, or while we watch and its signer sent it itself. */
static int past_matters(const mc_consensus *c, uint32_t from, const poa_msg *m,
                        int fresh) {
  return (int32_t)m->signer == c->self ||
         (fresh && from == m->signer && poa_watching(c));
}

int poa_handle(mc_consensus *c, uint32_t from, const uint8_t *msg, size_t len,
               int fresh) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  poa_msg m;
  int rc = poa_unpack(msg, len, &u);
  if (rc == 0)
    rc = poa_msg_parse(&u.data, &m);
  if (rc == 0 && m.signer >= c->n)
    rc = MC_ESIG;
  if (rc != 0 || (m.height < c->height && !past_matters(c, from, &m, fresh))) {
    msgpack_unpacked_destroy(&u);
    return rc;
  }
  uint8_t sb[POA_SIGNING_MAX];
  size_t sl = poa_signing_bytes(m.kind, m.height, m.view, m.hash, m.prepared,
                                m.pview, sb);
  int valid = c->api->verify(c->host, c->keys[m.signer], sb, sl, m.sig) == 0;
  if (valid && (int32_t)m.signer == c->self)
    poa_watch_evidence(c, m.kind, m.height, m.view, "message");
  if (valid && fresh)
    poa_watch_hear(c, from, &m);
  if (!valid)
    rc = MC_ESIG;
  else if (m.height < c->height)
    ; /* seen for the watch rule only */
  else if (m.height > c->height)
    poa_buffer_future(c, from, &m, msg, len);
  else if (m.kind == POA_PROPOSE)
    rc = on_propose(c, &m);
  else if (m.kind == POA_VIEWCHANGE)
    rc = on_viewchange(c, &m);
  else if (poa_record_vote(c, &m, NULL, 0) == 0)
    ; /* a duplicate, or a second vote of an equivocator */
  else if (m.kind == POA_ACK)
    check_prepared(c, m.view, m.hash);
  else
    check_commit(c, m.view, m.hash);
  msgpack_unpacked_destroy(&u);
  return rc;
}
