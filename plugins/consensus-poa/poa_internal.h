/*
 * poa_internal.h - the PoA engine's internal types, shared by its files.
 *
 * poa.c        the vtable, lifecycle, timers and the local message queue
 * poa_msg.c    msgpack: the bounds check for untrusted bytes, message
 *              parsing, signing bytes and message encoding
 * poa_cert.c   signature lists: prepared and commit certificates
 * poa_store.c  the persisted votes and lock (state_save / state_load)
 * poa_sign.c   when we may sign; a vote is saved before it is sent
 * poa_watch.c  the watch rule: no signing without trustworthy state
 * poa_book.c   what is held about the height being decided: others'
 *              votes, candidate blocks, messages for later heights
 * poa_round.c  the state machine: PROPOSE -> ACK -> COMMIT, VIEWCHANGE
 *
 * The protocol and its byte formats are specified in docs/CONSENSUS.md.
 * Everything here runs on the host's loop thread; nothing is shared.
 */
#ifndef MC_POA_INTERNAL_H
#define MC_POA_INTERNAL_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "minichain/consensus.h"
#include "minichain/error.h"
#include "minichain/host.h"

#define POA_MAX_VALIDATORS 1024
/* Largest message accepted from the network (a PROPOSE carries a block). */
#define POA_MSG_MAX (16u << 20)
/* Views of one signer remembered per message kind at the current height;
 * the lowest view is forgotten first. */
#define POA_SLOTS 4
/* Candidate blocks (by hash) remembered at the current height. */
#define POA_CANDIDATES 8
/* Messages for future heights: only the next few heights, a few per signer. */
#define POA_FUTURE_HEIGHTS 4
#define POA_FUTURE_PER_SIGNER 32
/* ... and at most this many bytes of them per signer (a PROPOSE carries a
 * block: 32 of the largest would be hundreds of MiB). */
#define POA_FUTURE_BYTES_PER_SIGNER (16u << 20)
/* Round timeout = view_timeout_ms << min(view, POA_BACKOFF_CAP): at most 8x. */
#define POA_BACKOFF_CAP 3

typedef enum poa_kind {
  POA_PROPOSE = 0,
  POA_ACK = 1,
  POA_COMMIT = 2,
  POA_VIEWCHANGE = 3,
  POA_NKINDS = 4
} poa_kind;

/* ---- poa_msg.c ---- */

/* A growable output buffer for msgpack_packer that remembers a failure. */
typedef struct poa_buf {
  msgpack_sbuffer sb;
  int failed;
} poa_buf;

void poa_buf_init(poa_buf *b, msgpack_packer *pk);
/* Takes the bytes (free with free()) or returns MC_ENOMEM. */
int poa_buf_finish(poa_buf *b, uint8_t **out, size_t *len);
/* Appends already-encoded msgpack bytes verbatim. */
void poa_pack_raw(msgpack_packer *pk, const uint8_t *p, size_t n);

/* 0 if p[0..n) is exactly one msgpack value whose declared lengths all fit
 * in n (see the .c for why msgpack-c needs this), else MC_EDECODE. */
int poa_msgpack_check(const uint8_t *p, size_t n);
/* The check, then unpacks into u (initialised by the caller). */
int poa_unpack(const uint8_t *p, size_t n, msgpack_unpacked *u);

/* Strict accessors: 0 or MC_EDECODE. */
int poa_obj_u64(const msgpack_object *o, uint64_t *out);
int poa_obj_bin(const msgpack_object *o, uint8_t *out, size_t len);
int poa_obj_array(const msgpack_object *o, uint32_t min, uint32_t max);

/* A decoded message.  Object pointers point into the msgpack_unpacked the
 * message was parsed from and live as long as it does. */
typedef struct poa_msg {
  poa_kind kind;
  uint64_t height, view;
  uint8_t hash[MC_HASH_LEN]; /* block hash; VIEWCHANGE: prepared hash */
  uint32_t signer;
  uint8_t sig[MC_SIG_LEN];
  int prepared;                 /* VIEWCHANGE carries a prepared cert */
  uint64_t pview;               /* its view */
  const msgpack_object *pcert;  /* VIEWCHANGE: [pview, hash, siglist] */
  const msgpack_object *block;  /* PROPOSE, VIEWCHANGE: bin or NULL */
  const msgpack_object *just;   /* PROPOSE: array of VIEWCHANGEs */
} poa_msg;

/* Packs the head every message starts with: [tag, h, v, ... (array of
 * the kind's arity). */
void poa_pack_head(msgpack_packer *pk, poa_kind kind, uint64_t h, uint64_t v);

/* Parses the shape of any message (types, sizes, tags); checks no
 * signature.  Returns 0 or MC_EDECODE. */
int poa_msg_parse(const msgpack_object *o, poa_msg *m);

/* The signing bytes of m (msgpack, see docs/CONSENSUS.md) into out, which
 * has room for POA_SIGNING_MAX bytes; returns their length. */
#define POA_SIGNING_MAX 160
size_t poa_signing_bytes(poa_kind kind, uint64_t h, uint64_t v,
                         const uint8_t *hash, int prepared, uint64_t pview,
                         uint8_t out[POA_SIGNING_MAX]);

/* ---- poa_cert.c ---- */

typedef struct poa_sig {
  uint32_t signer;
  uint8_t sig[MC_SIG_LEN];
} poa_sig;

typedef struct mc_consensus mc_consensus;

/* Verifies a msgpack array of [signer, sig] pairs: between q and n
 * entries, distinct validators, each a valid `kind` signature over
 * (h, v, hash).  0 or MC_ECERT. */
int poa_siglist_verify(mc_consensus *c, poa_kind kind, uint64_t h,
                       uint64_t v, const uint8_t hash[MC_HASH_LEN],
                       const msgpack_object *list);
/* Packs sigs as that array. */
void poa_siglist_pack(msgpack_packer *pk, const poa_sig *sigs, uint32_t n);
/* Verifies a prepared certificate [pview, hash, siglist] at height h whose
 * view must be below `below`; fills *pview and hash.  0 or MC_ECERT. */
int poa_prepared_verify(mc_consensus *c, uint64_t h, uint64_t below,
                        const msgpack_object *pc, uint64_t *pview,
                        uint8_t hash[MC_HASH_LEN]);
/* Encodes a prepared certificate (malloc'd bytes) or a commit certificate. */
int poa_prepared_encode(uint64_t pview, const uint8_t hash[MC_HASH_LEN],
                        const poa_sig *sigs, uint32_t n, uint8_t **out,
                        size_t *len);
int poa_commit_cert_encode(uint64_t h, uint64_t v,
                           const uint8_t hash[MC_HASH_LEN], const poa_sig *sigs,
                           uint32_t n, uint8_t **out, size_t *len);
/* The vtable's verify_certificate. */
int poa_verify_certificate(mc_consensus *c, const mc_block *b,
                           const uint8_t *cert, size_t cert_len);

/* ---- poa_store.c: what survives a restart ---- */

typedef struct poa_vote_rec { /* one of our own signatures at `height` */
  int set;
  uint64_t view;
  uint8_t hash[MC_HASH_LEN];
  uint8_t sig[MC_SIG_LEN];
} poa_vote_rec;

typedef struct poa_saved {
  /* The round we are in and our votes in it: void once height commits. */
  uint64_t height, view;
  poa_vote_rec prop;        /* our last PROPOSE at height (as leader) */
  poa_vote_rec ack;         /* our last ACK at height */
  poa_vote_rec commit;      /* our last COMMIT at height */
  int vc_set;               /* we sent VIEWCHANGE for vc_view */
  uint64_t vc_view;
  int lock_set;             /* our highest prepared certificate */
  uint64_t lock_view;
  uint8_t lock_hash[MC_HASH_LEN];
  uint8_t *lock_cert;       /* [pview, hash, siglist] msgpack, malloc'd */
  size_t lock_cert_len;
  uint8_t *lock_block;      /* the block's canonical bytes, malloc'd */
  size_t lock_block_len;
  /* Across heights, never lowered: the highest (height, view) at which
   * this key signed anything (as far as this record knows). */
  int hw_set;
  uint64_t hw_height, hw_view;
  /* Across heights: sign at no height below this (the end of a watch);
   * POA_WATCHING while watching (poa_watch.c). */
  uint64_t resume;
} poa_saved;

#define POA_WATCHING UINT64_MAX

/* Saves c->saved durably.  0 or the host's error (not logged: a failed
 * save is reported by the signing_stopped it causes). */
int poa_state_save(mc_consensus *c);
/* Loads into c->saved; MC_ENOTFOUND when nothing was saved, MC_ECORRUPT or
 * MC_EVERSION (logged) for bytes this engine cannot trust. */
int poa_state_load(mc_consensus *c);
/* Forgets the lock (frees its buffers). */
void poa_saved_clear_lock(poa_saved *s);
/* Moves the record to `height`, view 0, with no votes and no lock; what
 * holds across heights (hw, resume) is kept. */
void poa_saved_next_height(poa_saved *s, uint64_t height);
/* 1 if (h, v) is above the high-water mark (or there is none). */
int poa_above_hw(const poa_saved *s, uint64_t h, uint64_t v);
/* Raises the high-water mark to (h, v) if that is higher. */
void poa_hw_raise(poa_saved *s, uint64_t h, uint64_t v);

/* ---- poa_sign.c: a signature is saved before it is sent ---- */

/* 1 if this validator may sign (and send) anything now. */
int poa_may_sign(const mc_consensus *c);
/* Begins a change to c->saved that will hold a new signature or lock;
 * *before keeps the record as it is (its lock buffers stay shared: a
 * change replaces them, it never frees them). */
void poa_record_begin(mc_consensus *c, poa_saved *before);
/* Ends it: if rc (the signing step's result) is 0, saves c->saved.  On
 * any failure puts *before back and returns the error; a failed save also
 * stops signing.  Returns 0 when the new record is on disk. */
int poa_record_end(mc_consensus *c, poa_saved *before, int rc);
/* A save failed: sign nothing until one works (logged once). */
void poa_signing_stop(mc_consensus *c, int rc);
/* Stopped: tries to save the current state; success resumes signing. */
void poa_signing_retry(mc_consensus *c);

/* ---- poa_watch.c: the watch rule ---- */

int poa_watching(const mc_consensus *c);
/* Starts watching (logged with the reason); signs nothing until it ends. */
void poa_watch_start(mc_consensus *c, const char *reason);
/* A message m whose signature verified arrived from validator `from`:
 * while watching, the first one a validator sends itself is noted. */
void poa_watch_hear(mc_consensus *c, uint32_t from, const poa_msg *m);
/* A valid signature of our own key on a `kind` at (h, v), seen in
 * `where`: above our high-water mark it means our record is not the
 * whole story, and we watch. */
void poa_watch_evidence(mc_consensus *c, poa_kind kind, uint64_t h,
                        uint64_t v, const char *where);

/* ---- poa_round.c ---- */

typedef struct poa_vote { /* someone's message at the current height */
  int used;
  uint64_t view;
  uint8_t hash[MC_HASH_LEN];
  uint8_t sig[MC_SIG_LEN];
  int prepared;       /* VIEWCHANGE */
  uint64_t pview;     /* VIEWCHANGE */
  uint8_t *wire;      /* VIEWCHANGE without its block, for justifications */
  size_t wire_len;
} poa_vote;

typedef struct poa_candidate {
  uint8_t hash[MC_HASH_LEN];
  mc_block *block; /* host-owned: freed with api->block_free */
  uint64_t age;
} poa_candidate;

typedef struct poa_qmsg { /* a queued message (local or future height) */
  struct poa_qmsg *next;
  uint64_t height;
  uint32_t from;   /* who handed it to us */
  uint32_t signer; /* future buffer: whose per-signer quota it uses */
  size_t len;
  uint8_t data[];
} poa_qmsg;

struct mc_consensus {
  const mc_host_api *api;
  mc_host *host;
  uint64_t block_interval_ms, view_timeout_ms;
  uint32_t n, f, q;
  int32_t self;                   /* -1: observer, signs nothing */
  uint8_t (*keys)[MC_PUBKEY_LEN]; /* validator keys, genesis order */

  int running;
  int signing_stopped;    /* a save failed (poa_sign.c) */
  uint64_t flags;         /* mc_consensus_params.flags */
  /* While watching: each validator's first message height since the watch
   * began (UINT64_MAX: none yet), and how many have spoken. */
  uint64_t *watch_first;
  uint32_t watch_heard;
  uint64_t height, view;  /* the round being decided (= saved's) */
  uint64_t round_timer, propose_timer;
  /* View v > 0 is "synced" once q validators are known to have reached it
   * (their VIEWCHANGE for v or above) or a justified proposal for it came:
   * only then does the round timer run.  Before that resend_timer re-sends
   * our VIEWCHANGE, so a validator alone never climbs views on its own. */
  int view_synced;
  uint64_t resend_timer;
  uint64_t last_commit_ms; /* monotonic: where the wait for the next
                              proposal starts (interval_start) */
  const mc_block *committing; /* during commit_block: the block, taken
                                 from the candidates */

  poa_saved saved;
  poa_vote *votes; /* [kind-1][signer][slot] for ACK, COMMIT, VIEWCHANGE */
  poa_candidate cand[POA_CANDIDATES];
  uint64_t cand_clock;

  poa_qmsg *local_head, *local_tail; /* our own messages, handled in order */
  poa_qmsg *future;                  /* messages for later heights */
  uint32_t *future_count;            /* per signer */
  size_t *future_bytes;              /* per signer */
  int draining;
};

/* ---- poa_book.c ---- */

/* The POA_SLOTS vote slots of one signer for one kind (not PROPOSE). */
poa_vote *poa_slots_of(mc_consensus *c, poa_kind kind, uint32_t signer);
/* Stores m (taking `wire`, which may be NULL); returns 1 if it is new.
 * One vote per signer and view: a second, different one is equivocation
 * and is ignored. */
int poa_record_vote(mc_consensus *c, const poa_msg *m, uint8_t *wire,
                    size_t wire_len);
/* Signers with a `kind` vote for (v, hash) (hash NULL: any); their
 * signatures go to out (room for n; may be NULL). */
uint32_t poa_count_votes(mc_consensus *c, poa_kind kind, uint64_t v,
                         const uint8_t hash[MC_HASH_LEN], poa_sig *out);
/* Candidate blocks by hash: add takes b (host-owned), find lends it, take
 * hands it back to the caller. */
void poa_cand_add(mc_consensus *c, mc_block *b);
const mc_block *poa_cand_find(mc_consensus *c, const uint8_t hash[MC_HASH_LEN]);
mc_block *poa_cand_take(mc_consensus *c, const uint8_t hash[MC_HASH_LEN]);
/* Keeps a message for a later height within the per-signer bounds. */
void poa_buffer_future(mc_consensus *c, uint32_t from, const poa_msg *m,
                       const uint8_t *msg, size_t len);
/* Queues the kept messages of the height now begun; drops the past. */
void poa_replay_future(mc_consensus *c);

/* Handles one message whose bytes come from `from` (or ourselves);
 * `fresh`: it arrived from the network just now (not our own, not a
 * replay of a buffered one). */
int poa_handle(mc_consensus *c, uint32_t from, const uint8_t *msg, size_t len,
               int fresh);
/* Enters c->height (after create or a commit): resets the round state,
 * arms the timers, replays buffered messages. */
void poa_round_begin(mc_consensus *c);
/* Timer callbacks (arg is the engine). */
void poa_on_round_timeout(void *arg);
void poa_on_propose_timer(void *arg);
void poa_on_resend_timer(void *arg);
/* Frees the per-height round state. */
void poa_round_reset(mc_consensus *c);
/* The leader of (h, v). */
uint32_t poa_leader(const mc_consensus *c, uint64_t h, uint64_t v);

/* ---- poa.c ---- */

/* Sends bytes to every validator and queues them for ourselves. */
void poa_emit(mc_consensus *c, const uint8_t *msg, size_t len);
/* Queues bytes for local handling (copied). */
int poa_queue_local(mc_consensus *c, uint32_t from, const uint8_t *msg,
                    size_t len);
/* Handles queued local messages until none is left (not re-entrant). */
void poa_drain(mc_consensus *c);
/* (Re)arms a timer; *id is 0 when none is armed. */
void poa_timer_arm(mc_consensus *c, uint64_t *id, uint64_t delay,
                   mc_timer_cb cb);
void poa_timer_cancel(mc_consensus *c, uint64_t *id);
/* log helper: event with height and view plus extra fields */
void poa_log(mc_consensus *c, mc_log_level lvl, const char *event,
             const mc_log_field *extra, size_t nextra);

#endif /* MC_POA_INTERNAL_H */
