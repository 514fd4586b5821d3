/*
 * kit_leader.c - a deliberately simple consensus engine, for showing that
 * each check of mc-consensus-sim can fail.  It is a test fixture, never
 * shipped: one fixed leader (validator 0) builds a block every
 * block_interval_ms, commits it with a certificate of its own signature
 * over (height, hash), and broadcasts block and certificate; the others
 * commit what it sends.  It is safe under crashes but not live while
 * validator 0 is down, and has no defence against equivocation.
 *
 * Built five ways (tests/consensus/CMakeLists.txt):
 *   kit_leader.so       as above: fails liveness in the crash model;
 *   kit_never.so        KIT_NEVER: never commits (fails liveness always);
 *   kit_everyone.so     KIT_EVERYONE: every validator leads on its own
 *                       (unsafe: two blocks at one height);
 *   kit_selfcert.so     KIT_SELFCERT: verify_certificate accepts only its
 *                       own validator's signature (a certificate the other
 *                       engines refuse);
 *   kit_nocreate.so     KIT_NOCREATE: create always fails (MC_EIO), which
 *                       the kit reports in one line, exit 2.
 * The leader also sends its head to a validator that (re)connects
 * (on_peer).  Wire message: u32 big-endian certificate length, certificate, block.
 * Certificate: u64 big-endian height, signer index (u32 BE), signature of
 * "kit-leader-v1" || height || block hash.
 */
#include <stdlib.h>
#include <string.h>

#include "minichain/minichain.h"

#define CERT_LEN (8 + 4 + MC_SIG_LEN)

struct mc_consensus {
  const mc_host_api *api;
  mc_host *h;
  uint64_t interval;
  uint64_t timer;
  int running;
};

static void put_be(uint8_t *p, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

static void preimage(uint8_t out[13 + 8 + MC_HASH_LEN], uint64_t height,
                     const uint8_t hash[MC_HASH_LEN]) {
  memcpy(out, "kit-leader-v1", 13);
  put_be(out + 13, height, 8);
  memcpy(out + 21, hash, MC_HASH_LEN);
}

static int leads(mc_consensus *c) {
#ifdef KIT_EVERYONE
  (void)c;
  return 1;
#else
  return c->api->self_index(c->h) == 0;
#endif
}

static int kl_create(const mc_host_api *api, mc_host *h,
                     const mc_consensus_params *p, mc_consensus **out) {
#ifdef KIT_NOCREATE
  (void)api, (void)h, (void)p, (void)out;
  return MC_EIO;
#endif
  mc_consensus *c = calloc(1, sizeof *c);
  if (c == NULL)
    return MC_ENOMEM;
  *c = (mc_consensus){api, h, p->block_interval_ms, 0, 0};
  *out = c;
  return 0;
}

/* Sends committed block b with its certificate to validator `to`, or to
 * everyone when to is -1. */
static void announce(mc_consensus *c, const mc_block *b, const uint8_t *cert,
                     int64_t to) {
  uint8_t *enc = NULL;
  size_t enc_len = 0;
  if (c->api->encode_block(c->h, b, &enc, &enc_len) != 0)
    return;
  uint8_t *msg = malloc(4 + CERT_LEN + enc_len);
  if (msg != NULL) {
    put_be(msg, CERT_LEN, 4);
    memcpy(msg + 4, cert, CERT_LEN);
    memcpy(msg + 4 + CERT_LEN, enc, enc_len);
    if (to < 0)
      c->api->broadcast(c->h, msg, 4 + CERT_LEN + enc_len);
    else
      c->api->send(c->h, (uint32_t)to, msg, 4 + CERT_LEN + enc_len);
    free(msg);
  }
  c->api->buf_free(c->h, enc);
}

/* Builds, certifies, commits and broadcasts the next block. */
static void lead_one(mc_consensus *c) {
  mc_block *b = NULL;
  uint8_t cert[CERT_LEN], pre[13 + 8 + MC_HASH_LEN];
  if (c->api->build_block(c->h, &b) != 0)
    return;
  put_be(cert, b->header.height, 8);
  put_be(cert + 8, (uint64_t)c->api->self_index(c->h), 4);
  preimage(pre, b->header.height, b->hash);
  if (c->api->sign(c->h, pre, sizeof pre, cert + 12) == 0 &&
      c->api->commit_block(c->h, b, cert, sizeof cert) == 0)
    announce(c, b, cert, -1);
  c->api->block_free(c->h, b);
}

static void tick(void *arg) {
  mc_consensus *c = arg;
  c->timer = 0;
  if (!c->running)
    return;
#ifdef KIT_NEVER
  (void)lead_one; /* ticks, builds nothing, commits nothing */
#else
  lead_one(c);
#endif
  c->api->timer_start(c->h, c->interval, tick, c, &c->timer);
}

static int kl_start(mc_consensus *c) {
  c->running = 1;
  return leads(c) ? c->api->timer_start(c->h, c->interval, tick, c, &c->timer)
                  : 0;
}

static void kl_stop(mc_consensus *c) {
  c->running = 0;
  if (c->timer != 0)
    c->api->timer_stop(c->h, c->timer);
  c->timer = 0;
}

static void kl_destroy(mc_consensus *c) { free(c); }

static int kl_on_message(mc_consensus *c, uint32_t from, const uint8_t *msg,
                         size_t len) {
  mc_block *b = NULL;
  (void)from;
  if (len < 4 + CERT_LEN || get_be(msg, 4) != CERT_LEN)
    return MC_EDECODE;
  int rc = c->api->decode_block(c->h, msg + 4 + CERT_LEN,
                                len - 4 - CERT_LEN, &b);
  if (rc != 0)
    return rc;
  uint64_t head;
  uint8_t hash[MC_HASH_LEN];
  c->api->head(c->h, &head, hash);
  if (b->header.height == head + 1) /* else sync brings it */
    rc = c->api->commit_block(c->h, b, msg + 4, CERT_LEN);
  c->api->block_free(c->h, b);
  return rc;
}

static void kl_on_commit(mc_consensus *c, uint64_t height,
                         const uint8_t hash[MC_HASH_LEN]) {
  (void)c, (void)height, (void)hash;
}

static int kl_verify(mc_consensus *c, const mc_block *b, const uint8_t *cert,
                     size_t len) {
  uint8_t pk[MC_PUBKEY_LEN], pre[13 + 8 + MC_HASH_LEN];
  if (len != CERT_LEN || get_be(cert, 8) != b->header.height)
    return MC_ECERT;
  uint32_t signer = (uint32_t)get_be(cert + 8, 4);
#if defined(KIT_SELFCERT)
  uint32_t want = (uint32_t)c->api->self_index(c->h);
#elif defined(KIT_EVERYONE)
  uint32_t want = signer;
#else
  uint32_t want = 0;
#endif
  if (signer != want || c->api->validator_key(c->h, signer, pk) != 0)
    return MC_ECERT;
  preimage(pre, b->header.height, b->hash);
  return c->api->verify(c->h, pk, pre, sizeof pre, cert + 12) == 0 ? 0
                                                                   : MC_ECERT;
}

/* A validator (re)connected: the leader hands it its head at once (the
 * host's sync would bring it later), so the kit's on_peer is exercised. */
static void kl_on_peer(mc_consensus *c, uint32_t v, int up) {
  uint64_t head;
  uint8_t hash[MC_HASH_LEN];
  mc_block *b = NULL;
  if (v >= c->api->validator_count(c->h) ||
      (int32_t)v == c->api->self_index(c->h)) {
    c->api->log(c->h, MC_LOG_ERROR, "on_peer_bad_validator", NULL, 0);
    return;
  }
  mc_log_field f[] = {MC_LOG_F_U("validator", v), MC_LOG_F_B("up", up)};
  c->api->log(c->h, MC_LOG_INFO, "peer", f, 2);
  if (!up || !c->running || !leads(c) ||
      c->api->head(c->h, &head, hash) != 0 || head == 0 ||
      c->api->get_block(c->h, head, &b) != 0)
    return;
  if (b->cert_len == CERT_LEN)
    announce(c, b, b->cert, v);
  c->api->block_free(c->h, b);
}

static const mc_consensus_vtable kl_vtable = {
    .size = sizeof(mc_consensus_vtable),
    .create = kl_create,
    .start = kl_start,
    .stop = kl_stop,
    .destroy = kl_destroy,
    .on_message = kl_on_message,
    .on_commit = kl_on_commit,
    .verify_certificate = kl_verify,
    .on_peer = kl_on_peer,
};

MC_PLUGIN_DEFINE(MC_PLUGIN_CONSENSUS, "kit_leader", "0.1.0",
                 "test fixture: one fixed leader, no fault tolerance",
                 &kl_vtable)
