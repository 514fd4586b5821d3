/*
 * poa_cert.c - certificates: a quorum of validators' signatures over one
 * (kind, height, view, hash).
 *
 * A prepared certificate is q ACK signatures: [pview, hash, siglist].  It
 * is what a validator locks on and what VIEWCHANGE carries.  A commit
 * certificate is q COMMIT signatures: ["mc-poa-cert-v1", h, v, hash,
 * siglist]; the host stores it beside the block and sync asks us to check
 * it.  siglist = [[signer index, sig], ...].  Counting distinct signers
 * only (a repeated signer makes the certificate invalid) is what stops an
 * equivocating validator from counting twice.
 */
#include <stdlib.h>
#include <string.h>

#include "poa_internal.h"

static const char CERT_TAG[] = "mc-poa-cert-v1";

static int pair_parse(const msgpack_object *o, uint32_t n, poa_sig *out) {
  uint64_t idx;
  if (poa_obj_array(o, 2, 2) != 0 ||
      poa_obj_u64(&o->via.array.ptr[0], &idx) != 0 || idx >= n ||
      poa_obj_bin(&o->via.array.ptr[1], out->sig, MC_SIG_LEN) != 0)
    return MC_ECERT;
  out->signer = (uint32_t)idx;
  return 0;
}

int poa_siglist_verify(mc_consensus *c, poa_kind kind, uint64_t h,
                       uint64_t v, const uint8_t hash[MC_HASH_LEN],
                       const msgpack_object *list) {
  if (poa_obj_array(list, c->q, c->n) != 0)
    return MC_ECERT;
  uint8_t msg[POA_SIGNING_MAX];
  size_t len = poa_signing_bytes(kind, h, v, hash, 0, 0, msg);
  uint8_t *seen = calloc(c->n, 1);
  if (seen == NULL)
    return MC_ENOMEM;
  int rc = 0;
  for (uint32_t i = 0; i < list->via.array.size && rc == 0; i++) {
    poa_sig s;
    rc = pair_parse(&list->via.array.ptr[i], c->n, &s);
    if (rc == 0 && seen[s.signer])
      rc = MC_ECERT;
    if (rc == 0 &&
        c->api->verify(c->host, c->keys[s.signer], msg, len, s.sig) != 0)
      rc = MC_ECERT;
    if (rc == 0 && (int32_t)s.signer == c->self) /* the watch rule */
      poa_watch_evidence(c, kind, h, v,
                         kind == POA_ACK ? "prepared_certificate"
                                         : "commit_certificate");
    if (rc == 0)
      seen[s.signer] = 1;
  }
  free(seen);
  return rc;
}

void poa_siglist_pack(msgpack_packer *pk, const poa_sig *sigs, uint32_t n) {
  msgpack_pack_array(pk, n);
  for (uint32_t i = 0; i < n; i++) {
    msgpack_pack_array(pk, 2);
    msgpack_pack_uint32(pk, sigs[i].signer);
    msgpack_pack_bin_with_body(pk, sigs[i].sig, MC_SIG_LEN);
  }
}

int poa_prepared_verify(mc_consensus *c, uint64_t h, uint64_t below,
                        const msgpack_object *pc, uint64_t *pview,
                        uint8_t hash[MC_HASH_LEN]) {
  if (poa_obj_array(pc, 3, 3) != 0 ||
      poa_obj_u64(&pc->via.array.ptr[0], pview) != 0 || *pview >= below ||
      poa_obj_bin(&pc->via.array.ptr[1], hash, MC_HASH_LEN) != 0)
    return MC_ECERT;
  return poa_siglist_verify(c, POA_ACK, h, *pview, hash, &pc->via.array.ptr[2]);
}

int poa_prepared_encode(uint64_t pview, const uint8_t hash[MC_HASH_LEN],
                        const poa_sig *sigs, uint32_t n, uint8_t **out,
                        size_t *len) {
  poa_buf b;
  msgpack_packer pk;
  poa_buf_init(&b, &pk);
  msgpack_pack_array(&pk, 3);
  msgpack_pack_uint64(&pk, pview);
  msgpack_pack_bin_with_body(&pk, hash, MC_HASH_LEN);
  poa_siglist_pack(&pk, sigs, n);
  return poa_buf_finish(&b, out, len);
}

int poa_commit_cert_encode(uint64_t h, uint64_t v,
                           const uint8_t hash[MC_HASH_LEN], const poa_sig *sigs,
                           uint32_t n, uint8_t **out, size_t *len) {
  poa_buf b;
  msgpack_packer pk;
  poa_buf_init(&b, &pk);
  msgpack_pack_array(&pk, 5);
  msgpack_pack_str_with_body(&pk, CERT_TAG, sizeof CERT_TAG - 1);
  msgpack_pack_uint64(&pk, h);
  msgpack_pack_uint64(&pk, v);
  msgpack_pack_bin_with_body(&pk, hash, MC_HASH_LEN);
  poa_siglist_pack(&pk, sigs, n);
  return poa_buf_finish(&b, out, len);
}

/* Judges b's height and hash only, never its transactions: during
 * header-first sync the host asks before the body has come (b->txs NULL
 * with header.tx_count > 0) and checks the body against the header
 * itself. */
static int cert_check(mc_consensus *c, const mc_block *b,
                      const msgpack_object *o) {
  const msgpack_object *a = o->via.array.ptr;
  uint64_t h, v;
  uint8_t hash[MC_HASH_LEN];
  if (poa_obj_array(o, 5, 5) != 0 || a[0].type != MSGPACK_OBJECT_STR ||
      a[0].via.str.size != sizeof CERT_TAG - 1 ||
      memcmp(a[0].via.str.ptr, CERT_TAG, sizeof CERT_TAG - 1) != 0 ||
      poa_obj_u64(&a[1], &h) != 0 || poa_obj_u64(&a[2], &v) != 0 ||
      poa_obj_bin(&a[3], hash, MC_HASH_LEN) != 0)
    return MC_EDECODE;
  if (h != b->header.height || memcmp(hash, b->hash, MC_HASH_LEN) != 0)
    return MC_ECERT;
  return poa_siglist_verify(c, POA_COMMIT, h, v, hash, &a[4]);
}

int poa_verify_certificate(mc_consensus *c, const mc_block *b,
                           const uint8_t *cert, size_t cert_len) {
  if (b == NULL || cert == NULL || cert_len == 0)
    return MC_ECERT;
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  int rc = poa_unpack(cert, cert_len, &u);
  if (rc == 0)
    rc = cert_check(c, b, &u.data);
  msgpack_unpacked_destroy(&u);
  return rc == MC_ENOMEM ? rc : rc != 0 && rc != MC_EDECODE ? MC_ECERT : rc;
}
