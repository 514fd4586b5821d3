/*
 * fuzz_handshake.c - the peer handshake (host/net/handshake.c) and the
 * frame channel (host/net/channel.c) fed a stranger's bytes.
 *
 * The input plays the other side: its first byte picks the role we take.
 * As responder we take its HELLO fields and then its AUTH; as initiator
 * its WELCOME.  Neither may crash, and none of it may verify: the input
 * cannot hold a valid signature over a transcript that includes our fresh
 * ephemeral key.  Then the rest is opened as encrypted frames with a
 * channel keyed from the (failed) handshake state, which must refuse them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/crypto.h"
#include "fuzz.h"
#include "keys.h"
#include "minichain/error.h"
#include "net/channel.h"
#include "net/handshake.h"

static mc_keypair id;
static uint8_t genesis[MC_HASH_LEN];
static mc_hs_peer self;

static void init_once(void) {
  static int done;
  if (done)
    return;
  done = 1;
  FUZZ_CHECK(mc_crypto_init() == 0);
  FUZZ_CHECK(mc_key_from_dev_name("fuzz", &id) == 0);
  memset(genesis, 0x42, sizeof genesis);
  memcpy(self.pk, id.pk, MC_PUBKEY_LEN);
}

static void as_responder(const uint8_t *d, size_t n) {
  if (n < 64)
    return;
  mc_hs hs;
  mc_hs_begin(&hs, 0, genesis);
  uint8_t *sealed = NULL;
  size_t len = 0;
  int rc = mc_hs_welcome(&hs, d, d + 32, &id, &self, &sealed, &len);
  free(sealed);
  if (rc == 0) {
    mc_hs_peer peer;
    size_t m = n - 64 > MC_HS_SEALED_MAX ? MC_HS_SEALED_MAX : n - 64;
    FUZZ_CHECK(mc_hs_finish(&hs, d + 64, m, &peer) != 0);
  }
  mc_hs_wipe(&hs);
}

static void as_initiator(const uint8_t *d, size_t n) {
  if (n < 64)
    return;
  mc_hs hs;
  mc_hs_begin(&hs, 1, genesis);
  mc_hs_peer peer;
  uint8_t *auth = NULL;
  size_t len = 0;
  size_t m = n - 64 > MC_HS_SEALED_MAX ? MC_HS_SEALED_MAX : n - 64;
  FUZZ_CHECK(mc_hs_auth(&hs, d, d + 32, d + 64, m, &id, &self, &peer, &auth,
                        &len) != 0);
  free(auth);
  mc_hs_wipe(&hs);
}

/* Frames of random bytes never open. */
static void frames(const uint8_t *d, size_t n) {
  mc_channel ch;
  memset(&ch, 0, sizeof ch);
  memset(ch.rx_key, 0x17, sizeof ch.rx_key);
  uint8_t buf[4096];
  for (size_t off = 0; off < n;) {
    size_t len = d[off] + 1u;
    off++;
    if (len > n - off)
      len = n - off;
    memcpy(buf, d + off, len);
    size_t plain;
    FUZZ_CHECK(mc_channel_open(&ch, buf, len, &plain) != 0);
    off += len;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_once();
  if (size < 1)
    return 0;
  if (data[0] & 1)
    as_responder(data + 1, size - 1);
  else
    as_initiator(data + 1, size - 1);
  frames(data + 1, size - 1);
  return 0;
}
