/*
 * fuzz_genesis.c - genesis files (host/chain/genesis.c).  Whatever the
 * text, parsing returns an error with a message, or a genesis whose hash
 * is stable and whose block 0 can be built.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/codec.h"
#include "chain/genesis.h"
#include "fuzz.h"
#include "minichain/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (text == NULL)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  mc_genesis g;
  char err[512] = "";
  int rc = mc_genesis_parse(text, size, &g, err, sizeof err);
  free(text);
  if (rc != 0) {
    FUZZ_CHECK(err[0] != '\0');
    return 0;
  }
  uint8_t hash[MC_HASH_LEN];
  memcpy(hash, g.hash, MC_HASH_LEN);
  mc_genesis_compute_hash(&g);
  FUZZ_CHECK(memcmp(hash, g.hash, MC_HASH_LEN) == 0);
  mc_block *b0 = NULL;
  FUZZ_CHECK(mc_genesis_block(&g, &b0) == 0);
  FUZZ_CHECK(memcmp(b0->header.prev_hash, g.hash, MC_HASH_LEN) == 0);
  mc_block_free(b0);
  mc_genesis_free(&g);
  return 0;
}
