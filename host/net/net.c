/*
 * net.c - libuv TCP listener and framed connections.
 *
 * Memory per connection is bounded: the frame reader holds at most one
 * maximal frame, and the send queue at most max_send_queue bytes; a peer
 * that exceeds either is disconnected rather than buffered.
 */
#include "net/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "minichain/error.h"
#include "net/frame.h"

struct mc_listener {
  uv_tcp_t tcp;
  uv_loop_t *loop;
  mc_net_limits lim;
  mc_conn_frame_cb on_frame;
  mc_conn_closed_cb on_closed;
  void *ctx;
  mc_conn *conns; /* doubly linked */
  size_t nconns;
  uint16_t port;
  int closing;
};

struct mc_conn {
  uv_tcp_t tcp;
  mc_listener *owner;
  mc_conn *prev, *next;
  mc_frame_reader reader;
  size_t queued; /* bytes handed to uv_write and not yet written */
  int closing;
  int outbound;   /* we dialed it */
  int connected;  /* inbound, or outbound and the connect completed */
  void *data;     /* the owner's per-connection state */
  uv_connect_t connect_req;
  mc_conn_connected_cb on_connected;
  char peer[64];
};

typedef struct write_req {
  uv_write_t req;
  mc_conn *conn;
  uint8_t *frame;
  size_t len;
} write_req;

const char *mc_conn_peer_name(const mc_conn *c) { return c->peer; }
void *mc_conn_data(const mc_conn *c) { return c->data; }
void mc_conn_set_data(mc_conn *c, void *data) { c->data = data; }
int mc_conn_is_outbound(const mc_conn *c) { return c->outbound; }
uint16_t mc_listener_port(const mc_listener *l) { return l->port; }
size_t mc_listener_conns(const mc_listener *l) { return l->nconns; }

static void unlink_conn(mc_conn *c) {
  mc_listener *l = c->owner;
  if (c->prev)
    c->prev->next = c->next;
  else
    l->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  l->nconns--;
}

/* Touches only the connection: the listener may already be gone. */
static void on_conn_closed(uv_handle_t *h) {
  mc_conn *c = h->data;
  mc_frame_reader_free(&c->reader);
  free(c);
}

/* Everything but the handle: the connection leaves its listener and its
 * owner hears of it once.  Returns 0 if it was closing already. */
static int begin_close(mc_conn *c, const char *reason) {
  if (c->closing)
    return 0;
  c->closing = 1;
  MC_LOG(MC_LOG_INFO, "conn_closed", MC_LOG_F_S("peer", c->peer),
         MC_LOG_F_S("reason", reason));
  unlink_conn(c);
  if (c->owner->on_closed)
    c->owner->on_closed(c->owner->ctx, c);
  return 1;
}

void mc_conn_close(mc_conn *c, const char *reason) {
  if (begin_close(c, reason))
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  mc_conn *c = req->data;
  free(req);
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

void mc_conn_close_after_flush(mc_conn *c, const char *reason) {
  if (!begin_close(c, reason))
    return;
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_shutdown_t *req = malloc(sizeof *req);
  if (req != NULL) {
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) == 0)
      return;
    free(req);
  }
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_write(uv_write_t *req, int status) {
  write_req *w = (write_req *)req;
  w->conn->queued -= w->len;
  free(w->frame);
  if (status < 0 && status != UV_ECANCELED)
    mc_conn_close(w->conn, uv_strerror(status));
  free(w);
}

int mc_conn_send(mc_conn *c, uint8_t *frame, size_t len) {
  if (c->closing || !c->connected) {
    free(frame);
    return MC_ENOTCONN;
  }
  if (c->queued + len > c->owner->lim.max_send_queue) {
    free(frame);
    mc_conn_close(c, "send queue full");
    return MC_EFULL;
  }
  write_req *w = malloc(sizeof *w);
  if (w == NULL) {
    free(frame);
    return MC_ENOMEM;
  }
  w->conn = c;
  w->frame = frame;
  w->len = len;
  uv_buf_t buf = uv_buf_init((char *)frame, (unsigned)len);
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
  if (rc != 0) {
    free(frame);
    free(w);
    mc_conn_close(c, uv_strerror(rc));
    return MC_ENOTCONN;
  }
  c->queued += len;
  return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char slab[64 * 1024]; /* one loop thread: reads never overlap */
  *buf = uv_buf_init(slab, sizeof slab);
}

static int deliver(void *arg, const uint8_t *payload, size_t len) {
  mc_conn *c = arg;
  if (c->closing)
    return 1;
  return c->owner->on_frame(c->owner->ctx, c, payload, len);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  mc_conn *c = s->data;
  if (nread == 0 || c->closing)
    return;
  if (nread < 0) {
    mc_conn_close(c, nread == UV_EOF ? "peer closed" : uv_strerror((int)nread));
    return;
  }
  int rc = mc_frame_feed(&c->reader, (const uint8_t *)buf->base,
                         (size_t)nread, deliver, c);
  if (rc == MC_ETOOBIG)
    mc_conn_close(c, "frame length out of range");
  else if (rc != 0 && !c->closing)
    mc_conn_close(c, mc_strerror(rc));
}

static void peer_name(uv_tcp_t *tcp, char *out, size_t outlen) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) == 0) {
    if (ss.ss_family == AF_INET6) {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
      uv_ip6_name(a, ip, sizeof ip);
      port = ntohs(a->sin6_port);
    } else {
      struct sockaddr_in *a = (struct sockaddr_in *)&ss;
      uv_ip4_name(a, ip, sizeof ip);
      port = ntohs(a->sin_port);
    }
  }
  snprintf(out, outlen, "%s:%d", ip, port);
}

static void on_refused_closed(uv_handle_t *h) { free(h); }

static void link_conn(mc_listener *l, mc_conn *c) {
  c->owner = l;
  c->tcp.data = c;
  mc_frame_reader_init(&c->reader, l->lim.max_frame);
  c->next = l->conns;
  if (l->conns)
    l->conns->prev = c;
  l->conns = c;
  l->nconns++;
}

static void on_connection(uv_stream_t *server, int status) {
  mc_listener *l = server->data;
  if (status < 0 || l->closing)
    return;
  mc_conn *c = calloc(1, sizeof *c);
  if (c == NULL)
    return;
  uv_tcp_init(l->loop, &c->tcp);
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, on_refused_closed);
    return;
  }
  peer_name(&c->tcp, c->peer, sizeof c->peer);
  if (l->nconns >= l->lim.max_conns) {
    MC_LOG(MC_LOG_WARN, "conn_refused", MC_LOG_F_S("peer", c->peer),
           MC_LOG_F_S("reason", "too many connections"));
    uv_close((uv_handle_t *)&c->tcp, on_refused_closed);
    return;
  }
  link_conn(l, c);
  c->connected = 1;
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_connect(uv_connect_t *req, int status) {
  mc_conn *c = req->data;
  if (status == UV_ECANCELED || c->closing)
    return; /* mc_conn_close already ran and reported it */
  if (status < 0) {
    mc_conn_close(c, uv_strerror(status));
    return;
  }
  c->connected = 1;
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (c->on_connected)
    c->on_connected(c->owner->ctx, c);
}

int mc_conn_connect(mc_listener *l, const char *hostport,
                    mc_conn_connected_cb on_connected, void *data,
                    mc_conn **out) {
  char host[256];
  uint16_t port;
  struct sockaddr_storage ss;
  if (l->closing)
    return MC_ESTATE;
  if (mc_parse_hostport(hostport, host, sizeof host, &port, 0) != 0 ||
      (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
       uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0))
    return MC_EINVAL;
  mc_conn *c = calloc(1, sizeof *c);
  if (c == NULL)
    return MC_ENOMEM;
  uv_tcp_init(l->loop, &c->tcp);
  snprintf(c->peer, sizeof c->peer, "%s", hostport);
  c->outbound = 1;
  c->data = data;
  c->on_connected = on_connected;
  c->connect_req.data = c;
  link_conn(l, c);
  int rc = uv_tcp_connect(&c->connect_req, &c->tcp, (struct sockaddr *)&ss,
                          on_connect);
  *out = c;
  if (rc != 0) {
    mc_conn_close(c, uv_strerror(rc));
    return MC_ENOTCONN;
  }
  return 0;
}

static int resolve(const char *hostport, struct sockaddr_storage *ss,
                   char *err, size_t errlen) {
  char host[256];
  uint16_t port;
  if (mc_parse_hostport(hostport, host, sizeof host, &port, 1) != 0 ||
      (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) != 0 &&
       uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) != 0)) {
    snprintf(err, errlen, "cannot listen on '%s': expected IP:PORT",
             hostport);
    return MC_EINVAL;
  }
  return 0;
}

int mc_listener_start(uv_loop_t *loop, const char *hostport,
                      const mc_net_limits *lim, mc_conn_frame_cb on_frame,
                      mc_conn_closed_cb on_closed, void *ctx,
                      mc_listener **out, char *err, size_t errlen) {
  struct sockaddr_storage ss;
  int rc = resolve(hostport, &ss, err, errlen);
  if (rc != 0)
    return rc;
  mc_listener *l = calloc(1, sizeof *l);
  if (l == NULL)
    return MC_ENOMEM;
  l->loop = loop;
  l->lim = *lim;
  l->on_frame = on_frame;
  l->on_closed = on_closed;
  l->ctx = ctx;
  uv_tcp_init(loop, &l->tcp);
  l->tcp.data = l;
  int uvrc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0);
  if (uvrc == 0)
    uvrc = uv_listen((uv_stream_t *)&l->tcp, 128, on_connection);
  if (uvrc != 0) {
    snprintf(err, errlen, "cannot listen on %s: %s", hostport,
             uv_strerror(uvrc));
    l->closing = 1;
    uv_close((uv_handle_t *)&l->tcp, on_refused_closed);
    return MC_EIO;
  }
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &blen);
  l->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
  *out = l;
  return 0;
}


static void on_listener_closed(uv_handle_t *h) { free(h->data); }

void mc_listener_close(mc_listener *l) {
  if (l == NULL || l->closing)
    return;
  l->closing = 1;
  while (l->conns != NULL)
    mc_conn_close(l->conns, "node stopping");
  uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
}
