/*
 * json_doc.c - reading a whole chain.json and deciding whether to trust it.
 *
 *   { "format": "minichain-json-store", "version": 1,
 *     "blocks": [ {block}, ... ],           (see json_codec.c)
 *     "accounts": { "<pubkey hex>": balance, ... },
 *     "nonces":   { "<pubkey hex>": last_nonce, ... } }
 *
 * The checks, in the order a user needs the answers: is it JSON at all
 * (else corrupt), is it ours (an object with our "format"; else foreign),
 * can this version read it ("version"; else too new), is every field there
 * with its type, and do the blocks form one chain (heights 0..n-1, each
 * prev_hash the previous block_hash).  Whether each block_hash and tx id
 * matches its contents needs the canonical encoding, which belongs to the
 * host: json_store.c checks that through the host's table after this.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"
#include "minichain/error.h"

/* Bits of mc__jidx_entry.b while reading the two account maps. */
#define SEEN_BALANCE 1u
#define SEEN_NONCE 2u

static int fail(int code, char *err, size_t errlen, const char *msg) {
  snprintf(err, errlen, "%s", msg);
  return code;
}

/* A value from the file, cut short and with control bytes replaced, so
 * that the reason stays one readable line. */
static void printable(const char *s, char *out, size_t outlen) {
  size_t i = 0;
  for (; s[i] && i + 1 < outlen; i++)
    out[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
  out[i] = '\0';
}

/* Only whitespace may follow the document (we end it with a newline). */
static int only_space(const char *p, const char *end) {
  while (p < end && isspace((unsigned char)*p))
    p++;
  return p == end;
}

static cJSON *parse_text(const char *text, size_t len, char *err,
                         size_t errlen) {
  const char *end = NULL;
  if (len == 0) {
    snprintf(err, errlen, "empty (0 bytes), not a chain document");
    return NULL;
  }
  cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (root && !only_space(end, text + len)) {
    snprintf(err, errlen,
             "not valid JSON (data after the document at "
             "byte %zu of %zu)",
             (size_t)(end - text), len);
    cJSON_Delete(root);
    return NULL;
  }
  if (!root) {
    size_t at =
        end && end >= text && end <= text + len ? (size_t)(end - text) : len;
    snprintf(err, errlen, "not valid JSON (error at byte %zu of %zu)", at, len);
  }
  return root;
}

static int check_identity(const cJSON *root, char *err, size_t errlen) {
  if (!cJSON_IsObject(root))
    return fail(MC_EFOREIGN, err, errlen,
                "valid JSON but not an object: not written by the json store "
                "(refusing to touch it)");
  const cJSON *format = cJSON_GetObjectItemCaseSensitive(root, "format");
  if (!format)
    return fail(MC_EFOREIGN, err, errlen,
                "no \"format\" field: not written by the json store "
                "(refusing to touch it)");
  if (!cJSON_IsString(format))
    return fail(MC_EFOREIGN, err, errlen,
                "\"format\" is not a string: not json.so's format marker "
                "(refusing to touch it)");
  if (strcmp(format->valuestring, MC_JSON_FORMAT) != 0) {
    char shown[41];
    printable(format->valuestring, shown, sizeof shown);
    snprintf(err, errlen,
             "format \"%s\", not \"%s\": written by something else", shown,
             MC_JSON_FORMAT);
    return MC_EFOREIGN;
  }
  uint64_t version;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");
  if (!v)
    return fail(MC_ECORRUPT, err, errlen, "version is missing");
  if (mc__ju64_read(v, &version) != 0 || version == 0)
    return fail(MC_ECORRUPT, err, errlen, "version is not a positive integer");
  if (version > MC_JSON_VERSION) {
    snprintf(err, errlen,
             "format version %llu; this json.so reads versions up to %d",
             (unsigned long long)version, MC_JSON_VERSION);
    return MC_EVERSION;
  }
  return 0;
}

static int check_link(const mc_block *blocks, size_t i, char *err,
                      size_t errlen) {
  if (blocks[i].header.height != i) {
    snprintf(err, errlen, "blocks[%zu].height is %llu, expected %zu", i,
             (unsigned long long)blocks[i].header.height, i);
    return MC_ECORRUPT;
  }
  if (i > 0 && memcmp(blocks[i].header.prev_hash, blocks[i - 1].hash,
                      MC_HASH_LEN) != 0) {
    snprintf(err, errlen,
             "blocks[%zu].prev_hash does not match blocks[%zu].block_hash", i,
             i - 1);
    return MC_ECORRUPT;
  }
  return 0;
}

static int load_blocks(const cJSON *root, mc__jdoc *d, char *err,
                       size_t errlen) {
  const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(root, "blocks");
  if (!blocks)
    return fail(MC_ECORRUPT, err, errlen, "blocks is missing");
  if (!cJSON_IsArray(blocks))
    return fail(MC_ECORRUPT, err, errlen, "blocks is not an array");
  size_t n = (size_t)cJSON_GetArraySize(blocks);
  if (n == 0)
    return 0;
  d->blocks = calloc(n, sizeof *d->blocks);
  if (!d->blocks)
    return fail(MC_ENOMEM, err, errlen, "out of memory reading blocks");
  const cJSON *b;
  cJSON_ArrayForEach(b, blocks) {
    char where[32];
    size_t i = d->nblocks;
    snprintf(where, sizeof where, "blocks[%zu]", i);
    int rc = mc__jblock_parse(b, where, &d->blocks[i], err, errlen);
    if (rc)
      return rc;
    d->nblocks++;
    rc = check_link(d->blocks, i, err, errlen);
    if (rc)
      return rc;
  }
  return 0;
}

/* The account slot for pk, appended (zeroed) when pk is new. */
static mc_account *account_slot(mc__jdoc *d, mc__jidx *idx,
                                const uint8_t pk[MC_PUBKEY_LEN],
                                mc__jidx_entry **entry) {
  const mc__jidx_entry *e = mc__jidx_get(idx, pk);
  if (!e) {
    mc__jidx_put(idx, pk, d->naccts, 0);
    e = mc__jidx_get(idx, pk);
    mc_account *a = &d->accts[d->naccts++];
    memset(a, 0, sizeof *a);
    memcpy(a->pubkey, pk, MC_PUBKEY_LEN);
  }
  *entry = (mc__jidx_entry *)e;
  return &d->accts[e->a];
}

/* Reads one of the two maps "accounts" (balances) and "nonces". */
static int load_map(const cJSON *root, const char *name, unsigned seen_bit,
                    mc__jdoc *d, mc__jidx *idx, char *err, size_t errlen) {
  const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, name);
  if (!map || !cJSON_IsObject(map)) {
    snprintf(err, errlen, "%s is %s", name, map ? "not an object" : "missing");
    return MC_ECORRUPT;
  }
  const cJSON *it;
  cJSON_ArrayForEach(it, map) {
    uint8_t pk[MC_PUBKEY_LEN];
    uint64_t v;
    char shown[80];
    printable(it->string, shown, sizeof shown);
    if (strlen(it->string) != 2 * MC_PUBKEY_LEN ||
        mc__jhex_decode(it->string, pk, MC_PUBKEY_LEN) != 0) {
      snprintf(err, errlen, "%s key \"%s\" is not a 32-byte hex public key",
               name, shown);
      return MC_ECORRUPT;
    }
    if (mc__ju64_read(it, &v) != 0) {
      snprintf(err, errlen, "%s.%s is not an unsigned 64-bit integer", name,
               shown);
      return MC_ECORRUPT;
    }
    mc__jidx_entry *e;
    mc_account *a = account_slot(d, idx, pk, &e);
    if (e->b & seen_bit) {
      snprintf(err, errlen, "%s lists %s twice", name, shown);
      return MC_ECORRUPT;
    }
    e->b |= seen_bit;
    if (seen_bit == SEEN_BALANCE)
      a->balance = v;
    else
      a->nonce = v;
  }
  return 0;
}

/* An account may appear in only one of the maps (the other value is then
 * 0), as in the seed, which listed nonces only for senders. */
static int load_accounts(const cJSON *root, mc__jdoc *d, char *err,
                         size_t errlen) {
  const cJSON *bal = cJSON_GetObjectItemCaseSensitive(root, "accounts");
  const cJSON *non = cJSON_GetObjectItemCaseSensitive(root, "nonces");
  size_t most =
      (size_t)cJSON_GetArraySize(bal) + (size_t)cJSON_GetArraySize(non);
  mc__jidx idx;
  mc__jidx_init(&idx);
  if (most > 0) {
    d->accts = calloc(most, sizeof *d->accts);
    if (!d->accts || mc__jidx_reserve(&idx, most) != 0) {
      mc__jidx_free(&idx);
      return fail(MC_ENOMEM, err, errlen, "out of memory reading accounts");
    }
  }
  int rc = load_map(root, "accounts", SEEN_BALANCE, d, &idx, err, errlen);
  if (!rc)
    rc = load_map(root, "nonces", SEEN_NONCE, d, &idx, err, errlen);
  mc__jidx_free(&idx);
  return rc;
}

int mc__jdoc_load(const char *text, size_t len, mc__jdoc *out, char *err,
                  size_t errlen) {
  memset(out, 0, sizeof *out);
  cJSON *root = parse_text(text, len, err, errlen);
  if (!root)
    return MC_ECORRUPT;
  int rc = check_identity(root, err, errlen);
  if (!rc)
    rc = load_blocks(root, out, err, errlen);
  if (!rc)
    rc = load_accounts(root, out, err, errlen);
  cJSON_Delete(root);
  if (rc)
    mc__jdoc_free(out);
  return rc;
}

void mc__jdoc_free(mc__jdoc *d) {
  for (size_t i = 0; i < d->nblocks; i++)
    mc__jblock_clear(&d->blocks[i]);
  free(d->blocks);
  free(d->accts);
  memset(d, 0, sizeof *d);
}

/* ---- the fast reader: chain.json as json_compact.c writes it ------------- */

/*
 * The layout: MC_JSON_DOC_HEAD, then "\n" and one block object per line,
 * each but the last followed by ",", the last by "],", then a line
 * "\"accounts\":{" and the two maps.  A JSON string cannot hold a raw
 * newline, so a line is a whole block object or the file is not in this
 * layout.  Parsing a line at a time keeps each block's text as its line
 * (no re-rendering) and keeps cJSON's tree one block big.
 */

/* The block object on the line at p (end: the text's end): its length,
 * whether it is the last one, and where the next line starts; 0 if the
 * line is not shaped like a block line. */
static size_t block_line(const char *p, const char *end, int *last,
                         const char **next) {
  const char *nl = memchr(p, '\n', (size_t)(end - p));
  if (nl == NULL || nl - p < 3 || *p != '{')
    return 0;
  *next = nl + 1;
  if (nl[-1] == ',' && nl[-2] == ']' && nl[-3] == '}') {
    *last = 1;
    return (size_t)(nl - 2 - p);
  }
  if (nl[-1] == ',' && nl[-2] == '}') {
    *last = 0;
    return (size_t)(nl - 1 - p);
  }
  return 0;
}

static int parse_line(const char *p, size_t n, size_t i, mc__jdoc *d, char *err,
                      size_t errlen) {
  int rc = mc__jblock_scan(p, n, &d->blocks[i]);
  if (rc == MC_JSON_NOT_LINES) {
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(p, n, &end, 0);
    if (obj == NULL || end != p + n) {
      cJSON_Delete(obj);
      return MC_JSON_NOT_LINES;
    }
    char where[32];
    snprintf(where, sizeof where, "blocks[%zu]", i);
    rc = mc__jblock_parse(obj, where, &d->blocks[i], err, errlen);
    cJSON_Delete(obj);
  }
  if (rc == 0) {
    d->nblocks++;
    rc = check_link(d->blocks, i, err, errlen);
  }
  return rc == MC_ENOMEM ? rc : rc ? MC_JSON_NOT_LINES : 0;
}

/* The maps after the blocks: "{" and the rest of the text, parsed as one
 * object (a copy: the rest is small beside the blocks). */
static int parse_maps(const char *p, const char *end, mc__jdoc *d, char *err,
                      size_t errlen) {
  static const char start[] = "\"accounts\":{";
  size_t n = (size_t)(end - p);
  if (n < sizeof start - 1 || memcmp(p, start, sizeof start - 1) != 0)
    return MC_JSON_NOT_LINES;
  char *obj = malloc(n + 2);
  if (obj == NULL)
    return fail(MC_ENOMEM, err, errlen, "out of memory reading accounts");
  obj[0] = '{';
  memcpy(obj + 1, p, n);
  obj[n + 1] = '\0';
  const char *stop = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(obj, n + 1, &stop, 0);
  int rc = MC_JSON_NOT_LINES;
  if (root != NULL && only_space(stop, obj + n + 1))
    rc = load_accounts(root, d, err, errlen);
  cJSON_Delete(root);
  free(obj);
  return rc == MC_ENOMEM ? rc : rc ? MC_JSON_NOT_LINES : 0;
}

int mc__jdoc_load_lines(char *text, size_t len, mc__jdoc *out, char ***lines,
                        char *err, size_t errlen) {
  static const char head[] = MC_JSON_DOC_HEAD;
  const char *p = text, *end = text + len;
  memset(out, 0, sizeof *out);
  *lines = NULL;
  if (len < sizeof head + 2 || memcmp(p, head, sizeof head - 1) != 0)
    return MC_JSON_NOT_LINES;
  p += sizeof head - 1;
  /* Count the lines first: one allocation for the blocks and lines. */
  size_t n = 0;
  int empty = p[0] == ']' && p[1] == ',' && p[2] == '\n';
  if (!empty) {
    if (*p++ != '\n')
      return MC_JSON_NOT_LINES;
    int last = 0;
    for (const char *q = p; !last; n++) {
      const char *next;
      if (q >= end || block_line(q, end, &last, &next) == 0)
        return MC_JSON_NOT_LINES;
      q = next;
    }
  }
  size_t *lens = calloc(n ? n : 1, sizeof *lens);
  out->blocks = calloc(n ? n : 1, sizeof *out->blocks);
  *lines = calloc(n ? n : 1, sizeof **lines);
  int rc = lens && out->blocks && *lines ? 0 : MC_ENOMEM;
  if (rc)
    snprintf(err, errlen, "out of memory reading blocks");
  for (size_t i = 0; rc == 0 && i < n; i++) {
    int last;
    const char *next;
    lens[i] = block_line(p, end, &last, &next);
    (*lines)[i] = (char *)p;
    rc = parse_line(p, lens[i], i, out, err, errlen);
    p = next;
  }
  if (rc == 0)
    rc = parse_maps(empty ? p + 3 : p, end, out, err, errlen);
  if (rc == 0)
    for (size_t i = 0; i < n; i++)
      (*lines)[i][lens[i]] = '\0'; /* the "," or "]" after the object */
  free(lens);
  if (rc != 0) {
    mc__jdoc_free(out);
    free(*lines);
    *lines = NULL;
  }
  return rc;
}
