/*
 * net_internal.h - what net.c (moving frames) and limits.c (what the edge
 * allows) share: the listener and connection structs and the calls
 * between the two files.  Nothing outside host/net includes it.
 */
#ifndef MC_NET_INTERNAL_H
#define MC_NET_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "net/frame.h"
#include "net/net.h"

enum { PAUSE_RATE = 1, PAUSE_BACKPRESSURE = 2, PAUSE_OWNER = 4 };

/* Buckets of the count of unproven connections per address (addresses
 * hashed: two that collide share a count, which only blurs eviction). */
#define CROWD_BUCKETS 1024
/* Kernel buffers of client and observer sockets (Linux doubles it). */
#define SMALL_SOCKET_BUFFER (64 * 1024)

struct mc_listener {
  uv_tcp_t tcp;
  uv_timer_t sweep;
  uv_prepare_t flush; /* writes what the loop turn queued (send.c) */
  uv_loop_t *loop;
  mc_net_limits lim;
  mc_net_callbacks cb;
  mc_conn *conns; /* open (not closing), doubly linked, newest first */
  size_t nconns;  /* open */
  size_t nonval;  /* open and not validator sessions */
  size_t alive;   /* allocated: open or closing */
  size_t memory;  /* budgeted bytes held by non-validator connections */
  mc_conn *unflushed; /* connections with frames not yet handed to libuv */
  int handles;    /* of tcp, sweep and flush, not yet closed */
  uint16_t port;
  int closing;
  mc_net_stats stats;
  uint64_t refusals_unlogged, last_refusal_log_ms;
  uint16_t crowd[CROWD_BUCKETS]; /* unproven inbound connections per bucket */
};

struct mc_conn {
  uv_tcp_t tcp;
  mc_listener *owner;
  mc_conn *prev, *next;
  mc_frame_reader reader;
  mc_conn_class cls;
  mc_channel *channel; /* NULL: plain frames */
  size_t queued;       /* memory of frames sent and not yet written */
  uint8_t **out;       /* frames of this loop turn, not yet handed to libuv */
  uv_buf_t *outbufs;   /* their bytes, for one uv_write */
  size_t nout, outcap;
  size_t unflushed_mem; /* what those count in queued */
  mc_conn *uf_prev, *uf_next; /* on owner->unflushed while nout > 0 */
  size_t budgeted;     /* what this connection adds to owner->memory */
  int closing, outbound, connected, delivering;
  int crowded;         /* counted in owner->crowd[bucket] */
  unsigned bucket;
  unsigned paused;     /* PAUSE_* reasons; reading runs when 0 */
  uint64_t opened_ms, last_frame_ms;
  uint64_t stalled_ms; /* since when its queue is congested; 0: it is not */
  double tokens;       /* frames it may still send now (rate limit) */
  uint64_t tokens_ms;
  void *data;          /* the owner's per-connection state */
  unsigned holds;      /* mc_conn_hold without release */
  int handle_closed;   /* libuv is done with it; freed when holds is 0 */
  uv_connect_t connect_req;
  mc_conn_connected_cb on_connected;
  char peer[300]; /* "host:port" as dialled, or "ip:port" */
  char ip[256];
};


static inline uint64_t mc__now_ms(const mc_listener *l) {
  return uv_now(l->loop);
}

static inline int mc__is_validator(const mc_conn *c) {
  return c->cls == MC_CONN_VALIDATOR;
}

/* Inbound, and not yet shown to be a client or an authenticated peer. */
static inline int mc__unproven(const mc_conn *c) {
  return !c->outbound && (c->cls == MC_CONN_NEW || c->cls == MC_CONN_HANDSHAKE);
}

/* ---- send.c ---- */

/* Writes the frames every connection queued during this loop turn, one
 * uv_write per connection (the listener's prepare handle). */
void mc__on_flush(uv_prepare_t *h);
/* Hands c's queued frames to libuv now (before a shutdown). */
void mc__conn_flush(mc_conn *c);
/* Frees the frames c queued and never handed to libuv (it is closing). */
void mc__conn_drop_unflushed(mc_conn *c);

/* ---- net.c ---- */

/* Stops / starts reading c for a reason (PAUSE_*); it reads again when
 * no reason is left, delivering what it buffered first. */
void mc__conn_pause(mc_conn *c, unsigned why);
void mc__conn_resume(mc_conn *c, unsigned why);

/* ---- limits.c ---- */

/* Keeps the listener's budget and crowd counts in line with c. */
void mc__budget_update(mc_conn *c);
void mc__crowd_update(mc_conn *c);
/* The crowd bucket of an address. */
unsigned mc__crowd_bucket(const char *ip);
/* Makes room in the budget for c to hold `extra` more bytes (see
 * limits.c).  Returns 1 if c may go ahead, 0 if c is being closed. */
int mc__budget_room(mc_conn *c, size_t extra);
/* Counts n frames against c's rate; pauses its reading when spent. */
void mc__rate_spend(mc_conn *c, double n);
/* Makes room for a new inbound connection from ip: NULL if it may come
 * in (after evicting another if need be), or why it is refused. */
const char *mc__make_room(mc_listener *l, const char *ip);
/* Counts a refused connection; logs at most one line a second. */
void mc__log_refusal(mc_listener *l, const char *peer, const char *why);
/* The sweep timer: deadlines and rate limits. */
void mc__on_sweep(uv_timer_t *t);

#endif /* MC_NET_INTERNAL_H */
