/*
 * keymap.c - the hash table of 32-byte keys (keymap.h).
 */
#include "keymap.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "minichain/error.h"

#define KEYMAP_MIN_SLOTS 16

void mc_keymap_init(mc_keymap *m) {
  memset(m, 0, sizeof *m);
  randombytes_buf(m->hkey, sizeof m->hkey);
}

void mc_keymap_free(mc_keymap *m) {
  free(m->slots);
  m->slots = NULL;
  m->nslots = m->count = 0;
}

static size_t home(const mc_keymap *m, const uint8_t *key) {
  uint8_t h[crypto_shorthash_BYTES];
  uint64_t v;
  crypto_shorthash(h, key, MC_KEYMAP_KEY_LEN, m->hkey);
  memcpy(&v, h, sizeof v);
  return (size_t)v & (m->nslots - 1);
}

static ptrdiff_t slot_of(const mc_keymap *m, const uint8_t *key) {
  if (m->nslots == 0)
    return -1;
  for (size_t i = home(m, key);; i = (i + 1) & (m->nslots - 1)) {
    if (m->slots[i].val == NULL)
      return -1;
    if (memcmp(m->slots[i].key, key, MC_KEYMAP_KEY_LEN) == 0)
      return (ptrdiff_t)i;
  }
}

void *mc_keymap_get(const mc_keymap *m, const uint8_t key[MC_KEYMAP_KEY_LEN]) {
  ptrdiff_t i = slot_of(m, key);
  return i < 0 ? NULL : m->slots[i].val;
}

static void place(mc_keymap *m, const uint8_t *key, void *val) {
  size_t i = home(m, key);
  while (m->slots[i].val != NULL)
    i = (i + 1) & (m->nslots - 1);
  memcpy(m->slots[i].key, key, MC_KEYMAP_KEY_LEN);
  m->slots[i].val = val;
}

int mc_keymap_reserve(mc_keymap *m, size_t extra) {
  size_t need = m->count + extra;
  if (need * 2 <= m->nslots)
    return 0;
  size_t n = m->nslots ? m->nslots : KEYMAP_MIN_SLOTS;
  while (need * 2 > n)
    n *= 2;
  mc_keymap_slot *slots = calloc(n, sizeof *slots);
  if (slots == NULL)
    return MC_ENOMEM;
  mc_keymap_slot *old = m->slots;
  size_t nold = m->nslots;
  m->slots = slots;
  m->nslots = n;
  for (size_t i = 0; i < nold; i++)
    if (old[i].val != NULL)
      place(m, old[i].key, old[i].val);
  free(old);
  return 0;
}

void mc_keymap_put(mc_keymap *m, const uint8_t key[MC_KEYMAP_KEY_LEN], void *val) {
  assert(val != NULL && m->count * 2 < m->nslots);
  assert(slot_of(m, key) < 0);
  place(m, key, val);
  m->count++;
}

void mc_keymap_del(mc_keymap *m, const uint8_t key[MC_KEYMAP_KEY_LEN]) {
  ptrdiff_t found = slot_of(m, key);
  if (found < 0)
    return;
  size_t mask = m->nslots - 1, i = (size_t)found, j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (m->slots[j].val == NULL)
      break;
    size_t k = home(m, m->slots[j].key);
    /* Move j back to the hole unless its home lies cyclically in (i, j]. */
    int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (!stays) {
      m->slots[i] = m->slots[j];
      i = j;
    }
  }
  m->slots[i].val = NULL;
  m->count--;
}

void mc_keymap_clear(mc_keymap *m) {
  if (m->nslots)
    memset(m->slots, 0, m->nslots * sizeof *m->slots);
  m->count = 0;
}
