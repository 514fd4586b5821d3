/*
 * poa_book.c - what the engine holds about the height it is deciding:
 * the votes of others (one slot per signer, kind and recent view), the
 * candidate blocks it has seen, and messages for the next few heights,
 * kept within per-signer bounds and replayed when their height begins.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "poa_internal.h"

/* ---- votes of others at this height ---- */

poa_vote *poa_slots_of(mc_consensus *c, poa_kind kind, uint32_t signer) {
  assert(kind != POA_PROPOSE && signer < c->n);
  return &c->votes[((size_t)(kind - 1) * c->n + signer) * POA_SLOTS];
}

/* Stores m; returns 1 if it is new.  One vote per signer and view: a
 * second, different one is equivocation and is ignored. */
int poa_record_vote(mc_consensus *c, const poa_msg *m, uint8_t *wire,
                    size_t wire_len) {
  poa_vote *s = poa_slots_of(c, m->kind, m->signer), *slot = NULL;
  for (int i = 0; i < POA_SLOTS; i++)
    if (s[i].used && s[i].view == m->view)
      return 0;
  for (int i = 0; i < POA_SLOTS && slot == NULL; i++)
    if (!s[i].used)
      slot = &s[i];
  if (slot == NULL) { /* all full: the lowest view gives way to a higher */
    poa_vote *low = &s[0];
    for (int j = 1; j < POA_SLOTS; j++)
      if (s[j].view < low->view)
        low = &s[j];
    if (low->view > m->view)
      return 0;
    free(low->wire);
    slot = low;
  }
  *slot = (poa_vote){.used = 1, .view = m->view, .prepared = m->prepared,
                     .pview = m->pview, .wire = wire, .wire_len = wire_len};
  memcpy(slot->hash, m->hash, MC_HASH_LEN);
  memcpy(slot->sig, m->sig, MC_SIG_LEN);
  return 1;
}

/* Signers with a `kind` vote for (v, hash); their signatures go to out
 * (room for n). */
uint32_t poa_count_votes(mc_consensus *c, poa_kind kind, uint64_t v,
                         const uint8_t hash[MC_HASH_LEN], poa_sig *out) {
  uint32_t k = 0;
  for (uint32_t i = 0; i < c->n; i++) {
    poa_vote *s = poa_slots_of(c, kind, i);
    for (int j = 0; j < POA_SLOTS; j++) {
      if (s[j].used && s[j].view == v &&
          (hash == NULL || memcmp(s[j].hash, hash, MC_HASH_LEN) == 0)) {
        if (out != NULL) {
          out[k].signer = i;
          memcpy(out[k].sig, s[j].sig, MC_SIG_LEN);
        }
        k++;
        break;
      }
    }
  }
  return k;
}

/* ---- candidate blocks at this height ---- */

void poa_cand_add(mc_consensus *c, mc_block *b) {
  poa_candidate *slot = &c->cand[0];
  for (int i = 0; i < POA_CANDIDATES; i++) {
    if (c->cand[i].block != NULL &&
        memcmp(c->cand[i].hash, b->hash, MC_HASH_LEN) == 0) {
      c->api->block_free(c->host, b);
      return;
    }
    if (c->cand[i].block == NULL ||
        (slot->block != NULL && c->cand[i].age < slot->age))
      slot = &c->cand[i];
  }
  c->api->block_free(c->host, slot->block);
  slot->block = b;
  slot->age = ++c->cand_clock;
  memcpy(slot->hash, b->hash, MC_HASH_LEN);
}

const mc_block *poa_cand_find(mc_consensus *c,
                              const uint8_t hash[MC_HASH_LEN]) {
  for (int i = 0; i < POA_CANDIDATES; i++)
    if (c->cand[i].block != NULL &&
        memcmp(c->cand[i].hash, hash, MC_HASH_LEN) == 0)
      return c->cand[i].block;
  return NULL;
}

/* Removes the candidate and hands it to the caller. */
mc_block *poa_cand_take(mc_consensus *c, const uint8_t hash[MC_HASH_LEN]) {
  for (int i = 0; i < POA_CANDIDATES; i++) {
    if (c->cand[i].block != NULL &&
        memcmp(c->cand[i].hash, hash, MC_HASH_LEN) == 0) {
      mc_block *b = c->cand[i].block;
      c->cand[i].block = NULL;
      return b;
    }
  }
  return NULL;
}

void poa_round_reset(mc_consensus *c) {
  for (size_t i = 0; i < (size_t)3 * c->n * POA_SLOTS; i++)
    free(c->votes[i].wire);
  memset(c->votes, 0, (size_t)3 * c->n * POA_SLOTS * sizeof *c->votes);
  for (int i = 0; i < POA_CANDIDATES; i++) {
    c->api->block_free(c->host, c->cand[i].block);
    c->cand[i].block = NULL;
  }
  poa_timer_cancel(c, &c->round_timer);
  poa_timer_cancel(c, &c->propose_timer);
  poa_timer_cancel(c, &c->resend_timer);
  c->view_synced = 0;
}

/* ---- future heights ---- */

void poa_buffer_future(mc_consensus *c, uint32_t from, const poa_msg *m,
                       const uint8_t *msg, size_t len) {
  if (m->height > c->height + POA_FUTURE_HEIGHTS ||
      c->future_count[m->signer] >= POA_FUTURE_PER_SIGNER ||
      c->future_bytes[m->signer] + len > POA_FUTURE_BYTES_PER_SIGNER)
    return;
  poa_qmsg *q = malloc(sizeof *q + len);
  if (q == NULL)
    return;
  q->height = m->height;
  q->from = from;
  q->signer = m->signer;
  q->len = len;
  memcpy(q->data, msg, len);
  q->next = c->future;
  c->future = q;
  c->future_count[m->signer]++;
  c->future_bytes[m->signer] += len;
}

/* Moves messages for the new height to the local queue; drops the past. */
void poa_replay_future(mc_consensus *c) {
  poa_qmsg **pp = &c->future, *keep = NULL;
  memset(c->future_count, 0, c->n * sizeof *c->future_count);
  memset(c->future_bytes, 0, c->n * sizeof *c->future_bytes);
  poa_qmsg *rev = NULL;
  while (*pp != NULL) { /* reverse: replay in arrival order */
    poa_qmsg *q = *pp;
    *pp = q->next;
    q->next = rev;
    rev = q;
  }
  while (rev != NULL) {
    poa_qmsg *q = rev;
    rev = q->next;
    if (q->height == c->height)
      poa_queue_local(c, q->from, q->data, q->len);
    if (q->height <= c->height) {
      free(q);
      continue;
    }
    q->next = keep;
    keep = q;
    c->future_count[q->signer]++;
    c->future_bytes[q->signer] += q->len;
  }
  c->future = keep;
}
