/*
 * sigcache.h - transfer signatures known to be good, recently.
 *
 * A follower often meets a transfer twice: in a proposed block and as
 * gossip from the node it was submitted to, in either order.  Whichever
 * check comes second finds the pair (transfer, signature) here and skips
 * the verification.  Keys are BLAKE2b-256 of the transfer id and the
 * signature (the id does not cover the signature, so a pair is needed:
 * another signature over the same fields is another entry).  The cache
 * holds at most `cap` pairs and forgets the oldest first.
 *
 * Loop thread only.
 */
#ifndef MC_SIGCACHE_H
#define MC_SIGCACHE_H

#include <stddef.h>

#include "minichain/types.h"

typedef struct mc_sigcache mc_sigcache;

/* A cache of at most cap (>= 1) pairs; NULL when out of memory. */
mc_sigcache *mc_sigcache_new(size_t cap);
void mc_sigcache_free(mc_sigcache *sc); /* NULL is a no-op */

/* 1 if tx (its id filled in) with exactly tx->sig was added and is not
 * forgotten yet, else 0. */
int mc_sigcache_has(const mc_sigcache *sc, const mc_tx *tx);

/* Remembers that tx's signature verified (the caller checked it on these
 * very bytes, its id filled in). */
void mc_sigcache_add(mc_sigcache *sc, const mc_tx *tx);

#endif /* MC_SIGCACHE_H */
