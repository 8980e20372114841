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

/* ==== Prometheus text parser (scraping model servers) ========================================== */
/*
 * Reads a whole scraped page (text format 0.0.4) in one pass without allocating: every sample
 * is delivered with slices into the page (name, label names and values, family name and help);
 * only label values that contain escapes are unescaped, into a caller-provided scratch buffer.
 * On top of it, selection helpers implement the Endpoint Picker's series rules: compiled
 * selectors (struct ig_prom_spec), single-series picks (struct ig_prom_query) and a one-pass
 * extraction of several queries from a page (ig_prom_extract). See docs/internals/metrics.md.
 */

#define IG_PROM_MAX_LINE   65536 /* bytes per line, line ending excluded */
#define IG_PROM_MAX_LABELS 64    /* labels per sample */

/* The family type from `# TYPE`; samples without a TYPE line (or not part of it) are untyped. */
enum ig_prom_type {
    IG_PROM_UNTYPED = 0,
    IG_PROM_COUNTER,
    IG_PROM_GAUGE,
    IG_PROM_HISTOGRAM,
    IG_PROM_SUMMARY,
    IG_PROM_TYPE_COUNT
};

/** One label of a parsed sample: slices into the page, or into the scratch buffer (value). */
struct ig_prom_label {
    ig_iov_t name;
    ig_iov_t value; /* unescaped */
};

/**
 * One sample as delivered to the callback. Slices of the page stay valid with the page; the label
 * array and label values unescaped into the scratch buffer are reused after the callback returns.
 */
struct ig_prom_sample {
    ig_iov_t name;                      /* as written: "foo_bucket" for a histogram family "foo" */
    ig_iov_t family;                    /* the `# HELP`/`# TYPE` family it belongs to, or empty */
    ig_iov_t help;                      /* that family's help, still escaped (\\ and \n), or empty */
    enum ig_prom_type type;             /* the family's type; IG_PROM_UNTYPED without family */
    const struct ig_prom_label *labels; /* in page order; duplicates are not rejected */
    size_t nlabels;
    double value;         /* decimal, exponent, NaN, +Inf, -Inf, Inf */
    int64_t timestamp_ms; /* 0 when absent */
    int has_timestamp;
    uint32_t line; /* 1-based */
    ig_iov_t text; /* the whole line, line ending excluded (for logs; tells page slices from scratch ones) */
};

/** Where and why a parse failed (line and column 1-based; column counts bytes). */
struct ig_prom_error {
    uint32_t line;
    uint32_t col;
    const char *msg; /* static string */
};

/**
 * Receives each sample. Returns 0 to go on; any other value stops the parse, which returns it
 * (use positive values so they cannot be mistaken for IG_E* codes).
 */
typedef int (*ig_prom_sample_cb)(void *data, const struct ig_prom_sample *s);

/**
 * Optional pre-filter, called once the sample's name is read (|s| has name, family, help, type,
 * line and text; nlabels and value are 0). Returning 0 skips the rest of the line unread, so labels and
 * value of skipped lines are not validated: this is what makes a targeted read of a large page
 * cheap.
 */
typedef int (*ig_prom_filter_cb)(void *data, const struct ig_prom_sample *s);

struct ig_prom_parse_opts {
    ig_prom_sample_cb on_sample; /* may be NULL (syntax check only) */
    ig_prom_filter_cb filter;    /* NULL: every sample is parsed and delivered */
    void *data;                  /* borrowed, passed to both callbacks */
    char *scratch;               /* borrowed; NULL: a 4 KiB buffer on the parser's stack */
    size_t scratch_size;         /* room for one sample's escaped label values, unescaped */
};

/**
 * Parses |buf[0..len)| (not NUL-terminated; the last line may lack its newline; CR before LF is
 * ignored) and calls opts->on_sample for each sample in page order. Blank lines and comments are
 * skipped; `# HELP` and `# TYPE` set the current family. |err| (may be NULL) is filled on failure.
 * Returns 0 at the end of the page; the callback's nonzero value when it stopped the parse;
 * IG_EPROTO on a syntax error; IG_ETOOBIG when a line is longer than IG_PROM_MAX_LINE, a sample
 * has more than IG_PROM_MAX_LABELS labels or its escaped label values overflow the scratch buffer.
 * Samples before the error were delivered: a scraper discards the page.
 */
int ig_prom_parse(const char *buf, size_t len, const struct ig_prom_parse_opts *opts, struct ig_prom_error *err);

/**
 * Parses one sample value |s| as the text format writes it (decimal with optional exponent, NaN,
 * +Inf, -Inf, Inf; case-insensitive names, "infinity" accepted). Returns 0 or IG_EINVAL.
 */
int ig_prom_parse_value(ig_iov_t s, double *out);

/**
 * Unescapes a HELP text (\\ and \n; other backslashes are kept) into |dst| of |size| bytes.
 * Returns the length written (no NUL), or IG_ETOOBIG when it does not fit.
 */
int ig_prom_unescape_help(ig_iov_t help, char *dst, size_t size);

/** Returns "counter", "gauge", "histogram", "summary" or "untyped". */
const char *ig_prom_type_name(enum ig_prom_type type);

/* ---- selection (the Endpoint Picker's series rules) ---- */

#define IG_PROM_SPEC_MAX_MATCHERS 8
#define IG_PROM_SPEC_TEXT_MAX     256 /* bytes for the name and matcher strings of one spec */

/**
 * A compiled PromQL-style instant selector, `name`, `name{label=value,...}`: values may be bare or
 * quoted ("..." or '...', with \\ \" \n \' escapes), matchers are `=` or `!=`, and as in PromQL a
 * label that is absent compares as "". Self-contained (no pointers): may be copied freely.
 */
struct ig_prom__matcher {
    uint16_t name_off, name_len, value_off, value_len; /* in _text */
    uint8_t negate;                                    /* `!=` */
};
struct ig_prom_spec {
    uint16_t _name_len;
    uint16_t _nmatchers;
    struct ig_prom__matcher _m[IG_PROM_SPEC_MAX_MATCHERS];
    char _text[IG_PROM_SPEC_TEXT_MAX]; /* name first, then matcher names and values */
};

/**
 * Compiles |text[0..len)| into |spec|. Returns 0; IG_EINVAL on a syntax error (empty text,
 * invalid name, missing `=`, unterminated quote, anything after `}`); IG_EUNSUPPORTED for the
 * regex matchers `=~`/`!~`; IG_ETOOBIG beyond IG_PROM_SPEC_MAX_MATCHERS matchers or
 * IG_PROM_SPEC_TEXT_MAX bytes.
 */
int ig_prom_spec_compile(struct ig_prom_spec *spec, const char *text, size_t len);

/** The spec's metric name (a slice of |spec|). */
ig_iov_t ig_prom_spec_name(const struct ig_prom_spec *spec);

/** Returns 1 when |s| has the spec's name and satisfies all its matchers, else 0. Types are not checked. */
int ig_prom_spec_match(const struct ig_prom_spec *spec, const struct ig_prom_sample *s);

enum ig_prom_pick {
    IG_PROM_PICK_LATEST = 0, /* highest timestamp (absent = 0) wins; on ties, the first series */
    IG_PROM_PICK_MAX_VALUE,  /* largest value wins (NaN never beats a number); on ties, the first */
    IG_PROM_PICK_COUNT
};

#define IG_PROM_QUERY_MAX_LABELS 4
#define IG_PROM_QUERY_STORE      512 /* bytes for winning label values that had escapes */

/**
 * One series to pick from a page: set up with ig_prom_query_init (+ ig_prom_query_add_label),
 * fed with ig_prom_extract (or ig_prom_query_offer from a custom callback), then read the
 * outputs. Only gauge, counter and untyped samples are considered; values are never summed.
 * Output label values point into the page when they had no escapes, else into the query's
 * store: they are valid while both the page and the query live (do not copy the query).
 */
struct ig_prom_query {
    /* inputs */
    const struct ig_prom_spec *spec; /* borrowed */
    enum ig_prom_pick pick;
    const char *label_names[IG_PROM_QUERY_MAX_LABELS]; /* borrowed, NUL-terminated */
    size_t nlabel_names;
    /* outputs */
    int found;
    double value;
    int64_t timestamp_ms;                            /* 0 when absent */
    ig_iov_t label_values[IG_PROM_QUERY_MAX_LABELS]; /* base NULL when the winner lacks the label */
    uint32_t line;                                   /* of the winning sample */
    char _store[IG_PROM_QUERY_STORE];
};

/** Resets |q| to pick a series matching |spec| (borrowed) by |pick|, with no labels to return. */
void ig_prom_query_init(struct ig_prom_query *q, const struct ig_prom_spec *spec, enum ig_prom_pick pick);

/**
 * Asks for the value of the label |name| (borrowed) of the winning series, in
 * q->label_values[index of this call]. Returns 0, or IG_ETOOBIG beyond IG_PROM_QUERY_MAX_LABELS.
 */
int ig_prom_query_add_label(struct ig_prom_query *q, const char *name);

/** Clears the outputs of |q| (inputs kept) before reusing it on another page. */
void ig_prom_query_reset(struct ig_prom_query *q);

/**
 * Offers one sample to |q| (from an ig_prom_parse callback whose page is still alive). Returns 1
 * when it became the winner, 0 when not (other name or type, matcher failed, lost to the current
 * winner), IG_ETOOBIG when the winner's escaped label values do not fit the store.
 */
int ig_prom_query_offer(struct ig_prom_query *q, const struct ig_prom_sample *s);

/**
 * Resets the |nq| queries and runs them over |buf[0..len)| in one pass, parsing only the lines
 * whose name one of them selects (other lines are checked for their name and length only).
 * Returns 0 (each query's |found| says whether a series matched), or an ig_prom_parse error
 * (IG_EPROTO, IG_ETOOBIG) with |err| (may be NULL) filled: discard the results then.
 */
int ig_prom_extract(const char *buf, size_t len, struct ig_prom_query *qs, size_t nq, struct ig_prom_error *err);

/**
 * Splits a comma-separated label value (LoRA adapter lists) into trimmed, non-empty items
 * (slices of |s|), storing at most |max| in |items|. Returns the number of items in |s|, which
 * may exceed |max|.
 */
size_t ig_prom_split_list(ig_iov_t s, ig_iov_t *items, size_t max);

#endif
