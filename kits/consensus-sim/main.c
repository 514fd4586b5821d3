/*
 * main.c - mc-consensus-sim, the installed consensus test kit: loads a
 * consensus plugin as mchost does and runs it through seeded fault
 * schedules (schedule.c), judged by what its instances commit.
 *
 * Exit status: 0 passed (or, with --expect-fork, a fork was found),
 * 1 failed, 2 bad usage or a plugin that cannot be run (one line).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "khost.h"
#include "loader.h"
#include "minichain/error.h"
#include "schedule.h"

#define MAX_VALIDATORS 10 /* with f twins, at most KH_MAX_NODES nodes */

typedef struct options {
  const char *engine;
  uint64_t schedules, seconds, first;
  uint32_t validators;
  int model, single, trace, expect_fork, keep_going;
} options;

static void usage(FILE *out) {
  fprintf(out,
"usage: mc-consensus-sim [options] ENGINE.so\n"
"Runs a consensus plugin as N validators on a simulated network, under\n"
"seeded fault schedules, and judges what its instances commit.\n"
"  --fault-model M    crash or byzantine (default): what the engine claims\n"
"                     to tolerate.  crash: f = (n-1)/2 validators down at\n"
"                     once, live with a majority up.  byzantine: f = (n-1)/3\n"
"                     faulty at once (equivocating twins, restarts that lost\n"
"                     their saved state, crashes), live with 2f+1 honest up\n"
"  --schedules N      schedules to run (seeds S, S+1, ...; default 200)\n"
"  --first-seed S     the first seed (default 1)\n"
"  --seed S           run the one schedule S (a replay)\n"
"  --seconds S        stop starting schedules after S seconds of wall time\n"
"  --validators N     always N validators (1..%d; default: drawn per\n"
"                     schedule: 4, 1, 3, 7 byzantine; 3, 5, 1, 2, 4 crash)\n"
"  --trace            print every engine log line, commit, sync and fault\n"
"  --expect-fork      succeed only if some schedule is unsafe (to show the\n"
"                     kit catches a broken engine); stops at the first\n"
"  --keep-going       with --expect-fork, run every schedule and count\n"
"  --help             this text\n"
"Judged: no two nodes (twins included) commit different blocks at one\n"
"height; every commit's certificate passes verify_certificate on every\n"
"running instance; after the faults stop, every honest running node\n"
"commits %d more heights and every transfer submitted then, exactly once.\n"
"A failing schedule prints its event log and its replay command.\n"
"Exit: 0 passed, 1 failed, 2 bad usage or a plugin that cannot run.\n",
          MAX_VALIDATORS, 3);
}

static int bad_usage(const char *fmt, const char *arg) {
  fprintf(stderr, "mc-consensus-sim: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see --help)\n");
  return -1;
}

static int parse_u64(const char *opt, const char *val, uint64_t *out) {
  char *end;
  if (val == NULL || *val < '0' || *val > '9')
    return bad_usage("%s needs a number", opt);
  *out = strtoull(val, &end, 10);
  return *end == 0 ? 0 : bad_usage("not a number: %s", val);
}

static int parse_model(const char *val, int *model) {
  if (val != NULL && strcmp(val, "crash") == 0)
    *model = MODEL_CRASH;
  else if (val != NULL && strcmp(val, "byzantine") == 0)
    *model = MODEL_BYZANTINE;
  else
    return bad_usage("--fault-model is crash or byzantine, not %s",
                     val ? val : "nothing");
  return 0;
}

/* One option at argv[*i]; 0, 1 for --help, or -1. */
static int parse_one(int argc, char **argv, int *i, options *o) {
  const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
  uint64_t n = 0;
  if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
    return 1;
  if (strcmp(a, "--trace") == 0)
    return o->trace = 1, 0;
  if (strcmp(a, "--expect-fork") == 0)
    return o->expect_fork = 1, 0;
  if (strcmp(a, "--keep-going") == 0)
    return o->keep_going = 1, 0;
  if (a[0] != '-' || strcmp(a, "-") == 0) {
    if (o->engine != NULL)
      return bad_usage("one ENGINE.so only, not also %s", a);
    o->engine = a;
    return 0;
  }
  (*i)++;
  if (strcmp(a, "--fault-model") == 0)
    return parse_model(v, &o->model);
  if (strcmp(a, "--schedules") == 0)
    return parse_u64(a, v, &o->schedules);
  if (strcmp(a, "--seconds") == 0)
    return parse_u64(a, v, &o->seconds);
  if (strcmp(a, "--first-seed") == 0)
    return parse_u64(a, v, &o->first);
  if (strcmp(a, "--seed") == 0)
    return o->single = 1, parse_u64(a, v, &o->first);
  if (strcmp(a, "--validators") == 0) {
    if (parse_u64(a, v, &n) != 0)
      return -1;
    if (n < 1 || n > MAX_VALIDATORS)
      return bad_usage("--validators must be 1..10, not %s", v);
    o->validators = (uint32_t)n;
    return 0;
  }
  return bad_usage("unknown option %s", a);
}

static int parse_args(int argc, char **argv, options *o) {
  *o = (options){.schedules = 200, .first = 1, .model = MODEL_BYZANTINE};
  for (int i = 1; i < argc; i++) {
    int rc = parse_one(argc, argv, &i, o);
    if (rc != 0)
      return rc;
  }
  if (o->engine == NULL)
    return bad_usage("%s", "no ENGINE.so given");
  if (o->schedules == 0)
    return bad_usage("%s", "--schedules must be at least 1");
  if (o->single)
    o->schedules = 1;
  return 0;
}

/* Loads ENGINE as mchost would (the same loader and checks); NULL after
 * printing the one-line reason. */
static const mc_consensus_vtable *load_engine(const char *engine) {
  static mc_plugin p;
  char err[600];
  if (mc_plugin_load(engine, MC_PLUGIN_CONSENSUS, NULL, &p, err,
                     sizeof err) != 0) {
    fprintf(stderr, "mc-consensus-sim: %s\n", err);
    return NULL;
  }
  return &p.vt.consensus; /* the loader's copy: only it is called */
}

/* One engine on a new one-validator chain must create and start, or no
 * schedule can say anything about it. */
static int probe(const mc_consensus_vtable *vt, const char *engine) {
  char err[256];
  kh_config cfg = {.vt = vt, .n = 1, .block_interval_ms = 20,
                   .view_timeout_ms = 100, .max_txs_per_block = 100};
  kh_cluster *cl = kh_new(&cfg, err, sizeof err);
  if (cl == NULL) {
    fprintf(stderr, "mc-consensus-sim: cannot set up a chain: %s\n", err);
    return -1;
  }
  int rc = kh_start(cl, 0);
  kh_free(cl);
  if (rc != 0)
    fprintf(stderr, "mc-consensus-sim: %s: create/start failed on a new "
                    "one-validator chain: %s\n", engine, mc_strerror(rc));
  return rc == 0 ? 0 : -1;
}

static double wall_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct totals {
  uint64_t ran, ends[END_KINDS], first[END_KINDS];
  uint64_t heights, crashes, wipes, partitions, with_twins;
  uint64_t txs_fault, txs_stable, txs_committed;
} totals;

static void add(totals *t, uint64_t seed, const outcome *r) {
  t->ran++;
  if (t->ends[r->end]++ == 0)
    t->first[r->end] = seed;
  t->heights += r->heights;
  t->crashes += r->crashes;
  t->wipes += r->wipes;
  t->partitions += r->partitions;
  t->with_twins += r->twins > 0;
  t->txs_fault += r->txs_fault;
  t->txs_stable += r->txs_stable;
  t->txs_committed += r->txs_committed;
}

static void print_totals(const totals *t, const options *o, double secs) {
  static const char *const model[] = {"crash", "byzantine"};
  printf("mc-consensus-sim: %llu schedules (seeds %llu..%llu, fault model "
         "%s) in %.1f s: %llu passed, %llu unsafe, %llu restart failures, "
         "%llu without progress, %llu with transfers wrong\n",
         (unsigned long long)t->ran, (unsigned long long)o->first,
         (unsigned long long)(o->first + t->ran - 1), model[o->model], secs,
         (unsigned long long)t->ends[END_PASSED],
         (unsigned long long)t->ends[END_UNSAFE],
         (unsigned long long)t->ends[END_RESTART],
         (unsigned long long)t->ends[END_STUCK],
         (unsigned long long)t->ends[END_TRANSFERS]);
  printf("mc-consensus-sim: %llu heights committed (longest chain of each "
         "schedule), %llu crashes, %llu wiped restarts, %llu partitions, "
         "%llu schedules with twins; transfers made %llu in fault phases, "
         "%llu in stable phases, %llu committed\n",
         (unsigned long long)t->heights, (unsigned long long)t->crashes,
         (unsigned long long)t->wipes, (unsigned long long)t->partitions,
         (unsigned long long)t->with_twins, (unsigned long long)t->txs_fault,
         (unsigned long long)t->txs_stable,
         (unsigned long long)t->txs_committed);
}

static int verdict(const totals *t, const options *o) {
  if (!o->expect_fork)
    return t->ends[END_PASSED] == t->ran ? 0 : 1;
  if (t->ends[END_UNSAFE] == 0) {
    printf("mc-consensus-sim: expected an unsafe schedule and found none in "
           "%llu\n", (unsigned long long)t->ran);
    return 1;
  }
  printf("mc-consensus-sim: unsafe as expected, first at seed %llu (%llu of "
         "%llu schedules)\n", (unsigned long long)t->first[END_UNSAFE],
         (unsigned long long)t->ends[END_UNSAFE], (unsigned long long)t->ran);
  return 0;
}

int main(int argc, char **argv) {
  options o;
  int rc = parse_args(argc, argv, &o);
  if (rc != 0) {
    if (rc > 0)
      usage(stdout);
    return rc > 0 ? 0 : 2;
  }
  const mc_consensus_vtable *vt = load_engine(o.engine);
  if (vt == NULL || probe(vt, o.engine) != 0)
    return 2;
  char replay[1200];
  char vals[32] = "";
  if (o.validators != 0)
    snprintf(vals, sizeof vals, " --validators %u", o.validators);
  snprintf(replay, sizeof replay, "--fault-model %s%s %s",
           o.model == MODEL_CRASH ? "crash" : "byzantine", vals, o.engine);
  sched_opts so = {vt, o.model, o.validators, o.trace, replay};
  totals t = {0};
  double t0 = wall_seconds();
  for (uint64_t seed = o.first; t.ran < o.schedules; seed++) {
    if (o.seconds != 0 && t.ran > 0 &&
        wall_seconds() - t0 >= (double)o.seconds)
      break;
    outcome r;
    sched_run(&so, seed, &r);
    add(&t, seed, &r);
    if (o.expect_fork && r.end == END_UNSAFE && !o.keep_going)
      break;
  }
  print_totals(&t, &o, wall_seconds() - t0);
  return verdict(&t, &o);
}
