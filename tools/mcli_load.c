/*
 * mcli_load.c - `mcli load`: a steady stream of signed transfers, for
 * devnets and for measuring how many transfers per second a network
 * commits.
 *
 * The keys given pay each other in a ring (key i pays key i+1), so the
 * supply stays where it was and no account runs dry.  Transfers go to the
 * nodes in turn, which exercises gossip and the mempool's queue of future
 * nonces.  Nonces are tracked here; a refusal for a stale nonce (after a
 * node restart, say) makes the sender's nonce be asked again.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain/codec.h"
#include "keys.h"
#include "mcli.h"
#include "minichain/error.h"

#define LOAD_MAX_NODES 16
#define LOAD_MAX_KEYS 64
#define LOAD_DEFAULT_RATE 200
#define LOAD_COMMIT_WAIT_S 120

typedef struct load_args {
  const char *nodes[LOAD_MAX_NODES];
  size_t nnodes;
  const char *keys[LOAD_MAX_KEYS];
  size_t nkeys;
  uint64_t rate, count, amount;
  int help;
} load_args;

typedef struct sender {
  mc_keypair kp;
  uint64_t next_nonce; /* 0: ask the node */
  uint8_t last_id[MC_HASH_LEN];
  int sent_any;
} sender;

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void pause_ms(uint64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int load_parse(int argc, char **argv, load_args *a) {
  static const struct option opts[] = {
      {"node", required_argument, NULL, 'N'},
      {"key", required_argument, NULL, 'k'},
      {"rate", required_argument, NULL, 'r'},
      {"count", required_argument, NULL, 'c'},
      {"amount", required_argument, NULL, 'a'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *cmd = argv[0];
  int c;
  while ((c = mcli_next_opt(argc, argv, opts)) >= 0) {
    uint64_t *num = c == 'r' ? &a->rate : c == 'c' ? &a->count : &a->amount;
    switch (c) {
    case 'N':
      if (a->nnodes == LOAD_MAX_NODES)
        return mcli_usage_error(cmd, "at most %d --node", LOAD_MAX_NODES);
      a->nodes[a->nnodes++] = optarg;
      break;
    case 'k':
      if (a->nkeys == LOAD_MAX_KEYS)
        return mcli_usage_error(cmd, "at most %d --key", LOAD_MAX_KEYS);
      a->keys[a->nkeys++] = optarg;
      break;
    case 'h':
      a->help = 1;
      break;
    default:
      if (mcli_parse_u64(optarg, num) != 0 || (c != 'c' && *num == 0))
        return mcli_usage_error(cmd, "--%s: expected a positive integer, got "
                                     "'%s'",
                                c == 'r' ? "rate" : c == 'c' ? "count"
                                                             : "amount",
                                optarg);
    }
  }
  if (c == MCLI_OPT_ERROR)
    return MCLI_EXIT_USAGE;
  if (a->help)
    return MCLI_EXIT_OK;
  if (optind < argc)
    return mcli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
  if (a->nnodes == 0 || a->nkeys < 2)
    return mcli_usage_error(cmd, "give at least one --node and two --key");
  return MCLI_EXIT_OK;
}

static int ask_nonce(mcli_conn *conn, sender *s, char *err, size_t errlen) {
  mc_msg req = {.type = MC_MSG_GET_ACCOUNT}, resp;
  memcpy(req.u.get_account.pubkey, s->kp.pk, MC_PUBKEY_LEN);
  int rc = mcli_request(conn, &req, MC_MSG_ACCOUNT, &resp, err, errlen);
  if (rc == 0)
    s->next_nonce = resp.u.account.next_nonce;
  return rc;
}

/* Submits one transfer from s to `to`.  Returns the node's verdict (0
 * admitted) or a connection error (MC_EIO, reported in err). */
static int submit_one(mcli_conn *conn, const char *chain_id, sender *s,
                      const uint8_t to[MC_PUBKEY_LEN], uint64_t amount,
                      int *verdict, char *err, size_t errlen) {
  if (s->next_nonce == 0) {
    int rc = ask_nonce(conn, s, err, errlen);
    if (rc != 0)
      return rc;
  }
  mc_msg req = {.type = MC_MSG_SUBMIT_TX}, resp;
  mc_tx *tx = &req.u.tx;
  snprintf(tx->chain_id, sizeof tx->chain_id, "%s", chain_id);
  memcpy(tx->from, s->kp.pk, MC_PUBKEY_LEN);
  memcpy(tx->to, to, MC_PUBKEY_LEN);
  tx->amount = amount;
  tx->nonce = s->next_nonce;
  mc_tx_sign(tx, s->kp.sk);
  int rc = mcli_request(conn, &req, MC_MSG_SUBMIT_RESULT, &resp, err, errlen);
  if (rc != 0)
    return rc;
  *verdict = resp.u.submit_result.code;
  if (*verdict == 0) {
    s->next_nonce++;
    memcpy(s->last_id, tx->id, MC_HASH_LEN);
    s->sent_any = 1;
  } else if (*verdict == MC_ENONCE || *verdict == MC_ENONCEGAP) {
    s->next_nonce = 0; /* out of step with the chain: ask again */
  }
  return 0;
}

/* Sums the transfers of blocks (from, to] as the node reports them. */
static uint64_t committed_between(mcli_conn *conn, uint64_t from,
                                  uint64_t to) {
  uint64_t total = 0;
  char err[256];
  for (uint64_t h = from + 1; h <= to; h++) {
    mc_msg req = {.type = MC_MSG_GET_BLOCK}, resp;
    req.u.get_block.height = h;
    if (mcli_request(conn, &req, MC_MSG_BLOCK, &resp, err, sizeof err) != 0)
      break;
    if (resp.u.block.block != NULL)
      total += resp.u.block.block->header.tx_count;
    mc_msg_clear(&resp);
  }
  return total;
}

static int node_height(mcli_conn *conn, uint64_t *height, char *chain_id,
                       char *err, size_t errlen) {
  mc_msg req = {.type = MC_MSG_GET_STATUS}, resp;
  int rc = mcli_request(conn, &req, MC_MSG_STATUS, &resp, err, errlen);
  if (rc == 0) {
    *height = resp.u.status.height;
    if (chain_id != NULL)
      strcpy(chain_id, resp.u.status.chain_id);
    mc_msg_clear(&resp);
  }
  return rc;
}

/* Waits until every sender's last admitted transfer is committed. */
static int wait_all_committed(mcli_conn *conn, const sender *ss, size_t n) {
  uint64_t deadline = now_ms() + LOAD_COMMIT_WAIT_S * 1000u;
  char err[256];
  for (size_t i = 0; i < n && !interrupted; i++) {
    while (ss[i].sent_any) {
      mc_msg req = {.type = MC_MSG_GET_TX}, resp;
      memcpy(req.u.get_tx.txid, ss[i].last_id, MC_HASH_LEN);
      if (mcli_request(conn, &req, MC_MSG_TX_STATUS, &resp, err,
                       sizeof err) != 0)
        return mcli_fail("load", "%s", err);
      mc_tx_state st = resp.u.tx_status.state;
      mc_msg_clear(&resp);
      if (st == MC_TX_COMMITTED)
        break;
      if (st == MC_TX_REJECTED || st == MC_TX_UNKNOWN || now_ms() > deadline)
        return mcli_fail("load", "a transfer ended %s instead of committed",
                         now_ms() > deadline ? "still pending"
                                             : mc_tx_state_name(st));
      pause_ms(100);
    }
  }
  return MCLI_EXIT_OK;
}

typedef struct load_run {
  load_args *a;
  sender *ss;
  mcli_conn conns[LOAD_MAX_NODES];
  char chain_id[MC_CHAIN_ID_MAX + 1];
  uint64_t retry_ms[LOAD_MAX_NODES];
  uint64_t admitted, refused, start_height, start_ms;
} load_run;

static void report_second(load_run *r, uint64_t *last_height,
                          uint64_t *last_ms) {
  uint64_t h;
  char err[256];
  if (node_height(&r->conns[0], &h, NULL, err, sizeof err) != 0)
    return;
  uint64_t t = now_ms();
  uint64_t txs = committed_between(&r->conns[0], *last_height, h);
  double secs = (double)(t - *last_ms) / 1000.0;
  printf("load: admitted %" PRIu64 " refused %" PRIu64 " | height %" PRIu64
         " committed %.0f transfers/s\n",
         r->admitted, r->refused, h, secs > 0 ? (double)txs / secs : 0.0);
  fflush(stdout);
  *last_height = h;
  *last_ms = t;
}

/* The connection to node i, reconnecting at most once a second when it
 * was lost: a devnet keeps its load while a node restarts. */
static mcli_conn *node_conn(load_run *r, size_t i) {
  mcli_conn *c = &r->conns[i];
  if (c->fd >= 0)
    return c;
  uint64_t t = now_ms();
  if (t - r->retry_ms[i] < 1000)
    return NULL;
  r->retry_ms[i] = t;
  char err[256];
  return mcli_connect(c, r->a->nodes[i], 2, err, sizeof err) == 0 ? c : NULL;
}

static int load_loop(load_run *r) {
  load_args *a = r->a;
  uint64_t last_height = r->start_height, last_report = r->start_ms;
  uint64_t i = 0;
  char err[512];
  while (!interrupted && (a->count == 0 || r->admitted < a->count)) {
    /* Pace: transfer i is due i/rate seconds after the start. */
    uint64_t due = r->start_ms + i * 1000u / a->rate;
    uint64_t t = now_ms();
    if (due > t)
      pause_ms(due - t);
    sender *s = &r->ss[i % a->nkeys];
    const sender *to = &r->ss[(i + 1) % a->nkeys];
    size_t node = i % a->nnodes;
    mcli_conn *conn = node_conn(r, node);
    int verdict = 0;
    if (conn == NULL) {
      i++;
      continue;
    }
    if (submit_one(conn, r->chain_id, s, to->kp.pk, a->amount, &verdict, err,
                   sizeof err) != 0) {
      fprintf(stderr, "mcli load: %s; retrying\n", err);
      mcli_close(conn);
      r->retry_ms[node] = now_ms();
      s->next_nonce = 0;
      i++;
      continue;
    }
    if (verdict == 0)
      r->admitted++;
    else
      r->refused++;
    i++;
    if (now_ms() - last_report >= 1000)
      report_second(r, &last_height, &last_report);
  }
  return MCLI_EXIT_OK;
}

static int load_open(load_run *r) {
  char err[512];
  for (size_t i = 0; i < r->a->nkeys; i++)
    if (mc_key_load(r->a->keys[i], &r->ss[i].kp, err, sizeof err) != 0)
      return mcli_fail("load", "%s", err);
  for (size_t i = 0; i < r->a->nnodes; i++) {
    int rc = mcli_connect(&r->conns[i], r->a->nodes[i], MCLI_DEFAULT_TIMEOUT_S,
                          err, sizeof err);
    if (rc != 0)
      return rc == MC_EINVAL ? mcli_usage_error("load", "%s", err)
                             : mcli_fail("load", "%s", err);
  }
  if (node_height(&r->conns[0], &r->start_height, r->chain_id, err,
                  sizeof err) != 0)
    return mcli_fail("load", "%s", err);
  return MCLI_EXIT_OK;
}

static int load_summary(load_run *r) {
  int rc = wait_all_committed(&r->conns[0], r->ss, r->a->nkeys);
  uint64_t h;
  char err[256];
  if (rc != MCLI_EXIT_OK || node_height(&r->conns[0], &h, NULL, err,
                                        sizeof err) != 0)
    return MCLI_EXIT_FAIL;
  double secs = (double)(now_ms() - r->start_ms) / 1000.0;
  uint64_t txs = committed_between(&r->conns[0], r->start_height, h);
  printf("load: %" PRIu64 " admitted, %" PRIu64 " refused; %" PRIu64
         " transfers committed in blocks %" PRIu64 "..%" PRIu64
         " over %.1f s: %.0f transfers/s\n",
         r->admitted, r->refused, txs, r->start_height + 1, h, secs,
         secs > 0 ? (double)txs / secs : 0.0);
  return MCLI_EXIT_OK;
}

int mcli_cmd_load(int argc, char **argv) {
  load_args a = {.rate = LOAD_DEFAULT_RATE, .amount = 1};
  int rc = load_parse(argc, argv, &a);
  if (rc != MCLI_EXIT_OK || a.help)
    return rc == MCLI_EXIT_OK ? mcli_help(argv[0]) : rc;
  load_run r = {.a = &a};
  sender ss[LOAD_MAX_KEYS];
  memset(ss, 0, sizeof ss);
  r.ss = ss;
  for (size_t i = 0; i < LOAD_MAX_NODES; i++)
    r.conns[i].fd = -1;
  signal(SIGINT, on_sigint);
  signal(SIGTERM, on_sigint);
  rc = load_open(&r);
  if (rc == MCLI_EXIT_OK) {
    r.start_ms = now_ms();
    rc = load_loop(&r);
  }
  if (rc == MCLI_EXIT_OK && !interrupted)
    rc = load_summary(&r);
  for (size_t i = 0; i < a.nnodes; i++)
    mcli_close(&r.conns[i]);
  memset(ss, 0, sizeof ss);
  return rc;
}
