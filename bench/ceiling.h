/*
 * ceiling.h - the ceilings this machine sets, measured in the same run as
 * the figures a benchmark compares with them, and one way of printing both.
 *
 * A benchmark figure means little alone: "4000 appends/s" is good on a
 * laptop disk and poor on NVMe.  Each bench program therefore measures the
 * hardware limit its figure is bounded by (signature verification for
 * admission, one fsync for a durable append) and prints the figure as a
 * ratio of it.  This library is those measurements (mcbench, linked by
 * every bench program) and the printer:
 *
 *   text:  "ceiling  fsync_p50        0.412 ms   (note)"
 *          "         append_p50       1.217 ms  =  2.95x fsync p50  (note)"
 *   JSON:  one object per line, {"bench":"<program>",
 *          "<ceiling>":{"value":..., "unit":..., "is_ceiling":true},
 *          "<figure>":{"value":..., "unit":..., "ceiling":"<name>",
 *                      "ratio":...}, "<note key>":"<text>"}
 *          (each value object may also carry "note"; a non-finite number
 *          is null)
 *
 * Nothing here is a test: no figure passes or fails.
 */
#ifndef MC_BENCH_CEILING_H
#define MC_BENCH_CEILING_H

#include <stddef.h>
#include <stdio.h>

/* Bytes of each message the verify ceilings check: about the size of a
 * transfer's signing encoding (docs/PROTOCOL.md; 90..130 bytes depending
 * on the chain id and the integers' sizes). */
#define MC_BENCH_VERIFY_MSG_LEN 120
/* Distinct (key, message, signature) triples the verify ceilings cycle
 * through, so no cache holds one hot message. */
#define MC_BENCH_VERIFY_SET 4096

/* Seconds since an arbitrary point (CLOCK_MONOTONIC). */
double mc_bench_now(void);

/*
 * ed25519 verifications per second (libsodium crypto_sign_verify_detached)
 * on one core, over MC_BENCH_VERIFY_SET distinct pre-signed messages of
 * MC_BENCH_VERIFY_MSG_LEN bytes, run for about `seconds`.
 * Returns 0, or -1 (with the reason on stderr) if libsodium cannot start
 * or memory runs out.  *rate is set on success.
 */
int mc_bench_verify_one(double seconds, double *rate);

/*
 * The same on every online CPU at once (one pthread per
 * sysconf(_SC_NPROCESSORS_ONLN), started together), summed.  *ncpu
 * (may be NULL) receives the thread count.  Returns 0 or -1 as above.
 */
int mc_bench_verify_all(double seconds, double *rate, int *ncpu);

/* fsync latency in one directory: what a durable append costs at least. */
typedef struct mc_bench_fsync {
  int rounds;    /* rounds measured */
  double p50_ms; /* median latency of one round */
  double p99_ms; /* 99th percentile */
  double per_s;  /* rounds per second over the whole run */
} mc_bench_fsync;

/*
 * Writes 4 KiB at the end of a new temporary file in `dir` and
 * fdatasync()s it, `rounds` times (each round grows the file, so the
 * size change is flushed too, as a store appending to a log must), then
 * removes the file.  Returns 0, or -1 with the reason on stderr.
 */
int mc_bench_fsync_latency(const char *dir, int rounds, mc_bench_fsync *out);

/* The pct-th percentile (nearest rank; 50 is the median) of v[0..n),
 * which it sorts in place; 0 if n == 0. */
double mc_bench_percentile(double *v, size_t n, double pct);

/* ---- printing figures beside their ceiling ---- */

/*
 * One report: a group of figures printed as text lines as they come, or,
 * with json set, gathered into one JSON object printed as one line by
 * mc_bench_end.  A program may print several reports in turn (one per
 * line of JSON).
 */
typedef struct mc_bench_report {
  FILE *out; /* where lines go (stdout) */
  int json;  /* 1: one JSON object line; 0: text lines */
  char *buf; /* the JSON object being built (malloc'd) */
  size_t len, cap;
  int failed; /* an allocation failed: mc_bench_end prints nothing */
} mc_bench_report;

/* Starts a report; `bench` names the program ("ceiling", "store").  */
void mc_bench_begin(mc_bench_report *r, FILE *out, int json, const char *bench);

/* A ceiling: "ceiling  <name>  <value> <unit>  (<note>)".  note may be
 * NULL. */
void mc_bench_ceiling(mc_bench_report *r, const char *name, double value,
                      const char *unit, const char *note);

/*
 * A figure beside its ceiling: "<name>  <value> <unit>  =  <ratio>x
 * <ceiling_name>", where ratio = value / ceiling_value (so 2.0x fsync p50
 * for a latency means twice as slow as one fsync; 0.5x verify for a rate
 * means half the verify rate).  ceiling_name NULL prints the figure alone.
 * note may be NULL.
 */
void mc_bench_figure(mc_bench_report *r, const char *name, double value,
                     const char *unit, double ceiling_value,
                     const char *ceiling_name, const char *note);

/* A string field: text "  <key>: <text>", JSON "<key>":"<text>". */
void mc_bench_note(mc_bench_report *r, const char *key, const char *text);

/* Ends a report: prints the JSON line (json mode); frees the buffer. */
void mc_bench_end(mc_bench_report *r);

#endif /* MC_BENCH_CEILING_H */
