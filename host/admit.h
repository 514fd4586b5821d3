/*
 * admit.h - transfers on their way into the mempool: from clients
 * (SUBMIT_TX, answered with SUBMIT_RESULT) and from peers (gossiped TX,
 * relayed once admitted).
 *
 * Each transfer first meets the mempool's cheap checks (mc_mempool_check);
 * one they refuse costs no verification.  The
 * others wait for the end of the loop turn and go, as one batch, to the
 * verifier's threads; when a batch's signatures are in, its transfers are
 * admitted (mc_mempool_add_verified) in the order they arrived, and
 * answered.  A refusal waits for the transfers before it, so a client's
 * SUBMIT_RESULTs come in the order of its SUBMIT_TXs; answers to its other
 * requests may overtake them (every answer carries its request id).
 *
 * A client's transfer refused only for being too far ahead of its
 * sender's next nonce (MC_ENONCEGAP) is verified all the same: the
 * transfers before it may be in the same or an earlier batch, not in the
 * pool yet.  A peer's is dropped, as is a peer's copy of a transfer
 * already waiting here (every peer relays what it admits): gossip is
 * optional, and a node that verified a transfer once in a block
 * (mc_admit_note_verified) does not verify its gossiped copy.
 *
 * Bounded: at most MC_ADMIT_MAX_WAITING transfers wait or are being
 * verified.  Past that a client connection stops being read until half of
 * them are done, and a gossiped transfer is dropped (gossip is optional;
 * the transfer reaches the leader from its own node).
 *
 * Loop thread only.
 */
#ifndef MC_ADMIT_H
#define MC_ADMIT_H

#include <stdint.h>

#include "minichain/types.h"
#include "net/net.h"

#define MC_ADMIT_MAX_BATCH 512
#define MC_ADMIT_MAX_WAITING 16384

typedef struct mc_admit mc_admit;
struct mc_node;

/* Starts admission for node n (its loop, mempool, verifier and peers).
 * Returns 0 or MC_ENOMEM. */
int mc_admit_new(struct mc_node *n, mc_admit **out);

/*
 * A transfer from connection c: a client's SUBMIT_TX with request id rid
 * (from_client 1: answered with SUBMIT_RESULT), or a peer's TX (0: no
 * answer; relayed to the other peers once admitted).  tx (its id filled
 * in, as the decoder does) is copied.
 */
void mc_admit_tx(mc_admit *a, mc_conn *c, uint64_t rid, const mc_tx *tx,
                 int from_client);

/* tx (its id filled in) was verified elsewhere (in a block): a copy with
 * the same signature waiting here is not verified again. */
void mc_admit_note_verified(mc_admit *a, const mc_tx *tx);

/* Transfers waiting or being verified now. */
size_t mc_admit_waiting(const mc_admit *a);

/* Drops every waiting transfer unanswered and frees a once its handle is
 * closed (keep running the loop).  The verifier must be closed first, so
 * that no batch is still being checked.  NULL is a no-op. */
void mc_admit_close(mc_admit *a);

#endif /* MC_ADMIT_H */
