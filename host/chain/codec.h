/*
 * codec.h - the canonical msgpack encoding of transactions and blocks.
 *
 * One encoder serves hashing, signing and the wire (docs/PROTOCOL.md):
 *   tx signing bytes  = [ "mc-tx-v1", chain_id, from, to, amount, nonce ]
 *   tx on the wire    = [ "mc-tx-v1", chain_id, from, to, amount, nonce, sig ]
 *   header bytes      = [ "mc-block-v1", height, prev_hash, timestamp_ms,
 *                         tx_root, state_root, tx_count, proposer ]
 *   block on the wire = [ header, signature, [tx...], cert ]
 * Integers use msgpack's shortest form, byte strings are bin, chain_id is
 * str.  Decoders are strict: wrong array lengths, types, tags or sizes,
 * and trailing bytes are MC_EDECODE.  Derived fields (tx id, block hash)
 * are computed by the decoder, never read from the input.
 */
#ifndef MC_CHAIN_CODEC_H
#define MC_CHAIN_CODEC_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "minichain/types.h"

/* Upper bound on transactions in one block that any decoder accepts. */
#define MC_BLOCK_MAX_TXS 100000
/* Upper bound on a commit certificate's size. */
#define MC_CERT_MAX_BYTES (1u << 20)

/* ---- untrusted msgpack ---- */

/* The deepest nesting of arrays and maps any decoder accepts (msgpack-c's
 * own parser gives up at 32, with an out-of-memory error). */
#define MC_MSGPACK_MAX_DEPTH 16

/*
 * 0 if p[0..n) is exactly one well-formed msgpack value in which every
 * declared array, map, str, bin and ext length fits in the bytes left and
 * no container nests deeper than MC_MSGPACK_MAX_DEPTH,
 * else MC_EDECODE.  msgpack-c reserves memory for an array's declared
 * length before reading its elements, so a 5-byte input could make it
 * ask for 100 GiB: untrusted bytes pass this check first.
 */
int mc_msgpack_check(const uint8_t *p, size_t n);
/*
 * mc_msgpack_check, then unpacks the value into u (initialised by the
 * caller with msgpack_unpacked_init; str and bin objects point into p).
 * Returns 0, MC_EDECODE or MC_ENOMEM.
 */
int mc_msgpack_unpack_one(const uint8_t *p, size_t n, msgpack_unpacked *u);

/* ---- transactions ---- */

/* Appends the signing encoding of tx (no sig) to pk. */
void mc_tx_pack_signing(msgpack_packer *pk, const mc_tx *tx);
/* Appends the wire encoding of tx (with sig) to pk. */
void mc_tx_pack(msgpack_packer *pk, const mc_tx *tx);
/* tx->id = SHA-256(signing encoding). */
void mc_tx_compute_id(mc_tx *tx);
/* out = SHA-256(wire encoding), signature included: names these exact
 * bytes, where the id names every copy of the transfer whatever its sig. */
void mc_tx_wire_hash(const mc_tx *tx, uint8_t out[MC_HASH_LEN]);
/* Sets tx->sig with sk and tx->id.  The other fields must be set. */
void mc_tx_sign(mc_tx *tx, const uint8_t sk[64]);
/* 0 if tx->sig is tx->from's signature of the signing encoding, else
 * MC_ESIG. */
int mc_tx_verify(const mc_tx *tx);
/* Reads a wire transaction from an unpacked object; fills id.
 * Returns 0 or MC_EDECODE. */
int mc_tx_unpack(const msgpack_object *o, mc_tx *out);
/* Decodes exactly one wire transaction occupying all of p[0..n). */
int mc_tx_decode(const uint8_t *p, size_t n, mc_tx *out);
/* Encodes tx into a malloc'd buffer the caller frees with free(). */
int mc_tx_encode(const mc_tx *tx, uint8_t **out, size_t *out_len);

/* ---- headers and blocks ---- */

void mc_header_pack(msgpack_packer *pk, const mc_block_header *h);
/* out = SHA-256(header encoding). */
void mc_header_hash(const mc_block_header *h, uint8_t out[MC_HASH_LEN]);
int mc_header_unpack(const msgpack_object *o, mc_block_header *out);

/* Sets b->hash and b->signature (proposer's sk over the header bytes). */
void mc_block_sign(mc_block *b, const uint8_t sk[64]);
/* 0 if b->signature is b->header.proposer's signature, else MC_ESIG. */
int mc_block_verify_sig(const mc_block *b);

void mc_block_pack(msgpack_packer *pk, const mc_block *b);
/* Encodes b into a malloc'd buffer the caller frees with free(). */
int mc_block_encode(const mc_block *b, uint8_t **out, size_t *out_len);
/* Reads a block from an unpacked object into a new mc_block (free with
 * mc_block_free); fills hash and tx ids.  tx_count must match the
 * transaction array.  Returns 0, MC_EDECODE or MC_ENOMEM. */
int mc_block_unpack(const msgpack_object *o, mc_block **out);
/* Decodes exactly one block occupying all of p[0..n). */
int mc_block_decode(const uint8_t *p, size_t n, mc_block **out);

/* Allocates a zeroed block with room for ntx transactions. */
mc_block *mc_block_new(uint32_t ntx);
/* Deep copy (txs and cert).  NULL on allocation failure. */
mc_block *mc_block_dup(const mc_block *b);
/* Sets b's certificate to a copy of cert.  Returns 0 or MC_ENOMEM. */
int mc_block_set_cert(mc_block *b, const uint8_t *cert, size_t len);
/* Frees a block made by this module.  NULL is a no-op. */
void mc_block_free(mc_block *b);

#endif /* MC_CHAIN_CODEC_H */
