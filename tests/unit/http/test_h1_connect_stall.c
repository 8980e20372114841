/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An HTTP/1.1 request that finds no idle connection opens one but does not wait on that connect:
 * when a busy connection goes idle first, it serves the request. The origin here is a listener
 * with a backlog of 0 whose accept queue the test fills after the first connection, so the
 * kernel drops the SYN of every further connect and a request bound to one would wait for the
 * connect timeout. Also: a connect that times out still fails one waiting request with
 * IG_ETIMEDOUT, and connections the origin never accepts carry only a few of the waiting requests. Real sockets on
 * 127.0.0.1, one libuv loop in the test thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_int.h"

static uv_loop_t loop;
static ig_http_server_t srv;
static ig_http_client_t *client;
static uv_timer_t guard, reply_timer;
static uv_poll_t lpoll;
static int lfd = -1, filler = -1;
static struct sockaddr_in srv_addr;
static int finished, timed_out, accepted, n_requests;
static ig_http_stream_t *held; /* the first request, answered once the second one waits */

/* What the second request saw. */
static int b_done, b_err, b_reused;
static int a_done, a_err;

static void finish(void)
{
    if (finished)
        return;
    finished = 1;
    if (client != NULL)
        ig_http_client_destroy(client);
    client = NULL;
    ig_http_server_drain(&srv, NULL);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_close((uv_handle_t *)&reply_timer, NULL);
    uv_close((uv_handle_t *)&lpoll, NULL);
}

static void on_guard(uv_timer_t *t)
{
    (void)t;
    timed_out = 1;
    finish();
}

/* Fills the accept queue (backlog 0 holds one connection): later SYNs are dropped. */
static void fill_queue(void)
{
    filler = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(filler >= 0);
    assert_int_equal(connect(filler, (struct sockaddr *)&srv_addr, sizeof(srv_addr)), 0);
}

static void on_listen_readable(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        return;
    accepted++;
    /* One connection only: the origin accepts nothing after it. */
    uv_poll_stop(p);
    fill_queue();
    ig_http_server_accept(&srv, &loop, fd);
}

static void b_close(ig_http_cstream_t *cs, int err)
{
    b_done = 1;
    b_err = err;
    b_reused = cs->reused;
    finish();
}

static void a_close(ig_http_cstream_t *cs, int err)
{
    (void)cs;
    a_done = 1;
    a_err = err;
    if (err != 0)
        finish();
}

static const struct ig_http_cstream_handler a_handler = {.on_close = a_close};
static const struct ig_http_cstream_handler b_handler = {.on_close = b_close};

static void send_get(const struct ig_http_cstream_handler *h)
{
    ig_http_request_t req = {.method = IG_STRLIT("GET"), .path = IG_STRLIT("/"), .authority = IG_STRLIT("t")};
    ig_http_client_request(client, &req, 1, h, NULL);
}

static void on_reply_timer(uv_timer_t *t)
{
    (void)t;
    ig_http_stream_send(held, 200, "text/plain", "a", 1);
    held = NULL;
}

static void on_request(ig_http_stream_t *s)
{
    if (++n_requests > 1) {
        ig_http_stream_send(s, 200, "text/plain", "b", 1);
        return;
    }
    /* The first request is busy: the second one opens a connection, whose SYN is dropped. The
     * reply waits a little so that connect is under way; the outcome does not depend on how long. */
    held = s;
    send_get(&b_handler);
    uv_timer_start(&reply_timer, on_reply_timer, 20, 0);
}

static void setup(uint64_t connect_timeout_ms)
{
    finished = timed_out = accepted = n_requests = 0;
    a_done = b_done = 0;
    a_err = b_err = -1;
    b_reused = 0;
    held = NULL;
    filler = -1;
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &guard);
    uv_timer_start(&guard, on_guard, 5000, 0);
    uv_timer_init(&loop, &reply_timer);
    ig_http_server_init(&srv, NULL);
    srv.on_request = on_request;
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(lfd >= 0);
    memset(&srv_addr, 0, sizeof(srv_addr));
    srv_addr.sin_family = AF_INET;
    srv_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(srv_addr);
    assert_int_equal(bind(lfd, (struct sockaddr *)&srv_addr, sizeof(srv_addr)), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&srv_addr, &sl), 0);
    assert_int_equal(listen(lfd, 0), 0);
    assert_int_equal(uv_poll_init(&loop, &lpoll, lfd), 0);
    struct ig_http_client_config cfg = {.connect_timeout_ms = connect_timeout_ms};
    memcpy(&cfg.addr, &srv_addr, sizeof(srv_addr));
    client = ig_http_client_create(&loop, &cfg);
}

static void run_and_close(void)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    if (filler >= 0)
        close(filler);
    close(lfd);
    if (timed_out)
        fail_msg("test did not finish in time");
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_idle_connection_serves_request_whose_connect_stalls(void **state)
{
    (void)state;
    /* Longer than the run: a request left on the stalled connect would fail with IG_ETIMEDOUT. */
    setup(3000);
    uv_poll_start(&lpoll, UV_READABLE, on_listen_readable);
    send_get(&a_handler);
    run_and_close();
    assert_int_equal(accepted, 1);
    assert_true(a_done);
    assert_int_equal(a_err, 0);
    assert_true(b_done);
    assert_int_equal(b_err, 0);
    assert_true(b_reused);
    assert_int_equal(n_requests, 2);
}

static void test_connect_timeout_fails_waiting_request(void **state)
{
    (void)state;
    setup(200);
    fill_queue(); /* nothing is ever accepted */
    uv_poll_start(&lpoll, UV_READABLE, on_listen_readable);
    uv_poll_stop(&lpoll);
    b_done = 0;
    send_get(&b_handler);
    run_and_close();
    assert_true(b_done);
    assert_int_equal(b_err, IG_ETIMEDOUT);
    assert_int_equal(n_requests, 0);
}

/*
 * Connections the kernel completes but the origin never accepts: eight requests wait while the
 * first one is busy, eight connections open, and only a few requests may go to those; the others
 * are served one after the other on the first connection once it is free.
 */
static int n_many, n_many_ok;

static void many_close(ig_http_cstream_t *cs, int err)
{
    (void)cs;
    n_many++;
    if (err == 0)
        n_many_ok++;
    if (n_many_ok == 4)
        finish();
}

static const struct ig_http_cstream_handler many_handler = {.on_close = many_close};

static void on_request_many(ig_http_stream_t *s)
{
    if (++n_requests > 1) {
        ig_http_stream_send(s, 200, "text/plain", "b", 1);
        return;
    }
    held = s;
    for (int i = 0; i < 8; i++)
        send_get(&many_handler);
    uv_timer_start(&reply_timer, on_reply_timer, 50, 0);
}

static void on_listen_once(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        return;
    accepted++;
    uv_poll_stop(p); /* later connections complete in the kernel and are never accepted */
    ig_http_server_accept(&srv, &loop, fd);
}

static void test_unaccepted_connections_take_few_requests(void **state)
{
    (void)state;
    setup(3000);
    assert_int_equal(listen(lfd, 64), 0);
    srv.on_request = on_request_many;
    n_many = n_many_ok = 0;
    uv_poll_start(&lpoll, UV_READABLE, on_listen_once);
    send_get(&a_handler);
    run_and_close();
    assert_int_equal(accepted, 1);
    assert_int_equal(a_err, 0);
    assert_int_equal(n_many_ok, 4);
    assert_int_equal(n_requests, 5);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_connection_serves_request_whose_connect_stalls),
        cmocka_unit_test(test_connect_timeout_fails_waiting_request),
        cmocka_unit_test(test_unaccepted_connections_take_few_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
