/*
 * raft_engine.h - what the files of raft.so share: the engine instance and
 * the functions each file offers the others.
 *
 *   raft.c         the vtable: lifecycle, messages in, on_commit, status
 *   raft_leader.c  the turn every block interval: the leader's
 *                  build_block -> raft_apply; a follower asking for the lead
 *   raft_io.c      struct raft_io over the host's services (send, timers,
 *                  monotonic_ms, state_save/state_load)
 *   raft_fsm.c     struct raft_fsm: a committed entry -> commit_block
 *   raft_cert.c    the commit certificate: sign and verify
 *   raft_codec.c   the wire form of raft messages (no host calls)
 *   raft_persist.c the saved state and its format (no host calls)
 *
 * Raft ids are validator index + 1 (raft ids must be above 0); the
 * configuration is every validator in the genesis, fixed for the chain.
 */
#ifndef RAFT_ENGINE_H
#define RAFT_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <raft.h>

#include "minichain/consensus.h"
#include "minichain/error.h"
#include "raft_persist.h"

#define RE_MAX_VALIDATORS 256
#define RE_ADDR_LEN 24 /* "validator-255" and a NUL fit */

/* The libraft tuning raft.so uses, and why:
 * - the snapshot threshold keeps libraft's in-memory log (and so the
 *   largest AppendEntries a lagging follower is sent) to a few blocks:
 *   one further behind is sent a snapshot and catches up by host sync;
 * - pre-vote stops a restarted or cut-off node from raising the term
 *   and unseating a working leader when it comes back. */
#define RE_SNAPSHOT_THRESHOLD 16
#define RE_SNAPSHOT_TRAILING 8
/* A request whose libraft callback runs on a later loop turn: libraft
 * expects I/O to complete asynchronously, never inside the call. */
typedef struct re_done re_done;

struct mc_consensus {
  const mc_host_api *api;
  mc_host *host;
  uint64_t block_interval_ms;
  uint64_t election_ms;
  uint64_t flags; /* MC_CONSENSUS_* from params */

  uint32_t n;                        /* validators */
  int32_t self;                      /* our index, -1 for an observer */
  uint8_t (*keys)[MC_PUBKEY_LEN];    /* validator keys, genesis order */
  char (*addrs)[RE_ADDR_LEN];        /* raft server addresses */

  int running;     /* between start and stop */
  int raft_inited; /* raft_init succeeded: raft_close owed */
  int raft_closed;

  struct raft raft;
  struct raft_io io;
  struct raft_fsm fsm;

  /* raft_io.c */
  rp_state st;     /* what was last saved, kept in step */
  int have_state;  /* state_load found a value */
  raft_io_tick_cb tick_cb;
  raft_io_recv_cb recv_cb;
  unsigned tick_ms;
  uint64_t tick_timer, done_timer;
  re_done *done_head, *done_tail;

  /* the chain as on_commit last told us */
  uint64_t head;
  uint8_t head_hash[MC_HASH_LEN];
  /* The highest block height Raft has ordered as far as this node knows:
   * of every block entry it applied (committed or skipped) and of every
   * snapshot it restored.  A leader proposes only once its chain reached
   * it (raft_fsm.c says why). */
  uint64_t floor;
  int floor_waiting; /* leader_waits_for_sync was logged */

  /* the leader's turn (raft_leader.c) */
  uint64_t propose_timer;
  int proposing;        /* our raft_apply is in flight */
  int barrier_pending;  /* our raft_barrier is in flight */
  struct raft_apply apply_req;
  struct raft_barrier barrier_req;

  /* what the log says about leadership changes */
  raft_id seen_leader;
  raft_term seen_term;
};

/* ---- raft_engine.c ---- */
void re_log(mc_consensus *c, mc_log_level lvl, const char *event,
            const mc_log_field *extra, size_t nextra);
/* The fixed configuration: every genesis validator a voter. */
int re_configuration(mc_consensus *c, struct raft_configuration *conf);

/* ---- raft_leader.c ---- */
/* Arms the next turn (every block_interval_ms while running). */
void re_leader_arm(mc_consensus *c);

/* ---- raft_io.c ---- */
void re_io_init(mc_consensus *c);
/* Loads the saved state into c->st (c->have_state 0 if none). */
int re_io_load_state(mc_consensus *c);
/* Handles a message from validator `from` (the host proved who). */
int re_io_deliver(mc_consensus *c, uint32_t from, const uint8_t *msg,
                  size_t len);

/* ---- raft_fsm.c ---- */
void re_fsm_init(mc_consensus *c);
/* The raft entry for a block this leader proposes in `term`: the block's
 * encoding with its certificate.  *out is raft_malloc'd. */
int re_entry_make(mc_consensus *c, uint64_t term, const mc_block *b,
                  void **out, size_t *len);
/* Snapshot data, 40 bytes: (height, hash), the height being
 * max(chain head, floor) and the hash that of the head when the head is
 * that high, else zero (the blocks up to it come by sync). */
#define RE_SNAPSHOT_DATA_LEN (8 + MC_HASH_LEN)
/* Fills the snapshot data from the chain head and c->floor. */
int re_snapshot_now(mc_consensus *c, uint64_t *height,
                    uint8_t hash[MC_HASH_LEN]);
void re_snapshot_data(uint64_t height, const uint8_t hash[MC_HASH_LEN],
                      uint8_t out[RE_SNAPSHOT_DATA_LEN]);
int re_snapshot_parse(const void *p, size_t len, uint64_t *height,
                      uint8_t hash[MC_HASH_LEN]);

/* ---- raft_cert.c ---- */
#define RE_CERT_TAG "mc-raft-cert-v1"
#define RE_CERT_TAG_LEN (sizeof RE_CERT_TAG - 1)
#define RE_CERT_LEN (RE_CERT_TAG_LEN + 8 + 4 + MC_SIG_LEN)
int re_cert_make(mc_consensus *c, uint64_t term, uint64_t height,
                 const uint8_t hash[MC_HASH_LEN], uint8_t out[RE_CERT_LEN]);
int re_cert_verify(mc_consensus *c, const mc_block *b, const uint8_t *cert,
                   size_t len);

#endif /* RAFT_ENGINE_H */
