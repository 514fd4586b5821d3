/*
 * serve.c - answers another node's catch-up requests: GET_HEADERS (headers
 * with their commit certificates, up to MC_PEER_MAX_HEADERS) and
 * GET_BLOCKS (whole blocks, up to MC_PEER_MAX_BLOCKS), each answer cut to
 * fit one frame.
 *
 * A request costs the node one store read per block, so a non-validator
 * is charged for every block served against its rate (mc_conn_charge): a
 * batch of 64 blocks counts as 64 frames, a header as an eighth of one.
 */
#include <stdlib.h>

#include "chain/codec.h"
#include "minichain/error.h"
#include "node.h"
#include "peer/peer_internal.h"

/* Reads committed blocks from..from+count-1 (stopping at the head or at a
 * read error); returns how many are in out. */
static size_t read_blocks(mc_node *n, uint64_t from, uint32_t count,
                          mc_block **out) {
  size_t nb = 0;
  for (uint64_t h = from; nb < count && h <= mc_chain_height(n->chain); h++) {
    if (h == 0 || mc_chain_get_block(n->chain, h, &out[nb]) != 0)
      break; /* block 0 has no certificate: nobody syncs it */
    nb++;
  }
  return nb;
}

/* Encodes type (BLOCKS or HEADERS) with as many of the blocks as fit in
 * one frame. */
static int encode_fitting(const mc_node *n, uint32_t type, uint64_t rid,
                          mc_block **blocks, size_t nb, uint8_t **frame,
                          size_t *len) {
  for (;;) {
    mc_msg m = {.type = type, .rid = rid};
    m.u.blocks.blocks = blocks;
    m.u.blocks.n = nb;
    int rc = mc_msg_encode_frame(&m, frame, len);
    if (rc != 0 || *len <= n->cfg->max_frame || nb <= 1)
      return rc;
    free(*frame);
    nb /= 2;
  }
}

static int serve(mc_session *s, uint32_t type, uint64_t rid, uint64_t from,
                 uint32_t count, double cost_per_block) {
  mc_node *n = s->p->n;
  mc_block **blocks = calloc(count ? count : 1, sizeof *blocks);
  if (blocks == NULL)
    return 0; /* out of memory here is not the peer's fault */
  size_t nb = read_blocks(n, from, count, blocks);
  uint8_t *frame;
  size_t len;
  int rc = encode_fitting(n, type, rid, blocks, nb, &frame, &len);
  for (size_t i = 0; i < nb; i++)
    mc_block_free(blocks[i]);
  free(blocks);
  if (rc == 0) {
    mc_conn_charge(s->conn, cost_per_block * (double)nb);
    mc_conn_send(s->conn, frame, len);
  }
  return 0;
}

int serve_get_headers(mc_session *s, const mc_msg *req) {
  return serve(s, MC_MSG_HEADERS, req->rid, req->u.get_headers.from,
               req->u.get_headers.count, 0.125);
}

int serve_get_blocks(mc_session *s, const mc_msg *req) {
  return serve(s, MC_MSG_BLOCKS, req->rid, req->u.get_blocks.from,
               req->u.get_blocks.count, 1.0);
}
