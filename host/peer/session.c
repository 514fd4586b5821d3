/*
 * session.c - peer sessions: their life from the first HELLO to the close
 * callback, the one session kept per validator, dialling the configured
 * peers, the ban table, the heartbeat timer, and the dispatch of peer
 * messages to handshake.c, gossip.c, serve.c and sync.c.
 *
 * At most one authenticated session per validator is kept: when two nodes
 * dial each other at once, both keep the connection dialled by the node
 * with the smaller key, so both drop the same one.
 */
#include <stdlib.h>
#include <string.h>

#include "chain/codec.h"
#include "config.h"
#include "log.h"
#include "minichain/error.h"
#include "node.h"
#include "peer/peer_internal.h"

uint64_t peers_now(const mc_peers *p) { return uv_now(&p->n->loop); }

int session_live(const mc_session *s) {
  return s->authed && !mc_conn_is_closing(s->conn);
}

const char *session_name(const mc_session *s) {
  return mc_conn_peer_name(s->conn);
}

int session_send_frame(mc_session *s, const uint8_t *frame, size_t len) {
  uint8_t *copy = malloc(len);
  if (copy == NULL)
    return MC_ENOMEM;
  memcpy(copy, frame, len);
  return mc_conn_send(s->conn, copy, len);
}

int session_send(mc_session *s, const mc_msg *m) {
  uint8_t *frame;
  size_t len;
  int rc = mc_msg_encode_frame(m, &frame, &len);
  if (rc != 0)
    return rc;
  return mc_conn_send(s->conn, frame, len);
}

/* ---- bans ---- */

static mc_ban *ban_find(mc_peers *p, const uint8_t *key, const char *ip) {
  for (int i = 0; i < MC_PEER_BANS; i++) {
    mc_ban *b = &p->bans[i];
    if (!b->used)
      continue;
    if (ip != NULL ? (b->is_ip && strcmp(b->ip, ip) == 0)
                   : (!b->is_ip && memcmp(b->key, key, MC_PUBKEY_LEN) == 0))
      return b;
  }
  return NULL;
}

/* A free slot, else the one whose ban ends first. */
static mc_ban *ban_slot(mc_peers *p) {
  mc_ban *slot = &p->bans[0];
  for (int i = 0; i < MC_PEER_BANS; i++) {
    if (!p->bans[i].used)
      return &p->bans[i];
    if (p->bans[i].until_ms < slot->until_ms)
      slot = &p->bans[i];
  }
  return slot;
}

/* Bans a key or an address; a repeat ban lasts twice as long. */
static uint64_t ban(mc_peers *p, const uint8_t *key, const char *ip) {
  mc_ban *b = ban_find(p, key, ip);
  if (b == NULL) {
    b = ban_slot(p);
    memset(b, 0, sizeof *b);
    b->used = 1;
    b->is_ip = ip != NULL;
    if (ip != NULL)
      snprintf(b->ip, sizeof b->ip, "%s", ip);
    else
      memcpy(b->key, key, MC_PUBKEY_LEN);
  }
  b->length_ms = b->length_ms == 0 ? MC_PEER_BAN_MIN_MS : 2 * b->length_ms;
  if (b->length_ms > MC_PEER_BAN_MAX_MS)
    b->length_ms = MC_PEER_BAN_MAX_MS;
  b->until_ms = peers_now(p) + b->length_ms;
  return b->length_ms;
}

/* 0 when not banned now, else how long the ban still runs. */
static uint64_t banned_for(mc_peers *p, const uint8_t *key, const char *ip) {
  const mc_ban *b = ban_find(p, key, ip);
  uint64_t now = peers_now(p);
  return b != NULL && b->until_ms > now ? b->until_ms - now : 0;
}

int mc_peers_ip_banned(mc_peers *p, const char *ip) {
  return banned_for(p, NULL, ip) > 0;
}

/* ---- sessions ---- */

static mc_session *session_new(mc_peers *p, mc_conn *c, mc_dial *d) {
  mc_session *s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  s->p = p;
  s->conn = c;
  s->dial = d;
  s->validator = -1;
  s->next = p->sessions;
  if (p->sessions)
    p->sessions->prev = s;
  p->sessions = s;
  mc_conn_set_data(c, s);
  mc_conn_set_class(c, MC_CONN_HANDSHAKE);
  return s;
}

static void session_unregister(mc_session *s) {
  mc_peers *p = s->p;
  if (!s->registered)
    return;
  s->registered = 0;
  p->by_validator[s->validator] = NULL;
  MC_LOG(MC_LOG_INFO, "peer_disconnected", MC_LOG_F_I("validator", s->validator),
         MC_LOG_F_S("peer", session_name(s)));
  mc_node *n = p->n;
  if (!n->stopping && n->cvt->on_peer != NULL)
    n->cvt->on_peer(n->consensus, (uint32_t)s->validator, 0);
}

static void session_free(mc_session *s) {
  mc_peers *p = s->p;
  session_unregister(s);
  if (p->sync != NULL)
    sync_on_session_gone(p->sync, s);
  if (s->prev)
    s->prev->next = s->next;
  else
    p->sessions = s->next;
  if (s->next)
    s->next->prev = s->prev;
  mc_hs_wipe(&s->hs);
  free(s);
}

/* Of two sessions with one validator, the one dialled by the smaller key. */
static int preferred(const mc_session *s) {
  const uint8_t *self = s->p->n->key.pk;
  int self_smaller = memcmp(self, s->pk, MC_PUBKEY_LEN) < 0;
  return mc_conn_is_outbound(s->conn) == self_smaller;
}

/* Makes s the session of its validator.  Returns nonzero if s must close
 * (the other connection between the two nodes is the one kept). */
static int session_register(mc_session *s) {
  mc_peers *p = s->p;
  mc_session *old = p->by_validator[s->validator];
  if (old != NULL && session_live(old)) {
    if (!preferred(s))
      return 1;
    /* The validator stays connected: no on_peer(0) for the old one. */
    old->registered = 0;
    p->by_validator[s->validator] = NULL;
    mc_conn_close(old->conn, "duplicate connection");
  } else if (old != NULL) {
    session_unregister(old); /* closing: tell the engine it went */
  }
  p->by_validator[s->validator] = s;
  s->registered = 1;
  MC_LOG(MC_LOG_INFO, "peer_connected", MC_LOG_F_I("validator", s->validator),
         MC_LOG_F_S("peer", session_name(s)),
         MC_LOG_F_U("height", s->sync.claimed));
  mc_node *n = p->n;
  if (n->cvt->on_peer != NULL)
    n->cvt->on_peer(n->consensus, (uint32_t)s->validator, 1);
  gossip_pending_to(s);
  return 0;
}

int session_established(mc_session *s) {
  mc_peers *p = s->p;
  mc_node *n = p->n;
  uint32_t idx;
  s->authed = 1;
  s->authed_ms = peers_now(p);
  s->validator = mc_genesis_validator_index(&n->genesis, s->pk, &idx)
                     ? (int32_t)idx
                     : -1;
  if (s->dial != NULL) {
    s->dial->known = 1;
    memcpy(s->dial->pk, s->pk, MC_PUBKEY_LEN);
  }
  if (s->validator < 0) {
    if (banned_for(p, s->pk, NULL) || banned_for(p, NULL, mc_conn_ip(s->conn))) {
      MC_LOG(MC_LOG_INFO, "peer_refused", MC_LOG_F_S("peer", session_name(s)),
             MC_LOG_F_S("reason", "banned"));
      return 1;
    }
    mc_conn_set_class(s->conn, MC_CONN_OBSERVER);
    MC_LOG(MC_LOG_INFO, "observer_connected",
           MC_LOG_F_S("peer", session_name(s)),
           MC_LOG_F_HEX("key", s->pk, MC_PUBKEY_LEN));
  } else {
    mc_conn_set_class(s->conn, MC_CONN_VALIDATOR);
    if (session_register(s) != 0) {
      /* Not an offence: both nodes dialled at once, and this is the
       * connection both of them drop. */
      mc_conn_close(s->conn, "duplicate connection");
      return 0;
    }
  }
  sync_on_claim(p->sync, s);
  return 0;
}

/* ---- dialling ---- */

static void dial_now(mc_dial *d);

static void on_retry(uv_timer_t *t) { dial_now(t->data); }

static void schedule_redial(mc_dial *d, uint64_t delay) {
  if (d->p->stopping)
    return;
  uv_timer_start(&d->retry, on_retry, delay, 0);
}

/* The host part of a dial's "HOST:PORT", as bans name addresses. */
static void dial_host(const mc_dial *d, char *host, size_t len) {
  uint16_t port;
  if (mc_parse_hostport(d->addr, host, len, &port, 0) != 0)
    host[0] = '\0';
}

/* The next redial delay: doubling up to MAX; a ban on the peer's key or
 * address is waited out first (a redial before it ends would only be
 * refused again). */
static uint64_t next_backoff(mc_dial *d) {
  uint64_t delay = d->backoff_ms;
  d->backoff_ms *= 2;
  if (d->backoff_ms > MC_PEER_BACKOFF_MAX_MS)
    d->backoff_ms = MC_PEER_BACKOFF_MAX_MS;
  char host[256];
  dial_host(d, host, sizeof host);
  uint64_t key = d->known ? banned_for(d->p, d->pk, NULL) : 0;
  uint64_t ip = host[0] ? banned_for(d->p, NULL, host) : 0;
  uint64_t banned = key > ip ? key : ip;
  return banned > delay ? banned : delay;
}

/* A validator already reached over its own inbound connection needs no
 * second connection; check again later in case that one drops. */
static int already_connected(const mc_dial *d) {
  if (!d->known)
    return 0;
  for (const mc_session *s = d->p->sessions; s; s = s->next)
    if (session_live(s) && memcmp(s->pk, d->pk, MC_PUBKEY_LEN) == 0)
      return 1;
  return 0;
}

static void on_dialled(void *ctx, mc_conn *c) {
  (void)ctx;
  mc_session *s = mc_conn_data(c);
  if (s != NULL)
    handshake_begin(s);
}

static void dial_now(mc_dial *d) {
  mc_peers *p = d->p;
  if (p->stopping || d->conn != NULL)
    return;
  if (already_connected(d)) {
    schedule_redial(d, MC_PEER_BACKOFF_MAX_MS);
    return;
  }
  mc_conn *c;
  if (mc_conn_connect(p->n->listener, d->addr, on_dialled, NULL, &c) != 0) {
    schedule_redial(d, next_backoff(d));
    return;
  }
  if (session_new(p, c, d) == NULL) {
    mc_conn_close(c, "out of memory");
    return;
  }
  d->conn = c;
}

/* The dial's session ended: redial after the backoff, which starts over
 * only if that session lived long enough without fault. */
static void dial_session_ended(mc_dial *d, const mc_session *s) {
  mc_peers *p = d->p;
  d->conn = NULL;
  if (s->authed && !s->misbehaved &&
      peers_now(p) - s->authed_ms >= MC_PEER_HEALTHY_MS)
    d->backoff_ms = MC_PEER_BACKOFF_MIN_MS;
  schedule_redial(d, next_backoff(d));
}

void mc_peers_on_closed(mc_peers *p, mc_conn *c) {
  mc_session *s = mc_conn_data(c);
  if (s == NULL)
    return;
  mc_dial *d = s->dial;
  mc_conn_set_data(c, NULL);
  if (d != NULL)
    dial_session_ended(d, s);
  session_free(s);
  (void)p;
}

void session_punish(mc_session *s, const char *reason, uint64_t rest_ms) {
  mc_peers *p = s->p;
  s->misbehaved = 1;
  if (s->validator >= 0) {
    s->sync.resting_until = peers_now(p) + rest_ms;
    MC_LOG(MC_LOG_WARN, "peer_misbehaved", MC_LOG_F_S("peer", session_name(s)),
           MC_LOG_F_I("validator", s->validator), MC_LOG_F_S("reason", reason),
           MC_LOG_F_U("rest_ms", rest_ms));
    if (s->dial != NULL && s->dial->backoff_ms < rest_ms)
      s->dial->backoff_ms = rest_ms;
    return;
  }
  uint64_t key_ms = ban(p, s->pk, NULL);
  uint64_t ip_ms = ban(p, NULL, mc_conn_ip(s->conn));
  MC_LOG(MC_LOG_WARN, "peer_banned", MC_LOG_F_S("peer", session_name(s)),
         MC_LOG_F_HEX("key", s->pk, MC_PUBKEY_LEN),
         MC_LOG_F_S("reason", reason), MC_LOG_F_U("ban_ms", key_ms),
         MC_LOG_F_U("address_ban_ms", ip_ms));
  mc_conn_close(s->conn, reason);
}

/* ---- messages ---- */

static int on_established_msg(mc_session *s, const mc_msg *m) {
  mc_peers *p = s->p;
  switch (m->type) {
  case MC_MSG_HEARTBEAT:
    return gossip_on_heartbeat(s, m);
  case MC_MSG_TX:
    return gossip_on_tx(s, &m->u.tx);
  case MC_MSG_CONSENSUS:
    return gossip_on_consensus(s, m);
  case MC_MSG_GET_HEADERS:
    return serve_get_headers(s, m);
  case MC_MSG_GET_BLOCKS:
    return serve_get_blocks(s, m);
  case MC_MSG_HEADERS:
    return sync_on_headers(p->sync, s, (mc_msg *)m);
  case MC_MSG_BLOCKS:
    return sync_on_blocks(p->sync, s, (mc_msg *)m);
  default:
    return 1; /* a second HELLO, a stray WELCOME or AUTH */
  }
}

int mc_peers_on_msg(mc_peers *p, mc_conn *c, const mc_msg *m) {
  mc_session *s = mc_conn_data(c);
  if (p->stopping)
    return 1;
  if (s == NULL) {
    /* HELLO opens a peer link, and only as a connection's first frame */
    if (m->type != MC_MSG_HELLO || mc_conn_get_class(c) != MC_CONN_NEW)
      return 1;
    if ((s = session_new(p, c, NULL)) == NULL)
      return 1;
  }
  if (!s->authed)
    return handshake_on_msg(s, m);
  return on_established_msg(s, m);
}

/* ---- heartbeats ---- */

static void on_heartbeat(uv_timer_t *t) { gossip_heartbeat(t->data); }

/* ---- public ---- */

int mc_peers_start(mc_node *n, mc_peers **out) {
  mc_peers *p = calloc(1, sizeof *p);
  if (p == NULL)
    return MC_ENOMEM;
  p->n = n;
  p->nvalidators = (uint32_t)n->genesis.validator_count;
  p->by_validator = calloc(p->nvalidators ? p->nvalidators : 1,
                           sizeof *p->by_validator);
  p->dials = calloc(n->cfg->npeers ? n->cfg->npeers : 1, sizeof *p->dials);
  if (p->by_validator == NULL || p->dials == NULL ||
      (p->sync = sync_new(p)) == NULL) {
    free(p->by_validator);
    free(p->dials);
    free(p);
    return MC_ENOMEM;
  }
  uv_timer_init(&n->loop, &p->heartbeat);
  p->heartbeat.data = p;
  p->open_handles = 1;
  uv_timer_start(&p->heartbeat, on_heartbeat, MC_PEER_HEARTBEAT_MS,
                 MC_PEER_HEARTBEAT_MS);
  p->ndials = n->cfg->npeers;
  for (size_t i = 0; i < p->ndials; i++) {
    mc_dial *d = &p->dials[i];
    d->p = p;
    d->addr = n->cfg->peers[i];
    d->backoff_ms = MC_PEER_BACKOFF_MIN_MS;
    uv_timer_init(&n->loop, &d->retry);
    d->retry.data = d;
    p->open_handles++;
    dial_now(d);
  }
  *out = p;
  return 0;
}

static void handle_closed(mc_peers *p) {
  if (--p->open_handles == 0) {
    free(p->by_validator);
    free(p->dials);
    free(p);
  }
}

static void on_heartbeat_closed(uv_handle_t *h) { handle_closed(h->data); }

static void on_retry_closed(uv_handle_t *h) {
  handle_closed(((mc_dial *)h->data)->p);
}

void mc_peers_stop(mc_peers *p) {
  if (p == NULL || p->stopping)
    return;
  p->stopping = 1;
  /* The listener closes the connections after this; their sessions go
   * now, while p still exists, and their close callbacks find none. */
  while (p->sessions != NULL) {
    mc_session *s = p->sessions;
    mc_conn_set_data(s->conn, NULL);
    session_free(s);
  }
  p->open_handles++; /* the sync timer */
  sync_stop(p->sync, handle_closed);
  p->sync = NULL;
  uv_close((uv_handle_t *)&p->heartbeat, on_heartbeat_closed);
  for (size_t i = 0; i < p->ndials; i++)
    uv_close((uv_handle_t *)&p->dials[i].retry, on_retry_closed);
}

void mc_peers_on_commit(mc_peers *p, const mc_block *b) {
  if (p->sync != NULL)
    sync_on_commit(p->sync, b);
}

uint32_t mc_peers_validators_connected(const mc_peers *p) {
  uint32_t k = 0;
  for (uint32_t v = 0; v < p->nvalidators; v++)
    k += p->by_validator[v] != NULL && session_live(p->by_validator[v]);
  return k;
}
