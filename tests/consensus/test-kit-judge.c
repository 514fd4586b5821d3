/*
 * test-kit-judge.c - the exactly-once judge of mc-consensus-sim
 * (kits/consensus-sim/workload.c) on hand-made chains.
 *
 * An engine cannot commit a transfer twice through the host (the chain's
 * nonce rule refuses it) nor one the kit did not sign, so the kit's runs
 * can never show those verdicts failing; these cases do.  They also pin
 * what is judged: stable-phase transfers exactly once, fault-phase ones
 * at most once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "workload.h"

typedef struct fixture {
  wl *w;
  const mc_tx *stable[3], *fault[2];
  char why[300];
} fixture;

static int setup(void **state) {
  static fixture f;
  memset(&f, 0, sizeof f);
  f.w = wl_new(7, "judge-test");
  assert_non_null(f.w);
  for (int i = 0; i < 2; i++)
    f.fault[i] = wl_make(f.w, WL_FAULT);
  for (int i = 0; i < 3; i++)
    f.stable[i] = wl_make(f.w, WL_STABLE);
  *state = &f;
  return 0;
}

static int teardown(void **state) {
  wl_free(((fixture *)*state)->w);
  return 0;
}

/* Judges the chain txs[0..n) with all_stable. */
static size_t judge(fixture *f, const mc_tx *const *txs, size_t n,
                    int all_stable) {
  wl_judge_begin(f->w);
  for (size_t i = 0; i < n; i++)
    wl_judge_tx(f->w, txs[i]);
  f->why[0] = 0;
  return wl_judge_end(f->w, all_stable, f->why, sizeof f->why);
}

static void test_every_stable_once_passes(void **state) {
  fixture *f = *state;
  const mc_tx *chain[] = {f->fault[0], f->stable[0], f->stable[1],
                          f->stable[2]};
  assert_int_equal(judge(f, chain, 4, 1), 0);
  assert_string_equal(f->why, "");
}

static void test_stable_missing_fails(void **state) {
  fixture *f = *state;
  const mc_tx *chain[] = {f->stable[0], f->stable[2]};
  assert_int_equal(judge(f, chain, 2, 1), 1);
  assert_non_null(strstr(f->why, "stable-phase transfer"));
  assert_non_null(strstr(f->why, "committed 0 times"));
  /* on a node that is not judged for loss (Byzantine, down) it passes */
  assert_int_equal(judge(f, chain, 2, 0), 0);
}

static void test_duplicate_fails(void **state) {
  fixture *f = *state;
  const mc_tx *chain[] = {f->stable[0], f->stable[1], f->stable[2],
                          f->fault[1], f->fault[1]};
  assert_int_equal(judge(f, chain, 5, 1), 1);
  assert_non_null(strstr(f->why, "fault-phase transfer"));
  assert_non_null(strstr(f->why, "committed 2 times"));
  assert_int_equal(judge(f, chain, 5, 0), 1);
}

static void test_unknown_transfer_fails(void **state) {
  fixture *f = *state;
  mc_tx forged = *f->stable[0];
  forged.id[0] ^= 1; /* as if its contents differed */
  const mc_tx *chain[] = {f->stable[0], f->stable[1], f->stable[2], &forged};
  assert_int_equal(judge(f, chain, 4, 0), 1);
  assert_non_null(strstr(f->why, "never made"));
}

static void test_known_means_these_bytes(void **state) {
  fixture *f = *state;
  mc_tx t = *f->stable[1];
  assert_int_equal(wl_known(f->w, &t), 1);
  t.sig[5] ^= 0x40; /* same transfer, another signature */
  assert_int_equal(wl_known(f->w, &t), 0);
  t = *f->stable[1];
  t.id[3] ^= 1;
  assert_int_equal(wl_known(f->w, &t), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_every_stable_once_passes, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_stable_missing_fails, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_duplicate_fails, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_transfer_fails, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_known_means_these_bytes, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
