/*
 * check.h - what the parts of mc-store-check share: the test runner's
 * calls (a failing check ends the running test with a message), the store
 * under test, the seeded chain, and the helpers that open, append,
 * compare and snapshot.
 *
 * A test is a function run in the main process on a fresh directory of
 * its own.  CK_FAIL records the failure and longjmps back to the runner,
 * which then closes the stores and frees the chains the test still held
 * (everything a test allocates is registered with ck_defer for that).
 * Checks are never made from inside a store callback: the host services
 * only record what they see, and the runner fails the test afterwards.
 */
#ifndef MC_STORE_CHECK_CHECK_H
#define MC_STORE_CHECK_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "loader.h"
#include "minichain/error.h"
#include "minichain/store.h"
#include "minichain/store_check.h"

/* ---- the runner ----------------------------------------------------------- */

typedef void (*ck_test_fn)(const char *dir, const void *arg);

typedef struct ck_test {
  char name[96];
  const char *about;
  ck_test_fn fn;
  const void *arg; /* handed to fn: a damage case, or NULL */
} ck_test;

/* Ends the running test as failed.  Never returns. */
void ck_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
#define CK_FAIL(...) ck_fail_at(__FILE__, __LINE__, __VA_ARGS__)
#define CK_TRUE(cond)                                                          \
  do {                                                                         \
    if (!(cond))                                                               \
      CK_FAIL("check failed: %s", #cond);                                      \
  } while (0)
#define CK_EQ_U(a, b)                                                          \
  do {                                                                         \
    unsigned long long a_ = (a), b_ = (b);                                     \
    if (a_ != b_)                                                              \
      CK_FAIL("%s is %llu, expected %llu (%s)", #a, a_, b_, #b);               \
  } while (0)
#define CK_RC(call, want)                                                      \
  do {                                                                         \
    int rc_ = (call), want_ = (want);                                          \
    if (rc_ != want_)                                                          \
      CK_FAIL("%s gave %s, expected %s", #call, mc_err_name(rc_),              \
              mc_err_name(want_));                                             \
  } while (0)

/* Registers p to be released with fn if the test ends before it is
 * released; ck_release(p) releases it now. */
void ck_defer(void (*fn)(void *), void *p);
void ck_release(void *p);

/* Prints an indented line of the running test's detail. */
void ck_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A 64-bit value from the running test's random stream (seeded from the
 * run's seed and the test's name, so --only replays it exactly). */
uint64_t ck_rand(void);

/* ---- the store under test ------------------------------------------------ */

extern mc_plugin ck_plugin;
extern const mc_store_vtable *ck_vt;
extern int ck_kills; /* SIGKILLs in the atomicity test */

/* ---- the chain ------------------------------------------------------------ */

#define NKEYS 6
/* Key NKEYS-1 gets nothing at genesis: it appears in a later block, so a
 * store is seen creating an account mid-chain. */
#define LATE_KEY (NKEYS - 1)

typedef struct chain {
  size_t n;
  uint8_t pk[NKEYS][MC_PUBKEY_LEN];
  uint8_t sk[NKEYS][64];
  mc_block **b;               /* b[h]: block at height h */
  mc_account **chg;           /* chg[h]: the state changes of block h */
  size_t *nchg;
  mc_account (*state)[NKEYS]; /* state[h][k]: account k after block h */
  int (*present)[NKEYS];      /* present[h][k]: k was in a change <= h */
} chain;

/* A chain of n blocks from the running test's seed; freed by the runner
 * when the test ends. */
chain *chain_new(size_t n);

/* ---- stores --------------------------------------------------------------- */

/* Opens dir; fails the test on any error.  Close with store_close. */
mc_store *open_ok(const char *dir);
void store_close(mc_store *s);
/* Appends blocks [from, to) of c; fails the test on any error. */
void append_ok(mc_store *s, const chain *c, size_t from, size_t to);
/* The store holds exactly blocks 0..h of c and the accounts after h. */
void assert_holds(mc_store *s, const chain *c, size_t h);
void assert_block_equal(const mc_block *a, const mc_block *b);
void assert_account_equal(const mc_account *a, const mc_account *b);
/* Opens dir expecting refusal `want` with a one-line reason containing
 * `says` (if not NULL), *out NULL, and every file unchanged. */
void assert_open_refused(const char *dir, int want, const char *says,
                         const char *what);

/* ---- files ---------------------------------------------------------------- */

/* Every regular file of a directory, name and content, in name order: two
 * snapshots are equal iff no file changed. */
typedef struct snapshot {
  char *bytes;
  size_t len;
} snapshot;

snapshot *snapshot_take(const char *dir); /* freed by the runner */
/* Relative paths snapshots leave out (a damage module's `unchecked`
 * list), or NULL. */
extern const char *const *ck_unchecked;
/* Fails the test naming the first file that differs. */
void snapshot_same(const snapshot *before, const snapshot *after,
                   const char *what);
void empty_dir(const char *dir);
/* Calls fn for each regular file under dir, subdirectories included
 * (full path, size). */
void each_file(const char *dir, void (*fn)(const char *path, size_t size));
void write_whole(const char *path, const void *data, size_t len);

/* ---- the tests, by part --------------------------------------------------- */

/* Appends this part's tests to t[*n] (room for at least 32). */
void contract_tests(ck_test *t, size_t *n);
void kill_tests(ck_test *t, size_t *n);
void damage_tests(ck_test *t, size_t *n);
/* Loads a damage module for the store under test and appends its cases;
 * returns 0, or -1 with a one-line reason in err. */
int damage_module_tests(const char *path, ck_test *t, size_t *n, size_t room,
                        char *err, size_t errlen);

#endif /* MC_STORE_CHECK_CHECK_H */
