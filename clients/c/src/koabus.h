/* koabus C client: decode publications and replies (docs/protocol.md §3, §4), detect per-topic gaps,
 * and make one request/reply on a DEALER. Small on purpose: a template for a client in C. */
#ifndef KOABUS_H
#define KOABUS_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define KB_VERSION 1
#define KB_MAX_TOPIC 255

typedef struct {
    const unsigned char *data;
    size_t size;
} kb_frame;

/* One decoded publication. The msgpack objects live in `zone`'s memory: release with kb_pub_free. */
typedef struct {
    char topic[KB_MAX_TOPIC + 1];
    size_t topic_len;         /* ASCII may hold NUL: compare with topic_len */
    const char *type;         /* "RT", "CHEJAN", ... (static string) */
    uint64_t epoch, seq, topic_seq, recv_ns;
    int has_event_ns;
    int64_t event_ns;
    msgpack_object envelope;  /* the whole envelope array */
    msgpack_object body;      /* a map */
    msgpack_zone *zone;
} kb_pub;

/* One decoded request/reply message (after the ROUTER identity frame). */
typedef struct {
    const char *type;         /* "REQUEST", "REPLY", ... (static string) */
    uint64_t request_id;
    msgpack_object envelope;
    msgpack_object body;
    msgpack_zone *zone;
} kb_msg;

/* Which side sent a router message: decides the accepted message types. */
typedef enum { KB_TO_BROKER, KB_FROM_BROKER } kb_direction;

/* 0 on success; otherwise -1 and `err` (may be NULL) says why the frames are refused. */
int kb_decode_pub(const kb_frame *frames, size_t n_frames, kb_pub *out, char *err, size_t err_size);
void kb_pub_free(kb_pub *pub);
int kb_decode_msg(const kb_frame *frames, size_t n_frames, kb_direction direction, kb_msg *out,
                  char *err, size_t err_size);
void kb_msg_free(kb_msg *msg);

/* The value under `key` in a msgpack map, or NULL. */
const msgpack_object *kb_map_get(const msgpack_object *map, const char *key);
/* An integer field as int64 (0 on success, -1 if absent or not an integer in int64 range). */
int kb_map_int(const msgpack_object *map, const char *key, int64_t *out);

/* Writes `obj` as JSON in the vectors' encoding (tests/vectors/README.md): $int, $bin, $float, $ext. */
void kb_write_json(FILE *out, const msgpack_object *obj);

/* Per-topic gap detection (docs/protocol.md §6): tracks (epoch, topic_seq) for each topic. */
typedef struct kb_gap_entry kb_gap_entry;
typedef struct {
    kb_gap_entry *entries;
    size_t count, capacity;
} kb_gaps;

typedef enum { KB_SEQ_FIRST, KB_SEQ_NEXT, KB_SEQ_GAP, KB_SEQ_NEW_EPOCH, KB_SEQ_STALE } kb_seq_kind;

void kb_gaps_init(kb_gaps *gaps);
void kb_gaps_free(kb_gaps *gaps);
/* Classifies `pub` against what its topic had; on KB_SEQ_GAP `*missed` is how many were lost. */
kb_seq_kind kb_gaps_observe(kb_gaps *gaps, const kb_pub *pub, uint64_t *missed);

/* Frames of a REQUEST: envelope [1, "REQUEST", id] and body {op, args, deadline_ms: nil, idem_key: nil}.
 * `pack_args` (may be NULL for {}) packs the args map itself. The caller frees both buffers. */
typedef void (*kb_pack_fn)(msgpack_packer *pk, const void *ctx);
void kb_encode_request(uint64_t request_id, const char *op, kb_pack_fn pack_args, const void *ctx,
                       msgpack_sbuffer *envelope, msgpack_sbuffer *body);

/* Sends a REQUEST on a connected DEALER and waits up to timeout_ms for its final answer.
 * 0 on REPLY (`reply` holds it: free with kb_msg_free); -1 on timeout, ERROR or a broken frame. */
int kb_request(void *dealer, uint64_t request_id, const char *op, kb_pack_fn pack_args, const void *ctx,
               int timeout_ms, kb_msg *reply, char *err, size_t err_size);

#endif
