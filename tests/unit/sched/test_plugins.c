/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every plugin's formula through the scheduler: scorers (queue, kv-cache, running requests, LoRA
 * affinity, token load, prefix), pickers (max-score tie-break, random, weighted random, several
 * endpoints), filters (header-based testing, prefill/decode roles), saturation detectors and legacy
 * admission; and the reference's golden cases (lowest queue+KV wins, the loaded LoRA adapter wins,
 * a shared prefix sticks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ig/sched.h"
#include "ig_test_sched.h"

static struct ig_test_endpoints fx;
static struct ig_sched_endpoint *const ep = fx.ep;
static struct ig_sched_endpoint **const eps = fx.eps;
static ig_pool_t pool;
static struct ig_epc *cfg;
static struct ig_sched *sch;
static struct ig_sched_error err;
static const uint64_t NOW = 1000000000000ull;

static void endpoints(size_t n)
{
    ig_test_endpoints_init(&fx, n, "192.168.1.", NOW);
}

static void build(const char *yaml, uint64_t seed)
{
    char e[1024];
    if (ig_test_sched_load(yaml, seed, &cfg, &sch, e, sizeof(e)) != 0)
        fail_msg("config: %s", e);
}

#define HDR "apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\n"

/* One scorer of weight 1 and a picker returning every endpoint with its score. */
static void build_scorer(const char *type, const char *params)
{
    char y[1024];
    snprintf(y, sizeof(y),
             HDR "plugins:\n- type: %s\n%s- type: max-score-picker\n  parameters: {maxNumOfEndpoints: 16}\n"
                 "schedulingProfiles:\n- name: p\n  plugins: [{pluginRef: %s}, {pluginRef: max-score-picker}]\n",
             type, params, type);
    build(y, 7);
}

static int schedule(struct ig_sched_cycle *cy, const struct ig_sched_request *rq, size_t n)
{
    ig_sched_cycle_init(cy, rq, &pool);
    memset(&err, 0, sizeof(err));
    return ig_sched_schedule(sch, cy, eps, n, &err);
}

static double score_of(const struct ig_sched_cycle *cy, size_t i)
{
    for (size_t k = 0; k < cy->n_picks; k++)
        if (cy->picks[k].ep == &ep[i])
            return cy->picks[k].score;
    fail_msg("endpoint %zu not picked", i);
    return -1;
}

static void test_golden_queue_kv(void **state)
{
    (void)state;
    build(ig_epc_default_text, 1);
    endpoints(3);
    ep[0].metrics.waiting_queue_size = 3;
    ep[0].metrics.kv_cache_usage_percent = 0.2;
    ep[1].metrics.waiting_queue_size = 0;
    ep[1].metrics.kv_cache_usage_percent = 0.1;
    ep[2].metrics.waiting_queue_size = 10;
    ep[2].metrics.kv_cache_usage_percent = 0.2;
    struct ig_sched_request rq = {.target_model = IG_STRLIT("m"), .now_ns = NOW};
    struct ig_sched_cycle cy;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(schedule(&cy, &rq, 3), 0);
        assert_int_equal(cy.n_picks, 1);
        assert_ptr_equal(cy.picks[0].ep, &ep[1]);
        assert_string_equal(cy.picks[0].ep->address.base, "192.168.1.2:8000");
        assert_float_equal(cy.picks[0].score, 3.8, 1e-9);
        assert_string_equal(cy.profile, "default");
    }
}

static void test_queue_scorer(void **state)
{
    (void)state;
    build_scorer("queue-scorer", "");
    endpoints(3);
    ep[0].metrics.waiting_queue_size = 3;
    ep[1].metrics.waiting_queue_size = 0;
    ep[2].metrics.waiting_queue_size = 10;
    struct ig_sched_request rq = {.now_ns = NOW};
    struct ig_sched_cycle cy;
    assert_int_equal(schedule(&cy, &rq, 3), 0);
    assert_int_equal(cy.n_picks, 3);
    assert_float_equal(score_of(&cy, 0), 0.7, 1e-9);
    assert_float_equal(score_of(&cy, 1), 1.0, 1e-9);
    assert_float_equal(score_of(&cy, 2), 0.0, 1e-9);
    assert_ptr_equal(cy.picks[0].ep, &ep[1]); /* best first */
    assert_ptr_equal(cy.picks[2].ep, &ep[2]);
    /* all equal -> 1.0 */
    ep[0].metrics.waiting_queue_size = ep[1].metrics.waiting_queue_size = ep[2].metrics.waiting_queue_size = 4;
    assert_int_equal(schedule(&cy, &rq, 3), 0);
    for (size_t i = 0; i < 3; i++)
        assert_float_equal(score_of(&cy, i), 1.0, 1e-9);
}

static void test_kv_and_running_scorers(void **state)
{
    (void)state;
    build_scorer("kv-cache-utilization-scorer", "");
    endpoints(3);
    ep[0].metrics.kv_cache_usage_percent = 0.25;
    ep[1].metrics.kv_cache_usage_percent = 1.0;
    ep[2].metrics.kv_cache_usage_percent = 1.5; /* out of range: clamped to 0 */
    struct ig_sched_request rq = {.now_ns = NOW};
    struct ig_sched_cycle cy;
    assert_int_equal(schedule(&cy, &rq, 3), 0);
    assert_float_equal(score_of(&cy, 0), 0.75, 1e-9);
    assert_float_equal(score_of(&cy, 1), 0.0, 1e-9);
    assert_float_equal(score_of(&cy, 2), 0.0, 1e-9);

    build_scorer("running-requests-size-scorer", "");
    ep[0].metrics.running_requests_size = 2;
    ep[1].metrics.running_requests_size = 6;
    ep[2].metrics.running_requests_size = 4;
    assert_int_equal(schedule(&cy, &rq, 3), 0);
    assert_float_equal(score_of(&cy, 0), 1.0, 1e-9);
    assert_float_equal(score_of(&cy, 1), 0.0, 1e-9);
    assert_float_equal(score_of(&cy, 2), 0.5, 1e-9);
}

static void test_lora_scorer(void **state)
{
    (void)state;
    static const ig_iov_t sql = IG_STRLIT("sql-lora"), other[2] = {IG_STRLIT("a"), IG_STRLIT("b")};
    build_scorer("lora-affinity-scorer", "");
    endpoints(4);
    /* 0: active; 1: room for another adapter; 2: waiting, full; 3: full, absent */
    ep[0].metrics.active_models = &sql;
    ep[0].metrics.n_active_models = 1;
    ep[0].metrics.max_active_models = 1;
    ep[1].metrics.active_models = other;
    ep[1].metrics.n_active_models = 1;
    ep[1].metrics.max_active_models = 4;
    ep[2].metrics.active_models = other;
    ep[2].metrics.n_active_models = 1;
    ep[2].metrics.waiting_models = &sql;
    ep[2].metrics.n_waiting_models = 1;
    ep[2].metrics.max_active_models = 2;
    ep[3].metrics.active_models = other;
    ep[3].metrics.n_active_models = 2;
    ep[3].metrics.max_active_models = 2;
    struct ig_sched_request rq = {.target_model = sql, .now_ns = NOW};
    struct ig_sched_cycle cy;
    assert_int_equal(schedule(&cy, &rq, 4), 0);
    assert_float_equal(score_of(&cy, 0), 1.0, 1e-9);
    assert_float_equal(score_of(&cy, 1), 0.8, 1e-9);
    assert_float_equal(score_of(&cy, 2), 0.6, 1e-9);
    assert_float_equal(score_of(&cy, 3), 0.0, 1e-9);
}

/* Golden: with queue, kv and LoRA affinity, the endpoint with the adapter loaded wins. */
static void test_golden_lora(void **state)
{
    (void)state;
    static const ig_iov_t sql = IG_STRLIT("sql-lora-1fdg2");
    build(HDR "plugins:\n- type: queue-scorer\n- type: kv-cache-utilization-scorer\n- type: lora-affinity-scorer\n"
              "schedulingProfiles:\n- name: default\n  plugins:\n  - {pluginRef: queue-scorer}\n"
              "  - {pluginRef: kv-cache-utilization-scorer}\n  - {pluginRef: lora-affinity-scorer}\n",
          3);
    endpoints(3);
    static const ig_iov_t with[2] = {IG_STRLIT("foo"), IG_STRLIT("sql-lora-1fdg2")},
                          without[2] = {IG_STRLIT("foo"), IG_STRLIT("foo")};
    for (size_t i = 0; i < 3; i++) {
        ep[i].metrics.max_active_models = 2;
        ep[i].metrics.n_active_models = 2;
        ep[i].metrics.active_models = i == 1 ? with : without;
    }
    ep[0].metrics.waiting_queue_size = 0;
    ep[0].metrics.kv_cache_usage_percent = 0.2;
    ep[1].metrics.waiting_queue_size = 0;
    ep[1].metrics.kv_cache_usage_percent = 0.2;
    ep[2].metrics.waiting_queue_size = 0;
    ep[2].metrics.kv_cache_usage_percent = 0.2;
    struct ig_sched_request rq = {.target_model = sql, .now_ns = NOW};
    struct ig_sched_cycle cy;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(schedule(&cy, &rq, 3), 0);
        assert_ptr_equal(cy.picks[0].ep, &ep[1]);
    }
}

static void test_token_load_scorer(void **state)
{
    (void)state;
    build_scorer("token-load-scorer", "  parameters: {queueThresholdTokens: 1000}\n");
    endpoints(3);
    ep[0].inflight_tokens = 0;
    ep[1].inflight_tokens = 250;
    ep[2].inflight_tokens = 5000;
    struct ig_sched_request rq = {.now_ns = NOW};
    struct ig_sched_cycle cy;
    assert_int_equal(schedule(&cy, &rq, 3), 0);
    assert_float_equal(score_of(&cy, 0), 1.0, 1e-9);
    assert_float_equal(score_of(&cy, 1), 0.75, 1e-9);
    assert_float_equal(score_of(&cy, 2), 0.0, 1e-9);
    /* the loader added the producer the scorer needs */
    assert_true(ig_epc_find(cfg, IG_STRLIT("inflight-load-producer")) != SIZE_MAX);
}

static void test_inflight_accounting(void **state)
{
    (void)state;
    build(ig_epc_default_text, 5);
    endpoints(2);
    char prompt[400];
    memset(prompt, 'a', sizeof(prompt));
    struct ig_oai_request body = {
        .model = IG_STRLIT("m"), .prefix = {ig_iov(prompt, 400)}, .n_prefix = 1, .prefix_len = 400};
    struct ig_sched_request rq = {.body = &body, .target_model = IG_STRLIT("m"), .now_ns = NOW};
    struct ig_sched_cycle cy;
    assert_int_equal(schedule(&cy, &rq, 2), 0);
    struct ig_sched_endpoint *e = cy.picks[0].ep;
    ig_sched_pre_request(sch, &cy);
    ig_sched_pre_request(sch, &cy); /* idempotent */
    assert_int_equal(e->inflight_requests, 1);
    assert_int_equal(e->inflight_tokens, 100);
    ig_sched_request_done(sch, &cy);
    ig_sched_request_done(sch, &cy);
    assert_int_equal(e->inflight_requests, 0);
    assert_int_equal(e->inflight_tokens, 0);
}

/* Golden: requests sharing a prefix go back to the endpoint that served it. */
static void test_golden_prefix_sticks(void **state)
{
    (void)state;
    build(ig_epc_default_text, 11);
    endpoints(4);
    char a[2048], b[2048];
    for (size_t i = 0; i < sizeof(a); i++) {
        a[i] = (char)('a' + (i * 7) % 26);
        b[i] = (char)('a' + (i * 11) % 26);
    }
    struct ig_oai_request body = {
        .model = IG_STRLIT("m"), .prefix = {ig_iov(a, 1024)}, .n_prefix = 1, .prefix_len = 1024};
    struct ig_sched_request rq = {.body = &body, .target_model = IG_STRLIT("m"), .now_ns = NOW};
    struct ig_sched_cycle cy;
    assert_int_equal(schedule(&cy, &rq, 4), 0);
    struct ig_sched_endpoint *first = cy.picks[0].ep;
    assert_float_equal(cy.picks[0].score, 4.0, 1e-9); /* 2 + 2 + 0: nothing cached yet */
    ig_sched_pre_request(sch, &cy);
    ig_sched_request_done(sch, &cy);
    assert_int_equal(ig_sched_prefix_index_size(sch), 16);
    for (int i = 0; i < 20; i++) {
        /* the same 1024 characters plus a different tail: 16 of 32 blocks match */
        memcpy(a + 1024, b, 1024);
        body.prefix[0] = ig_iov(a, 1024 + (size_t)i * 8 + 512);
        body.prefix_len = body.prefix[0].len;
        assert_int_equal(schedule(&cy, &rq, 4), 0);
        assert_ptr_equal(cy.picks[0].ep, first);
        assert_true(cy.picks[0].score > 4.0);
    }
    /* A different model seeds a different chain: no affinity. */
    rq.target_model = IG_STRLIT("other");
    body.prefix[0] = ig_iov(a, 1024);
    assert_int_equal(schedule(&cy, &rq, 4), 0);
    assert_float_equal(cy.picks[0].score, 4.0, 1e-9);
    /* Forgetting the endpoint drops its entries. */
    ig_sched_forget_endpoint(sch, first->id);
    assert_int_equal(ig_sched_prefix_index_size(sch), 0);
}

static void test_max_score_ties_are_random(void **state)
{
    (void)state;
    build(HDR "plugins:\n- type: queue-scorer\n", 99);
    endpoints(3);
    ep[2].metrics.waiting_queue_size = 5;
    struct ig_sched_request rq = {.now_ns = NOW};
    struct ig_sched_cycle cy;
    int seen[3] = {0};
    for (int i = 0; i < 200; i++) {
        assert_int_equal(schedule(&cy, &rq, 3), 0);
        seen[cy.picks[0].ep - ep]++;
    }
    assert_true(seen[0] > 50 && seen[1] > 50);
    assert_int_equal(seen[2], 0);
}

static void test_random_and_weighted_pickers(void **state)
{
    (void)state;
    build(HDR "plugins:\n- type: random-picker\n  parameters: {maxNumOfEndpoints: 3}\n", 5);
    endpoints(5);
    struct ig_sched_request rq = {.now_ns = NOW};
    struct ig_sched_cycle cy;
    int seen[5] = {0};
    for (int i = 0; i < 100; i++) {
        assert_int_equal(schedule(&cy, &rq, 5), 0);
        assert_int_equal(cy.n_picks, 3);
        assert_ptr_not_equal(cy.picks[0].ep, cy.picks[1].ep);
        assert_ptr_not_equal(cy.picks[1].ep, cy.picks[2].ep);
        assert_ptr_not_equal(cy.picks[0].ep, cy.picks[2].ep);
        seen[cy.picks[0].ep - ep]++;
    }
    for (int i = 0; i < 5; i++)
        assert_true(seen[i] > 0);

    /* weighted: the endpoint scoring 0 is never chosen while others score > 0 */
    build(HDR "plugins:\n- type: queue-scorer\n- type: weighted-random-picker\n"
              "  parameters: {maxNumOfEndpoints: 2}\n",
          6);
    endpoints(3);
    ep[0].metrics.waiting_queue_size = 0;
    ep[1].metrics.waiting_queue_size = 5;
    ep[2].metrics.waiting_queue_size = 10; /* score 0 */
    int first[3] = {0};
    for (int i = 0; i < 300; i++) {
        assert_int_equal(schedule(&cy, &rq, 3), 0);
        assert_int_equal(cy.n_picks, 2);
        assert_ptr_not_equal(cy.picks[0].ep, &ep[2]);
        assert_ptr_not_equal(cy.picks[1].ep, &ep[2]);
        first[cy.picks[0].ep - ep]++;
    }
    /* score 1.0 vs 0.5: A-Res puts the first ahead about 2/3 of the time */
    assert_true(first[0] > first[1]);
    assert_true(first[1] > 30);

    /* all scores 0 -> uniform random; maxNumOfEndpoints <= 0 means 1 */
    build(HDR "plugins:\n- type: queue-scorer\n- type: weighted-random-picker\n"
              "  parameters: {maxNumOfEndpoints: 0}\n",
          6);
    ep[0].metrics.waiting_queue_size = ep[1].metrics.waiting_queue_size = ep[2].metrics.waiting_queue_size = 1;
    build(HDR "plugins:\n- type: kv-cache-utilization-scorer\n- type: weighted-random-picker\n"
              "  parameters: {maxNumOfEndpoints: -3}\n",
          6);
    ep[0].metrics.kv_cache_usage_percent = ep[1].metrics.kv_cache_usage_percent = ep[2].metrics.kv_cache_usage_percent =
        1.0;
    int any[3] = {0};
    for (int i = 0; i < 100; i++) {
        assert_int_equal(schedule(&cy, &rq, 3), 0);
        assert_int_equal(cy.n_picks, 1);
        any[cy.picks[0].ep - ep]++;
    }
    assert_true(any[0] > 0 && any[1] > 0 && any[2] > 0);
}

static void test_header_filter(void **state)
{
    (void)state;
    build(HDR "plugins:\n- type: header-based-testing-filter\n- type: max-score-picker\n"
              "  parameters: {maxNumOfEndpoints: 8}\n",
          1);
    endpoints(4);
    struct ig_sched_kv h = {IG_STRLIT("Test-EPP-Endpoint-Selection"), IG_STRLIT("192.168.1.3, 192.168.1.1:8000")};
    struct ig_sched_request rq = {.headers = &h, .n_headers = 1, .now_ns = NOW};
    struct ig_sched_cycle cy;
    assert_int_equal(schedule(&cy, &rq, 4), 0);
    assert_int_equal(cy.n_picks, 2);
    int got = 0;
    for (size_t i = 0; i < 2; i++)
        got |= 1 << (cy.picks[i].ep - ep);
    assert_int_equal(got, 0x5);
    /* no header, or no match: nothing left -> 429 */
    rq.n_headers = 0;
    assert_int_equal(schedule(&cy, &rq, 4), IG_EAGAIN);
    assert_int_equal(err.status, 429);
    h.value = IG_STRLIT("10.0.0.1");
    rq.n_headers = 1;
    assert_int_equal(schedule(&cy, &rq, 4), IG_EAGAIN);
}

static void test_pd_filters(void **state)
{
    (void)state;
    static const struct ig_sched_kv pre = {IG_STRLIT("llm-d.ai/role"), IG_STRLIT("prefill")},
                                    dec = {IG_STRLIT("llm-d.ai/role"), IG_STRLIT("decode")},
                                    both = {IG_STRLIT("llm-d.ai/role"), IG_STRLIT("both")};
    endpoints(4);
    ep[0].labels = &pre;
    ep[0].n_labels = 1;
    ep[1].labels = &dec;
    ep[1].n_labels = 1;
    ep[2].labels = &both;
    ep[2].n_labels = 1; /* ep[3]: no label */
    struct ig_sched_request rq = {.now_ns = NOW};
    struct ig_sched_cycle cy;
    build(HDR "plugins:\n- type: prefill-filter\n- type: max-score-picker\n  parameters: {maxNumOfEndpoints: 8}\n", 1);
    assert_int_equal(schedule(&cy, &rq, 4), 0);
    assert_int_equal(cy.n_picks, 1);
    assert_ptr_equal(cy.picks[0].ep, &ep[0]);
    build(HDR "plugins:\n- type: decode-filter\n- type: max-score-picker\n  parameters: {maxNumOfEndpoints: 8}\n", 1);
    assert_int_equal(schedule(&cy, &rq, 4), 0);
    assert_int_equal(cy.n_picks, 3);
    for (size_t i = 0; i < 3; i++)
        assert_ptr_not_equal(cy.picks[i].ep, &ep[0]);
}

static void test_utilization_detector_and_admission(void **state)
{
    (void)state;
    build(ig_epc_default_text, 1);
    endpoints(2);
    /* s = max(q/5, kv/0.8): (1, 0.4) -> 0.5 ; (0, 0.2) -> 0.25 ; mean 0.375 */
    ep[0].metrics.waiting_queue_size = 1;
    ep[0].metrics.kv_cache_usage_percent = 0.4;
    ep[1].metrics.kv_cache_usage_percent = 0.2;
    assert_float_equal(ig_sched_saturation(sch, eps, 2, NOW), (0.4 / 0.8 + 0.2 / 0.8) / 2, 1e-9);
    assert_float_equal(ig_sched_saturation(sch, eps, 0, NOW), 1.0, 1e-9);
    /* stale (older than 200 ms) or never scraped -> 1.0 */
    ep[1].metrics.update_time_ns = NOW - 300000000ull;
    assert_float_equal(ig_sched_saturation(sch, eps, 2, NOW), (0.5 + 1.0) / 2, 1e-9);
    ep[1].metrics.update_time_ns = 0;
    assert_float_equal(ig_sched_saturation(sch, eps, 2, NOW), (0.5 + 1.0) / 2, 1e-9);

    struct ig_sched_request rq = {.priority = -1, .now_ns = NOW};
    assert_int_equal(ig_sched_admit(sch, &rq, eps, 2, &err), 0);
    ep[0].metrics.waiting_queue_size = 10; /* 2.0 and 1.0 -> 1.5 */
    assert_int_equal(ig_sched_admit(sch, &rq, eps, 2, &err), IG_EAGAIN);
    assert_int_equal(err.status, 429);
    assert_string_equal(err.msg, "inference error: ResourceExhausted - system saturated, sheddable request dropped");
    rq.priority = 0; /* never shed */
    assert_int_equal(ig_sched_admit(sch, &rq, eps, 2, &err), 0);

    /* As a filter: keeps fresh endpoints under both thresholds, all of them if none qualifies. */
    build(HDR "plugins:\n- type: utilization-detector\n  parameters: {headroom: 0.5, metricsStalenessThreshold: 1s}\n"
              "- type: max-score-picker\n  parameters: {maxNumOfEndpoints: 8}\n"
              "schedulingProfiles:\n- name: p\n  plugins: [{pluginRef: utilization-detector}, "
              "{pluginRef: max-score-picker}]\n",
          1);
    endpoints(3);
    ep[0].metrics.waiting_queue_size = 7;       /* < 7.5 */
    ep[1].metrics.kv_cache_usage_percent = 1.3; /* >= 1.2 */
    ep[2].metrics.update_time_ns = NOW - 2000000000ull;
    rq.priority = 0;
    struct ig_sched_cycle cy;
    assert_int_equal(schedule(&cy, &rq, 3), 0);
    assert_int_equal(cy.n_picks, 1);
    assert_ptr_equal(cy.picks[0].ep, &ep[0]);
    ep[0].metrics.waiting_queue_size = 8;
    assert_int_equal(schedule(&cy, &rq, 3), 0);
    assert_int_equal(cy.n_picks, 3);
}

static void test_concurrency_detector(void **state)
{
    (void)state;
    build(HDR "plugins:\n- type: queue-scorer\n- type: concurrency-detector\n  name: cd\n"
              "  parameters: {maxConcurrency: 10}\nsaturationDetector: {pluginRef: cd}\n",
          1);
    endpoints(2);
    ep[0].inflight_requests = 10;
    ep[1].inflight_requests = 5;
    assert_float_equal(ig_sched_saturation(sch, eps, 2, NOW), 15.0 / 20.0, 1e-9);
    ep[1].inflight_requests = 10;
    struct ig_sched_request rq = {.priority = -1, .now_ns = NOW};
    assert_int_equal(ig_sched_admit(sch, &rq, eps, 2, &err), IG_EAGAIN);

    build(HDR "plugins:\n- type: concurrency-detector\n  parameters: {concurrencyMode: tokens, "
              "maxTokenConcurrency: 100}\n- type: max-score-picker\n  parameters: {maxNumOfEndpoints: 8}\n"
              "schedulingProfiles:\n- name: p\n  plugins: [{pluginRef: concurrency-detector}, "
              "{pluginRef: max-score-picker}]\nsaturationDetector: {pluginRef: concurrency-detector}\n",
          1);
    ep[0].inflight_tokens = 100;
    ep[1].inflight_tokens = 50;
    assert_float_equal(ig_sched_saturation(sch, eps, 2, NOW), 0.75, 1e-9);
    struct ig_sched_cycle cy;
    rq.priority = 0;
    assert_int_equal(schedule(&cy, &rq, 2), 0);
    assert_int_equal(cy.n_picks, 1);
    assert_ptr_equal(cy.picks[0].ep, &ep[1]);
}

static void test_no_endpoints(void **state)
{
    (void)state;
    build(ig_epc_default_text, 1);
    struct ig_sched_request rq = {.now_ns = NOW};
    struct ig_sched_cycle cy;
    assert_int_equal(schedule(&cy, &rq, 0), IG_ENOTFOUND);
    assert_int_equal(err.status, 503);
    assert_string_equal(err.msg, "inference error: ServiceUnavailable - failed to find endpoint candidates");
}

static int setup(void **state)
{
    (void)state;
    ig_pool_init(&pool);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ig_test_sched_free(&cfg, &sch);
    ig_pool_dispose(&pool);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_queue_kv),
        cmocka_unit_test(test_queue_scorer),
        cmocka_unit_test(test_kv_and_running_scorers),
        cmocka_unit_test(test_lora_scorer),
        cmocka_unit_test(test_golden_lora),
        cmocka_unit_test(test_token_load_scorer),
        cmocka_unit_test(test_inflight_accounting),
        cmocka_unit_test(test_golden_prefix_sticks),
        cmocka_unit_test(test_max_score_ties_are_random),
        cmocka_unit_test(test_random_and_weighted_pickers),
        cmocka_unit_test(test_header_filter),
        cmocka_unit_test(test_pd_filters),
        cmocka_unit_test(test_utilization_detector_and_admission),
        cmocka_unit_test(test_concurrency_detector),
        cmocka_unit_test(test_no_endpoints),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
