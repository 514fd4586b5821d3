/*
 * channel.h - the encrypted frames of a peer link after its handshake.
 *
 * Each direction has its own 32-byte key (net/handshake.h derives both)
 * and a frame counter starting at 0.  A frame's payload is sealed with
 * ChaCha20-Poly1305 (IETF): nonce = 4 zero bytes || counter as 8 bytes
 * little-endian, associated data = the frame's 4-byte length header, which
 * counts the 16-byte tag.  So a frame cannot be altered, dropped, replayed
 * or moved to the other direction without the receiver failing to open
 * the next one (docs/PROTOCOL.md, "Encrypted frames").
 */
#ifndef MC_NET_CHANNEL_H
#define MC_NET_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#define MC_CHANNEL_KEY_LEN 32
#define MC_CHANNEL_TAG_LEN 16

typedef struct mc_channel {
  uint8_t tx_key[MC_CHANNEL_KEY_LEN]; /* frames we send */
  uint8_t rx_key[MC_CHANNEL_KEY_LEN]; /* frames we receive */
  uint64_t tx_count, rx_count;        /* frames sealed / opened so far */
} mc_channel;

/*
 * Seals a frame in place.  frame holds the 4-byte header and payload_len
 * bytes of payload and has room for MC_CHANNEL_TAG_LEN more; the header is
 * rewritten to payload_len + MC_CHANNEL_TAG_LEN.  Returns 0, or MC_ETOOBIG
 * (that length does not fit the header, or the counter is spent).
 */
int mc_channel_seal(mc_channel *ch, uint8_t *frame, size_t payload_len);

/*
 * Opens a received frame in place: `body` is the len bytes after the
 * header (ciphertext and tag).  On success the plaintext is body[0..
 * *plain_len).  Returns 0, or MC_ESIG when the frame is not the next one
 * sealed with the peer's key (the link must be closed).
 */
int mc_channel_open(mc_channel *ch, uint8_t *body, size_t len,
                    size_t *plain_len);

/* Erases the keys. */
void mc_channel_wipe(mc_channel *ch);

#endif /* MC_NET_CHANNEL_H */
