/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the Prometheus text parser and the series selection (prom_parse.c,
 * prom_select.c): every syntax element of format 0.0.4, escapes, NaN/Inf and exact values,
 * timestamps, families and types, error positions and limits, early stop and the pre-filter,
 * inputs that end right before an unmapped page, compiled specs, the Endpoint Picker's selection
 * rules (first match, highest timestamp, largest value for LoRA info) and whole model-server
 * pages from the fuzz corpus (vLLM, SGLang, Triton TRT-LLM, trtllm-serve).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "ig/metrics.h"

/* ---- helpers --------------------------------------------------------------------------------- */

#define MAX_REC 64

/* A copy of one delivered sample (the callback's slices are only valid during the call). */
struct rec {
    char name[128];
    char family[128];
    char help[256];
    enum ig_prom_type type;
    size_t nlabels;
    char lname[8][32];
    char lvalue[8][256];
    int lvalue_in_line[8]; /* zero-copy slice of the page */
    double value;
    int64_t ts;
    int has_ts;
    uint32_t line;
};

struct recs {
    struct rec r[MAX_REC];
    size_t n;
    size_t total;
    int stop_after; /* 0: never */
};

static void copy_iov(char *dst, size_t size, ig_iov_t v)
{
    size_t n = v.len < size - 1 ? v.len : size - 1;
    if (n > 0)
        memcpy(dst, v.base, n);
    dst[n] = '\0';
}

static int record(void *data, const struct ig_prom_sample *s)
{
    struct recs *rs = data;
    rs->total++;
    if (rs->n < MAX_REC) {
        struct rec *r = &rs->r[rs->n++];
        memset(r, 0, sizeof(*r));
        copy_iov(r->name, sizeof(r->name), s->name);
        copy_iov(r->family, sizeof(r->family), s->family);
        copy_iov(r->help, sizeof(r->help), s->help);
        r->type = s->type;
        r->nlabels = s->nlabels;
        for (size_t i = 0; i < s->nlabels && i < 8; i++) {
            copy_iov(r->lname[i], sizeof(r->lname[i]), s->labels[i].name);
            copy_iov(r->lvalue[i], sizeof(r->lvalue[i]), s->labels[i].value);
            r->lvalue_in_line[i] = s->labels[i].value.base >= s->text.base &&
                                   s->labels[i].value.base + s->labels[i].value.len <= s->text.base + s->text.len;
        }
        r->value = s->value;
        r->ts = s->timestamp_ms;
        r->has_ts = s->has_timestamp;
        r->line = s->line;
    }
    if (rs->stop_after != 0 && rs->total == (size_t)rs->stop_after)
        return 7;
    return 0;
}

static int parse_str(const char *text, struct recs *rs, struct ig_prom_error *err)
{
    struct ig_prom_parse_opts o = {.on_sample = record, .data = rs};
    memset(rs, 0, sizeof(*rs));
    return ig_prom_parse(text, strlen(text), &o, err);
}

/* Reads a file of the fuzz corpus, found relative to this source file. */
static char *read_corpus(const char *name, size_t *len)
{
    char path[1024];
    const char *slash = strrchr(__FILE__, '/');
    int dir = slash != NULL ? (int)(slash - __FILE__) : 0;
    snprintf(path, sizeof(path), "%.*s/../../fuzz/corpus/prom_parse/%s", dir, __FILE__, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static int iov_is(ig_iov_t v, const char *s)
{
    return v.base != NULL && v.len == strlen(s) && memcmp(v.base, s, v.len) == 0;
}

static void compile(struct ig_prom_spec *spec, const char *text)
{
    assert_int_equal(ig_prom_spec_compile(spec, text, strlen(text)), 0);
}

/* ---- syntax ---------------------------------------------------------------------------------- */

static void test_basic_samples(void **state)
{
    (void)state;
    struct recs rs;
    struct ig_prom_error err;
    assert_int_equal(parse_str("up 1\n"
                               "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
                               "neg_ts -3.5 -42\n",
                               &rs, &err),
                     0);
    assert_int_equal(rs.n, 3);
    assert_string_equal(rs.r[0].name, "up");
    assert_int_equal(rs.r[0].nlabels, 0);
    assert_true(rs.r[0].value == 1.0);
    assert_false(rs.r[0].has_ts);
    assert_int_equal(rs.r[0].ts, 0);
    assert_int_equal(rs.r[0].line, 1);
    assert_int_equal(rs.r[0].type, IG_PROM_UNTYPED);
    assert_string_equal(rs.r[0].family, "");
    assert_string_equal(rs.r[1].name, "http_requests_total");
    assert_int_equal(rs.r[1].nlabels, 2);
    assert_string_equal(rs.r[1].lname[0], "method");
    assert_string_equal(rs.r[1].lvalue[0], "post");
    assert_string_equal(rs.r[1].lname[1], "code");
    assert_string_equal(rs.r[1].lvalue[1], "200");
    assert_true(rs.r[1].lvalue_in_line[0] && rs.r[1].lvalue_in_line[1]);
    assert_true(rs.r[1].value == 1027.0);
    assert_true(rs.r[1].has_ts);
    assert_int_equal(rs.r[1].ts, 1395066363000);
    assert_true(rs.r[2].value == -3.5);
    assert_int_equal(rs.r[2].ts, -42);
    assert_int_equal(rs.r[2].line, 3);
}

static void test_families(void **state)
{
    (void)state;
    struct recs rs;
    static const char page[] = "# HELP h Latency \\\\ in\\n seconds.\n"
                               "# TYPE h histogram\n"
                               "h_bucket{le=\"0.5\"} 1\n"
                               "h_bucket{le=\"+Inf\"} 2\n"
                               "h_sum 0.7\n"
                               "h_count 2\n"
                               "h_created 1.7e9\n" /* not a histogram sample name */
                               "h 3\n"
                               "# TYPE s summary\n"
                               "s{quantile=\"0.5\"} 4\n"
                               "s_sum 9\n"
                               "s_count 3\n"
                               "s_bucket 1\n"
                               "# TYPE c counter\n"
                               "# HELP c Requests.\n"
                               "c_total 5\n"
                               "c 6\n"
                               "c_sum 1\n"
                               "# TYPE g gauge\n"
                               "g 1\n"
                               "g_total 1\n"
                               "# HELP u Only help.\n"
                               "u 2\n"
                               "#TYPE nospace UNTYPED\n"
                               "nospace 1\n"
                               "# HELP empty_help\n"
                               "# TYPE other gauge\n"
                               "empty_help 1\n";
    assert_int_equal(parse_str(page, &rs, NULL), 0);
    static const struct {
        const char *name, *family;
        enum ig_prom_type type;
    } want[] = {
        {"h_bucket", "h", IG_PROM_HISTOGRAM},
        {"h_bucket", "h", IG_PROM_HISTOGRAM},
        {"h_sum", "h", IG_PROM_HISTOGRAM},
        {"h_count", "h", IG_PROM_HISTOGRAM},
        {"h_created", "", IG_PROM_UNTYPED},
        {"h", "h", IG_PROM_HISTOGRAM},
        {"s", "s", IG_PROM_SUMMARY},
        {"s_sum", "s", IG_PROM_SUMMARY},
        {"s_count", "s", IG_PROM_SUMMARY},
        {"s_bucket", "", IG_PROM_UNTYPED},
        {"c_total", "c", IG_PROM_COUNTER},
        {"c", "c", IG_PROM_COUNTER},
        {"c_sum", "", IG_PROM_UNTYPED},
        {"g", "g", IG_PROM_GAUGE},
        {"g_total", "", IG_PROM_UNTYPED},
        {"u", "u", IG_PROM_UNTYPED},
        {"nospace", "nospace", IG_PROM_UNTYPED},
        {"empty_help", "", IG_PROM_UNTYPED},
    };
    assert_int_equal(rs.n, IG_ARRAY_LEN(want));
    for (size_t i = 0; i < IG_ARRAY_LEN(want); i++) {
        assert_string_equal(rs.r[i].name, want[i].name);
        assert_string_equal(rs.r[i].family, want[i].family);
        assert_int_equal(rs.r[i].type, want[i].type);
    }
    /* help is delivered escaped; the helper unescapes \\ and \n only */
    assert_string_equal(rs.r[0].help, "Latency \\\\ in\\n seconds.");
    assert_string_equal(rs.r[11].help, "Requests.");
    assert_string_equal(rs.r[15].help, "Only help.");
    char out[64];
    int n = ig_prom_unescape_help(ig_iov_cstr("a\\\\b\\nc\\\"d\\"), out, sizeof(out));
    assert_int_equal(n, 9);
    assert_memory_equal(out, "a\\b\nc\\\"d\\", 9);
    assert_int_equal(ig_prom_unescape_help(ig_iov_cstr("abc"), out, 2), IG_ETOOBIG);
    assert_string_equal(ig_prom_type_name(IG_PROM_SUMMARY), "summary");
    assert_string_equal(ig_prom_type_name(IG_PROM_UNTYPED), "untyped");
    assert_string_equal(ig_prom_type_name(IG_PROM_TYPE_COUNT), "untyped");
}

/* Names that start with the current family's name take a shortcut: same verdicts as a full scan. */
static void test_family_prefix(void **state)
{
    (void)state;
    struct recs rs;
    struct ig_prom_error err;
    assert_int_equal(parse_str("# HELP foo Foo.\n"
                               "# TYPE foo counter\n"
                               "foo 1\n"
                               "foobar 2\n"
                               "foo_total 3\n"
                               "fo 4\n"
                               "# TYPE foo_x gauge\n"
                               "foo 5\n"
                               "foo_x 6\n",
                               &rs, NULL),
                     0);
    assert_int_equal(rs.n, 6);
    assert_int_equal(rs.r[0].type, IG_PROM_COUNTER);
    assert_string_equal(rs.r[0].help, "Foo.");
    assert_string_equal(rs.r[1].name, "foobar");
    assert_int_equal(rs.r[1].type, IG_PROM_UNTYPED);
    assert_int_equal(rs.r[2].type, IG_PROM_COUNTER);
    assert_string_equal(rs.r[3].name, "fo");
    assert_int_equal(rs.r[3].type, IG_PROM_UNTYPED);
    assert_int_equal(rs.r[4].type, IG_PROM_UNTYPED); /* the family is foo_x now */
    assert_int_equal(rs.r[5].type, IG_PROM_GAUGE);
    assert_string_equal(rs.r[5].help, ""); /* a new family starts without help */
    /* an invalid byte right after the family prefix is still caught */
    assert_int_equal(parse_str("# TYPE foo gauge\nfoo-1 1\n", &rs, &err), IG_EPROTO);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.col, 4);
    assert_int_equal(parse_str("# TYPE foo gauge\n# HELP foo\x01 x\n", &rs, &err), IG_EPROTO);
    assert_int_equal(err.col, 11);
    assert_int_equal(parse_str("# TYPE foo gauge\nfo", &rs, &err), IG_EPROTO);
    assert_string_equal(err.msg, "missing value");
}

static void test_whitespace(void **state)
{
    (void)state;
    struct recs rs;
    static const char page[] = "\n"
                               "   \t\n"
                               "# plain comment with \"quotes\" and {braces}\n"
                               "#\n"
                               "  \t# \t TYPE \t ws gauge \t \r\n"
                               " \tws \t{ \ta\t = \t\"1\" \t, b=\"2\" , } \t 5 \t 17 \t\r\n"
                               "ws{} 6\r\n"
                               "ws{a=\"x\",} 7\n"
                               "ws{a=\"x\"}8\n"
                               "ws\t9\r\n"
                               "ws 10";
    assert_int_equal(parse_str(page, &rs, NULL), 0);
    assert_int_equal(rs.n, 6);
    assert_int_equal(rs.r[0].type, IG_PROM_GAUGE);
    assert_int_equal(rs.r[0].nlabels, 2);
    assert_string_equal(rs.r[0].lname[0], "a");
    assert_string_equal(rs.r[0].lvalue[0], "1");
    assert_string_equal(rs.r[0].lvalue[1], "2");
    assert_true(rs.r[0].value == 5.0);
    assert_int_equal(rs.r[0].ts, 17);
    assert_int_equal(rs.r[0].line, 6);
    assert_int_equal(rs.r[1].nlabels, 0);
    assert_true(rs.r[1].value == 6.0);
    assert_int_equal(rs.r[2].nlabels, 1);
    assert_true(rs.r[3].value == 8.0);
    assert_true(rs.r[4].value == 9.0);
    assert_false(rs.r[4].has_ts);       /* the CR is not part of the line */
    assert_true(rs.r[5].value == 10.0); /* no final newline */
    assert_int_equal(rs.r[5].line, 11);
}

static void test_escapes(void **state)
{
    (void)state;
    struct recs rs;
    char scratch[64];
    struct ig_prom_parse_opts o = {
        .on_sample = record, .data = &rs, .scratch = scratch, .scratch_size = sizeof(scratch)};
    static const char page[] =
        "e{a=\"back\\\\slash\",b=\"q\\\"uote\",c=\"new\\nline\",d=\"keep\\t\\x\",e=\"plain\",f=\"\","
        "g=\"}\\\\\"} 1\n";
    memset(&rs, 0, sizeof(rs));
    assert_int_equal(ig_prom_parse(page, strlen(page), &o, NULL), 0);
    assert_int_equal(rs.n, 1);
    assert_int_equal(rs.r[0].nlabels, 7);
    assert_string_equal(rs.r[0].lvalue[0], "back\\slash");
    assert_string_equal(rs.r[0].lvalue[1], "q\"uote");
    assert_string_equal(rs.r[0].lvalue[2], "new\nline");
    assert_string_equal(rs.r[0].lvalue[3], "keep\\t\\x"); /* unknown escapes are kept */
    assert_string_equal(rs.r[0].lvalue[4], "plain");
    assert_string_equal(rs.r[0].lvalue[5], "");
    assert_string_equal(rs.r[0].lvalue[6], "}\\");
    /* only escaped values are copied into the scratch buffer */
    assert_false(rs.r[0].lvalue_in_line[0]);
    assert_false(rs.r[0].lvalue_in_line[2]);
    assert_true(rs.r[0].lvalue_in_line[4]);

    /* scratch overflow: an error with a position, not a truncation */
    struct ig_prom_error err;
    o.scratch_size = 12;
    memset(&rs, 0, sizeof(rs));
    assert_int_equal(ig_prom_parse(page, strlen(page), &o, &err), IG_ETOOBIG);
    assert_int_equal(err.line, 1);
    assert_int_equal(err.col, 22); /* the first byte of b's value: a's took 10 of the 12 bytes */
    assert_int_equal(rs.n, 0);
}

/* ---- values and timestamps ------------------------------------------------------------------- */

static void test_values(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "0",
        "-0",
        "1",
        "3.0",
        ".5",
        "5.",
        "1e3",
        "1E-3",
        "+1.5e+2",
        "0.1",
        "0.0001",
        "000123",
        "123.456e-7",
        "1.7325234561e+09",
        "1e22",
        "1e23",
        "9007199254740993",
        "123456789012345678901234567890",
        "1.7976931348623157e308",
        "4.9e-324",
        "2.2250738585072014e-308",
        "1e-400",
        "1e400",
        "-1e400",
        "0.30000000000000004",
        "3.14159265358979323846264338327950288",
        "0e999999999999",
    };
    for (size_t i = 0; i < IG_ARRAY_LEN(ok); i++) {
        double d = 0, want = strtod(ok[i], NULL);
        assert_int_equal(ig_prom_parse_value(ig_iov_cstr(ok[i]), &d), 0);
        if (memcmp(&d, &want, sizeof(d)) != 0)
            fail_msg("value %s: got %.17g want %.17g", ok[i], d, want);
    }
    static const struct {
        const char *s;
        double v;
    } special[] = {{"+Inf", INFINITY}, {"-Inf", -INFINITY},    {"Inf", INFINITY},       {"inf", INFINITY},
                   {"INF", INFINITY},  {"Infinity", INFINITY}, {"-infinity", -INFINITY}};
    for (size_t i = 0; i < IG_ARRAY_LEN(special); i++) {
        double d = 0;
        assert_int_equal(ig_prom_parse_value(ig_iov_cstr(special[i].s), &d), 0);
        assert_true(d == special[i].v);
    }
    double d = 0;
    assert_int_equal(ig_prom_parse_value(ig_iov_cstr("NaN"), &d), 0);
    assert_true(isnan(d));
    assert_int_equal(ig_prom_parse_value(ig_iov_cstr("nan"), &d), 0);
    assert_true(isnan(d));
    assert_int_equal(ig_prom_parse_value(ig_iov_cstr("-0"), &d), 0);
    assert_true(d == 0 && signbit(d));

    static const char *const bad[] = {"",      "+",    "-",    ".",   "e5",    "1e", "1e+",  "0x10",
                                      "1.2.3", "NaNx", "+NaN", "1 ",  "--1",   "in", "Infx", "1,5",
                                      "1_000", "+-1",  "1e5.", ".e1", "1e1e1", "∞"};
    for (size_t i = 0; i < IG_ARRAY_LEN(bad); i++)
        if (ig_prom_parse_value(ig_iov_cstr(bad[i]), &d) != IG_EINVAL)
            fail_msg("value \"%s\" accepted", bad[i]);
    /* not NUL-terminated: the slice ends before the '9' */
    assert_int_equal(ig_prom_parse_value(ig_iov("12.59", 4), &d), 0);
    assert_true(d == 12.5);
}

/* The fast path must round exactly like strtod: random doubles printed with 1..17 digits. */
static void test_values_roundtrip(void **state)
{
    (void)state;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    char buf[64];
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        switch (i % 4) {
        case 0: /* any finite bit pattern */
            memcpy(&v, &x, sizeof(v));
            if (!isfinite(v))
                continue;
            break;
        case 1: /* gauges and ratios */
            v = (double)(x % 1000000) / 1e6;
            break;
        case 2: /* counters */
            v = (double)(x >> 20);
            break;
        default: /* timestamps in seconds */
            v = 1.7e9 + (double)(x % 100000000) / 1e4;
            break;
        }
        int prec = 1 + (int)(x % 17);
        int n = (i & 1) ? snprintf(buf, sizeof(buf), "%.*g", prec, v) : snprintf(buf, sizeof(buf), "%.*e", prec, v);
        double got = 0, want = strtod(buf, NULL);
        assert_int_equal(ig_prom_parse_value(ig_iov(buf, (size_t)n), &got), 0);
        if (memcmp(&got, &want, sizeof(got)) != 0)
            fail_msg("value %s: got %.17g want %.17g", buf, got, want);
    }
}

static void test_timestamps(void **state)
{
    (void)state;
    struct recs rs;
    struct ig_prom_error err;
    assert_int_equal(parse_str("a 1 9223372036854775807\nb 1 -9223372036854775808\nc 1 +5\nd 1 0\n", &rs, NULL), 0);
    assert_int_equal(rs.n, 4);
    assert_true(rs.r[0].ts == INT64_MAX);
    assert_true(rs.r[1].ts == INT64_MIN);
    assert_int_equal(rs.r[2].ts, 5);
    assert_true(rs.r[3].has_ts);
    assert_int_equal(rs.r[3].ts, 0);
    static const char *const bad[] = {
        "a 1 9223372036854775808\n", "a 1 -9223372036854775809\n", "a 1 1.5\n", "a 1 1e3\n", "a 1 -\n", "a 1 12x\n"};
    for (size_t i = 0; i < IG_ARRAY_LEN(bad); i++) {
        assert_int_equal(parse_str(bad[i], &rs, &err), IG_EPROTO);
        assert_int_equal(err.col, 5);
        assert_string_equal(err.msg, "invalid timestamp");
    }
}

/* ---- errors ---------------------------------------------------------------------------------- */

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        uint32_t line, col;
        const char *msg;
    } cases[] = {
        {"ok 1\nfoo bar\n", IG_EPROTO, 2, 5, "invalid value"},
        {"x{a=\"b} 1\n", IG_EPROTO, 1, 5, "unterminated label value"},
        {"x{a=\"b\\\"} 1\n", IG_EPROTO, 1, 5, "unterminated label value"},
        {"1x 1\n", IG_EPROTO, 1, 1, "invalid metric name"},
        {"x-y 1\n", IG_EPROTO, 1, 2, "invalid metric name"},
        {"x{1a=\"b\"} 1\n", IG_EPROTO, 1, 3, "invalid label name"},
        {"x{a:b=\"b\"} 1\n", IG_EPROTO, 1, 4, "expected '=' after label name"},
        {"x{a \"b\"} 1\n", IG_EPROTO, 1, 5, "expected '=' after label name"},
        {"x{a=b} 1\n", IG_EPROTO, 1, 5, "expected '\"' before label value"},
        {"x{a=\"b\" c=\"d\"} 1\n", IG_EPROTO, 1, 9, "expected ',' or '}' after label value"},
        {"x{a=\"b\"", IG_EPROTO, 1, 8, "expected ',' or '}' after label value"},
        {"x{", IG_EPROTO, 1, 3, "unterminated label set"},
        {"x{,} 1", IG_EPROTO, 1, 3, "invalid label name"},
        {"x\n", IG_EPROTO, 1, 2, "missing value"},
        {"x{a=\"b\"}\n", IG_EPROTO, 1, 9, "missing value"},
        {"x 1 2 3\n", IG_EPROTO, 1, 7, "unexpected text after timestamp"},
        {"\n\n# TYPE x foo\n", IG_EPROTO, 3, 10, "unknown metric type"},
        {"# TYPE x\n", IG_EPROTO, 1, 9, "unknown metric type"},
        {"# TYPE x gauge extra\n", IG_EPROTO, 1, 16, "unexpected text after metric type"},
        {"# TYPE x Gauges\n", IG_EPROTO, 1, 10, "unknown metric type"},
        {"# TYPE 1x gauge\n", IG_EPROTO, 1, 8, "invalid metric name in comment"},
        {"# HELP\n", IG_EPROTO, 1, 7, "invalid metric name in comment"},
        {"# HELP x\"y z\n", IG_EPROTO, 1, 9, "invalid metric name in comment"},
        {"x 1\r\r\n", IG_EPROTO, 1, 3, "invalid value"}, /* only one CR belongs to the line ending */
    };
    for (size_t i = 0; i < IG_ARRAY_LEN(cases); i++) {
        struct recs rs;
        struct ig_prom_error err;
        int rc = parse_str(cases[i].in, &rs, &err);
        if (rc != cases[i].rc || err.line != cases[i].line || err.col != cases[i].col ||
            strcmp(err.msg, cases[i].msg) != 0)
            fail_msg("case %zu (%s): rc %d line %u col %u msg %s", i, cases[i].in, rc, err.line, err.col,
                     err.msg != NULL ? err.msg : "(null)");
    }
}

static void test_limits(void **state)
{
    (void)state;
    struct recs rs;
    struct ig_prom_error err;
    size_t cap = IG_PROM_MAX_LINE + 256;
    char *big = malloc(cap);
    assert_non_null(big);

    /* 64 labels pass, 65 fail at the 65th label's column */
    for (int nl = IG_PROM_MAX_LABELS; nl <= IG_PROM_MAX_LABELS + 1; nl++) {
        size_t n = (size_t)snprintf(big, cap, "ok 1\nx{");
        size_t col65 = 0;
        for (int i = 0; i < nl; i++) {
            if (i == IG_PROM_MAX_LABELS)
                col65 = n - 5 + 1;
            n += (size_t)snprintf(big + n, cap - n, "l%d=\"v\",", i);
        }
        n += (size_t)snprintf(big + n, cap - n, "} 1\n");
        int rc = ig_prom_parse(big, n, &(struct ig_prom_parse_opts){.on_sample = record, .data = &rs}, &err);
        if (nl == IG_PROM_MAX_LABELS) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, IG_ETOOBIG);
            assert_int_equal(err.line, 2);
            assert_int_equal(err.col, col65);
            assert_string_equal(err.msg, "too many labels");
        }
    }

    /* a line of exactly IG_PROM_MAX_LINE bytes (+ CRLF) passes; one more byte fails */
    for (size_t extra = 0; extra <= 1; extra++) {
        size_t n = 0;
        memcpy(big, "a 1\n", 4);
        n = 4;
        size_t body = IG_PROM_MAX_LINE + extra;
        memcpy(big + n, "x{a=\"", 5);
        memset(big + n + 5, 'A', body - 5 - 4);
        memcpy(big + n + body - 4, "\"} 1", 4);
        n += body;
        memcpy(big + n, "\r\n", 2);
        n += 2;
        memset(&rs, 0, sizeof(rs));
        int rc = ig_prom_parse(big, n, &(struct ig_prom_parse_opts){.on_sample = record, .data = &rs}, &err);
        if (extra == 0) {
            assert_int_equal(rc, 0);
            assert_int_equal(rs.total, 2);
        } else {
            assert_int_equal(rc, IG_ETOOBIG);
            assert_int_equal(err.line, 2);
            assert_int_equal(err.col, IG_PROM_MAX_LINE + 1);
            assert_string_equal(err.msg, "line too long");
        }
    }
    free(big);
}

static int stop_on_second(void *data, const struct ig_prom_sample *s)
{
    (void)s;
    return ++*(int *)data == 2 ? 42 : 0;
}

static void test_early_stop(void **state)
{
    (void)state;
    struct recs rs;
    memset(&rs, 0, sizeof(rs));
    rs.stop_after = 2;
    static const char page[] = "a 1\nb 2\nc 3\nthis is not a sample\n";
    struct ig_prom_parse_opts o = {.on_sample = record, .data = &rs};
    assert_int_equal(ig_prom_parse(page, strlen(page), &o, NULL), 7);
    assert_int_equal(rs.total, 2);
    int n = 0;
    o = (struct ig_prom_parse_opts){.on_sample = stop_on_second, .data = &n};
    assert_int_equal(ig_prom_parse(page, strlen(page), &o, NULL), 42);
    assert_int_equal(n, 2);
    /* without a callback: a syntax check */
    o = (struct ig_prom_parse_opts){0};
    assert_int_equal(ig_prom_parse(page, strlen(page), &o, NULL), IG_EPROTO);
    assert_int_equal(ig_prom_parse(page, 12, &o, NULL), 0);
}

static int only_b(void *data, const struct ig_prom_sample *s)
{
    (*(int *)data)++;
    assert_int_equal(s->nlabels, 0); /* labels are not parsed before the filter */
    return iov_is(s->name, "b");
}

static void test_filter(void **state)
{
    (void)state;
    struct recs rs;
    static const char page[] = "# TYPE b gauge\n"
                               "a{broken 1\n"
                               "b{x=\"1\"} 2\n"
                               "c 1 2 3 4\n";
    int calls = 0;
    struct ig_prom_parse_opts o = {.on_sample = record, .filter = only_b, .data = &rs};
    memset(&rs, 0, sizeof(rs));
    o.filter = NULL;
    assert_int_equal(ig_prom_parse(page, strlen(page), &o, NULL), IG_EPROTO);
    /* the filter skips unread lines: their syntax past the name is not checked */
    memset(&rs, 0, sizeof(rs));
    o.filter = only_b;
    o.data = &calls;
    o.on_sample = NULL;
    assert_int_equal(ig_prom_parse(page, strlen(page), &o, NULL), 0);
    assert_int_equal(calls, 3);
    /* an invalid name is still an error */
    assert_int_equal(ig_prom_parse("b 1\n-x 1\n", 9, &o, NULL), IG_EPROTO);
}

/*
 * Every input is placed so that its last byte is the last byte before a PROT_NONE page: any read
 * past the end faults.
 */
static void test_guard_page(void **state)
{
    (void)state;
    long pg = sysconf(_SC_PAGESIZE);
    char *map = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(map != MAP_FAILED);
    assert_int_equal(mprotect(map + pg, (size_t)pg, PROT_NONE), 0);
    static const char *const inputs[] = {
        "x{a=\"b\\", "x{a=\"b\\\\", "x{a=\"b\"",
        "x{a",       "x{a=",        "x{",
        "x 1e",      "x 1 12",      "x 1 ",
        "x 1\r",     "# TYPE x",    "# TYPE x gau",
        "# HELP x",  "# HELP x \\", "#",
        "x",         "x ",          "x{a=\"b\"} -Inf",
        "x NaN",     "x 1.5e-3 -",  "x 123456789012345678901234567890",
        "x 0.",
    };
    for (size_t i = 0; i < IG_ARRAY_LEN(inputs); i++) {
        size_t n = strlen(inputs[i]);
        char *p = map + pg - n;
        memcpy(p, inputs[i], n);
        struct recs rs;
        struct ig_prom_parse_opts o = {.on_sample = record, .data = &rs};
        memset(&rs, 0, sizeof(rs));
        int rc = ig_prom_parse(p, n, &o, NULL);
        assert_true(rc == 0 || rc == IG_EPROTO);
        double d;
        (void)ig_prom_parse_value(ig_iov(p, n), &d);
        struct ig_prom_spec spec;
        (void)ig_prom_spec_compile(&spec, p, n);
    }
    munmap(map, (size_t)pg * 2);
}

/* ---- specs ----------------------------------------------------------------------------------- */

static void test_spec_compile(void **state)
{
    (void)state;
    struct ig_prom_spec spec;
    static const char *const ok[] = {
        "vllm:num_requests_waiting",     "  name  ",           "name{}",   "name{a=b}", "name{a=\"b\"}", "name{a='b'}",
        "name { a = b , c != \"d\" , }", "name{a=\"x\\\"y\"}", "name{a=}",
    };
    for (size_t i = 0; i < IG_ARRAY_LEN(ok); i++)
        if (ig_prom_spec_compile(&spec, ok[i], strlen(ok[i])) != 0)
            fail_msg("spec %s rejected", ok[i]);
    static const struct {
        const char *s;
        int rc;
    } bad[] = {
        {"", IG_EINVAL},
        {"   ", IG_EINVAL},
        {"{a=b}", IG_EINVAL},
        {"1name", IG_EINVAL},
        {"name{", IG_EINVAL},
        {"name{a}", IG_EINVAL},
        {"name{a=\"b}", IG_EINVAL},
        {"name{a=b} x", IG_EINVAL},
        {"name x", IG_EINVAL},
        {"name{a=\"b\" c=d}", IG_EINVAL},
        {"name{a=~\"b.*\"}", IG_EUNSUPPORTED},
        {"name{a!~b}", IG_EUNSUPPORTED},
        {"n{a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9}", IG_ETOOBIG},
    };
    for (size_t i = 0; i < IG_ARRAY_LEN(bad); i++)
        if (ig_prom_spec_compile(&spec, bad[i].s, strlen(bad[i].s)) != bad[i].rc)
            fail_msg("spec %s: want %d", bad[i].s, bad[i].rc);
    char longspec[400];
    int n = snprintf(longspec, sizeof(longspec), "n{a=\"%0300d\"}", 0);
    assert_int_equal(ig_prom_spec_compile(&spec, longspec, (size_t)n), IG_ETOOBIG);

    /* quotes optional, values unescaped, bare values trimmed; the struct copies freely */
    compile(&spec, "m{ a = x y , b=\"q\\\"\\n\", c='s\\'t'}");
    struct ig_prom_spec copy = spec;
    memset(&spec, 0xA5, sizeof(spec));
    assert_true(iov_is(ig_prom_spec_name(&copy), "m"));
    struct ig_prom_label labels[] = {
        {IG_STRLIT("a"), IG_STRLIT("x y")}, {IG_STRLIT("b"), IG_STRLIT("q\"\n")}, {IG_STRLIT("c"), IG_STRLIT("s't")}};
    struct ig_prom_sample s = {.name = IG_STRLIT("m"), .labels = labels, .nlabels = 3};
    assert_int_equal(ig_prom_spec_match(&copy, &s), 1);
    labels[2].value = IG_STRLIT("s\\'t");
    assert_int_equal(ig_prom_spec_match(&copy, &s), 0);
}

static void test_spec_match(void **state)
{
    (void)state;
    struct ig_prom_spec spec;
    struct ig_prom_label labels[] = {
        {IG_STRLIT("request_type"), IG_STRLIT("waiting")},
        {IG_STRLIT("model"), IG_STRLIT("tensorrt_llm")},
        {IG_STRLIT("request_type"), IG_STRLIT("scheduled")}, /* duplicate: the first counts */
    };
    struct ig_prom_sample s = {.name = IG_STRLIT("nv_trt_llm_request_metrics"), .labels = labels, .nlabels = 3};
    static const struct {
        const char *spec;
        int match;
    } cases[] = {
        {"nv_trt_llm_request_metrics", 1},
        {"nv_trt_llm_request_metric", 0},
        {"nv_trt_llm_request_metrics{request_type=\"waiting\"}", 1},
        {"nv_trt_llm_request_metrics{request_type=waiting}", 1},
        {"nv_trt_llm_request_metrics{request_type=\"scheduled\"}", 0},
        {"nv_trt_llm_request_metrics{request_type=waiting,model=tensorrt_llm}", 1},
        {"nv_trt_llm_request_metrics{request_type=waiting,model=ensemble}", 0},
        {"nv_trt_llm_request_metrics{request_type!=scheduled}", 1},
        {"nv_trt_llm_request_metrics{request_type!=waiting}", 0},
        {"nv_trt_llm_request_metrics{absent=\"\"}", 1}, /* PromQL: absent compares as "" */
        {"nv_trt_llm_request_metrics{absent!=\"\"}", 0},
        {"nv_trt_llm_request_metrics{absent=x}", 0},
        {"nv_trt_llm_request_metrics{absent!=x}", 1},
    };
    for (size_t i = 0; i < IG_ARRAY_LEN(cases); i++) {
        assert_int_equal(ig_prom_spec_compile(&spec, cases[i].spec, strlen(cases[i].spec)), 0);
        if (ig_prom_spec_match(&spec, &s) != cases[i].match)
            fail_msg("spec %s: want %d", cases[i].spec, cases[i].match);
    }
}

/* ---- selection ------------------------------------------------------------------------------- */

static void test_select_rules(void **state)
{
    (void)state;
    struct ig_prom_spec sa, sb, sh, sany, sl;
    struct ig_prom_query q[5];
    static const char page[] = "# TYPE w gauge\n"
                               "w{m=\"a\"} 1\n"
                               "w{m=\"b\"} 2\n"
                               "w{m=\"a\"} 3\n" /* no timestamps: the first matching series wins */
                               "# TYPE t counter\n"
                               "t{m=\"a\"} 10 100\n"
                               "t{m=\"b\"} 20 300\n"
                               "t{m=\"a\"} 30 200\n"
                               "t{m=\"a\"} 40 200\n" /* tie: the first of the highest stays */
                               "t{m=\"a\"} 50\n"     /* absent timestamp counts as 0 */
                               "# TYPE h histogram\n"
                               "h_bucket{le=\"+Inf\"} 5\n"
                               "h_count 5\n"
                               "# TYPE s summary\n"
                               "s 7\n"
                               "u 9\n"
                               "# TYPE li gauge\n"
                               "li{r=\"x\"} 100\n"
                               "li{r=\"nan\"} NaN\n"
                               "li{r=\"y\"} 300\n"
                               "li{r=\"z\"} 200\n"
                               "li{r=\"tie\"} 300\n";
    compile(&sa, "w{m=a}");
    compile(&sb, "t{m=\"a\"}");
    compile(&sh, "h_count");
    compile(&sany, "t");
    compile(&sl, "li");
    ig_prom_query_init(&q[0], &sa, IG_PROM_PICK_LATEST);
    ig_prom_query_init(&q[1], &sb, IG_PROM_PICK_LATEST);
    ig_prom_query_init(&q[2], &sh, IG_PROM_PICK_LATEST);
    ig_prom_query_init(&q[3], &sany, IG_PROM_PICK_LATEST);
    ig_prom_query_init(&q[4], &sl, IG_PROM_PICK_MAX_VALUE);
    assert_int_equal(ig_prom_query_add_label(&q[4], "r"), 0);
    assert_int_equal(ig_prom_extract(page, strlen(page), q, 5, NULL), 0);
    assert_true(q[0].found);
    assert_true(q[0].value == 1.0);
    assert_int_equal(q[0].line, 2);
    assert_true(q[1].found);
    assert_true(q[1].value == 30.0);
    assert_int_equal(q[1].timestamp_ms, 200);
    assert_false(q[2].found); /* histogram samples are never read */
    assert_true(q[3].found);
    assert_true(q[3].value == 20.0);
    assert_int_equal(q[3].timestamp_ms, 300);
    assert_true(q[4].found);
    assert_true(q[4].value == 300.0);
    assert_true(iov_is(q[4].label_values[0], "y"));

    /* summaries are not read, untyped samples are */
    struct ig_prom_spec ss, su;
    compile(&ss, "s");
    compile(&su, "u");
    ig_prom_query_init(&q[0], &ss, IG_PROM_PICK_LATEST);
    ig_prom_query_init(&q[1], &su, IG_PROM_PICK_LATEST);
    assert_int_equal(ig_prom_extract(page, strlen(page), q, 2, NULL), 0);
    assert_false(q[0].found);
    assert_true(q[1].found);
    assert_true(q[1].value == 9.0);

    /* NaN never beats a number, but a first NaN is replaced by the next number */
    static const char nanpage[] = "li{r=\"nan\"} NaN\nli{r=\"neg\"} -5\nli{r=\"nan2\"} NaN\n";
    ig_prom_query_init(&q[0], &sl, IG_PROM_PICK_MAX_VALUE);
    ig_prom_query_add_label(&q[0], "r");
    assert_int_equal(ig_prom_extract(nanpage, strlen(nanpage), q, 1, NULL), 0);
    assert_true(q[0].value == -5.0);
    assert_true(iov_is(q[0].label_values[0], "neg"));
    assert_int_equal(ig_prom_extract(nanpage, 16, q, 1, NULL), 0);
    assert_true(q[0].found && isnan(q[0].value));

    /* extract resets the outputs: a page without the series leaves found at 0 */
    assert_int_equal(ig_prom_extract("other 1\n", 8, q, 1, NULL), 0);
    assert_false(q[0].found);
    assert_null(q[0].label_values[0].base);
}

static void test_query_labels(void **state)
{
    (void)state;
    struct ig_prom_spec spec;
    struct ig_prom_query q;
    compile(&spec, "info");
    ig_prom_query_init(&q, &spec, IG_PROM_PICK_MAX_VALUE);
    assert_int_equal(ig_prom_query_add_label(&q, "plain"), 0);
    assert_int_equal(ig_prom_query_add_label(&q, "esc"), 0);
    assert_int_equal(ig_prom_query_add_label(&q, "missing"), 0);
    assert_int_equal(ig_prom_query_add_label(&q, "empty"), 0);
    assert_int_equal(ig_prom_query_add_label(&q, "fifth"), IG_ETOOBIG);
    static const char page[] = "info{plain=\"p1\",esc=\"a\\\"b\",empty=\"\"} 1\n"
                               "info{plain=\"p2\",esc=\"c\\\\d\"} 2\n";
    assert_int_equal(ig_prom_extract(page, strlen(page), &q, 1, NULL), 0);
    assert_true(q.found);
    assert_int_equal(q.line, 2);
    assert_true(iov_is(q.label_values[0], "p2"));
    assert_true(q.label_values[0].base >= page && q.label_values[0].base < page + sizeof(page)); /* zero-copy */
    assert_true(iov_is(q.label_values[1], "c\\d"));
    assert_true(q.label_values[1].base >= q._store && q.label_values[1].base < q._store + sizeof(q._store));
    assert_null(q.label_values[2].base);
    assert_null(q.label_values[3].base); /* the winner has no "empty" label */

    /* escaped values that do not fit the store: an error, the previous winner stays */
    size_t cap = IG_PROM_QUERY_STORE * 2 + 64;
    char *big = malloc(cap);
    assert_non_null(big);
    size_t n = (size_t)snprintf(big, cap, "info{esc=\"x\"} 1\ninfo{esc=\"");
    for (int i = 0; i < IG_PROM_QUERY_STORE + 1; i++)
        n += (size_t)snprintf(big + n, cap - n, "\\n");
    n += (size_t)snprintf(big + n, cap - n, "\"} 2\n");
    struct ig_prom_error err;
    assert_int_equal(ig_prom_extract(big, n, &q, 1, &err), IG_ETOOBIG);
    assert_int_equal(err.line, 2);
    assert_true(q.value == 1.0);
    assert_true(iov_is(q.label_values[1], "x"));
    free(big);
}

static void test_extract_errors(void **state)
{
    (void)state;
    struct ig_prom_spec spec;
    struct ig_prom_query q;
    struct ig_prom_error err;
    compile(&spec, "vllm:num_requests_waiting");
    ig_prom_query_init(&q, &spec, IG_PROM_PICK_LATEST);
    /* a broken line the queries do not read is tolerated */
    static const char p1[] = "other{a=\"b} 1\nvllm:num_requests_waiting 4\n";
    assert_int_equal(ig_prom_extract(p1, strlen(p1), &q, 1, &err), 0);
    assert_true(q.found && q.value == 4.0);
    /* a broken line they do read is an error with its position */
    static const char p2[] = "vllm:num_requests_waiting 4\nvllm:num_requests_waiting{a=\"b\"} four\n";
    assert_int_equal(ig_prom_extract(p2, strlen(p2), &q, 1, &err), IG_EPROTO);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.col, 34);
    /* so is a broken TYPE line anywhere */
    static const char p3[] = "# TYPE z thing\nvllm:num_requests_waiting 4\n";
    assert_int_equal(ig_prom_extract(p3, strlen(p3), &q, 1, &err), IG_EPROTO);
    assert_int_equal(err.line, 1);
}

static void test_split_list(void **state)
{
    (void)state;
    ig_iov_t items[3];
    assert_int_equal(ig_prom_split_list(ig_iov_cstr("a,b , c,,"), items, 3), 3);
    assert_true(iov_is(items[0], "a"));
    assert_true(iov_is(items[1], "b"));
    assert_true(iov_is(items[2], "c"));
    assert_int_equal(ig_prom_split_list(ig_iov_cstr(""), items, 3), 0);
    assert_int_equal(ig_prom_split_list(IG_IOV_NULL, items, 3), 0);
    assert_int_equal(ig_prom_split_list(ig_iov_cstr(" , \t,"), items, 3), 0);
    assert_int_equal(ig_prom_split_list(ig_iov_cstr("\tsql-lora\t"), items, 3), 1);
    assert_true(iov_is(items[0], "sql-lora"));
    assert_int_equal(ig_prom_split_list(ig_iov_cstr("a,b,c,d,e"), items, 2), 5); /* count beyond max */
    assert_true(iov_is(items[1], "b"));
}

/* ---- whole pages ----------------------------------------------------------------------------- */

/* Counts sample lines independently of the parser: non-blank lines not starting with '#'. */
static size_t count_sample_lines(const char *s, size_t len)
{
    size_t n = 0;
    const char *e = s + len;
    while (s < e) {
        const char *nl = memchr(s, '\n', (size_t)(e - s));
        const char *le = nl != NULL ? nl : e;
        while (s < le && (*s == ' ' || *s == '\t' || *s == '\r'))
            s++;
        if (s < le && *s != '#')
            n++;
        s = nl != NULL ? nl + 1 : e;
    }
    return n;
}

struct page_stats {
    size_t samples, by_type[IG_PROM_TYPE_COUNT], inf_buckets, labels;
};

static int page_count(void *data, const struct ig_prom_sample *s)
{
    struct page_stats *st = data;
    st->samples++;
    st->by_type[s->type]++;
    st->labels += s->nlabels;
    for (size_t i = 0; i < s->nlabels; i++)
        if (iov_is(s->labels[i].name, "le") && iov_is(s->labels[i].value, "+Inf"))
            st->inf_buckets++;
    return 0;
}

static void test_vllm_page(void **state)
{
    (void)state;
    size_t len;
    char *page = read_corpus("vllm_v1.prom", &len);
    struct page_stats st = {0};
    struct ig_prom_parse_opts o = {.on_sample = page_count, .data = &st};
    struct ig_prom_error err;
    assert_int_equal(ig_prom_parse(page, len, &o, &err), 0);
    assert_true(count_sample_lines(page, len) >= 180); /* 266 lines with HELP and TYPE */
    assert_int_equal(st.samples, count_sample_lines(page, len));
    assert_int_equal(st.inf_buckets, 7); /* seven histograms */
    assert_int_equal(st.by_type[IG_PROM_UNTYPED], 0);
    assert_true(st.by_type[IG_PROM_HISTOGRAM] > 100);

    struct ig_prom_spec sw, sr, skv, slora, scache;
    compile(&sw, "vllm:num_requests_waiting");
    compile(&sr, "vllm:num_requests_running");
    compile(&skv, "vllm:kv_cache_usage_perc");
    compile(&slora, "vllm:lora_requests_info");
    compile(&scache, "vllm:cache_config_info");
    struct ig_prom_query q[5];
    ig_prom_query_init(&q[0], &sw, IG_PROM_PICK_LATEST);
    ig_prom_query_init(&q[1], &sr, IG_PROM_PICK_LATEST);
    ig_prom_query_init(&q[2], &skv, IG_PROM_PICK_LATEST);
    ig_prom_query_init(&q[3], &slora, IG_PROM_PICK_MAX_VALUE);
    ig_prom_query_add_label(&q[3], "running_lora_adapters");
    ig_prom_query_add_label(&q[3], "waiting_lora_adapters");
    ig_prom_query_add_label(&q[3], "max_lora");
    ig_prom_query_init(&q[4], &scache, IG_PROM_PICK_LATEST);
    ig_prom_query_add_label(&q[4], "block_size");
    ig_prom_query_add_label(&q[4], "num_gpu_blocks");
    assert_int_equal(ig_prom_extract(page, len, q, 5, &err), 0);
    assert_true(q[0].found && q[0].value == 1.0);
    assert_true(q[1].found && q[1].value == 3.0);
    assert_true(q[2].found && q[2].value == 0.4215);
    assert_true(q[3].found && q[3].value == 1732523498.7);
    ig_iov_t items[4];
    assert_int_equal(ig_prom_split_list(q[3].label_values[0], items, 4), 2);
    assert_true(iov_is(items[0], "sql-lora"));
    assert_true(iov_is(items[1], "tweet-summary"));
    assert_int_equal(ig_prom_split_list(q[3].label_values[1], items, 4), 1);
    assert_true(iov_is(items[0], "chat-lora"));
    uint64_t v;
    assert_int_equal(ig_iov_to_u64(q[3].label_values[2], &v), 0);
    assert_int_equal(v, 4);
    assert_true(q[4].found);
    assert_true(iov_is(q[4].label_values[0], "16"));
    assert_true(iov_is(q[4].label_values[1], "27258"));
    free(page);
}

/* The other engines' pages, with the reference's spec table. */
static void test_engine_pages(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        const char *spec[3]; /* waiting, running, kv usage */
        double want[3];
        int64_t ts;
    } cases[] = {
        {"vllm_old_gpu_cache_crlf.prom",
         {"vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:gpu_cache_usage_perc"},
         {0, 0, 0},
         0},
        {"vllm_no_final_newline.prom",
         {"vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc"},
         {42, 17, 0.98125},
         0},
        {"sglang.prom", {"sglang:num_queue_reqs", "sglang:num_running_reqs", "sglang:token_usage"}, {5, 12, 0.28}, 0},
        {"triton_trtllm.prom",
         {"nv_trt_llm_request_metrics{request_type=\"waiting\"}", "nv_trt_llm_request_metrics{request_type=scheduled}",
          "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"fraction\"}"},
         {2, 6, 0.25390625},
         0},
        {"triton_trtllm_timestamps.prom",
         {"nv_trt_llm_request_metrics{request_type=\"waiting\"}", "nv_trt_llm_request_metrics{request_type=scheduled}",
          "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"fraction\"}"},
         {2, 6, 0.25390625},
         1732523499123},
        {"trtllm_serve.prom",
         {"trtllm_num_requests_waiting", "trtllm_num_requests_running", "trtllm_kv_cache_utilization"},
         {0, 9, 0.115},
         0},
    };
    for (size_t i = 0; i < IG_ARRAY_LEN(cases); i++) {
        size_t len;
        char *page = read_corpus(cases[i].file, &len);
        struct ig_prom_spec spec[3];
        struct ig_prom_query q[3];
        struct ig_prom_error err;
        for (int k = 0; k < 3; k++) {
            compile(&spec[k], cases[i].spec[k]);
            ig_prom_query_init(&q[k], &spec[k], IG_PROM_PICK_LATEST);
        }
        int rc = ig_prom_extract(page, len, q, 3, &err);
        if (rc != 0)
            fail_msg("%s: rc %d at %u:%u %s", cases[i].file, rc, err.line, err.col, err.msg);
        for (int k = 0; k < 3; k++) {
            if (!q[k].found || q[k].value != cases[i].want[k] || q[k].timestamp_ms != cases[i].ts)
                fail_msg("%s: %s found %d value %.17g ts %lld", cases[i].file, cases[i].spec[k], q[k].found, q[k].value,
                         (long long)q[k].timestamp_ms);
        }
        /* the whole page is valid for the strict parser too */
        struct page_stats st = {0};
        struct ig_prom_parse_opts o = {.on_sample = page_count, .data = &st};
        assert_int_equal(ig_prom_parse(page, len, &o, &err), 0);
        assert_int_equal(st.samples, count_sample_lines(page, len));
        free(page);
    }

    /* SGLang's cache_config_info uses page_size / num_pages (configurable label names) */
    size_t len;
    char *page = read_corpus("sglang.prom", &len);
    struct ig_prom_spec spec;
    struct ig_prom_query q;
    compile(&spec, "sglang:cache_config_info");
    ig_prom_query_init(&q, &spec, IG_PROM_PICK_LATEST);
    ig_prom_query_add_label(&q, "page_size");
    ig_prom_query_add_label(&q, "num_pages");
    assert_int_equal(ig_prom_extract(page, len, &q, 1, NULL), 0);
    assert_true(iov_is(q.label_values[0], "1"));
    assert_true(iov_is(q.label_values[1], "441031"));
    free(page);

    /* LoRA info with timestamps and a NaN series: the largest value wins, not the latest */
    page = read_corpus("lora_timestamps.prom", &len);
    struct ig_prom_spec sl, sw, swa;
    struct ig_prom_query ql[3];
    compile(&sl, "vllm:lora_requests_info");
    compile(&sw, "vllm:num_requests_waiting");
    compile(&swa, "vllm:num_requests_waiting{model_name=\"a\"}");
    ig_prom_query_init(&ql[0], &sl, IG_PROM_PICK_MAX_VALUE);
    ig_prom_query_add_label(&ql[0], "running_lora_adapters");
    ig_prom_query_init(&ql[1], &sw, IG_PROM_PICK_LATEST);
    ig_prom_query_init(&ql[2], &swa, IG_PROM_PICK_LATEST);
    assert_int_equal(ig_prom_extract(page, len, ql, 3, NULL), 0);
    assert_true(iov_is(ql[0].label_values[0], "z"));
    assert_true(ql[1].value == 2.0 && ql[1].timestamp_ms == 300);
    assert_true(ql[2].value == 3.0 && ql[2].timestamp_ms == 200);
    free(page);
}

/* Pages written by the registry's writer read back exactly (escapes, histograms, values). */
static void test_writer_roundtrip(void **state)
{
    (void)state;
    ig_metrics_t *m = ig_metrics_create();
    struct ig_metric_label l1[] = {{"model_name", "a\"b\\c\nd"}, {"engine", "0"}};
    static const double bounds[] = {0.001, 0.5, 10};
    ig_gauge_set(ig_metrics_gauge(m, "vllm:kv_cache_usage_perc", "KV \\ usage\nratio", l1, 2), 1.0 / 3.0);
    ig_counter_add(ig_metrics_counter(m, "reqs_total", "Requests.", NULL, 0), 12345678901.0);
    struct ig_histogram *h = ig_metrics_histogram(m, "lat_seconds", "Latency.", bounds, 3, l1, 1);
    ig_histogram_observe(h, 0.2);
    ig_histogram_observe(h, 99);
    ig_buf_t out;
    ig_buf_init(&out, 0);
    assert_int_equal(ig_metrics_write(m, &out), 0);

    struct recs rs;
    struct ig_prom_parse_opts o = {.on_sample = record, .data = &rs};
    memset(&rs, 0, sizeof(rs));
    assert_int_equal(ig_prom_parse(ig_buf_data(&out), out.len, &o, NULL), 0);
    assert_int_equal(rs.n, 1 + 1 + 4 + 2);
    assert_string_equal(rs.r[0].name, "vllm:kv_cache_usage_perc");
    assert_int_equal(rs.r[0].type, IG_PROM_GAUGE);
    assert_string_equal(rs.r[0].lvalue[0], "a\"b\\c\nd");
    assert_true(rs.r[0].value == 1.0 / 3.0);
    char help[64];
    int n = ig_prom_unescape_help(ig_iov_cstr(rs.r[0].help), help, sizeof(help));
    assert_int_equal(n, 16);
    assert_memory_equal(help, "KV \\ usage\nratio", 16);
    assert_int_equal(rs.r[1].type, IG_PROM_COUNTER);
    assert_true(rs.r[1].value == 12345678901.0);
    for (int i = 2; i < 8; i++) {
        assert_int_equal(rs.r[i].type, IG_PROM_HISTOGRAM);
        assert_string_equal(rs.r[i].family, "lat_seconds");
    }
    assert_string_equal(rs.r[5].lvalue[1], "+Inf");
    assert_true(rs.r[5].value == 2.0);
    assert_true(rs.r[6].value == 99.2);
    ig_buf_dispose(&out);
    ig_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_samples),    cmocka_unit_test(test_families),
        cmocka_unit_test(test_family_prefix),    cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_escapes),          cmocka_unit_test(test_values),
        cmocka_unit_test(test_values_roundtrip), cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_errors),           cmocka_unit_test(test_limits),
        cmocka_unit_test(test_early_stop),       cmocka_unit_test(test_filter),
        cmocka_unit_test(test_guard_page),       cmocka_unit_test(test_spec_compile),
        cmocka_unit_test(test_spec_match),       cmocka_unit_test(test_select_rules),
        cmocka_unit_test(test_query_labels),     cmocka_unit_test(test_extract_errors),
        cmocka_unit_test(test_split_list),       cmocka_unit_test(test_vllm_page),
        cmocka_unit_test(test_engine_pages),     cmocka_unit_test(test_writer_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
