/*
 * chain.c - the chain the kit stores: real ed25519-signed transfers among
 * NKEYS accounts, Merkle tx roots, LtHash state roots, balances and nonces
 * beyond 2^53 (where a double stops being exact), certificates of several
 * sizes, and an account that first appears mid-chain.
 *
 * Its shape is fixed (block h holds h % 4 transfers; blocks with h % 3 ==
 * 0 carry no certificate; the first transfer of block 2 creates LATE_KEY),
 * because damage modules rely on it (minichain/store_check.h).  Its
 * contents (keys, who pays whom, amounts, certificate bytes) come from the
 * running test's seed.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "chain/codec.h"
#include "chain/crypto.h"
#include "check.h"

#define CHAIN_ID "store-check"

/* Their sum stays below 2^64, so no transfer can overflow. */
static const uint64_t genesis_balance[NKEYS - 1] = {
    1ull << 62, (1ull << 62) - 1, (1ull << 53) + 1, 1ull << 53, 1000000};

static void make_keys(chain *c) {
  for (int k = 0; k < NKEYS; k++) {
    uint8_t seed[crypto_sign_SEEDBYTES];
    for (size_t i = 0; i < sizeof seed; i += 8) {
      uint64_t v = ck_rand();
      memcpy(seed + i, &v, 8);
    }
    crypto_sign_seed_keypair(c->pk[k], c->sk[k], seed);
  }
}

/* Sets the derived parts: tx root, state root, signature, hash. */
static void seal(chain *c, mc_block *b, const mc_lthash *acc, int proposer) {
  uint8_t(*ids)[MC_HASH_LEN] = malloc((b->header.tx_count + 1) * MC_HASH_LEN);
  if (ids == NULL)
    CK_FAIL("out of memory making the chain");
  for (uint32_t i = 0; i < b->header.tx_count; i++)
    memcpy(ids[i], b->txs[i].id, MC_HASH_LEN);
  mc_merkle_root(ids, b->header.tx_count, b->header.tx_root);
  free(ids);
  mc_lthash_root(acc, b->header.state_root);
  if (proposer >= 0) {
    memcpy(b->header.proposer, c->pk[proposer], MC_PUBKEY_LEN);
    mc_block_sign(b, c->sk[proposer]);
  } else {
    mc_header_hash(&b->header, b->hash);
  }
}

/* Records the changes of block h: every account the block touched. */
static void record(chain *c, size_t h, const int touched[NKEYS]) {
  c->chg[h] = calloc(NKEYS, sizeof(mc_account));
  if (c->chg[h] == NULL)
    CK_FAIL("out of memory making the chain");
  for (int k = 0; k < NKEYS; k++)
    if (touched[k])
      c->chg[h][c->nchg[h]++] = c->state[h][k];
}

static mc_block *new_block(uint32_t ntx) {
  mc_block *b = mc_block_new(ntx);
  if (b == NULL)
    CK_FAIL("out of memory making the chain");
  return b;
}

static void make_genesis(chain *c, mc_lthash *acc) {
  int touched[NKEYS] = {0};
  mc_block *b = c->b[0] = new_block(0);
  mc_sha256("store-check genesis document", 28, b->header.prev_hash);
  b->header.timestamp_ms = 1700000000000ull;
  for (int k = 0; k < NKEYS; k++) {
    memcpy(c->state[0][k].pubkey, c->pk[k], MC_PUBKEY_LEN);
    if (k == LATE_KEY)
      continue;
    c->state[0][k].balance = genesis_balance[k];
    c->present[0][k] = touched[k] = 1;
    mc_lthash_add(acc, &c->state[0][k]);
  }
  seal(c, b, acc, -1);
  record(c, 0, touched);
}

/* Moves `amount` in the model, keeping the accumulator in step. */
static void transfer(mc_account *st, mc_lthash *acc, int from, int to,
                     uint64_t amount) {
  mc_lthash_remove(acc, &st[from]);
  mc_lthash_remove(acc, &st[to]);
  st[from].balance -= amount;
  st[from].nonce++;
  st[to].balance += amount;
  mc_lthash_add(acc, &st[from]);
  mc_lthash_add(acc, &st[to]);
}

/* Who pays whom: LATE_KEY only receives, and block 2 creates it. */
static void pick_pair(size_t h, uint32_t i, int *from, int *to) {
  *from = (int)(ck_rand() % (NKEYS - 1));
  *to = (int)((size_t)(*from + 1 + ck_rand() % (NKEYS - 1)) % NKEYS);
  if (h == 2 && i == 0)
    *to = LATE_KEY;
}

static void add_cert(mc_block *b, size_t h) {
  size_t len = h % 3 == 0 ? 0 : (h % 5 == 0 ? 700 : 3 + h);
  if (len == 0)
    return;
  uint8_t *cert = malloc(len);
  if (cert == NULL)
    CK_FAIL("out of memory making the chain");
  for (size_t i = 0; i < len; i++)
    cert[i] = (uint8_t)ck_rand();
  int rc = mc_block_set_cert(b, cert, len);
  free(cert);
  if (rc != 0)
    CK_FAIL("mc_block_set_cert: %s", mc_err_name(rc));
}

static void make_block(chain *c, size_t h, mc_lthash *acc) {
  uint32_t ntx = (uint32_t)(h % 4);
  int touched[NKEYS] = {0};
  mc_block *b = c->b[h] = new_block(ntx);
  memcpy(c->state[h], c->state[h - 1], sizeof c->state[h]);
  memcpy(c->present[h], c->present[h - 1], sizeof c->present[h]);
  b->header.height = h;
  memcpy(b->header.prev_hash, c->b[h - 1]->hash, MC_HASH_LEN);
  b->header.timestamp_ms = 1700000000000ull + h * 1000 + ck_rand() % 1000;
  b->header.tx_count = ntx;
  for (uint32_t i = 0; i < ntx; i++) {
    int from, to;
    pick_pair(h, i, &from, &to);
    mc_tx *tx = &b->txs[i];
    snprintf(tx->chain_id, sizeof tx->chain_id, "%s", CHAIN_ID);
    memcpy(tx->from, c->pk[from], MC_PUBKEY_LEN);
    memcpy(tx->to, c->pk[to], MC_PUBKEY_LEN);
    tx->amount = 1 + ck_rand() % 500;
    tx->nonce = c->state[h][from].nonce + 1;
    mc_tx_sign(tx, c->sk[from]);
    transfer(c->state[h], acc, from, to, tx->amount);
    touched[from] = touched[to] = 1;
    c->present[h][to] = 1;
  }
  add_cert(b, h);
  seal(c, b, acc, (int)(h % (NKEYS - 1)));
  record(c, h, touched);
}

static void chain_free(void *p) {
  chain *c = p;
  for (size_t h = 0; h < c->n; h++) {
    if (c->b)
      mc_block_free(c->b[h]);
    if (c->chg)
      free(c->chg[h]);
  }
  free(c->b);
  free(c->chg);
  free(c->nchg);
  free(c->state);
  free(c->present);
  free(c);
}

chain *chain_new(size_t n) {
  chain *c = calloc(1, sizeof *c);
  if (c == NULL)
    CK_FAIL("out of memory making the chain");
  c->n = n;
  ck_defer(chain_free, c);
  c->b = calloc(n, sizeof *c->b);
  c->chg = calloc(n, sizeof *c->chg);
  c->nchg = calloc(n, sizeof *c->nchg);
  c->state = calloc(n, sizeof *c->state);
  c->present = calloc(n, sizeof *c->present);
  if (!c->b || !c->chg || !c->nchg || !c->state || !c->present)
    CK_FAIL("out of memory making the chain");
  make_keys(c);
  mc_lthash acc;
  mc_lthash_init(&acc);
  make_genesis(c, &acc);
  for (size_t h = 1; h < n; h++)
    make_block(c, h, &acc);
  return c;
}
