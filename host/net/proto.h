/*
 * proto.h - the messages of the framed TCP protocol (docs/PROTOCOL.md).
 *
 * Every frame's payload is one msgpack array [type, request_id, ...].  A
 * client picks request ids; the node copies the id into its answer.
 * Unsolicited messages use id 0.  Decoding is strict (wrong arity or types
 * are MC_EDECODE) and never trusts a length it has not checked.
 *
 *   type                  fields after [type, rid]
 *    1 HELLO              version, genesis_hash (bin 32), ephemeral key
 *                         (bin 32), challenge (bin 32)   - plain
 *    7 WELCOME            ephemeral key, challenge, sealed (bin) - plain
 *    2 AUTH               sealed (bin)                   - plain
 *    3 HEARTBEAT          height, head_hash (bin 32)     - encrypted from here
 *    4 TX                 tx (wire form): gossip between nodes
 *    5 GET_BLOCKS         from height, count (at most MC_PEER_MAX_BLOCKS)
 *    6 BLOCKS             [block (wire form, with certificate), ...]
 *    8 GET_HEADERS        from height, count (at most MC_PEER_MAX_HEADERS)
 *    9 HEADERS            [[header, signature (bin 64), cert (bin)], ...]
 *   16 SUBMIT_TX          tx (wire form)
 *   17 SUBMIT_RESULT      code (int, 0 = admitted), txid (bin 32)
 *   18 GET_STATUS         -
 *   19 STATUS             map (string keys, see mc_status_info)
 *   20 GET_ACCOUNT        pubkey (bin 32)
 *   21 ACCOUNT            pubkey, balance, nonce, next_nonce
 *   22 GET_BLOCK          height (uint) or hash (bin 32)
 *   23 BLOCK              block (wire form) or nil when there is none
 *   24 GET_TX             txid (bin 32)
 *   25 TX_STATUS          state (str), height|nil, index|nil, code (int), tx|nil
 *   31 ERROR              code (int), message (str)  - sent before closing
 *   32 CONSENSUS          payload (bin): opaque, for the consensus plugin
 */
#ifndef MC_NET_PROTO_H
#define MC_NET_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "minichain/types.h"

/* Version of the peer protocol a node speaks, sent in HELLO. */
#define MC_PEER_PROTOCOL_VERSION 2
/* The most blocks one GET_BLOCKS may ask for and one BLOCKS may carry. */
#define MC_PEER_MAX_BLOCKS 64
/* The most headers one GET_HEADERS may ask for and one HEADERS carry. */
#define MC_PEER_MAX_HEADERS 256
/* Largest sealed part of WELCOME and AUTH. */
#define MC_PEER_SEALED_MAX 512

typedef enum mc_msg_type {
  MC_MSG_HELLO = 1,
  MC_MSG_AUTH = 2,
  MC_MSG_HEARTBEAT = 3,
  MC_MSG_TX = 4,
  MC_MSG_GET_BLOCKS = 5,
  MC_MSG_BLOCKS = 6,
  MC_MSG_WELCOME = 7,
  MC_MSG_GET_HEADERS = 8,
  MC_MSG_HEADERS = 9,
  MC_MSG_SUBMIT_TX = 16,
  MC_MSG_SUBMIT_RESULT = 17,
  MC_MSG_GET_STATUS = 18,
  MC_MSG_STATUS = 19,
  MC_MSG_GET_ACCOUNT = 20,
  MC_MSG_ACCOUNT = 21,
  MC_MSG_GET_BLOCK = 22,
  MC_MSG_BLOCK = 23,
  MC_MSG_GET_TX = 24,
  MC_MSG_TX_STATUS = 25,
  MC_MSG_ERROR = 31,
  MC_MSG_CONSENSUS = 32
} mc_msg_type;

/* Where a transaction stands, as TX_STATUS reports it. */
typedef enum mc_tx_state {
  MC_TX_UNKNOWN = 0,   /* "unknown" */
  MC_TX_PENDING = 1,   /* "pending": ready for the next block */
  MC_TX_QUEUED = 2,    /* "queued": waiting for an earlier nonce */
  MC_TX_COMMITTED = 3, /* "committed": in block `height` at `index` */
  MC_TX_REJECTED = 4   /* "rejected": refused or dropped, reason `code` */
} mc_tx_state;

const char *mc_tx_state_name(mc_tx_state s);
/* Parses a state name; returns 0 or MC_EDECODE. */
int mc_tx_state_parse(const char *s, size_t len, mc_tx_state *out);

/* STATUS map keys are the field names below. */
typedef struct mc_status_info {
  char version[32];        /* "version": mchost version */
  char node[64];           /* "node": the node's name */
  char chain_id[MC_CHAIN_ID_MAX + 1]; /* "chain_id" */
  uint8_t genesis_hash[MC_HASH_LEN];  /* "genesis_hash" (bin) */
  uint64_t height;                    /* "height" */
  uint8_t head_hash[MC_HASH_LEN];     /* "head_hash" (bin) */
  uint64_t head_time_ms;              /* "head_time_ms" */
  uint32_t validators;                /* "validators" */
  int32_t self_index;                 /* "self_index": -1 observer */
  uint64_t mempool_ready;             /* "mempool_ready" */
  uint64_t mempool_queued;            /* "mempool_queued" */
  uint32_t peers;                     /* "peers": connected validators */
  uint64_t view;                      /* "view" */
  int32_t leader;                     /* "leader": -1 unknown */
  char consensus[32];                 /* "consensus": plugin name */
  char store[32];                     /* "store": plugin name */
} mc_status_info;

typedef struct mc_msg {
  uint32_t type; /* mc_msg_type */
  uint64_t rid;  /* request id */
  union {
    struct {
      /* A HELLO of another version decodes with only this field set, so
       * the node can say why it refuses rather than "malformed". */
      uint32_t version;
      uint8_t genesis_hash[MC_HASH_LEN];
      uint8_t ephemeral[MC_HASH_LEN];
      uint8_t challenge[MC_HASH_LEN];
    } hello;
    struct {
      uint8_t ephemeral[MC_HASH_LEN];
      uint8_t challenge[MC_HASH_LEN];
      const uint8_t *sealed; /* decode: points into the input buffer */
      size_t sealed_len;
    } welcome;
    struct {
      const uint8_t *sealed; /* decode: points into the input buffer */
      size_t sealed_len;
    } auth;
    struct {
      uint64_t height;
      uint8_t head_hash[MC_HASH_LEN];
    } heartbeat;
    struct {
      uint64_t from;
      uint32_t count;
    } get_blocks;
    struct {
      mc_block **blocks; /* decode: owned by the message; encode: borrowed */
      size_t n;
    } blocks; /* BLOCKS; HEADERS too, whose blocks have no transactions
                 (txs NULL, header.tx_count as the header says) */
    struct {
      uint64_t from;
      uint32_t count;
    } get_headers;
    mc_tx tx; /* SUBMIT_TX, TX */
    struct {
      int32_t code;
      uint8_t txid[MC_HASH_LEN];
    } submit_result;
    mc_status_info status; /* STATUS */
    struct {
      uint8_t pubkey[MC_PUBKEY_LEN];
    } get_account;
    struct {
      mc_account account;
      uint64_t next_nonce;
    } account;
    struct {
      int by_hash; /* 1: use hash, 0: use height */
      uint64_t height;
      uint8_t hash[MC_HASH_LEN];
    } get_block;
    struct {
      mc_block *block; /* owned by the message (mc_msg_clear frees it);
                          NULL = not found */
    } block;
    struct {
      uint8_t txid[MC_HASH_LEN];
    } get_tx;
    struct {
      mc_tx_state state;
      uint64_t height; /* COMMITTED */
      uint32_t index;  /* COMMITTED */
      int32_t code;    /* REJECTED: the reason */
      int has_tx;
      mc_tx tx;        /* when has_tx (PENDING, QUEUED, COMMITTED) */
    } tx_status;
    struct {
      int32_t code;
      char message[256];
    } error;
    struct {
      const uint8_t *payload; /* decode: points into the input buffer */
      size_t len;
    } consensus;
  } u;
} mc_msg;

/*
 * Decodes one payload (without the frame header) into *out.  On success the
 * caller must call mc_msg_clear.  Returns 0, MC_EDECODE (malformed or an
 * unknown type) or MC_ENOMEM.  CONSENSUS payloads and the sealed parts of
 * WELCOME and AUTH point into p.
 */
int mc_msg_decode(const uint8_t *p, size_t n, mc_msg *out);

/* Frees what decoding allocated (BLOCK's block, BLOCKS' and HEADERS'
 * blocks).  Safe on a zeroed msg. */
void mc_msg_clear(mc_msg *m);

/*
 * Encodes m as a whole frame (4-byte big-endian length + payload) into a
 * malloc'd buffer the caller frees with free().  For BLOCK and BLOCKS the
 * blocks are borrowed.  Returns 0, MC_EINVAL (unknown type, a STATUS whose
 * chain_id is invalid or whose strings lack their NUL, a TX_STATUS state
 * out of range, a CONSENSUS payload NULL with a length), MC_ETOOBIG (a
 * payload above 2^32-1 bytes) or MC_ENOMEM.
 */
int mc_msg_encode_frame(const mc_msg *m, uint8_t **out, size_t *out_len);

#endif /* MC_NET_PROTO_H */
