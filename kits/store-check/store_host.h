/*
 * store_host.h - the one host table every host-side store program uses
 * (mc-store-check, json.so's journal test, bench-store), and the loader
 * call that goes with it.
 *
 * The table serves what minichain/host.h lets a store call: log, now_ms,
 * monotonic_ms, hash, encode_block, decode_block, block_free, buf_free,
 * on the host's own codec and hash.  Every other service refuses the way
 * the real host's store table does (MC_ESTATE; validator_count 0,
 * self_index -1) and is also recorded here, so that a program can fail a
 * store for calling it instead of only refusing: a store that calls
 * consensus or chain services re-enters the chain from inside an append.
 */
#ifndef MC_STORE_HOST_H
#define MC_STORE_HOST_H

#include <stddef.h>

#include "loader.h"
#include "minichain/store.h"

/* The host table and the context to hand a store with it. */
extern const mc_host_api sh_api;
mc_host *sh_host(void);

/* MC_LOG_ERROR events the store has logged through sh_api. */
extern unsigned sh_logged_errors;
/* Nonzero: every event is printed to stderr, not only errors. */
extern int sh_verbose;

/* Calls of services no store may use since the last sh_forbidden_reset,
 * and the name of the first (NULL when there was none). */
extern unsigned sh_forbidden_calls;
extern const char *sh_forbidden_first;
void sh_forbidden_reset(void);

/*
 * Initialises libsodium and loads the store plugin at `path` the way
 * mchost does.  Returns its vtable with *plugin filled (valid for the
 * process), or NULL with a one-line reason in err (errlen bytes).
 */
const mc_store_vtable *sh_load_store(const char *path, mc_plugin *plugin,
                                     char *err, size_t errlen);

#endif /* MC_STORE_HOST_H */
