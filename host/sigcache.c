/*
 * sigcache.c - transfer signatures known to be good (sigcache.h): a ring
 * of keys in the order they were added, indexed by a keymap.
 */
#include "sigcache.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keymap.h"

struct mc_sigcache {
  mc_keymap index; /* key -> its ring slot + 1 */
  uint8_t (*ring)[MC_KEYMAP_KEY_LEN];
  size_t cap, count, next; /* next: the slot written next (the oldest) */
};

mc_sigcache *mc_sigcache_new(size_t cap) {
  mc_sigcache *sc = calloc(1, sizeof *sc);
  if (sc == NULL || cap == 0 ||
      (sc->ring = malloc(cap * sizeof *sc->ring)) == NULL) {
    free(sc);
    return NULL;
  }
  sc->cap = cap;
  mc_keymap_init(&sc->index);
  if (mc_keymap_reserve(&sc->index, cap) != 0) {
    free(sc->ring);
    free(sc);
    return NULL;
  }
  return sc;
}

void mc_sigcache_free(mc_sigcache *sc) {
  if (sc == NULL)
    return;
  mc_keymap_free(&sc->index);
  free(sc->ring);
  free(sc);
}

static void key_of(const mc_tx *tx, uint8_t key[MC_KEYMAP_KEY_LEN]) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, MC_KEYMAP_KEY_LEN);
  crypto_generichash_update(&st, tx->id, MC_HASH_LEN);
  crypto_generichash_update(&st, tx->sig, MC_SIG_LEN);
  crypto_generichash_final(&st, key, MC_KEYMAP_KEY_LEN);
}

int mc_sigcache_has(const mc_sigcache *sc, const mc_tx *tx) {
  uint8_t key[MC_KEYMAP_KEY_LEN];
  key_of(tx, key);
  return mc_keymap_get(&sc->index, key) != NULL;
}

void mc_sigcache_add(mc_sigcache *sc, const mc_tx *tx) {
  uint8_t key[MC_KEYMAP_KEY_LEN];
  key_of(tx, key);
  if (mc_keymap_get(&sc->index, key) != NULL)
    return;
  if (sc->count == sc->cap)
    mc_keymap_del(&sc->index, sc->ring[sc->next]); /* forget the oldest */
  else
    sc->count++;
  memcpy(sc->ring[sc->next], key, MC_KEYMAP_KEY_LEN);
  /* room for cap keys was reserved and at most cap are held */
  mc_keymap_put(&sc->index, key, (void *)(uintptr_t)(sc->next + 1));
  sc->next = (sc->next + 1) % sc->cap;
}
