/*
 * mcli_load.c - `mcli load`: an open-loop stream of signed transfers, to
 * keep a devnet busy and to measure how many transfers per second a
 * network commits and how long each takes.
 *
 * The client must not be what it measures, so nothing slow happens in the
 * timed phase: transfers are signed ahead (all of them for a run of known
 * size that fits LOAD_PRESIGN_MAX, else a bounded queue per sender topped
 * up in short slices), many SUBMIT_TX are in flight on each connection (a
 * window of request ids, answers matched by rid), frames leave in batches
 * from non-blocking sockets under one poll() loop, and transfers are
 * offered at --rate whether or not earlier ones were answered.  What the
 * client held back (every key at its --per-key bound, windows full) is
 * counted as missed, not hidden in a lower offered rate.
 *
 * Memory is bounded: the window per connection, --per-key uncommitted
 * transfers per key, the pre-signed queues and the histogram.
 *
 * This file holds the arguments, the poll() loop, and the start (keys,
 * nonces, signing ahead, connections) and end of a run (mcli_cmd_load).
 * mcli_load_send.c offers the transfers: the queues of signed transfers,
 * the connections and their windows, the schedule.  mcli_load_track.c
 * follows what became of them: the answers, the chain as it grows, and
 * the summary.  mcli_load.h holds what the three share.
 */
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "keys.h"
#include "mcli.h"
#include "mcli_load.h"
#include "minichain/error.h"

volatile sig_atomic_t load_interrupted;
static void on_sigint(int sig) {
  (void)sig;
  load_interrupted++;
}

uint64_t load_cpu_us(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return 0;
  return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
         (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

uint64_t load_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- arguments ---- */

static int parse_num(const char *cmd, const char *name, const char *s,
                     uint64_t *out, int zero_ok) {
  if (mcli_parse_u64(s, out) != 0 || (!zero_ok && *out == 0))
    return mcli_usage_error(cmd, "--%s: expected a %s integer, got '%s'", name,
                            zero_ok ? "non-negative" : "positive", s);
  return MCLI_EXIT_OK;
}

static int load_parse(int argc, char **argv, load_args *a) {
  static const struct option opts[] = {
      {"node", required_argument, NULL, 'N'},
      {"key", required_argument, NULL, 'k'},
      {"rate", required_argument, NULL, 'r'},
      {"count", required_argument, NULL, 'c'},
      {"duration", required_argument, NULL, 'd'},
      {"amount", required_argument, NULL, 'a'},
      {"window", required_argument, NULL, 'w'},
      {"conns", required_argument, NULL, 'C'},
      {"per-key", required_argument, NULL, 'p'},
      {"json", no_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *cmd = argv[0];
  int c, rc = MCLI_EXIT_OK;
  while (rc == MCLI_EXIT_OK && (c = mcli_next_opt(argc, argv, opts)) >= 0) {
    switch (c) {
    case 'N':
      if (a->nnodes == LOAD_MAX_NODES)
        return mcli_usage_error(cmd, "at most %d --node", LOAD_MAX_NODES);
      a->nodes[a->nnodes++] = optarg;
      break;
    case 'k':
      if (a->nkeys == LOAD_MAX_KEYS)
        return mcli_usage_error(cmd, "at most %d --key", LOAD_MAX_KEYS);
      a->keys[a->nkeys++] = optarg;
      break;
    case 'r':
      if (strcmp(optarg, "max") == 0)
        a->rate = 0;
      else
        rc = parse_num(cmd, "rate", optarg, &a->rate, 1);
      break;
    case 'c':
      rc = parse_num(cmd, "count", optarg, &a->count, 1);
      break;
    case 'd':
      rc = parse_num(cmd, "duration", optarg, &a->duration_s, 0);
      break;
    case 'a':
      rc = parse_num(cmd, "amount", optarg, &a->amount, 0);
      break;
    case 'w':
      rc = parse_num(cmd, "window", optarg, &a->window, 0);
      if (rc == MCLI_EXIT_OK && a->window > LOAD_MAX_WINDOW)
        return mcli_usage_error(cmd, "--window: at most %d", LOAD_MAX_WINDOW);
      break;
    case 'C':
      rc = parse_num(cmd, "conns", optarg, &a->conns, 0);
      break;
    case 'p':
      rc = parse_num(cmd, "per-key", optarg, &a->per_key, 0);
      if (rc == MCLI_EXIT_OK && a->per_key > LOAD_MAX_PER_KEY)
        return mcli_usage_error(cmd, "--per-key: at most %d",
                                LOAD_MAX_PER_KEY);
      break;
    case 'j':
      a->json = 1;
      break;
    case 'h':
      a->help = 1;
      break;
    }
  }
  if (rc != MCLI_EXIT_OK || c == MCLI_OPT_ERROR)
    return MCLI_EXIT_USAGE;
  if (a->help)
    return MCLI_EXIT_OK;
  if (optind < argc)
    return mcli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
  if (a->nnodes == 0 || a->nkeys < 2)
    return mcli_usage_error(cmd, "give at least one --node and two --key");
  if (a->nnodes * a->conns > LOAD_MAX_CONNS)
    return mcli_usage_error(cmd, "at most %d connections (--node x --conns)",
                            LOAD_MAX_CONNS);
  return MCLI_EXIT_OK;
}

/* ---- the loop ---- */

static void reconnect(lconn *c, uint64_t now) {
  if (c->up || now < c->retry_us)
    return;
  char err[512];
  if (load_lconn_open(c, c->node, c->window, err, sizeof err) != 0)
    c->retry_us = now + LOAD_RECONNECT_US;
}

static void report_second(load_run *r, uint64_t now) {
  double secs = (double)(now - r->report_us) / 1e6;
  fprintf(r->a->json ? stderr : stdout,
          "load: sent %" PRIu64 " admitted %" PRIu64 " refused %" PRIu64
          " (in flight %" PRIu64 ", uncommitted %" PRIu64 ") | height %" PRIu64
          " committed %.0f transfers/s, p50 %.0f ms\n",
          r->sent, r->admitted, r->refused, r->inflight_submits, r->outstanding,
          r->fetched,
          secs > 0 ? (double)(r->committed - r->report_committed) / secs : 0.0,
          (double)mcli_hist_quantile(&r->lat, 0.5) / 1000.0);
  fflush(r->a->json ? stderr : stdout);
  r->report_us = now;
  r->report_committed = r->committed;
}

/* Whether to stop offering transfers now. */
static int sending_ends(const load_run *r, uint64_t now) {
  const load_args *a = r->a;
  return load_interrupted || r->fatal[0] != '\0' ||
         (a->count > 0 && r->admitted >= a->count) ||
         (a->duration_s > 0 && now - r->start_us >= a->duration_s * 1000000u);
}

/* Whether the wait for the last commits is over.  A lost chain follower
 * ends it too: the nodes are going away (a devnet stopping), and commits
 * could no longer be seen. */
static int draining_ends(const load_run *r, uint64_t now) {
  return load_interrupted > 1 || r->fatal[0] != '\0' ||
         now >= r->drain_end_us || !r->follow.up ||
         (r->inflight_submits == 0 && r->outstanding == 0);
}

/* How long poll() may sleep: until the next thing the loop must do. */
static int poll_timeout_ms(const load_run *r, uint64_t now, int busy) {
  if (busy)
    return 0;
  uint64_t until = now + 100000; /* at most 100 ms: a signal, a reconnect */
  if (r->sending && r->a->rate > 0 && r->next_due_us > (double)now &&
      (uint64_t)r->next_due_us < until)
    until = (uint64_t)r->next_due_us;
  /* the next GET_STATUS, unless one is still out: its answer wakes us */
  if (!r->status_inflight && r->follow.up && r->next_status_us > now &&
      r->next_status_us < until)
    until = r->next_status_us;
  for (size_t i = 0; i < r->nss; i++)
    if (r->ss[i].until_us > now && r->ss[i].until_us < until)
      until = r->ss[i].until_us;
  if (until <= now)
    return 0;
  return (int)((until - now + 999) / 1000);
}

static lconn *conn_at(load_run *r, size_t i) {
  return i < r->nconns ? &r->conns[i] : &r->follow;
}

static void load_loop(load_run *r) {
  struct pollfd pfd[LOAD_MAX_CONNS + 1];
  lconn *who[LOAD_MAX_CONNS + 1];
  for (;;) {
    uint64_t now = load_now_us();
    if (r->sending && sending_ends(r, now)) {
      r->sending = 0;
      r->send_end_us = now;
      load_end_schedule(r, now);
      r->drain_end_us = now + LOAD_COMMIT_WAIT_S * 1000000ull;
    }
    if (!r->sending && draining_ends(r, now))
      return;
    int busy = 0;
    for (size_t i = 0; i <= r->nconns; i++)
      reconnect(conn_at(r, i), now);
    if (r->sending) {
      load_ask_nonces(r, now);
      load_submit_due(r, now);
      busy = load_sign_some(r, LOAD_SIGN_SLICE_US);
    }
    if (r->follow.up)
      load_follow_step(r, now);
    if (now - r->report_us >= 1000000)
      report_second(r, now);
    size_t n = 0;
    for (size_t i = 0; i <= r->nconns; i++) {
      lconn *c = conn_at(r, i);
      char err[512];
      if (c->up && mcli_pipe_flush(&c->pipe, err, sizeof err) != 0)
        load_conn_lost(r, c, err, now);
      if (!c->up)
        continue;
      pfd[n] = (struct pollfd){.fd = c->pipe.conn.fd, .events = POLLIN};
      if (mcli_pipe_unsent(&c->pipe) > 0)
        pfd[n].events |= POLLOUT;
      who[n++] = c;
    }
    if (poll(pfd, n, poll_timeout_ms(r, load_now_us(), busy)) <= 0)
      continue;
    now = load_now_us();
    for (size_t i = 0; i < n; i++)
      if (who[i]->up && (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)))
        load_conn_read(r, who[i], now);
  }
}

/* ---- start and end ---- */

/* Asks node_ix's node for the chain id and the nonces of the keys that
 * send there, and for the head from the first node. */
static int ask_start(load_run *r, size_t node_ix, char *err, size_t errlen) {
  mcli_conn c;
  int rc = mcli_connect(&c, r->a->nodes[node_ix], MCLI_DEFAULT_TIMEOUT_S, err,
                        errlen);
  if (rc != 0)
    return rc;
  mc_msg req = {.type = MC_MSG_GET_STATUS}, resp;
  rc = mcli_request(&c, &req, MC_MSG_STATUS, &resp, err, errlen);
  if (rc == 0 && node_ix == 0) {
    snprintf(r->chain_id, sizeof r->chain_id, "%s", resp.u.status.chain_id);
    r->start_height = r->head = r->asked_to = r->fetched = resp.u.status.height;
  }
  for (size_t i = 0; rc == 0 && i < r->nss; i++) {
    sender *s = &r->ss[i];
    if (s->conn % r->a->nnodes != node_ix)
      continue;
    req = (mc_msg){.type = MC_MSG_GET_ACCOUNT};
    memcpy(req.u.get_account.pubkey, s->kp.pk, MC_PUBKEY_LEN);
    rc = mcli_request(&c, &req, MC_MSG_ACCOUNT, &resp, err, errlen);
    if (rc == 0)
      s->sign_next = resp.u.account.next_nonce;
  }
  mcli_close(&c);
  return rc;
}

/* How many transfers each key signs ahead: all it will send for a --count
 * that fits LOAD_PRESIGN_MAX, else its share of that bound. */
/* How many transfers the run will send, when that is known and small
 * enough to sign them all before the clock starts: --count N, or --rate
 * times --duration.  0 otherwise. */
static uint64_t planned(const load_args *a) {
  uint64_t n = a->count;
  if (n == 0 && a->rate > 0 && a->duration_s > 0 &&
      a->duration_s <= LOAD_PRESIGN_MAX / a->rate)
    n = a->rate * a->duration_s;
  return n <= LOAD_PRESIGN_MAX ? n : 0;
}

static size_t queue_cap(const load_args *a, size_t nss) {
  size_t bound = LOAD_PRESIGN_MAX / nss;
  if (planned(a) > 0) {
    /* keys take turns, but one that is held back leaves its turn to the
     * others: a margin, topped up in the loop if it is not enough */
    size_t want = (size_t)(planned(a) / nss) + 2 * LOAD_SIGN_CHUNK;
    return want < bound ? want : bound;
  }
  return bound;
}

/* Signs ahead before the clock starts, so that signing neither limits
 * the rate nor takes CPU from a node on the same machine while the clock
 * runs.  A run of known size (--count, or --rate x --duration) up to
 * LOAD_PRESIGN_MAX is signed entirely; otherwise two seconds of the rate
 * (at max, twice --per-key a key), which the loop keeps up in slices. */
static void presign(load_run *r) {
  const load_args *a = r->a;
  size_t per = r->ss[0].fresh.cap;
  if (planned(a) > 0) {
    /* all of it: the loop signs only for a key that runs low */
    per = (size_t)(planned(a) / r->nss) + LOAD_SIGN_CHUNK;
    r->ahead = LOAD_SIGN_CHUNK;
  } else {
    /* at max a key sends no faster than its --per-key transfers commit */
    size_t want = a->rate > 0 ? (size_t)(2 * a->rate / r->nss) + LOAD_SIGN_CHUNK
                              : (size_t)(2 * a->per_key) + LOAD_SIGN_CHUNK;
    per = want < per ? want : per;
    r->ahead = per;
  }
  uint64_t t0 = load_now_us();
  size_t total = 0;
  for (size_t i = 0; i < r->nss; i++)
    total += load_sign_ahead(&r->ss[i], per);
  double secs = (double)(load_now_us() - t0) / 1e6;
  fprintf(a->json ? stderr : stdout,
          "load: %zu keys on %zu connection(s) to %zu node(s); signed %zu "
          "transfers ahead in %.2f s (%.0f/s)\n",
          r->nss, r->nconns, a->nnodes, total, secs,
          secs > 0 ? (double)total / secs : 0.0);
}

static int load_open(load_run *r, char *err, size_t errlen) {
  const load_args *a = r->a;
  r->nss = a->nkeys;
  size_t want_conns = a->nnodes * a->conns;
  r->nconns = want_conns < r->nss ? want_conns : r->nss;
  for (size_t i = 0; i < r->nss; i++) {
    sender *s = &r->ss[i];
    if (mc_key_load(a->keys[i], &s->kp, err, errlen) != 0)
      return MC_EIO;
  }
  size_t cap = queue_cap(a, r->nss);
  for (size_t i = 0; i < r->nss; i++) {
    sender *s = &r->ss[i];
    s->conn = i % r->nconns;
    s->slots = calloc(a->per_key, sizeof *s->slots);
    if (s->slots == NULL || load_txq_init(&s->fresh, cap) != 0 ||
        load_txq_init(&s->retry, a->per_key) != 0) {
      snprintf(err, errlen, "out of memory");
      return MC_ENOMEM;
    }
    memcpy(s->tmpl.from, s->kp.pk, MC_PUBKEY_LEN);
    memcpy(s->tmpl.to, r->ss[(i + 1) % r->nss].kp.pk, MC_PUBKEY_LEN);
    s->tmpl.amount = a->amount;
  }
  for (size_t n = 0; n < a->nnodes && n < r->nconns; n++) {
    int rc = ask_start(r, n, err, errlen);
    if (rc != 0)
      return rc;
  }
  for (size_t i = 0; i < r->nss; i++)
    snprintf(r->ss[i].tmpl.chain_id, sizeof r->ss[i].tmpl.chain_id, "%s",
             r->chain_id);
  /* before connecting: a node closes a connection that sends nothing
   * for --handshake-timeout-ms (5 s), and a large --count takes longer */
  presign(r);
  /* connection i goes to node i % nnodes: the keys are spread over the
   * nodes before a node gets a second connection */
  for (size_t i = 0; i < r->nconns; i++) {
    int rc = load_lconn_open(&r->conns[i], a->nodes[i % a->nnodes], a->window,
                             err, errlen);
    if (rc != 0)
      return rc;
  }
  return load_lconn_open(&r->follow, a->nodes[0], LOAD_FOLLOW_WINDOW, err,
                         errlen);
}

static void load_free(load_run *r) {
  for (size_t i = 0; i <= r->nconns; i++) {
    lconn *c = conn_at(r, i);
    mcli_pipe_close(&c->pipe);
    free(c->reqs);
  }
  for (size_t i = 0; i < r->nss; i++) {
    free(r->ss[i].fresh.v);
    free(r->ss[i].retry.v);
    free(r->ss[i].slots);
  }
  memset(r->ss, 0, sizeof r->ss); /* the secret keys */
}

int mcli_cmd_load(int argc, char **argv) {
  load_args a = {.rate = LOAD_DEFAULT_RATE,
                 .amount = 1,
                 .window = LOAD_DEFAULT_WINDOW,
                 .conns = LOAD_DEFAULT_CONNS,
                 .per_key = LOAD_DEFAULT_PER_KEY};
  int rc = load_parse(argc, argv, &a);
  if (rc != MCLI_EXIT_OK || a.help)
    return rc == MCLI_EXIT_OK ? mcli_help(argv[0]) : rc;
  load_run *r = calloc(1, sizeof *r);
  if (r == NULL)
    return mcli_fail("load", "out of memory");
  r->a = &a;
  for (size_t i = 0; i < LOAD_MAX_CONNS; i++)
    r->conns[i].pipe.conn.fd = -1;
  r->follow.pipe.conn.fd = -1;
  signal(SIGINT, on_sigint);
  signal(SIGTERM, on_sigint);
  char err[512];
  rc = load_open(r, err, sizeof err);
  if (rc != 0) {
    rc = rc == MC_EINVAL ? mcli_usage_error("load", "%s", err)
                         : mcli_fail("load", "%s", err);
  } else {
    r->cpu_start_us = load_cpu_us();
    r->start_us = r->report_us = load_now_us();
    r->next_due_us = (double)r->start_us;
    r->sending = 1;
    load_loop(r);
    rc = load_summary(r);
  }
  load_free(r);
  free(r);
  return rc;
}
