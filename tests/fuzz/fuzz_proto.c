/*
 * fuzz_proto.c - the framed protocol's messages (host/net/proto.c), which
 * every client and peer connection hands arbitrary bytes.  Accepted
 * messages must re-encode and decode to the same type and request id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "minichain/error.h"
#include "net/frame.h"
#include "net/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mc_msg m;
  int rc = mc_msg_decode(data, size, &m);
  FUZZ_CHECK(rc == 0 || rc == MC_EDECODE || rc == MC_ENOMEM);
  if (rc != 0)
    return 0;
  uint8_t *frame;
  size_t len;
  rc = mc_msg_encode_frame(&m, &frame, &len);
  /* A decoded STATUS may hold values its encoder refuses (a chain id that
   * is not a valid one): decoding is lenient where it can be. */
  FUZZ_CHECK(rc == 0 || (rc == MC_EINVAL && m.type == MC_MSG_STATUS));
  if (rc == 0) {
    mc_msg again;
    FUZZ_CHECK(mc_msg_decode(frame + MC_FRAME_HEADER_LEN,
                             len - MC_FRAME_HEADER_LEN, &again) == 0);
    FUZZ_CHECK(again.type == m.type && again.rid == m.rid);
    mc_msg_clear(&again);
    free(frame);
  }
  mc_msg_clear(&m);
  return 0;
}
