/*
 * peers.h - the node's connections to other nodes: handshake, heartbeats,
 * transaction gossip, routing of consensus messages, and catching up.
 *
 * Every node listens on one address for clients and peers alike; a
 * connection becomes a peer session when it sends HELLO.  Both sides then
 * prove their node key by signing the other's random challenge (AUTH), so
 * a session speaks for a validator only if it holds that validator's key;
 * any other key makes an observer session, which may sync and gossip but
 * whose consensus messages are ignored.  Outbound connections to the
 * configured peers are redialled with capped exponential backoff.
 *
 * All of it runs on the node's loop thread.
 */
#ifndef MC_PEERS_H
#define MC_PEERS_H

#include <stddef.h>
#include <stdint.h>

#include "minichain/types.h"
#include "net/net.h"
#include "net/proto.h"

typedef struct mc_node mc_node;
typedef struct mc_peers mc_peers;

/* Redial backoff: first retry after MIN, doubling up to MAX. */
#define MC_PEER_BACKOFF_MIN_MS 200
#define MC_PEER_BACKOFF_MAX_MS 5000
/* Heartbeat period, and the silence after which a session is dropped. */
#define MC_PEER_HEARTBEAT_MS 1000
#define MC_PEER_SILENCE_MS 10000
/* A sync request not answered within this is sent again elsewhere. */
#define MC_PEER_SYNC_TIMEOUT_MS 5000

/*
 * Creates the peer layer of node n (dials n->cfg->peers, starts the
 * heartbeat).  The listener must be running.  Returns 0 or MC_ENOMEM /
 * MC_EINVAL (a peer address that does not parse; config checked it).
 */
int mc_peers_start(mc_node *n, mc_peers **out);

/* Stops dialling and heartbeats; the listener closes the connections.
 * Frees p once its timers are closed (keep running the loop). */
void mc_peers_stop(mc_peers *p);

/*
 * Handles a decoded peer message (HELLO ... BLOCKS, CONSENSUS) from c.
 * Returns 0, or nonzero when c must be closed (the reason is logged).
 */
int mc_peers_on_msg(mc_peers *p, mc_conn *c, const mc_msg *m);

/* Connection c is gone (from the listener's on_closed). */
void mc_peers_on_closed(mc_peers *p, mc_conn *c);

/* Consensus messages, as the host services send/broadcast describe. */
int mc_peers_send(mc_peers *p, uint32_t validator, const uint8_t *msg,
                  size_t len);
int mc_peers_broadcast(mc_peers *p, const uint8_t *msg, size_t len);

/* Offers an admitted transaction to every session but `except` (may be
 * NULL). */
void mc_peers_gossip_tx(mc_peers *p, const mc_tx *tx, mc_conn *except);

/* Validators with an authenticated session now. */
uint32_t mc_peers_validators_connected(const mc_peers *p);

/* The highest height any authenticated peer reported. */
uint64_t mc_peers_best_height(const mc_peers *p);

#endif /* MC_PEERS_H */
