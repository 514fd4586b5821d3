/*
 * layout.c - pins the memory layout of every public SDK struct on x86_64.
 *
 * A plugin built against one SDK and a host built against another share
 * these structs by address, so a moved field or a changed size silently
 * corrupts memory instead of failing.  Each struct's size and alignment and
 * each field's offset and size are written below as numbers and checked
 * with _Static_assert: a layout change does not compile, and the ctest
 * abi/layout (which builds this file first) fails.
 *
 * A new minor may only append fields (docs/SDK.md): add pins for the new
 * fields and raise the struct's size, and never change an existing line.
 * The numbers are those of the x86_64 SysV LP64 ABI; on any other target
 * the program reports itself skipped (exit 77, ctest SKIP_RETURN_CODE).
 */
#include <stddef.h>
#include <stdio.h>

#include "minichain/minichain.h"

#if defined(__x86_64__) && defined(__LP64__)

/* X(struct, sizeof, _Alignof) */
#define MC_PINNED_STRUCTS(X)                                                   \
  X(mc_plugin_descriptor, 48, 8)                                               \
  X(mc_tx, 216, 8)                                                             \
  X(mc_block_header, 152, 8)                                                   \
  X(mc_block, 272, 8)                                                          \
  X(mc_account, 48, 8)                                                         \
  X(mc_log_field, 32, 8)                                                       \
  X(mc_host_api, 208, 8)                                                       \
  X(mc_consensus_params, 40, 8)                                                \
  X(mc_consensus_status, 24, 8)                                                \
  X(mc_consensus_vtable, 80, 8)                                                \
  X(mc_store_vtable, 88, 8)

/* X(struct, member designator, offsetof, sizeof); unions included */
#define MC_PINNED_FIELDS(X)                                                    \
  /* mc_plugin_descriptor */                                                   \
  X(mc_plugin_descriptor, magic, 0, 4)                                         \
  X(mc_plugin_descriptor, abi_major, 4, 2)                                     \
  X(mc_plugin_descriptor, abi_minor, 6, 2)                                     \
  X(mc_plugin_descriptor, kind, 8, 4)                                          \
  X(mc_plugin_descriptor, name, 16, 8)                                         \
  X(mc_plugin_descriptor, version, 24, 8)                                      \
  X(mc_plugin_descriptor, description, 32, 8)                                  \
  X(mc_plugin_descriptor, vtable, 40, 8)                                       \
  /* mc_tx */                                                                  \
  X(mc_tx, chain_id, 0, 33)                                                    \
  X(mc_tx, from, 33, 32)                                                       \
  X(mc_tx, to, 65, 32)                                                         \
  X(mc_tx, amount, 104, 8)                                                     \
  X(mc_tx, nonce, 112, 8)                                                      \
  X(mc_tx, sig, 120, 64)                                                       \
  X(mc_tx, id, 184, 32)                                                        \
  /* mc_block_header */                                                        \
  X(mc_block_header, height, 0, 8)                                             \
  X(mc_block_header, prev_hash, 8, 32)                                         \
  X(mc_block_header, timestamp_ms, 40, 8)                                      \
  X(mc_block_header, tx_root, 48, 32)                                          \
  X(mc_block_header, state_root, 80, 32)                                       \
  X(mc_block_header, tx_count, 112, 4)                                         \
  X(mc_block_header, proposer, 116, 32)                                        \
  /* mc_block */                                                               \
  X(mc_block, header, 0, 152)                                                  \
  X(mc_block, signature, 152, 64)                                              \
  X(mc_block, hash, 216, 32)                                                   \
  X(mc_block, txs, 248, 8)                                                     \
  X(mc_block, cert, 256, 8)                                                    \
  X(mc_block, cert_len, 264, 8)                                                \
  /* mc_account */                                                             \
  X(mc_account, pubkey, 0, 32)                                                 \
  X(mc_account, balance, 32, 8)                                                \
  X(mc_account, nonce, 40, 8)                                                  \
  /* mc_log_field */                                                           \
  X(mc_log_field, key, 0, 8)                                                   \
  X(mc_log_field, type, 8, 4)                                                  \
  X(mc_log_field, v, 16, 16)                                                   \
  X(mc_log_field, v.s, 16, 8)                                                  \
  X(mc_log_field, v.i, 16, 8)                                                  \
  X(mc_log_field, v.u, 16, 8)                                                  \
  X(mc_log_field, v.b, 16, 4)                                                  \
  X(mc_log_field, v.hex, 16, 16)                                               \
  X(mc_log_field, v.hex.p, 16, 8)                                              \
  X(mc_log_field, v.hex.len, 24, 8)                                            \
  /* mc_host_api */                                                            \
  X(mc_host_api, size, 0, 8)                                                   \
  X(mc_host_api, log, 8, 8)                                                    \
  X(mc_host_api, now_ms, 16, 8)                                                \
  X(mc_host_api, monotonic_ms, 24, 8)                                          \
  X(mc_host_api, timer_start, 32, 8)                                           \
  X(mc_host_api, timer_stop, 40, 8)                                            \
  X(mc_host_api, send, 48, 8)                                                  \
  X(mc_host_api, broadcast, 56, 8)                                             \
  X(mc_host_api, sign, 64, 8)                                                  \
  X(mc_host_api, verify, 72, 8)                                                \
  X(mc_host_api, hash, 80, 8)                                                  \
  X(mc_host_api, validator_count, 88, 8)                                       \
  X(mc_host_api, validator_key, 96, 8)                                         \
  X(mc_host_api, self_index, 104, 8)                                           \
  X(mc_host_api, head, 112, 8)                                                 \
  X(mc_host_api, build_block, 120, 8)                                          \
  X(mc_host_api, validate_block, 128, 8)                                       \
  X(mc_host_api, commit_block, 136, 8)                                         \
  X(mc_host_api, get_block, 144, 8)                                            \
  X(mc_host_api, encode_block, 152, 8)                                         \
  X(mc_host_api, decode_block, 160, 8)                                         \
  X(mc_host_api, block_free, 168, 8)                                           \
  X(mc_host_api, buf_free, 176, 8)                                             \
  X(mc_host_api, state_save, 184, 8)                                           \
  X(mc_host_api, state_load, 192, 8)                                           \
  X(mc_host_api, random_bytes, 200, 8) /* ABI 1.2 */                           \
  /* mc_consensus_params */                                                    \
  X(mc_consensus_params, size, 0, 8)                                           \
  X(mc_consensus_params, block_interval_ms, 8, 8)                              \
  X(mc_consensus_params, view_timeout_ms, 16, 8)                               \
  X(mc_consensus_params, max_txs_per_block, 24, 4)                             \
  X(mc_consensus_params, flags, 32, 8)                                         \
  /* mc_consensus_status */                                                    \
  X(mc_consensus_status, height, 0, 8)                                         \
  X(mc_consensus_status, view, 8, 8)                                           \
  X(mc_consensus_status, leader, 16, 4)                                        \
  /* mc_consensus_vtable */                                                    \
  X(mc_consensus_vtable, size, 0, 8)                                           \
  X(mc_consensus_vtable, create, 8, 8)                                         \
  X(mc_consensus_vtable, start, 16, 8)                                         \
  X(mc_consensus_vtable, stop, 24, 8)                                          \
  X(mc_consensus_vtable, destroy, 32, 8)                                       \
  X(mc_consensus_vtable, on_message, 40, 8)                                    \
  X(mc_consensus_vtable, on_commit, 48, 8)                                     \
  X(mc_consensus_vtable, verify_certificate, 56, 8)                            \
  X(mc_consensus_vtable, on_peer, 64, 8)                                       \
  X(mc_consensus_vtable, status, 72, 8)                                        \
  /* mc_store_vtable */                                                        \
  X(mc_store_vtable, size, 0, 8)                                               \
  X(mc_store_vtable, open, 8, 8)                                               \
  X(mc_store_vtable, close, 16, 8)                                             \
  X(mc_store_vtable, head, 24, 8)                                              \
  X(mc_store_vtable, append, 32, 8)                                            \
  X(mc_store_vtable, get_block, 40, 8)                                         \
  X(mc_store_vtable, get_block_by_hash, 48, 8)                                 \
  X(mc_store_vtable, free_block, 56, 8)                                        \
  X(mc_store_vtable, get_account, 64, 8)                                       \
  X(mc_store_vtable, each_account, 72, 8)                                      \
  X(mc_store_vtable, find_tx, 80, 8)

/* X(enum type, sizeof): an enum is an int-sized field in the structs */
#define MC_PINNED_ENUMS(X)                                                     \
  X(mc_plugin_kind, 4)                                                         \
  X(mc_log_level, 4)                                                           \
  X(mc_log_type, 4)                                                            \
  X(mc_errno, 4)

#define PIN_STRUCT(T, size_, align_)                                           \
  _Static_assert(sizeof(T) == (size_), "sizeof(" #T ") changed");              \
  _Static_assert(_Alignof(T) == (align_), "_Alignof(" #T ") changed");
#define PIN_FIELD(T, f, off_, size_)                                           \
  _Static_assert(offsetof(T, f) == (off_), #T "." #f " moved");                \
  _Static_assert(sizeof(((T *)0)->f) == (size_), #T "." #f " changed size");
#define PIN_ENUM(T, size_)                                                     \
  _Static_assert(sizeof(T) == (size_), "sizeof(" #T ") changed");

MC_PINNED_STRUCTS(PIN_STRUCT)
MC_PINNED_FIELDS(PIN_FIELD)
MC_PINNED_ENUMS(PIN_ENUM)

/*
 * The loader's rules are written in terms of these: the 1.0 prefix of each
 * vtable, and the values a descriptor and a log field carry.
 */
_Static_assert(MC_CONSENSUS_VTABLE_MIN_SIZE == 64, "1.0 consensus prefix");
_Static_assert(MC_STORE_VTABLE_MIN_SIZE == 88, "1.0 store prefix");
_Static_assert(MC_ABI_MAJOR == 1, "a new major needs a new baseline");
_Static_assert(MC_PLUGIN_MAGIC == 0x4d43504cu, "plugin magic");
_Static_assert(MC_PLUGIN_CONSENSUS == 1 && MC_PLUGIN_STORE == 2, "kinds");
_Static_assert(MC_LOG_DEBUG == 0 && MC_LOG_INFO == 1 && MC_LOG_WARN == 2 &&
                   MC_LOG_ERROR == 3,
               "log levels");
_Static_assert(MC_LOG_STR == 1 && MC_LOG_INT == 2 && MC_LOG_UINT == 3 &&
                   MC_LOG_BOOL == 4 && MC_LOG_HEX == 5,
               "log field types");
_Static_assert(MC_CONSENSUS_NEW_VALIDATOR == 1, "consensus flag bits");

#define COUNT(...) +1

int main(void) {
  printf("layout pinned: %d structs, %d fields, %d enums\n",
         0 MC_PINNED_STRUCTS(COUNT), 0 MC_PINNED_FIELDS(COUNT),
         0 MC_PINNED_ENUMS(COUNT));
  return 0;
}

#else

int main(void) {
  printf("layout pins are written for x86_64 LP64 only: skipped\n");
  return 77;
}

#endif
