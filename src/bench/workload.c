/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Workload generation for `infergate bench`: a seeded random generator, prompt and completion
 * length distributions, and the prompt corpora.
 *
 * Text is made of 4-byte words (" abc", three random lower-case letters after a space), so a
 * text of n tokens is exactly 4n characters and counts as n tokens under the simulator's and
 * the gateway's 4-characters-per-token rule, and it never needs JSON escaping.
 *
 * shared_prefix follows inference-perf: num_groups shared system prompts, num_prompts_per_group
 * unique questions each; the groups x prompts corpus is generated up front, shuffled once with
 * the seed and then cycled, so arrival order is a fixed permutation repeated (not i.i.d. draws).
 * With multi-turn on, each corpus entry is a chat session: every time it comes round again its
 * next turn carries the session's earlier questions and answers before a new question.
 * synthetic draws each prompt's length from a distribution and generates fresh words (no reuse).
 * A LoRA mix picks each request's model by traffic share, from the same seeded generator.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_int.h"

/* ---- rng ------------------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void ig_bench__rng_seed(struct ig_bench_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t ig_bench__rng_next(struct ig_bench_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double ig_bench__rng_unit(struct ig_bench_rng *r)
{
    return (double)(ig_bench__rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

double ig_bench__rng_exp(struct ig_bench_rng *r, double rate)
{
    /* 1 - u is in (0, 1]: the log is finite. */
    return -log(1.0 - ig_bench__rng_unit(r)) / rate;
}

double ig_bench__rng_normal(struct ig_bench_rng *r)
{
    double u1 = 1.0 - ig_bench__rng_unit(r);
    double u2 = ig_bench__rng_unit(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t ig_bench__seed_mix(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t x = a;
    uint64_t h = splitmix64(&x);
    x = h ^ b;
    h = splitmix64(&x);
    x = h ^ c;
    return splitmix64(&x);
}

/* ---- distributions --------------------------------------------------------------------------- */

/*
 * ShareGPT (ShareGPT_V3_unfiltered_cleaned_split, Llama-2 tokenizer, lengths capped at 1024) as a
 * piecewise log-linear quantile function through the published min, median, p90, p99 and max; the
 * quartile knots are chosen so the mean matches too (prompt 251.5, completion 225.3).
 */
struct knot {
    double u, x;
};
static const struct knot sharegpt_in[] = {{0, 4},     {0.25, 52},  {0.5, 109}, {0.75, 420},
                                          {0.9, 714}, {0.99, 987}, {1, 1024}};
static const struct knot sharegpt_out[] = {{0, 3},     {0.25, 60},  {0.5, 144}, {0.75, 320},
                                           {0.9, 564}, {0.99, 948}, {1, 1025}};

static double quantile(const struct knot *k, size_t n, double u)
{
    for (size_t i = 1; i < n; i++) {
        if (u <= k[i].u) {
            double t = (u - k[i - 1].u) / (k[i].u - k[i - 1].u);
            return k[i - 1].x * pow(k[i].x / k[i - 1].x, t);
        }
    }
    return k[n - 1].x;
}

uint32_t ig_bench__dist_sample(const struct ig_bench_dist *d, struct ig_bench_rng *r)
{
    double x;
    switch (d->kind) {
    case IG_BENCH_DIST_UNIFORM:
        x = (double)d->min + (double)(ig_bench__rng_next(r) % ((uint64_t)d->max - d->min + 1));
        break;
    case IG_BENCH_DIST_NORMAL:
        x = llround(d->mean + d->std * ig_bench__rng_normal(r));
        if (x < d->min)
            x = d->min;
        if (x > d->max)
            x = d->max;
        break;
    case IG_BENCH_DIST_SHAREGPT_IN:
        x = llround(quantile(sharegpt_in, IG_ARRAY_LEN(sharegpt_in), ig_bench__rng_unit(r)) *
                    (d->scale > 0 ? d->scale : 1.0));
        break;
    case IG_BENCH_DIST_SHAREGPT_OUT:
        x = llround(quantile(sharegpt_out, IG_ARRAY_LEN(sharegpt_out), ig_bench__rng_unit(r)) *
                    (d->scale > 0 ? d->scale : 1.0));
        break;
    default:
        x = d->mean;
        break;
    }
    return x < 1 ? 1 : (uint32_t)x;
}

static int parse_num(const char *s, const char **end, double *out)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (e == s || errno != 0 || !isfinite(v) || v < 0)
        return IG_EINVAL;
    *out = v;
    *end = e;
    return 0;
}

/* Parses up to |max| ':'-separated numbers after "name:"; returns how many, or -1. */
static int parse_nums(const char *s, double *v, int max)
{
    int n = 0;
    while (*s != 0) {
        if (n == max || parse_num(s, &s, &v[n]) != 0)
            return -1;
        n++;
        if (*s == ':')
            s++;
        else if (*s != 0)
            return -1;
    }
    return n;
}

int ig_bench__dist_parse(const char *text, int is_output, struct ig_bench_dist *out)
{
    double v[4];
    int n;
    memset(out, 0, sizeof(*out));
    if (strncmp(text, "sharegpt", 8) == 0 && (text[8] == 0 || text[8] == ':')) {
        double scale = 1.0;
        if (text[8] == ':' && (parse_nums(text + 9, v, 1) != 1 || !(v[0] > 0 && v[0] <= 100)))
            return IG_EINVAL;
        if (text[8] == ':')
            scale = v[0];
        out->kind = is_output ? IG_BENCH_DIST_SHAREGPT_OUT : IG_BENCH_DIST_SHAREGPT_IN;
        out->scale = scale;
        out->mean = (is_output ? 225.3 : 251.5) * scale;
        out->min = (uint32_t)fmax(1.0, round((is_output ? 3 : 4) * scale));
        out->max = (uint32_t)fmax(1.0, round((is_output ? 1025 : 1024) * scale));
        return 0;
    }
    if (strncmp(text, "fixed:", 6) == 0) {
        if (parse_nums(text + 6, v, 1) != 1 || v[0] < 1 || v[0] > 1e8)
            return IG_EINVAL;
        *out = ig_bench__dist_fixed((uint32_t)v[0]);
        return 0;
    }
    if (strncmp(text, "uniform:", 8) == 0) {
        if (parse_nums(text + 8, v, 2) != 2 || v[0] < 1 || v[1] < v[0] || v[1] > 1e8)
            return IG_EINVAL;
        out->kind = IG_BENCH_DIST_UNIFORM;
        out->min = (uint32_t)v[0];
        out->max = (uint32_t)v[1];
        out->mean = (v[0] + v[1]) / 2;
        return 0;
    }
    if (strncmp(text, "normal:", 7) == 0) {
        n = parse_nums(text + 7, v, 4);
        if ((n != 2 && n != 4) || v[0] < 1 || v[0] > 1e8)
            return IG_EINVAL;
        out->kind = IG_BENCH_DIST_NORMAL;
        out->mean = v[0];
        out->std = v[1];
        out->min = n == 4 ? (uint32_t)v[2] : 1;
        out->max = n == 4 ? (uint32_t)v[3] : (uint32_t)fmin(1e8, v[0] + 10 * v[1] + 1);
        if (out->min < 1 || out->max < out->min)
            return IG_EINVAL;
        return 0;
    }
    return IG_EINVAL;
}

void ig_bench__dist_format(const struct ig_bench_dist *d, char *buf, size_t size)
{
    switch (d->kind) {
    case IG_BENCH_DIST_UNIFORM:
        snprintf(buf, size, "uniform:%u:%u", (unsigned)d->min, (unsigned)d->max);
        break;
    case IG_BENCH_DIST_NORMAL:
        snprintf(buf, size, "normal:%g:%g:%u:%u", d->mean, d->std, (unsigned)d->min, (unsigned)d->max);
        break;
    case IG_BENCH_DIST_SHAREGPT_IN:
    case IG_BENCH_DIST_SHAREGPT_OUT:
        if (d->scale > 0 && d->scale != 1.0)
            snprintf(buf, size, "sharegpt:%g", d->scale);
        else
            snprintf(buf, size, "sharegpt");
        break;
    default:
        snprintf(buf, size, "fixed:%u", (unsigned)d->min);
        break;
    }
}

/* ---- text ------------------------------------------------------------------------------------ */

int ig_bench__words(ig_buf_t *b, struct ig_bench_rng *r, uint32_t n)
{
    char *p = ig_buf_reserve(b, (size_t)n * IG_BENCH_CHARS_PER_TOKEN);
    if (p == NULL)
        return IG_ETOOBIG;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t x = ig_bench__rng_next(r);
        p[0] = ' ';
        p[1] = (char)('a' + (x & 0xffff) % 26);
        p[2] = (char)('a' + ((x >> 16) & 0xffff) % 26);
        p[3] = (char)('a' + ((x >> 32) & 0xffff) % 26);
        p += IG_BENCH_CHARS_PER_TOKEN;
    }
    ig_buf_commit(b, (size_t)n * IG_BENCH_CHARS_PER_TOKEN);
    return 0;
}

/* ---- corpora --------------------------------------------------------------------------------- */

#define TEXT_MAX ((size_t)1 << 30) /* generated text is bounded by the lengths asked for; this is a backstop */

enum { TAG_PREFIX = 1, TAG_QUESTION, TAG_TURN, TAG_SYNTH, TAG_ORDER, TAG_PICK };

struct entry {
    uint32_t group;
    size_t q_off, q_len; /* question bytes in w->questions */
    uint32_t output_len;
};

struct session {
    ig_buf_t history;
    uint32_t turns;
};

struct ig_bench_workload {
    struct ig_bench_workload_config cfg;
    struct ig_bench_rng rng; /* order-independent draws: LoRA picks, synthetic lengths */
    ig_buf_t prefixes;       /* num_groups x system_len tokens, back to back */
    size_t prefix_bytes;
    ig_buf_t questions;
    struct entry *entries; /* shuffled */
    size_t nentries;
    size_t next;
    struct session *sessions; /* multi-turn, one per entry (indexed by the entry's original position) */
    uint32_t *entry_session;
    ig_buf_t scratch; /* per-request text of synthetic prompts and multi-turn questions */
    uint64_t seq;
};

static void build_shared_prefix(struct ig_bench_workload *w)
{
    const struct ig_bench_workload_config *c = &w->cfg;
    struct ig_bench_rng r;
    w->prefix_bytes = (size_t)c->system_len * IG_BENCH_CHARS_PER_TOKEN;
    for (uint32_t g = 0; g < c->num_groups; g++) {
        ig_bench__rng_seed(&r, ig_bench__seed_mix(c->seed, TAG_PREFIX, g));
        IG_ASSERT(ig_bench__words(&w->prefixes, &r, c->system_len) == 0);
    }
    w->nentries = (size_t)c->num_groups * c->prompts_per_group;
    w->entries = ig_calloc(w->nentries, sizeof(*w->entries));
    w->entry_session = ig_calloc(w->nentries, sizeof(*w->entry_session));
    for (uint32_t g = 0; g < c->num_groups; g++) {
        for (uint32_t p = 0; p < c->prompts_per_group; p++) {
            size_t i = (size_t)g * c->prompts_per_group + p;
            struct entry *e = &w->entries[i];
            ig_bench__rng_seed(&r, ig_bench__seed_mix(c->seed, TAG_QUESTION, i));
            uint32_t qlen = ig_bench__dist_sample(&c->question, &r);
            e->group = g;
            e->output_len = ig_bench__dist_sample(&c->output, &r);
            e->q_off = w->questions.len;
            e->q_len = (size_t)qlen * IG_BENCH_CHARS_PER_TOKEN;
            IG_ASSERT(ig_bench__words(&w->questions, &r, qlen) == 0);
            w->entry_session[i] = (uint32_t)i;
        }
    }
    /* Shuffle once (Fisher-Yates), then cycle: inference-perf's order. */
    ig_bench__rng_seed(&r, ig_bench__seed_mix(c->seed, TAG_ORDER, 0));
    for (size_t i = w->nentries; i > 1; i--) {
        size_t j = (size_t)(ig_bench__rng_next(&r) % i);
        struct entry t = w->entries[i - 1];
        w->entries[i - 1] = w->entries[j];
        w->entries[j] = t;
        uint32_t s = w->entry_session[i - 1];
        w->entry_session[i - 1] = w->entry_session[j];
        w->entry_session[j] = s;
    }
    if (c->multi_turn) {
        w->sessions = ig_calloc(w->nentries, sizeof(*w->sessions));
        for (size_t i = 0; i < w->nentries; i++)
            ig_buf_init(&w->sessions[i].history, c->max_history > 0 ? c->max_history : 1);
    }
}

struct ig_bench_workload *ig_bench__workload_create(const struct ig_bench_workload_config *cfg)
{
    double shares = 0;
    for (size_t i = 0; i < cfg->num_loras; i++) {
        if (cfg->lora_shares[i] < 0)
            return NULL;
        shares += cfg->lora_shares[i];
    }
    if (shares > 1.0 + 1e-9 || cfg->num_loras > IG_BENCH_MAX_LORAS)
        return NULL;
    if (cfg->kind == IG_BENCH_WL_SHARED_PREFIX &&
        (cfg->num_groups == 0 || cfg->prompts_per_group == 0 ||
         (uint64_t)cfg->num_groups * cfg->prompts_per_group > ((uint64_t)1 << 24)))
        return NULL;
    struct ig_bench_workload *w = ig_calloc(1, sizeof(*w));
    w->cfg = *cfg;
    ig_bench__rng_seed(&w->rng, ig_bench__seed_mix(cfg->seed, TAG_PICK, 0));
    ig_buf_init(&w->prefixes, TEXT_MAX);
    ig_buf_init(&w->questions, TEXT_MAX);
    ig_buf_init(&w->scratch, TEXT_MAX);
    if (cfg->kind == IG_BENCH_WL_SHARED_PREFIX)
        build_shared_prefix(w);
    return w;
}

void ig_bench__workload_destroy(struct ig_bench_workload *w)
{
    if (w == NULL)
        return;
    if (w->sessions != NULL) {
        for (size_t i = 0; i < w->nentries; i++)
            ig_buf_dispose(&w->sessions[i].history);
        ig_free(w->sessions);
    }
    ig_free(w->entries);
    ig_free(w->entry_session);
    ig_buf_dispose(&w->prefixes);
    ig_buf_dispose(&w->questions);
    ig_buf_dispose(&w->scratch);
    ig_free(w);
}

size_t ig_bench__workload_corpus_size(const struct ig_bench_workload *w)
{
    return w->nentries;
}

static const char *pick_model(struct ig_bench_workload *w)
{
    if (w->cfg.num_loras == 0)
        return w->cfg.model;
    double u = ig_bench__rng_unit(&w->rng), acc = 0;
    for (size_t i = 0; i < w->cfg.num_loras; i++) {
        acc += w->cfg.lora_shares[i];
        if (u < acc)
            return w->cfg.loras[i];
    }
    return w->cfg.model;
}

void ig_bench__workload_next(struct ig_bench_workload *w, struct ig_bench_item *out)
{
    const struct ig_bench_workload_config *c = &w->cfg;
    struct ig_bench_rng r;
    memset(out, 0, sizeof(*out));
    out->session = UINT32_MAX;
    out->model = pick_model(w);
    ig_buf_reset(&w->scratch);
    if (c->kind == IG_BENCH_WL_SYNTHETIC) {
        uint64_t i = w->seq++;
        ig_bench__rng_seed(&r, ig_bench__seed_mix(c->seed, TAG_SYNTH, i));
        uint32_t in = ig_bench__dist_sample(&c->input, &r);
        out->output_len = ig_bench__dist_sample(&c->output, &r);
        IG_ASSERT(ig_bench__words(&w->scratch, &r, in) == 0);
        out->question = ig_iov(ig_buf_data(&w->scratch), w->scratch.len);
        out->input_tokens = in;
        return;
    }
    size_t k = w->next;
    w->next = (w->next + 1) % w->nentries;
    const struct entry *e = &w->entries[k];
    out->system = ig_iov(ig_buf_data(&w->prefixes) + (size_t)e->group * w->prefix_bytes, w->prefix_bytes);
    out->question = ig_iov(ig_buf_data(&w->questions) + e->q_off, e->q_len);
    out->output_len = e->output_len;
    if (c->multi_turn) {
        uint32_t sid = w->entry_session[k];
        struct session *s = &w->sessions[sid];
        out->session = sid;
        out->history = ig_iov(ig_buf_data(&s->history), s->history.len);
        if (s->turns > 0) {
            /* A later turn: a new question of the same length distribution, new output length. */
            ig_bench__rng_seed(&r, ig_bench__seed_mix(c->seed, TAG_TURN, ((uint64_t)sid << 32) | s->turns));
            uint32_t qlen = ig_bench__dist_sample(&c->question, &r);
            out->output_len = ig_bench__dist_sample(&c->output, &r);
            IG_ASSERT(ig_bench__words(&w->scratch, &r, qlen) == 0);
            out->question = ig_iov(ig_buf_data(&w->scratch), w->scratch.len);
        }
        s->turns++;
    }
    out->input_tokens = (uint32_t)((out->system.len + out->history.len + out->question.len + 3) / 4);
}

void ig_bench__workload_answer(struct ig_bench_workload *w, uint32_t session, ig_iov_t question, ig_iov_t answer)
{
    if (w->sessions == NULL || session >= w->nentries)
        return;
    ig_buf_t *h = &w->sessions[session].history;
    size_t before = h->len;
    int rc;
    if (w->cfg.api == IG_BENCH_API_CHAT) {
        static const char u[] = ",{\"role\":\"user\",\"content\":\"";
        static const char a[] = "\"},{\"role\":\"assistant\",\"content\":\"";
        rc = ig_buf_append(h, u, sizeof(u) - 1);
        rc = rc != 0 ? rc : ig_buf_append(h, question.base, question.len);
        rc = rc != 0 ? rc : ig_buf_append(h, a, sizeof(a) - 1);
        rc = rc != 0 ? rc : ig_buf_append(h, answer.base, answer.len);
        rc = rc != 0 ? rc : ig_buf_append(h, "\"}", 2);
    } else {
        rc = ig_buf_append(h, question.base, question.len);
        rc = rc != 0 ? rc : ig_buf_append(h, answer.base, answer.len);
    }
    if (rc != 0) /* over max_history: keep the history as it was (whole turns only) */
        h->len = before;
}
