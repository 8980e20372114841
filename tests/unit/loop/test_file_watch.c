/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for ig_file_watch in a temporary directory: a write, a rename over the file, a
 * delete and a create each call back; a burst of writes made while the loop is not running is
 * one call (the debounce); events in the directory for other names count too (a ConfigMap's
 * `..data` swap); stop cancels a pending call and is allowed from the callback; a missing
 * directory is an error. Every wait is bounded, and each test ends by closing its loop with
 * nothing left open.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ig/loop.h"
#include "ig_test_loop.h"

/* Long enough that the writes of one burst, made back to back, fall inside one window. */
#define DEBOUNCE_MS 50
/* Generous: the machine may be busy; a missing callback fails only after this. */
#define WAIT_MS 3000
/* After a callback, how long the test watches for a second one that must not come. */
#define QUIET_MS (3 * DEBOUNCE_MS)
/* For the test that stops a watch while its debounce is pending. */
#define LONG_DEBOUNCE_MS 400

static char dir[64], file[128], tmp[128];

struct watch_state {
    uv_loop_t loop;
    ig_file_watch_t *w;
    int calls;
    int status;
    int stop_in_cb;
};

static struct watch_state S;

static void on_change(ig_file_watch_t *w, int status, void *arg)
{
    struct watch_state *st = arg;
    assert_ptr_equal(w, st->w);
    st->calls++;
    st->status = status;
    if (st->stop_in_cb) {
        ig_file_watch_stop(w);
        st->w = NULL;
    }
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/ig-watch-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(file, sizeof(file), "%s/config.yaml", dir);
    snprintf(tmp, sizeof(tmp), "%s/.config.yaml.tmp", dir);
    write_file(file, "a: 1\n");
    memset(&S, 0, sizeof(S));
    assert_int_equal(uv_loop_init(&S.loop), 0);
    assert_int_equal(ig_file_watch_start(&S.loop, file, DEBOUNCE_MS, on_change, &S, &S.w), 0);
    assert_non_null(S.w);
    assert_string_equal(ig_file_watch_dir(S.w), dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ig_file_watch_stop(S.w);
    /* The watch's memory goes with its close callbacks: the loop must close with nothing open. */
    uv_run(&S.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&S.loop), 0);
    unlink(file);
    unlink(tmp);
    char other[160];
    snprintf(other, sizeof(other), "%s/..data", dir);
    unlink(other);
    rmdir(dir);
    return 0;
}

static int calls_reach(void *arg)
{
    return S.calls >= *(const int *)arg;
}

/* Waits for the next callback, then checks no second one follows: one change, one call. */
static void expect_one_call(void)
{
    int target = S.calls + 1;
    (void)ig_test_run_until_true(&S.loop, calls_reach, &target, WAIT_MS);
    assert_int_equal(S.calls, target);
    ig_test_run_for(&S.loop, QUIET_MS);
    assert_int_equal(S.calls, target);
    assert_int_equal(S.status, 0);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_write(void **state)
{
    (void)state;
    /* Nothing happened yet: no call. */
    ig_test_run_for(&S.loop, QUIET_MS);
    assert_int_equal(S.calls, 0);
    write_file(file, "a: 2\n");
    expect_one_call();
}

static void test_rename_over(void **state)
{
    (void)state;
    write_file(tmp, "a: 3\n");
    /* Settle the temporary file's own events first: the rename must call back on its own. */
    expect_one_call();
    assert_int_equal(rename(tmp, file), 0);
    expect_one_call();
    /* The directory watch survives the replaced inode: a write to the new file is seen. */
    write_file(file, "a: 4\n");
    expect_one_call();
}

static void test_delete_and_recreate(void **state)
{
    (void)state;
    assert_int_equal(unlink(file), 0);
    expect_one_call();
    write_file(file, "a: 5\n");
    expect_one_call();
}

static void test_debounce_coalesces(void **state)
{
    (void)state;
    /* Five saves in a row (and a rename) while the loop sleeps: their events arrive together. */
    for (int i = 0; i < 5; i++) {
        char text[32];
        snprintf(text, sizeof(text), "a: %d\n", 10 + i);
        write_file(file, text);
    }
    write_file(tmp, "a: 20\n");
    assert_int_equal(rename(tmp, file), 0);
    expect_one_call();
}

static void test_other_name_in_dir(void **state)
{
    char other[160];
    (void)state;
    /* A ConfigMap mount swaps a `..data` link, not the file: the directory event still counts. */
    snprintf(other, sizeof(other), "%s/..data", dir);
    write_file(other, "x");
    expect_one_call();
}

static void test_stop_cancels_pending(void **state)
{
    (void)state;
    /* A debounce far longer than the wait below, so a busy machine cannot fire it before the stop. */
    ig_file_watch_stop(S.w);
    assert_int_equal(ig_file_watch_start(&S.loop, file, LONG_DEBOUNCE_MS, on_change, &S, &S.w), 0);
    write_file(file, "a: 6\n");
    /* The event arrives and arms the debounce. */
    ig_test_run_for(&S.loop, 20);
    ig_file_watch_stop(S.w);
    S.w = NULL;
    ig_test_run_for(&S.loop, LONG_DEBOUNCE_MS + QUIET_MS);
    assert_int_equal(S.calls, 0);
    /* Later changes are not reported either. */
    write_file(file, "a: 7\n");
    ig_test_run_for(&S.loop, QUIET_MS);
    assert_int_equal(S.calls, 0);
}

static void test_stop_from_callback(void **state)
{
    (void)state;
    S.stop_in_cb = 1;
    write_file(file, "a: 8\n");
    expect_one_call();
    assert_null(S.w);
    write_file(file, "a: 9\n");
    ig_test_run_for(&S.loop, QUIET_MS);
    assert_int_equal(S.calls, 1);
}

static void test_missing_directory(void **state)
{
    uv_loop_t loop;
    ig_file_watch_t *w = (ig_file_watch_t *)&w;
    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(ig_file_watch_start(&loop, "/nonexistent/ig-watch/config.yaml", 0, on_change, NULL, &w), -ENOENT);
    assert_null(w);
    assert_int_equal(ig_file_watch_start(&loop, "", 0, on_change, NULL, &w), IG_EINVAL);
    /* The failed start leaves nothing open once its close callbacks ran. */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_bare_name_watches_cwd(void **state)
{
    uv_loop_t loop;
    ig_file_watch_t *w;
    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(ig_file_watch_start(&loop, "config.yaml", 0, on_change, NULL, &w), 0);
    assert_string_equal(ig_file_watch_dir(w), ".");
    ig_file_watch_stop(w);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_and_recreate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_debounce_coalesces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_name_in_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_cancels_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_from_callback, setup, teardown),
        cmocka_unit_test(test_missing_directory),
        cmocka_unit_test(test_bare_name_watches_cwd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
