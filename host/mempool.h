/*
 * mempool.h - transfers waiting to be committed.
 *
 * Admission: a transfer enters only after its stateless checks, its
 * nonce and balance against the committed state plus the sender's
 * transfers already pending, and last (as the costliest) its signature.
 * Members' signatures are never verified again (mc_mempool_tx_verified).
 *
 * Rejections are remembered by transaction id (for GET_TX), but the id
 * covers everything except the signature, so a refusal is filed under it
 * only when it holds for every copy with that id: a stateless rule
 * (chain id, zero amount, self-transfer), or a state rule (nonce, gap,
 * balance, caps) met by a copy whose signature verified.  A copy whose
 * signature fails is refused with MC_ESIG whatever else is wrong with it,
 * and nothing is filed under its id; instead SHA-256 of its whole wire
 * form goes into a small ring (MC_MEMPOOL_BAD_SIGS_KEPT), so the same bad
 * bytes are refused again without another verification.  A well-signed
 * copy refused by a state rule keeps its signature in the rejection, so
 * resubmitting those bytes is not verified again either.
 *
 * Per sender, transfers are "ready" (nonces committed+1, +2, ... without a
 * gap, each affordable after the ones before it) or "queued" (a future
 * nonce within max_nonce_gap of the next expected one, waiting for the gap
 * to fill, as geth's queued pool does).  A queued transfer must fit in the
 * balance left after the ready ones when it arrives; when its gap fills it
 * becomes ready if it still fits, else it leaves (MC_EBALANCE) and the
 * ones behind it keep waiting.  Only ready transfers are offered to block
 * building, in the order they became ready, so each sender's come in nonce
 * order and any prefix of them applies.  The pool counts only committed
 * balance: an incoming pending transfer does not fund an outgoing one.
 *
 * Caps and eviction: at most max_per_sender transfers per sender
 * (MC_EFULL beyond).  When the pool holds max_total transfers, a new one is
 * admitted only by evicting a queued transfer: the one with the highest
 * nonce of the sender with the most queued transfers (recorded as refused
 * with MC_EFULL).  A queued newcomer evicts only if that sender has more
 * queued transfers than the newcomer's own sender would have with it, so
 * two senders cannot push each other's transfers out in turn.  If nothing
 * may be evicted the newcomer is refused with MC_EFULL.  Ready transfers
 * are never evicted for a newcomer.
 *
 * After each commit: included transfers leave silently; every other
 * transfer of the block's senders is re-checked in nonce order against the
 * new state (only the senders' accounts can have lost anything): a used
 * nonce leaves (MC_ENONCE); the first transfer at the next nonce that is
 * no longer affordable leaves (MC_EBALANCE) and those after it go back to
 * queued, or leave (MC_ENONCEGAP) if now beyond max_nonce_gap; queued
 * transfers whose gap filled become ready.  Every transfer that leaves
 * other than by inclusion is remembered with its reason.
 *
 * Cost: admission, lookup and eviction are O(1) amortised (hash tables by
 * id and by sender, senders bucketed by queued count), plus a binary
 * search and a pointer move in the nonce-sorted array of the sender
 * (at most max_per_sender); mc_mempool_ready is O(max); a commit costs
 * O(block + transfers pooled for the block's senders).
 *
 * Not thread-safe: one loop owns the pool.
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
/* Copies with a bad signature remembered by wire hash (oldest forgotten). */
#define MC_MEMPOOL_BAD_SIGS_KEPT 1024

typedef struct mc_mempool mc_mempool;

/*
 * A pool for chain_id (1..MC_CHAIN_ID_MAX bytes, copied) over the committed
 * state read through get(ctx, ...), which must stay valid for the pool's
 * life.  lim may be NULL for MC_MEMPOOL_DEFAULT_LIMITS (copied);
 * max_total and max_per_sender must be >= 1.  Returns NULL on bad
 * arguments or ENOMEM.  Free with mc_mempool_free (NULL is a no-op).
 */
mc_mempool *mc_mempool_new(const mc_mempool_limits *lim, const char *chain_id,
                           mc_account_get_fn get, void *ctx);
void mc_mempool_free(mc_mempool *mp);

/*
 * Admits tx (ready or queued).  Returns 0, or the reason it was refused,
 * in this order: MC_EDUP (already pending); MC_ECHAINID, MC_EZERO,
 * MC_ESELF (stateless); an error from the account getter; MC_ESIG (bad
 * signature, checked before any state rule is reported); MC_ENONCE (nonce
 * used or already pending), MC_ENONCEGAP, MC_EBALANCE, MC_EFULL; MC_ENOMEM.
 * tx is copied; its id is recomputed, not trusted.  The stateless and
 * state refusals are remembered under the id for mc_mempool_rejection;
 * MC_ESIG, MC_EDUP, MC_ENOMEM and getter errors are not (see above).  An
 * admitted transfer's old refusal is forgotten.
 */
int mc_mempool_add(mc_mempool *mp, const mc_tx *tx);

/* 1 if tx id is in the pool (ready or queued). */
int mc_mempool_contains(const mc_mempool *mp, const uint8_t id[MC_HASH_LEN]);

/* If tx id is in the pool, returns 1, points *tx at it (valid until the
 * pool next changes) and sets *ready (1 ready, 0 queued); else 0. */
int mc_mempool_find(const mc_mempool *mp, const uint8_t id[MC_HASH_LEN],
                    const mc_tx **tx, int *ready);

/* 1 if tx (its id recomputed from its fields) is in the pool with exactly
 * tx->sig, i.e. this very signature was verified on admission; else 0.
 * A block carrying a pooled transfer's fields with another signature is
 * not taken as verified (the id does not cover the signature).  Usable as
 * mc_sig_known_fn: mc_node_commit validates a block before
 * mc_mempool_on_commit removes its transfers.  mp is a mc_mempool. */
int mc_mempool_tx_verified(void *mp, const mc_tx *tx);

/*
 * Fills out[0..max) with pointers to ready transfers in arrival order,
 * each sender's in nonce order.  The pointers stay valid until the next
 * call that changes the pool.  Returns how many.
 */
size_t mc_mempool_ready(const mc_mempool *mp, const mc_tx **out, size_t max);

/* Drops what block b included and re-checks the rest (see above).  The
 * committed state reached through `get` must already include b, and b's
 * transaction ids must be filled in (as the decoder and mc_chain_build
 * do).  A sender whose account cannot be read keeps its transfers. */
void mc_mempool_on_commit(mc_mempool *mp, const mc_block *b);

/* Sets *next to the next nonce a client should use for pk: committed
 * nonce + number of pk's ready transfers + 1 (queued ones do not count:
 * the gap before them is what the client must fill).  Returns 0 or the
 * account getter's error. */
int mc_mempool_next_nonce(mc_mempool *mp, const uint8_t pk[MC_PUBKEY_LEN],
                          uint64_t *next);

/* If tx id was refused (for a reason that holds for every copy with this
 * id, see above), evicted or dropped after a commit recently (the last
 * MC_MEMPOOL_REJECTIONS_KEPT distinct ids), returns 1 and sets *reason to
 * its latest reason code (negative MC_E*); else 0.  Never MC_ESIG. */
int mc_mempool_rejection(const mc_mempool *mp, const uint8_t id[MC_HASH_LEN],
                         int *reason);

/* How many signatures the pool has verified since it was made (for
 * metrics, and to check that no copy is verified twice). */
uint64_t mc_mempool_verify_count(const mc_mempool *mp);

size_t mc_mempool_size(const mc_mempool *mp);   /* ready + queued */
size_t mc_mempool_ready_count(const mc_mempool *mp);
size_t mc_mempool_queued_count(const mc_mempool *mp);

#endif /* MC_MEMPOOL_H */
