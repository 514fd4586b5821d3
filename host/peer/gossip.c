/*
 * gossip.c - what flows between sessions unasked: admitted transactions,
 * the consensus engine's messages, and heartbeats carrying each node's
 * head (which sync uses as a hint and to notice forks).
 *
 * Every walk of the session list here may close a session by sending to
 * it (a full queue); the session stays in the list until its connection's
 * close callback, so the walk goes on safely and session_live() skips it.
 * Transactions are optional traffic: a congested session misses them
 * rather than filling its queue; consensus messages are not optional and
 * a validator that cannot take them is cut off by its queue limit.
 */
#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "chain/codec.h"
#include "log.h"
#include "minichain/error.h"
#include "node.h"
#include "peer/peer_internal.h"

/* ---- transactions ---- */

void mc_peers_gossip_tx(mc_peers *p, const mc_tx *tx, mc_conn *except) {
  mc_msg m = {.type = MC_MSG_TX};
  m.u.tx = *tx;
  uint8_t *frame;
  size_t len;
  if (mc_msg_encode_frame(&m, &frame, &len) != 0)
    return;
  for (mc_session *s = p->sessions; s != NULL; s = s->next)
    if (session_live(s) && s->conn != except && !mc_conn_congested(s->conn))
      session_send_frame(s, frame, len);
  free(frame);
}

/* Transfers sent to a validator that has just connected: its leader may
 * be the one that must include them, and what this node admitted while
 * they were apart reached it in no gossip (dropped on a congested or
 * broken connection, or admitted while it was away).  Bounded: a flapping
 * peer costs at most this many frames per connection. */
#define GOSSIP_RESEND_MAX 4096

void gossip_pending_to(mc_session *s) {
  mc_node *n = s->p->n;
  const mc_tx **txs = malloc(GOSSIP_RESEND_MAX * sizeof *txs);
  if (txs == NULL)
    return;
  size_t k = mc_mempool_ready(n->mempool, txs, GOSSIP_RESEND_MAX);
  size_t sent = 0;
  for (; sent < k && session_live(s) && !mc_conn_congested(s->conn); sent++) {
    mc_msg m = {.type = MC_MSG_TX};
    m.u.tx = *txs[sent];
    uint8_t *frame;
    size_t len;
    if (mc_msg_encode_frame(&m, &frame, &len) != 0)
      break;
    session_send_frame(s, frame, len);
    free(frame);
  }
  free(txs);
  if (sent > 0)
    MC_LOG(MC_LOG_DEBUG, "pending_resent", MC_LOG_F_I("validator", s->validator),
           MC_LOG_F_U("txs", sent), MC_LOG_F_U("pending", k));
}

int gossip_on_tx(mc_session *s, const mc_tx *tx) {
  mc_node *n = s->p->n;
  if (!mc_mempool_contains(n->mempool, tx->id))
    mc_admit_tx(n->admit, s->conn, 0, tx, 0); /* relayed once admitted */
  return 0; /* a peer may know a state we have not reached: not an offence */
}

/* ---- consensus ---- */

int gossip_on_consensus(mc_session *s, const mc_msg *m) {
  mc_node *n = s->p->n;
  if (!s->registered)
    return 0; /* observers do not vote */
  int rc = n->cvt->on_message(n->consensus, (uint32_t)s->validator,
                              m->u.consensus.payload, m->u.consensus.len);
  if (rc != 0)
    MC_LOG(MC_LOG_DEBUG, "consensus_msg_refused",
           MC_LOG_F_I("validator", s->validator),
           MC_LOG_F_S("reason", mc_err_name(rc)));
  return 0;
}

static int encode_consensus(const uint8_t *msg, size_t len, uint8_t **frame,
                            size_t *flen) {
  mc_msg m = {.type = MC_MSG_CONSENSUS};
  m.u.consensus.payload = msg;
  m.u.consensus.len = len;
  return mc_msg_encode_frame(&m, frame, flen);
}

int mc_peers_send(mc_peers *p, uint32_t validator, const uint8_t *msg,
                  size_t len) {
  if (validator >= p->nvalidators)
    return MC_EINVAL;
  mc_session *s = p->by_validator[validator];
  if (s == NULL || !session_live(s))
    return MC_ENOTCONN;
  uint8_t *frame;
  size_t flen;
  int rc = encode_consensus(msg, len, &frame, &flen);
  return rc != 0 ? rc : mc_conn_send(s->conn, frame, flen);
}

int mc_peers_broadcast(mc_peers *p, const uint8_t *msg, size_t len) {
  uint8_t *frame;
  size_t flen;
  int rc = encode_consensus(msg, len, &frame, &flen);
  if (rc != 0)
    return rc;
  for (uint32_t v = 0; v < p->nvalidators; v++) {
    mc_session *s = p->by_validator[v];
    if (s != NULL && session_live(s))
      session_send_frame(s, frame, flen);
  }
  free(frame);
  return 0;
}

/* ---- heartbeats ---- */

void gossip_heartbeat(mc_peers *p) {
  mc_node *n = p->n;
  mc_msg m = {.type = MC_MSG_HEARTBEAT};
  m.u.heartbeat.height = mc_chain_height(n->chain);
  memcpy(m.u.heartbeat.head_hash, mc_chain_head_hash(n->chain), MC_HASH_LEN);
  uint8_t *frame;
  size_t len;
  if (mc_msg_encode_frame(&m, &frame, &len) != 0)
    return;
  for (mc_session *s = p->sessions; s != NULL; s = s->next)
    if (session_live(s))
      session_send_frame(s, frame, len);
  free(frame);
}

int gossip_on_heartbeat(mc_session *s, const mc_msg *m) {
  s->sync.claimed = m->u.heartbeat.height;
  memcpy(s->sync.claimed_head, m->u.heartbeat.head_hash, MC_HASH_LEN);
  sync_check_head(s->p->sync, s, m->u.heartbeat.height,
                  m->u.heartbeat.head_hash);
  sync_on_claim(s->p->sync, s);
  return 0;
}
