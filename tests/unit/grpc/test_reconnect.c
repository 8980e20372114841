/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of a gRPC channel's connection management (src/grpc/client.c) against our own server on
 * 127.0.0.1, in one loop: a server that is down puts the channel in TRANSIENT_FAILURE, where calls
 * fail at once without a dial each and retries follow the backoff schedule; the server coming back
 * on the same port makes the channel READY without any call, and calls succeed again. GOAWAY: a
 * draining server lets the call in flight finish while a new call goes to a new connection; a raw
 * server's GOAWAY below the stream id of a call ends that call UNAVAILABLE (the server never saw
 * it) and the next call dials again. TLS: a self-signed server certificate is accepted as the
 * root, refused with another root or under another name (the channel fails with a TLS reason),
 * and accepted without verification. ig_grpc_channel_matches compares address and TLS settings.
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

#include "ig/grpc.h"
#include "ig/http.h"
#include "ig/loop.h"
#include "ig_test_loop.h"

struct env {
    uv_loop_t loop;
    ig_http_server_t srv, srv2; /* srv2 takes the connections made after srv began to drain */
    ig_grpc_server_t *grpc;
    ig_listener_t *listener;
    struct sockaddr_storage addr;
    SSL_CTX *server_ssl;
    int accepts;
    int drained, drained2;
    ig_grpc_sctx_t *slow;
    /* raw GOAWAY server */
    ig_sock_t *raw;
    ig_buf_t raw_in;
    int raw_goaway_sent;
    /* raw keepalive server */
    size_t raw_off; /* frames parsed so far */
    int raw_pings;
    int raw_answered;
};

static struct env E;

/* ---- server ---------------------------------------------------------------------------------- */

static void slow_start(ig_grpc_sctx_t *ctx)
{
    E.slow = ctx;
}

static void slow_message(ig_grpc_sctx_t *ctx, ig_iov_t msg)
{
    (void)ctx;
    (void)msg; /* answered by the test */
}

static void slow_close(ig_grpc_sctx_t *ctx, int status)
{
    (void)ctx;
    (void)status;
    E.slow = NULL;
}

static const struct ig_grpc_method m_slow = {
    .path = "/test.Echo/Slow", .on_start = slow_start, .on_message = slow_message, .on_close = slow_close};

static void on_accept(ig_listener_t *l, int fd, void *arg)
{
    (void)l;
    (void)arg;
    E.accepts++;
    ig_http_server_accept(E.srv._draining ? &E.srv2 : &E.srv, &E.loop, fd);
}

static void listen_on(struct sockaddr_storage *addr, void (*cb)(ig_listener_t *, int, void *))
{
    assert_int_equal(ig_listener_open(&E.loop, (struct sockaddr *)addr, cb, NULL, &E.listener), 0);
    assert_int_equal(ig_listener_addr(E.listener, addr), 0);
}

/* ---- client helpers -------------------------------------------------------------------------- */

struct result {
    int done;
    int status;
    char message[256];
    int nmsg;
};

static void r_on_message(ig_grpc_call_t *call, ig_iov_t msg)
{
    (void)msg;
    ((struct result *)ig_grpc_call_data(call))->nmsg++;
}

static void r_on_status(ig_grpc_call_t *call, int status, ig_iov_t message)
{
    struct result *r = ig_grpc_call_data(call);
    r->done = 1;
    r->status = status;
    snprintf(r->message, sizeof(r->message), "%.*s", (int)message.len, message.base);
}

static const struct ig_grpc_call_handler r_handler = {.on_message = r_on_message, .on_status = r_on_status};

/* Runs the loop until *flag is set or |ms| passed; returns *flag. */
static int run_until(const int *flag, uint64_t ms)
{
    return ig_test_run_until(&E.loop, flag, ms);
}

static void run_for(uint64_t ms)
{
    ig_test_run_for(&E.loop, ms);
}

static int unary(ig_grpc_channel_t *ch, struct result *r, uint64_t wait_ms)
{
    memset(r, 0, sizeof(*r));
    ig_grpc_call_t *c = ig_grpc_call_start(ch, "/test.Echo/Unary", NULL, &r_handler, r);
    ig_grpc_call_send(c, "hi", 2, 1);
    assert_true(run_until(&r->done, wait_ms));
    return r->status;
}

static ig_grpc_channel_t *channel(const struct sockaddr_storage *addr)
{
    char err[128];
    struct ig_grpc_channel_config cc = {0};
    cc.addr = *addr;
    cc.connect_timeout_ms = 2000;
    /* A fast, unjittered schedule: 40, 64, 102, 164, 200, 200 ... ms */
    cc.backoff = (struct ig_grpc_backoff_config){.initial_ms = 40, .max_ms = 200, .multiplier = 1.6, .jitter = -1};
    cc.name = "test picker";
    ig_grpc_channel_t *ch = ig_grpc_channel_create(&E.loop, &cc, err, sizeof(err));
    assert_non_null(ch);
    return ch;
}

static struct ig_grpc_channel_stats stats(const ig_grpc_channel_t *ch)
{
    struct ig_grpc_channel_stats st;
    ig_grpc_channel_get_stats(ch, &st);
    return st;
}

/* ---- setup ----------------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    memset(&E, 0, sizeof(E));
    assert_int_equal(uv_loop_init(&E.loop), 0);
    E.grpc = ig_grpc_server_create(NULL);
    assert_int_equal(ig_grpc_server_add(E.grpc, &ig_test_grpc_echo_unary), 0);
    assert_int_equal(ig_grpc_server_add(E.grpc, &m_slow), 0);
    assert_int_equal(ig_addr_parse("127.0.0.1:0", &E.addr), 0);
    ig_buf_init(&E.raw_in, 1u << 16);
    return 0;
}

static void servers_init(SSL_CTX *ssl)
{
    struct ig_http_server_config cfg = {0};
    cfg.ssl_ctx = ssl;
    ig_http_server_init(&E.srv, &cfg);
    ig_http_server_init(&E.srv2, &cfg);
    ig_grpc_server_attach(E.grpc, &E.srv);
    ig_grpc_server_attach(E.grpc, &E.srv2);
}

static void on_drained(ig_http_server_t *srv)
{
    if (srv == &E.srv)
        E.drained = 1;
    else
        E.drained2 = 1;
}

static int teardown(void **state)
{
    (void)state;
    if (E.srv.on_request != NULL) {
        ig_http_server_drain(&E.srv, on_drained);
        ig_http_server_drain(&E.srv2, on_drained);
        run_until(&E.drained, 3000);
        run_until(&E.drained2, 3000);
    }
    if (E.listener != NULL)
        ig_listener_close(E.listener);
    ig_test_loop_close(&E.loop);
    ig_grpc_server_destroy(E.grpc);
    SSL_CTX_free(E.server_ssl);
    ig_buf_dispose(&E.raw_in);
    return 0;
}

/* ---- outage and recovery --------------------------------------------------------------------- */

static void test_outage_fail_fast_and_recover(void **state)
{
    struct result r;
    (void)state;
    /* A port that was just bound and closed again: nothing listens there yet. */
    listen_on(&E.addr, on_accept);
    ig_listener_close(E.listener);
    E.listener = NULL;
    uv_run(&E.loop, UV_RUN_NOWAIT);
    servers_init(NULL);

    ig_grpc_channel_t *ch = channel(&E.addr);
    assert_int_equal(stats(ch).state, IG_GRPC_CONN_IDLE);
    /* The first call dials and is refused. */
    assert_int_equal(unary(ch, &r, 3000), IG_GRPC_UNAVAILABLE);
    struct ig_grpc_channel_stats st = stats(ch);
    assert_int_equal(st.state, IG_GRPC_CONN_TRANSIENT_FAILURE);
    assert_int_equal(st.connect_attempts, 1);
    assert_int_equal(st.connect_failures, 1);

    /* 50 calls during the outage fail at once, none of them dials. */
    struct result many[50];
    memset(many, 0, sizeof(many));
    for (int i = 0; i < 50; i++) {
        ig_grpc_call_t *c = ig_grpc_call_start(ch, "/test.Echo/Unary", NULL, &r_handler, &many[i]);
        ig_grpc_call_send(c, "x", 1, 1);
    }
    assert_true(run_until(&many[49].done, 100));
    for (int i = 0; i < 50; i++) {
        assert_int_equal(many[i].done, 1);
        assert_int_equal(many[i].status, IG_GRPC_UNAVAILABLE);
        assert_non_null(strstr(many[i].message, "TRANSIENT_FAILURE"));
    }
    st = stats(ch);
    assert_int_equal(st.fail_fast, 50);
    assert_true(st.connect_attempts <= 2); /* the scheduled retry may have run meanwhile */

    /* Retries follow the schedule: in 600 ms, 40 + 64 + 102 + 164 + 200 = 570 ms: 6 attempts in all
     * (a loaded machine makes fewer, never more). */
    run_for(600);
    st = stats(ch);
    assert_true(st.connect_attempts >= 2 && st.connect_attempts <= 7);
    assert_int_equal(st.state, IG_GRPC_CONN_TRANSIENT_FAILURE);
    uint64_t before = st.connect_attempts;

    /* The server comes back on the same port: the channel reconnects by itself. */
    listen_on(&E.addr, on_accept);
    for (int i = 0; i < 600 && stats(ch).state != IG_GRPC_CONN_READY; i++)
        run_for(5);
    st = stats(ch);
    assert_int_equal(st.state, IG_GRPC_CONN_READY);
    assert_true(st.connect_attempts > before);
    assert_int_equal(st.connect_failures, st.connect_attempts - 1);
    assert_int_equal(unary(ch, &r, 3000), IG_GRPC_OK);
    assert_int_equal(r.nmsg, 1);
    /* The retry's probe and the call share one connection. */
    assert_int_equal(E.accepts, 1);
    ig_grpc_channel_destroy(ch);
}

/* A connection that was lost is replaced at the next call, with no backoff: it had connected. */
static void test_lost_connection_redials_at_once(void **state)
{
    struct result r;
    (void)state;
    servers_init(NULL);
    listen_on(&E.addr, on_accept);
    ig_grpc_channel_t *ch = channel(&E.addr);
    assert_int_equal(unary(ch, &r, 3000), IG_GRPC_OK);
    /* The server closes its connections (drain), a second server takes the new ones. */
    ig_http_server_drain(&E.srv, on_drained);
    assert_true(run_until(&E.drained, 3000));
    assert_int_equal(unary(ch, &r, 3000), IG_GRPC_OK);
    struct ig_grpc_channel_stats st = stats(ch);
    assert_int_equal(st.state, IG_GRPC_CONN_READY);
    assert_int_equal(st.connect_attempts, 2);
    assert_int_equal(st.connect_failures, 0);
    assert_int_equal(E.accepts, 2);
    ig_grpc_channel_destroy(ch);
}

/* ---- GOAWAY ---------------------------------------------------------------------------------- */

static void test_goaway_graceful(void **state)
{
    struct result slow, r;
    (void)state;
    servers_init(NULL);
    listen_on(&E.addr, on_accept);
    ig_grpc_channel_t *ch = channel(&E.addr);
    memset(&slow, 0, sizeof(slow));
    ig_grpc_call_t *c = ig_grpc_call_start(ch, "/test.Echo/Slow", NULL, &r_handler, &slow);
    assert_int_equal(ig_grpc_call_send(c, "q", 1, 0), 0);
    for (int i = 0; i < 600 && E.slow == NULL; i++)
        run_for(5);
    assert_non_null(E.slow);
    ig_grpc_sctx_t *sctx = E.slow;

    /* GOAWAY (shutdown notice, then the final one with the last stream id) while the call runs. */
    ig_http_server_drain(&E.srv, on_drained);
    run_for(100);
    assert_false(slow.done);
    assert_false(E.drained);

    /* A new call goes to a new connection (served by the second server). */
    assert_int_equal(unary(ch, &r, 3000), IG_GRPC_OK);
    assert_int_equal(E.accepts, 2);

    /* The call in flight on the old connection finishes normally, then that connection closes. */
    assert_int_equal(ig_grpc_sctx_send(sctx, "a", 1), 0);
    assert_int_equal(ig_grpc_sctx_finish(sctx, IG_GRPC_OK, NULL), 0);
    assert_true(run_until(&slow.done, 3000));
    assert_int_equal(slow.status, IG_GRPC_OK);
    assert_int_equal(slow.nmsg, 1);
    assert_true(run_until(&E.drained, 3000));
    assert_int_equal(stats(ch).state, IG_GRPC_CONN_READY);
    ig_grpc_channel_destroy(ch);
}

/*
 * A raw HTTP/2 server: after the client's first HEADERS it sends SETTINGS and GOAWAY with
 * last_stream_id 0, so the stream (id 1) was never processed.
 */
static void raw_read(ig_sock_t *s, const char *data, size_t len)
{
    static const uint8_t reply[] = {
        0, 0, 0, 4, 0, 0, 0, 0, 0,                         /* SETTINGS, empty */
        0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* GOAWAY last_stream_id 0, NO_ERROR */
    };
    assert_int_equal(ig_buf_append(&E.raw_in, data, len), 0);
    if (E.raw_goaway_sent)
        return;
    const uint8_t *p = (const uint8_t *)ig_buf_data(&E.raw_in);
    size_t n = E.raw_in.len, off = 24; /* the client preface */
    while (off + 9 <= n) {
        size_t flen = ((size_t)p[off] << 16) | ((size_t)p[off + 1] << 8) | p[off + 2];
        if (p[off + 3] == 1) { /* HEADERS */
            E.raw_goaway_sent = 1;
            ig_sock_write(s, reply, sizeof(reply));
            return;
        }
        off += 9 + flen;
    }
}

static void raw_close(ig_sock_t *s, int err)
{
    (void)err;
    if (E.raw == s)
        E.raw = NULL;
}

static const struct ig_sock_ops raw_ops = {.on_read = raw_read, .on_close = raw_close};

static void raw_accept(ig_listener_t *l, int fd, void *arg)
{
    (void)l;
    (void)arg;
    E.accepts++;
    E.raw_goaway_sent = 0;
    E.raw_in.len = 0;
    struct ig_sock_config sc = {0};
    E.raw = ig_sock_accept(&E.loop, fd, &sc, &raw_ops, NULL);
}

static void test_goaway_refused_stream(void **state)
{
    struct result r;
    (void)state;
    listen_on(&E.addr, raw_accept);
    ig_grpc_channel_t *ch = channel(&E.addr);
    assert_int_equal(unary(ch, &r, 3000), IG_GRPC_UNAVAILABLE);
    assert_int_equal(E.accepts, 1);
    /* The connection had come up: the channel stays READY and the next call dials a new one. */
    assert_int_equal(stats(ch).state, IG_GRPC_CONN_READY);
    assert_int_equal(unary(ch, &r, 3000), IG_GRPC_UNAVAILABLE);
    assert_int_equal(E.accepts, 2);
    ig_grpc_channel_destroy(ch);
    if (E.raw != NULL)
        ig_sock_abort(E.raw, 0);
    run_for(20);
}

/*
 * Keepalive only while calls are open: a raw server answers the first call (trailers-only, OK),
 * then counts the client's PINGs while the connection is idle (none) and while an unanswered
 * call is open (some, then the connection is dropped as dead).
 */
static void ka_read(ig_sock_t *s, const char *data, size_t len)
{
    static const uint8_t settings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    /* HEADERS, END_STREAM | END_HEADERS, stream 1: ":status: 200" (static 8),
     * "content-type: application/grpc" (literal, static name 31), "grpc-status: 0" (literal). */
    static const uint8_t answer[] = {
        0,    0,    35,  1,   5,   0,   0,   0,   1, /* frame header */
        0x88,                                        /* :status 200 */
        0x0f, 0x10, 16,  'a', 'p', 'p', 'l', 'i', 'c', 'a', 't', 'i', 'o', 'n', '/',
        'g',  'r',  'p', 'c',                                                        /* content-type */
        0,    11,   'g', 'r', 'p', 'c', '-', 's', 't', 'a', 't', 'u', 's', 1,   '0', /* grpc-status: 0 */
    };
    assert_int_equal(ig_buf_append(&E.raw_in, data, len), 0);
    const uint8_t *p = (const uint8_t *)ig_buf_data(&E.raw_in);
    if (E.raw_off == 0 && E.raw_in.len >= 24) {
        E.raw_off = 24;
        ig_sock_write(s, settings, sizeof(settings));
    }
    while (E.raw_off != 0 && E.raw_off + 9 <= E.raw_in.len) {
        size_t flen = ((size_t)p[E.raw_off] << 16) | ((size_t)p[E.raw_off + 1] << 8) | p[E.raw_off + 2];
        if (E.raw_off + 9 + flen > E.raw_in.len)
            break;
        uint8_t type = p[E.raw_off + 3], flags = p[E.raw_off + 4];
        if (type == 6 && !(flags & 1))
            E.raw_pings++;
        if (type == 1 && !E.raw_answered) {
            E.raw_answered = 1;
            ig_sock_write(s, answer, sizeof(answer));
        }
        E.raw_off += 9 + flen;
    }
}

static const struct ig_sock_ops ka_ops = {.on_read = ka_read, .on_close = raw_close};

static void ka_accept(ig_listener_t *l, int fd, void *arg)
{
    (void)l;
    (void)arg;
    E.accepts++;
    struct ig_sock_config sc = {0};
    E.raw = ig_sock_accept(&E.loop, fd, &sc, &ka_ops, NULL);
}

static void test_keepalive_only_with_calls(void **state)
{
    struct result r;
    char err[128];
    (void)state;
    listen_on(&E.addr, ka_accept);
    struct ig_grpc_channel_config cc = {0};
    cc.addr = E.addr;
    cc.keepalive_ms = 40;
    ig_grpc_channel_t *ch = ig_grpc_channel_create(&E.loop, &cc, err, sizeof(err));
    assert_int_equal(unary(ch, &r, 3000), IG_GRPC_OK);
    /* Idle for 10 keepalive periods: no PING, and the connection stays. */
    run_for(400);
    assert_int_equal(E.raw_pings, 0);
    assert_non_null(E.raw);
    /* A call the server never answers: PINGs go out, unanswered, and the connection is dropped. */
    memset(&r, 0, sizeof(r));
    ig_grpc_call_t *c = ig_grpc_call_start(ch, "/test.Echo/Unary", NULL, &r_handler, &r);
    ig_grpc_call_send(c, "x", 1, 1);
    assert_true(run_until(&r.done, 3000));
    assert_int_equal(r.status, IG_GRPC_UNAVAILABLE);
    assert_true(E.raw_pings >= 1);
    assert_int_equal(E.accepts, 1);
    ig_grpc_channel_destroy(ch);
    if (E.raw != NULL)
        ig_sock_abort(E.raw, 0);
    run_for(20);
}

/* ---- TLS ------------------------------------------------------------------------------------- */

static char tmpdir[64];

static void cert_paths(const char *tag, char *crt, char *key)
{
    snprintf(crt, 256, "%s/%s.crt", tmpdir, tag);
    snprintf(key, 256, "%s/%s.key", tmpdir, tag);
}

static ig_grpc_channel_t *tls_channel(int verify, const char *ca, const char *sni)
{
    char err[256];
    struct ig_grpc_channel_config cc = {0};
    cc.addr = E.addr;
    cc.tls = 1;
    cc.tls_verify = verify;
    cc.ca_file = ca;
    cc.sni = sni;
    cc.connect_timeout_ms = 2000;
    cc.backoff = (struct ig_grpc_backoff_config){.initial_ms = 1000, .jitter = -1};
    ig_grpc_channel_t *ch = ig_grpc_channel_create(&E.loop, &cc, err, sizeof(err));
    assert_non_null(ch);
    return ch;
}

static void test_tls(void **state)
{
    char crt[256], key[256], other_crt[256], other_key[256], err[256];
    struct result r;
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ig-grpc-tls-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    cert_paths("server", crt, key);
    cert_paths("other", other_crt, other_key);
    assert_int_equal(ig_tls_self_signed("localhost", crt, key), 0);
    assert_int_equal(ig_tls_self_signed("localhost", other_crt, other_key), 0);
    E.server_ssl = ig_tls_server_ctx(crt, key, "h2", err, sizeof(err));
    assert_non_null(E.server_ssl);
    servers_init(E.server_ssl);
    listen_on(&E.addr, on_accept);

    /* The server's own certificate as the root, under its name. */
    ig_grpc_channel_t *ch = tls_channel(1, crt, "localhost");
    assert_int_equal(unary(ch, &r, 3000), IG_GRPC_OK);
    assert_int_equal(stats(ch).state, IG_GRPC_CONN_READY);
    ig_grpc_channel_destroy(ch);

    /* Another root: the handshake fails, the channel is in TRANSIENT_FAILURE and says why. */
    ch = tls_channel(1, other_crt, "localhost");
    assert_int_equal(unary(ch, &r, 3000), IG_GRPC_UNAVAILABLE);
    struct ig_grpc_channel_stats st = stats(ch);
    assert_int_equal(st.state, IG_GRPC_CONN_TRANSIENT_FAILURE);
    assert_int_equal(st.connect_failures, 1);
    assert_int_equal(unary(ch, &r, 3000), IG_GRPC_UNAVAILABLE);
    assert_non_null(strstr(r.message, "TLS handshake failed"));
    ig_grpc_channel_destroy(ch);

    /* The right root but another name: hostname verification refuses it. */
    ch = tls_channel(1, crt, "other.example");
    assert_int_equal(unary(ch, &r, 3000), IG_GRPC_UNAVAILABLE);
    assert_int_equal(stats(ch).connect_failures, 1);
    ig_grpc_channel_destroy(ch);

    /* The system store does not know a self-signed certificate... */
    ch = tls_channel(1, NULL, "localhost");
    assert_int_equal(unary(ch, &r, 3000), IG_GRPC_UNAVAILABLE);
    ig_grpc_channel_destroy(ch);

    /* ...which is why pickers are usually reached without verification. */
    ch = tls_channel(0, NULL, "localhost");
    assert_int_equal(unary(ch, &r, 3000), IG_GRPC_OK);
    ig_grpc_channel_destroy(ch);

    unlink(crt);
    unlink(key);
    unlink(other_crt);
    unlink(other_key);
    rmdir(tmpdir);
}

/* ---- channel identity ------------------------------------------------------------------------ */

static void test_matches(void **state)
{
    char err[128];
    (void)state;
    struct ig_grpc_channel_config cc = {0};
    assert_int_equal(ig_addr_parse("127.0.0.1:9002", &cc.addr), 0);
    ig_grpc_channel_t *plain = ig_grpc_channel_create(&E.loop, &cc, err, sizeof(err));
    struct ig_grpc_channel_config t = cc;
    t.tls = 1;
    t.sni = "epp.local";
    ig_grpc_channel_t *tls = ig_grpc_channel_create(&E.loop, &t, err, sizeof(err));

    assert_true(ig_grpc_channel_matches(plain, &cc));
    assert_false(ig_grpc_channel_matches(plain, &t));
    assert_true(ig_grpc_channel_matches(tls, &t));
    struct ig_grpc_channel_config v = t;
    v.tls_verify = 1;
    assert_false(ig_grpc_channel_matches(tls, &v));
    v = t;
    v.sni = "other.local";
    assert_false(ig_grpc_channel_matches(tls, &v));
    v = t;
    v.ca_file = "/etc/ssl/certs/ca-certificates.crt";
    assert_false(ig_grpc_channel_matches(tls, &v));
    v = cc;
    assert_int_equal(ig_addr_parse("127.0.0.1:9003", &v.addr), 0);
    assert_false(ig_grpc_channel_matches(plain, &v));
    ig_grpc_channel_destroy(plain);
    ig_grpc_channel_destroy(tls);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outage_fail_fast_and_recover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_connection_redials_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_goaway_graceful, setup, teardown),
        cmocka_unit_test_setup_teardown(test_goaway_refused_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_only_with_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_matches, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
