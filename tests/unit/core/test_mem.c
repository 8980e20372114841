/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for allocation: fault injection at the N-th allocation (the _try variant reports it,
 * the aborting variants abort), strdup helpers, and error strings.
 */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ig/core.h"

static void test_fail_after_try(void **state)
{
    (void)state;
    ig_mem_fail_after(3);
    void *a = ig_malloc_try(10);
    void *b = ig_malloc_try(10);
    void *c = ig_malloc_try(10); /* the third from now fails */
    void *d = ig_malloc_try(10);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(c);
    assert_non_null(d); /* one-shot */
    ig_free(a);
    ig_free(b);
    ig_free(d);
    ig_mem_fail_after(2);
    ig_mem_fail_after(0); /* disables */
    a = ig_malloc_try(1);
    b = ig_malloc_try(1);
    assert_non_null(a);
    assert_non_null(b);
    ig_free(a);
    ig_free(b);
    ig_free(NULL);
}

static void test_fail_aborts(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, STDERR_FILENO);
        ig_mem_fail_after(1);
        void *p = ig_malloc(16);
        (void)p;
        _exit(0); /* not reached when the injection works */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void test_strdup_realloc(void **state)
{
    (void)state;
    char *s = ig_strdup("hello");
    assert_string_equal(s, "hello");
    char *t = ig_strndup("hello", 3);
    assert_string_equal(t, "hel");
    s = ig_realloc(s, 1000);
    assert_string_equal(s, "hello");
    int *z = ig_calloc(10, sizeof(int));
    for (int i = 0; i < 10; i++)
        assert_int_equal(z[i], 0);
    ig_free(z);
    ig_free(s);
    ig_free(t);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(ig_strerror(IG_ETOOBIG), "limit exceeded");
    assert_string_equal(ig_strerror(0), "success");
    assert_string_equal(ig_strerror(-ECONNREFUSED), "Connection refused");
    assert_string_equal(ig_strerror(-99999), "unknown error");
    assert_true(ig_err_is_fatal(IG_EPROTO));
    assert_true(ig_err_is_fatal(IG_ECONNECT));
    assert_false(ig_err_is_fatal(IG_EAGAIN));
    assert_false(ig_err_is_fatal(IG_ECLOSED));
}

static void test_time(void **state)
{
    (void)state;
    uint64_t a = ig_time_ns();
    usleep(2000);
    uint64_t b = ig_time_ns();
    assert_true(b - a >= 2000000);
    assert_true(b - a < 2000000000);
    assert_true(ig_time_wall() > 1.7e9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_after_try), cmocka_unit_test(test_fail_aborts),
        cmocka_unit_test(test_strdup_realloc), cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
