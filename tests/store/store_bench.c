/*
 * store_bench.c - what one append and one open cost a store plugin, at
 * the chain length it has.  Not a test (timed figures are for reading,
 * DESIGN §8); built beside the store tests so that any store can be
 * measured the same way.
 *
 *   store_bench STORE.so DIR grow N NTX    append until DIR holds N blocks
 *                                          of NTX transfers; prints the
 *                                          append times per tenth (mean,
 *                                          p50, p99, max)
 *   store_bench STORE.so DIR append M NTX  open, append M more blocks,
 *                                          close; prints each phase
 *   store_bench STORE.so DIR open          open and close; prints both
 *
 * Blocks are synthetic (store_host.h): random signature bytes, real ids
 * and hashes, 1000 accounts, a 200-byte certificate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "chain/codec.h"
#include "minichain/error.h"
#include "store_host.h"

static const mc_store_vtable *vt;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static mc_store *open_timed(const char *dir, double *ms) {
  char err[1024];
  mc_store *s = NULL;
  double t0 = now_ms();
  int rc = vt->open(&sh_api, sh_host(), dir, &s, err, sizeof err);
  *ms = now_ms() - t0;
  if (rc != 0) {
    fprintf(stderr, "open %s: %s: %s\n", dir, mc_err_name(rc), err);
    exit(1);
  }
  return s;
}

/* Sets g to continue the chain in s. */
static uint64_t continue_chain(mc_store *s, sh_gen *g) {
  uint64_t head;
  uint8_t hash[MC_HASH_LEN];
  if (vt->head(s, &head, hash) != 0)
    return 0;
  sh_gen_continue(g, head + 1, hash);
  return head + 1;
}

/* Appends one block from g; returns its time in ms. */
static double append_one(mc_store *s, sh_gen *g) {
  mc_account *chg;
  size_t nchg;
  mc_block *b = sh_gen_next(g, &chg, &nchg);
  if (b == NULL) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  double t0 = now_ms();
  int rc = vt->append(s, b, chg, nchg);
  double ms = now_ms() - t0;
  if (ms >= 50)
    printf("  slow append: height %llu took %.1f ms\n",
           (unsigned long long)b->header.height, ms);
  if (rc != 0) {
    fprintf(stderr, "append %llu: %s\n", (unsigned long long)b->header.height,
            mc_err_name(rc));
    exit(1);
  }
  mc_block_free(b);
  free(chg);
  return ms;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Mean, median, 99th percentile and maximum of k append times. */
static void print_window(const char *what, uint64_t from, uint64_t to,
                         double *ms, size_t k) {
  if (k == 0)
    return;
  double sum = 0;
  for (size_t i = 0; i < k; i++)
    sum += ms[i];
  qsort(ms, k, sizeof *ms, by_value);
  printf("%s %llu..%llu: mean %.2f ms, p50 %.2f, p99 %.2f, max %.1f\n", what,
         (unsigned long long)from, (unsigned long long)to, sum / (double)k,
         ms[k / 2], ms[k * 99 / 100], ms[k - 1]);
  fflush(stdout);
}

static long long dir_bytes(const char *dir) {
  const char *names[] = {"chain.json", "chain.journal", "chain.journal.old"};
  long long total = 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    if (stat(p, &st) == 0)
      total += st.st_size;
  }
  return total;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s STORE.so DIR grow N NTX | append M NTX | open\n",
            argv[0]);
    return 2;
  }
  if ((vt = sh_load_store(argv[1])) == NULL)
    return 2;
  const char *dir = argv[2], *cmd = argv[3];
  mkdir(dir, 0755);
  double open_ms, close_ms;
  mc_store *s = open_timed(dir, &open_ms);
  sh_gen g;
  uint32_t ntx = argc > 5 ? (uint32_t)atoi(argv[5]) : 0;
  if (sh_gen_init(&g, ntx, 1000, 200) != 0)
    return 1;
  uint64_t have = continue_chain(s, &g);
  printf("open: %.1f ms at %llu blocks, %.1f MB on disk\n", open_ms,
         (unsigned long long)have, dir_bytes(dir) / 1e6);
  if (strcmp(cmd, "grow") == 0 && argc == 6) {
    uint64_t n = strtoull(argv[4], NULL, 10), step = n / 10 ? n / 10 : 1;
    double *ms = malloc(step * sizeof *ms);
    while (ms != NULL && have < n) {
      size_t k = 0;
      uint64_t from = have;
      for (; have < n && have < from + step; have++)
        ms[k++] = append_one(s, &g);
      print_window("append: heights", from, have - 1, ms, k);
    }
    free(ms);
  } else if (strcmp(cmd, "append") == 0 && argc == 6) {
    uint64_t m = strtoull(argv[4], NULL, 10);
    double *ms = malloc((m ? m : 1) * sizeof *ms);
    for (uint64_t i = 0; ms != NULL && i < m; i++)
      ms[i] = append_one(s, &g);
    if (ms != NULL)
      print_window("append: heights", have, have + m - 1, ms, (size_t)m);
    free(ms);
  } else if (strcmp(cmd, "open") != 0) {
    fprintf(stderr, "unknown command %s\n", cmd);
    return 2;
  }
  double t0 = now_ms();
  vt->close(s);
  close_ms = now_ms() - t0;
  printf("close: %.1f ms, %.1f MB on disk\n", close_ms, dir_bytes(dir) / 1e6);
  sh_gen_free(&g);
  return 0;
}
