/*
 * mempool.h - transfers waiting to be committed.
 *
 * Admission: a transfer enters only after its stateless checks, its
 * signature (verified once, remembered by id), and its nonce and balance
 * against the committed state plus the sender's transfers already pending.
 *
 * Per sender, transfers are "ready" (nonces committed+1, +2, ... without a
 * gap, each affordable after the ones before it) or "queued" (a future
 * nonce within max_nonce_gap of the next expected one, waiting for the gap
 * to fill, as geth's queued pool does).  Only ready transfers are offered
 * to block building, in arrival order.
 *
 * Caps and eviction: at most max_per_sender transfers per sender
 * (MC_EFULL beyond).  When the pool holds max_total transfers, a new one is
 * admitted only by evicting a queued transfer: the one with the highest
 * nonce of the sender with the most queued transfers; if nothing is queued
 * the new transfer is refused with MC_EFULL.  Ready transfers are never
 * evicted for a newcomer.
 *
 * After each commit: included transfers leave; transfers whose nonce is now
 * used leave; each sender's ready list is re-checked against the new state
 * and transfers no longer affordable (and those after them) leave, each
 * recorded as rejected with its reason; queued transfers whose gap filled
 * become ready.
 */
#ifndef MC_MEMPOOL_H
#define MC_MEMPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "chain/state.h"
#include "minichain/types.h"

typedef struct mc_mempool_limits {
  size_t max_total;       /* default 20000 */
  size_t max_per_sender;  /* default 256 */
  uint64_t max_nonce_gap; /* default 64: highest queued nonce - next ready */
} mc_mempool_limits;

#define MC_MEMPOOL_DEFAULT_LIMITS {20000, 256, 64}
/* Rejections remembered for mc_mempool_rejection (oldest forgotten). */
#define MC_MEMPOOL_REJECTIONS_KEPT 4096

typedef struct mc_mempool mc_mempool;

/* A pool for chain_id over the committed state `get(ctx, ...)`. */
mc_mempool *mc_mempool_new(const mc_mempool_limits *lim, const char *chain_id,
                           mc_account_get_fn get, void *ctx);
void mc_mempool_free(mc_mempool *mp);

/*
 * Admits tx (ready or queued).  Returns 0, or the reason it was refused:
 * MC_EDUP (already pending), MC_ECHAINID, MC_EZERO, MC_ESELF, MC_ESIG,
 * MC_ENONCE (nonce used or already pending), MC_ENONCEGAP, MC_EBALANCE,
 * MC_EFULL, MC_ENOMEM.  A refusal other than MC_EDUP is remembered for
 * mc_mempool_rejection.
 */
int mc_mempool_add(mc_mempool *mp, const mc_tx *tx);

/* 1 if tx id is in the pool (ready or queued). */
int mc_mempool_contains(const mc_mempool *mp, const uint8_t id[MC_HASH_LEN]);

/* If tx id is in the pool, returns 1, points *tx at it (valid until the
 * pool next changes) and sets *ready (1 ready, 0 queued); else 0. */
int mc_mempool_find(const mc_mempool *mp, const uint8_t id[MC_HASH_LEN],
                    const mc_tx **tx, int *ready);

/* 1 if the signature of the transaction with this id was verified (pool
 * members and recently committed ones).  Usable as mc_sig_known_fn. */
int mc_mempool_sig_known(void *mp, const uint8_t id[MC_HASH_LEN]);

/*
 * Fills out[0..max) with pointers to ready transfers in arrival order,
 * each sender's in nonce order.  The pointers stay valid until the next
 * call that changes the pool.  Returns how many.
 */
size_t mc_mempool_ready(const mc_mempool *mp, const mc_tx **out, size_t max);

/* Drops what block b included and re-checks the rest (see above).  The
 * committed state reached through `get` must already include b. */
void mc_mempool_on_commit(mc_mempool *mp, const mc_block *b);

/* The next nonce a client should use for pk: committed nonce + number of
 * pk's ready transfers + 1. */
int mc_mempool_next_nonce(mc_mempool *mp, const uint8_t pk[MC_PUBKEY_LEN],
                          uint64_t *next);

/* If tx id was refused or dropped recently, returns 1 and its reason code. */
int mc_mempool_rejection(const mc_mempool *mp, const uint8_t id[MC_HASH_LEN],
                         int *reason);

size_t mc_mempool_size(const mc_mempool *mp);   /* ready + queued */
size_t mc_mempool_ready_count(const mc_mempool *mp);
size_t mc_mempool_queued_count(const mc_mempool *mp);

#endif /* MC_MEMPOOL_H */
