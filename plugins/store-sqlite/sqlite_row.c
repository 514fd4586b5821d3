/*
 * sqlite_row.c - sqlite.so's columns: u64 values, and a block to and from
 * its row of the blocks table.
 *
 * The `raw` column (the block's canonical encoding, certificate included)
 * is what get_block returns; the other columns are there for people
 * querying with the sqlite3 shell.  Reading a block decodes raw through
 * the host, which derives the block hash, and then compares every other
 * column with the decoded block: a row edited by hand, or damaged, is
 * refused with the name of the first column that disagrees, instead of
 * being handed to the host as a different block.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "minichain/error.h"
#include "sqlite_internal.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* ---- u64 columns ----------------------------------------------------------- */

int mc__sq_bind_u64(sqlite3_stmt *st, int idx, uint64_t v) {
  if (v <= (uint64_t)INT64_MAX)
    return sqlite3_bind_int64(st, idx, (sqlite3_int64)v);
  char text[21];
  int n = snprintf(text, sizeof text, "%" PRIu64, v);
  assert(n > 0 && (size_t)n < sizeof text);
  return sqlite3_bind_text(st, idx, text, n, SQLITE_TRANSIENT);
}

/* Canonical digits (no sign, no leading zero) of a value above 2^63-1, the
 * only text mc__sq_bind_u64 writes. */
static int parse_big(const unsigned char *p, int n, uint64_t *out) {
  uint64_t v = 0;
  if (p == NULL || n < 19 || n > 20 || p[0] == '0')
    return MC_ECORRUPT;
  for (int i = 0; i < n; i++) {
    unsigned d = (unsigned)(p[i] - '0');
    if (d > 9 || v > (UINT64_MAX - d) / 10)
      return MC_ECORRUPT;
    v = v * 10 + d;
  }
  if (v <= (uint64_t)INT64_MAX)
    return MC_ECORRUPT;
  *out = v;
  return 0;
}

int mc__sq_column_u64(sqlite3_stmt *st, int col, uint64_t *out) {
  switch (sqlite3_column_type(st, col)) {
  case SQLITE_INTEGER: {
    sqlite3_int64 v = sqlite3_column_int64(st, col);
    if (v < 0)
      return MC_ECORRUPT;
    *out = (uint64_t)v;
    return 0;
  }
  case SQLITE_TEXT: {
    const unsigned char *p = sqlite3_column_text(st, col);
    return parse_big(p, sqlite3_column_bytes(st, col), out);
  }
  default:
    return MC_ECORRUPT;
  }
}

/* ---- writing a row --------------------------------------------------------- */

/* Blob columns are NOT NULL: a zero-length blob is bound from a non-NULL
 * pointer (SQLite binds NULL for a NULL pointer). */
static int bind_blob(sqlite3_stmt *st, int idx, const void *p, size_t n) {
  static const uint8_t none;
  if (n > INT32_MAX)
    return SQLITE_TOOBIG;
  return sqlite3_bind_blob(st, idx, n ? p : &none, (int)n, SQLITE_STATIC);
}

int mc__sq_bind_block(sqlite3_stmt *st, const mc_block *b, const uint8_t *raw,
                      size_t raw_len) {
  const mc_block_header *h = &b->header;
  int rc = sqlite3_bind_int64(st, 1, (sqlite3_int64)h->height);
  if (rc == SQLITE_OK)
    rc = bind_blob(st, 2, b->hash, MC_HASH_LEN);
  if (rc == SQLITE_OK)
    rc = bind_blob(st, 3, h->prev_hash, MC_HASH_LEN);
  if (rc == SQLITE_OK)
    rc = mc__sq_bind_u64(st, 4, h->timestamp_ms);
  if (rc == SQLITE_OK)
    rc = bind_blob(st, 5, h->tx_root, MC_HASH_LEN);
  if (rc == SQLITE_OK)
    rc = bind_blob(st, 6, h->state_root, MC_HASH_LEN);
  if (rc == SQLITE_OK)
    rc = bind_blob(st, 7, h->proposer, MC_PUBKEY_LEN);
  if (rc == SQLITE_OK)
    rc = bind_blob(st, 8, b->signature, MC_SIG_LEN);
  if (rc == SQLITE_OK)
    rc = bind_blob(st, 9, b->cert, b->cert_len);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(st, 10, h->tx_count);
  if (rc == SQLITE_OK)
    rc = bind_blob(st, 11, raw, raw_len);
  return rc;
}

int mc__sq_bind_tx(sqlite3_stmt *st, const mc_block *b, uint32_t idx) {
  const mc_tx *tx = &b->txs[idx];
  int rc = bind_blob(st, 1, tx->id, MC_HASH_LEN);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(st, 2, (sqlite3_int64)b->header.height);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(st, 3, idx);
  if (rc == SQLITE_OK)
    rc = bind_blob(st, 4, tx->from, MC_PUBKEY_LEN);
  if (rc == SQLITE_OK)
    rc = bind_blob(st, 5, tx->to, MC_PUBKEY_LEN);
  if (rc == SQLITE_OK)
    rc = mc__sq_bind_u64(st, 6, tx->amount);
  if (rc == SQLITE_OK)
    rc = mc__sq_bind_u64(st, 7, tx->nonce);
  return rc;
}

/* ---- reading a row --------------------------------------------------------- */

/* Column numbers of a "SELECT <blocks columns in table order>". */
enum {
  COL_HEIGHT,
  COL_HASH,
  COL_PREV_HASH,
  COL_TIMESTAMP,
  COL_TX_ROOT,
  COL_STATE_ROOT,
  COL_PROPOSER,
  COL_SIGNATURE,
  COL_CERT,
  COL_TX_COUNT,
  COL_RAW
};

static const char *const col_name[] = {
    "height",   "hash",      "prev_hash", "timestamp", "tx_root", "state_root",
    "proposer", "signature", "cert",      "tx_count",  "raw"};

/* Nonzero if blob column col holds exactly p[0..n). */
static int blob_is(sqlite3_stmt *st, int col, const void *p, size_t n) {
  if (sqlite3_column_type(st, col) != SQLITE_BLOB)
    return 0;
  const void *v = sqlite3_column_blob(st, col);
  if ((size_t)sqlite3_column_bytes(st, col) != n)
    return 0;
  return n == 0 || memcmp(v, p, n) == 0;
}

static int int_is(sqlite3_stmt *st, int col, uint64_t want) {
  if (sqlite3_column_type(st, col) != SQLITE_INTEGER)
    return 0;
  sqlite3_int64 v = sqlite3_column_int64(st, col);
  return v >= 0 && (uint64_t)v == want;
}

static int u64_is(sqlite3_stmt *st, int col, uint64_t want) {
  uint64_t v;
  return mc__sq_column_u64(st, col, &v) == 0 && v == want;
}

/* The first column of the row that does not describe b, or -1. */
static int first_mismatch(sqlite3_stmt *st, const mc_block *b) {
  const mc_block_header *h = &b->header;
  if (!int_is(st, COL_HEIGHT, h->height))
    return COL_HEIGHT;
  if (!blob_is(st, COL_HASH, b->hash, MC_HASH_LEN))
    return COL_HASH;
  if (!blob_is(st, COL_PREV_HASH, h->prev_hash, MC_HASH_LEN))
    return COL_PREV_HASH;
  if (!u64_is(st, COL_TIMESTAMP, h->timestamp_ms))
    return COL_TIMESTAMP;
  if (!blob_is(st, COL_TX_ROOT, h->tx_root, MC_HASH_LEN))
    return COL_TX_ROOT;
  if (!blob_is(st, COL_STATE_ROOT, h->state_root, MC_HASH_LEN))
    return COL_STATE_ROOT;
  if (!blob_is(st, COL_PROPOSER, h->proposer, MC_PUBKEY_LEN))
    return COL_PROPOSER;
  if (!blob_is(st, COL_SIGNATURE, b->signature, MC_SIG_LEN))
    return COL_SIGNATURE;
  if (!blob_is(st, COL_CERT, b->cert, b->cert_len))
    return COL_CERT;
  if (!int_is(st, COL_TX_COUNT, h->tx_count))
    return COL_TX_COUNT;
  return -1;
}

int mc__sq_read_block(mc_store *s, sqlite3_stmt *st, mc_block **out,
                      char *err, size_t errlen) {
  /* Types are read before any value: reading a value may convert it, and
   * after a conversion sqlite3_column_type no longer tells what was
   * stored.  The height in messages is read last for the same reason. */
  int raw_type = sqlite3_column_type(st, COL_RAW);
  const void *raw = sqlite3_column_blob(st, COL_RAW);
  int raw_len = sqlite3_column_bytes(st, COL_RAW);
  mc_block *b = NULL;
  *out = NULL;
  if (raw_type != SQLITE_BLOB || raw_len == 0) {
    sqlite3_int64 height = sqlite3_column_int64(st, COL_HEIGHT);
    set_err(err, errlen, "block %lld: column raw is not a block encoding",
            (long long)height);
    return MC_ECORRUPT;
  }
  int rc = s->api->decode_block(s->host, raw, (size_t)raw_len, &b);
  int col = rc == 0 ? first_mismatch(st, b) : -1;
  sqlite3_int64 height = sqlite3_column_int64(st, COL_HEIGHT);
  if (rc == MC_ENOMEM) {
    set_err(err, errlen, "out of memory decoding block %lld",
            (long long)height);
    return rc;
  }
  if (rc != 0) {
    set_err(err, errlen, "block %lld: column raw does not decode: %s",
            (long long)height, mc_strerror(rc));
    return MC_ECORRUPT;
  }
  if (col >= 0) {
    set_err(err, errlen,
            "block %lld: column %s does not match the block in column raw",
            (long long)height, col_name[col]);
    s->api->block_free(s->host, b);
    return MC_ECORRUPT;
  }
  *out = b;
  return 0;
}

int mc__sq_read_account(sqlite3_stmt *st, mc_account *out, char *err,
                        size_t errlen) {
  int type = sqlite3_column_type(st, 0);
  const void *pk = sqlite3_column_blob(st, 0);
  if (type != SQLITE_BLOB || sqlite3_column_bytes(st, 0) != MC_PUBKEY_LEN) {
    set_err(err, errlen, "accounts: a pubkey is not %d bytes", MC_PUBKEY_LEN);
    return MC_ECORRUPT;
  }
  memcpy(out->pubkey, pk, MC_PUBKEY_LEN);
  const char *bad = NULL;
  if (mc__sq_column_u64(st, 1, &out->balance) != 0)
    bad = "balance";
  else if (mc__sq_column_u64(st, 2, &out->nonce) != 0)
    bad = "nonce";
  if (bad != NULL) {
    char hex[2 * MC_PUBKEY_LEN + 1];
    for (int i = 0; i < MC_PUBKEY_LEN; i++)
      snprintf(hex + 2 * i, 3, "%02x", out->pubkey[i]);
    set_err(err, errlen, "accounts: the %s of %s is not a u64", bad, hex);
    return MC_ECORRUPT;
  }
  return 0;
}
