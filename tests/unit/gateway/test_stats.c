/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/gateway/stats.c: per-worker label sets (lookup, creation, overflow), the merge
 * of several workers' tables into one Prometheus page, and the access-log line in text and JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "gateway_int.h"

static struct gw_worker workers[2];
static struct gw_worker *wptrs[2] = {&workers[0], &workers[1]};

static int setup(void **state)
{
    (void)state;
    memset(&gw, 0, sizeof(gw));
    gw.nworkers = 2;
    gw.w = wptrs;
    for (int i = 0; i < 2; i++)
        gw_stats_init(&workers[i].stats);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++)
        gw_stats_dispose(&workers[i].stats);
    return 0;
}

static struct gw_stat_key key(const char *route, const char *method, int status)
{
    return (struct gw_stat_key){"bind/8080", "listener0", route, "unknown", "127.0.0.1:9", method, "", status};
}

/* Sums the samples of |name| whose line contains every string of |needles| (NULL-terminated). */
static double sample(const char *page, const char *prefix, const char *needle)
{
    double sum = 0;
    const char *p = page;
    while (p != NULL && *p != 0) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        char line[1024];
        if (len < sizeof(line)) {
            memcpy(line, p, len);
            line[len] = 0;
            if (strncmp(line, prefix, strlen(prefix)) == 0 && (needle == NULL || strstr(line, needle) != NULL))
                sum += strtod(strrchr(line, ' ') + 1, NULL);
        }
        p = nl != NULL ? nl + 1 : NULL;
    }
    return sum;
}

static void test_record_and_merge(void **state)
{
    (void)state;
    struct gw_stat_key a = key("r1", "GET", 200), b = key("r1", "POST", 200), c = key("r2", "GET", 503);
    for (int i = 0; i < 5; i++)
        gw_stats_record(&workers[0].stats, &a, 2000000); /* 2 ms */
    gw_stats_record(&workers[0].stats, &b, 40000000);
    gw_stats_record(&workers[1].stats, &a, 500000);
    gw_stats_record(&workers[1].stats, &c, 3000000000ULL);
    assert_int_equal(atomic_load(&workers[0].stats.n), 2);
    assert_int_equal(atomic_load(&workers[1].stats.n), 2);
    atomic_store(&workers[0].stats.downstream_connections, 3);
    atomic_store(&workers[1].stats.downstream_connections, 4);

    ig_buf_t out;
    ig_buf_init(&out, 1 << 20);
    assert_int_equal(gw_metrics_render(&out), 0);
    assert_non_null(ig_buf_reserve(&out, 1));
    ig_buf_data(&out)[out.len] = 0;
    const char *page = ig_buf_data(&out);
    /* the same label set on two workers is one series with the sum */
    assert_true(sample(page, "infergate_requests_total{",
                       "route=\"r1\",route_rule=\"unknown\",backend=\"127.0.0.1:9\","
                       "method=\"GET\",status=\"200\"") == 6);
    assert_true(sample(page, "infergate_requests_total{", "method=\"POST\"") == 1);
    assert_true(sample(page, "infergate_requests_total{", "status=\"503\"") == 1);
    assert_true(sample(page, "infergate_request_duration_seconds_count{", "method=\"GET\",status=\"200\"") == 6);
    /* cumulative buckets: 0.5 ms -> le 0.001; 2 ms -> le 0.0025 */
    assert_true(sample(page, "infergate_request_duration_seconds_bucket{", "status=\"200\",reason=\"\",le=\"0.001\"") ==
                1);
    assert_true(
        sample(page, "infergate_request_duration_seconds_bucket{", "status=\"200\",reason=\"\",le=\"0.0025\"") == 6);
    assert_true(sample(page, "infergate_request_duration_seconds_bucket{", "status=\"503\",reason=\"\",le=\"2.5\"") ==
                0);
    assert_true(sample(page, "infergate_request_duration_seconds_bucket{", "status=\"503\",reason=\"\",le=\"5\"") == 1);
    assert_true(sample(page, "infergate_downstream_connections_total", NULL) == 7);
    assert_non_null(strstr(page, "# TYPE infergate_request_duration_seconds histogram"));
    ig_buf_dispose(&out);
}

static void test_overflow(void **state)
{
    (void)state;
    char route[32];
    for (int i = 0; i < GW_STATS_MAX + 10; i++) {
        snprintf(route, sizeof(route), "r%d", i);
        struct gw_stat_key k = key(route, "GET", 200);
        gw_stats_record(&workers[0].stats, &k, 1000);
    }
    assert_int_equal(atomic_load(&workers[0].stats.n), GW_STATS_MAX);
    /* past the table, requests still count: in the overflow set */
    assert_int_equal(atomic_load(&workers[0].stats.v[GW_STATS_MAX].count), 10);
    /* an existing set is still found */
    struct gw_stat_key k = key("r3", "GET", 200);
    gw_stats_record(&workers[0].stats, &k, 1000);
    assert_int_equal(atomic_load(&workers[0].stats.v[GW_STATS_MAX].count), 10);
}

static void render(ig_buf_t *out)
{
    ig_buf_init(out, 1 << 20);
    assert_int_equal(gw_metrics_render(out), 0);
    assert_non_null(ig_buf_reserve(out, 1));
    ig_buf_data(out)[out->len] = 0;
}

static void test_genai(void **state)
{
    (void)state;
    struct gw_stat_key a = key("r1", "GET", 200), b = key("r1", "POST", 200), c = key("r2", "GET", 200);
    /* A streamed response: first chunk 50 ms after the head, then 99 more tokens 20 ms apart. */
    uint64_t start = 1000000000ULL;
    struct gw_genai g = {.first_ns = start + 50000000ULL, .last_ns = start + 50000000ULL + 99 * 20000000ULL};
    g.stream = 1;
    gw_stats_record(&workers[0].stats, &a, 2000000);
    gw_stats_genai(&workers[0].stats, &a, &g, start, 10, 100);
    /* A JSON response on the other worker, another method: the same route identity. */
    struct gw_genai plain = {0};
    gw_stats_record(&workers[1].stats, &b, 2000000);
    gw_stats_genai(&workers[1].stats, &b, &plain, start, 3000, 5);
    /* No usage, not streamed: nothing recorded. */
    gw_stats_record(&workers[1].stats, &c, 2000000);
    gw_stats_genai(&workers[1].stats, &c, &plain, start, -1, -1);

    ig_buf_t out;
    render(&out);
    const char *page = ig_buf_data(&out);
    const char *in = "backend=\"127.0.0.1:9\",gen_ai_token_type=\"input\"";
    const char *outp = "backend=\"127.0.0.1:9\",gen_ai_token_type=\"output\"";
    assert_non_null(strstr(page, "# TYPE infergate_gen_ai_client_token_usage histogram"));
    assert_true(sample(page, "infergate_gen_ai_client_token_usage_count{", in) == 2);
    assert_true(sample(page, "infergate_gen_ai_client_token_usage_sum{", in) == 3010);
    assert_true(sample(page, "infergate_gen_ai_client_token_usage_sum{", outp) == 105);
    /* token buckets 1, 4, 16, ..., 4096: 10 -> le 16, 3000 -> le 4096 */
    assert_true(sample(page, "infergate_gen_ai_client_token_usage_bucket{", "\"input\",le=\"4\"") == 0);
    assert_true(sample(page, "infergate_gen_ai_client_token_usage_bucket{", "\"input\",le=\"16\"") == 1);
    assert_true(sample(page, "infergate_gen_ai_client_token_usage_bucket{", "\"input\",le=\"4096\"") == 2);
    assert_true(sample(page, "infergate_gen_ai_client_token_usage_bucket{", "\"output\",le=\"4\"") == 0);
    assert_true(sample(page, "infergate_gen_ai_client_token_usage_bucket{", "\"output\",le=\"16\"") == 1);
    assert_true(sample(page, "infergate_gen_ai_client_token_usage_bucket{", "\"output\",le=\"256\"") == 2);
    /* GenAI series carry the route identity only: no method, no status, no route without usage */
    assert_null(strstr(page, "infergate_gen_ai_client_token_usage_count{gateway=\"bind/8080\",listener=\"listener0\","
                             "route=\"r1\",route_rule=\"unknown\",backend=\"127.0.0.1:9\",method"));
    assert_true(sample(page, "infergate_gen_ai_client_token_usage_count{", "route=\"r2\"") == 0);
    /* time to first token 50 ms: bounds ... 0.04, 0.06 ... */
    assert_true(sample(page, "infergate_gen_ai_server_time_to_first_token_seconds_count{", "route=\"r1\"") == 1);
    assert_true(sample(page, "infergate_gen_ai_server_time_to_first_token_seconds_bucket{", "le=\"0.04\"") == 0);
    assert_true(sample(page, "infergate_gen_ai_server_time_to_first_token_seconds_bucket{", "le=\"0.06\"") == 1);
    double ttft_sum = sample(page, "infergate_gen_ai_server_time_to_first_token_seconds_sum{", "route=\"r1\"");
    assert_true(ttft_sum > 0.0499 && ttft_sum < 0.0501);
    /* 99 tokens after the first over 1.98 s: 20 ms each (bounds 0.01, 0.025) */
    assert_true(sample(page, "infergate_gen_ai_server_time_per_output_token_seconds_count{", "route=\"r1\"") == 1);
    assert_true(sample(page, "infergate_gen_ai_server_time_per_output_token_seconds_bucket{", "le=\"0.01\"") == 0);
    assert_true(sample(page, "infergate_gen_ai_server_time_per_output_token_seconds_bucket{", "le=\"0.025\"") == 1);
    ig_buf_dispose(&out);

    /* Chunk timestamps are taken for streamed responses only. */
    struct gw_genai t = {0};
    gw_genai_chunk(&t);
    assert_int_equal(t.first_ns, 0);
    t.stream = 1;
    gw_genai_chunk(&t);
    uint64_t first = t.first_ns;
    assert_true(first != 0);
    gw_genai_chunk(&t);
    assert_int_equal(t.first_ns, first);
    assert_true(t.last_ns >= first);
}

static void test_connect_duration(void **state)
{
    (void)state;
    gw_stats_on_connect(&workers[0].stats, 0, 300000);                  /* 0.3 ms */
    gw_stats_on_connect(&workers[1].stats, 0, 50000);                   /* 50 us */
    gw_stats_on_connect(&workers[1].stats, IG_ECONNECT, 2000000000ULL); /* 2 s */
    ig_buf_t out;
    render(&out);
    const char *page = ig_buf_data(&out);
    assert_non_null(strstr(page, "# TYPE infergate_upstream_connect_duration_seconds histogram"));
    assert_true(sample(page, "infergate_upstream_connect_duration_seconds_count{", "result=\"success\"") == 2);
    assert_true(sample(page, "infergate_upstream_connect_duration_seconds_count{", "result=\"failure\"") == 1);
    assert_true(sample(page, "infergate_upstream_connect_duration_seconds_bucket{", "success\",le=\"0.0001\"") == 1);
    assert_true(sample(page, "infergate_upstream_connect_duration_seconds_bucket{", "success\",le=\"0.0005\"") == 2);
    assert_true(sample(page, "infergate_upstream_connect_duration_seconds_bucket{", "failure\",le=\"1\"") == 0);
    assert_true(sample(page, "infergate_upstream_connect_duration_seconds_bucket{", "failure\",le=\"2.5\"") == 1);
    double sum = sample(page, "infergate_upstream_connect_duration_seconds_sum{", "result=\"success\"");
    assert_true(sum > 0.000349 && sum < 0.000351);
    ig_buf_dispose(&out);
}

static void read_line(int fd, char *buf, size_t size)
{
    ssize_t n = read(fd, buf, size - 1);
    assert_true(n > 0);
    buf[n] = 0;
}

static void test_access_log(void **state)
{
    (void)state;
    struct ig_config *cfg = NULL;
    const char *text = "binds: [{port: 8080, listeners: [{routes: [{backends: [{host: \"127.0.0.1:9\"}]}]}]}]\n"
                       "frontendPolicies: {accessLog: {remove: [src.addr]}}\n";
    char err[512];
    assert_int_equal(ig_config_load_string("t.yaml", text, strlen(text), &cfg, err, sizeof(err)), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    gw.access_log_fd = fds[1];
    struct gw_access a = {0};
    a.gateway = "bind/8080";
    a.listener = "listener0";
    a.route = "route0";
    a.endpoint = "127.0.0.1:9";
    snprintf(a.src, sizeof(a.src), "127.0.0.1:5555");
    a.method = IG_STRLIT("GET");
    a.host = IG_STRLIT("example.com");
    a.path = IG_STRLIT("/a b\"c");
    a.version = IG_HTTP_11;
    a.status = 503;
    a.protocol = "http";
    a.reason = "upstream_connect_failed";
    a.duration_ns = 1500000;
    a.input_tokens = -1;
    a.output_tokens = 7;

    char line[4096];
    gw.access_log_json = 0;
    gw_access_log(&workers[0], cfg, &a);
    read_line(fds[0], line, sizeof(line));
    assert_non_null(strstr(line, " info  request gateway=bind/8080 listener=listener0 route=route0 "));
    assert_non_null(strstr(line, "http.status=503"));
    assert_non_null(strstr(line, "error=upstream_connect_failed"));
    assert_non_null(strstr(line, "http.path=\"/a b\\\"c\""));
    assert_non_null(strstr(line, "duration=1.500ms"));
    assert_null(strstr(line, "src.addr")); /* accessLog.remove */
    assert_null(strstr(line, "input_tokens"));
    assert_non_null(strstr(line, "gen_ai.usage.output_tokens=7"));
    assert_int_equal(line[strlen(line) - 1], '\n');

    gw.access_log_json = 1;
    gw_access_log(&workers[0], cfg, &a);
    read_line(fds[0], line, sizeof(line));
    json_error_t jerr;
    json_t *doc = json_loads(line, 0, &jerr);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "http.path")), "/a b\"c");
    assert_int_equal(json_integer_value(json_object_get(doc, "http.status")), 503);
    assert_string_equal(json_string_value(json_object_get(doc, "error")), "upstream_connect_failed");
    assert_string_equal(json_string_value(json_object_get(doc, "scope")), "request");
    assert_null(json_object_get(doc, "src.addr"));
    json_decref(doc);
    close(fds[0]);
    close(fds[1]);
    ig_config_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_record_and_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_genai, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_duration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_log, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
