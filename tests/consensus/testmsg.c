/*
 * testmsg.c - the hand-built messages and the send recorder of testmsg.h.
 */
#include "testmsg.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "minichain/consensus.h"

static const char *const TAGS[K_KINDS] = {
    "mc-poa-propose-v1", "mc-poa-ack-v1", "mc-poa-commit-v1",
    "mc-poa-viewchange-v1"};

void out_init(out_buf *o) {
  msgpack_sbuffer_init(&o->sb);
  msgpack_packer_init(&o->pk, &o->sb, msgpack_sbuffer_write);
}

void pack_str(msgpack_packer *pk, const char *s) {
  msgpack_pack_str_with_body(pk, s, strlen(s));
}

void sign_vote(th_cluster *cl, uint32_t val, const char *tag, uint64_t h,
               uint64_t v, const uint8_t *hash, uint8_t *sig) {
  out_buf o;
  out_init(&o);
  msgpack_pack_array(&o.pk, 4);
  pack_str(&o.pk, tag);
  msgpack_pack_uint64(&o.pk, h);
  msgpack_pack_uint64(&o.pk, v);
  msgpack_pack_bin_with_body(&o.pk, hash, MC_HASH_LEN);
  th_sign_as(cl, val, (const uint8_t *)o.sb.data, o.sb.size, sig);
  msgpack_sbuffer_destroy(&o.sb);
}

void pack_vote(out_buf *o, const char *tag, uint64_t h, uint64_t v,
               const uint8_t *hash, uint32_t signer, const uint8_t *sig) {
  out_init(o);
  msgpack_pack_array(&o->pk, 6);
  pack_str(&o->pk, tag);
  msgpack_pack_uint64(&o->pk, h);
  msgpack_pack_uint64(&o->pk, v);
  msgpack_pack_bin_with_body(&o->pk, hash, MC_HASH_LEN);
  msgpack_pack_uint32(&o->pk, signer);
  msgpack_pack_bin_with_body(&o->pk, sig, MC_SIG_LEN);
}

void pack_propose(th_cluster *cl, out_buf *o, uint32_t leader,
                  const mc_block *b) {
  uint8_t sig[MC_SIG_LEN], *bytes;
  size_t len;
  sign_vote(cl, leader, TAGS[K_PROPOSE], b->header.height, 0, b->hash, sig);
  assert_int_equal(th_api()->encode_block(th_host(cl, 0), b, &bytes, &len), 0);
  out_init(o);
  msgpack_pack_array(&o->pk, 8);
  pack_str(&o->pk, TAGS[K_PROPOSE]);
  msgpack_pack_uint64(&o->pk, b->header.height);
  msgpack_pack_uint64(&o->pk, 0);
  msgpack_pack_bin_with_body(&o->pk, b->hash, MC_HASH_LEN);
  msgpack_pack_uint32(&o->pk, leader);
  msgpack_pack_bin_with_body(&o->pk, sig, MC_SIG_LEN);
  msgpack_pack_bin_with_body(&o->pk, bytes, len);
  msgpack_pack_array(&o->pk, 0);
  free(bytes);
}

void pack_plain_vc(th_cluster *cl, out_buf *o, uint32_t val, uint64_t h,
                   uint64_t v) {
  uint8_t sig[MC_SIG_LEN];
  out_buf sb; /* the signing bytes: [tag, h, v, nil, nil] */
  out_init(&sb);
  msgpack_pack_array(&sb.pk, 5);
  pack_str(&sb.pk, TAGS[K_VIEWCHANGE]);
  msgpack_pack_uint64(&sb.pk, h);
  msgpack_pack_uint64(&sb.pk, v);
  msgpack_pack_nil(&sb.pk);
  msgpack_pack_nil(&sb.pk);
  th_sign_as(cl, val, (const uint8_t *)sb.sb.data, sb.sb.size, sig);
  msgpack_sbuffer_destroy(&sb.sb);
  out_init(o);
  msgpack_pack_array(&o->pk, 7);
  pack_str(&o->pk, TAGS[K_VIEWCHANGE]);
  msgpack_pack_uint64(&o->pk, h);
  msgpack_pack_uint64(&o->pk, v);
  msgpack_pack_nil(&o->pk);
  msgpack_pack_uint32(&o->pk, val);
  msgpack_pack_bin_with_body(&o->pk, sig, MC_SIG_LEN);
  msgpack_pack_nil(&o->pk);
}

void pack_siglist(th_cluster *cl, msgpack_packer *pk, const char *tag,
                  uint64_t h, uint64_t v, const uint8_t *hash,
                  const uint32_t *signers, uint32_t n) {
  msgpack_pack_array(pk, n);
  for (uint32_t i = 0; i < n; i++) {
    uint8_t sig[MC_SIG_LEN];
    sign_vote(cl, signers[i], tag, h, v, hash, sig);
    msgpack_pack_array(pk, 2);
    msgpack_pack_uint32(pk, signers[i]);
    msgpack_pack_bin_with_body(pk, sig, MC_SIG_LEN);
  }
}

void pack_locked_vc(th_cluster *cl, out_buf *o, uint32_t val, uint64_t h,
                    uint64_t v, uint64_t pview, const uint8_t *hash,
                    const uint32_t *signers, uint32_t n) {
  uint8_t sig[MC_SIG_LEN];
  out_buf sb; /* the signing bytes: [tag, h, v, pview, hash] */
  out_init(&sb);
  msgpack_pack_array(&sb.pk, 5);
  pack_str(&sb.pk, TAGS[K_VIEWCHANGE]);
  msgpack_pack_uint64(&sb.pk, h);
  msgpack_pack_uint64(&sb.pk, v);
  msgpack_pack_uint64(&sb.pk, pview);
  msgpack_pack_bin_with_body(&sb.pk, hash, MC_HASH_LEN);
  th_sign_as(cl, val, (const uint8_t *)sb.sb.data, sb.sb.size, sig);
  msgpack_sbuffer_destroy(&sb.sb);
  out_init(o);
  msgpack_pack_array(&o->pk, 7);
  pack_str(&o->pk, TAGS[K_VIEWCHANGE]);
  msgpack_pack_uint64(&o->pk, h);
  msgpack_pack_uint64(&o->pk, v);
  msgpack_pack_array(&o->pk, 3);
  msgpack_pack_uint64(&o->pk, pview);
  msgpack_pack_bin_with_body(&o->pk, hash, MC_HASH_LEN);
  pack_siglist(cl, &o->pk, TAGS[K_ACK], h, pview, hash, signers, n);
  msgpack_pack_uint32(&o->pk, val);
  msgpack_pack_bin_with_body(&o->pk, sig, MC_SIG_LEN);
  msgpack_pack_nil(&o->pk);
}

void pack_propose_just(th_cluster *cl, out_buf *o, uint32_t leader,
                       const mc_block *b, uint64_t v, const out_buf *just,
                       uint32_t n) {
  uint8_t sig[MC_SIG_LEN], *bytes;
  size_t len;
  sign_vote(cl, leader, TAGS[K_PROPOSE], b->header.height, v, b->hash, sig);
  assert_int_equal(th_api()->encode_block(th_host(cl, 0), b, &bytes, &len), 0);
  out_init(o);
  msgpack_pack_array(&o->pk, 8);
  pack_str(&o->pk, TAGS[K_PROPOSE]);
  msgpack_pack_uint64(&o->pk, b->header.height);
  msgpack_pack_uint64(&o->pk, v);
  msgpack_pack_bin_with_body(&o->pk, b->hash, MC_HASH_LEN);
  msgpack_pack_uint32(&o->pk, leader);
  msgpack_pack_bin_with_body(&o->pk, sig, MC_SIG_LEN);
  msgpack_pack_bin_with_body(&o->pk, bytes, len);
  free(bytes);
  msgpack_pack_array(&o->pk, n);
  for (uint32_t i = 0; i < n; i++) /* already msgpack: appended as is */
    msgpack_sbuffer_write(&o->sb, just[i].sb.data, just[i].sb.size);
}

void pack_commit_cert(th_cluster *cl, out_buf *o, uint64_t h, uint64_t v,
                      const uint8_t *hash, const uint32_t *signers,
                      uint32_t n) {
  out_init(o);
  msgpack_pack_array(&o->pk, 5);
  pack_str(&o->pk, "mc-poa-cert-v1");
  msgpack_pack_uint64(&o->pk, h);
  msgpack_pack_uint64(&o->pk, v);
  msgpack_pack_bin_with_body(&o->pk, hash, MC_HASH_LEN);
  pack_siglist(cl, &o->pk, TAGS[K_COMMIT], h, v, hash, signers, n);
}

int deliver_out(th_cluster *cl, uint32_t to, uint32_t from, out_buf *o) {
  int rc = th_vtable(cl)->on_message(th_engine(cl, to), from,
                                     (const uint8_t *)o->sb.data, o->sb.size);
  msgpack_sbuffer_destroy(&o->sb);
  return rc;
}

int peek(const uint8_t *msg, size_t len, char *tag, size_t taglen, uint64_t *h,
         uint64_t *v) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  int ok = msgpack_unpack_next(&u, (const char *)msg, len, &off) ==
               MSGPACK_UNPACK_SUCCESS &&
           u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size >= 3 &&
           u.data.via.array.ptr[0].type == MSGPACK_OBJECT_STR &&
           u.data.via.array.ptr[0].via.str.size < taglen;
  if (ok) {
    const msgpack_object *a = u.data.via.array.ptr;
    memcpy(tag, a[0].via.str.ptr, a[0].via.str.size);
    tag[a[0].via.str.size] = 0;
    *h = a[1].via.u64;
    *v = a[2].via.u64;
  }
  msgpack_unpacked_destroy(&u);
  return ok;
}

/* ---- the recorder ---- */

/* Every kind carries [tag, h, v, _, signer, sig, ...]: the sig is item 5. */
static int parse_sent(const uint8_t *msg, size_t len, sent_msg *out) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  int ok = msgpack_unpack_next(&u, (const char *)msg, len, &off) ==
               MSGPACK_UNPACK_SUCCESS &&
           u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size >= 6;
  out->kind = -1;
  if (ok) {
    const msgpack_object *a = u.data.via.array.ptr;
    for (int k = 0; k < K_KINDS; k++)
      if (a[0].type == MSGPACK_OBJECT_STR &&
          a[0].via.str.size == strlen(TAGS[k]) &&
          memcmp(a[0].via.str.ptr, TAGS[k], a[0].via.str.size) == 0)
        out->kind = k;
    out->h = a[1].via.u64;
    out->v = a[2].via.u64;
    out->locked = out->kind == K_VIEWCHANGE && a[3].type == MSGPACK_OBJECT_ARRAY;
    ok = out->kind >= 0 && a[5].type == MSGPACK_OBJECT_BIN &&
         a[5].via.bin.size == MC_SIG_LEN;
    if (ok)
      memcpy(out->sig, a[5].via.bin.ptr, MC_SIG_LEN);
  }
  msgpack_unpacked_destroy(&u);
  return ok;
}

int sent_log_filter(void *arg, uint32_t from, uint32_t to, const uint8_t *msg,
                    size_t len) {
  sent_log *l = arg;
  sent_msg m;
  (void)to;
  if (!parse_sent(msg, len, &m))
    return 1;
  if (from == l->node) {
    if (l->n == l->cap) {
      l->cap = l->cap ? 2 * l->cap : 64;
      l->m = realloc(l->m, l->cap * sizeof *l->m);
      assert_non_null(l->m);
    }
    l->m[l->n++] = m;
    l->count[m.kind]++;
  }
  return !(l->drop_tag != NULL && strcmp(TAGS[m.kind], l->drop_tag) == 0 &&
           (l->drop_h == 0 || l->drop_h == m.h));
}

uint64_t sent_total(const sent_log *l) {
  uint64_t t = 0;
  for (int k = 0; k < K_KINDS; k++)
    t += l->count[k];
  return t;
}

void sent_log_free(sent_log *l) {
  free(l->m);
  l->m = NULL;
  l->n = l->cap = 0;
}
