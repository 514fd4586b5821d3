/*
 * defect.h - builds a good plugin with exactly one deliberate defect.
 *
 * tests/loader/CMakeLists.txt force-includes this header (-include) into
 * the source of a correct plugin and sets one of these definitions:
 *   MC_DEFECT_MAGIC=<value>       the descriptor's magic
 *   MC_DEFECT_ABI_MAJOR=<n>       the descriptor's ABI major
 *   MC_DEFECT_ABI_MINOR=<n>       the descriptor's ABI minor
 *   MC_DEFECT_KIND=<n>            the descriptor's kind
 *   MC_DEFECT_ENTRY=<name>        the entry function's exported name
 *   MC_DEFECT_NAME=<string>       the descriptor's name
 *   MC_DEFECT_NULL_FIELD=<field>  that vtable function is NULL
 *   MC_DEFECT_VTABLE_SIZE=<n>     the vtable's size field
 *   MC_DEFECT_DD_OPEN_FAILS=1     (a store) open writes a file and a folder
 *                                 with a file in the data dir, then fails
 *   MC_DEFECT_DD_CREATE_FAILS=1   (a consensus engine) create saves its state
 *                                 (consensus-NAME.state), then fails
 *   MC_DEFECT_GUARD_PAGE          (with MC_DEFECT_VTABLE_SIZE) the published
 *                                 vtable is its first <n> bytes, ending
 *                                 exactly where an unmapped page begins, so
 *                                 a host that reads past <n> bytes crashes
 *   MC_DEFECT_CTOR_EXIT=<code>    a constructor calls exit(<code>)
 *   MC_DEFECT_CTOR_SEGV           a constructor writes through NULL
 *   MC_DEFECT_ENTRY_EXIT=<code>   the entry function calls exit(<code>)
 *   MC_DEFECT_ENTRY_ABORT         the entry function calls abort()
 * plugin.h is included first, so the source's own #include of it is a
 * no-op and its MC_PLUGIN_DEFINE(...) expands to the version below, which
 * publishes a copy of the source's vtable with the defect applied.
 */
#ifndef MC_TEST_DEFECT_H
#define MC_TEST_DEFECT_H

#include <stddef.h>
#include <string.h>

#include "minichain/plugin.h"

#if defined(MC_DEFECT_CTOR_EXIT) || defined(MC_DEFECT_ENTRY_EXIT) ||          \
    defined(MC_DEFECT_ENTRY_ABORT)
#include <stdlib.h>
#endif
#ifdef MC_DEFECT_CTOR_EXIT
__attribute__((constructor)) static void mc__defect_ctor(void) {
  exit(MC_DEFECT_CTOR_EXIT);
}
#endif
#ifdef MC_DEFECT_CTOR_SEGV
/* no_sanitize: under MC_SANITIZE, UBSan would stop at the store itself and
 * exit 1, and the point is a real fault the host has to catch. */
__attribute__((constructor, no_sanitize("undefined"))) static void
mc__defect_ctor(void) {
  /* volatile: a constant NULL store would be compiled into a trap (SIGILL) */
  volatile int *volatile p = NULL;
  *p = 1;
}
#endif
#if defined(MC_DEFECT_ENTRY_EXIT)
#define MC__DEFECT_IN_ENTRY() exit(MC_DEFECT_ENTRY_EXIT);
#elif defined(MC_DEFECT_ENTRY_ABORT)
#define MC__DEFECT_IN_ENTRY() abort();
#else
#define MC__DEFECT_IN_ENTRY()
#endif

#ifndef MC_DEFECT_MAGIC
#define MC_DEFECT_MAGIC MC_PLUGIN_MAGIC
#endif
#ifndef MC_DEFECT_ABI_MAJOR
#define MC_DEFECT_ABI_MAJOR MC_ABI_MAJOR
#endif
#ifndef MC_DEFECT_ABI_MINOR
#define MC_DEFECT_ABI_MINOR MC_ABI_MINOR
#endif
#ifndef MC_DEFECT_ENTRY
#define MC_DEFECT_ENTRY mc_plugin_entry
#endif

#ifdef MC_DEFECT_NAME
#define MC__DEFECT_NAME(name_) (MC_DEFECT_NAME)
#else
#define MC__DEFECT_NAME(name_) (name_)
#endif

#ifdef MC_DEFECT_KIND
#define MC__DEFECT_KIND(kind_) (MC_DEFECT_KIND)
#else
#define MC__DEFECT_KIND(kind_) (kind_)
#endif

#ifdef MC_DEFECT_NULL_FIELD
#define MC__DEFECT_NULL(vt_, buf_)                                             \
  memset((buf_) + offsetof(__typeof__(*(vt_)), MC_DEFECT_NULL_FIELD), 0,       \
         sizeof((vt_)->MC_DEFECT_NULL_FIELD));
#else
#define MC__DEFECT_NULL(vt_, buf_)
#endif

#ifdef MC_DEFECT_VTABLE_SIZE
#define MC__DEFECT_SIZE(buf_)                                                  \
  {                                                                            \
    size_t mc__size = (MC_DEFECT_VTABLE_SIZE);                                 \
    memcpy((buf_), &mc__size, sizeof mc__size);                                \
  }
#else
#define MC__DEFECT_SIZE(buf_)
#endif

/* The data-directory defects (tests/loader/datadir.py): a plugin that
 * leaves files behind and then fails, so a refused start on a new data
 * directory has something to clean up. */
#ifdef MC_DEFECT_DD_OPEN_FAILS
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "minichain/error.h"
#include "minichain/store.h"
static void mc__dd_touch(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0) {
    (void)!write(fd, "partial\n", 8);
    close(fd);
  }
}
static int mc__dd_open(const mc_host_api *api, mc_host *host, const char *dir,
                       mc_store **out, char *err, size_t errlen) {
  (void)api, (void)host;
  char sub[4096];
  snprintf(sub, sizeof sub, "%s/dd-tables", dir);
  mc__dd_touch(dir, "dd-partial.log");
  mkdir(sub, 0700);
  mc__dd_touch(sub, "dd-table-0");
  *out = NULL;
  snprintf(err, errlen, "cannot open: failed on purpose after writing");
  return MC_EIO;
}
#define MC__DEFECT_DD(vt_, buf_)                                               \
  {                                                                            \
    int (*mc__f)(const mc_host_api *, mc_host *, const char *, mc_store **,    \
                 char *, size_t) = mc__dd_open;                                \
    memcpy((buf_) + offsetof(mc_store_vtable, open), &mc__f, sizeof mc__f);    \
  }
#elif defined(MC_DEFECT_DD_CREATE_FAILS)
#include "minichain/consensus.h"
#include "minichain/error.h"
static int mc__dd_create(const mc_host_api *api, mc_host *host,
                         const mc_consensus_params *params,
                         mc_consensus **out) {
  (void)params, (void)out;
  static const uint8_t vote[] = "a vote saved before failing";
  int rc = api->state_save(host, vote, sizeof vote);
  return rc != 0 ? rc : MC_EINVAL;
}
#define MC__DEFECT_DD(vt_, buf_)                                               \
  {                                                                            \
    int (*mc__f)(const mc_host_api *, mc_host *, const mc_consensus_params *,  \
                 mc_consensus **) = mc__dd_create;                             \
    memcpy((buf_) + offsetof(mc_consensus_vtable, create), &mc__f,             \
           sizeof mc__f);                                                      \
  }
#else
#define MC__DEFECT_DD(vt_, buf_)
#endif

#ifdef MC_DEFECT_GUARD_PAGE
#include <sys/mman.h>
#include <unistd.h>
/* The first n bytes of vt, copied to end at a PROT_NONE page; NULL (which
 * the loader refuses, failing the test) if the pages cannot be had. */
static const void *mc__defect_guarded(const unsigned char *vt, size_t n) {
  static unsigned char *at;
  if (at != NULL)
    return at;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  if (n > page)
    return NULL;
  unsigned char *m = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    return NULL;
  memcpy(m + page - n, vt, n);
  if (mprotect(m + page, page, PROT_NONE) != 0)
    return NULL;
  at = m + page - n;
  return at;
}
#define MC__DEFECT_PUBLISH(buf_)                                               \
  mc__defect_guarded((buf_), (MC_DEFECT_VTABLE_SIZE))
#else
#define MC__DEFECT_PUBLISH(buf_) ((const void *)(buf_))
#endif

#undef MC_PLUGIN_DEFINE
#define MC_PLUGIN_DEFINE(kind_, name_, version_, description_, vtable_)        \
  static _Alignas(max_align_t) unsigned char mc__defect_vt[sizeof *(vtable_)]; \
  MC_PLUGIN_EXPORT const mc_plugin_descriptor *MC_DEFECT_ENTRY(void);          \
  const mc_plugin_descriptor *MC_DEFECT_ENTRY(void) {                          \
    MC__DEFECT_IN_ENTRY()                                                      \
    static mc_plugin_descriptor d = {                                          \
        (MC_DEFECT_MAGIC), (MC_DEFECT_ABI_MAJOR), (MC_DEFECT_ABI_MINOR),       \
        MC__DEFECT_KIND(kind_), MC__DEFECT_NAME(name_), (version_),            \
        (description_), mc__defect_vt};                                        \
    memcpy(mc__defect_vt, (vtable_), sizeof mc__defect_vt);                    \
    MC__DEFECT_NULL(vtable_, mc__defect_vt)                                    \
    MC__DEFECT_SIZE(mc__defect_vt)                                             \
    MC__DEFECT_DD(vtable_, mc__defect_vt)                                      \
    d.vtable = MC__DEFECT_PUBLISH(mc__defect_vt);                              \
    return &d;                                                                 \
  }

#endif /* MC_TEST_DEFECT_H */
