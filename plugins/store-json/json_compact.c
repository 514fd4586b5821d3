/*
 * json_compact.c - folding the journal into chain.json: writing the whole
 * document from memory, on a thread of json.so's own or inline.
 *
 * The loop thread takes a snapshot (the pointers to the lines of blocks
 * 0..H-1, which never change or move while the store is open, and a copy
 * of the accounts after block H-1) and starts the thread; it keeps
 * appending to the journal meanwhile.  The thread writes chain.json
 * through mc__jfile_replace (temp file, fsync, rename, fsync of the
 * directory) and then removes chain.journal.old, whose records the new
 * chain.json now holds.  It touches nothing else of the store: the
 * snapshot is its own, the directory descriptor is only read, and its
 * result is read by the loop thread after `done` is set and the thread is
 * joined.  Logging is left to the loop thread (the host's services are
 * for that thread only).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "json_internal.h"
#include "minichain/error.h"

static int emit_map(FILE *f, const mc__jview *v, const char *name,
                    int balances) {
  if (fprintf(f, "\"%s\":{", name) < 0)
    return -1;
  for (size_t i = 0; i < v->naccts; i++) {
    char hex[2 * MC_PUBKEY_LEN + 1], num[23];
    const mc_account *a = &v->accts[i];
    mc__jhex_encode(a->pubkey, MC_PUBKEY_LEN, hex);
    mc__ju64_format(balances ? a->balance : a->nonce, num);
    if (fprintf(f, "%s\n\"%s\":%s", i ? "," : "", hex, num) < 0)
      return -1;
  }
  return fputs("}", f) < 0 ? -1 : 0;
}

/* One block per line, so that the file reads (and diffs) block by block,
 * and so that json_doc.c can read it back a line at a time. */
int mc__jdoc_emit(FILE *f, void *arg) {
  const mc__jview *v = arg;
  if (fprintf(f, "%s", MC_JSON_DOC_HEAD) < 0)
    return -1;
  for (size_t i = 0; i < v->nlines; i++)
    if (fputs(i ? ",\n" : "\n", f) < 0 || fputs(v->lines[i], f) < 0)
      return -1;
  if (fputs("],\n", f) < 0 || emit_map(f, v, "accounts", 1) != 0 ||
      fputs(",\n", f) < 0 || emit_map(f, v, "nonces", 0) != 0)
    return -1;
  return fputs("}\n", f) < 0 ? -1 : 0;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void mc__jcompact_run(mc__jcompact *c) {
  mc__jview v = {c->lines, c->nlines, c->accts, c->naccts};
  uint64_t t0 = now_ms();
  c->why[0] = '\0';
  c->rc =
      mc__jfile_replace(c->dirfd, MC_JSON_FILE, MC_JSON_TMP_FILE, mc__jdoc_emit,
                        &v, &c->renamed, c->why, sizeof c->why);
  struct stat st;
  c->bytes = c->renamed && fstatat(c->dirfd, MC_JSON_FILE, &st, 0) == 0
                 ? (uint64_t)st.st_size
                 : 0;
  if (c->rc == 0 && c->drop_old &&
      unlinkat(c->dirfd, MC_JSON_JOURNAL_OLD, 0) != 0 && errno != ENOENT) {
    snprintf(c->why, sizeof c->why, "cannot remove %s: %s", MC_JSON_JOURNAL_OLD,
             strerror(errno));
    c->old_left = 1;
  }
  c->ms = now_ms() - t0;
}

static void *worker(void *arg) {
  mc__jcompact *c = arg;
  mc__jcompact_run(c);
  atomic_store(&c->done, 1);
  return NULL;
}

int mc__jcompact_snapshot(mc__jcompact *c, int dirfd, char *const *lines,
                          size_t nlines, const mc_account *accts,
                          size_t naccts) {
  memset(c, 0, sizeof *c);
  c->dirfd = dirfd;
  c->lines = malloc((nlines ? nlines : 1) * sizeof *c->lines);
  c->accts = malloc((naccts ? naccts : 1) * sizeof *c->accts);
  if (c->lines == NULL || c->accts == NULL) {
    mc__jcompact_clear(c);
    return MC_ENOMEM;
  }
  memcpy(c->lines, lines, nlines * sizeof *lines);
  memcpy(c->accts, accts, naccts * sizeof *accts);
  c->nlines = nlines;
  c->naccts = naccts;
  return 0;
}

int mc__jcompact_start(mc__jcompact *c) {
  atomic_init(&c->done, 0);
  if (pthread_create(&c->thread, NULL, worker, c) != 0)
    return MC_EIO;
  c->running = 1;
  return 0;
}

int mc__jcompact_poll(mc__jcompact *c, int wait) {
  if (!c->running || (!wait && !atomic_load(&c->done)))
    return 0;
  pthread_join(c->thread, NULL);
  c->running = 0;
  return 1;
}

void mc__jcompact_clear(mc__jcompact *c) {
  free(c->lines);
  free(c->accts);
  c->lines = NULL;
  c->accts = NULL;
  c->nlines = c->naccts = 0;
}
