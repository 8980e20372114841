/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-worker request statistics and the access log. Each worker counts finished requests in its
 * own table of label sets (gateway, listener, route, route_rule, backend, method, status, reason):
 * a label set is found through a small open-addressing index and created on first use inside a
 * preallocated array, so steady state allocates nothing and takes no lock. The stats port's
 * scrape (control thread) merges the workers' tables: entries are published with a release store
 * of the count and their values are single-writer atomics, so reading them from another thread is
 * race-free without stopping the workers.
 *
 * GenAI label sets add agentgateway's gen_ai_* labels: the operation from the request path and the
 * request and response models, found by a bounded streaming scanner as the bodies pass through the
 * proxy (nothing is buffered) and interned process-wide under a hard cap, past which names count
 * as "other".
 *
 * The endpoint picker series come from each worker's per-channel slots, published the same way
 * (inference.c copies the channels' figures into them on the worker's thread).
 *
 * The access log writes one line per request to stdout with a single write(2), in text or JSON
 * (config.logging.format) with agentgateway's field names.
 */
#include <stdio.h>
#include <unistd.h>

#include "gateway_int.h"

const double gw_duration_bounds[GW_STATS_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                     0.25,  0.5,    1,     2.5,  5,     10,   30};

void gw_stats_init(struct gw_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->v = ig_calloc(GW_STATS_MAX + 1, sizeof(*st->v));
    st->index_cap = 4096; /* power of two, > 2 * GW_STATS_MAX */
    st->index = ig_calloc(st->index_cap, sizeof(*st->index));
    struct gw_stat *o = &st->v[GW_STATS_MAX];
    snprintf(o->gateway, sizeof(o->gateway), "overflow");
    snprintf(o->reason, sizeof(o->reason), "too_many_label_sets");
}

void gw_stats_dispose(struct gw_stats *st)
{
    ig_free(st->v);
    ig_free(st->index);
    st->v = NULL;
    st->index = NULL;
}

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s != 0; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return (h ^ 0xff) * 0x100000001b3ULL;
}

static void copy_label(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* The GenAI labels of a label set (all 0 for the request counters' sets). */
struct genai_ids {
    uint8_t op, req_model, resp_model;
};

static int key_eq(const struct gw_stat *e, const struct gw_stat_key *k, struct genai_ids g)
{
    return e->status == k->status && e->op == g.op && e->req_model == g.req_model && e->resp_model == g.resp_model &&
           strncmp(e->route, k->route, GW_LABEL_MAX - 1) == 0 &&
           strncmp(e->backend, k->backend, GW_LABEL_MAX - 1) == 0 && strcmp(e->method, k->method) == 0 &&
           strncmp(e->reason, k->reason, sizeof(e->reason) - 1) == 0 &&
           strncmp(e->listener, k->listener, GW_LABEL_MAX - 1) == 0 &&
           strncmp(e->gateway, k->gateway, GW_LABEL_MAX - 1) == 0 &&
           strncmp(e->route_rule, k->route_rule, GW_LABEL_MAX - 1) == 0;
}

static void bump(_Atomic uint64_t *v, uint64_t by)
{
    /* One writer: a relaxed load and store is enough and cheaper than a locked add. */
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + by, memory_order_relaxed);
}

/* The entry of |k|'s label set, created on first use (the overflow entry once the table is full). */
static struct gw_stat *find_entry(struct gw_stats *st, const struct gw_stat_key *k, struct genai_ids g)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv(h, k->gateway);
    h = fnv(h, k->listener);
    h = fnv(h, k->route);
    h = fnv(h, k->route_rule);
    h = fnv(h, k->backend);
    h = fnv(h, k->method);
    h = fnv(h, k->reason);
    h ^= (uint64_t)k->status * 0x9e3779b97f4a7c15ULL;
    h ^= ((uint64_t)g.op << 16 | (uint64_t)g.req_model << 8 | g.resp_model) * 0xc2b2ae3d27d4eb4fULL;
    size_t mask = st->index_cap - 1;
    size_t n = atomic_load_explicit(&st->n, memory_order_relaxed);
    struct gw_stat *e = NULL;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t slot = st->index[i];
        if (slot == 0) {
            if (n >= GW_STATS_MAX) {
                e = &st->v[GW_STATS_MAX];
                break;
            }
            e = &st->v[n];
            copy_label(e->gateway, sizeof(e->gateway), k->gateway);
            copy_label(e->listener, sizeof(e->listener), k->listener);
            copy_label(e->route, sizeof(e->route), k->route);
            copy_label(e->route_rule, sizeof(e->route_rule), k->route_rule);
            copy_label(e->backend, sizeof(e->backend), k->backend);
            copy_label(e->method, sizeof(e->method), k->method);
            copy_label(e->reason, sizeof(e->reason), k->reason);
            e->status = k->status;
            e->op = g.op;
            e->req_model = g.req_model;
            e->resp_model = g.resp_model;
            e->hash = h;
            st->index[i] = (uint32_t)n + 1;
            /* Publishes the key to the scraping thread. */
            atomic_store_explicit(&st->n, n + 1, memory_order_release);
            break;
        }
        struct gw_stat *c = &st->v[slot - 1];
        if (c->hash == h && key_eq(c, k, g)) {
            e = c;
            break;
        }
    }
    return e;
}

void gw_stats_record(struct gw_stats *st, const struct gw_stat_key *k, uint64_t duration_ns)
{
    struct gw_stat *e = find_entry(st, k, (struct genai_ids){0, 0, 0});
    double secs = (double)duration_ns / 1e9;
    uint32_t b = 0;
    while (b < GW_STATS_BUCKETS && secs > gw_duration_bounds[b])
        b++;
    bump(&e->count, 1);
    bump(&e->buckets[b], 1);
    bump(&e->sum_us, duration_ns / 1000);
}

/* ---- GenAI and upstream connect histograms ------------------------------------------------------ */

/* OpenTelemetry GenAI semantic-convention bucket boundaries (as agentgateway exposes them). */
static const double token_bounds[] = {1,     4,     16,     64,      256,     1024,     4096,
                                      16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864};
static const double ttft_bounds[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                     0.25,  0.5,   0.75, 1.0,  2.5,  5.0,  7.5,  10.0};
static const double tpot_bounds[] = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5};
/* Connection set-up: loopback connects take tens of microseconds, TLS handshakes milliseconds. */
static const double connect_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

#define NB(a) (sizeof(a) / sizeof((a)[0]))

_Static_assert(NB(token_bounds) <= GW_HIST_MAX && NB(ttft_bounds) <= GW_HIST_MAX && NB(tpot_bounds) <= GW_HIST_MAX &&
                   NB(connect_bounds) <= GW_HIST_MAX,
               "GW_HIST_MAX too small");

/* |v| in the unit of |bounds| (seconds or tokens); |sum| in the series' stored unit. */
static void hist_observe(struct gw_hist *h, const double *bounds, size_t nb, double v, uint64_t sum)
{
    size_t b = 0;
    while (b < nb && v > bounds[b])
        b++;
    bump(&h->b[b], 1);
    bump(&h->count, 1);
    bump(&h->sum, sum);
}

int gw_genai_is_stream(const ig_http_headers_t *h)
{
    ssize_t i = ig_http_headers_find(h, IG_STRLIT("content-type"), 0);
    return i >= 0 && memmem(h->v[i].value.base, h->v[i].value.len, "event-stream", 12) != NULL;
}

void gw_genai_chunk(struct gw_genai *g)
{
    if (!g->stream)
        return;
    uint64_t now = ig_time_ns();
    if (g->first_ns == 0)
        g->first_ns = now;
    g->last_ns = now;
}

void gw_stats_genai(struct gw_stats *st, const struct gw_stat_key *k, const struct gw_genai *g, uint64_t start_ns,
                    int64_t in, int64_t out)
{
    int ttft = g->stream && g->first_ns != 0 && g->first_ns >= start_ns;
    if (in < 0 && out < 0 && !ttft)
        return;
    struct genai_ids ids = {
        g->op,
        g->req.found ? gw_model_id(g->req.val, g->req.val_len) : GW_MODEL_UNKNOWN,
        g->resp.found ? gw_model_id(g->resp.val, g->resp.val_len) : GW_MODEL_UNKNOWN,
    };
    struct gw_stat *e = find_entry(st, k, ids);
    if (in >= 0)
        hist_observe(&e->tokens[0], token_bounds, NB(token_bounds), (double)in, (uint64_t)in);
    if (out >= 0)
        hist_observe(&e->tokens[1], token_bounds, NB(token_bounds), (double)out, (uint64_t)out);
    if (!ttft)
        return;
    uint64_t first = g->first_ns - start_ns;
    hist_observe(&e->ttft, ttft_bounds, NB(ttft_bounds), (double)first / 1e9, first);
    /* Tokens after the first one, over the time they took to arrive. */
    if (out > 1 && g->last_ns > g->first_ns) {
        uint64_t per = (g->last_ns - g->first_ns) / (uint64_t)(out - 1);
        hist_observe(&e->tpot, tpot_bounds, NB(tpot_bounds), (double)per / 1e9, per);
    }
}

void gw_stats_on_connect(void *arg, int status, uint64_t duration_ns)
{
    struct gw_stats *st = arg;
    hist_observe(&st->connect[status == 0 ? 0 : 1], connect_bounds, NB(connect_bounds), (double)duration_ns / 1e9,
                 duration_ns);
}

/* ---- GenAI labels -------------------------------------------------------------------------------- */

static int has_suffix(ig_iov_t s, const char *suf)
{
    size_t n = strlen(suf);
    return s.len >= n && memcmp(s.base + s.len - n, suf, n) == 0;
}

uint8_t gw_genai_op(ig_iov_t method, ig_iov_t path)
{
    if (!ig_iov_eq(method, IG_STRLIT("POST")))
        return GW_OP_NONE;
    const char *q = path.len > 0 ? memchr(path.base, '?', path.len) : NULL;
    if (q != NULL)
        path.len = (size_t)(q - path.base);
    while (path.len > 1 && path.base[path.len - 1] == '/')
        path.len--;
    /* "/chat/completions" also ends in "/completions": test it first. The Responses API is a chat. */
    if (has_suffix(path, "/chat/completions") || has_suffix(path, "/responses"))
        return GW_OP_CHAT;
    if (has_suffix(path, "/completions"))
        return GW_OP_TEXT_COMPLETION;
    if (has_suffix(path, "/embeddings"))
        return GW_OP_EMBEDDINGS;
    return GW_OP_NONE;
}

const char *gw_genai_op_name(uint8_t op)
{
    static const char *const names[GW_OP_COUNT] = {"unknown", "chat", "text_completion", "embeddings"};
    return op < GW_OP_COUNT ? names[op] : "unknown";
}

/* Appended under |lock|, read without it: a name is complete before the count that covers it is published. */
static struct {
    pthread_mutex_t lock;
    _Atomic unsigned n;
    char names[GW_MODEL_MAX][GW_MODEL_LEN];
} models = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int model_find(const char *name, size_t len, unsigned from, unsigned to)
{
    for (unsigned i = from; i < to; i++) {
        if (memcmp(models.names[i], name, len) == 0 && models.names[i][len] == 0)
            return (int)i;
    }
    return -1;
}

uint8_t gw_model_id(const char *name, size_t len)
{
    if (len == 0)
        return GW_MODEL_UNKNOWN;
    if (len >= GW_MODEL_LEN)
        len = GW_MODEL_LEN - 1;
    unsigned n = atomic_load_explicit(&models.n, memory_order_acquire);
    int i = model_find(name, len, 0, n);
    if (i >= 0)
        return (uint8_t)(i + 2);
    if (n >= GW_MODEL_MAX)
        return GW_MODEL_OTHER;
    pthread_mutex_lock(&models.lock);
    unsigned now = atomic_load_explicit(&models.n, memory_order_relaxed);
    i = model_find(name, len, n, now); /* added by another worker meanwhile? */
    if (i < 0 && now < GW_MODEL_MAX) {
        memcpy(models.names[now], name, len);
        models.names[now][len] = 0;
        atomic_store_explicit(&models.n, now + 1, memory_order_release);
        i = (int)now;
    }
    pthread_mutex_unlock(&models.lock);
    return i >= 0 ? (uint8_t)(i + 2) : GW_MODEL_OTHER;
}

const char *gw_model_name(uint8_t id)
{
    if (id == GW_MODEL_UNKNOWN)
        return "unknown";
    if (id == GW_MODEL_OTHER || (unsigned)(id - 2) >= atomic_load_explicit(&models.n, memory_order_acquire))
        return "other";
    return models.names[id - 2];
}

/* A byte of the current string: the key being compared with "model", or the model name captured. */
static void scan_put(struct gw_model_scan *m, char c)
{
    if (m->is_key) {
        m->key_ok = m->key_ok && m->key_len < 5 && c == "model"[m->key_len];
        if (m->key_len < UINT8_MAX)
            m->key_len++;
    } else if (m->capture && m->val_len < GW_MODEL_LEN - 1) {
        m->val[m->val_len++] = c;
    }
}

void gw_model_scan(struct gw_model_scan *m, const char *data, size_t len, size_t limit)
{
    if (m->done)
        return;
    size_t room = limit > m->seen ? limit - m->seen : 0;
    if (len > room)
        len = room;
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (m->in_str) {
            if (m->esc) {
                m->esc = 0; /* the escaped character itself (\uXXXX stays as written) */
                scan_put(m, c);
                continue;
            }
            if (!m->is_key && !m->capture) {
                /* Skipping a string: prompts are most of a body, so this loop is the hot one. */
                while (i < len && data[i] != '"' && data[i] != '\\')
                    i++;
                if (i == len)
                    break;
                c = data[i];
            }
            if (c == '\\') {
                m->esc = 1;
            } else if (c != '"') {
                scan_put(m, c);
            } else {
                m->in_str = 0;
                if (m->is_key) {
                    m->is_key = 0;
                    m->model_key = m->key_ok && m->key_len == 5;
                } else if (m->capture) {
                    m->capture = 0;
                    m->found = m->done = 1;
                    return;
                }
            }
            continue;
        }
        switch (c) {
        case '{':
        case '[':
            if (m->depth == 0) {
                m->obj = c == '{';
                m->want_key = m->obj;
                m->model_key = 0;
            }
            if (m->depth < UINT16_MAX)
                m->depth++;
            break;
        case '}':
        case ']':
            if (m->depth > 0)
                m->depth--;
            break;
        case ',':
            if (m->depth == 1 && m->obj) {
                m->want_key = 1;
                m->model_key = 0;
            }
            break;
        case '"':
            m->in_str = 1;
            if (m->depth == 1 && m->obj) {
                if (m->want_key) {
                    m->want_key = 0;
                    m->is_key = 1;
                    m->key_ok = 1;
                    m->key_len = 0;
                } else if (m->model_key) {
                    m->capture = 1; /* the value of the top-level "model" */
                    m->val_len = 0;
                }
            }
            break;
        default:
            break;
        }
    }
    m->seen += (uint32_t)len;
    if (m->seen >= limit)
        m->done = 1;
}

/* ---- scrape ------------------------------------------------------------------------------------ */

static int stat_same_labels(const struct gw_stat *a, const struct gw_stat *b)
{
    return a->status == b->status && strcmp(a->gateway, b->gateway) == 0 && strcmp(a->listener, b->listener) == 0 &&
           strcmp(a->route, b->route) == 0 && strcmp(a->route_rule, b->route_rule) == 0 &&
           strcmp(a->backend, b->backend) == 0 && strcmp(a->method, b->method) == 0 &&
           strcmp(a->reason, b->reason) == 0;
}

struct merged {
    const struct gw_stat *key;
    uint64_t count, sum_us;
    uint64_t buckets[GW_STATS_BUCKETS + 1];
};

static size_t fill_labels(const struct gw_stat *e, struct ig_metric_label *l, char *status, size_t status_len,
                          int with_status)
{
    size_t n = 0;
    l[n++] = (struct ig_metric_label){"gateway", e->gateway};
    l[n++] = (struct ig_metric_label){"listener", e->listener};
    l[n++] = (struct ig_metric_label){"route", e->route};
    l[n++] = (struct ig_metric_label){"route_rule", e->route_rule};
    l[n++] = (struct ig_metric_label){"backend", e->backend};
    l[n++] = (struct ig_metric_label){"method", e->method};
    if (with_status) {
        snprintf(status, status_len, "%d", e->status);
        l[n++] = (struct ig_metric_label){"status", status};
        l[n++] = (struct ig_metric_label){"reason", e->reason};
    }
    return n;
}

/* A histogram summed over workers (and over label sets sharing a route identity). */
struct hsum {
    uint64_t b[GW_HIST_MAX + 1];
    uint64_t count, sum;
};

static void hsum_add(struct hsum *d, const struct gw_hist *h)
{
    d->count += atomic_load_explicit(&h->count, memory_order_relaxed);
    d->sum += atomic_load_explicit(&h->sum, memory_order_relaxed);
    for (size_t b = 0; b <= GW_HIST_MAX; b++)
        d->b[b] += atomic_load_explicit(&h->b[b], memory_order_relaxed);
}

/* The GenAI series of one route identity (gateway, listener, route, route_rule, backend). */
struct genai_sum {
    const struct gw_stat *key;
    struct hsum tokens[2], ttft, tpot;
};

static int same_route(const struct gw_stat *a, const struct gw_stat *b)
{
    return a->op == b->op && a->req_model == b->req_model && a->resp_model == b->resp_model &&
           strcmp(a->gateway, b->gateway) == 0 && strcmp(a->listener, b->listener) == 0 &&
           strcmp(a->route, b->route) == 0 && strcmp(a->route_rule, b->route_rule) == 0 &&
           strcmp(a->backend, b->backend) == 0;
}

/* GenAI series: agentgateway's gen_ai_* labels, then the route identity (no method or status). */
static size_t genai_labels(const struct gw_stat *e, struct ig_metric_label *l)
{
    size_t n = 0;
    l[n++] = (struct ig_metric_label){"gen_ai_operation_name", gw_genai_op_name(e->op)};
    /* The API spoken with the model server: OpenAI's (vLLM and the simulator implement it). */
    l[n++] = (struct ig_metric_label){"gen_ai_system", e->op != GW_OP_NONE ? "openai" : "unknown"};
    l[n++] = (struct ig_metric_label){"gen_ai_request_model", gw_model_name(e->req_model)};
    l[n++] = (struct ig_metric_label){"gen_ai_response_model", gw_model_name(e->resp_model)};
    l[n++] = (struct ig_metric_label){"gateway", e->gateway};
    l[n++] = (struct ig_metric_label){"listener", e->listener};
    l[n++] = (struct ig_metric_label){"route", e->route};
    l[n++] = (struct ig_metric_label){"route_rule", e->route_rule};
    l[n++] = (struct ig_metric_label){"backend", e->backend};
    return n;
}

static int write_hsum(ig_buf_t *out, const char *name, struct ig_metric_label *l, size_t nl, const double *bounds,
                      size_t nb, const struct hsum *h, double sum_scale)
{
    if (h->count == 0)
        return 0;
    return ig_prom_write_histogram(out, name, l, nl, bounds, nb, h->b, (double)h->sum * sum_scale, h->count);
}

static int render_genai(ig_buf_t *out)
{
    size_t cap = 64, n = 0;
    struct genai_sum *g = ig_calloc(cap, sizeof(*g));
    for (int wi = 0; wi < gw.nworkers; wi++) {
        struct gw_worker *w = __atomic_load_n(&gw.w[wi], __ATOMIC_ACQUIRE);
        if (w == NULL)
            continue;
        struct gw_stats *st = &w->stats;
        size_t cnt = atomic_load_explicit(&st->n, memory_order_acquire);
        for (size_t i = 0; i <= cnt && i <= GW_STATS_MAX; i++) {
            const struct gw_stat *e = i == cnt ? &st->v[GW_STATS_MAX] : &st->v[i];
            if (atomic_load_explicit(&e->tokens[0].count, memory_order_relaxed) == 0 &&
                atomic_load_explicit(&e->tokens[1].count, memory_order_relaxed) == 0 &&
                atomic_load_explicit(&e->ttft.count, memory_order_relaxed) == 0)
                continue;
            struct genai_sum *t = NULL;
            for (size_t j = 0; j < n && t == NULL; j++) {
                if (same_route(g[j].key, e))
                    t = &g[j];
            }
            if (t == NULL) {
                if (n == cap) {
                    cap *= 2;
                    g = ig_realloc(g, cap * sizeof(*g));
                }
                t = &g[n++];
                memset(t, 0, sizeof(*t));
                t->key = e;
            }
            hsum_add(&t->tokens[0], &e->tokens[0]);
            hsum_add(&t->tokens[1], &e->tokens[1]);
            hsum_add(&t->ttft, &e->ttft);
            hsum_add(&t->tpot, &e->tpot);
        }
    }
    struct ig_metric_label l[IG_METRICS_MAX_LABELS];
    int rc = ig_prom_write_family(out, "infergate_gen_ai_client_token_usage",
                                  "Input and output tokens per request (OpenAI usage)", IG_METRIC_HISTOGRAM);
    for (size_t j = 0; rc == 0 && j < n; j++) {
        size_t nl = genai_labels(g[j].key, l);
        l[nl] = (struct ig_metric_label){"gen_ai_token_type", "input"};
        rc = write_hsum(out, "infergate_gen_ai_client_token_usage", l, nl + 1, token_bounds, NB(token_bounds),
                        &g[j].tokens[0], 1);
        l[nl].value = "output";
        if (rc == 0)
            rc = write_hsum(out, "infergate_gen_ai_client_token_usage", l, nl + 1, token_bounds, NB(token_bounds),
                            &g[j].tokens[1], 1);
    }
    if (rc == 0)
        rc = ig_prom_write_family(out, "infergate_gen_ai_server_time_to_first_token_seconds",
                                  "Streamed responses: time from the request head to the first response chunk",
                                  IG_METRIC_HISTOGRAM);
    for (size_t j = 0; rc == 0 && j < n; j++) {
        size_t nl = genai_labels(g[j].key, l);
        rc = write_hsum(out, "infergate_gen_ai_server_time_to_first_token_seconds", l, nl, ttft_bounds, NB(ttft_bounds),
                        &g[j].ttft, 1e-9);
    }
    if (rc == 0)
        rc = ig_prom_write_family(out, "infergate_gen_ai_server_time_per_output_token_seconds",
                                  "Streamed responses: time from the first to the last chunk per output token after "
                                  "the first",
                                  IG_METRIC_HISTOGRAM);
    for (size_t j = 0; rc == 0 && j < n; j++) {
        size_t nl = genai_labels(g[j].key, l);
        rc = write_hsum(out, "infergate_gen_ai_server_time_per_output_token_seconds", l, nl, tpot_bounds,
                        NB(tpot_bounds), &g[j].tpot, 1e-9);
    }
    ig_free(g);
    return rc;
}

static int render_connect(ig_buf_t *out)
{
    struct hsum c[2];
    memset(c, 0, sizeof(c));
    for (int wi = 0; wi < gw.nworkers; wi++) {
        struct gw_worker *w = __atomic_load_n(&gw.w[wi], __ATOMIC_ACQUIRE);
        if (w == NULL)
            continue;
        hsum_add(&c[0], &w->stats.connect[0]);
        hsum_add(&c[1], &w->stats.connect[1]);
    }
    struct ig_metric_label l[1] = {{"result", "success"}};
    int rc = ig_prom_write_family(out, "infergate_upstream_connect_duration_seconds",
                                  "Upstream connection set-up (TCP, and TLS on https), by result", IG_METRIC_HISTOGRAM);
    for (int i = 0; rc == 0 && i < 2; i++) {
        l[0].value = i == 0 ? "success" : "failure";
        /* Both series always appear, so a dashboard sees failures start from zero. */
        rc = ig_prom_write_histogram(out, "infergate_upstream_connect_duration_seconds", l, 1, connect_bounds,
                                     NB(connect_bounds), c[i].b, (double)c[i].sum / 1e9, c[i].count);
    }
    return rc;
}

/* ---- endpoint picker channels ------------------------------------------------------------------- */

/* One picker address summed over workers (and over channels to it with different TLS settings). */
struct epp_sum {
    const char *picker;
    uint64_t states[GW_EPP_STATE_COUNT]; /* channels in each state */
    uint64_t chan[3];                    /* enum epp_chan: the channel's own counters */
    uint64_t outcomes[GW_EPP_OUTCOME_COUNT];
};

enum epp_chan { EPP_ATTEMPTS = 0, EPP_FAILURES, EPP_FAIL_FAST };

/* gRPC's connectivity-state names, lower-case as Prometheus label values usually are. */
static const char *const epp_state_names[GW_EPP_STATE_COUNT] = {
    [IG_GRPC_CONN_IDLE] = "idle",
    [IG_GRPC_CONN_READY] = "ready",
    [IG_GRPC_CONN_TRANSIENT_FAILURE] = "transient_failure",
    [GW_EPP_SHUTDOWN] = "shutdown",
};
static const char *const epp_outcome_names[GW_EPP_OUTCOME_COUNT] = {
    [GW_EPP_OK] = "ok",
    [GW_EPP_UNAVAILABLE] = "unavailable",
    [GW_EPP_DEADLINE] = "deadline",
    [GW_EPP_FAILED_OPEN] = "failed_open",
    [GW_EPP_FAILED_CLOSED] = "failed_closed",
};

_Static_assert(GW_EPP_STATE_COUNT == 4 && GW_EPP_OUTCOME_COUNT == 5, "name tables out of date");

static int write_epp_counter(ig_buf_t *out, const char *name, const char *help, const struct epp_sum *p, size_t n,
                             enum epp_chan c)
{
    int rc = ig_prom_write_family(out, name, help, IG_METRIC_COUNTER);
    for (size_t j = 0; rc == 0 && j < n; j++) {
        struct ig_metric_label l[1] = {{"picker", p[j].picker}};
        rc = ig_prom_write_sample(out, name, l, 1, (double)p[j].chan[c]);
    }
    return rc;
}

static int render_epp(ig_buf_t *out)
{
    size_t cap = (size_t)gw.nworkers * GW_EPP_STATS_MAX, n = 0;
    if (cap == 0)
        return 0;
    struct epp_sum *p = ig_calloc(cap, sizeof(*p));
    for (int wi = 0; wi < gw.nworkers; wi++) {
        struct gw_worker *w = __atomic_load_n(&gw.w[wi], __ATOMIC_ACQUIRE);
        if (w == NULL)
            continue;
        size_t cnt = atomic_load_explicit(&w->epp_n, memory_order_acquire);
        for (size_t i = 0; i < cnt && i < GW_EPP_STATS_MAX; i++) {
            const struct gw_epp_stat *e = &w->epp_stats[i];
            struct epp_sum *t = NULL;
            for (size_t j = 0; j < n && t == NULL; j++) {
                if (strcmp(p[j].picker, e->picker) == 0)
                    t = &p[j];
            }
            if (t == NULL) {
                t = &p[n++];
                t->picker = e->picker;
            }
            int st = atomic_load_explicit(&e->state, memory_order_relaxed);
            if (st >= 0 && st < GW_EPP_STATE_COUNT)
                t->states[st]++;
            t->chan[EPP_ATTEMPTS] += atomic_load_explicit(&e->attempts, memory_order_relaxed);
            t->chan[EPP_FAILURES] += atomic_load_explicit(&e->failures, memory_order_relaxed);
            t->chan[EPP_FAIL_FAST] += atomic_load_explicit(&e->fail_fast, memory_order_relaxed);
            for (size_t o = 0; o < GW_EPP_OUTCOME_COUNT; o++)
                t->outcomes[o] += atomic_load_explicit(&e->outcomes[o], memory_order_relaxed);
        }
    }
    int rc = 0;
    if (n == 0)
        goto out; /* no inferenceRouting picker: no empty families */
    rc = ig_prom_write_family(out, "infergate_endpoint_picker_connection_state",
                              "Endpoint picker channels (one per worker and picker) in each connectivity state",
                              IG_METRIC_GAUGE);
    for (size_t j = 0; rc == 0 && j < n; j++) {
        struct ig_metric_label l[2] = {{"picker", p[j].picker}, {"state", NULL}};
        /* Every state always appears, so an alert on transient_failure sees it leave 0. */
        for (size_t k = 0; rc == 0 && k < GW_EPP_STATE_COUNT; k++) {
            l[1].value = epp_state_names[k];
            rc = ig_prom_write_sample(out, "infergate_endpoint_picker_connection_state", l, 2, (double)p[j].states[k]);
        }
    }
    if (rc == 0)
        rc = write_epp_counter(out, "infergate_endpoint_picker_connect_attempts_total",
                               "Connection attempts to the endpoint picker that finished (connected or failed)", p, n,
                               EPP_ATTEMPTS);
    if (rc == 0)
        rc = write_epp_counter(out, "infergate_endpoint_picker_connect_failures_total",
                               "Connection attempts to the endpoint picker that failed (refused, timed out, TLS, ALPN)",
                               p, n, EPP_FAILURES);
    if (rc == 0)
        rc = write_epp_counter(out, "infergate_endpoint_picker_fail_fast_requests_total",
                               "Picker calls failed at once, without a dial, while the channel was in "
                               "TRANSIENT_FAILURE",
                               p, n, EPP_FAIL_FAST);
    if (rc == 0)
        rc = ig_prom_write_family(out, "infergate_endpoint_picker_requests_total",
                                  "ext_proc calls to the endpoint picker, by what they ended with for the request",
                                  IG_METRIC_COUNTER);
    for (size_t j = 0; rc == 0 && j < n; j++) {
        struct ig_metric_label l[2] = {{"picker", p[j].picker}, {"outcome", NULL}};
        for (size_t o = 0; rc == 0 && o < GW_EPP_OUTCOME_COUNT; o++) {
            l[1].value = epp_outcome_names[o];
            rc = ig_prom_write_sample(out, "infergate_endpoint_picker_requests_total", l, 2, (double)p[j].outcomes[o]);
        }
    }
out:
    ig_free(p);
    return rc;
}

int gw_metrics_render(ig_buf_t *out)
{
    int rc = 0;
    size_t cap = 256, n = 0;
    struct merged *m = ig_calloc(cap, sizeof(*m));
    uint64_t conns = 0, upconn = 0, active = 0, limited = 0;
    for (int wi = 0; wi < gw.nworkers; wi++) {
        struct gw_worker *w = __atomic_load_n(&gw.w[wi], __ATOMIC_ACQUIRE);
        if (w == NULL)
            continue;
        struct gw_stats *st = &w->stats;
        conns += atomic_load_explicit(&st->downstream_connections, memory_order_relaxed);
        upconn += atomic_load_explicit(&st->upstream_connects, memory_order_relaxed);
        active += atomic_load_explicit(&st->active_requests, memory_order_relaxed);
        limited += atomic_load_explicit(&st->ratelimited, memory_order_relaxed);
        size_t cnt = atomic_load_explicit(&st->n, memory_order_acquire);
        for (size_t i = 0; i <= cnt && i <= GW_STATS_MAX; i++) {
            const struct gw_stat *e = i == cnt ? &st->v[GW_STATS_MAX] : &st->v[i];
            uint64_t c = atomic_load_explicit(&e->count, memory_order_relaxed);
            if (c == 0)
                continue;
            struct merged *t = NULL;
            for (size_t j = 0; j < n; j++) {
                if (stat_same_labels(m[j].key, e)) {
                    t = &m[j];
                    break;
                }
            }
            if (t == NULL) {
                if (n == cap) {
                    cap *= 2;
                    m = ig_realloc(m, cap * sizeof(*m));
                }
                t = &m[n++];
                memset(t, 0, sizeof(*t));
                t->key = e;
            }
            t->count += c;
            t->sum_us += atomic_load_explicit(&e->sum_us, memory_order_relaxed);
            for (size_t b = 0; b <= GW_STATS_BUCKETS; b++)
                t->buckets[b] += atomic_load_explicit(&e->buckets[b], memory_order_relaxed);
        }
    }
    struct ig_metric_label l[IG_METRICS_MAX_LABELS];
    char status[16];
    rc = ig_prom_write_family(out, "infergate_requests_total", "Requests handled by the gateway", IG_METRIC_COUNTER);
    for (size_t j = 0; rc == 0 && j < n; j++) {
        size_t nl = fill_labels(m[j].key, l, status, sizeof(status), 1);
        rc = ig_prom_write_sample(out, "infergate_requests_total", l, nl, (double)m[j].count);
    }
    if (rc == 0)
        rc = ig_prom_write_family(out, "infergate_request_duration_seconds",
                                  "Time from the request head to the end of the response", IG_METRIC_HISTOGRAM);
    for (size_t j = 0; rc == 0 && j < n; j++) {
        size_t nl = fill_labels(m[j].key, l, status, sizeof(status), 1);
        rc = ig_prom_write_histogram(out, "infergate_request_duration_seconds", l, nl, gw_duration_bounds,
                                     GW_STATS_BUCKETS, m[j].buckets, (double)m[j].sum_us / 1e6, m[j].count);
    }
    if (rc == 0)
        rc = ig_prom_write_family(out, "infergate_downstream_connections_total", "Downstream connections accepted",
                                  IG_METRIC_COUNTER);
    if (rc == 0)
        rc = ig_prom_write_sample(out, "infergate_downstream_connections_total", NULL, 0, (double)conns);
    if (rc == 0)
        rc = ig_prom_write_family(out, "infergate_upstream_new_connection_requests_total",
                                  "Requests sent on an upstream connection opened for them (not reused)",
                                  IG_METRIC_COUNTER);
    if (rc == 0)
        rc = ig_prom_write_sample(out, "infergate_upstream_new_connection_requests_total", NULL, 0, (double)upconn);
    if (rc == 0)
        rc = ig_prom_write_family(out, "infergate_requests_active", "Requests in flight", IG_METRIC_GAUGE);
    if (rc == 0)
        rc = ig_prom_write_sample(out, "infergate_requests_active", NULL, 0, (double)active);
    if (rc == 0)
        rc = ig_prom_write_family(out, "infergate_ratelimited_requests_total",
                                  "Requests refused by localRateLimit (429)", IG_METRIC_COUNTER);
    if (rc == 0)
        rc = ig_prom_write_sample(out, "infergate_ratelimited_requests_total", NULL, 0, (double)limited);
    struct ig_metric_label rl[1] = {{"result", "success"}};
    if (rc == 0)
        rc = ig_prom_write_family(out, "infergate_config_reloads_total",
                                  "Configuration loads after start-up, by result", IG_METRIC_COUNTER);
    if (rc == 0)
        rc = ig_prom_write_sample(out, "infergate_config_reloads_total", rl, 1, (double)atomic_load(&gw.reloads_ok));
    rl[0].value = "failure";
    if (rc == 0)
        rc =
            ig_prom_write_sample(out, "infergate_config_reloads_total", rl, 1, (double)atomic_load(&gw.reloads_failed));
    if (rc == 0)
        rc = ig_prom_write_family(out, "infergate_config_last_reload_success_timestamp_seconds",
                                  "Wall clock of the last successful configuration load", IG_METRIC_GAUGE);
    if (rc == 0)
        rc = ig_prom_write_sample(out, "infergate_config_last_reload_success_timestamp_seconds", NULL, 0,
                                  atomic_load(&gw.reload_time));
    if (rc == 0)
        rc = render_connect(out);
    if (rc == 0)
        rc = render_epp(out);
    if (rc == 0)
        rc = render_genai(out);
    if (rc == 0)
        rc = ig_prom_write_family(out, "infergate_build_info", "Build information", IG_METRIC_GAUGE);
    struct ig_metric_label bl[1] = {{"version", "0.1.0"}};
    if (rc == 0)
        rc = ig_prom_write_sample(out, "infergate_build_info", bl, 1, 1);
    ig_free(m);
    return rc;
}

/* ---- access log ------------------------------------------------------------------------------- */

struct line {
    char *p, *end;
    int json;
    int first;
    const struct ig_config *cfg;
};

static void put(struct line *ln, const char *s, size_t n)
{
    if ((size_t)(ln->end - ln->p) < n)
        n = (size_t)(ln->end - ln->p);
    memcpy(ln->p, s, n);
    ln->p += n;
}

#define PUTS(ln, lit) put((ln), (lit), sizeof(lit) - 1)

static int removed(const struct ig_config *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->frontend.n_access_log_remove; i++) {
        if (ig_iov_eq(cfg->frontend.access_log_remove[i], ig_iov_cstr(key)))
            return 1;
    }
    return 0;
}

/* Appends a value: JSON-escaped, or in text quoted when it holds a space or a quote. */
static void put_value(struct line *ln, const char *s, size_t n)
{
    int quote = ln->json;
    if (!ln->json) {
        for (size_t i = 0; i < n; i++) {
            if (s[i] == ' ' || s[i] == '"' || s[i] == '=' || (unsigned char)s[i] < 0x20) {
                quote = 1;
                break;
            }
        }
    }
    if (quote)
        put(ln, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(ln, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char e[8];
            int k = snprintf(e, sizeof(e), "\\u%04x", c);
            put(ln, e, (size_t)k);
        } else {
            put(ln, (const char *)&s[i], 1);
        }
    }
    if (quote)
        put(ln, "\"", 1);
}

static void field(struct line *ln, const char *key, const char *s, size_t n)
{
    if (s == NULL || removed(ln->cfg, key))
        return;
    if (ln->json) {
        put(ln, ",\"", 2);
        put(ln, key, strlen(key));
        put(ln, "\":", 2);
    } else {
        put(ln, " ", 1);
        put(ln, key, strlen(key));
        put(ln, "=", 1);
    }
    put_value(ln, s, n);
}

static void field_str(struct line *ln, const char *key, const char *s)
{
    if (s != NULL)
        field(ln, key, s, strlen(s));
}

static void field_num(struct line *ln, const char *key, uint64_t v)
{
    if (removed(ln->cfg, key))
        return;
    char num[32];
    int k = snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
    if (ln->json) {
        put(ln, ",\"", 2);
        put(ln, key, strlen(key));
        put(ln, "\":", 2);
    } else {
        put(ln, " ", 1);
        put(ln, key, strlen(key));
        put(ln, "=", 1);
    }
    put(ln, num, (size_t)k);
}

void gw_access_log(struct gw_worker *w, const struct ig_config *cfg, const struct gw_access *a)
{
    struct line ln = {w->logbuf, w->logbuf + sizeof(w->logbuf) - 2, gw.access_log_json, 1, cfg};
    char ts[80];
    double now = ig_time_wall();
    time_t secs = (time_t)now;
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)((now - (double)secs) * 1e6));
    if (ln.json) {
        PUTS(&ln, "{\"time\":\"");
        put(&ln, ts, strlen(ts));
        PUTS(&ln, "\",\"level\":\"info\",\"scope\":\"request\"");
    } else {
        put(&ln, ts, strlen(ts));
        PUTS(&ln, " info  request");
    }
    const char *ver = a->version == IG_HTTP_2 ? "HTTP/2" : a->version == IG_HTTP_10 ? "HTTP/1.0" : "HTTP/1.1";
    field_str(&ln, "gateway", a->gateway);
    field_str(&ln, "listener", a->listener);
    field_str(&ln, "route", a->route);
    field_str(&ln, "endpoint", a->endpoint);
    field_str(&ln, "backend", a->backend);
    field_str(&ln, "src.addr", a->src);
    field(&ln, "http.method", a->method.base, a->method.len);
    field(&ln, "http.host", a->host.base, a->host.len);
    field(&ln, "http.path", a->path.base, a->path.len);
    field_str(&ln, "http.version", ver);
    field_num(&ln, "http.status", (uint64_t)a->status);
    field_str(&ln, "protocol", a->protocol);
    if (a->retries > 0)
        field_num(&ln, "retry.attempts", (uint64_t)a->retries);
    if (a->input_tokens >= 0)
        field_num(&ln, "gen_ai.usage.input_tokens", (uint64_t)a->input_tokens);
    if (a->output_tokens >= 0)
        field_num(&ln, "gen_ai.usage.output_tokens", (uint64_t)a->output_tokens);
    if (a->gen != NULL && a->gen->op != GW_OP_NONE) {
        field_str(&ln, "gen_ai.operation.name", gw_genai_op_name(a->gen->op));
        field_str(&ln, "gen_ai.provider.name", "openai");
        if (a->gen->req.found)
            field(&ln, "gen_ai.request.model", a->gen->req.val, a->gen->req.val_len);
        if (a->gen->resp.found)
            field(&ln, "gen_ai.response.model", a->gen->resp.val, a->gen->resp.val_len);
    }
    field_str(&ln, "error", a->reason);
    field_num(&ln, "request.body_bytes", a->req_bytes);
    field_num(&ln, "response.body_bytes", a->resp_bytes);
    char dur[32];
    int k = snprintf(dur, sizeof(dur), "%.3fms", (double)a->duration_ns / 1e6);
    field(&ln, "duration", dur, (size_t)k);
    if (ln.json)
        put(&ln, "}", 1);
    *ln.p++ = '\n';
    ssize_t left = ln.p - w->logbuf;
    const char *p = w->logbuf;
    while (left > 0) {
        ssize_t wr = write(gw.access_log_fd, p, (size_t)left);
        if (wr <= 0)
            break; /* a full or closed stdout must not stall the proxy */
        p += wr;
        left -= wr;
    }
}
