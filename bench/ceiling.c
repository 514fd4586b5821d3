/*
 * ceiling.c - measures the machine's ceilings (ed25519 verify rate on one
 * core and on all, fsync latency in a directory) and prints benchmark
 * figures beside them, as text lines or one JSON object per report.
 * See ceiling.h.
 */
#define _GNU_SOURCE
#include "ceiling.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double mc_bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double mc_bench_percentile(double *v, size_t n, double pct) {
  if (n == 0)
    return 0;
  qsort(v, n, sizeof *v, cmp_double);
  size_t rank = (size_t)ceil(pct / 100.0 * (double)n);
  if (rank < 1)
    rank = 1;
  if (rank > n)
    rank = n;
  return v[rank - 1];
}

/* ---- ed25519 verification ---- */

/* MC_BENCH_VERIFY_SET signed messages, each under its own key: made once,
 * read-only afterwards, shared by every verifying thread. */
typedef struct verify_set {
  uint8_t pk[MC_BENCH_VERIFY_SET][crypto_sign_PUBLICKEYBYTES];
  uint8_t msg[MC_BENCH_VERIFY_SET][MC_BENCH_VERIFY_MSG_LEN];
  uint8_t sig[MC_BENCH_VERIFY_SET][crypto_sign_BYTES];
} verify_set;

static verify_set *g_set;

static int verify_set_make(void) {
  if (g_set != NULL)
    return 0;
  if (sodium_init() < 0) {
    fprintf(stderr, "ceiling: libsodium cannot start\n");
    return -1;
  }
  verify_set *s = malloc(sizeof *s);
  if (s == NULL) {
    fprintf(stderr, "ceiling: out of memory\n");
    return -1;
  }
  for (size_t i = 0; i < MC_BENCH_VERIFY_SET; i++) {
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(s->pk[i], sk);
    randombytes_buf(s->msg[i], MC_BENCH_VERIFY_MSG_LEN);
    crypto_sign_detached(s->sig[i], NULL, s->msg[i], MC_BENCH_VERIFY_MSG_LEN,
                         sk);
    sodium_memzero(sk, sizeof sk);
  }
  g_set = s;
  return 0;
}

/* Verifies from `start` onwards, round the set, for `seconds`; returns the
 * rate.  A failed verification would mean a broken library: abort. */
static double verify_loop(size_t start, double seconds) {
  size_t done = 0, i = start % MC_BENCH_VERIFY_SET;
  double t0 = mc_bench_now(), t;
  do {
    for (int k = 0; k < 256; k++) {
      if (crypto_sign_verify_detached(g_set->sig[i], g_set->msg[i],
                                      MC_BENCH_VERIFY_MSG_LEN,
                                      g_set->pk[i]) != 0)
        abort();
      done++;
      i = (i + 1) % MC_BENCH_VERIFY_SET;
    }
    t = mc_bench_now();
  } while (t - t0 < seconds);
  return (double)done / (t - t0);
}

int mc_bench_verify_one(double seconds, double *rate) {
  if (verify_set_make() != 0)
    return -1;
  *rate = verify_loop(0, seconds);
  return 0;
}

typedef struct verify_thread {
  pthread_t tid;
  pthread_barrier_t *start;
  size_t first;
  double seconds;
  double rate; /* out */
} verify_thread;

static void *verify_thread_main(void *arg) {
  verify_thread *v = arg;
  pthread_barrier_wait(v->start);
  v->rate = verify_loop(v->first, v->seconds);
  return NULL;
}

int mc_bench_verify_all(double seconds, double *rate, int *ncpu) {
  if (verify_set_make() != 0)
    return -1;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1)
    n = 1;
  verify_thread *t = calloc((size_t)n, sizeof *t);
  pthread_barrier_t start;
  if (t == NULL || pthread_barrier_init(&start, NULL, (unsigned)n) != 0) {
    fprintf(stderr, "ceiling: cannot start %ld threads\n", n);
    free(t);
    return -1;
  }
  long started = 0;
  for (; started < n; started++) {
    t[started].start = &start;
    t[started].first = (size_t)started * MC_BENCH_VERIFY_SET / (size_t)n;
    t[started].seconds = seconds;
    if (pthread_create(&t[started].tid, NULL, verify_thread_main,
                       &t[started]) != 0)
      break;
  }
  if (started < n) {
    /* The barrier waits for n threads: one that never started would
     * leave the others waiting for ever. */
    fprintf(stderr, "ceiling: pthread_create failed after %ld threads\n",
            started);
    abort();
  }
  double sum = 0;
  for (long i = 0; i < n; i++) {
    pthread_join(t[i].tid, NULL);
    sum += t[i].rate;
  }
  pthread_barrier_destroy(&start);
  free(t);
  *rate = sum;
  if (ncpu != NULL)
    *ncpu = (int)n;
  return 0;
}

/* ---- fsync ---- */

int mc_bench_fsync_latency(const char *dir, int rounds, mc_bench_fsync *out) {
  char path[4096];
  static char block[4096];
  if (rounds < 1)
    rounds = 1;
  if ((size_t)snprintf(path, sizeof path, "%s/mc-bench-fsync-XXXXXX", dir) >=
      sizeof path) {
    fprintf(stderr, "ceiling: directory name too long: %s\n", dir);
    return -1;
  }
  int fd = mkstemp(path);
  if (fd < 0) {
    fprintf(stderr, "ceiling: cannot create a file in %s: %s\n", dir,
            strerror(errno));
    return -1;
  }
  double *lat = malloc((size_t)rounds * sizeof *lat);
  if (lat == NULL) {
    close(fd);
    unlink(path);
    fprintf(stderr, "ceiling: out of memory\n");
    return -1;
  }
  memset(block, 0xa5, sizeof block);
  int rc = 0;
  double t0 = mc_bench_now();
  for (int i = 0; i < rounds; i++) {
    double a = mc_bench_now();
    if (pwrite(fd, block, sizeof block, (off_t)i * (off_t)sizeof block) !=
            (ssize_t)sizeof block ||
        fdatasync(fd) != 0) {
      fprintf(stderr, "ceiling: write or fdatasync in %s: %s\n", dir,
              strerror(errno));
      rc = -1;
      break;
    }
    lat[i] = (mc_bench_now() - a) * 1e3;
  }
  double total = mc_bench_now() - t0;
  close(fd);
  unlink(path);
  if (rc == 0) {
    out->rounds = rounds;
    out->per_s = (double)rounds / total;
    out->p99_ms = mc_bench_percentile(lat, (size_t)rounds, 99);
    out->p50_ms = mc_bench_percentile(lat, (size_t)rounds, 50);
  }
  free(lat);
  return rc;
}

/* ---- the report printer ---- */

static void buf_add(mc_bench_report *r, const char *fmt, ...) {
  if (r->failed)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->buf ? r->buf + r->len : NULL,
                      r->buf ? r->cap - r->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      r->failed = 1;
      return;
    }
    if (r->buf != NULL && r->len + (size_t)n < r->cap) {
      r->len += (size_t)n;
      return;
    }
    size_t cap = (r->cap ? r->cap * 2 : 256) + (size_t)n;
    char *p = realloc(r->buf, cap);
    if (p == NULL) {
      r->failed = 1;
      return;
    }
    r->buf = p;
    r->cap = cap;
  }
}

static void buf_str(mc_bench_report *r, const char *s) {
  buf_add(r, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      buf_add(r, "\\%c", c);
    else if (c < 0x20)
      buf_add(r, "\\u%04x", c);
    else
      buf_add(r, "%c", c);
  }
  buf_add(r, "\"");
}

/* A value for a text line: integers (counts, bytes) without decimals,
 * their last digit where a fraction's last integer digit would be. */
static void print_value(FILE *out, double v) {
  if (isfinite(v) && v == floor(v) && fabs(v) < 1e15)
    fprintf(out, "%8.0f    ", v);
  else
    fprintf(out, "%12.3f", v);
}

/* JSON has no inf or nan. */
static void buf_num(mc_bench_report *r, double v) {
  if (isfinite(v))
    buf_add(r, "%.6g", v);
  else
    buf_add(r, "null");
}

void mc_bench_begin(mc_bench_report *r, FILE *out, int json,
                    const char *bench) {
  memset(r, 0, sizeof *r);
  r->out = out;
  r->json = json;
  if (json) {
    buf_add(r, "{\"bench\":");
    buf_str(r, bench);
  }
}

void mc_bench_ceiling(mc_bench_report *r, const char *name, double value,
                      const char *unit, const char *note) {
  if (r->json) {
    buf_add(r, ",");
    buf_str(r, name);
    buf_add(r, ":{\"value\":");
    buf_num(r, value);
    buf_add(r, ",\"unit\":");
    buf_str(r, unit);
    buf_add(r, ",\"is_ceiling\":true");
    if (note != NULL) {
      buf_add(r, ",\"note\":");
      buf_str(r, note);
    }
    buf_add(r, "}");
    return;
  }
  fprintf(r->out, "ceiling  %-30s ", name);
  print_value(r->out, value);
  fputc(' ', r->out);
  if (note != NULL)
    fprintf(r->out, "%-8s  (%s)\n", unit, note);
  else
    fprintf(r->out, "%s\n", unit);
}

void mc_bench_figure(mc_bench_report *r, const char *name, double value,
                     const char *unit, double ceiling_value,
                     const char *ceiling_name, const char *note) {
  double ratio =
      ceiling_name != NULL && ceiling_value != 0 ? value / ceiling_value : NAN;
  if (r->json) {
    buf_add(r, ",");
    buf_str(r, name);
    buf_add(r, ":{\"value\":");
    buf_num(r, value);
    buf_add(r, ",\"unit\":");
    buf_str(r, unit);
    if (ceiling_name != NULL) {
      buf_add(r, ",\"ceiling\":");
      buf_str(r, ceiling_name);
      buf_add(r, ",\"ratio\":");
      buf_num(r, ratio);
    }
    if (note != NULL) {
      buf_add(r, ",\"note\":");
      buf_str(r, note);
    }
    buf_add(r, "}");
    return;
  }
  fprintf(r->out, "         %-30s ", name);
  print_value(r->out, value);
  fputc(' ', r->out);
  if (ceiling_name != NULL || note != NULL)
    fprintf(r->out, "%-8s", unit);
  else
    fprintf(r->out, "%s", unit);
  if (ceiling_name != NULL)
    fprintf(r->out, fabs(ratio) >= 1000 ? "= %7.0fx %s" : "= %7.3gx %s", ratio,
            ceiling_name);
  if (note != NULL)
    fprintf(r->out, "  (%s)", note);
  fputc('\n', r->out);
}

void mc_bench_note(mc_bench_report *r, const char *key, const char *text) {
  if (r->json) {
    buf_add(r, ",");
    buf_str(r, key);
    buf_add(r, ":");
    buf_str(r, text);
    return;
  }
  fprintf(r->out, "  %s: %s\n", key, text);
}

void mc_bench_end(mc_bench_report *r) {
  if (r->json) {
    buf_add(r, "}");
    if (r->failed)
      fprintf(stderr, "bench: out of memory building the JSON line\n");
    else
      fprintf(r->out, "%s\n", r->buf);
  }
  fflush(r->out);
  free(r->buf);
  r->buf = NULL;
  r->len = r->cap = 0;
}
