/*
 * sim.c - the deterministic consensus simulation: a consensus plugin
 * (poa.so) driven through its vtable by the test host, on a simulated
 * network, under thousands of random schedules from fixed seeds.
 *
 * One schedule, all of it derived from its seed:
 *   - n validators (mostly 4; also 1, 3 and 7), up to f of them Byzantine:
 *     a "twin" (a second node running its own engine with the same key,
 *     the Aptos way of producing equivocation from honest code) or a
 *     scripted liar (its engine's messages rewritten on the way out: bad
 *     signatures, garbage, votes and proposals for other blocks, lying
 *     VIEWCHANGEs that hide, replay, forge or relabel prepared
 *     certificates, or jump views);
 *   - a fault phase: random drop / duplicate / delay (hence reordering),
 *     partitions and healing, one-way link cuts, crashes and restarts of
 *     three kinds: a plain restart (the node keeps its committed chain and
 *     what it saved with state_save), a restart with its saved state wiped
 *     (chain kept), and a restart from an older snapshot of both (chain
 *     and state as they were earlier in the run) that the watch rule can
 *     detect;
 *   - a stabilisation phase: the network is healed and reliable, at least
 *     q (2f+1 for n = 3f+1) honest validators are up, and every one of
 *     them must commit SIM_PROGRESS new heights within SIM_LIVE_MS of
 *     virtual time.
 * Throughout, the host's sync runs between connected nodes, and the test
 * host flags any two nodes (twins included) that commit different blocks
 * at one height, a commit whose certificate fails, or a node signing two
 * hashes in one (kind, height, view) over all its lifetimes, restores
 * included.
 *
 * A failing schedule prints its seed, the replay command and the event
 * log; `sim --plugin P --seed S --trace` replays it with every engine log
 * line, commit and lie.  With --expect-fork the run succeeds only if some
 * schedule is unsafe, with --expect-double-sign only if some node signs
 * twice (used to show the simulation catches a broken engine).
 */
#include <msgpack.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "minichain/error.h"
#include "testhost.h"

#define SIM_INTERVAL_MS 20
#define SIM_TIMEOUT_MS 100
#define SIM_SYNC_MS 50      /* the simulation's step; sync runs every
                               SIM_SYNC_MS..SIM_SYNC_MAX_MS (per schedule) */
#define SIM_SYNC_MAX_MS 1000
#define SIM_PROGRESS 3      /* heights every honest node must add... */
#define SIM_LIVE_MS 60000   /* ...within this much virtual time */
#define SIM_MAX_NODES 16
#define SIM_HARVEST 8       /* prepared certificates a liar can replay */

static const char *plugin_path;
/* --expect-fork / --expect-double-sign: a forged justification ACKed is
 * reported, but the run goes on to see whether it becomes a fork. */
static int expect_fork;

/* How a crashed node comes back: as it was, with its saved state wiped,
 * or from an older snapshot of chain and state, which either holds every
 * vote the node made (it signed nothing since) or loses some, in a way
 * the node can detect. */
enum {
  RESTART_PLAIN,
  RESTART_WIPED,
  RESTART_OLD_NOTHING_LOST,
  RESTART_OLD_DETECTED,
  RESTART_KINDS
};
static const char *const RESTART_NAMES[RESTART_KINDS] = {
    "plain", "wiped", "old_snapshot_nothing_lost", "old_snapshot_detected"};

enum { ROLE_HONEST = 0, ROLE_TWIN = 1, ROLE_LIAR = 2 };

typedef struct harvested { /* a prepared certificate seen on the wire */
  int used;
  uint64_t h, pview;
  uint8_t *pcert, *block; /* msgpack of [pview, hash, siglist]; block bin */
  size_t pcert_len, block_len;
} harvested;

#define SIM_VC_POOL 64     /* VIEWCHANGEs a liar can replay in a justification */
#define SIM_BLOCK_POOL 16  /* blocks seen on the wire, by hash */

enum {
  J_SHORT,     /* q - 1 VIEWCHANGEs */
  J_DUP,       /* one signer twice */
  J_OTHER_HV,  /* a real VIEWCHANGE of another height or view */
  J_BAD_SIG,   /* a VIEWCHANGE with a broken signature */
  J_FORGED,    /* the liar's VIEWCHANGE with a relabelled certificate */
  J_BLOCK,     /* a VIEWCHANGE with a real cert and its block */
  J_LOCK,      /* a real certificate shown, another block proposed */
  J_SELECTIVE, /* q real VIEWCHANGEs chosen to hide the highest lock */
  J_MODES
};
static const char *const J_NAMES[J_MODES] = {
    "short", "dup_signer", "other_h_or_v", "bad_sig",
    "forged_cert", "with_block", "lock_ignored", "selective"};

typedef struct seen_vc { /* a VIEWCHANGE seen on the wire, block stripped */
  uint8_t *wire;
  size_t wire_len;
  uint64_t h, v, signer;
  int prepared;
} seen_vc;

typedef struct seen_block {
  uint8_t *bytes;
  size_t len;
  uint8_t hash[MC_HASH_LEN];
} seen_block;

typedef struct sim {
  uint64_t seed, rng;
  th_cluster *cl;
  simnet *net;
  uint32_t n, nn, f, q;
  uint8_t role[SIM_MAX_NODES]; /* by validator */
  int trace, injecting;
  int restart_failed; /* an engine refused its own saved state */
  uint64_t sync_ms, next_sync;
  /* A targeted fault: messages of one kind to the nodes in cut_to are
   * lost (say every COMMIT to two of four nodes). */
  const char *cut_tag;
  uint32_t cut_to;
  uint64_t lies;
  harvested pool[SIM_HARVEST];
  uint32_t pool_next;
  uint32_t liars[SIM_MAX_NODES], nliars; /* validators that lie */
  uint32_t ntwins;
  /* Nodes wiped or restored from an older copy that have not signed since
   * (watching, or waiting for their resume height), with the number of
   * signatures they had then; and the restores from an older copy so far
   * (their old messages count against the f faulty validators). */
  uint8_t damaged[SIM_MAX_NODES];
  size_t damaged_sigs[SIM_MAX_NODES];
  uint32_t restored_old;
  uint8_t snapped[SIM_MAX_NODES]; /* holds a snapshot not yet restored */
  uint64_t restarts[RESTART_KINDS], old_undetectable;
  seen_vc vcs[SIM_VC_POOL];
  uint32_t vcs_next;
  seen_block blocks[SIM_BLOCK_POOL];
  uint32_t blocks_next;
  /* Digests of the forged PROPOSEs injected: an honest validator that
   * ACKs while handling one of them accepted a forgery. */
  uint8_t (*forged)[crypto_hash_sha256_BYTES];
  size_t nforged, capforged;
  int forged_acked;
  uint64_t jlies[J_MODES];
  char *log; /* the event log, printed when the schedule fails */
  size_t log_len, log_cap;
} sim;

/* ---- randomness and the event log ---- */

static uint64_t rnd(sim *s) {
  uint64_t x = s->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  s->rng = x;
  return x * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_in(sim *s, uint64_t lo, uint64_t hi) {
  return lo + rnd(s) % (hi - lo + 1);
}

static void note(sim *s, const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  int k = snprintf(line, sizeof line, "t=%llu ",
                   (unsigned long long)simnet_now(s->net));
  vsnprintf(line + k, sizeof line - (size_t)k, fmt, ap);
  va_end(ap);
  size_t len = strlen(line);
  if (s->trace)
    fprintf(stderr, "SIM %s\n", line);
  if (s->log_len + len + 2 > s->log_cap) {
    s->log_cap = (s->log_cap + len + 2) * 2;
    s->log = realloc(s->log, s->log_cap);
    if (s->log == NULL)
      abort();
  }
  memcpy(s->log + s->log_len, line, len);
  s->log_len += len;
  s->log[s->log_len++] = '\n';
  s->log[s->log_len] = 0;
}

/* ---- messages (the bytes of docs/CONSENSUS.md, built independently of
 * the plugin) ---- */

static const char *const TAG_PROPOSE = "mc-poa-propose-v1";
static const char *const TAG_ACK = "mc-poa-ack-v1";
static const char *const TAG_COMMIT = "mc-poa-commit-v1";
static const char *const TAG_VC = "mc-poa-viewchange-v1";

static int is_tag(const msgpack_object *o, const char *tag) {
  return o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(tag) &&
         memcmp(o->via.str.ptr, tag, o->via.str.size) == 0;
}

static msgpack_object bin_obj(const void *p, size_t len) {
  msgpack_object o = {.type = MSGPACK_OBJECT_BIN};
  o.via.bin.ptr = p;
  o.via.bin.size = (uint32_t)len;
  return o;
}

static msgpack_object uint_obj(uint64_t v) {
  msgpack_object o = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER};
  o.via.u64 = v;
  return o;
}

/* Whose key a liar signs with: its validator's, on the cluster's chain. */
typedef struct signer {
  th_cluster *cl;
  uint32_t val;
} signer;

/* Signs the signing bytes [tag, h, v, a, (b)] as sk's validator would (in
 * the consensus domain of the chain); `b` only for VIEWCHANGE (a = pview
 * or nil, b = hash or nil). */
static void sign_parts(const char *tag, uint64_t h, uint64_t v,
                       const msgpack_object *a, const msgpack_object *b,
                       const signer *sk, uint8_t sig[MC_SIG_LEN]) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, b ? 5 : 4);
  msgpack_pack_str_with_body(&pk, tag, strlen(tag));
  msgpack_pack_uint64(&pk, h);
  msgpack_pack_uint64(&pk, v);
  msgpack_pack_object(&pk, *a);
  if (b)
    msgpack_pack_object(&pk, *b);
  th_sign_as(sk->cl, sk->val, (const uint8_t *)sb.data, sb.size, sig);
  msgpack_sbuffer_destroy(&sb);
}

static void forged_add(sim *s, const uint8_t *msg, size_t len);

/* Sends the array `items` (the message, rewritten) from -> to, bypassing
 * the filter; `forged`: a PROPOSE every honest validator must refuse. */
static void inject(sim *s, uint32_t from, uint32_t to,
                   const msgpack_object *items, uint32_t nitems, int forged) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, nitems);
  for (uint32_t i = 0; i < nitems; i++)
    msgpack_pack_object(&pk, items[i]);
  if (forged)
    forged_add(s, (const uint8_t *)sb.data, sb.size);
  s->injecting = 1;
  simnet_send(s->net, from, to, (const uint8_t *)sb.data, sb.size);
  s->injecting = 0;
  msgpack_sbuffer_destroy(&sb);
}

/* ---- prepared certificates seen on the wire, for replay lies ---- */

static void harvest_free(harvested *e) {
  free(e->pcert);
  free(e->block);
  memset(e, 0, sizeof *e);
}

static void harvest(sim *s, const msgpack_object *a, uint32_t nitems) {
  if (nitems != 7 || !is_tag(&a[0], TAG_VC) ||
      a[3].type != MSGPACK_OBJECT_ARRAY || a[3].via.array.size != 3 ||
      a[3].via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
      a[6].type != MSGPACK_OBJECT_BIN)
    return;
  harvested *e = &s->pool[s->pool_next++ % SIM_HARVEST];
  harvest_free(e);
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_object(&pk, a[3]);
  e->pcert_len = sb.size;
  e->pcert = (uint8_t *)msgpack_sbuffer_release(&sb);
  e->block = malloc(a[6].via.bin.size);
  if (e->block == NULL)
    abort();
  memcpy(e->block, a[6].via.bin.ptr, a[6].via.bin.size);
  e->block_len = a[6].via.bin.size;
  e->h = a[1].via.u64;
  e->pview = a[3].via.array.ptr[0].via.u64;
  e->used = 1;
}

/* A harvested certificate for height h below view v, or NULL. */
static const harvested *pick_harvest(sim *s, uint64_t h, uint64_t v) {
  uint32_t start = (uint32_t)rnd(s) % SIM_HARVEST;
  for (uint32_t i = 0; i < SIM_HARVEST; i++) {
    const harvested *e = &s->pool[(start + i) % SIM_HARVEST];
    if (e->used && e->h == h && e->pview < v)
      return e;
  }
  return NULL;
}

static int running(sim *s, uint32_t i);
static int honest(sim *s, uint32_t i);

/* ---- forged justifications: a PROPOSE in view v > 0 with its q
 * VIEWCHANGEs rewritten, by a liar that leads the view or relays another
 * leader's PROPOSE (whose signature does not cover the justification) ---- */

/* A VIEWCHANGE seen on the wire, without its block, as a justification
 * carries it: a liar can replay it in another one. */
static void harvest_vc(sim *s, const msgpack_object *a) {
  if (a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
      a[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
      a[4].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
    return;
  seen_vc *e = &s->vcs[s->vcs_next++ % SIM_VC_POOL];
  free(e->wire);
  memset(e, 0, sizeof *e);
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 7);
  for (int i = 0; i < 6; i++)
    msgpack_pack_object(&pk, a[i]);
  msgpack_pack_nil(&pk);
  e->wire_len = sb.size;
  e->wire = (uint8_t *)msgpack_sbuffer_release(&sb);
  e->h = a[1].via.u64;
  e->v = a[2].via.u64;
  e->signer = a[4].via.u64;
  e->prepared = a[3].type == MSGPACK_OBJECT_ARRAY;
}

/* A block seen on the wire (in a PROPOSE or a VIEWCHANGE), by hash. */
static void harvest_block(sim *s, const msgpack_object *hash,
                          const msgpack_object *block) {
  if (hash->type != MSGPACK_OBJECT_BIN || hash->via.bin.size != MC_HASH_LEN ||
      block->type != MSGPACK_OBJECT_BIN)
    return;
  for (int i = 0; i < SIM_BLOCK_POOL; i++)
    if (s->blocks[i].bytes != NULL &&
        memcmp(s->blocks[i].hash, hash->via.bin.ptr, MC_HASH_LEN) == 0)
      return;
  seen_block *e = &s->blocks[s->blocks_next++ % SIM_BLOCK_POOL];
  free(e->bytes);
  e->bytes = malloc(block->via.bin.size);
  if (e->bytes == NULL)
    abort();
  memcpy(e->bytes, block->via.bin.ptr, block->via.bin.size);
  e->len = block->via.bin.size;
  memcpy(e->hash, hash->via.bin.ptr, MC_HASH_LEN);
}

static const seen_block *find_block(sim *s, const uint8_t *hash) {
  for (int i = 0; i < SIM_BLOCK_POOL; i++)
    if (s->blocks[i].bytes != NULL &&
        memcmp(s->blocks[i].hash, hash, MC_HASH_LEN) == 0)
      return &s->blocks[i];
  return NULL;
}

/* Remembers the bytes of a forged PROPOSE (by digest). */
static void forged_add(sim *s, const uint8_t *msg, size_t len) {
  if (s->nforged == s->capforged) {
    s->capforged = s->capforged ? 2 * s->capforged : 32;
    s->forged = realloc(s->forged, s->capforged * sizeof *s->forged);
    if (s->forged == NULL)
      abort();
  }
  crypto_hash_sha256(s->forged[s->nforged++], msg, len);
}

static int forged_has(const sim *s, const uint8_t *msg, size_t len) {
  uint8_t d[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(d, msg, len);
  for (size_t i = 0; i < s->nforged; i++)
    if (memcmp(s->forged[i], d, sizeof d) == 0)
      return 1;
  return 0;
}

/* An honest node's ACK sent while it handles a forged PROPOSE means it
 * accepted the forgery (docs/CONSENSUS.md step 2; how a fork would
 * start).  The engine sends its ACK from inside on_message. */
static void check_ack(sim *s, uint32_t from, const msgpack_object *a,
                      uint32_t nitems) {
  uint32_t node;
  size_t len;
  if (s->nforged == 0 || nitems != 6 || !is_tag(&a[0], TAG_ACK) ||
      !honest(s, from))
    return;
  const uint8_t *msg = th_delivering(s->cl, &node, &len);
  if (msg != NULL && node == from && forged_has(s, msg, len) &&
      !s->forged_acked) {
    note(s, "FORGED JUSTIFICATION ACKED node=%u h=%llu v=%llu", from,
         (unsigned long long)a[1].via.u64, (unsigned long long)a[2].via.u64);
    s->forged_acked = 1;
  }
}

/* One entry of a justification being rewritten: a VIEWCHANGE object and
 * what the liar reads from it. */
typedef struct jent {
  msgpack_object o;
  uint64_t h, v, signer, pview;
  int prepared;
  const uint8_t *phash;
} jent;

static int jent_read(const msgpack_object *o, jent *e) {
  memset(e, 0, sizeof *e);
  e->o = *o;
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 7)
    return -1;
  const msgpack_object *a = o->via.array.ptr;
  if (a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
      a[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
      a[4].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
    return -1;
  e->h = a[1].via.u64;
  e->v = a[2].via.u64;
  e->signer = a[4].via.u64;
  if (a[3].type == MSGPACK_OBJECT_ARRAY && a[3].via.array.size == 3 &&
      a[3].via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
      a[3].via.array.ptr[1].type == MSGPACK_OBJECT_BIN &&
      a[3].via.array.ptr[1].via.bin.size == MC_HASH_LEN) {
    e->prepared = 1;
    e->pview = a[3].via.array.ptr[0].via.u64;
    e->phash = (const uint8_t *)a[3].via.array.ptr[1].via.bin.ptr;
  }
  return 0;
}

/* Order for the selective liar: no lock first, then lower locks. */
static int jent_rank_lt(const jent *x, const jent *y) {
  if (x->prepared != y->prepared)
    return !x->prepared;
  return x->prepared && x->pview < y->pview;
}

/* Everything one rewrite allocates, freed when it has been sent. */
typedef struct forge {
  msgpack_unpacked keep[SIM_VC_POOL + 4];
  uint8_t *kept[SIM_VC_POOL + 4]; /* the bytes they point into */
  int nkeep;
  msgpack_object items[8], bad[7];
  jent ents[2 * SIM_MAX_NODES + 1];
  uint32_t n;
  uint8_t sig[MC_SIG_LEN], badsig[MC_SIG_LEN], hash[MC_HASH_LEN];
  uint8_t *block; /* a new block's bytes (host buffer) */
  mc_block *made;
} forge;

/* Unpacks a copy of the bytes into a slot of f->keep; the object lives as
 * long as f (msgpack-c's objects point into the bytes they came from). */
static const msgpack_object *forge_keep(forge *f, const uint8_t *p, size_t len) {
  size_t off = 0;
  if (f->nkeep == (int)(sizeof f->keep / sizeof f->keep[0]))
    abort();
  msgpack_unpacked *u = &f->keep[f->nkeep];
  uint8_t *copy = f->kept[f->nkeep] = malloc(len);
  if (copy == NULL)
    abort();
  memcpy(copy, p, len);
  msgpack_unpacked_init(u);
  f->nkeep++;
  if (msgpack_unpack_next(u, (const char *)copy, len, &off) !=
      MSGPACK_UNPACK_SUCCESS)
    abort();
  return &u->data;
}

/* A VIEWCHANGE (h, v) signed by the liar, carrying `prepared` (nil or a
 * cert) and `block` (nil or bin). */
static const msgpack_object *liar_vc(forge *f, uint32_t val,
                                     uint64_t h, uint64_t v,
                                     msgpack_object prepared,
                                     msgpack_object block, const signer *sk) {
  msgpack_object a[7];
  a[0].type = MSGPACK_OBJECT_STR;
  a[0].via.str.ptr = TAG_VC;
  a[0].via.str.size = (uint32_t)strlen(TAG_VC);
  a[1] = uint_obj(h);
  a[2] = uint_obj(v);
  a[3] = prepared;
  a[4] = uint_obj(val);
  a[6] = block;
  msgpack_object nil = {.type = MSGPACK_OBJECT_NIL}, pv = nil, ph = nil;
  uint8_t sig[MC_SIG_LEN];
  if (prepared.type == MSGPACK_OBJECT_ARRAY) {
    pv = prepared.via.array.ptr[0];
    ph = prepared.via.array.ptr[1];
  }
  sign_parts(TAG_VC, h, v, &pv, &ph, sk, sig);
  a[5] = bin_obj(sig, sizeof sig);
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 7);
  for (int i = 0; i < 7; i++)
    msgpack_pack_object(&pk, a[i]);
  const msgpack_object *o = forge_keep(f, (const uint8_t *)sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
  return o;
}

/* Replaces entry i (or appends when i == f->n) by object o. */
static void forge_put(forge *f, uint32_t i, const msgpack_object *o) {
  jent e;
  jent_read(o, &e);
  f->ents[i] = e;
  if (i == f->n)
    f->n++;
}

/* The liar's own entry, or a random one (a liar may drop anyone's). */
static uint32_t forge_slot(sim *s, const forge *f, uint32_t val) {
  for (uint32_t i = 0; i < f->n; i++)
    if (f->ents[i].signer == val)
      return i;
  return (uint32_t)(rnd(s) % f->n);
}

/* A harvested real prepared certificate for height h below view v, as an
 * object living in f. */
static int forge_cert(sim *s, forge *f, uint64_t h, uint64_t v,
                      const msgpack_object **cert, const harvested **src) {
  const harvested *e = pick_harvest(s, h, v);
  if (e == NULL)
    return 0;
  *cert = forge_keep(f, e->pcert, e->pcert_len);
  *src = e;
  return 1;
}

/* Selective: q VIEWCHANGEs for (h, v) out of all the liar has seen, the
 * ones with no or the lowest locks.  Returns 0 if there are not q. */
static int forge_selective(sim *s, forge *f, uint64_t h, uint64_t v) {
  jent pool[SIM_MAX_NODES];
  uint32_t k = 0;
  for (uint32_t i = 0; i < f->n + SIM_VC_POOL; i++) {
    jent e;
    if (i < f->n) {
      e = f->ents[i];
    } else {
      const seen_vc *sv = &s->vcs[i - f->n];
      if (sv->wire == NULL || sv->h != h || sv->v != v)
        continue;
      jent_read(forge_keep(f, sv->wire, sv->wire_len), &e);
    }
    if (e.h != h || e.v != v || e.signer >= s->n)
      continue;
    uint32_t j = 0;
    while (j < k && pool[j].signer != e.signer)
      j++;
    if (j == k)
      pool[k++] = e;
    else if (jent_rank_lt(&e, &pool[j]))
      pool[j] = e;
  }
  if (k < s->q)
    return 0;
  for (uint32_t i = 0; i < k; i++) /* insertion sort: k <= SIM_MAX_NODES */
    for (uint32_t j = i; j > 0 && jent_rank_lt(&pool[j], &pool[j - 1]); j--) {
      jent t = pool[j];
      pool[j] = pool[j - 1];
      pool[j - 1] = t;
    }
  memcpy(f->ents, pool, s->q * sizeof pool[0]);
  f->n = s->q;
  return 1;
}

/* The block the highest prepared certificate among the entries names, or
 * NULL; *mixed if certificates of that view name different blocks (one of
 * them is forged). */
static const uint8_t *jent_best(const jent *ents, uint32_t n, int *mixed) {
  const jent *best = NULL;
  *mixed = 0;
  for (uint32_t i = 0; i < n; i++) {
    const jent *e = &ents[i];
    if (!e->prepared)
      continue;
    if (best == NULL || e->pview > best->pview) {
      best = e;
      *mixed = 0;
    } else if (e->pview == best->pview &&
               memcmp(e->phash, best->phash, MC_HASH_LEN) != 0) {
      *mixed = 1;
    }
  }
  return best ? best->phash : NULL;
}

static const uint8_t *forge_best(const forge *f, int *mixed) {
  return jent_best(f->ents, f->n, mixed);
}

/* The leader's new block for the PROPOSE (bytes in f, hash in a[3]). */
static void forge_block(sim *s, forge *f, uint32_t from, const uint8_t *hash) {
  const seen_block *sb = hash ? find_block(s, hash) : NULL;
  if (sb != NULL) {
    f->items[6] = bin_obj(sb->bytes, sb->len);
    memcpy(f->hash, sb->hash, MC_HASH_LEN);
  } else {
    size_t len;
    f->made = th_make_block(s->cl, from, th_validator_of(s->cl, from),
                            1 + rnd(s) % 1000);
    if (f->made == NULL || th_api()->encode_block(th_host(s->cl, from),
                                                  f->made, &f->block, &len) != 0)
      abort();
    f->items[6] = bin_obj(f->block, len);
    memcpy(f->hash, f->made->hash, MC_HASH_LEN);
  }
  f->items[3] = bin_obj(f->hash, MC_HASH_LEN);
}

/* Rewrites the justification of PROPOSE `a` (8 items) and sends it from
 * the liar node `from` to `to`.  `lead`: the liar leads the view and may
 * sign another block; otherwise it relays another leader's PROPOSE, whose
 * signature does not cover the justification.  Returns 1 if sent. */
static int forge_just(sim *s, uint32_t from, uint32_t to,
                      const msgpack_object *a, int lead) {
  uint64_t h = a[1].via.u64, v = a[2].via.u64;
  uint32_t val = th_validator_of(s->cl, from);
  const signer key = {s->cl, val}, *sk = &key;
  if (a[7].type != MSGPACK_OBJECT_ARRAY || a[7].via.array.size == 0 ||
      a[7].via.array.size > SIM_MAX_NODES || a[3].type != MSGPACK_OBJECT_BIN ||
      a[3].via.bin.size != MC_HASH_LEN)
    return 0;
  forge *f = calloc(1, sizeof *f);
  if (f == NULL)
    abort();
  memcpy(f->items, a, sizeof f->items);
  memcpy(f->hash, a[3].via.bin.ptr, MC_HASH_LEN);
  f->items[3] = bin_obj(f->hash, MC_HASH_LEN);
  for (uint32_t i = 0; i < a[7].via.array.size; i++)
    if (jent_read(&a[7].via.array.ptr[i], &f->ents[f->n++]) != 0) {
      free(f);
      return 0;
    }
  msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
  const msgpack_object *cert;
  const harvested *src;
  int mode = (int)(rnd(s) % J_MODES), must_refuse = 1, sent = 0;
  switch (mode) {
  case J_SHORT:
    while (f->n >= s->q) {
      uint32_t i = (uint32_t)(rnd(s) % f->n);
      f->ents[i] = f->ents[--f->n];
    }
    sent = 1;
    break;
  case J_DUP: {
    uint32_t j = (uint32_t)(rnd(s) % f->n), i = (uint32_t)(rnd(s) % (f->n + 1));
    if (i == j)
      i = f->n; /* append the copy */
    if (i == f->n)
      f->n++;
    f->ents[i] = f->ents[j];
    sent = 1;
    break;
  }
  case J_OTHER_HV: { /* a real one, in its own signer's place */
    const seen_vc *pick = NULL;
    uint32_t start = (uint32_t)(rnd(s) % SIM_VC_POOL), slot;
    for (uint32_t k = 0; k < SIM_VC_POOL; k++) {
      const seen_vc *sv = &s->vcs[(start + k) % SIM_VC_POOL];
      if (sv->wire != NULL && (sv->h != h || sv->v != v) &&
          (pick == NULL || (pick->prepared && !sv->prepared)))
        pick = sv; /* without a lock: only (h, v) is wrong with it */
    }
    if (pick != NULL) {
      for (slot = 0; slot < f->n && f->ents[slot].signer != pick->signer;)
        slot++;
      if (slot == f->n)
        slot = forge_slot(s, f, val);
      forge_put(f, slot, forge_keep(f, pick->wire, pick->wire_len));
    } else { /* none seen: the liar signs one itself */
      forge_put(f, forge_slot(s, f, val),
                liar_vc(f, val, rnd(s) & 1 ? h + 1 : h,
                        rnd(s) & 1 || v == 1 ? v + 1 : v - 1, nil, nil, sk));
    }
    sent = 1;
    break;
  }
  case J_BAD_SIG: {
    uint32_t i = (uint32_t)(rnd(s) % f->n);
    memcpy(f->bad, f->ents[i].o.via.array.ptr, sizeof f->bad);
    if (f->bad[5].type != MSGPACK_OBJECT_BIN ||
        f->bad[5].via.bin.size != MC_SIG_LEN)
      break;
    memcpy(f->badsig, f->bad[5].via.bin.ptr, MC_SIG_LEN);
    f->badsig[rnd(s) % MC_SIG_LEN] ^= (uint8_t)(1u << (rnd(s) % 8));
    f->bad[5] = bin_obj(f->badsig, MC_SIG_LEN);
    f->ents[i].o.via.array.ptr = f->bad;
    sent = 1;
    break;
  }
  case J_FORGED: { /* a lock no quorum signed */
    msgpack_object pc;
    if (rnd(s) & 1) { /* the sharp one: "our block was prepared in v-1" */
      if (lead)
        forge_block(s, f, from, NULL);
      msgpack_sbuffer sb;
      msgpack_packer pk;
      msgpack_sbuffer_init(&sb);
      msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
      msgpack_pack_array(&pk, 3);
      msgpack_pack_uint64(&pk, v - 1);
      msgpack_pack_bin_with_body(&pk, f->hash, MC_HASH_LEN);
      msgpack_pack_array(&pk, s->q);
      for (uint32_t i = 0; i < s->q; i++) {
        uint8_t junk[MC_SIG_LEN];
        for (size_t k = 0; k < sizeof junk; k++)
          junk[k] = (uint8_t)rnd(s);
        msgpack_pack_array(&pk, 2);
        msgpack_pack_uint32(&pk, i);
        msgpack_pack_bin_with_body(&pk, junk, sizeof junk);
      }
      pc = *forge_keep(f, (const uint8_t *)sb.data, sb.size);
      msgpack_sbuffer_destroy(&sb);
    } else { /* a real siglist relabelled to another view or block */
      if (!forge_cert(s, f, h, v, &cert, &src))
        break;
      memcpy(f->bad, cert->via.array.ptr, 3 * sizeof f->bad[0]);
      if (src->pview + 1 < v && rnd(s) & 1) {
        f->bad[0] = uint_obj(rnd_in(s, src->pview + 1, v - 1));
      } else {
        for (size_t i = 0; i < MC_HASH_LEN; i++)
          f->badsig[i] = (uint8_t)rnd(s);
        f->bad[1] = bin_obj(f->badsig, MC_HASH_LEN);
      }
      pc = (msgpack_object){.type = MSGPACK_OBJECT_ARRAY};
      pc.via.array.ptr = f->bad;
      pc.via.array.size = 3;
    }
    forge_put(f, forge_slot(s, f, val), liar_vc(f, val, h, v, pc, nil, sk));
    sent = 1;
    break;
  }
  case J_BLOCK: { /* the block field is not signed: anyone can fill it */
    uint32_t i = 0;
    while (i < f->n && !(f->ents[i].prepared && find_block(s, f->ents[i].phash)))
      i++;
    if (i < f->n) {
      const seen_block *sb = find_block(s, f->ents[i].phash);
      memcpy(f->bad, f->ents[i].o.via.array.ptr, sizeof f->bad);
      f->bad[6] = bin_obj(sb->bytes, sb->len);
      f->ents[i].o.via.array.ptr = f->bad;
    } else if (forge_cert(s, f, h, v, &cert, &src)) {
      forge_put(f, forge_slot(s, f, val),
                liar_vc(f, val, h, v, *cert,
                        bin_obj(src->block, src->block_len), sk));
    } else {
      break;
    }
    sent = 1;
    break;
  }
  case J_LOCK:
  case J_SELECTIVE: {
    int mixed;
    if (mode == J_LOCK) {
      if (forge_best(f, &mixed) == NULL) { /* no lock shown: add one */
        if (!forge_cert(s, f, h, v, &cert, &src))
          break;
        forge_put(f, forge_slot(s, f, val),
                  liar_vc(f, val, h, v, *cert, nil, sk));
      }
      if (lead) /* and propose something else than it names */
        forge_block(s, f, from, NULL);
    } else {
      if (!forge_selective(s, f, h, v))
        break;
      if (lead) /* the block their highest lock names, or a new one */
        forge_block(s, f, from, forge_best(f, &mixed));
    }
    const uint8_t *best = forge_best(f, &mixed);
    must_refuse = mixed || (best != NULL && memcmp(best, f->hash, MC_HASH_LEN));
    sent = 1;
    break;
  }
  }
  if (sent) {
    if (lead && memcmp(f->hash, a[3].via.bin.ptr, MC_HASH_LEN) != 0) {
      sign_parts(TAG_PROPOSE, h, v, &f->items[3], NULL, sk, f->sig);
      f->items[5] = bin_obj(f->sig, MC_SIG_LEN);
    }
    msgpack_object just[2 * SIM_MAX_NODES + 1];
    for (uint32_t i = 0; i < f->n; i++)
      just[i] = f->ents[i].o;
    f->items[7].type = MSGPACK_OBJECT_ARRAY;
    f->items[7].via.array.ptr = just;
    f->items[7].via.array.size = f->n;
    s->jlies[mode]++;
    note(s, "lie node=%u to=%u just_%s%s h=%llu v=%llu%s", from, to,
         J_NAMES[mode], lead ? "" : "_relayed", (unsigned long long)h,
         (unsigned long long)v, must_refuse ? "" : " (valid)");
    inject(s, from, to, f->items, 8, must_refuse);
  }
  for (int i = 0; i < f->nkeep; i++) {
    msgpack_unpacked_destroy(&f->keep[i]);
    free(f->kept[i]);
  }
  if (f->made != NULL) {
    th_api()->buf_free(th_host(s->cl, from), f->block);
    th_api()->block_free(th_host(s->cl, from), f->made);
  }
  free(f);
  return sent;
}

/* A liar relays an honest leader's PROPOSE for view v > 0 to `to` with
 * the justification rewritten (the original goes on as well). */
static void maybe_relay(sim *s, uint32_t from, uint32_t to,
                        const msgpack_object *a, uint32_t nitems) {
  if (s->nliars == 0 || nitems != 8 || !is_tag(&a[0], TAG_PROPOSE) ||
      a[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[2].via.u64 == 0 ||
      s->role[th_validator_of(s->cl, from)] == ROLE_LIAR)
    return;
  uint32_t liar = s->liars[rnd(s) % s->nliars];
  if (liar == to || !running(s, liar) || rnd(s) % 100 >= 30)
    return;
  s->lies++;
  forge_just(s, liar, to, a, 0);
}

/* ---- the liar's rewrites ---- */

/* A vote for another block: ACK or COMMIT with a random hash, or with
 * the hash of a block another leader could propose. */
static void lie_vote(sim *s, uint32_t from, uint32_t to, msgpack_object *a,
                     const signer *sk) {
  uint8_t hash[MC_HASH_LEN], sig[MC_SIG_LEN];
  for (size_t i = 0; i < sizeof hash; i++)
    hash[i] = (uint8_t)rnd(s);
  a[3] = bin_obj(hash, sizeof hash);
  sign_parts(a[0].via.str.size == strlen(TAG_ACK) ? TAG_ACK : TAG_COMMIT,
             a[1].via.u64, a[2].via.u64, &a[3], NULL, sk, sig);
  a[5] = bin_obj(sig, sizeof sig);
  note(s, "lie node=%u to=%u vote_other_hash h=%llu v=%llu", from, to,
       (unsigned long long)a[1].via.u64, (unsigned long long)a[2].via.u64);
  inject(s, from, to, a, 6, 0);
}

/* An equivocating proposal: another block for the same (h, v), the
 * justification kept. */
static int lie_propose(sim *s, uint32_t from, uint32_t to, msgpack_object *a,
                       const signer *sk) {
  uint32_t val = th_validator_of(s->cl, from);
  if (th_height(s->cl, from) + 1 != a[1].via.u64)
    return 0;
  mc_block *b = th_make_block(s->cl, from, val, 1 + rnd(s) % 1000);
  uint8_t *bytes, sig[MC_SIG_LEN];
  size_t len;
  if (b == NULL || th_api()->encode_block(th_host(s->cl, from), b, &bytes,
                                          &len) != 0)
    abort();
  a[3] = bin_obj(b->hash, MC_HASH_LEN);
  sign_parts(TAG_PROPOSE, a[1].via.u64, a[2].via.u64, &a[3], NULL, sk, sig);
  a[5] = bin_obj(sig, sizeof sig);
  a[6] = bin_obj(bytes, len);
  /* acceptable unless the justification names another block */
  jent ents[SIM_MAX_NODES];
  uint32_t n = 0;
  int mixed = 0;
  const uint8_t *best = NULL;
  if (a[7].type == MSGPACK_OBJECT_ARRAY &&
      a[7].via.array.size <= SIM_MAX_NODES) {
    for (uint32_t i = 0; i < a[7].via.array.size; i++)
      n += jent_read(&a[7].via.array.ptr[i], &ents[n]) == 0;
    best = jent_best(ents, n, &mixed);
  }
  int refuse = mixed || (best != NULL && memcmp(best, b->hash, MC_HASH_LEN));
  note(s, "lie node=%u to=%u equivocating_propose h=%llu v=%llu%s", from, to,
       (unsigned long long)a[1].via.u64, (unsigned long long)a[2].via.u64,
       refuse ? " (lock ignored)" : "");
  inject(s, from, to, a, 8, refuse);
  th_api()->buf_free(th_host(s->cl, from), bytes);
  th_api()->block_free(th_host(s->cl, from), b);
  return 1;
}

/* Signs a VIEWCHANGE whose prepared part is a[3] (nil or a cert) and
 * sends it. */
static void send_vc(sim *s, uint32_t from, uint32_t to, msgpack_object *a,
                    const signer *sk, const char *what) {
  msgpack_object nil = {.type = MSGPACK_OBJECT_NIL}, pv = nil, ph = nil;
  uint8_t sig[MC_SIG_LEN];
  if (a[3].type == MSGPACK_OBJECT_ARRAY && a[3].via.array.size == 3) {
    pv = a[3].via.array.ptr[0];
    ph = a[3].via.array.ptr[1];
  }
  sign_parts(TAG_VC, a[1].via.u64, a[2].via.u64, &pv, &ph, sk, sig);
  a[5] = bin_obj(sig, sizeof sig);
  note(s, "lie node=%u to=%u viewchange_%s h=%llu v=%llu", from, to, what,
       (unsigned long long)a[1].via.u64, (unsigned long long)a[2].via.u64);
  inject(s, from, to, a, 7, 0);
}

/* A lying VIEWCHANGE, all correctly signed by the liar: it hides its
 * lock, replays a stale one, forges one (a real siglist relabelled to
 * another view or block, or a view not below the new one), claims a lock
 * without its block, or asks for a view far ahead. */
static void lie_viewchange(sim *s, uint32_t from, uint32_t to,
                           msgpack_object *a, const signer *sk) {
  msgpack_object nil = {.type = MSGPACK_OBJECT_NIL}, cert[3];
  uint8_t hash[MC_HASH_LEN];
  uint64_t h = a[1].via.u64, v = a[2].via.u64;
  const harvested *e = pick_harvest(s, h, v);
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  int have = e != NULL && msgpack_unpack_next(&u, (const char *)e->pcert,
                                              e->pcert_len, &off) ==
                              MSGPACK_UNPACK_SUCCESS;
  if (have)
    memcpy(cert, u.data.via.array.ptr, sizeof cert);
  switch (rnd(s) % 6) {
  case 0:
    a[3] = a[6] = nil;
    send_vc(s, from, to, a, sk, "hide_lock");
    break;
  case 1: /* a real, older certificate: allowed, and must not hurt */
    if (!have)
      break;
    a[3] = u.data;
    a[6] = bin_obj(e->block, e->block_len);
    send_vc(s, from, to, a, sk, "stale_lock");
    break;
  case 2: /* the siglist of one view claimed for a higher one */
    if (!have || e->pview + 1 >= v)
      break;
    cert[0] = uint_obj(rnd_in(s, e->pview + 1, v - 1));
    a[3].type = MSGPACK_OBJECT_ARRAY;
    a[3].via.array.ptr = cert;
    a[3].via.array.size = 3;
    a[6] = bin_obj(e->block, e->block_len);
    send_vc(s, from, to, a, sk, "forged_view");
    break;
  case 3: /* the siglist of one block claimed for another */
    if (!have)
      break;
    for (size_t i = 0; i < sizeof hash; i++)
      hash[i] = (uint8_t)rnd(s);
    cert[1] = bin_obj(hash, sizeof hash);
    a[3].type = MSGPACK_OBJECT_ARRAY;
    a[3].via.array.ptr = cert;
    a[3].via.array.size = 3;
    a[6] = nil;
    send_vc(s, from, to, a, sk, "forged_hash");
    break;
  case 4: /* a lock claimed without the block it names */
    if (!have)
      break;
    a[3] = u.data;
    a[6] = nil;
    send_vc(s, from, to, a, sk, "lock_without_block");
    break;
  default: /* ask for a view far ahead (only f can: no round skip) */
    a[2] = uint_obj(v + rnd_in(s, 1, 20));
    send_vc(s, from, to, a, sk, "jump_view");
    break;
  }
  msgpack_unpacked_destroy(&u);
}

/* Garbage, a truncated message, or the message with a broken signature. */
static void lie_bytes(sim *s, uint32_t from, uint32_t to, msgpack_object *a,
                      uint32_t nitems, const uint8_t *msg, size_t len) {
  uint8_t junk[64];
  switch (rnd(s) % 3) {
  case 0:
    for (size_t i = 0; i < sizeof junk; i++)
      junk[i] = (uint8_t)rnd(s);
    note(s, "lie node=%u to=%u garbage", from, to);
    s->injecting = 1;
    simnet_send(s->net, from, to, junk, 1 + rnd(s) % sizeof junk);
    s->injecting = 0;
    break;
  case 1:
    note(s, "lie node=%u to=%u truncated", from, to);
    s->injecting = 1;
    simnet_send(s->net, from, to, msg, rnd(s) % len);
    s->injecting = 0;
    break;
  default: {
    uint8_t sig[MC_SIG_LEN];
    memcpy(sig, a[5].via.bin.ptr, sizeof sig);
    sig[rnd(s) % sizeof sig] ^= (uint8_t)(1u << (rnd(s) % 8));
    a[5] = bin_obj(sig, sizeof sig);
    note(s, "lie node=%u to=%u bad_signature", from, to);
    inject(s, from, to, a, nitems, 0);
  }
  }
}

/* Rewrites one message of a liar for one recipient.  Returns 1 if the
 * original is still to be delivered. */
static int lie(sim *s, uint32_t from, uint32_t to, const uint8_t *msg,
               size_t len) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  msgpack_object a[8];
  uint32_t nitems = 0;
  if (msgpack_unpack_next(&u, (const char *)msg, len, &off) ==
          MSGPACK_UNPACK_SUCCESS &&
      u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size >= 6 &&
      u.data.via.array.size <= 8) {
    nitems = u.data.via.array.size;
    memcpy(a, u.data.via.array.ptr, nitems * sizeof a[0]);
  }
  const signer key = {s->cl, th_validator_of(s->cl, from)}, *sk = &key;
  int keep = 0;
  uint64_t r = rnd(s) % 4;
  if (nitems == 0) {
    keep = 1;
  } else if (r == 0) {
    lie_bytes(s, from, to, a, nitems, msg, len);
  } else if (is_tag(&a[0], TAG_ACK) || is_tag(&a[0], TAG_COMMIT)) {
    lie_vote(s, from, to, a, sk);
  } else if (is_tag(&a[0], TAG_PROPOSE)) {
    if (nitems == 8 && a[2].via.u64 > 0 && rnd(s) % 2 == 0)
      keep = !forge_just(s, from, to, a, 1);
    else
      keep = !lie_propose(s, from, to, a, sk);
  } else if (is_tag(&a[0], TAG_VC)) {
    lie_viewchange(s, from, to, a, sk);
    keep = r == 3; /* sometimes the truth as well: two VCs in one view */
  }
  msgpack_unpacked_destroy(&u);
  return keep;
}

/* What the filter remembers of every message: replayable certificates,
 * VIEWCHANGEs and blocks, and which proposals reached whom. */
static void observe(sim *s, const msgpack_object *a, uint32_t nitems) {
  harvest(s, a, nitems);
  if (nitems == 7 && is_tag(&a[0], TAG_VC)) {
    harvest_vc(s, a);
    if (a[3].type == MSGPACK_OBJECT_ARRAY && a[3].via.array.size == 3)
      harvest_block(s, &a[3].via.array.ptr[1], &a[6]);
  } else if (nitems == 8 && is_tag(&a[0], TAG_PROPOSE)) {
    harvest_block(s, &a[3], &a[6]);
  }
}

/* simnet's filter: every message sent passes here. */
static int filter(void *ctx, uint32_t from, uint32_t to, const uint8_t *msg,
                  size_t len) {
  sim *s = ctx;
  if (s->injecting)
    return 1;
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  const msgpack_object *a = NULL;
  uint32_t nitems = 0;
  int pass = 1;
  if (msgpack_unpack_next(&u, (const char *)msg, len, &off) ==
          MSGPACK_UNPACK_SUCCESS &&
      u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size > 0) {
    a = u.data.via.array.ptr;
    nitems = u.data.via.array.size;
    observe(s, a, nitems);
    check_ack(s, from, a, nitems);
    pass = !(s->cut_tag != NULL && (s->cut_to >> to & 1) &&
             is_tag(&a[0], s->cut_tag));
    if (pass)
      maybe_relay(s, from, to, a, nitems);
  }
  if (pass && s->role[th_validator_of(s->cl, from)] == ROLE_LIAR &&
      rnd(s) % 100 < 35) {
    s->lies++;
    pass = lie(s, from, to, msg, len);
  }
  msgpack_unpacked_destroy(&u);
  return pass;
}

/* ---- the host around the engines: sync, crashes, partitions ---- */

static int running(sim *s, uint32_t i) { return th_engine(s->cl, i) != NULL; }

static int honest(sim *s, uint32_t i) {
  return s->role[th_validator_of(s->cl, i)] == ROLE_HONEST;
}

/* The host's sync between nodes connected both ways. */
static void sync_all(sim *s) {
  for (uint32_t i = 0; i < s->nn; i++)
    for (uint32_t j = 0; j < s->nn; j++)
      if (i != j && running(s, i) && running(s, j) &&
          simnet_link_up(s->net, i, j) && simnet_link_up(s->net, j, i) &&
          th_height(s->cl, j) > th_height(s->cl, i)) {
        int rc = th_sync(s->cl, i, j);
        if (rc < 0 && s->trace)
          note(s, "sync node=%u from=%u refused: %s", i, j, mc_strerror(rc));
      }
}

/* Safety is broken: a fork, a bad certificate, a double vote, an honest
 * ACK of a forged justification, or an engine that cannot restart from
 * what it saved. */
static int broken(sim *s) {
  return th_forked(s->cl) || th_double_signed(s->cl) || s->restart_failed ||
         (s->forged_acked && !expect_fork);
}

/* Advances virtual time to `until`, syncing as it goes.  0, or -1 as soon
 * as safety is broken. */
static int run_to(sim *s, uint64_t until) {
  while (simnet_now(s->net) < until) {
    uint64_t next = simnet_now(s->net) + SIM_SYNC_MS;
    simnet_run_to(s->net, next < until ? next : until);
    if (simnet_now(s->net) >= s->next_sync) {
      sync_all(s);
      s->next_sync = simnet_now(s->net) + s->sync_ms;
    }
    if (broken(s))
      return -1;
  }
  return 0;
}

static void crash(sim *s, uint32_t i) {
  note(s, "crash node=%u height=%llu", i,
       (unsigned long long)th_height(s->cl, i));
  th_crash(s->cl, i);
}

static void restart(sim *s, uint32_t i) {
  int rc = th_start(s->cl, i);
  note(s, "restart node=%u height=%llu rc=%d", i,
       (unsigned long long)th_height(s->cl, i), rc);
  if (rc != 0) {
    note(s, "RESTART FAILED node=%u: %s", i, mc_strerror(rc));
    s->restart_failed = 1;
  }
}

/* ---- restores: the cases of the watch rule ---- */

/* Other validators a watching validator must hear from (n - q + f + 1,
 * docs/CONSENSUS.md). */
static uint32_t watch_need(const sim *s) { return s->n - s->q + s->f + 1; }

/* Damaged nodes still silent; one that signed since is no longer. */
static uint32_t damaged_count(sim *s) {
  uint32_t k = 0;
  for (uint32_t i = 0; i < s->nn; i++) {
    if (s->damaged[i] && running(s, i) && !th_watching(s->cl, i) &&
        th_sig_count(s->cl, i) > s->damaged_sigs[i])
      s->damaged[i] = 0;
    k += s->damaged[i];
  }
  return k;
}

/* Wiping or restoring honest node i stays within what the rule promises:
 * its watch can end (there are n - q + f + 1 others), no twin shares a
 * key (two nodes of one validator would each see the other's signatures
 * and watch), every silent node still has n - q + f + 1 others talking to
 * it (at most q - f - 1 silent at once), and q honest validators still
 * sign, as stabilise() promises when it keeps nodes down (liveness with
 * the liars' help only is not promised: seeds 5837, 19500 and 19826 had
 * two liars and two wiped validators among seven, and stalled). */
static int may_damage(sim *s, uint32_t i) {
  uint32_t silent = damaged_count(s) + 1;
  return honest(s, i) && s->ntwins == 0 && watch_need(s) <= s->n - 1 &&
         silent <= s->q - s->f - 1 &&
         silent + s->nliars + s->q <= s->n;
}

/* What a v2 state says of its signatures: hw (items 8) and resume (9).
 * No state at all means a restart that watches. */
typedef struct record_view {
  int watches;
  int hw_set;
  uint64_t hw_h, hw_v, resume;
} record_view;

static record_view read_record(const uint8_t *st, size_t len) {
  record_view r = {.watches = st == NULL};
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  if (st != NULL && msgpack_unpack_next(&u, (const char *)st, len, &off) ==
                        MSGPACK_UNPACK_SUCCESS &&
      u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size == 10) {
    const msgpack_object *a = u.data.via.array.ptr;
    if (a[8].type == MSGPACK_OBJECT_ARRAY && a[8].via.array.size == 2) {
      r.hw_set = 1;
      r.hw_h = a[8].via.array.ptr[0].via.u64;
      r.hw_v = a[8].via.array.ptr[1].via.u64;
    }
    if (a[9].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
      r.resume = a[9].via.u64;
  }
  msgpack_unpacked_destroy(&u);
  r.watches |= r.resume == UINT64_MAX;
  return r;
}

/* 1 if block b's commit certificate holds validator val's signature at
 * an (h, v) that record r knows nothing of, where the engine counts it as
 * evidence (above hw, and not below an earlier watch's end). */
static int cert_shows(const mc_block *b, uint32_t val, const record_view *r) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  int shows = 0;
  if (msgpack_unpack_next(&u, (const char *)b->cert, b->cert_len, &off) ==
          MSGPACK_UNPACK_SUCCESS &&
      u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size == 5) {
    const msgpack_object *a = u.data.via.array.ptr;
    uint64_t h = a[1].via.u64, v = a[2].via.u64;
    int above = !r->hw_set || h > r->hw_h || (h == r->hw_h && v > r->hw_v);
    for (uint32_t k = 0; k < a[4].via.array.size && above && h >= r->resume;
         k++)
      shows |= a[4].via.array.ptr[k].via.array.ptr[0].via.u64 == val;
  }
  msgpack_unpacked_destroy(&u);
  return shows;
}

/* The node that node i would sync from right after restoring its older
 * snapshot, if that restore is one the watch rule covers: the snapshot
 * watches anyway, or that node's chain holds a certificate with one of
 * i's later COMMITs.  -1 if there is no node to sync from; -2 for a
 * restore the node could not detect (which the rule does not claim to
 * cover: docs/CONSENSUS.md). */
static int old_restore_source(sim *s, uint32_t i, const th_snapinfo *si) {
  record_view r = read_record(si->state, si->state_len);
  int best = -1;
  for (uint32_t j = 0; j < s->nn; j++)
    if (j != i && running(s, j) && honest(s, j) &&
        simnet_link_up(s->net, i, j) && simnet_link_up(s->net, j, i) &&
        (best < 0 || th_height(s->cl, j) > th_height(s->cl, (uint32_t)best)))
      best = (int)j;
  if (best < 0 || r.watches)
    return best;
  for (uint64_t h = si->height + 1; h <= th_height(s->cl, (uint32_t)best);
       h++)
    if (cert_shows(th_block(s->cl, (uint32_t)best, h),
                   th_validator_of(s->cl, i), &r))
      return best;
  return -2;
}

/* Brings crashed node i back as `kind`; an old snapshot is followed at
 * once by the host's sync from node src, if any. */
static void restart_as(sim *s, uint32_t i, int kind, int src) {
  int old = kind == RESTART_OLD_NOTHING_LOST || kind == RESTART_OLD_DETECTED;
  if (kind == RESTART_WIPED)
    th_set_state(s->cl, i, NULL, 0);
  if (old) {
    th_restore_snapshot(s->cl, i);
    s->snapped[i] = 0;
  }
  s->restored_old += kind == RESTART_OLD_DETECTED;
  int rc = th_start(s->cl, i);
  note(s, "restart node=%u height=%llu kind=%s rc=%d", i,
       (unsigned long long)th_height(s->cl, i), RESTART_NAMES[kind], rc);
  if (rc != 0) {
    note(s, "RESTART FAILED node=%u: %s", i, mc_strerror(rc));
    s->restart_failed = 1;
    return;
  }
  if (old && src >= 0)
    note(s, "sync node=%u from=%d applied=%d", i, src,
         th_sync(s->cl, i, (uint32_t)src));
  if (kind == RESTART_WIPED || kind == RESTART_OLD_DETECTED) {
    s->damaged[i] = 1;
    s->damaged_sigs[i] = th_sig_count(s->cl, i);
  }
  s->restarts[kind]++;
}

/* Which kind of older-snapshot restore of node i the simulation can run
 * (and the node to sync from), or RESTART_PLAIN for none.  One that loses
 * votes makes the node one of the f faulty validators (its old messages
 * can mislead another's watch) and must be detectable. */
static int old_restore_kind(sim *s, uint32_t i, int *src) {
  th_snapinfo si;
  if (!s->snapped[i] || !th_snapshot_info(s->cl, i, &si))
    return RESTART_PLAIN;
  if (th_sig_count(s->cl, i) == si.nsigs) {
    *src = -1;
    return RESTART_OLD_NOTHING_LOST;
  }
  if (!may_damage(s, i) || s->nliars + s->ntwins + s->restored_old + 1 > s->f)
    return RESTART_PLAIN;
  *src = old_restore_source(s, i, &si);
  s->old_undetectable += *src == -2;
  return *src >= 0 ? RESTART_OLD_DETECTED : RESTART_PLAIN;
}

/* A fault-phase restart: plain, wiped or from an older snapshot. */
static void restart_some_way(sim *s, uint32_t i) {
  uint64_t r = rnd(s) % 100;
  int kind = r < 60 ? RESTART_PLAIN : r < 75 ? RESTART_WIPED : -1;
  int src = -1;
  if (kind == RESTART_WIPED && !may_damage(s, i))
    kind = RESTART_PLAIN;
  if (kind < 0)
    kind = old_restore_kind(s, i, &src);
  restart_as(s, i, kind, src);
}

static void heal(sim *s) {
  for (uint32_t i = 0; i < s->nn; i++)
    simnet_isolate(s->net, i, 0);
  s->cut_tag = NULL;
}

static void kind_cut(sim *s) {
  static const char *const *const tags[] = {&TAG_COMMIT, &TAG_COMMIT,
                                            &TAG_ACK, &TAG_PROPOSE, &TAG_VC};
  s->cut_tag = *tags[rnd(s) % 5];
  s->cut_to = (uint32_t)rnd(s) & ((1u << s->nn) - 1);
  note(s, "cut %s to nodes 0x%x", s->cut_tag, s->cut_to);
}

static void random_faults(sim *s) {
  simnet_faults f = {.drop_pct = (unsigned)rnd_in(s, 0, 40),
                     .dup_pct = (unsigned)rnd_in(s, 0, 20),
                     .delay_min_ms = rnd_in(s, 1, 10)};
  f.delay_max_ms = f.delay_min_ms + rnd_in(s, 0, 250);
  note(s, "faults drop=%u%% dup=%u%% delay=%llu..%llu", f.drop_pct, f.dup_pct,
       (unsigned long long)f.delay_min_ms, (unsigned long long)f.delay_max_ms);
  simnet_set_faults(s->net, &f);
}

static void partition(sim *s) {
  uint32_t side = 0;
  char desc[SIM_MAX_NODES + 1];
  for (uint32_t i = 0; i < s->nn; i++) {
    side |= (uint32_t)(rnd(s) & 1) << i;
    desc[i] = side >> i & 1 ? 'B' : 'A';
  }
  desc[s->nn] = 0;
  heal(s);
  for (uint32_t i = 0; i < s->nn; i++)
    for (uint32_t j = 0; j < s->nn; j++)
      if ((side >> i & 1) != (side >> j & 1))
        simnet_set_link(s->net, i, j, 0);
  note(s, "partition %s", desc);
}

/* Now and then copies an honest node's chain and state, as a backup
 * would: an older snapshot to restore later.  A snapshot is kept until it
 * is restored, so it grows old. */
static void take_snapshots(sim *s) {
  for (uint32_t j = 0; j < s->nn; j++)
    if (rnd(s) % 3 == 0 && running(s, j) && honest(s, j) && !s->snapped[j]) {
      th_snapshot(s->cl, j);
      s->snapped[j] = 1;
      note(s, "snapshot node=%u height=%llu", j,
           (unsigned long long)th_height(s->cl, j));
    }
}

/* One random fault-phase event. */
static void fault_event(sim *s) {
  uint32_t i = (uint32_t)(rnd(s) % s->nn), j = (uint32_t)(rnd(s) % s->nn);
  take_snapshots(s);
  switch (rnd(s) % 11) {
  case 0:
  case 1:
    random_faults(s);
    break;
  case 10:
    kind_cut(s);
    break;
  case 2:
    partition(s);
    break;
  case 3:
    heal(s);
    note(s, "heal");
    break;
  case 4:
    if (i != j) {
      int up = !simnet_link_up(s->net, i, j);
      simnet_set_link(s->net, i, j, up);
      note(s, "link %u->%u %s", i, j, up ? "up" : "down");
    }
    break;
  case 5:
  case 6:
    if (running(s, i))
      crash(s, i);
    break;
  default:
    if (!running(s, i))
      restart_some_way(s, i);
    break;
  }
}

/* ---- one schedule ---- */

static void setup(sim *s, uint64_t seed, uint32_t force_n) {
  static const uint32_t sizes[] = {4, 4, 4, 4, 4, 4, 1, 3, 7, 7};
  s->seed = seed;
  s->rng = seed * 0x9e3779b97f4a7c15ull ^ 0x5eed5eed5eed5eedull;
  if (s->rng == 0)
    s->rng = 1;
  s->n = force_n ? force_n : sizes[rnd(s) % 10];
  s->sync_ms = rnd_in(s, SIM_SYNC_MS, SIM_SYNC_MAX_MS);
  s->f = (s->n - 1) / 3;
  s->q = (s->n + s->f + 2) / 2;
  uint32_t twin_of[SIM_MAX_NODES], ntwins = 0;
  uint32_t byz = (uint32_t)rnd_in(s, 0, s->f);
  for (uint32_t k = 0; k < byz; k++) {
    uint32_t v;
    do
      v = (uint32_t)(rnd(s) % s->n);
    while (s->role[v] != ROLE_HONEST);
    s->role[v] = rnd(s) & 1 ? ROLE_TWIN : ROLE_LIAR;
    if (s->role[v] == ROLE_TWIN)
      twin_of[ntwins++] = v;
    else
      s->liars[s->nliars++] = v;
  }
  s->ntwins = ntwins;
  s->cl = th_new_twins(plugin_path, s->n, twin_of, ntwins, seed, SIM_INTERVAL_MS,
                       SIM_TIMEOUT_MS);
}

/* Logs where every running engine is (height, view, leader). */
static void note_status(sim *s) {
  for (uint32_t i = 0; i < s->nn; i++) {
    mc_consensus_status st;
    mc_consensus *e = th_engine(s->cl, i);
    if (e != NULL && th_vtable(s->cl)->status != NULL &&
        th_vtable(s->cl)->status(e, &st) == 0)
      note(s, "status node=%u committed=%llu deciding=%llu view=%llu "
              "leader=%d", i, (unsigned long long)th_height(s->cl, i),
           (unsigned long long)st.height, (unsigned long long)st.view,
           st.leader);
  }
}

/* Stabilisation: heal, stop faults, keep at most n - byz - q honest
 * validators down (none while a wiped or restored node is still silent:
 * it must hear from n - q + f + 1 others), start every other node; then
 * every honest node that is up must commit SIM_PROGRESS more heights.
 * 0 or -1. */
static int stabilise(sim *s) {
  uint32_t byz = 0;
  for (uint32_t v = 0; v < s->n; v++)
    byz += s->role[v] != ROLE_HONEST;
  uint32_t keep_down = (uint32_t)rnd_in(s, 0, s->n - byz - s->q);
  if (damaged_count(s) > 0)
    keep_down = 0;
  heal(s);
  simnet_set_faults(s->net, &(simnet_faults){0, 0, 1, 10});
  note(s, "stabilise keep_down=%u", keep_down);
  for (uint32_t i = 0; i < s->nn; i++) {
    int down = honest(s, i) && keep_down > 0 && rnd(s) % 2 == 0;
    keep_down -= (uint32_t)down;
    if (down && running(s, i))
      crash(s, i);
    else if (!down && !running(s, i))
      restart(s, i);
  }
  if (broken(s))
    return -1;
  sync_all(s);
  uint64_t goal = 0;
  for (uint32_t i = 0; i < s->nn; i++)
    if (honest(s, i) && running(s, i) && th_height(s->cl, i) > goal)
      goal = th_height(s->cl, i);
  goal += SIM_PROGRESS;
  uint64_t start = simnet_now(s->net), deadline = start + SIM_LIVE_MS;
  for (;;) {
    uint64_t low = UINT64_MAX;
    for (uint32_t i = 0; i < s->nn; i++)
      if (honest(s, i) && running(s, i) && th_height(s->cl, i) < low)
        low = th_height(s->cl, i);
    if (low >= goal) {
      note(s, "progress to height %llu in %llu ms", (unsigned long long)goal,
           (unsigned long long)(simnet_now(s->net) - start));
      return 0;
    }
    if (simnet_now(s->net) >= deadline) {
      note(s, "NO PROGRESS: honest nodes at %llu, goal %llu",
           (unsigned long long)low, (unsigned long long)goal);
      note_status(s);
      return -1;
    }
    if (run_to(s, simnet_now(s->net) + SIM_SYNC_MS) != 0)
      return -1;
  }
}

typedef struct outcome {
  int safe, live, forked, double_signed, forged_acked;
  uint64_t heights, lies, jlies[J_MODES];
  uint64_t restarts[RESTART_KINDS], old_undetectable;
  uint64_t watches, watch_ends, own_unknown; /* engines' watch events */
} outcome;

static outcome run_schedule(uint64_t seed, uint32_t force_n, int trace) {
  sim s = {.trace = trace};
  outcome o = {.safe = 1, .live = 1};
  setup(&s, seed, force_n);
  if (s.cl == NULL)
    abort();
  s.net = th_net(s.cl);
  s.nn = th_nodes(s.cl);
  th_set_verbose(s.cl, trace ? 1 : -1); /* the event log says what failed */
  simnet_set_filter(s.net, filter, &s);
  note(&s, "schedule seed=%llu n=%u f=%u q=%u nodes=%u sync=%llums",
       (unsigned long long)seed, s.n, s.f, s.q, s.nn,
       (unsigned long long)s.sync_ms);
  for (uint32_t v = 0; v < s.n; v++)
    if (s.role[v] != ROLE_HONEST)
      note(&s, "validator %u is a %s", v,
           s.role[v] == ROLE_TWIN ? "twin" : "liar");
  for (uint32_t i = 0; i < s.nn; i++)
    restart(&s, i);
  uint64_t end = rnd_in(&s, 300, 5000);
  int rc = broken(&s) ? -1 : 0;
  while (rc == 0 && simnet_now(s.net) < end) {
    rc = run_to(&s, simnet_now(s.net) + rnd_in(&s, 10, 400));
    if (rc == 0)
      fault_event(&s);
    if (broken(&s))
      rc = -1;
  }
  if (rc == 0 && stabilise(&s) != 0)
    o.live = broken(&s) ? 1 : 0;
  o.safe = !broken(&s);
  o.forked = th_forked(s.cl) || th_double_signed(s.cl);
  o.double_signed = th_double_signed(s.cl);
  o.forged_acked = s.forged_acked;
  memcpy(o.restarts, s.restarts, sizeof o.restarts);
  o.old_undetectable = s.old_undetectable;
  for (uint32_t i = 0; i < s.nn; i++) {
    o.watches += th_events(s.cl, i, TH_EV_WATCHING);
    o.watch_ends += th_events(s.cl, i, TH_EV_WATCH_ENDED);
    o.own_unknown += th_events(s.cl, i, TH_EV_OWN_SIGNATURE_UNKNOWN);
  }
  memcpy(o.jlies, s.jlies, sizeof o.jlies);
  for (uint32_t i = 0; i < s.nn; i++)
    if (th_height(s.cl, i) > o.heights)
      o.heights = th_height(s.cl, i);
  o.lies = s.lies;
  if ((!o.safe || !o.live) && !trace)
    fprintf(stderr, "---- seed %llu: %s; event log:\n%s---- replay: sim "
                    "--plugin %s --seed %llu --trace\n",
            (unsigned long long)seed, o.safe ? "NO PROGRESS" : "SAFETY BROKEN",
            s.log, plugin_path, (unsigned long long)seed);
  th_free(s.cl);
  for (int i = 0; i < SIM_HARVEST; i++)
    harvest_free(&s.pool[i]);
  for (int i = 0; i < SIM_VC_POOL; i++)
    free(s.vcs[i].wire);
  for (int i = 0; i < SIM_BLOCK_POOL; i++)
    free(s.blocks[i].bytes);
  free(s.forged);
  free(s.log);
  return o;
}

/* ---- the command line ---- */

static void usage(void) {
  fprintf(stderr,
          "usage: sim --plugin PATH [--schedules N] [--seconds S]\n"
          "           [--first-seed S] [--n N]\n"
          "           [--expect-fork | --expect-double-sign]\n"
          "       sim --plugin PATH --seed S [--trace]\n"
          "  Runs N random schedules (seeds S, S+1, ...; default 1000 from\n"
          "  seed 1), stopping early after S seconds of wall time.  Exit 0\n"
          "  if every schedule was safe and made progress; with\n"
          "  --expect-fork, exit 0 only if some schedule was unsafe (a fork\n"
          "  or a double vote), with --expect-double-sign only if some node\n"
          "  signed two hashes for one (kind, height, view).\n");
}

static int parse_u64(const char *arg, const char *val, uint64_t *out) {
  char *end;
  if (val == NULL || *val == 0 || *val == '-') {
    fprintf(stderr, "sim: %s needs a number\n", arg);
    return -1;
  }
  *out = strtoull(val, &end, 10);
  if (*end != 0) {
    fprintf(stderr, "sim: %s: not a number: %s\n", arg, val);
    return -1;
  }
  return 0;
}

enum { EXPECT_NOTHING, EXPECT_UNSAFE, EXPECT_DOUBLE_SIGN };

typedef struct options {
  uint64_t schedules, seconds, first, n;
  int single, trace, expect, keep_going;
} options;

static int parse_args(int argc, char **argv, options *o) {
  *o = (options){.schedules = 1000, .seconds = 0, .first = 1};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int rc = 0;
    if (strcmp(a, "--plugin") == 0 && v != NULL)
      plugin_path = argv[++i];
    else if (strcmp(a, "--schedules") == 0)
      rc = parse_u64(a, v, &o->schedules), i++;
    else if (strcmp(a, "--seconds") == 0)
      rc = parse_u64(a, v, &o->seconds), i++;
    else if (strcmp(a, "--first-seed") == 0)
      rc = parse_u64(a, v, &o->first), i++;
    else if (strcmp(a, "--seed") == 0)
      rc = parse_u64(a, v, &o->first), i++, o->single = 1;
    else if (strcmp(a, "--n") == 0)
      rc = parse_u64(a, v, &o->n), i++;
    else if (strcmp(a, "--trace") == 0)
      o->trace = 1;
    else if (strcmp(a, "--expect-fork") == 0)
      o->expect = EXPECT_UNSAFE;
    else if (strcmp(a, "--expect-double-sign") == 0)
      o->expect = EXPECT_DOUBLE_SIGN;
    else if (strcmp(a, "--keep-going") == 0)
      o->keep_going = 1;
    else {
      fprintf(stderr, "sim: unknown or incomplete argument: %s\n", a);
      return -1;
    }
    if (rc != 0)
      return -1;
  }
  if (plugin_path == NULL) {
    fprintf(stderr, "sim: --plugin PATH is required\n");
    return -1;
  }
  if (o->n > SIM_MAX_NODES / 2 || (o->n != 0 && o->n < 1)) {
    fprintf(stderr, "sim: --n must be 1..%d\n", SIM_MAX_NODES / 2);
    return -1;
  }
  if (o->single)
    o->schedules = 1;
  return 0;
}

static double wall_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What a run adds up to. */
typedef struct totals {
  uint64_t ran, unsafe, stuck, heights, lies, forged_acked, double_signed;
  uint64_t first_unsafe, first_forged, first_double;
  uint64_t jlies[J_MODES];
  uint64_t restarts[RESTART_KINDS], with_kind[RESTART_KINDS];
  uint64_t old_undetectable, watches, watch_ends, own_unknown;
} totals;

static void add_outcome(totals *t, uint64_t seed, const outcome *r) {
  t->ran++;
  t->heights += r->heights;
  t->lies += r->lies;
  for (int k = 0; k < J_MODES; k++)
    t->jlies[k] += r->jlies[k];
  for (int k = 0; k < RESTART_KINDS; k++) {
    t->restarts[k] += r->restarts[k];
    t->with_kind[k] += r->restarts[k] > 0;
  }
  t->old_undetectable += r->old_undetectable;
  t->watches += r->watches;
  t->watch_ends += r->watch_ends;
  t->own_unknown += r->own_unknown;
  if (r->forged_acked && t->forged_acked++ == 0)
    t->first_forged = seed;
  if (!r->safe && t->unsafe++ == 0)
    t->first_unsafe = seed;
  if (r->double_signed && t->double_signed++ == 0)
    t->first_double = seed;
  t->stuck += !r->live;
}

static void print_totals(const totals *t, const options *o, double secs) {
  printf("sim: %llu schedules (seeds %llu..%llu) in %.1f s: %llu unsafe, "
         "%llu without progress; %llu heights committed, %llu lies told\n",
         (unsigned long long)t->ran, (unsigned long long)o->first,
         (unsigned long long)(o->first + t->ran - 1), secs,
         (unsigned long long)t->unsafe, (unsigned long long)t->stuck,
         (unsigned long long)t->heights, (unsigned long long)t->lies);
  printf("sim: forged justifications sent:");
  for (int k = 0; k < J_MODES; k++)
    printf(" %s=%llu", J_NAMES[k], (unsigned long long)t->jlies[k]);
  printf("; ACKed by an honest validator in %llu schedules",
         (unsigned long long)t->forged_acked);
  if (t->forged_acked > 0)
    printf(" (first: seed %llu)", (unsigned long long)t->first_forged);
  printf("\nsim: restarts:");
  for (int k = 0; k < RESTART_KINDS; k++)
    printf(" %s=%llu (in %llu schedules)", RESTART_NAMES[k],
           (unsigned long long)t->restarts[k],
           (unsigned long long)t->with_kind[k]);
  printf("; old snapshots not restored, undetectable: %llu; watches "
         "started %llu, ended %llu, own_signature_unknown %llu\n",
         (unsigned long long)t->old_undetectable,
         (unsigned long long)t->watches, (unsigned long long)t->watch_ends,
         (unsigned long long)t->own_unknown);
  printf("sim: schedules with a double vote: %llu", 
         (unsigned long long)t->double_signed);
  if (t->double_signed > 0)
    printf(" (first: seed %llu)", (unsigned long long)t->first_double);
  printf("\n");
}

/* The exit status: 0 if the run showed what was expected of it. */
static int verdict(const totals *t, const options *o) {
  uint64_t found = o->expect == EXPECT_DOUBLE_SIGN ? t->double_signed
                                                   : t->unsafe;
  if (o->expect == EXPECT_NOTHING)
    return t->unsafe == 0 && t->stuck == 0 ? 0 : 1;
  const char *what = o->expect == EXPECT_DOUBLE_SIGN ? "a double vote"
                                                     : "a fork";
  if (found > 0)
    printf("sim: %s found as expected at seed %llu\n", what,
           (unsigned long long)(o->expect == EXPECT_DOUBLE_SIGN
                                    ? t->first_double
                                    : t->first_unsafe));
  else
    printf("sim: expected %s and found none\n", what);
  return found > 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  options o;
  if (parse_args(argc, argv, &o) != 0) {
    usage();
    return 2;
  }
  /* the plugin must load before any schedule (th_new says why not) */
  th_cluster *probe = th_new(plugin_path, 1, 0, SIM_INTERVAL_MS,
                             SIM_TIMEOUT_MS);
  if (probe == NULL)
    return 2;
  th_free(probe);
  double t0 = wall_seconds();
  totals t = {0};
  expect_fork = o.expect != EXPECT_NOTHING;
  for (uint64_t seed = o.first; t.ran < o.schedules; seed++) {
    if (o.seconds != 0 && wall_seconds() - t0 >= (double)o.seconds)
      break;
    outcome r = run_schedule(seed, (uint32_t)o.n, o.trace);
    add_outcome(&t, seed, &r);
    int hit = o.expect == EXPECT_DOUBLE_SIGN ? r.double_signed
              : o.expect == EXPECT_UNSAFE    ? !r.safe
                                             : 0;
    if (hit && !o.keep_going)
      break;
  }
  print_totals(&t, &o, wall_seconds() - t0);
  return verdict(&t, &o);
}
