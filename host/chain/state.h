/*
 * state.h - the state transition: applying transfers to accounts.
 *
 * An overlay holds the accounts that a sequence of transfers changed on top
 * of a base state (the committed chain, read through a callback), so that a
 * candidate block can be built or checked without touching the store, and
 * the accepted result handed to the store as one set of changes.
 *
 * Transfer rules (docs/PROTOCOL.md, "Validity"): chain id matches;
 * amount >= 1; from != to; nonce == sender's nonce + 1; amount <= sender's
 * balance; recipient's balance + amount <= 2^64-1.  Signatures are checked
 * by the caller (they do not depend on state).
 */
#ifndef MC_CHAIN_STATE_H
#define MC_CHAIN_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "chain/crypto.h"
#include "minichain/types.h"

/*
 * Reads a committed account.  Returns 0 and *out, MC_ENOTFOUND for an
 * account never seen (treated as balance 0, nonce 0), or another error.
 */
typedef int (*mc_account_get_fn)(void *ctx, const uint8_t pk[MC_PUBKEY_LEN],
                                 mc_account *out);

/*
 * Checks a transfer's stateless rules: chain id, amount >= 1, from != to.
 * Returns 0, MC_ECHAINID, MC_EZERO or MC_ESELF.
 */
int mc_tx_check_static(const mc_tx *tx, const char *chain_id);

typedef struct mc_overlay mc_overlay;

/* A new, empty overlay over `get(ctx, ...)`.  NULL on ENOMEM. */
mc_overlay *mc_overlay_new(mc_account_get_fn get, void *ctx);
void mc_overlay_free(mc_overlay *o);

/* The account as the overlay sees it (base + changes); zero if absent. */
int mc_overlay_get(mc_overlay *o, const uint8_t pk[MC_PUBKEY_LEN],
                   mc_account *out);

/*
 * Applies tx if valid against the overlay (static rules, nonce, balance,
 * overflow).  On error the overlay is unchanged and the error is returned:
 * MC_ECHAINID, MC_EZERO, MC_ESELF, MC_ENONCE (nonce <= current),
 * MC_ENONCEGAP (nonce > current + 1), MC_EBALANCE, MC_EOVERFLOW, MC_ENOMEM,
 * or an error from the base callback.
 */
int mc_overlay_apply(mc_overlay *o, const mc_tx *tx, const char *chain_id);

/* Number of accounts changed, and the i-th changed account's new and
 * original value (original is zero if it did not exist). */
size_t mc_overlay_count(const mc_overlay *o);
void mc_overlay_entry(const mc_overlay *o, size_t i, mc_account *now,
                      mc_account *before);

/* Moves acc from the base state to the overlay's state (remove each
 * original, add each new value). */
void mc_overlay_update_lthash(const mc_overlay *o, mc_lthash *acc);

#endif /* MC_CHAIN_STATE_H */
