/*
 * test-sigcache.c - signatures known good (host/sigcache.c): a pair is
 * found only with its own signature, the oldest pair is forgotten first
 * once the cache is full, and adding a pair twice keeps one entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "chain/crypto.h"
#include "sigcache.h"

static mc_tx tx_n(uint32_t n) {
  mc_tx t;
  memset(&t, 0, sizeof t);
  mc_sha256(&n, sizeof n, t.id);
  memset(t.sig, (int)(n & 0xff), sizeof t.sig);
  return t;
}

static void test_pair_needs_its_signature(void **state) {
  (void)state;
  mc_sigcache *sc = mc_sigcache_new(8);
  assert_non_null(sc);
  mc_tx t = tx_n(1);
  assert_false(mc_sigcache_has(sc, &t));
  mc_sigcache_add(sc, &t);
  assert_true(mc_sigcache_has(sc, &t));
  mc_tx other = t;
  other.sig[10] ^= 1; /* same id, another signature */
  assert_false(mc_sigcache_has(sc, &other));
  mc_sigcache_free(sc);
}

static void test_oldest_forgotten_first(void **state) {
  (void)state;
  enum { CAP = 100 };
  mc_sigcache *sc = mc_sigcache_new(CAP);
  for (uint32_t i = 0; i < CAP; i++) {
    mc_tx t = tx_n(i);
    mc_sigcache_add(sc, &t);
    mc_sigcache_add(sc, &t); /* twice: still one entry */
  }
  for (uint32_t i = 0; i < CAP; i++) {
    mc_tx t = tx_n(i);
    assert_true(mc_sigcache_has(sc, &t));
  }
  for (uint32_t i = CAP; i < CAP + 30; i++) {
    mc_tx t = tx_n(i);
    mc_sigcache_add(sc, &t);
  }
  for (uint32_t i = 0; i < CAP + 30; i++) {
    mc_tx t = tx_n(i);
    assert_int_equal(mc_sigcache_has(sc, &t), i >= 30);
  }
  mc_sigcache_free(sc);
  assert_null(mc_sigcache_new(0));
}

int main(void) {
  assert_int_equal(mc_crypto_init(), 0);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pair_needs_its_signature),
      cmocka_unit_test(test_oldest_forgotten_first),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
