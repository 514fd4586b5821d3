/*
 * bench_chain.c - how fast a node can admit and apply transfers, beside
 * the ceiling this machine sets: its own ed25519 verification rate, since
 * every transfer's signature is verified once.
 *
 *   bench-chain [--json]
 *
 * Prints, for this run:
 *   ceiling   ed25519 verifications per second on one core (bench/ceiling.c:
 *             libsodium over 120-byte messages, the size of a transfer's
 *             signing bytes)
 *   admit     mempool admissions per second (all checks, signature
 *             included), as a ratio of the ceiling
 *   apply     transfers per second through the state transition, Merkle
 *             root and LtHash state root of 5000-transfer blocks (the
 *             work of validating a block whose signatures are cached), as
 *             a ratio of the ceiling
 * Not a pass/fail test: the figures are for reading (scripts/bench.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ceiling.h"
#include "chain/codec.h"
#include "chain/crypto.h"
#include "chain/state.h"
#include "keys.h"
#include "mempool.h"
#include "minichain/error.h"

#define SENDERS 1000
#define TXS 20000
#define BLOCK_TXS 5000
#define CHAIN_ID "bench"

static mc_keypair keys[SENDERS + 1];

/* Every sender holds plenty; the recipient (keys[SENDERS]) starts empty. */
static int rich_get(void *ctx, const uint8_t pk[MC_PUBKEY_LEN],
                    mc_account *out) {
  (void)ctx;
  memset(out, 0, sizeof *out);
  memcpy(out->pubkey, pk, MC_PUBKEY_LEN);
  if (memcmp(pk, keys[SENDERS].pk, MC_PUBKEY_LEN) != 0)
    out->balance = UINT64_C(1) << 40;
  return 0;
}

static void make_txs(mc_tx *txs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const mc_keypair *k = &keys[i % SENDERS];
    mc_tx *t = &txs[i];
    memset(t, 0, sizeof *t);
    strcpy(t->chain_id, CHAIN_ID);
    memcpy(t->from, k->pk, MC_PUBKEY_LEN);
    memcpy(t->to, keys[SENDERS].pk, MC_PUBKEY_LEN);
    t->amount = 1;
    t->nonce = i / SENDERS + 1;
    mc_tx_sign(t, k->sk);
  }
}

static double admit_rate(const mc_tx *txs) {
  mc_mempool_limits lim = {TXS, TXS, TXS, 0};
  mc_mempool *mp = mc_mempool_new(&lim, CHAIN_ID, rich_get, NULL);
  if (mp == NULL)
    abort();
  double t0 = mc_bench_now();
  for (size_t i = 0; i < TXS; i++)
    if (mc_mempool_add(mp, &txs[i]) != 0)
      abort();
  double t = mc_bench_now() - t0;
  mc_mempool_free(mp);
  return TXS / t;
}

/* One block's worth of validation work without signatures. */
static void apply_block(const mc_tx *txs, size_t n) {
  static uint8_t ids[BLOCK_TXS][MC_HASH_LEN];
  mc_overlay *o = mc_overlay_new(rich_get, NULL);
  mc_lthash acc;
  uint8_t root[MC_HASH_LEN];
  mc_lthash_init(&acc);
  for (size_t i = 0; i < n; i++) {
    if (mc_overlay_apply(o, &txs[i], CHAIN_ID) != 0)
      abort();
    memcpy(ids[i], txs[i].id, MC_HASH_LEN);
  }
  mc_merkle_root((const uint8_t(*)[MC_HASH_LEN])ids, n, root);
  mc_overlay_update_lthash(o, &acc);
  mc_lthash_root(&acc, root);
  mc_overlay_free(o);
}

static double apply_rate(const mc_tx *txs) {
  size_t blocks = 0;
  double t0 = mc_bench_now(), t;
  do {
    /* The first 5000 transfers: nonces 1..5 of each sender, in order,
     * applied to the same starting state every time. */
    apply_block(txs, BLOCK_TXS);
    blocks++;
    t = mc_bench_now();
  } while (t - t0 < 1.0);
  return (double)(blocks * BLOCK_TXS) / (t - t0);
}

int main(int argc, char **argv) {
  int json = argc == 2 && strcmp(argv[1], "--json") == 0;
  if (argc > 2 || (argc == 2 && !json)) {
    fprintf(stderr, "usage: %s [--json]\n", argv[0]);
    return 2;
  }
  if (mc_crypto_init() != 0)
    return 1;
  for (size_t i = 0; i <= SENDERS; i++)
    mc_key_generate(&keys[i]);
  mc_tx *txs = malloc(TXS * sizeof *txs);
  if (txs == NULL)
    return 1;
  make_txs(txs, TXS);
  double ceiling;
  if (mc_bench_verify_one(1.0, &ceiling) != 0)
    return 1;
  double admit = admit_rate(txs);
  double apply = apply_rate(txs);

  char note[128];
  mc_bench_report r;
  mc_bench_begin(&r, stdout, json, "chain");
  snprintf(note, sizeof note, "one core, %d-byte messages",
           MC_BENCH_VERIFY_MSG_LEN);
  mc_bench_ceiling(&r, "ed25519_verify_one_core", ceiling, "/s", note);
  snprintf(note, sizeof note, "%d senders, %d transfers, signatures checked",
           SENDERS, TXS);
  mc_bench_figure(&r, "admit", admit, "tx/s", ceiling, "verify", note);
  snprintf(note, sizeof note, "%d-transfer blocks, signatures cached",
           BLOCK_TXS);
  mc_bench_figure(&r, "apply", apply, "tx/s", ceiling, "verify", note);
  mc_bench_end(&r);
  free(txs);
  return 0;
}
