/*
 * minichain/plugin.h - how a shared object presents itself to mchost.
 *
 * A plugin exports exactly one symbol, MC_PLUGIN_ENTRY_SYMBOL, a function
 * taking no arguments that returns a pointer to a constant descriptor.  The
 * host reads the descriptor before anything else and refuses the plugin
 * (exit status 2, nothing touched) unless:
 *   - magic == MC_PLUGIN_MAGIC,
 *   - abi_major == the host's MC_ABI_MAJOR and abi_minor <= its MC_ABI_MINOR
 *     (the GStreamer rule),
 *   - kind is what the command-line option asked for,
 *   - the vtable's size covers the ABI 1.0 fields and every required
 *     function is non-NULL.
 *
 * Build plugins with -fvisibility=hidden and -Wl,-z,defs (the CMake helper
 * minichain_add_plugin() in the SDK package does both).  The host loads
 * with RTLD_NOW | RTLD_LOCAL and never unloads a plugin.
 *
 * Example:
 *   static const mc_store_vtable vt = { sizeof vt, my_open, ... };
 *   MC_PLUGIN_DEFINE(MC_PLUGIN_STORE, "mystore", "0.1.0", "My store", &vt)
 */
#ifndef MINICHAIN_PLUGIN_H
#define MINICHAIN_PLUGIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MC_ABI_MAJOR 1
#define MC_ABI_MINOR 2

#define MC_PLUGIN_MAGIC 0x4d43504cu /* "MCPL" */
#define MC_PLUGIN_ENTRY_SYMBOL "mc_plugin_entry"

typedef enum mc_plugin_kind {
  MC_PLUGIN_CONSENSUS = 1,
  MC_PLUGIN_STORE = 2
} mc_plugin_kind;

typedef struct mc_plugin_descriptor {
  uint32_t magic;        /* MC_PLUGIN_MAGIC */
  uint16_t abi_major;    /* MC_ABI_MAJOR the plugin was built against */
  uint16_t abi_minor;    /* MC_ABI_MINOR the plugin was built against */
  uint32_t kind;         /* mc_plugin_kind */
  const char *name;      /* short name, e.g. "poa" */
  const char *version;   /* the plugin's own version, e.g. "1.0.0" */
  const char *description;
  const void *vtable;    /* mc_consensus_vtable or mc_store_vtable */
} mc_plugin_descriptor;

typedef const mc_plugin_descriptor *(*mc_plugin_entry_fn)(void);

#if defined(__GNUC__)
#define MC_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define MC_PLUGIN_EXPORT
#endif

/*
 * The macro expands in the plugin's own source, outside this header's
 * extern "C" block, so in C++ it names C linkage itself: a mangled entry
 * would not be found by dlsym and the plugin would be refused.
 */
#ifdef __cplusplus
#define MC_PLUGIN_LINKAGE extern "C"
#else
#define MC_PLUGIN_LINKAGE
#endif

/* Defines the plugin's one exported symbol. */
#define MC_PLUGIN_DEFINE(kind_, name_, version_, description_, vtable_)        \
  MC_PLUGIN_LINKAGE MC_PLUGIN_EXPORT const mc_plugin_descriptor *              \
  mc_plugin_entry(void);                                                       \
  MC_PLUGIN_LINKAGE const mc_plugin_descriptor *mc_plugin_entry(void) {        \
    static const mc_plugin_descriptor d = {                                    \
        MC_PLUGIN_MAGIC, MC_ABI_MAJOR, MC_ABI_MINOR, (kind_),                  \
        (name_),         (version_),   (description_), (vtable_)};             \
    return &d;                                                                 \
  }

#ifdef __cplusplus
}
#endif

#endif /* MINICHAIN_PLUGIN_H */
