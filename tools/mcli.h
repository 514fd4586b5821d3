/*
 * mcli.h - what the parts of mcli, the command-line client, share.
 *
 * mcli.c holds main(), the command table and the help texts; mcli_keys.c
 * the offline commands (keygen, pubkey, genesis); mcli_query.c the ones
 * that talk to a node (send, balance, block, tx, status); mcli_net.c the
 * blocking connection that carries the framed protocol (docs/PROTOCOL.md);
 * mcli_json.c the --json renderings.
 *
 * Every command is `int cmd(int argc, char **argv)` with argv[0] the
 * command's name, and returns the process exit status: 0 success,
 * MCLI_EXIT_FAIL (1) for a failure (connection refused, a node error, a
 * rejected transfer), MCLI_EXIT_USAGE (2) for bad arguments.
 */
#ifndef MCLI_H
#define MCLI_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "minichain/types.h"
#include "net/proto.h"

#define MCLI_EXIT_OK 0
#define MCLI_EXIT_FAIL 1
#define MCLI_EXIT_USAGE 2

/* ---- commands ---- */

int mcli_cmd_keygen(int argc, char **argv);
int mcli_cmd_pubkey(int argc, char **argv);
int mcli_cmd_genesis(int argc, char **argv);
int mcli_cmd_send(int argc, char **argv);
int mcli_cmd_balance(int argc, char **argv);
int mcli_cmd_block(int argc, char **argv);
int mcli_cmd_tx(int argc, char **argv);
int mcli_cmd_status(int argc, char **argv);
int mcli_cmd_watch(int argc, char **argv);
int mcli_cmd_load(int argc, char **argv);

/* ---- diagnostics (mcli.c) ---- */

/* Prints "mcli CMD: MESSAGE" and a hint to run `mcli CMD --help` on
 * stderr; returns MCLI_EXIT_USAGE. */
int mcli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints "mcli CMD: MESSAGE" on stderr; returns MCLI_EXIT_FAIL. */
int mcli_fail(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints the help text of cmd on stdout; returns MCLI_EXIT_OK. */
int mcli_help(const char *cmd);

/* ---- argument parsing (mcli.c) ---- */

struct option;

#define MCLI_OPT_END (-1)  /* no more options; positionals from optind */
#define MCLI_OPT_ERROR (-2) /* reported on stderr; exit MCLI_EXIT_USAGE */

/*
 * The next long option of argv[0..argc) (argv[0] the command name), by
 * getopt_long over opts (no short options; main() resets getopt before
 * running a command).  Returns the option's val with its value in optarg,
 * MCLI_OPT_END, or MCLI_OPT_ERROR after reporting an unknown option or a
 * missing value for cmd.
 */
int mcli_next_opt(int argc, char **argv, const struct option *opts);

/* Each returns 0 or MC_EINVAL. */

/* A decimal u64: digits only, no sign, no spaces, no overflow. */
int mcli_parse_u64(const char *s, uint64_t *out);
/* A 64-hex-digit public key (or hash). */
int mcli_parse_hex32(const char *s, uint8_t out[32]);

/* ---- connection to a node (mcli_net.c) ---- */

typedef struct mcli_conn {
  int fd;
  uint64_t next_rid;
  char node[300]; /* HOST:PORT as given, for messages */
} mcli_conn;

#define MCLI_DEFAULT_TIMEOUT_S 10

/*
 * Connects to node ("HOST:PORT" or "[V6]:PORT") within timeout_s seconds,
 * which also bounds every later send and receive.  Returns 0, or MC_EINVAL
 * (bad address) or MC_EIO with the reason in err.
 */
int mcli_connect(mcli_conn *c, const char *node, int timeout_s, char *err,
                 size_t errlen);

/*
 * Sends req (its rid is set here) and reads the answer into *resp, which
 * the caller clears with mc_msg_clear.  An answer of another type than
 * want_type, an ERROR message from the node, a wrong request id, a frame
 * above MC_DEFAULT_MAX_FRAME or undecodable bytes are failures.  Returns 0,
 * or MC_EIO / MC_EDECODE / the node's code with the reason in err.
 */
int mcli_request(mcli_conn *c, mc_msg *req, uint32_t want_type, mc_msg *resp,
                 char *err, size_t errlen);

/* Closes the connection.  Safe to call twice. */
void mcli_close(mcli_conn *c);

/* ---- JSON renderings (mcli_json.c); NULL on ENOMEM ---- */

/* A u64 as an exact JSON number (cJSON's numbers are doubles). */
cJSON *mcli_json_u64(uint64_t v);
/* Lower-case hex string of n bytes. */
cJSON *mcli_json_hex(const uint8_t *p, size_t n);
cJSON *mcli_json_tx(const mc_tx *tx);
cJSON *mcli_json_block(const mc_block *b);
cJSON *mcli_json_status(const mc_status_info *s);
/* Prints obj on one line on stdout and frees it.  Returns MCLI_EXIT_OK, or
 * MCLI_EXIT_FAIL (reported for cmd) when obj is NULL or printing fails. */
int mcli_json_print(const char *cmd, cJSON *obj);

#endif /* MCLI_H */
