/*
 * peers.h - the node's links to other nodes: the authenticated, encrypted
 * handshake, heartbeats, transaction gossip, routing of consensus
 * messages, catching up (sync), and what a misbehaving peer costs it.
 *
 * Every node listens on one address for clients and peers alike; a
 * connection becomes a peer link when its first frame is HELLO, and is a
 * session once the three-message handshake (net/handshake.h) proves the
 * other side's node key; from then on every frame is encrypted.  A session
 * speaks for a validator only if that key is in the genesis; any other key
 * makes an observer session, which may sync and gossip but whose
 * consensus messages are ignored.  Outbound links to the configured peers
 * are redialled with capped exponential backoff that misbehaviour extends.
 *
 * All of it runs on the node's loop thread.  The folder holds:
 *   session.c    sessions, dialling, bans, heartbeats; dispatch of messages
 *   handshake.c  HELLO / WELCOME / AUTH on a link
 *   gossip.c     transactions and consensus messages between sessions
 *   serve.c      answers to GET_HEADERS and GET_BLOCKS
 *   sync.c       header-first catch-up from several peers, with scoring
 */
#ifndef MC_PEER_PEERS_H
#define MC_PEER_PEERS_H

#include <stddef.h>
#include <stdint.h>

#include "minichain/types.h"
#include "net/net.h"
#include "net/proto.h"

typedef struct mc_node mc_node;
typedef struct mc_peers mc_peers;

/* Redial backoff: first retry after MIN, doubling up to MAX; a peer that
 * misbehaved waits out its ban instead. */
#define MC_PEER_BACKOFF_MIN_MS 200
#define MC_PEER_BACKOFF_MAX_MS 5000
/* A dialled session must stay this long without fault before its backoff
 * starts from MIN again. */
#define MC_PEER_HEALTHY_MS 30000
/* Heartbeat period, and the silence after which a session is dropped. */
#define MC_PEER_HEARTBEAT_MS 1000
#define MC_PEER_SILENCE_MS 10000
/* Bans of misbehaving observers: first BAN_MIN, doubling, up to BAN_MAX. */
#define MC_PEER_BAN_MIN_MS 10000
#define MC_PEER_BAN_MAX_MS 600000

/*
 * Creates the peer layer of node n (dials n->cfg->peers, starts the
 * heartbeat and sync).  The listener must be running.  Returns 0 or
 * MC_ENOMEM / MC_EINVAL (a peer address that does not parse).
 */
int mc_peers_start(mc_node *n, mc_peers **out);

/* Stops dialling, heartbeats and sync, and lets go of every session (the
 * listener closes the connections).  Frees p once its timers are closed
 * (keep running the loop).  NULL is a no-op. */
void mc_peers_stop(mc_peers *p);

/*
 * Handles a decoded peer message (HELLO ... HEADERS, CONSENSUS) from c.
 * Returns 0, or nonzero when c must be closed (the reason is logged).
 */
int mc_peers_on_msg(mc_peers *p, mc_conn *c, const mc_msg *m);

/* Connection c is gone (the listener's on_closed): its session goes. */
void mc_peers_on_closed(mc_peers *p, mc_conn *c);

/* 1 if connections from ip may not act as clients or observers now (it
 * served invalid data or lied); validators are never refused for it. */
int mc_peers_ip_banned(mc_peers *p, const char *ip);

/* The node committed block b (by consensus or sync). */
void mc_peers_on_commit(mc_peers *p, const mc_block *b);

/* Consensus messages, as the host services send/broadcast describe. */
int mc_peers_send(mc_peers *p, uint32_t validator, const uint8_t *msg,
                  size_t len);
int mc_peers_broadcast(mc_peers *p, const uint8_t *msg, size_t len);

/* Offers an admitted transaction to every session but `except` (may be
 * NULL); sessions whose queue is congested are skipped. */
void mc_peers_gossip_tx(mc_peers *p, const mc_tx *tx, mc_conn *except);

/* Validators with an authenticated session now. */
uint32_t mc_peers_validators_connected(const mc_peers *p);

#endif /* MC_PEER_PEERS_H */
