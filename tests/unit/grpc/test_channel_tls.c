/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A gRPC channel with the TLS settings of backendTLS (ig_grpc_channel_config.tls_opts) against our
 * own gRPC server on 127.0.0.1 that requires a client certificate: calls succeed with the client
 * certificate and fail UNAVAILABLE without it; an extra accepted name (subjectAltNames) lets a
 * channel whose own name is not in the certificate through, a wrong one does not; an ALPN list
 * must offer h2 (the channel is refused otherwise) and is otherwise used as given; and
 * ig_grpc_channel_matches tells channels apart by every TLS setting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ig/grpc.h"
#include "ig/http.h"
#include "ig/loop.h"
#include "ig_test_loop.h"

static struct {
    uv_loop_t loop;
    ig_http_server_t srv;
    ig_grpc_server_t *grpc;
    ig_listener_t *listener;
    struct sockaddr_storage addr;
    SSL_CTX *server_ssl;
    int drained;
} E;

static char dir[64], srv_crt[128], srv_key[128], cli_crt[128], cli_key[128];

static void on_accept(ig_listener_t *l, int fd, void *arg)
{
    (void)l;
    (void)arg;
    ig_http_server_accept(&E.srv, &E.loop, fd);
}

static void on_drained(ig_http_server_t *srv)
{
    (void)srv;
    E.drained = 1;
}

/* The server: its self-signed certificate for localhost; a client certificate (cli.crt) required. */
static int setup(void **state)
{
    char err[256];
    (void)state;
    memset(&E, 0, sizeof(E));
    snprintf(dir, sizeof(dir), "/tmp/ig-grpc-mtls-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(srv_crt, sizeof(srv_crt), "%s/srv.crt", dir);
    snprintf(srv_key, sizeof(srv_key), "%s/srv.key", dir);
    snprintf(cli_crt, sizeof(cli_crt), "%s/cli.crt", dir);
    snprintf(cli_key, sizeof(cli_key), "%s/cli.key", dir);
    assert_int_equal(ig_tls_self_signed("localhost", srv_crt, srv_key), 0);
    assert_int_equal(ig_tls_self_signed("gateway.test", cli_crt, cli_key), 0);
    E.server_ssl = ig_tls_server_ctx(srv_crt, srv_key, "h2", err, sizeof(err));
    assert_non_null(E.server_ssl);
    assert_int_equal(SSL_CTX_load_verify_locations(E.server_ssl, cli_crt, NULL), 1);
    SSL_CTX_set_verify(E.server_ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);

    assert_int_equal(uv_loop_init(&E.loop), 0);
    struct ig_http_server_config cfg = {0};
    cfg.ssl_ctx = E.server_ssl;
    ig_http_server_init(&E.srv, &cfg);
    E.grpc = ig_grpc_server_create(NULL);
    assert_int_equal(ig_grpc_server_add(E.grpc, &ig_test_grpc_echo_unary), 0);
    ig_grpc_server_attach(E.grpc, &E.srv);
    assert_int_equal(ig_addr_parse("127.0.0.1:0", &E.addr), 0);
    assert_int_equal(ig_listener_open(&E.loop, (struct sockaddr *)&E.addr, on_accept, NULL, &E.listener), 0);
    assert_int_equal(ig_listener_addr(E.listener, &E.addr), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ig_http_server_drain(&E.srv, on_drained);
    ig_test_run_until(&E.loop, &E.drained, 3000);
    ig_listener_close(E.listener);
    ig_test_loop_close(&E.loop);
    ig_grpc_server_destroy(E.grpc);
    SSL_CTX_free(E.server_ssl);
    unlink(srv_crt);
    unlink(srv_key);
    unlink(cli_crt);
    unlink(cli_key);
    rmdir(dir);
    return 0;
}

/* ---- calls ------------------------------------------------------------------------------------- */

struct result {
    int done, status, nmsg;
};

static void r_on_message(ig_grpc_call_t *call, ig_iov_t msg)
{
    (void)msg;
    ((struct result *)ig_grpc_call_data(call))->nmsg++;
}

static void r_on_status(ig_grpc_call_t *call, int status, ig_iov_t message)
{
    (void)message;
    struct result *r = ig_grpc_call_data(call);
    r->done = 1;
    r->status = status;
}

static const struct ig_grpc_call_handler r_handler = {.on_message = r_on_message, .on_status = r_on_status};

static int unary(ig_grpc_channel_t *ch)
{
    struct result r = {0};
    ig_grpc_call_t *c = ig_grpc_call_start(ch, "/test.Echo/Unary", NULL, &r_handler, &r);
    ig_grpc_call_send(c, "hi", 2, 1);
    assert_true(ig_test_run_until(&E.loop, &r.done, 3000));
    if (r.status == IG_GRPC_OK)
        assert_int_equal(r.nmsg, 1);
    return r.status;
}

static struct ig_grpc_channel_config config(const char *sni, const struct ig_tls_client_opts *o)
{
    struct ig_grpc_channel_config cc = {0};
    cc.addr = E.addr;
    cc.tls = 1;
    cc.sni = sni;
    cc.tls_opts = o;
    cc.connect_timeout_ms = 2000;
    cc.backoff = (struct ig_grpc_backoff_config){.initial_ms = 1000, .jitter = -1};
    return cc;
}

/* One channel with |o| under |sni|: the status of one call on it. */
static int call_with(const char *sni, const struct ig_tls_client_opts *o)
{
    char err[256];
    struct ig_grpc_channel_config cc = config(sni, o);
    ig_grpc_channel_t *ch = ig_grpc_channel_create(&E.loop, &cc, err, sizeof(err));
    if (ch == NULL)
        fail_msg("channel: %s", err);
    int status = unary(ch);
    ig_grpc_channel_destroy(ch);
    return status;
}

static void test_client_certificate(void **state)
{
    (void)state;
    struct ig_tls_client_opts o = {.ca_file = srv_crt, .cert_file = cli_crt, .key_file = cli_key};
    assert_int_equal(call_with("localhost", &o), IG_GRPC_OK);
    struct ig_tls_client_opts none = {.ca_file = srv_crt};
    assert_int_equal(call_with("localhost", &none), IG_GRPC_UNAVAILABLE);
    /* The server's certificate is no client certificate it trusts. */
    struct ig_tls_client_opts wrong = {.ca_file = srv_crt, .cert_file = srv_crt, .key_file = srv_key};
    assert_int_equal(call_with("localhost", &wrong), IG_GRPC_UNAVAILABLE);
}

static void test_subject_alt_names(void **state)
{
    (void)state;
    const char *ok[] = {"nope.example", "localhost"};
    const char *bad[] = {"nope.example", "spiffe://td/ns/x/sa/y"};
    struct ig_tls_client_opts o = {.ca_file = srv_crt, .cert_file = cli_crt, .key_file = cli_key};
    assert_int_equal(call_with("epp.example", &o), IG_GRPC_UNAVAILABLE); /* the name alone fails */
    o.sans = ok;
    o.n_sans = 2;
    assert_int_equal(call_with("epp.example", &o), IG_GRPC_OK);
    o.sans = bad;
    assert_int_equal(call_with("epp.example", &o), IG_GRPC_UNAVAILABLE);
    o.sans = NULL;
    o.n_sans = 0;
    o.insecure_host = 1;
    assert_int_equal(call_with("epp.example", &o), IG_GRPC_OK);
}

static void test_alpn(void **state)
{
    (void)state;
    char err[256];
    struct ig_tls_client_opts o = {.ca_file = srv_crt, .cert_file = cli_crt, .key_file = cli_key, .alpn = "http/1.1"};
    struct ig_grpc_channel_config cc = config("localhost", &o);
    assert_null(ig_grpc_channel_create(&E.loop, &cc, err, sizeof(err)));
    assert_non_null(strstr(err, "does not offer h2"));
    o.alpn = "foo,h2";
    assert_int_equal(call_with("localhost", &o), IG_GRPC_OK);
    o.alpn = "h2x,http/1.1"; /* h2 as a prefix is not h2 */
    cc = config("localhost", &o);
    assert_null(ig_grpc_channel_create(&E.loop, &cc, err, sizeof(err)));
}

static void test_matches(void **state)
{
    (void)state;
    char err[256];
    const char *sans[] = {"localhost"};
    struct ig_tls_client_opts o = {.ca_file = srv_crt, .cert_file = cli_crt, .key_file = cli_key};
    struct ig_grpc_channel_config cc = config("localhost", &o);
    ig_grpc_channel_t *ch = ig_grpc_channel_create(&E.loop, &cc, err, sizeof(err));
    assert_non_null(ch);
    struct ig_tls_client_opts same = o;
    struct ig_grpc_channel_config v = config("localhost", &same);
    assert_true(ig_grpc_channel_matches(ch, &v));
    same.cert_file = same.key_file = NULL;
    assert_false(ig_grpc_channel_matches(ch, &v));
    same = o;
    same.sans = sans;
    same.n_sans = 1;
    assert_false(ig_grpc_channel_matches(ch, &v));
    same = o;
    same.groups = "X25519";
    assert_false(ig_grpc_channel_matches(ch, &v));
    same = o;
    same.alpn = "h2"; /* what an unset list means on a channel */
    assert_true(ig_grpc_channel_matches(ch, &v));
    v = config("other.example", &o);
    assert_false(ig_grpc_channel_matches(ch, &v));
    ig_grpc_channel_destroy(ch);

    /* Without tls_opts the plain settings are the same settings. */
    struct ig_tls_client_opts plain_o = {.ca_file = srv_crt};
    cc = config("localhost", &plain_o);
    ch = ig_grpc_channel_create(&E.loop, &cc, err, sizeof(err));
    assert_non_null(ch);
    struct ig_grpc_channel_config plain = config("localhost", NULL);
    plain.tls_verify = 1;
    plain.ca_file = srv_crt;
    assert_true(ig_grpc_channel_matches(ch, &plain));
    plain.tls_verify = 0;
    assert_false(ig_grpc_channel_matches(ch, &plain));
    ig_grpc_channel_destroy(ch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_client_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subject_alt_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alpn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_matches, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
