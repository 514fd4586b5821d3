/*
 * loader.h - finding, opening and checking plugin shared objects.
 *
 * A name without a slash is searched for in, in order: the --plugin-dir
 * folder, each folder of MCHOST_PLUGIN_PATH (colon separated), the
 * installed plugin folder, and the build tree's plugin folder.  A name with
 * a slash is used as a path.
 *
 * Loading is dlopen(RTLD_NOW | RTLD_LOCAL); the handle is never closed.
 * The descriptor is then checked in this order: magic, ABI major, ABI
 * minor (GStreamer's rule: major equal, minor not newer than the host's),
 * kind, vtable size, required functions.  Each refusal produces one line
 * of the form "<path>: <reason>", e.g.
 *   "./x.so: has incompatible ABI version (plugin: 2.0, host: 1.0), not loading"
 * with dlerror() verbatim where dlopen or dlsym failed.
 */
#ifndef MC_LOADER_H
#define MC_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "minichain/plugin.h"

#define MC_PATH_MAX 4096

typedef struct mc_plugin {
  char path[MC_PATH_MAX];             /* the file that was opened */
  const mc_plugin_descriptor *desc;   /* valid for the process lifetime */
  void *handle;                       /* never dlclose'd */
} mc_plugin;

/* "consensus", "store" or "unknown". */
const char *mc_plugin_kind_name(uint32_t kind);

/*
 * Resolves `name` to an existing file (search order above).  plugin_dir
 * may be NULL.  Returns 0 and the path, or MC_ENOTFOUND with err listing
 * the folders searched.
 */
int mc_plugin_find(const char *name, const char *plugin_dir, char *path,
                   size_t pathlen, char *err, size_t errlen);

/*
 * Finds, opens and checks a plugin.  want_kind is MC_PLUGIN_CONSENSUS,
 * MC_PLUGIN_STORE, or 0 to accept either (for --plugin-info).  Returns 0,
 * or MC_ENOTFOUND / MC_EINVAL (not loadable, no entry symbol, bad magic) /
 * MC_EVERSION / MC_EKIND / MC_ENOSYS (vtable too small or a required
 * function NULL), with the one-line reason in err.
 */
int mc_plugin_load(const char *name, uint32_t want_kind,
                   const char *plugin_dir, mc_plugin *out, char *err,
                   size_t errlen);

#endif /* MC_LOADER_H */
