/*
 * vcache.c - the signature verdict cache of vcache.h.
 */
#include "vcache.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "minichain/error.h"

#define VCACHE_SLOTS (1u << 14)

typedef struct vcache_ent {
  uint8_t key[16];
  uint8_t used, ok;
} vcache_ent;

struct vcache {
  vcache_ent *ents;
};

vcache *vcache_new(void) {
  vcache *c = calloc(1, sizeof *c);
  if (c != NULL && (c->ents = calloc(VCACHE_SLOTS, sizeof *c->ents)) == NULL) {
    free(c);
    c = NULL;
  }
  return c;
}

void vcache_free(vcache *c) {
  if (c != NULL)
    free(c->ents);
  free(c);
}

int vcache_check(vcache *c, uint8_t domain, const uint8_t pk[MC_PUBKEY_LEN],
                 const uint8_t sig[MC_SIG_LEN], const uint8_t digest[32],
                 int (*check)(const void *arg), const void *arg) {
  uint8_t in[1 + MC_PUBKEY_LEN + MC_SIG_LEN + 32], key[32];
  in[0] = domain;
  memcpy(in + 1, pk, MC_PUBKEY_LEN);
  memcpy(in + 1 + MC_PUBKEY_LEN, sig, MC_SIG_LEN);
  memcpy(in + 1 + MC_PUBKEY_LEN + MC_SIG_LEN, digest, 32);
  crypto_hash_sha256(key, in, sizeof in);
  uint32_t slot;
  memcpy(&slot, key, sizeof slot);
  vcache_ent *e = &c->ents[slot % VCACHE_SLOTS];
  if (e->used && memcmp(e->key, key, sizeof e->key) == 0)
    return e->ok ? 0 : MC_ESIG;
  int rc = check(arg);
  if (rc == MC_ENOMEM)
    return rc;
  e->used = 1;
  e->ok = rc == 0;
  memcpy(e->key, key, sizeof e->key);
  return rc == 0 ? 0 : MC_ESIG;
}
