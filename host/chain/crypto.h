/*
 * crypto.h - hashing, signatures, Merkle and state roots, hex.
 *
 * Thin, named wrappers over libsodium so the rest of the node states what
 * it computes (a transaction root, a state accumulator) rather than how.
 * The exact constructions are specified in docs/PROTOCOL.md.
 */
#ifndef MC_CHAIN_CRYPTO_H
#define MC_CHAIN_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "minichain/types.h"

#define MC_SECKEY_LEN 64 /* libsodium ed25519 secret key (seed || pk) */
#define MC_SEED_LEN 32

/* Initialises libsodium.  Returns 0 or MC_EIO.  Safe to call repeatedly. */
int mc_crypto_init(void);

/* out = SHA-256(data). */
void mc_sha256(const void *data, size_t len, uint8_t out[MC_HASH_LEN]);

/* Ed25519.  mc_verify returns 0 or MC_ESIG. */
void mc_sign(const uint8_t sk[MC_SECKEY_LEN], const uint8_t *msg, size_t len,
             uint8_t sig[MC_SIG_LEN]);
int mc_verify(const uint8_t pk[MC_PUBKEY_LEN], const uint8_t *msg, size_t len,
              const uint8_t sig[MC_SIG_LEN]);

/*
 * Signatures in the consensus domain of one chain: what the host's `sign`
 * and `verify` services do for plugins.  The signed bytes are the msgpack
 * array ["mc-consensus-v1", genesis_hash (bin 32), msg (bin)], so a
 * plugin's signature can never pass for a transaction, a block header, a
 * handshake, or a message of another chain (each of those is an array
 * with a tag of its own).  Return 0, MC_ENOMEM, or (verify) MC_ESIG.
 */
int mc_consensus_sign(const uint8_t sk[MC_SECKEY_LEN],
                      const uint8_t genesis_hash[MC_HASH_LEN],
                      const uint8_t *msg, size_t len, uint8_t sig[MC_SIG_LEN]);
int mc_consensus_verify(const uint8_t pk[MC_PUBKEY_LEN],
                        const uint8_t genesis_hash[MC_HASH_LEN],
                        const uint8_t *msg, size_t len,
                        const uint8_t sig[MC_SIG_LEN]);

/*
 * Merkle root of n leaves (transaction ids), the RFC 6962 construction:
 * empty = SHA-256(""), leaf = SHA-256(0x00 || id),
 * node = SHA-256(0x01 || left || right), split at the largest power of two
 * smaller than n.  leaves may be NULL when n == 0.
 */
void mc_merkle_root(const uint8_t (*leaves)[MC_HASH_LEN], size_t n,
                    uint8_t out[MC_HASH_LEN]);

/*
 * The state accumulator: an additive multiset hash (LtHash, 1024 lanes of
 * u16 mod 2^16) over every non-empty account, so that a block's state root
 * costs O(accounts it changes), not O(all accounts).
 */
#define MC_LTHASH_LANES 1024
typedef struct mc_lthash {
  uint16_t lane[MC_LTHASH_LANES];
} mc_lthash;

/* The accumulator of the empty set (all lanes zero). */
void mc_lthash_init(mc_lthash *h);
/* Adds / removes one account.  An account with balance 0 and nonce 0 is
 * "absent": adding or removing it is a no-op. */
void mc_lthash_add(mc_lthash *h, const mc_account *a);
void mc_lthash_remove(mc_lthash *h, const mc_account *a);
/* state_root = SHA-256("mc-state-v1" || lanes as little-endian u16). */
void mc_lthash_root(const mc_lthash *h, uint8_t out[MC_HASH_LEN]);

/* Lower-case hex of n bytes into out (2n+1 bytes with the NUL). */
void mc_hex_encode(const uint8_t *in, size_t n, char *out);
/*
 * Decodes exactly 2n hex digits (either case, nothing else, NUL-terminated)
 * into n bytes.  Returns 0 or MC_EINVAL.
 */
int mc_hex_decode(const char *hex, uint8_t *out, size_t n);

#endif /* MC_CHAIN_CRYPTO_H */
