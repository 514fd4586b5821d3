/*
 * mcli_load.h - what the parts of `mcli load` share, private to
 * tools/mcli_load*.c: the bounds, the state of a run, and the functions one
 * part calls in another (prefixed load_; the rest stay static).
 *
 * The overview, and which part is where, opens mcli_load.c.
 *
 * Ownership: mcli_cmd_load allocates the one load_run and frees it, with
 * everything it holds, at the end; the functions below borrow it (and
 * any sender, lconn or req in it) for the call only.
 */
#ifndef MCLI_LOAD_H
#define MCLI_LOAD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "mcli.h"
#include "minichain/types.h"

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

/* ---- mcli_load.c ---- */

/* Counts SIGINT and SIGTERM: the first ends sending, the second the wait
 * for the last commits. */
extern volatile sig_atomic_t load_interrupted;
/* The process's CPU time (user + system), in microseconds; 0 on error. */
uint64_t load_cpu_us(void);
/* The monotonic clock, in microseconds. */
uint64_t load_now_us(void);

/* ---- mcli_load_send.c ---- */

/* The queues of signed transfers: a ring of cap, allocated by init (0 or
 * MC_ENOMEM) and freed by the caller with free(q->v). */
int load_txq_init(txq *q, size_t cap);
signed_tx *load_txq_front(txq *q);
void load_txq_push(txq *q, const signed_tx *t);
size_t load_sign_ahead(sender *s, size_t n);
void load_sender_resync(sender *s);

/* The connections.  load_lconn_open allocates c->reqs once (freed by the
 * caller); load_lconn_slot's req lives in c->reqs. */
int load_lconn_open(lconn *c, const char *node, size_t window, char *err,
                    size_t errlen);
req *load_lconn_slot(lconn *c);
int load_lconn_send(load_run *r, lconn *c, req *q, mc_msg *m, int kind,
                    size_t sender_ix, uint64_t now);

/* The schedule, run by the loop while sending. */
void load_submit_due(load_run *r, uint64_t now);
void load_end_schedule(load_run *r, uint64_t now);
void load_ask_nonces(load_run *r, uint64_t now);
int load_sign_some(load_run *r, uint64_t slice_us);

/* ---- mcli_load_track.c ---- */

void load_conn_lost(load_run *r, lconn *c, const char *why, uint64_t now);
void load_conn_read(load_run *r, lconn *c, uint64_t now);
void load_follow_step(load_run *r, uint64_t now);
int load_summary(load_run *r);

#endif
