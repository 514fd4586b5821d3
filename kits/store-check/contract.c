/*
 * contract.c - the contract tests: what minichain/store.h promises about
 * an undamaged store.  Genesis, append and read back by height, hash and
 * tx id, accounts and nonces after every block, u64 values beyond 2^53,
 * the account walk and its early stop, reopen, refusal of blocks that do
 * not link, and other programs' files left alone.
 */
#include <stdio.h>
#include <string.h>

#include "chain/codec.h"
#include "check.h"

static void empty_store(const char *dir, const void *arg) {
  (void)arg;
  mc_store *s = open_ok(dir);
  uint64_t h;
  uint32_t idx;
  uint8_t hash[MC_HASH_LEN] = {0}, key[MC_PUBKEY_LEN] = {1};
  mc_block *b = NULL;
  mc_account a;
  CK_RC(ck_vt->head(s, &h, hash), MC_ENOTFOUND);
  CK_RC(ck_vt->get_block(s, 0, &b), MC_ENOTFOUND);
  CK_RC(ck_vt->get_block_by_hash(s, hash, &b), MC_ENOTFOUND);
  CK_RC(ck_vt->get_account(s, key, &a), MC_ENOTFOUND);
  CK_RC(ck_vt->find_tx(s, hash, &h, &idx), MC_ENOTFOUND);
  store_close(s);
  s = open_ok(dir);
  CK_RC(ck_vt->head(s, &h, hash), MC_ENOTFOUND);
  store_close(s);
  ck_vt->close(NULL);
}

static void genesis_append(const char *dir, const void *arg) {
  (void)arg;
  chain *c = chain_new(2);
  mc_store *s = open_ok(dir);
  /* An empty store takes height 0 only. */
  CK_RC(ck_vt->append(s, c->b[1], c->chg[1], c->nchg[1]), MC_ELINK);
  append_ok(s, c, 0, 1);
  assert_holds(s, c, 0);
  store_close(s);
}

static mc_store *g_owner;
static void free_block_cb(void *p) { ck_vt->free_block(g_owner, p); }

/* Reads the block with `hash` and compares it with want (NULL: absent). */
static void by_hash(mc_store *s, const uint8_t hash[MC_HASH_LEN],
                    const mc_block *want) {
  mc_block *b = NULL;
  int rc = ck_vt->get_block_by_hash(s, hash, &b);
  if (want == NULL) {
    if (rc != MC_ENOTFOUND)
      CK_FAIL("get_block_by_hash of an unknown hash gave %s",
              mc_err_name(rc));
    return;
  }
  if (rc != 0)
    CK_FAIL("get_block_by_hash of height %llu: %s",
            (unsigned long long)want->header.height, mc_err_name(rc));
  g_owner = s;
  ck_defer(free_block_cb, b);
  assert_block_equal(b, want);
  ck_release(b);
}

static void append_and_read_back(const char *dir, const void *arg) {
  (void)arg;
  chain *c = chain_new(40);
  mc_store *s = open_ok(dir);
  append_ok(s, c, 0, c->n);
  assert_holds(s, c, c->n - 1);
  for (size_t h = 0; h < c->n; h++)
    by_hash(s, c->b[h]->hash, c->b[h]);
  uint8_t unknown[MC_HASH_LEN];
  memcpy(unknown, c->b[3]->hash, MC_HASH_LEN);
  unknown[31] ^= 1;
  by_hash(s, unknown, NULL);
  store_close(s);
}

/* After each block, not only at the end: an account that first appears
 * mid-chain is absent before and present after. */
static void accounts_and_nonces(const char *dir, const void *arg) {
  (void)arg;
  chain *c = chain_new(12);
  mc_store *s = open_ok(dir);
  for (size_t h = 0; h < c->n; h++) {
    append_ok(s, c, h, h + 1);
    assert_holds(s, c, h);
  }
  uint8_t stranger[MC_PUBKEY_LEN];
  mc_account a;
  memset(stranger, 0xab, sizeof stranger);
  CK_RC(ck_vt->get_account(s, stranger, &a), MC_ENOTFOUND);
  store_close(s);
}

static void block_free_cb(void *p) { mc_block_free(p); }

/* A block whose every u64 is an edge: 0, 2^53-1, 2^53, 2^53+1, 2^64-1. */
static mc_block *edge_block(mc_account *accts, size_t n) {
  static const uint64_t v[] = {0,          1,
                               (1ull << 53) - 1, 1ull << 53,
                               (1ull << 53) + 1, UINT64_MAX - 1,
                               UINT64_MAX};
  mc_block *b = mc_block_new(1);
  if (b == NULL)
    CK_FAIL("out of memory");
  ck_defer(block_free_cb, b);
  b->header.timestamp_ms = UINT64_MAX;
  b->header.tx_count = 1;
  mc_tx *tx = &b->txs[0];
  snprintf(tx->chain_id, sizeof tx->chain_id, "store-check");
  memset(tx->from, 1, MC_PUBKEY_LEN);
  memset(tx->to, 2, MC_PUBKEY_LEN);
  tx->amount = UINT64_MAX;
  tx->nonce = (1ull << 53) + 1;
  mc_tx_compute_id(tx);
  mc_header_hash(&b->header, b->hash);
  for (size_t i = 0; i < n; i++) {
    memset(&accts[i], 0, sizeof accts[i]);
    accts[i].pubkey[0] = (uint8_t)(i + 1);
    accts[i].balance = v[i];
    accts[i].nonce = v[n - 1 - i];
  }
  return b;
}

static void u64_round_trip(const char *dir, const void *arg) {
  (void)arg;
  enum { N = 7 };
  mc_account accts[N];
  mc_block *b = edge_block(accts, N);
  mc_store *s = open_ok(dir);
  CK_RC(ck_vt->append(s, b, accts, N), 0);
  store_close(s);
  s = open_ok(dir);
  mc_block *back = NULL;
  CK_RC(ck_vt->get_block(s, 0, &back), 0);
  g_owner = s;
  ck_defer(free_block_cb, back);
  assert_block_equal(back, b);
  ck_release(back);
  for (size_t i = 0; i < N; i++) {
    mc_account a;
    CK_RC(ck_vt->get_account(s, accts[i].pubkey, &a), 0);
    assert_account_equal(&a, &accts[i]);
  }
  store_close(s);
}

static size_t find_every_tx(mc_store *s, const chain *c) {
  size_t found = 0;
  for (size_t h = 0; h < c->n; h++)
    for (uint32_t i = 0; i < c->b[h]->header.tx_count; i++) {
      uint64_t height = 0;
      uint32_t index = 0;
      int rc = ck_vt->find_tx(s, c->b[h]->txs[i].id, &height, &index);
      if (rc != 0)
        CK_FAIL("find_tx of tx %u of block %zu: %s", i, h, mc_err_name(rc));
      CK_EQ_U(height, h);
      CK_EQ_U(index, i);
      found++;
    }
  return found;
}

static void find_tx(const char *dir, const void *arg) {
  (void)arg;
  chain *c = chain_new(20);
  mc_store *s = open_ok(dir);
  append_ok(s, c, 0, c->n);
  for (int pass = 0; pass < 2; pass++) {
    CK_TRUE(find_every_tx(s, c) > 20);
    uint8_t unknown[MC_HASH_LEN];
    uint64_t height;
    uint32_t index;
    memcpy(unknown, c->b[1]->txs[0].id, MC_HASH_LEN);
    unknown[0] ^= 0x80;
    CK_RC(ck_vt->find_tx(s, unknown, &height, &index), MC_ENOTFOUND);
    store_close(s); /* the second pass reads what open rebuilt */
    s = open_ok(dir);
  }
  store_close(s);
}

static int stop_at_second(void *arg, const mc_account *a) {
  (void)a;
  return ++*(int *)arg == 2 ? 7 : 0;
}

static void each_account_stops(const char *dir, const void *arg) {
  (void)arg;
  chain *c = chain_new(10);
  mc_store *s = open_ok(dir);
  append_ok(s, c, 0, c->n);
  assert_holds(s, c, c->n - 1); /* the whole walk */
  int calls = 0;
  CK_RC(ck_vt->each_account(s, stop_at_second, &calls), 7);
  CK_EQ_U(calls, 2);
  store_close(s);
}

static void reopen_after_close(const char *dir, const void *arg) {
  (void)arg;
  chain *c = chain_new(30);
  mc_store *s = open_ok(dir);
  append_ok(s, c, 0, 15);
  store_close(s);
  s = open_ok(dir);
  assert_holds(s, c, 14);
  append_ok(s, c, 15, c->n);
  store_close(s);
  s = open_ok(dir);
  assert_holds(s, c, c->n - 1);
  store_close(s);
}

static void refuse_append(mc_store *s, const chain *c, const char *dir,
                          const mc_block *bad, const char *what) {
  snapshot *before = snapshot_take(dir);
  int rc = ck_vt->append(s, bad, c->chg[10], c->nchg[10]);
  if (rc != MC_ELINK)
    CK_FAIL("append of %s gave %s, not ELINK", what, mc_err_name(rc));
  assert_holds(s, c, 9);
  snapshot_same(before, snapshot_take(dir), what);
}

static void refuses_non_linking(const char *dir, const void *arg) {
  (void)arg;
  chain *c = chain_new(12);
  mc_store *s = open_ok(dir);
  append_ok(s, c, 0, 10);
  mc_block bad = *c->b[10];
  bad.header.prev_hash[5] ^= 1;
  refuse_append(s, c, dir, &bad, "a wrong prev_hash");
  bad = *c->b[10];
  bad.header.height = 11;
  refuse_append(s, c, dir, &bad, "a height past head+1");
  refuse_append(s, c, dir, c->b[11], "the block after next");
  refuse_append(s, c, dir, c->b[9], "the head again");
  refuse_append(s, c, dir, c->b[0], "a second genesis");
  store_close(s);
  /* Nothing of the refused blocks reached the disk either. */
  s = open_ok(dir);
  assert_holds(s, c, 9);
  append_ok(s, c, 10, 12);
  assert_holds(s, c, 11);
  store_close(s);
}

/* mchost keeps LOCK and mchost.json in the store's directory, and an
 * operator may leave notes there: a store must not touch them. */
static const char *const others[] = {"LOCK", "mchost.json", "NOTES.txt"};

static void leaves_other_files_alone(const char *dir, const void *arg) {
  (void)arg;
  char sub[4200], p[4400];
  snprintf(sub, sizeof sub, "%s/others", dir);
  empty_dir(sub);
  for (size_t i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/%s", sub, others[i]);
    write_whole(p, others[i], strlen(others[i]));
  }
  snapshot *before = snapshot_take(sub);
  for (size_t i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, others[i]);
    write_whole(p, others[i], strlen(others[i]));
  }
  chain *c = chain_new(6);
  mc_store *s = open_ok(dir);
  append_ok(s, c, 0, c->n);
  store_close(s);
  s = open_ok(dir);
  assert_holds(s, c, c->n - 1);
  store_close(s);
  for (size_t i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, others[i]);
    snprintf(sub, sizeof sub, "%s/others/%s", dir, others[i]);
    if (rename(p, sub) != 0)
      CK_FAIL("%s is gone after the store ran", others[i]);
  }
  snprintf(sub, sizeof sub, "%s/others", dir);
  snapshot_same(before, snapshot_take(sub), "other programs' files");
}

#define TEST(fn, about) {#fn, about, fn, NULL}

static const ck_test tests[] = {
    TEST(empty_store, "a new directory opens empty, and again after close"),
    TEST(genesis_append, "an empty store takes height 0 and nothing else"),
    TEST(append_and_read_back, "40 blocks read back by height and hash"),
    TEST(accounts_and_nonces, "accounts after every block, one created late"),
    TEST(u64_round_trip, "u64 values at 2^53 and 2^64-1 come back exactly"),
    TEST(find_tx, "every transaction found, before and after a reopen"),
    TEST(each_account_stops, "a nonzero callback return stops the walk"),
    TEST(reopen_after_close, "close, reopen, append more, reopen"),
    TEST(refuses_non_linking, "blocks that do not link: ELINK, no change"),
    TEST(leaves_other_files_alone, "files the store did not create survive"),
};

void contract_tests(ck_test *t, size_t *n) {
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
    t[(*n)++] = tests[i];
}
