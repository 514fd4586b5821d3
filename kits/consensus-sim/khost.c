/*
 * khost.c - the kit's host (khost.h): the mc_host_api services of each
 * simulated node, and the checks made at every commit.
 *
 * Signing and verifying are the real host's (mc_consensus_sign /
 * mc_consensus_verify in the consensus domain of the simulated chain),
 * with verdicts cached (vcache.h).
 */
#include "khost.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/codec.h"
#include "chain/crypto.h"
#include "kchain.h"
#include "minichain/error.h"
#include "vcache.h"

/* Virtual time 0 is this Unix time (genesis time, block timestamps). */
#define KH_EPOCH_MS 1700000000000ull
#define KH_CHAIN_ID "mc-consensus-sim"

struct mc_host {
  kh_cluster *cl;
  uint32_t idx;
};

typedef struct kh_node {
  struct mc_host host;
  uint32_t val;
  uint8_t pk[MC_PUBKEY_LEN], sk[64];
  kchain *chain;
  uint8_t *state; /* what state_save stored; NULL: nothing */
  size_t state_len;
  uint64_t starts;
  mc_consensus *eng;
  uint8_t peer_up[KH_MAX_NODES]; /* by validator, as last told */
  /* random_bytes: a stream drawn from the schedule's seed and the node,
   * so that an engine's randomness replays with its schedule. */
  uint8_t rng_key[32];
  uint64_t rng_calls;
} kh_node;

struct kh_cluster {
  kh_config cfg;
  uint32_t n, nn;
  simnet *net;
  mc_genesis g;
  kh_node *nodes;
  vcache *vcache;
  char failure[320];
  int failed;
};

static kh_node *node_of(mc_host *h) { return &h->cl->nodes[h->idx]; }

static void say(kh_cluster *cl, int detail, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (cl->cfg.note != NULL)
    cl->cfg.note(cl->cfg.note_ctx, detail, line);
}

/* Keeps the first violation; all of them go to the event log. */
static void fail(kh_cluster *cl, const char *fmt, ...) {
  char line[320];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  say(cl, 0, "t=%llu host %s", (unsigned long long)simnet_now(cl->net), line);
  if (!cl->failed)
    snprintf(cl->failure, sizeof cl->failure, "%s", line);
  cl->failed = 1;
}

static void hex8(const uint8_t *p, char out[9]) { mc_hex_encode(p, 4, out); }

/* ---- services: log, clock, timers, messages ---- */

static void field_text(const mc_log_field *f, char *buf, size_t len) {
  switch (f->type) {
  case MC_LOG_STR:
    snprintf(buf, len, " %s=%s", f->key, f->v.s ? f->v.s : "");
    break;
  case MC_LOG_INT:
    snprintf(buf, len, " %s=%lld", f->key, (long long)f->v.i);
    break;
  case MC_LOG_UINT:
    snprintf(buf, len, " %s=%llu", f->key, (unsigned long long)f->v.u);
    break;
  case MC_LOG_BOOL:
    snprintf(buf, len, " %s=%s", f->key, f->v.b ? "true" : "false");
    break;
  default:
    snprintf(buf, len, " %s", f->key);
  }
}

/* Engine errors reach the event log; the rest only a trace. */
static void svc_log(mc_host *h, mc_log_level level, const char *event,
                    const mc_log_field *f, size_t nf) {
  char line[400], part[96];
  int k = snprintf(line, sizeof line, "t=%llu node=%u engine %s%s",
                   (unsigned long long)simnet_now(h->cl->net), h->idx,
                   level >= MC_LOG_ERROR ? "ERROR " : "", event ? event : "?");
  for (size_t i = 0; i < nf && f != NULL && k < (int)sizeof line; i++) {
    field_text(&f[i], part, sizeof part);
    k += snprintf(line + k, sizeof line - (size_t)k, "%s", part);
  }
  say(h->cl, level < MC_LOG_ERROR, "%s", line);
}

static uint64_t svc_now_ms(mc_host *h) {
  return KH_EPOCH_MS + simnet_now(h->cl->net);
}

static uint64_t svc_monotonic_ms(mc_host *h) { return simnet_now(h->cl->net); }

static int svc_timer_start(mc_host *h, uint64_t delay, mc_timer_cb cb,
                           void *arg, uint64_t *id) {
  if (cb == NULL || id == NULL)
    return MC_EINVAL;
  return simnet_timer_start(h->cl->net, h->idx, delay, cb, arg, id) == 0
             ? 0
             : MC_ENOMEM;
}

static int svc_timer_stop(mc_host *h, uint64_t id) {
  return simnet_timer_stop(h->cl->net, id) == 0 ? 0 : MC_ENOTFOUND;
}

/* A message for validator `to` reaches every running node holding its
 * key.  As on a real host, a validator with no node up is not connected
 * (MC_ENOTCONN), and a node that is down gets nothing sent meanwhile. */
static int svc_send(mc_host *h, uint32_t to, const uint8_t *msg, size_t len) {
  kh_cluster *cl = h->cl;
  int sent = 0;
  if (to >= cl->n || to == node_of(h)->val || (msg == NULL && len > 0))
    return MC_EINVAL;
  for (uint32_t j = 0; j < cl->nn; j++) {
    if (cl->nodes[j].val != to || cl->nodes[j].eng == NULL)
      continue;
    if (simnet_send(cl->net, h->idx, j, msg, len) != 0)
      return MC_ENOMEM;
    sent = 1;
  }
  return sent ? 0 : MC_ENOTCONN;
}

/* To every running node of another validator: a twin is "this node" to
 * itself. */
static int svc_broadcast(mc_host *h, const uint8_t *msg, size_t len) {
  kh_cluster *cl = h->cl;
  if (msg == NULL && len > 0)
    return MC_EINVAL;
  for (uint32_t j = 0; j < cl->nn; j++)
    if (cl->nodes[j].val != node_of(h)->val && cl->nodes[j].eng != NULL &&
        simnet_send(cl->net, h->idx, j, msg, len) != 0)
      return MC_ENOMEM;
  return 0;
}

/* ---- services: keys ---- */

static int svc_sign(mc_host *h, const uint8_t *msg, size_t len,
                    uint8_t sig[MC_SIG_LEN]) {
  return mc_consensus_sign(node_of(h)->sk, h->cl->g.hash, msg, len, sig);
}

typedef struct verify_args {
  const uint8_t *pk, *genesis, *msg, *sig;
  size_t len;
} verify_args;

static int check_sig(const void *arg) {
  const verify_args *a = arg;
  return mc_consensus_verify(a->pk, a->genesis, a->msg, a->len, a->sig);
}

static int svc_verify(mc_host *h, const uint8_t pk[MC_PUBKEY_LEN],
                      const uint8_t *msg, size_t len,
                      const uint8_t sig[MC_SIG_LEN]) {
  kh_cluster *cl = h->cl;
  uint8_t digest[32];
  if (msg == NULL && len > 0)
    return MC_EINVAL;
  mc_sha256(msg, len, digest); /* one chain per cluster: no need to name it */
  verify_args a = {pk, cl->g.hash, msg, sig, len};
  return vcache_check(cl->vcache, 'm', pk, sig, digest, check_sig, &a);
}

static void svc_hash(mc_host *h, const uint8_t *d, size_t len,
                     uint8_t out[MC_HASH_LEN]) {
  (void)h;
  mc_sha256(d, len, out);
}

static uint32_t svc_validator_count(mc_host *h) { return h->cl->n; }

static int svc_validator_key(mc_host *h, uint32_t i, uint8_t pk[32]) {
  if (i >= h->cl->n)
    return MC_EINVAL;
  memcpy(pk, h->cl->nodes[i].pk, MC_PUBKEY_LEN);
  return 0;
}

static int32_t svc_self_index(mc_host *h) { return (int32_t)node_of(h)->val; }

/* ---- services: the chain ---- */

static int svc_head(mc_host *h, uint64_t *height, uint8_t hash[MC_HASH_LEN]) {
  kchain *c = node_of(h)->chain;
  *height = kchain_height(c);
  memcpy(hash, kchain_head_hash(c), MC_HASH_LEN);
  return 0;
}

/* A twin's clock runs a few ms ahead of its sibling's, so the two build
 * different blocks (equivocate) even from the same mempool. */
static int svc_build_block(mc_host *h, mc_block **out) {
  kh_node *nd = node_of(h);
  uint64_t skew = h->idx >= h->cl->n ? h->idx - h->cl->n + 1 : 0;
  return kchain_build(nd->chain, svc_now_ms(h) + skew, nd->sk, out);
}

static int svc_validate_block(mc_host *h, const mc_block *b) {
  return b == NULL ? MC_EINVAL
                   : kchain_validate(node_of(h)->chain, b, svc_now_ms(h));
}

/* Every other running engine must accept the certificate too: a proof of
 * finality only its maker believes proves nothing on sync. */
static void cross_verify(kh_cluster *cl, uint32_t i, const mc_block *b,
                         const uint8_t *cert, size_t len) {
  for (uint32_t j = 0; j < cl->nn; j++) {
    if (j == i || cl->nodes[j].eng == NULL)
      continue;
    int rc = cl->cfg.vt->verify_certificate(cl->nodes[j].eng, b, cert, len);
    if (rc != 0)
      fail(cl, "BAD CERTIFICATE: node %u's commit at height %llu is refused "
               "by node %u's verify_certificate: %s", i,
           (unsigned long long)b->header.height, j, mc_strerror(rc));
  }
}

/* Compares node i's new block at height h with every other node's. */
static void check_fork(kh_cluster *cl, uint32_t i, uint64_t h) {
  const mc_block *mine = kchain_block(cl->nodes[i].chain, h);
  for (uint32_t j = 0; j < cl->nn; j++) {
    const mc_block *o = kchain_block(cl->nodes[j].chain, h);
    if (j != i && o != NULL && memcmp(o->hash, mine->hash, MC_HASH_LEN) != 0) {
      char a[9], b[9];
      hex8(mine->hash, a);
      hex8(o->hash, b);
      fail(cl, "FORK at height %llu: node %u (validator %u) committed %s, "
               "node %u (validator %u) committed %s", (unsigned long long)h,
           i, cl->nodes[i].val, a, j, cl->nodes[j].val, b);
    }
  }
}

/* The checks of commit_block and of sync, then the append and on_commit. */
static int append_block(kh_cluster *cl, uint32_t i, const mc_block *b,
                        const uint8_t *cert, size_t len, const char *how) {
  kh_node *nd = &cl->nodes[i];
  int rc = cl->cfg.vt->verify_certificate(nd->eng, b, cert, len);
  if (rc != 0)
    return MC_ECERT;
  rc = kchain_commit(nd->chain, b, cert, len);
  if (rc != 0)
    return rc;
  char hx[9];
  hex8(b->hash, hx);
  say(cl, 1, "t=%llu node=%u %s height=%llu hash=%s txs=%u",
      (unsigned long long)simnet_now(cl->net), i, how,
      (unsigned long long)b->header.height, hx, b->header.tx_count);
  check_fork(cl, i, b->header.height);
  cross_verify(cl, i, b, cert, len);
  cl->cfg.vt->on_commit(nd->eng, b->header.height, b->hash);
  return 0;
}

static int svc_commit_block(mc_host *h, const mc_block *b, const uint8_t *cert,
                            size_t cert_len) {
  if (b == NULL || (cert == NULL && cert_len > 0))
    return MC_EINVAL;
  int rc = append_block(h->cl, h->idx, b, cert, cert_len, "COMMIT");
  if (rc == MC_ECERT)
    fail(h->cl, "BAD CERTIFICATE: node %u committed height %llu with a "
                "certificate its own verify_certificate refuses", h->idx,
         (unsigned long long)b->header.height);
  return rc;
}

static int svc_get_block(mc_host *h, uint64_t height, mc_block **out) {
  const mc_block *b = kchain_block(node_of(h)->chain, height);
  if (b == NULL)
    return MC_ENOTFOUND;
  *out = mc_block_dup(b);
  return *out ? 0 : MC_ENOMEM;
}

static int svc_encode_block(mc_host *h, const mc_block *b, uint8_t **out,
                            size_t *len) {
  (void)h;
  return mc_block_encode(b, out, len);
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

/* ---- services: durable state ---- */

#define KH_STATE_MAX (64u << 20)

static int svc_state_save(mc_host *h, const uint8_t *data, size_t len) {
  kh_node *nd = node_of(h);
  if (len > KH_STATE_MAX || (data == NULL && len > 0))
    return len > KH_STATE_MAX ? MC_ETOOBIG : MC_EINVAL;
  uint8_t *copy = malloc(len ? len : 1);
  if (copy == NULL)
    return MC_EIO; /* as a full disk would: the value before stays */
  if (len > 0)
    memcpy(copy, data, len);
  free(nd->state);
  nd->state = copy;
  nd->state_len = len;
  return 0;
}

static int svc_state_load(mc_host *h, uint8_t **data, size_t *len) {
  kh_node *nd = node_of(h);
  if (nd->state == NULL)
    return MC_ENOTFOUND;
  *data = malloc(nd->state_len ? nd->state_len : 1);
  if (*data == NULL)
    return MC_ENOMEM;
  memcpy(*data, nd->state, nd->state_len);
  *len = nd->state_len;
  return 0;
}

/* ABI 1.2.  Call k of node i gets the bytes of a ChaCha20 stream keyed by
 * hash(seed, i, k): the same on every replay of the schedule. */
static int svc_random_bytes(mc_host *h, uint8_t *buf, size_t len) {
  kh_node *nd = node_of(h);
  if (buf == NULL && len > 0)
    return MC_EINVAL;
  uint8_t in[40], seed[randombytes_SEEDBYTES];
  memcpy(in, nd->rng_key, 32);
  for (int i = 0; i < 8; i++)
    in[32 + i] = (uint8_t)(nd->rng_calls >> (8 * i));
  nd->rng_calls++;
  crypto_generichash(seed, sizeof seed, in, sizeof in, NULL, 0);
  if (len > 0)
    randombytes_buf_deterministic(buf, len, seed);
  return 0;
}

static const mc_host_api api = {
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

/* ---- the cluster ---- */

/* An optional vtable field, read only when the plugin's table has it. */
#define KH_VT_HAS(vt, f)                                                       \
  ((vt)->size >= offsetof(mc_consensus_vtable, f) + sizeof((vt)->f) &&         \
   (vt)->f != NULL)

static void deliver(void *ctx, uint32_t to, uint32_t from, const uint8_t *msg,
                    size_t len) {
  kh_cluster *cl = ctx;
  kh_node *nd = &cl->nodes[to];
  if (nd->eng != NULL) /* a rejected message is the engine's business */
    (void)cl->cfg.vt->on_message(nd->eng, cl->nodes[from].val, msg, len);
}

static int by_pubkey(const void *a, const void *b) {
  return memcmp(((const mc_account *)a)->pubkey,
                ((const mc_account *)b)->pubkey, MC_PUBKEY_LEN);
}

/* Keys are derived from the validator index, so every schedule (and a
 * replay) has the same validator set. */
static void derive_key(uint32_t val, uint8_t pk[32], uint8_t sk[64]) {
  char label[48];
  uint8_t seed[32];
  snprintf(label, sizeof label, "mc-consensus-sim validator %u", val);
  mc_sha256(label, strlen(label), seed);
  crypto_sign_seed_keypair(pk, sk, seed);
}

static int make_genesis(kh_cluster *cl) {
  mc_genesis *g = &cl->g;
  const kh_config *c = &cl->cfg;
  snprintf(g->chain_id, sizeof g->chain_id, "%s", KH_CHAIN_ID);
  g->genesis_time_ms = KH_EPOCH_MS;
  g->validator_count = cl->n;
  g->validators = malloc(cl->n * sizeof *g->validators);
  g->alloc = malloc((c->nalloc ? c->nalloc : 1) * sizeof *g->alloc);
  if (g->validators == NULL || g->alloc == NULL)
    return MC_ENOMEM;
  for (uint32_t v = 0; v < cl->n; v++)
    memcpy(g->validators[v], cl->nodes[v].pk, MC_PUBKEY_LEN);
  g->alloc_count = c->nalloc;
  if (c->nalloc > 0)
    memcpy(g->alloc, c->alloc, c->nalloc * sizeof *g->alloc);
  qsort(g->alloc, g->alloc_count, sizeof *g->alloc, by_pubkey);
  g->max_txs_per_block = c->max_txs_per_block;
  g->block_interval_ms = c->block_interval_ms;
  g->view_timeout_ms = c->view_timeout_ms;
  mc_genesis_compute_hash(g);
  return 0;
}

static int make_nodes(kh_cluster *cl, char *err, size_t errlen) {
  for (uint32_t i = 0; i < cl->nn; i++) {
    kh_node *nd = &cl->nodes[i];
    nd->val = i < cl->n ? i : cl->cfg.twin_of[i - cl->n];
    derive_key(nd->val, nd->pk, nd->sk);
    nd->host = (struct mc_host){cl, i};
    char label[64];
    snprintf(label, sizeof label, "mc-consensus-sim rng %llu %u",
             (unsigned long long)cl->cfg.seed, i);
    crypto_generichash(nd->rng_key, sizeof nd->rng_key,
                       (const uint8_t *)label, strlen(label), NULL, 0);
  }
  if (make_genesis(cl) != 0) {
    snprintf(err, errlen, "out of memory");
    return MC_ENOMEM;
  }
  for (uint32_t i = 0; i < cl->nn; i++) {
    cl->nodes[i].chain = kchain_new(&cl->g, cl->cfg.tx_known,
                                    cl->cfg.tx_known_ctx, err, errlen);
    if (cl->nodes[i].chain == NULL)
      return MC_ENOMEM;
  }
  return 0;
}

kh_cluster *kh_new(const kh_config *cfg, char *err, size_t errlen) {
  uint32_t nn = cfg->n + cfg->ntwins;
  if (cfg->n == 0 || nn > KH_MAX_NODES) {
    snprintf(err, errlen, "1..%d nodes", KH_MAX_NODES);
    return NULL;
  }
  for (uint32_t k = 0; k < cfg->ntwins; k++)
    if (cfg->twin_of[k] >= cfg->n) {
      snprintf(err, errlen, "a twin of validator %u of %u", cfg->twin_of[k],
               cfg->n);
      return NULL;
    }
  kh_cluster *cl = calloc(1, sizeof *cl);
  if (cl == NULL || mc_crypto_init() != 0) {
    free(cl);
    snprintf(err, errlen, "out of memory or no libsodium");
    return NULL;
  }
  cl->cfg = *cfg;
  cl->n = cfg->n;
  cl->nn = nn;
  cl->nodes = calloc(nn, sizeof *cl->nodes);
  cl->vcache = vcache_new();
  cl->net = simnet_new(nn, cfg->seed, deliver, cl);
  if (cl->nodes == NULL || cl->vcache == NULL || cl->net == NULL) {
    snprintf(err, errlen, "out of memory");
    kh_free(cl);
    return NULL;
  }
  if (make_nodes(cl, err, errlen) != 0) {
    kh_free(cl);
    return NULL;
  }
  return cl;
}

void kh_free(kh_cluster *cl) {
  if (cl == NULL)
    return;
  for (uint32_t i = 0; cl->nodes != NULL && i < cl->nn; i++) {
    kh_node *nd = &cl->nodes[i];
    if (nd->eng != NULL) {
      cl->cfg.vt->stop(nd->eng);
      cl->cfg.vt->destroy(nd->eng);
    }
    kchain_free(nd->chain);
    free(nd->state);
  }
  simnet_free(cl->net);
  mc_genesis_free(&cl->g);
  vcache_free(cl->vcache);
  free(cl->nodes);
  free(cl);
}

uint32_t kh_nodes(const kh_cluster *cl) { return cl->nn; }
uint32_t kh_validator_of(const kh_cluster *cl, uint32_t i) {
  return cl->nodes[i].val;
}
simnet *kh_net(kh_cluster *cl) { return cl->net; }
int kh_running(const kh_cluster *cl, uint32_t i) {
  return cl->nodes[i].eng != NULL;
}
const char *kh_failure(const kh_cluster *cl) {
  return cl->failed ? cl->failure : NULL;
}
uint64_t kh_height(const kh_cluster *cl, uint32_t i) {
  return kchain_height(cl->nodes[i].chain);
}
const mc_block *kh_block(const kh_cluster *cl, uint32_t i, uint64_t h) {
  return kchain_block(cl->nodes[i].chain, h);
}
int kh_submit(kh_cluster *cl, uint32_t i, const mc_tx *tx) {
  return kchain_admit(cl->nodes[i].chain, tx);
}

int kh_status(kh_cluster *cl, uint32_t i, mc_consensus_status *out) {
  kh_node *nd = &cl->nodes[i];
  if (nd->eng == NULL || !KH_VT_HAS(cl->cfg.vt, status))
    return MC_ENOSYS;
  *out = (mc_consensus_status){kh_height(cl, i) + 1, 0, -1};
  return cl->cfg.vt->status(nd->eng, out);
}

int kh_start(kh_cluster *cl, uint32_t i) {
  kh_node *nd = &cl->nodes[i];
  mc_consensus_params p = {sizeof p, cl->cfg.block_interval_ms,
                           cl->cfg.view_timeout_ms,
                           cl->cfg.max_txs_per_block,
                           nd->starts == 0 ? MC_CONSENSUS_NEW_VALIDATOR : 0};
  nd->starts++;
  memset(nd->peer_up, 0, sizeof nd->peer_up);
  int rc = cl->cfg.vt->create(&api, &nd->host, &p, &nd->eng);
  if (rc != 0) {
    nd->eng = NULL;
    return rc;
  }
  rc = cl->cfg.vt->start(nd->eng);
  if (rc != 0) {
    cl->cfg.vt->stop(nd->eng);
    cl->cfg.vt->destroy(nd->eng);
    nd->eng = NULL;
    simnet_forget_node(cl->net, i);
  }
  return rc;
}

uint64_t kh_started(const kh_cluster *cl, uint32_t i) {
  return cl->nodes[i].starts;
}

void kh_crash(kh_cluster *cl, uint32_t i) {
  kh_node *nd = &cl->nodes[i];
  if (nd->eng == NULL)
    return;
  simnet_forget_node(cl->net, i);
  cl->cfg.vt->destroy(nd->eng); /* a kill: no stop, nothing more is sent */
  nd->eng = NULL;
  kchain_clear_pool(nd->chain);
}

void kh_wipe_state(kh_cluster *cl, uint32_t i) {
  free(cl->nodes[i].state);
  cl->nodes[i].state = NULL;
  cl->nodes[i].state_len = 0;
}

/* 1 if node i reaches some running node of validator v both ways. */
static int reaches(kh_cluster *cl, uint32_t i, uint32_t v) {
  for (uint32_t j = 0; j < cl->nn; j++)
    if (j != i && cl->nodes[j].val == v && cl->nodes[j].eng != NULL &&
        simnet_link_up(cl->net, i, j) && simnet_link_up(cl->net, j, i))
      return 1;
  return 0;
}

void kh_refresh_peers(kh_cluster *cl) {
  if (!KH_VT_HAS(cl->cfg.vt, on_peer))
    return;
  for (uint32_t i = 0; i < cl->nn; i++)
    for (uint32_t v = 0; v < cl->n; v++) {
      kh_node *nd = &cl->nodes[i];
      if (nd->eng == NULL || v == nd->val)
        continue;
      int up = reaches(cl, i, v);
      if (up != nd->peer_up[v]) {
        nd->peer_up[v] = (uint8_t)up;
        cl->cfg.vt->on_peer(nd->eng, v, up);
      }
    }
}

int kh_sync(kh_cluster *cl, uint32_t i, uint32_t j) {
  int applied = 0;
  if (cl->nodes[i].eng == NULL)
    return MC_ESTATE;
  while (kh_height(cl, i) < kh_height(cl, j) && cl->nodes[i].eng != NULL) {
    const mc_block *b = kh_block(cl, j, kh_height(cl, i) + 1);
    int rc = append_block(cl, i, b, b->cert, b->cert_len, "SYNC");
    if (rc != 0)
      return rc;
    applied++;
  }
  return applied;
}
