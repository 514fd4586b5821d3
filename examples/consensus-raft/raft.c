/*
 * raft.c - raft.so: a crash-fault-tolerant consensus engine on
 * libraft (canonical's C Raft), built against the installed MiniChain SDK
 * only.  This file is the vtable: create/start/stop/destroy, messages in,
 * on_commit, status, verify_certificate, and the leader's turn.
 *
 * The leader proposes one block at a time: every block_interval_ms, if it
 * leads, has nothing of its own in flight and has applied its whole log,
 * it builds a block from the mempool (build_block), and if the block has
 * transfers submits it as a raft entry (raft_apply).  The next block is
 * built only after that entry was applied, on the head it produced, so a
 * leader never proposes two blocks for one height.  A new leader first
 * commits a barrier, which applies whatever earlier leaders left in its
 * log, and only then builds on the head that results, and only once that
 * head has reached every height Raft ordered (the floor, raft_fsm.c).
 *
 * Only the leader builds blocks, from its own mempool, and the host
 * gossips a transfer once, when a node admits it: transfers admitted by a
 * follower while it was cut off from the leader would wait there for
 * ever.  So a follower that sees no new block for RE_IDLE_TICKS intervals
 * builds a block itself (and throws it away); if it holds transfers, it
 * asks the leader for the lead (RC_WANT_LEAD), and a leader whose own
 * last build was empty hands it over with Raft's leadership transfer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "minichain/plugin.h"
#include "raft_codec.h"
#include "raft_engine.h"

void re_log(mc_consensus *c, mc_log_level lvl, const char *event,
            const mc_log_field *extra, size_t nextra) {
  mc_log_field f[8];
  size_t n = 0;
  f[n++] = (mc_log_field)MC_LOG_F_U("term", c->raft_inited
                                                ? c->raft.current_term
                                                : c->st.term);
  for (size_t i = 0; i < nextra && n < sizeof f / sizeof f[0]; i++)
    f[n++] = extra[i];
  c->api->log(c->host, lvl, event, f, n);
}

int re_configuration(mc_consensus *c, struct raft_configuration *conf) {
  raft_configuration_init(conf);
  for (uint32_t i = 0; i < c->n; i++) {
    int rc = raft_configuration_add(conf, (raft_id)i + 1, c->addrs[i],
                                    RAFT_VOTER);
    if (rc != 0) {
      raft_configuration_close(conf);
      raft_configuration_init(conf);
      return MC_ENOMEM;
    }
  }
  return 0;
}

/* ---- the leader's turn ---- */

static void propose_tick(void *arg);

static void arm_propose(mc_consensus *c) {
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
  arm_propose(c);
}

/* ---- lifecycle ---- */

static int load_validators(mc_consensus *c) {
  c->n = c->api->validator_count(c->host);
  if (c->n == 0 || c->n > RE_MAX_VALIDATORS)
    return MC_EINVAL;
  c->keys = calloc(c->n, sizeof *c->keys);
  c->addrs = calloc(c->n, sizeof *c->addrs);
  if (c->keys == NULL || c->addrs == NULL)
    return MC_ENOMEM;
  for (uint32_t i = 0; i < c->n; i++) {
    if (c->api->validator_key(c->host, i, c->keys[i]) != 0)
      return MC_EINVAL;
    snprintf(c->addrs[i], RE_ADDR_LEN, "validator-%u", i);
  }
  c->self = c->api->self_index(c->host);
  return c->self < (int32_t)c->n ? 0 : MC_EINVAL;
}

static void raft_destroy_engine(mc_consensus *c);

static int raft_create(const mc_host_api *api, mc_host *host,
                       const mc_consensus_params *params, mc_consensus **out) {
  if (api == NULL || host == NULL || params == NULL || out == NULL ||
      !MC_PARAMS_HAS(params, view_timeout_ms) ||
      params->view_timeout_ms < 20 || params->block_interval_ms == 0)
    return MC_EINVAL;
  if (sodium_init() < 0)
    return MC_ENOMEM;
  mc_consensus *c = calloc(1, sizeof *c);
  if (c == NULL)
    return MC_ENOMEM;
  c->api = api;
  c->host = host;
  c->block_interval_ms = params->block_interval_ms;
  c->election_ms = params->view_timeout_ms;
  c->flags = MC_PARAMS_HAS(params, flags) ? params->flags : 0;
  int rc = load_validators(c);
  if (rc == 0 && c->self >= 0)
    rc = re_io_load_state(c);
  if (rc == 0)
    rc = api->head(host, &c->head, c->head_hash);
  if (rc != 0) {
    raft_destroy_engine(c);
    return rc;
  }
  c->floor = c->head;
  *out = c;
  return 0;
}

/* A node with no saved state votes as if it never had: right for a new
 * validator, unsafe for one that lost its state (it may vote twice in a
 * term).  Said loudly, since only the operator knows which it is. */
static void warn_without_state(mc_consensus *c) {
  if (c->flags & MC_CONSENSUS_NEW_VALIDATOR)
    return;
  re_log(c, MC_LOG_WARN, "raft_state_missing",
         (mc_log_field[]){
             MC_LOG_F_U("head", c->head),
             MC_LOG_F_S("note", "no saved raft state: bootstrapping from the "
                                "genesis; if this validator voted before and "
                                "lost its state, Raft's safety needs it to "
                                "stay off for one election timeout")},
         2);
}

static int bootstrap(mc_consensus *c) {
  struct raft_configuration conf;
  int rc = re_configuration(c, &conf);
  if (rc != 0)
    return rc;
  rc = raft_bootstrap(&c->raft, &conf);
  raft_configuration_close(&conf);
  return rc == 0 ? 0 : MC_EIO;
}

static int start_raft(mc_consensus *c) {
  re_io_init(c);
  re_fsm_init(c);
  int rc = raft_init(&c->raft, &c->io, &c->fsm, (raft_id)c->self + 1,
                     c->addrs[c->self]);
  if (rc != 0)
    return rc == RAFT_NOMEM ? MC_ENOMEM : MC_EINVAL;
  c->raft_inited = 1;
  c->raft.data = c;
  /* libraft takes unsigned ms; ten minutes is beyond any sane genesis */
  unsigned election =
      c->election_ms > 600000 ? 600000u : (unsigned)c->election_ms;
  unsigned heartbeat = election / 10 > 10 ? election / 10 : 10;
  raft_set_election_timeout(&c->raft, election);
  raft_set_heartbeat_timeout(&c->raft, heartbeat < election ? heartbeat
                                                             : election - 1);
  raft_set_snapshot_threshold(&c->raft, RE_SNAPSHOT_THRESHOLD);
  raft_set_snapshot_trailing(&c->raft, RE_SNAPSHOT_TRAILING);
  raft_set_pre_vote(&c->raft, true);
  if (!c->have_state) {
    warn_without_state(c);
    if ((rc = bootstrap(c)) != 0)
      return rc;
  }
  rc = raft_start(&c->raft);
  if (rc != 0) {
    re_log(c, MC_LOG_ERROR, "raft_start_failed",
           (mc_log_field[]){MC_LOG_F_S("reason", raft_errmsg(&c->raft))}, 1);
    return MC_EIO;
  }
  return 0;
}

static int raft_start_engine(mc_consensus *c) {
  if (c->running)
    return MC_ESTATE;
  c->running = 1;
  if (c->self < 0) /* an observer only verifies certificates */
    return 0;
  int rc = start_raft(c);
  if (rc != 0)
    return rc;
  re_log(c, MC_LOG_INFO, "consensus_started",
         (mc_log_field[]){MC_LOG_F_U("validators", c->n),
                          MC_LOG_F_U("quorum", c->n / 2 + 1),
                          MC_LOG_F_I("self", c->self),
                          MC_LOG_F_U("head", c->head),
                          MC_LOG_F_U("saved_entries", c->st.n)},
         5);
  arm_propose(c);
  return 0;
}

static void raft_closed_cb(struct raft *r) {
  mc_consensus *c = r->data;
  c->raft_closed = 1;
}

/* libraft's close completes inside raft_close here: raft_io.c's close
 * stops its timers and fails what is queued at once. */
static void close_raft(mc_consensus *c) {
  if (!c->raft_inited || c->raft_closed)
    return;
  c->raft.data = c;
  raft_close(&c->raft, raft_closed_cb);
}

static void raft_stop_engine(mc_consensus *c) {
  c->running = 0;
  if (c->propose_timer != 0)
    c->api->timer_stop(c->host, c->propose_timer);
  c->propose_timer = 0;
  close_raft(c);
}

static void raft_destroy_engine(mc_consensus *c) {
  if (c == NULL)
    return;
  raft_stop_engine(c);
  rp_clear(&c->st);
  free(c->keys);
  free(c->addrs);
  free(c);
}

static int raft_on_message(mc_consensus *c, uint32_t from, const uint8_t *msg,
                           size_t len) {
  if (!c->running || c->self < 0 || c->raft_closed)
    return MC_ESTATE;
  if (msg == NULL || from >= c->n || (int32_t)from == c->self)
    return MC_EINVAL;
  return re_io_deliver(c, from, msg, len);
}

/* Blocks reach the chain by our own fsm apply or by the host's sync; the
 * next proposal is built on whatever the head is then. */
static void raft_on_commit(mc_consensus *c, uint64_t height,
                           const uint8_t hash[MC_HASH_LEN]) {
  if (height < c->head)
    return;
  c->head = height;
  memcpy(c->head_hash, hash, MC_HASH_LEN);
}

static int raft_verify_certificate(mc_consensus *c, const mc_block *b,
                                   const uint8_t *cert, size_t cert_len) {
  int rc = re_cert_verify(c, b, cert, cert_len);
  return rc == 0 || rc == MC_ENOMEM ? rc : MC_ECERT;
}

static int raft_status(mc_consensus *c, mc_consensus_status *out) {
  if (out == NULL)
    return MC_EINVAL;
  out->height = c->head + 1;
  out->view = 0;
  out->leader = -1;
  if (c->raft_inited && !c->raft_closed) {
    raft_id id = 0;
    const char *addr = NULL;
    raft_leader(&c->raft, &id, &addr);
    out->view = c->raft.current_term;
    out->leader = id > 0 && id <= c->n ? (int32_t)(id - 1) : -1;
  }
  return 0;
}

static const mc_consensus_vtable raft_vtable = {
    .size = sizeof(mc_consensus_vtable),
    .create = raft_create,
    .start = raft_start_engine,
    .stop = raft_stop_engine,
    .destroy = raft_destroy_engine,
    .on_message = raft_on_message,
    .on_commit = raft_on_commit,
    .verify_certificate = raft_verify_certificate,
    .on_peer = NULL,
    .status = raft_status,
};

MC_PLUGIN_DEFINE(MC_PLUGIN_CONSENSUS, "raft", "0.1.0",
                 "Raft (libraft): crash-fault-tolerant, leader-signed blocks",
                 &raft_vtable)
