/*
 * net.c - the libuv TCP listener and framed connections (net.h): accepting
 * and dialling, reading frames (opened when the link is encrypted) and
 * handing them to the owner, pausing and resuming reads, and closing in two steps so that nothing is
 * freed under a caller.  What a connection is allowed (its budget, slot,
 * rate and deadlines) is limits.c's; sending is send.c's.
 *
 * A connection whose answers are not being read stops being read
 * (backpressure): a client cannot make the node queue without end.
 */
#include "net/net.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "minichain/error.h"
#include "net/frame.h"
#include "net/net_internal.h"

const char *mc_conn_peer_name(const mc_conn *c) { return c->peer; }
const char *mc_conn_ip(const mc_conn *c) { return c->ip; }
void *mc_conn_data(const mc_conn *c) { return c->data; }
void mc_conn_set_data(mc_conn *c, void *data) { c->data = data; }
int mc_conn_is_outbound(const mc_conn *c) { return c->outbound; }
int mc_conn_is_closing(const mc_conn *c) { return c->closing; }
mc_conn_class mc_conn_get_class(const mc_conn *c) { return c->cls; }
uint16_t mc_listener_port(const mc_listener *l) { return l->port; }
size_t mc_listener_conns(const mc_listener *l) { return l->nconns; }
size_t mc_listener_memory(const mc_listener *l) { return l->memory; }
const mc_net_stats *mc_listener_stats(const mc_listener *l) {
  return &l->stats;
}

int mc_conn_congested(const mc_conn *c) {
  return c->closing || c->queued > MC_NET_HIGH_WATER / 2;
}

/* ---- closing ---- */

static void maybe_free_listener(mc_listener *l) {
  if (l->closing && l->handles == 0 && l->alive == 0)
    free(l);
}

static void unlink_conn(mc_conn *c) {
  mc_listener *l = c->owner;
  if (c->prev)
    c->prev->next = c->next;
  else
    l->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
  l->nconns--;
  if (!mc__is_validator(c))
    l->nonval--;
}

static void free_conn(mc_conn *c) {
  mc_listener *l = c->owner;
  free(c);
  l->alive--;
  maybe_free_listener(l);
}

static void on_conn_closed(uv_handle_t *h) {
  mc_conn *c = h->data;
  mc_listener *l = c->owner;
  if (l->cb.on_closed)
    l->cb.on_closed(l->cb.ctx, c);
  mc_frame_reader_free(&c->reader);
  if (c->channel != NULL) {
    mc_channel_wipe(c->channel);
    free(c->channel);
    c->channel = NULL;
  }
  c->handle_closed = 1;
  if (c->holds == 0)
    free_conn(c);
}

void mc_conn_hold(mc_conn *c) { c->holds++; }

void mc_conn_release(mc_conn *c) {
  assert(c->holds > 0);
  if (--c->holds == 0 && c->handle_closed)
    free_conn(c);
}

/* Marks c closed: it leaves the open list and the budget and delivers
 * nothing more.  Returns 0 if it was closing already. */
static int begin_close(mc_conn *c, const char *reason) {
  if (c->closing)
    return 0;
  MC_LOG(MC_LOG_INFO, "conn_closed", MC_LOG_F_S("peer", c->peer),
         MC_LOG_F_S("reason", reason));
  unlink_conn(c);
  c->closing = 1;
  mc__conn_drop_unflushed(c);
  mc__budget_update(c);
  mc__crowd_update(c);
  uv_read_stop((uv_stream_t *)&c->tcp);
  return 1;
}

void mc_conn_close(mc_conn *c, const char *reason) {
  /* A last frame sent just before (a refusal) still gets its one try at
   * the socket, as it would have had it been written at once. */
  if (!c->closing)
    mc__conn_flush(c);
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
  if (!c->closing)
    mc__conn_flush(c);
  if (!begin_close(c, reason))
    return;
  uv_shutdown_t *req = malloc(sizeof *req);
  if (req != NULL) {
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) == 0)
      return;
    free(req);
  }
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char slab[MC_FRAME_READ_MAX]; /* one loop thread: no overlap */
  *buf = uv_buf_init(slab, sizeof slab);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

void mc__conn_pause(mc_conn *c, unsigned why) {
  if (c->paused == 0 && !c->closing)
    uv_read_stop((uv_stream_t *)&c->tcp);
  c->paused |= why;
}

static void deliver(mc_conn *c);

void mc__conn_resume(mc_conn *c, unsigned why) {
  if ((c->paused & why) == 0)
    return;
  c->paused &= ~why;
  if (c->paused != 0 || c->closing)
    return;
  deliver(c); /* what was buffered when it paused comes first */
  if (c->paused == 0 && !c->closing)
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

void mc_conn_pause_reading(mc_conn *c) { mc__conn_pause(c, PAUSE_OWNER); }
void mc_conn_resume_reading(mc_conn *c) { mc__conn_resume(c, PAUSE_OWNER); }

/* Drops a large read buffer once it is empty: a peer that sent one big
 * frame does not keep its memory for the life of the connection. */
static void trim_reader(mc_conn *c) {
  if (c->reader.len == 0 && mc_frame_reader_capacity(&c->reader) > MC_NET_SMALL_FRAME) {
    size_t max = c->reader.max_frame;
    mc_frame_reader_free(&c->reader);
    mc_frame_reader_init(&c->reader, max);
    mc__budget_update(c);
  }
}

/* Hands buffered frames to the owner until none is whole or reading is
 * paused. */
static void deliver(mc_conn *c) {
  mc_listener *l = c->owner;
  if (c->delivering)
    return;
  c->delivering = 1;
  while (!c->closing && c->paused == 0) {
    uint8_t *p;
    size_t len;
    int rc = mc_frame_reader_next(&c->reader, &p, &len);
    if (rc == 0)
      break;
    if (rc < 0) {
      mc_conn_close(c, "frame length out of range");
      break;
    }
    if (c->channel != NULL && mc_channel_open(c->channel, p, len, &len) != 0) {
      mc_conn_close(c, "frame failed authentication");
      break;
    }
    c->last_frame_ms = mc__now_ms(l);
    mc__rate_spend(c, 1.0);
    if (l->cb.on_frame(l->cb.ctx, c, p, len) != 0)
      break;
  }
  c->delivering = 0;
  if (!c->closing)
    trim_reader(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  mc_conn *c = s->data;
  if (nread == 0 || c->closing)
    return;
  if (nread < 0) {
    mc_conn_close(c, nread == UV_EOF ? "peer closed" : uv_strerror((int)nread));
    return;
  }
  size_t need = mc_frame_reader_need(&c->reader, (size_t)nread);
  size_t cap = mc_frame_reader_capacity(&c->reader);
  if (need > cap && !mc__budget_room(c, need - cap))
    return;
  if (mc_frame_reader_append(&c->reader, (const uint8_t *)buf->base,
                             (size_t)nread) != 0) {
    mc_conn_close(c, "out of memory");
    return;
  }
  mc__budget_update(c);
  deliver(c);
}

/* ---- classes ---- */

static size_t frame_limit(const mc_conn *c) {
  size_t max = (c->cls == MC_CONN_OBSERVER || c->cls == MC_CONN_VALIDATOR)
                   ? c->owner->lim.max_frame
                   : MC_NET_SMALL_FRAME;
  return c->channel != NULL ? max + MC_CHANNEL_TAG_LEN : max;
}

void mc_conn_set_class(mc_conn *c, mc_conn_class cls) {
  mc_listener *l = c->owner;
  if (c->closing || c->cls == cls)
    return;
  if (cls == MC_CONN_VALIDATOR)
    l->nonval--;
  else if (mc__is_validator(c))
    l->nonval++;
  c->cls = cls;
  c->last_frame_ms = mc__now_ms(l);
  mc_frame_reader_set_max(&c->reader, frame_limit(c));
  mc__budget_update(c);
  mc__crowd_update(c);
  if (cls == MC_CONN_CLIENT || cls == MC_CONN_OBSERVER) {
    /* what the kernel holds for a stalled socket stays small too;
     * validator sessions keep the kernel's own sizing */
    int size = SMALL_SOCKET_BUFFER;
    uv_send_buffer_size((uv_handle_t *)&c->tcp, &size);
    size = SMALL_SOCKET_BUFFER;
    uv_recv_buffer_size((uv_handle_t *)&c->tcp, &size);
  }
  if (mc__is_validator(c))
    mc__conn_resume(c, PAUSE_RATE | PAUSE_BACKPRESSURE);
}

int mc_conn_set_channel(mc_conn *c, const mc_channel *ch) {
  if (c->channel == NULL && (c->channel = malloc(sizeof *c->channel)) == NULL)
    return MC_ENOMEM;
  *c->channel = *ch;
  mc_frame_reader_set_max(&c->reader, frame_limit(c));
  return 0;
}

/* ---- accepting and dialling ---- */

static void peer_name(uv_tcp_t *tcp, char *name, size_t namelen, char *ip,
                      size_t iplen) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  int port = 0;
  snprintf(ip, iplen, "?");
  if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) == 0) {
    if (ss.ss_family == AF_INET6) {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
      uv_ip6_name(a, ip, iplen);
      port = ntohs(a->sin6_port);
    } else {
      struct sockaddr_in *a = (struct sockaddr_in *)&ss;
      uv_ip4_name(a, ip, iplen);
      port = ntohs(a->sin_port);
    }
  }
  snprintf(name, namelen, "%s:%d", ip, port);
}

/* A connection refused at accept: never linked, freed with its handle. */
static void on_refused_closed(uv_handle_t *h) { free(h->data); }

static void link_conn(mc_listener *l, mc_conn *c) {
  c->owner = l;
  c->opened_ms = c->last_frame_ms = c->tokens_ms = mc__now_ms(l);
  c->tokens = (double)l->lim.frames_per_sec;
  mc_frame_reader_init(&c->reader, MC_NET_SMALL_FRAME);
  c->next = l->conns;
  if (l->conns)
    l->conns->prev = c;
  l->conns = c;
  l->nconns++;
  l->nonval++;
  l->alive++;
  c->bucket = mc__crowd_bucket(c->ip);
  mc__crowd_update(c);
}

static void start_reading(mc_conn *c) {
  c->connected = 1;
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_connection(uv_stream_t *server, int status) {
  mc_listener *l = server->data;
  if (status < 0 || l->closing)
    return;
  mc_conn *c = calloc(1, sizeof *c);
  if (c == NULL)
    return;
  uv_tcp_init(l->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, on_refused_closed);
    return;
  }
  peer_name(&c->tcp, c->peer, sizeof c->peer, c->ip, sizeof c->ip);
  const char *why = mc__make_room(l, c->ip);
  if (why != NULL) {
    mc__log_refusal(l, c->peer, why);
    uv_close((uv_handle_t *)&c->tcp, on_refused_closed);
    return;
  }
  l->stats.accepted++;
  link_conn(l, c);
  start_reading(c);
}

static void on_connect(uv_connect_t *req, int status) {
  mc_conn *c = req->data;
  if (status == UV_ECANCELED || c->closing)
    return; /* mc_conn_close already ran */
  if (status < 0) {
    mc_conn_close(c, uv_strerror(status));
    return;
  }
  c->opened_ms = c->last_frame_ms = mc__now_ms(c->owner);
  start_reading(c);
  if (c->on_connected)
    c->on_connected(c->owner->cb.ctx, c);
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
  c->tcp.data = c;
  snprintf(c->peer, sizeof c->peer, "%s", hostport);
  snprintf(c->ip, sizeof c->ip, "%s", host);
  c->outbound = 1;
  c->cls = MC_CONN_HANDSHAKE;
  c->data = data;
  c->on_connected = on_connected;
  c->connect_req.data = c;
  link_conn(l, c);
  *out = c;
  int rc = uv_tcp_connect(&c->connect_req, &c->tcp, (struct sockaddr *)&ss,
                          on_connect);
  if (rc != 0)
    mc_conn_close(c, uv_strerror(rc)); /* on_closed follows, as for any */
  return 0;
}

/* ---- the listener ---- */

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

static void on_listener_handle_closed(uv_handle_t *h) {
  mc_listener *l = h->data;
  l->handles--;
  maybe_free_listener(l);
}

int mc_listener_start(uv_loop_t *loop, const char *hostport,
                      const mc_net_limits *lim, const mc_net_callbacks *cb,
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
  l->cb = *cb;
  uv_tcp_init(loop, &l->tcp);
  l->tcp.data = l;
  uv_timer_init(loop, &l->sweep);
  l->sweep.data = l;
  uv_prepare_init(loop, &l->flush);
  l->flush.data = l;
  l->handles = 3;
  int uvrc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0);
  if (uvrc == 0)
    uvrc = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection);
  if (uvrc != 0) {
    snprintf(err, errlen, "cannot listen on %s: %s", hostport,
             uv_strerror(uvrc));
    l->closing = 1;
    uv_close((uv_handle_t *)&l->tcp, on_listener_handle_closed);
    uv_close((uv_handle_t *)&l->sweep, on_listener_handle_closed);
    uv_close((uv_handle_t *)&l->flush, on_listener_handle_closed);
    return MC_EIO;
  }
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &blen);
  l->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
  uv_timer_start(&l->sweep, mc__on_sweep, MC_NET_SWEEP_MS, MC_NET_SWEEP_MS);
  /* runs every turn, but never keeps the loop alive on its own */
  uv_prepare_start(&l->flush, mc__on_flush);
  uv_unref((uv_handle_t *)&l->flush);
  *out = l;
  return 0;
}

void mc_listener_close(mc_listener *l) {
  if (l == NULL || l->closing)
    return;
  l->closing = 1;
  while (l->conns != NULL)
    mc_conn_close(l->conns, "node stopping");
  uv_close((uv_handle_t *)&l->tcp, on_listener_handle_closed);
  uv_close((uv_handle_t *)&l->sweep, on_listener_handle_closed);
  uv_close((uv_handle_t *)&l->flush, on_listener_handle_closed);
}
