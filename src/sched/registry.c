/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The static plugin registry: every plugin type name the EndpointPickerConfig may use, what it
 * can act as, its parameters (key, kind, bounds) and defaults, and its ops tables. No dlopen and
 * no linker-section tricks: one table, searched by name at config load.
 *
 * Types that only the EPP runs (data layer, flow control, reporters, parsers) are listed so a
 * reference config loads unchanged; their parameters are the EPP's to check.
 */
#include "sched_int.h"

#include <string.h>

extern const struct ig_sched_scorer_ops ig_sched__queue_scorer_ops, ig_sched__kv_scorer_ops,
    ig_sched__running_scorer_ops, ig_sched__lora_scorer_ops, ig_sched__token_load_scorer_ops;
extern const struct ig_sched_picker_ops ig_sched__max_score_picker_ops, ig_sched__random_picker_ops,
    ig_sched__weighted_random_picker_ops;
extern const struct ig_sched_filter_ops ig_sched__header_filter_ops, ig_sched__prefill_filter_ops,
    ig_sched__decode_filter_ops, ig_sched__util_filter_ops, ig_sched__conc_filter_ops, ig_sched__affinity_filter_ops;
extern const struct ig_sched_detector_ops ig_sched__util_detector_ops, ig_sched__conc_detector_ops;

#define P(k, kind, field, lo, hi)                                                                                      \
    {                                                                                                                  \
        k, kind, offsetof(struct ig_sched_params, field), lo, hi                                                       \
    }
#define NO_MAX 1e18

static const struct ig_sched_param_desc picker_params[] = {
    P("maxNumOfEndpoints", IG_SP_INT, max_num_of_endpoints, -NO_MAX, NO_MAX),
};
static const struct ig_sched_param_desc prefix_params[] = {
    P("autoTune", IG_SP_BOOL, auto_tune, 0, 1),
    P("blockSizeTokens", IG_SP_INT, block_size_tokens, 1, 1 << 20),
    P("maxPrefixBlocksToMatch", IG_SP_INT, max_prefix_blocks_to_match, 0, 1 << 30),
    P("maxPrefixTokensToMatch", IG_SP_INT, max_prefix_tokens_to_match, 0, 1 << 30),
    P("lruCapacityPerServer", IG_SP_INT, lru_capacity_per_server, 1, 1 << 30),
    P("blockSize", IG_SP_DEPRECATED_BLOCK_SIZE, block_size_tokens, 1, 1 << 20),
};
static const struct ig_sched_param_desc token_load_params[] = {
    P("queueThresholdTokens", IG_SP_INT, queue_threshold_tokens, 1, NO_MAX),
};
static const struct ig_sched_param_desc util_params[] = {
    P("queueDepthThreshold", IG_SP_INT, queue_depth_threshold, 1, NO_MAX),
    P("kvCacheUtilThreshold", IG_SP_FLOAT, kv_cache_util_threshold, 1e-9, 1.0),
    P("metricsStalenessThreshold", IG_SP_DURATION, metrics_staleness_ns, 0, NO_MAX),
    P("headroom", IG_SP_FLOAT, headroom, 0, NO_MAX),
};
static const struct ig_sched_param_desc affinity_params[] = {
    P("affinityThreshold", IG_SP_FLOAT, affinity_threshold, 0, 1.0),
    P("queueDepthThreshold", IG_SP_INT, queue_depth_threshold, 0, NO_MAX),
    P("kvCacheUtilThreshold", IG_SP_FLOAT, kv_cache_util_threshold, 0, 1.0),
};
static const struct ig_sched_param_desc conc_params[] = {
    P("concurrencyMode", IG_SP_CONC_MODE, concurrency_tokens, 0, 1),
    P("maxConcurrency", IG_SP_INT, max_concurrency, 1, NO_MAX),
    P("maxTokenConcurrency", IG_SP_INT, max_token_concurrency, 1, NO_MAX),
    P("headroom", IG_SP_FLOAT, headroom, 0, NO_MAX),
};
static const struct ig_sched_param_desc mds_params[] = {
    P("scheme", IG_SP_STRING, scheme, 0, 0),
    P("path", IG_SP_STRING, path, 0, 0),
    P("insecureSkipVerify", IG_SP_BOOL, insecure_skip_verify, 0, 1),
};

static void defaults(struct ig_sched_params *p)
{
    memset(p, 0, sizeof(*p));
    p->max_num_of_endpoints = 1;
    p->auto_tune = 1;
    p->block_size_tokens = 16;
    p->max_prefix_blocks_to_match = 256;
    p->max_prefix_tokens_to_match = 0;
    p->lru_capacity_per_server = 31250;
    p->queue_threshold_tokens = 4194304;
    p->queue_depth_threshold = 5;
    p->kv_cache_util_threshold = 0.8;
    p->metrics_staleness_ns = 200 * 1000000ull;
    p->headroom = 0.0;
    p->affinity_threshold = 0.5;
    p->concurrency_tokens = 0;
    p->max_concurrency = 100;
    p->max_token_concurrency = 1000000;
    p->scheme = IG_STRLIT("http");
    p->path = IG_STRLIT("/metrics");
    p->insecure_skip_verify = 1;
}

static const struct ig_sched_producer_ops inflight_producer_ops = {.name = "inflight-load-producer"};
static const struct ig_sched_profile_handler_ops single_profile_ops = {.name = "single-profile-handler",
                                                                       .max_profiles = 1};

#define PARAMS(a) .params = a, .n_params = IG_ARRAY_LEN(a)
#define OTHER(t)                                                                                                       \
    {                                                                                                                  \
        .type = t, .kinds = IG_SCHED_OTHER, .any_params = 1, .defaults = defaults                                      \
    }

static const struct ig_sched_plugin_type types[] = {
    /* filters */
    {.type = "header-based-testing-filter",
     .kinds = IG_SCHED_FILTER,
     .defaults = defaults,
     .filter = &ig_sched__header_filter_ops},
    {.type = "prefill-filter", .kinds = IG_SCHED_FILTER, .defaults = defaults, .filter = &ig_sched__prefill_filter_ops},
    {.type = "decode-filter", .kinds = IG_SCHED_FILTER, .defaults = defaults, .filter = &ig_sched__decode_filter_ops},
    {.type = "prefix-affinity-filter",
     .kinds = IG_SCHED_FILTER,
     PARAMS(affinity_params),
     .defaults = defaults,
     .needs = "approx-prefix-cache-producer",
     .filter = &ig_sched__affinity_filter_ops},
    /* scorers */
    {.type = "queue-scorer", .kinds = IG_SCHED_SCORER, .defaults = defaults, .scorer = &ig_sched__queue_scorer_ops},
    {.type = "kv-cache-utilization-scorer",
     .kinds = IG_SCHED_SCORER,
     .defaults = defaults,
     .scorer = &ig_sched__kv_scorer_ops},
    {.type = "running-requests-size-scorer",
     .kinds = IG_SCHED_SCORER,
     .defaults = defaults,
     .scorer = &ig_sched__running_scorer_ops},
    {.type = "lora-affinity-scorer",
     .kinds = IG_SCHED_SCORER,
     .defaults = defaults,
     .scorer = &ig_sched__lora_scorer_ops},
    /* The producer owns the parameters; older configs put them on the scorer, which then hands
     * them to the producer the loader adds. */
    {.type = "prefix-cache-scorer",
     .kinds = IG_SCHED_SCORER,
     PARAMS(prefix_params),
     .defaults = defaults,
     .needs = "approx-prefix-cache-producer",
     .scorer = &ig_sched__prefix_scorer_ops},
    {.type = "token-load-scorer",
     .kinds = IG_SCHED_SCORER,
     PARAMS(token_load_params),
     .defaults = defaults,
     .needs = "inflight-load-producer",
     .scorer = &ig_sched__token_load_scorer_ops},
    /* pickers */
    {.type = "max-score-picker",
     .kinds = IG_SCHED_PICKER,
     PARAMS(picker_params),
     .defaults = defaults,
     .picker = &ig_sched__max_score_picker_ops},
    {.type = "random-picker",
     .kinds = IG_SCHED_PICKER,
     PARAMS(picker_params),
     .defaults = defaults,
     .picker = &ig_sched__random_picker_ops},
    {.type = "weighted-random-picker",
     .kinds = IG_SCHED_PICKER,
     PARAMS(picker_params),
     .defaults = defaults,
     .picker = &ig_sched__weighted_random_picker_ops},
    /* profile handler */
    {.type = "single-profile-handler",
     .kinds = IG_SCHED_PROFILE_HANDLER,
     .defaults = defaults,
     .profile_handler = &single_profile_ops},
    /* data producers */
    {.type = "approx-prefix-cache-producer",
     .kinds = IG_SCHED_PRODUCER,
     PARAMS(prefix_params),
     .defaults = defaults,
     .init = ig_sched__prefix_init,
     .destroy = ig_sched__prefix_destroy,
     .producer = &ig_sched__prefix_producer_ops},
    {.type = "inflight-load-producer",
     .kinds = IG_SCHED_PRODUCER,
     .defaults = defaults,
     .producer = &inflight_producer_ops},
    /* saturation detectors, usable as filters too */
    {.type = "utilization-detector",
     .kinds = IG_SCHED_DETECTOR | IG_SCHED_FILTER,
     PARAMS(util_params),
     .defaults = defaults,
     .filter = &ig_sched__util_filter_ops,
     .detector = &ig_sched__util_detector_ops},
    {.type = "concurrency-detector",
     .kinds = IG_SCHED_DETECTOR | IG_SCHED_FILTER,
     PARAMS(conc_params),
     .defaults = defaults,
     .filter = &ig_sched__conc_filter_ops,
     .detector = &ig_sched__conc_detector_ops},
    /* parsers */
    {.type = "openai-parser", .kinds = IG_SCHED_PARSER, .defaults = defaults},
    {.type = "passthrough-parser", .kinds = IG_SCHED_PARSER, .defaults = defaults},
    /* run by the EPP */
    {.type = "metrics-data-source", .kinds = IG_SCHED_OTHER, PARAMS(mds_params), .defaults = defaults},
    OTHER("core-metrics-extractor"),
    OTHER("k8s-notification-source"),
    OTHER("endpoint-notification-source"),
    OTHER("request-attribute-reporter"),
    OTHER("destination-endpoint-served-verifier"),
    OTHER("global-strict-fairness-policy"),
    OTHER("round-robin-fairness-policy"),
    OTHER("fcfs-ordering-policy"),
    OTHER("edf-ordering-policy"),
    OTHER("slo-deadline-ordering-policy"),
    OTHER("static-usage-limit-policy"),
    OTHER("eviction-sheddable-filter"),
    OTHER("eviction-priority-then-time-ordering"),
};

const struct ig_sched_plugin_type *ig_sched__type_find(ig_iov_t name)
{
    for (size_t i = 0; i < IG_ARRAY_LEN(types); i++)
        if (ig_iov_eq(name, ig_iov_cstr(types[i].type)))
            return &types[i];
    return NULL;
}

const struct ig_sched_plugin_type *ig_sched__types(size_t *n)
{
    *n = IG_ARRAY_LEN(types);
    return types;
}

uint64_t ig_sched__rand(struct ig_sched *s)
{
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * UINT64_C(2685821657736338717);
}

double ig_sched__rand_unit(struct ig_sched *s)
{
    double u = (double)(ig_sched__rand(s) >> 11) * (1.0 / 9007199254740992.0); /* [0, 1) */
    u = 1.0 - u;                                                               /* (0, 1] */
    return u > 0 ? u : 1e-10;
}
