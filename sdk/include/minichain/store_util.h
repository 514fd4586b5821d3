/*
 * minichain/store_util.h - optional helpers for store plugins: the checks
 * every store's open and append would otherwise write again.
 *
 * Header-only: every function is static inline and compiled into the
 * plugin, so using them adds no symbol the host must provide and nothing
 * to the ABI.  A store that does not include this header loses nothing.
 *
 * Example, the start of an open and of an append:
 *
 *   static int my_open(const mc_host_api *api, mc_host *host,
 *                      const char *dir, mc_store **out, char *err,
 *                      size_t errlen) {
 *     int rc = mc_store_open_args(api, dir, out, err, errlen, "my store");
 *     if (rc != 0)
 *       return rc;
 *     ...
 *   }
 *
 *   static int my_append(mc_store *s, const mc_block *b,
 *                        const mc_account *changes, size_t n) {
 *     if (s == NULL || !mc_store_block_well_formed(b, changes, n))
 *       return MC_EINVAL;
 *     if (!mc_store_block_follows(b, s->has_head, s->head, s->head_hash))
 *       return MC_ELINK;
 *     ...
 *   }
 */
#ifndef MINICHAIN_STORE_UTIL_H
#define MINICHAIN_STORE_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "minichain/error.h"
#include "minichain/host.h"
#include "minichain/store.h"
#include "minichain/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MC_STORE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MC_STORE_PRINTF(f, a)
#endif

/*
 * Writes a formatted one-line reason into err (errlen bytes, always
 * NUL-terminated; truncated if longer).  Does nothing when err is NULL or
 * errlen is 0.
 */
static inline void mc_store_err(char *err, size_t errlen, const char *fmt, ...)
    MC_STORE_PRINTF(3, 4);
static inline void mc_store_err(char *err, size_t errlen, const char *fmt,
                                ...) {
  if (err == NULL || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/*
 * The argument checks of mc_store_vtable.open.  Returns MC_EINVAL when
 * out, err or errlen is missing (no message can be written then), or when
 * api or dir is NULL or api is shorter than the ABI 1.0 table (with
 * "<store_name>: ..." in err).  Otherwise sets *out to NULL and returns 0.
 */
static inline int mc_store_open_args(const mc_host_api *api, const char *dir,
                                     mc_store **out, char *err, size_t errlen,
                                     const char *store_name) {
  if (out == NULL || err == NULL || errlen == 0)
    return MC_EINVAL;
  *out = NULL;
  if (api == NULL || dir == NULL ||
      api->size < offsetof(mc_host_api, state_load) + sizeof api->state_load) {
    mc_store_err(err, errlen, "%s: no directory or no usable host table",
                 store_name);
    return MC_EINVAL;
  }
  return 0;
}

/*
 * Nonzero if b and its changes can be read without going out of bounds:
 * the arrays their counts promise are there.  The host validated the
 * block already; this only keeps a store from trusting a NULL pointer.
 */
static inline int mc_store_block_well_formed(const mc_block *b,
                                             const mc_account *changes,
                                             size_t n) {
  return b != NULL && !(b->header.tx_count > 0 && b->txs == NULL) &&
         !(b->cert_len > 0 && b->cert == NULL) && !(n > 0 && changes == NULL);
}

/*
 * Nonzero if b is the block that follows a store's head: height 0 for an
 * empty store (has_head 0), else head + 1 with prev_hash equal to the
 * head's hash.  `head` and `head_hash` are not read when has_head is 0.
 */
static inline int mc_store_block_follows(const mc_block *b, int has_head,
                                         uint64_t head,
                                         const uint8_t head_hash[MC_HASH_LEN]) {
  if (!has_head)
    return b->header.height == 0;
  return head < UINT64_MAX && b->header.height == head + 1 &&
         memcmp(b->header.prev_hash, head_hash, MC_HASH_LEN) == 0;
}

#undef MC_STORE_PRINTF

#ifdef __cplusplus
}
#endif

#endif /* MINICHAIN_STORE_UTIL_H */
