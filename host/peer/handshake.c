/*
 * handshake.c - drives the three-message handshake of net/handshake.h on
 * a link: HELLO from the dialler, WELCOME from the listener, AUTH from the
 * dialler; then both sides switch the link to encrypted frames.
 *
 * Each message is accepted once and in order; anything else before the
 * handshake ends closes the link.  What the handshake proves is a node
 * key; what that key may do (vote, or only observe) is session.c's call.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "minichain/error.h"
#include "node.h"
#include "peer/peer_internal.h"

static void refused(const mc_session *s, const char *reason) {
  MC_LOG(MC_LOG_WARN, "peer_refused", MC_LOG_F_S("peer", session_name(s)),
         MC_LOG_F_S("reason", reason));
}

/* Our own head, as the handshake reports it. */
static mc_hs_peer self_info(const mc_node *n) {
  mc_hs_peer me;
  memcpy(me.pk, n->key.pk, MC_PUBKEY_LEN);
  me.height = mc_chain_height(n->chain);
  memcpy(me.head_hash, mc_chain_head_hash(n->chain), MC_HASH_LEN);
  return me;
}

/* Both sides: the key is proven; the link is encrypted from the next
 * frame on, and the session takes its place. */
static int established(mc_session *s, const mc_hs_peer *peer) {
  mc_node *n = s->p->n;
  if (memcmp(peer->pk, n->key.pk, MC_PUBKEY_LEN) == 0) {
    refused(s, "connected to itself (or another node runs this key)");
    return 1;
  }
  mc_channel ch;
  mc_hs_channel(&s->hs, &ch);
  int rc = mc_conn_set_channel(s->conn, &ch);
  mc_channel_wipe(&ch);
  mc_hs_wipe(&s->hs);
  if (rc != 0)
    return 1;
  memcpy(s->pk, peer->pk, MC_PUBKEY_LEN);
  s->sync.claimed = peer->height;
  memcpy(s->sync.claimed_head, peer->head_hash, MC_HASH_LEN);
  return session_established(s);
}

void handshake_begin(mc_session *s) {
  mc_node *n = s->p->n;
  mc_hs_begin(&s->hs, 1, n->genesis.hash);
  mc_msg m = {.type = MC_MSG_HELLO};
  m.u.hello.version = MC_PEER_PROTOCOL_VERSION;
  memcpy(m.u.hello.genesis_hash, n->genesis.hash, MC_HASH_LEN);
  memcpy(m.u.hello.ephemeral, s->hs.e_pk, MC_HASH_LEN);
  memcpy(m.u.hello.challenge, s->hs.nonce, MC_HASH_LEN);
  s->hello_done = 1;
  session_send(s, &m);
}

/* Responder: HELLO in, WELCOME out. */
static int on_hello(mc_session *s, const mc_msg *m) {
  mc_node *n = s->p->n;
  if (mc_conn_is_outbound(s->conn) || s->hello_done)
    return 1;
  s->hello_done = 1;
  if (m->u.hello.version != MC_PEER_PROTOCOL_VERSION) {
    MC_LOG(MC_LOG_WARN, "peer_refused", MC_LOG_F_S("peer", session_name(s)),
           MC_LOG_F_S("reason", "protocol version"),
           MC_LOG_F_U("version", m->u.hello.version),
           MC_LOG_F_U("ours", MC_PEER_PROTOCOL_VERSION));
    return 1;
  }
  if (memcmp(m->u.hello.genesis_hash, n->genesis.hash, MC_HASH_LEN) != 0) {
    MC_LOG(MC_LOG_WARN, "peer_refused", MC_LOG_F_S("peer", session_name(s)),
           MC_LOG_F_S("reason", "another genesis"),
           MC_LOG_F_HEX("genesis_hash", m->u.hello.genesis_hash, MC_HASH_LEN));
    return 1;
  }
  mc_hs_begin(&s->hs, 0, n->genesis.hash);
  mc_hs_peer me = self_info(n);
  mc_msg w = {.type = MC_MSG_WELCOME};
  uint8_t *sealed;
  size_t len;
  int rc = mc_hs_welcome(&s->hs, m->u.hello.ephemeral, m->u.hello.challenge,
                         &n->key, &me, &sealed, &len);
  if (rc != 0) {
    refused(s, "bad ephemeral key");
    return 1;
  }
  memcpy(w.u.welcome.ephemeral, s->hs.e_pk, MC_HASH_LEN);
  memcpy(w.u.welcome.challenge, s->hs.nonce, MC_HASH_LEN);
  w.u.welcome.sealed = sealed;
  w.u.welcome.sealed_len = len;
  session_send(s, &w);
  free(sealed);
  return 0;
}

/* Initiator: WELCOME in, AUTH out, then encrypted. */
static int on_welcome(mc_session *s, const mc_msg *m) {
  mc_node *n = s->p->n;
  if (!mc_conn_is_outbound(s->conn) || !s->hello_done || s->hs.step != 0)
    return 1;
  mc_hs_peer me = self_info(n), peer;
  uint8_t *sealed;
  size_t len;
  int rc = mc_hs_auth(&s->hs, m->u.welcome.ephemeral, m->u.welcome.challenge,
                      m->u.welcome.sealed, m->u.welcome.sealed_len, &n->key,
                      &me, &peer, &sealed, &len);
  if (rc != 0) {
    refused(s, "handshake did not verify");
    return 1;
  }
  mc_msg a = {.type = MC_MSG_AUTH};
  a.u.auth.sealed = sealed;
  a.u.auth.sealed_len = len;
  rc = session_send(s, &a); /* plain: the last frame before the switch */
  free(sealed);
  return rc != 0 ? 1 : established(s, &peer);
}

/* Responder: AUTH in, then encrypted. */
static int on_auth(mc_session *s, const mc_msg *m) {
  if (mc_conn_is_outbound(s->conn) || s->hs.step != 1)
    return 1;
  mc_hs_peer peer;
  if (mc_hs_finish(&s->hs, m->u.auth.sealed, m->u.auth.sealed_len, &peer) != 0) {
    refused(s, "handshake did not verify");
    return 1;
  }
  return established(s, &peer);
}

int handshake_on_msg(mc_session *s, const mc_msg *m) {
  switch (m->type) {
  case MC_MSG_HELLO:
    return on_hello(s, m);
  case MC_MSG_WELCOME:
    return on_welcome(s, m);
  case MC_MSG_AUTH:
    return on_auth(s, m);
  default:
    return 1;
  }
}
