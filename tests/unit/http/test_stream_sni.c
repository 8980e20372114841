/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of ig_http_stream_sni: a server behind a front TLS context (the context the gateway
 * uses, switched per handshake by server name) answers each request with what the accessor
 * reports for its stream, and curl asks over HTTP/1.1 and HTTP/2 with a server name, over TLS
 * without one (an IP address as host), and over plaintext. The server's loop runs on a thread
 * while curl runs from the test.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "ig/http.h"
#include "ig_test_loop.h"

static char dir[64], cert[128], key[128];

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/ig-ssni-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(cert, sizeof(cert), "%s/c.pem", dir);
    snprintf(key, sizeof(key), "%s/k.pem", dir);
    return ig_tls_self_signed("a.example", cert, key) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    unlink(cert);
    unlink(key);
    rmdir(dir);
    return 0;
}

/* The front picks the one listener context for any name (or none), and owns it. */
static SSL_CTX *pick(void *arg, const char *name, size_t len)
{
    (void)name;
    (void)len;
    return arg;
}

static void ctx_free(void *arg)
{
    SSL_CTX_free(arg);
}

/* Answers "rc=<ig_http_stream_sni's result> name=<name>". */
static void on_request(ig_http_stream_t *s)
{
    ig_iov_t name = {(char *)"x", 1};
    int rc = ig_http_stream_sni(s, &name);
    char body[300];
    int n = snprintf(body, sizeof(body), "rc=%d name=%.*s", rc, (int)name.len, name.base != NULL ? name.base : "");
    ig_http_stream_send(s, 200, "text/plain", body, (size_t)n);
}

static void server_start(struct ig_test_http_thread *sv, SSL_CTX *ctx)
{
    struct ig_http_server_config cfg = {.ssl_ctx = ctx};
    ig_test_http_thread_start(sv, &cfg, on_request);
}

static void run_cmd(const char *cmd, char *out, size_t size)
{
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    pclose(f);
}

static void curl(const char *opts, const char *url, int port, char *out, size_t size)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "curl -sk --max-time 5 %s --resolve a.example:%d:127.0.0.1 --resolve b.example:%d:127.0.0.1 "
             "-w ' v=%%{http_version}' '%s' 2>&1",
             opts, port, port, url);
    run_cmd(cmd, out, size);
}

static void test_tls_h1_h2(void **state)
{
    (void)state;
    char err[256], url[128], out[1024];
    SSL_CTX *ctx = ig_tls_server_ctx(cert, key, "h2,http/1.1", err, sizeof(err));
    assert_non_null(ctx);
    SSL_CTX *front = ig_tls_server_sni_ctx(pick, ctx, ctx_free, err, sizeof(err));
    assert_non_null(front);
    struct ig_test_http_thread sv;
    server_start(&sv, front);

    snprintf(url, sizeof(url), "https://a.example:%d/", sv.port);
    curl("--http1.1", url, sv.port, out, sizeof(out));
    assert_string_equal(out, "rc=1 name=a.example v=1.1");
    curl("--http2", url, sv.port, out, sizeof(out));
    assert_string_equal(out, "rc=1 name=a.example v=2");
    /* Two requests on one kept-alive connection each see its name; another connection its own. */
    snprintf(url, sizeof(url), "https://b.example:%d/[1-2]", sv.port);
    curl("--http1.1", url, sv.port, out, sizeof(out));
    assert_string_equal(out, "rc=1 name=b.example v=1.1rc=1 name=b.example v=1.1");
    curl("--http2", url, sv.port, out, sizeof(out));
    assert_string_equal(out, "rc=1 name=b.example v=2rc=1 name=b.example v=2");
    /* curl sends no server name for an IP address: TLS without a name. */
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/", sv.port);
    curl("--http1.1", url, sv.port, out, sizeof(out));
    assert_string_equal(out, "rc=0 name= v=1.1");
    curl("--http2", url, sv.port, out, sizeof(out));
    assert_string_equal(out, "rc=0 name= v=2");

    ig_test_http_thread_stop(&sv);
    SSL_CTX_free(front);
}

static void test_plaintext(void **state)
{
    (void)state;
    char url[128], out[1024], want[64];
    struct ig_test_http_thread sv;
    server_start(&sv, NULL);
    snprintf(want, sizeof(want), "rc=%d name= v=1.1", IG_EINVAL);
    snprintf(url, sizeof(url), "http://a.example:%d/", sv.port);
    curl("--http1.1", url, sv.port, out, sizeof(out));
    assert_string_equal(out, want);
    /* h2c with prior knowledge. */
    snprintf(want, sizeof(want), "rc=%d name= v=2", IG_EINVAL);
    curl("--http2-prior-knowledge", url, sv.port, out, sizeof(out));
    assert_string_equal(out, want);
    ig_test_http_thread_stop(&sv);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_h1_h2),
        cmocka_unit_test(test_plaintext),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
