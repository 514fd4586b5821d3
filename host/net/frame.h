/*
 * frame.h - length-prefixed framing of the TCP protocol.
 *
 * A frame is a 4-byte big-endian payload length followed by the payload (one
 * msgpack value).  The reader reassembles frames from arbitrary chunks and
 * refuses a length above its maximum before buffering it, so a peer can
 * never make a connection hold more than max_frame + 4 bytes.
 */
#ifndef MC_NET_FRAME_H
#define MC_NET_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define MC_FRAME_HEADER_LEN 4
#define MC_DEFAULT_MAX_FRAME (8u << 20)

typedef struct mc_frame_reader {
  uint8_t *buf;
  size_t len;
  size_t cap;
  size_t max_frame;
} mc_frame_reader;

/* Called once per complete frame; payload is valid only during the call.
 * A nonzero return stops feeding and is returned by mc_frame_feed. */
typedef int (*mc_frame_cb)(void *arg, const uint8_t *payload, size_t len);

void mc_frame_reader_init(mc_frame_reader *r, size_t max_frame);
void mc_frame_reader_free(mc_frame_reader *r);

/*
 * Consumes n bytes, calling cb for each frame completed.  Returns 0,
 * MC_ETOOBIG if a header announces more than max_frame (or zero) bytes,
 * MC_ENOMEM, or cb's nonzero value.  After an error the reader must not be
 * fed again.
 */
int mc_frame_feed(mc_frame_reader *r, const uint8_t *data, size_t n,
                  mc_frame_cb cb, void *arg);

/* Writes the header for a payload of len bytes. */
void mc_frame_header(uint8_t hdr[MC_FRAME_HEADER_LEN], uint32_t len);

#endif /* MC_NET_FRAME_H */
