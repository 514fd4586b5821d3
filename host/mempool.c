/*
 * mempool.c - transfers waiting to be committed (contract in mempool.h).
 *
 * Layout:
 *   - every pooled transfer is one heap object (pool_tx), so pointers handed
 *     out by mc_mempool_find and mc_mempool_ready stay put while the pool
 *     grows;
 *   - a hash table by id finds any of them in O(1);
 *   - a table by sender public key finds that sender's transfers: one array
 *     sorted by nonce whose first `nready` entries are the ready ones
 *     (nonces committed+1, +2, ...), the rest queued; commits take from its
 *     front, so it has room at both ends (a sender may hold 50,000);
 *   - ready transfers are also on one list in the order they became ready,
 *     which is the order block building takes them: a sender's transfers
 *     become ready in nonce order, so any prefix of the list applies;
 *   - queued transfers are on another list, in the order they became
 *     queued, each stamped with that time, so expiry takes them from its
 *     head without looking at the rest;
 *   - senders with queued transfers sit in buckets by how many they have,
 *     so the eviction victim (highest nonce of the sender with the most
 *     queued) is found without scanning the pool;
 *   - a ring of recent rejections, indexed by id, answers "why was it
 *     refused" without growing.  A rejection is filed under the id only
 *     when it holds for every copy with that id (the id does not cover the
 *     signature; see mempool.h); when it came from a copy whose signature
 *     verified, that signature is kept so that the same bytes are not
 *     verified again;
 *   - a second ring, indexed by SHA-256 of the whole wire form, holds the
 *     copies whose signature failed, so the same bad bytes (a peer's
 *     gossip, a client's retry) cost one verification, and are never
 *     held against the id.
 * The tables are keymap.h's (SipHash under a random key: ids and public
 * keys are chosen by whoever signs).
 */
#include "mempool.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain/codec.h"
#include "chain/crypto.h"
#include "keymap.h"
#include "minichain/error.h"

/* ---- pool objects ---- */

typedef struct sender sender;

/* queued_at of a ready transfer (no clock reads this far). */
#define READY UINT64_MAX

typedef struct pool_tx {
  mc_tx tx;
  sender *s;
  struct pool_tx *prev, *next; /* the ready list or the queued list */
  uint64_t queued_at;          /* when it became queued; READY if ready */
} pool_tx;

typedef struct tx_list {
  pool_tx *head, *tail;
} tx_list;

struct sender {
  uint8_t pk[MC_PUBKEY_LEN];
  pool_tx **base; /* cap slots, of which txs[0, len) are in use */
  pool_tx **txs;  /* sorted by nonce; [0, nready) ready, the rest queued */
  size_t len, cap, nready;
  uint64_t spent;         /* sum of the ready amounts */
  size_t bucket;          /* queued count it is filed under; 0: unfiled */
  sender *bprev, *bnext;  /* bucket list */
  uint64_t recheck_epoch; /* last commit that re-checked it */
};

typedef struct rejection {
  uint8_t id[MC_HASH_LEN];
  int reason;
  int live;
  int sig_ok;              /* sig below was verified for this id */
  uint8_t sig[MC_SIG_LEN];
} rejection;

typedef struct bad_copy {
  uint8_t wire_hash[MC_HASH_LEN];
  int live;
} bad_copy;

struct mc_mempool {
  mc_mempool_limits lim;
  char chain_id[MC_CHAIN_ID_MAX + 1];
  mc_account_get_fn get;
  void *ctx;
  mc_keymap by_id;     /* id -> pool_tx */
  mc_keymap by_sender; /* pk -> sender */
  tx_list ready;       /* in the order they became ready */
  tx_list queued;      /* in the order they became queued */
  size_t size, nready;
  mc_mempool_clock_fn clock;
  void *clock_ctx;
  sender **buckets; /* [1..max_per_sender]: senders by queued count */
  size_t top_bucket; /* no bucket above it is non-empty */
  rejection *rej;   /* ring of MC_MEMPOOL_REJECTIONS_KEPT */
  size_t rej_next;
  mc_keymap by_rej; /* id -> rejection */
  bad_copy *bad;    /* ring of MC_MEMPOOL_BAD_SIGS_KEPT */
  size_t bad_next;
  mc_keymap by_bad; /* wire hash -> bad_copy */
  uint64_t verifies;
  uint64_t epoch;
};

static size_t queued_of(const sender *s) { return s->len - s->nready; }
static int is_ready(const pool_tx *t) { return t->queued_at == READY; }

/* ---- rejection memory ---- */

/* Files reason under id.  The caller vouches that it holds for every copy
 * with this id (see mempool.h).  sig, if not NULL, is a signature verified
 * for this id; one kept from before stays (the id covers every signed
 * field, so a signature good for it once is good for it always). */
static void remember(mc_mempool *mp, const uint8_t id[MC_HASH_LEN], int reason,
                     const uint8_t *sig) {
  assert(reason != 0);
  rejection *r = mc_keymap_get(&mp->by_rej, id);
  if (r == NULL) {
    r = &mp->rej[mp->rej_next];
    if (r->live)
      mc_keymap_del(&mp->by_rej, r->id);
    memcpy(r->id, id, MC_HASH_LEN);
    r->live = 1;
    r->sig_ok = 0;
    mc_keymap_put(&mp->by_rej, r->id, r); /* sized for the ring at creation */
    mp->rej_next = (mp->rej_next + 1) % MC_MEMPOOL_REJECTIONS_KEPT;
  }
  r->reason = reason;
  if (sig != NULL) {
    r->sig_ok = 1;
    memcpy(r->sig, sig, MC_SIG_LEN);
  }
}

/* A transfer admitted after an earlier refusal is no longer "rejected". */
static void forget(mc_mempool *mp, const uint8_t id[MC_HASH_LEN]) {
  rejection *r = mc_keymap_get(&mp->by_rej, id);
  if (r == NULL)
    return;
  mc_keymap_del(&mp->by_rej, r->id);
  r->live = 0;
}

/* ---- signatures ---- */

static void remember_bad(mc_mempool *mp, const uint8_t wire_hash[MC_HASH_LEN]) {
  if (mc_keymap_get(&mp->by_bad, wire_hash) != NULL)
    return;
  bad_copy *b = &mp->bad[mp->bad_next];
  if (b->live)
    mc_keymap_del(&mp->by_bad, b->wire_hash);
  memcpy(b->wire_hash, wire_hash, MC_HASH_LEN);
  b->live = 1;
  mc_keymap_put(&mp->by_bad, b->wire_hash, b); /* sized at creation */
  mp->bad_next = (mp->bad_next + 1) % MC_MEMPOOL_BAD_SIGS_KEPT;
}

/* 1 if these very bytes were verified before for a transfer that left or
 * was refused, so the signature is known good. */
static int sig_known_good(const mc_mempool *mp, const mc_tx *tx) {
  const rejection *r = mc_keymap_get(&mp->by_rej, tx->id);
  return r != NULL && r->sig_ok && memcmp(r->sig, tx->sig, MC_SIG_LEN) == 0;
}

/* 1 if these very bytes failed a verification (ours or the caller's). */
static int sig_known_bad(const mc_mempool *mp, const mc_tx *tx) {
  uint8_t wire_hash[MC_HASH_LEN];
  if (mp->by_bad.count == 0)
    return 0; /* spares the hash while nobody sends bad signatures */
  mc_tx_wire_hash(tx, wire_hash);
  return mc_keymap_get(&mp->by_bad, wire_hash) != NULL;
}

/* 0 if tx->sig is from's signature, else MC_ESIG (and the bytes are
 * remembered as bad).  The one place the pool verifies. */
static int verify_sig(mc_mempool *mp, const mc_tx *tx) {
  mp->verifies++;
  if (mc_tx_verify(tx) == 0)
    return 0;
  uint8_t wire_hash[MC_HASH_LEN];
  mc_tx_wire_hash(tx, wire_hash);
  remember_bad(mp, wire_hash);
  return MC_ESIG;
}

/* ---- queued-count buckets ---- */

static void bucket_unlink(mc_mempool *mp, sender *s) {
  if (s->bucket == 0)
    return;
  if (s->bprev != NULL)
    s->bprev->bnext = s->bnext;
  else
    mp->buckets[s->bucket] = s->bnext;
  if (s->bnext != NULL)
    s->bnext->bprev = s->bprev;
  s->bprev = s->bnext = NULL;
  s->bucket = 0;
}

/* Files s under its current queued count; call after every change. */
static void bucket_update(mc_mempool *mp, sender *s) {
  size_t q = queued_of(s);
  if (s->bucket == q)
    return;
  bucket_unlink(mp, s);
  if (q == 0)
    return;
  assert(q <= mp->lim.max_per_sender);
  s->bucket = q;
  s->bnext = mp->buckets[q];
  if (s->bnext != NULL)
    s->bnext->bprev = s;
  mp->buckets[q] = s;
  if (q > mp->top_bucket)
    mp->top_bucket = q;
}

/* The sender with the most queued transfers, or NULL.  top_bucket only
 * rises by one per admission, so walking it down is O(1) amortised. */
static sender *most_queued(mc_mempool *mp) {
  while (mp->top_bucket > 0 && mp->buckets[mp->top_bucket] == NULL)
    mp->top_bucket--;
  return mp->top_bucket ? mp->buckets[mp->top_bucket] : NULL;
}

/* ---- ready and queued lists ---- */

static void list_append(tx_list *l, pool_tx *t) {
  t->next = NULL;
  t->prev = l->tail;
  if (l->tail != NULL)
    l->tail->next = t;
  else
    l->head = t;
  l->tail = t;
}

static void list_unlink(tx_list *l, pool_tx *t) {
  if (t->prev != NULL)
    t->prev->next = t->next;
  else
    l->head = t->next;
  if (t->next != NULL)
    t->next->prev = t->prev;
  else
    l->tail = t->prev;
  t->prev = t->next = NULL;
}

static uint64_t pool_now(const mc_mempool *mp) {
  uint64_t now = mp->clock(mp->clock_ctx);
  return now == READY ? READY - 1 : now;
}

/* Moves a queued t to the tail of the ready list. */
static void mark_ready(mc_mempool *mp, pool_tx *t) {
  assert(!is_ready(t));
  list_unlink(&mp->queued, t);
  list_append(&mp->ready, t);
  t->queued_at = READY;
  mp->nready++;
}

/* Moves a ready t to the tail of the queued list, stamped now. */
static void mark_queued(mc_mempool *mp, pool_tx *t) {
  assert(is_ready(t));
  list_unlink(&mp->ready, t);
  list_append(&mp->queued, t);
  t->queued_at = pool_now(mp);
  mp->nready--;
}

/* ---- senders ---- */

static sender *sender_get(mc_mempool *mp, const uint8_t pk[MC_PUBKEY_LEN]) {
  return mc_keymap_get(&mp->by_sender, pk);
}

static sender *sender_make(mc_mempool *mp, const uint8_t pk[MC_PUBKEY_LEN]) {
  sender *s = sender_get(mp, pk);
  if (s != NULL)
    return s;
  if (mc_keymap_reserve(&mp->by_sender, 1) != 0)
    return NULL;
  s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  memcpy(s->pk, pk, MC_PUBKEY_LEN);
  mc_keymap_put(&mp->by_sender, s->pk, s);
  return s;
}

/* Frees s once it holds nothing. */
static void sender_gc(mc_mempool *mp, sender *s) {
  if (s->len != 0)
    return;
  bucket_unlink(mp, s);
  mc_keymap_del(&mp->by_sender, s->pk);
  free(s->base);
  free(s);
}

/* Makes room for one more transfer at the end of s->txs.  Commits take
 * transfers from the front (drop_at), leaving room there: once it is half
 * the array, sliding back costs less than the drops that made it, so both
 * ends stay O(1) amortised. */
static int sender_reserve(sender *s) {
  size_t off = (size_t)(s->txs - s->base);
  if (off + s->len < s->cap)
    return 0;
  if (off > 0 && off >= s->cap / 2) {
    memmove(s->base, s->txs, s->len * sizeof *s->txs);
    s->txs = s->base;
    return 0;
  }
  size_t cap = s->cap ? s->cap * 2 : 4;
  pool_tx **base = realloc(s->base, cap * sizeof *base);
  if (base == NULL)
    return MC_ENOMEM;
  s->base = base;
  s->txs = base + off;
  s->cap = cap;
  return 0;
}

/* Index of the first transfer of s with nonce >= nonce. */
static size_t sender_lower_bound(const sender *s, uint64_t nonce) {
  size_t lo = 0, hi = s->len;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->txs[mid]->tx.nonce < nonce)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Removes s->txs[i] from every index and frees it; the sender stays (the
 * caller runs sender_gc when it is done with s).  reason 0: left without
 * being refused (committed). */
static void drop_at(mc_mempool *mp, sender *s, size_t i, int reason) {
  pool_tx *t = s->txs[i];
  if (is_ready(t)) {
    assert(i < s->nready);
    list_unlink(&mp->ready, t);
    mp->nready--;
    s->nready--;
    s->spent -= t->tx.amount;
  } else {
    list_unlink(&mp->queued, t);
  }
  /* Close the hole from the shorter side: a commit drops the front. */
  if (i < s->len / 2) {
    memmove(&s->txs[1], &s->txs[0], i * sizeof *s->txs);
    s->txs++;
  } else {
    memmove(&s->txs[i], &s->txs[i + 1], (s->len - i - 1) * sizeof *s->txs);
  }
  s->len--;
  mc_keymap_del(&mp->by_id, t->tx.id);
  mp->size--;
  if (reason != 0)
    remember(mp, t->tx.id, reason, t->tx.sig); /* verified on admission */
  free(t);
  bucket_update(mp, s);
}

/* Moves queued transfers whose gap has filled to ready, in nonce order;
 * the first one then unaffordable is dropped (MC_EBALANCE), the ones
 * behind it keep waiting for that nonce. */
static void promote(mc_mempool *mp, sender *s, uint64_t balance) {
  assert(s->nready > 0);
  uint64_t next = s->txs[s->nready - 1]->tx.nonce + 1;
  while (s->nready < s->len && s->txs[s->nready]->tx.nonce == next) {
    pool_tx *t = s->txs[s->nready];
    if (t->tx.amount > balance - s->spent) {
      drop_at(mp, s, s->nready, MC_EBALANCE);
      break;
    }
    mark_ready(mp, t);
    s->nready++;
    s->spent += t->tx.amount;
    next++;
  }
  bucket_update(mp, s);
}

/* ---- lifetime ---- */

static uint64_t monotonic_ms(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

mc_mempool *mc_mempool_new(const mc_mempool_limits *lim, const char *chain_id,
                           mc_account_get_fn get, void *ctx) {
  static const mc_mempool_limits defaults = MC_MEMPOOL_DEFAULT_LIMITS;
  if (lim == NULL)
    lim = &defaults;
  size_t idlen = chain_id ? strlen(chain_id) : 0;
  if (get == NULL || idlen == 0 || idlen > MC_CHAIN_ID_MAX ||
      lim->max_total == 0 || lim->max_per_sender == 0 ||
      mc_crypto_init() != 0)
    return NULL;
  mc_mempool *mp = calloc(1, sizeof *mp);
  if (mp == NULL)
    return NULL;
  mp->lim = *lim;
  memcpy(mp->chain_id, chain_id, idlen + 1);
  mp->get = get;
  mp->ctx = ctx;
  mp->clock = monotonic_ms;
  mc_keymap_init(&mp->by_id);
  mc_keymap_init(&mp->by_sender);
  mc_keymap_init(&mp->by_rej);
  mc_keymap_init(&mp->by_bad);
  mp->buckets = calloc(lim->max_per_sender + 1, sizeof *mp->buckets);
  mp->rej = calloc(MC_MEMPOOL_REJECTIONS_KEPT, sizeof *mp->rej);
  mp->bad = calloc(MC_MEMPOOL_BAD_SIGS_KEPT, sizeof *mp->bad);
  if (mp->buckets == NULL || mp->rej == NULL || mp->bad == NULL ||
      mc_keymap_reserve(&mp->by_rej, MC_MEMPOOL_REJECTIONS_KEPT) != 0 ||
      mc_keymap_reserve(&mp->by_bad, MC_MEMPOOL_BAD_SIGS_KEPT) != 0) {
    mc_mempool_free(mp);
    return NULL;
  }
  return mp;
}

void mc_mempool_free(mc_mempool *mp) {
  if (mp == NULL)
    return;
  for (size_t i = 0; i < mp->by_sender.nslots; i++) {
    sender *s = mp->by_sender.slots[i].val;
    if (s == NULL)
      continue;
    for (size_t j = 0; j < s->len; j++)
      free(s->txs[j]);
    free(s->base);
    free(s);
  }
  mc_keymap_free(&mp->by_id);
  mc_keymap_free(&mp->by_sender);
  mc_keymap_free(&mp->by_rej);
  mc_keymap_free(&mp->by_bad);
  free(mp->buckets);
  free(mp->rej);
  free(mp->bad);
  free(mp);
}

void mc_mempool_set_clock(mc_mempool *mp, mc_mempool_clock_fn now, void *ctx) {
  assert(mp != NULL && now != NULL);
  mp->clock = now;
  mp->clock_ctx = ctx;
}

/* ---- admission ---- */

/* Reads pk's committed account; an account never seen is zero. */
static int read_account(mc_mempool *mp, const uint8_t pk[MC_PUBKEY_LEN],
                        mc_account *a) {
  memset(a, 0, sizeof *a);
  int rc = mp->get(mp->ctx, pk, a);
  if (rc == MC_ENOTFOUND) {
    memset(a, 0, sizeof *a);
    rc = 0;
  }
  return rc;
}

/* Nonce and balance against the committed account plus s's pending
 * transfers.  Sets *queued when tx waits for a gap. */
static int check_state(const mc_mempool *mp, const sender *s,
                       const mc_account *a, const mc_tx *tx, int *queued) {
  uint64_t next = s && s->nready ? s->txs[s->nready - 1]->tx.nonce + 1
                                 : a->nonce + 1;
  uint64_t spent = s ? s->spent : 0;
  if (tx->nonce <= a->nonce || tx->nonce < next)
    return MC_ENONCE;
  *queued = tx->nonce > next;
  if (*queued) {
    if (tx->nonce - next > mp->lim.max_nonce_gap)
      return MC_ENONCEGAP;
    size_t i = s ? sender_lower_bound(s, tx->nonce) : 0;
    if (s && i < s->len && s->txs[i]->tx.nonce == tx->nonce)
      return MC_ENONCE;
  }
  if (s && s->len >= mp->lim.max_per_sender)
    return MC_EFULL;
  /* A queued transfer must at least fit beside the ready ones; the full
   * check comes when it is promoted. */
  if (spent > a->balance || tx->amount > a->balance - spent)
    return MC_EBALANCE;
  return 0;
}

/* The sender a newcomer of own (queued or not) may evict from when the
 * pool is full (see mempool.h), or NULL if nothing may be evicted. */
static sender *eviction_victim(mc_mempool *mp, const sender *own, int queued) {
  sender *v = most_queued(mp);
  if (v == NULL)
    return NULL;
  if (queued) {
    size_t own_after = (own ? queued_of(own) : 0) + 1;
    if (queued_of(v) <= own_after)
      return NULL;
  }
  return v;
}

/* 0 if the pool has room for the newcomer, or can make it. */
static int check_room(mc_mempool *mp, const sender *own, int queued) {
  if (mp->size < mp->lim.max_total)
    return 0;
  return eviction_victim(mp, own, queued) != NULL ? 0 : MC_EFULL;
}

/* Frees one place in a full pool (see mempool.h), or MC_EFULL. */
static int make_room(mc_mempool *mp, const sender *own, int queued) {
  sender *v = eviction_victim(mp, own, queued);
  if (v == NULL)
    return MC_EFULL;
  drop_at(mp, v, v->len - 1, MC_EFULL);
  if (v != own)
    sender_gc(mp, v);
  return 0;
}

/* Inserts t (already checked) into s and the indexes.  Room reserved. */
static void insert(mc_mempool *mp, sender *s, pool_tx *t, int queued,
                   uint64_t balance) {
  size_t i = queued ? sender_lower_bound(s, t->tx.nonce) : s->nready;
  memmove(&s->txs[i + 1], &s->txs[i], (s->len - i) * sizeof *s->txs);
  s->txs[i] = t;
  s->len++;
  t->s = s;
  mc_keymap_put(&mp->by_id, t->tx.id, t);
  mp->size++;
  forget(mp, t->tx.id);
  t->queued_at = pool_now(mp);
  list_append(&mp->queued, t);
  if (queued) {
    bucket_update(mp, s);
    return;
  }
  mark_ready(mp, t);
  s->nready++;
  s->spent += t->tx.amount;
  promote(mp, s, balance);
}

/* What a refusal says about the transfer's id (see mempool.h). */
typedef enum verdict {
  V_NONE,     /* nothing: the node's trouble, or only this copy's */
  V_ANY_COPY, /* holds for every copy whatever its signature */
  V_VERIFIED, /* may be filed only for a copy whose signature verified */
} verdict;

/* What the checks found out for admitting the transfer. */
typedef struct plan {
  int queued;       /* it waits for a gap */
  uint64_t balance; /* the sender's committed balance */
} plan;

/* Puts tx, fully checked, into the pool: makes room in a full pool (see
 * mempool.h) or refuses it with MC_EFULL.  MC_ENOMEM leaves all as it was. */
static int enter(mc_mempool *mp, const mc_tx *tx, const plan *p) {
  sender *s = NULL;
  pool_tx *t = calloc(1, sizeof *t);
  if (t == NULL || mc_keymap_reserve(&mp->by_id, 1) != 0 ||
      (s = sender_make(mp, tx->from)) == NULL || sender_reserve(s) != 0) {
    free(t);
    if (s != NULL)
      sender_gc(mp, s);
    return MC_ENOMEM;
  }
  t->tx = *tx;
  int rc = mp->size >= mp->lim.max_total ? make_room(mp, s, p->queued) : 0;
  if (rc != 0) {
    free(t);
    sender_gc(mp, s);
    return rc;
  }
  insert(mp, s, t, p->queued, p->balance);
  return 0;
}

/* Every admission check but the signature, cheapest first (see mempool.h
 * for the order); changes nothing.  sig_ok: tx's signature is known good,
 * so bytes once noted bad are not held against it. */
static int precheck(mc_mempool *mp, const mc_tx *tx, int sig_ok, plan *p,
                    verdict *v) {
  *v = V_NONE;
  if (mc_keymap_get(&mp->by_id, tx->id) != NULL)
    return MC_EDUP;
  int rc = mc_tx_check_static(tx, mp->chain_id);
  if (rc != 0) {
    *v = V_ANY_COPY;
    return rc;
  }
  if (!sig_ok && sig_known_bad(mp, tx))
    return MC_ESIG;
  mc_account a;
  if ((rc = read_account(mp, tx->from, &a)) != 0)
    return rc; /* the node's trouble, not the transfer's */
  const sender *s = sender_get(mp, tx->from);
  p->queued = 0;
  p->balance = a.balance;
  rc = check_state(mp, s, &a, tx, &p->queued);
  if (rc == 0)
    rc = check_room(mp, s, p->queued);
  if (rc != 0)
    *v = rc == MC_EFULL ? V_VERIFIED : V_ANY_COPY;
  return rc;
}

/* Files a refusal under tx's id when the verdict allows (sig_ok: tx's
 * signature verified), and passes rc on. */
static int settle(mc_mempool *mp, const mc_tx *tx, int rc, verdict v,
                  int sig_ok) {
  if (rc != 0 && (v == V_ANY_COPY || (v == V_VERIFIED && sig_ok)))
    remember(mp, tx->id, rc, sig_ok ? tx->sig : NULL);
  return rc;
}

/* The id is derived: compute it rather than trust the caller's, so dedup,
 * the rings and the filing key on what was really signed. */
static mc_tx with_id(const mc_tx *tx) {
  mc_tx t = *tx;
  mc_tx_compute_id(&t);
  return t;
}

int mc_mempool_check(mc_mempool *mp, const mc_tx *tx) {
  assert(mp != NULL && tx != NULL);
  mc_tx t = with_id(tx);
  int sig_ok = sig_known_good(mp, &t);
  plan p;
  verdict v;
  int rc = precheck(mp, &t, sig_ok, &p, &v);
  return settle(mp, &t, rc, v, sig_ok);
}

/* Admits t, whose signature is good, after checking everything else. */
static int add_good(mc_mempool *mp, const mc_tx *t) {
  plan p;
  verdict v;
  int rc = precheck(mp, t, 1, &p, &v);
  if (rc == 0) {
    rc = enter(mp, t, &p);
    v = rc == MC_ENOMEM ? V_NONE : V_VERIFIED;
  }
  return settle(mp, t, rc, v, 1);
}

int mc_mempool_add_verified(mc_mempool *mp, const mc_tx *tx) {
  assert(mp != NULL && tx != NULL);
  mc_tx t = with_id(tx);
  return add_good(mp, &t);
}

int mc_mempool_add(mc_mempool *mp, const mc_tx *tx) {
  assert(mp != NULL && tx != NULL);
  mc_tx t = with_id(tx);
  int sig_ok = sig_known_good(mp, &t);
  plan p;
  verdict v;
  int rc = precheck(mp, &t, sig_ok, &p, &v);
  if (rc != 0)
    return settle(mp, &t, rc, v, sig_ok);
  if (!sig_ok && (rc = verify_sig(mp, &t)) != 0)
    return rc;
  /* The pool has not changed since the checks: no need to run them again
   * as mc_mempool_add_verified must. */
  rc = enter(mp, &t, &p);
  return settle(mp, &t, rc, rc == MC_ENOMEM ? V_NONE : V_VERIFIED, 1);
}

void mc_mempool_note_bad_sig(mc_mempool *mp, const mc_tx *tx) {
  assert(mp != NULL && tx != NULL);
  uint8_t wire_hash[MC_HASH_LEN];
  mc_tx_wire_hash(tx, wire_hash);
  remember_bad(mp, wire_hash);
}

/* ---- queries ---- */

int mc_mempool_contains(const mc_mempool *mp, const uint8_t id[MC_HASH_LEN]) {
  return mc_keymap_get(&mp->by_id, id) != NULL;
}

int mc_mempool_find(const mc_mempool *mp, const uint8_t id[MC_HASH_LEN],
                    const mc_tx **tx, int *ready) {
  const pool_tx *t = mc_keymap_get(&mp->by_id, id);
  if (t == NULL)
    return 0;
  *tx = &t->tx;
  *ready = is_ready(t);
  return 1;
}

int mc_mempool_tx_verified(void *mp, const mc_tx *tx) {
  mc_tx t = *tx;
  mc_tx_compute_id(&t);
  const pool_tx *p = mc_keymap_get(&((mc_mempool *)mp)->by_id, t.id);
  return p != NULL && memcmp(p->tx.sig, tx->sig, MC_SIG_LEN) == 0;
}

size_t mc_mempool_ready(const mc_mempool *mp, const mc_tx **out, size_t max) {
  size_t n = 0;
  for (const pool_tx *t = mp->ready.head; t != NULL && n < max; t = t->next)
    out[n++] = &t->tx;
  return n;
}

int mc_mempool_next_nonce(mc_mempool *mp, const uint8_t pk[MC_PUBKEY_LEN],
                          uint64_t *next) {
  mc_account a;
  int rc = read_account(mp, pk, &a);
  if (rc != 0)
    return rc;
  const sender *s = sender_get(mp, pk);
  *next = a.nonce + (s ? s->nready : 0) + 1;
  return 0;
}

int mc_mempool_rejection(const mc_mempool *mp, const uint8_t id[MC_HASH_LEN],
                         int *reason) {
  const rejection *r = mc_keymap_get(&mp->by_rej, id);
  if (r == NULL)
    return 0;
  *reason = r->reason;
  return 1;
}

uint64_t mc_mempool_verify_count(const mc_mempool *mp) { return mp->verifies; }

size_t mc_mempool_size(const mc_mempool *mp) { return mp->size; }
size_t mc_mempool_ready_count(const mc_mempool *mp) { return mp->nready; }
size_t mc_mempool_queued_count(const mc_mempool *mp) {
  return mp->size - mp->nready;
}

/* ---- after a commit ---- */

/*
 * Re-classifies all of s's transfers against its new committed account, in
 * nonce order: used nonces leave (MC_ENONCE); the contiguous affordable run
 * from nonce+1 is ready (those already ready keep their place in the ready
 * list); the first unaffordable one at the next nonce leaves (MC_EBALANCE);
 * the rest wait queued if within max_nonce_gap, else leave (MC_ENONCEGAP).
 */
static void recheck(mc_mempool *mp, sender *s, const mc_account *a) {
  uint64_t next = a->nonce + 1, spent = 0;
  size_t i = 0, nready = 0;
  while (i < s->len) {
    pool_tx *t = s->txs[i];
    int reason = 0, ready = 0;
    if (t->tx.nonce < next)
      reason = MC_ENONCE;
    else if (t->tx.nonce == next && nready == i) {
      if (t->tx.amount <= a->balance - spent)
        ready = 1;
      else
        reason = MC_EBALANCE;
    } else if (t->tx.nonce - next > mp->lim.max_nonce_gap)
      reason = MC_ENONCEGAP;
    if (reason != 0) {
      drop_at(mp, s, i, reason); /* keeps s->nready, s->spent consistent */
      continue;
    }
    if (ready && !is_ready(t))
      mark_ready(mp, t);
    else if (!ready && is_ready(t))
      mark_queued(mp, t);
    if (ready) {
      nready++;
      spent += t->tx.amount;
      next++;
    }
    i++;
  }
  s->nready = nready;
  s->spent = spent;
  bucket_update(mp, s);
}

void mc_mempool_on_commit(mc_mempool *mp, const mc_block *b) {
  assert(mp != NULL && b != NULL);
  uint32_t n = b->header.tx_count;
  /* First everything the block included leaves, so that the re-check
   * below does not take an included transfer for a clashing one. */
  for (uint32_t k = 0; k < n; k++) {
    pool_tx *t = mc_keymap_get(&mp->by_id, b->txs[k].id);
    if (t == NULL)
      continue;
    sender *s = t->s;
    size_t i = sender_lower_bound(s, t->tx.nonce);
    assert(i < s->len && s->txs[i] == t);
    drop_at(mp, s, i, 0);
  }
  /* Only the block's senders lost balance or used nonces; any other
   * account it touched only gained, which invalidates nothing. */
  mp->epoch++;
  for (uint32_t k = 0; k < n; k++) {
    sender *s = sender_get(mp, b->txs[k].from);
    if (s == NULL || s->recheck_epoch == mp->epoch)
      continue;
    s->recheck_epoch = mp->epoch;
    mc_account a;
    if (read_account(mp, s->pk, &a) == 0)
      recheck(mp, s, &a);
    sender_gc(mp, s);
  }
}

/* ---- expiry ---- */

void mc_mempool_expire(mc_mempool *mp, uint64_t now_ms) {
  assert(mp != NULL);
  uint64_t ttl = mp->lim.queued_ttl_ms;
  if (ttl == 0)
    return;
  /* The queued list is in stamp order (the clock never goes back), so
   * the first one not yet due ends the walk. */
  pool_tx *t;
  while ((t = mp->queued.head) != NULL && t->queued_at <= now_ms &&
         now_ms - t->queued_at >= ttl) {
    sender *s = t->s;
    size_t i = sender_lower_bound(s, t->tx.nonce);
    assert(i < s->len && s->txs[i] == t);
    /* Only queued ones expire, and those behind it wait for the same
     * gap, so nothing else of the sender changes. */
    drop_at(mp, s, i, MC_EEXPIRED);
    sender_gc(mp, s);
  }
}
