/*
 * handshake.h - the authenticated key exchange that opens a peer link.
 *
 * Three messages, in the Noise XX shape with ed25519 signatures in place of
 * static Diffie-Hellman (docs/PROTOCOL.md, "Peer handshake", gives every
 * byte):
 *
 *   HELLO    initiator -> responder   version, genesis hash, E_i, n_i
 *   WELCOME  responder -> initiator   E_r, n_r, seal(k1, [pk_r, sig_r, head])
 *   AUTH     initiator -> responder   seal(k2, [pk_i, sig_i, head])
 *
 * E_i, E_r are fresh X25519 keys and n_i, n_r fresh random challenges; s is
 * their Diffie-Hellman secret.  The transcript hash h1 covers the genesis
 * hash and both ephemeral keys and challenges; the responder signs h1 and
 * its own key; h2 adds the responder's key and signature, and the
 * initiator signs h2 and its own key, so each signature names both
 * ephemeral keys, both challenges, the chain and (for the initiator) the
 * verifier.  The identities travel sealed under keys derived from s, and
 * the frame keys come from s and the final hash h3.  A relay that passes
 * one side's messages to a third node learns nothing and can finish
 * nothing: it holds neither ephemeral secret, and every signature it could
 * forward names ephemeral keys of another session.
 *
 * This module is pure computation (no I/O); peer/handshake.c drives it.
 */
#ifndef MC_NET_HANDSHAKE_H
#define MC_NET_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "minichain/types.h"
#include "net/channel.h"

#define MC_HS_KEY_LEN 32
/* Largest sealed WELCOME / AUTH part a node accepts. */
#define MC_HS_SEALED_MAX 512 /* = MC_PEER_SEALED_MAX */

/* What each side proves or tells about itself inside the handshake. */
typedef struct mc_hs_peer {
  uint8_t pk[MC_PUBKEY_LEN];        /* node key, proven by its signature */
  uint64_t height;                  /* head height: a hint, never trusted */
  uint8_t head_hash[MC_HASH_LEN];
} mc_hs_peer;

typedef struct mc_hs {
  int initiator;
  int step; /* messages handled so far */
  uint8_t genesis[MC_HASH_LEN];
  uint8_t e_sk[MC_HS_KEY_LEN], e_pk[MC_HS_KEY_LEN]; /* our ephemeral key */
  uint8_t nonce[MC_HS_KEY_LEN];                     /* our challenge */
  uint8_t peer_e[MC_HS_KEY_LEN], peer_nonce[MC_HS_KEY_LEN];
  uint8_t secret[MC_HS_KEY_LEN]; /* s = X25519(our e, their E) */
  uint8_t h[MC_HASH_LEN];        /* the transcript hash so far */
} mc_hs;

/* Begins a handshake for the chain `genesis`: a fresh ephemeral key and
 * challenge (hs->e_pk, hs->nonce go into HELLO when initiator). */
void mc_hs_begin(mc_hs *hs, int initiator, const uint8_t genesis[MC_HASH_LEN]);

/*
 * Responder: takes the initiator's E_i and n_i from HELLO and makes the
 * sealed part of WELCOME (malloc'd, free()) proving `id` and carrying
 * `self`'s head.  hs->e_pk and hs->nonce go into WELCOME beside it.
 * Returns 0, MC_ESIG (E_i is a low-order point) or MC_ENOMEM.
 */
int mc_hs_welcome(mc_hs *hs, const uint8_t e_i[MC_HS_KEY_LEN],
                  const uint8_t n_i[MC_HS_KEY_LEN], const mc_keypair *id,
                  const mc_hs_peer *self, uint8_t **sealed, size_t *len);

/*
 * Initiator: checks WELCOME (E_r, n_r and its sealed part); on success
 * fills *peer with the responder's proven key and claimed head, and makes
 * AUTH's sealed part (malloc'd) proving `id`.  Returns 0, MC_ESIG (any
 * check failed: the link must be dropped), MC_EDECODE or MC_ENOMEM.
 */
int mc_hs_auth(mc_hs *hs, const uint8_t e_r[MC_HS_KEY_LEN],
               const uint8_t n_r[MC_HS_KEY_LEN], const uint8_t *sealed,
               size_t len, const mc_keypair *id, const mc_hs_peer *self,
               mc_hs_peer *peer, uint8_t **auth, size_t *auth_len);

/*
 * Responder: checks AUTH's sealed part; on success fills *peer with the
 * initiator's proven key and claimed head.  Returns 0, MC_ESIG or
 * MC_EDECODE.
 */
int mc_hs_finish(mc_hs *hs, const uint8_t *sealed, size_t len,
                 mc_hs_peer *peer);

/* After mc_hs_auth (initiator) or mc_hs_finish (responder) succeeded:
 * the frame keys of this side, counters at 0. */
void mc_hs_channel(const mc_hs *hs, mc_channel *ch);

/* Erases every secret in hs. */
void mc_hs_wipe(mc_hs *hs);

#endif /* MC_NET_HANDSHAKE_H */
