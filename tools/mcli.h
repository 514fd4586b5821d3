/*
 * mcli.h - what the parts of mcli, the command-line client, share.
 *
 * mcli.c holds main(), the command table and the help texts; mcli_keys.c
 * the offline commands (keygen, pubkey, genesis); mcli_query.c the ones
 * that talk to a node (send, balance, block, tx, status); mcli_load.c
 * `mcli load` (with mcli_load_send.c, mcli_load_track.c and the private
 * mcli_load.h) and mcli_hist.c its latency histogram; mcli_net.c the
 * connection that carries the framed protocol (docs/PROTOCOL.md), blocking
 * or pipelined; mcli_json.c the --json renderings.
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

/*
 * A pipelined connection (mcli load): non-blocking, many requests in
 * flight.  Frames are queued into `out` and leave with as few send()
 * calls as the socket allows; answers are read into `in` and decoded one
 * at a time.  The node answers in order, each with its request's rid; what
 * a rid stands for is the caller's business.  The buffers are owned by the
 * pipe and freed by mcli_pipe_close.
 */
typedef struct mcli_pipe {
  mcli_conn conn; /* conn.fd is O_NONBLOCK; conn.next_rid numbers requests */
  uint8_t *out;
  size_t out_off, out_len, out_cap; /* bytes [out_off, out_len) unsent */
  uint8_t *in;
  size_t in_off, in_len, in_cap; /* bytes [in_off, in_len) not decoded */
} mcli_pipe;

/* mcli_connect, then non-blocking.  Returns as mcli_connect. */
int mcli_pipe_open(mcli_pipe *p, const char *node, int timeout_s, char *err,
                   size_t errlen);
/* Closes the socket and frees the buffers.  Safe to call twice. */
void mcli_pipe_close(mcli_pipe *p);
/* Sets req->rid (the next of the connection) and appends req's frame to
 * the output.  Nothing is sent.  Returns 0, MC_ENOMEM or an encoding
 * error, with the reason in err. */
int mcli_pipe_queue(mcli_pipe *p, mc_msg *req, char *err, size_t errlen);
/* Bytes queued and not yet sent (poll for POLLOUT while non-zero). */
size_t mcli_pipe_unsent(const mcli_pipe *p);
/* Sends what the socket takes now.  Returns 0 or MC_EIO (err says why). */
int mcli_pipe_flush(mcli_pipe *p, char *err, size_t errlen);
/* Reads what has arrived (up to 256 KiB a call; 0 when nothing has).
 * Returns 0, MC_EIO (closed or failed) or MC_ENOMEM, reason in err. */
int mcli_pipe_fill(mcli_pipe *p, char *err, size_t errlen);
/* Decodes the next whole answer read into *out (cleared with mc_msg_clear
 * by the caller).  Returns 1 for a message, 0 when no whole frame is
 * there, or MC_EDECODE (a frame above MC_DEFAULT_MAX_FRAME or undecodable
 * bytes; the connection is then useless). */
int mcli_pipe_next(mcli_pipe *p, mc_msg *out, char *err, size_t errlen);

/* ---- latency histogram (mcli_hist.c) ---- */

/*
 * Durations in microseconds, kept in log-linear buckets: exact below 64
 * us, then 32 buckets per power of two (within 3.2% of the true value) up
 * to 2^40 us (12 days), beyond which a value counts in the last bucket.
 * A fixed 9 KiB whatever the number of values, so a run of any length
 * records every latency in bounded memory; count, sum and max are exact.
 */
#define MCLI_HIST_SUB 32
#define MCLI_HIST_BUCKETS (64 + (40 - 6) * MCLI_HIST_SUB)

typedef struct mcli_hist {
  uint64_t n[MCLI_HIST_BUCKETS];
  uint64_t count, sum_us, max_us;
} mcli_hist;

void mcli_hist_add(mcli_hist *h, uint64_t us);
/* The smallest recorded value v with at least q (0..1) of the values <= v,
 * as the upper edge of its bucket (the exact max for q = 1); 0 when empty. */
uint64_t mcli_hist_quantile(const mcli_hist *h, double q);

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
