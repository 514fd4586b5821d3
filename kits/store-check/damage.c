/*
 * damage.c - refusing damaged and foreign directories: the damage every
 * store must refuse whatever its format (built in), and the cases a store
 * registers itself in a damage module (minichain/store_check.h), each run
 * on a real chain the store wrote.
 *
 * Every case ends in the same check: open returns the expected code, a
 * one-line reason, *out NULL, and every file byte-identical to before.
 * The codes follow the rule of minichain/store.h: what is found at the
 * store's own files and cannot be read as its format is damage
 * (MC_ECORRUPT); MC_EFOREIGN needs evidence of another owner, which only
 * a format-aware case can produce, so the built-in cases all expect
 * MC_ECORRUPT.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "minichain/error.h"

/* Writes the chain damage cases start from and closes the store. */
static void write_damage_chain(const char *dir) {
  chain *c = chain_new(MC_STORE_CHECK_DAMAGE_HEAD + 1);
  mc_store *s = open_ok(dir);
  append_ok(s, c, 0, c->n);
  store_close(s);
}

/* ---- built in ------------------------------------------------------------ */

static const char garbage[] = "this is not a chain store\n";

static void overwrite_with_text(const char *path, size_t size) {
  (void)size;
  write_whole(path, garbage, sizeof garbage - 1);
}

static void overwrite_with_zeros(const char *path, size_t size) {
  char *z = calloc(size ? size : 1, 1);
  if (z == NULL)
    CK_FAIL("out of memory");
  ck_defer(free, z);
  write_whole(path, z, size);
  ck_release(z);
}

static int g_files_seen;
static void count_file(const char *path, size_t size) {
  (void)path;
  g_files_seen += size > 0;
}

static void damage_every_file(const char *dir,
                              void (*fn)(const char *, size_t),
                              const char *what) {
  write_damage_chain(dir);
  g_files_seen = 0;
  each_file(dir, count_file);
  if (g_files_seen == 0)
    CK_FAIL("the store wrote a chain and left no non-empty file in %s", dir);
  each_file(dir, fn);
  assert_open_refused(dir, MC_ECORRUPT, NULL, what);
}

static void garbage_files(const char *dir, const void *arg) {
  (void)arg;
  damage_every_file(dir, overwrite_with_text, "text in every file");
}

static void zeroed_files(const char *dir, const void *arg) {
  (void)arg;
  damage_every_file(dir, overwrite_with_zeros, "zeros over every file");
}

void damage_tests(ck_test *t, size_t *n) {
  t[(*n)++] = (ck_test){"damage/garbage_files",
                        "every file replaced by a line of text: ECORRUPT",
                        garbage_files, NULL};
  t[(*n)++] = (ck_test){"damage/zeroed_files",
                        "every file overwritten by zeros: ECORRUPT",
                        zeroed_files, NULL};
}

/* ---- from a damage module ------------------------------------------------- */

static void run_case(const char *dir, const void *arg) {
  const mc_store_damage_case *dc = arg;
  char err[1024] = "";
  write_damage_chain(dir);
  snapshot *good = snapshot_take(dir);
  if (dc->damage(dir, err, sizeof err) != 0)
    CK_FAIL("the case could not damage the directory: %s",
            err[0] ? err : "(no reason given)");
  snapshot *bad = snapshot_take(dir);
  if (good->len == bad->len && memcmp(good->bytes, bad->bytes, good->len) == 0)
    CK_FAIL("the case returned 0 but changed no file: it tests nothing");
  assert_open_refused(dir, dc->expect, dc->says, dc->description);
}

static int valid_name(const char *s) {
  if (s == NULL || *s == '\0' || strlen(s) > 64)
    return 0;
  for (; *s; s++)
    if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
        !(*s >= '0' && *s <= '9') && !strchr("-_.", *s))
      return 0;
  return 1;
}

static int valid_expect(int e) {
  return e == MC_ECORRUPT || e == MC_EFOREIGN || e == MC_EVERSION;
}

/* Every field of the first version, `says` included. */
#define CASE_MIN_SIZE sizeof(mc_store_damage_case)

/* Case i of the table, stepping by the module's own case size. */
static const mc_store_damage_case *case_at(const mc_store_damage_table *t,
                                           size_t i) {
  return (const mc_store_damage_case *)((const char *)t->cases +
                                        i * t->cases[0].size);
}

/* Checks case i of the table; returns 0 or -1 with the reason in err. */
static int check_case(const mc_store_damage_table *t, size_t i, char *err,
                      size_t errlen) {
  const mc_store_damage_case *dc = case_at(t, i);
  if (dc->size != t->cases[0].size) {
    snprintf(err, errlen, "case %zu: size %zu differs from case 0's", i,
             dc->size);
    return -1;
  }
  if (!valid_name(dc->name)) {
    snprintf(err, errlen,
             "case %zu: name must be 1-64 letters, digits, '-', '_' or '.'",
             i);
    return -1;
  }
  if (dc->description == NULL || dc->damage == NULL) {
    snprintf(err, errlen, "case %s: no description or no damage function",
             dc->name);
    return -1;
  }
  if (!valid_expect(dc->expect)) {
    snprintf(err, errlen,
             "case %s: expect is %d (%s); it must be MC_ECORRUPT, "
             "MC_EFOREIGN or MC_EVERSION",
             dc->name, dc->expect, mc_err_name(dc->expect));
    return -1;
  }
  return 0;
}

/* The table's cases, checked; NULL with the reason in err. */
static const mc_store_damage_table *load_table(const char *path, char *err,
                                               size_t errlen) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    snprintf(err, errlen, "cannot load: %s", dlerror());
    return NULL;
  }
  mc_store_check_damage_fn fn;
  *(void **)&fn = dlsym(h, MC_STORE_CHECK_DAMAGE_SYMBOL);
  if (fn == NULL) {
    snprintf(err, errlen, "no %s symbol: not a damage module",
             MC_STORE_CHECK_DAMAGE_SYMBOL);
    return NULL;
  }
  const mc_store_damage_table *t = fn();
  if (t == NULL || t->size < sizeof *t) {
    snprintf(err, errlen, "%s returned %s", MC_STORE_CHECK_DAMAGE_SYMBOL,
             t == NULL ? "NULL" : "a table smaller than this kit's");
    return NULL;
  }
  if (t->ncases == 0 || t->cases == NULL || t->store == NULL) {
    snprintf(err, errlen, "the table names no store or has no cases");
    return NULL;
  }
  if (t->cases[0].size < CASE_MIN_SIZE) {
    snprintf(err, errlen, "case size %zu is smaller than this kit's %zu",
             t->cases[0].size, (size_t)CASE_MIN_SIZE);
    return NULL;
  }
  return t;
}

int damage_module_tests(const char *path, ck_test *t, size_t *n, size_t room,
                        char *err, size_t errlen) {
  const mc_store_damage_table *tab = load_table(path, err, errlen);
  if (tab == NULL)
    return -1;
  if (strcmp(tab->store, ck_plugin.desc->name) != 0) {
    snprintf(err, errlen, "its cases are for store \"%.64s\", not \"%s\"",
             tab->store, ck_plugin.desc->name);
    return -1;
  }
  ck_unchecked = tab->unchecked;
  for (size_t i = 0; i < tab->ncases; i++) {
    const mc_store_damage_case *dc = case_at(tab, i);
    if (check_case(tab, i, err, errlen) != 0)
      return -1;
    for (size_t j = 0; j < *n; j++)
      if (strncmp(t[j].name, "damage/", 7) == 0 &&
          strcmp(t[j].name + 7, dc->name) == 0) {
        snprintf(err, errlen, "two cases are named %s", dc->name);
        return -1;
      }
    if (*n == room) {
      snprintf(err, errlen, "too many cases (at most %zu)", room);
      return -1;
    }
    ck_test *x = &t[(*n)++];
    snprintf(x->name, sizeof x->name, "damage/%s", dc->name);
    x->about = dc->description;
    x->fn = run_case;
    x->arg = dc;
  }
  return 0;
}
