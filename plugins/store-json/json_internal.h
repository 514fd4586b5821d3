/*
 * json_internal.h - what the files of json.so share with each other.
 *
 * json.so keeps the chain in DIR/chain.json (the seed's persistence model,
 * extended), the blocks appended since chain.json was last written in
 * DIR/chain.journal, and everything in memory with hash indexes.  The
 * pieces:
 *   json_index.c    a hash index from 32-byte keys (hashes, public keys)
 *   json_codec.c    numbers, hex and one block <-> its JSON object
 *   json_doc.c      reading and checking a whole chain.json document
 *   json_scan.c     reading a block line of the exact rendered shape fast
 *   json_file.c     reading a file and replacing one atomically and durably
 *   json_journal.c  the journal: one checksummed record per append
 *   json_compact.c  folding the journal into chain.json, on a thread
 *   json_open.c     opening: chain.json, then the journals
 *   json_store.c    the mc_store_vtable itself
 * Nothing here is exported (the plugin is built with hidden visibility);
 * the mc__j prefix only keeps the names apart from the SDK's.
 */
#ifndef MC_JSON_INTERNAL_H
#define MC_JSON_INTERNAL_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sys/types.h>

#include "minichain/store.h"
#include "minichain/types.h"

#define MC_JSON_FORMAT "minichain-json-store"
#define MC_JSON_VERSION 1
#define MC_JSON_FILE "chain.json"
#define MC_JSON_TMP_FILE "chain.json.tmp"
#define MC_JSON_JOURNAL "chain.journal"
#define MC_JSON_JOURNAL_OLD "chain.journal.old"
#define MC_JSON_JOURNAL_TMP "chain.journal.tmp"
#define MC_JSON_JOURNAL_HEAD 16 /* bytes of the journal's header */

/* How chain.json begins, up to its first block line: what json_compact.c
 * writes and what json_doc.c's fast reader expects. */
#define MC_JSON_DOC_HEAD                                                       \
  "{\"format\":\"minichain-json-store\",\"version\":1,\n\"blocks\":["

/* Largest integer a JSON number carries exactly (2^53 - 1); larger values
 * are written as decimal strings. */
#define MC_JSON_MAX_SAFE_INT 9007199254740991ull

/* ---- json_index.c: 32-byte key -> (a, b), open addressing ------------- */

typedef struct mc__jidx_entry {
  uint8_t key[32];
  uint64_t a;
  uint32_t b;
  uint32_t used;
} mc__jidx_entry;

typedef struct mc__jidx {
  mc__jidx_entry *slots; /* cap entries; cap is 0 or a power of two */
  size_t cap;
  size_t count; /* entries in slots */
  /* The table before the last growth, moved into slots a few entries per
   * put (so that no single put pays for the whole table); NULL when done. */
  mc__jidx_entry *old;
  size_t old_cap, old_pos, old_left;
  uint64_t seed; /* random per index, so crafted keys cannot collide */
} mc__jidx;

void mc__jidx_init(mc__jidx *t);
void mc__jidx_free(mc__jidx *t);
/* Makes room for `extra` more keys, so that the next `extra` puts cannot
 * fail.  Returns 0 or MC_ENOMEM (the index is unchanged then). */
int mc__jidx_reserve(mc__jidx *t, size_t extra);
/* Inserts or overwrites key.  Room must have been reserved.  Entries
 * returned by get before a put may move. */
void mc__jidx_put(mc__jidx *t, const uint8_t key[32], uint64_t a, uint32_t b);
/* The entry for key, or NULL. */
const mc__jidx_entry *mc__jidx_get(const mc__jidx *t, const uint8_t key[32]);

/* ---- json_codec.c ------------------------------------------------------ */

/* Writes v as JSON: a number up to 2^53-1, else a quoted decimal string.
 * out needs 23 bytes. */
void mc__ju64_format(uint64_t v, char out[23]);
/* Reads a u64 from an exact non-negative integer number (<= 2^53-1) or a
 * string of decimal digits.  Returns 0 or MC_EDECODE. */
int mc__ju64_read(const cJSON *item, uint64_t *out);
/* Lower-case hex of n bytes (2n+1 bytes with the NUL). */
void mc__jhex_encode(const uint8_t *in, size_t n, char *out);
/* Decodes exactly 2n hex digits.  Returns 0 or MC_EDECODE. */
int mc__jhex_decode(const char *hex, uint8_t *out, size_t n);

/* The block's JSON object as one line of text; NULL when out of memory.
 * Free with cJSON_free. */
char *mc__jblock_render(const mc_block *b);
/* Reads a block from its JSON object into *out (txs and cert allocated;
 * release with mc__jblock_clear).  `where` names the object in messages
 * ("blocks[3]").  Returns 0, MC_ECORRUPT or MC_ENOMEM with a reason in
 * err. */
int mc__jblock_parse(const cJSON *obj, const char *where, mc_block *out,
                     char *err, size_t errlen);
/* Deep copy of src into *dst.  Returns 0 or MC_ENOMEM (dst zeroed). */
int mc__jblock_copy(mc_block *dst, const mc_block *src);
/* Frees what a block owns (txs, cert) and zeroes it. */
void mc__jblock_clear(mc_block *b);

/* ---- json_doc.c ---------------------------------------------------------- */

/* A whole chain.json, decoded and checked. */
typedef struct mc__jdoc {
  mc_block *blocks; /* heights 0..nblocks-1, linked */
  size_t nblocks;
  mc_account *accts; /* in document order */
  size_t naccts;
} mc__jdoc;

/*
 * Decodes and checks the text of a chain.json.  Returns 0, MC_EFOREIGN
 * (not this store's format), MC_EVERSION (a newer format), MC_ECORRUPT
 * (anything else wrong) or MC_ENOMEM, with a one-line reason (without the
 * file name) in err.  On failure *out holds nothing.
 */
int mc__jdoc_load(const char *text, size_t len, mc__jdoc *out, char *err,
                  size_t errlen);
/*
 * The same for a chain.json in exactly the layout mc__jdoc_emit writes
 * (one block per line), without building one tree for the whole document:
 * each line is parsed on its own and kept as that block's line.  On
 * success (*lines)[i] points into `text` (NUL-terminated there: text is
 * changed and must outlive the lines; free *lines itself).  Returns
 * MC_JSON_NOT_LINES, with text unchanged, if the file is not in that layout or
 * anything in it is wrong: mc__jdoc_load then gives the exact answer.
 * Otherwise 0 or MC_ENOMEM.
 */
int mc__jdoc_load_lines(char *text, size_t len, mc__jdoc *out, char ***lines,
                        char *err, size_t errlen);
void mc__jdoc_free(mc__jdoc *d);
/* mc__jdoc_load_lines: "read it the slow way" (not an mc_errno). */
#define MC_JSON_NOT_LINES 1

/* ---- json_scan.c --------------------------------------------------------- */

/* Reads a block from a line of exactly the shape mc__jblock_render
 * writes (len bytes, no NUL needed) into *out (release with
 * mc__jblock_clear).  Returns 0, MC_ENOMEM, or MC_JSON_NOT_LINES (nothing
 * allocated) for any other line: read it with cJSON then. */
int mc__jblock_scan(const char *line, size_t len, mc_block *out);

/* ---- json_journal.c ------------------------------------------------------ */

/* One record as read back; the pointers are into the scanned buffer. */
typedef struct mc__jrec {
  size_t offset; /* of the record in its file */
  uint64_t height;
  const uint8_t *hash; /* MC_HASH_LEN bytes */
  char *line;          /* the block's chain.json line, NUL-terminated */
  size_t line_len;     /* without the NUL */
  const uint8_t *changes;
  uint32_t nchanges;
} mc__jrec;

/* The record of block b, whose chain.json line is `line`, and its changes:
 * *out malloc'd, *outlen bytes.  Returns 0 or MC_ENOMEM. */
int mc__jrec_encode(const mc_block *b, const char *line,
                    const mc_account *changes, size_t n, uint8_t **out,
                    size_t *outlen);
/* The i-th change of r. */
void mc__jrec_change(const mc__jrec *r, uint32_t i, mc_account *out);

typedef int (*mc__jrec_cb)(void *arg, mc__jrec *r, char *err, size_t errlen);
/*
 * Calls cb on each intact record of a journal's bytes, in order.  A
 * damaged record with no intact one after it is a torn tail when
 * tail_may_tear (scanning stops there; *good_end is where it begins) and
 * corruption otherwise; a damaged record before an intact one is always
 * corruption.  Returns 0, MC_ECORRUPT (reason in err) or what cb returned.
 */
int mc__jjournal_scan(char *buf, size_t len, int tail_may_tear, mc__jrec_cb cb,
                      void *arg, size_t *good_end, char *err, size_t errlen);
/* Creates dirfd/name holding only the header, whole (temp file, fdatasync,
 * rename, fsync of the directory); *fd is open on it for writing.
 * Returns 0 or MC_EIO. */
int mc__jjournal_create(int dirfd, const char *name, int *fd, char *err,
                        size_t errlen);
/* Writes rec at offset `end` of fd and fdatasyncs.  On failure (MC_EIO)
 * the file is cut back to `end`; *intact is 0 if even that failed. */
int mc__jjournal_append(int fd, uint64_t end, const uint8_t *rec, size_t len,
                        int *intact, char *err, size_t errlen);

/* ---- json_compact.c ------------------------------------------------------ */

/* What a chain.json is written from: borrowed pointers. */
typedef struct mc__jview {
  char *const *lines;
  size_t nlines;
  const mc_account *accts;
  size_t naccts;
} mc__jview;

/* Writes the document of a mc__jview (the emit function for
 * mc__jfile_replace). */
int mc__jdoc_emit(FILE *f, void *view);

/* One rewrite of chain.json from a snapshot. */
typedef struct mc__jcompact {
  int dirfd;
  char **lines; /* copies of the store's line pointers 0..nlines-1 */
  size_t nlines;
  mc_account *accts; /* a copy */
  size_t naccts;
  int drop_old; /* remove chain.journal.old once chain.json is durable */
  /* the result, readable once finished */
  int rc, renamed, old_left;
  uint64_t bytes, ms;
  char why[256];
  /* the thread */
  pthread_t thread;
  int running;
  atomic_int done;
} mc__jcompact;

/* Fills c with copies of the line pointers and accounts.  0 or MC_ENOMEM. */
int mc__jcompact_snapshot(mc__jcompact *c, int dirfd, char *const *lines,
                          size_t nlines, const mc_account *accts,
                          size_t naccts);
/* Runs the rewrite on this thread. */
void mc__jcompact_run(mc__jcompact *c);
/* Runs it on a new thread.  0 or MC_EIO (no thread). */
int mc__jcompact_start(mc__jcompact *c);
/* 1 if a started rewrite has finished and its thread is joined (waiting
 * for it when `wait`), else 0. */
int mc__jcompact_poll(mc__jcompact *c, int wait);
/* Frees the snapshot. */
void mc__jcompact_clear(mc__jcompact *c);

/* ---- json_file.c --------------------------------------------------------- */

/* Reads dirfd/name whole (NUL-terminated).  Returns 0, MC_ENOTFOUND when
 * it does not exist, MC_EIO or MC_ENOMEM (reason in err). */
int mc__jfile_read(int dirfd, const char *name, char **data, size_t *len,
                   char *err, size_t errlen);

/* Writes the whole new content of a file to a FILE; nonzero on failure. */
typedef int (*mc__jfile_emit_fn)(FILE *f, void *arg);

/*
 * Replaces dirfd/name with what emit writes: writes dirfd/tmp_name, fsyncs
 * it, renames it over name and fsyncs the directory.  When this returns 0
 * the new content is durable.  On failure (MC_EIO, reason in err) with
 * *renamed == 0 the old file is still in place and the temp file is gone;
 * with *renamed == 1 only the directory fsync failed: the new file is
 * visible but may not survive a power loss.
 */
int mc__jfile_replace(int dirfd, const char *name, const char *tmp_name,
                      mc__jfile_emit_fn emit, void *arg, int *renamed,
                      char *err, size_t errlen);

/* ---- json_store.c and json_open.c: the store ----------------------------- */

/* chain.json, chain.journal.old and chain.journal, read at open. */
#define MC_JSON_MAX_ARENAS 3

struct mc_store {
  const mc_host_api *api;
  mc_host *host;
  int dirfd;
  char *dir;  /* for messages */
  int opened; /* open succeeded: close may write */

  mc_block *blocks; /* heights 0..nblocks-1 */
  char **lines;     /* lines[i]: blocks[i]'s chain.json line, see owns_line */
  size_t nblocks, blocks_cap, lines_cap;

  /* Texts of files read at open that lines point into; freed at close. */
  char *arenas[MC_JSON_MAX_ARENAS];
  size_t arena_len[MC_JSON_MAX_ARENAS];
  size_t narenas;

  mc_account *accts; /* slot order: first appearance */
  size_t naccts, accts_cap;

  mc__jidx by_hash; /* block hash -> (height, -) */
  mc__jidx by_tx;   /* tx id -> (height, index) */
  mc__jidx by_acct; /* pubkey -> (slot, -) */

  /* the files */
  uint64_t json_blocks;   /* blocks the chain.json on disk holds, durably */
  uint64_t json_bytes;    /* and its size */
  int jfd;                /* chain.journal, or -1 while there is none */
  uint64_t jend;          /* its length: where the next record goes */
  int old_exists;         /* chain.journal.old is there */
  int broken;             /* a failed append could not be cut off the journal */
  uint64_t compact_bytes; /* from COMPACT_ENV; 0: the default rule */
  uint64_t retry_at_ms;
  mc__jcompact compact;
  uint64_t replay_next; /* at open: the least height the next record may hold */
};

/* Writes a formatted one-line reason into err. */
void mc__jset_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The slot of pk in s->accts, or -1. */
ssize_t mc__jstore_find_account(const mc_store *s, const uint8_t *pk);
/* Sets one account; room must have been reserved. */
void mc__jstore_set_account(mc_store *s, const mc_account *a);
/* Makes every allocation adding block b with n changes needs, so that
 * adding it cannot fail.  0 or MC_ENOMEM. */
int mc__jstore_reserve(mc_store *s, const mc_block *b, size_t n);
/* Indexes block `height`, which the store now holds; room reserved. */
void mc__jstore_index_block(mc_store *s, uint64_t height);
/* b is the block that follows the store's head. */
int mc__jstore_links(const mc_store *s, const mc_block *b);
/* json_open.c: reads chain.json and replays the journals into s (which
 * is empty, with dirfd open); changes no file unless all of it is good,
 * and then only to cut off a torn last record.  0, MC_ECORRUPT,
 * MC_EFOREIGN, MC_EVERSION, MC_EIO or MC_ENOMEM with a reason in err. */
int mc__jstore_load(mc_store *s, char *err, size_t errlen);

#endif /* MC_JSON_INTERNAL_H */
