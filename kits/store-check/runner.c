/*
 * runner.c - running one test of mc-store-check: its own directory, its
 * random stream, the failure jump, and the cleanup of what a failed test
 * left behind (stores still open, chains, snapshots).
 *
 * The cleanup list is why a failing test does not leak or leave a store
 * open for the next one: everything a test allocates through the kit's
 * helpers is registered here and released when the test ends, whichever
 * way it ends.
 */
#include "runner.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chain/crypto.h"
#include "check.h"
#include "fsutil.h"
#include "store_host.h"

typedef struct deferred {
  void (*fn)(void *);
  void *p;
} deferred;

static struct {
  jmp_buf jump;
  char failure[2048];
  deferred *defer;
  size_t ndefer, capdefer;
  uint64_t stream; /* the running test's random state */
} g_run;

void ck_fail_at(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  int n = snprintf(g_run.failure, sizeof g_run.failure, "%s:%d: ",
                   strrchr(file, '/') ? strrchr(file, '/') + 1 : file, line);
  va_start(ap, fmt);
  vsnprintf(g_run.failure + n, sizeof g_run.failure - (size_t)n, fmt, ap);
  va_end(ap);
  longjmp(g_run.jump, 1);
}

void ck_defer(void (*fn)(void *), void *p) {
  if (g_run.ndefer == g_run.capdefer) {
    size_t cap = g_run.capdefer ? 2 * g_run.capdefer : 16;
    deferred *d = realloc(g_run.defer, cap * sizeof *d);
    if (d == NULL) {
      fn(p);
      CK_FAIL("out of memory");
    }
    g_run.defer = d;
    g_run.capdefer = cap;
  }
  g_run.defer[g_run.ndefer++] = (deferred){fn, p};
}

static int take_deferred(void *p, deferred *out) {
  for (size_t i = g_run.ndefer; i-- > 0;)
    if (g_run.defer[i].p == p) {
      *out = g_run.defer[i];
      g_run.defer[i] = g_run.defer[--g_run.ndefer];
      return 1;
    }
  return 0;
}

void ck_release(void *p) {
  deferred d;
  if (take_deferred(p, &d))
    d.fn(d.p);
}

/* Newest first: a store is closed before the chain it was given. */
static void release_all(void) {
  while (g_run.ndefer > 0) {
    deferred d = g_run.defer[--g_run.ndefer];
    d.fn(d.p);
  }
  free(g_run.defer);
  g_run.defer = NULL;
  g_run.capdefer = 0;
}

void ck_note(const char *fmt, ...) {
  va_list ap;
  fputs("      ", stdout);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
}

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t ck_rand(void) { return splitmix(&g_run.stream); }

/* The test's seed depends on its name, not on its place in the run, so
 * that --only NAME makes the same choices as the full run did. */
static uint64_t test_seed(uint64_t run_seed, const char *name) {
  uint8_t buf[8 + sizeof(((ck_test *)0)->name)], h[MC_HASH_LEN];
  size_t len = strnlen(name, sizeof buf - 8);
  uint64_t s;
  memcpy(buf, &run_seed, 8);
  memcpy(buf + 8, name, len);
  mc_sha256(buf, 8 + len, h);
  memcpy(&s, h, sizeof s);
  return s;
}

/* The test's directory: SCRATCH/<name with '/' made '-'>. */
static int make_test_dir(const char *scratch, const char *name, char *dir,
                         size_t len) {
  int n = snprintf(dir, len, "%s/", scratch);
  for (const char *p = name; *p && (size_t)n + 1 < len; p++)
    dir[n++] = *p == '/' ? '-' : *p;
  dir[n] = '\0';
  mc_remove_tree(dir);
  if (mkdir(dir, 0700) != 0) {
    snprintf(g_run.failure, sizeof g_run.failure, "mkdir %.1800s: %s", dir,
             strerror(errno));
    return -1;
  }
  return 0;
}

int ck_run(const ck_test *t, const char *scratch, uint64_t run_seed,
           char *failure, size_t flen) {
  char dir[4096];
  g_run.failure[0] = '\0';
  g_run.stream = test_seed(run_seed, t->name);
  sh_forbidden_reset();
  volatile int failed = make_test_dir(scratch, t->name, dir, sizeof dir) != 0;
  if (!failed && setjmp(g_run.jump) == 0)
    t->fn(dir, t->arg);
  else
    failed = 1;
  release_all();
  /* Refused by the table already; failed here, after the store returned. */
  if (!failed && sh_forbidden_calls > 0) {
    snprintf(g_run.failure, sizeof g_run.failure,
             "the store called host service %s, which no store may use "
             "(%u call%s of forbidden services)",
             sh_forbidden_first, sh_forbidden_calls,
             sh_forbidden_calls == 1 ? "" : "s");
    failed = 1;
  }
  if (!failed)
    mc_remove_tree(dir);
  snprintf(failure, flen, "%s", g_run.failure);
  return failed;
}
