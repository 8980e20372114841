/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of metrics/ (registry.c, prom_write.c): the Prometheus text exposition of counters,
 * gauges and histograms compared byte for byte, value formatting, escaping, cumulative buckets,
 * label sets, scrape-time collectors and writer helpers, registration errors and the output cap.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ig/metrics.h"

/* Compares the whole page with |want|; on mismatch cmocka prints both strings. */
static void expect_page(const ig_metrics_t *m, const char *want)
{
    ig_buf_t out;
    ig_buf_init(&out, 0);
    assert_int_equal(ig_metrics_write(m, &out), 0);
    assert_int_equal(ig_buf_append(&out, "", 1), 0);
    assert_string_equal(ig_buf_data(&out), want);
    ig_buf_dispose(&out);
}

static void test_format_value(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *s;
    } cases[] = {
        {0, "0"},
        {-0.0, "0"},
        {1, "1"},
        {-2, "-2"},
        {42, "42"},
        {1e6, "1000000"},
        {123456789012345.0, "123456789012345"},
        {4294967296.0, "4294967296"},
        {1152921504606846976.0, "1152921504606846976"}, /* 2^60: exact, no exponent */
        {0.25, "0.25"},
        {0.1, "0.1"},
        {-1.5, "-1.5"},
        {1e-6, "1e-06"},
        {0.005, "0.005"},
        {2.5e-10, "2.5e-10"},
        {1.0 / 3.0, "0.3333333333333333"},
        {1e20, "1e+20"},
    };
    char buf[32];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = ig_prom_format_value(buf, sizeof(buf), cases[i].v);
        assert_string_equal(buf, cases[i].s);
        assert_int_equal(n, strlen(cases[i].s));
    }
    ig_prom_format_value(buf, sizeof(buf), NAN);
    assert_string_equal(buf, "NaN");
    ig_prom_format_value(buf, sizeof(buf), INFINITY);
    assert_string_equal(buf, "+Inf");
    ig_prom_format_value(buf, sizeof(buf), -INFINITY);
    assert_string_equal(buf, "-Inf");
    /* Truncation stays NUL-terminated inside the buffer. */
    char small[4];
    assert_int_equal(ig_prom_format_value(small, sizeof(small), 123456), 3);
    assert_string_equal(small, "123");
}

static void test_counter(void **state)
{
    (void)state;
    ig_metrics_t *m = ig_metrics_create();
    struct ig_counter *c = ig_metrics_counter(m, "ig_requests_total", "Requests served.", NULL, 0);
    assert_non_null(c);
    expect_page(m, "# HELP ig_requests_total Requests served.\n"
                   "# TYPE ig_requests_total counter\n"
                   "ig_requests_total 0\n");
    ig_counter_inc(c);
    ig_counter_add(c, 2);
    expect_page(m, "# HELP ig_requests_total Requests served.\n"
                   "# TYPE ig_requests_total counter\n"
                   "ig_requests_total 3\n");
    ig_metrics_destroy(m);
}

static void test_gauge_label_sets(void **state)
{
    (void)state;
    ig_metrics_t *m = ig_metrics_create();
    const struct ig_metric_label l1[] = {{"model_name", "m1"}, {"engine", "vllm"}};
    const struct ig_metric_label l2[] = {{"model_name", "m2"}, {"engine", "vllm"}};
    struct ig_gauge *g1 =
        ig_metrics_gauge(m, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent.", l1, 2);
    struct ig_gauge *g2 = ig_metrics_gauge(m, "vllm:kv_cache_usage_perc", "ignored", l2, 2);
    struct ig_gauge *g3 = ig_metrics_gauge(m, "queue", NULL, NULL, 0);
    assert_non_null(g1);
    assert_non_null(g2);
    assert_non_null(g3);
    ig_gauge_set(g1, 0.25);
    ig_gauge_set(g2, 1);
    ig_gauge_add(g2, -0.5);
    ig_gauge_set(g3, -7);
    expect_page(m, "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent.\n"
                   "# TYPE vllm:kv_cache_usage_perc gauge\n"
                   "vllm:kv_cache_usage_perc{model_name=\"m1\",engine=\"vllm\"} 0.25\n"
                   "vllm:kv_cache_usage_perc{model_name=\"m2\",engine=\"vllm\"} 0.5\n"
                   "# TYPE queue gauge\n"
                   "queue -7\n");
    ig_metrics_destroy(m);
}

static void test_histogram(void **state)
{
    (void)state;
    ig_metrics_t *m = ig_metrics_create();
    const double bounds[] = {0.5, 1, 10};
    const struct ig_metric_label l[] = {{"model_name", "m"}};
    struct ig_histogram *h = ig_metrics_histogram(m, "ttft_seconds", "Time to first token.", bounds, 3, l, 1);
    struct ig_histogram *h2 = ig_metrics_histogram(m, "ttft_seconds", NULL, bounds, 3, NULL, 0);
    assert_non_null(h);
    assert_non_null(h2);
    const double obs[] = {0.25, 0.5, 0.75, 5, 50}; /* 0.5 lands in le="0.5": bounds are inclusive */
    for (size_t i = 0; i < 5; i++)
        ig_histogram_observe(h, obs[i]);
    ig_histogram_observe(h2, 11);
    expect_page(m, "# HELP ttft_seconds Time to first token.\n"
                   "# TYPE ttft_seconds histogram\n"
                   "ttft_seconds_bucket{model_name=\"m\",le=\"0.5\"} 2\n"
                   "ttft_seconds_bucket{model_name=\"m\",le=\"1\"} 3\n"
                   "ttft_seconds_bucket{model_name=\"m\",le=\"10\"} 4\n"
                   "ttft_seconds_bucket{model_name=\"m\",le=\"+Inf\"} 5\n"
                   "ttft_seconds_sum{model_name=\"m\"} 56.5\n"
                   "ttft_seconds_count{model_name=\"m\"} 5\n"
                   "ttft_seconds_bucket{le=\"0.5\"} 0\n"
                   "ttft_seconds_bucket{le=\"1\"} 0\n"
                   "ttft_seconds_bucket{le=\"10\"} 0\n"
                   "ttft_seconds_bucket{le=\"+Inf\"} 1\n"
                   "ttft_seconds_sum 11\n"
                   "ttft_seconds_count 1\n");
    /* Raw buckets are not cumulative; the page is. */
    assert_int_equal(h->buckets[0], 2);
    assert_int_equal(h->buckets[1], 1);
    assert_int_equal(h->buckets[2], 1);
    assert_int_equal(h->buckets[3], 1);
    ig_metrics_destroy(m);
}

static void test_escaping(void **state)
{
    (void)state;
    ig_metrics_t *m = ig_metrics_create();
    const struct ig_metric_label l[] = {{"path", "C:\\dir\\\"x\"\nnext"}, {"empty", ""}};
    struct ig_counter *c = ig_metrics_counter(m, "esc_total", "Help with \\ and\nnewline and \"quotes\".", l, 2);
    assert_non_null(c);
    expect_page(m, "# HELP esc_total Help with \\\\ and\\nnewline and \"quotes\".\n"
                   "# TYPE esc_total counter\n"
                   "esc_total{path=\"C:\\\\dir\\\\\\\"x\\\"\\nnext\",empty=\"\"} 0\n");

    ig_buf_t out;
    ig_buf_init(&out, 0);
    assert_int_equal(ig_prom_append_label_value(&out, "a\"b", 3), 0);
    assert_int_equal(out.len, 4);
    assert_memory_equal(ig_buf_data(&out), "a\\\"b", 4);
    ig_buf_dispose(&out);
    ig_metrics_destroy(m);
}

struct lora_state {
    const char *running;
    double ts;
};

static int collect_lora(ig_buf_t *out, void *data)
{
    const struct lora_state *s = data;
    const struct ig_metric_label l[] = {
        {"max_lora", "1"}, {"running_lora_adapters", s->running}, {"waiting_lora_adapters", ""}};
    if (ig_prom_write_family(out, "vllm:lora_requests_info", "Running stats on lora requests.", IG_METRIC_GAUGE) != 0 ||
        ig_prom_write_sample(out, "vllm:lora_requests_info", l, 3, s->ts) != 0)
        return IG_ETOOBIG;
    return 0;
}

static void test_collectors_in_order(void **state)
{
    (void)state;
    ig_metrics_t *m = ig_metrics_create();
    struct ig_counter *a = ig_metrics_counter(m, "a_total", "A.", NULL, 0);
    struct lora_state ls = {"l0,l1", 1763904160.5};
    ig_metrics_add_collector(m, collect_lora, &ls);
    struct ig_gauge *z = ig_metrics_gauge(m, "z", "Z.", NULL, 0);
    ig_counter_add(a, 5);
    ig_gauge_set(z, 1);
    expect_page(m, "# HELP a_total A.\n"
                   "# TYPE a_total counter\n"
                   "a_total 5\n"
                   "# HELP vllm:lora_requests_info Running stats on lora requests.\n"
                   "# TYPE vllm:lora_requests_info gauge\n"
                   "vllm:lora_requests_info{max_lora=\"1\",running_lora_adapters=\"l0,l1\","
                   "waiting_lora_adapters=\"\"} 1763904160.5\n"
                   "# HELP z Z.\n"
                   "# TYPE z gauge\n"
                   "z 1\n");
    ig_metrics_destroy(m);
}

static void test_writer_helpers(void **state)
{
    (void)state;
    ig_buf_t out;
    ig_buf_init(&out, 0);
    const double bounds[] = {0.001, 0.01};
    const uint64_t buckets[] = {1, 0, 2};
    const struct ig_metric_label l[] = {{"k", "v"}};
    assert_int_equal(ig_prom_write_family(&out, "h", NULL, IG_METRIC_HISTOGRAM), 0);
    assert_int_equal(ig_prom_write_histogram(&out, "h", l, 1, bounds, 2, buckets, 0.5, 3), 0);
    assert_int_equal(ig_prom_write_family(&out, "u", "U.", IG_METRIC_UNTYPED), 0);
    assert_int_equal(ig_prom_write_sample(&out, "u", NULL, 0, 18446744073709551615.0), 0);
    assert_int_equal(ig_buf_append(&out, "", 1), 0);
    assert_string_equal(ig_buf_data(&out), "# TYPE h histogram\n"
                                           "h_bucket{k=\"v\",le=\"0.001\"} 1\n"
                                           "h_bucket{k=\"v\",le=\"0.01\"} 1\n"
                                           "h_bucket{k=\"v\",le=\"+Inf\"} 3\n"
                                           "h_sum{k=\"v\"} 0.5\n"
                                           "h_count{k=\"v\"} 3\n"
                                           "# HELP u U.\n"
                                           "# TYPE u untyped\n"
                                           "u 1.8446744073709552e+19\n");
    ig_buf_dispose(&out);
    assert_string_equal(ig_metric_type_name(IG_METRIC_COUNTER), "counter");
}

static void test_registration_errors(void **state)
{
    (void)state;
    ig_metrics_t *m = ig_metrics_create();
    const struct ig_metric_label le[] = {{"le", "1"}};
    const struct ig_metric_label under[] = {{"__name__", "x"}};
    const struct ig_metric_label bad[] = {{"a-b", "x"}};
    const struct ig_metric_label colon[] = {{"a:b", "x"}};
    const struct ig_metric_label ok[] = {{"a", "x"}};
    const double b_ok[] = {1, 2}, b_unsorted[] = {2, 1}, b_dup[] = {1, 1}, b_inf[] = {1, INFINITY};
    assert_null(ig_metrics_counter(m, "", "x", NULL, 0));
    assert_null(ig_metrics_counter(m, "9lives", "x", NULL, 0));
    assert_null(ig_metrics_counter(m, "has space", "x", NULL, 0));
    assert_null(ig_metrics_counter(m, "c", "x", under, 1));
    assert_null(ig_metrics_counter(m, "c", "x", bad, 1));
    assert_null(ig_metrics_counter(m, "c", "x", colon, 1));
    assert_null(ig_metrics_histogram(m, "h", "x", b_ok, 2, le, 1));
    assert_null(ig_metrics_histogram(m, "h", "x", b_unsorted, 2, NULL, 0));
    assert_null(ig_metrics_histogram(m, "h", "x", b_dup, 2, NULL, 0));
    assert_null(ig_metrics_histogram(m, "h", "x", b_inf, 2, NULL, 0));
    assert_non_null(ig_metrics_counter(m, "c", "x", le, 1)); /* "le" is fine outside histograms */
    assert_non_null(ig_metrics_counter(m, "c", "x", ok, 1));
    assert_null(ig_metrics_counter(m, "c", "x", ok, 1)); /* same label set twice */
    assert_null(ig_metrics_gauge(m, "c", "x", NULL, 0)); /* other type */
    assert_non_null(ig_metrics_histogram(m, "h", "x", b_ok, 2, NULL, 0));
    assert_null(ig_metrics_histogram(m, "h", "x", b_ok, 1, ok, 1)); /* other bounds */
    assert_non_null(ig_metrics_histogram(m, "h", "x", b_ok, 2, ok, 1));
    assert_non_null(ig_metrics_histogram(m, "h0", "no bounds: only +Inf", NULL, 0, NULL, 0));
    expect_page(m, "# HELP c x\n"
                   "# TYPE c counter\n"
                   "c{le=\"1\"} 0\n"
                   "c{a=\"x\"} 0\n"
                   "# HELP h x\n"
                   "# TYPE h histogram\n"
                   "h_bucket{le=\"1\"} 0\n"
                   "h_bucket{le=\"2\"} 0\n"
                   "h_bucket{le=\"+Inf\"} 0\n"
                   "h_sum 0\n"
                   "h_count 0\n"
                   "h_bucket{a=\"x\",le=\"1\"} 0\n"
                   "h_bucket{a=\"x\",le=\"2\"} 0\n"
                   "h_bucket{a=\"x\",le=\"+Inf\"} 0\n"
                   "h_sum{a=\"x\"} 0\n"
                   "h_count{a=\"x\"} 0\n"
                   "# HELP h0 no bounds: only +Inf\n"
                   "# TYPE h0 histogram\n"
                   "h0_bucket{le=\"+Inf\"} 0\n"
                   "h0_sum 0\n"
                   "h0_count 0\n");
    ig_metrics_destroy(m);
}

static void test_output_cap(void **state)
{
    (void)state;
    ig_metrics_t *m = ig_metrics_create();
    const double bounds[] = {1, 2, 3, 4, 5};
    assert_non_null(ig_metrics_histogram(m, "a_long_histogram_name", "Help.", bounds, 5, NULL, 0));
    ig_buf_t out;
    ig_buf_init(&out, 64);
    assert_int_equal(ig_metrics_write(m, &out), IG_ETOOBIG);
    assert_true(out.len <= 64);
    ig_buf_dispose(&out);
    ig_buf_init(&out, 4096);
    assert_int_equal(ig_metrics_write(m, &out), 0);
    ig_buf_dispose(&out);
    ig_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_value),     cmocka_unit_test(test_counter),
        cmocka_unit_test(test_gauge_label_sets), cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_escaping),         cmocka_unit_test(test_collectors_in_order),
        cmocka_unit_test(test_writer_helpers),   cmocka_unit_test(test_registration_errors),
        cmocka_unit_test(test_output_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
