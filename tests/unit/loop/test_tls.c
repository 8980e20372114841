/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for TLS in ig_sock: a self-signed certificate generated into a temporary directory,
 * an echo over TLS on 127.0.0.1 with hostname verification and ALPN "h2" negotiated, a name
 * mismatch failing the handshake with IG_ETLS, no ALPN overlap, a handshake timeout against a
 * silent server, and context errors.
 */
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
#include "ig_test_sock.h"

#define GUARD_MS 5000

/* Each test runs in its own guarded loop (ig_test_loop_begin / ig_test_loop_end): a hang fails. */
static uv_loop_t loop;
static char dir[64], cert[128], key[128];

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/ig-tls-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    return ig_tls_self_signed("localhost", cert, key);
}

static int group_teardown(void **state)
{
    (void)state;
    unlink(cert);
    unlink(key);
    rmdir(dir);
    return 0;
}

/* ---- echo ------------------------------------------------------------------------------------ */

struct tls_state {
    SSL_CTX *server_ctx;
    int server_closed, server_err;
    char server_alpn[16];
    int connected, connect_status, client_closed, client_err;
    char client_alpn[16];
    size_t expect, got;
    int mismatch;
    int server_close_after_reply;
};

static void copy_alpn(char *out, ig_iov_t a)
{
    snprintf(out, 16, "%.*s", (int)a.len, a.base != NULL ? a.base : "");
}

static void srv_read(ig_sock_t *s, const char *data, size_t len)
{
    struct tls_state *st = s->data;
    assert_true(ig_sock_is_tls(s));
    copy_alpn(st->server_alpn, ig_sock_alpn(s));
    assert_int_equal(ig_sock_write(s, data, len), 0);
    if (st->server_close_after_reply)
        ig_sock_close(s);
}

static void srv_close(ig_sock_t *s, int err)
{
    struct tls_state *st = s->data;
    st->server_closed++;
    st->server_err = err;
}

static const struct ig_sock_ops srv_ops = {.on_read = srv_read, .on_close = srv_close};

static void cli_connect(ig_sock_t *s, int status)
{
    struct tls_state *st = s->data;
    st->connected++;
    st->connect_status = status;
    if (status != 0)
        return;
    copy_alpn(st->client_alpn, ig_sock_alpn(s));
    char chunk[5000];
    for (size_t off = 0; off < st->expect; off += sizeof(chunk)) {
        for (size_t i = 0; i < sizeof(chunk); i++)
            chunk[i] = (char)((off + i) % 251);
        assert_int_equal(ig_sock_write(s, chunk, sizeof(chunk)), 0);
    }
}

static void cli_read(ig_sock_t *s, const char *data, size_t len)
{
    struct tls_state *st = s->data;
    for (size_t i = 0; i < len; i++) {
        if (data[i] != (char)((st->got + i) % 251))
            st->mismatch++;
    }
    st->got += len;
    if (st->got == st->expect && !st->server_close_after_reply)
        ig_sock_close(s);
}

static void cli_close(ig_sock_t *s, int err)
{
    struct tls_state *st = s->data;
    st->client_closed++;
    st->client_err = err;
}

static const struct ig_sock_ops cli_ops = {.on_connect = cli_connect, .on_read = cli_read, .on_close = cli_close};

static void run_echo(struct tls_state *st, const char *server_alpn, SSL_CTX *client_ctx, const char *sni)
{
    char err[256];
    st->server_ctx = ig_tls_server_ctx(cert, key, server_alpn, err, sizeof(err));
    if (st->server_ctx == NULL)
        fail_msg("server ctx: %s", err);
    struct ig_sock_config srv_cfg = {.ssl_ctx = st->server_ctx};
    struct ig_sock_config cli_cfg = {.ssl_ctx = client_ctx, .sni = sni, .connect_timeout_ms = 3000};
    ig_test_loop_begin(&loop, GUARD_MS);
    ig_test_sock_pair(&loop, &srv_cfg, &srv_ops, &cli_cfg, &cli_ops, st);
    ig_test_loop_end(&loop);
    SSL_CTX_free(st->server_ctx);
}

static void test_tls_echo_h2(void **state)
{
    (void)state;
    char err[256];
    static struct tls_state st;
    memset(&st, 0, sizeof(st));
    st.expect = 100000;
    SSL_CTX *cctx = ig_tls_client_ctx(cert, 0, "h2", err, sizeof(err));
    if (cctx == NULL)
        fail_msg("client ctx: %s", err);
    run_echo(&st, "h2,http/1.1", cctx, "localhost");
    SSL_CTX_free(cctx);
    assert_int_equal(st.connected, 1);
    assert_int_equal(st.connect_status, 0);
    assert_string_equal(st.client_alpn, "h2");
    assert_string_equal(st.server_alpn, "h2");
    assert_int_equal(st.got, st.expect);
    assert_int_equal(st.mismatch, 0);
    assert_int_equal(st.client_closed, 1);
    assert_int_equal(st.client_err, 0);
    assert_int_equal(st.server_closed, 1);
    assert_int_equal(st.server_err, IG_ECLOSED); /* close_notify from the client */
}

static void test_tls_server_closes_after_reply(void **state)
{
    (void)state;
    char err[256];
    static struct tls_state st;
    memset(&st, 0, sizeof(st));
    st.expect = 5000;
    st.server_close_after_reply = 1;
    SSL_CTX *cctx = ig_tls_client_ctx(NULL, 1, "http/1.1", err, sizeof(err));
    assert_non_null(cctx);
    run_echo(&st, "h2,http/1.1", cctx, "localhost");
    SSL_CTX_free(cctx);
    assert_int_equal(st.connect_status, 0);
    assert_string_equal(st.client_alpn, "http/1.1");
    assert_int_equal(st.got, st.expect);
    assert_int_equal(st.client_closed, 1);
    assert_int_equal(st.client_err, IG_ECLOSED);
    assert_int_equal(st.server_closed, 1);
    assert_int_equal(st.server_err, 0);
}

static void test_tls_no_alpn_overlap(void **state)
{
    (void)state;
    char err[256];
    static struct tls_state st;
    memset(&st, 0, sizeof(st));
    st.expect = 5000;
    SSL_CTX *cctx = ig_tls_client_ctx(cert, 0, "spdy/3", err, sizeof(err));
    assert_non_null(cctx);
    run_echo(&st, "h2", cctx, "localhost");
    SSL_CTX_free(cctx);
    assert_int_equal(st.connect_status, 0);
    assert_string_equal(st.client_alpn, "");
    assert_string_equal(st.server_alpn, "");
    assert_int_equal(st.got, st.expect);
}

static void test_tls_name_mismatch(void **state)
{
    (void)state;
    char err[256];
    static struct tls_state st;
    memset(&st, 0, sizeof(st));
    SSL_CTX *cctx = ig_tls_client_ctx(cert, 0, "h2", err, sizeof(err));
    assert_non_null(cctx);
    run_echo(&st, "h2", cctx, "other.example");
    SSL_CTX_free(cctx);
    assert_int_equal(st.connected, 1);
    assert_int_equal(st.connect_status, IG_ETLS);
    assert_int_equal(st.client_closed, 1);
    assert_int_equal(st.client_err, IG_ETLS);
    assert_int_equal(st.server_closed, 1);
    assert_true(st.server_err == IG_ETLS || st.server_err == IG_ECLOSED || st.server_err == IG_ERESET);
}

/* ---- handshake timeout ----------------------------------------------------------------------- */

static int silent_fd = -1;

static void silent_accept(ig_listener_t *l, int fd, void *arg)
{
    (void)arg;
    silent_fd = fd; /* never answers the ClientHello */
    ig_listener_close(l);
}

static void test_tls_handshake_timeout(void **state)
{
    (void)state;
    char err[256];
    static struct tls_state st;
    struct sockaddr_storage addr;
    ig_listener_t *l;
    memset(&st, 0, sizeof(st));
    SSL_CTX *cctx = ig_tls_client_ctx(cert, 0, NULL, err, sizeof(err));
    assert_non_null(cctx);
    ig_test_loop_begin(&loop, GUARD_MS);
    ig_test_listen(&loop, silent_accept, NULL, &l, &addr);
    struct ig_sock_config cfg = {.ssl_ctx = cctx, .sni = "localhost", .connect_timeout_ms = 200};
    uint64_t start = ig_time_ns();
    ig_sock_connect(&loop, (struct sockaddr *)&addr, &cfg, &cli_ops, &st);
    ig_test_loop_end(&loop);
    uint64_t took_ms = (ig_time_ns() - start) / 1000000;
    close(silent_fd);
    SSL_CTX_free(cctx);
    assert_int_equal(st.connected, 1);
    assert_int_equal(st.connect_status, IG_ETIMEDOUT);
    assert_int_equal(st.client_closed, 1);
    assert_int_equal(st.client_err, IG_ETIMEDOUT);
    assert_true(took_ms >= 190 && took_ms < 2000);
}

/* ---- contexts -------------------------------------------------------------------------------- */

static void test_ctx_errors(void **state)
{
    (void)state;
    char err[256] = "";
    assert_null(ig_tls_server_ctx("/nonexistent/cert.pem", key, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/cert.pem"));
    err[0] = '\0';
    assert_null(ig_tls_server_ctx(cert, "/nonexistent/key.pem", NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "key"));
    assert_null(ig_tls_server_ctx(cert, key, "h2,,x", err, sizeof(err)));
    assert_null(ig_tls_client_ctx("/nonexistent/ca.pem", 0, NULL, err, sizeof(err)));
    SSL_CTX *c = ig_tls_client_ctx(NULL, 0, "h2,http/1.1", err, sizeof(err));
    assert_non_null(c); /* system store */
    SSL_CTX_free(c);
    assert_int_equal(ig_tls_self_signed("x", "/nonexistent/dir/c.pem", "/nonexistent/dir/k.pem"), -1);
}

/* ---- read pause with buffered TLS records ---------------------------------------------------- */

#define PZ_TOTAL 300000

/* Paused after one record: the rest of the ciphertext already read stays buffered (the pacer). */
static void pz_cli_connect(ig_sock_t *s, int status)
{
    static char data[PZ_TOTAL];
    assert_int_equal(status, 0);
    ig_test_pattern_fill(data, 0, PZ_TOTAL);
    assert_int_equal(ig_sock_write(s, data, PZ_TOTAL), 0);
}

static const struct ig_sock_ops pz_cli_ops = {
    .on_connect = pz_cli_connect, .on_read = ig_test_pacer_client_read, .on_close = ig_test_pacer_client_close};

static void test_tls_read_pause(void **state)
{
    (void)state;
    char err[256];
    static struct ig_test_pacer st;
    struct sockaddr_storage addr;
    SSL_CTX *sctx = ig_tls_server_ctx(cert, key, NULL, err, sizeof(err));
    assert_non_null(sctx);
    SSL_CTX *cctx = ig_tls_client_ctx(cert, 0, NULL, err, sizeof(err));
    assert_non_null(cctx);
    ig_test_loop_begin(&loop, GUARD_MS);
    ig_test_pacer_start(&st, &loop, PZ_TOTAL, sctx, &addr);
    struct ig_sock_config cfg = {.ssl_ctx = cctx, .sni = "localhost"};
    ig_sock_connect(&loop, (struct sockaddr *)&addr, &cfg, &pz_cli_ops, &st);
    ig_test_loop_end(&loop);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    assert_int_equal(st.got, PZ_TOTAL);
    assert_int_equal(st.bad, 0);
    assert_int_equal(st.read_while_paused, 0);
    assert_true(st.pauses >= PZ_TOTAL / 16384 - 1); /* about one per record */
    assert_int_equal(st.server_closed, 1);
    assert_int_equal(st.client_closed, 1);
    assert_int_equal(st.client_err, IG_ECLOSED);
}

static void test_tls_ip_san(void **state)
{
    (void)state;
    char err[256], saved_cert[128], saved_key[128];
    static struct tls_state st;
    memset(&st, 0, sizeof(st));
    st.expect = 5000;
    memcpy(saved_cert, cert, sizeof(cert));
    memcpy(saved_key, key, sizeof(key));
    snprintf(cert, sizeof(cert), "%s/ip-cert.pem", dir);
    snprintf(key, sizeof(key), "%s/ip-key.pem", dir);
    assert_int_equal(ig_tls_self_signed("127.0.0.1", cert, key), 0);
    SSL_CTX *cctx = ig_tls_client_ctx(cert, 0, NULL, err, sizeof(err));
    assert_non_null(cctx);
    run_echo(&st, NULL, cctx, "127.0.0.1"); /* verified against the IP SAN, no SNI sent */
    SSL_CTX_free(cctx);
    unlink(cert);
    unlink(key);
    memcpy(cert, saved_cert, sizeof(cert));
    memcpy(key, saved_key, sizeof(key));
    assert_int_equal(st.connect_status, 0);
    assert_int_equal(st.got, st.expect);
    assert_int_equal(st.client_err, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_echo_h2),           cmocka_unit_test(test_tls_server_closes_after_reply),
        cmocka_unit_test(test_tls_no_alpn_overlap),   cmocka_unit_test(test_tls_name_mismatch),
        cmocka_unit_test(test_tls_handshake_timeout), cmocka_unit_test(test_ctx_errors),
        cmocka_unit_test(test_tls_read_pause),        cmocka_unit_test(test_tls_ip_san),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
