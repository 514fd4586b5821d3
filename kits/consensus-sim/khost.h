/*
 * khost.h - the kit's host: N instances of any consensus engine, each
 * given its own mc_host_api over the simulated network and clock
 * (simnet.h), a real chain and mempool (kchain.h) and an in-memory
 * state_save "disk" that survives a crash of the engine.
 *
 * It never parses an engine's messages.  What it judges is what the
 * engines commit, as each commit happens:
 *   - the committing engine's certificate must pass its own
 *     verify_certificate, and that of every other running engine;
 *   - the block must equal every other node's block at that height (twins
 *     included: both copies of a validator are judged).
 * The first violation is kept as a one-line reason (kh_failure).
 *
 * Nodes and validators: nodes 0..n-1 are validators 0..n-1; node n + k is
 * a twin of validator twin_of[k], running its own engine with that key.
 * A message sent to validator v reaches every node holding v's key, and
 * its receivers see it as coming from the sender's validator index.
 */
#ifndef MC_KIT_KHOST_H
#define MC_KIT_KHOST_H

#include <stdint.h>

#include "chain/chain.h"
#include "minichain/consensus.h"
#include "simnet.h"

#define KH_MAX_NODES 16

typedef struct kh_cluster kh_cluster;

/* Receives a line the host wants told: detail 0 for what belongs in a
 * failing schedule's event log (errors, failures), 1 for what only a
 * --trace shows (every engine log line, commit and sync). */
typedef void (*kh_note_fn)(void *ctx, int detail, const char *line);

typedef struct kh_config {
  const mc_consensus_vtable *vt;
  uint32_t n;               /* validators */
  const uint32_t *twin_of;  /* ntwins entries */
  uint32_t ntwins;
  uint64_t seed;
  uint64_t block_interval_ms, view_timeout_ms;
  uint32_t max_txs_per_block;
  const mc_account *alloc;  /* genesis balances */
  size_t nalloc;
  mc_sig_known_fn tx_known; /* transfers already verified (the kit's) */
  void *tx_known_ctx;
  kh_note_fn note;
  void *note_ctx;
} kh_config;

/* NULL (and the reason in err) if the chain cannot be set up. */
kh_cluster *kh_new(const kh_config *cfg, char *err, size_t errlen);
void kh_free(kh_cluster *cl);

uint32_t kh_nodes(const kh_cluster *cl);
uint32_t kh_validator_of(const kh_cluster *cl, uint32_t i);
simnet *kh_net(kh_cluster *cl);
int kh_running(const kh_cluster *cl, uint32_t i);
/* The first safety violation seen, or NULL. */
const char *kh_failure(const kh_cluster *cl);

/* create + start node i's engine with what its disk holds.  The first
 * start of a node passes MC_CONSENSUS_NEW_VALIDATOR (a new chain), later
 * ones nothing.  Returns the engine's code (the engine is down after a
 * failure). */
int kh_start(kh_cluster *cl, uint32_t i);
/* How many times node i's engine was started (kh_start calls). */
uint64_t kh_started(const kh_cluster *cl, uint32_t i);
/* Kills node i: timers, messages in flight to it and its mempool vanish;
 * its engine is destroyed without stop; chain and saved state remain. */
void kh_crash(kh_cluster *cl, uint32_t i);
/* Loses node i's saved state (its disk's consensus-<name>.state). */
void kh_wipe_state(kh_cluster *cl, uint32_t i);
/* Calls on_peer (when the engine has it) for every change in which
 * validators each running node can reach both ways since the last call. */
void kh_refresh_peers(kh_cluster *cl);

/* The host's sync: node i (running) takes the blocks node j committed
 * above its head, each checked with i's verify_certificate and the chain
 * rules, then on_commit.  Returns blocks applied, or the first refusal. */
int kh_sync(kh_cluster *cl, uint32_t i, uint32_t j);

uint64_t kh_height(const kh_cluster *cl, uint32_t i);
const mc_block *kh_block(const kh_cluster *cl, uint32_t i, uint64_t h);
/* Offers a client's transfer to node i's mempool (1 if admitted). */
int kh_submit(kh_cluster *cl, uint32_t i, const mc_tx *tx);
/* Fills *out from the engine's optional status; 0, or an error. */
int kh_status(kh_cluster *cl, uint32_t i, mc_consensus_status *out);

#endif /* MC_KIT_KHOST_H */
