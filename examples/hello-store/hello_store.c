/*
 * hello_store.c - an in-memory chain store plugin, built only against the
 * installed MiniChain SDK.
 *
 * It keeps every block and every account in the node's memory, so the
 * chain lasts exactly as long as the mchost process: useful for tests,
 * benchmarks of the rest of the node, and throwaway devnets, and short
 * enough to read as the model of a store plugin.  It never touches the
 * data directory.
 *
 * Blocks sit in an array indexed by height (heights are contiguous from
 * 0); accounts in an array sorted by public key, searched with bsearch.
 * Lookups by block hash and by transaction id are linear scans.
 *
 * append() is all or nothing: it reserves every byte it will need first,
 * and only then changes anything.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <minichain/error.h>
#include <minichain/plugin.h>
#include <minichain/store.h>

struct mc_store {
  const mc_host_api *api;
  mc_host *host;
  mc_block *blocks; /* deep copies; blocks[i].header.height == i */
  size_t nblocks, capblocks;
  mc_account *accounts; /* sorted by pubkey */
  size_t naccounts, capaccounts;
};

/* ---- blocks -------------------------------------------------------------- */

static void *dup_bytes(const void *p, size_t len) {
  void *q = malloc(len);
  if (q != NULL)
    memcpy(q, p, len);
  return q;
}

/* Frees what copy_block allocated inside b (not b itself). */
static void clear_block(mc_block *b) {
  free(b->txs);
  free(b->cert);
  memset(b, 0, sizeof *b);
}

/* Deep copy: the host's pointers are valid only during the call. */
static int copy_block(mc_block *dst, const mc_block *src) {
  *dst = *src;
  dst->txs = NULL;
  dst->cert = NULL;
  if (src->header.tx_count > 0) {
    dst->txs = dup_bytes(src->txs, src->header.tx_count * sizeof *src->txs);
    if (dst->txs == NULL)
      return MC_ENOMEM;
  }
  if (src->cert_len > 0) {
    dst->cert = dup_bytes(src->cert, src->cert_len);
    if (dst->cert == NULL) {
      clear_block(dst);
      return MC_ENOMEM;
    }
  }
  return 0;
}

/* A heap copy the caller frees with hello_free_block. */
static int new_block_copy(const mc_block *src, mc_block **out) {
  mc_block *b = malloc(sizeof *b);
  if (b == NULL)
    return MC_ENOMEM;
  int rc = copy_block(b, src);
  if (rc != 0) {
    free(b);
    return rc;
  }
  *out = b;
  return 0;
}

/* ---- accounts ------------------------------------------------------------ */

static int cmp_pubkey(const void *key, const void *elem) {
  return memcmp(key, ((const mc_account *)elem)->pubkey, MC_PUBKEY_LEN);
}

/* Index of pubkey, or of where it would be inserted (*found = 0). */
static size_t account_slot(const mc_store *s, const uint8_t *pubkey,
                           int *found) {
  size_t lo = 0, hi = s->naccounts;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = cmp_pubkey(pubkey, &s->accounts[mid]);
    if (c == 0) {
      *found = 1;
      return mid;
    }
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  *found = 0;
  return lo;
}

/* Cannot fail: append() reserved room for every change beforehand. */
static void put_account(mc_store *s, const mc_account *a) {
  int found;
  size_t i = account_slot(s, a->pubkey, &found);
  if (!found) {
    memmove(&s->accounts[i + 1], &s->accounts[i],
            (s->naccounts - i) * sizeof *s->accounts);
    s->naccounts++;
  }
  s->accounts[i] = *a;
}

/* ---- capacity ------------------------------------------------------------ */

static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return 0;
  size_t ncap = *cap ? *cap : 16;
  while (ncap < need)
    ncap *= 2;
  void *p = realloc(*arr, ncap * elem);
  if (p == NULL)
    return MC_ENOMEM;
  *arr = p;
  *cap = ncap;
  return 0;
}

static int reserve(mc_store *s, size_t nchanges) {
  int rc = grow((void **)&s->blocks, &s->capblocks, s->nblocks + 1,
                sizeof *s->blocks);
  if (rc == 0)
    rc = grow((void **)&s->accounts, &s->capaccounts,
              s->naccounts + nchanges, sizeof *s->accounts);
  return rc;
}

/* ---- the vtable ---------------------------------------------------------- */

static int hello_open(const mc_host_api *api, mc_host *host, const char *dir,
                      mc_store **out, char *err, size_t errlen) {
  (void)dir; /* nothing is kept on disk */
  mc_store *s = calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(err, errlen, "out of memory");
    return MC_ENOMEM;
  }
  s->api = api;
  s->host = host;
  if (api != NULL && api->log != NULL)
    api->log(host, MC_LOG_WARN, "memory_store_opened", NULL, 0);
  *out = s;
  return 0;
}

static void hello_close(mc_store *s) {
  if (s == NULL)
    return;
  for (size_t i = 0; i < s->nblocks; i++)
    clear_block(&s->blocks[i]);
  free(s->blocks);
  free(s->accounts);
  free(s);
}

static int hello_head(mc_store *s, uint64_t *height,
                      uint8_t hash[MC_HASH_LEN]) {
  if (s->nblocks == 0)
    return MC_ENOTFOUND;
  const mc_block *top = &s->blocks[s->nblocks - 1];
  *height = top->header.height;
  memcpy(hash, top->hash, MC_HASH_LEN);
  return 0;
}

static int links(const mc_store *s, const mc_block *b) {
  if (b->header.height != s->nblocks)
    return 0;
  return s->nblocks == 0 || memcmp(b->header.prev_hash,
                                   s->blocks[s->nblocks - 1].hash,
                                   MC_HASH_LEN) == 0;
}

static int hello_append(mc_store *s, const mc_block *b,
                        const mc_account *changes, size_t n) {
  if (!links(s, b))
    return MC_ELINK;
  int rc = reserve(s, n);
  if (rc == 0)
    rc = copy_block(&s->blocks[s->nblocks], b);
  if (rc != 0)
    return rc;
  for (size_t i = 0; i < n; i++)
    put_account(s, &changes[i]);
  s->nblocks++;
  return 0;
}

static int hello_get_block(mc_store *s, uint64_t height, mc_block **out) {
  if (height >= s->nblocks)
    return MC_ENOTFOUND;
  return new_block_copy(&s->blocks[height], out);
}

static int hello_get_block_by_hash(mc_store *s,
                                   const uint8_t hash[MC_HASH_LEN],
                                   mc_block **out) {
  for (size_t i = 0; i < s->nblocks; i++)
    if (memcmp(s->blocks[i].hash, hash, MC_HASH_LEN) == 0)
      return new_block_copy(&s->blocks[i], out);
  return MC_ENOTFOUND;
}

static void hello_free_block(mc_store *s, mc_block *b) {
  (void)s;
  if (b == NULL)
    return;
  clear_block(b);
  free(b);
}

static int hello_get_account(mc_store *s, const uint8_t pubkey[MC_PUBKEY_LEN],
                             mc_account *out) {
  int found;
  size_t i = account_slot(s, pubkey, &found);
  if (!found)
    return MC_ENOTFOUND;
  *out = s->accounts[i];
  return 0;
}

static int hello_each_account(mc_store *s, mc_account_cb cb, void *arg) {
  for (size_t i = 0; i < s->naccounts; i++) {
    int rc = cb(arg, &s->accounts[i]);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int hello_find_tx(mc_store *s, const uint8_t txid[MC_HASH_LEN],
                         uint64_t *height, uint32_t *index) {
  for (size_t h = 0; h < s->nblocks; h++) {
    const mc_block *b = &s->blocks[h];
    for (uint32_t i = 0; i < b->header.tx_count; i++) {
      if (memcmp(b->txs[i].id, txid, MC_HASH_LEN) == 0) {
        *height = h;
        *index = i;
        return 0;
      }
    }
  }
  return MC_ENOTFOUND;
}

static const mc_store_vtable hello_vtable = {
    .size = sizeof hello_vtable,
    .open = hello_open,
    .close = hello_close,
    .head = hello_head,
    .append = hello_append,
    .get_block = hello_get_block,
    .get_block_by_hash = hello_get_block_by_hash,
    .free_block = hello_free_block,
    .get_account = hello_get_account,
    .each_account = hello_each_account,
    .find_tx = hello_find_tx,
};

MC_PLUGIN_DEFINE(MC_PLUGIN_STORE, "hello", "0.1.0",
                 "In-memory chain store (nothing survives a restart)",
                 &hello_vtable)
