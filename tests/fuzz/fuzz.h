/*
 * fuzz.h - the entry point every fuzz target defines.
 *
 * Each tests/fuzz/fuzz_<area>.c feeds one parser of outside input with
 * arbitrary bytes and checks what must hold for any input: no crash, no
 * leak, no undefined behaviour (the sanitizers see to those), and that
 * whatever is accepted survives a round trip through its encoder.  The
 * same file builds two ways: with libFuzzer (scripts/fuzz.sh, clang) for
 * campaigns, and with regress.c as a plain program that ctest runs over
 * the saved corpus in tests/fuzz/corpus/<area>/.
 */
#ifndef MC_FUZZ_H
#define MC_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with a message: a property every input must have was broken. */
#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                 \
    }                                                                          \
  } while (0)

#endif /* MC_FUZZ_H */
