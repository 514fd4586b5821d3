/*
 * json_scan.c - reading a block line in exactly the form json_codec.c
 * renders it, without building a cJSON tree.
 *
 * Open reads every block of chain.json; through cJSON that is a tree of
 * some forty allocations per transaction, most of open's time.  The lines
 * json.so writes are always the same shape: the keys in render order, no
 * spaces, numbers as digits (or a quoted decimal above 2^53-1), byte
 * fields as lower- or upper-case hex, a chain id without escapes.  A line
 * of that shape is valid JSON that cJSON would read to the same block, so
 * this reader takes it directly; any other line (edited by hand, escaped
 * characters, another key order, anything wrong) gets MC_JSON_NOT_LINES
 * and is read through cJSON instead, which also gives the exact reason
 * when it is wrong.
 */
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"
#include "minichain/error.h"

typedef struct scan {
  const char *p, *end;
} scan;

static int lit(scan *s, const char *text) {
  size_t n = strlen(text);
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, text, n) != 0)
    return 0;
  s->p += n;
  return 1;
}

/* A u64 as mc__ju64_format writes it: digits without a leading zero up to
 * 2^53-1, or a quoted decimal. */
static int u64(scan *s, uint64_t *out) {
  int quoted = s->p < s->end && *s->p == '"';
  const char *q = s->p + quoted, *start = q;
  uint64_t v = 0;
  while (q < s->end && *q >= '0' && *q <= '9') {
    if (q - start == 20)
      return 0;
    uint64_t d = (uint64_t)(*q - '0');
    if (v > (UINT64_MAX - d) / 10)
      return 0;
    v = v * 10 + d;
    q++;
  }
  size_t n = (size_t)(q - start);
  if (n == 0)
    return 0;
  if (quoted) {
    if (q >= s->end || *q != '"')
      return 0;
    q++;
  } else if ((n > 1 && *start == '0') || v > MC_JSON_MAX_SAFE_INT) {
    return 0; /* cJSON reads these, but not the way we write them */
  }
  *out = v;
  s->p = q;
  return 1;
}

/* A quoted string of exactly 2n hex digits. */
static int hex(scan *s, uint8_t *out, size_t n) {
  if ((size_t)(s->end - s->p) < 2 * n + 2 || s->p[0] != '"' ||
      s->p[2 * n + 1] != '"')
    return 0;
  char buf[2 * 64 + 1];
  if (n > 64)
    return 0;
  memcpy(buf, s->p + 1, 2 * n);
  buf[2 * n] = '\0';
  if (mc__jhex_decode(buf, out, n) != 0)
    return 0;
  s->p += 2 * n + 2;
  return 1;
}

static int chain_id(scan *s, char *out) {
  if (!lit(s, "\""))
    return 0;
  const char *start = s->p;
  while (s->p < s->end && *s->p != '"') {
    unsigned char c = (unsigned char)*s->p;
    if (c < 0x20 || c == '\\')
      return 0; /* escapes: cJSON's business */
    s->p++;
  }
  size_t n = (size_t)(s->p - start);
  if (s->p >= s->end || n == 0 || n > MC_CHAIN_ID_MAX)
    return 0;
  memcpy(out, start, n);
  out[n] = '\0';
  s->p++;
  return 1;
}

static int tx(scan *s, mc_tx *t) {
  return lit(s, "{\"chain_id\":") && chain_id(s, t->chain_id) &&
         lit(s, ",\"from\":") && hex(s, t->from, MC_PUBKEY_LEN) &&
         lit(s, ",\"to\":") && hex(s, t->to, MC_PUBKEY_LEN) &&
         lit(s, ",\"amount\":") && u64(s, &t->amount) &&
         lit(s, ",\"nonce\":") && u64(s, &t->nonce) && lit(s, ",\"sig\":") &&
         hex(s, t->sig, MC_SIG_LEN) && lit(s, ",\"id\":") &&
         hex(s, t->id, MC_HASH_LEN) && lit(s, "}");
}

/* The transactions; their number is only known at "tx_count", after
 * them, so they are counted first. */
static int tx_list(scan *s, mc_block *b) {
  if (!lit(s, "["))
    return 0;
  if (lit(s, "]"))
    return 1;
  size_t cap = 0, n = 0;
  for (;;) {
    if (n == cap) {
      size_t c = cap ? cap * 2 : 16;
      mc_tx *txs = realloc(b->txs, c * sizeof *txs);
      if (txs == NULL)
        return -1;
      b->txs = txs;
      cap = c;
    }
    memset(&b->txs[n], 0, sizeof b->txs[n]);
    if (!tx(s, &b->txs[n]))
      return 0;
    n++;
    if (n > UINT32_MAX)
      return 0;
    if (lit(s, "]"))
      break;
    if (!lit(s, ","))
      return 0;
  }
  mc_tx *exact = realloc(b->txs, n * sizeof *exact); /* no slack kept */
  if (exact != NULL)
    b->txs = exact;
  b->header.tx_count = (uint32_t)n;
  return 1;
}

static int cert(scan *s, mc_block *b) {
  if (!lit(s, "\""))
    return 0;
  const char *q = memchr(s->p, '"', (size_t)(s->end - s->p));
  if (q == NULL || (q - s->p) % 2)
    return 0;
  size_t n = (size_t)(q - s->p) / 2;
  if (n > 0) {
    char *digits = malloc(2 * n + 1);
    b->cert = malloc(n);
    if (digits == NULL || b->cert == NULL) {
      free(digits);
      return -1;
    }
    memcpy(digits, s->p, 2 * n);
    digits[2 * n] = '\0';
    int rc = mc__jhex_decode(digits, b->cert, n);
    free(digits);
    if (rc != 0)
      return 0;
    b->cert_len = n;
  }
  s->p = q + 1;
  return 1;
}

int mc__jblock_scan(const char *line, size_t len, mc_block *out) {
  scan s = {line, line + len};
  mc_block_header *h = &out->header;
  uint64_t count = 0;
  memset(out, 0, sizeof *out);
  int ok = lit(&s, "{\"height\":") && u64(&s, &h->height) &&
           lit(&s, ",\"prev_hash\":") && hex(&s, h->prev_hash, MC_HASH_LEN) &&
           lit(&s, ",\"timestamp\":") && u64(&s, &h->timestamp_ms) &&
           lit(&s, ",\"tx_list\":");
  if (ok)
    ok = tx_list(&s, out);
  uint32_t ntx = h->tx_count;
  if (ok == 1)
    ok = lit(&s, ",\"proposer_id\":") && hex(&s, h->proposer, MC_PUBKEY_LEN) &&
         lit(&s, ",\"signature\":") && hex(&s, out->signature, MC_SIG_LEN) &&
         lit(&s, ",\"block_hash\":") && hex(&s, out->hash, MC_HASH_LEN) &&
         lit(&s, ",\"tx_root\":") && hex(&s, h->tx_root, MC_HASH_LEN) &&
         lit(&s, ",\"state_root\":") && hex(&s, h->state_root, MC_HASH_LEN) &&
         lit(&s, ",\"tx_count\":") && u64(&s, &count) && count == ntx &&
         lit(&s, ",\"cert\":");
  if (ok == 1)
    ok = cert(&s, out);
  if (ok == 1 && !(lit(&s, "}") && s.p == s.end))
    ok = 0;
  if (ok == 1)
    return 0;
  mc__jblock_clear(out);
  return ok < 0 ? MC_ENOMEM : MC_JSON_NOT_LINES;
}
