/*
 * net.h - TCP connections carrying frames, the listener that accepts them,
 * and the limits that keep what any stranger can make the node hold
 * bounded (docs/OPERATIONS.md, "Limits").
 *
 * A connection reads frames (net/frame.h), opens them when the link is
 * encrypted (net/channel.h), and hands each to the owner's handler; it
 * writes whole frames from a send queue whose memory is counted as
 * allocated, not as payload.  What the node will accept depends on what the
 * connection has shown itself to be (mc_conn_class): a stranger may send
 * only small frames and must finish a handshake or send a request in time;
 * a client that stops reading its answers stops being read; only validator
 * sessions are exempt from the shared memory budget, the per-address cap,
 * the request rate and eviction.
 *
 * Lifecycle: closing a connection marks it and stops its I/O at once; the
 * owner's on_closed runs later, from libuv's close callback, and the
 * connection is freed right after it.  So a connection (and whatever the
 * owner hangs off it) stays valid for the rest of the loop turn in which it
 * was closed: code that walks connections or sessions may close any of
 * them, including by sending, without a use after free.
 */
#ifndef MC_NET_NET_H
#define MC_NET_NET_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "net/channel.h"

typedef struct mc_conn mc_conn;
typedef struct mc_listener mc_listener;

/* What a connection has shown itself to be. */
typedef enum mc_conn_class {
  MC_CONN_NEW = 0,    /* accepted, nothing complete received yet */
  MC_CONN_CLIENT,     /* sent a client request */
  MC_CONN_HANDSHAKE,  /* a peer link being opened (either direction) */
  MC_CONN_OBSERVER,   /* an authenticated peer that is not a validator */
  MC_CONN_VALIDATOR   /* an authenticated validator of the genesis */
} mc_conn_class;

/* Frames a stranger, a client or an unfinished handshake may send. */
#define MC_NET_SMALL_FRAME (64u << 10)
/* Send-queue memory above which a connection is no longer read; it is read
 * again once its queue is below half of this. */
#define MC_NET_HIGH_WATER (256u << 10)
/* How often deadlines and rate limits are checked. */
#define MC_NET_SWEEP_MS 100

typedef struct mc_net_limits {
  size_t max_frame;          /* payload limit of authenticated peers */
  size_t max_conns;          /* connections at once, both directions */
  size_t reserved;           /* of those, kept for validator sessions */
  size_t max_conns_per_ip;   /* inbound non-validator ones per address */
  uint64_t handshake_ms;     /* NEW / HANDSHAKE: time to show what it is */
  uint64_t idle_ms;          /* CLIENT: time without a complete frame */
  uint64_t silence_ms;       /* OBSERVER / VALIDATOR: the same, for peers */
  size_t max_send_queue;     /* queue memory of one connection */
  size_t memory;             /* read + send memory of all non-validators */
  size_t frames_per_sec;     /* a non-validator's rate, then reads pause */
} mc_net_limits;

/* What the listener has done, for logs and tests. */
typedef struct mc_net_stats {
  uint64_t accepted, refused, evicted;
  uint64_t closed_handshake, closed_idle, closed_memory, closed_queue;
  uint64_t paused_rate, paused_backpressure;
} mc_net_stats;

/* Called for each complete frame (opened, when the link is encrypted);
 * payload is valid only during the call.  Return nonzero when the
 * connection was closed or must not deliver more frames. */
typedef int (*mc_conn_frame_cb)(void *ctx, mc_conn *c, const uint8_t *payload,
                                size_t len);
/* An outbound connection (mc_conn_connect) is established. */
typedef void (*mc_conn_connected_cb)(void *ctx, mc_conn *c);
/* Called once for every connection, inbound or outbound (a failed connect
 * included), from libuv's close callback: the connection is freed when it
 * returns. */
typedef void (*mc_conn_closed_cb)(void *ctx, mc_conn *c);
typedef struct mc_net_callbacks {
  mc_conn_frame_cb on_frame;
  mc_conn_closed_cb on_closed;
  void *ctx;
} mc_net_callbacks;

/*
 * Starts listening on "HOST:PORT" (port 0 picks a free one).  lim and cb
 * are copied.  Returns 0 or a negative code with the reason in err.
 */
int mc_listener_start(uv_loop_t *loop, const char *hostport,
                      const mc_net_limits *lim, const mc_net_callbacks *cb,
                      mc_listener **out, char *err, size_t errlen);

/* The port actually bound (after port 0). */
uint16_t mc_listener_port(const mc_listener *l);

/* Connections open now (not closing). */
size_t mc_listener_conns(const mc_listener *l);

/* Bytes the non-validator connections hold now (the budgeted memory). */
size_t mc_listener_memory(const mc_listener *l);

const mc_net_stats *mc_listener_stats(const mc_listener *l);

/* Stops accepting and closes every connection; frees l once every handle
 * is closed (keep running the loop).  NULL is a no-op. */
void mc_listener_close(mc_listener *l);

/*
 * Queues one frame (4-byte header + payload, malloc'd); takes ownership of
 * `frame` in every case.  On an encrypted link the frame is sealed here.
 * Returns 0, MC_EFULL (the queue or the memory budget would overflow: the
 * connection is being closed), MC_ENOTCONN (closing or not connected yet)
 * or MC_ENOMEM.
 */
int mc_conn_send(mc_conn *c, uint8_t *frame, size_t len);

/* Closes after what is queued has been written (for a final ERROR). */
void mc_conn_close_after_flush(mc_conn *c, const char *reason);

/* Closes now, dropping what is queued.  Safe on a closing connection. */
void mc_conn_close(mc_conn *c, const char *reason);

/*
 * Dials HOST:PORT as a connection of listener l (it shares l's limits and
 * callbacks, and closes with it), class MC_CONN_HANDSHAKE.  on_connected
 * runs once it is established; a failed connect ends in on_closed like any
 * other close.  `data` becomes the connection's data.  Returns 0 with *out
 * set (not connected yet: mc_conn_send refuses with MC_ENOTCONN until
 * then), MC_EINVAL for a bad address, MC_ESTATE when l is closing, or
 * MC_ENOMEM.
 */
int mc_conn_connect(mc_listener *l, const char *hostport,
                    mc_conn_connected_cb on_connected, void *data,
                    mc_conn **out);

/* Records what the connection has shown itself to be (see mc_conn_class):
 * its frame limit, deadline, budget and rate follow. */
void mc_conn_set_class(mc_conn *c, mc_conn_class cls);
mc_conn_class mc_conn_get_class(const mc_conn *c);

/* From now on frames both ways are sealed / opened with ch (copied). */
int mc_conn_set_channel(mc_conn *c, const mc_channel *ch);

/* The owner's per-connection pointer (NULL until set). */
void *mc_conn_data(const mc_conn *c);
void mc_conn_set_data(mc_conn *c, void *data);
/* 1 if this node dialled the connection. */
int mc_conn_is_outbound(const mc_conn *c);
/* 1 once the connection is closing (nothing more is sent or delivered). */
int mc_conn_is_closing(const mc_conn *c);
/* 1 while its queue is so full that optional traffic (gossip) should skip
 * it rather than add to it. */
int mc_conn_congested(const mc_conn *c);
/*
 * Keeps c's memory valid after it closes, until the matching
 * mc_conn_release: for work that answers c later (a signature checked on
 * another thread).  A held connection that closed still runs on_closed at
 * the usual time; sending to it fails with MC_ENOTCONN.
 */
void mc_conn_hold(mc_conn *c);
void mc_conn_release(mc_conn *c);

/* Stops reading c because its owner is busy with what it sent already
 * (work queued elsewhere); mc_conn_resume_reading undoes it.  Independent
 * of the pauses for rate and backpressure. */
void mc_conn_pause_reading(mc_conn *c);
void mc_conn_resume_reading(mc_conn *c);

/* Counts `frames` more against the connection's rate (a request that
 * costs the node more than one frame's work: a batch of blocks). */
void mc_conn_charge(mc_conn *c, double frames);
/* The peer's "ip:port" and "ip", for logs and per-address rules. */
const char *mc_conn_peer_name(const mc_conn *c);
const char *mc_conn_ip(const mc_conn *c);

#endif /* MC_NET_NET_H */
