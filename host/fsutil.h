/*
 * fsutil.h - durable file operations used by the host.
 */
#ifndef MC_FSUTIL_H
#define MC_FSUTIL_H

#include <stddef.h>
#include <stdint.h>

/*
 * Replaces the file at path with len bytes, durably: writes path.tmp,
 * fsyncs it, renames it over path, fsyncs the directory.  On failure the
 * old file is left as it was.  Returns 0 or MC_EIO (errno kept).
 */
int mc_write_file_atomic(const char *path, const void *data, size_t len);

/*
 * Reads a whole file of at most max bytes into a malloc'd buffer with a
 * NUL appended (not counted in *len).  Returns 0, MC_ENOTFOUND (no such
 * file), MC_ETOOBIG, MC_EIO or MC_ENOMEM.
 */
int mc_read_file(const char *path, size_t max, uint8_t **out, size_t *len);

/* fsync of the directory that contains path. */
int mc_fsync_parent_dir(const char *path);

/* Removes dir and everything below it, without following symbolic links
 * (a link is removed, not what it points to).  Best effort: what cannot
 * be removed stays, and nothing says so (for scratch folders of tests and
 * benchmarks). */
void mc_remove_tree(const char *dir);

#endif /* MC_FSUTIL_H */
