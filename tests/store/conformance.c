/*
 * conformance.c - the store conformance suite (DESIGN §6).
 *
 *   conformance STORE.so SCRATCH_DIR
 *
 * Loads a store plugin the way mchost does (host/loader.c: dlopen, entry
 * symbol, descriptor checks), hands it a host table built here on the
 * host's own codec, and checks the contract of minichain/store.h: genesis,
 * append, reads by height, hash and tx id, accounts and nonces, reopen,
 * refusal of a block that does not link, atomicity across SIGKILL at
 * random moments, and a clear refusal of a damaged or foreign directory
 * that leaves every file as it was.  Every store runs the same program;
 * damage cases that depend on a store's file format are in a table keyed
 * by the plugin's name (a store without cases there still runs the
 * format-independent ones).
 *
 * The chain used is a real one: ed25519-signed transfers between six
 * accounts, Merkle tx roots, LtHash state roots, balances and nonces above
 * 2^53, certificates of several sizes.  Each test gets its own fresh
 * directory under SCRATCH_DIR, removed when it passes.
 *
 * MC_CONFORMANCE_KILLS (environment) sets how many times the atomicity
 * test kills a writer (default 60).
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <sodium.h>

#include "chain/codec.h"
#include "chain/crypto.h"
#include "loader.h"
#include "minichain/error.h"
#include "minichain/store.h"

/* ---- the plugin under test, and a host table for it ---------------------- */

static mc_plugin g_plugin;
static const mc_store_vtable *g_vt;
static const char *g_scratch;

struct mc_host {
  unsigned logged_errors; /* MC_LOG_ERROR events the store reported */
};
static mc_host g_host;

static void host_log(mc_host *h, mc_log_level level, const char *event,
                     const mc_log_field *fields, size_t nfields) {
  (void)fields;
  if (level >= MC_LOG_ERROR)
    h->logged_errors++;
  fprintf(stderr, "[store log] level=%d event=%s fields=%zu\n", (int)level,
          event, nfields);
}

static uint64_t host_now_ms(mc_host *h) {
  (void)h;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t host_monotonic_ms(mc_host *h) {
  (void)h;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
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

/*
 * The services below belong to consensus (timers, messages, keys,
 * validators) or sit above the store (the chain): a store calling one is a
 * layering bug, and the suite says so instead of pretending to serve it.
 */
#define NOT_FOR_STORES(name)                                                   \
  fail_msg("the store called host service %s, which no store may use", name)

static int host_timer_start(mc_host *h, uint64_t d, mc_timer_cb cb, void *a,
                            uint64_t *id) {
  (void)h, (void)d, (void)cb, (void)a, (void)id;
  NOT_FOR_STORES("timer_start");
  return MC_ESTATE;
}
static int host_timer_stop(mc_host *h, uint64_t id) {
  (void)h, (void)id;
  NOT_FOR_STORES("timer_stop");
  return MC_ESTATE;
}
static int host_send(mc_host *h, uint32_t v, const uint8_t *m, size_t n) {
  (void)h, (void)v, (void)m, (void)n;
  NOT_FOR_STORES("send");
  return MC_ESTATE;
}
static int host_broadcast(mc_host *h, const uint8_t *m, size_t n) {
  (void)h, (void)m, (void)n;
  NOT_FOR_STORES("broadcast");
  return MC_ESTATE;
}
static int host_sign(mc_host *h, const uint8_t *m, size_t n, uint8_t *sig) {
  (void)h, (void)m, (void)n, (void)sig;
  NOT_FOR_STORES("sign");
  return MC_ESTATE;
}
static int host_verify(mc_host *h, const uint8_t *pk, const uint8_t *m,
                       size_t n, const uint8_t *sig) {
  (void)h;
  return mc_verify(pk, m, n, sig);
}
static uint32_t host_validator_count(mc_host *h) {
  (void)h;
  NOT_FOR_STORES("validator_count");
  return 0;
}
static int host_validator_key(mc_host *h, uint32_t i, uint8_t *pk) {
  (void)h, (void)i, (void)pk;
  NOT_FOR_STORES("validator_key");
  return MC_ESTATE;
}
static int32_t host_self_index(mc_host *h) {
  (void)h;
  NOT_FOR_STORES("self_index");
  return -1;
}
static int host_head(mc_host *h, uint64_t *height, uint8_t *hash) {
  (void)h, (void)height, (void)hash;
  NOT_FOR_STORES("head");
  return MC_ESTATE;
}
static int host_build_block(mc_host *h, mc_block **out) {
  (void)h, (void)out;
  NOT_FOR_STORES("build_block");
  return MC_ESTATE;
}
static int host_validate_block(mc_host *h, const mc_block *b) {
  (void)h, (void)b;
  NOT_FOR_STORES("validate_block");
  return MC_ESTATE;
}
static int host_commit_block(mc_host *h, const mc_block *b, const uint8_t *c,
                             size_t n) {
  (void)h, (void)b, (void)c, (void)n;
  NOT_FOR_STORES("commit_block");
  return MC_ESTATE;
}
static int host_get_block(mc_host *h, uint64_t height, mc_block **out) {
  (void)h, (void)height, (void)out;
  NOT_FOR_STORES("get_block");
  return MC_ESTATE;
}
static int host_state_save(mc_host *h, const uint8_t *d, size_t n) {
  (void)h, (void)d, (void)n;
  NOT_FOR_STORES("state_save");
  return MC_ESTATE;
}
static int host_state_load(mc_host *h, uint8_t **d, size_t *n) {
  (void)h, (void)d, (void)n;
  NOT_FOR_STORES("state_load");
  return MC_ESTATE;
}

static const mc_host_api g_api = {
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
};

/* ---- a real chain to store ----------------------------------------------- */

#define NKEYS 6
/* Key NKEYS-1 gets nothing at genesis: it appears in a later block, so the
 * suite sees an account created mid-chain. */
#define LATE_KEY (NKEYS - 1)
#define CHAIN_ID "conformance"

typedef struct chain {
  size_t n;
  uint8_t pk[NKEYS][MC_PUBKEY_LEN];
  uint8_t sk[NKEYS][MC_SECKEY_LEN];
  mc_block **b;     /* b[h]: block at height h */
  mc_account **chg; /* chg[h]: the state changes of block h */
  size_t *nchg;
  mc_account (*state)[NKEYS]; /* state[h][k]: account k after block h */
  int (*present)[NKEYS];      /* present[h][k]: k was in a change <= h */
} chain;

static void make_keys(chain *c) {
  for (int k = 0; k < NKEYS; k++) {
    uint8_t seed[crypto_sign_SEEDBYTES];
    char name[32];
    snprintf(name, sizeof name, "conformance-key-%d", k);
    mc_sha256(name, strlen(name), seed);
    crypto_sign_seed_keypair(c->pk[k], c->sk[k], seed);
  }
}

/* Balances chosen to cross 2^53, where a double stops being exact; their
 * sum stays below 2^64 so that no transfer can overflow. */
static const uint64_t genesis_balance[NKEYS - 1] = {
    1ull << 62, (1ull << 62) - 1, (1ull << 53) + 1, 1ull << 53, 1000000};

/* Sets the derived parts: tx root, state root, signature, hash. */
static void seal(chain *c, mc_block *b, const mc_lthash *acc, int proposer) {
  uint8_t(*ids)[MC_HASH_LEN] = malloc((b->header.tx_count + 1) * MC_HASH_LEN);
  assert_non_null(ids);
  for (uint32_t i = 0; i < b->header.tx_count; i++)
    memcpy(ids[i], b->txs[i].id, MC_HASH_LEN);
  mc_merkle_root(ids, b->header.tx_count, b->header.tx_root);
  free(ids);
  mc_lthash_root(acc, b->header.state_root);
  if (proposer >= 0) {
    memcpy(b->header.proposer, c->pk[proposer], MC_PUBKEY_LEN);
    mc_block_sign(b, c->sk[proposer]);
  } else {
    mc_header_hash(&b->header, b->hash);
  }
}

/* Records the changes of block h: every account the model touched. */
static void record(chain *c, size_t h, const int touched[NKEYS]) {
  c->chg[h] = calloc(NKEYS, sizeof(mc_account));
  assert_non_null(c->chg[h]);
  for (int k = 0; k < NKEYS; k++)
    if (touched[k])
      c->chg[h][c->nchg[h]++] = c->state[h][k];
}

static void make_genesis(chain *c, mc_lthash *acc) {
  int touched[NKEYS] = {0};
  mc_block *b = mc_block_new(0);
  assert_non_null(b);
  mc_sha256("conformance genesis document", 28, b->header.prev_hash);
  b->header.timestamp_ms = 1700000000000ull;
  for (int k = 0; k < NKEYS; k++) {
    memcpy(c->state[0][k].pubkey, c->pk[k], MC_PUBKEY_LEN);
    if (k == LATE_KEY)
      continue;
    c->state[0][k].balance = genesis_balance[k];
    c->present[0][k] = touched[k] = 1;
    mc_lthash_add(acc, &c->state[0][k]);
  }
  seal(c, b, acc, -1);
  c->b[0] = b;
  record(c, 0, touched);
}

/* Moves `amount` in the model, keeping the accumulator in step. */
static void transfer(mc_account *st, mc_lthash *acc, int from, int to,
                     uint64_t amount) {
  mc_lthash_remove(acc, &st[from]);
  mc_lthash_remove(acc, &st[to]);
  st[from].balance -= amount;
  st[from].nonce++;
  st[to].balance += amount;
  mc_lthash_add(acc, &st[from]);
  mc_lthash_add(acc, &st[to]);
}

static void make_block(chain *c, size_t h, mc_lthash *acc) {
  uint32_t ntx = (uint32_t)(h % 4);
  int touched[NKEYS] = {0};
  mc_block *b = mc_block_new(ntx);
  assert_non_null(b);
  memcpy(c->state[h], c->state[h - 1], sizeof c->state[h]);
  memcpy(c->present[h], c->present[h - 1], sizeof c->present[h]);
  b->header.height = h;
  memcpy(b->header.prev_hash, c->b[h - 1]->hash, MC_HASH_LEN);
  b->header.timestamp_ms = 1700000000000ull + h * 1000;
  b->header.tx_count = ntx;
  for (uint32_t i = 0; i < ntx; i++) {
    int from = (int)((h + i) % (NKEYS - 1)); /* LATE_KEY only receives */
    int to = (int)((h + i + 1 + h % 2) % NKEYS);
    if (to == from)
      to = LATE_KEY;
    mc_tx *tx = &b->txs[i];
    snprintf(tx->chain_id, sizeof tx->chain_id, "%s", CHAIN_ID);
    memcpy(tx->from, c->pk[from], MC_PUBKEY_LEN);
    memcpy(tx->to, c->pk[to], MC_PUBKEY_LEN);
    tx->amount = 1 + (h * 7919 + i) % 500;
    tx->nonce = c->state[h][from].nonce + 1;
    mc_tx_sign(tx, c->sk[from]);
    transfer(c->state[h], acc, from, to, tx->amount);
    touched[from] = touched[to] = 1;
    c->present[h][to] = 1;
  }
  /* Certificates of several sizes, some empty, one well above a line. */
  size_t cert_len = h % 3 == 0 ? 0 : (h % 5 == 0 ? 700 : 3 + h);
  if (cert_len) {
    uint8_t *cert = malloc(cert_len);
    assert_non_null(cert);
    randombytes_buf_deterministic(cert, cert_len, b->header.prev_hash);
    assert_int_equal(mc_block_set_cert(b, cert, cert_len), 0);
    free(cert);
  }
  seal(c, b, acc, (int)(h % (NKEYS - 1)));
  c->b[h] = b;
  record(c, h, touched);
}

static chain *chain_new(size_t n) {
  chain *c = calloc(1, sizeof *c);
  assert_non_null(c);
  c->n = n;
  c->b = calloc(n, sizeof *c->b);
  c->chg = calloc(n, sizeof *c->chg);
  c->nchg = calloc(n, sizeof *c->nchg);
  c->state = calloc(n, sizeof *c->state);
  c->present = calloc(n, sizeof *c->present);
  assert_true(c->b && c->chg && c->nchg && c->state && c->present);
  make_keys(c);
  mc_lthash acc;
  mc_lthash_init(&acc);
  make_genesis(c, &acc);
  for (size_t h = 1; h < n; h++)
    make_block(c, h, &acc);
  return c;
}

static void chain_free(chain *c) {
  for (size_t h = 0; h < c->n; h++) {
    mc_block_free(c->b[h]);
    free(c->chg[h]);
  }
  free(c->b);
  free(c->chg);
  free(c->nchg);
  free(c->state);
  free(c->present);
  free(c);
}

/* ---- files and directories ----------------------------------------------- */

typedef struct fixture {
  char dir[4096];
} fixture;

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char p[4400];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      remove_tree(p);
    else
      unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

static void empty_dir(const char *dir) {
  remove_tree(dir);
  assert_int_equal(mkdir(dir, 0755), 0);
}

static int setup_dir(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (f == NULL)
    return -1;
  snprintf(f->dir, sizeof f->dir, "%s/%s-XXXXXX", g_scratch,
           g_plugin.desc->name);
  if (mkdtemp(f->dir) == NULL) {
    fprintf(stderr, "mkdtemp %s: %s\n", f->dir, strerror(errno));
    free(f);
    return -1;
  }
  *state = f;
  return 0;
}

static int teardown_dir(void **state) {
  fixture *f = *state;
  remove_tree(f->dir);
  free(f);
  return 0;
}

/* Every regular file of dir, name and content, sorted by name, as one
 * malloc'd byte string: two snapshots are equal iff nothing changed. */
typedef struct snapshot {
  char *bytes;
  size_t len;
} snapshot;

static char *read_whole(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (fp == NULL)
    return NULL;
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
  buf[n] = '\0';
  fclose(fp);
  *len = (size_t)n;
  return buf;
}

static void write_whole(const char *path, const char *data, size_t len) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(data, 1, len, fp), len);
  assert_int_equal(fclose(fp), 0);
}

static void append_bytes(snapshot *s, const void *p, size_t n) {
  s->bytes = realloc(s->bytes, s->len + n);
  assert_non_null(s->bytes);
  memcpy(s->bytes + s->len, p, n);
  s->len += n;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static snapshot take_snapshot(const char *dir) {
  snapshot s = {NULL, 0};
  struct dirent **names;
  int n = scandir(dir, &names, NULL, by_name);
  assert_true(n >= 0);
  for (int i = 0; i < n; i++) {
    char p[4400];
    size_t len = 0;
    snprintf(p, sizeof p, "%s/%s", dir, names[i]->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISREG(st.st_mode)) {
      char *data = read_whole(p, &len);
      append_bytes(&s, names[i]->d_name, strlen(names[i]->d_name) + 1);
      append_bytes(&s, &len, sizeof len);
      if (len)
        append_bytes(&s, data, len);
      free(data);
    }
    free(names[i]);
  }
  free(names);
  return s;
}

static void assert_snapshot_same(snapshot a, snapshot b) {
  assert_int_equal(a.len, b.len);
  assert_memory_equal(a.bytes, b.bytes, a.len);
}

/* ---- store helpers ------------------------------------------------------- */

static mc_store *open_ok(const char *dir) {
  char err[1024] = "";
  mc_store *s = NULL;
  int rc = g_vt->open(&g_api, &g_host, dir, &s, err, sizeof err);
  if (rc != 0)
    fail_msg("open %s: %s: %s", dir, mc_err_name(rc), err);
  assert_non_null(s);
  return s;
}

static void append_ok(mc_store *s, const chain *c, size_t from, size_t to) {
  for (size_t h = from; h < to; h++) {
    int rc = g_vt->append(s, c->b[h], c->chg[h], c->nchg[h]);
    if (rc != 0)
      fail_msg("append height %zu: %s", h, mc_err_name(rc));
  }
}

static void assert_tx_equal(const mc_tx *a, const mc_tx *b) {
  assert_string_equal(a->chain_id, b->chain_id);
  assert_memory_equal(a->from, b->from, MC_PUBKEY_LEN);
  assert_memory_equal(a->to, b->to, MC_PUBKEY_LEN);
  assert_int_equal(a->amount, b->amount);
  assert_int_equal(a->nonce, b->nonce);
  assert_memory_equal(a->sig, b->sig, MC_SIG_LEN);
  assert_memory_equal(a->id, b->id, MC_HASH_LEN);
}

/* Field by field: struct padding is not part of a block. */
static void assert_block_equal(const mc_block *a, const mc_block *b) {
  const mc_block_header *x = &a->header, *y = &b->header;
  assert_int_equal(x->height, y->height);
  assert_memory_equal(x->prev_hash, y->prev_hash, MC_HASH_LEN);
  assert_int_equal(x->timestamp_ms, y->timestamp_ms);
  assert_memory_equal(x->tx_root, y->tx_root, MC_HASH_LEN);
  assert_memory_equal(x->state_root, y->state_root, MC_HASH_LEN);
  assert_int_equal(x->tx_count, y->tx_count);
  assert_memory_equal(x->proposer, y->proposer, MC_PUBKEY_LEN);
  assert_memory_equal(a->signature, b->signature, MC_SIG_LEN);
  assert_memory_equal(a->hash, b->hash, MC_HASH_LEN);
  for (uint32_t i = 0; i < x->tx_count; i++)
    assert_tx_equal(&a->txs[i], &b->txs[i]);
  assert_int_equal(a->cert_len, b->cert_len);
  if (a->cert_len)
    assert_memory_equal(a->cert, b->cert, a->cert_len);
}

static void assert_account_equal(const mc_account *a, const mc_account *b) {
  assert_memory_equal(a->pubkey, b->pubkey, MC_PUBKEY_LEN);
  assert_int_equal(a->balance, b->balance);
  assert_int_equal(a->nonce, b->nonce);
}

typedef struct walk {
  const chain *c;
  size_t h;
  int seen[NKEYS];
  size_t calls, stop_at;
} walk;

static int count_account(void *arg, const mc_account *a) {
  walk *w = arg;
  w->calls++;
  for (int k = 0; k < NKEYS; k++)
    if (memcmp(a->pubkey, w->c->pk[k], MC_PUBKEY_LEN) == 0) {
      assert_true(w->c->present[w->h][k]);
      assert_account_equal(a, &w->c->state[w->h][k]);
      w->seen[k]++;
      return w->stop_at && w->calls == w->stop_at ? 7 : 0;
    }
  fail_msg("each_account gave an account that was never in a change");
  return -1;
}

/* The store holds exactly blocks 0..h of c and the accounts after h. */
static void assert_holds(mc_store *s, const chain *c, size_t h) {
  uint64_t head;
  uint8_t hash[MC_HASH_LEN];
  assert_int_equal(g_vt->head(s, &head, hash), 0);
  assert_int_equal(head, h);
  assert_memory_equal(hash, c->b[h]->hash, MC_HASH_LEN);
  for (size_t i = 0; i <= h; i++) {
    mc_block *b = NULL;
    assert_int_equal(g_vt->get_block(s, i, &b), 0);
    assert_block_equal(b, c->b[i]);
    g_vt->free_block(s, b);
  }
  mc_block *none = NULL;
  assert_int_equal(g_vt->get_block(s, h + 1, &none), MC_ENOTFOUND);
  walk w = {.c = c, .h = h};
  assert_int_equal(g_vt->each_account(s, count_account, &w), 0);
  for (int k = 0; k < NKEYS; k++) {
    mc_account a;
    int rc = g_vt->get_account(s, c->pk[k], &a);
    assert_int_equal(w.seen[k], c->present[h][k]);
    if (!c->present[h][k]) {
      assert_int_equal(rc, MC_ENOTFOUND);
      continue;
    }
    assert_int_equal(rc, 0);
    assert_account_equal(&a, &c->state[h][k]);
  }
}

/* ---- tests: contents ----------------------------------------------------- */

static void empty_store(void **state) {
  fixture *f = *state;
  mc_store *s = open_ok(f->dir);
  uint64_t h;
  uint8_t hash[MC_HASH_LEN] = {0}, key[MC_PUBKEY_LEN] = {1};
  mc_block *b = NULL;
  mc_account a;
  uint32_t idx;
  assert_int_equal(g_vt->head(s, &h, hash), MC_ENOTFOUND);
  assert_int_equal(g_vt->get_block(s, 0, &b), MC_ENOTFOUND);
  assert_int_equal(g_vt->get_block_by_hash(s, hash, &b), MC_ENOTFOUND);
  assert_int_equal(g_vt->get_account(s, key, &a), MC_ENOTFOUND);
  assert_int_equal(g_vt->find_tx(s, hash, &h, &idx), MC_ENOTFOUND);
  walk w = {0};
  assert_int_equal(g_vt->each_account(s, count_account, &w), 0);
  assert_int_equal(w.calls, 0);
  g_vt->close(s);
  s = open_ok(f->dir);
  assert_int_equal(g_vt->head(s, &h, hash), MC_ENOTFOUND);
  g_vt->close(s);
  g_vt->close(NULL);
}

static void genesis_append(void **state) {
  fixture *f = *state;
  chain *c = chain_new(2);
  mc_store *s = open_ok(f->dir);
  /* An empty store takes height 0 only. */
  assert_int_equal(g_vt->append(s, c->b[1], c->chg[1], c->nchg[1]), MC_ELINK);
  append_ok(s, c, 0, 1);
  assert_holds(s, c, 0);
  g_vt->close(s);
  chain_free(c);
}

static void append_and_read_back(void **state) {
  fixture *f = *state;
  chain *c = chain_new(40);
  mc_store *s = open_ok(f->dir);
  append_ok(s, c, 0, c->n);
  assert_holds(s, c, c->n - 1);
  for (size_t h = 0; h < c->n; h++) {
    mc_block *b = NULL;
    assert_int_equal(g_vt->get_block_by_hash(s, c->b[h]->hash, &b), 0);
    assert_block_equal(b, c->b[h]);
    g_vt->free_block(s, b);
  }
  uint8_t unknown[MC_HASH_LEN];
  mc_block *b = NULL;
  memcpy(unknown, c->b[3]->hash, MC_HASH_LEN);
  unknown[31] ^= 1;
  assert_int_equal(g_vt->get_block_by_hash(s, unknown, &b), MC_ENOTFOUND);
  g_vt->close(s);
  chain_free(c);
}

/* After each block, not only at the end: an account that first appears
 * mid-chain is absent before and present after. */
static void accounts_and_nonces(void **state) {
  fixture *f = *state;
  chain *c = chain_new(12);
  mc_store *s = open_ok(f->dir);
  assert_false(c->present[0][LATE_KEY]);
  assert_true(c->present[c->n - 1][LATE_KEY]);
  for (size_t h = 0; h < c->n; h++) {
    append_ok(s, c, h, h + 1);
    assert_holds(s, c, h);
  }
  uint8_t stranger[MC_PUBKEY_LEN];
  mc_account a;
  memset(stranger, 0xab, sizeof stranger);
  assert_int_equal(g_vt->get_account(s, stranger, &a), MC_ENOTFOUND);
  g_vt->close(s);
  chain_free(c);
}

/* 0, 2^53-1, 2^53, 2^53+1 and 2^64-1 come back exactly, after a reopen. */
static void u64_round_trip(void **state) {
  static const uint64_t v[] = {0,
                               1,
                               (1ull << 53) - 1,
                               1ull << 53,
                               (1ull << 53) + 1,
                               UINT64_MAX - 1,
                               UINT64_MAX};
  enum { N = sizeof v / sizeof v[0] };
  fixture *f = *state;
  mc_account accts[N];
  mc_block *b = mc_block_new(1);
  assert_non_null(b);
  b->header.timestamp_ms = UINT64_MAX;
  b->header.tx_count = 1;
  mc_tx *tx = &b->txs[0];
  snprintf(tx->chain_id, sizeof tx->chain_id, "%s", CHAIN_ID);
  memset(tx->from, 1, MC_PUBKEY_LEN);
  memset(tx->to, 2, MC_PUBKEY_LEN);
  tx->amount = UINT64_MAX;
  tx->nonce = (1ull << 53) + 1;
  mc_tx_compute_id(tx);
  mc_header_hash(&b->header, b->hash);
  for (size_t i = 0; i < N; i++) {
    memset(&accts[i], 0, sizeof accts[i]);
    accts[i].pubkey[0] = (uint8_t)(i + 1);
    accts[i].balance = v[i];
    accts[i].nonce = v[N - 1 - i];
  }
  mc_store *s = open_ok(f->dir);
  assert_int_equal(g_vt->append(s, b, accts, N), 0);
  g_vt->close(s);
  s = open_ok(f->dir);
  mc_block *back = NULL;
  assert_int_equal(g_vt->get_block(s, 0, &back), 0);
  assert_block_equal(back, b);
  g_vt->free_block(s, back);
  for (size_t i = 0; i < N; i++) {
    mc_account a;
    assert_int_equal(g_vt->get_account(s, accts[i].pubkey, &a), 0);
    assert_account_equal(&a, &accts[i]);
  }
  g_vt->close(s);
  mc_block_free(b);
}

static void find_tx(void **state) {
  fixture *f = *state;
  chain *c = chain_new(20);
  mc_store *s = open_ok(f->dir);
  append_ok(s, c, 0, c->n);
  for (int pass = 0; pass < 2; pass++) {
    size_t found = 0;
    for (size_t h = 0; h < c->n; h++)
      for (uint32_t i = 0; i < c->b[h]->header.tx_count; i++) {
        uint64_t height = 0;
        uint32_t index = 0;
        assert_int_equal(g_vt->find_tx(s, c->b[h]->txs[i].id, &height, &index),
                         0);
        assert_int_equal(height, h);
        assert_int_equal(index, i);
        found++;
      }
    assert_true(found > 20);
    uint8_t unknown[MC_HASH_LEN];
    uint64_t height;
    uint32_t index;
    memcpy(unknown, c->b[1]->txs[0].id, MC_HASH_LEN);
    unknown[0] ^= 0x80;
    assert_int_equal(g_vt->find_tx(s, unknown, &height, &index), MC_ENOTFOUND);
    g_vt->close(s); /* the second pass reads what open rebuilt */
    s = open_ok(f->dir);
  }
  g_vt->close(s);
  chain_free(c);
}

static void each_account(void **state) {
  fixture *f = *state;
  chain *c = chain_new(10);
  mc_store *s = open_ok(f->dir);
  append_ok(s, c, 0, c->n);
  walk all = {.c = c, .h = c->n - 1};
  assert_int_equal(g_vt->each_account(s, count_account, &all), 0);
  for (int k = 0; k < NKEYS; k++)
    assert_int_equal(all.seen[k], 1);
  assert_int_equal(all.calls, NKEYS);
  /* A nonzero return stops the walk and is handed back. */
  walk stop = {.c = c, .h = c->n - 1, .stop_at = 2};
  assert_int_equal(g_vt->each_account(s, count_account, &stop), 7);
  assert_int_equal(stop.calls, 2);
  g_vt->close(s);
  chain_free(c);
}

static void reopen_after_close(void **state) {
  fixture *f = *state;
  chain *c = chain_new(30);
  mc_store *s = open_ok(f->dir);
  append_ok(s, c, 0, 15);
  g_vt->close(s);
  s = open_ok(f->dir);
  assert_holds(s, c, 14);
  append_ok(s, c, 15, c->n);
  g_vt->close(s);
  s = open_ok(f->dir);
  assert_holds(s, c, c->n - 1);
  g_vt->close(s);
  chain_free(c);
}

/* ---- tests: refusals ----------------------------------------------------- */

static void refuse_and_check(mc_store *s, const chain *c, const char *dir,
                             const mc_block *bad, const char *what) {
  snapshot before = take_snapshot(dir);
  int rc = g_vt->append(s, bad, c->chg[10], c->nchg[10]);
  if (rc != MC_ELINK)
    fail_msg("append of %s gave %s, not ELINK", what, mc_err_name(rc));
  assert_holds(s, c, 9);
  snapshot after = take_snapshot(dir);
  assert_snapshot_same(before, after);
  free(before.bytes);
  free(after.bytes);
}

static void refuses_non_linking(void **state) {
  fixture *f = *state;
  chain *c = chain_new(12);
  mc_store *s = open_ok(f->dir);
  append_ok(s, c, 0, 10);
  mc_block bad = *c->b[10];
  bad.header.prev_hash[5] ^= 1;
  refuse_and_check(s, c, f->dir, &bad, "a wrong prev_hash");
  bad = *c->b[10];
  bad.header.height = 11;
  refuse_and_check(s, c, f->dir, &bad, "a height past head+1");
  refuse_and_check(s, c, f->dir, c->b[11], "the block after next");
  refuse_and_check(s, c, f->dir, c->b[9], "the head again");
  refuse_and_check(s, c, f->dir, c->b[0], "a second genesis");
  g_vt->close(s);
  /* Nothing of the refused blocks reached the disk either. */
  s = open_ok(f->dir);
  assert_holds(s, c, 9);
  append_ok(s, c, 10, 12);
  assert_holds(s, c, 11);
  g_vt->close(s);
  chain_free(c);
}

/* Opens dir expecting a refusal with `want`; the reason must be a
 * non-empty line containing `says` (when given), and dir must be exactly
 * as it was. */
static void assert_open_refused(const char *dir, int want, const char *says,
                                const char *what) {
  snapshot before = take_snapshot(dir);
  char err[1024] = "";
  mc_store *s = (mc_store *)&err; /* must be reset to NULL */
  int rc = g_vt->open(&g_api, &g_host, dir, &s, err, sizeof err);
  if (rc != want)
    fail_msg("%s: open gave %s (%s), expected %s", what, mc_err_name(rc), err,
             mc_err_name(want));
  assert_null(s);
  assert_true(strlen(err) > 0);
  assert_null(strchr(err, '\n'));
  if (says != NULL && strstr(err, says) == NULL)
    fail_msg("%s: reason \"%s\" does not mention \"%s\"", what, err, says);
  print_message("  refused %-40s %s: %s\n", what, mc_err_name(rc), err);
  snapshot after = take_snapshot(dir);
  assert_snapshot_same(before, after);
  free(before.bytes);
  free(after.bytes);
}

/* Format-independent damage: every file the store wrote replaced by text
 * that no store writes. */
static void refuses_garbage_files(void **state) {
  fixture *f = *state;
  chain *c = chain_new(5);
  mc_store *s = open_ok(f->dir);
  append_ok(s, c, 0, c->n);
  g_vt->close(s);
  struct dirent **names;
  int n = scandir(f->dir, &names, NULL, by_name);
  assert_true(n > 2);
  for (int i = 0; i < n; i++) {
    char p[4400];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", f->dir, names[i]->d_name);
    if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
      write_whole(p, "this is not a chain store\n", 26);
    free(names[i]);
  }
  free(names);
  assert_open_refused(f->dir, MC_ECORRUPT, NULL, "garbage in every file");
  chain_free(c);
}

/* ---- damage cases that know json.so's chain.json ------------------------ */

typedef void (*json_edit_fn)(cJSON *root);

static cJSON *block_at(cJSON *root, int i) {
  cJSON *b = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "blocks"), i);
  assert_non_null(b);
  return b;
}

static void set_field(cJSON *obj, const char *key, cJSON *value) {
  assert_non_null(value);
  assert_true(cJSON_ReplaceItemInObjectCaseSensitive(obj, key, value));
}

static void drop_block_hash(cJSON *r) {
  cJSON_DeleteItemFromObject(block_at(r, 1), "block_hash");
}
static void bad_hex(cJSON *r) {
  char text[65];
  memset(text, 'z', 64);
  text[64] = '\0';
  set_field(block_at(r, 2), "prev_hash", cJSON_CreateString(text));
}
static void height_gap(cJSON *r) {
  set_field(block_at(r, 3), "height", cJSON_CreateNumber(5));
}
static void no_link(cJSON *r) {
  const char *h0 =
      cJSON_GetObjectItem(block_at(r, 0), "block_hash")->valuestring;
  set_field(block_at(r, 2), "prev_hash", cJSON_CreateString(h0));
}
static void edited_amount(cJSON *r) {
  cJSON *tx =
      cJSON_GetArrayItem(cJSON_GetObjectItem(block_at(r, 3), "tx_list"), 0);
  assert_non_null(tx);
  set_field(tx, "amount", cJSON_CreateNumber(999999));
}
static void edited_timestamp(cJSON *r) {
  set_field(block_at(r, 2), "timestamp", cJSON_CreateNumber(12345));
}
static void odd_cert(cJSON *r) {
  set_field(block_at(r, 1), "cert", cJSON_CreateString("abc"));
}
static void balance_not_number(cJSON *r) {
  cJSON *acc = cJSON_GetObjectItem(r, "accounts");
  set_field(acc, acc->child->string, cJSON_CreateString("lots"));
}
static void balance_negative(cJSON *r) {
  cJSON *acc = cJSON_GetObjectItem(r, "accounts");
  set_field(acc, acc->child->string, cJSON_CreateNumber(-5));
}
static void balance_fraction(cJSON *r) {
  cJSON *acc = cJSON_GetObjectItem(r, "nonces");
  set_field(acc, acc->child->string, cJSON_CreateNumber(1.5));
}
static void bad_account_key(cJSON *r) {
  cJSON_AddNumberToObject(cJSON_GetObjectItem(r, "accounts"), "alice", 5);
}
static void no_nonces(cJSON *r) { cJSON_DeleteItemFromObject(r, "nonces"); }
static void seed_format(cJSON *r) {
  /* The seed's own chain.json: blocks, accounts, nonces, no format. */
  cJSON_DeleteItemFromObject(r, "format");
  cJSON_DeleteItemFromObject(r, "version");
}
static void other_format(cJSON *r) {
  set_field(r, "format", cJSON_CreateString("someone-elses-store"));
}
static void newer_version(cJSON *r) {
  set_field(r, "version", cJSON_CreateNumber(2));
}

typedef struct json_case {
  const char *what;
  json_edit_fn edit; /* edits the parsed file, or NULL: `text` replaces it */
  const char *text;
  int rc;
  const char *says;
} json_case;

static const json_case json_cases[] = {
    {"a block without block_hash", drop_block_hash, NULL, MC_ECORRUPT,
     "blocks[1].block_hash"},
    {"bad hex in prev_hash", bad_hex, NULL, MC_ECORRUPT, "blocks[2].prev_hash"},
    {"heights not contiguous", height_gap, NULL, MC_ECORRUPT,
     "blocks[3].height"},
    {"prev_hash not linking", no_link, NULL, MC_ECORRUPT,
     "blocks[2].prev_hash"},
    {"an edited amount", edited_amount, NULL, MC_ECORRUPT,
     "blocks[3].tx_list[0].id"},
    {"an edited timestamp", edited_timestamp, NULL, MC_ECORRUPT,
     "blocks[2].block_hash"},
    {"a certificate of odd length", odd_cert, NULL, MC_ECORRUPT,
     "blocks[1].cert"},
    {"a balance that is text", balance_not_number, NULL, MC_ECORRUPT,
     "accounts."},
    {"a negative balance", balance_negative, NULL, MC_ECORRUPT, "accounts."},
    {"a fractional nonce", balance_fraction, NULL, MC_ECORRUPT, "nonces."},
    {"an account key that is not hex", bad_account_key, NULL, MC_ECORRUPT,
     "alice"},
    {"no nonces", no_nonces, NULL, MC_ECORRUPT, "nonces"},
    {"truncated JSON", NULL, "{\"format\":\"minichain-json-store\",\"blo",
     MC_ECORRUPT, "not valid JSON"},
    {"binary garbage", NULL, "\x01\x02\xff\xfe", MC_ECORRUPT, "not valid JSON"},
    {"an empty file", NULL, "", MC_ECORRUPT, "empty"},
    {"the seed's chain.json (no format)", seed_format, NULL, MC_EFOREIGN,
     "format"},
    {"another program's format", other_format, NULL, MC_EFOREIGN,
     "someone-elses-store"},
    {"a JSON array", NULL, "[1, 2, 3]\n", MC_EFOREIGN, "not an object"},
    {"a newer format version", newer_version, NULL, MC_EVERSION, "version 2"},
};

static void json_damage(void **state) {
  fixture *f = *state;
  if (strcmp(g_plugin.desc->name, "json") != 0)
    skip(); /* these cases know chain.json; other stores have their own */
  chain *c = chain_new(5);
  mc_store *s = open_ok(f->dir);
  append_ok(s, c, 0, c->n);
  g_vt->close(s);
  char path[4400];
  size_t len;
  snprintf(path, sizeof path, "%s/chain.json", f->dir);
  char *good = read_whole(path, &len);
  assert_non_null(good);
  for (size_t i = 0; i < sizeof json_cases / sizeof json_cases[0]; i++) {
    const json_case *jc = &json_cases[i];
    char *text = (char *)jc->text;
    if (jc->edit) {
      cJSON *root = cJSON_Parse(good);
      assert_non_null(root);
      jc->edit(root);
      text = cJSON_Print(root);
      cJSON_Delete(root);
    }
    write_whole(path, text, strlen(text));
    assert_open_refused(f->dir, jc->rc, jc->says, jc->what);
    if (jc->edit)
      cJSON_free(text);
  }
  /* The good file still opens: the cases above failed for their reason. */
  write_whole(path, good, len);
  s = open_ok(f->dir);
  assert_holds(s, c, c->n - 1);
  g_vt->close(s);
  free(good);
  chain_free(c);
}

/*
 * A write that fails changes nothing, not even in memory: the block that
 * failed brings the first appearance of LATE_KEY, which must stay absent.
 * The failure: json.so appends to DIR/chain.journal, and RLIMIT_FSIZE at
 * that file's size makes the write fail with EFBIG (SIGXFSZ ignored).
 */
static void json_write_failure(void **state) {
  fixture *f = *state;
  if (strcmp(g_plugin.desc->name, "json") != 0)
    skip(); /* knows json.so's journal */
  chain *c = chain_new(12);
  size_t h = 1;
  while (!c->present[h][LATE_KEY])
    h++;
  mc_store *s = open_ok(f->dir);
  append_ok(s, c, 0, h);
  char journal[4400];
  struct stat st;
  snprintf(journal, sizeof journal, "%s/chain.journal", f->dir);
  assert_int_equal(stat(journal, &st), 0);
  snapshot before = take_snapshot(f->dir);
  unsigned logged = g_host.logged_errors;
  struct rlimit old, lim;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  lim = old;
  lim.rlim_cur = (rlim_t)st.st_size;
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  int rc = g_vt->append(s, c->b[h], c->chg[h], c->nchg[h]);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, prev);
  assert_int_equal(rc, MC_EIO);
  assert_int_equal(g_host.logged_errors, logged + 1);
  assert_holds(s, c, h - 1);
  snapshot after = take_snapshot(f->dir);
  assert_snapshot_same(before, after);
  free(before.bytes);
  free(after.bytes);
  append_ok(s, c, h, c->n);
  assert_holds(s, c, c->n - 1);
  g_vt->close(s);
  s = open_ok(f->dir);
  assert_holds(s, c, c->n - 1);
  g_vt->close(s);
  chain_free(c);
}

/* ---- atomicity across SIGKILL ------------------------------------------- */

/* The writer: opens dir and appends c from its head on, until done. */
static void writer(const char *dir, const chain *c) {
  char err[1024];
  mc_store *s = NULL;
  uint64_t head;
  uint8_t hash[MC_HASH_LEN];
  if (g_vt->open(&g_api, &g_host, dir, &s, err, sizeof err) != 0) {
    fprintf(stderr, "writer: open: %s\n", err);
    _exit(3);
  }
  int rc = g_vt->head(s, &head, hash);
  size_t from = rc == MC_ENOTFOUND ? 0 : (size_t)head + 1;
  for (size_t h = from; h < c->n; h++)
    if (g_vt->append(s, c->b[h], c->chg[h], c->nchg[h]) != 0)
      _exit(4);
  g_vt->close(s);
  _exit(0);
}

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Runs the writer in a child and kills it after delay_us (0: let it
 * finish).  Returns the child's exit status, or -1 if it was killed. */
static int run_writer(const char *dir, const chain *c, uint64_t delay_us) {
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    writer(dir, c);
  if (delay_us) {
    usleep((useconds_t)delay_us);
    kill(pid, SIGKILL);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (WIFSIGNALED(status))
    return -1;
  assert_true(WIFEXITED(status));
  return WEXITSTATUS(status);
}

/* The head of the store in dir after a crash, checked to hold exactly a
 * prefix of c with the state of that prefix; -1 if it is empty. */
static long check_prefix(const char *dir, const chain *c) {
  mc_store *s = open_ok(dir);
  uint64_t head;
  uint8_t hash[MC_HASH_LEN];
  int rc = g_vt->head(s, &head, hash);
  if (rc == MC_ENOTFOUND) {
    g_vt->close(s);
    return -1;
  }
  assert_int_equal(rc, 0);
  assert_true(head < c->n);
  assert_holds(s, c, (size_t)head);
  g_vt->close(s);
  return (long)head;
}

static void atomic_under_sigkill(void **state) {
  fixture *f = *state;
  const char *env = getenv("MC_CONFORMANCE_KILLS");
  int kills = env ? atoi(env) : 60;
  chain *c = chain_new(50);
  /* How long a whole run takes here, so that kills land anywhere in it. */
  uint64_t t0 = now_us();
  assert_int_equal(run_writer(f->dir, c, 0), 0);
  uint64_t full_us = now_us() - t0;
  assert_int_equal(check_prefix(f->dir, c), (long)c->n - 1);
  empty_dir(f->dir);
  unsigned seed = (unsigned)time(NULL);
  srand(seed);
  print_message("  full run %llu us; %d kills, seed %u\n",
                (unsigned long long)full_us, kills, seed);
  long last = -1;
  int mid_chain = 0, finished = 0;
  for (int i = 0; i < kills; i++) {
    uint64_t delay = 1 + (uint64_t)rand() % (full_us / 4 + 1);
    int st = run_writer(f->dir, c, delay);
    if (st > 0)
      fail_msg("writer failed with status %d (seed %u, kill %d)", st, seed, i);
    long head = check_prefix(f->dir, c);
    /* A block once read back is durable: a later crash never loses it. */
    assert_true(head >= last);
    if (head > last && head < (long)c->n - 1 && st < 0)
      mid_chain++;
    last = head;
    if (head == (long)c->n - 1) {
      finished++;
      empty_dir(f->dir);
      last = -1;
    }
  }
  print_message("  %d kills cut a chain short, %d runs reached the end\n",
                mid_chain, finished);
  /* Otherwise the kills all missed and nothing was tested. */
  assert_true(mid_chain > 0);
  chain_free(c);
}

/* ---- main ---------------------------------------------------------------- */

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_dir, teardown_dir)

int main(int argc, char **argv) {
  char err[1024];
  if (argc != 3) {
    fprintf(stderr, "usage: %s STORE.so SCRATCH_DIR\n", argv[0]);
    return 2;
  }
  if (mc_crypto_init() != 0) {
    fprintf(stderr, "cannot initialise libsodium\n");
    return 2;
  }
  if (mc_plugin_load(argv[1], MC_PLUGIN_STORE, NULL, &g_plugin, err,
                     sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  g_vt = &g_plugin.vt.store;
  g_scratch = argv[2];
  if (mkdir(g_scratch, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "%s: %s\n", g_scratch, strerror(errno));
    return 2;
  }
  const struct CMUnitTest tests[] = {
      T(empty_store),           T(genesis_append),     T(append_and_read_back),
      T(accounts_and_nonces),   T(u64_round_trip),     T(find_tx),
      T(each_account),          T(reopen_after_close), T(refuses_non_linking),
      T(refuses_garbage_files), T(json_damage),        T(json_write_failure),
      T(atomic_under_sigkill),
  };
  fprintf(stderr, "store %s %s (%s)\n", g_plugin.desc->name,
          g_plugin.desc->version, g_plugin.path);
  return cmocka_run_group_tests_name(g_plugin.desc->name, tests, NULL, NULL);
}
