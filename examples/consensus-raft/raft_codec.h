/*
 * raft_codec.h - the wire form of libraft's struct raft_message, as the
 * raft.so engine sends it through the host's send/broadcast.
 *
 * A fixed big-endian binary format (no msgpack: every field has one
 * width, so a reader needs no type checks beyond the bounds below):
 *
 *   u8 version (1) | u8 type (RAFT_IO_*) | type-specific body
 *
 * The sender's id and address are not on the wire: the receiver takes
 * them from the host, which proved the sender's key in the peer handshake.
 * Everything read from a peer is bounded before memory is allocated for
 * it; a message that breaks a bound, ends early or runs past its body is
 * refused with MC_EDECODE.  Nothing here calls the host, so the codec is
 * tested on its own (tests/sdk/raft_codec_test.c) under ASan.
 */
#ifndef RAFT_CODEC_H
#define RAFT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <raft.h>

#define RC_VERSION 1
#define RC_MAX_ENTRIES 4096u          /* entries in one AppendEntries */
#define RC_MAX_ENTRY_LEN (8u << 20)   /* one entry: the host's frame limit */
#define RC_MAX_SERVERS 256u           /* servers in a snapshot's configuration */
#define RC_MAX_ADDRESS 64u            /* bytes of one server address */
#define RC_MAX_SNAPSHOT_DATA 4096u    /* raft.so's snapshot data is 40 bytes */

/*
 * Encodes m (its type and body; server_id and server_address are not
 * sent).  *out is malloc'd; free it with free().  Returns 0, MC_EINVAL
 * (unknown type, or a field above a bound) or MC_ENOMEM.
 */
int rc_encode(const struct raft_message *m, uint8_t **out, size_t *len);

/*
 * Decodes a message into *m (server_id 0, server_address NULL: the caller
 * sets them).  What it allocates uses raft_malloc, laid out the way
 * libraft frees a received message: AppendEntries entries in one array
 * whose data share one batch; InstallSnapshot's configuration and data.
 * Hand *m to libraft's recv callback (which takes ownership) or free it
 * with rc_message_free.  Returns 0, MC_EDECODE (malformed or out of
 * bounds; nothing allocated) or MC_ENOMEM.
 */
int rc_decode(const uint8_t *in, size_t len, struct raft_message *m);

/* Frees what rc_decode allocated in *m. */
void rc_message_free(struct raft_message *m);

#endif /* RAFT_CODEC_H */
