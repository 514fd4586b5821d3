/*
 * mcli.c - the command-line client's entry point: the command table, the
 * help texts, diagnostics and the argument parsers the commands share.
 *
 * Exit status: 0 success, 1 failure (the node refused, could not be
 * reached, a transfer was rejected), 2 bad arguments.  Scripts rely on the
 * difference, so every argument error goes through mcli_usage_error.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "chain/crypto.h"
#include "mcli.h"
#include "minichain/error.h"

typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
  const char *help;
} command;

#define NODE_OPTS                                                              \
  "  --node HOST:PORT   the node's client address (default 127.0.0.1:7001)\n"  \
  "  --timeout S        seconds to wait for the node (default 10)\n"          \
  "  --json             print one JSON object instead of text\n"

static const command commands[] = {
    {"keygen", mcli_cmd_keygen, "make a key file, print its public key",
     "usage: mcli keygen --out FILE\n"
     "       mcli keygen --seed NAME [--out FILE]\n"
     "\n"
     "Writes a new random ed25519 key to FILE (mode 0600; an existing file is\n"
     "never replaced) and prints its public key in hex.  With --seed, the key\n"
     "is derived from NAME (SHA-256(\"minichain-dev-key:\" NAME)): anyone who\n"
     "knows the name has the key, so such keys are for devnets and tests\n"
     "only.  Without --out a seed key's public key is only printed.\n"},
    {"pubkey", mcli_cmd_pubkey, "print the public key of a key file",
     "usage: mcli pubkey --key FILE\n"},
    {"genesis", mcli_cmd_genesis, "write a genesis file",
     "usage: mcli genesis --validator PUBKEY... [--alloc PUBKEY=AMOUNT...]\n"
     "                    [--chain-id ID] [--max-txs N] [--block-interval MS]\n"
     "                    [--view-timeout MS] [--genesis-time MS] [--force]\n"
     "                    --out FILE\n"
     "\n"
     "--validator and --alloc repeat; validators lead in the order given.\n"
     "Defaults: chain id minichain-devnet, 500 transfers per block, a block\n"
     "every 1000 ms, a view timeout of 4000 ms, genesis time now.  The file\n"
     "is checked by the node's own parser before it is written; an existing\n"
     "file is replaced only with --force.\n"},
    {"send", mcli_cmd_send, "sign and submit a transfer",
     "usage: mcli send --key FILE --to PUBKEY --amount N [--nonce N]\n"
     "                 [--chain-id ID] [--wait] [--node HOST:PORT]\n"
     "                 [--timeout S] [--json]\n"
     "\n"
     "Signs a transfer with the key in FILE and submits it.  The nonce is the\n"
     "node's next nonce for the sender and the chain id the node's, unless\n"
     "given.  Prints the transaction id.  With --wait, polls the node until\n"
     "the transfer is committed and prints the height (--timeout S bounds\n"
     "the wait, default 60).  Exit status 1 if the node rejects it.\n"
     "\n" NODE_OPTS},
    {"balance", mcli_cmd_balance, "print an account's balance and nonce",
     "usage: mcli balance --account PUBKEY [--node HOST:PORT] [--json]\n"
     "\n"
     "Prints the committed balance and nonce, and the nonce the account's\n"
     "next transfer should use (counting its pending transfers).\n"
     "\n" NODE_OPTS},
    {"block", mcli_cmd_block, "print a block by height or hash",
     "usage: mcli block [--node HOST:PORT] [--json] HEIGHT|HASH\n"
     "\n" NODE_OPTS},
    {"tx", mcli_cmd_tx, "print where a transaction stands",
     "usage: mcli tx [--node HOST:PORT] [--json] TXID\n"
     "\n"
     "States: pending (ready for the next block), queued (waiting for an\n"
     "earlier nonce), committed (at a height), rejected (with the reason),\n"
     "unknown.\n"
     "\n" NODE_OPTS},
    {"status", mcli_cmd_status, "print the node's status",
     "usage: mcli status [--node HOST:PORT] [--json]\n"
     "\n" NODE_OPTS},
    {"load", mcli_cmd_load, "offer transfers at a rate, measure commits",
     "usage: mcli load --node HOST:PORT... --key FILE --key FILE...\n"
     "                 [--rate TPS|max] [--count N] [--duration S]\n"
     "                 [--amount A] [--window N] [--conns N] [--per-key N]\n"
     "                 [--json]\n"
     "\n"
     "The keys pay each other in a ring (each pays the next A, default 1).\n"
     "Transfers are signed ahead and offered at TPS a second (default 200;\n"
     "max: as fast as the windows allow) whether or not earlier ones were\n"
     "answered, with up to N requests in flight per connection (--window,\n"
     "default 1024).  Each key sends on one connection; the connections\n"
     "(--conns per node, default 4, no more than there are keys) are spread\n"
     "over the nodes.  A node reads at most 2000 requests a second from one\n"
     "connection (mchost --max-requests-per-sec): to offer more, give more\n"
     "connections and keys.  A key has at most N transfers in flight or\n"
     "uncommitted (--per-key, default 4096).\n"
     "\n"
     "Commits are seen by following the first node's chain.  Once a second\n"
     "it prints what was sent, admitted and committed.  It stops after N\n"
     "admitted transfers (--count), after S seconds (--duration) or at\n"
     "Ctrl-C, waits up to 120 s for the admitted ones to commit and prints\n"
     "the offered and committed transfers/s, the refusals by reason and the\n"
     "submit-to-commit latency (p50, p90, p99, max); --json prints that as\n"
     "one JSON object (progress goes to stderr).  A stale nonce makes a key\n"
     "ask its nonce again; a full mempool (EFULL) makes it wait and send the\n"
     "same transfer again.  Exit status 1 if an admitted transfer was not\n"
     "seen committed.  --node and --key repeat.\n"},
    {"watch", mcli_cmd_watch, "show blocks as the node commits them",
     "usage: mcli watch [--node HOST:PORT] [--json]\n"
     "\n"
     "Prints one line per committed block (height, transfers, proposer,\n"
     "hash) and the round the node is deciding (view, leader, peers), until\n"
     "interrupted.  It keeps trying while the node is unreachable.\n"
     "\n" NODE_OPTS},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const command *find_command(const char *name) {
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

static void usage(FILE *out) {
  fputs("usage: mcli COMMAND [OPTIONS]\n"
        "\n"
        "The MiniChain client.  Commands:\n",
        out);
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
  fputs("\n"
        "`mcli COMMAND --help` describes a command.  Exit status: 0 success,\n"
        "1 failure (node unreachable, request refused), 2 bad arguments.\n",
        out);
}

int mcli_help(const char *cmd) {
  const command *c = find_command(cmd);
  if (c == NULL)
    return MCLI_EXIT_USAGE;
  fputs(c->help, stdout);
  return MCLI_EXIT_OK;
}

static void vreport(const char *cmd, const char *fmt, va_list ap) {
  fprintf(stderr, "mcli %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

int mcli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(cmd, fmt, ap);
  va_end(ap);
  fprintf(stderr, "Try 'mcli %s --help'.\n", cmd);
  return MCLI_EXIT_USAGE;
}

int mcli_fail(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(cmd, fmt, ap);
  va_end(ap);
  return MCLI_EXIT_FAIL;
}

int mcli_next_opt(int argc, char **argv, const struct option *opts) {
  opterr = 0;
  int c = getopt_long(argc, argv, ":", opts, NULL);
  if (c == -1)
    return MCLI_OPT_END;
  if (c == ':')
    return mcli_usage_error(argv[0], "option '%s' needs a value",
                            argv[optind - 1]),
           MCLI_OPT_ERROR;
  if (c == '?')
    return mcli_usage_error(argv[0], "unknown option '%s'", argv[optind - 1]),
           MCLI_OPT_ERROR;
  return c;
}

int mcli_parse_u64(const char *s, uint64_t *out) {
  uint64_t v = 0;
  if (*s == '\0')
    return MC_EINVAL;
  for (; *s != '\0'; s++) {
    if (*s < '0' || *s > '9')
      return MC_EINVAL;
    unsigned d = (unsigned)(*s - '0');
    if (v > (UINT64_MAX - d) / 10)
      return MC_EINVAL;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

int mcli_parse_hex32(const char *s, uint8_t out[32]) {
  return mc_hex_decode(s, out, 32);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return MCLI_EXIT_USAGE;
  }
  const char *name = argv[1];
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
      strcmp(name, "help") == 0) {
    if (argc > 2 && strcmp(name, "help") == 0) {
      if (find_command(argv[2]) == NULL) {
        fprintf(stderr, "mcli: no command '%s'\n", argv[2]);
        return MCLI_EXIT_USAGE;
      }
      return mcli_help(argv[2]);
    }
    usage(stdout);
    return MCLI_EXIT_OK;
  }
  if (strcmp(name, "--version") == 0) {
    printf("mcli %s\n", MC_VERSION);
    return MCLI_EXIT_OK;
  }
  const command *c = find_command(name);
  if (c == NULL) {
    fprintf(stderr, "mcli: no command '%s'\n", name);
    usage(stderr);
    return MCLI_EXIT_USAGE;
  }
  if (mc_crypto_init() != 0)
    return mcli_fail(name, "cannot initialise libsodium");
  optind = 0; /* glibc: 0 re-initialises getopt for the command's argv */
  return c->run(argc - 1, argv + 1);
}
