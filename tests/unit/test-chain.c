/*
 * test-chain.c - opening, building, validating and committing blocks
 * (host/chain/chain.c) over an in-memory store.
 *
 * The store here is a fake mc_store_vtable kept in this file (blocks and
 * accounts in arrays), so that the chain rules are tested without any
 * store plugin; the store plugins have their own conformance suite.  The
 * genesis is tests/data/genesis-valid.json, whose first validator is the
 * dev key "val0" and which funds the dev key "alice" (tools/vectors.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chain/chain.h"
#include "chain/codec.h"
#include "chain/crypto.h"
#include "chain/genesis.h"
#include "keys.h"
#include "minichain/error.h"

/* ---- the in-memory store ---- */

#define MAX_BLOCKS 16
#define MAX_ACCTS 16

struct mc_store {
  mc_block *blocks[MAX_BLOCKS];
  uint64_t nblocks;
  mc_account accts[MAX_ACCTS];
  size_t naccts;
  int appends;
};

static int fs_head(mc_store *s, uint64_t *height, uint8_t hash[MC_HASH_LEN]) {
  if (s->nblocks == 0)
    return MC_ENOTFOUND;
  *height = s->nblocks - 1;
  memcpy(hash, s->blocks[s->nblocks - 1]->hash, MC_HASH_LEN);
  return 0;
}

static mc_account *fs_find(mc_store *s, const uint8_t pk[MC_PUBKEY_LEN]) {
  for (size_t i = 0; i < s->naccts; i++)
    if (memcmp(s->accts[i].pubkey, pk, MC_PUBKEY_LEN) == 0)
      return &s->accts[i];
  return NULL;
}

static int fs_append(mc_store *s, const mc_block *b, const mc_account *ch,
                     size_t n) {
  if (b->header.height != s->nblocks || s->nblocks == MAX_BLOCKS)
    return MC_ELINK;
  mc_block *copy = mc_block_dup(b);
  assert_non_null(copy);
  s->blocks[s->nblocks++] = copy;
  for (size_t i = 0; i < n; i++) {
    mc_account *a = fs_find(s, ch[i].pubkey);
    if (a == NULL) {
      assert_true(s->naccts < MAX_ACCTS);
      a = &s->accts[s->naccts++];
    }
    *a = ch[i];
  }
  s->appends++;
  return 0;
}

static int fs_get_block(mc_store *s, uint64_t height, mc_block **out) {
  if (height >= s->nblocks)
    return MC_ENOTFOUND;
  *out = mc_block_dup(s->blocks[height]);
  return *out ? 0 : MC_ENOMEM;
}

static int fs_get_block_by_hash(mc_store *s, const uint8_t hash[MC_HASH_LEN],
                                mc_block **out) {
  for (uint64_t h = 0; h < s->nblocks; h++)
    if (memcmp(s->blocks[h]->hash, hash, MC_HASH_LEN) == 0)
      return fs_get_block(s, h, out);
  return MC_ENOTFOUND;
}

static void fs_free_block(mc_store *s, mc_block *b) {
  (void)s;
  mc_block_free(b);
}

static int fs_get_account(mc_store *s, const uint8_t pk[MC_PUBKEY_LEN],
                          mc_account *out) {
  mc_account *a = fs_find(s, pk);
  if (a == NULL)
    return MC_ENOTFOUND;
  *out = *a;
  return 0;
}

static int fs_each_account(mc_store *s, mc_account_cb cb, void *arg) {
  for (size_t i = 0; i < s->naccts; i++) {
    int rc = cb(arg, &s->accts[i]);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int fs_find_tx(mc_store *s, const uint8_t txid[MC_HASH_LEN],
                      uint64_t *height, uint32_t *index) {
  for (uint64_t h = 0; h < s->nblocks; h++)
    for (uint32_t i = 0; i < s->blocks[h]->header.tx_count; i++)
      if (memcmp(s->blocks[h]->txs[i].id, txid, MC_HASH_LEN) == 0) {
        *height = h;
        *index = i;
        return 0;
      }
  return MC_ENOTFOUND;
}

static const mc_store_vtable fake_vt = {
    .size = sizeof(mc_store_vtable),
    .head = fs_head,
    .append = fs_append,
    .get_block = fs_get_block,
    .get_block_by_hash = fs_get_block_by_hash,
    .free_block = fs_free_block,
    .get_account = fs_get_account,
    .each_account = fs_each_account,
    .find_tx = fs_find_tx,
};

static void fs_clear(mc_store *s) {
  for (uint64_t h = 0; h < s->nblocks; h++)
    mc_block_free(s->blocks[h]);
  memset(s, 0, sizeof *s);
}

/* ---- fixture ---- */

typedef struct fixture {
  mc_genesis g;
  mc_store s;
  mc_chain *c;
  mc_keypair val, alice, bob, outsider;
  uint64_t now;
} fixture;

static mc_keypair dev(const char *name) {
  mc_keypair kp;
  assert_int_equal(mc_key_from_dev_name(name, &kp), 0);
  return kp;
}

static int setup(void **state) {
  char err[256];
  fixture *f = calloc(1, sizeof *f);
  if (f == NULL || mc_crypto_init() != 0)
    return -1;
  if (mc_genesis_load(MC_TEST_DATA_DIR "/genesis-valid.json", &f->g, err,
                      sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  f->val = dev("val0");
  f->alice = dev("alice");
  f->bob = dev("bob");
  f->outsider = dev("not-a-validator");
  f->now = f->g.genesis_time_ms + 5000;
  err[0] = '\0';
  if (mc_chain_open(&f->c, &f->g, &fake_vt, &f->s, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  mc_chain_close(f->c);
  fs_clear(&f->s);
  mc_genesis_free(&f->g);
  free(f);
  return 0;
}

static mc_tx transfer(fixture *f, const mc_keypair *from, const uint8_t *to,
                      uint64_t amount, uint64_t nonce) {
  mc_tx t;
  memset(&t, 0, sizeof t);
  strcpy(t.chain_id, f->g.chain_id);
  memcpy(t.from, from->pk, MC_PUBKEY_LEN);
  memcpy(t.to, to, MC_PUBKEY_LEN);
  t.amount = amount;
  t.nonce = nonce;
  mc_tx_sign(&t, from->sk);
  return t;
}

/* A valid block 1 with two transfers from alice. */
static mc_block *build_two(fixture *f) {
  mc_tx t1 = transfer(f, &f->alice, f->bob.pk, 250, 1);
  mc_tx t2 = transfer(f, &f->alice, f->outsider.pk, 50, 2);
  const mc_tx *cands[] = {&t1, &t2};
  mc_block *b = NULL;
  assert_int_equal(mc_chain_build(f->c, cands, 2, f->now, f->val.sk, &b), 0);
  return b;
}

/* ---- tests ---- */

static void test_open_empty_store_writes_block0(void **state) {
  fixture *f = *state;
  mc_block *b0 = NULL, *want = NULL;
  assert_int_equal(mc_chain_height(f->c), 0);
  assert_int_equal(f->s.nblocks, 1);
  assert_int_equal(mc_genesis_block(&f->g, &want), 0);
  assert_memory_equal(mc_chain_head_hash(f->c), want->hash, MC_HASH_LEN);
  assert_int_equal(mc_chain_get_block(f->c, 0, &b0), 0);
  assert_memory_equal(&b0->header, &want->header, sizeof want->header);
  mc_block_free(b0);
  mc_block_free(want);
  mc_account a;
  assert_int_equal(mc_chain_account(f->c, f->alice.pk, &a), 0);
  assert_int_equal(a.balance, 1000000);
  assert_int_equal(mc_chain_account(f->c, f->val.pk, &a), 0);
  assert_int_equal(a.balance, 0);
  assert_memory_equal(a.pubkey, f->val.pk, MC_PUBKEY_LEN);
}

static void test_build_validate_commit(void **state) {
  fixture *f = *state;
  mc_block *b = build_two(f);
  assert_int_equal(b->header.height, 1);
  assert_int_equal(b->header.tx_count, 2);
  assert_true(b->header.timestamp_ms == f->now);
  assert_memory_equal(b->header.proposer, f->val.pk, MC_PUBKEY_LEN);
  assert_int_equal(mc_chain_validate(f->c, b, f->now, NULL, NULL), 0);
  assert_int_equal(
      mc_chain_commit(f->c, b, (const uint8_t *)"cert", 4, NULL, NULL), 0);
  assert_int_equal(mc_chain_height(f->c), 1);
  assert_memory_equal(mc_chain_head_hash(f->c), b->hash, MC_HASH_LEN);
  mc_account a;
  assert_int_equal(mc_chain_account(f->c, f->alice.pk, &a), 0);
  assert_int_equal(a.balance, 1000000 - 300);
  assert_int_equal(a.nonce, 2);
  assert_int_equal(mc_chain_account(f->c, f->outsider.pk, &a), 0);
  assert_int_equal(a.balance, 50);
  uint64_t h;
  uint32_t idx;
  assert_int_equal(mc_chain_find_tx(f->c, b->txs[1].id, &h, &idx), 0);
  assert_int_equal(h, 1);
  assert_int_equal(idx, 1);
  mc_block *back = NULL;
  assert_int_equal(mc_chain_get_block_by_hash(f->c, b->hash, &back), 0);
  assert_int_equal(back->cert_len, 4);
  assert_memory_equal(back->cert, "cert", 4);
  mc_block_free(back);
  /* The same block again no longer links. */
  assert_int_equal(mc_chain_validate(f->c, b, f->now, NULL, NULL), MC_ELINK);
  mc_block_free(b);

  /* Reopening over the same store rebuilds the same state. */
  char err[256] = "";
  mc_chain *c2 = NULL;
  assert_int_equal(mc_chain_open(&c2, &f->g, &fake_vt, &f->s, err, sizeof err),
                   0);
  assert_int_equal(mc_chain_height(c2), 1);
  mc_chain_close(c2);
}

static void test_build_skips_invalid_candidates(void **state) {
  fixture *f = *state;
  mc_tx bad_nonce = transfer(f, &f->alice, f->bob.pk, 1, 5);
  mc_tx too_much = transfer(f, &f->alice, f->bob.pk, 2000000, 1);
  mc_tx ok = transfer(f, &f->alice, f->bob.pk, 7, 1);
  const mc_tx *cands[] = {&bad_nonce, &too_much, &ok};
  mc_block *b = NULL;
  assert_int_equal(mc_chain_build(f->c, cands, 3, 0, f->val.sk, &b), 0);
  assert_int_equal(b->header.tx_count, 1);
  assert_int_equal(b->txs[0].amount, 7);
  /* now_ms 0: the timestamp is the parent's + 1. */
  assert_true(b->header.timestamp_ms == f->g.genesis_time_ms + 1);
  assert_int_equal(mc_chain_validate(f->c, b, f->now, NULL, NULL), 0);
  mc_block_free(b);
}

static int always_known(void *ctx, const mc_tx *tx) {
  (void)ctx;
  (void)tx;
  return 1;
}

/* Mutations of a valid block, each re-signed by `signer` (NULL: left as
 * is), and the error validation must give. */
typedef void (*mutate_fn)(fixture *f, mc_block *b);

static void m_height(fixture *f, mc_block *b) { (void)f; b->header.height = 2; }
static void m_prev(fixture *f, mc_block *b) {
  (void)f;
  b->header.prev_hash[5] ^= 1;
}
static void m_txroot(fixture *f, mc_block *b) {
  (void)f;
  b->header.tx_root[0] ^= 1;
}
static void m_stateroot(fixture *f, mc_block *b) {
  (void)f;
  b->header.state_root[31] ^= 1;
}
static void m_before_parent(fixture *f, mc_block *b) {
  b->header.timestamp_ms = f->g.genesis_time_ms - 1;
}
static void m_same_as_parent(fixture *f, mc_block *b) {
  b->header.timestamp_ms = f->g.genesis_time_ms;
}
static void m_tx_sig(fixture *f, mc_block *b) {
  (void)f;
  b->txs[1].sig[0] ^= 1;
}
static void m_tx_amount(fixture *f, mc_block *b) {
  (void)f;
  b->txs[0].amount = 2000000; /* more than alice has */
}
static void m_tx_nonce(fixture *f, mc_block *b) {
  (void)f;
  b->txs[1].nonce = 1; /* reuses the first transfer's nonce */
}
static void m_tx_chain(fixture *f, mc_block *b) {
  (void)f;
  strcpy(b->txs[0].chain_id, "another-chain");
}
static void m_too_many(fixture *f, mc_block *b) {
  mc_tx *txs = calloc(f->g.max_txs_per_block + 1, sizeof *txs);
  assert_non_null(txs);
  for (uint32_t i = 0; i <= f->g.max_txs_per_block; i++)
    txs[i] = b->txs[i % 2];
  free(b->txs);
  b->txs = txs;
  b->header.tx_count = f->g.max_txs_per_block + 1;
}

static void check_mutation(fixture *f, mutate_fn m, const mc_keypair *signer,
                           mc_sig_known_fn known, int want) {
  mc_block *b = build_two(f);
  m(f, b);
  if (signer != NULL) {
    memcpy(b->header.proposer, signer->pk, MC_PUBKEY_LEN);
    mc_block_sign(b, signer->sk);
  }
  assert_int_equal(mc_chain_validate(f->c, b, f->now, known, NULL), want);
  /* A refused block is not committed and changes nothing. */
  int appends = f->s.appends;
  assert_int_equal(mc_chain_commit(f->c, b, NULL, 0, known, NULL), want);
  assert_int_equal(f->s.appends, appends);
  assert_int_equal(mc_chain_height(f->c), 0);
  mc_block_free(b);
}

static void test_validate_header_rejections(void **state) {
  fixture *f = *state;
  check_mutation(f, m_height, &f->val, NULL, MC_ELINK);
  check_mutation(f, m_prev, &f->val, NULL, MC_ELINK);
  check_mutation(f, m_txroot, &f->val, NULL, MC_ETXROOT);
  check_mutation(f, m_stateroot, &f->val, NULL, MC_ESTATEROOT);
  check_mutation(f, m_before_parent, &f->val, NULL, MC_ETIME);
  check_mutation(f, m_same_as_parent, &f->val, NULL, MC_ETIME);
  check_mutation(f, m_too_many, &f->val, NULL, MC_ETOOBIG);
}

static void test_validate_proposer_rejections(void **state) {
  fixture *f = *state;
  /* Signed correctly, but by a key that is not a validator. */
  check_mutation(f, m_prev, &f->outsider, NULL, MC_ELINK);
  mc_block *b = build_two(f);
  memcpy(b->header.proposer, f->outsider.pk, MC_PUBKEY_LEN);
  mc_block_sign(b, f->outsider.sk);
  assert_int_equal(mc_chain_validate(f->c, b, f->now, NULL, NULL),
                   MC_EPROPOSER);
  mc_block_free(b);
  /* A validator named as proposer, signed by someone else. */
  b = build_two(f);
  memcpy(b->header.proposer, f->g.validators[1], MC_PUBKEY_LEN);
  mc_block_sign(b, f->val.sk);
  assert_int_equal(mc_chain_validate(f->c, b, f->now, NULL, NULL), MC_ESIG);
  mc_block_free(b);
  /* A damaged signature. */
  b = build_two(f);
  b->signature[10] ^= 4;
  assert_int_equal(mc_chain_validate(f->c, b, f->now, NULL, NULL), MC_ESIG);
  mc_block_free(b);
  /* A hash that is not the header's. */
  b = build_two(f);
  b->hash[0] ^= 1;
  assert_int_equal(mc_chain_validate(f->c, b, f->now, NULL, NULL), MC_ESIG);
  mc_block_free(b);
}

static void test_validate_tx_rejections(void **state) {
  fixture *f = *state;
  check_mutation(f, m_tx_sig, NULL, NULL, MC_ESIG);
  /* With signatures taken as known, the state rules decide. */
  check_mutation(f, m_tx_amount, NULL, always_known, MC_EBALANCE);
  check_mutation(f, m_tx_nonce, NULL, always_known, MC_ENONCE);
  check_mutation(f, m_tx_chain, NULL, always_known, MC_ECHAINID);
  /* Without the cache the changed transfers fail their signatures. */
  check_mutation(f, m_tx_amount, NULL, NULL, MC_ESIG);
}

/* ---- the clock judges proposals, never committed blocks ---- */

#define TEN_MINUTES_MS (10u * 60u * 1000u)

/* A block on the head built by val0 with its clock at now_ms (stamped
 * max(now_ms, parent + 1)), carrying alice's transfer `nonce`. */
static mc_block *block_at(fixture *f, uint64_t nonce, uint64_t now_ms) {
  mc_tx t = transfer(f, &f->alice, f->bob.pk, 1, nonce);
  const mc_tx *cands[] = {&t};
  mc_block *b = NULL;
  assert_int_equal(mc_chain_build(f->c, cands, 1, now_ms, f->val.sk, &b), 0);
  assert_int_equal(b->header.tx_count, 1);
  return b;
}

static void test_validate_clock_bound(void **state) {
  fixture *f = *state;
  mc_block *edge = block_at(f, 1, f->now + MC_MAX_CLOCK_DRIFT_MS);
  mc_block *past = block_at(f, 1, f->now + MC_MAX_CLOCK_DRIFT_MS + 1);
  assert_int_equal(mc_chain_validate(f->c, edge, f->now, NULL, NULL), 0);
  assert_int_equal(mc_chain_validate(f->c, past, f->now, NULL, NULL), MC_ETIME);
  /* A clock near the top of u64 does not wrap the bound. */
  assert_int_equal(mc_chain_validate(f->c, past, UINT64_MAX, NULL, NULL), 0);
  mc_block_free(edge);
  mc_block_free(past);
}

/* A validator whose clock is 10 minutes behind the others: it will not
 * vote for their proposals, but it commits their certified blocks. */
static void test_commit_ignores_clock(void **state) {
  fixture *f = *state;
  uint64_t ahead = f->now + TEN_MINUTES_MS;
  mc_block *b1 = block_at(f, 1, ahead);
  assert_int_equal(mc_chain_validate(f->c, b1, f->now, NULL, NULL), MC_ETIME);
  assert_int_equal(
      mc_chain_commit(f->c, b1, (const uint8_t *)"cert", 4, NULL, NULL), 0);
  assert_int_equal(mc_chain_height(f->c), 1);
  assert_true(mc_chain_head(f->c)->timestamp_ms == ahead);

  /* Its own proposal follows the parent, not its clock. */
  mc_block *b2 = block_at(f, 2, f->now);
  assert_true(b2->header.timestamp_ms == ahead + 1);
  mc_block_free(b2);

  /* At or below the parent's time is refused by both, whatever the
   * clock says. */
  uint64_t stamps[] = {ahead, ahead - 1, f->g.genesis_time_ms};
  for (size_t i = 0; i < sizeof stamps / sizeof stamps[0]; i++) {
    mc_block *b = block_at(f, 2, ahead + 1);
    b->header.timestamp_ms = stamps[i];
    mc_block_sign(b, f->val.sk);
    assert_int_equal(mc_chain_validate(f->c, b, ahead, NULL, NULL), MC_ETIME);
    assert_int_equal(mc_chain_commit(f->c, b, NULL, 0, NULL, NULL), MC_ETIME);
    assert_int_equal(mc_chain_height(f->c), 1);
    mc_block_free(b);
  }
  mc_block_free(b1);
}

/* ---- opening a store that is not ours ---- */

static void test_open_foreign_and_corrupt(void **state) {
  fixture *f = *state;
  char err[256] = "";
  mc_chain *c2 = NULL;
  mc_genesis other;
  char *json = mc_genesis_to_json(&f->g);
  assert_non_null(json);
  char *at = strstr(json, "minichain-devnet");
  assert_non_null(at);
  at[0] = 'M';
  assert_int_equal(mc_genesis_parse(json, strlen(json), &other, err, sizeof err),
                   0);
  free(json);
  assert_int_equal(
      mc_chain_open(&c2, &other, &fake_vt, &f->s, err, sizeof err),
      MC_EFOREIGN);
  assert_null(c2);
  assert_non_null(strstr(err, "another chain"));
  mc_genesis_free(&other);

  /* An account edited behind the chain's back. */
  assert_true(f->s.naccts > 0);
  f->s.accts[0].balance++;
  assert_int_equal(mc_chain_open(&c2, &f->g, &fake_vt, &f->s, err, sizeof err),
                   MC_ECORRUPT);
  assert_non_null(strstr(err, "state root"));
  f->s.accts[0].balance--;
  assert_int_equal(mc_chain_open(&c2, &f->g, &fake_vt, &f->s, err, sizeof err),
                   0);
  mc_chain_close(c2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_open_empty_store_writes_block0,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_build_validate_commit, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_build_skips_invalid_candidates,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_validate_header_rejections, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_validate_proposer_rejections, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_validate_tx_rejections, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_validate_clock_bound, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_commit_ignores_clock, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_open_foreign_and_corrupt, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
