/*
 * json_file.c - the file operations json.so's guarantees rest on.
 *
 * Replacing chain.json is the classic sequence: write the new content to
 * a temp file, fsync it, rename it over the old one, fsync the directory.
 * rename() is atomic, so a crash at any point leaves either the whole old
 * file or the whole new one; the two fsyncs make the new one survive a
 * power loss once we report success.  Everything is relative to the data
 * directory's descriptor, so a directory renamed under us cannot make us
 * write elsewhere.
 *
 * The temp file goes to the disk in steps (WRITEBACK_STEP), each waited
 * for, rather than all at the final fsync: a rewrite of chain.json runs on
 * json.so's compaction thread beside appends, and one fsync of hundreds
 * of MB would queue in front of every journal fdatasync until it is done.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json_internal.h"
#include "minichain/error.h"

static int io_error(char *err, size_t errlen, const char *what,
                    const char *name, int e) {
  snprintf(err, errlen, "%s %s: %s", what, name, strerror(e));
  return MC_EIO;
}

static int read_all(int fd, char *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t r = read(fd, buf + got, len - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return -1;
    if (r == 0) {
      errno = EIO; /* shrank while we read it */
      return -1;
    }
    got += (size_t)r;
  }
  return 0;
}

int mc__jfile_read(int dirfd, const char *name, char **data, size_t *len,
                   char *err, size_t errlen) {
  int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT)
    return MC_ENOTFOUND;
  if (fd < 0)
    return io_error(err, errlen, "cannot open", name, errno);
  struct stat st;
  int e = fstat(fd, &st) != 0 ? errno : 0;
  if (e || !S_ISREG(st.st_mode)) {
    close(fd);
    if (!e)
      snprintf(err, errlen, "%s is not a regular file", name);
    return e ? io_error(err, errlen, "cannot read", name, e) : MC_EIO;
  }
  char *buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    close(fd);
    snprintf(err, errlen, "out of memory reading %s", name);
    return MC_ENOMEM;
  }
  if (read_all(fd, buf, (size_t)st.st_size) != 0) {
    e = errno;
    free(buf);
    close(fd);
    return io_error(err, errlen, "cannot read", name, e);
  }
  close(fd);
  buf[st.st_size] = '\0';
  *data = buf;
  *len = (size_t)st.st_size;
  return 0;
}

#define WRITEBACK_STEP (8 << 20)

/* What the temp file's FILE writes through. */
typedef struct sink {
  int fd;
  off_t written, synced;
} sink;

static ssize_t sink_write(void *cookie, const char *buf, size_t n) {
  sink *k = cookie;
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(k->fd, buf + done, n - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -1;
    done += (size_t)w;
  }
  k->written += (off_t)n;
  if (k->written - k->synced >= WRITEBACK_STEP) {
    /* Errors here come back from the final fsync. */
    sync_file_range(k->fd, k->synced, k->written - k->synced,
                    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                        SYNC_FILE_RANGE_WAIT_AFTER);
    k->synced = k->written;
  }
  return (ssize_t)n;
}

/* Writes and fsyncs the temp file; its descriptor is closed either way. */
static int write_temp(int dirfd, const char *tmp_name, mc__jfile_emit_fn emit,
                      void *arg, char *err, size_t errlen) {
  sink k = {-1, 0, 0};
  k.fd =
      openat(dirfd, tmp_name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (k.fd < 0)
    return io_error(err, errlen, "cannot create", tmp_name, errno);
  cookie_io_functions_t io = {.write = sink_write};
  FILE *f = fopencookie(&k, "w", io);
  if (!f || setvbuf(f, NULL, _IOFBF, 1 << 16) != 0) {
    int e = errno;
    if (f)
      fclose(f);
    close(k.fd);
    return io_error(err, errlen, "cannot write", tmp_name, e);
  }
  errno = 0;
  int bad = emit(f, arg) != 0 || fflush(f) != 0 || ferror(f);
  int e = errno ? errno : EIO;
  if (fclose(f) != 0 && !bad) {
    bad = 1;
    e = errno;
  }
  if (!bad && fsync(k.fd) != 0) {
    bad = 1;
    e = errno;
  }
  close(k.fd);
  return bad ? io_error(err, errlen, "cannot write", tmp_name, e) : 0;
}

int mc__jfile_replace(int dirfd, const char *name, const char *tmp_name,
                      mc__jfile_emit_fn emit, void *arg, int *renamed,
                      char *err, size_t errlen) {
  *renamed = 0;
  int rc = write_temp(dirfd, tmp_name, emit, arg, err, errlen);
  if (rc == 0 && renameat(dirfd, tmp_name, dirfd, name) != 0)
    rc = io_error(err, errlen, "cannot rename over", name, errno);
  if (rc != 0) {
    unlinkat(dirfd, tmp_name, 0);
    return rc;
  }
  *renamed = 1;
  if (fsync(dirfd) != 0)
    return io_error(err, errlen, "cannot sync the directory of", name, errno);
  return 0;
}
