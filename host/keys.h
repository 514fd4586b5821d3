/*
 * keys.h - node and account key files.
 *
 * A key file is JSON, written with mode 0600 and refused on load if group
 * or others have any access to it:
 *   {"type":"ed25519","public":"<64 hex>","seed":"<64 hex>"}
 * Deterministic development keys derive the seed from a name:
 * seed = SHA-256("minichain-dev-key:" || name).  Anyone who knows the name
 * has the key: they exist for devnets and tests only.
 */
#ifndef MC_KEYS_H
#define MC_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "chain/crypto.h"

typedef struct mc_keypair {
  uint8_t pk[MC_PUBKEY_LEN];
  uint8_t sk[MC_SECKEY_LEN];
} mc_keypair;

/* A fresh random key pair. */
void mc_key_generate(mc_keypair *kp);
/* The development key pair for `name` (non-empty). */
int mc_key_from_dev_name(const char *name, mc_keypair *kp);
/* Writes kp to path with mode 0600; refuses (MC_EINVAL) to overwrite an
 * existing file.  MC_EIO with the reason in err on failure. */
int mc_key_save(const char *path, const mc_keypair *kp, char *err,
                size_t errlen);
/* Reads and checks a key file: it must be a regular file (a symlink to
 * one is followed) whose mode gives group and others nothing (mode & 077
 * == 0; else MC_EINVAL, and err names the mode and says "chmod 600
 * PATH"), and the public key must match the seed.  MC_EIO when it cannot
 * be read, MC_EINVAL when it is refused, with a one-line reason naming the
 * path in err. */
int mc_key_load(const char *path, mc_keypair *kp, char *err, size_t errlen);

#endif /* MC_KEYS_H */
