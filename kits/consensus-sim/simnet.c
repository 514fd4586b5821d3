/*
 * simnet.c - the simulated network and clock of simnet.h.
 *
 * Events sit in a binary min-heap ordered by (time, sequence number), so
 * equal times run in scheduling order and a run depends only on the seed
 * and on what the test does.  Cancelled timers stay in the heap marked
 * dead and are skipped when they come up.
 */
#include "simnet.h"

#include <stdlib.h>
#include <string.h>

typedef struct event {
  uint64_t at, seq, id;
  int dead;
  uint32_t owner; /* timer: its node; message: the receiver */
  uint32_t from;  /* message only */
  simnet_timer_fn cb; /* NULL for a message */
  void *arg;
  size_t len;
  uint8_t *msg;
} event;

struct simnet {
  uint32_t n;
  uint64_t now, seq, next_id, rng;
  event **heap;
  size_t len, cap;
  uint8_t *link_down; /* n*n: from*n + to */
  simnet_faults faults;
  simnet_filter_fn filter;
  void *filter_ctx;
  simnet_deliver_fn deliver;
  void *ctx;
  uint64_t delivered, dropped;
};

simnet *simnet_new(uint32_t nodes, uint64_t seed, simnet_deliver_fn deliver,
                   void *ctx) {
  simnet *s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  s->link_down = calloc((size_t)nodes * nodes, 1);
  if (s->link_down == NULL) {
    free(s);
    return NULL;
  }
  s->n = nodes;
  s->rng = seed * 0x9e3779b97f4a7c15ull + 1; /* never 0 */
  s->deliver = deliver;
  s->ctx = ctx;
  s->faults.delay_min_ms = s->faults.delay_max_ms = 1;
  return s;
}

static void event_free(event *e) {
  free(e->msg);
  free(e);
}

void simnet_free(simnet *s) {
  if (s == NULL)
    return;
  for (size_t i = 0; i < s->len; i++)
    event_free(s->heap[i]);
  free(s->heap);
  free(s->link_down);
  free(s);
}

uint64_t simnet_now(const simnet *s) { return s->now; }
uint64_t simnet_delivered(const simnet *s) { return s->delivered; }
uint64_t simnet_dropped(const simnet *s) { return s->dropped; }

uint64_t simnet_rand(simnet *s) {
  uint64_t x = s->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  s->rng = x;
  return x * 0x2545f4914f6cdd1dull;
}

void simnet_set_faults(simnet *s, const simnet_faults *f) { s->faults = *f; }

void simnet_set_filter(simnet *s, simnet_filter_fn fn, void *ctx) {
  s->filter = fn;
  s->filter_ctx = ctx;
}

void simnet_set_link(simnet *s, uint32_t from, uint32_t to, int up) {
  s->link_down[(size_t)from * s->n + to] = !up;
}

void simnet_isolate(simnet *s, uint32_t node, int isolated) {
  for (uint32_t i = 0; i < s->n; i++) {
    simnet_set_link(s, node, i, !isolated);
    simnet_set_link(s, i, node, !isolated);
  }
}

/* ---- the heap ---- */

static int before(const event *a, const event *b) {
  return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void swap(event **a, event **b) {
  event *t = *a;
  *a = *b;
  *b = t;
}

static int push(simnet *s, event *e) {
  if (s->len == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 64;
    event **h = realloc(s->heap, cap * sizeof *h);
    if (h == NULL)
      return -1;
    s->heap = h;
    s->cap = cap;
  }
  e->seq = ++s->seq;
  size_t i = s->len++;
  s->heap[i] = e;
  while (i > 0 && before(s->heap[i], s->heap[(i - 1) / 2])) {
    swap(&s->heap[i], &s->heap[(i - 1) / 2]);
    i = (i - 1) / 2;
  }
  return 0;
}

static event *pop(simnet *s) {
  if (s->len == 0)
    return NULL;
  event *top = s->heap[0];
  s->heap[0] = s->heap[--s->len];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < s->len && before(s->heap[l], s->heap[m]))
      m = l;
    if (r < s->len && before(s->heap[r], s->heap[m]))
      m = r;
    if (m == i)
      break;
    swap(&s->heap[i], &s->heap[m]);
    i = m;
  }
  return top;
}

/* ---- timers and messages ---- */

int simnet_timer_start(simnet *s, uint32_t owner, uint64_t delay,
                       simnet_timer_fn cb, void *arg, uint64_t *id) {
  event *e = calloc(1, sizeof *e);
  if (e == NULL)
    return -1;
  e->at = s->now + delay;
  e->id = ++s->next_id;
  e->owner = owner;
  e->cb = cb;
  e->arg = arg;
  if (push(s, e) != 0) {
    free(e);
    return -1;
  }
  *id = e->id;
  return 0;
}

int simnet_timer_stop(simnet *s, uint64_t id) {
  for (size_t i = 0; i < s->len; i++) {
    if (s->heap[i]->id == id && s->heap[i]->cb != NULL && !s->heap[i]->dead) {
      s->heap[i]->dead = 1;
      return 0;
    }
  }
  return -1;
}

static int schedule_msg(simnet *s, uint32_t from, uint32_t to,
                        const uint8_t *msg, size_t len) {
  const simnet_faults *f = &s->faults;
  uint64_t span = f->delay_max_ms - f->delay_min_ms + 1;
  event *e = calloc(1, sizeof *e);
  if (e == NULL || (e->msg = malloc(len ? len : 1)) == NULL) {
    free(e);
    return -1;
  }
  memcpy(e->msg, msg, len);
  e->len = len;
  e->at = s->now + f->delay_min_ms + simnet_rand(s) % span;
  e->owner = to;
  e->from = from;
  if (push(s, e) != 0) {
    event_free(e);
    return -1;
  }
  return 0;
}

int simnet_send(simnet *s, uint32_t from, uint32_t to, const uint8_t *msg,
                size_t len) {
  if (s->link_down[(size_t)from * s->n + to] ||
      (s->filter && !s->filter(s->filter_ctx, from, to, msg, len)) ||
      simnet_rand(s) % 100 < s->faults.drop_pct) {
    s->dropped++;
    return 0;
  }
  if (simnet_rand(s) % 100 < s->faults.dup_pct &&
      schedule_msg(s, from, to, msg, len) != 0)
    return -1;
  return schedule_msg(s, from, to, msg, len);
}

void simnet_forget_node(simnet *s, uint32_t node) {
  for (size_t i = 0; i < s->len; i++)
    if (s->heap[i]->owner == node)
      s->heap[i]->dead = 1;
}

int simnet_step(simnet *s) {
  event *e;
  while ((e = pop(s)) != NULL && e->dead)
    event_free(e);
  if (e == NULL)
    return 0;
  s->now = e->at;
  if (e->cb != NULL) {
    e->cb(e->arg);
  } else if (s->link_down[(size_t)e->from * s->n + e->owner]) {
    s->dropped++;
  } else {
    s->delivered++;
    s->deliver(s->ctx, e->owner, e->from, e->msg, e->len);
  }
  event_free(e);
  return 1;
}

int simnet_run(simnet *s, uint64_t until, int (*done)(void *), void *arg) {
  while (!(done && done(arg))) {
    while (s->len > 0 && s->heap[0]->dead)
      event_free(pop(s));
    if (s->len == 0 || s->heap[0]->at > until)
      return 0;
    simnet_step(s);
  }
  return 1;
}

void simnet_run_to(simnet *s, uint64_t until) {
  simnet_run(s, until, NULL, NULL);
  if (s->now < until)
    s->now = until;
}

int simnet_link_up(const simnet *s, uint32_t from, uint32_t to) {
  return !s->link_down[(size_t)from * s->n + to];
}
