/*
 * json_codec.c - one block <-> its JSON object in chain.json, and the
 * number and hex conventions of the file.
 *
 * A block object keeps the seed's field names (height, prev_hash,
 * timestamp, tx_list, proposer_id, signature, block_hash) and adds tx_root,
 * state_root, tx_count and cert beside them; each tx_list entry holds the
 * transaction's fields under mc_tx's names (chain_id, from, to, amount,
 * nonce, sig, id).  Byte fields are lower-case hex.  JSON numbers are
 * doubles to most readers, so integers above 2^53-1 are written as decimal
 * strings; both forms are read.  Reading is strict: a missing or mistyped
 * field is corruption, reported with its path.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"
#include "minichain/error.h"

/* ---- numbers and hex ---------------------------------------------------- */

void mc__ju64_format(uint64_t v, char out[23]) {
  if (v <= MC_JSON_MAX_SAFE_INT)
    snprintf(out, 23, "%llu", (unsigned long long)v);
  else
    snprintf(out, 23, "\"%llu\"", (unsigned long long)v);
}

static int read_decimal(const char *s, uint64_t *out) {
  size_t n = strlen(s);
  if (n == 0 || n > 20 || strspn(s, "0123456789") != n)
    return MC_EDECODE;
  errno = 0;
  unsigned long long v = strtoull(s, NULL, 10);
  if (errno == ERANGE)
    return MC_EDECODE;
  *out = (uint64_t)v;
  return 0;
}

int mc__ju64_read(const cJSON *item, uint64_t *out) {
  if (cJSON_IsString(item))
    return read_decimal(item->valuestring, out);
  if (!cJSON_IsNumber(item))
    return MC_EDECODE;
  double d = item->valuedouble;
  /* Above 2^53-1 a double may already have lost digits: refuse rather
   * than store a balance that is not what was written. */
  if (!(d >= 0) || d > (double)MC_JSON_MAX_SAFE_INT || d != (double)(uint64_t)d)
    return MC_EDECODE;
  *out = (uint64_t)d;
  return 0;
}

void mc__jhex_encode(const uint8_t *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

/* Digit values by byte, -1 for anything else: a table, because chain.json
 * is mostly hex and open decodes all of it. */
/* clang-format off */
static const int8_t hex_values[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
     0,  1,  2,  3,  4,  5,  6,  7,  8,  9, -1, -1, -1, -1, -1, -1,
    -1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};
/* clang-format on */

int mc__jhex_decode(const char *hex, uint8_t *out, size_t n) {
  const unsigned char *h = (const unsigned char *)hex;
  for (size_t i = 0; i < n; i++) {
    int hi = hex_values[h[2 * i]];
    if (hi < 0)
      return MC_EDECODE; /* also the NUL of a short string */
    int lo = hex_values[h[2 * i + 1]];
    if (lo < 0)
      return MC_EDECODE;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return hex[2 * n] == '\0' ? 0 : MC_EDECODE;
}

/* ---- block -> JSON ------------------------------------------------------- */

static bool add_u64(cJSON *obj, const char *key, uint64_t v) {
  char text[23];
  mc__ju64_format(v, text);
  return cJSON_AddRawToObject(obj, key, text) != NULL;
}

/* Hex of up to a few MiB (a certificate) goes through the heap. */
static bool add_hex(cJSON *obj, const char *key, const uint8_t *p, size_t n) {
  char small[2 * 64 + 1];
  char *text = n <= 64 ? small : malloc(2 * n + 1);
  if (!text)
    return false;
  mc__jhex_encode(p, n, text);
  bool ok = cJSON_AddStringToObject(obj, key, text) != NULL;
  if (text != small)
    free(text);
  return ok;
}

static cJSON *render_tx(const mc_tx *tx) {
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  bool ok = cJSON_AddStringToObject(o, "chain_id", tx->chain_id) != NULL;
  ok = ok && add_hex(o, "from", tx->from, MC_PUBKEY_LEN);
  ok = ok && add_hex(o, "to", tx->to, MC_PUBKEY_LEN);
  ok = ok && add_u64(o, "amount", tx->amount);
  ok = ok && add_u64(o, "nonce", tx->nonce);
  ok = ok && add_hex(o, "sig", tx->sig, MC_SIG_LEN);
  ok = ok && add_hex(o, "id", tx->id, MC_HASH_LEN);
  if (!ok) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

static bool add_tx_list(cJSON *obj, const mc_block *b) {
  cJSON *list = cJSON_AddArrayToObject(obj, "tx_list");
  if (!list)
    return false;
  for (uint32_t i = 0; i < b->header.tx_count; i++) {
    cJSON *tx = render_tx(&b->txs[i]);
    if (!tx || !cJSON_AddItemToArray(list, tx)) {
      cJSON_Delete(tx);
      return false;
    }
  }
  return true;
}

char *mc__jblock_render(const mc_block *b) {
  const mc_block_header *h = &b->header;
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  bool ok = add_u64(o, "height", h->height);
  ok = ok && add_hex(o, "prev_hash", h->prev_hash, MC_HASH_LEN);
  ok = ok && add_u64(o, "timestamp", h->timestamp_ms);
  ok = ok && add_tx_list(o, b);
  ok = ok && add_hex(o, "proposer_id", h->proposer, MC_PUBKEY_LEN);
  ok = ok && add_hex(o, "signature", b->signature, MC_SIG_LEN);
  ok = ok && add_hex(o, "block_hash", b->hash, MC_HASH_LEN);
  ok = ok && add_hex(o, "tx_root", h->tx_root, MC_HASH_LEN);
  ok = ok && add_hex(o, "state_root", h->state_root, MC_HASH_LEN);
  ok = ok && add_u64(o, "tx_count", h->tx_count);
  ok = ok && add_hex(o, "cert", b->cert, b->cert_len);
  char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  return text;
}

/* ---- JSON -> block ------------------------------------------------------- */

static int field_error(char *err, size_t errlen, const char *where,
                       const char *key, const char *problem) {
  snprintf(err, errlen, "%s.%s %s", where, key, problem);
  return MC_ECORRUPT;
}

static int get_u64(const cJSON *obj, const char *where, const char *key,
                   uint64_t *out, char *err, size_t errlen) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!it)
    return field_error(err, errlen, where, key, "is missing");
  if (mc__ju64_read(it, out) != 0)
    return field_error(err, errlen, where, key,
                       "is not an unsigned 64-bit integer");
  return 0;
}

static int get_hex(const cJSON *obj, const char *where, const char *key,
                   uint8_t *out, size_t n, char *err, size_t errlen) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!it)
    return field_error(err, errlen, where, key, "is missing");
  if (!cJSON_IsString(it) || strlen(it->valuestring) != 2 * n ||
      mc__jhex_decode(it->valuestring, out, n) != 0) {
    char problem[48];
    snprintf(problem, sizeof problem, "is not %zu bytes of hex", n);
    return field_error(err, errlen, where, key, problem);
  }
  return 0;
}

static int get_chain_id(const cJSON *obj, const char *where, mc_tx *tx,
                        char *err, size_t errlen) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, "chain_id");
  if (!it)
    return field_error(err, errlen, where, "chain_id", "is missing");
  size_t n = cJSON_IsString(it) ? strlen(it->valuestring) : 0;
  if (n == 0 || n > MC_CHAIN_ID_MAX)
    return field_error(err, errlen, where, "chain_id",
                       "is not a string of 1 to 32 bytes");
  memcpy(tx->chain_id, it->valuestring, n + 1);
  return 0;
}

static int parse_tx(const cJSON *o, const char *where, mc_tx *tx, char *err,
                    size_t errlen) {
  if (!cJSON_IsObject(o)) {
    snprintf(err, errlen, "%s is not an object", where);
    return MC_ECORRUPT;
  }
  int rc = get_chain_id(o, where, tx, err, errlen);
  if (!rc)
    rc = get_hex(o, where, "from", tx->from, MC_PUBKEY_LEN, err, errlen);
  if (!rc)
    rc = get_hex(o, where, "to", tx->to, MC_PUBKEY_LEN, err, errlen);
  if (!rc)
    rc = get_u64(o, where, "amount", &tx->amount, err, errlen);
  if (!rc)
    rc = get_u64(o, where, "nonce", &tx->nonce, err, errlen);
  if (!rc)
    rc = get_hex(o, where, "sig", tx->sig, MC_SIG_LEN, err, errlen);
  if (!rc)
    rc = get_hex(o, where, "id", tx->id, MC_HASH_LEN, err, errlen);
  return rc;
}

static int parse_header(const cJSON *o, const char *where, mc_block *b,
                        char *err, size_t errlen) {
  mc_block_header *h = &b->header;
  uint64_t count;
  int rc = get_u64(o, where, "height", &h->height, err, errlen);
  if (!rc)
    rc = get_hex(o, where, "prev_hash", h->prev_hash, MC_HASH_LEN, err, errlen);
  if (!rc)
    rc = get_u64(o, where, "timestamp", &h->timestamp_ms, err, errlen);
  if (!rc)
    rc = get_hex(o, where, "proposer_id", h->proposer, MC_PUBKEY_LEN, err,
                 errlen);
  if (!rc)
    rc = get_hex(o, where, "signature", b->signature, MC_SIG_LEN, err, errlen);
  if (!rc)
    rc = get_hex(o, where, "block_hash", b->hash, MC_HASH_LEN, err, errlen);
  if (!rc)
    rc = get_hex(o, where, "tx_root", h->tx_root, MC_HASH_LEN, err, errlen);
  if (!rc)
    rc = get_hex(o, where, "state_root", h->state_root, MC_HASH_LEN, err,
                 errlen);
  if (!rc)
    rc = get_u64(o, where, "tx_count", &count, err, errlen);
  if (!rc && count > UINT32_MAX)
    rc = field_error(err, errlen, where, "tx_count", "is above 2^32-1");
  if (!rc)
    h->tx_count = (uint32_t)count;
  return rc;
}

static int parse_tx_list(const cJSON *o, const char *where, mc_block *b,
                         char *err, size_t errlen) {
  const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "tx_list");
  if (!list)
    return field_error(err, errlen, where, "tx_list", "is missing");
  if (!cJSON_IsArray(list))
    return field_error(err, errlen, where, "tx_list", "is not an array");
  if ((uint64_t)cJSON_GetArraySize(list) != b->header.tx_count)
    return field_error(err, errlen, where, "tx_list",
                       "does not hold tx_count transactions");
  if (b->header.tx_count == 0)
    return 0;
  b->txs = calloc(b->header.tx_count, sizeof *b->txs);
  if (!b->txs) {
    snprintf(err, errlen, "out of memory reading %s.tx_list", where);
    return MC_ENOMEM;
  }
  size_t i = 0;
  const cJSON *tx;
  cJSON_ArrayForEach(tx, list) {
    char tx_where[96];
    snprintf(tx_where, sizeof tx_where, "%s.tx_list[%zu]", where, i);
    int rc = parse_tx(tx, tx_where, &b->txs[i++], err, errlen);
    if (rc)
      return rc;
  }
  return 0;
}

static int parse_cert(const cJSON *o, const char *where, mc_block *b, char *err,
                      size_t errlen) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, "cert");
  if (!it)
    return field_error(err, errlen, where, "cert", "is missing");
  size_t digits = cJSON_IsString(it) ? strlen(it->valuestring) : 1;
  if (digits % 2)
    return field_error(err, errlen, where, "cert", "is not hex");
  if (digits == 0)
    return 0;
  b->cert = malloc(digits / 2);
  if (!b->cert) {
    snprintf(err, errlen, "out of memory reading %s.cert", where);
    return MC_ENOMEM;
  }
  b->cert_len = digits / 2;
  if (mc__jhex_decode(it->valuestring, b->cert, b->cert_len) != 0)
    return field_error(err, errlen, where, "cert", "is not hex");
  return 0;
}

int mc__jblock_parse(const cJSON *obj, const char *where, mc_block *out,
                     char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (!cJSON_IsObject(obj)) {
    snprintf(err, errlen, "%s is not an object", where);
    return MC_ECORRUPT;
  }
  int rc = parse_header(obj, where, out, err, errlen);
  if (!rc)
    rc = parse_tx_list(obj, where, out, err, errlen);
  if (!rc)
    rc = parse_cert(obj, where, out, err, errlen);
  if (rc)
    mc__jblock_clear(out);
  return rc;
}

/* ---- ownership ----------------------------------------------------------- */

/* Field by field onto zeroes: a caller's struct copy may leave garbage in
 * the header's padding, and readers may compare headers with memcmp. */
static void copy_scalars(mc_block *dst, const mc_block *src) {
  const mc_block_header *s = &src->header;
  mc_block_header *d = &dst->header;
  memset(dst, 0, sizeof *dst);
  d->height = s->height;
  memcpy(d->prev_hash, s->prev_hash, MC_HASH_LEN);
  d->timestamp_ms = s->timestamp_ms;
  memcpy(d->tx_root, s->tx_root, MC_HASH_LEN);
  memcpy(d->state_root, s->state_root, MC_HASH_LEN);
  d->tx_count = s->tx_count;
  memcpy(d->proposer, s->proposer, MC_PUBKEY_LEN);
  memcpy(dst->signature, src->signature, MC_SIG_LEN);
  memcpy(dst->hash, src->hash, MC_HASH_LEN);
  dst->cert_len = src->cert_len;
}

int mc__jblock_copy(mc_block *dst, const mc_block *src) {
  copy_scalars(dst, src);
  if (src->header.tx_count > 0) {
    dst->txs = malloc(src->header.tx_count * sizeof *dst->txs);
    if (!dst->txs)
      goto nomem;
    memcpy(dst->txs, src->txs, src->header.tx_count * sizeof *dst->txs);
  }
  if (src->cert_len > 0) {
    dst->cert = malloc(src->cert_len);
    if (!dst->cert)
      goto nomem;
    memcpy(dst->cert, src->cert, src->cert_len);
  }
  return 0;
nomem:
  mc__jblock_clear(dst);
  return MC_ENOMEM;
}

void mc__jblock_clear(mc_block *b) {
  free(b->txs);
  free(b->cert);
  memset(b, 0, sizeof *b);
}
