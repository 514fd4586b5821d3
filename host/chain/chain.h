/*
 * chain.h - the committed chain: a store plus the rules for extending it.
 *
 * mc_chain owns the state accumulator and the head, builds candidate blocks
 * from offered transfers, validates blocks against the head (link,
 * timestamp, proposer, signatures, transfers, tx_root, state_root) and
 * commits them through the store plugin.  It is the only writer of the
 * store.
 */
#ifndef MC_CHAIN_CHAIN_H
#define MC_CHAIN_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "chain/genesis.h"
#include "minichain/store.h"
#include "minichain/types.h"

/*
 * How far a proposed block's timestamp may run ahead of this node's clock
 * (mc_chain_validate only).  A committed block is never judged by the
 * local clock: its certificate shows a quorum accepted its time, and a
 * validator whose clock is behind must still follow the chain.
 */
#define MC_MAX_CLOCK_DRIFT_MS 15000

typedef struct mc_chain mc_chain;

/*
 * Tells validation that this very transaction, signature included, was
 * already verified (the mempool's cache).  Returns 1 if so, 0 otherwise.
 * May be NULL.  It is given the whole transaction, not its id, because the
 * id does not cover the signature.
 */
typedef int (*mc_sig_known_fn)(void *ctx, const mc_tx *tx);

/*
 * Checks the signatures of n transfers at once (on several threads, say):
 * sets res[i] to 0 or MC_ESIG for txs[i].  The transfers' ids are filled
 * in (derived, not taken from the block).
 */
typedef void (*mc_verify_many_fn)(void *ctx, const mc_tx *const *txs,
                                  size_t n, int *res);

/*
 * Opens the chain kept by an open store.  An empty store gets block 0 from
 * g.  Otherwise block 0's prev_hash must be g's hash (else MC_EFOREIGN:
 * "data directory holds another chain"), and the state accumulator rebuilt
 * from the store's accounts must give the head's state_root (else
 * MC_ECORRUPT).  The chain borrows g, vt and s: they must outlive it.
 * On error writes a one-line reason into err.
 */
int mc_chain_open(mc_chain **out, const mc_genesis *g,
                  const mc_store_vtable *vt, mc_store *s, char *err,
                  size_t errlen);
void mc_chain_close(mc_chain *c); /* does not close the store */

/* From now on validation checks the signatures sig_known does not vouch
 * for through fn (NULL: one after another on the calling thread). */
void mc_chain_set_verify_many(mc_chain *c, mc_verify_many_fn fn, void *ctx);

/* The head block's header and hash. */
const mc_block_header *mc_chain_head(const mc_chain *c);
const uint8_t *mc_chain_head_hash(const mc_chain *c);
uint64_t mc_chain_height(const mc_chain *c);
const mc_genesis *mc_chain_genesis(const mc_chain *c);

/* Reads a committed account (zero if absent).  Returns 0 or an error. */
int mc_chain_account(mc_chain *c, const uint8_t pk[MC_PUBKEY_LEN],
                     mc_account *out);
/* An mc_account_get_fn over the committed state; ctx is the mc_chain. */
int mc_chain_account_get(void *ctx, const uint8_t pk[MC_PUBKEY_LEN],
                         mc_account *out);

/*
 * Builds a block on the head: takes candidates in order, skipping any that
 * is not valid at that point, up to the genesis max_txs_per_block; sets
 * timestamp max(now_ms, parent + 1), both roots, proposer = pk of sk, and
 * signs it.  *out is freed with mc_block_free.  Returns 0 or MC_ENOMEM.
 */
int mc_chain_build(mc_chain *c, const mc_tx *const *cands, size_t ncands,
                   uint64_t now_ms, const uint8_t sk[64], mc_block **out);

/*
 * Validates a proposal b against the head (see mc_host_api.validate_block):
 * link, timestamp above the parent's and at most MC_MAX_CLOCK_DRIFT_MS
 * ahead of now_ms (else MC_ETIME), size, proposer and its signature,
 * transfers in order, tx_root, state_root.  Transactions for which
 * sig_known returns 1 are not verified again.  Returns 0 or the first
 * failure.
 */
int mc_chain_validate(mc_chain *c, const mc_block *b, uint64_t now_ms,
                      mc_sig_known_fn sig_known, void *ctx);

/*
 * Checks a block that carries a commit certificate (from consensus or from
 * sync) as mc_chain_validate does, except against any clock: its timestamp
 * must only be above its parent's.  Then appends it (with cert) and its
 * state changes through the store and moves the head.  The certificate
 * itself is the consensus plugin's to verify, before this call.  On error
 * nothing changed.
 */
int mc_chain_commit(mc_chain *c, const mc_block *b, const uint8_t *cert,
                    size_t cert_len, mc_sig_known_fn sig_known, void *ctx);

/* Reads committed blocks through the store; free with mc_block_free. */
int mc_chain_get_block(mc_chain *c, uint64_t height, mc_block **out);
int mc_chain_get_block_by_hash(mc_chain *c, const uint8_t hash[MC_HASH_LEN],
                               mc_block **out);
/* Where a committed transaction is; MC_ENOTFOUND if not committed. */
int mc_chain_find_tx(mc_chain *c, const uint8_t txid[MC_HASH_LEN],
                     uint64_t *height, uint32_t *index);

#endif /* MC_CHAIN_CHAIN_H */
