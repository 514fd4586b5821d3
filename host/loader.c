/*
 * loader.c - finds a plugin file, dlopens it and checks its descriptor
 * before the host lets any of its functions run.
 *
 * Every refusal is one line "<path>: <reason>" so that mchost can print it
 * as is and exit 2 before it touches the data directory.  The checks run in
 * a fixed order (magic, ABI major, ABI minor, kind, vtable size, required
 * functions) so that a file gets the most fundamental reason first: an old
 * plugin with a NULL function is reported as old, not as broken.
 *
 * The host calls a plugin only through a copy of its vtable (mc_plugin.vt),
 * zero past the plugin's declared size, so an optional field a plugin
 * built against an older minor lacks reads as NULL instead of as whatever
 * follows its table in memory.
 *
 * The search order for a name without a slash is in loader.h.
 *
 * A plugin that exits or crashes while it loads (constructors, entry
 * function, descriptor) is reported and mchost exits 2: load_guard.c.
 *
 * Handles are never dlclose'd, not even for a refused plugin: its
 * constructors have run and may have registered something (atexit, TLS
 * destructors) that points into the mapping.
 */
#include "loader.h"

#include <assert.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "load_guard.h"
#include "minichain/consensus.h"
#include "minichain/error.h"
#include "minichain/store.h"

#ifndef MC_BUILD_PLUGIN_DIR
#error "MC_BUILD_PLUGIN_DIR must be defined by the build"
#endif
#ifndef MC_INSTALL_PLUGIN_DIR
#error "MC_INSTALL_PLUGIN_DIR must be defined by the build"
#endif
#ifndef MC_PLUGIN_DIR_FROM_BIN
#error "MC_PLUGIN_DIR_FROM_BIN must be defined by the build"
#endif

#define PLUGIN_PATH_ENV "MCHOST_PLUGIN_PATH"

/* A function pointer field of a vtable that ABI 1.0 requires. */
typedef struct required_fn {
  const char *name;
  size_t offset;
} required_fn;

#define REQ(type, field) {#field, offsetof(type, field)}

static const required_fn consensus_required[] = {
    REQ(mc_consensus_vtable, create),
    REQ(mc_consensus_vtable, start),
    REQ(mc_consensus_vtable, stop),
    REQ(mc_consensus_vtable, destroy),
    REQ(mc_consensus_vtable, on_message),
    REQ(mc_consensus_vtable, on_commit),
    REQ(mc_consensus_vtable, verify_certificate),
};

static const required_fn store_required[] = {
    REQ(mc_store_vtable, open),
    REQ(mc_store_vtable, close),
    REQ(mc_store_vtable, head),
    REQ(mc_store_vtable, append),
    REQ(mc_store_vtable, get_block),
    REQ(mc_store_vtable, get_block_by_hash),
    REQ(mc_store_vtable, free_block),
    REQ(mc_store_vtable, get_account),
    REQ(mc_store_vtable, each_account),
    REQ(mc_store_vtable, find_tx),
};

#undef REQ

/* What each kind must provide: its ABI 1.0 prefix, the newest struct this
 * host was built with, and the required fields. */
typedef struct kind_rules {
  size_t min_size;
  size_t max_size;  /* sizeof the vtable struct in this host's headers */
  size_t align;     /* every sizeof of a vtable struct is a multiple */
  const required_fn *required;
  size_t nrequired;
} kind_rules;

const char *mc_plugin_kind_name(uint32_t kind) {
  switch (kind) {
  case MC_PLUGIN_CONSENSUS:
    return "consensus";
  case MC_PLUGIN_STORE:
    return "store";
  default:
    return "unknown";
  }
}

/* Writes a formatted line into err (if any) and returns code. */
__attribute__((format(printf, 4, 5))) static int
fail(char *err, size_t errlen, int code, const char *fmt, ...) {
  if (err != NULL && errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return code;
}

static int is_regular_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* dir + "/" + name into path when it fits and names a regular file. */
static int try_dir(const char *dir, size_t dirlen, const char *name,
                   char *path, size_t pathlen) {
  int n = snprintf(path, pathlen, "%.*s/%s", (int)dirlen, dir, name);
  if (n < 0 || (size_t)n >= pathlen)
    return 0;
  return is_regular_file(path);
}

/* Appends ", <dir>" (or "<dir>" first) to the list of searched folders. */
static void note_searched(char *list, size_t listlen, const char *dir,
                          size_t dirlen) {
  size_t used = strlen(list);
  if (used >= listlen)
    return;
  snprintf(list + used, listlen - used, "%s%.*s", used ? ", " : "",
           (int)dirlen, dir);
}

/* Looks in each non-empty folder of a colon separated list, in order. */
static int try_path_list(const char *list, const char *name, char *path,
                         size_t pathlen, char *searched, size_t searchedlen) {
  const char *p = list;
  while (*p != '\0') {
    size_t len = strcspn(p, ":");
    if (len > 0) {
      if (try_dir(p, len, name, path, pathlen))
        return 1;
      note_searched(searched, searchedlen, p, len);
    }
    p += len;
    if (*p == ':')
      p++;
  }
  return 0;
}

/*
 * The installed plugin folder as found from this executable: the folder
 * holding /proc/self/exe (symlinks resolved by the kernel) joined with
 * MC_PLUGIN_DIR_FROM_BIN, its leading "../" applied lexically so that the
 * path reads like the configure-time one.  "" if the executable's path
 * cannot be read or the result does not fit.
 */
static void exe_plugin_dir(char *out, size_t outlen) {
  const char *rel = MC_PLUGIN_DIR_FROM_BIN;
  out[0] = '\0';
  if (rel[0] == '/') {
    snprintf(out, outlen, "%s", rel);
    return;
  }
  char dir[MC_PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
  if (n <= 0)
    return;
  dir[n] = '\0';
  char *slash = strrchr(dir, '/');
  if (slash == NULL)
    return;
  *slash = '\0';
  while (strncmp(rel, "../", 3) == 0) {
    if ((slash = strrchr(dir, '/')) == NULL)
      return;
    *slash = '\0';
    rel += 3;
  }
  int m = snprintf(out, outlen, "%s%s%s", dir, rel[0] ? "/" : "", rel);
  if (m < 0 || (size_t)m >= outlen)
    out[0] = '\0';
}

static int find_by_path(const char *name, char *path, size_t pathlen,
                        char *err, size_t errlen) {
  int n = snprintf(path, pathlen, "%s", name);
  if (n < 0 || (size_t)n >= pathlen)
    return fail(err, errlen, MC_EINVAL, "%.200s...: path too long", name);
  struct stat st;
  if (stat(path, &st) != 0)
    return fail(err, errlen, MC_ENOTFOUND, "%s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return fail(err, errlen, MC_ENOTFOUND, "%s: not a regular file", path);
  return 0;
}

int mc_plugin_find(const char *name, const char *plugin_dir, char *path,
                   size_t pathlen, char *err, size_t errlen) {
  assert(name != NULL && path != NULL && pathlen > 0);
  if (name[0] == '\0')
    return fail(err, errlen, MC_EINVAL, "empty plugin name");
  if (strchr(name, '/') != NULL)
    return find_by_path(name, path, pathlen, err, errlen);

  char searched[2048] = "";
  if (plugin_dir != NULL && plugin_dir[0] != '\0') {
    if (try_dir(plugin_dir, strlen(plugin_dir), name, path, pathlen))
      return 0;
    note_searched(searched, sizeof searched, plugin_dir, strlen(plugin_dir));
  }
  const char *env = getenv(PLUGIN_PATH_ENV);
  if (env != NULL &&
      try_path_list(env, name, path, pathlen, searched, sizeof searched))
    return 0;
  /* The folder beside this executable before the configure-time prefix:
   * an installation's own plugins were built with its host, while the
   * configure-time prefix may hold another installation's, or none. */
  char beside_exe[MC_PATH_MAX];
  exe_plugin_dir(beside_exe, sizeof beside_exe);
  const char *const fixed[] = {beside_exe, MC_INSTALL_PLUGIN_DIR,
                               MC_BUILD_PLUGIN_DIR};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
    /* Installed at the configure-time prefix, the first two are one. */
    if (fixed[i][0] == '\0' || (i == 1 && strcmp(fixed[i], beside_exe) == 0))
      continue;
    if (try_dir(fixed[i], strlen(fixed[i]), name, path, pathlen))
      return 0;
    note_searched(searched, sizeof searched, fixed[i], strlen(fixed[i]));
  }
  path[0] = '\0';
  return fail(err, errlen, MC_ENOTFOUND, "%s: not found (searched: %s)", name,
              searched);
}

/*
 * Reads the ELF identification and type before dlopen sees the file, so
 * that the commonest mistakes (a text file, an executable, an object file)
 * get a plain reason instead of the dynamic linker's.  Anything subtler
 * (wrong machine, missing library) is left to dlopen and its dlerror().
 */
static int check_elf(const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return fail(err, errlen, MC_EIO, "%s: cannot open: %s", path,
                strerror(errno));
  unsigned char h[EI_NIDENT + 2];
  size_t n = fread(h, 1, sizeof h, f);
  fclose(f);
  if (n < sizeof h || memcmp(h, ELFMAG, SELFMAG) != 0)
    return fail(err, errlen, MC_EINVAL,
                "%s: not a shared object (no ELF header)", path);
  /* e_type follows e_ident in the file's own byte order. */
  unsigned type = h[EI_DATA] == ELFDATA2MSB
                      ? (unsigned)h[EI_NIDENT] << 8 | h[EI_NIDENT + 1]
                      : (unsigned)h[EI_NIDENT + 1] << 8 | h[EI_NIDENT];
  if (type != ET_DYN)
    return fail(err, errlen, MC_EINVAL,
                "%s: not a shared object (ELF type %u, %s)", path, type,
                type == ET_EXEC ? "an executable"
                : type == ET_REL ? "an object file"
                                 : "not ET_DYN");
  return 0;
}

static int open_entry(mc_plugin *p, mc_plugin_entry_fn *entry, char *err,
                      size_t errlen) {
  dlerror();
  p->handle = dlopen(p->path, RTLD_NOW | RTLD_LOCAL);
  if (p->handle == NULL) {
    const char *why = dlerror();
    return fail(err, errlen, MC_EINVAL, "%s: cannot load: %s", p->path,
                why ? why : "unknown dlopen error");
  }
  dlerror();
  void *sym = dlsym(p->handle, MC_PLUGIN_ENTRY_SYMBOL);
  const char *why = dlerror();
  if (why != NULL || sym == NULL)
    return fail(err, errlen, MC_EINVAL, "%s: no entry symbol %s: %s", p->path,
                MC_PLUGIN_ENTRY_SYMBOL, why ? why : "symbol is NULL");
  /* POSIX guarantees that dlsym's object pointer holds a function's. */
  memcpy(entry, &sym, sizeof *entry);
  return 0;
}

static int check_header(const char *path, const mc_plugin_descriptor *d,
                        char *err, size_t errlen) {
  if (d->magic != MC_PLUGIN_MAGIC)
    return fail(err, errlen, MC_EINVAL,
                "%s: bad magic 0x%08x, not a MiniChain plugin", path,
                (unsigned)d->magic);
  if (d->abi_major != MC_ABI_MAJOR || d->abi_minor > MC_ABI_MINOR)
    return fail(err, errlen, MC_EVERSION,
                "%s: has incompatible ABI version (plugin: %u.%u, host: "
                "%u.%u), not loading",
                path, (unsigned)d->abi_major, (unsigned)d->abi_minor,
                (unsigned)MC_ABI_MAJOR, (unsigned)MC_ABI_MINOR);
  return 0;
}

static int check_kind(const char *path, const mc_plugin_descriptor *d,
                      uint32_t want_kind, char *err, size_t errlen) {
  if (d->kind != MC_PLUGIN_CONSENSUS && d->kind != MC_PLUGIN_STORE)
    return fail(err, errlen, MC_EKIND, "%s: unknown plugin kind %u", path,
                (unsigned)d->kind);
  if (want_kind != 0 && d->kind != want_kind)
    return fail(err, errlen, MC_EKIND, "%s: is a %s plugin, not a %s plugin",
                path, mc_plugin_kind_name(d->kind),
                mc_plugin_kind_name(want_kind));
  return 0;
}

static kind_rules rules_for(uint32_t kind) {
  if (kind == MC_PLUGIN_CONSENSUS)
    return (kind_rules){MC_CONSENSUS_VTABLE_MIN_SIZE,
                        sizeof(mc_consensus_vtable),
                        _Alignof(mc_consensus_vtable), consensus_required,
                        sizeof consensus_required / sizeof *consensus_required};
  assert(kind == MC_PLUGIN_STORE);
  return (kind_rules){MC_STORE_VTABLE_MIN_SIZE, sizeof(mc_store_vtable),
                      _Alignof(mc_store_vtable), store_required,
                      sizeof store_required / sizeof *store_required};
}

/*
 * Reads the vtable only through its declared size and by offset, so that a
 * plugin built against an older minor (a shorter table) is never read past
 * its end.
 *
 * The size is bounded both ways.  A plugin built against a newer minor was
 * already refused by check_header, so a plugin that gets here was built
 * with headers no newer than the host's, and its sizeof cannot exceed the
 * host's: a larger size is a corrupt or lying descriptor, and trusting it
 * would have the host copy (and later call) whatever follows the table.
 * A size that is not a multiple of the struct's alignment is the sizeof of
 * no C struct, so it is refused as corrupt too.
 */
static int check_vtable(const char *path, const mc_plugin_descriptor *d,
                        char *err, size_t errlen) {
  if (d->vtable == NULL)
    return fail(err, errlen, MC_ENOSYS, "%s: vtable is NULL", path);
  kind_rules r = rules_for(d->kind);
  size_t size;
  memcpy(&size, d->vtable, sizeof size);
  if (size < r.min_size)
    return fail(err, errlen, MC_ENOSYS,
                "%s: vtable size %zu is smaller than ABI %d.0's %zu", path,
                size, MC_ABI_MAJOR, r.min_size);
  if (size > r.max_size)
    return fail(err, errlen, MC_ENOSYS,
                "%s: vtable size %zu is larger than any this host knows "
                "(%zu, ABI %d.%d): a corrupt descriptor, or built against "
                "headers newer than the ABI %u.%u it claims",
                path, size, r.max_size, MC_ABI_MAJOR, MC_ABI_MINOR,
                (unsigned)d->abi_major, (unsigned)d->abi_minor);
  if (size % r.align != 0)
    return fail(err, errlen, MC_ENOSYS,
                "%s: vtable size %zu is not a multiple of %zu, so not the "
                "size of any vtable struct",
                path, size, r.align);
  for (size_t i = 0; i < r.nrequired; i++) {
    void (*fn)(void);
    memcpy(&fn, (const char *)d->vtable + r.required[i].offset, sizeof fn);
    if (fn == NULL)
      return fail(err, errlen, MC_ENOSYS,
                  "%s: required function '%s' is NULL", path,
                  r.required[i].name);
  }
  return 0;
}

/* A printable string of 1..max bytes: it goes into logs and one-line
 * messages, where a newline or escape would forge or break a line. */
static int is_plain_string(const char *s, size_t max) {
  if (s == NULL)
    return 0;
  size_t n = 0;
  for (; s[n] != '\0'; n++)
    if (n >= max || (unsigned char)s[n] < 0x20 || s[n] == 0x7f)
      return 0;
  return n > 0;
}

/* mchost prints and logs these, so a descriptor without them is unusable. */
static int check_strings(const char *path, const mc_plugin_descriptor *d,
                         char *err, size_t errlen) {
  if (d->name == NULL || d->name[0] == '\0')
    return fail(err, errlen, MC_EINVAL, "%s: descriptor has an empty name",
                path);
  if (!is_plain_string(d->name, MC_PLUGIN_NAME_MAX))
    return fail(err, errlen, MC_EINVAL,
                "%s: descriptor name is longer than %d bytes or has control "
                "characters",
                path, MC_PLUGIN_NAME_MAX);
  if (!is_plain_string(d->version, MC_PLUGIN_NAME_MAX))
    return fail(err, errlen, MC_EINVAL,
                "%s: descriptor version is empty, longer than %d bytes or has "
                "control characters",
                path, MC_PLUGIN_NAME_MAX);
  return 0;
}

static int check_descriptor(const char *path, const mc_plugin_descriptor *d,
                            uint32_t want_kind, char *err, size_t errlen) {
  int rc = check_header(path, d, err, errlen);
  if (rc == 0)
    rc = check_kind(path, d, want_kind, err, errlen);
  if (rc == 0)
    rc = check_vtable(path, d, err, errlen);
  if (rc == 0)
    rc = check_strings(path, d, err, errlen);
  return rc;
}

/* Everything that runs the plugin's code or reads its data: its
 * constructors (dlopen), its entry function and the descriptor it returns. */
static int load_checked(mc_plugin *out, uint32_t want_kind, char *err,
                        size_t errlen) {
  mc_plugin_entry_fn entry = NULL;
  int rc = open_entry(out, &entry, err, errlen);
  if (rc != 0)
    return rc;
  const mc_plugin_descriptor *d = entry();
  if (d == NULL)
    return fail(err, errlen, MC_EINVAL, "%s: %s returned NULL", out->path,
                MC_PLUGIN_ENTRY_SYMBOL);
  rc = check_descriptor(out->path, d, want_kind, err, errlen);
  if (rc != 0)
    return rc;
  /* check_vtable bounded size by the kind's struct, which vt holds. */
  memcpy(&out->vtable_size, d->vtable, sizeof out->vtable_size);
  assert(out->vtable_size <= sizeof out->vt);
  memcpy(&out->vt, d->vtable, out->vtable_size);
  out->desc = d;
  return 0;
}

int mc_plugin_load(const char *name, uint32_t want_kind,
                   const char *plugin_dir, mc_plugin *out, char *err,
                   size_t errlen) {
  assert(name != NULL && out != NULL);
  memset(out, 0, sizeof *out);
  int rc = mc_plugin_find(name, plugin_dir, out->path, sizeof out->path, err,
                          errlen);
  if (rc == 0)
    rc = check_elf(out->path, err, errlen);
  if (rc != 0)
    return rc;
  mc_load_guard_arm(out->path);
  rc = load_checked(out, want_kind, err, errlen);
  mc_load_guard_disarm();
  if (rc == 0 && err != NULL && errlen > 0)
    err[0] = '\0';
  return rc;
}
