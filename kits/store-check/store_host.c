/*
 * store_host.c - the host table for store plugins outside mchost, and the
 * loader call (see store_host.h).
 */
#include "store_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "chain/codec.h"
#include "chain/crypto.h"
#include "minichain/error.h"

struct mc_host {
  int unused; /* the services keep no per-store state */
};
static mc_host g_host;
unsigned sh_logged_errors;
int sh_verbose;
unsigned sh_forbidden_calls;
const char *sh_forbidden_first;

mc_host *sh_host(void) { return &g_host; }

void sh_forbidden_reset(void) {
  sh_forbidden_calls = 0;
  sh_forbidden_first = NULL;
}

static void print_field(const mc_log_field *f) {
  if (f->type == MC_LOG_STR)
    fprintf(stderr, " %s=%s", f->key, f->v.s ? f->v.s : "(null)");
  else if (f->type == MC_LOG_UINT)
    fprintf(stderr, " %s=%llu", f->key, (unsigned long long)f->v.u);
  else if (f->type == MC_LOG_INT)
    fprintf(stderr, " %s=%lld", f->key, (long long)f->v.i);
}

static void host_log(mc_host *h, mc_log_level level, const char *event,
                     const mc_log_field *fields, size_t nfields) {
  (void)h;
  if (level >= MC_LOG_ERROR)
    sh_logged_errors++;
  if (!sh_verbose && level < MC_LOG_ERROR)
    return;
  fprintf(stderr, "  [store log] level=%d event=%s", (int)level,
          event ? event : "(null)");
  for (size_t i = 0; fields != NULL && i < nfields; i++)
    print_field(&fields[i]);
  fprintf(stderr, "\n");
}

static uint64_t clock_ms(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t host_now_ms(mc_host *h) {
  (void)h;
  return clock_ms(CLOCK_REALTIME);
}

static uint64_t host_monotonic_ms(mc_host *h) {
  (void)h;
  return clock_ms(CLOCK_MONOTONIC);
}

static void host_hash(mc_host *h, const uint8_t *data, size_t len,
                      uint8_t out[MC_HASH_LEN]) {
  (void)h;
  mc_sha256(data, len, out);
}

static int host_encode_block(mc_host *h, const mc_block *b, uint8_t **out,
                             size_t *out_len) {
  (void)h;
  return mc_block_encode(b, out, out_len);
}

static int host_decode_block(mc_host *h, const uint8_t *in, size_t len,
                             mc_block **out) {
  (void)h;
  return mc_block_decode(in, len, out);
}

static void host_block_free(mc_host *h, mc_block *b) {
  (void)h;
  mc_block_free(b);
}

static void host_buf_free(mc_host *h, void *p) {
  (void)h;
  free(p);
}

/* Recorded, not only refused: the real host (host/services.c,
 * mc_node_store_api) refuses the same way and logs the first call; a test
 * program must fail the store for it. */
static void forbidden(const char *name) {
  if (sh_forbidden_calls++ == 0)
    sh_forbidden_first = name;
  fprintf(stderr,
          "  the store called host service %s, which no store may use\n",
          name);
}

#define REFUSE(name, value)                                                    \
  do {                                                                         \
    (void)h;                                                                   \
    forbidden(name);                                                           \
    return value;                                                              \
  } while (0)

static int host_timer_start(mc_host *h, uint64_t d, mc_timer_cb cb, void *a,
                            uint64_t *id) {
  (void)d, (void)cb, (void)a, (void)id;
  REFUSE("timer_start", MC_ESTATE);
}
static int host_timer_stop(mc_host *h, uint64_t id) {
  (void)id;
  REFUSE("timer_stop", MC_ESTATE);
}
static int host_send(mc_host *h, uint32_t v, const uint8_t *m, size_t n) {
  (void)v, (void)m, (void)n;
  REFUSE("send", MC_ESTATE);
}
static int host_broadcast(mc_host *h, const uint8_t *m, size_t n) {
  (void)m, (void)n;
  REFUSE("broadcast", MC_ESTATE);
}
static int host_sign(mc_host *h, const uint8_t *m, size_t n, uint8_t *sig) {
  (void)m, (void)n, (void)sig;
  REFUSE("sign", MC_ESTATE);
}
static int host_verify(mc_host *h, const uint8_t *pk, const uint8_t *m,
                       size_t n, const uint8_t *sig) {
  (void)pk, (void)m, (void)n, (void)sig;
  REFUSE("verify", MC_ESTATE);
}
static uint32_t host_validator_count(mc_host *h) {
  REFUSE("validator_count", 0);
}
static int host_validator_key(mc_host *h, uint32_t i, uint8_t *pk) {
  (void)i, (void)pk;
  REFUSE("validator_key", MC_ESTATE);
}
static int32_t host_self_index(mc_host *h) { REFUSE("self_index", -1); }
static int host_head(mc_host *h, uint64_t *height, uint8_t *hash) {
  (void)height, (void)hash;
  REFUSE("head", MC_ESTATE);
}
static int host_build_block(mc_host *h, mc_block **out) {
  if (out != NULL)
    *out = NULL;
  REFUSE("build_block", MC_ESTATE);
}
static int host_validate_block(mc_host *h, const mc_block *b) {
  (void)b;
  REFUSE("validate_block", MC_ESTATE);
}
static int host_commit_block(mc_host *h, const mc_block *b, const uint8_t *c,
                             size_t n) {
  (void)b, (void)c, (void)n;
  REFUSE("commit_block", MC_ESTATE);
}
static int host_get_block(mc_host *h, uint64_t height, mc_block **out) {
  (void)height;
  if (out != NULL)
    *out = NULL;
  REFUSE("get_block", MC_ESTATE);
}
static int host_state_save(mc_host *h, const uint8_t *d, size_t n) {
  (void)d, (void)n;
  REFUSE("state_save", MC_ESTATE);
}
static int host_state_load(mc_host *h, uint8_t **d, size_t *n) {
  if (d != NULL)
    *d = NULL;
  if (n != NULL)
    *n = 0;
  REFUSE("state_load", MC_ESTATE);
}
static int host_random_bytes(mc_host *h, uint8_t *buf, size_t len) {
  (void)buf, (void)len;
  REFUSE("random_bytes", MC_ESTATE);
}

const mc_host_api sh_api = {
    .size = sizeof(mc_host_api),
    .log = host_log,
    .now_ms = host_now_ms,
    .monotonic_ms = host_monotonic_ms,
    .timer_start = host_timer_start,
    .timer_stop = host_timer_stop,
    .send = host_send,
    .broadcast = host_broadcast,
    .sign = host_sign,
    .verify = host_verify,
    .hash = host_hash,
    .validator_count = host_validator_count,
    .validator_key = host_validator_key,
    .self_index = host_self_index,
    .head = host_head,
    .build_block = host_build_block,
    .validate_block = host_validate_block,
    .commit_block = host_commit_block,
    .get_block = host_get_block,
    .encode_block = host_encode_block,
    .decode_block = host_decode_block,
    .block_free = host_block_free,
    .buf_free = host_buf_free,
    .state_save = host_state_save,
    .state_load = host_state_load,
    .random_bytes = host_random_bytes,
};

const mc_store_vtable *sh_load_store(const char *path, mc_plugin *plugin,
                                     char *err, size_t errlen) {
  if (mc_crypto_init() != 0) {
    snprintf(err, errlen, "cannot initialise libsodium");
    return NULL;
  }
  if (mc_plugin_load(path, MC_PLUGIN_STORE, NULL, plugin, err, errlen) != 0)
    return NULL;
  return &plugin->vt.store; /* the zero-filled copy, as mchost calls it */
}
