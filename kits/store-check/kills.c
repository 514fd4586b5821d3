/*
 * kills.c - atomicity across SIGKILL: a child process appends a chain and
 * is killed at a moment drawn from the test's seed, again and again; after
 * every kill the store must open and hold exactly a prefix of the chain,
 * with the accounts of that prefix, every block whose append returned 0
 * in the child (the child reports them through a pipe), and never fewer
 * blocks than a reader has already seen.
 *
 * The moments are spread over the first quarter of an unkilled run's
 * length, measured first, so that kills land inside appends on a fast
 * machine as well as a slow one.  The seed fixes the moments, not what
 * the machine does at them: a replay repeats the same delays.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "store_host.h"

int ck_kills = 60;

/* The writer: opens dir and appends c from its head on, until done,
 * writing each height whose append returned 0 to fd.  A child never
 * returns into the runner: it only _exits. */
static void writer(const char *dir, const chain *c, int fd) {
  char err[1024];
  mc_store *s = NULL;
  uint64_t head;
  uint8_t hash[MC_HASH_LEN];
  if (ck_vt->open(&sh_api, sh_host(), dir, &s, err, sizeof err) != 0) {
    fprintf(stderr, "writer: open: %s\n", err);
    _exit(3);
  }
  int rc = ck_vt->head(s, &head, hash);
  size_t from = rc == MC_ENOTFOUND ? 0 : (size_t)head + 1;
  for (size_t h = from; h < c->n; h++) {
    if (ck_vt->append(s, c->b[h], c->chg[h], c->nchg[h]) != 0)
      _exit(4);
    uint64_t acked = h;
    if (write(fd, &acked, sizeof acked) != sizeof acked)
      _exit(6);
  }
  ck_vt->close(s);
  _exit(sh_forbidden_calls > 0 ? 5 : 0);
}

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The highest height the writer reported acknowledged, or -1. */
static long read_acked(int fd) {
  long acked = -1;
  uint64_t h;
  while (read(fd, &h, sizeof h) == (ssize_t)sizeof h)
    acked = (long)h;
  return acked;
}

/* Runs the writer in a child and kills it after delay_us (0: let it
 * finish).  Returns its exit status, or -1 if the kill ended it; *acked
 * is the highest height whose append returned 0 in it (-1: none). */
static int run_writer(const char *dir, const chain *c, uint64_t delay_us,
                      long *acked) {
  int fds[2];
  if (pipe(fds) != 0)
    CK_FAIL("pipe failed");
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    CK_FAIL("fork failed");
  if (pid == 0) {
    close(fds[0]);
    writer(dir, c, fds[1]);
  }
  close(fds[1]);
  if (delay_us) {
    usleep((useconds_t)delay_us);
    kill(pid, SIGKILL);
  }
  /* The pipe holds at most c->n heights, well under its capacity, so the
   * child never blocks on it and can be waited for first. */
  int status;
  pid_t got = waitpid(pid, &status, 0);
  *acked = read_acked(fds[0]);
  close(fds[0]);
  if (got != pid)
    CK_FAIL("waitpid failed");
  if (WIFSIGNALED(status))
    return WTERMSIG(status) == SIGKILL ? -1 : 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

static const char *writer_failure(int st) {
  switch (st) {
  case 3:
    return "the writer could not open the store";
  case 4:
    return "an append failed in the writer";
  case 5:
    return "the writer's store called a host service no store may use";
  case 6:
    return "the writer could not report an acknowledged append";
  default:
    return "the writer died on a signal other than the kill";
  }
}

/* The head of the store in dir after a crash, checked to hold exactly a
 * prefix of c with the state of that prefix; -1 if it is empty. */
static long check_prefix(const char *dir, const chain *c) {
  mc_store *s = open_ok(dir);
  uint64_t head;
  uint8_t hash[MC_HASH_LEN];
  int rc = ck_vt->head(s, &head, hash);
  if (rc == MC_ENOTFOUND) {
    store_close(s);
    return -1;
  }
  CK_RC(rc, 0);
  if (head >= c->n)
    CK_FAIL("head %llu is past the chain's end", (unsigned long long)head);
  assert_holds(s, c, (size_t)head);
  store_close(s);
  return (long)head;
}

static void atomic_under_sigkill(const char *dir, const void *arg) {
  (void)arg;
  chain *c = chain_new(50);
  uint64_t t0 = now_us();
  long acked;
  int st = run_writer(dir, c, 0, &acked);
  if (st != 0)
    CK_FAIL("unkilled run: %s (status %d)", writer_failure(st), st);
  uint64_t full_us = now_us() - t0;
  CK_EQ_U(check_prefix(dir, c), c->n - 1);
  empty_dir(dir);
  ck_note("an unkilled run takes %llu us; %d kills",
          (unsigned long long)full_us, ck_kills);
  long last = -1;
  int mid_chain = 0, finished = 0;
  for (int i = 0; i < ck_kills; i++) {
    uint64_t delay = 1 + ck_rand() % (full_us / 4 + 1);
    st = run_writer(dir, c, delay, &acked);
    if (st > 0)
      CK_FAIL("kill %d (after %llu us): %s (status %d)", i,
              (unsigned long long)delay, writer_failure(st), st);
    long head = check_prefix(dir, c);
    if (head < acked)
      CK_FAIL("kill %d (after %llu us): append of height %ld returned 0, "
              "but after the kill the store holds only up to %ld: an "
              "acknowledged block was lost", i, (unsigned long long)delay,
              acked, head);
    if (head < last)
      CK_FAIL("kill %d (after %llu us): head went back from %ld to %ld: "
              "a block read back before was lost", i,
              (unsigned long long)delay, last, head);
    if (head > last && head < (long)c->n - 1 && st < 0)
      mid_chain++;
    last = head;
    if (head == (long)c->n - 1) {
      finished++;
      empty_dir(dir);
      last = -1;
    }
  }
  ck_note("%d kills cut the chain short, %d runs reached the end", mid_chain,
          finished);
  /* Otherwise the kills all missed and nothing was tested. */
  if (ck_kills > 0 && mid_chain == 0)
    CK_FAIL("none of %d kills landed mid-chain: nothing was tested", ck_kills);
}

void kill_tests(ck_test *t, size_t *n) {
  t[(*n)++] = (ck_test){"atomic_under_sigkill",
                        "kill -9 mid-append: a prefix survives, never less",
                        atomic_under_sigkill, NULL};
}
