/*
 * minichain/types.h - the chain's data types as plugins see them.
 *
 * These structs cross the plugin boundary, so their layout is part of the
 * ABI: changing a field's type or order needs a new ABI major.  Byte arrays
 * are raw bytes (hex only appears in JSON and on the command line).  The
 * canonical (hashed, signed, wire) encoding of each type is specified in
 * docs/PROTOCOL.md; plugins never need to produce it themselves: the host
 * encodes and decodes blocks for them (see host.h).
 */
#ifndef MINICHAIN_TYPES_H
#define MINICHAIN_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MC_HASH_LEN 32   /* SHA-256 */
#define MC_PUBKEY_LEN 32 /* ed25519 public key; also an account address */
#define MC_SIG_LEN 64    /* ed25519 signature */
#define MC_CHAIN_ID_MAX 32 /* bytes of a chain id, excluding the NUL */

/*
 * A signed transfer of `amount` from `from` to `to`.
 * `id` is derived (SHA-256 of the signing encoding) and is filled in by
 * whoever decodes or builds the transaction; it is never sent on the wire.
 */
typedef struct mc_tx {
  char chain_id[MC_CHAIN_ID_MAX + 1]; /* NUL-terminated, 1..32 bytes */
  uint8_t from[MC_PUBKEY_LEN];
  uint8_t to[MC_PUBKEY_LEN];
  uint64_t amount;                    /* >= 1 */
  uint64_t nonce;                     /* sender's previous nonce + 1 */
  uint8_t sig[MC_SIG_LEN];            /* by `from` over the signing encoding */
  uint8_t id[MC_HASH_LEN];            /* derived */
} mc_tx;

/* The hashed part of a block. */
typedef struct mc_block_header {
  uint64_t height;                 /* 0 for the genesis block */
  uint8_t prev_hash[MC_HASH_LEN];  /* block 0: the genesis document hash */
  uint64_t timestamp_ms;           /* Unix time in milliseconds */
  uint8_t tx_root[MC_HASH_LEN];    /* Merkle root of the transaction ids */
  uint8_t state_root[MC_HASH_LEN]; /* accounts after applying this block */
  uint32_t tx_count;
  uint8_t proposer[MC_PUBKEY_LEN]; /* validator that built it; zero at 0 */
} mc_block_header;

/*
 * A block with its transactions and the consensus plugin's commit
 * certificate (opaque bytes to everyone but that plugin; may be empty).
 * `hash` is derived: SHA-256 of the header encoding.
 */
typedef struct mc_block {
  mc_block_header header;
  uint8_t signature[MC_SIG_LEN]; /* proposer's, over the header encoding */
  uint8_t hash[MC_HASH_LEN];     /* derived */
  mc_tx *txs;                    /* header.tx_count entries, or NULL if 0 */
  uint8_t *cert;                 /* cert_len bytes, or NULL if 0 */
  size_t cert_len;
} mc_block;

/* An account's state.  An account never seen has balance 0, nonce 0. */
typedef struct mc_account {
  uint8_t pubkey[MC_PUBKEY_LEN];
  uint64_t balance;
  uint64_t nonce; /* last committed nonce; the next transfer uses nonce+1 */
} mc_account;

#ifdef __cplusplus
}
#endif

#endif /* MINICHAIN_TYPES_H */
