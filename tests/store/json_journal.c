/*
 * json_journal.c - json.so's journal and compaction under crashes and
 * damage (mc-store-check checks the contract every store shares;
 * this checks what only json.so's files can get wrong).
 *
 *   json_journal JSON.so SCRATCH_DIR
 *
 * - kill -9 during appends, many times at random moments: a child appends
 *   and reports each height whose append returned 0 through a pipe; every
 *   reported block must be there after a reopen, with the state of the
 *   head, and the store must open cleanly;
 * - the same with compactions running all the time (MC_JSON_COMPACT_BYTES
 *   small), so that kills land inside them too;
 * - the state a crash between a compaction's rename of chain.json and its
 *   removal of chain.journal.old leaves;
 * - a torn last record (cut at several points, or followed by zeroes or
 *   garbage) is cut off, and appending goes on after it;
 * - a damaged record before an intact one, a missing record and a
 *   repeated one are refused with MC_ECORRUPT, and no file changes;
 * - a failed (partial) journal write leaves the files as they were, and
 *   the store's memory too (an account the block would create is absent);
 * - a chain.json line reformatted by hand is still read, one edited to
 *   be wrong is refused with its reason;
 * - after a clean close chain.json alone holds every block, no journal is
 *   left, and chain.json is a valid document in the seed's format.
 *
 * MC_JSON_JOURNAL_KILLS (environment) sets how many kills the two kill
 * tests make (default 40 each).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "chain/codec.h"
#include "fsutil.h"
#include "minichain/error.h"
#include "store_host.h"
#include "synthetic_chain.h"

static const mc_store_vtable *vt;
static const char *g_scratch;

/* ---- directories and files ----------------------------------------------- */

typedef struct fixture {
  char dir[4096];
} fixture;


static void empty_dir(const char *dir) {
  mc_remove_tree(dir);
  assert_int_equal(mkdir(dir, 0755), 0);
}

static int setup_dir(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (f == NULL)
    return -1;
  snprintf(f->dir, sizeof f->dir, "%s/json-journal-XXXXXX", g_scratch);
  if (mkdtemp(f->dir) == NULL) {
    free(f);
    return -1;
  }
  *state = f;
  return 0;
}

static int teardown_dir(void **state) {
  fixture *f = *state;
  mc_remove_tree(f->dir);
  free(f);
  unsetenv("MC_JSON_COMPACT_BYTES");
  return 0;
}

/* dir/name in one of four static buffers (valid for the next three calls). */
static char *path_in(const char *dir, const char *name) {
  static char p[4][4400];
  static int next;
  char *out = p[next++ % 4];
  if (snprintf(out, sizeof p[0], "%s/%s", dir, name) >= (int)sizeof p[0])
    fail_msg("path too long: %s/%s", dir, name);
  return out;
}

static int exists(const char *dir, const char *name) {
  struct stat st;
  return stat(path_in(dir, name), &st) == 0;
}

static char *read_file(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (fp == NULL)
    return NULL;
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
  buf[n] = '\0';
  fclose(fp);
  *len = (size_t)n;
  return buf;
}

static void write_file(const char *path, const void *data, size_t len) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(data, 1, len, fp), len);
  assert_int_equal(fclose(fp), 0);
}

static void copy_file(const char *from, const char *to) {
  size_t len;
  char *data = read_file(from, &len);
  assert_non_null(data);
  write_file(to, data, len);
  free(data);
}

/* Every file of dir, names and contents, as one byte string. */
static char *snapshot(const char *dir, size_t *len) {
  struct dirent **names;
  int n = scandir(dir, &names, NULL, alphasort);
  assert_true(n >= 0);
  char *out = NULL;
  size_t used = 0;
  for (int i = 0; i < n; i++) {
    size_t flen = 0;
    char *data = NULL;
    if (names[i]->d_name[0] != '.')
      data = read_file(path_in(dir, names[i]->d_name), &flen);
    size_t nlen = strlen(names[i]->d_name) + 1;
    out = realloc(out, used + nlen + sizeof flen + flen);
    assert_non_null(out);
    memcpy(out + used, names[i]->d_name, nlen);
    memcpy(out + used + nlen, &flen, sizeof flen);
    if (flen)
      memcpy(out + used + nlen + sizeof flen, data, flen);
    used += nlen + sizeof flen + flen;
    free(data);
    free(names[i]);
  }
  free(names);
  *len = used;
  return out;
}

/* ---- the store ----------------------------------------------------------- */

static mc_store *open_ok(const char *dir) {
  char err[1024] = "";
  mc_store *s = NULL;
  int rc = vt->open(&sh_api, sh_host(), dir, &s, err, sizeof err);
  if (rc != 0)
    fail_msg("open %s: %s: %s", dir, mc_err_name(rc), err);
  return s;
}

static void append_ok(mc_store *s, const sh_chain *c, size_t from, size_t to) {
  for (size_t h = from; h < to; h++) {
    int rc = vt->append(s, c->b[h], c->chg[h], c->nchg[h]);
    if (rc != 0)
      fail_msg("append %zu: %s", h, mc_err_name(rc));
  }
}

static void assert_block_equal(const mc_block *a, const mc_block *b) {
  uint8_t *ea, *eb;
  size_t la, lb;
  assert_int_equal(mc_block_encode(a, &ea, &la), 0);
  assert_int_equal(mc_block_encode(b, &eb, &lb), 0);
  assert_int_equal(la, lb);
  assert_memory_equal(ea, eb, la);
  free(ea);
  free(eb);
  assert_memory_equal(a->hash, b->hash, MC_HASH_LEN);
  for (uint32_t i = 0; i < a->header.tx_count; i++)
    assert_memory_equal(a->txs[i].id, b->txs[i].id, MC_HASH_LEN);
}

typedef struct walk {
  size_t calls;
} walk;

static int count_cb(void *arg, const mc_account *a) {
  (void)a;
  ((walk *)arg)->calls++;
  return 0;
}

/* The store holds exactly blocks 0..h of c and the accounts after h. */
static void assert_holds(mc_store *s, const sh_chain *c, size_t h) {
  uint64_t head;
  uint8_t hash[MC_HASH_LEN];
  assert_int_equal(vt->head(s, &head, hash), 0);
  assert_int_equal(head, h);
  for (size_t i = 0; i <= h; i++) {
    mc_block *b = NULL;
    assert_int_equal(vt->get_block(s, i, &b), 0);
    assert_block_equal(b, c->b[i]);
    vt->free_block(s, b);
  }
  mc_account *want = calloc(c->naccts, sizeof *want);
  int *present = calloc(c->naccts, sizeof *present);
  assert_true(want && present);
  sh_chain_state(c, h, want, present);
  size_t npresent = 0;
  for (size_t k = 0; k < c->naccts; k++) {
    mc_account a;
    if (!present[k])
      continue;
    npresent++;
    assert_int_equal(vt->get_account(s, want[k].pubkey, &a), 0);
    assert_int_equal(a.balance, want[k].balance);
    assert_int_equal(a.nonce, want[k].nonce);
  }
  walk w = {0};
  assert_int_equal(vt->each_account(s, count_cb, &w), 0);
  assert_int_equal(w.calls, npresent);
  free(want);
  free(present);
}

/* Opens dir, checks it holds a prefix of c, returns its head (-1: empty). */
static long check_prefix(const char *dir, const sh_chain *c) {
  mc_store *s = open_ok(dir);
  uint64_t head;
  uint8_t hash[MC_HASH_LEN];
  int rc = vt->head(s, &head, hash);
  long out = -1;
  if (rc == 0) {
    assert_true(head < c->n);
    assert_holds(s, c, (size_t)head);
    out = (long)head;
  } else {
    assert_int_equal(rc, MC_ENOTFOUND);
  }
  vt->close(s);
  return out;
}

static void assert_refused(const char *dir, const char *says,
                           const char *what) {
  size_t l1, l2;
  char *before = snapshot(dir, &l1);
  char err[1024] = "";
  mc_store *s = NULL;
  int rc = vt->open(&sh_api, sh_host(), dir, &s, err, sizeof err);
  if (rc != MC_ECORRUPT)
    fail_msg("%s: open gave %s (%s), not ECORRUPT", what, mc_err_name(rc), err);
  assert_null(s);
  if (strstr(err, says) == NULL)
    fail_msg("%s: \"%s\" does not say \"%s\"", what, err, says);
  print_message("  refused %-36s %s\n", what, err);
  char *after = snapshot(dir, &l2);
  assert_int_equal(l1, l2);
  assert_memory_equal(before, after, l1);
  free(before);
  free(after);
}

/* ---- the journal's records, as the test sees them ------------------------ */

#define JHEAD 16

/* Offsets of the records of a journal's bytes (the last entry is where
 * the records end); returns how many records. */
static size_t record_offsets(const char *data, size_t len, size_t *off,
                             size_t max) {
  size_t n = 0, pos = JHEAD;
  while (pos + 8 <= len && n < max) {
    uint32_t payload;
    memcpy(&payload, data + pos + 4, 4); /* little-endian hosts only */
    off[n++] = pos;
    pos += 8 + payload + 16;
  }
  assert_int_equal(pos, len);
  off[n] = pos;
  return n;
}

/* A directory holding c[0..n) in chain.journal only (no close: the files
 * as a crash after the last append would leave them). */
static void journal_only(const char *dir, const sh_chain *c, size_t n) {
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    char err[1024];
    mc_store *s = NULL;
    if (vt->open(&sh_api, sh_host(), dir, &s, err, sizeof err) != 0)
      _exit(3);
    for (size_t h = 0; h < n; h++)
      if (vt->append(s, c->b[h], c->chg[h], c->nchg[h]) != 0)
        _exit(4);
    _exit(0); /* no close */
  }
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  assert_true(exists(dir, "chain.journal"));
  assert_false(exists(dir, "chain.json"));
}

/* ---- kill -9 ------------------------------------------------------------- */

/* The child: appends c from the store's head on, writing each height whose
 * append returned 0 to fd. */
static void appender(const char *dir, const sh_chain *c, int fd) {
  char err[1024];
  mc_store *s = NULL;
  uint64_t head;
  uint8_t hash[MC_HASH_LEN];
  if (vt->open(&sh_api, sh_host(), dir, &s, err, sizeof err) != 0) {
    fprintf(stderr, "appender: open: %s\n", err);
    _exit(3);
  }
  size_t from = vt->head(s, &head, hash) == 0 ? (size_t)head + 1 : 0;
  for (size_t h = from; h < c->n; h++) {
    if (vt->append(s, c->b[h], c->chg[h], c->nchg[h]) != 0)
      _exit(4);
    uint64_t v = h;
    if (write(fd, &v, sizeof v) != sizeof v)
      _exit(5);
  }
  vt->close(s);
  _exit(0);
}

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Runs the appender and kills it after delay_us (0: lets it finish).
 * Returns the highest height it reported durable (-1: none); *killed says
 * whether the kill landed. */
static long run_appender(const char *dir, const sh_chain *c, uint64_t delay_us,
                         int *killed) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(p[0]);
    appender(dir, c, p[1]);
  }
  close(p[1]);
  if (delay_us) {
    usleep((useconds_t)delay_us);
    kill(pid, SIGKILL);
  }
  long best = -1;
  uint64_t v;
  while (read(p[0], &v, sizeof v) == (ssize_t)sizeof v)
    best = (long)v;
  close(p[0]);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  *killed = WIFSIGNALED(st);
  if (!*killed && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
    fail_msg("appender failed with status %d", st);
  return best;
}

static int kills_wanted(void) {
  const char *env = getenv("MC_JSON_JOURNAL_KILLS");
  return env ? atoi(env) : 40;
}

/* Kills appenders at random moments until `kills` kills have landed;
 * returns how many found chain.journal.old (a compaction under way). */
static int kill_loop(const char *dir, const sh_chain *c, int kills) {
  uint64_t t0 = now_us();
  int killed;
  assert_int_equal(run_appender(dir, c, 0, &killed), (long)c->n - 1);
  uint64_t full_us = now_us() - t0;
  assert_int_equal(check_prefix(dir, c), (long)c->n - 1);
  empty_dir(dir);
  unsigned seed = (unsigned)time(NULL);
  srand(seed);
  print_message("  full run %llu us; %d kills, seed %u\n",
                (unsigned long long)full_us, kills, seed);
  int landed = 0, mid = 0, old_seen = 0;
  long last = -1;
  for (int i = 0; landed < kills && i < 20 * kills; i++) {
    uint64_t delay = 1 + (uint64_t)rand() % (full_us / 3 + 1);
    long reported = run_appender(dir, c, delay, &killed);
    landed += killed;
    old_seen += exists(dir, "chain.journal.old");
    long head = check_prefix(dir, c);
    /* Every block whose append returned 0 is there. */
    if (head < reported)
      fail_msg("kill %d (seed %u): appender reported %ld durable, store "
               "holds %ld",
               i, seed, reported, head);
    assert_true(head >= last);
    if (killed && head < (long)c->n - 1)
      mid++;
    last = head;
    if (head == (long)c->n - 1) {
      empty_dir(dir);
      last = -1;
    }
  }
  print_message("  %d kills landed, %d cut a chain short, %d found a "
                "compaction under way\n",
                landed, mid, old_seen);
  assert_true(mid > 0);
  return old_seen;
}

static void kill_during_append(void **state) {
  fixture *f = *state;
  sh_chain *c = sh_chain_new(120, 8, 40, 64);
  assert_non_null(c);
  kill_loop(f->dir, c, kills_wanted());
  sh_chain_free(c);
}

static void kill_during_compaction(void **state) {
  fixture *f = *state;
  /* Blocks of ~4 KB: a compaction every few appends. */
  setenv("MC_JSON_COMPACT_BYTES", "12000", 1);
  sh_chain *c = sh_chain_new(150, 8, 40, 64);
  assert_non_null(c);
  int old_seen = kill_loop(f->dir, c, kills_wanted());
  /* Kills that found chain.journal.old landed inside a compaction (or
   * between its start and the next open). */
  assert_true(old_seen > 0);
  sh_chain_free(c);
}

/* ---- a compaction cut short between its two steps ------------------------ */

static void compaction_cut_short(void **state) {
  fixture *f = *state;
  sh_chain *c = sh_chain_new(30, 4, 20, 0);
  assert_non_null(c);
  /* chain.journal with blocks 0..19, then chain.json with all 30 (a clean
   * close), then the old journal put back as chain.journal.old: what a
   * crash after the rename of chain.json and before the removal of
   * chain.journal.old leaves. */
  journal_only(f->dir, c, 20);
  copy_file(path_in(f->dir, "chain.journal"), path_in(f->dir, "j.keep"));
  mc_store *s = open_ok(f->dir);
  append_ok(s, c, 20, 30);
  vt->close(s);
  assert_false(exists(f->dir, "chain.journal"));
  assert_int_equal(
      rename(path_in(f->dir, "j.keep"), path_in(f->dir, "chain.journal.old")),
      0);
  s = open_ok(f->dir);
  assert_holds(s, c, 29);
  vt->close(s);
  assert_false(exists(f->dir, "chain.journal.old"));
  sh_chain_free(c);
}

/* ---- a torn last record -------------------------------------------------- */

static void torn_tail(void **state) {
  fixture *f = *state;
  sh_chain *c = sh_chain_new(12, 5, 20, 100);
  assert_non_null(c);
  journal_only(f->dir, c, 12);
  size_t len;
  char *good = read_file(path_in(f->dir, "chain.journal"), &len);
  size_t off[16];
  size_t n = record_offsets(good, len, off, 15);
  assert_int_equal(n, 12);
  size_t last = off[11], rec = len - last;
  /* Cuts inside the last record: its header, its middle, its checksum. */
  size_t cuts[] = {last + 1, last + 7, last + rec / 2, len - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    write_file(path_in(f->dir, "chain.journal"), good, cuts[i]);
    mc_store *s = open_ok(f->dir);
    assert_holds(s, c, 10);
    struct stat st;
    assert_int_equal(stat(path_in(f->dir, "chain.journal"), &st), 0);
    assert_int_equal((size_t)st.st_size, last); /* cut off cleanly */
    append_ok(s, c, 11, 12);
    assert_holds(s, c, 11);
    vt->close(s);
    s = open_ok(f->dir);
    assert_holds(s, c, 11);
    vt->close(s);
    assert_int_equal(unlink(path_in(f->dir, "chain.json")), 0);
  }
  /* A last record whose bytes were never written (zeroes), or are
   * garbage with no intact record after it. */
  char *tail = malloc(len + 300);
  assert_non_null(tail);
  memcpy(tail, good, len);
  memset(tail + len, 0, 300);
  write_file(path_in(f->dir, "chain.journal"), tail, len + 300);
  mc_store *s = open_ok(f->dir);
  assert_holds(s, c, 11);
  vt->close(s);
  assert_int_equal(unlink(path_in(f->dir, "chain.json")), 0);
  memcpy(tail + len, good + off[3], 300); /* a record's first bytes */
  tail[len + 20] ^= 0x40;
  write_file(path_in(f->dir, "chain.journal"), tail, len + 300);
  s = open_ok(f->dir);
  assert_holds(s, c, 11);
  vt->close(s);
  free(tail);
  free(good);
  sh_chain_free(c);
}

/* ---- damage that is not a torn append ------------------------------------ */

static void refuses_damage(void **state) {
  fixture *f = *state;
  sh_chain *c = sh_chain_new(12, 5, 20, 100);
  assert_non_null(c);
  journal_only(f->dir, c, 12);
  char jp[4400];
  snprintf(jp, sizeof jp, "%s/chain.journal", f->dir);
  size_t len;
  char *good = read_file(jp, &len);
  size_t off[16];
  assert_int_equal(record_offsets(good, len, off, 15), 12);
  char *bad = malloc(len * 2);
  assert_non_null(bad);

  /* A flipped byte in a middle record's line. */
  memcpy(bad, good, len);
  bad[off[5] + 100] ^= 1;
  write_file(jp, bad, len);
  assert_refused(f->dir, "intact record follows", "a damaged middle record");
  /* A damaged length field in a middle record. */
  memcpy(bad, good, len);
  bad[off[5] + 6] ^= 0x10;
  write_file(jp, bad, len);
  assert_refused(f->dir, "intact record follows", "a damaged length field");
  /* A record taken out: the next one does not follow the head. */
  memcpy(bad, good, off[4]);
  memcpy(bad + off[4], good + off[5], len - off[5]);
  write_file(jp, bad, len - (off[5] - off[4]));
  assert_refused(f->dir, "blocks are missing", "a missing record");
  /* A record repeated. */
  memcpy(bad, good, off[6]);
  memcpy(bad + off[6], good + off[5], len - off[5]);
  write_file(jp, bad, len + (off[6] - off[5]));
  assert_refused(f->dir, "not above the record before it", "a repeated record");
  /* Not a journal at all. */
  write_file(jp, "{\"not\":\"a journal\"}\n", 20);
  assert_refused(f->dir, "not a json.so journal", "a foreign journal");
  /* A chain.journal.old with a torn tail: it was complete when it was
   * renamed, so that is damage. */
  write_file(path_in(f->dir, "chain.journal.old"), good, len - 3);
  unlink(jp);
  assert_refused(f->dir, "is damaged", "a torn chain.journal.old");
  /* A journal of another chain on top of this chain.json. */
  unlink(path_in(f->dir, "chain.journal.old"));
  write_file(jp, good, len);
  mc_store *s = open_ok(f->dir);
  vt->close(s); /* chain.json now holds blocks 0..11 */
  sh_chain *other = sh_chain_new(13, 3, 20, 0);
  assert_non_null(other);
  char odir[4400];
  snprintf(odir, sizeof odir, "%s/json-journal-other", g_scratch);
  empty_dir(odir);
  journal_only(odir, other, 13);
  copy_file(path_in(odir, "chain.journal"), jp);
  mc_remove_tree(odir);
  assert_refused(f->dir, "another hash", "another chain's journal");
  free(bad);
  free(good);
  sh_chain_free(other);
  sh_chain_free(c);
}

/* ---- a journal write that fails half-way --------------------------------- */

static void partial_write(void **state) {
  fixture *f = *state;
  sh_chain *c = sh_chain_new(10, 5, 20, 100);
  assert_non_null(c);
  mc_store *s = open_ok(f->dir);
  append_ok(s, c, 0, 6);
  struct stat st;
  assert_int_equal(stat(path_in(f->dir, "chain.journal"), &st), 0);
  size_t l1, l2;
  char *before = snapshot(f->dir, &l1);
  struct rlimit old, lim;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  lim = old;
  lim.rlim_cur = (rlim_t)st.st_size + 100; /* the record does not fit */
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  unsigned logged = sh_logged_errors;
  /* The failing block also brings an account's first appearance, which
   * must not survive the failure even in memory (moved here from the old
   * conformance suite's json-only write-failure test). */
  mc_account *chg = calloc(c->nchg[6] + 1, sizeof *chg), fresh;
  assert_non_null(chg);
  memcpy(chg, c->chg[6], c->nchg[6] * sizeof *chg);
  memset(&fresh, 0, sizeof fresh);
  memset(fresh.pubkey, 0xfe, MC_PUBKEY_LEN);
  fresh.balance = 42;
  chg[c->nchg[6]] = fresh;
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  int rc = vt->append(s, c->b[6], chg, c->nchg[6] + 1);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, prev);
  free(chg);
  assert_int_equal(rc, MC_EIO);
  assert_int_equal(sh_logged_errors, logged + 1);
  mc_account got;
  assert_int_equal(vt->get_account(s, fresh.pubkey, &got), MC_ENOTFOUND);
  char *after = snapshot(f->dir, &l2);
  assert_int_equal(l1, l2); /* the 100 bytes written were cut off */
  assert_memory_equal(before, after, l1);
  free(before);
  free(after);
  assert_holds(s, c, 5);
  append_ok(s, c, 6, 10);
  vt->close(s);
  s = open_ok(f->dir);
  assert_holds(s, c, 9);
  vt->close(s);
  sh_chain_free(c);
}

/* ---- a clean close ------------------------------------------------------- */

/* chain.json alone, in the seed's format: a JSON object with format,
 * version, blocks (one per line), accounts and nonces. */
static void assert_clean(const char *dir, const sh_chain *c, size_t n) {
  assert_false(exists(dir, "chain.journal"));
  assert_false(exists(dir, "chain.journal.old"));
  assert_false(exists(dir, "chain.journal.tmp"));
  assert_false(exists(dir, "chain.json.tmp"));
  size_t len;
  char *text = read_file(path_in(dir, "chain.json"), &len);
  assert_non_null(text);
  cJSON *root = cJSON_Parse(text);
  assert_non_null(root);
  assert_string_equal(cJSON_GetObjectItem(root, "format")->valuestring,
                      "minichain-json-store");
  assert_int_equal(cJSON_GetObjectItem(root, "version")->valueint, 1);
  cJSON *blocks = cJSON_GetObjectItem(root, "blocks");
  assert_int_equal(cJSON_GetArraySize(blocks), (int)n);
  for (size_t h = 0; h < n; h++) {
    cJSON *b = cJSON_GetArrayItem(blocks, (int)h);
    assert_int_equal(cJSON_GetObjectItem(b, "height")->valueint, (int)h);
    char hex[2 * MC_HASH_LEN + 1];
    for (int i = 0; i < MC_HASH_LEN; i++)
      snprintf(hex + 2 * i, 3, "%02x", c->b[h]->hash[i]);
    assert_string_equal(cJSON_GetObjectItem(b, "block_hash")->valuestring, hex);
  }
  assert_true(cJSON_IsObject(cJSON_GetObjectItem(root, "accounts")));
  assert_true(cJSON_IsObject(cJSON_GetObjectItem(root, "nonces")));
  size_t lines = 0;
  for (size_t i = 0; i < len; i++)
    lines += text[i] == '\n';
  assert_true(lines >= n + 2); /* a block per line */
  cJSON_Delete(root);
  free(text);
}

static void clean_close(void **state) {
  fixture *f = *state;
  sh_chain *c = sh_chain_new(60, 6, 30, 80);
  assert_non_null(c);
  mc_store *s = open_ok(f->dir);
  append_ok(s, c, 0, 25);
  vt->close(s);
  assert_clean(f->dir, c, 25);
  /* With compactions on the way, and after a crash (journal only). */
  setenv("MC_JSON_COMPACT_BYTES", "8000", 1);
  s = open_ok(f->dir);
  append_ok(s, c, 25, 50);
  vt->close(s);
  assert_clean(f->dir, c, 50);
  unsetenv("MC_JSON_COMPACT_BYTES");
  char d2[4400];
  snprintf(d2, sizeof d2, "%s-b", f->dir);
  empty_dir(d2);
  journal_only(d2, c, 60);
  s = open_ok(d2);
  assert_holds(s, c, 59);
  vt->close(s);
  assert_clean(d2, c, 60);
  /* Opened and closed with nothing appended: nothing is rewritten. */
  struct stat a, b;
  assert_int_equal(stat(path_in(d2, "chain.json"), &a), 0);
  s = open_ok(d2);
  vt->close(s);
  assert_int_equal(stat(path_in(d2, "chain.json"), &b), 0);
  assert_int_equal(a.st_ino, b.st_ino);
  mc_remove_tree(d2);
  sh_chain_free(c);
}

/* ---- chain.json edited by hand ------------------------------------------- */

/* Replaces the first `from` after `after` in text with `to` (malloc'd). */
static char *edit(const char *text, const char *after, const char *from,
                  const char *to) {
  const char *a = strstr(text, after);
  assert_non_null(a);
  const char *f = strstr(a, from);
  assert_non_null(f);
  size_t head = (size_t)(f - text), fl = strlen(from), tl = strlen(to);
  char *out = malloc(strlen(text) - fl + tl + 1);
  assert_non_null(out);
  memcpy(out, text, head);
  memcpy(out + head, to, tl);
  strcpy(out + head + tl, f + fl);
  return out;
}

/*
 * chain.json keeps one block per line, and open reads lines of the shape
 * json.so writes without cJSON.  A line a user reformatted (still one
 * line) is read through cJSON instead and still counts; a line edited so
 * that it is wrong is refused with the reason cJSON's path gives.
 */
static void hand_edited_lines(void **state) {
  fixture *f = *state;
  sh_chain *c = sh_chain_new(8, 3, 10, 30);
  assert_non_null(c);
  mc_store *s = open_ok(f->dir);
  append_ok(s, c, 0, 8);
  vt->close(s);
  char jp[4400];
  snprintf(jp, sizeof jp, "%s/chain.json", f->dir);
  size_t len;
  char *good = read_file(jp, &len);
  assert_non_null(good);
  /* Spaces, and a small number written as a quoted decimal, in block 3. */
  char *a = edit(good, "{\"height\":3,", "\"timestamp\":", "\"timestamp\" : ");
  char *at = strstr(strstr(a, "{\"height\":3,"), "\"amount\":");
  assert_non_null(at);
  at += strlen("\"amount\":");
  size_t digits = strspn(at, "0123456789"), head = (size_t)(at - a);
  char *b = malloc(strlen(a) + 3);
  assert_non_null(b);
  memcpy(b, a, head);
  b[head] = '"';
  memcpy(b + head + 1, at, digits);
  b[head + 1 + digits] = '"';
  strcpy(b + head + 2 + digits, at + digits);
  write_file(jp, b, strlen(b));
  s = open_ok(f->dir);
  assert_holds(s, c, 7);
  vt->close(s);
  /* The same line with an edited amount: refused, naming the block. */
  char *bad = edit(good, "{\"height\":3,", "\"amount\":", "\"amount\": 1");
  write_file(jp, bad, strlen(bad));
  size_t l1, l2;
  char *before = snapshot(f->dir, &l1);
  char err[1024] = "";
  mc_store *none = NULL;
  int rc = vt->open(&sh_api, sh_host(), f->dir, &none, err, sizeof err);
  assert_int_equal(rc, MC_ECORRUPT);
  print_message("  refused an edited amount: %s\n", err);
  assert_non_null(strstr(err, "blocks[3].tx_list[0].id"));
  char *after = snapshot(f->dir, &l2);
  assert_int_equal(l1, l2);
  assert_memory_equal(before, after, l1);
  free(before);
  free(after);
  free(bad);
  free(a);
  free(b);
  free(good);
  sh_chain_free(c);
}

/* ---- main ---------------------------------------------------------------- */

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_dir, teardown_dir)

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s JSON.so SCRATCH_DIR\n", argv[0]);
    return 2;
  }
  static mc_plugin plugin;
  char err[1200];
  if ((vt = sh_load_store(argv[1], &plugin, err, sizeof err)) == NULL) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  g_scratch = argv[2];
  if (mkdir(g_scratch, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "%s: %s\n", g_scratch, strerror(errno));
    return 2;
  }
  const struct CMUnitTest tests[] = {
      T(clean_close),          T(torn_tail),
      T(refuses_damage),       T(partial_write),
      T(compaction_cut_short), T(hand_edited_lines),
      T(kill_during_append),   T(kill_during_compaction),
  };
  return cmocka_run_group_tests_name("json journal", tests, NULL, NULL);
}
