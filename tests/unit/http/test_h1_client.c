/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 client connections and the client pool over real sockets on 127.0.0.1. Most tests run
 * an ig_http_server and an ig_http_client on one libuv loop in the test thread; the stale
 * keep-alive tests use a raw server thread that closes a kept-alive connection on purpose.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "http_int.h"

/* ---- server side (same loop) ----------------------------------------------------------------- */

static uv_loop_t loop;
static ig_http_server_t srv;
static ig_listener_t *listener;
static ig_http_client_t *client;
static uv_timer_t guard;
static int n_accepted;
static int finished;
static struct sockaddr_storage srv_addr;

struct echo {
    ig_buf_t body;
};

static void echo_close(ig_http_stream_t *s, int err)
{
    (void)err;
    struct echo *e = s->data;
    ig_buf_dispose(&e->body);
    ig_free(e);
}

static void echo_body(ig_http_stream_t *s, const char *data, size_t len, int end)
{
    struct echo *e = s->data;
    assert_int_equal(ig_buf_append(&e->body, data, len), 0);
    if (!end)
        return;
    char out[512];
    int n = snprintf(out, sizeof(out), "echo:%.*s", (int)e->body.len, ig_buf_data(&e->body));
    ig_http_stream_send(s, 200, "text/plain", out, (size_t)n);
}

static const struct ig_http_stream_handler echo_handler = {.on_body = echo_body, .on_close = echo_close};

/* /count: counts body bytes, pausing the input for a while at the first chunk. */
struct counter {
    size_t bytes;
    int paused_once;
    uv_timer_t resume;
    ig_http_stream_t *s;
};

static void counter_closed(uv_handle_t *h)
{
    ig_free(h->data);
}

static void counter_close(ig_http_stream_t *s, int err)
{
    (void)err;
    struct counter *k = s->data;
    uv_close((uv_handle_t *)&k->resume, counter_closed);
}

static void counter_resume(uv_timer_t *t)
{
    struct counter *k = t->data;
    ig_http_stream_read_pause(k->s, 0);
}

static void counter_body(ig_http_stream_t *s, const char *data, size_t len, int end)
{
    (void)data;
    struct counter *k = s->data;
    k->bytes += len;
    if (!k->paused_once) {
        k->paused_once = 1;
        ig_http_stream_read_pause(s, 1);
        uv_timer_start(&k->resume, counter_resume, 100, 0);
    }
    if (end) {
        char out[64];
        int n = snprintf(out, sizeof(out), "%zu", k->bytes);
        ig_http_stream_send(s, 200, NULL, out, (size_t)n);
    }
}

static const struct ig_http_stream_handler counter_handler = {.on_body = counter_body, .on_close = counter_close};

/* /big: BIG_RESPONSE bytes written with back-pressure. */
#define BIG_RESPONSE (4u << 20)
static size_t big_sent;

static void big_pump(ig_http_stream_t *s)
{
    static char chunk[32768];
    while (big_sent < BIG_RESPONSE) {
        memset(chunk, 'a' + (int)((big_sent / sizeof(chunk)) % 26), sizeof(chunk));
        big_sent += sizeof(chunk);
        int rc = ig_http_stream_write(s, chunk, sizeof(chunk), big_sent == BIG_RESPONSE);
        if (rc == IG_EAGAIN)
            return;
        assert_int_equal(rc, 0);
    }
}

static const struct ig_http_stream_handler big_handler = {.on_writable = big_pump};

static void on_request(ig_http_stream_t *s)
{
    ig_iov_t path = s->req.path;
    if (ig_iov_eq(path, IG_STRLIT("/count"))) {
        struct counter *k = ig_calloc(1, sizeof(*k));
        k->s = s;
        uv_timer_init(s->loop, &k->resume);
        k->resume.data = k;
        s->data = k;
        s->handler = &counter_handler;
        return;
    }
    if (ig_iov_eq(path, IG_STRLIT("/big"))) {
        big_sent = 0;
        s->handler = &big_handler;
        ig_http_response_t r = {.status = 200, .content_length = -1};
        ig_http_stream_respond(s, &r, 0);
        big_pump(s);
        return;
    }
    if (ig_iov_eq(path, IG_STRLIT("/tls"))) {
        char out[64];
        int n = snprintf(out, sizeof(out), "tls=%d scheme=%.*s", s->is_tls, (int)s->req.scheme.len, s->req.scheme.base);
        ig_http_stream_send(s, 200, NULL, out, (size_t)n);
        return;
    }
    if (ig_iov_eq(path, IG_STRLIT("/echo"))) {
        struct echo *e = ig_calloc(1, sizeof(*e));
        ig_buf_init(&e->body, 4096);
        s->data = e;
        s->handler = &echo_handler;
        return;
    }
    if (ig_iov_eq(path, IG_STRLIT("/chunked"))) {
        ig_http_response_t r = {.status = 200, .content_length = -1};
        ig_http_stream_respond(s, &r, 0);
        ig_http_stream_write(s, "alpha,", 6, 0);
        ig_http_stream_write(s, "beta,", 5, 0);
        ig_http_stream_write(s, "gamma", 5, 1);
        return;
    }
    if (ig_iov_eq(path, IG_STRLIT("/hang")))
        return; /* never answered: the client cancels */
    if (ig_iov_eq(s->req.method, IG_STRLIT("HEAD"))) {
        ig_http_response_t r = {.status = 200, .content_length = 5};
        ig_http_stream_respond(s, &r, 1);
        return;
    }
    /* The Host header the client wrote, so the test can check it. */
    char out[300];
    int n = snprintf(out, sizeof(out), "%.*s host=%.*s", (int)path.len, path.base, (int)s->req.authority.len,
                     s->req.authority.base);
    ig_http_stream_send(s, 200, "text/plain", out, (size_t)n);
}

static void on_accept(ig_listener_t *l, int fd, void *arg)
{
    (void)l;
    (void)arg;
    n_accepted++;
    ig_http_server_accept(&srv, &loop, fd);
}

static int timed_out;
static void finish(void);

/* A stuck test stops everything and fails after the loop returned (no jump out of libuv). */
static void on_guard(uv_timer_t *t)
{
    (void)t;
    timed_out = 1;
    finish();
}

/* Everything stops; uv_run returns once the last handle is closed. */
static void finish(void)
{
    if (finished)
        return;
    finished = 1;
    if (listener != NULL)
        ig_listener_close(listener);
    listener = NULL;
    if (client != NULL)
        ig_http_client_destroy(client);
    client = NULL;
    ig_http_server_drain(&srv, NULL);
    uv_close((uv_handle_t *)&guard, NULL);
}

static void setup_loop(int with_server)
{
    n_accepted = 0;
    finished = 0;
    timed_out = 0;
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &guard);
    uv_timer_start(&guard, on_guard, 5000, 0);
    ig_http_server_init(&srv, NULL);
    srv.on_request = on_request;
    listener = NULL;
    if (with_server) {
        assert_int_equal(ig_addr_parse("127.0.0.1:0", &srv_addr), 0);
        assert_int_equal(ig_listener_open(&loop, (struct sockaddr *)&srv_addr, on_accept, NULL, &listener), 0);
        assert_int_equal(ig_listener_addr(listener, &srv_addr), 0);
    }
}

static void make_client(void)
{
    struct ig_http_client_config cfg = {.addr = srv_addr};
    client = ig_http_client_create(&loop, &cfg);
}

static void run_loop(void)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    if (timed_out)
        fail_msg("test did not finish in time");
    assert_int_equal(ig_http_server_connections(&srv), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- client side ----------------------------------------------------------------------------- */

struct result {
    int status;
    int64_t content_length;
    int reused;
    int close_err;
    int closed;
    int body_ends;
    char body[512];
    size_t body_len;
    void (*next)(struct result *r); /* what to do after on_close */
};

static void c_response(ig_http_cstream_t *cs, const ig_http_response_t *resp)
{
    struct result *r = cs->data;
    r->status = resp->status;
    r->content_length = resp->content_length;
    r->reused = cs->reused;
}

static void c_body(ig_http_cstream_t *cs, const char *data, size_t len, int end)
{
    struct result *r = cs->data;
    assert_true(r->body_len + len < sizeof(r->body));
    if (len > 0)
        memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body_ends += end;
}

static void c_close(ig_http_cstream_t *cs, int err)
{
    struct result *r = cs->data;
    r->closed++;
    r->close_err = err;
    if (r->next != NULL)
        r->next(r);
    else
        finish();
}

static const struct ig_http_cstream_handler c_handler = {
    .on_response = c_response,
    .on_body = c_body,
    .on_close = c_close,
};

static ig_http_cstream_t *get(const char *method, const char *path, struct result *r)
{
    ig_http_request_t req = {
        .method = ig_iov_cstr(method),
        .scheme = IG_STRLIT("http"),
        .authority = IG_STRLIT("example.test"),
        .path = ig_iov_cstr(path),
        .version = IG_HTTP_11,
        .content_length = 0,
    };
    return ig_http_client_request(client, &req, 1, &c_handler, r);
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_chunked_response(void **state)
{
    (void)state;
    setup_loop(1);
    make_client();
    struct result r = {0};
    get("GET", "/chunked", &r);
    run_loop();
    assert_int_equal(r.closed, 1);
    assert_int_equal(r.close_err, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.content_length, -1);
    assert_int_equal(r.body_ends, 1);
    assert_int_equal(r.body_len, 16);
    assert_memory_equal(r.body, "alpha,beta,gamma", 16);
}

static struct result reuse_second;

static void reuse_next(struct result *first)
{
    (void)first;
    get("GET", "/two", &reuse_second);
}

static void test_reuse(void **state)
{
    (void)state;
    setup_loop(1);
    make_client();
    struct result first = {.next = reuse_next};
    memset(&reuse_second, 0, sizeof(reuse_second));
    get("GET", "/one", &first);
    run_loop();
    assert_int_equal(first.close_err, 0);
    assert_int_equal(first.reused, 0);
    assert_memory_equal(first.body, "/one host=example.test", 22);
    assert_int_equal(reuse_second.close_err, 0);
    assert_int_equal(reuse_second.reused, 1);
    assert_memory_equal(reuse_second.body, "/two host=example.test", 22);
    assert_int_equal(n_accepted, 1);
}

static struct result head_second;

static void head_next(struct result *first)
{
    (void)first;
    get("GET", "/after-head", &head_second);
}

static void test_head(void **state)
{
    (void)state;
    setup_loop(1);
    make_client();
    struct result first = {.next = head_next};
    memset(&head_second, 0, sizeof(head_second));
    get("HEAD", "/x", &first);
    run_loop();
    assert_int_equal(first.close_err, 0);
    assert_int_equal(first.status, 200);
    assert_int_equal(first.body_len, 0);
    assert_int_equal(first.body_ends, 1);
    assert_int_equal(head_second.close_err, 0);
    assert_int_equal(head_second.reused, 1);
    assert_memory_equal(head_second.body, "/after-head", 11);
}

static struct result body_second;

static void body_next(struct result *first)
{
    (void)first;
    /* Chunked request body: unknown length, two writes. */
    ig_http_request_t req = {.method = IG_STRLIT("POST"), .path = IG_STRLIT("/echo"), .content_length = -1};
    ig_http_cstream_t *cs = ig_http_client_request(client, &req, 0, &c_handler, &body_second);
    assert_int_equal(ig_http_cstream_write(cs, "ab", 2, 0), 0);
    assert_int_equal(ig_http_cstream_write(cs, "cd", 2, 1), 0);
}

static void test_request_bodies(void **state)
{
    (void)state;
    setup_loop(1);
    make_client();
    struct result first = {.next = body_next};
    memset(&body_second, 0, sizeof(body_second));
    ig_http_request_t req = {.method = IG_STRLIT("POST"), .path = IG_STRLIT("/echo"), .content_length = 5};
    ig_http_cstream_t *cs = ig_http_client_request(client, &req, 0, &c_handler, &first);
    assert_int_equal(ig_http_cstream_write(cs, "hel", 3, 0), 0);
    assert_int_equal(ig_http_cstream_write(cs, "lo", 2, 1), 0);
    run_loop();
    assert_int_equal(first.close_err, 0);
    assert_int_equal(first.body_len, 10);
    assert_memory_equal(first.body, "echo:hello", 10);
    assert_int_equal(body_second.close_err, 0);
    assert_int_equal(body_second.reused, 1);
    assert_int_equal(body_second.body_len, 9);
    assert_memory_equal(body_second.body, "echo:abcd", 9);
}

static void test_connect_refused(void **state)
{
    (void)state;
    setup_loop(0);
    /* A port nobody listens on: bind one, note it, close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd);
    memset(&srv_addr, 0, sizeof(srv_addr));
    memcpy(&srv_addr, &sin, sizeof(sin));
    make_client();
    struct result r = {0};
    get("GET", "/", &r);
    run_loop();
    assert_int_equal(r.closed, 1);
    assert_int_equal(r.close_err, IG_ECONNECT);
}

static ig_http_cstream_t *cancel_cs;

static void on_cancel_timer(uv_timer_t *t)
{
    ig_http_cstream_cancel(cancel_cs);
    uv_close((uv_handle_t *)t, NULL);
}

static void test_cancel(void **state)
{
    (void)state;
    setup_loop(1);
    make_client();
    struct result r = {0};
    cancel_cs = get("GET", "/hang", &r);
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, on_cancel_timer, 50, 0);
    run_loop();
    assert_int_equal(r.closed, 1);
    assert_int_equal(r.close_err, IG_ECANCELED);
    assert_int_equal(r.status, 0);
}

/*
 * A request started from the on_close of a request cancelled in on_response must not be given
 * the connection being torn down: it opens a new one and succeeds.
 */
static struct result restart_second;

static void restart_next(struct result *first)
{
    (void)first;
    get("GET", "/two", &restart_second);
}

static void cancel_on_response(ig_http_cstream_t *cs, const ig_http_response_t *resp)
{
    c_response(cs, resp);
    ig_http_cstream_cancel(cs);
}

static const struct ig_http_cstream_handler cancel_on_response_handler = {
    .on_response = cancel_on_response,
    .on_body = c_body,
    .on_close = c_close,
};

static void test_request_from_cancel_close(void **state)
{
    (void)state;
    setup_loop(1);
    make_client();
    struct result r = {.next = restart_next};
    memset(&restart_second, 0, sizeof(restart_second));
    ig_http_request_t req = {
        .method = IG_STRLIT("GET"),
        .scheme = IG_STRLIT("http"),
        .authority = IG_STRLIT("example.test"),
        .path = IG_STRLIT("/chunked"),
        .version = IG_HTTP_11,
        .content_length = 0,
    };
    ig_http_client_request(client, &req, 1, &cancel_on_response_handler, &r);
    run_loop();
    assert_int_equal(r.closed, 1);
    assert_int_equal(r.close_err, IG_ECANCELED);
    assert_int_equal(restart_second.closed, 1);
    assert_int_equal(restart_second.close_err, 0);
    assert_int_equal(restart_second.status, 200);
    assert_int_equal(restart_second.reused, 0);
}

/* Upload with back-pressure: the client stops at IG_EAGAIN, the server pauses its input. */
#define UPLOAD_TOTAL (8u << 20)
static size_t up_sent;
static int up_eagain;
static struct result up_result;

static void up_pump(ig_http_cstream_t *cs)
{
    static char chunk[65536];
    while (up_sent < UPLOAD_TOTAL) {
        up_sent += sizeof(chunk);
        int rc = ig_http_cstream_write(cs, chunk, sizeof(chunk), up_sent == UPLOAD_TOTAL);
        if (rc == IG_EAGAIN) {
            up_eagain++;
            return;
        }
        assert_int_equal(rc, 0);
    }
}

static const struct ig_http_cstream_handler up_handler = {
    .on_response = c_response,
    .on_body = c_body,
    .on_writable = up_pump,
    .on_close = c_close,
};

static void test_upload_backpressure(void **state)
{
    (void)state;
    setup_loop(1);
    make_client();
    up_sent = 0;
    up_eagain = 0;
    memset(&up_result, 0, sizeof(up_result));
    ig_http_request_t req = {.method = IG_STRLIT("POST"), .path = IG_STRLIT("/count"), .content_length = -1};
    ig_http_cstream_t *cs = ig_http_client_request(client, &req, 0, &up_handler, &up_result);
    up_pump(cs);
    run_loop();
    assert_int_equal(up_result.close_err, 0);
    assert_int_equal(up_result.status, 200);
    char want[32];
    snprintf(want, sizeof(want), "%u", UPLOAD_TOTAL);
    assert_int_equal(up_result.body_len, strlen(want));
    assert_memory_equal(up_result.body, want, up_result.body_len);
    assert_true(up_eagain > 0);
}

/* Download with the client pausing its input for a while at the first chunk. */
static size_t down_bytes;
static int down_bad;
static int down_ends;
static int down_err = 1;
static ig_http_cstream_t *down_cs;
static uv_timer_t down_timer;

static void down_resume(uv_timer_t *t)
{
    (void)t;
    ig_http_cstream_read_pause(down_cs, 0);
}

static void down_body(ig_http_cstream_t *cs, const char *data, size_t len, int end)
{
    for (size_t i = 0; i < len; i++) {
        if (data[i] != (char)('a' + (int)(((down_bytes + i) / 32768) % 26)))
            down_bad++;
    }
    if (down_bytes == 0 && len > 0) {
        ig_http_cstream_read_pause(cs, 1);
        uv_timer_start(&down_timer, down_resume, 100, 0);
    }
    down_bytes += len;
    down_ends += end;
}

static void down_close(ig_http_cstream_t *cs, int err)
{
    (void)cs;
    down_err = err;
    uv_close((uv_handle_t *)&down_timer, NULL);
    finish();
}

static const struct ig_http_cstream_handler down_handler = {.on_body = down_body, .on_close = down_close};

static void test_download_read_pause(void **state)
{
    (void)state;
    setup_loop(1);
    make_client();
    down_bytes = 0;
    down_bad = 0;
    down_ends = 0;
    uv_timer_init(&loop, &down_timer);
    ig_http_request_t req = {.method = IG_STRLIT("GET"), .path = IG_STRLIT("/big")};
    down_cs = ig_http_client_request(client, &req, 1, &down_handler, NULL);
    run_loop();
    assert_int_equal(down_err, 0);
    assert_int_equal(down_bytes, BIG_RESPONSE);
    assert_int_equal(down_bad, 0);
    assert_int_equal(down_ends, 1);
}

/* Pool limits: max_idle keeps one of three connections; idle_timeout closes that one. */
static struct result pool_r[4];
static int pool_done;
static uv_timer_t pool_timer;
static size_t pool_after_burst;
static size_t pool_after_idle;

static void pool_last(struct result *r)
{
    (void)r;
    uv_close((uv_handle_t *)&pool_timer, NULL);
    finish();
}

static void pool_after_wait(uv_timer_t *t)
{
    (void)t;
    pool_after_idle = client->nconns;
    /* A new request now needs a new connection. */
    pool_r[3].next = pool_last;
    get("GET", "/four", &pool_r[3]);
}

static void pool_check(uv_timer_t *t)
{
    pool_after_burst = client->nconns;
    uv_timer_start(t, pool_after_wait, 250, 0);
}

static void pool_next(struct result *r)
{
    (void)r;
    if (++pool_done == 3)
        uv_timer_start(&pool_timer, pool_check, 30, 0);
}

static void test_pool_limits(void **state)
{
    (void)state;
    setup_loop(1);
    struct ig_http_client_config cfg = {.addr = srv_addr, .max_idle = 1, .idle_timeout_ms = 100};
    client = ig_http_client_create(&loop, &cfg);
    memset(pool_r, 0, sizeof(pool_r));
    pool_done = 0;
    uv_timer_init(&loop, &pool_timer);
    for (int i = 0; i < 3; i++) {
        pool_r[i].next = pool_next;
        get("GET", "/burst", &pool_r[i]);
    }
    run_loop();
    for (int i = 0; i < 4; i++)
        assert_int_equal(pool_r[i].close_err, 0);
    assert_int_equal(pool_after_burst, 1);
    assert_int_equal(pool_after_idle, 0);
    assert_int_equal(pool_r[3].reused, 0);
    assert_int_equal(n_accepted, 4);
}

/* TLS: a self-signed server, a client that skips verification, ALPN http/1.1. */
static void test_tls(void **state)
{
    (void)state;
    char dir[] = "/tmp/ig_h1c_tlsXXXXXX";
    assert_non_null(mkdtemp(dir));
    char cert[128], key[128], err[256];
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    assert_int_equal(ig_tls_self_signed("localhost", cert, key), 0);
    SSL_CTX *sctx = ig_tls_server_ctx(cert, key, "h2,http/1.1", err, sizeof(err));
    assert_non_null(sctx);
    SSL_CTX *cctx = ig_tls_client_ctx(NULL, 1, "http/1.1", err, sizeof(err));
    assert_non_null(cctx);
    setup_loop(1);
    srv.config.ssl_ctx = sctx;
    struct ig_http_client_config cfg = {.addr = srv_addr, .ssl_ctx = cctx, .sni = "localhost"};
    client = ig_http_client_create(&loop, &cfg);
    struct result r = {0};
    get("GET", "/tls", &r);
    run_loop();
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    unlink(cert);
    unlink(key);
    rmdir(dir);
    assert_int_equal(r.close_err, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 18);
    assert_memory_equal(r.body, "tls=1 scheme=https", 18);
}

/* HTTP/2 (h2c prior knowledge): concurrent streams share one connection; they wait for it. */
static struct result h2_r[3];
static int h2_done;

static void h2_next(struct result *r)
{
    (void)r;
    if (++h2_done == 3)
        finish();
}

static void test_h2_shared_connection(void **state)
{
    (void)state;
    setup_loop(1);
    struct ig_http_client_config cfg = {.addr = srv_addr, .version = IG_HTTP_2};
    client = ig_http_client_create(&loop, &cfg);
    memset(h2_r, 0, sizeof(h2_r));
    h2_done = 0;
    for (int i = 0; i < 3; i++) {
        h2_r[i].next = h2_next;
        get("GET", "/h2", &h2_r[i]);
    }
    run_loop();
    for (int i = 0; i < 3; i++) {
        assert_int_equal(h2_r[i].close_err, 0);
        assert_int_equal(h2_r[i].status, 200);
        assert_memory_equal(h2_r[i].body, "/h2 host=example.test", 21);
    }
    assert_int_equal(n_accepted, 1);
}

/* HTTP/2: a body written while the stream still waits for its connection is replayed on start. */
static void test_h2_body_while_waiting(void **state)
{
    (void)state;
    setup_loop(1);
    struct ig_http_client_config cfg = {.addr = srv_addr, .version = IG_HTTP_2};
    client = ig_http_client_create(&loop, &cfg);
    struct result r = {0};
    ig_http_request_t req = {.method = IG_STRLIT("POST"), .path = IG_STRLIT("/echo"), .content_length = 5};
    ig_http_cstream_t *cs = ig_http_client_request(client, &req, 0, &c_handler, &r);
    assert_int_equal(ig_list_empty(&client->waiting), 0); /* not connected yet */
    assert_int_equal(ig_http_cstream_write(cs, "hel", 3, 0), 0);
    assert_int_equal(ig_http_cstream_write(cs, "lo", 2, 1), 0);
    run_loop();
    assert_int_equal(r.close_err, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 10);
    assert_memory_equal(r.body, "echo:hello", 10);
}

/* A TLS handshake that never completes ends with IG_ETIMEDOUT after connect_timeout_ms. */
static void test_connect_timeout(void **state)
{
    (void)state;
    char err[256];
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(lfd, 8), 0); /* the kernel completes TCP; nobody ever answers TLS */
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
    SSL_CTX *cctx = ig_tls_client_ctx(NULL, 1, "http/1.1", err, sizeof(err));
    assert_non_null(cctx);
    setup_loop(0);
    memset(&srv_addr, 0, sizeof(srv_addr));
    memcpy(&srv_addr, &sin, sizeof(sin));
    struct ig_http_client_config cfg = {.addr = srv_addr, .ssl_ctx = cctx, .connect_timeout_ms = 100};
    client = ig_http_client_create(&loop, &cfg);
    struct result r = {0};
    uint64_t t0 = ig_time_ns();
    get("GET", "/", &r);
    run_loop();
    uint64_t ms = (ig_time_ns() - t0) / 1000000u;
    SSL_CTX_free(cctx);
    close(lfd);
    assert_int_equal(r.closed, 1);
    assert_int_equal(r.close_err, IG_ETIMEDOUT);
    assert_true(ms >= 90 && ms < 2000);
}

/* ---- stale keep-alive: a raw server that drops a kept-alive connection ----------------------- */

static atomic_int raw_conns;
static int raw_lfd;

/* Reads until a blank line (a request head without body). Returns 0 on EOF or timeout. */
static int read_head(int fd)
{
    char buf[4096];
    size_t len = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 3000) != 1)
            return 0;
        ssize_t n = recv(fd, buf + len, sizeof(buf) - len - 1, 0);
        if (n <= 0)
            return 0;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL)
            return 1;
    }
}

/* Connection 1 answers one request and closes when the second arrives; later ones answer "retry". */
static void *raw_server(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2; i++) {
        struct pollfd p = {.fd = raw_lfd, .events = POLLIN};
        if (poll(&p, 1, 1000) != 1)
            break;
        int fd = accept(raw_lfd, NULL, NULL);
        atomic_fetch_add(&raw_conns, 1);
        if (i == 0) {
            if (read_head(fd))
                send(fd, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", 40, MSG_NOSIGNAL);
            read_head(fd); /* the second request: dropped unanswered */
        } else {
            while (read_head(fd))
                send(fd, "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nretry", 43, MSG_NOSIGNAL);
        }
        close(fd);
    }
    return NULL;
}

/*
 * A slow peer in another thread: it starts reading only after 200 ms, then reads a chunked body
 * to its end and answers with the byte count. Nothing else runs on the client's loop, so every
 * byte must move through on_writable and the socket's flushing alone.
 */
static atomic_size_t slow_got;

static void *slow_server(void *arg)
{
    (void)arg;
    struct pollfd p = {.fd = raw_lfd, .events = POLLIN};
    if (poll(&p, 1, 3000) != 1)
        return NULL;
    int fd = accept(raw_lfd, NULL, NULL);
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    usleep(200000);
    static char buf[65536 + 8];
    size_t keep = 0, got = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + keep, sizeof(buf) - 8, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        size_t len = keep + (size_t)n;
        if (memmem(buf, len, "\r\n0\r\n\r\n", 7) != NULL) {
            char out[128];
            int m = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
            send(fd, out, (size_t)m, MSG_NOSIGNAL);
            break;
        }
        /* Keep a tail so the terminator is found across reads. */
        keep = IG_MIN(len, (size_t)8);
        memmove(buf, buf + len - keep, keep);
    }
    atomic_store(&slow_got, got);
    read_head(fd); /* until the client closes */
    close(fd);
    return NULL;
}

static void test_upload_slow_peer(void **state)
{
    (void)state;
    raw_lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(raw_lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(raw_lfd, 8), 0);
    assert_int_equal(getsockname(raw_lfd, (struct sockaddr *)&sin, &len), 0);
    atomic_store(&slow_got, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, slow_server, NULL), 0);
    setup_loop(0);
    memset(&srv_addr, 0, sizeof(srv_addr));
    memcpy(&srv_addr, &sin, sizeof(sin));
    make_client();
    up_sent = 0;
    up_eagain = 0;
    memset(&up_result, 0, sizeof(up_result));
    ig_http_request_t req = {.method = IG_STRLIT("POST"), .path = IG_STRLIT("/slow"), .content_length = -1};
    ig_http_cstream_t *cs = ig_http_client_request(client, &req, 0, &up_handler, &up_result);
    up_pump(cs);
    run_loop();
    pthread_join(th, NULL);
    close(raw_lfd);
    assert_int_equal(up_result.close_err, 0);
    assert_int_equal(up_result.status, 200);
    assert_true(up_eagain > 0);
    /* Chunk framing adds a little to the 8 MiB of payload. */
    assert_true(atomic_load(&slow_got) > UPLOAD_TOTAL);
}

static struct result stale_second;
static int stale_with_body;

static void stale_next(struct result *first)
{
    (void)first;
    if (!stale_with_body) {
        get("GET", "/again", &stale_second);
        return;
    }
    ig_http_request_t req = {.method = IG_STRLIT("POST"), .path = IG_STRLIT("/p"), .content_length = 1};
    ig_http_cstream_t *cs = ig_http_client_request(client, &req, 0, &c_handler, &stale_second);
    ig_http_cstream_write(cs, "x", 1, 1);
}

static void run_stale(int with_body)
{
    raw_lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(raw_lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(raw_lfd, 8), 0);
    assert_int_equal(getsockname(raw_lfd, (struct sockaddr *)&sin, &len), 0);
    atomic_store(&raw_conns, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, raw_server, NULL), 0);

    setup_loop(0);
    memset(&srv_addr, 0, sizeof(srv_addr));
    memcpy(&srv_addr, &sin, sizeof(sin));
    make_client();
    stale_with_body = with_body;
    memset(&stale_second, 0, sizeof(stale_second));
    struct result first = {.next = stale_next};
    get("GET", "/first", &first);
    run_loop();
    pthread_join(th, NULL);
    close(raw_lfd);
    assert_int_equal(first.close_err, 0);
    assert_memory_equal(first.body, "ok", 2);
    assert_int_equal(stale_second.closed, 1);
}

static void test_stale_keepalive_retry(void **state)
{
    (void)state;
    run_stale(0);
    /* The bodiless request went out again on a new connection. */
    assert_int_equal(stale_second.close_err, 0);
    assert_int_equal(stale_second.status, 200);
    assert_memory_equal(stale_second.body, "retry", 5);
    assert_int_equal(atomic_load(&raw_conns), 2);
}

static void test_stale_keepalive_no_retry_with_body(void **state)
{
    (void)state;
    run_stale(1);
    /* A request with a streamed body is not replayed. */
    assert_int_equal(stale_second.close_err, IG_ECLOSED);
    assert_int_equal(stale_second.status, 0);
    assert_int_equal(atomic_load(&raw_conns), 1);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunked_response),
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_request_bodies),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_request_from_cancel_close),
        cmocka_unit_test(test_stale_keepalive_retry),
        cmocka_unit_test(test_stale_keepalive_no_retry_with_body),
        cmocka_unit_test(test_upload_slow_peer),
        cmocka_unit_test(test_upload_backpressure),
        cmocka_unit_test(test_download_read_pause),
        cmocka_unit_test(test_pool_limits),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_h2_shared_connection),
        cmocka_unit_test(test_h2_body_while_waiting),
    };
    if (getenv("IG_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("IG_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
