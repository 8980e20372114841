/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the gRPC header values: status names and parsing, the HTTP-to-gRPC status
 * mapping, content-type recognition, grpc-message percent-encoding both ways and grpc-timeout
 * parsing and formatting, plus the arena-backed protobuf-c allocator's limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ig/grpc.h"

static void test_status(void **state)
{
    (void)state;
    int code = -1;
    assert_string_equal(ig_grpc_status_name(IG_GRPC_OK), "OK");
    assert_string_equal(ig_grpc_status_name(IG_GRPC_RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
    assert_string_equal(ig_grpc_status_name(IG_GRPC_UNAUTHENTICATED), "UNAUTHENTICATED");
    assert_string_equal(ig_grpc_status_name(17), "UNKNOWN");
    assert_string_equal(ig_grpc_status_name(-1), "UNKNOWN");
    for (int i = 0; i < IG_GRPC_STATUS_COUNT; i++)
        assert_non_null(ig_grpc_status_name(i));

    assert_int_equal(ig_grpc_status_parse(IG_STRLIT("0"), &code), 0);
    assert_int_equal(code, 0);
    assert_int_equal(ig_grpc_status_parse(IG_STRLIT("14"), &code), 0);
    assert_int_equal(code, IG_GRPC_UNAVAILABLE);
    assert_int_equal(ig_grpc_status_parse(IG_STRLIT("99"), &code), 0);
    assert_int_equal(code, 99);
    assert_int_equal(ig_grpc_status_parse(IG_STRLIT(""), &code), IG_EINVAL);
    assert_int_equal(ig_grpc_status_parse(IG_STRLIT("-1"), &code), IG_EINVAL);
    assert_int_equal(ig_grpc_status_parse(IG_STRLIT(" 1"), &code), IG_EINVAL);
    assert_int_equal(ig_grpc_status_parse(IG_STRLIT("12345678901"), &code), IG_EINVAL);

    assert_int_equal(ig_grpc_status_from_http(400), IG_GRPC_INTERNAL);
    assert_int_equal(ig_grpc_status_from_http(401), IG_GRPC_UNAUTHENTICATED);
    assert_int_equal(ig_grpc_status_from_http(403), IG_GRPC_PERMISSION_DENIED);
    assert_int_equal(ig_grpc_status_from_http(404), IG_GRPC_UNIMPLEMENTED);
    assert_int_equal(ig_grpc_status_from_http(429), IG_GRPC_UNAVAILABLE);
    assert_int_equal(ig_grpc_status_from_http(503), IG_GRPC_UNAVAILABLE);
    assert_int_equal(ig_grpc_status_from_http(500), IG_GRPC_UNKNOWN);

    assert_int_equal(ig_grpc_status_from_err(0), IG_GRPC_OK);
    assert_int_equal(ig_grpc_status_from_err(IG_ETIMEDOUT), IG_GRPC_DEADLINE_EXCEEDED);
    assert_int_equal(ig_grpc_status_from_err(IG_ERESET), IG_GRPC_UNAVAILABLE);
    assert_int_equal(ig_grpc_status_from_err(IG_EPROTO), IG_GRPC_INTERNAL);
}

static void test_content_type(void **state)
{
    (void)state;
    assert_true(ig_grpc_is_content_type(IG_STRLIT("application/grpc")));
    assert_true(ig_grpc_is_content_type(IG_STRLIT("application/grpc+proto")));
    assert_true(ig_grpc_is_content_type(IG_STRLIT("Application/GRPC;charset=utf-8")));
    assert_false(ig_grpc_is_content_type(IG_STRLIT("application/grpc-web")));
    assert_false(ig_grpc_is_content_type(IG_STRLIT("application/json")));
    assert_false(ig_grpc_is_content_type(IG_STRLIT("application/grp")));
    assert_false(ig_grpc_is_content_type(IG_STRLIT("")));
}

static void test_message_encoding(void **state)
{
    (void)state;
    ig_pool_t pool;
    ig_pool_init(&pool);

    ig_iov_t e = ig_grpc_message_encode(&pool, IG_STRLIT("no endpoints: 100% busy\n"));
    assert_string_equal(e.base, "no endpoints: 100%25 busy%0A");
    /* UTF-8 is encoded per byte (gRPC's own example: "\xe3\x81\xa1" for "ち"). */
    e = ig_grpc_message_encode(&pool, IG_STRLIT("\xe3\x81\xa1"));
    assert_string_equal(e.base, "%E3%81%A1");
    e = ig_grpc_message_encode(&pool, IG_STRLIT(""));
    assert_int_equal(e.len, 0);
    assert_string_equal(e.base, "");

    ig_iov_t d = ig_grpc_message_decode(&pool, IG_STRLIT("100%25 busy%0a%E3%81%A1"));
    assert_int_equal(d.len, strlen("100% busy\n\xe3\x81\xa1"));
    assert_memory_equal(d.base, "100% busy\n\xe3\x81\xa1", d.len);
    /* Invalid escapes are kept as they are. */
    d = ig_grpc_message_decode(&pool, IG_STRLIT("50% %zz %4"));
    assert_string_equal(d.base, "50% %zz %4");
    d = ig_grpc_message_decode(&pool, IG_STRLIT("%"));
    assert_string_equal(d.base, "%");

    /* Round trip over every byte value. */
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    e = ig_grpc_message_encode(&pool, ig_iov(all, sizeof(all)));
    for (size_t i = 0; i < e.len; i++)
        assert_true(e.base[i] >= 0x20 && e.base[i] <= 0x7e);
    d = ig_grpc_message_decode(&pool, e);
    assert_int_equal(d.len, sizeof(all));
    assert_memory_equal(d.base, all, sizeof(all));
    ig_pool_dispose(&pool);
}

static void test_timeout(void **state)
{
    (void)state;
    uint64_t ns = 0;
    char buf[IG_GRPC_TIMEOUT_MAX];

    assert_int_equal(ig_grpc_timeout_parse(IG_STRLIT("1S"), &ns), 0);
    assert_true(ns == 1000000000ull);
    assert_int_equal(ig_grpc_timeout_parse(IG_STRLIT("250m"), &ns), 0);
    assert_true(ns == 250000000ull);
    assert_int_equal(ig_grpc_timeout_parse(IG_STRLIT("7u"), &ns), 0);
    assert_true(ns == 7000ull);
    assert_int_equal(ig_grpc_timeout_parse(IG_STRLIT("99999999n"), &ns), 0);
    assert_true(ns == 99999999ull);
    assert_int_equal(ig_grpc_timeout_parse(IG_STRLIT("2M"), &ns), 0);
    assert_true(ns == 120000000000ull);
    assert_int_equal(ig_grpc_timeout_parse(IG_STRLIT("99999999H"), &ns), 0);
    assert_true(ns == UINT64_MAX); /* saturated */
    assert_int_equal(ig_grpc_timeout_parse(IG_STRLIT("1"), &ns), IG_EINVAL);
    assert_int_equal(ig_grpc_timeout_parse(IG_STRLIT("S"), &ns), IG_EINVAL);
    assert_int_equal(ig_grpc_timeout_parse(IG_STRLIT("1s"), &ns), IG_EINVAL);
    assert_int_equal(ig_grpc_timeout_parse(IG_STRLIT("123456789S"), &ns), IG_EINVAL);
    assert_int_equal(ig_grpc_timeout_parse(IG_STRLIT("-1S"), &ns), IG_EINVAL);
    assert_int_equal(ig_grpc_timeout_parse(IG_STRLIT(" 1S"), &ns), IG_EINVAL);

    assert_int_equal(ig_grpc_timeout_format(buf, 0), 2);
    assert_string_equal(buf, "0n");
    ig_grpc_timeout_format(buf, 99999999ull);
    assert_string_equal(buf, "99999999n");
    ig_grpc_timeout_format(buf, 100000000ull);
    assert_string_equal(buf, "100000u");
    ig_grpc_timeout_format(buf, 100000001ull); /* rounded up, never shorter */
    assert_string_equal(buf, "100001u");
    ig_grpc_timeout_format(buf, 10ull * 1000000000ull);
    assert_string_equal(buf, "10000000u");
    ig_grpc_timeout_format(buf, 1000ull * 1000000000ull);
    assert_string_equal(buf, "1000000m");
    ig_grpc_timeout_format(buf, UINT64_MAX);
    assert_string_equal(buf, "5124096H");
    /* Formatting then parsing never gives less than the input. */
    for (uint64_t v = 1; v < UINT64_MAX / 3; v = v * 3 + 1) {
        size_t n = ig_grpc_timeout_format(buf, v);
        assert_true(n >= 2 && n < IG_GRPC_TIMEOUT_MAX);
        assert_int_equal(ig_grpc_timeout_parse(ig_iov(buf, n), &ns), 0);
        assert_true(ns >= v);
    }
}

static void test_pballoc(void **state)
{
    (void)state;
    ig_pool_t pool;
    struct ig_grpc_pballoc a;
    ig_pool_init(&pool);
    ig_grpc_pballoc_init(&a, &pool, 128);
    void *p = a.base.alloc(a.base.allocator_data, 60); /* counts as 64: pool granules */
    assert_non_null(p);
    memset(p, 1, 60);
    assert_int_equal(a.used, 64);
    assert_null(a.base.alloc(a.base.allocator_data, 65)); /* 64 + 80 > 128 */
    assert_true(a.refused);
    assert_non_null(a.base.alloc(a.base.allocator_data, 64));
    assert_null(a.base.alloc(a.base.allocator_data, 1));
    assert_null(a.base.alloc(a.base.allocator_data, SIZE_MAX));
    a.base.free(a.base.allocator_data, p); /* a no-op: the pool owns it */
    assert_int_equal(a.used, 128);

    ig_grpc_pballoc_init(&a, &pool, 0); /* no cap */
    assert_non_null(a.base.alloc(a.base.allocator_data, 100000));
    assert_non_null(a.base.alloc(a.base.allocator_data, 0));
    assert_false(a.refused);
    ig_pool_dispose(&pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status),  cmocka_unit_test(test_content_type), cmocka_unit_test(test_message_encoding),
        cmocka_unit_test(test_timeout), cmocka_unit_test(test_pballoc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
