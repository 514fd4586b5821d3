/*
 * services.c - the host services table handed to plugins (minichain/host.h).
 *
 * Each entry adapts one host subsystem to the plugin ABI: logging to the
 * JSON log, timers to libuv (the host owns every handle, so a plugin never
 * holds a libuv handle that could outlive it), blocks to the chain, and
 * durable state to a file in the data directory.
 *
 * A store gets its own table (mc_node_store_api): the services a store has
 * a use for (logging, clocks, hashing, the block codec) and, in place of
 * every other one, a function that refuses.  The host calls the store from
 * inside the chain's own operations, so a store that called head,
 * get_block or commit_block would re-enter the chain half-way through an
 * append; timers, messages, keys and the plugin state are the consensus
 * engine's.  docs/SDK.md lists what a store may call.
 */
#include <assert.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "chain/codec.h"
#include "chain/crypto.h"
#include "log.h"
#include "minichain/error.h"
#include "node.h"


struct mc_timer {
  uv_timer_t handle;
  uint64_t id;
  mc_timer_cb cb;
  void *arg;
  mc_node *node;
  mc_timer *prev, *next;
};

uint64_t mc_node_now_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

static void svc_log(mc_host *h, mc_log_level level, const char *event,
                    const mc_log_field *fields, size_t nfields) {
  mc_log_write(level, h->src, event, fields, nfields);
}

static uint64_t svc_now_ms(mc_host *h) {
  (void)h;
  return mc_node_now_ms();
}

/* The loop's clock; a store asking during its open, before the loop
 * exists, gets the same clock read directly (uv_now is uv_hrtime in ms). */
static uint64_t svc_monotonic_ms(mc_host *h) {
  if (!h->node->loop_ready)
    return uv_hrtime() / 1000000u;
  return uv_now(&h->node->loop);
}

/* ---- timers ---- */

static void timer_unlink(mc_timer *t) {
  mc_node *n = t->node;
  if (t->prev)
    t->prev->next = t->next;
  else
    n->timers = t->next;
  if (t->next)
    t->next->prev = t->prev;
  t->prev = t->next = NULL;
}

static void timer_free(uv_handle_t *h) { free(h->data); }

static void timer_fired(uv_timer_t *h) {
  mc_timer *t = h->data;
  mc_timer_cb cb = t->cb;
  void *arg = t->arg;
  timer_unlink(t);
  uv_close((uv_handle_t *)&t->handle, timer_free);
  cb(arg);
}

static int svc_timer_start(mc_host *h, uint64_t delay_ms, mc_timer_cb cb,
                           void *arg, uint64_t *id_out) {
  mc_node *n = h->node;
  if (n->stopping)
    return MC_ESTATE;
  mc_timer *t = calloc(1, sizeof *t);
  if (t == NULL)
    return MC_ENOMEM;
  t->id = ++n->next_timer_id;
  t->cb = cb;
  t->arg = arg;
  t->node = n;
  uv_timer_init(&n->loop, &t->handle);
  t->handle.data = t;
  uv_timer_start(&t->handle, timer_fired, delay_ms, 0);
  t->next = n->timers;
  if (n->timers)
    n->timers->prev = t;
  n->timers = t;
  *id_out = t->id;
  return 0;
}

static void timer_cancel(mc_timer *t) {
  uv_timer_stop(&t->handle);
  timer_unlink(t);
  uv_close((uv_handle_t *)&t->handle, timer_free);
}

static int svc_timer_stop(mc_host *h, uint64_t id) {
  for (mc_timer *t = h->node->timers; t != NULL; t = t->next) {
    if (t->id == id) {
      timer_cancel(t);
      return 0;
    }
  }
  return MC_ENOTFOUND;
}

void mc_node_timers_close(mc_node *n) {
  while (n->timers != NULL)
    timer_cancel(n->timers);
}

/* ---- messages ---- */

static int svc_send(mc_host *h, uint32_t validator, const uint8_t *msg,
                    size_t len) {
  mc_node *n = h->node;
  if (validator >= n->genesis.validator_count ||
      (int32_t)validator == n->self_index)
    return MC_EINVAL;
  /* Room for the CONSENSUS envelope around the payload. */
  if (len > n->cfg->max_frame - 64)
    return MC_ETOOBIG;
  if (n->peers == NULL)
    return MC_ENOTCONN;
  return mc_peers_send(n->peers, validator, msg, len);
}

static int svc_broadcast(mc_host *h, const uint8_t *msg, size_t len) {
  mc_node *n = h->node;
  if (len > n->cfg->max_frame - 64)
    return MC_ETOOBIG;
  return n->peers == NULL ? 0 : mc_peers_broadcast(n->peers, msg, len);
}

/* ---- keys ---- */

/* Both in the consensus domain of this chain (mc_consensus_sign): the
 * node key signs nothing else for a plugin. */
static int svc_sign(mc_host *h, const uint8_t *msg, size_t len,
                    uint8_t sig[MC_SIG_LEN]) {
  mc_node *n = h->node;
  return mc_consensus_sign(n->key.sk, n->genesis.hash, msg, len, sig);
}

static int svc_verify(mc_host *h, const uint8_t pk[MC_PUBKEY_LEN],
                      const uint8_t *msg, size_t len,
                      const uint8_t sig[MC_SIG_LEN]) {
  return mc_consensus_verify(pk, h->node->genesis.hash, msg, len, sig);
}

static void svc_hash(mc_host *h, const uint8_t *data, size_t len,
                     uint8_t out[MC_HASH_LEN]) {
  (void)h;
  mc_sha256(data, len, out);
}

/* ---- validators ---- */

static uint32_t svc_validator_count(mc_host *h) {
  return h->node->genesis.validator_count;
}

static int svc_validator_key(mc_host *h, uint32_t idx,
                             uint8_t pk[MC_PUBKEY_LEN]) {
  const mc_genesis *g = &h->node->genesis;
  if (idx >= g->validator_count)
    return MC_EINVAL;
  memcpy(pk, g->validators[idx], MC_PUBKEY_LEN);
  return 0;
}

static int32_t svc_self_index(mc_host *h) { return h->node->self_index; }

/* ---- chain ---- */

static int svc_head(mc_host *h, uint64_t *height, uint8_t hash[MC_HASH_LEN]) {
  mc_chain *c = h->node->chain;
  *height = mc_chain_height(c);
  memcpy(hash, mc_chain_head_hash(c), MC_HASH_LEN);
  return 0;
}

static int svc_build_block(mc_host *h, mc_block **out) {
  mc_node *n = h->node;
  if (n->self_index < 0)
    return MC_ESTATE;
  size_t max = n->genesis.max_txs_per_block;
  const mc_tx **cands = malloc(max * sizeof *cands);
  if (cands == NULL)
    return MC_ENOMEM;
  size_t k = mc_mempool_ready(n->mempool, cands, max);
  int rc = mc_chain_build(n->chain, (const mc_tx *const *)cands, k,
                          mc_node_now_ms(), n->key.sk, out);
  free(cands);
  return rc;
}

static int svc_validate_block(mc_host *h, const mc_block *b) {
  mc_node *n = h->node;
  return mc_chain_validate(n->chain, b, mc_node_now_ms(), mc_node_sig_known, n);
}

static int svc_commit_block(mc_host *h, const mc_block *b, const uint8_t *cert,
                            size_t cert_len) {
  return mc_node_commit(h->node, b, cert, cert_len);
}

static int svc_get_block(mc_host *h, uint64_t height, mc_block **out) {
  return mc_chain_get_block(h->node->chain, height, out);
}

static int svc_encode_block(mc_host *h, const mc_block *b, uint8_t **out,
                            size_t *out_len) {
  (void)h;
  return mc_block_encode(b, out, out_len);
}

static int svc_decode_block(mc_host *h, const uint8_t *in, size_t len,
                            mc_block **out) {
  (void)h;
  return mc_block_decode(in, len, out);
}

static void svc_block_free(mc_host *h, mc_block *b) {
  (void)h;
  mc_block_free(b);
}

static void svc_buf_free(mc_host *h, void *p) {
  (void)h;
  free(p);
}

/* ---- durable plugin state ---- */

static int svc_state_save(mc_host *h, const uint8_t *data, size_t len) {
  if (h->state == NULL)
    return MC_ESTATE;
  int rc = mc_statefile_save(h->state, data, len);
  if (rc != 0)
    mc_log_write(MC_LOG_ERROR, "host", "plugin_state_save_failed",
                 (mc_log_field[]){MC_LOG_F_S("path", h->state_path)}, 1);
  return rc;
}

static int svc_state_load(mc_host *h, uint8_t **data, size_t *len) {
  if (h->state == NULL)
    return MC_ENOTFOUND;
  return mc_statefile_load(h->state, data, len);
}

/* ---- randomness (ABI 1.2) ---- */

static int svc_random_bytes(mc_host *h, uint8_t *buf, size_t len) {
  (void)h;
  if (buf == NULL && len > 0)
    return MC_EINVAL;
  if (len > 0)
    randombytes_buf(buf, len);
  return 0;
}

const mc_host_api mc_node_host_api = {
    .size = sizeof(mc_host_api),
    .log = svc_log,
    .now_ms = svc_now_ms,
    .monotonic_ms = svc_monotonic_ms,
    .timer_start = svc_timer_start,
    .timer_stop = svc_timer_stop,
    .send = svc_send,
    .broadcast = svc_broadcast,
    .sign = svc_sign,
    .verify = svc_verify,
    .hash = svc_hash,
    .validator_count = svc_validator_count,
    .validator_key = svc_validator_key,
    .self_index = svc_self_index,
    .head = svc_head,
    .build_block = svc_build_block,
    .validate_block = svc_validate_block,
    .commit_block = svc_commit_block,
    .get_block = svc_get_block,
    .encode_block = svc_encode_block,
    .decode_block = svc_decode_block,
    .block_free = svc_block_free,
    .buf_free = svc_buf_free,
    .state_save = svc_state_save,
    .state_load = svc_state_load,
    .random_bytes = svc_random_bytes,
};

/* ---- the store's table ---- */

/* Logs the first refusal of each service (a store that calls one in a loop
 * must not flood the log) and names it. */
static void refused(mc_host *h, int service, const char *name) {
  static unsigned char said[32];
  assert(service >= 0 && service < (int)sizeof said);
  if (said[service])
    return;
  said[service] = 1;
  mc_log_field f[] = {MC_LOG_F_S("plugin", h != NULL ? h->src : "?"),
                      MC_LOG_F_S("service", name)};
  mc_log_write(MC_LOG_ERROR, "host", "plugin_service_refused", f, 2);
}

static int no_timer_start(mc_host *h, uint64_t d, mc_timer_cb cb, void *arg,
                          uint64_t *id) {
  (void)d, (void)cb, (void)arg, (void)id;
  refused(h, 0, "timer_start");
  return MC_ESTATE;
}
static int no_timer_stop(mc_host *h, uint64_t id) {
  (void)id;
  refused(h, 1, "timer_stop");
  return MC_ESTATE;
}
static int no_send(mc_host *h, uint32_t v, const uint8_t *m, size_t n) {
  (void)v, (void)m, (void)n;
  refused(h, 2, "send");
  return MC_ESTATE;
}
static int no_broadcast(mc_host *h, const uint8_t *m, size_t n) {
  (void)m, (void)n;
  refused(h, 3, "broadcast");
  return MC_ESTATE;
}
static int no_sign(mc_host *h, const uint8_t *m, size_t n,
                   uint8_t sig[MC_SIG_LEN]) {
  (void)m, (void)n, (void)sig;
  refused(h, 4, "sign");
  return MC_ESTATE;
}
static int no_verify(mc_host *h, const uint8_t pk[MC_PUBKEY_LEN],
                     const uint8_t *m, size_t n,
                     const uint8_t sig[MC_SIG_LEN]) {
  (void)pk, (void)m, (void)n, (void)sig;
  refused(h, 5, "verify");
  return MC_ESTATE;
}
/* No validator set for a store: 0 validators, and it is no validator. */
static uint32_t no_validator_count(mc_host *h) {
  refused(h, 6, "validator_count");
  return 0;
}
static int no_validator_key(mc_host *h, uint32_t i,
                            uint8_t pk[MC_PUBKEY_LEN]) {
  (void)i, (void)pk;
  refused(h, 7, "validator_key");
  return MC_ESTATE;
}
static int32_t no_self_index(mc_host *h) {
  refused(h, 8, "self_index");
  return -1;
}
static int no_head(mc_host *h, uint64_t *height, uint8_t hash[MC_HASH_LEN]) {
  (void)height, (void)hash;
  refused(h, 9, "head");
  return MC_ESTATE;
}
static int no_build_block(mc_host *h, mc_block **out) {
  refused(h, 10, "build_block");
  if (out != NULL)
    *out = NULL;
  return MC_ESTATE;
}
static int no_validate_block(mc_host *h, const mc_block *b) {
  (void)b;
  refused(h, 11, "validate_block");
  return MC_ESTATE;
}
static int no_commit_block(mc_host *h, const mc_block *b, const uint8_t *c,
                           size_t n) {
  (void)b, (void)c, (void)n;
  refused(h, 12, "commit_block");
  return MC_ESTATE;
}
static int no_get_block(mc_host *h, uint64_t height, mc_block **out) {
  (void)height;
  refused(h, 13, "get_block");
  if (out != NULL)
    *out = NULL;
  return MC_ESTATE;
}
static int no_state_save(mc_host *h, const uint8_t *d, size_t n) {
  (void)d, (void)n;
  refused(h, 14, "state_save");
  return MC_ESTATE;
}
static int no_random_bytes(mc_host *h, uint8_t *buf, size_t len) {
  (void)buf, (void)len;
  refused(h, 16, "random_bytes");
  return MC_ESTATE;
}
static int no_state_load(mc_host *h, uint8_t **d, size_t *n) {
  refused(h, 15, "state_load");
  if (d != NULL)
    *d = NULL;
  if (n != NULL)
    *n = 0;
  return MC_ESTATE;
}

const mc_host_api mc_node_store_api = {
    .size = sizeof(mc_host_api),
    .log = svc_log,
    .now_ms = svc_now_ms,
    .monotonic_ms = svc_monotonic_ms,
    .timer_start = no_timer_start,
    .timer_stop = no_timer_stop,
    .send = no_send,
    .broadcast = no_broadcast,
    .sign = no_sign,
    .verify = no_verify,
    .hash = svc_hash,
    .validator_count = no_validator_count,
    .validator_key = no_validator_key,
    .self_index = no_self_index,
    .head = no_head,
    .build_block = no_build_block,
    .validate_block = no_validate_block,
    .commit_block = no_commit_block,
    .get_block = no_get_block,
    .encode_block = svc_encode_block,
    .decode_block = svc_decode_block,
    .block_free = svc_block_free,
    .buf_free = svc_buf_free,
    .state_save = no_state_save,
    .state_load = no_state_load,
    .random_bytes = no_random_bytes,
};
