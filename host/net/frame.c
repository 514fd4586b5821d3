/*
 * frame.c - reassembles length-prefixed frames from a byte stream.
 *
 * Bytes are kept in one buffer from `start`; taking a frame only moves
 * `start`, and the consumed prefix is dropped when more room is needed, so
 * a burst of small frames costs no copying per frame.  The length is
 * checked as soon as its 4 bytes are in, so an oversized or empty frame is
 * refused before any of its payload is buffered.
 */
#include "net/frame.h"

#include <stdlib.h>
#include <string.h>

#include "minichain/error.h"

#define MIN_CAPACITY 4096

void mc_frame_reader_init(mc_frame_reader *r, size_t max_frame) {
  memset(r, 0, sizeof *r);
  r->max_frame = max_frame ? max_frame : MC_DEFAULT_MAX_FRAME;
}

void mc_frame_reader_free(mc_frame_reader *r) {
  free(r->buf);
  memset(r, 0, sizeof *r);
}

void mc_frame_reader_set_max(mc_frame_reader *r, size_t max_frame) {
  r->max_frame = max_frame ? max_frame : MC_DEFAULT_MAX_FRAME;
}

void mc_frame_header(uint8_t hdr[MC_FRAME_HEADER_LEN], uint32_t len) {
  hdr[0] = (uint8_t)(len >> 24);
  hdr[1] = (uint8_t)(len >> 16);
  hdr[2] = (uint8_t)(len >> 8);
  hdr[3] = (uint8_t)len;
}

uint32_t mc_frame_length(const uint8_t hdr[MC_FRAME_HEADER_LEN]) {
  return ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) |
         ((uint32_t)hdr[2] << 8) | (uint32_t)hdr[3];
}

/* The capacity that holds `need` bytes: doubling from MIN_CAPACITY, but
 * never past what a maximal frame and one read take (so an 8 MiB frame
 * holds 8 MiB and a little, not 16). */
static size_t grown(const mc_frame_reader *r, size_t need) {
  if (need <= r->cap)
    return r->cap;
  size_t c = r->cap ? r->cap : MIN_CAPACITY;
  while (c < need)
    c *= 2;
  size_t most = r->max_frame + MC_FRAME_HEADER_LEN + MC_FRAME_READ_MAX;
  return c > most && need <= most ? most : c;
}

size_t mc_frame_reader_need(const mc_frame_reader *r, size_t n) {
  /* append drops the consumed prefix before it grows the buffer */
  return grown(r, r->len + n);
}

size_t mc_frame_reader_capacity(const mc_frame_reader *r) { return r->cap; }

int mc_frame_reader_append(mc_frame_reader *r, const uint8_t *data, size_t n) {
  if (n == 0)
    return 0;
  if (r->start + r->len + n > r->cap && r->start > 0) {
    memmove(r->buf, r->buf + r->start, r->len);
    r->start = 0;
  }
  size_t cap = grown(r, r->len + n);
  if (cap != r->cap) {
    uint8_t *p = realloc(r->buf, cap);
    if (p == NULL)
      return MC_ENOMEM;
    r->buf = p;
    r->cap = cap;
  }
  memcpy(r->buf + r->start + r->len, data, n);
  r->len += n;
  return 0;
}

int mc_frame_reader_next(mc_frame_reader *r, uint8_t **payload, size_t *len) {
  if (r->len < MC_FRAME_HEADER_LEN)
    return 0;
  size_t n = mc_frame_length(r->buf + r->start);
  if (n == 0 || n > r->max_frame)
    return MC_ETOOBIG;
  if (r->len - MC_FRAME_HEADER_LEN < n)
    return 0;
  *payload = r->buf + r->start + MC_FRAME_HEADER_LEN;
  *len = n;
  r->start += MC_FRAME_HEADER_LEN + n;
  r->len -= MC_FRAME_HEADER_LEN + n;
  if (r->len == 0)
    r->start = 0; /* the payload stays readable: nothing overwrites it yet */
  return 1;
}

int mc_frame_feed(mc_frame_reader *r, const uint8_t *data, size_t n,
                  mc_frame_cb cb, void *arg) {
  int rc = mc_frame_reader_append(r, data, n);
  while (rc == 0) {
    uint8_t *p;
    size_t len;
    int got = mc_frame_reader_next(r, &p, &len);
    if (got <= 0)
      return got;
    rc = cb(arg, p, len);
  }
  return rc;
}
