/*
 * raft_persist.c - raft.so's saved state (raft_persist.h): the in-memory
 * record raft_io.c keeps in step with what it saved, and its encoding.
 *
 * The decoder reads a value this node wrote itself, but a torn disk or a
 * file from elsewhere must still not crash it: every count and length is
 * checked against the bytes left, and anything wrong is MC_ECORRUPT.
 */
#include <stdlib.h>
#include <string.h>

#include "minichain/error.h"
#include "raft_persist.h"

static const uint8_t MAGIC[4] = {'M', 'C', 'R', 'S'};
#define RP_VERSION 1

/* ---- the record ---- */

int rp_push(rp_state *s, uint64_t term, uint8_t type, const void *data,
            size_t len) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 8;
    rp_entry *e = realloc(s->entries, cap * sizeof *e);
    if (e == NULL)
      return MC_ENOMEM;
    s->entries = e;
    s->cap = cap;
  }
  rp_entry *e = &s->entries[s->n];
  e->data = NULL;
  if (len > 0) {
    e->data = malloc(len);
    if (e->data == NULL)
      return MC_ENOMEM;
    memcpy(e->data, data, len);
  }
  e->term = term;
  e->type = type;
  e->len = len;
  s->n++;
  return 0;
}

void rp_truncate(rp_state *s, uint64_t from) {
  if (from < s->first)
    from = s->first;
  while (s->n > 0 && s->first + s->n - 1 >= from) {
    s->n--;
    free(s->entries[s->n].data);
  }
}

void rp_drop_prefix(rp_state *s, uint64_t upto) {
  if (upto < s->first)
    return;
  size_t k = (size_t)(upto - s->first + 1);
  if (k > s->n)
    k = s->n;
  for (size_t i = 0; i < k; i++)
    free(s->entries[i].data);
  if (s->n > k) /* entries is NULL while the log is empty */
    memmove(s->entries, s->entries + k, (s->n - k) * sizeof *s->entries);
  s->n -= k;
  s->first = upto + 1;
}

uint64_t rp_term_of(const rp_state *s, uint64_t index) {
  if (s->snap.present && index == s->snap.index)
    return s->snap.term;
  if (index < s->first || index - s->first >= s->n)
    return 0;
  return s->entries[index - s->first].term;
}

void rp_clear(rp_state *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->entries[i].data);
  free(s->entries);
  memset(s, 0, sizeof *s);
}

/* ---- encoding ---- */

static uint8_t *put(uint8_t *p, uint64_t v, int width) {
  for (int i = 0; i < width; i++)
    p[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
  return p + width;
}

int rp_encode(const rp_state *s, uint8_t **out, size_t *len) {
  size_t n = 4 + 4 + 8 + 8 + 1 + 8 + 4;
  if (s->snap.present)
    n += 8 * 4 + RP_HASH_LEN;
  for (size_t i = 0; i < s->n; i++)
    n += 13 + s->entries[i].len;
  uint8_t *b = malloc(n), *p = b;
  if (b == NULL)
    return MC_ENOMEM;
  memcpy(p, MAGIC, 4);
  p = put(p + 4, RP_VERSION, 4);
  p = put(p, s->term, 8);
  p = put(p, s->vote, 8);
  p = put(p, s->snap.present ? 1 : 0, 1);
  if (s->snap.present) {
    p = put(p, s->snap.index, 8);
    p = put(p, s->snap.term, 8);
    p = put(p, s->snap.conf_index, 8);
    p = put(p, s->snap.height, 8);
    memcpy(p, s->snap.hash, RP_HASH_LEN);
    p += RP_HASH_LEN;
  }
  p = put(p, s->first, 8);
  p = put(p, s->n, 4);
  for (size_t i = 0; i < s->n; i++) {
    const rp_entry *e = &s->entries[i];
    p = put(p, e->term, 8);
    p = put(p, e->type, 1);
    p = put(p, e->len, 4);
    if (e->len > 0)
      memcpy(p, e->data, e->len);
    p += e->len;
  }
  *out = b;
  *len = n;
  return 0;
}

typedef struct rd {
  const uint8_t *p;
  size_t left;
  int bad;
} rd;

static uint64_t get(rd *r, int width) {
  if (r->bad || r->left < (size_t)width) {
    r->bad = 1;
    return 0;
  }
  uint64_t v = 0;
  for (int i = 0; i < width; i++)
    v = (v << 8) | r->p[i];
  r->p += width;
  r->left -= (size_t)width;
  return v;
}

static int decode_snapshot(rd *r, rp_snapshot *sn) {
  uint64_t has = get(r, 1);
  if (has > 1)
    return MC_ECORRUPT;
  sn->present = has == 1;
  if (!sn->present)
    return 0;
  sn->index = get(r, 8);
  sn->term = get(r, 8);
  sn->conf_index = get(r, 8);
  sn->height = get(r, 8);
  if (r->bad || r->left < RP_HASH_LEN || sn->index == 0 || sn->term == 0)
    return MC_ECORRUPT;
  memcpy(sn->hash, r->p, RP_HASH_LEN);
  r->p += RP_HASH_LEN;
  r->left -= RP_HASH_LEN;
  return 0;
}

static int decode_entries(rd *r, rp_state *s) {
  s->first = get(r, 8);
  uint64_t n = get(r, 4);
  uint64_t want_first = s->snap.present ? s->snap.index + 1 : 1;
  if (r->bad || s->first != want_first || n > RP_MAX_ENTRIES ||
      n * 13 > r->left)
    return MC_ECORRUPT;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t term = get(r, 8), type = get(r, 1), len = get(r, 4);
    if (r->bad || term == 0 || type < 1 || type > 3 || len > r->left)
      return MC_ECORRUPT;
    if (rp_push(s, term, (uint8_t)type, r->p, (size_t)len) != 0)
      return MC_ENOMEM;
    r->p += len;
    r->left -= (size_t)len;
  }
  return r->left == 0 ? 0 : MC_ECORRUPT;
}

int rp_decode(const uint8_t *in, size_t len, rp_state *s) {
  memset(s, 0, sizeof *s);
  rd r = {in, len, 0};
  if (in == NULL || len < 8 || memcmp(in, MAGIC, 4) != 0)
    return MC_ECORRUPT;
  r.p += 4;
  r.left -= 4;
  if (get(&r, 4) != RP_VERSION)
    return MC_ECORRUPT;
  s->term = get(&r, 8);
  s->vote = get(&r, 8);
  int rc = decode_snapshot(&r, &s->snap);
  if (rc == 0 && r.bad)
    rc = MC_ECORRUPT;
  if (rc == 0)
    rc = decode_entries(&r, s);
  if (rc != 0)
    rp_clear(s);
  return rc;
}
