/*
 * raft_codec_test.c - unit tests of raft.so's message codec and saved
 * state (examples/consensus-raft/raft_codec.c, raft_persist.c).
 *
 * Everything a peer sends raft.so goes through rc_decode, so it must
 * refuse every malformed message with MC_EDECODE and never read out of
 * bounds, allocate what the message cannot hold, or leak: truncated at
 * every length, one byte too long, huge counts and lengths, wrong types
 * and enumerations, and many random corruptions of valid messages.  Run
 * under ASan in the sanitizer build (ctest sdk/raft-codec).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "minichain/error.h"
#include "raft_codec.h"
#include "raft_persist.h"

/* ---- building messages ---- */

static struct raft_entry ENTRIES[3];
static char DATA0[] = "first entry", DATA2[] = "third";

static struct raft_message msg_append(void) {
  struct raft_message m = {0};
  m.type = RAFT_IO_APPEND_ENTRIES;
  m.append_entries.term = 7;
  m.append_entries.prev_log_index = 41;
  m.append_entries.prev_log_term = 6;
  m.append_entries.leader_commit = 40;
  ENTRIES[0] = (struct raft_entry){7, RAFT_COMMAND, {DATA0, sizeof DATA0}, 0};
  ENTRIES[1] = (struct raft_entry){7, RAFT_BARRIER, {NULL, 0}, 0};
  ENTRIES[2] = (struct raft_entry){7, RAFT_CHANGE, {DATA2, sizeof DATA2}, 0};
  m.append_entries.entries = ENTRIES;
  m.append_entries.n_entries = 3;
  return m;
}

static struct raft_configuration CONF;
static char SNAPDATA[40] = "height and hash";

static struct raft_message msg_snapshot(void) {
  struct raft_message m = {0};
  m.type = RAFT_IO_INSTALL_SNAPSHOT;
  m.install_snapshot.term = 9;
  m.install_snapshot.last_index = 100;
  m.install_snapshot.last_term = 8;
  m.install_snapshot.conf_index = 1;
  m.install_snapshot.conf = CONF;
  m.install_snapshot.data.base = SNAPDATA;
  m.install_snapshot.data.len = sizeof SNAPDATA;
  return m;
}

/* One valid message of every type. */
static struct raft_message sample(int type) {
  struct raft_message m = {0};
  m.type = (unsigned short)type;
  switch (type) {
  case RAFT_IO_APPEND_ENTRIES:
    return msg_append();
  case RAFT_IO_INSTALL_SNAPSHOT:
    return msg_snapshot();
  case RAFT_IO_REQUEST_VOTE:
    m.request_vote = (struct raft_request_vote){5, 2, 30, 4, true, true};
    break;
  case RAFT_IO_REQUEST_VOTE_RESULT:
    m.request_vote_result =
        (struct raft_request_vote_result){5, true, raft_tribool_true};
    break;
  case RAFT_IO_APPEND_ENTRIES_RESULT:
    m.append_entries_result = (struct raft_append_entries_result){5, 0, 77};
    break;
  case RAFT_IO_TIMEOUT_NOW:
    m.timeout_now = (struct raft_timeout_now){5, 77, 4};
    break;
  }
  return m;
}

static int setup(void **state) {
  (void)state;
  raft_configuration_init(&CONF);
  for (int i = 1; i <= 3; i++) {
    char addr[32];
    snprintf(addr, sizeof addr, "validator-%d", i - 1);
    if (raft_configuration_add(&CONF, (raft_id)i, addr, RAFT_VOTER) != 0)
      return -1;
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  raft_configuration_close(&CONF);
  return 0;
}

static void encode(const struct raft_message *m, uint8_t **out, size_t *len) {
  assert_int_equal(rc_encode(m, out, len), 0);
}

/* ---- round trips ---- */

static void test_round_trip_fixed(void **state) {
  (void)state;
  int types[] = {RAFT_IO_REQUEST_VOTE, RAFT_IO_REQUEST_VOTE_RESULT,
                 RAFT_IO_APPEND_ENTRIES_RESULT, RAFT_IO_TIMEOUT_NOW};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    struct raft_message m = sample(types[i]), d;
    uint8_t *buf;
    size_t len;
    encode(&m, &buf, &len);
    assert_int_equal(rc_decode(buf, len, &d), 0);
    assert_int_equal(d.type, m.type);
    assert_int_equal(d.server_id, 0); /* the receiver sets it */
    switch (types[i]) {
    case RAFT_IO_REQUEST_VOTE:
      assert_int_equal(d.request_vote.term, 5);
      assert_int_equal(d.request_vote.candidate_id, 2);
      assert_int_equal(d.request_vote.last_log_index, 30);
      assert_int_equal(d.request_vote.last_log_term, 4);
      assert_true(d.request_vote.disrupt_leader && d.request_vote.pre_vote);
      break;
    case RAFT_IO_REQUEST_VOTE_RESULT:
      assert_int_equal(d.request_vote_result.term, 5);
      assert_true(d.request_vote_result.vote_granted);
      assert_int_equal(d.request_vote_result.pre_vote, raft_tribool_true);
      break;
    case RAFT_IO_APPEND_ENTRIES_RESULT:
      assert_int_equal(d.append_entries_result.term, 5);
      assert_int_equal(d.append_entries_result.rejected, 0);
      assert_int_equal(d.append_entries_result.last_log_index, 77);
      break;
    case RAFT_IO_TIMEOUT_NOW:
      assert_int_equal(d.timeout_now.term, 5);
      assert_int_equal(d.timeout_now.last_log_index, 77);
      assert_int_equal(d.timeout_now.last_log_term, 4);
      break;
    }
    free(buf);
  }
}

static void test_round_trip_append(void **state) {
  (void)state;
  struct raft_message m = msg_append(), d;
  uint8_t *buf;
  size_t len;
  encode(&m, &buf, &len);
  assert_int_equal(rc_decode(buf, len, &d), 0);
  struct raft_append_entries *a = &d.append_entries;
  assert_int_equal(a->term, 7);
  assert_int_equal(a->prev_log_index, 41);
  assert_int_equal(a->leader_commit, 40);
  assert_int_equal(a->n_entries, 3);
  for (unsigned i = 0; i < 3; i++) {
    assert_int_equal(a->entries[i].type, ENTRIES[i].type);
    assert_int_equal(a->entries[i].buf.len, ENTRIES[i].buf.len);
    assert_ptr_equal(a->entries[i].batch, a->entries[0].batch);
    if (ENTRIES[i].buf.len)
      assert_memory_equal(a->entries[i].buf.base, ENTRIES[i].buf.base,
                          ENTRIES[i].buf.len);
  }
  rc_message_free(&d);
  free(buf);
}

static void test_round_trip_snapshot(void **state) {
  (void)state;
  struct raft_message m = msg_snapshot(), d;
  uint8_t *buf;
  size_t len;
  encode(&m, &buf, &len);
  assert_int_equal(rc_decode(buf, len, &d), 0);
  assert_int_equal(d.install_snapshot.last_index, 100);
  assert_int_equal(d.install_snapshot.conf.n, 3);
  assert_string_equal(d.install_snapshot.conf.servers[2].address,
                      "validator-2");
  assert_int_equal(d.install_snapshot.data.len, sizeof SNAPDATA);
  assert_memory_equal(d.install_snapshot.data.base, SNAPDATA,
                      sizeof SNAPDATA);
  rc_message_free(&d);
  free(buf);
}

static void test_encode_refuses(void **state) {
  (void)state;
  struct raft_message m = {0};
  uint8_t *buf;
  size_t len;
  m.type = 0;
  assert_int_equal(rc_encode(&m, &buf, &len), MC_EINVAL);
  m.type = 7;
  assert_int_equal(rc_encode(&m, &buf, &len), MC_EINVAL);
  m = msg_append();
  m.append_entries.n_entries = RC_MAX_ENTRIES + 1;
  assert_int_equal(rc_encode(&m, &buf, &len), MC_EINVAL);
}

/* ---- malformed input ---- */

/* Every strict prefix, and one byte more, of a valid encoding. */
static void test_truncated_and_trailing(void **state) {
  (void)state;
  for (int type = RAFT_IO_APPEND_ENTRIES; type <= RAFT_IO_TIMEOUT_NOW;
       type++) {
    struct raft_message m = sample(type), d;
    uint8_t *buf;
    size_t len;
    encode(&m, &buf, &len);
    for (size_t cut = 0; cut < len; cut++) {
      uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees */
      memcpy(copy, buf, cut);
      assert_int_equal(rc_decode(copy, cut, &d), MC_EDECODE);
      free(copy);
    }
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    assert_int_equal(rc_decode(longer, len + 1, &d), MC_EDECODE);
    free(longer);
    free(buf);
  }
}

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Offsets in an AppendEntries encoding: 2 header + 32 fixed. */
#define AE_COUNT 34
#define AE_ENTRY0 (AE_COUNT + 4)

static void expect_append_refused(void (*poke)(uint8_t *, size_t)) {
  struct raft_message m = msg_append(), d;
  uint8_t *buf;
  size_t len;
  encode(&m, &buf, &len);
  poke(buf, len);
  assert_int_equal(rc_decode(buf, len, &d), MC_EDECODE);
  free(buf);
}

static void poke_count_huge(uint8_t *b, size_t n) {
  (void)n;
  put32(b + AE_COUNT, 0xffffffffu);
}
static void poke_count_over_max(uint8_t *b, size_t n) {
  (void)n;
  put32(b + AE_COUNT, RC_MAX_ENTRIES + 1);
}
static void poke_count_more(uint8_t *b, size_t n) {
  (void)n;
  put32(b + AE_COUNT, 4); /* one more than the body holds */
}
static void poke_entry_len_huge(uint8_t *b, size_t n) {
  (void)n;
  put32(b + AE_ENTRY0 + 9, 0xffffffffu);
}
static void poke_entry_len_long(uint8_t *b, size_t n) {
  (void)n;
  put32(b + AE_ENTRY0 + 9, sizeof DATA0 + 1);
}
static void poke_entry_type0(uint8_t *b, size_t n) {
  (void)n;
  b[AE_ENTRY0 + 8] = 0;
}
static void poke_entry_type4(uint8_t *b, size_t n) {
  (void)n;
  b[AE_ENTRY0 + 8] = 4;
}
static void poke_entry_term0(uint8_t *b, size_t n) {
  (void)n;
  memset(b + AE_ENTRY0, 0, 8);
}
static void poke_version(uint8_t *b, size_t n) {
  (void)n;
  b[0] = 2;
}
static void poke_type0(uint8_t *b, size_t n) {
  (void)n;
  b[1] = 0;
}
static void poke_type7(uint8_t *b, size_t n) {
  (void)n;
  b[1] = 7;
}
static void poke_type_vote(uint8_t *b, size_t n) {
  (void)n;
  b[1] = RAFT_IO_REQUEST_VOTE; /* an append body read as a vote */
}

static void test_append_malformed(void **state) {
  (void)state;
  void (*pokes[])(uint8_t *, size_t) = {
      poke_count_huge,     poke_count_over_max, poke_count_more,
      poke_entry_len_huge, poke_entry_len_long, poke_entry_type0,
      poke_entry_type4,    poke_entry_term0,    poke_version,
      poke_type0,          poke_type7,          poke_type_vote};
  for (size_t i = 0; i < sizeof pokes / sizeof pokes[0]; i++)
    expect_append_refused(pokes[i]);
}

static void expect_refused(int type, size_t off, const uint8_t *bytes,
                           size_t n) {
  struct raft_message m = sample(type), d;
  uint8_t *buf;
  size_t len;
  encode(&m, &buf, &len);
  assert_true(off + n <= len);
  memcpy(buf + off, bytes, n);
  assert_int_equal(rc_decode(buf, len, &d), MC_EDECODE);
  free(buf);
}

static void test_enums_malformed(void **state) {
  (void)state;
  uint8_t b;
  b = 4; /* vote flags: only bits 0 and 1 */
  expect_refused(RAFT_IO_REQUEST_VOTE, 2 + 32, &b, 1);
  b = 2; /* vote_granted is a bool */
  expect_refused(RAFT_IO_REQUEST_VOTE_RESULT, 2 + 8, &b, 1);
  b = 3; /* pre_vote is a tribool */
  expect_refused(RAFT_IO_REQUEST_VOTE_RESULT, 2 + 9, &b, 1);
}

/* InstallSnapshot: 2 header + 32 fixed, u32 servers, then servers of
 * 8 id + 1 role + 1 length + address. */
#define IS_COUNT 34
#define IS_SERVER0 (IS_COUNT + 4)

static void test_snapshot_malformed(void **state) {
  (void)state;
  uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
  uint8_t zero4[4] = {0, 0, 0, 0};
  uint8_t over[4];
  put32(over, RC_MAX_SERVERS + 1);
  expect_refused(RAFT_IO_INSTALL_SNAPSHOT, IS_COUNT, huge, 4);
  expect_refused(RAFT_IO_INSTALL_SNAPSHOT, IS_COUNT, over, 4);
  expect_refused(RAFT_IO_INSTALL_SNAPSHOT, IS_COUNT, zero4, 4);
  uint8_t id0[8] = {0};
  expect_refused(RAFT_IO_INSTALL_SNAPSHOT, IS_SERVER0, id0, 8);
  uint8_t role = 3;
  expect_refused(RAFT_IO_INSTALL_SNAPSHOT, IS_SERVER0 + 8, &role, 1);
  uint8_t alen = 0;
  expect_refused(RAFT_IO_INSTALL_SNAPSHOT, IS_SERVER0 + 9, &alen, 1);
  uint8_t ctl = 0x01; /* an unprintable address byte */
  expect_refused(RAFT_IO_INSTALL_SNAPSHOT, IS_SERVER0 + 10, &ctl, 1);
  /* the data length: huge, and one past the body */
  struct raft_message m = msg_snapshot();
  uint8_t *buf;
  size_t len;
  encode(&m, &buf, &len);
  size_t dlen_off = len - sizeof SNAPDATA - 4;
  free(buf);
  expect_refused(RAFT_IO_INSTALL_SNAPSHOT, dlen_off, huge, 4);
  uint8_t plus1[4];
  put32(plus1, sizeof SNAPDATA + 1);
  expect_refused(RAFT_IO_INSTALL_SNAPSHOT, dlen_off, plus1, 4);
}

/* Random corruptions of valid messages: whatever decodes is freed, the
 * rest is MC_EDECODE; ASan checks every read and that nothing leaks. */
static void test_random_corruption(void **state) {
  (void)state;
  uint32_t seed = 12345;
  for (int round = 0; round < 20000; round++) {
    int type = RAFT_IO_APPEND_ENTRIES + round % 6;
    struct raft_message m = sample(type), d;
    uint8_t *buf;
    size_t len;
    encode(&m, &buf, &len);
    int flips = 1 + round % 4;
    for (int f = 0; f < flips; f++) {
      seed = seed * 1103515245u + 12345u;
      buf[(seed >> 8) % len] ^= (uint8_t)(1u << ((seed >> 4) % 8));
    }
    seed = seed * 1103515245u + 12345u;
    size_t cut = round % 3 == 0 ? (seed >> 8) % (len + 1) : len;
    int rc = rc_decode(buf, cut, &d);
    assert_true(rc == 0 || rc == MC_EDECODE);
    if (rc == 0)
      rc_message_free(&d);
    free(buf);
  }
}

/* ---- saved state ---- */

static void fill_state(rp_state *s) {
  memset(s, 0, sizeof *s);
  s->term = 4;
  s->vote = 2;
  s->snap = (rp_snapshot){1, 10, 3, 1, 9, {0xab}};
  s->first = 11;
  assert_int_equal(rp_push(s, 3, RAFT_COMMAND, "block 11", 8), 0);
  assert_int_equal(rp_push(s, 4, RAFT_BARRIER, NULL, 0), 0);
  assert_int_equal(rp_push(s, 4, RAFT_COMMAND, "block 12", 8), 0);
}

static void test_state_round_trip_and_edit(void **state) {
  (void)state;
  rp_state s, d;
  fill_state(&s);
  uint8_t *buf;
  size_t len;
  assert_int_equal(rp_encode(&s, &buf, &len), 0);
  assert_int_equal(rp_decode(buf, len, &d), 0);
  assert_int_equal(d.term, 4);
  assert_int_equal(d.snap.index, 10);
  assert_int_equal(d.n, 3);
  assert_memory_equal(d.entries[2].data, "block 12", 8);
  assert_int_equal(rp_term_of(&d, 10), 3); /* the snapshot's */
  assert_int_equal(rp_term_of(&d, 12), 4);
  assert_int_equal(rp_term_of(&d, 14), 0);
  rp_truncate(&d, 13);
  assert_int_equal(d.n, 2);
  rp_drop_prefix(&d, 11);
  assert_int_equal(d.first, 12);
  assert_int_equal(d.n, 1);
  assert_int_equal(d.entries[0].type, RAFT_BARRIER);
  rp_clear(&d);
  for (size_t cut = 0; cut < len; cut++)
    assert_int_equal(rp_decode(buf, cut, &d), MC_ECORRUPT);
  /* magic, version, term, vote, flag, snapshot: the first index's last
   * byte is at 96; changed, it no longer follows the snapshot */
  buf[96] ^= 1;
  assert_int_equal(rp_decode(buf, len, &d), MC_ECORRUPT);
  free(buf);
  rp_clear(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip_fixed),
      cmocka_unit_test(test_round_trip_append),
      cmocka_unit_test(test_round_trip_snapshot),
      cmocka_unit_test(test_encode_refuses),
      cmocka_unit_test(test_truncated_and_trailing),
      cmocka_unit_test(test_append_malformed),
      cmocka_unit_test(test_enums_malformed),
      cmocka_unit_test(test_snapshot_malformed),
      cmocka_unit_test(test_random_corruption),
      cmocka_unit_test(test_state_round_trip_and_edit),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
