/*
 * ldb_db.c - opening leveldb.so's database, and the byte layouts it uses.
 *
 * open checks, in this order and stopping at the first failure: the marker
 * file DIR/leveldb.format (before LevelDB touches anything), the LevelDB
 * database itself, the meta record inside it, and the head (whose block
 * must be there and hash to it).  Every check reads a constant number of
 * records, so opening costs the same at any chain length.
 *
 * A new store is made in the order marker, database, meta record, so
 * that a LevelDB database without the marker is never leveldb.so's, and
 * is refused as MC_EFOREIGN without being opened (LevelDB's recovery
 * would rewrite another program's database; open must leave a refused
 * directory as it was).  A crash inside the creating open leaves the
 * marker with no database yet (no CURRENT, no log or table file), or an
 * empty database without the meta record: the next open completes both.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ldb_internal.h"
#include "minichain/error.h"

/* ---- integers, keys, errors ----------------------------------------------- */

void mc__lput64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

void mc__lput32(uint8_t *p, uint32_t v) {
  for (int i = 3; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

uint64_t mc__lget64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

uint32_t mc__lget32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++)
    v = v << 8 | p[i];
  return v;
}

size_t mc__lkey(uint8_t key[MC_LDB_KEY_MAX], uint8_t prefix,
                const uint8_t *id, size_t n) {
  assert(n + 1 <= MC_LDB_KEY_MAX);
  key[0] = prefix;
  if (n)
    memcpy(key + 1, id, n);
  return n + 1;
}

size_t mc__lkey_block(uint8_t key[MC_LDB_KEY_MAX], uint64_t h) {
  key[0] = MC_LDB_K_BLOCK;
  mc__lput64(key + 1, h);
  return 9;
}

int mc__lerr_code(const char *lerr) {
  return strncmp(lerr, "Corruption:", 11) == 0 ? MC_ECORRUPT : MC_EIO;
}

void mc__lerr_set(char *err, size_t errlen, char *lerr, const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  snprintf(err, errlen, "%s: %s", what, lerr ? lerr : "unknown error");
  leveldb_free(lerr);
  for (char *p = err; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

int mc__lread(mc_store *s, const uint8_t *key, size_t klen, char **val,
              size_t *len, char *err, size_t errlen) {
  char *lerr = NULL;
  *val = leveldb_get(s->db, s->ropts, (const char *)key, klen, len, &lerr);
  if (lerr != NULL) {
    int rc = mc__lerr_code(lerr);
    mc__lerr_set(err, errlen, lerr, "%s: reading key '%c'", s->dbpath,
                 key[0]);
    return rc;
  }
  return *val == NULL ? MC_ENOTFOUND : 0;
}

void mc__llog(mc_store *s, const char *event, int rc, const char *why) {
  mc_log_field f[] = {MC_LOG_F_S("db", s->dbpath),
                      MC_LOG_F_S("code", mc_err_name(rc)),
                      MC_LOG_F_S("error", why)};
  s->api->log(s->host, MC_LOG_ERROR, event, f, sizeof f / sizeof f[0]);
}

/* ---- the format line (marker file and meta record) ------------------------ */

/*
 * Checks one format line: MC_LDB_FORMAT, a space, the version.  `where`
 * names it in messages; `bad` is the code for text that is not a format
 * line at all (damage in our marker, a foreign meta record).
 */
static int check_format(const char *text, size_t len, const char *where,
                        int bad, char *err, size_t errlen) {
  static const char prefix[] = MC_LDB_FORMAT " ";
  size_t plen = sizeof prefix - 1, i = plen;
  uint64_t version = 0;
  if (len <= plen || memcmp(text, prefix, plen) != 0) {
    set_err(err, errlen, "%s does not start with \"%s\"", where,
            MC_LDB_FORMAT);
    return bad;
  }
  for (; i < len && text[i] >= '0' && text[i] <= '9' && version < 1000; i++)
    version = version * 10 + (uint64_t)(text[i] - '0');
  if (i == plen || i != len) {
    set_err(err, errlen, "%s has no valid version number", where);
    return MC_ECORRUPT;
  }
  if (version != MC_LDB_VERSION) {
    set_err(err, errlen, "%s is format version %llu; this store reads %d",
            where, (unsigned long long)version, MC_LDB_VERSION);
    return version > MC_LDB_VERSION ? MC_EVERSION : MC_ECORRUPT;
  }
  return 0;
}

static int format_line(char *out, size_t outlen) {
  return snprintf(out, outlen, "%s %d", MC_LDB_FORMAT, MC_LDB_VERSION);
}

/* ---- the marker file ------------------------------------------------------ */

/* Reads DIR/leveldb.format: 0 (ours, current), MC_ENOTFOUND, or an error. */
static int marker_check(mc_store *s, char *err, size_t errlen) {
  char buf[128];
  int fd = openat(s->dirfd, MC_LDB_MARKER, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT)
    return MC_ENOTFOUND;
  if (fd < 0) {
    set_err(err, errlen, "%s/../%s: %s", s->dbpath, MC_LDB_MARKER,
            strerror(errno));
    return MC_EIO;
  }
  ssize_t n = read(fd, buf, sizeof buf);
  int e = errno;
  close(fd);
  if (n < 0) {
    set_err(err, errlen, "%s: reading the marker: %s", MC_LDB_MARKER,
            strerror(e));
    return MC_EIO;
  }
  if (n == 0 || buf[n - 1] != '\n') {
    set_err(err, errlen, "%s is %s", MC_LDB_MARKER,
            n == 0 ? "empty" : "not one line");
    return MC_ECORRUPT;
  }
  return check_format(buf, (size_t)n - 1, MC_LDB_MARKER, MC_ECORRUPT, err,
                      errlen);
}

/* Writes the marker durably: temp file, fsync, rename, fsync of DIR. */
static int marker_write(mc_store *s, char *err, size_t errlen) {
  char line[64];
  int len = format_line(line, sizeof line - 1);
  line[len++] = '\n';
  int fd = openat(s->dirfd, MC_LDB_MARKER_TMP,
                  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int ok = fd >= 0 && write(fd, line, (size_t)len) == len && fsync(fd) == 0;
  int e = errno;
  if (fd >= 0 && close(fd) != 0 && ok) {
    ok = 0;
    e = errno;
  }
  if (ok && renameat(s->dirfd, MC_LDB_MARKER_TMP, s->dirfd, MC_LDB_MARKER) != 0)
    ok = 0, e = errno;
  if (ok && fsync(s->dirfd) != 0)
    ok = 0, e = errno;
  if (!ok) {
    unlinkat(s->dirfd, MC_LDB_MARKER_TMP, 0);
    set_err(err, errlen, "writing %s: %s", MC_LDB_MARKER, strerror(e));
    return MC_EIO;
  }
  return 0;
}

/* ---- LevelDB and the meta record ------------------------------------------ */

static int db_open(mc_store *s, int create, char *err, size_t errlen) {
  char *lerr = NULL;
  struct stat st;
  /* LevelDB creates the directory and its LOG even when told not to
   * create a database: check first, so that a refusal touches nothing. */
  if (!create && fstatat(s->dirfd, MC_LDB_DIR "/CURRENT", &st, 0) != 0) {
    set_err(err, errlen, "%s/CURRENT is missing although %s says a store "
            "is here", s->dbpath, MC_LDB_MARKER);
    return MC_ECORRUPT;
  }
  s->opts = leveldb_options_create();
  s->ropts = leveldb_readoptions_create();
  s->wopts = leveldb_writeoptions_create();
  leveldb_options_set_create_if_missing(s->opts, (uint8_t)create);
  leveldb_options_set_paranoid_checks(s->opts, 1);
  leveldb_readoptions_set_verify_checksums(s->ropts, 1);
  leveldb_writeoptions_set_sync(s->wopts, 1);
  s->db = leveldb_open(s->opts, s->dbpath, &lerr);
  if (lerr == NULL)
    return 0;
  int rc = mc__lerr_code(lerr);
  mc__lerr_set(err, errlen, lerr, "%s", s->dbpath);
  return rc;
}

/* 1 if the database holds no key at all (a store being created). */
static int db_empty(mc_store *s, char *err, size_t errlen, int *rc) {
  leveldb_iterator_t *it = leveldb_create_iterator(s->db, s->ropts);
  char *lerr = NULL;
  leveldb_iter_seek_to_first(it);
  int empty = !leveldb_iter_valid(it);
  leveldb_iter_get_error(it, &lerr);
  leveldb_iter_destroy(it);
  *rc = 0;
  if (lerr != NULL) {
    *rc = mc__lerr_code(lerr);
    mc__lerr_set(err, errlen, lerr, "%s: listing keys", s->dbpath);
  }
  return empty;
}

static int meta_write(mc_store *s, char *err, size_t errlen) {
  char line[64], *lerr = NULL;
  uint8_t key = MC_LDB_K_META;
  int len = format_line(line, sizeof line);
  leveldb_put(s->db, s->wopts, (const char *)&key, 1, line, (size_t)len,
              &lerr);
  if (lerr != NULL) {
    int rc = mc__lerr_code(lerr);
    mc__lerr_set(err, errlen, lerr, "%s: writing the meta record", s->dbpath);
    return rc;
  }
  return 0;
}

static int meta_check(mc_store *s, char *err, size_t errlen) {
  uint8_t key = MC_LDB_K_META;
  char *val = NULL, why[256];
  size_t len = 0;
  int rc = mc__lread(s, &key, 1, &val, &len, err, errlen);
  if (rc == MC_ENOTFOUND) {
    int empty = db_empty(s, err, errlen, &rc);
    if (rc != 0)
      return rc;
    if (empty)
      return meta_write(s, err, errlen);
    /* The marker file claimed the directory before LevelDB was opened,
     * so this is leveldb.so's database with a record lost: damage. */
    set_err(err, errlen, "%s: the meta record is missing although %s says "
            "a store is here", s->dbpath, MC_LDB_MARKER);
    return MC_ECORRUPT;
  }
  if (rc != 0)
    return rc;
  rc = check_format(val, len, "the meta record", MC_ECORRUPT, why, sizeof why);
  leveldb_free(val);
  if (rc != 0)
    set_err(err, errlen, "%s: %s", s->dbpath, why);
  return rc;
}

/* ---- the head ------------------------------------------------------------- */

/* With no head there must be no block either: a lost head record is
 * damage, not an empty chain. */
static int check_no_blocks(mc_store *s, char *err, size_t errlen) {
  leveldb_iterator_t *it = leveldb_create_iterator(s->db, s->ropts);
  char *lerr = NULL, prefix = MC_LDB_K_BLOCK;
  size_t klen = 0;
  leveldb_iter_seek(it, &prefix, 1);
  int found = leveldb_iter_valid(it) &&
              leveldb_iter_key(it, &klen)[0] == MC_LDB_K_BLOCK;
  leveldb_iter_get_error(it, &lerr);
  leveldb_iter_destroy(it);
  if (lerr != NULL) {
    int rc = mc__lerr_code(lerr);
    mc__lerr_set(err, errlen, lerr, "%s: listing blocks", s->dbpath);
    return rc;
  }
  if (found) {
    set_err(err, errlen, "%s: blocks are stored but the head record is "
            "missing", s->dbpath);
    return MC_ECORRUPT;
  }
  return 0;
}

/* The head block must be stored, decode, and hash to the head's hash. */
static int head_load(mc_store *s, char *err, size_t errlen) {
  uint8_t key = MC_LDB_K_HEAD;
  char *val = NULL;
  size_t len = 0;
  int rc = mc__lread(s, &key, 1, &val, &len, err, errlen);
  if (rc == MC_ENOTFOUND)
    return check_no_blocks(s, err, errlen);
  if (rc != 0)
    return rc;
  if (len != MC_LDB_HEAD_LEN) {
    leveldb_free(val);
    set_err(err, errlen, "%s: the head record is %zu bytes, not %d",
            s->dbpath, len, MC_LDB_HEAD_LEN);
    return MC_ECORRUPT;
  }
  s->head = mc__lget64((const uint8_t *)val);
  memcpy(s->head_hash, val + 8, MC_HASH_LEN);
  leveldb_free(val);
  mc_block *b = NULL;
  rc = mc__lblock_read(s, s->head, &b, err, errlen);
  if (rc == MC_ENOTFOUND) {
    set_err(err, errlen, "%s: the head block (height %llu) is missing",
            s->dbpath, (unsigned long long)s->head);
    return MC_ECORRUPT;
  }
  if (rc == 0 && memcmp(b->hash, s->head_hash, MC_HASH_LEN) != 0) {
    set_err(err, errlen, "%s: the head block (height %llu) does not have "
            "the head's hash", s->dbpath, (unsigned long long)s->head);
    rc = MC_ECORRUPT;
  }
  s->api->block_free(s->host, b);
  s->has_head = rc == 0;
  return rc;
}

int mc__lblock_read(mc_store *s, uint64_t h, mc_block **out, char *err,
                    size_t errlen) {
  uint8_t key[MC_LDB_KEY_MAX];
  char *val = NULL;
  size_t len = 0;
  *out = NULL;
  int rc = mc__lread(s, key, mc__lkey_block(key, h), &val, &len, err, errlen);
  if (rc != 0)
    return rc;
  rc = s->api->decode_block(s->host, (const uint8_t *)val, len, out);
  leveldb_free(val);
  if (rc == MC_ENOMEM) {
    set_err(err, errlen, "out of memory decoding block %llu",
            (unsigned long long)h);
    return rc;
  }
  if (rc != 0) {
    set_err(err, errlen, "%s: block %llu does not decode: %s", s->dbpath,
            (unsigned long long)h, mc_strerror(rc));
    return MC_ECORRUPT;
  }
  if ((*out)->header.height != h) {
    set_err(err, errlen, "%s: the block stored at height %llu has height "
            "%llu", s->dbpath, (unsigned long long)h,
            (unsigned long long)(*out)->header.height);
    s->api->block_free(s->host, *out);
    *out = NULL;
    return MC_ECORRUPT;
  }
  return 0;
}

/* ---- open ----------------------------------------------------------------- */

static int db_dir_exists(mc_store *s) {
  struct stat st;
  return fstatat(s->dirfd, MC_LDB_DIR, &st, 0) == 0;
}

/* DIR/leveldb/CURRENT exists: there is a LevelDB database. */
static int db_current_exists(mc_store *s) {
  struct stat st;
  return fstatat(s->dirfd, MC_LDB_DIR "/CURRENT", &st, 0) == 0;
}

/* DIR/leveldb holds a log or a table file, which LevelDB writes only once
 * CURRENT exists: without CURRENT, that is damage, not a creation cut
 * short. */
static int db_has_data_files(mc_store *s) {
  int fd = openat(s->dirfd, MC_LDB_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  struct dirent *e;
  int found = 0;
  if (d == NULL && fd >= 0)
    close(fd);
  while (d != NULL && !found && (e = readdir(d)) != NULL) {
    const char *dot = strrchr(e->d_name, '.');
    found = dot != NULL && (strcmp(dot, ".log") == 0 ||
                            strcmp(dot, ".ldb") == 0 || strcmp(dot, ".sst") == 0);
  }
  if (d != NULL)
    closedir(d);
  return found;
}

/* A new store's first step: the directory for LevelDB, then the marker. */
static int make_marker(mc_store *s, char *err, size_t errlen) {
  if (!db_dir_exists(s) && mkdirat(s->dirfd, MC_LDB_DIR, 0755) != 0) {
    set_err(err, errlen, "%s: cannot create: %s", s->dbpath, strerror(errno));
    return MC_EIO;
  }
  return marker_write(s, err, errlen);
}

int mc__ldb_open(mc_store *s, char *err, size_t errlen) {
  int rc = marker_check(s, err, errlen);
  if (rc != 0 && rc != MC_ENOTFOUND)
    return rc;
  int have_db = db_current_exists(s);
  if (rc == MC_ENOTFOUND && have_db) {
    set_err(err, errlen, "%s: a LevelDB database without %s: not made by "
            "leveldb.so, left untouched", s->dbpath, MC_LDB_MARKER);
    return MC_EFOREIGN;
  }
  if (rc == MC_ENOTFOUND && (rc = make_marker(s, err, errlen)) != 0)
    return rc;
  rc = db_open(s, !have_db && !db_has_data_files(s), err, errlen);
  if (rc == 0)
    rc = meta_check(s, err, errlen);
  if (rc == 0)
    rc = head_load(s, err, errlen);
  return rc;
}
