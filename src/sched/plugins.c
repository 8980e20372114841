/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The in-tree filters, scorers, pickers and saturation detectors of the reference EPP, each a
 * const ops table (registered in registry.c). Formulas and defaults follow the reference; every
 * function works over caller-provided arrays and allocates nothing.
 */
#include "sched_int.h"

#include <math.h>
#include <string.h>

/* ---- scorers ---------------------------------------------------------------------------------- */

/* Min-max normalisation, lower is better; all equal -> 1.0 (queue-scorer, running-requests-size-scorer). */
#define MINMAX_LOW_BETTER(eps, n, scores, field)                                                                       \
    do {                                                                                                               \
        int64_t lo_ = INT64_MAX, hi_ = INT64_MIN;                                                                      \
        for (size_t i_ = 0; i_ < (n); i_++) {                                                                          \
            lo_ = IG_MIN(lo_, (eps)[i_]->metrics.field);                                                               \
            hi_ = IG_MAX(hi_, (eps)[i_]->metrics.field);                                                               \
        }                                                                                                              \
        for (size_t i_ = 0; i_ < (n); i_++)                                                                            \
            (scores)[i_] = hi_ == lo_ ? 1.0 : (double)(hi_ - (eps)[i_]->metrics.field) / (double)(hi_ - lo_);          \
    } while (0)

static void queue_score(const struct ig_sched_plugin *p, struct ig_sched_cycle *cy,
                        struct ig_sched_endpoint *const *eps, size_t n, double *scores)
{
    (void)p;
    (void)cy;
    MINMAX_LOW_BETTER(eps, n, scores, waiting_queue_size);
}

static void running_score(const struct ig_sched_plugin *p, struct ig_sched_cycle *cy,
                          struct ig_sched_endpoint *const *eps, size_t n, double *scores)
{
    (void)p;
    (void)cy;
    MINMAX_LOW_BETTER(eps, n, scores, running_requests_size);
}

static void kv_score(const struct ig_sched_plugin *p, struct ig_sched_cycle *cy, struct ig_sched_endpoint *const *eps,
                     size_t n, double *scores)
{
    (void)p;
    (void)cy;
    for (size_t i = 0; i < n; i++)
        scores[i] = 1.0 - eps[i]->metrics.kv_cache_usage_percent;
}

static int in_list(const ig_iov_t *list, size_t n, ig_iov_t s)
{
    for (size_t i = 0; i < n; i++)
        if (ig_iov_eq(list[i], s))
            return 1;
    return 0;
}

static void lora_score(const struct ig_sched_plugin *p, struct ig_sched_cycle *cy, struct ig_sched_endpoint *const *eps,
                       size_t n, double *scores)
{
    (void)p;
    ig_iov_t model = cy->req->target_model;
    if (model.len == 0 && cy->req->body != NULL)
        model = cy->req->body->model;
    for (size_t i = 0; i < n; i++) {
        const struct ig_sched_metrics *m = &eps[i]->metrics;
        if (in_list(m->active_models, m->n_active_models, model))
            scores[i] = 1.0;
        else if ((int64_t)(m->n_active_models + m->n_waiting_models) < m->max_active_models)
            scores[i] = 0.8;
        else if (in_list(m->waiting_models, m->n_waiting_models, model))
            scores[i] = 0.6;
        else
            scores[i] = 0.0;
    }
}

static void token_load_score(const struct ig_sched_plugin *p, struct ig_sched_cycle *cy,
                             struct ig_sched_endpoint *const *eps, size_t n, double *scores)
{
    (void)cy;
    double t = (double)p->cfg->params.queue_threshold_tokens;
    for (size_t i = 0; i < n; i++) {
        double load = (double)IG_MAX(eps[i]->inflight_tokens, 0);
        scores[i] = 1.0 - IG_MIN(load, t) / t;
    }
}

const struct ig_sched_scorer_ops ig_sched__queue_scorer_ops = {
    .name = "queue-scorer", .category = IG_SCHED_CAT_DISTRIBUTION, .score = queue_score};
const struct ig_sched_scorer_ops ig_sched__kv_scorer_ops = {
    .name = "kv-cache-utilization-scorer", .category = IG_SCHED_CAT_DISTRIBUTION, .score = kv_score};
const struct ig_sched_scorer_ops ig_sched__running_scorer_ops = {
    .name = "running-requests-size-scorer", .category = IG_SCHED_CAT_DISTRIBUTION, .score = running_score};
const struct ig_sched_scorer_ops ig_sched__lora_scorer_ops = {
    .name = "lora-affinity-scorer", .category = IG_SCHED_CAT_AFFINITY, .score = lora_score};
const struct ig_sched_scorer_ops ig_sched__token_load_scorer_ops = {
    .name = "token-load-scorer", .category = IG_SCHED_CAT_DISTRIBUTION, .score = token_load_score};

/* ---- pickers ----------------------------------------------------------------------------------- */

static size_t n_wanted(const struct ig_sched_plugin *p, size_t n, size_t max)
{
    int64_t want = p->cfg->params.max_num_of_endpoints;
    if (want <= 0)
        want = 1;
    return IG_MIN(IG_MIN((size_t)want, n), max);
}

/* Partial Fisher-Yates: the first |k| entries become a uniform random sample, in random order. */
static void shuffle_prefix(struct ig_sched *s, struct ig_sched_scored *sc, size_t n, size_t k)
{
    for (size_t i = 0; i < k && i + 1 < n; i++) {
        size_t j = i + (size_t)(ig_sched__rand(s) % (n - i));
        struct ig_sched_scored t = sc[i];
        sc[i] = sc[j];
        sc[j] = t;
    }
}

/*
 * max-score-picker: upstream shuffles, then stable-sorts by score and takes the top N, i.e. ties
 * are broken uniformly at random. For N = 1 that is a reservoir draw among the maxima (one pass,
 * no shuffle); for N > 1, after a full shuffle a selection of the N best keeps the first of equals.
 */
static size_t max_score_pick(const struct ig_sched_plugin *p, struct ig_sched_cycle *cy, struct ig_sched_scored *sc,
                             size_t n, struct ig_sched_pick *out, size_t max)
{
    (void)cy;
    size_t want = n_wanted(p, n, max);
    if (want == 1) {
        size_t best = 0, ties = 1;
        for (size_t i = 1; i < n; i++) {
            if (sc[i].score > sc[best].score) {
                best = i;
                ties = 1;
            } else if (sc[i].score == sc[best].score && ig_sched__rand(p->sched) % ++ties == 0) {
                best = i;
            }
        }
        out[0] = (struct ig_sched_pick){sc[best].ep, sc[best].score};
        return 1;
    }
    shuffle_prefix(p->sched, sc, n, n);
    for (size_t k = 0; k < want; k++) {
        size_t best = k;
        for (size_t i = k + 1; i < n; i++)
            if (sc[i].score > sc[best].score)
                best = i;
        /* Rotate rather than swap so the shuffled order of the rest is kept (stable selection). */
        struct ig_sched_scored t = sc[best];
        memmove(&sc[k + 1], &sc[k], (best - k) * sizeof(*sc));
        sc[k] = t;
        out[k] = (struct ig_sched_pick){t.ep, t.score};
    }
    return want;
}

static size_t random_pick(const struct ig_sched_plugin *p, struct ig_sched_cycle *cy, struct ig_sched_scored *sc,
                          size_t n, struct ig_sched_pick *out, size_t max)
{
    (void)cy;
    size_t want = n_wanted(p, n, max);
    shuffle_prefix(p->sched, sc, n, want);
    for (size_t k = 0; k < want; k++)
        out[k] = (struct ig_sched_pick){sc[k].ep, sc[k].score};
    return want;
}

/* weighted-random-picker: A-Res (Efraimidis-Spirakis), key = U^(1/score), top N keys. */
static size_t weighted_random_pick(const struct ig_sched_plugin *p, struct ig_sched_cycle *cy,
                                   struct ig_sched_scored *sc, size_t n, struct ig_sched_pick *out, size_t max)
{
    size_t want = n_wanted(p, n, max);
    int any = 0;
    for (size_t i = 0; i < n; i++)
        any |= sc[i].score > 0;
    if (!any)
        return random_pick(p, cy, sc, n, out, max);
    double *key = p->sched->keys; /* room for n, see ig_sched_schedule */
    for (size_t i = 0; i < n; i++) {
        if (sc[i].score <= 0) {
            key[i] = 0;
            continue;
        }
        double u = ig_sched__rand_unit(p->sched);
        key[i] = pow(u, 1.0 / sc[i].score);
    }
    for (size_t k = 0; k < want; k++) {
        size_t best = k;
        for (size_t i = k + 1; i < n; i++)
            if (key[i] > key[best])
                best = i;
        struct ig_sched_scored t = sc[best];
        double tk = key[best];
        sc[best] = sc[k];
        key[best] = key[k];
        sc[k] = t;
        key[k] = tk;
        out[k] = (struct ig_sched_pick){t.ep, t.score};
    }
    return want;
}

const struct ig_sched_picker_ops ig_sched__max_score_picker_ops = {.name = "max-score-picker", .pick = max_score_pick};
const struct ig_sched_picker_ops ig_sched__random_picker_ops = {.name = "random-picker", .pick = random_pick};
const struct ig_sched_picker_ops ig_sched__weighted_random_picker_ops = {.name = "weighted-random-picker",
                                                                         .pick = weighted_random_pick};

/* ---- filters ----------------------------------------------------------------------------------- */

#define TEST_SELECTION_HEADER "test-epp-endpoint-selection"

static ig_iov_t find_header(const struct ig_sched_request *req, const char *name)
{
    ig_iov_t key = ig_iov_cstr(name);
    for (size_t i = 0; i < req->n_headers; i++)
        if (ig_iov_eq_nocase(req->headers[i].key, key))
            return req->headers[i].value;
    return IG_IOV_NULL;
}

/* Keeps endpoints whose IP or ip:port is listed in the header; no header keeps none (test only). */
static size_t header_filter(const struct ig_sched_plugin *p, struct ig_sched_cycle *cy,
                            struct ig_sched_endpoint *const *in, size_t n, struct ig_sched_endpoint **out)
{
    (void)p;
    ig_iov_t v = find_header(cy->req, TEST_SELECTION_HEADER);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = v.base, *end = v.base + v.len;
        while (s != NULL && s < end) {
            const char *comma = memchr(s, ',', (size_t)(end - s));
            const char *e = comma != NULL ? comma : end;
            ig_iov_t item = ig_iov_trim(ig_iov(s, (size_t)(e - s)));
            if (item.len > 0 && (ig_iov_eq(item, in[i]->ip) || ig_iov_eq(item, in[i]->address))) {
                out[k++] = in[i];
                break;
            }
            s = comma != NULL ? comma + 1 : NULL;
        }
    }
    return k;
}

#define ROLE_LABEL "llm-d.ai/role"

static size_t prefill_filter(const struct ig_sched_plugin *p, struct ig_sched_cycle *cy,
                             struct ig_sched_endpoint *const *in, size_t n, struct ig_sched_endpoint **out)
{
    (void)p;
    (void)cy;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (ig_iov_eq(ig_sched_endpoint_label(in[i], ROLE_LABEL), IG_STRLIT("prefill")))
            out[k++] = in[i];
    return k;
}

static size_t decode_filter(const struct ig_sched_plugin *p, struct ig_sched_cycle *cy,
                            struct ig_sched_endpoint *const *in, size_t n, struct ig_sched_endpoint **out)
{
    (void)p;
    (void)cy;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        ig_iov_t role = ig_sched_endpoint_label(in[i], ROLE_LABEL);
        if (role.base == NULL || ig_iov_eq(role, IG_STRLIT("decode")) || ig_iov_eq(role, IG_STRLIT("both")))
            out[k++] = in[i];
    }
    return k;
}

const struct ig_sched_filter_ops ig_sched__header_filter_ops = {.name = "header-based-testing-filter",
                                                                .filter = header_filter};
const struct ig_sched_filter_ops ig_sched__prefill_filter_ops = {.name = "prefill-filter", .filter = prefill_filter};
const struct ig_sched_filter_ops ig_sched__decode_filter_ops = {.name = "decode-filter", .filter = decode_filter};

/* ---- saturation detectors ------------------------------------------------------------------------ */

static int fresh(const struct ig_sched_endpoint *ep, uint64_t now, uint64_t staleness)
{
    return ep->metrics.update_time_ns != 0 && now >= ep->metrics.update_time_ns &&
           now - ep->metrics.update_time_ns <= staleness;
}

/* utilization-detector: mean over endpoints of max(q / qT, kv / kvT); stale or missing -> 1.0. */
static double util_saturation(const struct ig_sched_plugin *p, struct ig_sched_endpoint *const *eps, size_t n,
                              uint64_t now)
{
    const struct ig_sched_params *prm = &p->cfg->params;
    if (n == 0)
        return 1.0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (!fresh(eps[i], now, prm->metrics_staleness_ns)) {
            sum += 1.0;
            continue;
        }
        double q = (double)eps[i]->metrics.waiting_queue_size / (double)prm->queue_depth_threshold;
        double kv = eps[i]->metrics.kv_cache_usage_percent / prm->kv_cache_util_threshold;
        sum += IG_MAX(q, kv);
    }
    return sum / (double)n;
}

/* As a filter: fresh endpoints under both thresholds (with headroom); none -> all (fail open). */
static size_t util_filter(const struct ig_sched_plugin *p, struct ig_sched_cycle *cy,
                          struct ig_sched_endpoint *const *in, size_t n, struct ig_sched_endpoint **out)
{
    const struct ig_sched_params *prm = &p->cfg->params;
    double qmax = (double)prm->queue_depth_threshold * (1.0 + prm->headroom);
    double kvmax = prm->kv_cache_util_threshold * (1.0 + prm->headroom);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (fresh(in[i], cy->req->now_ns, prm->metrics_staleness_ns) &&
            (double)in[i]->metrics.waiting_queue_size < qmax && in[i]->metrics.kv_cache_usage_percent < kvmax)
            out[k++] = in[i];
    if (k == 0) {
        memcpy(out, in, n * sizeof(*out));
        k = n;
    }
    return k;
}

static double conc_capacity(const struct ig_sched_params *prm)
{
    return prm->concurrency_tokens ? (double)prm->max_token_concurrency : (double)prm->max_concurrency;
}

static double conc_load(const struct ig_sched_params *prm, const struct ig_sched_endpoint *ep)
{
    return (double)IG_MAX(prm->concurrency_tokens ? ep->inflight_tokens : ep->inflight_requests, 0);
}

/* concurrency-detector: sum of in-flight over sum of capacity. */
static double conc_saturation(const struct ig_sched_plugin *p, struct ig_sched_endpoint *const *eps, size_t n,
                              uint64_t now)
{
    (void)now;
    const struct ig_sched_params *prm = &p->cfg->params;
    if (n == 0)
        return 1.0;
    double load = 0;
    for (size_t i = 0; i < n; i++)
        load += conc_load(prm, eps[i]);
    return load / (conc_capacity(prm) * (double)n);
}

static size_t conc_filter(const struct ig_sched_plugin *p, struct ig_sched_cycle *cy,
                          struct ig_sched_endpoint *const *in, size_t n, struct ig_sched_endpoint **out)
{
    (void)cy;
    const struct ig_sched_params *prm = &p->cfg->params;
    double cap = conc_capacity(prm) * (1.0 + prm->headroom);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (conc_load(prm, in[i]) < cap)
            out[k++] = in[i];
    return k;
}

const struct ig_sched_detector_ops ig_sched__util_detector_ops = {.name = "utilization-detector",
                                                                  .saturation = util_saturation};
const struct ig_sched_filter_ops ig_sched__util_filter_ops = {.name = "utilization-detector", .filter = util_filter};
const struct ig_sched_detector_ops ig_sched__conc_detector_ops = {.name = "concurrency-detector",
                                                                  .saturation = conc_saturation};
const struct ig_sched_filter_ops ig_sched__conc_filter_ops = {.name = "concurrency-detector", .filter = conc_filter};
