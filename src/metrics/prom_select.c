/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Series selection over parsed Prometheus pages, with the Endpoint Picker's rules: a metric spec
 * is a PromQL-style instant selector compiled once (ig_prom_spec); a query picks one series per
 * page among the gauge, counter and untyped samples the spec matches: the highest timestamp wins
 * (an absent timestamp counts as 0, so without timestamps the first series wins), or, for
 * info-style metrics whose value is a timestamp (vLLM's lora_requests_info), the largest value.
 * Values are never summed. ig_prom_extract runs the ~6 queries of an endpoint in one pass and
 * parses only the lines they name, which keeps a 50 ms poll of hundreds of endpoints cheap.
 */
#include <math.h>
#include <string.h>

#include "ig/metrics.h"

/* ---- specs ----------------------------------------------------------------------------------- */

static inline int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline int is_label_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static inline int is_label_char(char c)
{
    return is_label_start(c) || (c >= '0' && c <= '9');
}

static const char *skip_space(const char *s, const char *e)
{
    while (s < e && is_space(*s))
        s++;
    return s;
}

/* Appends |n| bytes to the spec's text; returns the offset or IG_ETOOBIG. */
static int spec_put(struct ig_prom_spec *spec, size_t *used, const char *src, size_t n)
{
    if (n > sizeof(spec->_text) - *used)
        return IG_ETOOBIG;
    memcpy(spec->_text + *used, src, n);
    *used += n;
    return (int)(*used - n);
}

/* Reads a quoted matcher value at |*sp| (the opening quote) into the spec text, unescaped. */
static int spec_quoted(struct ig_prom_spec *spec, size_t *used, const char **sp, const char *e, uint16_t *off,
                       uint16_t *len)
{
    const char *s = *sp;
    char quote = *s++;
    size_t start = *used;

    for (;;) {
        if (s == e)
            return IG_EINVAL;
        char c = *s++;
        if (c == quote)
            break;
        if (c == '\\') {
            if (s == e)
                return IG_EINVAL;
            char x = *s++;
            if (x == 'n') {
                c = '\n';
            } else if (x == '\\' || x == '"' || x == '\'') {
                c = x;
            } else if (spec_put(spec, used, &c, 1) < 0) { /* unknown escape: keep the backslash */
                return IG_ETOOBIG;
            } else {
                c = x;
            }
        }
        if (spec_put(spec, used, &c, 1) < 0)
            return IG_ETOOBIG;
    }
    *sp = s;
    *off = (uint16_t)start;
    *len = (uint16_t)(*used - start);
    return 0;
}

int ig_prom_spec_compile(struct ig_prom_spec *spec, const char *text, size_t len)
{
    const char *s = text, *e = text + len, *tok;
    size_t used = 0;
    int rc;

    memset(spec, 0, sizeof(*spec));
    s = skip_space(s, e);
    while (e > s && is_space(e[-1]))
        e--;
    tok = s;
    if (s < e && (is_label_start(*s) || *s == ':'))
        for (s++; s < e && (is_label_char(*s) || *s == ':'); s++)
            ;
    if (s == tok)
        return IG_EINVAL;
    if ((rc = spec_put(spec, &used, tok, (size_t)(s - tok))) < 0)
        return rc;
    spec->_name_len = (uint16_t)(s - tok);
    s = skip_space(s, e);
    if (s == e)
        return 0;
    if (*s != '{')
        return IG_EINVAL;
    s++;
    for (;;) {
        s = skip_space(s, e);
        if (s == e)
            return IG_EINVAL;
        if (*s == '}')
            break;
        if (spec->_nmatchers == IG_PROM_SPEC_MAX_MATCHERS)
            return IG_ETOOBIG;
        tok = s;
        if (!is_label_start(*s))
            return IG_EINVAL;
        for (s++; s < e && is_label_char(*s); s++)
            ;
        if ((rc = spec_put(spec, &used, tok, (size_t)(s - tok))) < 0)
            return rc;
        struct ig_prom__matcher *m = &spec->_m[spec->_nmatchers];
        m->name_off = (uint16_t)rc;
        m->name_len = (uint16_t)(s - tok);
        s = skip_space(s, e);
        if (s < e && *s == '!') {
            m->negate = 1;
            s++;
            if (s < e && *s == '~')
                return IG_EUNSUPPORTED;
        }
        if (s == e || *s != '=')
            return IG_EINVAL;
        s++;
        if (s < e && *s == '~')
            return IG_EUNSUPPORTED;
        s = skip_space(s, e);
        if (s < e && (*s == '"' || *s == '\'')) {
            if ((rc = spec_quoted(spec, &used, &s, e, &m->value_off, &m->value_len)) != 0)
                return rc;
        } else {
            tok = s;
            while (s < e && *s != ',' && *s != '}')
                s++;
            const char *ve = s;
            while (ve > tok && is_space(ve[-1]))
                ve--;
            if ((rc = spec_put(spec, &used, tok, (size_t)(ve - tok))) < 0)
                return rc;
            m->value_off = (uint16_t)rc;
            m->value_len = (uint16_t)(ve - tok);
        }
        spec->_nmatchers++;
        s = skip_space(s, e);
        if (s < e && *s == ',') {
            s++;
            continue;
        }
        if (s < e && *s == '}')
            break;
        return IG_EINVAL;
    }
    s = skip_space(s + 1, e);
    return s == e ? 0 : IG_EINVAL;
}

ig_iov_t ig_prom_spec_name(const struct ig_prom_spec *spec)
{
    return ig_iov(spec->_text, spec->_name_len);
}

/* The first label named |name| (duplicates: the first one counts), or NULL. */
static const struct ig_prom_label *find_label(const struct ig_prom_sample *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (s->labels[i].name.len == len && memcmp(s->labels[i].name.base, name, len) == 0)
            return &s->labels[i];
    return NULL;
}

int ig_prom_spec_match(const struct ig_prom_spec *spec, const struct ig_prom_sample *s)
{
    if (s->name.len != spec->_name_len || memcmp(s->name.base, spec->_text, spec->_name_len) != 0)
        return 0;
    for (size_t i = 0; i < spec->_nmatchers; i++) {
        const struct ig_prom__matcher *m = &spec->_m[i];
        const struct ig_prom_label *l = find_label(s, spec->_text + m->name_off, m->name_len);
        ig_iov_t v = l != NULL ? l->value : IG_IOV_NULL;
        int eq = ig_iov_eq(v, ig_iov(spec->_text + m->value_off, m->value_len));
        if (eq == m->negate)
            return 0;
    }
    return 1;
}

/* ---- queries --------------------------------------------------------------------------------- */

void ig_prom_query_init(struct ig_prom_query *q, const struct ig_prom_spec *spec, enum ig_prom_pick pick)
{
    memset(q, 0, offsetof(struct ig_prom_query, _store));
    q->spec = spec;
    q->pick = pick;
}

int ig_prom_query_add_label(struct ig_prom_query *q, const char *name)
{
    if (q->nlabel_names == IG_PROM_QUERY_MAX_LABELS)
        return IG_ETOOBIG;
    q->label_names[q->nlabel_names++] = name;
    return 0;
}

void ig_prom_query_reset(struct ig_prom_query *q)
{
    q->found = 0;
    q->value = 0;
    q->timestamp_ms = 0;
    q->line = 0;
    for (size_t i = 0; i < IG_PROM_QUERY_MAX_LABELS; i++)
        q->label_values[i] = IG_IOV_NULL;
}

static int readable_type(enum ig_prom_type t)
{
    return t == IG_PROM_GAUGE || t == IG_PROM_COUNTER || t == IG_PROM_UNTYPED;
}

/* Whether a value slice lies in the sample's line (else it was unescaped into scratch). */
static int in_line(const struct ig_prom_sample *s, ig_iov_t v)
{
    return v.base >= s->text.base && v.base + v.len <= s->text.base + s->text.len;
}

int ig_prom_query_offer(struct ig_prom_query *q, const struct ig_prom_sample *s)
{
    const struct ig_prom_label *found[IG_PROM_QUERY_MAX_LABELS];
    size_t need = 0, used = 0;

    if (!readable_type(s->type) || !ig_prom_spec_match(q->spec, s))
        return 0;
    if (q->found) {
        if (q->pick == IG_PROM_PICK_MAX_VALUE) {
            if (isnan(s->value) || (!isnan(q->value) && !(s->value > q->value)))
                return 0;
        } else if (!(s->timestamp_ms > q->timestamp_ms)) {
            return 0;
        }
    }
    /* size the copies first so that a failure leaves the previous winner intact */
    for (size_t i = 0; i < q->nlabel_names; i++) {
        found[i] = find_label(s, q->label_names[i], strlen(q->label_names[i]));
        if (found[i] != NULL && !in_line(s, found[i]->value))
            need += found[i]->value.len;
    }
    if (need > sizeof(q->_store))
        return IG_ETOOBIG;
    for (size_t i = 0; i < q->nlabel_names; i++) {
        if (found[i] == NULL) {
            q->label_values[i] = IG_IOV_NULL;
        } else if (in_line(s, found[i]->value)) {
            q->label_values[i] = found[i]->value;
        } else {
            /* memmove: a zero-length value may have a base anywhere */
            memmove(q->_store + used, found[i]->value.base, found[i]->value.len);
            q->label_values[i] = ig_iov(q->_store + used, found[i]->value.len);
            used += found[i]->value.len;
        }
    }
    q->found = 1;
    q->value = s->value;
    q->timestamp_ms = s->timestamp_ms;
    q->line = s->line;
    return 1;
}

/* ---- one-pass extraction --------------------------------------------------------------------- */

#define STOP_TOOBIG 1

struct extract {
    struct ig_prom_query *qs;
    size_t nq;
    uint32_t line;
    const char *text;
};

static int extract_filter(void *data, const struct ig_prom_sample *s)
{
    const struct extract *x = data;
    if (!readable_type(s->type))
        return 0;
    for (size_t i = 0; i < x->nq; i++) {
        const struct ig_prom_spec *spec = x->qs[i].spec;
        if (s->name.len == spec->_name_len && memcmp(s->name.base, spec->_text, s->name.len) == 0)
            return 1;
    }
    return 0;
}

static int extract_sample(void *data, const struct ig_prom_sample *s)
{
    struct extract *x = data;
    for (size_t i = 0; i < x->nq; i++) {
        if (ig_prom_query_offer(&x->qs[i], s) < 0) {
            x->line = s->line;
            return STOP_TOOBIG;
        }
    }
    return 0;
}

int ig_prom_extract(const char *buf, size_t len, struct ig_prom_query *qs, size_t nq, struct ig_prom_error *err)
{
    struct extract x = {qs, nq, 0, NULL};
    struct ig_prom_parse_opts opts = {
        .on_sample = extract_sample,
        .filter = extract_filter,
        .data = &x,
    };
    int rc;

    for (size_t i = 0; i < nq; i++)
        ig_prom_query_reset(&qs[i]);
    rc = ig_prom_parse(buf, len, &opts, err);
    if (rc == STOP_TOOBIG) {
        if (err != NULL) {
            err->line = x.line;
            err->col = 1;
            err->msg = "label values of the winning series overflow the query store";
        }
        rc = IG_ETOOBIG;
    }
    return rc;
}

/* ---- lists ----------------------------------------------------------------------------------- */

size_t ig_prom_split_list(ig_iov_t s, ig_iov_t *items, size_t max)
{
    size_t n = 0;
    const char *p = s.base, *e = s.base + s.len;

    while (p < e) {
        const char *c = memchr(p, ',', (size_t)(e - p));
        const char *ie = c != NULL ? c : e;
        ig_iov_t item = ig_iov_trim(ig_iov(p, (size_t)(ie - p)));
        if (item.len > 0) {
            if (n < max)
                items[n] = item;
            n++;
        }
        p = c != NULL ? c + 1 : e;
    }
    return n;
}
