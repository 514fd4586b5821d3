/*
 * json_store.c - json.so's mc_store_vtable and its plugin descriptor.
 *
 * The whole chain lives in memory: the blocks, each block's rendered JSON
 * line (rendered once, at append or open, so that rewriting the file costs
 * a copy, not a re-encoding), the accounts, and three hash indexes (block
 * hash -> height, tx id -> position, public key -> account slot), so every
 * read is O(1).  Every append rewrites DIR/chain.json through
 * mc__jfile_replace (temp file, fsync, rename, fsync of the directory):
 * the block and its account changes reach the disk in one rename, so a
 * crash leaves the old file or the new one, never a mix.  Rewriting the
 * whole file makes an append O(chain length); that is the price of the
 * seed's one-file format, and why leveldb.so exists.
 *
 * Memory is changed before the write (so that the write can run from it)
 * and put back exactly if the write fails: every allocation an append
 * needs is made before anything changes, so the undo cannot fail.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json_internal.h"
#include "minichain/error.h"
#include "minichain/plugin.h"
#include "minichain/store.h"

struct mc_store {
  const mc_host_api *api;
  mc_host *host;
  int dirfd;
  char *path; /* DIR/chain.json, for messages */

  mc_block *blocks; /* heights 0..nblocks-1 */
  char **lines;     /* lines[i]: blocks[i] rendered, cJSON_free'd */
  size_t nblocks, blocks_cap, lines_cap;

  mc_account *accts; /* slot order: first appearance */
  size_t naccts, accts_cap;

  mc__jidx by_hash; /* block hash -> (height, -) */
  mc__jidx by_tx;   /* tx id -> (height, index) */
  mc__jidx by_acct; /* pubkey -> (slot, -); may hold stale slots, see find */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* ---- accounts ------------------------------------------------------------ */

/*
 * The slot of pk, or -1.  A failed append truncates the account array but
 * cannot remove index entries (the index has no removal), so an entry is
 * trusted only if its slot is live and holds pk; a later put of the same
 * key overwrites the stale slot number.
 */
static ssize_t find_account(const mc_store *s, const uint8_t *pk) {
  const mc__jidx_entry *e = mc__jidx_get(&s->by_acct, pk);
  if (e == NULL || e->a >= s->naccts ||
      memcmp(s->accts[e->a].pubkey, pk, MC_PUBKEY_LEN) != 0)
    return -1;
  return (ssize_t)e->a;
}

/* Grows an array of `size`-byte elements to hold at least `want`. */
static int grow(void **arr, size_t *cap, size_t want, size_t size) {
  if (want <= *cap)
    return 0;
  size_t n = *cap ? *cap : 16;
  while (n < want)
    n *= 2;
  if (n > SIZE_MAX / size)
    return MC_ENOMEM;
  void *p = realloc(*arr, n * size);
  if (p == NULL)
    return MC_ENOMEM;
  *arr = p;
  *cap = n;
  return 0;
}

/* ---- writing chain.json -------------------------------------------------- */

static int emit_map(FILE *f, const mc_store *s, const char *name,
                    int balances) {
  if (fprintf(f, "\"%s\":{", name) < 0)
    return -1;
  for (size_t i = 0; i < s->naccts; i++) {
    char hex[2 * MC_PUBKEY_LEN + 1], num[23];
    const mc_account *a = &s->accts[i];
    mc__jhex_encode(a->pubkey, MC_PUBKEY_LEN, hex);
    mc__ju64_format(balances ? a->balance : a->nonce, num);
    if (fprintf(f, "%s\n\"%s\":%s", i ? "," : "", hex, num) < 0)
      return -1;
  }
  return fputs("}", f) < 0 ? -1 : 0;
}

/* One block per line, so that the file reads (and diffs) block by block. */
static int emit_doc(FILE *f, void *arg) {
  const mc_store *s = arg;
  if (fprintf(f, "{\"format\":\"%s\",\"version\":%d,\n\"blocks\":[",
              MC_JSON_FORMAT, MC_JSON_VERSION) < 0)
    return -1;
  for (size_t i = 0; i < s->nblocks; i++)
    if (fprintf(f, "%s\n%s", i ? "," : "", s->lines[i]) < 0)
      return -1;
  if (fputs("],\n", f) < 0 || emit_map(f, s, "accounts", 1) != 0 ||
      fputs(",\n", f) < 0 || emit_map(f, s, "nonces", 0) != 0)
    return -1;
  return fputs("}\n", f) < 0 ? -1 : 0;
}

/* ---- opening ------------------------------------------------------------- */

/* Adds a block the store now owns (its line included) to the indexes;
 * room must have been reserved. */
static void index_block(mc_store *s, uint64_t height) {
  const mc_block *b = &s->blocks[height];
  mc__jidx_put(&s->by_hash, b->hash, height, 0);
  for (uint32_t i = 0; i < b->header.tx_count; i++)
    mc__jidx_put(&s->by_tx, b->txs[i].id, height, i);
}

/*
 * Re-encodes b through the host and compares the hash and tx ids the
 * host's decoder derives with the stored ones: this is what catches an
 * edited amount or a block_hash that does not belong to its block.
 */
static int check_derived(mc_store *s, const mc_block *b, size_t i, char *err,
                         size_t errlen) {
  uint8_t *buf = NULL;
  size_t len = 0;
  mc_block *d = NULL;
  int rc = s->api->encode_block(s->host, b, &buf, &len);
  if (rc == 0)
    rc = s->api->decode_block(s->host, buf, len, &d);
  s->api->buf_free(s->host, buf);
  if (rc == MC_ENOMEM) {
    set_err(err, errlen, "out of memory checking blocks[%zu]", i);
    return rc;
  }
  if (rc != 0) {
    set_err(err, errlen, "blocks[%zu] is not a valid block: %s", i,
            mc_strerror(rc));
    return MC_ECORRUPT;
  }
  if (memcmp(d->hash, b->hash, MC_HASH_LEN) != 0) {
    set_err(err, errlen,
            "blocks[%zu].block_hash does not match the block's "
            "contents",
            i);
    rc = MC_ECORRUPT;
  }
  for (uint32_t t = 0; rc == 0 && t < b->header.tx_count; t++)
    if (memcmp(d->txs[t].id, b->txs[t].id, MC_HASH_LEN) != 0) {
      set_err(err, errlen,
              "blocks[%zu].tx_list[%u].id does not match the "
              "transaction's contents",
              i, t);
      rc = MC_ECORRUPT;
    }
  s->api->block_free(s->host, d);
  return rc;
}

static int take_blocks(mc_store *s, mc__jdoc *doc, char *err, size_t errlen) {
  size_t ntx = 0;
  for (size_t i = 0; i < doc->nblocks; i++) {
    int rc = check_derived(s, &doc->blocks[i], i, err, errlen);
    if (rc != 0)
      return rc;
    ntx += doc->blocks[i].header.tx_count;
  }
  s->lines = calloc(doc->nblocks ? doc->nblocks : 1, sizeof *s->lines);
  if (s->lines == NULL || mc__jidx_reserve(&s->by_hash, doc->nblocks) != 0 ||
      mc__jidx_reserve(&s->by_tx, ntx) != 0)
    goto nomem;
  s->lines_cap = doc->nblocks ? doc->nblocks : 1;
  for (size_t i = 0; i < doc->nblocks; i++)
    if ((s->lines[i] = mc__jblock_render(&doc->blocks[i])) == NULL)
      goto nomem;
  s->blocks = doc->blocks;
  s->nblocks = s->blocks_cap = doc->nblocks;
  doc->blocks = NULL;
  doc->nblocks = 0;
  for (size_t i = 0; i < s->nblocks; i++)
    index_block(s, i);
  return 0;
nomem:
  for (size_t i = 0; s->lines != NULL && i < doc->nblocks; i++)
    cJSON_free(s->lines[i]); /* calloc'd: unrendered ones are NULL */
  set_err(err, errlen, "out of memory indexing the blocks");
  return MC_ENOMEM;
}

static int take_accounts(mc_store *s, mc__jdoc *doc, char *err, size_t errlen) {
  if (mc__jidx_reserve(&s->by_acct, doc->naccts) != 0) {
    set_err(err, errlen, "out of memory indexing the accounts");
    return MC_ENOMEM;
  }
  s->accts = doc->accts;
  s->naccts = s->accts_cap = doc->naccts;
  doc->accts = NULL;
  doc->naccts = 0;
  for (size_t i = 0; i < s->naccts; i++)
    mc__jidx_put(&s->by_acct, s->accts[i].pubkey, i, 0);
  return 0;
}

/* Reads chain.json if there is one; an absent file is an empty store. */
static int load(mc_store *s, char *err, size_t errlen) {
  char *text = NULL, why[256] = "";
  size_t len = 0;
  mc__jdoc doc;
  int rc = mc__jfile_read(s->dirfd, MC_JSON_FILE, &text, &len, why, sizeof why);
  if (rc == MC_ENOTFOUND)
    return 0;
  if (rc == 0)
    rc = mc__jdoc_load(text, len, &doc, why, sizeof why);
  free(text);
  if (rc == 0) {
    rc = take_blocks(s, &doc, why, sizeof why);
    if (rc == 0)
      rc = take_accounts(s, &doc, why, sizeof why);
    mc__jdoc_free(&doc);
  }
  if (rc != 0)
    set_err(err, errlen, "%s: %s", s->path, why);
  return rc;
}

static void store_close(mc_store *s);

static int store_open(const mc_host_api *api, mc_host *host, const char *dir,
                      mc_store **out, char *err, size_t errlen) {
  if (out == NULL || err == NULL || errlen == 0)
    return MC_EINVAL;
  *out = NULL;
  if (api == NULL || dir == NULL ||
      api->size < offsetof(mc_host_api, buf_free) + sizeof api->buf_free) {
    set_err(err, errlen, "json store: no directory or no usable host table");
    return MC_EINVAL;
  }
  mc_store *s = calloc(1, sizeof *s);
  size_t plen = strlen(dir) + sizeof "/" MC_JSON_FILE;
  if (s == NULL || (s->path = malloc(plen)) == NULL) {
    free(s);
    set_err(err, errlen, "json store: out of memory");
    return MC_ENOMEM;
  }
  snprintf(s->path, plen, "%s/%s", dir, MC_JSON_FILE);
  s->api = api;
  s->host = host;
  mc__jidx_init(&s->by_hash);
  mc__jidx_init(&s->by_tx);
  mc__jidx_init(&s->by_acct);
  s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s->dirfd < 0) {
    set_err(err, errlen, "%s: cannot open the directory: %s", dir,
            strerror(errno));
    store_close(s);
    return MC_EIO;
  }
  int rc = load(s, err, errlen);
  if (rc != 0) {
    store_close(s);
    return rc;
  }
  /* A temp file is what a crash in the middle of an append leaves; the
   * file it was meant to replace is intact, so it is only garbage. */
  unlinkat(s->dirfd, MC_JSON_TMP_FILE, 0);
  *out = s;
  return 0;
}

static void store_close(mc_store *s) {
  if (s == NULL)
    return;
  for (size_t i = 0; i < s->nblocks; i++) {
    mc__jblock_clear(&s->blocks[i]);
    cJSON_free(s->lines[i]);
  }
  free(s->blocks);
  free(s->lines);
  free(s->accts);
  mc__jidx_free(&s->by_hash);
  mc__jidx_free(&s->by_tx);
  mc__jidx_free(&s->by_acct);
  if (s->dirfd >= 0)
    close(s->dirfd);
  free(s->path);
  free(s);
}

/* ---- appending ----------------------------------------------------------- */

static int links(const mc_store *s, const mc_block *b) {
  if (b->header.height != s->nblocks)
    return 0;
  return s->nblocks == 0 ||
         memcmp(b->header.prev_hash, s->blocks[s->nblocks - 1].hash,
                MC_HASH_LEN) == 0;
}

/* The host validated the block; these are only what would make the store
 * read out of bounds or write a file it then could not read. */
static int well_formed(const mc_block *b, const mc_account *changes, size_t n) {
  if ((b->header.tx_count > 0 && b->txs == NULL) ||
      (b->cert_len > 0 && b->cert == NULL) || (n > 0 && changes == NULL))
    return 0;
  for (uint32_t i = 0; i < b->header.tx_count; i++) {
    size_t len = strnlen(b->txs[i].chain_id, sizeof b->txs[i].chain_id);
    if (len == 0 || len > MC_CHAIN_ID_MAX)
      return 0;
  }
  return 1;
}

/* Makes every allocation the append needs, so that nothing after the
 * write can fail. */
static int reserve(mc_store *s, const mc_block *b, size_t n) {
  void *blocks = s->blocks, *lines = s->lines, *accts = s->accts;
  int rc = grow(&blocks, &s->blocks_cap, s->nblocks + 1, sizeof *s->blocks);
  s->blocks = blocks;
  if (rc == 0) {
    rc = grow(&lines, &s->lines_cap, s->nblocks + 1, sizeof *s->lines);
    s->lines = lines;
  }
  if (rc == 0 && n > SIZE_MAX - s->naccts)
    rc = MC_ENOMEM;
  if (rc == 0) {
    rc = grow(&accts, &s->accts_cap, s->naccts + n, sizeof *s->accts);
    s->accts = accts;
  }
  if (rc == 0)
    rc = mc__jidx_reserve(&s->by_hash, 1);
  if (rc == 0)
    rc = mc__jidx_reserve(&s->by_tx, b->header.tx_count);
  if (rc == 0)
    rc = mc__jidx_reserve(&s->by_acct, n);
  return rc;
}

/* One applied change, to put back if the write fails. */
typedef struct undo {
  size_t slot;
  mc_account old;
} undo;

static void apply_changes(mc_store *s, const mc_account *changes, size_t n,
                          undo *u) {
  for (size_t i = 0; i < n; i++) {
    ssize_t slot = find_account(s, changes[i].pubkey);
    if (slot < 0) {
      slot = (ssize_t)s->naccts++;
      mc__jidx_put(&s->by_acct, changes[i].pubkey, (uint64_t)slot, 0);
    }
    u[i].slot = (size_t)slot;
    u[i].old = s->accts[slot];
    s->accts[slot] = changes[i];
  }
}

/* Reverse order, so that an account changed twice gets its first value. */
static void undo_changes(mc_store *s, const undo *u, size_t n,
                         size_t old_naccts) {
  for (size_t i = n; i-- > 0;)
    s->accts[u[i].slot] = u[i].old;
  s->naccts = old_naccts;
}

static void log_write_failure(mc_store *s, const mc_block *b, int renamed,
                              const char *why) {
  mc_log_field f[] = {MC_LOG_F_S("file", s->path),
                      MC_LOG_F_U("height", b->header.height),
                      MC_LOG_F_B("visible", renamed), MC_LOG_F_S("error", why)};
  s->api->log(s->host, MC_LOG_ERROR, "store_write_failed", f,
              sizeof f / sizeof f[0]);
}

static int write_file(mc_store *s, const mc_block *b) {
  char why[256] = "";
  int renamed = 0;
  int rc = mc__jfile_replace(s->dirfd, MC_JSON_FILE, MC_JSON_TMP_FILE, emit_doc,
                             s, &renamed, why, sizeof why);
  /* With renamed == 1 only the directory fsync failed: the file on disk
   * already has the block.  The caller is told it failed and memory goes
   * back to the old head; the next append rewrites the file from memory,
   * so disk and memory agree again then. */
  if (rc != 0)
    log_write_failure(s, b, renamed, why);
  return rc;
}

static int store_append(mc_store *s, const mc_block *b,
                        const mc_account *changes, size_t n) {
  if (s == NULL || b == NULL || !well_formed(b, changes, n))
    return MC_EINVAL;
  if (!links(s, b))
    return MC_ELINK;
  undo *u = malloc((n ? n : 1) * sizeof *u);
  mc_block copy;
  char *line = NULL;
  int rc = u == NULL ? MC_ENOMEM : reserve(s, b, n);
  if (rc == 0)
    rc = mc__jblock_copy(&copy, b);
  if (rc == 0 && (line = mc__jblock_render(b)) == NULL) {
    mc__jblock_clear(&copy);
    rc = MC_ENOMEM;
  }
  if (rc != 0) {
    free(u);
    return rc;
  }
  size_t old_naccts = s->naccts;
  apply_changes(s, changes, n, u);
  s->blocks[s->nblocks] = copy;
  s->lines[s->nblocks] = line;
  s->nblocks++;
  rc = write_file(s, b);
  if (rc == 0) {
    index_block(s, s->nblocks - 1);
  } else {
    s->nblocks--;
    mc__jblock_clear(&s->blocks[s->nblocks]);
    cJSON_free(line);
    undo_changes(s, u, n, old_naccts);
  }
  free(u);
  return rc;
}

/* ---- reading ------------------------------------------------------------- */

static int store_head(mc_store *s, uint64_t *height,
                      uint8_t hash[MC_HASH_LEN]) {
  if (s->nblocks == 0)
    return MC_ENOTFOUND;
  *height = s->nblocks - 1;
  memcpy(hash, s->blocks[s->nblocks - 1].hash, MC_HASH_LEN);
  return 0;
}

static int copy_out(const mc_block *b, mc_block **out) {
  mc_block *c = malloc(sizeof *c);
  if (c == NULL || mc__jblock_copy(c, b) != 0) {
    free(c);
    return MC_ENOMEM;
  }
  *out = c;
  return 0;
}

static int store_get_block(mc_store *s, uint64_t height, mc_block **out) {
  *out = NULL;
  if (height >= s->nblocks)
    return MC_ENOTFOUND;
  return copy_out(&s->blocks[height], out);
}

static int store_get_block_by_hash(mc_store *s, const uint8_t hash[MC_HASH_LEN],
                                   mc_block **out) {
  *out = NULL;
  const mc__jidx_entry *e = mc__jidx_get(&s->by_hash, hash);
  if (e == NULL)
    return MC_ENOTFOUND;
  assert(e->a < s->nblocks);
  return copy_out(&s->blocks[e->a], out);
}

static void store_free_block(mc_store *s, mc_block *b) {
  (void)s;
  if (b == NULL)
    return;
  mc__jblock_clear(b);
  free(b);
}

static int store_get_account(mc_store *s, const uint8_t pubkey[MC_PUBKEY_LEN],
                             mc_account *out) {
  ssize_t slot = find_account(s, pubkey);
  if (slot < 0)
    return MC_ENOTFOUND;
  *out = s->accts[slot];
  return 0;
}

static int store_each_account(mc_store *s, mc_account_cb cb, void *arg) {
  for (size_t i = 0; i < s->naccts; i++) {
    int rc = cb(arg, &s->accts[i]);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int store_find_tx(mc_store *s, const uint8_t txid[MC_HASH_LEN],
                         uint64_t *height, uint32_t *index) {
  const mc__jidx_entry *e = mc__jidx_get(&s->by_tx, txid);
  if (e == NULL)
    return MC_ENOTFOUND;
  *height = e->a;
  *index = e->b;
  return 0;
}

/* ---- the plugin ---------------------------------------------------------- */

static const mc_store_vtable json_vtable = {
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

MC_PLUGIN_DEFINE(MC_PLUGIN_STORE, "json", "1.0.0",
                 "the chain in one chain.json file, rewritten atomically",
                 &json_vtable)
