/*
 * raft_leader.c - raft.so's turn, every block_interval_ms on every
 * validator: the leader turns the mempool into blocks, one at a time; a
 * follower on an idle chain that holds transfers asks for the lead.
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
 * Only the leader builds blocks, from its own mempool, and the host
 * gossips a transfer once, when a node admits it: transfers admitted by a
 * follower while it was cut off from the leader would wait there for
 * ever.  So a follower that sees no new block for RE_IDLE_TICKS intervals
 * builds a block itself (and throws it away); if it holds transfers, it
 * asks the leader for the lead (RC_WANT_LEAD), and a leader whose own
 * last build was empty hands it over with Raft's leadership transfer.
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

/* ---- handing the lead to a follower with transfers ---- */

static void transfer_done(struct raft_transfer *req) {
  mc_consensus *c = req->data;
  c->transferring = 0;
}

void re_want_lead(mc_consensus *c, uint32_t from) {
  if (raft_state(&c->raft) != RAFT_LEADER || !c->leader_idle ||
      c->proposing || c->barrier_pending || c->transferring)
    return; /* busy with transfers of its own, or not the leader */
  c->transfer_req.data = c;
  int rc = raft_transfer(&c->raft, &c->transfer_req, (raft_id)from + 1,
                         transfer_done);
  if (rc == 0)
    c->transferring = 1;
  re_log(c, rc == 0 ? MC_LOG_INFO : MC_LOG_WARN, "lead_handed_over",
         (mc_log_field[]){MC_LOG_F_U("to", from),
                          MC_LOG_F_S("result",
                                     rc == 0 ? "started" : raft_strerror(rc))},
         2);
}

/* Counts proposal ticks since the head last moved. */
static void track_idle(mc_consensus *c) {
  uint64_t head;
  uint8_t hash[MC_HASH_LEN];
  if (c->api->head(c->host, &head, hash) != 0)
    return;
  if (head != c->idle_head) {
    c->idle_head = head;
    c->idle_ticks = 0;
  } else {
    c->idle_ticks++;
  }
}

/* A follower on an idle chain that holds transfers asks for the lead,
 * once every RE_IDLE_TICKS intervals while that lasts. */
static void maybe_ask_for_lead(mc_consensus *c) {
  raft_id leader = 0;
  const char *addr = NULL;
  raft_leader(&c->raft, &leader, &addr);
  if (raft_state(&c->raft) != RAFT_FOLLOWER || leader == 0 ||
      leader > c->n || c->idle_ticks == 0 ||
      c->idle_ticks % RE_IDLE_TICKS != 0)
    return;
  mc_block *b = NULL;
  if (c->api->build_block(c->host, &b) != 0)
    return;
  uint32_t txs = b->header.tx_count;
  c->api->block_free(c->host, b);
  if (txs == 0)
    return;
  uint8_t msg = RC_WANT_LEAD;
  int rc = c->api->send(c->host, (uint32_t)(leader - 1), &msg, 1);
  re_log(c, MC_LOG_INFO, "asks_for_lead",
         (mc_log_field[]){MC_LOG_F_U("leader", leader - 1),
                          MC_LOG_F_U("txs", txs),
                          MC_LOG_F_S("sent", mc_err_name(rc))},
         3);
}

static void propose_tick(void *arg) {
  mc_consensus *c = arg;
  c->propose_timer = 0;
  watch_leader(c);
  track_idle(c);
  if (raft_state(&c->raft) == RAFT_LEADER && !c->proposing &&
      !c->barrier_pending && !c->transferring) {
    if (raft_last_applied(&c->raft) < raft_last_index(&c->raft)) {
      barrier(c);
    } else if (!chain_reached_floor(c)) {
      /* the host's sync brings the blocks; propose after */
    } else {
      mc_block *b = NULL;
      int rc = c->api->build_block(c->host, &b);
      c->leader_idle = rc == 0 && b->header.tx_count == 0;
      if (rc == 0 && b->header.tx_count > 0) /* no empty blocks */
        propose(c, b);
      else if (rc != 0)
        re_log(c, MC_LOG_ERROR, "build_block_failed",
               (mc_log_field[]){MC_LOG_F_S("reason", mc_err_name(rc))}, 1);
      c->api->block_free(c->host, b);
    }
  } else {
    maybe_ask_for_lead(c);
  }
  re_leader_arm(c);
}
