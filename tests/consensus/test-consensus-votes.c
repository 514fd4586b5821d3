/*
 * test-consensus-votes.c - votes are never unsafe (docs/CONSENSUS.md,
 * "Durable state" and "The watch rule"): a signature names its chain, so
 * a vote of one chain is refused by another with the same keys.
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

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PATH/TO/poa.so\n", argv[0]);
    return 2;
  }
  plugin_path = argv[1];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(votes_of_another_chain_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
