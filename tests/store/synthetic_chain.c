/*
 * synthetic_chain.c - cheap chains for json.so's journal test (see
 * synthetic_chain.h).
 */
#include "synthetic_chain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain/codec.h"
#include "chain/crypto.h"
#include "minichain/error.h"

/* ---- synthetic chains ---------------------------------------------------- */

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void fill(uint64_t *x, uint8_t *p, size_t n) {
  while (n > 0) {
    uint64_t v = splitmix(x);
    size_t k = n < 8 ? n : 8;
    memcpy(p, &v, k);
    p += k;
    n -= k;
  }
}

/* Account k's key starts with k (little-endian), so a key names its index. */
static void account_key(size_t k, uint8_t pk[MC_PUBKEY_LEN]) {
  uint64_t x = 0x5eed0000ull + k, v = k;
  fill(&x, pk, MC_PUBKEY_LEN);
  memcpy(pk, &v, sizeof v);
}

static size_t account_index(const uint8_t pk[MC_PUBKEY_LEN]) {
  uint64_t v;
  memcpy(&v, pk, sizeof v);
  return (size_t)v;
}

#define GENESIS_BALANCE 1000000000000ull

int sh_gen_init(sh_gen *g, uint32_t ntx, size_t naccts, size_t cert_len) {
  memset(g, 0, sizeof *g);
  g->ntx = ntx;
  g->naccts = naccts < 2 ? 2 : naccts;
  g->cert_len = cert_len;
  g->accts = calloc(g->naccts, sizeof *g->accts);
  if (g->accts == NULL)
    return -1;
  for (size_t k = 0; k < g->naccts; k++) {
    account_key(k, g->accts[k].pubkey);
    g->accts[k].balance = GENESIS_BALANCE;
  }
  mc_sha256("synthetic genesis", 17, g->prev_hash);
  return 0;
}

void sh_gen_continue(sh_gen *g, uint64_t height,
                     const uint8_t prev_hash[MC_HASH_LEN]) {
  g->next_height = height;
  memcpy(g->prev_hash, prev_hash, MC_HASH_LEN);
}

void sh_gen_free(sh_gen *g) {
  free(g->accts);
  g->accts = NULL;
}

/* Adds account k to the change list once (its index, for now: the values
 * are filled in when the block is done). */
static void touch(size_t k, mc_account *chg, size_t *nchg, uint8_t *mark) {
  if (!mark[k]) {
    mark[k] = 1;
    chg[(*nchg)++].balance = k;
  }
}

mc_block *sh_gen_next(sh_gen *g, mc_account **chg_out, size_t *nchg_out) {
  uint64_t h = g->next_height;
  uint32_t ntx = h == 0 ? 0 : g->ntx;
  uint64_t x = 0xb10c0000ull ^ (h * 0x100000001b3ull);
  mc_block *b = mc_block_new(ntx);
  size_t maxchg = h == 0 ? g->naccts : 2 * (size_t)ntx;
  mc_account *chg = calloc(maxchg ? maxchg : 1, sizeof *chg);
  uint8_t *mark = calloc(g->naccts, 1);
  if (b == NULL || chg == NULL || mark == NULL) {
    mc_block_free(b);
    free(chg);
    free(mark);
    return NULL;
  }
  size_t nchg = 0;
  b->header.height = h;
  memcpy(b->header.prev_hash, g->prev_hash, MC_HASH_LEN);
  b->header.timestamp_ms = 1700000000000ull + h * 1000;
  b->header.tx_count = ntx;
  if (h == 0)
    for (size_t k = 0; k < g->naccts; k++)
      touch(k, chg, &nchg, mark);
  for (uint32_t i = 0; i < ntx; i++) {
    size_t from = (size_t)(splitmix(&x) % g->naccts);
    size_t to =
        (from + 1 + (size_t)(splitmix(&x) % (g->naccts - 1))) % g->naccts;
    mc_tx *tx = &b->txs[i];
    snprintf(tx->chain_id, sizeof tx->chain_id, "synthetic");
    memcpy(tx->from, g->accts[from].pubkey, MC_PUBKEY_LEN);
    memcpy(tx->to, g->accts[to].pubkey, MC_PUBKEY_LEN);
    tx->amount = 1 + splitmix(&x) % 1000;
    tx->nonce = ++g->accts[from].nonce;
    g->accts[from].balance -= tx->amount;
    g->accts[to].balance += tx->amount;
    fill(&x, tx->sig, MC_SIG_LEN);
    mc_tx_compute_id(tx);
    touch(from, chg, &nchg, mark);
    touch(to, chg, &nchg, mark);
  }
  for (size_t i = 0; i < nchg; i++)
    chg[i] = g->accts[chg[i].balance];
  free(mark);
  uint8_t(*ids)[MC_HASH_LEN] = malloc(((size_t)ntx + 1) * MC_HASH_LEN);
  if (ids == NULL) {
    mc_block_free(b);
    free(chg);
    return NULL;
  }
  for (uint32_t i = 0; i < ntx; i++)
    memcpy(ids[i], b->txs[i].id, MC_HASH_LEN);
  mc_merkle_root(ids, ntx, b->header.tx_root);
  free(ids);
  fill(&x, b->header.state_root, MC_HASH_LEN);
  memcpy(b->header.proposer, g->accts[0].pubkey, MC_PUBKEY_LEN);
  fill(&x, b->signature, MC_SIG_LEN);
  mc_header_hash(&b->header, b->hash);
  if (g->cert_len > 0) {
    uint8_t *cert = malloc(g->cert_len);
    if (cert != NULL)
      fill(&x, cert, g->cert_len);
    int rc = cert == NULL ? MC_ENOMEM : mc_block_set_cert(b, cert, g->cert_len);
    free(cert);
    if (rc != 0) {
      mc_block_free(b);
      free(chg);
      return NULL;
    }
  }
  g->next_height = h + 1;
  memcpy(g->prev_hash, b->hash, MC_HASH_LEN);
  *chg_out = chg;
  *nchg_out = nchg;
  return b;
}

sh_chain *sh_chain_new(size_t n, uint32_t ntx, size_t naccts, size_t cert_len) {
  sh_gen g;
  sh_chain *c = calloc(1, sizeof *c);
  if (c == NULL || sh_gen_init(&g, ntx, naccts, cert_len) != 0) {
    free(c);
    return NULL;
  }
  c->n = n;
  c->naccts = g.naccts;
  c->b = calloc(n, sizeof *c->b);
  c->chg = calloc(n, sizeof *c->chg);
  c->nchg = calloc(n, sizeof *c->nchg);
  int ok = c->b && c->chg && c->nchg;
  for (size_t h = 0; ok && h < n; h++)
    ok = (c->b[h] = sh_gen_next(&g, &c->chg[h], &c->nchg[h])) != NULL;
  sh_gen_free(&g);
  if (!ok) {
    sh_chain_free(c);
    return NULL;
  }
  return c;
}

void sh_chain_free(sh_chain *c) {
  if (c == NULL)
    return;
  for (size_t h = 0; h < c->n; h++) {
    if (c->b)
      mc_block_free(c->b[h]);
    if (c->chg)
      free(c->chg[h]);
  }
  free(c->b);
  free(c->chg);
  free(c->nchg);
  free(c);
}

void sh_chain_state(const sh_chain *c, size_t h, mc_account *out,
                    int *present) {
  memset(out, 0, c->naccts * sizeof *out);
  memset(present, 0, c->naccts * sizeof *present);
  for (size_t i = 0; i <= h && i < c->n; i++)
    for (size_t j = 0; j < c->nchg[i]; j++) {
      size_t k = account_index(c->chg[i][j].pubkey);
      out[k] = c->chg[i][j];
      present[k] = 1;
    }
}
