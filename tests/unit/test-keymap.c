/*
 * test-keymap.c - the hash table of 32-byte keys (host/keymap.c): puts,
 * gets, deletions that shift probe chains back, growth and clearing,
 * checked against a plain array of what should be there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "chain/crypto.h"
#include "keymap.h"

#define N 2000

static uint8_t keys[N][MC_KEYMAP_KEY_LEN];
static int present[N];

static void make_keys(void) {
  for (uint32_t i = 0; i < N; i++)
    mc_sha256(&i, sizeof i, keys[i]);
}

static void assert_matches(const mc_keymap *m) {
  size_t count = 0;
  for (size_t i = 0; i < N; i++) {
    void *v = mc_keymap_get(m, keys[i]);
    if (present[i])
      assert_ptr_equal(v, &present[i]);
    else
      assert_null(v);
    count += present[i] != 0;
  }
  assert_int_equal(m->count, count);
}

static void test_put_get_del(void **state) {
  (void)state;
  mc_keymap m;
  mc_keymap_init(&m);
  assert_null(mc_keymap_get(&m, keys[0])); /* empty, no slots yet */
  for (size_t i = 0; i < N; i++) {
    assert_int_equal(mc_keymap_reserve(&m, 1), 0);
    present[i] = 1;
    mc_keymap_put(&m, keys[i], &present[i]);
  }
  assert_matches(&m);
  /* Every third key goes, then every second of the rest: deletions in
   * the middle of probe chains must leave the later keys findable. */
  for (size_t i = 0; i < N; i += 3) {
    mc_keymap_del(&m, keys[i]);
    present[i] = 0;
  }
  assert_matches(&m);
  for (size_t i = 1; i < N; i += 2) {
    mc_keymap_del(&m, keys[i]);
    present[i] = 0;
  }
  mc_keymap_del(&m, keys[0]); /* absent: no-op */
  assert_matches(&m);
  size_t nslots = m.nslots;
  mc_keymap_clear(&m);
  memset(present, 0, sizeof present);
  assert_matches(&m);
  assert_int_equal(m.nslots, nslots);
  mc_keymap_free(&m);
  assert_int_equal(m.nslots, 0);
}

static void test_reserve_keeps_half_empty(void **state) {
  (void)state;
  mc_keymap m;
  mc_keymap_init(&m);
  assert_int_equal(mc_keymap_reserve(&m, 100), 0);
  assert_true(m.nslots >= 200);
  assert_int_equal(m.nslots & (m.nslots - 1), 0); /* a power of two */
  mc_keymap_free(&m);
}

int main(void) {
  make_keys();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_put_get_del),
      cmocka_unit_test(test_reserve_keeps_half_empty),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
