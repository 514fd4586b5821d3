/*
 * mempool.h - transfers waiting to be committed.
 *
 * Admission: a transfer enters only after its stateless checks, its
 * nonce and balance against the committed state plus the sender's
 * transfers already pending, the pool's caps, and last its signature.
 * Every check but the signature costs a hash lookup or an account read;
 * an ed25519 verification costs about 85 us, so it comes last and a
 * transfer refused by any other rule costs no verification.  Members'
 * signatures are never verified again (mc_mempool_tx_verified).  The
 * checks and the verification can be split (mc_mempool_check, then the
 * caller's verification, e.g. on worker threads, then
 * mc_mempool_add_verified or mc_mempool_note_bad_sig); mc_mempool_add is
 * the three in a row.
 *
 * Rejections are remembered by transaction id (for GET_TX), but the id
 * covers everything except the signature, so anyone can make a copy of a
 * transfer (its fields, a bad signature) without the sender's key, and a
 * refusal is filed under the id only when it holds for every copy with
 * that id, whatever its signature:
 *   - a stateless rule (chain id, zero amount, self-transfer);
 *   - a rule on the sender's own state: nonce used or already pending
 *     (MC_ENONCE), nonce too far ahead (MC_ENONCEGAP), balance
 *     (MC_EBALANCE).  These follow from the committed account and the
 *     sender's pending transfers, which only the sender's key can change,
 *     so a forged copy is refused exactly as the real transfer would be at
 *     that moment, and filing it says nothing false about the transfer;
 *   - not MC_EFULL, unless the copy's signature verified: a full pool is
 *     other senders' doing, and anyone could fill it and then file "full"
 *     under a victim's ids with forged copies.  A refusal with MC_EFULL
 *     before verification is told to the submitter only (GET_TX: unknown).
 * A copy refused by none of these and whose signature then fails gets
 * MC_ESIG, and nothing is filed under its id; instead SHA-256 of its whole
 * wire form goes into a small ring (MC_MEMPOOL_BAD_SIGS_KEPT), so the same
 * bad bytes are refused again with MC_ESIG without another verification.
 * A rejection that came from a copy whose signature verified keeps that
 * signature, so resubmitting those bytes is not verified again either.
 * None of this can poison a real transfer's status: while it is pending,
 * any copy gets MC_EDUP (nothing filed); once committed, GET_TX finds it in
 * the chain first.
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
 * Expiry: a transfer that has been queued for queued_ttl_ms (on the pool's
 * clock, mc_mempool_set_clock) leaves at the next mc_mempool_expire and is
 * remembered as refused with MC_EEXPIRED, so a client waiting on it learns
 * that the gap before it was never filled instead of seeing it vanish.  The
 * time counts from when it last became queued (on arrival, or when a
 * commit sent it back to queued).  Ready transfers do not expire.
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
 * O(block + transfers pooled for the block's senders); mc_mempool_expire
 * costs O(1 + expired) (queued transfers are kept in the order they became
 * queued).  Memory: about 390 bytes per pooled transfer (the transfer, its
 * slot in the id table, its place in its sender's array), measured by
 * tests/unit/test-mempool.c (test_memory_100k).
 *
 * Not thread-safe: one loop owns the pool.  Only the signature
 * verification between mc_mempool_check and mc_mempool_add_verified may
 * run elsewhere, on the caller's own copy of the transfer.
 */
#ifndef MC_MEMPOOL_H
#define MC_MEMPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "chain/state.h"
#include "minichain/types.h"

typedef struct mc_mempool_limits {
  size_t max_total;       /* default 100000 */
  size_t max_per_sender;  /* default 50000 */
  uint64_t max_nonce_gap; /* default 64: highest queued nonce - next ready */
  uint64_t queued_ttl_ms; /* default 60000; 0: queued transfers never expire */
} mc_mempool_limits;

/* Sized for bulk loads: one sender may fill half the pool (mcli load from
 * one key must not be refused while blocks are empty), and the other half
 * stays for everyone else; see docs/OPERATIONS.md. */
#define MC_MEMPOOL_DEFAULT_LIMITS {100000, 50000, 64, 60000}
/* Rejections remembered for mc_mempool_rejection (oldest forgotten). */
#define MC_MEMPOOL_REJECTIONS_KEPT 4096
/* Copies with a bad signature remembered by wire hash (oldest forgotten). */
#define MC_MEMPOOL_BAD_SIGS_KEPT 1024

typedef struct mc_mempool mc_mempool;

/* The pool's clock: milliseconds from any origin, never going backwards
 * (the node gives its loop's time).  ctx is what mc_mempool_set_clock was
 * given. */
typedef uint64_t (*mc_mempool_clock_fn)(void *ctx);

/*
 * A pool for chain_id (1..MC_CHAIN_ID_MAX bytes, copied) over the committed
 * state read through get(ctx, ...), which must stay valid for the pool's
 * life.  lim may be NULL for MC_MEMPOOL_DEFAULT_LIMITS (copied);
 * max_total and max_per_sender must be >= 1.  The clock is the system's
 * monotonic clock until mc_mempool_set_clock.  Returns NULL on bad
 * arguments or ENOMEM.  Free with mc_mempool_free (NULL is a no-op).
 */
mc_mempool *mc_mempool_new(const mc_mempool_limits *lim, const char *chain_id,
                           mc_account_get_fn get, void *ctx);
void mc_mempool_free(mc_mempool *mp);

/* Sets the clock that stamps transfers as they become queued (for
 * expiry).  now must not be NULL; ctx may be, and must stay valid for the
 * pool's life.  Set it before the first transfer is added: the times of
 * mc_mempool_expire are on this clock. */
void mc_mempool_set_clock(mc_mempool *mp, mc_mempool_clock_fn now, void *ctx);

/*
 * Admits tx (ready or queued): mc_mempool_check, then the signature
 * (unless this very signature is known good, see above), then
 * mc_mempool_add_verified (without running the checks twice).  Returns 0, or the reason it was refused, in
 * this order: MC_EDUP (already pending); MC_ECHAINID, MC_EZERO, MC_ESELF
 * (stateless); MC_ESIG for bytes already known bad; an error from the
 * account getter; MC_ENONCE (nonce used or already pending), MC_ENONCEGAP,
 * MC_EFULL (sender's share), MC_EBALANCE; MC_EFULL (pool full, nothing may
 * be evicted); MC_ESIG (the signature fails, checked last); MC_ENOMEM.
 * tx is copied; its id is recomputed, not trusted.  What is remembered
 * under the id for mc_mempool_rejection follows the rules above; MC_ESIG,
 * MC_EDUP, MC_ENOMEM and getter errors never are.  An admitted transfer's
 * old refusal is forgotten.
 */
int mc_mempool_add(mc_mempool *mp, const mc_tx *tx);

/*
 * Every admission check of mc_mempool_add except the signature; verifies
 * nothing.  Returns 0 if tx would be admitted were its signature good,
 * else the refusal mc_mempool_add would give (MC_ESIG only for bytes known
 * bad: mc_mempool_note_bad_sig, or a failed verification by the pool),
 * filed under the id by the same rules.  Never changes which transfers
 * the pool holds, so a 0 promises nothing: the pool may change before
 * mc_mempool_add_verified, which checks again.  tx is not kept.
 */
int mc_mempool_check(mc_mempool *mp, const mc_tx *tx);

/*
 * mc_mempool_add for a transfer whose signature the caller has verified
 * (mc_tx_verify on these very bytes, e.g. on a worker thread after
 * mc_mempool_check): re-runs the other checks, as the pool may have
 * changed since, and admits it without verifying.  Same results as
 * mc_mempool_add except that it never returns MC_ESIG; a refusal is filed
 * as for a copy whose signature verified (so MC_EFULL too), and the
 * admitted transfer counts as verified for mc_mempool_tx_verified.  It
 * does not count in mc_mempool_verify_count.  The caller vouches for the
 * signature: a transfer admitted here with a bad one would make the node
 * propose an invalid block.
 */
int mc_mempool_add_verified(mc_mempool *mp, const mc_tx *tx);

/*
 * Tells the pool that tx's signature failed the caller's verification:
 * its wire hash joins the bad-copy ring, so mc_mempool_check and
 * mc_mempool_add refuse these bytes with MC_ESIG without verifying them.
 * Nothing is filed under the id (see above).  tx is not kept.
 */
void mc_mempool_note_bad_sig(mc_mempool *mp, const mc_tx *tx);

/*
 * Drops every transfer that has been queued for at least queued_ttl_ms at
 * now_ms (on the pool's clock, mc_mempool_set_clock), remembering each as
 * refused with MC_EEXPIRED.  Does nothing if queued_ttl_ms is 0.  The
 * node calls it every second; O(1 + transfers dropped).
 */
void mc_mempool_expire(mc_mempool *mp, uint64_t now_ms);

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
 * id, see above), evicted, dropped after a commit or expired recently
 * (the last MC_MEMPOOL_REJECTIONS_KEPT distinct ids), returns 1 and sets
 * *reason to its latest reason code (negative MC_E*: MC_EEXPIRED for an
 * expired one); else 0.  Never MC_ESIG. */
int mc_mempool_rejection(const mc_mempool *mp, const uint8_t id[MC_HASH_LEN],
                         int *reason);

/* How many signatures the pool has verified since it was made (for
 * metrics, and to check that no copy is verified twice); verifications
 * done by the caller for mc_mempool_add_verified do not count. */
uint64_t mc_mempool_verify_count(const mc_mempool *mp);

size_t mc_mempool_size(const mc_mempool *mp);   /* ready + queued */
size_t mc_mempool_ready_count(const mc_mempool *mp);
size_t mc_mempool_queued_count(const mc_mempool *mp);

#endif /* MC_MEMPOOL_H */
