/*
 * bench_store.c - what a chain store costs as the chain grows, beside the
 * ceiling that bounds it: one fsync in the same directory (a durable
 * append cannot return before its bytes are on disk).
 *
 *   bench-store [--blocks 1000,10000,100000] [--txs-per-block N]
 *               [--dir D] [--max-seconds S] [--keep] [--json] STORE.so...
 *
 * For each store plugin (loaded the way mchost and the conformance suite
 * load one: host/loader.c) the program grows one chain from genesis
 * through each size in --blocks, in increasing order.  At each size it
 * reports:
 *   append p50/p99   the cost of one append() over the last 200 appends
 *                    (the figure that must stay flat as the chain grows)
 *   appends/s        all appends of this size's segment, over their time
 *   open             close() then open() of the whole chain (page cache
 *                    warm), checked against the head it should have
 *   bytes on disk    the sum of the sizes of the store's files
 * each latency as a ratio of the fsync ceiling, measured in --dir at the
 * start and again after each size (the ratios use the latter).
 *
 * The chain: --txs-per-block transfers per block among 10000 accounts
 * funded at genesis.  Heights, prev_hash links, transaction ids, Merkle
 * tx roots, LtHash state roots, block hashes, balances and nonces are
 * real (computed as the host computes them, host/chain/).  Transfer
 * signatures, block signatures and commit certificates are FILLER bytes,
 * not signatures: a store never verifies them (the host has already), and
 * the output says so.
 *
 * A size that takes longer than --max-seconds to reach is cut short: the
 * store is reported at the height it reached ("stopped after N blocks")
 * and the larger sizes are skipped.  Progress goes to stderr.
 * Not a pass/fail test: the figures are for reading (scripts/bench.sh).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ceiling.h"
#include "chain/codec.h"
#include "chain/crypto.h"
#include "fsutil.h"
#include "loader.h"
#include "store_host.h"
#include "minichain/error.h"
#include "minichain/store.h"

#define NACCOUNTS 10000
#define WINDOW 200   /* appends the p50/p99 are taken over */
#define CERT_LEN 266 /* a 4-validator PoA commit certificate */
#define GENESIS_BALANCE 1000000000000ull
#define CHAIN_ID "bench-store"
#define MAX_SIZES 16

/* The host table is kits/store-check/store_host.c's, the one every
 * host-side store program shares: a store calling a service no store may
 * use is refused and recorded (sh_forbidden_first). */

/* ---- the chain: real links and roots, filler signatures ---------------- */

typedef struct gen {
  uint32_t ntx;                   /* transfers per block after genesis */
  uint64_t next;                  /* height of the next block */
  uint8_t prev_hash[MC_HASH_LEN]; /* hash of the block at next-1 */
  mc_account acct[NACCOUNTS];     /* state after block next-1 */
  uint64_t stamp[NACCOUNTS];      /* height + 1 of the last block touching */
  mc_lthash acc;                  /* LtHash of acct */
  uint64_t rng;                   /* filler bytes and transfer choice */
  uint8_t validators[4][MC_PUBKEY_LEN]; /* proposers (filler keys) */
  mc_account *changes;                  /* scratch: one block's changes */
  uint32_t *touched;                    /* scratch: indices of those accounts */
} gen;

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Filler: pseudo-random bytes standing where a signature would be. */
static void filler(uint64_t *s, uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    uint64_t r = rng_next(s);
    memcpy(p + i, &r, n - i < 8 ? n - i : 8);
  }
}

static gen *gen_new(uint32_t ntx) {
  gen *g = calloc(1, sizeof *g);
  if (g == NULL)
    return NULL;
  size_t most = ntx * 2 > NACCOUNTS ? NACCOUNTS : (size_t)ntx * 2;
  g->changes = calloc(most > 0 ? most : 1, sizeof *g->changes);
  g->touched = calloc(most > 0 ? most : 1, sizeof *g->touched);
  if (g->changes == NULL || g->touched == NULL) {
    free(g->changes);
    free(g->touched);
    free(g);
    return NULL;
  }
  g->ntx = ntx;
  g->rng = 20261203;
  mc_lthash_init(&g->acc);
  for (size_t i = 0; i < NACCOUNTS; i++)
    filler(&g->rng, g->acct[i].pubkey, MC_PUBKEY_LEN);
  for (size_t v = 0; v < 4; v++)
    filler(&g->rng, g->validators[v], MC_PUBKEY_LEN);
  mc_sha256("bench-store genesis document", 28, g->prev_hash);
  return g;
}

static void gen_free(gen *g) {
  if (g == NULL)
    return;
  free(g->changes);
  free(g->touched);
  free(g);
}

static void seal(gen *g, mc_block *b) {
  uint32_t n = b->header.tx_count;
  uint8_t(*ids)[MC_HASH_LEN] = malloc(((size_t)n + 1) * MC_HASH_LEN);
  if (ids == NULL)
    abort();
  for (uint32_t i = 0; i < n; i++)
    memcpy(ids[i], b->txs[i].id, MC_HASH_LEN);
  mc_merkle_root((const uint8_t(*)[MC_HASH_LEN])ids, n, b->header.tx_root);
  free(ids);
  mc_lthash_root(&g->acc, b->header.state_root);
  mc_header_hash(&b->header, b->hash);
  memcpy(g->prev_hash, b->hash, MC_HASH_LEN);
}

/*
 * The genesis block: no transfers, every account funded.  *changes points
 * at a NACCOUNTS array owned by g (valid until the next gen_ call).
 */
static mc_block *gen_genesis(gen *g, const mc_account **changes, size_t *n) {
  mc_block *b = mc_block_new(0);
  if (b == NULL)
    abort();
  memcpy(b->header.prev_hash, g->prev_hash, MC_HASH_LEN);
  b->header.timestamp_ms = 1764720000000ull;
  for (size_t i = 0; i < NACCOUNTS; i++) {
    g->acct[i].balance = GENESIS_BALANCE;
    mc_lthash_add(&g->acc, &g->acct[i]);
  }
  seal(g, b);
  g->next = 1;
  *changes = g->acct;
  *n = NACCOUNTS;
  return b;
}

static void touch(gen *g, uint32_t i, size_t *n) {
  if (g->stamp[i] != g->next + 1) {
    g->stamp[i] = g->next + 1;
    g->touched[(*n)++] = i;
  }
}

/* The block at g->next: g->ntx transfers between distinct accounts. */
static mc_block *gen_block(gen *g, const mc_account **changes, size_t *n) {
  mc_block *b = mc_block_new(g->ntx);
  uint8_t cert[CERT_LEN];
  if (b == NULL)
    abort();
  b->header.height = g->next;
  memcpy(b->header.prev_hash, g->prev_hash, MC_HASH_LEN);
  b->header.timestamp_ms = 1764720000000ull + g->next * 1000;
  b->header.tx_count = g->ntx;
  memcpy(b->header.proposer, g->validators[g->next % 4], MC_PUBKEY_LEN);
  size_t nt = 0;
  for (uint32_t i = 0; i < g->ntx; i++) {
    uint32_t from = (uint32_t)(rng_next(&g->rng) % NACCOUNTS);
    uint32_t to = (uint32_t)((from + 1 + rng_next(&g->rng) % (NACCOUNTS - 1)) %
                             NACCOUNTS);
    mc_tx *tx = &b->txs[i];
    snprintf(tx->chain_id, sizeof tx->chain_id, "%s", CHAIN_ID);
    memcpy(tx->from, g->acct[from].pubkey, MC_PUBKEY_LEN);
    memcpy(tx->to, g->acct[to].pubkey, MC_PUBKEY_LEN);
    tx->amount = 1 + rng_next(&g->rng) % 1000;
    tx->nonce = g->acct[from].nonce + 1;
    filler(&g->rng, tx->sig, MC_SIG_LEN);
    mc_tx_compute_id(tx);
    mc_lthash_remove(&g->acc, &g->acct[from]);
    mc_lthash_remove(&g->acc, &g->acct[to]);
    g->acct[from].balance -= tx->amount;
    g->acct[from].nonce++;
    g->acct[to].balance += tx->amount;
    mc_lthash_add(&g->acc, &g->acct[from]);
    mc_lthash_add(&g->acc, &g->acct[to]);
    touch(g, from, &nt);
    touch(g, to, &nt);
  }
  for (size_t i = 0; i < nt; i++)
    g->changes[i] = g->acct[g->touched[i]];
  filler(&g->rng, cert, sizeof cert);
  if (mc_block_set_cert(b, cert, sizeof cert) != 0)
    abort();
  filler(&g->rng, b->signature, MC_SIG_LEN);
  seal(g, b);
  g->next++;
  *changes = g->changes;
  *n = nt;
  return b;
}

/* ---- files --------------------------------------------------------------- */

/* Sum of the sizes of the regular files under dir. */
static uint64_t bytes_under(const char *dir) {
  uint64_t sum = 0;
  DIR *d = opendir(dir);
  if (d == NULL)
    return 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char p[4400];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (lstat(p, &st) != 0)
      continue;
    if (S_ISDIR(st.st_mode))
      sum += bytes_under(p);
    else if (S_ISREG(st.st_mode))
      sum += (uint64_t)st.st_size;
  }
  closedir(d);
  return sum;
}


/* ---- the run ------------------------------------------------------------ */

typedef struct options {
  uint64_t sizes[MAX_SIZES];
  size_t nsizes;
  uint32_t ntx;
  const char *dir;
  double max_seconds;
  int keep;
  int json;
} options;

typedef struct run {
  const options *o;
  const mc_plugin *p;
  const mc_store_vtable *vt;
  const mc_bench_fsync *fs;
  mc_store *s;
  char dir[4096];
  gen *g;
  double window[WINDOW]; /* latencies (ms) of the last WINDOW appends */
  uint64_t appended;     /* blocks in the store */
} run;

static void fail(const run *r, const char *what, int rc, const char *err) {
  fprintf(stderr, "bench-store: %s: %s failed at height %" PRIu64 ": %s%s%s\n",
          r->p->desc->name, what, r->appended, mc_strerror(rc), err ? ": " : "",
          err ? err : "");
  if (sh_forbidden_first != NULL)
    fprintf(stderr,
            "bench-store: the store called host service %s, which "
            "no store may use\n",
            sh_forbidden_first);
}

static int store_open(run *r, double *ms) {
  char err[512] = "";
  double t0 = mc_bench_now();
  int rc = r->vt->open(&sh_api, sh_host(), r->dir, &r->s, err, sizeof err);
  if (ms != NULL)
    *ms = (mc_bench_now() - t0) * 1e3;
  if (rc != 0) {
    fail(r, "open", rc, err);
    r->s = NULL;
    return -1;
  }
  return 0;
}

/* Appends one generated block and records its latency. */
static int append_one(run *r) {
  const mc_account *chg;
  size_t n;
  mc_block *b = r->appended == 0 ? gen_genesis(r->g, &chg, &n)
                                 : gen_block(r->g, &chg, &n);
  double t0 = mc_bench_now();
  int rc = r->vt->append(r->s, b, chg, n);
  double ms = (mc_bench_now() - t0) * 1e3;
  mc_block_free(b);
  if (rc != 0) {
    fail(r, "append", rc, NULL);
    return -1;
  }
  r->window[r->appended % WINDOW] = ms;
  r->appended++;
  return 0;
}

/* The reopened store must have the head that was appended last. */
static int check_head(run *r) {
  uint64_t h;
  uint8_t hash[MC_HASH_LEN];
  int rc = r->vt->head(r->s, &h, hash);
  if (rc != 0) {
    fail(r, "head after reopen", rc, NULL);
    return -1;
  }
  if (h + 1 != r->appended || memcmp(hash, r->g->prev_hash, MC_HASH_LEN)) {
    fprintf(stderr,
            "bench-store: %s: after reopen the head is height %" PRIu64
            ", not %" PRIu64 " and the hash appended\n",
            r->p->desc->name, h, r->appended - 1);
    return -1;
  }
  return 0;
}

static void report_size(run *r, uint64_t want, double seg_s,
                        uint64_t seg_blocks, double seg_append_s,
                        double open_ms) {
  /* The ceiling again, now: the disk's latency drifts over minutes (and
   * with whatever else the machine does), and a ratio means most against
   * a ceiling measured beside the figure. */
  mc_bench_fsync now;
  const mc_bench_fsync *fs = r->fs;
  if (mc_bench_fsync_latency(r->o->dir, 200, &now) == 0)
    fs = &now;
  else
    fprintf(stderr, "bench-store: using the fsync ceiling of the start\n");
  size_t nw = r->appended < WINDOW ? (size_t)r->appended : WINDOW;
  double w[WINDOW];
  memcpy(w, r->window, nw * sizeof *w);
  double p99 = mc_bench_percentile(w, nw, 99);
  double p50 = mc_bench_percentile(w, nw, 50);
  uint64_t bytes = bytes_under(r->dir);
  int stopped = r->appended < want;
  char title[256], note[256];

  mc_bench_report rep;
  mc_bench_begin(&rep, stdout, r->o->json, "store");
  snprintf(title, sizeof title, "%s %s", r->p->desc->name, r->p->desc->version);
  if (!r->o->json)
    printf("\n== store %s (%s): %" PRIu64 " blocks of %" PRIu32 " transfers\n",
           title, r->p->path, want, r->o->ntx);
  if (r->o->json)
    mc_bench_note(&rep, "store", title);
  snprintf(note, sizeof note,
           "4 KiB append + fdatasync in %s, %d rounds, "
           "measured %s",
           r->o->dir, fs->rounds,
           fs == &now ? "after this size" : "at the start");
  mc_bench_ceiling(&rep, "fsync_p50", fs->p50_ms, "ms", note);
  mc_bench_ceiling(&rep, "fsync_p99", fs->p99_ms, "ms", NULL);
  mc_bench_ceiling(&rep, "fsync_rate", fs->per_s, "/s", NULL);
  mc_bench_figure(&rep, "blocks", (double)r->appended, "blocks", 0, NULL, NULL);
  mc_bench_figure(&rep, "blocks_asked", (double)want, "blocks", 0, NULL, NULL);
  mc_bench_figure(&rep, "txs_per_block", r->o->ntx, "tx", 0, NULL, NULL);
  if (stopped) {
    snprintf(note, sizeof note,
             "stopped after %" PRIu64 " blocks (--max-seconds %.0f reached "
             "%.0f s into this size): %.3f ms per append (median of the "
             "last %zu)",
             r->appended, r->o->max_seconds, seg_s, p50, nw);
    mc_bench_note(&rep, "stopped", note);
  }
  mc_bench_figure(&rep, "seconds", seg_s, "s", 0, NULL,
                  "wall time to grow from the previous size, making the "
                  "blocks included");
  snprintf(note, sizeof note, "last %zu appends, at height %" PRIu64, nw,
           r->appended - 1);
  mc_bench_figure(&rep, "append_p50", p50, "ms", fs->p50_ms, "fsync p50", note);
  mc_bench_figure(&rep, "append_p99", p99, "ms", fs->p99_ms, "fsync p99", NULL);
  snprintf(note, sizeof note, "%" PRIu64 " appends since the last size",
           seg_blocks);
  mc_bench_figure(&rep, "appends_per_s",
                  seg_append_s > 0 ? (double)seg_blocks / seg_append_s : 0,
                  "/s", fs->per_s, "fsync rate", note);
  mc_bench_figure(&rep, "open", open_ms, "ms", fs->p50_ms, "fsync p50",
                  "close, then open of the whole chain, page cache warm");
  mc_bench_figure(&rep, "bytes_on_disk", (double)bytes, "B", 0, NULL, NULL);
  snprintf(note, sizeof note, "%.0f B per transfer",
           r->o->ntx ? (double)bytes / (double)r->appended / r->o->ntx : 0);
  mc_bench_figure(&rep, "bytes_per_block", (double)bytes / (double)r->appended,
                  "B", 0, NULL, note);
  mc_bench_end(&rep);
}

/* Grows the chain to `want` blocks (or until the time cap), then closes,
 * times the reopen, and reports.  Returns 1 to go on, 0 if the cap cut
 * this size short, -1 on an error. */
static int grow_to(run *r, uint64_t want) {
  uint64_t start = r->appended;
  double t0 = mc_bench_now(), last_note = t0, append_s = 0;
  while (r->appended < want) {
    if (append_one(r) != 0)
      return -1;
    append_s += r->window[(r->appended - 1) % WINDOW] / 1e3;
    double now = mc_bench_now();
    if (now - last_note >= 5.0) {
      fprintf(stderr,
              "  %s: %" PRIu64 "/%" PRIu64 " blocks, %.0f s, last "
              "append %.3f ms\n",
              r->p->desc->name, r->appended, want, now - t0,
              r->window[(r->appended - 1) % WINDOW]);
      last_note = now;
    }
    if (now - t0 >= r->o->max_seconds)
      break;
  }
  double seg_s = mc_bench_now() - t0;
  r->vt->close(r->s);
  r->s = NULL;
  double open_ms;
  if (store_open(r, &open_ms) != 0 || check_head(r) != 0)
    return -1;
  report_size(r, want, seg_s, r->appended - start, append_s, open_ms);
  return r->appended == want;
}

static int bench_plugin(const options *o, const mc_plugin *pl,
                        const mc_bench_fsync *fs) {
  run *r = calloc(1, sizeof *r);
  if (r == NULL)
    return -1;
  r->o = o;
  r->p = pl;
  r->vt = &pl->vt.store;
  r->fs = fs;
  snprintf(r->dir, sizeof r->dir, "%s/bench-store-%s-XXXXXX", o->dir,
           pl->desc->name);
  if (mkdtemp(r->dir) == NULL) {
    fprintf(stderr, "bench-store: mkdtemp %s: %s\n", r->dir, strerror(errno));
    free(r);
    return -1;
  }
  int rc = -1;
  r->g = gen_new(o->ntx);
  if (r->g == NULL || store_open(r, NULL) != 0)
    goto out;
  fprintf(stderr, "bench-store: %s %s in %s\n", pl->desc->name,
          pl->desc->version, r->dir);
  for (size_t i = 0; i < o->nsizes; i++) {
    int more = grow_to(r, o->sizes[i]);
    if (more < 0)
      goto out;
    if (more == 0) {
      for (size_t j = i + 1; j < o->nsizes; j++)
        fprintf(stderr,
                "bench-store: %s: %" PRIu64 " blocks skipped "
                "(the time cap cut %" PRIu64 " short)\n",
                pl->desc->name, o->sizes[j], o->sizes[i]);
      break;
    }
  }
  rc = 0;
out:
  if (r->s != NULL)
    r->vt->close(r->s);
  if (o->keep)
    fprintf(stderr, "bench-store: kept %s\n", r->dir);
  else
    mc_remove_tree(r->dir);
  gen_free(r->g);
  free(r);
  return rc;
}

/* ---- main --------------------------------------------------------------- */

static int usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [--blocks N,N,...] [--txs-per-block N] [--dir D]\n"
          "          [--max-seconds S] [--keep] [--json] STORE.so...\n"
          "  --blocks        chain lengths to report at, increasing "
          "(default 1000,10000,100000)\n"
          "  --txs-per-block transfers in each block after genesis "
          "(default 10)\n"
          "  --dir           where the stores and the fsync probe write "
          "(default .)\n"
          "  --max-seconds   time cap on growing to each size (default 120)\n"
          "  --keep          keep the store directories\n"
          "  --json          one JSON object line per report\n",
          argv0);
  return 2;
}

static int parse_sizes(const char *s, options *o) {
  o->nsizes = 0;
  while (*s) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || v == 0 || o->nsizes == MAX_SIZES ||
        (o->nsizes && v <= o->sizes[o->nsizes - 1]))
      return -1;
    o->sizes[o->nsizes++] = v;
    if (*end == ',')
      end++;
    else if (*end)
      return -1;
    s = end;
  }
  return o->nsizes ? 0 : -1;
}

/* Reads the options into *o and the plugin paths into plugins[] (argc
 * entries).  Returns 0, or -1 for anything that is not understood. */
static int parse_args(int argc, char **argv, options *o, const char **plugins,
                      size_t *nplugins) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    char *end = NULL;
    if (strcmp(a, "--blocks") == 0 && v) {
      if (parse_sizes(v, o) != 0)
        return -1;
      i++;
    } else if (strcmp(a, "--txs-per-block") == 0 && v) {
      unsigned long n = strtoul(v, &end, 10);
      if (*end || n > MC_BLOCK_MAX_TXS)
        return -1;
      o->ntx = (uint32_t)n;
      i++;
    } else if (strcmp(a, "--dir") == 0 && v) {
      o->dir = v;
      i++;
    } else if (strcmp(a, "--max-seconds") == 0 && v) {
      o->max_seconds = strtod(v, &end);
      if (*end || !(o->max_seconds > 0))
        return -1;
      i++;
    } else if (strcmp(a, "--keep") == 0) {
      o->keep = 1;
    } else if (strcmp(a, "--json") == 0) {
      o->json = 1;
    } else if (a[0] == '-') {
      return -1;
    } else {
      plugins[(*nplugins)++] = a;
    }
  }
  return *nplugins > 0 ? 0 : -1;
}

/* The fsync ceiling at the start, and what the chain is made of. */
static void report_start(const options *o, const mc_bench_fsync *fs) {
  char note[512];
  double load[3] = {0, 0, 0};
  mc_bench_report rep;
  mc_bench_begin(&rep, stdout, o->json, "store-ceiling");
  snprintf(note, sizeof note, "4 KiB append + fdatasync in %s, %d rounds",
           o->dir, fs->rounds);
  mc_bench_ceiling(&rep, "fsync_p50", fs->p50_ms, "ms", note);
  mc_bench_ceiling(&rep, "fsync_p99", fs->p99_ms, "ms", NULL);
  mc_bench_ceiling(&rep, "fsync_rate", fs->per_s, "/s", NULL);
  mc_bench_note(&rep, "chain",
                "transfers among 10000 accounts funded at genesis; heights, "
                "links, tx ids, Merkle and state roots, balances and nonces "
                "are real");
  mc_bench_note(&rep, "filler",
                "transfer signatures, block signatures and commit "
                "certificates (266 B) are FILLER bytes, not signatures: "
                "stores do not verify them");
  if (getloadavg(load, 3) == 3) {
    snprintf(note, sizeof note,
             "%.2f %.2f %.2f at the start (other work on "
             "this machine skews every figure)",
             load[0], load[1], load[2]);
    mc_bench_note(&rep, "loadavg", note);
  }
  mc_bench_end(&rep);
}

int main(int argc, char **argv) {
  options o = {{1000, 10000, 100000}, 3, 10, ".", 120, 0, 0};
  size_t nplugins = 0;
  const char **plugins = calloc((size_t)argc, sizeof *plugins);
  mc_plugin *loaded = calloc((size_t)argc, sizeof *loaded);
  int rc = 1;
  if (plugins == NULL || loaded == NULL)
    goto out;
  if (parse_args(argc, argv, &o, plugins, &nplugins) != 0) {
    rc = usage(argv[0]);
    goto out;
  }
  if (mc_crypto_init() != 0) {
    fprintf(stderr, "bench-store: cannot initialise libsodium\n");
    goto out;
  }
  if (mkdir(o.dir, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "bench-store: %s: %s\n", o.dir, strerror(errno));
    goto out;
  }
  /* Every plugin is loaded before anything is measured, so that a wrong
   * path is said at once, not after minutes of another store's run. */
  for (size_t i = 0; i < nplugins; i++) {
    char err[1024];
    if (mc_plugin_load(plugins[i], MC_PLUGIN_STORE, NULL, &loaded[i], err,
                       sizeof err) != 0) {
      fprintf(stderr, "bench-store: %s\n", err);
      goto out;
    }
  }
  mc_bench_fsync fs;
  if (mc_bench_fsync_latency(o.dir, 200, &fs) != 0)
    goto out;
  report_start(&o, &fs);
  rc = 0;
  for (size_t i = 0; i < nplugins; i++)
    if (bench_plugin(&o, &loaded[i], &fs) != 0)
      rc = 1;
out:
  free(loaded);
  free(plugins);
  return rc;
}
