/*
 * codec.c - the canonical msgpack encoding of transactions and blocks.
 *
 * One encoder produces the bytes that are hashed, signed and sent, so the
 * three can never disagree.  Signing and hashing pack into a fixed stack
 * buffer (a transaction's or header's encoding has a small upper bound);
 * whole blocks go to a growing msgpack_sbuffer.  Decoding is strict (see
 * codec.h) and never trusts a derived field: ids and hashes are recomputed
 * from the decoded fields.  The format is specified in docs/PROTOCOL.md.
 */
#include "chain/codec.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "chain/crypto.h"
#include "chain/genesis.h"
#include "minichain/error.h"

static const char TX_TAG[] = "mc-tx-v1";
static const char BLOCK_TAG[] = "mc-block-v1";

#define TX_SIGNING_ARITY 6
#define TX_WIRE_ARITY 7
#define HEADER_ARITY 8
#define BLOCK_ARITY 4
/* A header (1+12+9+34+9+34+34+5+34) or transaction (1+9+34+34+34+9+9)
 * encoding never exceeds this. */
#define SMALL_ENC_MAX 256

/* ---- untrusted msgpack ---- */

static uint64_t read_be(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = (v << 8) | p[i];
  return v;
}

/* What one msgpack head byte announces: bytes of length field, fixed
 * payload bytes, whether the length counts children (1 per array item, 2
 * per map entry) or payload bytes, and extra payload (ext's type byte). */
typedef struct mp_head {
  int bad;
  size_t len_bytes;
  uint64_t fixed;
  uint64_t per_child; /* 0: the length is a byte count */
  uint64_t extra;
  uint64_t inline_children;
} mp_head;

static mp_head mp_classify(uint8_t t) {
  mp_head h = {0};
  if (t <= 0x7f || t >= 0xe0)
    return h;
  if (t <= 0x8f) {
    h.inline_children = 2u * (t & 0x0f);
    return h;
  }
  if (t <= 0x9f) {
    h.inline_children = t & 0x0f;
    return h;
  }
  if (t <= 0xbf) {
    h.fixed = t & 0x1f;
    return h;
  }
  switch (t) {
  case 0xc0: case 0xc2: case 0xc3: break;
  case 0xc4: case 0xd9: h.len_bytes = 1; break;
  case 0xc5: case 0xda: h.len_bytes = 2; break;
  case 0xc6: case 0xdb: h.len_bytes = 4; break;
  case 0xc7: h.len_bytes = 1; h.extra = 1; break;
  case 0xc8: h.len_bytes = 2; h.extra = 1; break;
  case 0xc9: h.len_bytes = 4; h.extra = 1; break;
  case 0xca: h.fixed = 4; break;
  case 0xcb: h.fixed = 8; break;
  case 0xcc: case 0xd0: h.fixed = 1; break;
  case 0xcd: case 0xd1: h.fixed = 2; break;
  case 0xce: case 0xd2: h.fixed = 4; break;
  case 0xcf: case 0xd3: h.fixed = 8; break;
  case 0xd4: h.fixed = 2; break;
  case 0xd5: h.fixed = 3; break;
  case 0xd6: h.fixed = 5; break;
  case 0xd7: h.fixed = 9; break;
  case 0xd8: h.fixed = 17; break;
  case 0xdc: h.len_bytes = 2; h.per_child = 1; break;
  case 0xdd: h.len_bytes = 4; h.per_child = 1; break;
  case 0xde: h.len_bytes = 2; h.per_child = 2; break;
  case 0xdf: h.len_bytes = 4; h.per_child = 2; break;
  default: h.bad = 1; break; /* 0xc1 is never used */
  }
  return h;
}

int mc_msgpack_check(const uint8_t *p, size_t n) {
  /* left[d]: values still to read in the container open at depth d. */
  uint64_t left[MC_MSGPACK_MAX_DEPTH + 1];
  int depth = 0;
  size_t pos = 0;
  left[0] = 1;
  for (;;) {
    while (depth >= 0 && left[depth] == 0)
      depth--;
    if (depth < 0)
      break;
    if (pos >= n)
      return MC_EDECODE;
    left[depth]--;
    mp_head h = mp_classify(p[pos++]);
    if (h.bad || h.len_bytes > n - pos)
      return MC_EDECODE;
    uint64_t len = read_be(p + pos, h.len_bytes);
    pos += h.len_bytes;
    uint64_t children = h.inline_children + h.per_child * len;
    uint64_t skip = h.fixed + (h.len_bytes && !h.per_child ? len : 0) + h.extra;
    if (skip > n - pos || children > n - pos)
      return MC_EDECODE;
    pos += skip;
    if (children > 0) {
      if (depth == MC_MSGPACK_MAX_DEPTH)
        return MC_EDECODE;
      left[++depth] = children;
    }
  }
  return pos == n ? 0 : MC_EDECODE;
}

int mc_msgpack_unpack_one(const uint8_t *p, size_t n, msgpack_unpacked *u) {
  size_t off = 0;
  if (mc_msgpack_check(p, n) != 0)
    return MC_EDECODE;
  msgpack_unpack_return r = msgpack_unpack_next(u, (const char *)p, n, &off);
  if (r == MSGPACK_UNPACK_NOMEM_ERROR)
    return MC_ENOMEM;
  if (r != MSGPACK_UNPACK_SUCCESS || off != n)
    return MC_EDECODE;
  return 0;
}

/* ---- write targets ---- */

typedef struct small_buf {
  uint8_t data[SMALL_ENC_MAX];
  size_t len;
} small_buf;

static int small_buf_write(void *ctx, const char *p, size_t n) {
  small_buf *b = ctx;
  assert(b->len + n <= sizeof b->data);
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

/* An sbuffer that remembers a failed write, because the pack functions
 * the header declares void cannot report one. */
typedef struct grow_buf {
  msgpack_sbuffer sb;
  int failed;
} grow_buf;

static int grow_buf_write(void *ctx, const char *p, size_t n) {
  grow_buf *b = ctx;
  if (n == 0) /* an empty bin body (no cert) comes with a NULL pointer */
    return 0;
  if (b->failed || msgpack_sbuffer_write(&b->sb, p, n) != 0) {
    b->failed = 1;
    return -1;
  }
  return 0;
}

static int grow_buf_finish(grow_buf *b, uint8_t **out, size_t *out_len) {
  if (b->failed) {
    msgpack_sbuffer_destroy(&b->sb);
    return MC_ENOMEM;
  }
  *out_len = b->sb.size;
  *out = (uint8_t *)msgpack_sbuffer_release(&b->sb);
  return 0;
}

/* ---- transactions ---- */

static void pack_tx_fields(msgpack_packer *pk, const mc_tx *tx) {
  msgpack_pack_str_with_body(pk, TX_TAG, sizeof TX_TAG - 1);
  msgpack_pack_str_with_body(pk, tx->chain_id, strlen(tx->chain_id));
  msgpack_pack_bin_with_body(pk, tx->from, MC_PUBKEY_LEN);
  msgpack_pack_bin_with_body(pk, tx->to, MC_PUBKEY_LEN);
  msgpack_pack_uint64(pk, tx->amount);
  msgpack_pack_uint64(pk, tx->nonce);
}

void mc_tx_pack_signing(msgpack_packer *pk, const mc_tx *tx) {
  msgpack_pack_array(pk, TX_SIGNING_ARITY);
  pack_tx_fields(pk, tx);
}

void mc_tx_pack(msgpack_packer *pk, const mc_tx *tx) {
  msgpack_pack_array(pk, TX_WIRE_ARITY);
  pack_tx_fields(pk, tx);
  msgpack_pack_bin_with_body(pk, tx->sig, MC_SIG_LEN);
}

static void tx_signing_bytes(const mc_tx *tx, small_buf *b) {
  msgpack_packer pk;
  assert(strlen(tx->chain_id) <= MC_CHAIN_ID_MAX);
  b->len = 0;
  msgpack_packer_init(&pk, b, small_buf_write);
  mc_tx_pack_signing(&pk, tx);
}

void mc_tx_compute_id(mc_tx *tx) {
  small_buf b;
  tx_signing_bytes(tx, &b);
  mc_sha256(b.data, b.len, tx->id);
}

void mc_tx_wire_hash(const mc_tx *tx, uint8_t out[MC_HASH_LEN]) {
  small_buf b;
  msgpack_packer pk;
  assert(strlen(tx->chain_id) <= MC_CHAIN_ID_MAX);
  b.len = 0;
  msgpack_packer_init(&pk, &b, small_buf_write);
  mc_tx_pack(&pk, tx);
  mc_sha256(b.data, b.len, out);
}

void mc_tx_sign(mc_tx *tx, const uint8_t sk[64]) {
  small_buf b;
  tx_signing_bytes(tx, &b);
  mc_sha256(b.data, b.len, tx->id);
  mc_sign(sk, b.data, b.len, tx->sig);
}

int mc_tx_verify(const mc_tx *tx) {
  small_buf b;
  tx_signing_bytes(tx, &b);
  return mc_verify(tx->from, b.data, b.len, tx->sig);
}

int mc_tx_encode(const mc_tx *tx, uint8_t **out, size_t *out_len) {
  grow_buf b = {.failed = 0};
  msgpack_packer pk;
  msgpack_sbuffer_init(&b.sb);
  msgpack_packer_init(&pk, &b, grow_buf_write);
  mc_tx_pack(&pk, tx);
  return grow_buf_finish(&b, out, out_len);
}

/* ---- strict field readers (each returns 0 or MC_EDECODE) ---- */

static int read_array(const msgpack_object *o, uint32_t arity,
                      const msgpack_object **items) {
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != arity)
    return MC_EDECODE;
  *items = o->via.array.ptr;
  return 0;
}

static int read_tag(const msgpack_object *o, const char *tag, size_t len) {
  if (o->type != MSGPACK_OBJECT_STR || o->via.str.size != len ||
      memcmp(o->via.str.ptr, tag, len) != 0)
    return MC_EDECODE;
  return 0;
}

static int read_u64(const msgpack_object *o, uint64_t *v) {
  if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
    return MC_EDECODE;
  *v = o->via.u64;
  return 0;
}

static int read_bin(const msgpack_object *o, uint8_t *out, size_t len) {
  if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != len)
    return MC_EDECODE;
  memcpy(out, o->via.bin.ptr, len);
  return 0;
}

static int read_chain_id(const msgpack_object *o,
                         char out[MC_CHAIN_ID_MAX + 1]) {
  if (o->type != MSGPACK_OBJECT_STR || o->via.str.size < 1 ||
      o->via.str.size > MC_CHAIN_ID_MAX)
    return MC_EDECODE;
  memcpy(out, o->via.str.ptr, o->via.str.size);
  out[o->via.str.size] = '\0';
  /* The charset check also rules out an embedded NUL. */
  return mc_chain_id_valid(out) ? 0 : MC_EDECODE;
}

int mc_tx_unpack(const msgpack_object *o, mc_tx *out) {
  const msgpack_object *f;
  mc_tx tx;
  memset(&tx, 0, sizeof tx);
  if (read_array(o, TX_WIRE_ARITY, &f) != 0 ||
      read_tag(&f[0], TX_TAG, sizeof TX_TAG - 1) != 0 ||
      read_chain_id(&f[1], tx.chain_id) != 0 ||
      read_bin(&f[2], tx.from, MC_PUBKEY_LEN) != 0 ||
      read_bin(&f[3], tx.to, MC_PUBKEY_LEN) != 0 ||
      read_u64(&f[4], &tx.amount) != 0 || read_u64(&f[5], &tx.nonce) != 0 ||
      read_bin(&f[6], tx.sig, MC_SIG_LEN) != 0)
    return MC_EDECODE;
  mc_tx_compute_id(&tx);
  *out = tx;
  return 0;
}

int mc_tx_decode(const uint8_t *p, size_t n, mc_tx *out) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  int rc = mc_msgpack_unpack_one(p, n, &u);
  if (rc == 0)
    rc = mc_tx_unpack(&u.data, out);
  msgpack_unpacked_destroy(&u);
  return rc;
}

/* ---- headers ---- */

void mc_header_pack(msgpack_packer *pk, const mc_block_header *h) {
  msgpack_pack_array(pk, HEADER_ARITY);
  msgpack_pack_str_with_body(pk, BLOCK_TAG, sizeof BLOCK_TAG - 1);
  msgpack_pack_uint64(pk, h->height);
  msgpack_pack_bin_with_body(pk, h->prev_hash, MC_HASH_LEN);
  msgpack_pack_uint64(pk, h->timestamp_ms);
  msgpack_pack_bin_with_body(pk, h->tx_root, MC_HASH_LEN);
  msgpack_pack_bin_with_body(pk, h->state_root, MC_HASH_LEN);
  msgpack_pack_uint64(pk, h->tx_count);
  msgpack_pack_bin_with_body(pk, h->proposer, MC_PUBKEY_LEN);
}

static void header_bytes(const mc_block_header *h, small_buf *b) {
  msgpack_packer pk;
  b->len = 0;
  msgpack_packer_init(&pk, b, small_buf_write);
  mc_header_pack(&pk, h);
}

void mc_header_hash(const mc_block_header *h, uint8_t out[MC_HASH_LEN]) {
  small_buf b;
  header_bytes(h, &b);
  mc_sha256(b.data, b.len, out);
}

int mc_header_unpack(const msgpack_object *o, mc_block_header *out) {
  const msgpack_object *f;
  mc_block_header h;
  uint64_t count;
  memset(&h, 0, sizeof h);
  if (read_array(o, HEADER_ARITY, &f) != 0 ||
      read_tag(&f[0], BLOCK_TAG, sizeof BLOCK_TAG - 1) != 0 ||
      read_u64(&f[1], &h.height) != 0 ||
      read_bin(&f[2], h.prev_hash, MC_HASH_LEN) != 0 ||
      read_u64(&f[3], &h.timestamp_ms) != 0 ||
      read_bin(&f[4], h.tx_root, MC_HASH_LEN) != 0 ||
      read_bin(&f[5], h.state_root, MC_HASH_LEN) != 0 ||
      read_u64(&f[6], &count) != 0 || count > MC_BLOCK_MAX_TXS ||
      read_bin(&f[7], h.proposer, MC_PUBKEY_LEN) != 0)
    return MC_EDECODE;
  h.tx_count = (uint32_t)count;
  *out = h;
  return 0;
}

/* ---- blocks ---- */

void mc_block_sign(mc_block *b, const uint8_t sk[64]) {
  small_buf enc;
  header_bytes(&b->header, &enc);
  mc_sha256(enc.data, enc.len, b->hash);
  mc_sign(sk, enc.data, enc.len, b->signature);
}

int mc_block_verify_sig(const mc_block *b) {
  small_buf enc;
  header_bytes(&b->header, &enc);
  return mc_verify(b->header.proposer, enc.data, enc.len, b->signature);
}

void mc_block_pack(msgpack_packer *pk, const mc_block *b) {
  msgpack_pack_array(pk, BLOCK_ARITY);
  mc_header_pack(pk, &b->header);
  msgpack_pack_bin_with_body(pk, b->signature, MC_SIG_LEN);
  msgpack_pack_array(pk, b->header.tx_count);
  for (uint32_t i = 0; i < b->header.tx_count; i++)
    mc_tx_pack(pk, &b->txs[i]);
  msgpack_pack_bin_with_body(pk, b->cert, b->cert_len);
}

int mc_block_encode(const mc_block *b, uint8_t **out, size_t *out_len) {
  grow_buf gb = {.failed = 0};
  msgpack_packer pk;
  msgpack_sbuffer_init(&gb.sb);
  msgpack_packer_init(&pk, &gb, grow_buf_write);
  mc_block_pack(&pk, b);
  return grow_buf_finish(&gb, out, out_len);
}

static int unpack_txs(const msgpack_object *arr, mc_block *b) {
  for (uint32_t i = 0; i < b->header.tx_count; i++) {
    if (mc_tx_unpack(&arr->via.array.ptr[i], &b->txs[i]) != 0)
      return MC_EDECODE;
  }
  return 0;
}

int mc_block_unpack(const msgpack_object *o, mc_block **out) {
  const msgpack_object *f;
  mc_block_header h;
  if (read_array(o, BLOCK_ARITY, &f) != 0 || mc_header_unpack(&f[0], &h) != 0)
    return MC_EDECODE;
  if (f[1].type != MSGPACK_OBJECT_BIN || f[1].via.bin.size != MC_SIG_LEN ||
      f[2].type != MSGPACK_OBJECT_ARRAY ||
      f[2].via.array.size != h.tx_count || f[3].type != MSGPACK_OBJECT_BIN ||
      f[3].via.bin.size > MC_CERT_MAX_BYTES)
    return MC_EDECODE;
  mc_block *b = mc_block_new(h.tx_count);
  if (b == NULL)
    return MC_ENOMEM;
  b->header = h;
  memcpy(b->signature, f[1].via.bin.ptr, MC_SIG_LEN);
  int rc = unpack_txs(&f[2], b);
  if (rc == 0)
    rc = mc_block_set_cert(b, (const uint8_t *)f[3].via.bin.ptr,
                           f[3].via.bin.size);
  if (rc != 0) {
    mc_block_free(b);
    return rc;
  }
  mc_header_hash(&b->header, b->hash);
  *out = b;
  return 0;
}

int mc_block_decode(const uint8_t *p, size_t n, mc_block **out) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  int rc = mc_msgpack_unpack_one(p, n, &u);
  if (rc == 0)
    rc = mc_block_unpack(&u.data, out);
  msgpack_unpacked_destroy(&u);
  return rc;
}

mc_block *mc_block_new(uint32_t ntx) {
  mc_block *b = calloc(1, sizeof *b);
  if (b == NULL)
    return NULL;
  if (ntx > 0) {
    b->txs = calloc(ntx, sizeof *b->txs);
    if (b->txs == NULL) {
      free(b);
      return NULL;
    }
  }
  b->header.tx_count = ntx;
  return b;
}

mc_block *mc_block_dup(const mc_block *b) {
  mc_block *d = mc_block_new(b->header.tx_count);
  if (d == NULL)
    return NULL;
  d->header = b->header;
  memcpy(d->signature, b->signature, MC_SIG_LEN);
  memcpy(d->hash, b->hash, MC_HASH_LEN);
  if (b->header.tx_count > 0)
    memcpy(d->txs, b->txs, b->header.tx_count * sizeof *b->txs);
  if (mc_block_set_cert(d, b->cert, b->cert_len) != 0) {
    mc_block_free(d);
    return NULL;
  }
  return d;
}

int mc_block_set_cert(mc_block *b, const uint8_t *cert, size_t len) {
  uint8_t *copy = NULL;
  if (len > 0) {
    copy = malloc(len);
    if (copy == NULL)
      return MC_ENOMEM;
    memcpy(copy, cert, len);
  }
  free(b->cert);
  b->cert = copy;
  b->cert_len = len;
  return 0;
}

void mc_block_free(mc_block *b) {
  if (b == NULL)
    return;
  free(b->txs);
  free(b->cert);
  free(b);
}
