/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared scaffolding for unit tests that run a libuv loop (see ig_test_loop.h). The helpers
 * assert with cmocka, so a broken setup or a server that does not drain fails the calling test
 * at the line that called them.
 */
#include "ig_test_loop.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

/* How long ig_test_http_stop waits for the server's connections to finish. */
#define DRAIN_WAIT_MS 3000

/* ---- running a loop ------------------------------------------------------------------------- */

static void tick_cb(uv_timer_t *t)
{
    (void)t;
}

int ig_test_run_until_true(uv_loop_t *loop, int (*done)(void *arg), void *arg, uint64_t ms)
{
    uv_timer_t tick;
    int ok;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, tick_cb, 10, 10);
    uint64_t deadline = ig_time_ns() + ms * 1000000u;
    while (!(ok = done(arg)) && ig_time_ns() < deadline)
        uv_run(loop, UV_RUN_ONCE);
    /* The tick lives on this stack frame: its close callback must run before we return. */
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok != 0 ? ok : done(arg);
}

static int flag_set(void *arg)
{
    return *(const int *)arg;
}

int ig_test_run_until(uv_loop_t *loop, const int *flag, uint64_t ms)
{
    return ig_test_run_until_true(loop, flag_set, (void *)(uintptr_t)flag, ms);
}

void ig_test_run_for(uv_loop_t *loop, uint64_t ms)
{
    int never = 0;
    (void)ig_test_run_until(loop, &never, ms);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void ig_test_loop_close(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
    uv_walk(loop, close_walk, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

/* ---- a guarded loop ------------------------------------------------------------------------- */

static uv_timer_t guard;
static uint64_t guard_ms;
static uv_loop_t *guarded;

static void on_guard(uv_timer_t *t)
{
    (void)t;
    fail_msg("test did not finish within %llu ms", (unsigned long long)guard_ms);
}

void ig_test_loop_begin(uv_loop_t *loop, uint64_t ms)
{
    /* No check that the previous guarded loop ended: a failed test leaves it behind by design. */
    assert_int_equal(uv_loop_init(loop), 0);
    guarded = loop;
    guard_ms = ms;
    uv_timer_init(loop, &guard);
    uv_timer_start(&guard, on_guard, ms, 0);
    /* Unreferenced: the loop still ends when the test's own handles are gone. */
    uv_unref((uv_handle_t *)&guard);
}

void ig_test_loop_end(uv_loop_t *loop)
{
    assert_ptr_equal(loop, guarded);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    guarded = NULL;
    assert_int_equal(uv_loop_close(loop), 0);
}

/* ---- sockets -------------------------------------------------------------------------------- */

void ig_test_listen(uv_loop_t *loop, ig_accept_cb cb, void *arg, ig_listener_t **l, struct sockaddr_storage *addr)
{
    struct sockaddr_storage any;
    assert_int_equal(ig_addr_parse("127.0.0.1:0", &any), 0);
    assert_int_equal(ig_listener_open(loop, (struct sockaddr *)&any, cb, arg, l), 0);
    assert_int_equal(ig_listener_addr(*l, addr), 0);
    assert_int_not_equal(((struct sockaddr_in *)addr)->sin_port, 0);
}

/* ---- an HTTP server on its own loop --------------------------------------------------------- */

static void http_accept(ig_listener_t *l, int fd, void *arg)
{
    struct ig_test_http *t = arg;
    (void)l;
    t->accepts++;
    ig_http_server_accept(&t->srv, &t->loop, fd);
}

void ig_test_http_start(struct ig_test_http *t, const struct ig_http_server_config *cfg)
{
    struct ig_http_server_config defaults = {0};
    memset(t, 0, sizeof(*t));
    assert_int_equal(uv_loop_init(&t->loop), 0);
    ig_http_server_init(&t->srv, cfg != NULL ? cfg : &defaults);
    ig_test_listen(&t->loop, http_accept, t, &t->listener, &t->addr);
}

static void http_drained(ig_http_server_t *srv)
{
    /* srv->data belongs to whatever serves on it (a gRPC server): find the fixture by layout. */
    IG_CONTAINER_OF(srv, struct ig_test_http, srv)->drained = 1;
}

void ig_test_http_drain(struct ig_test_http *t)
{
    ig_http_server_drain(&t->srv, http_drained);
}

void ig_test_http_stop(struct ig_test_http *t)
{
    if (!t->drained)
        ig_test_http_drain(t);
    assert_true(ig_test_run_until(&t->loop, &t->drained, DRAIN_WAIT_MS));
    ig_listener_close(t->listener);
    t->listener = NULL;
    ig_test_loop_close(&t->loop);
}

ig_grpc_channel_t *ig_test_grpc_attach(struct ig_test_http *t, ig_grpc_server_t *grpc)
{
    char err[256];
    struct ig_grpc_channel_config cc = {0};
    ig_grpc_server_attach(grpc, &t->srv);
    cc.addr = t->addr;
    ig_grpc_channel_t *ch = ig_grpc_channel_create(&t->loop, &cc, err, sizeof(err));
    if (ch == NULL)
        fail_msg("grpc channel: %s", err);
    return ch;
}

static void echo_unary(ig_grpc_sctx_t *ctx, ig_iov_t msg)
{
    assert_int_equal(ig_grpc_sctx_send(ctx, msg.base, msg.len), 0);
    assert_int_equal(ig_grpc_sctx_finish(ctx, IG_GRPC_OK, NULL), 0);
}

const struct ig_grpc_method ig_test_grpc_echo_unary = {
    .path = "/test.Echo/Unary", .unary = 1, .on_message = echo_unary};

/* ---- an HTTP server on a thread ------------------------------------------------------------- */

static void thread_stop_cb(uv_async_t *a)
{
    uv_stop(a->loop);
}

static void *thread_main(void *arg)
{
    struct ig_test_http_thread *sv = arg;
    uv_run(&sv->t.loop, UV_RUN_DEFAULT);
    return NULL;
}

void ig_test_http_thread_start(struct ig_test_http_thread *sv, const struct ig_http_server_config *cfg,
                               void (*on_request)(ig_http_stream_t *s))
{
    memset(sv, 0, sizeof(*sv));
    ig_test_http_start(&sv->t, cfg);
    sv->t.srv.on_request = on_request;
    sv->port = ntohs(((struct sockaddr_in *)&sv->t.addr)->sin_port);
    assert_int_equal(uv_async_init(&sv->t.loop, &sv->stop, thread_stop_cb), 0);
    assert_int_equal(pthread_create(&sv->thread, NULL, thread_main, sv), 0);
}

void ig_test_http_thread_stop(struct ig_test_http_thread *sv)
{
    uv_async_send(&sv->stop);
    pthread_join(sv->thread, NULL);
    /* The loop is ours again: the async handle closes with the fixture's other handles. */
    uv_close((uv_handle_t *)&sv->stop, NULL);
    ig_test_http_stop(&sv->t);
}
