/*
 * raft_fsm.c - raft.so's state machine: what a committed raft entry does.
 *
 * An entry is one proposed block with its certificate:
 *
 *   "MCRB" | certificate (raft_cert.c, fixed length) | block encoding
 *
 * When Raft commits it, every node's apply decodes it and, if the block's
 * height is exactly the chain head + 1, hands it to commit_block with the
 * certificate.  Anything else is skipped, the same way on every node: a
 * block at or below the head is already there (committed by an earlier
 * entry, or fetched by the host's sync), and a block above head + 1 means
 * this node is behind and the host's sync will bring the certified blocks.
 * apply never fails: libraft treats an apply error as fatal for the node,
 * and an entry that cannot be applied here cannot be applied anywhere.
 *
 * Why a leader waits for its chain to reach the floor (raft_engine.h)
 * before it proposes: a leader builds on its own head, and a leader whose
 * chain lags what Raft has ordered (it skipped entries as "behind", or
 * restored a snapshot) would build a second block for a height that
 * already has one, commit it itself (its head is one below) and fork from
 * everyone else, who skip it.  With the rule, every proposal is above
 * every height in the applied log, so block heights in the committed log
 * only grow and no height is ever committed twice.  The price: if the
 * only copies of the blocks up to the floor are on crashed nodes, the
 * leader waits for them to return (sync brings the blocks).
 *
 * The "snapshot" is the chain itself, which is in the host's store: its
 * data is only (height, hash), and restoring one raises the floor to that
 * height; the host's sync fetches the blocks.
 */
#include <stdlib.h>
#include <string.h>

#include "raft_engine.h"

static const uint8_t ENTRY_MAGIC[4] = {'M', 'C', 'R', 'B'};
#define ENTRY_HEAD (sizeof ENTRY_MAGIC + RE_CERT_LEN)

int re_entry_make(mc_consensus *c, uint64_t term, const mc_block *b,
                  void **out, size_t *len) {
  uint8_t *enc = NULL;
  size_t enc_len = 0;
  int rc = c->api->encode_block(c->host, b, &enc, &enc_len);
  if (rc != 0)
    return rc;
  uint8_t *e = raft_malloc(ENTRY_HEAD + enc_len);
  if (e == NULL) {
    c->api->buf_free(c->host, enc);
    return MC_ENOMEM;
  }
  memcpy(e, ENTRY_MAGIC, sizeof ENTRY_MAGIC);
  rc = re_cert_make(c, term, b->header.height, b->hash,
                    e + sizeof ENTRY_MAGIC);
  memcpy(e + ENTRY_HEAD, enc, enc_len);
  c->api->buf_free(c->host, enc);
  if (rc != 0) {
    raft_free(e);
    return rc;
  }
  *out = e;
  *len = ENTRY_HEAD + enc_len;
  return 0;
}

static void log_skip(mc_consensus *c, const char *why, uint64_t height) {
  re_log(c, MC_LOG_INFO, "entry_skipped",
         (mc_log_field[]){MC_LOG_F_S("reason", why),
                          MC_LOG_F_U("block_height", height),
                          MC_LOG_F_U("head", c->head)},
         3);
}

/* Commits b with cert if it is the next block; logs why not otherwise. */
static void apply_block(mc_consensus *c, const mc_block *b,
                        const uint8_t *cert) {
  uint64_t head;
  uint8_t hash[MC_HASH_LEN];
  if (c->api->head(c->host, &head, hash) != 0) {
    log_skip(c, "no_head", b->header.height);
    return;
  }
  c->head = head;
  /* ordered, whether or not this node can apply it (not on a failed
   * commit below: a block no node could commit must not stop proposals) */
  if (b->header.height != head + 1 && b->header.height > c->floor)
    c->floor = b->header.height;
  if (b->header.height <= head) {
    log_skip(c, "at_or_below_head", b->header.height);
    return;
  }
  if (b->header.height != head + 1) {
    log_skip(c, "behind_head_sync_brings_it", b->header.height);
    return;
  }
  int rc = re_cert_verify(c, b, cert, RE_CERT_LEN);
  if (rc == 0)
    rc = c->api->commit_block(c->host, b, cert, RE_CERT_LEN);
  if (rc == 0 && b->header.height > c->floor)
    c->floor = b->header.height;
  if (rc != 0)
    re_log(c, MC_LOG_ERROR, "commit_failed",
           (mc_log_field[]){MC_LOG_F_U("block_height", b->header.height),
                            MC_LOG_F_S("reason", mc_err_name(rc))},
           2);
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
                     void **result) {
  mc_consensus *c = fsm->data;
  *result = NULL;
  if (buf->len <= ENTRY_HEAD ||
      memcmp(buf->base, ENTRY_MAGIC, sizeof ENTRY_MAGIC) != 0) {
    log_skip(c, "not_a_block_entry", 0);
    return 0;
  }
  const uint8_t *p = buf->base;
  mc_block *b = NULL;
  if (c->api->decode_block(c->host, p + ENTRY_HEAD, buf->len - ENTRY_HEAD,
                           &b) != 0) {
    log_skip(c, "undecodable_block", 0);
    return 0;
  }
  apply_block(c, b, p + sizeof ENTRY_MAGIC);
  c->api->block_free(c->host, b);
  return 0;
}

void re_snapshot_data(uint64_t height, const uint8_t hash[MC_HASH_LEN],
                      uint8_t out[RE_SNAPSHOT_DATA_LEN]) {
  for (int i = 0; i < 8; i++)
    out[i] = (uint8_t)(height >> (56 - 8 * i));
  memcpy(out + 8, hash, MC_HASH_LEN);
}

int re_snapshot_parse(const void *p, size_t len, uint64_t *height,
                      uint8_t hash[MC_HASH_LEN]) {
  if (p == NULL || len != RE_SNAPSHOT_DATA_LEN)
    return MC_EDECODE;
  const uint8_t *b = p;
  uint64_t h = 0;
  for (int i = 0; i < 8; i++)
    h = (h << 8) | b[i];
  *height = h;
  memcpy(hash, b + 8, MC_HASH_LEN);
  return 0;
}

int re_snapshot_now(mc_consensus *c, uint64_t *height,
                    uint8_t hash[MC_HASH_LEN]) {
  int rc = c->api->head(c->host, height, hash);
  if (rc != 0)
    return rc;
  if (*height < c->floor) {
    *height = c->floor;
    memset(hash, 0, MC_HASH_LEN);
  }
  return 0;
}

/* libraft asks for a snapshot every RE_SNAPSHOT_THRESHOLD applied entries:
 * the state is the chain, so the data is how far it is ordered now. */
static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                        unsigned *n_bufs) {
  mc_consensus *c = fsm->data;
  uint64_t head;
  uint8_t hash[MC_HASH_LEN];
  if (re_snapshot_now(c, &head, hash) != 0)
    return RAFT_BUSY; /* libraft retries at the next threshold */
  struct raft_buffer *b = raft_malloc(sizeof *b);
  void *data = raft_malloc(RE_SNAPSHOT_DATA_LEN);
  if (b == NULL || data == NULL) {
    raft_free(b);
    raft_free(data);
    return RAFT_NOMEM;
  }
  re_snapshot_data(head, hash, data);
  b->base = data;
  b->len = RE_SNAPSHOT_DATA_LEN;
  *bufs = b;
  *n_bufs = 1;
  return 0;
}

/* A snapshot from the leader (or our own, at start): the blocks up to its
 * height come through the host's sync, not through Raft. */
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf) {
  mc_consensus *c = fsm->data;
  uint64_t height;
  uint8_t hash[MC_HASH_LEN];
  if (re_snapshot_parse(buf->base, buf->len, &height, hash) != 0)
    return RAFT_MALFORMED;
  raft_free(buf->base); /* ours on success (libraft's rule) */
  if (height > c->floor)
    c->floor = height;
  re_log(c, MC_LOG_INFO, "snapshot_restored",
         (mc_log_field[]){MC_LOG_F_U("snapshot_height", height),
                          MC_LOG_F_HEX("snapshot_hash", hash, MC_HASH_LEN),
                          MC_LOG_F_U("head", c->head)},
         3);
  return 0;
}

void re_fsm_init(mc_consensus *c) {
  memset(&c->fsm, 0, sizeof c->fsm);
  c->fsm.version = 1;
  c->fsm.data = c;
  c->fsm.apply = fsm_apply;
  c->fsm.snapshot = fsm_snapshot;
  c->fsm.restore = fsm_restore;
}
