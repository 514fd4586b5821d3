/*
 * json_damage.c - json_damage.so, the damage module json.so registers with
 * mc-store-check (minichain/store_check.h): damage that only someone who
 * knows chain.json can make.  Built in the build tree for ctest, never
 * installed: it exists to break data.
 *
 * Each case parses the chain.json json.so left at close (a clean close
 * folds the journal in, so chain.json holds every block), edits it, and
 * writes it back; or replaces it with text.  Following minichain/store.h:
 * a document json.so can read as its own (its "format" marker is there)
 * but whose contents are wrong is MC_ECORRUPT, and so is a chain.json that
 * is no JSON at all (damage at json.so's own file name); a well-formed
 * JSON document that is someone else's (no marker, another program's
 * marker, not an object) is MC_EFOREIGN; json.so's marker with a newer
 * version is MC_EVERSION.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "minichain/error.h"
#include "minichain/store_check.h"

/* ---- reading and writing chain.json -------------------------------------- */

static int path_of(const char *dir, char *path, size_t len, char *err,
                   size_t errlen) {
  if ((size_t)snprintf(path, len, "%s/chain.json", dir) < len)
    return 0;
  snprintf(err, errlen, "%s: path too long", dir);
  return -1;
}

static char *read_text(const char *path, char *err, size_t errlen) {
  FILE *fp = fopen(path, "rb");
  char *buf = NULL;
  long n = -1;
  if (fp != NULL && fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 &&
      fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL &&
      fread(buf, 1, (size_t)n, fp) == (size_t)n) {
    buf[n] = '\0';
    fclose(fp);
    return buf;
  }
  snprintf(err, errlen, "%s: cannot read it", path);
  free(buf);
  if (fp != NULL)
    fclose(fp);
  return NULL;
}

static int write_text(const char *path, const char *text, size_t len,
                      char *err, size_t errlen) {
  FILE *fp = fopen(path, "wb");
  int ok = fp != NULL && fwrite(text, 1, len, fp) == len;
  if (fp != NULL && fclose(fp) != 0)
    ok = 0;
  if (!ok)
    snprintf(err, errlen, "%s: cannot write it", path);
  return ok ? 0 : -1;
}

/* An edit returns 0, or -1 when the document lacks what it edits. */
typedef int (*json_edit_fn)(cJSON *root);

static int edit_chain_json(const char *dir, json_edit_fn edit, char *err,
                           size_t errlen) {
  char path[4200];
  if (path_of(dir, path, sizeof path, err, errlen) != 0)
    return -1;
  char *text = read_text(path, err, errlen);
  if (text == NULL)
    return -1;
  cJSON *root = cJSON_Parse(text);
  free(text);
  if (root == NULL || edit(root) != 0) {
    snprintf(err, errlen, "%s: not the document json.so writes at close",
             path);
    cJSON_Delete(root);
    return -1;
  }
  char *out = cJSON_Print(root);
  cJSON_Delete(root);
  if (out == NULL) {
    snprintf(err, errlen, "out of memory printing %s", path);
    return -1;
  }
  int rc = write_text(path, out, strlen(out), err, errlen);
  cJSON_free(out);
  return rc;
}

static int replace_chain_json(const char *dir, const char *text, size_t len,
                              char *err, size_t errlen) {
  char path[4200];
  if (path_of(dir, path, sizeof path, err, errlen) != 0)
    return -1;
  return write_text(path, text, len, err, errlen);
}

/* ---- the edits ------------------------------------------------------------ */

static cJSON *block_at(cJSON *root, int i) {
  return cJSON_GetArrayItem(cJSON_GetObjectItem(root, "blocks"), i);
}

/* Replaces obj[key] with value; -1 (value freed) when obj lacks key. */
static int set_field(cJSON *obj, const char *key, cJSON *value) {
  if (obj != NULL && value != NULL &&
      cJSON_ReplaceItemInObjectCaseSensitive(obj, key, value))
    return 0;
  cJSON_Delete(value);
  return -1;
}

static int drop_block_hash(cJSON *r) {
  cJSON *b = block_at(r, 1);
  if (b == NULL || !cJSON_HasObjectItem(b, "block_hash"))
    return -1;
  cJSON_DeleteItemFromObject(b, "block_hash");
  return 0;
}
static int bad_hex(cJSON *r) {
  return set_field(block_at(r, 2), "prev_hash",
                   cJSON_CreateString("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
                                      "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"));
}
static int height_gap(cJSON *r) {
  return set_field(block_at(r, 3), "height", cJSON_CreateNumber(5));
}
static int no_link(cJSON *r) {
  cJSON *h0 = cJSON_GetObjectItem(block_at(r, 0), "block_hash");
  if (!cJSON_IsString(h0))
    return -1;
  return set_field(block_at(r, 2), "prev_hash",
                   cJSON_CreateString(h0->valuestring));
}
static int edited_amount(cJSON *r) {
  cJSON *tx =
      cJSON_GetArrayItem(cJSON_GetObjectItem(block_at(r, 3), "tx_list"), 0);
  return set_field(tx, "amount", cJSON_CreateNumber(999999));
}
static int edited_timestamp(cJSON *r) {
  return set_field(block_at(r, 2), "timestamp", cJSON_CreateNumber(12345));
}
static int odd_cert(cJSON *r) {
  return set_field(block_at(r, 1), "cert", cJSON_CreateString("abc"));
}
static int first_entry(cJSON *r, const char *map, cJSON *value) {
  cJSON *m = cJSON_GetObjectItem(r, map);
  if (m == NULL || m->child == NULL) {
    cJSON_Delete(value);
    return -1;
  }
  return set_field(m, m->child->string, value);
}
static int balance_not_number(cJSON *r) {
  return first_entry(r, "accounts", cJSON_CreateString("lots"));
}
static int balance_negative(cJSON *r) {
  return first_entry(r, "accounts", cJSON_CreateNumber(-5));
}
static int nonce_fraction(cJSON *r) {
  return first_entry(r, "nonces", cJSON_CreateNumber(1.5));
}
static int bad_account_key(cJSON *r) {
  return cJSON_AddNumberToObject(cJSON_GetObjectItem(r, "accounts"), "alice",
                                 5) != NULL
             ? 0
             : -1;
}
static int no_nonces(cJSON *r) {
  if (!cJSON_HasObjectItem(r, "nonces"))
    return -1;
  cJSON_DeleteItemFromObject(r, "nonces");
  return 0;
}
/* The seed's own chain.json: blocks, accounts, nonces, no format. */
static int seed_format(cJSON *r) {
  if (!cJSON_HasObjectItem(r, "format") || !cJSON_HasObjectItem(r, "version"))
    return -1;
  cJSON_DeleteItemFromObject(r, "format");
  cJSON_DeleteItemFromObject(r, "version");
  return 0;
}
static int other_format(cJSON *r) {
  return set_field(r, "format", cJSON_CreateString("someone-elses-store"));
}
static int format_not_string(cJSON *r) {
  return set_field(r, "format", cJSON_CreateNumber(1));
}
static int newer_version(cJSON *r) {
  return set_field(r, "version", cJSON_CreateNumber(2));
}

/* ---- the cases ------------------------------------------------------------ */

#define EDIT_CASE(fn)                                                          \
  static int damage_##fn(const char *dir, char *err, size_t errlen) {          \
    return edit_chain_json(dir, fn, err, errlen);                              \
  }
EDIT_CASE(drop_block_hash)
EDIT_CASE(bad_hex)
EDIT_CASE(height_gap)
EDIT_CASE(no_link)
EDIT_CASE(edited_amount)
EDIT_CASE(edited_timestamp)
EDIT_CASE(odd_cert)
EDIT_CASE(balance_not_number)
EDIT_CASE(balance_negative)
EDIT_CASE(nonce_fraction)
EDIT_CASE(bad_account_key)
EDIT_CASE(no_nonces)
EDIT_CASE(seed_format)
EDIT_CASE(other_format)
EDIT_CASE(format_not_string)
EDIT_CASE(newer_version)

#define TEXT_CASE(fn, text)                                                    \
  static int damage_##fn(const char *dir, char *err, size_t errlen) {          \
    static const char t[] = text;                                              \
    return replace_chain_json(dir, t, sizeof t - 1, err, errlen);              \
  }
TEXT_CASE(truncated, "{\"format\":\"minichain-json-store\",\"blo")
TEXT_CASE(binary_garbage, "\x01\x02\xff\xfe")
TEXT_CASE(empty_file, "")
TEXT_CASE(json_array, "[1, 2, 3]\n")

#define CASE(fn, what, expect, says)                                           \
  {sizeof(mc_store_damage_case), #fn, what, expect, damage_##fn, says}

static const mc_store_damage_case cases[] = {
    CASE(drop_block_hash, "a block without block_hash", MC_ECORRUPT,
         "blocks[1].block_hash"),
    CASE(bad_hex, "bad hex in prev_hash", MC_ECORRUPT, "blocks[2].prev_hash"),
    CASE(height_gap, "heights not contiguous", MC_ECORRUPT,
         "blocks[3].height"),
    CASE(no_link, "prev_hash not linking", MC_ECORRUPT, "blocks[2].prev_hash"),
    CASE(edited_amount, "an edited amount", MC_ECORRUPT,
         "blocks[3].tx_list[0].id"),
    CASE(edited_timestamp, "an edited timestamp", MC_ECORRUPT,
         "blocks[2].block_hash"),
    CASE(odd_cert, "a certificate of odd length", MC_ECORRUPT,
         "blocks[1].cert"),
    CASE(balance_not_number, "a balance that is text", MC_ECORRUPT,
         "accounts."),
    CASE(balance_negative, "a negative balance", MC_ECORRUPT, "accounts."),
    CASE(nonce_fraction, "a fractional nonce", MC_ECORRUPT, "nonces."),
    CASE(bad_account_key, "an account key that is not hex", MC_ECORRUPT,
         "alice"),
    CASE(no_nonces, "no nonces", MC_ECORRUPT, "nonces"),
    CASE(truncated, "chain.json cut short after its format marker",
         MC_ECORRUPT, "not valid JSON"),
    CASE(binary_garbage, "binary garbage in chain.json", MC_ECORRUPT,
         "not valid JSON"),
    CASE(empty_file, "an empty chain.json", MC_ECORRUPT, "empty"),
    CASE(seed_format, "the seed's chain.json (no format marker)", MC_EFOREIGN,
         "format"),
    CASE(other_format, "another program's format marker", MC_EFOREIGN,
         "someone-elses-store"),
    CASE(format_not_string, "a \"format\" that is a number, no marker",
         MC_EFOREIGN, "not json.so's format marker"),
    CASE(json_array, "a JSON document that is not an object", MC_EFOREIGN,
         "not an object"),
    CASE(newer_version, "json.so's marker with a newer version", MC_EVERSION,
         "version 2"),
};

MC_STORE_CHECK_DAMAGE_DEFINE("json", cases)
