/*
 * test-proto.c - the framed protocol's messages (host/net/proto.c): every
 * message type survives encode -> frame -> decode unchanged, the frame
 * header is the payload length, a few payloads match fixed bytes of
 * docs/PROTOCOL.md, and malformed payloads of every type (wrong arity,
 * wrong field types, bad sizes, unknown types, trailing bytes, lying
 * lengths, deep nesting) are refused with MC_EDECODE.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "chain/codec.h"
#include "chain/crypto.h"
#include "keys.h"
#include "minichain/error.h"
#include "net/frame.h"
#include "net/proto.h"

/* ---- fixtures ---- */

static mc_tx make_tx(uint64_t nonce) {
  mc_keypair a, b;
  mc_tx tx;
  memset(&tx, 0, sizeof tx);
  assert_int_equal(mc_key_from_dev_name("alice", &a), 0);
  assert_int_equal(mc_key_from_dev_name("bob", &b), 0);
  strcpy(tx.chain_id, "minichain-devnet");
  memcpy(tx.from, a.pk, MC_PUBKEY_LEN);
  memcpy(tx.to, b.pk, MC_PUBKEY_LEN);
  tx.amount = 10;
  tx.nonce = nonce;
  mc_tx_sign(&tx, a.sk);
  return tx;
}

static mc_block *make_block(uint32_t ntx) {
  mc_keypair v;
  mc_block *b = mc_block_new(ntx);
  assert_non_null(b);
  assert_int_equal(mc_key_from_dev_name("validator-0", &v), 0);
  b->header.height = 7;
  memset(b->header.prev_hash, 0x11, MC_HASH_LEN);
  b->header.timestamp_ms = 1764000000123u;
  memset(b->header.state_root, 0x22, MC_HASH_LEN);
  memcpy(b->header.proposer, v.pk, MC_PUBKEY_LEN);
  uint8_t(*ids)[MC_HASH_LEN] = calloc(ntx + 1, MC_HASH_LEN);
  assert_non_null(ids);
  for (uint32_t i = 0; i < ntx; i++) {
    b->txs[i] = make_tx(i + 1);
    memcpy(ids[i], b->txs[i].id, MC_HASH_LEN);
  }
  mc_merkle_root(ids, ntx, b->header.tx_root);
  free(ids);
  mc_block_sign(b, v.sk);
  assert_int_equal(mc_block_set_cert(b, (const uint8_t *)"cert", 4), 0);
  return b;
}

/* Encodes m as a frame, checks the header, decodes the payload into out. */
static void round_trip(const mc_msg *m, mc_msg *out) {
  uint8_t *frame;
  size_t len;
  assert_int_equal(mc_msg_encode_frame(m, &frame, &len), 0);
  assert_true(len > MC_FRAME_HEADER_LEN);
  uint8_t hdr[MC_FRAME_HEADER_LEN];
  mc_frame_header(hdr, (uint32_t)(len - MC_FRAME_HEADER_LEN));
  assert_memory_equal(frame, hdr, MC_FRAME_HEADER_LEN);
  assert_int_equal(mc_msg_decode(frame + MC_FRAME_HEADER_LEN,
                                 len - MC_FRAME_HEADER_LEN, out),
                   0);
  free(frame);
  assert_int_equal(out->type, m->type);
  assert_int_equal(out->rid, m->rid);
}

static void assert_tx_equal(const mc_tx *a, const mc_tx *b) {
  assert_string_equal(a->chain_id, b->chain_id);
  assert_memory_equal(a->from, b->from, MC_PUBKEY_LEN);
  assert_memory_equal(a->to, b->to, MC_PUBKEY_LEN);
  assert_int_equal(a->amount, b->amount);
  assert_int_equal(a->nonce, b->nonce);
  assert_memory_equal(a->sig, b->sig, MC_SIG_LEN);
  assert_memory_equal(a->id, b->id, MC_HASH_LEN);
}

/* ---- round trips ---- */

static void test_submit_tx(void **state) {
  (void)state;
  mc_msg m = {.type = MC_MSG_SUBMIT_TX, .rid = 42}, out;
  m.u.tx = make_tx(3);
  round_trip(&m, &out);
  assert_tx_equal(&out.u.tx, &m.u.tx);
  assert_int_equal(mc_tx_verify(&out.u.tx), 0);
  mc_msg_clear(&out);
}

static void test_submit_result(void **state) {
  (void)state;
  static const int32_t codes[] = {0, MC_ENONCE, MC_EBALANCE, MC_ENOSYS};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    mc_msg m = {.type = MC_MSG_SUBMIT_RESULT, .rid = UINT64_MAX}, out;
    m.u.submit_result.code = codes[i];
    memset(m.u.submit_result.txid, 0xa5, MC_HASH_LEN);
    round_trip(&m, &out);
    assert_int_equal(out.u.submit_result.code, codes[i]);
    assert_memory_equal(out.u.submit_result.txid, m.u.submit_result.txid,
                        MC_HASH_LEN);
  }
}

/* [18, 1] is 92 12 01: the example in docs/PROTOCOL.md. */
static void test_get_status_bytes(void **state) {
  (void)state;
  mc_msg m = {.type = MC_MSG_GET_STATUS, .rid = 1}, out;
  uint8_t *frame;
  size_t len;
  assert_int_equal(mc_msg_encode_frame(&m, &frame, &len), 0);
  assert_int_equal(len, 7);
  assert_memory_equal(frame, "\x00\x00\x00\x03\x92\x12\x01", 7);
  free(frame);
  round_trip(&m, &out);
}

static mc_status_info make_status(void) {
  mc_status_info s;
  memset(&s, 0, sizeof s);
  strcpy(s.version, "0.1.0");
  strcpy(s.node, "127.0.0.1:7001");
  strcpy(s.chain_id, "minichain-devnet");
  memset(s.genesis_hash, 1, MC_HASH_LEN);
  s.height = 123456789012ull;
  memset(s.head_hash, 2, MC_HASH_LEN);
  s.head_time_ms = 1764000000000ull;
  s.validators = 4;
  s.self_index = -1;
  s.mempool_ready = 17;
  s.mempool_queued = 3;
  s.peers = 2;
  s.view = 5;
  s.leader = 3;
  strcpy(s.consensus, "poa");
  strcpy(s.store, "json");
  return s;
}

static void assert_status_equal(const mc_status_info *a,
                                const mc_status_info *b) {
  assert_string_equal(a->version, b->version);
  assert_string_equal(a->node, b->node);
  assert_string_equal(a->chain_id, b->chain_id);
  assert_memory_equal(a->genesis_hash, b->genesis_hash, MC_HASH_LEN);
  assert_int_equal(a->height, b->height);
  assert_memory_equal(a->head_hash, b->head_hash, MC_HASH_LEN);
  assert_int_equal(a->head_time_ms, b->head_time_ms);
  assert_int_equal(a->validators, b->validators);
  assert_int_equal(a->self_index, b->self_index);
  assert_int_equal(a->mempool_ready, b->mempool_ready);
  assert_int_equal(a->mempool_queued, b->mempool_queued);
  assert_int_equal(a->peers, b->peers);
  assert_int_equal(a->view, b->view);
  assert_int_equal(a->leader, b->leader);
  assert_string_equal(a->consensus, b->consensus);
  assert_string_equal(a->store, b->store);
}

static void test_status(void **state) {
  (void)state;
  mc_msg m = {.type = MC_MSG_STATUS, .rid = 9}, out;
  m.u.status = make_status();
  round_trip(&m, &out);
  assert_status_equal(&out.u.status, &m.u.status);
}

static void test_account(void **state) {
  (void)state;
  mc_msg g = {.type = MC_MSG_GET_ACCOUNT, .rid = 1}, a = {.type = MC_MSG_ACCOUNT,
                                                          .rid = 2},
         out;
  memset(g.u.get_account.pubkey, 0x33, MC_PUBKEY_LEN);
  round_trip(&g, &out);
  assert_memory_equal(out.u.get_account.pubkey, g.u.get_account.pubkey,
                      MC_PUBKEY_LEN);
  memset(a.u.account.account.pubkey, 0x44, MC_PUBKEY_LEN);
  a.u.account.account.balance = UINT64_MAX;
  a.u.account.account.nonce = 7;
  a.u.account.next_nonce = 9;
  round_trip(&a, &out);
  assert_memory_equal(out.u.account.account.pubkey,
                      a.u.account.account.pubkey, MC_PUBKEY_LEN);
  assert_int_equal(out.u.account.account.balance, UINT64_MAX);
  assert_int_equal(out.u.account.account.nonce, 7);
  assert_int_equal(out.u.account.next_nonce, 9);
}

static void test_get_block(void **state) {
  (void)state;
  mc_msg h = {.type = MC_MSG_GET_BLOCK, .rid = 1}, out;
  h.u.get_block.height = 1u << 20;
  round_trip(&h, &out);
  assert_int_equal(out.u.get_block.by_hash, 0);
  assert_int_equal(out.u.get_block.height, 1u << 20);
  mc_msg x = {.type = MC_MSG_GET_BLOCK, .rid = 2};
  x.u.get_block.by_hash = 1;
  memset(x.u.get_block.hash, 0x5a, MC_HASH_LEN);
  round_trip(&x, &out);
  assert_int_equal(out.u.get_block.by_hash, 1);
  assert_memory_equal(out.u.get_block.hash, x.u.get_block.hash, MC_HASH_LEN);
}

static void test_block(void **state) {
  (void)state;
  mc_block *b = make_block(3);
  mc_msg m = {.type = MC_MSG_BLOCK, .rid = 5}, out;
  m.u.block.block = b;
  round_trip(&m, &out);
  const mc_block *d = out.u.block.block;
  assert_non_null(d);
  /* the hash covers every header field */
  assert_memory_equal(d->hash, b->hash, MC_HASH_LEN);
  assert_int_equal(d->header.height, 7);
  assert_int_equal(d->header.tx_count, 3);
  assert_memory_equal(d->signature, b->signature, MC_SIG_LEN);
  assert_int_equal(mc_block_verify_sig(d), 0);
  for (uint32_t i = 0; i < 3; i++)
    assert_tx_equal(&d->txs[i], &b->txs[i]);
  assert_int_equal(d->cert_len, 4);
  assert_memory_equal(d->cert, "cert", 4);
  mc_msg_clear(&out);
  assert_null(out.u.block.block);
  mc_block_free(b);

  mc_msg none = {.type = MC_MSG_BLOCK, .rid = 6};
  round_trip(&none, &out);
  assert_null(out.u.block.block);
  mc_msg_clear(&out);
}

static void test_tx_status_every_state(void **state) {
  (void)state;
  mc_tx tx = make_tx(4);
  for (int st = MC_TX_UNKNOWN; st <= MC_TX_REJECTED; st++) {
    mc_msg m = {.type = MC_MSG_TX_STATUS, .rid = (uint64_t)st + 1}, out;
    m.u.tx_status.state = (mc_tx_state)st;
    if (st == MC_TX_COMMITTED) {
      m.u.tx_status.height = 99;
      m.u.tx_status.index = 2;
    }
    if (st == MC_TX_REJECTED)
      m.u.tx_status.code = MC_EBALANCE;
    m.u.tx_status.has_tx = st == MC_TX_PENDING || st == MC_TX_QUEUED ||
                           st == MC_TX_COMMITTED;
    if (m.u.tx_status.has_tx)
      m.u.tx_status.tx = tx;
    round_trip(&m, &out);
    assert_int_equal(out.u.tx_status.state, st);
    assert_int_equal(out.u.tx_status.height, m.u.tx_status.height);
    assert_int_equal(out.u.tx_status.index, m.u.tx_status.index);
    assert_int_equal(out.u.tx_status.code, m.u.tx_status.code);
    assert_int_equal(out.u.tx_status.has_tx, m.u.tx_status.has_tx);
    if (m.u.tx_status.has_tx)
      assert_tx_equal(&out.u.tx_status.tx, &tx);
  }
  mc_tx_state parsed;
  assert_int_equal(mc_tx_state_parse("queued", 6, &parsed), 0);
  assert_int_equal(parsed, MC_TX_QUEUED);
  assert_int_equal(mc_tx_state_parse("queue", 5, &parsed), MC_EDECODE);
  assert_string_equal(mc_tx_state_name((mc_tx_state)77), "invalid");
}

static void test_get_tx_and_error_and_consensus(void **state) {
  (void)state;
  mc_msg g = {.type = MC_MSG_GET_TX, .rid = 3}, out;
  memset(g.u.get_tx.txid, 0x77, MC_HASH_LEN);
  round_trip(&g, &out);
  assert_memory_equal(out.u.get_tx.txid, g.u.get_tx.txid, MC_HASH_LEN);

  mc_msg e = {.type = MC_MSG_ERROR, .rid = 0};
  e.u.error.code = MC_EDECODE;
  strcpy(e.u.error.message, "malformed message");
  round_trip(&e, &out);
  assert_int_equal(out.u.error.code, MC_EDECODE);
  assert_string_equal(out.u.error.message, "malformed message");

  uint8_t payload[300];
  for (size_t i = 0; i < sizeof payload; i++)
    payload[i] = (uint8_t)i;
  mc_msg c = {.type = MC_MSG_CONSENSUS, .rid = 0};
  c.u.consensus.payload = payload;
  c.u.consensus.len = sizeof payload;
  uint8_t *frame;
  size_t len;
  assert_int_equal(mc_msg_encode_frame(&c, &frame, &len), 0);
  assert_int_equal(mc_msg_decode(frame + 4, len - 4, &out), 0);
  assert_int_equal(out.u.consensus.len, sizeof payload);
  assert_memory_equal(out.u.consensus.payload, payload, sizeof payload);
  free(frame);
}

/* ---- peer messages ---- */

static void test_peer_handshake_messages(void **state) {
  (void)state;
  mc_msg m = {.type = MC_MSG_HELLO}, out;
  m.u.hello.version = MC_PEER_PROTOCOL_VERSION;
  memset(m.u.hello.genesis_hash, 0x01, MC_HASH_LEN);
  memset(m.u.hello.ephemeral, 0x02, MC_HASH_LEN);
  memset(m.u.hello.challenge, 0x03, MC_HASH_LEN);
  round_trip(&m, &out);
  assert_memory_equal(&out.u.hello, &m.u.hello, sizeof m.u.hello);
  uint8_t sealed[100];
  memset(sealed, 0x5a, sizeof sealed);
  mc_msg w = {.type = MC_MSG_WELCOME};
  memset(w.u.welcome.ephemeral, 0x06, MC_HASH_LEN);
  memset(w.u.welcome.challenge, 0x07, MC_HASH_LEN);
  w.u.welcome.sealed = sealed;
  w.u.welcome.sealed_len = sizeof sealed;
  uint8_t *frame;
  size_t len;
  assert_int_equal(mc_msg_encode_frame(&w, &frame, &len), 0);
  assert_int_equal(mc_msg_decode(frame + 4, len - 4, &out), 0);
  assert_memory_equal(out.u.welcome.ephemeral, w.u.welcome.ephemeral, 32);
  assert_memory_equal(out.u.welcome.challenge, w.u.welcome.challenge, 32);
  assert_int_equal(out.u.welcome.sealed_len, sizeof sealed);
  assert_memory_equal(out.u.welcome.sealed, sealed, sizeof sealed);
  free(frame);
  mc_msg a = {.type = MC_MSG_AUTH, .rid = 0};
  a.u.auth.sealed = sealed;
  a.u.auth.sealed_len = 80;
  assert_int_equal(mc_msg_encode_frame(&a, &frame, &len), 0);
  assert_int_equal(mc_msg_decode(frame + 4, len - 4, &out), 0);
  assert_int_equal(out.u.auth.sealed_len, 80);
  free(frame);
  a.u.auth.sealed_len = MC_PEER_SEALED_MAX + 1;
  assert_int_equal(mc_msg_encode_frame(&a, &frame, &len), MC_EINVAL);
  mc_msg hb = {.type = MC_MSG_HEARTBEAT};
  hb.u.heartbeat.height = 77;
  memset(hb.u.heartbeat.head_hash, 0x77, MC_HASH_LEN);
  round_trip(&hb, &out);
  assert_int_equal(out.u.heartbeat.height, 77);
  assert_memory_equal(out.u.heartbeat.head_hash, hb.u.heartbeat.head_hash,
                      MC_HASH_LEN);
  mc_msg tx = {.type = MC_MSG_TX};
  tx.u.tx = make_tx(9);
  round_trip(&tx, &out);
  assert_tx_equal(&out.u.tx, &tx.u.tx);
}

/* A HELLO of another protocol version decodes to just its version, so
 * the node can refuse it by name: version 1's HELLO had six fields. */
static void test_hello_of_another_version(void **state) {
  (void)state;
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 8);
  msgpack_pack_uint32(&pk, MC_MSG_HELLO);
  msgpack_pack_uint32(&pk, 0);
  msgpack_pack_uint32(&pk, 1);
  for (int i = 0; i < 5; i++)
    msgpack_pack_uint32(&pk, 0);
  mc_msg out;
  assert_int_equal(mc_msg_decode((const uint8_t *)sb.data, sb.size, &out), 0);
  assert_int_equal(out.type, MC_MSG_HELLO);
  assert_int_equal(out.u.hello.version, 1);
  msgpack_sbuffer_destroy(&sb);
}

/* HEADERS carry header, signature and certificate only; decoded blocks
 * have no transactions but keep the header's tx_count and their hash. */
static void test_headers(void **state) {
  (void)state;
  mc_msg g = {.type = MC_MSG_GET_HEADERS, .rid = 5}, out;
  g.u.get_headers.from = 7;
  g.u.get_headers.count = MC_PEER_MAX_HEADERS;
  round_trip(&g, &out);
  assert_int_equal(out.u.get_headers.from, 7);
  assert_int_equal(out.u.get_headers.count, MC_PEER_MAX_HEADERS);
  uint8_t *frame;
  size_t len;
  g.u.get_headers.count = MC_PEER_MAX_HEADERS + 1;
  assert_int_equal(mc_msg_encode_frame(&g, &frame, &len), MC_EINVAL);

  mc_block *bs[2] = {make_block(2), make_block(0)};
  mc_msg m = {.type = MC_MSG_HEADERS, .rid = 5};
  m.u.blocks.blocks = bs;
  m.u.blocks.n = 2;
  round_trip(&m, &out);
  assert_int_equal(out.u.blocks.n, 2);
  for (size_t i = 0; i < 2; i++) {
    const mc_block *b = out.u.blocks.blocks[i];
    assert_memory_equal(b->hash, bs[i]->hash, MC_HASH_LEN);
    assert_memory_equal(b->signature, bs[i]->signature, MC_SIG_LEN);
    assert_int_equal(b->header.tx_count, bs[i]->header.tx_count);
    assert_null(b->txs);
    assert_int_equal(b->cert_len, 4);
  }
  mc_msg_clear(&out);
  mc_block_free(bs[0]);
  mc_block_free(bs[1]);
}

static void test_peer_block_messages(void **state) {
  (void)state;
  mc_msg g = {.type = MC_MSG_GET_BLOCKS, .rid = 3}, out;
  g.u.get_blocks.from = 12;
  g.u.get_blocks.count = MC_PEER_MAX_BLOCKS;
  round_trip(&g, &out);
  assert_int_equal(out.u.get_blocks.from, 12);
  assert_int_equal(out.u.get_blocks.count, MC_PEER_MAX_BLOCKS);
  uint8_t *frame;
  size_t len;
  g.u.get_blocks.count = MC_PEER_MAX_BLOCKS + 1;
  assert_int_equal(mc_msg_encode_frame(&g, &frame, &len), MC_EINVAL);

  mc_block *bs[2] = {make_block(2), make_block(0)};
  mc_msg m = {.type = MC_MSG_BLOCKS, .rid = 3};
  m.u.blocks.blocks = bs;
  m.u.blocks.n = 2;
  round_trip(&m, &out);
  assert_int_equal(out.u.blocks.n, 2);
  for (size_t i = 0; i < 2; i++) {
    assert_memory_equal(out.u.blocks.blocks[i]->hash, bs[i]->hash,
                        MC_HASH_LEN);
    assert_int_equal(out.u.blocks.blocks[i]->cert_len, 4);
  }
  mc_msg_clear(&out);
  assert_null(out.u.blocks.blocks);
  mc_msg none = {.type = MC_MSG_BLOCKS, .rid = 4};
  round_trip(&none, &out);
  assert_int_equal(out.u.blocks.n, 0);
  mc_msg_clear(&out);
  mc_block_free(bs[0]);
  mc_block_free(bs[1]);
}

static void test_encode_refuses_unknown_type(void **state) {
  (void)state;
  mc_msg m = {.type = 99, .rid = 1};
  uint8_t *frame = (uint8_t *)&m;
  size_t len = 1;
  assert_int_equal(mc_msg_encode_frame(&m, &frame, &len), MC_EINVAL);
  assert_null(frame);
  assert_int_equal(len, 0);
  mc_msg s = {.type = MC_MSG_STATUS, .rid = 1};
  s.u.status = make_status();
  strcpy(s.u.status.chain_id, "bad chain id");
  assert_int_equal(mc_msg_encode_frame(&s, &frame, &len), MC_EINVAL);
}

/* The worked example of docs/PROTOCOL.md, which
 * tests/e2e/independent_client.py --example computes independently: dev
 * key "alice" sends 10 to dev key "bob", nonce 1, as request 1. */
static const char EXAMPLE_ID[] =
    "7646623f9ba27e0522fe358382209868c1405abf6ede2eea6000be474c833743";
static const char EXAMPLE_FRAME[] =
    "000000a693100197a86d632d74782d7631b06d696e69636861696e2d6465766e6574c4"
    "20987ffd1ed321751a335c2e264a3dbd5640fad33d875362f34c3acdb40630f220c420"
    "e6e4d2e1f564147bd4076758c5bfaadd68b95d7443923b34e80abb7527296f7a0a01c4"
    "400a9f4816812763edcb16867f72a630048f1b0f11dbda38113e608beeb705b88b67ea"
    "b040957c85e1daadc63a048899a71388990ed61528946415b4f121506005";

static void test_worked_example(void **state) {
  (void)state;
  mc_msg m = {.type = MC_MSG_SUBMIT_TX, .rid = 1};
  m.u.tx = make_tx(1);
  char id[2 * MC_HASH_LEN + 1];
  mc_hex_encode(m.u.tx.id, MC_HASH_LEN, id);
  assert_string_equal(id, EXAMPLE_ID);
  uint8_t *frame;
  size_t len;
  assert_int_equal(mc_msg_encode_frame(&m, &frame, &len), 0);
  char *hex = malloc(2 * len + 1);
  assert_non_null(hex);
  mc_hex_encode(frame, len, hex);
  assert_string_equal(hex, EXAMPLE_FRAME);
  free(hex);
  free(frame);
}

/* ---- malformed payloads ---- */

static void pk_bin(msgpack_packer *pk, uint8_t fill, size_t n) {
  uint8_t buf[128];
  assert_true(n <= sizeof buf);
  memset(buf, fill, n);
  msgpack_pack_bin_with_body(pk, buf, n);
}

static void pk_head(msgpack_packer *pk, uint32_t type, uint32_t nfields) {
  msgpack_pack_array(pk, 2 + nfields);
  msgpack_pack_uint32(pk, type);
  msgpack_pack_uint32(pk, 1);
}

static void pk_str(msgpack_packer *pk, const char *s) {
  msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void bad_not_array(msgpack_packer *pk) { msgpack_pack_uint32(pk, 18); }
static void bad_short_array(msgpack_packer *pk) {
  msgpack_pack_array(pk, 1);
  msgpack_pack_uint32(pk, 18);
}
static void bad_unknown_type(msgpack_packer *pk) { pk_head(pk, 26, 0); }
static void bad_negative_type(msgpack_packer *pk) {
  msgpack_pack_array(pk, 2);
  msgpack_pack_int32(pk, -18);
  msgpack_pack_uint32(pk, 1);
}
static void bad_str_rid(msgpack_packer *pk) {
  msgpack_pack_array(pk, 2);
  msgpack_pack_uint32(pk, 18);
  pk_str(pk, "1");
}
static void bad_get_status_arity(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_GET_STATUS, 1);
  msgpack_pack_nil(pk);
}
static void bad_submit_no_tx(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_SUBMIT_TX, 0);
}
static void bad_submit_tx_short_sig(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_SUBMIT_TX, 1);
  msgpack_pack_array(pk, 7);
  pk_str(pk, "mc-tx-v1");
  pk_str(pk, "minichain-devnet");
  pk_bin(pk, 1, 32);
  pk_bin(pk, 2, 32);
  msgpack_pack_uint32(pk, 1);
  msgpack_pack_uint32(pk, 1);
  pk_bin(pk, 3, 63);
}
static void bad_submit_tx_wrong_tag(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_SUBMIT_TX, 1);
  msgpack_pack_array(pk, 7);
  pk_str(pk, "mc-tx-v2");
  pk_str(pk, "minichain-devnet");
  pk_bin(pk, 1, 32);
  pk_bin(pk, 2, 32);
  msgpack_pack_uint32(pk, 1);
  msgpack_pack_uint32(pk, 1);
  pk_bin(pk, 3, 64);
}
static void bad_submit_tx_negative_amount(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_SUBMIT_TX, 1);
  msgpack_pack_array(pk, 7);
  pk_str(pk, "mc-tx-v1");
  pk_str(pk, "minichain-devnet");
  pk_bin(pk, 1, 32);
  pk_bin(pk, 2, 32);
  msgpack_pack_int32(pk, -1);
  msgpack_pack_uint32(pk, 1);
  pk_bin(pk, 3, 64);
}
static void bad_submit_result_code_str(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_SUBMIT_RESULT, 2);
  pk_str(pk, "0");
  pk_bin(pk, 0, 32);
}
static void bad_submit_result_code_big(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_SUBMIT_RESULT, 2);
  msgpack_pack_uint64(pk, 1ull << 40);
  pk_bin(pk, 0, 32);
}
static void bad_submit_result_txid_short(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_SUBMIT_RESULT, 2);
  msgpack_pack_int32(pk, 0);
  pk_bin(pk, 0, 31);
}
static void bad_status_not_map(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_STATUS, 1);
  msgpack_pack_array(pk, 0);
}
static void bad_status_missing_keys(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_STATUS, 1);
  msgpack_pack_map(pk, 1);
  pk_str(pk, "height");
  msgpack_pack_uint32(pk, 1);
}
static void bad_get_account_str(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_GET_ACCOUNT, 1);
  pk_str(pk, "3333333333333333333333333333333333333333333333333333333333333333");
}
static void bad_account_arity(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_ACCOUNT, 3);
  pk_bin(pk, 0, 32);
  msgpack_pack_uint32(pk, 1);
  msgpack_pack_uint32(pk, 1);
}
static void bad_account_negative_balance(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_ACCOUNT, 4);
  pk_bin(pk, 0, 32);
  msgpack_pack_int32(pk, -5);
  msgpack_pack_uint32(pk, 1);
  msgpack_pack_uint32(pk, 2);
}
static void bad_get_block_str(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_GET_BLOCK, 1);
  pk_str(pk, "7");
}
static void bad_get_block_hash_short(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_GET_BLOCK, 1);
  pk_bin(pk, 0, 16);
}
static void bad_block_not_block(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_BLOCK, 1);
  msgpack_pack_array(pk, 4);
  for (int i = 0; i < 4; i++)
    msgpack_pack_nil(pk);
}
static void bad_get_tx_nil(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_GET_TX, 1);
  msgpack_pack_nil(pk);
}
static void tx_status_fields(msgpack_packer *pk, const char *st, int height) {
  pk_head(pk, MC_MSG_TX_STATUS, 5);
  pk_str(pk, st);
  if (height) {
    msgpack_pack_uint32(pk, 5);
    msgpack_pack_uint32(pk, 0);
  } else {
    msgpack_pack_nil(pk);
    msgpack_pack_nil(pk);
  }
  msgpack_pack_int32(pk, 0);
  msgpack_pack_nil(pk);
}
static void bad_tx_status_state(msgpack_packer *pk) {
  tx_status_fields(pk, "finalised", 0);
}
static void bad_tx_status_committed_no_height(msgpack_packer *pk) {
  tx_status_fields(pk, "committed", 0);
}
static void bad_tx_status_pending_height(msgpack_packer *pk) {
  tx_status_fields(pk, "pending", 1);
}
static void bad_error_message_bin(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_ERROR, 2);
  msgpack_pack_int32(pk, -1);
  pk_bin(pk, 'x', 4);
}
static void bad_error_message_long(msgpack_packer *pk) {
  char msg[300];
  memset(msg, 'x', sizeof msg - 1);
  msg[sizeof msg - 1] = '\0';
  pk_head(pk, MC_MSG_ERROR, 2);
  msgpack_pack_int32(pk, -1);
  pk_str(pk, msg);
}
static void bad_consensus_str(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_CONSENSUS, 1);
  pk_str(pk, "opaque");
}
static void bad_hello_short_challenge(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_HELLO, 4);
  msgpack_pack_uint32(pk, MC_PEER_PROTOCOL_VERSION);
  pk_bin(pk, 1, 32);
  pk_bin(pk, 2, 32);
  pk_bin(pk, 3, 31);
}
static void bad_auth_empty(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_AUTH, 1);
  pk_bin(pk, 5, 0);
}
static void bad_welcome_sealed_too_big(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_WELCOME, 3);
  pk_bin(pk, 1, 32);
  pk_bin(pk, 2, 32);
  uint8_t big[MC_PEER_SEALED_MAX + 1];
  memset(big, 3, sizeof big);
  msgpack_pack_bin_with_body(pk, big, sizeof big);
}
static void bad_headers_with_txs(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_HEADERS, 1);
  msgpack_pack_array(pk, 1);
  msgpack_pack_array(pk, 4); /* a whole block where a header belongs */
  msgpack_pack_nil(pk);
  msgpack_pack_nil(pk);
  msgpack_pack_nil(pk);
  msgpack_pack_nil(pk);
}
static void bad_get_blocks_too_many(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_GET_BLOCKS, 2);
  msgpack_pack_uint32(pk, 1);
  msgpack_pack_uint32(pk, MC_PEER_MAX_BLOCKS + 1);
}
static void bad_blocks_not_array(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_BLOCKS, 1);
  pk_bin(pk, 0, 4);
}
static void bad_blocks_bad_block(msgpack_packer *pk) {
  pk_head(pk, MC_MSG_BLOCKS, 1);
  msgpack_pack_array(pk, 1);
  msgpack_pack_array(pk, 4);
  msgpack_pack_nil(pk);
  msgpack_pack_nil(pk);
  msgpack_pack_nil(pk);
  msgpack_pack_nil(pk);
}

typedef struct bad_case {
  const char *name;
  void (*pack)(msgpack_packer *pk);
} bad_case;

#define BAD(f) {#f, f}
static const bad_case bad_cases[] = {
    BAD(bad_not_array),
    BAD(bad_short_array),
    BAD(bad_unknown_type),
    BAD(bad_negative_type),
    BAD(bad_str_rid),
    BAD(bad_get_status_arity),
    BAD(bad_submit_no_tx),
    BAD(bad_submit_tx_short_sig),
    BAD(bad_submit_tx_wrong_tag),
    BAD(bad_submit_tx_negative_amount),
    BAD(bad_submit_result_code_str),
    BAD(bad_submit_result_code_big),
    BAD(bad_submit_result_txid_short),
    BAD(bad_status_not_map),
    BAD(bad_status_missing_keys),
    BAD(bad_get_account_str),
    BAD(bad_account_arity),
    BAD(bad_account_negative_balance),
    BAD(bad_get_block_str),
    BAD(bad_get_block_hash_short),
    BAD(bad_block_not_block),
    BAD(bad_get_tx_nil),
    BAD(bad_tx_status_state),
    BAD(bad_tx_status_committed_no_height),
    BAD(bad_tx_status_pending_height),
    BAD(bad_error_message_bin),
    BAD(bad_error_message_long),
    BAD(bad_consensus_str),
    BAD(bad_hello_short_challenge),
    BAD(bad_auth_empty),
    BAD(bad_welcome_sealed_too_big),
    BAD(bad_headers_with_txs),
    BAD(bad_get_blocks_too_many),
    BAD(bad_blocks_not_array),
    BAD(bad_blocks_bad_block),
};

static void test_malformed_fields(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    bad_cases[i].pack(&pk);
    mc_msg m;
    int rc = mc_msg_decode((const uint8_t *)sb.data, sb.size, &m);
    if (rc != MC_EDECODE)
      fail_msg("%s: decode returned %d, expected MC_EDECODE", bad_cases[i].name,
               rc);
    assert_int_equal(m.type, 0); /* nothing half-decoded is left behind */
    msgpack_sbuffer_destroy(&sb);
  }
}

/* A STATUS with duplicate or mistyped keys is refused; an unknown key (a
 * newer node's) is skipped. */
static void test_status_map_rules(void **state) {
  (void)state;
  mc_msg m = {.type = MC_MSG_STATUS, .rid = 1}, out;
  m.u.status = make_status();
  uint8_t *frame;
  size_t len;
  assert_int_equal(mc_msg_encode_frame(&m, &frame, &len), 0);
  uint8_t *p = frame + 4;
  size_t n = len - 4;
  /* p = 93 13 01 de 00 10 ...: bump the map count to 17 and append an
   * extra pair */
  assert_int_equal(p[3], 0xde);
  assert_int_equal(p[5], 16);
  uint8_t *q = malloc(n + 32);
  assert_non_null(q);
  memcpy(q, p, n);
  q[5] = 17;
  memcpy(q + n, "\xa5" "extra" "\x07", 7);
  assert_int_equal(mc_msg_decode(q, n + 7, &out), 0);
  assert_status_equal(&out.u.status, &m.u.status);
  memcpy(q + n, "\xa6" "height" "\x07", 8); /* a duplicate key */
  assert_int_equal(mc_msg_decode(q, n + 8, &out), MC_EDECODE);
  memcpy(q + n, "\x07\x07", 2); /* a non-string key */
  assert_int_equal(mc_msg_decode(q, n + 2, &out), MC_EDECODE);
  free(q);
  free(frame);
}

static void test_malformed_bytes(void **state) {
  (void)state;
  static const struct {
    const char *name;
    const char *bytes;
    size_t len;
  } cases[] = {
      {"empty", "", 0},
      {"trailing byte", "\x92\x12\x01\x00", 4},
      {"truncated array", "\x92\x12", 2},
      {"array of 2^32-1 elements", "\xdd\xff\xff\xff\xff\x12\x01", 7},
      {"bin longer than input", "\x93\x18\x01\xc6\x00\x01\x00\x00\x00", 9},
      {"str longer than input", "\x93\x1f\x01\xda\xff\xff", 6},
      {"reserved byte 0xc1", "\x92\xc1\x01", 3},
      {"two values", "\x92\x12\x01\x92\x12\x01", 6},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mc_msg m;
    int rc = mc_msg_decode((const uint8_t *)cases[i].bytes, cases[i].len, &m);
    if (rc != MC_EDECODE)
      fail_msg("%s: decode returned %d", cases[i].name, rc);
  }
  assert_int_equal(mc_msg_decode(NULL, 0, &(mc_msg){0}), MC_EDECODE);
}

/* Nesting deeper than any message is refused before msgpack-c, whose
 * fixed parse stack would report it as out of memory. */
static void test_deep_nesting(void **state) {
  (void)state;
  uint8_t buf[200];
  size_t n = 0;
  buf[n++] = 0x93;
  buf[n++] = 0x10;
  buf[n++] = 0x01;
  for (int i = 0; i < 100; i++)
    buf[n++] = 0x91;
  buf[n++] = 0xc0;
  mc_msg m;
  assert_int_equal(mc_msg_decode(buf, n, &m), MC_EDECODE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_submit_tx),
      cmocka_unit_test(test_submit_result),
      cmocka_unit_test(test_get_status_bytes),
      cmocka_unit_test(test_status),
      cmocka_unit_test(test_account),
      cmocka_unit_test(test_get_block),
      cmocka_unit_test(test_block),
      cmocka_unit_test(test_tx_status_every_state),
      cmocka_unit_test(test_get_tx_and_error_and_consensus),
      cmocka_unit_test(test_peer_handshake_messages),
      cmocka_unit_test(test_peer_block_messages),
      cmocka_unit_test(test_hello_of_another_version),
      cmocka_unit_test(test_headers),
      cmocka_unit_test(test_encode_refuses_unknown_type),
      cmocka_unit_test(test_worked_example),
      cmocka_unit_test(test_malformed_fields),
      cmocka_unit_test(test_status_map_rules),
      cmocka_unit_test(test_malformed_bytes),
      cmocka_unit_test(test_deep_nesting),
  };
  if (mc_crypto_init() != 0)
    return 1;
  return cmocka_run_group_tests(tests, NULL, NULL);
}
