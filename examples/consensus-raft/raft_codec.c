/*
 * raft_codec.c - encodes and decodes libraft's struct raft_message in the
 * fixed binary format of raft_codec.h.
 *
 * Bodies (all integers big-endian):
 *   REQUEST_VOTE         term, candidate_id, last_log_index, last_log_term
 *                        (u64 each), u8 flags (1 disrupt_leader, 2 pre_vote)
 *   REQUEST_VOTE_RESULT  u64 term, u8 vote_granted (0/1), u8 pre_vote
 *                        (raft_tribool 0..2)
 *   APPEND_ENTRIES       term, prev_log_index, prev_log_term, leader_commit
 *                        (u64 each), u32 n, then n times: u64 term,
 *                        u8 type (RAFT_COMMAND..RAFT_CHANGE), u32 len, data
 *   APPEND_ENTRIES_RESULT term, rejected, last_log_index (u64 each)
 *   INSTALL_SNAPSHOT     term, last_index, last_term, conf_index (u64 each),
 *                        u32 n_servers, then n times: u64 id, u8 role,
 *                        u8 address length, address; u32 data length, data
 *   TIMEOUT_NOW          term, last_log_index, last_log_term (u64 each)
 *
 * The decoder checks every count and length against the bytes that are
 * left before it allocates, so a peer cannot make it allocate more than
 * the message it sent (plus fixed per-entry overhead), and it refuses
 * trailing bytes: one message has exactly one encoding.
 */
#include <stdlib.h>
#include <string.h>

#include "minichain/error.h"
#include "raft_codec.h"

/* ---- writing ---- */

typedef struct wbuf {
  uint8_t *p;
  size_t len, cap;
  int oom;
} wbuf;

static void w_reserve(wbuf *w, size_t n) {
  if (w->oom || w->len + n <= w->cap)
    return;
  size_t cap = w->cap ? w->cap : 64;
  while (cap < w->len + n)
    cap *= 2;
  uint8_t *p = realloc(w->p, cap);
  if (p == NULL) {
    w->oom = 1;
    return;
  }
  w->p = p;
  w->cap = cap;
}

static void w_bytes(wbuf *w, const void *src, size_t n) {
  w_reserve(w, n);
  if (!w->oom && n > 0) {
    memcpy(w->p + w->len, src, n);
    w->len += n;
  }
}

static void w_uint(wbuf *w, uint64_t v, int width) {
  uint8_t b[8];
  for (int i = 0; i < width; i++)
    b[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
  w_bytes(w, b, (size_t)width);
}

#define W8(w, v) w_uint((w), (v), 1)
#define W32(w, v) w_uint((w), (v), 4)
#define W64(w, v) w_uint((w), (v), 8)

static int enc_append(wbuf *w, const struct raft_append_entries *a) {
  if (a->n_entries > RC_MAX_ENTRIES || (a->n_entries > 0 && !a->entries))
    return MC_EINVAL;
  W64(w, a->term);
  W64(w, a->prev_log_index);
  W64(w, a->prev_log_term);
  W64(w, a->leader_commit);
  W32(w, a->n_entries);
  for (unsigned i = 0; i < a->n_entries; i++) {
    const struct raft_entry *e = &a->entries[i];
    if (e->buf.len > RC_MAX_ENTRY_LEN)
      return MC_EINVAL;
    W64(w, e->term);
    W8(w, e->type);
    W32(w, e->buf.len);
    w_bytes(w, e->buf.base, e->buf.len);
  }
  return 0;
}

static int enc_snapshot(wbuf *w, const struct raft_install_snapshot *s) {
  if (s->conf.n > RC_MAX_SERVERS || s->data.len > RC_MAX_SNAPSHOT_DATA)
    return MC_EINVAL;
  W64(w, s->term);
  W64(w, s->last_index);
  W64(w, s->last_term);
  W64(w, s->conf_index);
  W32(w, s->conf.n);
  for (unsigned i = 0; i < s->conf.n; i++) {
    const struct raft_server *sv = &s->conf.servers[i];
    size_t alen = sv->address ? strlen(sv->address) : 0;
    if (alen > RC_MAX_ADDRESS)
      return MC_EINVAL;
    W64(w, sv->id);
    W8(w, (unsigned)sv->role);
    W8(w, alen);
    w_bytes(w, sv->address, alen);
  }
  W32(w, s->data.len);
  w_bytes(w, s->data.base, s->data.len);
  return 0;
}

static int enc_body(wbuf *w, const struct raft_message *m) {
  switch (m->type) {
  case RAFT_IO_REQUEST_VOTE: {
    const struct raft_request_vote *v = &m->request_vote;
    W64(w, v->term);
    W64(w, v->candidate_id);
    W64(w, v->last_log_index);
    W64(w, v->last_log_term);
    W8(w, (v->disrupt_leader ? 1u : 0u) | (v->pre_vote ? 2u : 0u));
    return 0;
  }
  case RAFT_IO_REQUEST_VOTE_RESULT:
    W64(w, m->request_vote_result.term);
    W8(w, m->request_vote_result.vote_granted ? 1 : 0);
    W8(w, (unsigned)m->request_vote_result.pre_vote);
    return 0;
  case RAFT_IO_APPEND_ENTRIES:
    return enc_append(w, &m->append_entries);
  case RAFT_IO_APPEND_ENTRIES_RESULT:
    W64(w, m->append_entries_result.term);
    W64(w, m->append_entries_result.rejected);
    W64(w, m->append_entries_result.last_log_index);
    return 0;
  case RAFT_IO_INSTALL_SNAPSHOT:
    return enc_snapshot(w, &m->install_snapshot);
  case RAFT_IO_TIMEOUT_NOW:
    W64(w, m->timeout_now.term);
    W64(w, m->timeout_now.last_log_index);
    W64(w, m->timeout_now.last_log_term);
    return 0;
  default:
    return MC_EINVAL;
  }
}

int rc_encode(const struct raft_message *m, uint8_t **out, size_t *len) {
  if (m == NULL || out == NULL || len == NULL)
    return MC_EINVAL;
  wbuf w = {0};
  W8(&w, RC_VERSION);
  W8(&w, m->type);
  int rc = enc_body(&w, m);
  if (rc == 0 && w.oom)
    rc = MC_ENOMEM;
  if (rc != 0) {
    free(w.p);
    return rc;
  }
  *out = w.p;
  *len = w.len;
  return 0;
}

/* ---- reading ---- */

typedef struct rbuf {
  const uint8_t *p;
  size_t left;
  int bad; /* sticky: a read past the end */
} rbuf;

static uint64_t r_uint(rbuf *r, int width) {
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

#define R8(r) r_uint((r), 1)
#define R32(r) r_uint((r), 4)
#define R64(r) r_uint((r), 8)

static const uint8_t *r_take(rbuf *r, size_t n) {
  if (r->bad || r->left < n) {
    r->bad = 1;
    return NULL;
  }
  const uint8_t *p = r->p;
  r->p += n;
  r->left -= n;
  return p;
}

/* One entry's header; checks the type and that its data is there. */
static int dec_entry_head(rbuf *r, struct raft_entry *e, size_t *len) {
  e->term = R64(r);
  uint64_t type = R8(r);
  uint64_t n = R32(r);
  if (r->bad || type < RAFT_COMMAND || type > RAFT_CHANGE || e->term == 0 ||
      n > RC_MAX_ENTRY_LEN || n > r->left)
    return MC_EDECODE;
  e->type = (unsigned short)type;
  *len = (size_t)n;
  r->p += n; /* first pass: only measure */
  r->left -= n;
  return 0;
}

/* Two passes over the entries: the first checks every header and sums the
 * data (nothing allocated yet), the second copies into one batch. */
static int dec_append(rbuf *r, struct raft_append_entries *a) {
  a->term = R64(r);
  a->prev_log_index = R64(r);
  a->prev_log_term = R64(r);
  a->leader_commit = R64(r);
  uint64_t n = R32(r);
  a->entries = NULL;
  a->n_entries = 0;
  /* 13 bytes is the smallest entry: a count the body cannot hold is
   * refused before anything is allocated for it. */
  if (r->bad || n > RC_MAX_ENTRIES || n * 13 > r->left)
    return MC_EDECODE;
  if (n == 0)
    return 0;
  rbuf first = *r;
  size_t total = 0, len;
  struct raft_entry probe;
  for (uint64_t i = 0; i < n; i++) {
    if (dec_entry_head(&first, &probe, &len) != 0)
      return MC_EDECODE;
    total += len;
  }
  struct raft_entry *es = raft_calloc((size_t)n, sizeof *es);
  uint8_t *batch = raft_malloc(total > 0 ? total : 1);
  if (es == NULL || batch == NULL) {
    raft_free(es);
    raft_free(batch);
    return MC_ENOMEM;
  }
  size_t off = 0;
  for (uint64_t i = 0; i < n; i++) {
    dec_entry_head(r, &es[i], &len); /* checked in the first pass */
    memcpy(batch + off, r->p - len, len);
    es[i].buf.base = batch + off;
    es[i].buf.len = len;
    es[i].batch = batch;
    off += len;
  }
  a->entries = es;
  a->n_entries = (unsigned)n;
  return 0;
}

static int printable(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] < 0x21 || p[i] > 0x7e)
      return 0;
  return 1;
}

static int dec_server(rbuf *r, struct raft_configuration *conf) {
  uint64_t id = R64(r);
  uint64_t role = R8(r);
  uint64_t alen = R8(r);
  const uint8_t *addr = r_take(r, (size_t)alen);
  char buf[RC_MAX_ADDRESS + 1];
  if (r->bad || id == 0 || role > RAFT_SPARE || alen == 0 ||
      alen > RC_MAX_ADDRESS || !printable(addr, (size_t)alen))
    return MC_EDECODE;
  memcpy(buf, addr, (size_t)alen);
  buf[alen] = '\0';
  int rc = raft_configuration_add(conf, id, buf, (int)role);
  return rc == 0 ? 0 : rc == RAFT_NOMEM ? MC_ENOMEM : MC_EDECODE;
}

static int dec_snapshot(rbuf *r, struct raft_install_snapshot *s) {
  s->term = R64(r);
  s->last_index = R64(r);
  s->last_term = R64(r);
  s->conf_index = R64(r);
  uint64_t n = R32(r);
  raft_configuration_init(&s->conf);
  s->data.base = NULL;
  s->data.len = 0;
  /* 11 bytes: the smallest server (one-byte address) */
  if (r->bad || n == 0 || n > RC_MAX_SERVERS || n * 11 > r->left)
    return MC_EDECODE;
  int rc = 0;
  for (uint64_t i = 0; i < n && rc == 0; i++)
    rc = dec_server(r, &s->conf);
  uint64_t dlen = rc == 0 ? R32(r) : 0;
  const uint8_t *data = rc == 0 ? r_take(r, (size_t)dlen) : NULL;
  if (rc == 0 && (r->bad || dlen > RC_MAX_SNAPSHOT_DATA))
    rc = MC_EDECODE;
  if (rc == 0) {
    s->data.base = raft_malloc(dlen > 0 ? (size_t)dlen : 1);
    if (s->data.base == NULL)
      rc = MC_ENOMEM;
    else
      memcpy(s->data.base, data, (size_t)dlen);
    s->data.len = (size_t)dlen;
  }
  if (rc != 0) {
    raft_configuration_close(&s->conf);
    raft_configuration_init(&s->conf);
    s->data.base = NULL;
  }
  return rc;
}

static int dec_body(rbuf *r, struct raft_message *m) {
  switch (m->type) {
  case RAFT_IO_REQUEST_VOTE: {
    struct raft_request_vote *v = &m->request_vote;
    v->term = R64(r);
    v->candidate_id = R64(r);
    v->last_log_index = R64(r);
    v->last_log_term = R64(r);
    uint64_t flags = R8(r);
    if (flags > 3)
      return MC_EDECODE;
    v->disrupt_leader = (flags & 1) != 0;
    v->pre_vote = (flags & 2) != 0;
    return 0;
  }
  case RAFT_IO_REQUEST_VOTE_RESULT: {
    m->request_vote_result.term = R64(r);
    uint64_t granted = R8(r), pre = R8(r);
    if (granted > 1 || pre > raft_tribool_false)
      return MC_EDECODE;
    m->request_vote_result.vote_granted = granted == 1;
    m->request_vote_result.pre_vote = (raft_tribool)pre;
    return 0;
  }
  case RAFT_IO_APPEND_ENTRIES:
    return dec_append(r, &m->append_entries);
  case RAFT_IO_APPEND_ENTRIES_RESULT:
    m->append_entries_result.term = R64(r);
    m->append_entries_result.rejected = R64(r);
    m->append_entries_result.last_log_index = R64(r);
    return 0;
  case RAFT_IO_INSTALL_SNAPSHOT:
    return dec_snapshot(r, &m->install_snapshot);
  case RAFT_IO_TIMEOUT_NOW:
    m->timeout_now.term = R64(r);
    m->timeout_now.last_log_index = R64(r);
    m->timeout_now.last_log_term = R64(r);
    return 0;
  default:
    return MC_EDECODE;
  }
}

int rc_decode(const uint8_t *in, size_t len, struct raft_message *m) {
  if (in == NULL || m == NULL)
    return MC_EDECODE;
  memset(m, 0, sizeof *m);
  rbuf r = {in, len, 0};
  uint64_t version = R8(&r);
  uint64_t type = R8(&r);
  if (r.bad || version != RC_VERSION || type < RAFT_IO_APPEND_ENTRIES ||
      type > RAFT_IO_TIMEOUT_NOW)
    return MC_EDECODE;
  m->type = (unsigned short)type;
  int rc = dec_body(&r, m);
  if (rc == 0 && (r.bad || r.left != 0))
    rc = MC_EDECODE; /* ended early, or bytes after the body */
  if (rc != 0)
    rc_message_free(m);
  return rc;
}

void rc_message_free(struct raft_message *m) {
  if (m == NULL)
    return;
  if (m->type == RAFT_IO_APPEND_ENTRIES && m->append_entries.entries) {
    raft_free(m->append_entries.entries[0].batch);
    raft_free(m->append_entries.entries);
    m->append_entries.entries = NULL;
    m->append_entries.n_entries = 0;
  } else if (m->type == RAFT_IO_INSTALL_SNAPSHOT) {
    raft_configuration_close(&m->install_snapshot.conf);
    raft_configuration_init(&m->install_snapshot.conf);
    raft_free(m->install_snapshot.data.base);
    m->install_snapshot.data.base = NULL;
  }
}
