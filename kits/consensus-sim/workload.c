/*
 * workload.c - the kit's clients and the exactly-once judge (workload.h).
 *
 * Transfers are kept in one array in the order made, with an index by id
 * (open addressing on the id's first bytes: ids are SHA-256 digests).
 */
#include "workload.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/codec.h"
#include "chain/crypto.h"

#define WL_SENDERS 8  /* per phase */
#define WL_SINKS 4    /* receive only */
#define WL_ACCOUNTS (2 * WL_SENDERS + WL_SINKS)
#define WL_BALANCE 1000000000000ull
#define WL_MAX_TXS 8192 /* a schedule makes about a hundred */

typedef struct wl_rec {
  mc_tx tx;
  int phase;
  uint32_t seen; /* times committed on the chain being judged */
} wl_rec;

struct wl {
  uint64_t rng;
  char chain_id[MC_CHAIN_ID_MAX + 1];
  uint8_t pk[WL_ACCOUNTS][32], sk[WL_ACCOUNTS][64];
  uint64_t next_nonce[WL_ACCOUNTS];
  mc_account alloc[2 * WL_SENDERS];
  wl_rec *recs;
  size_t nrecs, made[2];
  uint32_t *index; /* 2 * WL_MAX_TXS slots: rec + 1, 0 empty */
  size_t unknown;  /* committed transfers the kit did not make */
  char first_unknown[80];
};

static uint64_t rnd(wl *w) {
  uint64_t x = w->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  w->rng = x;
  return x * 0x2545f4914f6cdd1dull;
}

wl *wl_new(uint64_t seed, const char *chain_id) {
  wl *w = calloc(1, sizeof *w);
  if (w == NULL)
    return NULL;
  w->recs = calloc(WL_MAX_TXS, sizeof *w->recs);
  w->index = calloc(2 * WL_MAX_TXS, sizeof *w->index);
  if (w->recs == NULL || w->index == NULL || mc_crypto_init() != 0) {
    wl_free(w);
    return NULL;
  }
  w->rng = seed * 0xd1342543de82ef95ull + 0x7f4a7c15ull;
  snprintf(w->chain_id, sizeof w->chain_id, "%s", chain_id);
  for (uint32_t a = 0; a < WL_ACCOUNTS; a++) {
    char label[48];
    uint8_t kseed[32];
    snprintf(label, sizeof label, "mc-consensus-sim client %u", a);
    mc_sha256(label, strlen(label), kseed);
    crypto_sign_seed_keypair(w->pk[a], w->sk[a], kseed);
    w->next_nonce[a] = 1;
  }
  for (uint32_t a = 0; a < 2 * WL_SENDERS; a++)
    w->alloc[a] = (mc_account){.balance = WL_BALANCE};
  for (uint32_t a = 0; a < 2 * WL_SENDERS; a++)
    memcpy(w->alloc[a].pubkey, w->pk[a], 32);
  return w;
}

void wl_free(wl *w) {
  if (w == NULL)
    return;
  free(w->recs);
  free(w->index);
  free(w);
}

const mc_account *wl_alloc(const wl *w, size_t *n) {
  *n = 2 * WL_SENDERS;
  return w->alloc;
}

size_t wl_made(const wl *w, int phase) { return w->made[phase]; }

static size_t slot_of(const uint8_t id[MC_HASH_LEN]) {
  uint64_t k;
  memcpy(&k, id, sizeof k);
  return (size_t)(k % (2 * WL_MAX_TXS));
}

/* The record of transfer id, or NULL. */
static wl_rec *find(const wl *w, const uint8_t id[MC_HASH_LEN]) {
  for (size_t s = slot_of(id); w->index[s] != 0; s = (s + 1) % (2 * WL_MAX_TXS))
    if (memcmp(w->recs[w->index[s] - 1].tx.id, id, MC_HASH_LEN) == 0)
      return &w->recs[w->index[s] - 1];
  return NULL;
}

/* The chain derives tx->id before asking, and the id is the hash of every
 * field but the signature: id and signature together name the bytes. */
int wl_known(void *ctx, const mc_tx *tx) {
  const wl_rec *r = find(ctx, tx->id);
  return r != NULL && memcmp(r->tx.sig, tx->sig, MC_SIG_LEN) == 0;
}

const mc_tx *wl_make(wl *w, int phase) {
  if (w->nrecs == WL_MAX_TXS)
    return NULL;
  uint32_t from = (uint32_t)(rnd(w) % WL_SENDERS) +
                  (phase == WL_STABLE ? WL_SENDERS : 0);
  uint32_t to = (uint32_t)(rnd(w) % (WL_ACCOUNTS - 1));
  to += to >= from;
  wl_rec *r = &w->recs[w->nrecs];
  memset(r, 0, sizeof *r);
  snprintf(r->tx.chain_id, sizeof r->tx.chain_id, "%s", w->chain_id);
  memcpy(r->tx.from, w->pk[from], 32);
  memcpy(r->tx.to, w->pk[to], 32);
  r->tx.amount = 1 + rnd(w) % 1000;
  r->tx.nonce = w->next_nonce[from]++;
  mc_tx_sign(&r->tx, w->sk[from]);
  if (mc_tx_verify(&r->tx) != 0) /* as the mempool's admission would */
    abort();
  r->phase = phase;
  size_t s = slot_of(r->tx.id);
  while (w->index[s] != 0)
    s = (s + 1) % (2 * WL_MAX_TXS);
  w->index[s] = (uint32_t)++w->nrecs;
  w->made[phase]++;
  return &r->tx;
}

void wl_judge_begin(wl *w) {
  for (size_t i = 0; i < w->nrecs; i++)
    w->recs[i].seen = 0;
  w->unknown = 0;
}

void wl_judge_tx(wl *w, const mc_tx *tx) {
  wl_rec *r = find(w, tx->id);
  if (r != NULL) {
    r->seen++;
    return;
  }
  if (w->unknown++ == 0) {
    char hx[17];
    mc_hex_encode(tx->id, 8, hx);
    snprintf(w->first_unknown, sizeof w->first_unknown,
             "a transfer the kit never made (id %s...)", hx);
  }
}

static void describe(const wl_rec *r, size_t k, char *why, size_t len) {
  char hx[17];
  mc_hex_encode(r->tx.id, 8, hx);
  snprintf(why, len, "%s-phase transfer #%zu (id %s..., nonce %llu) "
           "committed %u times",
           r->phase == WL_STABLE ? "stable" : "fault", k, hx,
           (unsigned long long)r->tx.nonce, r->seen);
}

size_t wl_judge_end(wl *w, int all_stable, char *why, size_t len) {
  size_t bad = w->unknown;
  if (bad > 0)
    snprintf(why, len, "%s", w->first_unknown);
  for (size_t i = 0; i < w->nrecs; i++) {
    const wl_rec *r = &w->recs[i];
    if (r->seen > 1 || (all_stable && r->phase == WL_STABLE && r->seen != 1)) {
      if (bad++ == 0)
        describe(r, i, why, len);
    }
  }
  return bad;
}
