/*
 * test-mempool.c - the mempool's admission rules, caps and eviction,
 * queued promotion, re-check after commit and rejection memory
 * (host/mempool.c).
 *
 * Accounts live in a small in-memory table read through the same
 * mc_account_get_fn the node gives the pool; commits are applied to it
 * with the real state transition (mc_overlay) before the pool hears of
 * them, as mc_node_commit does.  Keys are deterministic ed25519 keys from
 * fixed seeds, transfers are signed with mc_tx_sign.  The pool's clock is
 * a variable the tests set, so expiry is deterministic.
 */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "chain/codec.h"
#include "chain/crypto.h"
#include "chain/state.h"
#include "mempool.h"
#include "minichain/error.h"

#define CHAIN "test-chain"
#define MAX_ACCOUNTS 512

/* ---- fixture: keys and a fake committed state ---- */

typedef struct key {
  uint8_t pk[MC_PUBKEY_LEN];
  uint8_t sk[MC_SECKEY_LEN];
} key;

static mc_account accounts[MAX_ACCOUNTS];
static size_t naccounts;
static int get_calls_fail; /* make the getter report MC_EIO */

static int fake_get(void *ctx, const uint8_t pk[MC_PUBKEY_LEN], mc_account *out) {
  (void)ctx;
  if (get_calls_fail)
    return MC_EIO;
  for (size_t i = 0; i < naccounts; i++)
    if (memcmp(accounts[i].pubkey, pk, MC_PUBKEY_LEN) == 0) {
      *out = accounts[i];
      return 0;
    }
  return MC_ENOTFOUND;
}

static void set_account(const uint8_t pk[MC_PUBKEY_LEN], uint64_t balance,
                        uint64_t nonce) {
  size_t i = 0;
  while (i < naccounts && memcmp(accounts[i].pubkey, pk, MC_PUBKEY_LEN) != 0)
    i++;
  assert_true(i < MAX_ACCOUNTS);
  if (i == naccounts)
    naccounts++;
  memcpy(accounts[i].pubkey, pk, MC_PUBKEY_LEN);
  accounts[i].balance = balance;
  accounts[i].nonce = nonce;
}

static key make_key(unsigned n) {
  uint8_t seed[MC_SEED_LEN] = {0};
  key k;
  memcpy(seed, &n, sizeof n);
  seed[31] = 0x5a;
  crypto_sign_seed_keypair(k.pk, k.sk, seed);
  return k;
}

static mc_tx make_tx_on(const char *chain, const key *from, const key *to,
                        uint64_t amount, uint64_t nonce) {
  mc_tx tx;
  memset(&tx, 0, sizeof tx);
  snprintf(tx.chain_id, sizeof tx.chain_id, "%s", chain);
  memcpy(tx.from, from->pk, MC_PUBKEY_LEN);
  memcpy(tx.to, to->pk, MC_PUBKEY_LEN);
  tx.amount = amount;
  tx.nonce = nonce;
  mc_tx_sign(&tx, from->sk);
  return tx;
}

static mc_tx make_tx(const key *from, const key *to, uint64_t amount,
                     uint64_t nonce) {
  return make_tx_on(CHAIN, from, to, amount, nonce);
}

static key alice, bob, carol, dave;
static uint64_t fake_now; /* the pools' clock */

static int setup(void **state) {
  (void)state;
  if (mc_crypto_init() != 0)
    return -1;
  alice = make_key(1);
  bob = make_key(2);
  carol = make_key(3);
  dave = make_key(4);
  naccounts = 0;
  get_calls_fail = 0;
  fake_now = 0;
  set_account(alice.pk, 1000, 0);
  set_account(bob.pk, 1000, 0);
  set_account(carol.pk, 1000, 0);
  return 0;
}

static uint64_t fake_clock(void *ctx) {
  (void)ctx;
  return fake_now;
}

static mc_mempool *pool_ttl(size_t total, size_t per_sender, uint64_t gap,
                            uint64_t ttl) {
  mc_mempool_limits lim = {total, per_sender, gap, ttl};
  mc_mempool *mp = mc_mempool_new(&lim, CHAIN, fake_get, NULL);
  assert_non_null(mp);
  mc_mempool_set_clock(mp, fake_clock, NULL);
  return mp;
}

static mc_mempool *pool_with(size_t total, size_t per_sender, uint64_t gap) {
  return pool_ttl(total, per_sender, gap, 0);
}

static mc_mempool *pool(void) { return pool_with(100, 50, 8); }

/* Applies txs to the fake state with the real state transition, then tells
 * the pool, as mc_node_commit does. */
static void commit(mc_mempool *mp, const mc_tx *txs, uint32_t n) {
  mc_block *b = mc_block_new(n);
  mc_overlay *o = mc_overlay_new(fake_get, NULL);
  assert_non_null(b);
  assert_non_null(o);
  for (uint32_t i = 0; i < n; i++) {
    b->txs[i] = txs[i];
    assert_int_equal(mc_overlay_apply(o, &txs[i], CHAIN), 0);
  }
  b->header.tx_count = n;
  for (size_t i = 0; i < mc_overlay_count(o); i++) {
    mc_account now, before;
    mc_overlay_entry(o, i, &now, &before);
    set_account(now.pubkey, now.balance, now.nonce);
  }
  mc_overlay_free(o);
  mc_mempool_on_commit(mp, b);
  mc_block_free(b);
}

static void assert_rejected(const mc_mempool *mp, const mc_tx *tx, int reason) {
  int r = 0;
  assert_false(mc_mempool_contains(mp, tx->id));
  assert_int_equal(mc_mempool_rejection(mp, tx->id, &r), 1);
  assert_int_equal(r, reason);
}

/* Nothing is filed under tx's id (GET_TX would not say "rejected"). */
static void assert_not_recorded(const mc_mempool *mp, const mc_tx *tx) {
  int r = 0;
  assert_int_equal(mc_mempool_rejection(mp, tx->id, &r), 0);
}

static void assert_state(const mc_mempool *mp, const mc_tx *tx, int ready) {
  const mc_tx *found = NULL;
  int is_ready = -1;
  assert_int_equal(mc_mempool_find(mp, tx->id, &found, &is_ready), 1);
  assert_memory_equal(found->id, tx->id, MC_HASH_LEN);
  assert_int_equal(is_ready, ready);
}

/* ---- admission ---- */

static void test_admit_ready(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  mc_tx t = make_tx(&alice, &bob, 10, 1);
  assert_int_equal(mc_mempool_add(mp, &t), 0);
  assert_true(mc_mempool_contains(mp, t.id));
  assert_state(mp, &t, 1);
  assert_int_equal(mc_mempool_size(mp), 1);
  assert_int_equal(mc_mempool_ready_count(mp), 1);
  assert_int_equal(mc_mempool_queued_count(mp), 0);
  int r;
  assert_int_equal(mc_mempool_rejection(mp, t.id, &r), 0);
  mc_mempool_free(mp);
}

static void test_recomputes_id(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  mc_tx t = make_tx(&alice, &bob, 10, 1);
  mc_tx lying = t;
  memset(lying.id, 0xee, MC_HASH_LEN);
  assert_int_equal(mc_mempool_add(mp, &lying), 0);
  assert_true(mc_mempool_contains(mp, t.id));
  assert_false(mc_mempool_contains(mp, lying.id));
  mc_mempool_free(mp);
}

/* The id does not cover the signature: a copy with a bad one says nothing
 * about the genuine transfer, so nothing is filed under the id. */
static void test_bad_signature(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  mc_tx t = make_tx(&alice, &bob, 10, 1);
  t.sig[5] ^= 0x01;
  assert_int_equal(mc_mempool_add(mp, &t), MC_ESIG);
  assert_not_recorded(mp, &t);
  /* Signed by someone else than `from`. */
  mc_tx forged = make_tx(&carol, &bob, 10, 1);
  memcpy(forged.from, alice.pk, MC_PUBKEY_LEN);
  mc_tx_compute_id(&forged);
  assert_int_equal(mc_mempool_add(mp, &forged), MC_ESIG);
  assert_not_recorded(mp, &forged);
  assert_int_equal(mc_mempool_size(mp), 0);
  /* The genuine transfer with the same id is admitted and found. */
  mc_tx good = make_tx(&alice, &bob, 10, 1);
  assert_memory_equal(good.id, t.id, MC_HASH_LEN);
  assert_int_equal(mc_mempool_add(mp, &good), 0);
  assert_state(mp, &good, 1);
  assert_not_recorded(mp, &good);
  mc_mempool_free(mp);
}

/* A copy with the real transfer's fields and a bad signature (anyone can
 * make one without the sender's key). */
static mc_tx forge(const mc_tx *real, size_t which) {
  mc_tx f = *real;
  f.sig[which % MC_SIG_LEN] ^= 0x40;
  return f;
}

/* The rules on the sender's own state are met before the signature is
 * verified.  They hold for every copy whatever its signature (the sender's
 * committed account and pending transfers, which only its key changes),
 * so a forged copy's refusal is filed under the id, as the real one's is.
 * A full pool is other senders' doing: its refusal before verification is
 * returned, never filed. */
static void test_forged_copies_refused_as_real_ones(void **state) {
  (void)state;
  mc_mempool *mp = pool_with(100, 2, 4);
  set_account(alice.pk, 100, 5);
  mc_tx b1 = make_tx(&bob, &carol, 1, 1), b2 = make_tx(&bob, &carol, 1, 2);
  assert_int_equal(mc_mempool_add(mp, &b1), 0);
  assert_int_equal(mc_mempool_add(mp, &b2), 0);
  const struct {
    mc_tx tx;
    int reason;
    int filed;
  } cases[] = {
      {make_tx(&alice, &bob, 10, 5), MC_ENONCE, 1},
      {make_tx(&alice, &bob, 10, 11), MC_ENONCEGAP, 1},
      {make_tx(&alice, &bob, 101, 6), MC_EBALANCE, 1},
      {make_tx(&bob, &carol, 1, 3), MC_EFULL, 0}, /* bob's share is 2 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint64_t n = mc_mempool_verify_count(mp);
    mc_tx bad = forge(&cases[i].tx, i);
    assert_int_equal(mc_mempool_add(mp, &bad), cases[i].reason);
    if (cases[i].filed)
      assert_rejected(mp, &bad, cases[i].reason);
    else
      assert_not_recorded(mp, &bad);
    assert_int_equal(mc_mempool_add(mp, &cases[i].tx), cases[i].reason);
    if (cases[i].filed)
      assert_rejected(mp, &cases[i].tx, cases[i].reason);
    else
      assert_not_recorded(mp, &cases[i].tx);
    assert_int_equal(mc_mempool_verify_count(mp), n); /* none verified */
  }
  /* A good copy the caller verified is filed whatever the reason. */
  assert_int_equal(mc_mempool_add_verified(mp, &cases[3].tx), MC_EFULL);
  assert_rejected(mp, &cases[3].tx, MC_EFULL);
  assert_int_equal(mc_mempool_size(mp), 2);
  mc_mempool_free(mp);
}

/* A forged copy cannot change what GET_TX says about a real transfer: while
 * it is pending a copy is a duplicate; a copy that passes the cheap checks
 * fails its signature and is not filed; a refusal it met (balance, here) is
 * forgotten when the real transfer is admitted. */
static void test_forged_copies_cannot_poison(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  mc_tx real = make_tx(&alice, &bob, 10, 1);
  assert_int_equal(mc_mempool_add(mp, &real), 0);
  mc_tx bad = forge(&real, 7);
  assert_int_equal(mc_mempool_add(mp, &bad), MC_EDUP);
  assert_int_equal(mc_mempool_check(mp, &bad), MC_EDUP);
  assert_not_recorded(mp, &real);
  assert_state(mp, &real, 1);

  mc_tx next = make_tx(&alice, &bob, 10, 2);
  mc_tx bad_next = forge(&next, 9);
  assert_int_equal(mc_mempool_add(mp, &bad_next), MC_ESIG);
  assert_not_recorded(mp, &next);
  assert_int_equal(mc_mempool_add(mp, &next), 0);

  set_account(carol.pk, 5, 0);
  mc_tx c1 = make_tx(&carol, &bob, 10, 1);
  mc_tx bad_c1 = forge(&c1, 11);
  assert_int_equal(mc_mempool_add(mp, &bad_c1), MC_EBALANCE);
  assert_rejected(mp, &c1, MC_EBALANCE); /* true of the real one too */
  set_account(carol.pk, 50, 0);
  assert_int_equal(mc_mempool_add(mp, &bad_c1), MC_ESIG);
  assert_rejected(mp, &c1, MC_EBALANCE); /* a bad copy files nothing */
  assert_int_equal(mc_mempool_add(mp, &c1), 0);
  assert_not_recorded(mp, &c1);
  assert_state(mp, &c1, 1);
  mc_mempool_free(mp);
}

/* Every refusal found before the signature costs no verification: the
 * pool's caps, nonce used or pending, gap, balance, stateless rules. */
static void test_cheap_refusals_verify_nothing(void **state) {
  (void)state;
  mc_mempool *mp = pool_with(4, 2, 4);
  set_account(alice.pk, 100, 5);
  mc_tx b1 = make_tx(&bob, &carol, 1, 1), b2 = make_tx(&bob, &carol, 1, 2);
  mc_tx c1 = make_tx(&carol, &bob, 1, 1), c2 = make_tx(&carol, &bob, 1, 2);
  mc_tx *fill[] = {&b1, &b2, &c1, &c2};
  for (int i = 0; i < 4; i++)
    assert_int_equal(mc_mempool_add(mp, fill[i]), 0);
  const struct {
    mc_tx tx;
    int reason;
  } cases[] = {
      {make_tx(&bob, &carol, 1, 3), MC_EFULL},   /* bob's share is 2 */
      {make_tx(&alice, &bob, 1, 6), MC_EFULL},   /* pool full, all ready */
      {make_tx(&alice, &bob, 1, 5), MC_ENONCE},  /* used */
      {make_tx(&bob, &alice, 2, 2), MC_ENONCE},  /* pending */
      {make_tx(&alice, &bob, 1, 11), MC_ENONCEGAP},
      {make_tx(&alice, &bob, 101, 6), MC_EBALANCE},
      {make_tx(&alice, &alice, 1, 6), MC_ESELF},
      {make_tx_on("other", &alice, &bob, 1, 6), MC_ECHAINID},
      {b1, MC_EDUP},
  };
  uint64_t n = mc_mempool_verify_count(mp);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(mc_mempool_add(mp, &cases[i].tx), cases[i].reason);
    assert_int_equal(mc_mempool_check(mp, &cases[i].tx), cases[i].reason);
    mc_tx bad = forge(&cases[i].tx, i);
    assert_int_equal(mc_mempool_add(mp, &bad), cases[i].reason);
  }
  assert_int_equal(mc_mempool_verify_count(mp), n);
  assert_int_equal(mc_mempool_size(mp), 4);
  mc_mempool_free(mp);
}

/* ---- split admission: check, verify elsewhere, add_verified ---- */

/* mc_mempool_check verifies nothing and admits nothing; it refuses and
 * files as mc_mempool_add would. */
static void test_check(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  set_account(bob.pk, 1000, 3);
  mc_tx good = make_tx(&alice, &bob, 10, 1);
  mc_tx used = make_tx(&bob, &alice, 10, 3);
  mc_tx zero = make_tx(&alice, &bob, 0, 1);
  mc_tx lying = good;
  memset(lying.id, 0, MC_HASH_LEN);
  assert_int_equal(mc_mempool_check(mp, &good), 0);
  assert_int_equal(mc_mempool_check(mp, &lying), 0); /* id recomputed */
  assert_int_equal(mc_mempool_check(mp, &used), MC_ENONCE);
  assert_rejected(mp, &used, MC_ENONCE);
  assert_int_equal(mc_mempool_check(mp, &zero), MC_EZERO);
  assert_rejected(mp, &zero, MC_EZERO);
  mc_tx bad = forge(&good, 1);
  assert_int_equal(mc_mempool_check(mp, &bad), 0); /* not known bad yet */
  assert_int_equal(mc_mempool_size(mp), 0);
  assert_int_equal(mc_mempool_verify_count(mp), 0);
  /* A getter error is the node's trouble: returned, not filed. */
  get_calls_fail = 1;
  assert_int_equal(mc_mempool_check(mp, &good), MC_EIO);
  get_calls_fail = 0;
  assert_not_recorded(mp, &good);
  mc_mempool_free(mp);
}

/* The caller verified: admitted without a verification, and counted as
 * verified for block validation; the other checks run again, as the pool
 * may have changed since mc_mempool_check. */
static void test_add_verified(void **state) {
  (void)state;
  mc_mempool *mp = pool_with(3, 50, 8);
  mc_tx a1 = make_tx(&alice, &bob, 10, 1);
  assert_int_equal(mc_mempool_check(mp, &a1), 0);
  assert_int_equal(mc_mempool_add_verified(mp, &a1), 0);
  assert_int_equal(mc_mempool_verify_count(mp), 0);
  assert_state(mp, &a1, 1);
  assert_int_equal(mc_mempool_tx_verified(mp, &a1), 1);
  assert_int_equal(mc_mempool_add_verified(mp, &a1), MC_EDUP);

  /* Checked while nonce 2 was free; another nonce-2 got in meanwhile. */
  mc_tx a2 = make_tx(&alice, &bob, 10, 2), a2b = make_tx(&alice, &carol, 10, 2);
  assert_int_equal(mc_mempool_check(mp, &a2), 0);
  assert_int_equal(mc_mempool_add(mp, &a2b), 0);
  assert_int_equal(mc_mempool_add_verified(mp, &a2), MC_ENONCE);
  assert_rejected(mp, &a2, MC_ENONCE);

  /* Checked while there was room; the pool filled meanwhile.  The refusal
   * is filed with the signature the caller verified, so the same bytes
   * are not verified again when they come back. */
  mc_tx b1 = make_tx(&bob, &alice, 10, 1), c1 = make_tx(&carol, &alice, 10, 1);
  assert_int_equal(mc_mempool_check(mp, &b1), 0);
  assert_int_equal(mc_mempool_add(mp, &c1), 0);
  assert_int_equal(mc_mempool_add_verified(mp, &b1), MC_EFULL);
  assert_rejected(mp, &b1, MC_EFULL);
  mc_tx blk[] = {a1};
  commit(mp, blk, 1);
  uint64_t n = mc_mempool_verify_count(mp);
  assert_int_equal(mc_mempool_add(mp, &b1), 0);
  assert_int_equal(mc_mempool_verify_count(mp), n);
  assert_not_recorded(mp, &b1);
  mc_mempool_free(mp);
}

/* A failed verification reported by the caller: the same bytes are then
 * refused with MC_ESIG by check and add without a verification, nothing is
 * filed under the id, and the genuine transfer is still admitted. */
static void test_note_bad_sig(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  mc_tx good = make_tx(&alice, &bob, 10, 1);
  mc_tx bad = forge(&good, 3);
  assert_int_equal(mc_mempool_check(mp, &bad), 0);
  assert_int_not_equal(mc_tx_verify(&bad), 0); /* the caller's worker */
  mc_mempool_note_bad_sig(mp, &bad);
  mc_mempool_note_bad_sig(mp, &bad); /* twice is harmless */
  assert_int_equal(mc_mempool_check(mp, &bad), MC_ESIG);
  assert_int_equal(mc_mempool_add(mp, &bad), MC_ESIG);
  assert_int_equal(mc_mempool_verify_count(mp), 0);
  assert_not_recorded(mp, &good);
  assert_int_equal(mc_mempool_check(mp, &good), 0);
  assert_int_equal(mc_mempool_add(mp, &good), 0);
  assert_int_equal(mc_mempool_verify_count(mp), 1);
  /* Bad bytes the pool verified itself are known too. */
  mc_tx good2 = make_tx(&alice, &bob, 10, 2), bad2 = forge(&good2, 5);
  assert_int_equal(mc_mempool_add(mp, &bad2), MC_ESIG);
  assert_int_equal(mc_mempool_verify_count(mp), 2);
  assert_int_equal(mc_mempool_check(mp, &bad2), MC_ESIG);
  assert_int_equal(mc_mempool_verify_count(mp), 2);
  mc_mempool_free(mp);
}

/* Each distinct copy costs at most one verification: bad bytes are known
 * by their wire hash, a refused good copy by the signature kept with its
 * rejection, a member by the pool. */
static void test_copies_verified_once(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  set_account(bob.pk, 1000, 3);
  mc_tx good = make_tx(&alice, &bob, 10, 1);
  mc_tx bad = good, bad2 = good;
  bad.sig[3] ^= 0x01;
  bad2.sig[4] ^= 0x01;
  mc_tx used = make_tx(&bob, &alice, 10, 3);
  uint64_t n = mc_mempool_verify_count(mp);
  assert_int_equal(mc_mempool_add(mp, &bad), MC_ESIG);
  assert_int_equal(mc_mempool_verify_count(mp), n + 1);
  assert_int_equal(mc_mempool_add(mp, &bad), MC_ESIG);
  assert_int_equal(mc_mempool_verify_count(mp), n + 1);
  assert_int_equal(mc_mempool_add(mp, &bad2), MC_ESIG); /* other bytes */
  assert_int_equal(mc_mempool_verify_count(mp), n + 2);
  assert_int_equal(mc_mempool_add(mp, &used), MC_ENONCE); /* no verify */
  assert_int_equal(mc_mempool_add(mp, &used), MC_ENONCE);
  assert_int_equal(mc_mempool_verify_count(mp), n + 2);
  /* The good copy is not taken for the bad bytes it shares an id with. */
  assert_int_equal(mc_mempool_add(mp, &good), 0);
  assert_int_equal(mc_mempool_verify_count(mp), n + 3);
  assert_int_equal(mc_mempool_add(mp, &good), MC_EDUP);
  assert_int_equal(mc_mempool_verify_count(mp), n + 3);
  mc_mempool_free(mp);
}

/* The bad-copy memory is bounded: the oldest is forgotten (and would be
 * verified again), the newest are still known. */
static void test_bad_copies_bounded(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  mc_tx good = make_tx(&alice, &bob, 10, 1);
  mc_tx first = good, last = good;
  uint64_t n = mc_mempool_verify_count(mp);
  for (uint32_t i = 0; i <= MC_MEMPOOL_BAD_SIGS_KEPT; i++) {
    mc_tx bad = good;
    memcpy(bad.sig, &i, sizeof i); /* i-th distinct bad signature */
    bad.sig[MC_SIG_LEN - 1] ^= 0x01;
    assert_int_equal(mc_mempool_add(mp, &bad), MC_ESIG);
    if (i == 0)
      first = bad;
    last = bad;
  }
  n += MC_MEMPOOL_BAD_SIGS_KEPT + 1;
  assert_int_equal(mc_mempool_verify_count(mp), n);
  assert_int_equal(mc_mempool_add(mp, &last), MC_ESIG);
  assert_int_equal(mc_mempool_verify_count(mp), n);
  assert_int_equal(mc_mempool_add(mp, &first), MC_ESIG);
  assert_int_equal(mc_mempool_verify_count(mp), n + 1);
  assert_not_recorded(mp, &good);
  assert_int_equal(mc_mempool_add(mp, &good), 0);
  mc_mempool_free(mp);
}

static void test_static_rules(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  mc_tx other = make_tx_on("other-chain", &alice, &bob, 10, 1);
  assert_int_equal(mc_mempool_add(mp, &other), MC_ECHAINID);
  assert_rejected(mp, &other, MC_ECHAINID);
  mc_tx zero = make_tx(&alice, &bob, 0, 1);
  assert_int_equal(mc_mempool_add(mp, &zero), MC_EZERO);
  assert_rejected(mp, &zero, MC_EZERO);
  mc_tx self = make_tx(&alice, &alice, 10, 1);
  assert_int_equal(mc_mempool_add(mp, &self), MC_ESELF);
  assert_rejected(mp, &self, MC_ESELF);
  assert_int_equal(mc_mempool_size(mp), 0);
  mc_mempool_free(mp);
}

static void test_nonce_used_or_pending(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  set_account(alice.pk, 1000, 5);
  mc_tx used = make_tx(&alice, &bob, 10, 5);
  assert_int_equal(mc_mempool_add(mp, &used), MC_ENONCE);
  assert_rejected(mp, &used, MC_ENONCE);
  mc_tx zero_nonce = make_tx(&alice, &bob, 10, 0);
  assert_int_equal(mc_mempool_add(mp, &zero_nonce), MC_ENONCE);

  mc_tx t6 = make_tx(&alice, &bob, 10, 6);
  assert_int_equal(mc_mempool_add(mp, &t6), 0);
  mc_tx t6b = make_tx(&alice, &bob, 11, 6); /* same nonce, other id */
  assert_int_equal(mc_mempool_add(mp, &t6b), MC_ENONCE);
  assert_rejected(mp, &t6b, MC_ENONCE);
  /* Same for a queued nonce. */
  mc_tx t9 = make_tx(&alice, &bob, 10, 9);
  mc_tx t9b = make_tx(&alice, &carol, 10, 9);
  assert_int_equal(mc_mempool_add(mp, &t9), 0);
  assert_int_equal(mc_mempool_add(mp, &t9b), MC_ENONCE);
  assert_int_equal(mc_mempool_size(mp), 2);
  mc_mempool_free(mp);
}

static void test_duplicate_id(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  mc_tx t = make_tx(&alice, &bob, 10, 1);
  mc_tx q = make_tx(&alice, &bob, 10, 3);
  assert_int_equal(mc_mempool_add(mp, &t), 0);
  assert_int_equal(mc_mempool_add(mp, &q), 0);
  assert_int_equal(mc_mempool_add(mp, &t), MC_EDUP);
  assert_int_equal(mc_mempool_add(mp, &q), MC_EDUP);
  /* Not a rejection: the transfer is pending. */
  int r;
  assert_int_equal(mc_mempool_rejection(mp, t.id, &r), 0);
  assert_int_equal(mc_mempool_size(mp), 2);
  mc_mempool_free(mp);
}

static void test_nonce_gap(void **state) {
  (void)state;
  mc_mempool *mp = pool_with(100, 50, 4);
  mc_tx far = make_tx(&alice, &bob, 10, 6); /* next is 1: gap 5 */
  assert_int_equal(mc_mempool_add(mp, &far), MC_ENONCEGAP);
  assert_rejected(mp, &far, MC_ENONCEGAP);
  mc_tx edge = make_tx(&alice, &bob, 10, 5); /* gap 4 */
  assert_int_equal(mc_mempool_add(mp, &edge), 0);
  assert_state(mp, &edge, 0);
  /* The window moves with the ready run. */
  mc_tx t1 = make_tx(&alice, &bob, 10, 1);
  assert_int_equal(mc_mempool_add(mp, &t1), 0);
  assert_int_equal(mc_mempool_add(mp, &far), 0);
  assert_int_equal(mc_mempool_rejection(mp, far.id, &(int){0}), 0);
  mc_mempool_free(mp);

  /* A gap of 0 queues nothing. */
  mp = pool_with(100, 50, 0);
  mc_tx t2 = make_tx(&alice, &bob, 10, 2);
  assert_int_equal(mc_mempool_add(mp, &t2), MC_ENONCEGAP);
  mc_mempool_free(mp);
}

static void test_balance_counts_pending(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  set_account(alice.pk, 100, 0);
  mc_tx t1 = make_tx(&alice, &bob, 60, 1);
  mc_tx t2 = make_tx(&alice, &bob, 50, 2); /* 110 > 100 */
  mc_tx t2b = make_tx(&alice, &bob, 40, 2);
  mc_tx q4 = make_tx(&alice, &bob, 1, 4);  /* queued: 100 - 100 = 0 left */
  mc_tx all = make_tx(&carol, &bob, 1001, 1);
  assert_int_equal(mc_mempool_add(mp, &t1), 0);
  assert_int_equal(mc_mempool_add(mp, &t2), MC_EBALANCE);
  assert_rejected(mp, &t2, MC_EBALANCE);
  assert_int_equal(mc_mempool_add(mp, &t2b), 0);
  assert_int_equal(mc_mempool_add(mp, &q4), MC_EBALANCE);
  assert_int_equal(mc_mempool_add(mp, &all), MC_EBALANCE);
  /* An account never seen has nothing. */
  mc_tx poor = make_tx(&dave, &bob, 1, 1);
  assert_int_equal(mc_mempool_add(mp, &poor), MC_EBALANCE);
  assert_int_equal(mc_mempool_ready_count(mp), 2);
  mc_mempool_free(mp);
}

static void test_getter_error(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  mc_tx t = make_tx(&alice, &bob, 10, 1);
  get_calls_fail = 1;
  assert_int_equal(mc_mempool_add(mp, &t), MC_EIO);
  uint64_t next;
  assert_int_equal(mc_mempool_next_nonce(mp, alice.pk, &next), MC_EIO);
  get_calls_fail = 0;
  /* The node's failure is not held against the transfer. */
  assert_int_equal(mc_mempool_rejection(mp, t.id, &(int){0}), 0);
  assert_int_equal(mc_mempool_add(mp, &t), 0);
  mc_mempool_free(mp);
}

static void test_per_sender_cap(void **state) {
  (void)state;
  mc_mempool *mp = pool_with(100, 3, 8);
  mc_tx t[5];
  for (int i = 0; i < 5; i++)
    t[i] = make_tx(&alice, &bob, 1, (uint64_t)i + 1);
  assert_int_equal(mc_mempool_add(mp, &t[0]), 0);
  assert_int_equal(mc_mempool_add(mp, &t[1]), 0);
  assert_int_equal(mc_mempool_add(mp, &t[4]), 0); /* queued counts too */
  assert_int_equal(mc_mempool_add(mp, &t[2]), MC_EFULL);
  assert_not_recorded(mp, &t[2]); /* refused before verification */
  assert_int_equal(mc_mempool_add_verified(mp, &t[2]), MC_EFULL);
  assert_rejected(mp, &t[2], MC_EFULL);
  /* Other senders are not affected. */
  mc_tx b1 = make_tx(&bob, &alice, 1, 1);
  assert_int_equal(mc_mempool_add(mp, &b1), 0);
  mc_mempool_free(mp);
}

static void test_eviction(void **state) {
  (void)state;
  mc_mempool *mp = pool_with(4, 50, 8);
  mc_tx a1 = make_tx(&alice, &carol, 1, 1);
  mc_tx b3 = make_tx(&bob, &carol, 1, 3);
  mc_tx b4 = make_tx(&bob, &carol, 1, 4);
  mc_tx a5 = make_tx(&alice, &carol, 1, 5);
  assert_int_equal(mc_mempool_add(mp, &a1), 0);
  assert_int_equal(mc_mempool_add(mp, &b3), 0);
  assert_int_equal(mc_mempool_add(mp, &b4), 0);
  assert_int_equal(mc_mempool_add(mp, &a5), 0);
  assert_int_equal(mc_mempool_size(mp), 4);

  /* A ready newcomer evicts bob's highest queued nonce (bob has most). */
  mc_tx c1 = make_tx(&carol, &alice, 1, 1);
  assert_int_equal(mc_mempool_add(mp, &c1), 0);
  assert_rejected(mp, &b4, MC_EFULL);
  assert_true(mc_mempool_contains(mp, b3.id));
  assert_int_equal(mc_mempool_size(mp), 4);

  /* A queued newcomer of alice (would have 2 queued) may not evict from a
   * sender with fewer. */
  mc_tx a6 = make_tx(&alice, &carol, 1, 6);
  assert_int_equal(mc_mempool_add(mp, &a6), MC_EFULL);
  assert_not_recorded(mp, &a6); /* refused before verification */
  /* Nor may carol's queued one push out a sender with as many as it
   * would have. */
  mc_tx c3 = make_tx(&carol, &alice, 1, 3);
  assert_int_equal(mc_mempool_add(mp, &c3), MC_EFULL);

  /* Ready newcomers keep evicting queued ones, never ready ones. */
  mc_tx a2 = make_tx(&alice, &carol, 1, 2);
  mc_tx c2 = make_tx(&carol, &alice, 1, 2);
  assert_int_equal(mc_mempool_add(mp, &a2), 0);
  assert_int_equal(mc_mempool_add(mp, &c2), 0);
  assert_int_equal(mc_mempool_queued_count(mp), 0);
  assert_rejected(mp, &a5, MC_EFULL);
  assert_rejected(mp, &b3, MC_EFULL);
  mc_tx b1 = make_tx(&bob, &carol, 1, 1);
  assert_int_equal(mc_mempool_add(mp, &b1), MC_EFULL);
  assert_not_recorded(mp, &b1);
  assert_int_equal(mc_mempool_ready_count(mp), 4);
  assert_true(mc_mempool_contains(mp, a1.id));
  assert_true(mc_mempool_contains(mp, c1.id));
  mc_mempool_free(mp);
}

static void test_eviction_of_own_queued(void **state) {
  (void)state;
  /* A sender's ready newcomer may push out its own queued tail. */
  mc_mempool *mp = pool_with(2, 50, 8);
  mc_tx a2 = make_tx(&alice, &carol, 1, 2);
  mc_tx a3 = make_tx(&alice, &carol, 1, 3);
  mc_tx a1 = make_tx(&alice, &carol, 1, 1);
  assert_int_equal(mc_mempool_add(mp, &a2), 0);
  assert_int_equal(mc_mempool_add(mp, &a3), 0);
  assert_int_equal(mc_mempool_add(mp, &a1), 0);
  assert_rejected(mp, &a3, MC_EFULL);
  assert_state(mp, &a1, 1);
  assert_state(mp, &a2, 1); /* promoted */
  assert_int_equal(mc_mempool_size(mp), 2);
  mc_mempool_free(mp);
}

static void test_tx_verified_needs_same_sig(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  mc_tx t = make_tx(&alice, &bob, 10, 1);
  assert_int_equal(mc_mempool_tx_verified(mp, &t), 0);
  assert_int_equal(mc_mempool_add(mp, &t), 0);
  assert_int_equal(mc_mempool_tx_verified(mp, &t), 1);
  mc_tx garbage = t;
  garbage.sig[0] ^= 0x80;
  assert_true(mc_mempool_contains(mp, garbage.id)); /* same id ... */
  assert_int_equal(mc_mempool_tx_verified(mp, &garbage), 0);
  mc_tx lying = make_tx(&alice, &bob, 11, 1);
  memcpy(lying.id, t.id, MC_HASH_LEN); /* fields differ, id claimed */
  memcpy(lying.sig, t.sig, MC_SIG_LEN);
  assert_int_equal(mc_mempool_tx_verified(mp, &lying), 0);
  mc_mempool_free(mp);
}

/* ---- ready order and promotion ---- */

static void test_promotion_and_order(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  mc_tx b1 = make_tx(&bob, &carol, 1, 1);
  mc_tx a3 = make_tx(&alice, &carol, 1, 3);
  mc_tx a2 = make_tx(&alice, &carol, 1, 2);
  mc_tx c1 = make_tx(&carol, &bob, 1, 1);
  mc_tx a1 = make_tx(&alice, &carol, 1, 1);
  assert_int_equal(mc_mempool_add(mp, &b1), 0);
  assert_int_equal(mc_mempool_add(mp, &a3), 0);
  assert_int_equal(mc_mempool_add(mp, &a2), 0);
  assert_int_equal(mc_mempool_queued_count(mp), 2);
  assert_state(mp, &a3, 0);
  assert_int_equal(mc_mempool_add(mp, &c1), 0);
  assert_int_equal(mc_mempool_add(mp, &a1), 0);
  assert_int_equal(mc_mempool_queued_count(mp), 0);
  assert_int_equal(mc_mempool_ready_count(mp), 5);
  assert_state(mp, &a3, 1);

  const mc_tx *out[8];
  const mc_tx *want[] = {&b1, &c1, &a1, &a2, &a3};
  assert_int_equal(mc_mempool_ready(mp, out, 8), 5);
  for (int i = 0; i < 5; i++)
    assert_memory_equal(out[i]->id, want[i]->id, MC_HASH_LEN);
  assert_int_equal(mc_mempool_ready(mp, out, 2), 2);
  assert_memory_equal(out[1]->id, c1.id, MC_HASH_LEN);
  mc_mempool_free(mp);
}

static void test_promotion_drops_unaffordable(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  set_account(alice.pk, 100, 0);
  mc_tx a2 = make_tx(&alice, &carol, 90, 2); /* fits alone */
  mc_tx a3 = make_tx(&alice, &carol, 5, 3);
  mc_tx a1 = make_tx(&alice, &carol, 20, 1);
  assert_int_equal(mc_mempool_add(mp, &a2), 0);
  assert_int_equal(mc_mempool_add(mp, &a3), 0);
  assert_int_equal(mc_mempool_add(mp, &a1), 0);
  assert_rejected(mp, &a2, MC_EBALANCE); /* 20 + 90 > 100 */
  assert_state(mp, &a3, 0);              /* waits for a new nonce 2 */
  mc_tx a2b = make_tx(&alice, &carol, 30, 2);
  assert_int_equal(mc_mempool_add(mp, &a2b), 0);
  assert_state(mp, &a3, 1);
  assert_int_equal(mc_mempool_ready_count(mp), 3);
  mc_mempool_free(mp);
}

/* ---- after a commit ---- */

static void test_commit_removes_included(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  mc_tx a1 = make_tx(&alice, &carol, 10, 1);
  mc_tx a2 = make_tx(&alice, &carol, 10, 2);
  mc_tx b1 = make_tx(&bob, &carol, 10, 1);
  mc_tx c1 = make_tx(&carol, &bob, 10, 1);
  assert_int_equal(mc_mempool_add(mp, &a1), 0);
  assert_int_equal(mc_mempool_add(mp, &a2), 0);
  assert_int_equal(mc_mempool_add(mp, &b1), 0);
  assert_int_equal(mc_mempool_add(mp, &c1), 0);
  assert_true(mc_mempool_tx_verified(mp, &a1));
  mc_tx blk[] = {a1, b1};
  commit(mp, blk, 2);
  assert_false(mc_mempool_contains(mp, a1.id));
  assert_false(mc_mempool_contains(mp, b1.id));
  int r;
  assert_int_equal(mc_mempool_rejection(mp, a1.id, &r), 0); /* not refused */
  assert_state(mp, &a2, 1);
  assert_int_equal(mc_mempool_size(mp), 2);
  /* a2, still ready, keeps its place ahead of the later c1. */
  const mc_tx *out[4];
  assert_int_equal(mc_mempool_ready(mp, out, 4), 2);
  assert_memory_equal(out[0]->id, a2.id, MC_HASH_LEN);
  assert_memory_equal(out[1]->id, c1.id, MC_HASH_LEN);
  assert_false(mc_mempool_tx_verified(mp, &b1));
  /* Bob left the pool entirely; a new transfer starts from nonce 2. */
  mc_tx b2 = make_tx(&bob, &carol, 10, 2);
  assert_int_equal(mc_mempool_add(mp, &b2), 0);
  assert_state(mp, &b2, 1);
  mc_mempool_free(mp);
}

static void test_commit_invalidates(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  set_account(alice.pk, 100, 0);
  mc_tx a1 = make_tx(&alice, &carol, 30, 1);
  mc_tx a2 = make_tx(&alice, &carol, 30, 2);
  mc_tx a3 = make_tx(&alice, &carol, 30, 3);
  mc_tx a5 = make_tx(&alice, &carol, 1, 5);
  mc_tx b1 = make_tx(&bob, &carol, 1, 1);
  mc_tx *mine[] = {&a1, &a2, &a3, &a5, &b1};
  for (int i = 0; i < 5; i++)
    assert_int_equal(mc_mempool_add(mp, mine[i]), 0);
  /* Another node included a1 and a different nonce-2 transfer of 60. */
  mc_tx other2 = make_tx(&alice, &dave, 60, 2);
  mc_tx blk[] = {a1, other2};
  commit(mp, blk, 2);
  /* alice: nonce 2, balance 10. */
  assert_rejected(mp, &a2, MC_ENONCE);
  assert_rejected(mp, &a3, MC_EBALANCE);
  assert_state(mp, &a5, 0); /* 5 - 3 <= gap: still waits */
  assert_state(mp, &b1, 1); /* bob untouched */
  assert_int_equal(mc_mempool_size(mp), 2);
  uint64_t next;
  assert_int_equal(mc_mempool_next_nonce(mp, alice.pk, &next), 0);
  assert_int_equal(next, 3);
  mc_mempool_free(mp);
}

static void test_commit_promotes(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  mc_tx a1 = make_tx(&alice, &carol, 10, 1);
  mc_tx a3 = make_tx(&alice, &carol, 10, 3);
  mc_tx a4 = make_tx(&alice, &carol, 10, 4);
  mc_tx b1 = make_tx(&bob, &carol, 10, 1);
  assert_int_equal(mc_mempool_add(mp, &a1), 0);
  assert_int_equal(mc_mempool_add(mp, &a3), 0);
  assert_int_equal(mc_mempool_add(mp, &b1), 0);
  assert_int_equal(mc_mempool_add(mp, &a4), 0);
  assert_int_equal(mc_mempool_queued_count(mp), 2);
  /* The gap (nonce 2) was filled through another node. */
  mc_tx other2 = make_tx(&alice, &dave, 10, 2);
  mc_tx blk[] = {a1, other2};
  commit(mp, blk, 2);
  assert_int_equal(mc_mempool_queued_count(mp), 0);
  const mc_tx *out[4];
  assert_int_equal(mc_mempool_ready(mp, out, 4), 3);
  /* b1 was ready first; a3, a4 became ready at the commit. */
  assert_memory_equal(out[0]->id, b1.id, MC_HASH_LEN);
  assert_memory_equal(out[1]->id, a3.id, MC_HASH_LEN);
  assert_memory_equal(out[2]->id, a4.id, MC_HASH_LEN);
  mc_mempool_free(mp);
}

static void test_commit_demotes(void **state) {
  (void)state;
  mc_mempool *mp = pool_with(100, 50, 2);
  set_account(alice.pk, 100, 0);
  mc_tx a1 = make_tx(&alice, &carol, 30, 1);
  mc_tx a2 = make_tx(&alice, &carol, 30, 2);
  mc_tx a3 = make_tx(&alice, &carol, 5, 3);
  mc_tx a4 = make_tx(&alice, &carol, 5, 4);
  mc_tx a5 = make_tx(&alice, &carol, 5, 5);
  mc_tx *mine[] = {&a1, &a2, &a3, &a4, &a5};
  for (int i = 0; i < 5; i++)
    assert_int_equal(mc_mempool_add(mp, mine[i]), 0);
  assert_int_equal(mc_mempool_ready_count(mp), 5);
  /* A different nonce-1 transfer of 80 commits: balance 20, nonce 1. */
  mc_tx other1 = make_tx(&alice, &dave, 80, 1);
  commit(mp, &other1, 1);
  assert_rejected(mp, &a1, MC_ENONCE);
  assert_rejected(mp, &a2, MC_EBALANCE); /* 30 > 20 */
  assert_state(mp, &a3, 0);              /* back to waiting for nonce 2 */
  assert_state(mp, &a4, 0);
  assert_rejected(mp, &a5, MC_ENONCEGAP); /* 5 - 2 > 2 */
  assert_int_equal(mc_mempool_ready_count(mp), 0);
  assert_int_equal(mc_mempool_queued_count(mp), 2);
  const mc_tx *out[4];
  assert_int_equal(mc_mempool_ready(mp, out, 4), 0);
  /* Filling the gap again promotes them. */
  mc_tx a2b = make_tx(&alice, &carol, 10, 2);
  assert_int_equal(mc_mempool_add(mp, &a2b), 0);
  assert_int_equal(mc_mempool_ready(mp, out, 4), 3);
  assert_memory_equal(out[0]->id, a2b.id, MC_HASH_LEN);
  assert_memory_equal(out[2]->id, a4.id, MC_HASH_LEN);
  mc_mempool_free(mp);
}

/* ---- expiry ---- */

/* A queued transfer whose gap is never filled leaves after the TTL, each
 * on its own time, and says why; ready ones never expire. */
static void test_expiry(void **state) {
  (void)state;
  mc_mempool *mp = pool_ttl(100, 50, 8, 1000);
  fake_now = 5000;
  mc_tx a1 = make_tx(&alice, &carol, 1, 1);
  mc_tx a3 = make_tx(&alice, &carol, 1, 3);
  mc_tx b4 = make_tx(&bob, &carol, 1, 4);
  assert_int_equal(mc_mempool_add(mp, &a1), 0);
  assert_int_equal(mc_mempool_add(mp, &a3), 0);
  fake_now = 5400;
  assert_int_equal(mc_mempool_add(mp, &b4), 0);
  mc_mempool_expire(mp, 5999);
  assert_int_equal(mc_mempool_queued_count(mp), 2);
  mc_mempool_expire(mp, 6000);
  assert_rejected(mp, &a3, MC_EEXPIRED);
  assert_state(mp, &b4, 0);
  assert_state(mp, &a1, 1);
  mc_mempool_expire(mp, 6399);
  assert_state(mp, &b4, 0);
  mc_mempool_expire(mp, 100000);
  assert_rejected(mp, &b4, MC_EEXPIRED);
  assert_state(mp, &a1, 1); /* ready: never expires */
  assert_int_equal(mc_mempool_size(mp), 1);
  /* Bob left the pool entirely (his sender entry with it). */
  mc_tx b1 = make_tx(&bob, &carol, 1, 1);
  assert_int_equal(mc_mempool_add(mp, &b1), 0);
  /* An expired transfer may come back: its signature is known good. */
  uint64_t n = mc_mempool_verify_count(mp);
  fake_now = 100000;
  assert_int_equal(mc_mempool_add(mp, &a3), 0);
  assert_int_equal(mc_mempool_verify_count(mp), n);
  assert_not_recorded(mp, &a3);
  assert_state(mp, &a3, 0);
  mc_mempool_free(mp);
}

/* A transfer whose gap fills in time is ready and no longer expires,
 * whether the gap filled by admission or by a commit. */
static void test_expiry_spares_promoted(void **state) {
  (void)state;
  mc_mempool *mp = pool_ttl(100, 50, 8, 1000);
  mc_tx a2 = make_tx(&alice, &carol, 10, 2);
  mc_tx a1 = make_tx(&alice, &carol, 10, 1);
  mc_tx b2 = make_tx(&bob, &carol, 10, 2);
  assert_int_equal(mc_mempool_add(mp, &a2), 0);
  assert_int_equal(mc_mempool_add(mp, &b2), 0);
  fake_now = 900;
  assert_int_equal(mc_mempool_add(mp, &a1), 0);
  mc_tx other_b1 = make_tx(&bob, &dave, 10, 1); /* through another node */
  commit(mp, &other_b1, 1);
  assert_int_equal(mc_mempool_queued_count(mp), 0);
  mc_mempool_expire(mp, 5000);
  assert_int_equal(mc_mempool_size(mp), 3);
  assert_state(mp, &a2, 1);
  assert_state(mp, &b2, 1);
  mc_mempool_free(mp);
}

/* A commit that sends ready transfers back to queued stamps them then. */
static void test_expiry_after_demotion(void **state) {
  (void)state;
  mc_mempool *mp = pool_ttl(100, 50, 8, 1000);
  set_account(alice.pk, 100, 0);
  mc_tx a1 = make_tx(&alice, &carol, 30, 1);
  mc_tx a2 = make_tx(&alice, &carol, 30, 2);
  mc_tx a3 = make_tx(&alice, &carol, 5, 3);
  assert_int_equal(mc_mempool_add(mp, &a1), 0);
  assert_int_equal(mc_mempool_add(mp, &a2), 0);
  assert_int_equal(mc_mempool_add(mp, &a3), 0);
  fake_now = 10000;
  mc_tx other1 = make_tx(&alice, &dave, 80, 1); /* leaves 20 */
  commit(mp, &other1, 1);
  assert_rejected(mp, &a2, MC_EBALANCE);
  assert_state(mp, &a3, 0); /* queued since 10000 */
  mc_mempool_expire(mp, 10999);
  assert_state(mp, &a3, 0);
  mc_mempool_expire(mp, 11000);
  assert_rejected(mp, &a3, MC_EEXPIRED);
  assert_int_equal(mc_mempool_size(mp), 0);
  mc_mempool_free(mp);
}

/* A TTL of 0 keeps queued transfers until their gap fills. */
static void test_expiry_off(void **state) {
  (void)state;
  mc_mempool *mp = pool_ttl(100, 50, 8, 0);
  mc_tx a3 = make_tx(&alice, &carol, 1, 3);
  assert_int_equal(mc_mempool_add(mp, &a3), 0);
  mc_mempool_expire(mp, UINT64_MAX - 1);
  assert_state(mp, &a3, 0);
  mc_mempool_free(mp);
}

/* Expiry walks only what is due: many queued transfers, a few due. */
static void test_expiry_takes_only_due(void **state) {
  (void)state;
  enum { SENDERS = 40, PER = 8 };
  static key keys[SENDERS];
  mc_mempool *mp = pool_ttl(SENDERS * PER, PER, 16, 100);
  for (unsigned s = 0; s < SENDERS; s++) {
    keys[s] = make_key(300 + s);
    set_account(keys[s].pk, 1000, 0);
  }
  for (unsigned s = 0; s < SENDERS; s++) {
    fake_now = s; /* sender s's transfers queued at time s */
    for (uint64_t n = 2; n < 2 + PER; n++) {
      mc_tx t = make_tx(&keys[s], &keys[(s + 1) % SENDERS], 1, n);
      assert_int_equal(mc_mempool_add(mp, &t), 0);
    }
  }
  assert_int_equal(mc_mempool_queued_count(mp), SENDERS * PER);
  mc_mempool_expire(mp, 100 + 9); /* senders 0..9 */
  assert_int_equal(mc_mempool_queued_count(mp), (SENDERS - 10) * PER);
  mc_tx t = make_tx(&keys[9], &keys[10], 1, 2);
  assert_rejected(mp, &t, MC_EEXPIRED);
  t = make_tx(&keys[10], &keys[11], 1, 2);
  assert_state(mp, &t, 0);
  mc_mempool_expire(mp, 100 + SENDERS);
  assert_int_equal(mc_mempool_size(mp), 0);
  mc_mempool_free(mp);
}

/* ---- memory of refusals, next nonce ---- */

static void test_rejection_memory_bounded(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  size_t n = MC_MEMPOOL_REJECTIONS_KEPT + 1;
  mc_tx first = {0}, second = {0}, last = {0};
  for (size_t i = 0; i < n; i++) {
    /* Stateless refusals need no signature: cheap to make many. */
    mc_tx t;
    memset(&t, 0, sizeof t);
    snprintf(t.chain_id, sizeof t.chain_id, "wrong");
    memcpy(t.from, alice.pk, MC_PUBKEY_LEN);
    memcpy(t.to, bob.pk, MC_PUBKEY_LEN);
    t.amount = 1;
    t.nonce = i + 1;
    mc_tx_compute_id(&t);
    assert_int_equal(mc_mempool_add(mp, &t), MC_ECHAINID);
    if (i == 0)
      first = t;
    if (i == 1)
      second = t;
    last = t;
  }
  int r;
  assert_int_equal(mc_mempool_rejection(mp, first.id, &r), 0);
  assert_int_equal(mc_mempool_rejection(mp, second.id, &r), 1);
  assert_int_equal(r, MC_ECHAINID);
  assert_int_equal(mc_mempool_rejection(mp, last.id, &r), 1);
  mc_mempool_free(mp);
}

static void test_rejection_latest_reason(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  set_account(alice.pk, 5, 0);
  mc_tx t = make_tx(&alice, &bob, 10, 1);
  assert_int_equal(mc_mempool_add(mp, &t), MC_EBALANCE);
  assert_rejected(mp, &t, MC_EBALANCE);
  set_account(alice.pk, 5, 1);
  assert_int_equal(mc_mempool_add(mp, &t), MC_ENONCE);
  assert_rejected(mp, &t, MC_ENONCE);
  mc_mempool_free(mp);
}

static void test_next_nonce(void **state) {
  (void)state;
  mc_mempool *mp = pool();
  uint64_t next = 0;
  assert_int_equal(mc_mempool_next_nonce(mp, dave.pk, &next), 0);
  assert_int_equal(next, 1); /* never seen */
  set_account(alice.pk, 1000, 5);
  assert_int_equal(mc_mempool_next_nonce(mp, alice.pk, &next), 0);
  assert_int_equal(next, 6);
  mc_tx t6 = make_tx(&alice, &bob, 1, 6);
  mc_tx t7 = make_tx(&alice, &bob, 1, 7);
  mc_tx t9 = make_tx(&alice, &bob, 1, 9);
  assert_int_equal(mc_mempool_add(mp, &t6), 0);
  assert_int_equal(mc_mempool_add(mp, &t7), 0);
  assert_int_equal(mc_mempool_add(mp, &t9), 0);
  assert_int_equal(mc_mempool_next_nonce(mp, alice.pk, &next), 0);
  assert_int_equal(next, 8); /* the queued 9 does not count */
  mc_mempool_free(mp);
}

static void test_new_refuses_bad_arguments(void **state) {
  (void)state;
  mc_mempool_limits zero_total = {0, 10, 4, 0}, zero_sender = {10, 0, 4, 0};
  assert_null(mc_mempool_new(&zero_total, CHAIN, fake_get, NULL));
  assert_null(mc_mempool_new(&zero_sender, CHAIN, fake_get, NULL));
  assert_null(mc_mempool_new(NULL, "", fake_get, NULL));
  assert_null(mc_mempool_new(NULL, "x23456789012345678901234567890123",
                             fake_get, NULL));
  assert_null(mc_mempool_new(NULL, CHAIN, NULL, NULL));
  mc_mempool *mp = mc_mempool_new(NULL, CHAIN, fake_get, NULL);
  assert_non_null(mp);
  mc_mempool_free(mp);
  mc_mempool_free(NULL);
}

/* Many senders through several commits: the counts and the ready order
 * stay consistent with what was committed. */
static void test_many_senders(void **state) {
  (void)state;
  enum { SENDERS = 200, PER = 10 };
  static key keys[SENDERS];
  static mc_tx txs[SENDERS * PER];
  mc_mempool *mp = pool_with(SENDERS * PER, PER, 16);
  for (unsigned s = 0; s < SENDERS; s++) {
    keys[s] = make_key(100 + s);
    set_account(keys[s].pk, 1000, 0);
  }
  /* Highest nonces first, so that each sender's run becomes ready only
   * when nonce 1 arrives. */
  for (int n = PER; n >= 1; n--)
    for (unsigned s = 0; s < SENDERS; s++) {
      mc_tx *t = &txs[s * PER + (unsigned)(n - 1)];
      *t = make_tx(&keys[s], &keys[(s + 1) % SENDERS], 1, (uint64_t)n);
      assert_int_equal(mc_mempool_add(mp, t), 0);
    }
  assert_int_equal(mc_mempool_ready_count(mp), SENDERS * PER);
  const mc_tx **out = calloc(SENDERS * PER, sizeof *out);
  assert_non_null(out);
  for (int round = 0; round < PER; round++) {
    size_t k = mc_mempool_ready(mp, out, 150);
    assert_int_equal(k, 150);
    mc_tx *blk = calloc(k, sizeof *blk);
    assert_non_null(blk);
    for (size_t i = 0; i < k; i++)
      blk[i] = *out[i];
    commit(mp, blk, (uint32_t)k); /* asserts each applies in order */
    free(blk);
    assert_int_equal(mc_mempool_size(mp), SENDERS * PER - 150 * (round + 1));
    assert_int_equal(mc_mempool_queued_count(mp), 0);
  }
  free(out);
  mc_mempool_free(mp);
}

/* ---- memory ---- */

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* Everyone is rich and has never sent anything. */
static int rich_get(void *ctx, const uint8_t pk[MC_PUBKEY_LEN],
                    mc_account *out) {
  (void)ctx;
  memset(out, 0, sizeof *out);
  memcpy(out->pubkey, pk, MC_PUBKEY_LEN);
  out->balance = UINT64_MAX / 2;
  return 0;
}

/* Resident bytes of this process (for information: pages freed by earlier
 * tests may be reused, so the pool's share is the heap figure below). */
static size_t rss_bytes(void) {
  unsigned long size = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f != NULL) {
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
      resident = 0;
    fclose(f);
  }
  return (size_t)resident * 4096u;
}

/* Bytes the allocator has handed out (chunk sizes, not requests). */
static size_t heap_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

/* Fills a pool with the default limits with n pending transfers from
 * `senders` senders and returns what the pool holds, in bytes.  The
 * transfers are not signed: mc_mempool_add_verified trusts the caller, and
 * memory does not depend on the signature's bytes. */
static size_t pool_bytes(size_t n, size_t senders, size_t *rss_grew) {
  size_t before = heap_in_use(), rss_before = rss_bytes();
  mc_mempool *mp = mc_mempool_new(NULL, CHAIN, rich_get, NULL);
  assert_non_null(mp);
  mc_tx t;
  memset(&t, 0, sizeof t);
  snprintf(t.chain_id, sizeof t.chain_id, "%s", CHAIN);
  t.amount = 1;
  for (size_t i = 0; i < n; i++) {
    uint32_t from = (uint32_t)(i % senders), to = from + 1;
    memcpy(t.from, &from, sizeof from);
    memcpy(t.to, &to, sizeof to);
    t.nonce = i / senders + 1;
    memcpy(t.sig, &i, sizeof i);
    assert_int_equal(mc_mempool_add_verified(mp, &t), 0);
  }
  assert_int_equal(mc_mempool_ready_count(mp), n);
  size_t used = heap_in_use() - before;
  *rss_grew = rss_bytes() - rss_before;
  mc_mempool_free(mp);
  return used;
}

/* One sender's committed nonce, for one_sender_get. */
static uint64_t one_sender_nonce;

static int one_sender_get(void *ctx, const uint8_t pk[MC_PUBKEY_LEN],
                          mc_account *out) {
  rich_get(ctx, pk, out);
  out->nonce = one_sender_nonce;
  return 0;
}

/* One sender's full share drains block by block: each commit drops the
 * front of the sender's array, which must not cost the whole array (it
 * did: the rest of the array moved for each included transfer, 10 GB of
 * memmove to drain a 50,000 share, twice this test's time). */
static void test_one_sender_share_drains(void **state) {
  (void)state;
  enum { SHARE = 50000, BLOCK = 500 };
  one_sender_nonce = 0;
  mc_mempool *mp = mc_mempool_new(NULL, CHAIN, one_sender_get, NULL);
  assert_non_null(mp);
  mc_block *b = mc_block_new(BLOCK);
  assert_non_null(b);
  mc_tx t;
  memset(&t, 0, sizeof t);
  snprintf(t.chain_id, sizeof t.chain_id, "%s", CHAIN);
  t.amount = 1;
  t.to[0] = 1;
  for (uint64_t n = 1; n <= SHARE; n++) {
    t.nonce = n;
    assert_int_equal(mc_mempool_add_verified(mp, &t), 0);
  }
  t.nonce = SHARE + 1;
  assert_int_equal(mc_mempool_add_verified(mp, &t), MC_EFULL);
  const mc_tx **out = calloc(BLOCK, sizeof *out);
  assert_non_null(out);
  for (size_t left = SHARE; left > 0; left -= BLOCK) {
    assert_int_equal(mc_mempool_ready(mp, out, BLOCK), BLOCK);
    for (size_t i = 0; i < BLOCK; i++)
      b->txs[i] = *out[i];
    b->header.tx_count = BLOCK;
    one_sender_nonce += BLOCK;
    mc_mempool_on_commit(mp, b);
    assert_int_equal(mc_mempool_size(mp), left - BLOCK);
  }
  free(out);
  mc_block_free(b);
  mc_mempool_free(mp);
}

/* 100,000 pending transfers (the default max_total) must fit in 64 MiB,
 * spread over many senders or packed into two full shares. */
static void test_memory_100k(void **state) {
  (void)state;
  const size_t n = 100000;
  const size_t shapes[] = {1000, 2};
  for (size_t i = 0; i < 2; i++) {
    size_t rss_grew;
    size_t used = pool_bytes(n, shapes[i], &rss_grew);
    print_message("mempool: %zu pending from %zu senders hold %zu bytes, "
                  "%zu per transfer (process RSS grew %zu bytes)\n",
                  n, shapes[i], used, used / n, rss_grew);
#ifndef UNDER_ASAN /* ASan's allocator is not the one mallinfo2 sees */
    assert_true(used > n * sizeof(mc_tx));
    assert_true(used <= (size_t)64 << 20);
#endif
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_admit_ready, setup),
      cmocka_unit_test_setup(test_recomputes_id, setup),
      cmocka_unit_test_setup(test_bad_signature, setup),
      cmocka_unit_test_setup(test_forged_copies_refused_as_real_ones, setup),
      cmocka_unit_test_setup(test_forged_copies_cannot_poison, setup),
      cmocka_unit_test_setup(test_cheap_refusals_verify_nothing, setup),
      cmocka_unit_test_setup(test_check, setup),
      cmocka_unit_test_setup(test_add_verified, setup),
      cmocka_unit_test_setup(test_note_bad_sig, setup),
      cmocka_unit_test_setup(test_copies_verified_once, setup),
      cmocka_unit_test_setup(test_bad_copies_bounded, setup),
      cmocka_unit_test_setup(test_static_rules, setup),
      cmocka_unit_test_setup(test_nonce_used_or_pending, setup),
      cmocka_unit_test_setup(test_duplicate_id, setup),
      cmocka_unit_test_setup(test_nonce_gap, setup),
      cmocka_unit_test_setup(test_balance_counts_pending, setup),
      cmocka_unit_test_setup(test_getter_error, setup),
      cmocka_unit_test_setup(test_per_sender_cap, setup),
      cmocka_unit_test_setup(test_eviction, setup),
      cmocka_unit_test_setup(test_eviction_of_own_queued, setup),
      cmocka_unit_test_setup(test_tx_verified_needs_same_sig, setup),
      cmocka_unit_test_setup(test_promotion_and_order, setup),
      cmocka_unit_test_setup(test_promotion_drops_unaffordable, setup),
      cmocka_unit_test_setup(test_commit_removes_included, setup),
      cmocka_unit_test_setup(test_commit_invalidates, setup),
      cmocka_unit_test_setup(test_commit_promotes, setup),
      cmocka_unit_test_setup(test_commit_demotes, setup),
      cmocka_unit_test_setup(test_expiry, setup),
      cmocka_unit_test_setup(test_expiry_spares_promoted, setup),
      cmocka_unit_test_setup(test_expiry_after_demotion, setup),
      cmocka_unit_test_setup(test_expiry_off, setup),
      cmocka_unit_test_setup(test_expiry_takes_only_due, setup),
      cmocka_unit_test_setup(test_rejection_memory_bounded, setup),
      cmocka_unit_test_setup(test_rejection_latest_reason, setup),
      cmocka_unit_test_setup(test_next_nonce, setup),
      cmocka_unit_test_setup(test_new_refuses_bad_arguments, setup),
      cmocka_unit_test_setup(test_many_senders, setup),
      cmocka_unit_test_setup(test_one_sender_share_drains, setup),
      cmocka_unit_test_setup(test_memory_100k, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
