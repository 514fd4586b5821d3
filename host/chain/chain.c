/*
 * chain.c - the committed chain: opening a store against a genesis,
 * building, validating and committing blocks.
 *
 * The chain keeps the head header and the LtHash accumulator of all
 * accounts in memory, so a block's state root costs O(accounts it
 * changes).  On open the accumulator is rebuilt from the store's accounts
 * and must give the head's state root: that is how a data directory whose
 * accounts were edited or half written is caught before the node runs.
 *
 * Transaction ids are derived data: validation recomputes them from the
 * transaction contents rather than trusting the caller's copy, so tx_root
 * always commits to what the block really carries.
 */
#include "chain/chain.h"

#include <assert.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/codec.h"
#include "chain/crypto.h"
#include "chain/state.h"
#include "minichain/error.h"

struct mc_chain {
  const mc_genesis *g;
  const mc_store_vtable *vt;
  mc_store *s;
  mc_lthash acc; /* every committed account */
  mc_block_header head;
  uint8_t head_hash[MC_HASH_LEN];
  mc_verify_many_fn verify_many; /* NULL: one signature after another */
  void *verify_ctx;
  /* The last block that passed mc_chain_validate, and a digest of its
   * signatures: committing that very block does not check them again. */
  int vetted;
  uint8_t vetted_hash[MC_HASH_LEN], vetted_sigs[MC_HASH_LEN];
};

/* BLAKE2b-256 of the block's transfer signatures in order: with the block
 * hash (which covers every other field of every transfer through the
 * transaction root) it names the block's exact contents. */
static void sigs_digest(const mc_block *b, uint8_t out[MC_HASH_LEN]) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, MC_HASH_LEN);
  for (uint32_t i = 0; i < b->header.tx_count; i++)
    crypto_generichash_update(&st, b->txs[i].sig, MC_SIG_LEN);
  crypto_generichash_final(&st, out, MC_HASH_LEN);
}

static int was_vetted(const mc_chain *c, const mc_block *b) {
  uint8_t d[MC_HASH_LEN];
  if (!c->vetted || memcmp(b->hash, c->vetted_hash, MC_HASH_LEN) != 0)
    return 0;
  sigs_digest(b, d);
  return memcmp(d, c->vetted_sigs, MC_HASH_LEN) == 0;
}

void mc_chain_set_verify_many(mc_chain *c, mc_verify_many_fn fn, void *ctx) {
  c->verify_many = fn;
  c->verify_ctx = ctx;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (err == NULL || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* ---- opening ---- */

static int append_genesis(mc_chain *c, char *err, size_t errlen) {
  mc_block *b0 = NULL;
  int rc = mc_genesis_block(c->g, &b0);
  if (rc != 0) {
    set_err(err, errlen, "cannot build the genesis block: %s", mc_strerror(rc));
    return rc;
  }
  rc = c->vt->append(c->s, b0, c->g->alloc, c->g->alloc_count);
  mc_block_free(b0);
  if (rc != 0)
    set_err(err, errlen, "cannot store the genesis block: %s", mc_strerror(rc));
  return rc;
}

/* Block 0 must be exactly the block g makes: its prev_hash names the chain,
 * the rest is checked so that a damaged block 0 is not taken as ours. */
/* Compares encodings, not memory: a header's padding bytes are whatever
 * the store that made it left there. */
static int headers_equal(const mc_block_header *a, const mc_block_header *b) {
  uint8_t ha[MC_HASH_LEN], hb[MC_HASH_LEN];
  mc_header_hash(a, ha);
  mc_header_hash(b, hb);
  return memcmp(ha, hb, MC_HASH_LEN) == 0;
}

static int check_block0(mc_chain *c, char *err, size_t errlen) {
  mc_block *stored = NULL, *want = NULL;
  int rc = c->vt->get_block(c->s, 0, &stored);
  if (rc != 0) {
    set_err(err, errlen, "cannot read block 0: %s", mc_strerror(rc));
    return rc == MC_ENOTFOUND ? MC_ECORRUPT : rc;
  }
  if (memcmp(stored->header.prev_hash, c->g->hash, MC_HASH_LEN) != 0) {
    char here[2 * MC_HASH_LEN + 1], expected[2 * MC_HASH_LEN + 1];
    mc_hex_encode(stored->header.prev_hash, MC_HASH_LEN, here);
    mc_hex_encode(c->g->hash, MC_HASH_LEN, expected);
    set_err(err, errlen,
            "data directory holds another chain (genesis %s here, %s expected)",
            here, expected);
    rc = MC_EFOREIGN;
  } else if ((rc = mc_genesis_block(c->g, &want)) != 0) {
    set_err(err, errlen, "cannot build the genesis block: %s", mc_strerror(rc));
  } else if (!headers_equal(&stored->header, &want->header)) {
    set_err(err, errlen, "block 0 in the store differs from the genesis block");
    rc = MC_ECORRUPT;
  }
  mc_block_free(want);
  c->vt->free_block(c->s, stored);
  return rc;
}

static int load_head(mc_chain *c, char *err, size_t errlen) {
  uint64_t height;
  uint8_t hash[MC_HASH_LEN];
  mc_block *b = NULL;
  int rc = c->vt->head(c->s, &height, hash);
  if (rc == 0)
    rc = c->vt->get_block(c->s, height, &b);
  if (rc != 0) {
    set_err(err, errlen, "cannot read the head block: %s", mc_strerror(rc));
    return rc == MC_ENOTFOUND ? MC_ECORRUPT : rc;
  }
  c->head = b->header;
  mc_header_hash(&c->head, c->head_hash);
  c->vt->free_block(c->s, b);
  if (c->head.height != height || memcmp(c->head_hash, hash, MC_HASH_LEN)) {
    set_err(err, errlen, "head block %llu does not match the store's head",
            (unsigned long long)height);
    return MC_ECORRUPT;
  }
  return 0;
}

static int add_account(void *arg, const mc_account *a) {
  mc_lthash_add(arg, a);
  return 0;
}

static int rebuild_accumulator(mc_chain *c, char *err, size_t errlen) {
  uint8_t root[MC_HASH_LEN];
  mc_lthash_init(&c->acc);
  int rc = c->vt->each_account(c->s, add_account, &c->acc);
  if (rc != 0) {
    set_err(err, errlen, "cannot read the accounts: %s", mc_strerror(rc));
    return rc;
  }
  mc_lthash_root(&c->acc, root);
  if (memcmp(root, c->head.state_root, MC_HASH_LEN) != 0) {
    set_err(err, errlen,
            "stored accounts do not match the state root of block %llu",
            (unsigned long long)c->head.height);
    return MC_ECORRUPT;
  }
  return 0;
}

int mc_chain_open(mc_chain **out, const mc_genesis *g,
                  const mc_store_vtable *vt, mc_store *s, char *err,
                  size_t errlen) {
  uint64_t height;
  uint8_t hash[MC_HASH_LEN];
  *out = NULL;
  mc_chain *c = calloc(1, sizeof *c);
  if (c == NULL) {
    set_err(err, errlen, "out of memory");
    return MC_ENOMEM;
  }
  c->g = g;
  c->vt = vt;
  c->s = s;
  int rc = vt->head(s, &height, hash);
  if (rc == MC_ENOTFOUND)
    rc = append_genesis(c, err, errlen);
  else if (rc != 0)
    set_err(err, errlen, "cannot read the store's head: %s", mc_strerror(rc));
  if (rc == 0)
    rc = check_block0(c, err, errlen);
  if (rc == 0)
    rc = load_head(c, err, errlen);
  if (rc == 0)
    rc = rebuild_accumulator(c, err, errlen);
  if (rc != 0) {
    free(c);
    return rc;
  }
  *out = c;
  return 0;
}

void mc_chain_close(mc_chain *c) { free(c); }

/* ---- accessors ---- */

const mc_block_header *mc_chain_head(const mc_chain *c) { return &c->head; }
const uint8_t *mc_chain_head_hash(const mc_chain *c) { return c->head_hash; }
uint64_t mc_chain_height(const mc_chain *c) { return c->head.height; }
const mc_genesis *mc_chain_genesis(const mc_chain *c) { return c->g; }

int mc_chain_account(mc_chain *c, const uint8_t pk[MC_PUBKEY_LEN],
                     mc_account *out) {
  int rc = c->vt->get_account(c->s, pk, out);
  if (rc == MC_ENOTFOUND) {
    memset(out, 0, sizeof *out);
    rc = 0;
  }
  if (rc == 0)
    memcpy(out->pubkey, pk, MC_PUBKEY_LEN);
  return rc;
}

int mc_chain_account_get(void *ctx, const uint8_t pk[MC_PUBKEY_LEN],
                         mc_account *out) {
  return mc_chain_account(ctx, pk, out);
}

/* ---- building ---- */

static uint64_t next_timestamp(const mc_chain *c, uint64_t now_ms) {
  uint64_t after_parent =
      c->head.timestamp_ms == UINT64_MAX ? UINT64_MAX : c->head.timestamp_ms + 1;
  return now_ms > after_parent ? now_ms : after_parent;
}

/* tx_root over ids recomputed from the transactions' contents. */
static int compute_tx_root(const mc_block *b, uint8_t root[MC_HASH_LEN]) {
  uint32_t n = b->header.tx_count;
  uint8_t(*ids)[MC_HASH_LEN] = NULL;
  if (n > 0 && (ids = malloc((size_t)n * MC_HASH_LEN)) == NULL)
    return MC_ENOMEM;
  for (uint32_t i = 0; i < n; i++) {
    mc_tx t = b->txs[i];
    mc_tx_compute_id(&t);
    memcpy(ids[i], t.id, MC_HASH_LEN);
  }
  mc_merkle_root((const uint8_t(*)[MC_HASH_LEN])ids, n, root);
  free(ids);
  return 0;
}

static void state_root_after(const mc_chain *c, const mc_overlay *o,
                             mc_lthash *acc, uint8_t root[MC_HASH_LEN]) {
  *acc = c->acc;
  mc_overlay_update_lthash(o, acc);
  mc_lthash_root(acc, root);
}

/* Picks the candidates that apply in order, at most max_txs_per_block.
 * Signatures are not checked here: candidates come from the mempool,
 * which admitted each only after verifying it. */
static int select_txs(mc_chain *c, mc_overlay *o, const mc_tx *const *cands,
                      size_t ncands, const mc_tx **picked, uint32_t *npicked) {
  uint32_t n = 0;
  for (size_t i = 0; i < ncands && n < c->g->max_txs_per_block; i++) {
    int rc = mc_overlay_apply(o, cands[i], c->g->chain_id);
    if (rc == MC_ENOMEM)
      return rc;
    if (rc == 0)
      picked[n++] = cands[i];
  }
  *npicked = n;
  return 0;
}

static int assemble(mc_chain *c, const mc_overlay *o, const mc_tx **picked,
                    uint32_t n, uint64_t now_ms, const uint8_t sk[64],
                    mc_block **out) {
  mc_lthash acc;
  mc_block *b = mc_block_new(n);
  if (b == NULL)
    return MC_ENOMEM;
  for (uint32_t i = 0; i < n; i++) {
    b->txs[i] = *picked[i];
    mc_tx_compute_id(&b->txs[i]);
  }
  b->header.height = c->head.height + 1;
  memcpy(b->header.prev_hash, c->head_hash, MC_HASH_LEN);
  b->header.timestamp_ms = next_timestamp(c, now_ms);
  b->header.tx_count = n;
  memcpy(b->header.proposer, sk + MC_SEED_LEN, MC_PUBKEY_LEN);
  state_root_after(c, o, &acc, b->header.state_root);
  int rc = compute_tx_root(b, b->header.tx_root);
  if (rc != 0) {
    mc_block_free(b);
    return rc;
  }
  mc_block_sign(b, sk);
  *out = b;
  return 0;
}

int mc_chain_build(mc_chain *c, const mc_tx *const *cands, size_t ncands,
                   uint64_t now_ms, const uint8_t sk[64], mc_block **out) {
  size_t cap = ncands < c->g->max_txs_per_block ? ncands : c->g->max_txs_per_block;
  const mc_tx **picked = malloc((cap ? cap : 1) * sizeof *picked);
  mc_overlay *o = mc_overlay_new(mc_chain_account_get, c);
  uint32_t n = 0;
  int rc = picked && o ? 0 : MC_ENOMEM;
  if (rc == 0)
    rc = select_txs(c, o, cands, ncands, picked, &n);
  if (rc == 0)
    rc = assemble(c, o, picked, n, now_ms, sk, out);
  mc_overlay_free(o);
  free(picked);
  return rc;
}

/* ---- validation ---- */

static int check_link(const mc_chain *c, const mc_block_header *h) {
  if (h->height != c->head.height + 1 ||
      memcmp(h->prev_hash, c->head_hash, MC_HASH_LEN) != 0)
    return MC_ELINK;
  return 0;
}

/* Timestamps strictly increase, as mc_chain_build makes them (parent + 1
 * at least): a block stamped with its parent's time is refused too.
 * now_ms is NULL for a committed block, which no local clock judges (see
 * MC_MAX_CLOCK_DRIFT_MS); a proposal may not run too far ahead of it. */
static int check_time(const mc_chain *c, const mc_block_header *h,
                      const uint64_t *now_ms) {
  if (h->timestamp_ms <= c->head.timestamp_ms)
    return MC_ETIME;
  if (now_ms == NULL)
    return 0;
  uint64_t limit = *now_ms > UINT64_MAX - MC_MAX_CLOCK_DRIFT_MS
                       ? UINT64_MAX
                       : *now_ms + MC_MAX_CLOCK_DRIFT_MS;
  return h->timestamp_ms > limit ? MC_ETIME : 0;
}

static int check_header(const mc_chain *c, const mc_block *b,
                        const uint64_t *now_ms) {
  uint8_t hash[MC_HASH_LEN];
  uint32_t idx;
  int rc = check_link(c, &b->header);
  if (rc == 0)
    rc = check_time(c, &b->header, now_ms);
  if (rc == 0 && b->header.tx_count > c->g->max_txs_per_block)
    rc = MC_ETOOBIG;
  if (rc == 0 && !mc_genesis_validator_index(c->g, b->header.proposer, &idx))
    rc = MC_EPROPOSER;
  if (rc != 0)
    return rc;
  mc_header_hash(&b->header, hash);
  if (memcmp(hash, b->hash, MC_HASH_LEN) != 0)
    return MC_ESIG;
  return mc_block_verify_sig(b);
}

/* Sets bad[i] for each transfer whose signature fails, checking at once
 * (on the verifier, when one is set) all those sig_known does not vouch
 * for. */
static int check_sigs(mc_chain *c, const mc_block *b, mc_sig_known_fn sig_known,
                      void *ctx, int *bad) {
  uint32_t n = b->header.tx_count;
  mc_tx *need = malloc(n * sizeof *need); /* copies, their ids derived */
  const mc_tx **ptrs = malloc(n * sizeof *ptrs);
  uint32_t *at = malloc(n * sizeof *at);
  int *res = malloc(n * sizeof *res);
  int rc = need && ptrs && at && res ? 0 : MC_ENOMEM;
  size_t k = 0;
  for (uint32_t i = 0; rc == 0 && i < n; i++) {
    need[k] = b->txs[i];
    mc_tx_compute_id(&need[k]);
    if (!(sig_known && sig_known(ctx, &need[k]))) {
      ptrs[k] = &need[k];
      at[k++] = i;
    }
  }
  if (rc == 0 && c->verify_many != NULL) {
    c->verify_many(c->verify_ctx, ptrs, k, res);
  } else if (rc == 0) {
    for (size_t j = 0; j < k; j++)
      res[j] = mc_tx_verify(ptrs[j]);
  }
  for (size_t j = 0; rc == 0 && j < k; j++)
    bad[at[j]] = res[j] != 0;
  free(need);
  free(ptrs);
  free(at);
  free(res);
  return rc;
}

/* Applies the transfers in order; the first that fails (its signature or
 * a state rule) decides the result, as if each were checked in turn. */
static int apply_txs(mc_chain *c, const mc_block *b, mc_overlay *o,
                     mc_sig_known_fn sig_known, void *ctx) {
  uint32_t n = b->header.tx_count;
  if (n == 0)
    return 0;
  int *bad = calloc(n, sizeof *bad);
  if (bad == NULL)
    return MC_ENOMEM;
  int rc = was_vetted(c, b) ? 0 : check_sigs(c, b, sig_known, ctx, bad);
  for (uint32_t i = 0; rc == 0 && i < n; i++)
    rc = bad[i] ? MC_ESIG : mc_overlay_apply(o, &b->txs[i], c->g->chain_id);
  free(bad);
  return rc;
}

/* Everything validate checks (now_ms NULL: no clock, see check_time); on
 * success hands back the block's overlay and the accumulator after it. */
static int check_block(mc_chain *c, const mc_block *b, const uint64_t *now_ms,
                       mc_sig_known_fn sig_known, void *ctx,
                       mc_overlay **ov_out, mc_lthash *acc_out) {
  uint8_t root[MC_HASH_LEN];
  if (b->header.tx_count > 0 && b->txs == NULL)
    return MC_EINVAL;
  int rc = check_header(c, b, now_ms);
  if (rc != 0)
    return rc;
  mc_overlay *o = mc_overlay_new(mc_chain_account_get, c);
  if (o == NULL)
    return MC_ENOMEM;
  rc = apply_txs(c, b, o, sig_known, ctx);
  if (rc == 0)
    rc = compute_tx_root(b, root);
  if (rc == 0 && memcmp(root, b->header.tx_root, MC_HASH_LEN) != 0)
    rc = MC_ETXROOT;
  if (rc == 0) {
    state_root_after(c, o, acc_out, root);
    if (memcmp(root, b->header.state_root, MC_HASH_LEN) != 0)
      rc = MC_ESTATEROOT;
  }
  if (rc != 0) {
    mc_overlay_free(o);
    return rc;
  }
  *ov_out = o;
  return 0;
}

int mc_chain_validate(mc_chain *c, const mc_block *b, uint64_t now_ms,
                      mc_sig_known_fn sig_known, void *ctx) {
  mc_overlay *o = NULL;
  mc_lthash acc;
  int rc = check_block(c, b, &now_ms, sig_known, ctx, &o, &acc);
  mc_overlay_free(o);
  if (rc == 0) {
    c->vetted = 1;
    memcpy(c->vetted_hash, b->hash, MC_HASH_LEN);
    sigs_digest(b, c->vetted_sigs);
  }
  return rc;
}

/* ---- committing ---- */

/* 1 if every transaction's id is the one its contents give. */
static int ids_current(const mc_block *b) {
  for (uint32_t i = 0; i < b->header.tx_count; i++) {
    mc_tx t = b->txs[i];
    mc_tx_compute_id(&t);
    if (memcmp(t.id, b->txs[i].id, MC_HASH_LEN) != 0)
      return 0;
  }
  return 1;
}

/* The store indexes transactions by id, so it must see the derived ids
 * validation used, not stale ones a caller left in the struct. */
static int fresh_txs(const mc_block *b, mc_tx **fixed) {
  *fixed = NULL;
  if (ids_current(b))
    return 0;
  *fixed = malloc((size_t)b->header.tx_count * sizeof **fixed);
  if (*fixed == NULL)
    return MC_ENOMEM;
  for (uint32_t i = 0; i < b->header.tx_count; i++) {
    (*fixed)[i] = b->txs[i];
    mc_tx_compute_id(&(*fixed)[i]);
  }
  return 0;
}

static int store_append(mc_chain *c, const mc_block *b, const uint8_t *cert,
                        size_t cert_len, const mc_overlay *o) {
  size_t n = mc_overlay_count(o);
  mc_tx *fixed = NULL;
  mc_account *changes = malloc((n ? n : 1) * sizeof *changes);
  if (changes == NULL || fresh_txs(b, &fixed) != 0) {
    free(changes);
    return MC_ENOMEM;
  }
  for (size_t i = 0; i < n; i++)
    mc_overlay_entry(o, i, &changes[i], NULL);
  /* The store copies what it keeps, so a shallow copy carrying the
   * certificate given here is enough. */
  mc_block shallow = *b;
  shallow.cert = cert_len ? (uint8_t *)cert : NULL;
  shallow.cert_len = cert_len;
  if (fixed != NULL)
    shallow.txs = fixed;
  int rc = c->vt->append(c->s, &shallow, changes, n);
  free(fixed);
  free(changes);
  return rc;
}

int mc_chain_commit(mc_chain *c, const mc_block *b, const uint8_t *cert,
                    size_t cert_len, mc_sig_known_fn sig_known, void *ctx) {
  mc_overlay *o = NULL;
  mc_lthash acc;
  if (cert_len > MC_CERT_MAX_BYTES)
    return MC_ETOOBIG;
  if (cert_len > 0 && cert == NULL)
    return MC_EINVAL;
  int rc = check_block(c, b, NULL, sig_known, ctx, &o, &acc);
  if (rc == 0)
    rc = store_append(c, b, cert, cert_len, o);
  mc_overlay_free(o);
  if (rc != 0)
    return rc;
  c->acc = acc;
  c->head = b->header;
  memcpy(c->head_hash, b->hash, MC_HASH_LEN);
  c->vetted = 0;
  return 0;
}

/* ---- reading ---- */

/* Hands the caller a copy it frees with mc_block_free, never the store's
 * own block (which only the store's free_block may free). */
static int own_copy(mc_chain *c, int rc, mc_block *stored, mc_block **out) {
  *out = NULL;
  if (rc != 0)
    return rc;
  *out = mc_block_dup(stored);
  c->vt->free_block(c->s, stored);
  return *out ? 0 : MC_ENOMEM;
}

int mc_chain_get_block(mc_chain *c, uint64_t height, mc_block **out) {
  mc_block *b = NULL;
  int rc = c->vt->get_block(c->s, height, &b);
  return own_copy(c, rc, b, out);
}

int mc_chain_get_block_by_hash(mc_chain *c, const uint8_t hash[MC_HASH_LEN],
                               mc_block **out) {
  mc_block *b = NULL;
  int rc = c->vt->get_block_by_hash(c->s, hash, &b);
  return own_copy(c, rc, b, out);
}

int mc_chain_find_tx(mc_chain *c, const uint8_t txid[MC_HASH_LEN],
                     uint64_t *height, uint32_t *index) {
  return c->vt->find_tx(c->s, txid, height, index);
}
