/*
 * testhost.c - the consensus test host of testhost.h.
 *
 * Each node implements mc_host_api over simnet (clock, timers, messages),
 * a fake chain of empty blocks (linked by prev_hash, signed by their
 * proposer with the real block codec, so the engine sees real block bytes
 * and hashes), and an in-memory "disk" for state_save that survives a
 * crash of the node's engine (and can fail, be wiped, or be put back to
 * an older snapshot with the chain).  Commits are checked on the way in: the
 * certificate must pass the committing engine's own verify_certificate and
 * the block must match what every other node committed at that height.
 */
#include "testhost.h"

#include <msgpack.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/codec.h"
#include "chain/crypto.h"
#include "loader.h"
#include "minichain/error.h"
#include "minichain/plugin.h"
#include "vcache.h"

#define TH_EPOCH_MS 1700000000000ull
#define TH_MAX_HEIGHT 100000

struct mc_host {
  th_cluster *cl;
  uint32_t idx;
};


typedef struct th_node {
  struct mc_host host;
  uint32_t val; /* validator index: its own for 0..n-1, the twinned one after */
  uint64_t rng_calls; /* random_bytes calls made, for its stream */
  uint8_t pk[MC_PUBKEY_LEN], sk[64];
  mc_block **chain; /* chain[h-1] is height h */
  uint64_t height;
  uint8_t *state;
  size_t state_len;
  uint32_t fail_saves; /* state_save fails this many more times */
  uint64_t starts;     /* th_start calls: the first is --new-validator */
  int watching;        /* its engine's last watch event was `watching` */
  struct {             /* th_snapshot: chain height and state bytes */
    int taken;
    uint64_t height;
    uint8_t *state;
    size_t state_len;
    size_t nsigs;
  } snap;
  mc_consensus *eng;
  th_sigrec *sigs;
  size_t nsigs;
  uint64_t events[TH_EV_COUNT];
  mc_log_level event_level[TH_EV_COUNT]; /* of the last one */
} th_node;

struct th_cluster {
  vcache *vcache; /* signature verdicts (kits/consensus-sim/vcache.h) */
  uint32_t n;  /* validators */
  uint32_t nn; /* nodes: validators, then twins */
  int verbose; /* 1: every engine log line; 0: errors; -1: none */
  simnet *net;
  const mc_consensus_vtable *vt;
  mc_consensus_params params;
  th_node *nodes;
  uint8_t genesis[MC_HASH_LEN];
  int forked, double_signed, bad_cert;
  /* the message an engine is handling right now (see th_delivering) */
  const uint8_t *cur_msg;
  size_t cur_len;
  uint32_t cur_node;
};

static const mc_host_api api;

/* ---- services ---- */

static th_node *node_of(mc_host *h) { return &h->cl->nodes[h->idx]; }

static void svc_log(mc_host *h, mc_log_level level, const char *event,
                    const mc_log_field *f, size_t nf) {
  static const char *const names[TH_EV_COUNT] = {
      "proposed",        "acked",    "view_change", "signing_stopped",
      "signing_resumed", "watching", "watch_ended", "own_signature_unknown"};
  for (int i = 0; i < TH_EV_COUNT; i++)
    if (strcmp(event, names[i]) == 0) {
      node_of(h)->events[i]++;
      node_of(h)->event_level[i] = level;
    }
  if (strcmp(event, "watching") == 0 || strcmp(event, "watch_ended") == 0)
    node_of(h)->watching = event[5] == 'i';
  if (h->cl->verbose < 0 || (h->cl->verbose == 0 && level < MC_LOG_ERROR))
    return;
  fprintf(stderr, "t=%llu node=%u %s", (unsigned long long)simnet_now(h->cl->net),
          h->idx, event);
  for (size_t i = 0; i < nf; i++) {
    if (f[i].type == MC_LOG_UINT)
      fprintf(stderr, " %s=%llu", f[i].key, (unsigned long long)f[i].v.u);
    else if (f[i].type == MC_LOG_STR)
      fprintf(stderr, " %s=%s", f[i].key, f[i].v.s);
  }
  fputc('\n', stderr);
}

static uint64_t svc_now_ms(mc_host *h) {
  return TH_EPOCH_MS + simnet_now(h->cl->net);
}

static uint64_t svc_monotonic_ms(mc_host *h) { return simnet_now(h->cl->net); }

static int svc_timer_start(mc_host *h, uint64_t delay, mc_timer_cb cb,
                           void *arg, uint64_t *id) {
  return simnet_timer_start(h->cl->net, h->idx, delay, cb, arg, id) == 0
             ? 0
             : MC_ENOMEM;
}

static int svc_timer_stop(mc_host *h, uint64_t id) {
  return simnet_timer_stop(h->cl->net, id) == 0 ? 0 : MC_ENOTFOUND;
}

/* A message for validator `to` reaches every node holding its key. */
static int svc_send(mc_host *h, uint32_t to, const uint8_t *msg, size_t len) {
  th_cluster *cl = h->cl;
  if (to >= cl->n || to == node_of(h)->val)
    return MC_EINVAL;
  for (uint32_t j = 0; j < cl->nn; j++)
    if (cl->nodes[j].val == to &&
        simnet_send(cl->net, h->idx, j, msg, len) != 0)
      return MC_ENOMEM;
  return 0;
}

/* To every node of another validator: a twin is "this node" to itself. */
static int svc_broadcast(mc_host *h, const uint8_t *msg, size_t len) {
  th_cluster *cl = h->cl;
  for (uint32_t j = 0; j < cl->nn; j++)
    if (cl->nodes[j].val != node_of(h)->val &&
        simnet_send(cl->net, h->idx, j, msg, len) != 0)
      return MC_ENOMEM;
  return 0;
}

/* Remembers what was signed; flags a second hash for one (kind, h, v).
 * A VIEWCHANGE is remembered but not compared: an honest validator may
 * sign two for one view, the second carrying a lock it took since. */
static void record_signature(mc_host *h, const uint8_t *msg, size_t len,
                             const uint8_t sig[MC_SIG_LEN]) {
  static const char *const tags[] = {"mc-poa-propose-v1", "mc-poa-ack-v1",
                                     "mc-poa-commit-v1",
                                     "mc-poa-viewchange-v1"};
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  th_sigrec r = {.kind = -1};
  size_t off = 0;
  if (msgpack_unpack_next(&u, (const char *)msg, len, &off) ==
          MSGPACK_UNPACK_SUCCESS &&
      u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size >= 4) {
    const msgpack_object *a = u.data.via.array.ptr;
    for (int k = 0; k < 4; k++)
      if (a[0].type == MSGPACK_OBJECT_STR &&
          a[0].via.str.size == strlen(tags[k]) &&
          memcmp(a[0].via.str.ptr, tags[k], a[0].via.str.size) == 0)
        r.kind = k;
    r.h = a[1].via.u64;
    r.v = a[2].via.u64;
    if (a[3].type == MSGPACK_OBJECT_BIN && a[3].via.bin.size == MC_HASH_LEN)
      memcpy(r.hash, a[3].via.bin.ptr, MC_HASH_LEN);
  }
  msgpack_unpacked_destroy(&u);
  if (r.kind < 0)
    return;
  memcpy(r.sig, sig, MC_SIG_LEN);
  th_node *nd = node_of(h);
  for (size_t i = 0; i < nd->nsigs && r.kind != TH_SIG_VIEWCHANGE; i++) {
    const th_sigrec *o = &nd->sigs[i];
    if (o->kind == r.kind && o->h == r.h && o->v == r.v &&
        memcmp(o->hash, r.hash, MC_HASH_LEN) != 0) {
      fprintf(stderr, "DOUBLE VOTE node=%u kind=%s h=%llu v=%llu\n", h->idx,
              tags[r.kind], (unsigned long long)r.h, (unsigned long long)r.v);
      h->cl->double_signed = 1;
    }
  }
  th_sigrec *s = realloc(nd->sigs, (nd->nsigs + 1) * sizeof *s);
  if (s == NULL)
    abort();
  nd->sigs = s;
  nd->sigs[nd->nsigs++] = r;
}

/* As the real host: the plugin's bytes are signed inside the consensus
 * domain of this cluster's chain (mc_consensus_sign), while the double
 * vote bookkeeping reads the plugin's own bytes. */
static int svc_sign(mc_host *h, const uint8_t *msg, size_t len,
                    uint8_t sig[MC_SIG_LEN]) {
  int rc = mc_consensus_sign(node_of(h)->sk, h->cl->genesis, msg, len, sig);
  if (rc == 0)
    record_signature(h, msg, len, sig);
  return rc;
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
  uint8_t digest[32];
  crypto_hash_sha256_state st; /* the chain is part of what is checked */
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, h->cl->genesis, MC_HASH_LEN);
  crypto_hash_sha256_update(&st, msg, len);
  crypto_hash_sha256_final(&st, digest);
  verify_args a = {pk, h->cl->genesis, msg, sig, len};
  return vcache_check(h->cl->vcache, 'm', pk, sig, digest, check_sig, &a);
}

static int check_block_sig(const void *b) { return mc_block_verify_sig(b); }

static void svc_hash(mc_host *h, const uint8_t *d, size_t len,
                     uint8_t out[MC_HASH_LEN]) {
  (void)h;
  crypto_hash_sha256(out, d, len);
}

static uint32_t svc_validator_count(mc_host *h) { return h->cl->n; }

static int svc_validator_key(mc_host *h, uint32_t i, uint8_t pk[32]) {
  if (i >= h->cl->n)
    return MC_EINVAL;
  memcpy(pk, h->cl->nodes[i].pk, MC_PUBKEY_LEN);
  return 0;
}

static int32_t svc_self_index(mc_host *h) { return (int32_t)node_of(h)->val; }

static const uint8_t *head_hash(th_cluster *cl, const th_node *nd) {
  return nd->height ? nd->chain[nd->height - 1]->hash : cl->genesis;
}

static int svc_head(mc_host *h, uint64_t *height, uint8_t hash[MC_HASH_LEN]) {
  th_node *nd = node_of(h);
  *height = nd->height;
  memcpy(hash, head_hash(h->cl, nd), MC_HASH_LEN);
  return 0;
}

static int svc_build_block(mc_host *h, mc_block **out) {
  th_node *nd = node_of(h);
  /* A twin's blocks differ from its sibling's even at the same instant. */
  uint64_t salt = h->idx >= h->cl->n ? h->idx - h->cl->n + 1 : 0;
  *out = th_make_block(h->cl, h->idx, nd->val, salt);
  return *out ? 0 : MC_ENOMEM;
}

static int svc_validate_block(mc_host *h, const mc_block *b) {
  th_cluster *cl = h->cl;
  th_node *nd = node_of(h);
  if (b->header.height != nd->height + 1 ||
      memcmp(b->header.prev_hash, head_hash(cl, nd), MC_HASH_LEN) != 0)
    return MC_ELINK;
  int known = 0;
  for (uint32_t i = 0; i < cl->n; i++)
    known |= memcmp(b->header.proposer, cl->nodes[i].pk, MC_PUBKEY_LEN) == 0;
  if (!known)
    return MC_EPROPOSER;
  if (b->header.tx_count != 0)
    return MC_EINVAL;
  /* the block hash is the digest of the signed header bytes */
  return vcache_check(cl->vcache, 'b', b->header.proposer, b->signature,
                      b->hash, check_block_sig, b);
}

/* Compares node i's block at height h with every other node's. */
static void check_fork(th_cluster *cl, uint32_t i, uint64_t h) {
  for (uint32_t j = 0; j < cl->nn; j++) {
    const th_node *o = &cl->nodes[j];
    if (j != i && o->height >= h &&
        memcmp(o->chain[h - 1]->hash, cl->nodes[i].chain[h - 1]->hash,
               MC_HASH_LEN) != 0) {
      fprintf(stderr, "FORK at height %llu: node %u and node %u differ\n",
              (unsigned long long)h, i, j);
      cl->forked = 1;
    }
  }
}

/* Appends b to node h's chain after the checks of commit_block (the
 * certificate through h's own engine), then tells the engine. */
static int append_block(mc_host *h, const mc_block *b, const uint8_t *cert,
                        size_t cert_len, const char *how) {
  th_cluster *cl = h->cl;
  th_node *nd = node_of(h);
  int rc = svc_validate_block(h, b);
  if (rc != 0)
    return rc;
  if (cl->vt->verify_certificate(nd->eng, b, cert, cert_len) != 0)
    return MC_ECERT;
  if (nd->height >= TH_MAX_HEIGHT)
    return MC_EFULL;
  mc_block *copy = mc_block_dup(b);
  if (copy == NULL || mc_block_set_cert(copy, cert, cert_len) != 0)
    abort();
  nd->chain[nd->height++] = copy;
  if (cl->verbose > 0)
    fprintf(stderr, "t=%llu node=%u %s height=%llu hash=%02x%02x%02x%02x\n",
            (unsigned long long)simnet_now(cl->net), h->idx, how,
            (unsigned long long)nd->height, copy->hash[0], copy->hash[1],
            copy->hash[2], copy->hash[3]);
  check_fork(cl, h->idx, nd->height);
  cl->vt->on_commit(nd->eng, copy->header.height, copy->hash);
  return 0;
}

static int svc_commit_block(mc_host *h, const mc_block *b, const uint8_t *cert,
                            size_t cert_len) {
  int rc = append_block(h, b, cert, cert_len, "COMMIT");
  if (rc == MC_ECERT) {
    /* the engine's own commit must carry a proof its own check accepts */
    fprintf(stderr, "node %u committed with an invalid certificate\n", h->idx);
    h->cl->bad_cert = 1;
  }
  return rc;
}

static int svc_get_block(mc_host *h, uint64_t height, mc_block **out) {
  th_node *nd = node_of(h);
  if (height == 0 || height > nd->height)
    return MC_ENOTFOUND;
  *out = mc_block_dup(nd->chain[height - 1]);
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

static int svc_state_save(mc_host *h, const uint8_t *data, size_t len) {
  th_node *nd = node_of(h);
  if (nd->fail_saves > 0) { /* a full or broken disk: nothing replaced */
    if (nd->fail_saves != TH_FAIL_ALWAYS)
      nd->fail_saves--;
    return MC_EIO;
  }
  th_set_state(h->cl, h->idx, data, len);
  return 0;
}

static int svc_state_load(mc_host *h, uint8_t **data, size_t *len) {
  th_node *nd = node_of(h);
  if (nd->state == NULL)
    return MC_ENOTFOUND;
  *data = malloc(nd->state_len);
  if (*data == NULL)
    return MC_ENOMEM;
  memcpy(*data, nd->state, nd->state_len);
  *len = nd->state_len;
  return 0;
}

/* ABI 1.2: a stream that depends only on the node and the call, so that
 * a schedule replays exactly (poa.so does not draw randomness). */
static int svc_random_bytes(mc_host *h, uint8_t *buf, size_t len) {
  th_node *nd = node_of(h);
  if (buf == NULL && len > 0)
    return MC_EINVAL;
  char label[64];
  uint8_t seed[randombytes_SEEDBYTES];
  snprintf(label, sizeof label, "testhost rng %u %llu", h->idx,
           (unsigned long long)nd->rng_calls++);
  crypto_generichash(seed, sizeof seed, (const uint8_t *)label,
                     strlen(label), NULL, 0);
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

const mc_host_api *th_api(void) { return &api; }

/* ---- the cluster ---- */

static void deliver(void *ctx, uint32_t to, uint32_t from, const uint8_t *msg,
                    size_t len) {
  th_cluster *cl = ctx;
  th_node *nd = &cl->nodes[to];
  if (nd->eng == NULL)
    return;
  cl->cur_msg = msg;
  cl->cur_len = len;
  cl->cur_node = to;
  cl->vt->on_message(nd->eng, cl->nodes[from].val, msg, len);
  cl->cur_msg = NULL;
}

/* The host's own loader and checks (host/loader.c), so that a plugin
 * this test host runs is one mchost would run.  The host calls a plugin
 * through the loader's copy of its vtable, which must outlive every
 * cluster: one static slot per plugin path (a run loads two or three). */
static const mc_consensus_vtable *load_plugin(const char *path) {
  static mc_plugin loaded[8];
  static size_t nloaded;
  char err[600], found[MC_PATH_MAX];
  if (mc_plugin_find(path, NULL, found, sizeof found, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return NULL;
  }
  for (size_t i = 0; i < nloaded; i++)
    if (strcmp(loaded[i].path, found) == 0)
      return &loaded[i].vt.consensus;
  if (nloaded == sizeof loaded / sizeof loaded[0]) {
    fprintf(stderr, "%s: testhost loads at most 8 plugins\n", path);
    return NULL;
  }
  if (mc_plugin_load(found, MC_PLUGIN_CONSENSUS, NULL, &loaded[nloaded], err,
                     sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return NULL;
  }
  return &loaded[nloaded++].vt.consensus;
}

th_cluster *th_new(const char *plugin, uint32_t n, uint64_t seed,
                   uint64_t block_interval_ms, uint64_t view_timeout_ms) {
  return th_new_twins(plugin, n, NULL, 0, seed, block_interval_ms,
                      view_timeout_ms);
}

th_cluster *th_new_twins(const char *plugin, uint32_t n, const uint32_t *twin_of,
                         uint32_t ntwins, uint64_t seed,
                         uint64_t block_interval_ms, uint64_t view_timeout_ms) {
  for (uint32_t k = 0; k < ntwins; k++)
    if (twin_of[k] >= n)
      return NULL;
  const mc_consensus_vtable *vt = load_plugin(plugin);
  if (vt == NULL || sodium_init() < 0)
    return NULL;
  th_cluster *cl = calloc(1, sizeof *cl);
  if (cl == NULL)
    abort();
  cl->nn = n + ntwins;
  cl->vcache = vcache_new();
  if (cl->vcache == NULL)
    abort();
  cl->nodes = calloc(cl->nn, sizeof *cl->nodes);
  cl->net = simnet_new(cl->nn, seed, deliver, cl);
  if (cl->nodes == NULL || cl->net == NULL)
    abort();
  cl->n = n;
  cl->verbose = getenv("TH_VERBOSE") != NULL;
  cl->vt = vt;
  cl->params = (mc_consensus_params){sizeof cl->params, block_interval_ms,
                                     view_timeout_ms, 100, 0};
  th_set_chain(cl, "testhost-genesis");
  for (uint32_t i = 0; i < cl->nn; i++) {
    th_node *nd = &cl->nodes[i];
    uint8_t kseed[32] = {0};
    nd->val = i < n ? i : twin_of[i - n];
    memcpy(kseed, &nd->val, sizeof nd->val);
    crypto_sign_seed_keypair(nd->pk, nd->sk, kseed);
    nd->host = (struct mc_host){cl, i};
    nd->chain = calloc(TH_MAX_HEIGHT, sizeof *nd->chain);
    if (nd->chain == NULL)
      abort();
  }
  return cl;
}

void th_free(th_cluster *cl) {
  if (cl == NULL)
    return;
  for (uint32_t i = 0; i < cl->nn; i++) {
    th_node *nd = &cl->nodes[i];
    if (nd->eng != NULL)
      th_stop(cl, i);
    for (uint64_t h = 0; h < nd->height; h++)
      mc_block_free(nd->chain[h]);
    free(nd->chain);
    free(nd->state);
    free(nd->snap.state);
    free(nd->sigs);
  }
  simnet_free(cl->net);
  vcache_free(cl->vcache);
  free(cl->nodes);
  free(cl);
}

simnet *th_net(th_cluster *cl) { return cl->net; }
uint32_t th_nodes(th_cluster *cl) { return cl->nn; }
uint32_t th_validator_of(th_cluster *cl, uint32_t i) { return cl->nodes[i].val; }
void th_set_verbose(th_cluster *cl, int on) { cl->verbose = on; }
const mc_consensus_vtable *th_vtable(th_cluster *cl) { return cl->vt; }
mc_consensus *th_engine(th_cluster *cl, uint32_t i) { return cl->nodes[i].eng; }
mc_host *th_host(th_cluster *cl, uint32_t i) { return &cl->nodes[i].host; }
const uint8_t *th_pubkey(th_cluster *cl, uint32_t i) { return cl->nodes[i].pk; }
const uint8_t *th_seckey(th_cluster *cl, uint32_t i) { return cl->nodes[i].sk; }

void th_set_chain(th_cluster *cl, const char *name) {
  crypto_hash_sha256(cl->genesis, (const uint8_t *)name, strlen(name));
}

void th_sign_as(th_cluster *cl, uint32_t validator, const uint8_t *msg,
                size_t len, uint8_t sig[MC_SIG_LEN]) {
  if (validator >= cl->n ||
      mc_consensus_sign(cl->nodes[validator].sk, cl->genesis, msg, len, sig) !=
          0)
    abort();
}

int th_start(th_cluster *cl, uint32_t i) {
  return th_start_flags(cl, i,
                        cl->nodes[i].starts == 0 ? MC_CONSENSUS_NEW_VALIDATOR
                                                 : 0);
}

int th_start_flags(th_cluster *cl, uint32_t i, uint64_t flags) {
  th_node *nd = &cl->nodes[i];
  mc_consensus_params params = cl->params;
  params.flags = flags;
  nd->starts++;
  nd->watching = 0;
  int rc = cl->vt->create(&api, &nd->host, &params, &nd->eng);
  if (rc != 0) {
    nd->eng = NULL;
    return rc;
  }
  rc = cl->vt->start(nd->eng);
  if (rc != 0)
    th_stop(cl, i);
  return rc;
}

void th_stop(th_cluster *cl, uint32_t i) {
  th_node *nd = &cl->nodes[i];
  cl->vt->stop(nd->eng);
  cl->vt->destroy(nd->eng);
  nd->eng = NULL;
}

void th_crash(th_cluster *cl, uint32_t i) {
  th_node *nd = &cl->nodes[i];
  simnet_forget_node(cl->net, i);
  cl->vt->destroy(nd->eng); /* frees memory only; nothing more is sent */
  nd->eng = NULL;
}

int th_watching(th_cluster *cl, uint32_t i) {
  return cl->nodes[i].eng != NULL && cl->nodes[i].watching;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t len) {
  uint8_t *d = malloc(len ? len : 1);
  if (d == NULL)
    abort();
  memcpy(d, p, len);
  return d;
}

void th_snapshot(th_cluster *cl, uint32_t i) {
  th_node *nd = &cl->nodes[i];
  free(nd->snap.state);
  nd->snap.taken = 1;
  nd->snap.height = nd->height;
  nd->snap.state = nd->state ? dup_bytes(nd->state, nd->state_len) : NULL;
  nd->snap.state_len = nd->state_len;
  nd->snap.nsigs = nd->nsigs;
}

int th_snapshot_info(th_cluster *cl, uint32_t i, th_snapinfo *out) {
  th_node *nd = &cl->nodes[i];
  if (!nd->snap.taken || nd->snap.height > nd->height)
    return 0;
  *out = (th_snapinfo){nd->snap.height, nd->snap.state, nd->snap.state_len,
                       nd->snap.nsigs};
  return 1;
}

int th_restore_snapshot(th_cluster *cl, uint32_t i) {
  th_node *nd = &cl->nodes[i];
  th_snapinfo si;
  if (nd->eng != NULL || !th_snapshot_info(cl, i, &si))
    return MC_ESTATE;
  uint64_t h = si.height;
  /* blocks are never rewritten, so the chain as it was is a prefix */
  while (nd->height > h)
    mc_block_free(nd->chain[--nd->height]);
  th_set_state(cl, i, nd->snap.state, nd->snap.state_len);
  return 0;
}

void th_set_state(th_cluster *cl, uint32_t i, const uint8_t *p, size_t len) {
  th_node *nd = &cl->nodes[i];
  free(nd->state);
  nd->state = NULL;
  nd->state_len = 0;
  if (p == NULL)
    return;
  nd->state = malloc(len ? len : 1);
  if (nd->state == NULL)
    abort();
  memcpy(nd->state, p, len);
  nd->state_len = len;
}

void th_fail_saves(th_cluster *cl, uint32_t i, uint32_t count) {
  cl->nodes[i].fail_saves = count;
}

const uint8_t *th_state(th_cluster *cl, uint32_t i, size_t *len) {
  *len = cl->nodes[i].state_len;
  return cl->nodes[i].state;
}

size_t th_sig_count(th_cluster *cl, uint32_t i) { return cl->nodes[i].nsigs; }

const th_sigrec *th_sig(th_cluster *cl, uint32_t i, size_t k) {
  return k < cl->nodes[i].nsigs ? &cl->nodes[i].sigs[k] : NULL;
}

int th_sync(th_cluster *cl, uint32_t i, uint32_t j) {
  th_node *nd = &cl->nodes[i];
  const th_node *src = &cl->nodes[j];
  int applied = 0;
  if (nd->eng == NULL)
    return MC_ESTATE;
  while (nd->height < src->height) {
    const mc_block *b = src->chain[nd->height];
    int rc = append_block(&nd->host, b, b->cert, b->cert_len, "SYNC");
    if (rc != 0)
      return rc;
    applied++;
  }
  return applied;
}

uint64_t th_height(th_cluster *cl, uint32_t i) { return cl->nodes[i].height; }

const mc_block *th_block(th_cluster *cl, uint32_t i, uint64_t h) {
  const th_node *nd = &cl->nodes[i];
  return h >= 1 && h <= nd->height ? nd->chain[h - 1] : NULL;
}

uint64_t th_min_height(th_cluster *cl) {
  uint64_t m = UINT64_MAX;
  for (uint32_t i = 0; i < cl->nn; i++)
    if (cl->nodes[i].eng != NULL && cl->nodes[i].height < m)
      m = cl->nodes[i].height;
  return m;
}

typedef struct height_goal {
  th_cluster *cl;
  uint64_t h;
} height_goal;

static int reached(void *arg) {
  height_goal *g = arg;
  return th_min_height(g->cl) >= g->h;
}

int th_run_until_height(th_cluster *cl, uint64_t h, uint64_t max_ms) {
  height_goal g = {cl, h};
  return simnet_run(cl->net, simnet_now(cl->net) + max_ms, reached, &g);
}

const uint8_t *th_delivering(th_cluster *cl, uint32_t *node, size_t *len) {
  *node = cl->cur_node;
  *len = cl->cur_len;
  return cl->cur_msg;
}

int th_forked(th_cluster *cl) { return cl->forked || cl->bad_cert; }
int th_double_signed(th_cluster *cl) { return cl->double_signed; }

uint64_t th_events(th_cluster *cl, uint32_t i, th_event ev) {
  return cl->nodes[i].events[ev];
}

mc_log_level th_event_level(th_cluster *cl, uint32_t i, th_event ev) {
  return cl->nodes[i].event_level[ev];
}

mc_block *th_make_block(th_cluster *cl, uint32_t on, uint32_t proposer,
                        uint64_t salt) {
  th_node *nd = &cl->nodes[on];
  mc_block *b = mc_block_new(0);
  if (b == NULL)
    return NULL;
  b->header.height = nd->height + 1;
  memcpy(b->header.prev_hash, head_hash(cl, nd), MC_HASH_LEN);
  b->header.timestamp_ms = TH_EPOCH_MS + simnet_now(cl->net) + salt;
  memcpy(b->header.proposer, cl->nodes[proposer].pk, MC_PUBKEY_LEN);
  mc_block_sign(b, cl->nodes[proposer].sk);
  return b;
}
