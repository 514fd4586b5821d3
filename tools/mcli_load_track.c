/*
 * mcli_load_track.c - what became of the transfers `mcli load` offered:
 * the answers to its requests, the chain as it grows, a lost connection,
 * and the summary at the end (text, or JSON with --json).
 *
 * Commits are seen by following the chain on a connection of its own
 * (GET_STATUS every millisecond, GET_BLOCK for each new height); a transfer
 * found in a block is matched to its sender's record of admitted nonces,
 * and its submit-to-commit time goes into a fixed-size histogram.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mcli.h"
#include "mcli_load.h"
#include "minichain/error.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* ---- answers ---- */

static void slot_free(sender *s, lslot *sl) {
  sl->state = SLOT_FREE;
  s->held--;
}

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
      load_txq_front(&s->retry)->nonce < q->tx.nonce)
    code = MC_EFULL; /* the hole is one of ours, waiting to be sent again */
  switch (code) {
  case MC_EFULL:
    /* The mempool (or this key's share of it) is full: wait, then send
     * the same transfer again, ahead of anything newer.  Those sent after
     * it come back EFULL too, or ENONCEGAP past the node's queue of
     * future nonces, and wait in nonce order behind it. */
    if (s->state == S_READY && s->retry.len < s->retry.cap)
      load_txq_push(&s->retry, &q->tx);
    else if (s->state == S_READY)
      load_sender_resync(s); /* cannot hold it: start over from the chain */
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
      load_sender_resync(s);
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
  load_sign_ahead(s, LOAD_SIGN_CHUNK);
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
void load_conn_lost(load_run *r, lconn *c, const char *why, uint64_t now) {
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
      load_sender_resync(&r->ss[i]);
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
void load_conn_read(load_run *r, lconn *c, uint64_t now) {
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
    load_conn_lost(r, c, err, now);
}

/* ---- following the chain ---- */

void load_follow_step(load_run *r, uint64_t now) {
  lconn *c = &r->follow;
  req *q;
  if (!r->status_inflight && now >= r->next_status_us &&
      (q = load_lconn_slot(c)) != NULL) {
    mc_msg m = {.type = MC_MSG_GET_STATUS};
    if (load_lconn_send(r, c, q, &m, REQ_STATUS, 0, now) == 0) {
      r->status_inflight = 1;
      r->next_status_us = now + LOAD_FOLLOW_US;
    }
  }
  while (r->asked_to < r->head && (q = load_lconn_slot(c)) != NULL) {
    mc_msg m = {.type = MC_MSG_GET_BLOCK};
    m.u.get_block.height = r->asked_to + 1;
    if (load_lconn_send(r, c, q, &m, REQ_BLOCK, 0, now) != 0)
      break;
    r->asked_to++;
  }
}

/* ---- the summary ---- */

static double ms(uint64_t us) { return (double)us / 1000.0; }

static double cpu_s(const load_run *r) {
  return (double)(load_cpu_us() - r->cpu_start_us) / 1e6;
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
int load_summary(load_run *r) {
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
                     : load_interrupted > 1
                         ? "interrupted while waiting"
                         : "waited " STR(LOAD_COMMIT_WAIT_S) " s");
  return rc;
}
