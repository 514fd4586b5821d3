/*
 * node.c - bringing a node up, running it, and taking it down in order.
 *
 * Start-up checks every input before it changes anything: plugins first
 * (mc_node_load_plugins), then genesis and key, then the data directory
 * (its lock and its marker file naming the chain, the store and the
 * engine: datadir.c), and only then does the store open.  The marker is
 * written last, when the node is ready to run; a start that fails before
 * that leaves a new data directory as it found it.  Shutdown runs the
 * other way: the engine stops, the loop runs until every handle is closed,
 * then the engine is destroyed and the store closed.  Plugins are never
 * unloaded.
 */
#include "node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "chain/codec.h"
#include "chain/crypto.h"
#include "datadir.h"
#include "log.h"
#include "minichain/error.h"

/* ---- plugins ---- */

static int load_one(mc_plugin *p, const char *name, uint32_t kind,
                    const char *dir, char *err, size_t errlen) {
  char why[1024];
  int rc = mc_plugin_load(name, kind, dir, p, why, sizeof why);
  if (rc != 0)
    snprintf(err, errlen, "cannot load plugin %s", why);
  return rc;
}

int mc_node_load_plugins(mc_node *n, const mc_config *cfg, char *err,
                         size_t errlen) {
  int rc = load_one(&n->consensus_plugin, cfg->consensus, MC_PLUGIN_CONSENSUS,
                    cfg->plugin_dir, err, errlen);
  if (rc == 0)
    rc = load_one(&n->store_plugin, cfg->store, MC_PLUGIN_STORE,
                  cfg->plugin_dir, err, errlen);
  if (rc != 0)
    return rc;
  /* The loader's copies, so an optional field a plugin lacks is NULL. */
  n->cvt = &n->consensus_plugin.vt.consensus;
  n->svt = &n->store_plugin.vt.store;
  return 0;
}

/* ---- data directory ---- */

static char *path_join(const char *dir, const char *name) {
  size_t len = strlen(dir) + strlen(name) + 2;
  char *p = malloc(len);
  if (p != NULL)
    snprintf(p, len, "%s/%s", dir, name);
  return p;
}

/* Who the data directory's marker must name: this chain, these plugins. */
static mc_datadir_owner owner_of(const mc_node *n) {
  return (mc_datadir_owner){n->genesis.chain_id, n->genesis.hash,
                            n->store_plugin.desc->name,
                            n->consensus_plugin.desc->name};
}

/* Creates or locks the directory and checks its marker; writes nothing
 * else (the marker is written by mc_datadir_claim, last). */
static int open_data_dir(mc_node *n, const mc_config *cfg, char *err,
                         size_t errlen) {
  int rc = mc_datadir_open(&n->datadir, cfg->data_dir, err, errlen);
  if (rc != 0)
    return rc;
  mc_datadir_owner o = owner_of(n);
  return mc_datadir_check(&n->datadir, &o, cfg->switch_consensus, err,
                          errlen);
}

/* ---- opening ---- */

static int load_inputs(mc_node *n, const mc_config *cfg, char *err,
                       size_t errlen) {
  int rc = mc_genesis_load(cfg->genesis, &n->genesis, err, errlen);
  if (rc != 0)
    return rc;
  rc = mc_key_load(cfg->key, &n->key, err, errlen);
  if (rc != 0)
    return rc;
  uint32_t idx;
  n->self_index = mc_genesis_validator_index(&n->genesis, n->key.pk, &idx)
                      ? (int32_t)idx
                      : -1;
  return 0;
}

static int open_store(mc_node *n, const mc_config *cfg, char *err,
                      size_t errlen) {
  char why[512] = "";
  n->store_host = (struct mc_host){n, n->store_plugin.desc->name, NULL, NULL};
  int rc = n->svt->open(&mc_node_store_api, &n->store_host, cfg->data_dir,
                        &n->store, why, sizeof why);
  if (rc != 0) {
    snprintf(err, errlen, "store %s: %s", n->store_plugin.path,
             why[0] ? why : mc_strerror(rc));
    return rc;
  }
  return mc_chain_open(&n->chain, &n->genesis, n->svt, n->store, err, errlen);
}

static int create_engine(mc_node *n, const mc_config *cfg, char *err,
                         size_t errlen) {
  char name[128];
  snprintf(name, sizeof name, "consensus-%s.state",
           n->consensus_plugin.desc->name);
  n->consensus_host = (struct mc_host){n, n->consensus_plugin.desc->name,
                                       path_join(cfg->data_dir, name), NULL};
  if (n->consensus_host.state_path == NULL ||
      (n->consensus_host.state = mc_statefile_new(
           n->consensus_host.state_path, MC_PLUGIN_STATE_MAX)) == NULL)
    return MC_ENOMEM;
  mc_consensus_params p = {
      .size = sizeof p,
      .block_interval_ms = n->genesis.block_interval_ms,
      .view_timeout_ms = n->genesis.view_timeout_ms,
      .max_txs_per_block = n->genesis.max_txs_per_block,
      .flags = cfg->new_validator ? MC_CONSENSUS_NEW_VALIDATOR : 0,
  };
  int rc = n->cvt->create(&mc_node_host_api, &n->consensus_host, &p,
                          &n->consensus);
  if (rc != 0)
    snprintf(err, errlen, "consensus %s: create failed: %s",
             n->consensus_plugin.path, mc_strerror(rc));
  return rc;
}

static void on_signal(uv_signal_t *h, int signum) {
  mc_node *n = h->data;
  MC_LOG(MC_LOG_INFO, "signal", MC_LOG_F_I("signum", signum));
  mc_node_stop(n, 0);
}

static int start_listening(mc_node *n, const mc_config *cfg, char *err,
                           size_t errlen) {
  size_t others = n->genesis.validator_count - (n->self_index >= 0);
  if (cfg->max_conns <= others) {
    snprintf(err, errlen,
             "--max-conns %zu leaves no room beside the %zu validator slots",
             cfg->max_conns, others);
    return MC_EINVAL;
  }
  mc_net_limits lim = {
      .max_frame = cfg->max_frame,
      .max_conns = cfg->max_conns,
      .reserved = others,
      .max_conns_per_ip = cfg->max_conns_per_ip,
      .handshake_ms = cfg->handshake_timeout_ms,
      .idle_ms = cfg->idle_timeout_ms,
      .silence_ms = MC_PEER_SILENCE_MS,
      .max_send_queue = cfg->max_send_queue,
      .memory = cfg->net_memory,
      .frames_per_sec = cfg->max_requests_per_sec,
  };
  mc_net_callbacks cb = {mc_client_on_frame, mc_client_on_closed, n};
  int rc = mc_listener_start(&n->loop, cfg->listen, &lim, &cb, &n->listener,
                             err, errlen);
  if (rc == 0 && (rc = mc_peers_start(n, &n->peers)) != 0)
    snprintf(err, errlen, "cannot start the peer layer: %s", mc_strerror(rc));
  return rc;
}

int mc_node_sig_known(void *ctx, const mc_tx *tx) {
  mc_node *n = ctx;
  return mc_mempool_tx_verified(n->mempool, tx) ||
         (n->sigcache != NULL && mc_sigcache_has(n->sigcache, tx));
}

/* Block validation's signatures: on the workers, the good ones then
 * remembered for the gossiped copies that may follow. */
static void verify_on_workers(void *ctx, const mc_tx *const *txs, size_t count,
                              int *res) {
  mc_node *n = ctx;
  mc_verify_job job = {.txs = txs, .res = res, .n = count};
  mc_verifier_run(n->verifier, &job);
  for (size_t i = 0; i < count; i++) {
    if (res[i] == 0) {
      mc_sigcache_add(n->sigcache, txs[i]);
      mc_admit_note_verified(n->admit, txs[i]);
    }
  }
}

static int start_verifier(mc_node *n, const mc_config *cfg, char *err,
                          size_t errlen) {
  int rc = mc_verifier_new(&n->loop, (unsigned)cfg->verify_threads,
                           &n->verifier);
  if (rc != 0) {
    snprintf(err, errlen, "cannot start the signature threads: %s",
             mc_strerror(rc));
    return rc;
  }
  if ((n->sigcache = mc_sigcache_new(MC_NODE_SIGCACHE)) == NULL)
    return MC_ENOMEM;
  mc_chain_set_verify_many(n->chain, verify_on_workers, n);
  if ((rc = mc_admit_new(n, &n->admit)) != 0)
    snprintf(err, errlen, "cannot start admission: %s", mc_strerror(rc));
  return rc;
}

/* ---- mempool upkeep ---- */

/* The pool's clock is the loop's: monotonic, and read without a syscall. */
static uint64_t loop_now(void *ctx) { return uv_now(&((mc_node *)ctx)->loop); }

static void on_mempool_tick(uv_timer_t *h) {
  mc_node *n = h->data;
  size_t before = mc_mempool_queued_count(n->mempool);
  mc_mempool_expire(n->mempool, uv_now(&n->loop));
  size_t gone = before - mc_mempool_queued_count(n->mempool);
  if (gone > 0)
    MC_LOG(MC_LOG_INFO, "mempool_expired", MC_LOG_F_U("txs", gone),
           MC_LOG_F_U("queued", mc_mempool_queued_count(n->mempool)));
}

static void start_mempool_upkeep(mc_node *n) {
  mc_mempool_set_clock(n->mempool, loop_now, n);
  uv_timer_init(&n->loop, &n->mempool_timer);
  n->mempool_timer.data = n;
  uv_timer_start(&n->mempool_timer, on_mempool_tick, 1000, 1000);
  n->mempool_timer_ready = 1;
}

int mc_node_open(mc_node *n, const mc_config *cfg, char *err, size_t errlen,
                 int *fatal_input) {
  n->cfg = cfg;
  mc_datadir_init(&n->datadir);
  *fatal_input = 1;
  if (mc_crypto_init() != 0) {
    snprintf(err, errlen, "libsodium failed to initialise");
    return MC_EIO;
  }
  int rc = load_inputs(n, cfg, err, errlen);
  if (rc == 0)
    rc = open_data_dir(n, cfg, err, errlen);
  if (rc == 0)
    rc = open_store(n, cfg, err, errlen);
  if (rc != 0)
    return rc;
  *fatal_input = 0;
  n->mempool = mc_mempool_new(&cfg->mempool, n->genesis.chain_id,
                              mc_chain_account_get, n->chain);
  if (n->mempool == NULL)
    return MC_ENOMEM;
  uv_loop_init(&n->loop);
  n->loop_ready = 1;
  start_mempool_upkeep(n);
  rc = start_verifier(n, cfg, err, errlen);
  if (rc == 0 && (rc = create_engine(n, cfg, err, errlen)) != 0)
    *fatal_input = 1; /* the plugin refused this chain or directory */
  if (rc == 0)
    rc = start_listening(n, cfg, err, errlen);
  if (rc == 0) {
    mc_datadir_owner o = owner_of(n);
    rc = mc_datadir_claim(&n->datadir, &o, err, errlen);
  }
  return rc;
}

/* ---- running ---- */

int mc_node_commit(mc_node *n, const mc_block *b, const uint8_t *cert,
                   size_t cert_len) {
  /* No clock here: b carries a certificate (see MC_MAX_CLOCK_DRIFT_MS). */
  int rc = mc_chain_commit(n->chain, b, cert, cert_len, mc_node_sig_known, n);
  if (rc != 0) {
    MC_LOG(MC_LOG_WARN, "block_refused", MC_LOG_F_U("height", b->header.height),
           MC_LOG_F_S("reason", mc_err_name(rc)));
    return rc;
  }
  mc_mempool_on_commit(n->mempool, b);
  if (n->peers != NULL)
    mc_peers_on_commit(n->peers, b);
  n->stats.blocks_committed++;
  n->stats.txs_committed += b->header.tx_count;
  MC_LOG(MC_LOG_INFO, "block_committed", MC_LOG_F_U("height", b->header.height),
         MC_LOG_F_HEX("hash", b->hash, MC_HASH_LEN),
         MC_LOG_F_U("txs", b->header.tx_count),
         MC_LOG_F_HEX("proposer", b->header.proposer, 4),
         MC_LOG_F_U("mempool", mc_mempool_size(n->mempool)));
  if (!n->stopping)
    n->cvt->on_commit(n->consensus, b->header.height, b->hash);
  return 0;
}

int mc_node_run(mc_node *n) {
  uv_signal_init(&n->loop, &n->sigint);
  uv_signal_init(&n->loop, &n->sigterm);
  n->sigint.data = n->sigterm.data = n;
  uv_signal_start(&n->sigint, on_signal, SIGINT);
  uv_signal_start(&n->sigterm, on_signal, SIGTERM);
  n->signals_ready = 1;
  char hex[2 * MC_HASH_LEN + 1];
  mc_hex_encode(mc_chain_head_hash(n->chain), MC_HASH_LEN, hex);
  MC_LOG(MC_LOG_INFO, "node_started", MC_LOG_F_S("listen", n->cfg->listen),
         MC_LOG_F_U("port", mc_listener_port(n->listener)),
         MC_LOG_F_S("chain_id", n->genesis.chain_id),
         MC_LOG_F_U("height", mc_chain_height(n->chain)),
         MC_LOG_F_S("head", hex), MC_LOG_F_I("validator", n->self_index),
         MC_LOG_F_S("consensus", n->consensus_plugin.path),
         MC_LOG_F_S("store", n->store_plugin.path));
  int rc = n->cvt->start(n->consensus);
  if (rc != 0) {
    MC_LOG(MC_LOG_ERROR, "consensus_start_failed",
           MC_LOG_F_S("reason", mc_strerror(rc)));
    mc_node_stop(n, 1);
  }
  uv_run(&n->loop, UV_RUN_DEFAULT);
  return n->exit_code;
}

static void close_handle_once(uv_handle_t *h) {
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

void mc_node_stop(mc_node *n, int exit_code) {
  if (n->stopping)
    return;
  n->stopping = 1;
  n->exit_code = exit_code;
  if (n->signals_ready) /* it ran: a refused start says only why */
    MC_LOG(MC_LOG_INFO, "node_stopping",
           MC_LOG_F_U("height", mc_chain_height(n->chain)),
           MC_LOG_F_U("txs_admitted", n->stats.txs_admitted),
           MC_LOG_F_U("sigs_checked",
                      n->verifier ? mc_verifier_checked(n->verifier) : 0));
  if (n->consensus != NULL)
    n->cvt->stop(n->consensus);
  mc_node_timers_close(n);
  mc_peers_stop(n->peers); /* before the listener closes its connections */
  n->peers = NULL;
  mc_listener_close(n->listener);
  n->listener = NULL;
  if (n->verifier != NULL) {
    mc_chain_set_verify_many(n->chain, NULL, NULL);
    mc_verifier_close(n->verifier);
    n->verifier = NULL;
  }
  mc_admit_close(n->admit); /* after the verifier: no batch is being read */
  n->admit = NULL;
  if (n->mempool_timer_ready)
    close_handle_once((uv_handle_t *)&n->mempool_timer);
  if (n->signals_ready) {
    close_handle_once((uv_handle_t *)&n->sigint);
    close_handle_once((uv_handle_t *)&n->sigterm);
  }
}

void mc_node_close(mc_node *n) {
  if (n->loop_ready) {
    if (!n->stopping && n->chain != NULL)
      mc_node_stop(n, n->exit_code);
    uv_run(&n->loop, UV_RUN_DEFAULT); /* let closing handles finish */
  }
  if (n->consensus != NULL) {
    n->cvt->destroy(n->consensus);
    n->consensus = NULL;
  }
  if (n->loop_ready && uv_loop_close(&n->loop) != 0)
    MC_LOG0(MC_LOG_WARN, "loop_handles_left_open");
  mc_mempool_free(n->mempool);
  mc_sigcache_free(n->sigcache);
  mc_chain_close(n->chain);
  if (n->store != NULL)
    n->svt->close(n->store);
  mc_statefile_free(n->consensus_host.state);
  free(n->consensus_host.state_path);
  mc_datadir_close(&n->datadir); /* last: it may empty a fresh directory */
  mc_genesis_free(&n->genesis);
  memset(&n->key, 0, sizeof n->key);
}
