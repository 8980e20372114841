/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Go-style durations: the forms agentgateway accepts ("10s", "1m30s", "250ms", "1h", fractions,
 * micro-second spellings), the ones it rejects (no unit, unknown unit, negative, overflow), and
 * Go's formatting used by the config dump.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ig/config.h"

#define MS  1000000ULL
#define SEC 1000000000ULL

static uint64_t parse_ok(const char *s)
{
    uint64_t ns = 12345;
    const char *why = NULL;
    if (ig_config_parse_duration(ig_iov_cstr(s), &ns, &why) != 0)
        fail_msg("\"%s\": %s", s, why);
    return ns;
}

static const char *parse_err(const char *s)
{
    uint64_t ns;
    const char *why = NULL;
    assert_int_equal(ig_config_parse_duration(ig_iov_cstr(s), &ns, &why), IG_EINVAL);
    assert_non_null(why);
    return why;
}

static void test_parse(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("10s"), 10 * SEC);
    assert_int_equal(parse_ok("1m30s"), 90 * SEC);
    assert_int_equal(parse_ok("250ms"), 250 * MS);
    assert_int_equal(parse_ok("1h"), 3600 * SEC);
    assert_int_equal(parse_ok("0"), 0);
    assert_int_equal(parse_ok("0s"), 0);
    assert_int_equal(parse_ok("+5s"), 5 * SEC);
    assert_int_equal(parse_ok("-0"), 0);
    assert_int_equal(parse_ok("1.5h"), 5400 * SEC);
    assert_int_equal(parse_ok(".5s"), 500 * MS);
    assert_int_equal(parse_ok("1.s"), SEC);
    assert_int_equal(parse_ok("2h45m"), (2 * 3600 + 45 * 60) * SEC);
    assert_int_equal(parse_ok("1h2m3s4ms5us6ns"), 3723 * SEC + 4 * MS + 5000 + 6);
    assert_int_equal(parse_ok("3\xc2\xb5s"), 3000);
    assert_int_equal(parse_ok("3\xce\xbcs"), 3000);
    assert_int_equal(parse_ok("1.000000001s"), SEC + 1);
    assert_int_equal(parse_ok("9223372036854775807ns"), (uint64_t)INT64_MAX);
    assert_int_equal(parse_ok("10m0s"), 600 * SEC);
}

static void test_parse_errors(void **state)
{
    (void)state;
    assert_string_equal(parse_err(""), "empty duration");
    assert_string_equal(parse_err("10"), "missing unit (ns, us, ms, s, m, h)");
    assert_string_equal(parse_err("10 s"), "unknown unit (expected ns, us, ms, s, m, h)");
    assert_string_equal(parse_err("10d"), "unknown unit (expected ns, us, ms, s, m, h)");
    assert_string_equal(parse_err("-1s"), "negative durations are not allowed");
    assert_string_equal(parse_err("s"), "expected a number");
    assert_string_equal(parse_err("."), "expected a number");
    assert_string_equal(parse_err("1s."), "expected a number");
    assert_string_equal(parse_err("9223372036854775808ns"), "too large");
    assert_string_equal(parse_err("2562048h"), "too large");
    assert_string_equal(parse_err("2562047h48m"), "too large");
    assert_string_equal(parse_err("99999999999999999999999s"), "too large");
}

static void check_fmt(uint64_t ns, const char *want)
{
    char buf[64];
    assert_string_equal(ig_config_format_duration(ns, buf, sizeof(buf)), want);
    /* What is printed parses back to the same value. */
    assert_int_equal(parse_ok(buf), ns);
}

static void test_format(void **state)
{
    (void)state;
    check_fmt(0, "0s");
    check_fmt(1, "1ns");
    check_fmt(1100, "1.1\xc2\xb5s");
    check_fmt(2200 * 1000, "2.2ms");
    check_fmt(250 * MS, "250ms");
    check_fmt(3 * SEC + 300 * MS, "3.3s");
    check_fmt(10 * SEC, "10s");
    check_fmt(90 * SEC, "1m30s");
    check_fmt(600 * SEC, "10m0s");
    check_fmt(3600 * SEC, "1h0m0s");
    check_fmt(5 * 3600 * SEC + 6 * 60 * SEC + 7 * SEC + MS, "5h6m7.001s");
    char tiny[4];
    ig_config_format_duration(600 * SEC, tiny, sizeof(tiny));
    assert_string_equal(tiny, "10m");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
