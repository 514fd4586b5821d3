/*
 * schedule.c - one schedule of mc-consensus-sim (schedule.h).
 *
 *   setup      n validators (fixed by --validators, else drawn), f from
 *              the fault model; in the byzantine model 0..f of them
 *              twinned, each twin pair splitting the other nodes between
 *              its two copies.
 *   fault      0.3..5 s of virtual time: message loss, duplication and
 *   phase      delay (hence reordering), partitions and healing, one-way
 *              link cuts, twin re-splits, crashes and restarts, and
 *              clients submitting transfers to random nodes.  At most f
 *              validators are faulty at once: twinned, wiped, or honest
 *              and down.
 *   stable     the network heals and stops losing messages (twin splits
 *   phase      stay: a Byzantine validator stays one); all but up to f
 *              faulty-or-down validators run; clients submit transfers to
 *              every running node; every honest running node must commit
 *              K more heights and every one of those transfers exactly
 *              once, within the virtual-time bound.
 * Safety is judged at every commit by the host (khost.c); the transfers
 * at the end of the stable phase, on every node's chain.
 */
#include "schedule.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "khost.h"
#include "minichain/error.h"
#include "workload.h"

#define S_INTERVAL_MS 20   /* block_interval_ms given to the engine */
#define S_TIMEOUT_MS 100   /* view_timeout_ms given to the engine */
#define S_MAX_TXS 100      /* max_txs_per_block */
#define S_STEP_MS 50       /* the kit's clock tick */
#define S_SYNC_MAX_MS 1000 /* sync runs every S_STEP_MS..this (per schedule) */
#define S_PROGRESS 3       /* K: heights every honest node must add... */
#define S_LIVE_MS 60000    /* ...within this much virtual time */
#define S_SUBMIT_MS 1000   /* stable-phase transfers are made this long */
#define S_LOG_MAX (1u << 20)

typedef struct sched {
  const sched_opts *o;
  uint64_t seed, rng;
  kh_cluster *cl;
  simnet *net;
  wl *w;
  uint32_t n, nn, f, ntwins, nwiped;
  uint8_t faulty[KH_MAX_NODES]; /* by validator: twinned or wiped */
  uint8_t wiped[KH_MAX_NODES];   /* by node: its saved state was lost */
  uint8_t refused[KH_MAX_NODES]; /* by node: would not start after that */
  uint32_t side[KH_MAX_NODES];  /* twin k: the nodes its copy n+k sees */
  uint64_t sync_ms, next_sync;
  int restart_failed;
  outcome *out;
  char *log;
  size_t log_len, log_cap;
} sched;

static const char *const MODEL_NAMES[] = {"crash", "byzantine"};

static uint64_t rnd(sched *s) {
  uint64_t x = s->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  s->rng = x;
  return x * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_in(sched *s, uint64_t lo, uint64_t hi) {
  return lo + rnd(s) % (hi - lo + 1);
}

/* ---- the event log ---- */

static void log_line(void *ctx, int detail, const char *line) {
  sched *s = ctx;
  if (s->o->trace)
    fprintf(stderr, "%s\n", line);
  size_t len = strlen(line);
  if (detail || s->log_len + len + 2 > S_LOG_MAX)
    return;
  if (s->log_len + len + 2 > s->log_cap) {
    s->log_cap = (s->log_cap + len + 2) * 2;
    char *p = realloc(s->log, s->log_cap);
    if (p == NULL)
      abort();
    s->log = p;
  }
  memcpy(s->log + s->log_len, line, len);
  s->log_len += len;
  s->log[s->log_len++] = '\n';
  s->log[s->log_len] = 0;
}

static void note(sched *s, const char *fmt, ...) {
  char line[400];
  va_list ap;
  va_start(ap, fmt);
  int k = snprintf(line, sizeof line, "t=%llu kit ",
                   (unsigned long long)simnet_now(s->net));
  vsnprintf(line + k, sizeof line - (size_t)k, fmt, ap);
  va_end(ap);
  log_line(s, 0, line);
}

/* ---- who is what ---- */

static int running(sched *s, uint32_t i) { return kh_running(s->cl, i); }

static int honest(sched *s, uint32_t i) {
  return !s->faulty[kh_validator_of(s->cl, i)];
}

static uint32_t honest_down(sched *s) {
  uint32_t k = 0;
  for (uint32_t i = 0; i < s->nn; i++)
    k += honest(s, i) && !running(s, i);
  return k;
}

/* Validators faulty right now: twinned, wiped, or honest and down. */
static uint32_t faulty_now(sched *s) {
  return s->ntwins + s->nwiped + honest_down(s);
}

/* ---- the network ---- */

/* Each twin's copies see disjoint parts of the network: copy n+k the
 * nodes in side[k], the original the others. */
static void apply_twin_split(sched *s) {
  for (uint32_t k = 0; k < s->ntwins; k++) {
    uint32_t b = s->n + k, a = kh_validator_of(s->cl, b);
    for (uint32_t j = 0; j < s->nn; j++) {
      uint32_t cut = (s->side[k] >> j & 1) ? a : b;
      if (j == a || j == b)
        continue;
      simnet_set_link(s->net, cut, j, 0);
      simnet_set_link(s->net, j, cut, 0);
    }
    simnet_set_link(s->net, a, b, 0);
    simnet_set_link(s->net, b, a, 0);
  }
}

static void draw_twin_split(sched *s) {
  for (uint32_t k = 0; k < s->ntwins; k++) {
    s->side[k] = (uint32_t)rnd(s) & ((1u << s->nn) - 1);
    note(s, "twin node=%u of validator %u sees nodes 0x%x, its sibling the "
            "rest", s->n + k, kh_validator_of(s->cl, s->n + k), s->side[k]);
  }
}

static void heal(sched *s) {
  for (uint32_t i = 0; i < s->nn; i++)
    simnet_isolate(s->net, i, 0);
  apply_twin_split(s);
}

static void partition(sched *s) {
  uint32_t mask = (uint32_t)rnd(s);
  char desc[KH_MAX_NODES + 1];
  heal(s);
  for (uint32_t i = 0; i < s->nn; i++) {
    desc[i] = mask >> i & 1 ? 'B' : 'A';
    for (uint32_t j = 0; j < s->nn; j++)
      if ((mask >> i & 1) != (mask >> j & 1))
        simnet_set_link(s->net, i, j, 0);
  }
  desc[s->nn] = 0;
  note(s, "partition %s", desc);
}

static void random_faults(sched *s) {
  simnet_faults f = {.drop_pct = (unsigned)rnd_in(s, 0, 40),
                     .dup_pct = (unsigned)rnd_in(s, 0, 20),
                     .delay_min_ms = rnd_in(s, 1, 10)};
  f.delay_max_ms = f.delay_min_ms + rnd_in(s, 0, 250);
  note(s, "faults drop=%u%% dup=%u%% delay=%llu..%llu ms", f.drop_pct,
       f.dup_pct, (unsigned long long)f.delay_min_ms,
       (unsigned long long)f.delay_max_ms);
  simnet_set_faults(s->net, &f);
}

static void one_way_cut(sched *s, uint32_t i, uint32_t j) {
  if (i == j)
    return;
  int up = !simnet_link_up(s->net, i, j);
  simnet_set_link(s->net, i, j, up);
  note(s, "link %u->%u %s", i, j, up ? "up" : "down");
}

/* The host's sync between nodes connected both ways. */
static void sync_all(sched *s) {
  for (uint32_t i = 0; i < s->nn; i++)
    for (uint32_t j = 0; j < s->nn; j++)
      if (i != j && running(s, i) && running(s, j) &&
          simnet_link_up(s->net, i, j) && simnet_link_up(s->net, j, i) &&
          kh_height(s->cl, j) > kh_height(s->cl, i)) {
        int rc = kh_sync(s->cl, i, j);
        if (rc < 0)
          note(s, "sync node=%u from=%u refused: %s", i, j, mc_strerror(rc));
      }
}

static int broken(sched *s) {
  return kh_failure(s->cl) != NULL || s->restart_failed;
}

/* Advances virtual time to `until`, syncing as it goes; -1 as soon as
 * something is broken. */
static int run_to(sched *s, uint64_t until) {
  while (simnet_now(s->net) < until) {
    uint64_t next = simnet_now(s->net) + S_STEP_MS;
    simnet_run_to(s->net, next < until ? next : until);
    if (simnet_now(s->net) >= s->next_sync) {
      sync_all(s);
      s->next_sync = simnet_now(s->net) + s->sync_ms;
    }
    if (broken(s))
      return -1;
  }
  return 0;
}

/* ---- crashes and restarts ---- */

static void crash(sched *s, uint32_t i) {
  note(s, "crash node=%u height=%llu", i,
       (unsigned long long)kh_height(s->cl, i));
  kh_crash(s->cl, i);
  s->out->crashes++;
}

static void restart(sched *s, uint32_t i, int wipe) {
  if (wipe) {
    s->wiped[i] = 1;
    kh_wipe_state(s->cl, i);
    uint32_t v = kh_validator_of(s->cl, i);
    s->nwiped += !s->faulty[v];
    s->faulty[v] = 1;
    s->out->wipes++;
  }
  int rc = kh_start(s->cl, i);
  note(s, "%s node=%u height=%llu%s rc=%d",
       kh_started(s->cl, i) > 1 ? "restart" : "start", i,
       (unsigned long long)kh_height(s->cl, i),
       wipe ? " state=wiped (a faulty validator from now on)" : "", rc);
  if (rc != 0 && s->wiped[i]) {
    /* Refusing to run without its record is a safe answer to a lost
     * state file: the node stays down, one of the faulty. */
    note(s, "node=%u refuses to start without its saved state: it stays "
            "down", i);
    s->refused[i] = 1;
  } else if (rc != 0) {
    note(s, "RESTART FAILED node=%u: %s", i, mc_strerror(rc));
    snprintf(s->out->why, sizeof s->out->why,
             "node %u's engine refused to start from its own saved state "
             "and committed chain: %s", i, mc_strerror(rc));
    s->restart_failed = 1;
  }
}

/* A crash keeps at most f validators faulty at once; a byzantine
 * validator's nodes may crash freely. */
static void maybe_crash(sched *s, uint32_t i) {
  if (running(s, i) && (!honest(s, i) || faulty_now(s) + 1 <= s->f))
    crash(s, i);
}

/* In the byzantine model a restart now and then loses the engine's saved
 * state: a wiped restart is a fault, so it makes the validator one of the
 * f faulty ones for the rest of the schedule (a wiped honest validator
 * was already counted as down). */
static void maybe_restart(sched *s, uint32_t i) {
  if (running(s, i) || s->refused[i])
    return;
  int wipe = s->o->model == MODEL_BYZANTINE && rnd(s) % 100 < 15;
  restart(s, i, wipe);
}

/* ---- clients ---- */

/* A fault-phase transfer reaches each running node with probability 1/2,
 * as gossip in a torn network might. */
static void submit_fault_txs(sched *s) {
  uint64_t k = rnd(s) % 4;
  for (uint64_t t = 0; t < k; t++) {
    const mc_tx *tx = wl_make(s->w, WL_FAULT);
    for (uint32_t i = 0; tx != NULL && i < s->nn; i++)
      if (running(s, i) && rnd(s) % 2 == 0)
        kh_submit(s->cl, i, tx);
  }
}

/* A stable-phase transfer reaches every running node: the host's gossip
 * on a healed network. */
static void submit_stable_txs(sched *s) {
  uint64_t k = rnd(s) % 4;
  for (uint64_t t = 0; t < k; t++) {
    const mc_tx *tx = wl_make(s->w, WL_STABLE);
    if (tx == NULL)
      return;
    for (uint32_t i = 0; i < s->nn; i++)
      if (running(s, i) && !kh_submit(s->cl, i, tx)) {
        /* The judge assumes every running mempool took it: a fault
         * phase makes at most ~1500 transfers, the pool holds 2048. */
        fprintf(stderr, "mc-consensus-sim: internal: node %u's mempool "
                        "refused a stable-phase transfer\n", i);
        abort();
      }
  }
}

/* ---- the fault phase ---- */

static void fault_event(sched *s) {
  uint32_t i = (uint32_t)(rnd(s) % s->nn), j = (uint32_t)(rnd(s) % s->nn);
  switch (rnd(s) % 11) {
  case 0:
  case 1:
    random_faults(s);
    break;
  case 2:
    partition(s);
    s->out->partitions++;
    break;
  case 3:
    heal(s);
    note(s, "heal");
    break;
  case 4:
    one_way_cut(s, i, j);
    break;
  case 5:
  case 6:
    maybe_crash(s, i);
    break;
  case 10:
    if (s->ntwins > 0) {
      draw_twin_split(s);
      heal(s);
      break;
    }
    maybe_restart(s, i); /* without twins, another restart */
    break;
  default:
    maybe_restart(s, i);
    break;
  }
  submit_fault_txs(s);
  kh_refresh_peers(s->cl);
}

/* ---- setup ---- */

static uint32_t draw_n(sched *s) {
  static const uint32_t byz[] = {4, 4, 4, 4, 4, 4, 1, 3, 7, 7};
  static const uint32_t crash[] = {3, 3, 3, 3, 5, 5, 5, 1, 2, 4};
  uint32_t k = (uint32_t)(rnd(s) % 10);
  if (s->o->validators != 0)
    return s->o->validators;
  return s->o->model == MODEL_BYZANTINE ? byz[k] : crash[k];
}

static int setup(sched *s, char *err, size_t errlen) {
  uint32_t twin_of[KH_MAX_NODES];
  s->rng = s->seed * 0x9e3779b97f4a7c15ull ^ 0x5eed5eed5eed5eedull;
  s->rng += s->rng == 0;
  s->n = draw_n(s);
  s->f = s->o->model == MODEL_BYZANTINE ? (s->n - 1) / 3 : (s->n - 1) / 2;
  s->sync_ms = rnd_in(s, S_STEP_MS, S_SYNC_MAX_MS);
  if (s->o->model == MODEL_BYZANTINE)
    s->ntwins = (uint32_t)rnd_in(s, 0, s->f);
  for (uint32_t k = 0; k < s->ntwins; k++) {
    uint32_t v;
    do
      v = (uint32_t)(rnd(s) % s->n);
    while (s->faulty[v]);
    s->faulty[v] = 1;
    twin_of[k] = v;
  }
  s->w = wl_new(s->seed, "mc-consensus-sim");
  if (s->w == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  kh_config cfg = {.vt = s->o->vt, .n = s->n, .twin_of = twin_of,
                   .ntwins = s->ntwins, .seed = s->seed,
                   .block_interval_ms = S_INTERVAL_MS,
                   .view_timeout_ms = S_TIMEOUT_MS,
                   .max_txs_per_block = S_MAX_TXS,
                   .tx_known = wl_known, .tx_known_ctx = s->w,
                   .note = log_line, .note_ctx = s};
  cfg.alloc = wl_alloc(s->w, &cfg.nalloc);
  s->cl = kh_new(&cfg, err, errlen);
  if (s->cl == NULL)
    return -1;
  s->net = kh_net(s->cl);
  s->nn = kh_nodes(s->cl);
  return 0;
}

/* ---- the stable phase ---- */

/* Lowest committed height among honest running nodes. */
static uint64_t honest_low(sched *s) {
  uint64_t low = UINT64_MAX;
  for (uint32_t i = 0; i < s->nn; i++)
    if (honest(s, i) && running(s, i) && kh_height(s->cl, i) < low)
      low = kh_height(s->cl, i);
  return low;
}

/* Judges node i's chain with the workload; returns the violations. */
static size_t judge_chain(sched *s, uint32_t i, int all_stable, char *why,
                          size_t len) {
  wl_judge_begin(s->w);
  for (uint64_t h = 1; h <= kh_height(s->cl, i); h++) {
    const mc_block *b = kh_block(s->cl, i, h);
    for (uint32_t t = 0; t < b->header.tx_count; t++)
      wl_judge_tx(s->w, &b->txs[t]);
  }
  return wl_judge_end(s->w, all_stable, why, len);
}

/* 1 when every honest running node holds every stable-phase transfer
 * exactly once (and nothing twice); else 0 with the first reason. */
static int transfers_done(sched *s, char *why, size_t len) {
  for (uint32_t i = 0; i < s->nn; i++)
    if (honest(s, i) && running(s, i) && judge_chain(s, i, 1, why, len) > 0) {
      char tail[400];
      snprintf(tail, sizeof tail, "node %u: %.300s", i, why);
      snprintf(why, len, "%.310s", tail);
      return 0;
    }
  return 1;
}

/* Keeps up to f - (twinned + wiped) honest validators down, starts every
 * other node (Byzantine ones included), heals the network. */
static void stabilise_nodes(sched *s) {
  uint32_t room = s->f - s->ntwins - s->nwiped;
  uint32_t keep_down = (uint32_t)rnd_in(s, 0, room);
  heal(s);
  simnet_set_faults(s->net, &(simnet_faults){0, 0, 1, 10});
  note(s, "stabilise: network healed, keep_down=%u", keep_down);
  for (uint32_t i = 0; i < s->nn && !s->restart_failed; i++) {
    int down = honest(s, i) && keep_down > 0 && rnd(s) % 2 == 0;
    keep_down -= (uint32_t)down;
    if (down && running(s, i))
      crash(s, i);
    else if (!down && !running(s, i) && !s->refused[i])
      restart(s, i, 0);
  }
  kh_refresh_peers(s->cl);
}

static int stable_phase(sched *s) {
  stabilise_nodes(s);
  if (broken(s))
    return END_UNSAFE;
  sync_all(s);
  uint64_t goal = 0, start = simnet_now(s->net);
  for (uint32_t i = 0; i < s->nn; i++)
    if (honest(s, i) && running(s, i) && kh_height(s->cl, i) > goal)
      goal = kh_height(s->cl, i);
  goal += S_PROGRESS;
  for (;;) {
    uint64_t now = simnet_now(s->net);
    if (now < start + S_SUBMIT_MS)
      submit_stable_txs(s);
    int submitted = now >= start + S_SUBMIT_MS;
    if (honest_low(s) >= goal && submitted &&
        transfers_done(s, s->out->why, sizeof s->out->why)) {
      note(s, "progress to height %llu in %llu ms, %zu stable transfers "
              "committed", (unsigned long long)goal,
           (unsigned long long)(now - start), wl_made(s->w, WL_STABLE));
      return END_PASSED;
    }
    if (now >= start + S_LIVE_MS)
      break;
    if (run_to(s, now + S_STEP_MS) != 0)
      return END_UNSAFE;
  }
  if (honest_low(s) < goal) {
    snprintf(s->out->why, sizeof s->out->why,
             "no progress: honest running nodes at height %llu, goal %llu, "
             "after %d s of virtual time", (unsigned long long)honest_low(s),
             (unsigned long long)goal, S_LIVE_MS / 1000);
    return END_STUCK;
  }
  transfers_done(s, s->out->why, sizeof s->out->why);
  return END_TRANSFERS;
}

/* ---- one schedule ---- */

/* Every node's chain, Byzantine and down ones included, holds no
 * transfer twice and none the kit did not make. */
static int no_duplicates(sched *s) {
  char why[280];
  for (uint32_t i = 0; i < s->nn; i++)
    if (judge_chain(s, i, 0, why, sizeof why) > 0) {
      snprintf(s->out->why, sizeof s->out->why, "node %u: %.280s", i, why);
      return 0;
    }
  return 1;
}

/* Where each running engine says it is, for a schedule without progress. */
static void note_status(sched *s) {
  for (uint32_t i = 0; i < s->nn; i++) {
    mc_consensus_status st;
    if (kh_status(s->cl, i, &st) == 0)
      note(s, "status node=%u committed=%llu deciding=%llu view=%llu "
              "leader=%d", i, (unsigned long long)kh_height(s->cl, i),
           (unsigned long long)st.height, (unsigned long long)st.view,
           st.leader);
  }
}

static int fault_phase(sched *s) {
  uint64_t end = rnd_in(s, 300, 5000);
  while (simnet_now(s->net) < end) {
    if (run_to(s, simnet_now(s->net) + rnd_in(s, 10, 400)) != 0)
      return -1;
    fault_event(s);
    if (broken(s))
      return -1;
  }
  return 0;
}

/* Runs the phases; the first failure decides the end. */
static int run_phases(sched *s) {
  note(s, "schedule seed=%llu model=%s n=%u f=%u twins=%u sync=%llums",
       (unsigned long long)s->seed, MODEL_NAMES[s->o->model], s->n, s->f,
       s->ntwins, (unsigned long long)s->sync_ms);
  draw_twin_split(s);
  heal(s);
  for (uint32_t i = 0; i < s->nn && !broken(s); i++)
    restart(s, i, 0);
  kh_refresh_peers(s->cl);
  int end = broken(s) || fault_phase(s) != 0 ? END_UNSAFE : stable_phase(s);
  if (kh_failure(s->cl) != NULL) {
    snprintf(s->out->why, sizeof s->out->why, "%s", kh_failure(s->cl));
    return END_UNSAFE;
  }
  if (s->restart_failed)
    return END_RESTART;
  if (end == END_STUCK)
    note_status(s);
  if (end == END_PASSED && !no_duplicates(s))
    return END_TRANSFERS;
  return end;
}

static const char *const END_NAMES[END_KINDS] = {
    "passed", "SAFETY BROKEN", "RESTART FAILED", "NO PROGRESS",
    "TRANSFERS WRONG"};

static void report_failure(sched *s) {
  note(s, "%s: %s", END_NAMES[s->out->end], s->out->why);
  if (!s->o->trace)
    fprintf(stderr, "---- seed %llu (fault model %s): %s; event log:\n%s",
            (unsigned long long)s->seed, MODEL_NAMES[s->o->model],
            END_NAMES[s->out->end], s->log ? s->log : "");
  fprintf(stderr,
          "---- seed %llu failed: %s\n"
          "---- replay: mc-consensus-sim --seed %llu %s\n"
          "----   (add --trace for every engine log line, commit and sync)\n",
          (unsigned long long)s->seed, s->out->why,
          (unsigned long long)s->seed, s->o->replay);
}

void sched_run(const sched_opts *o, uint64_t seed, outcome *out) {
  sched s = {.o = o, .seed = seed, .out = out};
  char err[256];
  memset(out, 0, sizeof *out);
  if (setup(&s, err, sizeof err) != 0) {
    fprintf(stderr, "mc-consensus-sim: seed %llu: cannot set up: %s\n",
            (unsigned long long)seed, err);
    exit(2);
  }
  out->end = run_phases(&s);
  out->n = s.n;
  out->f = s.f;
  out->twins = s.ntwins;
  out->txs_fault = wl_made(s.w, WL_FAULT);
  out->txs_stable = wl_made(s.w, WL_STABLE);
  for (uint32_t i = 0; i < s.nn; i++)
    if (kh_height(s.cl, i) > out->heights) {
      out->heights = kh_height(s.cl, i);
      out->txs_committed = 0;
      for (uint64_t h = 1; h <= out->heights; h++)
        out->txs_committed += kh_block(s.cl, i, h)->header.tx_count;
    }
  if (out->end != END_PASSED)
    report_failure(&s);
  kh_free(s.cl);
  wl_free(s.w);
  free(s.log);
}
