/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the HTTP/2 engines (src/http/h2_*.c) over real sockets on 127.0.0.1: an ig_http_server
 * with an echo handler, driven by the system's nghttp client (h2c prior knowledge) and by our own
 * HTTP/2 client through ig_http_client. Covered: GET, a 1 MB POST echoed intact (both clients),
 * 100 concurrent streams on one connection, a client RST_STREAM seen by the server, a paused
 * reader held at the stream window, and GOAWAY on drain with the open stream finished.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <cmocka.h>

#include "h2_int.h"
#include "ig/http.h"
#include "ig/loop.h"
#include "ig_test_loop.h"

#define BIG (1u << 20)

/* ---- environment --------------------------------------------------------------------------- */

struct env {
    struct ig_test_http fx; /* loop, server, listener, accept count, drained */
    int port;
    /* server-side observations */
    int srv_closes;
    int srv_last_err;
    ig_http_stream_t *held;   /* /hold: head sent, body pending */
    ig_http_stream_t *paused; /* /pause: reading paused since on_request */
    size_t pause_got;         /* body bytes /pause received */
    size_t pause_first;       /* length of the first on_body after resume */
    int pause_resumed;
    size_t big_total;           /* /big: response size (0: BIG_RESPONSE) */
    size_t big_sent;            /* /big: response bytes written */
    int big_eagain;             /* /big: writes that returned IG_EAGAIN */
    int big_writable;           /* /big: on_writable calls */
    SSL_CTX *srv_tls, *cli_tls; /* TLS tests only */
};

static struct env E;

/* ---- server handlers ----------------------------------------------------------------------- */

static void srv_on_close(ig_http_stream_t *s, int err)
{
    E.srv_closes++;
    E.srv_last_err = err;
    if (s == E.held)
        E.held = NULL;
    if (s == E.paused)
        E.paused = NULL;
}

static void echo_on_body(ig_http_stream_t *s, const char *data, size_t len, int end)
{
    int rc = ig_http_stream_write(s, data, len, end);
    assert_true(rc == 0 || rc == IG_EAGAIN);
    if (rc == IG_EAGAIN)
        ig_http_stream_read_pause(s, 1);
}

static void echo_on_writable(ig_http_stream_t *s)
{
    ig_http_stream_read_pause(s, 0);
}

static const struct ig_http_stream_handler echo_h = {
    .on_body = echo_on_body, .on_writable = echo_on_writable, .on_close = srv_on_close};

static void pause_on_body(ig_http_stream_t *s, const char *data, size_t len, int end)
{
    (void)data;
    if (E.pause_resumed && E.pause_first == 0 && len != 0)
        E.pause_first = len;
    E.pause_got += len;
    if (end) {
        char *body = ig_pool_printf(&s->pool, "%zu", E.pause_got);
        ig_http_stream_send(s, 200, "text/plain", body, strlen(body));
    }
}

#define BIG_RESPONSE (8u << 20)

/* /big: a generated 8 MiB response written as fast as the stream accepts it. */
static void big_pump(ig_http_stream_t *s)
{
    static char chunk[65536];
    while (E.big_sent < E.big_total) {
        for (size_t i = 0; i < sizeof(chunk); i++)
            chunk[i] = (char)('A' + (E.big_sent + i) % 23);
        int end = E.big_sent + sizeof(chunk) == E.big_total;
        int rc = ig_http_stream_write(s, chunk, sizeof(chunk), end);
        assert_true(rc == 0 || rc == IG_EAGAIN);
        E.big_sent += sizeof(chunk);
        if (rc == IG_EAGAIN) {
            E.big_eagain++;
            return;
        }
    }
}

static void big_on_writable(ig_http_stream_t *s)
{
    E.big_writable++;
    big_pump(s);
}

static const struct ig_http_stream_handler big_h = {.on_writable = big_on_writable, .on_close = srv_on_close};

static const struct ig_http_stream_handler pause_h = {.on_body = pause_on_body, .on_close = srv_on_close};
static const struct ig_http_stream_handler plain_h = {.on_close = srv_on_close};

static void on_request(ig_http_stream_t *s)
{
    ig_iov_t path = s->req.path;
    assert_int_equal(s->req.version, IG_HTTP_2);
    if (ig_iov_eq(path, IG_STRLIT("/echo"))) {
        s->handler = &echo_h;
        ig_http_response_t resp = {200, {NULL, 0, 0}, s->req.content_length};
        assert_int_equal(ig_http_stream_respond(s, &resp, 0), 0);
    } else if (ig_iov_eq(path, IG_STRLIT("/hold"))) {
        s->handler = &plain_h;
        ig_http_response_t resp = {200, {NULL, 0, 0}, -1};
        assert_int_equal(ig_http_stream_respond(s, &resp, 0), 0);
        E.held = s;
    } else if (ig_iov_eq(path, IG_STRLIT("/big"))) {
        s->handler = &big_h;
        if (E.big_total == 0)
            E.big_total = BIG_RESPONSE;
        ig_http_response_t resp = {200, {NULL, 0, 0}, (int64_t)E.big_total};
        assert_int_equal(ig_http_stream_respond(s, &resp, 0), 0);
        big_pump(s);
    } else if (ig_iov_eq(path, IG_STRLIT("/reset"))) {
        s->handler = &plain_h;
        ig_http_response_t resp = {200, {NULL, 0, 0}, -1};
        assert_int_equal(ig_http_stream_respond(s, &resp, 0), 0);
        ig_http_stream_reset(s);
        assert_int_equal(ig_http_stream_write(s, "x", 1, 1), IG_ECLOSED);
    } else if (ig_iov_eq(path, IG_STRLIT("/pause"))) {
        s->handler = &pause_h;
        ig_http_stream_read_pause(s, 1);
        E.paused = s;
    } else {
        /* Headers mapped: method, authority, a regular lower-case header. */
        s->handler = &plain_h;
        ssize_t ua = ig_http_headers_find(&s->req.headers, IG_STRLIT("user-agent"), 0);
        assert_true(ua >= 0);
        assert_true(s->req.authority.len > 0);
        char *body =
            ig_pool_printf(&s->pool, "%.*s %.*s", (int)s->req.method.len, s->req.method.base, (int)path.len, path.base);
        ig_http_stream_send(s, 200, "text/plain", body, strlen(body));
    }
}

/* ---- client side --------------------------------------------------------------------------- */

struct creq {
    ig_http_cstream_t *cs;
    int status;
    int closed;
    int err;
    ig_buf_t body;
    const char *src; /* request body to send */
    size_t src_len, sent;
    int cancel_on_response;
    int pause_on_response; /* pause reading the response body from on_response */
    int trailer_ok;        /* "grpc-status: 0" was among the trailers at the end of the body */
};

static void pump(struct creq *r)
{
    while (r->sent < r->src_len) {
        size_t n = IG_MIN((size_t)65536, r->src_len - r->sent);
        int end = r->sent + n == r->src_len;
        int rc = ig_http_cstream_write(r->cs, r->src + r->sent, n, end);
        assert_true(rc == 0 || rc == IG_EAGAIN);
        r->sent += n;
        if (rc == IG_EAGAIN)
            return;
    }
}

static void c_on_response(ig_http_cstream_t *cs, const ig_http_response_t *resp)
{
    struct creq *r = cs->data;
    r->status = resp->status;
    if (r->cancel_on_response)
        ig_http_cstream_cancel(cs);
    if (r->pause_on_response)
        ig_http_cstream_read_pause(cs, 1);
}

static void c_on_body(ig_http_cstream_t *cs, const char *data, size_t len, int end)
{
    struct creq *r = cs->data;
    assert_int_equal(ig_buf_append(&r->body, data, len), 0);
    const ig_http_headers_t *t = end ? ig_h2__cstream_trailers(cs) : NULL;
    if (t != NULL) {
        ssize_t i = ig_http_headers_find(t, IG_STRLIT("grpc-status"), 0);
        r->trailer_ok = i >= 0 && ig_iov_eq(t->v[i].value, IG_STRLIT("0"));
    }
}

static void c_on_writable(ig_http_cstream_t *cs)
{
    pump(cs->data);
}

static void c_on_close(ig_http_cstream_t *cs, int err)
{
    struct creq *r = cs->data;
    r->closed = 1;
    r->err = err;
    r->cs = NULL;
}

static const struct ig_http_cstream_handler client_h = {
    .on_response = c_on_response, .on_body = c_on_body, .on_writable = c_on_writable, .on_close = c_on_close};

static ig_http_client_t *new_client(void)
{
    struct ig_http_client_config cfg = {0};
    cfg.addr = E.fx.addr;
    cfg.version = IG_HTTP_2;
    cfg.ssl_ctx = E.cli_tls;
    cfg.sni = E.cli_tls != NULL ? "localhost" : NULL;
    return ig_http_client_create(&E.fx.loop, &cfg);
}

static void start(ig_http_client_t *c, struct creq *r, const char *method, const char *path, const char *body,
                  size_t len)
{
    ig_http_header_t hd[] = {{IG_STRLIT("User-Agent"), IG_STRLIT("ig-test")},
                             {IG_STRLIT("Connection"), IG_STRLIT("keep-alive")}};
    ig_http_request_t req = {0};
    req.method = ig_iov_cstr(method);
    req.path = ig_iov_cstr(path);
    req.authority = IG_STRLIT("127.0.0.1");
    req.version = IG_HTTP_2;
    req.headers = (ig_http_headers_t){hd, 2, 2};
    req.content_length = body != NULL ? (int64_t)len : -1;
    ig_buf_init(&r->body, 16u << 20);
    r->src = body;
    r->src_len = len;
    r->cs = ig_http_client_request(c, &req, body == NULL, &client_h, r);
    if (body != NULL)
        pump(r);
}

/* ---- loop helpers -------------------------------------------------------------------------- */

/* Runs the fixture's loop until *flag becomes nonzero or |ms| pass; returns the flag. */
static int run_until(const int *flag, uint64_t ms)
{
    return ig_test_run_until(&E.fx.loop, flag, ms);
}

static void run_for(uint64_t ms)
{
    ig_test_run_for(&E.fx.loop, ms);
}

static uint64_t idle_timeout_ms; /* server config for the next setup, 0: default */

static int setup_with(SSL_CTX *srv_tls, SSL_CTX *cli_tls)
{
    memset(&E, 0, sizeof(E));
    E.srv_tls = srv_tls;
    E.cli_tls = cli_tls;
    struct ig_http_server_config cfg = {0};
    cfg.ssl_ctx = srv_tls;
    cfg.idle_timeout_ms = idle_timeout_ms;
    ig_test_http_start(&E.fx, &cfg);
    E.fx.srv.on_request = on_request;
    E.port = ntohs(((struct sockaddr_in *)&E.fx.addr)->sin_port);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return setup_with(NULL, NULL);
}

static int setup_tls(void **state)
{
    char err[256], cert[] = "/tmp/ig_h2_cert_XXXXXX", key[64];
    int fd = mkstemp(cert);
    assert_true(fd >= 0);
    close(fd);
    snprintf(key, sizeof(key), "%s.key", cert);
    assert_int_equal(ig_tls_self_signed("localhost", cert, key), 0);
    SSL_CTX *srv_tls = ig_tls_server_ctx(cert, key, "h2,http/1.1", err, sizeof(err));
    assert_non_null(srv_tls);
    SSL_CTX *cli_tls = ig_tls_client_ctx(NULL, 1, "h2", err, sizeof(err));
    assert_non_null(cli_tls);
    unlink(cert);
    unlink(key);
    (void)state;
    return setup_with(srv_tls, cli_tls);
}

static int teardown(void **state)
{
    (void)state;
    ig_test_http_stop(&E.fx);
    SSL_CTX_free(E.srv_tls);
    SSL_CTX_free(E.cli_tls);
    return 0;
}

/* ---- nghttp ------------------------------------------------------------------------------- */

struct child {
    uv_process_t proc;
    int exited;
    int64_t status;
};

static void child_exit(uv_process_t *p, int64_t status, int sig)
{
    struct child *ch = p->data;
    (void)sig;
    ch->exited = 1;
    ch->status = status;
    uv_close((uv_handle_t *)p, NULL);
}

/* Runs nghttp with |args| (NULL-terminated, after the program name), stdout into |out_path|. */
static int64_t run_nghttp(const char **args, const char *out_path)
{
    const char *argv[16] = {"nghttp"};
    size_t n = 1;
    while (*args != NULL && n < 15)
        argv[n++] = *args++;
    argv[n] = NULL;
    int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    uv_stdio_container_t stdio[3] = {{UV_IGNORE, {0}}, {UV_INHERIT_FD, {.fd = fd}}, {UV_INHERIT_FD, {.fd = 2}}};
    struct child ch = {0};
    uv_process_options_t o = {0};
    o.file = "nghttp";
    o.args = (char **)argv;
    o.exit_cb = child_exit;
    o.stdio_count = 3;
    o.stdio = stdio;
    ch.proc.data = &ch;
    int rc = uv_spawn(&E.fx.loop, &ch.proc, &o);
    close(fd);
    if (rc != 0) {
        fprintf(stderr, "nghttp not runnable: %s\n", uv_strerror(rc));
        return -1;
    }
    if (!run_until(&ch.exited, 10000)) {
        uv_process_kill(&ch.proc, SIGKILL);
        run_until(&ch.exited, 1000);
        return -1;
    }
    return ch.status;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static char *make_body(size_t len)
{
    char *p = malloc(len);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (char)('a' + x % 26);
    }
    return p;
}

static void test_nghttp_get_and_post(void **state)
{
    (void)state;
    char url[128], in_path[] = "/tmp/ig_h2_in_XXXXXX", out_path[64];
    int fd = mkstemp(in_path);
    assert_true(fd >= 0);
    char *body = make_body(BIG);
    assert_int_equal(write(fd, body, BIG), (ssize_t)BIG);
    close(fd);
    snprintf(out_path, sizeof(out_path), "%s.out", in_path);

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello?x=1", E.port);
    const char *get[] = {url, NULL};
    assert_int_equal(run_nghttp(get, out_path), 0);
    size_t len;
    char *got = read_file(out_path, &len);
    assert_int_equal(len, strlen("GET /hello?x=1"));
    assert_memory_equal(got, "GET /hello?x=1", len);
    free(got);

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", E.port);
    const char *post[] = {"-d", in_path, url, NULL};
    assert_int_equal(run_nghttp(post, out_path), 0);
    got = read_file(out_path, &len);
    assert_int_equal(len, BIG);
    assert_memory_equal(got, body, BIG);
    free(got);
    unlink(in_path);
    unlink(out_path);
    free(body);
    assert_int_equal(E.srv_closes, 2);
    assert_int_equal(E.srv_last_err, 0);
}

static void test_client_get_post(void **state)
{
    (void)state;
    ig_http_client_t *c = new_client();
    struct creq get = {0}, post = {0};
    start(c, &get, "GET", "/hello", NULL, 0);
    assert_true(run_until(&get.closed, 5000));
    assert_int_equal(get.err, 0);
    assert_int_equal(get.status, 200);
    assert_int_equal(get.body.len, strlen("GET /hello"));
    assert_memory_equal(ig_buf_data(&get.body), "GET /hello", get.body.len);

    char *body = make_body(BIG);
    start(c, &post, "POST", "/echo", body, BIG);
    assert_true(run_until(&post.closed, 5000));
    assert_int_equal(post.err, 0);
    assert_int_equal(post.status, 200);
    assert_int_equal(post.body.len, BIG);
    assert_memory_equal(ig_buf_data(&post.body), body, BIG);
    assert_int_equal(E.fx.accepts, 1); /* both on one connection */
    assert_true(E.srv_closes == 2);
    ig_buf_dispose(&get.body);
    ig_buf_dispose(&post.body);
    free(body);
    ig_http_client_destroy(c);
}

/* The same over TLS: the client offers ALPN h2 only, the server picks h2 from "h2,http/1.1". */
static void test_client_get_post_tls(void **state)
{
    test_client_get_post(state);
}

struct creqs {
    struct creq *r;
    int n;
};

static int all_closed(void *arg)
{
    const struct creqs *rs = arg;
    for (int i = 0; i < rs->n; i++)
        if (!rs->r[i].closed)
            return 0;
    return 1;
}

static void test_client_100_concurrent(void **state)
{
    (void)state;
    enum { N = 100 };
    ig_http_client_t *c = new_client();
    struct creq *r = calloc(N, sizeof(*r));
    char paths[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(paths[i], sizeof(paths[i]), "/r%d", i);
        start(c, &r[i], "GET", paths[i], NULL, 0);
    }
    struct creqs rs = {r, N};
    assert_true(ig_test_run_until_true(&E.fx.loop, all_closed, &rs, 5000));
    for (int i = 0; i < N; i++) {
        char want[40];
        snprintf(want, sizeof(want), "GET /r%d", i);
        assert_int_equal(r[i].err, 0);
        assert_int_equal(r[i].status, 200);
        assert_int_equal(r[i].body.len, strlen(want));
        assert_memory_equal(ig_buf_data(&r[i].body), want, strlen(want));
        ig_buf_dispose(&r[i].body);
    }
    assert_int_equal(E.fx.accepts, 1);
    assert_int_equal(E.srv_closes, N);
    free(r);
    ig_http_client_destroy(c);
}

static void test_client_rst_stream(void **state)
{
    (void)state;
    ig_http_client_t *c = new_client();
    struct creq r = {0};
    r.cancel_on_response = 1;
    start(c, &r, "GET", "/hold", NULL, 0);
    assert_true(run_until(&r.closed, 5000));
    assert_int_equal(r.err, IG_ECANCELED);
    assert_int_equal(r.status, 200);
    assert_true(run_until(&E.srv_closes, 5000));
    assert_int_equal(E.srv_closes, 1);
    assert_int_equal(E.srv_last_err, IG_ERESET);
    assert_null(E.held);
    ig_buf_dispose(&r.body);
    ig_http_client_destroy(c);
}

static void test_paused_reader_window(void **state)
{
    (void)state;
    enum { TOTAL = 4u << 20 };
    ig_http_client_t *c = new_client();
    struct creq r = {0};
    char *body = make_body(TOTAL);
    start(c, &r, "POST", "/pause", body, TOTAL);
    run_for(300);
    /* Paused: nothing delivered, the client stopped at the stream window. */
    assert_non_null(E.paused);
    assert_int_equal(E.pause_got, 0);
    assert_true(r.sent < TOTAL);
    E.pause_resumed = 1;
    ig_http_stream_read_pause(E.paused, 0);
    assert_true(run_until(&r.closed, 5000));
    /* The first delivery after resuming is what was held: at most one stream window. */
    assert_true(E.pause_first >= 65535);
    assert_true(E.pause_first <= IG_H2_STREAM_WINDOW);
    assert_int_equal(r.err, 0);
    char want[32];
    snprintf(want, sizeof(want), "%u", (unsigned)TOTAL);
    assert_int_equal(r.body.len, strlen(want));
    assert_memory_equal(ig_buf_data(&r.body), want, strlen(want));
    ig_buf_dispose(&r.body);
    free(body);
    ig_http_client_destroy(c);
}

static void test_goaway_on_drain(void **state)
{
    (void)state;
    ig_http_client_t *c = new_client();
    struct creq held = {0}, late = {0};
    start(c, &held, "GET", "/hold", NULL, 0);
    assert_true(run_until(&held.status, 5000));
    assert_non_null(E.held);

    ig_test_http_drain(&E.fx);
    run_for(100);
    /* GOAWAY received: the open stream goes on, the connection takes no new stream. */
    assert_false(held.closed);
    assert_false(E.fx.drained);
    start(c, &late, "GET", "/late", NULL, 0);
    assert_true(run_until(&late.closed, 5000));
    assert_int_not_equal(late.err, 0);

    assert_int_equal(ig_http_stream_write(E.held, "done", 4, 1), 0);
    assert_true(run_until(&held.closed, 5000));
    assert_int_equal(held.err, 0);
    assert_int_equal(held.body.len, 4);
    assert_memory_equal(ig_buf_data(&held.body), "done", 4);
    assert_true(run_until(&E.fx.drained, 3000));
    assert_int_equal(ig_http_server_connections(&E.fx.srv), 0);
    ig_buf_dispose(&held.body);
    ig_buf_dispose(&late.body);
    ig_http_client_destroy(c);
}

static int two_server_closes(void *arg)
{
    (void)arg;
    return E.srv_closes == 2;
}

static void test_server_reset_and_conn_loss(void **state)
{
    (void)state;
    ig_http_client_t *c = new_client();
    struct creq rst = {0}, held = {0};
    /* The application resets: the client sees RST_STREAM, the server's on_close says canceled. */
    start(c, &rst, "GET", "/reset", NULL, 0);
    assert_true(run_until(&rst.closed, 5000));
    assert_int_equal(rst.err, IG_ERESET);
    assert_true(run_until(&E.srv_closes, 5000));
    assert_int_equal(E.srv_last_err, IG_ECANCELED);

    /* The connection goes away under an open stream: the server's on_close says closed. */
    start(c, &held, "GET", "/hold", NULL, 0);
    assert_true(run_until(&held.status, 5000));
    assert_non_null(E.held);
    ig_http_client_destroy(c);
    assert_true(held.closed);
    assert_int_equal(held.err, IG_ECANCELED);
    assert_true(ig_test_run_until_true(&E.fx.loop, two_server_closes, NULL, 5000));
    assert_int_equal(E.srv_last_err, IG_ECLOSED);
    assert_null(E.held);
    ig_buf_dispose(&rst.body);
    ig_buf_dispose(&held.body);
}

/*
 * The client pauses reading: a large response stops at the client's stream window and the
 * server's writes return IG_EAGAIN until on_writable; a small response that completes while
 * paused is held, and its on_close waits until the client has read it.
 */
static void test_client_paused_response(void **state)
{
    (void)state;
    ig_http_client_t *c = new_client();
    struct creq big = {0}, small = {0};
    big.pause_on_response = small.pause_on_response = 1;
    start(c, &big, "GET", "/big", NULL, 0);
    start(c, &small, "GET", "/hello", NULL, 0);
    run_for(300);
    assert_int_equal(big.status, 200);
    assert_int_equal(small.status, 200);
    assert_int_equal(big.body.len, 0);
    assert_false(small.closed);
    assert_int_equal(small.body.len, 0);
    assert_true(E.big_eagain > 0);
    assert_true(E.big_sent < BIG_RESPONSE);

    ig_http_cstream_read_pause(small.cs, 0);
    assert_true(run_until(&small.closed, 5000));
    assert_int_equal(small.err, 0);
    assert_int_equal(small.body.len, strlen("GET /hello"));
    assert_memory_equal(ig_buf_data(&small.body), "GET /hello", small.body.len);

    ig_http_cstream_read_pause(big.cs, 0);
    assert_true(run_until(&big.closed, 10000));
    assert_int_equal(big.err, 0);
    assert_int_equal(big.body.len, BIG_RESPONSE);
    const char *b = ig_buf_data(&big.body);
    for (size_t i = 0; i < BIG_RESPONSE; i++)
        if (b[i] != (char)('A' + i % 23))
            fail_msg("byte %zu differs", i);
    assert_true(E.big_writable > 0);
    ig_buf_dispose(&big.body);
    ig_buf_dispose(&small.body);
    ig_http_client_destroy(c);
}

/*
 * A raw client opens huge flow-control windows, asks for 64 MiB and never reads: the server's
 * output stops at the socket (kernel buffers plus the send threshold), its writes keep returning
 * IG_EAGAIN, and the connection survives (without the pending-output check, queuing past the
 * socket's max_pending would have failed the connection).
 */
static void test_server_socket_backpressure(void **state)
{
    (void)state;
    static const unsigned char hello[] =
        {
            'P',  'R',  'I',  ' ',  '*',  ' ', 'H', 'T', 'T',  'P',  '/',  '2', '.', '0', '\r', '\n', '\r', '\n', 'S',
            'M',  '\r', '\n', '\r', '\n', 0,   0,   6,   4,    0,    0,    0,   0,   0,   0,    4,    0x7f, 0xff, 0xff,
            0xff, /* SETTINGS INITIAL_WINDOW_SIZE max */
            0,    0,    4,    8,    0,    0,   0,   0,   0,    0x7f, 0xff, 0,   0, /* WINDOW_UPDATE conn +2^31-65536 */
            0,    0,    19,   1,    5,    0,   0,   0,   1, /* HEADERS s=1 END_STREAM|END_HEADERS */
            0x82, 0x86, 0x04, 4,    '/',  'b', 'i', 'g', 0x01, 9,    '1',  '2', '7', '.', '0',  '.',  '0',  '.',  '1',
        };
    E.big_total = 64u << 20;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&E.fx.addr, sizeof(struct sockaddr_in)), 0);
    assert_int_equal(write(fd, hello, sizeof(hello)), (ssize_t)sizeof(hello));
    run_for(500);
    assert_int_equal(ig_http_server_connections(&E.fx.srv), 1);
    assert_true(E.big_sent > (1u << 20));
    assert_true(E.big_sent < E.big_total / 2);
    assert_true(E.big_eagain > 0);
    size_t sent = E.big_sent;
    run_for(100);
    assert_int_equal(E.big_sent, sent); /* stalled, not spinning */
    assert_int_equal(E.srv_closes, 0);
    close(fd);
    assert_true(run_until(&E.srv_closes, 5000));
    assert_int_not_equal(E.srv_last_err, 0);
}

static int setup_idle(void **state)
{
    idle_timeout_ms = 200;
    int rc = setup(state);
    idle_timeout_ms = 0;
    return rc;
}

static int no_connections(void *arg)
{
    (void)arg;
    return ig_http_server_connections(&E.fx.srv) == 0;
}

static void test_server_idle_timeout(void **state)
{
    (void)state;
    ig_http_client_t *c = new_client();
    struct creq r = {0};
    start(c, &r, "GET", "/idle", NULL, 0);
    assert_true(run_until(&r.closed, 5000));
    assert_int_equal(r.err, 0);
    assert_int_equal(ig_http_server_connections(&E.fx.srv), 1);
    run_for(100);
    assert_int_equal(ig_http_server_connections(&E.fx.srv), 1);
    assert_true(ig_test_run_until_true(&E.fx.loop, no_connections, NULL, 3000));
    ig_buf_dispose(&r.body);
    ig_http_client_destroy(c);
}

/*
 * A hand-written server for the client's GOAWAY handling: after the requests arrive it sends
 * SETTINGS, SETTINGS ACK, GOAWAY(last_stream_id = 1) and a complete response on stream 1 (an
 * HPACK-indexed ":status: 200", a body, a trailer as a literal field), so the streams above 1
 * must end with IG_ERESET, and stream 1's trailer is kept.
 */
struct fake {
    ig_sock_t *sock;
    uv_timer_t timer;
    size_t got;
    int closed;
};

static struct fake F;

static void fake_reply(uv_timer_t *t)
{
    (void)t;
    static const unsigned char frames[] = {
        0, 0,  0,   4,   0,   0,   0,   0,   0,                                      /* SETTINGS */
        0, 0,  0,   4,   1,   0,   0,   0,   0,                                      /* SETTINGS ACK */
        0, 0,  8,   7,   0,   0,   0,   0,   0,   0,    0,   0,   1,   0, 0,   0, 0, /* GOAWAY last=1 NO_ERROR */
        0, 0,  1,   1,   4,   0,   0,   0,   1,   0x88,                        /* HEADERS s=1 END_HEADERS :status 200 */
        0, 0,  2,   0,   0,   0,   0,   0,   1,   'o',  'k',                   /* DATA s=1 "ok" */
        0, 0,  15,  1,   5,   0,   0,   0,   1,                                /* HEADERS s=1 END_STREAM|END_HEADERS */
        0, 11, 'g', 'r', 'p', 'c', '-', 's', 't', 'a',  't', 'u', 's', 1, '0', /* trailer */
    };
    if (F.sock != NULL)
        assert_int_equal(ig_sock_write(F.sock, frames, sizeof(frames)), 0);
}

static void fake_on_read(ig_sock_t *s, const char *data, size_t len)
{
    (void)s;
    (void)data;
    if (F.got == 0)
        uv_timer_start(&F.timer, fake_reply, 100, 0);
    F.got += len;
}

static void fake_on_close(ig_sock_t *s, int err)
{
    (void)s;
    (void)err;
    F.sock = NULL;
    F.closed = 1;
}

static const struct ig_sock_ops fake_ops = {.on_read = fake_on_read, .on_close = fake_on_close};

static void fake_accept(ig_listener_t *l, int fd, void *arg)
{
    (void)l;
    (void)arg;
    struct ig_sock_config sc = {0};
    IG_ASSERT(F.sock == NULL);
    F.sock = ig_sock_accept(&E.fx.loop, fd, &sc, &fake_ops, NULL);
}

static void test_client_goaway_refuses_later_streams(void **state)
{
    (void)state;
    ig_listener_t *l;
    memset(&F, 0, sizeof(F));
    uv_timer_init(&E.fx.loop, &F.timer);
    /* new_client() connects to E.fx.addr: point it at the fake server instead. */
    ig_test_listen(&E.fx.loop, fake_accept, NULL, &l, &E.fx.addr);

    ig_http_client_t *c = new_client();
    struct creq r[3] = {{0}};
    for (int i = 0; i < 3; i++)
        start(c, &r[i], "GET", "/g", NULL, 0);
    struct creqs rs = {r, 3};
    assert_true(ig_test_run_until_true(&E.fx.loop, all_closed, &rs, 5000));
    assert_int_equal(r[0].err, 0);
    assert_int_equal(r[0].status, 200);
    assert_int_equal(r[0].body.len, 2);
    assert_memory_equal(ig_buf_data(&r[0].body), "ok", 2);
    assert_true(r[0].trailer_ok);
    assert_int_equal(r[1].err, IG_ERESET);
    assert_int_equal(r[2].err, IG_ERESET);
    /* With nothing left on it, the client closes the connection that got the GOAWAY. */
    assert_true(run_until(&F.closed, 3000));
    for (int i = 0; i < 3; i++)
        ig_buf_dispose(&r[i].body);
    ig_http_client_destroy(c);
    ig_listener_close(l);
    uv_close((uv_handle_t *)&F.timer, NULL);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nghttp_get_and_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_get_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_get_post_tls, setup_tls, teardown),
        cmocka_unit_test_setup_teardown(test_client_100_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_rst_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paused_reader_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_goaway_on_drain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_reset_and_conn_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_paused_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_socket_backpressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_idle_timeout, setup_idle, teardown),
        cmocka_unit_test_setup_teardown(test_client_goaway_refuses_later_streams, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
