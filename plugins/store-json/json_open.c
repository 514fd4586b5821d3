/*
 * json_open.c - opening json.so's store: chain.json, then the journals.
 *
 * chain.json is read a line at a time when it has the layout json.so
 * writes (json_doc.c, json_scan.c), else as one document; every block's
 * hash and tx ids are checked through the host's codec.  Then
 * chain.journal.old (which was complete when it was renamed: any damage
 * is corruption) and chain.journal (whose damaged last record, with
 * nothing intact after it, is an append that never returned 0, and is cut
 * off) are replayed on top.  Everything is checked before any file is
 * touched, so a refused directory is left exactly as it was.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json_internal.h"
#include "minichain/error.h"

/* ---- opening: chain.json ------------------------------------------------- */

/*
 * Re-encodes b through the host and compares the hash and tx ids the
 * host's decoder derives with the stored ones: this is what catches an
 * edited amount or a block_hash that does not belong to its block.
 * `where` names the block in messages.
 */
static int check_derived(mc_store *s, const mc_block *b, const char *where,
                         char *err, size_t errlen) {
  uint8_t *buf = NULL;
  size_t len = 0;
  mc_block *d = NULL;
  int rc = s->api->encode_block(s->host, b, &buf, &len);
  if (rc == 0)
    rc = s->api->decode_block(s->host, buf, len, &d);
  s->api->buf_free(s->host, buf);
  if (rc == MC_ENOMEM) {
    mc__jset_err(err, errlen, "out of memory checking %s", where);
    return rc;
  }
  if (rc != 0) {
    mc__jset_err(err, errlen, "%s is not a valid block: %s", where,
                 mc_strerror(rc));
    return MC_ECORRUPT;
  }
  if (memcmp(d->hash, b->hash, MC_HASH_LEN) != 0) {
    mc__jset_err(err, errlen,
                 "%s.block_hash does not match the block's contents", where);
    rc = MC_ECORRUPT;
  }
  for (uint32_t t = 0; rc == 0 && t < b->header.tx_count; t++)
    if (memcmp(d->txs[t].id, b->txs[t].id, MC_HASH_LEN) != 0) {
      mc__jset_err(
          err, errlen,
          "%s.tx_list[%u].id does not match the transaction's contents", where,
          t);
      rc = MC_ECORRUPT;
    }
  s->api->block_free(s->host, d);
  return rc;
}

/* Takes the blocks of doc, with their lines (kept from the file when the
 * fast reader gave them, else rendered here).  Takes `lines` (the array)
 * in every case. */
static int take_blocks(mc_store *s, mc__jdoc *doc, char **lines, char *err,
                       size_t errlen) {
  size_t ntx = 0, n = doc->nblocks;
  for (size_t i = 0; i < n; i++) {
    char where[32];
    snprintf(where, sizeof where, "blocks[%zu]", i);
    int rc = check_derived(s, &doc->blocks[i], where, err, errlen);
    if (rc != 0) {
      free(lines);
      return rc;
    }
    ntx += doc->blocks[i].header.tx_count;
  }
  int rendered = lines == NULL;
  if (rendered && (lines = calloc(n ? n : 1, sizeof *lines)) == NULL)
    goto nomem;
  for (size_t i = 0; rendered && i < n; i++)
    if ((lines[i] = mc__jblock_render(&doc->blocks[i])) == NULL)
      goto nomem;
  if (mc__jidx_reserve(&s->by_hash, n) != 0 ||
      mc__jidx_reserve(&s->by_tx, ntx) != 0)
    goto nomem;
  s->lines = lines;
  s->lines_cap = n ? n : 1;
  s->blocks = doc->blocks;
  s->nblocks = s->blocks_cap = n;
  doc->blocks = NULL;
  doc->nblocks = 0;
  for (size_t i = 0; i < s->nblocks; i++)
    mc__jstore_index_block(s, i);
  return 0;
nomem:
  for (size_t i = 0; rendered && lines != NULL && i < n; i++)
    cJSON_free(lines[i]); /* calloc'd: unrendered ones are NULL */
  free(lines);
  mc__jset_err(err, errlen, "out of memory indexing the blocks");
  return MC_ENOMEM;
}

static int take_accounts(mc_store *s, mc__jdoc *doc, char *err, size_t errlen) {
  if (mc__jidx_reserve(&s->by_acct, doc->naccts) != 0) {
    mc__jset_err(err, errlen, "out of memory indexing the accounts");
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

/* Keeps a file's text for the lines that point into it. */
static void add_arena(mc_store *s, char *text, size_t len) {
  assert(s->narenas < MC_JSON_MAX_ARENAS);
  s->arenas[s->narenas] = text;
  s->arena_len[s->narenas++] = len + 1;
}

/* Reads chain.json if there is one; an absent file is an empty chain. */
static int load_json(mc_store *s, char *err, size_t errlen) {
  char *text = NULL, why[256] = "", **lines = NULL;
  size_t len = 0;
  mc__jdoc doc;
  int rc = mc__jfile_read(s->dirfd, MC_JSON_FILE, &text, &len, why, sizeof why);
  if (rc == MC_ENOTFOUND)
    return 0;
  if (rc == 0) {
    rc = mc__jdoc_load_lines(text, len, &doc, &lines, why, sizeof why);
    if (rc == MC_JSON_NOT_LINES)
      rc = mc__jdoc_load(text, len, &doc, why, sizeof why);
  }
  if (rc == 0) {
    if (lines != NULL) {
      add_arena(s, text, len);
      text = NULL;
    }
    rc = take_blocks(s, &doc, lines, why, sizeof why);
    if (rc == 0)
      rc = take_accounts(s, &doc, why, sizeof why);
    mc__jdoc_free(&doc);
  }
  free(text);
  if (rc != 0) {
    mc__jset_err(err, errlen, "%s/%s: %s", s->dir, MC_JSON_FILE, why);
    return rc;
  }
  s->json_blocks = s->nblocks;
  s->json_bytes = len;
  return 0;
}

/* ---- opening: the journals ----------------------------------------------- */

/* One journal record on top of what is read so far. */
static int replay_record(void *arg, mc__jrec *r, char *err, size_t errlen) {
  mc_store *s = arg;
  char where[64];
  snprintf(where, sizeof where, "the record at byte %zu", r->offset);
  if (r->height < s->replay_next) {
    mc__jset_err(err, errlen,
                 "%s holds height %llu, not above the record before it", where,
                 (unsigned long long)r->height);
    return MC_ECORRUPT;
  }
  s->replay_next = r->height + 1;
  if (r->height < s->nblocks) {
    /* Folded into chain.json by a compaction that was cut short before
     * it removed this journal: the same block, or corruption. */
    if (memcmp(r->hash, s->blocks[r->height].hash, MC_HASH_LEN) == 0)
      return 0;
    mc__jset_err(
        err, errlen,
        "%s holds height %llu with another hash than the block already "
        "read at that height",
        where, (unsigned long long)r->height);
    return MC_ECORRUPT;
  }
  if (r->height > s->nblocks) {
    mc__jset_err(
        err, errlen,
        "%s holds height %llu, but the chain read so far has %zu blocks "
        "(blocks are missing)",
        where, (unsigned long long)r->height, s->nblocks);
    return MC_ECORRUPT;
  }
  mc_block b;
  int rc = mc__jblock_scan(r->line, r->line_len, &b);
  if (rc == MC_ENOMEM) {
    mc__jset_err(err, errlen, "out of memory replaying %s", where);
    return rc;
  }
  if (rc != 0) {
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(r->line, r->line_len, &end, 0);
    if (obj == NULL || end != r->line + r->line_len) {
      cJSON_Delete(obj);
      mc__jset_err(err, errlen, "%s holds a line that is not one JSON value",
                   where);
      return MC_ECORRUPT;
    }
    rc = mc__jblock_parse(obj, where, &b, err, errlen);
    cJSON_Delete(obj);
    if (rc != 0)
      return rc;
  }
  if (b.header.height != r->height ||
      memcmp(b.hash, r->hash, MC_HASH_LEN) != 0) {
    mc__jset_err(err, errlen, "%s: its line is not the block of its header",
                 where);
    rc = MC_ECORRUPT;
  } else if (!mc__jstore_links(s, &b)) {
    mc__jset_err(err, errlen,
                 "%s (height %llu) does not link to the block before it", where,
                 (unsigned long long)r->height);
    rc = MC_ECORRUPT;
  }
  if (rc == 0)
    rc = check_derived(s, &b, where, err, errlen);
  if (rc == 0 && (rc = mc__jstore_reserve(s, &b, r->nchanges)) != 0)
    mc__jset_err(err, errlen, "out of memory replaying %s", where);
  if (rc != 0) {
    mc__jblock_clear(&b);
    return rc;
  }
  s->blocks[s->nblocks] = b;
  s->lines[s->nblocks] = r->line;
  s->nblocks++;
  for (uint32_t i = 0; i < r->nchanges; i++) {
    mc_account a;
    mc__jrec_change(r, i, &a);
    mc__jstore_set_account(s, &a);
  }
  mc__jstore_index_block(s, s->nblocks - 1);
  return 0;
}

/* Replays dirfd/name if it exists (MC_ENOTFOUND if not); *len is its size
 * and *good_end where its intact records end. */
static int load_journal(mc_store *s, const char *name, int tail_may_tear,
                        size_t *len, size_t *good_end, char *err,
                        size_t errlen) {
  char *text = NULL, why[256] = "";
  int rc = mc__jfile_read(s->dirfd, name, &text, len, why, sizeof why);
  if (rc == MC_ENOTFOUND)
    return rc;
  if (rc == 0) {
    add_arena(s, text, *len);
    s->replay_next = 0;
    rc = mc__jjournal_scan(text, *len, tail_may_tear, replay_record, s,
                           good_end, why, sizeof why);
  }
  if (rc != 0)
    mc__jset_err(err, errlen, "%s/%s: %s", s->dir, name, why);
  return rc;
}

/* Opens chain.journal for appending after its intact records, cutting off
 * a torn tail (an append that never returned 0). */
static int reopen_journal(mc_store *s, size_t len, size_t good_end, char *err,
                          size_t errlen) {
  s->jfd = openat(s->dirfd, MC_JSON_JOURNAL, O_RDWR | O_CLOEXEC);
  if (s->jfd < 0) {
    mc__jset_err(err, errlen, "%s/%s: cannot open: %s", s->dir, MC_JSON_JOURNAL,
                 strerror(errno));
    return MC_EIO;
  }
  s->jend = good_end;
  if (good_end == len)
    return 0;
  if (ftruncate(s->jfd, (off_t)good_end) != 0 || fdatasync(s->jfd) != 0) {
    mc__jset_err(err, errlen, "%s/%s: cannot cut off its torn last record: %s",
                 s->dir, MC_JSON_JOURNAL, strerror(errno));
    return MC_EIO;
  }
  mc_log_field f[] = {MC_LOG_F_S("dir", s->dir),
                      MC_LOG_F_S("file", MC_JSON_JOURNAL),
                      MC_LOG_F_U("height", s->nblocks ? s->nblocks - 1 : 0),
                      MC_LOG_F_U("bytes_cut", len - good_end)};
  s->api->log(s->host, MC_LOG_WARN, "store_journal_torn_tail", f,
              sizeof f / sizeof f[0]);
  return 0;
}

/* Everything is checked before any file is touched: a refused directory
 * is left exactly as it was. */
int mc__jstore_load(mc_store *s, char *err, size_t errlen) {
  size_t len = 0, good_end = 0;
  int rc = load_json(s, err, errlen);
  if (rc == 0) {
    rc = load_journal(s, MC_JSON_JOURNAL_OLD, 0, &len, &good_end, err, errlen);
    s->old_exists = rc == 0;
    if (rc == MC_ENOTFOUND)
      rc = 0;
  }
  int have_journal = 0;
  if (rc == 0) {
    rc = load_journal(s, MC_JSON_JOURNAL, 1, &len, &good_end, err, errlen);
    have_journal = rc == 0;
    if (rc == MC_ENOTFOUND)
      rc = 0;
  }
  if (rc == 0 && have_journal)
    rc = reopen_journal(s, len, good_end, err, errlen);
  return rc;
}
