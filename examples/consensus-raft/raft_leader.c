/*
 * raft_leader.c - raft.so's turn, every block_interval_ms on every
 * validator: the leader turns the mempool into blocks, one at a time.
 *
 * The leader proposes one block at a time: if it leads, has nothing of
 * its own in flight and has applied its whole log, it builds a block from
 * the mempool (build_block), and if the block has transfers submits it as
 * a raft entry (raft_apply).  The next block is built only after that
 * entry was applied, on the head it produced, so a leader never proposes
 * two blocks for one height.  A new leader first commits a barrier, which
 * applies whatever earlier leaders left in its log, and only then builds
 * on the head that results, and only once that head has reached every
 * height Raft ordered (the floor, raft_fsm.c).
 *
 * Only the leader builds blocks, from its own mempool.  Transfers a
 * follower admitted while cut off from the leader reach it when the two
 * connect again: the host sends a validator that connects the transfers
 * it holds.  (raft.so used to hand the lead to such a follower with Raft's
 * leadership transfer; libraft 0.15 lets a node that started a transfer
 * vote a second time in one term for the transferee, and mc-consensus-sim
 * found two leaders in one term from it: seed 2488, crash model.)
 */
#include <string.h>

#include "raft_codec.h"
#include "raft_engine.h"

/* ---- the leader's turn ---- */

static void propose_tick(void *arg);

/* Arms the next turn: every block_interval_ms, on every validator. */
void re_leader_arm(mc_consensus *c) {
  c->propose_timer = 0;
  if (c->running && c->api->timer_start(c->host, c->block_interval_ms,
                                        propose_tick, c,
                                        &c->propose_timer) != 0)
    re_log(c, MC_LOG_ERROR, "timer_failed", NULL, 0);
}

static void apply_done(struct raft_apply *req, int status, void *result) {
  mc_consensus *c = req->data;
  (void)result;
  c->proposing = 0;
  if (status != 0)
    re_log(c, MC_LOG_WARN, "proposal_not_applied",
           (mc_log_field[]){MC_LOG_F_S("reason", raft_strerror(status))}, 1);
}

static void barrier_done(struct raft_barrier *req, int status) {
  mc_consensus *c = req->data;
  c->barrier_pending = 0;
  if (status != 0)
    re_log(c, MC_LOG_WARN, "barrier_failed",
           (mc_log_field[]){MC_LOG_F_S("reason", raft_strerror(status))}, 1);
}

/* Submits b as a raft entry of the current term. */
static void propose(mc_consensus *c, const mc_block *b) {
  struct raft_buffer buf;
  int rc = re_entry_make(c, c->raft.current_term, b, &buf.base, &buf.len);
  if (rc != 0) {
    re_log(c, MC_LOG_ERROR, "proposal_failed",
           (mc_log_field[]){MC_LOG_F_S("reason", mc_err_name(rc))}, 1);
    return;
  }
  c->apply_req.data = c;
  rc = raft_apply(&c->raft, &c->apply_req, &buf, 1, apply_done);
  if (rc != 0) {
    raft_free(buf.base); /* not taken on failure */
    re_log(c, MC_LOG_WARN, "proposal_failed",
           (mc_log_field[]){MC_LOG_F_S("reason", raft_strerror(rc))}, 1);
    return;
  }
  c->proposing = 1;
  re_log(c, MC_LOG_INFO, "block_proposed",
         (mc_log_field[]){MC_LOG_F_U("block_height", b->header.height),
                          MC_LOG_F_U("txs", b->header.tx_count),
                          MC_LOG_F_HEX("hash", b->hash, MC_HASH_LEN)},
         3);
}

/* Commits what earlier terms left in a new leader's log (Raft commits an
 * old term's entries only through an entry of the current term). */
static void barrier(mc_consensus *c) {
  c->barrier_req.data = c;
  int rc = raft_barrier(&c->raft, &c->barrier_req, barrier_done);
  if (rc == 0)
    c->barrier_pending = 1;
  else
    re_log(c, MC_LOG_WARN, "barrier_failed",
           (mc_log_field[]){MC_LOG_F_S("reason", raft_strerror(rc))}, 1);
}

/* Logs a change of leader or term once, as the tick of the proposal timer
 * notices it. */
static void watch_leader(mc_consensus *c) {
  raft_id id = 0;
  const char *addr = NULL;
  raft_leader(&c->raft, &id, &addr);
  if (id == c->seen_leader && c->raft.current_term == c->seen_term)
    return;
  c->seen_leader = id;
  c->seen_term = c->raft.current_term;
  re_log(c, MC_LOG_INFO, "raft_leader",
         (mc_log_field[]){MC_LOG_F_I("leader", (int64_t)id - 1),
                          MC_LOG_F_B("self", id == (raft_id)c->self + 1)},
         2);
}

/* Whether the chain holds every height Raft ordered; logs the first wait. */
static int chain_reached_floor(mc_consensus *c) {
  uint8_t hash[MC_HASH_LEN];
  if (c->api->head(c->host, &c->head, hash) != 0)
    return 0;
  if (c->head >= c->floor) {
    c->floor_waiting = 0;
    return 1;
  }
  if (!c->floor_waiting)
    re_log(c, MC_LOG_INFO, "leader_waits_for_sync",
           (mc_log_field[]){MC_LOG_F_U("head", c->head),
                            MC_LOG_F_U("ordered", c->floor)},
           2);
  c->floor_waiting = 1;
  return 0;
}

static void propose_tick(void *arg) {
  mc_consensus *c = arg;
  c->propose_timer = 0;
  watch_leader(c);
  if (raft_state(&c->raft) == RAFT_LEADER && !c->proposing &&
      !c->barrier_pending) {
    if (raft_last_applied(&c->raft) < raft_last_index(&c->raft)) {
      barrier(c);
    } else if (!chain_reached_floor(c)) {
      /* the host's sync brings the blocks; propose after */
    } else {
      mc_block *b = NULL;
      int rc = c->api->build_block(c->host, &b);
      /* Empty blocks too, one per interval as poa.so makes them: the
       * chain's time advances and a stalled leader shows. */
      if (rc == 0)
        propose(c, b);
      else if (rc != 0)
        re_log(c, MC_LOG_ERROR, "build_block_failed",
               (mc_log_field[]){MC_LOG_F_S("reason", mc_err_name(rc))}, 1);
      c->api->block_free(c->host, b);
    }
  }
  re_leader_arm(c);
}
