/*
 * test-statefile.c - a plugin's durable state in two slots
 * (host/statefile.c): saves load back across instances, the file grows
 * for a large state, a spoiled newest slot falls back to the state
 * before it, a file with no whole slot is corrupt, and a file in the
 * older format (the bytes as they are) loads and is converted.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "chain/crypto.h"
#include "minichain/error.h"
#include "statefile.h"

#define MAX (1u << 20)

static char dir[] = "/tmp/mc-statefile-XXXXXX";
static char path[256];

static int setup(void **state) {
  (void)state;
  strcpy(dir, "/tmp/mc-statefile-XXXXXX");
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/consensus.state", dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char tmp[300];
  unlink(path);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  unlink(tmp);
  rmdir(dir);
  return 0;
}

static void assert_loads(const char *want) {
  mc_statefile *sf = mc_statefile_new(path, MAX);
  uint8_t *data;
  size_t len;
  assert_int_equal(mc_statefile_load(sf, &data, &len), 0);
  assert_int_equal(len, strlen(want));
  assert_memory_equal(data, want, len);
  free(data);
  mc_statefile_free(sf);
}

static void test_saves_load_back(void **state) {
  (void)state;
  mc_statefile *sf = mc_statefile_new(path, MAX);
  uint8_t *data;
  size_t len;
  assert_int_equal(mc_statefile_load(sf, &data, &len), MC_ENOTFOUND);
  char buf[64];
  for (int i = 0; i < 50; i++) {
    snprintf(buf, sizeof buf, "state number %d", i);
    assert_int_equal(mc_statefile_save(sf, (uint8_t *)buf, strlen(buf)), 0);
    assert_loads(buf); /* what another process would find now */
  }
  assert_int_equal(mc_statefile_save(sf, (uint8_t *)"", 0), 0);
  assert_loads("");
  mc_statefile_free(sf);
}

static void test_large_state_grows_the_file(void **state) {
  (void)state;
  mc_statefile *sf = mc_statefile_new(path, MAX);
  assert_int_equal(mc_statefile_save(sf, (uint8_t *)"small", 5), 0);
  struct stat st0, st1;
  assert_int_equal(stat(path, &st0), 0);
  char *big = malloc(300000);
  memset(big, 'b', 299999);
  big[299999] = 0;
  assert_int_equal(mc_statefile_save(sf, (uint8_t *)big, 299999), 0);
  assert_int_equal(stat(path, &st1), 0);
  assert_true(st1.st_size > st0.st_size);
  assert_loads(big);
  assert_int_equal(mc_statefile_save(sf, (uint8_t *)"after", 5), 0);
  assert_loads("after");
  uint8_t *huge = calloc(1, MAX + 1);
  assert_int_equal(mc_statefile_save(sf, huge, MAX + 1), MC_ETOOBIG);
  assert_loads("after");
  free(huge);
  free(big);
  mc_statefile_free(sf);
}

/* Flips a byte of the file at off. */
static void spoil(off_t off) {
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  uint8_t b;
  assert_int_equal(pread(fd, &b, 1, off), 1);
  b ^= 0xff;
  assert_int_equal(pwrite(fd, &b, 1, off), 1);
  close(fd);
}

static void test_spoiled_newest_slot_falls_back(void **state) {
  (void)state;
  mc_statefile *sf = mc_statefile_new(path, MAX);
  assert_int_equal(mc_statefile_save(sf, (uint8_t *)"first", 5), 0);
  assert_int_equal(mc_statefile_save(sf, (uint8_t *)"second", 6), 0);
  mc_statefile_free(sf);
  /* "first" went to slot 0 of a new file, "second" to slot 1; a torn
   * write of slot 1 (a crash while saving) leaves "first" */
  const off_t slot1 = 4096 + 64 + (64 << 10);
  spoil(slot1 + 64 + 2);
  assert_loads("first");
  /* the next save goes to the spoiled slot and is found */
  sf = mc_statefile_new(path, MAX);
  uint8_t *data;
  size_t len;
  assert_int_equal(mc_statefile_load(sf, &data, &len), 0);
  free(data);
  assert_int_equal(mc_statefile_save(sf, (uint8_t *)"third", 5), 0);
  mc_statefile_free(sf);
  assert_loads("third");
  /* both slots spoiled: corrupt, not empty */
  spoil(4096 + 64);
  spoil(slot1 + 64);
  sf = mc_statefile_new(path, MAX);
  assert_int_equal(mc_statefile_load(sf, &data, &len), MC_ECORRUPT);
  mc_statefile_free(sf);
}

static void test_older_format_loads_and_converts(void **state) {
  (void)state;
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("plain old state", f);
  fclose(f);
  assert_loads("plain old state");
  mc_statefile *sf = mc_statefile_new(path, MAX);
  uint8_t *data;
  size_t len;
  assert_int_equal(mc_statefile_load(sf, &data, &len), 0);
  free(data);
  assert_int_equal(mc_statefile_save(sf, (uint8_t *)"new", 3), 0);
  mc_statefile_free(sf);
  f = fopen(path, "r");
  char head[9] = {0};
  assert_int_equal(fread(head, 1, 8, f), 8);
  fclose(f);
  assert_string_equal(head, "MCSTATE1");
  assert_loads("new");
}

int main(void) {
  assert_int_equal(mc_crypto_init(), 0);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_saves_load_back, setup, teardown),
      cmocka_unit_test_setup_teardown(test_large_state_grows_the_file, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_spoiled_newest_slot_falls_back,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_older_format_loads_and_converts,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
