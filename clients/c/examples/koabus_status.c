/* One request/reply: sends `status` on a DEALER and prints the broker's epoch.
 *   koabus_status ROUTER          -> prints "epoch=<n> seq=<n>" */
#include <zmq.h>

#include "koabus.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s ROUTER\n", argv[0]);
        return 2;
    }
    void *ctx = zmq_ctx_new();
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(dealer, argv[1]) != 0) {
        fprintf(stderr, "connect: %s\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    kb_msg reply;
    char err[512];
    int rc = kb_request(dealer, 7, "status", NULL, NULL, 10000, &reply, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "status failed: %s\n", err);
    } else {
        int64_t epoch, seq;
        const msgpack_object *result = kb_map_get(&reply.body, "result");
        if (kb_map_int(result, "epoch", &epoch) != 0 || kb_map_int(result, "seq", &seq) != 0) {
            fprintf(stderr, "status reply without an integer epoch and seq\n");
            rc = 1;
        } else {
            printf("epoch=%lld seq=%lld\n", (long long)epoch, (long long)seq);
        }
        kb_msg_free(&reply);
    }
    zmq_close(dealer);
    zmq_ctx_term(ctx);
    return rc == 0 ? 0 : 1;
}
