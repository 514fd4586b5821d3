/*
 * raft_cert_test.c - unit tests of raft.so's commit certificate
 * (examples/consensus-raft/raft_cert.c): what verify_certificate accepts
 * during sync, and everything it must refuse.
 *
 * raft_cert.c is compiled in with a stand-in host whose sign/verify are
 * plain ed25519 (the real host adds its consensus domain; the certificate
 * code only passes bytes through).  Three validators; validator 1 leads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "raft_engine.h"

static uint8_t SK[3][crypto_sign_SECRETKEYBYTES];
static uint8_t PK[3][MC_PUBKEY_LEN];
static int SIGNER = 1; /* whose key the stand-in host signs with */

static int fake_sign(mc_host *h, const uint8_t *msg, size_t len,
                     uint8_t sig[MC_SIG_LEN]) {
  (void)h;
  return crypto_sign_detached(sig, NULL, msg, len, SK[SIGNER]);
}

static int fake_verify(mc_host *h, const uint8_t pk[MC_PUBKEY_LEN],
                       const uint8_t *msg, size_t len,
                       const uint8_t sig[MC_SIG_LEN]) {
  (void)h;
  return crypto_sign_verify_detached(sig, msg, len, pk) == 0 ? 0 : MC_ESIG;
}

static mc_host_api API;
static mc_consensus C;

static int setup(void **state) {
  (void)state;
  if (sodium_init() < 0)
    return -1;
  for (int i = 0; i < 3; i++)
    crypto_sign_keypair(PK[i], SK[i]);
  API.size = sizeof API;
  API.sign = fake_sign;
  API.verify = fake_verify;
  C.api = &API;
  C.n = 3;
  C.self = 1;
  C.keys = PK;
  return 0;
}

/* A block proposed by validator 1 at height 42, and its certificate. */
static void make(mc_block *b, uint8_t cert[RE_CERT_LEN]) {
  memset(b, 0, sizeof *b);
  b->header.height = 42;
  memcpy(b->header.proposer, PK[1], MC_PUBKEY_LEN);
  memset(b->hash, 0x5a, MC_HASH_LEN);
  SIGNER = 1;
  assert_int_equal(re_cert_make(&C, 7, 42, b->hash, cert), 0);
}

static void test_valid(void **state) {
  (void)state;
  mc_block b;
  uint8_t cert[RE_CERT_LEN];
  make(&b, cert);
  assert_int_equal(re_cert_verify(&C, &b, cert, sizeof cert), 0);
  b.txs = NULL; /* header-first sync: no body yet, same answer */
  b.header.tx_count = 9;
  assert_int_equal(re_cert_verify(&C, &b, cert, sizeof cert), 0);
}

static void test_form(void **state) {
  (void)state;
  mc_block b;
  uint8_t cert[RE_CERT_LEN + 1];
  make(&b, cert);
  assert_int_equal(re_cert_verify(&C, &b, cert, RE_CERT_LEN - 1), MC_EDECODE);
  assert_int_equal(re_cert_verify(&C, &b, cert, RE_CERT_LEN + 1), MC_EDECODE);
  assert_int_equal(re_cert_verify(&C, &b, cert, 0), MC_EDECODE);
  assert_int_equal(re_cert_verify(&C, &b, NULL, RE_CERT_LEN), MC_EDECODE);
  cert[0] ^= 1; /* the tag */
  assert_int_equal(re_cert_verify(&C, &b, cert, RE_CERT_LEN), MC_EDECODE);
}

static void test_refused(void **state) {
  (void)state;
  mc_block b;
  uint8_t cert[RE_CERT_LEN], bad[RE_CERT_LEN];
  make(&b, cert);
  size_t term_at = RE_CERT_TAG_LEN, leader_at = RE_CERT_TAG_LEN + 8;

  memcpy(bad, cert, sizeof bad); /* another term than was signed */
  bad[term_at + 7] ^= 1;
  assert_int_equal(re_cert_verify(&C, &b, bad, sizeof bad), MC_ECERT);

  memcpy(bad, cert, sizeof bad); /* term 0 */
  memset(bad + term_at, 0, 8);
  assert_int_equal(re_cert_verify(&C, &b, bad, sizeof bad), MC_ECERT);

  memcpy(bad, cert, sizeof bad); /* no such validator */
  bad[leader_at + 3] = 3;
  assert_int_equal(re_cert_verify(&C, &b, bad, sizeof bad), MC_ECERT);
  bad[leader_at] = 0xff;
  assert_int_equal(re_cert_verify(&C, &b, bad, sizeof bad), MC_ECERT);

  memcpy(bad, cert, sizeof bad); /* names validator 2, not the proposer */
  bad[leader_at + 3] = 2;
  assert_int_equal(re_cert_verify(&C, &b, bad, sizeof bad), MC_ECERT);

  memcpy(bad, cert, sizeof bad); /* a damaged signature */
  bad[RE_CERT_LEN - 1] ^= 0x80;
  assert_int_equal(re_cert_verify(&C, &b, bad, sizeof bad), MC_ECERT);

  mc_block other = b; /* the certificate of another height or block */
  other.header.height = 43;
  assert_int_equal(re_cert_verify(&C, &other, cert, sizeof cert), MC_ECERT);
  other = b;
  other.hash[0] ^= 1;
  assert_int_equal(re_cert_verify(&C, &other, cert, sizeof cert), MC_ECERT);
}

/* Validator 2 signs a certificate naming validator 1, who proposed: the
 * signature is not validator 1's, so it is refused. */
static void test_wrong_signer(void **state) {
  (void)state;
  mc_block b;
  uint8_t cert[RE_CERT_LEN];
  make(&b, cert);
  SIGNER = 2;
  assert_int_equal(re_cert_make(&C, 7, 42, b.hash, cert), 0);
  SIGNER = 1;
  assert_int_equal(re_cert_verify(&C, &b, cert, sizeof cert), MC_ECERT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid),
      cmocka_unit_test(test_form),
      cmocka_unit_test(test_refused),
      cmocka_unit_test(test_wrong_signer),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
