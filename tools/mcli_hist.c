/*
 * mcli_hist.c - the latency histogram of `mcli load` (mcli.h): log-linear
 * buckets, so that percentiles of millions of submit-to-commit times cost
 * a fixed 9 KiB instead of an array that grows with the run.
 *
 * Bucket layout: values 0..63 us have a bucket each; above, each power of
 * two [2^e, 2^(e+1)) for e = 6..39 is cut into MCLI_HIST_SUB equal parts.
 */
#include <string.h>

#include "mcli.h"

static unsigned top_bit(uint64_t v) {
  return 63u - (unsigned)__builtin_clzll(v);
}

static size_t bucket_of(uint64_t us) {
  if (us < 64)
    return (size_t)us;
  unsigned e = top_bit(us);
  if (e >= 40)
    return MCLI_HIST_BUCKETS - 1;
  uint64_t sub = (us - ((uint64_t)1 << e)) >> (e - 5); /* 5 = log2(SUB) */
  return 64 + (size_t)(e - 6) * MCLI_HIST_SUB + (size_t)sub;
}

/* The largest value bucket b holds. */
static uint64_t bucket_top(size_t b) {
  if (b < 64)
    return b;
  size_t e = 6 + (b - 64) / MCLI_HIST_SUB, sub = (b - 64) % MCLI_HIST_SUB;
  uint64_t width = (uint64_t)1 << (e - 5);
  return ((uint64_t)1 << e) + (sub + 1) * width - 1;
}

void mcli_hist_add(mcli_hist *h, uint64_t us) {
  h->n[bucket_of(us)]++;
  h->count++;
  h->sum_us += us;
  if (us > h->max_us)
    h->max_us = us;
}

uint64_t mcli_hist_quantile(const mcli_hist *h, double q) {
  if (h->count == 0)
    return 0;
  if (q >= 1.0)
    return h->max_us;
  /* rank: how many values must lie at or below the answer (at least 1) */
  uint64_t rank = (uint64_t)(q * (double)h->count);
  if ((double)rank < q * (double)h->count)
    rank++;
  if (rank == 0)
    rank = 1;
  uint64_t seen = 0;
  for (size_t b = 0; b < MCLI_HIST_BUCKETS; b++) {
    seen += h->n[b];
    if (seen >= rank) {
      uint64_t top = bucket_top(b);
      return top < h->max_us ? top : h->max_us;
    }
  }
  return h->max_us;
}
