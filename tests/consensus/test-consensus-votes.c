/*
 * test-consensus-votes.c - votes are never unsafe (docs/CONSENSUS.md,
 * "Durable state" and "The watch rule"): a signature names its chain, so
 * a vote of one chain is refused by another with the same keys; a vote
 * whose save failed is neither sent nor kept, and a validator whose saves
 * fail signs nothing until one works again; the saved high-water mark
 * covers every signature before it leaves the node; and the watch rule: a
 * validator without trustworthy state (wiped, restored from an older copy,
 * or its key running elsewhere) signs nothing until it cannot contradict
 * an earlier vote of its own.
 *
 * Usage: test-consensus-votes PATH/TO/poa.so
 */
#include <msgpack.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "minichain/error.h"
#include "testhost.h"
#include "testmsg.h"

static const char *plugin_path;

#define INTERVAL_MS 50
#define TIMEOUT_MS 500

/* n validators of the chain named `chain`, all started as new. */
static th_cluster *cluster_on(const char *chain, uint32_t n, uint64_t seed) {
  th_cluster *cl = th_new(plugin_path, n, seed, INTERVAL_MS, TIMEOUT_MS);
  assert_non_null(cl);
  th_set_chain(cl, chain);
  for (uint32_t i = 0; i < n; i++)
    assert_int_equal(th_start(cl, i), 0);
  return cl;
}

static th_cluster *cluster(uint32_t n, uint64_t seed) {
  return cluster_on("testhost-genesis", n, seed);
}

/* Node 0 of four, the only one running: what it does is all there is. */
static th_cluster *alone(uint64_t seed) {
  th_cluster *cl = th_new(plugin_path, 4, seed, INTERVAL_MS, TIMEOUT_MS);
  assert_non_null(cl);
  assert_int_equal(th_start(cl, 0), 0);
  return cl;
}

static void run_for(th_cluster *cl, uint64_t ms) {
  simnet_run_to(th_net(cl), simnet_now(th_net(cl)) + ms);
}

static uint64_t view_of(th_cluster *cl, uint32_t i) {
  mc_consensus_status st;
  assert_int_equal(th_vtable(cl)->status(th_engine(cl, i), &st), 0);
  return st.view;
}

/* ---- the chain a signature names ---- */

/* Validator `val`'s ACK for (1, 0, hash), signed on `on`'s chain, handed
 * to node 0 of `to`. */
static int deliver_ack(th_cluster *to, th_cluster *on, uint32_t val,
                       const uint8_t *hash) {
  uint8_t sig[MC_SIG_LEN];
  out_buf o;
  sign_vote(on, val, "mc-poa-ack-v1", 1, 0, hash, sig);
  pack_vote(&o, "mc-poa-ack-v1", 1, 0, hash, val, sig);
  return deliver_out(to, 0, val, &o);
}

/* A VIEWCHANGE for (1, 1) without a lock by `val`, signed on `on`'s
 * chain, handed to node 0 of `to`. */
static int deliver_vc(th_cluster *to, th_cluster *on, uint32_t val) {
  out_buf o;
  pack_plain_vc(on, &o, val, 1, 1);
  return deliver_out(to, 0, val, &o);
}

/*
 * Chains A and B have the same four validator keys.  Neither a lock-free
 * VIEWCHANGE nor an ACK names a chain in its poa signing bytes, so only
 * the host's consensus domain (whose signed bytes hold the genesis hash)
 * tells A's votes from B's.  Node 0 of B refuses A's with MC_ESIG and
 * they change nothing; B's own, as a control, have their effect.
 */
static void votes_of_another_chain_refused(void **state) {
  (void)state;
  th_cluster *a = cluster_on("chain A", 4, 40);
  th_cluster *b = cluster_on("chain B", 4, 41);
  sent_log sent = {.node = 0};
  simnet_set_filter(th_net(b), sent_log_filter, &sent);
  /* ACKs: node 0 ACKs leader 1's proposal X; two more make q = 3. */
  mc_block *x = th_make_block(b, 0, 1, 0);
  out_buf o;
  pack_propose(b, &o, 1, x);
  assert_int_equal(deliver_out(b, 0, 1, &o), 0);
  assert_int_equal(sent.count[K_ACK], 3); /* to each of the three others */
  for (uint32_t v = 2; v <= 3; v++)
    assert_int_equal(deliver_ack(b, a, v, x->hash), MC_ESIG);
  assert_int_equal(sent.count[K_COMMIT], 0);
  for (uint32_t v = 2; v <= 3; v++)
    assert_int_equal(deliver_ack(b, b, v, x->hash), 0);
  assert_true(sent.count[K_COMMIT] > 0); /* prepared: it COMMITs */
  /* VIEWCHANGEs: f + 1 = 2 of them above our view make a round skip. */
  for (uint32_t v = 1; v <= 2; v++)
    assert_int_equal(deliver_vc(b, a, v), MC_ESIG);
  assert_int_equal(view_of(b, 0), 0);
  assert_int_equal(sent.count[K_VIEWCHANGE], 0);
  for (uint32_t v = 1; v <= 2; v++)
    assert_int_equal(deliver_vc(b, b, v), 0);
  assert_int_equal(view_of(b, 0), 1);
  assert_true(sent.count[K_VIEWCHANGE] > 0);
  /* and A's votes are good on A */
  assert_int_equal(deliver_vc(a, a, 1), 0);
  th_api()->block_free(th_host(b, 0), x);
  sent_log_free(&sent);
  th_free(a);
  th_free(b);
}

/* ---- a vote whose save failed is neither sent nor kept ---- */

/* 1 if `node` sent one of the signatures its engines asked for as
 * signatures [from, to) (th_sig). */
static int sent_any_of(th_cluster *cl, uint32_t node, const sent_log *l,
                       size_t from, size_t to) {
  for (size_t i = 0; i < l->n; i++)
    for (size_t k = from; k < to; k++)
      if (memcmp(l->m[i].sig, th_sig(cl, node, k)->sig, MC_SIG_LEN) == 0)
        return 1;
  return 0;
}

static void assert_agree(th_cluster *cl, uint32_t nodes, uint64_t upto) {
  for (uint64_t h = 1; h <= upto; h++)
    for (uint32_t i = 1; i < nodes; i++)
      assert_memory_equal(th_block(cl, 0, h)->hash, th_block(cl, i, h)->hash,
                          MC_HASH_LEN);
}

/*
 * Validator 1's disk fails for twelve heights (three of which it leads):
 * it signs one vote, cannot save it, and from then on signs and sends
 * nothing at all while the other three keep committing and it follows
 * them.  When its disk works again it resumes at the next height, and the
 * vote it signed but could not save never reaches the wire.
 */
static void failing_saves_silence_a_validator(void **state) {
  (void)state;
  th_cluster *cl = cluster(4, 50);
  assert_true(th_run_until_height(cl, 3, 10000));
  sent_log sent = {.node = 1};
  simnet_set_filter(th_net(cl), sent_log_filter, &sent);
  th_fail_saves(cl, 1, TH_FAIL_ALWAYS);
  size_t before = th_sig_count(cl, 1);
  uint64_t h = th_height(cl, 0);
  assert_true(th_run_until_height(cl, h + 12, 120000));
  assert_int_equal(sent_total(&sent), 0);
  size_t failed = th_sig_count(cl, 1);
  assert_int_equal(failed - before, 1); /* one vote tried, then none */
  assert_true(th_height(cl, 1) >= h + 12);
  assert_int_equal(th_events(cl, 1, TH_EV_SIGNING_STOPPED), 1);
  th_fail_saves(cl, 1, 0);
  h = th_height(cl, 0);
  assert_true(th_run_until_height(cl, h + 12, 120000));
  assert_int_equal(th_events(cl, 1, TH_EV_SIGNING_RESUMED), 1);
  assert_true(sent.count[K_PROPOSE] > 0);
  assert_true(sent.count[K_ACK] > 0);
  assert_true(sent.count[K_COMMIT] > 0);
  assert_false(sent_any_of(cl, 1, &sent, before, failed));
  assert_agree(cl, 4, h + 12);
  assert_false(th_forked(cl));
  assert_false(th_double_signed(cl));
  sent_log_free(&sent);
  th_free(cl);
}

/*
 * Node 0 ACKs W, then gets the two ACKs that prepare it; its lock and
 * COMMIT cannot be saved.  Nothing is sent, and nothing is kept: at the
 * round timeout the save works again, and node 0 asks for view 1 without
 * a lock and never sends that COMMIT (the engine used to keep both in
 * memory, re-send the COMMIT at the timeout and carry the lock).
 */
static void unsaved_commit_never_sent(void **state) {
  (void)state;
  th_cluster *cl = alone(51);
  sent_log sent = {.node = 0};
  simnet_set_filter(th_net(cl), sent_log_filter, &sent);
  mc_block *w = th_make_block(cl, 0, 1, 0);
  out_buf o;
  pack_propose(cl, &o, 1, w);
  assert_int_equal(deliver_out(cl, 0, 1, &o), 0);
  assert_int_equal(sent.count[K_ACK], 3);
  th_fail_saves(cl, 0, 1); /* the next save: the lock and the COMMIT */
  size_t before = th_sig_count(cl, 0);
  for (uint32_t v = 1; v <= 2; v++)
    assert_int_equal(deliver_ack(cl, cl, v, w->hash), 0);
  assert_int_equal(th_sig_count(cl, 0), before + 1);
  assert_int_equal(th_sig(cl, 0, before)->kind, TH_SIG_COMMIT);
  assert_int_equal(sent.count[K_COMMIT], 0);
  run_for(cl, TIMEOUT_MS + INTERVAL_MS + 1); /* view 0's round timeout */
  assert_true(sent.count[K_VIEWCHANGE] > 0);
  assert_int_equal(sent.count[K_COMMIT], 0);
  assert_false(sent_any_of(cl, 0, &sent, before, before + 1));
  for (size_t i = 0; i < sent.n; i++)
    assert_false(sent.m[i].kind == K_VIEWCHANGE && sent.m[i].locked);
  assert_int_equal(th_events(cl, 0, TH_EV_SIGNING_STOPPED), 1);
  assert_int_equal(th_events(cl, 0, TH_EV_SIGNING_RESUMED), 1);
  assert_false(th_double_signed(cl));
  th_api()->block_free(th_host(cl, 0), w);
  sent_log_free(&sent);
  th_free(cl);
}

/*
 * Node 0 times out alone with a failing disk: its VIEWCHANGE for view 1
 * cannot be saved, so it is never signed, and the resend ticks send
 * nothing either (the engine used to keep it marked as sent and re-send
 * it).  When the disk works, the next resend tick saves and sends it.
 */
static void unsaved_viewchange_never_sent(void **state) {
  (void)state;
  th_cluster *cl = alone(52);
  sent_log sent = {.node = 0};
  simnet_set_filter(th_net(cl), sent_log_filter, &sent);
  th_fail_saves(cl, 0, TH_FAIL_ALWAYS);
  run_for(cl, 10 * TIMEOUT_MS);
  assert_int_equal(view_of(cl, 0), 1);
  assert_int_equal(sent_total(&sent), 0);
  assert_int_equal(th_sig_count(cl, 0), 0);
  assert_int_equal(th_events(cl, 0, TH_EV_SIGNING_STOPPED), 1);
  th_fail_saves(cl, 0, 0);
  run_for(cl, TIMEOUT_MS + 1);
  assert_int_equal(th_events(cl, 0, TH_EV_SIGNING_RESUMED), 1);
  assert_true(sent.count[K_VIEWCHANGE] > 0);
  assert_int_equal(sent.m[0].v, 1);
  sent_log_free(&sent);
  th_free(cl);
}

/* ---- the high-water mark ---- */

/* (h, v) as one comparable number: views here stay far below 2^20. */
static uint64_t hv(uint64_t h, uint64_t v) {
  assert_true(v < (1u << 20));
  return h << 20 | v;
}

/* A saved v2 state as the tests read it (docs/CONSENSUS.md). */
typedef struct saved_view {
  uint64_t height, view;
  int ack_set;
  uint64_t ack_view;
  uint8_t ack_hash[MC_HASH_LEN];
  uint64_t hw;     /* hv(), 0 when nil */
  uint64_t resume; /* 0 when nil */
} saved_view;

/* Parses a v2 state; fails the test on anything else. */
static saved_view parse_saved(const uint8_t *p, size_t len) {
  saved_view r = {0};
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  assert_non_null(p);
  assert_int_equal(msgpack_unpack_next(&u, (const char *)p, len, &off),
                   MSGPACK_UNPACK_SUCCESS);
  const msgpack_object *a = u.data.via.array.ptr;
  assert_true(u.data.type == MSGPACK_OBJECT_ARRAY &&
              u.data.via.array.size == 10);
  assert_int_equal(a[0].via.str.size, strlen("mc-poa-state-v2"));
  assert_memory_equal(a[0].via.str.ptr, "mc-poa-state-v2", 15);
  r.height = a[1].via.u64;
  r.view = a[2].via.u64;
  if (a[4].type == MSGPACK_OBJECT_ARRAY) {
    r.ack_set = 1;
    r.ack_view = a[4].via.array.ptr[0].via.u64;
    memcpy(r.ack_hash, a[4].via.array.ptr[1].via.bin.ptr, MC_HASH_LEN);
  }
  if (a[8].type != MSGPACK_OBJECT_NIL)
    r.hw = hv(a[8].via.array.ptr[0].via.u64, a[8].via.array.ptr[1].via.u64);
  if (a[9].type != MSGPACK_OBJECT_NIL)
    r.resume = a[9].via.u64;
  msgpack_unpacked_destroy(&u);
  return r;
}

static saved_view saved_of(th_cluster *cl, uint32_t i) {
  size_t len;
  const uint8_t *p = th_state(cl, i, &len);
  return parse_saved(p, len);
}

typedef struct hw_watch {
  th_cluster *cl;
  uint64_t last[4]; /* each node's saved hw as last seen */
  uint64_t checked;
} hw_watch;

/* On every message a node sends: its saved hw covers the message's
 * (height, view), and has not gone down since the last one. */
static int hw_filter(void *arg, uint32_t from, uint32_t to, const uint8_t *msg,
                     size_t len) {
  hw_watch *w = arg;
  char tag[32];
  uint64_t h, v;
  size_t slen;
  (void)to;
  const uint8_t *st = th_state(w->cl, from, &slen);
  if (!peek(msg, len, tag, sizeof tag, &h, &v))
    return 1;
  uint64_t hw = parse_saved(st, slen).hw;
  assert_true(hv(h, v) <= hw);
  assert_true(hw >= w->last[from]);
  w->last[from] = hw;
  w->checked++;
  return 1;
}

/*
 * Four validators through reordered messages, a crashed leader (view
 * changes) and its restart: every message leaves a node only after a saved hw at
 * or above its (height, view), commits never lower it, and in the end it
 * is exactly the highest (height, view) the node ever signed at.
 */
static void hw_saved_before_signatures_leave(void **state) {
  (void)state;
  th_cluster *cl = cluster(4, 53);
  hw_watch w = {.cl = cl};
  simnet_set_filter(th_net(cl), hw_filter, &w);
  simnet_set_faults(th_net(cl), &(simnet_faults){0, 10, 1, 80});
  assert_true(th_run_until_height(cl, 3, 60000));
  th_crash(cl, 0); /* leads height 4 */
  assert_true(th_run_until_height(cl, 8, 120000));
  assert_int_equal(th_start(cl, 0), 0);
  assert_true(th_sync(cl, 0, 1) > 0); /* the host catches it up */
  assert_true(th_run_until_height(cl, 14, 120000));
  assert_true(w.checked > 100);
  for (uint32_t i = 0; i < 4; i++) {
    uint64_t top = 0;
    for (size_t k = 0; k < th_sig_count(cl, i); k++) {
      const th_sigrec *r = th_sig(cl, i, k);
      if (hv(r->h, r->v) > top)
        top = hv(r->h, r->v);
    }
    assert_int_equal(saved_of(cl, i).hw, top);
  }
  assert_true(th_events(cl, 1, TH_EV_VIEW_CHANGE) > 0);
  assert_false(th_double_signed(cl));
  th_free(cl);
}

/* ---- the watch rule ---- */

#define WATCHING_SAVED UINT64_MAX /* resume while watching */

/* A v2 state for node i: height 1, view 0, no votes, hw = (1, hw_v). */
static void seed_hw(th_cluster *cl, uint32_t i, uint64_t hw_v) {
  out_buf o;
  out_init(&o);
  msgpack_pack_array(&o.pk, 10);
  pack_str(&o.pk, "mc-poa-state-v2");
  msgpack_pack_uint64(&o.pk, 1);
  msgpack_pack_uint64(&o.pk, 0);
  for (int k = 0; k < 5; k++) /* prop, ack, commit, vc_view, lock */
    msgpack_pack_nil(&o.pk);
  msgpack_pack_array(&o.pk, 2);
  msgpack_pack_uint64(&o.pk, 1);
  msgpack_pack_uint64(&o.pk, hw_v);
  msgpack_pack_nil(&o.pk);
  th_set_state(cl, i, (const uint8_t *)o.sb.data, o.sb.size);
  msgpack_sbuffer_destroy(&o.sb);
}

/* Ways of showing node 0 a valid signature of its own key at (1, v). */
typedef void (*show_fn)(th_cluster *cl, uint64_t v, const mc_block *w);

/* Its ACK for w, relayed by validator 2. */
static void show_in_message(th_cluster *cl, uint64_t v, const mc_block *w) {
  uint8_t sig[MC_SIG_LEN];
  out_buf o;
  sign_vote(cl, 0, "mc-poa-ack-v1", 1, v, w->hash, sig);
  pack_vote(&o, "mc-poa-ack-v1", 1, v, w->hash, 0, sig);
  assert_int_equal(deliver_out(cl, 0, 2, &o), 0);
}

/* Its VIEWCHANGE for (1, v), one of the q in leader(1, v)'s PROPOSE. */
static void show_in_justification(th_cluster *cl, uint64_t v,
                                  const mc_block *w) {
  (void)w; /* the leader proposes a block of its own */
  uint32_t leader = (uint32_t)((1 + v) % 4), k = 0;
  out_buf vcs[3], o;
  for (uint32_t val = 0; val < 4; val++)
    if (val != leader)
      pack_plain_vc(cl, &vcs[k++], val, 1, v);
  mc_block *b = th_make_block(cl, 0, leader, v);
  pack_propose_just(cl, &o, leader, b, v, vcs, 3);
  for (uint32_t i = 0; i < 3; i++)
    msgpack_sbuffer_destroy(&vcs[i].sb);
  assert_int_equal(deliver_out(cl, 0, leader, &o), 0); /* valid, either way */
  th_api()->block_free(th_host(cl, 0), b);
}

/* Its ACK for w at (1, v), inside validator 1's VIEWCHANGE for v + 1. */
static void show_in_prepared_cert(th_cluster *cl, uint64_t v,
                                  const mc_block *w) {
  static const uint32_t acks[] = {0, 1, 2};
  out_buf o;
  pack_locked_vc(cl, &o, 1, 1, v + 1, v, w->hash, acks, 3);
  assert_int_equal(deliver_out(cl, 0, 1, &o), 0);
}

/* Its COMMIT for w at (1, v), in a certificate the host has checked
 * (verify_certificate, as for a synced block). */
static void show_in_commit_cert(th_cluster *cl, uint64_t v, const mc_block *w) {
  static const uint32_t commits[] = {0, 1, 2};
  out_buf o;
  pack_commit_cert(cl, &o, 1, v, w->hash, commits, 3);
  assert_int_equal(th_vtable(cl)->verify_certificate(
                       th_engine(cl, 0), w, (const uint8_t *)o.sb.data,
                       o.sb.size),
                   0);
  msgpack_sbuffer_destroy(&o.sb);
}

typedef struct evidence_case {
  const char *name;
  show_fn show;
} evidence_case;

static const evidence_case EVIDENCE[] = {
    {"a message from another validator", show_in_message},
    {"a PROPOSE's justification", show_in_justification},
    {"a prepared certificate", show_in_prepared_cert},
    {"a commit certificate", show_in_commit_cert},
};

/*
 * Node 0's record knows it signed up to (1, 1).  Its own signature at
 * (1, 1), wherever it is seen, is no news; at (1, 2) it is one of its key
 * that it has no record of: it logs own_signature_unknown, watches, and
 * saves the watch (so a restart keeps it) with hw raised to (1, 2).
 */
static void own_signature_above_hw_starts_watch(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof EVIDENCE / sizeof EVIDENCE[0]; i++) {
    th_cluster *cl = th_new(plugin_path, 4, 60 + i, INTERVAL_MS, TIMEOUT_MS);
    assert_non_null(cl);
    seed_hw(cl, 0, 1);
    assert_int_equal(th_start(cl, 0), 0);
    mc_block *w = th_make_block(cl, 0, 1, 0);
    EVIDENCE[i].show(cl, 1, w);
    if (th_watching(cl, 0))
      fail_msg("evidence in %s: watching at hw", EVIDENCE[i].name);
    EVIDENCE[i].show(cl, 2, w);
    if (!th_watching(cl, 0))
      fail_msg("evidence in %s: not watching above hw", EVIDENCE[i].name);
    assert_int_equal(th_events(cl, 0, TH_EV_OWN_SIGNATURE_UNKNOWN), 1);
    assert_int_equal(saved_of(cl, 0).resume, WATCHING_SAVED);
    assert_int_equal(saved_of(cl, 0).hw, hv(1, 2));
    th_crash(cl, 0); /* the watch survives a restart */
    assert_int_equal(th_start(cl, 0), 0);
    assert_true(th_watching(cl, 0));
    th_api()->block_free(th_host(cl, 0), w);
    th_free(cl);
  }
}

/*
 * A validator's own votes from heights it has committed since are not
 * evidence: the high-water mark outlives commits.  Node 0 is down while
 * the others commit, comes back, syncs (so it commits several heights at
 * once) and is at once shown a COMMIT it signed before it went down.
 */
static void own_old_votes_are_no_evidence(void **state) {
  (void)state;
  th_cluster *cl = cluster(4, 54);
  assert_true(th_run_until_height(cl, 4, 10000));
  th_sigrec old = {.kind = -1}; /* a copy: the record grows */
  for (size_t k = 0; k < th_sig_count(cl, 0); k++)
    if (th_sig(cl, 0, k)->kind == TH_SIG_COMMIT)
      old = *th_sig(cl, 0, k);
  assert_int_equal(old.kind, TH_SIG_COMMIT);
  th_crash(cl, 0);
  assert_true(th_run_until_height(cl, 10, 60000));
  assert_int_equal(th_start(cl, 0), 0);
  assert_true(th_sync(cl, 0, 1) > 0);
  out_buf o;
  pack_vote(&o, "mc-poa-commit-v1", old.h, old.v, old.hash, 0, old.sig);
  assert_int_equal(deliver_out(cl, 0, 1, &o), 0);
  assert_false(th_watching(cl, 0));
  assert_int_equal(th_events(cl, 0, TH_EV_OWN_SIGNATURE_UNKNOWN), 0);
  th_free(cl);
}

/* The highest (height, view) node i ever signed at, as hv(). */
static uint64_t top_signed(th_cluster *cl, uint32_t i, size_t upto) {
  uint64_t top = 0;
  for (size_t k = 0; k < upto; k++) {
    const th_sigrec *r = th_sig(cl, i, k);
    if (hv(r->h, r->v) > top)
      top = hv(r->h, r->v);
  }
  return top;
}

/* Every signature of node i from the k-th on is at height >= h. */
static void assert_signed_from(th_cluster *cl, uint32_t i, size_t k,
                               uint64_t h) {
  for (; k < th_sig_count(cl, i); k++)
    assert_true(th_sig(cl, i, k)->h >= h);
}

/*
 * Validator 2's state is wiped while the network runs; it restarts with
 * its chain and without --new-validator.  It watches and sends nothing
 * until it has heard from n - q + f + 1 = 3 others, then signs again
 * only from resume_height on, which is above everything it signed
 * before; it never signs two hashes for one (kind, height, view).
 */
static void wiped_validator_rejoins(void **state) {
  (void)state;
  th_cluster *cl = cluster(4, 55);
  assert_true(th_run_until_height(cl, 6, 20000));
  th_crash(cl, 2);
  th_set_state(cl, 2, NULL, 0);
  size_t before = th_sig_count(cl, 2);
  uint64_t lost = top_signed(cl, 2, before);
  sent_log sent = {.node = 2};
  simnet_set_filter(th_net(cl), sent_log_filter, &sent);
  assert_int_equal(th_start(cl, 2), 0);
  assert_true(th_watching(cl, 2));
  assert_int_equal(th_sig_count(cl, 2), before);
  assert_true(th_run_until_height(cl, th_height(cl, 0) + 12, 120000));
  assert_int_equal(th_events(cl, 2, TH_EV_WATCH_ENDED), 1);
  uint64_t resume = saved_of(cl, 2).resume;
  assert_true(hv(resume, 0) > lost);
  assert_signed_from(cl, 2, before, resume);
  for (size_t k = 0; k < sent.n; k++)
    assert_true(sent.m[k].h >= resume);
  assert_true(sent.count[K_ACK] > 0 && sent.count[K_COMMIT] > 0);
  assert_false(th_double_signed(cl));
  assert_false(th_forked(cl));
  sent_log_free(&sent);
  th_free(cl);
}

/* Drops every ACK at height `h`, so that the height cannot commit in the
 * view its PROPOSE came in. */
typedef struct hold_ctx {
  uint64_t h;
  int on;
} hold_ctx;

static int hold_acks(void *arg, uint32_t from, uint32_t to, const uint8_t *msg,
                     size_t len) {
  hold_ctx *c = arg;
  char tag[32];
  uint64_t h, v;
  (void)from;
  (void)to;
  return !(c->on && peek(msg, len, tag, sizeof tag, &h, &v) && h == c->h &&
           strcmp(tag, "mc-poa-ack-v1") == 0);
}

typedef struct proposed_goal {
  th_cluster *cl;
  uint32_t node;
  uint64_t before;
} proposed_goal;

static int proposed(void *arg) {
  proposed_goal *g = arg;
  return th_events(g->cl, g->node, TH_EV_PROPOSED) > g->before;
}

/*
 * The leader of (h, 0) proposes X, and its state is wiped before h
 * commits; it restarts with its chain.  Without the watch rule it would
 * propose Y at (h, 0) a block interval later (poa_nowatch.so does); with
 * it, it proposes nothing until its watch allows, and nobody signs twice.
 */
static void wiped_leader_does_not_propose_again(void **state) {
  (void)state;
  th_cluster *cl = cluster(4, 56);
  assert_true(th_run_until_height(cl, 4, 20000));
  uint64_t h = th_height(cl, 0) + 2;
  uint32_t leader = (uint32_t)(h % 4);
  hold_ctx hold = {h, 1};
  simnet_set_filter(th_net(cl), hold_acks, &hold);
  proposed_goal g = {cl, leader, 0};
  assert_true(th_run_until_height(cl, h - 1, 20000));
  g.before = th_events(cl, leader, TH_EV_PROPOSED);
  assert_true(simnet_run(th_net(cl), simnet_now(th_net(cl)) + 5000, proposed,
                         &g));
  th_crash(cl, leader);
  th_set_state(cl, leader, NULL, 0);
  assert_int_equal(th_height(cl, leader), h - 1);
  assert_int_equal(th_start(cl, leader), 0);
  run_for(cl, 2 * INTERVAL_MS); /* its propose timer would have fired */
  hold.on = 0;
  assert_true(th_run_until_height(cl, h + 8, 120000));
  assert_false(th_double_signed(cl));
  assert_false(th_forked(cl));
  assert_int_equal(th_events(cl, leader, TH_EV_WATCH_ENDED), 1);
  th_free(cl);
}

/*
 * Node 0 is restored from a copy of its chain and state taken seven
 * heights ago.  Nothing in the copy tells it so, but the first block the
 * host syncs carries a commit certificate with node 0's own later COMMIT:
 * it logs own_signature_unknown and watches, and once its watch has ended
 * it signs only above everything it signed before the restore.
 */
static void old_copy_detected_by_commit_certificate(void **state) {
  (void)state;
  th_cluster *cl = cluster(4, 57);
  assert_true(th_run_until_height(cl, 3, 10000));
  th_snapshot(cl, 0);
  assert_true(th_run_until_height(cl, 10, 30000));
  th_crash(cl, 0);
  size_t before = th_sig_count(cl, 0);
  uint64_t lost = top_signed(cl, 0, before);
  assert_int_equal(th_restore_snapshot(cl, 0), 0);
  assert_int_equal(th_height(cl, 0), 3);
  assert_int_equal(th_start(cl, 0), 0);
  assert_false(th_watching(cl, 0)); /* the copy looks fine */
  assert_true(th_sync(cl, 0, 1) > 0);
  assert_int_equal(th_events(cl, 0, TH_EV_OWN_SIGNATURE_UNKNOWN), 1);
  assert_true(th_watching(cl, 0));
  assert_true(th_run_until_height(cl, th_height(cl, 1) + 10, 120000));
  assert_int_equal(th_events(cl, 0, TH_EV_WATCH_ENDED), 1);
  uint64_t resume = saved_of(cl, 0).resume;
  assert_true(hv(resume, 0) > lost);
  assert_signed_from(cl, 0, before, resume);
  assert_true(th_sig_count(cl, 0) > before);
  assert_false(th_double_signed(cl));
  assert_false(th_forked(cl));
  th_free(cl);
}

/*
 * With no saved state, --new-validator (the operator's word that the key
 * never signed for this chain) makes a validator save a record at once
 * and sign from the start; without it, a lone validator (n = 1: no one
 * to hear from) watches for ever and says so at error level.
 */
static void new_validator_signs_at_once(void **state) {
  (void)state;
  th_cluster *cl = th_new(plugin_path, 1, 58, INTERVAL_MS, TIMEOUT_MS);
  assert_non_null(cl);
  assert_int_equal(th_start_flags(cl, 0, 0), 0);
  assert_true(th_watching(cl, 0));
  assert_int_equal(th_event_level(cl, 0, TH_EV_WATCHING), MC_LOG_ERROR);
  run_for(cl, 20 * TIMEOUT_MS);
  assert_int_equal(th_height(cl, 0), 0);
  assert_int_equal(th_sig_count(cl, 0), 0);
  th_stop(cl, 0);
  size_t len;
  assert_null(th_state(cl, 0, &len)); /* watching saved nothing */
  assert_int_equal(th_start_flags(cl, 0, MC_CONSENSUS_NEW_VALIDATOR), 0);
  assert_non_null(th_state(cl, 0, &len)); /* before it signs anything */
  assert_false(th_watching(cl, 0));
  assert_true(th_run_until_height(cl, 5, 10000));
  th_free(cl);
  /* four validators, one watching: an info line, it can end */
  cl = th_new(plugin_path, 4, 59, INTERVAL_MS, TIMEOUT_MS);
  assert_non_null(cl);
  assert_int_equal(th_start_flags(cl, 0, 0), 0);
  assert_int_equal(th_event_level(cl, 0, TH_EV_WATCHING), MC_LOG_INFO);
  th_free(cl);
}

/*
 * A "mc-poa-state-v1" file (before hw) loads with hw = its (height, view):
 * node 0's v1 record at (1, 1) holds its ACK for X in view 1.  Its own
 * signature at (1, 1) is no news, one at (1, 2) starts a watch; the record
 * it then saves is v2 and still holds the ACK.
 */
static void v1_state_loads_and_upgrades(void **state) {
  (void)state;
  th_cluster *cl = th_new(plugin_path, 4, 61, INTERVAL_MS, TIMEOUT_MS);
  assert_non_null(cl);
  mc_block *x = th_make_block(cl, 0, 2, 0), *y = th_make_block(cl, 0, 2, 1);
  uint8_t sig[MC_SIG_LEN];
  sign_vote(cl, 0, "mc-poa-ack-v1", 1, 1, x->hash, sig);
  out_buf o;
  out_init(&o);
  msgpack_pack_array(&o.pk, 8);
  pack_str(&o.pk, "mc-poa-state-v1");
  msgpack_pack_uint64(&o.pk, 1);
  msgpack_pack_uint64(&o.pk, 1);
  msgpack_pack_nil(&o.pk);
  msgpack_pack_array(&o.pk, 3);
  msgpack_pack_uint64(&o.pk, 1);
  msgpack_pack_bin_with_body(&o.pk, x->hash, MC_HASH_LEN);
  msgpack_pack_bin_with_body(&o.pk, sig, MC_SIG_LEN);
  for (int k = 0; k < 3; k++) /* commit, vc_view, lock */
    msgpack_pack_nil(&o.pk);
  th_set_state(cl, 0, (const uint8_t *)o.sb.data, o.sb.size);
  msgpack_sbuffer_destroy(&o.sb);
  assert_int_equal(th_start(cl, 0), 0);
  assert_false(th_watching(cl, 0));
  show_in_message(cl, 1, y);
  assert_false(th_watching(cl, 0));
  show_in_message(cl, 2, y);
  assert_true(th_watching(cl, 0));
  saved_view sv = saved_of(cl, 0);
  assert_int_equal(sv.height, 1);
  assert_int_equal(sv.view, 1);
  assert_true(sv.ack_set);
  assert_int_equal(sv.ack_view, 1);
  assert_memory_equal(sv.ack_hash, x->hash, MC_HASH_LEN);
  assert_int_equal(sv.hw, hv(1, 2));
  th_api()->block_free(th_host(cl, 0), x);
  th_api()->block_free(th_host(cl, 0), y);
  th_free(cl);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PATH/TO/poa.so\n", argv[0]);
    return 2;
  }
  plugin_path = argv[1];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(votes_of_another_chain_refused),
      cmocka_unit_test(failing_saves_silence_a_validator),
      cmocka_unit_test(unsaved_commit_never_sent),
      cmocka_unit_test(unsaved_viewchange_never_sent),
      cmocka_unit_test(hw_saved_before_signatures_leave),
      cmocka_unit_test(own_signature_above_hw_starts_watch),
      cmocka_unit_test(own_old_votes_are_no_evidence),
      cmocka_unit_test(wiped_validator_rejoins),
      cmocka_unit_test(wiped_leader_does_not_propose_again),
      cmocka_unit_test(old_copy_detected_by_commit_certificate),
      cmocka_unit_test(new_validator_signs_at_once),
      cmocka_unit_test(v1_state_loads_and_upgrades),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
