/*
 * mcli_json.c - the --json renderings of transactions, blocks and status.
 *
 * Byte strings are lower-case hex, as everywhere on the command line and in
 * chain.json.  u64 values are written as exact decimal numbers (raw JSON),
 * because cJSON keeps numbers as doubles, which round above 2^53.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "chain/crypto.h"
#include "mcli.h"

cJSON *mcli_json_u64(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "%" PRIu64, v);
  return cJSON_CreateRaw(buf);
}

cJSON *mcli_json_hex(const uint8_t *p, size_t n) {
  char *hex = malloc(2 * n + 1);
  if (hex == NULL)
    return NULL;
  mc_hex_encode(p, n, hex);
  cJSON *s = cJSON_CreateString(hex);
  free(hex);
  return s;
}

/* Adds item to obj under name; a NULL item (ENOMEM) makes the add fail. */
static int add(cJSON *obj, const char *name, cJSON *item) {
  return item != NULL && cJSON_AddItemToObject(obj, name, item);
}

/* Returns obj, or frees it and returns NULL when ok is false. */
static cJSON *finish(cJSON *obj, int ok) {
  if (ok)
    return obj;
  cJSON_Delete(obj);
  return NULL;
}

cJSON *mcli_json_tx(const mc_tx *tx) {
  cJSON *o = cJSON_CreateObject();
  int ok = o != NULL && add(o, "id", mcli_json_hex(tx->id, MC_HASH_LEN)) &&
           add(o, "chain_id", cJSON_CreateString(tx->chain_id)) &&
           add(o, "from", mcli_json_hex(tx->from, MC_PUBKEY_LEN)) &&
           add(o, "to", mcli_json_hex(tx->to, MC_PUBKEY_LEN)) &&
           add(o, "amount", mcli_json_u64(tx->amount)) &&
           add(o, "nonce", mcli_json_u64(tx->nonce)) &&
           add(o, "sig", mcli_json_hex(tx->sig, MC_SIG_LEN));
  return finish(o, ok);
}

static cJSON *json_txs(const mc_block *b) {
  cJSON *a = cJSON_CreateArray();
  int ok = a != NULL;
  for (uint32_t i = 0; ok && i < b->header.tx_count; i++) {
    cJSON *t = mcli_json_tx(&b->txs[i]);
    ok = t != NULL && cJSON_AddItemToArray(a, t);
  }
  return finish(a, ok);
}

cJSON *mcli_json_block(const mc_block *b) {
  const mc_block_header *h = &b->header;
  cJSON *o = cJSON_CreateObject();
  int ok = o != NULL && add(o, "height", mcli_json_u64(h->height)) &&
           add(o, "hash", mcli_json_hex(b->hash, MC_HASH_LEN)) &&
           add(o, "prev_hash", mcli_json_hex(h->prev_hash, MC_HASH_LEN)) &&
           add(o, "timestamp_ms", mcli_json_u64(h->timestamp_ms)) &&
           add(o, "tx_root", mcli_json_hex(h->tx_root, MC_HASH_LEN)) &&
           add(o, "state_root", mcli_json_hex(h->state_root, MC_HASH_LEN)) &&
           add(o, "tx_count", mcli_json_u64(h->tx_count)) &&
           add(o, "proposer", mcli_json_hex(h->proposer, MC_PUBKEY_LEN)) &&
           add(o, "signature", mcli_json_hex(b->signature, MC_SIG_LEN)) &&
           add(o, "cert", mcli_json_hex(b->cert, b->cert_len)) &&
           add(o, "txs", json_txs(b));
  return finish(o, ok);
}

cJSON *mcli_json_status(const mc_status_info *s) {
  cJSON *o = cJSON_CreateObject();
  int ok =
      o != NULL && add(o, "version", cJSON_CreateString(s->version)) &&
      add(o, "node", cJSON_CreateString(s->node)) &&
      add(o, "chain_id", cJSON_CreateString(s->chain_id)) &&
      add(o, "genesis_hash", mcli_json_hex(s->genesis_hash, MC_HASH_LEN)) &&
      add(o, "height", mcli_json_u64(s->height)) &&
      add(o, "head_hash", mcli_json_hex(s->head_hash, MC_HASH_LEN)) &&
      add(o, "head_time_ms", mcli_json_u64(s->head_time_ms)) &&
      add(o, "validators", mcli_json_u64(s->validators)) &&
      add(o, "self_index", cJSON_CreateNumber(s->self_index)) &&
      add(o, "mempool_ready", mcli_json_u64(s->mempool_ready)) &&
      add(o, "mempool_queued", mcli_json_u64(s->mempool_queued)) &&
      add(o, "peers", mcli_json_u64(s->peers)) &&
      add(o, "view", mcli_json_u64(s->view)) &&
      add(o, "leader", cJSON_CreateNumber(s->leader)) &&
      add(o, "consensus", cJSON_CreateString(s->consensus)) &&
      add(o, "store", cJSON_CreateString(s->store));
  return finish(o, ok);
}

int mcli_json_print(const char *cmd, cJSON *obj) {
  char *txt = obj != NULL ? cJSON_PrintUnformatted(obj) : NULL;
  cJSON_Delete(obj);
  if (txt == NULL)
    return mcli_fail(cmd, "out of memory");
  int ok = puts(txt) >= 0 && fflush(stdout) == 0;
  free(txt);
  return ok ? MCLI_EXIT_OK : mcli_fail(cmd, "cannot write to stdout");
}
