/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scheduler: plugin instances built from an EndpointPickerConfig, legacy admission, and one
 * scheduling cycle (PrepareData producers, then the profile's filters, weighted scorers and
 * picker, then PreRequest). Per request it allocates a handful of arrays from the caller's arena,
 * never one object per endpoint.
 */
#include "sched_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

ig_iov_t ig_sched_endpoint_label(const struct ig_sched_endpoint *ep, const char *key)
{
    ig_iov_t k = ig_iov_cstr(key);
    for (size_t i = 0; i < ep->n_labels; i++)
        if (ig_iov_eq(ep->labels[i].key, k))
            return ep->labels[i].value;
    return IG_IOV_NULL;
}

void ig_sched_cycle_init(struct ig_sched_cycle *cy, const struct ig_sched_request *req, ig_pool_t *pool)
{
    cy->req = req;
    cy->pool = pool;
    cy->profile = NULL;
    cy->n_picks = 0;
    cy->_n_hashes = 0;
    cy->_block_chars = 0;
    cy->_seq = 0;
    cy->_tokens = 0;
    cy->_counted = 0;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) IG_PRINTF(3, 4);
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err != NULL && errlen > 0)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return IG_EINVAL;
}

void ig_sched_destroy(struct ig_sched *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_plugins; i++)
        if (s->plugins[i].t != NULL && s->plugins[i].t->destroy != NULL)
            s->plugins[i].t->destroy(&s->plugins[i]);
    ig_pool_dispose(&s->pool);
    ig_free(s->scratch);
    ig_free(s);
}

static int build_profile(struct ig_sched *s, const struct ig_epc_profile *cp, struct ig_sched_profile *pr, char *err,
                         size_t errlen)
{
    pr->name = cp->name.base;
    pr->filters = ig_pool_calloc(&s->pool, (cp->n_refs + 1) * sizeof(*pr->filters));
    pr->scorers = ig_pool_calloc(&s->pool, (cp->n_refs + 1) * sizeof(*pr->scorers));
    for (size_t i = 0; i < cp->n_refs; i++) {
        struct ig_sched_plugin *p = &s->plugins[cp->refs[i].plugin];
        unsigned k = p->t->kinds;
        if (k & IG_SCHED_SCORER) {
            pr->scorers[pr->n_scorers++] = (struct ig_sched_wscorer){p, cp->refs[i].weight};
        } else if (k & IG_SCHED_PICKER) {
            if (pr->picker != NULL)
                return fail(err, errlen, "profile %s: more than one picker (%s)", pr->name, p->cfg->name.base);
            pr->picker = p;
        } else if (k & IG_SCHED_FILTER) {
            pr->filters[pr->n_filters++] = p;
        } else {
            return fail(err, errlen, "profile %s: plugin %s is not a filter, scorer or picker", pr->name,
                        p->cfg->name.base);
        }
    }
    if (pr->picker == NULL)
        return fail(err, errlen, "profile %s: no picker", pr->name);
    return 0;
}

int ig_sched_create(const struct ig_epc *cfg, uint64_t seed, struct ig_sched **out, char *err, size_t errlen)
{
    struct ig_sched *s = ig_calloc(1, sizeof(*s));
    int rc = 0;

    ig_pool_init(&s->pool);
    s->cfg = cfg;
    s->rng = seed != 0 ? seed : (ig_time_ns() | 1);
    s->n_plugins = cfg->n_plugins;
    s->plugins = ig_pool_calloc(&s->pool, (cfg->n_plugins + 1) * sizeof(*s->plugins));
    for (size_t i = 0; i < cfg->n_plugins; i++) {
        struct ig_sched_plugin *p = &s->plugins[i];
        p->cfg = &cfg->plugins[i];
        p->t = cfg->plugins[i].t;
        p->sched = s;
        if (p->t == NULL) {
            rc = fail(err, errlen, "plugin %s: unknown type %s", p->cfg->name.base, p->cfg->type.base);
            goto fail;
        }
        if (p->t->init != NULL && (rc = p->t->init(p, err, errlen)) != 0)
            goto fail;
        if (p->t->producer == &ig_sched__prefix_producer_ops && s->prefix == NULL)
            s->prefix = p;
    }
    if (cfg->saturation_detector < cfg->n_plugins)
        s->detector = &s->plugins[cfg->saturation_detector];
    if (cfg->n_profiles == 0) {
        rc = fail(err, errlen, "no scheduling profile");
        goto fail;
    }
    s->n_profiles = cfg->n_profiles;
    s->profiles = ig_pool_calloc(&s->pool, cfg->n_profiles * sizeof(*s->profiles));
    for (size_t i = 0; i < cfg->n_profiles; i++)
        if ((rc = build_profile(s, &cfg->profiles[i], &s->profiles[i], err, errlen)) != 0)
            goto fail;
    *out = s;
    return 0;
fail:
    ig_sched_destroy(s);
    *out = NULL;
    return rc;
}

static int req_error(struct ig_sched_error *err, int status, const char *msg)
{
    if (err != NULL) {
        err->status = status;
        snprintf(err->msg, sizeof(err->msg), "inference error: %s", msg);
    }
    return status == 503 ? IG_ENOTFOUND : IG_EAGAIN;
}

double ig_sched_saturation(const struct ig_sched *s, struct ig_sched_endpoint *const *eps, size_t n, uint64_t now_ns)
{
    if (s->detector == NULL || s->detector->t->detector == NULL)
        return n == 0 ? 1.0 : 0.0;
    return s->detector->t->detector->saturation(s->detector, eps, n, now_ns);
}

int ig_sched_admit(const struct ig_sched *s, const struct ig_sched_request *req, struct ig_sched_endpoint *const *eps,
                   size_t n, struct ig_sched_error *err)
{
    if (req->priority >= 0)
        return 0;
    if (ig_sched_saturation(s, eps, n, req->now_ns) >= 1.0)
        return req_error(err, 429, "ResourceExhausted - system saturated, sheddable request dropped");
    return 0;
}

const char *ig_sched_ext_point_name(enum ig_sched_ext_point p)
{
    static const char *const names[IG_SCHED_EXT_COUNT] = {"Filter", "Scorer", "Picker"};
    return (unsigned)p < IG_SCHED_EXT_COUNT ? names[p] : "Unknown";
}

void ig_sched_set_timing(struct ig_sched *s, ig_sched_timing_cb cb, void *arg)
{
    s->timing = cb;
    s->timing_arg = arg;
}

static void timed(const struct ig_sched *s, enum ig_sched_ext_point point, const struct ig_sched_plugin *p, uint64_t t0)
{
    s->timing(s->timing_arg, point, p->cfg->type.base, p->cfg->name.base, ig_time_ns() - t0);
}

int ig_sched_schedule(struct ig_sched *s, struct ig_sched_cycle *cy, struct ig_sched_endpoint *const *eps, size_t n,
                      struct ig_sched_error *err)
{
    const struct ig_sched_request *req = cy->req;
    cy->n_picks = 0;
    if (n == 0)
        return req_error(err, 503, "ServiceUnavailable - failed to find endpoint candidates");
    cy->_tokens = req->body != NULL ? (int64_t)(req->body->prefix_len / 4) : 0;

    for (size_t i = 0; i < s->n_plugins; i++) {
        struct ig_sched_plugin *p = &s->plugins[i];
        if (p->t->producer != NULL && p->t->producer->prepare != NULL)
            p->t->producer->prepare(p, cy, eps, n);
    }

    /* One layout per cycle: 2n pointers, 3n doubles, n scored pairs (16-byte aligned pieces). */
    if (n > s->scratch_n) {
        ig_free(s->scratch);
        s->scratch = ig_malloc(n * (2 * sizeof(void *) + 3 * sizeof(double) + sizeof(struct ig_sched_scored)));
        s->scratch_n = n;
    }
    struct ig_sched_endpoint **cur = s->scratch;
    struct ig_sched_endpoint **tmp = cur + n;
    double *total = (double *)(void *)(tmp + n);
    double *one = total + n;
    s->keys = one + n;
    struct ig_sched_scored *sc = (struct ig_sched_scored *)(void *)(s->keys + n);

    /* single-profile-handler: the one profile is the primary. */
    const struct ig_sched_profile *pr = &s->profiles[0];
    memcpy(cur, eps, n * sizeof(*cur));
    size_t m = n;
    for (size_t f = 0; f < pr->n_filters; f++) {
        const struct ig_sched_plugin *p = pr->filters[f];
        uint64_t t0 = s->timing != NULL ? ig_time_ns() : 0;
        size_t k = p->t->filter->filter(p, cy, cur, m, tmp);
        if (s->timing != NULL)
            timed(s, IG_SCHED_EXT_FILTER, p, t0);
        if (k == 0) {
            if (err != NULL) {
                err->status = 429;
                snprintf(err->msg, sizeof(err->msg),
                         "inference error: ResourceExhausted - failed to find target endpoint: no endpoints left "
                         "after filter %s",
                         p->cfg->name.base);
            }
            return IG_EAGAIN;
        }
        struct ig_sched_endpoint **t = cur;
        cur = tmp;
        tmp = t;
        m = k;
    }

    memset(total, 0, m * sizeof(double));
    for (size_t k = 0; k < pr->n_scorers; k++) {
        const struct ig_sched_wscorer *w = &pr->scorers[k];
        uint64_t t0 = s->timing != NULL ? ig_time_ns() : 0;
        w->p->t->scorer->score(w->p, cy, cur, m, one);
        if (s->timing != NULL)
            timed(s, IG_SCHED_EXT_SCORER, w->p, t0);
        for (size_t i = 0; i < m; i++) {
            double v = one[i];
            v = v > 1.0 ? 1.0 : (v >= 0.0 ? v : 0.0); /* also maps NaN to 0 */
            total[i] += w->weight * v;
        }
    }
    for (size_t i = 0; i < m; i++)
        sc[i] = (struct ig_sched_scored){cur[i], total[i]};
    uint64_t t0 = s->timing != NULL ? ig_time_ns() : 0;
    cy->n_picks = pr->picker->t->picker->pick(pr->picker, cy, sc, m, cy->picks, IG_SCHED_MAX_PICKS);
    if (s->timing != NULL)
        timed(s, IG_SCHED_EXT_PICKER, pr->picker, t0);
    cy->profile = pr->name;
    return 0;
}

void ig_sched_pre_request(struct ig_sched *s, struct ig_sched_cycle *cy)
{
    if (cy->n_picks == 0 || cy->_counted)
        return;
    for (size_t i = 0; i < s->n_plugins; i++) {
        struct ig_sched_plugin *p = &s->plugins[i];
        if (p->t->producer != NULL && p->t->producer->pre_request != NULL)
            p->t->producer->pre_request(p, cy);
    }
    cy->picks[0].ep->inflight_requests++;
    cy->picks[0].ep->inflight_tokens += cy->_tokens;
    cy->_counted = 1;
}

void ig_sched_request_done(struct ig_sched *s, struct ig_sched_cycle *cy)
{
    (void)s;
    if (!cy->_counted)
        return;
    cy->picks[0].ep->inflight_requests--;
    cy->picks[0].ep->inflight_tokens -= cy->_tokens;
    cy->_counted = 0;
}

void ig_sched_forget_endpoint(struct ig_sched *s, uint32_t id)
{
    if (s->prefix != NULL)
        ig_prefix_index_forget(s->prefix->state, id);
}

int ig_sched_prefix_match(const struct ig_sched *s, const struct ig_sched_cycle *cy, const struct ig_sched_endpoint *ep,
                          size_t *matched, size_t *total, size_t *block_bytes)
{
    if (s->prefix == NULL || cy->_n_hashes == 0 || cy->_seq == 0)
        return IG_ENOTFOUND;
    *matched = ig_prefix_index_matched(s->prefix->state, ep->id, cy->_seq);
    *total = cy->_n_hashes;
    *block_bytes = cy->_block_chars;
    return 0;
}

size_t ig_sched_prefix_index_size(const struct ig_sched *s)
{
    return s->prefix != NULL ? ig_prefix_index_size(s->prefix->state) : 0;
}
