/*
 * peer_internal.h - what the files of the peer layer share (peers.h lists
 * them): the session, the dialled peer, the ban table and the sync state.
 *
 * Lifetimes: a session hangs off its connection (mc_conn_data) and is
 * freed only from the connection's close callback (mc_peers_on_closed),
 * never while anything walks the session list; a closing connection's
 * session stays in the list until then and is skipped by every walk
 * (session_live).
 */
#ifndef MC_PEER_INTERNAL_H
#define MC_PEER_INTERNAL_H

#include <stdint.h>
#include <uv.h>

#include "net/handshake.h"
#include "net/net.h"
#include "net/proto.h"
#include "peer/peers.h"

typedef struct mc_session mc_session;
typedef struct mc_sync mc_sync;

/* What sync knows of one peer (sync.c). */
typedef struct mc_sync_peer {
  uint64_t claimed;              /* height it says it has: only a hint */
  uint8_t claimed_head[MC_HASH_LEN];
  int score;                     /* answers good (+) and bad (-) */
  uint32_t strikes;              /* faults in a row: the rest doubles */
  uint64_t resting_until;        /* not asked anything before (loop ms) */
  uint32_t inflight;             /* requests it has not answered */
  uint64_t probe_after;          /* no fork probe of it before (loop ms) */
} mc_sync_peer;

/* One configured --peer: its address and the connection dialled to it. */
typedef struct mc_dial {
  mc_peers *p;
  char *addr;
  mc_conn *conn; /* NULL while waiting to redial */
  uv_timer_t retry;
  uint64_t backoff_ms;
  int known;     /* pk below is set (a handshake completed once) */
  uint8_t pk[MC_PUBKEY_LEN];
} mc_dial;

struct mc_session {
  mc_peers *p;
  mc_conn *conn;
  mc_dial *dial; /* NULL for inbound */
  mc_session *prev, *next;
  mc_hs hs;      /* while the handshake runs; wiped after */
  int hello_done, authed;
  uint8_t pk[MC_PUBKEY_LEN];
  int32_t validator;   /* -1: observer */
  int registered;      /* holds by_validator[validator] */
  uint64_t authed_ms;  /* when the handshake finished (loop ms) */
  int misbehaved;      /* penalised while this session lived */
  mc_sync_peer sync;
};

/* A ban of a key or an address, with the faults that made it grow. */
typedef struct mc_ban {
  int used, is_ip;
  uint8_t key[MC_PUBKEY_LEN];
  char ip[48];
  uint64_t until_ms; /* loop ms */
  uint64_t length_ms;
} mc_ban;

#define MC_PEER_BANS 256

struct mc_peers {
  mc_node *n;
  mc_dial *dials;
  size_t ndials;
  mc_session *sessions;
  mc_session **by_validator; /* [validator count] */
  uint32_t nvalidators;
  uv_timer_t heartbeat;
  int open_handles; /* timers not yet closed */
  int stopping;
  mc_ban bans[MC_PEER_BANS];
  mc_sync *sync;
};

/* ---- session.c ---- */

/* The loop's clock (ms). */
uint64_t peers_now(const mc_peers *p);
/* 1 if s can be used: authenticated and its connection not closing. */
int session_live(const mc_session *s);
/* Encodes m and queues it to s.  Returns 0 or an mc_conn_send error. */
int session_send(mc_session *s, const mc_msg *m);
/* Encodes m once and queues it to s (the bytes are copied). */
int session_send_frame(mc_session *s, const uint8_t *frame, size_t len);
/* The session s completed its handshake as key pk: registers it as its
 * validator's session or as an observer.  Returns 0, or nonzero when it
 * must close (banned, duplicate). */
int session_established(mc_session *s);
/* A peer that misbehaved: an observer is cut off and banned (its key and
 * address, for a growing time); a validator keeps its session (it may be
 * needed for a quorum) but sync leaves it alone for `rest_ms`; a dialled
 * peer's redial waits as long.  `reason` goes to the log. */
void session_punish(mc_session *s, const char *reason, uint64_t rest_ms);
/* A short name for logs. */
const char *session_name(const mc_session *s);

/* ---- handshake.c ---- */

/* Starts the handshake on an outbound link (sends HELLO). */
void handshake_begin(mc_session *s);
/* HELLO, WELCOME, AUTH.  Return 0 or nonzero to close. */
int handshake_on_msg(mc_session *s, const mc_msg *m);

/* ---- gossip.c ---- */

int gossip_on_tx(mc_session *s, const mc_tx *tx);
/* Sends a validator that has just connected the transfers this node holds
 * ready (at most a few thousand, while its connection takes them). */
void gossip_pending_to(mc_session *s);
int gossip_on_consensus(mc_session *s, const mc_msg *m);
/* Sends our head to every session. */
void gossip_heartbeat(mc_peers *p);
int gossip_on_heartbeat(mc_session *s, const mc_msg *m);

/* ---- serve.c ---- */

int serve_get_headers(mc_session *s, const mc_msg *req);
int serve_get_blocks(mc_session *s, const mc_msg *req);

/* ---- sync.c ---- */

mc_sync *sync_new(mc_peers *p);
/* Stops its timer; frees itself when the timer is closed. */
void sync_stop(mc_sync *y, void (*closed)(mc_peers *p));
/* A session's claimed head changed (handshake, heartbeat). */
void sync_on_claim(mc_sync *y, mc_session *s);
/* Its requests go back to the queue (the session is closing). */
void sync_on_session_gone(mc_sync *y, mc_session *s);
int sync_on_headers(mc_sync *y, mc_session *s, mc_msg *m);
int sync_on_blocks(mc_sync *y, mc_session *s, mc_msg *m);
void sync_on_commit(mc_sync *y, const mc_block *b);
/* A heartbeat said s's head at `height` is `hash`: compares it with ours. */
void sync_check_head(mc_sync *y, mc_session *s, uint64_t height,
                     const uint8_t hash[MC_HASH_LEN]);

#endif /* MC_PEER_INTERNAL_H */
