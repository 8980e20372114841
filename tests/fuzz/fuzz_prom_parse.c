/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the Prometheus text parser and the series selection. The input is a
 * scraped page; its first line doubles as a metric spec. Checks: every delivered slice lies in
 * the page (or, for unescaped label values, in the scratch buffer, sized exactly so ASan sees any
 * overrun); error positions lie on a real line; a pre-filter that accepts everything changes
 * nothing; one that rejects everything never fails a page the full parse accepts; stopping early
 * stops at the requested sample; and ig_prom_extract (which parses only selected lines) picks the
 * same series as ig_prom_query_offer fed by a full parse.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ig/metrics.h"

#define CHECK(x)                                                                                                       \
    do {                                                                                                               \
        if (!(x))                                                                                                      \
            __builtin_trap();                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
    const char *page;
    size_t len;
    const char *scratch;
    size_t scratch_size;
    size_t count;
    size_t stop_at; /* 0: never */
    uint32_t last_line;
    uint64_t digest; /* of names, label counts and values, to compare runs */
    struct ig_prom_query *q;
    int offer_toobig;
};

static int in_page(const struct ctx *c, ig_iov_t v)
{
    return v.len == 0 || (v.base >= c->page && v.len <= c->len && v.base - c->page <= (ptrdiff_t)(c->len - v.len));
}

static int in_scratch(const struct ctx *c, ig_iov_t v)
{
    return v.base >= c->scratch && v.len <= c->scratch_size &&
           v.base - c->scratch <= (ptrdiff_t)(c->scratch_size - v.len);
}

static void check_sample(struct ctx *c, const struct ig_prom_sample *s)
{
    CHECK(s->name.len > 0 && in_page(c, s->name));
    CHECK(in_page(c, s->family) && in_page(c, s->help) && in_page(c, s->text));
    CHECK(s->name.base >= s->text.base && s->name.base + s->name.len <= s->text.base + s->text.len);
    CHECK(s->text.len <= IG_PROM_MAX_LINE);
    CHECK((unsigned)s->type < IG_PROM_TYPE_COUNT);
    CHECK(s->type == IG_PROM_UNTYPED || s->family.len > 0);
    CHECK(s->family.len == 0 ||
          (s->family.len <= s->name.len && memcmp(s->family.base, s->name.base, s->family.len) == 0));
    CHECK(s->line >= c->last_line && s->line >= 1);
    c->last_line = s->line;
}

static int on_sample(void *data, const struct ig_prom_sample *s)
{
    struct ctx *c = data;
    check_sample(c, s);
    CHECK(s->nlabels <= IG_PROM_MAX_LABELS);
    for (size_t i = 0; i < s->nlabels; i++) {
        CHECK(s->labels[i].name.len > 0 && in_page(c, s->labels[i].name));
        CHECK(in_page(c, s->labels[i].value) || in_scratch(c, s->labels[i].value));
    }
    CHECK(s->has_timestamp || s->timestamp_ms == 0);
    uint64_t bits;
    double v = isnan(s->value) ? NAN : s->value; /* one NaN pattern for the digest */
    memcpy(&bits, &v, sizeof(bits));
    c->digest = (c->digest ^ (bits + s->nlabels + s->name.len + (uint64_t)s->timestamp_ms)) * 0x100000001b3ull;
    if (c->q != NULL && ig_prom_query_offer(c->q, s) < 0)
        c->offer_toobig = 1;
    c->count++;
    return c->stop_at != 0 && c->count == c->stop_at ? 5 : 0;
}

static int accept_all(void *data, const struct ig_prom_sample *s)
{
    check_sample(data, s);
    return 1;
}

static int reject_all(void *data, const struct ig_prom_sample *s)
{
    check_sample(data, s);
    return 0;
}

static int run(struct ctx *c, char *scratch, size_t scratch_size, ig_prom_filter_cb filter, struct ig_prom_error *err)
{
    struct ig_prom_parse_opts o = {
        .on_sample = on_sample, .filter = filter, .data = c, .scratch = scratch, .scratch_size = scratch_size};
    c->count = 0;
    c->last_line = 0;
    c->digest = 0;
    c->scratch = scratch;
    c->scratch_size = scratch_size;
    int rc = ig_prom_parse(c->page, c->len, &o, err);
    CHECK(rc == 0 || rc == 5 || rc == IG_EPROTO || rc == IG_ETOOBIG);
    if (rc == IG_EPROTO || rc == IG_ETOOBIG) {
        CHECK(err->line >= 1 && err->col >= 1 && err->msg != NULL);
        CHECK(err->col <= IG_PROM_MAX_LINE + 1 && err->col <= c->len + 1);
    }
    return rc;
}

static void check_query_slices(const struct ctx *c, const struct ig_prom_query *q)
{
    for (size_t i = 0; i < q->nlabel_names; i++) {
        ig_iov_t v = q->label_values[i];
        CHECK(v.base == NULL || in_page(c, v) ||
              (v.base >= q->_store && v.len <= sizeof(q->_store) && v.base + v.len <= q->_store + sizeof(q->_store)));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so that ASan catches a read one byte past the page */
    char *page = malloc(size > 0 ? size : 1);
    memcpy(page, data, size);
    struct ctx c = {.page = page, .len = size};
    struct ig_prom_error err;
    size_t scratch_size = size > 0 ? (size_t)data[0] * 4 : 0;
    char *scratch = malloc(scratch_size > 0 ? scratch_size : 1);

    int rc = run(&c, scratch, scratch_size, NULL, &err);
    size_t n = c.count;
    uint64_t digest = c.digest;

    /* default scratch (4 KiB on the parser's stack) */
    struct ig_prom_parse_opts o = {0};
    int rc_default = ig_prom_parse(page, size, &o, &err);
    CHECK(rc_default == 0 || rc_default == IG_EPROTO || rc_default == IG_ETOOBIG);

    CHECK(run(&c, scratch, scratch_size, accept_all, &err) == rc && c.count == n && c.digest == digest);
    int rc_skip = run(&c, scratch, scratch_size, reject_all, &err);
    CHECK(c.count == 0);
    if (rc == 0)
        CHECK(rc_skip == 0);

    if (n > 1) {
        c.stop_at = n / 2;
        CHECK(run(&c, scratch, scratch_size, NULL, &err) == 5 && c.count == n / 2);
        c.stop_at = 0;
    }

    /* the first line as a spec; extract vs. full parse + offer */
    const char *nl = memchr(page, '\n', size < 300 ? size : 300);
    size_t spec_len = nl != NULL ? (size_t)(nl - page) : (size < 300 ? size : 300);
    struct ig_prom_spec spec;
    int src = ig_prom_spec_compile(&spec, page, spec_len);
    CHECK(src == 0 || src == IG_EINVAL || src == IG_EUNSUPPORTED || src == IG_ETOOBIG);
    if (src == 0) {
        struct ig_prom_query *q = malloc(sizeof(*q) * 4);
        enum ig_prom_pick pick = size > 1 && (data[1] & 1) ? IG_PROM_PICK_MAX_VALUE : IG_PROM_PICK_LATEST;
        ig_prom_query_init(&q[0], &spec, pick);
        ig_prom_query_add_label(&q[0], "le");
        ig_prom_query_add_label(&q[0], "a");
        ig_prom_query_add_label(&q[0], "running_lora_adapters");
        ig_prom_query_init(&q[1], &spec, pick);
        ig_prom_query_add_label(&q[1], "le");
        ig_prom_query_add_label(&q[1], "a");
        ig_prom_query_add_label(&q[1], "running_lora_adapters");
        int rx = ig_prom_extract(page, size, &q[0], 1, &err);
        CHECK(rx == 0 || rx == IG_EPROTO || rx == IG_ETOOBIG);
        if (rx == 0) {
            check_query_slices(&c, &q[0]);
            ig_iov_t items[4];
            for (size_t i = 0; i < 3; i++) {
                size_t k = ig_prom_split_list(q[0].label_values[i], items, 4);
                for (size_t j = 0; j < k && j < 4; j++)
                    CHECK(items[j].len > 0 && in_page(&c, items[j]) == in_page(&c, q[0].label_values[i]));
            }
        }
        if (rc == 0) {
            /* 4 KiB like extract's default scratch: a page that passed with less passes with it */
            char *big_scratch = malloc(4096);
            c.q = &q[1];
            CHECK(run(&c, big_scratch, 4096, NULL, &err) == 0);
            c.q = NULL;
            free(big_scratch);
            /* a page the full parse accepts: extract agrees unless the query store overflowed */
            if (rx == 0) {
                CHECK(q[0].found == q[1].found && q[0].line == q[1].line && q[0].timestamp_ms == q[1].timestamp_ms);
                CHECK(memcmp(&q[0].value, &q[1].value, sizeof(double)) == 0 ||
                      (isnan(q[0].value) && isnan(q[1].value)));
                for (size_t i = 0; i < 3; i++)
                    CHECK(ig_iov_eq(q[0].label_values[i], q[1].label_values[i]) &&
                          (q[0].label_values[i].base == NULL) == (q[1].label_values[i].base == NULL));
            } else {
                CHECK(rx == IG_ETOOBIG && c.offer_toobig);
            }
        }
        free(q);
    }

    if (size <= 64) {
        double d;
        int rv = ig_prom_parse_value(ig_iov(page, size), &d);
        CHECK(rv == 0 || rv == IG_EINVAL);
        char help[64];
        int hl = ig_prom_unescape_help(ig_iov(page, size), help, sizeof(help));
        CHECK(hl >= 0 && (size_t)hl <= size);
    }
    free(scratch);
    free(page);
    return 0;
}
