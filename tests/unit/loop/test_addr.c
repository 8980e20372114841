/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for address parsing and formatting.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ig/loop.h"

static const char *roundtrip(const char *in, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    if (ig_addr_parse(in, &ss) != 0)
        return "ERR";
    return ig_addr_format((struct sockaddr *)&ss, buf, size);
}

static void test_parse_forms(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(roundtrip("127.0.0.1:8080", buf, sizeof(buf)), "127.0.0.1:8080");
    assert_string_equal(roundtrip("localhost:9002", buf, sizeof(buf)), "127.0.0.1:9002");
    assert_string_equal(roundtrip(":3000", buf, sizeof(buf)), "0.0.0.0:3000");
    assert_string_equal(roundtrip("3000", buf, sizeof(buf)), "0.0.0.0:3000");
    assert_string_equal(roundtrip("0", buf, sizeof(buf)), "0.0.0.0:0");
    assert_string_equal(roundtrip("[::1]:443", buf, sizeof(buf)), "[::1]:443");
    assert_string_equal(roundtrip("[::]:65535", buf, sizeof(buf)), "[::]:65535");
    assert_string_equal(roundtrip("[fe80::1:2]:1", buf, sizeof(buf)), "[fe80::1:2]:1");

    struct sockaddr_storage ss;
    assert_int_equal(ig_addr_parse("10.1.2.3:80", &ss), 0);
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), 80);
    assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x0a010203);
}

static void test_parse_errors(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    const char *bad[] = {
        "",
        ":",
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:65536",
        "127.0.0.1:-1",
        "1.2.3.4:8x",
        "example.com:80",
        "::1:80",
        "[::1]",
        "[::1]80",
        "[]:80",
        "[1.2.3.4]:80",
        "256.0.0.1:80",
        "1.2.3.4:0080000",
        " 1.2.3.4:80",
        "1.2.3.4: 80",
        "[zz]:1",
    };
    for (size_t i = 0; i < IG_ARRAY_LEN(bad); i++) {
        if (ig_addr_parse(bad[i], &ss) != IG_EINVAL)
            fail_msg("accepted '%s'", bad[i]);
    }
    assert_int_equal(ig_addr_parse(NULL, &ss), IG_EINVAL);
}

static void test_format_truncates(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    char small[8];
    assert_int_equal(ig_addr_parse("192.168.100.200:65000", &ss), 0);
    ig_addr_format((struct sockaddr *)&ss, small, sizeof(small));
    assert_int_equal(strlen(small), 7);
    assert_string_equal(ig_addr_format(NULL, small, sizeof(small)), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_format_truncates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
