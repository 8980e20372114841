/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of server-side SNI in src/loop/tls.c: handshakes between an OpenSSL client and a front
 * context over memory BIOs, checking which certificate the client received for each server name,
 * the default for a client without one, the unrecognized_name alert, a listener's own minimum TLS
 * version and client certificate requirement taking effect, the selector's argument released with the front context,
 * the server_name extension parser on malformed input, and the capture of an accepted socket's TLS object
 * whose negotiated server name the http module reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "ig/loop.h"

static char dir[64];
static char certs[3][2][128]; /* a.example, *.wild.example, default: cert, key */
static const char *const cns[3] = {"a.example", "x.wild.example", "default.example"};

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/ig-sni-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    for (int i = 0; i < 3; i++) {
        snprintf(certs[i][0], sizeof(certs[i][0]), "%s/c%d.pem", dir, i);
        snprintf(certs[i][1], sizeof(certs[i][1]), "%s/k%d.pem", dir, i);
        if (ig_tls_self_signed(cns[i], certs[i][0], certs[i][1]) != 0)
            return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++) {
        unlink(certs[i][0]);
        unlink(certs[i][1]);
    }
    rmdir(dir);
    return 0;
}

/* The selector under test: a fixed table (exact, wildcard, default), the contexts owned by it. */
struct table {
    SSL_CTX *ctx[3];
    int with_default;
    int calls;
    char last[64];
};

static int frees;

static SSL_CTX *pick(void *arg, const char *name, size_t len)
{
    struct table *t = arg;
    t->calls++;
    snprintf(t->last, sizeof(t->last), "%.*s", (int)len, name != NULL ? name : "");
    if (name != NULL && len == 9 && memcmp(name, "a.example", 9) == 0)
        return t->ctx[0];
    if (name != NULL && len > 13 && memcmp(name + len - 13, ".wild.example", 13) == 0)
        return t->ctx[1];
    return t->with_default ? t->ctx[2] : NULL;
}

static void table_free(void *arg)
{
    struct table *t = arg;
    for (int i = 0; i < 3; i++)
        SSL_CTX_free(t->ctx[i]);
    free(t);
    frees++;
}

static SSL_CTX *front_new(int with_default, int a_min_13, struct table **out)
{
    char err[256];
    struct table *t = calloc(1, sizeof(*t));
    for (int i = 0; i < 3; i++) {
        t->ctx[i] = ig_tls_server_ctx(certs[i][0], certs[i][1], "h2,http/1.1", err, sizeof(err));
        assert_non_null(t->ctx[i]);
    }
    if (a_min_13)
        SSL_CTX_set_min_proto_version(t->ctx[0], TLS1_3_VERSION);
    t->with_default = with_default;
    *out = t;
    SSL_CTX *front = ig_tls_server_sni_ctx(pick, t, table_free, err, sizeof(err));
    assert_non_null(front);
    return front;
}

/* Moves pending bytes from |from| to |to|. */
static void shuttle(BIO *from, BIO *to)
{
    char buf[16384];
    int n;
    while ((n = BIO_read(from, buf, sizeof(buf))) > 0)
        assert_int_equal(BIO_write(to, buf, n), n);
}

struct hs {
    int ok;
    char subject_cn[64];
    char alpn[16];
    unsigned long client_err;
};

/* One handshake between a client (|sni| may be NULL, |max13| 0: TLS 1.2 at most) and |server|. */
static void handshake(SSL *server, const char *sni, int tls12_only, struct hs *out)
{
    memset(out, 0, sizeof(*out));
    SSL_CTX *cctx = ig_tls_client_ctx(NULL, 1, "h2,http/1.1", NULL, 0);
    assert_non_null(cctx);
    if (tls12_only)
        SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
    SSL *client = SSL_new(cctx);
    BIO *crb = BIO_new(BIO_s_mem()), *cwb = BIO_new(BIO_s_mem());
    BIO *srb = BIO_new(BIO_s_mem()), *swb = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(crb, -1);
    BIO_set_mem_eof_return(srb, -1);
    SSL_set_bio(client, crb, cwb);
    SSL_set_bio(server, srb, swb);
    SSL_set_connect_state(client);
    SSL_set_accept_state(server);
    if (sni != NULL)
        assert_int_equal(SSL_set_tlsext_host_name(client, sni), 1);
    int cdone = 0, sdone = 0, failed = 0;
    for (int i = 0; i < 20 && !(cdone && sdone) && !failed; i++) {
        if (!cdone) {
            int rc = SSL_do_handshake(client);
            if (rc == 1)
                cdone = 1;
            else if (SSL_get_error(client, rc) != SSL_ERROR_WANT_READ)
                failed = 1;
        }
        shuttle(cwb, srb);
        if (!sdone) {
            int rc = SSL_do_handshake(server);
            if (rc == 1)
                sdone = 1;
            else if (SSL_get_error(server, rc) != SSL_ERROR_WANT_READ)
                failed = 2;
        }
        shuttle(swb, crb);
    }
    if (failed == 2) {
        /* Let the client read the server's alert. */
        ERR_clear_error();
        SSL_do_handshake(client);
    }
    out->client_err = ERR_peek_last_error();
    out->ok = cdone && sdone;
    if (out->ok) {
        X509 *peer = SSL_get1_peer_certificate(client);
        assert_non_null(peer);
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, out->subject_cn,
                                  sizeof(out->subject_cn));
        X509_free(peer);
        const unsigned char *p = NULL;
        unsigned int len = 0;
        SSL_get0_alpn_selected(client, &p, &len);
        snprintf(out->alpn, sizeof(out->alpn), "%.*s", (int)len, p != NULL ? (const char *)p : "");
    }
    ERR_clear_error();
    SSL_free(client);
    SSL_CTX_free(cctx);
}

static void test_select_by_name(void **state)
{
    (void)state;
    struct table *t;
    SSL_CTX *front = front_new(1, 0, &t);
    struct {
        const char *sni, *cn;
    } cases[] = {
        {"a.example", "a.example"},
        {"x.wild.example", "x.wild.example"}, /* the wildcard listener's certificate */
        {"deep.y.wild.example", "x.wild.example"},
        {"other.example", "default.example"},
        {NULL, "default.example"}, /* no SNI: the default */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        SSL *s = SSL_new(front);
        struct hs hs;
        handshake(s, cases[i].sni, 0, &hs);
        assert_true(hs.ok);
        assert_string_equal(hs.subject_cn, cases[i].cn);
        assert_string_equal(hs.alpn, "h2"); /* the chosen context's ALPN list applies */
        assert_string_equal(t->last, cases[i].sni != NULL ? cases[i].sni : "");
        SSL_free(s);
    }
    assert_int_equal(t->calls, 5);
    frees = 0;
    SSL_CTX_free(front);
    assert_int_equal(frees, 1); /* the selector's argument goes with the front */
}

static void test_unrecognized_name(void **state)
{
    (void)state;
    struct table *t;
    SSL_CTX *front = front_new(0, 0, &t);
    SSL *s = SSL_new(front);
    struct hs hs;
    handshake(s, "other.example", 0, &hs);
    assert_false(hs.ok);
    assert_int_equal(ERR_GET_REASON(hs.client_err), SSL_R_TLSV1_UNRECOGNIZED_NAME);
    SSL_free(s);
    s = SSL_new(front);
    handshake(s, NULL, 0, &hs); /* no name and no default: refused the same way */
    assert_false(hs.ok);
    assert_int_equal(ERR_GET_REASON(hs.client_err), SSL_R_TLSV1_UNRECOGNIZED_NAME);
    SSL_free(s);
    s = SSL_new(front);
    handshake(s, "a.example", 0, &hs);
    assert_true(hs.ok);
    SSL_free(s);
    SSL_CTX_free(front);
}

static void test_listener_versions(void **state)
{
    (void)state;
    struct table *t;
    SSL_CTX *front = front_new(1, 1, &t); /* a.example: TLS 1.3 only */
    SSL *s = SSL_new(front);
    struct hs hs;
    handshake(s, "a.example", 1, &hs);
    assert_false(hs.ok); /* a TLS 1.2 client is refused by that listener only */
    SSL_free(s);
    s = SSL_new(front);
    handshake(s, "other.example", 1, &hs);
    assert_true(hs.ok);
    assert_string_equal(hs.subject_cn, "default.example");
    SSL_free(s);
    s = SSL_new(front);
    handshake(s, "a.example", 0, &hs);
    assert_true(hs.ok);
    assert_string_equal(hs.subject_cn, "a.example");
    SSL_free(s);
    SSL_CTX_free(front);
}

/* A listener with a client CA asks for a client certificate; the others do not. */
static void test_listener_client_auth(void **state)
{
    (void)state;
    struct table *t;
    SSL_CTX *front = front_new(1, 0, &t);
    assert_int_equal(SSL_CTX_load_verify_locations(t->ctx[0], certs[0][0], NULL), 1);
    SSL_CTX_set_verify(t->ctx[0], SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL *s = SSL_new(front);
    struct hs hs;
    handshake(s, "a.example", 1, &hs); /* TLS 1.2: the refusal is part of the handshake */
    assert_false(hs.ok);
    SSL_free(s);
    s = SSL_new(front);
    handshake(s, "x.wild.example", 1, &hs);
    assert_true(hs.ok);
    SSL_free(s);
    SSL_CTX_free(front);
}

static void test_parse(void **state)
{
    (void)state;
    const unsigned char *name;
    size_t len;
    static const unsigned char ok[] = {0, 12, 0, 0, 9, 'a', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e'};
    assert_int_equal(ig_tls_sni_parse(ok, sizeof(ok), &name, &len), 0);
    assert_int_equal(len, 9);
    assert_memory_equal(name, "a.example", 9);
    /* An entry of another type first is skipped. */
    static const unsigned char other[] = {0, 9, 7, 0, 1, 'z', 0, 0, 2, 'h', 'i'};
    assert_int_equal(ig_tls_sni_parse(other, sizeof(other), &name, &len), 0);
    assert_int_equal(len, 2);
    static const unsigned char none[] = {0, 4, 7, 0, 1, 'z'};
    assert_int_equal(ig_tls_sni_parse(none, sizeof(none), &name, &len), IG_ENOTFOUND);
    static const unsigned char bad_list[] = {0, 13, 0, 0, 9, 'a', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e'};
    assert_int_equal(ig_tls_sni_parse(bad_list, sizeof(bad_list), &name, &len), IG_EPROTO);
    static const unsigned char bad_entry[] = {0, 5, 0, 0, 9, 'a', '.'};
    assert_int_equal(ig_tls_sni_parse(bad_entry, sizeof(bad_entry), &name, &len), IG_EPROTO);
    static const unsigned char nul[] = {0, 5, 0, 0, 2, 'a', 0};
    assert_int_equal(ig_tls_sni_parse(nul, sizeof(nul), &name, &len), IG_EPROTO);
    static const unsigned char empty[] = {0, 3, 0, 0, 0};
    assert_int_equal(ig_tls_sni_parse(empty, sizeof(empty), &name, &len), IG_EPROTO);
    assert_int_equal(ig_tls_sni_parse(ok, 1, &name, &len), IG_EPROTO);
    static const unsigned char truncated[] = {0, 2, 0, 0};
    assert_int_equal(ig_tls_sni_parse(truncated, sizeof(truncated), &name, &len), IG_EPROTO);
}

/*
 * The server name the handshake accepted stays readable from the TLS object after the front
 * switched contexts (ig_sock_server_name relies on SSL_get_servername there), on TLS 1.3 and 1.2,
 * and is absent when the client sent none.
 */
static void test_server_name_after_switch(void **state)
{
    (void)state;
    struct table *t;
    SSL_CTX *front = front_new(1, 0, &t);
    SSL *s0 = SSL_new(front);
    SSL *s1 = SSL_new(front);
    SSL *s2 = SSL_new(front);

    struct hs hs;
    handshake(s0, "x.wild.example", 0, &hs);
    assert_true(hs.ok);
    assert_string_equal(hs.subject_cn, "x.wild.example");
    assert_string_equal(SSL_get_servername(s0, TLSEXT_NAMETYPE_host_name), "x.wild.example");
    handshake(s1, "a.example", 1, &hs);
    assert_true(hs.ok);
    assert_string_equal(hs.subject_cn, "a.example");
    assert_string_equal(SSL_get_servername(s1, TLSEXT_NAMETYPE_host_name), "a.example");
    handshake(s2, NULL, 0, &hs);
    assert_true(hs.ok);
    assert_null(SSL_get_servername(s2, TLSEXT_NAMETYPE_host_name));
    SSL_free(s0);
    SSL_free(s1);
    SSL_free(s2);
    SSL_CTX_free(front);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_by_name),
        cmocka_unit_test(test_unrecognized_name),
        cmocka_unit_test(test_listener_versions),
        cmocka_unit_test(test_listener_client_auth),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_server_name_after_switch),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
