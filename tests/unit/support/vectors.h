/*
 * vectors.h - the fixed test vectors of tests/data/vectors.json, shared by
 * the unit tests that check bytes against them.
 *
 * The file is written by tools/vectors.py, an independent implementation
 * of docs/PROTOCOL.md in python3 (PyNaCl, msgpack-python, hashlib, ChaCha20
 * from RFC 8439).  Regenerate with:
 *   /usr/bin/python3 tools/vectors.py --json tests/data/vectors.json
 */
#ifndef MC_TEST_VECTORS_H
#define MC_TEST_VECTORS_H

#include <stddef.h>
#include <stdint.h>

/* cmocka group setup / teardown: initialise libsodium and load / free the
 * vectors. */
int mc_vectors_load(void **state);
int mc_vectors_free(void **state);

/* The string vector `name`; fails the test when there is none. */
const char *vec(const char *name);
/* The integer vector `name`; fails the test when there is none. */
int vec_int(const char *name);
/* Decodes the hex vector `name` into exactly n bytes (fails otherwise). */
void vec_bytes(const char *name, uint8_t *out, size_t n);
/* Asserts that p[0..n) is the hex vector `name`. */
void assert_bytes_vec(const uint8_t *p, size_t n, const char *name);

#endif /* MC_TEST_VECTORS_H */
