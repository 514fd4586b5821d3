/*
 * poa_msg.c - the engine's messages in msgpack: bounds-checking untrusted
 * bytes, parsing the four message kinds strictly, and producing the
 * signing bytes.  The byte layouts are specified in docs/CONSENSUS.md.
 *
 * Every message is an array whose first element is a tag string naming
 * its kind and version; integers are unsigned, hashes and signatures are
 * bin of exact length.  Anything else is MC_EDECODE.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "poa_internal.h"

static const char *const TAGS[POA_NKINDS] = {
    "mc-poa-propose-v1", "mc-poa-ack-v1", "mc-poa-commit-v1",
    "mc-poa-viewchange-v1"};
static const uint32_t ARITY[POA_NKINDS] = {8, 6, 6, 7};

/* ---- output buffers ---- */

static int buf_write(void *ctx, const char *p, size_t n) {
  poa_buf *b = ctx;
  if (n == 0) /* an empty bin body comes with a NULL pointer */
    return 0;
  if (b->failed || msgpack_sbuffer_write(&b->sb, p, n) != 0) {
    b->failed = 1;
    return -1;
  }
  return 0;
}

void poa_buf_init(poa_buf *b, msgpack_packer *pk) {
  msgpack_sbuffer_init(&b->sb);
  b->failed = 0;
  msgpack_packer_init(pk, b, buf_write);
}

int poa_buf_finish(poa_buf *b, uint8_t **out, size_t *len) {
  if (b->failed) {
    msgpack_sbuffer_destroy(&b->sb);
    return MC_ENOMEM;
  }
  *len = b->sb.size;
  *out = (uint8_t *)msgpack_sbuffer_release(&b->sb);
  return 0;
}

void poa_pack_raw(msgpack_packer *pk, const uint8_t *p, size_t n) {
  pk->callback(pk->data, (const char *)p, n);
}

/* ---- untrusted msgpack ---- */

static uint64_t read_be(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = (v << 8) | p[i];
  return v;
}

/* What a head byte announces: size of its length field, payload bytes that
 * follow it, and children (array items, 2 per map entry). */
typedef struct mp_head {
  int bad;
  size_t len_bytes;    /* bytes of the length field */
  uint64_t fixed;      /* payload bytes independent of the length */
  uint64_t per_child;  /* children per unit of length; 0: length = bytes */
  uint64_t children;   /* children of fix types */
} mp_head;

static mp_head mp_classify(uint8_t t) {
  mp_head h = {0};
  if (t <= 0x7f || t >= 0xe0)
    return h;
  if (t <= 0x8f)
    h.children = 2u * (t & 0x0f);
  else if (t <= 0x9f)
    h.children = t & 0x0f;
  else if (t <= 0xbf)
    h.fixed = t & 0x1f;
  else if (t == 0xc0 || t == 0xc2 || t == 0xc3)
    ;
  else if (t == 0xc4 || t == 0xd9)
    h.len_bytes = 1;
  else if (t == 0xc5 || t == 0xda)
    h.len_bytes = 2;
  else if (t == 0xc6 || t == 0xdb)
    h.len_bytes = 4;
  else if (t >= 0xc7 && t <= 0xc9) /* ext 8/16/32: length, type, data */
    h.len_bytes = (size_t)1 << (t - 0xc7), h.fixed = 1;
  else if (t >= 0xca && t <= 0xd3) {
    static const uint8_t sz[] = {4, 8, 1, 2, 4, 8, 1, 2, 4, 8};
    h.fixed = sz[t - 0xca];
  } else if (t >= 0xd4 && t <= 0xd8) /* fixext: type + 1..16 bytes */
    h.fixed = 1 + ((uint64_t)1 << (t - 0xd4));
  else if (t == 0xdc || t == 0xdd)
    h.len_bytes = t == 0xdc ? 2 : 4, h.per_child = 1;
  else if (t == 0xde || t == 0xdf)
    h.len_bytes = t == 0xde ? 2 : 4, h.per_child = 2;
  else
    h.bad = 1; /* 0xc1 is never used */
  return h;
}

/*
 * msgpack-c allocates an array's declared length before it reads the
 * items, so five untrusted bytes could ask for gigabytes.  Every value
 * takes at least one byte, so a declared count above the bytes left is a
 * lie: reject it before unpacking.
 */
int poa_msgpack_check(const uint8_t *p, size_t n) {
  size_t pos = 0;
  uint64_t pending = 1;
  while (pending > 0) {
    if (pos >= n)
      return MC_EDECODE;
    mp_head h = mp_classify(p[pos++]);
    if (h.bad || h.len_bytes > n - pos)
      return MC_EDECODE;
    uint64_t len = read_be(p + pos, h.len_bytes);
    pos += h.len_bytes;
    uint64_t children = h.children + h.per_child * len;
    uint64_t skip = h.fixed + (h.len_bytes && !h.per_child ? len : 0);
    if (skip > n - pos || children > n - pos)
      return MC_EDECODE;
    pos += skip;
    pending += children - 1;
  }
  return pos == n ? 0 : MC_EDECODE;
}

int poa_unpack(const uint8_t *p, size_t n, msgpack_unpacked *u) {
  size_t off = 0;
  if (n > POA_MSG_MAX || poa_msgpack_check(p, n) != 0)
    return MC_EDECODE;
  msgpack_unpack_return r = msgpack_unpack_next(u, (const char *)p, n, &off);
  if (r == MSGPACK_UNPACK_NOMEM_ERROR)
    return MC_ENOMEM;
  return r == MSGPACK_UNPACK_SUCCESS && off == n ? 0 : MC_EDECODE;
}

/* ---- strict accessors ---- */

int poa_obj_u64(const msgpack_object *o, uint64_t *out) {
  if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
    return MC_EDECODE;
  *out = o->via.u64;
  return 0;
}

int poa_obj_bin(const msgpack_object *o, uint8_t *out, size_t len) {
  if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != len)
    return MC_EDECODE;
  memcpy(out, o->via.bin.ptr, len);
  return 0;
}

int poa_obj_array(const msgpack_object *o, uint32_t min, uint32_t max) {
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < min ||
      o->via.array.size > max)
    return MC_EDECODE;
  return 0;
}

static int obj_u32(const msgpack_object *o, uint32_t *out) {
  uint64_t v;
  if (poa_obj_u64(o, &v) != 0 || v > UINT32_MAX)
    return MC_EDECODE;
  *out = (uint32_t)v;
  return 0;
}

static int parse_kind(const msgpack_object *o, poa_kind *kind) {
  if (o->type != MSGPACK_OBJECT_STR)
    return MC_EDECODE;
  for (int k = 0; k < POA_NKINDS; k++) {
    if (o->via.str.size == strlen(TAGS[k]) &&
        memcmp(o->via.str.ptr, TAGS[k], o->via.str.size) == 0) {
      *kind = (poa_kind)k;
      return 0;
    }
  }
  return MC_EDECODE;
}

/* VIEWCHANGE's prepared part: nil, or [pview, hash, siglist]. */
static int parse_prepared(const msgpack_object *o, poa_msg *m) {
  if (o->type == MSGPACK_OBJECT_NIL)
    return 0;
  if (poa_obj_array(o, 3, 3) != 0 ||
      poa_obj_u64(&o->via.array.ptr[0], &m->pview) != 0 ||
      poa_obj_bin(&o->via.array.ptr[1], m->hash, MC_HASH_LEN) != 0 ||
      poa_obj_array(&o->via.array.ptr[2], 1, POA_MAX_VALIDATORS) != 0)
    return MC_EDECODE;
  m->prepared = 1;
  m->pcert = o;
  return 0;
}

static int parse_block(const msgpack_object *o, int nil_ok,
                       const msgpack_object **out) {
  if (o->type == MSGPACK_OBJECT_NIL && nil_ok)
    return 0;
  if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size == 0)
    return MC_EDECODE;
  *out = o;
  return 0;
}

int poa_msg_parse(const msgpack_object *o, poa_msg *m) {
  memset(m, 0, sizeof *m);
  if (poa_obj_array(o, 6, 8) != 0 || parse_kind(&o->via.array.ptr[0], &m->kind))
    return MC_EDECODE;
  const msgpack_object *a = o->via.array.ptr;
  if (o->via.array.size != ARITY[m->kind] || poa_obj_u64(&a[1], &m->height) ||
      poa_obj_u64(&a[2], &m->view) || obj_u32(&a[4], &m->signer) ||
      poa_obj_bin(&a[5], m->sig, MC_SIG_LEN))
    return MC_EDECODE;
  if (m->kind == POA_VIEWCHANGE)
    return parse_prepared(&a[3], m) || parse_block(&a[6], 1, &m->block)
               ? MC_EDECODE
               : 0;
  if (poa_obj_bin(&a[3], m->hash, MC_HASH_LEN) != 0)
    return MC_EDECODE;
  if (m->kind == POA_PROPOSE) {
    if (parse_block(&a[6], 0, &m->block) != 0 ||
        poa_obj_array(&a[7], 0, POA_MAX_VALIDATORS) != 0)
      return MC_EDECODE;
    m->just = &a[7];
  }
  return 0;
}

/* ---- signing bytes ---- */

typedef struct fixed_buf {
  uint8_t *p;
  size_t len;
} fixed_buf;

static int fixed_write(void *ctx, const char *p, size_t n) {
  fixed_buf *b = ctx;
  assert(b->len + n <= POA_SIGNING_MAX);
  memcpy(b->p + b->len, p, n);
  b->len += n;
  return 0;
}

size_t poa_signing_bytes(poa_kind kind, uint64_t h, uint64_t v,
                         const uint8_t *hash, int prepared, uint64_t pview,
                         uint8_t out[POA_SIGNING_MAX]) {
  fixed_buf b = {out, 0};
  msgpack_packer pk;
  msgpack_packer_init(&pk, &b, fixed_write);
  msgpack_pack_array(&pk, kind == POA_VIEWCHANGE ? 5 : 4);
  msgpack_pack_str_with_body(&pk, TAGS[kind], strlen(TAGS[kind]));
  msgpack_pack_uint64(&pk, h);
  msgpack_pack_uint64(&pk, v);
  if (kind != POA_VIEWCHANGE) {
    msgpack_pack_bin_with_body(&pk, hash, MC_HASH_LEN);
  } else if (prepared) {
    msgpack_pack_uint64(&pk, pview);
    msgpack_pack_bin_with_body(&pk, hash, MC_HASH_LEN);
  } else {
    msgpack_pack_nil(&pk);
    msgpack_pack_nil(&pk);
  }
  return b.len;
}

void poa_pack_head(msgpack_packer *pk, poa_kind kind, uint64_t h, uint64_t v) {
  msgpack_pack_array(pk, ARITY[kind]);
  msgpack_pack_str_with_body(pk, TAGS[kind], strlen(TAGS[kind]));
  msgpack_pack_uint64(pk, h);
  msgpack_pack_uint64(pk, v);
}
