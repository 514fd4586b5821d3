/*
 * frame.c - reassembles length-prefixed frames from a byte stream.
 *
 * The length is checked as soon as its 4 bytes are in, so an oversized or
 * empty frame is refused before any of its payload is buffered.
 */
#include "net/frame.h"

#include <stdlib.h>
#include <string.h>

#include "minichain/error.h"

void mc_frame_reader_init(mc_frame_reader *r, size_t max_frame) {
  memset(r, 0, sizeof *r);
  r->max_frame = max_frame ? max_frame : MC_DEFAULT_MAX_FRAME;
}

void mc_frame_reader_free(mc_frame_reader *r) {
  free(r->buf);
  memset(r, 0, sizeof *r);
}

void mc_frame_header(uint8_t hdr[MC_FRAME_HEADER_LEN], uint32_t len) {
  hdr[0] = (uint8_t)(len >> 24);
  hdr[1] = (uint8_t)(len >> 16);
  hdr[2] = (uint8_t)(len >> 8);
  hdr[3] = (uint8_t)len;
}

static size_t frame_length(const uint8_t *p) {
  return ((size_t)p[0] << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) |
         (size_t)p[3];
}

static int reserve(mc_frame_reader *r, size_t need) {
  if (need <= r->cap)
    return 0;
  size_t cap = r->cap ? r->cap : 4096;
  while (cap < need)
    cap *= 2;
  uint8_t *p = realloc(r->buf, cap);
  if (p == NULL)
    return MC_ENOMEM;
  r->buf = p;
  r->cap = cap;
  return 0;
}

/* Delivers every complete frame at the front of the buffer, then moves
 * the incomplete tail (if any) to the front. */
static int drain(mc_frame_reader *r, mc_frame_cb cb, void *arg) {
  size_t off = 0;
  int rc = 0;
  while (r->len - off >= MC_FRAME_HEADER_LEN) {
    size_t n = frame_length(r->buf + off);
    if (n == 0 || n > r->max_frame) {
      rc = MC_ETOOBIG;
      break;
    }
    if (r->len - off - MC_FRAME_HEADER_LEN < n)
      break;
    rc = cb(arg, r->buf + off + MC_FRAME_HEADER_LEN, n);
    off += MC_FRAME_HEADER_LEN + n;
    if (rc != 0)
      break;
  }
  memmove(r->buf, r->buf + off, r->len - off);
  r->len -= off;
  return rc;
}

int mc_frame_feed(mc_frame_reader *r, const uint8_t *data, size_t n,
                  mc_frame_cb cb, void *arg) {
  while (n > 0) {
    /* Never buffer more than one maximal frame plus its header. */
    size_t room = r->max_frame + MC_FRAME_HEADER_LEN - r->len;
    size_t take = n < room ? n : room;
    int rc = reserve(r, r->len + take);
    if (rc != 0)
      return rc;
    memcpy(r->buf + r->len, data, take);
    r->len += take;
    data += take;
    n -= take;
    rc = drain(r, cb, arg);
    if (rc != 0)
      return rc;
  }
  return 0;
}
