/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scheduler's plugin timing hook (inference_extension_plugin_duration_seconds): one report per
 * filter, scorer and picker run, in profile order, with the plugin's type and name and a duration;
 * a filter that empties the candidates is still reported; removing the hook stops the reports.
 * Also the prefix-match read-out (hit ratio / bytes): none before the index knows the prompt, all
 * blocks on the endpoint that served it, none on the other, and none without a prefix producer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ig/sched.h"

struct report {
    enum ig_sched_ext_point point;
    char type[64], name[64];
    uint64_t ns;
};

static struct report reports[32];
static size_t nreports;

static void on_timing(void *arg, enum ig_sched_ext_point point, const char *type, const char *name, uint64_t ns)
{
    assert_ptr_equal(arg, &nreports);
    assert_true(nreports < 32);
    struct report *r = &reports[nreports++];
    r->point = point;
    snprintf(r->type, sizeof(r->type), "%s", type);
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->ns = ns;
}

static const char config[] = "apiVersion: inference.networking.x-k8s.io/v1alpha1\n"
                             "kind: EndpointPickerConfig\n"
                             "plugins:\n"
                             "- type: header-based-testing-filter\n"
                             "  name: hdr\n"
                             "- type: queue-scorer\n"
                             "- type: kv-cache-utilization-scorer\n"
                             "  name: kv\n"
                             "- type: max-score-picker\n"
                             "schedulingProfiles:\n"
                             "- name: p\n"
                             "  plugins: [{pluginRef: hdr}, {pluginRef: queue-scorer, weight: 2}, {pluginRef: kv},\n"
                             "            {pluginRef: max-score-picker}]\n";

static void test_timing(void **state)
{
    (void)state;
    char e[1024];
    struct ig_epc *cfg = NULL;
    struct ig_sched *s = NULL;
    if (ig_epc_load_string("t.yaml", config, strlen(config), &cfg, e, sizeof(e)) != 0)
        fail_msg("config: %s", e);
    if (ig_sched_create(cfg, 1, &s, e, sizeof(e)) != 0)
        fail_msg("sched: %s", e);

    struct ig_sched_endpoint ep[2];
    struct ig_sched_endpoint *eps[2] = {&ep[0], &ep[1]};
    memset(ep, 0, sizeof(ep));
    ep[0].id = 0;
    ep[0].ip = IG_STRLIT("10.0.0.1");
    ep[0].address = ep[0].name = IG_STRLIT("10.0.0.1:8000");
    ep[1].id = 1;
    ep[1].ip = IG_STRLIT("10.0.0.2");
    ep[1].address = ep[1].name = IG_STRLIT("10.0.0.2:8000");
    ep[0].metrics.update_time_ns = ep[1].metrics.update_time_ns = 1;
    ep[1].metrics.waiting_queue_size = 4;

    struct ig_sched_kv all = {IG_STRLIT("test-epp-endpoint-selection"), IG_STRLIT("10.0.0.1,10.0.0.2")};
    struct ig_sched_request rq = {.target_model = IG_STRLIT("m"), .now_ns = 2, .headers = &all, .n_headers = 1};
    struct ig_sched_cycle cy;
    struct ig_sched_error err;

    /* No hook: nothing reported. */
    ig_sched_cycle_init(&cy, &rq, NULL);
    assert_int_equal(ig_sched_schedule(s, &cy, eps, 2, &err), 0);
    assert_int_equal(nreports, 0);

    ig_sched_set_timing(s, on_timing, &nreports);
    ig_sched_cycle_init(&cy, &rq, NULL);
    assert_int_equal(ig_sched_schedule(s, &cy, eps, 2, &err), 0);
    assert_ptr_equal(cy.picks[0].ep, &ep[0]);
    assert_int_equal(nreports, 4);
    static const struct {
        enum ig_sched_ext_point point;
        const char *type, *name;
    } want[] = {
        {IG_SCHED_EXT_FILTER, "header-based-testing-filter", "hdr"},
        {IG_SCHED_EXT_SCORER, "queue-scorer", "queue-scorer"},
        {IG_SCHED_EXT_SCORER, "kv-cache-utilization-scorer", "kv"},
        {IG_SCHED_EXT_PICKER, "max-score-picker", "max-score-picker"},
    };
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(reports[i].point, want[i].point);
        assert_string_equal(reports[i].type, want[i].type);
        assert_string_equal(reports[i].name, want[i].name);
        assert_true(reports[i].ns < 1000000000ull); /* a run is not a second */
    }
    assert_string_equal(ig_sched_ext_point_name(IG_SCHED_EXT_FILTER), "Filter");
    assert_string_equal(ig_sched_ext_point_name(IG_SCHED_EXT_SCORER), "Scorer");
    assert_string_equal(ig_sched_ext_point_name(IG_SCHED_EXT_PICKER), "Picker");

    /* A filter that leaves nothing is reported before the cycle fails. */
    struct ig_sched_kv h = {IG_STRLIT("test-epp-endpoint-selection"), IG_STRLIT("10.9.9.9:1")};
    struct ig_sched_request rq2 = {.target_model = IG_STRLIT("m"), .now_ns = 2, .headers = &h, .n_headers = 1};
    nreports = 0;
    ig_sched_cycle_init(&cy, &rq2, NULL);
    assert_int_equal(ig_sched_schedule(s, &cy, eps, 2, &err), IG_EAGAIN);
    assert_int_equal(nreports, 1);
    assert_int_equal(reports[0].point, IG_SCHED_EXT_FILTER);
    assert_string_equal(reports[0].name, "hdr");

    ig_sched_set_timing(s, NULL, NULL);
    nreports = 0;
    ig_sched_cycle_init(&cy, &rq, NULL);
    assert_int_equal(ig_sched_schedule(s, &cy, eps, 2, &err), 0);
    assert_int_equal(nreports, 0);

    ig_sched_destroy(s);
    ig_epc_free(cfg);
}

static void test_prefix_match(void **state)
{
    (void)state;
    char e[1024], body[1024];
    struct ig_epc *cfg = NULL;
    struct ig_sched *s = NULL;
    struct ig_oai_request oai;
    struct ig_sched_error err;
    struct ig_sched_cycle cy;
    size_t matched = 99, total = 99, block = 99;

    assert_int_equal(ig_epc_load_string("d", ig_epc_default_text, strlen(ig_epc_default_text), &cfg, e, sizeof(e)), 0);
    assert_int_equal(ig_sched_create(cfg, 1, &s, e, sizeof(e)), 0);
    struct ig_sched_endpoint ep[2];
    struct ig_sched_endpoint *eps[2] = {&ep[0], &ep[1]};
    memset(ep, 0, sizeof(ep));
    ep[0].address = ep[0].name = IG_STRLIT("10.0.0.1:8000");
    ep[0].ip = IG_STRLIT("10.0.0.1");
    ep[1].id = 1;
    ep[1].address = ep[1].name = IG_STRLIT("10.0.0.2:8000");
    ep[1].ip = IG_STRLIT("10.0.0.2");
    ep[0].metrics.update_time_ns = ep[1].metrics.update_time_ns = 1;

    /* 640 prompt characters: ten 64-character blocks with the default 16-token blocks. */
    char prompt[641];
    for (size_t i = 0; i < 640; i++)
        prompt[i] = (char)('a' + i % 26);
    prompt[640] = '\0';
    int n = snprintf(body, sizeof(body), "{\"model\":\"m\",\"prompt\":\"%s\"}", prompt);
    assert_int_equal(ig_oai_parse(IG_OAI_COMPLETIONS, body, (size_t)n, NULL, &oai, &err), 0);
    struct ig_sched_request rq = {.body = &oai, .target_model = IG_STRLIT("m"), .now_ns = 2};

    ig_sched_cycle_init(&cy, &rq, NULL);
    assert_int_equal(ig_sched_prefix_match(s, &cy, &ep[0], &matched, &total, &block), IG_ENOTFOUND);
    assert_int_equal(ig_sched_schedule(s, &cy, eps, 2, &err), 0);
    assert_int_equal(ig_sched_prefix_match(s, &cy, cy.picks[0].ep, &matched, &total, &block), 0);
    assert_int_equal(matched, 0);
    assert_int_equal(total, 10);
    assert_int_equal(block, 64);
    struct ig_sched_endpoint *served = cy.picks[0].ep;
    struct ig_sched_endpoint *other = served == &ep[0] ? &ep[1] : &ep[0];
    ig_sched_pre_request(s, &cy);
    ig_sched_request_done(s, &cy);

    ig_sched_cycle_init(&cy, &rq, NULL);
    assert_int_equal(ig_sched_schedule(s, &cy, eps, 2, &err), 0);
    assert_ptr_equal(cy.picks[0].ep, served); /* the prefix scorer sticks */
    assert_int_equal(ig_sched_prefix_match(s, &cy, served, &matched, &total, &block), 0);
    assert_int_equal(matched, 10);
    assert_int_equal(total, 10);
    assert_int_equal(ig_sched_prefix_match(s, &cy, other, &matched, &total, &block), 0);
    assert_int_equal(matched, 0);
    ig_sched_destroy(s);
    ig_epc_free(cfg);

    /* No prefix producer in the profile: nothing to report. */
    assert_int_equal(ig_epc_load_string("c", config, strlen(config), &cfg, e, sizeof(e)), 0);
    assert_int_equal(ig_sched_create(cfg, 1, &s, e, sizeof(e)), 0);
    struct ig_sched_kv all = {IG_STRLIT("test-epp-endpoint-selection"), IG_STRLIT("10.0.0.1")};
    rq.headers = &all;
    rq.n_headers = 1;
    ig_sched_cycle_init(&cy, &rq, NULL);
    assert_int_equal(ig_sched_schedule(s, &cy, eps, 2, &err), 0);
    assert_int_equal(ig_sched_prefix_match(s, &cy, cy.picks[0].ep, &matched, &total, &block), IG_ENOTFOUND);
    ig_sched_destroy(s);
    ig_epc_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timing),
        cmocka_unit_test(test_prefix_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
