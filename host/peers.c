/*
 * peers.c - peer sessions: handshake, heartbeats, gossip, consensus
 * routing and catch-up (see peers.h).
 *
 * A session lives as long as its connection and hangs off it as the
 * connection's data.  At most one authenticated session per validator is
 * kept: when two nodes dial each other at once, both keep the connection
 * dialled by the node with the smaller key, so both drop the same one.
 */
#include "peers.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "chain/codec.h"
#include "log.h"
#include "minichain/error.h"
#include "node.h"

typedef struct mc_session mc_session;

/* One configured --peer: its address and the connection dialled to it. */
typedef struct dial {
  mc_peers *p;
  char *addr;
  mc_conn *conn;     /* NULL while waiting to redial */
  uv_timer_t retry;
  uint64_t backoff_ms;
  int known;         /* pk below is set (a handshake completed once) */
  uint8_t pk[MC_PUBKEY_LEN];
} dial;

struct mc_session {
  mc_peers *p;
  mc_conn *conn;
  dial *dial; /* NULL for inbound */
  mc_session *prev, *next;
  uint8_t challenge[MC_HASH_LEN]; /* the one we sent */
  int hello_sent, hello_received, authed;
  uint8_t pk[MC_PUBKEY_LEN];
  int32_t validator; /* -1: observer */
  uint64_t height;
  uint8_t head[MC_HASH_LEN];
  uint64_t opened_ms, heard_ms;
};

struct mc_peers {
  mc_node *n;
  dial *dials;
  size_t ndials;
  mc_session *sessions;
  mc_session **by_validator; /* [validator count] */
  uint32_t nvalidators;
  uv_timer_t heartbeat;
  int open_handles; /* timers not yet closed */
  int stopping;
  uint64_t sync_rid;        /* 0: no request in flight */
  uint64_t sync_deadline_ms;
  uint64_t next_rid;
};

static uint64_t now(const mc_peers *p) { return uv_now(&p->n->loop); }

/* ---- sending ---- */

static int send_msg(mc_session *s, const mc_msg *m) {
  uint8_t *frame;
  size_t len;
  int rc = mc_msg_encode_frame(m, &frame, &len);
  if (rc != 0)
    return rc;
  return mc_conn_send(s->conn, frame, len);
}

static void send_hello(mc_session *s) {
  mc_node *n = s->p->n;
  mc_msg m = {.type = MC_MSG_HELLO};
  randombytes_buf(s->challenge, sizeof s->challenge);
  m.u.hello.version = MC_PEER_PROTOCOL_VERSION;
  memcpy(m.u.hello.genesis_hash, n->genesis.hash, MC_HASH_LEN);
  memcpy(m.u.hello.pk, n->key.pk, MC_PUBKEY_LEN);
  memcpy(m.u.hello.challenge, s->challenge, MC_HASH_LEN);
  m.u.hello.height = mc_chain_height(n->chain);
  memcpy(m.u.hello.head_hash, mc_chain_head_hash(n->chain), MC_HASH_LEN);
  s->hello_sent = 1;
  send_msg(s, &m);
}

/* The bytes a node signs to prove its key to the holder of `challenge`. */
static size_t auth_bytes(const mc_node *n, const uint8_t challenge[MC_HASH_LEN],
                         const uint8_t signer[MC_PUBKEY_LEN],
                         msgpack_sbuffer *sb) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 4);
  msgpack_pack_str_with_body(&pk, "mc-auth-v1", 10);
  msgpack_pack_bin_with_body(&pk, n->genesis.hash, MC_HASH_LEN);
  msgpack_pack_bin_with_body(&pk, challenge, MC_HASH_LEN);
  msgpack_pack_bin_with_body(&pk, signer, MC_PUBKEY_LEN);
  return sb->size;
}

static void send_auth(mc_session *s, const uint8_t their_challenge[MC_HASH_LEN]) {
  mc_node *n = s->p->n;
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  auth_bytes(n, their_challenge, n->key.pk, &sb);
  mc_msg m = {.type = MC_MSG_AUTH};
  mc_sign(n->key.sk, (const uint8_t *)sb.data, sb.size, m.u.auth.sig);
  msgpack_sbuffer_destroy(&sb);
  send_msg(s, &m);
}

/* ---- sessions ---- */

static mc_session *session_new(mc_peers *p, mc_conn *c, dial *d) {
  mc_session *s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  s->p = p;
  s->conn = c;
  s->dial = d;
  s->validator = -1;
  s->opened_ms = s->heard_ms = now(p);
  s->next = p->sessions;
  if (p->sessions)
    p->sessions->prev = s;
  p->sessions = s;
  mc_conn_set_data(c, s);
  return s;
}

static void session_unregister(mc_session *s) {
  mc_peers *p = s->p;
  if (s->validator < 0 || p->by_validator[s->validator] != s)
    return;
  p->by_validator[s->validator] = NULL;
  MC_LOG(MC_LOG_INFO, "peer_disconnected", MC_LOG_F_I("validator", s->validator),
         MC_LOG_F_S("peer", mc_conn_peer_name(s->conn)));
  mc_node *n = p->n;
  if (!n->stopping && n->cvt->on_peer != NULL)
    n->cvt->on_peer(n->consensus, (uint32_t)s->validator, 0);
}

static void session_free(mc_session *s) {
  mc_peers *p = s->p;
  session_unregister(s);
  if (s->prev)
    s->prev->next = s->next;
  else
    p->sessions = s->next;
  if (s->next)
    s->next->prev = s->prev;
  free(s);
}

/* Of two sessions with one validator, the one dialled by the smaller key. */
static int preferred(const mc_session *s) {
  const uint8_t *self = s->p->n->key.pk;
  int self_smaller = memcmp(self, s->pk, MC_PUBKEY_LEN) < 0;
  return mc_conn_is_outbound(s->conn) == self_smaller;
}

/* Makes s the session of its validator.  Returns nonzero if s must close. */
static int session_register(mc_session *s) {
  mc_peers *p = s->p;
  if (s->validator < 0)
    return 0;
  mc_session *old = p->by_validator[s->validator];
  if (old != NULL) {
    if (!preferred(s))
      return 1;
    old->validator = -1; /* no on_peer(0): the validator stays connected */
    mc_conn_close(old->conn, "duplicate connection");
  }
  p->by_validator[s->validator] = s;
  MC_LOG(MC_LOG_INFO, "peer_connected", MC_LOG_F_I("validator", s->validator),
         MC_LOG_F_S("peer", mc_conn_peer_name(s->conn)),
         MC_LOG_F_U("height", s->height));
  mc_node *n = p->n;
  if (old == NULL && n->cvt->on_peer != NULL)
    n->cvt->on_peer(n->consensus, (uint32_t)s->validator, 1);
  return 0;
}

/* ---- sync ---- */

static void maybe_sync(mc_peers *p, mc_session *from) {
  mc_node *n = p->n;
  uint64_t height = mc_chain_height(n->chain);
  if (!from->authed || from->height <= height)
    return;
  if (p->sync_rid != 0 && now(p) < p->sync_deadline_ms)
    return;
  mc_msg m = {.type = MC_MSG_GET_BLOCKS, .rid = ++p->next_rid};
  m.u.get_blocks.from = height + 1;
  uint64_t want = from->height - height;
  m.u.get_blocks.count =
      (uint32_t)(want < MC_PEER_MAX_BLOCKS ? want : MC_PEER_MAX_BLOCKS);
  if (send_msg(from, &m) == 0) {
    p->sync_rid = m.rid;
    p->sync_deadline_ms = now(p) + MC_PEER_SYNC_TIMEOUT_MS;
  }
}

/* Encodes BLOCKS with as many of the blocks as fit in one frame. */
static int encode_blocks_frame(const mc_node *n, uint64_t rid,
                               mc_block **blocks, size_t nb, uint8_t **frame,
                               size_t *len) {
  for (;;) {
    mc_msg m = {.type = MC_MSG_BLOCKS, .rid = rid};
    m.u.blocks.blocks = blocks;
    m.u.blocks.n = nb;
    int rc = mc_msg_encode_frame(&m, frame, len);
    if (rc != 0 || *len <= n->cfg->max_frame || nb <= 1)
      return rc;
    free(*frame);
    nb /= 2;
  }
}

static int serve_blocks(mc_session *s, const mc_msg *req) {
  mc_node *n = s->p->n;
  mc_block *blocks[MC_PEER_MAX_BLOCKS];
  size_t nb = 0;
  uint64_t h = req->u.get_blocks.from;
  while (nb < req->u.get_blocks.count && h <= mc_chain_height(n->chain)) {
    if (mc_chain_get_block(n->chain, h, &blocks[nb]) != 0)
      break;
    nb++;
    h++;
  }
  uint8_t *frame;
  size_t len;
  int rc = encode_blocks_frame(n, req->rid, blocks, nb, &frame, &len);
  for (size_t i = 0; i < nb; i++)
    mc_block_free(blocks[i]);
  if (rc == 0)
    mc_conn_send(s->conn, frame, len);
  return rc == MC_ENOMEM ? rc : 0;
}

/* Applies blocks a peer sent.  Each must be final by its certificate. */
static int apply_blocks(mc_session *s, const mc_msg *m) {
  mc_peers *p = s->p;
  mc_node *n = p->n;
  if (m->rid == p->sync_rid)
    p->sync_rid = 0;
  size_t applied = 0;
  for (size_t i = 0; i < m->u.blocks.n; i++) {
    const mc_block *b = m->u.blocks.blocks[i];
    if (b->header.height <= mc_chain_height(n->chain))
      continue; /* committed meanwhile by consensus */
    int rc = n->cvt->verify_certificate(n->consensus, b, b->cert, b->cert_len);
    if (rc == 0)
      rc = mc_node_commit(n, b, b->cert, b->cert_len);
    if (rc != 0) {
      MC_LOG(MC_LOG_WARN, "sync_block_refused",
             MC_LOG_F_U("height", b->header.height),
             MC_LOG_F_S("peer", mc_conn_peer_name(s->conn)),
             MC_LOG_F_S("reason", mc_err_name(rc)));
      return 1;
    }
    applied++;
  }
  if (applied > 0)
    MC_LOG(MC_LOG_INFO, "synced", MC_LOG_F_U("blocks", applied),
           MC_LOG_F_U("height", mc_chain_height(n->chain)),
           MC_LOG_F_S("peer", mc_conn_peer_name(s->conn)));
  maybe_sync(p, s);
  return 0;
}

/* ---- handshake ---- */

static int on_hello(mc_session *s, const mc_msg *m) {
  mc_node *n = s->p->n;
  if (s->hello_received)
    return 1;
  if (m->u.hello.version != MC_PEER_PROTOCOL_VERSION) {
    MC_LOG(MC_LOG_WARN, "peer_refused", MC_LOG_F_S("peer", mc_conn_peer_name(s->conn)),
           MC_LOG_F_S("reason", "protocol version"),
           MC_LOG_F_U("version", m->u.hello.version));
    return 1;
  }
  if (memcmp(m->u.hello.genesis_hash, n->genesis.hash, MC_HASH_LEN) != 0) {
    MC_LOG(MC_LOG_WARN, "peer_refused", MC_LOG_F_S("peer", mc_conn_peer_name(s->conn)),
           MC_LOG_F_S("reason", "another genesis"),
           MC_LOG_F_HEX("genesis_hash", m->u.hello.genesis_hash, MC_HASH_LEN));
    return 1;
  }
  if (memcmp(m->u.hello.pk, n->key.pk, MC_PUBKEY_LEN) == 0) {
    MC_LOG(MC_LOG_WARN, "peer_refused", MC_LOG_F_S("peer", mc_conn_peer_name(s->conn)),
           MC_LOG_F_S("reason", "connected to itself"));
    return 1;
  }
  s->hello_received = 1;
  memcpy(s->pk, m->u.hello.pk, MC_PUBKEY_LEN);
  s->height = m->u.hello.height;
  memcpy(s->head, m->u.hello.head_hash, MC_HASH_LEN);
  if (!s->hello_sent)
    send_hello(s);
  send_auth(s, m->u.hello.challenge);
  return 0;
}

static int on_auth(mc_session *s, const mc_msg *m) {
  mc_peers *p = s->p;
  mc_node *n = p->n;
  if (!s->hello_received || s->authed)
    return 1;
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  auth_bytes(n, s->challenge, s->pk, &sb);
  int rc = mc_verify(s->pk, (const uint8_t *)sb.data, sb.size, m->u.auth.sig);
  msgpack_sbuffer_destroy(&sb);
  if (rc != 0) {
    MC_LOG(MC_LOG_WARN, "peer_refused", MC_LOG_F_S("peer", mc_conn_peer_name(s->conn)),
           MC_LOG_F_S("reason", "bad handshake signature"));
    return 1;
  }
  s->authed = 1;
  uint32_t idx;
  s->validator = mc_genesis_validator_index(&n->genesis, s->pk, &idx)
                     ? (int32_t)idx
                     : -1;
  if (s->dial != NULL) {
    s->dial->known = 1;
    memcpy(s->dial->pk, s->pk, MC_PUBKEY_LEN);
    s->dial->backoff_ms = MC_PEER_BACKOFF_MIN_MS;
  }
  if (s->validator < 0)
    MC_LOG(MC_LOG_INFO, "observer_connected",
           MC_LOG_F_S("peer", mc_conn_peer_name(s->conn)),
           MC_LOG_F_HEX("key", s->pk, MC_PUBKEY_LEN));
  if (session_register(s) != 0) {
    /* Not an offence: both nodes dialled at once, and this is the
     * connection both of them drop. */
    mc_conn_close(s->conn, "duplicate connection");
    return 0;
  }
  maybe_sync(p, s);
  return 0;
}

/* ---- messages ---- */

static int on_tx(mc_session *s, const mc_tx *tx) {
  mc_node *n = s->p->n;
  if (mc_mempool_contains(n->mempool, tx->id))
    return 0;
  int rc = mc_mempool_add(n->mempool, tx);
  if (rc == 0) {
    n->stats.txs_admitted++;
    mc_peers_gossip_tx(s->p, tx, s->conn);
  }
  return 0; /* a peer may know a state we have not reached: not an offence */
}

static int on_consensus(mc_session *s, const mc_msg *m) {
  mc_node *n = s->p->n;
  if (s->validator < 0 || s->p->by_validator[s->validator] != s)
    return 0; /* observers do not vote */
  int rc = n->cvt->on_message(n->consensus, (uint32_t)s->validator,
                              m->u.consensus.payload, m->u.consensus.len);
  if (rc != 0)
    MC_LOG(MC_LOG_DEBUG, "consensus_msg_refused",
           MC_LOG_F_I("validator", s->validator),
           MC_LOG_F_S("reason", mc_err_name(rc)));
  return 0;
}

int mc_peers_on_msg(mc_peers *p, mc_conn *c, const mc_msg *m) {
  mc_session *s = mc_conn_data(c);
  if (s == NULL) {
    if (m->type != MC_MSG_HELLO)
      return 1;
    if ((s = session_new(p, c, NULL)) == NULL)
      return 1;
  }
  s->heard_ms = now(p);
  if (m->type == MC_MSG_HELLO)
    return on_hello(s, m);
  if (m->type == MC_MSG_AUTH)
    return on_auth(s, m);
  if (!s->authed)
    return 1;
  switch (m->type) {
  case MC_MSG_HEARTBEAT:
    s->height = m->u.heartbeat.height;
    memcpy(s->head, m->u.heartbeat.head_hash, MC_HASH_LEN);
    maybe_sync(p, s);
    return 0;
  case MC_MSG_TX:
    return on_tx(s, &m->u.tx);
  case MC_MSG_GET_BLOCKS:
    return serve_blocks(s, m);
  case MC_MSG_BLOCKS:
    return apply_blocks(s, m);
  case MC_MSG_CONSENSUS:
    return on_consensus(s, m);
  default:
    return 1;
  }
}

/* ---- dialling ---- */

static void dial_now(dial *d);

static void on_retry(uv_timer_t *t) { dial_now(t->data); }

static void schedule_redial(dial *d) {
  if (d->p->stopping)
    return;
  uv_timer_start(&d->retry, on_retry, d->backoff_ms, 0);
  d->backoff_ms *= 2;
  if (d->backoff_ms > MC_PEER_BACKOFF_MAX_MS)
    d->backoff_ms = MC_PEER_BACKOFF_MAX_MS;
}

/* A validator already reached over its own inbound connection needs no
 * second connection; check again later in case that one drops. */
static int already_connected(const dial *d) {
  if (!d->known)
    return 0;
  for (const mc_session *s = d->p->sessions; s; s = s->next)
    if (s->authed && memcmp(s->pk, d->pk, MC_PUBKEY_LEN) == 0)
      return 1;
  return 0;
}

static void on_dialled(void *ctx, mc_conn *c) {
  (void)ctx;
  mc_session *s = mc_conn_data(c);
  send_hello(s);
}

static void dial_now(dial *d) {
  mc_peers *p = d->p;
  if (p->stopping || d->conn != NULL)
    return;
  if (already_connected(d)) {
    uv_timer_start(&d->retry, on_retry, MC_PEER_BACKOFF_MAX_MS, 0);
    return;
  }
  mc_conn *c;
  if (mc_conn_connect(p->n->listener, d->addr, on_dialled, NULL, &c) != 0) {
    schedule_redial(d);
    return;
  }
  mc_session *s = session_new(p, c, d);
  if (s == NULL) {
    mc_conn_close(c, "out of memory");
    return;
  }
  d->conn = c;
}

void mc_peers_on_closed(mc_peers *p, mc_conn *c) {
  mc_session *s = mc_conn_data(c);
  if (s == NULL)
    return;
  dial *d = s->dial;
  session_free(s);
  mc_conn_set_data(c, NULL);
  if (d != NULL) {
    d->conn = NULL;
    schedule_redial(d);
  }
  (void)p;
}

/* ---- heartbeats ---- */

static void on_heartbeat(uv_timer_t *t) {
  mc_peers *p = t->data;
  mc_node *n = p->n;
  mc_msg m = {.type = MC_MSG_HEARTBEAT};
  m.u.heartbeat.height = mc_chain_height(n->chain);
  memcpy(m.u.heartbeat.head_hash, mc_chain_head_hash(n->chain), MC_HASH_LEN);
  uint64_t t_now = now(p);
  mc_session *next;
  for (mc_session *s = p->sessions; s != NULL; s = next) {
    next = s->next; /* closing s frees it */
    if (t_now - s->heard_ms > MC_PEER_SILENCE_MS)
      mc_conn_close(s->conn, "peer silent");
    else if (s->authed)
      send_msg(s, &m);
  }
}

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
  if (p->by_validator == NULL || p->dials == NULL) {
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
    dial *d = &p->dials[i];
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
  handle_closed(((dial *)h->data)->p);
}

void mc_peers_stop(mc_peers *p) {
  if (p == NULL || p->stopping)
    return;
  p->stopping = 1;
  /* The listener closes the connections after this; their sessions go
   * now, while p still exists. */
  while (p->sessions != NULL) {
    mc_session *s = p->sessions;
    mc_conn_set_data(s->conn, NULL);
    session_free(s);
  }
  uv_close((uv_handle_t *)&p->heartbeat, on_heartbeat_closed);
  for (size_t i = 0; i < p->ndials; i++)
    uv_close((uv_handle_t *)&p->dials[i].retry, on_retry_closed);
}

int mc_peers_send(mc_peers *p, uint32_t validator, const uint8_t *msg,
                  size_t len) {
  if (validator >= p->nvalidators)
    return MC_EINVAL;
  mc_session *s = p->by_validator[validator];
  if (s == NULL)
    return MC_ENOTCONN;
  mc_msg m = {.type = MC_MSG_CONSENSUS};
  m.u.consensus.payload = msg;
  m.u.consensus.len = len;
  return send_msg(s, &m);
}

int mc_peers_broadcast(mc_peers *p, const uint8_t *msg, size_t len) {
  for (uint32_t v = 0; v < p->nvalidators; v++)
    if (p->by_validator[v] != NULL)
      mc_peers_send(p, v, msg, len);
  return 0;
}

void mc_peers_gossip_tx(mc_peers *p, const mc_tx *tx, mc_conn *except) {
  mc_msg m = {.type = MC_MSG_TX};
  m.u.tx = *tx;
  for (mc_session *s = p->sessions; s != NULL; s = s->next)
    if (s->authed && s->conn != except)
      send_msg(s, &m);
}

uint32_t mc_peers_validators_connected(const mc_peers *p) {
  uint32_t k = 0;
  for (uint32_t v = 0; v < p->nvalidators; v++)
    k += p->by_validator[v] != NULL;
  return k;
}

uint64_t mc_peers_best_height(const mc_peers *p) {
  uint64_t best = 0;
  for (const mc_session *s = p->sessions; s != NULL; s = s->next)
    if (s->authed && s->height > best)
      best = s->height;
  return best;
}
