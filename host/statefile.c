/*
 * statefile.c - a plugin's durable state in two slots (statefile.h).
 */
#include "statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "minichain/error.h"

#define MAGIC "MCSTATE1"
#define FILE_HEADER 4096u
#define SLOT_HEADER 64u
#define MIN_CAPACITY (64u << 10)

struct mc_statefile {
  char *path;
  size_t max;
  int fd;        /* open while the file is in this format; else -1 */
  uint64_t cap;  /* slot capacity of the open file */
  uint64_t seq;  /* sequence number of the newest state */
  int newest;    /* slot holding it */
};

mc_statefile *mc_statefile_new(const char *path, size_t max) {
  mc_statefile *sf = calloc(1, sizeof *sf);
  if (sf == NULL || (sf->path = strdup(path)) == NULL) {
    free(sf);
    return NULL;
  }
  sf->max = max;
  sf->fd = -1;
  return sf;
}

void mc_statefile_free(mc_statefile *sf) {
  if (sf == NULL)
    return;
  if (sf->fd >= 0)
    close(sf->fd);
  free(sf->path);
  free(sf);
}

static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static uint64_t slot_offset(uint64_t cap, int slot) {
  return FILE_HEADER + (uint64_t)slot * (SLOT_HEADER + cap);
}

/* The slot header of (seq, data): seq, len, BLAKE2b over both and data. */
static void slot_header(uint64_t seq, const uint8_t *data, size_t len,
                        uint8_t out[SLOT_HEADER]) {
  memset(out, 0, SLOT_HEADER);
  put_u64(out, seq);
  put_u64(out + 8, len);
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, 32);
  crypto_generichash_update(&st, out, 16);
  crypto_generichash_update(&st, data, len);
  crypto_generichash_final(&st, out + 16, 32);
}

/* Reads (writing 0) or writes len bytes at off, all of them. */
static int move_all(int fd, uint8_t *p, size_t len, uint64_t off,
                    int writing) {
  while (len > 0) {
    ssize_t n = writing ? pwrite(fd, p, len, (off_t)off)
                        : pread(fd, p, len, (off_t)off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return MC_EIO;
    p += n;
    len -= (size_t)n;
    off += (uint64_t)n;
  }
  return 0;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off) {
  return move_all(fd, buf, len, off, 0);
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off) {
  return move_all(fd, (uint8_t *)buf, len, off, 1);
}

/* Reads slot `slot`: 0 with *seq and a malloc'd copy of its data if it is
 * whole, else MC_ECORRUPT (or MC_ENOMEM). */
static int read_slot(mc_statefile *sf, int slot, uint64_t *seq,
                     uint8_t **data, size_t *len) {
  uint8_t h[SLOT_HEADER], want[SLOT_HEADER];
  uint64_t off = slot_offset(sf->cap, slot);
  if (pread_all(sf->fd, h, SLOT_HEADER, off) != 0)
    return MC_ECORRUPT;
  uint64_t n = get_u64(h + 8);
  if (n > sf->cap || n > sf->max)
    return MC_ECORRUPT;
  uint8_t *buf = malloc(n + 1);
  if (buf == NULL)
    return MC_ENOMEM;
  if (pread_all(sf->fd, buf, n, off + SLOT_HEADER) != 0) {
    free(buf);
    return MC_ECORRUPT;
  }
  slot_header(get_u64(h), buf, n, want);
  if (sodium_memcmp(h, want, SLOT_HEADER) != 0) {
    free(buf);
    return MC_ECORRUPT;
  }
  buf[n] = 0;
  *seq = get_u64(h);
  *data = buf;
  *len = n;
  return 0;
}

/* The file is in this format: picks the newer whole slot. */
static int load_slots(mc_statefile *sf, uint8_t **data, size_t *len) {
  uint8_t *d[2] = {NULL, NULL};
  size_t l[2] = {0, 0};
  uint64_t s[2] = {0, 0};
  int ok[2];
  for (int i = 0; i < 2; i++) {
    ok[i] = read_slot(sf, i, &s[i], &d[i], &l[i]);
    if (ok[i] == MC_ENOMEM) {
      free(d[0]);
      return MC_ENOMEM;
    }
  }
  if (ok[0] != 0 && ok[1] != 0)
    return MC_ECORRUPT;
  int pick = ok[0] != 0 ? 1 : ok[1] != 0 ? 0 : s[1] > s[0];
  free(d[!pick]);
  sf->seq = s[pick];
  sf->newest = pick;
  *data = d[pick];
  *len = l[pick];
  return 0;
}

int mc_statefile_load(mc_statefile *sf, uint8_t **data, size_t *len) {
  if (sf->fd >= 0) {
    close(sf->fd);
    sf->fd = -1;
  }
  int fd = open(sf->path, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? MC_ENOTFOUND : MC_EIO;
  uint8_t h[16];
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return MC_EIO;
  }
  if (st.st_size < (off_t)sizeof h || pread_all(fd, h, sizeof h, 0) != 0 ||
      memcmp(h, MAGIC, 8) != 0) {
    close(fd); /* the older format: the state's bytes as they are */
    return mc_read_file(sf->path, sf->max, data, len);
  }
  sf->fd = fd;
  sf->cap = get_u64(h + 8);
  if (sf->cap < MIN_CAPACITY || sf->cap > ((uint64_t)1 << 40) ||
      (uint64_t)st.st_size < slot_offset(sf->cap, 2)) {
    close(fd);
    sf->fd = -1;
    return MC_ECORRUPT;
  }
  int rc = load_slots(sf, data, len);
  if (rc != 0) {
    close(fd);
    sf->fd = -1;
  }
  return rc;
}

/* Makes a new file holding data in slot 0 (slot 1 empty) with room for
 * states of twice its size, by atomic replacement, and opens it. */
static int remake(mc_statefile *sf, const uint8_t *data, size_t len) {
  uint64_t cap = MIN_CAPACITY;
  while (cap < 2 * (uint64_t)len)
    cap *= 2;
  size_t size = (size_t)slot_offset(cap, 2);
  uint8_t *img = calloc(1, size); /* zeros: every block allocated now */
  if (img == NULL)
    return MC_ENOMEM;
  memcpy(img, MAGIC, 8);
  put_u64(img + 8, cap);
  uint64_t seq = sf->seq + 1;
  slot_header(seq, data, len, img + FILE_HEADER);
  memcpy(img + FILE_HEADER + SLOT_HEADER, data, len);
  int rc = mc_write_file_atomic(sf->path, img, size);
  free(img);
  if (rc != 0)
    return rc;
  if (sf->fd >= 0)
    close(sf->fd);
  sf->fd = open(sf->path, O_RDWR | O_CLOEXEC);
  sf->cap = cap;
  sf->seq = seq;
  sf->newest = 0;
  return 0; /* saved even if the reopen failed: the next save remakes */
}

int mc_statefile_save(mc_statefile *sf, const uint8_t *data, size_t len) {
  if (len > sf->max)
    return MC_ETOOBIG;
  if (sf->fd < 0 || len > sf->cap)
    return remake(sf, data, len);
  int slot = !sf->newest;
  uint64_t off = slot_offset(sf->cap, slot);
  uint8_t h[SLOT_HEADER];
  slot_header(sf->seq + 1, data, len, h);
  int rc = pwrite_all(sf->fd, h, SLOT_HEADER, off);
  if (rc == 0)
    rc = pwrite_all(sf->fd, data, len, off + SLOT_HEADER);
  if (rc == 0 && fdatasync(sf->fd) != 0)
    rc = MC_EIO;
  if (rc != 0) {
    int saved = errno;
    /* spoil the slot, so that a half-done save is never loaded, and make
     * a new file next time */
    static const uint8_t zero[SLOT_HEADER];
    pwrite_all(sf->fd, zero, SLOT_HEADER, off);
    fdatasync(sf->fd);
    close(sf->fd);
    sf->fd = -1;
    errno = saved;
    return rc;
  }
  sf->seq++;
  sf->newest = slot;
  return 0;
}
