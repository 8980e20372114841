/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The endpoints file: YAML and JSON forms, errors with file:line:col, and the watched source on a
 * real directory: a rename-and-replace is picked up, a bad file is reported and the previous
 * endpoints stay, a later good file applies again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "epp_int.h"

static struct ig_epp_endpoint_list list;
static char err[512];

static int load(const char *text)
{
    ig_epp_endpoint_list_dispose(&list);
    ig_epp_endpoint_list_init(&list);
    err[0] = '\0';
    return ig_epp_endpoints_load_string("eps.yaml", text, strlen(text), &list, err, sizeof(err));
}

static void test_yaml(void **state)
{
    (void)state;
    ig_epp_endpoint_list_init(&list);
    assert_int_equal(load("# two model servers\n"
                          "- address: 10.0.0.1:8000\n"
                          "  metricsPort: 9400\n"
                          "  labels:\n"
                          "    inference.networking.k8s.io/engine-type: sglang\n"
                          "    llm-d.ai/role: decode\n"
                          "- address: \"[fd00::2]:8000\"\n"),
                     0);
    assert_int_equal(list.n, 2);
    assert_true(ig_iov_eq(list.v[0].address, IG_STRLIT("10.0.0.1:8000")));
    assert_int_equal(list.v[0].metrics_port, 9400);
    assert_int_equal(list.v[0].n_labels, 2);
    assert_true(ig_iov_eq(list.v[0].labels[0].key, IG_STRLIT(IG_EPP_ENGINE_LABEL)));
    assert_true(ig_iov_eq(list.v[0].labels[1].value, IG_STRLIT("decode")));
    assert_int_equal(list.v[0].line, 2);
    assert_int_equal(list.v[0].col, 3);
    assert_int_equal(list.v[1].metrics_port, 0);
    assert_int_equal(list.v[1].n_labels, 0);

    /* The `endpoints:` wrapper and an empty list. */
    assert_int_equal(load("endpoints:\n  - {address: 127.0.0.1:1}\n"), 0);
    assert_int_equal(list.n, 1);
    assert_int_equal(load("[]\n"), 0);
    assert_int_equal(list.n, 0);
}

static void test_json(void **state)
{
    (void)state;
    assert_int_equal(load("[\n"
                          "  {\"address\": \"127.0.0.1:8000\", \"labels\": {\"a\": \"b\"}},\n"
                          "  {\"address\": \"127.0.0.1:8001\", \"metricsPort\": 8002}\n"
                          "]\n"),
                     0);
    assert_int_equal(list.n, 2);
    assert_int_equal(list.v[1].metrics_port, 8002);
    assert_int_equal(list.v[1].line, 3);
    assert_true(ig_iov_eq(list.v[0].labels[0].value, IG_STRLIT("b")));
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"- address: 10.0.0.1:8000\n- address: nope:80\n", "eps.yaml:2:12: endpoints[1].address: expected"},
        {"- address: 10.0.0.1:8000\n  metricsPort: 70000\n", "eps.yaml:2:16: endpoints[0].metricsPort"},
        {"- address: 10.0.0.1:8000\n  port: 1\n", "eps.yaml:2:3: endpoints[0]: unknown key \"port\""},
        {"- metricsPort: 1\n", "eps.yaml:1:3: endpoints[0]: address is required"},
        {"- address: 10.0.0.1:8000\n  labels: [a]\n", "eps.yaml:2:11: labels: expected a map"},
        {"- address: 10.0.0.1:8000\n  labels: {a: {b: c}}\n", "eps.yaml:2:15: labels.a: expected a string"},
        {"- address: 10.0.0.1:8000\n- address: 10.0.0.1:8000\n", "eps.yaml:2:3: endpoints[1]: address 10.0.0.1:8000 "
                                                                 "is already listed at line 1"},
        {"address: 10.0.0.1:8000\n", "eps.yaml:1:1: unknown key"},
        {"- 10.0.0.1:8000\n", "eps.yaml:1:3: endpoints[0]: expected a map"},
        {"", "eps.yaml:1:1: empty file"},
        {"- address: [10.0.0.1:8000\n", "eps.yaml:2:1: "},
        {"[{\"address\": \"10.0.0.1:8000\",}\n", "eps.yaml:"},
        {"- address: 10.0.0.1:8000\n\t- bad\n", "eps.yaml:2:1: found a tab character"},
    };
    for (size_t i = 0; i < IG_ARRAY_LEN(cases); i++) {
        int rc = load(cases[i].text);
        if (rc != IG_EINVAL || strncmp(err, cases[i].msg, strlen(cases[i].msg)) != 0)
            fail_msg("case %zu: rc %d, got \"%s\", want \"%s...\"", i, rc, err, cases[i].msg);
        assert_int_equal(list.n, 0);
    }
}

/* ---- watched file ------------------------------------------------------------------------------ */

static uv_loop_t loop;
static char dir[64];
static char path[128];

static void write_replace(const char *text)
{
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s/.eps.tmp", dir);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
}

struct until {
    ig_epp_file_source_t *fs;
    uint64_t loads, failures;
    uint64_t deadline;
    int met;
};

static void poll_cb(uv_timer_t *t)
{
    struct until *u = t->data;
    if (ig_epp_file_source_loads(u->fs) >= u->loads && ig_epp_file_source_failures(u->fs) >= u->failures) {
        u->met = 1;
        uv_stop(&loop);
    } else if (ig_time_ns() > u->deadline) {
        uv_stop(&loop);
    }
}

static int wait_for(ig_epp_file_source_t *fs, uint64_t loads, uint64_t failures)
{
    struct until u = {fs, loads, failures, ig_time_ns() + 3000 * 1000000ull, 0};
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    t.data = &u;
    uv_timer_start(&t, poll_cb, 5, 5);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return u.met;
}

static void test_watch(void **state)
{
    (void)state;
    ig_log_set_level(IG_LOG_ERROR);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    ig_log_set_fd(devnull); /* the bad-file error is expected */
    snprintf(dir, sizeof(dir), "/tmp/ig-epp-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/endpoints.yaml", dir);
    assert_int_equal(uv_loop_init(&loop), 0);
    ig_epp_datastore_t *ds = ig_epp_datastore_create(IG_EPP_ENGINE_VLLM);

    /* A missing file fails the start. */
    assert_null(ig_epp_file_source_start(&loop, path, ds, err, sizeof(err)));
    assert_non_null(strstr(err, "No such file"));

    write_replace("- address: 127.0.0.1:8000\n");
    ig_epp_file_source_t *fs = ig_epp_file_source_start(&loop, path, ds, err, sizeof(err));
    assert_non_null(fs);
    assert_int_equal(ig_epp_datastore_count(ds), 1);
    struct ig_epp_endpoint *first = ig_epp_datastore_find(ds, IG_STRLIT("127.0.0.1:8000"));
    assert_non_null(first);

    write_replace("- address: 127.0.0.1:8000\n- address: 127.0.0.1:8001\n");
    assert_true(wait_for(fs, 2, 0));
    assert_int_equal(ig_epp_datastore_count(ds), 2);
    assert_ptr_equal(ig_epp_datastore_find(ds, IG_STRLIT("127.0.0.1:8000")), first);

    write_replace("- address: 127.0.0.1:8000\n- address: bad\n");
    assert_true(wait_for(fs, 2, 1));
    assert_int_equal(ig_epp_datastore_count(ds), 2); /* the old list stays */

    /* Editing in place (no rename) is seen too. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("- address: 127.0.0.1:8002\n", f);
    assert_int_equal(fclose(f), 0);
    assert_true(wait_for(fs, 3, 1));
    assert_int_equal(ig_epp_datastore_count(ds), 1);
    assert_non_null(ig_epp_datastore_find(ds, IG_STRLIT("127.0.0.1:8002")));

    ig_epp_file_source_stop(fs);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    ig_epp_datastore_destroy(ds);
    unlink(path);
    rmdir(dir);
    ig_log_set_fd(2);
    close(devnull);
}

static int teardown(void **state)
{
    (void)state;
    ig_epp_endpoint_list_dispose(&list);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_watch),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
