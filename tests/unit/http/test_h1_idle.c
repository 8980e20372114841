/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What an HTTP/1.1 server connection keeps between requests, and what a keep-alive request costs.
 * The server runs on a libuv loop on the test's own thread; the client is a non-blocking socket
 * on 127.0.0.1 and every wait pumps the loop for a bounded time. Checks: the block cache of
 * ig_buf (borrow and release), an idle connection that holds no input buffer and no stream, heads
 * and bodies split across reads, pipelined requests answered in order, and a steady-state
 * keep-alive request that allocates nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_int.h"

/* The head of h1_server.c's connection, to look at what an idle connection holds. */
struct h1s_conn_peek {
    struct ig_http_sconn super;
    ig_http_server_t *srv;
    ig_sock_t *sock;
    ig_buf_t in;
    const char *ext;
    size_t ext_len;
    ig_http_stream_t *stream;
};

static uv_loop_t loop;
static ig_http_server_t srv;
static ig_listener_t *listener;
static int port;
static struct h1s_conn_peek *last_conn;
static size_t body_len; /* /body: bytes received so far */
static char reply[64];  /* /body's answer, static so that answering allocates nothing */

static void body_cb(ig_http_stream_t *s, const char *data, size_t len, int end)
{
    (void)data;
    body_len += len;
    if (!end)
        return;
    int n = snprintf(reply, sizeof(reply), "len=%zu", body_len);
    ig_http_stream_send(s, 200, "text/plain", reply, (size_t)n);
}

static const struct ig_http_stream_handler body_handler = {.on_body = body_cb};

static void on_request(ig_http_stream_t *s)
{
    last_conn = s->_conn;
    if (ig_iov_eq(s->req.path, IG_STRLIT("/body"))) {
        body_len = 0;
        s->handler = &body_handler;
        return;
    }
    /* Echo the path: answered at once, the body (if any) is skipped. */
    ig_http_stream_send(s, 200, "text/plain", s->req.path.base, s->req.path.len);
}

static void on_accept(ig_listener_t *l, int fd, void *arg)
{
    (void)l;
    (void)arg;
    ig_http_server_accept(&srv, &loop, fd);
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    ig_http_server_init(&srv, NULL);
    srv.on_request = on_request;
    struct sockaddr_storage sa;
    assert_int_equal(ig_addr_parse("127.0.0.1:0", &sa), 0);
    assert_int_equal(ig_listener_open(&loop, (struct sockaddr *)&sa, on_accept, NULL, &listener), 0);
    assert_int_equal(ig_listener_addr(listener, &sa), 0);
    port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
    return 0;
}

static void drained(ig_http_server_t *s)
{
    (void)s;
}

static int teardown(void **state)
{
    (void)state;
    ig_http_server_drain(&srv, drained);
    ig_listener_close(listener);
    for (int i = 0; i < 200 && uv_run(&loop, UV_RUN_NOWAIT) != 0; i++)
        usleep(1000);
    assert_int_equal(ig_http_server_connections(&srv), 0);
    uv_loop_close(&loop);
    return 0;
}

/* ---- client ------------------------------------------------------------------------------------ */

static int client_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Loopback connects complete in the kernel's backlog; the loop accepts on its next pass. */
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    return fd;
}

static void client_send(int fd, const char *s)
{
    size_t len = strlen(s);
    assert_int_equal(send(fd, s, len, 0), (ssize_t)len);
}

/* Runs the loop a few passes (and up to |ms| in total) so that queued work settles. */
static void pump(int ms)
{
    for (int i = 0; i < ms; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

/* Pumps the loop and reads |fd| until |want| appears |count| times in what was read (2 s at most). */
static void client_expect(int fd, const char *want, int count, char *buf, size_t cap)
{
    size_t len = 0;
    for (int i = 0; i < 2000; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n > 0)
            len += (size_t)n;
        buf[len] = '\0';
        int seen = 0;
        for (const char *p = strstr(buf, want); p != NULL; p = strstr(p + 1, want))
            seen++;
        if (seen >= count)
            return;
        assert_true(n != 0); /* the server must not close */
        usleep(1000);
    }
    fail_msg("did not see \"%s\" %d times in: %s", want, count, buf);
}

/* ---- tests ------------------------------------------------------------------------------------- */

static void test_buf_borrow_release(void **state)
{
    (void)state;
    ig_buf_t a, b;
    ig_buf_init(&a, 0);
    ig_buf_init(&b, 0);
    ig_buf_borrow(&a);
    assert_non_null(a.base);
    assert_int_equal(a.cap, IG_BUF_BLOCK);
    char *block = a.base;
    assert_int_equal(ig_buf_append(&a, "xyz", 3), 0);
    ig_buf_release(&a); /* not empty: kept */
    assert_ptr_equal(a.base, block);
    ig_buf_consume(&a, 3);
    ig_buf_release(&a);
    assert_null(a.base);
    assert_int_equal(a.cap, 0);
    /* The block went to this thread's cache: the next borrower gets it back. */
    ig_buf_borrow(&b);
    assert_ptr_equal(b.base, block);
    ig_buf_borrow(&b); /* has storage: a no-op */
    assert_ptr_equal(b.base, block);
    /* A buffer that grew past the block is freed on release, and works again afterwards. */
    char big[3 * IG_BUF_BLOCK];
    memset(big, 'b', sizeof(big));
    assert_int_equal(ig_buf_append(&b, big, sizeof(big)), 0);
    assert_true(b.cap >= sizeof(big));
    ig_buf_reset(&b);
    ig_buf_release(&b);
    assert_null(b.base);
    assert_int_equal(ig_buf_append(&b, "ok", 2), 0);
    assert_memory_equal(ig_buf_data(&b), "ok", 2);
    ig_buf_dispose(&b);
    ig_buf_dispose(&a);
}

static void test_idle_conn_holds_nothing(void **state)
{
    (void)state;
    char buf[4096];
    int fd = client_connect();
    last_conn = NULL;
    client_send(fd, "GET /first HTTP/1.1\r\nHost: t\r\n\r\n");
    client_expect(fd, "/first", 1, buf, sizeof(buf));
    assert_non_null(last_conn);
    pump(5);
    assert_null(last_conn->in.base);
    assert_null(last_conn->stream);
    assert_null(last_conn->ext);
    assert_int_equal(ig_sock_pending(last_conn->sock), 0);
    close(fd);
    pump(5);
}

static void test_split_head_and_body(void **state)
{
    (void)state;
    char buf[4096];
    int fd = client_connect();
    /* Half a head waits in the connection's input buffer. */
    client_send(fd, "POST /body HTTP/1.1\r\nHost: t\r\nContent-");
    pump(5);
    client_send(fd, "Length: 10\r\n\r\n0123");
    pump(5);
    client_send(fd, "456789");
    client_expect(fd, "len=10", 1, buf, sizeof(buf));
    assert_true(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
    pump(5);
    assert_null(last_conn->in.base);
    assert_null(last_conn->stream);
    /* The connection is still good for another request. */
    client_send(fd, "GET /again HTTP/1.1\r\nHost: t\r\n\r\n");
    client_expect(fd, "/again", 1, buf, sizeof(buf));
    close(fd);
    pump(5);
}

static void test_pipelined(void **state)
{
    (void)state;
    char buf[8192];
    int fd = client_connect();
    client_send(fd, "GET /p1 HTTP/1.1\r\nHost: t\r\n\r\n"
                    "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                    "GET /p3 HTTP/1.1\r\nHost: t\r\n\r\n");
    /* "/p3" is the last response's body: everything before it has arrived too. */
    client_expect(fd, "/p3", 1, buf, sizeof(buf));
    int n = 0;
    for (const char *p = strstr(buf, "HTTP/1.1 200"); p != NULL; p = strstr(p + 1, "HTTP/1.1 200"))
        n++;
    assert_int_equal(n, 3);
    const char *p1 = strstr(buf, "/p1"), *p2 = strstr(buf, "len=3");
    assert_non_null(p1);
    assert_non_null(p2);
    assert_true(p1 < p2);
    pump(5);
    assert_null(last_conn->in.base);
    close(fd);
    pump(5);
}

static void test_keepalive_no_malloc(void **state)
{
    (void)state;
    char buf[4096];
    int fd = client_connect();
    /* The first request warms the thread's caches (buffer blocks, arena chunk, stream object). */
    client_send(fd, "GET /warm HTTP/1.1\r\nHost: t\r\n\r\n");
    client_expect(fd, "/warm", 1, buf, sizeof(buf));
    pump(5);
    /* From here any allocation through ig_malloc aborts the test. */
    ig_mem_fail_after(1);
    client_send(fd, "GET /steady HTTP/1.1\r\nHost: t\r\nUser-Agent: test\r\n\r\n");
    client_expect(fd, "/steady", 1, buf, sizeof(buf));
    pump(5);
    ig_mem_fail_after(0);
    close(fd);
    pump(5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_borrow_release),
        cmocka_unit_test_setup_teardown(test_idle_conn_holds_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_head_and_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_no_malloc, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
