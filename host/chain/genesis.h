/*
 * genesis.h - the genesis document: parse, check, write, hash, block 0.
 *
 * genesis.json (docs/OPERATIONS.md shows one):
 *   {
 *     "chain_id": "minichain-devnet",
 *     "genesis_time_ms": 1764000000000,
 *     "validators": [ "<pubkey hex>", ... ],          leader order
 *     "alloc": { "<pubkey hex>": 1000000, ... },      numbers or decimal strings
 *     "params": { "max_txs_per_block": 500, "block_interval_ms": 1000,
 *                 "view_timeout_ms": 4000 }
 *   }
 * Parsing is strict: unknown keys, wrong types, duplicate validators or
 * accounts, a zero balance, a total supply above 2^64-1 and out-of-range
 * parameters are errors with a message naming the field.  Missing "params"
 * members take the defaults below.
 *
 * The genesis hash (SHA-256 of the canonical encoding in docs/PROTOCOL.md)
 * identifies the chain: it is block 0's prev_hash and peers compare it.
 */
#ifndef MC_CHAIN_GENESIS_H
#define MC_CHAIN_GENESIS_H

#include <stddef.h>
#include <stdint.h>

#include "minichain/types.h"

#define MC_DEFAULT_MAX_TXS_PER_BLOCK 500
#define MC_DEFAULT_BLOCK_INTERVAL_MS 1000
#define MC_DEFAULT_VIEW_TIMEOUT_MS 4000
#define MC_MAX_VALIDATORS 256

typedef struct mc_genesis {
  char chain_id[MC_CHAIN_ID_MAX + 1];
  uint64_t genesis_time_ms;
  uint32_t validator_count;
  uint8_t (*validators)[MC_PUBKEY_LEN]; /* leader order */
  size_t alloc_count;
  mc_account *alloc; /* sorted by pubkey; nonce 0 */
  uint32_t max_txs_per_block; /* 1 .. 10000 */
  uint64_t block_interval_ms; /* 10 .. 3600000 */
  uint64_t view_timeout_ms;   /* 100 .. 3600000 */
  uint8_t hash[MC_HASH_LEN];  /* derived */
} mc_genesis;

/* 1 if chain_id is 1..32 characters of [A-Za-z0-9._-], else 0. */
int mc_chain_id_valid(const char *chain_id);

/*
 * Parses and checks a genesis document; fills g (free with
 * mc_genesis_free) including g->hash.  On error writes a one-line reason
 * naming the field into err and returns MC_EINVAL (or MC_ENOMEM).
 */
int mc_genesis_parse(const char *json, size_t len, mc_genesis *g, char *err,
                     size_t errlen);

/* Reads the file at path and parses it; errors name the path.  MC_EIO if
 * it cannot be read. */
int mc_genesis_load(const char *path, mc_genesis *g, char *err, size_t errlen);

/* Recomputes g->hash from the other fields (after building g by hand). */
void mc_genesis_compute_hash(mc_genesis *g);

/* Pretty JSON text of g, malloc'd; the caller frees it.  NULL on ENOMEM. */
char *mc_genesis_to_json(const mc_genesis *g);

/* Frees what parse/load allocated and zeroes g.  NULL-safe. */
void mc_genesis_free(mc_genesis *g);

/*
 * Block 0: height 0, prev_hash = genesis hash, timestamp = genesis time,
 * no transactions, state_root of the allocations, zero proposer and
 * signature, empty certificate.  *out is freed with mc_block_free.
 */
int mc_genesis_block(const mc_genesis *g, mc_block **out);

/* 1 if pk is one of g's validators (and its index in *idx), else 0. */
int mc_genesis_validator_index(const mc_genesis *g,
                               const uint8_t pk[MC_PUBKEY_LEN], uint32_t *idx);

#endif /* MC_CHAIN_GENESIS_H */
