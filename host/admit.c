/*
 * admit.c - transfers on their way into the mempool (admit.h).
 *
 * Batches form during a loop turn and leave at its end (a uv_check
 * handle, which runs right after the turn's reads) or as soon as one is
 * full.  Batches sent to the verifier sit in a FIFO; a finished batch is
 * admitted only when every batch before it has been, so transfers enter
 * the pool in arrival order whatever order the threads finish in.  Every
 * connection a waiting transfer came from is held (mc_conn_hold) until it
 * is answered, so a client that hangs up early is never touched after it
 * is freed.
 */
#include "admit.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "keymap.h"
#include "log.h"
#include "minichain/error.h"
#include "net/proto.h"
#include "node.h"
#include "verify.h"

typedef struct item {
  mc_tx tx;
  mc_conn *conn;
  uint64_t rid;
  int from_client;
  int verdict;   /* already refused (no signature to check), else 0 */
  int sig_known; /* its signature verified before (node sigcache) */
  size_t job_index; /* where its signature is in the job, if verdict 0 */
  struct batch *batch; /* the batch it is in */
  int sent;            /* its batch is with the verifier */
} item;

typedef struct batch {
  mc_verify_job job; /* first: done() finds the batch from it */
  item items[MC_ADMIT_MAX_BATCH];
  const mc_tx *txs[MC_ADMIT_MAX_BATCH];
  int res[MC_ADMIT_MAX_BATCH];
  atomic_uchar skip[MC_ADMIT_MAX_BATCH];
  size_t n;
  int finished;
  struct batch *next;
} batch;

struct mc_admit {
  mc_node *node;
  mc_keymap waiting_ids; /* id -> a waiting item with that id */
  uv_check_t turn_end;
  batch *open;             /* filling during this turn */
  batch *head, *tail;      /* with the verifier, in order */
  batch *spare;            /* one finished batch kept for reuse */
  size_t waiting;          /* items in open and in the FIFO */
  mc_conn **paused;        /* client connections not read while full */
  size_t npaused, paused_cap;
  int closing;
};

size_t mc_admit_waiting(const mc_admit *a) { return a->waiting; }

static int reply_result(mc_conn *c, uint64_t rid, const uint8_t *txid,
                        int code) {
  mc_msg m = {.type = MC_MSG_SUBMIT_RESULT, .rid = rid};
  m.u.submit_result.code = code;
  memcpy(m.u.submit_result.txid, txid, MC_HASH_LEN);
  uint8_t *frame;
  size_t len;
  int rc = mc_msg_encode_frame(&m, &frame, &len);
  return rc != 0 ? rc : mc_conn_send(c, frame, len);
}

/* Counts and answers one verdict; an admitted transfer goes on to the
 * peers (except the one it came from). */
static void conclude(mc_admit *a, mc_conn *c, uint64_t rid, const mc_tx *tx,
                     int code, int from_client) {
  mc_node *n = a->node;
  if (code == 0) {
    n->stats.txs_admitted++;
    if (n->peers != NULL)
      mc_peers_gossip_tx(n->peers, tx, from_client ? NULL : c);
  } else if (from_client) {
    n->stats.txs_refused++;
    MC_LOG(MC_LOG_DEBUG, "tx_refused", MC_LOG_F_HEX("id", tx->id, MC_HASH_LEN),
           MC_LOG_F_S("reason", mc_err_name(code)));
  }
  if (from_client)
    reply_result(c, rid, tx->id, code);
}

/* ---- reading again once there is room ---- */

static void resume_paused(mc_admit *a) {
  /* a resumed client delivers what it buffered at once, and may be
   * paused again meanwhile: walk a list of our own */
  mc_conn **list = a->paused;
  size_t n = a->npaused;
  a->paused = NULL;
  a->npaused = a->paused_cap = 0;
  for (size_t i = 0; i < n; i++) {
    mc_conn_resume_reading(list[i]);
    mc_conn_release(list[i]);
  }
  free(list);
}

/* Stops reading client c until there is room; 0, or MC_ENOMEM. */
static int pause_client(mc_admit *a, mc_conn *c) {
  if (a->npaused == a->paused_cap) {
    size_t cap = a->paused_cap ? a->paused_cap * 2 : 16;
    mc_conn **p = realloc(a->paused, cap * sizeof *p);
    if (p == NULL)
      return MC_ENOMEM;
    a->paused = p;
    a->paused_cap = cap;
  }
  mc_conn_hold(c);
  mc_conn_pause_reading(c);
  a->paused[a->npaused++] = c;
  return 0;
}

/* ---- waiting transfers by id ---- */

static void forget_id(mc_admit *a, const item *it) {
  if (mc_keymap_get(&a->waiting_ids, it->tx.id) == it)
    mc_keymap_del(&a->waiting_ids, it->tx.id);
}

void mc_admit_note_verified(mc_admit *a, const mc_tx *tx) {
  if (a == NULL)
    return;
  item *it = mc_keymap_get(&a->waiting_ids, tx->id);
  if (it == NULL || it->verdict != 0 || it->sig_known ||
      memcmp(it->tx.sig, tx->sig, MC_SIG_LEN) != 0)
    return;
  it->sig_known = 1;
  if (it->sent)
    atomic_store_explicit(&it->batch->skip[it->job_index], 1,
                          memory_order_relaxed);
}

/* ---- batches ---- */

static batch *new_batch(mc_admit *a) {
  batch *b = a->spare;
  a->spare = NULL;
  if (b == NULL && (b = malloc(sizeof *b)) == NULL)
    return NULL;
  b->n = 0;
  b->finished = 0;
  b->next = NULL;
  return b;
}

static void release_batch(mc_admit *a, batch *b) {
  if (a->spare == NULL)
    a->spare = b;
  else
    free(b);
}

static void admit_batch(mc_admit *a, batch *b) {
  mc_mempool *mp = a->node->mempool;
  for (size_t i = 0; i < b->n; i++) {
    item *it = &b->items[i];
    int code = it->verdict;
    if (code != 0) {
      /* refused before any signature was checked */
    } else if (!it->sig_known && b->res[it->job_index] != 0) {
      mc_mempool_note_bad_sig(mp, &it->tx);
      code = MC_ESIG;
    } else {
      code = mc_mempool_add_verified(mp, &it->tx);
    }
    conclude(a, it->conn, it->rid, &it->tx, code, it->from_client);
    forget_id(a, it);
    mc_conn_release(it->conn);
  }
  a->waiting -= b->n;
}

static void on_verified(mc_verify_job *job) {
  batch *b = (batch *)job;
  mc_admit *a = b->job.data;
  if (job->cancelled)
    return; /* the node is stopping: mc_admit_close frees the batch */
  b->finished = 1;
  while (a->head != NULL && a->head->finished) {
    batch *done = a->head;
    a->head = done->next;
    if (a->head == NULL)
      a->tail = NULL;
    admit_batch(a, done);
    release_batch(a, done);
  }
  if (a->waiting <= MC_ADMIT_MAX_WAITING / 2)
    resume_paused(a);
}

static void send_open_batch(mc_admit *a) {
  batch *b = a->open;
  if (b == NULL)
    return;
  a->open = NULL;
  size_t k = 0;
  for (size_t i = 0; i < b->n; i++) {
    item *it = &b->items[i];
    /* a block validated during this turn may have checked it */
    it->sig_known = it->sig_known ||
                    (it->verdict == 0 &&
                     mc_sigcache_has(a->node->sigcache, &it->tx));
    if (it->verdict == 0 && !it->sig_known) {
      it->job_index = k;
      it->sent = 1;
      atomic_init(&b->skip[k], 0);
      b->txs[k++] = &it->tx;
    }
  }
  b->job = (mc_verify_job){.txs = b->txs, .res = b->res, .n = k,
                           .done = on_verified, .data = a, .skip = b->skip};
  if (a->tail != NULL)
    a->tail->next = b;
  else
    a->head = b;
  a->tail = b;
  mc_verifier_submit(a->node->verifier, &b->job);
}

static void on_turn_end(uv_check_t *h) { send_open_batch(h->data); }

/* Adds one transfer to the open batch (with its verdict if it is refused
 * already); 0, or MC_ENOMEM. */
static int enqueue(mc_admit *a, mc_conn *c, uint64_t rid, const mc_tx *tx,
                   int from_client, int verdict) {
  if (a->open == NULL && (a->open = new_batch(a)) == NULL)
    return MC_ENOMEM;
  item *it = &a->open->items[a->open->n++];
  it->tx = *tx;
  it->conn = c;
  it->rid = rid;
  it->from_client = from_client;
  it->verdict = verdict;
  it->sig_known = 0; /* asked when the batch leaves */
  it->batch = a->open;
  it->sent = 0;
  /* room was reserved for MC_ADMIT_MAX_WAITING ids; past that (a few
   * clients' last frames before they pause) an item is just not found */
  if (verdict == 0 && a->waiting_ids.count < MC_ADMIT_MAX_WAITING &&
      mc_keymap_get(&a->waiting_ids, tx->id) == NULL)
    mc_keymap_put(&a->waiting_ids, tx->id, it);
  mc_conn_hold(c);
  a->waiting++;
  if (a->open->n == MC_ADMIT_MAX_BATCH)
    send_open_batch(a);
  return 0;
}

void mc_admit_tx(mc_admit *a, mc_conn *c, uint64_t rid, const mc_tx *tx,
                 int from_client) {
  if (a->closing)
    return;
  if (!from_client && a->waiting >= MC_ADMIT_MAX_WAITING)
    return; /* gossip is optional: dropped when the node is this busy */
  if (!from_client && mc_keymap_get(&a->waiting_ids, tx->id) != NULL)
    return; /* another peer's copy is being checked already */
  int code = mc_mempool_check(a->node->mempool, tx);
  /* a peer's transfer past the gap is dropped: gossip is optional, and
   * the node it was submitted to keeps it */
  int verify = code == 0 || (code == MC_ENONCEGAP && from_client);
  /* A refusal is answered at once when nothing waits before it; else it
   * waits its turn, so a client's SUBMIT_RESULTs keep its order. */
  if (!verify && (!from_client || a->waiting == 0)) {
    conclude(a, c, rid, tx, code, from_client);
    return;
  }
  if (enqueue(a, c, rid, tx, from_client, verify ? 0 : code) != 0) {
    conclude(a, c, rid, tx, MC_ENOMEM, from_client);
    return;
  }
  if (from_client && a->waiting >= MC_ADMIT_MAX_WAITING &&
      pause_client(a, c) != 0)
    mc_conn_close(c, "out of memory");
}

int mc_admit_new(mc_node *n, mc_admit **out) {
  mc_admit *a = calloc(1, sizeof *a);
  if (a == NULL)
    return MC_ENOMEM;
  a->node = n;
  mc_keymap_init(&a->waiting_ids);
  if (mc_keymap_reserve(&a->waiting_ids, MC_ADMIT_MAX_WAITING + 1) != 0) {
    free(a);
    return MC_ENOMEM;
  }
  uv_check_init(&n->loop, &a->turn_end);
  a->turn_end.data = a;
  uv_check_start(&a->turn_end, on_turn_end);
  uv_unref((uv_handle_t *)&a->turn_end);
  *out = a;
  return 0;
}

static void free_batch(mc_admit *a, batch *b) {
  for (size_t i = 0; i < b->n; i++) {
    forget_id(a, &b->items[i]);
    mc_conn_release(b->items[i].conn);
  }
  free(b);
}

static void on_closed(uv_handle_t *h) {
  mc_admit *a = h->data;
  free(a->spare);
  free(a->paused);
  mc_keymap_free(&a->waiting_ids);
  free(a);
}

void mc_admit_close(mc_admit *a) {
  if (a == NULL)
    return;
  a->closing = 1;
  if (a->open != NULL)
    free_batch(a, a->open);
  while (a->head != NULL) {
    batch *b = a->head;
    a->head = b->next;
    free_batch(a, b);
  }
  a->open = a->tail = NULL;
  a->waiting = 0;
  resume_paused(a);
  uv_close((uv_handle_t *)&a->turn_end, on_closed);
}
