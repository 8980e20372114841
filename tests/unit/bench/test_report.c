/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the bench's reports (report.c, plot.c): JSON written and read back (as --merge
 * does) keeps every number, empty metrics become null and come back empty, replica shares sum
 * to 1; CSV has a header and one row per stage; count lists cap at IG_BENCH_MAX_KEYS with
 * "other"; the gnuplot script and data files are written (without running gnuplot).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "bench_int.h"

static char dir[] = "/tmp/ig-bench-report-XXXXXX";

static void make_arm(struct ig_bench_arm *arm)
{
    memset(arm, 0, sizeof(*arm));
    arm->label = ig_strdup("rr, \"quoted\"");
    arm->target = ig_strdup("http://127.0.0.1:1");
    arm->config = ig_strdup("{\"workload\":\"shared_prefix\"}");
    arm->nstages = 2;
    arm->stages = ig_calloc(2, sizeof(*arm->stages));
    struct ig_bench_stage *s = &arm->stages[0];
    s->mode = IG_BENCH_MODE_RATE;
    s->rate = 2.5;
    s->duration_s = 30;
    s->elapsed_s = 31.25;
    s->sent = 80;
    s->succeeded = 75;
    s->failed = 5;
    s->input_tokens = 7500;
    s->output_tokens = 3750;
    s->cached_tokens = 1000;
    s->rps = 2.4;
    s->in_tps = 240;
    s->out_tps = 120;
    s->ttft = (struct ig_bench_summary){75, 12.5, 11, 20, 30.5, 1, 40};
    s->e2e = (struct ig_bench_summary){75, 500, 480, 600, 700, 300, 800};
    ig_bench__count_add(&s->replicas, &s->nreplicas, "a", 1, 50);
    ig_bench__count_add(&s->replicas, &s->nreplicas, "b", 1, 30);
    ig_bench__count_add(&s->failures, &s->nfailures, "http_503", 8, 5);
    s = &arm->stages[1];
    s->mode = IG_BENCH_MODE_CONCURRENCY;
    s->concurrency = 8;
    s->max_requests = 100;
    s->rps = 9;
}

static void test_json_round_trip(void **state)
{
    (void)state;
    struct ig_bench_arm arm, back;
    char path[128], err[256];
    make_arm(&arm);
    snprintf(path, sizeof(path), "%s/a.json", dir);
    assert_int_equal(ig_bench__report_json(path, &arm), 0);
    assert_int_equal(ig_bench__report_load(path, &back, err, sizeof(err)), 0);
    assert_string_equal(back.label, arm.label);
    assert_string_equal(back.target, arm.target);
    assert_int_equal(back.nstages, 2);
    const struct ig_bench_stage *s = &back.stages[0];
    assert_int_equal(s->mode, IG_BENCH_MODE_RATE);
    assert_float_equal(s->rate, 2.5, 1e-9);
    assert_float_equal(s->elapsed_s, 31.25, 1e-9);
    assert_int_equal(s->sent, 80);
    assert_int_equal(s->succeeded, 75);
    assert_int_equal(s->failed, 5);
    assert_int_equal(s->output_tokens, 3750);
    assert_int_equal(s->cached_tokens, 1000);
    assert_float_equal(s->out_tps, 120, 1e-9);
    assert_int_equal(s->ttft.count, 75);
    assert_float_equal(s->ttft.p90, 20, 1e-9);
    assert_float_equal(s->ttft.p99, 30.5, 1e-9);
    assert_float_equal(s->e2e.p50, 480, 1e-9);
    assert_int_equal(s->tpot.count, 0);
    assert_true(isnan(s->tpot.p50)); /* null in the file */
    assert_int_equal(s->nreplicas, 2);
    assert_string_equal(s->replicas[1].name, "b");
    assert_int_equal(s->replicas[1].n, 30);
    assert_int_equal(s->nfailures, 1);
    assert_int_equal(s->failures[0].n, 5);
    assert_int_equal(back.stages[1].mode, IG_BENCH_MODE_CONCURRENCY);
    assert_int_equal(back.stages[1].concurrency, 8);
    assert_int_equal(back.stages[1].max_requests, 100);
    ig_bench__arm_dispose(&back);

    /* shares in the file sum to 1 */
    FILE *f = fopen(path, "r");
    char text[16384];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = 0;
    assert_non_null(strstr(text, "\"share\": 0.625"));
    assert_non_null(strstr(text, "\"share\": 0.375"));
    assert_non_null(strstr(text, "\"workload\": \"shared_prefix\""));

    /* not a report */
    snprintf(path, sizeof(path), "%s/bad.json", dir);
    f = fopen(path, "w");
    fputs("{\"x\":1}", f);
    fclose(f);
    assert_int_equal(ig_bench__report_load(path, &back, err, sizeof(err)), IG_EINVAL);
    assert_non_null(strstr(err, "not an infergate bench"));
    snprintf(path, sizeof(path), "%s/missing.json", dir);
    assert_int_equal(ig_bench__report_load(path, &back, err, sizeof(err)), IG_EINVAL);
    ig_bench__arm_dispose(&arm);
}

static void test_csv_and_plot(void **state)
{
    (void)state;
    struct ig_bench_arm arm;
    char path[128], line[4096];
    make_arm(&arm);
    snprintf(path, sizeof(path), "%s/r.csv", dir);
    assert_int_equal(ig_bench__report_csv(path, &arm, 1), 0);
    FILE *f = fopen(path, "r");
    int rows = 0;
    assert_non_null(fgets(line, sizeof(line), f));
    assert_true(strncmp(line, "label,stage,mode,rate,", 22) == 0);
    assert_non_null(strstr(line, "ttft_p90_ms"));
    while (fgets(line, sizeof(line), f) != NULL) {
        rows++;
        assert_true(strncmp(line, "\"rr, \"\"quoted\"\"\",", 17) == 0);
    }
    fclose(f);
    assert_int_equal(rows, 2);

    char prefix[128];
    snprintf(prefix, sizeof(prefix), "%s/plot", dir);
    assert_int_equal(ig_bench__plot(prefix, &arm, 1, 0), 0);
    snprintf(path, sizeof(path), "%s/plot.gp", dir);
    f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    line[n] = 0;
    fclose(f);
    assert_non_null(strstr(line, "plot.png"));
    assert_non_null(strstr(line, "plot.svg"));
    assert_non_null(strstr(line, "'rr, \"quoted\"'"));
    snprintf(path, sizeof(path), "%s/plot-1-rr___quoted_.dat", dir);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f)); /* comment */
    assert_non_null(fgets(line, sizeof(line), f)); /* sorted by x: 2.5 (rate) before 9 (achieved req/s) */
    assert_true(strncmp(line, " 2.5 11 20 480", 14) == 0);
    assert_non_null(fgets(line, sizeof(line), f));
    assert_true(strncmp(line, " 9 ? ? ?", 8) == 0);
    fclose(f);
    ig_bench__arm_dispose(&arm);
}

static void test_count_cap(void **state)
{
    (void)state;
    struct ig_bench_count *v = NULL;
    size_t n = 0;
    char name[16];
    for (int i = 0; i < IG_BENCH_MAX_KEYS + 10; i++) {
        int len = snprintf(name, sizeof(name), "r%d", i);
        ig_bench__count_add(&v, &n, name, (size_t)len, 1);
        ig_bench__count_add(&v, &n, name, (size_t)len, 1);
    }
    assert_int_equal(n, IG_BENCH_MAX_KEYS + 1);
    assert_string_equal(v[IG_BENCH_MAX_KEYS].name, "other");
    assert_int_equal(v[IG_BENCH_MAX_KEYS].n, 20);
    assert_int_equal(v[0].n, 2);
    for (size_t i = 0; i < n; i++)
        ig_free(v[i].name);
    ig_free(v);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_csv_and_plot),
        cmocka_unit_test(test_count_cap),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
