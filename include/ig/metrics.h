/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics: counters, gauges and histograms, and the Prometheus text exposition format 0.0.4
 * (Content-Type: text/plain; version=0.0.4; charset=utf-8).
 *
 * Two ways to expose a metric:
 *   - Registered series: a registry (ig_metrics_t) owns families (one name, help and type) and
 *     their series (one constant label set each). Updating a series is a plain add on a field
 *     (counters, gauges) or a bounded loop over the bucket bounds (histograms): no lock, no
 *     allocation, no lookup. The caller keeps the series pointer returned at registration.
 *   - Computed at scrape: for values read from elsewhere when /metrics is served (engine stats,
 *     queue lengths), a collector callback registered in the registry, or a handler that calls the
 *     writer helpers ig_prom_write_family / ig_prom_write_sample directly.
 *
 * Threading: a registry and its series belong to one thread. The gateway's per-worker counters
 * will use one registry per worker built by the same registration code (so families and series
 * line up by position), and a scrape will merge them: counters and histogram buckets/sum/count
 * added across shards, gauges added or taken from the owning shard. The layout keeps this open:
 * every series value is a plain field reachable from its family in registration order.
 *
 * Names are not validated beyond the registration checks below; label values and help text are
 * escaped when written (label values: \\ \" \n; help: \\ \n).
 */
#ifndef IG_METRICS_H
#define IG_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "ig/core.h"

#define IG_METRICS_MAX_LABELS  16 /* labels per series, "le" excluded */
#define IG_METRICS_MAX_BUCKETS 64 /* histogram upper bounds, +Inf excluded */

enum ig_metric_type {
    IG_METRIC_COUNTER = 0,
    IG_METRIC_GAUGE,
    IG_METRIC_HISTOGRAM,
    IG_METRIC_UNTYPED,
    IG_METRIC_TYPE_COUNT
};

/** One label; both strings are borrowed by the call they are passed to (the registry copies). */
struct ig_metric_label {
    const char *name;
    const char *value;
};

typedef struct ig_metrics ig_metrics_t;

/* Series: owned by the registry, updated by the caller through the inline helpers below. */
struct ig_counter {
    double value;
};
struct ig_gauge {
    double value;
};
struct ig_histogram {
    const double *bounds; /* ascending upper bounds, shared by the family */
    uint32_t nbounds;
    uint64_t *buckets; /* nbounds + 1 non-cumulative counts; the last is +Inf */
    double sum;
    uint64_t count;
};

/** Returns a new, empty registry (owned by the caller). */
ig_metrics_t *ig_metrics_create(void);
/** Frees the registry and every series it returned. */
void ig_metrics_destroy(ig_metrics_t *m);

/**
 * Registers a series of the family |name| with the constant labels |labels[0..nlabels)|. The
 * family is created on first use with |help|; later calls with the same name add series to it
 * (their |help| is ignored). Families are written in registration order, series in registration
 * order within a family. Returns the series (owned by |m|, valid until ig_metrics_destroy), or
 * NULL when |name| or a label name is not a valid Prometheus name, a label is named "le" on a
 * histogram or starts with "__", the family exists with another type (or, for a histogram, other
 * bounds), the same label set (same names, values and order) is already registered, or
 * nlabels > IG_METRICS_MAX_LABELS.
 */
struct ig_counter *ig_metrics_counter(ig_metrics_t *m, const char *name, const char *help,
                                      const struct ig_metric_label *labels, size_t nlabels);
struct ig_gauge *ig_metrics_gauge(ig_metrics_t *m, const char *name, const char *help,
                                  const struct ig_metric_label *labels, size_t nlabels);
/**
 * As above for a histogram with the ascending, finite upper bounds |bounds[0..nbounds)| (copied;
 * the +Inf bucket is implicit). Also returns NULL when the bounds are not strictly ascending,
 * are not finite, or nbounds > IG_METRICS_MAX_BUCKETS.
 */
struct ig_histogram *ig_metrics_histogram(ig_metrics_t *m, const char *name, const char *help, const double *bounds,
                                          size_t nbounds, const struct ig_metric_label *labels, size_t nlabels);

/**
 * Scrape-time output: |fn| runs during ig_metrics_write, in registration order with the
 * families, and appends complete families to |out| (with the writer helpers below). It returns 0
 * or IG_ETOOBIG (passed on). |data| is borrowed.
 */
typedef int (*ig_metrics_collect_cb)(ig_buf_t *out, void *data);
void ig_metrics_add_collector(ig_metrics_t *m, ig_metrics_collect_cb fn, void *data);

/**
 * Appends the exposition of every family and collector to |out|. Returns 0, or IG_ETOOBIG when
 * |out| hit its maximum (the page is then incomplete: discard it).
 */
int ig_metrics_write(const ig_metrics_t *m, ig_buf_t *out);

static inline void ig_counter_add(struct ig_counter *c, double v)
{
    c->value += v; /* counters only go up: callers pass v >= 0 */
}
static inline void ig_counter_inc(struct ig_counter *c)
{
    c->value += 1;
}
static inline void ig_gauge_set(struct ig_gauge *g, double v)
{
    g->value = v;
}
static inline void ig_gauge_add(struct ig_gauge *g, double v)
{
    g->value += v;
}
/** Counts |v| in the first bucket whose upper bound is >= v (Prometheus "le"), else +Inf. */
static inline void ig_histogram_observe(struct ig_histogram *h, double v)
{
    uint32_t i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    h->buckets[i]++;
    h->sum += v;
    h->count++;
}

/* ---- writer helpers (also for computed-at-scrape families) ------------------------------------- */

/** The text type name: "counter", "gauge", "histogram", "untyped". */
const char *ig_metric_type_name(enum ig_metric_type type);

/**
 * Appends "# HELP |name| |help|\n# TYPE |name| |type|\n" (help escaped; no HELP line when |help|
 * is NULL). Returns 0 or IG_ETOOBIG.
 */
int ig_prom_write_family(ig_buf_t *out, const char *name, const char *help, enum ig_metric_type type);

/**
 * Appends one sample line: |name|{labels} |value|\n, label values escaped, no braces when
 * |nlabels| is 0. Returns 0 or IG_ETOOBIG.
 */
int ig_prom_write_sample(ig_buf_t *out, const char *name, const struct ig_metric_label *labels, size_t nlabels,
                         double value);

/**
 * Appends a whole histogram series from raw values: |name|_bucket lines (cumulative, with "le"
 * after |labels|, ending with le="+Inf"), |name|_sum and |name|_count. |buckets| holds
 * nbounds + 1 non-cumulative counts. Returns 0 or IG_ETOOBIG.
 */
int ig_prom_write_histogram(ig_buf_t *out, const char *name, const struct ig_metric_label *labels, size_t nlabels,
                            const double *bounds, size_t nbounds, const uint64_t *buckets, double sum, uint64_t count);

/**
 * Formats |v| as Prometheus expects into |dst| (NUL-terminated, at most |size| bytes including the
 * NUL; 32 is always enough): integers without exponent or decimals ("3", "-2", "1000000"),
 * others in the shortest form that reads back exactly ("0.25", "1e-06"), "NaN", "+Inf", "-Inf".
 * Returns the length written.
 */
size_t ig_prom_format_value(char *dst, size_t size, double v);

/**
 * Appends |s| escaped as a label value (\\ -> \\\\, " -> \\", newline -> \\n), without quotes.
 * Returns 0 or IG_ETOOBIG.
 */
int ig_prom_append_label_value(ig_buf_t *out, const char *s, size_t len);

/** The exposition format's Content-Type. */
#define IG_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
