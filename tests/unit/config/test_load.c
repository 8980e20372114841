/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading valid configurations: the seed example exactly as written, agentgateway's canonical
 * standalone-EPP file, its short README variant, the JSON form, the Helm chart shape, a file using
 * every implemented key, environment overrides, the JSON dump (with redaction) and the reference
 * count. Fixtures live in tests/unit/config/data/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <pthread.h>

#include <cmocka.h>
#include <jansson.h>

#include "ig/config.h"

static char data_dir[1024];

static const char *data(const char *name)
{
    static char path[2048];
    snprintf(path, sizeof(path), "%s/%s", data_dir, name);
    return path;
}

static struct ig_config *load_ok(const char *name)
{
    char err[2048];
    struct ig_config *cfg = NULL;
    int rc = ig_config_load_file(data(name), &cfg, err, sizeof(err));
    if (rc != 0)
        fail_msg("%s: rc %d: %s", name, rc, err);
    assert_non_null(cfg);
    return cfg;
}

static struct ig_config *load_text_ok(const char *text)
{
    char err[2048];
    struct ig_config *cfg = NULL;
    int rc = ig_config_load_string("t.yaml", text, strlen(text), &cfg, err, sizeof(err));
    if (rc != 0)
        fail_msg("rc %d: %s", rc, err);
    return cfg;
}

static int iov_is(ig_iov_t v, const char *s)
{
    return v.len == strlen(s) && memcmp(v.base, s, v.len) == 0 && v.base[v.len] == '\0';
}

/* The seed example and the canonical file describe the same standalone-EPP route. */
static void check_standalone(const struct ig_config *cfg, const char *prefix)
{
    assert_int_equal(cfg->n_binds, 1);
    const struct ig_cfg_bind *b = &cfg->binds[0];
    assert_int_equal(b->port, 8081);
    assert_true(iov_is(b->key, "bind/8081"));
    assert_ptr_equal(ig_config_find_bind(cfg, 8081), b);
    assert_null(ig_config_find_bind(cfg, 8080));
    assert_int_equal(b->n_listeners, 1);
    const struct ig_cfg_listener *l = &b->listeners[0];
    assert_int_equal(l->protocol, IG_CFG_PROTO_HTTP);
    assert_null(l->tls);
    assert_int_equal(l->n_routes, 1);
    const struct ig_cfg_route *r = &l->routes[0];
    assert_int_equal(r->n_matches, 1);
    assert_int_equal(r->matches[0].path.kind, IG_CFG_MATCH_PREFIX);
    assert_true(iov_is(r->matches[0].path.value, prefix));
    assert_int_equal(r->n_backends, 1);
    const struct ig_cfg_route_backend *rb = &r->backends[0];
    assert_int_equal(rb->weight, 1);
    assert_int_equal(r->total_weight, 1);
    assert_int_equal(rb->target.kind, IG_CFG_TARGET_SERVICE);
    assert_non_null(rb->target.service);
    assert_true(iov_is(rb->target.service->key, "default/my-model"));
    assert_true(iov_is(rb->target.service->name, "my-model"));
    assert_int_equal(rb->target.port, 8000);
    assert_non_null(rb->target.service_port);
    assert_int_equal(rb->target.service_port->target_port, 8000);
    assert_int_equal(rb->target.service_port->n_endpoints, 0);
    const struct ig_cfg_inference_routing *ir = rb->policies.inference;
    assert_non_null(ir);
    assert_int_equal(ir->picker.kind, IG_CFG_TARGET_HOST);
    assert_true(iov_is(ir->picker.host.text, "127.0.0.1:9002"));
    assert_true(iov_is(ir->picker.host.host, "127.0.0.1"));
    assert_int_equal(ir->picker.host.port, 9002);
    assert_int_equal(ir->picker.host.family, AF_INET);
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ir->picker.host.sa;
    assert_int_equal(ntohs(sin->sin_port), 9002);
    assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);
    assert_int_equal(ir->destination_mode, IG_CFG_DEST_PASSTHROUGH);
    assert_int_equal(ir->failure_mode, IG_CFG_FAIL_CLOSED);
    assert_int_equal(cfg->n_services, 1);
    assert_int_equal(cfg->services[0].n_vips, 0);
    assert_int_equal(cfg->n_workloads, 0);
}

static void check_defaults(const struct ig_config *cfg)
{
    const struct ig_cfg_process *p = &cfg->process;
    assert_int_equal(p->admin.kind, IG_CFG_ADDR_LOCALHOST);
    assert_int_equal(p->admin.hp.port, 15000);
    assert_int_equal(p->stats.kind, IG_CFG_ADDR_IP);
    assert_true(iov_is(p->stats.hp.text, "0.0.0.0:15020"));
    assert_int_equal(p->readiness.hp.port, 15021);
    assert_true(p->worker_threads >= 1);
    assert_int_equal(p->log_level, IG_LOG_INFO);
    assert_int_equal(p->log_format, IG_LOG_TEXT);
    assert_int_equal(cfg->frontend.max_buffer_size, 2097152);
    assert_int_equal(cfg->frontend.http1_max_headers, 100);
    assert_int_equal(cfg->frontend.http1_idle_timeout_ns, 600ULL * 1000000000ULL);
}

static void test_seed_example(void **state)
{
    (void)state;
    struct ig_config *cfg = load_ok("seed.yaml");
    check_standalone(cfg, "/");
    check_defaults(cfg);
    /* Short variant defaults: listener and route names, protocol HTTP, matches pathPrefix "/". */
    assert_true(iov_is(cfg->binds[0].listeners[0].name, "listener0"));
    assert_true(iov_is(cfg->binds[0].listeners[0].routes[0].name, "route0"));
    assert_int_equal(cfg->binds[0].listeners[0].hostname.len, 0);
    ig_config_unref(cfg);
}

static void test_canonical(void **state)
{
    (void)state;
    struct ig_config *cfg = load_ok("canonical.yaml");
    check_standalone(cfg, "/v1/chat/completions");
    check_defaults(cfg);
    assert_true(iov_is(cfg->binds[0].listeners[0].name, "default"));
    assert_true(iov_is(cfg->binds[0].listeners[0].routes[0].name, "standalone-epp"));
    ig_config_unref(cfg);
}

static void test_json_form(void **state)
{
    (void)state;
    struct ig_config *cfg = load_ok("canonical.json");
    check_standalone(cfg, "/v1/chat/completions");
    ig_config_unref(cfg);
    /* Tab-indented JSON, as JSON encoders write it. */
    cfg = load_text_ok("{\n\t\"binds\": [\n\t\t{\"port\": 8081, \"listeners\": []}\n\t],\n\t\"config\": "
                       "{\"workerThreads\": 2}\n}\n");
    assert_int_equal(cfg->binds[0].port, 8081);
    assert_int_equal(cfg->process.worker_threads, 2);
    ig_config_unref(cfg);
}

static void test_helm_shape(void **state)
{
    (void)state;
    struct ig_config *cfg = load_ok("helm.yaml");
    assert_true(iov_is(cfg->binds[0].listeners[0].routes[0].backends[0].target.service->key, "llm/vllm-llama3"));
    assert_true(iov_is(cfg->process.stats.hp.text, "0.0.0.0:15020"));
    ig_config_unref(cfg);
}

static void test_full(void **state)
{
    (void)state;
    struct ig_config *cfg = load_ok("full.yaml");
    const struct ig_cfg_process *p = &cfg->process;
    assert_int_equal(p->admin.kind, IG_CFG_ADDR_IP);
    assert_int_equal(p->admin.hp.port, 16000);
    assert_int_equal(p->stats.hp.family, AF_INET6);
    assert_int_equal(p->readiness.kind, IG_CFG_ADDR_OFF);
    assert_int_equal(p->worker_threads, 3);
    assert_int_equal(p->log_level, IG_LOG_DEBUG);
    assert_int_equal(p->log_format, IG_LOG_JSON);
    assert_int_equal(cfg->frontend.max_buffer_size, 20971520);
    assert_int_equal(cfg->frontend.http1_max_headers, 64);
    assert_int_equal(cfg->frontend.http1_idle_timeout_ns, 90ULL * 1000000000ULL);
    assert_int_equal(cfg->frontend.n_access_log_remove, 2);

    /* services, workloads -> endpoints */
    const struct ig_cfg_service *svc = ig_config_find_service(cfg, IG_STRLIT("llm/model-a.llm.svc.cluster.local"));
    assert_non_null(svc);
    assert_int_equal(svc->n_ports, 2);
    assert_int_equal(svc->ports[0].port, 8000);
    assert_int_equal(svc->ports[0].target_port, 8001);
    assert_int_equal(svc->ports[0].app_protocol, IG_CFG_APP_HTTP2);
    assert_int_equal(svc->ports[1].app_protocol, IG_CFG_APP_AUTO);
    assert_int_equal(svc->ports[0].n_endpoints, 3);
    assert_true(iov_is(svc->ports[0].endpoints[0].addr.text, "10.0.0.1:8001"));
    assert_true(svc->ports[0].endpoints[0].healthy);
    assert_true(iov_is(svc->ports[0].endpoints[1].addr.text, "10.0.0.2:18001"));
    assert_false(svc->ports[0].endpoints[1].healthy);
    assert_int_equal(svc->ports[0].endpoints[1].capacity, 4);
    assert_true(iov_is(svc->ports[0].endpoints[2].addr.text, "[fd00::2]:18001"));
    assert_int_equal(svc->ports[0].endpoints[2].addr.family, AF_INET6);
    assert_int_equal(svc->ports[1].n_endpoints, 2);
    assert_null(ig_config_find_service(cfg, IG_STRLIT("llm/nope")));

    /* named backend */
    assert_int_equal(cfg->n_backends, 1);
    const struct ig_cfg_backend *be = &cfg->backends[0];
    assert_true(iov_is(be->host.host, "fallback.internal"));
    assert_int_equal(be->host.family, AF_UNSPEC);
    assert_int_equal(be->policies.http_version, IG_CFG_HTTP_1);
    assert_int_equal(be->policies.request_timeout_ns, 30ULL * 1000000000ULL);
    assert_int_equal(be->policies.connect_timeout_ns, 2ULL * 1000000000ULL);
    assert_non_null(be->policies.tls);
    assert_true(be->policies.tls->insecure);
    assert_true(iov_is(be->policies.tls->hostname, "fallback.example.com"));

    /* listener and routes */
    const struct ig_cfg_listener *l = &cfg->binds[0].listeners[0];
    assert_true(iov_is(l->hostname, "*.example.com"));
    assert_true(iov_is(l->ns, "gw"));
    assert_int_equal(l->n_routes, 3);
    const struct ig_cfg_route *r = &l->routes[0];
    assert_true(iov_is(r->ns, "llm"));
    assert_true(iov_is(r->rule_name, "rule0"));
    assert_int_equal(r->n_hostnames, 2);
    assert_int_equal(r->n_matches, 2);
    const struct ig_cfg_route_match *m = &r->matches[0];
    assert_int_equal(m->path.kind, IG_CFG_MATCH_EXACT);
    assert_true(iov_is(m->method, "POST"));
    assert_int_equal(m->n_headers, 1);
    assert_true(iov_is(m->headers[0].name, "x-model")); /* lower-cased */
    assert_int_equal(m->headers[0].value.kind, IG_CFG_MATCH_REGEX);
    assert_non_null(m->headers[0].value.re);
    assert_int_equal(m->n_query, 1);
    assert_int_equal(r->matches[1].path.kind, IG_CFG_MATCH_REGEX);

    const struct ig_cfg_route_policies *rp = &r->policies;
    assert_non_null(rp->request_headers);
    assert_int_equal(rp->request_headers->n_add, 1);
    assert_true(iov_is(rp->request_headers->add[0].name, "x-gateway"));
    assert_true(iov_is(rp->request_headers->add[0].value, "infergate"));
    assert_int_equal(rp->request_headers->n_set, 1);
    assert_int_equal(rp->request_headers->n_remove, 1);
    assert_non_null(rp->response_headers);
    assert_int_equal(rp->url_rewrite->authority.kind, IG_CFG_AUTHORITY_FULL);
    assert_true(iov_is(rp->url_rewrite->authority.value, "model-a:8001"));
    assert_int_equal(rp->url_rewrite->path.kind, IG_CFG_PATH_PREFIX);
    assert_int_equal(rp->timeout->request_ns, 120ULL * 1000000000ULL);
    assert_int_equal(rp->timeout->backend_request_ns, 250ULL * 1000000ULL);
    assert_int_equal(rp->retry->attempts, 3);
    assert_int_equal(rp->retry->backoff_ns, 100ULL * 1000000ULL);
    assert_int_equal(rp->retry->n_codes, 2);
    assert_int_equal(rp->retry->codes[1], 503);
    assert_int_equal(rp->n_rate_limits, 2);
    assert_int_equal(rp->rate_limits[0].type, IG_CFG_RATE_LIMIT_REQUESTS);
    assert_int_equal(rp->rate_limits[1].type, IG_CFG_RATE_LIMIT_TOKENS);
    assert_int_equal(rp->rate_limits[1].fill_interval_ns, 3600ULL * 1000000000ULL);

    assert_int_equal(r->n_backends, 3);
    assert_int_equal(r->total_weight, 4);
    const struct ig_cfg_inference_routing *ir = r->backends[0].policies.inference;
    assert_int_equal(ir->picker.kind, IG_CFG_TARGET_SERVICE);
    assert_true(iov_is(ir->picker.service->key, "llm/epp"));
    assert_int_equal(ir->picker.service_port->port, 9002);
    assert_int_equal(ir->destination_mode, IG_CFG_DEST_VALIDATED);
    assert_int_equal(ir->failure_mode, IG_CFG_FAIL_OPEN);
    assert_int_equal(r->backends[0].policies.http_version, IG_CFG_HTTP_2);
    assert_int_equal(r->backends[1].target.kind, IG_CFG_TARGET_BACKEND);
    assert_ptr_equal(r->backends[1].target.backend, be);
    assert_int_equal(r->backends[2].weight, 0);

    const struct ig_cfg_redirect *rd = l->routes[1].policies.redirect;
    assert_non_null(rd);
    assert_true(iov_is(rd->scheme, "https"));
    assert_int_equal(rd->authority.kind, IG_CFG_AUTHORITY_HOST);
    assert_int_equal(rd->path.kind, IG_CFG_PATH_FULL);
    assert_int_equal(rd->status, 301);
    const struct ig_cfg_direct_response *dr = l->routes[2].policies.direct_response;
    assert_true(iov_is(dr->body, "ok"));
    assert_int_equal(dr->status, 200);

    const struct ig_cfg_listener *l2 = &cfg->binds[0].listeners[1];
    assert_true(iov_is(l2->routes[0].backends[0].target.host.host, "::1"));
    assert_int_equal(l2->routes[0].backends[0].target.host.family, AF_INET6);
    ig_config_unref(cfg);
}

static void test_policy_variants(void **state)
{
    (void)state;
    struct ig_config *cfg =
        load_text_ok("binds:\n- port: 80\n  listeners:\n  - routes:\n"
                     "    - policies: {urlRewrite: {authority: auto, path: {full: /x}}}\n"
                     "    - policies: {urlRewrite: {authority: none}}\n"
                     "    - policies: {urlRewrite: {authority: {port: 8443}}}\n"
                     "    - policies: {requestRedirect: {path: {prefix: /new}}, retry: {codes: [503]}}\n"
                     "    - policies: {directResponse: {status: 404}}\n");
    const struct ig_cfg_route *r = cfg->binds[0].listeners[0].routes;
    assert_int_equal(r[0].policies.url_rewrite->authority.kind, IG_CFG_AUTHORITY_AUTO);
    assert_int_equal(r[0].policies.url_rewrite->path.kind, IG_CFG_PATH_FULL);
    assert_int_equal(r[1].policies.url_rewrite->authority.kind, IG_CFG_AUTHORITY_NONE);
    assert_int_equal(r[1].policies.url_rewrite->path.kind, IG_CFG_PATH_UNSET);
    assert_int_equal(r[2].policies.url_rewrite->authority.kind, IG_CFG_AUTHORITY_PORT);
    assert_int_equal(r[2].policies.url_rewrite->authority.port, 8443);
    assert_int_equal(r[3].policies.redirect->status, 302); /* default */
    assert_int_equal(r[3].policies.redirect->scheme.len, 0);
    assert_int_equal(r[3].policies.redirect->path.kind, IG_CFG_PATH_PREFIX);
    assert_int_equal(r[3].policies.retry->attempts, 1); /* default */
    assert_int_equal(r[3].policies.retry->backoff_ns, 0);
    assert_int_equal(r[4].policies.direct_response->status, 404);
    assert_int_equal(r[4].policies.direct_response->body.len, 0);
    assert_null(r[4].policies.timeout);
    assert_null(r[4].policies.request_headers);
    ig_config_unref(cfg);
}

static void test_listener_tls(void **state)
{
    char text[8192], cert[2048], key[2048];
    (void)state;
    snprintf(cert, sizeof(cert), "%s", data("tls/cert.pem"));
    snprintf(key, sizeof(key), "%s", data("tls/key.pem"));
    snprintf(text, sizeof(text),
             "binds:\n- port: 8443\n  listeners:\n  - protocol: HTTPS\n    tls:\n      cert: %s\n      key: %s\n"
             "      minTlsVersion: TLS_V1_2\n      maxTLSVersion: TLS_V1_3\n    routes:\n    - backends:\n"
             "      - host: 127.0.0.1:8000\n",
             cert, key);
    struct ig_config *cfg = load_text_ok(text);
    const struct ig_cfg_listener_tls *tls = cfg->binds[0].listeners[0].tls;
    assert_non_null(tls);
    assert_non_null(strstr(tls->cert.pem.base, "BEGIN CERTIFICATE"));
    assert_non_null(strstr(tls->key.pem.base, "BEGIN PRIVATE KEY"));
    assert_int_equal(tls->root.path.len, 0);
    assert_int_equal(tls->min_version, IG_CFG_TLS_1_2);
    assert_int_equal(tls->max_version, IG_CFG_TLS_1_3);

    ig_buf_t b;
    ig_buf_init(&b, 1 << 20);
    assert_int_equal(ig_config_dump_json(cfg, &b, 1), 0);
    assert_int_equal(ig_buf_append(&b, "", 1), 0);
    assert_non_null(strstr(ig_buf_data(&b), "\"key\":\"<redacted>\""));
    assert_null(strstr(ig_buf_data(&b), "key.pem"));
    assert_null(strstr(ig_buf_data(&b), "PRIVATE KEY"));
    ig_buf_reset(&b);
    assert_int_equal(ig_config_dump_json(cfg, &b, 0), 0);
    assert_int_equal(ig_buf_append(&b, "", 1), 0);
    assert_non_null(strstr(ig_buf_data(&b), "key.pem"));
    assert_null(strstr(ig_buf_data(&b), "PRIVATE KEY"));
    ig_buf_dispose(&b);
    ig_config_unref(cfg);
}

/* /config_dump shows every backendTLS field it accepted, the client key path only unredacted. */
static void test_backend_tls_dump(void **state)
{
    char text[8192], cert[2048], key[2048];
    (void)state;
    snprintf(cert, sizeof(cert), "%s", data("tls/cert.pem"));
    snprintf(key, sizeof(key), "%s", data("tls/key.pem"));
    snprintf(text, sizeof(text),
             "binds:\n- port: 8080\n  listeners:\n  - routes:\n    - backends:\n      - host: 127.0.0.1:8443\n"
             "        policies:\n          backendTLS:\n            cert: %s\n            key: %s\n"
             "            insecureHost: true\n            alpn: [h2, http/1.1]\n"
             "            subjectAltNames: [spiffe://td/ns/a, model.internal]\n"
             "            keyExchangeGroups: [X25519]\n",
             cert, key);
    struct ig_config *cfg = load_text_ok(text);
    ig_buf_t b;
    ig_buf_init(&b, 1 << 20);
    assert_int_equal(ig_config_dump_json(cfg, &b, 1), 0);
    assert_int_equal(ig_buf_append(&b, "", 1), 0);
    const char *s = ig_buf_data(&b);
    assert_non_null(strstr(s, "\"cert\":\""));
    assert_non_null(strstr(s, "\"key\":\"<redacted>\""));
    assert_null(strstr(s, "key.pem"));
    assert_non_null(strstr(s, "\"insecureHost\":true"));
    assert_non_null(strstr(s, "\"alpn\":[\"h2\",\"http/1.1\"]"));
    assert_non_null(strstr(s, "\"subjectAltNames\":[\"spiffe://td/ns/a\",\"model.internal\"]"));
    assert_non_null(strstr(s, "\"keyExchangeGroups\":[\"X25519\"]"));
    ig_buf_dispose(&b);
    ig_buf_init(&b, 1 << 20);
    assert_int_equal(ig_config_dump_json(cfg, &b, 0), 0);
    assert_int_equal(ig_buf_append(&b, "", 1), 0);
    assert_non_null(strstr(ig_buf_data(&b), "key.pem"));
    ig_buf_dispose(&b);
    ig_config_unref(cfg);
}

static void test_dump(void **state)
{
    (void)state;
    struct ig_config *cfg = load_ok("canonical.yaml");
    ig_buf_t b;
    ig_buf_init(&b, 1 << 20);
    assert_int_equal(ig_config_dump_json(cfg, &b, 1), 0);
    assert_int_equal(ig_buf_append(&b, "", 1), 0);
    const char *s = ig_buf_data(&b);
    assert_non_null(strstr(s, "\"binds\":[{\"port\":8081,\"listeners\":[{\"name\":\"default\",\"protocol\":\"HTTP\""));
    assert_non_null(strstr(s, "\"endpointPicker\":{\"host\":\"127.0.0.1:9002\"},\"destinationMode\":\"passthrough\""));
    assert_non_null(strstr(s, "\"http1IdleTimeout\":\"10m0s\""));
    assert_non_null(strstr(s, "\"adminAddr\":\"localhost:15000\""));
    ig_buf_dispose(&b);

    /* A buffer too small reports IG_ETOOBIG. */
    ig_buf_init(&b, 64);
    assert_int_equal(ig_config_dump_json(cfg, &b, 1), IG_ETOOBIG);
    ig_buf_dispose(&b);
    ig_config_unref(cfg);
}

static void test_dump_full_is_json(void **state)
{
    (void)state;
    struct ig_config *cfg = load_ok("full.yaml");
    ig_buf_t b;
    json_error_t jerr;
    ig_buf_init(&b, 1 << 20);
    assert_int_equal(ig_config_dump_json(cfg, &b, 1), 0);
    json_t *root = json_loadb(ig_buf_data(&b), b.len, 0, &jerr);
    if (root == NULL)
        fail_msg("dump is not JSON: %s at %d", jerr.text, jerr.position);
    json_t *route = json_array_get(
        json_object_get(
            json_array_get(json_object_get(json_array_get(json_object_get(root, "binds"), 0), "listeners"), 0),
            "routes"),
        0);
    assert_string_equal(json_string_value(json_object_get(route, "name")), "chat");
    json_t *be = json_array_get(json_object_get(route, "backends"), 0);
    assert_int_equal(json_integer_value(json_object_get(be, "weight")), 3);
    assert_int_equal(json_array_size(json_object_get(be, "endpoints")), 3);
    json_t *ir = json_object_get(json_object_get(be, "policies"), "inferenceRouting");
    assert_string_equal(json_string_value(json_object_get(ir, "failureMode")), "failOpen");
    json_t *pol = json_object_get(route, "policies");
    assert_string_equal(json_string_value(json_object_get(json_object_get(pol, "timeout"), "backendRequestTimeout")),
                        "250ms");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(pol, "localRateLimit"), 1), "fillInterval")),
        "1h0m0s");
    assert_string_equal(json_string_value(json_object_get(json_object_get(root, "config"), "readinessAddr")), "off");
    json_decref(root);
    ig_buf_dispose(&b);
    ig_config_unref(cfg);
}

static void test_env_overrides(void **state)
{
    (void)state;
    const char *text = "config:\n  adminAddr: 127.0.0.1:1\n  statsAddr: 127.0.0.1:2\n  workerThreads: 7\n";
    struct ig_config *cfg = load_text_ok(text);
    assert_int_equal(cfg->process.admin.hp.port, 1);
    assert_int_equal(cfg->process.worker_threads, 7);
    ig_config_unref(cfg);

    /* The environment wins over the file, the file over the defaults. */
    setenv("ADMIN_ADDR", "0.0.0.0:25000", 1);
    setenv("READINESS_ADDR", "localhost:25021", 1);
    setenv("WORKER_THREADS", "2", 1);
    setenv("STATS_ADDR", "", 1); /* empty: unset */
    cfg = load_text_ok(text);
    assert_true(iov_is(cfg->process.admin.hp.text, "0.0.0.0:25000"));
    assert_int_equal(cfg->process.stats.hp.port, 2);
    assert_int_equal(cfg->process.readiness.kind, IG_CFG_ADDR_LOCALHOST);
    assert_int_equal(cfg->process.readiness.hp.port, 25021);
    assert_int_equal(cfg->process.worker_threads, 2);
    ig_config_unref(cfg);

    setenv("WORKER_THREADS", "100%", 1);
    cfg = load_text_ok("{}");
    assert_true(cfg->process.worker_threads >= 1);
    ig_config_unref(cfg);

    char err[512];
    setenv("ADMIN_ADDR", "nowhere", 1);
    assert_int_equal(ig_config_load_string("e.yaml", "{}", 2, &cfg, err, sizeof(err)), IG_EINVAL);
    assert_null(cfg);
    assert_string_equal(err, "e.yaml: invalid env var ADMIN_ADDR=nowhere (expected host:port)");
    unsetenv("ADMIN_ADDR");
    setenv("WORKER_THREADS", "0", 1);
    assert_int_equal(ig_config_load_string("e.yaml", "{}", 2, &cfg, err, sizeof(err)), IG_EINVAL);
    assert_non_null(strstr(err, "e.yaml: invalid env var WORKER_THREADS=0 ("));
    unsetenv("WORKER_THREADS");
    unsetenv("READINESS_ADDR");
    unsetenv("STATS_ADDR");
}

static void test_worker_threads_forms(void **state)
{
    (void)state;
    struct ig_config *cfg = load_text_ok("config: {workerThreads: \"4\"}");
    assert_int_equal(cfg->process.worker_threads, 4);
    ig_config_unref(cfg);
    cfg = load_text_ok("config: {workerThreads: \"1%\"}");
    assert_int_equal(cfg->process.worker_threads, 1); /* rounds up, at least one */
    ig_config_unref(cfg);
}

static void test_empty_and_refcount(void **state)
{
    (void)state;
    struct ig_config *cfg = load_text_ok("");
    assert_int_equal(cfg->n_binds, 0);
    check_defaults(cfg);
    assert_ptr_equal(ig_config_ref(cfg), cfg);
    ig_config_unref(cfg);
    assert_int_equal(cfg->n_binds, 0); /* still alive: one reference left */
    ig_config_unref(cfg);
    ig_config_unref(NULL);

    cfg = load_text_ok("# only a comment\n");
    ig_config_unref(cfg);
    cfg = load_text_ok("binds: []\nservices: ~\n");
    ig_config_unref(cfg);
}

static void test_aliases(void **state)
{
    (void)state;
    /* Anchors and aliases work (they are shared nodes in the tree). */
    struct ig_config *cfg = load_text_ok("binds:\n- port: 1\n  listeners: &ls\n  - routes:\n    - backends:\n"
                                         "      - host: 127.0.0.1:80\n- port: 2\n  listeners: *ls\n");
    assert_int_equal(cfg->n_binds, 2);
    assert_int_equal(cfg->binds[1].listeners[0].routes[0].backends[0].target.host.port, 80);
    assert_ptr_equal(cfg->binds[1].listeners[0].bind, &cfg->binds[1]);
    ig_config_unref(cfg);
}

static void *ref_worker(void *arg)
{
    struct ig_config *cfg = arg;
    for (int i = 0; i < 20000; i++) {
        struct ig_config *mine = ig_config_ref(cfg);
        assert_int_equal(mine->binds[0].port, 8081);
        ig_config_unref(mine);
    }
    ig_config_unref(cfg); /* the reference the main thread took for this worker */
    return NULL;
}

static void test_refcount_threads(void **state)
{
    pthread_t th[4];
    (void)state;
    struct ig_config *cfg = load_ok("seed.yaml");
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, ref_worker, ig_config_ref(cfg)), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(cfg->_refs, 1);
    ig_config_unref(cfg);
}

static void test_missing_file(void **state)
{
    char err[512];
    struct ig_config *cfg = (struct ig_config *)1;
    (void)state;
    assert_true(ig_config_load_file("/nonexistent/x.yaml", &cfg, err, sizeof(err)) < 0);
    assert_null(cfg);
    assert_string_equal(err, "/nonexistent/x.yaml: cannot open: No such file or directory");
    assert_int_equal(ig_config_load_file(data_dir, &cfg, err, sizeof(err)), IG_EINVAL);
    /* A FIFO is refused without blocking in open(). */
    char fifo[64];
    snprintf(fifo, sizeof(fifo), "/tmp/ig_cfg_fifo_%d", (int)getpid());
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(ig_config_load_file(fifo, &cfg, err, sizeof(err)), IG_EINVAL);
    assert_non_null(strstr(err, "not a regular file"));
    unlink(fifo);
}

int main(void)
{
    const char *f = __FILE__;
    const char *slash = strrchr(f, '/');
    snprintf(data_dir, sizeof(data_dir), "%.*s/data", slash ? (int)(slash - f) : 1, slash ? f : ".");
    unsetenv("ADMIN_ADDR");
    unsetenv("STATS_ADDR");
    unsetenv("READINESS_ADDR");
    unsetenv("WORKER_THREADS");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_example),
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_json_form),
        cmocka_unit_test(test_helm_shape),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_listener_tls),
        cmocka_unit_test(test_policy_variants),
        cmocka_unit_test(test_dump),
        cmocka_unit_test(test_dump_full_is_json),
        cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_worker_threads_forms),
        cmocka_unit_test(test_empty_and_refcount),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_refcount_threads),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_backend_tls_dump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
