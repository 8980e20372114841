/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the header list helpers and reason phrases (src/http/headers.c): growth past the
 * initial capacity keeps every entry, lookups are case-insensitive and resumable, removal is
 * stable and counts, and every status the gateway emits has its phrase.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ig/http.h"

static void test_add_grows(void **state)
{
    (void)state;
    ig_pool_t pool;
    ig_http_headers_t h = {NULL, 0, 0};
    static char names[100][16];

    ig_pool_init(&pool);
    for (int i = 0; i < 100; i++) {
        snprintf(names[i], sizeof(names[i]), "x-h%d", i);
        ig_http_headers_add(&pool, &h, ig_iov_cstr(names[i]), IG_STRLIT("v"));
        assert_int_equal(h.len, (size_t)i + 1);
        assert_true(h.cap >= h.len);
    }
    for (int i = 0; i < 100; i++) {
        assert_ptr_equal(h.v[i].name.base, names[i]); /* borrowed, not copied */
        assert_int_equal(ig_http_headers_find(&h, ig_iov_cstr(names[i]), 0), i);
    }
    ig_pool_dispose(&pool);
}

static void test_add_to_borrowed_array(void **state)
{
    (void)state;
    ig_pool_t pool;
    ig_http_header_t fixed[2] = {{IG_STRLIT("a"), IG_STRLIT("1")}, {IG_STRLIT("b"), IG_STRLIT("2")}};
    ig_http_headers_t h = {fixed, 2, 2};

    ig_pool_init(&pool);
    ig_http_headers_add(&pool, &h, IG_STRLIT("c"), IG_STRLIT("3"));
    assert_int_equal(h.len, 3);
    assert_ptr_not_equal(h.v, fixed); /* moved into the pool, the original is untouched */
    assert_true(ig_iov_eq(h.v[0].value, IG_STRLIT("1")));
    assert_true(ig_iov_eq(h.v[1].value, IG_STRLIT("2")));
    assert_true(ig_iov_eq(h.v[2].value, IG_STRLIT("3")));
    assert_true(ig_iov_eq(fixed[1].name, IG_STRLIT("b")));
    ig_pool_dispose(&pool);
}

static void test_find(void **state)
{
    (void)state;
    ig_pool_t pool;
    ig_http_headers_t h = {NULL, 0, 0};

    ig_pool_init(&pool);
    ig_http_headers_add(&pool, &h, IG_STRLIT("Content-Type"), IG_STRLIT("text/plain"));
    ig_http_headers_add(&pool, &h, IG_STRLIT("Set-Cookie"), IG_STRLIT("a=1"));
    ig_http_headers_add(&pool, &h, IG_STRLIT("x"), IG_STRLIT(""));
    ig_http_headers_add(&pool, &h, IG_STRLIT("set-cookie"), IG_STRLIT("b=2"));

    assert_int_equal(ig_http_headers_find(&h, IG_STRLIT("content-type"), 0), 0);
    assert_int_equal(ig_http_headers_find(&h, IG_STRLIT("CONTENT-TYPE"), 0), 0);
    assert_int_equal(ig_http_headers_find(&h, IG_STRLIT("content-typ"), 0), -1);
    assert_int_equal(ig_http_headers_find(&h, IG_STRLIT("content-type"), 1), -1);
    /* iterate over repeated headers */
    ssize_t i = ig_http_headers_find(&h, IG_STRLIT("SET-COOKIE"), 0);
    assert_int_equal(i, 1);
    i = ig_http_headers_find(&h, IG_STRLIT("SET-COOKIE"), (size_t)i + 1);
    assert_int_equal(i, 3);
    assert_int_equal(ig_http_headers_find(&h, IG_STRLIT("SET-COOKIE"), (size_t)i + 1), -1);
    assert_int_equal(ig_http_headers_find(&h, IG_STRLIT("x"), 0), 2);
    assert_int_equal(ig_http_headers_find(&h, IG_STRLIT("x"), 100), -1);

    ig_http_headers_t empty = {NULL, 0, 0};
    assert_int_equal(ig_http_headers_find(&empty, IG_STRLIT("x"), 0), -1);
    ig_pool_dispose(&pool);
}

static void test_remove(void **state)
{
    (void)state;
    ig_pool_t pool;
    ig_http_headers_t h = {NULL, 0, 0};
    const char *names[] = {"Connection", "a", "keep-alive", "connection", "b", "CONNECTION", "c"};

    ig_pool_init(&pool);
    for (size_t i = 0; i < IG_ARRAY_LEN(names); i++)
        ig_http_headers_add(&pool, &h, ig_iov_cstr(names[i]), ig_iov_cstr(names[i]));

    assert_int_equal(ig_http_headers_remove(&h, IG_STRLIT("connection")), 3);
    assert_int_equal(h.len, 4);
    /* the others keep their order */
    assert_true(ig_iov_eq(h.v[0].name, IG_STRLIT("a")));
    assert_true(ig_iov_eq(h.v[1].name, IG_STRLIT("keep-alive")));
    assert_true(ig_iov_eq(h.v[2].name, IG_STRLIT("b")));
    assert_true(ig_iov_eq(h.v[3].name, IG_STRLIT("c")));
    assert_int_equal(ig_http_headers_remove(&h, IG_STRLIT("connection")), 0);
    assert_int_equal(ig_http_headers_remove(&h, IG_STRLIT("C")), 1);
    assert_int_equal(h.len, 3);
    assert_true(ig_iov_eq(h.v[2].name, IG_STRLIT("b")));
    /* removing everything, then adding again */
    assert_int_equal(ig_http_headers_remove(&h, IG_STRLIT("a")), 1);
    assert_int_equal(ig_http_headers_remove(&h, IG_STRLIT("b")), 1);
    assert_int_equal(ig_http_headers_remove(&h, IG_STRLIT("keep-alive")), 1);
    assert_int_equal(h.len, 0);
    ig_http_headers_add(&pool, &h, IG_STRLIT("d"), IG_STRLIT("4"));
    assert_int_equal(ig_http_headers_find(&h, IG_STRLIT("D"), 0), 0);
    ig_pool_dispose(&pool);
}

static void test_reason(void **state)
{
    (void)state;
    static const int codes[] = {100, 101, 200, 201, 202, 203, 204, 205, 206, 300, 301, 302, 303, 304, 305, 307,
                                308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414,
                                415, 416, 417, 421, 422, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505};
    for (size_t i = 0; i < IG_ARRAY_LEN(codes); i++) {
        const char *r = ig_http_reason(codes[i]);
        assert_non_null(r);
        if (strcmp(r, "Unknown") == 0)
            fail_msg("no reason for %d", codes[i]);
    }
    assert_string_equal(ig_http_reason(200), "OK");
    assert_string_equal(ig_http_reason(404), "Not Found");
    assert_string_equal(ig_http_reason(414), "URI Too Long");
    assert_string_equal(ig_http_reason(431), "Request Header Fields Too Large");
    assert_string_equal(ig_http_reason(503), "Service Unavailable");
    assert_string_equal(ig_http_reason(0), "Unknown");
    assert_string_equal(ig_http_reason(299), "Unknown");
    assert_string_equal(ig_http_reason(-1), "Unknown");
    assert_string_equal(ig_http_reason(999), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_grows), cmocka_unit_test(test_add_to_borrowed_array),
        cmocka_unit_test(test_find),      cmocka_unit_test(test_remove),
        cmocka_unit_test(test_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
