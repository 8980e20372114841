/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The typed decoder, bottom half: route policies (agentgateway's FilterOrPolicy subset), backend
 * policies (including inferenceRouting and its placement rules), backend targets, and the
 * top-level services[], workloads[] and backends[]. References by name are recorded here and
 * resolved by validate.c once the whole file is read, so sections may come in any order.
 */
#include "config_int.h"

#include <stdio.h>
#include <string.h>

static const struct ig_ynode *find_val(const struct ig_ynode *map, const char *name)
{
    if (map == NULL || map->kind != IG_YNODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (ig_config__key_is(IG_YMAP_KEY(map, i), name))
            return IG_YMAP_VAL(map, i);
    return NULL;
}

/* ---- url rewrite and redirect ---------------------------------------------------------------- */

static void dec_authority(struct ig_cfg_dec *d, const struct ig_ynode *v, void *out)
{
    struct ig_cfg_authority *a = out;
    if (v->kind == IG_YNODE_SCALAR) {
        static const char *const names[] = {NULL, NULL, NULL, NULL, "auto", "none"};
        int kind;
        if (ig_config__dec_enum(d, v, names, 6, NULL, &kind) == 0)
            a->kind = (enum ig_cfg_authority_kind)kind;
        return;
    }
    if (ig_config__expect_map(d, v) != 0)
        return;
    if (v->n != 1) {
        ig_config__err(d, v, "expected exactly one of full, host, port (or \"auto\", \"none\")");
        return;
    }
    const struct ig_ynode *k = IG_YMAP_KEY(v, 0), *val = IG_YMAP_VAL(v, 0);
    size_t saved = ig_config__path_key(d, k->s, k->len);
    uint64_t port;
    const char *why = NULL;
    if (ig_config__key_is(k, "full")) {
        struct ig_cfg_hostport hp;
        a->kind = IG_CFG_AUTHORITY_FULL;
        if (ig_config__dec_str(d, val, &a->value) == 0 &&
            ig_config__parse_hostport(d->pool, a->value, &hp, &why) != 0 &&
            ig_config__check_hostname(a->value, 0, &why) != 0)
            ig_config__err(d, val, "invalid authority \"%.64s\"", a->value.base);
    } else if (ig_config__key_is(k, "host")) {
        a->kind = IG_CFG_AUTHORITY_HOST;
        if (ig_config__dec_str(d, val, &a->value) == 0 && ig_config__check_hostname(a->value, 0, &why) != 0)
            ig_config__err(d, val, "invalid host \"%.64s\": %s", a->value.base, why);
    } else if (ig_config__key_is(k, "port")) {
        a->kind = IG_CFG_AUTHORITY_PORT;
        if (ig_config__dec_uint(d, val, UINT16_MAX, &port) == 0) {
            if (port == 0)
                ig_config__err(d, val, "must be between 1 and 65535");
            a->port = (uint16_t)port;
        }
    } else {
        ig_config__err(d, k, "unknown field, expected one of full, host, port");
    }
    ig_config__path_pop(d, saved);
}

static void dec_path_rewrite(struct ig_cfg_dec *d, const struct ig_ynode *v, void *out)
{
    struct ig_cfg_path_rewrite *p = out;
    if (ig_config__expect_map(d, v) != 0)
        return;
    if (v->n != 1) {
        ig_config__err(d, v, "expected exactly one of full, prefix");
        return;
    }
    const struct ig_ynode *k = IG_YMAP_KEY(v, 0), *val = IG_YMAP_VAL(v, 0);
    size_t saved = ig_config__path_key(d, k->s, k->len);
    if (ig_config__key_is(k, "full") || ig_config__key_is(k, "prefix")) {
        p->kind = ig_config__key_is(k, "full") ? IG_CFG_PATH_FULL : IG_CFG_PATH_PREFIX;
        if (ig_config__dec_str(d, val, &p->value) == 0 && (p->value.len == 0 || p->value.base[0] != '/'))
            ig_config__err(d, val, "path must start with '/'");
    } else {
        ig_config__err(d, k, "unknown field, expected one of full, prefix");
    }
    ig_config__path_pop(d, saved);
}

static void dec_scheme(struct ig_cfg_dec *d, const struct ig_ynode *v, void *out)
{
    static const char *const names[] = {"http", "https"};
    int s;
    if (ig_config__dec_enum(d, v, names, 2, NULL, &s) == 0)
        *(ig_iov_t *)out = s ? IG_STRLIT("https") : IG_STRLIT("http");
}

static void dec_redirect_status(struct ig_cfg_dec *d, const struct ig_ynode *v, void *out)
{
    uint64_t s;
    if (ig_config__dec_uint(d, v, 999, &s) != 0)
        return;
    if (s != 301 && s != 302 && s != 303 && s != 307 && s != 308) {
        ig_config__err(d, v, "redirect status must be one of 301, 302, 303, 307, 308");
        return;
    }
    *(uint16_t *)out = (uint16_t)s;
}

static const struct ig_cfg_field url_rewrite_fields[] = {
    IG_FIELD_MEMBER("authority", struct ig_cfg_url_rewrite, authority, dec_authority),
    IG_FIELD_MEMBER("path", struct ig_cfg_url_rewrite, path, dec_path_rewrite),
    IG_FIELDS_END,
};

static const struct ig_cfg_redirect redirect_defaults = {.status = 302};
static const struct ig_cfg_field redirect_fields[] = {
    IG_FIELD_MEMBER("scheme", struct ig_cfg_redirect, scheme, dec_scheme),
    IG_FIELD_MEMBER("authority", struct ig_cfg_redirect, authority, dec_authority),
    IG_FIELD_MEMBER("path", struct ig_cfg_redirect, path, dec_path_rewrite),
    IG_FIELD_MEMBER("status", struct ig_cfg_redirect, status, dec_redirect_status),
    IG_FIELDS_END,
};

/* ---- route policies ---------------------------------------------------------------------------- */

static void dec_response_status(struct ig_cfg_dec *d, const struct ig_ynode *v, void *out)
{
    uint64_t s;
    if (ig_config__dec_uint(d, v, 999, &s) != 0)
        return;
    if (s < 100 || s > 599) {
        ig_config__err(d, v, "status must be between 100 and 599");
        return;
    }
    *(uint16_t *)out = (uint16_t)s;
}

static const struct ig_cfg_field direct_response_fields[] = {
    IG_FIELD("body", IG_F_STR, struct ig_cfg_direct_response, body),
    IG_FIELD_MEMBER_REQ("status", struct ig_cfg_direct_response, status, dec_response_status),
    IG_FIELD_NOTSUP("bodyExpression"),
    IG_FIELD_NOTSUP("headers"),
    IG_FIELD_NOTSUP("conditional"),
    IG_FIELDS_END,
};

static const struct ig_cfg_field timeout_fields[] = {
    IG_FIELD("requestTimeout", IG_F_DURATION, struct ig_cfg_timeouts, request_ns),
    IG_FIELD("backendRequestTimeout", IG_F_DURATION, struct ig_cfg_timeouts, backend_request_ns),
    IG_FIELDS_END,
};

static void f_retry_codes(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_retry *r = obj;
    (void)k;
    if (ig_config__expect_seq(d, v) != 0)
        return;
    if (v->n == 0) {
        ig_config__err(d, v, "must list at least one HTTP status");
        return;
    }
    r->n_codes = v->n;
    r->codes = ig_pool_calloc(d->pool, v->n * sizeof(*r->codes));
    for (size_t i = 0; i < v->n; i++) {
        size_t saved = ig_config__path_index(d, i);
        uint64_t c;
        if (ig_config__dec_uint(d, v->items[i], 999, &c) == 0) {
            if (c < 100 || c > 599)
                ig_config__err(d, v->items[i], "HTTP status must be between 100 and 599");
            r->codes[i] = (uint16_t)c;
        }
        ig_config__path_pop(d, saved);
    }
}

static const struct ig_cfg_retry retry_defaults = {.attempts = 1};
static const struct ig_cfg_field retry_fields[] = {
    IG_FIELD_UINT("attempts", struct ig_cfg_retry, attempts, UINT8_MAX),
    IG_FIELD("backoff", IG_F_DURATION, struct ig_cfg_retry, backoff_ns),
    IG_FIELD_FN_REQ("codes", f_retry_codes),
    IG_FIELD_NOTSUP("precondition"),
    IG_FIELD_NOTSUP("condition"),
    IG_FIELDS_END,
};

static const char *const rate_limit_types[] = {"requests", "tokens"};

static void f_rate_limit(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_UINT_REQ("maxTokens", struct ig_cfg_rate_limit, max_tokens, INT64_MAX),
        IG_FIELD_UINT_REQ("tokensPerFill", struct ig_cfg_rate_limit, tokens_per_fill, INT64_MAX),
        IG_FIELD_REQ("fillInterval", IG_F_DURATION, struct ig_cfg_rate_limit, fill_interval_ns),
        IG_FIELD_ENUM("type", struct ig_cfg_rate_limit, type, rate_limit_types, NULL),
        IG_FIELDS_END,
    };
    struct ig_cfg_route_policies *p = obj;
    (void)k;
    if (v->kind == IG_YNODE_MAP && find_val(v, "conditional") != NULL) {
        ig_config__err_at_key(d, v, "conditional", "not supported by infergate");
        return;
    }
    if (ig_config__expect_seq(d, v) != 0)
        return;
    p->n_rate_limits = v->n;
    p->rate_limits = v->n ? ig_pool_calloc(d->pool, v->n * sizeof(*p->rate_limits)) : NULL;
    for (size_t i = 0; i < v->n; i++) {
        size_t saved = ig_config__path_index(d, i);
        struct ig_cfg_rate_limit *rl = &p->rate_limits[i];
        uint64_t seen = ig_config__dec_fields(d, v->items[i], rl, fields);
        if ((seen & 1) && rl->max_tokens == 0)
            ig_config__err_at_key(d, find_val(v->items[i], "maxTokens"), "maxTokens", "must be at least 1");
        if ((seen & 2) && rl->tokens_per_fill == 0)
            ig_config__err_at_key(d, find_val(v->items[i], "tokensPerFill"), "tokensPerFill", "must be at least 1");
        if ((seen & 4) && rl->fill_interval_ns == 0)
            ig_config__err_at_key(d, find_val(v->items[i], "fillInterval"), "fillInterval", "must be positive");
        ig_config__path_pop(d, saved);
    }
}

static void f_route_inference(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    (void)v;
    (void)obj;
    /* Not part of agentgateway's route-level policy set: say where it belongs. */
    ig_config__err(d, k, "inferenceRouting is only supported on service route backends");
}

void ig_config__dec_route_policies(struct ig_cfg_dec *d, const struct ig_ynode *n, void *p)
{
    typedef struct ig_cfg_route_policies rp;
    static const struct ig_cfg_field fields[] = {
        IG_FIELD("requestHeaderModifier", IG_F_HEADER_MOD, rp, request_headers),
        IG_FIELD("responseHeaderModifier", IG_F_HEADER_MOD, rp, response_headers),
        IG_FIELD_OBJ_NEW("urlRewrite", rp, url_rewrite, url_rewrite_fields, NULL),
        IG_FIELD_OBJ_NEW("requestRedirect", rp, redirect, redirect_fields, &redirect_defaults),
        IG_FIELD_OBJ_NEW("directResponse", rp, direct_response, direct_response_fields, NULL),
        IG_FIELD_OBJ_NEW("timeout", rp, timeout, timeout_fields, NULL),
        IG_FIELD_OBJ_NEW("retry", rp, retry, retry_fields, &retry_defaults),
        IG_FIELD_FN("localRateLimit", f_rate_limit),
        IG_FIELD_FN("inferenceRouting", f_route_inference),
        IG_FIELD_NOTSUP("requestMirror"),
        IG_FIELD_NOTSUP("cors"),
        IG_FIELD_NOTSUP("mcpAuthorization"),
        IG_FIELD_NOTSUP("mcpGuardrails"),
        IG_FIELD_NOTSUP("mcpAuthentication"),
        IG_FIELD_NOTSUP("authorization"),
        IG_FIELD_NOTSUP("a2a"),
        IG_FIELD_NOTSUP("ai"),
        IG_FIELD_NOTSUP("backendTLS"),
        IG_FIELD_NOTSUP("backendTunnel"),
        IG_FIELD_NOTSUP("backendAuth"),
        IG_FIELD_NOTSUP("remoteRateLimit"),
        IG_FIELD_NOTSUP("jwtAuth"),
        IG_FIELD_NOTSUP("oidc"),
        IG_FIELD_NOTSUP("basicAuth"),
        IG_FIELD_NOTSUP("apiKey"),
        IG_FIELD_NOTSUP("extAuthz"),
        IG_FIELD_NOTSUP("extProc"),
        IG_FIELD_NOTSUP("transformations"),
        IG_FIELD_NOTSUP("csrf"),
        IG_FIELD_NOTSUP("buffer"),
        IG_FIELD_NOTSUP("delay"),
        IG_FIELDS_END,
    };
    uint64_t seen = ig_config__dec_fields(d, n, p, fields);
    if ((seen & (1u << 3)) && (seen & (1u << 4)))
        ig_config__err(d, n, "requestRedirect and directResponse are mutually exclusive");
}

/* ---- targets ---------------------------------------------------------------------------------- */

struct svc_ref {
    ig_iov_t name;
    uint16_t port;
};

void ig_config__dec_target(struct ig_cfg_dec *d, const struct ig_ynode *key, const struct ig_ynode *v,
                           struct ig_cfg_target *t)
{
    static const struct ig_cfg_field svc_fields[] = {
        IG_FIELD_REQ("name", IG_F_STR, struct svc_ref, name),
        IG_FIELD_UINT_REQ("port", struct svc_ref, port, UINT16_MAX),
        IG_FIELDS_END,
    };
    if (ig_config__key_is(key, "host")) {
        t->kind = IG_CFG_TARGET_HOST;
        ig_config__dec_hostport(d, v, &t->host);
    } else if (ig_config__key_is(key, "service")) {
        struct svc_ref ref = {IG_IOV_NULL, 0};
        t->kind = IG_CFG_TARGET_SERVICE;
        uint64_t seen = ig_config__dec_fields(d, v, &ref, svc_fields);
        const struct ig_ynode *name = find_val(v, "name");
        t->port = ref.port;
        if (ref.name.base == NULL)
            seen &= ~(uint64_t)1; /* present but not a string: reported already */
        if ((seen & 1) && (memchr(ref.name.base, '/', ref.name.len) == NULL || ref.name.base[0] == '/' ||
                           ref.name.base[ref.name.len - 1] == '/')) {
            ig_config__err_at_key(d, name, "name", "expected \"<namespace>/<hostname>\", found \"%.64s\"",
                                  ref.name.base);
            return;
        }
        if (seen == 3) {
            size_t saved = ig_config__path_key(d, "name", 4);
            ig_config__add_ref(d, IG_CFG_REF_TARGET, t, ref.name, name);
            ig_config__path_pop(d, saved);
        }
    } else {
        ig_iov_t name;
        t->kind = IG_CFG_TARGET_BACKEND;
        if (ig_config__dec_str(d, v, &name) == 0)
            ig_config__add_ref(d, IG_CFG_REF_TARGET, t, name, v);
    }
}

/* ---- backend policies ------------------------------------------------------------------------- */

static const char *const http_versions[] = {NULL, "HTTP/1.1", "HTTP/2"};
static const char *const http_versions_unsupported[] = {"HTTP/1.0", "HTTP/0.9", "HTTP/3", NULL};

static const struct ig_cfg_field bp_http_fields[] = {
    IG_FIELD_ENUM("version", struct ig_cfg_backend_policies, http_version, http_versions, http_versions_unsupported),
    IG_FIELD("requestTimeout", IG_F_DURATION, struct ig_cfg_backend_policies, request_timeout_ns),
    IG_FIELDS_END,
};

static const struct ig_cfg_field bp_tcp_fields[] = {
    IG_FIELD("connectTimeout", IG_F_DURATION, struct ig_cfg_backend_policies, connect_timeout_ns),
    IG_FIELD_NOTSUP("keepalives"),
    IG_FIELDS_END,
};

/*
 * backendTLS. The PEM files are read at load time (and must hold what their key says); whether a
 * key matches its certificate is checked when the gateway builds the TLS context. Group names are
 * the ones OpenSSL 3.0's default provider knows, so a typo fails the load with its position
 * instead of every handshake later.
 */
static const char *const tls_groups[] = {
    "X25519",
    "x25519",
    "X448",
    "x448",
    "P-256",
    "P-384",
    "P-521",
    "P-224",
    "P-192",
    "prime256v1",
    "secp256r1",
    "secp384r1",
    "secp521r1",
    "secp224r1",
    "secp192r1",
    "prime192v1",
    "secp256k1",
    "secp224k1",
    "secp192k1",
    "secp160k1",
    "secp160r1",
    "secp160r2",
    "sect163k1",
    "sect163r1",
    "sect163r2",
    "sect193r1",
    "sect193r2",
    "sect233k1",
    "sect233r1",
    "sect239k1",
    "sect283k1",
    "sect283r1",
    "sect409k1",
    "sect409r1",
    "sect571k1",
    "sect571r1",
    "brainpoolP256r1",
    "brainpoolP384r1",
    "brainpoolP512r1",
    "ffdhe2048",
    "ffdhe3072",
    "ffdhe4096",
    "ffdhe6144",
    "ffdhe8192",
};

static const struct ig_cfg_field backend_tls_fields[] = {
    IG_FIELD("root", IG_F_PEM, struct ig_cfg_backend_tls, root),
    IG_FIELD("insecure", IG_F_BOOL, struct ig_cfg_backend_tls, insecure),
    IG_FIELD_HOSTNAME("hostname", struct ig_cfg_backend_tls, hostname, 0),
    IG_FIELD("cert", IG_F_PEM, struct ig_cfg_backend_tls, cert),
    IG_FIELD("key", IG_F_PEM, struct ig_cfg_backend_tls, key),
    IG_FIELD("insecureHost", IG_F_BOOL, struct ig_cfg_backend_tls, insecure_host),
    IG_FIELD_STR_LIST("alpn", struct ig_cfg_backend_tls, alpn, n_alpn),
    IG_FIELD_STR_LIST("subjectAltNames", struct ig_cfg_backend_tls, subject_alt_names, n_subject_alt_names),
    IG_FIELD_STR_LIST("keyExchangeGroups", struct ig_cfg_backend_tls, key_exchange_groups, n_key_exchange_groups),
    IG_FIELD_NOTSUP("spiffe"),
    IG_FIELDS_END,
};
/* Bits of the fields above in ig_config__dec_fields' mask. */
enum { BTLS_ROOT = 1 << 0, BTLS_CERT = 1 << 3, BTLS_KEY = 1 << 4 };

/* The key node of |name| in |map|, where errors about the key itself point (|map| if absent). */
static const struct ig_ynode *key_node(const struct ig_ynode *map, const char *name)
{
    const struct ig_ynode *v = find_val(map, name);
    for (size_t i = 0; v != NULL && i < map->n; i++)
        if (IG_YMAP_VAL(map, i) == v)
            return IG_YMAP_KEY(map, i);
    return map;
}

/* Reports |msg| at the list item |i| of key |key| in |map|. */
static void err_at_item(struct ig_cfg_dec *d, const struct ig_ynode *map, const char *key, size_t i, const char *msg)
{
    const struct ig_ynode *v = find_val(map, key);
    size_t saved = ig_config__path_key(d, key, strlen(key));
    size_t s2 = ig_config__path_index(d, i);
    ig_config__err(d, v != NULL && v->kind == IG_YNODE_SEQ && i < v->n ? v->items[i] : map, "%s", msg);
    ig_config__path_pop(d, s2);
    ig_config__path_pop(d, saved);
}

/* A PEM file must hold a block of the kind its key names ("CERTIFICATE", "PRIVATE KEY"). */
static void check_pem(struct ig_cfg_dec *d, const struct ig_ynode *map, const char *key, const struct ig_cfg_pem *pem,
                      const char *label, const char *what)
{
    if (pem->pem.len == 0)
        return; /* unreadable or empty: reported by the PEM decoder */
    const char *p = pem->pem.base, *end = p + pem->pem.len;
    while ((p = memmem(p, (size_t)(end - p), "-----BEGIN ", 11)) != NULL) {
        p += 11;
        const char *eol = memmem(p, (size_t)(end - p), "-----", 5);
        if (eol == NULL)
            break;
        size_t n = (size_t)(eol - p), l = strlen(label);
        if (n >= l && memcmp(eol - l, label, l) == 0)
            return;
    }
    const struct ig_ynode *v = find_val(map, key);
    ig_config__err_at_key(d, v != NULL ? v : map, key, "\"%.200s\" holds no PEM %s", pem->path.base, what);
}

static void dec_backend_tls(struct ig_cfg_dec *d, const struct ig_ynode *v, void *out)
{
    struct ig_cfg_backend_tls *t = ig_pool_calloc(d->pool, sizeof(*t));
    *(struct ig_cfg_backend_tls **)out = t;
    uint64_t seen = ig_config__dec_fields(d, v, t, backend_tls_fields);
    char msg[256];
    if (seen == 0)
        return;
    if ((seen & BTLS_CERT) && !(seen & BTLS_KEY))
        ig_config__err_at_key(d, key_node(v, "cert"), "cert",
                              "cert requires key (the client certificate's private key)");
    if ((seen & BTLS_KEY) && !(seen & BTLS_CERT))
        ig_config__err_at_key(d, key_node(v, "key"), "key", "key requires cert (the client certificate)");
    if (seen & BTLS_ROOT)
        check_pem(d, v, "root", &t->root, "CERTIFICATE", "certificate");
    if (seen & BTLS_CERT)
        check_pem(d, v, "cert", &t->cert, "CERTIFICATE", "certificate");
    if (seen & BTLS_KEY)
        check_pem(d, v, "key", &t->key, "PRIVATE KEY", "private key");
    /* Protocol names travel comma-joined to the TLS layer and as one ALPN extension (<= 256 bytes). */
    const struct ig_ynode *alpn = find_val(v, "alpn");
    if (alpn != NULL && alpn->kind == IG_YNODE_SEQ && alpn->n == 0)
        ig_config__err_at_key(d, alpn, "alpn", "must list at least one protocol");
    size_t wire = 0;
    for (size_t i = 0; i < t->n_alpn; i++) {
        ig_iov_t a = t->alpn[i];
        wire += 1 + a.len;
        if (a.base == NULL)
            continue; /* not a string: reported */
        if (a.len == 0 || a.len > 255 || memchr(a.base, ',', a.len) != NULL || memchr(a.base, 0, a.len) != NULL)
            snprintf(msg, sizeof(msg), "invalid protocol name \"%.64s\" (1 to 255 bytes, no commas)", a.base);
        else if (wire > 256)
            snprintf(msg, sizeof(msg), "the protocol list is longer than 256 bytes at \"%.64s\"", a.base);
        else
            continue;
        err_at_item(d, v, "alpn", i, msg);
    }
    for (size_t i = 0; i < t->n_subject_alt_names; i++) {
        ig_iov_t n = t->subject_alt_names[i];
        struct sockaddr_storage ss;
        socklen_t sl;
        const char *why = NULL;
        if (n.base == NULL)
            continue;
        int uri = n.len > 3 && memmem(n.base, n.len, "://", 3) != NULL && memchr(n.base, 0, n.len) == NULL;
        if (!uri && ig_config__parse_ip(n, &ss, &sl) != 0 && ig_config__check_hostname(n, 0, &why) != 0) {
            snprintf(msg, sizeof(msg), "\"%.64s\" is not a DNS name, an IP address or a URI", n.base);
            err_at_item(d, v, "subjectAltNames", i, msg);
        }
    }
    for (size_t i = 0; i < t->n_key_exchange_groups; i++) {
        ig_iov_t g = t->key_exchange_groups[i];
        size_t j;
        if (g.base == NULL)
            continue;
        for (j = 0; j < IG_ARRAY_LEN(tls_groups); j++)
            if (g.len == strlen(tls_groups[j]) && memcmp(g.base, tls_groups[j], g.len) == 0)
                break;
        if (j == IG_ARRAY_LEN(tls_groups)) {
            snprintf(msg, sizeof(msg),
                     "unknown key exchange group \"%.64s\" (OpenSSL names: X25519, P-256, P-384, P-521, X448, "
                     "ffdhe2048, ...)",
                     g.base);
            err_at_item(d, v, "keyExchangeGroups", i, msg);
        }
    }
}

static void dec_picker(struct ig_cfg_dec *d, const struct ig_ynode *v, void *picker)
{
    if (ig_config__expect_map(d, v) != 0)
        return;
    if (v->n != 1) {
        ig_config__err(d, v, "expected exactly one of host, service, backend");
        return;
    }
    const struct ig_ynode *tk = IG_YMAP_KEY(v, 0), *tv = IG_YMAP_VAL(v, 0);
    size_t saved = ig_config__path_key(d, tk->s, tk->len);
    if (ig_config__key_is(tk, "host") || ig_config__key_is(tk, "service") || ig_config__key_is(tk, "backend"))
        ig_config__dec_target(d, tk, tv, picker);
    else
        ig_config__err(d, tk, "unknown field, expected one of host, service, backend");
    ig_config__path_pop(d, saved);
}

static const char *const destination_modes[] = {"validated", "passthrough"};
static const char *const failure_modes[] = {"failClosed", "failOpen"};
static const char *const response_modes[] = {"full", "observe", "headers"};

static const struct ig_cfg_inference_routing inference_defaults = {
    .destination_mode = IG_CFG_DEST_VALIDATED,
    .failure_mode = IG_CFG_FAIL_CLOSED,
    .response_mode = IG_CFG_RESP_FULL,
};
static const struct ig_cfg_field inference_fields[] = {
    IG_FIELD_MEMBER_REQ("endpointPicker", struct ig_cfg_inference_routing, picker, dec_picker),
    IG_FIELD_ENUM("destinationMode", struct ig_cfg_inference_routing, destination_mode, destination_modes, NULL),
    IG_FIELD_ENUM("failureMode", struct ig_cfg_inference_routing, failure_mode, failure_modes, NULL),
    IG_FIELD_ENUM("responseMode", struct ig_cfg_inference_routing, response_mode, response_modes, NULL),
    IG_FIELDS_END,
};

void ig_config__dec_backend_policies(struct ig_cfg_dec *d, const struct ig_ynode *n, void *p)
{
    typedef struct ig_cfg_backend_policies bp;
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_FLAT("http", bp_http_fields),
        IG_FIELD_FLAT("tcp", bp_tcp_fields),
        IG_FIELD_MEMBER("backendTLS", bp, tls, dec_backend_tls),
        IG_FIELD_OBJ_NEW("inferenceRouting", bp, inference, inference_fields, &inference_defaults),
        IG_FIELD("requestHeaderModifier", IG_F_HEADER_MOD, bp, request_headers),
        IG_FIELD("responseHeaderModifier", IG_F_HEADER_MOD, bp, response_headers),
        IG_FIELD_NOTSUP("transformations"),
        IG_FIELD_NOTSUP("backendAuth"),
        IG_FIELD_NOTSUP("backendTunnel"),
        IG_FIELD_NOTSUP("requestRedirect"),
        IG_FIELD_NOTSUP("health"),
        IG_FIELD_NOTSUP("extAuthz"),
        IG_FIELD_NOTSUP("authorization"),
        IG_FIELD_NOTSUP("mcpAuthorization"),
        IG_FIELD_NOTSUP("mcpGuardrails"),
        IG_FIELD_NOTSUP("a2a"),
        IG_FIELD_NOTSUP("sessionAffinity"),
        IG_FIELD_NOTSUP("ai"),
        IG_FIELDS_END,
    };
    ig_config__dec_fields(d, n, p, fields);
}

const struct ig_ynode *ig_config__inference_key(const struct ig_ynode *item)
{
    const struct ig_ynode *policies = find_val(item, "policies"), *key = NULL;
    if (policies == NULL || policies->kind != IG_YNODE_MAP)
        return NULL;
    for (size_t i = 0; i < policies->n; i++)
        if (ig_config__key_is(IG_YMAP_KEY(policies, i), "inferenceRouting") &&
            !ig_config__is_null(IG_YMAP_VAL(policies, i)))
            key = IG_YMAP_KEY(policies, i);
    return key;
}

/* ---- services --------------------------------------------------------------------------------- */

/* A port number written as a mapping key: 8000 or "8000". */
static int dec_port_key(struct ig_cfg_dec *d, const struct ig_ynode *k, uint16_t *out)
{
    uint64_t v;
    if (k->type == IG_YS_STR) {
        if (ig_iov_to_u64(ig_iov(k->s, k->len), &v) != 0 || v == 0 || v > UINT16_MAX) {
            ig_config__err(d, k, "expected a port number, found \"%.32s\"", k->s);
            return -1;
        }
    } else if (ig_config__dec_uint(d, k, UINT16_MAX, &v) != 0) {
        return -1;
    } else if (v == 0) {
        ig_config__err(d, k, "port must be between 1 and 65535");
        return -1;
    }
    *out = (uint16_t)v;
    return 0;
}

static void f_svc_ports(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_service *s = obj;
    (void)k;
    if (ig_config__expect_map(d, v) != 0)
        return;
    s->n_ports = v->n;
    s->ports = v->n ? ig_pool_calloc(d->pool, v->n * sizeof(*s->ports)) : NULL;
    for (size_t i = 0; i < v->n; i++) {
        const struct ig_ynode *pk = IG_YMAP_KEY(v, i), *pv = IG_YMAP_VAL(v, i);
        size_t saved = ig_config__path_key(d, pk->s, pk->len);
        uint64_t target;
        if (dec_port_key(d, pk, &s->ports[i].port) == 0) {
            for (size_t j = 0; j < i; j++)
                if (s->ports[j].port == s->ports[i].port)
                    ig_config__err(d, pk, "duplicate port %u", s->ports[i].port);
        }
        if (ig_config__dec_uint(d, pv, UINT16_MAX, &target) == 0) {
            if (target == 0)
                ig_config__err(d, pv, "target port must be between 1 and 65535");
            s->ports[i].target_port = (uint16_t)target;
        }
        ig_config__path_pop(d, saved);
    }
}

static void f_svc_app_protocols(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const char *const names[] = {NULL, "Http11", "Http2", "Grpc", "Tls", "Tcp"};
    struct ig_cfg_service *s = obj;
    (void)k;
    if (ig_config__expect_map(d, v) != 0)
        return;
    for (size_t i = 0; i < v->n; i++) {
        const struct ig_ynode *pk = IG_YMAP_KEY(v, i), *pv = IG_YMAP_VAL(v, i);
        size_t saved = ig_config__path_key(d, pk->s, pk->len);
        uint16_t port;
        int proto;
        if (dec_port_key(d, pk, &port) == 0 && ig_config__dec_enum(d, pv, names, 6, NULL, &proto) == 0) {
            size_t j;
            for (j = 0; j < s->n_ports; j++) {
                if (s->ports[j].port == port) {
                    s->ports[j].app_protocol = (enum ig_cfg_app_protocol)proto;
                    break;
                }
            }
            if (j == s->n_ports)
                ig_config__err(d, pk, "port %u is not in ports", port);
        }
        ig_config__path_pop(d, saved);
    }
}

/* appProtocols refers to ports: it is decoded after the mapping, whatever the key order. */
static void f_svc_app_later(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    (void)d;
    (void)k;
    (void)v;
    (void)obj;
}

static void f_svc_vips(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_service *s = obj;
    (void)k;
    if (ig_config__dec_str_list(d, v, &s->vips, &s->n_vips) != 0)
        return;
    for (size_t i = 0; i < s->n_vips; i++) {
        const char *slash = memchr(s->vips[i].base, '/', s->vips[i].len);
        struct sockaddr_storage ss;
        socklen_t sl;
        if (slash == NULL ||
            ig_config__parse_ip(ig_iov(slash + 1, s->vips[i].len - (size_t)(slash - s->vips[i].base) - 1), &ss, &sl) !=
                0) {
            size_t saved = ig_config__path_index(d, i);
            ig_config__err(d, v->items[i], "expected \"<network>/<ip>\", found \"%.64s\"", s->vips[i].base);
            ig_config__path_pop(d, saved);
        }
    }
}

void ig_config__dec_services(struct ig_cfg_dec *d, const struct ig_ynode *key, const struct ig_ynode *n, void *cfg_)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_REQ("name", IG_F_STR, struct ig_cfg_service, name),
        IG_FIELD_REQ("namespace", IG_F_STR, struct ig_cfg_service, ns),
        IG_FIELD_HOSTNAME_REQ("hostname", struct ig_cfg_service, hostname, 0),
        IG_FIELD_FN_REQ("vips", f_svc_vips),
        IG_FIELD_FN_REQ("ports", f_svc_ports),
        IG_FIELD_FN("appProtocols", f_svc_app_later),
        IG_FIELD_NOTSUP("subjectAltNames"),
        IG_FIELD_NOTSUP("waypoint"),
        IG_FIELD_NOTSUP("weightedWaypoints"),
        IG_FIELD_NOTSUP("loadBalancer"),
        IG_FIELD_NOTSUP("ipFamilies"),
        IG_FIELD_NOTSUP("ingressUseWaypoint"),
        IG_FIELDS_END,
    };
    struct ig_config *cfg = cfg_;
    (void)key;
    if (ig_config__expect_seq(d, n) != 0)
        return;
    cfg->n_services = n->n;
    cfg->services = n->n ? ig_pool_calloc(d->pool, n->n * sizeof(*cfg->services)) : NULL;
    for (size_t i = 0; i < n->n; i++) {
        size_t saved = ig_config__path_index(d, i);
        struct ig_cfg_service *s = &cfg->services[i];
        const struct ig_ynode *item = n->items[i];
        if (item->kind == IG_YNODE_MAP) {
            const struct ig_ynode *ap = find_val(item, "appProtocols");
            ig_config__dec_fields(d, item, s, fields);
            if (ap != NULL && !ig_config__is_null(ap)) {
                size_t s2 = ig_config__path_key(d, "appProtocols", 12);
                f_svc_app_protocols(d, NULL, ap, s);
                ig_config__path_pop(d, s2);
            }
        } else {
            ig_config__expect_map(d, item);
        }
        s->key = ig_pool_dup(d->pool, ig_iov_cstr(ig_pool_printf(d->scratch, "%s/%s", s->ns.base ? s->ns.base : "",
                                                                 s->hostname.base ? s->hostname.base : "")));
        for (size_t j = 0; s->hostname.len && j < i; j++) {
            if (ig_iov_eq(cfg->services[j].key, s->key)) {
                const struct ig_ynode *h = find_val(item, "hostname");
                ig_config__err(d, h ? h : item, "duplicate service \"%.128s\" (namespace/hostname)", s->key.base);
                break;
            }
        }
        ig_config__path_pop(d, saved);
    }
}

/* ---- workloads -------------------------------------------------------------------------------- */

static void f_wl_ips(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_workload *w = obj;
    (void)k;
    if (ig_config__dec_str_list(d, v, &w->ips, &w->n_ips) != 0)
        return;
    for (size_t i = 0; i < w->n_ips; i++) {
        struct sockaddr_storage ss;
        socklen_t sl;
        if (ig_config__parse_ip(w->ips[i], &ss, &sl) != 0) {
            size_t saved = ig_config__path_index(d, i);
            ig_config__err(d, v->items[i], "invalid IP address \"%.64s\"", w->ips[i].base);
            ig_config__path_pop(d, saved);
        }
    }
}

static const char *const workload_statuses[] = {"Unhealthy", "Healthy"};
static const char *const workload_protocols[] = {"TCP"};
static const char *const workload_protocols_unsupported[] = {"HBONE", "LegacyIstioMtls", NULL};

static void f_wl_services(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_workload *w = obj;
    (void)k;
    if (ig_config__expect_map(d, v) != 0)
        return;
    for (size_t i = 0; i < v->n; i++) {
        const struct ig_ynode *sk = IG_YMAP_KEY(v, i), *sv = IG_YMAP_VAL(v, i);
        size_t saved = ig_config__path_key(d, sk->s, sk->len);
        struct ig_workload_ref *r = ig_pool_calloc(d->scratch, sizeof(*r));
        int ok = ig_config__dec_str(d, sk, &r->service) == 0 && ig_config__expect_map(d, sv) == 0;
        if (ok && memchr(r->service.base, '/', r->service.len) == NULL) {
            ig_config__err(d, sk, "expected \"<namespace>/<hostname>\"");
            ok = 0;
        }
        if (ok) {
            r->workload = w;
            r->n_ports = sv->n;
            r->svc_ports = ig_pool_calloc(d->scratch, (sv->n + 1) * sizeof(uint16_t));
            r->target_ports = ig_pool_calloc(d->scratch, (sv->n + 1) * sizeof(uint16_t));
            for (size_t j = 0; j < sv->n; j++) {
                const struct ig_ynode *pk = IG_YMAP_KEY(sv, j), *pv = IG_YMAP_VAL(sv, j);
                size_t s2 = ig_config__path_key(d, pk->s, pk->len);
                uint64_t t;
                if (dec_port_key(d, pk, &r->svc_ports[j]) != 0 || ig_config__dec_uint(d, pv, UINT16_MAX, &t) != 0)
                    ok = 0;
                else if (t == 0) {
                    ig_config__err(d, pv, "target port must be between 1 and 65535");
                    ok = 0;
                } else
                    r->target_ports[j] = (uint16_t)t;
                ig_config__path_pop(d, s2);
            }
        }
        if (ok) {
            r->line = sk->line;
            r->col = sk->col;
            r->path = ig_pool_strdup(d->scratch, d->path);
            *d->wrefs_tail = r;
            d->wrefs_tail = &r->next;
        }
        ig_config__path_pop(d, saved);
    }
}

void ig_config__dec_workloads(struct ig_cfg_dec *d, const struct ig_ynode *key, const struct ig_ynode *n, void *cfg_)
{
    typedef struct ig_cfg_workload wl;
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_FN_REQ("workloadIps", f_wl_ips),
        IG_FIELD_REQ("namespace", IG_F_STR, wl, ns),
        IG_FIELD_FN_REQ("services", f_wl_services),
        IG_FIELD("name", IG_F_STR, wl, name),
        IG_FIELD("uid", IG_F_STR, wl, uid),
        IG_FIELD_ENUM("status", wl, healthy, workload_statuses, NULL),
        IG_FIELD_UINT("capacity", wl, capacity, UINT32_MAX),
        IG_FIELD_ENUM_CHECK("protocol", workload_protocols, workload_protocols_unsupported),
        IG_FIELD_NOTSUP("networkMode"),
        IG_FIELD_NOTSUP("trustDomain"),
        IG_FIELD_NOTSUP("serviceAccount"),
        IG_FIELD_NOTSUP("network"),
        IG_FIELD_NOTSUP("workloadName"),
        IG_FIELD_NOTSUP("workloadType"),
        IG_FIELD_NOTSUP("canonicalName"),
        IG_FIELD_NOTSUP("canonicalRevision"),
        IG_FIELD_NOTSUP("hostname"),
        IG_FIELD_NOTSUP("node"),
        IG_FIELD_NOTSUP("authorizationPolicies"),
        IG_FIELD_NOTSUP("clusterId"),
        IG_FIELD_NOTSUP("locality"),
        IG_FIELD_NOTSUP("hboneMtlsPort"),
        IG_FIELD_NOTSUP("waypoint"),
        IG_FIELD_NOTSUP("networkGateway"),
        IG_FIELDS_END,
    };
    struct ig_config *cfg = cfg_;
    (void)key;
    if (ig_config__expect_seq(d, n) != 0)
        return;
    cfg->n_workloads = n->n;
    cfg->workloads = n->n ? ig_pool_calloc(d->pool, n->n * sizeof(*cfg->workloads)) : NULL;
    for (size_t i = 0; i < n->n; i++) {
        size_t saved = ig_config__path_index(d, i);
        cfg->workloads[i].healthy = 1;
        cfg->workloads[i].capacity = 1;
        ig_config__dec_fields(d, n->items[i], &cfg->workloads[i], fields);
        ig_config__path_pop(d, saved);
    }
}

/* ---- named backends --------------------------------------------------------------------------- */

void ig_config__dec_backends(struct ig_cfg_dec *d, const struct ig_ynode *key, const struct ig_ynode *n, void *cfg_)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_REQ("name", IG_F_STR, struct ig_cfg_backend, name),
        IG_FIELD_REQ("host", IG_F_HOSTPORT, struct ig_cfg_backend, host),
        IG_FIELD_MEMBER("policies", struct ig_cfg_backend, policies, ig_config__dec_backend_policies),
        IG_FIELD_NOTSUP("internal"),
        IG_FIELD_NOTSUP("mcp"),
        IG_FIELD_NOTSUP("ai"),
        IG_FIELD_NOTSUP("aws"),
        IG_FIELDS_END,
    };
    struct ig_config *cfg = cfg_;
    (void)key;
    if (ig_config__expect_seq(d, n) != 0)
        return;
    cfg->n_backends = n->n;
    cfg->backends = n->n ? ig_pool_calloc(d->pool, n->n * sizeof(*cfg->backends)) : NULL;
    for (size_t i = 0; i < n->n; i++) {
        size_t saved = ig_config__path_index(d, i);
        struct ig_cfg_backend *b = &cfg->backends[i];
        ig_config__dec_fields(d, n->items[i], b, fields);
        const struct ig_ynode *inference_key = ig_config__inference_key(n->items[i]);
        if (inference_key != NULL) {
            size_t s2 = ig_config__path_key(d, "policies", 8);
            ig_config__err_at_key(d, inference_key, "inferenceRouting",
                                  "inferenceRouting is only supported on service route backends, not named backends");
            ig_config__path_pop(d, s2);
        }
        for (size_t j = 0; b->name.len && j < i; j++) {
            if (ig_iov_eq(cfg->backends[j].name, b->name)) {
                const struct ig_ynode *nm = find_val(n->items[i], "name");
                ig_config__err(d, nm ? nm : n->items[i], "duplicate backend name \"%.64s\"", b->name.base);
                break;
            }
        }
        ig_config__path_pop(d, saved);
    }
}
