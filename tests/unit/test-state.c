/*
 * test-state.c - the state transition (host/chain/state.c): every rejection
 * of mc_tx_check_static and mc_overlay_apply, u64 overflow and underflow,
 * that a refused transfer changes nothing, and that the overlay moves the
 * LtHash accumulator to what a recomputation from scratch gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "chain/crypto.h"
#include "chain/state.h"
#include "minichain/error.h"

#define CHAIN "minichain-test"
#define NBASE 4

/* The committed state the overlay reads: a fixed table of accounts. */
typedef struct base {
  mc_account acct[NBASE];
  int fail; /* nonzero: every read returns MC_EIO */
} base;

static int base_get(void *ctx, const uint8_t pk[MC_PUBKEY_LEN],
                    mc_account *out) {
  base *b = ctx;
  if (b->fail)
    return MC_EIO;
  for (int i = 0; i < NBASE; i++) {
    if (memcmp(b->acct[i].pubkey, pk, MC_PUBKEY_LEN) == 0) {
      *out = b->acct[i];
      return 0;
    }
  }
  return MC_ENOTFOUND;
}

static void key(uint8_t pk[MC_PUBKEY_LEN], uint8_t who) {
  memset(pk, 0, MC_PUBKEY_LEN);
  pk[0] = who;
}

/* Accounts 1..4: 1 has 1000 (nonce 3), 2 has 2^64-10, 3 has 0 (nonce 1),
 * 4 has 5. */
static base make_base(void) {
  base b = {.fail = 0};
  static const uint64_t bal[NBASE] = {1000, UINT64_MAX - 10, 0, 5};
  static const uint64_t nonce[NBASE] = {3, 0, 1, 0};
  for (int i = 0; i < NBASE; i++) {
    key(b.acct[i].pubkey, (uint8_t)(i + 1));
    b.acct[i].balance = bal[i];
    b.acct[i].nonce = nonce[i];
  }
  return b;
}

static mc_tx tx(uint8_t from, uint8_t to, uint64_t amount, uint64_t nonce) {
  mc_tx t;
  memset(&t, 0, sizeof t);
  strcpy(t.chain_id, CHAIN);
  key(t.from, from);
  key(t.to, to);
  t.amount = amount;
  t.nonce = nonce;
  return t;
}

static void test_static_rules(void **state) {
  (void)state;
  mc_tx t = tx(1, 2, 1, 4);
  assert_int_equal(mc_tx_check_static(&t, CHAIN), 0);
  assert_int_equal(mc_tx_check_static(&t, "other-chain"), MC_ECHAINID);
  assert_int_equal(mc_tx_check_static(&t, "minichain-tes"), MC_ECHAINID);
  t.amount = 0;
  assert_int_equal(mc_tx_check_static(&t, CHAIN), MC_EZERO);
  t = tx(1, 1, 1, 4);
  assert_int_equal(mc_tx_check_static(&t, CHAIN), MC_ESELF);
}

static void test_apply_moves_balance_and_nonce(void **state) {
  (void)state;
  base b = make_base();
  mc_overlay *o = mc_overlay_new(base_get, &b);
  mc_account a;
  assert_non_null(o);
  mc_tx t = tx(1, 9, 400, 4); /* 9 is a new account */
  assert_int_equal(mc_overlay_apply(o, &t, CHAIN), 0);
  assert_int_equal(mc_overlay_get(o, t.from, &a), 0);
  assert_int_equal(a.balance, 600);
  assert_int_equal(a.nonce, 4);
  assert_int_equal(mc_overlay_get(o, t.to, &a), 0);
  assert_int_equal(a.balance, 400);
  assert_int_equal(a.nonce, 0);
  assert_memory_equal(a.pubkey, t.to, MC_PUBKEY_LEN);
  /* The next nonce and the remaining balance exactly. */
  t = tx(1, 9, 600, 5);
  assert_int_equal(mc_overlay_apply(o, &t, CHAIN), 0);
  assert_int_equal(mc_overlay_get(o, t.from, &a), 0);
  assert_int_equal(a.balance, 0);
  assert_int_equal(mc_overlay_count(o), 2);
  mc_account now, before;
  mc_overlay_entry(o, 0, &now, &before);
  assert_int_equal(before.balance, 1000);
  assert_int_equal(before.nonce, 3);
  assert_int_equal(now.nonce, 5);
  mc_overlay_entry(o, 1, &now, &before);
  assert_int_equal(before.balance, 0);
  assert_int_equal(now.balance, 1000);
  mc_overlay_free(o);
}

/* Each refused transfer returns its reason and leaves the overlay as it
 * was. */
static void test_apply_rejections(void **state) {
  (void)state;
  static const struct {
    const char *what;
    uint8_t from, to;
    uint64_t amount, nonce;
    const char *chain;
    int rc;
  } cases[] = {
      {"wrong chain id", 1, 2, 1, 4, "elsewhere", MC_ECHAINID},
      {"zero amount", 1, 2, 0, 4, CHAIN, MC_EZERO},
      {"self transfer", 1, 1, 1, 4, CHAIN, MC_ESELF},
      {"nonce reused", 1, 9, 1, 3, CHAIN, MC_ENONCE},
      {"nonce zero", 1, 9, 1, 0, CHAIN, MC_ENONCE},
      {"nonce gap", 1, 9, 1, 5, CHAIN, MC_ENONCEGAP},
      {"nonce far ahead", 1, 9, 1, UINT64_MAX, CHAIN, MC_ENONCEGAP},
      {"underflow by one", 1, 9, 1001, 4, CHAIN, MC_EBALANCE},
      {"underflow from empty", 3, 9, 1, 2, CHAIN, MC_EBALANCE},
      {"unknown sender", 8, 9, 1, 1, CHAIN, MC_EBALANCE},
      {"recipient overflow by one", 1, 2, 11, 4, CHAIN, MC_EOVERFLOW},
      {"recipient stays below 2^64-1", 4, 2, 5, 1, CHAIN, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    base b = make_base();
    mc_overlay *o = mc_overlay_new(base_get, &b);
    assert_non_null(o);
    mc_tx t = tx(cases[i].from, cases[i].to, cases[i].amount, cases[i].nonce);
    print_message("%s\n", cases[i].what);
    assert_int_equal(mc_overlay_apply(o, &t, cases[i].chain), cases[i].rc);
    assert_int_equal(mc_overlay_count(o), cases[i].rc == 0 ? 2 : 0);
    mc_overlay_free(o);
  }
}

/* The recipient reaching exactly 2^64-1 is fine; one more overflows, and
 * the refused transfer leaves the earlier one in place. */
static void test_overflow_at_max_after_earlier_change(void **state) {
  (void)state;
  base b = make_base();
  mc_overlay *o = mc_overlay_new(base_get, &b);
  mc_account a;
  mc_tx t = tx(1, 2, 10, 4);
  assert_int_equal(mc_overlay_apply(o, &t, CHAIN), 0);
  assert_int_equal(mc_overlay_get(o, t.to, &a), 0);
  assert_true(a.balance == UINT64_MAX);
  t = tx(4, 2, 1, 1);
  assert_int_equal(mc_overlay_apply(o, &t, CHAIN), MC_EOVERFLOW);
  assert_int_equal(mc_overlay_get(o, t.from, &a), 0);
  assert_int_equal(a.balance, 5);
  assert_int_equal(a.nonce, 0);
  assert_int_equal(mc_overlay_count(o), 2);
  /* The overlay's own changes count for the sender too: 1 now has 990. */
  t = tx(1, 4, 991, 5);
  assert_int_equal(mc_overlay_apply(o, &t, CHAIN), MC_EBALANCE);
  t = tx(1, 4, 990, 5);
  assert_int_equal(mc_overlay_apply(o, &t, CHAIN), 0);
  mc_overlay_free(o);
}

static void test_base_error_passes_through(void **state) {
  (void)state;
  base b = make_base();
  mc_overlay *o = mc_overlay_new(base_get, &b);
  mc_account a;
  b.fail = 1;
  mc_tx t = tx(1, 2, 1, 4);
  assert_int_equal(mc_overlay_apply(o, &t, CHAIN), MC_EIO);
  assert_int_equal(mc_overlay_get(o, t.from, &a), MC_EIO);
  assert_int_equal(mc_overlay_count(o), 0);
  mc_overlay_free(o);
}

static void root_of(const mc_account *accts, size_t n, uint8_t out[32]) {
  mc_lthash h;
  mc_lthash_init(&h);
  for (size_t i = 0; i < n; i++)
    mc_lthash_add(&h, &accts[i]);
  mc_lthash_root(&h, out);
}

/* Many accounts (the overlay's table grows several times), then the
 * incremental state root equals the root over all accounts recomputed. */
static void test_update_lthash_equals_recomputation(void **state) {
  (void)state;
  enum { N = 300 };
  base b = make_base();
  mc_account all[N + NBASE];
  mc_lthash acc;
  uint8_t r1[32], r2[32];
  mc_lthash_init(&acc);
  for (int i = 0; i < NBASE; i++)
    mc_lthash_add(&acc, &b.acct[i]);
  mc_overlay *o = mc_overlay_new(base_get, &b);
  /* Account 1 pays each of N fresh accounts 1 or 2. */
  for (int i = 0; i < N; i++) {
    mc_tx t = tx(1, 0, 1, 4 + (uint64_t)i);
    t.to[1] = (uint8_t)(i + 1);
    t.to[2] = (uint8_t)((i + 1) >> 8);
    t.amount = (i < 100) ? 1 : 2;
    assert_int_equal(mc_overlay_apply(o, &t, CHAIN), 0);
  }
  assert_int_equal(mc_overlay_count(o), N + 1);
  mc_overlay_update_lthash(o, &acc);
  mc_lthash_root(&acc, r1);

  /* From scratch: the changed accounts, then the untouched base ones. */
  size_t n = 0;
  for (size_t i = 0; i < mc_overlay_count(o); i++)
    mc_overlay_entry(o, i, &all[n++], NULL);
  for (int i = 1; i < NBASE; i++)
    all[n++] = b.acct[i];
  root_of(all, n, r2);
  assert_memory_equal(r1, r2, 32);
  mc_account a;
  assert_int_equal(mc_overlay_get(o, b.acct[0].pubkey, &a), 0);
  assert_int_equal(a.balance, 1000 - 100 - 2 * 200);
  mc_overlay_free(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_static_rules),
      cmocka_unit_test(test_apply_moves_balance_and_nonce),
      cmocka_unit_test(test_apply_rejections),
      cmocka_unit_test(test_overflow_at_max_after_earlier_change),
      cmocka_unit_test(test_base_error_passes_through),
      cmocka_unit_test(test_update_lthash_equals_recomputation),
  };
  if (mc_crypto_init() != 0)
    return 1;
  return cmocka_run_group_tests(tests, NULL, NULL);
}
