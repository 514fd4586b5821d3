/*
 * channel.c - sealing and opening the frames of an established peer link
 * (channel.h) with libsodium's ChaCha20-Poly1305 (IETF).
 */
#include "net/channel.h"

#include <sodium.h>
#include <string.h>

#include "minichain/error.h"
#include "net/frame.h"

static void nonce_of(uint64_t counter,
                     uint8_t n[crypto_aead_chacha20poly1305_IETF_NPUBBYTES]) {
  memset(n, 0, crypto_aead_chacha20poly1305_IETF_NPUBBYTES);
  for (int i = 0; i < 8; i++)
    n[4 + i] = (uint8_t)(counter >> (8 * i));
}

int mc_channel_seal(mc_channel *ch, uint8_t *frame, size_t payload_len) {
  if (payload_len > UINT32_MAX - MC_CHANNEL_TAG_LEN || ch->tx_count == UINT64_MAX)
    return MC_ETOOBIG;
  uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
  nonce_of(ch->tx_count++, nonce);
  mc_frame_header(frame, (uint32_t)(payload_len + MC_CHANNEL_TAG_LEN));
  uint8_t *body = frame + MC_FRAME_HEADER_LEN;
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(
      body, body + payload_len, NULL, body, payload_len, frame,
      MC_FRAME_HEADER_LEN, NULL, nonce, ch->tx_key);
  return 0;
}

int mc_channel_open(mc_channel *ch, uint8_t *body, size_t len,
                    size_t *plain_len) {
  if (len < MC_CHANNEL_TAG_LEN || len > UINT32_MAX || ch->rx_count == UINT64_MAX)
    return MC_ESIG;
  uint8_t hdr[MC_FRAME_HEADER_LEN], nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
  mc_frame_header(hdr, (uint32_t)len);
  nonce_of(ch->rx_count, nonce);
  size_t n = len - MC_CHANNEL_TAG_LEN;
  if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
          body, NULL, body, n, body + n, hdr, sizeof hdr, nonce,
          ch->rx_key) != 0)
    return MC_ESIG;
  ch->rx_count++;
  *plain_len = n;
  return 0;
}

void mc_channel_wipe(mc_channel *ch) { sodium_memzero(ch, sizeof *ch); }
