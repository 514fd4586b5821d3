/*
 * vectors.c - loading and reading tests/data/vectors.json (vectors.h).
 */
#include "vectors.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "chain/crypto.h"
#include "fsutil.h"

static cJSON *vectors;

int mc_vectors_load(void **state) {
  (void)state;
  uint8_t *txt;
  size_t len;
  if (mc_crypto_init() != 0 ||
      mc_read_file(MC_TEST_DATA_DIR "/vectors.json", 1 << 20, &txt, &len) != 0)
    return -1;
  vectors = cJSON_Parse((const char *)txt);
  free(txt);
  return vectors ? 0 : -1;
}

int mc_vectors_free(void **state) {
  (void)state;
  cJSON_Delete(vectors);
  vectors = NULL;
  return 0;
}

static const cJSON *item(const char *name) {
  return cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(vectors, "vectors"), name);
}

const char *vec(const char *name) {
  const cJSON *v = item(name);
  if (!cJSON_IsString(v))
    fail_msg("vectors.json has no string \"%s\"", name);
  return v->valuestring;
}

int vec_int(const char *name) {
  const cJSON *v = item(name);
  if (!cJSON_IsNumber(v))
    fail_msg("vectors.json has no number \"%s\"", name);
  return v->valueint;
}

void vec_bytes(const char *name, uint8_t *out, size_t n) {
  assert_int_equal(mc_hex_decode(vec(name), out, n), 0);
}

void assert_bytes_vec(const uint8_t *p, size_t n, const char *name) {
  char *hex = malloc(2 * n + 1);
  assert_non_null(hex);
  mc_hex_encode(p, n, hex);
  assert_string_equal(hex, vec(name));
  free(hex);
}
