/*
 * test-services.c - the host services table a store gets
 * (host/services.c, mc_node_store_api): the services a store may use are
 * the consensus engine's own functions, every other one refuses with
 * MC_ESTATE (clearing what it would have handed out), and each refusal is
 * logged once, naming the plugin and the service; the engine's table
 * gives random bytes (ABI 1.2).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "minichain/error.h"
#include "node.h"

/* A store's host context: no node behind it, so a refusal that touched
 * the node would crash here. */
static struct mc_host store_host = {NULL, "teststore", NULL, NULL};

static const mc_host_api *api = &mc_node_store_api;

static FILE *log_file;

static int setup(void **state) {
  (void)state;
  log_file = tmpfile();
  assert_non_null(log_file);
  mc_log_setup(log_file, "t", MC_LOG_DEBUG);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  mc_log_setup(stderr, "t", MC_LOG_INFO);
  fclose(log_file);
  return 0;
}

/* How many log lines so far contain `needle`. */
static int lines_with(const char *needle) {
  char line[1024];
  int n = 0;
  fflush(log_file);
  rewind(log_file);
  while (fgets(line, sizeof line, log_file) != NULL)
    if (strstr(line, needle) != NULL)
      n++;
  fseek(log_file, 0, SEEK_END);
  return n;
}

static void test_allowed_are_the_hosts_own(void **state) {
  (void)state;
  const mc_host_api *c = &mc_node_host_api;
  assert_int_equal(api->size, sizeof(mc_host_api));
  assert_ptr_equal(api->log, c->log);
  assert_ptr_equal(api->now_ms, c->now_ms);
  assert_ptr_equal(api->monotonic_ms, c->monotonic_ms);
  assert_ptr_equal(api->hash, c->hash);
  assert_ptr_equal(api->encode_block, c->encode_block);
  assert_ptr_equal(api->decode_block, c->decode_block);
  assert_ptr_equal(api->block_free, c->block_free);
  assert_ptr_equal(api->buf_free, c->buf_free);
}

static void test_every_field_present(void **state) {
  (void)state;
  /* host.h promises every ABI 1.0 service is non-NULL, for stores too. */
  const void *const *fn = (const void *const *)((const char *)api +
                                                 sizeof(size_t));
  size_t n = (sizeof(mc_host_api) - sizeof(size_t)) / sizeof(void *);
  for (size_t i = 0; i < n; i++)
    assert_non_null(fn[i]);
}

static void test_refusals(void **state) {
  (void)state;
  mc_host *h = &store_host;
  uint8_t buf[64] = {0}, sig[MC_SIG_LEN] = {0}, pk[MC_PUBKEY_LEN] = {0};
  uint8_t hash[MC_HASH_LEN];
  uint64_t u = 0;
  mc_block *b = (mc_block *)buf; /* never read: every call below refuses */
  assert_int_equal(api->timer_start(h, 1, NULL, NULL, &u), MC_ESTATE);
  assert_int_equal(api->timer_stop(h, 1), MC_ESTATE);
  assert_int_equal(api->send(h, 0, buf, 1), MC_ESTATE);
  assert_int_equal(api->broadcast(h, buf, 1), MC_ESTATE);
  assert_int_equal(api->sign(h, buf, 1, sig), MC_ESTATE);
  assert_int_equal(api->verify(h, pk, buf, 1, sig), MC_ESTATE);
  assert_int_equal(api->validator_count(h), 0);
  assert_int_equal(api->validator_key(h, 0, pk), MC_ESTATE);
  assert_int_equal(api->self_index(h), -1);
  assert_int_equal(api->head(h, &u, hash), MC_ESTATE);
  assert_int_equal(api->validate_block(h, b), MC_ESTATE);
  assert_int_equal(api->commit_block(h, b, NULL, 0), MC_ESTATE);
  assert_int_equal(api->state_save(h, buf, 1), MC_ESTATE);
  mc_block *out = b;
  assert_int_equal(api->build_block(h, &out), MC_ESTATE);
  assert_null(out);
  out = b;
  assert_int_equal(api->get_block(h, 0, &out), MC_ESTATE);
  assert_null(out);
  uint8_t *data = buf;
  size_t len = 9;
  assert_int_equal(api->state_load(h, &data, &len), MC_ESTATE);
  assert_null(data);
  assert_int_equal(len, 0);
  assert_true(MC_HOST_HAS(api, random_bytes));
  assert_int_equal(api->random_bytes(h, buf, sizeof buf), MC_ESTATE);
}

/* ABI 1.2: the engine's randomness, from the operating system. */
static void test_random_bytes(void **state) {
  (void)state;
  const mc_host_api *c = &mc_node_host_api;
  uint8_t a[32] = {0}, b[32] = {0}, zero[32] = {0};
  assert_true(MC_HOST_HAS(c, random_bytes));
  assert_int_equal(c->random_bytes(&store_host, a, sizeof a), 0);
  assert_int_equal(c->random_bytes(&store_host, b, sizeof b), 0);
  /* 2^-256 chances each of a false failure */
  assert_memory_not_equal(a, zero, sizeof a);
  assert_memory_not_equal(a, b, sizeof a);
  assert_int_equal(c->random_bytes(&store_host, NULL, 0), 0);
  assert_int_equal(c->random_bytes(&store_host, NULL, 1), MC_EINVAL);
}

static void test_refusal_logged_once(void **state) {
  (void)state;
  mc_host *h = &store_host;
  mc_block *out;
  int before = lines_with("plugin_service_refused");
  api->get_block(h, 1, &out);
  api->get_block(h, 2, &out);
  api->get_block(h, 3, &out);
  /* test_refusals may have run first and logged it already: at most one
   * line for get_block, whatever the order. */
  assert_int_equal(lines_with("\"service\":\"get_block\""), 1);
  assert_true(lines_with("plugin_service_refused") - before <= 1);
  assert_int_equal(lines_with("\"plugin\":\"teststore\""),
                   lines_with("plugin_service_refused"));
}

static void test_hash_works(void **state) {
  (void)state;
  uint8_t a[MC_HASH_LEN], b[MC_HASH_LEN];
  api->hash(&store_host, (const uint8_t *)"abc", 3, a);
  mc_node_host_api.hash(&store_host, (const uint8_t *)"abc", 3, b);
  assert_memory_equal(a, b, MC_HASH_LEN);
  /* SHA-256("abc") begins ba 78 16 bf */
  assert_int_equal(a[0], 0xba);
  assert_int_equal(a[1], 0x78);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_allowed_are_the_hosts_own),
      cmocka_unit_test(test_every_field_present),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_refusal_logged_once),
      cmocka_unit_test(test_hash_works),
      cmocka_unit_test(test_random_bytes),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
