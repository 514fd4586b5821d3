/*
 * memstore.h - a chain store kept in memory, for the kit's simulated
 * nodes: the mc_store_vtable that host/chain's mc_chain writes through,
 * without a plugin or a disk.  A simulated node's "disk" outlives a crash
 * of its engine, so the kit keeps one memstore per node for the whole run.
 *
 * Blocks are deep copies (certificate included); accounts are kept as
 * their latest value.  Single-threaded, like the chain.
 */
#ifndef MC_KIT_MEMSTORE_H
#define MC_KIT_MEMSTORE_H

#include "minichain/store.h"

/* The table mc_chain_open takes.  Its open and close are NULL: a memstore
 * is made with memstore_new and freed with memstore_free, never by the
 * chain. */
extern const mc_store_vtable memstore_vtable;

/* An empty store (the chain writes block 0 into it).  NULL on ENOMEM. */
mc_store *memstore_new(void);
void memstore_free(mc_store *s);

/* Block h as stored (0..head), or NULL; valid until the store is freed.
 * The kit reads committed blocks through this to judge them without
 * copies. */
const mc_block *memstore_block(const mc_store *s, uint64_t h);

#endif /* MC_KIT_MEMSTORE_H */
