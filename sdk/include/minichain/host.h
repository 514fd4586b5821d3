/*
 * minichain/host.h - the services the host hands to every plugin.
 *
 * A plugin never links against the host.  Instead the host passes a
 * `const mc_host_api *` and an opaque `mc_host *` to the plugin's
 * create/open function (the SQLite extension and Redis module way); the
 * plugin keeps both and calls the host through the table, passing the
 * `mc_host *` back as the first argument.
 *
 * ABI rules: `size` is the first field and holds sizeof the table the host
 * was built with.  Fields are only ever appended; a plugin that wants a
 * field added after ABI 1.0 checks MC_HOST_HAS(api, field) first.  Every
 * function in ABI 1.0 is always present (never NULL).
 *
 * Threading: the host runs one event loop thread.  Every function here must
 * be called on that thread, from inside a plugin callback (vtable function,
 * timer or message callback).
 *
 * A store may call only log, now_ms, monotonic_ms, hash, encode_block,
 * decode_block, block_free and buf_free.  In the table a store gets, every
 * other function refuses: MC_ESTATE (validator_count 0, self_index -1),
 * nothing handed out, the first call logged.  The host calls a store from
 * inside the chain's own operations, which those would re-enter.
 *
 * Memory: a pointer the host passes to a plugin callback is valid only
 * during that callback.  Memory the host returns (blocks, buffers) is freed
 * with the host's block_free / buf_free; never with the plugin's free().
 */
#ifndef MINICHAIN_HOST_H
#define MINICHAIN_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "minichain/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mc_host mc_host; /* opaque: the host's context */

typedef enum mc_log_level {
  MC_LOG_DEBUG = 0,
  MC_LOG_INFO = 1,
  MC_LOG_WARN = 2,
  MC_LOG_ERROR = 3
} mc_log_level;

typedef enum mc_log_type {
  MC_LOG_STR = 1, /* v.s: NUL-terminated string, copied */
  MC_LOG_INT = 2, /* v.i */
  MC_LOG_UINT = 3, /* v.u */
  MC_LOG_BOOL = 4, /* v.b: 0 or 1 */
  MC_LOG_HEX = 5  /* v.hex: bytes written as lower-case hex */
} mc_log_type;

/* One key/value of a structured log event.  Not size-first (ABI 1.0):
 * arrays of it are read as the plugin's abi_minor lays them out, and a
 * type the host does not know is written as null. */
typedef struct mc_log_field {
  const char *key;
  mc_log_type type;
  union {
    const char *s;
    int64_t i;
    uint64_t u;
    int b;
    struct {
      const uint8_t *p;
      size_t len;
    } hex;
  } v;
} mc_log_field;

/* Convenience initialisers: MC_LOG_F_U("height", h) etc. */
#define MC_LOG_F_S(k, x) {(k), MC_LOG_STR, {.s = (x)}}
#define MC_LOG_F_I(k, x) {(k), MC_LOG_INT, {.i = (int64_t)(x)}}
#define MC_LOG_F_U(k, x) {(k), MC_LOG_UINT, {.u = (uint64_t)(x)}}
#define MC_LOG_F_B(k, x) {(k), MC_LOG_BOOL, {.b = !!(x)}}
#define MC_LOG_F_HEX(k, p_, n_)                                                \
  {(k), MC_LOG_HEX, {.hex = {(const uint8_t *)(p_), (n_)}}}

/* A timer callback; `arg` is what was given to timer_start. */
typedef void (*mc_timer_cb)(void *arg);

typedef struct mc_host_api {
  /* sizeof(mc_host_api) as the host was built; always first. */
  size_t size;

  /* ---- logging ---------------------------------------------------------- */

  /*
   * Writes one structured event (one JSON line: time, level, node, event,
   * plugin and the fields).  `event` is a short snake_case name; `fields`
   * may be NULL when nfields is 0.  Strings are copied before returning.
   */
  void (*log)(mc_host *h, mc_log_level level, const char *event,
              const mc_log_field *fields, size_t nfields);

  /* ---- clock and timers ------------------------------------------------- */

  /* Wall clock, Unix milliseconds.  Use for block timestamps only. */
  uint64_t (*now_ms)(mc_host *h);

  /* Monotonic milliseconds (the loop's clock).  Use for timeouts. */
  uint64_t (*monotonic_ms)(mc_host *h);

  /*
   * Calls cb(arg) once, delay_ms from now, on the loop thread.  The host
   * owns the underlying handle; the plugin holds only the id written to
   * *id_out (never 0).  Returns 0, MC_ENOMEM, or MC_ESTATE once the host is
   * shutting down.
   */
  int (*timer_start)(mc_host *h, uint64_t delay_ms, mc_timer_cb cb, void *arg,
                     uint64_t *id_out);

  /*
   * Cancels a timer that has not fired.  After it returns the callback will
   * not run.  Stopping an id that fired or was stopped already is a no-op
   * that returns MC_ENOTFOUND.
   */
  int (*timer_stop)(mc_host *h, uint64_t id);

  /* ---- messages of the consensus plugin --------------------------------- */

  /*
   * Queues `len` opaque bytes for the validator with index `validator`
   * (position in the genesis validator list).  The host copies the bytes.
   * The peer receives them through its consensus on_message.  Delivery is
   * best effort: MC_ENOTCONN if that validator is not connected now,
   * MC_EFULL if its send queue is full, MC_ETOOBIG above the frame limit.
   * Sending to the node's own index is MC_EINVAL (handle it locally).
   */
  int (*send)(mc_host *h, uint32_t validator, const uint8_t *msg, size_t len);

  /* As send() to every connected validator except this node.  Returns 0
   * even when no validator is connected (a one-validator network). */
  int (*broadcast)(mc_host *h, const uint8_t *msg, size_t len);

  /* ---- keys and hashing ------------------------------------------------- */

  /*
   * Signs msg with this node's ed25519 key in the consensus domain of this
   * chain: the bytes signed are the msgpack array
   *   ["mc-consensus-v1", genesis_hash (bin 32), msg (bin)]
   * (docs/SDK.md), so what a plugin signs names the chain and can never
   * pass for a transaction, a block header or a peer handshake.  msg may
   * be any bytes up to 2^32-1.  Returns 0, MC_ESTATE (the node has no
   * key), MC_ENOMEM or MC_ETOOBIG.
   */
  int (*sign)(mc_host *h, const uint8_t *msg, size_t len,
              uint8_t sig[MC_SIG_LEN]);

  /* Returns 0 if sig is what `sign` with pk's key makes for msg on this
   * chain (same domain, same genesis), else MC_ESIG (or MC_ENOMEM). */
  int (*verify)(mc_host *h, const uint8_t pk[MC_PUBKEY_LEN], const uint8_t *msg,
                size_t len, const uint8_t sig[MC_SIG_LEN]);

  /* out = SHA-256(data). */
  void (*hash)(mc_host *h, const uint8_t *data, size_t len,
               uint8_t out[MC_HASH_LEN]);

  /* ---- the validator set (from genesis, in leader order) ---------------- */

  uint32_t (*validator_count)(mc_host *h);

  /* Copies validator idx's public key.  MC_EINVAL if idx is out of range. */
  int (*validator_key)(mc_host *h, uint32_t idx, uint8_t pk[MC_PUBKEY_LEN]);

  /* This node's validator index, or -1 when it runs as an observer. */
  int32_t (*self_index)(mc_host *h);

  /* ---- the chain -------------------------------------------------------- */

  /* The committed head: height and block hash. */
  int (*head)(mc_host *h, uint64_t *height, uint8_t hash[MC_HASH_LEN]);

  /*
   * Builds a candidate block on the current head from the mempool (at most
   * max_txs_per_block transfers, valid in order), signed by this node's key
   * as proposer.  *out is owned by the caller; free it with block_free.
   * Returns 0, MC_ESTATE (observer), MC_ENOMEM.
   */
  int (*build_block)(mc_host *h, mc_block **out);

  /*
   * Checks that b extends the current head: height and prev_hash link,
   * timestamp (above the parent's and at most 15 s ahead of this node's
   * clock), proposer is a validator and signed the header, every
   * transaction is valid in order, tx_root and state_root match.  Does not
   * look at b->cert.  Returns 0 or the first failure (MC_ELINK, MC_ESIG,
   * MC_ETXROOT, MC_ESTATEROOT, MC_ETIME, MC_EPROPOSER, MC_ENONCE, ...).
   */
  int (*validate_block)(mc_host *h, const mc_block *b);

  /*
   * Validates b as validate_block does except against the local clock (a
   * block with a commit certificate only needs a timestamp above its
   * parent's: a node whose clock lags still follows the chain), then
   * appends it with its commit
   * certificate (cert_len bytes, copied) and its state changes atomically
   * through the store, removes its transactions from the mempool and
   * notifies the consensus plugin's on_commit.  Returns 0 or an error; on
   * error nothing was stored.
   */
  int (*commit_block)(mc_host *h, const mc_block *b, const uint8_t *cert,
                      size_t cert_len);

  /*
   * Reads a committed block (with its certificate) by height.
   * *out is owned by the caller; free it with block_free.  MC_ENOTFOUND
   * above the head.
   */
  int (*get_block)(mc_host *h, uint64_t height, mc_block **out);

  /* Canonical encoding of b (docs/PROTOCOL.md).  Free *out with buf_free. */
  int (*encode_block)(mc_host *h, const mc_block *b, uint8_t **out,
                      size_t *out_len);

  /* Decodes a block; derives hash and tx ids.  MC_EDECODE on bad input.
   * Free *out with block_free. */
  int (*decode_block)(mc_host *h, const uint8_t *in, size_t len,
                      mc_block **out);

  /* Frees a block returned by build_block, get_block or decode_block.
   * NULL is a no-op. */
  void (*block_free)(mc_host *h, mc_block *b);

  /* Frees a buffer returned by the host.  NULL is a no-op. */
  void (*buf_free)(mc_host *h, void *p);

  /* ---- durable plugin state --------------------------------------------- */

  /*
   * Replaces the plugin's saved state with `len` bytes (at most 64 MiB),
   * durably: when it returns 0, the bytes survive a crash.  The host keeps
   * them in DATA/consensus-<name>.state, two slots written in turn and
   * flushed with one fdatasync, so a crash mid-save leaves the value
   * before it.  Consensus plugins save their votes with it before sending
   * them.  MC_EIO on failure (the value before stays); MC_ESTATE when a
   * store calls it (durable state is the consensus engine's).
   */
  int (*state_save)(mc_host *h, const uint8_t *data, size_t len);

  /* Loads what state_save last stored.  MC_ENOTFOUND if nothing was ever
   * saved; MC_ESTATE when a store calls it.  Free *data with buf_free. */
  int (*state_load)(mc_host *h, uint8_t **data, size_t *len);

  /* ---- ABI 1.2: test with MC_HOST_HAS(api, random_bytes) ---------------- */

  /*
   * Fills buf with len unpredictable bytes (election timeouts, jitter,
   * nonces).  mchost draws them from the operating system (libsodium's
   * randombytes_buf); mc-consensus-sim from a generator seeded by the
   * schedule and the node, so that a failing schedule replays exactly
   * when the engine takes its randomness here rather than from its own
   * source.  Returns 0, MC_EINVAL (buf NULL with len > 0), or MC_ESTATE
   * when a store calls it.
   */
  int (*random_bytes)(mc_host *h, uint8_t *buf, size_t len);
} mc_host_api;

/* Nonzero if the host's table includes `field` (for fields added later). */
#define MC_HOST_HAS(api, field)                                                \
  ((api)->size >= offsetof(mc_host_api, field) + sizeof((api)->field) &&       \
   (api)->field != NULL)

#ifdef __cplusplus
}
#endif

#endif /* MINICHAIN_HOST_H */
