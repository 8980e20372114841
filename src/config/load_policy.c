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

static void dec_authority(struct ig_cfg_dec *d, const struct ig_ynode *v, struct ig_cfg_authority *a)
{
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

static void dec_path_rewrite(struct ig_cfg_dec *d, const struct ig_ynode *v, struct ig_cfg_path_rewrite *p)
{
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

static void f_rw_authority(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    (void)k;
    dec_authority(d, v, &((struct ig_cfg_url_rewrite *)obj)->authority);
}

static void f_rw_path(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    (void)k;
    dec_path_rewrite(d, v, &((struct ig_cfg_url_rewrite *)obj)->path);
}

static void f_rd_authority(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    (void)k;
    dec_authority(d, v, &((struct ig_cfg_redirect *)obj)->authority);
}

static void f_rd_path(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    (void)k;
    dec_path_rewrite(d, v, &((struct ig_cfg_redirect *)obj)->path);
}

static void f_rd_scheme(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const char *const names[] = {"http", "https"};
    struct ig_cfg_redirect *r = obj;
    int s;
    (void)k;
    if (ig_config__dec_enum(d, v, names, 2, NULL, &s) == 0)
        r->scheme = s ? IG_STRLIT("https") : IG_STRLIT("http");
}

static void f_rd_status(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_redirect *r = obj;
    uint64_t s;
    (void)k;
    if (ig_config__dec_uint(d, v, 999, &s) != 0)
        return;
    if (s != 301 && s != 302 && s != 303 && s != 307 && s != 308) {
        ig_config__err(d, v, "redirect status must be one of 301, 302, 303, 307, 308");
        return;
    }
    r->status = (uint16_t)s;
}

/* ---- route policies ---------------------------------------------------------------------------- */

static void f_req_hdr(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    (void)k;
    ((struct ig_cfg_route_policies *)obj)->request_headers = ig_config__dec_header_mod(d, v);
}

static void f_resp_hdr(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    (void)k;
    ((struct ig_cfg_route_policies *)obj)->response_headers = ig_config__dec_header_mod(d, v);
}

static void f_url_rewrite(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_FN("authority", f_rw_authority),
        IG_FIELD_FN("path", f_rw_path),
        IG_FIELDS_END,
    };
    struct ig_cfg_route_policies *p = obj;
    (void)k;
    p->url_rewrite = ig_pool_calloc(d->pool, sizeof(*p->url_rewrite));
    ig_config__dec_fields(d, v, p->url_rewrite, fields);
}

static void f_redirect(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_FN("scheme", f_rd_scheme),
        IG_FIELD_FN("authority", f_rd_authority),
        IG_FIELD_FN("path", f_rd_path),
        IG_FIELD_FN("status", f_rd_status),
        IG_FIELDS_END,
    };
    struct ig_cfg_route_policies *p = obj;
    (void)k;
    p->redirect = ig_pool_calloc(d->pool, sizeof(*p->redirect));
    p->redirect->status = 302;
    ig_config__dec_fields(d, v, p->redirect, fields);
}

static void f_dr_status(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_direct_response *r = obj;
    uint64_t s;
    (void)k;
    if (ig_config__dec_uint(d, v, 999, &s) != 0)
        return;
    if (s < 100 || s > 599) {
        ig_config__err(d, v, "status must be between 100 and 599");
        return;
    }
    r->status = (uint16_t)s;
}

static void f_direct_response(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD("body", IG_F_STR, struct ig_cfg_direct_response, body),
        IG_FIELD_FN_REQ("status", f_dr_status),
        IG_FIELD_NOTSUP("bodyExpression"),
        IG_FIELD_NOTSUP("headers"),
        IG_FIELD_NOTSUP("conditional"),
        IG_FIELDS_END,
    };
    struct ig_cfg_route_policies *p = obj;
    (void)k;
    p->direct_response = ig_pool_calloc(d->pool, sizeof(*p->direct_response));
    ig_config__dec_fields(d, v, p->direct_response, fields);
}

static void f_timeout(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD("requestTimeout", IG_F_DURATION, struct ig_cfg_timeouts, request_ns),
        IG_FIELD("backendRequestTimeout", IG_F_DURATION, struct ig_cfg_timeouts, backend_request_ns),
        IG_FIELDS_END,
    };
    struct ig_cfg_route_policies *p = obj;
    (void)k;
    p->timeout = ig_pool_calloc(d->pool, sizeof(*p->timeout));
    ig_config__dec_fields(d, v, p->timeout, fields);
}

static void f_retry_attempts(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_retry *r = obj;
    uint64_t n;
    (void)k;
    if (ig_config__dec_uint(d, v, UINT8_MAX, &n) == 0)
        r->attempts = (uint32_t)n;
}

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

static void f_retry(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_FN("attempts", f_retry_attempts),
        IG_FIELD("backoff", IG_F_DURATION, struct ig_cfg_retry, backoff_ns),
        IG_FIELD_FN_REQ("codes", f_retry_codes),
        IG_FIELD_NOTSUP("precondition"),
        IG_FIELD_NOTSUP("condition"),
        IG_FIELDS_END,
    };
    struct ig_cfg_route_policies *p = obj;
    (void)k;
    p->retry = ig_pool_calloc(d->pool, sizeof(*p->retry));
    p->retry->attempts = 1;
    ig_config__dec_fields(d, v, p->retry, fields);
}

static void f_rl_type(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const char *const names[] = {"requests", "tokens"};
    int t;
    (void)k;
    if (ig_config__dec_enum(d, v, names, 2, NULL, &t) == 0)
        ((struct ig_cfg_rate_limit *)obj)->type = (enum ig_cfg_rate_limit_type)t;
}

static void f_rate_limit(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_REQ("maxTokens", IG_F_U64, struct ig_cfg_rate_limit, max_tokens),
        IG_FIELD_REQ("tokensPerFill", IG_F_U64, struct ig_cfg_rate_limit, tokens_per_fill),
        IG_FIELD_REQ("fillInterval", IG_F_DURATION, struct ig_cfg_rate_limit, fill_interval_ns),
        IG_FIELD_FN("type", f_rl_type),
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

void ig_config__dec_route_policies(struct ig_cfg_dec *d, const struct ig_ynode *n, struct ig_cfg_route_policies *p)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_FN("requestHeaderModifier", f_req_hdr),
        IG_FIELD_FN("responseHeaderModifier", f_resp_hdr),
        IG_FIELD_FN("urlRewrite", f_url_rewrite),
        IG_FIELD_FN("requestRedirect", f_redirect),
        IG_FIELD_FN("directResponse", f_direct_response),
        IG_FIELD_FN("timeout", f_timeout),
        IG_FIELD_FN("retry", f_retry),
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
        IG_FIELD_REQ("port", IG_F_U16, struct svc_ref, port),
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

static void f_http_version(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const char *const names[] = {NULL, "HTTP/1.1", "HTTP/2"};
    int ver;
    (void)k;
    if (ig_config__dec_enum(d, v, names, 3, (const char *const[]){"HTTP/1.0", "HTTP/0.9", "HTTP/3", NULL}, &ver) == 0)
        ((struct ig_cfg_backend_policies *)obj)->http_version = (enum ig_cfg_http_version)ver;
}

static void f_bp_http(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_FN("version", f_http_version),
        IG_FIELD("requestTimeout", IG_F_DURATION, struct ig_cfg_backend_policies, request_timeout_ns),
        IG_FIELDS_END,
    };
    (void)k;
    ig_config__dec_fields(d, v, obj, fields);
}

static void f_bp_tcp(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD("connectTimeout", IG_F_DURATION, struct ig_cfg_backend_policies, connect_timeout_ns),
        IG_FIELD_NOTSUP("keepalives"),
        IG_FIELDS_END,
    };
    (void)k;
    ig_config__dec_fields(d, v, obj, fields);
}

static void f_btls_root(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    (void)k;
    ig_config__dec_pem(d, v, &((struct ig_cfg_backend_tls *)obj)->root);
}

static void f_btls_hostname(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_backend_tls *t = obj;
    const char *why = NULL;
    (void)k;
    if (ig_config__dec_str(d, v, &t->hostname) == 0 && ig_config__check_hostname(t->hostname, 0, &why) != 0)
        ig_config__err(d, v, "invalid hostname \"%.64s\": %s", t->hostname.base, why);
}

static void f_bp_tls(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_FN("root", f_btls_root),
        IG_FIELD("insecure", IG_F_BOOL, struct ig_cfg_backend_tls, insecure),
        IG_FIELD_FN("hostname", f_btls_hostname),
        IG_FIELD_NOTSUP("cert"),
        IG_FIELD_NOTSUP("key"),
        IG_FIELD_NOTSUP("insecureHost"),
        IG_FIELD_NOTSUP("alpn"),
        IG_FIELD_NOTSUP("subjectAltNames"),
        IG_FIELD_NOTSUP("keyExchangeGroups"),
        IG_FIELD_NOTSUP("spiffe"),
        IG_FIELDS_END,
    };
    struct ig_cfg_backend_policies *p = obj;
    (void)k;
    p->tls = ig_pool_calloc(d->pool, sizeof(*p->tls));
    ig_config__dec_fields(d, v, p->tls, fields);
}

static void f_picker(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_inference_routing *ir = obj;
    (void)k;
    if (ig_config__expect_map(d, v) != 0)
        return;
    if (v->n != 1) {
        ig_config__err(d, v, "expected exactly one of host, service, backend");
        return;
    }
    const struct ig_ynode *tk = IG_YMAP_KEY(v, 0), *tv = IG_YMAP_VAL(v, 0);
    size_t saved = ig_config__path_key(d, tk->s, tk->len);
    if (ig_config__key_is(tk, "host") || ig_config__key_is(tk, "service") || ig_config__key_is(tk, "backend"))
        ig_config__dec_target(d, tk, tv, &ir->picker);
    else
        ig_config__err(d, tk, "unknown field, expected one of host, service, backend");
    ig_config__path_pop(d, saved);
}

static void f_dest_mode(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const char *const names[] = {"validated", "passthrough"};
    int m;
    (void)k;
    if (ig_config__dec_enum(d, v, names, 2, NULL, &m) == 0)
        ((struct ig_cfg_inference_routing *)obj)->destination_mode = (enum ig_cfg_destination_mode)m;
}

static void f_failure_mode(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const char *const names[] = {"failClosed", "failOpen"};
    int m;
    (void)k;
    if (ig_config__dec_enum(d, v, names, 2, NULL, &m) == 0)
        ((struct ig_cfg_inference_routing *)obj)->failure_mode = (enum ig_cfg_failure_mode)m;
}

static void f_response_mode(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const char *const names[] = {"full", "observe", "headers"};
    int m;
    (void)k;
    if (ig_config__dec_enum(d, v, names, 3, NULL, &m) == 0)
        ((struct ig_cfg_inference_routing *)obj)->response_mode = (enum ig_cfg_response_mode)m;
}

struct bp_state {
    struct ig_cfg_backend_policies *p;
    const struct ig_ynode *inference_key;
};

static void f_bp_inference(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_FN_REQ("endpointPicker", f_picker),
        IG_FIELD_FN("destinationMode", f_dest_mode),
        IG_FIELD_FN("failureMode", f_failure_mode),
        IG_FIELD_FN("responseMode", f_response_mode),
        IG_FIELDS_END,
    };
    struct ig_cfg_backend_policies *p = obj;
    p->inference = ig_pool_calloc(d->pool, sizeof(*p->inference));
    p->inference->destination_mode = IG_CFG_DEST_VALIDATED;
    p->inference->failure_mode = IG_CFG_FAIL_CLOSED;
    p->inference->response_mode = IG_CFG_RESP_FULL;
    (void)k;
    ig_config__dec_fields(d, v, p->inference, fields);
}

static void f_bp_req_hdr(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    (void)k;
    ((struct ig_cfg_backend_policies *)obj)->request_headers = ig_config__dec_header_mod(d, v);
}

static void f_bp_resp_hdr(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    (void)k;
    ((struct ig_cfg_backend_policies *)obj)->response_headers = ig_config__dec_header_mod(d, v);
}

void ig_config__dec_backend_policies(struct ig_cfg_dec *d, const struct ig_ynode *n, struct ig_cfg_backend_policies *p,
                                     const struct ig_ynode **inference_key)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_FN("http", f_bp_http),
        IG_FIELD_FN("tcp", f_bp_tcp),
        IG_FIELD_FN("backendTLS", f_bp_tls),
        IG_FIELD_FN("inferenceRouting", f_bp_inference),
        IG_FIELD_FN("requestHeaderModifier", f_bp_req_hdr),
        IG_FIELD_FN("responseHeaderModifier", f_bp_resp_hdr),
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
    uint64_t seen = ig_config__dec_fields(d, n, p, fields);
    *inference_key = NULL;
    if (seen & (1u << 3)) {
        for (size_t i = 0; i < n->n; i++)
            if (ig_config__key_is(IG_YMAP_KEY(n, i), "inferenceRouting"))
                *inference_key = IG_YMAP_KEY(n, i);
    }
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

static void f_svc_hostname(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_service *s = obj;
    const char *why = NULL;
    (void)k;
    if (ig_config__dec_str(d, v, &s->hostname) == 0 && ig_config__check_hostname(s->hostname, 0, &why) != 0)
        ig_config__err(d, v, "invalid hostname \"%.64s\": %s", s->hostname.base, why);
}

void ig_config__dec_services(struct ig_cfg_dec *d, const struct ig_ynode *n)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_REQ("name", IG_F_STR, struct ig_cfg_service, name),
        IG_FIELD_REQ("namespace", IG_F_STR, struct ig_cfg_service, ns),
        IG_FIELD_FN_REQ("hostname", f_svc_hostname),
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
    struct ig_config *cfg = d->cfg;
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

struct wl_state {
    struct ig_cfg_workload *w;
};

static void f_wl_ips(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_workload *w = ((struct wl_state *)obj)->w;
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

static void f_wl_str(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_workload *w = ((struct wl_state *)obj)->w;
    ig_iov_t *dst = ig_config__key_is(k, "name") ? &w->name : ig_config__key_is(k, "uid") ? &w->uid : &w->ns;
    ig_config__dec_str(d, v, dst);
}

static void f_wl_status(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const char *const names[] = {"Unhealthy", "Healthy"};
    int h;
    (void)k;
    if (ig_config__dec_enum(d, v, names, 2, NULL, &h) == 0)
        ((struct wl_state *)obj)->w->healthy = h;
}

static void f_wl_capacity(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    uint64_t c;
    (void)k;
    if (ig_config__dec_uint(d, v, UINT32_MAX, &c) == 0)
        ((struct wl_state *)obj)->w->capacity = (uint32_t)c;
}

static void f_wl_protocol(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const char *const names[] = {"TCP"};
    static const char *const unsupported[] = {"HBONE", "LegacyIstioMtls", NULL};
    int p;
    (void)k;
    (void)obj;
    ig_config__dec_enum(d, v, names, 1, unsupported, &p);
}

static void f_wl_services(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_workload *w = ((struct wl_state *)obj)->w;
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

void ig_config__dec_workloads(struct ig_cfg_dec *d, const struct ig_ynode *n)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_FN_REQ("workloadIps", f_wl_ips),
        IG_FIELD_FN_REQ("namespace", f_wl_str),
        IG_FIELD_FN_REQ("services", f_wl_services),
        IG_FIELD_FN("name", f_wl_str),
        IG_FIELD_FN("uid", f_wl_str),
        IG_FIELD_FN("status", f_wl_status),
        IG_FIELD_FN("capacity", f_wl_capacity),
        IG_FIELD_FN("protocol", f_wl_protocol),
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
    struct ig_config *cfg = d->cfg;
    if (ig_config__expect_seq(d, n) != 0)
        return;
    cfg->n_workloads = n->n;
    cfg->workloads = n->n ? ig_pool_calloc(d->pool, n->n * sizeof(*cfg->workloads)) : NULL;
    for (size_t i = 0; i < n->n; i++) {
        size_t saved = ig_config__path_index(d, i);
        struct wl_state st = {&cfg->workloads[i]};
        st.w->healthy = 1;
        st.w->capacity = 1;
        ig_config__dec_fields(d, n->items[i], &st, fields);
        ig_config__path_pop(d, saved);
    }
}

/* ---- named backends --------------------------------------------------------------------------- */

struct be_state {
    struct ig_cfg_backend *b;
    const struct ig_ynode *inference_key;
};

static void f_be_name(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    (void)k;
    ig_config__dec_str(d, v, &((struct be_state *)obj)->b->name);
}

static void f_be_host(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    (void)k;
    ig_config__dec_hostport(d, v, &((struct be_state *)obj)->b->host);
}

static void f_be_policies(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct be_state *st = obj;
    (void)k;
    ig_config__dec_backend_policies(d, v, &st->b->policies, &st->inference_key);
}

void ig_config__dec_backends(struct ig_cfg_dec *d, const struct ig_ynode *n)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_FN_REQ("name", f_be_name),
        IG_FIELD_FN_REQ("host", f_be_host),
        IG_FIELD_FN("policies", f_be_policies),
        IG_FIELD_NOTSUP("internal"),
        IG_FIELD_NOTSUP("mcp"),
        IG_FIELD_NOTSUP("ai"),
        IG_FIELD_NOTSUP("aws"),
        IG_FIELDS_END,
    };
    struct ig_config *cfg = d->cfg;
    if (ig_config__expect_seq(d, n) != 0)
        return;
    cfg->n_backends = n->n;
    cfg->backends = n->n ? ig_pool_calloc(d->pool, n->n * sizeof(*cfg->backends)) : NULL;
    for (size_t i = 0; i < n->n; i++) {
        size_t saved = ig_config__path_index(d, i);
        struct be_state st = {&cfg->backends[i], NULL};
        ig_config__dec_fields(d, n->items[i], &st, fields);
        if (st.inference_key != NULL) {
            size_t s2 = ig_config__path_key(d, "policies", 8);
            ig_config__err_at_key(d, st.inference_key, "inferenceRouting",
                                  "inferenceRouting is only supported on service route backends, not named backends");
            ig_config__path_pop(d, s2);
        }
        for (size_t j = 0; st.b->name.len && j < i; j++) {
            if (ig_iov_eq(cfg->backends[j].name, st.b->name)) {
                const struct ig_ynode *nm = find_val(n->items[i], "name");
                ig_config__err(d, nm ? nm : n->items[i], "duplicate backend name \"%.64s\"", st.b->name.base);
                break;
            }
        }
        ig_config__path_pop(d, saved);
    }
}
