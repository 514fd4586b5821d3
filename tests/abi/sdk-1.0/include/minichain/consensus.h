/*
 * minichain/consensus.h - the vtable a consensus plugin provides.
 *
 * The consensus engine decides which block is committed at each height.
 * The host owns networking, the mempool and the store; the engine drives
 * them through mc_host_api (build_block, validate_block, commit_block,
 * send/broadcast of its own opaque messages, timers, durable state).
 *
 * The engine also owns the proof that a block is final, the commit
 * certificate: it passes the certificate bytes to commit_block, the host
 * stores them beside the block, and when blocks arrive by sync the host asks
 * verify_certificate whether they are final.
 *
 * Lifecycle, all on the loop thread:
 *   create -> start -> (on_message | on_commit | on_peer | timers)* ->
 *   stop -> (host runs the loop until its handles are closed) -> destroy.
 *
 * ABI: `size` first; fields only appended.  Required in ABI 1.0: every
 * field up to and including verify_certificate.  Optional (may be NULL):
 * on_peer, status.
 */
#ifndef MINICHAIN_CONSENSUS_H
#define MINICHAIN_CONSENSUS_H

#include <stddef.h>
#include <stdint.h>

#include "minichain/host.h"
#include "minichain/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mc_consensus mc_consensus; /* the plugin's own instance */

/* Chain parameters from the genesis file. */
typedef struct mc_consensus_params {
  size_t size;                /* sizeof(mc_consensus_params); first */
  uint64_t block_interval_ms; /* target time between blocks */
  uint64_t view_timeout_ms;   /* base timeout before a view change */
  uint32_t max_txs_per_block;
} mc_consensus_params;

/* What the host shows in its status output. */
typedef struct mc_consensus_status {
  uint64_t height; /* height being decided */
  uint64_t view;   /* current view (round) at that height */
  int32_t leader;  /* validator index leading that view, -1 if unknown */
} mc_consensus_status;

typedef struct mc_consensus_vtable {
  size_t size; /* sizeof(mc_consensus_vtable) the plugin was built with */

  /*
   * Creates an engine.  `api` and `host` stay valid until destroy returns.
   * `params` is valid only during the call (copy what you need).  Must not
   * send messages or start timers yet.  Returns 0 and *out, or an error
   * code (the host then exits without calling destroy).
   */
  int (*create)(const mc_host_api *api, mc_host *host,
                const mc_consensus_params *params, mc_consensus **out);

  /* Starts deciding heights after the host's current head (timers etc.). */
  int (*start)(mc_consensus *c);

  /* Stops every timer and sends nothing more.  Idempotent. */
  void (*stop)(mc_consensus *c);

  /* Frees the engine.  Called once, after stop. */
  void (*destroy)(mc_consensus *c);

  /*
   * A message another validator's engine sent with send/broadcast.
   * `from` is the sender's validator index, proven by the peer handshake;
   * msg is valid only during the call.  Returns 0, or MC_EDECODE/MC_ESIG
   * etc. for a message the engine rejects (the host counts and logs it).
   */
  int (*on_message)(mc_consensus *c, uint32_t from, const uint8_t *msg,
                    size_t len);

  /*
   * The host committed block `height` with hash `hash` (through this
   * engine's commit_block or through sync).  The engine moves on to the
   * next height.
   */
  void (*on_commit)(mc_consensus *c, uint64_t height,
                    const uint8_t hash[MC_HASH_LEN]);

  /*
   * Returns 0 if cert proves that b is final at b->header.height, else
   * MC_ECERT (or MC_EDECODE).  Must not depend on the engine's current
   * round: it is called for old blocks during sync.
   */
  int (*verify_certificate)(mc_consensus *c, const mc_block *b,
                            const uint8_t *cert, size_t cert_len);

  /* ---- optional ---- */

  /* A validator connected (connected=1) or went away (0). */
  void (*on_peer)(mc_consensus *c, uint32_t validator, int connected);

  /* Fills *out for status output.  Returns 0 or an error. */
  int (*status)(mc_consensus *c, mc_consensus_status *out);
} mc_consensus_vtable;

/* The prefix of the vtable that every ABI 1.x consensus plugin provides. */
#define MC_CONSENSUS_VTABLE_MIN_SIZE                                           \
  (offsetof(mc_consensus_vtable, verify_certificate) +                        \
   sizeof(((mc_consensus_vtable *)0)->verify_certificate))

#ifdef __cplusplus
}
#endif

#endif /* MINICHAIN_CONSENSUS_H */
