/*
 * kchain.h - one simulated node's chain and mempool: host/chain's mc_chain
 * (the real build, validate and commit rules: links, timestamps, proposer
 * signatures, transfers, nonces, balances, tx and state roots) over a
 * memstore, and a mempool of signed transfers the kit's clients submitted.
 *
 * The chain and the store stand for the node's disk and outlive a crash
 * of its engine; the mempool is memory and is cleared by one.
 */
#ifndef MC_KIT_KCHAIN_H
#define MC_KIT_KCHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "chain/chain.h"
#include "chain/genesis.h"

typedef struct kchain kchain;

/* A chain at block 0 of g (borrowed: g must outlive it).  sig_known(ctx,
 * tx) vouches for transfers whose signature was verified once already
 * (the mempool's cache in the real host).  NULL with a reason in err. */
kchain *kchain_new(const mc_genesis *g, mc_sig_known_fn sig_known, void *ctx,
                   char *err, size_t errlen);
void kchain_free(kchain *c);

uint64_t kchain_height(const kchain *c);
const uint8_t *kchain_head_hash(const kchain *c);
/* Committed block h (0..height), or NULL; valid while c lives. */
const mc_block *kchain_block(const kchain *c, uint64_t h);

/* Adds a copy of tx to the mempool unless it is there already, its nonce
 * is committed, or the pool holds KCHAIN_POOL_MAX transfers.  Returns 1
 * if added. */
#define KCHAIN_POOL_MAX 2048
int kchain_admit(kchain *c, const mc_tx *tx);
size_t kchain_pool_size(const kchain *c);
/* A crash: the mempool is lost. */
void kchain_clear_pool(kchain *c);

/* build_block: the pool in order through mc_chain_build.  now_ms is the
 * node's clock; sk signs as proposer.  Free *out with mc_block_free. */
int kchain_build(kchain *c, uint64_t now_ms, const uint8_t sk[64],
                 mc_block **out);
/* validate_block against the head and the node's clock. */
int kchain_validate(kchain *c, const mc_block *b, uint64_t now_ms);
/* commit_block: mc_chain_commit, then the committed transfers and those
 * its nonces made stale leave the pool.  On error nothing changed. */
int kchain_commit(kchain *c, const mc_block *b, const uint8_t *cert,
                  size_t cert_len);

#endif /* MC_KIT_KCHAIN_H */
