/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the bench's statistics (stats.c): exact percentiles by linear interpolation,
 * edge cases (empty, one sample, p0/p100), summaries independent of insertion order, and the
 * reservoir bound: memory capped while count, mean, min and max stay exact.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bench_int.h"

static void test_percentile_exact(void **state)
{
    (void)state;
    double v[100];
    for (int i = 0; i < 100; i++)
        v[i] = i + 1; /* 1..100 */
    assert_float_equal(ig_bench__percentile(v, 100, 50), 50.5, 1e-9);
    assert_float_equal(ig_bench__percentile(v, 100, 90), 90.1, 1e-9);
    assert_float_equal(ig_bench__percentile(v, 100, 99), 99.01, 1e-9);
    assert_float_equal(ig_bench__percentile(v, 100, 0), 1, 1e-9);
    assert_float_equal(ig_bench__percentile(v, 100, 100), 100, 1e-9);
    double one = 7;
    assert_float_equal(ig_bench__percentile(&one, 1, 50), 7, 1e-9);
    assert_float_equal(ig_bench__percentile(&one, 1, 99), 7, 1e-9);
    double two[] = {10, 20};
    assert_float_equal(ig_bench__percentile(two, 2, 50), 15, 1e-9);
    assert_float_equal(ig_bench__percentile(two, 2, 90), 19, 1e-9);
    assert_true(isnan(ig_bench__percentile(v, 0, 50)));
}

static void test_summary_unsorted(void **state)
{
    (void)state;
    struct ig_bench_samples s;
    struct ig_bench_summary sum;
    ig_bench__samples_init(&s, 1000, 1);
    /* 1..11 in a scrambled order */
    for (int i = 0; i < 11; i++)
        ig_bench__samples_add(&s, (double)((i * 7) % 11 + 1));
    ig_bench__samples_summary(&s, &sum);
    assert_int_equal(sum.count, 11);
    assert_float_equal(sum.mean, 6, 1e-9);
    assert_float_equal(sum.p50, 6, 1e-9);
    assert_float_equal(sum.p90, 10, 1e-9);
    assert_float_equal(sum.p99, 10.9, 1e-9);
    assert_float_equal(sum.min, 1, 1e-9);
    assert_float_equal(sum.max, 11, 1e-9);
    ig_bench__samples_dispose(&s);

    ig_bench__samples_init(&s, 10, 1);
    ig_bench__samples_summary(&s, &sum);
    assert_int_equal(sum.count, 0);
    assert_true(isnan(sum.p50) && isnan(sum.mean));
    ig_bench__samples_dispose(&s);
}

static void test_growth_below_cap(void **state)
{
    (void)state;
    struct ig_bench_samples s;
    struct ig_bench_summary sum;
    ig_bench__samples_init(&s, 5000, 3);
    for (int i = 4999; i >= 0; i--)
        ig_bench__samples_add(&s, i);
    assert_int_equal(s.len, 5000); /* all kept: exact */
    ig_bench__samples_summary(&s, &sum);
    assert_float_equal(sum.p50, 2499.5, 1e-9);
    assert_float_equal(sum.p99, 4949.01, 1e-6);
    ig_bench__samples_dispose(&s);
}

static void test_reservoir_bounded(void **state)
{
    (void)state;
    struct ig_bench_samples s;
    struct ig_bench_summary sum;
    const int n = 200000;
    ig_bench__samples_init(&s, 2000, 42);
    for (int i = 0; i < n; i++)
        ig_bench__samples_add(&s, i);
    assert_int_equal(s.len, 2000);
    ig_bench__samples_summary(&s, &sum);
    assert_int_equal(sum.count, n);
    assert_float_equal(sum.mean, (n - 1) / 2.0, 1e-6);
    assert_float_equal(sum.min, 0, 0);
    assert_float_equal(sum.max, n - 1, 0);
    /* a uniform sample of 2000 from a uniform range: p50 and p90 within a few percent */
    assert_true(fabs(sum.p50 - n * 0.5) < n * 0.04);
    assert_true(fabs(sum.p90 - n * 0.9) < n * 0.03);
    ig_bench__samples_dispose(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentile_exact),
        cmocka_unit_test(test_summary_unsorted),
        cmocka_unit_test(test_growth_below_cap),
        cmocka_unit_test(test_reservoir_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
