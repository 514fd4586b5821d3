/*
 * verify.c - transfer signatures checked on worker threads (verify.h).
 *
 * One mutex guards the queue of jobs that still have unclaimed transfers
 * and every job's counters.  A thread claims a chunk of a job (a few dozen
 * transfers: some milliseconds of work, so the lock is taken rarely),
 * checks it without the lock, and reports it.  Whoever reports the last
 * chunk of a job finishes it: an async job moves to the done list and the
 * loop is woken through a uv_async handle; a waiting caller is signalled.
 */
#include "verify.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "chain/codec.h"
#include "minichain/error.h"

/* At most this many transfers per claim; fewer for small jobs so that
 * every thread gets a share. */
#define MAX_CHUNK 32

struct mc_verifier {
  pthread_mutex_t mu;
  pthread_cond_t work;     /* a job was queued, or stop */
  pthread_cond_t finished; /* a synchronous job finished */
  mc_verify_job *head, *tail; /* jobs with unclaimed transfers */
  mc_verify_job *done_head, *done_tail; /* async jobs finished */
  int stop;
  pthread_t *threads;
  unsigned nthreads;
  uv_async_t wake;
  size_t async_out; /* async jobs submitted and not yet done (loop thread) */
  uint64_t checked; /* signatures checked, ever (under mu) */
};

uint64_t mc_verifier_checked(mc_verifier *v) {
  pthread_mutex_lock(&v->mu);
  uint64_t n = v->checked;
  pthread_mutex_unlock(&v->mu);
  return n;
}

unsigned mc_verifier_threads(const mc_verifier *v) { return v->nthreads; }

static size_t chunk_of(const mc_verifier *v, const mc_verify_job *j) {
  size_t share = j->n / (v->nthreads + 1u);
  return share < 1 ? 1 : share > MAX_CHUNK ? MAX_CHUNK : share;
}

/* With mu held: claims the next chunk of the queue's first job, taking
 * the job off the queue once it is wholly claimed.  Returns the job or
 * NULL when the queue is empty. */
static mc_verify_job *claim(mc_verifier *v, size_t *from, size_t *to) {
  mc_verify_job *j = v->head;
  if (j == NULL)
    return NULL;
  *from = j->claimed;
  *to = j->claimed + chunk_of(v, j);
  if (*to > j->n)
    *to = j->n;
  j->claimed = *to;
  if (j->claimed == j->n) {
    v->head = j->next;
    if (v->head == NULL)
      v->tail = NULL;
  }
  return j;
}

/* Checks txs[from, to) of j; returns how many it verified (not skipped). */
static size_t check_range(mc_verify_job *j, size_t from, size_t to) {
  size_t verified = 0;
  for (size_t i = from; i < to; i++) {
    if (j->skip != NULL && atomic_load_explicit(&j->skip[i],
                                                memory_order_relaxed)) {
      j->res[i] = 0;
      continue;
    }
    j->res[i] = mc_tx_verify(j->txs[i]) == 0 ? 0 : MC_ESIG;
    verified++;
  }
  return verified;
}

/* With mu held: counts a checked chunk (`verified` of its `count` were
 * verified, the rest skipped); finishes the job after its last. */
static void report(mc_verifier *v, mc_verify_job *j, size_t count,
                   size_t verified) {
  assert(j->left >= count);
  j->left -= count;
  v->checked += verified;
  if (j->left > 0)
    return;
  if (!j->async) {
    pthread_cond_broadcast(&v->finished);
    return;
  }
  j->next = NULL;
  if (v->done_tail != NULL)
    v->done_tail->next = j;
  else
    v->done_head = j;
  v->done_tail = j;
  uv_async_send(&v->wake);
}

static void *worker(void *arg) {
  mc_verifier *v = arg;
  pthread_mutex_lock(&v->mu);
  for (;;) {
    size_t from, to;
    mc_verify_job *j;
    while (!v->stop && (j = claim(v, &from, &to)) == NULL)
      pthread_cond_wait(&v->work, &v->mu);
    if (v->stop)
      break;
    pthread_mutex_unlock(&v->mu);
    size_t verified = check_range(j, from, to);
    pthread_mutex_lock(&v->mu);
    report(v, j, to - from, verified);
  }
  pthread_mutex_unlock(&v->mu);
  return NULL;
}

/* On the loop thread: hands finished async jobs to their owners. */
static void on_wake(uv_async_t *h) {
  mc_verifier *v = h->data;
  pthread_mutex_lock(&v->mu);
  mc_verify_job *j = v->done_head;
  v->done_head = v->done_tail = NULL;
  pthread_mutex_unlock(&v->mu);
  while (j != NULL) {
    mc_verify_job *next = j->next;
    if (--v->async_out == 0)
      uv_unref((uv_handle_t *)&v->wake);
    j->done(j);
    j = next;
  }
}

static void enqueue(mc_verifier *v, mc_verify_job *j) {
  j->claimed = 0;
  j->left = j->n;
  j->next = NULL;
  if (v->tail != NULL)
    v->tail->next = j;
  else
    v->head = j;
  v->tail = j;
  pthread_cond_broadcast(&v->work);
}

void mc_verifier_run(mc_verifier *v, mc_verify_job *job) {
  if (v == NULL || job->n < 2) {
    size_t verified = check_range(job, 0, job->n);
    if (v != NULL) {
      pthread_mutex_lock(&v->mu);
      v->checked += verified;
      pthread_mutex_unlock(&v->mu);
    }
    return;
  }
  job->async = 0;
  pthread_mutex_lock(&v->mu);
  /* first in line: the caller (a block on the consensus path) waits */
  job->claimed = 0;
  job->left = job->n;
  job->next = v->head;
  v->head = job;
  if (v->tail == NULL)
    v->tail = job;
  pthread_cond_broadcast(&v->work);
  /* work on our own job (and only it: the wait must stay short) */
  while (job->claimed < job->n) {
    size_t from = job->claimed;
    size_t to = from + chunk_of(v, job);
    if (to > job->n)
      to = job->n;
    job->claimed = to;
    if (to == job->n) { /* wholly claimed: off the queue */
      mc_verify_job **pp = &v->head, *prev = NULL;
      while (*pp != job) {
        prev = *pp;
        pp = &(*pp)->next;
      }
      *pp = job->next;
      if (v->tail == job)
        v->tail = prev;
    }
    pthread_mutex_unlock(&v->mu);
    size_t verified = check_range(job, from, to);
    pthread_mutex_lock(&v->mu);
    report(v, job, to - from, verified);
  }
  while (job->left > 0)
    pthread_cond_wait(&v->finished, &v->mu);
  pthread_mutex_unlock(&v->mu);
}

void mc_verifier_submit(mc_verifier *v, mc_verify_job *job) {
  job->async = 1;
  job->cancelled = 0;
  if (v->async_out++ == 0)
    uv_ref((uv_handle_t *)&v->wake); /* the loop waits for the answer */
  pthread_mutex_lock(&v->mu);
  if (job->n == 0) {
    job->left = 1;
    report(v, job, 1, 0);
  } else {
    enqueue(v, job);
  }
  pthread_mutex_unlock(&v->mu);
}

static void stop_workers(mc_verifier *v, unsigned started) {
  pthread_mutex_lock(&v->mu);
  v->stop = 1;
  pthread_cond_broadcast(&v->work);
  pthread_mutex_unlock(&v->mu);
  for (unsigned i = 0; i < started; i++)
    pthread_join(v->threads[i], NULL);
}

static void free_verifier(mc_verifier *v) {
  pthread_cond_destroy(&v->work);
  pthread_cond_destroy(&v->finished);
  pthread_mutex_destroy(&v->mu);
  free(v->threads);
  free(v);
}

static void on_wake_closed(uv_handle_t *h) { free_verifier(h->data); }

int mc_verifier_new(uv_loop_t *loop, unsigned threads, mc_verifier **out) {
  if (threads == 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    threads = cpus < 1 ? 1 : cpus > 64 ? 64 : (unsigned)cpus;
  }
  mc_verifier *v = calloc(1, sizeof *v);
  if (v == NULL || (v->threads = calloc(threads, sizeof *v->threads)) == NULL) {
    free(v);
    return MC_ENOMEM;
  }
  pthread_mutex_init(&v->mu, NULL);
  pthread_cond_init(&v->work, NULL);
  pthread_cond_init(&v->finished, NULL);
  if (uv_async_init(loop, &v->wake, on_wake) != 0) {
    free_verifier(v);
    return MC_EIO;
  }
  v->wake.data = v;
  /* a verifier with no async job out does not keep the loop running */
  uv_unref((uv_handle_t *)&v->wake);
  for (unsigned i = 0; i < threads; i++) {
    if (pthread_create(&v->threads[i], NULL, worker, v) != 0) {
      stop_workers(v, i);
      uv_close((uv_handle_t *)&v->wake, on_wake_closed);
      return MC_EIO;
    }
  }
  v->nthreads = threads;
  *out = v;
  return 0;
}

/* Hands back every async job still queued or finished but not delivered,
 * as cancelled (the workers have stopped: nothing else touches them). */
static void cancel_jobs(mc_verifier *v) {
  mc_verify_job *lists[2] = {v->head, v->done_head};
  v->head = v->tail = v->done_head = v->done_tail = NULL;
  for (int k = 0; k < 2; k++) {
    for (mc_verify_job *j = lists[k], *next; j != NULL; j = next) {
      next = j->next;
      assert(j->async); /* a waiting caller is never inside close */
      j->cancelled = 1;
      j->done(j);
    }
  }
}

void mc_verifier_close(mc_verifier *v) {
  if (v == NULL)
    return;
  stop_workers(v, v->nthreads);
  cancel_jobs(v);
  uv_close((uv_handle_t *)&v->wake, on_wake_closed);
}
