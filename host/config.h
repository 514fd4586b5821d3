/*
 * config.h - mchost's settings: command line and optional JSON config file.
 *
 * Precedence: defaults < config file (--config FILE) < command-line flags.
 * The config file is a JSON object whose keys are the long flag names with
 * '-' replaced by '_' ("data_dir", "peers": [...], "mempool_max_total",
 * ...).  Unknown keys, wrong types and bad values are errors naming the key
 * or flag, so a typo never silently falls back to a default.
 */
#ifndef MC_CONFIG_H
#define MC_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "mempool.h"
#include "minichain/host.h"

#define MC_MAX_PEERS 64
#define MC_DEFAULT_LISTEN "127.0.0.1:7001"

typedef enum mc_config_action {
  MC_ACTION_RUN = 0,
  MC_ACTION_HELP,
  MC_ACTION_VERSION,
  MC_ACTION_PLUGIN_INFO
} mc_config_action;

typedef struct mc_config {
  mc_config_action action;
  char *plugin_info; /* --plugin-info FILE */
  char *consensus;   /* default "poa.so" */
  char *store;       /* default "json.so" */
  char *plugin_dir;  /* may be NULL */
  char *data_dir;
  char *genesis;
  char *key;
  char *listen;      /* HOST:PORT, default MC_DEFAULT_LISTEN */
  char *name;        /* node name in logs; default: the listen address */
  char *peers[MC_MAX_PEERS];
  size_t npeers;
  mc_log_level log_level; /* default info */
  int new_validator;      /* --new-validator: the key never signed here */
  int switch_consensus;   /* --switch-consensus: command line only */
  size_t max_frame;       /* bytes, default MC_DEFAULT_MAX_FRAME */
  /* The network edge (docs/OPERATIONS.md, "Limits"). */
  size_t max_conns;          /* connections at once, default 256 */
  size_t max_conns_per_ip;   /* non-validator connections per address, 8 */
  size_t handshake_timeout_ms; /* first frame / peer handshake, 5000 */
  size_t idle_timeout_ms;    /* client silence before closing, 60000 */
  size_t max_send_queue;     /* bytes queued to one connection, 16 MiB */
  size_t net_memory;         /* bytes all non-validator connections may
                                hold in buffers together, 256 MiB */
  size_t max_requests_per_sec; /* frames/s one non-validator may send, 2000 */
  size_t verify_threads;       /* signature workers; 0: one per CPU */
  mc_mempool_limits mempool; /* --mempool-*, defaults MC_MEMPOOL_DEFAULT_LIMITS */
} mc_config;

/* Fills defaults.  Free with mc_config_free. */
void mc_config_init(mc_config *c);
void mc_config_free(mc_config *c);

/*
 * Applies argv (argv[0] is the program).  Reads --config FILE first when
 * present, then the flags.  Returns 0, or MC_EINVAL with a one-line reason
 * in err ("--listen: expected HOST:PORT, got 'x'").  For a RUN action it
 * also checks that data_dir, genesis and key are set.
 */
int mc_config_from_args(mc_config *c, int argc, char **argv, char *err,
                        size_t errlen);

/* Applies a JSON config text (what --config reads).  `origin` names it in
 * errors. */
int mc_config_from_json(mc_config *c, const char *json, const char *origin,
                        char *err, size_t errlen);

/*
 * Splits "HOST:PORT" or "[V6]:PORT" into host and port.  Returns 0 or
 * MC_EINVAL (missing port, port not 1..65535 (0 allowed if allow_zero),
 * empty host, host too long).
 */
int mc_parse_hostport(const char *s, char *host, size_t hostlen,
                      uint16_t *port, int allow_zero);

/* The --help text. */
const char *mc_config_usage(void);

#endif /* MC_CONFIG_H */
