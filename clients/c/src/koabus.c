/* koabus C client library: see koabus.h. The checks mirror common/protocol/ (codec.py, messages.py,
 * publication.py) so that this decoder refuses exactly what the Python one refuses. */
#include "koabus.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define MAX_PUB_FRAME (4u << 20)      /* MAX_REPLY_FRAME_BYTES: broker frames */
#define MAX_CLIENT_FRAME (1u << 20)   /* MAX_FRAME_BYTES: client frames */
#define U63 ((uint64_t)INT64_MAX)
#define JSON_SAFE_INT 9007199254740991ULL /* 2^53 - 1 */

static const char *const PUB_TYPES[] = {"RT", "CHEJAN", "COND", "SYS", "HB", "ALERT", "BAR", "RTB", "RTP", NULL};

/* ---- refusals ------------------------------------------------------------------------------ */

/* err holds "<kind> <request_id|null> <message>" so a test can compare kind and request id. */
static int refuse(char *err, size_t size, const char *kind, int has_id, uint64_t id, const char *fmt, ...) {
    if (err != NULL && size > 0) {
        char text[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
        if (has_id)
            snprintf(err, size, "%s %llu %s", kind, (unsigned long long)id, text);
        else
            snprintf(err, size, "%s null %s", kind, text);
    }
    return -1;
}

/* ---- msgpack helpers ----------------------------------------------------------------------- */

/* Code points in a UTF-8 string, or -1 when it is not valid UTF-8 (Python's strict decoder). */
static long utf8_chars(const char *s, uint32_t n) {
    const unsigned char *p = (const unsigned char *)s;
    long chars = 0;
    uint32_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        uint32_t len;
        uint32_t cp;
        if (c < 0x80) { i++; chars++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
        else return -1;
        if (i + len > n) return -1;
        for (uint32_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return -1;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return -1;
        if (cp >= 0xD800 && cp <= 0xDFFF) return -1;
        i += len;
        chars++;
    }
    return chars;
}

static int is_int(const msgpack_object *o) {
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER || o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
}

static int is_u63(const msgpack_object *o) {
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= U63;
}

static int str_eq(const msgpack_object *o, const char *s) {
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
}

/* Refuses what Python's unpack refuses inside a decoded value: extension types, invalid UTF-8,
 * map keys that cannot be dict keys (maps, arrays). Returns a reason or NULL. */
static const char *check_value(const msgpack_object *o) {
    switch (o->type) {
    case MSGPACK_OBJECT_EXT:
        return "holds a msgpack extension type (not allowed)";
    case MSGPACK_OBJECT_STR:
        return utf8_chars(o->via.str.ptr, o->via.str.size) < 0 ? "holds a string that is not UTF-8" : NULL;
    case MSGPACK_OBJECT_ARRAY:
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            const char *why = check_value(&o->via.array.ptr[i]);
            if (why) return why;
        }
        return NULL;
    case MSGPACK_OBJECT_MAP:
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            if (k->type == MSGPACK_OBJECT_ARRAY || k->type == MSGPACK_OBJECT_MAP)
                return "holds a map key that is a map or an array";
            const char *why = check_value(k);
            if (!why) why = check_value(&o->via.map.ptr[i].val);
            if (why) return why;
        }
        return NULL;
    default:
        return NULL;
    }
}

/* One msgpack object filling the whole frame; NULL on success, else the reason. */
static const char *unpack_frame(const kb_frame *f, size_t max_bytes, msgpack_zone *zone, msgpack_object *out,
                                int *too_large) {
    *too_large = 0;
    if (f->size > max_bytes) { *too_large = 1; return "frame exceeds the size limit"; }
    if (f->size == 0) return "is empty";
    size_t off = 0;
    msgpack_unpack_return rc = msgpack_unpack((const char *)f->data, f->size, &off, zone, out);
    if (rc == MSGPACK_UNPACK_EXTRA_BYTES) return "is not valid msgpack (extra data)";
    if (rc != MSGPACK_UNPACK_SUCCESS) return "is not valid msgpack";
    return check_value(out);
}

const msgpack_object *kb_map_get(const msgpack_object *map, const char *key) {
    if (map == NULL || map->type != MSGPACK_OBJECT_MAP) return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (str_eq(&map->via.map.ptr[i].key, key)) return &map->via.map.ptr[i].val;
    return NULL;
}

int kb_map_int(const msgpack_object *map, const char *key, int64_t *out) {
    const msgpack_object *v = kb_map_get(map, key);
    if (v == NULL) return -1;
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= U63) { *out = (int64_t)v->via.u64; return 0; }
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) { *out = v->via.i64; return 0; }
    return -1;
}

/* ---- publications (§4) --------------------------------------------------------------------- */

int kb_decode_pub(const kb_frame *frames, size_t n_frames, kb_pub *out, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    if (n_frames != 3) return refuse(err, err_size, "ProtocolError", 0, 0, "a publication has 3 frames");
    if (frames[0].size > KB_MAX_TOPIC) return refuse(err, err_size, "ProtocolError", 0, 0, "topic over 255 bytes");
    for (size_t i = 0; i < frames[0].size; i++)
        if (frames[0].data[i] >= 0x80) return refuse(err, err_size, "ProtocolError", 0, 0, "topic is not ASCII");
    memcpy(out->topic, frames[0].data, frames[0].size);
    out->topic[frames[0].size] = '\0';
    out->topic_len = frames[0].size;
    out->zone = msgpack_zone_new(4096);
    int too_large;
    const char *why = unpack_frame(&frames[1], MAX_PUB_FRAME, out->zone, &out->envelope, &too_large);
    if (why) goto fail;
    const msgpack_object *env = &out->envelope;
    if (env->type != MSGPACK_OBJECT_ARRAY || env->via.array.size != 7) { why = "envelope must have 7 items"; goto fail; }
    const msgpack_object *e = env->via.array.ptr;
    if (!is_int(&e[0])) { why = "version must be an integer"; goto fail; }
    if (!(e[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && e[0].via.u64 == KB_VERSION)) {
        kb_pub_free(out);
        return refuse(err, err_size, "VersionMismatch", 0, 0, "protocol version not supported");
    }
    for (const char *const *t = PUB_TYPES; *t; t++)
        if (str_eq(&e[1], *t)) out->type = *t;
    if (out->type == NULL) { why = "unknown publication type"; goto fail; }
    if (!is_u63(&e[2]) || !is_u63(&e[3]) || !is_u63(&e[4]) || !is_u63(&e[6])) {
        why = "epoch, seq, topic_seq and recv_ns must be integers in [0, 2^63)";
        goto fail;
    }
    if (e[5].type != MSGPACK_OBJECT_NIL && !is_int(&e[5])) { why = "event_ns must be an integer or nil"; goto fail; }
    out->epoch = e[2].via.u64;
    out->seq = e[3].via.u64;
    out->topic_seq = e[4].via.u64;
    out->recv_ns = e[6].via.u64;
    out->has_event_ns = e[5].type != MSGPACK_OBJECT_NIL;
    out->event_ns = out->has_event_ns ? e[5].via.i64 : 0;
    why = unpack_frame(&frames[2], MAX_PUB_FRAME, out->zone, &out->body, &too_large);
    if (why) goto fail;
    if (out->body.type != MSGPACK_OBJECT_MAP) { why = "body must be a map"; goto fail; }
    return 0;
fail:
    kb_pub_free(out);
    return refuse(err, err_size, too_large ? "MessageTooLarge" : "ProtocolError", 0, 0, "%s", why);
}

void kb_pub_free(kb_pub *pub) {
    if (pub->zone) msgpack_zone_free(pub->zone);
    pub->zone = NULL;
}

/* ---- request/reply messages (§3) ----------------------------------------------------------- */

enum { T_ANY, T_INT, T_STR, T_MAP, T_ARRAY };
typedef struct { const char *key; int type; int required; } field_spec;
typedef struct { const char *type; kb_direction dir; field_spec fields[7]; } msg_spec;

static const msg_spec MSG_SPECS[] = {
    {"HELLO", KB_TO_BROKER, {{"versions", T_ARRAY, 1}, {"client", T_STR, 0}, {"heartbeat_ms", T_INT, 0}}},
    {"REQUEST", KB_TO_BROKER, {{"op", T_STR, 1}, {"args", T_MAP, 0}, {"deadline_ms", T_INT, 0},
                               {"idem_key", T_STR, 0}}},
    {"CANCEL", KB_TO_BROKER, {{0}}},
    {"PING", KB_TO_BROKER, {{0}}},
    {"BYE", KB_TO_BROKER, {{0}}},
    {"WELCOME", KB_FROM_BROKER, {{"version", T_INT, 1}, {"epoch", T_INT, 1}, {"broker", T_STR, 0},
                                 {"server", T_MAP, 0}, {"heartbeat_ms", T_INT, 0}, {"max_frame_bytes", T_INT, 0}}},
    {"REPLY", KB_FROM_BROKER, {{"result", T_ANY, 0}}},
    {"PART", KB_FROM_BROKER, {{"n", T_INT, 1}, {"data", T_ANY, 0}}},
    {"END", KB_FROM_BROKER, {{"parts", T_INT, 1}, {"result", T_ANY, 0}}},
    {"ERROR", KB_FROM_BROKER, {{"kind", T_STR, 1}, {"code", T_INT, 0}, {"message", T_STR, 0},
                               {"details", T_MAP, 0}}},
    {"PONG", KB_FROM_BROKER, {{"epoch", T_INT, 1}, {"seq", T_INT, 1}}},
};

static int has_type(const msgpack_object *o, int type) {
    switch (type) {
    case T_INT: return is_int(o);
    case T_STR: return o->type == MSGPACK_OBJECT_STR;
    case T_MAP: return o->type == MSGPACK_OBJECT_MAP;
    case T_ARRAY: return o->type == MSGPACK_OBJECT_ARRAY;
    default: return 1;
    }
}

static long str_chars(const msgpack_object *o) { return utf8_chars(o->via.str.ptr, o->via.str.size); }

/* The limits on REQUEST.args (docs/protocol.md §9): key and text lengths, nesting depth. */
static const char *check_args(const msgpack_object *node, int depth) {
    if (depth >= 16) return "REQUEST.args nests deeper than 16 levels";
    uint32_t n = node->type == MSGPACK_OBJECT_MAP ? node->via.map.size : node->via.array.size;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *v;
        if (node->type == MSGPACK_OBJECT_MAP) {
            const msgpack_object *k = &node->via.map.ptr[i].key;
            if (k->type == MSGPACK_OBJECT_STR && str_chars(k) > 64) return "a key in REQUEST.args is over 64 characters";
            v = &node->via.map.ptr[i].val;
        } else {
            v = &node->via.array.ptr[i];
        }
        if (v->type == MSGPACK_OBJECT_STR && str_chars(v) > 4096) return "a text in REQUEST.args is over 4096 characters";
        if (v->type == MSGPACK_OBJECT_MAP || v->type == MSGPACK_OBJECT_ARRAY) {
            const char *why = check_args(v, depth + 1);
            if (why) return why;
        }
    }
    return NULL;
}

/* The per-type checks of messages.py beyond the field types. */
static const char *check_body(const char *type, const msgpack_object *body) {
    const msgpack_object *v;
    if (strcmp(type, "HELLO") == 0) {
        if ((v = kb_map_get(body, "client")) && v->type == MSGPACK_OBJECT_STR && str_chars(v) > 64)
            return "HELLO.client is over 64 characters";
        v = kb_map_get(body, "versions");
        if (v->via.array.size > 16) return "HELLO.versions lists more than 16 versions";
        for (uint32_t i = 0; i < v->via.array.size; i++)
            if (!is_int(&v->via.array.ptr[i])) return "HELLO.versions must be integers";
    } else if (strcmp(type, "REQUEST") == 0) {
        if (str_chars(kb_map_get(body, "op")) > 64) return "REQUEST.op is over 64 characters";
        if ((v = kb_map_get(body, "idem_key")) && v->type == MSGPACK_OBJECT_STR && str_chars(v) > 128)
            return "REQUEST.idem_key is over 128 characters";
        if ((v = kb_map_get(body, "args")) && v->type == MSGPACK_OBJECT_MAP) {
            for (uint32_t i = 0; i < v->via.map.size; i++)
                if (v->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR) return "REQUEST.args keys must be strings";
            const char *why = check_args(v, 0);
            if (why) return why;
        }
        if ((v = kb_map_get(body, "deadline_ms")) && is_int(v)
            && (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER || v->via.u64 == 0))
            return "REQUEST.deadline_ms must be positive";
    }
    return NULL;
}

int kb_decode_msg(const kb_frame *frames, size_t n_frames, kb_direction direction, kb_msg *out,
                  char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    size_t max_bytes = direction == KB_TO_BROKER ? MAX_CLIENT_FRAME : MAX_PUB_FRAME;
    out->zone = msgpack_zone_new(4096);
    int too_large = 0, has_id = 0;
    const char *why = n_frames == 0 ? "expected 2 frames, got 0" : NULL;
    if (!why) why = unpack_frame(&frames[0], max_bytes, out->zone, &out->envelope, &too_large);
    if (why) goto fail;
    const msgpack_object *env = &out->envelope;
    if (env->type != MSGPACK_OBJECT_ARRAY || env->via.array.size != 3) { why = "envelope must have 3 items"; goto fail; }
    const msgpack_object *e = env->via.array.ptr;
    if (!is_u63(&e[2])) { why = "request_id must be an integer in [0, 2^63)"; goto fail; }
    out->request_id = e[2].via.u64;
    has_id = 1;
    /* a wrong frame count with a readable envelope is refused with its own request id (§3.4) */
    if (n_frames != 2) { too_large = 0; why = "expected 2 frames [envelope, body]"; goto fail; }
    if (!is_int(&e[0])) { why = "version must be an integer"; goto fail; }
    if (!(e[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && e[0].via.u64 == KB_VERSION)) {
        uint64_t id = out->request_id;
        kb_msg_free(out);
        return refuse(err, err_size, "VersionMismatch", 1, id, "protocol version not supported");
    }
    const msg_spec *spec = NULL;
    for (size_t i = 0; i < sizeof MSG_SPECS / sizeof MSG_SPECS[0]; i++)
        if (MSG_SPECS[i].dir == direction && str_eq(&e[1], MSG_SPECS[i].type)) spec = &MSG_SPECS[i];
    if (spec == NULL) { why = "unknown message type"; goto fail; }
    out->type = spec->type;
    why = unpack_frame(&frames[1], max_bytes, out->zone, &out->body, &too_large);
    if (why) goto fail;
    if (out->body.type != MSGPACK_OBJECT_MAP) { why = "body must be a map"; goto fail; }
    for (const field_spec *f = spec->fields; f->key; f++) {
        const msgpack_object *v = kb_map_get(&out->body, f->key);
        if (v == NULL || v->type == MSGPACK_OBJECT_NIL) {
            if (f->required) { why = "a required field is missing"; goto fail; }
        } else if (!has_type(v, f->type)) {
            why = "a field has the wrong type";
            goto fail;
        }
    }
    if ((why = check_body(spec->type, &out->body)) != NULL) goto fail;
    return 0;
fail:;
    uint64_t id = out->request_id;
    kb_msg_free(out);
    return refuse(err, err_size, too_large && n_frames == 2 ? "MessageTooLarge" : "ProtocolError", has_id, id, "%s", why);
}

void kb_msg_free(kb_msg *msg) {
    if (msg->zone) msgpack_zone_free(msg->zone);
    msg->zone = NULL;
}

/* ---- JSON in the vectors' encoding --------------------------------------------------------- */

static void write_json_string(FILE *out, const char *s, uint32_t n) {
    fputc('"', out);
    for (uint32_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
        else if (c < 0x20 || c == 0x7f) fprintf(out, "\\u%04x", c);
        else fputc(c, out);
    }
    fputc('"', out);
}

static void write_hex(FILE *out, const char *p, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) fprintf(out, "%02x", (unsigned char)p[i]);
}

static void write_float(FILE *out, double d) {
    if (isnan(d)) fputs("{\"$float\": \"nan\"}", out);
    else if (isinf(d)) fputs(d > 0 ? "{\"$float\": \"inf\"}" : "{\"$float\": \"-inf\"}", out);
    else {
        char buf[40];
        for (int digits = 15; digits <= 17; digits++) { /* the shortest text that reads back as d */
            snprintf(buf, sizeof buf, "%.*g", digits, d);
            if (strtod(buf, NULL) == d) break;
        }
        fputs(buf, out);
        if (!strpbrk(buf, ".eE")) fputs(".0", out);
    }
}

void kb_write_json(FILE *out, const msgpack_object *o) {
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: fputs("null", out); break;
    case MSGPACK_OBJECT_BOOLEAN: fputs(o->via.boolean ? "true" : "false", out); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 <= JSON_SAFE_INT) fprintf(out, "%llu", (unsigned long long)o->via.u64);
        else fprintf(out, "{\"$int\": \"%llu\"}", (unsigned long long)o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        if (o->via.i64 >= -(int64_t)JSON_SAFE_INT) fprintf(out, "%lld", (long long)o->via.i64);
        else fprintf(out, "{\"$int\": \"%lld\"}", (long long)o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: write_float(out, o->via.f64); break;
    case MSGPACK_OBJECT_STR: write_json_string(out, o->via.str.ptr, o->via.str.size); break;
    case MSGPACK_OBJECT_BIN:
        fputs("{\"$bin\": \"", out);
        write_hex(out, o->via.bin.ptr, o->via.bin.size);
        fputs("\"}", out);
        break;
    case MSGPACK_OBJECT_EXT:
        fprintf(out, "{\"$ext\": %d, \"data\": \"", (int)o->via.ext.type);
        write_hex(out, o->via.ext.ptr, o->via.ext.size);
        fputs("\"}", out);
        break;
    case MSGPACK_OBJECT_ARRAY:
        fputc('[', out);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i) fputs(", ", out);
            kb_write_json(out, &o->via.array.ptr[i]);
        }
        fputc(']', out);
        break;
    case MSGPACK_OBJECT_MAP:
        fputc('{', out);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            if (i) fputs(", ", out);
            if (k->type == MSGPACK_OBJECT_STR) {
                write_json_string(out, k->via.str.ptr, k->via.str.size);
            } else { /* JSON keys are strings: a non-string key is written as its JSON text, quoted */
                fputc('"', out);
                if (k->type == MSGPACK_OBJECT_POSITIVE_INTEGER) fprintf(out, "%llu", (unsigned long long)k->via.u64);
                else if (k->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) fprintf(out, "%lld", (long long)k->via.i64);
                else fputs("?", out);
                fputc('"', out);
            }
            fputs(": ", out);
            kb_write_json(out, &o->via.map.ptr[i].val);
        }
        fputc('}', out);
        break;
    }
}

/* ---- gap detection (§6) -------------------------------------------------------------------- */

struct kb_gap_entry {
    char topic[KB_MAX_TOPIC + 1];
    uint64_t epoch, topic_seq;
};

void kb_gaps_init(kb_gaps *gaps) { memset(gaps, 0, sizeof *gaps); }

void kb_gaps_free(kb_gaps *gaps) {
    free(gaps->entries);
    memset(gaps, 0, sizeof *gaps);
}

kb_seq_kind kb_gaps_observe(kb_gaps *gaps, const kb_pub *pub, uint64_t *missed) {
    *missed = 0;
    for (size_t i = 0; i < gaps->count; i++) {
        kb_gap_entry *e = &gaps->entries[i];
        if (strcmp(e->topic, pub->topic) != 0) continue;
        kb_seq_kind kind;
        if (pub->epoch != e->epoch) kind = KB_SEQ_NEW_EPOCH;
        else if (pub->topic_seq <= e->topic_seq) return KB_SEQ_STALE; /* a duplicate or older: keep the mark */
        else if (pub->topic_seq == e->topic_seq + 1) kind = KB_SEQ_NEXT;
        else { kind = KB_SEQ_GAP; *missed = pub->topic_seq - e->topic_seq - 1; }
        e->epoch = pub->epoch;
        e->topic_seq = pub->topic_seq;
        return kind;
    }
    if (gaps->count == gaps->capacity) {
        size_t cap = gaps->capacity ? gaps->capacity * 2 : 16;
        kb_gap_entry *grown = realloc(gaps->entries, cap * sizeof *grown);
        if (grown == NULL) return KB_SEQ_FIRST; /* out of memory: the topic stays untracked */
        gaps->entries = grown;
        gaps->capacity = cap;
    }
    kb_gap_entry *e = &gaps->entries[gaps->count++];
    snprintf(e->topic, sizeof e->topic, "%s", pub->topic);
    e->epoch = pub->epoch;
    e->topic_seq = pub->topic_seq;
    return KB_SEQ_FIRST;
}

/* ---- request/reply on a DEALER ------------------------------------------------------------- */

void kb_encode_request(uint64_t request_id, const char *op, kb_pack_fn pack_args, const void *ctx,
                       msgpack_sbuffer *envelope, msgpack_sbuffer *body) {
    msgpack_packer pk;
    msgpack_sbuffer_init(envelope);
    msgpack_packer_init(&pk, envelope, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, KB_VERSION);
    msgpack_pack_str_with_body(&pk, "REQUEST", 7);
    msgpack_pack_uint64(&pk, request_id);

    msgpack_sbuffer_init(body);
    msgpack_packer_init(&pk, body, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    msgpack_pack_str_with_body(&pk, "op", 2);
    msgpack_pack_str_with_body(&pk, op, strlen(op));
    msgpack_pack_str_with_body(&pk, "args", 4);
    if (pack_args) pack_args(&pk, ctx);
    else msgpack_pack_map(&pk, 0);
    msgpack_pack_str_with_body(&pk, "deadline_ms", 11);
    msgpack_pack_nil(&pk);
    msgpack_pack_str_with_body(&pk, "idem_key", 8);
    msgpack_pack_nil(&pk);
}

/* Receives one multipart message (at most 8 frames) into `msgs`; returns the frame count or -1. */
static int recv_multipart(void *socket, zmq_msg_t *msgs, int max_frames) {
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t scratch;
        zmq_msg_t *m = n < max_frames ? &msgs[n] : &scratch;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, socket, 0) < 0) {
            zmq_msg_close(m);
            for (int i = 0; i < n && i < max_frames; i++) zmq_msg_close(&msgs[i]);
            return -1;
        }
        more = zmq_msg_more(m);
        if (m == &scratch) zmq_msg_close(m);
        n++;
    }
    return n;
}

int kb_request(void *dealer, uint64_t request_id, const char *op, kb_pack_fn pack_args, const void *ctx,
               int timeout_ms, kb_msg *reply, char *err, size_t err_size) {
    msgpack_sbuffer env, body;
    kb_encode_request(request_id, op, pack_args, ctx, &env, &body);
    int sent = zmq_send(dealer, env.data, env.size, ZMQ_SNDMORE) >= 0 && zmq_send(dealer, body.data, body.size, 0) >= 0;
    msgpack_sbuffer_destroy(&env);
    msgpack_sbuffer_destroy(&body);
    if (!sent) return refuse(err, err_size, "Unavailable", 0, 0, "send failed: %s", zmq_strerror(zmq_errno()));
    for (int attempts = 0; attempts < 1000; attempts++) { /* bounded: answers to other requests are skipped */
        zmq_pollitem_t item = {dealer, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, timeout_ms) <= 0)
            return refuse(err, err_size, "Timeout", 1, request_id, "no answer within %d ms", timeout_ms);
        zmq_msg_t frames[8];
        int n = recv_multipart(dealer, frames, 8);
        if (n < 0) return refuse(err, err_size, "Unavailable", 1, request_id, "receive failed");
        kb_frame fr[8];
        int kept = n < 8 ? n : 8;
        for (int i = 0; i < kept; i++) fr[i] = (kb_frame){zmq_msg_data(&frames[i]), zmq_msg_size(&frames[i])};
        int rc = kb_decode_msg(fr, (size_t)n, KB_FROM_BROKER, reply, err, err_size);
        for (int i = 0; i < kept; i++) zmq_msg_close(&frames[i]);
        if (rc != 0) return -1;
        if (reply->request_id != request_id) { kb_msg_free(reply); continue; }
        if (strcmp(reply->type, "REPLY") == 0) return 0;
        if (strcmp(reply->type, "ERROR") == 0) {
            const msgpack_object *kind = kb_map_get(&reply->body, "kind");
            const msgpack_object *msg = kb_map_get(&reply->body, "message");
            refuse(err, err_size, "ERROR", 1, request_id, "%.*s: %.*s", (int)kind->via.str.size, kind->via.str.ptr,
                   msg && msg->type == MSGPACK_OBJECT_STR ? (int)msg->via.str.size : 0,
                   msg && msg->type == MSGPACK_OBJECT_STR ? msg->via.str.ptr : "");
            kb_msg_free(reply);
            return -1;
        }
        kb_msg_free(reply); /* PART/END are not answers to a single-reply op */
    }
    return refuse(err, err_size, "Timeout", 1, request_id, "too many unrelated answers");
}
