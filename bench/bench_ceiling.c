/*
 * bench_ceiling.c - prints this machine's ceilings, measured now: ed25519
 * verifications per second on one core and on every core, and fsync
 * latency in a directory.  Every other bench program measures the ceiling
 * it needs itself; this one is for reading them alone, or for scripts.
 *
 *   bench-ceiling [--json] [--dir D]    (D: where to time fsync; default .)
 *
 * Not a pass/fail test.
 */
#include <stdio.h>
#include <string.h>

#include "ceiling.h"

static int usage(const char *argv0) {
  fprintf(stderr, "usage: %s [--json] [--dir DIR]\n", argv0);
  return 2;
}

int main(int argc, char **argv) {
  int json = 0;
  const char *dir = ".";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0)
      json = 1;
    else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
      dir = argv[++i];
    else
      return usage(argv[0]);
  }
  double one, all;
  int ncpu;
  mc_bench_fsync fs;
  if (mc_bench_verify_one(1.0, &one) != 0 ||
      mc_bench_verify_all(1.0, &all, &ncpu) != 0 ||
      mc_bench_fsync_latency(dir, 200, &fs) != 0)
    return 1;

  char note[256];
  mc_bench_report r;
  mc_bench_begin(&r, stdout, json, "ceiling");
  snprintf(note, sizeof note, "one core, %d-byte messages, %d keys",
           MC_BENCH_VERIFY_MSG_LEN, MC_BENCH_VERIFY_SET);
  mc_bench_ceiling(&r, "ed25519_verify_one_core", one, "/s", note);
  snprintf(note, sizeof note, "%d threads, one per online CPU, summed", ncpu);
  mc_bench_ceiling(&r, "ed25519_verify_all_cores", all, "/s", note);
  snprintf(note, sizeof note, "4 KiB append + fdatasync in %s, %d rounds", dir,
           fs.rounds);
  mc_bench_ceiling(&r, "fsync_p50", fs.p50_ms, "ms", note);
  mc_bench_ceiling(&r, "fsync_p99", fs.p99_ms, "ms", NULL);
  mc_bench_ceiling(&r, "fsync_rate", fs.per_s, "/s", NULL);
  mc_bench_end(&r);
  return 0;
}
