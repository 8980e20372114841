/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the bench's workload generators (workload.c): text of exact token length,
 * determinism with a seed, shared prefixes really shared (and only within a group), the corpus
 * shuffled once and then cycled, multi-turn history, LoRA traffic shares, the length
 * distributions (ShareGPT's published statistics, normal clamping, uniform bounds, parsing) and
 * the Poisson inter-arrival mean.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "bench_int.h"

static struct ig_bench_workload_config sp_config(uint64_t seed)
{
    struct ig_bench_workload_config c;
    memset(&c, 0, sizeof(c));
    c.kind = IG_BENCH_WL_SHARED_PREFIX;
    c.seed = seed;
    c.num_groups = 4;
    c.prompts_per_group = 5;
    c.system_len = 30;
    c.question = ig_bench__dist_fixed(7);
    c.output = ig_bench__dist_fixed(11);
    c.model = "base";
    c.max_history = 1 << 20;
    return c;
}

/* A copy of an item's text, for comparisons across calls. */
static char *text_of(const struct ig_bench_item *it)
{
    size_t n = it->system.len + it->history.len + it->question.len;
    char *s = malloc(n + 1);
    if (it->system.len > 0)
        memcpy(s, it->system.base, it->system.len);
    if (it->history.len > 0)
        memcpy(s + it->system.len, it->history.base, it->history.len);
    if (it->question.len > 0)
        memcpy(s + it->system.len + it->history.len, it->question.base, it->question.len);
    s[n] = 0;
    return s;
}

static void test_words(void **state)
{
    (void)state;
    ig_buf_t b;
    struct ig_bench_rng r;
    ig_buf_init(&b, 1 << 20);
    ig_bench__rng_seed(&r, 9);
    assert_int_equal(ig_bench__words(&b, &r, 1000), 0);
    assert_int_equal(b.len, 4000);
    for (size_t i = 0; i < b.len; i++) {
        char c = ig_buf_data(&b)[i];
        if (i % 4 == 0)
            assert_int_equal(c, ' ');
        else
            assert_true(c >= 'a' && c <= 'z');
    }
    ig_buf_dispose(&b);
}

static void test_shared_prefix_lengths_and_sharing(void **state)
{
    (void)state;
    struct ig_bench_workload_config c = sp_config(5);
    struct ig_bench_workload *w = ig_bench__workload_create(&c);
    assert_non_null(w);
    assert_int_equal(ig_bench__workload_corpus_size(w), 20);
    char *sys[20], *q[20];
    for (int i = 0; i < 20; i++) {
        struct ig_bench_item it;
        ig_bench__workload_next(w, &it);
        assert_int_equal(it.system.len, 30 * 4);
        assert_int_equal(it.question.len, 7 * 4);
        assert_int_equal(it.output_len, 11);
        assert_int_equal(it.input_tokens, 37);
        assert_string_equal(it.model, "base");
        assert_int_equal(it.session, UINT32_MAX);
        sys[i] = strndup(it.system.base, it.system.len);
        q[i] = strndup(it.question.base, it.question.len);
    }
    /* 4 distinct prefixes, each used by exactly 5 prompts; 20 distinct questions */
    int distinct = 0;
    for (int i = 0; i < 20; i++) {
        int same = 0, first = 1;
        for (int j = 0; j < 20; j++) {
            if (strcmp(sys[i], sys[j]) == 0) {
                same++;
                if (j < i)
                    first = 0;
            }
            if (i != j)
                assert_string_not_equal(q[i], q[j]);
        }
        assert_int_equal(same, 5);
        distinct += first;
    }
    assert_int_equal(distinct, 4);
    /* the order is shuffled: not group after group */
    int runs = 0;
    for (int i = 1; i < 20; i++)
        runs += strcmp(sys[i], sys[i - 1]) != 0;
    assert_true(runs > 4);
    /* then cycled: the next 20 repeat the same permutation */
    for (int i = 0; i < 20; i++) {
        struct ig_bench_item it;
        ig_bench__workload_next(w, &it);
        assert_memory_equal(it.system.base, sys[i], it.system.len);
        assert_memory_equal(it.question.base, q[i], it.question.len);
    }
    for (int i = 0; i < 20; i++) {
        free(sys[i]);
        free(q[i]);
    }
    ig_bench__workload_destroy(w);
}

static void test_determinism(void **state)
{
    (void)state;
    struct ig_bench_workload_config c = sp_config(77);
    c.question = (struct ig_bench_dist){IG_BENCH_DIST_NORMAL, 30, 9, 1, 100, 0};
    c.output = (struct ig_bench_dist){IG_BENCH_DIST_UNIFORM, 0, 0, 5, 50, 0};
    c.loras[0] = "l1";
    c.lora_shares[0] = 0.5;
    c.num_loras = 1;
    struct ig_bench_workload *a = ig_bench__workload_create(&c), *b = ig_bench__workload_create(&c);
    c.seed = 78;
    struct ig_bench_workload *other = ig_bench__workload_create(&c);
    int differs = 0;
    for (int i = 0; i < 50; i++) {
        struct ig_bench_item x, y, z;
        ig_bench__workload_next(a, &x);
        char *tx = text_of(&x);
        ig_bench__workload_next(b, &y);
        char *ty = text_of(&y);
        ig_bench__workload_next(other, &z);
        char *tz = text_of(&z);
        assert_string_equal(tx, ty);
        assert_int_equal(x.output_len, y.output_len);
        assert_string_equal(x.model, y.model);
        differs += strcmp(tx, tz) != 0;
        free(tx);
        free(ty);
        free(tz);
    }
    assert_true(differs > 45);
    ig_bench__workload_destroy(a);
    ig_bench__workload_destroy(b);
    ig_bench__workload_destroy(other);

    /* synthetic: same seed, same prompts; lengths follow the distribution */
    struct ig_bench_workload_config s;
    memset(&s, 0, sizeof(s));
    s.kind = IG_BENCH_WL_SYNTHETIC;
    s.seed = 3;
    s.model = "m";
    s.input = (struct ig_bench_dist){IG_BENCH_DIST_UNIFORM, 0, 0, 10, 20, 0};
    s.output = ig_bench__dist_fixed(4);
    a = ig_bench__workload_create(&s);
    b = ig_bench__workload_create(&s);
    for (int i = 0; i < 30; i++) {
        struct ig_bench_item x, y;
        ig_bench__workload_next(a, &x);
        char *tx = text_of(&x);
        ig_bench__workload_next(b, &y);
        assert_int_equal(x.system.len, 0);
        assert_true(x.question.len >= 40 && x.question.len <= 80 && x.question.len % 4 == 0);
        assert_int_equal(x.input_tokens, x.question.len / 4);
        assert_memory_equal(tx, y.question.base, y.question.len);
        free(tx);
    }
    ig_bench__workload_destroy(a);
    ig_bench__workload_destroy(b);
}

static void test_multi_turn(void **state)
{
    (void)state;
    struct ig_bench_workload_config c = sp_config(1);
    c.num_groups = 1;
    c.prompts_per_group = 2;
    c.multi_turn = 1;
    c.api = IG_BENCH_API_COMPLETIONS;
    struct ig_bench_workload *w = ig_bench__workload_create(&c);
    struct ig_bench_item it;
    char *q1;
    ig_bench__workload_next(w, &it);
    uint32_t s1 = it.session;
    assert_true(s1 < 2);
    assert_int_equal(it.history.len, 0);
    q1 = strndup(it.question.base, it.question.len);
    ig_bench__workload_answer(w, s1, ig_iov_cstr(q1), IG_STRLIT(" ans wer"));
    ig_bench__workload_next(w, &it); /* the other session, first turn */
    assert_int_not_equal(it.session, s1);
    assert_int_equal(it.history.len, 0);
    ig_bench__workload_next(w, &it); /* session s1 again: history + a new question */
    assert_int_equal(it.session, s1);
    assert_int_equal(it.history.len, strlen(q1) + 8);
    assert_memory_equal(it.history.base, q1, strlen(q1));
    assert_memory_equal(it.history.base + strlen(q1), " ans wer", 8);
    assert_int_equal(it.question.len, 7 * 4);
    assert_memory_not_equal(it.question.base, q1, it.question.len);
    assert_int_equal(it.system.len, 30 * 4); /* the session keeps its group's prefix */
    assert_int_equal(it.input_tokens, 30 + 7 + (strlen(q1) + 8 + 3) / 4 + 0);
    free(q1);
    ig_bench__workload_destroy(w);

    /* chat keeps a messages fragment */
    c.api = IG_BENCH_API_CHAT;
    w = ig_bench__workload_create(&c);
    ig_bench__workload_next(w, &it);
    s1 = it.session;
    ig_bench__workload_answer(w, s1, IG_STRLIT(" q"), IG_STRLIT(" a\\\"b"));
    ig_bench__workload_next(w, &it);
    ig_bench__workload_next(w, &it);
    const char *frag = ",{\"role\":\"user\",\"content\":\" q\"},{\"role\":\"assistant\",\"content\":\" a\\\"b\"}";
    assert_int_equal(it.history.len, strlen(frag));
    assert_memory_equal(it.history.base, frag, strlen(frag));
    ig_bench__workload_destroy(w);

    /* history beyond max_history is not kept */
    c.max_history = 10;
    w = ig_bench__workload_create(&c);
    ig_bench__workload_next(w, &it);
    ig_bench__workload_answer(w, it.session, IG_STRLIT("0123456789"), IG_STRLIT("x"));
    ig_bench__workload_next(w, &it);
    ig_bench__workload_next(w, &it);
    assert_int_equal(it.history.len, 0);
    ig_bench__workload_destroy(w);
}

static void test_lora_shares(void **state)
{
    (void)state;
    struct ig_bench_workload_config c = sp_config(2);
    c.loras[0] = "a";
    c.lora_shares[0] = 0.5;
    c.loras[1] = "b";
    c.lora_shares[1] = 0.2;
    c.num_loras = 2;
    struct ig_bench_workload *w = ig_bench__workload_create(&c);
    int na = 0, nb = 0, nbase = 0;
    for (int i = 0; i < 20000; i++) {
        struct ig_bench_item it;
        ig_bench__workload_next(w, &it);
        na += strcmp(it.model, "a") == 0;
        nb += strcmp(it.model, "b") == 0;
        nbase += strcmp(it.model, "base") == 0;
    }
    assert_true(abs(na - 10000) < 400);
    assert_true(abs(nb - 4000) < 300);
    assert_true(abs(nbase - 6000) < 350);
    ig_bench__workload_destroy(w);
    c.lora_shares[1] = 0.6; /* sums past 1 */
    assert_null(ig_bench__workload_create(&c));
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void check_dist(const struct ig_bench_dist *d, double mean, double median, double p90, double p99)
{
    enum { N = 200000 };
    static uint32_t v[N];
    struct ig_bench_rng r;
    double sum = 0;
    ig_bench__rng_seed(&r, 11);
    for (int i = 0; i < N; i++) {
        v[i] = ig_bench__dist_sample(d, &r);
        assert_true(v[i] >= d->min && v[i] <= d->max);
        sum += v[i];
    }
    qsort(v, N, sizeof(v[0]), cmp_u32);
    assert_true(fabs(sum / N - mean) < mean * 0.05);
    assert_true(fabs(v[N / 2] - median) < median * 0.05);
    assert_true(fabs(v[N * 9 / 10] - p90) < p90 * 0.05);
    assert_true(fabs(v[N * 99 / 100] - p99) < p99 * 0.05);
}

static void test_distributions(void **state)
{
    (void)state;
    struct ig_bench_dist d;
    /* ShareGPT, benchmarks.md section 4: prompt 251.5 / 109 / 714 / 987, completion 225.3 / 144 / 564 / 948 */
    assert_int_equal(ig_bench__dist_parse("sharegpt", 0, &d), 0);
    check_dist(&d, 251.5, 109, 714, 987);
    assert_int_equal(ig_bench__dist_parse("sharegpt", 1, &d), 0);
    check_dist(&d, 225.3, 144, 564, 948);
    /* sharegpt:SCALE: the same shape, every length scaled (a fleet scaled down) */
    assert_int_equal(ig_bench__dist_parse("sharegpt:0.5", 0, &d), 0);
    check_dist(&d, 251.5 / 2, 109 / 2.0, 714 / 2.0, 987 / 2.0);
    assert_int_equal(ig_bench__dist_parse("sharegpt:2", 1, &d), 0);
    check_dist(&d, 225.3 * 2, 144 * 2, 564 * 2, 948 * 2);
    assert_int_equal(ig_bench__dist_parse("sharegpt:1", 1, &d), 0);
    check_dist(&d, 225.3, 144, 564, 948);
    {
        char sbuf[64];
        assert_int_equal(ig_bench__dist_parse("sharegpt:0.25", 1, &d), 0);
        ig_bench__dist_format(&d, sbuf, sizeof(sbuf));
        assert_string_equal(sbuf, "sharegpt:0.25");
        assert_int_equal(d.min, 1); /* 3 x 0.25 rounds to 1 */
        assert_int_equal(d.max, 256);
    }

    assert_int_equal(ig_bench__dist_parse("normal:30:9:1:10000", 0, &d), 0);
    assert_int_equal(d.kind, IG_BENCH_DIST_NORMAL);
    check_dist(&d, 30, 30, 30 + 1.2816 * 9, 30 + 2.326 * 9);
    assert_int_equal(ig_bench__dist_parse("normal:10:100:5:12", 0, &d), 0);
    struct ig_bench_rng r;
    ig_bench__rng_seed(&r, 1);
    int lo = 0, hi = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = ig_bench__dist_sample(&d, &r);
        assert_true(x >= 5 && x <= 12);
        lo += x == 5;
        hi += x == 12;
    }
    assert_true(lo > 300 && hi > 300); /* clamped, not redrawn */

    assert_int_equal(ig_bench__dist_parse("uniform:3:5", 0, &d), 0);
    int seen[6] = {0};
    for (int i = 0; i < 3000; i++)
        seen[ig_bench__dist_sample(&d, &r)]++;
    assert_true(seen[3] > 800 && seen[4] > 800 && seen[5] > 800);
    assert_int_equal(seen[0] + seen[1] + seen[2], 0);

    assert_int_equal(ig_bench__dist_parse("fixed:42", 1, &d), 0);
    assert_int_equal(ig_bench__dist_sample(&d, &r), 42);

    const char *badv[] = {"",
                          "fixed",
                          "fixed:0",
                          "fixed:x",
                          "fixed:5:6",
                          "uniform:5",
                          "uniform:6:5",
                          "normal:10",
                          "normal:10:2:3",
                          "normal:10:2:9:3",
                          "lognormal:1:2",
                          "sharegpt:0",
                          "fixed:-3",
                          "sharegpt:x",
                          "sharegpt:101",
                          "sharegptx",
                          "sharegpt:",
                          "sharegpt:1:2"};
    for (size_t i = 0; i < IG_ARRAY_LEN(badv); i++)
        if (ig_bench__dist_parse(badv[i], 0, &d) != IG_EINVAL)
            fail_msg("'%s' was accepted", badv[i]);
    char buf[64];
    assert_int_equal(ig_bench__dist_parse("uniform:3:5", 0, &d), 0);
    ig_bench__dist_format(&d, buf, sizeof(buf));
    assert_string_equal(buf, "uniform:3:5");
}

static void test_poisson_mean(void **state)
{
    (void)state;
    struct ig_bench_rng r;
    const int n = 200000;
    const double rate = 8;
    double sum = 0, sq = 0;
    ig_bench__rng_seed(&r, 123);
    for (int i = 0; i < n; i++) {
        double g = ig_bench__rng_exp(&r, rate);
        assert_true(g >= 0 && isfinite(g));
        sum += g;
        sq += g * g;
    }
    double mean = sum / n, var = sq / n - mean * mean;
    assert_true(fabs(mean - 1.0 / rate) < 0.01 / rate);      /* mean 1/rate, within 1% */
    assert_true(fabs(sqrt(var) - 1.0 / rate) < 0.02 / rate); /* exponential: sd = mean */
    /* uniform variates stay in [0, 1) */
    for (int i = 0; i < 100000; i++) {
        double u = ig_bench__rng_unit(&r);
        assert_true(u >= 0 && u < 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words),        cmocka_unit_test(test_shared_prefix_lengths_and_sharing),
        cmocka_unit_test(test_determinism),  cmocka_unit_test(test_multi_turn),
        cmocka_unit_test(test_lora_shares),  cmocka_unit_test(test_distributions),
        cmocka_unit_test(test_poisson_mean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
