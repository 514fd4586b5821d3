/*
 * minichain/store.h - the vtable a chain store plugin provides.
 *
 * A store keeps the committed chain: blocks (with their commit
 * certificates) and the account state after the newest block.  The host
 * validates everything before it reaches the store; the store's job is to
 * keep it durably and atomically:
 *
 *   - append() stores a block and the state changes it causes as one unit:
 *     after a crash at any point either both are there or neither is.
 *     When append() returns 0 the block is durable.
 *   - append() refuses a block that does not link to the head (height is
 *     not head+1 or prev_hash is not the head's hash; for an empty store,
 *     height is not 0) with MC_ELINK and changes nothing.
 *   - open() refuses a corrupt data directory with MC_ECORRUPT and a
 *     directory written by something else with MC_EFOREIGN (the rule that
 *     tells them apart is at open below), and in both cases leaves every
 *     file as it was.
 *
 * Every function runs on the host's loop thread; a store may block.
 *
 * Ownership: blocks a store returns are freed with its own free_block.
 * Pointers the host passes are valid only during the call; a store copies
 * what it keeps.
 *
 * ABI: `size` first; fields only appended.  Every field of ABI 1.0 (up to
 * and including find_tx) is required.
 */
#ifndef MINICHAIN_STORE_H
#define MINICHAIN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "minichain/host.h"
#include "minichain/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mc_store mc_store; /* the plugin's own instance */

/* Called once per account by each_account; nonzero stops the walk and is
 * returned by each_account. */
typedef int (*mc_account_cb)(void *arg, const mc_account *acct);

typedef struct mc_store_vtable {
  size_t size; /* sizeof(mc_store_vtable) the plugin was built with */

  /*
   * Opens (creating when absent or empty) the store kept under directory
   * `dir`, which exists.  The store owns the files it creates there and
   * must not touch others.  On failure writes a one-line reason into err
   * (errlen bytes, always NUL-terminated) and returns MC_ECORRUPT,
   * MC_EFOREIGN, MC_EIO, MC_ENOMEM or MC_EVERSION, with *out set to NULL.
   * On success *out is the store, freed by close.  `api`/`host` stay valid
   * until close returns.
   *
   * Which refusal: a store decides by what it finds, never by guessing
   * what happened.
   *   MC_EFOREIGN  needs evidence that the data is someone else's: where
   *                the store keeps its data there is a sound file or
   *                database of a format that is not this store's: one
   *                without the store's format marker (a JSON document
   *                without json.so's "format", an SQLite database without
   *                sqlite.so's meta table, a LevelDB database without
   *                leveldb.so's marker file) or with another program's.
   *   MC_EVERSION  the store's own marker, naming a newer format version.
   *   MC_ECORRUPT  everything else that cannot be read as the store's
   *                data: its own files (by name) cut short, overwritten,
   *                zeroed, no longer parseable as anything, or parseable
   *                but inconsistent (a hash, a link, a count, a missing
   *                table or file its marker promises).  Damage is the
   *                default: a file that is no format at all is not
   *                evidence of another owner.
   * Files the store does not create (mchost's LOCK and mchost.json live
   * in the same directory) are neither: the store ignores them.
   * "As it was" covers every file; the one exception a store may claim is
   * a storage library's own diagnostic log that it cannot stop writing on
   * open (LevelDB's LOG), which holds no chain data.  mc-store-check
   * (minichain/store_check.h) checks all of this.
   */
  int (*open)(const mc_host_api *api, mc_host *host, const char *dir,
              mc_store **out, char *err, size_t errlen);

  /* Closes and frees the store.  NULL is a no-op. */
  void (*close)(mc_store *s);

  /* Height and hash of the newest block; MC_ENOTFOUND if the store is empty. */
  int (*head)(mc_store *s, uint64_t *height, uint8_t hash[MC_HASH_LEN]);

  /*
   * Appends b (with b->cert) and sets each account in changes[0..n) to the
   * given balance and nonce, atomically and durably.  The host passes each
   * account changed by b once.  Returns 0, MC_ELINK, MC_EIO or MC_ENOMEM.
   */
  int (*append)(mc_store *s, const mc_block *b, const mc_account *changes,
                size_t n);

  /* Reads the block at `height`.  Free *out with free_block.
   * MC_ENOTFOUND if there is none. */
  int (*get_block)(mc_store *s, uint64_t height, mc_block **out);

  /* Reads the block with hash `hash`.  Free with free_block. */
  int (*get_block_by_hash)(mc_store *s, const uint8_t hash[MC_HASH_LEN],
                           mc_block **out);

  /* Frees a block this store returned.  NULL is a no-op. */
  void (*free_block)(mc_store *s, mc_block *b);

  /* Reads an account; MC_ENOTFOUND if it was never in a state change
   * (the host treats that as balance 0, nonce 0). */
  int (*get_account)(mc_store *s, const uint8_t pubkey[MC_PUBKEY_LEN],
                     mc_account *out);

  /* Calls cb for every stored account, in any order.  Returns 0, the
   * callback's nonzero value, or an error. */
  int (*each_account)(mc_store *s, mc_account_cb cb, void *arg);

  /* Finds a committed transaction: its block height and index there.
   * MC_ENOTFOUND if it is not in the chain. */
  int (*find_tx)(mc_store *s, const uint8_t txid[MC_HASH_LEN],
                 uint64_t *height, uint32_t *index);
} mc_store_vtable;

/* The prefix of the vtable that every ABI 1.x store plugin provides. */
#define MC_STORE_VTABLE_MIN_SIZE                                               \
  (offsetof(mc_store_vtable, find_tx) +                                        \
   sizeof(((mc_store_vtable *)0)->find_tx))

#ifdef __cplusplus
}
#endif

#endif /* MINICHAIN_STORE_H */
