/*
 * proto.c - encoding and strict decoding of the framed protocol's messages
 * (proto.h; the wire format is specified in docs/PROTOCOL.md).
 *
 * Every message is a msgpack array [type, rid, fields...].  One table below
 * names each type's arity and its encode and decode functions, so the two
 * directions cannot drift apart.  The STATUS map is driven by a second
 * table of (key, kind, offset) so that its keys are written down once.
 *
 * Untrusted payloads go through the codec's mc_msgpack_unpack_one, which
 * proves every declared length is backed by bytes of the input before
 * msgpack-c allocates anything for it (chain/codec.h says why).
 */
#include "net/proto.h"

#include <assert.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "chain/codec.h"
#include "chain/genesis.h"
#include "minichain/error.h"
#include "net/frame.h"

#define ERROR_MESSAGE_MAX (sizeof(((mc_msg *)0)->u.error.message) - 1)

/* ---- tx states ---- */

static const char *const tx_state_names[] = {
    [MC_TX_UNKNOWN] = "unknown",     [MC_TX_PENDING] = "pending",
    [MC_TX_QUEUED] = "queued",       [MC_TX_COMMITTED] = "committed",
    [MC_TX_REJECTED] = "rejected",
};
#define TX_STATE_COUNT (sizeof tx_state_names / sizeof tx_state_names[0])

const char *mc_tx_state_name(mc_tx_state s) {
  if ((unsigned)s >= TX_STATE_COUNT)
    return "invalid";
  return tx_state_names[s];
}

int mc_tx_state_parse(const char *s, size_t len, mc_tx_state *out) {
  for (size_t i = 0; i < TX_STATE_COUNT; i++) {
    if (strlen(tx_state_names[i]) == len &&
        memcmp(tx_state_names[i], s, len) == 0) {
      *out = (mc_tx_state)i;
      return 0;
    }
  }
  return MC_EDECODE;
}

/* ---- field readers: each returns 0 or MC_EDECODE ---- */

static int get_u64(const msgpack_object *o, uint64_t *v) {
  if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
    return MC_EDECODE;
  *v = o->via.u64;
  return 0;
}

static int get_u32(const msgpack_object *o, uint32_t *v) {
  uint64_t x;
  if (get_u64(o, &x) != 0 || x > UINT32_MAX)
    return MC_EDECODE;
  *v = (uint32_t)x;
  return 0;
}

static int get_i32(const msgpack_object *o, int32_t *v) {
  if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT32_MAX) {
    *v = (int32_t)o->via.u64;
    return 0;
  }
  if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 >= INT32_MIN) {
    *v = (int32_t)o->via.i64;
    return 0;
  }
  return MC_EDECODE;
}

static int get_bin32(const msgpack_object *o, uint8_t out[32]) {
  if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != 32)
    return MC_EDECODE;
  memcpy(out, o->via.bin.ptr, 32);
  return 0;
}

/* A str of fewer than cap bytes without NUL, copied NUL-terminated. */
static int get_str(const msgpack_object *o, char *out, size_t cap) {
  if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= cap ||
      memchr(o->via.str.ptr, 0, o->via.str.size) != NULL)
    return MC_EDECODE;
  memcpy(out, o->via.str.ptr, o->via.str.size);
  out[o->via.str.size] = '\0';
  return 0;
}

static bool is_nil(const msgpack_object *o) {
  return o->type == MSGPACK_OBJECT_NIL;
}

/* ---- packing helpers ---- */

static void pack_bin(msgpack_packer *pk, const uint8_t *p, size_t n) {
  msgpack_pack_bin(pk, n);
  msgpack_pack_bin_body(pk, p, n);
}

static void pack_str(msgpack_packer *pk, const char *s, size_t n) {
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s, n);
}

/* Length of the NUL-terminated string in a char array of cap bytes, or
 * -1 when the array holds no terminator. */
static long cstr_len(const char *s, size_t cap) {
  size_t n = strnlen(s, cap);
  return n < cap ? (long)n : -1;
}

/* ---- STATUS ---- */

enum { F_STR, F_BIN32, F_U64, F_U32, F_I32 };

#define STATUS_FIELD(name, kind)                                              \
  { #name, kind, offsetof(mc_status_info, name),                             \
    sizeof(((mc_status_info *)0)->name) }

static const struct status_field {
  const char *key;
  int kind;
  size_t off;
  size_t size;
} status_fields[] = {
    STATUS_FIELD(version, F_STR),       STATUS_FIELD(node, F_STR),
    STATUS_FIELD(chain_id, F_STR),      STATUS_FIELD(genesis_hash, F_BIN32),
    STATUS_FIELD(height, F_U64),        STATUS_FIELD(head_hash, F_BIN32),
    STATUS_FIELD(head_time_ms, F_U64),  STATUS_FIELD(validators, F_U32),
    STATUS_FIELD(self_index, F_I32),    STATUS_FIELD(mempool_ready, F_U64),
    STATUS_FIELD(mempool_queued, F_U64), STATUS_FIELD(peers, F_U32),
    STATUS_FIELD(view, F_U64),          STATUS_FIELD(leader, F_I32),
    STATUS_FIELD(consensus, F_STR),     STATUS_FIELD(store, F_STR),
};
#define STATUS_FIELD_COUNT (sizeof status_fields / sizeof status_fields[0])

static int encode_status_field(msgpack_packer *pk, const struct status_field *f,
                               const mc_status_info *s) {
  const char *base = (const char *)s + f->off;
  pack_str(pk, f->key, strlen(f->key));
  switch (f->kind) {
  case F_STR: {
    long n = cstr_len(base, f->size);
    if (n < 0)
      return MC_EINVAL;
    pack_str(pk, base, (size_t)n);
    return 0;
  }
  case F_BIN32:
    pack_bin(pk, (const uint8_t *)base, MC_HASH_LEN);
    return 0;
  case F_U64:
    msgpack_pack_uint64(pk, *(const uint64_t *)(const void *)base);
    return 0;
  case F_U32:
    msgpack_pack_uint32(pk, *(const uint32_t *)(const void *)base);
    return 0;
  default:
    assert(f->kind == F_I32);
    msgpack_pack_int32(pk, *(const int32_t *)(const void *)base);
    return 0;
  }
}

static int encode_status(msgpack_packer *pk, const mc_msg *m) {
  if (!mc_chain_id_valid(m->u.status.chain_id))
    return MC_EINVAL;
  msgpack_pack_map(pk, STATUS_FIELD_COUNT);
  for (size_t i = 0; i < STATUS_FIELD_COUNT; i++) {
    int rc = encode_status_field(pk, &status_fields[i], &m->u.status);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int decode_status_value(const struct status_field *f,
                               const msgpack_object *v, mc_status_info *s) {
  char *base = (char *)s + f->off;
  switch (f->kind) {
  case F_STR:
    return get_str(v, base, f->size);
  case F_BIN32:
    return get_bin32(v, (uint8_t *)base);
  case F_U64:
    return get_u64(v, (uint64_t *)(void *)base);
  case F_U32:
    return get_u32(v, (uint32_t *)(void *)base);
  default:
    assert(f->kind == F_I32);
    return get_i32(v, (int32_t *)(void *)base);
  }
}

/* Index of the known key k in status_fields, or -1 (a newer node's key). */
static int status_field_index(const msgpack_object *k) {
  for (size_t i = 0; i < STATUS_FIELD_COUNT; i++) {
    const char *key = status_fields[i].key;
    if (strlen(key) == k->via.str.size &&
        memcmp(key, k->via.str.ptr, k->via.str.size) == 0)
      return (int)i;
  }
  return -1;
}

/* Every known key exactly once with its type; unknown keys are skipped so
 * that an older client can read a newer node. */
static int decode_status(const msgpack_object *f, mc_msg *m) {
  if (f[0].type != MSGPACK_OBJECT_MAP)
    return MC_EDECODE;
  bool seen[STATUS_FIELD_COUNT] = {false};
  size_t nseen = 0;
  const msgpack_object_map *map = &f[0].via.map;
  for (uint32_t i = 0; i < map->size; i++) {
    const msgpack_object *k = &map->ptr[i].key;
    if (k->type != MSGPACK_OBJECT_STR)
      return MC_EDECODE;
    int idx = status_field_index(k);
    if (idx < 0)
      continue;
    if (seen[idx] ||
        decode_status_value(&status_fields[idx], &map->ptr[i].val,
                            &m->u.status) != 0)
      return MC_EDECODE;
    seen[idx] = true;
    nseen++;
  }
  if (nseen != STATUS_FIELD_COUNT || !mc_chain_id_valid(m->u.status.chain_id))
    return MC_EDECODE;
  return 0;
}

/* ---- the other messages: encode appends the fields after [type, rid],
 * decode reads them from f[0..arity) ---- */

static int encode_submit_tx(msgpack_packer *pk, const mc_msg *m) {
  mc_tx_pack(pk, &m->u.tx);
  return 0;
}

static int decode_submit_tx(const msgpack_object *f, mc_msg *m) {
  return mc_tx_unpack(&f[0], &m->u.tx) == 0 ? 0 : MC_EDECODE;
}

static int encode_submit_result(msgpack_packer *pk, const mc_msg *m) {
  msgpack_pack_int32(pk, m->u.submit_result.code);
  pack_bin(pk, m->u.submit_result.txid, MC_HASH_LEN);
  return 0;
}

static int decode_submit_result(const msgpack_object *f, mc_msg *m) {
  if (get_i32(&f[0], &m->u.submit_result.code) != 0)
    return MC_EDECODE;
  return get_bin32(&f[1], m->u.submit_result.txid);
}

static int encode_nothing(msgpack_packer *pk, const mc_msg *m) {
  (void)pk;
  (void)m;
  return 0;
}

static int decode_nothing(const msgpack_object *f, mc_msg *m) {
  (void)f;
  (void)m;
  return 0;
}

static int encode_get_account(msgpack_packer *pk, const mc_msg *m) {
  pack_bin(pk, m->u.get_account.pubkey, MC_PUBKEY_LEN);
  return 0;
}

static int decode_get_account(const msgpack_object *f, mc_msg *m) {
  return get_bin32(&f[0], m->u.get_account.pubkey);
}

static int encode_account(msgpack_packer *pk, const mc_msg *m) {
  const mc_account *a = &m->u.account.account;
  pack_bin(pk, a->pubkey, MC_PUBKEY_LEN);
  msgpack_pack_uint64(pk, a->balance);
  msgpack_pack_uint64(pk, a->nonce);
  msgpack_pack_uint64(pk, m->u.account.next_nonce);
  return 0;
}

static int decode_account(const msgpack_object *f, mc_msg *m) {
  mc_account *a = &m->u.account.account;
  if (get_bin32(&f[0], a->pubkey) != 0 || get_u64(&f[1], &a->balance) != 0 ||
      get_u64(&f[2], &a->nonce) != 0 ||
      get_u64(&f[3], &m->u.account.next_nonce) != 0)
    return MC_EDECODE;
  return 0;
}

static int encode_get_block(msgpack_packer *pk, const mc_msg *m) {
  if (m->u.get_block.by_hash)
    pack_bin(pk, m->u.get_block.hash, MC_HASH_LEN);
  else
    msgpack_pack_uint64(pk, m->u.get_block.height);
  return 0;
}

static int decode_get_block(const msgpack_object *f, mc_msg *m) {
  if (f[0].type == MSGPACK_OBJECT_BIN) {
    m->u.get_block.by_hash = 1;
    return get_bin32(&f[0], m->u.get_block.hash);
  }
  m->u.get_block.by_hash = 0;
  return get_u64(&f[0], &m->u.get_block.height);
}

static int encode_block(msgpack_packer *pk, const mc_msg *m) {
  if (m->u.block.block == NULL)
    msgpack_pack_nil(pk);
  else
    mc_block_pack(pk, m->u.block.block);
  return 0;
}

static int decode_block(const msgpack_object *f, mc_msg *m) {
  if (is_nil(&f[0]))
    return 0;
  int rc = mc_block_unpack(&f[0], &m->u.block.block);
  if (rc != 0)
    m->u.block.block = NULL;
  return rc == MC_ENOMEM ? MC_ENOMEM : rc == 0 ? 0 : MC_EDECODE;
}

static int encode_get_tx(msgpack_packer *pk, const mc_msg *m) {
  pack_bin(pk, m->u.get_tx.txid, MC_HASH_LEN);
  return 0;
}

static int decode_get_tx(const msgpack_object *f, mc_msg *m) {
  return get_bin32(&f[0], m->u.get_tx.txid);
}

static int encode_tx_status(msgpack_packer *pk, const mc_msg *m) {
  mc_tx_state st = m->u.tx_status.state;
  if ((unsigned)st >= TX_STATE_COUNT)
    return MC_EINVAL;
  const char *name = mc_tx_state_name(st);
  pack_str(pk, name, strlen(name));
  if (st == MC_TX_COMMITTED) {
    msgpack_pack_uint64(pk, m->u.tx_status.height);
    msgpack_pack_uint32(pk, m->u.tx_status.index);
  } else {
    msgpack_pack_nil(pk);
    msgpack_pack_nil(pk);
  }
  msgpack_pack_int32(pk, m->u.tx_status.code);
  if (m->u.tx_status.has_tx)
    mc_tx_pack(pk, &m->u.tx_status.tx);
  else
    msgpack_pack_nil(pk);
  return 0;
}

/* height and index are present exactly when the state is "committed". */
static int decode_tx_status(const msgpack_object *f, mc_msg *m) {
  if (f[0].type != MSGPACK_OBJECT_STR ||
      mc_tx_state_parse(f[0].via.str.ptr, f[0].via.str.size,
                        &m->u.tx_status.state) != 0)
    return MC_EDECODE;
  if (m->u.tx_status.state == MC_TX_COMMITTED) {
    if (get_u64(&f[1], &m->u.tx_status.height) != 0 ||
        get_u32(&f[2], &m->u.tx_status.index) != 0)
      return MC_EDECODE;
  } else if (!is_nil(&f[1]) || !is_nil(&f[2])) {
    return MC_EDECODE;
  }
  if (get_i32(&f[3], &m->u.tx_status.code) != 0)
    return MC_EDECODE;
  if (is_nil(&f[4]))
    return 0;
  m->u.tx_status.has_tx = 1;
  return mc_tx_unpack(&f[4], &m->u.tx_status.tx) == 0 ? 0 : MC_EDECODE;
}

static int encode_error(msgpack_packer *pk, const mc_msg *m) {
  msgpack_pack_int32(pk, m->u.error.code);
  pack_str(pk, m->u.error.message,
           strnlen(m->u.error.message, ERROR_MESSAGE_MAX));
  return 0;
}

static int decode_error(const msgpack_object *f, mc_msg *m) {
  if (get_i32(&f[0], &m->u.error.code) != 0)
    return MC_EDECODE;
  return get_str(&f[1], m->u.error.message, sizeof m->u.error.message);
}

static int encode_consensus(msgpack_packer *pk, const mc_msg *m) {
  if (m->u.consensus.payload == NULL && m->u.consensus.len > 0)
    return MC_EINVAL;
  if (m->u.consensus.len > UINT32_MAX)
    return MC_ETOOBIG;
  pack_bin(pk, m->u.consensus.payload, m->u.consensus.len);
  return 0;
}

/* The payload is left in the caller's buffer: msgpack_unpack_next's bin
 * objects point into the input rather than into its zone. */
static int decode_consensus(const msgpack_object *f, mc_msg *m) {
  if (f[0].type != MSGPACK_OBJECT_BIN)
    return MC_EDECODE;
  m->u.consensus.payload = (const uint8_t *)f[0].via.bin.ptr;
  m->u.consensus.len = f[0].via.bin.size;
  return 0;
}

/* ---- peer messages ---- */

static int encode_hello(msgpack_packer *pk, const mc_msg *m) {
  msgpack_pack_uint32(pk, m->u.hello.version);
  pack_bin(pk, m->u.hello.genesis_hash, MC_HASH_LEN);
  pack_bin(pk, m->u.hello.ephemeral, MC_HASH_LEN);
  pack_bin(pk, m->u.hello.challenge, MC_HASH_LEN);
  return 0;
}

static int decode_hello(const msgpack_object *f, mc_msg *m) {
  if (get_u32(&f[0], &m->u.hello.version) != 0 ||
      get_bin32(&f[1], m->u.hello.genesis_hash) != 0 ||
      get_bin32(&f[2], m->u.hello.ephemeral) != 0)
    return MC_EDECODE;
  return get_bin32(&f[3], m->u.hello.challenge);
}

/* A sealed handshake part: bin, 1..MC_PEER_SEALED_MAX bytes, left in the
 * input buffer. */
static int get_sealed(const msgpack_object *o, const uint8_t **p, size_t *n) {
  if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size == 0 ||
      o->via.bin.size > MC_PEER_SEALED_MAX)
    return MC_EDECODE;
  *p = (const uint8_t *)o->via.bin.ptr;
  *n = o->via.bin.size;
  return 0;
}

static int pack_sealed(msgpack_packer *pk, const uint8_t *p, size_t n) {
  if (p == NULL || n == 0 || n > MC_PEER_SEALED_MAX)
    return MC_EINVAL;
  pack_bin(pk, p, n);
  return 0;
}

static int encode_welcome(msgpack_packer *pk, const mc_msg *m) {
  pack_bin(pk, m->u.welcome.ephemeral, MC_HASH_LEN);
  pack_bin(pk, m->u.welcome.challenge, MC_HASH_LEN);
  return pack_sealed(pk, m->u.welcome.sealed, m->u.welcome.sealed_len);
}

static int decode_welcome(const msgpack_object *f, mc_msg *m) {
  if (get_bin32(&f[0], m->u.welcome.ephemeral) != 0 ||
      get_bin32(&f[1], m->u.welcome.challenge) != 0)
    return MC_EDECODE;
  return get_sealed(&f[2], &m->u.welcome.sealed, &m->u.welcome.sealed_len);
}

static int encode_auth(msgpack_packer *pk, const mc_msg *m) {
  return pack_sealed(pk, m->u.auth.sealed, m->u.auth.sealed_len);
}

static int decode_auth(const msgpack_object *f, mc_msg *m) {
  return get_sealed(&f[0], &m->u.auth.sealed, &m->u.auth.sealed_len);
}

static int encode_heartbeat(msgpack_packer *pk, const mc_msg *m) {
  msgpack_pack_uint64(pk, m->u.heartbeat.height);
  pack_bin(pk, m->u.heartbeat.head_hash, MC_HASH_LEN);
  return 0;
}

static int decode_heartbeat(const msgpack_object *f, mc_msg *m) {
  if (get_u64(&f[0], &m->u.heartbeat.height) != 0)
    return MC_EDECODE;
  return get_bin32(&f[1], m->u.heartbeat.head_hash);
}

/* GET_BLOCKS and GET_HEADERS: [from, count], count at most `max`. */
static int encode_range(msgpack_packer *pk, uint64_t from, uint32_t count,
                        uint32_t max) {
  if (count > max)
    return MC_EINVAL;
  msgpack_pack_uint64(pk, from);
  msgpack_pack_uint32(pk, count);
  return 0;
}

static int decode_range(const msgpack_object *f, uint64_t *from,
                        uint32_t *count, uint32_t max) {
  if (get_u64(&f[0], from) != 0 || get_u32(&f[1], count) != 0 || *count > max)
    return MC_EDECODE;
  return 0;
}

static int encode_get_blocks(msgpack_packer *pk, const mc_msg *m) {
  return encode_range(pk, m->u.get_blocks.from, m->u.get_blocks.count,
                      MC_PEER_MAX_BLOCKS);
}

static int decode_get_blocks(const msgpack_object *f, mc_msg *m) {
  return decode_range(f, &m->u.get_blocks.from, &m->u.get_blocks.count,
                      MC_PEER_MAX_BLOCKS);
}

static int encode_blocks(msgpack_packer *pk, const mc_msg *m) {
  if (m->u.blocks.n > MC_PEER_MAX_BLOCKS)
    return MC_EINVAL;
  msgpack_pack_array(pk, m->u.blocks.n);
  for (size_t i = 0; i < m->u.blocks.n; i++)
    mc_block_pack(pk, m->u.blocks.blocks[i]);
  return 0;
}

/* BLOCKS and HEADERS: an array of at most `max` items, each unpacked into
 * a block by `unpack`; the message owns what was unpacked so far. */
static int decode_block_list(const msgpack_object *f, mc_msg *m, size_t max,
                             int (*unpack)(const msgpack_object *,
                                           mc_block **)) {
  if (f[0].type != MSGPACK_OBJECT_ARRAY || f[0].via.array.size > max)
    return MC_EDECODE;
  size_t n = f[0].via.array.size;
  m->u.blocks.blocks = calloc(n ? n : 1, sizeof *m->u.blocks.blocks);
  if (m->u.blocks.blocks == NULL)
    return MC_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    int rc = unpack(&f[0].via.array.ptr[i], &m->u.blocks.blocks[i]);
    if (rc != 0) {
      m->u.blocks.blocks[i] = NULL;
      return rc == MC_ENOMEM ? MC_ENOMEM : MC_EDECODE;
    }
    m->u.blocks.n = i + 1;
  }
  return 0;
}

static int decode_blocks(const msgpack_object *f, mc_msg *m) {
  return decode_block_list(f, m, MC_PEER_MAX_BLOCKS, mc_block_unpack);
}

static int encode_get_headers(msgpack_packer *pk, const mc_msg *m) {
  return encode_range(pk, m->u.get_headers.from, m->u.get_headers.count,
                      MC_PEER_MAX_HEADERS);
}

static int decode_get_headers(const msgpack_object *f, mc_msg *m) {
  return decode_range(f, &m->u.get_headers.from, &m->u.get_headers.count,
                      MC_PEER_MAX_HEADERS);
}

/* [header, signature, cert]: a block as sync proves it before its body. */
static int encode_headers(msgpack_packer *pk, const mc_msg *m) {
  if (m->u.blocks.n > MC_PEER_MAX_HEADERS)
    return MC_EINVAL;
  msgpack_pack_array(pk, m->u.blocks.n);
  for (size_t i = 0; i < m->u.blocks.n; i++) {
    const mc_block *b = m->u.blocks.blocks[i];
    msgpack_pack_array(pk, 3);
    mc_header_pack(pk, &b->header);
    pack_bin(pk, b->signature, MC_SIG_LEN);
    msgpack_pack_bin(pk, b->cert_len);
    if (b->cert_len > 0)
      msgpack_pack_bin_body(pk, b->cert, b->cert_len);
  }
  return 0;
}

static int unpack_header_only(const msgpack_object *o, mc_block **out) {
  mc_block_header h;
  const msgpack_object *f = o->via.array.ptr;
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 3 ||
      mc_header_unpack(&f[0], &h) != 0 || f[1].type != MSGPACK_OBJECT_BIN ||
      f[1].via.bin.size != MC_SIG_LEN || f[2].type != MSGPACK_OBJECT_BIN ||
      f[2].via.bin.size > MC_CERT_MAX_BYTES)
    return MC_EDECODE;
  mc_block *b = mc_block_new(0);
  if (b == NULL)
    return MC_ENOMEM;
  b->header = h; /* tx_count as the header says; the body comes later */
  memcpy(b->signature, f[1].via.bin.ptr, MC_SIG_LEN);
  if (mc_block_set_cert(b, (const uint8_t *)f[2].via.bin.ptr,
                        f[2].via.bin.size) != 0) {
    mc_block_free(b);
    return MC_ENOMEM;
  }
  mc_header_hash(&b->header, b->hash);
  *out = b;
  return 0;
}

static int decode_headers(const msgpack_object *f, mc_msg *m) {
  return decode_block_list(f, m, MC_PEER_MAX_HEADERS, unpack_header_only);
}

/* ---- the message table ---- */

typedef struct msg_desc {
  uint32_t type;
  uint32_t arity; /* fields after [type, rid] */
  int (*encode)(msgpack_packer *pk, const mc_msg *m);
  int (*decode)(const msgpack_object *f, mc_msg *m);
} msg_desc;

static const msg_desc messages[] = {
    {MC_MSG_HELLO, 4, encode_hello, decode_hello},
    {MC_MSG_WELCOME, 3, encode_welcome, decode_welcome},
    {MC_MSG_AUTH, 1, encode_auth, decode_auth},
    {MC_MSG_GET_HEADERS, 2, encode_get_headers, decode_get_headers},
    {MC_MSG_HEADERS, 1, encode_headers, decode_headers},
    {MC_MSG_HEARTBEAT, 2, encode_heartbeat, decode_heartbeat},
    {MC_MSG_TX, 1, encode_submit_tx, decode_submit_tx},
    {MC_MSG_GET_BLOCKS, 2, encode_get_blocks, decode_get_blocks},
    {MC_MSG_BLOCKS, 1, encode_blocks, decode_blocks},
    {MC_MSG_SUBMIT_TX, 1, encode_submit_tx, decode_submit_tx},
    {MC_MSG_SUBMIT_RESULT, 2, encode_submit_result, decode_submit_result},
    {MC_MSG_GET_STATUS, 0, encode_nothing, decode_nothing},
    {MC_MSG_STATUS, 1, encode_status, decode_status},
    {MC_MSG_GET_ACCOUNT, 1, encode_get_account, decode_get_account},
    {MC_MSG_ACCOUNT, 4, encode_account, decode_account},
    {MC_MSG_GET_BLOCK, 1, encode_get_block, decode_get_block},
    {MC_MSG_BLOCK, 1, encode_block, decode_block},
    {MC_MSG_GET_TX, 1, encode_get_tx, decode_get_tx},
    {MC_MSG_TX_STATUS, 5, encode_tx_status, decode_tx_status},
    {MC_MSG_ERROR, 2, encode_error, decode_error},
    {MC_MSG_CONSENSUS, 1, encode_consensus, decode_consensus},
};

static const msg_desc *find_desc(uint64_t type) {
  for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++)
    if (messages[i].type == type)
      return &messages[i];
  return NULL;
}

/* ---- decoding ---- */

static int decode_object(const msgpack_object *o, mc_msg *out) {
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 2)
    return MC_EDECODE;
  const msgpack_object *a = o->via.array.ptr;
  uint64_t type;
  if (get_u64(&a[0], &type) != 0 || get_u64(&a[1], &out->rid) != 0)
    return MC_EDECODE;
  const msg_desc *d = find_desc(type);
  if (d != NULL && d->type == MC_MSG_HELLO && o->via.array.size >= 3 &&
      get_u32(&a[2], &out->u.hello.version) == 0 &&
      out->u.hello.version != MC_PEER_PROTOCOL_VERSION) {
    out->type = MC_MSG_HELLO; /* another version's HELLO: say so */
    return 0;
  }
  if (d == NULL || o->via.array.size != 2 + d->arity)
    return MC_EDECODE;
  out->type = d->type;
  return d->decode(a + 2, out);
}

int mc_msg_decode(const uint8_t *p, size_t n, mc_msg *out) {
  memset(out, 0, sizeof *out);
  if (p == NULL || n == 0)
    return MC_EDECODE;
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  int rc = mc_msgpack_unpack_one(p, n, &u);
  if (rc == 0)
    rc = decode_object(&u.data, out);
  msgpack_unpacked_destroy(&u);
  if (rc != 0) {
    mc_msg_clear(out);
    memset(out, 0, sizeof *out);
  }
  return rc;
}

void mc_msg_clear(mc_msg *m) {
  if (m->type == MC_MSG_BLOCK) {
    mc_block_free(m->u.block.block);
    m->u.block.block = NULL;
  } else if (m->type == MC_MSG_BLOCKS || m->type == MC_MSG_HEADERS) {
    for (size_t i = 0; i < m->u.blocks.n; i++)
      mc_block_free(m->u.blocks.blocks[i]);
    free(m->u.blocks.blocks);
    m->u.blocks.blocks = NULL;
    m->u.blocks.n = 0;
  }
}

/* ---- encoding ---- */

/* An sbuffer that remembers a failed write: the codec's packers return
 * nothing, so an allocation failure is noticed here. */
typedef struct frame_buf {
  msgpack_sbuffer sb;
  bool failed;
} frame_buf;

static int frame_buf_write(void *data, const char *buf, size_t len) {
  frame_buf *fb = data;
  if (fb->failed)
    return -1;
  if (msgpack_sbuffer_write(&fb->sb, buf, len) != 0) {
    fb->failed = true;
    return -1;
  }
  return 0;
}

int mc_msg_encode_frame(const mc_msg *m, uint8_t **out, size_t *out_len) {
  static const char header_room[MC_FRAME_HEADER_LEN];
  *out = NULL;
  *out_len = 0;
  const msg_desc *d = find_desc(m->type);
  if (d == NULL)
    return MC_EINVAL;
  frame_buf fb = {.failed = false};
  msgpack_sbuffer_init(&fb.sb);
  frame_buf_write(&fb, header_room, sizeof header_room);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &fb, frame_buf_write);
  msgpack_pack_array(&pk, 2 + d->arity);
  msgpack_pack_uint32(&pk, d->type);
  msgpack_pack_uint64(&pk, m->rid);
  int rc = d->encode(&pk, m);
  if (rc == 0 && fb.failed)
    rc = MC_ENOMEM;
  if (rc == 0 && fb.sb.size - MC_FRAME_HEADER_LEN > UINT32_MAX)
    rc = MC_ETOOBIG;
  if (rc != 0) {
    msgpack_sbuffer_destroy(&fb.sb);
    return rc;
  }
  size_t size = fb.sb.size;
  mc_frame_header((uint8_t *)fb.sb.data,
                  (uint32_t)(size - MC_FRAME_HEADER_LEN));
  uint8_t *buf = (uint8_t *)msgpack_sbuffer_release(&fb.sb);
  /* msgpack's buffer starts at 8 KiB: a queued 40-byte answer must not
   * hold that much (send queues count what is allocated). */
  uint8_t *fit = realloc(buf, size);
  *out = fit != NULL ? fit : buf;
  *out_len = size;
  return 0;
}
