/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The snapshot as JSON for the admin port's /config_dump: the keys of the file format, with
 * defaults filled in and references resolved (a service backend lists its endpoints). PEM contents
 * are never written, and with |redact| neither are TLS key paths. Durations print the way Go
 * prints them ("10m0s"), as agentgateway's dump does.
 */
#include "config_int.h"

#include <stdio.h>
#include <string.h>

#define JW_DEPTH 32

struct jw {
    ig_buf_t *b;
    int rc;
    int depth;
    int after_key;
    unsigned char first[JW_DEPTH];
};

static void put(struct jw *w, const char *s, size_t n)
{
    if (w->rc == 0 && ig_buf_append(w->b, s, n) != 0)
        w->rc = IG_ETOOBIG;
}

static void sep(struct jw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth > 0) {
        if (!w->first[w->depth])
            put(w, ",", 1);
        w->first[w->depth] = 0;
    }
}

static void open_(struct jw *w, char c)
{
    sep(w);
    put(w, &c, 1);
    if (w->depth + 1 < JW_DEPTH)
        w->depth++;
    w->first[w->depth] = 1;
}

static void close_(struct jw *w, char c)
{
    put(w, &c, 1);
    if (w->depth > 0)
        w->depth--;
}

static void raw_str(struct jw *w, ig_iov_t s)
{
    static const char hex[] = "0123456789abcdef";
    put(w, "\"", 1);
    size_t start = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.base[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(w, s.base + start, i - start);
        char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            put(w, esc, 2);
        } else if (c == '\n') {
            put(w, "\\n", 2);
        } else {
            put(w, esc, 6);
        }
        start = i + 1;
    }
    put(w, s.base + start, s.len - start);
    put(w, "\"", 1);
}

static void key(struct jw *w, const char *k)
{
    sep(w);
    raw_str(w, ig_iov_cstr(k));
    put(w, ":", 1);
    w->after_key = 1;
}

static void str(struct jw *w, ig_iov_t s)
{
    sep(w);
    raw_str(w, s);
}

static void cstr(struct jw *w, const char *s)
{
    str(w, ig_iov_cstr(s));
}

static void num(struct jw *w, uint64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
    sep(w);
    put(w, b, (size_t)n);
}

static void boolean(struct jw *w, int v)
{
    sep(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

static void dur(struct jw *w, uint64_t ns)
{
    char b[48];
    cstr(w, ig_config_format_duration(ns, b, sizeof(b)));
}

static void kstr(struct jw *w, const char *k, ig_iov_t v)
{
    if (v.len == 0)
        return;
    key(w, k);
    str(w, v);
}

static void str_list(struct jw *w, const char *k, const ig_iov_t *v, size_t n)
{
    key(w, k);
    open_(w, '[');
    for (size_t i = 0; i < n; i++)
        str(w, v[i]);
    close_(w, ']');
}

/* ---- pieces ----------------------------------------------------------------------------------- */

static void header_list(struct jw *w, const char *k, const struct ig_cfg_header *h, size_t n)
{
    if (n == 0)
        return;
    key(w, k);
    open_(w, '{');
    for (size_t i = 0; i < n; i++) {
        key(w, h[i].name.base);
        str(w, h[i].value);
    }
    close_(w, '}');
}

static void header_mod(struct jw *w, const char *k, const struct ig_cfg_header_mod *m)
{
    if (m == NULL)
        return;
    key(w, k);
    open_(w, '{');
    header_list(w, "add", m->add, m->n_add);
    header_list(w, "set", m->set, m->n_set);
    if (m->n_remove)
        str_list(w, "remove", m->remove, m->n_remove);
    close_(w, '}');
}

static void str_match(struct jw *w, const char *k, const struct ig_cfg_str_match *m)
{
    static const char *const names[] = {"exact", "pathPrefix", "regex"};
    key(w, k);
    open_(w, '{');
    key(w, names[m->kind]);
    str(w, m->value);
    close_(w, '}');
}

static void kv_matches(struct jw *w, const char *k, const struct ig_cfg_kv_match *m, size_t n)
{
    if (n == 0)
        return;
    key(w, k);
    open_(w, '[');
    for (size_t i = 0; i < n; i++) {
        open_(w, '{');
        kstr(w, "name", m[i].name);
        str_match(w, "value", &m[i].value);
        close_(w, '}');
    }
    close_(w, ']');
}

static void authority(struct jw *w, const struct ig_cfg_authority *a)
{
    if (a->kind == IG_CFG_AUTHORITY_UNSET)
        return;
    key(w, "authority");
    switch (a->kind) {
    case IG_CFG_AUTHORITY_AUTO:
        cstr(w, "auto");
        return;
    case IG_CFG_AUTHORITY_NONE:
        cstr(w, "none");
        return;
    case IG_CFG_AUTHORITY_PORT:
        open_(w, '{');
        key(w, "port");
        num(w, a->port);
        close_(w, '}');
        return;
    default:
        open_(w, '{');
        kstr(w, a->kind == IG_CFG_AUTHORITY_FULL ? "full" : "host", a->value);
        close_(w, '}');
    }
}

static void path_rewrite(struct jw *w, const struct ig_cfg_path_rewrite *p)
{
    if (p->kind == IG_CFG_PATH_UNSET)
        return;
    key(w, "path");
    open_(w, '{');
    kstr(w, p->kind == IG_CFG_PATH_FULL ? "full" : "prefix", p->value);
    close_(w, '}');
}

static void route_policies(struct jw *w, const struct ig_cfg_route_policies *p)
{
    key(w, "policies");
    open_(w, '{');
    header_mod(w, "requestHeaderModifier", p->request_headers);
    header_mod(w, "responseHeaderModifier", p->response_headers);
    if (p->url_rewrite) {
        key(w, "urlRewrite");
        open_(w, '{');
        authority(w, &p->url_rewrite->authority);
        path_rewrite(w, &p->url_rewrite->path);
        close_(w, '}');
    }
    if (p->redirect) {
        key(w, "requestRedirect");
        open_(w, '{');
        kstr(w, "scheme", p->redirect->scheme);
        authority(w, &p->redirect->authority);
        path_rewrite(w, &p->redirect->path);
        key(w, "status");
        num(w, p->redirect->status);
        close_(w, '}');
    }
    if (p->direct_response) {
        key(w, "directResponse");
        open_(w, '{');
        key(w, "body");
        str(w, p->direct_response->body);
        key(w, "status");
        num(w, p->direct_response->status);
        close_(w, '}');
    }
    if (p->timeout) {
        key(w, "timeout");
        open_(w, '{');
        if (p->timeout->request_ns) {
            key(w, "requestTimeout");
            dur(w, p->timeout->request_ns);
        }
        if (p->timeout->backend_request_ns) {
            key(w, "backendRequestTimeout");
            dur(w, p->timeout->backend_request_ns);
        }
        close_(w, '}');
    }
    if (p->retry) {
        key(w, "retry");
        open_(w, '{');
        key(w, "attempts");
        num(w, p->retry->attempts);
        if (p->retry->backoff_ns) {
            key(w, "backoff");
            dur(w, p->retry->backoff_ns);
        }
        key(w, "codes");
        open_(w, '[');
        for (size_t i = 0; i < p->retry->n_codes; i++)
            num(w, p->retry->codes[i]);
        close_(w, ']');
        close_(w, '}');
    }
    if (p->n_rate_limits) {
        key(w, "localRateLimit");
        open_(w, '[');
        for (size_t i = 0; i < p->n_rate_limits; i++) {
            const struct ig_cfg_rate_limit *rl = &p->rate_limits[i];
            open_(w, '{');
            key(w, "maxTokens");
            num(w, rl->max_tokens);
            key(w, "tokensPerFill");
            num(w, rl->tokens_per_fill);
            key(w, "fillInterval");
            dur(w, rl->fill_interval_ns);
            key(w, "type");
            cstr(w, rl->type == IG_CFG_RATE_LIMIT_TOKENS ? "tokens" : "requests");
            close_(w, '}');
        }
        close_(w, ']');
    }
    close_(w, '}');
}

static void target(struct jw *w, const struct ig_cfg_target *t)
{
    switch (t->kind) {
    case IG_CFG_TARGET_HOST:
        key(w, "host");
        str(w, t->host.text);
        break;
    case IG_CFG_TARGET_SERVICE:
        key(w, "service");
        open_(w, '{');
        if (t->service)
            kstr(w, "name", t->service->key);
        key(w, "port");
        num(w, t->port);
        close_(w, '}');
        break;
    default:
        key(w, "backend");
        if (t->backend)
            str(w, t->backend->name);
        else
            cstr(w, "");
        break;
    }
}

static void backend_policies(struct jw *w, const struct ig_cfg_backend_policies *p, int redact)
{
    static const char *const versions[] = {"auto", "HTTP/1.1", "HTTP/2"};
    key(w, "policies");
    open_(w, '{');
    if (p->http_version || p->request_timeout_ns) {
        key(w, "http");
        open_(w, '{');
        key(w, "version");
        cstr(w, versions[p->http_version]);
        if (p->request_timeout_ns) {
            key(w, "requestTimeout");
            dur(w, p->request_timeout_ns);
        }
        close_(w, '}');
    }
    if (p->connect_timeout_ns) {
        key(w, "tcp");
        open_(w, '{');
        key(w, "connectTimeout");
        dur(w, p->connect_timeout_ns);
        close_(w, '}');
    }
    if (p->tls) {
        key(w, "backendTLS");
        open_(w, '{');
        kstr(w, "root", p->tls->root.path);
        key(w, "insecure");
        boolean(w, p->tls->insecure);
        kstr(w, "hostname", p->tls->hostname);
        kstr(w, "cert", p->tls->cert.path);
        if (p->tls->key.path.len) {
            key(w, "key");
            if (redact)
                cstr(w, "<redacted>");
            else
                str(w, p->tls->key.path);
        }
        if (p->tls->insecure_host) {
            key(w, "insecureHost");
            boolean(w, 1);
        }
        if (p->tls->n_alpn)
            str_list(w, "alpn", p->tls->alpn, p->tls->n_alpn);
        if (p->tls->n_subject_alt_names)
            str_list(w, "subjectAltNames", p->tls->subject_alt_names, p->tls->n_subject_alt_names);
        if (p->tls->n_key_exchange_groups)
            str_list(w, "keyExchangeGroups", p->tls->key_exchange_groups, p->tls->n_key_exchange_groups);
        close_(w, '}');
    }
    if (p->inference) {
        key(w, "inferenceRouting");
        open_(w, '{');
        key(w, "endpointPicker");
        open_(w, '{');
        target(w, &p->inference->picker);
        close_(w, '}');
        key(w, "destinationMode");
        cstr(w, p->inference->destination_mode == IG_CFG_DEST_PASSTHROUGH ? "passthrough" : "validated");
        key(w, "failureMode");
        cstr(w, p->inference->failure_mode == IG_CFG_FAIL_OPEN ? "failOpen" : "failClosed");
        static const char *const resp_modes[] = {"full", "observe", "headers"};
        key(w, "responseMode");
        cstr(w, resp_modes[p->inference->response_mode]);
        close_(w, '}');
    }
    header_mod(w, "requestHeaderModifier", p->request_headers);
    header_mod(w, "responseHeaderModifier", p->response_headers);
    close_(w, '}');
}

static void endpoints(struct jw *w, const struct ig_cfg_service_port *p)
{
    key(w, "endpoints");
    open_(w, '[');
    for (size_t i = 0; p != NULL && i < p->n_endpoints; i++) {
        open_(w, '{');
        key(w, "address");
        str(w, p->endpoints[i].addr.text);
        key(w, "healthy");
        boolean(w, p->endpoints[i].healthy);
        close_(w, '}');
    }
    close_(w, ']');
}

static void route(struct jw *w, const struct ig_cfg_route *r, int redact)
{
    open_(w, '{');
    kstr(w, "name", r->name);
    kstr(w, "namespace", r->ns);
    kstr(w, "ruleName", r->rule_name);
    if (r->n_hostnames)
        str_list(w, "hostnames", r->hostnames, r->n_hostnames);
    key(w, "matches");
    open_(w, '[');
    for (size_t i = 0; i < r->n_matches; i++) {
        const struct ig_cfg_route_match *m = &r->matches[i];
        open_(w, '{');
        str_match(w, "path", &m->path);
        kstr(w, "method", m->method);
        kv_matches(w, "headers", m->headers, m->n_headers);
        kv_matches(w, "query", m->query, m->n_query);
        close_(w, '}');
    }
    close_(w, ']');
    route_policies(w, &r->policies);
    key(w, "backends");
    open_(w, '[');
    for (size_t i = 0; i < r->n_backends; i++) {
        const struct ig_cfg_route_backend *b = &r->backends[i];
        open_(w, '{');
        target(w, &b->target);
        key(w, "weight");
        num(w, b->weight);
        if (b->target.kind == IG_CFG_TARGET_SERVICE)
            endpoints(w, b->target.service_port);
        backend_policies(w, &b->policies, redact);
        close_(w, '}');
    }
    close_(w, ']');
    close_(w, '}');
}

static void listener(struct jw *w, const struct ig_cfg_listener *l, int redact)
{
    static const char *const tls_versions[] = {"", "TLS_V1_2", "TLS_V1_3"};
    open_(w, '{');
    kstr(w, "name", l->name);
    kstr(w, "namespace", l->ns);
    kstr(w, "hostname", l->hostname);
    key(w, "protocol");
    cstr(w, l->protocol == IG_CFG_PROTO_HTTPS ? "HTTPS" : "HTTP");
    if (l->tls) {
        key(w, "tls");
        open_(w, '{');
        kstr(w, "cert", l->tls->cert.path);
        if (redact) {
            key(w, "key");
            cstr(w, "<redacted>");
        } else {
            kstr(w, "key", l->tls->key.path);
        }
        kstr(w, "root", l->tls->root.path);
        if (l->tls->min_version) {
            key(w, "minTLSVersion");
            cstr(w, tls_versions[l->tls->min_version]);
        }
        if (l->tls->max_version) {
            key(w, "maxTLSVersion");
            cstr(w, tls_versions[l->tls->max_version]);
        }
        close_(w, '}');
    }
    key(w, "routes");
    open_(w, '[');
    for (size_t i = 0; i < l->n_routes; i++)
        route(w, &l->routes[i], redact);
    close_(w, ']');
    close_(w, '}');
}

static void service(struct jw *w, const struct ig_cfg_service *s)
{
    static const char *const app[] = {"", "Http11", "Http2", "Grpc", "Tls", "Tcp"};
    open_(w, '{');
    kstr(w, "name", s->name);
    kstr(w, "namespace", s->ns);
    kstr(w, "hostname", s->hostname);
    str_list(w, "vips", s->vips, s->n_vips);
    key(w, "ports");
    open_(w, '{');
    for (size_t i = 0; i < s->n_ports; i++) {
        char b[8];
        snprintf(b, sizeof(b), "%u", s->ports[i].port);
        key(w, b);
        num(w, s->ports[i].target_port);
    }
    close_(w, '}');
    key(w, "appProtocols");
    open_(w, '{');
    for (size_t i = 0; i < s->n_ports; i++) {
        char b[8];
        if (s->ports[i].app_protocol == IG_CFG_APP_AUTO)
            continue;
        snprintf(b, sizeof(b), "%u", s->ports[i].port);
        key(w, b);
        cstr(w, app[s->ports[i].app_protocol]);
    }
    close_(w, '}');
    close_(w, '}');
}

int ig_config_dump_json(const struct ig_config *cfg, ig_buf_t *out, int redact)
{
    struct jw w;
    memset(&w, 0, sizeof(w));
    w.b = out;
    const struct ig_cfg_process *p = &cfg->process;

    open_(&w, '{');
    key(&w, "config");
    open_(&w, '{');
    kstr(&w, "adminAddr", p->admin.hp.text);
    kstr(&w, "statsAddr", p->stats.hp.text);
    kstr(&w, "readinessAddr", p->readiness.hp.text);
    key(&w, "workerThreads");
    num(&w, p->worker_threads);
    key(&w, "logging");
    open_(&w, '{');
    key(&w, "level");
    cstr(&w, ig_log_level_name(p->log_level));
    key(&w, "format");
    cstr(&w, p->log_format == IG_LOG_JSON ? "json" : "text");
    close_(&w, '}');
    close_(&w, '}');

    key(&w, "binds");
    open_(&w, '[');
    for (size_t i = 0; i < cfg->n_binds; i++) {
        open_(&w, '{');
        key(&w, "port");
        num(&w, cfg->binds[i].port);
        key(&w, "listeners");
        open_(&w, '[');
        for (size_t j = 0; j < cfg->binds[i].n_listeners; j++)
            listener(&w, &cfg->binds[i].listeners[j], redact);
        close_(&w, ']');
        close_(&w, '}');
    }
    close_(&w, ']');

    key(&w, "frontendPolicies");
    open_(&w, '{');
    key(&w, "http");
    open_(&w, '{');
    key(&w, "maxBufferSize");
    num(&w, cfg->frontend.max_buffer_size);
    key(&w, "http1MaxHeaders");
    num(&w, cfg->frontend.http1_max_headers);
    key(&w, "http1IdleTimeout");
    dur(&w, cfg->frontend.http1_idle_timeout_ns);
    close_(&w, '}');
    if (cfg->frontend.n_access_log_remove) {
        key(&w, "accessLog");
        open_(&w, '{');
        str_list(&w, "remove", cfg->frontend.access_log_remove, cfg->frontend.n_access_log_remove);
        close_(&w, '}');
    }
    close_(&w, '}');

    key(&w, "services");
    open_(&w, '[');
    for (size_t i = 0; i < cfg->n_services; i++)
        service(&w, &cfg->services[i]);
    close_(&w, ']');

    key(&w, "workloads");
    open_(&w, '[');
    for (size_t i = 0; i < cfg->n_workloads; i++) {
        const struct ig_cfg_workload *wl = &cfg->workloads[i];
        open_(&w, '{');
        kstr(&w, "name", wl->name);
        kstr(&w, "namespace", wl->ns);
        kstr(&w, "uid", wl->uid);
        str_list(&w, "workloadIps", wl->ips, wl->n_ips);
        key(&w, "status");
        cstr(&w, wl->healthy ? "Healthy" : "Unhealthy");
        key(&w, "capacity");
        num(&w, wl->capacity);
        close_(&w, '}');
    }
    close_(&w, ']');

    key(&w, "backends");
    open_(&w, '[');
    for (size_t i = 0; i < cfg->n_backends; i++) {
        open_(&w, '{');
        kstr(&w, "name", cfg->backends[i].name);
        key(&w, "host");
        str(&w, cfg->backends[i].host.text);
        backend_policies(&w, &cfg->backends[i].policies, redact);
        close_(&w, '}');
    }
    close_(&w, ']');
    close_(&w, '}');
    return w.rc;
}
