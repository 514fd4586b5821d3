/*
 * testhost.h - a test host for consensus plugins: N engine instances of a
 * plugin loaded with dlopen, each given its own mc_host_api backed by a
 * fake chain (blocks of no transactions, linked and signed with the
 * codec of host/chain), an in-memory durable state, and the simulated
 * network and clock of simnet.h.
 *
 * It signs and verifies as the real host does, in the consensus domain of
 * the cluster's chain (mc_consensus_sign).  It checks as it goes: every
 * commit is compared across nodes (a fork is recorded, never hidden), and
 * every signature an engine asks for is decoded so that a node signing two
 * different hashes for one (kind, height, view), in any of its lifetimes,
 * is recorded as a double vote.  Faults of a node's disk are at hand: its
 * saves can fail, its state can be wiped, and an older copy of its chain
 * and state can be put back.
 *
 * Nodes and validators: nodes 0..n-1 are validators 0..n-1; a cluster made
 * with th_new_twins has extra nodes n.. that are "twins", each running its
 * own engine with the key of an existing validator (the Aptos way of
 * testing equivocation).  Messages an engine sends to validator v reach
 * every node holding v's key; its peers see them as coming from its
 * validator index.
 */
#ifndef MC_TEST_TESTHOST_H
#define MC_TEST_TESTHOST_H

#include <stdint.h>

#include "minichain/consensus.h"
#include "simnet.h"

typedef struct th_cluster th_cluster;

/* Engine log events the host counts per node. */
typedef enum th_event {
  TH_EV_PROPOSED,
  TH_EV_ACKED,
  TH_EV_VIEW_CHANGE,
  TH_EV_SIGNING_STOPPED,
  TH_EV_SIGNING_RESUMED,
  TH_EV_WATCHING,
  TH_EV_WATCH_ENDED,
  TH_EV_OWN_SIGNATURE_UNKNOWN,
  TH_EV_COUNT
} th_event;

/* One signature an engine asked its host for (kind is TH_SIG_*). */
enum { TH_SIG_PROPOSE, TH_SIG_ACK, TH_SIG_COMMIT, TH_SIG_VIEWCHANGE };
typedef struct th_sigrec {
  int kind;
  uint64_t h, v;
  uint8_t hash[32]; /* zero for a VIEWCHANGE */
  uint8_t sig[64];
} th_sigrec;

/* Loads the plugin at `plugin` and makes n validators (keys derived from
 * their index), with no engine running yet.  NULL (and a message on
 * stderr) if the plugin cannot be loaded. */
th_cluster *th_new(const char *plugin, uint32_t n, uint64_t seed,
                   uint64_t block_interval_ms, uint64_t view_timeout_ms);
/* As th_new, plus one twin node per entry of twin_of: node n + k runs
 * with validator twin_of[k]'s key (ntwins may be 0). */
th_cluster *th_new_twins(const char *plugin, uint32_t n, const uint32_t *twin_of,
                         uint32_t ntwins, uint64_t seed,
                         uint64_t block_interval_ms, uint64_t view_timeout_ms);
void th_free(th_cluster *cl);

/* Number of nodes (validators plus twins) and node i's validator index. */
uint32_t th_nodes(th_cluster *cl);
uint32_t th_validator_of(th_cluster *cl, uint32_t i);
/* Engine log lines and commits on stderr: all of them with 1 (also when
 * TH_VERBOSE is set), error lines only with 0 (the default), none with
 * -1. */
void th_set_verbose(th_cluster *cl, int on);

simnet *th_net(th_cluster *cl);
const mc_consensus_vtable *th_vtable(th_cluster *cl);
/* The node's engine, or NULL when it is down. */
mc_consensus *th_engine(th_cluster *cl, uint32_t i);
/* The node's own host handle and services table (for direct calls). */
mc_host *th_host(th_cluster *cl, uint32_t i);
const mc_host_api *th_api(void);

/* create + start node i's engine with its saved state.  Its first start
 * passes MC_CONSENSUS_NEW_VALIDATOR (mchost --new-validator: a new chain),
 * later ones nothing.  Returns the engine's error code. */
int th_start(th_cluster *cl, uint32_t i);
/* As th_start with mc_consensus_params.flags = flags. */
int th_start_flags(th_cluster *cl, uint32_t i, uint64_t flags);
/* 1 if node i's engine is up and watching (it logged `watching` and not
 * `watch_ended` since it was created). */
int th_watching(th_cluster *cl, uint32_t i);
/* Stops and destroys node i's engine cleanly. */
void th_stop(th_cluster *cl, uint32_t i);
/* Kills node i: its timers and incoming messages vanish, its engine is
 * destroyed without stop; only what it saved with state_save remains. */
void th_crash(th_cluster *cl, uint32_t i);
/* Replaces node i's saved state (NULL, 0: none). */
void th_set_state(th_cluster *cl, uint32_t i, const uint8_t *p, size_t len);
/* Node i's saved state (NULL when there is none; valid until the next
 * save). */
const uint8_t *th_state(th_cluster *cl, uint32_t i, size_t *len);
/* An older copy of node i, as a backup would keep it: th_snapshot takes
 * its chain height and saved state now; th_restore_snapshot (node down)
 * puts both back, dropping the blocks committed since.  Returns 0, or
 * MC_ESTATE if the node is up or has no usable snapshot.
 * th_snapshot_info returns 1 if there is one, and what it holds. */
typedef struct th_snapinfo {
  uint64_t height;      /* chain height */
  const uint8_t *state; /* saved state (NULL: none); valid until the next
                           th_snapshot */
  size_t state_len;
  size_t nsigs; /* th_sig_count of the node when it was taken */
} th_snapinfo;
void th_snapshot(th_cluster *cl, uint32_t i);
int th_restore_snapshot(th_cluster *cl, uint32_t i);
int th_snapshot_info(th_cluster *cl, uint32_t i, th_snapinfo *out);
/* Node i's state_save fails (MC_EIO, nothing replaced) for the next
 * `count` calls, for every call with TH_FAIL_ALWAYS, or not at all with 0. */
#define TH_FAIL_ALWAYS UINT32_MAX
void th_fail_saves(th_cluster *cl, uint32_t i, uint32_t count);

/* The host's sync: node i fetches the blocks node j committed above its
 * own head, checks each certificate with i's engine and the link, and
 * commits them (on_commit follows, as from the real host's sync).  Needs
 * i's engine running.  Returns the number of blocks applied, or a negative
 * error for the first block refused (nothing after it is applied). */
int th_sync(th_cluster *cl, uint32_t i, uint32_t j);

/* Committed height of node i and its block at height h (1..height). */
uint64_t th_height(th_cluster *cl, uint32_t i);
const mc_block *th_block(th_cluster *cl, uint32_t i, uint64_t h);
/* Lowest committed height among running nodes. */
uint64_t th_min_height(th_cluster *cl);
/* Runs until every running node has committed `h`, or virtual time
 * passes max_ms from now.  Returns 1 if the height was reached. */
int th_run_until_height(th_cluster *cl, uint64_t h, uint64_t max_ms);

/* The message the network is handing to an engine right now, and the
 * node receiving it; NULL outside a delivery.  What an engine sends
 * during the call is its reaction to that message.  Valid only until the
 * delivery returns. */
const uint8_t *th_delivering(th_cluster *cl, uint32_t *node, size_t *len);

/* 1 if two nodes (twins included) committed different blocks at one
 * height, or a commit came with a certificate that does not verify. */
int th_forked(th_cluster *cl);
/* 1 if a node signed two different hashes for one (kind, height, view):
 * over all of its engines' lifetimes, restores included. */
int th_double_signed(th_cluster *cl);
/* Every signature node i's engines asked for, in order (NULL past the
 * end). */
size_t th_sig_count(th_cluster *cl, uint32_t i);
const th_sigrec *th_sig(th_cluster *cl, uint32_t i, size_t k);
/* How often node i logged event ev, and at what level the last time. */
uint64_t th_events(th_cluster *cl, uint32_t i, th_event ev);
mc_log_level th_event_level(th_cluster *cl, uint32_t i, th_event ev);

/* Validator i's keys, and a block at height h on node `on`'s head signed
 * by validator `proposer` (timestamp varied by `salt`); free with
 * th_api()->block_free. */
const uint8_t *th_pubkey(th_cluster *cl, uint32_t i);
const uint8_t *th_seckey(th_cluster *cl, uint32_t i);
/* Names the cluster's chain: its genesis hash becomes SHA-256(name)
 * ("testhost-genesis" unless set).  Call before any engine starts: the
 * host's sign and verify work in the consensus domain of this chain. */
void th_set_chain(th_cluster *cl, const char *name);
/* What the host's sign service of `validator` makes for msg on this
 * cluster's chain (mc_consensus_sign), without counting it as that
 * node's vote: for tests that forge or hand-build messages. */
void th_sign_as(th_cluster *cl, uint32_t validator, const uint8_t *msg,
                size_t len, uint8_t sig[MC_SIG_LEN]);
mc_block *th_make_block(th_cluster *cl, uint32_t on, uint32_t proposer,
                        uint64_t salt);

#endif /* MC_TEST_TESTHOST_H */
