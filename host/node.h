/*
 * node.h - one running node: the loop and every subsystem it owns.
 *
 * mc_node ties the parts together: it opens the data directory, the store
 * and the chain, creates the mempool and the consensus engine, serves
 * clients, and shuts all of it down in order.  The plugins see it only as
 * the opaque mc_host behind the services table (services.c).
 */
#ifndef MC_NODE_H
#define MC_NODE_H

#include <stdint.h>
#include <uv.h>

#include "chain/chain.h"
#include "chain/genesis.h"
#include "config.h"
#include "datadir.h"
#include "keys.h"
#include "loader.h"
#include "mempool.h"
#include "minichain/consensus.h"
#include "minichain/store.h"
#include "net/net.h"
#include "peer/peers.h"
#include "sigcache.h"
#include "statefile.h"
#include "verify.h"

typedef struct mc_node mc_node;

/* What a plugin holds as its mc_host: which plugin it is, and its node. */
struct mc_host {
  mc_node *node;
  const char *src;  /* the plugin's name, for logs */
  char *state_path;      /* DATA/consensus-NAME.state (consensus only) */
  mc_statefile *state;   /* what state_save and state_load use, or NULL */
};

/* Signatures remembered from validated blocks (a few blocks' worth). */
#define MC_NODE_SIGCACHE 32768

/* Largest state a plugin may save. */
#define MC_PLUGIN_STATE_MAX (64u << 20)

typedef struct mc_timer mc_timer;

/* Counters the node keeps about itself (shown by status and logs). */
typedef struct mc_node_stats {
  uint64_t blocks_committed;
  uint64_t txs_committed;
  uint64_t txs_admitted;
  uint64_t txs_refused;
  uint64_t frames_bad;
} mc_node_stats;

struct mc_node {
  uv_loop_t loop;
  const mc_config *cfg;
  mc_genesis genesis;
  mc_keypair key;
  int32_t self_index; /* -1: observer */

  mc_plugin consensus_plugin, store_plugin;
  const mc_consensus_vtable *cvt;
  const mc_store_vtable *svt;
  struct mc_host consensus_host, store_host;

  mc_datadir datadir; /* LOCK, marker, cleanup of a failed start */
  mc_store *store;
  mc_chain *chain;
  mc_mempool *mempool;
  mc_verifier *verifier;
  mc_sigcache *sigcache; /* signatures block validation found good */
  struct mc_admit *admit;
  mc_consensus *consensus;
  mc_listener *listener;
  mc_peers *peers;

  mc_timer *timers;
  uint64_t next_timer_id;
  uv_timer_t mempool_timer; /* expires queued transfers every second */
  int mempool_timer_ready;
  uv_signal_t sigint, sigterm;
  int loop_ready, signals_ready;
  int stopping;
  int exit_code;
  mc_node_stats stats;
};

/* The services table handed to the consensus engine (services.c). */
extern const mc_host_api mc_node_host_api;
/* The one handed to the store: the services a store may use, and refusals
 * (MC_ESTATE, logged once) in place of the rest (services.c). */
extern const mc_host_api mc_node_store_api;

/*
 * Loads both plugins as cfg names them.  Touches nothing else.  Returns 0
 * or MC_E* with "cannot load plugin <path>: <reason>" in err.
 */
int mc_node_load_plugins(mc_node *n, const mc_config *cfg, char *err,
                         size_t errlen);

/*
 * Reads genesis and key, opens (creating when new) the data directory, the
 * store and the chain, creates the mempool and the engine, starts
 * listening, and only then writes the data directory's marker.  On error writes the reason and returns MC_E*; `*fatal_input`
 * is set when the cause is bad input (exit 2) rather than the environment.
 */
int mc_node_open(mc_node *n, const mc_config *cfg, char *err, size_t errlen,
                 int *fatal_input);

/* Starts the engine and runs the loop until SIGINT/SIGTERM or a fatal
 * error.  Returns the process exit code. */
int mc_node_run(mc_node *n);

/* Begins an orderly stop (safe to call more than once). */
void mc_node_stop(mc_node *n, int exit_code);

/* Frees everything mc_node_open made (after mc_node_run returned, or after
 * mc_node_open failed: then a data directory that was new is put back as
 * it was found, see datadir.h). */
void mc_node_close(mc_node *n);

/* Commits a block agreed by consensus (services.c commit_block and sync):
 * chain, mempool, log, engine notification. */
int mc_node_commit(mc_node *n, const mc_block *b, const uint8_t *cert,
                   size_t cert_len);

/* mc_sig_known_fn over the node's mempool and signature cache: 1 if this
 * very transfer's signature verified already.  ctx is the mc_node. */
int mc_node_sig_known(void *ctx, const mc_tx *tx);

/* Cancels every plugin timer and closes their handles. */
void mc_node_timers_close(mc_node *n);

/* Handles one frame from any connection (api/client.c): client requests
 * are answered there, peer messages go to peers.c. */
int mc_client_on_frame(void *ctx, mc_conn *c, const uint8_t *payload,
                       size_t len);

/* A connection closed (the listener's on_closed). */
void mc_client_on_closed(void *ctx, mc_conn *c);

/* Wall-clock milliseconds. */
uint64_t mc_node_now_ms(void);

#endif /* MC_NODE_H */
