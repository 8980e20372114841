/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of response trailers: ig_http_stream_write_trailers on the server (HTTP/2: a trailing
 * HEADERS frame with END_STREAM; HTTP/1.1: IG_EUNSUPPORTED) and the on_trailers callback of the
 * client, over real sockets on 127.0.0.1. Covered: a body followed by trailers (the client sees
 * every body byte, then the trailers, then the end), trailers right after the head with no body,
 * a large body whose trailers wait until the last DATA frame, misuse (before the head, twice),
 * and HTTP/1.1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ig/http.h"
#include "ig/loop.h"
#include "ig_test_loop.h"

#define LARGE (3u << 20)

struct env {
    struct ig_test_http fx; /* loop, server, listener */
    int srv_closed;
    int srv_err;
    int h1_rc; /* what write_trailers returned on an HTTP/1.1 stream */
    char *large;
};

static struct env E;

static const ig_http_header_t trailers[] = {
    {IG_STRLIT("grpc-status"), IG_STRLIT("0")},
    {IG_STRLIT("X-Checksum"), IG_STRLIT("abc")}, /* lower-cased on the wire */
};

/* ---- server -------------------------------------------------------------------------------- */

static void srv_on_close(ig_http_stream_t *s, int err)
{
    (void)s;
    E.srv_closed = 1;
    E.srv_err = err;
}

static const struct ig_http_stream_handler srv_h = {.on_close = srv_on_close};

static void on_request(ig_http_stream_t *s)
{
    ig_http_response_t resp = {200, {NULL, 0, 0}, -1};
    s->handler = &srv_h;
    if (s->req.version != IG_HTTP_2) {
        /* Nothing sent yet: the HTTP/1.1 engine has no trailers at all. */
        E.h1_rc = ig_http_stream_write_trailers(s, trailers, 2);
        ig_http_stream_send(s, 200, "text/plain", "h1", 2);
        return;
    }
    /* Before the head: refused. */
    assert_int_equal(ig_http_stream_write_trailers(s, trailers, 2), IG_EINVAL);
    assert_int_equal(ig_http_stream_respond(s, &resp, 0), 0);
    if (ig_iov_eq(s->req.path, IG_STRLIT("/body"))) {
        assert_int_equal(ig_http_stream_write(s, "hello ", 6, 0), 0);
        assert_int_equal(ig_http_stream_write(s, "world", 5, 0), 0);
    } else if (ig_iov_eq(s->req.path, IG_STRLIT("/large"))) {
        int rc = ig_http_stream_write(s, E.large, LARGE, 0);
        assert_true(rc == 0 || rc == IG_EAGAIN);
    }
    assert_int_equal(ig_http_stream_write_trailers(s, trailers, 2), 0);
    /* The response is over: no second set, no more body. */
    assert_int_equal(ig_http_stream_write_trailers(s, trailers, 2), IG_EINVAL);
    assert_int_equal(ig_http_stream_write(s, "x", 1, 0), IG_EINVAL);
}

/* ---- client -------------------------------------------------------------------------------- */

struct creq {
    int status;
    size_t body;
    int body_after_trailers; /* body bytes delivered after on_trailers: must stay 0 */
    int ntrailers_calls;
    int end_after_trailers;
    char trailer_dump[256];
    int done;
    int err;
};

static void c_on_response(ig_http_cstream_t *cs, const ig_http_response_t *resp)
{
    ((struct creq *)cs->data)->status = resp->status;
}

static void c_on_body(ig_http_cstream_t *cs, const char *data, size_t len, int end)
{
    struct creq *r = cs->data;
    (void)data;
    r->body += len;
    if (r->ntrailers_calls != 0 && len != 0)
        r->body_after_trailers++;
    if (end)
        r->end_after_trailers = r->ntrailers_calls != 0;
}

static void c_on_trailers(ig_http_cstream_t *cs, const ig_http_headers_t *t)
{
    struct creq *r = cs->data;
    size_t off = 0;
    r->ntrailers_calls++;
    for (size_t i = 0; i < t->len && off < sizeof(r->trailer_dump); i++)
        off += (size_t)snprintf(r->trailer_dump + off, sizeof(r->trailer_dump) - off, "%.*s=%.*s;",
                                (int)t->v[i].name.len, t->v[i].name.base, (int)t->v[i].value.len, t->v[i].value.base);
}

static void c_on_close(ig_http_cstream_t *cs, int err)
{
    struct creq *r = cs->data;
    r->done = 1;
    r->err = err;
}

static const struct ig_http_cstream_handler client_h = {
    .on_response = c_on_response, .on_body = c_on_body, .on_close = c_on_close, .on_trailers = c_on_trailers};

/* ---- fixture ------------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    memset(&E, 0, sizeof(E));
    ig_test_http_start(&E.fx, NULL);
    E.fx.srv.on_request = on_request;
    E.large = malloc(LARGE);
    assert_non_null(E.large);
    memset(E.large, 'L', LARGE);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ig_test_http_stop(&E.fx);
    free(E.large);
    return 0;
}

static void fetch(int version, const char *path, struct creq *r)
{
    struct ig_http_client_config cfg = {0};
    cfg.addr = E.fx.addr;
    cfg.version = version;
    ig_http_client_t *c = ig_http_client_create(&E.fx.loop, &cfg);
    ig_http_request_t req = {0};
    req.method = IG_STRLIT("GET");
    req.path = ig_iov_cstr(path);
    req.authority = IG_STRLIT("127.0.0.1");
    req.version = version;
    req.content_length = -1;
    memset(r, 0, sizeof(*r));
    ig_http_client_request(c, &req, 1, &client_h, r);
    assert_true(ig_test_run_until(&E.fx.loop, &r->done, 5000));
    ig_http_client_destroy(c);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_body_then_trailers(void **state)
{
    struct creq r;
    (void)state;
    fetch(IG_HTTP_2, "/body", &r);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body, 11);
    assert_int_equal(r.ntrailers_calls, 1);
    assert_int_equal(r.body_after_trailers, 0);
    assert_true(r.end_after_trailers);
    assert_string_equal(r.trailer_dump, "grpc-status=0;x-checksum=abc;");
    assert_true(ig_test_run_until(&E.fx.loop, &E.srv_closed, 2000));
    assert_int_equal(E.srv_err, 0);
}

static void test_trailers_without_body(void **state)
{
    struct creq r;
    (void)state;
    fetch(IG_HTTP_2, "/empty", &r);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.body, 0);
    assert_int_equal(r.ntrailers_calls, 1);
    assert_true(r.end_after_trailers);
    assert_string_equal(r.trailer_dump, "grpc-status=0;x-checksum=abc;");
}

static void test_large_body_then_trailers(void **state)
{
    struct creq r;
    (void)state;
    fetch(IG_HTTP_2, "/large", &r);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.body, LARGE);
    assert_int_equal(r.ntrailers_calls, 1);
    assert_int_equal(r.body_after_trailers, 0);
    assert_true(r.end_after_trailers);
}

static void test_h1_unsupported(void **state)
{
    struct creq r;
    (void)state;
    fetch(IG_HTTP_11, "/body", &r);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body, 2);
    assert_int_equal(E.h1_rc, IG_EUNSUPPORTED);
    assert_int_equal(r.ntrailers_calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_body_then_trailers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailers_without_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_body_then_trailers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_h1_unsupported, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
