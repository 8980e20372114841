/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An HTTP/1.1 request that finds no idle connection opens one but does not wait on that connect:
 * when a busy connection goes idle first, it serves the request. The origin here is a listener
 * with a backlog of 0 whose accept queue the test fills after the first connection, so the
 * kernel drops the SYN of every further connect and a request bound to one would wait for the
 * connect timeout. Also: a connect that times out still fails one waiting request with
 * IG_ETIMEDOUT; connections the origin never accepts carry only a few of the waiting requests, and
 * those requests move to a free connection once they have waited long enough; a request replayed
 * after a stale keep-alive waits in the queue too rather than on a connect of its own. Real sockets
 * on 127.0.0.1, one libuv loop in the test thread.
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
static ig_http_stream_t *held;    /* the first request, answered once the second one waits */
static void (*finish_more)(void); /* a test's own handles to close when it ends */

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
    if (finish_more != NULL)
        finish_more();
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
    finish_more = NULL;
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

/*
 * A stale keep-alive replay: the origin closes an idle connection just as a request goes out on
 * it, and the client runs the request once more. The origin's accept queue is full by then, so a
 * new connect stalls (its SYN is dropped); the replayed request must be served by the first
 * connection that frees, like any waiting request, instead of waiting on that connect. The origin
 * is a raw socket server here, so that the test closes one of its connections at a chosen point.
 */
struct raw_conn {
    int fd;
    uv_poll_t poll;
    char buf[2048];
    size_t len;
    int open;
};

static struct raw_conn raw[4];
static int n_raw;
static struct raw_conn *raw_held; /* the connection whose /a request waits */
static uv_timer_t watch;
static int c_done, c_err, c_reused, a_released;

static void raw_close(struct raw_conn *rc)
{
    if (!rc->open)
        return;
    rc->open = 0;
    uv_poll_stop(&rc->poll);
    close(rc->fd);
    uv_close((uv_handle_t *)&rc->poll, NULL);
}

static void raw_reply(struct raw_conn *rc, char tag)
{
    char resp[] = "HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nx";
    resp[sizeof(resp) - 2] = tag;
    assert_int_equal(write(rc->fd, resp, sizeof(resp) - 1), (ssize_t)(sizeof(resp) - 1));
}

static void raw_readable(uv_poll_t *p, int status, int events)
{
    struct raw_conn *rc = p->data;
    (void)status;
    (void)events;
    ssize_t n = read(rc->fd, rc->buf + rc->len, sizeof(rc->buf) - 1 - rc->len);
    if (n <= 0) {
        raw_close(rc);
        return;
    }
    rc->len += (size_t)n;
    rc->buf[rc->len] = '\0';
    char *end;
    while ((end = strstr(rc->buf, "\r\n\r\n")) != NULL) {
        char path = strncmp(rc->buf, "GET /", 5) == 0 ? rc->buf[5] : '?';
        size_t used = (size_t)(end + 4 - rc->buf);
        memmove(rc->buf, rc->buf + used, rc->len - used + 1);
        rc->len -= used;
        n_requests++;
        if (path == 'a')
            raw_held = rc; /* answered once the replayed request waits */
        else
            raw_reply(rc, path);
    }
}

static void on_listen_raw(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        return;
    struct raw_conn *rc = &raw[n_raw++];
    accepted++;
    rc->fd = fd;
    rc->len = 0;
    rc->open = 1;
    assert_int_equal(uv_poll_init(&loop, &rc->poll, fd), 0);
    rc->poll.data = rc;
    uv_poll_start(&rc->poll, UV_READABLE, raw_readable);
    if (n_raw == 2) {
        /* Both first connections are in: from now on the origin accepts nothing and new SYNs
         * are dropped (backlog 0, its one slot taken). */
        uv_poll_stop(p);
        assert_int_equal(listen(lfd, 0), 0);
        fill_queue();
    }
}

static void c_close(ig_http_cstream_t *cs, int err)
{
    c_done = 1;
    c_err = err;
    c_reused = cs->reused;
    finish();
}

static const struct ig_http_cstream_handler c_handler = {.on_close = c_close};

static void send_path(const char *path, const struct ig_http_cstream_handler *h)
{
    ig_http_request_t req = {.method = IG_STRLIT("GET"), .path = ig_iov_cstr(path), .authority = IG_STRLIT("t")};
    ig_http_client_request(client, &req, 1, h, NULL);
}

/* /b is answered at once: its connection goes idle, the origin closes it and /c goes out on it. */
static void b_close_stale(ig_http_cstream_t *cs, int err)
{
    (void)cs;
    b_done = 1;
    b_err = err;
    for (int i = 0; i < n_raw; i++)
        if (&raw[i] != raw_held)
            raw_close(&raw[i]);
    send_path("/c", &c_handler);
}

static const struct ig_http_cstream_handler b_stale_handler = {.on_close = b_close_stale};

/* Once /c is replayed (queued, or on a connect of its own), the held connection answers /a. */
static void on_watch(uv_timer_t *t)
{
    ig_list_t *p;
    int replayed = client != NULL && !ig_list_empty(&client->waiting);
    if (!b_done || raw_held == NULL || client == NULL)
        return;
    ig_list_foreach(p, &client->conns)
    {
        if (!IG_CONTAINER_OF(p, struct ig_http_cconn, link)->connected)
            replayed = 1;
    }
    if (!replayed)
        return;
    uv_timer_stop(t);
    a_released = 1;
    raw_reply(raw_held, 'a');
}

static void stale_finish(void)
{
    uv_close((uv_handle_t *)&watch, NULL);
    for (int i = 0; i < n_raw; i++)
        raw_close(&raw[i]);
}

static void test_stale_replay_waits_in_queue(void **state)
{
    (void)state;
    /* Shorter than the guard: a replay left on the stalled connect fails with IG_ETIMEDOUT. */
    setup(1500);
    assert_int_equal(listen(lfd, 64), 0);
    n_raw = 0;
    raw_held = NULL;
    c_done = c_reused = a_released = 0;
    c_err = -1;
    uv_timer_init(&loop, &watch);
    uv_timer_start(&watch, on_watch, 5, 5);
    finish_more = stale_finish;
    uv_poll_start(&lpoll, UV_READABLE, on_listen_raw);
    send_path("/a", &a_handler);
    send_path("/b", &b_stale_handler);
    run_and_close();
    assert_int_equal(accepted, 2);
    assert_int_equal(b_err, 0);
    assert_true(a_released);
    assert_int_equal(a_err, 0);
    assert_true(c_done);
    assert_int_equal(c_err, 0);
    assert_true(c_reused);
    /* a, b, and c on the held connection (its first copy met a closed socket) */
    assert_int_equal(n_requests, 3);
}

/*
 * The same origin that never accepts the later connections, with all eight requests awaited: the
 * few that went out on unaccepted connections move to the first connection once they have waited
 * long enough, instead of waiting for an answer that never comes.
 */
static void all_close(ig_http_cstream_t *cs, int err)
{
    (void)cs;
    n_many++;
    if (err == 0)
        n_many_ok++;
    if (n_many == 8)
        finish();
}

static const struct ig_http_cstream_handler all_handler = {.on_close = all_close};

static void on_request_all(ig_http_stream_t *s)
{
    if (++n_requests > 1) {
        ig_http_stream_send(s, 200, "text/plain", "b", 1);
        return;
    }
    held = s;
    for (int i = 0; i < 8; i++)
        send_get(&all_handler);
    uv_timer_start(&reply_timer, on_reply_timer, 50, 0);
}

static void test_stalled_probes_move_to_free_connection(void **state)
{
    (void)state;
    setup(3000);
    assert_int_equal(listen(lfd, 64), 0);
    srv.on_request = on_request_all;
    n_many = n_many_ok = 0;
    uv_poll_start(&lpoll, UV_READABLE, on_listen_once);
    send_get(&a_handler);
    run_and_close();
    assert_int_equal(accepted, 1);
    assert_int_equal(a_err, 0);
    assert_int_equal(n_many, 8);
    assert_int_equal(n_many_ok, 8);
    assert_int_equal(n_requests, 9); /* the first, then all eight on the one accepted connection */
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_connection_serves_request_whose_connect_stalls),
        cmocka_unit_test(test_connect_timeout_fails_waiting_request),
        cmocka_unit_test(test_unaccepted_connections_take_few_requests),
        cmocka_unit_test(test_stale_replay_waits_in_queue),
        cmocka_unit_test(test_stalled_probes_move_to_free_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
