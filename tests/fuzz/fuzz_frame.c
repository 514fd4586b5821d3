/*
 * fuzz_frame.c - the frame reader (host/net/frame.c) fed a byte stream in
 * chunks whose sizes the input chooses.  Every frame it delivers fits the
 * maximum and the reader never holds more than one frame.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "minichain/error.h"
#include "net/frame.h"

#define FUZZ_MAX_FRAME 4096

static int on_frame(void *arg, uint8_t *payload, size_t len) {
  (void)payload;
  FUZZ_CHECK(len >= 1 && len <= FUZZ_MAX_FRAME);
  (*(size_t *)arg)++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  /* The first byte picks the chunk size, the rest is the stream. */
  size_t chunk = (size_t)data[0] + 1;
  mc_frame_reader r;
  mc_frame_reader_init(&r, FUZZ_MAX_FRAME);
  size_t frames = 0;
  for (size_t off = 1; off < size; off += chunk) {
    size_t n = size - off < chunk ? size - off : chunk;
    int rc = mc_frame_feed(&r, data + off, n, on_frame, &frames);
    FUZZ_CHECK(rc == 0 || rc == MC_ETOOBIG || rc == MC_ENOMEM);
    FUZZ_CHECK(r.len <= FUZZ_MAX_FRAME + MC_FRAME_HEADER_LEN);
    if (rc != 0)
      break;
  }
  mc_frame_reader_free(&r);
  return 0;
}
