/*
 * minichain/store_check.h - damage cases a store plugin registers with
 * mc-store-check, the store test kit installed with the SDK.
 *
 * mc-store-check proves a store against minichain/store.h.  What damage
 * looks like depends on a store's file format, which only the store's
 * author knows, so the author writes a damage module: a shared object,
 * separate from the store, exporting one function,
 * MC_STORE_CHECK_DAMAGE_SYMBOL, that returns a table of cases.  Then
 *
 *   mc-store-check --damage ./my_damage.so ./my.so
 *
 * runs every case as its own test (named "damage/<case name>"):
 *
 *   1. the kit opens a fresh directory with the store, appends the chain
 *      described below, and closes the store;
 *   2. it calls the case's damage(dir, err, errlen), which edits, removes,
 *      truncates or adds files in dir, and returns 0;
 *   3. it opens dir with the store and requires: the return code equal to
 *      the case's `expect`, *out left NULL, a one-line reason in err (and,
 *      when the case gives `says`, containing that text), and every file of
 *      dir byte-identical before and after the refused open (except the
 *      table's `unchecked` files, see below).
 *
 * The chain the kit writes before each case: heights 0 to
 * MC_STORE_CHECK_DAMAGE_HEAD; blocks 1, 2 and 3 hold 1, 2 and 3 transfers,
 * block 4 none; blocks 1, 2 and 4 carry a commit certificate, 0 and 3 none.
 * Amounts, keys and certificate bytes depend on the kit's --seed.
 *
 * Which code a case expects follows the rule in minichain/store.h (open):
 * MC_EFOREIGN needs positive evidence that the data is someone else's;
 * damage in the store's own files is MC_ECORRUPT; the store's own format
 * marker with a newer version is MC_EVERSION.
 *
 * Build a damage module as a MODULE library (no lib prefix, hidden
 * visibility: minichain_add_plugin() does both) and never ship it with
 * the store: it exists to break data.  The kit loads it with
 * dlopen(RTLD_NOW | RTLD_LOCAL), refuses it with one line and exit status
 * 2 when the symbol or the table is missing or malformed, and never
 * unloads it.
 *
 * Example, a whole module (examples/hello-store/damage/hello_damage.c is
 * the example store's real one):
 *
 *   #include <minichain/error.h>
 *   #include <minichain/store_check.h>
 *   #include <stdio.h>
 *   #include <unistd.h>
 *
 *   static int cut_log(const char *dir, char *err, size_t errlen) {
 *     char p[4096];
 *     snprintf(p, sizeof p, "%s/my.log", dir);
 *     if (truncate(p, 10) != 0) {
 *       snprintf(err, errlen, "%s: cannot truncate", p);
 *       return -1;
 *     }
 *     return 0;
 *   }
 *
 *   static const mc_store_damage_case cases[] = {
 *       {sizeof(mc_store_damage_case), "cut-log", "the log cut to 10 bytes",
 *        MC_ECORRUPT, cut_log, "my.log"},
 *   };
 *   MC_STORE_CHECK_DAMAGE_DEFINE("mystore", cases)
 *
 * ABI: both structs are size-first; fields are only appended.  A case
 * array is read with the stride of its first element's size, so every
 * element of one array must have the same size.
 */
#ifndef MINICHAIN_STORE_CHECK_H
#define MINICHAIN_STORE_CHECK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The name of the one function a damage module exports. */
#define MC_STORE_CHECK_DAMAGE_SYMBOL "mc_store_check_damage"

/* The head height of the chain the kit writes before each case. */
#define MC_STORE_CHECK_DAMAGE_HEAD 4

/* One damage case. */
typedef struct mc_store_damage_case {
  size_t size; /* sizeof(mc_store_damage_case) the module was built with */

  /* Short, unique in the table: letters, digits, '-', '_' and '.' only
   * (it becomes the test name "damage/<name>" given to --only). */
  const char *name;

  /* One line saying what the damage is, for the kit's report. */
  const char *description;

  /* What open must return: MC_ECORRUPT, MC_EFOREIGN or MC_EVERSION. */
  int expect;

  /*
   * Damages the closed store in a directory.
   *
   * Returns: 0 when the damage was done; any other value when it could
   *          not be (a file it expected is missing, an I/O error).  The
   *          kit fails the case then, with the reason: a case that damages
   *          nothing proves nothing (and one that returns 0 without
   *          changing a file fails as well).
   * Args:    dir:    the store's directory, NUL-terminated, never NULL;
   *                  valid during the call.  The case may read, write,
   *                  remove and create files under it, nowhere else.
   * Out:     err:    on failure, a one-line reason, NUL-terminated, at
   *                  most errlen bytes; never NULL.  Owned by the kit.
   * In:      errlen: size of err, at least 256.
   * Runs in the kit's process, on its only thread, with no store open.
   */
  int (*damage)(const char *dir, char *err, size_t errlen);

  /* Text the store's one-line reason must contain, or NULL for any. */
  const char *says;
} mc_store_damage_case;

/* The table a damage module returns. */
typedef struct mc_store_damage_table {
  size_t size; /* sizeof(mc_store_damage_table) the module was built with */

  /* The descriptor name of the store the cases are for ("json"): the kit
   * refuses to run them on another store. */
  const char *store;

  size_t ncases;                      /* >= 1 */
  const mc_store_damage_case *cases;  /* ncases elements, static storage */

  /*
   * NULL, or a NULL-terminated list of paths relative to the store's
   * directory ("leveldb/LOG") that the kit leaves out of every
   * before-and-after comparison, in every test of the run: a storage
   * library's own diagnostic log, which it writes on every open, refused
   * or not, and which holds no chain data.  Nothing else belongs here.
   */
  const char *const *unchecked;
} mc_store_damage_table;

/*
 * The signature of MC_STORE_CHECK_DAMAGE_SYMBOL, the one function a damage
 * module exports (MC_STORE_CHECK_DAMAGE_DEFINE writes it).
 *
 * Returns: the module's table, never NULL, in static storage owned by the
 *          module, valid and unchanged for the life of the process.  The
 *          kit refuses the module (one line, exit status 2) when the table
 *          is smaller than the kit's, names another store, has no cases,
 *          or a case has a bad size, name or expect, no description or no
 *          damage function, or a name used twice.
 * Args:    none.  Called once, before any case runs.
 */
typedef const mc_store_damage_table *(*mc_store_check_damage_fn)(void);

#if defined(__GNUC__)
#define MC_STORE_CHECK_EXPORT __attribute__((visibility("default")))
#else
#define MC_STORE_CHECK_EXPORT
#endif

/* Defines the module's one exported function over a static case array
 * (an array, not a pointer: its element count is taken with sizeof) and
 * an `unchecked` list (NULL or a NULL-terminated array). */
#define MC_STORE_CHECK_DAMAGE_DEFINE_UNCHECKED(store_name_, cases_,            \
                                               unchecked_)                     \
  MC_STORE_CHECK_EXPORT const mc_store_damage_table *mc_store_check_damage(    \
      void);                                                                   \
  const mc_store_damage_table *mc_store_check_damage(void) {                   \
    static const mc_store_damage_table t = {                                   \
        sizeof(mc_store_damage_table), (store_name_),                          \
        sizeof(cases_) / sizeof((cases_)[0]), (cases_), (unchecked_)};         \
    return &t;                                                                 \
  }

/* The same with no unchecked files: every file is compared. */
#define MC_STORE_CHECK_DAMAGE_DEFINE(store_name_, cases_)                      \
  MC_STORE_CHECK_DAMAGE_DEFINE_UNCHECKED(store_name_, cases_, NULL)

#ifdef __cplusplus
}
#endif

#endif /* MINICHAIN_STORE_CHECK_H */
