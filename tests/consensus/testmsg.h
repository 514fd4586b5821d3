/*
 * testmsg.h - hand-built poa messages for the consensus unit tests, and a
 * recorder of what one node puts on the wire.
 *
 * The bytes are those of docs/CONSENSUS.md, built here independently of
 * the plugin, and signed through the test host (th_sign_as) as the named
 * validator of a cluster's chain would sign them.  Buffers are freed by
 * the caller with msgpack_sbuffer_destroy(&o->sb).
 */
#ifndef MC_TEST_TESTMSG_H
#define MC_TEST_TESTMSG_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "testhost.h"

typedef struct out_buf {
  msgpack_sbuffer sb;
  msgpack_packer pk;
} out_buf;

void out_init(out_buf *o);
void pack_str(msgpack_packer *pk, const char *s);

/* [tag, h, v, hash] signed by validator `val` on cl's chain. */
void sign_vote(th_cluster *cl, uint32_t val, const char *tag, uint64_t h,
               uint64_t v, const uint8_t *hash, uint8_t *sig);
/* An ACK or COMMIT on the wire: [tag, h, v, hash, signer, sig]. */
void pack_vote(out_buf *o, const char *tag, uint64_t h, uint64_t v,
               const uint8_t *hash, uint32_t signer, const uint8_t *sig);
/* A PROPOSE for (h, 0) of block b by validator `leader`, no
 * justification. */
void pack_propose(th_cluster *cl, out_buf *o, uint32_t leader,
                  const mc_block *b);
/* A VIEWCHANGE for (h, v) without a lock (nor block), signed by `val`. */
void pack_plain_vc(th_cluster *cl, out_buf *o, uint32_t val, uint64_t h,
                   uint64_t v);
/* A siglist [[signer, sig], ...]: `tag` votes for (h, v, hash) by the
 * validators signers[0..n). */
void pack_siglist(th_cluster *cl, msgpack_packer *pk, const char *tag,
                  uint64_t h, uint64_t v, const uint8_t *hash,
                  const uint32_t *signers, uint32_t n);
/* A VIEWCHANGE for (h, v) by `val` carrying the prepared certificate
 * [pview, hash, ACKs of signers] (and no block). */
void pack_locked_vc(th_cluster *cl, out_buf *o, uint32_t val, uint64_t h,
                    uint64_t v, uint64_t pview, const uint8_t *hash,
                    const uint32_t *signers, uint32_t n);
/* A PROPOSE of block b at (b's height, v) by `leader` whose justification
 * is the messages just[0..n) (copied). */
void pack_propose_just(th_cluster *cl, out_buf *o, uint32_t leader,
                       const mc_block *b, uint64_t v, const out_buf *just,
                       uint32_t n);
/* A commit certificate ["mc-poa-cert-v1", h, v, hash, COMMITs of
 * signers]. */
void pack_commit_cert(th_cluster *cl, out_buf *o, uint64_t h, uint64_t v,
                      const uint8_t *hash, const uint32_t *signers,
                      uint32_t n);

/* Hands o's bytes to node `to`'s engine as if `from` had sent them, frees
 * them, and returns on_message's code. */
int deliver_out(th_cluster *cl, uint32_t to, uint32_t from, out_buf *o);

/* The tag, height and view of a plugin message (0 if not one). */
int peek(const uint8_t *msg, size_t len, char *tag, size_t taglen, uint64_t *h,
         uint64_t *v);

/* ---- what one node sends ---- */

enum { K_PROPOSE, K_ACK, K_COMMIT, K_VIEWCHANGE, K_KINDS };

typedef struct sent_msg {
  int kind; /* K_* */
  uint64_t h, v;
  int locked; /* a VIEWCHANGE carrying a prepared certificate */
  uint8_t sig[64];
} sent_msg;

/* A simnet filter's state: every message `node` sends (one entry per
 * recipient), all let through unless drop_tag names a kind to lose on
 * its way from anyone (at height drop_h, or any height if 0). */
typedef struct sent_log {
  uint32_t node;
  const char *drop_tag;
  uint64_t drop_h;
  uint64_t count[K_KINDS];
  sent_msg *m;
  size_t n, cap;
} sent_log;

/* The simnet filter that fills a sent_log (arg). */
int sent_log_filter(void *arg, uint32_t from, uint32_t to, const uint8_t *msg,
                    size_t len);
uint64_t sent_total(const sent_log *l);
void sent_log_free(sent_log *l);

#endif /* MC_TEST_TESTMSG_H */
