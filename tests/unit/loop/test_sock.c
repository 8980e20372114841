/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for listeners and ig_sock over plain TCP on 127.0.0.1 ephemeral ports: echo, write
 * batching and back-pressure (IG_ETOOBIG at max_pending, on_drain after the reader resumes),
 * closing from inside on_read, abort with RST, connect failures, addresses. Every test runs its
 * own loop with a guard timer so that a hang fails instead of blocking.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ig/loop.h"
#include "ig_test_loop.h"
#include "ig_test_sock.h"

#define GUARD_MS 5000

/* Each test runs in its own guarded loop (ig_test_loop_begin / ig_test_loop_end): a hang fails. */
static uv_loop_t loop;

/* ---- echo ------------------------------------------------------------------------------------ */

struct echo_state {
    ig_listener_t *listener;
    ig_sock_t *server;
    int server_closed, server_close_err;
    int client_connected, client_closed, client_close_err;
    char got[200000];
    size_t got_len;
    size_t expect_len;
    int nodelay;
};

static void srv_read(ig_sock_t *s, const char *data, size_t len)
{
    assert_int_equal(ig_sock_write(s, data, len), 0);
}

static void srv_close(ig_sock_t *s, int err)
{
    struct echo_state *st = s->data;
    st->server_closed++;
    st->server_close_err = err;
}

static const struct ig_sock_ops echo_srv_ops = {.on_read = srv_read, .on_close = srv_close};

static void echo_accept(ig_listener_t *l, int fd, void *arg)
{
    struct echo_state *st = arg;
    int one = 0;
    socklen_t olen = sizeof(one);
    getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, &olen);
    st->nodelay = one;
    st->server = ig_sock_accept(&loop, fd, NULL, &echo_srv_ops, st);
    assert_non_null(st->server);
    ig_listener_close(l);
}

static void cli_connect(ig_sock_t *s, int status)
{
    struct echo_state *st = s->data;
    assert_int_equal(status, 0);
    st->client_connected++;
    /* Many small writes: batched into few syscalls, delivered in order. */
    char chunk[1000];
    for (size_t off = 0; off < st->expect_len; off += sizeof(chunk)) {
        for (size_t i = 0; i < sizeof(chunk); i++)
            chunk[i] = (char)((off + i) * 7);
        assert_int_equal(ig_sock_write(s, chunk, sizeof(chunk)), 0);
    }
    struct sockaddr_storage peer, local;
    char a[64], b[64];
    assert_int_equal(ig_sock_peer(s, &peer), 0);
    assert_int_equal(ig_sock_local(s, &local), 0);
    assert_string_not_equal(ig_addr_format((struct sockaddr *)&peer, a, sizeof(a)),
                            ig_addr_format((struct sockaddr *)&local, b, sizeof(b)));
    assert_int_equal(strncmp(a, "127.0.0.1:", 10), 0);
    assert_false(ig_sock_is_tls(s));
    assert_int_equal(ig_sock_alpn(s).len, 0);
}

static void cli_read(ig_sock_t *s, const char *data, size_t len)
{
    struct echo_state *st = s->data;
    assert_true(st->got_len + len <= sizeof(st->got));
    memcpy(st->got + st->got_len, data, len);
    st->got_len += len;
    if (st->got_len == st->expect_len)
        ig_sock_close(s);
}

static void cli_close(ig_sock_t *s, int err)
{
    struct echo_state *st = s->data;
    st->client_closed++;
    st->client_close_err = err;
}

static const struct ig_sock_ops echo_cli_ops = {.on_connect = cli_connect, .on_read = cli_read, .on_close = cli_close};

static void test_echo(void **state)
{
    (void)state;
    static struct echo_state st;
    struct sockaddr_storage addr;
    memset(&st, 0, sizeof(st));
    st.expect_len = 150000;
    ig_test_loop_begin(&loop, GUARD_MS);
    ig_test_listen(&loop, echo_accept, &st, &st.listener, &addr);
    ig_sock_t *c = ig_sock_connect(&loop, (struct sockaddr *)&addr, NULL, &echo_cli_ops, &st);
    assert_non_null(c);
    ig_test_loop_end(&loop);
    assert_int_equal(st.client_connected, 1);
    assert_int_equal(st.client_closed, 1);
    assert_int_equal(st.client_close_err, 0);
    assert_int_equal(st.server_closed, 1);
    assert_int_equal(st.server_close_err, IG_ECLOSED);
    assert_int_equal(st.nodelay, 1);
    assert_int_equal(st.got_len, st.expect_len);
    for (size_t i = 0; i < st.expect_len; i++) {
        if (st.got[i] != (char)(i * 7))
            fail_msg("byte %zu differs", i);
    }
}

/* ---- back-pressure --------------------------------------------------------------------------- */

#define BP_MAX   (64 * 1024)
#define BP_LOW   (16 * 1024)
#define BP_CHUNK 8192

struct bp_state {
    int raw_fd;
    ig_sock_t *client, *server;
    uv_timer_t pump;
    int toobig_seen;
    int drained;
    size_t written, received;
    int client_closed, server_closed, client_err, server_err;
    int pump_ticks;
};

static void bp_srv_read(ig_sock_t *s, const char *data, size_t len)
{
    struct bp_state *st = s->data;
    (void)data;
    st->received += len;
}

static void bp_srv_close(ig_sock_t *s, int err)
{
    struct bp_state *st = s->data;
    st->server_closed++;
    st->server_err = err;
}

static const struct ig_sock_ops bp_srv_ops = {.on_read = bp_srv_read, .on_close = bp_srv_close};

static void bp_accept(ig_listener_t *l, int fd, void *arg)
{
    struct bp_state *st = arg;
    st->raw_fd = fd; /* not read yet: the client's output backs up */
    ig_listener_close(l);
}

/* Writes until the socket refuses; the kernel buffers fill first, then max_pending. */
static void bp_pump(uv_timer_t *t)
{
    struct bp_state *st = t->data;
    char chunk[BP_CHUNK];
    memset(chunk, 'p', sizeof(chunk));
    st->pump_ticks++;
    for (;;) {
        size_t before = ig_sock_pending(st->client);
        int r = ig_sock_write(st->client, chunk, sizeof(chunk));
        if (r == IG_ETOOBIG) {
            assert_int_equal(ig_sock_pending(st->client), before); /* nothing queued */
            assert_true(before + sizeof(chunk) > BP_MAX);
            st->toobig_seen = 1;
            uv_timer_stop(t);
            /* Now let the peer read: wrap the raw fd. */
            st->server = ig_sock_accept(&loop, st->raw_fd, NULL, &bp_srv_ops, st);
            return;
        }
        assert_int_equal(r, 0);
        st->written += sizeof(chunk);
        assert_true(ig_sock_pending(st->client) <= BP_MAX);
        if (ig_sock_pending(st->client) > BP_MAX / 2)
            return; /* let the loop flush, then continue */
    }
}

static void bp_cli_connect(ig_sock_t *s, int status)
{
    struct bp_state *st = s->data;
    assert_int_equal(status, 0);
    uv_timer_start(&st->pump, bp_pump, 0, 1);
}

static void bp_cli_drain(ig_sock_t *s)
{
    struct bp_state *st = s->data;
    if (!st->toobig_seen)
        return; /* drains while the kernel still takes data */
    assert_true(ig_sock_pending(s) <= BP_LOW);
    st->drained++;
    ig_sock_close(s);
}

static void bp_cli_close(ig_sock_t *s, int err)
{
    struct bp_state *st = s->data;
    st->client_closed++;
    st->client_err = err;
    uv_close((uv_handle_t *)&st->pump, NULL);
}

static void bp_noread(ig_sock_t *s, const char *data, size_t len)
{
    (void)s;
    (void)data;
    (void)len;
}

static const struct ig_sock_ops bp_cli_ops = {
    .on_connect = bp_cli_connect, .on_read = bp_noread, .on_drain = bp_cli_drain, .on_close = bp_cli_close};

static void test_backpressure(void **state)
{
    (void)state;
    static struct bp_state st;
    struct sockaddr_storage addr;
    ig_listener_t *l;
    memset(&st, 0, sizeof(st));
    st.raw_fd = -1;
    ig_test_loop_begin(&loop, GUARD_MS);
    uv_timer_init(&loop, &st.pump);
    st.pump.data = &st;
    ig_test_listen(&loop, bp_accept, &st, &l, &addr);
    struct ig_sock_config cfg = {.max_pending = BP_MAX, .low_water = BP_LOW};
    st.client = ig_sock_connect(&loop, (struct sockaddr *)&addr, &cfg, &bp_cli_ops, &st);
    ig_test_loop_end(&loop);
    assert_int_equal(st.toobig_seen, 1);
    assert_int_equal(st.drained, 1);
    assert_int_equal(st.client_closed, 1);
    assert_int_equal(st.client_err, 0);
    assert_int_equal(st.server_closed, 1);
    assert_int_equal(st.server_err, IG_ECLOSED);
    /* Everything accepted by ig_sock_write arrived, nothing more. */
    assert_true(st.written > BP_MAX);
    assert_int_equal(st.received, st.written);
}

/* ---- close from inside on_read, abort -------------------------------------------------------- */

struct cr_state {
    int server_closed, server_err, client_closed, client_err;
    int after_close_write;
    char reply[64];
    size_t reply_len;
    int abort_mode;
};

static void cr_srv_read(ig_sock_t *s, const char *data, size_t len)
{
    struct cr_state *st = s->data;
    (void)data;
    (void)len;
    if (st->abort_mode) {
        ig_sock_write(s, "dropped", 7);
        ig_sock_abort(s, 1);
        ig_sock_abort(s, 1); /* idempotent */
        return;
    }
    assert_int_equal(ig_sock_write(s, "bye", 3), 0);
    ig_sock_close(s);
    ig_sock_close(s); /* idempotent */
    st->after_close_write = ig_sock_write(s, "x", 1);
}

static void cr_srv_close(ig_sock_t *s, int err)
{
    struct cr_state *st = s->data;
    st->server_closed++;
    st->server_err = err;
}

static const struct ig_sock_ops cr_srv_ops = {.on_read = cr_srv_read, .on_close = cr_srv_close};

static void cr_cli_connect(ig_sock_t *s, int status)
{
    assert_int_equal(status, 0);
    assert_int_equal(ig_sock_write(s, "hello", 5), 0);
}

static void cr_cli_read(ig_sock_t *s, const char *data, size_t len)
{
    struct cr_state *st = s->data;
    assert_true(st->reply_len + len <= sizeof(st->reply));
    memcpy(st->reply + st->reply_len, data, len);
    st->reply_len += len;
}

static void cr_cli_close(ig_sock_t *s, int err)
{
    struct cr_state *st = s->data;
    st->client_closed++;
    st->client_err = err;
}

static const struct ig_sock_ops cr_cli_ops = {
    .on_connect = cr_cli_connect, .on_read = cr_cli_read, .on_close = cr_cli_close};

static void run_cr(struct cr_state *st)
{
    ig_test_loop_begin(&loop, GUARD_MS);
    ig_test_sock_pair(&loop, NULL, &cr_srv_ops, NULL, &cr_cli_ops, st);
    ig_test_loop_end(&loop);
}

static void test_close_in_on_read(void **state)
{
    (void)state;
    struct cr_state st;
    memset(&st, 0, sizeof(st));
    run_cr(&st);
    assert_int_equal(st.server_closed, 1);
    assert_int_equal(st.server_err, 0);
    assert_int_equal(st.after_close_write, IG_ECLOSED);
    assert_int_equal(st.client_closed, 1);
    assert_int_equal(st.client_err, IG_ECLOSED);
    assert_int_equal(st.reply_len, 3);
    assert_memory_equal(st.reply, "bye", 3);
}

static void test_abort_rst(void **state)
{
    (void)state;
    struct cr_state st;
    memset(&st, 0, sizeof(st));
    st.abort_mode = 1;
    run_cr(&st);
    assert_int_equal(st.server_closed, 1);
    assert_int_equal(st.server_err, IG_ECANCELED);
    assert_int_equal(st.client_closed, 1);
    assert_int_equal(st.client_err, IG_ERESET);
    assert_int_equal(st.reply_len, 0); /* pending output was dropped */
}

/* ---- connect failures ------------------------------------------------------------------------ */

struct cf_state {
    int connects, connect_status, closes, close_err, order_ok;
};

static void cf_connect(ig_sock_t *s, int status)
{
    struct cf_state *st = s->data;
    st->connects++;
    st->connect_status = status;
    ig_sock_close(s); /* no effect on a failed socket, must not double-report */
}

static void cf_read(ig_sock_t *s, const char *d, size_t n)
{
    (void)s;
    (void)d;
    (void)n;
    fail_msg("unexpected read");
}

static void cf_close(ig_sock_t *s, int err)
{
    struct cf_state *st = s->data;
    st->order_ok = st->connects == 1;
    st->closes++;
    st->close_err = err;
}

static const struct ig_sock_ops cf_ops = {.on_connect = cf_connect, .on_read = cf_read, .on_close = cf_close};

static void test_connect_refused(void **state)
{
    (void)state;
    struct cf_state st;
    struct sockaddr_storage addr;
    ig_listener_t *l;
    memset(&st, 0, sizeof(st));
    ig_test_loop_begin(&loop, GUARD_MS);
    /* A port that was just free: bind, learn it, close. */
    ig_test_listen(&loop, NULL, NULL, &l, &addr);
    ig_listener_close(l);
    uv_run(&loop, UV_RUN_DEFAULT);
    ig_sock_t *s = ig_sock_connect(&loop, (struct sockaddr *)&addr, NULL, &cf_ops, &st);
    assert_non_null(s);
    assert_int_equal(st.connects, 0); /* reported from the loop, never from inside connect */
    ig_test_loop_end(&loop);
    assert_int_equal(st.connects, 1);
    assert_int_equal(st.connect_status, IG_ECONNECT);
    assert_int_equal(st.closes, 1);
    assert_int_equal(st.close_err, IG_ECONNECT);
    assert_true(st.order_ok);
}

static void test_connect_bad_address(void **state)
{
    (void)state;
    struct cf_state st;
    struct sockaddr_storage addr;
    memset(&st, 0, sizeof(st));
    memset(&addr, 0, sizeof(addr));
    addr.ss_family = AF_UNIX; /* not TCP: uv_tcp_connect fails synchronously */
    ig_test_loop_begin(&loop, GUARD_MS);
    ig_sock_t *s = ig_sock_connect(&loop, (struct sockaddr *)&addr, NULL, &cf_ops, &st);
    assert_non_null(s);
    assert_int_equal(st.connects, 0);
    ig_test_loop_end(&loop);
    assert_int_equal(st.connects, 1);
    assert_int_equal(st.connect_status, IG_ECONNECT);
    assert_int_equal(st.closes, 1);
}

static void test_abort_while_connecting(void **state)
{
    (void)state;
    struct cf_state st;
    struct sockaddr_storage addr;
    ig_listener_t *l;
    memset(&st, 0, sizeof(st));
    ig_test_loop_begin(&loop, GUARD_MS);
    ig_test_listen(&loop, NULL, NULL, &l, &addr);
    ig_sock_t *s = ig_sock_connect(&loop, (struct sockaddr *)&addr, NULL, &cf_ops, &st);
    ig_sock_abort(s, 0);
    ig_listener_close(l);
    ig_test_loop_end(&loop);
    assert_int_equal(st.connects, 0);
    assert_int_equal(st.closes, 1);
    assert_int_equal(st.close_err, IG_ECANCELED);
}

/* ---- listener address in use without SO_REUSEPORT on the other socket ----------------------- */

static void test_listener_addrinuse(void **state)
{
    (void)state;
    struct sockaddr_storage addr;
    ig_listener_t *a, *b;
    ig_test_loop_begin(&loop, GUARD_MS);
    ig_test_listen(&loop, NULL, NULL, &a, &addr);
    /* Same address with SO_REUSEPORT on both: allowed (one per worker). */
    assert_int_equal(ig_listener_open(&loop, (struct sockaddr *)&addr, NULL, NULL, &b), 0);
    ig_listener_close(b);
    /* A plain socket without SO_REUSEPORT on the same port conflicts. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(struct sockaddr_in)), -1);
    assert_int_equal(errno, EADDRINUSE);
    close(fd);
    ig_listener_close(a);
    /* An address this host does not have: the errno comes back negated. */
    struct sockaddr_storage foreign;
    assert_int_equal(ig_addr_parse("192.0.2.1:0", &foreign), 0);
    assert_int_equal(ig_listener_open(&loop, (struct sockaddr *)&foreign, NULL, NULL, &b), -EADDRNOTAVAIL);
    ig_test_loop_end(&loop);
}

/* ---- read pause, writev before connect ------------------------------------------------------ */

#define PZ_TOTAL 300000

static void pz_cli_connect(ig_sock_t *s, int status)
{
    (void)s;
    assert_int_equal(status, 0);
}

static const struct ig_sock_ops pz_cli_ops = {
    .on_connect = pz_cli_connect, .on_read = ig_test_pacer_client_read, .on_close = ig_test_pacer_client_close};

static void test_pause_and_writev_before_connect(void **state)
{
    (void)state;
    static struct ig_test_pacer st;
    static char data[PZ_TOTAL];
    struct sockaddr_storage addr;
    ig_test_pattern_fill(data, 0, PZ_TOTAL);
    ig_test_loop_begin(&loop, GUARD_MS);
    ig_test_pacer_start(&st, &loop, PZ_TOTAL, NULL, &addr);
    ig_sock_t *c = ig_sock_connect(&loop, (struct sockaddr *)&addr, NULL, &pz_cli_ops, &st);
    /* Queued before the connection exists; sent once it does. */
    ig_iov_t iov[3] = {ig_iov(data, 1), ig_iov(data + 1, 99999), ig_iov(data + 100000, PZ_TOTAL - 100000)};
    assert_int_equal(ig_sock_writev(c, iov, 3), 0);
    assert_int_equal(ig_sock_pending(c), PZ_TOTAL);
    assert_int_equal(ig_sock_write(c, data, 5u << 20), IG_ETOOBIG); /* over the 4 MiB default */
    ig_test_loop_end(&loop);
    assert_int_equal(st.got, PZ_TOTAL);
    assert_int_equal(st.bad, 0);
    assert_int_equal(st.read_while_paused, 0);
    assert_true(st.pauses > 0);
    assert_int_equal(st.server_closed, 1);
    assert_int_equal(st.client_closed, 1);
    assert_int_equal(st.client_err, IG_ECLOSED);
}

/* ---- close flushes large pending output ------------------------------------------------------ */

#define BIG_REPLY (2u << 20)

struct big_state {
    size_t got;
    int bad, server_err, client_err, closes;
};

static void big_srv_read(ig_sock_t *s, const char *data, size_t len)
{
    static char reply[64 * 1024];
    (void)data;
    (void)len;
    for (size_t off = 0; off < BIG_REPLY; off += sizeof(reply)) {
        for (size_t i = 0; i < sizeof(reply); i++)
            reply[i] = (char)((off + i) % 241);
        assert_int_equal(ig_sock_write(s, reply, sizeof(reply)), 0);
    }
    ig_sock_close(s); /* everything queued must still arrive */
}

static void big_srv_close(ig_sock_t *s, int err)
{
    struct big_state *st = s->data;
    st->server_err = err;
    st->closes++;
}

static const struct ig_sock_ops big_srv_ops = {.on_read = big_srv_read, .on_close = big_srv_close};

static void big_cli_read(ig_sock_t *s, const char *data, size_t len)
{
    struct big_state *st = s->data;
    for (size_t i = 0; i < len; i++) {
        if (data[i] != (char)((st->got + i) % 241))
            st->bad++;
    }
    st->got += len;
}

static void big_cli_close(ig_sock_t *s, int err)
{
    struct big_state *st = s->data;
    st->client_err = err;
    st->closes++;
}

static const struct ig_sock_ops big_cli_ops = {
    .on_connect = cr_cli_connect, .on_read = big_cli_read, .on_close = big_cli_close};

static void test_close_flushes_everything(void **state)
{
    (void)state;
    struct big_state st;
    memset(&st, 0, sizeof(st));
    ig_test_loop_begin(&loop, GUARD_MS);
    ig_test_sock_pair(&loop, NULL, &big_srv_ops, NULL, &big_cli_ops, &st);
    ig_test_loop_end(&loop);
    assert_int_equal(st.got, BIG_REPLY);
    assert_int_equal(st.bad, 0);
    assert_int_equal(st.closes, 2);
    assert_int_equal(st.server_err, 0);
    assert_int_equal(st.client_err, IG_ECLOSED);
}

/* ---- steady state allocates nothing ---------------------------------------------------------- */

#define PP_ROUNDS 2000
#define PP_SIZE   1500

struct pp_state {
    int rounds;
    size_t got;
    int closes;
    int armed;
};

static void pp_cli_send(ig_sock_t *s)
{
    char msg[PP_SIZE];
    memset(msg, 'a' + (char)(((struct pp_state *)s->data)->rounds % 26), sizeof(msg));
    /* Two writes per round: coalesced into one flush. */
    assert_int_equal(ig_sock_write(s, msg, 500), 0);
    assert_int_equal(ig_sock_write(s, msg + 500, PP_SIZE - 500), 0);
}

static void pp_cli_connect(ig_sock_t *s, int status)
{
    assert_int_equal(status, 0);
    pp_cli_send(s);
}

static void pp_cli_read(ig_sock_t *s, const char *data, size_t len)
{
    struct pp_state *st = s->data;
    (void)data;
    st->got += len;
    if (st->got < PP_SIZE)
        return;
    assert_int_equal(st->got, PP_SIZE);
    st->got = 0;
    st->rounds++;
    if (st->rounds == 10) {
        /* Warmed up: any allocation from here on through ig_malloc aborts the test. */
        ig_mem_fail_after(1);
        st->armed = 1;
    }
    if (st->rounds == PP_ROUNDS) {
        ig_mem_fail_after(0);
        st->armed = 0;
        ig_sock_close(s);
        return;
    }
    pp_cli_send(s);
}

static void pp_close(ig_sock_t *s, int err)
{
    struct pp_state *st = s->data;
    (void)err;
    st->closes++;
}

static const struct ig_sock_ops pp_cli_ops = {
    .on_connect = pp_cli_connect, .on_read = pp_cli_read, .on_close = pp_close};
static const struct ig_sock_ops pp_srv_ops = {.on_read = srv_read, .on_close = pp_close};

static void test_steady_state_no_malloc(void **state)
{
    (void)state;
    struct pp_state st;
    memset(&st, 0, sizeof(st));
    ig_test_loop_begin(&loop, GUARD_MS);
    ig_test_sock_pair(&loop, NULL, &pp_srv_ops, NULL, &pp_cli_ops, &st);
    ig_test_loop_end(&loop);
    assert_int_equal(st.rounds, PP_ROUNDS);
    assert_int_equal(st.closes, 2);
}

/* ---- out of file descriptors: the listener backs off instead of spinning ------------------- */

#define FILL_MAX 256

struct mf_state {
    int fillers[FILL_MAX];
    int nfill;
    int late_client; /* connects once descriptors are back (some tools consume the first) */
    struct sockaddr_storage addr;
    uv_timer_t release;
    uint64_t start_ns, accepted_ns;
    ig_listener_t *listener;
};

static void mf_release(uv_timer_t *t)
{
    struct mf_state *st = t->data;
    for (int i = 0; i < st->nfill; i++)
        close(st->fillers[i]);
    st->nfill = 0;
    connect(st->late_client, (struct sockaddr *)&st->addr, sizeof(struct sockaddr_in));
    uv_close((uv_handle_t *)t, NULL);
}

static void mf_accept(ig_listener_t *l, int fd, void *arg)
{
    struct mf_state *st = arg;
    st->accepted_ns = ig_time_ns();
    close(fd);
    ig_listener_close(l);
}

static void test_listener_emfile_backoff(void **state)
{
    (void)state;
    static struct mf_state st;
    struct sockaddr_storage addr;
    struct rlimit saved, low;
    struct rusage ru0, ru1;
    memset(&st, 0, sizeof(st));
    ig_test_loop_begin(&loop, GUARD_MS);
    ig_test_listen(&loop, mf_accept, &st, &st.listener, &addr);
    int client = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(client >= 0);
    connect(client, (struct sockaddr *)&addr, sizeof(struct sockaddr_in)); /* completes in the backlog */
    st.late_client = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(st.late_client >= 0);
    st.addr = addr;

    /* Use up every descriptor the (lowered) limit allows. */
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    low = saved;
    low.rlim_cur = (rlim_t)st.late_client + 32;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fd;
    while (st.nfill < FILL_MAX && (fd = dup(client)) >= 0)
        st.fillers[st.nfill++] = fd;
    assert_true(st.nfill < FILL_MAX); /* the limit was reached */
    uv_timer_init(&loop, &st.release);
    st.release.data = &st;
    uv_timer_start(&st.release, mf_release, 50, 0);

    enum ig_log_level level = ig_log_get_level();
    ig_log_set_level(IG_LOG_ERROR); /* the warning is expected */
    getrusage(RUSAGE_SELF, &ru0);
    st.start_ns = ig_time_ns();
    ig_test_loop_end(&loop);
    getrusage(RUSAGE_SELF, &ru1);
    ig_log_set_level(level);
    setrlimit(RLIMIT_NOFILE, &saved);
    close(client);
    close(st.late_client);

    uint64_t waited_ms = (st.accepted_ns - st.start_ns) / 1000000;
    assert_true(st.accepted_ns != 0);
    assert_true(waited_ms >= 90 && waited_ms < 2000); /* retried after the 100 ms pause */
    long cpu_us =
        (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) * 1000000L + (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) +
        (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1000000L + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec);
    assert_true(cpu_us < 60000); /* a spinning accept loop would burn the whole 100 ms */
}

/* ---- a producer driven only by on_drain, against a slow reader thread ----------------------- */

#define DR_TOTAL (8u << 20)

struct dr_state {
    int lfd;
    size_t sent;
    _Atomic size_t received;
    int drains, closes, close_err;
};

/* The peer: a plain blocking reader that starts late, so output backs up first. */
static void *dr_reader(void *arg)
{
    struct dr_state *st = arg;
    static char buf[65536];
    int fd = accept(st->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    usleep(100000);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        st->received += (size_t)n;
    }
    close(fd);
    return NULL;
}

/* Writes only from here (and on_connect): no timer or other event drives the loop. */
static void dr_pump(ig_sock_t *s)
{
    static char chunk[65536];
    struct dr_state *st = s->data;
    st->drains++;
    while (st->sent < DR_TOTAL) {
        if (ig_sock_pending(s) > 256 * 1024)
            return; /* on_drain resumes */
        assert_int_equal(ig_sock_write(s, chunk, sizeof(chunk)), 0);
        st->sent += sizeof(chunk);
    }
    ig_sock_close(s);
}

static void dr_connect(ig_sock_t *s, int status)
{
    assert_int_equal(status, 0);
    dr_pump(s);
}

static void dr_close(ig_sock_t *s, int err)
{
    struct dr_state *st = s->data;
    st->closes++;
    st->close_err = err;
}

static const struct ig_sock_ops dr_ops = {
    .on_connect = dr_connect, .on_read = bp_noread, .on_drain = dr_pump, .on_close = dr_close};

static void test_drain_driven_writer(void **state)
{
    (void)state;
    static struct dr_state st;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    pthread_t th;
    memset(&st, 0, sizeof(st));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    st.lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(st.lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(st.lfd, 4), 0);
    assert_int_equal(getsockname(st.lfd, (struct sockaddr *)&sin, &len), 0);
    assert_int_equal(pthread_create(&th, NULL, dr_reader, &st), 0);
    ig_test_loop_begin(&loop, GUARD_MS);
    ig_sock_connect(&loop, (struct sockaddr *)&sin, NULL, &dr_ops, &st);
    ig_test_loop_end(&loop);
    pthread_join(th, NULL);
    close(st.lfd);
    assert_int_equal(st.closes, 1);
    assert_int_equal(st.close_err, 0);
    assert_int_equal(st.sent, DR_TOTAL);
    assert_int_equal(st.received, DR_TOTAL);
    assert_true(st.drains > 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_close_in_on_read),
        cmocka_unit_test(test_abort_rst),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_connect_bad_address),
        cmocka_unit_test(test_abort_while_connecting),
        cmocka_unit_test(test_listener_addrinuse),
        cmocka_unit_test(test_pause_and_writev_before_connect),
        cmocka_unit_test(test_close_flushes_everything),
        cmocka_unit_test(test_steady_state_no_malloc),
        cmocka_unit_test(test_listener_emfile_backoff),
        cmocka_unit_test(test_drain_driven_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
