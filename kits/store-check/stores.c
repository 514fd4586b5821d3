/*
 * stores.c - driving the store under test: open, append, close, and the
 * comparisons that say a store holds exactly a prefix of the chain.
 *
 * Blocks are compared field by field (struct padding is not part of a
 * block), and accounts both through get_account and each_account, so a
 * store whose index and whose walk disagree is caught.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "store_host.h"

static void close_cb(void *p) { ck_vt->close(p); }

mc_store *open_ok(const char *dir) {
  char err[1024] = "";
  mc_store *s = NULL;
  int rc = ck_vt->open(&sh_api, sh_host(), dir, &s, err, sizeof err);
  if (rc != 0)
    CK_FAIL("open %s: %s: %s", dir, mc_err_name(rc), err);
  if (s == NULL)
    CK_FAIL("open %s returned 0 with *out NULL", dir);
  ck_defer(close_cb, s);
  return s;
}

void store_close(mc_store *s) { ck_release(s); }

void append_ok(mc_store *s, const chain *c, size_t from, size_t to) {
  for (size_t h = from; h < to; h++) {
    int rc = ck_vt->append(s, c->b[h], c->chg[h], c->nchg[h]);
    if (rc != 0)
      CK_FAIL("append of height %zu: %s", h, mc_err_name(rc));
  }
}

#define SAME_BYTES(a, b, n, what)                                              \
  do {                                                                         \
    if (memcmp((a), (b), (n)) != 0)                                            \
      CK_FAIL("%s differs from what was appended", what);                      \
  } while (0)

static void assert_tx_equal(const mc_tx *a, const mc_tx *b) {
  if (strcmp(a->chain_id, b->chain_id) != 0)
    CK_FAIL("tx chain_id \"%s\", appended \"%s\"", a->chain_id, b->chain_id);
  SAME_BYTES(a->from, b->from, MC_PUBKEY_LEN, "tx from");
  SAME_BYTES(a->to, b->to, MC_PUBKEY_LEN, "tx to");
  CK_EQ_U(a->amount, b->amount);
  CK_EQ_U(a->nonce, b->nonce);
  SAME_BYTES(a->sig, b->sig, MC_SIG_LEN, "tx sig");
  SAME_BYTES(a->id, b->id, MC_HASH_LEN, "tx id");
}

void assert_block_equal(const mc_block *a, const mc_block *b) {
  const mc_block_header *x = &a->header, *y = &b->header;
  CK_EQ_U(x->height, y->height);
  SAME_BYTES(x->prev_hash, y->prev_hash, MC_HASH_LEN, "prev_hash");
  CK_EQ_U(x->timestamp_ms, y->timestamp_ms);
  SAME_BYTES(x->tx_root, y->tx_root, MC_HASH_LEN, "tx_root");
  SAME_BYTES(x->state_root, y->state_root, MC_HASH_LEN, "state_root");
  CK_EQ_U(x->tx_count, y->tx_count);
  SAME_BYTES(x->proposer, y->proposer, MC_PUBKEY_LEN, "proposer");
  SAME_BYTES(a->signature, b->signature, MC_SIG_LEN, "signature");
  SAME_BYTES(a->hash, b->hash, MC_HASH_LEN, "block hash");
  if (x->tx_count > 0 && a->txs == NULL)
    CK_FAIL("block %llu: tx_count %u but txs is NULL",
            (unsigned long long)x->height, x->tx_count);
  for (uint32_t i = 0; i < x->tx_count; i++)
    assert_tx_equal(&a->txs[i], &b->txs[i]);
  CK_EQ_U(a->cert_len, b->cert_len);
  if (a->cert_len)
    SAME_BYTES(a->cert, b->cert, a->cert_len, "certificate");
}

void assert_account_equal(const mc_account *a, const mc_account *b) {
  SAME_BYTES(a->pubkey, b->pubkey, MC_PUBKEY_LEN, "account key");
  CK_EQ_U(a->balance, b->balance);
  CK_EQ_U(a->nonce, b->nonce);
}

typedef struct walk {
  const chain *c;
  size_t h;
  int seen[NKEYS];
  int stranger;
} walk;

/* Checks are made after the walk: never longjmp out of a store. */
static int note_account(void *arg, const mc_account *a) {
  walk *w = arg;
  for (int k = 0; k < NKEYS; k++)
    if (memcmp(a->pubkey, w->c->pk[k], MC_PUBKEY_LEN) == 0) {
      if (a->balance == w->c->state[w->h][k].balance &&
          a->nonce == w->c->state[w->h][k].nonce)
        w->seen[k]++;
      else
        w->seen[k] += 100; /* counted as wrong below */
      return 0;
    }
  w->stranger++;
  return 0;
}

static void assert_accounts(mc_store *s, const chain *c, size_t h) {
  walk w = {.c = c, .h = h};
  CK_RC(ck_vt->each_account(s, note_account, &w), 0);
  if (w.stranger)
    CK_FAIL("each_account gave %d account(s) never in a change", w.stranger);
  for (int k = 0; k < NKEYS; k++) {
    mc_account a;
    int rc = ck_vt->get_account(s, c->pk[k], &a);
    if (w.seen[k] >= 100)
      CK_FAIL("each_account gave account %d with the wrong balance or nonce "
              "after height %zu", k, h);
    if (w.seen[k] != c->present[h][k])
      CK_FAIL("each_account gave account %d %d times after height %zu, "
              "expected %d", k, w.seen[k], h, c->present[h][k]);
    if (!c->present[h][k]) {
      if (rc != MC_ENOTFOUND)
        CK_FAIL("get_account of an account not yet in a change (height "
                "%zu) gave %s, expected ENOTFOUND", h, mc_err_name(rc));
      continue;
    }
    if (rc != 0)
      CK_FAIL("get_account %d at height %zu: %s", k, h, mc_err_name(rc));
    assert_account_equal(&a, &c->state[h][k]);
  }
}

static void free_block_cb(void *p);
static mc_store *g_block_owner;
static void free_block_cb(void *p) { ck_vt->free_block(g_block_owner, p); }

void assert_holds(mc_store *s, const chain *c, size_t h) {
  uint64_t head;
  uint8_t hash[MC_HASH_LEN];
  CK_RC(ck_vt->head(s, &head, hash), 0);
  CK_EQ_U(head, h);
  SAME_BYTES(hash, c->b[h]->hash, MC_HASH_LEN, "the head's hash");
  g_block_owner = s;
  for (size_t i = 0; i <= h; i++) {
    mc_block *b = NULL;
    int rc = ck_vt->get_block(s, i, &b);
    if (rc != 0)
      CK_FAIL("get_block %zu (head %zu): %s", i, h, mc_err_name(rc));
    ck_defer(free_block_cb, b);
    assert_block_equal(b, c->b[i]);
    ck_release(b);
  }
  mc_block *none = NULL;
  CK_RC(ck_vt->get_block(s, h + 1, &none), MC_ENOTFOUND);
  assert_accounts(s, c, h);
}

void assert_open_refused(const char *dir, int want, const char *says,
                         const char *what) {
  snapshot *before = snapshot_take(dir);
  char err[1024] = "";
  mc_store *s = (mc_store *)&err; /* open must set it to NULL */
  int rc = ck_vt->open(&sh_api, sh_host(), dir, &s, err, sizeof err);
  if (rc == 0) {
    ck_defer(close_cb, s);
    CK_FAIL("%s: open succeeded, expected %s", what, mc_err_name(want));
  }
  if (rc != want)
    CK_FAIL("%s: open gave %s (\"%s\"), expected %s", what, mc_err_name(rc),
            err, mc_err_name(want));
  if (s != NULL)
    CK_FAIL("%s: open refused but left *out non-NULL", what);
  if (err[0] == '\0' || memchr(err, '\0', sizeof err) == NULL)
    CK_FAIL("%s: open refused without a reason in err", what);
  if (strchr(err, '\n') != NULL)
    CK_FAIL("%s: the reason is more than one line: \"%s\"", what, err);
  if (says != NULL && strstr(err, says) == NULL)
    CK_FAIL("%s: the reason \"%s\" does not mention \"%s\"", what, err, says);
  ck_note("refused %s: %s: %s", what, mc_err_name(rc), err);
  snapshot_same(before, snapshot_take(dir), what);
}
