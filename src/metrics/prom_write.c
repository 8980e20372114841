/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus text exposition format 0.0.4, writing side: HELP/TYPE lines, sample lines with
 * escaped label values, value formatting, and whole histogram series. The registry
 * (registry.c) and scrape-time writers (the simulator's /metrics page) share these, so every
 * byte of output in infergate is produced in one place.
 */
#include "metrics_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const type_names[IG_METRIC_TYPE_COUNT] = {
    [IG_METRIC_COUNTER] = "counter",
    [IG_METRIC_GAUGE] = "gauge",
    [IG_METRIC_HISTOGRAM] = "histogram",
    [IG_METRIC_UNTYPED] = "untyped",
};

const char *ig_metric_type_name(enum ig_metric_type type)
{
    return (unsigned)type < IG_METRIC_TYPE_COUNT ? type_names[type] : "untyped";
}

size_t ig_prom_format_value(char *dst, size_t size, double v)
{
    int n;
    if (isnan(v)) {
        n = snprintf(dst, size, "NaN");
    } else if (isinf(v)) {
        n = snprintf(dst, size, v > 0 ? "+Inf" : "-Inf");
    } else if (v == 0) {
        n = snprintf(dst, size, "0"); /* also -0 */
    } else if (fabs(v) < 9e18 && v == trunc(v)) {
        /* Integers (token counts, request counts) print exactly and without exponent. */
        n = snprintf(dst, size, "%" PRId64, (int64_t)v);
    } else {
        /* The shortest %g form that reads back to the same double, like Go's FormatFloat(-1). */
        n = 0;
        for (int prec = 15; prec <= 17; prec++) {
            n = snprintf(dst, size, "%.*g", prec, v);
            if (n < 0 || (size_t)n >= size || strtod(dst, NULL) == v)
                break;
        }
    }
    if (n < 0)
        n = 0;
    return (size_t)n < size ? (size_t)n : (size > 0 ? size - 1 : 0);
}

static int append_str(ig_buf_t *out, const char *s)
{
    return ig_buf_append(out, s, strlen(s));
}

static int append_value(ig_buf_t *out, double v)
{
    char tmp[IG_PROM_VALUE_MAX];
    size_t n = ig_prom_format_value(tmp, sizeof(tmp), v);
    return ig_buf_append(out, tmp, n);
}

/* Appends |s| with \\ and newline escaped, and " too when |quote| (label values; help text keeps "). */
static int append_escaped(ig_buf_t *out, const char *s, size_t len, int quote)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        const char *esc = NULL;
        if (s[i] == '\\')
            esc = "\\\\";
        else if (s[i] == '\n')
            esc = "\\n";
        else if (s[i] == '"' && quote)
            esc = "\\\"";
        if (esc == NULL)
            continue;
        if (ig_buf_append(out, s + start, i - start) != 0 || ig_buf_append(out, esc, 2) != 0)
            return IG_ETOOBIG;
        start = i + 1;
    }
    return ig_buf_append(out, s + start, len - start);
}

int ig_prom_append_label_value(ig_buf_t *out, const char *s, size_t len)
{
    return append_escaped(out, s, len, 1);
}

int ig_metrics__append_labels(ig_buf_t *out, const struct ig_metric_label *labels, size_t nlabels)
{
    for (size_t i = 0; i < nlabels; i++) {
        const char *v = labels[i].value != NULL ? labels[i].value : "";
        if ((i > 0 && ig_buf_append(out, ",", 1) != 0) || append_str(out, labels[i].name) != 0 ||
            ig_buf_append(out, "=\"", 2) != 0 || append_escaped(out, v, strlen(v), 1) != 0 ||
            ig_buf_append(out, "\"", 1) != 0)
            return IG_ETOOBIG;
    }
    return 0;
}

int ig_prom_write_family(ig_buf_t *out, const char *name, const char *help, enum ig_metric_type type)
{
    if (help != NULL) {
        if (ig_buf_append(out, "# HELP ", 7) != 0 || append_str(out, name) != 0 || ig_buf_append(out, " ", 1) != 0 ||
            append_escaped(out, help, strlen(help), 0) != 0 || ig_buf_append(out, "\n", 1) != 0)
            return IG_ETOOBIG;
    }
    if (ig_buf_append(out, "# TYPE ", 7) != 0 || append_str(out, name) != 0 || ig_buf_append(out, " ", 1) != 0 ||
        append_str(out, ig_metric_type_name(type)) != 0 || ig_buf_append(out, "\n", 1) != 0)
        return IG_ETOOBIG;
    return 0;
}

/* Appends "name[suffix][{labels[,le="x"]}] " : everything of a sample line before its value. */
static int write_head(ig_buf_t *out, const char *name, const char *suffix, const char *labels, size_t labels_len,
                      const char *le)
{
    if (append_str(out, name) != 0 || (suffix != NULL && append_str(out, suffix) != 0))
        return IG_ETOOBIG;
    if (labels_len > 0 || le != NULL) {
        if (ig_buf_append(out, "{", 1) != 0 || ig_buf_append(out, labels, labels_len) != 0)
            return IG_ETOOBIG;
        if (le != NULL && ((labels_len > 0 && ig_buf_append(out, ",", 1) != 0) || ig_buf_append(out, "le=\"", 4) != 0 ||
                           append_str(out, le) != 0 || ig_buf_append(out, "\"", 1) != 0))
            return IG_ETOOBIG;
        if (ig_buf_append(out, "}", 1) != 0)
            return IG_ETOOBIG;
    }
    return ig_buf_append(out, " ", 1);
}

int ig_metrics__write_line(ig_buf_t *out, const char *name, const char *suffix, const char *labels, size_t labels_len,
                           const char *le, double value)
{
    if (write_head(out, name, suffix, labels, labels_len, le) != 0 || append_value(out, value) != 0 ||
        ig_buf_append(out, "\n", 1) != 0)
        return IG_ETOOBIG;
    return 0;
}

static int write_u64_line(ig_buf_t *out, const char *name, const char *suffix, const char *labels, size_t labels_len,
                          const char *le, uint64_t value)
{
    /* Bucket counts are integers: print them exactly, even above 2^53. */
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%" PRIu64 "\n", value);
    if (write_head(out, name, suffix, labels, labels_len, le) != 0 || ig_buf_append(out, tmp, (size_t)n) != 0)
        return IG_ETOOBIG;
    return 0;
}

int ig_metrics__write_histogram(ig_buf_t *out, const char *name, const char *labels, size_t labels_len,
                                const double *bounds, size_t nbounds, const uint64_t *buckets, double sum,
                                uint64_t count)
{
    uint64_t cum = 0;
    char le[IG_PROM_VALUE_MAX];
    for (size_t i = 0; i <= nbounds; i++) {
        cum += buckets[i];
        if (i < nbounds)
            ig_prom_format_value(le, sizeof(le), bounds[i]);
        if (write_u64_line(out, name, "_bucket", labels, labels_len, i < nbounds ? le : "+Inf", cum) != 0)
            return IG_ETOOBIG;
    }
    if (ig_metrics__write_line(out, name, "_sum", labels, labels_len, NULL, sum) != 0 ||
        write_u64_line(out, name, "_count", labels, labels_len, NULL, count) != 0)
        return IG_ETOOBIG;
    return 0;
}

/* Renders |labels| once into a scratch buffer for the line writers. */
static int render_labels(ig_buf_t *tmp, const struct ig_metric_label *labels, size_t nlabels)
{
    ig_buf_init(tmp, 1u << 20);
    return ig_metrics__append_labels(tmp, labels, nlabels);
}

int ig_prom_write_sample(ig_buf_t *out, const char *name, const struct ig_metric_label *labels, size_t nlabels,
                         double value)
{
    ig_buf_t tmp;
    int rc = render_labels(&tmp, labels, nlabels);
    if (rc == 0)
        rc = ig_metrics__write_line(out, name, NULL, tmp.len > 0 ? ig_buf_data(&tmp) : "", tmp.len, NULL, value);
    ig_buf_dispose(&tmp);
    return rc;
}

int ig_prom_write_histogram(ig_buf_t *out, const char *name, const struct ig_metric_label *labels, size_t nlabels,
                            const double *bounds, size_t nbounds, const uint64_t *buckets, double sum, uint64_t count)
{
    ig_buf_t tmp;
    int rc = render_labels(&tmp, labels, nlabels);
    if (rc == 0)
        rc = ig_metrics__write_histogram(out, name, tmp.len > 0 ? ig_buf_data(&tmp) : "", tmp.len, bounds, nbounds,
                                         buckets, sum, count);
    ig_buf_dispose(&tmp);
    return rc;
}
