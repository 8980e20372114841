/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A gateway worker: one thread and loop with a listener per bind (SO_REUSEPORT: every worker
 * opens its own and the kernel spreads connections), an HTTP server per bind, the upstream
 * origins (one keep-alive client per address, protocol and TLS setting, kept for the worker's
 * life so a reload does not drop warm connections) and the current plan.
 *
 * A plan is a snapshot resolved for this worker: every route backend becomes a list of origin
 * pointers, so the per-request path does no lookup beyond array indexing. Plans are refcounted on
 * the worker (requests hold the plan they started with); a reload posts the new snapshot to every
 * worker, which builds a plan and swaps its pointer, and the old plan (with its snapshot) goes
 * when its last request ends.
 *
 * Drain: on_stop closes the listeners and drains the servers (idle connections close, HTTP/1.1
 * after the current response, HTTP/2 with GOAWAY); when the last connection is gone the worker
 * destroys its upstream clients and request pool so its loop ends, and tells the control thread.
 */
#include <netdb.h>
#include <stdio.h>

#include "gateway_int.h"

static void worker_finish(struct gw_worker *w);

uint64_t gw_rand(struct gw_worker *w)
{
    /* xorshift64*: per worker, no lock; quality is ample for weights and two choices. */
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* ---- origins ----------------------------------------------------------------------------------- */

int gw_tls_opts_init(struct gw_tls_opts *t, const struct ig_cfg_backend_tls *tls, const char *alpn)
{
    memset(t, 0, sizeof(*t));
    t->o.ca_file = tls->root.path.len > 0 ? tls->root.path.base : NULL;
    t->o.insecure = tls->insecure;
    t->o.insecure_host = tls->insecure_host;
    t->o.cert_file = tls->cert.path.len > 0 ? tls->cert.path.base : NULL;
    t->o.key_file = tls->key.path.len > 0 ? tls->key.path.base : NULL;
    t->o.alpn = alpn;
    size_t n = 0;
    for (size_t i = 0; i < tls->n_alpn; i++) {
        int w = snprintf(t->alpn + n, sizeof(t->alpn) - n, "%s%s", i > 0 ? "," : "", tls->alpn[i].base);
        if (w < 0 || (size_t)w >= sizeof(t->alpn) - n)
            return IG_ETOOBIG;
        n += (size_t)w;
        t->o.alpn = t->alpn;
    }
    n = 0;
    for (size_t i = 0; i < tls->n_key_exchange_groups; i++) {
        int w =
            snprintf(t->groups + n, sizeof(t->groups) - n, "%s%s", i > 0 ? ":" : "", tls->key_exchange_groups[i].base);
        if (w < 0 || (size_t)w >= sizeof(t->groups) - n)
            return IG_ETOOBIG;
        n += (size_t)w;
        t->o.groups = t->groups;
    }
    if (tls->n_subject_alt_names > 0) {
        t->sans = ig_calloc(tls->n_subject_alt_names, sizeof(*t->sans));
        for (size_t i = 0; i < tls->n_subject_alt_names; i++)
            t->sans[i] = tls->subject_alt_names[i].base;
        t->o.sans = t->sans;
        t->o.n_sans = tls->n_subject_alt_names;
    }
    return 0;
}

void gw_tls_opts_dispose(struct gw_tls_opts *t)
{
    ig_free(t->sans);
    t->sans = NULL;
}

/*
 * The origin for an address, HTTP version and TLS setting. Returns NULL when backendTLS cannot be
 * turned into a context (a key that does not match its certificate, a file gone since the load):
 * such a backend must fail, never be reached in plaintext.
 */
static struct gw_origin *origin_get(struct gw_worker *w, const struct sockaddr_storage *sa, int version,
                                    const struct ig_cfg_backend_tls *tls, const char *host, uint64_t connect_ms)
{
    const char *root = tls != NULL && tls->root.path.len > 0 ? tls->root.path.base : "";
    const char *sni = tls != NULL && tls->hostname.len > 0 ? tls->hostname.base : host;
    int insecure = tls != NULL && tls->insecure;
    size_t salen = sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    struct gw_tls_opts topts;
    char label[64];
    ig_addr_format((const struct sockaddr *)sa, label, sizeof(label));
    /* Without backendTLS.alpn the offer follows the HTTP version this origin speaks. */
    if (tls != NULL && gw_tls_opts_init(&topts, tls, version == IG_HTTP_2 ? "h2" : "http/1.1") != 0) {
        ig_log_error("gateway", "backend %s: TLS: settings too long", label);
        gw_tls_opts_dispose(&topts);
        return NULL;
    }
    ig_list_t *pos;
    ig_list_foreach(pos, &w->origins)
    {
        struct gw_origin *o = IG_CONTAINER_OF(pos, struct gw_origin, link);
        /* A TLS origin's context remembers every backendTLS setting it was built from. */
        if (memcmp(&o->addr, sa, salen) == 0 && o->version == version && o->tls == (tls != NULL) &&
            o->connect_timeout_ms == connect_ms &&
            (tls == NULL || (strcmp(o->sni, sni) == 0 && ig_tls_client_ctx_matches(o->ssl_ctx, &topts.o)))) {
            if (tls != NULL)
                gw_tls_opts_dispose(&topts);
            return o;
        }
    }
    SSL_CTX *ssl_ctx = NULL;
    if (tls != NULL) {
        char err[256];
        ssl_ctx = ig_tls_client_ctx_opts(&topts.o, err, sizeof(err));
        gw_tls_opts_dispose(&topts);
        if (ssl_ctx == NULL) {
            ig_log_error("gateway", "backend %s: TLS: %s", label, err);
            return NULL;
        }
    }
    struct gw_origin *o = ig_calloc(1, sizeof(*o));
    memcpy(&o->addr, sa, salen);
    o->version = version;
    o->tls = tls != NULL;
    o->insecure = insecure;
    o->connect_timeout_ms = connect_ms;
    snprintf(o->root, sizeof(o->root), "%s", root);
    snprintf(o->sni, sizeof(o->sni), "%s", sni);
    memcpy(o->label, label, sizeof(o->label));
    struct ig_http_client_config cc = {0};
    memcpy(&cc.addr, sa, salen);
    cc.version = version;
    cc.connect_timeout_ms = connect_ms;
    cc.idle_timeout_ms = 90000;
    /* An idle upstream connection holds no buffers, and h2 clients multiplexing hundreds of streams
     * onto HTTP/1.1 origins would otherwise close and reopen connections at every burst. */
    cc.max_idle = 1024;
    cc.on_connect = gw_stats_on_connect;
    cc.on_connect_arg = &w->stats;
    if (o->tls) {
        o->ssl_ctx = ssl_ctx;
        cc.ssl_ctx = o->ssl_ctx;
        cc.sni = o->sni;
    }
    o->client = ig_http_client_create(&w->w->loop, &cc);
    ig_list_push_back(&w->origins, &o->link);
    return o;
}

struct gw_origin *gw_origin_get(struct gw_worker *w, const struct sockaddr_storage *sa, int version,
                                const struct ig_cfg_backend_tls *tls, const char *host, uint64_t connect_ms)
{
    return origin_get(w, sa, version, tls, host, connect_ms);
}

/* Resolves a host:port target; DNS names are resolved here, when the plan is built (not per request). */
int gw_resolve(const struct ig_cfg_hostport *hp, struct sockaddr_storage *out)
{
    if (hp->family != AF_UNSPEC) {
        memcpy(out, &hp->sa, sizeof(*out));
        return 0;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)hp->port);
    if (getaddrinfo(hp->host.base, port, &hints, &res) != 0 || res == NULL)
        return IG_ENOTFOUND;
    memset(out, 0, sizeof(*out));
    memcpy(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

/* ---- plans ------------------------------------------------------------------------------------- */

static int pick_version(enum ig_cfg_http_version v, enum ig_cfg_app_protocol app)
{
    if (v == IG_CFG_HTTP_2)
        return IG_HTTP_2;
    if (v == IG_CFG_HTTP_1)
        return IG_HTTP_11;
    return app == IG_CFG_APP_HTTP2 || app == IG_CFG_APP_GRPC ? IG_HTTP_2 : IG_HTTP_11;
}

static void plan_backend(struct gw_worker *w, struct gw_plan *p, struct gw_bplan *bp,
                         const struct ig_cfg_route_backend *rb)
{
    const struct ig_cfg_backend_policies *pol = &rb->policies;
    const struct ig_cfg_target *t = &rb->target;
    bp->rb = rb;
    bp->inference = pol->inference != NULL;
    const struct ig_cfg_backend_tls *tls = pol->tls;
    enum ig_cfg_http_version ver = pol->http_version;
    uint64_t connect_ns = pol->connect_timeout_ns;
    bp->request_timeout_ns = pol->request_timeout_ns;
    if (t->kind == IG_CFG_TARGET_BACKEND) {
        const struct ig_cfg_backend_policies *np = &t->backend->policies;
        bp->named = np;
        if (tls == NULL)
            tls = np->tls;
        if (ver == IG_CFG_HTTP_AUTO)
            ver = np->http_version;
        if (connect_ns == 0)
            connect_ns = np->connect_timeout_ns;
        if (bp->request_timeout_ns == 0)
            bp->request_timeout_ns = np->request_timeout_ns;
    }
    uint64_t connect_ms = connect_ns / 1000000;
    if (connect_ns > 0 && connect_ms == 0)
        connect_ms = 1;
    static const char tls_unusable[] = "backend TLS settings cannot be used (see the log)";
    int tls_failed = 0;
    struct sockaddr_storage sa;
    switch (t->kind) {
    case IG_CFG_TARGET_SERVICE: {
        const struct ig_cfg_service_port *sp = t->service_port;
        bp->name = ig_pool_printf(&p->pool, "%s:%u", t->service->key.base, (unsigned)t->port);
        bp->authority = ig_pool_printf(&p->pool, "%s:%u", t->service->hostname.base, (unsigned)t->port);
        bp->eps = ig_pool_calloc(&p->pool, (sp->n_endpoints + 1) * sizeof(*bp->eps));
        for (size_t i = 0; i < sp->n_endpoints; i++) {
            const struct ig_cfg_endpoint *ep = &sp->endpoints[i];
            if (!ep->healthy)
                continue;
            struct gw_origin *o =
                origin_get(w, &ep->addr.sa, pick_version(ver, sp->app_protocol), tls, ep->addr.host.base, connect_ms);
            if (o != NULL)
                bp->eps[bp->n_eps++] = o;
            else
                tls_failed = 1;
        }
        if (bp->inference) {
            /* The picker chooses among these (validated) or dials what it names (passthrough). */
            bp->ir = pol->inference;
            bp->up_version = pick_version(ver, sp->app_protocol);
            bp->connect_ms = connect_ms;
            bp->epp = gw_inf_epp_get(w, bp->ir);
            if (bp->epp == NULL)
                bp->unavailable = "endpoint picker address does not resolve";
            else if (bp->n_eps == 0 && bp->ir->destination_mode == IG_CFG_DEST_VALIDATED)
                bp->unavailable = tls_failed ? tls_unusable : "no healthy endpoints";
            return;
        }
        if (bp->n_eps == 0)
            bp->unavailable = tls_failed ? tls_unusable : "no healthy endpoints";
        return;
    }
    case IG_CFG_TARGET_HOST:
    case IG_CFG_TARGET_BACKEND: {
        const struct ig_cfg_hostport *hp = t->kind == IG_CFG_TARGET_HOST ? &t->host : &t->backend->host;
        bp->name = t->kind == IG_CFG_TARGET_HOST ? hp->text.base : t->backend->name.base;
        bp->authority = hp->text.base;
        if (gw_resolve(hp, &sa) != 0) {
            ig_log_warn("gateway", "backend %s: cannot resolve %s", bp->name, hp->host.base);
            bp->unavailable = "backend host does not resolve";
            return;
        }
        bp->eps = ig_pool_calloc(&p->pool, sizeof(*bp->eps));
        bp->eps[0] = origin_get(w, &sa, pick_version(ver, IG_CFG_APP_AUTO), tls, hp->host.base, connect_ms);
        if (bp->eps[0] == NULL) {
            bp->unavailable = tls_unusable;
            return;
        }
        bp->n_eps = 1;
        return;
    }
    default:
        bp->name = "unknown";
        bp->unavailable = "unsupported backend kind";
        return;
    }
}

static struct gw_plan *plan_create(struct gw_worker *w, struct gw_snap *snap)
{
    struct gw_plan *p = ig_calloc(1, sizeof(*p));
    p->refs = 1;
    p->snap = snap;
    ig_pool_init(&p->pool);
    p->routes = ig_pool_calloc(&p->pool, (snap->n_routes + 1) * sizeof(*p->routes));
    const struct ig_config *cfg = snap->cfg;
    for (size_t b = 0; b < cfg->n_binds; b++) {
        const struct ig_cfg_bind *bind = &cfg->binds[b];
        for (size_t li = 0; li < bind->n_listeners; li++) {
            const struct ig_cfg_listener *l = &bind->listeners[li];
            size_t base = snap->route_base[snap->listener_base[b] + li];
            for (size_t r = 0; r < l->n_routes; r++) {
                const struct ig_cfg_route *route = &l->routes[r];
                struct gw_bplan *bps = ig_pool_calloc(&p->pool, (route->n_backends + 1) * sizeof(*bps));
                for (size_t k = 0; k < route->n_backends; k++)
                    plan_backend(w, p, &bps[k], &route->backends[k]);
                p->routes[base + r] = bps;
            }
        }
    }
    return p;
}

struct gw_plan *gw_plan_ref(struct gw_plan *p)
{
    p->refs++;
    return p;
}

void gw_plan_unref(struct gw_worker *w, struct gw_plan *p)
{
    (void)w;
    if (p == NULL || --p->refs > 0)
        return;
    gw_snap_unref(p->snap);
    ig_pool_dispose(&p->pool);
    ig_free(p);
}

/* ---- listeners --------------------------------------------------------------------------------- */

static void on_accept(ig_listener_t *l, int fd, void *arg)
{
    (void)l;
    struct gw_server *srv = arg;
    atomic_fetch_add_explicit(&srv->w->stats.downstream_connections, 1, memory_order_relaxed);
    ig_http_server_accept(&srv->http, &srv->w->w->loop, fd);
}

static struct gw_server *server_open(struct gw_worker *w, const struct gw_snap *snap, size_t b)
{
    const struct ig_cfg_bind *bind = &snap->cfg->binds[b];
    struct gw_server *srv = ig_calloc(1, sizeof(*srv));
    srv->w = w;
    srv->port = bind->port;
    struct ig_http_server_config hc = {0};
    hc.h1_limits = IG_H1_LIMITS_DEFAULT;
    hc.h1_limits.max_headers = snap->cfg->frontend.http1_max_headers;
    hc.idle_timeout_ms = snap->cfg->frontend.http1_idle_timeout_ns / 1000000;
    hc.ssl_ctx = snap->bind_tls[b];
    ig_http_server_init(&srv->http, &hc);
    srv->http.on_request = gw_proxy_on_request;
    srv->http.data = srv;
    struct sockaddr_storage sa;
    char text[32];
    snprintf(text, sizeof(text), "0.0.0.0:%u", (unsigned)bind->port);
    IG_ASSERT(ig_addr_parse(text, &sa) == 0);
    int rc = ig_listener_open(&w->w->loop, (struct sockaddr *)&sa, on_accept, srv, &srv->listener);
    if (rc != 0) {
        ig_log_error("gateway", "worker %d: cannot listen on port %u: %s", w->w->id, (unsigned)bind->port,
                     ig_strerror(rc));
        srv->listener = NULL;
    }
    return srv;
}

static struct gw_server *find_server(struct gw_worker *w, uint16_t port)
{
    for (size_t i = 0; i < w->n_servers; i++) {
        if (w->servers[i]->port == port && w->servers[i]->listener != NULL)
            return w->servers[i];
    }
    return NULL;
}

/* Opens listeners for new binds, closes those of removed binds and updates TLS contexts. */
static int sync_servers(struct gw_worker *w, const struct gw_snap *snap)
{
    int failed = 0;
    const struct ig_config *cfg = snap->cfg;
    for (size_t i = 0; i < w->n_servers; i++) {
        struct gw_server *srv = w->servers[i];
        if (srv->listener == NULL)
            continue;
        const struct ig_cfg_bind *bind = ig_config_find_bind(cfg, srv->port);
        if (bind == NULL) {
            ig_listener_close(srv->listener);
            srv->listener = NULL;
            continue;
        }
        /* New connections use the new certificate; open ones keep theirs (SSL objects hold a reference). */
        srv->http.config.ssl_ctx = snap->bind_tls[bind - cfg->binds];
    }
    for (size_t b = 0; b < cfg->n_binds; b++) {
        if (find_server(w, cfg->binds[b].port) != NULL)
            continue;
        struct gw_server *srv = server_open(w, snap, b);
        w->servers = ig_realloc(w->servers, (w->n_servers + 1) * sizeof(*w->servers));
        w->servers[w->n_servers++] = srv;
        if (srv->listener == NULL)
            failed = 1;
    }
    return failed;
}

/* ---- life cycle -------------------------------------------------------------------------------- */

static void on_server_drained(ig_http_server_t *http)
{
    struct gw_server *srv = IG_CONTAINER_OF(http, struct gw_server, http);
    struct gw_worker *w = srv->w;
    srv->drained = 1;
    w->servers_drained++;
    gw_worker_maybe_done(w);
}

void gw_worker_maybe_done(struct gw_worker *w)
{
    if (!w->stopping || w->closed_clients || w->servers_drained < w->n_servers || !ig_list_empty(&w->active_reqs))
        return;
    worker_finish(w);
}

static void worker_finish(struct gw_worker *w)
{
    w->closed_clients = 1;
    while (!ig_list_empty(&w->origins)) {
        struct gw_origin *o = IG_CONTAINER_OF(w->origins.next, struct gw_origin, link);
        ig_list_remove(&o->link);
        ig_http_client_destroy(o->client);
        /* The client's sockets hold their own SSL references; the context may go now. */
        SSL_CTX_free(o->ssl_ctx);
        ig_free(o);
    }
    gw_inf_epps_destroy(w);
    gw_proxy_release_pool(w);
    gw_plan_unref(w, w->plan);
    w->plan = NULL;
    atomic_fetch_add(&gw.workers_done, 1);
    uv_async_send(&gw.done_async);
}

static void worker_stop(ig_worker_t *iw, void *arg)
{
    (void)arg;
    struct gw_worker *w = iw->data;
    w->stopping = 1;
    for (size_t i = 0; i < w->n_servers; i++) {
        struct gw_server *srv = w->servers[i];
        if (srv->listener != NULL) {
            ig_listener_close(srv->listener);
            srv->listener = NULL;
        }
        ig_http_server_drain(&srv->http, on_server_drained);
    }
    gw_worker_maybe_done(w);
}

void gw_worker_init(ig_worker_t *iw, void *arg)
{
    (void)arg;
    struct gw_worker *w = ig_calloc(1, sizeof(*w));
    w->w = iw;
    iw->data = w;
    iw->on_stop = worker_stop;
    ig_list_init(&w->origins);
    ig_list_init(&w->free_reqs);
    ig_list_init(&w->active_reqs);
    ig_list_init(&w->epps);
    gw_stats_init(&w->stats);
    w->rng = ig_time_ns() ^ ((uint64_t)(iw->id + 1) * 0x9e3779b97f4a7c15ULL);
    if (w->rng == 0)
        w->rng = 1;
    pthread_mutex_lock(&gw.lock);
    struct gw_snap *snap = gw_snap_ref(gw.snap);
    pthread_mutex_unlock(&gw.lock);
    w->plan = plan_create(w, snap);
    int failed = sync_servers(w, snap);
    /* Published to the scraping control thread (read with an acquire load). */
    __atomic_store_n(&gw.w[iw->id], w, __ATOMIC_RELEASE);
    if (failed)
        atomic_fetch_add(&gw.failed, 1);
    else
        atomic_fetch_add(&gw.listening, 1);
    uv_async_send(&gw.done_async);
}

static void swap_cb(ig_worker_t *iw, void *arg)
{
    struct gw_worker *w = iw->data;
    struct gw_snap *snap = arg;
    if (w == NULL || w->stopping) {
        gw_snap_unref(snap);
        return;
    }
    if (w->plan != NULL && w->plan->snap->generation >= snap->generation) {
        gw_snap_unref(snap); /* an older snapshot arriving late */
        return;
    }
    struct gw_plan *old = w->plan;
    w->plan = plan_create(w, snap);
    sync_servers(w, snap);
    gw_plan_unref(w, old);
}

void gw_workers_swap(struct gw_snap *snap)
{
    for (int i = 0; i < gw.nworkers; i++)
        ig_workers_post(gw.workers, i, swap_cb, gw_snap_ref(snap));
}

static void abort_cb(ig_worker_t *iw, void *arg)
{
    (void)arg;
    struct gw_worker *w = iw->data;
    if (w != NULL)
        gw_proxy_abort_all(w);
}

void gw_workers_abort(void)
{
    for (int i = 0; i < gw.nworkers; i++)
        ig_workers_post(gw.workers, i, abort_cb, NULL);
}
