/*
 * raft_io.c - libraft's struct raft_io built on the host's services, so
 * that the host keeps the network and the data directory:
 *
 *   send            -> rc_encode + the host's send to validator id - 1
 *   messages in     <- on_message -> rc_decode -> libraft's recv callback
 *   tick            -> a host timer re-armed every tick
 *   time / random   -> monotonic_ms / the host's random_bytes (ABI 1.2)
 *   term, vote, log, snapshot -> one value through state_save/state_load
 *
 * Every write is saved (state_save is atomic and flushed) before libraft
 * hears that it completed.  libraft expects callbacks on a later loop
 * turn, never inside the call that asked, so completions wait in a queue
 * that a zero-delay host timer drains.
 *
 * state_save replaces the whole value each time, so before each save the
 * entries up to libraft's last applied index are folded into the snapshot
 * record: they are in the chain now, which the host stores.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "raft_codec.h"
#include "raft_engine.h"

enum { DONE_SEND, DONE_APPEND, DONE_SNAP_PUT, DONE_SNAP_GET };

struct re_done {
  re_done *next;
  int kind;
  int status;
  void *req;
  struct raft_snapshot *snap; /* DONE_SNAP_GET */
};

static mc_consensus *io_engine(struct raft_io *io) { return io->impl; }

/* ---- completions on a later loop turn ---- */

static void run_done(re_done *d) {
  switch (d->kind) {
  case DONE_SEND: {
    struct raft_io_send *r = d->req;
    if (r->cb)
      r->cb(r, d->status);
    break;
  }
  case DONE_APPEND: {
    struct raft_io_append *r = d->req;
    if (r->cb)
      r->cb(r, d->status);
    break;
  }
  case DONE_SNAP_PUT: {
    struct raft_io_snapshot_put *r = d->req;
    if (r->cb)
      r->cb(r, d->status);
    break;
  }
  case DONE_SNAP_GET: {
    struct raft_io_snapshot_get *r = d->req;
    r->cb(r, d->snap, d->status);
    break;
  }
  }
  free(d);
}

static void drain_done(void *arg) {
  mc_consensus *c = arg;
  c->done_timer = 0;
  re_done *d = c->done_head; /* what callbacks queue now waits a turn */
  c->done_head = c->done_tail = NULL;
  while (d != NULL) {
    re_done *next = d->next;
    run_done(d);
    d = next;
  }
}

static int defer(mc_consensus *c, int kind, void *req, int status,
                 struct raft_snapshot *snap) {
  re_done *d = calloc(1, sizeof *d);
  if (d == NULL)
    return RAFT_NOMEM;
  if (c->done_timer == 0 &&
      c->api->timer_start(c->host, 0, drain_done, c, &c->done_timer) != 0) {
    free(d);
    return RAFT_IOERR;
  }
  d->kind = kind;
  d->req = req;
  d->status = status;
  d->snap = snap;
  if (c->done_tail)
    c->done_tail->next = d;
  else
    c->done_head = d;
  c->done_tail = d;
  return 0;
}

/* ---- saving ---- */

/* Folds the entries libraft has applied into the snapshot record. */
static void compact(mc_consensus *c) {
  if (c->raft.state == RAFT_UNAVAILABLE)
    return;
  raft_index applied = raft_last_applied(&c->raft);
  uint64_t term = rp_term_of(&c->st, applied);
  if (applied < c->st.first || term == 0)
    return; /* nothing applied that is still kept */
  uint64_t head = 0;
  uint8_t hash[MC_HASH_LEN] = {0};
  if (re_snapshot_now(c, &head, hash) != 0)
    return;
  c->st.snap.present = 1;
  c->st.snap.index = applied;
  c->st.snap.term = term;
  c->st.snap.conf_index = c->raft.configuration_index
                              ? c->raft.configuration_index
                              : 1;
  c->st.snap.height = head;
  memcpy(c->st.snap.hash, hash, MC_HASH_LEN);
  rp_drop_prefix(&c->st, applied);
}

static int save(mc_consensus *c) {
  compact(c);
  uint8_t *buf = NULL;
  size_t len = 0;
  if (rp_encode(&c->st, &buf, &len) != 0)
    return RAFT_NOMEM;
  int rc = c->api->state_save(c->host, buf, len);
  free(buf);
  if (rc != 0) {
    re_log(c, MC_LOG_ERROR, "state_save_failed",
           (mc_log_field[]){MC_LOG_F_S("reason", mc_err_name(rc)),
                            MC_LOG_F_U("bytes", len)},
           2);
    return RAFT_IOERR;
  }
  return 0;
}

int re_io_load_state(mc_consensus *c) {
  uint8_t *data = NULL;
  size_t len = 0;
  int rc = c->api->state_load(c->host, &data, &len);
  if (rc == MC_ENOTFOUND) {
    c->have_state = 0;
    memset(&c->st, 0, sizeof c->st);
    c->st.first = 1;
    return 0;
  }
  if (rc != 0)
    return rc;
  rc = rp_decode(data, len, &c->st);
  c->api->buf_free(c->host, data);
  c->have_state = rc == 0;
  return rc;
}

/* ---- the raft_io methods ---- */

static int io_init(struct raft_io *io, raft_id id, const char *address) {
  (void)io, (void)id, (void)address;
  return 0;
}

static void tick(void *arg);

static void arm_tick(mc_consensus *c) {
  c->tick_timer = 0;
  if (c->running &&
      c->api->timer_start(c->host, c->tick_ms, tick, c, &c->tick_timer) != 0)
    re_log(c, MC_LOG_ERROR, "timer_failed", NULL, 0);
}

static void tick(void *arg) {
  mc_consensus *c = arg;
  c->tick_timer = 0;
  if (c->tick_cb)
    c->tick_cb(&c->io);
  arm_tick(c);
}

static int io_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb t,
                    raft_io_recv_cb recv) {
  mc_consensus *c = io_engine(io);
  c->tick_ms = msecs;
  c->tick_cb = t;
  c->recv_cb = recv;
  arm_tick(c);
  return c->tick_timer != 0 ? 0 : RAFT_IOERR;
}

/* Fails every completion still queued (libraft frees its requests in
 * their callbacks), then reports the close. */
static void io_close(struct raft_io *io, raft_io_close_cb cb) {
  mc_consensus *c = io_engine(io);
  if (c->tick_timer)
    c->api->timer_stop(c->host, c->tick_timer);
  if (c->done_timer)
    c->api->timer_stop(c->host, c->done_timer);
  c->tick_timer = c->done_timer = 0;
  c->tick_cb = NULL;
  c->recv_cb = NULL;
  while (c->done_head != NULL) {
    re_done *d = c->done_head;
    c->done_head = d->next;
    if (d->kind != DONE_SNAP_GET)
      d->status = RAFT_CANCELED;
    run_done(d);
  }
  c->done_tail = NULL;
  if (cb)
    cb(io);
}

/* The configuration libraft gets back with a snapshot. */
static struct raft_snapshot *snapshot_new(mc_consensus *c) {
  struct raft_snapshot *s = raft_calloc(1, sizeof *s);
  struct raft_buffer *bufs = raft_malloc(sizeof *bufs);
  void *data = raft_malloc(RE_SNAPSHOT_DATA_LEN);
  if (s == NULL || bufs == NULL || data == NULL ||
      re_configuration(c, &s->configuration) != 0) {
    if (s)
      raft_configuration_close(&s->configuration);
    raft_free(s);
    raft_free(bufs);
    raft_free(data);
    return NULL;
  }
  const rp_snapshot *sn = &c->st.snap;
  s->index = sn->index;
  s->term = sn->term;
  s->configuration_index = sn->conf_index;
  re_snapshot_data(sn->height, sn->hash, data);
  bufs[0].base = data;
  bufs[0].len = RE_SNAPSHOT_DATA_LEN;
  s->bufs = bufs;
  s->n_bufs = 1;
  return s;
}

static int load_entries(mc_consensus *c, struct raft_entry **out,
                        size_t *n) {
  *out = NULL;
  *n = c->st.n;
  if (c->st.n == 0)
    return 0;
  struct raft_entry *es = raft_calloc(c->st.n, sizeof *es);
  if (es == NULL)
    return RAFT_NOMEM;
  for (size_t i = 0; i < c->st.n; i++) {
    const rp_entry *e = &c->st.entries[i];
    es[i].term = e->term;
    es[i].type = e->type;
    es[i].buf.len = e->len;
    es[i].batch = NULL; /* libraft frees each buf.base on its own */
    if (e->len > 0 && (es[i].buf.base = raft_malloc(e->len)) == NULL) {
      for (size_t j = 0; j < i; j++)
        raft_free(es[j].buf.base);
      raft_free(es);
      return RAFT_NOMEM;
    }
    if (e->len > 0)
      memcpy(es[i].buf.base, e->data, e->len);
  }
  *out = es;
  return 0;
}

static int io_load(struct raft_io *io, raft_term *term, raft_id *voted_for,
                   struct raft_snapshot **snapshot, raft_index *start_index,
                   struct raft_entry *entries[], size_t *n_entries) {
  mc_consensus *c = io_engine(io);
  *term = c->st.term;
  *voted_for = c->st.vote;
  *snapshot = NULL;
  *start_index = c->st.first;
  if (c->st.snap.present && (*snapshot = snapshot_new(c)) == NULL)
    return RAFT_NOMEM;
  int rc = load_entries(c, entries, n_entries);
  if (rc != 0 && *snapshot) {
    raft_configuration_close(&(*snapshot)->configuration);
    raft_free((*snapshot)->bufs[0].base);
    raft_free((*snapshot)->bufs);
    raft_free(*snapshot);
    *snapshot = NULL;
  }
  return rc;
}

/* The first start of a node: term 1 and the configuration entry at index
 * 1, the same on every node because it comes from the genesis. */
static int io_bootstrap(struct raft_io *io,
                        const struct raft_configuration *conf) {
  mc_consensus *c = io_engine(io);
  if (c->st.term != 0 || c->st.n != 0 || c->st.snap.present)
    return RAFT_CANTBOOTSTRAP;
  struct raft_buffer buf;
  int rc = raft_configuration_encode(conf, &buf);
  if (rc != 0)
    return rc;
  c->st.term = 1;
  c->st.vote = 0;
  c->st.first = 1;
  rc = rp_push(&c->st, 1, RAFT_CHANGE, buf.base, buf.len);
  raft_free(buf.base);
  return rc != 0 ? RAFT_NOMEM : save(c);
}

/* raft.so never changes the configuration: it is the genesis's. */
static int io_recover(struct raft_io *io,
                      const struct raft_configuration *conf) {
  (void)conf;
  strcpy(io->errmsg, "raft.so: the configuration is the genesis validator "
                     "set and cannot be forced");
  return RAFT_INVALID;
}

static int io_set_term(struct raft_io *io, raft_term term) {
  mc_consensus *c = io_engine(io);
  c->st.term = term;
  c->st.vote = 0;
  return save(c);
}

static int io_set_vote(struct raft_io *io, raft_id server_id) {
  mc_consensus *c = io_engine(io);
  c->st.vote = server_id;
  return save(c);
}

static int io_send(struct raft_io *io, struct raft_io_send *req,
                   const struct raft_message *m, raft_io_send_cb cb) {
  mc_consensus *c = io_engine(io);
  if (m->server_id == 0 || m->server_id > c->n ||
      m->server_id == (raft_id)c->self + 1)
    return RAFT_BADID;
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = rc_encode(m, &buf, &len);
  if (rc != 0)
    return rc == MC_ENOMEM ? RAFT_NOMEM : RAFT_INVALID;
  rc = c->api->send(c->host, (uint32_t)(m->server_id - 1), buf, len);
  free(buf);
  req->cb = cb;
  /* best effort, as the host's send is: libraft retries what is lost */
  return defer(c, DONE_SEND, req, rc == 0 ? 0 : RAFT_NOCONNECTION, NULL);
}

static int io_append(struct raft_io *io, struct raft_io_append *req,
                     const struct raft_entry entries[], unsigned n,
                     raft_io_append_cb cb) {
  mc_consensus *c = io_engine(io);
  uint64_t next = c->st.first + c->st.n; /* index of entries[0] */
  for (unsigned i = 0; i < n; i++)
    if (rp_push(&c->st, entries[i].term, (uint8_t)entries[i].type,
                entries[i].buf.base, entries[i].buf.len) != 0) {
      rp_truncate(&c->st, next); /* all or nothing */
      return RAFT_NOMEM;
    }
  req->cb = cb;
  return defer(c, DONE_APPEND, req, save(c), NULL);
}

static int io_truncate(struct raft_io *io, raft_index index) {
  mc_consensus *c = io_engine(io);
  rp_truncate(&c->st, index);
  return save(c);
}

/* trailing 0: a snapshot installed from the leader replaces the log.
 * Otherwise libraft's own snapshot: kept if newer than ours; on disk no
 * trailing entries are kept (libraft keeps them in memory). */
static int io_snapshot_put(struct raft_io *io, unsigned trailing,
                           struct raft_io_snapshot_put *req,
                           const struct raft_snapshot *s,
                           raft_io_snapshot_put_cb cb) {
  mc_consensus *c = io_engine(io);
  rp_snapshot *sn = &c->st.snap;
  uint64_t height;
  uint8_t hash[MC_HASH_LEN];
  if (s->n_bufs != 1 ||
      re_snapshot_parse(s->bufs[0].base, s->bufs[0].len, &height, hash) != 0)
    return RAFT_MALFORMED;
  if (trailing == 0 || !sn->present || s->index > sn->index) {
    if (trailing == 0)
      rp_truncate(&c->st, c->st.first); /* everything */
    sn->present = 1;
    sn->index = s->index;
    sn->term = s->term;
    sn->conf_index = s->configuration_index;
    sn->height = height;
    memcpy(sn->hash, hash, MC_HASH_LEN);
    if (c->st.first <= s->index)
      rp_drop_prefix(&c->st, s->index);
    if (trailing == 0) {
      c->st.first = s->index + 1;
      re_log(c, MC_LOG_INFO, "snapshot_installed",
             (mc_log_field[]){MC_LOG_F_U("index", s->index),
                              MC_LOG_F_U("snapshot_height", height)},
             2);
    }
  }
  req->cb = cb;
  return defer(c, DONE_SNAP_PUT, req, save(c), NULL);
}

static int io_snapshot_get(struct raft_io *io,
                           struct raft_io_snapshot_get *req,
                           raft_io_snapshot_get_cb cb) {
  mc_consensus *c = io_engine(io);
  if (!c->st.snap.present)
    return RAFT_NOTFOUND;
  struct raft_snapshot *s = snapshot_new(c);
  if (s == NULL)
    return RAFT_NOMEM;
  req->cb = cb;
  int rc = defer(c, DONE_SNAP_GET, req, 0, s);
  if (rc != 0) {
    raft_configuration_close(&s->configuration);
    raft_free(s->bufs[0].base);
    raft_free(s->bufs);
    raft_free(s);
  }
  return rc;
}

static raft_time io_time(struct raft_io *io) {
  mc_consensus *c = io_engine(io);
  return c->api->monotonic_ms(c->host);
}

/* A uniform number below n (n > 0) from the host's random_bytes (ABI 1.2),
 * so that mc-consensus-sim replays an election exactly; libsodium's when
 * the host has none or fails. */
static uint32_t host_uniform(mc_consensus *c, uint32_t n) {
  if (!MC_HOST_HAS(c->api, random_bytes))
    return randombytes_uniform(n);
  uint32_t limit = UINT32_MAX - UINT32_MAX % n; /* no modulo bias */
  for (;;) {
    uint8_t b[4];
    if (c->api->random_bytes(c->host, b, sizeof b) != 0)
      return randombytes_uniform(n);
    uint32_t v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                 (uint32_t)b[3] << 24;
    if (v < limit)
      return v % n;
  }
}

/* A number in [min, max): libraft's randomized election timeout. */
static int io_random(struct raft_io *io, int min, int max) {
  if (max <= min)
    return min;
  return min + (int)host_uniform(io_engine(io), (uint32_t)(max - min));
}

void re_io_init(mc_consensus *c) {
  memset(&c->io, 0, sizeof c->io);
  c->io.version = 1;
  c->io.impl = c;
  c->io.init = io_init;
  c->io.close = io_close;
  c->io.load = io_load;
  c->io.start = io_start;
  c->io.bootstrap = io_bootstrap;
  c->io.recover = io_recover;
  c->io.set_term = io_set_term;
  c->io.set_vote = io_set_vote;
  c->io.send = io_send;
  c->io.append = io_append;
  c->io.truncate = io_truncate;
  c->io.snapshot_put = io_snapshot_put;
  c->io.snapshot_get = io_snapshot_get;
  c->io.time = io_time;
  c->io.random = io_random;
}

/* ---- messages in ---- */

/* Beyond the codec's bounds: what only this configuration makes wrong. */
static int plausible(mc_consensus *c, uint32_t from,
                     const struct raft_message *m) {
  if (m->type == RAFT_IO_REQUEST_VOTE)
    return m->request_vote.candidate_id == (raft_id)from + 1;
  if (m->type != RAFT_IO_INSTALL_SNAPSHOT)
    return 1;
  const struct raft_configuration *conf = &m->install_snapshot.conf;
  if (conf->n != c->n || m->install_snapshot.data.len != RE_SNAPSHOT_DATA_LEN)
    return 0;
  for (unsigned i = 0; i < conf->n; i++)
    if (conf->servers[i].id != i + 1 || conf->servers[i].role != RAFT_VOTER)
      return 0;
  return 1;
}

/*
 * libraft 0.15 cannot take an AppendEntries that starts below the
 * follower's snapshot: it finds no term for the compacted indexes, takes
 * the entries for new ones and shuts the node down ("No log entries found
 * at index 1").  raft.so's followers compact after every apply, so a new
 * leader probing from index 1 would hit it.  Entries at or below the
 * snapshot were committed, and committed entries are the same in every
 * log (Raft's leader completeness), so the message is cut to start right
 * after the snapshot; if it holds nothing after it, it becomes a
 * heartbeat anchored at the snapshot.  One check keeps this honest: an
 * entry at the snapshot's index must carry the snapshot's term.
 */
static int trim_below_snapshot(mc_consensus *c, struct raft_message *m) {
  struct raft_append_entries *a = &m->append_entries;
  raft_index s = c->raft.log.snapshot.last_index;
  raft_term t = c->raft.log.snapshot.last_term;
  if (m->type != RAFT_IO_APPEND_ENTRIES || s == 0 || a->prev_log_index >= s)
    return 0;
  raft_index k = s - a->prev_log_index; /* entries at or below s */
  if (k <= a->n_entries && a->entries[k - 1].term != t)
    return MC_EDECODE; /* contradicts a committed entry */
  if (k >= a->n_entries) {
    if (a->entries != NULL) {
      raft_free(a->entries[0].batch);
      raft_free(a->entries);
    }
    a->entries = NULL;
    a->n_entries = 0;
  } else {
    memmove(a->entries, a->entries + k,
            (a->n_entries - k) * sizeof *a->entries);
    a->n_entries -= (unsigned)k;
  }
  a->prev_log_index = s;
  a->prev_log_term = t;
  return 0;
}

int re_io_deliver(mc_consensus *c, uint32_t from, const uint8_t *msg,
                  size_t len) {
  if (c->recv_cb == NULL)
    return MC_ESTATE;
  struct raft_message m;
  int rc = rc_decode(msg, len, &m);
  if (rc != 0)
    return rc;
  if (!plausible(c, from, &m) || trim_below_snapshot(c, &m) != 0) {
    rc_message_free(&m);
    return MC_EDECODE;
  }
  m.server_id = (raft_id)from + 1;
  m.server_address = c->addrs[from];
  c->recv_cb(&c->io, &m); /* libraft owns what the message holds now */
  return 0;
}
