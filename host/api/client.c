/*
 * client.c - answers the framed protocol's client requests (net/proto.h).
 *
 * Each request gets exactly one answer with the same request id.  A frame
 * that does not decode, or a message a client may not send, is answered
 * with ERROR and the connection is closed after it is flushed: a client
 * speaking another protocol learns why instead of seeing a silent close.
 */
#include <stdlib.h>
#include <string.h>

#include "chain/codec.h"
#include "admit.h"
#include "log.h"
#include "minichain/error.h"
#include "net/proto.h"
#include "node.h"

static int reply(mc_conn *c, const mc_msg *m) {
  uint8_t *frame;
  size_t len;
  int rc = mc_msg_encode_frame(m, &frame, &len);
  if (rc != 0)
    return rc;
  return mc_conn_send(c, frame, len);
}

static void reply_error(mc_node *n, mc_conn *c, uint64_t rid, int code,
                        const char *why) {
  mc_msg m = {.type = MC_MSG_ERROR, .rid = rid};
  m.u.error.code = code;
  snprintf(m.u.error.message, sizeof m.u.error.message, "%s", why);
  n->stats.frames_bad++;
  MC_LOG(MC_LOG_WARN, "frame_refused", MC_LOG_F_S("peer", mc_conn_peer_name(c)),
         MC_LOG_F_S("reason", why));
  reply(c, &m);
  mc_conn_close_after_flush(c, why);
}

static int on_submit(mc_node *n, mc_conn *c, const mc_msg *req) {
  mc_admit_tx(n->admit, c, req->rid, &req->u.tx, 1); /* answers later */
  return 0;
}

static void fill_status(mc_node *n, mc_status_info *s) {
  const mc_block_header *head = mc_chain_head(n->chain);
  snprintf(s->version, sizeof s->version, "%s", MC_VERSION);
  snprintf(s->node, sizeof s->node, "%s",
           n->cfg->name ? n->cfg->name : n->cfg->listen);
  snprintf(s->chain_id, sizeof s->chain_id, "%s", n->genesis.chain_id);
  memcpy(s->genesis_hash, n->genesis.hash, MC_HASH_LEN);
  s->height = head->height;
  memcpy(s->head_hash, mc_chain_head_hash(n->chain), MC_HASH_LEN);
  s->head_time_ms = head->timestamp_ms;
  s->validators = n->genesis.validator_count;
  s->self_index = n->self_index;
  s->mempool_ready = mc_mempool_ready_count(n->mempool);
  s->mempool_queued = mc_mempool_queued_count(n->mempool);
  s->peers = n->peers ? mc_peers_validators_connected(n->peers) : 0;
  mc_consensus_status cs = {.height = head->height + 1, .leader = -1};
  if (n->cvt->status != NULL)
    n->cvt->status(n->consensus, &cs);
  s->view = cs.view;
  s->leader = cs.leader;
  snprintf(s->consensus, sizeof s->consensus, "%s",
           n->consensus_plugin.desc->name);
  snprintf(s->store, sizeof s->store, "%s", n->store_plugin.desc->name);
}

static int on_status(mc_node *n, mc_conn *c, const mc_msg *req) {
  mc_msg m = {.type = MC_MSG_STATUS, .rid = req->rid};
  fill_status(n, &m.u.status);
  return reply(c, &m);
}

static int on_account(mc_node *n, mc_conn *c, const mc_msg *req) {
  mc_msg m = {.type = MC_MSG_ACCOUNT, .rid = req->rid};
  const uint8_t *pk = req->u.get_account.pubkey;
  int rc = mc_chain_account(n->chain, pk, &m.u.account.account);
  if (rc == 0)
    rc = mc_mempool_next_nonce(n->mempool, pk, &m.u.account.next_nonce);
  if (rc != 0)
    return rc;
  memcpy(m.u.account.account.pubkey, pk, MC_PUBKEY_LEN);
  return reply(c, &m);
}

static int on_block(mc_node *n, mc_conn *c, const mc_msg *req) {
  mc_msg m = {.type = MC_MSG_BLOCK, .rid = req->rid};
  mc_block *b = NULL;
  int rc = req->u.get_block.by_hash
               ? mc_chain_get_block_by_hash(n->chain, req->u.get_block.hash, &b)
               : mc_chain_get_block(n->chain, req->u.get_block.height, &b);
  if (rc != 0 && rc != MC_ENOTFOUND)
    return rc;
  m.u.block.block = b;
  rc = reply(c, &m);
  mc_block_free(b);
  return rc;
}

/* Fills a TX_STATUS answer: pool first, then the chain, then rejections. */
static int tx_status(mc_node *n, const uint8_t *id, mc_msg *m) {
  const mc_tx *tx;
  int ready;
  if (mc_mempool_find(n->mempool, id, &tx, &ready)) {
    m->u.tx_status.state = ready ? MC_TX_PENDING : MC_TX_QUEUED;
    m->u.tx_status.has_tx = 1;
    m->u.tx_status.tx = *tx;
    return 0;
  }
  uint64_t height;
  uint32_t index;
  int rc = mc_chain_find_tx(n->chain, id, &height, &index);
  if (rc == 0) {
    mc_block *b = NULL;
    rc = mc_chain_get_block(n->chain, height, &b);
    if (rc != 0)
      return rc;
    m->u.tx_status.state = MC_TX_COMMITTED;
    m->u.tx_status.height = height;
    m->u.tx_status.index = index;
    m->u.tx_status.has_tx = index < b->header.tx_count;
    if (m->u.tx_status.has_tx)
      m->u.tx_status.tx = b->txs[index];
    mc_block_free(b);
    return 0;
  }
  if (rc != MC_ENOTFOUND)
    return rc;
  int reason;
  if (mc_mempool_rejection(n->mempool, id, &reason)) {
    m->u.tx_status.state = MC_TX_REJECTED;
    m->u.tx_status.code = reason;
  } else {
    m->u.tx_status.state = MC_TX_UNKNOWN;
  }
  return 0;
}

static int on_tx(mc_node *n, mc_conn *c, const mc_msg *req) {
  mc_msg m = {.type = MC_MSG_TX_STATUS, .rid = req->rid};
  int rc = tx_status(n, req->u.get_tx.txid, &m);
  return rc != 0 ? rc : reply(c, &m);
}

static int is_peer_msg(uint32_t type) {
  return type < MC_MSG_SUBMIT_TX || type == MC_MSG_CONSENSUS;
}

/* A connection's first client request makes it a client (net.h: its
 * idle deadline and rate follow); an address banned for lying to us may
 * not be one. */
static int become_client(mc_node *n, mc_conn *c) {
  if (mc_conn_get_class(c) != MC_CONN_NEW)
    return 0;
  if (n->peers != NULL && mc_peers_ip_banned(n->peers, mc_conn_ip(c))) {
    mc_conn_close(c, "address banned");
    return 1;
  }
  mc_conn_set_class(c, MC_CONN_CLIENT);
  return 0;
}

static int dispatch(mc_node *n, mc_conn *c, const mc_msg *req) {
  if (is_peer_msg(req->type)) {
    if (n->peers == NULL || mc_peers_on_msg(n->peers, c, req) != 0)
      reply_error(n, c, req->rid, MC_ESTATE, "peer message refused");
    return 0;
  }
  if (become_client(n, c) != 0)
    return MC_ENOTCONN;
  switch (req->type) {
  case MC_MSG_SUBMIT_TX:
    return on_submit(n, c, req);
  case MC_MSG_GET_STATUS:
    return on_status(n, c, req);
  case MC_MSG_GET_ACCOUNT:
    return on_account(n, c, req);
  case MC_MSG_GET_BLOCK:
    return on_block(n, c, req);
  case MC_MSG_GET_TX:
    return on_tx(n, c, req);
  default:
    reply_error(n, c, req->rid, MC_EINVAL, "message type not accepted here");
    return 0;
  }
}

int mc_client_on_frame(void *ctx, mc_conn *c, const uint8_t *payload,
                       size_t len) {
  mc_node *n = ctx;
  mc_msg req;
  int rc = mc_msg_decode(payload, len, &req);
  if (rc != 0) {
    reply_error(n, c, 0, rc, "malformed message");
    return 1; /* stop reading further frames from this connection */
  }
  rc = dispatch(n, c, &req);
  uint64_t rid = req.rid;
  mc_msg_clear(&req);
  if (rc != 0 && rc != MC_EFULL && rc != MC_ENOTCONN) {
    /* The request could not be served (a store error): say so and keep
     * the connection, which did nothing wrong. */
    MC_LOG(MC_LOG_ERROR, "request_failed",
           MC_LOG_F_S("peer", mc_conn_peer_name(c)),
           MC_LOG_F_S("reason", mc_strerror(rc)));
    mc_msg m = {.type = MC_MSG_ERROR, .rid = rid};
    m.u.error.code = rc;
    snprintf(m.u.error.message, sizeof m.u.error.message,
             "request failed: %s", mc_strerror(rc));
    reply(c, &m);
  }
  return 0;
}

void mc_client_on_closed(void *ctx, mc_conn *c) {
  mc_node *n = ctx;
  if (n->peers != NULL)
    mc_peers_on_closed(n->peers, c);
}
