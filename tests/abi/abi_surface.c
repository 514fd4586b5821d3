/*
 * abi_surface.c - a shared object whose debug info describes the whole SDK.
 *
 * abidw/abidiff (abigail-tools) see the types that exported functions
 * reach.  The SDK itself has no functions (it is headers and the vtables a
 * plugin fills in), so this file exports one function per header taking
 * every public type of that header, by pointer for structs and by value
 * for enums and callback types.  Built with -g and fixed flags, its ABI is
 * compared with the stored baseline tests/abi/baseline-<major>.<minor>.abi
 * (tests/abi/CMakeLists.txt): any change to a struct, an enum, a callback
 * type or a vtable's function signatures shows up as an ABI change.
 *
 * It must also compile against the frozen 1.0 headers (tests/abi/sdk-1.0),
 * so it names nothing added after 1.0: the 1.0 surface is compared with
 * the current one to show that 1.x only grew.
 */
#include "minichain/minichain.h"

#define MC_SURFACE_EXPORT __attribute__((visibility("default")))

MC_SURFACE_EXPORT int mc_abi_surface_plugin(const mc_plugin_descriptor *d,
                                            mc_plugin_kind kind,
                                            mc_plugin_entry_fn entry);
MC_SURFACE_EXPORT int mc_abi_surface_types(const mc_tx *tx,
                                           const mc_block_header *hdr,
                                           const mc_block *b,
                                           const mc_account *a);
MC_SURFACE_EXPORT int mc_abi_surface_error(mc_errno err);
MC_SURFACE_EXPORT int
mc_abi_surface_host(const mc_host_api *api, mc_host *host,
                    const mc_log_field *field, mc_log_level level,
                    mc_log_type type, mc_timer_cb cb);
MC_SURFACE_EXPORT int
mc_abi_surface_consensus(const mc_consensus_vtable *vt, mc_consensus *c,
                         const mc_consensus_params *params,
                         const mc_consensus_status *status);
MC_SURFACE_EXPORT int mc_abi_surface_store(const mc_store_vtable *vt,
                                           mc_store *s, mc_account_cb cb);

/*
 * The bodies only have to keep every parameter alive in the debug info;
 * nothing calls them.
 */
int mc_abi_surface_plugin(const mc_plugin_descriptor *d, mc_plugin_kind kind,
                          mc_plugin_entry_fn entry) {
  return d != NULL && (int)kind != 0 && entry != NULL;
}

int mc_abi_surface_types(const mc_tx *tx, const mc_block_header *hdr,
                         const mc_block *b, const mc_account *a) {
  return tx != NULL && hdr != NULL && b != NULL && a != NULL;
}

int mc_abi_surface_error(mc_errno err) { return (int)err; }

int mc_abi_surface_host(const mc_host_api *api, mc_host *host,
                        const mc_log_field *field, mc_log_level level,
                        mc_log_type type, mc_timer_cb cb) {
  return api != NULL && host != NULL && field != NULL && (int)level >= 0 &&
         (int)type != 0 && cb != NULL;
}

int mc_abi_surface_consensus(const mc_consensus_vtable *vt, mc_consensus *c,
                             const mc_consensus_params *params,
                             const mc_consensus_status *status) {
  return vt != NULL && c != NULL && params != NULL && status != NULL;
}

int mc_abi_surface_store(const mc_store_vtable *vt, mc_store *s,
                         mc_account_cb cb) {
  return vt != NULL && s != NULL && cb != NULL;
}
