/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `infergate epp`: the Endpoint Picker as one process on one loop. The flags choose the endpoint
 * source (static list or watched file), the scraper polls the model servers, the scheduler comes
 * from the EndpointPickerConfig (--config-file / --config-text, else the reference default), and
 * three listeners serve: ext_proc on --grpc-port (h2c, or TLS with --secure-serving), the
 * grpc.health.v1 service on --grpc-health-port, and Prometheus text on --metrics-port.
 *
 * SIGTERM or SIGINT drains: readiness turns NOT_SERVING, the listeners close, HTTP/2 connections
 * get GOAWAY and open Process streams finish; after DRAIN_TIMEOUT_MS the process exits anyway.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "epp_int.h"
#include "ig/grpc.h"
#include "ig/loop.h"

#define DRAIN_TIMEOUT_MS 30000u
#define METRICS_PAGE_MAX (64u << 20)

/* Health names the reference answers (cmd/epp/runner/health.go), plus "" and the single-replica one. */
static const char *const ready_services[] = {"", "readiness", "envoy.service.ext_proc.v3.ExternalProcessor",
                                             "inference-extension"};

struct epp_app {
    uv_loop_t loop;
    struct ig_epp_flags f;
    ig_epp_datastore_t *ds;
    struct ig_epp_endpoint_list list;
    ig_epp_file_source_t *fs;
    ig_epp_objectives_source_t *os;
    ig_epp_scraper_t *sc;
    ig_metrics_t *reg;
    ig_epp_metrics_t *em;
    struct ig_epc *epc;
    struct ig_sched *sched;
    ig_epp_server_t *es;
    ig_grpc_server_t *g_ext, *g_health;
    ig_grpc_health_t *health;
    SSL_CTX *ssl;
    ig_http_server_t srv_ext, srv_health, srv_metrics;
    ig_listener_t *l_ext, *l_health, *l_metrics;
    uv_signal_t sigterm, sigint;
    uv_timer_t drain_timer;
    int handles_up;
    int stopping;
    int draining; /* HTTP servers still draining */
    int timed_out;
    ig_buf_t page;
};

static enum ig_log_level level_for(int v)
{
    return v <= 1 ? IG_LOG_WARN : v <= 3 ? IG_LOG_INFO : v == 4 ? IG_LOG_DEBUG : IG_LOG_TRACE;
}

static void forget_endpoint(struct ig_epp_endpoint *ep, void *arg)
{
    ig_sched_forget_endpoint(arg, ep->view.id);
}

/* ---- listeners --------------------------------------------------------------------------------- */

static void accept_ext(ig_listener_t *l, int fd, void *arg)
{
    struct epp_app *a = arg;
    (void)l;
    ig_http_server_accept(&a->srv_ext, &a->loop, fd);
}

static void accept_health(ig_listener_t *l, int fd, void *arg)
{
    struct epp_app *a = arg;
    (void)l;
    ig_http_server_accept(&a->srv_health, &a->loop, fd);
}

static void accept_metrics(ig_listener_t *l, int fd, void *arg)
{
    struct epp_app *a = arg;
    (void)l;
    ig_http_server_accept(&a->srv_metrics, &a->loop, fd);
}

static void on_metrics_request(ig_http_stream_t *s)
{
    struct epp_app *a = s->server->data;
    if (!ig_iov_eq(s->req.path, IG_STRLIT("/metrics")) &&
        !(s->req.path.len > 8 && memcmp(s->req.path.base, "/metrics?", 9) == 0)) {
        ig_http_stream_send(s, 404, "text/plain", "not found\n", 10);
        return;
    }
    ig_buf_reset(&a->page);
    if (ig_metrics_write(a->reg, &a->page) != 0) {
        ig_http_stream_send(s, 500, "text/plain", "metrics page too large\n", 23);
        return;
    }
    ig_http_stream_send(s, 200, IG_PROM_CONTENT_TYPE, ig_buf_data(&a->page), a->page.len);
}

static int listen_on(struct epp_app *a, uint16_t port, ig_accept_cb cb, ig_listener_t **out, uint16_t *bound)
{
    struct sockaddr_storage ss;
    char text[32];
    snprintf(text, sizeof(text), "0.0.0.0:%u", port);
    if (ig_addr_parse(text, &ss) != 0)
        return IG_EINVAL;
    int rc = ig_listener_open(&a->loop, (struct sockaddr *)&ss, cb, a, out);
    if (rc != 0) {
        fprintf(stderr, "epp: cannot listen on port %u: %s\n", port, ig_strerror(rc));
        return rc;
    }
    ig_listener_addr(*out, &ss);
    *bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

/* ---- TLS --------------------------------------------------------------------------------------- */

/* The ext_proc server's TLS context: --cert-path DIR/tls.{crt,key}, else a fresh self-signed pair. */
static SSL_CTX *make_tls(const struct ig_epp_flags *f, char *err, size_t errlen)
{
    char crt[512], key[512];
    if (f->cert_path != NULL && f->cert_path[0] != '\0') {
        snprintf(crt, sizeof(crt), "%s/tls.crt", f->cert_path);
        snprintf(key, sizeof(key), "%s/tls.key", f->cert_path);
        return ig_tls_server_ctx(crt, key, "h2", err, errlen);
    }
    char dir[] = "/tmp/infergate-epp-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        snprintf(err, errlen, "cannot create a directory for the self-signed certificate");
        return NULL;
    }
    snprintf(crt, sizeof(crt), "%s/tls.crt", dir);
    snprintf(key, sizeof(key), "%s/tls.key", dir);
    SSL_CTX *ctx = NULL;
    if (ig_tls_self_signed("infergate-epp", crt, key) != 0)
        snprintf(err, errlen, "cannot generate a self-signed certificate");
    else
        ctx = ig_tls_server_ctx(crt, key, "h2", err, errlen);
    /* The key stays in memory only. */
    unlink(crt);
    unlink(key);
    rmdir(dir);
    return ctx;
}

/* ---- shutdown ---------------------------------------------------------------------------------- */

static void close_handles(struct epp_app *a)
{
    if (!a->handles_up)
        return;
    a->handles_up = 0;
    uv_timer_stop(&a->drain_timer);
    uv_close((uv_handle_t *)&a->drain_timer, NULL);
    /* The drain is done: a second SIGTERM (a supervisor signalling the process group, say) must not
     * turn a clean exit into death by signal once libuv restores the default disposition. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    ig_epp_scraper_destroy(a->sc);
    a->sc = NULL;
    ig_epp_file_source_stop(a->fs);
    a->fs = NULL;
    ig_epp_objectives_source_stop(a->os);
    a->os = NULL;
}

static struct epp_app *g_app; /* the drain callbacks carry no argument but the server */

static void server_drained(ig_http_server_t *srv)
{
    (void)srv;
    if (--g_app->draining == 0) {
        ig_log_info("epp", "drained");
        close_handles(g_app);
    }
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct epp_app *a = t->data;
    ig_log_warn("epp", "drain: %zu Process streams still open after %u ms, stopping", ig_epp_server_streams(a->es),
                DRAIN_TIMEOUT_MS);
    a->timed_out = 1;
    uv_stop(&a->loop);
}

static void stop(struct epp_app *a)
{
    if (a->stopping)
        return;
    a->stopping = 1;
    ig_log_info("epp", "draining");
    for (size_t i = 0; i < sizeof(ready_services) / sizeof(ready_services[0]); i++)
        ig_grpc_health_set(a->health, ready_services[i], IG_GRPC_HEALTH_NOT_SERVING);
    ig_listener_close(a->l_ext);
    ig_listener_close(a->l_health);
    ig_listener_close(a->l_metrics);
    a->l_ext = a->l_health = a->l_metrics = NULL;
    uv_timer_start(&a->drain_timer, on_drain_timeout, DRAIN_TIMEOUT_MS, 0);
    a->draining = 3;
    ig_http_server_drain(&a->srv_ext, server_drained);
    ig_http_server_drain(&a->srv_health, server_drained);
    ig_http_server_drain(&a->srv_metrics, server_drained);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    stop(s->data);
}

/* ---- setup ------------------------------------------------------------------------------------- */

static int load_config(struct epp_app *a, char *err, size_t errlen)
{
    const struct ig_epp_flags *f = &a->f;
    int rc;
    if (f->config_file != NULL)
        rc = ig_epc_load_file(f->config_file, &a->epc, err, errlen);
    else if (f->config_text != NULL)
        rc = ig_epc_load_string("--config-text", f->config_text, strlen(f->config_text), &a->epc, err, errlen);
    else
        rc = ig_epc_load_string("default", ig_epc_default_text, strlen(ig_epc_default_text), &a->epc, err, errlen);
    if (rc != 0)
        return rc;
    return ig_sched_create(a->epc, 0, &a->sched, err, errlen);
}

static int load_endpoints(struct epp_app *a, char *err, size_t errlen)
{
    if (a->f.endpoints != NULL) {
        if (ig_epp_endpoints_parse(a->f.endpoints, &a->list, err, errlen) != 0)
            return IG_EINVAL;
        return ig_epp_datastore_set(a->ds, a->list.v, a->list.n, err, errlen);
    }
    a->fs = ig_epp_file_source_start(&a->loop, a->f.endpoints_file, a->ds, err, errlen);
    return a->fs != NULL ? 0 : IG_EINVAL;
}

int ig_epp_main(int argc, char **argv)
{
    struct epp_app *a = ig_calloc(1, sizeof(*a));
    char err[1024];
    int status = 2;
    uint16_t p_ext = 0, p_health = 0, p_metrics = 0;

    g_app = a;
    ig_epp_endpoint_list_init(&a->list);
    ig_buf_init(&a->page, METRICS_PAGE_MAX);
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: infergate epp (--endpoints ip:port,... | --endpoints-file FILE) [flags]\n\n%s",
               ig_epp_flags_usage());
        status = 0;
        goto out_early;
    }
    if (ig_epp_flags_parse(&a->f, argc - 1, argv + 1, err, sizeof(err)) != 0) {
        fprintf(stderr, "epp: %s\n%s", err, ig_epp_flags_usage());
        goto out_early;
    }
    ig_log_set_level(level_for(a->f.verbosity));
    signal(SIGPIPE, SIG_IGN);
    IG_ASSERT(uv_loop_init(&a->loop) == 0);

    a->ds = ig_epp_datastore_create(IG_EPP_ENGINE_VLLM);
    a->reg = ig_metrics_create();
    if (load_config(a, err, sizeof(err)) != 0) {
        fprintf(stderr, "epp: config: %s\n", err);
        goto out;
    }
    ig_epp_datastore_on_removed(a->ds, forget_endpoint, a->sched);
    if (load_endpoints(a, err, sizeof(err)) != 0) {
        fprintf(stderr, "epp: endpoints: %s\n", err);
        goto out;
    }
    if (a->f.objectives_file != NULL) {
        a->os = ig_epp_objectives_source_start(&a->loop, a->f.objectives_file, err, sizeof(err));
        if (a->os == NULL) {
            fprintf(stderr, "epp: objectives: %s\n", err);
            goto out;
        }
    }
    a->em = ig_epp_metrics_create(a->reg, a->ds, a->f.pool_name, a->f.metrics_staleness_ns);
    struct ig_epp_server_config scfg = {
        .ds = a->ds, .sched = a->sched, .metrics = a->reg, .pool_namespace = a->f.pool_namespace};
    if (a->os != NULL) {
        scfg.objective = ig_epp_objectives_priority_cb;
        scfg.objective_arg = a->os;
        scfg.rewrite = ig_epp_objectives_rewrite_cb;
        scfg.rewrite_arg = a->os;
    }
    a->es = ig_epp_server_create(&scfg);

    struct ig_http_server_config hcfg = {0};
    if (a->f.secure_serving) {
        a->ssl = make_tls(&a->f, err, sizeof(err));
        if (a->ssl == NULL) {
            fprintf(stderr, "epp: tls: %s\n", err);
            goto out;
        }
    }
    /* The gateway holds one long-lived connection and opens a stream per request: no idle close. */
    hcfg.ssl_ctx = a->ssl;
    hcfg.idle_timeout_ms = 3600u * 1000u;
    ig_http_server_init(&a->srv_ext, &hcfg);
    hcfg.ssl_ctx = NULL;
    ig_http_server_init(&a->srv_health, &hcfg);
    struct ig_http_server_config mcfg = {0};
    ig_http_server_init(&a->srv_metrics, &mcfg);
    a->srv_metrics.on_request = on_metrics_request;
    a->srv_metrics.data = a;

    a->health = ig_grpc_health_create();
    ig_grpc_health_set(a->health, "liveness", IG_GRPC_HEALTH_SERVING);
    /* Static and file endpoints are loaded before serving: the pool is synced from the start. */
    for (size_t i = 0; i < sizeof(ready_services) / sizeof(ready_services[0]); i++)
        ig_grpc_health_set(a->health, ready_services[i], IG_GRPC_HEALTH_SERVING);
    a->g_ext = ig_grpc_server_create(NULL);
    a->g_health = ig_grpc_server_create(NULL);
    if (ig_epp_server_register(a->es, a->g_ext) != 0 || ig_grpc_health_register(a->health, a->g_health) != 0 ||
        ig_grpc_health_register(a->health, a->g_ext) != 0) {
        fprintf(stderr, "epp: cannot register the gRPC services\n");
        goto out;
    }
    ig_grpc_server_attach(a->g_ext, &a->srv_ext);
    ig_grpc_server_attach(a->g_health, &a->srv_health);

    if (listen_on(a, a->f.grpc_port, accept_ext, &a->l_ext, &p_ext) != 0 ||
        listen_on(a, a->f.grpc_health_port, accept_health, &a->l_health, &p_health) != 0 ||
        listen_on(a, a->f.metrics_port, accept_metrics, &a->l_metrics, &p_metrics) != 0)
        goto out;

    struct ig_epp_scraper_config sccfg = {.interval_ns = a->f.refresh_metrics_interval_ns,
                                          .staleness_ns = a->f.metrics_staleness_ns};
    a->sc = ig_epp_scraper_create(&a->loop, a->ds, &sccfg, a->em);
    ig_epp_scraper_start(a->sc);

    uv_signal_init(&a->loop, &a->sigterm);
    uv_signal_init(&a->loop, &a->sigint);
    a->sigterm.data = a->sigint.data = a;
    uv_signal_start(&a->sigterm, on_signal, SIGTERM);
    uv_signal_start(&a->sigint, on_signal, SIGINT);
    uv_timer_init(&a->loop, &a->drain_timer);
    a->drain_timer.data = a;
    a->handles_up = 1;

    printf("epp: listening grpc=%u health=%u metrics=%u tls=%s endpoints=%zu\n", p_ext, p_health, p_metrics,
           a->ssl != NULL ? "on" : "off", ig_epp_datastore_count(a->ds));
    fflush(stdout);
    uv_run(&a->loop, UV_RUN_DEFAULT);
    if (a->timed_out) {
        /* Streams are still open and own loop handles: leave their memory to the exit. */
        ig_epp_datastore_off_removed(a->ds, forget_endpoint, a->sched);
        return 0;
    }
    status = 0;

out:
    ig_listener_close(a->l_ext);
    ig_listener_close(a->l_health);
    ig_listener_close(a->l_metrics);
    close_handles(a);
    ig_epp_scraper_destroy(a->sc);
    ig_epp_file_source_stop(a->fs);
    ig_epp_objectives_source_stop(a->os);
    uv_run(&a->loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&a->loop);
    if (a->sched != NULL)
        ig_epp_datastore_off_removed(a->ds, forget_endpoint, a->sched);
    ig_epp_datastore_destroy(a->ds);
    ig_epp_server_destroy(a->es);
    ig_grpc_server_destroy(a->g_ext);
    ig_grpc_server_destroy(a->g_health);
    ig_grpc_health_destroy(a->health);
    ig_epp_metrics_destroy(a->em);
    ig_metrics_destroy(a->reg);
    ig_sched_destroy(a->sched);
    ig_epc_free(a->epc);
    if (a->ssl != NULL)
        SSL_CTX_free(a->ssl);
out_early:
    ig_epp_endpoint_list_dispose(&a->list);
    ig_buf_dispose(&a->page);
    ig_free(a);
    g_app = NULL;
    return status;
}
