/*
 * keymap.h - a hash table from 32-byte keys (transaction ids, public keys)
 * to pointers, for the mempool and the state overlay.
 *
 * Keys are chosen by whoever signs a transaction, so the table hashes with
 * SipHash (libsodium's crypto_shorthash) under a random key of its own:
 * nobody can craft keys that all land in one probe chain.  Open addressing
 * with linear probing and backward-shift deletion, so no tombstones pile up
 * however long a node runs.  Keys are copied into the table.
 */
#ifndef MC_KEYMAP_H
#define MC_KEYMAP_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#define MC_KEYMAP_KEY_LEN 32

typedef struct mc_keymap_slot {
  uint8_t key[MC_KEYMAP_KEY_LEN];
  void *val; /* NULL: the slot is empty */
} mc_keymap_slot;

typedef struct mc_keymap {
  mc_keymap_slot *slots;
  size_t nslots; /* 0, or a power of two at least twice count */
  size_t count;
  uint8_t hkey[crypto_shorthash_KEYBYTES];
} mc_keymap;

/* An empty map with a fresh random hash key.  Allocates nothing. */
void mc_keymap_init(mc_keymap *m);

/* Frees the slots (not the values).  The map is empty afterwards. */
void mc_keymap_free(mc_keymap *m);

/* The value stored under key, or NULL. */
void *mc_keymap_get(const mc_keymap *m, const uint8_t key[MC_KEYMAP_KEY_LEN]);

/* Makes room for `extra` more keys, so that as many mc_keymap_put calls
 * cannot fail.  Returns 0 or MC_ENOMEM (the map is unchanged). */
int mc_keymap_reserve(mc_keymap *m, size_t extra);

/* Stores val (not NULL) under key, which must be absent; room must have
 * been reserved. */
void mc_keymap_put(mc_keymap *m, const uint8_t key[MC_KEYMAP_KEY_LEN],
                   void *val);

/* Removes key if present. */
void mc_keymap_del(mc_keymap *m, const uint8_t key[MC_KEYMAP_KEY_LEN]);

/* Removes every key, keeping the room. */
void mc_keymap_clear(mc_keymap *m);

#endif /* MC_KEYMAP_H */
