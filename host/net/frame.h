/*
 * frame.h - length-prefixed framing of the TCP protocol.
 *
 * A frame is a 4-byte big-endian payload length followed by the payload (one
 * msgpack value, or on an encrypted peer link its sealed form).  The reader
 * takes bytes as they arrive and hands out whole frames one at a time, so
 * its owner can stop taking frames (rate limit, backpressure) and resume
 * later without losing what is buffered.  A header announcing more than the
 * reader's maximum is refused before any of that frame is buffered, and the
 * buffer grows with the bytes actually received, never with a length a
 * peer merely announces.
 */
#ifndef MC_NET_FRAME_H
#define MC_NET_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define MC_FRAME_HEADER_LEN 4
#define MC_DEFAULT_MAX_FRAME (8u << 20)
/* The most one read from the socket appends (net.c reads 64 KiB at a
 * time): a reader never needs more than a maximal frame, its header and
 * this much, and never grows its buffer past that. */
#define MC_FRAME_READ_MAX (64u << 10)

typedef struct mc_frame_reader {
  uint8_t *buf;
  size_t start;     /* first unconsumed byte */
  size_t len;       /* bytes buffered from start */
  size_t cap;       /* bytes allocated */
  size_t max_frame; /* largest payload accepted */
} mc_frame_reader;

/* Called once per complete frame by mc_frame_feed; payload is valid only
 * during the call.  A nonzero return stops feeding and is returned. */
typedef int (*mc_frame_cb)(void *arg, uint8_t *payload, size_t len);

/* An empty reader refusing payloads above max_frame (0: the default). */
void mc_frame_reader_init(mc_frame_reader *r, size_t max_frame);
void mc_frame_reader_free(mc_frame_reader *r);

/* Changes the maximum for frames not yet started (a peer link that has
 * authenticated may send larger frames than a stranger). */
void mc_frame_reader_set_max(mc_frame_reader *r, size_t max_frame);

/* Bytes the reader would hold allocated after appending n more: what a
 * caller with a memory budget checks before mc_frame_reader_append. */
size_t mc_frame_reader_need(const mc_frame_reader *r, size_t n);

/* Bytes allocated now. */
size_t mc_frame_reader_capacity(const mc_frame_reader *r);

/* Buffers n bytes.  Returns 0 or MC_ENOMEM (nothing buffered). */
int mc_frame_reader_append(mc_frame_reader *r, const uint8_t *data, size_t n);

/*
 * Takes the next complete frame: returns 1 with *payload / *len set (the
 * payload stays valid and writable until the next call on r), 0 when no
 * whole frame is buffered, or MC_ETOOBIG when the next header announces
 * 0 or more than max_frame bytes (the reader must not be used again).
 */
int mc_frame_reader_next(mc_frame_reader *r, uint8_t **payload, size_t *len);

/*
 * Appends n bytes, then calls cb for each complete frame.  Returns 0,
 * MC_ETOOBIG, MC_ENOMEM, or cb's nonzero value (feeding stops there).
 */
int mc_frame_feed(mc_frame_reader *r, const uint8_t *data, size_t n,
                  mc_frame_cb cb, void *arg);

/* Writes the header for a payload of len bytes. */
void mc_frame_header(uint8_t hdr[MC_FRAME_HEADER_LEN], uint32_t len);

/* Reads a header. */
uint32_t mc_frame_length(const uint8_t hdr[MC_FRAME_HEADER_LEN]);

#endif /* MC_NET_FRAME_H */
