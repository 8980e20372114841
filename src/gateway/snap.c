/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Gateway snapshots: a loaded configuration plus what every worker shares with it and nothing
 * else, built once per (re)load on the control thread: the listeners' TLS server contexts, the
 * global route numbering the workers' plans are indexed by, and the gateway-wide token buckets of
 * localRateLimit. Immutable after creation except the buckets (each under its own mutex);
 * refcounted so requests still holding an old snapshot finish with it.
 *
 * TLS: every HTTPS listener has its own server context (certificate, versions, client CA), and a
 * bind with HTTPS listeners serves them through one "front" context that picks the listener's
 * context by the client's server name (SNI) as Gateway API selects listeners: exact hostname,
 * then the longest wildcard, then the listener without hostname. What the front chooses from is
 * owned by the front (a config reference and the listener contexts), not by the snapshot, so a
 * handshake still running on a replaced front after a reload never sees freed memory.
 */
#include <stdio.h>

#include <openssl/err.h>

#include "gateway_int.h"

static SSL_CTX *listener_tls(const struct ig_cfg_listener *l, char *err, size_t errlen)
{
    const struct ig_cfg_listener_tls *t = l->tls;
    SSL_CTX *ctx = ig_tls_server_ctx(t->cert.path.base, t->key.path.base, "h2,http/1.1", err, errlen);
    if (ctx == NULL)
        return NULL;
    if (t->min_version != IG_CFG_TLS_DEFAULT)
        SSL_CTX_set_min_proto_version(ctx, t->min_version == IG_CFG_TLS_1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    if (t->max_version != IG_CFG_TLS_DEFAULT)
        SSL_CTX_set_max_proto_version(ctx, t->max_version == IG_CFG_TLS_1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    if (t->root.path.len > 0) {
        /* A client CA turns on mutual TLS: a client without a certificate signed by it is refused. */
        if (SSL_CTX_load_verify_locations(ctx, t->root.path.base, NULL) != 1) {
            snprintf(err, errlen, "%s: cannot load the client CA", t->root.path.base);
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
}

const struct ig_cfg_listener *gw_sni_select(const struct ig_cfg_bind *bind, const char *name, size_t len)
{
    const struct ig_cfg_listener *l =
        ig_config_select_listener(bind, name != NULL && len > 0 ? ig_iov(name, len) : IG_IOV_NULL);
    return l != NULL && l->protocol == IG_CFG_PROTO_HTTPS && l->tls != NULL ? l : NULL;
}

/* What one bind's front context chooses from (owned by the front: see ig_tls_server_sni_ctx). */
struct sni_table {
    struct ig_config *cfg; /* a reference: |bind| points into it */
    const struct ig_cfg_bind *bind;
    SSL_CTX **ctx; /* per listener of the bind; NULL for a listener without TLS */
};

static SSL_CTX *sni_pick(void *arg, const char *name, size_t len)
{
    const struct sni_table *t = arg;
    const struct ig_cfg_listener *l = gw_sni_select(t->bind, name, len);
    return l != NULL ? t->ctx[l - t->bind->listeners] : NULL;
}

static void sni_table_free(void *arg)
{
    struct sni_table *t = arg;
    for (size_t i = 0; t->ctx != NULL && i < t->bind->n_listeners; i++)
        SSL_CTX_free(t->ctx[i]);
    ig_free(t->ctx);
    ig_config_unref(t->cfg);
    ig_free(t);
}

/* The front context of |bind| in *|out| (NULL when it has no HTTPS listener). Returns 0 or -1. */
static int bind_tls(struct ig_config *cfg, const struct ig_cfg_bind *bind, SSL_CTX **out, char *err, size_t errlen)
{
    size_t n = 0;
    *out = NULL;
    for (size_t i = 0; i < bind->n_listeners; i++)
        n += bind->listeners[i].protocol == IG_CFG_PROTO_HTTPS && bind->listeners[i].tls != NULL;
    if (n == 0)
        return 0;
    struct sni_table *t = ig_calloc(1, sizeof(*t));
    t->cfg = ig_config_ref(cfg);
    t->bind = bind;
    t->ctx = ig_calloc(bind->n_listeners, sizeof(*t->ctx));
    for (size_t i = 0; i < bind->n_listeners; i++) {
        const struct ig_cfg_listener *l = &bind->listeners[i];
        if (l->protocol != IG_CFG_PROTO_HTTPS || l->tls == NULL)
            continue;
        t->ctx[i] = listener_tls(l, err, errlen);
        if (t->ctx[i] == NULL) {
            sni_table_free(t);
            return -1;
        }
    }
    *out = ig_tls_server_sni_ctx(sni_pick, t, sni_table_free, err, errlen);
    return *out != NULL ? 0 : -1;
}

struct gw_snap *gw_snap_create(struct ig_config *cfg, uint64_t generation, char *err, size_t errlen)
{
    struct gw_snap *s = ig_calloc(1, sizeof(*s));
    atomic_init(&s->refs, 1);
    s->cfg = cfg;
    s->generation = generation;
    size_t nb = cfg->n_binds;
    s->bind_tls = ig_calloc(nb + 1, sizeof(*s->bind_tls));
    s->listener_base = ig_calloc(nb + 1, sizeof(*s->listener_base));
    for (size_t b = 0; b < nb; b++) {
        s->listener_base[b] = s->n_listeners;
        s->n_listeners += cfg->binds[b].n_listeners;
    }
    s->route_base = ig_calloc(s->n_listeners + 1, sizeof(*s->route_base));
    size_t nbuckets = 0;
    for (size_t b = 0; b < nb; b++) {
        const struct ig_cfg_bind *bind = &cfg->binds[b];
        for (size_t i = 0; i < bind->n_listeners; i++) {
            const struct ig_cfg_listener *l = &bind->listeners[i];
            s->route_base[s->listener_base[b] + i] = s->n_routes;
            s->n_routes += l->n_routes;
            for (size_t r = 0; r < l->n_routes; r++)
                nbuckets += l->routes[r].policies.n_rate_limits;
        }
        if (bind_tls(cfg, bind, &s->bind_tls[b], err, errlen) != 0) {
            gw_snap_unref(s);
            return NULL;
        }
    }
    s->route_buckets = ig_calloc(s->n_routes + 1, sizeof(*s->route_buckets));
    s->buckets = ig_calloc(nbuckets + 1, sizeof(*s->buckets));
    uint64_t now = ig_time_ns();
    for (size_t b = 0; b < nb; b++) {
        const struct ig_cfg_bind *bind = &cfg->binds[b];
        for (size_t i = 0; i < bind->n_listeners; i++) {
            const struct ig_cfg_listener *l = &bind->listeners[i];
            for (size_t r = 0; r < l->n_routes; r++) {
                const struct ig_cfg_route_policies *p = &l->routes[r].policies;
                if (p->n_rate_limits == 0)
                    continue;
                s->route_buckets[s->route_base[s->listener_base[b] + i] + r] = &s->buckets[s->n_buckets];
                for (size_t k = 0; k < p->n_rate_limits; k++) {
                    struct gw_bucket *bk = &s->buckets[s->n_buckets++];
                    pthread_mutex_init(&bk->lock, NULL);
                    bk->rl = &p->rate_limits[k];
                    bk->tokens = (double)bk->rl->max_tokens;
                    bk->last_ns = now;
                }
            }
        }
    }
    return s;
}

struct gw_snap *gw_snap_ref(struct gw_snap *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void gw_snap_unref(struct gw_snap *s)
{
    if (s == NULL || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t b = 0; s->bind_tls != NULL && b < s->cfg->n_binds; b++)
        SSL_CTX_free(s->bind_tls[b]);
    for (size_t i = 0; i < s->n_buckets; i++)
        pthread_mutex_destroy(&s->buckets[i].lock);
    ig_free(s->bind_tls);
    ig_free(s->listener_base);
    ig_free(s->route_base);
    ig_free(s->route_buckets);
    ig_free(s->buckets);
    ig_config_unref(s->cfg);
    ig_free(s);
}

size_t gw_snap_route_index(const struct gw_snap *snap, const struct ig_cfg_route *route)
{
    const struct ig_cfg_listener *l = route->listener;
    const struct ig_cfg_bind *b = l->bind;
    size_t bi = (size_t)(b - snap->cfg->binds);
    size_t li = snap->listener_base[bi] + (size_t)(l - b->listeners);
    return snap->route_base[li] + (size_t)(route - l->routes);
}

int gw_snap_rate_take(struct gw_snap *snap, const struct ig_cfg_route *route, size_t route_index, uint64_t cost)
{
    struct gw_bucket *bk = snap->route_buckets[route_index];
    if (bk == NULL)
        return 1;
    int ok = 1;
    /* Every bucket of the route must allow the request; buckets are refilled lazily. */
    size_t n = route->policies.n_rate_limits;
    uint64_t now = ig_time_ns();
    /* All buckets are locked (always in the same order) so a request refused by one bucket
     * takes nothing from the others. */
    for (size_t i = 0; i < n; i++)
        pthread_mutex_lock(&bk[i].lock);
    for (size_t i = 0; i < n; i++) {
        struct gw_bucket *b = &bk[i];
        const struct ig_cfg_rate_limit *rl = b->rl;
        if (now > b->last_ns && rl->fill_interval_ns > 0) {
            uint64_t fills = (now - b->last_ns) / rl->fill_interval_ns;
            if (fills > 0) {
                b->tokens += (double)fills * (double)rl->tokens_per_fill;
                if (b->tokens > (double)rl->max_tokens)
                    b->tokens = (double)rl->max_tokens;
                b->last_ns += fills * rl->fill_interval_ns;
            }
        }
        /* Token limits are charged after the response (usage): an empty bucket refuses. */
        double need = rl->type == IG_CFG_RATE_LIMIT_REQUESTS ? (double)cost : 1e-9;
        if (b->tokens < need)
            ok = 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (ok && bk[i].rl->type == IG_CFG_RATE_LIMIT_REQUESTS)
            bk[i].tokens -= (double)cost;
        pthread_mutex_unlock(&bk[i].lock);
    }
    return ok;
}

void gw_snap_rate_charge(struct gw_snap *snap, const struct ig_cfg_route *route, size_t route_index, uint64_t tokens)
{
    struct gw_bucket *bk = snap->route_buckets[route_index];
    if (bk == NULL || tokens == 0)
        return;
    for (size_t i = 0; i < route->policies.n_rate_limits; i++) {
        if (bk[i].rl->type != IG_CFG_RATE_LIMIT_TOKENS)
            continue;
        /* May go below zero: the debt is paid by later fills before the next request passes. */
        pthread_mutex_lock(&bk[i].lock);
        bk[i].tokens -= (double)tokens;
        pthread_mutex_unlock(&bk[i].lock);
    }
}
