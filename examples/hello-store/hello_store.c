/*
 * hello_store.c - a small durable chain store plugin: an append-only log,
 * built only against the installed MiniChain SDK (examples/hello-store).
 *
 * It is the model of a store plugin, short enough to read in one sitting:
 * everything a store must do (DESIGN §6, minichain/store.h) and nothing
 * more.  The data directory holds one file, hello-store.log:
 *
 *   "minichain-hello-store 1\n"                       file header
 *   record*                                           one per block
 *   record  = u32 payload_len | payload | SHA-256(payload)
 *   payload = u32 block_len | block | u32 n | n * (pubkey | u64 balance |
 *             u64 nonce)
 *
 * Integers are big-endian; `block` is the host's canonical encoding
 * (encode_block, with the commit certificate), so the store never needs to
 * know the wire format.  A record is the unit of atomicity: append() writes
 * it at the end and fsyncs before returning, and open() ignores a final
 * record that is cut short or fails its hash (a crash mid-append) and
 * overwrites it on the next append.  A bad record anywhere else is damage,
 * refused as MC_ECORRUPT with the file left as it was.
 *
 * open() replays the log into memory (blocks by height, accounts sorted by
 * public key); reads are then served from memory.  That bounds the chain
 * by RAM and makes opening linear in its length: fine for an example and
 * for tests, the reason json.so and leveldb.so exist for real use.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <minichain/error.h>
#include <minichain/plugin.h>
#include <minichain/store.h>

#define LOG_NAME "hello-store.log"
#define FILE_HEADER "minichain-hello-store 1\n"
#define FILE_HEADER_LEN (sizeof FILE_HEADER - 1)
#define ACCOUNT_REC_LEN (MC_PUBKEY_LEN + 8 + 8)
#define MAX_PAYLOAD (256u << 20) /* a length above this is damage */

struct mc_store {
  const mc_host_api *api;
  mc_host *host;
  int fd;           /* the log, open for reading and writing */
  off_t end;        /* end of the last good record: where the next goes */
  int torn;         /* bytes of a crashed append follow `end` */
  mc_block *blocks; /* deep copies; blocks[i].header.height == i */
  size_t nblocks, capblocks;
  mc_account *accounts; /* sorted by pubkey */
  size_t naccounts, capaccounts;
};

/* ---- blocks -------------------------------------------------------------- */

static void *dup_bytes(const void *p, size_t len) {
  void *q = malloc(len);
  if (q != NULL)
    memcpy(q, p, len);
  return q;
}

/* Frees what copy_block allocated inside b (not b itself). */
static void clear_block(mc_block *b) {
  free(b->txs);
  free(b->cert);
  memset(b, 0, sizeof *b);
}

/* Deep copy: the host's pointers are valid only during the call. */
static int copy_block(mc_block *dst, const mc_block *src) {
  *dst = *src;
  dst->txs = NULL;
  dst->cert = NULL;
  if (src->header.tx_count > 0) {
    dst->txs = dup_bytes(src->txs, src->header.tx_count * sizeof *src->txs);
    if (dst->txs == NULL)
      return MC_ENOMEM;
  }
  if (src->cert_len > 0) {
    dst->cert = dup_bytes(src->cert, src->cert_len);
    if (dst->cert == NULL) {
      clear_block(dst);
      return MC_ENOMEM;
    }
  }
  return 0;
}

/* A heap copy the caller frees with hello_free_block. */
static int new_block_copy(const mc_block *src, mc_block **out) {
  mc_block *b = malloc(sizeof *b);
  if (b == NULL)
    return MC_ENOMEM;
  int rc = copy_block(b, src);
  if (rc != 0) {
    free(b);
    return rc;
  }
  *out = b;
  return 0;
}

/* Whether b is the next block: height head+1 (0 when empty), prev_hash the
 * head's hash. */
static int links(const mc_store *s, const mc_block *b) {
  if (b->header.height != s->nblocks)
    return 0;
  return s->nblocks == 0 ||
         memcmp(b->header.prev_hash, s->blocks[s->nblocks - 1].hash,
                MC_HASH_LEN) == 0;
}

/* ---- accounts ------------------------------------------------------------ */

static int cmp_pubkey(const void *key, const void *elem) {
  return memcmp(key, ((const mc_account *)elem)->pubkey, MC_PUBKEY_LEN);
}

/* Index of pubkey, or of where it would be inserted (*found = 0). */
static size_t account_slot(const mc_store *s, const uint8_t *pubkey,
                           int *found) {
  size_t lo = 0, hi = s->naccounts;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = cmp_pubkey(pubkey, &s->accounts[mid]);
    if (c == 0) {
      *found = 1;
      return mid;
    }
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  *found = 0;
  return lo;
}

/* Cannot fail: append() reserved room for every change beforehand. */
static void put_account(mc_store *s, const mc_account *a) {
  int found;
  size_t i = account_slot(s, a->pubkey, &found);
  if (!found) {
    memmove(&s->accounts[i + 1], &s->accounts[i],
            (s->naccounts - i) * sizeof *s->accounts);
    s->naccounts++;
  }
  s->accounts[i] = *a;
}

/* ---- capacity ------------------------------------------------------------ */

static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return 0;
  size_t ncap = *cap ? *cap : 16;
  while (ncap < need)
    ncap *= 2;
  void *p = realloc(*arr, ncap * elem);
  if (p == NULL)
    return MC_ENOMEM;
  *arr = p;
  *cap = ncap;
  return 0;
}

static int reserve(mc_store *s, size_t nchanges) {
  int rc = grow((void **)&s->blocks, &s->capblocks, s->nblocks + 1,
                sizeof *s->blocks);
  if (rc == 0)
    rc = grow((void **)&s->accounts, &s->capaccounts, s->naccounts + nchanges,
              sizeof *s->accounts);
  return rc;
}

/* ---- byte order ---------------------------------------------------------- */

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 3; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

static uint64_t get_u64(const uint8_t *p) {
  return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

/* ---- writing the log ----------------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t len, off_t at) {
  while (len > 0) {
    ssize_t n = pwrite(fd, p, len, at);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return MC_EIO;
    p += n, len -= (size_t)n, at += n;
  }
  return 0;
}

/* The record for block b and its state changes, in one malloc'd buffer. */
static int encode_record(mc_store *s, const mc_block *b,
                         const mc_account *changes, size_t n, uint8_t **out,
                         size_t *out_len) {
  uint8_t *blk;
  size_t blen;
  int rc = s->api->encode_block(s->host, b, &blk, &blen);
  if (rc != 0)
    return rc;
  size_t plen = 4 + blen + 4 + n * ACCOUNT_REC_LEN;
  uint8_t *r = plen <= MAX_PAYLOAD ? malloc(4 + plen + MC_HASH_LEN) : NULL;
  if (r == NULL) {
    s->api->buf_free(s->host, blk);
    return plen <= MAX_PAYLOAD ? MC_ENOMEM : MC_ETOOBIG;
  }
  uint8_t *p = r;
  put_u32(p, (uint32_t)plen), p += 4;
  put_u32(p, (uint32_t)blen), p += 4;
  memcpy(p, blk, blen), p += blen;
  s->api->buf_free(s->host, blk);
  put_u32(p, (uint32_t)n), p += 4;
  for (size_t i = 0; i < n; i++, p += ACCOUNT_REC_LEN) {
    memcpy(p, changes[i].pubkey, MC_PUBKEY_LEN);
    put_u64(p + MC_PUBKEY_LEN, changes[i].balance);
    put_u64(p + MC_PUBKEY_LEN + 8, changes[i].nonce);
  }
  s->api->hash(s->host, r + 4, plen, p);
  *out = r;
  *out_len = 4 + plen + MC_HASH_LEN;
  return 0;
}

/*
 * Writes the record at s->end and makes it durable.  On failure the file
 * is cut back to s->end, so a half-written record cannot follow it.
 */
static int write_record(mc_store *s, const uint8_t *rec, size_t len) {
  /* Drop a torn tail first: a shorter record must not leave its bytes. */
  if (s->torn && ftruncate(s->fd, s->end) != 0)
    return MC_EIO;
  s->torn = 0;
  int rc = write_all(s->fd, rec, len, s->end);
  if (rc == 0 && fdatasync(s->fd) != 0)
    rc = MC_EIO;
  if (rc != 0) {
    if (ftruncate(s->fd, s->end) != 0)
      rc = MC_EIO; /* still refused; the tail is ignored at open */
    return rc;
  }
  s->end += (off_t)len;
  return 0;
}

/* ---- replaying the log --------------------------------------------------- */

/* Reads the whole file into a malloc'd buffer. */
static int read_file(int fd, uint8_t **out, size_t *len) {
  struct stat st;
  if (fstat(fd, &st) != 0)
    return MC_EIO;
  size_t size = (size_t)st.st_size;
  uint8_t *buf = malloc(size ? size : 1);
  if (buf == NULL)
    return MC_ENOMEM;
  for (size_t got = 0; got < size;) {
    ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      free(buf);
      return MC_EIO;
    }
    got += (size_t)n;
  }
  *out = buf;
  *len = size;
  return 0;
}

/* Applies one record's payload (its hash already checked) to memory. */
static int replay_payload(mc_store *s, const uint8_t *p, size_t len) {
  if (len < 8)
    return MC_ECORRUPT;
  uint32_t blen = get_u32(p);
  if (blen > len - 8)
    return MC_ECORRUPT;
  const uint8_t *acc = p + 4 + blen + 4;
  uint32_t n = get_u32(acc - 4);
  if ((size_t)n * ACCOUNT_REC_LEN != len - 8 - blen)
    return MC_ECORRUPT;
  mc_block *b;
  if (s->api->decode_block(s->host, p + 4, blen, &b) != 0)
    return MC_ECORRUPT;
  int rc = links(s, b) ? reserve(s, n) : MC_ECORRUPT;
  if (rc == 0)
    rc = copy_block(&s->blocks[s->nblocks], b);
  s->api->block_free(s->host, b);
  if (rc != 0)
    return rc;
  s->nblocks++;
  for (uint32_t i = 0; i < n; i++, acc += ACCOUNT_REC_LEN) {
    mc_account a;
    memcpy(a.pubkey, acc, MC_PUBKEY_LEN);
    a.balance = get_u64(acc + MC_PUBKEY_LEN);
    a.nonce = get_u64(acc + MC_PUBKEY_LEN + 8);
    put_account(s, &a);
  }
  return 0;
}

/*
 * Replays every record of buf[0..len).  Sets s->end to the end of the last
 * good one.  A bad final record is a torn append and is skipped; a bad
 * record followed by more data is damage.
 */
static int replay(mc_store *s, const uint8_t *buf, size_t len, char *err,
                  size_t errlen) {
  size_t off = FILE_HEADER_LEN;
  while (off < len) {
    size_t left = len - off;
    uint32_t plen = left >= 4 ? get_u32(buf + off) : 0;
    if (left < 4 || plen > MAX_PAYLOAD || left - 4 < plen + MC_HASH_LEN)
      break; /* cut short: the tail of a crashed append */
    uint8_t h[MC_HASH_LEN];
    s->api->hash(s->host, buf + off + 4, plen, h);
    size_t next = off + 4 + plen + MC_HASH_LEN;
    int ok = memcmp(h, buf + off + 4 + plen, MC_HASH_LEN) == 0;
    if (!ok && next == len)
      break; /* torn final record */
    int rc = ok ? replay_payload(s, buf + off + 4, plen) : MC_ECORRUPT;
    if (rc != 0) {
      snprintf(err, errlen, "%s: bad record at byte %zu (block %zu)", LOG_NAME,
               off, s->nblocks);
      return rc;
    }
    off = next;
  }
  s->end = (off_t)off;
  s->torn = off < len;
  return 0;
}

/* Opens dir/LOG_NAME, creating it with its header when absent. */
static int open_log(mc_store *s, const char *dir, char *err, size_t errlen) {
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, LOG_NAME) >=
      sizeof path) {
    snprintf(err, errlen, "%s: path too long", dir);
    return MC_EINVAL;
  }
  s->fd = open(path, O_RDWR | O_CLOEXEC);
  if (s->fd >= 0)
    return 0;
  if (errno != ENOENT) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return MC_EIO;
  }
  s->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int rc = s->fd < 0 || dfd < 0 ? MC_EIO : 0;
  if (rc == 0)
    rc = write_all(s->fd, (const uint8_t *)FILE_HEADER, FILE_HEADER_LEN, 0);
  /* The file and its name must both survive a crash. */
  if (rc == 0 && (fsync(s->fd) != 0 || fsync(dfd) != 0))
    rc = MC_EIO;
  if (dfd >= 0)
    close(dfd);
  if (rc != 0)
    snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
  return rc;
}

/* Reads the log and replays it; refuses a file that is not ours. */
static int load_log(mc_store *s, char *err, size_t errlen) {
  uint8_t *buf;
  size_t len;
  int rc = read_file(s->fd, &buf, &len);
  if (rc != 0) {
    snprintf(err, errlen, "%s: cannot read: %s", LOG_NAME, mc_strerror(rc));
    return rc;
  }
  /* The name is ours, so a wrong header is damage, not another store. */
  if (len < FILE_HEADER_LEN || memcmp(buf, FILE_HEADER, FILE_HEADER_LEN)) {
    snprintf(err, errlen, "%s: bad file header, not a hello-store log",
             LOG_NAME);
    rc = MC_ECORRUPT;
  } else {
    rc = replay(s, buf, len, err, errlen);
  }
  free(buf);
  return rc;
}

/* ---- the vtable ---------------------------------------------------------- */

/* Creating an empty file is ours to finish: a crash hit open_log. */
static int finish_empty_log(mc_store *s) {
  struct stat st;
  if (fstat(s->fd, &st) != 0)
    return MC_EIO;
  if (st.st_size != 0)
    return 0;
  int rc = write_all(s->fd, (const uint8_t *)FILE_HEADER, FILE_HEADER_LEN, 0);
  return rc == 0 && fsync(s->fd) != 0 ? MC_EIO : rc;
}

static void hello_close(mc_store *s);

static int hello_open(const mc_host_api *api, mc_host *host, const char *dir,
                      mc_store **out, char *err, size_t errlen) {
  if (api == NULL || dir == NULL || out == NULL) {
    snprintf(err, errlen, "hello-store: open needs the host api and a dir");
    return MC_EINVAL;
  }
  *out = NULL;
  mc_store *s = calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(err, errlen, "hello-store: out of memory");
    return MC_ENOMEM;
  }
  s->api = api;
  s->host = host;
  s->fd = -1;
  int rc = open_log(s, dir, err, errlen);
  if (rc == 0 && (rc = finish_empty_log(s)) != 0)
    snprintf(err, errlen, "%s/%s: cannot write: %s", dir, LOG_NAME,
             strerror(errno));
  if (rc == 0)
    rc = load_log(s, err, errlen);
  if (rc != 0) {
    hello_close(s);
    return rc;
  }
  mc_log_field f[] = {MC_LOG_F_U("blocks", s->nblocks)};
  api->log(host, MC_LOG_INFO, "hello_store_opened", f, 1);
  if (s->torn) {
    /* An append that crashed, as far as the file can tell; but a final
     * record hit by bit rot looks the same, so the operator is told. */
    mc_log_field t[] = {MC_LOG_F_U("offset", (uint64_t)s->end),
                        MC_LOG_F_U("height", s->nblocks)};
    api->log(host, MC_LOG_WARN, "hello_store_tail_dropped", t, 2);
  }
  *out = s;
  return 0;
}

static void hello_close(mc_store *s) {
  if (s == NULL)
    return;
  if (s->fd >= 0)
    close(s->fd);
  for (size_t i = 0; i < s->nblocks; i++)
    clear_block(&s->blocks[i]);
  free(s->blocks);
  free(s->accounts);
  free(s);
}

static int hello_head(mc_store *s, uint64_t *height,
                      uint8_t hash[MC_HASH_LEN]) {
  if (s->nblocks == 0)
    return MC_ENOTFOUND;
  const mc_block *top = &s->blocks[s->nblocks - 1];
  *height = top->header.height;
  memcpy(hash, top->hash, MC_HASH_LEN);
  return 0;
}

/*
 * Memory is made ready first (room reserved, the block copied into the
 * slot after the head), then the record is made durable, and only then is
 * the new state visible: a failure at any step leaves both as they were.
 */
static int hello_append(mc_store *s, const mc_block *b,
                        const mc_account *changes, size_t n) {
  if (!links(s, b))
    return MC_ELINK;
  int rc = reserve(s, n);
  if (rc == 0)
    rc = copy_block(&s->blocks[s->nblocks], b);
  if (rc != 0)
    return rc;
  uint8_t *rec;
  size_t len;
  rc = encode_record(s, b, changes, n, &rec, &len);
  if (rc == 0) {
    rc = write_record(s, rec, len);
    free(rec);
  }
  if (rc != 0) {
    clear_block(&s->blocks[s->nblocks]);
    return rc;
  }
  for (size_t i = 0; i < n; i++)
    put_account(s, &changes[i]);
  s->nblocks++;
  return 0;
}

static int hello_get_block(mc_store *s, uint64_t height, mc_block **out) {
  if (height >= s->nblocks)
    return MC_ENOTFOUND;
  return new_block_copy(&s->blocks[height], out);
}

static int hello_get_block_by_hash(mc_store *s, const uint8_t hash[MC_HASH_LEN],
                                   mc_block **out) {
  for (size_t i = 0; i < s->nblocks; i++)
    if (memcmp(s->blocks[i].hash, hash, MC_HASH_LEN) == 0)
      return new_block_copy(&s->blocks[i], out);
  return MC_ENOTFOUND;
}

static void hello_free_block(mc_store *s, mc_block *b) {
  (void)s;
  if (b == NULL)
    return;
  clear_block(b);
  free(b);
}

static int hello_get_account(mc_store *s, const uint8_t pubkey[MC_PUBKEY_LEN],
                             mc_account *out) {
  int found;
  size_t i = account_slot(s, pubkey, &found);
  if (!found)
    return MC_ENOTFOUND;
  *out = s->accounts[i];
  return 0;
}

static int hello_each_account(mc_store *s, mc_account_cb cb, void *arg) {
  for (size_t i = 0; i < s->naccounts; i++) {
    int rc = cb(arg, &s->accounts[i]);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int hello_find_tx(mc_store *s, const uint8_t txid[MC_HASH_LEN],
                         uint64_t *height, uint32_t *index) {
  for (size_t h = 0; h < s->nblocks; h++) {
    const mc_block *b = &s->blocks[h];
    for (uint32_t i = 0; i < b->header.tx_count; i++) {
      if (memcmp(b->txs[i].id, txid, MC_HASH_LEN) == 0) {
        *height = h;
        *index = i;
        return 0;
      }
    }
  }
  return MC_ENOTFOUND;
}

static const mc_store_vtable hello_vtable = {
    .size = sizeof hello_vtable,
    .open = hello_open,
    .close = hello_close,
    .head = hello_head,
    .append = hello_append,
    .get_block = hello_get_block,
    .get_block_by_hash = hello_get_block_by_hash,
    .free_block = hello_free_block,
    .get_account = hello_get_account,
    .each_account = hello_each_account,
    .find_tx = hello_find_tx,
};

MC_PLUGIN_DEFINE(MC_PLUGIN_STORE, "hello", "0.2.0",
                 "Append-only log store (the SDK example)", &hello_vtable)
