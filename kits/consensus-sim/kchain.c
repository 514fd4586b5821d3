/*
 * kchain.c - a simulated node's chain and mempool (kchain.h).
 *
 * The pool is an array in submission order: a client's transfers arrive
 * in nonce order, and mc_chain_build takes candidates in order, skipping
 * any not valid at that point (a nonce gap, a spent balance), exactly as
 * the real host's mempool hands them over.
 */
#include "kchain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/codec.h"
#include "memstore.h"
#include "minichain/error.h"

struct kchain {
  mc_store *store;
  mc_chain *chain;
  mc_sig_known_fn sig_known;
  void *ctx;
  mc_tx *pool;
  size_t npool;
};

kchain *kchain_new(const mc_genesis *g, mc_sig_known_fn sig_known, void *ctx,
                   char *err, size_t errlen) {
  kchain *c = calloc(1, sizeof *c);
  if (c != NULL)
    c->pool = calloc(KCHAIN_POOL_MAX, sizeof *c->pool);
  if (c == NULL || c->pool == NULL || (c->store = memstore_new()) == NULL) {
    snprintf(err, errlen, "out of memory");
    kchain_free(c);
    return NULL;
  }
  c->sig_known = sig_known;
  c->ctx = ctx;
  if (mc_chain_open(&c->chain, g, &memstore_vtable, c->store, err, errlen) !=
      0) {
    kchain_free(c);
    return NULL;
  }
  return c;
}

void kchain_free(kchain *c) {
  if (c == NULL)
    return;
  if (c->chain != NULL)
    mc_chain_close(c->chain);
  memstore_free(c->store);
  free(c->pool);
  free(c);
}

uint64_t kchain_height(const kchain *c) { return mc_chain_height(c->chain); }

const uint8_t *kchain_head_hash(const kchain *c) {
  return mc_chain_head_hash(c->chain);
}

const mc_block *kchain_block(const kchain *c, uint64_t h) {
  return memstore_block(c->store, h);
}

size_t kchain_pool_size(const kchain *c) { return c->npool; }

void kchain_clear_pool(kchain *c) { c->npool = 0; }

/* A transfer whose nonce the chain has passed can never be committed. */
static int stale(kchain *c, const mc_tx *tx) {
  mc_account a;
  return mc_chain_account(c->chain, tx->from, &a) == 0 && tx->nonce <= a.nonce;
}

int kchain_admit(kchain *c, const mc_tx *tx) {
  if (c->npool == KCHAIN_POOL_MAX || stale(c, tx))
    return 0;
  for (size_t i = 0; i < c->npool; i++)
    if (memcmp(c->pool[i].id, tx->id, MC_HASH_LEN) == 0)
      return 0;
  c->pool[c->npool++] = *tx;
  return 1;
}

int kchain_build(kchain *c, uint64_t now_ms, const uint8_t sk[64],
                 mc_block **out) {
  const mc_tx **cands = malloc((c->npool ? c->npool : 1) * sizeof *cands);
  if (cands == NULL)
    return MC_ENOMEM;
  for (size_t i = 0; i < c->npool; i++)
    cands[i] = &c->pool[i];
  int rc = mc_chain_build(c->chain, cands, c->npool, now_ms, sk, out);
  free(cands);
  return rc;
}

int kchain_validate(kchain *c, const mc_block *b, uint64_t now_ms) {
  return mc_chain_validate(c->chain, b, now_ms, c->sig_known, c->ctx);
}

/* Drops from the pool what the new head committed or made stale. */
static void prune(kchain *c) {
  size_t k = 0;
  for (size_t i = 0; i < c->npool; i++)
    if (!stale(c, &c->pool[i]))
      c->pool[k++] = c->pool[i];
  c->npool = k;
}

int kchain_commit(kchain *c, const mc_block *b, const uint8_t *cert,
                  size_t cert_len) {
  int rc = mc_chain_commit(c->chain, b, cert, cert_len, c->sig_known, c->ctx);
  if (rc == 0)
    prune(c);
  return rc;
}
