/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 server connections over real sockets on 127.0.0.1. The server runs on a libuv loop in
 * a background thread; the tests speak raw HTTP/1.1 to it through blocking sockets (with receive
 * timeouts, so a hang fails instead of blocking). Callbacks on the loop thread only record what
 * happened; assertions run on the test thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

#include "http_int.h"

/* ---- server fixture -------------------------------------------------------------------------- */

#define BIG_TOTAL (50u << 20)
#define BIG_CHUNK (64u << 10)

struct fixture {
    uv_loop_t loop;
    ig_http_server_t srv;
    ig_listener_t *listener;
    uv_async_t stop;
    pthread_t thread;
    int port;
};

static struct fixture fx;
static atomic_int n_accepted;
static atomic_int n_requests;
static atomic_int n_closed;
static atomic_int last_close_err;
static atomic_int big_eagain;
static atomic_int big_errors;
static atomic_int big_done;
static atomic_size_t max_pending_seen;

/* Per-stream state of the echo and big handlers. */
struct echo {
    ig_buf_t body;
    size_t sent; /* /big: bytes written so far */
};

static void record_close(ig_http_stream_t *s, int err)
{
    atomic_store(&last_close_err, err);
    atomic_fetch_add(&n_closed, 1);
    struct echo *e = s->data;
    if (e != NULL) {
        ig_buf_dispose(&e->body);
        ig_free(e);
        s->data = NULL;
    }
}

static void echo_body(ig_http_stream_t *s, const char *data, size_t len, int end)
{
    struct echo *e = s->data;
    if (len > 0)
        assert_int_equal(ig_buf_append(&e->body, data, len), 0);
    if (!end)
        return;
    char out[4200];
    int n = snprintf(out, sizeof(out), "echo:%.*s", (int)e->body.len, ig_buf_data(&e->body));
    ig_http_stream_send(s, 200, "text/plain", out, (size_t)n);
}

static const struct ig_http_stream_handler echo_handler = {
    .on_body = echo_body,
    .on_close = record_close,
};

static const struct ig_http_stream_handler close_only_handler = {
    .on_close = record_close,
};

/* /big: 50 MB written in 64 KiB pieces, stopping at IG_EAGAIN and resuming from on_writable. */
static void big_pump(ig_http_stream_t *s)
{
    static char chunk[BIG_CHUNK];
    struct echo *e = s->data;
    for (;;) {
        size_t n = IG_MIN((size_t)BIG_CHUNK, BIG_TOTAL - e->sent);
        for (size_t i = 0; i < n; i += 4096)
            chunk[i] = (char)('a' + ((e->sent + i) / 4096) % 26);
        e->sent += n;
        int rc = ig_http_stream_write(s, chunk, n, e->sent == BIG_TOTAL);
        /* The connection's socket, to watch its queue: h1_server.c's connection starts this way. */
        struct h1s_conn_peek {
            struct ig_http_sconn super;
            ig_http_server_t *srv;
            ig_sock_t *sock;
        } *peek = s->_conn;
        if (peek->sock != NULL) {
            size_t p = ig_sock_pending(peek->sock);
            if (p > atomic_load(&max_pending_seen))
                atomic_store(&max_pending_seen, p);
        }
        if (rc == IG_EAGAIN) {
            atomic_fetch_add(&big_eagain, 1);
            return;
        }
        if (rc != 0) {
            atomic_fetch_add(&big_errors, 1);
            return;
        }
        if (e->sent == BIG_TOTAL) {
            atomic_store(&big_done, 1);
            return;
        }
    }
}

static const struct ig_http_stream_handler big_handler = {
    .on_writable = big_pump,
    .on_close = record_close,
};

static atomic_int peer_ok;

static void on_request(ig_http_stream_t *s)
{
    atomic_fetch_add(&n_requests, 1);
    const struct sockaddr_in *peer = (const struct sockaddr_in *)&s->peer;
    if (peer->sin_family == AF_INET && peer->sin_addr.s_addr == htonl(INADDR_LOOPBACK) && peer->sin_port != 0 &&
        !s->is_tls && ig_iov_eq(s->req.scheme, IG_STRLIT("http")) && s->loop == &fx.loop)
        atomic_fetch_add(&peer_ok, 1);
    ig_iov_t path = s->req.path;
    if (ig_iov_eq(path, IG_STRLIT("/echo"))) {
        struct echo *e = ig_calloc(1, sizeof(*e));
        ig_buf_init(&e->body, 4096);
        s->data = e;
        s->handler = &echo_handler;
        return;
    }
    if (ig_iov_eq(path, IG_STRLIT("/reject"))) {
        ig_http_stream_send(s, 413, "text/plain", "too big", 7);
        return;
    }
    if (ig_iov_eq(path, IG_STRLIT("/chunked"))) {
        ig_http_response_t r = {.status = 200, .content_length = -1};
        assert_int_equal(ig_http_stream_respond(s, &r, 0), 0);
        ig_http_stream_write(s, "one,", 4, 0);
        ig_http_stream_write(s, "two,", 4, 0);
        ig_http_stream_write(s, "three", 5, 1);
        return;
    }
    if (ig_iov_eq(path, IG_STRLIT("/big"))) {
        struct echo *e = ig_calloc(1, sizeof(*e));
        s->data = e;
        s->handler = &big_handler;
        ig_http_response_t r = {.status = 200, .content_length = BIG_TOTAL};
        assert_int_equal(ig_http_stream_respond(s, &r, 0), 0);
        big_pump(s);
        return;
    }
    if (ig_iov_eq(path, IG_STRLIT("/reset"))) {
        s->handler = &close_only_handler;
        ig_http_stream_reset(s);
        return;
    }
    if (ig_iov_eq(path, IG_STRLIT("/hang"))) {
        s->handler = &close_only_handler;
        ig_http_response_t r = {.status = 200, .content_length = -1};
        ig_http_stream_respond(s, &r, 0);
        ig_http_stream_write(s, "partial", 7, 0);
        return;
    }
    if (ig_iov_eq(s->req.method, IG_STRLIT("HEAD"))) {
        /* The application writes a body anyway; the engine must drop it. */
        ig_http_response_t r = {.status = 200, .content_length = 5};
        ig_http_stream_respond(s, &r, 0);
        ig_http_stream_write(s, "hello", 5, 1);
        return;
    }
    char out[300];
    int n = snprintf(out, sizeof(out), "path=%.*s", (int)path.len, path.base);
    ig_http_stream_send(s, 200, "text/plain", out, (size_t)n);
}

static void on_accept(ig_listener_t *l, int fd, void *arg)
{
    (void)l;
    (void)arg;
    atomic_fetch_add(&n_accepted, 1);
    ig_http_server_accept(&fx.srv, &fx.loop, fd);
}

static void on_drained(ig_http_server_t *srv)
{
    (void)srv;
}

static void on_stop(uv_async_t *a)
{
    ig_listener_close(fx.listener);
    ig_http_server_drain(&fx.srv, on_drained);
    uv_close((uv_handle_t *)a, NULL);
}

static void *loop_thread(void *arg)
{
    (void)arg;
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    return NULL;
}

static int fx_running;   /* the loop thread is not joined yet */
static int fx_stop_sent; /* the stop async was sent (it closes itself) */

static void server_stop_async(void)
{
    if (!fx_stop_sent)
        uv_async_send(&fx.stop);
    fx_stop_sent = 1;
}

static void server_start(const struct ig_http_server_config *cfg)
{
    memset(&fx, 0, sizeof(fx));
    atomic_store(&n_accepted, 0);
    atomic_store(&n_requests, 0);
    atomic_store(&peer_ok, 0);
    atomic_store(&n_closed, 0);
    atomic_store(&last_close_err, 1);
    assert_int_equal(uv_loop_init(&fx.loop), 0);
    ig_http_server_init(&fx.srv, cfg);
    fx.srv.on_request = on_request;
    struct sockaddr_storage a;
    assert_int_equal(ig_addr_parse("127.0.0.1:0", &a), 0);
    assert_int_equal(ig_listener_open(&fx.loop, (struct sockaddr *)&a, on_accept, NULL, &fx.listener), 0);
    assert_int_equal(ig_listener_addr(fx.listener, &a), 0);
    fx.port = ntohs(((struct sockaddr_in *)&a)->sin_port);
    uv_async_init(&fx.loop, &fx.stop, on_stop);
    fx_stop_sent = 0;
    assert_int_equal(pthread_create(&fx.thread, NULL, loop_thread, NULL), 0);
    fx_running = 1;
}

/* After a failed assertion the test never reached server_stop: stop the loop thread here. */
static int teardown(void **state)
{
    (void)state;
    if (fx_running) {
        fx_running = 0;
        server_stop_async();
        pthread_join(fx.thread, NULL);
        uv_loop_close(&fx.loop);
    }
    return 0;
}

static void server_stop(void)
{
    fx_running = 0;
    server_stop_async();
    pthread_join(fx.thread, NULL);
    assert_int_equal(ig_http_server_connections(&fx.srv), 0);
    assert_int_equal(uv_loop_close(&fx.loop), 0);
}

/* ---- raw client ------------------------------------------------------------------------------ */

struct raw {
    int fd;
    char buf[1 << 16];
    size_t len;
    int eof;
};

static void raw_connect(struct raw *r)
{
    memset(r, 0, sizeof(*r));
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(r->fd >= 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx.port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(r->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
}

static void raw_send(struct raw *r, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(r->fd, data, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        data += n;
        len -= (size_t)n;
    }
}

static void raw_sends(struct raw *r, const char *s)
{
    raw_send(r, s, strlen(s));
}

/* Reads more bytes into the buffer; returns 0 on EOF, -1 on timeout or error. */
static int raw_fill(struct raw *r)
{
    if (r->len == sizeof(r->buf))
        return -1;
    ssize_t n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, 0);
    if (n == 0)
        r->eof = 1;
    if (n <= 0)
        return n == 0 ? 0 : -1;
    r->len += (size_t)n;
    return 1;
}

static void raw_consume(struct raw *r, size_t n)
{
    memmove(r->buf, r->buf + n, r->len - n);
    r->len -= n;
}

struct resp {
    int status;
    char head[4096];
    char body[8192];
    size_t body_len;
};

static const char *find_header(const struct resp *p, const char *name)
{
    static char val[256];
    const char *h = p->head;
    size_t nl = strlen(name);
    while ((h = strstr(h, "\r\n")) != NULL) {
        h += 2;
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            const char *v = h + nl + 1;
            while (*v == ' ')
                v++;
            size_t n = strcspn(v, "\r");
            n = IG_MIN(n, sizeof(val) - 1);
            memcpy(val, v, n);
            val[n] = '\0';
            return val;
        }
    }
    return NULL;
}

/* Reads one response (content-length, chunked, or until EOF). |is_head|: no body follows. */
static int raw_response(struct raw *r, struct resp *p, int is_head)
{
    memset(p, 0, sizeof(*p));
    char *end;
    while ((end = memmem(r->buf, r->len, "\r\n\r\n", 4)) == NULL) {
        if (raw_fill(r) <= 0)
            return -1;
    }
    size_t hl = (size_t)(end - r->buf) + 4;
    assert_true(hl < sizeof(p->head));
    memcpy(p->head, r->buf, hl);
    p->head[hl] = '\0';
    raw_consume(r, hl);
    if (sscanf(p->head, "HTTP/1.%*d %d", &p->status) != 1)
        return -1;
    if (is_head || p->status == 100 || p->status == 204 || p->status == 304)
        return 0;
    const char *cl = find_header(p, "content-length");
    const char *te = find_header(p, "transfer-encoding");
    if (cl != NULL) {
        size_t n = strtoul(cl, NULL, 10);
        assert_true(n < sizeof(p->body));
        while (r->len < n) {
            if (raw_fill(r) <= 0)
                return -1;
        }
        memcpy(p->body, r->buf, n);
        p->body_len = n;
        raw_consume(r, n);
        return 0;
    }
    if (te != NULL && strcasecmp(te, "chunked") == 0) {
        for (;;) {
            char *le;
            while ((le = memmem(r->buf, r->len, "\r\n", 2)) == NULL) {
                if (raw_fill(r) <= 0)
                    return -1;
            }
            size_t sz = strtoul(r->buf, NULL, 16);
            size_t need = (size_t)(le - r->buf) + 2 + sz + 2;
            while (r->len < need) {
                if (raw_fill(r) <= 0)
                    return -1;
            }
            assert_true(p->body_len + sz < sizeof(p->body));
            memcpy(p->body + p->body_len, le + 2, sz);
            p->body_len += sz;
            raw_consume(r, need);
            if (sz == 0)
                return 0;
        }
    }
    while (raw_fill(r) > 0) {
    }
    memcpy(p->body, r->buf, IG_MIN(r->len, sizeof(p->body)));
    p->body_len = IG_MIN(r->len, sizeof(p->body));
    r->len = 0;
    return 0;
}

/* After the server closed: everything up to EOF. Returns 1 when EOF came (not a timeout). */
static int raw_wait_eof(struct raw *r)
{
    int rc;
    while ((rc = raw_fill(r)) > 0) {
        r->len = 0;
    }
    return rc == 0;
}

static void raw_close(struct raw *r)
{
    close(r->fd);
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_keepalive_three(void **state)
{
    (void)state;
    server_start(NULL);
    struct raw r;
    struct resp p;
    raw_connect(&r);
    const char *paths[] = {"/a", "/b", "/c"};
    for (int i = 0; i < 3; i++) {
        char req[128];
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", paths[i]);
        raw_sends(&r, req);
        assert_int_equal(raw_response(&r, &p, 0), 0);
        assert_int_equal(p.status, 200);
        char want[32];
        snprintf(want, sizeof(want), "path=%s", paths[i]);
        assert_int_equal(p.body_len, strlen(want));
        assert_memory_equal(p.body, want, p.body_len);
        assert_null(find_header(&p, "connection"));
    }
    assert_int_equal(atomic_load(&n_accepted), 1);
    assert_int_equal(atomic_load(&n_requests), 3);
    assert_int_equal(atomic_load(&peer_ok), 3); /* every recycled stream knows its peer */
    raw_close(&r);
    server_stop();
}

static void test_pipelining(void **state)
{
    (void)state;
    server_start(NULL);
    struct raw r;
    struct resp p;
    raw_connect(&r);
    raw_sends(&r, "GET /1 HTTP/1.1\r\nHost: t\r\n\r\n"
                  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                  "GET /3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_int_equal(raw_response(&r, &p, 0), 0);
    assert_memory_equal(p.body, "path=/1", 7);
    assert_int_equal(raw_response(&r, &p, 0), 0);
    assert_int_equal(p.body_len, 8);
    assert_memory_equal(p.body, "echo:abc", 8);
    assert_int_equal(raw_response(&r, &p, 0), 0);
    assert_memory_equal(p.body, "path=/3", 7);
    assert_string_equal(find_header(&p, "connection"), "close");
    assert_true(raw_wait_eof(&r));
    raw_close(&r);
    server_stop();
}

static void test_chunked_request_body(void **state)
{
    (void)state;
    server_start(NULL);
    struct raw r;
    struct resp p;
    raw_connect(&r);
    raw_sends(&r, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    usleep(20000); /* the rest in a second segment */
    raw_sends(&r, "6;ext=1\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n");
    assert_int_equal(raw_response(&r, &p, 0), 0);
    assert_int_equal(p.status, 200);
    assert_int_equal(p.body_len, strlen("echo:hello world"));
    assert_memory_equal(p.body, "echo:hello world", p.body_len);
    /* The connection is still usable. */
    raw_sends(&r, "GET /after HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(raw_response(&r, &p, 0), 0);
    assert_memory_equal(p.body, "path=/after", 11);
    raw_close(&r);
    server_stop();
}

static void test_expect_continue(void **state)
{
    (void)state;
    server_start(NULL);
    struct raw r;
    struct resp p;
    raw_connect(&r);
    raw_sends(&r, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    assert_int_equal(raw_response(&r, &p, 0), 0);
    assert_int_equal(p.status, 100);
    raw_sends(&r, "data");
    assert_int_equal(raw_response(&r, &p, 0), 0);
    assert_int_equal(p.status, 200);
    assert_memory_equal(p.body, "echo:data", 9);
    raw_close(&r);

    /* The application answers first: no 100, and the connection is not reused. */
    raw_connect(&r);
    raw_sends(&r, "POST /reject HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n");
    assert_int_equal(raw_response(&r, &p, 0), 0);
    assert_int_equal(p.status, 413);
    assert_string_equal(find_header(&p, "connection"), "close");
    assert_true(raw_wait_eof(&r));
    raw_close(&r);
    server_stop();
}

static void test_head(void **state)
{
    (void)state;
    server_start(NULL);
    struct raw r;
    struct resp p;
    raw_connect(&r);
    raw_sends(&r, "HEAD /x HTTP/1.1\r\nHost: t\r\n\r\nGET /next HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(raw_response(&r, &p, 1), 0);
    assert_int_equal(p.status, 200);
    assert_string_equal(find_header(&p, "content-length"), "5");
    /* The next bytes must be the second response, not the dropped body. */
    assert_int_equal(raw_response(&r, &p, 0), 0);
    assert_int_equal(p.status, 200);
    assert_memory_equal(p.body, "path=/next", 10);
    raw_close(&r);
    server_stop();
}

static void test_chunked_response_raw(void **state)
{
    (void)state;
    server_start(NULL);
    struct raw r;
    struct resp p;
    raw_connect(&r);
    raw_sends(&r, "GET /chunked HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(raw_response(&r, &p, 0), 0);
    assert_string_equal(find_header(&p, "transfer-encoding"), "chunked");
    assert_int_equal(p.body_len, 13);
    assert_memory_equal(p.body, "one,two,three", 13);
    raw_close(&r);

    /* HTTP/1.0 cannot take chunked: the body ends with the connection. */
    raw_connect(&r);
    raw_sends(&r, "GET /chunked HTTP/1.0\r\n\r\n");
    assert_int_equal(raw_response(&r, &p, 0), 0);
    assert_null(find_header(&p, "transfer-encoding"));
    assert_int_equal(p.body_len, 13);
    assert_memory_equal(p.body, "one,two,three", 13);
    assert_true(r.eof);
    raw_close(&r);
    server_stop();
}

static void expect_error(const char *req, int status)
{
    struct raw r;
    struct resp p;
    raw_connect(&r);
    raw_sends(&r, req);
    assert_int_equal(raw_response(&r, &p, 0), 0);
    if (p.status != status)
        fail_msg("request %.40s...: status %d, want %d", req, p.status, status);
    assert_string_equal(find_header(&p, "connection"), "close");
    assert_true(raw_wait_eof(&r));
    raw_close(&r);
}

static void test_hostile_inputs(void **state)
{
    (void)state;
    server_start(NULL);
    expect_error("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                 400);
    expect_error("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400);
    expect_error("GET / HTTP/1.1\r\nHost: t\r\nX-A: one\r\n two\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\nHost: t\n\n", 400);
    /* A NUL inside a header value (sent with its length: it would end a C string). */
    {
        struct raw r;
        struct resp p;
        static const char nul_req[] = "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n";
        raw_connect(&r);
        raw_send(&r, nul_req, sizeof(nul_req) - 1);
        assert_int_equal(raw_response(&r, &p, 0), 0);
        assert_int_equal(p.status, 400);
        assert_true(raw_wait_eof(&r));
        raw_close(&r);
    }
    expect_error("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400);
    expect_error("GET / HTTP/1.2\r\nHost: t\r\n\r\n", 505);
    server_stop();
}

static void test_oversize_headers(void **state)
{
    (void)state;
    struct ig_http_server_config cfg = {.h1_limits = {.max_header_bytes = 4096}};
    server_start(&cfg);
    static char req[12000];
    int n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(req + n, 'a', 6000);
    memcpy(req + n + 6000, "\r\n\r\n", 5);
    expect_error(req, 431);
    /* A request line over the default 8192 bytes is 414. */
    memcpy(req, "GET /", 5);
    memset(req + 5, 'b', 9000);
    static const char tail[] = " HTTP/1.1\r\nHost: t\r\n\r\n";
    memcpy(req + 9005, tail, sizeof(tail));
    expect_error(req, 414);
    server_stop();
}

static void test_header_timeout(void **state)
{
    (void)state;
    struct ig_http_server_config cfg = {.header_timeout_ms = 150};
    server_start(&cfg);
    struct raw r;
    struct resp p;
    raw_connect(&r);
    uint64_t t0 = ig_time_ns();
    raw_sends(&r, "GET / HTTP/1.1\r\nHost: t\r\n");
    assert_int_equal(raw_response(&r, &p, 0), 0);
    assert_int_equal(p.status, 408);
    assert_true(raw_wait_eof(&r));
    uint64_t ms = (ig_time_ns() - t0) / 1000000u;
    assert_true(ms >= 140 && ms < 3000);
    raw_close(&r);
    server_stop();
}

static void test_idle_timeout(void **state)
{
    (void)state;
    struct ig_http_server_config cfg = {.idle_timeout_ms = 100};
    server_start(&cfg);
    struct raw r;
    struct resp p;
    raw_connect(&r);
    raw_sends(&r, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(raw_response(&r, &p, 0), 0);
    /* Idle after the response: closed silently, no 408. */
    assert_true(raw_wait_eof(&r));
    assert_int_equal(r.len, 0);
    raw_close(&r);
    /* A connection that never sends a byte is closed by the accept stage. */
    uint64_t t0 = ig_time_ns();
    raw_connect(&r);
    assert_true(raw_wait_eof(&r));
    assert_int_equal(r.len, 0);
    assert_true(ig_time_ns() - t0 < 2000000000ull);
    raw_close(&r);
    server_stop();
}

static void test_slow_reader(void **state)
{
    (void)state;
    struct ig_http_server_config cfg = {.max_pending = 1u << 20, .high_water = 256u << 10};
    atomic_store(&big_eagain, 0);
    atomic_store(&big_errors, 0);
    atomic_store(&big_done, 0);
    atomic_store(&max_pending_seen, 0);
    server_start(&cfg);
    struct raw r;
    raw_connect(&r);
    int small = 64 * 1024;
    setsockopt(r.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    raw_sends(&r, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    usleep(200000); /* not reading: the server must stop at the high-water mark, not the cap */
    size_t got = 0;
    int head_done = 0;
    static char buf[1 << 16];
    uint64_t t0 = ig_time_ns();
    while (got < BIG_TOTAL) {
        ssize_t n = recv(r.fd, buf, sizeof(buf), 0);
        if (n <= 0)
            fail_msg("recv %zd after %zu bytes (eagain %d errors %d)", n, got, atomic_load(&big_eagain),
                     atomic_load(&big_errors));
        const char *d = buf;
        if (!head_done) {
            char *e = memmem(buf, (size_t)n, "\r\n\r\n", 4);
            assert_non_null(e);
            assert_memory_equal(buf, "HTTP/1.1 200", 12);
            head_done = 1;
            d = e + 4;
            n -= d - buf;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (((got + (size_t)i) % 4096) == 0 && d[i] != (char)('a' + ((got + (size_t)i) / 4096) % 26))
                fail_msg("byte %zu corrupt", got + (size_t)i);
        }
        got += (size_t)n;
        assert_true(ig_time_ns() - t0 < 20000000000ull);
    }
    assert_int_equal(got, BIG_TOTAL);
    assert_int_equal(atomic_load(&big_errors), 0);
    assert_int_equal(atomic_load(&big_done), 1);
    assert_true(atomic_load(&big_eagain) > 0);
    /* One 64 KiB write past the high-water mark at most. */
    assert_true(atomic_load(&max_pending_seen) <= (256u << 10) + BIG_CHUNK + 64);
    raw_close(&r);
    server_stop();
}

static void test_client_disconnect(void **state)
{
    (void)state;
    server_start(NULL);
    struct raw r;
    struct resp p;
    raw_connect(&r);
    raw_sends(&r, "GET /hang HTTP/1.1\r\nHost: t\r\n\r\n");
    /* Read the head and the first chunk, then go away mid-response. */
    char *end;
    while ((end = memmem(r.buf, r.len, "partial", 7)) == NULL)
        assert_int_equal(raw_fill(&r), 1);
    (void)p;
    raw_close(&r);
    for (int i = 0; i < 300 && atomic_load(&n_closed) == 0; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&n_closed), 1);
    assert_int_equal(atomic_load(&last_close_err), IG_ECLOSED);
    server_stop();
}

static void test_reset(void **state)
{
    (void)state;
    server_start(NULL);
    struct raw r;
    raw_connect(&r);
    raw_sends(&r, "GET /reset HTTP/1.1\r\nHost: t\r\n\r\n");
    /* The connection ends without a response (EOF or RST), and the stream hears IG_ECANCELED. */
    int rc;
    while ((rc = raw_fill(&r)) > 0) {
    }
    assert_int_equal(r.len, 0);
    raw_close(&r);
    for (int i = 0; i < 300 && atomic_load(&n_closed) == 0; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&n_closed), 1);
    assert_int_equal(atomic_load(&last_close_err), IG_ECANCELED);
    server_stop();
}

static void test_drain(void **state)
{
    (void)state;
    server_start(NULL);
    struct raw idle, busy;
    struct resp p;
    raw_connect(&idle);
    raw_sends(&idle, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(raw_response(&idle, &p, 0), 0);
    raw_connect(&busy);
    /* A request whose body is still coming when the drain starts. */
    raw_sends(&busy, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab");
    for (int i = 0; i < 100 && atomic_load(&n_requests) < 2; i++)
        usleep(5000);
    server_stop_async(); /* closes the listener and drains */
    assert_true(raw_wait_eof(&idle));
    raw_sends(&busy, "cd");
    assert_int_equal(raw_response(&busy, &p, 0), 0);
    assert_memory_equal(p.body, "echo:abcd", 9);
    assert_string_equal(find_header(&p, "connection"), "close");
    assert_true(raw_wait_eof(&busy));
    raw_close(&idle);
    raw_close(&busy);
    fx_running = 0;
    pthread_join(fx.thread, NULL);
    assert_int_equal(ig_http_server_connections(&fx.srv), 0);
    assert_int_equal(uv_loop_close(&fx.loop), 0);
}

static void test_preface_detection(void **state)
{
    (void)state;
    server_start(NULL);
    struct raw r;
    struct resp p;
    /* A preface split across writes goes to HTTP/2: the server's first frame is SETTINGS. */
    raw_connect(&r);
    raw_sends(&r, "PRI * HTTP/2.0\r\n");
    usleep(30000);
    static const char rest[] = "\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";
    raw_send(&r, rest, sizeof(rest) - 1);
    while (r.len < 9)
        assert_int_equal(raw_fill(&r), 1);
    assert_int_equal(r.buf[3], 0x04);
    raw_close(&r);
    /* A prefix of the preface that diverges later is HTTP/1.1 (PRI is a valid method token). */
    raw_connect(&r);
    raw_sends(&r, "PRI ");
    usleep(30000);
    raw_sends(&r, "/x HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(raw_response(&r, &p, 0), 0);
    assert_int_equal(p.status, 200);
    assert_memory_equal(p.body, "path=/x", 7);
    raw_close(&r);
    server_stop();
}

/* Runs |cmd| (curl) and returns its stdout+stderr in |out|. */
static void run_cmd(const char *cmd, char *out, size_t size)
{
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    assert_int_equal(pclose(f), 0);
}

static void test_curl_interop(void **state)
{
    (void)state;
    server_start(NULL);
    static char out[16384];
    char cmd[512];
    /* Two URLs in one invocation: curl keeps the connection alive and reuses it. */
    snprintf(cmd, sizeof(cmd), "curl -sv --max-time 5 http://127.0.0.1:%d/one http://127.0.0.1:%d/two 2>&1", fx.port,
             fx.port);
    run_cmd(cmd, out, sizeof(out));
    assert_non_null(strstr(out, "path=/one"));
    assert_non_null(strstr(out, "path=/two"));
    assert_non_null(strstr(out, "Re-using existing connection"));
    assert_int_equal(atomic_load(&n_accepted), 1);
    /* Expect: 100-continue answered at once (curl would otherwise wait a second before the body). */
    snprintf(cmd, sizeof(cmd),
             "curl -s --max-time 5 -H 'Expect: 100-continue' --expect100-timeout 3 --data-binary hello "
             "http://127.0.0.1:%d/echo 2>&1",
             fx.port);
    uint64_t t0 = ig_time_ns();
    run_cmd(cmd, out, sizeof(out));
    assert_string_equal(out, "echo:hello");
    assert_true(ig_time_ns() - t0 < 2000000000ull);
    /* A chunked upload. */
    snprintf(cmd, sizeof(cmd),
             "printf 'chunky' | curl -s --max-time 5 -H 'Transfer-Encoding: chunked' --data-binary @- "
             "http://127.0.0.1:%d/echo 2>&1",
             fx.port);
    run_cmd(cmd, out, sizeof(out));
    assert_string_equal(out, "echo:chunky");
    server_stop();
}

/*
 * Steady state allocates nothing: after warm-up requests on a keep-alive connection, the next
 * ig_malloc would abort the process (failure injection), yet twenty more requests succeed.
 */
static void test_no_malloc_per_request(void **state)
{
    (void)state;
    server_start(NULL);
    struct raw r;
    struct resp p;
    raw_connect(&r);
    static const char req[] = "GET /steady HTTP/1.1\r\nHost: t\r\nUser-Agent: test\r\n\r\n";
    for (int i = 0; i < 3; i++) {
        raw_sends(&r, req);
        assert_int_equal(raw_response(&r, &p, 0), 0);
    }
    ig_mem_fail_after(1);
    for (int i = 0; i < 20; i++) {
        raw_sends(&r, req);
        assert_int_equal(raw_response(&r, &p, 0), 0);
        assert_int_equal(p.status, 200);
    }
    ig_mem_fail_after(0);
    raw_close(&r);
    server_stop();
}

/* Every byte in its own segment: heads, bodies and pipelining must not depend on read boundaries. */
static void test_byte_by_byte(void **state)
{
    (void)state;
    server_start(NULL);
    struct raw r;
    struct resp p;
    raw_connect(&r);
    int one = 1;
    setsockopt(r.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    static const char reqs[] = "GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
                               "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "3\r\nabc\r\n0\r\n\r\n"
                               "GET /b HTTP/1.1\r\nHost: t\r\n\r\n";
    for (size_t i = 0; i < sizeof(reqs) - 1; i++) {
        raw_send(&r, reqs + i, 1);
        if (i % 8 == 0)
            usleep(200);
    }
    assert_int_equal(raw_response(&r, &p, 0), 0);
    assert_memory_equal(p.body, "path=/a", 7);
    assert_int_equal(raw_response(&r, &p, 0), 0);
    assert_int_equal(p.body_len, 8);
    assert_memory_equal(p.body, "echo:abc", 8);
    assert_int_equal(raw_response(&r, &p, 0), 0);
    assert_memory_equal(p.body, "path=/b", 7);
    raw_close(&r);
    server_stop();
}

/* TLS: ALPN picks the engine (curl offers h2 and http/1.1, or only http/1.1). */
static void test_tls_alpn(void **state)
{
    (void)state;
    char dir[] = "/tmp/ig_h1s_tlsXXXXXX";
    assert_non_null(mkdtemp(dir));
    char cert[128], key[128], err[256];
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    assert_int_equal(ig_tls_self_signed("localhost", cert, key), 0);
    SSL_CTX *ctx = ig_tls_server_ctx(cert, key, "h2,http/1.1", err, sizeof(err));
    assert_non_null(ctx);
    struct ig_http_server_config cfg = {.ssl_ctx = ctx};
    server_start(&cfg);
    static char out[4096];
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "curl -sk --max-time 5 --http1.1 -w ' v=%%{http_version}' https://127.0.0.1:%d/t1 2>&1",
             fx.port);
    run_cmd(cmd, out, sizeof(out));
    assert_string_equal(out, "path=/t1 v=1.1");
    snprintf(cmd, sizeof(cmd), "curl -sk --max-time 5 --http2 -w ' v=%%{http_version}' https://127.0.0.1:%d/t2 2>&1",
             fx.port);
    run_cmd(cmd, out, sizeof(out));
    assert_string_equal(out, "path=/t2 v=2");
    server_stop();
    SSL_CTX_free(ctx);
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_keepalive_three, teardown),
        cmocka_unit_test_teardown(test_pipelining, teardown),
        cmocka_unit_test_teardown(test_chunked_request_body, teardown),
        cmocka_unit_test_teardown(test_expect_continue, teardown),
        cmocka_unit_test_teardown(test_head, teardown),
        cmocka_unit_test_teardown(test_chunked_response_raw, teardown),
        cmocka_unit_test_teardown(test_hostile_inputs, teardown),
        cmocka_unit_test_teardown(test_oversize_headers, teardown),
        cmocka_unit_test_teardown(test_header_timeout, teardown),
        cmocka_unit_test_teardown(test_idle_timeout, teardown),
        cmocka_unit_test_teardown(test_slow_reader, teardown),
        cmocka_unit_test_teardown(test_client_disconnect, teardown),
        cmocka_unit_test_teardown(test_reset, teardown),
        cmocka_unit_test_teardown(test_drain, teardown),
        cmocka_unit_test_teardown(test_preface_detection, teardown),
        cmocka_unit_test_teardown(test_curl_interop, teardown),
        cmocka_unit_test_teardown(test_byte_by_byte, teardown),
        cmocka_unit_test_teardown(test_no_malloc_per_request, teardown),
        cmocka_unit_test_teardown(test_tls_alpn, teardown),
    };
    /* IG_TEST_FILTER=test_head runs one test (cmocka's glob). */
    if (getenv("IG_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("IG_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
