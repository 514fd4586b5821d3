/*
 * files.c - the kit's view of a data directory: snapshots that prove a
 * refused open changed nothing, and the removal and rewriting of files the
 * tests need.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

void remove_tree(const char *dir) {
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
      remove_tree(p);
    else
      unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

void empty_dir(const char *dir) {
  remove_tree(dir);
  if (mkdir(dir, 0700) != 0)
    CK_FAIL("mkdir %s: %s", dir, strerror(errno));
}

static char *read_whole(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (fp == NULL)
    CK_FAIL("%s: %s", path, strerror(errno));
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? 2 * cap : 4096;
      char *b = realloc(buf, cap);
      if (b == NULL) {
        free(buf);
        fclose(fp);
        CK_FAIL("out of memory reading %s", path);
      }
      buf = b;
    }
    size_t got = fread(buf + n, 1, cap - n, fp);
    n += got;
    if (got == 0)
      break;
  }
  int bad = ferror(fp);
  fclose(fp);
  if (bad) {
    free(buf);
    CK_FAIL("%s: read error", path);
  }
  *len = n;
  return buf;
}

void write_whole(const char *path, const void *data, size_t len) {
  FILE *fp = fopen(path, "wb");
  if (fp == NULL)
    CK_FAIL("%s: %s", path, strerror(errno));
  size_t put = fwrite(data, 1, len, fp);
  if (fclose(fp) != 0 || put != len)
    CK_FAIL("%s: write error", path);
}

static void append_bytes(snapshot *s, const void *p, size_t n) {
  char *b = realloc(s->bytes, s->len + n);
  if (b == NULL)
    CK_FAIL("out of memory taking a snapshot");
  s->bytes = b;
  memcpy(s->bytes + s->len, p, n);
  s->len += n;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static void free_snapshot(void *p) {
  snapshot *s = p;
  free(s->bytes);
  free(s);
}

/* One entry: name, NUL, length, content. */
static void add_file(snapshot *s, const char *dir, const char *name) {
  char p[4400];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s", dir, name);
  if (lstat(p, &st) != 0 || !S_ISREG(st.st_mode))
    return;
  size_t len = 0;
  char *data = read_whole(p, &len);
  ck_defer(free, data);
  append_bytes(s, name, strlen(name) + 1);
  append_bytes(s, &len, sizeof len);
  append_bytes(s, data, len);
  ck_release(data);
}

snapshot *snapshot_take(const char *dir) {
  snapshot *s = calloc(1, sizeof *s);
  if (s == NULL)
    CK_FAIL("out of memory taking a snapshot");
  ck_defer(free_snapshot, s);
  struct dirent **names;
  int n = scandir(dir, &names, NULL, by_name);
  if (n < 0)
    CK_FAIL("%s: %s", dir, strerror(errno));
  for (int i = 0; i < n; i++) {
    char name[256];
    snprintf(name, sizeof name, "%s", names[i]->d_name);
    free(names[i]);
    names[i] = NULL;
    add_file(s, dir, name);
  }
  free(names);
  return s;
}

/* The name of the entry at offset `at` of a snapshot, for the message. */
static const char *file_at(const snapshot *s, size_t at) {
  const char *last = "(none)";
  size_t off = 0;
  while (off < s->len && off <= at) {
    const char *name = s->bytes + off;
    size_t len;
    off += strlen(name) + 1;
    memcpy(&len, s->bytes + off, sizeof len);
    off += sizeof len + len;
    last = name;
  }
  return last;
}

void snapshot_same(const snapshot *before, const snapshot *after,
                   const char *what) {
  size_t n = before->len < after->len ? before->len : after->len;
  size_t i = 0;
  while (i < n && before->bytes[i] == after->bytes[i])
    i++;
  if (i == n && before->len == after->len)
    return;
  CK_FAIL("%s: the files changed (first difference in %s)", what,
          file_at(i < before->len ? before : after, i));
}

void each_file(const char *dir, void (*fn)(const char *path, size_t size)) {
  struct dirent **names;
  int n = scandir(dir, &names, NULL, by_name);
  if (n < 0)
    CK_FAIL("%s: %s", dir, strerror(errno));
  char (*paths)[4400] = calloc((size_t)n + 1, sizeof *paths);
  size_t *sizes = calloc((size_t)n + 1, sizeof *sizes);
  int m = 0;
  for (int i = 0; i < n; i++) {
    struct stat st;
    if (paths != NULL && sizes != NULL) {
      snprintf(paths[m], sizeof paths[m], "%s/%s", dir, names[i]->d_name);
      if (lstat(paths[m], &st) == 0 && S_ISREG(st.st_mode))
        sizes[m++] = (size_t)st.st_size;
    }
    free(names[i]);
  }
  free(names);
  if (paths == NULL || sizes == NULL) {
    free(paths);
    free(sizes);
    CK_FAIL("out of memory listing %s", dir);
  }
  ck_defer(free, paths);
  ck_defer(free, sizes);
  for (int i = 0; i < m; i++)
    fn(paths[i], sizes[i]);
  ck_release(sizes);
  ck_release(paths);
}
