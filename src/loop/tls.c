/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS contexts for ig_sock: server contexts from PEM files with server-preference ALPN, client
 * contexts with everything backendTLS can say (roots or the system store, no verification, chain
 * without name, extra accepted names, a client certificate, ALPN, key exchange groups), and a
 * self-signed certificate generator for tests, demos and the simulator. TLS 1.2 is the floor;
 * renegotiation is off because the memory-BIO engine in sock.c never needs it.
 *
 * Server-side SNI: a front context without certificate switches each handshake, at its
 * ClientHello, to the context the application picks for the server name; ig_sock_server_name
 * tells the application which name a connection was negotiated for.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "loop_int.h"

#define ALPN_WIRE_MAX 256

/* The server's ALPN preference list in wire format, owned by the SSL_CTX through ex_data. */
struct alpn_list {
    size_t len;
    unsigned char wire[ALPN_WIRE_MAX];
};

static int alpn_index = -1;
static pthread_once_t alpn_once = PTHREAD_ONCE_INIT;

static void alpn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    ig_free(ptr);
}

static void alpn_index_create(void)
{
    alpn_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, alpn_free);
}

static void set_err(char *err, size_t errlen, const char *what, const char *arg)
{
    char ssl[200] = "";
    unsigned long e = ERR_peek_last_error();
    if (e != 0)
        ERR_error_string_n(e, ssl, sizeof(ssl));
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s%s%s%s%s", what, arg != NULL ? " " : "", arg != NULL ? arg : "", ssl[0] ? ": " : "",
                 ssl);
    ERR_clear_error();
}

/* "h2,http/1.1" -> "\x02h2\x08http/1.1". Returns 0 or IG_EINVAL. */
static int alpn_to_wire(const char *alpn, unsigned char *out, size_t size, size_t *outlen)
{
    size_t n = 0;
    const char *p = alpn;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len == 0 || len > 255 || n + 1 + len > size)
            return IG_EINVAL;
        out[n++] = (unsigned char)len;
        memcpy(out + n, p, len);
        n += len;
        p += len;
        if (*p == ',')
            p++;
    }
    if (n == 0)
        return IG_EINVAL;
    *outlen = n;
    return 0;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    (void)arg;
    const struct alpn_list *l = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), alpn_index);
    unsigned char *sel = NULL;
    if (l == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    /* The server's list is first: its order is the preference. */
    if (SSL_select_next_proto(&sel, outlen, l->wire, (unsigned int)l->len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* no overlap: continue without ALPN */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *ctx_new(const SSL_METHOD *method)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /* No SSL_MODE_RELEASE_BUFFERS: it would free and reallocate the record buffers around every
     * read on a busy connection; the memory (~34 KiB per connection) buys a malloc-free path. */
    return ctx;
}

SSL_CTX *ig_tls_server_ctx(const char *cert_file, const char *key_file, const char *alpn, char *err, size_t errlen)
{
    ERR_clear_error();
    pthread_once(&alpn_once, alpn_index_create);
    SSL_CTX *ctx = ctx_new(TLS_server_method());
    if (ctx == NULL) {
        set_err(err, errlen, "SSL_CTX_new", NULL);
        return NULL;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        set_err(err, errlen, "cannot load certificate", cert_file);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        set_err(err, errlen, "cannot load private key", key_file);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        set_err(err, errlen, "private key does not match certificate", cert_file);
        goto fail;
    }
    if (alpn != NULL && alpn[0] != '\0') {
        struct alpn_list *l = ig_calloc(1, sizeof(*l));
        if (alpn_to_wire(alpn, l->wire, sizeof(l->wire), &l->len) != 0) {
            ig_free(l);
            set_err(err, errlen, "invalid ALPN list", alpn);
            goto fail;
        }
        if (alpn_index < 0 || SSL_CTX_set_ex_data(ctx, alpn_index, l) != 1) {
            ig_free(l);
            set_err(err, errlen, "SSL_CTX_set_ex_data", NULL);
            goto fail;
        }
        SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* ---- client contexts --------------------------------------------------------------------------- */

/*
 * What a client context remembers of its settings, owned by the SSL_CTX through ex_data: the
 * names its certificate verifier accepts, and a canonical text of every setting so callers can
 * tell whether a context they hold was built from the same configuration.
 */
struct client_settings {
    int insecure_host;
    char **sans; /* into the same allocation */
    size_t n_sans;
    char *fingerprint;
};

static int client_index = -1;
static pthread_once_t client_once = PTHREAD_ONCE_INIT;

static void client_settings_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    struct client_settings *cs = ptr;
    if (cs == NULL)
        return;
    for (size_t i = 0; i < cs->n_sans; i++)
        ig_free(cs->sans[i]);
    ig_free(cs->sans);
    ig_free(cs->fingerprint);
    ig_free(cs);
}

static void client_index_create(void)
{
    client_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, client_settings_free);
}

/* One field of the fingerprint, length-prefixed so that no value can imitate a separator. */
static void fp_str(ig_buf_t *b, const char *s)
{
    if (s == NULL)
        ig_buf_append(b, "-;", 2);
    else
        ig_buf_appendf(b, "%zu:%s;", strlen(s), s);
}

/* The canonical text of |o|; NULL when it does not fit (no context is then shared). */
static char *fingerprint(const struct ig_tls_client_opts *o)
{
    ig_buf_t b;
    ig_buf_init(&b, 64 * 1024);
    ig_buf_appendf(&b, "%d%d;", o->insecure != 0, o->insecure_host != 0);
    fp_str(&b, o->ca_file);
    fp_str(&b, o->cert_file);
    fp_str(&b, o->key_file);
    fp_str(&b, o->alpn);
    fp_str(&b, o->groups);
    for (size_t i = 0; i < o->n_sans; i++)
        fp_str(&b, o->sans[i]);
    char *out = NULL;
    if (ig_buf_append(&b, "", 1) == 0)
        out = ig_strdup(ig_buf_data(&b));
    ig_buf_dispose(&b);
    return out;
}

/* Does |leaf| carry |name|: a URI name exactly, an IP literal, or a DNS name (wildcards honoured)? */
static int leaf_has_name(X509 *leaf, const char *name)
{
    if (strstr(name, "://") != NULL) {
        GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
        int found = 0;
        for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens) && !found; i++) {
            const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
            if (g->type != GEN_URI)
                continue;
            const ASN1_IA5STRING *u = g->d.uniformResourceIdentifier;
            found = (size_t)u->length == strlen(name) && memcmp(u->data, name, (size_t)u->length) == 0;
        }
        GENERAL_NAMES_free(gens);
        return found;
    }
    struct in6_addr tmp;
    if (inet_pton(AF_INET, name, &tmp) == 1 || inet_pton(AF_INET6, name, &tmp) == 1)
        return X509_check_ip_asc(leaf, name, 0) == 1;
    return X509_check_host(leaf, name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
}

/*
 * The certificate verifier of a context with insecureHost or subjectAltNames. ig_sock sets the
 * connection's name on the SSL (host or IP) for OpenSSL's own check; here that check is taken out
 * of the chain verification and done afterwards against the wider set of accepted names (or not
 * at all with insecureHost), so the chain, dates and purpose are still verified by OpenSSL.
 */
static int verify_names(X509_STORE_CTX *xs, void *arg)
{
    const struct client_settings *cs = arg;
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(xs);
    char host[256] = "";
    const char *h = X509_VERIFY_PARAM_get0_host(param, 0);
    char *ip = X509_VERIFY_PARAM_get1_ip_asc(param);
    if (h != NULL)
        snprintf(host, sizeof(host), "%s", h);
    else if (ip != NULL)
        snprintf(host, sizeof(host), "%s", ip);
    OPENSSL_free(ip);
    X509_VERIFY_PARAM_set1_host(param, NULL, 0);
    X509_VERIFY_PARAM_set1_ip(param, NULL, 0);
    int ok = X509_verify_cert(xs);
    if (ok <= 0 || cs->insecure_host)
        return ok;
    X509 *leaf = X509_STORE_CTX_get0_cert(xs);
    if (leaf == NULL)
        return 0;
    if (host[0] != '\0' && leaf_has_name(leaf, host))
        return 1;
    for (size_t i = 0; i < cs->n_sans; i++)
        if (leaf_has_name(leaf, cs->sans[i]))
            return 1;
    X509_STORE_CTX_set_error(xs, X509_V_ERR_HOSTNAME_MISMATCH);
    return 0;
}

static struct client_settings *client_settings_new(const struct ig_tls_client_opts *o)
{
    struct client_settings *cs = ig_calloc(1, sizeof(*cs));
    cs->insecure_host = o->insecure_host != 0;
    cs->fingerprint = fingerprint(o);
    if (o->n_sans > 0) {
        cs->sans = ig_calloc(o->n_sans, sizeof(*cs->sans));
        for (size_t i = 0; i < o->n_sans; i++)
            cs->sans[cs->n_sans++] = ig_strdup(o->sans[i]);
    }
    return cs;
}

SSL_CTX *ig_tls_client_ctx_opts(const struct ig_tls_client_opts *o, char *err, size_t errlen)
{
    ERR_clear_error();
    pthread_once(&client_once, client_index_create);
    SSL_CTX *ctx = ctx_new(TLS_client_method());
    if (ctx == NULL || client_index < 0) {
        set_err(err, errlen, "SSL_CTX_new", NULL);
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* insecureHost wins over insecure, as in agentgateway: the chain is still verified then. */
    int verify = !o->insecure || o->insecure_host;
    if (!verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        int ok = o->ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL)
                                    : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1) {
            set_err(err, errlen, "cannot load CA certificates", o->ca_file != NULL ? o->ca_file : "(system store)");
            goto fail;
        }
    }
    if ((o->cert_file != NULL) != (o->key_file != NULL)) {
        set_err(err, errlen, "a client certificate needs both a certificate and a key file", NULL);
        goto fail;
    }
    if (o->cert_file != NULL) {
        if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1) {
            set_err(err, errlen, "cannot load client certificate", o->cert_file);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1) {
            set_err(err, errlen, "cannot load client private key", o->key_file);
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            set_err(err, errlen, "client private key does not match certificate", o->cert_file);
            goto fail;
        }
    }
    if (o->groups != NULL && SSL_CTX_set1_groups_list(ctx, o->groups) != 1) {
        set_err(err, errlen, "invalid key exchange groups", o->groups);
        goto fail;
    }
    if (o->alpn != NULL && o->alpn[0] != '\0') {
        unsigned char wire[ALPN_WIRE_MAX];
        size_t len;
        /* SSL_CTX_set_alpn_protos returns 0 on success, unlike most of OpenSSL. */
        if (alpn_to_wire(o->alpn, wire, sizeof(wire), &len) != 0 ||
            SSL_CTX_set_alpn_protos(ctx, wire, (unsigned int)len) != 0) {
            set_err(err, errlen, "invalid ALPN list", o->alpn);
            goto fail;
        }
    }
    struct client_settings *cs = client_settings_new(o);
    if (SSL_CTX_set_ex_data(ctx, client_index, cs) != 1) {
        client_settings_free(NULL, cs, NULL, 0, 0, NULL);
        set_err(err, errlen, "SSL_CTX_set_ex_data", NULL);
        goto fail;
    }
    if (verify && (o->insecure_host || o->n_sans > 0))
        SSL_CTX_set_cert_verify_callback(ctx, verify_names, cs);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *ig_tls_client_ctx(const char *ca_file, int insecure, const char *alpn, char *err, size_t errlen)
{
    struct ig_tls_client_opts o = {.ca_file = ca_file, .insecure = insecure, .alpn = alpn};
    return ig_tls_client_ctx_opts(&o, err, errlen);
}

int ig_tls_client_ctx_matches(const SSL_CTX *ctx, const struct ig_tls_client_opts *o)
{
    pthread_once(&client_once, client_index_create);
    if (ctx == NULL || client_index < 0)
        return 0;
    const struct client_settings *cs = SSL_CTX_get_ex_data(ctx, client_index);
    if (cs == NULL || cs->fingerprint == NULL)
        return 0;
    char *fp = fingerprint(o);
    int same = fp != NULL && strcmp(fp, cs->fingerprint) == 0;
    ig_free(fp);
    return same;
}

/* Writes |fn|'s PEM output to |path| created with |mode|. Returns 0 or -1. */
static int write_pem(const char *path, mode_t mode, int (*fn)(FILE *, void *), void *obj)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd == -1)
        return -1;
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        return -1;
    }
    int ok = fn(f, obj);
    if (fclose(f) != 0)
        ok = 0;
    return ok == 1 ? 0 : -1;
}

static int pem_cert(FILE *f, void *x)
{
    return PEM_write_X509(f, x);
}

static int pem_key(FILE *f, void *k)
{
    return PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
}

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (ext == NULL)
        return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : -1;
}

int ig_tls_self_signed(const char *cn, const char *cert_path, const char *key_path)
{
    int rc = -1;
    X509 *x = NULL;
    char san[300];
    unsigned char serial[16];
    struct in6_addr tmp;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (key == NULL || cn == NULL || strlen(cn) > 255)
        goto out;
    x = X509_new();
    if (x == NULL || X509_set_version(x, X509_VERSION_3) != 1)
        goto out;
    if (RAND_bytes(serial, sizeof(serial)) != 1)
        goto out;
    serial[0] &= 0x7f; /* positive */
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) {
        BN_free(bn);
        goto out;
    }
    BN_free(bn);
    if (X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600) == NULL)
        goto out;
    X509_NAME *name = X509_get_subject_name(x);
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) != 1 ||
        X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, key) != 1)
        goto out;
    int is_ip = inet_pton(AF_INET, cn, &tmp) == 1 || inet_pton(AF_INET6, cn, &tmp) == 1;
    snprintf(san, sizeof(san), "%s:%s", is_ip ? "IP" : "DNS", cn);
    if (add_ext(x, NID_subject_alt_name, san) != 0 || add_ext(x, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
        add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth") != 0 ||
        add_ext(x, NID_subject_key_identifier, "hash") != 0)
        goto out;
    if (X509_sign(x, key, EVP_sha256()) == 0)
        goto out;
    if (write_pem(key_path, 0600, pem_key, key) != 0 || write_pem(cert_path, 0644, pem_cert, x) != 0)
        goto out;
    rc = 0;
out:
    if (rc != 0)
        ERR_clear_error();
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

/* ---- server name indication (server side) ---------------------------------------------------- */

/* The selector of a front context, owned by it through ex_data. */
struct sni_sel {
    ig_tls_sni_cb cb;
    void *arg;
    void (*free_arg)(void *arg);
};

static int sni_index = -1;
static pthread_once_t sni_once = PTHREAD_ONCE_INIT;

static void sni_sel_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    struct sni_sel *sel = ptr;
    if (sel == NULL)
        return;
    if (sel->free_arg != NULL)
        sel->free_arg(sel->arg);
    ig_free(sel);
}

static void sni_index_create(void)
{
    sni_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, sni_sel_free);
}

int ig_tls_sni_parse(const unsigned char *ext, size_t len, const unsigned char **name, size_t *name_len)
{
    /* ServerNameList (RFC 6066 section 3): u16 list length, then entries of u8 type, u16 length, bytes. */
    if (len < 2)
        return IG_EPROTO;
    size_t list = ((size_t)ext[0] << 8) | ext[1];
    if (list != len - 2)
        return IG_EPROTO;
    const unsigned char *p = ext + 2, *end = ext + len;
    while (p < end) {
        if (end - p < 3)
            return IG_EPROTO;
        unsigned type = p[0];
        size_t n = ((size_t)p[1] << 8) | p[2];
        p += 3;
        if ((size_t)(end - p) < n)
            return IG_EPROTO;
        if (type == 0) {
            /* host_name: no NUL inside, at most one DNS name's length. */
            if (n == 0 || n > 255 || memchr(p, 0, n) != NULL)
                return IG_EPROTO;
            *name = p;
            *name_len = n;
            return 0;
        }
        p += n;
    }
    return IG_ENOTFOUND;
}

/*
 * The ClientHello callback runs before the protocol version is chosen, so the listener's context
 * decides the versions as well as the certificate, ALPN list and client verification. (The
 * servername callback would come too late for the versions.)
 */
static int client_hello(SSL *ssl, int *al, void *arg)
{
    (void)arg;
    const struct sni_sel *sel = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), sni_index);
    const unsigned char *ext = NULL, *name = NULL;
    size_t elen = 0, nlen = 0;
    if (sel == NULL)
        return SSL_CLIENT_HELLO_SUCCESS; /* context switched already (a second ClientHello after HRR) */
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &elen) == 1 &&
        ig_tls_sni_parse(ext, elen, &name, &nlen) == IG_EPROTO) {
        *al = SSL_AD_DECODE_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    SSL_CTX *ctx = sel->cb(sel->arg, (const char *)name, nlen);
    if (ctx == NULL) {
        *al = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_CLIENT_HELLO_ERROR;
    }
    if (SSL_set_SSL_CTX(ssl, ctx) != ctx) {
        *al = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    /* SSL_set_SSL_CTX moves the certificate only: the rest of the listener's settings by hand. */
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
    SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(ctx));
    if (SSL_set_min_proto_version(ssl, SSL_CTX_get_min_proto_version(ctx)) != 1 ||
        SSL_set_max_proto_version(ssl, SSL_CTX_get_max_proto_version(ctx)) != 1) {
        *al = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* Acknowledges the name the ClientHello callback accepted (and keeps it in a TLS 1.2 session). */
static int servername_ack(SSL *ssl, int *al, void *arg)
{
    (void)ssl;
    (void)al;
    (void)arg;
    return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *ig_tls_server_sni_ctx(ig_tls_sni_cb cb, void *arg, void (*free_arg)(void *arg), char *err, size_t errlen)
{
    ERR_clear_error();
    pthread_once(&sni_once, sni_index_create);
    SSL_CTX *ctx = ctx_new(TLS_server_method());
    if (ctx == NULL || sni_index < 0) {
        set_err(err, errlen, "SSL_CTX_new", NULL);
        SSL_CTX_free(ctx);
        if (free_arg != NULL)
            free_arg(arg);
        return NULL;
    }
    struct sni_sel *sel = ig_calloc(1, sizeof(*sel));
    sel->cb = cb;
    sel->arg = arg;
    sel->free_arg = free_arg;
    if (SSL_CTX_set_ex_data(ctx, sni_index, sel) != 1) {
        sni_sel_free(NULL, sel, NULL, 0, 0, NULL);
        set_err(err, errlen, "SSL_CTX_set_ex_data", NULL);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_client_hello_cb(ctx, client_hello, NULL);
    SSL_CTX_set_tlsext_servername_callback(ctx, servername_ack);
    return ctx;
}
