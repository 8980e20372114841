/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for ig_buf_t: the hard cap (a failing append leaves the content unchanged),
 * reserve/commit, consume and the reclaiming of consumed space.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ig/core.h"

static void test_append_and_cap(void **state)
{
    (void)state;
    ig_buf_t b;
    ig_buf_init(&b, 10);
    assert_int_equal(ig_buf_append(&b, "hello", 5), 0);
    assert_int_equal(ig_buf_append(&b, "world", 5), 0);
    assert_int_equal(b.len, 10);
    /* One byte over the cap: rejected, content unchanged. */
    assert_int_equal(ig_buf_append(&b, "!", 1), IG_ETOOBIG);
    assert_int_equal(b.len, 10);
    assert_memory_equal(ig_buf_data(&b), "helloworld", 10);
    assert_null(ig_buf_reserve(&b, 1));
    assert_int_equal(ig_buf_appendf(&b, "%d", 1), IG_ETOOBIG);
    assert_int_equal(b.len, 10);
    assert_memory_equal(ig_buf_data(&b), "helloworld", 10);
    /* Empty appends are fine even when full. */
    assert_int_equal(ig_buf_append(&b, "", 0), 0);
    ig_buf_dispose(&b);
}

static void test_cap_after_consume(void **state)
{
    (void)state;
    ig_buf_t b;
    ig_buf_init(&b, 8);
    assert_int_equal(ig_buf_append(&b, "abcdefgh", 8), 0);
    ig_buf_consume(&b, 3);
    assert_int_equal(b.len, 5);
    assert_memory_equal(ig_buf_data(&b), "defgh", 5);
    /* The cap counts readable bytes, so consumed space is available again. */
    assert_int_equal(ig_buf_append(&b, "ijk", 3), 0);
    assert_memory_equal(ig_buf_data(&b), "defghijk", 8);
    assert_int_equal(ig_buf_append(&b, "l", 1), IG_ETOOBIG);
    ig_buf_consume(&b, 8);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.off, 0);
    ig_buf_dispose(&b);
}

static void test_reserve_commit(void **state)
{
    (void)state;
    ig_buf_t b;
    ig_buf_init(&b, 1 << 20);
    char *p = ig_buf_reserve(&b, 100);
    assert_non_null(p);
    memcpy(p, "xyz", 3);
    ig_buf_commit(&b, 3);
    assert_int_equal(b.len, 3);
    assert_true(b.cap >= 100);
    /* Growth preserves the data. */
    p = ig_buf_reserve(&b, 10000);
    assert_non_null(p);
    memset(p, 'z', 10000);
    ig_buf_commit(&b, 10000);
    assert_int_equal(b.len, 10003);
    assert_memory_equal(ig_buf_data(&b), "xyzzz", 5);
    ig_buf_consume(&b, 10000);
    assert_memory_equal(ig_buf_data(&b), "zzz", 3);
    ig_buf_reset(&b);
    assert_int_equal(b.len, 0);
    ig_buf_dispose(&b);
    assert_null(b.base);
}

static void test_consume_reclaims_without_growth(void **state)
{
    (void)state;
    ig_buf_t b;
    ig_buf_init(&b, 0);
    char block[300];
    memset(block, 'a', sizeof(block));
    assert_int_equal(ig_buf_append(&b, block, sizeof(block)), 0);
    size_t cap = b.cap;
    for (int i = 0; i < 100; i++) {
        ig_buf_consume(&b, 200);
        block[0] = (char)('0' + i % 10);
        assert_int_equal(ig_buf_append(&b, block, 200), 0);
        assert_int_equal(b.len, 300);
        assert_int_equal(ig_buf_data(&b)[100], (char)('0' + i % 10));
    }
    /* The slide-down reuses the allocation: a stream that stays under its size never grows. */
    assert_int_equal(b.cap, cap);
    ig_buf_dispose(&b);
}

static void test_appendf(void **state)
{
    (void)state;
    ig_buf_t b;
    ig_buf_init(&b, 64);
    assert_int_equal(ig_buf_appendf(&b, "%s=%d;", "a", 1), 0);
    assert_int_equal(ig_buf_appendf(&b, "%s=%d", "bb", 22), 0);
    assert_int_equal(b.len, 9);
    assert_memory_equal(ig_buf_data(&b), "a=1;bb=22", 9);
    /* Exactly at the cap is allowed (the NUL is not content). */
    char fill[64];
    memset(fill, 'f', 55);
    fill[55] = '\0';
    assert_int_equal(ig_buf_appendf(&b, "%s", fill), 0);
    assert_int_equal(b.len, 64);
    assert_int_equal(ig_buf_appendf(&b, "x"), IG_ETOOBIG);
    assert_int_equal(b.len, 64);
    ig_buf_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_cap), cmocka_unit_test(test_cap_after_consume),
        cmocka_unit_test(test_reserve_commit), cmocka_unit_test(test_consume_reclaims_without_growth),
        cmocka_unit_test(test_appendf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
