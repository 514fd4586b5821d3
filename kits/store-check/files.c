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
#include "fsutil.h"


void empty_dir(const char *dir) {
  mc_remove_tree(dir);
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

/* Calls fn for every regular file under root/rel, depth first, in name
 * order (rel "" is root itself): a store may keep its files in
 * subdirectories (leveldb.so does). */
typedef void (*file_fn)(void *arg, const char *root, const char *rel,
                        size_t size);

static void walk(const char *root, const char *rel, file_fn fn, void *arg) {
  char dir[4400];
  struct dirent **names;
  snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
  int n = scandir(dir, &names, NULL, by_name);
  if (n < 0)
    CK_FAIL("%s: %s", dir, strerror(errno));
  ck_defer(free, names);
  for (int i = 0; i < n; i++) {
    char sub[4400], p[8800];
    struct stat st;
    ck_defer(free, names[i]);
    const char *name = names[i]->d_name;
    if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
      snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", name);
      snprintf(p, sizeof p, "%s/%s", root, sub);
      if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
        walk(root, sub, fn, arg);
      else if (S_ISREG(st.st_mode))
        fn(arg, root, sub, (size_t)st.st_size);
    }
    ck_release(names[i]);
  }
  ck_release(names);
}

static void free_snapshot(void *p) {
  snapshot *s = p;
  free(s->bytes);
  free(s);
}

const char *const *ck_unchecked;

static int is_unchecked(const char *rel) {
  for (size_t i = 0; ck_unchecked != NULL && ck_unchecked[i] != NULL; i++)
    if (strcmp(ck_unchecked[i], rel) == 0)
      return 1;
  return 0;
}

/* One entry: relative name, NUL, length, content. */
static void add_file(void *arg, const char *root, const char *rel,
                     size_t size) {
  snapshot *s = arg;
  char p[8800];
  size_t len = 0;
  (void)size;
  if (is_unchecked(rel))
    return;
  snprintf(p, sizeof p, "%s/%s", root, rel);
  char *data = read_whole(p, &len);
  ck_defer(free, data);
  append_bytes(s, rel, strlen(rel) + 1);
  append_bytes(s, &len, sizeof len);
  append_bytes(s, data, len);
  ck_release(data);
}

snapshot *snapshot_take(const char *dir) {
  snapshot *s = calloc(1, sizeof *s);
  if (s == NULL)
    CK_FAIL("out of memory taking a snapshot");
  ck_defer(free_snapshot, s);
  walk(dir, "", add_file, s);
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

typedef struct path_fn {
  void (*fn)(const char *path, size_t size);
} path_fn;

static void call_path_fn(void *arg, const char *root, const char *rel,
                         size_t size) {
  char p[8800];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  ((path_fn *)arg)->fn(p, size);
}

void each_file(const char *dir, void (*fn)(const char *path, size_t size)) {
  path_fn f = {fn};
  walk(dir, "", call_path_fn, &f);
}
