/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metrics registry: families (name, help, type, histogram bounds) holding series (one
 * constant label set and its value), plus scrape-time collectors, written in registration order
 * as Prometheus text. Everything is allocated at registration; updating a series touches only
 * its own fields and a scrape only appends to the output buffer.
 */
#include "metrics_int.h"

#include <math.h>

enum entry_kind {
    ENTRY_FAMILY = 0,
    ENTRY_COLLECTOR,
};

/* Families and collectors share one list so the page follows registration order. */
struct entry {
    ig_list_t link;
    enum entry_kind kind;
};

struct family {
    struct entry e;
    char *name;
    char *help;
    enum ig_metric_type type;
    double *bounds; /* histograms */
    size_t nbounds;
    ig_list_t series;
};

struct collector {
    struct entry e;
    ig_metrics_collect_cb fn;
    void *data;
};

struct series {
    ig_list_t link;
    char *labels; /* pre-rendered `a="x",b="y"`, NUL-terminated, may be empty */
    size_t labels_len;
    union {
        struct ig_counter counter;
        struct ig_gauge gauge;
        struct ig_histogram hist;
    } u;
};

struct ig_metrics {
    ig_list_t entries;
};

ig_metrics_t *ig_metrics_create(void)
{
    ig_metrics_t *m = ig_calloc(1, sizeof(*m));
    ig_list_init(&m->entries);
    return m;
}

static void family_free(struct family *f)
{
    ig_list_t *pos, *tmp;
    ig_list_foreach_safe(pos, tmp, &f->series)
    {
        struct series *s = IG_CONTAINER_OF(pos, struct series, link);
        if (f->type == IG_METRIC_HISTOGRAM)
            ig_free(s->u.hist.buckets);
        ig_free(s->labels);
        ig_free(s);
    }
    ig_free(f->name);
    ig_free(f->help);
    ig_free(f->bounds);
    ig_free(f);
}

void ig_metrics_destroy(ig_metrics_t *m)
{
    if (m == NULL)
        return;
    ig_list_t *pos, *tmp;
    ig_list_foreach_safe(pos, tmp, &m->entries)
    {
        struct entry *e = IG_CONTAINER_OF(pos, struct entry, link);
        if (e->kind == ENTRY_FAMILY)
            family_free(IG_CONTAINER_OF(e, struct family, e));
        else
            ig_free(IG_CONTAINER_OF(e, struct collector, e));
    }
    ig_free(m);
}

static int is_name(const char *s, int colon)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (size_t i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
                 (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

static struct family *find_family(ig_metrics_t *m, const char *name)
{
    ig_list_t *pos;
    ig_list_foreach(pos, &m->entries)
    {
        struct entry *e = IG_CONTAINER_OF(pos, struct entry, link);
        if (e->kind != ENTRY_FAMILY)
            continue;
        struct family *f = IG_CONTAINER_OF(e, struct family, e);
        if (strcmp(f->name, name) == 0)
            return f;
    }
    return NULL;
}

static int bounds_equal(const struct family *f, const double *bounds, size_t nbounds)
{
    if (f->nbounds != nbounds)
        return 0;
    for (size_t i = 0; i < nbounds; i++) {
        if (f->bounds[i] != bounds[i])
            return 0;
    }
    return 1;
}

/*
 * The common part of registration: validates, finds or creates the family, and returns a new
 * series with its labels rendered, or NULL (see ig_metrics_counter in the header).
 */
static struct series *add_series(ig_metrics_t *m, const char *name, const char *help, enum ig_metric_type type,
                                 const double *bounds, size_t nbounds, const struct ig_metric_label *labels,
                                 size_t nlabels)
{
    struct series *s = NULL;
    ig_buf_t lb;
    ig_buf_init(&lb, 0);

    if (!is_name(name, 1) || nlabels > IG_METRICS_MAX_LABELS || (nlabels > 0 && labels == NULL))
        goto fail;
    for (size_t i = 0; i < nlabels; i++) {
        if (!is_name(labels[i].name, 0) || strncmp(labels[i].name, "__", 2) == 0 ||
            (type == IG_METRIC_HISTOGRAM && strcmp(labels[i].name, "le") == 0))
            goto fail;
    }
    if (type == IG_METRIC_HISTOGRAM) {
        if (nbounds > IG_METRICS_MAX_BUCKETS || (nbounds > 0 && bounds == NULL))
            goto fail;
        for (size_t i = 0; i < nbounds; i++) {
            if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
                goto fail;
        }
    }
    if (ig_metrics__append_labels(&lb, labels, nlabels) != 0 || ig_buf_append(&lb, "", 1) != 0)
        goto fail;
    const char *rendered = ig_buf_data(&lb);

    struct family *f = find_family(m, name);
    if (f != NULL) {
        if (f->type != type || (type == IG_METRIC_HISTOGRAM && !bounds_equal(f, bounds, nbounds)))
            goto fail;
        ig_list_t *pos;
        ig_list_foreach(pos, &f->series)
        {
            if (strcmp(IG_CONTAINER_OF(pos, struct series, link)->labels, rendered) == 0)
                goto fail;
        }
    } else {
        f = ig_calloc(1, sizeof(*f));
        f->e.kind = ENTRY_FAMILY;
        f->name = ig_strdup(name);
        f->help = help != NULL ? ig_strdup(help) : NULL;
        f->type = type;
        if (type == IG_METRIC_HISTOGRAM && nbounds > 0) {
            f->bounds = ig_malloc(nbounds * sizeof(*f->bounds));
            memcpy(f->bounds, bounds, nbounds * sizeof(*f->bounds));
        }
        f->nbounds = nbounds;
        ig_list_init(&f->series);
        ig_list_push_back(&m->entries, &f->e.link);
    }

    s = ig_calloc(1, sizeof(*s));
    s->labels_len = lb.len - 1;
    s->labels = ig_strndup(rendered, s->labels_len);
    if (type == IG_METRIC_HISTOGRAM) {
        s->u.hist.bounds = f->bounds;
        s->u.hist.nbounds = (uint32_t)f->nbounds;
        s->u.hist.buckets = ig_calloc(f->nbounds + 1, sizeof(*s->u.hist.buckets));
    }
    ig_list_push_back(&f->series, &s->link);
fail:
    ig_buf_dispose(&lb);
    return s;
}

struct ig_counter *ig_metrics_counter(ig_metrics_t *m, const char *name, const char *help,
                                      const struct ig_metric_label *labels, size_t nlabels)
{
    struct series *s = add_series(m, name, help, IG_METRIC_COUNTER, NULL, 0, labels, nlabels);
    return s != NULL ? &s->u.counter : NULL;
}

struct ig_gauge *ig_metrics_gauge(ig_metrics_t *m, const char *name, const char *help,
                                  const struct ig_metric_label *labels, size_t nlabels)
{
    struct series *s = add_series(m, name, help, IG_METRIC_GAUGE, NULL, 0, labels, nlabels);
    return s != NULL ? &s->u.gauge : NULL;
}

struct ig_histogram *ig_metrics_histogram(ig_metrics_t *m, const char *name, const char *help, const double *bounds,
                                          size_t nbounds, const struct ig_metric_label *labels, size_t nlabels)
{
    struct series *s = add_series(m, name, help, IG_METRIC_HISTOGRAM, bounds, nbounds, labels, nlabels);
    return s != NULL ? &s->u.hist : NULL;
}

void ig_metrics_add_collector(ig_metrics_t *m, ig_metrics_collect_cb fn, void *data)
{
    struct collector *c = ig_calloc(1, sizeof(*c));
    c->e.kind = ENTRY_COLLECTOR;
    c->fn = fn;
    c->data = data;
    ig_list_push_back(&m->entries, &c->e.link);
}

static int write_family(const struct family *f, ig_buf_t *out)
{
    if (ig_prom_write_family(out, f->name, f->help, f->type) != 0)
        return IG_ETOOBIG;
    const ig_list_t *pos;
    ig_list_foreach(pos, &f->series)
    {
        const struct series *s = IG_CONTAINER_OF(pos, struct series, link);
        int rc;
        switch (f->type) {
        case IG_METRIC_HISTOGRAM:
            rc = ig_metrics__write_histogram(out, f->name, s->labels, s->labels_len, f->bounds, f->nbounds,
                                             s->u.hist.buckets, s->u.hist.sum, s->u.hist.count);
            break;
        case IG_METRIC_COUNTER:
            rc = ig_metrics__write_line(out, f->name, NULL, s->labels, s->labels_len, NULL, s->u.counter.value);
            break;
        default:
            rc = ig_metrics__write_line(out, f->name, NULL, s->labels, s->labels_len, NULL, s->u.gauge.value);
            break;
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

int ig_metrics_write(const ig_metrics_t *m, ig_buf_t *out)
{
    const ig_list_t *pos;
    ig_list_foreach(pos, &m->entries)
    {
        const struct entry *e = IG_CONTAINER_OF(pos, struct entry, link);
        int rc;
        if (e->kind == ENTRY_FAMILY) {
            rc = write_family(IG_CONTAINER_OF(e, struct family, e), out);
        } else {
            const struct collector *c = IG_CONTAINER_OF(e, struct collector, e);
            rc = c->fn(out, c->data);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}
