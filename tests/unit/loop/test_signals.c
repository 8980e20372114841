/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the signal thread: SIGHUP and SIGTERM sent to the process reach the callbacks
 * of ig_signals_run (every other thread blocks them), ig_signals_quit from another thread ends
 * the wait promptly, and SIGPIPE is blocked so a write to a closed peer fails with EPIPE.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ig/loop.h"

static int hups, terms;

static void on_hup(int sig, void *arg)
{
    assert_int_equal(sig, SIGHUP);
    assert_ptr_equal(arg, &hups);
    hups++;
}

static void on_term(int sig, void *arg)
{
    (void)arg;
    assert_true(sig == SIGTERM || sig == SIGINT);
    terms++;
    if (terms == 2)
        ig_signals_quit();
}

static void *sender(void *arg)
{
    (void)arg;
    usleep(20000);
    kill(getpid(), SIGHUP);
    usleep(20000);
    kill(getpid(), SIGINT);
    usleep(20000);
    kill(getpid(), SIGTERM);
    return NULL;
}

static void test_signals_dispatch(void **state)
{
    (void)state;
    pthread_t t;
    alarm(10);
    assert_int_equal(pthread_create(&t, NULL, sender, NULL), 0);
    ig_signals_run(on_term, on_hup, &hups);
    pthread_join(t, NULL);
    alarm(0);
    assert_int_equal(hups, 1);
    assert_int_equal(terms, 2);
}

static void *quitter(void *arg)
{
    (void)arg;
    usleep(30000);
    ig_signals_quit();
    return NULL;
}

static void test_quit_from_other_thread(void **state)
{
    (void)state;
    pthread_t t;
    alarm(10);
    uint64_t start = ig_time_ns();
    assert_int_equal(pthread_create(&t, NULL, quitter, NULL), 0);
    ig_signals_run(NULL, NULL, NULL);
    uint64_t took = ig_time_ns() - start;
    pthread_join(t, NULL);
    alarm(0);
    assert_true(took >= 25000000);
    assert_true(took < 2000000000);
    /* A quit before run makes the next run return at once. */
    ig_signals_quit();
    start = ig_time_ns();
    ig_signals_run(NULL, NULL, NULL);
    assert_true(ig_time_ns() - start < 100000000);
}

static void test_sigpipe_blocked(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    errno = 0;
    assert_int_equal(write(sv[0], "x", 1), -1);
    assert_int_equal(errno, EPIPE);
    close(sv[0]);
}

int main(void)
{
    /* Before any thread exists, as the application does before starting workers. */
    ig_signals_block();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signals_dispatch),
        cmocka_unit_test(test_quit_from_other_thread),
        cmocka_unit_test(test_sigpipe_blocked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
