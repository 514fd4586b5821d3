/*
 * json_store.c - json.so's mc_store_vtable and its plugin descriptor.
 *
 * The whole chain lives in memory: the blocks, each block's chain.json
 * line (kept from the file it was read from, or rendered once at append),
 * the accounts, and three hash indexes (block hash -> height, tx id ->
 * position, public key -> account slot), so every read is O(1).
 *
 * On disk (docs/OPERATIONS.md, "The JSON store's files"):
 *   chain.json         the seed's document: every block up to some height
 *                      and the accounts after it.  What a user reads.
 *   chain.journal      the blocks appended since (json_journal.c).
 *   chain.journal.old  while a compaction runs: the journal it folds.
 * An append writes one record to chain.journal and fdatasyncs it: O(one
 * block), whatever the chain's length.  When the journal holds as many
 * bytes as chain.json (at least 64 MiB; MC_JSON_COMPACT_BYTES overrides,
 * for tests), it is renamed chain.journal.old, a new one takes the next
 * appends, and a thread of json.so's own rewrites chain.json from a
 * snapshot of memory (json_compact.c) and then removes the old journal;
 * appends never wait for it.  The threshold grows with chain.json, so
 * the rewrites cost O(1) per appended byte.  A clean close folds what is
 * left, so that after it chain.json alone holds the chain and no journal
 * remains; while a node runs, chain.json may end before the newest blocks.
 *
 * At every instant chain.json plus the journals hold every block whose
 * append returned 0: a journal is only appended to (a record that did
 * not become durable is cut off again), renamed, and removed only after
 * a chain.json holding its blocks is durable.  Open (json_open.c) reads
 * chain.json a line at a time (json_doc.c, json_scan.c: no tree of the
 * whole document and no re-rendering), then replays chain.journal.old and
 * chain.journal;
 * records of heights chain.json already holds (a crash between the
 * rename of a new chain.json and the removal of a journal) are checked
 * against it and skipped.  Open stays O(chain): everything is in memory.
 *
 * Nothing in memory changes until the journal record is durable, and
 * every allocation an append needs is made before it is written, so a
 * failed append leaves memory as it was and a successful one cannot fail
 * half-way.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json_internal.h"
#include "minichain/error.h"
#include "minichain/plugin.h"
#include "minichain/store.h"
#include "minichain/store_util.h"

/* A compaction starts once the journal holds as many bytes of records as
 * chain.json has, and at least this many: each rewrite of chain.json is
 * then paid for by as many bytes appended since the last one (O(1) per
 * appended byte, and on a thread), and open never replays a journal much
 * bigger than chain.json. */
#define COMPACT_MIN_BYTES (64ull << 20)
/* After a compaction failed, the next one waits this long. */
#define COMPACT_RETRY_MS 10000
/* Overrides the threshold (bytes), so that tests can compact often. */
#define COMPACT_ENV "MC_JSON_COMPACT_BYTES"

void mc__jset_err(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static uint64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A line rendered at append (freed with cJSON_free), not one inside a
 * file's text. */
static int owns_line(const mc_store *s, const char *line) {
  uintptr_t p = (uintptr_t)line;
  for (size_t i = 0; i < s->narenas; i++) {
    uintptr_t a = (uintptr_t)s->arenas[i];
    if (p >= a && p < a + s->arena_len[i])
      return 0;
  }
  return 1;
}

static void log_event(mc_store *s, mc_log_level level, const char *event,
                      const char *file, uint64_t height, const char *why) {
  mc_log_field f[] = {MC_LOG_F_S("dir", s->dir), MC_LOG_F_S("file", file),
                      MC_LOG_F_U("height", height), MC_LOG_F_S("error", why)};
  s->api->log(s->host, level, event, f, why ? 4 : 3);
}

/* ---- accounts ------------------------------------------------------------ */

/* The slot of pk, or -1. */
ssize_t mc__jstore_find_account(const mc_store *s, const uint8_t *pk) {
  const mc__jidx_entry *e = mc__jidx_get(&s->by_acct, pk);
  if (e == NULL)
    return -1;
  assert(e->a < s->naccts);
  return (ssize_t)e->a;
}

/* Sets one account; room (array and index) must have been reserved. */
void mc__jstore_set_account(mc_store *s, const mc_account *a) {
  ssize_t slot = mc__jstore_find_account(s, a->pubkey);
  if (slot < 0) {
    slot = (ssize_t)s->naccts++;
    mc__jidx_put(&s->by_acct, a->pubkey, (uint64_t)slot, 0);
  }
  s->accts[slot] = *a;
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

/* Makes every allocation adding block b with n changes needs, so that
 * nothing after the journal write can fail. */
int mc__jstore_reserve(mc_store *s, const mc_block *b, size_t n) {
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

/* Adds a block the store now owns (its line included) to the indexes;
 * room must have been reserved. */
void mc__jstore_index_block(mc_store *s, uint64_t height) {
  const mc_block *b = &s->blocks[height];
  mc__jidx_put(&s->by_hash, b->hash, height, 0);
  for (uint32_t i = 0; i < b->header.tx_count; i++)
    mc__jidx_put(&s->by_tx, b->txs[i].id, height, i);
}

int mc__jstore_links(const mc_store *s, const mc_block *b) {
  if (s->nblocks == 0)
    return mc_store_block_follows(b, 0, 0, NULL);
  return mc_store_block_follows(b, 1, s->nblocks - 1,
                                s->blocks[s->nblocks - 1].hash);
}

static void compact_maybe(mc_store *s);

static uint64_t compact_env(void) {
  const char *v = getenv(COMPACT_ENV);
  if (v == NULL || *v == '\0')
    return 0;
  char *end;
  unsigned long long n = strtoull(v, &end, 10);
  return *end == '\0' ? (uint64_t)n : 0;
}

static void store_close(mc_store *s);

static int store_open(const mc_host_api *api, mc_host *host, const char *dir,
                      mc_store **out, char *err, size_t errlen) {
  int rc = mc_store_open_args(api, dir, out, err, errlen, "json store");
  if (rc != 0)
    return rc;
  if (sodium_init() < 0) {
    mc__jset_err(err, errlen, "json store: cannot initialise libsodium");
    return MC_EIO;
  }
  mc_store *s = calloc(1, sizeof *s);
  if (s == NULL || (s->dir = strdup(dir)) == NULL) {
    free(s);
    mc__jset_err(err, errlen, "json store: out of memory");
    return MC_ENOMEM;
  }
  s->api = api;
  s->host = host;
  s->jfd = -1;
  mc__jidx_init(&s->by_hash);
  mc__jidx_init(&s->by_tx);
  mc__jidx_init(&s->by_acct);
  s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s->dirfd < 0) {
    mc__jset_err(err, errlen, "%s: cannot open the directory: %s", dir,
                 strerror(errno));
    store_close(s);
    return MC_EIO;
  }
  rc = mc__jstore_load(s, err, errlen);
  if (rc != 0) {
    store_close(s);
    return rc;
  }
  /* Temp files are what a crash in the middle of a rewrite or of a
   * journal's creation leaves; the files they were meant to replace are
   * intact, so they are only garbage. */
  unlinkat(s->dirfd, MC_JSON_TMP_FILE, 0);
  unlinkat(s->dirfd, MC_JSON_JOURNAL_TMP, 0);
  s->compact_bytes = compact_env();
  s->opened = 1;
  compact_maybe(s); /* a compaction cut short by a crash resumes now */
  *out = s;
  return 0;
}

/* ---- compaction ---------------------------------------------------------- */

static void compact_failed(mc_store *s, uint64_t height, const char *why) {
  log_event(s, MC_LOG_ERROR, "store_compact_failed", MC_JSON_FILE, height, why);
  s->retry_at_ms = monotonic_ms() + COMPACT_RETRY_MS;
}

static void compact_logged(mc_store *s, const mc__jcompact *c) {
  mc_log_field f[] = {MC_LOG_F_S("dir", s->dir),
                      MC_LOG_F_U("blocks", c->nlines),
                      MC_LOG_F_U("bytes", c->bytes), MC_LOG_F_U("ms", c->ms)};
  s->api->log(s->host, MC_LOG_INFO, "store_compacted", f,
              sizeof f / sizeof f[0]);
}

/* Takes the result of a finished compaction. */
static void compact_poll(mc_store *s, int wait) {
  mc__jcompact *c = &s->compact;
  if (!mc__jcompact_poll(c, wait))
    return;
  if (c->rc == 0) {
    /* chain.json now durably holds blocks 0..nlines-1. */
    s->json_blocks = c->nlines;
    s->json_bytes = c->bytes;
    compact_logged(s, c);
    if (c->old_left)
      compact_failed(s, c->nlines, c->why);
    else
      s->old_exists = 0;
  } else {
    /* Even with the new file renamed into place (only the directory's
     * fsync failed) it may not survive a power loss: chain.json counts as
     * the old one, and chain.journal.old stays. */
    compact_failed(s, c->nlines, c->why);
  }
  mc__jcompact_clear(c);
}

/* Moves chain.journal aside as chain.journal.old; the next append starts
 * a new chain.journal. */
static int rotate(mc_store *s) {
  if (renameat(s->dirfd, MC_JSON_JOURNAL, s->dirfd, MC_JSON_JOURNAL_OLD) != 0) {
    char why[160];
    snprintf(why, sizeof why, "cannot rename %s to %s: %s", MC_JSON_JOURNAL,
             MC_JSON_JOURNAL_OLD, strerror(errno));
    compact_failed(s, s->nblocks, why);
    return -1;
  }
  close(s->jfd);
  s->jfd = -1;
  s->jend = 0;
  s->old_exists = 1;
  /* Not needed for safety (either name holds the records), but then a
   * crash cannot bring back a chain.journal that is already folded. */
  fsync(s->dirfd);
  return 0;
}

static void compact_maybe(mc_store *s) {
  if (s->compact.running || s->broken)
    return;
  uint64_t records = s->jfd >= 0 ? s->jend - MC_JSON_JOURNAL_HEAD : 0;
  uint64_t limit = s->compact_bytes;
  if (limit == 0)
    limit =
        s->json_bytes > COMPACT_MIN_BYTES ? s->json_bytes : COMPACT_MIN_BYTES;
  if (!s->old_exists && (s->jfd < 0 || records < limit))
    return;
  if (s->retry_at_ms != 0 && monotonic_ms() < s->retry_at_ms)
    return;
  if (!s->old_exists && rotate(s) != 0)
    return;
  mc__jcompact *c = &s->compact;
  int rc = mc__jcompact_snapshot(c, s->dirfd, s->lines, s->nblocks, s->accts,
                                 s->naccts);
  if (rc == 0) {
    c->drop_old = 1;
    rc = mc__jcompact_start(c);
    if (rc != 0)
      mc__jcompact_clear(c);
  }
  if (rc != 0)
    compact_failed(s, s->nblocks,
                   rc == MC_ENOMEM ? "out of memory for the snapshot"
                                   : "cannot start a thread");
}

/* A clean close leaves chain.json holding every block and no journal. */
static void fold_at_close(mc_store *s) {
  if (s->nblocks > s->json_blocks) {
    mc__jcompact c;
    if (mc__jcompact_snapshot(&c, s->dirfd, s->lines, s->nblocks, s->accts,
                              s->naccts) != 0) {
      compact_failed(s, s->nblocks, "out of memory for the snapshot");
      return;
    }
    mc__jcompact_run(&c);
    int rc = c.rc;
    if (rc == 0)
      compact_logged(s, &c);
    else
      compact_failed(s, s->nblocks, c.why); /* the journals stay */
    mc__jcompact_clear(&c);
    if (rc != 0)
      return;
  }
  if (s->jfd >= 0)
    close(s->jfd);
  s->jfd = -1;
  int bad = unlinkat(s->dirfd, MC_JSON_JOURNAL, 0) != 0 && errno != ENOENT;
  bad |= unlinkat(s->dirfd, MC_JSON_JOURNAL_OLD, 0) != 0 && errno != ENOENT;
  bad |= fsync(s->dirfd) != 0;
  if (bad)
    log_event(s, MC_LOG_WARN, "store_journal_left", MC_JSON_JOURNAL, s->nblocks,
              strerror(errno));
}

static void store_close(mc_store *s) {
  if (s == NULL)
    return;
  compact_poll(s, 1);
  if (s->opened && (s->jfd >= 0 || s->old_exists))
    fold_at_close(s);
  for (size_t i = 0; i < s->nblocks; i++) {
    mc__jblock_clear(&s->blocks[i]);
    if (owns_line(s, s->lines[i]))
      cJSON_free(s->lines[i]);
  }
  for (size_t i = 0; i < s->narenas; i++)
    free(s->arenas[i]);
  free(s->blocks);
  free(s->lines);
  free(s->accts);
  mc__jidx_free(&s->by_hash);
  mc__jidx_free(&s->by_tx);
  mc__jidx_free(&s->by_acct);
  if (s->jfd >= 0)
    close(s->jfd);
  if (s->dirfd >= 0)
    close(s->dirfd);
  free(s->dir);
  free(s);
}

/* ---- appending ----------------------------------------------------------- */

/* The host validated the block; these are only what would make the store
 * read out of bounds or write a file it then could not read. */
static int well_formed(const mc_block *b, const mc_account *changes, size_t n) {
  if (!mc_store_block_well_formed(b, changes, n))
    return 0;
  for (uint32_t i = 0; i < b->header.tx_count; i++) {
    size_t len = strnlen(b->txs[i].chain_id, sizeof b->txs[i].chain_id);
    if (len == 0 || len > MC_CHAIN_ID_MAX)
      return 0;
  }
  return 1;
}

/* Writes one record to chain.journal (creating it first if needed) and
 * makes it durable. */
static int write_record(mc_store *s, const mc_block *b, const uint8_t *rec,
                        size_t len) {
  char why[256] = "";
  int rc = 0;
  if (s->jfd < 0) {
    rc = mc__jjournal_create(s->dirfd, MC_JSON_JOURNAL, &s->jfd, why,
                             sizeof why);
    if (rc == 0)
      s->jend = MC_JSON_JOURNAL_HEAD;
  }
  int intact = 1;
  if (rc == 0)
    rc = mc__jjournal_append(s->jfd, s->jend, rec, len, &intact, why,
                             sizeof why);
  if (rc == 0) {
    s->jend += len;
    return 0;
  }
  if (!intact) {
    /* The tail of the file is unknown, so no record may follow it; a clean
     * close rewrites chain.json from memory, which repairs it. */
    s->broken = 1;
    strncat(why,
            "; the journal's tail is unknown: no more appends until "
            "a restart",
            sizeof why - strlen(why) - 1);
  }
  log_event(s, MC_LOG_ERROR, "store_write_failed", MC_JSON_JOURNAL,
            b->header.height, why);
  return rc;
}

static int store_append(mc_store *s, const mc_block *b,
                        const mc_account *changes, size_t n) {
  if (s == NULL || !well_formed(b, changes, n))
    return MC_EINVAL;
  compact_poll(s, 0);
  if (!mc__jstore_links(s, b))
    return MC_ELINK;
  if (s->broken) {
    log_event(s, MC_LOG_ERROR, "store_write_failed", MC_JSON_JOURNAL,
              b->header.height,
              "an earlier failed append left the "
              "journal's tail unknown; restart the node");
    return MC_EIO;
  }
  mc_block copy;
  int copied = 0;
  char *line = NULL;
  uint8_t *rec = NULL;
  size_t reclen = 0;
  int rc = mc__jstore_reserve(s, b, n);
  if (rc == 0 && (rc = mc__jblock_copy(&copy, b)) == 0)
    copied = 1;
  if (rc == 0 && (line = mc__jblock_render(b)) == NULL)
    rc = MC_ENOMEM;
  if (rc == 0)
    rc = mc__jrec_encode(b, line, changes, n, &rec, &reclen);
  if (rc == 0)
    rc = write_record(s, b, rec, reclen);
  free(rec);
  if (rc != 0) {
    if (copied)
      mc__jblock_clear(&copy);
    cJSON_free(line);
    return rc;
  }
  s->blocks[s->nblocks] = copy;
  s->lines[s->nblocks] = line;
  s->nblocks++;
  for (size_t i = 0; i < n; i++)
    mc__jstore_set_account(s, &changes[i]);
  mc__jstore_index_block(s, s->nblocks - 1);
  compact_maybe(s);
  return 0;
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
  ssize_t slot = mc__jstore_find_account(s, pubkey);
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
                 "the chain in chain.json, appended through a journal",
                 &json_vtable)
