/*
 * send.c - the sending side of a connection (net.h: mc_conn_send).
 *
 * Frames sent during one loop turn are gathered per connection and handed
 * to libuv together, from the listener's prepare handle (which runs just
 * before the loop waits for I/O again), as one uv_write of all of them: a
 * node answering four hundred requests that arrived in one read makes one
 * write system call, not four hundred.  Nothing waits longer than the
 * rest of the turn in which it was sent: the loop never sleeps with
 * frames gathered.
 *
 * Memory is counted when a frame is sent, not when it reaches libuv, so
 * the limits of limits.c see gathered frames the same as written ones.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "minichain/error.h"
#include "net/net_internal.h"

/* One uv_write: the frames of one connection from one loop turn. */
typedef struct write_req {
  uv_write_t req;
  mc_conn *conn;
  uint8_t **frames;
  size_t nframes;
  size_t mem; /* what they count in conn->queued */
} write_req;

static void free_frames(uint8_t **frames, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(frames[i]);
  free(frames);
}

static void on_write(uv_write_t *req, int status) {
  write_req *w = (write_req *)req;
  mc_conn *c = w->conn;
  c->queued -= w->mem;
  free_frames(w->frames, w->nframes);
  free(w);
  if (c->closing)
    return;
  mc__budget_update(c);
  if (status < 0) {
    mc_conn_close(c, uv_strerror(status));
    return;
  }
  if (c->queued <= MC_NET_HIGH_WATER / 2) {
    c->stalled_ms = 0;
    mc__conn_resume(c, PAUSE_BACKPRESSURE);
  }
}

/* What one gathered frame costs in memory, besides its own allocation:
 * its slots in the two arrays (counted at their final size, roughly). */
#define SLOT_MEM (sizeof(uint8_t *) + sizeof(uv_buf_t))

static void link_unflushed(mc_conn *c) {
  mc_listener *l = c->owner;
  c->uf_prev = NULL;
  c->uf_next = l->unflushed;
  if (l->unflushed != NULL)
    l->unflushed->uf_prev = c;
  l->unflushed = c;
}

static void unlink_unflushed(mc_conn *c) {
  if (c->uf_prev != NULL)
    c->uf_prev->uf_next = c->uf_next;
  else
    c->owner->unflushed = c->uf_next;
  if (c->uf_next != NULL)
    c->uf_next->uf_prev = c->uf_prev;
  c->uf_prev = c->uf_next = NULL;
}

void mc__conn_flush(mc_conn *c) {
  if (c->nout == 0)
    return;
  unlink_unflushed(c);
  uint8_t **frames = c->out;
  uv_buf_t *bufs = c->outbufs;
  size_t n = c->nout;
  c->out = NULL;
  c->outbufs = NULL;
  c->nout = c->outcap = 0;
  write_req *w = malloc(sizeof *w);
  if (w == NULL) {
    free(bufs);
    free_frames(frames, n);
    mc_conn_close(c, "out of memory");
    return;
  }
  w->conn = c;
  w->frames = frames;
  w->nframes = n;
  w->mem = c->unflushed_mem;
  c->unflushed_mem = 0;
  /* libuv copies the buffer array; the frames stay ours until on_write */
  int uvrc = uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, (unsigned)n,
                      on_write);
  free(bufs);
  if (uvrc != 0) {
    c->queued -= w->mem;
    free_frames(frames, n);
    free(w);
    mc_conn_close(c, uv_strerror(uvrc));
  }
}

void mc__conn_drop_unflushed(mc_conn *c) {
  if (c->nout == 0)
    return;
  unlink_unflushed(c);
  free_frames(c->out, c->nout);
  free(c->outbufs);
  c->out = NULL;
  c->outbufs = NULL;
  c->nout = c->outcap = 0;
  c->queued -= c->unflushed_mem;
  c->unflushed_mem = 0;
}

void mc__on_flush(uv_prepare_t *h) {
  mc_listener *l = h->data;
  while (l->unflushed != NULL)
    mc__conn_flush(l->unflushed); /* unlinks it */
}

/* Seals the frame in place when the link is encrypted (it grows by the
 * tag).  Returns 0 or an error; *frame is freed on error. */
static int seal(mc_conn *c, uint8_t **frame, size_t *len) {
  if (c->channel == NULL)
    return 0;
  uint8_t *p = realloc(*frame, *len + MC_CHANNEL_TAG_LEN);
  if (p == NULL) {
    free(*frame);
    return MC_ENOMEM;
  }
  int rc = mc_channel_seal(c->channel, p, *len - MC_FRAME_HEADER_LEN);
  if (rc != 0) {
    free(p);
    return rc;
  }
  *frame = p;
  *len += MC_CHANNEL_TAG_LEN;
  return 0;
}

/* Refuses a frame that would take c over its queue limit or the shared
 * budget (closing c: it is not keeping up).  Returns 0 or MC_EFULL. */
static int admit_frame(mc_conn *c, size_t mem) {
  mc_listener *l = c->owner;
  if (c->queued + mem > l->lim.max_send_queue) {
    l->stats.closed_queue++;
    mc_conn_close(c, "send queue full");
    return MC_EFULL;
  }
  return mc__budget_room(c, mem) ? 0 : MC_EFULL;
}

static int gather(mc_conn *c, uint8_t *frame, size_t len) {
  if (c->nout == c->outcap) {
    size_t cap = c->outcap ? c->outcap * 2 : 16;
    uint8_t **out = realloc(c->out, cap * sizeof *out);
    if (out == NULL)
      return MC_ENOMEM;
    c->out = out;
    uv_buf_t *bufs = realloc(c->outbufs, cap * sizeof *bufs);
    if (bufs == NULL)
      return MC_ENOMEM;
    c->outbufs = bufs;
    c->outcap = cap;
  }
  c->out[c->nout] = frame;
  c->outbufs[c->nout] = uv_buf_init((char *)frame, (unsigned)len);
  if (c->nout++ == 0)
    link_unflushed(c);
  return 0;
}

int mc_conn_send(mc_conn *c, uint8_t *frame, size_t len) {
  if (c->closing || !c->connected) {
    free(frame);
    return MC_ENOTCONN;
  }
  int rc = seal(c, &frame, &len);
  if (rc != 0)
    return rc;
  size_t mem = malloc_usable_size(frame) + SLOT_MEM;
  if (c->nout == 0)
    mem += sizeof(write_req);
  if ((rc = admit_frame(c, mem)) != 0 || (rc = gather(c, frame, len)) != 0) {
    free(frame);
    return rc;
  }
  c->queued += mem;
  c->unflushed_mem += mem;
  mc__budget_update(c);
  if (c->stalled_ms == 0 && mc_conn_congested(c))
    c->stalled_ms = mc__now_ms(c->owner);
  if (c->queued > MC_NET_HIGH_WATER && !mc__is_validator(c)) {
    c->owner->stats.paused_backpressure++;
    mc__conn_pause(c, PAUSE_BACKPRESSURE);
  }
  return 0;
}
