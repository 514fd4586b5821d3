/*
 * crypto.c - hashing, ed25519, the transaction Merkle root, the LtHash
 * state accumulator and hex, all on libsodium.
 *
 * The constructions are the ones docs/PROTOCOL.md specifies ("Merkle root",
 * "State root (LtHash)"); tools/vectors.py recomputes them independently
 * and tests/unit/test-crypto.c checks this file against its output.
 */
#include "chain/crypto.h"

#include <assert.h>
#include <msgpack.h>
#include <sodium.h>
#include <string.h>

#include "minichain/error.h"

#define LTHASH_ELEM_BYTES (MC_LTHASH_LANES * 2)
/* ["mc-acct-v1", bin32, u64, u64] is at most 1+11+34+9+9 bytes. */
#define ACCT_ENC_MAX 80

static const char ACCT_TAG[] = "mc-acct-v1";
static const char STATE_TAG[] = "mc-state-v1";

int mc_crypto_init(void) { return sodium_init() < 0 ? MC_EIO : 0; }

void mc_sha256(const void *data, size_t len, uint8_t out[MC_HASH_LEN]) {
  crypto_hash_sha256(out, data, len);
}

void mc_sign(const uint8_t sk[MC_SECKEY_LEN], const uint8_t *msg, size_t len,
             uint8_t sig[MC_SIG_LEN]) {
  crypto_sign_detached(sig, NULL, msg, len, sk);
}

int mc_verify(const uint8_t pk[MC_PUBKEY_LEN], const uint8_t *msg, size_t len,
              const uint8_t sig[MC_SIG_LEN]) {
  return crypto_sign_verify_detached(sig, msg, len, pk) == 0 ? 0 : MC_ESIG;
}

/* ---- the consensus domain ---- */

static const char CONSENSUS_TAG[] = "mc-consensus-v1";

/* ["mc-consensus-v1", genesis_hash, msg] into a malloc'd buffer. */
static int consensus_preimage(const uint8_t genesis_hash[MC_HASH_LEN],
                              const uint8_t *msg, size_t len,
                              msgpack_sbuffer *sb) {
  if (len > UINT32_MAX)
    return MC_ETOOBIG;
  msgpack_sbuffer_init(sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  if (msgpack_pack_array(&pk, 3) != 0 ||
      msgpack_pack_str_with_body(&pk, CONSENSUS_TAG,
                                 sizeof CONSENSUS_TAG - 1) != 0 ||
      msgpack_pack_bin_with_body(&pk, genesis_hash, MC_HASH_LEN) != 0 ||
      msgpack_pack_bin(&pk, len) != 0 ||
      (len > 0 && msgpack_pack_bin_body(&pk, msg, len) != 0)) {
    msgpack_sbuffer_destroy(sb);
    return MC_ENOMEM;
  }
  return 0;
}

int mc_consensus_sign(const uint8_t sk[MC_SECKEY_LEN],
                      const uint8_t genesis_hash[MC_HASH_LEN],
                      const uint8_t *msg, size_t len, uint8_t sig[MC_SIG_LEN]) {
  msgpack_sbuffer sb;
  int rc = consensus_preimage(genesis_hash, msg, len, &sb);
  if (rc != 0)
    return rc;
  mc_sign(sk, (const uint8_t *)sb.data, sb.size, sig);
  msgpack_sbuffer_destroy(&sb);
  return 0;
}

int mc_consensus_verify(const uint8_t pk[MC_PUBKEY_LEN],
                        const uint8_t genesis_hash[MC_HASH_LEN],
                        const uint8_t *msg, size_t len,
                        const uint8_t sig[MC_SIG_LEN]) {
  msgpack_sbuffer sb;
  int rc = consensus_preimage(genesis_hash, msg, len, &sb);
  if (rc != 0)
    return rc;
  rc = mc_verify(pk, (const uint8_t *)sb.data, sb.size, sig);
  msgpack_sbuffer_destroy(&sb);
  return rc;
}

/* ---- Merkle root (RFC 6962, section 2.1) ---- */

static void merkle_leaf(const uint8_t id[MC_HASH_LEN], uint8_t out[MC_HASH_LEN]) {
  static const uint8_t prefix = 0x00;
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, &prefix, 1);
  crypto_hash_sha256_update(&st, id, MC_HASH_LEN);
  crypto_hash_sha256_final(&st, out);
}

static void merkle_node(const uint8_t l[MC_HASH_LEN],
                        const uint8_t r[MC_HASH_LEN], uint8_t out[MC_HASH_LEN]) {
  static const uint8_t prefix = 0x01;
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, &prefix, 1);
  crypto_hash_sha256_update(&st, l, MC_HASH_LEN);
  crypto_hash_sha256_update(&st, r, MC_HASH_LEN);
  crypto_hash_sha256_final(&st, out);
}

/* Largest power of two strictly smaller than n (n >= 2). */
static size_t merkle_split(size_t n) {
  size_t k = 1;
  while (k * 2 < n)
    k *= 2;
  return k;
}

/* Recursion depth is log2(n), so the stack stays small for any block. */
static void merkle_subtree(const uint8_t (*leaves)[MC_HASH_LEN], size_t n,
                           uint8_t out[MC_HASH_LEN]) {
  assert(n >= 1);
  if (n == 1) {
    merkle_leaf(leaves[0], out);
    return;
  }
  size_t k = merkle_split(n);
  uint8_t left[MC_HASH_LEN], right[MC_HASH_LEN];
  merkle_subtree(leaves, k, left);
  merkle_subtree(leaves + k, n - k, right);
  merkle_node(left, right, out);
}

void mc_merkle_root(const uint8_t (*leaves)[MC_HASH_LEN], size_t n,
                    uint8_t out[MC_HASH_LEN]) {
  if (n == 0) {
    crypto_hash_sha256(out, NULL, 0);
    return;
  }
  assert(leaves != NULL);
  merkle_subtree(leaves, n, out);
}

/* ---- LtHash ---- */

/* A msgpack write target over a fixed buffer: the account encoding has a
 * small upper bound, so hashing it needs no allocation. */
typedef struct fixed_buf {
  uint8_t data[ACCT_ENC_MAX];
  size_t len;
} fixed_buf;

static int fixed_buf_write(void *ctx, const char *p, size_t n) {
  fixed_buf *b = ctx;
  assert(b->len + n <= sizeof b->data);
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

static void account_encode(const mc_account *a, fixed_buf *b) {
  msgpack_packer pk;
  b->len = 0;
  msgpack_packer_init(&pk, b, fixed_buf_write);
  msgpack_pack_array(&pk, 4);
  msgpack_pack_str_with_body(&pk, ACCT_TAG, sizeof ACCT_TAG - 1);
  msgpack_pack_bin_with_body(&pk, a->pubkey, MC_PUBKEY_LEN);
  msgpack_pack_uint64(&pk, a->balance);
  msgpack_pack_uint64(&pk, a->nonce);
}

/* The account's element: 1024 u16 lanes of ChaCha20 keystream keyed by the
 * hash of its encoding, so that lanes look independent and uniform. */
static void lthash_element(const mc_account *a, uint16_t lane[MC_LTHASH_LANES]) {
  static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES];
  fixed_buf enc;
  uint8_t key[MC_HASH_LEN];
  uint8_t ks[LTHASH_ELEM_BYTES];
  account_encode(a, &enc);
  crypto_hash_sha256(key, enc.data, enc.len);
  crypto_stream_chacha20_ietf(ks, sizeof ks, nonce, key);
  for (size_t i = 0; i < MC_LTHASH_LANES; i++)
    lane[i] = (uint16_t)(ks[2 * i] | (ks[2 * i + 1] << 8));
  sodium_memzero(key, sizeof key);
}

static int account_present(const mc_account *a) {
  return a->balance != 0 || a->nonce != 0;
}

void mc_lthash_init(mc_lthash *h) { memset(h, 0, sizeof *h); }

void mc_lthash_add(mc_lthash *h, const mc_account *a) {
  uint16_t e[MC_LTHASH_LANES];
  if (!account_present(a))
    return;
  lthash_element(a, e);
  for (size_t i = 0; i < MC_LTHASH_LANES; i++)
    h->lane[i] = (uint16_t)(h->lane[i] + e[i]);
}

void mc_lthash_remove(mc_lthash *h, const mc_account *a) {
  uint16_t e[MC_LTHASH_LANES];
  if (!account_present(a))
    return;
  lthash_element(a, e);
  for (size_t i = 0; i < MC_LTHASH_LANES; i++)
    h->lane[i] = (uint16_t)(h->lane[i] - e[i]);
}

void mc_lthash_root(const mc_lthash *h, uint8_t out[MC_HASH_LEN]) {
  uint8_t le[LTHASH_ELEM_BYTES];
  crypto_hash_sha256_state st;
  for (size_t i = 0; i < MC_LTHASH_LANES; i++) {
    le[2 * i] = (uint8_t)(h->lane[i] & 0xff);
    le[2 * i + 1] = (uint8_t)(h->lane[i] >> 8);
  }
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, (const uint8_t *)STATE_TAG,
                            sizeof STATE_TAG - 1);
  crypto_hash_sha256_update(&st, le, sizeof le);
  crypto_hash_sha256_final(&st, out);
}

/* ---- hex ---- */

void mc_hex_encode(const uint8_t *in, size_t n, char *out) {
  sodium_bin2hex(out, 2 * n + 1, in, n);
}

int mc_hex_decode(const char *hex, uint8_t *out, size_t n) {
  size_t got = 0;
  if (hex == NULL || strlen(hex) != 2 * n)
    return MC_EINVAL;
  /* No ignore set and no end pointer: any non-hex character fails. */
  if (sodium_hex2bin(out, n, hex, 2 * n, NULL, &got, NULL) != 0 || got != n)
    return MC_EINVAL;
  return 0;
}
