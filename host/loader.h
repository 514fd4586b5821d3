/*
 * loader.h - finding, opening and checking plugin shared objects.
 *
 * A name without a slash is searched for in, in order:
 *   1. the --plugin-dir folder,
 *   2. each folder of MCHOST_PLUGIN_PATH (colon separated, empty skipped),
 *   3. the plugin folder of the installation this executable belongs to,
 *      found from its own location: <dir of /proc/self/exe>/
 *      MC_PLUGIN_DIR_FROM_BIN (../lib/minichain/plugins for the default
 *      layout), so `cmake --install --prefix Q` or moving Q still works,
 *   4. the plugin folder of the configure-time prefix (MC_INSTALL_PLUGIN_DIR;
 *      skipped when it is 3),
 *   5. the build tree's plugin folder (MC_BUILD_PLUGIN_DIR).
 * A name with a slash is used as a path.
 *
 * The file must start with an ELF header of type ET_DYN (a shared object);
 * it is then loaded with dlopen(RTLD_NOW | RTLD_LOCAL) and the handle is
 * never closed.  The descriptor is checked in this order: magic, ABI major,
 * ABI minor (GStreamer's rule: major equal, minor not newer than the
 * host's), kind, vtable size, required functions, name and version
 * (printable, 1..MC_PLUGIN_NAME_MAX bytes).  Each refusal produces one line
 * of the form "<path>: <reason>", e.g.
 *   "./x.so: has incompatible ABI version (plugin: 2.0, host: 1.0), not loading"
 * with dlerror() verbatim where dlopen or dlsym failed.
 */
#ifndef MC_LOADER_H
#define MC_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "minichain/consensus.h"
#include "minichain/plugin.h"
#include "minichain/store.h"

#define MC_PATH_MAX 4096
#define MC_PLUGIN_NAME_MAX 64 /* longest descriptor name or version */

/*
 * A loaded plugin.  The host calls the plugin only through vt, its own copy
 * of the plugin's vtable: the plugin's `size` bytes, the rest zero.  A
 * plugin built against an older minor thus has NULL in every field it does
 * not know, so a NULL check on an optional field is all the host needs,
 * and nothing can read past the end of the plugin's table.  Never call
 * through desc->vtable.  The table is read once, at load time.
 */
typedef struct mc_plugin {
  char path[MC_PATH_MAX];             /* the file that was opened */
  const mc_plugin_descriptor *desc;   /* valid for the process lifetime */
  void *handle;                       /* never dlclose'd */
  size_t vtable_size;                 /* the size the plugin declared */
  union {
    mc_consensus_vtable consensus;    /* desc->kind == MC_PLUGIN_CONSENSUS */
    mc_store_vtable store;            /* desc->kind == MC_PLUGIN_STORE */
  } vt;
} mc_plugin;

/* "consensus", "store" or "unknown". */
const char *mc_plugin_kind_name(uint32_t kind);

/*
 * Resolves `name` to an existing regular file (search order above) and
 * writes its path into path[pathlen].  plugin_dir may be NULL or "".
 * err (errlen bytes, may be NULL) receives the one-line reason on failure.
 * Returns 0; MC_EINVAL for an empty name or a path that does not fit;
 * MC_ENOTFOUND when no folder has it (err lists the folders searched, in
 * order) or when a name with a slash names no regular file.
 */
int mc_plugin_find(const char *name, const char *plugin_dir, char *path,
                   size_t pathlen, char *err, size_t errlen);

/*
 * Finds, opens and checks a plugin.  want_kind is MC_PLUGIN_CONSENSUS,
 * MC_PLUGIN_STORE, or 0 to accept either (for --plugin-info).  *out is
 * filled on success (out->vt as described above); its desc and handle stay
 * valid for the life of the process (nothing to free).  Returns 0, or with the one-line reason in err
 * (errlen bytes, may be NULL):
 *   MC_ENOTFOUND  no such file (see mc_plugin_find)
 *   MC_EIO        the file cannot be read
 *   MC_EINVAL     not a shared object, dlopen failed (dlerror() quoted),
 *                 no entry symbol, bad magic, bad name or version
 *   MC_EVERSION   ABI major differs or minor is newer than the host's
 *   MC_EKIND      unknown kind, or not want_kind
 *   MC_ENOSYS     vtable NULL, smaller than ABI 1.0's, larger than this
 *                 host's struct of that kind, not a multiple of that
 *                 struct's alignment, or a required function NULL
 * A refused plugin's handle (if dlopen succeeded) is left open, never used.
 * A plugin that calls exit() or crashes (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
 * SIGABRT) between dlopen and the end of the descriptor checks does not
 * return here: one line "<prog>: cannot load plugin <path>: ..." goes to
 * stderr and the process exits 2 (load_guard.h).  Not thread-safe: call
 * from one thread while no other loads a plugin.
 */
int mc_plugin_load(const char *name, uint32_t want_kind,
                   const char *plugin_dir, mc_plugin *out, char *err,
                   size_t errlen);

#endif /* MC_LOADER_H */
