/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A test server for the gRPC interop tests (tests/js/grpc-health.test.mjs): infergate's gRPC
 * server on 127.0.0.1 serving grpc.health.v1.Health (Check, List) with the table
 *   "" SERVING, "readiness" SERVING, "warming" NOT_SERVING
 * and /test.Echo/Bidi, which echoes every message and ends OK with grpc-message "done" when the
 * client half-closes. Usage: grpc_health_server [--port N] [--tls CERT KEY] [--lifetime SECONDS].
 * It prints "listening <port>" once ready and exits on SIGTERM/SIGINT or after its lifetime
 * (default 60 s), so a crashed test never leaves it behind.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ig/grpc.h"
#include "ig/http.h"
#include "ig/loop.h"

struct app {
    uv_loop_t loop;
    ig_http_server_t srv;
    ig_listener_t *listener;
    uv_signal_t sigterm, sigint;
    uv_timer_t lifetime;
    int stopping;
};

static struct app A;

static void echo_message(ig_grpc_sctx_t *ctx, ig_iov_t msg)
{
    ig_grpc_sctx_send(ctx, msg.base, msg.len);
}

static void echo_half_close(ig_grpc_sctx_t *ctx)
{
    ig_grpc_sctx_finish(ctx, IG_GRPC_OK, "done");
}

static const struct ig_grpc_method echo_bidi = {
    .path = "/test.Echo/Bidi", .on_message = echo_message, .on_half_close = echo_half_close};

static void on_accept(ig_listener_t *l, int fd, void *arg)
{
    (void)l;
    (void)arg;
    ig_http_server_accept(&A.srv, &A.loop, fd);
}

static void drained(ig_http_server_t *srv)
{
    (void)srv;
    uv_close((uv_handle_t *)&A.sigterm, NULL);
    uv_close((uv_handle_t *)&A.sigint, NULL);
    uv_close((uv_handle_t *)&A.lifetime, NULL);
}

static void stop(void)
{
    if (A.stopping)
        return;
    A.stopping = 1;
    ig_listener_close(A.listener);
    ig_http_server_drain(&A.srv, drained);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    stop();
}

static void on_lifetime(uv_timer_t *t)
{
    (void)t;
    fprintf(stderr, "grpc_health_server: lifetime over\n");
    stop();
}

int main(int argc, char **argv)
{
    const char *port = "0", *cert = NULL, *key = NULL;
    long lifetime = 60;
    char err[256], text[80];
    struct sockaddr_storage addr;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = argv[++i];
        } else if (strcmp(argv[i], "--tls") == 0 && i + 2 < argc) {
            cert = argv[++i];
            key = argv[++i];
        } else if (strcmp(argv[i], "--lifetime") == 0 && i + 1 < argc) {
            lifetime = strtol(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: %s [--port N] [--tls CERT KEY] [--lifetime SECONDS]\n", argv[0]);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&A.loop);

    struct ig_http_server_config cfg = {0};
    if (cert != NULL) {
        cfg.ssl_ctx = ig_tls_server_ctx(cert, key, "h2", err, sizeof(err));
        if (cfg.ssl_ctx == NULL) {
            fprintf(stderr, "tls: %s\n", err);
            return 1;
        }
    }
    ig_http_server_init(&A.srv, &cfg);
    ig_grpc_server_t *g = ig_grpc_server_create(NULL);
    ig_grpc_health_t *h = ig_grpc_health_create();
    ig_grpc_health_set(h, "readiness", IG_GRPC_HEALTH_SERVING);
    ig_grpc_health_set(h, "warming", IG_GRPC_HEALTH_NOT_SERVING);
    if (ig_grpc_health_register(h, g) != 0 || ig_grpc_server_add(g, &echo_bidi) != 0)
        return 1;
    ig_grpc_server_attach(g, &A.srv);

    snprintf(text, sizeof(text), "127.0.0.1:%s", port);
    if (ig_addr_parse(text, &addr) != 0 ||
        ig_listener_open(&A.loop, (struct sockaddr *)&addr, on_accept, NULL, &A.listener) != 0) {
        fprintf(stderr, "cannot listen on %s\n", text);
        return 1;
    }
    ig_listener_addr(A.listener, &addr);
    uv_signal_init(&A.loop, &A.sigterm);
    uv_signal_start(&A.sigterm, on_signal, SIGTERM);
    uv_signal_init(&A.loop, &A.sigint);
    uv_signal_start(&A.sigint, on_signal, SIGINT);
    uv_timer_init(&A.loop, &A.lifetime);
    uv_timer_start(&A.lifetime, on_lifetime, (uint64_t)lifetime * 1000u, 0);
    printf("listening %d\n", ntohs(((struct sockaddr_in *)&addr)->sin_port));
    fflush(stdout);

    uv_run(&A.loop, UV_RUN_DEFAULT);
    uv_loop_close(&A.loop);
    ig_grpc_health_destroy(h);
    ig_grpc_server_destroy(g);
    SSL_CTX_free(cfg.ssl_ctx);
    return 0;
}
