/*
 * sqlite_store.c - sqlite.so's mc_store_vtable and its plugin descriptor.
 *
 * Every append is one SQLite transaction (BEGIN IMMEDIATE ... COMMIT)
 * made of prepared statements: the block's row, a row per transaction,
 * and an upsert per changed account.  SQLite's WAL makes the transaction
 * atomic across a crash at any point, and synchronous=FULL makes it
 * durable when COMMIT returns; a failure part way rolls everything back.
 * The link check runs against the head kept in memory, before anything
 * is written.
 *
 * Reads go to the database every time (nothing but the head is cached),
 * so the cost of an append or a read does not grow with the chain, and
 * each block read is checked against its row (sqlite_row.c): a damaged
 * row gives MC_ECORRUPT and an error event in the log, never a wrong
 * block.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minichain/error.h"
#include "minichain/plugin.h"
#include "minichain/store_util.h"
#include "sqlite_internal.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* One error event: what the store was doing and why it failed. */
static void log_error(mc_store *s, const char *event, const char *doing,
                      const char *why) {
  mc_log_field f[] = {MC_LOG_F_S("file", s->path), MC_LOG_F_S("doing", doing),
                      MC_LOG_F_S("error", why)};
  s->api->log(s->host, MC_LOG_ERROR, event, f, sizeof f / sizeof f[0]);
}

/* An SQLite failure outside open: logged with SQLite's message. */
static int sqlite_failed(mc_store *s, int rc, const char *doing) {
  log_error(s, "store_sqlite_failed", doing, sqlite3_errmsg(s->db));
  return mc__sq_error(rc);
}

/* A row that does not read back: logged with the reason. */
static int corrupt(mc_store *s, int rc, const char *doing, const char *why) {
  if (rc == MC_ECORRUPT)
    log_error(s, "store_corrupt", doing, why);
  return rc;
}

/* Steps a statement that returns no row, and resets it. */
static int run(mc_store *s, mc__sq_stmt which) {
  sqlite3_stmt *st = s->st[which];
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ---- opening --------------------------------------------------------------- */

/* Reads (and so checks) the newest block, and that the heights below it
 * are all there: the cheap checks that do not grow with the chain. */
static int load_head(mc_store *s, char *err, size_t errlen) {
  sqlite3_stmt *st = s->st[MC_SQ_HEAD];
  mc_block *b = NULL;
  char why[256] = "";
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    rc = mc__sq_read_block(s, st, &b, why, sizeof why);
    if (rc != 0)
      set_err(err, errlen, "%s: %s", s->path, why);
  } else if (rc == SQLITE_DONE) {
    rc = 0;
  } else {
    set_err(err, errlen, "%s: reading the head: %s", s->path,
            sqlite3_errmsg(s->db));
    rc = mc__sq_error(rc);
  }
  sqlite3_reset(st);
  if (rc == 0 && b != NULL) {
    s->has_head = 1;
    s->head = b->header.height;
    memcpy(s->head_hash, b->hash, MC_HASH_LEN);
  }
  s->api->block_free(s->host, b);
  return rc;
}

static int check_heights(mc_store *s, char *err, size_t errlen) {
  sqlite3_stmt *st = s->st[MC_SQ_COUNT_BLOCKS];
  int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    set_err(err, errlen, "%s: counting blocks: %s", s->path,
            sqlite3_errmsg(s->db));
    sqlite3_reset(st);
    return mc__sq_error(rc);
  }
  sqlite3_int64 n = sqlite3_column_int64(st, 0);
  sqlite3_int64 low = sqlite3_column_int64(st, 1);
  sqlite3_reset(st);
  uint64_t want = s->has_head ? s->head + 1 : 0;
  if ((uint64_t)n != want || (n > 0 && low != 0)) {
    set_err(err, errlen,
            "%s: the blocks table has %lld rows from height %lld, but the "
            "head is at %llu: heights are not contiguous",
            s->path, (long long)n, (long long)low,
            (unsigned long long)(want ? want - 1 : 0));
    return MC_ECORRUPT;
  }
  return 0;
}

static void store_close(mc_store *s);

static int store_open(const mc_host_api *api, mc_host *host, const char *dir,
                      mc_store **out, char *err, size_t errlen) {
  int rc = mc_store_open_args(api, dir, out, err, errlen, "sqlite store");
  if (rc != 0)
    return rc;
  mc_store *s = calloc(1, sizeof *s);
  size_t plen = strlen(dir) + sizeof "/" MC_SQ_FILE;
  if (s == NULL || (s->path = malloc(plen)) == NULL) {
    free(s);
    set_err(err, errlen, "sqlite store: out of memory");
    return MC_ENOMEM;
  }
  snprintf(s->path, plen, "%s/%s", dir, MC_SQ_FILE);
  s->api = api;
  s->host = host;
  rc = mc__sq_db_open(s, err, errlen);
  if (rc == 0)
    rc = load_head(s, err, errlen);
  if (rc == 0)
    rc = check_heights(s, err, errlen);
  if (rc != 0) {
    store_close(s);
    return rc;
  }
  *out = s;
  return 0;
}

static void store_close(mc_store *s) {
  if (s == NULL)
    return;
  mc__sq_db_close(s);
  free(s->path);
  free(s);
}

/* ---- appending ------------------------------------------------------------- */

static int links(const mc_store *s, const mc_block *b) {
  if (!s->has_head)
    return b->header.height == 0;
  return s->head < (uint64_t)INT64_MAX && b->header.height == s->head + 1 &&
         memcmp(b->header.prev_hash, s->head_hash, MC_HASH_LEN) == 0;
}


/* The statements of one append, inside the open transaction. */
static int write_rows(mc_store *s, const mc_block *b, const uint8_t *raw,
                      size_t raw_len, const mc_account *changes, size_t n) {
  int rc = mc__sq_bind_block(s->st[MC_SQ_INSERT_BLOCK], b, raw, raw_len);
  if (rc == SQLITE_OK)
    rc = run(s, MC_SQ_INSERT_BLOCK);
  for (uint32_t i = 0; rc == SQLITE_OK && i < b->header.tx_count; i++) {
    rc = mc__sq_bind_tx(s->st[MC_SQ_INSERT_TX], b, i);
    if (rc == SQLITE_OK)
      rc = run(s, MC_SQ_INSERT_TX);
  }
  sqlite3_stmt *put = s->st[MC_SQ_PUT_ACCOUNT];
  for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
    rc = sqlite3_bind_blob(put, 1, changes[i].pubkey, MC_PUBKEY_LEN,
                           SQLITE_STATIC);
    if (rc == SQLITE_OK)
      rc = mc__sq_bind_u64(put, 2, changes[i].balance);
    if (rc == SQLITE_OK)
      rc = mc__sq_bind_u64(put, 3, changes[i].nonce);
    if (rc == SQLITE_OK)
      rc = run(s, MC_SQ_PUT_ACCOUNT);
  }
  return rc;
}

/* BEGIN IMMEDIATE takes the write lock up front, so that a competing
 * writer shows up as a busy wait at BEGIN and never as a failure half
 * way through the rows. */
static int write_block(mc_store *s, const mc_block *b, const uint8_t *raw,
                       size_t raw_len, const mc_account *changes, size_t n) {
  int rc = run(s, MC_SQ_BEGIN);
  if (rc != SQLITE_OK)
    return sqlite_failed(s, rc, "beginning an append");
  rc = write_rows(s, b, raw, raw_len, changes, n);
  if (rc == SQLITE_OK)
    rc = run(s, MC_SQ_COMMIT);
  if (rc == SQLITE_OK)
    return 0;
  int code = sqlite_failed(s, rc, "appending a block");
  /* A constraint means the block repeats a stored block hash or tx id:
   * the caller's mistake, not the disk's. */
  if ((rc & 0xff) == SQLITE_CONSTRAINT)
    code = MC_EINVAL;
  if (!sqlite3_get_autocommit(s->db))
    run(s, MC_SQ_ROLLBACK);
  return code;
}

/*
 * The first read transaction after a commit records the new end of the
 * WAL as a read mark in the -shm file.  Taking it here, while the store is
 * writing anyway, means reads never write to a file: the directory
 * changes only when a block is appended (the conformance suite checks
 * that a refused append leaves every file as it was, reads included).
 * The block is committed already, so a failure here changes nothing.
 */
static void settle_read_mark(mc_store *s) {
  sqlite3_stmt *st = s->st[MC_SQ_HEAD];
  sqlite3_step(st);
  sqlite3_reset(st);
}

static int store_append(mc_store *s, const mc_block *b,
                        const mc_account *changes, size_t n) {
  if (s == NULL || !mc_store_block_well_formed(b, changes, n))
    return MC_EINVAL;
  if (!links(s, b))
    return MC_ELINK;
  uint8_t *raw = NULL;
  size_t raw_len = 0;
  int rc = s->api->encode_block(s->host, b, &raw, &raw_len);
  if (rc != 0)
    return rc == MC_ENOMEM ? rc : MC_EINVAL;
  rc = write_block(s, b, raw, raw_len, changes, n);
  s->api->buf_free(s->host, raw);
  if (rc == 0) {
    s->has_head = 1;
    s->head = b->header.height;
    memcpy(s->head_hash, b->hash, MC_HASH_LEN);
    settle_read_mark(s);
  }
  return rc;
}

/* ---- reading --------------------------------------------------------------- */

static int store_head(mc_store *s, uint64_t *height,
                      uint8_t hash[MC_HASH_LEN]) {
  if (!s->has_head)
    return MC_ENOTFOUND;
  *height = s->head;
  memcpy(hash, s->head_hash, MC_HASH_LEN);
  return 0;
}

/* Steps a bound block query and reads its row. */
static int read_one_block(mc_store *s, mc__sq_stmt which, mc_block **out) {
  sqlite3_stmt *st = s->st[which];
  char why[256] = "";
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    rc = corrupt(s, mc__sq_read_block(s, st, out, why, sizeof why),
                 "reading a block", why);
  else if (rc == SQLITE_DONE)
    rc = MC_ENOTFOUND;
  else
    rc = sqlite_failed(s, rc, "reading a block");
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc;
}

static int store_get_block(mc_store *s, uint64_t height, mc_block **out) {
  *out = NULL;
  if (height > (uint64_t)INT64_MAX)
    return MC_ENOTFOUND;
  int rc = sqlite3_bind_int64(s->st[MC_SQ_BLOCK_BY_HEIGHT], 1,
                              (sqlite3_int64)height);
  if (rc != SQLITE_OK)
    return sqlite_failed(s, rc, "reading a block");
  return read_one_block(s, MC_SQ_BLOCK_BY_HEIGHT, out);
}

static int store_get_block_by_hash(mc_store *s, const uint8_t hash[MC_HASH_LEN],
                                   mc_block **out) {
  *out = NULL;
  int rc = sqlite3_bind_blob(s->st[MC_SQ_BLOCK_BY_HASH], 1, hash, MC_HASH_LEN,
                             SQLITE_STATIC);
  if (rc != SQLITE_OK)
    return sqlite_failed(s, rc, "reading a block");
  return read_one_block(s, MC_SQ_BLOCK_BY_HASH, out);
}

/* Blocks come from the host's decoder, so the host frees them. */
static void store_free_block(mc_store *s, mc_block *b) {
  if (b != NULL)
    s->api->block_free(s->host, b);
}

static int store_get_account(mc_store *s, const uint8_t pubkey[MC_PUBKEY_LEN],
                             mc_account *out) {
  sqlite3_stmt *st = s->st[MC_SQ_ACCOUNT];
  char why[256] = "";
  int rc = sqlite3_bind_blob(st, 1, pubkey, MC_PUBKEY_LEN, SQLITE_STATIC);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    rc = corrupt(s, mc__sq_read_account(st, out, why, sizeof why),
                 "reading an account", why);
  else if (rc == SQLITE_DONE)
    rc = MC_ENOTFOUND;
  else
    rc = sqlite_failed(s, rc, "reading an account");
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc;
}

/* A statement of its own, not a shared prepared one: the callback may
 * call back into the store while the walk is on. */
static int store_each_account(mc_store *s, mc_account_cb cb, void *arg) {
  sqlite3_stmt *st = NULL;
  char why[256] = "";
  int rc = sqlite3_prepare_v2(
      s->db, "SELECT pubkey, balance, nonce FROM accounts", -1, &st, NULL);
  if (rc != SQLITE_OK)
    return sqlite_failed(s, rc, "listing accounts");
  int out = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    mc_account a;
    out = corrupt(s, mc__sq_read_account(st, &a, why, sizeof why),
                  "listing accounts", why);
    if (out == 0)
      out = cb(arg, &a);
    if (out != 0)
      break;
  }
  if (out == 0 && rc != SQLITE_DONE)
    out = sqlite_failed(s, rc, "listing accounts");
  sqlite3_finalize(st);
  return out;
}

static int store_find_tx(mc_store *s, const uint8_t txid[MC_HASH_LEN],
                         uint64_t *height, uint32_t *index) {
  sqlite3_stmt *st = s->st[MC_SQ_FIND_TX];
  int rc = sqlite3_bind_blob(st, 1, txid, MC_HASH_LEN, SQLITE_STATIC);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    int ht = sqlite3_column_type(st, 0), it = sqlite3_column_type(st, 1);
    sqlite3_int64 h = sqlite3_column_int64(st, 0);
    sqlite3_int64 i = sqlite3_column_int64(st, 1);
    if (ht != SQLITE_INTEGER || it != SQLITE_INTEGER || h < 0 || i < 0 ||
        i > UINT32_MAX || (s->has_head && (uint64_t)h > s->head)) {
      rc = corrupt(s, MC_ECORRUPT, "finding a transaction",
                   "txs: a row's height or idx is not a position in the chain");
    } else {
      *height = (uint64_t)h;
      *index = (uint32_t)i;
      rc = 0;
    }
  } else if (rc == SQLITE_DONE) {
    rc = MC_ENOTFOUND;
  } else {
    rc = sqlite_failed(s, rc, "finding a transaction");
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc;
}

/* ---- the plugin ------------------------------------------------------------ */

static const mc_store_vtable sqlite_vtable = {
    .size = sizeof(mc_store_vtable),
    .open = store_open,
    .close = store_close,
    .head = store_head,
    .append = store_append,
    .get_block = store_get_block,
    .get_block_by_hash = store_get_block_by_hash,
    .free_block = store_free_block,
    .get_account = store_get_account,
    .each_account = store_each_account,
    .find_tx = store_find_tx,
};

MC_PLUGIN_DEFINE(MC_PLUGIN_STORE, "sqlite", "1.0.0",
                 "the chain in an SQLite database (WAL), one table per kind",
                 &sqlite_vtable)
