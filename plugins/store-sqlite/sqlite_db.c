/*
 * sqlite_db.c - opening sqlite.so's database: refusing what is not ours,
 * creating the schema, and the prepared statements.
 *
 * An existing chain.sqlite is checked before anything is written to it:
 * it is opened without SQLITE_OPEN_CREATE and only read (a read creates
 * no file beside a database in rollback mode, and the -wal/-shm files of
 * one in WAL mode go away when it is closed), so a garbage or foreign file
 * is refused exactly as it was.  Only then is the journal switched to WAL,
 * which rewrites the header of a database that was not in WAL mode yet.
 *
 * A database with no table at all is an empty store: that is both a new
 * file and what a crash between creating the file and committing the
 * schema leaves behind (the schema is created in one transaction).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "minichain/error.h"
#include "sqlite_internal.h"

/* The schema, kept in sqlite_master as written, so `.schema` in the shell
 * shows these comments.  Hashes, keys and signatures are raw bytes (use
 * hex() in queries). */
static const char schema_sql[] =
    "CREATE TABLE meta(\n"
    "  key TEXT PRIMARY KEY, -- 'format' and 'version'\n"
    "  value NOT NULL\n"
    ");\n"
    "CREATE TABLE blocks(\n"
    "  height INTEGER PRIMARY KEY,\n"
    "  hash BLOB NOT NULL UNIQUE, -- SHA-256 of the header encoding\n"
    "  prev_hash BLOB NOT NULL,\n"
    "  timestamp NOT NULL, -- Unix ms; u64, see below\n"
    "  tx_root BLOB NOT NULL,\n"
    "  state_root BLOB NOT NULL,\n"
    "  proposer BLOB NOT NULL, -- ed25519 public key; zeros at height 0\n"
    "  signature BLOB NOT NULL,\n"
    "  cert BLOB NOT NULL, -- the consensus plugin's commit certificate\n"
    "  tx_count INTEGER NOT NULL,\n"
    "  raw BLOB NOT NULL -- the canonical encoding (docs/PROTOCOL.md)\n"
    ");\n"
    "CREATE TABLE txs(\n"
    "  id BLOB PRIMARY KEY, -- SHA-256 of the signing encoding\n"
    "  height INTEGER NOT NULL, -- the block\n"
    "  idx INTEGER NOT NULL, -- position in the block\n"
    "  sender BLOB NOT NULL,\n"
    "  recipient BLOB NOT NULL,\n"
    "  amount NOT NULL, -- u64\n"
    "  nonce NOT NULL -- u64\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX txs_by_height ON txs(height);\n"
    "CREATE TABLE accounts(\n"
    "  pubkey BLOB PRIMARY KEY,\n"
    "  balance NOT NULL, -- u64\n"
    "  nonce NOT NULL -- u64: the last committed nonce\n"
    ") WITHOUT ROWID;\n"
    "-- u64 columns have no declared type (so no affinity converts them):\n"
    "-- an INTEGER up to 2^63-1, the TEXT of the decimal digits above.\n";

#define BLOCK_COLS                                                             \
  "height, hash, prev_hash, timestamp, tx_root, state_root, proposer, "       \
  "signature, cert, tx_count, raw"

const char *const mc__sq_sql[MC_SQ_NSTMT] = {
    [MC_SQ_BEGIN] = "BEGIN IMMEDIATE",
    [MC_SQ_COMMIT] = "COMMIT",
    [MC_SQ_ROLLBACK] = "ROLLBACK",
    [MC_SQ_INSERT_BLOCK] = "INSERT INTO blocks(" BLOCK_COLS
                           ") VALUES(?,?,?,?,?,?,?,?,?,?,?)",
    [MC_SQ_INSERT_TX] = "INSERT INTO txs(id, height, idx, sender, recipient, "
                        "amount, nonce) VALUES(?,?,?,?,?,?,?)",
    [MC_SQ_PUT_ACCOUNT] = "INSERT INTO accounts(pubkey, balance, nonce) "
                          "VALUES(?,?,?) ON CONFLICT(pubkey) DO UPDATE SET "
                          "balance = excluded.balance, nonce = excluded.nonce",
    [MC_SQ_HEAD] = "SELECT " BLOCK_COLS
                   " FROM blocks ORDER BY height DESC LIMIT 1",
    [MC_SQ_COUNT_BLOCKS] = "SELECT count(*), min(height) FROM blocks",
    [MC_SQ_BLOCK_BY_HEIGHT] = "SELECT " BLOCK_COLS
                              " FROM blocks WHERE height = ?",
    [MC_SQ_BLOCK_BY_HASH] = "SELECT " BLOCK_COLS " FROM blocks WHERE hash = ?",
    [MC_SQ_ACCOUNT] = "SELECT pubkey, balance, nonce FROM accounts "
                      "WHERE pubkey = ?",
    [MC_SQ_FIND_TX] = "SELECT height, idx FROM txs WHERE id = ?",
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

int mc__sq_error(int sqlite_rc) {
  switch (sqlite_rc & 0xff) {
  case SQLITE_NOMEM:
    return MC_ENOMEM;
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
    return MC_ECORRUPT;
  default:
    return MC_EIO;
  }
}

/* An SQLite failure as the store's error, with SQLite's own words. */
static int fail(mc_store *s, int rc, const char *doing, char *err,
                size_t errlen) {
  int code = mc__sq_error(rc);
  set_err(err, errlen, "%s: %s: %s", s->path, doing,
          s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
  return code;
}

/* Runs one statement that returns at most one row and reads its first
 * column as an integer (0 when there is no row). */
static int query_int(mc_store *s, const char *sql, sqlite3_int64 *out) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
  }
  sqlite3_finalize(st);
  return rc;
}

/* ---- is it ours? ----------------------------------------------------------- */

/* Reads meta's value for key into *st (stepped to its row).  Returns an
 * SQLite code; SQLITE_DONE when the key is absent. */
static int meta_get(mc_store *s, const char *key, sqlite3_stmt **st) {
  int rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?",
                              -1, st, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_text(*st, 1, key, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(*st);
  return rc;
}

static int check_format(mc_store *s, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  int rc = meta_get(s, "format", &st), out = 0;
  if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT) {
    const char *f = (const char *)sqlite3_column_text(st, 0);
    if (strcmp(f, MC_SQ_FORMAT) != 0) {
      set_err(err, errlen, "%s: the database's format is \"%.64s\", not \"%s\"",
              s->path, f, MC_SQ_FORMAT);
      out = MC_EFOREIGN;
    }
  } else if (rc == SQLITE_ROW || rc == SQLITE_DONE ||
             (rc & 0xff) == SQLITE_ERROR) {
    /* No meta table (SQLITE_ERROR from prepare), no format row, or one
     * that is not text: some other program's database. */
    set_err(err, errlen,
            "%s: an SQLite database without this store's format marker "
            "(meta.format = '%s'): it belongs to another program",
            s->path, MC_SQ_FORMAT);
    out = MC_EFOREIGN;
  } else {
    out = fail(s, rc, "reading the format marker", err, errlen);
  }
  sqlite3_finalize(st);
  return out;
}

static int check_version(mc_store *s, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  int rc = meta_get(s, "version", &st), out = 0;
  if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
    sqlite3_int64 v = sqlite3_column_int64(st, 0);
    if (v > MC_SQ_VERSION) {
      set_err(err, errlen,
              "%s: written by a newer sqlite.so (format version %lld; this "
              "one reads version %d)",
              s->path, (long long)v, MC_SQ_VERSION);
      out = MC_EVERSION;
    } else if (v < MC_SQ_VERSION) {
      set_err(err, errlen, "%s: meta.version is %lld, not a version", s->path,
              (long long)v);
      out = MC_ECORRUPT;
    }
  } else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
    set_err(err, errlen, "%s: meta.version is missing or not an integer",
            s->path);
    out = MC_ECORRUPT;
  } else {
    out = fail(s, rc, "reading the format version", err, errlen);
  }
  sqlite3_finalize(st);
  return out;
}

/* Sets *fresh when the database has no table yet.  Reading the schema is
 * the first read of the file: this is where a file that is not an SQLite
 * database is found. */
static int probe(mc_store *s, int *fresh, char *err, size_t errlen) {
  sqlite3_int64 n = 0;
  int rc = query_int(s, "SELECT count(*) FROM sqlite_master", &n);
  if ((rc & 0xff) == SQLITE_NOTADB) {
    set_err(err, errlen, "%s: not an SQLite database", s->path);
    return MC_ECORRUPT;
  }
  if (rc != SQLITE_OK)
    return fail(s, rc, "reading the schema", err, errlen);
  *fresh = n == 0;
  if (*fresh)
    return 0;
  rc = check_format(s, err, errlen);
  return rc != 0 ? rc : check_version(s, err, errlen);
}

/* ---- making it ours -------------------------------------------------------- */

static int exec(mc_store *s, const char *sql, const char *doing, char *err,
                size_t errlen) {
  int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
  return rc == SQLITE_OK ? 0 : fail(s, rc, doing, err, errlen);
}

/* WAL: a commit appends to the -wal file and readers (the sqlite3 shell)
 * do not block the node.  synchronous=FULL: the WAL is fsynced at every
 * commit, so an append that returned 0 survives a power loss. */
static int configure(mc_store *s, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st,
                              NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    rc = mode != NULL && strcmp(mode, "wal") == 0 ? SQLITE_OK : SQLITE_CANTOPEN;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_OK)
    return fail(s, rc, "switching to WAL mode", err, errlen);
  return exec(s, "PRAGMA synchronous = FULL", "setting synchronous=FULL", err,
              errlen);
}

static int create_schema(mc_store *s, char *err, size_t errlen) {
  char sql[sizeof schema_sql + 256];
  snprintf(sql, sizeof sql,
           "BEGIN IMMEDIATE;\n%s"
           "INSERT INTO meta VALUES('format', '%s'), ('version', %d);\n"
           "COMMIT;",
           schema_sql, MC_SQ_FORMAT, MC_SQ_VERSION);
  int rc = exec(s, sql, "creating the tables", err, errlen);
  if (rc != 0 && !sqlite3_get_autocommit(s->db))
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

/* A prepare fails when a table or column is missing or renamed: the
 * database says it is ours but its schema is not. */
static int prepare_all(mc_store *s, char *err, size_t errlen) {
  for (int i = 0; i < MC_SQ_NSTMT; i++) {
    int rc = sqlite3_prepare_v3(s->db, mc__sq_sql[i], -1,
                                SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
    if ((rc & 0xff) == SQLITE_ERROR) {
      set_err(err, errlen, "%s: the schema is damaged: %s", s->path,
              sqlite3_errmsg(s->db));
      return MC_ECORRUPT;
    }
    if (rc != SQLITE_OK)
      return fail(s, rc, "preparing statements", err, errlen);
  }
  return 0;
}

/* ---- open and close -------------------------------------------------------- */

static int open_file(mc_store *s, char *err, size_t errlen) {
  struct stat st;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (stat(s->path, &st) != 0) {
    if (errno != ENOENT) {
      set_err(err, errlen, "%s: %s", s->path, strerror(errno));
      return MC_EIO;
    }
    flags |= SQLITE_OPEN_CREATE;
  } else if (!S_ISREG(st.st_mode)) {
    set_err(err, errlen, "%s: not a regular file", s->path);
    return MC_ECORRUPT;
  }
  int rc = sqlite3_open_v2(s->path, &s->db, flags, NULL);
  if (rc != SQLITE_OK)
    return fail(s, rc, "cannot open", err, errlen);
  sqlite3_extended_result_codes(s->db, 1);
  /* A user's write transaction in the shell delays an append instead of
   * failing it at once. */
  sqlite3_busy_timeout(s->db, 5000);
  if (sqlite3_db_readonly(s->db, "main") == 1) {
    set_err(err, errlen, "%s: not writable", s->path);
    return MC_EIO;
  }
  return 0;
}

int mc__sq_db_open(mc_store *s, char *err, size_t errlen) {
  int fresh = 0;
  int rc = open_file(s, err, errlen);
  if (rc == 0)
    rc = probe(s, &fresh, err, errlen);
  if (rc == 0)
    rc = configure(s, err, errlen);
  if (rc == 0 && fresh)
    rc = create_schema(s, err, errlen);
  if (rc == 0)
    rc = prepare_all(s, err, errlen);
  return rc;
}

void mc__sq_db_close(mc_store *s) {
  for (int i = 0; i < MC_SQ_NSTMT; i++) {
    sqlite3_finalize(s->st[i]);
    s->st[i] = NULL;
  }
  if (s->db != NULL)
    sqlite3_close(s->db);
  s->db = NULL;
}
