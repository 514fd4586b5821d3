/*
 * test-store-util.c - the SDK's optional store helpers
 * (sdk/include/minichain/store_util.h): open's argument checks, the
 * well-formed test of an appended block, and whether a block follows a
 * head.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "minichain/store_util.h"

static void test_open_args(void **state) {
  (void)state;
  mc_host_api api = {.size = sizeof api};
  mc_store *out = (mc_store *)&api;
  char err[128] = "";
  /* nowhere to say why: refused, nothing written */
  assert_int_equal(mc_store_open_args(&api, "d", NULL, err, sizeof err, "s"),
                   MC_EINVAL);
  assert_int_equal(mc_store_open_args(&api, "d", &out, NULL, 9, "s"),
                   MC_EINVAL);
  assert_int_equal(mc_store_open_args(&api, "d", &out, err, 0, "s"),
                   MC_EINVAL);
  assert_string_equal(err, "");
  assert_int_equal(mc_store_open_args(&api, NULL, &out, err, sizeof err, "s"),
                   MC_EINVAL);
  assert_null(out);
  assert_string_equal(err, "s: no directory or no usable host table");
  /* a table shorter than ABI 1.0's */
  api.size = offsetof(mc_host_api, state_load);
  err[0] = '\0';
  assert_int_equal(mc_store_open_args(&api, "d", &out, err, sizeof err, "s"),
                   MC_EINVAL);
  assert_true(err[0] != '\0');
  api.size = sizeof api;
  out = (mc_store *)&api;
  assert_int_equal(mc_store_open_args(&api, "d", &out, err, sizeof err, "s"),
                   0);
  assert_null(out);
}

static void test_err_truncates(void **state) {
  (void)state;
  char err[8];
  mc_store_err(err, sizeof err, "%s", "a long reason");
  assert_string_equal(err, "a long ");
  mc_store_err(NULL, 0, "%d", 1); /* no buffer: nothing happens */
}

static void test_well_formed(void **state) {
  (void)state;
  mc_block b;
  mc_tx tx;
  mc_account a;
  uint8_t cert[4];
  memset(&b, 0, sizeof b);
  assert_true(mc_store_block_well_formed(&b, NULL, 0));
  assert_false(mc_store_block_well_formed(NULL, NULL, 0));
  b.header.tx_count = 1;
  assert_false(mc_store_block_well_formed(&b, NULL, 0));
  b.txs = &tx;
  assert_true(mc_store_block_well_formed(&b, NULL, 0));
  b.cert_len = 4;
  assert_false(mc_store_block_well_formed(&b, NULL, 0));
  b.cert = cert;
  assert_true(mc_store_block_well_formed(&b, NULL, 0));
  assert_false(mc_store_block_well_formed(&b, NULL, 1));
  assert_true(mc_store_block_well_formed(&b, &a, 1));
}

static void test_follows(void **state) {
  (void)state;
  uint8_t head[MC_HASH_LEN];
  mc_block b;
  memset(&b, 0, sizeof b);
  memset(head, 7, sizeof head);
  assert_true(mc_store_block_follows(&b, 0, 0, NULL)); /* genesis, empty */
  b.header.height = 1;
  assert_false(mc_store_block_follows(&b, 0, 0, NULL));
  /* height 1 on head 0: prev_hash must be the head's */
  assert_false(mc_store_block_follows(&b, 1, 0, head));
  memcpy(b.header.prev_hash, head, MC_HASH_LEN);
  assert_true(mc_store_block_follows(&b, 1, 0, head));
  b.header.height = 2; /* a gap */
  assert_false(mc_store_block_follows(&b, 1, 0, head));
  b.header.height = 0; /* the head's own height */
  assert_false(mc_store_block_follows(&b, 1, 0, head));
  /* a head at the last height: nothing can follow, and it does not wrap */
  assert_false(mc_store_block_follows(&b, 1, UINT64_MAX, head));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_open_args),
      cmocka_unit_test(test_err_truncates),
      cmocka_unit_test(test_well_formed),
      cmocka_unit_test(test_follows),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
