/*
 * test-crypto.c - SHA-256, ed25519, the Merkle root, the LtHash state
 * accumulator and hex (host/chain/crypto.c).
 *
 * Expected values come from tests/data/vectors.json, written by
 * tools/vectors.py: an independent implementation of docs/PROTOCOL.md in
 * python3 (PyNaCl, msgpack-python, hashlib, ChaCha20 from RFC 8439).
 * Regenerate with: /usr/bin/python3 tools/vectors.py --json tests/data/vectors.json
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "chain/crypto.h"
#include "fsutil.h"
#include "keys.h"
#include "minichain/error.h"
#include "support/vectors.h"

static void assert_hash_hex(const uint8_t h[MC_HASH_LEN], const char *hex) {
  char got[2 * MC_HASH_LEN + 1];
  mc_hex_encode(h, MC_HASH_LEN, got);
  assert_string_equal(got, hex);
}

/* ---- SHA-256 and ed25519 ---- */

static void test_sha256_fips_abc(void **state) {
  (void)state;
  uint8_t h[MC_HASH_LEN];
  mc_sha256("abc", 3, h);
  assert_hash_hex(
      h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_dev_keys_match_vectors(void **state) {
  (void)state;
  mc_keypair kp;
  uint8_t want[MC_PUBKEY_LEN];
  assert_int_equal(mc_key_from_dev_name("alice", &kp), 0);
  vec_bytes("alice_pk", want, sizeof want);
  assert_memory_equal(kp.pk, want, sizeof want);
  assert_int_equal(mc_key_from_dev_name("val0", &kp), 0);
  vec_bytes("val0_pk", want, sizeof want);
  assert_memory_equal(kp.pk, want, sizeof want);
}

static void test_sign_matches_vector_and_verifies(void **state) {
  (void)state;
  mc_keypair kp;
  uint8_t msg[256], sig[MC_SIG_LEN], want[MC_SIG_LEN];
  const char *hex = vec("tx_signing");
  size_t n = strlen(hex) / 2;
  assert_true(n <= sizeof msg);
  assert_int_equal(mc_hex_decode(hex, msg, n), 0);
  assert_int_equal(mc_key_from_dev_name("alice", &kp), 0);
  mc_sign(kp.sk, msg, n, sig);
  vec_bytes("tx_sig", want, sizeof want);
  assert_memory_equal(sig, want, sizeof want); /* ed25519 is deterministic */
  assert_int_equal(mc_verify(kp.pk, msg, n, sig), 0);
}

static void test_verify_rejects_any_change(void **state) {
  (void)state;
  mc_keypair kp, other;
  uint8_t msg[] = "transfer 10", sig[MC_SIG_LEN];
  assert_int_equal(mc_key_from_dev_name("alice", &kp), 0);
  assert_int_equal(mc_key_from_dev_name("bob", &other), 0);
  mc_sign(kp.sk, msg, sizeof msg, sig);
  msg[0] ^= 1;
  assert_int_equal(mc_verify(kp.pk, msg, sizeof msg, sig), MC_ESIG);
  msg[0] ^= 1;
  sig[MC_SIG_LEN - 1] ^= 0x40;
  assert_int_equal(mc_verify(kp.pk, msg, sizeof msg, sig), MC_ESIG);
  sig[MC_SIG_LEN - 1] ^= 0x40;
  assert_int_equal(mc_verify(other.pk, msg, sizeof msg, sig), MC_ESIG);
  assert_int_equal(mc_verify(kp.pk, msg, sizeof msg, sig), 0);
}

/* ---- Merkle root ---- */

/* A consensus-domain signature covers ["mc-consensus-v1", genesis, msg]:
 * it verifies only for the same chain and is not a raw signature of msg
 * (so a plugin cannot get a transaction or a header signed). */
static void test_consensus_domain(void **state) {
  (void)state;
  mc_keypair kp;
  assert_int_equal(mc_key_from_dev_name("validator-0", &kp), 0);
  uint8_t chain_a[MC_HASH_LEN], chain_b[MC_HASH_LEN], sig[MC_SIG_LEN];
  memset(chain_a, 0xaa, sizeof chain_a);
  memset(chain_b, 0xbb, sizeof chain_b);
  static const uint8_t msg[] = "a vote";
  assert_int_equal(mc_consensus_sign(kp.sk, chain_a, msg, sizeof msg, sig), 0);
  assert_int_equal(mc_consensus_verify(kp.pk, chain_a, msg, sizeof msg, sig),
                   0);
  assert_int_equal(mc_consensus_verify(kp.pk, chain_b, msg, sizeof msg, sig),
                   MC_ESIG);
  assert_int_equal(mc_verify(kp.pk, msg, sizeof msg, sig), MC_ESIG);
  /* the preimage, byte for byte: fixarray 3, fixstr 15, bin8 32, bin8 n */
  uint8_t pre[1 + 16 + 34 + 2 + sizeof msg], *p = pre;
  *p++ = 0x93;
  *p++ = 0xaf;
  memcpy(p, "mc-consensus-v1", 15);
  p += 15;
  *p++ = 0xc4;
  *p++ = 32;
  memcpy(p, chain_a, 32);
  p += 32;
  *p++ = 0xc4;
  *p++ = sizeof msg;
  memcpy(p, msg, sizeof msg);
  assert_int_equal(mc_verify(kp.pk, pre, sizeof pre, sig), 0);
}

static void test_merkle_vectors(void **state) {
  (void)state;
  static const size_t sizes[] = {0, 1, 2, 3, 5};
  uint8_t leaves[5][MC_HASH_LEN], root[MC_HASH_LEN];
  for (uint8_t i = 0; i < 5; i++)
    mc_sha256(&i, 1, leaves[i]); /* leaf i = SHA-256(byte i) */
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    char name[16];
    snprintf(name, sizeof name, "merkle_%zu", sizes[k]);
    mc_merkle_root((const uint8_t(*)[MC_HASH_LEN])leaves, sizes[k], root);
    assert_hash_hex(root, vec(name));
  }
  mc_merkle_root(NULL, 0, root);
  assert_hash_hex(root, vec("merkle_0"));
}

static void test_merkle_order_matters(void **state) {
  (void)state;
  uint8_t leaves[2][MC_HASH_LEN], a[MC_HASH_LEN], b[MC_HASH_LEN];
  memset(leaves[0], 1, MC_HASH_LEN);
  memset(leaves[1], 2, MC_HASH_LEN);
  mc_merkle_root((const uint8_t(*)[MC_HASH_LEN])leaves, 2, a);
  memset(leaves[0], 2, MC_HASH_LEN);
  memset(leaves[1], 1, MC_HASH_LEN);
  mc_merkle_root((const uint8_t(*)[MC_HASH_LEN])leaves, 2, b);
  assert_memory_not_equal(a, b, MC_HASH_LEN);
}

/* ---- LtHash ---- */

static mc_account account(const char *dev_name, uint64_t bal, uint64_t nonce) {
  mc_keypair kp;
  mc_account a;
  assert_int_equal(mc_key_from_dev_name(dev_name, &kp), 0);
  memcpy(a.pubkey, kp.pk, MC_PUBKEY_LEN);
  a.balance = bal;
  a.nonce = nonce;
  return a;
}

static void test_lthash_vectors(void **state) {
  (void)state;
  mc_lthash h;
  uint8_t root[MC_HASH_LEN];
  mc_account alice = account("alice", 1000000, 0);
  mc_lthash_init(&h);
  mc_lthash_root(&h, root);
  assert_hash_hex(root, vec("state_root_empty"));
  mc_lthash_add(&h, &alice);
  assert_int_equal(h.lane[0], vec_int("lthash_lane0_alice"));
  assert_int_equal(h.lane[1023], vec_int("lthash_lane1023_alice"));
  mc_lthash_root(&h, root);
  assert_hash_hex(root, vec("state_root_alice"));

  mc_account a2 = account("alice", 999750, 1);
  mc_account bob = account("bob", UINT64_MAX, 7);
  mc_lthash_init(&h);
  mc_lthash_add(&h, &bob);
  mc_lthash_add(&h, &a2);
  mc_lthash_root(&h, root);
  assert_hash_hex(root, vec("state_root_alice_bob"));
}

/* Moving one account incrementally (remove old, add new) gives the same
 * root as recomputing over the whole set, in any order. */
static void test_lthash_incremental_equals_scratch(void **state) {
  (void)state;
  const char *names[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
  mc_account accts[8];
  mc_lthash inc, scratch, reversed;
  uint8_t r1[MC_HASH_LEN], r2[MC_HASH_LEN], r3[MC_HASH_LEN];
  mc_lthash_init(&inc);
  for (int i = 0; i < 8; i++) {
    accts[i] = account(names[i], 100u * (unsigned)(i + 1), (uint64_t)i);
    mc_lthash_add(&inc, &accts[i]);
  }
  /* a pays c 50: two accounts change. */
  mc_lthash_remove(&inc, &accts[0]);
  mc_lthash_remove(&inc, &accts[2]);
  accts[0].balance -= 50;
  accts[0].nonce += 1;
  accts[2].balance += 50;
  mc_lthash_add(&inc, &accts[0]);
  mc_lthash_add(&inc, &accts[2]);

  mc_lthash_init(&scratch);
  mc_lthash_init(&reversed);
  for (int i = 0; i < 8; i++) {
    mc_lthash_add(&scratch, &accts[i]);
    mc_lthash_add(&reversed, &accts[7 - i]);
  }
  mc_lthash_root(&inc, r1);
  mc_lthash_root(&scratch, r2);
  mc_lthash_root(&reversed, r3);
  assert_memory_equal(r1, r2, MC_HASH_LEN);
  assert_memory_equal(r2, r3, MC_HASH_LEN);
}

static void test_lthash_absent_account_is_noop(void **state) {
  (void)state;
  mc_lthash h, empty;
  mc_account zero = account("nobody", 0, 0);
  mc_account one = account("nobody", 0, 1);
  mc_lthash_init(&h);
  mc_lthash_init(&empty);
  mc_lthash_add(&h, &zero);
  assert_memory_equal(&h, &empty, sizeof h);
  mc_lthash_remove(&h, &zero);
  assert_memory_equal(&h, &empty, sizeof h);
  /* A used nonce makes an account present even with balance 0. */
  mc_lthash_add(&h, &one);
  assert_memory_not_equal(&h, &empty, sizeof h);
  mc_lthash_remove(&h, &one);
  assert_memory_equal(&h, &empty, sizeof h);
}

static void test_lthash_distinguishes_fields(void **state) {
  (void)state;
  mc_account base = account("alice", 5, 1);
  mc_account variants[3] = {base, base, base};
  uint8_t r0[MC_HASH_LEN], r[MC_HASH_LEN];
  mc_lthash h;
  variants[0].balance = 6;
  variants[1].nonce = 2;
  variants[2].pubkey[31] ^= 1;
  mc_lthash_init(&h);
  mc_lthash_add(&h, &base);
  mc_lthash_root(&h, r0);
  for (int i = 0; i < 3; i++) {
    mc_lthash_init(&h);
    mc_lthash_add(&h, &variants[i]);
    mc_lthash_root(&h, r);
    assert_memory_not_equal(r0, r, MC_HASH_LEN);
  }
}

/* ---- hex ---- */

static void test_hex_round_trip_and_case(void **state) {
  (void)state;
  uint8_t in[3] = {0x00, 0xab, 0xff}, out[3];
  char hex[7];
  mc_hex_encode(in, 3, hex);
  assert_string_equal(hex, "00abff");
  assert_int_equal(mc_hex_decode("00ABfF", out, 3), 0);
  assert_memory_equal(in, out, 3);
}

static void test_hex_decode_rejects(void **state) {
  (void)state;
  static const char *const bad[] = {
      "00abf",   /* odd length / too short */
      "00abff0", /* too long */
      "00abfg",  /* not hex */
      "00 bff",  /* space */
      "0xabff",  /* prefix */
      "",
  };
  uint8_t out[3];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(mc_hex_decode(bad[i], out, 3), MC_EINVAL);
  assert_int_equal(mc_hex_decode(NULL, out, 3), MC_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sha256_fips_abc),
      cmocka_unit_test(test_dev_keys_match_vectors),
      cmocka_unit_test(test_sign_matches_vector_and_verifies),
      cmocka_unit_test(test_verify_rejects_any_change),
      cmocka_unit_test(test_consensus_domain),
      cmocka_unit_test(test_merkle_vectors),
      cmocka_unit_test(test_merkle_order_matters),
      cmocka_unit_test(test_lthash_vectors),
      cmocka_unit_test(test_lthash_incremental_equals_scratch),
      cmocka_unit_test(test_lthash_absent_account_is_noop),
      cmocka_unit_test(test_lthash_distinguishes_fields),
      cmocka_unit_test(test_hex_round_trip_and_case),
      cmocka_unit_test(test_hex_decode_rejects),
  };
  return cmocka_run_group_tests(tests, mc_vectors_load, mc_vectors_free);
}
