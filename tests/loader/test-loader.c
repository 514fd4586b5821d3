/*
 * test-loader.c - the plugin loader, in process: the search order of
 * DESIGN §2 (mc_plugin_find) and every refusal reason of mc_plugin_load,
 * against the deliberately broken plugins tests/loader/CMakeLists.txt
 * builds into MC_LOADER_FIXTURES.
 *
 * The search tests make their own folders under a mkdtemp() root and put
 * empty regular files in them: mc_plugin_find only resolves names, so the
 * files need not be plugins.  The build tree's plugin folder is shared,
 * so the one test that writes there uses a name no target produces and
 * removes it again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loader.h"
#include "minichain/consensus.h"
#include "minichain/error.h"
#include "minichain/store.h"

#define ENV "MCHOST_PLUGIN_PATH"

typedef struct dirs {
  char root[256];
  char a[300], b[300], c[300]; /* three plugin folders */
} dirs;

static void touch(const char *dir, const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("not read by mc_plugin_find\n", f);
  fclose(f);
}

static void rm_rf(const char *path) {
  char cmd[1100];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
  assert_int_equal(system(cmd), 0);
}

static int setup_dirs(void **state) {
  dirs *d = calloc(1, sizeof *d);
  assert_non_null(d);
  snprintf(d->root, sizeof d->root, "%s/mc-loader-XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  assert_non_null(mkdtemp(d->root));
  snprintf(d->a, sizeof d->a, "%s/a", d->root);
  snprintf(d->b, sizeof d->b, "%s/b", d->root);
  snprintf(d->c, sizeof d->c, "%s/c", d->root);
  assert_int_equal(mkdir(d->a, 0700), 0);
  assert_int_equal(mkdir(d->b, 0700), 0);
  assert_int_equal(mkdir(d->c, 0700), 0);
  unsetenv(ENV);
  *state = d;
  return 0;
}

static int teardown_dirs(void **state) {
  dirs *d = *state;
  rm_rf(d->root);
  unsetenv(ENV);
  free(d);
  return 0;
}

/* Asserts that `name` resolves to dir/name. */
static void expect_found_in(const char *name, const char *plugin_dir,
                            const char *dir) {
  char path[MC_PATH_MAX], err[2048], want[1024];
  int rc = mc_plugin_find(name, plugin_dir, path, sizeof path, err, sizeof err);
  if (rc != 0)
    fail_msg("%s: %s", name, err);
  snprintf(want, sizeof want, "%s/%s", dir, name);
  assert_string_equal(path, want);
}

static void plugin_dir_comes_first(void **state) {
  dirs *d = *state;
  touch(d->a, "p.so");
  touch(d->b, "p.so");
  setenv(ENV, d->b, 1);
  expect_found_in("p.so", d->a, d->a);
}

static void env_path_is_searched_in_order(void **state) {
  dirs *d = *state;
  touch(d->b, "p.so");
  touch(d->c, "p.so");
  char env[1024];
  /* Empty entries (leading, doubled, trailing colons) are skipped. */
  snprintf(env, sizeof env, ":%s/missing::%s:%s:", d->root, d->c, d->b);
  setenv(ENV, env, 1);
  expect_found_in("p.so", d->a, d->c); /* not in --plugin-dir */
  expect_found_in("p.so", NULL, d->c);
  expect_found_in("p.so", "", d->c);
}

static void env_path_beats_build_tree(void **state) {
  dirs *d = *state;
  char name[64];
  snprintf(name, sizeof name, "loader-test-%ld.so", (long)getpid());
  assert_int_equal(system("mkdir -p '" MC_BUILD_PLUGIN_DIR "'"), 0);
  touch(MC_BUILD_PLUGIN_DIR, name);
  touch(d->b, name);
  setenv(ENV, d->b, 1);
  expect_found_in(name, NULL, d->b);
  unsetenv(ENV);
  /* Last in the order, the build tree's folder is still searched. */
  expect_found_in(name, d->a, MC_BUILD_PLUGIN_DIR);
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", MC_BUILD_PLUGIN_DIR, name);
  assert_int_equal(unlink(path), 0);
}

/* Where the installed layout puts plugins relative to this program's own
 * folder: MC_PLUGIN_DIR_FROM_BIN with each leading "../" taken as dirname. */
static void beside_exe(char *out, size_t len) {
  char exe[MC_PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  assert_true(n > 0);
  exe[n] = '\0';
  char *dir = dirname(exe);
  const char *rel = MC_PLUGIN_DIR_FROM_BIN;
  assert_true(rel[0] != '/'); /* the default GNUInstallDirs layout */
  for (; strncmp(rel, "../", 3) == 0; rel += 3)
    dir = dirname(dir);
  snprintf(out, len, "%s/%s", dir, rel);
}

static void not_found_lists_folders_in_order(void **state) {
  dirs *d = *state;
  char env[700], path[MC_PATH_MAX], err[4096], want[4096], exe_dir[1024];
  snprintf(env, sizeof env, "%s:%s", d->b, d->c);
  setenv(ENV, env, 1);
  assert_int_equal(
      mc_plugin_find("nope.so", d->a, path, sizeof path, err, sizeof err),
      MC_ENOTFOUND);
  beside_exe(exe_dir, sizeof exe_dir);
  snprintf(want, sizeof want,
           "nope.so: not found (searched: %s, %s, %s, %s, %s, %s)", d->a,
           d->b, d->c, exe_dir, MC_INSTALL_PLUGIN_DIR, MC_BUILD_PLUGIN_DIR);
  assert_string_equal(err, want);
}

/* The folder beside the executable comes after MCHOST_PLUGIN_PATH and
 * before the configure-time and build-tree folders. */
static void exe_relative_folder_is_searched(void **state) {
  dirs *d = *state;
  char exe_dir[1024], name[64], cmd[1200], path[1200];
  beside_exe(exe_dir, sizeof exe_dir);
  snprintf(name, sizeof name, "loader-exe-%ld.so", (long)getpid());
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", exe_dir);
  assert_int_equal(system(cmd), 0);
  touch(exe_dir, name);
  assert_int_equal(system("mkdir -p '" MC_BUILD_PLUGIN_DIR "'"), 0);
  touch(MC_BUILD_PLUGIN_DIR, name);
  expect_found_in(name, d->a, exe_dir);
  touch(d->b, name);
  setenv(ENV, d->b, 1);
  expect_found_in(name, NULL, d->b);
  snprintf(path, sizeof path, "%s/%s", exe_dir, name);
  assert_int_equal(unlink(path), 0);
  snprintf(path, sizeof path, "%s/%s", MC_BUILD_PLUGIN_DIR, name);
  assert_int_equal(unlink(path), 0);
}

static void a_directory_is_not_a_plugin(void **state) {
  dirs *d = *state;
  char path[MC_PATH_MAX], err[2048];
  char sub[400];
  snprintf(sub, sizeof sub, "%s/dir.so", d->a);
  assert_int_equal(mkdir(sub, 0700), 0);
  touch(d->b, "dir.so");
  setenv(ENV, d->b, 1);
  /* The folder named dir.so in --plugin-dir is passed over. */
  expect_found_in("dir.so", d->a, d->b);
  assert_int_equal(
      mc_plugin_find(sub, NULL, path, sizeof path, err, sizeof err),
      MC_ENOTFOUND);
  assert_non_null(strstr(err, "not a regular file"));
}

static void slash_means_path(void **state) {
  dirs *d = *state;
  char path[MC_PATH_MAX], err[2048], name[400];
  touch(d->a, "p.so");
  touch(d->b, "p.so");
  snprintf(name, sizeof name, "%s/p.so", d->b);
  setenv(ENV, d->a, 1);
  assert_int_equal(
      mc_plugin_find(name, d->a, path, sizeof path, err, sizeof err), 0);
  assert_string_equal(path, name);

  /* A relative path with a slash is taken from the working directory,
   * never searched for. */
  char cwd[PATH_MAX];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(d->c), 0);
  int rc = mc_plugin_find("./p.so", d->a, path, sizeof path, err, sizeof err);
  assert_int_equal(chdir(cwd), 0);
  assert_int_equal(rc, MC_ENOTFOUND);
  assert_non_null(strstr(err, "./p.so: No such file or directory"));
}

static void empty_name_is_refused(void **state) {
  (void)state;
  char path[MC_PATH_MAX], err[256];
  assert_int_equal(mc_plugin_find("", NULL, path, sizeof path, err, sizeof err),
                   MC_EINVAL);
  assert_string_equal(err, "empty plugin name");
}

/* ---- mc_plugin_load on the fixtures ------------------------------------ */

typedef struct load_case {
  const char *file; /* in MC_LOADER_FIXTURES */
  uint32_t want;    /* kind asked for, 0 for either */
  int rc;           /* expected result */
  const char *why;  /* printf format of the text after "<path>: " */
  unsigned arg[4];  /* its arguments */
} load_case;

/* ABI versions as the two version fixtures were built. */
#define PLUGIN_VS_HOST(maj, min)                                               \
  { (maj), (min), MC_ABI_MAJOR, MC_ABI_MINOR }
#define INCOMPATIBLE                                                           \
  "has incompatible ABI version (plugin: %u.%u, host: %u.%u), not loading"

static const load_case load_cases[] = {
    {"good-consensus.so", MC_PLUGIN_CONSENSUS, 0, NULL, {0}},
    {"good-consensus.so", 0, 0, NULL, {0}},
    {"good-store.so", MC_PLUGIN_STORE, 0, NULL, {0}},
    {"bad-notelf.so", 0, MC_EINVAL, "not a shared object (no ELF header)", {0}},
    {"bad-noentry.so", 0, MC_EINVAL, "no entry symbol mc_plugin_entry: ", {0}},
    {"bad-magic.so",
     0,
     MC_EINVAL,
     "bad magic 0xdeadbeef, not a MiniChain plugin",
     {0}},
    {"bad-abi-major.so", 0, MC_EVERSION, INCOMPATIBLE,
     PLUGIN_VS_HOST(MC_ABI_MAJOR + 1, MC_ABI_MINOR)},
    {"bad-abi-minor.so", 0, MC_EVERSION, INCOMPATIBLE,
     PLUGIN_VS_HOST(MC_ABI_MAJOR, MC_ABI_MINOR + 1)},
    {"bad-kind.so", 0, MC_EKIND, "unknown plugin kind 7", {0}},
    {"good-store.so",
     MC_PLUGIN_CONSENSUS,
     MC_EKIND,
     "is a store plugin, not a consensus plugin",
     {0}},
    {"good-consensus.so",
     MC_PLUGIN_STORE,
     MC_EKIND,
     "is a consensus plugin, not a store plugin",
     {0}},
    {"bad-nullfn.so",
     MC_PLUGIN_CONSENSUS,
     MC_ENOSYS,
     "required function 'on_commit' is NULL",
     {0}},
    {"bad-smallvt.so",
     MC_PLUGIN_CONSENSUS,
     MC_ENOSYS,
     "vtable size 16 is smaller than ABI %u.0's %u",
     {MC_ABI_MAJOR, (unsigned)MC_CONSENSUS_VTABLE_MIN_SIZE}},
    {"bad-store-nullfn.so",
     MC_PLUGIN_STORE,
     MC_ENOSYS,
     "required function 'find_tx' is NULL",
     {0}},
    {"bad-store-smallvt.so",
     MC_PLUGIN_STORE,
     MC_ENOSYS,
     "vtable size 16 is smaller than ABI %u.0's %u",
     {MC_ABI_MAJOR, (unsigned)MC_STORE_VTABLE_MIN_SIZE}},
    {"bad-hugevt.so",
     MC_PLUGIN_CONSENSUS,
     MC_ENOSYS,
     "vtable size %u is larger than any this host knows (%u, ABI %u.%u): ",
     {1u << 30, (unsigned)sizeof(mc_consensus_vtable), MC_ABI_MAJOR,
      MC_ABI_MINOR}},
    {"bad-bigvt.so",
     MC_PLUGIN_CONSENSUS,
     MC_ENOSYS,
     "vtable size %u is larger than any this host knows (%u, ABI %u.%u): ",
     {(unsigned)sizeof(mc_consensus_vtable) + 8,
      (unsigned)sizeof(mc_consensus_vtable), MC_ABI_MAJOR, MC_ABI_MINOR}},
    {"bad-oddvt.so",
     MC_PLUGIN_CONSENSUS,
     MC_ENOSYS,
     "vtable size %u is not a multiple of %u, so not the size of any vtable "
     "struct",
     {(unsigned)MC_CONSENSUS_VTABLE_MIN_SIZE + 4,
      (unsigned)_Alignof(mc_consensus_vtable)}},
    {"bad-store-bigvt.so",
     MC_PLUGIN_STORE,
     MC_ENOSYS,
     "vtable size %u is larger than any this host knows (%u, ABI %u.%u): ",
     {(unsigned)sizeof(mc_store_vtable) + 8, (unsigned)sizeof(mc_store_vtable),
      MC_ABI_MAJOR, MC_ABI_MINOR}},
    {"bad-noname.so", 0, MC_EINVAL, "descriptor has an empty name", {0}},
};

static void load_refuses_each_defect(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof load_cases / sizeof *load_cases; i++) {
    const load_case *c = &load_cases[i];
    char name[1024], err[2048], why[512], want[2048];
    mc_plugin p;
    snprintf(name, sizeof name, "%s/%s", MC_LOADER_FIXTURES, c->file);
    int rc = mc_plugin_load(name, c->want, NULL, &p, err, sizeof err);
    print_message("%s (want %u): %d %s\n", c->file, (unsigned)c->want, rc, err);
    assert_int_equal(rc, c->rc);
    if (c->rc == 0) {
      assert_non_null(p.desc);
      assert_non_null(p.handle);
      assert_string_equal(p.path, name);
      assert_string_equal(err, "");
      continue;
    }
    assert_null(p.desc);
    assert_null(strchr(err, '\n'));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(why, sizeof why, c->why, c->arg[0], c->arg[1], c->arg[2],
             c->arg[3]);
#pragma GCC diagnostic pop
    snprintf(want, sizeof want, "%s: %s", name, why);
    assert_memory_equal(err, want, strlen(want));
  }
}

static void load_reads_descriptor(void **state) {
  (void)state;
  char err[2048];
  mc_plugin p;
  assert_int_equal(mc_plugin_load(MC_LOADER_FIXTURES "/good-store.so",
                                  MC_PLUGIN_STORE, NULL, &p, err, sizeof err),
                   0);
  assert_int_equal(p.desc->magic, MC_PLUGIN_MAGIC);
  assert_int_equal(p.desc->kind, MC_PLUGIN_STORE);
  assert_string_equal(p.desc->name, "hello");
  assert_string_equal(mc_plugin_kind_name(p.desc->kind), "store");
  assert_string_equal(mc_plugin_kind_name(MC_PLUGIN_CONSENSUS), "consensus");
  assert_string_equal(mc_plugin_kind_name(99), "unknown");
}

/* Found by name through --plugin-dir, the way mchost is usually run. */
static void load_by_name_through_plugin_dir(void **state) {
  (void)state;
  char err[2048];
  mc_plugin p;
  unsetenv(ENV);
  assert_int_equal(mc_plugin_load("good-consensus.so", MC_PLUGIN_CONSENSUS,
                                  MC_LOADER_FIXTURES, &p, err, sizeof err),
                   0);
  assert_string_equal(p.path, MC_LOADER_FIXTURES "/good-consensus.so");
  assert_string_equal(p.desc->name, "solo");
}

/*
 * good-minvt.so's table ends at an unmapped page right after
 * verify_certificate: the copy the host calls through has the plugin's
 * functions and NULL for the optional fields it lacks, and making it did
 * not read past the table (that would have crashed this test).
 */
static void load_copies_a_short_vtable(void **state) {
  (void)state;
  char err[2048];
  mc_plugin p;
  assert_int_equal(mc_plugin_load(MC_LOADER_FIXTURES "/good-minvt.so",
                                  MC_PLUGIN_CONSENSUS, NULL, &p, err,
                                  sizeof err),
                   0);
  const mc_consensus_vtable *vt = p.desc->vtable;
  assert_int_equal(p.vtable_size, MC_CONSENSUS_VTABLE_MIN_SIZE);
  assert_int_equal(p.vt.consensus.size, MC_CONSENSUS_VTABLE_MIN_SIZE);
  assert_ptr_equal(p.vt.consensus.create, vt->create);
  assert_ptr_equal(p.vt.consensus.verify_certificate, vt->verify_certificate);
  assert_null(p.vt.consensus.on_peer);
  assert_null(p.vt.consensus.status);

  /* The same engine with its whole table keeps its status function. */
  assert_int_equal(mc_plugin_load(MC_LOADER_FIXTURES "/good-consensus.so",
                                  MC_PLUGIN_CONSENSUS, NULL, &p, err,
                                  sizeof err),
                   0);
  assert_int_equal(p.vtable_size, sizeof(mc_consensus_vtable));
  assert_non_null(p.vt.consensus.status);
  assert_null(p.vt.consensus.on_peer);
}

/* Runs mc_plugin_load(file) in a child, then exit(after); returns the
 * child's exit status (or 128+signal) and its stderr in errbuf. */
static int load_in_child(const char *file, int after, char *errbuf,
                         size_t errlen) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    mc_plugin p;
    char err[2048];
    if (mc_plugin_load(file, 0, NULL, &p, err, sizeof err) != 0)
      _exit(100);
    exit(after);
  }
  close(fds[1]);
  size_t used = 0;
  ssize_t n;
  while (used + 1 < errlen &&
         (n = read(fds[0], errbuf + used, errlen - 1 - used)) > 0)
    used += (size_t)n;
  errbuf[used] = '\0';
  close(fds[0]);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* exit(0) in a constructor ends the process with 2 and a line naming the
 * plugin; once a plugin has loaded, exit and SIGSEGV are the host's own
 * again (the guard is disarmed and the old disposition restored). */
static void load_guard_reports_exit_then_disarms(void **state) {
  (void)state;
  char out[4096];
  const char *bad = MC_LOADER_FIXTURES "/bad-ctor-exit.so";
  assert_int_equal(load_in_child(bad, 0, out, sizeof out), 2);
  char want[2048];
  snprintf(want, sizeof want,
           "test-loader: cannot load plugin %s: called exit(0) while "
           "loading\n",
           bad);
  assert_string_equal(out, want);

  assert_int_equal(
      load_in_child(MC_LOADER_FIXTURES "/good-consensus.so", 5, out,
                    sizeof out),
      5);
  assert_string_equal(out, "");

  struct sigaction before, after;
  sigaction(SIGSEGV, NULL, &before);
  mc_plugin p;
  char err[2048];
  assert_int_equal(mc_plugin_load(MC_LOADER_FIXTURES "/good-consensus.so", 0,
                                  NULL, &p, err, sizeof err),
                   0);
  sigaction(SIGSEGV, NULL, &after);
  assert_ptr_equal(after.sa_handler, before.sa_handler);
}

/* An ELF file that is not a loadable shared object: this test program.
 * Built as PIE it is ET_DYN and dlopen refuses it (its reason quoted);
 * built otherwise it is ET_EXEC and refused before dlopen. */
static void load_refuses_an_executable(void **state) {
  (void)state;
  char self[MC_PATH_MAX], err[2048];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  assert_true(n > 0);
  self[n] = '\0';
  mc_plugin p;
  assert_int_equal(mc_plugin_load(self, 0, NULL, &p, err, sizeof err),
                   MC_EINVAL);
  print_message("%s\n", err);
  assert_memory_equal(err, self, strlen(self));
  assert_true(strstr(err, ": cannot load: ") != NULL ||
              strstr(err, ": not a shared object (ELF type 2") != NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(plugin_dir_comes_first, setup_dirs,
                                      teardown_dirs),
      cmocka_unit_test_setup_teardown(env_path_is_searched_in_order, setup_dirs,
                                      teardown_dirs),
      cmocka_unit_test_setup_teardown(env_path_beats_build_tree, setup_dirs,
                                      teardown_dirs),
      cmocka_unit_test_setup_teardown(not_found_lists_folders_in_order,
                                      setup_dirs, teardown_dirs),
      cmocka_unit_test_setup_teardown(exe_relative_folder_is_searched,
                                      setup_dirs, teardown_dirs),
      cmocka_unit_test_setup_teardown(a_directory_is_not_a_plugin, setup_dirs,
                                      teardown_dirs),
      cmocka_unit_test_setup_teardown(slash_means_path, setup_dirs,
                                      teardown_dirs),
      cmocka_unit_test(empty_name_is_refused),
      cmocka_unit_test(load_refuses_each_defect),
      cmocka_unit_test(load_reads_descriptor),
      cmocka_unit_test(load_by_name_through_plugin_dir),
      cmocka_unit_test(load_copies_a_short_vtable),
      cmocka_unit_test(load_guard_reports_exit_then_disarms),
      cmocka_unit_test(load_refuses_an_executable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
