/*
 * ldb_internal.h - what the files of leveldb.so share with each other.
 *
 * leveldb.so keeps the chain in one LevelDB database, DIR/leveldb/, plus a
 * one-line marker file, DIR/leveldb.format.  Keys start with a one-byte
 * prefix saying what they hold; integers are big-endian so that blocks
 * sort by height:
 *
 *   'm'               -> "minichain-leveldb-store <version>"   (the meta)
 *   'h'               -> height u64, block hash[32]            (the head)
 *   'b' height u64    -> the block's canonical encoding, cert included
 *   'x' hash[32]      -> height u64
 *   't' txid[32]      -> height u64, index u32
 *   'a' pubkey[32]    -> balance u64, nonce u64
 *
 * The marker repeats the meta outside the database because opening a
 * LevelDB database already rewrites files in it (its LOG, and on recovery
 * its MANIFEST and tables): checking the marker first lets open refuse a
 * damaged or foreign directory without touching anything.
 *
 * The pieces:
 *   ldb_db.c     opening: marker, LevelDB, meta, head; keys and values
 *   ldb_store.c  the mc_store_vtable itself
 * Nothing here is exported (the plugin is built with hidden visibility);
 * the mc__l prefix only keeps the names apart from the SDK's.
 */
#ifndef MC_LDB_INTERNAL_H
#define MC_LDB_INTERNAL_H

#include <leveldb/c.h>
#include <stddef.h>
#include <stdint.h>

#include "minichain/host.h"
#include "minichain/store.h"
#include "minichain/types.h"

#define MC_LDB_FORMAT "minichain-leveldb-store"
#define MC_LDB_VERSION 1
#define MC_LDB_DIR "leveldb"
#define MC_LDB_MARKER "leveldb.format"
#define MC_LDB_MARKER_TMP "leveldb.format.tmp"

enum {
  MC_LDB_K_META = 'm',
  MC_LDB_K_HEAD = 'h',
  MC_LDB_K_BLOCK = 'b',
  MC_LDB_K_HASH = 'x',
  MC_LDB_K_TX = 't',
  MC_LDB_K_ACCT = 'a'
};

#define MC_LDB_KEY_MAX (1 + 32) /* the longest key: prefix and 32 bytes */
#define MC_LDB_HEAD_LEN (8 + MC_HASH_LEN)
#define MC_LDB_TXPOS_LEN (8 + 4)
#define MC_LDB_ACCT_LEN (8 + 8)

struct mc_store {
  const mc_host_api *api;
  mc_host *host;
  int dirfd;    /* DIR, for the marker file */
  char *dbpath; /* DIR/leveldb, for LevelDB and messages */

  leveldb_t *db;
  leveldb_options_t *opts;
  leveldb_readoptions_t *ropts;  /* checksums verified */
  leveldb_writeoptions_t *wopts; /* sync: a write returns once durable */

  /* The head, kept in memory so that append's link check and head() do
   * not read the database; changed only after a write succeeded. */
  int has_head;
  uint64_t head;
  uint8_t head_hash[MC_HASH_LEN];
};

/* ---- ldb_db.c: integers and keys ----------------------------------------- */

void mc__lput64(uint8_t *p, uint64_t v);
void mc__lput32(uint8_t *p, uint32_t v);
uint64_t mc__lget64(const uint8_t *p);
uint32_t mc__lget32(const uint8_t *p);

/* Writes prefix and the n bytes of id into key; returns the key length. */
size_t mc__lkey(uint8_t key[MC_LDB_KEY_MAX], uint8_t prefix,
                const uint8_t *id, size_t n);
/* The key of the block at height h (9 bytes). */
size_t mc__lkey_block(uint8_t key[MC_LDB_KEY_MAX], uint64_t h);

/*
 * Maps a LevelDB error string (which it keeps) to an MC_E code:
 * "Corruption: ..." is MC_ECORRUPT, anything else MC_EIO.
 */
int mc__lerr_code(const char *lerr);

/* Writes "<what>: <lerr>" into err, newlines replaced, and frees lerr. */
void mc__lerr_set(char *err, size_t errlen, char *lerr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Reads key into *val (free with leveldb_free) and *len.  Returns 0,
 * MC_ENOTFOUND, or MC_ECORRUPT / MC_EIO with the reason in err.
 */
int mc__lread(mc_store *s, const uint8_t *key, size_t klen, char **val,
              size_t *len, char *err, size_t errlen);

/* Logs a store error through the host: event, the database path, reason. */
void mc__llog(mc_store *s, const char *event, int rc, const char *why);

/*
 * Opens s->dbpath with the marker and meta checks and loads the head into
 * s.  s->api, host, dirfd and dbpath are set.  Returns 0 or MC_ECORRUPT,
 * MC_EFOREIGN, MC_EVERSION, MC_EIO, MC_ENOMEM with a one-line reason in
 * err; on failure s->db may be open (the caller closes it).
 */
int mc__ldb_open(mc_store *s, char *err, size_t errlen);

/*
 * Reads and decodes the block at height h through the host's decoder and
 * checks it is the block of that height.  *out is freed with the host's
 * block_free.  Returns 0, MC_ENOTFOUND, MC_ECORRUPT, MC_EIO or MC_ENOMEM
 * with the reason in err.
 */
int mc__lblock_read(mc_store *s, uint64_t h, mc_block **out, char *err,
                    size_t errlen);

#endif /* MC_LDB_INTERNAL_H */
