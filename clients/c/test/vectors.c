/* Decodes conformance vectors with the library and prints what it made of each, one line per vector:
 *   <name>\tOK\t<decoded as JSON in the vectors' encoding>   or   <name>\tREFUSED\t<kind> <request_id|null> <why>
 * Input (stdin), written by tests/clients/test_c.py from every tests/vectors/<category>/<name>.json, so C needs no JSON parser:
 *   V <name> <pub|router> <to_broker|from_broker>
 *   F <frame as lowercase hex, or - for an empty frame>     (one line per frame)
 *   E
 * With --gaps, the publications go through one gap tracker in input order instead, one line each:
 *   <name>\t<first|next|gap N|new_epoch|stale|REFUSED>
 */
#include <stdlib.h>
#include <string.h>

#include "koabus.h"

#define MAX_FRAMES 16

static int hex_value(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes `hex` into a new buffer; returns its size or -1. */
static long from_hex(const char *hex, unsigned char **out) {
    size_t n = strlen(hex);
    if (strcmp(hex, "-") == 0) n = 0;
    if (n % 2) return -1;
    *out = malloc(n / 2 + 1);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        (*out)[i] = (unsigned char)(hi << 4 | lo);
    }
    return (long)(n / 2);
}

static void track_one(kb_gaps *gaps, const char *name, kb_frame *frames, size_t n) {
    static const char *const KINDS[] = {"first", "next", "gap", "new_epoch", "stale"};
    char err[512];
    kb_pub pub;
    if (kb_decode_pub(frames, n, &pub, err, sizeof err) != 0) { printf("%s\tREFUSED\n", name); return; }
    uint64_t missed;
    kb_seq_kind kind = kb_gaps_observe(gaps, &pub, &missed);
    if (kind == KB_SEQ_GAP) printf("%s\tgap %llu\n", name, (unsigned long long)missed);
    else printf("%s\t%s\n", name, KINDS[kind]);
    kb_pub_free(&pub);
}

static void decode_one(const char *name, const char *channel, const char *direction, kb_frame *frames, size_t n) {
    char err[512];
    printf("%s\t", name);
    if (strcmp(channel, "pub") == 0) {
        kb_pub pub;
        if (kb_decode_pub(frames, n, &pub, err, sizeof err) != 0) { printf("REFUSED\t%s\n", err); return; }
        msgpack_object topic = {.type = MSGPACK_OBJECT_STR};
        topic.via.str.ptr = pub.topic;
        topic.via.str.size = (uint32_t)pub.topic_len;
        fputs("OK\t{\"topic\": ", stdout);
        kb_write_json(stdout, &topic);
        fputs(", \"envelope\": ", stdout);
        kb_write_json(stdout, &pub.envelope);
        fputs(", \"body\": ", stdout);
        kb_write_json(stdout, &pub.body);
        fputs("}\n", stdout);
        kb_pub_free(&pub);
    } else {
        kb_msg msg;
        kb_direction dir = strcmp(direction, "to_broker") == 0 ? KB_TO_BROKER : KB_FROM_BROKER;
        if (kb_decode_msg(frames, n, dir, &msg, err, sizeof err) != 0) { printf("REFUSED\t%s\n", err); return; }
        fputs("OK\t{\"envelope\": ", stdout);
        kb_write_json(stdout, &msg.envelope);
        fputs(", \"body\": ", stdout);
        kb_write_json(stdout, &msg.body);
        fputs("}\n", stdout);
        kb_msg_free(&msg);
    }
}

int main(int argc, char **argv) {
    int gaps_mode = argc > 1 && strcmp(argv[1], "--gaps") == 0;
    kb_gaps gaps;
    kb_gaps_init(&gaps);
    static char line[1 << 24]; /* a frame up to 8 MiB as hex */
    char name[256] = "", channel[16] = "", direction[16] = "";
    kb_frame frames[MAX_FRAMES];
    unsigned char *buffers[MAX_FRAMES];
    size_t n = 0;
    int vectors = 0;
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == 'V') {
            if (sscanf(line, "V %255s %15s %15s", name, channel, direction) != 3) return 2;
            n = 0;
        } else if (line[0] == 'F') {
            if (n == MAX_FRAMES) return 2;
            long size = from_hex(line + 2, &buffers[n]);
            if (size < 0) { fprintf(stderr, "%s: bad hex\n", name); return 2; }
            frames[n] = (kb_frame){buffers[n], (size_t)size};
            n++;
        } else if (line[0] == 'E') {
            if (gaps_mode) track_one(&gaps, name, frames, n);
            else decode_one(name, channel, direction, frames, n);
            for (size_t i = 0; i < n; i++) free(buffers[i]);
            n = 0;
            vectors++;
        }
    }
    kb_gaps_free(&gaps);
    fprintf(stderr, "decoded %d vectors\n", vectors);
    return 0;
}
