/*
 * raft_cert.c - raft.so's commit certificate.
 *
 * The leader that proposes a block signs (term, height, block hash) with
 * the host's `sign` (which signs in this chain's consensus domain), and
 * the certificate travels inside the raft entry, so every node stores the
 * same bytes beside the block:
 *
 *   cert   = "mc-raft-cert-v1" | u64 term | u32 leader index | sig[64]
 *   signed = "mc-raft-cert-v1" | u64 term | u64 height | hash[32]
 *
 * verify_certificate (sync) accepts a block when the certificate is
 * exactly that, the leader index is a validator, that validator is the
 * block's proposer, and its signature checks.  What this proves, in the
 * crash-fault model raft.so assumes: a validator proposed this block as
 * leader of `term`, and honest validators only ever store a block after
 * Raft committed its entry, so a block served by an honest peer with a
 * valid certificate was committed.  It does NOT prove commitment by a
 * quorum: a Byzantine validator can sign any block it likes (README.md).
 */
#include <string.h>

#include "raft_engine.h"

static void put_be(uint8_t *p, uint64_t v, int width) {
  for (int i = 0; i < width; i++)
    p[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, int width) {
  uint64_t v = 0;
  for (int i = 0; i < width; i++)
    v = (v << 8) | p[i];
  return v;
}

#define SIGNED_LEN (RE_CERT_TAG_LEN + 8 + 8 + MC_HASH_LEN)

static void signed_bytes(uint64_t term, uint64_t height,
                         const uint8_t hash[MC_HASH_LEN],
                         uint8_t out[SIGNED_LEN]) {
  memcpy(out, RE_CERT_TAG, RE_CERT_TAG_LEN);
  put_be(out + RE_CERT_TAG_LEN, term, 8);
  put_be(out + RE_CERT_TAG_LEN + 8, height, 8);
  memcpy(out + RE_CERT_TAG_LEN + 16, hash, MC_HASH_LEN);
}

int re_cert_make(mc_consensus *c, uint64_t term, uint64_t height,
                 const uint8_t hash[MC_HASH_LEN], uint8_t out[RE_CERT_LEN]) {
  if (c->self < 0)
    return MC_ESTATE;
  uint8_t msg[SIGNED_LEN];
  signed_bytes(term, height, hash, msg);
  memcpy(out, RE_CERT_TAG, RE_CERT_TAG_LEN);
  put_be(out + RE_CERT_TAG_LEN, term, 8);
  put_be(out + RE_CERT_TAG_LEN + 8, (uint64_t)c->self, 4);
  return c->api->sign(c->host, msg, sizeof msg,
                      out + RE_CERT_TAG_LEN + 12);
}

int re_cert_verify(mc_consensus *c, const mc_block *b, const uint8_t *cert,
                   size_t len) {
  if (b == NULL || cert == NULL || len != RE_CERT_LEN ||
      memcmp(cert, RE_CERT_TAG, RE_CERT_TAG_LEN) != 0)
    return MC_EDECODE;
  uint64_t term = get_be(cert + RE_CERT_TAG_LEN, 8);
  uint64_t leader = get_be(cert + RE_CERT_TAG_LEN + 8, 4);
  if (term == 0 || leader >= c->n)
    return MC_ECERT;
  /* the leader built the block, so it is the header's proposer */
  if (memcmp(c->keys[leader], b->header.proposer, MC_PUBKEY_LEN) != 0)
    return MC_ECERT;
  uint8_t msg[SIGNED_LEN];
  signed_bytes(term, b->header.height, b->hash, msg);
  int rc = c->api->verify(c->host, c->keys[leader], msg, sizeof msg,
                          cert + RE_CERT_TAG_LEN + 12);
  return rc == 0 ? 0 : rc == MC_ENOMEM ? rc : MC_ECERT;
}
