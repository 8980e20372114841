/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for logging: level names and parsing, level filtering, and the exact shape of text
 * and JSON lines written to a pipe (one write per line, escaped JSON, newline-terminated).
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ig/core.h"

static int pipefd[2];

static int setup(void **state)
{
    (void)state;
    if (pipe2(pipefd, O_NONBLOCK) != 0)
        return -1;
    ig_log_set_fd(pipefd[1]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ig_log_set_fd(STDERR_FILENO);
    ig_log_set_format(IG_LOG_TEXT);
    ig_log_set_level(IG_LOG_INFO);
    close(pipefd[0]);
    close(pipefd[1]);
    return 0;
}

/* Reads what is in the pipe now; returns the byte count. */
static size_t drain(char *buf, size_t size)
{
    ssize_t n = read(pipefd[0], buf, size - 1);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
    return (size_t)n;
}

static void test_level_parse(void **state)
{
    (void)state;
    enum ig_log_level l = IG_LOG_ERROR;
    assert_int_equal(ig_log_parse_level("debug", &l), 0);
    assert_int_equal(l, IG_LOG_DEBUG);
    assert_int_equal(ig_log_parse_level("trace", &l), 0);
    assert_int_equal(l, IG_LOG_TRACE);
    assert_int_equal(ig_log_parse_level("error", &l), 0);
    assert_int_equal(l, IG_LOG_ERROR);
    assert_int_equal(ig_log_parse_level("warn", &l), 0);
    assert_int_equal(ig_log_parse_level("info", &l), 0);
    assert_int_equal(l, IG_LOG_INFO);
    assert_int_equal(ig_log_parse_level("warning", &l), IG_EINVAL);
    assert_int_equal(ig_log_parse_level("INFO", &l), IG_EINVAL);
    assert_int_equal(ig_log_parse_level("", &l), IG_EINVAL);
    assert_int_equal(ig_log_parse_level(NULL, &l), IG_EINVAL);
    assert_int_equal(l, IG_LOG_INFO);
    assert_string_equal(ig_log_level_name(IG_LOG_WARN), "warn");
    assert_string_equal(ig_log_level_name(IG_LOG_TRACE), "trace");
}

static void test_filtering(void **state)
{
    (void)state;
    char buf[8192];
    ig_log_set_format(IG_LOG_TEXT);
    ig_log_set_level(IG_LOG_WARN);
    assert_int_equal(ig_log_get_level(), IG_LOG_WARN);
    ig_log_info("t", "hidden %d", 1);
    ig_log_debug("t", "hidden %d", 2);
    assert_int_equal(drain(buf, sizeof(buf)), 0);
    ig_log_warn("t", "shown %d", 3);
    assert_true(drain(buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "shown 3"));
}

static void test_text_line(void **state)
{
    (void)state;
    char buf[8192];
    ig_log_set_format(IG_LOG_TEXT);
    ig_log_set_level(IG_LOG_INFO);
    ig_log_info("sim", "message key=%s", "value");
    size_t n = drain(buf, sizeof(buf));
    /* 2026-11-23T13:22:40.123Z info  sim: message key=value\n */
    assert_true(n > 24);
    assert_int_equal(buf[4], '-');
    assert_int_equal(buf[10], 'T');
    assert_int_equal(buf[19], '.');
    assert_int_equal(buf[23], 'Z');
    assert_string_equal(buf + 24, " info  sim: message key=value\n");
}

static void test_json_line(void **state)
{
    (void)state;
    char buf[8192];
    ig_log_set_format(IG_LOG_JSON);
    ig_log_set_level(IG_LOG_INFO);
    ig_log_error("gw", "bad \"quote\" back\\slash\nnew\ttab \x01 end");
    size_t n = drain(buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(buf[n - 1], '\n');
    assert_int_equal(strchr(buf, '\n'), buf + n - 1); /* exactly one line */
    assert_memory_equal(buf, "{\"time\":\"", 9);
    assert_int_equal(buf[9 + 23], 'Z');
    assert_string_equal(buf + 9 + 24, "\",\"level\":\"error\",\"scope\":\"gw\",\"message\":\"bad \\\"quote\\\" "
                                      "back\\\\slash\\nnew\\ttab \\u0001 end\"}\n");
}

static void test_long_line_is_one_write(void **state)
{
    (void)state;
    char buf[16384];
    static char big[10000];
    memset(big, 'x', sizeof(big) - 1);
    ig_log_set_format(IG_LOG_JSON);
    ig_log_info("big", "%s", big);
    size_t n = drain(buf, sizeof(buf));
    /* Truncated to fit one atomic pipe write, still a complete JSON line. */
    assert_true(n <= 4096);
    assert_true(n > 3000);
    assert_memory_equal(buf + n - 3, "\"}\n", 3);
    assert_int_equal(drain(buf, sizeof(buf)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_parse),
        cmocka_unit_test_setup_teardown(test_filtering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line_is_one_write, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
