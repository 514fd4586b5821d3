/*
 * raft.c - raft.so: a crash-fault-tolerant consensus engine on libraft
 * (canonical's C Raft), built against the installed MiniChain SDK only.
 * This file is the vtable: create/start/stop/destroy, messages in,
 * on_commit, status and verify_certificate; raft_leader.c is the
 * leader's turn, raft_io.c and raft_fsm.c what libraft is given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "minichain/plugin.h"
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
  /* No pre-vote: with it, libraft 0.15 let a restarted node with the
   * longest log stay at its old term for ever, its pre-votes refused by
   * nodes whose terms had risen meanwhile and theirs refused by it for
   * their shorter logs; three candidates, no leader (mc-consensus-sim
   * --fault-model crash, seeds 40, 469 and 595 of 1000).  Without it a
   * higher term reaches every node with the first RequestVote. */
  raft_set_pre_vote(&c->raft, false);
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
  re_leader_arm(c);
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
