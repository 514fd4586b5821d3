/*
 * sqlite_internal.h - what the files of sqlite.so share with each other.
 *
 * sqlite.so keeps the chain in one SQLite database, DIR/chain.sqlite, in
 * WAL mode with synchronous=FULL, laid out as tables a user can query
 * with the sqlite3 shell (the schema is in sqlite_db.c).  The pieces:
 *   sqlite_db.c     opening: the foreign/corrupt checks, the schema, the
 *                   prepared statements
 *   sqlite_row.c    u64 columns, and one block <-> its row
 *   sqlite_store.c  the mc_store_vtable itself
 * Nothing here is exported (the plugin is built with hidden visibility);
 * the mc__sq prefix only keeps the names apart from the SDK's.
 */
#ifndef MC_SQLITE_INTERNAL_H
#define MC_SQLITE_INTERNAL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "minichain/host.h"
#include "minichain/store.h"
#include "minichain/types.h"

#define MC_SQ_FORMAT "minichain-sqlite-store"
#define MC_SQ_VERSION 1
#define MC_SQ_FILE "chain.sqlite"

/* The statements prepared once at open and reused (reset after each use). */
typedef enum mc__sq_stmt {
  MC_SQ_BEGIN,
  MC_SQ_COMMIT,
  MC_SQ_ROLLBACK,
  MC_SQ_INSERT_BLOCK,
  MC_SQ_INSERT_TX,
  MC_SQ_PUT_ACCOUNT,
  MC_SQ_HEAD,
  MC_SQ_COUNT_BLOCKS,
  MC_SQ_BLOCK_BY_HEIGHT,
  MC_SQ_BLOCK_BY_HASH,
  MC_SQ_ACCOUNT,
  MC_SQ_FIND_TX,
  MC_SQ_NSTMT
} mc__sq_stmt;

/* The SQL of each mc__sq_stmt (sqlite_db.c). */
extern const char *const mc__sq_sql[MC_SQ_NSTMT];

struct mc_store {
  const mc_host_api *api;
  mc_host *host;
  sqlite3 *db;
  char *path; /* DIR/chain.sqlite, for messages */
  sqlite3_stmt *st[MC_SQ_NSTMT];

  /* The head, kept in memory so that append's link check and head() do
   * not read the database; changed only after a COMMIT succeeded. */
  int has_head;
  uint64_t head;
  uint8_t head_hash[MC_HASH_LEN];
};

/* ---- sqlite_db.c ---------------------------------------------------------- */

/*
 * Opens DIR/chain.sqlite for s (s->api, s->host, s->path set): refuses a
 * file that is not an SQLite database or is not this store's, without
 * changing it; creates the schema in an empty one; switches to WAL; and
 * prepares every statement.  Returns 0, MC_ECORRUPT, MC_EFOREIGN,
 * MC_EVERSION, MC_EIO or MC_ENOMEM with a one-line reason in err.  On
 * failure s->db may be open: the caller closes it.
 */
int mc__sq_db_open(mc_store *s, char *err, size_t errlen);

/* Finalizes the statements and closes the database.  Safe on a partly
 * opened store. */
void mc__sq_db_close(mc_store *s);

/* The MC_E* code for an SQLite result code (MC_ENOMEM, MC_ECORRUPT for a
 * damaged file, else MC_EIO). */
int mc__sq_error(int sqlite_rc);

/* ---- sqlite_row.c --------------------------------------------------------- */

/*
 * u64 columns (timestamps, amounts, nonces, balances) hold an INTEGER when
 * the value fits SQLite's signed 64 bits (<= 2^63-1) and otherwise the
 * TEXT of its decimal digits (2^63 .. 2^64-1), so every value is exact and
 * reads as a number in the shell.  The columns are declared without a
 * type, so that no affinity ever turns that text into a REAL.
 */
int mc__sq_bind_u64(sqlite3_stmt *st, int idx, uint64_t v);

/* Reads a u64 column written by mc__sq_bind_u64.  Returns 0, or
 * MC_ECORRUPT for anything it would not have written (negative, REAL,
 * BLOB, NULL, text that is not canonical digits above 2^63-1). */
int mc__sq_column_u64(sqlite3_stmt *st, int col, uint64_t *out);

/* Binds b's columns (see the blocks table) and its canonical encoding
 * raw[0..raw_len) to MC_SQ_INSERT_BLOCK.  Returns an SQLite code. */
int mc__sq_bind_block(sqlite3_stmt *st, const mc_block *b, const uint8_t *raw,
                      size_t raw_len);

/* Binds transaction `idx` of b to MC_SQ_INSERT_TX.  Returns an SQLite
 * code. */
int mc__sq_bind_tx(sqlite3_stmt *st, const mc_block *b, uint32_t idx);

/*
 * Reads the block of the current row of a statement selecting the blocks
 * columns in table order, decoding `raw` through the host and checking
 * that every other column says the same as the decoded block.  On success
 * *out is a block the host allocated (free with api->block_free).
 * Returns 0, MC_ENOMEM or MC_ECORRUPT with a one-line reason in err.
 */
int mc__sq_read_block(mc_store *s, sqlite3_stmt *st, mc_block **out,
                      char *err, size_t errlen);

/* Reads an account from columns 0..2 (pubkey, balance, nonce) of the
 * current row.  Returns 0 or MC_ECORRUPT with a reason in err. */
int mc__sq_read_account(sqlite3_stmt *st, mc_account *out, char *err,
                        size_t errlen);

#endif /* MC_SQLITE_INTERNAL_H */
