/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A test client for the gRPC interop tests (tests/js/grpc-health.test.mjs): one call with
 * infergate's gRPC channel, its outcome printed on one line for the test to check.
 *
 *   grpc_test_client --addr 127.0.0.1:PORT [--tls [--ca FILE] [--sni NAME]] COMMAND
 *     check SERVICE   grpc.health.v1.Health/Check -> "status=N serving=S message=..."
 *     bidi N          /test.Echo/Bidi: N messages sent at once, echoes checked
 *                     -> "status=N count=C intact=0|1 message=..."
 *     slow MS         /test.Echo/Slow with a deadline of MS -> "status=N elapsed_ms=T message=..."
 *
 * Exits 0 once the call ended (whatever its status), 1 on a usage error or when the call did not
 * end within 20 s.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "ig/grpc.h"
#include "ig/loop.h"

#define RUN_MAX_MS 20000

struct outcome {
    int done;
    int status;
    char message[256];
    ig_buf_t got;
    int nmsg;
};

static uv_loop_t loop;

static void on_message(ig_grpc_call_t *call, ig_iov_t msg)
{
    struct outcome *o = ig_grpc_call_data(call);
    o->nmsg++;
    ig_buf_append(&o->got, msg.base, msg.len);
}

static void on_status(ig_grpc_call_t *call, int status, ig_iov_t message)
{
    struct outcome *o = ig_grpc_call_data(call);
    o->done = 1;
    o->status = status;
    snprintf(o->message, sizeof(o->message), "%.*s", (int)message.len, message.base);
}

static const struct ig_grpc_call_handler handler = {.on_message = on_message, .on_status = on_status};

static void tick(uv_timer_t *t)
{
    (void)t;
}

static int run_until(const int *flag)
{
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 20, 20);
    uint64_t deadline = ig_time_ns() + (uint64_t)RUN_MAX_MS * 1000000u;
    while (!*flag && ig_time_ns() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT); /* the close completes before |t| leaves the stack */
    return *flag;
}

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: %s --addr HOST:PORT [--tls [--ca FILE] [--sni NAME]] check SERVICE | bidi N | slow MS\n",
            argv0);
    return 1;
}

int main(int argc, char **argv)
{
    struct ig_grpc_channel_config cfg = {0};
    const char *addr = NULL;
    int i = 1, rc = 1;
    char err[256];
    struct outcome o;

    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--addr") == 0 && i + 1 < argc) {
            addr = argv[++i];
        } else if (strcmp(argv[i], "--tls") == 0) {
            cfg.tls = 1;
        } else if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc) {
            cfg.ca_file = argv[++i];
            cfg.tls_verify = 1;
        } else if (strcmp(argv[i], "--sni") == 0 && i + 1 < argc) {
            cfg.sni = argv[++i];
        } else {
            return usage(argv[0]);
        }
    }
    if (addr == NULL || i + 2 != argc || ig_addr_parse(addr, &cfg.addr) != 0)
        return usage(argv[0]);
    const char *cmd = argv[i], *arg = argv[i + 1];

    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    ig_grpc_channel_t *ch = ig_grpc_channel_create(&loop, &cfg, err, sizeof(err));
    if (ch == NULL) {
        fprintf(stderr, "channel: %s\n", err);
        return 1;
    }
    memset(&o, 0, sizeof(o));
    ig_buf_init(&o.got, 16u << 20);
    uint64_t t0 = ig_time_ns();

    if (strcmp(cmd, "check") == 0) {
        Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
        req.service = (char *)arg;
        ig_grpc_call_t *c = ig_grpc_call_start(ch, "/grpc.health.v1.Health/Check", NULL, &handler, &o);
        ig_grpc_call_send_pb(c, &req.base, 1);
        if (run_until(&o.done)) {
            int serving = -1;
            if (o.status == IG_GRPC_OK && o.nmsg == 1) {
                Grpc__Health__V1__HealthCheckResponse *r = grpc__health__v1__health_check_response__unpack(
                    NULL, o.got.len, (const uint8_t *)ig_buf_data(&o.got));
                if (r != NULL) {
                    serving = r->status;
                    grpc__health__v1__health_check_response__free_unpacked(r, NULL);
                }
            }
            printf("status=%d serving=%d message=%s\n", o.status, serving, o.message);
            rc = 0;
        }
    } else if (strcmp(cmd, "bidi") == 0) {
        long n = strtol(arg, NULL, 10);
        ig_grpc_call_t *c = ig_grpc_call_start(ch, "/test.Echo/Bidi", NULL, &handler, &o);
        for (long k = 0; k < n; k++) {
            char buf[32];
            int len = snprintf(buf, sizeof(buf), "m%05ld;", k);
            ig_grpc_call_send(c, buf, (size_t)len, k == n - 1);
        }
        if (n <= 0)
            ig_grpc_call_close_send(c);
        if (run_until(&o.done)) {
            int intact = o.nmsg == n && o.got.len == (size_t)n * 7;
            for (long k = 0; intact && k < n; k++) {
                char buf[32];
                snprintf(buf, sizeof(buf), "m%05ld;", k);
                intact = memcmp(ig_buf_data(&o.got) + k * 7, buf, 7) == 0;
            }
            printf("status=%d count=%d intact=%d message=%s\n", o.status, o.nmsg, intact, o.message);
            rc = 0;
        }
    } else if (strcmp(cmd, "slow") == 0) {
        struct ig_grpc_call_opts opts = {.timeout_ms = (uint64_t)strtoull(arg, NULL, 10)};
        ig_grpc_call_t *c = ig_grpc_call_start(ch, "/test.Echo/Slow", &opts, &handler, &o);
        ig_grpc_call_send(c, "x", 1, 0);
        if (run_until(&o.done)) {
            printf("status=%d elapsed_ms=%llu message=%s\n", o.status,
                   (unsigned long long)((ig_time_ns() - t0) / 1000000u), o.message);
            rc = 0;
        }
    } else {
        rc = usage(argv[0]);
    }
    if (rc != 0 && !o.done)
        fprintf(stderr, "the call did not end in time\n");
    fflush(stdout);
    ig_grpc_channel_destroy(ch);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    ig_buf_dispose(&o.got);
    return rc;
}
