/*
 * test-consensus-votes.c - votes are never unsafe (docs/CONSENSUS.md,
 * "Durable state" and "The watch rule"): a signature names its chain, so
 * a vote of one chain is refused by another with the same keys; a vote
 * whose save failed is neither sent nor kept, and a validator whose saves
 * fail signs nothing until one works again; the saved high-water mark
 * covers every signature before it leaves the node.
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
 * the host's consensus domain (which signs the genesis hash with them)
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

/* Validator `val`'s ACK for (1, 0, hash) on cl's chain, to node 0. */
static int deliver_own_chain_ack(th_cluster *cl, uint32_t val,
                                 const uint8_t *hash) {
  return deliver_ack(cl, cl, val, hash);
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
    assert_int_equal(deliver_own_chain_ack(cl, v, w->hash), 0);
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

/* The hw of a v2 state (item 8: nil or [height, view]) as hv(), 0 when
 * there is none; fails the test on any other shape. */
static uint64_t saved_hw(const uint8_t *p, size_t len) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  assert_int_equal(msgpack_unpack_next(&u, (const char *)p, len, &off),
                   MSGPACK_UNPACK_SUCCESS);
  const msgpack_object *a = u.data.via.array.ptr;
  assert_true(u.data.type == MSGPACK_OBJECT_ARRAY &&
              u.data.via.array.size >= 9);
  assert_int_equal(a[0].via.str.size, strlen("mc-poa-state-v2"));
  assert_memory_equal(a[0].via.str.ptr, "mc-poa-state-v2", 15);
  uint64_t r = 0;
  if (a[8].type != MSGPACK_OBJECT_NIL) {
    assert_int_equal(a[8].via.array.size, 2);
    r = hv(a[8].via.array.ptr[0].via.u64, a[8].via.array.ptr[1].via.u64);
  }
  msgpack_unpacked_destroy(&u);
  return r;
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
  assert_non_null(st);
  uint64_t hw = saved_hw(st, slen);
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
    size_t slen;
    for (size_t k = 0; k < th_sig_count(cl, i); k++) {
      const th_sigrec *r = th_sig(cl, i, k);
      if (hv(r->h, r->v) > top)
        top = hv(r->h, r->v);
    }
    const uint8_t *st = th_state(cl, i, &slen);
    assert_int_equal(saved_hw(st, slen), top);
  }
  assert_true(th_events(cl, 1, TH_EV_VIEW_CHANGE) > 0);
  assert_false(th_double_signed(cl));
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
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
