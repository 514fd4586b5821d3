/*
 * ldb_damage.c - leveldb_damage.so, the damage module leveldb.so
 * registers with mc-store-check (minichain/store_check.h).  Built in the
 * build tree for ctest, never installed.
 *
 * leveldb.so keeps DIR/leveldb.format (its marker file) and a LevelDB
 * database in DIR/leveldb/ with a meta record inside.  Following
 * minichain/store.h: the database's own files cut short or missing while
 * the marker says a store is here is damage (MC_ECORRUPT); a LevelDB
 * database with no marker file is someone else's (MC_EFOREIGN), and
 * leveldb.so refuses it without opening it; the marker with a newer
 * version is MC_EVERSION.
 *
 * Damage that LevelDB itself opens without complaint (a meta or head
 * record lost under the marker) is not here: leveldb.so refuses it as
 * MC_ECORRUPT, but only after LevelDB's open, which always starts a new
 * log file and appends to the MANIFEST, so the refused directory is not
 * byte-identical afterwards (the content is).
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <leveldb/c.h>

#include "ldb_internal.h"
#include "minichain/error.h"
#include "minichain/store_check.h"

static int in_dir(const char *dir, const char *name, char *path, size_t len,
                  char *err, size_t errlen) {
  if ((size_t)snprintf(path, len, "%s/%s", dir, name) < len)
    return 0;
  snprintf(err, errlen, "%s: path too long", dir);
  return -1;
}

static int cut_to(const char *path, off_t size, char *err, size_t errlen) {
  if (truncate(path, size) == 0)
    return 0;
  snprintf(err, errlen, "%s: cannot truncate it", path);
  return -1;
}

static int current_truncated(const char *dir, char *err, size_t errlen) {
  char p[4200];
  if (in_dir(dir, MC_LDB_DIR "/CURRENT", p, sizeof p, err, errlen) != 0)
    return -1;
  return cut_to(p, 0, err, errlen);
}

static int current_missing(const char *dir, char *err, size_t errlen) {
  char p[4200];
  if (in_dir(dir, MC_LDB_DIR "/CURRENT", p, sizeof p, err, errlen) != 0)
    return -1;
  if (unlink(p) == 0)
    return 0;
  snprintf(err, errlen, "%s: cannot remove it", p);
  return -1;
}

/* The MANIFEST names the table files; half of it loses its last edits. */
static int manifest_truncated(const char *dir, char *err, size_t errlen) {
  char db[4200], p[4600];
  struct stat st;
  if (in_dir(dir, MC_LDB_DIR, db, sizeof db, err, errlen) != 0)
    return -1;
  DIR *d = opendir(db);
  struct dirent *e;
  p[0] = '\0';
  while (d != NULL && (e = readdir(d)) != NULL)
    if (strncmp(e->d_name, "MANIFEST-", 9) == 0)
      snprintf(p, sizeof p, "%s/%s", db, e->d_name);
  if (d != NULL)
    closedir(d);
  if (p[0] == '\0' || stat(p, &st) != 0 || st.st_size < 2) {
    snprintf(err, errlen, "%s: no MANIFEST file with content", db);
    return -1;
  }
  return cut_to(p, st.st_size / 2, err, errlen);
}

static int write_marker(const char *dir, const char *line, char *err,
                        size_t errlen) {
  char p[4200];
  if (in_dir(dir, MC_LDB_MARKER, p, sizeof p, err, errlen) != 0)
    return -1;
  FILE *fp = fopen(p, "wb");
  int ok = fp != NULL && fputs(line, fp) >= 0;
  if (fp != NULL && fclose(fp) != 0)
    ok = 0;
  if (!ok)
    snprintf(err, errlen, "%s: cannot write it", p);
  return ok ? 0 : -1;
}

static int newer_version(const char *dir, char *err, size_t errlen) {
  return write_marker(dir, MC_LDB_FORMAT " 2\n", err, errlen);
}

/* Removes leveldb.so's meta record from the database. */
static int delete_meta(const char *dir, char *err, size_t errlen) {
  char db[4200], *lerr = NULL;
  if (in_dir(dir, MC_LDB_DIR, db, sizeof db, err, errlen) != 0)
    return -1;
  leveldb_options_t *o = leveldb_options_create();
  leveldb_writeoptions_t *w = leveldb_writeoptions_create();
  leveldb_writeoptions_set_sync(w, 1);
  leveldb_t *ldb = leveldb_open(o, db, &lerr);
  const char key = MC_LDB_K_META;
  if (ldb != NULL) {
    leveldb_delete(ldb, w, &key, 1, &lerr);
    leveldb_close(ldb);
  }
  leveldb_writeoptions_destroy(w);
  leveldb_options_destroy(o);
  if (lerr != NULL) {
    snprintf(err, errlen, "%s: %s", db, lerr);
    leveldb_free(lerr);
    return -1;
  }
  return 0;
}

/* Leaves the database as another program would: no marker file, no meta
 * record. */
static int foreign_database(const char *dir, char *err, size_t errlen) {
  char marker[4200];
  if (in_dir(dir, MC_LDB_MARKER, marker, sizeof marker, err, errlen) != 0)
    return -1;
  if (unlink(marker) != 0) {
    snprintf(err, errlen, "%s: cannot remove it", marker);
    return -1;
  }
  return delete_meta(dir, err, errlen);
}

#define CASE(fn, what, expect, says)                                           \
  {sizeof(mc_store_damage_case), #fn, what, expect, fn, says}

static const mc_store_damage_case cases[] = {
    CASE(current_truncated, "leveldb/CURRENT cut to 0 bytes", MC_ECORRUPT,
         NULL),
    CASE(current_missing, "leveldb/CURRENT removed", MC_ECORRUPT,
         "CURRENT is missing"),
    CASE(manifest_truncated, "leveldb/MANIFEST-* cut in half", MC_ECORRUPT,
         NULL),
    CASE(newer_version, "leveldb.format with a newer version", MC_EVERSION,
         "format version 2"),
    CASE(foreign_database,
         "a LevelDB database with no marker file and no meta record",
         MC_EFOREIGN, "without leveldb.format"),
};

/* LevelDB appends to its own diagnostic log on every open, refused or not,
 * and the C API cannot send it elsewhere; it holds no chain data. */
static const char *const unchecked[] = {MC_LDB_DIR "/LOG", MC_LDB_DIR "/LOG.old",
                                        NULL};

MC_STORE_CHECK_DAMAGE_DEFINE_UNCHECKED("leveldb", cases, unchecked)
