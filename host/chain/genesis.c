/*
 * genesis.c - the genesis document: strict parsing, hashing, writing it
 * back, and block 0.
 *
 * The genesis file is operator input, so every mistake is refused with a
 * reason that names the field ("genesis: validators[2]: not 64 hex
 * digits") instead of being guessed at.  The hash that identifies the
 * chain is computed from the parsed values in canonical form (validators in
 * leader order, accounts sorted by key), never from the JSON text, so
 * whitespace, key order and hex case do not change it.
 */
#include "chain/genesis.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chain/codec.h"
#include "chain/crypto.h"
#include "minichain/error.h"

/* JSON numbers are doubles: above this an integer may have been rounded, so
 * larger balances must be written as decimal strings. */
#define MAX_SAFE_INT 9007199254740991ULL /* 2^53 - 1 */
#define GENESIS_FILE_MAX (64u << 20)
#define PK_HEX_LEN (2 * MC_PUBKEY_LEN)

#define MAX_TXS_MIN 1
#define MAX_TXS_MAX 10000
#define INTERVAL_MIN 10
#define INTERVAL_MAX 3600000
#define VIEW_TIMEOUT_MIN 100
#define VIEW_TIMEOUT_MAX 3600000

static const char GENESIS_TAG[] = "mc-genesis-v1";

static const char *const TOP_KEYS[] = {"chain_id", "genesis_time_ms",
                                       "validators", "alloc", "params"};
static const char *const PARAM_KEYS[] = {"max_txs_per_block",
                                         "block_interval_ms", "view_timeout_ms"};

int mc_chain_id_valid(const char *chain_id) {
  size_t n = 0;
  if (chain_id == NULL)
    return 0;
  for (const char *p = chain_id; *p != '\0'; p++, n++) {
    char ch = *p;
    int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
             (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
    if (!ok || n >= MC_CHAIN_ID_MAX)
      return 0;
  }
  return n >= 1;
}

/* ---- errors ---- */

typedef struct errbuf {
  char *s;
  size_t n;
} errbuf;

/* Writes "genesis: <reason>" and returns MC_EINVAL. */
__attribute__((format(printf, 2, 3))) static int fail(errbuf *e,
                                                      const char *fmt, ...) {
  va_list ap;
  if (e->s == NULL || e->n == 0)
    return MC_EINVAL;
  int k = snprintf(e->s, e->n, "genesis: ");
  if (k >= 0 && (size_t)k < e->n) {
    va_start(ap, fmt);
    vsnprintf(e->s + k, e->n - (size_t)k, fmt, ap);
    va_end(ap);
  }
  return MC_EINVAL;
}

static int fail_nomem(errbuf *e) {
  if (e->s != NULL && e->n > 0)
    snprintf(e->s, e->n, "genesis: out of memory");
  return MC_ENOMEM;
}

/* ---- JSON value readers ---- */

/* An integral JSON number in [lo, hi] (hi <= 2^53-1, where doubles are
 * exact).  Returns 0 or -1. */
static int json_uint(const cJSON *item, uint64_t lo, uint64_t hi,
                     uint64_t *v) {
  assert(hi <= MAX_SAFE_INT);
  if (!cJSON_IsNumber(item))
    return -1;
  double d = item->valuedouble;
  if (!(d >= (double)lo && d <= (double)hi)) /* also refuses NaN */
    return -1;
  uint64_t u = (uint64_t)d;
  if ((double)u != d)
    return -1;
  *v = u;
  return 0;
}

/* A decimal string of digits only that fits in a u64.  0 or -1. */
static int decimal_u64(const char *s, uint64_t *v) {
  uint64_t acc = 0;
  if (*s == '\0')
    return -1;
  for (; *s != '\0'; s++) {
    if (*s < '0' || *s > '9')
      return -1;
    uint64_t digit = (uint64_t)(*s - '0');
    if (acc > (UINT64_MAX - digit) / 10)
      return -1;
    acc = acc * 10 + digit;
  }
  *v = acc;
  return 0;
}

static int pubkey_hex(const char *s, uint8_t pk[MC_PUBKEY_LEN]) {
  return mc_hex_decode(s, pk, MC_PUBKEY_LEN);
}

/* Refuses keys not in `known` and any key given twice (cJSON keeps both). */
static int check_keys(errbuf *e, const cJSON *obj, const char *where,
                      const char *const *known, size_t nknown) {
  for (const cJSON *a = obj->child; a != NULL; a = a->next) {
    size_t i = 0;
    while (i < nknown && strcmp(a->string, known[i]) != 0)
      i++;
    if (i == nknown)
      return fail(e, "%sunknown key \"%.64s\"", where, a->string);
    for (const cJSON *b = obj->child; b != a; b = b->next) {
      if (strcmp(a->string, b->string) == 0)
        return fail(e, "%sduplicate key \"%s\"", where, a->string);
    }
  }
  return 0;
}

/* ---- the document's parts ---- */

static int parse_chain_id(errbuf *e, const cJSON *root, mc_genesis *g) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "chain_id");
  if (v == NULL)
    return fail(e, "chain_id: missing");
  if (!cJSON_IsString(v) || !mc_chain_id_valid(v->valuestring))
    return fail(e, "chain_id: must be 1..%d characters of [A-Za-z0-9._-]",
                MC_CHAIN_ID_MAX);
  strcpy(g->chain_id, v->valuestring);
  return 0;
}

static int parse_time(errbuf *e, const cJSON *root, mc_genesis *g) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "genesis_time_ms");
  if (v == NULL)
    return fail(e, "genesis_time_ms: missing");
  if (json_uint(v, 0, MAX_SAFE_INT, &g->genesis_time_ms) != 0)
    return fail(e, "genesis_time_ms: must be an integer in 0..%llu",
                (unsigned long long)MAX_SAFE_INT);
  return 0;
}

static int parse_validators(errbuf *e, const cJSON *root, mc_genesis *g) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "validators");
  if (v == NULL)
    return fail(e, "validators: missing");
  int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
  if (n < 1 || n > MC_MAX_VALIDATORS)
    return fail(e, "validators: must be an array of 1..%d public keys",
                MC_MAX_VALIDATORS);
  g->validators = calloc((size_t)n, sizeof *g->validators);
  if (g->validators == NULL)
    return fail_nomem(e);
  uint32_t i = 0;
  for (const cJSON *it = v->child; it != NULL; it = it->next, i++) {
    if (!cJSON_IsString(it) || pubkey_hex(it->valuestring, g->validators[i]))
      return fail(e, "validators[%u]: not %d hex digits", i, PK_HEX_LEN);
    for (uint32_t j = 0; j < i; j++) {
      if (memcmp(g->validators[j], g->validators[i], MC_PUBKEY_LEN) == 0)
        return fail(e, "validators[%u]: duplicate of validators[%u]", i, j);
    }
  }
  g->validator_count = i;
  return 0;
}

static int parse_balance(errbuf *e, const cJSON *item, uint64_t *bal) {
  const char *key = item->string;
  if (cJSON_IsString(item)) {
    if (decimal_u64(item->valuestring, bal) != 0)
      return fail(e, "alloc[\"%s\"]: balance string must be decimal digits "
                     "of at most 2^64-1", key);
  } else if (json_uint(item, 0, MAX_SAFE_INT, bal) != 0) {
    return fail(e, "alloc[\"%s\"]: balance must be an integer in 1..%llu "
                   "or a decimal string", key,
                (unsigned long long)MAX_SAFE_INT);
  }
  if (*bal == 0)
    return fail(e, "alloc[\"%s\"]: balance must be at least 1", key);
  return 0;
}

static int account_cmp(const void *a, const void *b) {
  return memcmp(((const mc_account *)a)->pubkey,
                ((const mc_account *)b)->pubkey, MC_PUBKEY_LEN);
}

/* After sorting, a duplicate account (the same key in two spellings, e.g.
 * upper and lower case hex) sits next to its twin. */
static int check_supply(errbuf *e, const mc_genesis *g) {
  uint64_t total = 0;
  for (size_t i = 0; i < g->alloc_count; i++) {
    const mc_account *a = &g->alloc[i];
    if (i > 0 && memcmp(g->alloc[i - 1].pubkey, a->pubkey, MC_PUBKEY_LEN) == 0) {
      char hex[PK_HEX_LEN + 1];
      mc_hex_encode(a->pubkey, MC_PUBKEY_LEN, hex);
      return fail(e, "alloc[\"%s\"]: account listed twice", hex);
    }
    if (a->balance > UINT64_MAX - total)
      return fail(e, "alloc: total supply exceeds 2^64-1");
    total += a->balance;
  }
  return 0;
}

static int parse_alloc(errbuf *e, const cJSON *root, mc_genesis *g) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "alloc");
  if (v == NULL)
    return fail(e, "alloc: missing");
  if (!cJSON_IsObject(v))
    return fail(e, "alloc: must be an object of public key: balance");
  size_t n = (size_t)cJSON_GetArraySize(v);
  if (n > 0) {
    g->alloc = calloc(n, sizeof *g->alloc);
    if (g->alloc == NULL)
      return fail_nomem(e);
  }
  size_t i = 0;
  for (const cJSON *it = v->child; it != NULL; it = it->next, i++) {
    mc_account *a = &g->alloc[i];
    if (pubkey_hex(it->string, a->pubkey) != 0)
      return fail(e, "alloc[\"%.80s\"]: key is not %d hex digits", it->string,
                  PK_HEX_LEN);
    int rc = parse_balance(e, it, &a->balance);
    if (rc != 0)
      return rc;
  }
  g->alloc_count = i;
  if (i > 1)
    qsort(g->alloc, i, sizeof *g->alloc, account_cmp);
  return check_supply(e, g);
}

static int parse_param(errbuf *e, const cJSON *params, const char *name,
                       uint64_t lo, uint64_t hi, uint64_t *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);
  if (v == NULL)
    return 0; /* the default stays */
  if (json_uint(v, lo, hi, out) != 0)
    return fail(e, "params.%s: must be an integer in %" PRIu64 "..%" PRIu64,
                name, lo, hi);
  return 0;
}

static int parse_params(errbuf *e, const cJSON *root, mc_genesis *g) {
  uint64_t max_txs = MC_DEFAULT_MAX_TXS_PER_BLOCK;
  g->block_interval_ms = MC_DEFAULT_BLOCK_INTERVAL_MS;
  g->view_timeout_ms = MC_DEFAULT_VIEW_TIMEOUT_MS;
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "params");
  if (p != NULL) {
    int rc;
    if (!cJSON_IsObject(p))
      return fail(e, "params: must be an object");
    if ((rc = check_keys(e, p, "params: ", PARAM_KEYS, 3)) != 0 ||
        (rc = parse_param(e, p, "max_txs_per_block", MAX_TXS_MIN, MAX_TXS_MAX,
                          &max_txs)) != 0 ||
        (rc = parse_param(e, p, "block_interval_ms", INTERVAL_MIN,
                          INTERVAL_MAX, &g->block_interval_ms)) != 0 ||
        (rc = parse_param(e, p, "view_timeout_ms", VIEW_TIMEOUT_MIN,
                          VIEW_TIMEOUT_MAX, &g->view_timeout_ms)) != 0)
      return rc;
  }
  g->max_txs_per_block = (uint32_t)max_txs;
  return 0;
}

/* "at line L column C" of the byte at `at`. */
static int fail_json(errbuf *e, const char *json, size_t len, const char *at) {
  size_t line = 1, col = 1;
  if (at == NULL || at < json || at > json + len)
    at = json + len;
  for (const char *p = json; p < at; p++) {
    if (*p == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  return fail(e, "invalid JSON at line %zu column %zu", line, col);
}

static int parse_document(errbuf *e, const cJSON *root, mc_genesis *g) {
  int rc;
  if (!cJSON_IsObject(root))
    return fail(e, "not a JSON object");
  if ((rc = check_keys(e, root, "", TOP_KEYS, 5)) != 0 ||
      (rc = parse_chain_id(e, root, g)) != 0 ||
      (rc = parse_time(e, root, g)) != 0 ||
      (rc = parse_validators(e, root, g)) != 0 ||
      (rc = parse_alloc(e, root, g)) != 0 || (rc = parse_params(e, root, g)) != 0)
    return rc;
  return 0;
}

static int only_space(const char *p, const char *end) {
  for (; p < end; p++) {
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
      return 0;
  }
  return 1;
}

int mc_genesis_parse(const char *json, size_t len, mc_genesis *g, char *err,
                     size_t errlen) {
  errbuf e = {err, errlen};
  const char *end = NULL;
  mc_genesis tmp;
  memset(&tmp, 0, sizeof tmp);
  memset(g, 0, sizeof *g);
  cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
  if (root == NULL)
    return fail_json(&e, json, len, end);
  if (!only_space(end, json + len)) {
    cJSON_Delete(root);
    return fail_json(&e, json, len, end);
  }
  int rc = parse_document(&e, root, &tmp);
  cJSON_Delete(root);
  if (rc != 0) {
    mc_genesis_free(&tmp);
    return rc;
  }
  mc_genesis_compute_hash(&tmp);
  *g = tmp;
  return 0;
}

/* Reads the whole file into a malloc'd buffer.  0, MC_EIO (reason in
 * errno), MC_ETOOBIG or MC_ENOMEM. */
static int read_file(FILE *f, char **out, size_t *out_len) {
  struct stat st;
  if (fstat(fileno(f), &st) != 0)
    return MC_EIO;
  if (st.st_size < 0 || (uint64_t)st.st_size > GENESIS_FILE_MAX)
    return MC_ETOOBIG;
  size_t size = (size_t)st.st_size;
  char *buf = malloc(size + 1);
  if (buf == NULL)
    return MC_ENOMEM;
  size_t n = fread(buf, 1, size, f);
  if (n != size) {
    if (!ferror(f))
      errno = EIO; /* the file shrank while we read it */
    free(buf);
    return MC_EIO;
  }
  *out = buf;
  *out_len = n;
  return 0;
}

int mc_genesis_load(const char *path, mc_genesis *g, char *err,
                    size_t errlen) {
  char reason[256];
  char *buf = NULL;
  size_t n = 0;
  memset(g, 0, sizeof *g);
  FILE *f = fopen(path, "rb");
  int rc = f == NULL ? MC_EIO : read_file(f, &buf, &n);
  if (rc == MC_EIO)
    snprintf(reason, sizeof reason, "cannot read: %s", strerror(errno));
  if (f != NULL)
    fclose(f);
  if (rc == MC_ETOOBIG) {
    snprintf(reason, sizeof reason, "genesis: larger than %u bytes",
             GENESIS_FILE_MAX);
    rc = MC_EINVAL;
  } else if (rc == MC_ENOMEM) {
    snprintf(reason, sizeof reason, "genesis: out of memory");
  } else if (rc == 0) {
    rc = mc_genesis_parse(buf, n, g, reason, sizeof reason);
    free(buf);
  }
  if (rc != 0 && err != NULL && errlen > 0)
    snprintf(err, errlen, "%s: %s", path, reason);
  return rc;
}

/* ---- hash ---- */

static int sha256_write(void *ctx, const char *p, size_t n) {
  crypto_hash_sha256_update(ctx, (const uint8_t *)p, n);
  return 0;
}

/* Streams the encoding into the hash: an alloc can be large, and hashing
 * this way needs no buffer for it. */
void mc_genesis_compute_hash(mc_genesis *g) {
  crypto_hash_sha256_state st;
  msgpack_packer pk;
  if (g->alloc_count > 1)
    qsort(g->alloc, g->alloc_count, sizeof *g->alloc, account_cmp);
  crypto_hash_sha256_init(&st);
  msgpack_packer_init(&pk, &st, sha256_write);
  msgpack_pack_array(&pk, 8);
  msgpack_pack_str_with_body(&pk, GENESIS_TAG, sizeof GENESIS_TAG - 1);
  msgpack_pack_str_with_body(&pk, g->chain_id, strlen(g->chain_id));
  msgpack_pack_uint64(&pk, g->genesis_time_ms);
  msgpack_pack_array(&pk, g->validator_count);
  for (uint32_t i = 0; i < g->validator_count; i++)
    msgpack_pack_bin_with_body(&pk, g->validators[i], MC_PUBKEY_LEN);
  msgpack_pack_array(&pk, (uint32_t)g->alloc_count);
  for (size_t i = 0; i < g->alloc_count; i++) {
    msgpack_pack_array(&pk, 2);
    msgpack_pack_bin_with_body(&pk, g->alloc[i].pubkey, MC_PUBKEY_LEN);
    msgpack_pack_uint64(&pk, g->alloc[i].balance);
  }
  msgpack_pack_uint64(&pk, g->max_txs_per_block);
  msgpack_pack_uint64(&pk, g->block_interval_ms);
  msgpack_pack_uint64(&pk, g->view_timeout_ms);
  crypto_hash_sha256_final(&st, g->hash);
}

/* ---- writing ---- */

/* Integers go in as raw text: cJSON would print 10^15 as "1e+15". */
static int add_uint(cJSON *obj, const char *name, uint64_t v) {
  char num[24];
  snprintf(num, sizeof num, "%" PRIu64, v);
  return cJSON_AddRawToObject(obj, name, num) != NULL;
}

static int add_balance(cJSON *alloc, const mc_account *a) {
  char hex[PK_HEX_LEN + 1], num[24];
  mc_hex_encode(a->pubkey, MC_PUBKEY_LEN, hex);
  if (a->balance <= MAX_SAFE_INT)
    return add_uint(alloc, hex, a->balance);
  snprintf(num, sizeof num, "%" PRIu64, a->balance);
  return cJSON_AddStringToObject(alloc, hex, num) != NULL;
}

static int add_validators(cJSON *root, const mc_genesis *g) {
  cJSON *arr = cJSON_AddArrayToObject(root, "validators");
  if (arr == NULL)
    return 0;
  for (uint32_t i = 0; i < g->validator_count; i++) {
    char hex[PK_HEX_LEN + 1];
    mc_hex_encode(g->validators[i], MC_PUBKEY_LEN, hex);
    cJSON *s = cJSON_CreateString(hex);
    if (s == NULL || !cJSON_AddItemToArray(arr, s)) {
      cJSON_Delete(s);
      return 0;
    }
  }
  return 1;
}

static int add_alloc(cJSON *root, const mc_genesis *g) {
  cJSON *alloc = cJSON_AddObjectToObject(root, "alloc");
  if (alloc == NULL)
    return 0;
  for (size_t i = 0; i < g->alloc_count; i++) {
    if (!add_balance(alloc, &g->alloc[i]))
      return 0;
  }
  return 1;
}

static int add_params(cJSON *root, const mc_genesis *g) {
  cJSON *p = cJSON_AddObjectToObject(root, "params");
  return p != NULL && add_uint(p, "max_txs_per_block", g->max_txs_per_block) &&
         add_uint(p, "block_interval_ms", g->block_interval_ms) &&
         add_uint(p, "view_timeout_ms", g->view_timeout_ms);
}

char *mc_genesis_to_json(const mc_genesis *g) {
  cJSON *root = cJSON_CreateObject();
  char *out = NULL;
  if (root != NULL && cJSON_AddStringToObject(root, "chain_id", g->chain_id) &&
      add_uint(root, "genesis_time_ms", g->genesis_time_ms) &&
      add_validators(root, g) && add_alloc(root, g) && add_params(root, g))
    out = cJSON_Print(root);
  cJSON_Delete(root);
  return out;
}

void mc_genesis_free(mc_genesis *g) {
  if (g == NULL)
    return;
  free(g->validators);
  free(g->alloc);
  memset(g, 0, sizeof *g);
}

/* ---- block 0 ---- */

int mc_genesis_block(const mc_genesis *g, mc_block **out) {
  mc_lthash acc;
  mc_block *b = mc_block_new(0);
  if (b == NULL)
    return MC_ENOMEM;
  mc_lthash_init(&acc);
  for (size_t i = 0; i < g->alloc_count; i++)
    mc_lthash_add(&acc, &g->alloc[i]);
  b->header.height = 0;
  memcpy(b->header.prev_hash, g->hash, MC_HASH_LEN);
  b->header.timestamp_ms = g->genesis_time_ms;
  mc_merkle_root(NULL, 0, b->header.tx_root);
  mc_lthash_root(&acc, b->header.state_root);
  mc_header_hash(&b->header, b->hash);
  *out = b;
  return 0;
}

int mc_genesis_validator_index(const mc_genesis *g,
                               const uint8_t pk[MC_PUBKEY_LEN], uint32_t *idx) {
  for (uint32_t i = 0; i < g->validator_count; i++) {
    if (memcmp(g->validators[i], pk, MC_PUBKEY_LEN) == 0) {
      if (idx != NULL)
        *idx = i;
      return 1;
    }
  }
  return 0;
}
