/*
 * test-mcli-hist.c - the latency histogram of `mcli load`
 * (tools/mcli_hist.c): exact below 64 us, within 1/32 above, the max
 * exact, quantiles by rank, values past 2^40 us kept in the last bucket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mcli.h"

static mcli_hist hist; /* 9 KiB: not on the stack */

static void empty_is_zero(void **state) {
  (void)state;
  memset(&hist, 0, sizeof hist);
  assert_int_equal(mcli_hist_quantile(&hist, 0.5), 0);
  assert_int_equal(mcli_hist_quantile(&hist, 1.0), 0);
}

/* Each value alone: the quantiles give it back, exactly below 64 us and
 * never below it nor more than 1/32 above it beyond. */
static void one_value(void **state) {
  (void)state;
  static const uint64_t values[] = {
      0,      1,       63,      64,         65,
      127,    128,     1000,    4095,       4096,
      999999, 1000000, 5123456, 1ull << 39, (1ull << 40) - 1};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    uint64_t v = values[i];
    memset(&hist, 0, sizeof hist);
    mcli_hist_add(&hist, v);
    uint64_t q = mcli_hist_quantile(&hist, 0.5);
    assert_true(q >= v);
    assert_true(q - v <= v / 32);
    if (v < 64)
      assert_int_equal(q, v);
    assert_int_equal(mcli_hist_quantile(&hist, 1.0), v);
    assert_int_equal(hist.max_us, v);
  }
}

/* 1..100000 us: each quantile within 1/32 of the true one, in order. */
static void uniform_quantiles(void **state) {
  (void)state;
  memset(&hist, 0, sizeof hist);
  for (uint64_t v = 1; v <= 100000; v++)
    mcli_hist_add(&hist, v);
  static const double qs[] = {0.01, 0.5, 0.9, 0.99, 0.999};
  uint64_t prev = 0;
  for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
    uint64_t truth = (uint64_t)(qs[i] * 100000);
    uint64_t q = mcli_hist_quantile(&hist, qs[i]);
    assert_true(q >= truth && q - truth <= truth / 32 + 1);
    assert_true(q >= prev);
    prev = q;
  }
  assert_int_equal(hist.count, 100000);
  assert_int_equal(hist.sum_us, 100000ull * 100001 / 2);
  assert_int_equal(mcli_hist_quantile(&hist, 1.0), 100000);
}

/* The quantile is the smallest value with at least q of them at or below:
 * of 0..69, the median is 34 (35 of 70), the 99th percentile 69. */
static void rank_rule(void **state) {
  (void)state;
  memset(&hist, 0, sizeof hist);
  for (uint64_t v = 0; v < 70; v++)
    mcli_hist_add(&hist, v);
  assert_int_equal(mcli_hist_quantile(&hist, 0.5), 34);
  assert_int_equal(mcli_hist_quantile(&hist, 0.99), 69);
  assert_int_equal(mcli_hist_quantile(&hist, 0.0), 0);
}

/* A value past the last bucket's range is counted there; the quantile
 * never exceeds the exact max. */
static void past_the_range(void **state) {
  (void)state;
  memset(&hist, 0, sizeof hist);
  mcli_hist_add(&hist, 10);
  mcli_hist_add(&hist, 1ull << 50);
  assert_int_equal(hist.n[MCLI_HIST_BUCKETS - 1], 1);
  assert_int_equal(mcli_hist_quantile(&hist, 0.5), 10);
  uint64_t top = mcli_hist_quantile(&hist, 0.99);
  assert_true(top <= 1ull << 50 && top >= 1ull << 39);
  assert_int_equal(mcli_hist_quantile(&hist, 1.0), 1ull << 50);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(empty_is_zero),     cmocka_unit_test(one_value),
      cmocka_unit_test(uniform_quantiles), cmocka_unit_test(rank_rule),
      cmocka_unit_test(past_the_range),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
