/*
 * mcli_load_send.c - how `mcli load` offers its transfers: the queues of
 * transfers signed ahead, the connections with their windows of request
 * ids, and the schedule that submits at --rate (or as fast as the windows
 * allow).
 *
 * The keys pay each other in a ring (key i pays key i+1), so the supply
 * stays where it was and no account runs dry.  Each key sends on one
 * connection, so its transfers reach a node in nonce order and wait in
 * the mempool's queue of future nonces only behind a refused one (EFULL),
 * which is sent again first; the keys are spread over the nodes and
 * connections in turn.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/codec.h"
#include "mcli.h"
#include "mcli_load.h"
#include "minichain/error.h"

/* ---- queues of signed transfers ---- */

int load_txq_init(txq *q, size_t cap) {
  q->v = calloc(cap, sizeof *q->v);
  q->cap = cap;
  q->head = q->len = 0;
  return q->v == NULL ? MC_ENOMEM : 0;
}

signed_tx *load_txq_front(txq *q) {
  return q->len == 0 ? NULL : &q->v[q->head];
}

static void txq_pop(txq *q) {
  q->head = (q->head + 1) % q->cap;
  q->len--;
}

void load_txq_push(txq *q, const signed_tx *t) {
  q->v[(q->head + q->len) % q->cap] = *t;
  q->len++;
}

/* Signs up to n more of s's transfers into its fresh queue. */
size_t load_sign_ahead(sender *s, size_t n) {
  size_t done = 0;
  while (done < n && s->fresh.len < s->fresh.cap) {
    mc_tx tx = s->tmpl;
    tx.nonce = s->sign_next++;
    mc_tx_sign(&tx, s->kp.sk);
    signed_tx t = {.nonce = tx.nonce};
    memcpy(t.sig, tx.sig, MC_SIG_LEN);
    memcpy(t.id, tx.id, MC_HASH_LEN);
    load_txq_push(&s->fresh, &t);
    done++;
  }
  return done;
}

/* Drops what s had signed or meant to send again: its nonce is to be
 * asked afresh (the node refused one as stale, or a connection was lost
 * with transfers in flight). */
void load_sender_resync(sender *s) {
  s->fresh.len = s->retry.len = 0;
  s->state = S_RESYNC;
}

/* ---- connections ---- */

int load_lconn_open(lconn *c, const char *node, size_t window, char *err,
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
req *load_lconn_slot(lconn *c) {
  if (!c->up || c->inflight >= c->window)
    return NULL;
  req *q = &c->reqs[c->pipe.conn.next_rid % c->window];
  return q->rid == 0 ? q : NULL;
}

/* Queues m on c into slot q (from load_lconn_slot).  0 or an error in r. */
int load_lconn_send(load_run *r, lconn *c, req *q, mc_msg *m, int kind,
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
  req *q = load_lconn_slot(c);
  if (q == NULL)
    return 0;
  txq *from = s->retry.len > 0 ? &s->retry : &s->fresh;
  signed_tx *t = load_txq_front(from);
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
  if (load_lconn_send(r, c, q, &m, REQ_SUBMIT, ix, now) != 0)
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
void load_submit_due(load_run *r, uint64_t now) {
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
void load_end_schedule(load_run *r, uint64_t now) {
  if (r->a->rate > 0 && r->next_due_us <= (double)now)
    r->missed += ((double)now - r->next_due_us) * (double)r->a->rate / 1e6;
}

/* Asks the nonce of each key that lost track of it, once nothing of its
 * own is in flight (an answer still coming could change it). */
void load_ask_nonces(load_run *r, uint64_t now) {
  for (size_t i = 0; i < r->nss; i++) {
    sender *s = &r->ss[i];
    if (s->state != S_RESYNC || s->inflight > 0 || now < s->until_us)
      continue;
    lconn *c = &r->conns[s->conn];
    req *q = load_lconn_slot(c);
    if (q == NULL)
      continue;
    mc_msg m = {.type = MC_MSG_GET_ACCOUNT};
    memcpy(m.u.get_account.pubkey, s->kp.pk, MC_PUBKEY_LEN);
    if (load_lconn_send(r, c, q, &m, REQ_ACCOUNT, i, now) == 0) {
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
int load_sign_some(load_run *r, uint64_t slice_us) {
  if (r->a->count > 0) {
    uint64_t signed_ahead = 0;
    for (size_t i = 0; i < r->nss; i++)
      signed_ahead += r->ss[i].fresh.len;
    if (signed_ahead >= still_owed(r))
      return 0; /* enough to finish: signing more would only cost CPU */
  }
  uint64_t end = load_now_us() + slice_us;
  int more = 1;
  while (more && load_now_us() < end) {
    more = 0;
    for (size_t i = 0; i < r->nss; i++) {
      sender *s = &r->ss[i];
      if (s->state == S_READY && s->fresh.len < r->ahead &&
          load_sign_ahead(s, LOAD_SIGN_CHUNK) > 0)
        more = 1;
    }
  }
  return more;
}
