/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Prometheus text format 0.0.4 parser the Endpoint Picker's scraper runs over every model
 * server's /metrics page every 50 ms. One pass over the page, line by line: nothing is allocated
 * and nothing is copied except label values that contain escapes (into the caller's scratch
 * buffer); names, label names, plain label values and help texts are slices of the page. Values
 * take a short exact path (Clinger's: at most 19 significant digits, mantissa <= 2^53, power of
 * ten <= 22) and fall back to strtod only for the rest. Every line is bounded (IG_PROM_MAX_LINE)
 * and so is every sample's label count (IG_PROM_MAX_LABELS); violations return an error with a
 * line and column, never a crash or an out-of-bounds read: no code here reads past the line end.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ig/metrics.h"

#define DEFAULT_SCRATCH 4096
#define VALUE_COPY_MAX  128 /* longer slow-path values are copied to the heap */

struct parser {
    const struct ig_prom_parse_opts *opts;
    struct ig_prom_error *err;
    char *scratch;
    size_t scratch_size;
    size_t scratch_used;
    uint32_t line;
    const char *line_start;
    /* the current family, from the last `# HELP` or `# TYPE` line */
    ig_iov_t fam_name;
    ig_iov_t fam_help;
    enum ig_prom_type fam_type;
    struct ig_prom_label labels[IG_PROM_MAX_LABELS];
};

static const char *const type_names[IG_PROM_TYPE_COUNT] = {
    [IG_PROM_UNTYPED] = "untyped",     [IG_PROM_COUNTER] = "counter", [IG_PROM_GAUGE] = "gauge",
    [IG_PROM_HISTOGRAM] = "histogram", [IG_PROM_SUMMARY] = "summary",
};

const char *ig_prom_type_name(enum ig_prom_type type)
{
    return (unsigned)type < IG_PROM_TYPE_COUNT ? type_names[type] : "untyped";
}

/* Character classes of the format, one table lookup per byte in the hot loops. */
enum {
    C_NAME_START = 1,  /* [a-zA-Z_:] */
    C_NAME = 2,        /* [a-zA-Z0-9_:] */
    C_LABEL_START = 4, /* [a-zA-Z_] */
    C_LABEL = 8,       /* [a-zA-Z0-9_] */
    C_BLANK = 16,      /* space, tab */
    C_QUOTE_BSL = 32,  /* '"', '\\' */
};

/* clang-format off */
static const uint8_t cls[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0, 16,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    16,  0, 32,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10,  3,  0,  0,  0,  0,  0,
     0, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  0, 32,  0,  0, 15,
     0, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
};
/* clang-format on */

#define CLS(c) cls[(unsigned char)(c)]

static inline int is_blank(char c)
{
    return CLS(c) & C_BLANK;
}

static inline int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static inline const char *skip_blank(const char *s, const char *e)
{
    while (s < e && is_blank(*s))
        s++;
    return s;
}

/* Skips bytes of class |mask|; unrolled because names are the bulk of what a scrape reads. */
static inline const char *scan_class(const char *s, const char *e, unsigned mask)
{
    while (e - s >= 4) {
        if (!(CLS(s[0]) & mask))
            return s;
        if (!(CLS(s[1]) & mask))
            return s + 1;
        if (!(CLS(s[2]) & mask))
            return s + 2;
        if (!(CLS(s[3]) & mask))
            return s + 3;
        s += 4;
    }
    while (s < e && (CLS(*s) & mask))
        s++;
    return s;
}

static const char *scan_name(const char *s, const char *e)
{
    if (s == e || !(CLS(*s) & C_NAME_START))
        return s;
    return scan_class(s + 1, e, C_NAME);
}

/*
 * Scans a metric name, skipping the current family's name (already validated) when the name
 * starts with it, as TYPE after HELP and almost every sample do: one memcmp instead of a byte
 * loop over most of the name. Sets |*prefixed| accordingly.
 */
static const char *scan_name_fam(const struct parser *p, const char *s, const char *e, int *prefixed)
{
    size_t fl = p->fam_name.len;
    *prefixed = fl > 0 && (size_t)(e - s) >= fl && memcmp(s, p->fam_name.base, fl) == 0;
    return *prefixed ? scan_class(s + fl, e, C_NAME) : scan_name(s, e);
}

#define SWAR_ONES  UINT64_C(0x0101010101010101)
#define SWAR_HIGHS UINT64_C(0x8080808080808080)

/* The first '"' or '\\' in [s, e), or e: eight bytes per step (SWAR zero-byte test), since label
 * values (model names, adapter lists) are the longest tokens of a sample line. */
static inline const char *scan_value(const char *s, const char *e)
{
    while (e - s >= 8) {
        uint64_t w, q, b;
        memcpy(&w, s, 8);
        q = w ^ (SWAR_ONES * '"');
        b = w ^ (SWAR_ONES * '\\');
        if (((q - SWAR_ONES) & ~q & SWAR_HIGHS) | ((b - SWAR_ONES) & ~b & SWAR_HIGHS))
            break;
        s += 8;
    }
    while (s < e && !(CLS(*s) & C_QUOTE_BSL))
        s++;
    return s;
}

static int fail(struct parser *p, const char *at, int code, const char *msg)
{
    if (p->err != NULL) {
        p->err->line = p->line;
        p->err->col = (uint32_t)(at - p->line_start) + 1;
        p->err->msg = msg;
    }
    return code;
}

/* ---- numbers --------------------------------------------------------------------------------- */

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int lower_eq(const char *s, size_t n, const char *lit)
{
    size_t i = 0;
    for (; i < n && lit[i] != '\0'; i++)
        if ((s[i] | 0x20) != lit[i])
            return 0;
    return i == n && lit[i] == '\0';
}

/* strtod on a NUL-terminated copy, for the values the exact path cannot take; the syntax was
 * already checked, so strtod must consume everything (the gateway never changes LC_NUMERIC). */
static int slow_value(const char *s, size_t n, double *out)
{
    char small[VALUE_COPY_MAX];
    char *copy = n < sizeof(small) ? small : ig_malloc(n + 1);
    char *end;
    int rc = 0;

    memcpy(copy, s, n);
    copy[n] = '\0';
    *out = strtod(copy, &end);
    if (end != copy + n)
        rc = IG_EINVAL;
    if (copy != small)
        ig_free(copy);
    return rc;
}

int ig_prom_parse_value(ig_iov_t v, double *out)
{
    const char *p = v.base, *e = v.base + v.len;
    int neg = 0, nd = 0, digits = 0, dropped = 0;
    int exp10 = 0;
    uint64_t m = 0;

    if (p == e)
        return IG_EINVAL;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    if (p < e && !is_digit(*p) && *p != '.') {
        /* Inf / Infinity with an optional sign, NaN without one, any case (Go's ParseFloat) */
        if (lower_eq(p, (size_t)(e - p), "inf") || lower_eq(p, (size_t)(e - p), "infinity")) {
            *out = neg ? -INFINITY : INFINITY;
            return 0;
        }
        if (p == v.base && lower_eq(p, (size_t)(e - p), "nan")) {
            *out = NAN;
            return 0;
        }
        return IG_EINVAL;
    }
    for (; p < e && is_digit(*p); p++) {
        digits++;
        if (m == 0 && *p == '0')
            continue;
        if (nd < 19) {
            m = m * 10 + (uint64_t)(*p - '0');
            nd++;
        } else {
            exp10++;
            dropped |= *p != '0';
        }
    }
    if (p < e && *p == '.') {
        for (p++; p < e && is_digit(*p); p++) {
            digits++;
            if (m == 0 && *p == '0') {
                exp10--;
                continue;
            }
            if (nd < 19) {
                m = m * 10 + (uint64_t)(*p - '0');
                nd++;
                exp10--;
            } else {
                dropped |= *p != '0';
            }
        }
    }
    if (digits == 0)
        return IG_EINVAL;
    if (p < e && (*p | 0x20) == 'e') {
        int eneg = 0, edigits = 0, ev = 0;
        p++;
        if (p < e && (*p == '+' || *p == '-')) {
            eneg = *p == '-';
            p++;
        }
        for (; p < e && is_digit(*p); p++, edigits++)
            if (ev < 100000) /* far beyond any double; keeps the sum below from overflowing */
                ev = ev * 10 + (*p - '0');
        if (edigits == 0)
            return IG_EINVAL;
        exp10 += eneg ? -ev : ev;
    }
    if (p != e)
        return IG_EINVAL;
    if (m == 0) {
        *out = neg ? -0.0 : 0.0;
        return 0;
    }
    if (!dropped && m <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        double d = (double)m;
        d = exp10 < 0 ? d / pow10_exact[-exp10] : d * pow10_exact[exp10];
        *out = neg ? -d : d;
        return 0;
    }
    return slow_value(v.base, v.len, out);
}

static int parse_timestamp(const char *s, const char *e, int64_t *out)
{
    int neg = 0;
    uint64_t v = 0, lim;

    if (s < e && (*s == '+' || *s == '-')) {
        neg = *s == '-';
        s++;
    }
    if (s == e)
        return IG_EINVAL;
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; s < e; s++) {
        if (!is_digit(*s))
            return IG_EINVAL;
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (lim - d) / 10)
            return IG_EINVAL;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* ---- escapes --------------------------------------------------------------------------------- */

int ig_prom_unescape_help(ig_iov_t help, char *dst, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < help.len; i++) {
        char c = help.base[i];
        if (c == '\\' && i + 1 < help.len && (help.base[i + 1] == '\\' || help.base[i + 1] == 'n')) {
            c = help.base[++i] == 'n' ? '\n' : '\\';
        }
        if (n == size)
            return IG_ETOOBIG;
        dst[n++] = c;
    }
    return (int)n;
}

/* Unescapes a label value (\\ \" \n; any other backslash is kept with its character, as the
 * Prometheus server does) into the scratch buffer. The output is never longer than the input. */
static int unescape_label(struct parser *p, const char *s, const char *e, ig_iov_t *out)
{
    if ((size_t)(e - s) > p->scratch_size - p->scratch_used)
        return IG_ETOOBIG;
    char *dst = p->scratch + p->scratch_used, *d = dst;
    while (s < e) {
        char c = *s++;
        if (c == '\\' && s < e) {
            if (*s == 'n') {
                c = '\n';
                s++;
            } else if (*s == '\\' || *s == '"') {
                c = *s++;
            }
        }
        *d++ = c;
    }
    out->base = dst;
    out->len = (size_t)(d - dst);
    p->scratch_used += out->len;
    return 0;
}

/* ---- lines ----------------------------------------------------------------------------------- */

static int parse_comment(struct parser *p, const char *s, const char *e)
{
    const char *tok, *name;
    int is_type, prefixed;

    s = skip_blank(s, e);
    tok = s;
    while (s < e && !is_blank(*s))
        s++;
    if (s - tok == 4 && memcmp(tok, "HELP", 4) == 0)
        is_type = 0;
    else if (s - tok == 4 && memcmp(tok, "TYPE", 4) == 0)
        is_type = 1;
    else
        return 0; /* a plain comment */
    s = skip_blank(s, e);
    name = s;
    s = scan_name_fam(p, s, e, &prefixed);
    if (s == name || (s < e && !is_blank(*s)))
        return fail(p, s, IG_EPROTO, "invalid metric name in comment");
    ig_iov_t n = ig_iov(name, (size_t)(s - name));
    if (!prefixed || n.len != p->fam_name.len) {
        p->fam_name = n;
        p->fam_help = IG_IOV_NULL;
        p->fam_type = IG_PROM_UNTYPED;
    }
    s = skip_blank(s, e);
    if (!is_type) {
        p->fam_help = ig_iov(s, (size_t)(e - s));
        return 0;
    }
    tok = s;
    while (s < e && !is_blank(*s))
        s++;
    size_t tlen = (size_t)(s - tok);
    int t;
    for (t = 0; t < IG_PROM_TYPE_COUNT; t++)
        if (lower_eq(tok, tlen, type_names[t])) /* case-insensitive, as Go's expfmt */
            break;
    if (t == IG_PROM_TYPE_COUNT)
        return fail(p, tok, IG_EPROTO, "unknown metric type");
    if (skip_blank(s, e) != e)
        return fail(p, skip_blank(s, e), IG_EPROTO, "unexpected text after metric type");
    p->fam_type = (enum ig_prom_type)t;
    return 0;
}

static int suffix_is(ig_iov_t name, size_t off, const char *sfx, size_t n)
{
    return name.len - off == n && memcmp(name.base + off, sfx, n) == 0;
}

/* Attaches the current family when |s->name| (|prefixed|: starts with the family name) is one
 * of its sample names. */
static void classify(const struct parser *p, struct ig_prom_sample *s, int prefixed)
{
    ig_iov_t f = p->fam_name, n = s->name;
    int member = 0;

    if (!prefixed)
        goto out;
    if (n.len == f.len) {
        member = 1;
        goto out;
    }
    switch (p->fam_type) {
    case IG_PROM_HISTOGRAM:
        member =
            suffix_is(n, f.len, "_bucket", 7) || suffix_is(n, f.len, "_sum", 4) || suffix_is(n, f.len, "_count", 6);
        break;
    case IG_PROM_SUMMARY:
        member = suffix_is(n, f.len, "_sum", 4) || suffix_is(n, f.len, "_count", 6);
        break;
    case IG_PROM_COUNTER: /* `# TYPE x counter` with samples named x_total (OpenMetrics habit) */
        member = suffix_is(n, f.len, "_total", 6);
        break;
    default:
        break;
    }
out:
    if (member) {
        s->family = f;
        s->help = p->fam_help;
        s->type = p->fam_type;
    } else {
        s->family = IG_IOV_NULL;
        s->help = IG_IOV_NULL;
        s->type = IG_PROM_UNTYPED;
    }
}

/* Parses `{name="value",...}` starting at the '{' in |*sp|; leaves |*sp| after the '}'. */
static int parse_labels(struct parser *p, const char **sp, const char *e, size_t *nlabels)
{
    const char *s = *sp + 1;
    size_t n = 0;

    for (;;) {
        s = skip_blank(s, e);
        if (s == e)
            return fail(p, s, IG_EPROTO, "unterminated label set");
        if (*s == '}')
            break;
        if (n == IG_PROM_MAX_LABELS)
            return fail(p, s, IG_ETOOBIG, "too many labels");
        struct ig_prom_label *l = &p->labels[n];
        const char *ls = s;
        if (!(CLS(*s) & C_LABEL_START))
            return fail(p, s, IG_EPROTO, "invalid label name");
        s = scan_class(s + 1, e, C_LABEL);
        l->name = ig_iov(ls, (size_t)(s - ls));
        s = skip_blank(s, e);
        if (s == e || *s != '=')
            return fail(p, s, IG_EPROTO, "expected '=' after label name");
        s = skip_blank(s + 1, e);
        if (s == e || *s != '"')
            return fail(p, s, IG_EPROTO, "expected '\"' before label value");
        const char *vs = ++s;
        s = scan_value(s, e);
        if (s < e && *s == '"') {
            l->value = ig_iov(vs, (size_t)(s - vs));
            s++;
        } else {
            /* escapes: find the closing quote that is not escaped, then unescape */
            while (s < e && *s != '"')
                s += *s == '\\' && s + 1 < e ? 2 : 1;
            if (s >= e)
                return fail(p, vs - 1, IG_EPROTO, "unterminated label value");
            if (unescape_label(p, vs, s, &l->value) != 0)
                return fail(p, vs, IG_ETOOBIG, "label values overflow the scratch buffer");
            s++;
        }
        n++;
        s = skip_blank(s, e);
        if (s < e && *s == ',') {
            s++;
            continue;
        }
        if (s < e && *s == '}')
            break;
        return fail(p, s, IG_EPROTO, "expected ',' or '}' after label value");
    }
    *sp = s + 1;
    *nlabels = n;
    return 0;
}

static int parse_sample(struct parser *p, const char *s, const char *e)
{
    const struct ig_prom_parse_opts *o = p->opts;
    struct ig_prom_sample smp;
    const char *tok;
    int rc, prefixed;

    tok = s;
    s = scan_name_fam(p, s, e, &prefixed);
    if (s == tok || (s < e && *s != '{' && !is_blank(*s)))
        return fail(p, s, IG_EPROTO, "invalid metric name");
    smp.name = ig_iov(tok, (size_t)(s - tok));
    smp.labels = p->labels;
    smp.nlabels = 0;
    smp.value = 0;
    smp.timestamp_ms = 0;
    smp.has_timestamp = 0;
    smp.line = p->line;
    smp.text = ig_iov(p->line_start, (size_t)(e - p->line_start));
    classify(p, &smp, prefixed);
    if (o->filter != NULL && !o->filter(o->data, &smp))
        return 0;
    p->scratch_used = 0;
    s = skip_blank(s, e);
    if (s < e && *s == '{') {
        rc = parse_labels(p, &s, e, &smp.nlabels);
        if (rc != 0)
            return rc;
        s = skip_blank(s, e);
    }
    tok = s;
    while (s < e && !is_blank(*s))
        s++;
    if (s == tok)
        return fail(p, s, IG_EPROTO, "missing value");
    if (ig_prom_parse_value(ig_iov(tok, (size_t)(s - tok)), &smp.value) != 0)
        return fail(p, tok, IG_EPROTO, "invalid value");
    s = skip_blank(s, e);
    if (s < e) {
        tok = s;
        while (s < e && !is_blank(*s))
            s++;
        if (parse_timestamp(tok, s, &smp.timestamp_ms) != 0)
            return fail(p, tok, IG_EPROTO, "invalid timestamp");
        smp.has_timestamp = 1;
        s = skip_blank(s, e);
        if (s < e)
            return fail(p, s, IG_EPROTO, "unexpected text after timestamp");
    }
    return o->on_sample != NULL ? o->on_sample(o->data, &smp) : 0;
}

int ig_prom_parse(const char *buf, size_t len, const struct ig_prom_parse_opts *opts, struct ig_prom_error *err)
{
    char local[DEFAULT_SCRATCH];
    struct parser p;
    const char *pos = buf, *end = buf + len;
    int rc = 0;

    p.opts = opts;
    p.err = err;
    p.scratch = opts->scratch != NULL ? opts->scratch : local;
    p.scratch_size = opts->scratch != NULL ? opts->scratch_size : sizeof(local);
    p.scratch_used = 0;
    p.line = 0;
    p.fam_name = IG_IOV_NULL;
    p.fam_help = IG_IOV_NULL;
    p.fam_type = IG_PROM_UNTYPED;
    if (err != NULL) {
        err->line = 0;
        err->col = 0;
        err->msg = NULL;
    }
    while (pos < end) {
        const char *nl = memchr(pos, '\n', (size_t)(end - pos));
        const char *le = nl != NULL ? nl : end;
        const char *s;

        p.line++;
        p.line_start = pos;
        if (le > pos && le[-1] == '\r')
            le--;
        if ((size_t)(le - pos) > IG_PROM_MAX_LINE)
            return fail(&p, pos + IG_PROM_MAX_LINE, IG_ETOOBIG, "line too long");
        s = skip_blank(pos, le);
        if (s < le)
            rc = *s == '#' ? parse_comment(&p, s + 1, le) : parse_sample(&p, s, le);
        if (rc != 0)
            return rc;
        pos = nl != NULL ? nl + 1 : end;
    }
    return 0;
}
