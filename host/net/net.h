/*
 * net.h - TCP connections carrying frames, and the listener that accepts
 * them.
 *
 * A connection reads frames (net/frame.h) and hands each to the owner's
 * handler; it writes whole frames from a send queue bounded in bytes.  A
 * peer that sends a bad frame or cannot keep up with its queue is cut off:
 * the connection closes, with a log event saying why.  Connections are
 * freed only after libuv has closed their handles.
 */
#ifndef MC_NET_NET_H
#define MC_NET_NET_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct mc_conn mc_conn;
typedef struct mc_listener mc_listener;

/* Called for each complete frame; return nonzero to close the connection.
 * payload is valid only during the call. */
typedef int (*mc_conn_frame_cb)(void *ctx, mc_conn *c, const uint8_t *payload,
                                size_t len);
/* An outbound connection (mc_conn_connect) is established. */
typedef void (*mc_conn_connected_cb)(void *ctx, mc_conn *c);
/* Called once when a connection is gone (before it is freed), including an
 * outbound one whose connect failed. */
typedef void (*mc_conn_closed_cb)(void *ctx, mc_conn *c);

typedef struct mc_net_limits {
  size_t max_frame;      /* largest payload accepted */
  size_t max_send_queue; /* bytes queued to one connection before it is cut */
  size_t max_conns;      /* connections accepted at once */
} mc_net_limits;

/*
 * Starts listening on "HOST:PORT" (port 0 picks a free one).  Each accepted
 * connection calls on_frame / on_closed with ctx.  Returns 0 or a negative
 * code with the reason in err.
 */
int mc_listener_start(uv_loop_t *loop, const char *hostport,
                      const mc_net_limits *lim, mc_conn_frame_cb on_frame,
                      mc_conn_closed_cb on_closed, void *ctx,
                      mc_listener **out, char *err, size_t errlen);

/* The port actually bound (after port 0). */
uint16_t mc_listener_port(const mc_listener *l);

/* Number of connections open now. */
size_t mc_listener_conns(const mc_listener *l);

/* Stops accepting and closes every connection; frees l once all handles
 * are closed (keep running the loop).  NULL is a no-op. */
void mc_listener_close(mc_listener *l);

/*
 * Queues one frame (header + payload already built, malloc'd); takes
 * ownership of `frame` in every case.  Returns 0, or MC_EFULL (queue limit
 * hit: the connection is being closed) or MC_ENOTCONN (closing already).
 */
int mc_conn_send(mc_conn *c, uint8_t *frame, size_t len);

/* Closes after what is queued has been written (for a final ERROR). */
void mc_conn_close_after_flush(mc_conn *c, const char *reason);

/* Closes now, dropping what is queued. */
void mc_conn_close(mc_conn *c, const char *reason);

/*
 * Dials HOST:PORT as a connection of listener l: it shares l's limits and
 * frame and close callbacks, and closes with it.  on_connected(ctx, c) runs
 * once it is established; a failed connect ends in l's on_closed like any
 * other close.  `data` becomes the connection's data.  Returns 0 with *out
 * set (not yet connected: mc_conn_send refuses with MC_ENOTCONN until
 * then), MC_EINVAL for a bad address, MC_ESTATE when l is closing,
 * MC_ENOMEM, or MC_ENOTCONN when the connect could not start (on_closed
 * has run).
 */
int mc_conn_connect(mc_listener *l, const char *hostport,
                    mc_conn_connected_cb on_connected, void *data,
                    mc_conn **out);
/* The owner's per-connection pointer (NULL until set). */
void *mc_conn_data(const mc_conn *c);
void mc_conn_set_data(mc_conn *c, void *data);
/* 1 if this node dialed the connection. */
int mc_conn_is_outbound(const mc_conn *c);
/* The peer's "ip:port" for logs. */
const char *mc_conn_peer_name(const mc_conn *c);

#endif /* MC_NET_NET_H */
