/*
 * test-config.c - mchost settings (host/config.c): flags, the JSON config
 * file, their precedence, and the one-line error each bad input gets.
 * (mchost turns any MC_EINVAL from here into exit status 2.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "minichain/error.h"

#define REQ "--data-dir", "d", "--genesis", "g.json", "--key", "k.key"

/* Runs argv (NULL-terminated, without argv[0]) through a fresh config. */
static int run(mc_config *c, char *err, size_t errlen, const char **args) {
  char *argv[32] = {"mchost"};
  int argc = 1;
  while (args[argc - 1] != NULL) {
    assert_true(argc < 32);
    argv[argc] = (char *)args[argc - 1];
    argc++;
  }
  mc_config_init(c);
  err[0] = '\0';
  return mc_config_from_args(c, argc, argv, err, errlen);
}

static void test_defaults_and_flags(void **state) {
  (void)state;
  mc_config c;
  char err[256];
  const char *args[] = {REQ, "--listen", "0.0.0.0:7005", "--peer",
                        "10.0.0.2:7001", "--peer", "[::1]:7002",
                        "--max-frame-bytes", "65536", "--log-level", "debug",
                        "--mempool-max-nonce-gap", "0", NULL};
  assert_int_equal(run(&c, err, sizeof err, args), 0);
  assert_int_equal(c.action, MC_ACTION_RUN);
  assert_string_equal(c.consensus, "poa.so");
  assert_string_equal(c.store, "json.so");
  assert_string_equal(c.data_dir, "d");
  assert_string_equal(c.listen, "0.0.0.0:7005");
  assert_int_equal(c.npeers, 2);
  assert_string_equal(c.peers[1], "[::1]:7002");
  assert_int_equal(c.max_frame, 65536);
  assert_int_equal(c.log_level, MC_LOG_DEBUG);
  assert_int_equal(c.mempool.max_nonce_gap, 0);
  assert_int_equal(c.max_conns, 256);
  assert_int_equal(c.mempool.max_total, 100000);
  assert_int_equal(c.mempool.max_per_sender, 50000);
  assert_int_equal(c.mempool.queued_ttl_ms, 60000);
  mc_config_free(&c);
}

static void test_mempool_flags(void **state) {
  (void)state;
  mc_config c;
  char err[256];
  const char *args[] = {REQ, "--mempool-max-total", "2000",
                        "--mempool-max-per-sender", "1000",
                        "--mempool-queued-ttl-ms", "0", NULL};
  assert_int_equal(run(&c, err, sizeof err, args), 0);
  assert_int_equal(c.mempool.max_total, 2000);
  assert_int_equal(c.mempool.max_per_sender, 1000);
  assert_int_equal(c.mempool.queued_ttl_ms, 0);
  mc_config_free(&c);
  const char *bad[] = {REQ, "--mempool-queued-ttl-ms", "86400001", NULL};
  assert_int_equal(run(&c, err, sizeof err, bad), MC_EINVAL);
  assert_non_null(strstr(err, "--mempool-queued-ttl-ms"));
  mc_config_free(&c);
  mc_config_init(&c);
  assert_int_equal(mc_config_from_json(&c, "{\"mempool_queued_ttl_ms\":5000}",
                                       "f.json", err, sizeof err),
                   0);
  assert_int_equal(c.mempool.queued_ttl_ms, 5000);
  mc_config_free(&c);
}

static void test_help_version_plugin_info(void **state) {
  (void)state;
  mc_config c;
  char err[256];
  const char *help[] = {"--help", NULL};
  const char *ver[] = {"--version", NULL};
  const char *info[] = {"--plugin-info", "x.so", NULL};
  assert_int_equal(run(&c, err, sizeof err, help), 0);
  assert_int_equal(c.action, MC_ACTION_HELP);
  mc_config_free(&c);
  assert_int_equal(run(&c, err, sizeof err, ver), 0);
  assert_int_equal(c.action, MC_ACTION_VERSION);
  mc_config_free(&c);
  /* --plugin-info needs no data dir, genesis or key */
  assert_int_equal(run(&c, err, sizeof err, info), 0);
  assert_int_equal(c.action, MC_ACTION_PLUGIN_INFO);
  assert_string_equal(c.plugin_info, "x.so");
  mc_config_free(&c);
  assert_non_null(strstr(mc_config_usage(), "--data-dir"));
}

/* A second --config is refused; a value that reads "--config" is a value. */
static void test_config_flag_parsing(void **state) {
  (void)state;
  mc_config c;
  char err[256];
  const char *twice[] = {REQ, "--config", "a.json", "--config", "b.json",
                         NULL};
  assert_int_equal(run(&c, err, sizeof err, twice), MC_EINVAL);
  assert_non_null(strstr(err, "more than once"));
  mc_config_free(&c);
  const char *as_value[] = {REQ, "--name", "--config", NULL};
  assert_int_equal(run(&c, err, sizeof err, as_value), 0);
  assert_string_equal(c.name, "--config");
  mc_config_free(&c);
}

static void test_flag_errors(void **state) {
  (void)state;
  static const struct {
    const char *args[8];
    const char *msg;
  } cases[] = {
      {{REQ, "--bogus", "1"}, "unknown argument '--bogus'"},
      {{REQ, "positional"}, "unknown argument 'positional'"},
      {{REQ, "-x"}, "unknown argument '-x'"},
      {{REQ, "--listen"}, "--listen: missing value"},
      {{REQ, "--listen", "localhost"}, "--listen: expected HOST:PORT, got 'localhost'"},
      {{REQ, "--listen", "h:"}, "expected HOST:PORT"},
      {{REQ, "--listen", ":80"}, "expected HOST:PORT"},
      {{REQ, "--listen", "h:65536"}, "expected HOST:PORT"},
      {{REQ, "--listen", "h:-1"}, "expected HOST:PORT"},
      {{REQ, "--listen", "h:80x"}, "expected HOST:PORT"},
      {{REQ, "--listen", "[::1]"}, "expected HOST:PORT"},
      {{REQ, "--peer", "h:0"}, "--peer: expected HOST:PORT, got 'h:0'"},
      {{REQ, "--max-frame-bytes", "abc"}, "--max-frame-bytes: expected a whole number"},
      {{REQ, "--max-frame-bytes", "100"}, "from 1024 to"},
      {{REQ, "--max-frame-bytes", "-5"}, "expected a whole number"},
      {{REQ, "--max-conns", "0"}, "--max-conns: expected a whole number from 1"},
      {{REQ, "--max-conns", "99999999999999999999999"}, "--max-conns"},
      {{REQ, "--mempool-max-total", "12k"}, "--mempool-max-total"},
      {{REQ, "--log-level", "loud"}, "--log-level: expected debug, info"},
      {{REQ, "--store", ""}, "--store: must not be empty"},
      {{"--genesis", "g", "--key", "k"}, "--data-dir is required"},
      {{"--data-dir", "d", "--key", "k"}, "--genesis is required"},
      {{"--data-dir", "d", "--genesis", "g"}, "--key is required"},
      {{REQ, "--config"}, "--config: missing FILE"},
      {{REQ, "--config", "/nonexistent.json"}, "/nonexistent.json"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mc_config c;
    char err[256];
    const char *args[16];
    size_t n = 0;
    for (; n < 8 && cases[i].args[n] != NULL; n++)
      args[n] = cases[i].args[n];
    args[n] = NULL;
    int rc = run(&c, err, sizeof err, args);
    print_message("case %zu: %s\n", i, err);
    assert_int_equal(rc, MC_EINVAL);
    if (strstr(err, cases[i].msg) == NULL)
      fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].msg);
    assert_null(strchr(err, '\n'));
    mc_config_free(&c);
  }
}

static void test_hostport(void **state) {
  (void)state;
  char host[64];
  uint16_t port;
  assert_int_equal(mc_parse_hostport("127.0.0.1:7001", host, sizeof host,
                                     &port, 0),
                   0);
  assert_string_equal(host, "127.0.0.1");
  assert_int_equal(port, 7001);
  assert_int_equal(mc_parse_hostport("[fe80::1]:65535", host, sizeof host,
                                     &port, 0),
                   0);
  assert_string_equal(host, "fe80::1");
  assert_int_equal(port, 65535);
  assert_int_equal(mc_parse_hostport("h:0", host, sizeof host, &port, 1), 0);
  assert_int_equal(port, 0);
  assert_int_equal(mc_parse_hostport("h:0", host, sizeof host, &port, 0),
                   MC_EINVAL);
  assert_int_equal(mc_parse_hostport("h:+80", host, sizeof host, &port, 0),
                   MC_EINVAL);
  assert_int_equal(mc_parse_hostport("h: 80", host, sizeof host, &port, 0),
                   MC_EINVAL);
  assert_int_equal(mc_parse_hostport("[]:80", host, sizeof host, &port, 0),
                   MC_EINVAL);
  assert_int_equal(mc_parse_hostport("[::1]80", host, sizeof host, &port, 0),
                   MC_EINVAL);
  /* a host longer than the caller's buffer */
  assert_int_equal(mc_parse_hostport("abcdefgh:80", host, 8, &port, 0),
                   MC_EINVAL);
}

static void test_json_config(void **state) {
  (void)state;
  mc_config c;
  char err[256] = "";
  mc_config_init(&c);
  assert_int_equal(
      mc_config_from_json(&c,
                          "{\"data_dir\":\"/var/d\",\"peers\":[\"a:1\",\"b:2\"],"
                          "\"mempool_max_total\":100,\"log_level\":\"warn\","
                          "\"max_frame_bytes\":2048}",
                          "cfg.json", err, sizeof err),
      0);
  assert_string_equal(c.data_dir, "/var/d");
  assert_int_equal(c.npeers, 2);
  assert_int_equal(c.mempool.max_total, 100);
  assert_int_equal(c.log_level, MC_LOG_WARN);
  assert_int_equal(c.max_frame, 2048);
  mc_config_free(&c);
}

static void test_json_config_errors(void **state) {
  (void)state;
  static const struct {
    const char *json;
    const char *msg;
  } cases[] = {
      {"not json", "cfg.json: not valid JSON"},
      {"[1]", "cfg.json: expected a JSON object"},
      {"{\"datadir\":\"x\"}", "cfg.json: \"datadir\": unknown setting"},
      {"{\"peer\":[\"a:1\"]}", "\"peer\": unknown setting"},
      {"{\"config\":\"x\"}", "\"config\": unknown setting"},
      {"{\"data_dir\":5}", "\"data_dir\": expected a string"},
      {"{\"max_conns\":\"5\"}", "\"max_conns\": expected a whole number"},
      {"{\"max_conns\":1.5}", "\"max_conns\": expected a whole number"},
      {"{\"max_conns\":-1}", "\"max_conns\": expected a whole number"},
      {"{\"max_conns\":0}", "\"max_conns\": expected a whole number from 1"},
      {"{\"peers\":\"a:1\"}", "\"peers\": expected an array"},
      {"{\"peers\":[1]}", "\"peers\": expected an array"},
      {"{\"peers\":[\"nocolon\"]}", "expected HOST:PORT, got 'nocolon'"},
      {"{\"listen\":\"x\"}", "\"listen\": expected HOST:PORT"},
      {"{\"log_level\":\"verbose\"}", "\"log_level\": expected debug"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mc_config c;
    char err[256] = "";
    mc_config_init(&c);
    int rc = mc_config_from_json(&c, cases[i].json, "cfg.json", err, sizeof err);
    print_message("case %zu: %s\n", i, err);
    assert_int_equal(rc, MC_EINVAL);
    if (strstr(err, cases[i].msg) == NULL)
      fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].msg);
    mc_config_free(&c);
  }
}

/* Flags override the file, whichever comes first on the command line. */
static void test_file_then_flags(void **state) {
  (void)state;
  char path[] = "/tmp/mc-test-config-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  static const char txt[] =
      "{\"data_dir\":\"from-file\",\"genesis\":\"g\",\"key\":\"k\","
      "\"listen\":\"1.2.3.4:9\"}";
  assert_int_equal(write(fd, txt, sizeof txt - 1), (ssize_t)(sizeof txt - 1));
  close(fd);
  mc_config c;
  char err[256];
  const char *args[] = {"--data-dir", "from-flag", "--config", path, NULL};
  assert_int_equal(run(&c, err, sizeof err, args), 0);
  assert_string_equal(c.data_dir, "from-flag");
  assert_string_equal(c.listen, "1.2.3.4:9");
  assert_string_equal(c.key, "k");
  mc_config_free(&c);

  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("{\"data_dir\":\"x\",\"colour\":\"blue\"}", f);
  fclose(f);
  const char *bad[] = {REQ, "--config", path, NULL};
  assert_int_equal(run(&c, err, sizeof err, bad), MC_EINVAL);
  assert_non_null(strstr(err, path));
  assert_non_null(strstr(err, "\"colour\": unknown setting"));
  mc_config_free(&c);
  unlink(path);
}

/* --new-validator takes no value; the edge limits are sizes with bounds;
 * a send queue smaller than the largest frame is refused. */
static void test_valueless_flag_and_limits(void **state) {
  (void)state;
  mc_config c;
  char err[256];
  const char *args[] = {"--new-validator", REQ, "--max-conns-per-ip", "3",
                        "--handshake-timeout-ms", "250", NULL};
  assert_int_equal(run(&c, err, sizeof err, args), 0);
  assert_int_equal(c.new_validator, 1);
  assert_int_equal(c.max_conns_per_ip, 3);
  assert_int_equal(c.handshake_timeout_ms, 250);
  assert_int_equal(c.idle_timeout_ms, 60000);
  assert_int_equal(c.net_memory, 256u << 20);
  mc_config_free(&c);

  const char *plain[] = {REQ, NULL};
  assert_int_equal(run(&c, err, sizeof err, plain), 0);
  assert_int_equal(c.new_validator, 0);
  mc_config_free(&c);

  const char *json[] = {REQ, NULL};
  assert_int_equal(run(&c, err, sizeof err, json), 0);
  assert_int_equal(mc_config_from_json(&c, "{\"new_validator\": true}", "f",
                                       err, sizeof err),
                   0);
  assert_int_equal(c.new_validator, 1);
  assert_int_equal(mc_config_from_json(&c, "{\"new_validator\": 1}", "f", err,
                                       sizeof err),
                   MC_EINVAL);
  assert_non_null(strstr(err, "expected true or false"));
  mc_config_free(&c);

  const char *small[] = {REQ, "--max-send-queue-bytes", "65536", NULL};
  assert_int_equal(run(&c, err, sizeof err, small), MC_EINVAL);
  assert_non_null(strstr(err, "--max-send-queue-bytes"));
  mc_config_free(&c);

  const char *zero[] = {REQ, "--handshake-timeout-ms", "5", NULL};
  assert_int_equal(run(&c, err, sizeof err, zero), MC_EINVAL);
  assert_non_null(strstr(err, "--handshake-timeout-ms"));
  mc_config_free(&c);
}

/* --switch-consensus is a flag of the command line only: in a config file
 * it would let every later start switch engines silently. */
static void test_switch_consensus(void **state) {
  (void)state;
  mc_config c;
  char err[256];
  const char *args[] = {REQ, "--switch-consensus", NULL};
  assert_int_equal(run(&c, err, sizeof err, args), 0);
  assert_int_equal(c.switch_consensus, 1);
  mc_config_free(&c);

  const char *plain[] = {REQ, NULL};
  assert_int_equal(run(&c, err, sizeof err, plain), 0);
  assert_int_equal(c.switch_consensus, 0);
  for (int v = 0; v < 2; v++) {
    const char *doc = v ? "{\"switch_consensus\": true}"
                        : "{\"switch_consensus\": false}";
    assert_int_equal(mc_config_from_json(&c, doc, "f", err, sizeof err),
                     MC_EINVAL);
    assert_string_equal(err, "f: \"switch_consensus\": a one-time migration, "
                             "give --switch-consensus on the command line");
  }
  assert_int_equal(c.switch_consensus, 0);
  mc_config_free(&c);
  assert_non_null(strstr(mc_config_usage(), "--switch-consensus"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valueless_flag_and_limits),
      cmocka_unit_test(test_defaults_and_flags),
      cmocka_unit_test(test_mempool_flags),
      cmocka_unit_test(test_help_version_plugin_info),
      cmocka_unit_test(test_config_flag_parsing),
      cmocka_unit_test(test_flag_errors),
      cmocka_unit_test(test_hostport),
      cmocka_unit_test(test_json_config),
      cmocka_unit_test(test_json_config_errors),
      cmocka_unit_test(test_file_then_flags),
      cmocka_unit_test(test_switch_consensus),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
