/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for slices: strict decimal parsing (overflow, empty, non-digit), case-insensitive
 * comparison and trimming.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ig/core.h"

static void test_to_u64(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(ig_iov_to_u64(IG_STRLIT("0"), &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(ig_iov_to_u64(IG_STRLIT("12345"), &v), 0);
    assert_int_equal(v, 12345);
    assert_int_equal(ig_iov_to_u64(IG_STRLIT("9223372036854775807"), &v), 0);
    assert_true(v == (uint64_t)INT64_MAX);
    /* Not part of the slice: parsing stops at its length, not at a NUL. */
    assert_int_equal(ig_iov_to_u64(ig_iov("42abc", 2), &v), 0);
    assert_int_equal(v, 42);
    v = 99;
    assert_int_equal(ig_iov_to_u64(IG_STRLIT("9223372036854775808"), &v), IG_EINVAL);
    assert_int_equal(ig_iov_to_u64(IG_STRLIT("18446744073709551616"), &v), IG_EINVAL);
    assert_int_equal(ig_iov_to_u64(IG_STRLIT("99999999999999999999999"), &v), IG_EINVAL);
    assert_int_equal(ig_iov_to_u64(IG_STRLIT(""), &v), IG_EINVAL);
    assert_int_equal(ig_iov_to_u64(IG_IOV_NULL, &v), IG_EINVAL);
    assert_int_equal(ig_iov_to_u64(IG_STRLIT("-1"), &v), IG_EINVAL);
    assert_int_equal(ig_iov_to_u64(IG_STRLIT("+1"), &v), IG_EINVAL);
    assert_int_equal(ig_iov_to_u64(IG_STRLIT(" 1"), &v), IG_EINVAL);
    assert_int_equal(ig_iov_to_u64(IG_STRLIT("1 "), &v), IG_EINVAL);
    assert_int_equal(ig_iov_to_u64(IG_STRLIT("1x"), &v), IG_EINVAL);
    assert_int_equal(ig_iov_to_u64(IG_STRLIT("0x10"), &v), IG_EINVAL);
    assert_int_equal(v, 99); /* untouched on failure */
}

static void test_eq_nocase(void **state)
{
    (void)state;
    assert_true(ig_iov_eq_nocase(IG_STRLIT("Content-Length"), IG_STRLIT("content-length")));
    assert_true(ig_iov_eq_nocase(IG_STRLIT(""), IG_IOV_NULL));
    assert_false(ig_iov_eq_nocase(IG_STRLIT("content-length"), IG_STRLIT("content-lengt")));
    assert_false(ig_iov_eq_nocase(IG_STRLIT("a"), IG_STRLIT("b")));
    /* Only ASCII letters fold: '@' (0x40) and '`' (0x60) differ by the case bit but are not letters. */
    assert_false(ig_iov_eq_nocase(IG_STRLIT("@"), IG_STRLIT("`")));
    assert_false(ig_iov_eq_nocase(IG_STRLIT("["), IG_STRLIT("{")));
    assert_true(ig_iov_eq(IG_STRLIT("abc"), IG_STRLIT("abc")));
    assert_false(ig_iov_eq(IG_STRLIT("abc"), IG_STRLIT("abC")));
}

static void test_trim(void **state)
{
    (void)state;
    ig_iov_t t = ig_iov_trim(IG_STRLIT(" \t value x \t "));
    assert_int_equal(t.len, 7);
    assert_memory_equal(t.base, "value x", 7);
    t = ig_iov_trim(IG_STRLIT("   "));
    assert_int_equal(t.len, 0);
    t = ig_iov_trim(IG_IOV_NULL);
    assert_int_equal(t.len, 0);
    t = ig_iov_trim(IG_STRLIT("x"));
    assert_int_equal(t.len, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_to_u64),
        cmocka_unit_test(test_eq_nocase),
        cmocka_unit_test(test_trim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
