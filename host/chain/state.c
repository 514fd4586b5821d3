/*
 * state.c - the state transition: transfers applied to an overlay of
 * accounts on top of the committed state.
 *
 * The overlay is an insertion-ordered array of changed accounts (each with
 * the value it had in the base state) indexed by public key through a
 * keymap (keymap.h), whose values are entry index + 1 (never NULL).
 */
#include "chain/state.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "keymap.h"
#include "minichain/error.h"

#define OVERLAY_MIN_ENTRIES 8

typedef struct overlay_entry {
  mc_account now;
  mc_account before;
} overlay_entry;

struct mc_overlay {
  mc_account_get_fn get;
  void *ctx;
  overlay_entry *entries; /* changed accounts, in first-change order */
  size_t count, cap;
  mc_keymap index; /* pubkey -> entry index + 1 */
};

int mc_tx_check_static(const mc_tx *tx, const char *chain_id) {
  /* Bounded compare: a chain_id field without a NUL still differs from a
   * valid id (at most MC_CHAIN_ID_MAX bytes) inside the buffer. */
  if (strncmp(tx->chain_id, chain_id, sizeof tx->chain_id) != 0)
    return MC_ECHAINID;
  if (tx->amount == 0)
    return MC_EZERO;
  if (memcmp(tx->from, tx->to, MC_PUBKEY_LEN) == 0)
    return MC_ESELF;
  return 0;
}

mc_overlay *mc_overlay_new(mc_account_get_fn get, void *ctx) {
  assert(get != NULL);
  mc_overlay *o = calloc(1, sizeof *o);
  if (o == NULL)
    return NULL;
  o->get = get;
  o->ctx = ctx;
  mc_keymap_init(&o->index);
  return o;
}

void mc_overlay_free(mc_overlay *o) {
  if (o == NULL)
    return;
  free(o->entries);
  mc_keymap_free(&o->index);
  free(o);
}

/* Index of pk's entry, or -1. */
static ptrdiff_t find_entry(const mc_overlay *o, const uint8_t pk[MC_PUBKEY_LEN]) {
  uintptr_t v = (uintptr_t)mc_keymap_get(&o->index, pk);
  return v == 0 ? -1 : (ptrdiff_t)(v - 1);
}

/* Makes room for `extra` more entries, so that applying a transfer cannot
 * fail half way. */
static int reserve(mc_overlay *o, size_t extra) {
  size_t need = o->count + extra;
  if (need > o->cap) {
    size_t cap = o->cap ? o->cap * 2 : OVERLAY_MIN_ENTRIES;
    while (cap < need)
      cap *= 2;
    overlay_entry *e = realloc(o->entries, cap * sizeof *e);
    if (e == NULL)
      return MC_ENOMEM;
    o->entries = e;
    o->cap = cap;
  }
  return mc_keymap_reserve(&o->index, extra);
}

/* The base state's value of pk: zero when the base never saw it. */
static int base_get(mc_overlay *o, const uint8_t pk[MC_PUBKEY_LEN],
                    mc_account *out) {
  int rc = o->get(o->ctx, pk, out);
  if (rc == MC_ENOTFOUND) {
    memset(out, 0, sizeof *out);
    rc = 0;
  }
  if (rc == 0)
    memcpy(out->pubkey, pk, MC_PUBKEY_LEN);
  return rc;
}

int mc_overlay_get(mc_overlay *o, const uint8_t pk[MC_PUBKEY_LEN],
                   mc_account *out) {
  ptrdiff_t i = find_entry(o, pk);
  if (i >= 0) {
    *out = o->entries[i].now;
    return 0;
  }
  return base_get(o, pk, out);
}

/* Records pk's new value; `before` is its base value if pk is new here.
 * Room was reserved beforehand. */
static void put(mc_overlay *o, const mc_account *before, const mc_account *now) {
  ptrdiff_t i = find_entry(o, now->pubkey);
  if (i >= 0) {
    o->entries[i].now = *now;
    return;
  }
  assert(o->count < o->cap);
  o->entries[o->count].before = *before;
  o->entries[o->count].now = *now;
  mc_keymap_put(&o->index, now->pubkey, (void *)(uintptr_t)(o->count + 1));
  o->count++;
}

static int check_nonce(const mc_account *from, uint64_t nonce) {
  if (nonce <= from->nonce)
    return MC_ENONCE;
  if (nonce - from->nonce > 1)
    return MC_ENONCEGAP;
  return 0;
}

int mc_overlay_apply(mc_overlay *o, const mc_tx *tx, const char *chain_id) {
  mc_account from, to;
  int rc = mc_tx_check_static(tx, chain_id);
  if (rc == 0)
    rc = mc_overlay_get(o, tx->from, &from);
  if (rc == 0)
    rc = check_nonce(&from, tx->nonce);
  if (rc == 0 && tx->amount > from.balance)
    rc = MC_EBALANCE;
  if (rc == 0)
    rc = mc_overlay_get(o, tx->to, &to);
  if (rc == 0 && to.balance > UINT64_MAX - tx->amount)
    rc = MC_EOVERFLOW;
  if (rc == 0)
    rc = reserve(o, 2);
  if (rc != 0)
    return rc;
  /* Only accounts not yet in the overlay take `before` from these copies,
   * and for those the copies are the base values. */
  mc_account from_before = from, to_before = to;
  from.balance -= tx->amount;
  from.nonce = tx->nonce;
  to.balance += tx->amount;
  put(o, &from_before, &from);
  put(o, &to_before, &to);
  return 0;
}

size_t mc_overlay_count(const mc_overlay *o) { return o->count; }

void mc_overlay_entry(const mc_overlay *o, size_t i, mc_account *now,
                      mc_account *before) {
  assert(i < o->count);
  if (now != NULL)
    *now = o->entries[i].now;
  if (before != NULL)
    *before = o->entries[i].before;
}

void mc_overlay_update_lthash(const mc_overlay *o, mc_lthash *acc) {
  for (size_t i = 0; i < o->count; i++) {
    mc_lthash_remove(acc, &o->entries[i].before);
    mc_lthash_add(acc, &o->entries[i].now);
  }
}
