/*
 * mcli_query.c - mcli's commands that talk to a node: send, balance,
 * block, tx and status.
 *
 * Each opens one connection (mcli_net.c), makes its requests in turn and
 * prints the answer as text, or with --json as one JSON object on one line
 * (mcli_json.c).  A node that cannot be reached or refuses a request is
 * exit status 1; a bad argument is 2 and is caught before connecting.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain/codec.h"
#include "chain/crypto.h"
#include "chain/genesis.h"
#include "config.h"
#include "keys.h"
#include "mcli.h"
#include "minichain/error.h"

#define SEND_WAIT_DEFAULT_S 60
#define POLL_INTERVAL_MS 100
#define TIMEOUT_MAX_S 86400

/* ---- options every node command takes ---- */

typedef struct node_args {
  const char *node;
  int timeout_s; /* 0 = the command's default */
  int json;
  int help;
} node_args;

#define NODE_LONGOPTS                                                          \
  {"node", required_argument, NULL, 'N'},                                      \
      {"timeout", required_argument, NULL, 'T'},                               \
      {"json", no_argument, NULL, 'J'}, {"help", no_argument, NULL, 'h'}

/* If c is one of NODE_LONGOPTS, applies it and returns 1 with the exit
 * status in *rc (MCLI_EXIT_OK unless its value is bad); else returns 0. */
static int node_option(const char *cmd, node_args *a, int c, int *rc) {
  uint64_t t;
  *rc = MCLI_EXIT_OK;
  switch (c) {
  case 'N':
    a->node = optarg;
    return 1;
  case 'T':
    if (mcli_parse_u64(optarg, &t) != 0 || t < 1 || t > TIMEOUT_MAX_S)
      *rc = mcli_usage_error(cmd, "--timeout: expected seconds in 1..%d, "
                                  "got '%s'",
                             TIMEOUT_MAX_S, optarg);
    a->timeout_s = (int)t;
    return 1;
  case 'J':
    a->json = 1;
    return 1;
  case 'h':
    a->help = 1;
    return 1;
  default:
    return 0;
  }
}

static int node_connect(const char *cmd, const node_args *a, mcli_conn *conn) {
  char err[512];
  int t = a->timeout_s > 0 && a->timeout_s < MCLI_DEFAULT_TIMEOUT_S
              ? a->timeout_s
              : MCLI_DEFAULT_TIMEOUT_S;
  int rc = mcli_connect(conn, a->node ? a->node : MC_DEFAULT_LISTEN, t, err,
                        sizeof err);
  if (rc == MC_EINVAL)
    return mcli_usage_error(cmd, "%s", err);
  return rc != 0 ? mcli_fail(cmd, "%s", err) : MCLI_EXIT_OK;
}

/* One request and its answer; a failure is reported for cmd. */
static int ask(const char *cmd, mcli_conn *conn, mc_msg *req, uint32_t want,
               mc_msg *resp) {
  char err[512];
  if (mcli_request(conn, req, want, resp, err, sizeof err) != 0)
    return mcli_fail(cmd, "%s", err);
  return MCLI_EXIT_OK;
}

/* Parses the options of a node command: NODE_LONGOPTS plus extra, whose
 * values go to on_extra(ctx, c).  Positionals are left from optind. */
typedef int (*extra_fn)(const char *cmd, void *ctx, int c);

static int parse_node_args(int argc, char **argv, const struct option *opts,
                           node_args *a, extra_fn on_extra, void *ctx) {
  int c, rc;
  while ((c = mcli_next_opt(argc, argv, opts)) >= 0) {
    if (!node_option(argv[0], a, c, &rc))
      rc = on_extra(argv[0], ctx, c);
    if (rc != MCLI_EXIT_OK)
      return rc;
  }
  return c == MCLI_OPT_ERROR ? MCLI_EXIT_USAGE : MCLI_EXIT_OK;
}

static int no_extra(const char *cmd, void *ctx, int c) {
  (void)ctx;
  (void)c;
  return mcli_usage_error(cmd, "unexpected option");
}

static void hex32(const uint8_t *p, char out[65]) { mc_hex_encode(p, 32, out); }

/* ---- send ---- */

typedef struct send_args {
  node_args n;
  const char *key;
  const char *to;
  const char *chain_id;
  uint64_t amount;
  uint64_t nonce;
  int amount_given, nonce_given, wait;
} send_args;

static int send_option(const char *cmd, void *ctx, int c) {
  send_args *s = ctx;
  switch (c) {
  case 'k':
    s->key = optarg;
    return MCLI_EXIT_OK;
  case 't':
    s->to = optarg;
    return MCLI_EXIT_OK;
  case 'c':
    if (!mc_chain_id_valid(optarg))
      return mcli_usage_error(cmd, "--chain-id: must be 1..%d characters of "
                                   "[A-Za-z0-9._-], got '%s'",
                              MC_CHAIN_ID_MAX, optarg);
    s->chain_id = optarg;
    return MCLI_EXIT_OK;
  case 'a':
    s->amount_given = 1;
    if (mcli_parse_u64(optarg, &s->amount) != 0 || s->amount == 0)
      return mcli_usage_error(cmd, "--amount: expected an integer in "
                                   "1..18446744073709551615, got '%s'",
                              optarg);
    return MCLI_EXIT_OK;
  case 'n':
    s->nonce_given = 1;
    if (mcli_parse_u64(optarg, &s->nonce) != 0 || s->nonce == 0)
      return mcli_usage_error(cmd, "--nonce: expected an integer >= 1, got "
                                   "'%s'",
                              optarg);
    return MCLI_EXIT_OK;
  default:
    s->wait = 1;
    return MCLI_EXIT_OK;
  }
}

/* Builds the unsigned transfer from the arguments and the key. */
static int send_prepare(int argc, char **argv, send_args *s, mc_keypair *kp,
                        mc_tx *tx) {
  static const struct option opts[] = {
      {"key", required_argument, NULL, 'k'},
      {"to", required_argument, NULL, 't'},
      {"amount", required_argument, NULL, 'a'},
      {"nonce", required_argument, NULL, 'n'},
      {"chain-id", required_argument, NULL, 'c'},
      {"wait", no_argument, NULL, 'w'},
      NODE_LONGOPTS,
      {NULL, 0, NULL, 0}};
  const char *cmd = argv[0];
  int rc = parse_node_args(argc, argv, opts, &s->n, send_option, s);
  if (rc != MCLI_EXIT_OK || s->n.help)
    return rc;
  if (optind < argc)
    return mcli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
  if (s->key == NULL || s->to == NULL || !s->amount_given)
    return mcli_usage_error(cmd, "--key, --to and --amount are required");
  memset(tx, 0, sizeof *tx);
  if (mcli_parse_hex32(s->to, tx->to) != 0)
    return mcli_usage_error(cmd, "--to: expected a public key of 64 hex "
                                 "digits, got '%s'",
                            s->to);
  char err[512];
  if (mc_key_load(s->key, kp, err, sizeof err) != 0)
    return mcli_fail(cmd, "%s", err);
  memcpy(tx->from, kp->pk, MC_PUBKEY_LEN);
  tx->amount = s->amount;
  return MCLI_EXIT_OK;
}

/* Fills the chain id and nonce the user left out from the node. */
static int send_fill_from_node(const char *cmd, mcli_conn *conn,
                               const send_args *s, mc_tx *tx) {
  mc_msg req = {.type = MC_MSG_GET_STATUS}, resp;
  if (s->chain_id != NULL) {
    strcpy(tx->chain_id, s->chain_id);
  } else {
    if (ask(cmd, conn, &req, MC_MSG_STATUS, &resp) != MCLI_EXIT_OK)
      return MCLI_EXIT_FAIL;
    strcpy(tx->chain_id, resp.u.status.chain_id);
  }
  if (s->nonce_given) {
    tx->nonce = s->nonce;
    return MCLI_EXIT_OK;
  }
  req.type = MC_MSG_GET_ACCOUNT;
  memcpy(req.u.get_account.pubkey, tx->from, MC_PUBKEY_LEN);
  if (ask(cmd, conn, &req, MC_MSG_ACCOUNT, &resp) != MCLI_EXIT_OK)
    return MCLI_EXIT_FAIL;
  tx->nonce = resp.u.account.next_nonce;
  return MCLI_EXIT_OK;
}

static uint64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Polls TX_STATUS until the transfer is committed or rejected or the
 * deadline passes; *st holds the last answer. */
static int send_wait(const char *cmd, mcli_conn *conn, const mc_tx *tx,
                     int timeout_s, mc_msg *st) {
  uint64_t deadline = monotonic_ms() + (uint64_t)timeout_s * 1000u;
  for (;;) {
    mc_msg req = {.type = MC_MSG_GET_TX};
    memcpy(req.u.get_tx.txid, tx->id, MC_HASH_LEN);
    if (ask(cmd, conn, &req, MC_MSG_TX_STATUS, st) != MCLI_EXIT_OK)
      return MCLI_EXIT_FAIL;
    mc_tx_state state = st->u.tx_status.state;
    if (state == MC_TX_COMMITTED || state == MC_TX_REJECTED)
      return MCLI_EXIT_OK;
    if (monotonic_ms() >= deadline)
      return mcli_fail(cmd, "transfer still %s after %d s",
                       mc_tx_state_name(state), timeout_s);
    struct timespec pause = {0, POLL_INTERVAL_MS * 1000000L};
    nanosleep(&pause, NULL);
  }
}

/* Prints the outcome: state "admitted", or st's state after --wait.  code
 * is the refusal reason (0 if none). */
static int send_report(const char *cmd, const send_args *s, const mc_tx *tx,
                       const char *state, uint64_t height, int code) {
  char id[65];
  hex32(tx->id, id);
  if (s->n.json) {
    cJSON *o = cJSON_CreateObject();
    if (o != NULL) {
      cJSON_AddItemToObject(o, "txid", cJSON_CreateString(id));
      cJSON_AddItemToObject(o, "nonce", mcli_json_u64(tx->nonce));
      cJSON_AddItemToObject(o, "chain_id", cJSON_CreateString(tx->chain_id));
      cJSON_AddItemToObject(o, "status", cJSON_CreateString(state));
      if (strcmp(state, "committed") == 0)
        cJSON_AddItemToObject(o, "height", mcli_json_u64(height));
      if (code != 0) {
        cJSON_AddItemToObject(o, "code", cJSON_CreateString(mc_err_name(code)));
        cJSON_AddItemToObject(o, "reason",
                              cJSON_CreateString(mc_strerror(code)));
      }
    }
    int rc = mcli_json_print(cmd, o);
    return code != 0 && rc == MCLI_EXIT_OK ? MCLI_EXIT_FAIL : rc;
  }
  if (code != 0)
    return mcli_fail(cmd, "transfer %s (nonce %" PRIu64 ") %s: %s (%s)", id,
                     tx->nonce, state, mc_strerror(code), mc_err_name(code));
  if (strcmp(state, "committed") == 0)
    printf("%s committed at height %" PRIu64 " (nonce %" PRIu64 ")\n", id,
           height, tx->nonce);
  else
    printf("%s %s (nonce %" PRIu64 ")\n", id, state, tx->nonce);
  return MCLI_EXIT_OK;
}

/* Submits tx and, with --wait, follows it to its end. */
static int send_submit(const char *cmd, mcli_conn *conn, const send_args *s,
                       const mc_tx *tx) {
  mc_msg req = {.type = MC_MSG_SUBMIT_TX}, resp;
  req.u.tx = *tx;
  if (ask(cmd, conn, &req, MC_MSG_SUBMIT_RESULT, &resp) != MCLI_EXIT_OK)
    return MCLI_EXIT_FAIL;
  int code = resp.u.submit_result.code;
  if (code != 0 || !s->wait)
    return send_report(cmd, s, tx, code != 0 ? "rejected" : "admitted", 0,
                       code);
  int timeout = s->n.timeout_s > 0 ? s->n.timeout_s : SEND_WAIT_DEFAULT_S;
  if (send_wait(cmd, conn, tx, timeout, &resp) != MCLI_EXIT_OK)
    return MCLI_EXIT_FAIL;
  int rejected = resp.u.tx_status.state == MC_TX_REJECTED;
  int expired = rejected && resp.u.tx_status.code == MC_EEXPIRED;
  int rc = send_report(cmd, s, tx,
                       expired ? "expired"
                               : mc_tx_state_name(resp.u.tx_status.state),
                       resp.u.tx_status.height,
                       rejected ? resp.u.tx_status.code : 0);
  mc_msg_clear(&resp);
  return rejected ? MCLI_EXIT_FAIL : rc;
}

int mcli_cmd_send(int argc, char **argv) {
  send_args s = {.n = {.node = NULL}};
  mc_keypair kp;
  mc_tx tx;
  int rc = send_prepare(argc, argv, &s, &kp, &tx);
  if (rc != MCLI_EXIT_OK || s.n.help)
    return rc == MCLI_EXIT_OK ? mcli_help(argv[0]) : rc;
  mcli_conn conn;
  rc = node_connect(argv[0], &s.n, &conn);
  if (rc == MCLI_EXIT_OK)
    rc = send_fill_from_node(argv[0], &conn, &s, &tx);
  if (rc == MCLI_EXIT_OK) {
    mc_tx_sign(&tx, kp.sk);
    rc = send_submit(argv[0], &conn, &s, &tx);
  }
  mcli_close(&conn);
  return rc;
}

/* ---- balance ---- */

typedef struct balance_args {
  uint8_t *pubkey; /* into the request */
  int given;
} balance_args;

static int balance_option(const char *cmd, void *ctx, int c) {
  balance_args *b = ctx;
  (void)c;
  b->given = 1;
  if (mcli_parse_hex32(optarg, b->pubkey) != 0)
    return mcli_usage_error(cmd, "--account: expected a public key of 64 hex "
                                 "digits, got '%s'",
                            optarg);
  return MCLI_EXIT_OK;
}

static int balance_print(const char *cmd, const node_args *a,
                         const mc_msg *resp) {
  const mc_account *acct = &resp->u.account.account;
  if (a->json) {
    cJSON *o = cJSON_CreateObject();
    if (o != NULL) {
      cJSON_AddItemToObject(o, "account",
                            mcli_json_hex(acct->pubkey, MC_PUBKEY_LEN));
      cJSON_AddItemToObject(o, "balance", mcli_json_u64(acct->balance));
      cJSON_AddItemToObject(o, "nonce", mcli_json_u64(acct->nonce));
      cJSON_AddItemToObject(o, "next_nonce",
                            mcli_json_u64(resp->u.account.next_nonce));
    }
    return mcli_json_print(cmd, o);
  }
  char pk[65];
  hex32(acct->pubkey, pk);
  printf("account    %s\nbalance    %" PRIu64 "\nnonce      %" PRIu64
         "\nnext_nonce %" PRIu64 "\n",
         pk, acct->balance, acct->nonce, resp->u.account.next_nonce);
  return MCLI_EXIT_OK;
}

int mcli_cmd_balance(int argc, char **argv) {
  static const struct option opts[] = {
      {"account", required_argument, NULL, 'a'}, NODE_LONGOPTS,
      {NULL, 0, NULL, 0}};
  node_args a = {.node = NULL};
  mc_msg req = {.type = MC_MSG_GET_ACCOUNT}, resp;
  balance_args b = {.pubkey = req.u.get_account.pubkey};
  int rc = parse_node_args(argc, argv, opts, &a, balance_option, &b);
  if (rc != MCLI_EXIT_OK || a.help)
    return rc == MCLI_EXIT_OK ? mcli_help(argv[0]) : rc;
  if (optind < argc)
    return mcli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
  if (!b.given)
    return mcli_usage_error(argv[0], "--account PUBKEY is required");
  mcli_conn conn;
  rc = node_connect(argv[0], &a, &conn);
  if (rc == MCLI_EXIT_OK)
    rc = ask(argv[0], &conn, &req, MC_MSG_ACCOUNT, &resp);
  if (rc == MCLI_EXIT_OK)
    rc = balance_print(argv[0], &a, &resp);
  mcli_close(&conn);
  return rc;
}

/* ---- block ---- */

static void block_print_text(const mc_block *b) {
  const mc_block_header *h = &b->header;
  char hex[2 * MC_SIG_LEN + 1];
  printf("height     %" PRIu64 "\n", h->height);
  hex32(b->hash, hex);
  printf("hash       %s\n", hex);
  hex32(h->prev_hash, hex);
  printf("prev_hash  %s\n", hex);
  printf("timestamp  %" PRIu64 " ms\n", h->timestamp_ms);
  hex32(h->tx_root, hex);
  printf("tx_root    %s\n", hex);
  hex32(h->state_root, hex);
  printf("state_root %s\n", hex);
  hex32(h->proposer, hex);
  printf("proposer   %s\n", hex);
  mc_hex_encode(b->signature, MC_SIG_LEN, hex);
  printf("signature  %s\n", hex);
  printf("cert       %zu bytes\n", b->cert_len);
  printf("txs        %u\n", h->tx_count);
  for (uint32_t i = 0; i < h->tx_count; i++) {
    const mc_tx *t = &b->txs[i];
    char id[65], from[65], to[65];
    hex32(t->id, id);
    hex32(t->from, from);
    hex32(t->to, to);
    printf("  %s  %s -> %s  amount %" PRIu64 "  nonce %" PRIu64 "\n", id, from,
           to, t->amount, t->nonce);
  }
}

/* HEIGHT (decimal) or HASH (64 hex digits) into a GET_BLOCK request. */
static int block_which(const char *cmd, const char *arg, mc_msg *req) {
  if (strlen(arg) == 2 * MC_HASH_LEN &&
      mcli_parse_hex32(arg, req->u.get_block.hash) == 0) {
    req->u.get_block.by_hash = 1;
    return MCLI_EXIT_OK;
  }
  if (mcli_parse_u64(arg, &req->u.get_block.height) == 0)
    return MCLI_EXIT_OK;
  return mcli_usage_error(cmd, "expected a height or a 64-hex-digit block "
                               "hash, got '%s'",
                          arg);
}

int mcli_cmd_block(int argc, char **argv) {
  static const struct option opts[] = {NODE_LONGOPTS, {NULL, 0, NULL, 0}};
  node_args a = {.node = NULL};
  mc_msg req = {.type = MC_MSG_GET_BLOCK}, resp;
  int rc = parse_node_args(argc, argv, opts, &a, no_extra, NULL);
  if (rc != MCLI_EXIT_OK || a.help)
    return rc == MCLI_EXIT_OK ? mcli_help(argv[0]) : rc;
  if (argc - optind != 1)
    return mcli_usage_error(argv[0], "expected one HEIGHT or HASH");
  if ((rc = block_which(argv[0], argv[optind], &req)) != MCLI_EXIT_OK)
    return rc;
  mcli_conn conn;
  rc = node_connect(argv[0], &a, &conn);
  if (rc == MCLI_EXIT_OK)
    rc = ask(argv[0], &conn, &req, MC_MSG_BLOCK, &resp);
  mcli_close(&conn);
  if (rc != MCLI_EXIT_OK)
    return rc;
  if (resp.u.block.block == NULL)
    return mcli_fail(argv[0], "no block %s at %s", argv[optind],
                     a.node ? a.node : MC_DEFAULT_LISTEN);
  if (a.json)
    rc = mcli_json_print(argv[0], mcli_json_block(resp.u.block.block));
  else
    block_print_text(resp.u.block.block);
  mc_msg_clear(&resp);
  return rc;
}

/* ---- tx ---- */

static int tx_print_json(const char *cmd, const char *id, const mc_msg *m) {
  cJSON *o = cJSON_CreateObject();
  mc_tx_state st = m->u.tx_status.state;
  if (o != NULL) {
    cJSON_AddItemToObject(o, "txid", cJSON_CreateString(id));
    cJSON_AddItemToObject(o, "state", cJSON_CreateString(mc_tx_state_name(st)));
    if (st == MC_TX_COMMITTED) {
      cJSON_AddItemToObject(o, "height", mcli_json_u64(m->u.tx_status.height));
      cJSON_AddItemToObject(o, "index", mcli_json_u64(m->u.tx_status.index));
    }
    if (st == MC_TX_REJECTED) {
      cJSON_AddItemToObject(o, "code",
                            cJSON_CreateString(mc_err_name(m->u.tx_status.code)));
      cJSON_AddItemToObject(o, "reason",
                            cJSON_CreateString(mc_strerror(m->u.tx_status.code)));
    }
    if (m->u.tx_status.has_tx)
      cJSON_AddItemToObject(o, "tx", mcli_json_tx(&m->u.tx_status.tx));
  }
  return mcli_json_print(cmd, o);
}

static void tx_print_text(const char *id, const mc_msg *m) {
  int code = m->u.tx_status.code;
  switch (m->u.tx_status.state) {
  case MC_TX_COMMITTED:
    printf("%s committed at height %" PRIu64 " (index %u)\n", id,
           m->u.tx_status.height, m->u.tx_status.index);
    break;
  case MC_TX_PENDING:
    printf("%s pending\n", id);
    break;
  case MC_TX_QUEUED:
    printf("%s queued (waiting for an earlier nonce)\n", id);
    break;
  case MC_TX_REJECTED:
    /* the protocol's state is "rejected", its reason says how */
    printf("%s %s: %s (%s)\n", id,
           code == MC_EEXPIRED ? "expired" : "rejected", mc_strerror(code),
           mc_err_name(code));
    break;
  default:
    printf("%s unknown\n", id);
    break;
  }
  if (m->u.tx_status.has_tx) {
    const mc_tx *t = &m->u.tx_status.tx;
    char from[65], to[65];
    hex32(t->from, from);
    hex32(t->to, to);
    printf("  %s -> %s  amount %" PRIu64 "  nonce %" PRIu64 "  chain %s\n",
           from, to, t->amount, t->nonce, t->chain_id);
  }
}

int mcli_cmd_tx(int argc, char **argv) {
  static const struct option opts[] = {NODE_LONGOPTS, {NULL, 0, NULL, 0}};
  node_args a = {.node = NULL};
  mc_msg req = {.type = MC_MSG_GET_TX}, resp;
  int rc = parse_node_args(argc, argv, opts, &a, no_extra, NULL);
  if (rc != MCLI_EXIT_OK || a.help)
    return rc == MCLI_EXIT_OK ? mcli_help(argv[0]) : rc;
  if (argc - optind != 1)
    return mcli_usage_error(argv[0], "expected one TXID");
  if (mcli_parse_hex32(argv[optind], req.u.get_tx.txid) != 0)
    return mcli_usage_error(argv[0], "expected a TXID of 64 hex digits, got "
                                     "'%s'",
                            argv[optind]);
  mcli_conn conn;
  rc = node_connect(argv[0], &a, &conn);
  if (rc == MCLI_EXIT_OK)
    rc = ask(argv[0], &conn, &req, MC_MSG_TX_STATUS, &resp);
  mcli_close(&conn);
  if (rc != MCLI_EXIT_OK)
    return rc;
  char id[65];
  hex32(req.u.get_tx.txid, id);
  if (a.json)
    return tx_print_json(argv[0], id, &resp);
  tx_print_text(id, &resp);
  return MCLI_EXIT_OK;
}

/* ---- status ---- */

static void status_print_text(const mc_status_info *s) {
  char hex[65];
  printf("node          %s (mchost %s)\n", s->node, s->version);
  printf("chain_id      %s\n", s->chain_id);
  hex32(s->genesis_hash, hex);
  printf("genesis_hash  %s\n", hex);
  printf("height        %" PRIu64 "\n", s->height);
  hex32(s->head_hash, hex);
  printf("head_hash     %s\n", hex);
  printf("head_time_ms  %" PRIu64 "\n", s->head_time_ms);
  printf("validators    %u (self %d)\n", s->validators, s->self_index);
  printf("view          %" PRIu64 " (leader %d)\n", s->view, s->leader);
  printf("mempool       %" PRIu64 " ready, %" PRIu64 " queued\n",
         s->mempool_ready, s->mempool_queued);
  printf("peers         %u\n", s->peers);
  printf("plugins       consensus %s, store %s\n", s->consensus, s->store);
}

int mcli_cmd_status(int argc, char **argv) {
  static const struct option opts[] = {NODE_LONGOPTS, {NULL, 0, NULL, 0}};
  node_args a = {.node = NULL};
  mc_msg req = {.type = MC_MSG_GET_STATUS}, resp;
  int rc = parse_node_args(argc, argv, opts, &a, no_extra, NULL);
  if (rc != MCLI_EXIT_OK || a.help)
    return rc == MCLI_EXIT_OK ? mcli_help(argv[0]) : rc;
  if (optind < argc)
    return mcli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
  mcli_conn conn;
  rc = node_connect(argv[0], &a, &conn);
  if (rc == MCLI_EXIT_OK)
    rc = ask(argv[0], &conn, &req, MC_MSG_STATUS, &resp);
  mcli_close(&conn);
  if (rc != MCLI_EXIT_OK)
    return rc;
  if (a.json)
    return mcli_json_print(argv[0], mcli_json_status(&resp.u.status));
  status_print_text(&resp.u.status);
  return MCLI_EXIT_OK;
}

/* ---- watch ---- */

#define WATCH_POLL_MS 250

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void watch_print(const node_args *a, const mc_block *b,
                        const mc_status_info *s) {
  if (a->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "height", mcli_json_u64(b->header.height));
    cJSON_AddItemToObject(o, "txs", mcli_json_u64(b->header.tx_count));
    cJSON_AddItemToObject(o, "proposer",
                          mcli_json_hex(b->header.proposer, MC_PUBKEY_LEN));
    cJSON_AddItemToObject(o, "hash", mcli_json_hex(b->hash, MC_HASH_LEN));
    cJSON_AddItemToObject(o, "view", mcli_json_u64(s->view));
    cJSON_AddNumberToObject(o, "leader", s->leader);
    cJSON_AddNumberToObject(o, "peers", s->peers);
    mcli_json_print("watch", o);
  } else {
    char hash[65], prop[65];
    hex32(b->hash, hash);
    hex32(b->header.proposer, prop);
    printf("height %-7" PRIu64 " txs %-5u proposer %.8s  hash %.16s  "
           "| view %" PRIu64 " leader %d peers %u mempool %" PRIu64 "\n",
           b->header.height, b->header.tx_count, prop, hash, s->view,
           s->leader, s->peers, s->mempool_ready + s->mempool_queued);
  }
  fflush(stdout);
}

/* Prints the blocks after *shown up to the node's head. */
static int watch_step(const node_args *a, mcli_conn *conn, uint64_t *shown,
                      int *started) {
  char err[512];
  mc_msg req = {.type = MC_MSG_GET_STATUS}, st;
  if (mcli_request(conn, &req, MC_MSG_STATUS, &st, err, sizeof err) != 0)
    return MC_EIO;
  uint64_t head = st.u.status.height;
  if (!*started) {
    *shown = head > 0 ? head - 1 : 0; /* start with the head block */
    *started = 1;
  }
  for (uint64_t h = *shown + 1; h <= head; h++) {
    mc_msg breq = {.type = MC_MSG_GET_BLOCK}, resp;
    breq.u.get_block.height = h;
    if (mcli_request(conn, &breq, MC_MSG_BLOCK, &resp, err, sizeof err) != 0)
      return MC_EIO;
    if (resp.u.block.block != NULL)
      watch_print(a, resp.u.block.block, &st.u.status);
    mc_msg_clear(&resp);
    *shown = h;
  }
  mc_msg_clear(&st);
  return 0;
}

int mcli_cmd_watch(int argc, char **argv) {
  static const struct option opts[] = {NODE_LONGOPTS, {NULL, 0, NULL, 0}};
  node_args a = {.node = NULL};
  int rc = parse_node_args(argc, argv, opts, &a, no_extra, NULL);
  if (rc != MCLI_EXIT_OK || a.help)
    return rc == MCLI_EXIT_OK ? mcli_help(argv[0]) : rc;
  if (optind < argc)
    return mcli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
  uint64_t shown = 0;
  int started = 0, reported = 0;
  for (;;) {
    mcli_conn conn;
    char err[512];
    if (mcli_connect(&conn, a.node ? a.node : MC_DEFAULT_LISTEN,
                     MCLI_DEFAULT_TIMEOUT_S, err, sizeof err) == MC_EINVAL)
      return mcli_usage_error(argv[0], "%s", err);
    while (conn.fd >= 0 && watch_step(&a, &conn, &shown, &started) == 0) {
      reported = 0;
      sleep_ms(WATCH_POLL_MS);
    }
    mcli_close(&conn);
    if (!reported)
      fprintf(stderr, "mcli watch: node %s unreachable; retrying\n",
              a.node ? a.node : MC_DEFAULT_LISTEN);
    reported = 1;
    sleep_ms(1000);
  }
}
