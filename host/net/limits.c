/*
 * limits.c - what the network edge allows a connection (net.h, "Limits"):
 * its share of the memory budget, its slot, its rate and its deadlines.
 *
 * Memory: each connection's read buffer and queued frames are counted as
 * the allocator reports them (malloc_usable_size), and the sum over every
 * connection that is not a validator session stays under one budget.
 * When the budget runs out, the connection that has gone longest without
 * reading what it is sent (else the one holding the most) is closed, not
 * the one that happened to ask next.
 *
 * Slots: validator sessions keep `reserved` of max_conns; the rest are
 * shared.  When they are all taken, a new connection takes the slot of a
 * connection that has not shown itself yet (NEW or HANDSHAKE, inbound):
 * the oldest of the address that holds the most of them, so a flood from
 * a few addresses evicts its own sockets, not a client's; a newcomer from
 * the most crowded address is refused instead.  Per address, the oldest
 * unproven connection of that address gives way.
 *
 * Rates and deadlines: frames beyond a non-validator's rate pause its
 * reading rather than being dropped; a connection that does not show
 * itself in time, falls silent, or stops reading what it is sent (its
 * queue congested past its deadline) is closed by the sweep.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "net/net_internal.h"

/* ---- the crowd of unproven connections ---- */

unsigned mc__crowd_bucket(const char *ip) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (const char *p = ip; *p; p++)
    h = (h ^ (uint8_t)*p) * 16777619u;
  return h % CROWD_BUCKETS;
}

/* Keeps owner->crowd in line with whether c is unproven and open. */
void mc__crowd_update(mc_conn *c) {
  int now = mc__unproven(c) && !c->closing;
  if (now == c->crowded)
    return;
  c->crowded = now;
  if (now)
    c->owner->crowd[c->bucket]++;
  else
    c->owner->crowd[c->bucket]--;
}

/* ---- the memory budget ---- */

static void close_for_budget(mc_conn *c) {
  c->owner->stats.closed_memory++;
  mc_conn_close(c, "connection memory budget exhausted");
}

/* What the connection holds now, as the budget counts it. */
static size_t held(const mc_conn *c) {
  return mc_frame_reader_capacity(&c->reader) + c->queued;
}

/* Brings owner->memory in line with what c holds (validators count 0). */
void mc__budget_update(mc_conn *c) {
  mc_listener *l = c->owner;
  size_t now = mc__is_validator(c) || c->closing ? 0 : held(c);
  l->memory = l->memory - c->budgeted + now;
  c->budgeted = now;
}

/* 1 if c may hold `extra` more bytes. */
static int budget_allows(const mc_conn *c, size_t extra) {
  const mc_listener *l = c->owner;
  return mc__is_validator(c) || l->memory + extra <= l->lim.memory;
}

/* 1 if a should give way before b when the budget runs out: the one
 * that has not read what it is sent for longer, else the larger. */
static int worse_holder(const mc_conn *a, const mc_conn *b) {
  if (a->stalled_ms != b->stalled_ms)
    return b->stalled_ms == 0 || (a->stalled_ms != 0 &&
                                  a->stalled_ms < b->stalled_ms);
  return a->budgeted > b->budgeted;
}

/* Makes room in the budget for c to hold `extra` more bytes by closing
 * the connections that have gone longest without reading, or hold the
 * most, for as long as that is not c.  Returns 1 if c may go ahead, 0 if
 * c itself was the one to go (it is being closed). */
int mc__budget_room(mc_conn *c, size_t extra) {
  mc_listener *l = c->owner;
  while (!budget_allows(c, extra)) {
    mc_conn *victim = c;
    for (mc_conn *o = l->conns; o != NULL; o = o->next)
      if (!mc__is_validator(o) && worse_holder(o, victim))
        victim = o;
    close_for_budget(victim);
    if (victim == c)
      return 0;
  }
  return 1;
}

/* Non-validators may send frames_per_sec frames a second, in bursts of as
 * many; the frame that spends the last token pauses reading. */
static void refill(mc_conn *c, uint64_t now) {
  double rate = (double)c->owner->lim.frames_per_sec;
  c->tokens += rate * (double)(now - c->tokens_ms) / 1000.0;
  if (c->tokens > rate)
    c->tokens = rate;
  c->tokens_ms = now;
}

void mc__rate_spend(mc_conn *c, double n) {
  if (mc__is_validator(c) || c->closing)
    return;
  refill(c, mc__now_ms(c->owner));
  c->tokens -= n;
  if (c->tokens < 1.0) {
    c->owner->stats.paused_rate++;
    mc__conn_pause(c, PAUSE_RATE);
  }
}

void mc_conn_charge(mc_conn *c, double frames) { mc__rate_spend(c, frames); }

/* ---- deadlines ---- */

/* How long c may go without a complete frame (or with a congested
 * queue) before it is closed. */
static uint64_t deadline_of(const mc_conn *c) {
  const mc_net_limits *lim = &c->owner->lim;
  switch (c->cls) {
  case MC_CONN_NEW:
  case MC_CONN_HANDSHAKE:
    return lim->handshake_ms;
  case MC_CONN_CLIENT:
    return lim->idle_ms;
  default:
    return lim->silence_ms;
  }
}

/* The deadline c has missed at `now`, or NULL. */
static const char *overdue(const mc_conn *c, uint64_t now) {
  uint64_t limit = deadline_of(c);
  if (c->stalled_ms != 0 && now - c->stalled_ms > limit)
    return "not reading";
  if (mc__unproven(c) || (c->outbound && c->cls == MC_CONN_HANDSHAKE))
    return now - c->opened_ms > limit ? "handshake timeout" : NULL;
  if (now - c->last_frame_ms <= limit)
    return NULL;
  return c->cls == MC_CONN_CLIENT ? "idle" : "peer silent";
}

void mc__on_sweep(uv_timer_t *t) {
  mc_listener *l = t->data;
  uint64_t now = mc__now_ms(l);
  mc_conn *next;
  for (mc_conn *c = l->conns; c != NULL; c = next) {
    next = c->next; /* closing c unlinks it; freeing waits for its callback */
    /* a dial still connecting counts too: a black-holed address must not
     * hold its dialler for the kernel's two minutes */
    const char *why = overdue(c, now);
    if (why != NULL) {
      if (c->cls == MC_CONN_NEW || c->cls == MC_CONN_HANDSHAKE)
        l->stats.closed_handshake++;
      else
        l->stats.closed_idle++;
      mc_conn_close(c, why);
      continue;
    }
    if (c->paused & PAUSE_RATE) {
      refill(c, now);
      if (c->tokens >= 1.0)
        mc__conn_resume(c, PAUSE_RATE);
    }
  }
}

/* The oldest unproven inbound connection from `ip`, or (ip NULL) in
 * `bucket`. */
static mc_conn *oldest_unproven(mc_listener *l, const char *ip,
                                unsigned bucket) {
  mc_conn *found = NULL;
  for (mc_conn *c = l->conns; c != NULL; c = c->next)
    if (mc__unproven(c) &&
        (ip != NULL ? strcmp(c->ip, ip) == 0 : c->bucket == bucket))
      found = c; /* the list is newest first */
  return found;
}

static size_t from_ip(const mc_listener *l, const char *ip) {
  size_t k = 0;
  for (const mc_conn *c = l->conns; c != NULL; c = c->next)
    k += !c->outbound && !mc__is_validator(c) && strcmp(c->ip, ip) == 0;
  return k;
}

/* The bucket of the addresses holding the most unproven connections. */
static unsigned most_crowded(const mc_listener *l) {
  unsigned best = 0;
  for (unsigned b = 1; b < CROWD_BUCKETS; b++)
    if (l->crowd[b] > l->crowd[best])
      best = b;
  return best;
}

/* Makes room for a new inbound connection from ip: returns NULL if it may
 * come in (evicting an unproven one if that is what it takes), or why it
 * is refused. */
const char *mc__make_room(mc_listener *l, const char *ip) {
  size_t shared = l->lim.max_conns > l->lim.reserved
                      ? l->lim.max_conns - l->lim.reserved
                      : 0;
  mc_conn *victim = NULL;
  if (from_ip(l, ip) >= l->lim.max_conns_per_ip) {
    victim = oldest_unproven(l, ip, 0);
    if (victim == NULL)
      return "too many connections from this address";
  } else if (l->nonval >= shared) {
    unsigned mine = mc__crowd_bucket(ip), top = most_crowded(l);
    if (l->crowd[top] == 0 || l->crowd[mine] + 1u > l->crowd[top])
      return "too many connections"; /* the newcomer's address is the crowd */
    victim = oldest_unproven(l, NULL, top);
  }
  if (victim != NULL) {
    l->stats.evicted++;
    mc_conn_close(victim, "evicted for a newer connection");
  }
  return NULL;
}

/* Refusals are counted; under a flood one line a second says how many. */
void mc__log_refusal(mc_listener *l, const char *peer, const char *why) {
  l->stats.refused++;
  l->refusals_unlogged++;
  uint64_t now = mc__now_ms(l);
  if (now - l->last_refusal_log_ms < 1000 && l->last_refusal_log_ms != 0)
    return;
  MC_LOG(MC_LOG_WARN, "conn_refused", MC_LOG_F_S("peer", peer),
         MC_LOG_F_S("reason", why),
         MC_LOG_F_U("refused_since_last", l->refusals_unlogged));
  l->refusals_unlogged = 0;
  l->last_refusal_log_ms = now;
}
