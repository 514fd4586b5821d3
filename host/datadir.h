/*
 * datadir.h - the node's data directory: its lock, its marker file
 * (mchost.json) and leaving a new directory as it was found when a start
 * fails.
 *
 * The order of a start (docs/OPERATIONS.md, "The data directory"):
 *   mc_datadir_open   creates the directory if missing, takes LOCK, and
 *                     notes whether the directory held nothing ("fresh");
 *   mc_datadir_check  reads an existing marker and refuses a directory of
 *                     another chain, store or consensus engine, before the
 *                     store opens it;
 *   ... the store opens, the engine is created, the node listens ...
 *   mc_datadir_claim  writes the marker (new, or updated): from then on the
 *                     directory belongs to this chain, store and engine;
 *   mc_datadir_close  if the start failed before the claim and the
 *                     directory was fresh, removes everything in it (and
 *                     the directory itself if mchost made it); then unlocks.
 * A directory that held anything when it was locked is never emptied.
 */
#ifndef MC_DATADIR_H
#define MC_DATADIR_H

#include <stddef.h>
#include <stdint.h>

#define MC_DATADIR_MARKER "mchost.json"
#define MC_DATADIR_LOCK "LOCK"

/* What mc_datadir_claim has to write. */
typedef enum mc_marker_todo {
  MC_MARKER_KEEP = 0,    /* the marker is right as it is */
  MC_MARKER_NEW,         /* no marker yet: write one */
  MC_MARKER_ADD_ENGINE,  /* a marker from before "consensus" was recorded */
  MC_MARKER_SWITCH       /* --switch-consensus to another engine */
} mc_marker_todo;

typedef struct mc_datadir {
  char *path;          /* the directory as given (malloc'd) */
  int lock_fd;         /* LOCK, held with F_SETLK; -1 when not held */
  int made;            /* mchost created the directory */
  int fresh;           /* nothing but our own LOCK in it when locked */
  int claimed;         /* the marker is written: never empty it again */
  mc_marker_todo todo; /* set by mc_datadir_check */
  char *marker_txt;    /* the marker as read, or NULL */
  char *old_engine;    /* the engine the marker named (SWITCH), or NULL */
} mc_datadir;

/* Who the marker says the directory belongs to.  Pointers are borrowed. */
typedef struct mc_datadir_owner {
  const char *chain_id;
  const uint8_t *genesis_hash; /* MC_HASH_LEN bytes */
  const char *store;           /* the plugins' descriptor names */
  const char *consensus;
} mc_datadir_owner;

/* Sets d to "nothing open" (mc_datadir_close is then a no-op). */
void mc_datadir_init(mc_datadir *d);

/*
 * Creates dir (mode 0700) when missing and takes its LOCK.  Returns 0,
 * MC_EINVAL (not a directory), MC_EIO (cannot create) or MC_ESTATE (in use
 * by another mchost), with a one-line reason in err.
 */
int mc_datadir_open(mc_datadir *d, const char *dir, char *err, size_t errlen);

/*
 * Reads the marker, if any, and checks it against o.  A marker naming
 * another consensus engine is refused unless switch_engine is set.
 * Writes nothing.  Returns 0, MC_EFOREIGN or MC_EVERSION (refused),
 * MC_EIO or MC_ENOMEM, with a one-line reason in err.
 */
int mc_datadir_check(mc_datadir *d, const mc_datadir_owner *o,
                     int switch_engine, char *err, size_t errlen);

/*
 * Writes what mc_datadir_check found missing (a new marker, the engine's
 * name, a switch to o->consensus), atomically, and logs a change to an
 * existing marker.  Call once the node is ready to run.  Returns 0 or
 * MC_EIO/MC_ENOMEM with a one-line reason in err.
 */
int mc_datadir_claim(mc_datadir *d, const mc_datadir_owner *o, char *err,
                     size_t errlen);

/*
 * Empties a fresh, unclaimed directory (removing it if mchost made it),
 * then releases LOCK and frees d.  Call after the store and the engine are
 * closed.
 */
void mc_datadir_close(mc_datadir *d);

#endif /* MC_DATADIR_H */
