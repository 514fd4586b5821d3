/*
 * raft_persist.h - what raft.so keeps through the host's state_save, and
 * its byte format.
 *
 * state_save replaces the whole value on every call, so the value is kept
 * short: the current term and vote, one snapshot record, and only the log
 * entries after it.  The snapshot stands for "the chain up to height H,
 * hash X" as of raft index I (the chain itself is in the host's store),
 * and every entry at or below the last applied index is folded into it
 * (raft_io.c), so the saved log holds only entries not yet applied to
 * the chain: normally none, one or two blocks.
 *
 * Format (big-endian):
 *   "MCRS" | u32 version 1 | u64 term | u64 vote
 *   | u8 has_snapshot [ u64 index | u64 term | u64 conf_index
 *                      | u64 height | hash[32] ]
 *   | u64 first index | u32 n | n x (u64 term | u8 type | u32 len | data)
 * The configuration is not stored: it is always the genesis validator set
 * (raft.so never changes it), rebuilt on load.
 */
#ifndef RAFT_PERSIST_H
#define RAFT_PERSIST_H

#include <stddef.h>
#include <stdint.h>

#define RP_HASH_LEN 32
#define RP_MAX_ENTRIES 65536u /* far above what an engine ever keeps */

typedef struct rp_entry {
  uint64_t term;
  uint8_t type;   /* RAFT_COMMAND, RAFT_BARRIER or RAFT_CHANGE */
  uint8_t *data;  /* malloc'd, len bytes (NULL if 0) */
  size_t len;
} rp_entry;

typedef struct rp_snapshot {
  int present;
  uint64_t index, term, conf_index;
  uint64_t height;                /* the chain's head when it was taken */
  uint8_t hash[RP_HASH_LEN];
} rp_snapshot;

typedef struct rp_state {
  uint64_t term, vote;
  rp_snapshot snap;
  uint64_t first;     /* raft index of entries[0] (snap.index + 1, or 1) */
  rp_entry *entries;
  size_t n, cap;
} rp_state;

/* Encodes s; *out is malloc'd.  Returns 0 or MC_ENOMEM. */
int rp_encode(const rp_state *s, uint8_t **out, size_t *len);

/* Decodes into *s (cleared first).  Returns 0, MC_ECORRUPT (not a state
 * this engine wrote, or damaged; *s left empty) or MC_ENOMEM. */
int rp_decode(const uint8_t *in, size_t len, rp_state *s);

/* Appends a copy of data as the entry after the last.  0 or MC_ENOMEM. */
int rp_push(rp_state *s, uint64_t term, uint8_t type, const void *data,
            size_t len);

/* Drops entries with index >= from (raft's truncate). */
void rp_truncate(rp_state *s, uint64_t from);

/* Drops entries with index <= upto (folded into the snapshot). */
void rp_drop_prefix(rp_state *s, uint64_t upto);

/* The term of the entry at index, or 0 if it is not kept. */
uint64_t rp_term_of(const rp_state *s, uint64_t index);

/* Frees every entry; leaves *s empty. */
void rp_clear(rp_state *s);

#endif /* RAFT_PERSIST_H */
