/*
 * workload.h - the kit's clients: accounts funded at genesis that submit
 * real ed25519-signed transfers, and the exactly-once judge of what the
 * engines committed.
 *
 * Two groups of senders, so that the phases cannot disturb each other's
 * nonces: fault-phase senders, whose transfers reach random nodes and may
 * be lost with a crashed node's mempool (never judged lost: a later nonce
 * then waits for ever, as it would on a real chain), and stable-phase
 * senders, whose transfers are judged.  Each transfer is verified once
 * when made, as the host's mempool does, and vouched for by wl_known.
 */
#ifndef MC_KIT_WORKLOAD_H
#define MC_KIT_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "minichain/types.h"

typedef struct wl wl;
enum { WL_FAULT, WL_STABLE };

wl *wl_new(uint64_t seed, const char *chain_id);
void wl_free(wl *w);

/* The genesis balances of every client account. */
const mc_account *wl_alloc(const wl *w, size_t *n);
/* mc_sig_known_fn: 1 if tx is, to the signature, a transfer this
 * workload made (and verified). */
int wl_known(void *ctx, const mc_tx *tx);

/* A new signed transfer from a random sender of `phase` (its next nonce);
 * valid until wl_free.  NULL on ENOMEM. */
const mc_tx *wl_make(wl *w, int phase);
size_t wl_made(const wl *w, int phase);

/* Judging one node's chain: wl_judge_begin, wl_judge_tx for every
 * committed transfer in chain order, then wl_judge_end, which returns the
 * number of violations and describes the first in why: a transfer
 * committed twice, one the kit did not make, and (with all_stable) a
 * stable-phase transfer not committed exactly once. */
void wl_judge_begin(wl *w);
void wl_judge_tx(wl *w, const mc_tx *tx);
size_t wl_judge_end(wl *w, int all_stable, char *why, size_t len);

#endif /* MC_KIT_WORKLOAD_H */
