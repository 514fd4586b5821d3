/*
 * handshake.c - the three-message authenticated key exchange of peer links
 * (handshake.h; the bytes are specified in docs/PROTOCOL.md).
 *
 * Every hashed or signed value is a msgpack array that starts with a tag
 * string of its own, as everything else the node signs does, so no
 * handshake signature can be read as a transaction, a block header or a
 * consensus vote.  Keys are BLAKE2b-256 keyed with the Diffie-Hellman
 * secret over a label and the transcript hash; each handshake key seals
 * exactly one message, so its nonce is zero.
 */
#include "net/handshake.h"

#include <msgpack.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "chain/codec.h"
#include "chain/crypto.h"
#include "minichain/error.h"

static const char TAG_H1[] = "mc-p2p-v2-h1";
static const char TAG_H2[] = "mc-p2p-v2-h2";
static const char TAG_H3[] = "mc-p2p-v2-h3";
static const char TAG_SIG_R[] = "mc-p2p-responder-v2";
static const char TAG_SIG_I[] = "mc-p2p-initiator-v2";
static const char KEY_WELCOME[] = "mc-p2p-v2 welcome";
static const char KEY_AUTH[] = "mc-p2p-v2 auth";
static const char KEY_INITIATOR[] = "mc-p2p-v2 initiator";
static const char KEY_RESPONDER[] = "mc-p2p-v2 responder";

/* ---- msgpack into a fixed buffer ---- */

/* Everything packed here is a few fixed-size fields: 256 bytes hold the
 * largest (the sealed identity: 1 + 34 + 66 + 9 + 34). */
typedef struct fixed {
  uint8_t b[256];
  size_t n;
} fixed;

static int fixed_write(void *data, const char *p, size_t len) {
  fixed *f = data;
  if (len > sizeof f->b - f->n)
    abort(); /* the callers' fields are bounded: a bug, not an input */
  memcpy(f->b + f->n, p, len);
  f->n += len;
  return 0;
}

static void packer_of(fixed *f, msgpack_packer *pk) {
  f->n = 0;
  msgpack_packer_init(pk, f, fixed_write);
}

static void pack_tag(msgpack_packer *pk, const char *tag) {
  msgpack_pack_str_with_body(pk, tag, strlen(tag));
}

static void pack_bin(msgpack_packer *pk, const uint8_t *p, size_t n) {
  msgpack_pack_bin_with_body(pk, p, n);
}

/* ---- derivations ---- */

/* key = BLAKE2b-256(key = s, label || h) */
static void derive(const mc_hs *hs, const char *label,
                   uint8_t out[MC_CHANNEL_KEY_LEN]) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, hs->secret, sizeof hs->secret,
                          MC_CHANNEL_KEY_LEN);
  crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
  crypto_generichash_update(&st, hs->h, sizeof hs->h);
  crypto_generichash_final(&st, out, MC_CHANNEL_KEY_LEN);
}

/* h1 = SHA-256(["mc-p2p-v2-h1", genesis, E_i, n_i, E_r, n_r]) */
static void hash_h1(mc_hs *hs) {
  const uint8_t *e_i = hs->initiator ? hs->e_pk : hs->peer_e;
  const uint8_t *n_i = hs->initiator ? hs->nonce : hs->peer_nonce;
  const uint8_t *e_r = hs->initiator ? hs->peer_e : hs->e_pk;
  const uint8_t *n_r = hs->initiator ? hs->peer_nonce : hs->nonce;
  fixed f;
  msgpack_packer pk;
  packer_of(&f, &pk);
  msgpack_pack_array(&pk, 6);
  pack_tag(&pk, TAG_H1);
  pack_bin(&pk, hs->genesis, MC_HASH_LEN);
  pack_bin(&pk, e_i, MC_HS_KEY_LEN);
  pack_bin(&pk, n_i, MC_HS_KEY_LEN);
  pack_bin(&pk, e_r, MC_HS_KEY_LEN);
  pack_bin(&pk, n_r, MC_HS_KEY_LEN);
  mc_sha256(f.b, f.n, hs->h);
}

/* h = SHA-256([tag, h, pk, sig]): h2 after WELCOME, h3 after AUTH. */
static void hash_next(mc_hs *hs, const char *tag, const uint8_t pk_[32],
                      const uint8_t sig[MC_SIG_LEN]) {
  fixed f;
  msgpack_packer pk;
  packer_of(&f, &pk);
  msgpack_pack_array(&pk, 4);
  pack_tag(&pk, tag);
  pack_bin(&pk, hs->h, MC_HASH_LEN);
  pack_bin(&pk, pk_, MC_PUBKEY_LEN);
  pack_bin(&pk, sig, MC_SIG_LEN);
  mc_sha256(f.b, f.n, hs->h);
}

/* The bytes a side signs: [tag, h, its own key]. */
static void signed_bytes(const mc_hs *hs, const char *tag,
                         const uint8_t key[MC_PUBKEY_LEN], fixed *f) {
  msgpack_packer pk;
  packer_of(f, &pk);
  msgpack_pack_array(&pk, 3);
  pack_tag(&pk, tag);
  pack_bin(&pk, hs->h, MC_HASH_LEN);
  pack_bin(&pk, key, MC_PUBKEY_LEN);
}

static int dh(mc_hs *hs, const uint8_t their_e[MC_HS_KEY_LEN]) {
  memcpy(hs->peer_e, their_e, MC_HS_KEY_LEN);
  /* libsodium refuses a low-order point (an all-zero secret) */
  return crypto_scalarmult(hs->secret, hs->e_sk, their_e) == 0 ? 0 : MC_ESIG;
}

/* ---- the sealed identity: [pk, sig, height, head_hash] ---- */

static int seal_identity(const mc_hs *hs, const char *label,
                         const mc_keypair *id, const uint8_t sig[MC_SIG_LEN],
                         const mc_hs_peer *self, uint8_t **out, size_t *len) {
  fixed f;
  msgpack_packer pk;
  packer_of(&f, &pk);
  msgpack_pack_array(&pk, 4);
  pack_bin(&pk, id->pk, MC_PUBKEY_LEN);
  pack_bin(&pk, sig, MC_SIG_LEN);
  msgpack_pack_uint64(&pk, self->height);
  pack_bin(&pk, self->head_hash, MC_HASH_LEN);
  uint8_t key[MC_CHANNEL_KEY_LEN];
  static const uint8_t zero_nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
  derive(hs, label, key);
  *len = f.n + crypto_aead_chacha20poly1305_IETF_ABYTES;
  *out = malloc(*len);
  if (*out != NULL)
    crypto_aead_chacha20poly1305_ietf_encrypt(*out, NULL, f.b, f.n, hs->h,
                                              MC_HASH_LEN, NULL, zero_nonce,
                                              key);
  sodium_memzero(key, sizeof key);
  return *out != NULL ? 0 : MC_ENOMEM;
}

static int get_bin(const msgpack_object *o, uint8_t *out, size_t n) {
  if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != n)
    return MC_EDECODE;
  memcpy(out, o->via.bin.ptr, n);
  return 0;
}

static int parse_identity(const uint8_t *p, size_t n, mc_hs_peer *peer,
                          uint8_t sig[MC_SIG_LEN]) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  int rc = mc_msgpack_unpack_one(p, n, &u);
  const msgpack_object *o = &u.data;
  if (rc == 0 && (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4))
    rc = MC_EDECODE;
  if (rc == 0) {
    const msgpack_object *a = o->via.array.ptr;
    if (get_bin(&a[0], peer->pk, MC_PUBKEY_LEN) != 0 ||
        get_bin(&a[1], sig, MC_SIG_LEN) != 0 ||
        a[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        get_bin(&a[3], peer->head_hash, MC_HASH_LEN) != 0)
      rc = MC_EDECODE;
    else
      peer->height = a[2].via.u64;
  }
  msgpack_unpacked_destroy(&u);
  return rc;
}

/* Opens a sealed identity and checks its signature over [tag, h, pk]. */
static int open_identity(const mc_hs *hs, const char *label, const char *tag,
                         const uint8_t *sealed, size_t len, mc_hs_peer *peer,
                         uint8_t sig[MC_SIG_LEN]) {
  static const uint8_t zero_nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
  if (len < crypto_aead_chacha20poly1305_IETF_ABYTES || len > MC_HS_SEALED_MAX)
    return MC_EDECODE;
  uint8_t plain[MC_HS_SEALED_MAX], key[MC_CHANNEL_KEY_LEN];
  unsigned long long plen = 0;
  derive(hs, label, key);
  int ok = crypto_aead_chacha20poly1305_ietf_decrypt(
               plain, &plen, NULL, sealed, len, hs->h, MC_HASH_LEN,
               zero_nonce, key) == 0;
  sodium_memzero(key, sizeof key);
  if (!ok)
    return MC_ESIG;
  int rc = parse_identity(plain, (size_t)plen, peer, sig);
  if (rc != 0)
    return rc;
  fixed f;
  signed_bytes(hs, tag, peer->pk, &f);
  return mc_verify(peer->pk, f.b, f.n, sig);
}

/* ---- the three steps ---- */

void mc_hs_begin(mc_hs *hs, int initiator, const uint8_t genesis[MC_HASH_LEN]) {
  memset(hs, 0, sizeof *hs);
  hs->initiator = initiator;
  memcpy(hs->genesis, genesis, MC_HASH_LEN);
  crypto_box_keypair(hs->e_pk, hs->e_sk); /* an X25519 key pair */
  randombytes_buf(hs->nonce, sizeof hs->nonce);
}

int mc_hs_welcome(mc_hs *hs, const uint8_t e_i[MC_HS_KEY_LEN],
                  const uint8_t n_i[MC_HS_KEY_LEN], const mc_keypair *id,
                  const mc_hs_peer *self, uint8_t **sealed, size_t *len) {
  if (hs->initiator || hs->step != 0)
    return MC_ESTATE;
  memcpy(hs->peer_nonce, n_i, MC_HS_KEY_LEN);
  int rc = dh(hs, e_i);
  if (rc != 0)
    return rc;
  hash_h1(hs);
  fixed f;
  uint8_t sig[MC_SIG_LEN];
  signed_bytes(hs, TAG_SIG_R, id->pk, &f);
  mc_sign(id->sk, f.b, f.n, sig);
  rc = seal_identity(hs, KEY_WELCOME, id, sig, self, sealed, len);
  if (rc != 0)
    return rc;
  hash_next(hs, TAG_H2, id->pk, sig);
  hs->step = 1;
  return 0;
}

int mc_hs_auth(mc_hs *hs, const uint8_t e_r[MC_HS_KEY_LEN],
               const uint8_t n_r[MC_HS_KEY_LEN], const uint8_t *sealed,
               size_t len, const mc_keypair *id, const mc_hs_peer *self,
               mc_hs_peer *peer, uint8_t **auth, size_t *auth_len) {
  if (!hs->initiator || hs->step != 0)
    return MC_ESTATE;
  memcpy(hs->peer_nonce, n_r, MC_HS_KEY_LEN);
  int rc = dh(hs, e_r);
  if (rc != 0)
    return rc;
  hash_h1(hs);
  uint8_t sig[MC_SIG_LEN];
  rc = open_identity(hs, KEY_WELCOME, TAG_SIG_R, sealed, len, peer, sig);
  if (rc != 0)
    return rc;
  hash_next(hs, TAG_H2, peer->pk, sig);
  fixed f;
  signed_bytes(hs, TAG_SIG_I, id->pk, &f);
  mc_sign(id->sk, f.b, f.n, sig);
  rc = seal_identity(hs, KEY_AUTH, id, sig, self, auth, auth_len);
  if (rc != 0)
    return rc;
  hash_next(hs, TAG_H3, id->pk, sig);
  hs->step = 2;
  return 0;
}

int mc_hs_finish(mc_hs *hs, const uint8_t *sealed, size_t len,
                 mc_hs_peer *peer) {
  if (hs->initiator || hs->step != 1)
    return MC_ESTATE;
  uint8_t sig[MC_SIG_LEN];
  int rc = open_identity(hs, KEY_AUTH, TAG_SIG_I, sealed, len, peer, sig);
  if (rc != 0)
    return rc;
  hash_next(hs, TAG_H3, peer->pk, sig);
  hs->step = 2;
  return 0;
}

void mc_hs_channel(const mc_hs *hs, mc_channel *ch) {
  uint8_t k_i[MC_CHANNEL_KEY_LEN], k_r[MC_CHANNEL_KEY_LEN];
  derive(hs, KEY_INITIATOR, k_i);
  derive(hs, KEY_RESPONDER, k_r);
  memset(ch, 0, sizeof *ch);
  memcpy(ch->tx_key, hs->initiator ? k_i : k_r, MC_CHANNEL_KEY_LEN);
  memcpy(ch->rx_key, hs->initiator ? k_r : k_i, MC_CHANNEL_KEY_LEN);
  sodium_memzero(k_i, sizeof k_i);
  sodium_memzero(k_r, sizeof k_r);
}

void mc_hs_wipe(mc_hs *hs) { sodium_memzero(hs, sizeof *hs); }
