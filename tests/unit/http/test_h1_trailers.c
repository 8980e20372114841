/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of HTTP/1.1 chunked request trailers: the decoder handing out the trailer field
 * lines (whole, and cut at every byte), ig_h1_trailers_parse splitting them (bounded count,
 * whitespace, malformed lines), and the HTTP/1.1 server reporting them to the stream handler's
 * on_trailers before the body's end, over a real socket: in one write and in pieces, without
 * trailers, to a handler without on_trailers, and refused with 431 beyond the header count limit.
 * The server's loop runs on a thread while the test speaks to it with a blocking socket.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <cmocka.h>

#include "ig/http.h"
#include "ig_test_loop.h"

/* ---- decoder --------------------------------------------------------------------------------- */

struct sink {
    char data[256];
    size_t ndata;
    char trail[256];
    size_t ntrail;
    int trail_calls;
};

static void on_data(void *arg, const char *data, size_t len)
{
    struct sink *k = arg;
    assert_true(k->ndata + len <= sizeof(k->data));
    memcpy(k->data + k->ndata, data, len);
    k->ndata += len;
}

static void on_trailer(void *arg, const char *data, size_t len)
{
    struct sink *k = arg;
    assert_true(len > 0);
    if (k->ntrail + len <= sizeof(k->trail)) /* the oversize case only counts */
        memcpy(k->trail + k->ntrail, data, len);
    k->ntrail += len;
    k->trail_calls++;
}

/* Feeds |in| in pieces of |step| bytes (0: all at once); returns the decoder's last answer. */
static int feed(const char *in, size_t len, size_t step, struct sink *k, size_t *consumed)
{
    ig_h1_chunked_t d;
    ig_h1_chunked_init(&d);
    memset(k, 0, sizeof(*k));
    size_t p = 0;
    int rc = 0;
    while (p < len && rc == 0) {
        size_t n = step == 0 ? len - p : IG_MIN(step, len - p);
        size_t used = n;
        rc = ig_h1_chunked_decode_trailers(&d, in + p, &used, on_data, on_trailer, k);
        p += used;
        if (rc == 0)
            assert_int_equal(used, n); /* more input is needed only once all was taken */
    }
    *consumed = p;
    return rc;
}

static void test_decode_trailers(void **state)
{
    (void)state;
    static const char in[] = "5\r\nhello\r\n4;x=y\r\n abc\r\n0\r\nx-sum: 42\r\nB-Tag:\tv w \r\n\r\nNEXT";
    static const char lines[] = "x-sum: 42\r\nB-Tag:\tv w \r\n";
    struct sink k;
    size_t used;
    for (size_t step = 0; step <= 7; step++) {
        assert_int_equal(feed(in, sizeof(in) - 1, step, &k, &used), 1);
        assert_int_equal(used, sizeof(in) - 1 - 4); /* the pipelined bytes stay unread */
        assert_int_equal(k.ndata, 9);
        assert_memory_equal(k.data, "hello abc", 9);
        assert_int_equal(k.ntrail, sizeof(lines) - 1);
        assert_memory_equal(k.trail, lines, sizeof(lines) - 1);
        if (step == 0)
            assert_int_equal(k.trail_calls, 1);
    }
    /* No trailers: no call. */
    static const char none[] = "2\r\nhi\r\n0\r\n\r\n";
    for (size_t step = 0; step <= 2; step++) {
        assert_int_equal(feed(none, sizeof(none) - 1, step, &k, &used), 1);
        assert_int_equal(k.trail_calls, 0);
    }
    /* Invalid trailer lines fail the body as before. */
    static const char fold[] = "0\r\na: 1\r\n folded\r\n\r\n";
    assert_int_equal(feed(fold, sizeof(fold) - 1, 0, &k, &used), IG_EPROTO);
    static const char sp[] = "0\r\na : 1\r\n\r\n";
    assert_int_equal(feed(sp, sizeof(sp) - 1, 3, &k, &used), IG_EPROTO);
    /* The trailer section stays bounded: a 70 KiB field is refused. */
    size_t big_len = 70000;
    char *big = malloc(big_len);
    memcpy(big, "0\r\nx: ", 6);
    memset(big + 6, 'v', big_len - 6);
    assert_int_equal(feed(big, big_len, 4096, &k, &used), IG_ETOOBIG);
    assert_true(k.ntrail <= 65536);
    free(big);
    /* The plain decoder still skips them. */
    ig_h1_chunked_t d;
    ig_h1_chunked_init(&d);
    used = sizeof(in) - 1;
    memset(&k, 0, sizeof(k));
    assert_int_equal(ig_h1_chunked_decode(&d, in, &used, on_data, &k), 1);
    assert_int_equal(k.ndata, 9);
}

static void test_parse(void **state)
{
    (void)state;
    ig_pool_t pool;
    ig_pool_init(&pool);
    ig_http_headers_t h = {NULL, 0, 0};
    static const char lines[] = "x-sum: 42\r\nB-Tag:\tv w \r\nempty:\r\n";
    assert_int_equal(ig_h1_trailers_parse(lines, sizeof(lines) - 1, 10, &pool, &h), 3);
    assert_int_equal(h.len, 3);
    assert_true(ig_iov_eq(h.v[0].name, IG_STRLIT("x-sum")));
    assert_true(ig_iov_eq(h.v[0].value, IG_STRLIT("42")));
    assert_true(ig_iov_eq(h.v[1].name, IG_STRLIT("B-Tag")));
    assert_true(ig_iov_eq(h.v[1].value, IG_STRLIT("v w")));
    assert_true(ig_iov_eq(h.v[2].name, IG_STRLIT("empty")));
    assert_int_equal(h.v[2].value.len, 0);
    /* The strings are copies. */
    assert_true(h.v[0].name.base < lines || h.v[0].name.base >= lines + sizeof(lines));

    ig_http_headers_t h2 = {NULL, 0, 0};
    assert_int_equal(ig_h1_trailers_parse(lines, sizeof(lines) - 1, 2, &pool, &h2), IG_ETOOBIG);
    ig_http_headers_t h3 = {NULL, 0, 0};
    assert_int_equal(ig_h1_trailers_parse("", 0, 2, &pool, &h3), 0);
    assert_int_equal(ig_h1_trailers_parse("novalue\r\n", 9, 2, &pool, &h3), IG_EPROTO);
    assert_int_equal(ig_h1_trailers_parse(":v\r\n", 4, 2, &pool, &h3), IG_EPROTO);
    assert_int_equal(ig_h1_trailers_parse("a: 1\r", 5, 2, &pool, &h3), IG_EPROTO);
    assert_int_equal(ig_h1_trailers_parse("a: 1", 4, 2, &pool, &h3), IG_EPROTO);
    ig_pool_dispose(&pool);
}

/* ---- server ---------------------------------------------------------------------------------- */

/* What one request saw, reported in its response body. */
struct seen {
    size_t body;
    int trailer_calls;
    int trailers_before_end;
    char trailers[512];
    size_t ntr;
};

static void on_body(ig_http_stream_t *s, const char *data, size_t len, int end)
{
    (void)data;
    struct seen *v = s->data;
    v->body += len;
    if (!end)
        return;
    char out[700];
    int n = snprintf(out, sizeof(out), "body=%zu calls=%d before_end=%d trailers=%.*s", v->body, v->trailer_calls,
                     v->trailers_before_end, (int)v->ntr, v->trailers);
    ig_http_stream_send(s, 200, "text/plain", out, (size_t)n);
}

static void on_trailers(ig_http_stream_t *s, const ig_http_headers_t *t)
{
    struct seen *v = s->data;
    v->trailer_calls++;
    v->trailers_before_end = 1;
    for (size_t i = 0; i < t->len; i++) {
        int n = snprintf(v->trailers + v->ntr, sizeof(v->trailers) - v->ntr, "%.*s=%.*s;", (int)t->v[i].name.len,
                         t->v[i].name.base, (int)t->v[i].value.len, t->v[i].value.base);
        if (n > 0 && (size_t)n < sizeof(v->trailers) - v->ntr)
            v->ntr += (size_t)n;
    }
}

static const struct ig_http_stream_handler with_trailers = {.on_body = on_body, .on_trailers = on_trailers};
static const struct ig_http_stream_handler without_trailers = {.on_body = on_body};

static void on_request(ig_http_stream_t *s)
{
    s->data = ig_pool_calloc(&s->pool, sizeof(struct seen));
    s->handler = ig_iov_eq(s->req.path, IG_STRLIT("/plain")) ? &without_trailers : &with_trailers;
}

static void server_start(struct ig_test_http_thread *sv, size_t max_headers)
{
    struct ig_http_server_config cfg = {.h1_limits = {.max_headers = max_headers}};
    ig_test_http_thread_start(sv, &cfg, on_request);
}

static int client_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Sends the pieces of |parts| (NULL-terminated), pausing between them so they arrive apart. */
static void send_parts(int fd, const char *const *parts)
{
    for (size_t i = 0; parts[i] != NULL; i++) {
        if (i > 0)
            usleep(20000);
        size_t n = strlen(parts[i]);
        assert_int_equal(send(fd, parts[i], n, MSG_NOSIGNAL), (ssize_t)n);
    }
}

/* Reads one response: its status and body (content-length framed) into |body|. */
static int read_response(int fd, char *body, size_t size)
{
    char buf[4096];
    size_t len = 0;
    body[0] = '\0';
    for (;;) {
        char *end = memmem(buf, len, "\r\n\r\n", 4);
        if (end != NULL) {
            int status = (int)strtol(buf + 9, NULL, 10);
            char *cl = memmem(buf, (size_t)(end - buf), "content-length: ", 16);
            size_t want = cl != NULL ? strtoul(cl + 16, NULL, 10) : 0;
            size_t have = len - (size_t)(end + 4 - buf);
            while (have < want) {
                ssize_t r = recv(fd, buf + len, sizeof(buf) - len, 0);
                assert_true(r > 0);
                len += (size_t)r;
                have += (size_t)r;
            }
            assert_true(want < size);
            memcpy(body, end + 4, want);
            body[want] = '\0';
            return status;
        }
        assert_true(len < sizeof(buf));
        ssize_t r = recv(fd, buf + len, sizeof(buf) - len, 0);
        if (r <= 0)
            return r == 0 ? 0 : -1;
        len += (size_t)r;
    }
}

#define HEAD(path) "POST " path " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"

static void test_server(void **state)
{
    (void)state;
    struct ig_test_http_thread sv;
    server_start(&sv, 4);
    char body[1024];
    int fd = client_connect(sv.port);

    /* All at once. */
    const char *const one[] = {HEAD("/t") "5\r\nhello\r\n0\r\nx-sum: 42\r\nB-Tag:\tv w \r\n\r\n", NULL};
    send_parts(fd, one);
    assert_int_equal(read_response(fd, body, sizeof(body)), 200);
    assert_string_equal(body, "body=5 calls=1 before_end=1 trailers=x-sum=42;B-Tag=v w;");

    /* The same connection, the trailer section cut inside a name, a value and before the last CRLF. */
    const char *const pieces[] = {HEAD("/t") "3\r\nabc\r\n0\r\nx-s", "um: 4", "2\r\nother: z\r\n", "\r\n", NULL};
    send_parts(fd, pieces);
    assert_int_equal(read_response(fd, body, sizeof(body)), 200);
    assert_string_equal(body, "body=3 calls=1 before_end=1 trailers=x-sum=42;other=z;");

    /* No trailers: no call. */
    const char *const none[] = {HEAD("/t") "2\r\nhi\r\n0\r\n\r\n", NULL};
    send_parts(fd, none);
    assert_int_equal(read_response(fd, body, sizeof(body)), 200);
    assert_string_equal(body, "body=2 calls=0 before_end=0 trailers=");

    /* A handler without on_trailers gets its body and the connection goes on. */
    const char *const plain[] = {HEAD("/plain") "2\r\nhi\r\n0\r\na: 1\r\n\r\n", NULL};
    send_parts(fd, plain);
    assert_int_equal(read_response(fd, body, sizeof(body)), 200);
    assert_string_equal(body, "body=2 calls=0 before_end=0 trailers=");

    /* More trailer fields than the header count limit (4): 431, the connection closes. */
    const char *const many[] = {HEAD("/t") "2\r\nhi\r\n0\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\ne: 5\r\n\r\n", NULL};
    send_parts(fd, many);
    assert_int_equal(read_response(fd, body, sizeof(body)), 431);
    assert_int_equal(read_response(fd, body, sizeof(body)), 0);
    close(fd);

    /* A malformed trailer line: 400. */
    fd = client_connect(sv.port);
    const char *const bad[] = {HEAD("/t") "2\r\nhi\r\n0\r\na : 1\r\n\r\n", NULL};
    send_parts(fd, bad);
    assert_int_equal(read_response(fd, body, sizeof(body)), 400);
    close(fd);
    ig_test_http_thread_stop(&sv);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_trailers),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
