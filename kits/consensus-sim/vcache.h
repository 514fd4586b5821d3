/*
 * vcache.h - a cache of signature verdicts for simulated clusters.
 *
 * In a simulation every receiver checks each vote, and again inside
 * certificates, so ed25519 verification would be nearly all of a run's
 * time.  A verdict is kept under SHA-256 of (domain, public key,
 * signature, digest of the signed bytes), truncated to 128 bits, in a
 * direct-mapped table: a collision only costs a fresh check.  Shared by
 * the installed kit (khost.c) and poa's own test host (tests/consensus).
 */
#ifndef MC_KIT_VCACHE_H
#define MC_KIT_VCACHE_H

#include <stdint.h>

#include "minichain/types.h"

typedef struct vcache vcache;

vcache *vcache_new(void); /* NULL on ENOMEM */
void vcache_free(vcache *c);

/*
 * Returns the remembered verdict for (domain, pk, sig, digest), or runs
 * check(arg) and remembers it: 0 if the signature is good, else MC_ESIG.
 * A check that fails for want of memory (MC_ENOMEM) is returned as is
 * and not remembered.  `digest` names the signed bytes (and whatever else
 * the check depends on, such as the chain).
 */
int vcache_check(vcache *c, uint8_t domain, const uint8_t pk[MC_PUBKEY_LEN],
                 const uint8_t sig[MC_SIG_LEN], const uint8_t digest[32],
                 int (*check)(const void *arg), const void *arg);

#endif /* MC_KIT_VCACHE_H */
