/*
 * json_journal.c - DIR/chain.journal: the blocks appended since chain.json
 * was last written, one record per block, so that an append costs one
 * write and one fdatasync of that block's bytes rather than a rewrite of
 * the whole chain.
 *
 * The file is a 16-byte header ("minichain-jrnl1\n") and then records:
 *
 *   u32 magic "MCJR" | u32 payload length L | payload (L bytes) |
 *   16-byte BLAKE2b of the 8 + L bytes before it
 *
 *   payload: u64 height | 32-byte block hash | u32 line length with its
 *            NUL | the block's chain.json line and a NUL | u32 n |
 *            n x (32-byte public key, u64 balance, u64 nonce)
 *
 * (integers little-endian).  The line is exactly what chain.json holds for
 * the block, so folding the journal into chain.json is a copy; the
 * account values are the block's state changes, so replaying records on
 * top of chain.json's accounts gives the state after the last one.
 *
 * Records are only ever added at the end, one at a time, each followed by
 * an fdatasync before append() returns.  So a crash can damage only the
 * last record, and only one whose append never returned 0: a damaged
 * record with nothing intact after it is a torn tail and is cut off; a
 * damaged record with an intact one after it cannot come from a crash and
 * is corruption.  A journal is created whole (temp file with the header,
 * fdatasync, rename, fsync of the directory), so a journal shorter than
 * its header is corruption too.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json_internal.h"
#include "minichain/error.h"

#define REC_MAGIC 0x524a434du /* "MCJR" read little-endian */
#define REC_HEAD 8u
#define REC_SUM 16u
#define CHANGE_LEN (MC_PUBKEY_LEN + 16u)
/* A block's line is at most a few tens of MiB; anything longer is a
 * damaged length field, not a record. */
#define REC_MAX_PAYLOAD (1u << 30)

static const char journal_magic[MC_JSON_JOURNAL_HEAD + 1] = "minichain-jrnl1\n";

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

static void checksum(const uint8_t *p, size_t n, uint8_t out[REC_SUM]) {
  crypto_generichash(out, REC_SUM, p, n, NULL, 0);
}

int mc__jrec_encode(const mc_block *b, const char *line,
                    const mc_account *changes, size_t n, uint8_t **out,
                    size_t *outlen) {
  size_t line_len = strlen(line) + 1;
  if (n > UINT32_MAX || line_len > REC_MAX_PAYLOAD / 2 ||
      n > (REC_MAX_PAYLOAD / 2) / CHANGE_LEN)
    return MC_ENOMEM;
  size_t payload = 8 + MC_HASH_LEN + 4 + line_len + 4 + n * CHANGE_LEN;
  size_t total = REC_HEAD + payload + REC_SUM;
  uint8_t *r = malloc(total), *p = r;
  if (r == NULL)
    return MC_ENOMEM;
  put32(p, REC_MAGIC);
  put32(p + 4, (uint32_t)payload);
  p += REC_HEAD;
  put64(p, b->header.height);
  memcpy(p + 8, b->hash, MC_HASH_LEN);
  p += 8 + MC_HASH_LEN;
  put32(p, (uint32_t)line_len);
  memcpy(p + 4, line, line_len);
  p += 4 + line_len;
  put32(p, (uint32_t)n);
  p += 4;
  for (size_t i = 0; i < n; i++, p += CHANGE_LEN) {
    memcpy(p, changes[i].pubkey, MC_PUBKEY_LEN);
    put64(p + MC_PUBKEY_LEN, changes[i].balance);
    put64(p + MC_PUBKEY_LEN + 8, changes[i].nonce);
  }
  checksum(r, REC_HEAD + payload, p);
  *out = r;
  *outlen = total;
  return 0;
}

void mc__jrec_change(const mc__jrec *r, uint32_t i, mc_account *out) {
  const uint8_t *p = r->changes + (size_t)i * CHANGE_LEN;
  memset(out, 0, sizeof *out);
  memcpy(out->pubkey, p, MC_PUBKEY_LEN);
  out->balance = get64(p + MC_PUBKEY_LEN);
  out->nonce = get64(p + MC_PUBKEY_LEN + 8);
}

/* What is at buf[pos]: an intact record, damage (what a torn write
 * leaves), or an intact checksum over a payload we did not write. */
enum { REC_OK, REC_DAMAGED, REC_MALFORMED };

static int record_at(char *buf, size_t len, size_t pos, mc__jrec *r,
                     size_t *total) {
  const uint8_t *p = (const uint8_t *)buf + pos;
  size_t room = len - pos;
  if (room < REC_HEAD + REC_SUM || get32(p) != REC_MAGIC)
    return REC_DAMAGED;
  size_t payload = get32(p + 4);
  if (payload > REC_MAX_PAYLOAD || payload > room - REC_HEAD - REC_SUM)
    return REC_DAMAGED;
  uint8_t sum[REC_SUM];
  checksum(p, REC_HEAD + payload, sum);
  if (sodium_memcmp(sum, p + REC_HEAD + payload, REC_SUM) != 0)
    return REC_DAMAGED;
  *total = REC_HEAD + payload + REC_SUM;
  /* The checksum holds: from here on a problem is not a torn write. */
  const uint8_t *q = p + REC_HEAD, *end = q + payload;
  if (payload < 8 + MC_HASH_LEN + 4)
    return REC_MALFORMED;
  memset(r, 0, sizeof *r);
  r->offset = pos;
  r->height = get64(q);
  r->hash = q + 8;
  q += 8 + MC_HASH_LEN;
  size_t line_len = get32(q);
  q += 4;
  if (line_len < 2 || line_len > (size_t)(end - q) || q[line_len - 1] != '\0' ||
      memchr(q, '\0', line_len - 1) != NULL)
    return REC_MALFORMED;
  r->line = (char *)q;
  r->line_len = line_len - 1;
  q += line_len;
  if ((size_t)(end - q) < 4)
    return REC_MALFORMED;
  r->nchanges = get32(q);
  q += 4;
  if ((size_t)(end - q) != (size_t)r->nchanges * CHANGE_LEN)
    return REC_MALFORMED;
  r->changes = q;
  return REC_OK;
}

/* The offset of an intact record after pos, or 0 if there is none. */
static size_t intact_after(char *buf, size_t len, size_t pos) {
  uint8_t magic[4];
  put32(magic, REC_MAGIC);
  for (size_t q = pos + 1; q + REC_HEAD + REC_SUM <= len; q++) {
    const char *hit = memchr(buf + q, magic[0], len - q);
    if (hit == NULL)
      return 0;
    q = (size_t)(hit - buf);
    mc__jrec r;
    size_t total;
    if (q + 4 <= len && memcmp(hit, magic, 4) == 0 &&
        record_at(buf, len, q, &r, &total) != REC_DAMAGED)
      return q;
  }
  return 0;
}

int mc__jjournal_scan(char *buf, size_t len, int tail_may_tear, mc__jrec_cb cb,
                      void *arg, size_t *good_end, char *err, size_t errlen) {
  if (len < MC_JSON_JOURNAL_HEAD ||
      memcmp(buf, journal_magic, MC_JSON_JOURNAL_HEAD) != 0) {
    snprintf(err, errlen,
             "not a json.so journal (no \"minichain-jrnl1\" "
             "header)");
    return MC_ECORRUPT;
  }
  size_t pos = MC_JSON_JOURNAL_HEAD;
  while (pos < len) {
    mc__jrec r;
    size_t total = 0;
    int st = record_at(buf, len, pos, &r, &total);
    if (st == REC_MALFORMED) {
      snprintf(err, errlen,
               "the record at byte %zu has a good checksum but a malformed "
               "payload",
               pos);
      return MC_ECORRUPT;
    }
    if (st == REC_DAMAGED) {
      size_t next = intact_after(buf, len, pos);
      if (next != 0 || !tail_may_tear) {
        snprintf(err, errlen,
                 next ? "the record at byte %zu is damaged and an intact "
                        "record follows it at byte %zu (not a torn append)"
                      : "the record at byte %zu is damaged",
                 pos, next);
        return MC_ECORRUPT;
      }
      break; /* a torn tail: the append that wrote it never returned 0 */
    }
    int rc = cb(arg, &r, err, errlen);
    if (rc != 0)
      return rc;
    pos += total;
  }
  *good_end = pos;
  return 0;
}

static int io_error(char *err, size_t errlen, const char *what, int e) {
  snprintf(err, errlen, "%s: %s", what, strerror(e));
  return MC_EIO;
}

static int write_all(int fd, const void *p, size_t n, off_t at) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = pwrite(fd, c, n, at);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -1;
    c += w;
    n -= (size_t)w;
    at += w;
  }
  return 0;
}

int mc__jjournal_create(int dirfd, const char *name, int *fd_out, char *err,
                        size_t errlen) {
  int fd = openat(dirfd, MC_JSON_JOURNAL_TMP,
                  O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return io_error(err, errlen, "cannot create " MC_JSON_JOURNAL_TMP, errno);
  int e = 0;
  if (write_all(fd, journal_magic, MC_JSON_JOURNAL_HEAD, 0) != 0 ||
      fdatasync(fd) != 0)
    e = errno ? errno : EIO;
  if (!e && renameat(dirfd, MC_JSON_JOURNAL_TMP, dirfd, name) != 0)
    e = errno;
  if (e) {
    close(fd);
    unlinkat(dirfd, MC_JSON_JOURNAL_TMP, 0);
    return io_error(err, errlen, "cannot create the journal", e);
  }
  if (fsync(dirfd) != 0) {
    e = errno;
    close(fd);
    return io_error(err, errlen, "cannot sync the directory", e);
  }
  *fd_out = fd;
  return 0;
}

int mc__jjournal_append(int fd, uint64_t end, const uint8_t *rec, size_t len,
                        int *intact, char *err, size_t errlen) {
  *intact = 1;
  errno = 0;
  if (write_all(fd, rec, len, (off_t)end) == 0 && fdatasync(fd) == 0)
    return 0;
  int e = errno ? errno : EIO;
  /* Part of the record may be in the file (or in the page cache): cut it
   * off, so that the next record follows the last good one.  If even that
   * fails, the file's tail is unknown and no record may follow it. */
  if (ftruncate(fd, (off_t)end) != 0 || fdatasync(fd) != 0)
    *intact = 0;
  return io_error(err, errlen, "cannot append to " MC_JSON_JOURNAL, e);
}
