/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the client contexts of ig_tls_client_ctx_opts (backendTLS): a test CA issuing a
 * server certificate (DNS and URI names), a client certificate, and a second CA nobody trusts,
 * all generated into a temporary directory; handshakes on 127.0.0.1 through ig_sock. Covers
 * extra accepted names (DNS, URI, a mismatch), insecureHost (any name, but still the chain),
 * mutual TLS with and without a client certificate, an offered ALPN list, key exchange groups
 * (agreeing, disjoint, unknown), context errors and ig_tls_client_ctx_matches.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ig/loop.h"
#include "ig_test_loop.h"
#include "ig_test_sock.h"

#define GUARD_MS 5000

static uv_loop_t loop;
static char dir[64];
static char ca[128], srv_cert[128], srv_key[128], cli_cert[128], cli_key[128], other_ca[128], other_key[128];

/* ---- certificates ------------------------------------------------------------------------------ */

static int write_file(const char *path, X509 *x, EVP_PKEY *k)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    int ok = x != NULL ? PEM_write_X509(f, x) : PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    return ok == 1 ? 0 : -1;
}

/* Adds the extensions |nids|/|values| (|n| of them) to |x|, as issued by |issuer|. */
static int add_exts(X509 *x, X509 *issuer, const int *nids, const char *const *values, size_t n)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    for (size_t i = 0; i < n; i++) {
        if (values[i] == NULL)
            continue; /* not wanted on this certificate */
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nids[i], values[i]);
        int ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;
        X509_EXTENSION_free(ext);
        if (!ok)
            return -1;
    }
    return 0;
}

/*
 * A certificate for |cn| with |san| (NULL: none), signed by |issuer|/|ikey| (NULL: self-signed CA).
 * Writes it and its key to |cert_path| and |key_path|; returns the pair through |xo|/|ko| when asked.
 */
static int make_cert(const char *cn, const char *san, X509 *issuer, EVP_PKEY *ikey, const char *cert_path,
                     const char *key_path, X509 **xo, EVP_PKEY **ko)
{
    static long serial = 1;
    int rc = -1;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (key == NULL || x == NULL || X509_set_version(x, X509_VERSION_3) != 1)
        goto out;
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(x, key);
    static const int ca_nids[] = {NID_basic_constraints, NID_key_usage, NID_subject_key_identifier};
    static const char *const ca_vals[] = {"critical,CA:TRUE", "critical,keyCertSign,cRLSign", "hash"};
    static const int leaf_nids[] = {NID_basic_constraints, NID_ext_key_usage, NID_subject_key_identifier,
                                    NID_subject_alt_name};
    const char *leaf_vals[] = {"critical,CA:FALSE", "serverAuth,clientAuth", "hash", san};
    if (issuer == NULL ? add_exts(x, x, ca_nids, ca_vals, 3) != 0 : add_exts(x, issuer, leaf_nids, leaf_vals, 4) != 0)
        goto out;
    if (X509_sign(x, ikey != NULL ? ikey : key, EVP_sha256()) == 0)
        goto out;
    if (write_file(cert_path, x, NULL) != 0 || write_file(key_path, NULL, key) != 0)
        goto out;
    rc = 0;
out:
    if (rc == 0 && xo != NULL) {
        *xo = x;
        x = NULL;
    }
    if (rc == 0 && ko != NULL) {
        *ko = key;
        key = NULL;
    }
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

static int group_setup(void **state)
{
    (void)state;
    char ca_key[128], scratch[128];
    X509 *cax = NULL;
    EVP_PKEY *cak = NULL;
    snprintf(dir, sizeof(dir), "/tmp/ig-tlsc-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    snprintf(ca_key, sizeof(ca_key), "%s/ca.key", dir);
    snprintf(srv_cert, sizeof(srv_cert), "%s/srv.pem", dir);
    snprintf(srv_key, sizeof(srv_key), "%s/srv.key", dir);
    snprintf(cli_cert, sizeof(cli_cert), "%s/cli.pem", dir);
    snprintf(cli_key, sizeof(cli_key), "%s/cli.key", dir);
    snprintf(other_ca, sizeof(other_ca), "%s/other.pem", dir);
    snprintf(other_key, sizeof(other_key), "%s/other.key", dir);
    snprintf(scratch, sizeof(scratch), "%s/scratch.key", dir);
    int rc = make_cert("test ca", NULL, NULL, NULL, ca, ca_key, &cax, &cak) != 0 ||
                     make_cert("svc", "DNS:svc.test,URI:spiffe://td/ns/a/sa/b", cax, cak, srv_cert, srv_key, NULL,
                               NULL) != 0 ||
                     make_cert("gateway", "DNS:gateway.test", cax, cak, cli_cert, cli_key, NULL, NULL) != 0 ||
                     make_cert("other ca", NULL, NULL, NULL, other_ca, other_key, NULL, NULL) != 0
                 ? -1
                 : 0;
    X509_free(cax);
    EVP_PKEY_free(cak);
    unlink(ca_key);
    return rc;
}

static int group_teardown(void **state)
{
    (void)state;
    const char *files[] = {ca, srv_cert, srv_key, cli_cert, cli_key, other_ca, other_key};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        unlink(files[i]);
    rmdir(dir);
    return 0;
}

/* ---- one exchange ------------------------------------------------------------------------------- */

struct run {
    int connected, connect_status;
    int client_closed, client_err;
    int echoed; /* the client got its bytes back */
    char alpn[16];
    int server_closed;
};

static void srv_read(ig_sock_t *s, const char *data, size_t len)
{
    assert_int_equal(ig_sock_write(s, data, len), 0);
}

static void srv_close(ig_sock_t *s, int err)
{
    (void)err;
    struct run *r = s->data;
    r->server_closed++;
}

static const struct ig_sock_ops srv_ops = {.on_read = srv_read, .on_close = srv_close};

static void cli_connect(ig_sock_t *s, int status)
{
    struct run *r = s->data;
    r->connected++;
    r->connect_status = status;
    if (status != 0)
        return;
    ig_iov_t a = ig_sock_alpn(s);
    snprintf(r->alpn, sizeof(r->alpn), "%.*s", (int)a.len, a.base != NULL ? a.base : "");
    assert_int_equal(ig_sock_write(s, "ping", 4), 0);
}

static void cli_read(ig_sock_t *s, const char *data, size_t len)
{
    struct run *r = s->data;
    if (len == 4 && memcmp(data, "ping", 4) == 0)
        r->echoed = 1;
    ig_sock_close(s);
}

static void cli_close(ig_sock_t *s, int err)
{
    struct run *r = s->data;
    r->client_closed++;
    r->client_err = err;
}

static const struct ig_sock_ops cli_ops = {.on_connect = cli_connect, .on_read = cli_read, .on_close = cli_close};

/* The server: srv.pem for svc.test, ALPN h2, a client certificate from ca.pem required when |mtls|. */
static SSL_CTX *server_ctx(int mtls, const char *groups)
{
    char err[256];
    SSL_CTX *ctx = ig_tls_server_ctx(srv_cert, srv_key, "h2,http/1.1", err, sizeof(err));
    if (ctx == NULL)
        fail_msg("server ctx: %s", err);
    if (mtls) {
        assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca, NULL), 1);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    if (groups != NULL)
        assert_int_equal(SSL_CTX_set1_groups_list(ctx, groups), 1);
    return ctx;
}

/* One connection with a client built from |o| (named |sni|) against server_ctx(mtls, groups). */
static void exchange(struct run *r, const struct ig_tls_client_opts *o, const char *sni, int mtls, const char *groups)
{
    char err[256];
    memset(r, 0, sizeof(*r));
    SSL_CTX *sctx = server_ctx(mtls, groups);
    SSL_CTX *cctx = ig_tls_client_ctx_opts(o, err, sizeof(err));
    if (cctx == NULL)
        fail_msg("client ctx: %s", err);
    struct ig_sock_config srv_cfg = {.ssl_ctx = sctx};
    struct ig_sock_config cli_cfg = {.ssl_ctx = cctx, .sni = sni, .connect_timeout_ms = 3000};
    ig_test_loop_begin(&loop, GUARD_MS);
    ig_test_sock_pair(&loop, &srv_cfg, &srv_ops, &cli_cfg, &cli_ops, r);
    ig_test_loop_end(&loop);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    assert_int_equal(r->connected, 1);
    assert_int_equal(r->client_closed, 1);
}

static void expect_ok(const struct run *r)
{
    assert_int_equal(r->connect_status, 0);
    assert_true(r->echoed);
}

static void expect_refused(const struct run *r)
{
    assert_false(r->echoed);
    assert_int_not_equal(r->client_err, 0);
}

/* ---- names --------------------------------------------------------------------------------------- */

static void test_hostname_only(void **state)
{
    (void)state;
    struct run r;
    struct ig_tls_client_opts o = {.ca_file = ca};
    exchange(&r, &o, "svc.test", 0, NULL);
    expect_ok(&r);
    exchange(&r, &o, "other.test", 0, NULL);
    assert_int_equal(r.connect_status, IG_ETLS);
    expect_refused(&r);
}

static void test_subject_alt_names(void **state)
{
    (void)state;
    struct run r;
    const char *dns[] = {"nomatch.test", "svc.test"};
    const char *uri[] = {"spiffe://td/ns/a/sa/b"};
    const char *wrong[] = {"spiffe://td/ns/a/sa/c", "nomatch.test", "10.1.2.3"};
    struct ig_tls_client_opts o = {.ca_file = ca, .sans = dns, .n_sans = 2};
    exchange(&r, &o, "other.test", 0, NULL); /* the name fails, a listed DNS name matches */
    expect_ok(&r);
    o.sans = uri;
    o.n_sans = 1;
    exchange(&r, &o, "other.test", 0, NULL); /* the URI name matches exactly */
    expect_ok(&r);
    o.sans = wrong;
    o.n_sans = 3;
    exchange(&r, &o, "other.test", 0, NULL);
    assert_int_equal(r.connect_status, IG_ETLS);
    expect_refused(&r);
    exchange(&r, &o, "svc.test", 0, NULL); /* the connection's own name still counts */
    expect_ok(&r);
    o.ca_file = other_ca; /* names never excuse an untrusted chain */
    o.sans = dns;
    o.n_sans = 2;
    exchange(&r, &o, "svc.test", 0, NULL);
    assert_int_equal(r.connect_status, IG_ETLS);
}

static void test_insecure_host(void **state)
{
    (void)state;
    struct run r;
    struct ig_tls_client_opts o = {.ca_file = ca, .insecure_host = 1};
    exchange(&r, &o, "other.test", 0, NULL);
    expect_ok(&r);
    exchange(&r, &o, "127.0.0.1", 0, NULL); /* an IP name, not in the certificate */
    expect_ok(&r);
    o.ca_file = other_ca;
    exchange(&r, &o, "svc.test", 0, NULL); /* the chain is still verified */
    assert_int_equal(r.connect_status, IG_ETLS);
    o.insecure = 1; /* insecureHost wins over insecure: still verified */
    exchange(&r, &o, "svc.test", 0, NULL);
    assert_int_equal(r.connect_status, IG_ETLS);
    o.insecure_host = 0;
    exchange(&r, &o, "other.test", 0, NULL);
    expect_ok(&r);
}

/* ---- mutual TLS ----------------------------------------------------------------------------------- */

static void test_client_certificate(void **state)
{
    (void)state;
    struct run r;
    struct ig_tls_client_opts o = {.ca_file = ca, .cert_file = cli_cert, .key_file = cli_key};
    exchange(&r, &o, "svc.test", 1, NULL);
    expect_ok(&r);
    /* Without one the server refuses: at the handshake (TLS 1.2) or at the first read (1.3). */
    struct ig_tls_client_opts none = {.ca_file = ca};
    exchange(&r, &none, "svc.test", 1, NULL);
    expect_refused(&r);
    assert_int_equal(r.client_err, IG_ETLS);
    /* A certificate from a CA the server does not trust. */
    struct ig_tls_client_opts foreign = {.ca_file = ca, .cert_file = other_ca, .key_file = other_key};
    exchange(&r, &foreign, "svc.test", 1, NULL);
    expect_refused(&r);
}

/* ---- ALPN and groups -------------------------------------------------------------------------------- */

static void test_alpn_list(void **state)
{
    (void)state;
    struct run r;
    struct ig_tls_client_opts o = {.ca_file = ca, .alpn = "spdy/3,http/1.1"};
    exchange(&r, &o, "svc.test", 0, NULL);
    expect_ok(&r);
    assert_string_equal(r.alpn, "http/1.1");
    o.alpn = "foo,h2";
    exchange(&r, &o, "svc.test", 0, NULL);
    expect_ok(&r);
    assert_string_equal(r.alpn, "h2");
}

static void test_key_exchange_groups(void **state)
{
    (void)state;
    struct run r;
    struct ig_tls_client_opts o = {.ca_file = ca, .groups = "P-384:X25519"};
    exchange(&r, &o, "svc.test", 0, "P-384");
    expect_ok(&r);
    o.groups = "X25519";
    exchange(&r, &o, "svc.test", 0, "P-384"); /* nothing in common */
    assert_int_equal(r.connect_status, IG_ETLS);
}

/* ---- context errors and matching ------------------------------------------------------------------- */

static void test_ctx_errors(void **state)
{
    (void)state;
    char err[256];
    struct ig_tls_client_opts o = {.ca_file = ca, .cert_file = cli_cert};
    assert_null(ig_tls_client_ctx_opts(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "both"));
    o.key_file = srv_key; /* another certificate's key */
    assert_null(ig_tls_client_ctx_opts(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "private key"));
    assert_non_null(strstr(err, srv_key));
    o.key_file = "/nonexistent/key.pem";
    assert_null(ig_tls_client_ctx_opts(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot load client private key"));
    struct ig_tls_client_opts g = {.ca_file = ca, .groups = "X25519:bogus"};
    assert_null(ig_tls_client_ctx_opts(&g, err, sizeof(err)));
    assert_non_null(strstr(err, "key exchange groups"));
    struct ig_tls_client_opts a = {.ca_file = ca, .alpn = "h2,,x"};
    assert_null(ig_tls_client_ctx_opts(&a, err, sizeof(err)));
    assert_non_null(strstr(err, "ALPN"));
}

static void test_ctx_matches(void **state)
{
    (void)state;
    char err[256];
    const char *sans[] = {"a.test", "b.test"};
    const char *sans2[] = {"a.test", "c.test"};
    struct ig_tls_client_opts o = {.ca_file = ca,
                                   .cert_file = cli_cert,
                                   .key_file = cli_key,
                                   .alpn = "h2",
                                   .groups = "X25519",
                                   .sans = sans,
                                   .n_sans = 2};
    SSL_CTX *ctx = ig_tls_client_ctx_opts(&o, err, sizeof(err));
    assert_non_null(ctx);
    struct ig_tls_client_opts same = o;
    assert_true(ig_tls_client_ctx_matches(ctx, &same));
    same.sans = sans2;
    assert_false(ig_tls_client_ctx_matches(ctx, &same));
    same = o;
    same.n_sans = 1;
    assert_false(ig_tls_client_ctx_matches(ctx, &same));
    same = o;
    same.alpn = "h2,http/1.1";
    assert_false(ig_tls_client_ctx_matches(ctx, &same));
    same = o;
    same.insecure_host = 1;
    assert_false(ig_tls_client_ctx_matches(ctx, &same));
    same = o;
    same.cert_file = NULL;
    same.key_file = NULL;
    assert_false(ig_tls_client_ctx_matches(ctx, &same));
    SSL_CTX_free(ctx);
    /* The plain constructor's contexts compare with the equivalent settings. */
    ctx = ig_tls_client_ctx(ca, 0, "h2", err, sizeof(err));
    assert_non_null(ctx);
    struct ig_tls_client_opts plain = {.ca_file = ca, .alpn = "h2"};
    assert_true(ig_tls_client_ctx_matches(ctx, &plain));
    plain.insecure = 1;
    assert_false(ig_tls_client_ctx_matches(ctx, &plain));
    SSL_CTX_free(ctx);
    assert_false(ig_tls_client_ctx_matches(NULL, &plain));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostname_only), cmocka_unit_test(test_subject_alt_names),
        cmocka_unit_test(test_insecure_host), cmocka_unit_test(test_client_certificate),
        cmocka_unit_test(test_alpn_list),     cmocka_unit_test(test_key_exchange_groups),
        cmocka_unit_test(test_ctx_errors),    cmocka_unit_test(test_ctx_matches),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
