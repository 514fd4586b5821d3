/*
 * main.c - mc-store-check, the store test kit installed with the SDK:
 *
 *   mc-store-check [options] STORE.so
 *
 * Loads a store plugin the way mchost does and proves it against
 * minichain/store.h: the contract tests, the kill -9 atomicity runs, the
 * damage every store must refuse, and the damage cases the store's author
 * registers in a damage module (--damage, minichain/store_check.h).
 * Everything random comes from one seed, printed first; a failure prints
 * the command that replays it.  Exit status: 0 all passed, 1 a test
 * failed, 2 bad usage or a plugin that could not be loaded.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "check.h"
#include "fsutil.h"
#include "runner.h"
#include "store_host.h"

#define MAX_TESTS 512
#define MAX_KILLS 100000

mc_plugin ck_plugin;
const mc_store_vtable *ck_vt;

typedef struct options {
  const char *store, *damage, *scratch, *only;
  uint64_t seed;
  int have_seed, kills_given, list;
} options;

static const char usage_text[] =
    "usage: mc-store-check [options] STORE.so\n"
    "\n"
    "Proves a MiniChain store plugin against minichain/store.h.\n"
    "\n"
    "  --damage DAMAGE.so  also run the damage cases this module registers\n"
    "                      (minichain/store_check.h)\n"
    "  --seed S            derive every random choice from S (decimal or\n"
    "                      0x-hex u64; default: random, printed first)\n"
    "  --kills N           SIGKILLs in the atomicity test (default 60)\n"
    "  --scratch DIR       run the tests in DIR (default: a new temporary\n"
    "                      directory, removed when everything passed)\n"
    "  --only NAME         run the one test NAME\n"
    "  --list              list the tests and exit\n"
    "  --verbose           print every event the store logs\n"
    "  --help              this text\n"
    "\n"
    "STORE.so and DAMAGE.so are paths; a name without a slash that is not\n"
    "a file here is looked up like mchost's --store.\n"
    "Exit status: 0 all passed, 1 a test failed, 2 bad usage or a plugin\n"
    "that could not be loaded.\n";

static int bad_usage(const char *fmt, const char *arg) {
  fprintf(stderr, "mc-store-check: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see mc-store-check --help)\n");
  return 2;
}

/* Decimal, or hex after "0x" (never octal: "010" is ten). */
static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
  char *end;
  int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ')
    return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, hex ? 16 : 10);
  if (errno != 0 || *end != '\0' || end == s + (hex ? 2 : 0) || v > max)
    return -1;
  *out = v;
  return 0;
}

/* The value of option argv[*i], or NULL (with the message printed). */
static const char *value_of(int argc, char **argv, int *i) {
  if (*i + 1 >= argc || argv[*i + 1][0] == '\0') {
    bad_usage("%s needs a value", argv[*i]);
    return NULL;
  }
  return argv[++*i];
}

/* --damage, --scratch, --only: each at most once. */
static const char **string_slot(const char *a, options *o) {
  if (strcmp(a, "--damage") == 0)
    return &o->damage;
  if (strcmp(a, "--scratch") == 0)
    return &o->scratch;
  return strcmp(a, "--only") == 0 ? &o->only : NULL;
}

/* --seed and --kills.  Returns -1 to go on, else the exit status. */
static int number_option(int argc, char **argv, int *i, options *o) {
  const char *a = argv[*i], *v = value_of(argc, argv, i);
  uint64_t n;
  if (v == NULL)
    return 2;
  if (strcmp(a, "--seed") == 0) {
    if (parse_u64(v, UINT64_MAX, &o->seed) != 0)
      return bad_usage("--seed %s: not an unsigned 64-bit number", v);
    o->have_seed = 1;
    return -1;
  }
  if (parse_u64(v, MAX_KILLS, &n) != 0)
    return bad_usage("--kills %s: not a number from 0 to 100000", v);
  ck_kills = (int)n;
  o->kills_given = 1;
  return -1;
}

/* Returns -1 to go on, else the exit status. */
static int parse_option(int argc, char **argv, int *i, options *o) {
  const char *a = argv[*i], **slot = string_slot(a, o);
  if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
    fputs(usage_text, stdout);
    return 0;
  }
  if (strcmp(a, "--list") == 0 || strcmp(a, "--verbose") == 0) {
    *(a[2] == 'l' ? &o->list : &sh_verbose) = 1;
    return -1;
  }
  if (slot != NULL) {
    if (*slot != NULL)
      return bad_usage("%s given twice", a);
    return (*slot = value_of(argc, argv, i)) == NULL ? 2 : -1;
  }
  if (strcmp(a, "--seed") == 0 || strcmp(a, "--kills") == 0)
    return number_option(argc, argv, i, o);
  if (a[0] == '-')
    return bad_usage("unknown option %s", a);
  if (o->store != NULL)
    return bad_usage("one store at a time (also given: %s)", a);
  o->store = a;
  return -1;
}

static int parse_args(int argc, char **argv, options *o) {
  for (int i = 1; i < argc; i++) {
    int rc = parse_option(argc, argv, &i, o);
    if (rc >= 0)
      return rc;
  }
  if (o->store == NULL && !o->list)
    return bad_usage("%s", "no STORE.so given");
  return -1;
}

/* A file here is used as a path, so that `mc-store-check my.so` means the
 * my.so the author just built, not one in a plugin folder. */
static const char *as_path(const char *name, char *buf, size_t len) {
  struct stat st;
  if (strchr(name, '/') == NULL && stat(name, &st) == 0) {
    snprintf(buf, len, "./%s", name);
    return buf;
  }
  return name;
}

static int load_store(const options *o) {
  char err[1200], path[4200];
  ck_vt = sh_load_store(as_path(o->store, path, sizeof path), &ck_plugin, err,
                        sizeof err);
  if (ck_vt == NULL) {
    fprintf(stderr, "mc-store-check: cannot load store %s: %s\n", o->store,
            err);
    return 2;
  }
  return 0;
}

static int collect_tests(const options *o, ck_test *t, size_t *n) {
  char err[1200], path[4200];
  contract_tests(t, n);
  kill_tests(t, n);
  damage_tests(t, n);
  if (o->damage != NULL &&
      damage_module_tests(as_path(o->damage, path, sizeof path), t, n,
                          MAX_TESTS, err, sizeof err) != 0) {
    fprintf(stderr, "mc-store-check: damage module %s: %s\n", o->damage, err);
    return 2;
  }
  return 0;
}

/* Prints s quoted for a POSIX shell when it needs it. */
static void print_shell_word(const char *s) {
  if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789-_./=:+,@%") == strlen(s)) {
    fputs(s, stdout);
    return;
  }
  putchar('\'');
  for (; *s; s++)
    if (*s == '\'')
      fputs("'\\''", stdout);
    else
      putchar(*s);
  putchar('\'');
}

static void print_replay(const options *o, const char *argv0,
                         const char *name) {
  printf("      replay: ");
  print_shell_word(argv0);
  printf(" --seed %" PRIu64, o->seed);
  if (o->kills_given)
    printf(" --kills %d", ck_kills);
  printf(" --only ");
  print_shell_word(name);
  if (o->damage != NULL) {
    printf(" --damage ");
    print_shell_word(o->damage);
  }
  putchar(' ');
  print_shell_word(o->store);
  putchar('\n');
}

/* The scratch folder: the one given (created if missing), or a new one. */
static int make_scratch(const options *o, char *dir, size_t len) {
  if (o->scratch != NULL) {
    snprintf(dir, len, "%s", o->scratch);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
      fprintf(stderr, "mc-store-check: --scratch %s: %s\n", dir,
              strerror(errno));
      return 2;
    }
    return 0;
  }
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, len, "%s/mc-store-check-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(dir) == NULL) {
    fprintf(stderr, "mc-store-check: cannot create %s: %s\n", dir,
            strerror(errno));
    return 2;
  }
  return 0;
}

static int run_all(const options *o, const char *argv0, ck_test *t, size_t n) {
  char scratch[4096], failure[2048];
  int rc = make_scratch(o, scratch, sizeof scratch);
  if (rc != 0)
    return rc;
  printf("mc-store-check: store %s %s (%s)\n", ck_plugin.desc->name,
         ck_plugin.desc->version, ck_plugin.path);
  printf("mc-store-check: seed %" PRIu64 ", %d kills, scratch %s\n", o->seed,
         ck_kills, scratch);
  /* A reader of the report must know what was not compared. */
  for (size_t i = 0; ck_unchecked != NULL && ck_unchecked[i] != NULL; i++)
    printf("mc-store-check: the damage module exempts %s from comparisons\n",
           ck_unchecked[i]);
  size_t ran = 0, failed = 0;
  for (size_t i = 0; i < n; i++) {
    if (o->only != NULL && strcmp(o->only, t[i].name) != 0)
      continue;
    ran++;
    printf("  ... %s: %s\n", t[i].name, t[i].about);
    fflush(stdout);
    if (ck_run(&t[i], scratch, o->seed, failure, sizeof failure) == 0) {
      printf("PASS  %s\n", t[i].name);
      continue;
    }
    failed++;
    printf("FAIL  %s (seed %" PRIu64 ")\n      %s\n", t[i].name, o->seed,
           failure);
    print_replay(o, argv0, t[i].name);
  }
  printf("mc-store-check: %zu passed, %zu failed; seed %" PRIu64 "\n",
         ran - failed, failed, o->seed);
  if (failed == 0 && o->scratch == NULL)
    mc_remove_tree(scratch);
  else if (failed > 0)
    printf("mc-store-check: the failed tests' directories are kept in %s\n",
           scratch);
  fflush(stdout);
  return failed ? 1 : 0;
}

static void print_list(const ck_test *t, size_t n) {
  for (size_t i = 0; i < n; i++)
    printf("%-28s %s\n", t[i].name, t[i].about);
}

static int list_builtin(const options *o) {
  static ck_test t[64];
  size_t n = 0;
  if (o->damage != NULL)
    return bad_usage("%s", "--list with --damage needs STORE.so");
  contract_tests(t, &n);
  kill_tests(t, &n);
  damage_tests(t, &n);
  print_list(t, n);
  return 0;
}

static int find_only(const options *o, const ck_test *t, size_t n) {
  for (size_t i = 0; o->only != NULL && i < n; i++)
    if (strcmp(o->only, t[i].name) == 0)
      return 0;
  return o->only == NULL ? 0
                         : bad_usage("--only %s: no such test (see --list)",
                                     o->only);
}

int main(int argc, char **argv) {
  static ck_test tests[MAX_TESTS];
  size_t n = 0;
  options o = {0};
  int rc = parse_args(argc, argv, &o);
  if (rc >= 0)
    return rc;
  if (o.store == NULL) /* --list alone: what every store runs */
    return list_builtin(&o);
  if ((rc = load_store(&o)) != 0 || (rc = collect_tests(&o, tests, &n)) != 0)
    return rc;
  if (o.list) {
    print_list(tests, n);
    return 0;
  }
  if ((rc = find_only(&o, tests, n)) != 0)
    return rc;
  if (!o.have_seed)
    randombytes_buf(&o.seed, sizeof o.seed);
  return run_all(&o, argv[0], tests, n);
}
