/*
 * memstore.c - the in-memory chain store of memstore.h.
 *
 * Accounts sit in an open-addressing table keyed by public key, because
 * the chain reads an account for every transfer it checks; blocks in an
 * array by height.  find_tx is a scan: the chain calls it only for client
 * queries, which the kit never makes.
 */
#include "memstore.h"

#include <stdlib.h>
#include <string.h>

#include "chain/codec.h"
#include "minichain/error.h"

struct mc_store {
  mc_block **blocks; /* blocks[h] */
  uint64_t nblocks, capblocks;
  mc_account *accts; /* open addressing; pubkey all zero = empty slot */
  size_t naccts, capaccts;
};

mc_store *memstore_new(void) {
  mc_store *s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  s->capaccts = 64;
  s->accts = calloc(s->capaccts, sizeof *s->accts);
  if (s->accts == NULL) {
    free(s);
    return NULL;
  }
  return s;
}

void memstore_free(mc_store *s) {
  if (s == NULL)
    return;
  for (uint64_t h = 0; h < s->nblocks; h++)
    mc_block_free(s->blocks[h]);
  free(s->blocks);
  free(s->accts);
  free(s);
}

const mc_block *memstore_block(const mc_store *s, uint64_t h) {
  return h < s->nblocks ? s->blocks[h] : NULL;
}

static int is_empty_slot(const mc_account *a) {
  static const uint8_t zero[MC_PUBKEY_LEN];
  return memcmp(a->pubkey, zero, MC_PUBKEY_LEN) == 0;
}

/* The slot holding pk, or the empty slot where it would go. */
static mc_account *slot_of(mc_account *tab, size_t cap,
                           const uint8_t pk[MC_PUBKEY_LEN]) {
  uint64_t k;
  memcpy(&k, pk, sizeof k); /* keys are ed25519 points: already mixed */
  for (size_t i = (size_t)(k % cap);; i = (i + 1) % cap)
    if (is_empty_slot(&tab[i]) ||
        memcmp(tab[i].pubkey, pk, MC_PUBKEY_LEN) == 0)
      return &tab[i];
}

static int grow_accounts(mc_store *s) {
  size_t cap = s->capaccts * 2;
  mc_account *tab = calloc(cap, sizeof *tab);
  if (tab == NULL)
    return MC_ENOMEM;
  for (size_t i = 0; i < s->capaccts; i++)
    if (!is_empty_slot(&s->accts[i]))
      *slot_of(tab, cap, s->accts[i].pubkey) = s->accts[i];
  free(s->accts);
  s->accts = tab;
  s->capaccts = cap;
  return 0;
}

static int st_head(mc_store *s, uint64_t *height, uint8_t hash[MC_HASH_LEN]) {
  if (s->nblocks == 0)
    return MC_ENOTFOUND;
  *height = s->nblocks - 1;
  memcpy(hash, s->blocks[s->nblocks - 1]->hash, MC_HASH_LEN);
  return 0;
}

static int links(const mc_store *s, const mc_block *b) {
  if (s->nblocks == 0)
    return b->header.height == 0;
  return b->header.height == s->nblocks &&
         memcmp(b->header.prev_hash, s->blocks[s->nblocks - 1]->hash,
                MC_HASH_LEN) == 0;
}

/* Room first, then the copy, then the changes: nothing can fail after the
 * first change, so a block and its state appear together or not at all. */
static int st_append(mc_store *s, const mc_block *b, const mc_account *ch,
                     size_t n) {
  if (!links(s, b))
    return MC_ELINK;
  while ((s->naccts + n) * 2 > s->capaccts)
    if (grow_accounts(s) != 0)
      return MC_ENOMEM;
  if (s->nblocks == s->capblocks) {
    uint64_t cap = s->capblocks ? 2 * s->capblocks : 64;
    mc_block **bl = realloc(s->blocks, cap * sizeof *bl);
    if (bl == NULL)
      return MC_ENOMEM;
    s->blocks = bl;
    s->capblocks = cap;
  }
  mc_block *copy = mc_block_dup(b);
  if (copy == NULL)
    return MC_ENOMEM;
  s->blocks[s->nblocks++] = copy;
  for (size_t i = 0; i < n; i++) {
    mc_account *a = slot_of(s->accts, s->capaccts, ch[i].pubkey);
    s->naccts += is_empty_slot(a);
    *a = ch[i];
  }
  return 0;
}

static int st_get_block(mc_store *s, uint64_t height, mc_block **out) {
  if (height >= s->nblocks)
    return MC_ENOTFOUND;
  *out = mc_block_dup(s->blocks[height]);
  return *out ? 0 : MC_ENOMEM;
}

static int st_get_block_by_hash(mc_store *s, const uint8_t hash[MC_HASH_LEN],
                                mc_block **out) {
  for (uint64_t h = s->nblocks; h-- > 0;)
    if (memcmp(s->blocks[h]->hash, hash, MC_HASH_LEN) == 0)
      return st_get_block(s, h, out);
  return MC_ENOTFOUND;
}

static void st_free_block(mc_store *s, mc_block *b) {
  (void)s;
  mc_block_free(b);
}

static int st_get_account(mc_store *s, const uint8_t pk[MC_PUBKEY_LEN],
                          mc_account *out) {
  const mc_account *a = slot_of(s->accts, s->capaccts, pk);
  if (is_empty_slot(a))
    return MC_ENOTFOUND;
  *out = *a;
  return 0;
}

static int st_each_account(mc_store *s, mc_account_cb cb, void *arg) {
  for (size_t i = 0; i < s->capaccts; i++)
    if (!is_empty_slot(&s->accts[i])) {
      int rc = cb(arg, &s->accts[i]);
      if (rc != 0)
        return rc;
    }
  return 0;
}

static int st_find_tx(mc_store *s, const uint8_t txid[MC_HASH_LEN],
                      uint64_t *height, uint32_t *index) {
  for (uint64_t h = 0; h < s->nblocks; h++)
    for (uint32_t i = 0; i < s->blocks[h]->header.tx_count; i++)
      if (memcmp(s->blocks[h]->txs[i].id, txid, MC_HASH_LEN) == 0) {
        *height = h;
        *index = i;
        return 0;
      }
  return MC_ENOTFOUND;
}

const mc_store_vtable memstore_vtable = {
    .size = sizeof(mc_store_vtable),
    .open = NULL,
    .close = NULL,
    .head = st_head,
    .append = st_append,
    .get_block = st_get_block,
    .get_block_by_hash = st_get_block_by_hash,
    .free_block = st_free_block,
    .get_account = st_get_account,
    .each_account = st_each_account,
    .find_tx = st_find_tx,
};
