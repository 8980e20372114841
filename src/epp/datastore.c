/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EPP's datastore: the current set of endpoints, keyed by address, with one writer (the loop
 * thread). Readers take a refcounted snapshot, an immutable array of endpoint pointers built once
 * per membership change; each endpoint is refcounted too (one reference for membership, one per
 * snapshot listing it), so an endpoint a source removed stays valid for a request that picked it.
 * Endpoint ids are small integers reused only after the endpoint is freed, as the scheduler's
 * prefix index requires. Also the engine names and the endpoint address parser.
 */
#include "epp_int.h"

#include <arpa/inet.h>
#include <stdio.h>

#define MAX_LISTENERS 4

struct ig_epp_datastore {
    enum ig_epp_engine default_engine;
    struct ig_epp_endpoint **members;
    size_t n, cap;
    struct ig_epp_snapshot *current; /* NULL until asked for after a change */
    uint64_t generation;
    /* id allocator: a stack of free ids below next_id */
    uint32_t *free_ids;
    size_t n_free, cap_free;
    uint32_t next_id;
    struct {
        ig_epp_removed_cb cb;
        void *arg;
    } listeners[MAX_LISTENERS];
    size_t n_listeners;
    uint32_t refs; /* 1 + live endpoints (they return their id on free) */
};

static const char *const engine_names[IG_EPP_ENGINE_COUNT] = {
    [IG_EPP_ENGINE_VLLM] = "vllm",
    [IG_EPP_ENGINE_SGLANG] = "sglang",
    [IG_EPP_ENGINE_TRTLLM_SERVE] = "trtllm-serve",
    [IG_EPP_ENGINE_TRITON] = "triton-tensorrt-llm",
};

const char *ig_epp_engine_name(enum ig_epp_engine e)
{
    return (unsigned)e < IG_EPP_ENGINE_COUNT ? engine_names[e] : "unknown";
}

int ig_epp_engine_parse(ig_iov_t name, enum ig_epp_engine *out)
{
    for (int i = 0; i < IG_EPP_ENGINE_COUNT; i++) {
        if (ig_iov_eq(name, ig_iov_cstr(engine_names[i]))) {
            *out = (enum ig_epp_engine)i;
            return 0;
        }
    }
    return IG_ENOTFOUND;
}

static const char *const scrape_err_names[IG_EPP_SCRAPE_ERR_COUNT] = {
    [IG_EPP_SCRAPE_OK] = "ok",         [IG_EPP_SCRAPE_CONNECT] = "connect", [IG_EPP_SCRAPE_TIMEOUT] = "timeout",
    [IG_EPP_SCRAPE_CLOSED] = "closed", [IG_EPP_SCRAPE_STATUS] = "status",   [IG_EPP_SCRAPE_TOOBIG] = "too_big",
    [IG_EPP_SCRAPE_PARSE] = "parse",   [IG_EPP_SCRAPE_MISSING] = "missing",
};

const char *ig_epp_scrape_err_name(enum ig_epp_scrape_err e)
{
    return (unsigned)e < IG_EPP_SCRAPE_ERR_COUNT ? scrape_err_names[e] : "unknown";
}

void ig_epp__errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int ig_epp__parse_hostport(ig_iov_t text, struct sockaddr_storage *sa, uint16_t *port)
{
    char host[64];
    ig_iov_t h, p;
    memset(sa, 0, sizeof(*sa));
    if (text.len == 0 || text.len > 80)
        return IG_EINVAL;
    if (text.base[0] == '[') {
        const char *rb = memchr(text.base, ']', text.len);
        if (rb == NULL || (size_t)(rb - text.base) + 1 >= text.len || rb[1] != ':')
            return IG_EINVAL;
        h = ig_iov(text.base + 1, (size_t)(rb - text.base) - 1);
        p = ig_iov(rb + 2, text.len - (size_t)(rb - text.base) - 2);
    } else {
        const char *colon = memchr(text.base, ':', text.len);
        if (colon == NULL || memchr(colon + 1, ':', text.len - (size_t)(colon - text.base) - 1) != NULL)
            return IG_EINVAL;
        h = ig_iov(text.base, (size_t)(colon - text.base));
        p = ig_iov(colon + 1, text.len - h.len - 1);
    }
    uint64_t v;
    if (h.len == 0 || h.len >= sizeof(host) || ig_iov_to_u64(p, &v) != 0 || v == 0 || v > 65535)
        return IG_EINVAL;
    memcpy(host, h.base, h.len);
    host[h.len] = '\0';
    struct sockaddr_in *in4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)v);
    } else if (text.base[0] == '[' && inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)v);
    } else {
        return IG_EINVAL;
    }
    *port = (uint16_t)v;
    return 0;
}

/* ---- lifetime ---------------------------------------------------------------------------------- */

ig_epp_datastore_t *ig_epp_datastore_create(enum ig_epp_engine default_engine)
{
    ig_epp_datastore_t *ds = ig_calloc(1, sizeof(*ds));
    ds->default_engine = default_engine;
    ds->refs = 1;
    return ds;
}

static void ds_unref(ig_epp_datastore_t *ds)
{
    if (--ds->refs > 0)
        return;
    ig_free(ds->members);
    ig_free(ds->free_ids);
    ig_free(ds);
}

static void ep_unref(struct ig_epp_endpoint *ep, ig_epp_datastore_t *ds)
{
    IG_ASSERT(ep->_refs > 0);
    if (--ep->_refs > 0)
        return;
    if (ds->n_free == ds->cap_free) {
        ds->cap_free = ds->cap_free ? ds->cap_free * 2 : 16;
        ds->free_ids = ig_realloc(ds->free_ids, ds->cap_free * sizeof(*ds->free_ids));
    }
    ds->free_ids[ds->n_free++] = ep->view.id;
    ig_pool_dispose(&ep->_pool);
    ig_pool_dispose(&ep->_mpool[0]);
    ig_pool_dispose(&ep->_mpool[1]);
    ig_free(ep);
    ds_unref(ds);
}

static void snapshot_free(struct ig_epp_snapshot *s)
{
    for (size_t i = 0; i < s->n; i++)
        ep_unref(s->v[i], s->_ds);
    ig_epp_datastore_t *ds = s->_ds;
    ig_free(s);
    ds_unref(ds);
}

void ig_epp_snapshot_release(struct ig_epp_snapshot *snap)
{
    if (snap != NULL && --snap->_refs == 0)
        snapshot_free(snap);
}

static void drop_current(ig_epp_datastore_t *ds)
{
    struct ig_epp_snapshot *s = ds->current;
    ds->current = NULL;
    ig_epp_snapshot_release(s);
}

static void remove_member(ig_epp_datastore_t *ds, struct ig_epp_endpoint *ep)
{
    ep->_removed = 1;
    for (size_t i = 0; i < ds->n_listeners; i++)
        ds->listeners[i].cb(ep, ds->listeners[i].arg);
    ep_unref(ep, ds);
}

void ig_epp_datastore_destroy(ig_epp_datastore_t *ds)
{
    if (ds == NULL)
        return;
    drop_current(ds);
    ds->refs++; /* endpoints freed below must not free |ds| under us */
    for (size_t i = 0; i < ds->n; i++)
        remove_member(ds, ds->members[i]);
    ds->n = 0;
    ds->n_listeners = 0;
    ds_unref(ds);
    ds_unref(ds);
}

void ig_epp_datastore_on_removed(ig_epp_datastore_t *ds, ig_epp_removed_cb cb, void *arg)
{
    IG_ASSERT(ds->n_listeners < MAX_LISTENERS);
    ds->listeners[ds->n_listeners].cb = cb;
    ds->listeners[ds->n_listeners].arg = arg;
    ds->n_listeners++;
}

void ig_epp_datastore_off_removed(ig_epp_datastore_t *ds, ig_epp_removed_cb cb, void *arg)
{
    for (size_t i = 0; i < ds->n_listeners; i++) {
        if (ds->listeners[i].cb == cb && ds->listeners[i].arg == arg) {
            memmove(&ds->listeners[i], &ds->listeners[i + 1], (ds->n_listeners - i - 1) * sizeof(ds->listeners[0]));
            ds->n_listeners--;
            return;
        }
    }
}

/* ---- membership -------------------------------------------------------------------------------- */

struct ig_epp_endpoint *ig_epp_datastore_find(ig_epp_datastore_t *ds, ig_iov_t address)
{
    for (size_t i = 0; i < ds->n; i++) {
        if (ig_iov_eq(ds->members[i]->view.address, address))
            return ds->members[i];
    }
    return NULL;
}

size_t ig_epp_datastore_count(const ig_epp_datastore_t *ds)
{
    return ds->n;
}

static int labels_equal(const struct ig_epp_endpoint *ep, const struct ig_epp_endpoint_decl *d)
{
    if (ep->view.n_labels != d->n_labels)
        return 0;
    for (size_t i = 0; i < d->n_labels; i++) {
        if (!ig_iov_eq(ep->view.labels[i].key, d->labels[i].key) ||
            !ig_iov_eq(ep->view.labels[i].value, d->labels[i].value))
            return 0;
    }
    return 1;
}

/*
 * Labels change rarely (a file edit), and a reader may still hold the old array within its
 * callback, so the new copy is appended to the endpoint's arena rather than written over the old.
 */
static void apply_decl(ig_epp_datastore_t *ds, struct ig_epp_endpoint *ep, const struct ig_epp_endpoint_decl *d)
{
    if (!labels_equal(ep, d)) {
        struct ig_sched_kv *kv = d->n_labels ? ig_pool_alloc(&ep->_pool, d->n_labels * sizeof(*kv)) : NULL;
        for (size_t i = 0; i < d->n_labels; i++) {
            kv[i].key = ig_pool_dup(&ep->_pool, d->labels[i].key);
            kv[i].value = ig_pool_dup(&ep->_pool, d->labels[i].value);
        }
        ep->view.labels = kv;
        ep->view.n_labels = d->n_labels;
    }
    ig_iov_t engine = ig_sched_endpoint_label(&ep->view, IG_EPP_ENGINE_LABEL);
    if (engine.base == NULL || ig_epp_engine_parse(engine, &ep->engine) != 0)
        ep->engine = ds->default_engine;
    uint16_t mport = d->metrics_port ? d->metrics_port : ep->port;
    if (mport != ep->metrics_port || ep->metrics_authority.base == NULL) {
        ep->metrics_port = mport;
        ep->metrics_addr = ep->addr;
        if (ep->addr.ss_family == AF_INET)
            ((struct sockaddr_in *)&ep->metrics_addr)->sin_port = htons(mport);
        else
            ((struct sockaddr_in6 *)&ep->metrics_addr)->sin6_port = htons(mport);
        if (ep->addr.ss_family == AF_INET6)
            ep->metrics_authority = ig_iov_cstr(
                ig_pool_printf(&ep->_pool, "[%.*s]:%u", (int)ep->view.ip.len, ep->view.ip.base, (unsigned)mport));
        else
            ep->metrics_authority = ig_iov_cstr(
                ig_pool_printf(&ep->_pool, "%.*s:%u", (int)ep->view.ip.len, ep->view.ip.base, (unsigned)mport));
    }
}

static struct ig_epp_endpoint *ep_new(ig_epp_datastore_t *ds, const struct ig_epp_endpoint_decl *d,
                                      const struct sockaddr_storage *sa, uint16_t port)
{
    struct ig_epp_endpoint *ep = ig_calloc(1, sizeof(*ep));
    ig_pool_init(&ep->_pool);
    ig_pool_init(&ep->_mpool[0]);
    ig_pool_init(&ep->_mpool[1]);
    ep->_refs = 1;
    ep->view.id = ds->n_free > 0 ? ds->free_ids[--ds->n_free] : ds->next_id++;
    ep->view.address = ig_pool_dup(&ep->_pool, d->address);
    ep->view.name = ep->view.address; /* no pod behind a static endpoint: its address names it */
    ig_iov_t ip = d->address;
    if (ip.base[0] == '[')
        ip = ig_iov(ip.base + 1, (size_t)((char *)memchr(ip.base, ']', ip.len) - ip.base) - 1);
    else
        ip.len = (size_t)((char *)memchr(ip.base, ':', ip.len) - ip.base);
    ep->view.ip = ig_pool_dup(&ep->_pool, ip);
    ep->addr = *sa;
    ep->port = port;
    ds->refs++;
    apply_decl(ds, ep, d);
    return ep;
}

int ig_epp_datastore_set(ig_epp_datastore_t *ds, const struct ig_epp_endpoint_decl *decls, size_t n, char *err,
                         size_t errlen)
{
    if (n > IG_EPP_MAX_ENDPOINTS) {
        ig_epp__errf(err, errlen, "%zu endpoints: at most %d are supported", n, IG_EPP_MAX_ENDPOINTS);
        return IG_EINVAL;
    }
    struct sockaddr_storage *sas = n ? ig_calloc(n, sizeof(*sas)) : NULL;
    uint16_t *ports = n ? ig_calloc(n, sizeof(*ports)) : NULL;
    struct ig_epp_endpoint **next = n ? ig_calloc(n, sizeof(*next)) : NULL;
    int rc = IG_EINVAL;
    for (size_t i = 0; i < n; i++) {
        const struct ig_epp_endpoint_decl *d = &decls[i];
        if (ig_epp__parse_hostport(d->address, &sas[i], &ports[i]) != 0) {
            ig_epp__errf(err, errlen, "endpoint \"%.*s\": expected a numeric ip:port", (int)d->address.len,
                         d->address.base);
            goto out;
        }
        if (d->n_labels > IG_EPP_MAX_LABELS) {
            ig_epp__errf(err, errlen, "endpoint \"%.*s\": more than %d labels", (int)d->address.len, d->address.base,
                         IG_EPP_MAX_LABELS);
            goto out;
        }
        for (size_t j = 0; j < i; j++) {
            if (ig_iov_eq(decls[j].address, d->address)) {
                ig_epp__errf(err, errlen, "endpoint \"%.*s\" is listed twice", (int)d->address.len, d->address.base);
                goto out;
            }
        }
    }
    /* Validated: from here on nothing fails. Keep endpoints whose address stays. */
    for (size_t i = 0; i < n; i++) {
        struct ig_epp_endpoint *ep = ig_epp_datastore_find(ds, decls[i].address);
        if (ep != NULL) {
            ep->_refs++; /* the new membership's reference; the old one is dropped below */
            apply_decl(ds, ep, &decls[i]);
        } else {
            ep = ep_new(ds, &decls[i], &sas[i], ports[i]);
        }
        next[i] = ep;
    }
    struct ig_epp_endpoint **old = ds->members;
    size_t n_old = ds->n;
    ds->members = next;
    ds->n = ds->cap = n;
    next = NULL;
    drop_current(ds);
    ds->generation++;
    for (size_t i = 0; i < n_old; i++) {
        if (ig_epp_datastore_find(ds, old[i]->view.address) == NULL)
            remove_member(ds, old[i]);
        else
            ep_unref(old[i], ds);
    }
    ig_free(old);
    rc = 0;
out:
    ig_free(sas);
    ig_free(ports);
    ig_free(next);
    return rc;
}

struct ig_epp_snapshot *ig_epp_datastore_snapshot(ig_epp_datastore_t *ds)
{
    if (ds->current == NULL) {
        /* One allocation: the header, then both pointer arrays. */
        size_t n = ds->n;
        struct ig_epp_snapshot *s = ig_calloc(1, sizeof(*s) + 2 * (n ? n : 1) * sizeof(void *));
        struct ig_epp_endpoint **v = (struct ig_epp_endpoint **)(void *)(s + 1);
        struct ig_sched_endpoint **e = (struct ig_sched_endpoint **)(void *)(v + (n ? n : 1));
        for (size_t i = 0; i < n; i++) {
            v[i] = ds->members[i];
            v[i]->_refs++;
            e[i] = &ds->members[i]->view;
        }
        s->v = v;
        s->eps = e;
        s->n = n;
        s->generation = ds->generation;
        s->_refs = 1; /* the datastore's */
        s->_ds = ds;
        ds->refs++;
        ds->current = s;
    }
    ds->current->_refs++;
    return ds->current;
}

/* ---- metrics ----------------------------------------------------------------------------------- */

static const ig_iov_t *copy_list(ig_pool_t *pool, const ig_iov_t *src, size_t n)
{
    if (n == 0)
        return NULL;
    ig_iov_t *dst = ig_pool_alloc(pool, n * sizeof(*dst));
    for (size_t i = 0; i < n; i++)
        dst[i] = ig_pool_dup(pool, src[i]);
    return dst;
}

void ig_epp_endpoint_set_metrics(struct ig_epp_endpoint *ep, const struct ig_sched_metrics *m, uint64_t now_ns)
{
    struct ig_sched_metrics *dst = &ep->view.metrics;
    const ig_iov_t *active = dst->active_models, *waiting = dst->waiting_models;
    int same = m->n_active_models == dst->n_active_models && m->n_waiting_models == dst->n_waiting_models;
    for (size_t i = 0; same && i < m->n_active_models; i++)
        same = ig_iov_eq(m->active_models[i], dst->active_models[i]);
    for (size_t i = 0; same && i < m->n_waiting_models; i++)
        same = ig_iov_eq(m->waiting_models[i], dst->waiting_models[i]);
    if (!same) {
        /*
         * The lists go to the other arena, which held the lists before the current ones: no
         * reader can still hold those, since the current lists replaced them a scrape ago.
         */
        ig_pool_t *pool = &ep->_mpool[!ep->_mcur];
        ig_pool_clear(pool);
        active = copy_list(pool, m->active_models, m->n_active_models);
        waiting = copy_list(pool, m->waiting_models, m->n_waiting_models);
        ep->_mcur = !ep->_mcur;
    }
    *dst = *m;
    dst->active_models = active;
    dst->waiting_models = waiting;
    dst->update_time_ns = now_ns;
}
