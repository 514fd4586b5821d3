/*
 * config.c - mchost settings from defaults, a JSON file and the command line.
 *
 * One table lists every setting once: its flag, its JSON key (the flag
 * without "--" and with '_' for '-'), its type and where it lives in
 * mc_config.  The file and the flags go through the same setters, so both
 * accept exactly the same values with the same error messages.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "minichain/error.h"
#include "net/frame.h"

typedef enum opt_type {
  OPT_STR,
  OPT_SIZE,
  OPT_LEVEL,
  OPT_PEER,
  OPT_FLAG /* takes no value on the command line; true/false in JSON */
} opt_type;

typedef struct opt {
  const char *flag; /* without the leading "--" */
  opt_type type;
  size_t offset;
  size_t min, max; /* OPT_SIZE bounds */
} opt;

#define STR_OPT(f, field) {f, OPT_STR, offsetof(mc_config, field), 0, 0}
#define SIZE_OPT(f, field, lo, hi)                                             \
  {f, OPT_SIZE, offsetof(mc_config, field), lo, hi}

static const opt options[] = {
    STR_OPT("consensus", consensus),
    STR_OPT("store", store),
    STR_OPT("plugin-dir", plugin_dir),
    STR_OPT("data-dir", data_dir),
    STR_OPT("genesis", genesis),
    STR_OPT("key", key),
    STR_OPT("listen", listen),
    STR_OPT("name", name),
    {"peer", OPT_PEER, 0, 0, 0},
    {"log-level", OPT_LEVEL, offsetof(mc_config, log_level), 0, 0},
    {"new-validator", OPT_FLAG, offsetof(mc_config, new_validator), 0, 0},
    {"switch-consensus", OPT_FLAG, offsetof(mc_config, switch_consensus), 0,
     0},
    SIZE_OPT("max-frame-bytes", max_frame, 1024, 256u << 20),
    SIZE_OPT("max-conns", max_conns, 1, 100000),
    SIZE_OPT("max-conns-per-ip", max_conns_per_ip, 1, 100000),
    SIZE_OPT("handshake-timeout-ms", handshake_timeout_ms, 100, 600000),
    SIZE_OPT("idle-timeout-ms", idle_timeout_ms, 1000, 86400000),
    SIZE_OPT("max-send-queue-bytes", max_send_queue, 64u << 10, 1u << 30),
    SIZE_OPT("net-memory-bytes", net_memory, 1u << 20, (size_t)64 << 30),
    SIZE_OPT("max-requests-per-sec", max_requests_per_sec, 1, 10000000),
    SIZE_OPT("verify-threads", verify_threads, 0, 64),
    SIZE_OPT("mempool-max-total", mempool.max_total, 1, 10000000),
    SIZE_OPT("mempool-max-per-sender", mempool.max_per_sender, 1, 100000),
    SIZE_OPT("mempool-max-nonce-gap", mempool.max_nonce_gap, 0, 100000),
    SIZE_OPT("mempool-queued-ttl-ms", mempool.queued_ttl_ms, 0, 86400000),
};
#define NOPTIONS (sizeof options / sizeof options[0])

void mc_config_init(mc_config *c) {
  static const mc_mempool_limits lim = MC_MEMPOOL_DEFAULT_LIMITS;
  memset(c, 0, sizeof *c);
  c->consensus = strdup("poa.so");
  c->store = strdup("json.so");
  c->listen = strdup(MC_DEFAULT_LISTEN);
  c->log_level = MC_LOG_INFO;
  c->max_frame = MC_DEFAULT_MAX_FRAME;
  c->max_conns = 256;
  c->max_conns_per_ip = 8;
  c->handshake_timeout_ms = 5000;
  c->idle_timeout_ms = 60000;
  c->max_send_queue = 16u << 20;
  c->net_memory = 256u << 20;
  c->max_requests_per_sec = 2000;
  c->mempool = lim;
}

void mc_config_free(mc_config *c) {
  char **strs[] = {&c->plugin_info, &c->consensus, &c->store, &c->plugin_dir,
                   &c->data_dir,    &c->genesis,   &c->key,   &c->listen,
                   &c->name};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
    free(*strs[i]);
  for (size_t i = 0; i < c->npeers; i++)
    free(c->peers[i]);
  memset(c, 0, sizeof *c);
}

int mc_parse_hostport(const char *s, char *host, size_t hostlen,
                      uint16_t *port, int allow_zero) {
  const char *colon, *h = s;
  size_t hlen;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL || close[1] != ':')
      return MC_EINVAL;
    h = s + 1;
    hlen = (size_t)(close - h);
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (colon == NULL)
      return MC_EINVAL;
    hlen = (size_t)(colon - s);
  }
  if (hlen == 0 || hlen >= hostlen || colon[1] == '\0')
    return MC_EINVAL;
  char *end;
  errno = 0;
  unsigned long p = strtoul(colon + 1, &end, 10);
  if (errno != 0 || *end != '\0' || colon[1] < '0' || colon[1] > '9' ||
      p > 65535 || (p == 0 && !allow_zero))
    return MC_EINVAL;
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  *port = (uint16_t)p;
  return 0;
}

static int set_string(char **slot, const char *v) {
  char *copy = strdup(v);
  if (copy == NULL)
    return MC_ENOMEM;
  free(*slot);
  *slot = copy;
  return 0;
}

static int check_hostport(const char *what, const char *v, int allow_zero,
                          char *err, size_t errlen) {
  char host[256];
  uint16_t port;
  if (mc_parse_hostport(v, host, sizeof host, &port, allow_zero) != 0) {
    snprintf(err, errlen, "%s: expected HOST:PORT, got '%s'", what, v);
    return MC_EINVAL;
  }
  return 0;
}

static int set_size(const opt *o, mc_config *c, const char *what,
                    const char *v, char *err, size_t errlen) {
  char *end;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || n < o->min ||
      n > o->max) {
    snprintf(err, errlen, "%s: expected a whole number from %zu to %zu, got '%s'",
             what, o->min, o->max, v);
    return MC_EINVAL;
  }
  if (o->offset == offsetof(mc_config, mempool.max_nonce_gap) ||
      o->offset == offsetof(mc_config, mempool.queued_ttl_ms))
    *(uint64_t *)((char *)c + o->offset) = n;
  else
    *(size_t *)((char *)c + o->offset) = (size_t)n;
  return 0;
}

/* Applies one setting given as text; `what` names it in errors. */
static int apply(mc_config *c, const opt *o, const char *what, const char *v,
                 char *err, size_t errlen) {
  switch (o->type) {
  case OPT_STR:
    if (v[0] == '\0') {
      snprintf(err, errlen, "%s: must not be empty", what);
      return MC_EINVAL;
    }
    if (strcmp(o->flag, "listen") == 0 &&
        check_hostport(what, v, 1, err, errlen) != 0)
      return MC_EINVAL;
    return set_string((char **)((char *)c + o->offset), v);
  case OPT_SIZE:
    return set_size(o, c, what, v, err, errlen);
  case OPT_LEVEL:
    if (mc_log_level_parse(v, &c->log_level) != 0) {
      snprintf(err, errlen, "%s: expected debug, info, warn or error, got '%s'",
               what, v);
      return MC_EINVAL;
    }
    return 0;
  case OPT_FLAG:
    if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
      snprintf(err, errlen, "%s: expected true or false, got '%s'", what, v);
      return MC_EINVAL;
    }
    *(int *)((char *)c + o->offset) = strcmp(v, "true") == 0;
    return 0;
  case OPT_PEER:
    if (check_hostport(what, v, 0, err, errlen) != 0)
      return MC_EINVAL;
    if (c->npeers == MC_MAX_PEERS) {
      snprintf(err, errlen, "%s: more than %d peers", what, MC_MAX_PEERS);
      return MC_EINVAL;
    }
    c->peers[c->npeers] = strdup(v);
    if (c->peers[c->npeers] == NULL)
      return MC_ENOMEM;
    c->npeers++;
    return 0;
  }
  return MC_EINVAL;
}

static const opt *find_flag(const char *flag) {
  for (size_t i = 0; i < NOPTIONS; i++)
    if (strcmp(options[i].flag, flag) == 0)
      return &options[i];
  return NULL;
}

/* The option whose JSON key is `key` ("data_dir" for "--data-dir"; "peers"
 * for the repeated "--peer"). */
static const opt *find_key(const char *key) {
  char flag[64];
  if (strcmp(key, "peers") == 0)
    return find_flag("peer");
  if (strlen(key) >= sizeof flag)
    return NULL;
  size_t i = 0;
  for (; key[i]; i++)
    flag[i] = key[i] == '_' ? '-' : key[i];
  flag[i] = '\0';
  const opt *o = find_flag(flag);
  return (o && o->type != OPT_PEER) ? o : NULL;
}

/* Renders a JSON scalar as the text a flag would carry. */
static int json_scalar_text(const cJSON *v, char *buf, size_t buflen) {
  if (cJSON_IsString(v)) {
    snprintf(buf, buflen, "%s", v->valuestring);
    return 0;
  }
  if (cJSON_IsNumber(v) && v->valuedouble >= 0 &&
      v->valuedouble <= 9007199254740991.0 &&
      v->valuedouble == (double)(unsigned long long)v->valuedouble) {
    snprintf(buf, buflen, "%llu", (unsigned long long)v->valuedouble);
    return 0;
  }
  return MC_EINVAL;
}

static int apply_json_item(mc_config *c, const cJSON *item, const char *origin,
                           char *err, size_t errlen) {
  char what[128], text[1024];
  const opt *o = find_key(item->string);
  snprintf(what, sizeof what, "%s: \"%s\"", origin, item->string);
  if (o == NULL) {
    snprintf(err, errlen, "%s: unknown setting", what);
    return MC_EINVAL;
  }
  if (o->type == OPT_PEER) {
    if (!cJSON_IsArray(item)) {
      snprintf(err, errlen, "%s: expected an array of \"HOST:PORT\"", what);
      return MC_EINVAL;
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, item) {
      if (!cJSON_IsString(p)) {
        snprintf(err, errlen, "%s: expected an array of \"HOST:PORT\"", what);
        return MC_EINVAL;
      }
      int rc = apply(c, o, what, p->valuestring, err, errlen);
      if (rc != 0)
        return rc;
    }
    return 0;
  }
  if (o->offset == offsetof(mc_config, switch_consensus)) {
    /* kept in a file it would let every later start switch silently */
    snprintf(err, errlen,
             "%s: a one-time migration, give --switch-consensus on the "
             "command line", what);
    return MC_EINVAL;
  }
  if (o->type == OPT_FLAG) {
    if (!cJSON_IsBool(item)) {
      snprintf(err, errlen, "%s: expected true or false", what);
      return MC_EINVAL;
    }
    return apply(c, o, what, cJSON_IsTrue(item) ? "true" : "false", err,
                 errlen);
  }
  if ((o->type == OPT_SIZE) != cJSON_IsNumber(item) ||
      json_scalar_text(item, text, sizeof text) != 0) {
    snprintf(err, errlen, "%s: expected %s", what,
             o->type == OPT_SIZE ? "a whole number" : "a string");
    return MC_EINVAL;
  }
  return apply(c, o, what, text, err, errlen);
}

int mc_config_from_json(mc_config *c, const char *json, const char *origin,
                        char *err, size_t errlen) {
  cJSON *doc = cJSON_Parse(json);
  if (!cJSON_IsObject(doc)) {
    snprintf(err, errlen, "%s: %s", origin,
             doc ? "expected a JSON object" : "not valid JSON");
    cJSON_Delete(doc);
    return MC_EINVAL;
  }
  int rc = 0;
  const cJSON *item;
  cJSON_ArrayForEach(item, doc) {
    rc = apply_json_item(c, item, origin, err, errlen);
    if (rc != 0)
      break;
  }
  cJSON_Delete(doc);
  return rc;
}

static char *read_text_file(const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    snprintf(err, errlen, "--config: %s: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 20, n;
  char *buf = malloc(cap + 1);
  n = buf ? fread(buf, 1, cap + 1, f) : 0;
  fclose(f);
  if (buf == NULL || n > cap) {
    snprintf(err, errlen, "--config: %s: %s", path,
             buf ? "larger than 1 MiB" : "out of memory");
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  return buf;
}

/* 1 if the command-line argument a is a flag without a value. */
static int takes_no_value(const char *a) {
  if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 ||
      strcmp(a, "--version") == 0)
    return 1;
  const opt *o = strncmp(a, "--", 2) == 0 ? find_flag(a + 2) : NULL;
  return o != NULL && o->type == OPT_FLAG;
}

/* Every other flag takes a value, so argv is walked flag by flag, each
 * with its value: a value that happens to read "--config" is never taken
 * for the flag.  The file is applied before the flags so that flags
 * override it. */
static int apply_config_file(mc_config *c, int argc, char **argv, char *err,
                             size_t errlen) {
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (takes_no_value(argv[i]))
      continue;
    if (strcmp(argv[i], "--config") == 0) {
      if (i + 1 >= argc) {
        snprintf(err, errlen, "--config: missing FILE");
        return MC_EINVAL;
      }
      if (path != NULL) {
        snprintf(err, errlen, "--config: given more than once");
        return MC_EINVAL;
      }
      path = argv[i + 1];
    }
    i++; /* skip the value */
  }
  if (path == NULL)
    return 0;
  char *txt = read_text_file(path, err, errlen);
  if (txt == NULL)
    return MC_EINVAL;
  int rc = mc_config_from_json(c, txt, path, err, errlen);
  free(txt);
  return rc;
}

static int check_required(const mc_config *c, char *err, size_t errlen) {
  const char *missing = c->data_dir == NULL  ? "--data-dir"
                        : c->genesis == NULL ? "--genesis"
                        : c->key == NULL     ? "--key"
                                             : NULL;
  if (missing != NULL) {
    snprintf(err, errlen, "%s is required (see mchost --help)", missing);
    return MC_EINVAL;
  }
  return 0;
}

int mc_config_from_args(mc_config *c, int argc, char **argv, char *err,
                        size_t errlen) {
  int rc = apply_config_file(c, argc, argv, err, errlen);
  for (int i = 1; rc == 0 && i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      c->action = MC_ACTION_HELP;
      return 0;
    }
    if (strcmp(a, "--version") == 0) {
      c->action = MC_ACTION_VERSION;
      return 0;
    }
    const opt *o = strncmp(a, "--", 2) == 0 ? find_flag(a + 2) : NULL;
    int is_info = strcmp(a, "--plugin-info") == 0;
    if (o == NULL && !is_info && strcmp(a, "--config") != 0) {
      snprintf(err, errlen, "unknown argument '%s' (see mchost --help)", a);
      return MC_EINVAL;
    }
    if (o != NULL && o->type == OPT_FLAG) {
      rc = apply(c, o, a, "true", err, errlen);
      continue;
    }
    if (i + 1 >= argc) {
      snprintf(err, errlen, "%s: missing value", a);
      return MC_EINVAL;
    }
    const char *v = argv[++i];
    if (is_info) {
      c->action = MC_ACTION_PLUGIN_INFO;
      rc = set_string(&c->plugin_info, v);
    } else if (o != NULL) {
      rc = apply(c, o, a, v, err, errlen);
    }
  }
  if (rc == 0 && c->action == MC_ACTION_RUN)
    rc = check_required(c, err, errlen);
  if (rc == 0 && c->max_send_queue < c->max_frame + 4096) {
    /* a connection must be able to queue the largest frame it may get */
    snprintf(err, errlen,
             "--max-send-queue-bytes %zu must be at least --max-frame-bytes "
             "+ 4096 (%zu)",
             c->max_send_queue, c->max_frame + 4096);
    rc = MC_EINVAL;
  }
  return rc;
}

const char *mc_config_usage(void) {
  return "usage: mchost [options]\n"
         "\n"
         "Runs a MiniChain node.  Required: --data-dir, --genesis, --key.\n"
         "\n"
         "  --consensus FILE     consensus plugin (default poa.so)\n"
         "  --store FILE         store plugin: json.so (default), leveldb.so, ...\n"
         "  --plugin-dir DIR     searched first for plugin names without '/'\n"
         "  --data-dir DIR       the node's data (created if missing)\n"
         "  --genesis FILE       genesis.json (see mcli genesis)\n"
         "  --key FILE           the node's key file (see mcli keygen)\n"
         "  --listen HOST:PORT   where peers and clients connect (default "
         MC_DEFAULT_LISTEN ")\n"
         "  --peer HOST:PORT     another validator to connect to (repeatable)\n"
         "  --name NAME          node name in logs (default: the listen address)\n"
         "  --log-level LEVEL    debug, info (default), warn, error\n"
         "  --new-validator      this node's key has never signed for this chain\n"
         "                       (a new chain or a new key): sign from the start\n"
         "                       instead of watching first (docs/CONSENSUS.md)\n"
         "  --switch-consensus   the data directory was run by another consensus\n"
         "                       engine: record --consensus in its mchost.json\n"
         "                       from now on (the old engine's state file stays);\n"
         "                       without it such a start is refused\n"
         "  --max-frame-bytes N  largest frame accepted from a peer (default 8388608)\n"
         "\n"
         "Limits at the network edge (docs/OPERATIONS.md):\n"
         "  --max-conns N        connections at once, one kept per validator (256)\n"
         "  --max-conns-per-ip N connections from one address, validators aside (8)\n"
         "  --handshake-timeout-ms N  to finish the peer handshake or send a first\n"
         "                       client request (5000)\n"
         "  --idle-timeout-ms N  a client silent this long is closed (60000)\n"
         "  --max-send-queue-bytes N  memory queued to one connection (16777216)\n"
         "  --net-memory-bytes N memory all non-validator connections may hold in\n"
         "                       read and send buffers together (268435456)\n"
         "  --max-requests-per-sec N  frames/s one non-validator connection may\n"
         "                       send before the node stops reading it (2000)\n"
         "\n"
         "  --verify-threads N   threads checking transfer signatures beside the\n"
         "                       loop thread (default 0: one per CPU)\n"
         "\n"
         "Mempool (docs/OPERATIONS.md):\n"
         "  --mempool-max-total N       transfers pending at once (100000)\n"
         "  --mempool-max-per-sender N  of which from one sender (50000)\n"
         "  --mempool-max-nonce-gap N   how far ahead of the next nonce a transfer\n"
         "                       may wait for the gap to fill (64)\n"
         "  --mempool-queued-ttl-ms N   a transfer waiting that long for its gap is\n"
         "                       dropped as expired; 0: never (60000)\n"
         "\n"
         "  --config FILE        JSON object of these settings (keys use '_');\n"
         "                       flags override it\n"
         "  --plugin-info FILE   print a plugin's descriptor, or why it is refused\n"
         "  --version, --help\n"
         "\n"
         "Plugin names without '/' are searched in --plugin-dir, MCHOST_PLUGIN_PATH,\n"
         "the plugin folder of this mchost's installation (" MC_PLUGIN_DIR_BESIDE_BIN ",\n"
         "found from its own location), the configure-time " MC_INSTALL_PLUGIN_DIR ",\n"
         "then the build tree's.\n"
         "The data directory's mchost.json names its chain, store and consensus\n"
         "engine; it is written only once the store has opened, the engine was\n"
         "created and the node listens.  A start that fails before that leaves\n"
         "a new (missing or empty) data directory as it found it.\n"
         "Exit status: 0 after a clean stop, 1 on a runtime failure, 2 on bad\n"
         "arguments, configuration, plugins or data directory (a refused\n"
         "plugin touches nothing; see docs/OPERATIONS.md).\n";
}
