/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Module-private declarations of metrics/: the line writers shared by the registry (registry.c)
 * and the public writer helpers (prom_write.c). Labels reach them pre-rendered as
 * `a="x",b="y"` (values already escaped, no braces), so a registered series renders its label
 * set once at registration and a scrape only copies bytes.
 */
#ifndef IG_METRICS_INT_H
#define IG_METRICS_INT_H

#include "ig/metrics.h"

/* Longest ig_prom_format_value output plus its NUL ("-1.2345678901234567e-308"). */
#define IG_PROM_VALUE_MAX 32

/** Appends labels as `a="x",b="y"` (values escaped). Returns 0 or IG_ETOOBIG. */
int ig_metrics__append_labels(ig_buf_t *out, const struct ig_metric_label *labels, size_t nlabels);

/**
 * Appends `name[suffix][{labels[,le="le"]}] value\n`; |labels| is pre-rendered (may be empty),
 * |suffix| and |le| may be NULL. Returns 0 or IG_ETOOBIG.
 */
int ig_metrics__write_line(ig_buf_t *out, const char *name, const char *suffix, const char *labels, size_t labels_len,
                           const char *le, double value);

/** Appends a histogram series (cumulative buckets, +Inf, _sum, _count). Returns 0 or IG_ETOOBIG. */
int ig_metrics__write_histogram(ig_buf_t *out, const char *name, const char *labels, size_t labels_len,
                                const double *bounds, size_t nbounds, const uint64_t *buckets, double sum,
                                uint64_t count);

#endif
