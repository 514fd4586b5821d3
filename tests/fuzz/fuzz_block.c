/*
 * fuzz_block.c - blocks and transactions as peers send them
 * (host/chain/codec.c).  An accepted block must re-encode to bytes that
 * decode to the same block hash and transaction ids; an accepted
 * transaction to the same id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/codec.h"
#include "fuzz.h"
#include "minichain/error.h"

static void block_round_trip(const uint8_t *data, size_t size) {
  mc_block *b = NULL;
  int rc = mc_block_decode(data, size, &b);
  FUZZ_CHECK(rc == 0 || rc == MC_EDECODE || rc == MC_ENOMEM);
  if (rc != 0) {
    FUZZ_CHECK(b == NULL);
    return;
  }
  uint8_t *enc;
  size_t len;
  FUZZ_CHECK(mc_block_encode(b, &enc, &len) == 0);
  mc_block *again = NULL;
  FUZZ_CHECK(mc_block_decode(enc, len, &again) == 0);
  FUZZ_CHECK(memcmp(again->hash, b->hash, MC_HASH_LEN) == 0);
  FUZZ_CHECK(again->header.tx_count == b->header.tx_count);
  for (uint32_t i = 0; i < b->header.tx_count; i++)
    FUZZ_CHECK(memcmp(again->txs[i].id, b->txs[i].id, MC_HASH_LEN) == 0);
  free(enc);
  mc_block_free(again);
  mc_block_free(b);
}

static void tx_round_trip(const uint8_t *data, size_t size) {
  mc_tx tx;
  int rc = mc_tx_decode(data, size, &tx);
  FUZZ_CHECK(rc == 0 || rc == MC_EDECODE || rc == MC_ENOMEM);
  if (rc != 0)
    return;
  uint8_t *enc;
  size_t len;
  FUZZ_CHECK(mc_tx_encode(&tx, &enc, &len) == 0);
  mc_tx again;
  FUZZ_CHECK(mc_tx_decode(enc, len, &again) == 0);
  FUZZ_CHECK(memcmp(again.id, tx.id, MC_HASH_LEN) == 0);
  free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  block_round_trip(data, size);
  tx_round_trip(data, size);
  return 0;
}
