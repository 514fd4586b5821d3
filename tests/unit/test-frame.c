/*
 * test-frame.c - length-prefixed framing (host/net/frame.c): frames split
 * anywhere, many frames in one chunk, oversized and empty frames refused
 * from their header alone, and a callback that stops the reader.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "minichain/error.h"
#include "net/frame.h"

typedef struct got {
  int frames;
  size_t total;
  uint8_t last[64];
  size_t last_len;
  int stop_after; /* 0: never */
} got;

static int on_frame(void *arg, uint8_t *p, size_t n) {
  got *g = arg;
  g->frames++;
  g->total += n;
  g->last_len = n < sizeof g->last ? n : sizeof g->last;
  memcpy(g->last, p, g->last_len);
  return g->stop_after && g->frames == g->stop_after ? MC_EDECODE : 0;
}

/* Two frames "abc" and "hello" back to back. */
static size_t two_frames(uint8_t *buf) {
  mc_frame_header(buf, 3);
  memcpy(buf + 4, "abc", 3);
  mc_frame_header(buf + 7, 5);
  memcpy(buf + 11, "hello", 5);
  return 16;
}

static void test_header_is_big_endian(void **state) {
  (void)state;
  uint8_t h[4];
  mc_frame_header(h, 0x01020304);
  assert_memory_equal(h, "\x01\x02\x03\x04", 4);
}

static void test_whole_and_byte_by_byte(void **state) {
  (void)state;
  uint8_t buf[16];
  size_t n = two_frames(buf);
  mc_frame_reader r;
  got g = {0};
  mc_frame_reader_init(&r, 1024);
  assert_int_equal(mc_frame_feed(&r, buf, n, on_frame, &g), 0);
  assert_int_equal(g.frames, 2);
  assert_int_equal(g.last_len, 5);
  assert_memory_equal(g.last, "hello", 5);
  assert_int_equal(r.len, 0);

  memset(&g, 0, sizeof g);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(mc_frame_feed(&r, buf + i, 1, on_frame, &g), 0);
    /* the first frame completes exactly with its last byte */
    assert_int_equal(g.frames, i < 6 ? 0 : i < 15 ? 1 : 2);
  }
  assert_int_equal(g.total, 8);
  mc_frame_reader_free(&r);
}

static void test_partial_frame_waits(void **state) {
  (void)state;
  uint8_t buf[16];
  two_frames(buf);
  mc_frame_reader r;
  got g = {0};
  mc_frame_reader_init(&r, 1024);
  assert_int_equal(mc_frame_feed(&r, buf, 10, on_frame, &g), 0);
  assert_int_equal(g.frames, 1);
  assert_int_equal(r.len, 3); /* the second header, not yet its payload */
  assert_int_equal(mc_frame_feed(&r, buf + 10, 6, on_frame, &g), 0);
  assert_int_equal(g.frames, 2);
  mc_frame_reader_free(&r);
}

static void test_max_size_exactly(void **state) {
  (void)state;
  enum { MAX = 100 };
  uint8_t buf[4 + MAX];
  mc_frame_reader r;
  got g = {0};
  mc_frame_header(buf, MAX);
  memset(buf + 4, 'x', MAX);
  mc_frame_reader_init(&r, MAX);
  assert_int_equal(mc_frame_feed(&r, buf, sizeof buf, on_frame, &g), 0);
  assert_int_equal(g.frames, 1);
  assert_int_equal(g.total, MAX);
  mc_frame_reader_free(&r);
}

/* An oversized frame is refused from its 4 header bytes, before any of
 * its payload arrives, and nothing is delivered. */
static void test_oversized_refused_from_header(void **state) {
  (void)state;
  uint8_t hdr[4];
  mc_frame_reader r;
  got g = {0};
  mc_frame_reader_init(&r, 100);
  mc_frame_header(hdr, 101);
  assert_int_equal(mc_frame_feed(&r, hdr, 3, on_frame, &g), 0);
  assert_int_equal(mc_frame_feed(&r, hdr + 3, 1, on_frame, &g), MC_ETOOBIG);
  assert_int_equal(g.frames, 0);
  assert_true(r.cap <= 4096);
  mc_frame_reader_free(&r);

  mc_frame_reader_init(&r, 100);
  mc_frame_header(hdr, UINT32_MAX);
  assert_int_equal(mc_frame_feed(&r, hdr, 4, on_frame, &g), MC_ETOOBIG);
  mc_frame_reader_free(&r);
}

static void test_empty_frame_refused(void **state) {
  (void)state;
  uint8_t buf[4 + 3 + 4];
  mc_frame_reader r;
  got g = {0};
  mc_frame_header(buf, 3);
  memcpy(buf + 4, "abc", 3);
  mc_frame_header(buf + 7, 0);
  mc_frame_reader_init(&r, 100);
  assert_int_equal(mc_frame_feed(&r, buf, sizeof buf, on_frame, &g),
                   MC_ETOOBIG);
  assert_int_equal(g.frames, 1); /* the good frame before it still counts */
  mc_frame_reader_free(&r);
}

/* A big stream of small frames fed in reads of 1000 bytes never grows the
 * buffer past one maximal frame, its header and one read (rounded up to a
 * power of two). */
static void test_buffer_stays_bounded(void **state) {
  (void)state;
  enum { MAX = 5000, N = 3000, READ = 1000 };
  static uint8_t stream[N * 7];
  mc_frame_reader r;
  got g = {0};
  for (size_t i = 0; i < N; i++) {
    mc_frame_header(stream + 7 * i, 3);
    memcpy(stream + 7 * i + 4, "xyz", 3);
  }
  mc_frame_reader_init(&r, MAX);
  for (size_t off = 0; off < sizeof stream; off += READ) {
    size_t n = sizeof stream - off < READ ? sizeof stream - off : READ;
    assert_int_equal(mc_frame_feed(&r, stream + off, n, on_frame, &g), 0);
    assert_true(mc_frame_reader_capacity(&r) <= 8192);
  }
  assert_int_equal(g.frames, N);
  mc_frame_reader_free(&r);
}

/* Frames are taken one at a time, so a paused connection keeps the rest
 * buffered; the payload is writable (encrypted links open it in place). */
static void test_next_one_at_a_time(void **state) {
  (void)state;
  uint8_t buf[16], *p;
  size_t n = two_frames(buf), len;
  mc_frame_reader r;
  mc_frame_reader_init(&r, 1024);
  assert_int_equal(mc_frame_reader_append(&r, buf, n), 0);
  assert_int_equal(mc_frame_reader_next(&r, &p, &len), 1);
  assert_int_equal(len, 3);
  assert_memory_equal(p, "abc", 3);
  p[0] = 'A';
  assert_int_equal(mc_frame_reader_next(&r, &p, &len), 1);
  assert_memory_equal(p, "hello", 5);
  assert_int_equal(mc_frame_reader_next(&r, &p, &len), 0);
  mc_frame_reader_free(&r);
}

/* The buffer grows with the bytes that arrive, never with the length a
 * header announces: 8 MiB announced and 10 bytes sent hold 4 KiB.  need()
 * tells a caller with a budget what an append would take. */
static void test_grows_with_bytes_not_announcement(void **state) {
  (void)state;
  uint8_t hdr[14] = {0}, *p;
  size_t len;
  mc_frame_reader r;
  mc_frame_reader_init(&r, 8u << 20);
  mc_frame_header(hdr, 8u << 20);
  assert_int_equal(mc_frame_reader_append(&r, hdr, sizeof hdr), 0);
  assert_int_equal(mc_frame_reader_next(&r, &p, &len), 0);
  assert_int_equal(mc_frame_reader_capacity(&r), 4096);
  assert_int_equal(mc_frame_reader_need(&r, 100), 4096);
  assert_int_equal(mc_frame_reader_need(&r, 5000), 8192);
  mc_frame_reader_free(&r);
}

/* A link that authenticates may raise the limit for frames to come. */
static void test_set_max(void **state) {
  (void)state;
  static uint8_t buf[4 + 500];
  uint8_t *p;
  size_t len;
  mc_frame_reader r;
  mc_frame_header(buf, 500);
  mc_frame_reader_init(&r, 100);
  mc_frame_reader_set_max(&r, 1000);
  assert_int_equal(mc_frame_reader_append(&r, buf, sizeof buf), 0);
  assert_int_equal(mc_frame_reader_next(&r, &p, &len), 1);
  assert_int_equal(len, 500);
  mc_frame_reader_set_max(&r, 100);
  assert_int_equal(mc_frame_reader_append(&r, buf, sizeof buf), 0);
  assert_int_equal(mc_frame_reader_next(&r, &p, &len), MC_ETOOBIG);
  mc_frame_reader_free(&r);
}

static void test_callback_error_stops(void **state) {
  (void)state;
  uint8_t buf[16];
  size_t n = two_frames(buf);
  mc_frame_reader r;
  got g = {.stop_after = 1};
  mc_frame_reader_init(&r, 1024);
  assert_int_equal(mc_frame_feed(&r, buf, n, on_frame, &g), MC_EDECODE);
  assert_int_equal(g.frames, 1);
  mc_frame_reader_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_header_is_big_endian),
      cmocka_unit_test(test_whole_and_byte_by_byte),
      cmocka_unit_test(test_partial_frame_waits),
      cmocka_unit_test(test_max_size_exactly),
      cmocka_unit_test(test_oversized_refused_from_header),
      cmocka_unit_test(test_empty_frame_refused),
      cmocka_unit_test(test_buffer_stays_bounded),
      cmocka_unit_test(test_callback_error_stops),
      cmocka_unit_test(test_next_one_at_a_time),
      cmocka_unit_test(test_grows_with_bytes_not_announcement),
      cmocka_unit_test(test_set_max),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
