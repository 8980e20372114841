/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The typed decoder, top half: the root keys, the config: block, frontendPolicies and the
 * binds -> listeners -> routes -> matches tree with route backends. Each struct of agentgateway's
 * LocalConfig is a field table (decode.c); keys agentgateway knows but infergate does not
 * implement are listed as unsupported so they fail with "not supported by infergate" instead of
 * being ignored. Policies, services, workloads and named backends are in load_policy.c.
 */
#include "config_int.h"

#include <stdio.h>
#include <string.h>

static const struct ig_ynode *find_key(const struct ig_ynode *map, const char *name)
{
    if (map == NULL || map->kind != IG_YNODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (ig_config__key_is(IG_YMAP_KEY(map, i), name))
            return IG_YMAP_VAL(map, i);
    return NULL;
}

static const struct ig_ynode *find_key_node(const struct ig_ynode *map, const char *name)
{
    if (map == NULL || map->kind != IG_YNODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (ig_config__key_is(IG_YMAP_KEY(map, i), name))
            return IG_YMAP_KEY(map, i);
    return NULL;
}

/* ---- config: ---------------------------------------------------------------------------------- */

static void f_workers(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_process *p = obj;
    const char *why = NULL;
    (void)k;
    if (v->kind == IG_YNODE_SCALAR && v->type == IG_YS_INT) {
        uint64_t n;
        if (ig_config__dec_uint(d, v, 4096, &n) != 0)
            return;
        if (n == 0) {
            ig_config__err(d, v, "must be at least 1");
            return;
        }
        p->worker_threads = (uint32_t)n;
        return;
    }
    if (v->kind != IG_YNODE_SCALAR || v->type != IG_YS_STR) {
        ig_config__err(d, v, "expected an integer or a string such as \"50%%\"");
        return;
    }
    if (ig_config__parse_worker_threads(ig_iov(v->s, v->len), &p->worker_threads, &why) != 0)
        ig_config__err(d, v, "invalid value \"%.32s\": %s", v->s, why);
}

static int dec_level(struct ig_cfg_dec *d, const struct ig_ynode *v, enum ig_log_level *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug", "trace"};
    int lvl;
    if (v->kind == IG_YNODE_SCALAR && v->type == IG_YS_STR &&
        (memchr(v->s, '=', v->len) != NULL || memchr(v->s, ',', v->len) != NULL)) {
        ig_config__err(d, v,
                       "per-target log filters are not supported by infergate (use one of error, warn, "
                       "info, debug, trace)");
        return -1;
    }
    if (ig_config__dec_enum(d, v, names, 5, (const char *const[]){"off", NULL}, &lvl) != 0)
        return -1;
    *out = (enum ig_log_level)lvl;
    return 0;
}

static void f_log_level(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_process *p = obj;
    (void)k;
    if (v->kind != IG_YNODE_SEQ) {
        dec_level(d, v, &p->log_level);
        return;
    }
    /* A list of levels: the most verbose wins. */
    for (size_t i = 0; i < v->n; i++) {
        enum ig_log_level l;
        size_t saved = ig_config__path_index(d, i);
        if (dec_level(d, v->items[i], &l) == 0 && (i == 0 || l > p->log_level))
            p->log_level = l;
        ig_config__path_pop(d, saved);
    }
}

static const char *const log_formats[] = {"text", "json"};

static const struct ig_cfg_field logging_fields[] = {
    IG_FIELD_FN("level", f_log_level), IG_FIELD_ENUM("format", struct ig_cfg_process, log_format, log_formats, NULL),
    IG_FIELD_NOTSUP("filter"),         IG_FIELD_NOTSUP("fields"),
    IG_FIELD_NOTSUP("database"),       IG_FIELDS_END,
};

static const struct ig_cfg_field process_fields[] = {
    IG_FIELD("adminAddr", IG_F_ADDR, struct ig_cfg_process, admin),
    IG_FIELD("statsAddr", IG_F_ADDR, struct ig_cfg_process, stats),
    IG_FIELD("readinessAddr", IG_F_ADDR, struct ig_cfg_process, readiness),
    IG_FIELD_FN("workerThreads", f_workers),
    IG_FIELD_FLAT("logging", logging_fields),
    IG_FIELD_NOTSUP("enableIpv6"),
    IG_FIELD_NOTSUP("localXdsPath"),
    IG_FIELD_NOTSUP("caAddress"),
    IG_FIELD_NOTSUP("caAuthToken"),
    IG_FIELD_NOTSUP("xdsAddress"),
    IG_FIELD_NOTSUP("xdsAuthToken"),
    IG_FIELD_NOTSUP("namespace"),
    IG_FIELD_NOTSUP("gateway"),
    IG_FIELD_NOTSUP("trustDomain"),
    IG_FIELD_NOTSUP("additionalTrustDomains"),
    IG_FIELD_NOTSUP("skipValidateTrustDomain"),
    IG_FIELD_NOTSUP("serviceAccount"),
    IG_FIELD_NOTSUP("clusterId"),
    IG_FIELD_NOTSUP("network"),
    IG_FIELD_NOTSUP("connectionTerminationDeadline"),
    IG_FIELD_NOTSUP("connectionMinTerminationDeadline"),
    IG_FIELD_NOTSUP("tracing"),
    IG_FIELD_NOTSUP("metrics"),
    IG_FIELD_NOTSUP("histograms"),
    IG_FIELD_NOTSUP("backend"),
    IG_FIELD_NOTSUP("dns"),
    IG_FIELD_NOTSUP("modelCatalog"),
    IG_FIELD_NOTSUP("database"),
    IG_FIELD_NOTSUP("storage"),
    IG_FIELD_NOTSUP("spiffe"),
    IG_FIELD_NOTSUP("standardAttributes"),
    IG_FIELD_NOTSUP("session"),
    IG_FIELD_NOTSUP("mcp"),
    IG_FIELD_NOTSUP("sensitiveHeaders"),
    IG_FIELD_NOTSUP("customFunctions"),
    IG_FIELD_NOTSUP("hbone"),
    IG_FIELDS_END,
};

/* ---- frontendPolicies ------------------------------------------------------------------------- */

static void f_fe_http(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_UINT("maxBufferSize", struct ig_cfg_frontend, max_buffer_size, INT64_MAX),
        IG_FIELD_UINT("http1MaxHeaders", struct ig_cfg_frontend, http1_max_headers, UINT32_MAX),
        IG_FIELD("http1IdleTimeout", IG_F_DURATION, struct ig_cfg_frontend, http1_idle_timeout_ns),
        IG_FIELD_NOTSUP("http1HeaderCase"),
        IG_FIELD_NOTSUP("http2WindowSize"),
        IG_FIELD_NOTSUP("http2ConnectionWindowSize"),
        IG_FIELD_NOTSUP("http2FrameSize"),
        IG_FIELD_NOTSUP("http2MaxHeaderSize"),
        IG_FIELD_NOTSUP("http2KeepaliveInterval"),
        IG_FIELD_NOTSUP("http2KeepaliveTimeout"),
        IG_FIELD_NOTSUP("maxConnectionDuration"),
        IG_FIELDS_END,
    };
    struct ig_cfg_frontend *fe = obj;
    (void)k;
    uint64_t seen = ig_config__dec_fields(d, v, fe, fields);
    if ((seen & 2) && fe->http1_max_headers == 0)
        ig_config__err_at_key(d, find_key(v, "http1MaxHeaders"), "http1MaxHeaders", "must be at least 1");
    if ((seen & 1) && fe->max_buffer_size == 0)
        ig_config__err_at_key(d, find_key(v, "maxBufferSize"), "maxBufferSize", "must be at least 1");
}

static const struct ig_cfg_field access_log_fields[] = {
    IG_FIELD_STR_LIST("remove", struct ig_cfg_frontend, access_log_remove, n_access_log_remove),
    IG_FIELD_NOTSUP("filter"),
    IG_FIELD_NOTSUP("add"),
    IG_FIELD_NOTSUP("otlp"),
    IG_FIELD_NOTSUP("database"),
    IG_FIELDS_END,
};

static void f_frontend(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_FN("http", f_fe_http),
        IG_FIELD_FLAT("accessLog", access_log_fields),
        IG_FIELD_FLAT("logging", access_log_fields), /* agentgateway's alias of accessLog */
        IG_FIELD_NOTSUP("tls"),
        IG_FIELD_NOTSUP("tcp"),
        IG_FIELD_NOTSUP("networkAuthorization"),
        IG_FIELD_NOTSUP("networkExtAuthz"),
        IG_FIELD_NOTSUP("proxyProtocol"),
        IG_FIELD_NOTSUP("proxy"),
        IG_FIELD_NOTSUP("connect"),
        IG_FIELD_NOTSUP("tracing"),
        IG_FIELDS_END,
    };
    (void)k;
    (void)obj;
    uint64_t seen = ig_config__dec_fields(d, v, &d->cfg->frontend, fields);
    if ((seen & 2) && (seen & 4))
        ig_config__err_at_key(d, find_key_node(v, "logging"), "logging",
                              "accessLog and its alias logging are mutually exclusive");
}

/* ---- route matches ---------------------------------------------------------------------------- */

static void dec_value_match(struct ig_cfg_dec *d, const struct ig_ynode *v, struct ig_cfg_str_match *m, int path)
{
    static const char *const path_keys[] = {"exact", "pathPrefix", "regex"};
    static const char *const value_keys[] = {"exact", NULL, "regex"};
    const char *const *keys = path ? path_keys : value_keys;
    if (ig_config__expect_map(d, v) != 0)
        return;
    if (v->n != 1) {
        ig_config__err(d, v, "expected exactly one of %s", path ? "exact, pathPrefix, regex" : "exact, regex");
        return;
    }
    const struct ig_ynode *k = IG_YMAP_KEY(v, 0), *val = IG_YMAP_VAL(v, 0);
    size_t saved = ig_config__path_key(d, k->s, k->len);
    int kind = -1;
    for (int i = 0; i < 3; i++)
        if (keys[i] != NULL && ig_config__key_is(k, keys[i]))
            kind = i;
    if (kind < 0) {
        ig_config__err(d, k, "unknown field, expected one of %s", path ? "exact, pathPrefix, regex" : "exact, regex");
        goto out;
    }
    m->kind = kind == 0 ? IG_CFG_MATCH_EXACT : kind == 1 ? IG_CFG_MATCH_PREFIX : IG_CFG_MATCH_REGEX;
    if (ig_config__dec_str(d, val, &m->value) != 0)
        goto out;
    if (m->kind == IG_CFG_MATCH_REGEX)
        ig_config__compile_regex(d, val, m->value, &m->re);
    else if (path && (m->value.len == 0 || m->value.base[0] != '/'))
        ig_config__err(d, val, "path must start with '/'");
out:
    ig_config__path_pop(d, saved);
}

static void dec_path_match(struct ig_cfg_dec *d, const struct ig_ynode *v, void *out)
{
    dec_value_match(d, v, out, 1);
}

static void dec_kv_value(struct ig_cfg_dec *d, const struct ig_ynode *v, void *out)
{
    dec_value_match(d, v, out, 0);
}

static void dec_kv_matches(struct ig_cfg_dec *d, const struct ig_ynode *v, struct ig_cfg_kv_match **out, size_t *n,
                           int header)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_REQ("name", IG_F_STR, struct ig_cfg_kv_match, name),
        IG_FIELD_MEMBER_REQ("value", struct ig_cfg_kv_match, value, dec_kv_value),
        IG_FIELDS_END,
    };
    if (ig_config__expect_seq(d, v) != 0)
        return;
    *n = v->n;
    *out = v->n ? ig_pool_calloc(d->pool, v->n * sizeof(**out)) : NULL;
    for (size_t i = 0; i < v->n; i++) {
        size_t saved = ig_config__path_index(d, i);
        struct ig_cfg_kv_match *m = &(*out)[i];
        uint64_t seen = ig_config__dec_fields(d, v->items[i], m, fields);
        if ((seen & 1) && m->name.len == 0)
            ig_config__err_at_key(d, find_key(v->items[i], "name"), "name", "must not be empty");
        if (header && (seen & 1)) {
            /* Header names compare case-insensitively; pseudo-headers are lower-case already. */
            for (size_t j = 0; j < m->name.len; j++)
                if (m->name.base[j] >= 'A' && m->name.base[j] <= 'Z')
                    m->name.base[j] = (char)(m->name.base[j] | 0x20);
        }
        ig_config__path_pop(d, saved);
    }
}

static void f_headers(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_route_match *m = obj;
    (void)k;
    dec_kv_matches(d, v, &m->headers, &m->n_headers, 1);
}

static void f_query(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_route_match *m = obj;
    (void)k;
    dec_kv_matches(d, v, &m->query, &m->n_query, 0);
}

static void dec_method(struct ig_cfg_dec *d, const struct ig_ynode *v, void *out)
{
    ig_iov_t *method = out;
    if (ig_config__dec_str(d, v, method) != 0)
        return;
    for (size_t i = 0; i < method->len; i++) {
        unsigned char c = (unsigned char)method->base[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
            ig_config__err(d, v, "invalid HTTP method \"%.32s\"", method->base);
            return;
        }
    }
    if (method->len == 0)
        ig_config__err(d, v, "invalid HTTP method \"\"");
}

static void default_match(struct ig_cfg_route_match *m)
{
    m->path.kind = IG_CFG_MATCH_PREFIX;
    m->path.value = IG_STRLIT("/");
}

static void f_matches(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_MEMBER("path", struct ig_cfg_route_match, path, dec_path_match),
        IG_FIELD_FN("headers", f_headers),
        IG_FIELD_MEMBER("method", struct ig_cfg_route_match, method, dec_method),
        IG_FIELD_FN("query", f_query),
        IG_FIELDS_END,
    };
    struct ig_cfg_route *r = obj;
    (void)k;
    if (ig_config__expect_seq(d, v) != 0)
        return;
    if (v->n == 0) {
        ig_config__err(d, v, "must not be empty (omit matches to match every path)");
        return;
    }
    r->n_matches = v->n;
    r->matches = ig_pool_calloc(d->pool, v->n * sizeof(*r->matches));
    for (size_t i = 0; i < v->n; i++) {
        size_t saved = ig_config__path_index(d, i);
        default_match(&r->matches[i]);
        ig_config__dec_fields(d, v->items[i], &r->matches[i], fields);
        ig_config__path_pop(d, saved);
    }
}

static void f_hostnames(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_route *r = obj;
    const char *why = NULL;
    (void)k;
    if (ig_config__dec_str_list(d, v, &r->hostnames, &r->n_hostnames) != 0)
        return;
    for (size_t i = 0; i < r->n_hostnames; i++) {
        if (ig_config__check_hostname(r->hostnames[i], 1, &why) != 0) {
            size_t saved = ig_config__path_index(d, i);
            ig_config__err(d, v->items[i], "invalid hostname \"%.64s\": %s", r->hostnames[i].base, why);
            ig_config__path_pop(d, saved);
        }
    }
}

/* ---- route backends --------------------------------------------------------------------------- */

/* The target kind of a route backend whose service, host or backend key has not been decoded yet. */
#define RB_NO_TARGET IG_CFG_TARGET_KIND_COUNT

static void f_rb_target(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_route_backend *rb = obj;
    if (rb->target.kind != RB_NO_TARGET) {
        ig_config__err(d, k, "a backend takes exactly one of service, host, backend");
        return;
    }
    ig_config__dec_target(d, k, v, &rb->target);
}

static void f_route_backends(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_FN("service", f_rb_target),
        IG_FIELD_FN("host", f_rb_target),
        IG_FIELD_FN("backend", f_rb_target),
        IG_FIELD_UINT("weight", struct ig_cfg_route_backend, weight, UINT32_MAX),
        IG_FIELD_MEMBER("policies", struct ig_cfg_route_backend, policies, ig_config__dec_backend_policies),
        IG_FIELD_NOTSUP("dynamic"),
        IG_FIELD_NOTSUP("mcp"),
        IG_FIELD_NOTSUP("ai"),
        IG_FIELD_NOTSUP("aws"),
        IG_FIELD_NOTSUP("internal"),
        IG_FIELD_NOTSUP("routeGroup"),
        IG_FIELD_NOTSUP("invalid"),
        IG_FIELDS_END,
    };
    struct ig_cfg_route *r = obj;
    (void)k;
    if (ig_config__expect_seq(d, v) != 0)
        return;
    r->n_backends = v->n;
    r->backends = v->n ? ig_pool_calloc(d->pool, v->n * sizeof(*r->backends)) : NULL;
    for (size_t i = 0; i < v->n; i++) {
        size_t saved = ig_config__path_index(d, i);
        struct ig_cfg_route_backend *rb = &r->backends[i];
        int errors = d->dg->count;
        rb->weight = 1;
        rb->target.kind = RB_NO_TARGET;
        uint64_t seen = ig_config__dec_fields(d, v->items[i], rb, fields);
        if (rb->target.kind == RB_NO_TARGET)
            rb->target.kind = IG_CFG_TARGET_HOST;
        /* An unsupported kind (ai, mcp, ...) has been reported already. */
        if (v->items[i]->kind == IG_YNODE_MAP && (seen & 7) == 0 && d->dg->count == errors)
            ig_config__err(d, v->items[i], "a backend needs one of service, host, backend");
        const struct ig_ynode *inference_key = ig_config__inference_key(v->items[i]);
        if (inference_key != NULL && (seen & 7) != 0 && rb->target.kind != IG_CFG_TARGET_SERVICE) {
            size_t s2 = ig_config__path_key(d, "policies", 8);
            ig_config__err_at_key(d, inference_key, "inferenceRouting",
                                  "inferenceRouting is only supported on service route backends");
            ig_config__path_pop(d, s2);
        }
        r->total_weight += rb->weight;
        ig_config__path_pop(d, saved);
    }
}

/* ---- routes ----------------------------------------------------------------------------------- */

static int iov_same(ig_iov_t a, ig_iov_t b)
{
    return ig_iov_eq(a, b);
}

static void f_routes(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD("name", IG_F_STR, struct ig_cfg_route, name),
        IG_FIELD("namespace", IG_F_STR, struct ig_cfg_route, ns),
        IG_FIELD("ruleName", IG_F_STR, struct ig_cfg_route, rule_name),
        IG_FIELD_FN("hostnames", f_hostnames),
        IG_FIELD_FN("matches", f_matches),
        IG_FIELD_MEMBER("policies", struct ig_cfg_route, policies, ig_config__dec_route_policies),
        IG_FIELD_FN("backends", f_route_backends),
        IG_FIELDS_END,
    };
    struct ig_cfg_listener *l = obj;
    (void)k;
    if (ig_config__expect_seq(d, v) != 0)
        return;
    l->n_routes = v->n;
    l->routes = v->n ? ig_pool_calloc(d->pool, v->n * sizeof(*l->routes)) : NULL;
    for (size_t i = 0; i < v->n; i++) {
        size_t saved = ig_config__path_index(d, i);
        struct ig_cfg_route *r = &l->routes[i];
        r->index = i;
        r->listener = l;
        uint64_t seen = ig_config__dec_fields(d, v->items[i], r, fields);
        if (!(seen & 1))
            r->name = ig_pool_dup(d->pool, ig_iov_cstr(ig_pool_printf(d->scratch, "route%zu", i)));
        if (r->matches == NULL) {
            r->n_matches = 1;
            r->matches = ig_pool_calloc(d->pool, sizeof(*r->matches));
            default_match(&r->matches[0]);
        }
        for (size_t j = 0; j < i; j++) {
            const struct ig_cfg_route *o = &l->routes[j];
            if (iov_same(o->name, r->name) && iov_same(o->ns, r->ns) && iov_same(o->rule_name, r->rule_name)) {
                const struct ig_ynode *at = find_key(v->items[i], "name");
                ig_config__err(d, at ? at : v->items[i], "duplicate route name \"%.64s\"", r->name.base);
                break;
            }
        }
        ig_config__path_pop(d, saved);
    }
}

/* ---- listeners -------------------------------------------------------------------------------- */

/* The listener's TLS settings while decoding, with the version keys seen (two spellings each). */
struct tls_state {
    struct ig_cfg_listener_tls tls;
    const struct ig_ynode *min_key, *max_key;
};

static void f_tls_version(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const char *const names[] = {NULL, "TLS_V1_2", "TLS_V1_3"};
    static const char *const unsupported[] = {"TLS_V1_0", "TLS_V1_1", NULL};
    struct tls_state *st = obj;
    int is_min = k->s[1] == 'i';
    const struct ig_ynode **seen = is_min ? &st->min_key : &st->max_key;
    int ver;
    if (*seen != NULL) {
        ig_config__err(d, k, "duplicate field: %s and %s are the same setting", (*seen)->s, k->s);
        return;
    }
    *seen = k;
    if (ig_config__dec_enum(d, v, names, 3, unsupported, &ver) == 0) {
        if (is_min)
            st->tls.min_version = (enum ig_cfg_tls_version)ver;
        else
            st->tls.max_version = (enum ig_cfg_tls_version)ver;
    }
}

static const char *const tls_modes[] = {"static"};
static const char *const tls_modes_unsupported[] = {"dynamicCa", NULL};

static void f_listener_tls(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_REQ("cert", IG_F_PEM, struct tls_state, tls.cert),
        IG_FIELD_REQ("key", IG_F_PEM, struct tls_state, tls.key),
        IG_FIELD("root", IG_F_PEM, struct tls_state, tls.root),
        IG_FIELD_FN("minTLSVersion", f_tls_version),
        IG_FIELD_FN("minTlsVersion", f_tls_version),
        IG_FIELD_FN("maxTLSVersion", f_tls_version),
        IG_FIELD_FN("maxTlsVersion", f_tls_version),
        IG_FIELD_ENUM_CHECK("mode", tls_modes, tls_modes_unsupported),
        IG_FIELD_NOTSUP("spiffe"),
        IG_FIELD_NOTSUP("cipherSuites"),
        IG_FIELD_NOTSUP("keyExchangeGroups"),
        IG_FIELDS_END,
    };
    struct ig_cfg_listener *l = obj;
    (void)k;
    struct tls_state st;
    memset(&st, 0, sizeof(st));
    l->tls = ig_pool_calloc(d->pool, sizeof(*l->tls));
    ig_config__dec_fields(d, v, &st, fields);
    *l->tls = st.tls;
    if (st.tls.min_version && st.tls.max_version && st.tls.min_version > st.tls.max_version)
        ig_config__err_at_key(d, st.max_key, st.max_key->s, "maximum TLS version is below the minimum");
}

static const char *const protocols[] = {"HTTP", "HTTPS"};
static const char *const protocols_unsupported[] = {"TLS", "TCP", "HBONE", NULL};

static void f_listeners(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD("name", IG_F_STR, struct ig_cfg_listener, name),
        IG_FIELD("namespace", IG_F_STR, struct ig_cfg_listener, ns),
        IG_FIELD_HOSTNAME("hostname", struct ig_cfg_listener, hostname, 1),
        IG_FIELD_ENUM("protocol", struct ig_cfg_listener, protocol, protocols, protocols_unsupported),
        IG_FIELD_FN("tls", f_listener_tls),
        IG_FIELD_FN("routes", f_routes),
        IG_FIELD_NOTSUP("tcpRoutes"),
        IG_FIELD_NOTSUP("policies"),
        IG_FIELDS_END,
    };
    struct ig_cfg_bind *b = obj;
    (void)k;
    if (ig_config__expect_seq(d, v) != 0)
        return;
    b->n_listeners = v->n;
    b->listeners = v->n ? ig_pool_calloc(d->pool, v->n * sizeof(*b->listeners)) : NULL;
    for (size_t i = 0; i < v->n; i++) {
        size_t saved = ig_config__path_index(d, i);
        struct ig_cfg_listener *l = &b->listeners[i];
        const struct ig_ynode *item = v->items[i];
        l->bind = b;
        uint64_t seen = ig_config__dec_fields(d, item, l, fields);
        if (!(seen & 1))
            l->name = ig_pool_dup(d->pool, ig_iov_cstr(ig_pool_printf(d->scratch, "listener%zu", i)));
        if (l->protocol == IG_CFG_PROTO_HTTPS && l->tls == NULL && item->kind == IG_YNODE_MAP)
            ig_config__err(d, item, "protocol HTTPS requires tls");
        if (l->protocol == IG_CFG_PROTO_HTTP && l->tls != NULL)
            ig_config__err_at_key(d, find_key_node(item, "tls"), "tls", "tls requires protocol: HTTPS");
        for (size_t j = 0; j < i; j++) {
            if (iov_same(b->listeners[j].name, l->name)) {
                const struct ig_ynode *at = find_key(item, "name");
                ig_config__err(d, at ? at : item, "duplicate listener name \"%.64s\"", l->name.base);
                break;
            }
            if (b->listeners[j].hostname.len == l->hostname.len &&
                ig_iov_eq_nocase(b->listeners[j].hostname, l->hostname)) {
                const struct ig_ynode *at = find_key(item, "hostname");
                ig_config__err(d, at ? at : item, "another listener of this bind has the same hostname");
                break;
            }
        }
        ig_config__path_pop(d, saved);
    }
}

/* ---- binds ------------------------------------------------------------------------------------ */

static const char *const tunnels[] = {"direct"};
static const char *const tunnels_unsupported[] = {"hboneWaypoint", "hboneGateway", "proxy", "connect", NULL};
static const char *const bind_modes[] = {"standard"};
static const char *const bind_modes_unsupported[] = {"internal", NULL};

static void f_binds(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_UINT_REQ("port", struct ig_cfg_bind, port, UINT16_MAX),
        IG_FIELD_FN_REQ("listeners", f_listeners),
        IG_FIELD_ENUM_CHECK("tunnelProtocol", tunnels, tunnels_unsupported),
        IG_FIELD_ENUM_CHECK("mode", bind_modes, bind_modes_unsupported),
        IG_FIELDS_END,
    };
    struct ig_config *cfg = obj;
    (void)k;
    if (ig_config__expect_seq(d, v) != 0)
        return;
    cfg->n_binds = v->n;
    cfg->binds = v->n ? ig_pool_calloc(d->pool, v->n * sizeof(*cfg->binds)) : NULL;
    for (size_t i = 0; i < v->n; i++) {
        size_t saved = ig_config__path_index(d, i);
        struct ig_cfg_bind *b = &cfg->binds[i];
        uint64_t seen = ig_config__dec_fields(d, v->items[i], b, fields);
        const struct ig_ynode *port = find_key(v->items[i], "port");
        if (port != NULL && port->type == IG_YS_INT && port->int_ok && port->integer == 0)
            ig_config__err_at_key(d, port, "port", "must be between 1 and 65535");
        b->key = ig_pool_dup(d->pool, ig_iov_cstr(ig_pool_printf(d->scratch, "bind/%u", b->port)));
        for (size_t j = 0; (seen & 1) && j < i; j++) {
            if (cfg->binds[j].port == b->port) {
                ig_config__err_at_key(d, port, "port", "duplicate bind port %u", b->port);
                break;
            }
        }
        ig_config__path_pop(d, saved);
    }
}

/* ---- root ------------------------------------------------------------------------------------- */

void ig_config__dec_root(struct ig_cfg_dec *d, const struct ig_ynode *root)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_OBJ("config", struct ig_config, process, process_fields),
        IG_FIELD_FN("binds", f_binds),
        IG_FIELD_FN("frontendPolicies", f_frontend),
        IG_FIELD_FN("services", ig_config__dec_services),
        IG_FIELD_FN("workloads", ig_config__dec_workloads),
        IG_FIELD_FN("backends", ig_config__dec_backends),
        IG_FIELD_NOTSUP("policies"),
        IG_FIELD_NOTSUP("routeGroups"),
        IG_FIELD_NOTSUP("gateways"),
        IG_FIELD_NOTSUP("routes"),
        IG_FIELD_NOTSUP("tcpRoutes"),
        IG_FIELD_NOTSUP("llm"),
        IG_FIELD_NOTSUP("mcp"),
        IG_FIELD_NOTSUP("ui"),
        IG_FIELDS_END,
    };
    if (ig_config__is_null(root))
        return;
    ig_config__dec_fields(d, root, d->cfg, fields);
}
