/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EndpointPickerConfig loader: the reference default file and the defaults the loader adds,
 * parameters and their defaults, a file on disk, and every error class with its
 * "file:line:col: message" text (YAML syntax, document shape, unknown keys, plugin types,
 * parameters, references, duplicates, picker count, deprecated blockSize, durations).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sched_int.h"

static char err[2048];

static int load(const char *text, struct ig_epc **out)
{
    return ig_epc_load_string("epp.yaml", text, strlen(text), out, err, sizeof(err));
}

#define HDR "apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\n"

#define EXPECT_ERR(text, msg)                                                                                          \
    do {                                                                                                               \
        struct ig_epc *c_ = (struct ig_epc *)1;                                                                        \
        assert_int_equal(load(text, &c_), IG_EINVAL);                                                                  \
        assert_null(c_);                                                                                               \
        assert_string_equal(err, msg);                                                                                 \
    } while (0)

static const struct ig_epc_plugin *plugin(const struct ig_epc *c, const char *name)
{
    size_t i = ig_epc_find(c, ig_iov_cstr(name));
    if (i == SIZE_MAX)
        fail_msg("no plugin %s", name);
    return &c->plugins[i];
}

static void test_default_file(void **state)
{
    (void)state;
    struct ig_epc *c;
    assert_int_equal(load(ig_epc_default_text, &c), 0);
    assert_true(ig_iov_eq(c->kind, IG_STRLIT("EndpointPickerConfig")));
    assert_int_equal(c->n_profiles, 1);
    const struct ig_epc_profile *p = &c->profiles[0];
    assert_true(ig_iov_eq(p->name, IG_STRLIT("default")));
    assert_int_equal(p->n_refs, 4); /* three scorers + the added max-score-picker */
    assert_string_equal(c->plugins[p->refs[0].plugin].name.base, "queue-scorer");
    assert_float_equal(p->refs[0].weight, 2, 0);
    assert_string_equal(c->plugins[p->refs[1].plugin].name.base, "kv-cache-utilization-scorer");
    assert_float_equal(p->refs[1].weight, 2, 0);
    assert_string_equal(c->plugins[p->refs[2].plugin].name.base, "prefix-cache-scorer");
    assert_float_equal(p->refs[2].weight, 3, 0);
    assert_string_equal(c->plugins[p->refs[3].plugin].name.base, "max-score-picker");
    /* implicit additions */
    assert_true(plugin(c, "single-profile-handler")->implicit);
    assert_true(plugin(c, "openai-parser")->implicit);
    assert_true(plugin(c, "utilization-detector")->implicit);
    assert_true(plugin(c, "approx-prefix-cache-producer")->implicit);
    assert_false(plugin(c, "queue-scorer")->implicit);
    assert_string_equal(c->plugins[c->saturation_detector].name.base, "utilization-detector");
    assert_string_equal(c->plugins[c->parser].name.base, "openai-parser");
    assert_string_equal(c->plugins[c->profile_handler].name.base, "single-profile-handler");
    /* parameter defaults */
    const struct ig_sched_params *pp = &plugin(c, "approx-prefix-cache-producer")->params;
    assert_int_equal(pp->block_size_tokens, 16);
    assert_int_equal(pp->max_prefix_blocks_to_match, 256);
    assert_int_equal(pp->lru_capacity_per_server, 31250);
    assert_true(pp->auto_tune);
    const struct ig_sched_params *up = &plugin(c, "utilization-detector")->params;
    assert_int_equal(up->queue_depth_threshold, 5);
    assert_float_equal(up->kv_cache_util_threshold, 0.8, 0);
    assert_int_equal(up->metrics_staleness_ns, 200000000);
    assert_true(ig_iov_eq(plugin(c, "metrics-data-source")->params.path, IG_STRLIT("/metrics")));
    ig_epc_free(c);
}

static void test_parameters_and_names(void **state)
{
    (void)state;
    struct ig_epc *c;
    const char *y = HDR "featureGates: [flowControl]\n"
                        "plugins:\n"
                        "- name: q\n  type: queue-scorer\n"
                        "- name: pick\n  type: weighted-random-picker\n  parameters:\n    maxNumOfEndpoints: 3\n"
                        "- type: utilization-detector\n  parameters: {queueDepthThreshold: 9, kvCacheUtilThreshold: "
                        "0.5, metricsStalenessThreshold: 1.5s, headroom: 0.2}\n"
                        "- type: approx-prefix-cache-producer\n  parameters: {blockSizeTokens: 32, blockSize: 128}\n"
                        "- type: prefix-cache-scorer\n"
                        "- type: core-metrics-extractor\n  parameters: {engineConfigs: [{name: vllm}]}\n"
                        "- type: metrics-data-source\n  parameters: {scheme: https, path: /m}\n"
                        "schedulingProfiles:\n- name: a\n  plugins:\n  - pluginRef: q\n    weight: 0.5\n"
                        "  - pluginRef: prefix-cache-scorer\n  - pluginRef: pick\n"
                        "saturationDetector: {pluginRef: utilization-detector}\n"
                        "parser: {pluginRef: openai-parser}\n"
                        "flowControl: {maxBytes: 10Gi, maxRequests: 5000}\n";
    /* parser names a plugin that the file does not declare: an error */
    assert_int_equal(load(y, &c), IG_EINVAL);
    assert_string_equal(err, "epp.yaml:28:21: parser: unknown plugin reference openai-parser");
    char y2[2048];
    snprintf(y2, sizeof(y2), "%s- type: openai-parser\n", y);
    /* appending to the root mapping: move the plugin into the plugins list instead */
    const char *cut = strstr(y, "- type: core-metrics-extractor");
    snprintf(y2, sizeof(y2), "%.*s- type: openai-parser\n%s", (int)(cut - y), y, cut);
    assert_int_equal(load(y2, &c), 0);
    assert_true(c->flow_control);
    assert_int_equal(c->n_feature_gates, 1);
    assert_float_equal(c->profiles[0].refs[0].weight, 0.5, 0);
    assert_float_equal(c->profiles[0].refs[1].weight, 1.0, 0);
    assert_int_equal(plugin(c, "pick")->params.max_num_of_endpoints, 3);
    const struct ig_sched_params *up = &plugin(c, "utilization-detector")->params;
    assert_int_equal(up->queue_depth_threshold, 9);
    assert_float_equal(up->kv_cache_util_threshold, 0.5, 0);
    assert_int_equal(up->metrics_staleness_ns, 1500000000);
    assert_float_equal(up->headroom, 0.2, 0);
    assert_int_equal(plugin(c, "approx-prefix-cache-producer")->params.block_size_tokens, 32);
    assert_true(ig_iov_eq(plugin(c, "metrics-data-source")->params.scheme, IG_STRLIT("https")));
    assert_false(plugin(c, "openai-parser")->implicit);
    /* no max-score-picker added: the profile has one */
    assert_int_equal(ig_epc_find(c, IG_STRLIT("max-score-picker")), SIZE_MAX);
    struct ig_sched *s;
    assert_int_equal(ig_sched_create(c, 1, &s, err, sizeof(err)), 0);
    ig_sched_destroy(s);
    ig_epc_free(c);
}

static void test_no_profiles(void **state)
{
    (void)state;
    struct ig_epc *c;
    /* "default" gets every filter, scorer and picker (not the detector). */
    assert_int_equal(load(HDR "plugins:\n- type: decode-filter\n- type: queue-scorer\n- type: random-picker\n"
                              "- type: concurrency-detector\n",
                          &c),
                     0);
    assert_int_equal(c->n_profiles, 1);
    assert_int_equal(c->profiles[0].n_refs, 3);
    assert_string_equal(c->plugins[c->saturation_detector].type.base, "utilization-detector");
    ig_epc_free(c);
}

static void test_file(void **state)
{
    (void)state;
    char path[] = "/tmp/ig-epc-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, ig_epc_default_text, strlen(ig_epc_default_text)), (ssize_t)strlen(ig_epc_default_text));
    close(fd);
    struct ig_epc *c;
    assert_int_equal(ig_epc_load_file(path, &c, err, sizeof(err)), 0);
    ig_epc_free(c);
    unlink(path);
    assert_true(ig_epc_load_file(path, &c, err, sizeof(err)) < 0);
    assert_null(c);
}

static void test_errors(void **state)
{
    (void)state;
    /* YAML syntax */
    EXPECT_ERR("plugins: [a\n", "epp.yaml:2:1: did not find expected ',' or ']'");
    EXPECT_ERR("", "epp.yaml:1:1: empty document");
    EXPECT_ERR("- a\n", "epp.yaml:1:1: EndpointPickerConfig: expected a mapping");
    EXPECT_ERR("a: &x 1\nb: *x\n", "epp.yaml:2:4: YAML aliases are not supported");
    /* document shape */
    EXPECT_ERR("kind: Foo\nplugins: []\n", "epp.yaml:1:7: kind: expected EndpointPickerConfig, got Foo");
    EXPECT_ERR("apiVersion: v9\nplugins: []\n", "epp.yaml:1:13: apiVersion: unsupported v9");
    EXPECT_ERR("kind: EndpointPickerConfig\n", "epp.yaml:1:1: plugins: required");
    EXPECT_ERR("plugins: []\nscheduler: {}\n", "epp.yaml:2:1: unknown key scheduler");
    EXPECT_ERR("plugins: {}\n", "epp.yaml:1:10: plugins: expected a list");
    EXPECT_ERR("plugins: []\nfeatureGates: [warp]\n", "epp.yaml:2:16: featureGates: unknown feature gate warp");
    /* plugin types */
    EXPECT_ERR("plugins:\n- type: foo-scorer\n", "epp.yaml:2:9: plugins[0]: unknown plugin type foo-scorer");
    EXPECT_ERR("plugins:\n- name: x\n", "epp.yaml:2:3: plugins[0]: type is required");
    EXPECT_ERR("plugins:\n- type: queue-scorer\n  color: red\n", "epp.yaml:3:3: plugins[0]: unknown key color");
    EXPECT_ERR("plugins:\n- type: queue-scorer\n- type: queue-scorer\n",
               "epp.yaml:3:9: plugins[1]: duplicate plugin name queue-scorer");
    /* parameters */
    EXPECT_ERR("plugins:\n- type: max-score-picker\n  parameters: {maxNumOfEndpoint: 2}\n",
               "epp.yaml:3:16: plugin max-score-picker: unknown parameter maxNumOfEndpoint for type max-score-picker");
    EXPECT_ERR("plugins:\n- type: max-score-picker\n  parameters: {maxNumOfEndpoints: two}\n",
               "epp.yaml:3:35: plugin max-score-picker: parameter maxNumOfEndpoints: expected an integer");
    EXPECT_ERR("plugins:\n- type: max-score-picker\n  parameters: {maxNumOfEndpoints: \"2\"}\n",
               "epp.yaml:3:35: plugin max-score-picker: parameter maxNumOfEndpoints: expected an integer");
    EXPECT_ERR("plugins:\n- type: token-load-scorer\n  parameters: {queueThresholdTokens: 0}\n",
               "epp.yaml:3:38: plugin token-load-scorer: parameter queueThresholdTokens: must be between 1 and "
               "1000000000000000000");
    EXPECT_ERR("plugins:\n- type: utilization-detector\n  parameters: {kvCacheUtilThreshold: 1.5}\n",
               "epp.yaml:3:38: plugin utilization-detector: parameter kvCacheUtilThreshold: must be between 1e-09 "
               "and 1");
    EXPECT_ERR("plugins:\n- type: utilization-detector\n  parameters: {metricsStalenessThreshold: 5 parsecs}\n",
               "epp.yaml:3:43: plugin utilization-detector: parameter metricsStalenessThreshold: unknown unit "
               "(expected ns, us, ms, s, m, h)");
    EXPECT_ERR("plugins:\n- type: approx-prefix-cache-producer\n  parameters: {autoTune: yes}\n",
               "epp.yaml:3:26: plugin approx-prefix-cache-producer: parameter autoTune: expected true or false");
    EXPECT_ERR("plugins:\n- type: approx-prefix-cache-producer\n  parameters: {blockSize: 64}\n",
               "epp.yaml:3:15: plugin approx-prefix-cache-producer: parameter blockSize (characters) is deprecated; "
               "set blockSizeTokens");
    EXPECT_ERR("plugins:\n- type: concurrency-detector\n  parameters: {concurrencyMode: bytes}\n",
               "epp.yaml:3:33: plugin concurrency-detector: parameter concurrencyMode: must be requests or tokens");
    EXPECT_ERR("plugins:\n- type: queue-scorer\n  parameters: [1]\n", "epp.yaml:3:15: parameters: expected a mapping");
    /* references */
    EXPECT_ERR("plugins:\n- type: queue-scorer\nschedulingProfiles:\n- name: p\n  plugins: [{pluginRef: q}]\n",
               "epp.yaml:5:25: schedulingProfiles[0].plugins[0]: unknown plugin reference q");
    EXPECT_ERR("plugins:\n- type: queue-scorer\nschedulingProfiles:\n- plugins: []\n",
               "epp.yaml:4:3: schedulingProfiles[0]: name is required");
    EXPECT_ERR("plugins:\n- type: queue-scorer\nschedulingProfiles:\n- name: p\n- name: p\n",
               "epp.yaml:5:9: schedulingProfiles[1]: duplicate profile name p");
    EXPECT_ERR("plugins:\n- type: random-picker\n- type: max-score-picker\nschedulingProfiles:\n- name: p\n"
               "  plugins: [{pluginRef: random-picker}, {pluginRef: max-score-picker}]\n",
               "epp.yaml:6:53: schedulingProfiles[0].plugins[1]: a profile has exactly one picker");
    EXPECT_ERR("plugins:\n- type: openai-parser\nschedulingProfiles:\n- name: p\n"
               "  plugins: [{pluginRef: openai-parser}]\n",
               "epp.yaml:5:25: schedulingProfiles[0].plugins[0]: plugin openai-parser (openai-parser) is not a "
               "filter, scorer or picker");
    EXPECT_ERR("plugins:\n- type: queue-scorer\nschedulingProfiles:\n- name: p\n"
               "  plugins: [{pluginRef: queue-scorer, weight: heavy}]\n",
               "epp.yaml:5:47: weight: expected a number");
    EXPECT_ERR("plugins:\n- type: queue-scorer\nsaturationDetector: {pluginRef: queue-scorer}\n",
               "epp.yaml:3:33: saturationDetector: plugin queue-scorer has type queue-scorer, which cannot be used "
               "here");
    EXPECT_ERR("plugins:\n- type: queue-scorer\ndataLayer:\n  sources: [{pluginRef: mds}]\n",
               "epp.yaml:4:25: dataLayer.sources[0]: unknown plugin reference mds");
    EXPECT_ERR("plugins:\n- type: queue-scorer\nschedulingProfiles:\n- name: a\n- name: b\n",
               "epp.yaml:1:1: schedulingProfiles: single-profile-handler runs exactly one profile, 2 given");
    EXPECT_ERR("plugins:\n- type: random-picker\n- type: max-score-picker\n",
               "epp.yaml:1:1: plugins: several pickers but no schedulingProfiles to choose one");
    /* several errors, one per line */
    EXPECT_ERR("plugins:\n- type: a\n- type: b\n",
               "epp.yaml:2:9: plugins[0]: unknown plugin type a\nepp.yaml:3:9: plugins[1]: unknown plugin type b");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_file), cmocka_unit_test(test_parameters_and_names),
        cmocka_unit_test(test_no_profiles),  cmocka_unit_test(test_file),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
