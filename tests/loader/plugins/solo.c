/*
 * solo.c - the loader tests' good consensus plugin: "solo" ordering for a
 * network of exactly one validator.
 *
 * The one validator builds a block from its mempool every block interval
 * and commits it; there is nobody to agree with, so the commit certificate
 * is empty and a block is final when that validator proposed it.  An
 * observer of such a network never proposes and only verifies.  The loader
 * tests also compile this file with one deliberate defect each (defect.h).
 */
#include <stdlib.h>
#include <string.h>

#include "minichain/consensus.h"
#include "minichain/error.h"
#include "minichain/plugin.h"

struct mc_consensus {
  const mc_host_api *api;
  mc_host *host;
  uint64_t interval_ms;
  uint64_t timer;     /* pending timer id, 0 if none */
  uint64_t committed; /* height of the newest committed block */
  int stopped;
};

static int solo_create(const mc_host_api *api, mc_host *host,
                       const mc_consensus_params *params, mc_consensus **out) {
  mc_consensus *c = calloc(1, sizeof *c);
  if (c == NULL)
    return MC_ENOMEM;
  c->api = api;
  c->host = host;
  c->interval_ms = params->block_interval_ms;
  *out = c;
  return 0;
}

static void solo_tick(void *arg);

static int schedule(mc_consensus *c) {
  return c->api->timer_start(c->host, c->interval_ms, solo_tick, c,
                             &c->timer);
}

static void solo_tick(void *arg) {
  mc_consensus *c = arg;
  c->timer = 0;
  mc_block *b = NULL;
  int rc = c->api->build_block(c->host, &b);
  if (rc == 0)
    rc = c->api->commit_block(c->host, b, NULL, 0);
  c->api->block_free(c->host, b);
  if (rc != 0) {
    mc_log_field f[] = {MC_LOG_F_I("code", rc)};
    c->api->log(c->host, MC_LOG_ERROR, "solo_commit_failed", f, 1);
  }
  if (!c->stopped)
    schedule(c);
}

static int solo_start(mc_consensus *c) {
  if (c->api->validator_count(c->host) != 1)
    return MC_EINVAL; /* solo cannot order for more than one validator */
  uint64_t height;
  uint8_t hash[MC_HASH_LEN];
  int rc = c->api->head(c->host, &height, hash);
  if (rc != 0)
    return rc;
  c->committed = height;
  return c->api->self_index(c->host) == 0 ? schedule(c) : 0;
}

static void solo_stop(mc_consensus *c) {
  c->stopped = 1;
  if (c->timer != 0)
    c->api->timer_stop(c->host, c->timer);
  c->timer = 0;
}

static void solo_destroy(mc_consensus *c) { free(c); }

/* Solo sends nothing, so anything received is not one of its messages. */
static int solo_on_message(mc_consensus *c, uint32_t from, const uint8_t *msg,
                           size_t len) {
  (void)c, (void)from, (void)msg, (void)len;
  return MC_EDECODE;
}

static void solo_on_commit(mc_consensus *c, uint64_t height,
                           const uint8_t hash[MC_HASH_LEN]) {
  (void)hash;
  c->committed = height;
}

static int solo_verify_certificate(mc_consensus *c, const mc_block *b,
                                   const uint8_t *cert, size_t cert_len) {
  (void)cert;
  uint8_t pk[MC_PUBKEY_LEN];
  if (cert_len != 0 || c->api->validator_count(c->host) != 1 ||
      c->api->validator_key(c->host, 0, pk) != 0)
    return MC_ECERT;
  return memcmp(pk, b->header.proposer, MC_PUBKEY_LEN) == 0 ? 0 : MC_ECERT;
}

static int solo_status(mc_consensus *c, mc_consensus_status *out) {
  out->height = c->committed + 1;
  out->view = 0;
  out->leader = 0;
  return 0;
}

static const mc_consensus_vtable solo_vtable = {
    .size = sizeof solo_vtable,
    .create = solo_create,
    .start = solo_start,
    .stop = solo_stop,
    .destroy = solo_destroy,
    .on_message = solo_on_message,
    .on_commit = solo_on_commit,
    .verify_certificate = solo_verify_certificate,
    .status = solo_status,
};

MC_PLUGIN_DEFINE(MC_PLUGIN_CONSENSUS, "solo", "1.0.0",
                 "Single-validator ordering (loader test fixture)",
                 &solo_vtable)
