/*
 * datadir.c - the data directory's lock, its marker (mchost.json), and
 * putting a new directory back as it was when a start fails.
 *
 * The marker names the chain, the store and the consensus engine that own
 * the directory.  It is written last, once the store has opened and the
 * engine has been created, so a refused start never claims a directory.
 * A directory that held nothing when mchost locked it ("fresh") is emptied
 * again after such a start; anything else is never removed from.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "datadir.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain/crypto.h"
#include "fsutil.h"
#include "log.h"
#include "minichain/error.h"
#include "minichain/types.h"

#define MARKER_FORMAT "minichain-data"
/* 2: consensus signatures name the chain (mc_consensus_sign), so the
 * certificates a version 1 directory holds no longer verify.  The
 * "consensus" key came later within version 2: it is additive, a marker
 * without it is completed on the next start, and a version-2 mchost from
 * before it ignores it, so no version bump. */
#define MARKER_VERSION 2
#define MARKER_MAX (1 << 16)

static char *path_join(const char *dir, const char *name) {
  size_t len = strlen(dir) + strlen(name) + 2;
  char *p = malloc(len);
  if (p != NULL)
    snprintf(p, len, "%s/%s", dir, name);
  return p;
}

static int no_memory(char *err, size_t errlen) {
  snprintf(err, errlen, "data directory: out of memory");
  return MC_ENOMEM;
}

void mc_datadir_init(mc_datadir *d) {
  memset(d, 0, sizeof *d);
  d->lock_fd = -1;
}

/* ---- creating and locking ---- */

static int make_dir(mc_datadir *d, char *err, size_t errlen) {
  struct stat st;
  if (stat(d->path, &st) == 0) {
    if (S_ISDIR(st.st_mode))
      return 0;
    snprintf(err, errlen, "data directory %s: not a directory", d->path);
    return MC_EINVAL;
  }
  if (mkdir(d->path, 0700) != 0) {
    snprintf(err, errlen, "data directory %s: cannot create: %s", d->path,
             strerror(errno));
    return MC_EIO;
  }
  d->made = 1;
  return 0;
}

/* 1 if fd is still the file named path: a failed start that empties its
 * fresh directory unlinks LOCK while holding it, and whoever locked the
 * unlinked file meanwhile must not take that for the directory's lock. */
static int still_named(int fd, const char *path) {
  struct stat a, b;
  return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

/* Opens and locks LOCK; *created tells whether this call made the file. */
static int take_lock(mc_datadir *d, const char *path, int *created) {
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  *created = fd >= 0;
  if (fd < 0 && errno == EEXIST)
    fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return MC_EIO;
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  if (fcntl(fd, F_SETLK, &fl) != 0 || !still_named(fd, path)) {
    close(fd);
    return MC_ESTATE;
  }
  d->lock_fd = fd;
  return 0;
}

/* 1 if the directory holds nothing but the LOCK this start created. */
static int holds_nothing(const char *dir, int lock_created) {
  DIR *dp = opendir(dir);
  if (dp == NULL)
    return 0;
  int others = 0;
  struct dirent *e;
  while ((e = readdir(dp)) != NULL) {
    const char *nm = e->d_name;
    if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0 ||
        (lock_created && strcmp(nm, MC_DATADIR_LOCK) == 0))
      continue;
    others++;
  }
  closedir(dp);
  return others == 0;
}

int mc_datadir_open(mc_datadir *d, const char *dir, char *err, size_t errlen) {
  mc_datadir_init(d);
  if ((d->path = strdup(dir)) == NULL)
    return no_memory(err, errlen);
  int rc = make_dir(d, err, errlen);
  if (rc != 0)
    return rc;
  char *lock = path_join(dir, MC_DATADIR_LOCK);
  if (lock == NULL)
    return no_memory(err, errlen);
  int created = 0;
  rc = take_lock(d, lock, &created);
  if (rc == MC_ESTATE)
    snprintf(err, errlen, "data directory %s is in use by another mchost",
             dir);
  else if (rc != 0)
    snprintf(err, errlen, "%s: cannot open: %s", lock, strerror(errno));
  free(lock);
  /* Judged under the lock: an mchost that ran meanwhile may have filled it. */
  if (rc == 0)
    d->fresh = holds_nothing(dir, created);
  else if (d->made)
    rmdir(d->path); /* ours, and nothing was put in it */
  return rc;
}

/* ---- the marker ---- */

static int refuse_engine(const char *path, const char *was, const char *now,
                         char *err, size_t errlen) {
  snprintf(err, errlen,
           "%s: data directory was run by consensus '%s', not '%s' (its "
           "state is in consensus-%s.state; --switch-consensus moves this "
           "directory to %s)",
           path, was, now, was, now);
  return MC_EFOREIGN;
}

static int check_version(const char *path, double ver, char *err,
                         size_t errlen) {
  if (ver == MARKER_VERSION)
    return 0;
  snprintf(err, errlen,
           "%s: data directory format %g, this mchost reads format %d%s", path,
           ver, MARKER_VERSION,
           ver < MARKER_VERSION
               ? " (written before consensus signatures named the chain: "
                 "its certificates no longer verify; start a new data "
                 "directory and sync it from the network)"
               : " (written by a newer mchost)");
  return MC_EVERSION;
}

/* The chain and the store: both must match, there is no switching them. */
static int check_owner(const char *path, const char *gh, const char *st,
                       const mc_datadir_owner *o, char *err, size_t errlen) {
  char hex[2 * MC_HASH_LEN + 1];
  mc_hex_encode(o->genesis_hash, MC_HASH_LEN, hex);
  if (strcmp(gh, hex) != 0) {
    snprintf(err, errlen,
             "%s: data directory holds chain %s, but --genesis gives %s", path,
             gh, hex);
    return MC_EFOREIGN;
  }
  if (strcmp(st, o->store) != 0) {
    snprintf(err, errlen,
             "%s: data directory was written by store '%s', not '%s' "
             "(start with --store %s.so)",
             path, st, o->store, st);
    return MC_EFOREIGN;
  }
  return 0;
}

/* The engine: recorded, absent (an older marker) or switched on request. */
static int check_engine(mc_datadir *d, const char *path, const cJSON *cs,
                        const mc_datadir_owner *o, int switch_engine,
                        char *err, size_t errlen) {
  if (cs == NULL) {
    d->todo = MC_MARKER_ADD_ENGINE;
    return 0;
  }
  if (strcmp(cs->valuestring, o->consensus) == 0) {
    d->todo = MC_MARKER_KEEP;
    return 0;
  }
  if (!switch_engine)
    return refuse_engine(path, cs->valuestring, o->consensus, err, errlen);
  d->todo = MC_MARKER_SWITCH;
  d->old_engine = strdup(cs->valuestring);
  return d->old_engine == NULL ? no_memory(err, errlen) : 0;
}

static int check_marker_doc(mc_datadir *d, const char *path, const cJSON *doc,
                            const mc_datadir_owner *o, int switch_engine,
                            char *err, size_t errlen) {
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(doc, "format");
  const cJSON *gh = cJSON_GetObjectItemCaseSensitive(doc, "genesis_hash");
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(doc, "store");
  const cJSON *ver = cJSON_GetObjectItemCaseSensitive(doc, "version");
  const cJSON *cs = cJSON_GetObjectItemCaseSensitive(doc, "consensus");
  if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, MARKER_FORMAT) != 0 ||
      !cJSON_IsString(gh) || !cJSON_IsString(st) || !cJSON_IsNumber(ver) ||
      (cs != NULL && (!cJSON_IsString(cs) || cs->valuestring[0] == '\0'))) {
    snprintf(err, errlen, "%s: not a MiniChain data directory marker", path);
    return MC_EFOREIGN;
  }
  int rc = check_version(path, ver->valuedouble, err, errlen);
  if (rc == 0)
    rc = check_owner(path, gh->valuestring, st->valuestring, o, err, errlen);
  if (rc == 0)
    rc = check_engine(d, path, cs, o, switch_engine, err, errlen);
  return rc;
}

int mc_datadir_check(mc_datadir *d, const mc_datadir_owner *o,
                     int switch_engine, char *err, size_t errlen) {
  char *path = path_join(d->path, MC_DATADIR_MARKER);
  if (path == NULL)
    return no_memory(err, errlen);
  uint8_t *txt = NULL;
  size_t len = 0;
  int rc = mc_read_file(path, MARKER_MAX, &txt, &len);
  if (rc == 0) {
    d->marker_txt = (char *)txt;
    cJSON *doc = cJSON_Parse(d->marker_txt);
    rc = check_marker_doc(d, path, doc, o, switch_engine, err, errlen);
    cJSON_Delete(doc);
  } else if (rc == MC_ENOTFOUND) {
    d->todo = MC_MARKER_NEW;
    rc = 0;
  } else {
    snprintf(err, errlen, "%s: cannot read: %s", path, mc_strerror(rc));
  }
  free(path);
  return rc;
}

/* ---- claiming ---- */

static cJSON *new_marker(const mc_datadir_owner *o) {
  char hex[2 * MC_HASH_LEN + 1];
  mc_hex_encode(o->genesis_hash, MC_HASH_LEN, hex);
  cJSON *doc = cJSON_CreateObject();
  cJSON_AddStringToObject(doc, "format", MARKER_FORMAT);
  cJSON_AddNumberToObject(doc, "version", MARKER_VERSION);
  cJSON_AddStringToObject(doc, "chain_id", o->chain_id);
  cJSON_AddStringToObject(doc, "genesis_hash", hex);
  cJSON_AddStringToObject(doc, "store", o->store);
  cJSON_AddStringToObject(doc, "consensus", o->consensus);
  return doc;
}

/* The marker as read with "consensus" set to o's engine; keys this mchost
 * does not know are kept. */
static cJSON *updated_marker(const char *txt, const mc_datadir_owner *o) {
  cJSON *doc = cJSON_Parse(txt);
  cJSON *name = cJSON_CreateString(o->consensus);
  if (doc == NULL || name == NULL) {
    cJSON_Delete(doc);
    cJSON_Delete(name);
    return NULL;
  }
  if (cJSON_HasObjectItem(doc, "consensus"))
    cJSON_ReplaceItemInObjectCaseSensitive(doc, "consensus", name);
  else
    cJSON_AddItemToObject(doc, "consensus", name);
  return doc;
}

static int write_marker(const char *path, cJSON *doc) {
  char *txt = doc != NULL ? cJSON_Print(doc) : NULL;
  cJSON_Delete(doc);
  if (txt == NULL)
    return MC_ENOMEM;
  int rc = mc_write_file_atomic(path, txt, strlen(txt));
  free(txt);
  return rc;
}

static void log_claim(const mc_datadir *d, const mc_datadir_owner *o) {
  char old_state[256];
  if (d->todo == MC_MARKER_SWITCH) {
    snprintf(old_state, sizeof old_state, "consensus-%s.state", d->old_engine);
    MC_LOG(MC_LOG_WARN, "consensus_switched", MC_LOG_F_S("data_dir", d->path),
           MC_LOG_F_S("from", d->old_engine), MC_LOG_F_S("to", o->consensus),
           MC_LOG_F_S("old_state", old_state)); /* left as it is */
  } else if (d->todo == MC_MARKER_ADD_ENGINE)
    MC_LOG(MC_LOG_INFO, "data_dir_marker_updated",
           MC_LOG_F_S("data_dir", d->path),
           MC_LOG_F_S("consensus", o->consensus));
}

int mc_datadir_claim(mc_datadir *d, const mc_datadir_owner *o, char *err,
                     size_t errlen) {
  if (d->todo == MC_MARKER_KEEP) {
    d->claimed = 1;
    return 0;
  }
  char *path = path_join(d->path, MC_DATADIR_MARKER);
  if (path == NULL)
    return no_memory(err, errlen);
  cJSON *doc = d->todo == MC_MARKER_NEW ? new_marker(o)
                                        : updated_marker(d->marker_txt, o);
  int rc = write_marker(path, doc);
  if (rc != 0)
    snprintf(err, errlen, "%s: cannot write: %s", path,
             rc == MC_EIO ? strerror(errno) : mc_strerror(rc));
  free(path);
  if (rc != 0)
    return rc;
  d->claimed = 1;
  log_claim(d, o);
  return 0;
}

/* ---- closing ---- */

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw) {
  (void)st, (void)flag;
  if (ftw->level == 0)
    return 0; /* the directory itself: the caller decides */
  if (remove(path) != 0)
    MC_LOG(MC_LOG_WARN, "data_dir_cleanup_failed", MC_LOG_F_S("path", path),
           MC_LOG_F_S("reason", strerror(errno)));
  return 0;
}

/* Everything in a fresh directory was made by this start (under its
 * lock); LOCK goes with the rest, last of all the lock itself. */
static void empty_fresh_dir(mc_datadir *d) {
  nftw(d->path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
  close(d->lock_fd);
  d->lock_fd = -1;
  if (d->made && rmdir(d->path) != 0)
    MC_LOG(MC_LOG_WARN, "data_dir_cleanup_failed",
           MC_LOG_F_S("path", d->path), MC_LOG_F_S("reason", strerror(errno)));
}

void mc_datadir_close(mc_datadir *d) {
  if (d->lock_fd >= 0 && d->fresh && !d->claimed)
    empty_fresh_dir(d);
  if (d->lock_fd >= 0)
    close(d->lock_fd);
  free(d->path);
  free(d->marker_txt);
  free(d->old_engine);
  mc_datadir_init(d);
}
