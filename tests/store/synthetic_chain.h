/*
 * synthetic_chain.h - synthetic chains for json.so's journal test (the
 * host table it hands the store is kits/store-check/store_host.h).
 *
 * A synthetic chain is cheap to make: transfers among `naccts` accounts
 * with random signature bytes (stores do not verify signatures) but real
 * tx ids and block hashes, so a store that checks what it reads back
 * through the host's codec accepts it.  Everything is derived from the
 * height and a seed, so two processes that make the same chain get the
 * same bytes.
 */
#ifndef MC_TEST_SYNTHETIC_CHAIN_H
#define MC_TEST_SYNTHETIC_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "minichain/store.h"

/* Makes block after block; the state of every account is kept so that
 * each block's changes are the accounts' real new values. */
typedef struct sh_gen {
  uint32_t ntx; /* transfers per block (genesis: none) */
  size_t naccts;
  size_t cert_len;   /* bytes of certificate per block */
  mc_account *accts; /* the model after the last block made */
  uint64_t next_height;
  uint8_t prev_hash[MC_HASH_LEN];
} sh_gen;

/* Starts a chain at height 0; returns 0 or -1 (out of memory). */
int sh_gen_init(sh_gen *g, uint32_t ntx, size_t naccts, size_t cert_len);
/* Continues an existing chain at `height` after `prev_hash` (balances in
 * the changes are then made up: the model starts at genesis values). */
void sh_gen_continue(sh_gen *g, uint64_t height,
                     const uint8_t prev_hash[MC_HASH_LEN]);
/* The next block and its changes (*chg malloc'd, *nchg entries).  Free the
 * block with mc_block_free, *chg with free.  NULL when out of memory. */
mc_block *sh_gen_next(sh_gen *g, mc_account **chg, size_t *nchg);
void sh_gen_free(sh_gen *g);

/* A whole chain made in advance. */
typedef struct sh_chain {
  size_t n, naccts;
  mc_block **b;
  mc_account **chg;
  size_t *nchg;
} sh_chain;

sh_chain *sh_chain_new(size_t n, uint32_t ntx, size_t naccts, size_t cert_len);
void sh_chain_free(sh_chain *c);
/* The accounts after block h (naccts entries, in account order), and which
 * of them appeared in a change up to h. */
void sh_chain_state(const sh_chain *c, size_t h, mc_account *out, int *present);

#endif /* MC_TEST_SYNTHETIC_CHAIN_H */
