/*
 * json_index.c - the hash indexes that make json.so's reads O(1): block
 * hash -> height, txid -> (height, index), public key -> account slot.
 *
 * Open addressing with linear probing at a load factor of at most 1/2.
 * The chain only grows, so there is no removal.  Keys are hashes and public
 * keys; public keys are chosen by users (anyone can send to any 32 bytes),
 * so the slot is a keyed mix of all 32 bytes with a random per-index seed
 * rather than the key's first bytes, which an attacker could make collide.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "json_internal.h"
#include "minichain/error.h"

static uint64_t random_seed(const void *salt) {
  uint64_t seed;
  if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
    return seed;
  /* No entropy yet (early boot): still differ between runs and indexes. */
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
         (uint64_t)(uintptr_t)salt;
}

static uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

static size_t slot_of(const mc__jidx *t, const uint8_t key[32]) {
  uint64_t h = t->seed;
  for (int i = 0; i < 4; i++) {
    uint64_t w;
    memcpy(&w, key + 8 * i, sizeof w);
    h = mix(h ^ w);
  }
  return (size_t)h & (t->cap - 1);
}

void mc__jidx_init(mc__jidx *t) {
  memset(t, 0, sizeof *t);
  t->seed = random_seed(t);
}

void mc__jidx_free(mc__jidx *t) {
  free(t->slots);
  t->slots = NULL;
  t->cap = t->count = 0;
}

static void insert(mc__jidx_entry *slots, size_t cap, size_t start,
                   const mc__jidx_entry *e) {
  size_t i = start;
  while (slots[i].used)
    i = (i + 1) & (cap - 1);
  slots[i] = *e;
}

int mc__jidx_reserve(mc__jidx *t, size_t extra) {
  size_t want = t->count + extra;
  if (want < t->count)
    return MC_ENOMEM;
  if (want * 2 <= t->cap)
    return 0;
  size_t cap = t->cap ? t->cap : 16;
  while (cap < want * 2) {
    if (cap > SIZE_MAX / 4 / sizeof(mc__jidx_entry))
      return MC_ENOMEM;
    cap *= 2;
  }
  mc__jidx_entry *slots = calloc(cap, sizeof *slots);
  if (!slots)
    return MC_ENOMEM;
  mc__jidx grown = *t;
  grown.slots = slots;
  grown.cap = cap;
  for (size_t i = 0; i < t->cap; i++)
    if (t->slots[i].used)
      insert(slots, cap, slot_of(&grown, t->slots[i].key), &t->slots[i]);
  free(t->slots);
  t->slots = slots;
  t->cap = cap;
  return 0;
}

void mc__jidx_put(mc__jidx *t, const uint8_t key[32], uint64_t a, uint32_t b) {
  assert(t->cap > 0 && (t->count + 1) * 2 <= t->cap);
  size_t i = slot_of(t, key);
  while (t->slots[i].used) {
    if (memcmp(t->slots[i].key, key, 32) == 0) {
      t->slots[i].a = a;
      t->slots[i].b = b;
      return;
    }
    i = (i + 1) & (t->cap - 1);
  }
  mc__jidx_entry *e = &t->slots[i];
  memcpy(e->key, key, 32);
  e->a = a;
  e->b = b;
  e->used = 1;
  t->count++;
}

const mc__jidx_entry *mc__jidx_get(const mc__jidx *t, const uint8_t key[32]) {
  if (t->cap == 0)
    return NULL;
  size_t i = slot_of(t, key);
  while (t->slots[i].used) {
    if (memcmp(t->slots[i].key, key, 32) == 0)
      return &t->slots[i];
    i = (i + 1) & (t->cap - 1);
  }
  return NULL;
}
