/*
 * main.c - mchost, the MiniChain node.
 *
 * Order matters: arguments, then both plugins (a refused plugin exits with
 * status 2 before any file is touched), then the node opens its data
 * directory and runs until SIGINT or SIGTERM.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "loader.h"
#include "log.h"
#include "minichain/consensus.h"
#include "minichain/error.h"
#include "minichain/store.h"
#include "node.h"

#define EXIT_BAD_INPUT 2

static int plugin_info(const mc_config *cfg) {
  mc_plugin p;
  char err[1024];
  if (mc_plugin_load(cfg->plugin_info, 0, cfg->plugin_dir, &p, err,
                     sizeof err) != 0) {
    fprintf(stderr, "mchost: cannot load plugin %s\n", err);
    return EXIT_BAD_INPUT;
  }
  const mc_plugin_descriptor *d = p.desc;
  printf("file:        %s\n", p.path);
  printf("kind:        %s\n", mc_plugin_kind_name(d->kind));
  printf("name:        %s\n", d->name ? d->name : "");
  printf("version:     %s\n", d->version ? d->version : "");
  printf("abi:         %u.%u (host %d.%d)\n", d->abi_major, d->abi_minor,
         MC_ABI_MAJOR, MC_ABI_MINOR);
  printf("vtable size: %zu bytes\n", p.vtable_size);
  if (d->description)
    printf("description: %s\n", d->description);
  return 0;
}

static int run_node(const mc_config *cfg) {
  static mc_node node; /* large; lives for the whole process */
  char err[1024] = "";
  int fatal_input = 1;
  /* A peer that closes its end while we write must cost an EPIPE on that
   * connection, not the process. */
  signal(SIGPIPE, SIG_IGN);
  mc_log_setup(stderr, cfg->name ? cfg->name : cfg->listen, cfg->log_level);
  if (mc_node_load_plugins(&node, cfg, err, sizeof err) != 0) {
    fprintf(stderr, "mchost: %s\n", err);
    return EXIT_BAD_INPUT;
  }
  int rc = mc_node_open(&node, cfg, err, sizeof err, &fatal_input);
  if (rc != 0) {
    fprintf(stderr, "mchost: %s\n", err[0] ? err : mc_strerror(rc));
    mc_node_close(&node);
    return fatal_input ? EXIT_BAD_INPUT : EXIT_FAILURE;
  }
  int code = mc_node_run(&node);
  mc_node_close(&node);
  MC_LOG(MC_LOG_INFO, "node_stopped", MC_LOG_F_I("exit_code", code));
  return code;
}

int main(int argc, char **argv) {
  mc_config cfg;
  char err[1024];
  mc_config_init(&cfg);
  int code;
  if (mc_config_from_args(&cfg, argc, argv, err, sizeof err) != 0) {
    fprintf(stderr, "mchost: %s\n", err);
    code = EXIT_BAD_INPUT;
  } else if (cfg.action == MC_ACTION_HELP) {
    fputs(mc_config_usage(), stdout);
    code = 0;
  } else if (cfg.action == MC_ACTION_VERSION) {
    printf("mchost %s (plugin ABI %d.%d)\n", MC_VERSION, MC_ABI_MAJOR,
           MC_ABI_MINOR);
    code = 0;
  } else if (cfg.action == MC_ACTION_PLUGIN_INFO) {
    code = plugin_info(&cfg);
  } else {
    code = run_node(&cfg);
  }
  mc_config_free(&cfg);
  return code;
}
