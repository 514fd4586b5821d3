/*
 * fsutil.c - atomic and durable file writes, bounded file reads.
 *
 * A rename is atomic but not durable until the directory holding it is
 * fsynced; both steps are here so no caller forgets the second.
 */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "minichain/error.h"

int mc_fsync_parent_dir(const char *path) {
  char *copy = strdup(path);
  if (copy == NULL)
    return MC_ENOMEM;
  int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  free(copy);
  if (fd < 0)
    return MC_EIO;
  int rc = fsync(fd) == 0 ? 0 : MC_EIO;
  close(fd);
  return rc;
}

static int write_all(int fd, const uint8_t *p, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return MC_EIO;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int mc_write_file_atomic(const char *path, const void *data, size_t len) {
  size_t n = strlen(path) + 5;
  char *tmp = malloc(n);
  if (tmp == NULL)
    return MC_ENOMEM;
  snprintf(tmp, n, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int rc = fd < 0 ? MC_EIO : write_all(fd, data, len);
  if (rc == 0 && fsync(fd) != 0)
    rc = MC_EIO;
  if (fd >= 0 && close(fd) != 0 && rc == 0)
    rc = MC_EIO;
  if (rc == 0 && rename(tmp, path) != 0)
    rc = MC_EIO;
  if (rc != 0) {
    int saved = errno;
    unlink(tmp);
    errno = saved;
  } else {
    rc = mc_fsync_parent_dir(path);
  }
  free(tmp);
  return rc;
}

int mc_read_file(const char *path, size_t max, uint8_t **out, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? MC_ENOTFOUND : MC_EIO;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return MC_EIO;
  }
  if ((uint64_t)st.st_size > max) {
    close(fd);
    return MC_ETOOBIG;
  }
  size_t size = (size_t)st.st_size;
  uint8_t *buf = malloc(size + 1);
  if (buf == NULL) {
    close(fd);
    return MC_ENOMEM;
  }
  size_t got = 0;
  while (got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  close(fd);
  if (got != size) {
    free(buf);
    return MC_EIO;
  }
  buf[size] = '\0';
  *out = buf;
  *len = size;
  return 0;
}

void mc_remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char p[4400];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      mc_remove_tree(p);
    else
      unlink(p);
  }
  closedir(d);
  rmdir(dir);
}
