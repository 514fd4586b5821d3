/*
 * sqlite_damage.c - sqlite_damage.so, the damage module sqlite.so
 * registers with mc-store-check (minichain/store_check.h).  Built in the
 * build tree for ctest, never installed.
 *
 * Following minichain/store.h: chain.sqlite that is not an SQLite
 * database at all (its header overwritten), or sqlite.so's database with
 * a table gone, is damage at sqlite.so's own file: MC_ECORRUPT.  A sound
 * SQLite database without sqlite.so's marker (meta.format) or with
 * another one is someone else's: MC_EFOREIGN.  The marker with a newer
 * version is MC_EVERSION.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "minichain/error.h"
#include "minichain/store_check.h"
#include "sqlite_internal.h"

static int path_of(const char *dir, char *path, size_t len, char *err,
                   size_t errlen) {
  if ((size_t)snprintf(path, len, "%s/%s", dir, MC_SQ_FILE) < len)
    return 0;
  snprintf(err, errlen, "%s: path too long", dir);
  return -1;
}

/* Runs sql on dir's chain.sqlite (which must exist). */
static int run_sql(const char *dir, const char *sql, char *err,
                   size_t errlen) {
  char path[4200];
  sqlite3 *db = NULL;
  if (path_of(dir, path, sizeof path, err, errlen) != 0)
    return -1;
  int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    snprintf(err, errlen, "%s: %s: %s", path, sql,
             db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  sqlite3_close(db);
  return rc == SQLITE_OK ? 0 : -1;
}

/* The first 16 bytes, "SQLite format 3\0", are what makes it a database. */
static int header_overwritten(const char *dir, char *err, size_t errlen) {
  char path[4200];
  if (path_of(dir, path, sizeof path, err, errlen) != 0)
    return -1;
  FILE *fp = fopen(path, "r+b");
  int ok = fp != NULL && fwrite("not a database!!", 1, 16, fp) == 16;
  if (fp != NULL && fclose(fp) != 0)
    ok = 0;
  if (!ok)
    snprintf(err, errlen, "%s: cannot overwrite its header", path);
  return ok ? 0 : -1;
}

static int table_dropped(const char *dir, char *err, size_t errlen) {
  return run_sql(dir, "DROP TABLE txs", err, errlen);
}

/* Another program's database where chain.sqlite is. */
static int foreign_database(const char *dir, char *err, size_t errlen) {
  char path[4200];
  if (path_of(dir, path, sizeof path, err, errlen) != 0)
    return -1;
  if (unlink(path) != 0) {
    snprintf(err, errlen, "%s: cannot remove it", path);
    return -1;
  }
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2(path, &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db,
                      "CREATE TABLE notes(id INTEGER PRIMARY KEY, text);"
                      "INSERT INTO notes(text) VALUES('a shopping list');",
                      NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    snprintf(err, errlen, "%s: %s", path,
             db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  sqlite3_close(db);
  return rc == SQLITE_OK ? 0 : -1;
}

static int other_format(const char *dir, char *err, size_t errlen) {
  return run_sql(dir,
                 "UPDATE meta SET value = 'someone-elses-store' "
                 "WHERE key = 'format'",
                 err, errlen);
}

static int no_marker(const char *dir, char *err, size_t errlen) {
  return run_sql(dir, "DROP TABLE meta", err, errlen);
}

static int newer_version(const char *dir, char *err, size_t errlen) {
  return run_sql(dir, "UPDATE meta SET value = 2 WHERE key = 'version'", err,
                 errlen);
}

#define CASE(fn, what, expect, says)                                           \
  {sizeof(mc_store_damage_case), #fn, what, expect, fn, says}

static const mc_store_damage_case cases[] = {
    CASE(header_overwritten, "chain.sqlite's SQLite header overwritten",
         MC_ECORRUPT, "not an SQLite database"),
    CASE(table_dropped, "the txs table dropped", MC_ECORRUPT,
         "schema is damaged"),
    CASE(foreign_database, "another program's SQLite database as chain.sqlite",
         MC_EFOREIGN, "another program"),
    CASE(no_marker, "sqlite.so's tables without the meta table", MC_EFOREIGN,
         "format marker"),
    CASE(other_format, "meta.format names another program", MC_EFOREIGN,
         "someone-elses-store"),
    CASE(newer_version, "sqlite.so's marker with a newer version",
         MC_EVERSION, "format version 2"),
};

MC_STORE_CHECK_DAMAGE_DEFINE("sqlite", cases)
