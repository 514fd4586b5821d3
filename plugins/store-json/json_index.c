/*
 * json_index.c - the hash indexes that make json.so's reads O(1): block
 * hash -> height, txid -> (height, index), public key -> account slot.
 *
 * Open addressing with linear probing at a load factor of at most 1/2.
 * The chain only grows, so there is no removal.  A growth does not move
 * the old table at once (at a million transactions that would stall one
 * append for a good fraction of a second): the old table stays beside
 * the new one, lookups try the new one and then the old one, and each put
 * moves the next MOVE_PER_PUT old slots across, which empties the old
 * table long before the new one can fill up.  Keys are hashes and public
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

/* Old slots moved into the new table per put: the old table has at most
 * half the new one's slots, and at least as many puts as the old table
 * had entries come before the next growth, at a load factor of at most
 * 1/2: 4 would do; 16 leaves room for reservations made in bulk. */
#define MOVE_PER_PUT 16

static size_t slot_of(uint64_t seed, size_t cap, const uint8_t key[32]) {
  uint64_t h = seed;
  for (int i = 0; i < 4; i++) {
    uint64_t w;
    memcpy(&w, key + 8 * i, sizeof w);
    h = mix(h ^ w);
  }
  return (size_t)h & (cap - 1);
}

void mc__jidx_init(mc__jidx *t) {
  memset(t, 0, sizeof *t);
  t->seed = random_seed(t);
}

void mc__jidx_free(mc__jidx *t) {
  free(t->slots);
  free(t->old);
  t->slots = t->old = NULL;
  t->cap = t->count = t->old_cap = t->old_pos = t->old_left = 0;
}

static mc__jidx_entry *find(mc__jidx_entry *slots, size_t cap, uint64_t seed,
                            const uint8_t key[32]) {
  if (cap == 0)
    return NULL;
  size_t i = slot_of(seed, cap, key);
  while (slots[i].used) {
    if (memcmp(slots[i].key, key, 32) == 0)
      return &slots[i];
    i = (i + 1) & (cap - 1);
  }
  return NULL;
}

/* Adds an entry whose key is in neither table. */
static void insert(mc__jidx *t, const mc__jidx_entry *e) {
  assert((t->count + 1) * 2 <= t->cap);
  size_t i = slot_of(t->seed, t->cap, e->key);
  while (t->slots[i].used)
    i = (i + 1) & (t->cap - 1);
  t->slots[i] = *e;
  t->count++;
}

/* Moves up to n old slots into the new table.  An old slot is not
 * cleared: probe chains through it must stay intact for the lookups of
 * entries not yet moved, and a moved entry is found in the new table
 * first. */
static void move_some(mc__jidx *t, size_t n) {
  while (t->old != NULL && n-- > 0) {
    if (t->old[t->old_pos].used) {
      insert(t, &t->old[t->old_pos]);
      t->old_left--;
    }
    if (++t->old_pos == t->old_cap) {
      free(t->old);
      t->old = NULL;
      t->old_cap = t->old_pos = t->old_left = 0;
    }
  }
}

int mc__jidx_reserve(mc__jidx *t, size_t extra) {
  size_t total = t->count + t->old_left;
  size_t want = total + extra;
  if (want < total)
    return MC_ENOMEM;
  if (want * 2 <= t->cap)
    return 0;
  size_t cap = t->cap ? t->cap * 2 : 16;
  while (cap < want * 2) {
    if (cap > SIZE_MAX / 4 / sizeof(mc__jidx_entry))
      return MC_ENOMEM;
    cap *= 2;
  }
  mc__jidx_entry *slots = calloc(cap, sizeof *slots);
  if (!slots)
    return MC_ENOMEM;
  /* Growing again before the last move finished (a reservation far
   * bigger than the puts since): finish it first. */
  move_some(t, SIZE_MAX);
  t->old = t->slots;
  t->old_cap = t->cap;
  t->old_pos = 0;
  t->old_left = t->count;
  t->slots = slots;
  t->cap = cap;
  t->count = 0;
  if (t->old == NULL || t->old_left == 0) {
    free(t->old);
    t->old = NULL;
    t->old_cap = t->old_left = 0;
  }
  return 0;
}

void mc__jidx_put(mc__jidx *t, const uint8_t key[32], uint64_t a, uint32_t b) {
  assert(t->cap > 0);
  move_some(t, MOVE_PER_PUT);
  mc__jidx_entry *e = find(t->slots, t->cap, t->seed, key);
  if (e == NULL && t->old != NULL)
    e = find(t->old, t->old_cap, t->seed, key);
  if (e != NULL) {
    e->a = a;
    e->b = b;
    return;
  }
  mc__jidx_entry n;
  memset(&n, 0, sizeof n);
  memcpy(n.key, key, 32);
  n.a = a;
  n.b = b;
  n.used = 1;
  insert(t, &n);
}

const mc__jidx_entry *mc__jidx_get(const mc__jidx *t, const uint8_t key[32]) {
  const mc__jidx_entry *e = find(t->slots, t->cap, t->seed, key);
  if (e == NULL && t->old != NULL)
    e = find(t->old, t->old_cap, t->seed, key);
  return e;
}
