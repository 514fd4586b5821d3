/*
 * test-handshake.c - the peer handshake and encrypted frames
 * (host/net/handshake.c, host/net/channel.c), run in memory: a complete
 * handshake, the relay attack of the old AUTH (a stranger forwarding one
 * validator's proof to another), replayed and tampered handshakes, and
 * frames that are replayed, reordered, turned around or altered.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chain/crypto.h"
#include "keys.h"
#include "minichain/error.h"
#include "net/channel.h"
#include "net/frame.h"
#include "net/handshake.h"

static uint8_t genesis[MC_HASH_LEN];

typedef struct side {
  mc_keypair id;
  mc_hs hs;
  mc_hs_peer self, learnt;
  mc_channel ch;
} side;

static void make_side(side *s, const char *name, uint64_t height) {
  memset(s, 0, sizeof *s);
  assert_int_equal(mc_key_from_dev_name(name, &s->id), 0);
  memcpy(s->self.pk, s->id.pk, MC_PUBKEY_LEN);
  s->self.height = height;
  memset(s->self.head_hash, (int)height, MC_HASH_LEN);
}

/* The wire between the two: what HELLO, WELCOME and AUTH carry. */
typedef struct wire {
  uint8_t e_i[32], n_i[32], e_r[32], n_r[32];
  uint8_t *welcome, *auth;
  size_t welcome_len, auth_len;
} wire;

static void wire_free(wire *w) {
  free(w->welcome);
  free(w->auth);
}

static void hello(side *i, wire *w) {
  mc_hs_begin(&i->hs, 1, genesis);
  memcpy(w->e_i, i->hs.e_pk, 32);
  memcpy(w->n_i, i->hs.nonce, 32);
}

static int welcome(side *r, wire *w) {
  mc_hs_begin(&r->hs, 0, genesis);
  int rc = mc_hs_welcome(&r->hs, w->e_i, w->n_i, &r->id, &r->self,
                         &w->welcome, &w->welcome_len);
  memcpy(w->e_r, r->hs.e_pk, 32);
  memcpy(w->n_r, r->hs.nonce, 32);
  return rc;
}

static int auth(side *i, wire *w) {
  return mc_hs_auth(&i->hs, w->e_r, w->n_r, w->welcome, w->welcome_len,
                    &i->id, &i->self, &i->learnt, &w->auth, &w->auth_len);
}

static int finish(side *r, wire *w) {
  return mc_hs_finish(&r->hs, w->auth, w->auth_len, &r->learnt);
}

/* Seals payload as a frame on `from` and opens it on `to`. */
static int pass(mc_channel *from, mc_channel *to, const char *payload) {
  size_t n = strlen(payload);
  uint8_t frame[256], *body = frame + MC_FRAME_HEADER_LEN;
  memcpy(body, payload, n);
  assert_int_equal(mc_channel_seal(from, frame, n), 0);
  size_t len = mc_frame_length(frame), plain;
  assert_int_equal(len, n + MC_CHANNEL_TAG_LEN);
  int rc = mc_channel_open(to, body, len, &plain);
  if (rc == 0) {
    assert_int_equal(plain, n);
    assert_memory_equal(body, payload, n);
  }
  return rc;
}

static void test_full_handshake(void **state) {
  (void)state;
  side a, b;
  wire w = {0};
  make_side(&a, "validator-0", 5);
  make_side(&b, "validator-1", 9);
  hello(&a, &w);
  assert_int_equal(welcome(&b, &w), 0);
  assert_int_equal(auth(&a, &w), 0);
  assert_int_equal(finish(&b, &w), 0);
  /* each learnt the other's proven key and claimed head */
  assert_memory_equal(a.learnt.pk, b.id.pk, MC_PUBKEY_LEN);
  assert_int_equal(a.learnt.height, 9);
  assert_memory_equal(b.learnt.pk, a.id.pk, MC_PUBKEY_LEN);
  assert_int_equal(b.learnt.height, 5);
  mc_hs_channel(&a.hs, &a.ch);
  mc_hs_channel(&b.hs, &b.ch);
  assert_memory_equal(a.ch.tx_key, b.ch.rx_key, MC_CHANNEL_KEY_LEN);
  assert_memory_equal(a.ch.rx_key, b.ch.tx_key, MC_CHANNEL_KEY_LEN);
  assert_memory_not_equal(a.ch.tx_key, a.ch.rx_key, MC_CHANNEL_KEY_LEN);
  assert_int_equal(pass(&a.ch, &b.ch, "one"), 0);
  assert_int_equal(pass(&a.ch, &b.ch, "two"), 0);
  assert_int_equal(pass(&b.ch, &a.ch, "back"), 0);
  wire_free(&w);
}

/* The attack on the old handshake: a stranger S dials A claiming to be B.
 * It runs a second handshake with B in which B is the initiator (B dials
 * S) and forwards B's AUTH to A.  A refuses it: B's signature names B's
 * session (its ephemeral keys and challenges), not A's. */
static void test_relayed_auth_refused(void **state) {
  (void)state;
  side a, b, s;
  wire wa = {0}, wb = {0};
  make_side(&a, "validator-0", 1);
  make_side(&b, "validator-1", 1);
  make_side(&s, "stranger", 1);
  /* S -> A: S's HELLO, A's WELCOME */
  hello(&s, &wa);
  assert_int_equal(welcome(&a, &wa), 0);
  /* B -> S: B's HELLO; S answers as responder, B authenticates to S */
  hello(&b, &wb);
  assert_int_equal(welcome(&s, &wb), 0);
  assert_int_equal(auth(&b, &wb), 0);
  /* S forwards B's AUTH to A as its own */
  free(wa.auth);
  wa.auth = malloc(wb.auth_len);
  memcpy(wa.auth, wb.auth, wb.auth_len);
  wa.auth_len = wb.auth_len;
  assert_int_equal(finish(&a, &wa), MC_ESIG);
  /* Nor can S pass A's WELCOME to B as its own: B's next handshake with
   * S sees a WELCOME sealed for another session. */
  side b2;
  wire wc = {0};
  make_side(&b2, "validator-1", 1);
  hello(&b2, &wc);
  wc.welcome = malloc(wa.welcome_len);
  memcpy(wc.welcome, wa.welcome, wa.welcome_len);
  wc.welcome_len = wa.welcome_len;
  memcpy(wc.e_r, wa.e_r, 32);
  memcpy(wc.n_r, wa.n_r, 32);
  assert_int_equal(auth(&b2, &wc), MC_ESIG);
  wire_free(&wa);
  wire_free(&wb);
  wire_free(&wc);
}

/* A recorded handshake replayed to the responder (same HELLO, the old
 * AUTH) fails: its new WELCOME has a fresh ephemeral key and challenge. */
static void test_replayed_handshake_refused(void **state) {
  (void)state;
  side a, b;
  wire w = {0};
  make_side(&a, "validator-0", 1);
  make_side(&b, "validator-1", 1);
  hello(&a, &w);
  assert_int_equal(welcome(&b, &w), 0);
  assert_int_equal(auth(&a, &w), 0);
  assert_int_equal(finish(&b, &w), 0);
  side b_again;
  make_side(&b_again, "validator-1", 1);
  uint8_t *old_auth = w.auth;
  size_t old_len = w.auth_len;
  free(w.welcome);
  assert_int_equal(welcome(&b_again, &w), 0);
  w.auth = old_auth;
  w.auth_len = old_len;
  assert_int_equal(finish(&b_again, &w), MC_ESIG);
  wire_free(&w);
}

/* Any byte changed in WELCOME or AUTH, or another chain, fails. */
static void test_tampered_or_foreign(void **state) {
  (void)state;
  for (size_t at = 0; at < 3; at++) {
    side a, b;
    wire w = {0};
    make_side(&a, "validator-0", 1);
    make_side(&b, "validator-1", 1);
    hello(&a, &w);
    assert_int_equal(welcome(&b, &w), 0);
    if (at == 0)
      w.welcome[w.welcome_len / 2] ^= 1;
    if (at == 1)
      w.n_r[0] ^= 1; /* the challenge is in the transcript */
    int rc = auth(&a, &w);
    if (at < 2) {
      assert_int_equal(rc, MC_ESIG);
    } else {
      assert_int_equal(rc, 0);
      w.auth[3] ^= 0x80;
      assert_int_equal(finish(&b, &w), MC_ESIG);
    }
    wire_free(&w);
  }
  side a, b;
  wire w = {0};
  make_side(&a, "validator-0", 1);
  make_side(&b, "validator-1", 1);
  hello(&a, &w);
  uint8_t other[MC_HASH_LEN];
  memset(other, 0xee, sizeof other);
  mc_hs_begin(&b.hs, 0, other); /* a node of another chain */
  assert_int_equal(mc_hs_welcome(&b.hs, w.e_i, w.n_i, &b.id, &b.self,
                                 &w.welcome, &w.welcome_len),
                   0);
  memcpy(w.e_r, b.hs.e_pk, 32);
  memcpy(w.n_r, b.hs.nonce, 32);
  assert_int_equal(auth(&a, &w), MC_ESIG);
  wire_free(&w);
}

/* A low-order ephemeral key (all zeros) is refused. */
static void test_low_order_key(void **state) {
  (void)state;
  side b;
  wire w = {0};
  make_side(&b, "validator-1", 1);
  assert_int_equal(welcome(&b, &w), MC_ESIG);
}

static void established(side *a, side *b) {
  wire w = {0};
  make_side(a, "validator-0", 1);
  make_side(b, "validator-1", 1);
  hello(a, &w);
  assert_int_equal(welcome(b, &w), 0);
  assert_int_equal(auth(a, &w), 0);
  assert_int_equal(finish(b, &w), 0);
  mc_hs_channel(&a->hs, &a->ch);
  mc_hs_channel(&b->hs, &b->ch);
  wire_free(&w);
}

/* Frames cannot be replayed, reordered, reflected or altered. */
static void test_frames(void **state) {
  (void)state;
  side a, b;
  established(&a, &b);
  uint8_t f1[64], f2[64], copy[64];
  size_t plain;
  memcpy(f1 + 4, "first", 5);
  memcpy(f2 + 4, "second", 6);
  assert_int_equal(mc_channel_seal(&a.ch, f1, 5), 0);
  assert_int_equal(mc_channel_seal(&a.ch, f2, 6), 0);
  /* reordered: the second frame first */
  memcpy(copy, f2, sizeof copy);
  assert_int_equal(mc_channel_open(&b.ch, copy + 4, 6 + 16, &plain), MC_ESIG);
  /* in order: fine */
  memcpy(copy, f1, sizeof copy);
  assert_int_equal(mc_channel_open(&b.ch, copy + 4, 5 + 16, &plain), 0);
  /* replayed: the first again */
  memcpy(copy, f1, sizeof copy);
  assert_int_equal(mc_channel_open(&b.ch, copy + 4, 5 + 16, &plain), MC_ESIG);
  /* altered */
  memcpy(copy, f2, sizeof copy);
  copy[5] ^= 1;
  assert_int_equal(mc_channel_open(&b.ch, copy + 4, 6 + 16, &plain), MC_ESIG);
  /* cut short (the length is authenticated) */
  memcpy(copy, f2, sizeof copy);
  assert_int_equal(mc_channel_open(&b.ch, copy + 4, 6 + 15, &plain), MC_ESIG);
  /* reflected back to its sender */
  memcpy(copy, f2, sizeof copy);
  a.ch.rx_count = 1;
  assert_int_equal(mc_channel_open(&a.ch, copy + 4, 6 + 16, &plain), MC_ESIG);
  memcpy(copy, f2, sizeof copy);
  assert_int_equal(mc_channel_open(&b.ch, copy + 4, 6 + 16, &plain), 0);
  assert_memory_equal(copy + 4, "second", 6);
}

static int setup(void **state) {
  (void)state;
  assert_int_equal(mc_crypto_init(), 0);
  memset(genesis, 0x42, sizeof genesis);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_full_handshake),
      cmocka_unit_test(test_relayed_auth_refused),
      cmocka_unit_test(test_replayed_handshake_refused),
      cmocka_unit_test(test_tampered_or_foreign),
      cmocka_unit_test(test_low_order_key),
      cmocka_unit_test(test_frames),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
