/*
 * test-genesis.c - the genesis document (host/chain/genesis.c): the valid
 * file against fixed vectors, every parse error with the field its message
 * names, defaults, and the write/read round trip.
 *
 * genesis_hash, genesis_state_root and genesis_block_hash come from
 * tests/data/vectors.json, computed from tests/data/genesis-valid.json by
 * tools/vectors.py (an independent python3 implementation); regenerate with
 *   /usr/bin/python3 tools/vectors.py --json tests/data/vectors.json
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "chain/codec.h"
#include "chain/crypto.h"
#include "chain/genesis.h"
#include "fsutil.h"
#include "minichain/error.h"
#include "support/vectors.h"

static void assert_hash_vec(const uint8_t h[MC_HASH_LEN], const char *name) {
  char hex[2 * MC_HASH_LEN + 1];
  mc_hex_encode(h, MC_HASH_LEN, hex);
  assert_string_equal(hex, vec(name));
}

#define PK1 "5ff3998ec6e5f951799e50d7ee59777f52a937a437f19947e74c2aaff1f837e6"
#define PK2 "05a92a8c77441a8fc6e18c65662d7ec525a8a6ed9e1846865362d9557e6e817d"

static void test_valid_file(void **state) {
  (void)state;
  mc_genesis g;
  char err[256];
  mc_block *b0 = NULL;
  assert_int_equal(mc_genesis_load(MC_TEST_DATA_DIR "/genesis-valid.json", &g,
                                   err, sizeof err),
                   0);
  assert_string_equal(g.chain_id, "minichain-devnet");
  assert_true(g.genesis_time_ms == 1764000000000ull);
  assert_int_equal(g.validator_count, 4);
  assert_int_equal(g.alloc_count, 3);
  /* sorted by key; the upper-case key parsed; the string balance kept */
  assert_int_equal(g.alloc[0].pubkey[0], 0x98);
  assert_int_equal(g.alloc[1].pubkey[0], 0xd7);
  assert_int_equal(g.alloc[1].balance, 42);
  assert_true(g.alloc[2].balance == 10000000000000000000ull);
  assert_int_equal(g.max_txs_per_block, 200);
  assert_int_equal(g.block_interval_ms, MC_DEFAULT_BLOCK_INTERVAL_MS);
  assert_int_equal(g.view_timeout_ms, 3000);
  assert_hash_vec(g.hash, "genesis_hash");
  assert_int_equal(mc_genesis_block(&g, &b0), 0);
  assert_hash_vec(b0->header.state_root, "genesis_state_root");
  assert_hash_vec(b0->hash, "genesis_block_hash");
  uint32_t idx = 99;
  assert_true(mc_genesis_validator_index(&g, g.validators[2], &idx));
  assert_int_equal(idx, 2);
  assert_false(mc_genesis_validator_index(&g, g.alloc[0].pubkey, NULL));
  mc_block_free(b0);
  mc_genesis_free(&g);
}

/* Written out and read back, a genesis keeps its hash; the hash does not
 * depend on whitespace, key order or hex case. */
static void test_round_trip(void **state) {
  (void)state;
  mc_genesis g, back;
  char err[256];
  assert_int_equal(mc_genesis_load(MC_TEST_DATA_DIR "/genesis-valid.json", &g,
                                   err, sizeof err),
                   0);
  char *json = mc_genesis_to_json(&g);
  assert_non_null(json);
  assert_int_equal(mc_genesis_parse(json, strlen(json), &back, err, sizeof err),
                   0);
  assert_memory_equal(back.hash, g.hash, MC_HASH_LEN);
  assert_int_equal(back.max_txs_per_block, g.max_txs_per_block);
  assert_int_equal(back.block_interval_ms, g.block_interval_ms);
  assert_true(back.alloc[2].balance == g.alloc[2].balance);
  /* the large balance goes out as a decimal string */
  assert_non_null(strstr(json, "\"10000000000000000000\""));
  free(json);
  mc_genesis_free(&back);

  static const char reordered[] =
      "{\"params\":{\"view_timeout_ms\":3000,\"max_txs_per_block\":200},"
      "\"alloc\":{"
      "\"d7317783c2f13ff53a53e845596ecc120b225983ced82d8232666a7780291dc9\":42,"
      "\"E6E4D2E1F564147BD4076758C5BFAADD68B95D7443923B34E80ABB7527296F7A\":"
      "\"10000000000000000000\","
      "\"987ffd1ed321751a335c2e264a3dbd5640fad33d875362f34c3acdb40630f220\":"
      "1000000},"
      "\"validators\":["
      "\"5ff3998ec6e5f951799e50d7ee59777f52a937a437f19947e74c2aaff1f837e6\","
      "\"05a92a8c77441a8fc6e18c65662d7ec525a8a6ed9e1846865362d9557e6e817d\","
      "\"0db097f934c7210e2e5e87f860e3a7066256ec21c1008585f1204635aa63fac7\","
      "\"fbf6cd2c6a8f90bcbbbb73abb7e018bd67b289ec7fce0cf17dd15a2758758847\"],"
      "\"genesis_time_ms\":1764000000000,\"chain_id\":\"minichain-devnet\"}";
  assert_int_equal(
      mc_genesis_parse(reordered, strlen(reordered), &back, err, sizeof err), 0);
  assert_memory_equal(back.hash, g.hash, MC_HASH_LEN);
  mc_genesis_free(&back);
  mc_genesis_free(&g);
}

static void test_defaults_and_validator_order(void **state) {
  (void)state;
  mc_genesis a, b;
  char err[256];
  static const char one[] = "{\"chain_id\":\"x\",\"genesis_time_ms\":0,"
                            "\"validators\":[\"" PK1 "\",\"" PK2 "\"],"
                            "\"alloc\":{}}";
  static const char two[] = "{\"chain_id\":\"x\",\"genesis_time_ms\":0,"
                            "\"validators\":[\"" PK2 "\",\"" PK1 "\"],"
                            "\"alloc\":{}}";
  assert_int_equal(mc_genesis_parse(one, strlen(one), &a, err, sizeof err), 0);
  assert_int_equal(a.max_txs_per_block, MC_DEFAULT_MAX_TXS_PER_BLOCK);
  assert_int_equal(a.block_interval_ms, MC_DEFAULT_BLOCK_INTERVAL_MS);
  assert_int_equal(a.view_timeout_ms, MC_DEFAULT_VIEW_TIMEOUT_MS);
  assert_int_equal(a.alloc_count, 0);
  assert_int_equal(mc_genesis_parse(two, strlen(two), &b, err, sizeof err), 0);
  /* leader order is part of the chain's identity */
  assert_memory_not_equal(a.hash, b.hash, MC_HASH_LEN);
  mc_genesis_free(&a);
  mc_genesis_free(&b);
}

/* Documents built from pieces, so each case shows only what is wrong. */
#define VALS "\"validators\":[\"" PK1 "\"]"
#define HEAD "\"chain_id\":\"c\",\"genesis_time_ms\":1,"
#define ALLOC(x) ",\"alloc\":{" x "}"
#define DOC(x) "{" x "}"

static void test_parse_errors(void **state) {
  (void)state;
  static const struct {
    const char *json;
    const char *msg; /* substring of the error */
  } cases[] = {
      {"", "invalid JSON at line 1 column 1"},
      {"{\n \"chain_id\": \"c\",\n ]", "invalid JSON at line 3"},
      {DOC(HEAD VALS ALLOC("")) " x", "invalid JSON"},
      {"[]", "not a JSON object"},
      {DOC("\"genesis_time_ms\":1," VALS ALLOC("")), "chain_id: missing"},
      {DOC("\"chain_id\":7,\"genesis_time_ms\":1," VALS ALLOC("")),
       "chain_id: must be"},
      {DOC("\"chain_id\":\"a b\",\"genesis_time_ms\":1," VALS ALLOC("")),
       "chain_id: must be"},
      {DOC("\"chain_id\":\"\",\"genesis_time_ms\":1," VALS ALLOC("")),
       "chain_id: must be"},
      {DOC("\"chain_id\":\"ccccccccccccccccccccccccccccccccc\","
           "\"genesis_time_ms\":1," VALS ALLOC("")),
       "chain_id: must be"},
      {DOC("\"chain_id\":\"c\"," VALS ALLOC("")), "genesis_time_ms: missing"},
      {DOC("\"chain_id\":\"c\",\"genesis_time_ms\":-1," VALS ALLOC("")),
       "genesis_time_ms: must be"},
      {DOC("\"chain_id\":\"c\",\"genesis_time_ms\":1.5," VALS ALLOC("")),
       "genesis_time_ms: must be"},
      {DOC("\"chain_id\":\"c\",\"genesis_time_ms\":\"1\"," VALS ALLOC("")),
       "genesis_time_ms: must be"},
      {DOC(HEAD "\"alloc\":{}"), "validators: missing"},
      {DOC(HEAD "\"validators\":[]" ALLOC("")), "validators: must be"},
      {DOC(HEAD "\"validators\":\"" PK1 "\"" ALLOC("")), "validators: must be"},
      {DOC(HEAD "\"validators\":[\"" PK1 "\",\"abc\"]" ALLOC("")),
       "validators[1]: not 64 hex digits"},
      {DOC(HEAD "\"validators\":[\"" PK1 "\",7]" ALLOC("")),
       "validators[1]: not 64 hex digits"},
      {DOC(HEAD "\"validators\":[\"zz" PK1 "\"]" ALLOC("")),
       "validators[0]: not 64 hex digits"},
      {DOC(HEAD "\"validators\":[\"" PK1 "\",\"" PK2 "\",\"" PK1 "\"]"
                ALLOC("")),
       "validators[2]: duplicate of validators[0]"},
      {DOC(HEAD VALS), "alloc: missing"},
      {DOC(HEAD VALS ",\"alloc\":[]"), "alloc: must be an object"},
      {DOC(HEAD VALS ALLOC("\"xyz\":1")), "key is not 64 hex digits"},
      {DOC(HEAD VALS ALLOC("\"" PK1 "\":0")), "balance must be at least 1"},
      {DOC(HEAD VALS ALLOC("\"" PK1 "\":-5")), "balance must be an integer"},
      {DOC(HEAD VALS ALLOC("\"" PK1 "\":1.5")), "balance must be an integer"},
      {DOC(HEAD VALS ALLOC("\"" PK1 "\":9007199254740992")),
       "balance must be an integer"},
      {DOC(HEAD VALS ALLOC("\"" PK1 "\":\"12a\"")), "decimal digits"},
      {DOC(HEAD VALS ALLOC("\"" PK1 "\":\"18446744073709551616\"")),
       "decimal digits"},
      {DOC(HEAD VALS ALLOC("\"" PK1 "\":\"\"")), "decimal digits"},
      {DOC(HEAD VALS ALLOC("\"" PK1 "\":true")), "balance must be an integer"},
      {DOC(HEAD VALS ALLOC("\"" PK1 "\":\"18446744073709551615\",\"" PK2
                           "\":1")),
       "alloc: total supply exceeds 2^64-1"},
      {DOC(HEAD VALS ALLOC("\"" PK1 "\":1,\"5FF3998EC6E5F951799E50D7EE59777F"
                           "52A937A437F19947E74C2AAFF1F837E6\":2")),
       "account listed twice"},
      {DOC(HEAD VALS ALLOC("") ",\"extra\":1"), "unknown key \"extra\""},
      {DOC(HEAD VALS ALLOC("") ",\"chain_id\":\"c\""),
       "duplicate key \"chain_id\""},
      {DOC(HEAD VALS ALLOC("") ",\"params\":1"), "params: must be an object"},
      {DOC(HEAD VALS ALLOC("") ",\"params\":{\"max_txs\":5}"),
       "params: unknown key \"max_txs\""},
      {DOC(HEAD VALS ALLOC("") ",\"params\":{\"max_txs_per_block\":0}"),
       "params.max_txs_per_block: must be an integer in 1..10000"},
      {DOC(HEAD VALS ALLOC("") ",\"params\":{\"max_txs_per_block\":10001}"),
       "params.max_txs_per_block"},
      {DOC(HEAD VALS ALLOC("") ",\"params\":{\"block_interval_ms\":9}"),
       "params.block_interval_ms"},
      {DOC(HEAD VALS ALLOC("") ",\"params\":{\"view_timeout_ms\":\"4000\"}"),
       "params.view_timeout_ms"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mc_genesis g;
    char err[256] = "";
    const char *j = cases[i].json;
    int rc = mc_genesis_parse(j, strlen(j), &g, err, sizeof err);
    print_message("case %zu: %s\n  -> %s\n", i, j, err);
    assert_int_equal(rc, MC_EINVAL);
    assert_true(strncmp(err, "genesis: ", 9) == 0);
    if (strstr(err, cases[i].msg) == NULL)
      fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, err,
               cases[i].msg);
    /* a failed parse leaves nothing to free */
    assert_null(g.validators);
    assert_null(g.alloc);
  }
}

static void test_load_errors_name_the_path(void **state) {
  (void)state;
  mc_genesis g;
  char err[512];
  char path[] = "/tmp/mc-test-genesis-XXXXXX";
  assert_int_equal(mc_genesis_load("/nonexistent/genesis.json", &g, err,
                                   sizeof err),
                   MC_EIO);
  assert_non_null(strstr(err, "/nonexistent/genesis.json: cannot read"));
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "{\"chain_id\":1}", 14), 14);
  close(fd);
  assert_int_equal(mc_genesis_load(path, &g, err, sizeof err), MC_EINVAL);
  assert_non_null(strstr(err, path));
  assert_non_null(strstr(err, "chain_id"));
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_file),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_defaults_and_validator_order),
      cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_load_errors_name_the_path),
  };
  return cmocka_run_group_tests(tests, mc_vectors_load, mc_vectors_free);
}
