/*
 * runner.h - runs one test of mc-store-check (runner.c).
 */
#ifndef MC_STORE_CHECK_RUNNER_H
#define MC_STORE_CHECK_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "check.h"

/*
 * Runs t in a fresh directory SCRATCH/<name>, with a random stream seeded
 * from run_seed and t's name.  Returns 0 when it passed (its directory is
 * removed), 1 when it failed, with the reason in failure (flen bytes) and
 * its directory kept.
 */
int ck_run(const ck_test *t, const char *scratch, uint64_t run_seed,
           char *failure, size_t flen);

#endif /* MC_STORE_CHECK_RUNNER_H */
