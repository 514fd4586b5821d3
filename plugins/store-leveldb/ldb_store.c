/*
 * ldb_store.c - leveldb.so's mc_store_vtable and its plugin descriptor.
 *
 * Nothing is cached but the head: every read goes to LevelDB, and every
 * append is one write batch with sync set (the block, its hash and tx
 * indexes, the account changes and the new head), so a crash at any point
 * leaves the whole block or none of it, and an append costs the same at
 * any chain length.  Blocks are kept in the host's canonical encoding
 * (certificate included) and decoded by the host on the way out, so the
 * blocks this store returns are the host's and free_block hands them back
 * to the host's block_free.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ldb_internal.h"
#include "minichain/error.h"
#include "minichain/plugin.h"
#include "minichain/store.h"
#include "minichain/store_util.h"

/* ---- open and close ------------------------------------------------------- */

static void store_close(mc_store *s);

static int store_open(const mc_host_api *api, mc_host *host, const char *dir,
                      mc_store **out, char *err, size_t errlen) {
  int rc = mc_store_open_args(api, dir, out, err, errlen, "leveldb store");
  if (rc != 0)
    return rc;
  mc_store *s = calloc(1, sizeof *s);
  size_t plen = strlen(dir) + sizeof "/" MC_LDB_DIR;
  if (s == NULL || (s->dbpath = malloc(plen)) == NULL) {
    free(s);
    snprintf(err, errlen, "leveldb store: out of memory");
    return MC_ENOMEM;
  }
  snprintf(s->dbpath, plen, "%s/%s", dir, MC_LDB_DIR);
  s->api = api;
  s->host = host;
  s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s->dirfd < 0) {
    snprintf(err, errlen, "%s: cannot open the directory: %s", dir,
             strerror(errno));
    store_close(s);
    return MC_EIO;
  }
  rc = mc__ldb_open(s, err, errlen);
  if (rc != 0) {
    store_close(s);
    return rc;
  }
  /* What a crash while writing the marker leaves; the marker itself is
   * either the old one or the new one. */
  unlinkat(s->dirfd, MC_LDB_MARKER_TMP, 0);
  *out = s;
  return 0;
}

static void store_close(mc_store *s) {
  if (s == NULL)
    return;
  if (s->db != NULL)
    leveldb_close(s->db);
  if (s->opts != NULL)
    leveldb_options_destroy(s->opts);
  if (s->ropts != NULL)
    leveldb_readoptions_destroy(s->ropts);
  if (s->wopts != NULL)
    leveldb_writeoptions_destroy(s->wopts);
  if (s->dirfd >= 0)
    close(s->dirfd);
  free(s->dbpath);
  free(s);
}

/* ---- append --------------------------------------------------------------- */


static void batch_put(leveldb_writebatch_t *wb, const uint8_t *key,
                      size_t klen, const void *val, size_t vlen) {
  leveldb_writebatch_put(wb, (const char *)key, klen, (const char *)val, vlen);
}

/* Everything the block changes, as one batch. */
static void fill_batch(leveldb_writebatch_t *wb, const mc_block *b,
                       const uint8_t *enc, size_t enc_len,
                       const mc_account *changes, size_t n) {
  uint8_t key[MC_LDB_KEY_MAX], val[MC_LDB_HEAD_LEN];
  uint64_t h = b->header.height;
  batch_put(wb, key, mc__lkey_block(key, h), enc, enc_len);
  mc__lput64(val, h);
  batch_put(wb, key, mc__lkey(key, MC_LDB_K_HASH, b->hash, MC_HASH_LEN), val,
            8);
  for (uint32_t i = 0; i < b->header.tx_count; i++) {
    mc__lput64(val, h);
    mc__lput32(val + 8, i);
    batch_put(wb, key, mc__lkey(key, MC_LDB_K_TX, b->txs[i].id, MC_HASH_LEN),
              val, MC_LDB_TXPOS_LEN);
  }
  for (size_t i = 0; i < n; i++) {
    mc__lput64(val, changes[i].balance);
    mc__lput64(val + 8, changes[i].nonce);
    batch_put(wb, key,
              mc__lkey(key, MC_LDB_K_ACCT, changes[i].pubkey, MC_PUBKEY_LEN),
              val, MC_LDB_ACCT_LEN);
  }
  mc__lput64(val, h);
  memcpy(val + 8, b->hash, MC_HASH_LEN);
  batch_put(wb, key, mc__lkey(key, MC_LDB_K_HEAD, NULL, 0), val,
            MC_LDB_HEAD_LEN);
}

static int store_append(mc_store *s, const mc_block *b,
                        const mc_account *changes, size_t n) {
  if (s == NULL || !mc_store_block_well_formed(b, changes, n))
    return MC_EINVAL;
  if (!mc_store_block_follows(b, s->has_head, s->head, s->head_hash))
    return MC_ELINK;
  uint8_t *enc = NULL;
  size_t enc_len = 0;
  int rc = s->api->encode_block(s->host, b, &enc, &enc_len);
  if (rc != 0)
    return rc == MC_ENOMEM ? MC_ENOMEM : MC_EINVAL;
  leveldb_writebatch_t *wb = leveldb_writebatch_create();
  char *lerr = NULL;
  fill_batch(wb, b, enc, enc_len, changes, n);
  leveldb_write(s->db, s->wopts, wb, &lerr);
  leveldb_writebatch_destroy(wb);
  s->api->buf_free(s->host, enc);
  if (lerr != NULL) {
    char why[512];
    mc__lerr_set(why, sizeof why, lerr, "appending block %llu",
                 (unsigned long long)b->header.height);
    mc__llog(s, "store_write_failed", MC_EIO, why);
    return MC_EIO;
  }
  s->has_head = 1;
  s->head = b->header.height;
  memcpy(s->head_hash, b->hash, MC_HASH_LEN);
  return 0;
}

/* ---- reading -------------------------------------------------------------- */

static int store_head(mc_store *s, uint64_t *height,
                      uint8_t hash[MC_HASH_LEN]) {
  if (!s->has_head)
    return MC_ENOTFOUND;
  *height = s->head;
  memcpy(hash, s->head_hash, MC_HASH_LEN);
  return 0;
}

/* A read that found damage or failed is worth an operator's attention:
 * the caller only sees the code. */
static int report(mc_store *s, int rc, const char *why) {
  if (rc != 0 && rc != MC_ENOTFOUND)
    mc__llog(s, "store_read_failed", rc, why);
  return rc;
}

static int store_get_block(mc_store *s, uint64_t height, mc_block **out) {
  char why[512] = "";
  if (!s->has_head || height > s->head) {
    *out = NULL;
    return MC_ENOTFOUND;
  }
  int rc = mc__lblock_read(s, height, out, why, sizeof why);
  if (rc == MC_ENOTFOUND) {
    snprintf(why, sizeof why, "%s: block %llu (at or below the head) is "
             "missing", s->dbpath, (unsigned long long)height);
    rc = MC_ECORRUPT;
  }
  return report(s, rc, why);
}

/* Reads a fixed-size value; a value of another size is damage. */
static int read_fixed(mc_store *s, const uint8_t *key, size_t klen,
                      uint8_t *out, size_t want, char *why, size_t whylen) {
  char *val = NULL;
  size_t len = 0;
  int rc = mc__lread(s, key, klen, &val, &len, why, whylen);
  if (rc != 0)
    return rc;
  if (len == want)
    memcpy(out, val, want);
  else
    snprintf(why, whylen, "%s: a '%c' record is %zu bytes, not %zu",
             s->dbpath, key[0], len, want);
  leveldb_free(val);
  return len == want ? 0 : MC_ECORRUPT;
}

static int store_get_block_by_hash(mc_store *s, const uint8_t hash[MC_HASH_LEN],
                                   mc_block **out) {
  uint8_t key[MC_LDB_KEY_MAX], val[8];
  char why[512] = "";
  *out = NULL;
  int rc = read_fixed(s, key, mc__lkey(key, MC_LDB_K_HASH, hash, MC_HASH_LEN),
                      val, sizeof val, why, sizeof why);
  uint64_t h = rc == 0 ? mc__lget64(val) : 0;
  if (rc == 0)
    rc = mc__lblock_read(s, h, out, why, sizeof why);
  if (rc == MC_ENOTFOUND && why[0] == '\0')
    return rc; /* no such hash */
  if (rc == MC_ENOTFOUND || (rc == 0 && memcmp((*out)->hash, hash,
                                               MC_HASH_LEN) != 0)) {
    snprintf(why, sizeof why, "%s: the hash index points to height %llu, "
             "which does not hold that block", s->dbpath,
             (unsigned long long)h);
    s->api->block_free(s->host, *out);
    *out = NULL;
    rc = MC_ECORRUPT;
  }
  return report(s, rc, why);
}

static void store_free_block(mc_store *s, mc_block *b) {
  if (b != NULL)
    s->api->block_free(s->host, b);
}

static int store_get_account(mc_store *s, const uint8_t pubkey[MC_PUBKEY_LEN],
                             mc_account *out) {
  uint8_t key[MC_LDB_KEY_MAX], val[MC_LDB_ACCT_LEN];
  char why[512] = "";
  int rc = read_fixed(s, key, mc__lkey(key, MC_LDB_K_ACCT, pubkey, MC_PUBKEY_LEN),
                      val, sizeof val, why, sizeof why);
  if (rc == 0) {
    memcpy(out->pubkey, pubkey, MC_PUBKEY_LEN);
    out->balance = mc__lget64(val);
    out->nonce = mc__lget64(val + 8);
  }
  return report(s, rc, why);
}

/* Walks the 'a' records in key order; stops at the first other key. */
static int walk_accounts(mc_store *s, leveldb_iterator_t *it, mc_account_cb cb,
                         void *arg, char *why, size_t whylen) {
  char prefix = MC_LDB_K_ACCT;
  for (leveldb_iter_seek(it, &prefix, 1); leveldb_iter_valid(it);
       leveldb_iter_next(it)) {
    size_t klen = 0, vlen = 0;
    const char *k = leveldb_iter_key(it, &klen);
    if (klen == 0 || k[0] != MC_LDB_K_ACCT)
      break;
    const uint8_t *v = (const uint8_t *)leveldb_iter_value(it, &vlen);
    if (klen != 1 + MC_PUBKEY_LEN || vlen != MC_LDB_ACCT_LEN) {
      snprintf(why, whylen, "%s: an account record has a %zu-byte key and "
               "a %zu-byte value", s->dbpath, klen, vlen);
      return MC_ECORRUPT;
    }
    mc_account a;
    memcpy(a.pubkey, k + 1, MC_PUBKEY_LEN);
    a.balance = mc__lget64(v);
    a.nonce = mc__lget64(v + 8);
    int rc = cb(arg, &a);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int store_each_account(mc_store *s, mc_account_cb cb, void *arg) {
  char why[512] = "", *lerr = NULL;
  leveldb_iterator_t *it = leveldb_create_iterator(s->db, s->ropts);
  int rc = walk_accounts(s, it, cb, arg, why, sizeof why);
  leveldb_iter_get_error(it, &lerr);
  leveldb_iter_destroy(it);
  if (lerr != NULL) {
    rc = mc__lerr_code(lerr);
    mc__lerr_set(why, sizeof why, lerr, "%s: listing accounts", s->dbpath);
  }
  /* A callback's own nonzero value is handed back, not logged. */
  return why[0] ? report(s, rc, why) : rc;
}

static int store_find_tx(mc_store *s, const uint8_t txid[MC_HASH_LEN],
                         uint64_t *height, uint32_t *index) {
  uint8_t key[MC_LDB_KEY_MAX], val[MC_LDB_TXPOS_LEN];
  char why[512] = "";
  int rc = read_fixed(s, key, mc__lkey(key, MC_LDB_K_TX, txid, MC_HASH_LEN),
                      val, sizeof val, why, sizeof why);
  if (rc == 0) {
    *height = mc__lget64(val);
    *index = mc__lget32(val + 8);
  }
  return report(s, rc, why);
}

/* ---- the plugin ----------------------------------------------------------- */

static const mc_store_vtable leveldb_vtable = {
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

MC_PLUGIN_DEFINE(MC_PLUGIN_STORE, "leveldb", "1.0.0",
                 "the chain in one LevelDB database, one synced write batch "
                 "per block",
                 &leveldb_vtable)
