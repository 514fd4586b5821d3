/*
 * poa_watch.c - the watch rule: a validator without trustworthy consensus
 * state signs nothing until it cannot contradict an earlier vote of its
 * own (docs/CONSENSUS.md, "The watch rule", has the proof).
 *
 * It watches when it starts with no saved state and the operator did not
 * assert a never-used key (--new-validator), and whenever it sees a valid
 * signature of its own key above its high-water mark, which it has no
 * record of (a restore from an older copy, or a second node running this
 * key).  While watching it follows the chain but signs nothing, and notes
 * the height of the first message each other validator sends it
 * directly.  Once n - q + f + 1 of them have spoken, one is an honest
 * validator that signed the commit certificate below our last lost vote,
 * so the highest first height + 2 is above every vote we may have lost:
 * we sign again from that height on.
 *
 * The watch is saved (resume = POA_WATCHING) so that a restart does not
 * forget it, and so is the height it ends with.
 */
#include <assert.h>

#include "poa_internal.h"

#ifdef MC_POA_TEST_NO_WATCH
/* Test build only (tests/consensus/CMakeLists.txt): the engine without
 * the rule, which the tests must catch signing twice. */
enum { WATCH_RULE = 0 };
#else
enum { WATCH_RULE = 1 };
#endif

#define POA_UNHEARD UINT64_MAX

static const char *const KIND_NAMES[POA_NKINDS] = {"propose", "ack", "commit",
                                                   "viewchange"};

int poa_watching(const mc_consensus *c) {
  return WATCH_RULE && c->saved.resume == POA_WATCHING;
}

/* Other validators to hear from before signing again: n - q + f + 1. */
static uint32_t watch_need(const mc_consensus *c) {
  return c->n - c->q + c->f + 1;
}

static void log_watching(mc_consensus *c, const char *reason) {
  uint32_t need = watch_need(c);
  mc_log_field f[] = {
      MC_LOG_F_S("reason", reason), MC_LOG_F_U("must_hear_from", need),
      MC_LOG_F_U("other_validators", c->n - 1),
      MC_LOG_F_S("hint",
                 "this watch can never end: there are fewer other validators "
                 "than it must hear from. Only restarting with "
                 "--new-validator (if this key has truly never signed "
                 "anything for this chain) or putting back the lost "
                 "consensus state file gets this validator signing again")};
  int never = need > c->n - 1;
  poa_log(c, never ? MC_LOG_ERROR : MC_LOG_INFO, "watching", f, never ? 4 : 2);
}

void poa_watch_start(mc_consensus *c, const char *reason) {
  if (!WATCH_RULE || c->self < 0)
    return;
  c->saved.resume = POA_WATCHING;
  for (uint32_t i = 0; i < c->n; i++)
    c->watch_first[i] = POA_UNHEARD;
  c->watch_heard = 0;
  log_watching(c, reason);
}

/* Saves the watch, or how it ended, so that a restart keeps to it. */
static void save_watch(mc_consensus *c) {
  int rc = poa_state_save(c);
  if (rc != 0)
    poa_signing_stop(c, rc);
}

static void watch_end(mc_consensus *c) {
  uint64_t top = 0;
  for (uint32_t i = 0; i < c->n; i++)
    if (c->watch_first[i] != POA_UNHEARD && c->watch_first[i] > top)
      top = c->watch_first[i];
  c->saved.resume = top + 2;
  poa_log(c, MC_LOG_INFO, "watch_ended",
          (mc_log_field[]){MC_LOG_F_U("resume_height", c->saved.resume)}, 1);
  save_watch(c);
}

void poa_watch_hear(mc_consensus *c, uint32_t from, const poa_msg *m) {
  if (!poa_watching(c) || from != m->signer || (int32_t)from == c->self ||
      m->height > c->height + POA_FUTURE_HEIGHTS ||
      c->watch_first[from] != POA_UNHEARD)
    return;
  c->watch_first[from] = m->height;
  if (++c->watch_heard >= watch_need(c))
    watch_end(c);
}

void poa_watch_evidence(mc_consensus *c, poa_kind kind, uint64_t h,
                        uint64_t v, const char *where) {
  poa_saved *s = &c->saved;
  if (!WATCH_RULE || c->self < 0 || !poa_above_hw(s, h, v))
    return;
  int watching = poa_watching(c);
  if (!watching && h < s->resume)
    return; /* below an earlier watch's end: that watch accounted for it */
  poa_hw_raise(s, h, v); /* our key did sign there */
  if (watching)
    return;
  mc_log_field f[] = {
      MC_LOG_F_S("kind", KIND_NAMES[kind]), MC_LOG_F_U("height", h),
      MC_LOG_F_U("view", v), MC_LOG_F_S("seen_in", where),
      MC_LOG_F_U("deciding", c->height),
      MC_LOG_F_S("hint", "this key signed something this node has no record "
                         "of: its consensus state was restored from an older "
                         "copy, or a second node is running this key")};
  c->api->log(c->host, MC_LOG_ERROR, "own_signature_unknown", f,
              sizeof f / sizeof f[0]);
  poa_watch_start(c, "own_signature_unknown");
  save_watch(c);
}
