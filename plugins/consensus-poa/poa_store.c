/*
 * poa_store.c - the engine's durable state: the round it is in, its own
 * last PROPOSE, ACK, COMMIT and VIEWCHANGE at that height, its lock, and
 * the high-water mark of everything it ever signed.
 *
 * Saved through api->state_save before any of those messages is sent, so
 * that a validator restarted after a crash never signs two different
 * blocks in one (height, view) and never forgets what it is locked on.
 * Format (msgpack, docs/CONSENSUS.md):
 *   ["mc-poa-state-v2", height, view, prop, ack, commit, vc_view, lock, hw,
 *    resume]
 *   prop/ack/commit = nil | [view, hash, sig]
 *   vc_view         = nil | view
 *   lock            = nil | [view, hash, prepared_cert(bin), block(bin)]
 *   hw              = nil | [height, view]
 *   resume          = nil | height (2^64-1: watching)
 * A v1 file (the first eight) still loads: its hw is its own (height,
 * view), above everything it can have signed; the next save writes v2.
 */
#include <stdlib.h>
#include <string.h>

#include "poa_internal.h"

static const char STATE_TAG[] = "mc-poa-state-v2";
static const char STATE_TAG_V1[] = "mc-poa-state-v1";
static const char STATE_TAG_PREFIX[] = "mc-poa-state-v";

void poa_saved_clear_lock(poa_saved *s) {
  free(s->lock_cert);
  free(s->lock_block);
  s->lock_cert = s->lock_block = NULL;
  s->lock_cert_len = s->lock_block_len = 0;
  s->lock_set = 0;
}

void poa_saved_next_height(poa_saved *s, uint64_t height) {
  poa_saved keep = {.hw_set = s->hw_set,
                    .hw_height = s->hw_height,
                    .hw_view = s->hw_view,
                    .resume = s->resume};
  poa_saved_clear_lock(s);
  *s = keep;
  s->height = height;
}

int poa_above_hw(const poa_saved *s, uint64_t h, uint64_t v) {
  return !s->hw_set || h > s->hw_height ||
         (h == s->hw_height && v > s->hw_view);
}

void poa_hw_raise(poa_saved *s, uint64_t h, uint64_t v) {
  if (!poa_above_hw(s, h, v))
    return;
  s->hw_set = 1;
  s->hw_height = h;
  s->hw_view = v;
}

static void pack_vote(msgpack_packer *pk, const poa_vote_rec *r) {
  if (!r->set) {
    msgpack_pack_nil(pk);
    return;
  }
  msgpack_pack_array(pk, 3);
  msgpack_pack_uint64(pk, r->view);
  msgpack_pack_bin_with_body(pk, r->hash, MC_HASH_LEN);
  msgpack_pack_bin_with_body(pk, r->sig, MC_SIG_LEN);
}

static void pack_lock(msgpack_packer *pk, const poa_saved *s) {
  if (!s->lock_set) {
    msgpack_pack_nil(pk);
    return;
  }
  msgpack_pack_array(pk, 4);
  msgpack_pack_uint64(pk, s->lock_view);
  msgpack_pack_bin_with_body(pk, s->lock_hash, MC_HASH_LEN);
  msgpack_pack_bin_with_body(pk, s->lock_cert, s->lock_cert_len);
  msgpack_pack_bin_with_body(pk, s->lock_block, s->lock_block_len);
}

int poa_state_save(mc_consensus *c) {
  const poa_saved *s = &c->saved;
  poa_buf b;
  msgpack_packer pk;
  poa_buf_init(&b, &pk);
  msgpack_pack_array(&pk, 10);
  msgpack_pack_str_with_body(&pk, STATE_TAG, sizeof STATE_TAG - 1);
  msgpack_pack_uint64(&pk, s->height);
  msgpack_pack_uint64(&pk, s->view);
  pack_vote(&pk, &s->prop);
  pack_vote(&pk, &s->ack);
  pack_vote(&pk, &s->commit);
  if (s->vc_set)
    msgpack_pack_uint64(&pk, s->vc_view);
  else
    msgpack_pack_nil(&pk);
  pack_lock(&pk, s);
  if (s->hw_set) {
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint64(&pk, s->hw_height);
    msgpack_pack_uint64(&pk, s->hw_view);
  } else {
    msgpack_pack_nil(&pk);
  }
  if (s->resume != 0)
    msgpack_pack_uint64(&pk, s->resume);
  else
    msgpack_pack_nil(&pk);
  uint8_t *data;
  size_t len;
  int rc = poa_buf_finish(&b, &data, &len);
  if (rc == 0) {
    rc = c->api->state_save(c->host, data, len);
    free(data);
  }
  return rc;
}

/* ---- loading ---- */

static int parse_vote(const msgpack_object *o, poa_vote_rec *r) {
  memset(r, 0, sizeof *r);
  if (o->type == MSGPACK_OBJECT_NIL)
    return 0;
  if (poa_obj_array(o, 3, 3) != 0 ||
      poa_obj_u64(&o->via.array.ptr[0], &r->view) != 0 ||
      poa_obj_bin(&o->via.array.ptr[1], r->hash, MC_HASH_LEN) != 0 ||
      poa_obj_bin(&o->via.array.ptr[2], r->sig, MC_SIG_LEN) != 0)
    return MC_ECORRUPT;
  r->set = 1;
  return 0;
}

static int dup_bin(const msgpack_object *o, uint8_t **out, size_t *len) {
  if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size == 0)
    return MC_ECORRUPT;
  *out = malloc(o->via.bin.size);
  if (*out == NULL)
    return MC_ENOMEM;
  memcpy(*out, o->via.bin.ptr, o->via.bin.size);
  *len = o->via.bin.size;
  return 0;
}

static int parse_lock(const msgpack_object *o, poa_saved *s) {
  if (o->type == MSGPACK_OBJECT_NIL)
    return 0;
  const msgpack_object *a = o->via.array.ptr;
  if (poa_obj_array(o, 4, 4) != 0 || poa_obj_u64(&a[0], &s->lock_view) != 0 ||
      poa_obj_bin(&a[1], s->lock_hash, MC_HASH_LEN) != 0)
    return MC_ECORRUPT;
  int rc = dup_bin(&a[2], &s->lock_cert, &s->lock_cert_len);
  if (rc == 0)
    rc = dup_bin(&a[3], &s->lock_block, &s->lock_block_len);
  s->lock_set = rc == 0;
  return rc;
}

static int is_str(const msgpack_object *o, const char *s, size_t len) {
  return o->via.str.size == len && memcmp(o->via.str.ptr, s, len) == 0;
}

/* The format version of the tag (1 or 2), or MC_EVERSION / MC_ECORRUPT. */
static int check_tag(const msgpack_object *o) {
  if (o->type != MSGPACK_OBJECT_STR)
    return MC_ECORRUPT;
  if (is_str(o, STATE_TAG, sizeof STATE_TAG - 1))
    return 2;
  if (is_str(o, STATE_TAG_V1, sizeof STATE_TAG_V1 - 1))
    return 1;
  if (o->via.str.size >= sizeof STATE_TAG_PREFIX - 1 &&
      memcmp(o->via.str.ptr, STATE_TAG_PREFIX, sizeof STATE_TAG_PREFIX - 1) ==
          0)
    return MC_EVERSION;
  return MC_ECORRUPT;
}

static int parse_hw(const msgpack_object *o, poa_saved *s) {
  if (o->type == MSGPACK_OBJECT_NIL)
    return 0;
  if (poa_obj_array(o, 2, 2) != 0 ||
      poa_obj_u64(&o->via.array.ptr[0], &s->hw_height) != 0 ||
      poa_obj_u64(&o->via.array.ptr[1], &s->hw_view) != 0)
    return MC_ECORRUPT;
  s->hw_set = 1;
  return 0;
}

static int parse_state(const msgpack_object *o, poa_saved *s) {
  if (poa_obj_array(o, 1, 64) != 0)
    return MC_ECORRUPT;
  const msgpack_object *a = o->via.array.ptr;
  int version = check_tag(&a[0]);
  if (version < 0)
    return version;
  if (o->via.array.size != (version == 1 ? 8u : 10u) ||
      poa_obj_u64(&a[1], &s->height) != 0 ||
      poa_obj_u64(&a[2], &s->view) != 0 || parse_vote(&a[3], &s->prop) ||
      parse_vote(&a[4], &s->ack) || parse_vote(&a[5], &s->commit))
    return MC_ECORRUPT;
  if (a[6].type != MSGPACK_OBJECT_NIL) {
    if (poa_obj_u64(&a[6], &s->vc_view) != 0)
      return MC_ECORRUPT;
    s->vc_set = 1;
  }
  if (version == 1) /* nothing it signed is above the round it was in */
    poa_hw_raise(s, s->height, s->view);
  else if (parse_hw(&a[8], s) != 0 ||
           (a[9].type != MSGPACK_OBJECT_NIL &&
            (poa_obj_u64(&a[9], &s->resume) != 0 || s->resume == 0)))
    return MC_ECORRUPT;
  return parse_lock(&a[7], s);
}

int poa_state_load(mc_consensus *c) {
  uint8_t *data = NULL;
  size_t len = 0;
  int rc = c->api->state_load(c->host, &data, &len);
  if (rc != 0) {
    if (rc != MC_ENOTFOUND)
      poa_log(c, MC_LOG_ERROR, "state_load_failed",
              (mc_log_field[]){MC_LOG_F_S("reason", mc_strerror(rc))}, 1);
    return rc;
  }
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  rc = poa_unpack(data, len, &u) == 0 ? parse_state(&u.data, &c->saved)
                                      : MC_ECORRUPT;
  msgpack_unpacked_destroy(&u);
  c->api->buf_free(c->host, data);
  if (rc != 0) {
    poa_saved_clear_lock(&c->saved);
    poa_log(c, MC_LOG_ERROR,
            rc == MC_EVERSION ? "state_version_unknown" : "state_corrupt",
            (mc_log_field[]){MC_LOG_F_S("reason", mc_strerror(rc)),
                             MC_LOG_F_U("bytes", len)},
            2);
  }
  return rc;
}
