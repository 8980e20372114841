/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Latency statistics for `infergate bench`: sample stores with a hard size bound and exact
 * percentiles over what they hold. Up to |cap| samples every sample is kept (percentiles are
 * exact); past it the store is a uniform reservoir (Vitter's algorithm R) so memory stays bounded
 * on very long runs while count, mean, min and max remain exact over every sample.
 */
#include <math.h>
#include <stdlib.h>

#include "bench_int.h"

void ig_bench__samples_init(struct ig_bench_samples *s, size_t cap, uint64_t seed)
{
    memset(s, 0, sizeof(*s));
    s->cap = cap > 0 ? cap : 1;
    s->min = INFINITY;
    s->max = -INFINITY;
    ig_bench__rng_seed(&s->rng, seed);
}

void ig_bench__samples_dispose(struct ig_bench_samples *s)
{
    ig_free(s->v);
    s->v = NULL;
    s->len = 0;
}

void ig_bench__samples_add(struct ig_bench_samples *s, double x)
{
    s->seen++;
    s->sum += x;
    if (x < s->min)
        s->min = x;
    if (x > s->max)
        s->max = x;
    if (s->len < s->cap) {
        /* grow at powers of two from 64 (amortised), never past cap */
        if (s->v == NULL)
            s->v = ig_malloc(IG_MIN((size_t)64, s->cap) * sizeof(double));
        else if (s->len >= 64 && (s->len & (s->len - 1)) == 0)
            s->v = ig_realloc(s->v, IG_MIN(s->len * 2, s->cap) * sizeof(double));
        s->v[s->len++] = x;
        return;
    }
    uint64_t j = ig_bench__rng_next(&s->rng) % s->seen;
    if (j < s->cap)
        s->v[j] = x;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double ig_bench__percentile(const double *v, size_t n, double p)
{
    if (n == 0)
        return NAN;
    if (p <= 0)
        return v[0];
    if (p >= 100)
        return v[n - 1];
    double rank = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)rank;
    double frac = rank - (double)lo;
    if (lo + 1 >= n)
        return v[n - 1];
    return v[lo] + (v[lo + 1] - v[lo]) * frac;
}

void ig_bench__samples_summary(struct ig_bench_samples *s, struct ig_bench_summary *out)
{
    memset(out, 0, sizeof(*out));
    out->count = s->seen;
    if (s->seen == 0) {
        out->mean = out->p50 = out->p90 = out->p99 = out->min = out->max = NAN;
        return;
    }
    qsort(s->v, s->len, sizeof(double), cmp_double);
    out->mean = s->sum / (double)s->seen;
    out->min = s->min;
    out->max = s->max;
    out->p50 = ig_bench__percentile(s->v, s->len, 50);
    out->p90 = ig_bench__percentile(s->v, s->len, 90);
    out->p99 = ig_bench__percentile(s->v, s->len, 99);
}
