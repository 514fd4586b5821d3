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
 * The keys pay each other in a ring (key i pays key i+1), so the supply
 * stays where it was and no account runs dry.  Each key sends on one
 * connection, so its transfers reach a node in nonce order and wait in
 * the mempool's queue of future nonces only behind a refused one (EFULL),
 * which is sent again first; the keys are spread over the nodes and
 * connections in turn.
 *
 * Commits are seen by following the chain on a connection of its own
 * (GET_STATUS every millisecond, GET_BLOCK for each new height); a transfer
 * found in a block is matched to its sender's record of admitted nonces,
 * and its submit-to-commit time goes into a fixed-size histogram.
 * Memory is bounded: the window per connection, --per-key uncommitted
 * transfers per key, the pre-signed queues and the histogram.
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

#include "chain/codec.h"
#include "keys.h"
#include "mcli.h"
#include "minichain/error.h"

#define LOAD_MAX_NODES 16
#define LOAD_MAX_KEYS 64
#define LOAD_MAX_CONNS 64 /* all nodes together */
#define LOAD_DEFAULT_RATE 200
#define LOAD_DEFAULT_WINDOW 1024
#define LOAD_MAX_WINDOW 65536
/* A node reads at most --max-requests-per-sec (2000) frames a second from
 * one client connection, so one connection caps what a node is offered. */
#define LOAD_DEFAULT_CONNS 4
#define LOAD_COMMIT_WAIT_S 120
/* What one key may have in flight or admitted and uncommitted, kept as a
 * ring of that many records by nonce.  The default lets 64 keys fill a
 * node's whole default mempool (100000) twice over while no key nears its
 * share (50000); a node with smaller limits answers EFULL, and the key
 * waits and sends again. */
#define LOAD_DEFAULT_PER_KEY 4096
#define LOAD_MAX_PER_KEY 65536
/* Signed transfers held ahead, all keys together (104 bytes each). */
#define LOAD_PRESIGN_MAX 262144
#define LOAD_SIGN_CHUNK 64
#define LOAD_SIGN_SLICE_US 2000 /* signing per loop turn in the timed phase */
/* GET_STATUS period: the latency measured includes up to this much of
 * waiting to notice a commit */
#define LOAD_FOLLOW_US 1000
#define LOAD_FOLLOW_WINDOW 16   /* follower requests in flight */
#define LOAD_BACKOFF_MIN_US 5000
#define LOAD_BACKOFF_MAX_US 200000
#define LOAD_RECONNECT_US 1000000
/* Open loop, but a stall (every key blocked) is not made up for by a
 * burst longer than this. */
#define LOAD_MAX_DEBT_US 200000
#define LOAD_NCODES 64 /* refusal counters by -code */
#define STR_(x) #x
#define STR(x) STR_(x)

typedef struct load_args {
  const char *nodes[LOAD_MAX_NODES];
  size_t nnodes;
  const char *keys[LOAD_MAX_KEYS];
  size_t nkeys;
  uint64_t rate, count, amount, window, conns, duration_s, per_key;
  int json, help;
} load_args;

/* A transfer signed ahead: what differs from its sender's template. */
typedef struct signed_tx {
  uint64_t nonce;
  uint8_t sig[MC_SIG_LEN];
  uint8_t id[MC_HASH_LEN];
} signed_tx;

/* A ring of signed transfers in nonce order. */
typedef struct txq {
  signed_tx *v;
  size_t cap, head, len;
} txq;

enum { SLOT_FREE, SLOT_SENT, SLOT_ADMITTED, SLOT_EARLY };

/* One of a key's --per-key records, at nonce % per_key.  Transfers are
 * matched by (sender, nonce) and checked by id: the ring makes transfer n
 * of a key the same bytes, with the same id, every time it is signed, but
 * another client using the key may take nonce n with another transfer. */
typedef struct lslot {
  uint64_t nonce;
  uint64_t id8;       /* the first 8 bytes of the transfer's id */
  uint64_t sent_us;   /* ADMITTED: when the admitted copy was sent */
  uint64_t commit_us; /* EARLY: seen in a block before its answer came */
  uint8_t state;
} lslot;

enum { S_READY, S_RESYNC, S_ASKING };

typedef struct sender {
  mc_keypair kp;
  mc_tx tmpl; /* chain id, from, to, amount: the same for every transfer */
  size_t conn;
  int state;
  uint64_t sign_next; /* the nonce the next signed transfer gets */
  txq fresh;          /* signed, never sent */
  txq retry;          /* refused with EFULL: sent again before any fresh */
  size_t inflight;    /* SUBMIT_TX and GET_ACCOUNT not answered */
  uint64_t backoff_us, until_us;
  lslot *slots;
  size_t held; /* slots not FREE: in flight or uncommitted */
} sender;

enum { REQ_SUBMIT = 1, REQ_ACCOUNT, REQ_STATUS, REQ_BLOCK };

typedef struct req {
  uint64_t rid; /* 0: free */
  uint8_t kind;
  uint8_t resend; /* REQ_SUBMIT of a transfer already admitted once */
  uint16_t sender;
  uint64_t sent_us;
  signed_tx tx; /* REQ_SUBMIT: to send again after EFULL */
} req;

/* A connection with its window of request ids (rid % window). */
typedef struct lconn {
  mcli_pipe pipe;
  const char *node;
  int up;
  uint64_t retry_us;
  req *reqs;
  size_t window, inflight;
} lconn;

typedef struct load_run {
  const load_args *a;
  sender ss[LOAD_MAX_KEYS];
  size_t nss;
  lconn conns[LOAD_MAX_CONNS];
  size_t nconns;
  lconn follow;
  char chain_id[MC_CHAIN_ID_MAX + 1];
  char fatal[300];
  /* schedule */
  uint64_t start_us, send_end_us, drain_end_us;
  double next_due_us;
  size_t rr;
  int sending;
  size_t ahead; /* the loop signs for a key with fewer queued */
  /* --rate: transfers the schedule made due that were never sent, as no
   * key could send (each at its --per-key bound, backing off, its
   * connection's window full or down) for longer than LOAD_MAX_DEBT_US */
  double missed;
  /* counters */
  uint64_t sent, retried, admitted, dups, refused, committed, outstanding;
  uint64_t displaced; /* admitted, then its nonce taken by another client */
  uint64_t refused_by[LOAD_NCODES];
  uint64_t inflight_submits;
  mcli_hist lat;
  /* the chain, as followed */
  uint64_t start_height, head, asked_to, fetched, next_status_us;
  int status_inflight;
  uint64_t last_commit_us, chain_txs;
  /* mcli's own CPU time (user + system) from the start of the clock to
   * the summary: what the client cost, beside what it measured */
  uint64_t cpu_start_us;
  /* once a second */
  uint64_t report_us, report_committed;
} load_run;

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
  (void)sig;
  interrupted++;
}

static uint64_t cpu_us(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return 0;
  return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
         (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static uint64_t now_us(void) {
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

/* ---- queues of signed transfers ---- */

static int txq_init(txq *q, size_t cap) {
  q->v = calloc(cap, sizeof *q->v);
  q->cap = cap;
  q->head = q->len = 0;
  return q->v == NULL ? MC_ENOMEM : 0;
}

static signed_tx *txq_front(txq *q) {
  return q->len == 0 ? NULL : &q->v[q->head];
}

static void txq_pop(txq *q) {
  q->head = (q->head + 1) % q->cap;
  q->len--;
}

static void txq_push(txq *q, const signed_tx *t) {
  q->v[(q->head + q->len) % q->cap] = *t;
  q->len++;
}

/* Signs up to n more of s's transfers into its fresh queue. */
static size_t sign_ahead(sender *s, size_t n) {
  size_t done = 0;
  while (done < n && s->fresh.len < s->fresh.cap) {
    mc_tx tx = s->tmpl;
    tx.nonce = s->sign_next++;
    mc_tx_sign(&tx, s->kp.sk);
    signed_tx t = {.nonce = tx.nonce};
    memcpy(t.sig, tx.sig, MC_SIG_LEN);
    memcpy(t.id, tx.id, MC_HASH_LEN);
    txq_push(&s->fresh, &t);
    done++;
  }
  return done;
}

/* Drops what s had signed or meant to send again: its nonce is to be
 * asked afresh (the node refused one as stale, or a connection was lost
 * with transfers in flight). */
static void sender_resync(sender *s) {
  s->fresh.len = s->retry.len = 0;
  s->state = S_RESYNC;
}

static void slot_free(sender *s, lslot *sl) {
  sl->state = SLOT_FREE;
  s->held--;
}

/* ---- connections ---- */

static int lconn_open(lconn *c, const char *node, size_t window, char *err,
                      size_t errlen) {
  c->node = node;
  c->window = window;
  c->inflight = 0;
  if (c->reqs == NULL)
    c->reqs = calloc(window, sizeof *c->reqs);
  else
    memset(c->reqs, 0, window * sizeof *c->reqs);
  if (c->reqs == NULL) {
    snprintf(err, errlen, "out of memory");
    return MC_ENOMEM;
  }
  int rc = mcli_pipe_open(&c->pipe, node, 2, err, errlen);
  c->up = rc == 0;
  return rc;
}

/* The request slot the connection's next rid would take, or NULL when the
 * window is full (or that rid's slot still waits for an answer). */
static req *lconn_slot(lconn *c) {
  if (!c->up || c->inflight >= c->window)
    return NULL;
  req *q = &c->reqs[c->pipe.conn.next_rid % c->window];
  return q->rid == 0 ? q : NULL;
}

/* Queues m on c into slot q (from lconn_slot).  0 or an error in r. */
static int lconn_send(load_run *r, lconn *c, req *q, mc_msg *m, int kind,
                      size_t sender_ix, uint64_t now) {
  char err[256];
  int rc = mcli_pipe_queue(&c->pipe, m, err, sizeof err);
  if (rc != 0) {
    snprintf(r->fatal, sizeof r->fatal, "%s", err);
    return rc;
  }
  q->rid = m->rid;
  q->kind = (uint8_t)kind;
  q->sender = (uint16_t)sender_ix;
  q->sent_us = now;
  c->inflight++;
  return 0;
}

/* ---- sending ---- */

static uint64_t still_owed(const load_run *r);

/* Sends s's next transfer if it may; returns 1 if one was sent. */
static int try_submit(load_run *r, size_t ix, uint64_t now) {
  sender *s = &r->ss[ix];
  if (s->state != S_READY || now < s->until_us)
    return 0;
  lconn *c = &r->conns[s->conn];
  req *q = lconn_slot(c);
  if (q == NULL)
    return 0;
  txq *from = s->retry.len > 0 ? &s->retry : &s->fresh;
  signed_tx *t = txq_front(from);
  if (t == NULL)
    return 0;
  if (from == &s->fresh && r->a->count > 0 && still_owed(r) == 0)
    return 0; /* --count N: no more than could still be needed */
  lslot *sl = &s->slots[t->nonce % r->a->per_key];
  /* A transfer admitted once and signed again after a resync (the node
   * counts only ready transfers in next_nonce, not queued ones) goes
   * again: EDUP if it is still there, admitted if it was dropped. */
  int resend = sl->state == SLOT_ADMITTED && sl->nonce == t->nonce;
  if (!resend && (sl->state != SLOT_FREE || s->held >= r->a->per_key))
    return 0; /* --per-key of its transfers are in flight or uncommitted */
  mc_msg m = {.type = MC_MSG_SUBMIT_TX};
  m.u.tx = s->tmpl;
  m.u.tx.nonce = t->nonce;
  memcpy(m.u.tx.sig, t->sig, MC_SIG_LEN);
  memcpy(m.u.tx.id, t->id, MC_HASH_LEN);
  if (lconn_send(r, c, q, &m, REQ_SUBMIT, ix, now) != 0)
    return 0;
  q->tx = *t;
  q->resend = (uint8_t)resend;
  if (!resend) {
    *sl = (lslot){.nonce = t->nonce, .state = SLOT_SENT};
    memcpy(&sl->id8, t->id, sizeof sl->id8);
    s->held++;
  }
  if (from == &s->retry)
    r->retried++;
  txq_pop(from);
  s->inflight++;
  r->inflight_submits++;
  r->sent++;
  return 1;
}

/* The next key in turn that can send sends one transfer. */
static int submit_one(load_run *r, uint64_t now) {
  for (size_t i = 0; i < r->nss; i++) {
    size_t ix = (r->rr + i) % r->nss;
    if (try_submit(r, ix, now)) {
      r->rr = ix + 1;
      return 1;
    }
  }
  return 0;
}

/* Offers what the schedule says is due: transfer k at start + k/rate. */
static void submit_due(load_run *r, uint64_t now) {
  if (r->a->rate == 0) {
    while (submit_one(r, now))
      ;
    return;
  }
  double step = 1e6 / (double)r->a->rate;
  double oldest = (double)now - LOAD_MAX_DEBT_US;
  if (r->next_due_us < oldest) {
    r->missed += (oldest - r->next_due_us) / step;
    r->next_due_us = oldest;
  }
  while (r->next_due_us <= (double)now && submit_one(r, now))
    r->next_due_us += step;
}

/* The due transfers not sent when sending ends count as missed too. */
static void end_schedule(load_run *r, uint64_t now) {
  if (r->a->rate > 0 && r->next_due_us <= (double)now)
    r->missed += ((double)now - r->next_due_us) * (double)r->a->rate / 1e6;
}

/* Asks the nonce of each key that lost track of it, once nothing of its
 * own is in flight (an answer still coming could change it). */
static void ask_nonces(load_run *r, uint64_t now) {
  for (size_t i = 0; i < r->nss; i++) {
    sender *s = &r->ss[i];
    if (s->state != S_RESYNC || s->inflight > 0 || now < s->until_us)
      continue;
    lconn *c = &r->conns[s->conn];
    req *q = lconn_slot(c);
    if (q == NULL)
      continue;
    mc_msg m = {.type = MC_MSG_GET_ACCOUNT};
    memcpy(m.u.get_account.pubkey, s->kp.pk, MC_PUBKEY_LEN);
    if (lconn_send(r, c, q, &m, REQ_ACCOUNT, i, now) == 0) {
      s->state = S_ASKING;
      s->inflight++;
    }
  }
}

/* With --count N: how many more fresh transfers could still be needed
 * (what is admitted, in flight or waiting to be sent again counts). */
static uint64_t still_owed(const load_run *r) {
  uint64_t have = r->admitted + r->inflight_submits;
  for (size_t i = 0; i < r->nss; i++)
    have += r->ss[i].retry.len;
  return have >= r->a->count ? 0 : r->a->count - have;
}

/* Signs for the keys with fewer than r->ahead queued, a chunk at a time,
 * for at most slice_us; returns 1 if any still wants more. */
static int sign_some(load_run *r, uint64_t slice_us) {
  if (r->a->count > 0) {
    uint64_t signed_ahead = 0;
    for (size_t i = 0; i < r->nss; i++)
      signed_ahead += r->ss[i].fresh.len;
    if (signed_ahead >= still_owed(r))
      return 0; /* enough to finish: signing more would only cost CPU */
  }
  uint64_t end = now_us() + slice_us;
  int more = 1;
  while (more && now_us() < end) {
    more = 0;
    for (size_t i = 0; i < r->nss; i++) {
      sender *s = &r->ss[i];
      if (s->state == S_READY && s->fresh.len < r->ahead &&
          sign_ahead(s, LOAD_SIGN_CHUNK) > 0)
        more = 1;
    }
  }
  return more;
}

/* ---- answers ---- */

static void count_refusal(load_run *r, int code) {
  r->refused++;
  if (code < 0 && -code < LOAD_NCODES)
    r->refused_by[-code]++;
  else
    r->refused_by[0]++;
}

static void record_commit(load_run *r, uint64_t sent_us, uint64_t at_us) {
  mcli_hist_add(&r->lat, at_us > sent_us ? at_us - sent_us : 0);
  r->committed++;
  if (at_us > r->last_commit_us)
    r->last_commit_us = at_us;
}

static void on_submit_result(load_run *r, const req *q, int code,
                             uint64_t now) {
  sender *s = &r->ss[q->sender];
  lslot *sl = &s->slots[q->tx.nonce % r->a->per_key];
  /* the slot is this transfer's, taken when it was sent (not a resend) */
  int mine = !q->resend && sl->nonce == q->tx.nonce &&
             (sl->state == SLOT_SENT || sl->state == SLOT_EARLY);
  s->inflight--;
  r->inflight_submits--;
  if (code == 0 || code == MC_EDUP) {
    /* EDUP: an earlier copy is pending (sent before a lost connection, or
     * a resend) */
    s->backoff_us = 0;
    if (!mine)
      return; /* a resend: counted when first admitted */
    r->admitted++;
    r->dups += code == MC_EDUP;
    if (sl->state == SLOT_EARLY) {
      record_commit(r, q->sent_us, sl->commit_us);
      slot_free(s, sl);
    } else {
      sl->state = SLOT_ADMITTED;
      sl->sent_us = q->sent_us;
      r->outstanding++;
    }
    return;
  }
  count_refusal(r, code);
  if (mine)
    slot_free(s, sl);
  if (code == MC_ENONCEGAP && s->retry.len > 0 &&
      txq_front(&s->retry)->nonce < q->tx.nonce)
    code = MC_EFULL; /* the hole is one of ours, waiting to be sent again */
  switch (code) {
  case MC_EFULL:
    /* The mempool (or this key's share of it) is full: wait, then send
     * the same transfer again, ahead of anything newer.  Those sent after
     * it come back EFULL too, or ENONCEGAP past the node's queue of
     * future nonces, and wait in nonce order behind it. */
    if (s->state == S_READY && s->retry.len < s->retry.cap)
      txq_push(&s->retry, &q->tx);
    else if (s->state == S_READY)
      sender_resync(s); /* cannot hold it: start over from the chain */
    s->backoff_us = s->backoff_us == 0 ? LOAD_BACKOFF_MIN_US
                    : s->backoff_us * 2 > LOAD_BACKOFF_MAX_US
                        ? LOAD_BACKOFF_MAX_US
                        : s->backoff_us * 2;
    s->until_us = now + s->backoff_us;
    break;
  case MC_ENONCE:
  case MC_ENONCEGAP:
  case MC_EBALANCE:
  case MC_EOVERFLOW:
    /* Out of step with the chain (a restarted node, a transfer lost with
     * a connection, another client using the key): ask the nonce again. */
    if (s->state == S_READY)
      sender_resync(s);
    s->until_us = now + LOAD_BACKOFF_MIN_US;
    break;
  default:
    /* ESIG, ECHAINID, ...: every transfer would be refused the same way */
    snprintf(r->fatal, sizeof r->fatal, "%s refuses the transfers: %s (%s)",
             r->conns[s->conn].node, mc_err_name(code), mc_strerror(code));
  }
}

static void on_account(load_run *r, const req *q, const mc_msg *m) {
  sender *s = &r->ss[q->sender];
  s->inflight--;
  if (s->state != S_ASKING)
    return;
  s->sign_next = m->u.account.next_nonce;
  s->state = S_READY;
  sign_ahead(s, LOAD_SIGN_CHUNK);
}

/* A block of the chain as followed: its transfers of ours are committed. */
static void on_block(load_run *r, const mc_block *b, uint64_t now) {
  if (b->header.height != r->fetched + 1)
    return; /* answered in order, so only after a reconnection */
  r->fetched = b->header.height;
  for (uint32_t i = 0; i < b->header.tx_count; i++) {
    const mc_tx *tx = &b->txs[i];
    r->chain_txs++;
    for (size_t k = 0; k < r->nss; k++) {
      sender *s = &r->ss[k];
      if (memcmp(tx->from, s->kp.pk, MC_PUBKEY_LEN) != 0)
        continue;
      lslot *sl = &s->slots[tx->nonce % r->a->per_key];
      if (sl->nonce != tx->nonce || sl->state == SLOT_FREE)
        break;
      if (memcmp(&sl->id8, tx->id, sizeof sl->id8) != 0) {
        /* another client's transfer took the nonce: ours never commits */
        if (sl->state == SLOT_ADMITTED) {
          slot_free(s, sl);
          r->outstanding--;
          r->displaced++;
        }
        break;
      }
      if (sl->state == SLOT_ADMITTED) {
        record_commit(r, sl->sent_us, now);
        slot_free(s, sl);
        r->outstanding--;
      } else if (sl->state == SLOT_SENT) {
        sl->state = SLOT_EARLY;
        sl->commit_us = now;
      }
      break;
    }
  }
}

/* Handles one answer on c; 0, or an error with the reason in err. */
static int on_answer(load_run *r, lconn *c, const mc_msg *m, uint64_t now,
                     char *err, size_t errlen) {
  if (m->type == MC_MSG_ERROR) {
    snprintf(err, errlen, "%s refused a request: %s (%s)", c->node,
             m->u.error.message, mc_err_name(m->u.error.code));
    return MC_EIO;
  }
  req *q = &c->reqs[m->rid % c->window];
  if (q->rid == 0 || q->rid != m->rid) {
    snprintf(err, errlen,
             "%s answered request id %" PRIu64 ", which is not in flight",
             c->node, m->rid);
    return MC_EDECODE;
  }
  req done = *q;
  q->rid = 0;
  c->inflight--;
  static const uint32_t want[] = {[REQ_SUBMIT] = MC_MSG_SUBMIT_RESULT,
                                  [REQ_ACCOUNT] = MC_MSG_ACCOUNT,
                                  [REQ_STATUS] = MC_MSG_STATUS,
                                  [REQ_BLOCK] = MC_MSG_BLOCK};
  if (m->type != want[done.kind]) {
    snprintf(err, errlen,
             "%s answered request %" PRIu64 " with type %u, "
             "expected %u",
             c->node, m->rid, m->type, want[done.kind]);
    return MC_EDECODE;
  }
  switch (done.kind) {
  case REQ_SUBMIT:
    on_submit_result(r, &done, m->u.submit_result.code, now);
    break;
  case REQ_ACCOUNT:
    on_account(r, &done, m);
    break;
  case REQ_STATUS:
    r->status_inflight = 0;
    if (m->u.status.height > r->head)
      r->head = m->u.status.height;
    break;
  case REQ_BLOCK:
    if (m->u.block.block != NULL)
      on_block(r, m->u.block.block, now);
    break;
  }
  return 0;
}

/* c failed: what was in flight on it is forgotten, and the keys that send
 * on it ask their nonce again once it is back. */
static void conn_lost(load_run *r, lconn *c, const char *why, uint64_t now) {
  fprintf(stderr, "mcli load: %s; retrying\n", why);
  for (size_t i = 0; i < c->window; i++) {
    req *q = &c->reqs[i];
    if (q->rid == 0)
      continue;
    if (q->kind == REQ_SUBMIT || q->kind == REQ_ACCOUNT) {
      sender *s = &r->ss[q->sender];
      s->inflight--;
      if (q->kind == REQ_SUBMIT) {
        r->inflight_submits--;
        lslot *sl = &s->slots[q->tx.nonce % r->a->per_key];
        int mine = !q->resend && sl->nonce == q->tx.nonce &&
                   (sl->state == SLOT_SENT || sl->state == SLOT_EARLY);
        if (mine && sl->state == SLOT_EARLY) {
          r->admitted++; /* it was admitted: it is in a block */
          record_commit(r, q->sent_us, sl->commit_us);
        }
        if (mine) /* its fate is unknown: the resync sends it again */
          slot_free(s, sl);
      }
    }
    q->rid = 0;
  }
  for (size_t i = 0; i < r->nss; i++)
    if (&r->conns[r->ss[i].conn] == c)
      sender_resync(&r->ss[i]);
  if (c == &r->follow) {
    r->status_inflight = 0;
    r->asked_to = r->fetched;
  }
  mcli_pipe_close(&c->pipe);
  c->up = 0;
  c->inflight = 0;
  c->retry_us = now + LOAD_RECONNECT_US;
}

/* Reads and handles what arrived on c. */
static void conn_read(load_run *r, lconn *c, uint64_t now) {
  char err[512];
  int rc = mcli_pipe_fill(&c->pipe, err, sizeof err);
  while (rc == 0 && r->fatal[0] == '\0') {
    mc_msg m;
    int got = mcli_pipe_next(&c->pipe, &m, err, sizeof err);
    if (got <= 0) {
      rc = got;
      break;
    }
    rc = on_answer(r, c, &m, now, err, sizeof err);
    mc_msg_clear(&m);
  }
  if (rc != 0)
    conn_lost(r, c, err, now);
}

/* ---- following the chain ---- */

static void follow_step(load_run *r, uint64_t now) {
  lconn *c = &r->follow;
  req *q;
  if (!r->status_inflight && now >= r->next_status_us &&
      (q = lconn_slot(c)) != NULL) {
    mc_msg m = {.type = MC_MSG_GET_STATUS};
    if (lconn_send(r, c, q, &m, REQ_STATUS, 0, now) == 0) {
      r->status_inflight = 1;
      r->next_status_us = now + LOAD_FOLLOW_US;
    }
  }
  while (r->asked_to < r->head && (q = lconn_slot(c)) != NULL) {
    mc_msg m = {.type = MC_MSG_GET_BLOCK};
    m.u.get_block.height = r->asked_to + 1;
    if (lconn_send(r, c, q, &m, REQ_BLOCK, 0, now) != 0)
      break;
    r->asked_to++;
  }
}

/* ---- the loop ---- */

static void reconnect(lconn *c, uint64_t now) {
  if (c->up || now < c->retry_us)
    return;
  char err[512];
  if (lconn_open(c, c->node, c->window, err, sizeof err) != 0)
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
  return interrupted || r->fatal[0] != '\0' ||
         (a->count > 0 && r->admitted >= a->count) ||
         (a->duration_s > 0 && now - r->start_us >= a->duration_s * 1000000u);
}

/* Whether the wait for the last commits is over.  A lost chain follower
 * ends it too: the nodes are going away (a devnet stopping), and commits
 * could no longer be seen. */
static int draining_ends(const load_run *r, uint64_t now) {
  return interrupted > 1 || r->fatal[0] != '\0' || now >= r->drain_end_us ||
         !r->follow.up || (r->inflight_submits == 0 && r->outstanding == 0);
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
    uint64_t now = now_us();
    if (r->sending && sending_ends(r, now)) {
      r->sending = 0;
      r->send_end_us = now;
      end_schedule(r, now);
      r->drain_end_us = now + LOAD_COMMIT_WAIT_S * 1000000ull;
    }
    if (!r->sending && draining_ends(r, now))
      return;
    int busy = 0;
    for (size_t i = 0; i <= r->nconns; i++)
      reconnect(conn_at(r, i), now);
    if (r->sending) {
      ask_nonces(r, now);
      submit_due(r, now);
      busy = sign_some(r, LOAD_SIGN_SLICE_US);
    }
    if (r->follow.up)
      follow_step(r, now);
    if (now - r->report_us >= 1000000)
      report_second(r, now);
    size_t n = 0;
    for (size_t i = 0; i <= r->nconns; i++) {
      lconn *c = conn_at(r, i);
      char err[512];
      if (c->up && mcli_pipe_flush(&c->pipe, err, sizeof err) != 0)
        conn_lost(r, c, err, now);
      if (!c->up)
        continue;
      pfd[n] = (struct pollfd){.fd = c->pipe.conn.fd, .events = POLLIN};
      if (mcli_pipe_unsent(&c->pipe) > 0)
        pfd[n].events |= POLLOUT;
      who[n++] = c;
    }
    if (poll(pfd, n, poll_timeout_ms(r, now_us(), busy)) <= 0)
      continue;
    now = now_us();
    for (size_t i = 0; i < n; i++)
      if (who[i]->up && (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)))
        conn_read(r, who[i], now);
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
  uint64_t t0 = now_us();
  size_t total = 0;
  for (size_t i = 0; i < r->nss; i++)
    total += sign_ahead(&r->ss[i], per);
  double secs = (double)(now_us() - t0) / 1e6;
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
    if (s->slots == NULL || txq_init(&s->fresh, cap) != 0 ||
        txq_init(&s->retry, a->per_key) != 0) {
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
    int rc = lconn_open(&r->conns[i], a->nodes[i % a->nnodes], a->window, err,
                        errlen);
    if (rc != 0)
      return rc;
  }
  return lconn_open(&r->follow, a->nodes[0], LOAD_FOLLOW_WINDOW, err, errlen);
}

static double ms(uint64_t us) { return (double)us / 1000.0; }

static double cpu_s(const load_run *r) {
  return (double)(cpu_us() - r->cpu_start_us) / 1e6;
}

static void print_text(const load_run *r, double send_s, double window_s) {
  printf("load: sent %" PRIu64 " in %.1f s: %.0f transfers/s offered (%s); "
         "%" PRIu64 " admitted, %" PRIu64 " refused",
         r->sent, send_s, send_s > 0 ? (double)r->sent / send_s : 0.0,
         r->a->rate > 0 ? "paced" : "max", r->admitted, r->refused);
  const char *sep = " (";
  for (int i = 0; i < LOAD_NCODES; i++)
    if (r->refused_by[i] > 0) {
      printf("%s%s %" PRIu64, sep, i == 0 ? "other" : mc_err_name(-i),
             r->refused_by[i]);
      sep = ", ";
    }
  printf("%s, %" PRIu64 " sent again\n", sep[0] == ',' ? ")" : "", r->retried);
  if (r->a->rate > 0 && r->missed >= 1.0)
    printf("load: %.0f transfers due at --rate %" PRIu64 " were not sent: "
           "no key could send (each at its --per-key bound, backing off, "
           "out of window or without a connection)\n",
           r->missed, r->a->rate);
  printf("load: %" PRIu64 " committed in blocks %" PRIu64 "..%" PRIu64
         " over %.1f s: %.0f transfers/s; %" PRIu64 " admitted not seen "
         "committed\n",
         r->committed, r->start_height + 1, r->fetched, window_s,
         window_s > 0 ? (double)r->committed / window_s : 0.0, r->outstanding);
  if (r->displaced > 0)
    printf("load: %" PRIu64 " admitted transfers lost their nonce to another "
           "client's transfer\n",
           r->displaced);
  printf("load: submit to commit: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, "
         "max %.1f ms\n",
         ms(mcli_hist_quantile(&r->lat, 0.50)),
         ms(mcli_hist_quantile(&r->lat, 0.90)),
         ms(mcli_hist_quantile(&r->lat, 0.99)), ms(r->lat.max_us));
  printf("load: mcli used %.2f s of CPU while the clock ran\n", cpu_s(r));
}

/* A figure rounded to 3 decimals: the summary is for reading as well. */
static cJSON *num(double v) {
  return cJSON_CreateNumber((double)(int64_t)(v * 1000.0 + 0.5) / 1000.0);
}

/* Adds item to o under name; a NULL item (ENOMEM) fails the add. */
static int add(cJSON *o, const char *name, cJSON *item) {
  if (item != NULL && cJSON_AddItemToObject(o, name, item))
    return 1;
  cJSON_Delete(item);
  return 0;
}

static cJSON *refusals_json(const load_run *r) {
  cJSON *by = cJSON_CreateObject();
  int ok = by != NULL;
  for (int i = 0; ok && i < LOAD_NCODES; i++)
    if (r->refused_by[i] > 0)
      ok = add(by, i == 0 ? "other" : mc_err_name(-i),
               mcli_json_u64(r->refused_by[i]));
  if (!ok) {
    cJSON_Delete(by);
    return NULL;
  }
  return by;
}

static int print_json(const load_run *r, double send_s, double window_s) {
  const mcli_hist *h = &r->lat;
  cJSON *o = cJSON_CreateObject();
  int ok =
      o != NULL &&
      add(o, "offered_tps", num(send_s > 0 ? (double)r->sent / send_s : 0)) &&
      add(o, "committed_tps",
          num(window_s > 0 ? (double)r->committed / window_s : 0)) &&
      add(o, "rate", mcli_json_u64(r->a->rate)) &&
      add(o, "sent", mcli_json_u64(r->sent)) &&
      add(o, "retried", mcli_json_u64(r->retried)) &&
      add(o, "admitted", mcli_json_u64(r->admitted)) &&
      add(o, "already_pending", mcli_json_u64(r->dups)) &&
      add(o, "refused", mcli_json_u64(r->refused)) &&
      add(o, "refused_by", refusals_json(r)) &&
      add(o, "committed", mcli_json_u64(r->committed)) &&
      add(o, "outstanding", mcli_json_u64(r->outstanding)) &&
      add(o, "displaced", mcli_json_u64(r->displaced)) &&
      add(o, "p50_ms", num(ms(mcli_hist_quantile(h, 0.50)))) &&
      add(o, "p90_ms", num(ms(mcli_hist_quantile(h, 0.90)))) &&
      add(o, "p99_ms", num(ms(mcli_hist_quantile(h, 0.99)))) &&
      add(o, "max_ms", num(ms(h->max_us))) &&
      add(o, "mean_ms", num(h->count ? ms(h->sum_us) / (double)h->count : 0)) &&
      add(o, "send_s", num(send_s)) && add(o, "duration_s", num(window_s)) &&
      add(o, "missed", mcli_json_u64((uint64_t)r->missed)) &&
      add(o, "cpu_s", num(cpu_s(r))) &&
      add(o, "first_height", mcli_json_u64(r->start_height + 1)) &&
      add(o, "last_height", mcli_json_u64(r->fetched)) &&
      add(o, "chain_txs", mcli_json_u64(r->chain_txs)) &&
      add(o, "keys", mcli_json_u64(r->nss)) &&
      add(o, "conns", mcli_json_u64(r->nconns)) &&
      add(o, "window", mcli_json_u64(r->a->window)) &&
      add(o, "per_key", mcli_json_u64(r->a->per_key));
  if (!ok) {
    cJSON_Delete(o);
    o = NULL;
  }
  return mcli_json_print("load", o);
}

/* Prints the summary; the exit status says whether every admitted
 * transfer was seen committed. */
static int load_summary(load_run *r) {
  /* The measured window runs from the first offer to the last commit
   * seen (or to the end of sending, when nothing committed). */
  double send_s = (double)(r->send_end_us - r->start_us) / 1e6;
  uint64_t end =
      r->last_commit_us > r->start_us ? r->last_commit_us : r->send_end_us;
  double window_s = (double)(end - r->start_us) / 1e6;
  int rc = MCLI_EXIT_OK;
  if (r->a->json)
    rc = print_json(r, send_s, window_s);
  else
    print_text(r, send_s, window_s);
  fflush(stdout);
  if (r->fatal[0] != '\0')
    return mcli_fail("load", "%s", r->fatal);
  if (r->outstanding > 0 || r->inflight_submits > 0)
    return mcli_fail("load",
                     "%" PRIu64 " admitted transfers not seen "
                     "committed, %" PRIu64 " submissions unanswered (%s)",
                     r->outstanding, r->inflight_submits,
                     !r->follow.up ? "the connection following the chain "
                                     "was lost"
                     : interrupted > 1
                         ? "interrupted while waiting"
                         : "waited " STR(LOAD_COMMIT_WAIT_S) " s");
  return rc;
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
    r->cpu_start_us = cpu_us();
    r->start_us = r->report_us = now_us();
    r->next_due_us = (double)r->start_us;
    r->sending = 1;
    load_loop(r);
    rc = load_summary(r);
  }
  load_free(r);
  free(r);
  return rc;
}
