/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the gRPC transport (src/grpc/client.c, server.c, health.c): our channel against our
 * server over h2c on 127.0.0.1, in one loop. Covered: unary echo, 50 concurrent calls on one
 * channel, a bidi stream of 100 messages each way in lock step (each reply arrives before the
 * next request is sent) and 100 sent at once, deadline exceeded (client timer, and the server's
 * own grpc-timeout enforcement), cancel seen by the
 * server, a message over the server's limit (RESOURCE_EXHAUSTED), an unknown method
 * (UNIMPLEMENTED, trailers-only), health Check and List, a connection refused (UNAVAILABLE), PING
 * keepalive (answered: the call lives on; unanswered: UNAVAILABLE), and a plain-HTTP request
 * answered 415.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "grpc/health/v1/health.pb-c.h"
#include "ig/grpc.h"
#include "ig/http.h"
#include "ig/loop.h"
#include "ig_test_loop.h"

#define SERVER_MAX_MESSAGE 4096
#define NBIDI              100

struct env {
    struct ig_test_http fx; /* loop, HTTP/2 server, listener */
    ig_grpc_server_t *grpc;
    ig_grpc_health_t *health;
    ig_grpc_channel_t *ch;
    /* server observations */
    int slow_started;
    ig_grpc_sctx_t *slow;
    int slow_closed;
    int slow_status;
    uint64_t slow_deadline_ns;
    int bidi_server_got;
};

static struct env E;

/* ---- server methods ------------------------------------------------------------------------ */

static void echo_bidi(ig_grpc_sctx_t *ctx, ig_iov_t msg)
{
    E.bidi_server_got++;
    int rc = ig_grpc_sctx_send(ctx, msg.base, msg.len);
    assert_true(rc == 0 || rc == IG_EAGAIN);
}

static void bidi_half_close(ig_grpc_sctx_t *ctx)
{
    ig_grpc_sctx_finish(ctx, IG_GRPC_OK, "done");
}

static void slow_start(ig_grpc_sctx_t *ctx)
{
    E.slow_started = 1;
    E.slow = ctx;
    E.slow_deadline_ns = ctx->deadline_ns;
}

static void slow_message(ig_grpc_sctx_t *ctx, ig_iov_t msg)
{
    (void)ctx;
    (void)msg; /* never answers: the client's deadline or cancel ends it */
}

static void slow_close(ig_grpc_sctx_t *ctx, int status)
{
    (void)ctx;
    E.slow = NULL;
    E.slow_closed = 1;
    E.slow_status = status;
}

static const struct ig_grpc_method m_bidi = {
    .path = "/test.Echo/Bidi", .on_message = echo_bidi, .on_half_close = bidi_half_close};
static const struct ig_grpc_method m_slow = {
    .path = "/test.Echo/Slow", .on_start = slow_start, .on_message = slow_message, .on_close = slow_close};

/* ---- client side --------------------------------------------------------------------------- */

struct result {
    int done;
    int status;
    char message[128];
    int nmsg;
    ig_buf_t got; /* concatenated messages */
    /* bidi lock step */
    int lockstep;
    int sent;
    ig_grpc_call_t *call;
};

static void r_on_message(ig_grpc_call_t *call, ig_iov_t msg)
{
    struct result *r = ig_grpc_call_data(call);
    r->nmsg++;
    assert_int_equal(ig_buf_append(&r->got, msg.base, msg.len), 0);
    if (r->lockstep) {
        /* The reply to request n arrived before request n+1 was sent. */
        assert_int_equal(r->nmsg, r->sent);
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "m%03d;", r->sent);
        if (r->sent < NBIDI) {
            assert_int_equal(ig_grpc_call_send(call, buf, (size_t)n, 0), 0);
            r->sent++;
        } else {
            assert_int_equal(ig_grpc_call_close_send(call), 0);
        }
    }
}

static void r_on_status(ig_grpc_call_t *call, int status, ig_iov_t message)
{
    struct result *r = ig_grpc_call_data(call);
    r->done = 1;
    r->status = status;
    snprintf(r->message, sizeof(r->message), "%.*s", (int)message.len, message.base);
}

static const struct ig_grpc_call_handler r_handler = {.on_message = r_on_message, .on_status = r_on_status};

static void result_init(struct result *r)
{
    memset(r, 0, sizeof(*r));
    ig_buf_init(&r->got, 1u << 20);
}

static void result_dispose(struct result *r)
{
    ig_buf_dispose(&r->got);
}

/* ---- fixture ------------------------------------------------------------------------------- */

/* Runs the fixture's loop until *flag is set or |ms| pass. */
static int run_until(const int *flag, uint64_t ms)
{
    return ig_test_run_until(&E.fx.loop, flag, ms);
}

static int setup(void **state)
{
    (void)state;
    memset(&E, 0, sizeof(E));
    ig_test_http_start(&E.fx, NULL);
    struct ig_grpc_server_config gc = {.max_message = SERVER_MAX_MESSAGE};
    E.grpc = ig_grpc_server_create(&gc);
    assert_int_equal(ig_grpc_server_add(E.grpc, &ig_test_grpc_echo_unary), 0);
    assert_int_equal(ig_grpc_server_add(E.grpc, &m_bidi), 0);
    assert_int_equal(ig_grpc_server_add(E.grpc, &m_slow), 0);
    assert_int_equal(ig_grpc_server_add(E.grpc, &m_slow), IG_EEXIST);
    E.health = ig_grpc_health_create();
    ig_grpc_health_set(E.health, "readiness", IG_GRPC_HEALTH_SERVING);
    ig_grpc_health_set(E.health, "warming", IG_GRPC_HEALTH_NOT_SERVING);
    assert_int_equal(ig_grpc_health_register(E.health, E.grpc), 0);
    E.ch = ig_test_grpc_attach(&E.fx, E.grpc);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ig_grpc_channel_destroy(E.ch);
    ig_test_http_stop(&E.fx);
    ig_grpc_health_destroy(E.health);
    ig_grpc_server_destroy(E.grpc);
    return 0;
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_unary_echo(void **state)
{
    struct result r;
    (void)state;
    result_init(&r);
    ig_grpc_call_t *c = ig_grpc_call_start(E.ch, "/test.Echo/Unary", NULL, &r_handler, &r);
    assert_int_equal(ig_grpc_call_send(c, "hello", 5, 1), 0);
    assert_true(run_until(&r.done, 3000));
    assert_int_equal(r.status, IG_GRPC_OK);
    assert_int_equal(r.nmsg, 1);
    assert_int_equal(r.got.len, 5);
    assert_memory_equal(ig_buf_data(&r.got), "hello", 5);
    result_dispose(&r);
}

struct results {
    struct result *r;
    int n;
};

static int all_done(void *arg)
{
    const struct results *rs = arg;
    for (int i = 0; i < rs->n; i++)
        if (!rs->r[i].done)
            return 0;
    return 1;
}

static void test_concurrent_unary(void **state)
{
    enum { N = 50 };
    static struct result r[N];
    struct results rs = {r, N};
    (void)state;
    for (int i = 0; i < N; i++) {
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "call-%d", i);
        result_init(&r[i]);
        ig_grpc_call_t *c = ig_grpc_call_start(E.ch, "/test.Echo/Unary", NULL, &r_handler, &r[i]);
        assert_int_equal(ig_grpc_call_send(c, buf, (size_t)n, 1), 0);
    }
    assert_true(ig_test_run_until_true(&E.fx.loop, all_done, &rs, 5000));
    for (int i = 0; i < N; i++) {
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "call-%d", i);
        assert_int_equal(r[i].status, IG_GRPC_OK);
        assert_int_equal(r[i].got.len, (size_t)n);
        assert_memory_equal(ig_buf_data(&r[i].got), buf, (size_t)n);
        result_dispose(&r[i]);
    }
}

static void check_bidi_payload(const struct result *r)
{
    assert_int_equal(r->nmsg, NBIDI);
    assert_int_equal(r->got.len, (size_t)NBIDI * 5);
    for (int i = 0; i < NBIDI; i++) {
        char buf[8];
        snprintf(buf, sizeof(buf), "m%03d;", i);
        assert_memory_equal(ig_buf_data(&r->got) + i * 5, buf, 5);
    }
}

static void test_bidi_lockstep(void **state)
{
    struct result r;
    (void)state;
    result_init(&r);
    r.lockstep = 1;
    ig_grpc_call_t *c = ig_grpc_call_start(E.ch, "/test.Echo/Bidi", NULL, &r_handler, &r);
    assert_int_equal(ig_grpc_call_send(c, "m000;", 5, 0), 0);
    r.sent = 1;
    assert_true(run_until(&r.done, 5000));
    assert_int_equal(r.status, IG_GRPC_OK);
    assert_string_equal(r.message, "done");
    assert_int_equal(E.bidi_server_got, NBIDI);
    check_bidi_payload(&r);
    result_dispose(&r);
}

static void test_bidi_burst(void **state)
{
    struct result r;
    (void)state;
    result_init(&r);
    ig_grpc_call_t *c = ig_grpc_call_start(E.ch, "/test.Echo/Bidi", NULL, &r_handler, &r);
    for (int i = 0; i < NBIDI; i++) {
        char buf[8];
        snprintf(buf, sizeof(buf), "m%03d;", i);
        assert_int_equal(ig_grpc_call_send(c, buf, 5, i == NBIDI - 1), 0);
    }
    assert_true(run_until(&r.done, 5000));
    assert_int_equal(r.status, IG_GRPC_OK);
    check_bidi_payload(&r);
    result_dispose(&r);
}

static void test_deadline_exceeded(void **state)
{
    struct result r;
    (void)state;
    result_init(&r);
    struct ig_grpc_call_opts o = {.timeout_ms = 200};
    uint64_t t0 = ig_time_ns();
    ig_grpc_call_t *c = ig_grpc_call_start(E.ch, "/test.Echo/Slow", &o, &r_handler, &r);
    assert_int_equal(ig_grpc_call_send(c, "x", 1, 0), 0);
    assert_true(run_until(&r.done, 3000));
    uint64_t ms = (ig_time_ns() - t0) / 1000000u;
    assert_int_equal(r.status, IG_GRPC_DEADLINE_EXCEEDED);
    assert_true(ms >= 190 && ms < 2000);
    assert_true(E.slow_started);
    assert_true(E.slow_deadline_ns != 0); /* grpc-timeout reached the server */
    assert_true(run_until(&E.slow_closed, 2000));
    assert_true(E.slow_status == IG_GRPC_DEADLINE_EXCEEDED || E.slow_status == IG_GRPC_CANCELLED);
    result_dispose(&r);
}

/* The server enforces grpc-timeout by itself: the client sets the header but keeps no timer. */
static void test_server_deadline(void **state)
{
    struct result r;
    static const ig_http_header_t md[] = {{IG_STRLIT("grpc-timeout"), IG_STRLIT("150m")}};
    struct ig_grpc_call_opts o = {.metadata = md, .nmetadata = 1};
    (void)state;
    result_init(&r);
    uint64_t t0 = ig_time_ns();
    ig_grpc_call_t *c = ig_grpc_call_start(E.ch, "/test.Echo/Slow", &o, &r_handler, &r);
    assert_int_equal(ig_grpc_call_send(c, "x", 1, 0), 0);
    assert_true(run_until(&r.done, 3000));
    uint64_t ms = (ig_time_ns() - t0) / 1000000u;
    assert_int_equal(r.status, IG_GRPC_DEADLINE_EXCEEDED);
    assert_string_equal(r.message, "deadline exceeded");
    assert_true(ms >= 140 && ms < 2000);
    assert_true(run_until(&E.slow_closed, 2000));
    assert_int_equal(E.slow_status, IG_GRPC_DEADLINE_EXCEEDED);
    result_dispose(&r);
}

static void test_cancel(void **state)
{
    struct result r;
    (void)state;
    result_init(&r);
    ig_grpc_call_t *c = ig_grpc_call_start(E.ch, "/test.Echo/Slow", NULL, &r_handler, &r);
    assert_int_equal(ig_grpc_call_send(c, "x", 1, 0), 0);
    assert_true(run_until(&E.slow_started, 3000));
    assert_int_equal(E.slow_deadline_ns, 0);
    ig_grpc_call_cancel(c);
    assert_false(r.done); /* never reported inside the cancel */
    assert_true(run_until(&r.done, 3000));
    assert_int_equal(r.status, IG_GRPC_CANCELLED);
    assert_true(run_until(&E.slow_closed, 3000));
    assert_int_equal(E.slow_status, IG_GRPC_CANCELLED);
    result_dispose(&r);
}

static void test_message_too_big(void **state)
{
    struct result r;
    static char big[SERVER_MAX_MESSAGE + 1];
    (void)state;
    result_init(&r);
    memset(big, 'b', sizeof(big));
    ig_grpc_call_t *c = ig_grpc_call_start(E.ch, "/test.Echo/Bidi", NULL, &r_handler, &r);
    assert_int_equal(ig_grpc_call_send(c, "ok", 2, 0), 0);
    assert_int_equal(ig_grpc_call_send(c, big, sizeof(big), 0), 0);
    assert_true(run_until(&r.done, 3000));
    assert_int_equal(r.status, IG_GRPC_RESOURCE_EXHAUSTED);
    assert_int_equal(r.nmsg, 1); /* the message before it was echoed */
    /* At the limit exactly is fine. */
    struct result r2;
    result_init(&r2);
    c = ig_grpc_call_start(E.ch, "/test.Echo/Unary", NULL, &r_handler, &r2);
    assert_int_equal(ig_grpc_call_send(c, big, SERVER_MAX_MESSAGE, 1), 0);
    assert_true(run_until(&r2.done, 3000));
    assert_int_equal(r2.status, IG_GRPC_OK);
    assert_int_equal(r2.got.len, SERVER_MAX_MESSAGE);
    result_dispose(&r);
    result_dispose(&r2);
}

static void test_unknown_method(void **state)
{
    struct result r;
    (void)state;
    result_init(&r);
    ig_grpc_call_t *c = ig_grpc_call_start(E.ch, "/test.Echo/Nope", NULL, &r_handler, &r);
    assert_int_equal(ig_grpc_call_send(c, "x", 1, 1), 0);
    assert_true(run_until(&r.done, 3000));
    assert_int_equal(r.status, IG_GRPC_UNIMPLEMENTED);
    assert_non_null(strstr(r.message, "/test.Echo/Nope"));
    assert_int_equal(r.nmsg, 0);
    result_dispose(&r);
}

static int health_check(const char *service, int *serving)
{
    struct result r;
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    result_init(&r);
    ig_grpc_call_t *c = ig_grpc_call_start(E.ch, "/grpc.health.v1.Health/Check", NULL, &r_handler, &r);
    assert_int_equal(ig_grpc_call_send_pb(c, &req.base, 1), 0);
    assert_true(run_until(&r.done, 3000));
    *serving = -1;
    if (r.status == IG_GRPC_OK) {
        assert_int_equal(r.nmsg, 1);
        Grpc__Health__V1__HealthCheckResponse *resp =
            grpc__health__v1__health_check_response__unpack(NULL, r.got.len, (const uint8_t *)ig_buf_data(&r.got));
        assert_non_null(resp);
        *serving = resp->status;
        grpc__health__v1__health_check_response__free_unpacked(resp, NULL);
    }
    int status = r.status;
    result_dispose(&r);
    return status;
}

static void test_health(void **state)
{
    int serving;
    (void)state;
    assert_int_equal(health_check("", &serving), IG_GRPC_OK);
    assert_int_equal(serving, IG_GRPC_HEALTH_SERVING);
    assert_int_equal(health_check("readiness", &serving), IG_GRPC_OK);
    assert_int_equal(serving, IG_GRPC_HEALTH_SERVING);
    assert_int_equal(health_check("warming", &serving), IG_GRPC_OK);
    assert_int_equal(serving, IG_GRPC_HEALTH_NOT_SERVING);
    assert_int_equal(health_check("nope", &serving), IG_GRPC_NOT_FOUND);
    ig_grpc_health_set(E.health, "warming", IG_GRPC_HEALTH_SERVICE_UNKNOWN);
    assert_int_equal(health_check("warming", &serving), IG_GRPC_NOT_FOUND);

    /* List reports the table. */
    struct result r;
    Grpc__Health__V1__HealthListRequest lreq = GRPC__HEALTH__V1__HEALTH_LIST_REQUEST__INIT;
    result_init(&r);
    ig_grpc_call_t *c = ig_grpc_call_start(E.ch, "/grpc.health.v1.Health/List", NULL, &r_handler, &r);
    assert_int_equal(ig_grpc_call_send_pb(c, &lreq.base, 1), 0);
    assert_true(run_until(&r.done, 3000));
    assert_int_equal(r.status, IG_GRPC_OK);
    Grpc__Health__V1__HealthListResponse *l =
        grpc__health__v1__health_list_response__unpack(NULL, r.got.len, (const uint8_t *)ig_buf_data(&r.got));
    assert_non_null(l);
    assert_int_equal(l->n_statuses, 2);
    grpc__health__v1__health_list_response__free_unpacked(l, NULL);
    result_dispose(&r);

    /* Watch is not served. */
    result_init(&r);
    c = ig_grpc_call_start(E.ch, "/grpc.health.v1.Health/Watch", NULL, &r_handler, &r);
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    assert_int_equal(ig_grpc_call_send_pb(c, &req.base, 1), 0);
    assert_true(run_until(&r.done, 3000));
    assert_int_equal(r.status, IG_GRPC_UNIMPLEMENTED);
    result_dispose(&r);
}

static void test_unavailable(void **state)
{
    struct result r;
    ig_listener_t *l;
    struct sockaddr_storage addr;
    char err[128];
    (void)state;
    /* A port that was just bound and closed again: nothing listens there. */
    ig_test_listen(&E.fx.loop, NULL, NULL, &l, &addr);
    ig_listener_close(l);
    uv_run(&E.fx.loop, UV_RUN_NOWAIT);
    struct ig_grpc_channel_config cc = {0};
    cc.addr = addr;
    cc.connect_timeout_ms = 2000;
    ig_grpc_channel_t *ch = ig_grpc_channel_create(&E.fx.loop, &cc, err, sizeof(err));
    result_init(&r);
    ig_grpc_call_t *c = ig_grpc_call_start(ch, "/test.Echo/Unary", NULL, &r_handler, &r);
    ig_grpc_call_send(c, "x", 1, 1);
    assert_true(run_until(&r.done, 3000));
    assert_int_equal(r.status, IG_GRPC_UNAVAILABLE);
    ig_grpc_channel_destroy(ch);
    result_dispose(&r);
}

/* Keepalive: a server that answers PINGs keeps a quiet call alive until its deadline... */
static void test_keepalive_answered(void **state)
{
    struct result r;
    char err[128];
    (void)state;
    struct ig_grpc_channel_config cc = {0};
    cc.addr = E.fx.addr;
    cc.keepalive_ms = 50;
    ig_grpc_channel_t *ch = ig_grpc_channel_create(&E.fx.loop, &cc, err, sizeof(err));
    result_init(&r);
    struct ig_grpc_call_opts o = {.timeout_ms = 400};
    ig_grpc_call_t *c = ig_grpc_call_start(ch, "/test.Echo/Slow", &o, &r_handler, &r);
    assert_int_equal(ig_grpc_call_send(c, "x", 1, 0), 0);
    assert_true(run_until(&r.done, 3000));
    assert_int_equal(r.status, IG_GRPC_DEADLINE_EXCEEDED);
    ig_grpc_channel_destroy(ch);
    result_dispose(&r);
}

/* ...and one that accepts the connection but never says a word is dropped after two periods. */
static int mute_fd = -1;

static void mute_accept(ig_listener_t *l, int fd, void *arg)
{
    (void)l;
    (void)arg;
    if (mute_fd >= 0)
        close(mute_fd);
    mute_fd = fd; /* kept open, never read or written */
}

static void test_keepalive_unanswered(void **state)
{
    struct result r;
    ig_listener_t *l;
    struct sockaddr_storage addr;
    char err[128];
    (void)state;
    ig_test_listen(&E.fx.loop, mute_accept, NULL, &l, &addr);
    struct ig_grpc_channel_config cc = {0};
    cc.addr = addr;
    cc.keepalive_ms = 100;
    ig_grpc_channel_t *ch = ig_grpc_channel_create(&E.fx.loop, &cc, err, sizeof(err));
    result_init(&r);
    uint64_t t0 = ig_time_ns();
    ig_grpc_call_t *c = ig_grpc_call_start(ch, "/test.Echo/Unary", NULL, &r_handler, &r);
    assert_int_equal(ig_grpc_call_send(c, "x", 1, 1), 0);
    assert_true(run_until(&r.done, 3000));
    uint64_t ms = (ig_time_ns() - t0) / 1000000u;
    assert_int_equal(r.status, IG_GRPC_UNAVAILABLE);
    assert_true(ms >= 190 && ms < 2000);
    ig_grpc_channel_destroy(ch);
    ig_listener_close(l);
    if (mute_fd >= 0)
        close(mute_fd);
    mute_fd = -1;
    result_dispose(&r);
}

/* A plain HTTP/2 request (no application/grpc) is answered with HTTP 415. */
struct plain {
    int status;
    int done;
};

static void p_on_response(ig_http_cstream_t *cs, const ig_http_response_t *resp)
{
    ((struct plain *)cs->data)->status = resp->status;
}

static void p_on_close(ig_http_cstream_t *cs, int err)
{
    (void)err;
    ((struct plain *)cs->data)->done = 1;
}

static void test_plain_http_415(void **state)
{
    static const struct ig_http_cstream_handler ph = {.on_response = p_on_response, .on_close = p_on_close};
    struct plain p = {0};
    (void)state;
    struct ig_http_client_config hc = {0};
    hc.addr = E.fx.addr;
    hc.version = IG_HTTP_2;
    ig_http_client_t *c = ig_http_client_create(&E.fx.loop, &hc);
    ig_http_header_t hd[] = {{IG_STRLIT("content-type"), IG_STRLIT("application/json")}};
    ig_http_request_t req = {0};
    req.method = IG_STRLIT("POST");
    req.path = IG_STRLIT("/test.Echo/Unary");
    req.headers = (ig_http_headers_t){hd, 1, 1};
    req.content_length = 0;
    ig_http_client_request(c, &req, 1, &ph, &p);
    assert_true(run_until(&p.done, 3000));
    assert_int_equal(p.status, 415);
    ig_http_client_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unary_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_unary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bidi_lockstep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bidi_burst, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_exceeded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_method, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unavailable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_unanswered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_http_415, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
