/*
 * poa.c - poa.so: the round-robin Proof-of-Authority engine's vtable and
 * lifecycle (create, start, stop, destroy), its timers, and the queue
 * through which it handles its own messages.
 *
 * Our own PROPOSE, ACK, COMMIT and VIEWCHANGE are broadcast and then
 * handled locally exactly as a peer's would be, from a queue rather than
 * by recursion: handling one can commit a block, and commit_block calls
 * on_commit synchronously, which starts the next height.  A queue keeps
 * every handler's stack free of a height change under its feet.
 */
#include <stdlib.h>
#include <string.h>

#include "minichain/plugin.h"
#include "poa_internal.h"

/* ---- helpers shared with the other files ---- */

void poa_log(mc_consensus *c, mc_log_level lvl, const char *event,
             const mc_log_field *extra, size_t nextra) {
  mc_log_field f[10] = {MC_LOG_F_U("height", c->height),
                        MC_LOG_F_U("view", c->view)};
  size_t n = 2;
  for (size_t i = 0; i < nextra && n < sizeof f / sizeof f[0]; i++)
    f[n++] = extra[i];
  c->api->log(c->host, lvl, event, f, n);
}

void poa_timer_cancel(mc_consensus *c, uint64_t *id) {
  if (*id != 0)
    c->api->timer_stop(c->host, *id);
  *id = 0;
}

void poa_timer_arm(mc_consensus *c, uint64_t *id, uint64_t delay,
                   mc_timer_cb cb) {
  poa_timer_cancel(c, id);
  if (!c->running)
    return;
  int rc = c->api->timer_start(c->host, delay, cb, c, id);
  if (rc != 0) {
    *id = 0;
    poa_log(c, MC_LOG_ERROR, "timer_failed",
            (mc_log_field[]){MC_LOG_F_S("reason", mc_strerror(rc))}, 1);
  }
}

int poa_queue_local(mc_consensus *c, uint32_t from, const uint8_t *msg,
                    size_t len) {
  poa_qmsg *q = malloc(sizeof *q + len);
  if (q == NULL)
    return MC_ENOMEM;
  q->next = NULL;
  q->height = 0;
  q->from = from;
  q->signer = from;
  q->len = len;
  memcpy(q->data, msg, len);
  if (c->local_tail != NULL)
    c->local_tail->next = q;
  else
    c->local_head = q;
  c->local_tail = q;
  return 0;
}

/* Sends nothing while this validator may not sign (poa_sign.c), not even
 * a vote it saved earlier: one rule at the one door out, so no path can
 * leak a vote while signing is stopped. */
void poa_emit(mc_consensus *c, const uint8_t *msg, size_t len) {
  if (!poa_may_sign(c) || !c->running)
    return;
  int rc = c->api->broadcast(c->host, msg, len);
  if (rc != 0)
    poa_log(c, MC_LOG_WARN, "broadcast_failed",
            (mc_log_field[]){MC_LOG_F_S("reason", mc_strerror(rc))}, 1);
  if (poa_queue_local(c, (uint32_t)c->self, msg, len) != 0)
    poa_log(c, MC_LOG_ERROR, "out_of_memory", NULL, 0);
}

void poa_drain(mc_consensus *c) {
  if (c->draining)
    return;
  c->draining = 1;
  while (c->local_head != NULL && c->running) {
    poa_qmsg *q = c->local_head;
    c->local_head = q->next;
    if (c->local_head == NULL)
      c->local_tail = NULL;
    poa_handle(c, q->from, q->data, q->len, 0);
    free(q);
  }
  c->draining = 0;
}

static void free_list(poa_qmsg **head) {
  while (*head != NULL) {
    poa_qmsg *q = *head;
    *head = q->next;
    free(q);
  }
}

/* ---- lifecycle ---- */

static int load_validators(mc_consensus *c) {
  c->n = c->api->validator_count(c->host);
  if (c->n == 0 || c->n > POA_MAX_VALIDATORS)
    return MC_EINVAL;
  c->f = (c->n - 1) / 3;
  c->q = (c->n + c->f + 2) / 2; /* ceil((n + f + 1) / 2) */
  c->keys = calloc(c->n, sizeof *c->keys);
  c->votes = calloc((size_t)3 * c->n * POA_SLOTS, sizeof *c->votes);
  c->future_count = calloc(c->n, sizeof *c->future_count);
  c->future_bytes = calloc(c->n, sizeof *c->future_bytes);
  c->watch_first = calloc(c->n, sizeof *c->watch_first);
  if (c->keys == NULL || c->votes == NULL || c->future_count == NULL ||
      c->future_bytes == NULL ||
      c->watch_first == NULL)
    return MC_ENOMEM;
  for (uint32_t i = 0; i < c->n; i++)
    if (c->api->validator_key(c->host, i, c->keys[i]) != 0)
      return MC_EINVAL;
  c->self = c->api->self_index(c->host);
  if (c->self >= (int32_t)c->n)
    return MC_EINVAL;
  return 0;
}

/* Puts the saved round in line with the chain head: votes at a height
 * that is committed by now are void. */
static int align_with_head(mc_consensus *c) {
  uint64_t head;
  uint8_t hash[MC_HASH_LEN];
  int rc = c->api->head(c->host, &head, hash);
  if (rc != 0)
    return rc;
  poa_saved *s = &c->saved;
  if (s->height > head + 1) {
    poa_log(c, MC_LOG_ERROR, "state_ahead_of_chain",
            (mc_log_field[]){MC_LOG_F_U("state_height", s->height),
                             MC_LOG_F_U("head", head)},
            2);
    return MC_ECORRUPT;
  }
  if (s->height < head + 1)
    poa_saved_next_height(s, head + 1);
  c->height = s->height;
  c->view = s->view;
  return 0;
}

/* No saved state: a new validator if the operator says so, else one that
 * may have signed before and lost the record (poa_watch.c). */
static void start_without_state(mc_consensus *c) {
  if (c->self < 0)
    return;
  if (!(c->flags & MC_CONSENSUS_NEW_VALIDATOR)) {
    poa_watch_start(c, "no_state");
    return;
  }
  poa_log(c, MC_LOG_WARN, "new_validator",
          (mc_log_field[]){MC_LOG_F_S(
              "note", "--new-validator: the operator asserts that this key "
                      "has never signed anything for this chain; it signs "
                      "at once")},
          1);
  int rc = poa_state_save(c); /* so that a restart finds a record */
  if (rc != 0)
    poa_signing_stop(c, rc);
}

/* Loads the saved state, or starts without one. */
static int load_state(mc_consensus *c) {
  int rc = poa_state_load(c);
  int found = rc != MC_ENOTFOUND;
  if (!found)
    rc = 0;
  if (rc == 0)
    rc = align_with_head(c);
  if (rc == 0 && !found)
    start_without_state(c);
  else if (rc == 0 && poa_watching(c))
    poa_watch_start(c, "saved_watch"); /* a restart while watching */
  return rc;
}

static void poa_destroy(mc_consensus *c);

static int poa_create(const mc_host_api *api, mc_host *host,
                      const mc_consensus_params *params, mc_consensus **out) {
  if (api == NULL || host == NULL || params == NULL || out == NULL ||
      !MC_PARAMS_HAS(params, view_timeout_ms) || params->view_timeout_ms == 0)
    return MC_EINVAL;
  mc_consensus *c = calloc(1, sizeof *c);
  if (c == NULL)
    return MC_ENOMEM;
  c->api = api;
  c->host = host;
  c->block_interval_ms = params->block_interval_ms;
  c->view_timeout_ms = params->view_timeout_ms;
  c->flags = MC_PARAMS_HAS(params, flags) ? params->flags : 0;
  int rc = load_validators(c);
  if (rc == 0)
    rc = load_state(c);
  if (rc != 0) {
    poa_destroy(c);
    return rc;
  }
  *out = c;
  return 0;
}

static int poa_start(mc_consensus *c) {
  if (c->running)
    return MC_ESTATE;
  c->running = 1;
  c->last_commit_ms = c->api->monotonic_ms(c->host);
  poa_log(c, MC_LOG_INFO, "consensus_started",
          (mc_log_field[]){MC_LOG_F_U("validators", c->n),
                           MC_LOG_F_U("quorum", c->q),
                           MC_LOG_F_I("self", c->self)},
          3);
  poa_round_begin(c);
  poa_drain(c);
  return 0;
}

static void poa_stop(mc_consensus *c) {
  c->running = 0;
  poa_timer_cancel(c, &c->round_timer);
  poa_timer_cancel(c, &c->propose_timer);
  poa_timer_cancel(c, &c->resend_timer);
  free_list(&c->local_head);
  c->local_tail = NULL;
}

static void poa_destroy(mc_consensus *c) {
  if (c == NULL)
    return;
  poa_stop(c);
  if (c->votes != NULL)
    poa_round_reset(c);
  free_list(&c->future);
  poa_saved_clear_lock(&c->saved);
  free(c->votes);
  free(c->keys);
  free(c->future_count);
  free(c->future_bytes);
  free(c->watch_first);
  free(c);
}

static int poa_on_message(mc_consensus *c, uint32_t from, const uint8_t *msg,
                          size_t len) {
  if (!c->running)
    return MC_ESTATE;
  if (msg == NULL || from >= c->n)
    return MC_EINVAL;
  int rc = poa_handle(c, from, msg, len, 1);
  poa_drain(c);
  return rc;
}

/*
 * Where the wait for the next proposal starts (monotonic ms): when the
 * block just committed was proposed (its timestamp, read on this node's
 * clock), but never earlier than block_interval_ms before now.  So the
 * time the votes took eats into the wait instead of adding to it, and a
 * proposer whose clock runs ahead or behind shifts the next proposal by
 * at most the interval, never beyond the commit plus the interval.  A
 * block this node never saw proposed (from sync) counts from now.
 */
static uint64_t interval_start(mc_consensus *c,
                               const uint8_t hash[MC_HASH_LEN]) {
  uint64_t mono = c->api->monotonic_ms(c->host);
  const mc_block *b = poa_cand_find(c, hash);
  if (b == NULL && c->committing != NULL &&
      memcmp(c->committing->hash, hash, MC_HASH_LEN) == 0)
    b = c->committing; /* our own commit: check_commit took it */
  if (b == NULL)
    return mono;
  uint64_t wall = c->api->now_ms(c->host);
  uint64_t ts = b->header.timestamp_ms;
  uint64_t since = wall > ts ? wall - ts : 0;
  if (since > c->block_interval_ms)
    since = c->block_interval_ms;
  return since < mono ? mono - since : 0;
}

static void poa_on_commit(mc_consensus *c, uint64_t height,
                          const uint8_t hash[MC_HASH_LEN]) {
  if (height < c->height) /* a height we moved past already */
    return;
  uint64_t start = interval_start(c, hash); /* before the candidates go */
  poa_round_reset(c);
  poa_saved_next_height(&c->saved, height + 1); /* hw is kept */
  c->height = height + 1;
  c->view = 0;
  c->last_commit_ms = start;
  if (!c->running)
    return;
  poa_round_begin(c);
  poa_drain(c);
}

static int poa_status(mc_consensus *c, mc_consensus_status *out) {
  if (out == NULL)
    return MC_EINVAL;
  out->height = c->height;
  out->view = c->view;
  out->leader = (int32_t)poa_leader(c, c->height, c->view);
  return 0;
}

static int poa_verify_cert_vt(mc_consensus *c, const mc_block *b,
                              const uint8_t *cert, size_t cert_len) {
  return poa_verify_certificate(c, b, cert, cert_len);
}

static const mc_consensus_vtable poa_vtable = {
    .size = sizeof(mc_consensus_vtable),
    .create = poa_create,
    .start = poa_start,
    .stop = poa_stop,
    .destroy = poa_destroy,
    .on_message = poa_on_message,
    .on_commit = poa_on_commit,
    .verify_certificate = poa_verify_cert_vt,
    .on_peer = NULL,
    .status = poa_status,
};

MC_PLUGIN_DEFINE(MC_PLUGIN_CONSENSUS, "poa", "1.0.0",
                 "round-robin Proof-of-Authority (PROPOSE/ACK/COMMIT, "
                 "locked view changes)",
                 &poa_vtable)
