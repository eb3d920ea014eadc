/* Subscribes to rt.trade.<code> and prints every tick with per-topic gap detection.
 *   koabus_ticks ROUTER PUB CODE MAX_MESSAGES MAX_SECONDS
 * It connects its SUB first (so nothing falls between), asks the broker to register the code with a
 * `subscribe` request on its DEALER, then prints one line per tick until MAX_MESSAGES or MAX_SECONDS:
 *   tick topic=... epoch=... seq=... topic_seq=... current_price=... gap=<missed>
 * and at the end: done received=N gaps=G missed=M. Exit status 0 when it received at least one tick. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "koabus.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* args {codes: [code], types: ["trade"]} */
static void pack_subscribe_args(msgpack_packer *pk, const void *ctx) {
    const char *code = ctx;
    msgpack_pack_map(pk, 2);
    msgpack_pack_str_with_body(pk, "codes", 5);
    msgpack_pack_array(pk, 1);
    msgpack_pack_str_with_body(pk, code, strlen(code));
    msgpack_pack_str_with_body(pk, "types", 5);
    msgpack_pack_array(pk, 1);
    msgpack_pack_str_with_body(pk, "trade", 5);
}

/* A client heartbeat (§8) so the broker keeps this client's subscription: [1, "PING", id], {}. */
static void send_ping(void *dealer, uint64_t request_id) {
    unsigned char envelope[32];
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, KB_VERSION);
    msgpack_pack_str_with_body(&pk, "PING", 4);
    msgpack_pack_uint64(&pk, request_id);
    memcpy(envelope, buf.data, buf.size);
    zmq_send(dealer, envelope, buf.size, ZMQ_SNDMORE);
    zmq_send(dealer, "\x80", 1, 0); /* {} */
    msgpack_sbuffer_destroy(&buf);
}

static void print_tick(const kb_pub *pub, uint64_t missed) {
    const msgpack_object *values = kb_map_get(&pub->body, "values");
    int64_t price = 0;
    int has_price = kb_map_int(values, "current_price", &price) == 0;
    printf("tick topic=%s epoch=%llu seq=%llu topic_seq=%llu current_price=%s%lld gap=%llu\n", pub->topic,
           (unsigned long long)pub->epoch, (unsigned long long)pub->seq, (unsigned long long)pub->topic_seq,
           has_price ? "" : "none", has_price ? (long long)price : 0LL, (unsigned long long)missed);
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s ROUTER PUB CODE MAX_MESSAGES MAX_SECONDS\n", argv[0]);
        return 2;
    }
    const char *router = argv[1], *pub_endpoint = argv[2], *code = argv[3];
    long max_messages = atol(argv[4]);
    double max_seconds = atof(argv[5]);
    char topic[64], err[512];
    snprintf(topic, sizeof topic, "rt.trade.%s", code);

    void *ctx = zmq_ctx_new();
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, topic, strlen(topic));
    if (zmq_connect(sub, pub_endpoint) != 0 || zmq_connect(dealer, router) != 0) {
        fprintf(stderr, "connect: %s\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    kb_msg reply;
    if (kb_request(dealer, 1, "subscribe", pack_subscribe_args, code, 10000, &reply, err, sizeof err) != 0) {
        fprintf(stderr, "subscribe failed: %s\n", err);
        return 1;
    }
    kb_msg_free(&reply);

    kb_gaps gaps;
    kb_gaps_init(&gaps);
    long received = 0, gap_events = 0;
    uint64_t missed_total = 0, next_id = 2;
    double start = now_s(), last_ping = start;
    while (received < max_messages && now_s() - start < max_seconds) {
        zmq_pollitem_t items[2] = {{sub, 0, ZMQ_POLLIN, 0}, {dealer, 0, ZMQ_POLLIN, 0}};
        zmq_poll(items, 2, 100);
        if (now_s() - last_ping > 1.0) {
            send_ping(dealer, next_id++);
            last_ping = now_s();
        }
        if (items[1].revents & ZMQ_POLLIN) { /* PONGs: drain */
            int more = 1;
            while (more) {
                zmq_msg_t m;
                zmq_msg_init(&m);
                zmq_msg_recv(&m, dealer, 0);
                more = zmq_msg_more(&m);
                zmq_msg_close(&m);
            }
        }
        if (!(items[0].revents & ZMQ_POLLIN)) continue;
        zmq_msg_t parts[3];
        kb_frame frames[3];
        int n = 0, more = 1;
        while (more) { /* a publication has 3 frames; extra frames make it invalid (and are dropped) */
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, sub, 0) < 0) { zmq_msg_close(&m); break; }
            more = zmq_msg_more(&m);
            if (n < 3) parts[n] = m;
            else zmq_msg_close(&m);
            n++;
        }
        int kept = n < 3 ? n : 3;
        for (int i = 0; i < kept; i++) frames[i] = (kb_frame){zmq_msg_data(&parts[i]), zmq_msg_size(&parts[i])};
        kb_pub pub;
        if (kb_decode_pub(frames, (size_t)n, &pub, err, sizeof err) != 0) {
            fprintf(stderr, "refused a publication: %s\n", err);
        } else if (pub.topic_len == strlen(topic) && memcmp(pub.topic, topic, pub.topic_len) == 0) {
            uint64_t missed;
            kb_seq_kind kind = kb_gaps_observe(&gaps, &pub, &missed);
            if (kind == KB_SEQ_GAP) {
                gap_events++;
                missed_total += missed;
                fprintf(stderr, "gap on %s: %llu lost\n", pub.topic, (unsigned long long)missed);
            } else if (kind == KB_SEQ_NEW_EPOCH) {
                fprintf(stderr, "new epoch on %s: the broker restarted\n", pub.topic);
            }
            if (kind != KB_SEQ_STALE) {
                print_tick(&pub, missed);
                received++;
            }
            kb_pub_free(&pub);
        } else {
            kb_pub_free(&pub); /* a longer code that shares the prefix */
        }
        for (int i = 0; i < kept; i++) zmq_msg_close(&parts[i]);
    }
    printf("done received=%ld gaps=%ld missed=%llu\n", received, gap_events, (unsigned long long)missed_total);
    fflush(stdout);
    kb_gaps_free(&gaps);
    zmq_close(sub);
    zmq_close(dealer);
    zmq_ctx_term(ctx);
    return received > 0 ? 0 : 1;
}
