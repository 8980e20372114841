/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP client's on_connect report (ig_http_client_config.on_connect): called once per
 * connection the client opened, with status 0 once it is connected (HTTP/1.1 and h2c) or the
 * error when the connect failed, and the time the connect took. A reused connection reports
 * nothing. Real sockets on 127.0.0.1, one libuv loop in the test thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "http_int.h"

static uv_loop_t loop;
static ig_http_server_t srv;
static ig_listener_t *listener;
static ig_http_client_t *client;
static uv_timer_t guard;
static struct sockaddr_storage srv_addr;
static int finished, timed_out;

/* What on_connect saw. */
static int n_reports;
static int last_status;
static uint64_t last_duration_ns;
static void *last_arg;

static void on_connect_report(void *arg, int status, uint64_t duration_ns)
{
    n_reports++;
    last_status = status;
    last_duration_ns = duration_ns;
    last_arg = arg;
}

static void on_request(ig_http_stream_t *s)
{
    ig_http_stream_send(s, 200, "text/plain", "ok", 2);
}

static void on_accept(ig_listener_t *l, int fd, void *arg)
{
    (void)l;
    (void)arg;
    ig_http_server_accept(&srv, &loop, fd);
}

static void finish(void)
{
    if (finished)
        return;
    finished = 1;
    if (listener != NULL)
        ig_listener_close(listener);
    listener = NULL;
    if (client != NULL)
        ig_http_client_destroy(client);
    client = NULL;
    ig_http_server_drain(&srv, NULL);
    uv_close((uv_handle_t *)&guard, NULL);
}

static void on_guard(uv_timer_t *t)
{
    (void)t;
    timed_out = 1;
    finish();
}

static void setup_loop(int with_server)
{
    finished = timed_out = 0;
    n_reports = 0;
    last_status = 12345;
    last_duration_ns = 0;
    last_arg = NULL;
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &guard);
    uv_timer_start(&guard, on_guard, 5000, 0);
    ig_http_server_init(&srv, NULL);
    srv.on_request = on_request;
    listener = NULL;
    if (with_server) {
        assert_int_equal(ig_addr_parse("127.0.0.1:0", &srv_addr), 0);
        assert_int_equal(ig_listener_open(&loop, (struct sockaddr *)&srv_addr, on_accept, NULL, &listener), 0);
        assert_int_equal(ig_listener_addr(listener, &srv_addr), 0);
        return;
    }
    /* A port that was bound and closed (never listened on): connects to it are refused. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
    close(fd);
    memset(&srv_addr, 0, sizeof(srv_addr));
    memcpy(&srv_addr, &sin, sizeof(sin));
}

static void run_loop(void)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    if (timed_out)
        fail_msg("test did not finish in time");
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Runs |left| requests one after the other, then stops. */
static int left, n_ok, close_err;

static void start_next(void);

static void r_close(ig_http_cstream_t *cs, int err)
{
    (void)cs;
    close_err = err;
    if (err == 0)
        n_ok++;
    if (err == 0 && --left > 0)
        start_next();
    else
        finish();
}

static const struct ig_http_cstream_handler r_handler = {.on_close = r_close};

static void start_next(void)
{
    ig_http_request_t req = {.method = IG_STRLIT("GET"), .path = IG_STRLIT("/"), .authority = IG_STRLIT("t")};
    ig_http_client_request(client, &req, 1, &r_handler, NULL);
}

static void run_requests(int version, int n)
{
    struct ig_http_client_config cfg = {
        .addr = srv_addr, .version = version, .on_connect = on_connect_report, .on_connect_arg = &n_reports};
    client = ig_http_client_create(&loop, &cfg);
    left = n;
    n_ok = 0;
    close_err = -1;
    start_next();
    run_loop();
}

static void test_h1_connected_once(void **state)
{
    (void)state;
    setup_loop(1);
    run_requests(IG_HTTP_11, 3);
    assert_int_equal(n_ok, 3);
    /* Three requests on one kept-alive connection: one report. */
    assert_int_equal(n_reports, 1);
    assert_int_equal(last_status, 0);
    assert_ptr_equal(last_arg, &n_reports);
    assert_true(last_duration_ns > 0);
    assert_true(last_duration_ns < 2000000000ULL);
}

static void test_h2_connected_once(void **state)
{
    (void)state;
    setup_loop(1);
    run_requests(IG_HTTP_2, 2);
    assert_int_equal(n_ok, 2);
    assert_int_equal(n_reports, 1);
    assert_int_equal(last_status, 0);
    assert_true(last_duration_ns > 0);
}

static void test_refused_reports_failure(void **state)
{
    (void)state;
    setup_loop(0);
    run_requests(IG_HTTP_11, 1);
    assert_int_equal(n_ok, 0);
    assert_int_equal(close_err, IG_ECONNECT);
    assert_int_equal(n_reports, 1);
    assert_int_not_equal(last_status, 0);
    assert_true(last_duration_ns < 2000000000ULL);
}

static void test_no_callback(void **state)
{
    (void)state;
    setup_loop(1);
    struct ig_http_client_config cfg = {.addr = srv_addr};
    client = ig_http_client_create(&loop, &cfg);
    left = 1;
    n_ok = 0;
    start_next();
    run_loop();
    assert_int_equal(n_ok, 1);
    assert_int_equal(n_reports, 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h1_connected_once),
        cmocka_unit_test(test_h2_connected_once),
        cmocka_unit_test(test_refused_reports_failure),
        cmocka_unit_test(test_no_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
