/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the GenAI labels in src/gateway/stats.c: the streaming "model" scanner (every split
 * of a body into two chunks, nested and look-alike keys, escapes, SSE events, the byte limit), the
 * operation from the request path, the model label cap (GW_MODEL_MAX names, then "other"), the
 * labels on the rendered GenAI series.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "gateway_int.h"

/* Scans |body| in two chunks split at every offset; returns the model found ("" when none). */
static void scan_all_splits(const char *body, const char *want)
{
    size_t len = strlen(body);
    for (size_t cut = 0; cut <= len; cut++) {
        struct gw_model_scan m = {0};
        gw_model_scan(&m, body, cut, 1 << 20);
        gw_model_scan(&m, body + cut, len - cut, 1 << 20);
        char got[GW_MODEL_LEN + 1];
        snprintf(got, sizeof(got), "%.*s", m.found ? (int)m.val_len : 0, m.val);
        if (strcmp(got, want) != 0)
            fail_msg("body %s cut at %zu: got \"%s\", want \"%s\"", body, cut, got, want);
        assert_int_equal(m.found, want[0] != 0);
    }
}

static void test_scan(void **state)
{
    (void)state;
    scan_all_splits("{\"model\":\"llama-3\",\"prompt\":\"x\"}", "llama-3");
    scan_all_splits("{ \"prompt\" : \"a \\\"model\\\": \\\"no\\\"\" , \"model\" : \"m1\" }", "m1");
    /* nested objects and arrays, look-alike keys and a non-string model first */
    scan_all_splits("{\"messages\":[{\"role\":\"user\",\"model\":\"inner\"}],\"meta\":{\"model\":\"deep\"},"
                    "\"models\":\"no\",\"mode\":\"no\",\"model\":\"top\"}",
                    "top");
    scan_all_splits("{\"model\":null,\"x\":\"model\",\"y\":[\"model\",\"z\"]}", "");
    scan_all_splits("{\"model\":{\"name\":\"n\"},\"b\":\"model\"}", "");
    scan_all_splits("[{\"model\":\"in-array\"}]", "");
    scan_all_splits("{\"mo\\\"del\":\"x\",\"model\":\"a\\\"b\\\\c\"}", "a\"b\\c");
    /* SSE: the first event's top-level model */
    scan_all_splits("data: {\"id\":\"1\",\"choices\":[{\"text\":\"hi\"}],\"model\":\"sse-m\"}\n\n"
                    "data: {\"model\":\"later\"}\n\ndata: [DONE]\n\n",
                    "sse-m");
    scan_all_splits("data: {\"id\":\"1\"}\n\ndata: {\"model\":\"second\"}\n\n", "second");
    scan_all_splits("not json at all", "");

    /* The limit: a model after it is not seen; the scan stops for good. */
    struct gw_model_scan m = {0};
    const char *body = "{\"prompt\":\"xxxxxxxxxxxxxxxxxxxx\",\"model\":\"late\"}";
    gw_model_scan(&m, body, strlen(body), 20);
    assert_false(m.found);
    assert_true(m.done);
    gw_model_scan(&m, "{\"model\":\"m\"}", 13, 1 << 20);
    assert_false(m.found);
    /* A long name is cut to the label size. */
    char big[600];
    int n = snprintf(big, sizeof(big), "{\"model\":\"");
    memset(big + n, 'a', 300);
    snprintf(big + n + 300, sizeof(big) - (size_t)n - 300, "\"}");
    memset(&m, 0, sizeof(m));
    gw_model_scan(&m, big, strlen(big), 1 << 20);
    assert_true(m.found);
    assert_int_equal(m.val_len, GW_MODEL_LEN - 1);
}

static void test_op(void **state)
{
    (void)state;
    assert_int_equal(gw_genai_op(IG_STRLIT("POST"), IG_STRLIT("/v1/chat/completions")), GW_OP_CHAT);
    assert_int_equal(gw_genai_op(IG_STRLIT("POST"), IG_STRLIT("/v1/completions?x=1")), GW_OP_TEXT_COMPLETION);
    assert_int_equal(gw_genai_op(IG_STRLIT("POST"), IG_STRLIT("/openai/v1/embeddings/")), GW_OP_EMBEDDINGS);
    assert_int_equal(gw_genai_op(IG_STRLIT("POST"), IG_STRLIT("/v1/responses")), GW_OP_CHAT);
    assert_int_equal(gw_genai_op(IG_STRLIT("GET"), IG_STRLIT("/v1/chat/completions")), GW_OP_NONE);
    assert_int_equal(gw_genai_op(IG_STRLIT("POST"), IG_STRLIT("/v1/models")), GW_OP_NONE);
    assert_string_equal(gw_genai_op_name(GW_OP_CHAT), "chat");
    assert_string_equal(gw_genai_op_name(GW_OP_NONE), "unknown");
}

/* Runs first in this process: the model table is process-wide and starts empty. */
static void test_model_cap(void **state)
{
    (void)state;
    assert_int_equal(gw_model_id("", 0), GW_MODEL_UNKNOWN);
    assert_string_equal(gw_model_name(GW_MODEL_UNKNOWN), "unknown");
    uint8_t first = gw_model_id("model-0", 7);
    assert_true(first >= 2);
    assert_int_equal(gw_model_id("model-0", 7), first);
    assert_string_equal(gw_model_name(first), "model-0");
    assert_int_not_equal(gw_model_id("model-00", 8), first); /* no prefix matches */
    char name[32];
    for (int i = 2; i < GW_MODEL_MAX; i++) { /* "model-0" and "model-00" are two of the 64 */
        int k = snprintf(name, sizeof(name), "model-%d", i);
        uint8_t id = gw_model_id(name, (size_t)k);
        assert_true(id >= 2);
        assert_string_equal(gw_model_name(id), name);
    }
    assert_int_equal(gw_model_id("one-too-many", 12), GW_MODEL_OTHER);
    assert_string_equal(gw_model_name(GW_MODEL_OTHER), "other");
    assert_int_equal(gw_model_id("model-5", 7), gw_model_id("model-5", 7)); /* known names keep theirs */
    assert_string_equal(gw_model_name(gw_model_id("model-5", 7)), "model-5");
}

static struct gw_worker worker;
static struct gw_worker *wptr = &worker;

static void test_render_labels(void **state)
{
    (void)state;
    memset(&gw, 0, sizeof(gw));
    gw.nworkers = 1;
    gw.w = &wptr;
    gw_stats_init(&worker.stats);
    struct gw_stat_key k = {"bind/8443", "l", "r", "unknown", "b", "POST", "", 200};
    struct gw_genai g = {.stream = 1, .first_ns = 2000, .last_ns = 5000, .op = GW_OP_CHAT};
    g.req.found = g.resp.found = 1;
    g.req.val_len = 7;
    memcpy(g.req.val, "model-3", 7);
    g.resp.val_len = 12;
    memcpy(g.resp.val, "one-too-many", 12); /* past the cap (test_model_cap): "other" */
    gw_stats_record(&worker.stats, &k, 1000);
    gw_stats_genai(&worker.stats, &k, &g, 1000, 7, 4);
    struct gw_genai plain = {.stream = 1, .first_ns = 2000, .last_ns = 5000}; /* not an OpenAI request */
    gw_stats_record(&worker.stats, &k, 1000);
    gw_stats_genai(&worker.stats, &k, &plain, 1000, 1, 1);
    ig_buf_t out;
    ig_buf_init(&out, 1 << 20);
    assert_int_equal(gw_metrics_render(&out), 0);
    assert_non_null(ig_buf_reserve(&out, 1));
    ig_buf_data(&out)[out.len] = 0;
    const char *page = ig_buf_data(&out);
    assert_non_null(strstr(page, "infergate_gen_ai_client_token_usage_sum{gen_ai_operation_name=\"chat\","
                                 "gen_ai_system=\"openai\",gen_ai_request_model=\"model-3\","
                                 "gen_ai_response_model=\"other\",gateway=\"bind/8443\",listener=\"l\",route=\"r\","
                                 "route_rule=\"unknown\",backend=\"b\",gen_ai_token_type=\"input\"} 7"));
    assert_non_null(strstr(page, "infergate_gen_ai_server_time_to_first_token_seconds_count{"
                                 "gen_ai_operation_name=\"chat\",gen_ai_system=\"openai\","
                                 "gen_ai_request_model=\"model-3\",gen_ai_response_model=\"other\""));
    assert_non_null(strstr(page, "infergate_gen_ai_client_token_usage_sum{gen_ai_operation_name=\"unknown\","
                                 "gen_ai_system=\"unknown\",gen_ai_request_model=\"unknown\","
                                 "gen_ai_response_model=\"unknown\""));
    /* the request counters keep their own labels, merged over the GenAI ones */
    assert_non_null(strstr(page, "infergate_requests_total{gateway=\"bind/8443\",listener=\"l\",route=\"r\","
                                 "route_rule=\"unknown\",backend=\"b\",method=\"POST\",status=\"200\",reason=\"\"} 2"));
    ig_buf_dispose(&out);
    gw_stats_dispose(&worker.stats);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_cap),
        cmocka_unit_test(test_scan),
        cmocka_unit_test(test_op),
        cmocka_unit_test(test_render_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
