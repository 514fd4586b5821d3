/*
 * mcli_keys.c - mcli's offline commands: keygen, pubkey and genesis.
 *
 * These never talk to a node.  Key files are written and read by
 * host/keys.c and the genesis document by host/chain/genesis.c, so that
 * what mcli writes is exactly what mchost reads: a genesis is parsed back
 * with the node's own strict parser before it is written.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chain/crypto.h"
#include "chain/genesis.h"
#include "keys.h"
#include "mcli.h"
#include "minichain/error.h"

/* Fails with a usage error if positional arguments remain. */
static int no_positionals(int argc, char **argv) {
  if (optind < argc)
    return mcli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
  return MCLI_EXIT_OK;
}

static void print_pubkey(const uint8_t pk[MC_PUBKEY_LEN]) {
  char hex[2 * MC_PUBKEY_LEN + 1];
  mc_hex_encode(pk, MC_PUBKEY_LEN, hex);
  puts(hex);
}

/* ---- keygen ---- */

static int keygen_make(const char *cmd, const char *seed, mc_keypair *kp) {
  if (seed == NULL) {
    mc_key_generate(kp);
    return MCLI_EXIT_OK;
  }
  if (mc_key_from_dev_name(seed, kp) != 0)
    return mcli_usage_error(cmd, "--seed: the name must not be empty");
  fprintf(stderr,
          "mcli %s: warning: the key derived from the name '%s' is for "
          "development only: anyone who knows the name has the key\n",
          cmd, seed);
  return MCLI_EXIT_OK;
}

int mcli_cmd_keygen(int argc, char **argv) {
  static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                       {"seed", required_argument, NULL, 's'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *out = NULL, *seed = NULL;
  int c;
  while ((c = mcli_next_opt(argc, argv, opts)) >= 0) {
    if (c == 'h')
      return mcli_help(argv[0]);
    if (c == 'o')
      out = optarg;
    else
      seed = optarg;
  }
  if (c == MCLI_OPT_ERROR || no_positionals(argc, argv) != 0)
    return MCLI_EXIT_USAGE;
  if (out == NULL && seed == NULL)
    return mcli_usage_error(argv[0], "--out FILE is required (a random key "
                                     "that is not saved is lost)");
  mc_keypair kp;
  int rc = keygen_make(argv[0], seed, &kp);
  if (rc != MCLI_EXIT_OK)
    return rc;
  char err[512];
  if (out != NULL && (rc = mc_key_save(out, &kp, err, sizeof err)) != 0) {
    if (rc == MC_EINVAL)
      return mcli_fail(argv[0], "%s (an existing key file is never replaced)",
                       err);
    return mcli_fail(argv[0], "%s", err);
  }
  print_pubkey(kp.pk);
  return MCLI_EXIT_OK;
}

/* ---- pubkey ---- */

int mcli_cmd_pubkey(int argc, char **argv) {
  static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *key = NULL;
  int c;
  while ((c = mcli_next_opt(argc, argv, opts)) >= 0) {
    if (c == 'h')
      return mcli_help(argv[0]);
    key = optarg;
  }
  if (c == MCLI_OPT_ERROR || no_positionals(argc, argv) != 0)
    return MCLI_EXIT_USAGE;
  if (key == NULL)
    return mcli_usage_error(argv[0], "--key FILE is required");
  mc_keypair kp;
  char err[512];
  if (mc_key_load(key, &kp, err, sizeof err) != 0)
    return mcli_fail(argv[0], "%s", err);
  print_pubkey(kp.pk);
  return MCLI_EXIT_OK;
}

/* ---- genesis ---- */

typedef struct genesis_args {
  mc_genesis g;
  const char *out;
  int force;
  int time_given;
  int help; /* --help was given: print it and do nothing else */
} genesis_args;

static int add_validator(const char *cmd, genesis_args *a, const char *hex) {
  if (a->g.validator_count == MC_MAX_VALIDATORS)
    return mcli_usage_error(cmd, "at most %d validators", MC_MAX_VALIDATORS);
  if (mcli_parse_hex32(hex, a->g.validators[a->g.validator_count]) != 0)
    return mcli_usage_error(cmd,
                            "--validator: expected a public key of 64 hex "
                            "digits, got '%s' (`mcli pubkey --key FILE` "
                            "prints one)",
                            hex);
  a->g.validator_count++;
  return MCLI_EXIT_OK;
}

static int add_alloc(const char *cmd, genesis_args *a, const char *arg) {
  const char *eq = strchr(arg, '=');
  char hex[2 * MC_PUBKEY_LEN + 1];
  mc_account *acct = &a->g.alloc[a->g.alloc_count];
  memset(acct, 0, sizeof *acct);
  if (eq == NULL || (size_t)(eq - arg) != 2 * MC_PUBKEY_LEN)
    return mcli_usage_error(cmd, "--alloc: expected PUBKEY=AMOUNT, got '%s'",
                            arg);
  memcpy(hex, arg, 2 * MC_PUBKEY_LEN);
  hex[2 * MC_PUBKEY_LEN] = '\0';
  if (mcli_parse_hex32(hex, acct->pubkey) != 0)
    return mcli_usage_error(cmd, "--alloc: '%s' is not 64 hex digits", hex);
  if (mcli_parse_u64(eq + 1, &acct->balance) != 0 || acct->balance == 0)
    return mcli_usage_error(cmd,
                            "--alloc: amount must be an integer in "
                            "1..18446744073709551615, got '%s'",
                            eq + 1);
  a->g.alloc_count++;
  return MCLI_EXIT_OK;
}

/* Parses a numeric flag into *out, which must fit in [lo, hi]. */
static int param(const char *cmd, const char *flag, const char *s, uint64_t lo,
                 uint64_t hi, uint64_t *out) {
  if (mcli_parse_u64(s, out) != 0 || *out < lo || *out > hi)
    return mcli_usage_error(cmd, "--%s: expected an integer in %llu..%llu, "
                                 "got '%s'",
                            flag, (unsigned long long)lo,
                            (unsigned long long)hi, s);
  return MCLI_EXIT_OK;
}

static int genesis_option(const char *cmd, genesis_args *a, int c) {
  uint64_t v = 0;
  int rc = MCLI_EXIT_OK;
  switch (c) {
  case 'v':
    return add_validator(cmd, a, optarg);
  case 'a':
    return add_alloc(cmd, a, optarg);
  case 'c':
    if (!mc_chain_id_valid(optarg))
      return mcli_usage_error(cmd, "--chain-id: must be 1..%d characters of "
                                   "[A-Za-z0-9._-], got '%s'",
                              MC_CHAIN_ID_MAX, optarg);
    strcpy(a->g.chain_id, optarg);
    return MCLI_EXIT_OK;
  case 'm':
    rc = param(cmd, "max-txs", optarg, 1, 10000, &v);
    a->g.max_txs_per_block = (uint32_t)v;
    return rc;
  case 'b':
    return param(cmd, "block-interval", optarg, 10, 3600000,
                 &a->g.block_interval_ms);
  case 't':
    return param(cmd, "view-timeout", optarg, 100, 3600000,
                 &a->g.view_timeout_ms);
  case 'g':
    a->time_given = 1;
    return param(cmd, "genesis-time", optarg, 0, (1ull << 53) - 1,
                 &a->g.genesis_time_ms);
  case 'o':
    a->out = optarg;
    return MCLI_EXIT_OK;
  default:
    a->force = 1;
    return MCLI_EXIT_OK;
  }
}

static int genesis_parse_args(int argc, char **argv, genesis_args *a) {
  static const struct option opts[] = {
      {"validator", required_argument, NULL, 'v'},
      {"alloc", required_argument, NULL, 'a'},
      {"chain-id", required_argument, NULL, 'c'},
      {"max-txs", required_argument, NULL, 'm'},
      {"block-interval", required_argument, NULL, 'b'},
      {"view-timeout", required_argument, NULL, 't'},
      {"genesis-time", required_argument, NULL, 'g'},
      {"out", required_argument, NULL, 'o'},
      {"force", no_argument, NULL, 'f'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int c;
  while ((c = mcli_next_opt(argc, argv, opts)) >= 0) {
    if (c == 'h') {
      a->help = 1;
      return MCLI_EXIT_OK;
    }
    int rc = genesis_option(argv[0], a, c);
    if (rc != MCLI_EXIT_OK)
      return rc;
  }
  if (c == MCLI_OPT_ERROR || no_positionals(argc, argv) != 0)
    return MCLI_EXIT_USAGE;
  if (a->g.validator_count == 0)
    return mcli_usage_error(argv[0], "at least one --validator is required");
  if (a->out == NULL)
    return mcli_usage_error(argv[0], "--out FILE is required");
  return MCLI_EXIT_OK;
}

/* Writes text to path: a new file unless force. */
static int write_file(const char *cmd, const char *path, const char *text,
                      int force) {
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
  int fd = open(path, flags, 0644);
  if (fd < 0)
    return mcli_fail(cmd, "%s: %s%s", path, strerror(errno),
                     errno == EEXIST ? " (use --force to replace it)" : "");
  size_t len = strlen(text);
  int ok = write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 &&
           fsync(fd) == 0;
  int saved = errno;
  if (close(fd) != 0 && ok) {
    ok = 0;
    saved = errno;
  }
  if (!ok)
    return mcli_fail(cmd, "%s: cannot write: %s", path, strerror(saved));
  return MCLI_EXIT_OK;
}

/* Renders a->g, checks it with the node's parser, writes it. */
static int genesis_write(const char *cmd, genesis_args *a) {
  char *json = mc_genesis_to_json(&a->g);
  if (json == NULL)
    return mcli_fail(cmd, "out of memory");
  mc_genesis check;
  char err[512];
  int rc = mc_genesis_parse(json, strlen(json), &check, err, sizeof err);
  if (rc != 0) {
    free(json);
    return rc == MC_ENOMEM ? mcli_fail(cmd, "out of memory")
                           : mcli_usage_error(cmd, "%s", err);
  }
  rc = write_file(cmd, a->out, json, a->force);
  free(json);
  if (rc == MCLI_EXIT_OK) {
    char hex[2 * MC_HASH_LEN + 1];
    mc_hex_encode(check.hash, MC_HASH_LEN, hex);
    printf("wrote %s: chain %s, %u validator(s), %zu account(s), genesis "
           "hash %s\n",
           a->out, check.chain_id, check.validator_count, check.alloc_count,
           hex);
  }
  mc_genesis_free(&check);
  return rc;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int mcli_cmd_genesis(int argc, char **argv) {
  genesis_args a = {.out = NULL};
  /* each --validator or --alloc takes at least one argv entry */
  a.g.validators = calloc(MC_MAX_VALIDATORS, sizeof *a.g.validators);
  a.g.alloc = calloc((size_t)argc, sizeof *a.g.alloc);
  if (a.g.validators == NULL || a.g.alloc == NULL) {
    mc_genesis_free(&a.g);
    return mcli_fail(argv[0], "out of memory");
  }
  strcpy(a.g.chain_id, "minichain-devnet");
  a.g.max_txs_per_block = MC_DEFAULT_MAX_TXS_PER_BLOCK;
  a.g.block_interval_ms = MC_DEFAULT_BLOCK_INTERVAL_MS;
  a.g.view_timeout_ms = MC_DEFAULT_VIEW_TIMEOUT_MS;
  int rc = genesis_parse_args(argc, argv, &a);
  if (rc == MCLI_EXIT_OK && a.help) {
    rc = mcli_help(argv[0]);
  } else if (rc == MCLI_EXIT_OK) {
    if (!a.time_given)
      a.g.genesis_time_ms = now_ms();
    rc = genesis_write(argv[0], &a);
  }
  mc_genesis_free(&a.g);
  return rc;
}
