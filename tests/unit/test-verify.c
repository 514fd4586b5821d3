/*
 * test-verify.c - signatures checked on worker threads (host/verify.c):
 * every result lands at its own index, bad signatures are found wherever
 * they sit, waiting and async jobs mix, async jobs report on the loop
 * thread only, and a verifier closing hands back its unfinished jobs
 * as cancelled.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chain/codec.h"
#include "chain/crypto.h"
#include "keys.h"
#include "minichain/error.h"
#include "verify.h"

#define N 600

static mc_tx txs[N];
static const mc_tx *ptrs[N];
static int bad[N]; /* which ones were spoiled */

/* N transfers signed by a few keys; every 7th (and the last) spoiled. */
static void make_txs(void) {
  mc_keypair k[4];
  for (int i = 0; i < 4; i++)
    mc_key_generate(&k[i]);
  for (int i = 0; i < N; i++) {
    mc_tx *t = &txs[i];
    memset(t, 0, sizeof *t);
    strcpy(t->chain_id, "verify-test");
    memcpy(t->from, k[i % 4].pk, MC_PUBKEY_LEN);
    memcpy(t->to, k[(i + 1) % 4].pk, MC_PUBKEY_LEN);
    t->amount = 1 + (uint64_t)i;
    t->nonce = 1 + (uint64_t)i;
    mc_tx_sign(t, k[i % 4].sk);
    bad[i] = i % 7 == 3 || i == N - 1;
    if (bad[i])
      t->sig[i % MC_SIG_LEN] ^= 0x40;
    ptrs[i] = t;
  }
}

static void assert_results(const int *res, size_t from, size_t n) {
  for (size_t i = 0; i < n; i++)
    assert_int_equal(res[i], bad[from + i] ? MC_ESIG : 0);
}

static void test_run_waits_for_every_result(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  mc_verifier *v;
  assert_int_equal(mc_verifier_new(&loop, 3, &v), 0);
  assert_int_equal(mc_verifier_threads(v), 3);
  static int res[N];
  for (size_t n = 0; n <= N; n += (n < 10 ? 1 : 97)) {
    memset(res, 0x55, sizeof res);
    mc_verify_job job = {.txs = ptrs, .res = res, .n = n};
    mc_verifier_run(v, &job);
    assert_results(res, 0, n);
  }
  mc_verify_job alone = {.txs = ptrs, .res = res, .n = N};
  mc_verifier_run(NULL, &alone); /* no verifier: the caller alone */
  assert_results(res, 0, N);
  mc_verifier_close(v);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

typedef struct async_case {
  mc_verify_job job;
  int res[N];
  size_t from;
  int done;
  pthread_t thread; /* where done ran */
} async_case;

static int async_finished;

static void on_done(mc_verify_job *job) {
  async_case *c = job->data;
  c->done++;
  c->thread = pthread_self();
  async_finished++;
}

static void test_async_jobs_report_on_the_loop(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  mc_verifier *v;
  assert_int_equal(mc_verifier_new(&loop, 0, &v), 0); /* one per CPU */
  assert_true(mc_verifier_threads(v) >= 1);
  enum { JOBS = 12 };
  static async_case cases[JOBS];
  async_finished = 0;
  for (int j = 0; j < JOBS; j++) {
    async_case *c = &cases[j];
    memset(c, 0, sizeof *c);
    c->from = (size_t)j * 37 % N;
    size_t n = j == 0 ? 0 : (size_t)(j * 53) % (N - c->from);
    c->job = (mc_verify_job){.txs = ptrs + c->from, .res = c->res, .n = n,
                             .done = on_done, .data = c};
    mc_verifier_submit(v, &c->job);
    assert_int_equal(c->done, 0); /* never from inside submit */
  }
  /* a waiting job in between is served too */
  static int res[N];
  mc_verify_job mid = {.txs = ptrs, .res = res, .n = N};
  mc_verifier_run(v, &mid);
  assert_results(res, 0, N);
  while (async_finished < JOBS)
    uv_run(&loop, UV_RUN_ONCE);
  for (int j = 0; j < JOBS; j++) {
    assert_int_equal(cases[j].done, 1);
    assert_int_equal(cases[j].job.cancelled, 0);
    assert_true(pthread_equal(cases[j].thread, pthread_self()));
    assert_results(cases[j].res, cases[j].from, cases[j].job.n);
  }
  mc_verifier_close(v);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_close_with_jobs_queued(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  mc_verifier *v;
  assert_int_equal(mc_verifier_new(&loop, 1, &v), 0);
  static async_case c;
  memset(&c, 0, sizeof c);
  c.job = (mc_verify_job){.txs = ptrs, .res = c.res, .n = N,
                          .done = on_done, .data = &c};
  mc_verifier_submit(v, &c.job);
  /* the job may be half checked: it comes back now, cancelled */
  mc_verifier_close(v);
  assert_int_equal(c.done, 1);
  assert_int_equal(c.job.cancelled, 1);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(c.done, 1);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  assert_int_equal(mc_crypto_init(), 0);
  make_txs();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_run_waits_for_every_result),
      cmocka_unit_test(test_async_jobs_report_on_the_loop),
      cmocka_unit_test(test_close_with_jobs_queued),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
