/*
 * test-codec.c - the canonical msgpack encoding of transactions and blocks
 * (host/chain/codec.c): exact bytes against fixed vectors, round trips, and
 * the strict decoder's refusals.
 *
 * Expected bytes come from tests/data/vectors.json, written by
 * tools/vectors.py, an independent python3 implementation of
 * docs/PROTOCOL.md (PyNaCl, msgpack-python, hashlib).  Regenerate with:
 *   /usr/bin/python3 tools/vectors.py --json tests/data/vectors.json
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "chain/codec.h"
#include "chain/crypto.h"
#include "fsutil.h"
#include "keys.h"
#include "minichain/error.h"
#include "support/vectors.h"

/* The vector's bytes, malloc'd. */
static uint8_t *vec_alloc(const char *name, size_t *n) {
  const char *hex = vec(name);
  *n = strlen(hex) / 2;
  uint8_t *p = malloc(*n);
  assert_non_null(p);
  assert_int_equal(mc_hex_decode(hex, p, *n), 0);
  return p;
}

static mc_keypair dev(const char *name) {
  mc_keypair kp;
  assert_int_equal(mc_key_from_dev_name(name, &kp), 0);
  return kp;
}

/* The worked example of docs/PROTOCOL.md: alice pays bob 250, nonce 1. */
static mc_tx example_tx(void) {
  mc_keypair a = dev("alice"), b = dev("bob");
  mc_tx tx;
  memset(&tx, 0, sizeof tx);
  strcpy(tx.chain_id, "minichain-devnet");
  memcpy(tx.from, a.pk, MC_PUBKEY_LEN);
  memcpy(tx.to, b.pk, MC_PUBKEY_LEN);
  tx.amount = 250;
  tx.nonce = 1;
  mc_tx_sign(&tx, a.sk);
  return tx;
}

/* ---- transactions ---- */

static void test_tx_signing_bytes_id_sig(void **state) {
  (void)state;
  mc_tx tx = example_tx();
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  mc_tx_pack_signing(&pk, &tx);
  assert_bytes_vec((const uint8_t *)sb.data, sb.size, "tx_signing");
  msgpack_sbuffer_destroy(&sb);
  assert_bytes_vec(tx.id, MC_HASH_LEN, "tx_id");
  assert_bytes_vec(tx.sig, MC_SIG_LEN, "tx_sig");
  assert_int_equal(mc_tx_verify(&tx), 0);
}

static void test_tx_wire_round_trip(void **state) {
  (void)state;
  mc_tx tx = example_tx(), back;
  uint8_t *enc;
  size_t n;
  assert_int_equal(mc_tx_encode(&tx, &enc, &n), 0);
  assert_bytes_vec(enc, n, "tx_wire");
  memset(&back, 0xee, sizeof back);
  assert_int_equal(mc_tx_decode(enc, n, &back), 0);
  assert_memory_equal(&back, &tx, sizeof tx);
  free(enc);
}

static void test_tx_edge_encoding(void **state) {
  (void)state;
  size_t n;
  uint8_t *wire = vec_alloc("edge_tx_wire", &n);
  mc_tx tx;
  assert_int_equal(mc_tx_decode(wire, n, &tx), 0);
  assert_int_equal(strlen(tx.chain_id), 32);
  assert_true(tx.amount == UINT64_MAX);
  assert_true(tx.nonce == (1ull << 32));
  assert_bytes_vec(tx.id, MC_HASH_LEN, "edge_tx_id");
  assert_int_equal(mc_tx_verify(&tx), 0);
  uint8_t *enc;
  size_t m;
  assert_int_equal(mc_tx_encode(&tx, &enc, &m), 0);
  assert_int_equal(m, n);
  assert_memory_equal(enc, wire, n);
  free(enc);
  free(wire);
}

static void test_tx_verify_rejects_tampering(void **state) {
  (void)state;
  mc_tx tx = example_tx();
  tx.amount++;
  assert_int_equal(mc_tx_verify(&tx), MC_ESIG);
  tx = example_tx();
  tx.chain_id[0] = 'M';
  assert_int_equal(mc_tx_verify(&tx), MC_ESIG);
  tx = example_tx();
  tx.to[0] ^= 1;
  assert_int_equal(mc_tx_verify(&tx), MC_ESIG);
}

/* Wire bytes of the example tx with one change made by `edit`, which gets
 * the unpacked fields. */
static int decode_edited(void (*edit)(msgpack_packer *pk, const mc_tx *tx)) {
  mc_tx tx = example_tx(), out;
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  edit(&pk, &tx);
  int rc = mc_tx_decode((const uint8_t *)sb.data, sb.size, &out);
  msgpack_sbuffer_destroy(&sb);
  return rc;
}

static void pack_head(msgpack_packer *pk, const mc_tx *tx, const char *tag,
                      const char *chain_id) {
  msgpack_pack_str_with_body(pk, tag, strlen(tag));
  msgpack_pack_str_with_body(pk, chain_id, strlen(chain_id));
  msgpack_pack_bin_with_body(pk, tx->from, 32);
  msgpack_pack_bin_with_body(pk, tx->to, 32);
}

static void e_short_arity(msgpack_packer *pk, const mc_tx *tx) {
  mc_tx_pack_signing(pk, tx); /* no signature */
}
static void e_bad_tag(msgpack_packer *pk, const mc_tx *tx) {
  msgpack_pack_array(pk, 7);
  pack_head(pk, tx, "mc-tx-v2", tx->chain_id);
  msgpack_pack_uint64(pk, tx->amount);
  msgpack_pack_uint64(pk, tx->nonce);
  msgpack_pack_bin_with_body(pk, tx->sig, 64);
}
static void e_long_chain_id(msgpack_packer *pk, const mc_tx *tx) {
  msgpack_pack_array(pk, 7);
  pack_head(pk, tx, "mc-tx-v1", "ccccccccccccccccccccccccccccccccc"); /* 33 */
  msgpack_pack_uint64(pk, tx->amount);
  msgpack_pack_uint64(pk, tx->nonce);
  msgpack_pack_bin_with_body(pk, tx->sig, 64);
}
static void e_bad_chain_id_char(msgpack_packer *pk, const mc_tx *tx) {
  msgpack_pack_array(pk, 7);
  pack_head(pk, tx, "mc-tx-v1", "mini chain");
  msgpack_pack_uint64(pk, tx->amount);
  msgpack_pack_uint64(pk, tx->nonce);
  msgpack_pack_bin_with_body(pk, tx->sig, 64);
}
static void e_negative_amount(msgpack_packer *pk, const mc_tx *tx) {
  msgpack_pack_array(pk, 7);
  pack_head(pk, tx, "mc-tx-v1", tx->chain_id);
  msgpack_pack_int64(pk, -1);
  msgpack_pack_uint64(pk, tx->nonce);
  msgpack_pack_bin_with_body(pk, tx->sig, 64);
}
static void e_short_sig(msgpack_packer *pk, const mc_tx *tx) {
  msgpack_pack_array(pk, 7);
  pack_head(pk, tx, "mc-tx-v1", tx->chain_id);
  msgpack_pack_uint64(pk, tx->amount);
  msgpack_pack_uint64(pk, tx->nonce);
  msgpack_pack_bin_with_body(pk, tx->sig, 63);
}
static void e_key_as_str(msgpack_packer *pk, const mc_tx *tx) {
  msgpack_pack_array(pk, 7);
  msgpack_pack_str_with_body(pk, "mc-tx-v1", 8);
  msgpack_pack_str_with_body(pk, tx->chain_id, strlen(tx->chain_id));
  msgpack_pack_str_with_body(pk, (const char *)tx->from, 32);
  msgpack_pack_bin_with_body(pk, tx->to, 32);
  msgpack_pack_uint64(pk, tx->amount);
  msgpack_pack_uint64(pk, tx->nonce);
  msgpack_pack_bin_with_body(pk, tx->sig, 64);
}
static void e_map(msgpack_packer *pk, const mc_tx *tx) {
  (void)tx;
  msgpack_pack_map(pk, 0);
}

static void test_tx_decode_rejects(void **state) {
  (void)state;
  void (*edits[])(msgpack_packer *, const mc_tx *) = {
      e_short_arity,    e_bad_tag,   e_long_chain_id, e_bad_chain_id_char,
      e_negative_amount, e_short_sig, e_key_as_str,    e_map};
  for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
    print_message("edit %zu\n", i);
    assert_int_equal(decode_edited(edits[i]), MC_EDECODE);
  }
}

static void test_tx_decode_truncated_and_trailing(void **state) {
  (void)state;
  size_t n;
  uint8_t *wire = vec_alloc("tx_wire", &n);
  mc_tx tx;
  for (size_t k = 0; k < n; k++)
    assert_int_equal(mc_tx_decode(wire, k, &tx), MC_EDECODE);
  uint8_t *longer = malloc(n + 1);
  assert_non_null(longer);
  memcpy(longer, wire, n);
  longer[n] = 0xc0; /* nil */
  assert_int_equal(mc_tx_decode(longer, n + 1, &tx), MC_EDECODE);
  free(longer);
  free(wire);
}

/* ---- untrusted msgpack ---- */

static void test_msgpack_check(void **state) {
  (void)state;
  static const struct {
    const char *hex;
    int rc;
  } cases[] = {
      {"c0", 0},                 /* nil */
      {"93010203", 0},           /* [1,2,3] */
      {"8101c403616263", 0},     /* {1: bin "abc"} */
      {"dd7fffffff", MC_EDECODE}, /* array of 2^31-1 in 5 bytes */
      {"dfffffffff", MC_EDECODE}, /* map of 2^32-1 */
      {"c6ffffffff00", MC_EDECODE}, /* bin32 longer than the input */
      {"9301", MC_EDECODE},       /* array missing items */
      {"c1", MC_EDECODE},         /* never used */
      {"0101", MC_EDECODE},       /* two values */
      {"cd01", MC_EDECODE},       /* uint16 cut short */
      {"c70301", MC_EDECODE},     /* ext8 without its type and body */
      {"c7010102", 0},            /* ext8 len 1, type 1, body */
      {"", MC_EDECODE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t buf[16];
    size_t n = strlen(cases[i].hex) / 2;
    assert_int_equal(mc_hex_decode(cases[i].hex, buf, n), 0);
    print_message("case %s\n", cases[i].hex);
    assert_int_equal(mc_msgpack_check(buf, n), cases[i].rc);
  }
}

/* Nesting is bounded: deeper input is a decode error, never the
 * out-of-memory error msgpack-c itself reports past 32 levels. */
static void test_msgpack_depth_limit(void **state) {
  (void)state;
  uint8_t buf[64];
  for (int depth = 1; depth <= 40; depth++) {
    for (int i = 0; i < depth; i++)
      buf[i] = 0x91; /* array of one */
    buf[depth] = 0x01;
    int want = depth <= MC_MSGPACK_MAX_DEPTH ? 0 : MC_EDECODE;
    assert_int_equal(mc_msgpack_check(buf, (size_t)depth + 1), want);
  }
  for (int i = 0; i < 40; i++)
    buf[i] = 0x91;
  buf[40] = 0x01;
  mc_tx tx;
  assert_int_equal(mc_tx_decode(buf, 41, &tx), MC_EDECODE);
  mc_block *b = NULL;
  assert_int_equal(mc_block_decode(buf, 41, &b), MC_EDECODE);
  assert_null(b);
}

/* ---- headers and blocks ---- */

static void test_block1_vectors(void **state) {
  (void)state;
  size_t n;
  uint8_t *wire = vec_alloc("block1_wire", &n);
  mc_block *b = NULL;
  mc_keypair val = dev("val0");
  assert_int_equal(mc_block_decode(wire, n, &b), 0);
  assert_int_equal(b->header.height, 1);
  assert_int_equal(b->header.tx_count, 1);
  assert_int_equal(b->cert_len, 3);
  assert_memory_equal(b->cert, "\x01\x02\x03", 3);
  assert_memory_equal(b->header.proposer, val.pk, MC_PUBKEY_LEN);
  assert_bytes_vec(b->hash, MC_HASH_LEN, "block1_hash");
  assert_bytes_vec(b->txs[0].id, MC_HASH_LEN, "tx_id");
  assert_int_equal(mc_block_verify_sig(b), 0);

  /* Header bytes, hash and signature made here match the vectors. */
  uint8_t hash[MC_HASH_LEN];
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  mc_header_pack(&pk, &b->header);
  assert_bytes_vec((const uint8_t *)sb.data, sb.size, "block1_header");
  msgpack_sbuffer_destroy(&sb);
  mc_header_hash(&b->header, hash);
  assert_bytes_vec(hash, MC_HASH_LEN, "block1_hash");
  memset(b->signature, 0, MC_SIG_LEN);
  memset(b->hash, 0, MC_HASH_LEN);
  mc_block_sign(b, val.sk);
  assert_bytes_vec(b->signature, MC_SIG_LEN, "block1_sig");
  assert_bytes_vec(b->hash, MC_HASH_LEN, "block1_hash");

  uint8_t *enc;
  size_t m;
  assert_int_equal(mc_block_encode(b, &enc, &m), 0);
  assert_int_equal(m, n);
  assert_memory_equal(enc, wire, n);
  free(enc);
  mc_block_free(b);
  free(wire);
}

static void test_block_sig_rejects_changed_header(void **state) {
  (void)state;
  size_t n;
  uint8_t *wire = vec_alloc("block1_wire", &n);
  mc_block *b = NULL;
  assert_int_equal(mc_block_decode(wire, n, &b), 0);
  b->header.timestamp_ms++;
  assert_int_equal(mc_block_verify_sig(b), MC_ESIG);
  mc_block_free(b);
  free(wire);
}

static void test_block_empty_round_trip_and_dup(void **state) {
  (void)state;
  mc_block *b = mc_block_new(0), *back = NULL;
  assert_non_null(b);
  b->header.height = 7;
  b->header.timestamp_ms = 123;
  mc_block_sign(b, dev("val0").sk);
  uint8_t *enc;
  size_t n;
  assert_int_equal(mc_block_encode(b, &enc, &n), 0);
  assert_int_equal(mc_block_decode(enc, n, &back), 0);
  assert_null(back->txs);
  assert_null(back->cert);
  assert_int_equal(back->cert_len, 0);
  assert_memory_equal(&back->header, &b->header, sizeof b->header);
  assert_memory_equal(back->hash, b->hash, MC_HASH_LEN);
  free(enc);

  assert_int_equal(mc_block_set_cert(back, (const uint8_t *)"xyz", 3), 0);
  mc_block *d = mc_block_dup(back);
  assert_non_null(d);
  assert_ptr_not_equal(d->cert, back->cert);
  assert_memory_equal(d->cert, "xyz", 3);
  assert_int_equal(mc_block_set_cert(d, NULL, 0), 0);
  assert_null(d->cert);
  mc_block_free(d);
  mc_block_free(back);
  mc_block_free(b);
}

/* A block whose header says 2 transactions but carries 1. */
static void test_block_decode_rejects(void **state) {
  (void)state;
  size_t n;
  uint8_t *wire = vec_alloc("block1_wire", &n);
  mc_block *b = NULL, *out = NULL;
  assert_int_equal(mc_block_decode(wire, n, &b), 0);
  uint8_t *enc;
  size_t m;

  b->header.tx_count = 2; /* pack would read txs[1]: pack by hand */
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 4);
  mc_header_pack(&pk, &b->header);
  msgpack_pack_bin_with_body(&pk, b->signature, MC_SIG_LEN);
  msgpack_pack_array(&pk, 1);
  mc_tx_pack(&pk, &b->txs[0]);
  msgpack_pack_bin_with_body(&pk, "", 0);
  assert_int_equal(
      mc_block_decode((const uint8_t *)sb.data, sb.size, &out), MC_EDECODE);
  assert_null(out);

  /* tx_count above the decoder's bound. */
  msgpack_sbuffer_clear(&sb);
  b->header.tx_count = MC_BLOCK_MAX_TXS + 1;
  msgpack_pack_array(&pk, 4);
  mc_header_pack(&pk, &b->header);
  msgpack_pack_bin_with_body(&pk, b->signature, MC_SIG_LEN);
  msgpack_pack_array(&pk, 0);
  msgpack_pack_bin_with_body(&pk, "", 0);
  assert_int_equal(
      mc_block_decode((const uint8_t *)sb.data, sb.size, &out), MC_EDECODE);
  msgpack_sbuffer_destroy(&sb);
  b->header.tx_count = 1;

  /* A certificate above MC_CERT_MAX_BYTES. */
  uint8_t *big = calloc(1, MC_CERT_MAX_BYTES + 1);
  assert_non_null(big);
  assert_int_equal(mc_block_set_cert(b, big, MC_CERT_MAX_BYTES + 1), 0);
  free(big);
  assert_int_equal(mc_block_encode(b, &enc, &m), 0);
  assert_int_equal(mc_block_decode(enc, m, &out), MC_EDECODE);
  free(enc);

  /* Every truncation of a valid block, and a trailing byte. */
  for (size_t k = 0; k < n; k++)
    assert_int_equal(mc_block_decode(wire, k, &out), MC_EDECODE);
  uint8_t *longer = malloc(n + 1);
  assert_non_null(longer);
  memcpy(longer, wire, n);
  longer[n] = 0;
  assert_int_equal(mc_block_decode(longer, n + 1, &out), MC_EDECODE);
  /* A wrong header tag. */
  memcpy(longer, wire, n);
  uint8_t *tag = memmem(longer, n, "mc-block-v1", 11);
  assert_non_null(tag);
  tag[10] = '2';
  assert_int_equal(mc_block_decode(longer, n, &out), MC_EDECODE);
  free(longer);
  mc_block_free(b);
  free(wire);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tx_signing_bytes_id_sig),
      cmocka_unit_test(test_tx_wire_round_trip),
      cmocka_unit_test(test_tx_edge_encoding),
      cmocka_unit_test(test_tx_verify_rejects_tampering),
      cmocka_unit_test(test_tx_decode_rejects),
      cmocka_unit_test(test_tx_decode_truncated_and_trailing),
      cmocka_unit_test(test_msgpack_check),
      cmocka_unit_test(test_msgpack_depth_limit),
      cmocka_unit_test(test_block1_vectors),
      cmocka_unit_test(test_block_sig_rejects_changed_header),
      cmocka_unit_test(test_block_empty_round_trip_and_dup),
      cmocka_unit_test(test_block_decode_rejects),
  };
  return cmocka_run_group_tests(tests, mc_vectors_load, mc_vectors_free);
}
