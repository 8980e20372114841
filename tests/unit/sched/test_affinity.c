/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prefix-affinity-filter: the endpoint holding a request's prefix stays the only candidate while
 * it is below the saturation thresholds, even when the load scorers prefer another; above them (or
 * for a new prefix, a short prompt, a small overlap) every endpoint stays a candidate. Also its
 * parameters, their bounds, and the producer the loader adds for it.
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

#define NEP 4

static struct ig_test_endpoints fx;
static struct ig_sched_endpoint *const ep = fx.ep;
static struct ig_sched_endpoint **const eps = fx.eps;
static ig_pool_t pool;
static struct ig_epc *cfg;
static struct ig_sched *sch;
static const uint64_t NOW = 1000000000000ull;
static char prompt_a[2048], prompt_b[2048];

#define HDR "apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\n"

/* The filter, then the queue scorer alone: without the filter the shortest queue always wins. */
static const char *const CONFIG = HDR "plugins:\n"
                                      "- type: prefix-affinity-filter\n"
                                      "  parameters: {queueDepthThreshold: 5, kvCacheUtilThreshold: 0.8}\n"
                                      "- type: queue-scorer\n"
                                      "- type: max-score-picker\n"
                                      "schedulingProfiles:\n"
                                      "- name: default\n"
                                      "  plugins:\n"
                                      "  - pluginRef: prefix-affinity-filter\n"
                                      "  - pluginRef: queue-scorer\n"
                                      "  - pluginRef: max-score-picker\n";

static void endpoints(void)
{
    ig_test_endpoints_init(&fx, NEP, "10.0.0.", NOW);
}

static int load(const char *yaml, char *e, size_t elen)
{
    return ig_test_sched_load(yaml, 3, &cfg, &sch, e, elen);
}

static int setup(void **state)
{
    (void)state;
    char e[1024];
    ig_pool_init(&pool);
    for (size_t i = 0; i < sizeof(prompt_a); i++) {
        prompt_a[i] = (char)('a' + (i * 7) % 26);
        prompt_b[i] = (char)('a' + (i * 11 + 3) % 26);
    }
    endpoints();
    if (load(CONFIG, e, sizeof(e)) != 0)
        fail_msg("config: %s", e);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ig_test_sched_free(&cfg, &sch);
    ig_pool_dispose(&pool);
    return 0;
}

/* Schedules |len| bytes of |text| as a completions prompt; returns the picked endpoint's index. */
static size_t pick(const char *text, size_t len, int commit)
{
    struct ig_oai_request body = {
        .model = IG_STRLIT("m"), .prefix = {ig_iov(text, len)}, .n_prefix = 1, .prefix_len = len};
    struct ig_sched_request rq = {.body = &body, .target_model = IG_STRLIT("m"), .now_ns = NOW};
    struct ig_sched_cycle cy;
    struct ig_sched_error err;
    memset(&err, 0, sizeof(err));
    ig_sched_cycle_init(&cy, &rq, &pool);
    assert_int_equal(ig_sched_schedule(sch, &cy, eps, NEP, &err), 0);
    assert_int_equal(cy.n_picks, 1);
    size_t i = (size_t)(cy.picks[0].ep - ep);
    if (commit) {
        ig_sched_pre_request(sch, &cy);
        ig_sched_request_done(sch, &cy);
    }
    return i;
}

static void queues(int64_t q0, int64_t q1, int64_t q2, int64_t q3)
{
    ep[0].metrics.waiting_queue_size = q0;
    ep[1].metrics.waiting_queue_size = q1;
    ep[2].metrics.waiting_queue_size = q2;
    ep[3].metrics.waiting_queue_size = q3;
}

static void test_loads_with_producer(void **state)
{
    (void)state;
    assert_true(ig_epc_find(cfg, IG_STRLIT("approx-prefix-cache-producer")) != SIZE_MAX);
    size_t k = ig_epc_find(cfg, IG_STRLIT("prefix-affinity-filter"));
    assert_true(k != SIZE_MAX);
    assert_float_equal(cfg->plugins[k].params.affinity_threshold, 0.5, 1e-12); /* the default */
    assert_int_equal(cfg->plugins[k].params.queue_depth_threshold, 5);
    assert_float_equal(cfg->plugins[k].params.kv_cache_util_threshold, 0.8, 1e-12);
}

static void test_bad_parameters(void **state)
{
    (void)state;
    const char *bad[] = {"{affinityThreshold: 1.5}",  "{affinityThreshold: -0.1}", "{queueDepthThreshold: -1}",
                         "{kvCacheUtilThreshold: 2}", "{blockSizeTokens: 16}",     "{affinityThreshold: high}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char y[1024], e[1024];
        snprintf(y, sizeof(y),
                 HDR "plugins:\n- type: prefix-affinity-filter\n  parameters: %s\n- type: max-score-picker\n", bad[i]);
        if (load(y, e, sizeof(e)) == 0)
            fail_msg("accepted %s", bad[i]);
        assert_non_null(strstr(e, "t.yaml:"));
    }
    char e[1024];
    assert_int_equal(load(CONFIG, e, sizeof(e)), 0); /* back to the shared config for the next tests */
}

static void test_sticky_until_saturated(void **state)
{
    (void)state;
    endpoints();
    char e[1024];
    assert_int_equal(load(CONFIG, e, sizeof(e)), 0);
    /* A new prefix: every endpoint is a candidate and the shortest queue (endpoint 2) wins. */
    queues(1, 1, 0, 1);
    assert_int_equal(pick(prompt_a, 1024, 1), 2);
    /* The same prefix plus a different question (16 of 24 blocks held): endpoint 2 keeps it while
     * its queue is longer than every other's, up to the threshold (5, inclusive). */
    memcpy(prompt_a + 1024, prompt_b, 512);
    for (int64_t q = 1; q <= 5; q++) {
        queues(0, 0, q, 0);
        assert_int_equal(pick(prompt_a, 1536, 0), 2);
    }
    /* Saturated by its queue: every endpoint is a candidate again and the queue scorer moves it. */
    queues(0, 1, 6, 1);
    assert_int_equal(pick(prompt_a, 1536, 0), 0);
    /* Saturated by its KV cache: every endpoint is a candidate, the only empty queue (3) wins. */
    queues(1, 1, 1, 0);
    ep[2].metrics.kv_cache_usage_percent = 0.85;
    assert_int_equal(pick(prompt_a, 1536, 0), 3);
    ep[2].metrics.kv_cache_usage_percent = 0.8; /* at the threshold: still sticky */
    assert_int_equal(pick(prompt_a, 1536, 0), 2);
}

static void test_threshold_and_short_prompts(void **state)
{
    (void)state;
    endpoints();
    char e[1024];
    assert_int_equal(load(CONFIG, e, sizeof(e)), 0);
    queues(0, 1, 1, 1);
    assert_int_equal(pick(prompt_a, 512, 1), 0); /* endpoint 0 holds 8 blocks of prompt_a */
    queues(1, 0, 1, 1);
    /* 8 of 12 blocks held (0.67 >= 0.5): sticky */
    assert_int_equal(pick(prompt_a, 768, 0), 0);
    /* 8 of 24 blocks held (0.33 < 0.5): not sticky, the shortest queue wins */
    assert_int_equal(pick(prompt_a, 1536, 0), 1);
    /* Under one block: no hashes, no affinity */
    assert_int_equal(pick(prompt_a, 40, 0), 1);
    /* A higher threshold turns the 0.67 overlap away too. */
    const char *strict = HDR "plugins:\n"
                             "- type: prefix-affinity-filter\n"
                             "  parameters: {affinityThreshold: 0.9}\n"
                             "- type: queue-scorer\n"
                             "- type: max-score-picker\n";
    assert_int_equal(load(strict, e, sizeof(e)), 0);
    queues(0, 1, 1, 1);
    assert_int_equal(pick(prompt_a, 512, 1), 0);
    queues(1, 0, 1, 1);
    assert_int_equal(pick(prompt_a, 768, 0), 1);
    assert_int_equal(pick(prompt_a, 512, 0), 0); /* the whole prompt held: 1.0 >= 0.9 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loads_with_producer),
        cmocka_unit_test(test_bad_parameters),
        cmocka_unit_test(test_sticky_until_saturated),
        cmocka_unit_test(test_threshold_and_short_prompts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
