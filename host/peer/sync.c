/*
 * sync.c - catching up: headers first, then bodies from several peers,
 * with every peer scored by its answers.
 *
 * A peer's claimed height (HELLO, heartbeats) only says whom to ask.  The
 * node asks one peer at a time for headers beyond what it holds and keeps
 * only headers that prove themselves: each links to the one before it, is
 * signed by a validator, and carries a commit certificate the consensus
 * plugin accepts.  Bodies of proven headers are then asked of several
 * peers at once in chunks, and a body counts only if its hash is its
 * proven header's; blocks are applied in order as they complete.
 *
 * A peer that does not answer in time, answers nothing although it
 * claimed more, or answers in part is rested for a doubling time and its
 * range goes to another peer; one that serves anything that fails a check
 * is punished (session_punish: an observer is banned, a validator rested
 * long).  The range holding the next block to apply, once it has waited
 * SYNC_HEDGE_MS, is asked of a second peer too, so a peer that stays
 * silent delays the chain by about that, not by its whole timeout.  A failure of our own (the store cannot write: a full disk) is
 * nobody's fault: sync pauses with a doubling delay, keeping what it
 * fetched, and no peer is dropped for it.
 *
 * Memory: at most SYNC_WINDOW proven headers holding at most
 * SYNC_HEADER_BUDGET bytes (plus one answer), and bodies waiting to be
 * applied up to SYNC_BODY_BUDGET bytes plus what the requests in flight
 * bring (SYNC_MAX_BODY_REQS answers of SYNC_CHUNK blocks).
 */
#include <stdlib.h>
#include <string.h>

#include "chain/codec.h"
#include "log.h"
#include "minichain/error.h"
#include "node.h"
#include "peer/peer_internal.h"

#define SYNC_TICK_MS 100
#define SYNC_WINDOW 1024       /* proven headers kept beyond the head */
#define SYNC_BODY_AHEAD 256    /* bodies are fetched this far ahead */
#define SYNC_CHUNK 16          /* blocks per GET_BLOCKS */
#define SYNC_MAX_BODY_REQS 6   /* GET_BLOCKS in flight, all peers */
#define SYNC_PER_PEER 2        /* requests in flight to one peer */
#define SYNC_BODY_BUDGET (32u << 20)
#define SYNC_HEADER_BUDGET (8u << 20) /* certificates may be large */
#define SYNC_HEADERS_TIMEOUT_MS 3000
#define SYNC_BLOCKS_TIMEOUT_MS 5000
/* The range the next block to apply is in, unanswered this long, is asked
 * of a second peer too: one silent peer must not hold up the rest. */
#define SYNC_HEDGE_MS 1000
#define SYNC_APPLY_BATCH 64    /* blocks applied before the loop runs again */
#define SYNC_REST_MIN_MS 1000
#define SYNC_REST_MAX_MS 60000
#define SYNC_PUNISH_REST_MS 600000
#define SYNC_PAUSE_MIN_MS 1000
#define SYNC_PAUSE_MAX_MS 30000
#define SYNC_RECENT 256        /* committed hashes kept to check heartbeats */
#define SYNC_PROBE_EVERY_MS 30000
#define SYNC_LOG_EVERY_MS 1000
#define SYNC_FAULTS_TO_BAN 5   /* an observer at fault this often in a row */
/* Transfers of fetched blocks whose signatures are being checked ahead of
 * their commit, at most (they wait in the node's signature cache, which
 * must hold them all: MC_NODE_SIGCACHE). */
#define SYNC_PREVERIFY_TXS 8192

typedef enum req_kind { REQ_HEADERS = 1, REQ_BLOCKS, REQ_PROBE } req_kind;

typedef struct request {
  req_kind kind; /* 0: slot free */
  uint64_t rid;
  mc_session *s;
  uint64_t from;
  uint32_t count;
  uint64_t sent, deadline;
  int hedged;                  /* REQ_BLOCKS: asked of another peer too */
  uint8_t expect[MC_HASH_LEN]; /* REQ_PROBE: our hash at `from` */
} request;

#define SYNC_REQS (SYNC_MAX_BODY_REQS + 2 + 8)

/* The signatures of one fetched block, checked on the verifier's threads
 * while the loop commits the blocks before it. */
typedef struct precheck {
  mc_verify_job job; /* first: done() finds the precheck from it */
  mc_sync *y;        /* NULL once sync stopped: done only frees */
  uint64_t height;
  mc_tx *txs;        /* copies, ids derived */
  const mc_tx **ptrs;
  int *res;
  struct precheck *next;
} precheck;

struct mc_sync {
  mc_peers *p;
  uv_timer_t timer;
  void (*closed)(mc_peers *p);
  uint64_t base;                 /* height of hdr[0]: the head + 1 */
  size_t nhdr;                   /* proven headers: base .. base+nhdr-1 */
  mc_block *hdr[SYNC_WINDOW];    /* header-only blocks with certificates */
  mc_block *body[SYNC_WINDOW];   /* fetched bodies, waiting */
  size_t body_mem[SYNC_WINDOW];
  uint8_t server[SYNC_WINDOW][MC_PUBKEY_LEN]; /* who sent each body */
  uint8_t asked[SYNC_WINDOW];
  size_t body_bytes, header_bytes;
  request req[SYNC_REQS];
  uint64_t next_rid;
  uint32_t rr;                   /* round-robin start among peers */
  uint64_t paused_until, pause_ms;
  uint8_t recent[SYNC_RECENT][MC_HASH_LEN]; /* hash of height h at h % N */
  uint64_t applied_unlogged, last_log_ms;
  precheck *prechecks;           /* in flight, any order */
  size_t precheck_txs;           /* their transfers */
  uint64_t precheck_next;        /* lowest height not yet prechecked */
};

static mc_node *node_of(const mc_sync *y) { return y->p->n; }
static uint64_t now(const mc_sync *y) { return peers_now(y->p); }
static uint64_t head(const mc_sync *y) {
  return mc_chain_height(node_of(y)->chain);
}
/* The highest height proven: the last header held, or the head. */
static uint64_t tip(const mc_sync *y) { return y->base + y->nhdr - 1; }

/* ---- the window of proven headers ---- */

static size_t header_memory(const mc_block *b) {
  return sizeof *b + b->cert_len;
}

/* Drops the first k heights (committed now) from the window. */
static void shift(mc_sync *y, size_t k) {
  if (k > y->nhdr)
    k = y->nhdr;
  for (size_t i = 0; i < k; i++) {
    if (y->hdr[i] != NULL)
      y->header_bytes -= header_memory(y->hdr[i]);
    mc_block_free(y->hdr[i]);
    mc_block_free(y->body[i]);
    y->body_bytes -= y->body_mem[i];
  }
  size_t rest = SYNC_WINDOW - k;
  memmove(y->hdr, y->hdr + k, rest * sizeof y->hdr[0]);
  memmove(y->body, y->body + k, rest * sizeof y->body[0]);
  memmove(y->body_mem, y->body_mem + k, rest * sizeof y->body_mem[0]);
  memmove(y->server, y->server + k, rest * sizeof y->server[0]);
  memmove(y->asked, y->asked + k, rest * sizeof y->asked[0]);
  for (size_t i = rest; i < SYNC_WINDOW; i++) {
    y->hdr[i] = y->body[i] = NULL;
    y->body_mem[i] = 0;
    y->asked[i] = 0;
  }
  y->nhdr -= k;
}

static void reset_window(mc_sync *y) {
  shift(y, y->nhdr);
  y->precheck_next = 0; /* from the new base on */
}

static const uint8_t *hash_at(const mc_sync *y, uint64_t h) {
  if (h >= y->base && h <= tip(y))
    return y->hdr[h - y->base]->hash;
  uint64_t top = head(y);
  if (h <= top && top - h < SYNC_RECENT)
    return y->recent[h % SYNC_RECENT];
  return NULL;
}

/* ---- requests ---- */

static request *req_new(mc_sync *y, req_kind kind, mc_session *s,
                        uint64_t from, uint32_t count, uint64_t timeout) {
  for (int i = 0; i < SYNC_REQS; i++) {
    request *r = &y->req[i];
    if (r->kind != 0)
      continue;
    uint64_t t = now(y);
    *r = (request){kind, ++y->next_rid, s, from, count, t, t + timeout, 0,
                   {0}};
    return r;
  }
  return NULL;
}

static int reqs_of(const mc_sync *y, req_kind kind) {
  int k = 0;
  for (int i = 0; i < SYNC_REQS; i++)
    k += y->req[i].kind == kind;
  return k;
}

/* Heights of a body request not yet fetched may be asked again. */
static void req_release(mc_sync *y, request *r) {
  if (r->kind == REQ_BLOCKS)
    for (uint64_t h = r->from; h < r->from + r->count; h++)
      if (h >= y->base && h - y->base < y->nhdr && y->body[h - y->base] == NULL)
        y->asked[h - y->base] = 0;
  if (r->s->sync.inflight > 0)
    r->s->sync.inflight--;
  r->kind = 0;
}

static request *req_find(mc_sync *y, const mc_session *s, uint64_t rid) {
  for (int i = 0; i < SYNC_REQS; i++)
    if (y->req[i].kind != 0 && y->req[i].s == s && y->req[i].rid == rid)
      return &y->req[i];
  return NULL;
}

static int send_get(mc_sync *y, mc_session *s, request *r) {
  mc_msg m = {.rid = r->rid};
  if (r->kind == REQ_BLOCKS) {
    m.type = MC_MSG_GET_BLOCKS;
    m.u.get_blocks.from = r->from;
    m.u.get_blocks.count = r->count;
  } else {
    m.type = MC_MSG_GET_HEADERS;
    m.u.get_headers.from = r->from;
    m.u.get_headers.count = r->count;
  }
  if (session_send(s, &m) != 0) {
    r->kind = 0;
    return 1;
  }
  s->sync.inflight++;
  (void)y;
  return 0;
}

/* ---- judging peers ---- */

static void reward(mc_session *s) {
  if (s->sync.score < 100)
    s->sync.score++;
  s->sync.strikes = 0;
}

/* A fault that may be bad luck: s is rested for a doubling time; an
 * observer that keeps at it is banned. */
static void fault(mc_sync *y, mc_session *s, const char *reason) {
  mc_sync_peer *sp = &s->sync;
  sp->score -= 10;
  uint32_t shift_by = sp->strikes < 6 ? sp->strikes : 6;
  uint64_t rest = (uint64_t)SYNC_REST_MIN_MS << shift_by;
  if (rest > SYNC_REST_MAX_MS)
    rest = SYNC_REST_MAX_MS;
  sp->strikes++;
  sp->resting_until = now(y) + rest;
  MC_LOG(MC_LOG_INFO, "sync_peer_rested", MC_LOG_F_S("peer", session_name(s)),
         MC_LOG_F_S("reason", reason), MC_LOG_F_I("score", sp->score),
         MC_LOG_F_U("rest_ms", rest));
  if (s->validator < 0 && sp->strikes >= SYNC_FAULTS_TO_BAN)
    session_punish(s, reason, SYNC_PUNISH_REST_MS);
}

/* s sent something that fails a check: no honest node does that. */
static void punish(mc_session *s, const char *reason) {
  s->sync.score -= 100;
  session_punish(s, reason, SYNC_PUNISH_REST_MS);
}

static mc_session *session_by_key(mc_sync *y, const uint8_t pk[MC_PUBKEY_LEN]) {
  for (mc_session *s = y->p->sessions; s != NULL; s = s->next)
    if (session_live(s) && memcmp(s->pk, pk, MC_PUBKEY_LEN) == 0)
      return s;
  return NULL;
}

/* A peer we may ask now, claiming at least `height`: the best score,
 * ties broken round-robin (the list position counted from a start that
 * moves on with every pick). */
static mc_session *pick(mc_sync *y, uint64_t height, const mc_session *avoid) {
  mc_session *best = NULL;
  uint32_t n = 0, i = 0, best_rank = 0;
  for (const mc_session *s = y->p->sessions; s != NULL; s = s->next)
    n++;
  uint32_t start = n ? y->rr++ % n : 0;
  uint64_t t = now(y);
  for (mc_session *s = y->p->sessions; s != NULL; s = s->next, i++) {
    const mc_sync_peer *sp = &s->sync;
    if (!session_live(s) || s == avoid || sp->resting_until > t ||
        sp->inflight >= SYNC_PER_PEER || sp->claimed < height)
      continue;
    uint32_t rank = (i + n - start) % n;
    if (best == NULL || sp->score > best->sync.score ||
        (sp->score == best->sync.score && rank < best_rank)) {
      best = s;
      best_rank = rank;
    }
  }
  return best;
}

/* ---- applying ---- */

/* The node's own trouble (the store), as opposed to a bad block. */
static int local_failure(int rc) {
  return rc == MC_EIO || rc == MC_ENOMEM || rc == MC_ECORRUPT ||
         rc == MC_ESTATE || rc == MC_ENOSYS || rc == MC_EFULL;
}

static void pause_sync(mc_sync *y, int rc) {
  y->pause_ms = y->pause_ms == 0 ? SYNC_PAUSE_MIN_MS : 2 * y->pause_ms;
  if (y->pause_ms > SYNC_PAUSE_MAX_MS)
    y->pause_ms = SYNC_PAUSE_MAX_MS;
  y->paused_until = now(y) + y->pause_ms;
  MC_LOG(MC_LOG_WARN, "sync_paused", MC_LOG_F_S("reason", mc_strerror(rc)),
         MC_LOG_F_U("height", head(y)), MC_LOG_F_U("retry_ms", y->pause_ms));
}

static void log_progress(mc_sync *y, int force) {
  uint64_t t = now(y);
  if (y->applied_unlogged == 0 ||
      (!force && t - y->last_log_ms < SYNC_LOG_EVERY_MS))
    return;
  MC_LOG(MC_LOG_INFO, "synced", MC_LOG_F_U("blocks", y->applied_unlogged),
         MC_LOG_F_U("height", head(y)), MC_LOG_F_U("proven", tip(y)));
  y->applied_unlogged = 0;
  y->last_log_ms = t;
}

/* Applies the next block; returns 1 if it did, 0 if sync must stop for
 * now.  Header and body leave the window before the commit, since the
 * commit moves the window (sync_on_commit) under our feet. */
static int apply_one(mc_sync *y) {
  mc_block *b = y->body[0], *h = y->hdr[0];
  size_t mem = y->body_mem[0];
  uint8_t server[MC_PUBKEY_LEN];
  memcpy(server, y->server[0], MC_PUBKEY_LEN);
  y->body[0] = y->hdr[0] = NULL;
  y->body_mem[0] = 0;
  y->body_bytes -= mem;
  int rc = mc_node_commit(node_of(y), b, h->cert, h->cert_len);
  if (rc == 0) {
    y->header_bytes -= header_memory(h);
    mc_block_free(b);
    mc_block_free(h);
    y->applied_unlogged++;
    if (y->pause_ms != 0) {
      MC_LOG(MC_LOG_INFO, "sync_resumed", MC_LOG_F_U("height", head(y)));
      y->pause_ms = 0;
    }
    return 1;
  }
  y->hdr[0] = h;
  if (local_failure(rc)) {
    y->body[0] = b;
    y->body_mem[0] = mem;
    y->body_bytes += mem;
    pause_sync(y, rc);
    return 0;
  }
  /* its header is proven, so the body is the server's lie */
  mc_block_free(b);
  y->asked[0] = 0;
  mc_session *s = session_by_key(y, server);
  if (s != NULL)
    punish(s, "block does not validate against its certified header");
  return 0;
}

/* ---- signatures checked ahead ---- */

static int prechecking(const mc_sync *y, uint64_t height) {
  for (const precheck *c = y->prechecks; c != NULL; c = c->next)
    if (c->height == height)
      return 1;
  return 0;
}

static void unlink_precheck(mc_sync *y, precheck *c) {
  for (precheck **pp = &y->prechecks; *pp != NULL; pp = &(*pp)->next) {
    if (*pp == c) {
      *pp = c->next;
      y->precheck_txs -= c->job.n;
      return;
    }
  }
}

static void free_precheck(precheck *c) {
  free(c->txs);
  free(c->ptrs);
  free(c->res);
  free(c);
}

static void schedule(mc_sync *y);

static void on_prechecked(mc_verify_job *job) {
  precheck *c = (precheck *)job;
  mc_sync *y = c->y;
  int cancelled = job->cancelled;
  if (y != NULL) {
    unlink_precheck(y, c);
    if (!cancelled) {
      mc_node *n = node_of(y);
      for (size_t i = 0; i < job->n; i++)
        if (c->res[i] == 0)
          mc_sigcache_add(n->sigcache, &c->txs[i]);
    }
  }
  free_precheck(c);
  if (y != NULL && !cancelled)
    schedule(y); /* the block it held back may go now */
}

/* Sends the signatures of block b (at height h) to the verifier; they
 * reach the signature cache before b's commit asks for them. */
static int precheck_block(mc_sync *y, const mc_block *b, uint64_t h) {
  mc_node *n = node_of(y);
  size_t count = b->header.tx_count;
  precheck *c = calloc(1, sizeof *c);
  if (c == NULL || (c->txs = malloc(count * sizeof *c->txs)) == NULL ||
      (c->ptrs = malloc(count * sizeof *c->ptrs)) == NULL ||
      (c->res = malloc(count * sizeof *c->res)) == NULL) {
    if (c != NULL)
      free_precheck(c);
    return MC_ENOMEM;
  }
  size_t k = 0;
  for (size_t i = 0; i < count; i++) {
    c->txs[k] = b->txs[i];
    mc_tx_compute_id(&c->txs[k]);
    if (!mc_node_sig_known(n, &c->txs[k])) {
      c->ptrs[k] = &c->txs[k];
      k++;
    }
  }
  c->y = y;
  c->height = h;
  c->job = (mc_verify_job){.txs = c->ptrs, .res = c->res, .n = k,
                           .done = on_prechecked, .data = c};
  c->next = y->prechecks;
  y->prechecks = c;
  y->precheck_txs += k;
  mc_verifier_submit(n->verifier, &c->job);
  return 0;
}

/* Prechecks the fetched blocks from the lowest not yet done, in order, up
 * to SYNC_PREVERIFY_TXS transfers in flight.  The block about to be
 * committed is left to the commit (which checks it on every thread). */
static void precheck_ahead(mc_sync *y) {
  if (node_of(y)->verifier == NULL)
    return;
  if (y->precheck_next < y->base + 1)
    y->precheck_next = y->base + 1;
  while (y->precheck_next < y->base + y->nhdr) {
    mc_block *b = y->body[y->precheck_next - y->base];
    if (b == NULL ||
        y->precheck_txs + b->header.tx_count > SYNC_PREVERIFY_TXS ||
        precheck_block(y, b, y->precheck_next) != 0)
      return;
    y->precheck_next++;
  }
}

static void apply_ready(mc_sync *y) {
  for (int k = 0; k < SYNC_APPLY_BATCH && y->nhdr > 0 && y->body[0] != NULL &&
                  now(y) >= y->paused_until;
       k++) {
    if (prechecking(y, y->base))
      break; /* its signatures are being checked: on_prechecked resumes */
    if (!apply_one(y))
      break;
    precheck_ahead(y);
  }
  precheck_ahead(y);
  log_progress(y, y->nhdr == 0); /* at once when caught up, else 1/s */
}

/* ---- asking ---- */

static void request_headers(mc_sync *y) {
  if (reqs_of(y, REQ_HEADERS) > 0 || y->nhdr >= SYNC_WINDOW ||
      y->header_bytes >= SYNC_HEADER_BUDGET)
    return;
  uint64_t from = tip(y) + 1;
  mc_session *s = pick(y, from, NULL);
  if (s == NULL)
    return;
  uint64_t want = s->sync.claimed - tip(y), room = SYNC_WINDOW - y->nhdr;
  if (want > room)
    want = room;
  if (want > MC_PEER_MAX_HEADERS)
    want = MC_PEER_MAX_HEADERS;
  request *r = req_new(y, REQ_HEADERS, s, from, (uint32_t)want,
                       SYNC_HEADERS_TIMEOUT_MS);
  if (r != NULL)
    send_get(y, s, r);
}

/* The next run of heights whose bodies nobody has been asked for: up to
 * SYNC_CHUNK from index *i on.  Returns its length (0: none). */
static uint32_t next_run(const mc_sync *y, size_t *i) {
  size_t end = y->nhdr < SYNC_BODY_AHEAD ? y->nhdr : SYNC_BODY_AHEAD;
  while (*i < end && (y->asked[*i] || y->body[*i] != NULL))
    (*i)++;
  uint32_t n = 0;
  while (*i + n < end && n < SYNC_CHUNK && !y->asked[*i + n] &&
         y->body[*i + n] == NULL)
    n++;
  return n;
}

static void request_bodies(mc_sync *y) {
  size_t i = 0;
  while (reqs_of(y, REQ_BLOCKS) < SYNC_MAX_BODY_REQS &&
         y->body_bytes < SYNC_BODY_BUDGET) {
    uint32_t n = next_run(y, &i);
    if (n == 0)
      return;
    uint64_t from = y->base + i;
    mc_session *s = pick(y, from + n - 1, NULL);
    if (s == NULL)
      return;
    request *r = req_new(y, REQ_BLOCKS, s, from, n, SYNC_BLOCKS_TIMEOUT_MS);
    if (r == NULL || send_get(y, s, r) != 0)
      return;
    memset(y->asked + i, 1, n);
    i += n;
  }
}

/* The request for the next block to apply, if it has waited too long,
 * goes to a second peer as well; whichever answers first fills it. */
static void hedge(mc_sync *y) {
  if (y->nhdr == 0 || y->body[0] != NULL || !y->asked[0])
    return;
  for (int i = 0; i < SYNC_REQS; i++) {
    request *r = &y->req[i];
    if (r->kind != REQ_BLOCKS || r->from != y->base || r->hedged ||
        now(y) - r->sent < SYNC_HEDGE_MS)
      continue;
    mc_session *s = pick(y, r->from + r->count - 1, r->s);
    request *h = s != NULL ? req_new(y, REQ_BLOCKS, s, r->from, r->count,
                                     SYNC_BLOCKS_TIMEOUT_MS)
                           : NULL;
    if (h == NULL)
      return;
    r->hedged = h->hedged = 1;
    send_get(y, s, h);
    return;
  }
}

static void schedule(mc_sync *y) {
  if (y->p->stopping || now(y) < y->paused_until)
    return;
  apply_ready(y);
  if (now(y) < y->paused_until)
    return;
  request_headers(y);
  request_bodies(y);
  hedge(y);
}

static void expire(mc_sync *y) {
  uint64_t t = now(y);
  for (int i = 0; i < SYNC_REQS; i++) {
    request *r = &y->req[i];
    if (r->kind == 0 || r->deadline > t)
      continue;
    mc_session *s = r->s;
    req_release(y, r);
    fault(y, s, "no answer in time");
  }
}

static void on_tick(uv_timer_t *t) {
  mc_sync *y = t->data;
  expire(y);
  schedule(y);
  log_progress(y, 0);
}

/* ---- answers ---- */

/* What a header proves on its own: a validator proposed and signed it,
 * it holds no more transactions than a block may, and the consensus
 * plugin accepts its commit certificate.  (The body, when it comes, must
 * hash to this header; full validation happens when it is applied.) */
static int check_header(mc_sync *y, const mc_block *b) {
  mc_node *n = node_of(y);
  uint32_t idx;
  if (b->header.tx_count > n->genesis.max_txs_per_block)
    return MC_ETOOBIG;
  if (!mc_genesis_validator_index(&n->genesis, b->header.proposer, &idx))
    return MC_EPROPOSER;
  int rc = mc_block_verify_sig(b);
  if (rc == 0)
    rc = n->cvt->verify_certificate(n->consensus, b, b->cert, b->cert_len);
  return rc;
}

/* ... and that it follows the one before it. */
static int check_link(const mc_block *b, uint64_t height,
                      const uint8_t prev[MC_HASH_LEN], uint64_t prev_time) {
  if (b->header.height != height ||
      memcmp(b->header.prev_hash, prev, MC_HASH_LEN) != 0)
    return MC_ELINK;
  return b->header.timestamp_ms > prev_time ? 0 : MC_ETIME;
}

static void prev_of_tip(const mc_sync *y, const uint8_t **hash,
                        uint64_t *time) {
  if (y->nhdr > 0) {
    *hash = y->hdr[y->nhdr - 1]->hash;
    *time = y->hdr[y->nhdr - 1]->header.timestamp_ms;
  } else {
    *hash = mc_chain_head_hash(node_of(y)->chain);
    *time = mc_chain_head(node_of(y)->chain)->timestamp_ms;
  }
}

/* s's chain does not link to ours at tip+1: ask it for its header at tip
 * to tell a fork (both certified) from a lie. */
static void probe(mc_sync *y, mc_session *s, uint64_t height) {
  const uint8_t *ours = hash_at(y, height);
  if (ours == NULL || height == 0 || s->sync.probe_after > now(y))
    return;
  s->sync.probe_after = now(y) + SYNC_PROBE_EVERY_MS;
  request *r = req_new(y, REQ_PROBE, s, height, 1, SYNC_HEADERS_TIMEOUT_MS);
  if (r == NULL)
    return;
  memcpy(r->expect, ours, MC_HASH_LEN);
  send_get(y, s, r);
}

static void on_probe(mc_sync *y, mc_session *s, const request *r,
                     const mc_msg *m) {
  if (m->u.blocks.n != 1 || m->u.blocks.blocks[0]->header.height != r->from) {
    fault(y, s, "no header at the height it reported");
    return;
  }
  const mc_block *b = m->u.blocks.blocks[0];
  if (check_header(y, b) != 0) {
    punish(s, "invalid header");
    return;
  }
  if (memcmp(b->hash, r->expect, MC_HASH_LEN) == 0)
    return; /* the same block: no fork, the difference was in transit */
  MC_LOG(MC_LOG_ERROR, "fork_detected", MC_LOG_F_U("height", r->from),
         MC_LOG_F_HEX("ours", r->expect, MC_HASH_LEN),
         MC_LOG_F_HEX("theirs", b->hash, MC_HASH_LEN),
         MC_LOG_F_S("peer", session_name(s)));
  /* Both certified: more than f validators signed twice.  Keep ours and
   * do not sync from a node on the other branch. */
  s->sync.resting_until = now(y) + SYNC_PUNISH_REST_MS;
}

/* Adds the proven headers of an answer to the window (taking them from
 * the message); stops at the first that fails. */
static void take_headers(mc_sync *y, mc_session *s, mc_msg *m) {
  size_t added = 0;
  for (size_t i = 0; i < m->u.blocks.n && y->nhdr < SYNC_WINDOW; i++) {
    mc_block *b = m->u.blocks.blocks[i];
    if (b->header.height <= tip(y))
      continue; /* committed or proven meanwhile */
    if (check_header(y, b) != 0) {
      punish(s, "invalid header");
      return;
    }
    const uint8_t *prev;
    uint64_t prev_time;
    prev_of_tip(y, &prev, &prev_time);
    int rc = check_link(b, tip(y) + 1, prev, prev_time);
    if (rc == MC_ELINK && b->header.height == tip(y) + 1 && added == 0) {
      /* certified, yet not on our chain: another branch; find out */
      probe(y, s, tip(y));
      s->sync.resting_until = now(y) + SYNC_REST_MAX_MS;
      return;
    }
    if (rc != 0) {
      punish(s, "headers do not link");
      return;
    }
    y->hdr[y->nhdr++] = b;
    y->header_bytes += header_memory(b);
    m->u.blocks.blocks[i] = NULL;
    added++;
  }
  if (added > 0)
    reward(s);
}

int sync_on_headers(mc_sync *y, mc_session *s, mc_msg *m) {
  request *r = req_find(y, s, m->rid);
  if (r == NULL)
    return 0; /* late: its request timed out and went elsewhere */
  request copy = *r;
  req_release(y, r);
  if (copy.kind == REQ_PROBE) {
    on_probe(y, s, &copy, m);
  } else if (m->u.blocks.n == 0) {
    if (s->sync.claimed > tip(y)) {
      s->sync.claimed = tip(y); /* its claim is not proven */
      fault(y, s, "claimed a height it did not prove");
    }
  } else {
    take_headers(y, s, m);
  }
  schedule(y);
  return 0;
}

/* What a fetched body holds in memory. */
static size_t body_memory(const mc_block *b) {
  return sizeof *b + (size_t)b->header.tx_count * sizeof(mc_tx) + b->cert_len;
}

/* Keeps the bodies of an answer that match their proven headers (taking
 * them from the message; one already fetched, by a hedged request, still
 * counts for s).  Returns how many matched, or -1 after punishing s. */
static int take_bodies(mc_sync *y, mc_session *s, const request *r,
                       mc_msg *m) {
  int got = 0;
  for (size_t j = 0; j < m->u.blocks.n; j++) {
    mc_block *b = m->u.blocks.blocks[j];
    uint64_t h = r->from + j;
    if (j >= r->count || b->header.height != h) {
      punish(s, "blocks out of order");
      return -1;
    }
    if (h < y->base)
      continue;
    size_t i = h - y->base;
    if (i >= y->nhdr)
      break; /* the window was reset meanwhile */
    if (memcmp(b->hash, y->hdr[i]->hash, MC_HASH_LEN) != 0) {
      punish(s, "block does not match its certified header");
      return -1;
    }
    got++;
    if (y->body[i] != NULL)
      continue;
    y->body[i] = b;
    y->body_mem[i] = body_memory(b);
    y->body_bytes += y->body_mem[i];
    memcpy(y->server[i], s->pk, MC_PUBKEY_LEN);
    m->u.blocks.blocks[j] = NULL;
  }
  return got;
}

int sync_on_blocks(mc_sync *y, mc_session *s, mc_msg *m) {
  request *r = req_find(y, s, m->rid);
  if (r == NULL || r->kind != REQ_BLOCKS)
    return 0; /* late, or not ours */
  request copy = *r;
  int got = take_bodies(y, s, &copy, m);
  req_release(y, r);
  if (got == 0)
    fault(y, s, "answered no blocks");
  else if (got > 0 && (uint32_t)got < copy.count)
    fault(y, s, "answered part of the blocks");
  else if (got > 0)
    reward(s);
  schedule(y);
  return 0;
}

/* ---- events ---- */

void sync_on_claim(mc_sync *y, mc_session *s) {
  (void)s;
  schedule(y);
}

void sync_on_session_gone(mc_sync *y, mc_session *s) {
  for (int i = 0; i < SYNC_REQS; i++)
    if (y->req[i].kind != 0 && y->req[i].s == s)
      req_release(y, &y->req[i]);
}

void sync_on_commit(mc_sync *y, const mc_block *b) {
  uint64_t h = b->header.height;
  memcpy(y->recent[h % SYNC_RECENT], b->hash, MC_HASH_LEN);
  if (h < y->base)
    return;
  size_t i = h - y->base;
  if (i < y->nhdr && y->hdr[i] != NULL &&
      memcmp(y->hdr[i]->hash, b->hash, MC_HASH_LEN) != 0) {
    MC_LOG(MC_LOG_ERROR, "fork_detected", MC_LOG_F_U("height", h),
           MC_LOG_F_HEX("ours", b->hash, MC_HASH_LEN),
           MC_LOG_F_HEX("theirs", y->hdr[i]->hash, MC_HASH_LEN),
           MC_LOG_F_S("peer", "sync window"));
    reset_window(y);
  } else {
    shift(y, i + 1);
  }
  y->base = h + 1;
}

void sync_check_head(mc_sync *y, mc_session *s, uint64_t height,
                     const uint8_t hash[MC_HASH_LEN]) {
  const uint8_t *ours = hash_at(y, height);
  if (ours != NULL && memcmp(ours, hash, MC_HASH_LEN) != 0)
    probe(y, s, height);
}

/* ---- life ---- */

mc_sync *sync_new(mc_peers *p) {
  mc_sync *y = calloc(1, sizeof *y);
  if (y == NULL)
    return NULL;
  y->p = p;
  mc_node *n = p->n;
  y->base = mc_chain_height(n->chain) + 1;
  memcpy(y->recent[mc_chain_height(n->chain) % SYNC_RECENT],
         mc_chain_head_hash(n->chain), MC_HASH_LEN);
  uv_timer_init(&n->loop, &y->timer);
  y->timer.data = y;
  uv_timer_start(&y->timer, on_tick, SYNC_TICK_MS, SYNC_TICK_MS);
  return y;
}

static void on_timer_closed(uv_handle_t *h) {
  mc_sync *y = h->data;
  void (*closed)(mc_peers *) = y->closed;
  mc_peers *p = y->p;
  reset_window(y);
  free(y);
  closed(p);
}

void sync_stop(mc_sync *y, void (*closed)(mc_peers *p)) {
  y->closed = closed;
  /* prechecks still with the verifier come back to nobody: they free
   * themselves (the verifier hands every one back, at the latest when it
   * closes) */
  for (precheck *c = y->prechecks; c != NULL; c = c->next)
    c->y = NULL;
  y->prechecks = NULL;
  log_progress(y, 1);
  memset(y->req, 0, sizeof y->req);
  uv_close((uv_handle_t *)&y->timer, on_timer_closed);
}
